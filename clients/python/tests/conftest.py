import os
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run through run-tests.sh (scripts/test.sh --suite clients)", 2)
    return value


@pytest.fixture(scope="session")
def dsn() -> str:
    return _env("LS_DSN")


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return _env("LS_ADMIN_DSN")


@pytest.fixture(scope="session")
def bouncer_dsn() -> str:
    return _env("LS_BOUNCER_DSN")


@pytest.fixture
def name() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin(admin_dsn):
    conn = psycopg.connect(admin_dsn, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def client(dsn):
    from lockservice import Client
    c = Client(dsn)
    yield c
    c.close()

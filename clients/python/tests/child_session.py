"""A session holder in its own process, for the pause test: prints JSON lines.

argv: dsn prefix ttl n.  Opens a session, takes n locks prefix-0 .. prefix-n-1
in it (all or nothing), then reports the session's local deadline every 20 ms
until it is lost; then tries a fenced write under every lock and exits.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import psycopg  # noqa: E402

from lockservice import Client, FencedError  # noqa: E402


def say(**kw):
    print(json.dumps(kw), flush=True)


def main():
    dsn, prefix, ttl, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    client = Client(dsn)
    session = client.session(ttl=ttl)
    leases = session.acquire_all([f"{prefix}-{i}" for i in range(n)], wait=10)
    say(tokens=[lease.token for lease in leases], deadline=session.deadline, session=session.id)
    while not session.lost.wait(0.02):
        say(deadline=session.deadline, now=time.monotonic())
    say(lost_at=time.monotonic(), reason=session.lost_reason,
        leases_lost=[lease.lost.is_set() for lease in leases])
    with psycopg.connect(dsn, autocommit=True) as conn:
        for lease in leases:
            try:
                with lease.fenced(conn, lease.name) as c:
                    c.execute("UPDATE py_sregister SET v = %s WHERE k = %s", (lease.token, lease.name))
                say(write="done", name=lease.name)
            except FencedError as exc:
                say(write="refused", name=lease.name, sqlstate=exc.sqlstate)


if __name__ == "__main__":
    main()

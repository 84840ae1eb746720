"""Sessions (lockservice 1.5): one keepalive for many locks, lost together;
multi-lock, all or nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from lockservice import (EXCLUSIVE, PERMIT, SHARED, Client, KeptBySessionError, LeaseLost,
                         SessionNotOpenError)

HERE = Path(__file__).resolve().parent


def live(admin, name):
    return admin.execute("SELECT token, session FROM lockservice.leases_live WHERE name = %s "
                         "ORDER BY token", (name,)).fetchall()


def test_session_keeps_many_locks(client, admin, name):
    with client.session(ttl=1.5) as session:
        assert session.id > 0 and not session.lost.is_set()
        x = session.acquire(name + "-x")
        sh = session.acquire_shared(name + "-sh")
        pm = session.acquire_permit(name + "-p", 2)
        both = session.acquire_all([name + "-b", name + "-a"])
        assert [lease.name for lease in both] == [name + "-b", name + "-a"]
        assert (x.kind, sh.kind, pm.kind) == (EXCLUSIVE, SHARED, PERMIT)
        assert len({x.token, sh.token, pm.token, both[0].token, both[1].token}) == 5
        assert len(session.leases) == 5
        assert all(lease.holder == session.holder for lease in session.leases)
        # a re-acquire in the session is the same lease (same token)
        assert session.acquire(name + "-x").token == x.token
        # three ttls later every lock is still held: the session's keepalive
        time.sleep(4.5)
        assert not session.lost.is_set() and not x.lost.is_set()
        for lease in (x, sh, pm, *both):
            assert live(admin, lease.name) == [(lease.token, session.id)]
            assert lease.remaining() > 0
        # a lock in a session is renewed through it
        assert x.renew() is True
        with pytest.raises(KeptBySessionError):
            client._call_once("SELECT lockservice.lock_renew(%s, %s)", (x.name, x.token), what="renew")
        # releasing one leaves the others
        assert x.release() is True
        assert live(admin, x.name) == []
        assert len(session.leases) == 5 and x not in session.leases
        assert live(admin, sh.name) == [(sh.token, session.id)]
    # closing releases every lock at once
    assert session.leases == []
    for lease in (sh, pm, *both):
        assert live(admin, lease.name) == []
        assert not lease.lost.is_set()
    with pytest.raises(SessionNotOpenError):
        session.acquire(name + "-late")


def test_multilock_all_or_nothing(client, dsn, name):
    leases = client.acquire_all([name + "-1", name + "-2", name + "-3"], ttl=10)
    assert [lease.name for lease in leases] == [name + "-1", name + "-2", name + "-3"]
    with Client(dsn) as other:
        # one name held: nothing, and none of the free names is held meanwhile
        assert other.acquire_all([name + "-0", name + "-2"], wait=0.3) is None
        assert other.holders(name + "-0") == []
        leases[1].release()
        got = other.acquire_all([name + "-0", name + "-2"], wait=5)
        assert got is not None and got[1].token > leases[1].token
        for lease in got:
            lease.release()
    for lease in (leases[0], leases[2]):
        lease.release()
    with pytest.raises(ValueError):
        client.acquire_all([name, name])
    with pytest.raises(ValueError):
        client.acquire_all([])
    with pytest.raises(TypeError):
        client.acquire_all(name)


def test_session_lost_marks_every_lock(client, admin, name):
    session = client.session(ttl=1.5)
    leases = session.acquire_all([name + "-1", name + "-2"])
    lost = []
    session.on_lost(lambda s: lost.append(time.monotonic()))
    # the server ends the session (as an expiry would): the next renewal is refused
    admin.execute("UPDATE lockservice.sessions SET expires_at = now() WHERE id = %s", (session.id,))
    assert session.lost.wait(10)
    assert all(lease.lost.is_set() for lease in leases)
    assert "refused" in session.lost_reason
    with pytest.raises(LeaseLost):
        leases[0].raise_if_lost()
    assert session.renew() is False
    with pytest.raises(SessionNotOpenError):
        session.acquire(name + "-3")
    assert session.close() is False


def test_paused_session_holder(client, dsn, admin, name):
    admin.execute("CREATE TABLE IF NOT EXISTS py_sregister (k text, v bigint)")
    admin.execute("GRANT SELECT, UPDATE ON py_sregister TO PUBLIC")
    admin.execute("DELETE FROM py_sregister WHERE k LIKE %s", (name + "%",))
    admin.execute("INSERT INTO py_sregister VALUES (%s, 0), (%s, 0), (%s, 0)",
                  (name + "-0", name + "-1", name + "-2"))
    child = subprocess.Popen([sys.executable, str(HERE / "child_session.py"), dsn, name, "2", "3"],
                             stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(child.stdout.readline())
        last_deadline = first["deadline"]
        line = json.loads(child.stdout.readline())
        last_deadline = line["deadline"]
        os.kill(child.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        # every lock of the paused session is granted to another holder once it expired
        got = client.acquire_all([name + "-0", name + "-1", name + "-2"], ttl=10, wait=20)
        granted_at = time.monotonic()
        assert got is not None
        assert all(g.token > t for g, t in zip(got, first["tokens"]))
        with psycopg.connect(dsn, autocommit=True) as conn:
            for lease in got:
                with lease.fenced(conn, lease.name) as c:
                    c.execute("UPDATE py_sregister SET v = %s WHERE k = %s", (lease.token, lease.name))
        os.kill(child.pid, signal.SIGCONT)
        events = [json.loads(l) for l in child.stdout]
        child.wait(20)
        deadlines = [e["deadline"] for e in events if "deadline" in e and e.get("now", 0) < stopped_at]
        if deadlines:
            last_deadline = max(deadlines)
        # the paused session ran out (locally) before anyone else got its locks
        assert last_deadline < granted_at
        lost = [e for e in events if "lost_at" in e][0]
        assert lost["leases_lost"] == [True, True, True]  # every lock lost with the session
        # ... and every late write was refused by the fence
        assert sorted(e["name"] for e in events if e.get("write") == "refused" and e["sqlstate"] == "LS001") \
            == [name + "-0", name + "-1", name + "-2"]
        rows = admin.execute("SELECT k, v FROM py_sregister WHERE k LIKE %s ORDER BY k", (name + "%",)).fetchall()
        assert rows == [(lease.name, lease.token) for lease in got]
        for lease in got:
            lease.release()
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()

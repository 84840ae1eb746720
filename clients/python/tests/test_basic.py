"""Acquire, wait, renew, release, check, holders, kinds, fencing, PgBouncer."""

import threading
import time

import psycopg
import pytest

from lockservice import (Client, FencedError, KindMismatchError, LockCancelled,
                         LockTimeout, SharedTokenError)


def test_acquire_release(client, name):
    lease = client.acquire(name, ttl=10)
    assert lease is not None and lease.token > 0
    assert client.acquire(name, ttl=10) is None  # another holder, wait 0
    assert [h.holder for h in client.holders(name)] == [lease.holder]
    assert lease.release() is True
    assert lease.release() is False
    again = client.acquire(name, ttl=10)
    assert again is not None and again.token > lease.token
    again.release()


def test_same_holder_gets_same_token(client, name):
    lease = client.acquire(name, ttl=10, keepalive=False)
    retry = client.acquire(name, ttl=10, holder=lease.holder, keepalive=False)
    assert retry.token == lease.token
    lease.release()


def test_wait_timeout(client, name):
    lease = client.acquire(name, ttl=10)
    t0 = time.monotonic()
    assert client.acquire(name, ttl=10, wait=0.5) is None
    assert 0.4 <= time.monotonic() - t0 < 10
    with pytest.raises(LockTimeout):
        with client.lock(name, ttl=10, wait=0.2):
            pass
    lease.release()


def test_wait_then_granted(client, name):
    lease = client.acquire(name, ttl=10)
    threading.Timer(0.5, lease.release).start()
    t0 = time.monotonic()
    with client.lock(name, ttl=10, wait=20) as second:
        assert second.token > lease.token
        assert time.monotonic() - t0 >= 0.4


def test_cancel_wait(client, name):
    lease = client.acquire(name, ttl=30)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(LockCancelled) as info:
        client.acquire(name, ttl=10, wait=None, cancel=cancel)
    assert info.value.sqlstate == "57014"
    assert time.monotonic() - t0 < 10
    assert [h.token for h in client.holders(name)] == [lease.token]
    lease.release()


def test_keepalive_keeps_lease(client, name, admin):
    lease = client.acquire(name, ttl=1.5)
    time.sleep(4)  # more than two ttls
    assert not lease.lost.is_set()
    left = admin.execute("SELECT extract(epoch FROM expires_at - clock_timestamp()) "
                         "FROM lockservice.leases_live WHERE name = %s", (name,)).fetchone()[0]
    assert left > 0
    assert lease.release() is True


def test_renew_and_check(client, name, dsn):
    lease = client.acquire(name, ttl=10, keepalive=False)
    assert lease.renew(ttl=20) is True
    with psycopg.connect(dsn) as conn:
        with lease.checked(conn):
            pass
    lease.release()
    assert lease.renew() is False
    assert lease.lost.is_set() is False  # released: not "lost"


def test_fenced_write(client, name, dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE reg (v bigint)")
        conn.execute("INSERT INTO reg VALUES (0)")
        first = client.acquire(name, ttl=10)
        first.release()
        second = client.acquire(name, ttl=10)
        with second.fenced(conn) as c:
            c.execute("UPDATE reg SET v = %s", (second.token,))
        with pytest.raises(FencedError) as info:
            with first.fenced(conn) as c:
                c.execute("UPDATE reg SET v = %s", (first.token,))
        assert info.value.sqlstate == "LS001"
        assert conn.execute("SELECT v FROM reg").fetchone()[0] == second.token
        second.release()


def test_shared_and_semaphore(client, name):
    a = client.acquire_shared(name, ttl=10)
    b = client.acquire_shared(name, ttl=10)
    assert a and b and a.token != b.token
    assert client.acquire(name, ttl=10) is None
    with pytest.raises(SharedTokenError):
        with psycopg.connect(client.conninfo) as conn:
            with a.fenced(conn):
                pass
    a.release()
    b.release()
    sem = name + "-sem"
    p1 = client.acquire_permit(sem, 2, ttl=10)
    p2 = client.acquire_permit(sem, 2, ttl=10)
    assert p1 and p2
    assert client.acquire_permit(sem, 2, ttl=10) is None
    with pytest.raises(KindMismatchError) as info:
        client.acquire(sem, ttl=10)
    assert info.value.sqlstate == "LS004"
    p1.release()
    p2.release()


def test_leader_election(client, dsn, name):
    other = Client(dsn)
    leader = client.campaign(name, ttl=10, holder="node-a")
    assert client.leader(name) == "node-a"
    assert other.campaign(name, ttl=10, holder="node-b", wait=0.3) is None
    got = []
    t = threading.Thread(target=lambda: got.append(other.campaign(name, ttl=10, holder="node-b", wait=20)))
    t.start()
    time.sleep(0.3)
    leader.resign()
    t.join()
    assert got[0] is not None and client.leader(name) == "node-b"
    got[0].resign()
    assert client.leader(name) is None
    other.close()


def test_through_pgbouncer(bouncer_dsn, name):
    with Client(bouncer_dsn) as c:
        for _ in range(12):  # more than psycopg's prepare threshold
            lease = c.acquire(name, ttl=10)
            assert lease is not None
            assert lease.renew() is True
            assert lease.release() is True
        lease = c.acquire(name, ttl=10)
        threading.Timer(0.3, lease.release).start()
        waited = c.acquire(name, ttl=10, wait=20)
        assert waited is not None
        waited.release()


def test_argument_rules_at_the_server(client, name):
    """The README's argument table: what only the server can check, and fractions."""
    from lockservice import LockServiceError
    with pytest.raises(LockServiceError) as err:
        client.acquire("n" * 257, ttl=10)
    assert err.value.sqlstate == "22001"  # longer than lockservice.max_name_length
    with pytest.raises(LockServiceError) as err:
        client.acquire(name, ttl=10, holder="h" * 257)
    assert err.value.sqlstate == "22001"  # longer than lockservice.max_holder_length
    lease = client.acquire(name, ttl=0.25, keepalive=False)  # fractions of a second
    (h,) = client.holders(name)
    assert abs((h.expires_at - h.granted_at).total_seconds() - 0.25) < 0.001
    lease.release()

"""A commit that a synchronous standby never confirms is never a success.

The harness's server gets a synchronous_standby_names no standby has:
every commit waits for a confirmation that never comes, as when the
synchronous standby is cut off.  A call that hits its deadline is cancelled;
PostgreSQL then answers with a WARNING that the commit happened on the
primary only.  The client reports OutcomeUnknown (CommitUnconfirmed), never
a lease, renewal or release; after the standby is back, retrying as the
same holder gets the same token.
"""

import asyncio
import time

import psycopg
import pytest

from lockservice import CommitUnconfirmed, OutcomeUnknown
from lockservice.aio import AsyncClient


def _set_standby_names(admin_dsn, value):
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if value is None:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        else:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    want = value or ""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            if conn.execute("SHOW synchronous_standby_names").fetchone()[0] == want:
                return
        time.sleep(0.05)
    raise AssertionError("the reload did not take effect")


def _local_token(admin, name):
    row = admin.execute("SELECT token FROM lockservice.lock_holder(%s)", (name,)).fetchone()
    return row and row[0]


@pytest.mark.parametrize("wait", [0, 1])
def test_acquire_unconfirmed_is_never_a_lease(client, admin, admin_dsn, name, wait):
    _set_standby_names(admin_dsn, "ls_no_such_standby")
    try:
        t0 = time.monotonic()
        with pytest.raises(CommitUnconfirmed) as err:
            client.acquire(name, ttl=60, wait=wait, holder="h-1", keepalive=False, timeout=2)
        elapsed = time.monotonic() - t0
        assert isinstance(err.value, OutcomeUnknown)
        assert 1.9 <= elapsed <= 3.5, elapsed
        local = _local_token(admin, name)  # committed on the primary only
        assert local is not None
    finally:
        _set_standby_names(admin_dsn, None)
    lease = client.acquire(name, ttl=60, holder="h-1", keepalive=False)
    assert lease is not None and lease.token == local, "the same holder gets the same token"
    assert lease.release() is True


def test_renew_unconfirmed_release_not_waiting(client, admin_dsn, name):
    lease = client.acquire(name, ttl=3, keepalive=False)
    _set_standby_names(admin_dsn, "ls_no_such_standby")
    try:
        t0 = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            lease.renew()  # bounded by the lease's local deadline (ttl - margin)
        assert time.monotonic() - t0 <= 3.5
        # a release alone does not wait for the standby (lockservice.async_releases,
        # the default): losing it in a failover only brings the lease back until its ttl
        t0 = time.monotonic()
        assert lease.release() is True
        assert time.monotonic() - t0 <= 1.0
    finally:
        _set_standby_names(admin_dsn, None)


def test_keepalive_loses_the_lease_by_its_deadline(client, admin_dsn, name):
    lease = client.acquire(name, ttl=3)
    _set_standby_names(admin_dsn, "ls_no_such_standby")
    try:
        t0 = time.monotonic()
        assert lease.lost.wait(6), "the keepalive never gave the lease up"
        assert time.monotonic() <= lease.deadline + 1.0, "lost by its local deadline, not later"
        assert "no renewal confirmed" in lease.lost_reason
        assert time.monotonic() - t0 <= 3.5
    finally:
        _set_standby_names(admin_dsn, None)
        lease.release()


def test_async_acquire_unconfirmed(dsn, admin, admin_dsn, name):
    async def attempt():
        client = AsyncClient(dsn)
        return await client.acquire(name, ttl=60, holder="h-a", timeout=2)

    _set_standby_names(admin_dsn, "ls_no_such_standby")
    try:
        t0 = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            asyncio.run(attempt())
        assert time.monotonic() - t0 <= 3.5
    finally:
        _set_standby_names(admin_dsn, None)

    async def retry():
        client = AsyncClient(dsn)
        lease = await client.acquire(name, ttl=60, holder="h-a")
        token = lease.token
        await lease.release()
        return token

    local = _local_token(admin, name)
    assert asyncio.run(retry()) == local

"""The asyncio variant: acquire, keepalive, release, and run cancelled on loss."""

import asyncio
import time

import pytest

from lockservice import LeaseLost
from lockservice.aio import AsyncClient


def test_async_acquire_release(dsn, name):
    async def main():
        client = AsyncClient(dsn)
        lease = await client.acquire(name, ttl=1.5)
        assert lease is not None and lease.token > 0
        assert await client.acquire(name, ttl=1.5) is None
        await asyncio.sleep(3)                 # kept alive past two ttls
        assert not lease.lost.is_set()
        assert await lease.release() is True
        second = await client.acquire(name, ttl=5, wait=1)
        assert second is not None and second.token > lease.token
        await second.release()
    asyncio.run(main())


def test_async_wait_cancelled(dsn, name):
    async def main():
        client = AsyncClient(dsn)
        lease = await client.acquire(name, ttl=30)
        task = asyncio.ensure_future(client.acquire(name, ttl=5, wait=None))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await lease.release() is True
    asyncio.run(main())


def test_async_run_cancelled_on_loss(dsn, admin, name):
    async def work(lease):
        await asyncio.sleep(0.3)
        admin.execute("SELECT lockservice.force_release(%s)", (name,))
        await asyncio.sleep(60)                # cancelled long before this

    async def main():
        client = AsyncClient(dsn)
        t0 = time.monotonic()
        with pytest.raises(LeaseLost):
            await client.run(name, work, ttl=1.5, wait=5)
        assert time.monotonic() - t0 < 10
    asyncio.run(main())

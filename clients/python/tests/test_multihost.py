"""A multi-host conninfo whose first host never answers (an old primary
behind a partition drops packets): each host gets a connect_timeout of its
own, so the client reaches the next one — psycopg 3.1 alone applies the
timeout to the whole list and never gets past the first host."""

import asyncio
import socket
import time

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lockservice import Client, NotConnected
from lockservice.aio import AsyncClient


@pytest.fixture
def silent_port():
    # completes TCP handshakes (the kernel's backlog), never answers the startup packet
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def two_hosts(dsn, silent_port):
    p = conninfo_to_dict(dsn)
    return make_conninfo(**dict(p, host=f"127.0.0.1,{p['host']}", port=f"{silent_port},{p['port']}"))


def test_silent_first_host(dsn, silent_port, name):
    client = Client(two_hosts(dsn, silent_port), connect_timeout=2)
    t0 = time.monotonic()
    lease = client.acquire(name, ttl=30, keepalive=False)  # default timeout: 2 s per host
    took = time.monotonic() - t0
    assert lease is not None, "granted on the second host"
    assert 1.5 <= took < 8, took
    client.close()  # the next call connects anew, past the silent host again
    assert lease.renew() is True
    assert lease.release() is True


def test_async_silent_first_host(dsn, silent_port, name):
    async def go():
        client = AsyncClient(two_hosts(dsn, silent_port), connect_timeout=2)
        lease = await client.acquire(name, ttl=30)
        token = lease.token
        await lease.release()
        return token
    t0 = time.monotonic()
    assert asyncio.run(go()) > 0
    assert time.monotonic() - t0 < 12


def test_every_host_silent(silent_port, name):
    conninfo = f"host=127.0.0.1,127.0.0.1 port={silent_port},{silent_port} dbname=x connect_timeout=2"
    t0 = time.monotonic()
    with pytest.raises(NotConnected):
        Client(conninfo, connect_timeout=2).acquire(name, ttl=30)
    took = time.monotonic() - t0
    assert 3 <= took < 8, f"each host waited out, then a clear failure ({took:.1f} s)"

"""Bad input is refused before anything is sent (the client cannot even connect)."""

from datetime import timedelta

import pytest

from lockservice import Client
from lockservice.aio import AsyncClient

NOWHERE = "host=/nonexistent-lockservice-dir port=1 connect_timeout=1"


@pytest.mark.parametrize("args, kwargs, error", [
    (("",), {}, ValueError),
    ((None,), {}, TypeError),
    ((42,), {}, TypeError),
    (("n",), {"ttl": -1}, ValueError),
    (("n",), {"ttl": 0}, ValueError),
    (("n",), {"ttl": None}, TypeError),
    (("n",), {"ttl": "10"}, TypeError),
    (("n",), {"ttl": float("nan")}, ValueError),
    (("n",), {"ttl": timedelta(seconds=-3)}, ValueError),
    (("n",), {"wait": -0.5}, ValueError),
    (("n",), {"holder": ""}, ValueError),
    (("n",), {"cancel": True}, TypeError),
    (("n",), {"timeout": 0}, ValueError),
    (("n",), {"timeout": -1}, ValueError),
    (("n",), {"timeout": "2"}, TypeError),
])
def test_acquire_bad_input(args, kwargs, error):
    with pytest.raises(error):
        Client(NOWHERE).acquire(*args, **kwargs)


@pytest.mark.parametrize("permits, error", [(0, ValueError), (-2, ValueError), (None, TypeError), (1.5, TypeError)])
def test_permits_bad_input(permits, error):
    with pytest.raises(error):
        Client(NOWHERE).acquire_permit("n", permits)


def test_holders_bad_input():
    with pytest.raises(ValueError):
        Client(NOWHERE).holders("")


def test_margin_bad_input():
    with pytest.raises(ValueError):
        Client(NOWHERE, margin=-1)


def test_async_bad_input():
    import asyncio
    with pytest.raises(ValueError):
        asyncio.run(AsyncClient(NOWHERE).acquire("", ttl=1))
    with pytest.raises(ValueError):
        asyncio.run(AsyncClient(NOWHERE).acquire("n", ttl=-1))


def test_unreachable_server_is_an_error_not_a_lease():
    from lockservice import NotConnected
    with pytest.raises(NotConnected):
        Client(NOWHERE).acquire("n", ttl=1, wait=0)

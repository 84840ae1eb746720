#!/usr/bin/python3
"""The Python package's probe for test/safety/ha-clients.sh (thread and asyncio).

    probe.py [--aio] hold NAME TTL HOLDER STOPFILE
    probe.py [--aio] acquire NAME TTL WAIT TIMEOUT HOLDER GOFILE

The conninfo comes from LS_CONNINFO.  Every line printed is
"EPOCH EVENT [DETAILS]" (see ha-clients.sh for the events): hold takes NAME
with the keepalive on and says every 100 ms whether the package counts it
as held, until it is lost or STOPFILE exists (then releases it); acquire
makes a client (the thread one has used a connection: an application's
pool), says "ready", waits for GOFILE and makes one acquire call.  The
steps are written once, as coroutines: the asyncio client's calls are
awaited, the thread client's block (its keepalive runs on threads of its own).
"""

import asyncio
import inspect
import os
import sys
import time

import lockservice
from lockservice.aio import AsyncClient


def say(*words):
    print("%.6f" % time.time(), *words, flush=True)


def outcome(exc):
    """The event for an exception an acquire ended with."""
    if isinstance(exc, lockservice.OutcomeUnknown):
        return "unknown"
    return "error"


def held_word(lease):
    lost = lease.lost.is_set()
    if not lost and time.monotonic() < lease.deadline:
        return "held"
    return "lost"


async def result(value):
    """A call's result: awaited for the asyncio client, as it is for the thread one."""
    return await value if inspect.isawaitable(value) else value


async def hold(client, name, ttl, holder, stopfile):
    lease = await result(client.acquire(name, ttl=ttl, wait=30, holder=holder))
    if lease is None:
        say("notgranted")
        return 1
    say("granted", lease.token)
    while not os.path.exists(stopfile):
        word = held_word(lease)
        say(word, lease.token, lease.lost_reason or "")
        if word == "lost":
            return 3
        await asyncio.sleep(0.1)
    try:
        say("released", str(await result(lease.release())).lower())
    except lockservice.LockServiceError as exc:
        say("released", "error", type(exc).__name__, exc)
    return 0


async def acquire(client, name, ttl, wait, timeout, holder, gofile):
    extra = {}
    if isinstance(client, lockservice.Client):
        client.holders(name)  # a connection in its pool, as an application's has
        extra = {"keepalive": False}
    # (the asyncio client connects for each call: nothing to warm up)
    say("ready")
    while not os.path.exists(gofile):
        await asyncio.sleep(0.02)
    t0 = time.monotonic()
    try:
        lease = await result(client.acquire(name, ttl=ttl, wait=wait, timeout=timeout, holder=holder, **extra))
    except Exception as exc:  # every ending is reported, none is a grant
        say(outcome(exc), "%.3f" % (time.monotonic() - t0), type(exc).__name__, exc)
        return 1
    if lease is None:
        say("notgranted", "%.3f" % (time.monotonic() - t0))
        return 1
    say("granted", "%.3f" % (time.monotonic() - t0), lease.token)
    return 0


def main(argv):
    aio = argv[:1] == ["--aio"]
    if aio:
        argv = argv[1:]
    conninfo = os.environ["LS_CONNINFO"]
    client = AsyncClient(conninfo) if aio else lockservice.Client(conninfo)
    mode, args = argv[0], argv[1:]
    if mode == "hold":
        name, ttl, holder, stopfile = args[0], float(args[1]), args[2], args[3]
        return asyncio.run(hold(client, name, ttl, holder, stopfile))
    if mode == "acquire":
        name, ttl, wait, timeout, holder, gofile = (args[0], float(args[1]), float(args[2]),
                                                    float(args[3]), args[4], args[5])
        return asyncio.run(acquire(client, name, ttl, wait, timeout, holder, gofile))
    print("usage: probe.py [--aio] hold|acquire ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

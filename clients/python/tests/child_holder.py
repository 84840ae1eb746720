"""A holder in its own process, for the pause test: prints JSON lines.

argv: dsn name ttl.  Takes the lease, then reports its local deadline every
20 ms until the lease is lost; then tries its fenced write and exits.
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
    dsn, name, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    client = Client(dsn)
    lease = client.acquire(name, ttl=ttl, wait=10)
    say(token=lease.token, deadline=lease.deadline)
    while not lease.lost.wait(0.02):
        say(deadline=lease.deadline, now=time.monotonic())
    say(lost_at=time.monotonic(), reason=lease.lost_reason)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            with lease.fenced(conn, "register") as c:
                c.execute("UPDATE py_register SET v = %s", (lease.token,))
            say(write="done")
        except FencedError as exc:
            say(write="refused", sqlstate=exc.sqlstate)


if __name__ == "__main__":
    main()

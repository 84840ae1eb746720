"""Singleton job: run it on exactly one machine; the others skip this round.

    python3 examples/singleton_job.py DSN NAME SECONDS
"""

import sys
import time

from lockservice import Client, LockTimeout


def job(lease) -> None:
    print(f"running with token {lease.token}", flush=True)
    time.sleep(float(sys.argv[3]))                           # the nightly report, say


def main() -> None:
    with Client(sys.argv[1]) as client:
        try:
            client.run(sys.argv[2], job, ttl=5, wait=0)       # wait=0: do not queue up
            print("done", flush=True)
        except LockTimeout:
            print("skipped: running elsewhere", flush=True)


if __name__ == "__main__":
    main()

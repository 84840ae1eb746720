"""Resource reservation: at most PERMITS holders of a pool at once (a semaphore).

    python3 examples/reservation.py DSN NAME PERMITS SECONDS
"""

import sys
import time

from lockservice import Client


def main() -> None:
    dsn, name, permits, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with Client(dsn) as client:
        lease = client.acquire_permit(name, permits, ttl=5, wait=60)
        print(f"start {time.monotonic():.6f}", flush=True)
        time.sleep(seconds)                                   # use one of the PERMITS slots
        print(f"end {time.monotonic():.6f}", flush=True)
        lease.release()


if __name__ == "__main__":
    main()

"""Leader election: the first node to campaign leads until it stops; then another takes over.

    python3 examples/leader.py DSN NAME NODE SECONDS
"""

import sys
import time

from lockservice import Client


def main() -> None:
    dsn, name, node, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with Client(dsn) as client:
        print(f"{node}: campaigning; leader now: {client.leader(name)}", flush=True)
        lease = client.campaign(name, ttl=2, holder=node)   # waits until elected
        print(f"leader {node} token {lease.token}", flush=True)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not lease.lost.wait(0.1):
            pass                                              # lead: serve, schedule, ...
        if lease.lost.is_set():
            print(f"{node}: lost leadership: {lease.lost_reason}", flush=True)
        lease.resign()


if __name__ == "__main__":
    main()

"""The Python sample: installed from the package's wheel into a venv of its own.

Usage: python sample.py CONNINFO NAME
"""
import sys

from lockservice import Client

conninfo, name = sys.argv[1:3]
with Client(conninfo) as client:
    with client.lock(name, ttl=15, wait=5) as lease:
        print(f"acquired {name} token {lease.token}")
    print(f"released {lease.lost_reason is None}")

"""Critical section with a fenced write: increment a counter COUNT times.

    python3 examples/critical_section.py DSN NAME COUNT
(table: CREATE TABLE py_counter (n bigint); one row)
"""

import sys

import psycopg

from lockservice import Client


def main() -> None:
    dsn, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Client(dsn) as client, psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(count):
            with client.lock(name, ttl=5, wait=30) as lease:
                with lease.fenced(conn) as c:                 # fence + write: one transaction
                    n = c.execute("SELECT n FROM py_counter").fetchone()[0]
                    c.execute("UPDATE py_counter SET n = %s", (n + 1,))
    print("ok", flush=True)


if __name__ == "__main__":
    main()

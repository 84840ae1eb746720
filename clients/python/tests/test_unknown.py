"""Unknown outcomes: a connection killed mid-call is retried, never a false success."""

import threading
import time

from lockservice import Client


def backend_of(admin, fragment):
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE usename = 'ls_app' AND state = 'active' "
        "AND query LIKE %s", (f"%{fragment}%",)).fetchall()
    return [r[0] for r in rows]


def test_acquire_killed_while_waiting(client, dsn, admin, name):
    holder = client.acquire(name, ttl=30)
    result = []
    waiter = Client(dsn)
    t = threading.Thread(target=lambda: result.append(waiter.acquire(name, ttl=10, wait=30, holder="w-1")))
    t.start()
    end = time.monotonic() + 20
    pids = []
    while not pids and time.monotonic() < end:
        pids = backend_of(admin, "lock_acquire")
        time.sleep(0.05)
    assert pids, "the waiting acquire never showed up"
    admin.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
    time.sleep(0.5)
    holder.release()
    t.join(30)
    lease = result[0]
    assert lease is not None and lease.holder == "w-1"
    assert [h.token for h in client.holders(name)] == [lease.token]
    # asking again as the same holder returns the same lease, not a new one
    again = waiter.acquire(name, ttl=10, holder="w-1", keepalive=False)
    assert again.token == lease.token
    lease.release()
    waiter.close()


def test_renewal_killed(client, admin, name):
    lease = client.acquire(name, ttl=3)
    killed = 0
    end = time.monotonic() + 6
    while time.monotonic() < end:
        for pid in backend_of(admin, "lock_renew"):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed += 1
        # also kill idle keepalive connections so the next renewal starts anew
        for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE usename = 'ls_app' AND query LIKE '%%lock_renew%%'").fetchall():
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed += 1
        time.sleep(0.3)
    assert killed > 0
    # reconnected and renewed: never lost, and the server agrees
    time.sleep(1.5)
    assert not lease.lost.is_set(), lease.lost_reason
    assert [h.token for h in client.holders(name)] == [lease.token]
    assert lease.release() is True

"""Lost leases: force_release, a server stop, a paused holder; the work stops."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from lockservice import Client, LeaseLost, NotConnected, OutcomeUnknown

HERE = Path(__file__).resolve().parent


def wait_for(cond, timeout=20.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def test_force_release_is_noticed(client, name, admin):
    lease = client.acquire(name, ttl=3)
    lost_at = []
    lease.on_lost(lambda l: lost_at.append(time.monotonic()))
    t0 = time.monotonic()
    assert admin.execute("SELECT lockservice.force_release(%s)", (name,)).fetchone()[0] == 1
    assert lease.lost.wait(10)
    assert "refused" in lease.lost_reason
    # noticed at the next renewal: within ttl/3 (+ scheduling slack)
    assert lost_at[0] - t0 < 3
    with pytest.raises(LeaseLost):
        lease.raise_if_lost()
    assert lease.release() is False


def test_run_stops_the_work(client, name, admin):
    progress = []

    def work(lease):
        threading.Timer(0.5, lambda: admin.execute("SELECT lockservice.force_release(%s)", (name,))).start()
        while True:  # would run forever: only the lost lease stops it
            progress.append(1)
            time.sleep(0.01)

    t0 = time.monotonic()
    with pytest.raises(LeaseLost):
        client.run(name, work, ttl=1.5, wait=5)
    assert progress and time.monotonic() - t0 < 10


def pg_ctl(*args):
    subprocess.run(["pg_ctl", "-D", os.environ["LS_PGDATA"], "-l", os.environ["LS_PGLOG"],
                    "-w", *args], check=True, stdout=subprocess.DEVNULL)


def test_server_stop(client, dsn, name):
    lease = client.acquire(name, ttl=3)
    manual = client.acquire(name + "-m", ttl=30, keepalive=False)
    pg_ctl("stop", "-m", "fast")
    try:
        assert lease.lost.wait(10)
        lost_at = time.monotonic()
        assert lost_at <= lease.deadline + 1.0  # the watchdog, not a late discovery
        # a renew without a reply is never a success
        with pytest.raises((OutcomeUnknown, NotConnected)):
            manual.renew()
    finally:
        pg_ctl("start")
    with Client(dsn) as other:
        # the lease row survived the restart: the name comes free at its expiry
        got = other.acquire(name, ttl=5, wait=15)
        granted_at = time.monotonic()
        assert got is not None
        assert lost_at < granted_at
        got.release()


def test_paused_holder(client, dsn, admin, name):
    admin.execute("CREATE TABLE IF NOT EXISTS py_register (v bigint)")
    admin.execute("GRANT SELECT, UPDATE ON py_register TO PUBLIC")
    admin.execute("TRUNCATE py_register")
    admin.execute("INSERT INTO py_register VALUES (0)")
    child = subprocess.Popen([sys.executable, str(HERE / "child_holder.py"), dsn, name, "2"],
                             stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(child.stdout.readline())
        last_deadline = first["deadline"]
        line = json.loads(child.stdout.readline())
        last_deadline = line["deadline"]
        os.kill(child.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        lease = client.acquire(name, ttl=10, wait=20)  # granted once the paused lease expired
        granted_at = time.monotonic()
        assert lease is not None and lease.token > first["token"]
        with psycopg.connect(dsn, autocommit=True) as conn:
            with lease.fenced(conn, "register") as c:
                c.execute("UPDATE py_register SET v = %s", (lease.token,))
        os.kill(child.pid, signal.SIGCONT)
        events = [json.loads(l) for l in child.stdout]
        child.wait(20)
        deadlines = [e["deadline"] for e in events if "deadline" in e and e.get("now", 0) < stopped_at]
        if deadlines:
            last_deadline = max(deadlines)
        # the paused holder's lease ran out (locally) before anyone else got it
        assert last_deadline < granted_at
        lost = [e for e in events if "lost_at" in e][0]
        assert lost["lost_at"] >= granted_at  # it only noticed on waking ...
        # ... and its late write was refused by the fence
        assert {"write": "refused", "sqlstate": "LS001"} in events
        assert admin.execute("SELECT v FROM py_register").fetchone()[0] == lease.token
        lease.release()
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()

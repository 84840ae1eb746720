"""The four uses, as the examples run them, each in processes of its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def start(script, *args):
    return subprocess.Popen([sys.executable, str(ROOT / "examples" / script), *map(str, args)],
                            stdout=subprocess.PIPE, text=True, env=ENV)


def test_leader_failover(dsn, name):
    a = start("leader.py", dsn, name, "node-a", 60)
    assert a.stdout.readline().startswith("node-a: campaigning")
    assert a.stdout.readline().startswith("leader node-a")
    b = start("leader.py", dsn, name, "node-b", 0.5)
    assert b.stdout.readline().startswith("node-b: campaigning; leader now: node-a")
    a.send_signal(signal.SIGKILL)          # the leader dies without resigning
    killed = time.monotonic()
    line = b.stdout.readline()
    assert line.startswith("leader node-b"), line
    assert time.monotonic() - killed < 15  # ttl 2 s + reaping/scheduling slack
    assert b.wait(20) == 0
    a.wait()


def test_singleton_job(dsn, name):
    first = start("singleton_job.py", dsn, name, 2)
    assert first.stdout.readline().startswith("running with token")
    second = start("singleton_job.py", dsn, name, 0)
    assert second.stdout.read().strip() == "skipped: running elsewhere"
    assert first.stdout.read().strip() == "done"
    assert first.wait(20) == 0 and second.wait(20) == 0


def test_critical_section(dsn, admin, name):
    admin.execute("CREATE TABLE IF NOT EXISTS py_counter (n bigint)")
    admin.execute("GRANT SELECT, UPDATE ON py_counter TO PUBLIC")
    admin.execute("TRUNCATE py_counter")
    admin.execute("INSERT INTO py_counter VALUES (0)")
    procs = [start("critical_section.py", dsn, name, 25) for _ in range(3)]
    for p in procs:
        assert p.stdout.read().strip() == "ok"
        assert p.wait(60) == 0
    assert admin.execute("SELECT n FROM py_counter").fetchone()[0] == 75  # no lost update
    fenced = admin.execute("SELECT token FROM lockservice.fences WHERE resource = %s", (name,)).fetchone()
    assert fenced is not None


def test_reservation(dsn, name):
    procs = [start("reservation.py", dsn, name, 2, 1) for _ in range(3)]
    spans = []
    for p in procs:
        out = p.stdout.read().split()
        assert p.wait(60) == 0
        spans.append((float(out[1]), float(out[3])))
    # never more than 2 at once: the third started after one of the first two ended
    spans.sort()
    assert spans[2][0] >= min(spans[0][1], spans[1][1]) - 0.05

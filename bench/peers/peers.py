#!/usr/bin/python3
"""lockservice beside etcd, ZooKeeper and Redis, each through its standard
Python lock recipe, in one run, interleaved (bench/peers/run.sh starts the
servers and calls this).

Workloads, each for SECONDS, in worker *processes* (no GIL between them):
  uncontended  8 workers, each cycling over its own 1,000 names: acquire, release
  contended    8 workers on one name: acquire (blocking), release, again
For the contended runs every worker logs, on CLOCK_MONOTONIC (one clock for
all processes of the machine), when each grant arrived and when its release
was sent: hand-off latency = a grant's arrival - the previous release's
sending; "self" = the share of grants that went to the worker that released
last (0 = strict FIFO; a polling or racing recipe re-grants to the releaser).
"""

import argparse
import csv
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid

SYSTEMS = ["lockservice", "etcd", "zookeeper", "redis-always", "redis-everysec"]


# ---------------------------------------------------------------- recipes
class LockService:
    """lock_acquire / lock_release through psycopg 3, autocommit."""

    def __init__(self, cfg, worker):
        import psycopg
        self.conn = psycopg.connect(cfg["pg"], autocommit=True)
        self.holder = f"w{worker}-{uuid.uuid4().hex[:6]}"
        self.tokens = {}

    def acquire(self, name):
        tok = self.conn.execute("SELECT lockservice.lock_acquire(%s, %s, '30 s', '60 s')",
                                (name, self.holder)).fetchone()[0]
        if tok is None:
            raise RuntimeError(f"lockservice: {name} not granted in 60 s")
        self.tokens[name] = tok

    def release(self, name):
        if not self.conn.execute("SELECT lockservice.lock_release(%s, %s)",
                                 (name, self.tokens.pop(name))).fetchone()[0]:
            raise RuntimeError("lockservice: release returned false")

    def close(self):
        self.conn.close()


class Etcd:
    """python3-etcd3's Lock recipe: a key under a lease, put in a transaction
    if its create revision is 0, else watch the key and try again.

    The recipe is python3-etcd3's (etcd3/locks.py), written out here:
    Debian 12's python3-etcd3 0.12 fails inside Lock.acquire() whenever it
    has to wait (its tenacity wait callback has the old signature: TypeError).
    """

    def __init__(self, cfg, worker):
        import etcd3
        host, port = cfg["etcd"].split(":")
        self.client = etcd3.client(host=host, port=int(port))
        self.ids = {}

    def acquire(self, name):
        from etcd3 import exceptions
        key, ident = "/locks/" + name, uuid.uuid4().bytes
        end = time.monotonic() + 60
        tx = self.client.transactions
        while True:
            lease = self.client.lease(30)
            ok, _ = self.client.transaction(compare=[tx.create(key) == 0],
                                            success=[tx.put(key, ident, lease=lease)],
                                            failure=[tx.get(key)])
            if ok:
                self.ids[name] = ident
                return
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"etcd: {name} not granted in 60 s")
            try:
                self.client.watch_once(key, left)
            except exceptions.WatchTimedOut:
                pass

    def release(self, name):
        key, tx = "/locks/" + name, self.client.transactions
        ok, _ = self.client.transaction(compare=[tx.value(key) == self.ids.pop(name)],
                                        success=[tx.delete(key)], failure=[])
        if not ok:
            raise RuntimeError("etcd: release found another holder")

    def close(self):
        # left to process exit: closing the channel under python3-etcd3's
        # watch thread makes that thread print a traceback
        pass


class ZooKeeper:
    """kazoo's Lock recipe (sequential ephemeral znodes: FIFO)."""

    def __init__(self, cfg, worker):
        from kazoo.client import KazooClient
        self.zk = KazooClient(hosts=cfg["zookeeper"], timeout=30)
        self.zk.start(timeout=30)
        self.ident = f"w{worker}"
        self.locks = {}

    def acquire(self, name):
        lock = self.locks.get(name)
        if lock is None:
            lock = self.locks[name] = self.zk.Lock("/locks/" + name, self.ident)
        if not lock.acquire(timeout=60):
            raise RuntimeError(f"zookeeper: {name} not granted in 60 s")

    def release(self, name):
        self.locks[name].release()

    def close(self):
        self.zk.stop()
        self.zk.close()


class Redis:
    """redis-py's Lock (SET NX PX, token check on release; waits by polling every 0.1 s)."""

    def __init__(self, cfg, worker, key):
        import redis
        host, port = cfg[key].split(":")
        self.r = redis.Redis(host=host, port=int(port))
        self.locks = {}

    def acquire(self, name):
        lock = self.r.lock(name, timeout=30, blocking_timeout=60)
        if not lock.acquire():
            raise RuntimeError(f"redis: {name} not granted in 60 s")
        self.locks[name] = lock

    def release(self, name):
        self.locks.pop(name).release()

    def close(self):
        self.r.close()


def make_client(system, cfg, worker):
    if system == "lockservice":
        return LockService(cfg, worker)
    if system == "etcd":
        return Etcd(cfg, worker)
    if system == "zookeeper":
        return ZooKeeper(cfg, worker)
    return Redis(cfg, worker, system)


# ---------------------------------------------------------------- workers
def uncontended(system, cfg, worker, seconds, prefix, barrier, out):
    c = make_client(system, cfg, worker)
    names = [f"{prefix}-u{worker}-{i}" for i in range(1000)]
    for n in names[:5]:          # warm up the connection and the recipe
        c.acquire(n)
        c.release(n)
    barrier.wait()
    end = time.monotonic() + seconds
    cycles = 0
    while time.monotonic() < end:
        n = names[cycles % 1000]
        c.acquire(n)
        c.release(n)
        cycles += 1
    c.close()
    out.put((worker, cycles))


def contended(system, cfg, worker, seconds, prefix, barrier, out):
    c = make_client(system, cfg, worker)
    name = f"{prefix}-one"
    barrier.wait()
    end = time.monotonic() + seconds
    log = []
    while time.monotonic() < end:
        c.acquire(name)
        granted = time.monotonic()
        sent = time.monotonic()
        c.release(name)
        log.append((granted, sent))
    c.close()
    out.put((worker, log))


def run(kind, system, cfg, seconds, clients=8):
    prefix = f"{system}-{kind}-{uuid.uuid4().hex[:8]}"
    barrier = mp.Barrier(clients)
    out = mp.Queue()
    target = uncontended if kind == "uncontended" else contended
    procs = [mp.Process(target=target, args=(system, cfg, w, seconds, prefix, barrier, out))
             for w in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
        if p.exitcode != 0:
            raise RuntimeError(f"{system} {kind}: a worker failed")
    if kind == "uncontended":
        return {"cycles_per_s": sum(r[1] for r in results) / seconds}
    events = sorted((g, s, w) for w, log in results for g, s in log)
    handoffs, same = [], 0
    for prev, cur in zip(events, events[1:]):
        handoffs.append((cur[0] - prev[1]) * 1e6)
        same += cur[2] == prev[2]
    handoffs.sort()
    q = lambda f: handoffs[min(len(handoffs) - 1, int(f * len(handoffs)))] if handoffs else float("nan")
    return {"grants_per_s": len(events) / seconds, "handoff_p50_us": q(0.50),
            "handoff_p99_us": q(0.99), "self_share": same / max(1, len(events) - 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="JSON: endpoints of every system")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--out", required=True, help="runs.csv to write")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    systems = args.systems.split(",")
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rep", "workload", "system", "metric", "value", "loadavg1"])
        for rep in range(1, args.reps + 1):
            for kind in ("uncontended", "contended"):
                for system in systems:     # interleaved: every system once per round
                    res = run(kind, system, cfg, args.seconds)
                    load = os.getloadavg()[0]
                    for k, v in res.items():
                        w.writerow([rep, kind, system, k, f"{v:.3f}", f"{load:.2f}"])
                    f.flush()
                    print(f"[rep {rep}/{args.reps}] {kind:11s} {system:15s} " +
                          "  ".join(f"{k} {v:,.1f}" for k, v in res.items()), flush=True)


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())

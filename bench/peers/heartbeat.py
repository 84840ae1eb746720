#!/usr/bin/python3
"""Figure 10 beside its peers: what keeping 100,000 locks alive costs the
server, for lockservice sessions, etcd leases and ZooKeeper sessions, each
through its standard Python client, in one run, interleaved
(bench/peers/run.sh --heartbeat starts the servers and calls this).

Per system: 1,000 holders (a lockservice session, an etcd lease, a ZooKeeper
session; ttl / session timeout 15 s) with 100 locks each (locks in the
session, keys attached to the lease, ephemeral znodes of the session), in 10
worker processes of 100 holders each.  Each holder is kept alive every 5 s
(ttl/3): lockservice `session_renew(id)`, etcd `refresh_lease(id)` (one
LeaseKeepAlive), ZooKeeper the client's own pings (kazoo pings an idle
connection about every 5 s at a 15 s timeout).  Measured over the window:
the server's CPU (utime + stime of its processes, /proc/PID/stat; for
PostgreSQL every process of the cluster and the children it reaped) and the
bytes the machine's disks wrote (/proc/diskstats), minus the same measured
before the holders connected (idle); and how far each system's durable log
moved: PostgreSQL's WAL bytes, etcd's Raft index, ZooKeeper's zxid.
Afterwards every system is asked how many of the 100,000 locks are still
held.
"""

import argparse
import csv
import json
import multiprocessing as mp
import os
import sys
import time
import uuid

SYSTEMS = ["lockservice", "etcd", "zookeeper"]
PROCS = 10          # worker processes
HOLDERS = 100       # holders per worker: 1,000 in all
LOCKS = 100         # locks per holder: 100,000 in all
TTL = 15            # seconds
EVERY = TTL / 3     # keepalive interval
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- servers
def _stat(pid):
    """(ppid, utime + stime + cutime + cstime in seconds) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / TICK


def server_cpu(root):
    """CPU seconds of process root and every process descended from it (the
    children a process reaped are in its cutime and cstime).  root may be a
    wrapper (runuser) of the server."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                children.setdefault(_stat(int(d))[0], []).append(int(d))
            except OSError:
                pass
    cpu = 0
    todo = [root]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            cpu += _stat(p)[1]
        except OSError:
            pass
    return cpu


def disk_written():
    """Bytes the machine's disks have written (/proc/diskstats, whole disks
    only: every file system, the servers' fsyncs and journals included)."""
    disks = [d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram", "zram"))]
    total = 0
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] in disks:
                total += int(fields[9]) * 512
    return total


def log_position(system, cfg):
    """How far the system's durable log has come: PostgreSQL's WAL in bytes,
    etcd's Raft index, ZooKeeper's last zxid (its transaction counter)."""
    if system == "lockservice":
        import psycopg
        with psycopg.connect(cfg["pg"], autocommit=True) as conn:
            return int(conn.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()[0])
    if system == "etcd":
        import etcd3
        host, port = cfg["etcd"].split(":")
        return etcd3.client(host=host, port=int(port)).status().raft_index
    return zk_srvr(cfg)["Zxid"]


def zk_srvr(cfg):
    """ZooKeeper's srvr command: packets received and the last zxid."""
    import socket
    host, port = cfg["zookeeper"].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"srvr")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    out = {}
    for line in data.decode().splitlines():
        if line.startswith("Received:"):
            out["Received"] = int(line.split()[1])
        elif line.startswith("Zxid:"):
            out["Zxid"] = int(line.split()[1], 16)
    if len(out) != 2:
        raise RuntimeError(f"zookeeper: unexpected srvr reply: {data[:200]!r}")
    return out


def settle(system, cfg):
    """After the set-up: lockservice's tables vacuumed and a checkpoint, so
    the window does not count writing out the set-up's 100,000 rows."""
    if system != "lockservice":
        return
    import psycopg
    with psycopg.connect(cfg["pg"], autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) lockservice.leases, lockservice.sessions")
        conn.execute("CHECKPOINT")


# ---------------------------------------------------------------- holders
class LockService:
    """Sessions through psycopg 3, autocommit: session_open, 100 x
    lock_acquire(name, session), session_renew(id), session_close(id)."""

    def __init__(self, cfg):
        import psycopg
        self.conn = psycopg.connect(cfg["pg"], autocommit=True)

    def open(self, prefix):
        sid = self.conn.execute("SELECT lockservice.session_open(%s, %s::interval)",
                                (prefix, f"{TTL} s")).fetchone()[0]
        got = self.conn.execute(
            "SELECT count(lockservice.lock_acquire(%s || i, %s::bigint)) FROM generate_series(1, %s) i",
            (prefix + "/", sid, LOCKS)).fetchone()[0]
        if got != LOCKS:
            raise RuntimeError(f"lockservice: {got} of {LOCKS} locks granted")
        return sid

    def renew(self, sid):
        if not self.conn.execute("SELECT lockservice.session_renew(%s)", (sid,)).fetchone()[0]:
            raise RuntimeError("lockservice: a session renewal was refused")

    def held(self, sid):
        return self.conn.execute("SELECT count(*) FROM lockservice.leases_live WHERE session = %s",
                                 (sid,)).fetchone()[0]

    def close(self, sid):
        self.conn.execute("SELECT lockservice.session_close(%s)", (sid,))

    def finish(self):
        self.conn.close()


class Etcd:
    """python3-etcd3: a lease of 15 s, 100 keys put with it in one
    transaction, refresh_lease(id) to keep it, revoke to end it."""

    def __init__(self, cfg):
        import etcd3
        host, port = cfg["etcd"].split(":")
        self.client = etcd3.client(host=host, port=int(port))

    def open(self, prefix):
        lease = self.client.lease(TTL)
        tx = self.client.transactions
        ok, _ = self.client.transaction(
            compare=[], success=[tx.put(f"/hb/{prefix}/{i}", b"x", lease=lease) for i in range(LOCKS)],
            failure=[])
        if not ok:
            raise RuntimeError("etcd: the put transaction failed")
        return (lease, prefix)

    def renew(self, h):
        for r in self.client.refresh_lease(h[0].id):
            if r.TTL <= 0:
                raise RuntimeError("etcd: a lease renewal found the lease gone")

    def held(self, h):
        return sum(1 for _ in self.client.get_prefix(f"/hb/{h[1]}/", keys_only=True))

    def close(self, h):
        h[0].revoke()

    def finish(self):
        pass    # closing the channel under python3-etcd3's threads prints tracebacks


class ZooKeeper:
    """kazoo: a client (session) with a 15 s timeout, 100 ephemeral znodes
    created in one transaction; kazoo's own pings keep the session."""

    def __init__(self, cfg):
        self.hosts = cfg["zookeeper"]

    def open(self, prefix):
        from kazoo.client import KazooClient
        zk = KazooClient(hosts=self.hosts, timeout=TTL)
        zk.start(timeout=30)
        zk.ensure_path(f"/hb/{prefix}")
        tx = zk.transaction()
        for i in range(LOCKS):
            tx.create(f"/hb/{prefix}/{i}", b"x", ephemeral=True)
        results = tx.commit()
        if any(isinstance(r, Exception) for r in results):
            raise RuntimeError(f"zookeeper: the create transaction failed: {results[:3]}")
        return (zk, prefix)

    def renew(self, h):
        return False    # kazoo pings by itself (counted at the server)

    def held(self, h):
        return len(h[0].get_children(f"/hb/{h[1]}"))

    def close(self, h):
        h[0].stop()
        h[0].close()

    def finish(self):
        pass


def make(system, cfg):
    return {"lockservice": LockService, "etcd": Etcd, "zookeeper": ZooKeeper}[system](cfg)


def worker(system, cfg, w, run_id, ready, go, stop, out):
    """Opens HOLDERS holders, keeps each alive every EVERY seconds from its
    opening, counts renewals and its own CPU in the window [go, stop]."""
    holders, due = [], []
    renewals = 0
    window = {}
    is_ready = False
    try:
        c = make(system, cfg)
        for k in range(HOLDERS):
            holders.append(c.open(f"{run_id}-{w}-{k}"))
            due.append(time.monotonic() + EVERY)
            # keep the ones already open alive while opening the rest
            for j in range(k):
                if time.monotonic() >= due[j]:
                    c.renew(holders[j])
                    due[j] += EVERY
        ready.put(w)
        is_ready = True
        while not stop.is_set():
            if go.is_set() and "start" not in window:
                window["start"] = (time.process_time(), renewals)
            j = min(range(HOLDERS), key=due.__getitem__)
            wait = due[j] - time.monotonic()
            if wait > 0:
                stop.wait(min(wait, 0.05))
                continue
            if c.renew(holders[j]) is not False:
                renewals += 1
            due[j] += EVERY
        end = (time.process_time(), renewals)
        held = sum(c.held(h) for h in holders)
        for h in holders:
            c.close(h)
        c.finish()
        start = window.get("start", end)
        out.put((w, end[0] - start[0], end[1] - start[1], held, None))
    except Exception as e:      # reported to the parent, which fails the run
        if not is_ready:
            ready.put(w)
        out.put((w, 0, 0, 0, f"{type(e).__name__}: {e}"))


def measure(system, cfg, pids, seconds, idle_seconds):
    root = pids[system]
    res = {}
    # idle: the server with nothing connected, after the page cache's dirty
    # pages (the previous system's) are on disk
    os.sync()
    time.sleep(1)
    cpu0, io0 = server_cpu(root), disk_written()
    time.sleep(idle_seconds)
    cpu1, io1 = server_cpu(root), disk_written()
    idle_cpu, idle_io = (cpu1 - cpu0) / idle_seconds, (io1 - io0) / idle_seconds

    run_id = uuid.uuid4().hex[:8]
    ready, out = mp.Queue(), mp.Queue()
    go, stop = mp.Event(), mp.Event()
    procs = [mp.Process(target=worker, args=(system, cfg, w, run_id, ready, go, stop, out))
             for w in range(PROCS)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=600)
    setup = time.monotonic() - t0
    settle(system, cfg)
    os.sync()                   # the set-up's writes are not the window's
    time.sleep(EVERY)           # every holder renewed once since the set-up
    log0 = log_position(system, cfg)
    zk0 = zk_srvr(cfg)["Received"] if system == "zookeeper" else 0
    cpu0, io0 = server_cpu(root), disk_written()
    go.set()
    time.sleep(seconds)
    cpu1, io1 = server_cpu(root), disk_written()
    log1 = log_position(system, cfg)
    zk1 = zk_srvr(cfg)["Received"] if system == "zookeeper" else 0
    stop.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [r[4] for r in results if r[4]]
    if errors:
        raise RuntimeError(f"{system}: {errors[0]}")
    res["setup_s"] = setup
    res["renewals_per_s"] = sum(r[2] for r in results) / seconds
    if system == "zookeeper":   # the pings the server received (and 1 srvr)
        res["renewals_per_s"] = (zk1 - zk0 - 2) / seconds
    res["server_cpu_pct"] = 100 * ((cpu1 - cpu0) / seconds - idle_cpu)
    res["server_idle_cpu_pct"] = 100 * idle_cpu
    res["disk_written_bytes_per_s"] = (io1 - io0) / seconds - idle_io
    # WAL bytes; Raft entries; ZooKeeper transactions (the 2 srvr calls and
    # the Raft status call are not transactions)
    res["log_per_s"] = (log1 - log0) / seconds
    res["client_cpu_pct"] = 100 * sum(r[1] for r in results) / seconds
    res["held_at_end"] = sum(r[3] for r in results)
    return res


def report(results_dir):
    """heartbeat.csv -> heartbeat.md: medians over the reps, ratios."""
    import statistics
    from collections import defaultdict
    vals, loads = defaultdict(list), []
    with open(os.path.join(results_dir, "heartbeat.csv")) as f:
        for row in csv.DictReader(f):
            vals[(row["system"], row["metric"])].append(float(row["value"]))
            loads.append(float(row["loadavg1"]))
    med = lambda s, m: statistics.median(vals[(s, m)]) if vals.get((s, m)) else float("nan")
    name = {"lockservice": "lockservice sessions (psycopg: `session_renew`)",
            "etcd": "etcd leases (python3-etcd3: `refresh_lease`)",
            "zookeeper": "ZooKeeper sessions (kazoo: its pings)"}
    systems = [s for s in SYSTEMS if (s, "server_cpu_pct") in vals]
    with open(os.path.join(results_dir, "heartbeat_settings.txt")) as f:
        settings = f.read().strip().replace("\n", "  \n")
    log = {"lockservice": lambda v: f"WAL {v / 1000:,.1f} kB/s",
           "etcd": lambda v: f"{v:,.1f} Raft entries/s",
           "zookeeper": lambda v: f"{v:,.1f} transactions/s"}
    # the machine's disk writes minus idle: with several servers on one
    # machine, another one's checkpoint or writeback can fall into the idle
    # window and make the difference negative: nothing measurable then
    disk = lambda v: f"{v / 1000:,.1f} kB/s" if v > 0 else "none measurable"
    lines = [settings, "",
             f"load average (1 min) during the runs: median {statistics.median(loads):.2f}, max {max(loads):.2f}", "",
             "| 100,000 locks kept by 1,000 holders, ttl 15 s | keepalives/s | server CPU added | its durable log | disk writes (machine) | client CPU | held at the end | set-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in systems:
        lines.append(f"| {name[s]} | {med(s, 'renewals_per_s'):,.0f}{'' if s != 'zookeeper' else ' pings'} | "
                     f"{med(s, 'server_cpu_pct'):.1f} % of a core | {log[s](med(s, 'log_per_s'))} | "
                     f"{disk(med(s, 'disk_written_bytes_per_s'))} | "
                     f"{med(s, 'client_cpu_pct'):.1f} % | {med(s, 'held_at_end'):,.0f} | {med(s, 'setup_s'):.1f} s |")
    lines += ["", "| lockservice ÷ | server CPU added |", "|---|---:|"]
    for s in systems[1:]:
        lines.append(f"| {s} | {med('lockservice', 'server_cpu_pct') / med(s, 'server_cpu_pct'):.2f} |")
    with open(os.path.join(results_dir, "heartbeat.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        return report(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="JSON: endpoints and server pids")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--out", required=True, help="heartbeat.csv to write")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    pids = {"lockservice": cfg["pg_pid"], "etcd": cfg["etcd_pid"], "zookeeper": cfg["zookeeper_pid"]}
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rep", "system", "metric", "value", "loadavg1"])
        for rep in range(1, args.reps + 1):
            for system in args.systems.split(","):     # interleaved
                res = measure(system, cfg, pids, args.seconds, args.idle)
                load = os.getloadavg()[0]
                for k, v in res.items():
                    w.writerow([rep, system, k, f"{v:.3f}", f"{load:.2f}"])
                f.flush()
                print(f"[rep {rep}/{args.reps}] {system:12s} " +
                      "  ".join(f"{k} {v:,.1f}" for k, v in res.items()), flush=True)


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())

#!/usr/bin/python3
"""bench/peers: results/runs.csv -> results/summary.md and results/peers.png."""

import csv
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

res = Path(sys.argv[1])
vals = defaultdict(list)
loads = []
for row in csv.DictReader(open(res / "runs.csv")):
    vals[(row["workload"], row["system"], row["metric"])].append(float(row["value"]))
    loads.append(float(row["loadavg1"]))
systems = []
for (_, s, _) in vals:
    if s not in systems:
        systems.append(s)


def med(w, s, m):
    v = vals.get((w, s, m))
    return statistics.median(v) if v else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


lines = [open(res / "settings.txt").read().strip().replace("\n", "  \n"), "",
         f"load average (1 min) during the runs: median {statistics.median(loads):.2f}, max {max(loads):.2f}", "",
         "| system (standard Python recipe) | uncontended cycles/s | contended grants/s | hand-off p50 | hand-off p99 | grants to the releaser |",
         "|---|---:|---:|---:|---:|---:|"]
recipe = {"lockservice": "lockservice (psycopg, lock_acquire/lock_release)",
          "etcd": "etcd (python3-etcd3 Lock)", "zookeeper": "ZooKeeper (kazoo Lock)",
          "redis-always": "Redis AOF always (redis-py Lock)", "redis-everysec": "Redis AOF everysec (redis-py Lock)"}
for s in systems:
    lines.append(f"| {recipe.get(s, s)} | {med('uncontended', s, 'cycles_per_s'):,.0f} | "
                 f"{med('contended', s, 'grants_per_s'):,.0f} | {med('contended', s, 'handoff_p50_us') / 1000:.2f} ms | "
                 f"{med('contended', s, 'handoff_p99_us') / 1000:.2f} ms | {100 * med('contended', s, 'self_share'):.0f} % |")
lines += ["", "Ratios, lockservice / peer (medians of the same run):", "",
          "| peer | uncontended | goal | contended | goal |", "|---|---:|---|---:|---|"]
goal = {"redis-always": 1.0, "etcd": 7.0, "zookeeper": 7.0}
for s in systems:
    if s == "lockservice":
        continue
    u = ratio(med("uncontended", "lockservice", "cycles_per_s"), med("uncontended", s, "cycles_per_s"))
    c = ratio(med("contended", "lockservice", "grants_per_s"), med("contended", s, "grants_per_s"))
    g = goal.get(s)
    gu = f"≥ {g:g}: {'met' if u >= g else 'MISSED'}" if g else "–"
    gc = f"≥ 1: {'met' if c >= 1 else 'MISSED'}" if s == "redis-always" else "–"
    lines.append(f"| {recipe.get(s, s)} | {u:.2f} | {gu} | {c:.2f} | {gc} |")
(res / "summary.md").write_text("\n".join(lines) + "\n")

dat = res / "peers.dat"
with open(dat, "w") as f:
    f.write("system uncontended contended\n")
    for s in systems:
        f.write(f"{s} {med('uncontended', s, 'cycles_per_s'):.0f} {med('contended', s, 'grants_per_s'):.0f}\n")
gp = f"""
set terminal pngcairo size 900,520 font ",10" noenhanced
set output "{res}/peers.png"
set title "Lock cycles per second, 8 workers, standard Python recipes (higher is better)"
set style data histograms
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "per second"
set grid ytics
set key top right
plot "{dat}" using 2:xtic(1) title "uncontended (own names)", "" using 3 title "contended (one name)"
"""
try:
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
except (OSError, subprocess.CalledProcessError):
    pass

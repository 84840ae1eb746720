#!/usr/bin/env bash
#
# bench/run.sh -- the lockservice benchmark suite (see bench/README.md)
#
#   bench/run.sh                  full run (about 50 minutes, 22 of them the soak)
#   bench/run.sh --quick          smoke run for CI: every figure once, tiny sizes
#   bench/run.sh --only 3         one figure: 1 2 3 4 5 6 7 8 9 10 sweep peers (or a comma list)
#
# Options:
#   --quick               tiny sizes, one repetition, no soak (CI smoke test)
#   --only LIST           figures to run (1..10, sweep, peers; comma-separated)
#   --reps N              repetitions of every measurement (default 3)
#   --seconds S           length of one throughput run (default 10; sweep: S/2)
#   --soak-minutes M      length of the bloat soak (default 15)
#   --hold-minutes M      length of the open transaction in the soak's second part (default 5)
#   --churn-minutes M     length of the name-churn soak (figure 8, default 15)
#   --port P              TCP port of the throwaway server (default: first free from 5490)
#   --results DIR         where results go (default bench/results)
#   --keep                keep the server's data directory (it is stopped either way)
#   --report              only rewrite results/summary.txt and summary.md from the results there
#   --serve               set up the server and database "bench" as for a run, print how to
#                         connect, and wait (for investigations); stop it with Ctrl-C
#   --build WHAT          what to measure: head (default: the committed HEAD, built into a
#                         private copy of PostgreSQL), worktree (the working tree, uncommitted
#                         changes included) or installed (the files "make install" put in place)
#   --rev REV             with --build head: build this commit instead of HEAD
#
# As root it installs what it needs (gnuplot-nox, libpq-dev, gcc, pgbench)
# with apt-get, builds and installs the extension when it is missing, and
# runs the server, pgbench and the harness as the unprivileged "postgres"
# account.  Run as another user, it runs everything as that user.
#
# Every figure is measured together with its baselines: the runs of
# lockservice and of the baselines are interleaved (rep 1 of each, then
# rep 2 of each, ...), and the medians and their ratios are printed side by
# side, because other work on the machine moves absolute numbers.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

QUICK=0
ONLY=""
REPS=""
SECONDS_RUN=""
SOAK_MIN=15
CHURN_MIN=15
HOLD_MIN=5
PORT=""
RESULTS="$HERE/results"
KEEP=0
REPORT=0
SERVE=0
BUILD=head
REV=HEAD

usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
	case "$1" in
		--quick) QUICK=1 ;;
		--only) ONLY="$2"; shift ;;
		--reps) REPS="$2"; shift ;;
		--seconds) SECONDS_RUN="$2"; shift ;;
		--soak-minutes) SOAK_MIN="$2"; shift ;;
		--hold-minutes) HOLD_MIN="$2"; shift ;;
		--churn-minutes) CHURN_MIN="$2"; shift ;;
		--port) PORT="$2"; shift ;;
		--results) RESULTS="$2"; shift ;;
		--keep) KEEP=1 ;;
		--report) REPORT=1 ;;
		--serve) SERVE=1 ;;
		--build) BUILD="$2"; shift ;;
		--rev) REV="$2"; shift ;;
		-h|--help) usage 0 ;;
		*) echo "run.sh: unknown option $1" >&2; usage 2 ;;
	esac
	shift
done

# ---------------------------------------------------------------- sizes
if [ "$QUICK" = 1 ]; then
	REPS=${REPS:-1}
	TX_PER_CLIENT=20			# quick runs are -t N, not -T S
	SECONDS_RUN=${SECONDS_RUN:-1}
	SCALE_LEASES=2000
	EXPIRY_LEASES=1000
	MEM_CALLS_SMALL=1000
	MEM_CALLS_BIG=5000
	TX_EVENTS_N=1000
	SWEEP_CLIENTS="1 2 8 32"
	SCRAPE_LEASES=2000
	SCRAPE_WAITERS=5
	SCRAPE_RUNS=3
	SESS_SESSIONS=20			# figure 10: sessions x locks each
	SESS_PER=10
	SESS_SECONDS=2
	DEFAULT_FIGS="1,2,3,4,6,7,9,10,sweep"
else
	REPS=${REPS:-3}
	TX_PER_CLIENT=0
	SECONDS_RUN=${SECONDS_RUN:-10}
	SCALE_LEASES=1000000
	EXPIRY_LEASES=100000
	MEM_CALLS_SMALL=10000
	MEM_CALLS_BIG=1000000
	TX_EVENTS_N=100000
	SWEEP_CLIENTS="1 2 4 8 16 32 64"
	SCRAPE_LEASES=100000
	SCRAPE_WAITERS=50
	SCRAPE_RUNS=20
	SESS_SESSIONS=1000
	SESS_PER=100
	SESS_SECONDS=30
	DEFAULT_FIGS="1,2,3,4,5,6,7,8,9,10,sweep,peers"
fi
SWEEP_SECONDS=$(( SECONDS_RUN / 2 > 1 ? SECONDS_RUN / 2 : 1 ))
HO_SECONDS=$SECONDS_RUN
[ "$QUICK" = 1 ] && HO_SECONDS=0.5
FIGS=",${ONLY:-$DEFAULT_FIGS},"
want() { case "$FIGS" in *",$1,"*) return 0 ;; esac; return 1; }
# figure 7 (features' cost) is measured by figure 1's runs
if want 7 && ! want 1; then FIGS="${FIGS}1,"; fi

# ---------------------------------------------------------------- helpers
T_START=$(date +%s)
ts() { local e=$(( $(date +%s) - T_START )); printf '%s +%dm%02ds' "$(date +%H:%M:%S)" $((e / 60)) $((e % 60)); }
say() { echo "[$(ts)] $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }
FAILURES=0
fail_check() { say "CHECK FAILED: $*"; FAILURES=$((FAILURES + 1)); echo "  CHECK FAILED: $*" >> "$RESULTS/fig_${CUR_FIG:-x}.txt"; }

if [ "$(id -u)" = 0 ]; then
	# setpriv: no PAM session per call (runuser costs ~80 ms a call)
	if command -v setpriv >/dev/null; then
		RUNAS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	else
		RUNAS=(runuser -u postgres --)
	fi
	OSUSER=postgres
else
	RUNAS=()
	OSUSER=$(id -un)
fi
as_pg() { "${RUNAS[@]}" "$@"; }

# results/summary.txt and summary.md from the figures' files and goals.csv
write_summaries() {
	# results/summary.txt: the settings and every figure's report
	{
		cat "$RESULTS/settings.txt"
		for f in 1 2 3 sweep 4 5 6 8 9 10; do [ -e "$RESULTS/fig_$f.txt" ] && { echo; cat "$RESULTS/fig_$f.txt"; }; done
		[ -s "$RESULTS/observations.txt" ] && { echo; echo "Observations:"; sed 's/^/  /' "$RESULTS/observations.txt"; }
	} > "$RESULTS/summary.txt"

	# results/summary.md: every reported ratio, for the README
	{
		for f in 1 2 3 sweep 4 5 6 8 9 10; do
			[ -e "$RESULTS/fig_$f.txt" ] && echo "- figure $f: $(head -1 "$RESULTS/fig_$f.txt" | tr -d '[]')"
		done
		echo
		echo "| fig | measure | value | unit | baseline | baseline value | ratio | goal | status |"
		echo "|---|---|---:|---|---|---:|---:|---|---|"
		tail -n +2 "$GOALS" | sort -t, -k1,1 -s | python3 -c "$SUMMARY_PY"
	} > "$RESULTS/summary.md"
}
SUMMARY_PY='
import csv, sys
def f(v):
    try:
        x = float(v)
    except ValueError:
        return v
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 or x == 0 else f"{x:.3f}"
for r in csv.reader(sys.stdin):
    fig, measure, value, unit, base, bval, ratio, goal, status, note = (r + [""] * 10)[:10]
    if note:
        measure += f" ({note})"
    print(f"| {fig} | {measure} | {f(value)} | {unit} | {base} | {f(bval)} | {f(ratio)} | {goal} | {status} |")
'

if [ "$REPORT" = 1 ]; then
	GOALS="$RESULTS/goals.csv"
	[ -s "$GOALS" ] || die "no results in $RESULTS"
	write_summaries
	say "rewrote $RESULTS/summary.txt and summary.md"
	exit 0
fi

# ---------------------------------------------------------------- prerequisites
if [ "$(id -u)" = 0 ]; then
	need=()
	command -v gnuplot >/dev/null || need+=(gnuplot-nox)
	command -v gcc >/dev/null || need+=(gcc)
	[ -e /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
	[ -x /usr/lib/postgresql/15/bin/pgbench ] || need+=(postgresql-15 postgresql-contrib)
	command -v pg_config >/dev/null || need+=(postgresql-server-dev-15)
	if [ ${#need[@]} -gt 0 ]; then
		say "installing ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
	fi
fi
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null || { HAVE_GNUPLOT=0; say "gnuplot missing: no charts"; }

# ---------------------------------------------------------------- work dir, results
WORK=$(mktemp -d /tmp/lockservice-bench.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
PGDATA="$WORK/data"
HOLD_PID=""
cleanup() {
	set +e
	[ -n "${HOLD_PID:-}" ] && kill "$HOLD_PID" 2>/dev/null
	if [ -e "$PGDATA/postmaster.pid" ]; then
		as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
	fi
	if [ "$KEEP" = 1 ]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- a private PostgreSQL tree
# Other work on this machine runs "make install" at any time.  The benchmark
# runs a private copy of PostgreSQL 15 (relocatable: it finds its share and
# lib directories relative to its binary) with the extension built into it,
# so what is measured cannot change under a run, and is the reported commit.
# (the system's under /usr, or a copy of that layout such as the one
# scripts/test.sh builds into: PREFIX/lib/postgresql/15, PREFIX/share/...;
# or a plain installation of a source build, PREFIX/bin, PREFIX/lib,
# PREFIX/share, as scripts/build-pg.sh makes for PostgreSQL 18)
SYS_BIN=$(pg_config --bindir); SYS_SHARE=$(pg_config --sharedir); SYS_PKGLIB=$(pg_config --pkglibdir)
SYS_PREFIX=${SYS_BIN%/lib/postgresql/*}
PGTREE="$WORK/pg"
case "$SYS_BIN|$SYS_SHARE|$SYS_PKGLIB" in
	"$SYS_PREFIX"/lib/postgresql/*\|"$SYS_PREFIX"/share/postgresql/*\|"$SYS_PREFIX"/lib/postgresql/*)
		SYS_PGDIR=$(dirname "$SYS_BIN")	# /usr/lib/postgresql/15
		mkdir -p "$PGTREE/$(dirname "${SYS_PGDIR#"$SYS_PREFIX"/}")" "$PGTREE/$(dirname "${SYS_SHARE#"$SYS_PREFIX"/}")"
		cp -a "$SYS_PGDIR" "$PGTREE/$(dirname "${SYS_PGDIR#"$SYS_PREFIX"/}")/"
		cp -a "$SYS_SHARE" "$PGTREE/$(dirname "${SYS_SHARE#"$SYS_PREFIX"/}")/"
		ln -s /usr/include "$PGTREE/include" ;;
	*/bin\|"${SYS_BIN%/bin}"/share/*\|"${SYS_BIN%/bin}"/lib/*)
		SYS_PREFIX=${SYS_BIN%/bin}
		mkdir -p "$PGTREE"
		cp -a "$SYS_PREFIX/." "$PGTREE/" ;;
	*) die "expected a Debian PostgreSQL layout (PREFIX/lib/postgresql, PREFIX/share/postgresql) or a source build's (PREFIX/bin, PREFIX/share, PREFIX/lib); pg_config says $SYS_BIN, $SYS_SHARE" ;;
esac
BIN="$PGTREE/${SYS_BIN#"$SYS_PREFIX"/}"
PKGLIB="$PGTREE/${SYS_PKGLIB#"$SYS_PREFIX"/}"
EXTDIR="$PGTREE/${SYS_SHARE#"$SYS_PREFIX"/}/extension"
[ "$("$BIN/pg_config" --pkglibdir)" = "$PKGLIB" ] || die "the private copy of PostgreSQL is not relocatable"
case "$BUILD" in
	installed)
		[ -e "$PKGLIB/lockservice.so" ] || die "lockservice is not installed (make && make install)"
		BUILT_FROM="the installed files (lockservice.so md5 $(md5sum < "$PKGLIB/lockservice.so" | cut -c1-12)), repository at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "(not a git checkout this user may read)")" ;;
	head|worktree)
		rm -f "$PKGLIB"/lockservice*.so "$EXTDIR"/lockservice*
		mkdir -p "$WORK/src"
		if [ "$BUILD" = head ]; then
			git -C "$REPO" archive "$REV" | tar -x -C "$WORK/src"
			BUILT_FROM="commit $(git -C "$REPO" rev-parse --short "$REV") (git archive $REV)"
		else
			(cd "$REPO" && git ls-files -co --exclude-standard -z | grep -zv '^bench/results/' | tar --null -T - -c) | tar -x -C "$WORK/src"
			BUILT_FROM="the working tree at commit $(git -C "$REPO" rev-parse --short HEAD)$([[ -n $(git -C "$REPO" status --porcelain --untracked-files=no -- src sql Makefile) ]] && echo ' with uncommitted changes' || true)"
		fi
		say "building the extension from $BUILT_FROM"
		make -C "$WORK/src" -s -j"$(nproc)" PG_CONFIG="$BIN/pg_config" with_llvm=no >"$WORK/build.log" 2>&1 &&
			make -C "$WORK/src" -s PG_CONFIG="$BIN/pg_config" with_llvm=no install >>"$WORK/build.log" 2>&1 ||
			{ cat "$WORK/build.log" >&2; die "the build failed"; } ;;
	*) die "--build takes head, worktree or installed" ;;
esac
[ "$SERVE" = 1 ] && RESULTS="$WORK/results"	# --serve never touches bench/results
mkdir -p "$RESULTS"
RUNS="$RESULTS/runs.csv"			# every single measurement, long format
GOALS="$RESULTS/goals.csv"			# one line per reported ratio
if [ -n "$ONLY" ]; then
	# keep the other figures' results of an earlier run; redo these
	touch "$RUNS" "$GOALS"
else
	rm -f "$RESULTS"/*.txt "$RESULTS"/*.csv "$RESULTS"/*.png "$RESULTS"/*.md "$RESULTS"/*.dat
	echo "figure,config,rep,metric,value" > "$RUNS"
	echo "figure,measure,value,unit,baseline,baseline_value,ratio,goal,status,note" > "$GOALS"
fi
for f in ${FIGS//,/ }; do
	# results of a figure that is run again are replaced
	grep -v "^$f," "$RUNS" > "$WORK/r" || true; cat "$WORK/r" > "$RUNS"
	grep -v "^$f," "$GOALS" > "$WORK/r" || true; cat "$WORK/r" > "$GOALS"
done
[ -s "$RUNS" ] || echo "figure,config,rep,metric,value" > "$RUNS"
[ -s "$GOALS" ] || echo "figure,measure,value,unit,baseline,baseline_value,ratio,goal,status,note" > "$GOALS"
# each figure's report goes to results/fig_N.txt (replaced when the figure is
# run again); results/summary.txt is all of them, rebuilt at the end
CUR_FIG=x
begin_fig() {
	CUR_FIG=$1
	echo "[measured $(date -u '+%Y-%m-%d %H:%M UTC'), extension built from $BUILT_FROM, $REPS repetitions]" > "$RESULTS/fig_$1.txt"
}
out() { echo "$*" | tee -a "$RESULTS/fig_$CUR_FIG.txt"; }

# ---------------------------------------------------------------- the server
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$PORT" ]; then
	PORT=5490
	while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
fi
SOCK="$WORK"
SETTINGS=(
	"listen_addresses = '127.0.0.1'"
	"port = $PORT"
	"unix_socket_directories = '$SOCK'"
	"shared_preload_libraries = 'lockservice'"
	"shared_buffers = 512MB"
	"max_connections = 100"
	"synchronous_commit = on"
	"fsync = on"
	"full_page_writes = on"
	"wal_level = replica"
	"max_wal_size = 8GB"
	"checkpoint_timeout = 30min"
	"autovacuum = on"
	"track_wal_io_timing = on"
	"max_worker_processes = 16"
	"log_min_messages = warning"
)


say "initdb in $PGDATA"
as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
printf '%s\n' "${SETTINGS[@]}" >> "$PGDATA/postgresql.conf"
as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w start >/dev/null ||
	{ cat "$WORK/server.log" >&2; die "server did not start"; }

PSQL=(as_pg "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres)
sql() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$*"; }
sqlenv() { local opts=$1 db=$2; shift 2; PGOPTIONS="$opts" "${PSQL[@]}" -d "$db" -c "$*"; }

{
	echo "lockservice benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), extension built from $BUILT_FROM"
	echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full), repetitions $REPS, ${SECONDS_RUN} s per throughput run$([ "$QUICK" = 1 ] && echo " ($TX_PER_CLIENT transactions per client in quick mode)")"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GB RAM, kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "server: $("$BIN/postgres" --version) (a private copy in $PGTREE), data in $PGDATA ($(df -T "$WORK" | awk 'NR==2 {print $2}'))"
	echo "settings (postgresql.conf):"
	printf '    %s\n' "${SETTINGS[@]}"
	echo "lockservice GUCs at defaults unless a configuration says otherwise (set with PGOPTIONS -c ...)"
	echo "clients connect over the Unix socket; pgbench -M prepared -j 2 (-j 1 for 1 client)"
} > "$RESULTS/settings.txt"
cat "$RESULTS/settings.txt" >&2

# one database per concern; the baselines' tables live beside the extension
setup_db() {
	local db=$1
	sql postgres "CREATE DATABASE $db"
	sql "$db" "CREATE EXTENSION lockservice"
	sql "$db" "
		CREATE TABLE bench_update (id int PRIMARY KEY, v bigint NOT NULL) WITH (fillfactor = 50);
		INSERT INTO bench_update SELECT g, 0 FROM generate_series(1, 1000) g;
		CREATE SEQUENCE sql_lease_seq;
		CREATE TABLE sql_leases (name text PRIMARY KEY, holder text NOT NULL,
		                         token bigint NOT NULL, expires_at timestamptz NOT NULL);
"
	sql "$db" "VACUUM ANALYZE"
}
setup_db bench

# ---------------------------------------------------------------- pgbench scripts
# Every client works on its own names (:per of them): no contention.
S="$WORK/scripts"; mkdir -p "$S"
# (an acquire that returns NULL although nobody holds the name is counted by
# lockservice.stats as a timeout, and reported; the release is then skipped)
cat > "$S/ls_cycle.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
SELECT coalesce(lockservice.lock_acquire(:prefix::text || :n::text, 'bench', '30 s'), 0) AS tok \gset
\if :tok > 0
SELECT lockservice.lock_release(:prefix::text || :n::text, :tok);
\endif
EOF
# ever-new names: one name per job or entity, never used again (64-bit random)
cat > "$S/ls_new.sql" <<'EOF'
\set n random(1, 1000000000000000)
SELECT coalesce(lockservice.lock_acquire(:prefix::text || 'n' || :client_id::text || '-' || :n::text, 'bench', '30 s'), 0) AS tok \gset
\if :tok > 0
SELECT lockservice.lock_release(:prefix::text || 'n' || :client_id::text || '-' || :n::text, :tok);
\endif
EOF
cat > "$S/sqllease_new.sql" <<'EOF'
\set n random(1, 1000000000000000)
INSERT INTO sql_leases AS l (name, holder, token, expires_at)
  VALUES ('n' || :client_id::text || '-' || :n::text, 'bench', nextval('sql_lease_seq'), now() + interval '30 s')
  ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
    WHERE l.expires_at < now()
  RETURNING token AS tok \gset
DELETE FROM sql_leases WHERE name = 'n' || :client_id::text || '-' || :n::text AND token = :tok;
EOF
cat > "$S/update.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
UPDATE bench_update SET v = v + 1 WHERE id = 1 + :n % 1000;
EOF
cat > "$S/sqllease.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
INSERT INTO sql_leases AS l (name, holder, token, expires_at)
  VALUES ('s-' || :n::text, 'bench', nextval('sql_lease_seq'), now() + interval '30 s')
  ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
    WHERE l.expires_at < now()
  RETURNING token AS tok \gset
DELETE FROM sql_leases WHERE name = 's-' || :n::text AND token = :tok;
EOF
cat > "$S/advisory.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
SELECT pg_advisory_xact_lock(:n);
EOF
cat > "$S/update_own.sql" <<'EOF'
UPDATE bench_update SET v = v + 1 WHERE id = 1 + :client_id;
EOF
# soak: cycles and renewals over 1,000 names; baseline: the same number of row updates
cat > "$S/soak_ls.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
SELECT lockservice.lock_acquire('soak-' || :n::text, 'soak', '30 s') AS tok \gset
SELECT lockservice.lock_renew('soak-' || :n::text, :tok);
SELECT lockservice.lock_release('soak-' || :n::text, :tok);
EOF
cat > "$S/soak_update.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
UPDATE bench_update SET v = v + 1 WHERE id = 1 + :n % 1000;
UPDATE bench_update SET v = v + 1 WHERE id = 1 + :n % 1000;
UPDATE bench_update SET v = v + 1 WHERE id = 1 + :n % 1000;
EOF
[ "$(id -u)" = 0 ] && chown -R postgres: "$S"

# ---------------------------------------------------------------- the harness
say "building bench/handoff.c"
gcc -Wall -Wextra -Werror -O2 -pthread -I"$(pg_config --includedir)" \
	"$HERE/handoff.c" -o "$WORK/handoff" -lpq
CONNINFO="host=$SOCK port=$PORT user=postgres"

if [ "$SERVE" = 1 ]; then
	say "serving: $BIN/psql -h $SOCK -p $PORT -U postgres bench   (harness: $WORK/handoff, scripts: $S); Ctrl-C stops"
	while :; do sleep 1; done
fi

# ---------------------------------------------------------------- measuring
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }	# utime + stime of a pid
record() { echo "$1,$2,$3,$4,$5" >> "$RUNS"; MED_VALID=0; }	# figure config rep metric value

# median of a metric over the reps of one configuration; the medians of all
# runs are computed in one pass and cached until the next record()
declare -A MED=()
MED_VALID=0
med_refresh() {	# call in the main shell (not in $(...)) so the cache lasts
	MED=()
	local k v
	while IFS=$'\t' read -r k v; do MED["$k"]=$v; done < <(awk -F, 'NR > 1 {
			k = $1 "|" $2 "|" $4; n[k]++; v[k, n[k]] = $5 }
		END { for (k in n) { m = n[k]
			for (i = 2; i <= m; i++) { x = v[k, i]; j = i - 1
				while (j >= 1 && v[k, j] + 0 > x + 0) { v[k, j + 1] = v[k, j]; j-- }
				v[k, j + 1] = x }
			printf "%s\t%s\n", k, (m % 2) ? v[k, (m + 1) / 2] : (v[k, m / 2] + v[k, m / 2 + 1]) / 2 } }' "$RUNS")
	MED_VALID=1
}
median() {
	[ "$MED_VALID" = 1 ] || med_refresh
	echo "${MED["$1|$2|$3"]:-nan}"
}
calc() { awk "BEGIN { v = $*; if (v == int(v) && v < 1e15) printf \"%d\", v; else printf \"%.6g\", v }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.*f", d, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.3f", a / b }'; }

# goal FIGURE MEASURE VALUE UNIT BASELINE BASEVALUE RATIO OP TARGET NOTE
#   OP is >= or <=, compared with the ratio (or with VALUE when BASELINE is "-");
#   v>= / v<= compare VALUE although a baseline is shown; info: no goal
goal() {
	local fig=$1 measure=$2 value=$3 unit=$4 base=$5 bval=$6 r=$7 op=$8 target=$9 note=${10:-}
	local x=$r status
	# "v<=" / "v>=": the goal is on the value itself (the baseline is shown beside it)
	case "$op" in v*) op=${op#v}; x=$value ;; esac
	[ "$base" = "-" ] && x=$value
	if [ "$op" = "info" ]; then status="info"
	elif [ "$x" = "nan" ]; then status="n/a"
	elif awk -v x="$x" -v t="$target" -v op="$op" 'BEGIN { exit !((op == ">=" && x >= t) || (op == "<=" && x <= t)) }'; then status="met"
	else status="MISSED"; fi
	local g="$op $target"; [ "$op" = "info" ] && g="-"
	echo "$fig,\"$measure\",$value,$unit,\"$base\",$bval,$r,\"$g\",$status,\"$note\"" >> "$GOALS"
	out "$(printf '  %-58s %10s %-9s | %-26s %10s | ratio %6s  goal %-7s %s' \
		"$measure" "$(fmt "$value" 2)" "$unit" "$base" "$(fmt "$bval" 2)" "$(fmt "$r" 2)" "$g" "$status")"
}

# one psql call before and one after a run (a connection costs ~0.1-0.3 s on a busy machine):
# WAL counters, and lockservice's counters (reset before)
# WAL syncs: pg_stat_wal.wal_sync up to PostgreSQL 17; 18 counts them in
# pg_stat_io (object wal)
if [ "$("$BIN/pg_config" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')" -ge 18 ]; then
	WAL_SYNC="(SELECT coalesce(sum(fsyncs), 0)::bigint FROM pg_stat_io WHERE object = 'wal')"
else
	WAL_SYNC="wal_sync"
fi
SNAP="SELECT w.wal_bytes, $WAL_SYNC, w.wal_fpi, w.wal_records, s.acquires, s.acquire_timeouts, s.renewals,
             s.renewals_failed, s.releases,
             coalesce((SELECT r.pid FROM lockservice.reaper_status() r JOIN pg_database d ON d.oid = r.datid
                        WHERE d.datname = current_database()), 0)
        FROM pg_stat_wal w, lockservice.stats_counters() s"
snap_before() {	# DB CHECKPOINT?
	local pre=()
	[ "$2" = 1 ] && pre=(-c "CHECKPOINT")
	"${PSQL[@]}" -d "$1" "${pre[@]}" -c "SELECT lockservice.reset_stats()" -c "$SNAP" | tail -1 | tr '|' ' '
}
snap_after() { "${PSQL[@]}" -d "$1" -c "$SNAP" | tr '|' ' '; }

# pgbench_run FIG CONFIG REP DB CLIENTS SCRIPT PGOPTIONS [VAR=VALUE ...]
#   records tps (script runs per second), WAL bytes, WAL flushes and
#   full-page images per script run; checks lockservice's counters.
PG_TPS=0
pgbench_run() {
	local fig=$1 cfg=$2 rep=$3 db=$4 clients=$5 script=$6 opts=$7
	shift 7
	local jobs=$(( clients >= 2 ? 2 : 1 ))
	local names=1000
	local defs=() v
	for v in "$@"; do
		case "$v" in names=*) names=${v#names=} ;; *) defs+=(-D "$v") ;; esac
	done
	local per=$(( names / clients ))
	local len=(-T "$SECONDS_RUN")
	[ "$fig" = sweep ] && len=(-T "$SWEEP_SECONDS")
	[ "$QUICK" = 1 ] && len=(-t "$TX_PER_CLIENT")
	local w0 w1 log="$WORK/pgbench.log"
	w0=($(snap_before "$db" "$([ "$QUICK" = 1 ] && echo 0 || echo 1)"))
	local rpid=${w0[9]:-0} r0 r1 t0 t1
	r0=$(cpu_ticks "$rpid"); t0=$(date +%s.%N)
	if ! PGOPTIONS="$opts" as_pg "$BIN/pgbench" -n -M prepared -c "$clients" -j "$jobs" "${len[@]}" \
		-h "$SOCK" -p "$PORT" -U postgres -D per="$per" -D prefix="c-" "${defs[@]}" \
		-f "$S/$script" "$db" > "$log" 2>&1; then
		cat "$log" >&2
		fail_check "pgbench failed: figure $fig $cfg"
		PG_TPS=nan
		return 0
	fi
	r1=$(cpu_ticks "$rpid"); t1=$(date +%s.%N)
	w1=($(snap_after "$db"))
	local c1=("${w1[@]:4}")
	local tps tx failed
	tps=$(awk '/^tps = .*without initial connection/ {print $3}' "$log")
	tx=$(awk -F': ' '/^number of transactions actually processed/ {split($2, a, "/"); print a[1]}' "$log")
	failed=$(awk -F': ' '/^number of failed transactions/ {split($2, a, " "); print a[1]}' "$log")
	[ -n "$tps" ] || { cat "$log" >&2; fail_check "no tps from pgbench: $fig $cfg"; PG_TPS=nan; return 0; }
	[ "${failed:-0}" = 0 ] || fail_check "figure $fig $cfg: $failed failed transactions"
	record "$fig" "$cfg" "$rep" tps "$tps"
	record "$fig" "$cfg" "$rep" wal_bytes_per_tx "$(calc "(${w1[0]} - ${w0[0]}) / $tx")"
	record "$fig" "$cfg" "$rep" wal_flushes_per_tx "$(calc "(${w1[1]} - ${w0[1]}) / $tx")"
	record "$fig" "$cfg" "$rep" wal_fpi_per_tx "$(calc "(${w1[2]} - ${w0[2]}) / $tx")"
	record "$fig" "$cfg" "$rep" wal_records_per_tx "$(calc "(${w1[3]} - ${w0[3]}) / $tx")"
	# CPU of the database's reaper (it also publishes the events) during the run
	record "$fig" "$cfg" "$rep" reaper_cpu_pct "$(calc "100 * ($r1 - $r0) / $CLK_TCK / ($t1 - $t0)")"
	# lockservice's own counters: every acquire granted, every renew true, every release done
	case "$script" in
		ls_cycle.sql)
			record "$fig" "$cfg" "$rep" null_acquires "${c1[1]}"
			if [ "${c1[1]}" != 0 ]; then
				# nobody else uses these names: the row was busy (the reaper deleting it)
				say "figure $fig $cfg rep $rep: ${c1[1]} acquires of free names returned NULL (wait => 0)"
				echo "$(date -u +%H:%M:%S) figure $fig $cfg rep $rep: ${c1[1]} of $tx uncontended acquires (wait => 0) of free names returned NULL" >> "$RESULTS/observations.txt"
			fi
			[ "${c1[0]}" = "${c1[4]}" ] && [ $(( ${c1[0]} + ${c1[1]} )) -ge "$tx" ] ||
				fail_check "figure $fig $cfg: acquires ${c1[0]}, NULL acquires ${c1[1]}, releases ${c1[4]} for $tx cycles" ;;
		ls_renew.sql)
			[ "${c1[3]}" = 0 ] && [ "${c1[2]}" -ge "$tx" ] ||
				fail_check "figure $fig $cfg: renewals ${c1[2]}, failed renewals ${c1[3]} for $tx calls" ;;
	esac
	PG_TPS=$tps
}

# a label for one configuration's session settings
SYNC_ON="-c synchronous_commit=on"
SYNC_OFF="-c synchronous_commit=off"
NOFLUSH="-c lockservice.sync_grants=off"
NOEVENTS="-c lockservice.events=off"
HISTORY="-c lockservice.history=on"

# run_interleaved FIG CLIENTS DB CONFIG... where CONFIG is "name|script|pgoptions|var=value ..."
run_interleaved() {
	local fig=$1 clients=$2 db=$3
	shift 3
	local total=$(( $# * REPS )) i=0 rep spec name script opts vars
	for rep in $(seq 1 "$REPS"); do
		for spec in "$@"; do
			IFS='|' read -r name script opts vars <<< "$spec"
			i=$((i + 1))
			# shellcheck disable=SC2086
			pgbench_run "$fig" "$name" "$rep" "$db" "$clients" "$script" "$opts" $vars
			say "figure $fig ($i/$total) rep $rep/$REPS $(printf '%-24s' "$name") $(fmt "$PG_TPS" 0)/s"
		done
	done
}

# one line per configuration: median per second and WAL per script run
table_header() { out "$(printf '  %-38s %10s %10s %12s %9s %9s' configuration "$1/s" "WAL B/$1" "flushes/$1" "FPI/$1" "reaper%")"; }
table_row() {
	local fig=$1 cfg=$2 label=$3
	out "$(printf '  %-38s %10s %10s %12s %9s %9s' "$label" "$(fmt "$(median "$fig" "$cfg" tps)" 0)" \
		"$(fmt "$(median "$fig" "$cfg" wal_bytes_per_tx)" 0)" "$(fmt "$(median "$fig" "$cfg" wal_flushes_per_tx)" 3)" \
		"$(fmt "$(median "$fig" "$cfg" wal_fpi_per_tx)" 3)" "$(fmt "$(median "$fig" "$cfg" reaper_cpu_pct)" 1)")"
}

# ================================================================ figure 1 (and 7)
figure1() {
	begin_fig 1
	say "figure 1: uncontended cycle, 8 clients, 1,000 names; sync on/off; $REPS reps interleaved"
	run_interleaved 1 8 bench \
		"on/update|update.sql|$SYNC_ON" \
		"on/sqllease|sqllease.sql|$SYNC_ON" \
		"on/advisory|advisory.sql|$SYNC_ON" \
		"on/ls|ls_cycle.sql|$SYNC_ON" \
		"on/ls-new|ls_new.sql|$SYNC_ON" \
		"on/sqllease-new|sqllease_new.sql|$SYNC_ON" \
		"on/ls-noevents|ls_cycle.sql|$SYNC_ON $NOEVENTS" \
		"on/ls-history|ls_cycle.sql|$SYNC_ON $HISTORY" \
		"off/update|update.sql|$SYNC_OFF" \
		"off/sqllease|sqllease.sql|$SYNC_OFF" \
		"off/advisory|advisory.sql|$SYNC_OFF" \
		"off/ls|ls_cycle.sql|$SYNC_OFF" \
		"off/ls-noflush|ls_cycle.sql|$SYNC_OFF $NOFLUSH" \
		"off/ls-noevents|ls_cycle.sql|$SYNC_OFF $NOEVENTS" \
		"off/ls-history|ls_cycle.sql|$SYNC_OFF $HISTORY" \
		"off/ls-noflush-noevents|ls_cycle.sql|$SYNC_OFF $NOFLUSH $NOEVENTS"
	med_refresh
	out ""
	out "Figure 1: uncontended cycle (acquire + release, autocommit), 8 clients, 1,000 names, median of $REPS"
	out "  (a cycle is 2 statements; the UPDATE and advisory-lock baselines are 1 statement per cycle)"
	table_header cycle
	local s
	for s in on off; do
		table_row 1 "$s/update" "sync=$s single-row UPDATE"
		table_row 1 "$s/sqllease" "sync=$s hand-written SQL lease"
		table_row 1 "$s/advisory" "sync=$s pg_advisory_xact_lock"
		table_row 1 "$s/ls" "sync=$s lockservice (defaults)"
		table_row 1 "$s/ls-noevents" "sync=$s lockservice events=off"
		table_row 1 "$s/ls-history" "sync=$s lockservice history=on"
	done
	table_row 1 on/ls-new "sync=on lockservice, ever-new names"
	table_row 1 on/sqllease-new "sync=on SQL lease, ever-new names"
	table_row 1 off/ls-noflush "sync=off lockservice sync_grants=off"
	table_row 1 off/ls-noflush-noevents "sync=off ls sync_grants=off events=off"
	local ls_on up_on sq_on ls_off sq_off up_off
	ls_on=$(median 1 on/ls tps); up_on=$(median 1 on/update tps); sq_on=$(median 1 on/sqllease tps)
	ls_off=$(median 1 off/ls tps); sq_off=$(median 1 off/sqllease tps); up_off=$(median 1 off/update tps)
	local half_on; half_on=$(calc "$up_on / 2")
	goal 1 "sync=on lockservice cycles/s vs UPDATE/2" "$ls_on" cycles/s "UPDATE tps / 2" "$half_on" "$(ratio "$ls_on" "$half_on")" ">=" 1.25
	local ls_new sq_new
	ls_new=$(median 1 on/ls-new tps); sq_new=$(median 1 on/sqllease-new tps)
	goal 1 "sync=on lockservice ever-new names vs 1,000 names" "$ls_new" cycles/s "1,000 names" "$ls_on" "$(ratio "$ls_new" "$ls_on")" ">=" 0.95
	goal 1 "sync=on lockservice ever-new names vs SQL lease ever-new names" "$ls_new" cycles/s "SQL lease, new names" "$sq_new" "$(ratio "$ls_new" "$sq_new")" ">=" 1.2
	goal 1 "sync=on lockservice vs SQL lease" "$ls_on" cycles/s "SQL lease" "$sq_on" "$(ratio "$ls_on" "$sq_on")" ">=" 1.0
	goal 1 "sync=on lockservice events=off vs SQL lease" "$(median 1 on/ls-noevents tps)" cycles/s "SQL lease" "$sq_on" "$(ratio "$(median 1 on/ls-noevents tps)" "$sq_on")" info 0
	goal 1 "sync=on lockservice vs pg_advisory_xact_lock" "$ls_on" cycles/s "advisory xact lock" "$(median 1 on/advisory tps)" "$(ratio "$ls_on" "$(median 1 on/advisory tps)")" info 0
	goal 1 "sync=off lockservice (defaults) vs SQL lease" "$ls_off" cycles/s "SQL lease" "$sq_off" "$(ratio "$ls_off" "$sq_off")" ">=" 1.5
	local v
	v=$(median 1 off/ls-noflush tps)
	goal 1 "sync=off lockservice sync_grants=off vs SQL lease" "$v" cycles/s "SQL lease" "$sq_off" "$(ratio "$v" "$sq_off")" ">=" 1.5
	v=$(median 1 off/ls-noevents tps)
	goal 1 "sync=off lockservice events=off vs SQL lease" "$v" cycles/s "SQL lease" "$sq_off" "$(ratio "$v" "$sq_off")" ">=" 1.5
	v=$(median 1 off/ls-noflush-noevents tps)
	goal 1 "sync=off ls sync_grants=off events=off vs SQL lease" "$v" cycles/s "SQL lease" "$sq_off" "$(ratio "$v" "$sq_off")" ">=" 1.5
	goal 1 "sync=off ls sync_grants=off events=off vs UPDATE/2" "$v" cycles/s "UPDATE tps / 2" "$(calc "$up_off / 2")" "$(ratio "$v" "$(calc "$up_off / 2")")" info 0
	goal 1 "sync=off lockservice vs pg_advisory_xact_lock" "$ls_off" cycles/s "advisory xact lock" "$(median 1 off/advisory tps)" "$(ratio "$ls_off" "$(median 1 off/advisory tps)")" info 0

	med_refresh
	out ""
	out "Figure 7: features' cost (from figure 1's runs; defaults: events on, history off, sync_grants on)"
	for s in "on/ls|on/ls-noevents|sync=on" "off/ls|off/ls-noevents|sync=off" "off/ls-noflush|off/ls-noflush-noevents|sync=off sync_grants=off"; do
		IFS='|' read -r a b label <<< "$s"
		goal 7 "$label: events on vs events off" "$(median 1 "$a" tps)" cycles/s "events=off" "$(median 1 "$b" tps)" \
			"$(ratio "$(median 1 "$a" tps)" "$(median 1 "$b" tps)")" info 0
	done
	for s in on off; do
		goal 7 "sync=$s: history on vs off (default)" "$(median 1 "$s/ls-history" tps)" cycles/s "history=off" "$(median 1 "$s/ls" tps)" \
			"$(ratio "$(median 1 "$s/ls-history" tps)" "$(median 1 "$s/ls" tps)")" info 0
	done
	goal 7 "sync=off: sync_grants on vs off (forced token flush)" "$ls_off" cycles/s "sync_grants=off" "$(median 1 off/ls-noflush tps)" \
		"$(ratio "$ls_off" "$(median 1 off/ls-noflush tps)")" info 0
}

# ================================================================ figure 2
figure2() {
	begin_fig 2
	say "figure 2: renew only, 8 clients each renewing its own lease; $REPS reps interleaved"
	# every client renews its own lease: 8 leases taken here, their tokens
	# written into the script (pgbench has no per-client set-up step)
	sql bench "SELECT c, lockservice.lock_acquire('renew-' || c, 'bench', '1 hour')
		FROM generate_series(0, 7) c" | awk -F'|' '
		{ printf "%s :client_id = %s\n\\set tok %s\n", (NR == 1 ? "\\if" : "\\elif"), $1, $2 }
		END { print "\\endif"; print "SELECT lockservice.lock_renew(\x27renew-\x27 || :client_id, :tok);" }' > "$S/ls_renew.sql"
	[ "$(id -u)" = 0 ] && chown postgres: "$S/ls_renew.sql"
	run_interleaved 2 8 bench \
		"on/update|update_own.sql|$SYNC_ON" \
		"on/ls-renew|ls_renew.sql|$SYNC_ON" \
		"off/update|update_own.sql|$SYNC_OFF" \
		"off/ls-renew|ls_renew.sql|$SYNC_OFF"
	med_refresh
	out ""
	out "Figure 2: renew only (each of 8 clients renews its own lease; baseline: each updates its own row), median of $REPS"
	table_header call
	local s v b
	for s in on off; do
		table_row 2 "$s/update" "sync=$s single-row UPDATE"
		table_row 2 "$s/ls-renew" "sync=$s lock_renew"
	done
	for s in on off; do
		v=$(median 2 "$s/ls-renew" tps); b=$(median 2 "$s/update" tps)
		goal 2 "sync=$s lock_renew calls/s vs UPDATE" "$v" calls/s "single-row UPDATE" "$b" "$(ratio "$v" "$b")" ">=" 0.95
	done
}

# ================================================================ figure 3
slabel() { case $1 in on) echo "sync=on" ;; off) echo "sync=off" ;; nf) echo "sync=off,flush=off" ;; esac; }
# handoff_run FIG CONFIG REP MODE CLIENTS NAME PGOPTIONS
HO_GPS=0
handoff_run() {
	local fig=$1 cfg=$2 rep=$3 mode=$4 clients=$5 name=$6 opts=$7
	local res="$WORK/ho.out" lat="$WORK/lat.$RANDOM"
	if ! PGOPTIONS="$opts" as_pg "$WORK/handoff" --conninfo "$CONNINFO dbname=bench" --mode "$mode" \
		--clients "$clients" --seconds "$HO_SECONDS" --name "$name" --wait "10 s" --poll-ms 10 \
		--out "$lat" > "$res"; then
		cat "$res" >&2
		fail_check "handoff harness failed: $cfg rep $rep"
	fi
	local k v
	while IFS='=' read -r k v; do
		case "$k" in grants_per_s|p50_us|p90_us|p99_us|p999_us|max_us|timeouts|samples|wait_p50_us|wait_p99_us|wait_max_us|client_grants_min|client_grants_max)
			record "$fig" "$cfg" "$rep" "$k" "$v" ;; esac
	done < "$res"
	local grants self
	grants=$(awk -F= '$1=="grants"{print $2}' "$res"); self=$(awk -F= '$1=="self_handoffs"{print $2}' "$res")
	record "$fig" "$cfg" "$rep" self_share "$(calc "$self / ($grants > 0 ? $grants : 1)")"
	[ "$(awk -F= '$1=="timeouts"{print $2}' "$res")" = 0 ] || [ "$mode" != handoff ] ||
		fail_check "figure 3 $cfg rep $rep: acquire(wait 10 s) timed out"
	cat "$lat" >> "$RESULTS/handoff_${cfg//\//_}.dat"
	rm -f "$lat"
	HO_GPS=$(awk -F= '$1=="grants_per_s"{print $2}' "$res")
	say "figure 3 rep $rep/$REPS $(printf '%-16s' "$cfg") $(fmt "$HO_GPS" 0) grants/s, p50 $(awk -F= '$1=="p50_us"{print $2}' "$res") us, p99 $(awk -F= '$1=="p99_us"{print $2}' "$res") us, max $(awk -F= '$1=="max_us"{print $2}' "$res") us"
}

figure3() {
	begin_fig 3
	say "figure 3: contended hand-off, 8 clients on one name; baseline polling every 10 ms; $REPS reps interleaved"
	rm -f "$RESULTS"/handoff_*.dat
	local rep s opts
	for rep in $(seq 1 "$REPS"); do
		for s in on off nf; do
			case $s in
				on) opts="$SYNC_ON" ;; off) opts="$SYNC_OFF" ;; nf) opts="$SYNC_OFF $NOFLUSH" ;;
			esac
			handoff_run 3 "$s/ls" "$rep" handoff 8 "ho-$s" "$opts"
			handoff_run 3 "$s/poll" "$rep" poll 8 "hp-$s" "$opts"
			handoff_run 3 "$s/single" "$rep" handoff 1 "h1-$s" "$opts"
		done
	done
	med_refresh
	out ""
	out "Figure 3: contended hand-off, 8 clients on one name, acquire(wait 10 s) -> release; median of $REPS x ${SECONDS_RUN} s"
	out "  hand-off latency: from the moment the release is sent to the moment the next acquire returns (one process, CLOCK_MONOTONIC)"
	out "$(printf '  %-26s %9s | %8s %8s %8s %8s | %6s | %9s %9s | %s' configuration grants/s p50_us p90_us p99_us max_us self wait_p99 wait_max "grants/client min-max")"
	local c
	for s in on off nf; do
		for c in ls poll single; do
			out "$(printf '  %-26s %9s | %8s %8s %8s %8s | %6s | %9s %9s | %s' "$(slabel $s) $c" "$(fmt "$(median 3 "$s/$c" grants_per_s)" 0)" \
				"$(fmt "$(median 3 "$s/$c" p50_us)" 0)" "$(fmt "$(median 3 "$s/$c" p90_us)" 0)" \
				"$(fmt "$(median 3 "$s/$c" p99_us)" 0)" "$(fmt "$(median 3 "$s/$c" max_us)" 0)" "$(fmt "$(median 3 "$s/$c" self_share)" 2)" \
				"$(fmt "$(median 3 "$s/$c" wait_p99_us)" 0)" "$(fmt "$(median 3 "$s/$c" wait_max_us)" 0)" \
				"$(fmt "$(median 3 "$s/$c" client_grants_min)" 0)-$(fmt "$(median 3 "$s/$c" client_grants_max)" 0)")"
		done
	done
	out "  (ls: waiting inside lock_acquire; poll: acquire(wait => 0) retried every 10 ms; single: 1 client, no contention;"
	out "   p50..max: hand-off latency, release sent -> next acquire returns; self: share of hand-offs where the releasing"
	out "   client itself acquired next; wait_*: how long an acquirer waited for its grant, from its first attempt, in us)"
	out "  (sync=off,flush=off: synchronous_commit=off and lockservice.sync_grants=off: no WAL flush in the loop at all)"
	local p99 pp99 g g1
	for s in on off nf; do
		p99=$(calc "$(median 3 "$s/ls" p99_us) / 1000"); pp99=$(calc "$(median 3 "$s/poll" p99_us) / 1000")
		goal 3 "$(slabel $s) hand-off p99 (ms)" "$p99" ms "polling p99" "$pp99" "$(ratio "$p99" "$pp99")" "v<=" 2
		goal 3 "$(slabel $s) hand-off max (ms)" "$(calc "$(median 3 "$s/ls" max_us) / 1000")" ms "polling max" "$(calc "$(median 3 "$s/poll" max_us) / 1000")" \
			"$(ratio "$(median 3 "$s/ls" max_us)" "$(median 3 "$s/poll" max_us)")" info 0
		g=$(median 3 "$s/ls" grants_per_s); g1=$(median 3 "$s/single" grants_per_s)
		goal 3 "$(slabel $s) contended grants/s vs 1-client cycle" "$g" grants/s "1-client uncontended" "$g1" "$(ratio "$g" "$g1")" ">=" 0.5
		goal 3 "$(slabel $s) contended grants/s vs polling" "$g" grants/s "polling every 10 ms" "$(median 3 "$s/poll" grants_per_s)" \
			"$(ratio "$g" "$(median 3 "$s/poll" grants_per_s)")" info 0
	done
	# the distribution, against the polling baseline
	if [ "$HAVE_GNUPLOT" = 1 ]; then
		for c in on/ls on/poll off/ls off/poll nf/ls nf/poll; do
			f="$RESULTS/handoff_${c//\//_}.dat"
			[ -s "$f" ] || continue
			sort -g "$f" | awk -v n="$(wc -l < "$f")" '{print $1, 100 * NR / n}' > "$WORK/cdf_${c//\//_}"
		done
		gnuplot <<GP
set terminal pngcairo size 900,560 font ",10" noenhanced
set output "$RESULTS/handoff_latency.png"
set title "Contended hand-off latency, 8 clients on one name (release sent -> next acquire returns)"
set xlabel "hand-off latency (microseconds, log scale)"
set ylabel "hand-offs at or below (%)"
set logscale x
set grid
set key bottom right
set yrange [0:100]
plot "$WORK/cdf_on_ls" w l lw 2 lc rgb "#1f77b4" t "lockservice, synchronous_commit=on", \
     "$WORK/cdf_on_poll" w l lw 2 lc rgb "#d62728" t "polling every 10 ms, synchronous_commit=on", \
     "$WORK/cdf_off_ls" w l lw 2 dt 2 lc rgb "#1f77b4" t "lockservice, synchronous_commit=off", \
     "$WORK/cdf_off_poll" w l lw 2 dt 2 lc rgb "#d62728" t "polling every 10 ms, synchronous_commit=off", \
     "$WORK/cdf_nf_ls" w l lw 2 dt 3 lc rgb "#1f77b4" t "lockservice, synchronous_commit=off, sync_grants=off", \
     "$WORK/cdf_nf_poll" w l lw 2 dt 3 lc rgb "#d62728" t "polling every 10 ms, synchronous_commit=off, sync_grants=off"
GP
		out "  chart: handoff_latency.png"
	fi
}

# ================================================================ figure 4
reaper_pid() { sql "$1" "SELECT pid FROM lockservice.reaper_status() WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())"; }
wait_reaper() {
	local db=$1 i
	for i in $(seq 1 50); do
		[ -n "$(reaper_pid "$db")" ] && return 0
		sleep 0.1
	done
	# seen: the launcher starts the reaper when CREATE EXTENSION runs, before
	# it commits; a reaper that looks before the commit finds no extension
	# and stops for good.  start_reaper() asks for one again.
	say "the reaper of database $db did not start within 5 s: calling lockservice.start_reaper()"
	echo "$(date -u +%H:%M:%S) reaper of database $db not running 5 s after CREATE EXTENSION / start_reaper(); start_reaper() called" >> "$RESULTS/observations.txt"
	sql "$db" "SELECT lockservice.start_reaper()" >/dev/null
	for i in $(seq 1 100); do
		[ -n "$(reaper_pid "$db")" ] && return 0
		sleep 0.1
	done
	fail_check "the reaper of database $db did not start"
}

figure4() {
	begin_fig 4
	say "figure 4: scale -- loading $SCALE_LEASES live leases (1-hour ttl) into database scale"
	setup_db scale
	wait_reaper scale
	local t0 t1 load_s lw0 lw1
	lw0=($(sql scale "SELECT $WAL_SYNC, wal_bytes FROM pg_stat_wal" | tr '|' ' '))
	t0=$(date +%s.%N)
	sqlenv "$NOEVENTS" scale "SELECT count(lockservice.lock_acquire('bg-' || g, 'h', '1 hour')) FROM generate_series(1, $SCALE_LEASES) g" >/dev/null
	t1=$(date +%s.%N)
	lw1=($(sql scale "SELECT $WAL_SYNC, wal_bytes FROM pg_stat_wal" | tr '|' ' '))
	load_s=$(calc "$t1 - $t0")
	record 4 load 1 seconds "$load_s"
	record 4 load 1 wal_flushes "$(( lw1[0] - lw0[0] ))"
	record 4 load 1 wal_bytes_per_acquire "$(calc "(${lw1[1]} - ${lw0[1]}) / $SCALE_LEASES")"
	sql scale "VACUUM ANALYZE lockservice.leases" >/dev/null
	local live size
	live=$(sql scale "SELECT count(*) FROM lockservice.leases_live")
	size=$(sql scale "SELECT pg_size_pretty(pg_total_relation_size('lockservice.leases'))")
	say "figure 4: loaded $live live leases in $(fmt "$load_s" 1) s ($(fmt "$(calc "$SCALE_LEASES / $load_s")" 0) acquires/s, one statement, events off); table + index $size"
	[ "$live" = "$SCALE_LEASES" ] || fail_check "figure 4: $live live leases, expected $SCALE_LEASES"

	# 1,000 names alone (database bench, scale's reaper stopped) against 1,000 names
	# beside the big population (its reaper running: scanning it is part of the cost)
	local rep i=0 total=$((REPS * 3)) rpid c0 c1 w0 w1
	for rep in $(seq 1 "$REPS"); do
		sql scale "SELECT lockservice.stop_reaper()" >/dev/null
		sleep 0.5
		pgbench_run 4 base/1000 "$rep" bench 8 ls_cycle.sql "$SYNC_ON" names=1000 prefix=k-
		i=$((i + 1)); say "figure 4 ($i/$total) rep $rep/$REPS 1,000 names alone            $(fmt "$PG_TPS" 0)/s"
		sql scale "SELECT lockservice.start_reaper()" >/dev/null
		wait_reaper scale
		# a started reaper scans the whole table once: measure after that round
		sql scale "DO \$\$ BEGIN
		             FOR i IN 1 .. 600 LOOP
		               EXIT WHEN EXISTS (SELECT FROM lockservice.reaper_status()
		                                  WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'scale')
		                                    AND last_run > started_at);
		               PERFORM pg_sleep(0.05);
		             END LOOP;
		           END \$\$" >/dev/null
		rpid=$(reaper_pid scale)
		c0=$(cpu_ticks "$rpid"); w0=$(date +%s.%N)
		pgbench_run 4 big/1000 "$rep" scale 8 ls_cycle.sql "$SYNC_ON" names=1000 prefix=k-
		c1=$(cpu_ticks "$rpid"); w1=$(date +%s.%N)
		record 4 big/1000 "$rep" reaper_cpu_share "$(calc "($c1 - $c0) / $CLK_TCK / ($w1 - $w0)")"
		i=$((i + 1)); say "figure 4 ($i/$total) rep $rep/$REPS 1,000 names + $SCALE_LEASES live   $(fmt "$PG_TPS" 0)/s (reaper CPU $(fmt "$(calc "100 * ($c1 - $c0) / $CLK_TCK / ($w1 - $w0)")" 0)%)"
	done
	# after the runs above: every uniform run releases ~25,000 names, which the
	# reaper deletes a minute later, in whatever run is going on then
	for rep in $(seq 1 "$REPS"); do
		pgbench_run 4 big/uniform "$rep" scale 8 ls_cycle.sql "$SYNC_ON" names=1000000 prefix=u-
		i=$((i + 1)); say "figure 4 ($i/$total) rep $rep/$REPS uniform over 1,000,000 names $(fmt "$PG_TPS" 0)/s"
	done
	med_refresh
	out ""
	out "Figure 4: scale, 8 clients, synchronous_commit=on, median of $REPS"
	out "  loading $SCALE_LEASES live leases with one statement (SELECT lock_acquire(...) FROM generate_series, events off): $(fmt "$load_s" 1) s = $(fmt "$(calc "$SCALE_LEASES / $load_s")" 0) acquires/s,"
	out "  $(median 4 load wal_flushes) WAL flushes during the statement, $(fmt "$(median 4 load wal_bytes_per_acquire)" 0) WAL bytes per acquire; table + index then $size"
	table_header cycle
	table_row 4 base/1000 "1,000 names alone"
	table_row 4 big/1000 "1,000 names + $SCALE_LEASES live leases"
	table_row 4 big/uniform "uniform over 1,000,000 names"
	out "  reaper CPU (share of one core) while $SCALE_LEASES live leases sit in the table: $(fmt "$(calc "100 * $(median 4 big/1000 reaper_cpu_share)")" 0)%"
	local b v u
	b=$(median 4 base/1000 tps); v=$(median 4 big/1000 tps); u=$(median 4 big/uniform tps)
	goal 4 "1,000 names beside $SCALE_LEASES live leases" "$v" cycles/s "1,000 names alone" "$b" "$(ratio "$v" "$b")" ">=" 0.8
	goal 4 "uniform over 1,000,000 names" "$u" cycles/s "1,000 names alone" "$b" "$(ratio "$u" "$b")" info 0 "shared_buffers/full-page writes dominate"
	goal 4 "load of $SCALE_LEASES leases, one statement (s)" "$load_s" s "-" "" "" info 0
	sql postgres "DROP DATABASE scale WITH (FORCE)" >/dev/null
	mass_expiry
}

# 100,000 leases expiring at one instant T: time until the reaper has removed
# them all, and acquire latency on other names measured meanwhile
mass_expiry() {
	rm -f "$RESULTS/expiry_timeline.dat"
	setup_db expiry
	wait_reaper expiry
	local lead=20 window=12 rep
	[ "$QUICK" = 1 ] && { lead=2; window=2; }
	for rep in $(seq 1 "$REPS"); do
		local T now r0 r done_at="" probe="$WORK/probe.out" lat="$WORK/probe.lat" t_load
		T=$(sql expiry "SELECT extract(epoch FROM clock_timestamp()) + $lead")
		t_load=$(date +%s.%N)
		sqlenv "$NOEVENTS" expiry "SELECT count(lockservice.lock_acquire('mx-' || g, 'mx',
			to_timestamp($T) - clock_timestamp())) FROM generate_series(1, $EXPIRY_LEASES) g" >/dev/null
		now=$(date +%s.%N)
		say "figure 4 mass expiry rep $rep/$REPS: $EXPIRY_LEASES leases loaded in $(fmt "$(calc "$now - $t_load")" 1) s, all expiring at T = now + $(fmt "$(calc "$T - $now")" 1) s"
		awk -v t="$T" -v n="$now" 'BEGIN { exit !(t - n > 1) }' || fail_check "mass expiry: loading took too long"
		r0=$(sql expiry "SELECT reaped FROM lockservice.reaper_status() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'expiry')")
		# the probe: one client, acquire + release on its own names, until T + window
		as_pg "$WORK/handoff" --conninfo "$CONNINFO dbname=expiry" --mode probe --clients 1 \
			--seconds "$(calc "$T + $window - $(date +%s.%N)")" --out "$lat" > "$probe" &
		local probe_pid=$!
		while :; do
			now=$(date +%s.%N)
			r=$(sql expiry "SELECT reaped FROM lockservice.reaper_status() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'expiry')")
			echo "$rep $(calc "$now - $T") $(( ${r:-0} - ${r0:-0} ))" >> "$RESULTS/expiry_timeline.dat"
			if [ -z "$done_at" ] && [ $(( ${r:-0} - ${r0:-0} )) -ge "$EXPIRY_LEASES" ]; then done_at=$now; fi
			awk -v n="$now" -v t="$T" -v w="$window" 'BEGIN { exit !(n >= t + w) }' && break
			sleep 0.05
		done
		wait "$probe_pid" || fail_check "mass expiry probe failed"
		local left reap_s
		left=$(sql expiry "SELECT count(*) FROM lockservice.leases WHERE name LIKE 'mx-%'")
		if [ -n "$done_at" ] && [ "$left" = 0 ]; then reap_s=$(calc "$done_at - $T"); else reap_s=nan; fi
		[ "$left" = 0 ] || say "mass expiry: $left of the leases still in the table after $window s"
		local end; end=$(awk -v d="${done_at:-0}" -v t="$T" -v w="$window" 'BEGIN { e = (d > t + 1) ? d : t + 1; if (d == 0) e = t + w; printf "%.6f", e }')
		# p99 of acquires sent while the leases were being reaped, and before T (quiet)
		local during quiet
		during=$(awk -v a="$T" -v b="$end" '$1 / 1e6 >= a && $1 / 1e6 < b {print $2}' "$lat" | sort -g |
			awk '{v[NR]=$1} END {if (NR==0) print "nan"; else {i=int(0.99*NR+0.999999); if(i<1)i=1; print v[i]/1000, v[NR]/1000, NR}}')
		quiet=$(awk -v a="$T" '$1 / 1e6 < a - 0.2 {print $2}' "$lat" | sort -g |
			awk '{v[NR]=$1} END {if (NR==0) print "nan"; else {i=int(0.99*NR+0.999999); if(i<1)i=1; print v[i]/1000, NR}}')
		record 4 expiry "$rep" reap_seconds "$reap_s"
		record 4 expiry "$rep" p99_during_ms "$(echo "$during" | cut -d' ' -f1)"
		record 4 expiry "$rep" max_during_ms "$(echo "$during" | cut -d' ' -f2)"
		record 4 expiry "$rep" p99_quiet_ms "$(echo "$quiet" | cut -d' ' -f1)"
		say "figure 4 mass expiry rep $rep/$REPS: all $EXPIRY_LEASES reaped $(fmt "$reap_s" 2) s after T; probe acquire p99 $(echo "$during" | cut -d' ' -f1) ms during ($(echo "$during" | cut -d' ' -f3) acquires), $(echo "$quiet" | cut -d' ' -f1) ms before"
		sql expiry "VACUUM lockservice.leases" >/dev/null
	done
	med_refresh
	out "  mass expiry: $EXPIRY_LEASES leases expiring at the same instant T, reap_interval 1 s (default), one probe client"
	out "  acquiring other names meanwhile (acquire + release, synchronous_commit=on); median of $REPS"
	local rs p99 q mx
	rs=$(median 4 expiry reap_seconds); p99=$(median 4 expiry p99_during_ms); q=$(median 4 expiry p99_quiet_ms); mx=$(median 4 expiry max_during_ms)
	goal 4 "mass expiry: all $EXPIRY_LEASES reaped after T (s)" "$rs" s "-" "" "" "<=" 5
	goal 4 "mass expiry: probe acquire p99 while reaping (ms)" "$p99" ms "p99 before T" "$q" "$(ratio "$p99" "$q")" "v<=" 10
	goal 4 "mass expiry: probe acquire max while reaping (ms)" "$mx" ms "-" "" "" info 0
	sql postgres "DROP DATABASE expiry WITH (FORCE)" >/dev/null
}

# ================================================================ figure 5
soak_sample() {	# prints: leases_table leases_index leases_upd leases_hot leases_dead leases_av upd_table upd_index upd_upd upd_hot upd_dead upd_av
	sql soak "SELECT string_agg(v, ' ') FROM (
		SELECT concat_ws(' ', pg_relation_size(s.relid), pg_indexes_size(s.relid), s.n_tup_upd, s.n_tup_hot_upd,
		                 s.n_dead_tup, s.autovacuum_count) AS v
		  FROM pg_stat_user_tables s WHERE s.relname IN ('leases', 'bench_update')
		 ORDER BY s.relname = 'bench_update') x"
}

figure5() {
	begin_fig 5
	local soak_s=$((SOAK_MIN * 60)) hold_s=$((HOLD_MIN * 60)) after_s=120 sample=60
	[ "$SOAK_MIN" -le 3 ] && sample=15
	local total=$((soak_s + hold_s + after_s))
	say "figure 5: bloat soak, $SOAK_MIN min of cycles+renewals over 1,000 names (and the same number of row updates"
	say "          on a 1,000-row table), then $HOLD_MIN min with a transaction held open, then 2 min after it ends"
	setup_db soak
	wait_reaper soak
	sql bench "SELECT lockservice.reset_stats()" >/dev/null
	PGOPTIONS="$SYNC_OFF" as_pg "$BIN/pgbench" -n -M prepared -c 8 -j 2 -T "$total" -h "$SOCK" -p "$PORT" -U postgres \
		-D per=125 -f "$S/soak_ls.sql@1" -f "$S/soak_update.sql@1" soak > "$WORK/soak_pgbench.log" 2>&1 &
	local pgb=$! t0 now el phase prev cur hold_started=0 hold_ended=0
	t0=$(date +%s)
	echo "minute phase leases_table_bytes leases_index_bytes leases_hot_share leases_dead_tuples leases_autovacuums bench_update_table_bytes bench_update_index_bytes bench_update_hot_share bench_update_dead_tuples bench_update_autovacuums lockservice_cycles" > "$RESULTS/soak.dat"
	prev=($(soak_sample))
	while :; do
		sleep "$sample"
		now=$(date +%s); el=$((now - t0))
		if [ "$el" -ge "$soak_s" ] && [ "$hold_started" = 0 ]; then
			# hold a transaction (snapshot and xid) open in the soak database
			as_pg "$BIN/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres -d soak >/dev/null 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT txid_current();
SELECT pg_sleep($hold_s);
COMMIT;
SQL
			HOLD_PID=$!; hold_started=$el
			say "figure 5: transaction held open for $HOLD_MIN min from now"
		fi
		if [ "$hold_started" != 0 ] && [ "$hold_ended" = 0 ] && ! kill -0 "$HOLD_PID" 2>/dev/null; then
			hold_ended=$el; HOLD_PID=""
			say "figure 5: the open transaction ended"
		fi
		phase=soak
		[ "$hold_started" != 0 ] && phase=held
		[ "$hold_ended" != 0 ] && phase=after
		cur=($(soak_sample))
		local cycles hs us
		cycles=$(sql bench "SELECT acquires FROM lockservice.stats_counters()")
		hs=$(calc "(${cur[3]} - ${prev[3]}) / ((${cur[2]} - ${prev[2]}) > 0 ? (${cur[2]} - ${prev[2]}) : 1)")
		us=$(calc "(${cur[9]} - ${prev[9]}) / ((${cur[8]} - ${prev[8]}) > 0 ? (${cur[8]} - ${prev[8]}) : 1)")
		echo "$(calc "$el / 60") $phase ${cur[0]} ${cur[1]} $hs ${cur[4]} ${cur[5]} ${cur[6]} ${cur[7]} $us ${cur[10]} ${cur[11]} $cycles" >> "$RESULTS/soak.dat"
		say "figure 5 [$phase] $(fmt "$(calc "$el / 60")" 1)/$((total / 60)) min: leases $(( (cur[0] + cur[1]) / 1024 )) kB (HOT $(fmt "$(calc "100 * $hs")" 0)%, dead ${cur[4]}, autovacuums ${cur[5]}), bench_update $(( (cur[6] + cur[7]) / 1024 )) kB (HOT $(fmt "$(calc "100 * $us")" 0)%), $cycles cycles"
		prev=("${cur[@]}")
		kill -0 "$pgb" 2>/dev/null || break
		[ "$el" -ge "$total" ] && break
	done
	wait "$pgb" || { cat "$WORK/soak_pgbench.log" >&2; fail_check "soak pgbench failed"; }
	local failed
	failed=$(awk -F': ' '/^number of failed transactions/ {split($2, a, " "); print a[1]}' "$WORK/soak_pgbench.log")
	[ "${failed:-0}" = 0 ] || fail_check "soak: $failed failed transactions"
	local tf=$(awk '/^tps = .*without/ {print $3}' "$WORK/soak_pgbench.log")
	med_refresh
	out ""
	out "Figure 5: bloat soak, 8 clients, synchronous_commit=off, autovacuum defaults; a transaction = one lockservice"
	out "  cycle (acquire + renew + release on one of 1,000 names) or, as the baseline, 3 UPDATEs of one of 1,000 rows"
	out "  (fillfactor 50 both); $SOAK_MIN min, then $HOLD_MIN min with a REPEATABLE READ transaction (with an xid) held open,"
	out "  then 2 min after it ended; pgbench overall $(fmt "$tf" 0) transactions/s. Samples (results/soak.dat):"
	out "$(awk 'NR==1 {printf "  %6s %-6s %14s %8s %8s %14s %8s %10s\n", "minute", "phase", "leases kB", "HOT %", "dead", "bench_upd kB", "HOT %", "cycles"; next}
		{printf "  %6.1f %-6s %14d %8.1f %8d %14d %8.1f %10d\n", $1, $2, ($3+$4)/1024, 100*$5, $6, ($8+$9)/1024, 100*$10, $13}' "$RESULTS/soak.dat")"
	# plateau: the largest size in the second half of the soak phase against the first half
	local first second bfirst bsecond
	read -r first second < <(awk '$2=="soak" {n++; s[n]=$3+$4} END {h=int((n+1)/2); a=0; b=0; for(i=1;i<=n;i++){ if(i<=h){if(s[i]>a)a=s[i]} else {if(s[i]>b)b=s[i]} } print a, b}' "$RESULTS/soak.dat")
	read -r bfirst bsecond < <(awk '$2=="soak" {n++; s[n]=$8+$9} END {h=int((n+1)/2); a=0; b=0; for(i=1;i<=n;i++){ if(i<=h){if(s[i]>a)a=s[i]} else {if(s[i]>b)b=s[i]} } print a, b}' "$RESULTS/soak.dat")
	goal 5 "leases table+index, max of 2nd half vs 1st half of soak" "$(calc "$second / 1024")" kB "max of 1st half" "$(calc "$first / 1024")" "$(ratio "$second" "$first")" "<=" 1.10 "plateau if <= 1.10"
	goal 5 "baseline bench_update, max of 2nd half vs 1st half" "$(calc "$bsecond / 1024")" kB "max of 1st half" "$(calc "$bfirst / 1024")" "$(ratio "$bsecond" "$bfirst")" info 0
	local hot held_end after_end
	hot=$(awk '$2=="soak" && NR>2 {s+=$5; n++} END {print n ? s/n : "nan"}' "$RESULTS/soak.dat")
	goal 5 "leases HOT-update share during the soak" "$hot" share "bench_update HOT share" "$(awk '$2=="soak" && NR>2 {s+=$10; n++} END {print n ? s/n : "nan"}' "$RESULTS/soak.dat")" \
		"$(ratio "$hot" "$(awk '$2=="soak" && NR>2 {s+=$10; n++} END {print n ? s/n : "nan"}' "$RESULTS/soak.dat")")" info 0
	held_end=$(awk '$2=="held" {v=$3+$4} END {print v+0}' "$RESULTS/soak.dat")
	after_end=$(awk '$2=="after" {v=$3+$4} END {print v+0}' "$RESULTS/soak.dat")
	goal 5 "leases size at the end of the held transaction vs soak end" "$(calc "$held_end / 1024")" kB "size at soak end" "$(calc "$second / 1024")" "$(ratio "$held_end" "$second")" info 0
	goal 5 "leases size 2 min after it ended" "$(calc "$after_end / 1024")" kB "size at soak end" "$(calc "$second / 1024")" "$(ratio "$after_end" "$second")" info 0
	if [ "$HAVE_GNUPLOT" = 1 ]; then
		gnuplot <<GP
set terminal pngcairo size 900,560 font ",10" noenhanced
set output "$RESULTS/soak.png"
set title "Bloat soak: table + index size (8 clients; grey: a transaction held open)"
set xlabel "minutes"
set ylabel "table + index (kB)"
set grid
set key top left
set obj 1 rect from $(calc "$hold_started / 60"), graph 0 to $(calc "${hold_ended:-$total} / 60"), graph 1 fc rgb "#eeeeee" fs solid behind
plot "$RESULTS/soak.dat" using 1:((\$3+\$4)/1024) every ::1 w lp lw 2 t "lockservice.leases (1,000 names)", \
     "" using 1:((\$8+\$9)/1024) every ::1 w lp lw 2 t "baseline: bench_update (1,000 rows, same number of row updates)"
GP
		out "  chart: soak.png"
	fi
	sql postgres "DROP DATABASE soak WITH (FORCE)" >/dev/null
}

# ================================================================ figure 8
# Name churn: every cycle on a name never used before and never used again.
# The released rows stay 60 s (a name used again soon is a HOT update), then
# the reaper deletes them and vacuum makes the space reusable: the table must
# level off once that first minute is over.
figure8() {
	begin_fig 8
	local churn_s=$((CHURN_MIN * 60)) sample=60 t0 el cur
	[ "$CHURN_MIN" -le 3 ] && sample=15
	say "figure 8: name-churn soak, $CHURN_MIN min of cycles on ever-new names, 8 clients, synchronous_commit=on"
	setup_db churn
	sql churn "SELECT lockservice.reset_stats()" >/dev/null
	PGOPTIONS="$SYNC_ON" as_pg "$BIN/pgbench" -n -M prepared -c 8 -j 2 -T "$churn_s" -h "$SOCK" -p "$PORT" -U postgres \
		-D prefix=churn- -f "$S/ls_new.sql" churn > "$WORK/churn_pgbench.log" 2>&1 &
	local pgb=$!
	t0=$(date +%s)
	echo "minute leases_table_bytes leases_index_bytes rows dead_tuples autovacuums reaped cycles" > "$RESULTS/churn.dat"
	while :; do
		sleep "$sample"
		el=$(( $(date +%s) - t0 ))
		cur=($(sql churn "SELECT pg_relation_size(s.relid), pg_indexes_size(s.relid), s.n_live_tup, s.n_dead_tup,
		                         s.autovacuum_count, (SELECT coalesce(sum(reaped), 0) FROM lockservice.reaper_status()
		                                               WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'churn')),
		                         (SELECT acquires FROM lockservice.stats_counters())
		                    FROM pg_stat_user_tables s WHERE s.relid = 'lockservice.leases'::regclass" | tr '|' ' '))
		echo "$(calc "$el / 60") ${cur[*]}" >> "$RESULTS/churn.dat"
		say "figure 8: $(fmt "$(calc "$el / 60")" 1)/$CHURN_MIN min: leases $(( (cur[0] + cur[1]) / 1024 )) kB, ${cur[2]} rows, ${cur[5]} reaped, ${cur[6]} cycles"
		kill -0 "$pgb" 2>/dev/null || break
		[ "$el" -ge "$churn_s" ] && break
	done
	wait "$pgb" || { cat "$WORK/churn_pgbench.log" >&2; fail_check "churn pgbench failed"; }
	local tps first second
	tps=$(awk '/^tps = .*without/ {print $3}' "$WORK/churn_pgbench.log")
	out ""
	out "Figure 8: name churn, $CHURN_MIN min, 8 clients, synchronous_commit=on; every cycle (acquire + release) on a"
	out "  name never used before; released rows are kept 60 s, then reaped. $(fmt "$tps" 0) cycles/s. Samples (results/churn.dat):"
	out "$(awk 'NR==1 {printf "  %6s %12s %12s %10s %10s %10s %12s\n", "minute", "table kB", "index kB", "rows", "dead", "reaped", "cycles"; next}
		{printf "  %6.1f %12d %12d %10d %10d %10d %12d\n", $1, $2/1024, $3/1024, $4, $5, $7, $8}' "$RESULTS/churn.dat")"
	# level: the largest size in the second half against the first half (the first minute fills the 60 s window)
	read -r first second < <(awk 'NR > 1 {n++; s[n]=$2+$3} END {h=int((n+1)/2); a=0; b=0; for(i=1;i<=n;i++){ if(i<=h){if(s[i]>a)a=s[i]} else {if(s[i]>b)b=s[i]} } print a, b}' "$RESULTS/churn.dat")
	goal 8 "churn: leases table+index, max of 2nd half vs 1st half" "$(calc "$second / 1024")" kB "max of 1st half" "$(calc "$first / 1024")" "$(ratio "$second" "$first")" "<=" 1.10 "bounded if <= 1.10"
	goal 8 "churn: cycles/s over the soak" "$tps" cycles/s "-" "" "" info 0
	sql postgres "DROP DATABASE churn WITH (FORCE)" >/dev/null
}

# ================================================================ figure 9
# A monitoring scrape (monitoring/queries.yaml) with SCRAPE_LEASES live
# leases (1% of them in a second class) and SCRAPE_WAITERS sessions waiting:
# the per-class query as extension 1.3 ran it (leases_live, one
# lock_waiters() call per live lease, classes grouped in SQL) against
# lease_classes() (one pass over the table in C, the wait queue read once),
# and the stats query; milliseconds a scrape (pgbench's latency average over
# SCRAPE_RUNS scrapes), medians of the repetitions.
figure9() {
	begin_fig 9
	local n=$SCRAPE_LEASES w=$SCRAPE_WAITERS i rep cfg lat asleep=0 pids=()
	say "figure 9: monitoring scrape, $n live leases, $w waiting sessions; $REPS reps interleaved"
	setup_db scrape
	sql scrape "SELECT count(lockservice.lock_acquire('job:' || i, 'h', '1 hour')) FROM generate_series(1, $n) i" >/dev/null
	sql scrape "SELECT count(lockservice.lock_acquire('inv/' || i, 'h', '1 hour')) FROM generate_series(1, $n / 100) i" >/dev/null
	for i in $(seq 1 "$w"); do
		sql scrape "SELECT lockservice.lock_acquire('job:$i', 'w$i', '10 s', '30 min')" >/dev/null 2>&1 &
		pids+=($!)
	done
	for i in $(seq 1 600); do
		asleep=$(sql scrape "SELECT count(*) FROM pg_stat_activity WHERE datname = 'scrape' AND wait_event_type = 'Extension'")
		[ "$asleep" -ge "$w" ] && break
		sleep 0.1
	done
	[ "$asleep" -ge "$w" ] || fail_check "scrape: $asleep of $w waiters asleep"
	cat > "$S/scrape_sql.sql" <<'SQL'
WITH l AS (
  SELECT CASE WHEN name ~ '[:/]' THEN substring(name FROM '^[^:/]*') ELSE '(none)' END AS class,
         kind, waiters
    FROM lockservice.leases_live),
top AS (
  SELECT class FROM l GROUP BY class ORDER BY count(*) DESC, class LIMIT 20)
SELECT pg_catalog.current_database() AS datname, coalesce(top.class, '(other)') AS class, l.kind,
       count(*) AS live, coalesce(sum(l.waiters), 0) AS waiters
  FROM l LEFT JOIN top USING (class)
 GROUP BY 1, 2, 3;
SQL
	cat > "$S/scrape_c.sql" <<'SQL'
SELECT pg_catalog.current_database() AS datname, class, kind, live, waiters
  FROM lockservice.lease_classes(20);
SQL
	cat > "$S/scrape_stats.sql" <<'SQL'
SELECT acquires, acquires_waited, acquire_timeouts, renewals, renewals_failed,
       releases, expirations_reaped, takeovers, fence_refusals, events_dropped,
       waiters, live_leases, extract(epoch FROM stats_reset) AS reset_time
  FROM lockservice.stats;
SQL
	[ "$(id -u)" = 0 ] && chown postgres: "$S"/scrape_*.sql
	# lease_classes() counts every live lease
	[ "$(sql scrape "SELECT sum(live) FROM lockservice.lease_classes(20)")" = "$((n + n / 100))" ] ||
		fail_check "scrape: lease_classes() does not count the $((n + n / 100)) live leases"
	for rep in $(seq 1 "$REPS"); do
		for cfg in sql c stats; do
			lat=$(as_pg "$BIN/pgbench" -n -t "$SCRAPE_RUNS" -h "$SOCK" -p "$PORT" -U postgres \
				-f "$S/scrape_$cfg.sql" scrape 2>&1 | awk '/^latency average/ {print $4}')
			[ -n "$lat" ] || { fail_check "scrape: pgbench $cfg failed"; lat=nan; }
			record 9 "$cfg" "$rep" ms "$lat"
		done
	done
	sql scrape "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
	             WHERE datname = 'scrape' AND wait_event_type = 'Extension'" >/dev/null
	wait "${pids[@]}" 2>/dev/null || true
	med_refresh
	local old new st
	old=$(median 9 sql ms); new=$(median 9 c ms); st=$(median 9 stats ms)
	out ""
	out "Figure 9: a monitoring scrape with $n live leases in two classes and $w sessions waiting; milliseconds a"
	out "  scrape (pgbench latency over $SCRAPE_RUNS scrapes), median of $REPS"
	out "$(printf '  %-58s %10s' "per-class query of 1.3 (leases_live, lock_waiters() a row)" "$(fmt "$old" 1)")"
	out "$(printf '  %-58s %10s' "lease_classes(20) (1.4)" "$(fmt "$new" 1)")"
	out "$(printf '  %-58s %10s' "lockservice.stats (live_leases: a count of leases_live)" "$(fmt "$st" 1)")"
	goal 9 "per-class scrape: lease_classes() vs 1.3's query" "$new" ms "1.3 query" "$old" "$(ratio "$new" "$old")" "<=" 0.5
	goal 9 "whole scrape (lease_classes + stats), $n leases" "$(calc "$new + $st")" ms "-" "" "" "<=" 100 "ms at 100,000 live leases"
	sql postgres "DROP DATABASE scrape WITH (FORCE)" >/dev/null
}

# ================================================================ figure 6
figure6() {
	begin_fig 6
	say "figure 6: memory -- backend RSS over $MEM_CALLS_BIG calls in one session (and a backend doing UPDATEs)"
	setup_db memory
	local checks="$MEM_CALLS_SMALL,$MEM_CALLS_BIG" m
	[ $(( MEM_CALLS_BIG / 10 )) -gt "$MEM_CALLS_SMALL" ] && checks="$MEM_CALLS_SMALL,$(( MEM_CALLS_BIG / 10 )),$MEM_CALLS_BIG"
	for m in memory memory-update; do
		PGOPTIONS="$SYNC_OFF $NOFLUSH" as_pg "$WORK/handoff" --conninfo "$CONNINFO dbname=memory" --mode "$m" \
			--calls "$MEM_CALLS_BIG" --checkpoints "$checks" > "$WORK/$m.out" ||
			{ cat "$WORK/$m.out" >&2; fail_check "memory harness $m failed"; }
		while read -r line; do
			case "$line" in calls=*)
				set -- $line
				local calls=${1#calls=} vm=${2#vmrss_kb=} anon=${3#rssanon_kb=} shm=${4#rssshmem_kb=}
				record 6 "$m" 1 "vmrss_kb_$calls" "$vm"
				record 6 "$m" 1 "rssanon_kb_$calls" "$anon"
				record 6 "$m" 1 "rssshmem_kb_$calls" "$shm"
				say "figure 6 $m: after $calls calls VmRSS $vm kB (RssAnon $anon kB, RssShmem $shm kB)" ;;
			esac
		done < "$WORK/$m.out"
	done
	med_refresh
	out ""
	out "Figure 6: memory of one backend (calls in autocommit, acquire/renew/release over 100 names; baseline: single-row UPDATEs),"
	out "  synchronous_commit=off, sync_grants=off (to save time; memory does not depend on them), events on; one run"
	out "$(printf '  %-28s %14s %14s %14s %14s' "" "VmRSS@$MEM_CALLS_SMALL" "VmRSS@$MEM_CALLS_BIG" "RssAnon@$MEM_CALLS_SMALL" "RssAnon@$MEM_CALLS_BIG")"
	for m in memory memory-update; do
		out "$(printf '  %-28s %11s kB %11s kB %11s kB %11s kB' "$([ $m = memory ] && echo lockservice calls || echo 'UPDATE (baseline)')" \
			"$(median 6 $m vmrss_kb_$MEM_CALLS_SMALL)" "$(median 6 $m vmrss_kb_$MEM_CALLS_BIG)" \
			"$(median 6 $m rssanon_kb_$MEM_CALLS_SMALL)" "$(median 6 $m rssanon_kb_$MEM_CALLS_BIG)")"
	done
	local d bd
	d=$(calc "$(median 6 memory vmrss_kb_$MEM_CALLS_BIG) - $(median 6 memory vmrss_kb_$MEM_CALLS_SMALL)")
	bd=$(calc "$(median 6 memory-update vmrss_kb_$MEM_CALLS_BIG) - $(median 6 memory-update vmrss_kb_$MEM_CALLS_SMALL)")
	goal 6 "VmRSS growth from $MEM_CALLS_SMALL to $MEM_CALLS_BIG calls (kB)" "$d" kB "UPDATE backend's growth" "$bd" "$(ratio "$d" "$bd")" "v<=" 1024
	d=$(calc "$(median 6 memory rssanon_kb_$MEM_CALLS_BIG) - $(median 6 memory rssanon_kb_$MEM_CALLS_SMALL)")
	bd=$(calc "$(median 6 memory-update rssanon_kb_$MEM_CALLS_BIG) - $(median 6 memory-update rssanon_kb_$MEM_CALLS_SMALL)")
	goal 6 "RssAnon (private) growth, same calls (kB)" "$d" kB "UPDATE backend's growth" "$bd" "$(ratio "$d" "$bd")" info 0
	d=$(calc "$(median 6 memory rssshmem_kb_$MEM_CALLS_BIG) - $(median 6 memory rssshmem_kb_$MEM_CALLS_SMALL)")
	bd=$(calc "$(median 6 memory-update rssshmem_kb_$MEM_CALLS_BIG) - $(median 6 memory-update rssshmem_kb_$MEM_CALLS_SMALL)")
	goal 6 "RssShmem (shared buffers, WAL buffers touched) growth (kB)" "$d" kB "UPDATE backend's growth" "$bd" "$(ratio "$d" "$bd")" info 0

	# one transaction that acquires many names: its pending events live until commit
	local ev
	for ev in on off; do
		as_pg "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d memory > "$WORK/txmem.out" <<SQL
SET lockservice.events = $ev;
SET synchronous_commit = off;
SELECT pg_backend_pid() AS pid \gset
\setenv BPID :pid
\! awk '/^RssAnon/ {printf "before %s\n", \$2}' /proc/\$BPID/status
BEGIN;
SELECT count(lockservice.lock_acquire('tx-$ev-' || g, 'tx', '10 min')) FROM generate_series(1, $TX_EVENTS_N) g;
\! awk '/^RssAnon/ {printf "intx %s\n", \$2}' /proc/\$BPID/status
COMMIT;
\! awk '/^RssAnon/ {printf "after %s\n", \$2}' /proc/\$BPID/status
SQL
		local before intx after
		before=$(awk '$1=="before"{print $2}' "$WORK/txmem.out"); intx=$(awk '$1=="intx"{print $2}' "$WORK/txmem.out")
		after=$(awk '$1=="after"{print $2}' "$WORK/txmem.out")
		record 6 "tx-events-$ev" 1 rssanon_growth_kb "$(calc "$intx - $before")"
		say "figure 6: one transaction of $TX_EVENTS_N acquires, events $ev: RssAnon $before -> $intx kB before commit, $after kB after"
	done
	local on off
	on=$(median 6 tx-events-on rssanon_growth_kb); off=$(median 6 tx-events-off rssanon_growth_kb)
	goal 6 "RssAnon growth in one transaction of $TX_EVENTS_N acquires, events on (kB)" "$on" kB "events off" "$off" "$(ratio "$on" "$off")" info 0 "$(calc "1024 * ($on - $off) / $TX_EVENTS_N") bytes per pending event"

	out "  shared memory of the extension (pg_shmem_allocations, default settings):"
	sql memory "SELECT name, size, allocated_size FROM pg_shmem_allocations WHERE name LIKE 'lockservice%' ORDER BY name" |
		while IFS='|' read -r n sz al; do out "$(printf '    %-30s %10s bytes (allocated %s)' "$n" "$sz" "$al")"; done
	local total; total=$(sql memory "SELECT sum(allocated_size) FROM pg_shmem_allocations WHERE name LIKE 'lockservice%'")
	goal 6 "shared memory used by the extension (bytes)" "$total" bytes "-" "" "" info 0 "3.1 MB of it the event ring"
	sql postgres "DROP DATABASE memory WITH (FORCE)" >/dev/null
}

# ================================================================ client sweep
sweep() {
	begin_fig sweep
	say "client sweep: uncontended cycle vs baselines, synchronous_commit=on, clients $SWEEP_CLIENTS; $REPS reps interleaved"
	local rep c cfg i=0 n_c total
	n_c=$(echo $SWEEP_CLIENTS | wc -w); total=$((REPS * n_c * 4))
	for rep in $(seq 1 "$REPS"); do
		for c in $SWEEP_CLIENTS; do
			for cfg in ls_cycle.sql:ls update.sql:update sqllease.sql:sqllease advisory.sql:advisory; do
				pgbench_run sweep "$c/${cfg#*:}" "$rep" bench "$c" "${cfg%%:*}" "$SYNC_ON" names=1000
				i=$((i + 1)); say "sweep ($i/$total) rep $rep/$REPS $c clients $(printf '%-9s' "${cfg#*:}") $(fmt "$PG_TPS" 0)/s"
			done
		done
	done
	med_refresh
	echo "clients lockservice_cycles update sqllease_cycles advisory" > "$RESULTS/sweep.dat"
	for c in $SWEEP_CLIENTS; do
		echo "$c $(median sweep "$c/ls" tps) $(median sweep "$c/update" tps) $(median sweep "$c/sqllease" tps) $(median sweep "$c/advisory" tps)" >> "$RESULTS/sweep.dat"
	done
	med_refresh
	out ""
	out "Client sweep: uncontended cycle, synchronous_commit=on, 1,000 names, median of $REPS x ${SWEEP_SECONDS} s (per second)"
	out "$(awk 'NR==1 {printf "  %8s %12s %12s %12s %12s %10s %10s\n", "clients", "lockservice", "UPDATE", "SQL lease", "advisory", "ls/(UPD/2)", "ls/SQL"; next}
		{printf "  %8d %12.0f %12.0f %12.0f %12.0f %10.2f %10.2f\n", $1, $2, $3, $4, $5, $2/($3/2), $2/$4}' "$RESULTS/sweep.dat")"
	# no plateau: from 16 clients on, >= 1.2 x UPDATE/2 at the same count and never below the 8-client rate
	local at8 v u
	at8=$(median sweep 8/ls tps)
	for c in $SWEEP_CLIENTS; do
		[ "$c" -ge 16 ] || continue
		v=$(median sweep "$c/ls" tps); u=$(calc "$(median sweep "$c/update" tps) / 2")
		goal sweep "$c clients: lockservice cycles/s vs UPDATE/2" "$v" cycles/s "UPDATE tps / 2" "$u" "$(ratio "$v" "$u")" ">=" 1.2
		[ -n "$at8" ] && goal sweep "$c clients: lockservice cycles/s vs 8 clients" "$v" cycles/s "8 clients" "$at8" "$(ratio "$v" "$at8")" ">=" 1.0
	done
	if [ "$HAVE_GNUPLOT" = 1 ]; then
		gnuplot <<GP
set terminal pngcairo size 900,560 font ",10" noenhanced
set output "$RESULTS/sweep.png"
set title "Uncontended cycle throughput against client count (synchronous_commit=on, 2 cores)"
set xlabel "clients"
set ylabel "per second (log scale)"
set logscale xy 2
set logscale y 10
set grid
set key bottom right
set xtics (1, 2, 4, 8, 16, 32, 64)
plot "$RESULTS/sweep.dat" every ::1 u 1:2 w lp lw 2 pt 7 t "lockservice acquire+release cycles", \
     "" every ::1 u 1:4 w lp lw 2 pt 5 t "hand-written SQL lease cycles", \
     "" every ::1 u 1:(\$3/2) w lp lw 2 pt 9 t "single-row UPDATE tps / 2", \
     "" every ::1 u 1:5 w lp lw 2 pt 13 t "pg_advisory_xact_lock (not durable)"
GP
		out "  chart: sweep.png"
	fi
}

# ================================================================ figure 10
# Sessions (1.5).
# (a) The heartbeat of SESS_SESSIONS x SESS_PER locks: held by SESS_SESSIONS
#     sessions of SESS_PER locks each, renewed every 5 s (ttl/3 of a 15 s
#     ttl: SESS_SESSIONS/5 session renewals a second), against the same
#     number of locks with their own ttl renewed one by one at the same
#     period (n/5 renewals a second): WAL bytes and server CPU (every
#     PostgreSQL process, exited backends included) per second, pgbench -R
#     for SESS_SECONDS.  The ttls are 1 hour so that nothing ends while it
#     is measured (a renewal costs the same whatever its ttl).  When one by
#     one cannot keep the rate, its cost per renewal times the rate it
#     needs is what it would cost; both are shown.
# (b) The 8-client cycle rate (figure 1's script) with the session
#     heartbeat running beside it, against the rate without it.
# (c) A cycle (acquire + release) of a lock in a session against one with
#     its own ttl: 8 clients, a session each.
# (d) lock_acquire_all of 5 free names against one lock_acquire and five:
#     the acquire statements' latency (pgbench -r), releases not counted.
server_cpu_ticks() {	# every PostgreSQL process: the postmaster, its children, and the children it reaped
	local pm c sum
	pm=$(head -1 "$PGDATA/postmaster.pid")
	sum=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
	for c in $(pgrep -P "$pm"); do sum=$((sum + $(cpu_ticks "$c"))); done
	echo "$sum"
}
wal_lsn() { sql sess "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }
# hb_run CFG REP SCRIPT RATE: a rate-limited heartbeat load, its WAL and CPU per second
hb_run() {
	local cfg=$1 rep=$2 script=$3 rate=$4 w0 w1 c0 c1 t0 t1 log="$WORK/hb.log" tps
	w0=$(wal_lsn); c0=$(server_cpu_ticks); t0=$(date +%s.%N)
	as_pg "$BIN/pgbench" -n -M prepared -c 8 -j 2 -R "$rate" -T "$SESS_SECONDS" -h "$SOCK" -p "$PORT" -U postgres \
		-D nsess="$SESS_SESSIONS" -D n="$((SESS_SESSIONS * SESS_PER))" -D sbase="$SESS_BASE" -D sstep="$SESS_STEP" \
		-f "$S/$script" sess > "$log" 2>&1 ||
		{ cat "$log" >&2; fail_check "figure 10: pgbench $cfg failed"; return 0; }
	c1=$(server_cpu_ticks); t1=$(date +%s.%N); w1=$(wal_lsn)
	tps=$(awk '/^tps = .*without initial connection/ {print $3}' "$log")
	record 10 "$cfg" "$rep" tps "$tps"
	record 10 "$cfg" "$rep" wal_bytes_per_s "$(calc "($w1 - $w0) / ($t1 - $t0)")"
	record 10 "$cfg" "$rep" cpu_pct "$(calc "100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0)")"
	record 10 "$cfg" "$rep" wal_bytes_per_call "$(calc "($w1 - $w0) / ($tps * ($t1 - $t0))")"
	record 10 "$cfg" "$rep" cpu_ms_per_call "$(calc "1000 * ($c1 - $c0) / $CLK_TCK / ($tps * ($t1 - $t0))")"
	say "figure 10 rep $rep $cfg: $(fmt "$tps" 0)/s (asked $rate/s)"
}
# hb_idle REP: the server's own WAL and CPU per second with nothing running
# (walwriter, checkpointer, autovacuum, the launcher): subtracted from the
# heartbeat loads', so that their cost is what they add
hb_idle() {
	local rep=$1 w0 w1 c0 c1 t0 t1
	w0=$(wal_lsn); c0=$(server_cpu_ticks); t0=$(date +%s.%N)
	sleep "$SESS_SECONDS"
	c1=$(server_cpu_ticks); t1=$(date +%s.%N); w1=$(wal_lsn)
	record 10 idle "$rep" wal_bytes_per_s "$(calc "($w1 - $w0) / ($t1 - $t0)")"
	record 10 idle "$rep" cpu_pct "$(calc "100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0)")"
}
# ml_run CFG REP SCRIPT: 8 clients, the summed latency of the statements that acquire
ml_run() {
	local cfg=$1 rep=$2 script=$3 log="$WORK/ml.log" lat
	local len=(-T "$SECONDS_RUN"); [ "$QUICK" = 1 ] && len=(-t "$TX_PER_CLIENT")
	as_pg "$BIN/pgbench" -n -M prepared -r -c 8 -j 2 "${len[@]}" -h "$SOCK" -p "$PORT" -U postgres \
		-D per=125 -D prefix="m-" -f "$S/$script" sess > "$log" 2>&1 ||
		{ cat "$log" >&2; fail_check "figure 10: pgbench $cfg failed"; return 0; }
	lat=$(awk '/^ *[0-9.]+ +[0-9]+ +SELECT .*lock_acquire/ {s += $1} /^ *[0-9.]+ +SELECT .*lock_acquire/ {s += $1} END {print s + 0}' "$log")
	record 10 "$cfg" "$rep" acquire_ms "$lat"
	record 10 "$cfg" "$rep" tps "$(awk '/^tps = .*without initial connection/ {print $3}' "$log")"
}
# open_sessions DB TABLE PREFIX N: open N sessions in one statement, their
# ids in TABLE (i, id); sets OPENED_BASE and OPENED_STEP: the ids are
# OPENED_BASE + OPENED_STEP * (i - 1)
# (session ids come from the token counter: opened together with nothing
# else drawing from it, they are evenly spaced), so that pgbench scripts can
# name a session without a lookup
open_sessions() {
	local db=$1 table=$2 prefix=$3 n=$4
	sql "$db" "CREATE TABLE $table (i int PRIMARY KEY, id bigint NOT NULL);
	           INSERT INTO $table SELECT i, lockservice.session_open('$prefix' || i, '1 hour')
	             FROM generate_series(1, $n) i" >/dev/null
	IFS='|' read -r OPENED_BASE OPENED_STEP < <(sql "$db" "SELECT min(id),
	    CASE WHEN count(*) > 1 THEN (max(id) - min(id)) / (count(*) - 1) ELSE 1 END FROM $table")
	[ "$(sql "$db" "SELECT count(*) FROM $table WHERE id = $OPENED_BASE + $OPENED_STEP * (i - 1)")" = "$n" ] ||
		fail_check "figure 10: the ids of $n sessions opened together are not evenly spaced"
}
figure10() {
	begin_fig 10
	local ns=$SESS_SESSIONS per=$SESS_PER n=$((SESS_SESSIONS * SESS_PER)) rep bg cbase cstep
	local rate_s=$(( SESS_SESSIONS / 5 > 1 ? SESS_SESSIONS / 5 : 1 )) rate_1=$(( SESS_SESSIONS * SESS_PER / 5 ))
	say "figure 10: sessions -- $n locks in $ns sessions against $n leases renewed one by one; $REPS reps interleaved"
	setup_db sess
	open_sessions sess hb_sessions w "$ns"
	SESS_BASE=$OPENED_BASE SESS_STEP=$OPENED_STEP
	sql sess "SELECT count(lockservice.lock_acquire('s:' || s.i || ':' || j, s.id))
	            FROM hb_sessions s, generate_series(1, $per) j" >/dev/null
	sql sess "CREATE TABLE hb_tokens (n int PRIMARY KEY, token bigint NOT NULL);
	          INSERT INTO hb_tokens SELECT i, lockservice.lock_acquire('o:' || i, 'h', '1 hour')
	            FROM generate_series(1, $n) i" >/dev/null
	sql sess "VACUUM ANALYZE" >/dev/null
	# the clients of (c): a session each, ids cbase + cstep * client_id
	open_sessions sess c_sessions c 8
	cbase=$OPENED_BASE cstep=$OPENED_STEP
	[ "$(sql sess "SELECT count(*) FROM lockservice.leases_live")" = "$((2 * n))" ] ||
		fail_check "figure 10: not every one of the $((2 * n)) locks is held"
	cat > "$S/hb_session.sql" <<'EOF'
\set s :sbase + :sstep * random(0, :nsess - 1)
SELECT lockservice.session_renew(:s);
EOF
	cat > "$S/hb_single.sql" <<'EOF'
\set i random(1, :n)
SELECT lockservice.lock_renew('o:' || :i, t.token) FROM hb_tokens t WHERE t.n = :i;
EOF
	cat > "$S/ls_cycle_session.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
\set sid :sbase + :sstep * :client_id
SELECT coalesce(lockservice.lock_acquire(:prefix::text || :n::text, :sid::bigint), 0) AS tok \gset
\if :tok > 0
SELECT lockservice.lock_release(:prefix::text || :n::text, :tok);
\endif
EOF
	cat > "$S/ml_all5.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
SELECT lockservice.lock_acquire_all(ARRAY[:prefix::text || :n::text || 'a', :prefix::text || :n::text || 'b', :prefix::text || :n::text || 'c', :prefix::text || :n::text || 'd', :prefix::text || :n::text || 'e'], 'bench', '30 s')::text AS toks \gset
SELECT count(lockservice.lock_release(u.name, u.token)) FROM unnest(ARRAY[:prefix::text || :n::text || 'a', :prefix::text || :n::text || 'b', :prefix::text || :n::text || 'c', :prefix::text || :n::text || 'd', :prefix::text || :n::text || 'e'], (:toks)::bigint[]) AS u(name, token);
EOF
	cat > "$S/ml_one.sql" <<'EOF'
\set n random(0, :per - 1) + :client_id * :per
SELECT lockservice.lock_acquire(:prefix::text || :n::text || 'a', 'bench', '30 s') AS ta \gset
SELECT lockservice.lock_release(:prefix::text || :n::text || 'a', :ta);
EOF
	{
		echo '\set n random(0, :per - 1) + :client_id * :per'
		for x in a b c d e; do
			echo "SELECT lockservice.lock_acquire(:prefix::text || :n::text || '$x', 'bench', '30 s') AS t$x \\gset"
		done
		echo "SELECT lockservice.lock_release(:prefix::text || :n::text || 'a', :ta), lockservice.lock_release(:prefix::text || :n::text || 'b', :tb), lockservice.lock_release(:prefix::text || :n::text || 'c', :tc), lockservice.lock_release(:prefix::text || :n::text || 'd', :td), lockservice.lock_release(:prefix::text || :n::text || 'e', :te);"
	} > "$S/ml_five.sql"
	[ "$(id -u)" = 0 ] && chown postgres: "$S"/*.sql
	for rep in $(seq 1 "$REPS"); do
		hb_idle "$rep"
		hb_run session "$rep" hb_session.sql "$rate_s"
		hb_run single "$rep" hb_single.sql "$rate_1"
		pgbench_run 10 cycle-alone "$rep" sess 8 ls_cycle.sql "$SYNC_ON"
		as_pg "$BIN/pgbench" -n -M prepared -c 2 -j 1 -R "$rate_s" -T $(( $([ "$QUICK" = 1 ] && echo 5 || echo "$SECONDS_RUN") + 5 )) \
			-h "$SOCK" -p "$PORT" -U postgres -D nsess="$ns" -D sbase="$SESS_BASE" -D sstep="$SESS_STEP" \
			-f "$S/hb_session.sql" sess > "$WORK/bg.log" 2>&1 &
		bg=$!
		pgbench_run 10 cycle-with-heartbeat "$rep" sess 8 ls_cycle.sql "$SYNC_ON"
		wait "$bg" || { cat "$WORK/bg.log" >&2; fail_check "figure 10: the background heartbeat failed"; }
		pgbench_run 10 cycle-session "$rep" sess 8 ls_cycle_session.sql "$SYNC_ON" sbase="$cbase" sstep="$cstep"
		ml_run all5 "$rep" ml_all5.sql
		ml_run one "$rep" ml_one.sql
		ml_run five "$rep" ml_five.sql
		say "figure 10 rep $rep/$REPS done"
	done
	med_refresh
	local ws w1 cs c1 wi ci ts t1 ws_net w1_net cs_net c1_net w1_need c1_need
	wi=$(median 10 idle wal_bytes_per_s); ci=$(median 10 idle cpu_pct)
	ws=$(median 10 session wal_bytes_per_s); w1=$(median 10 single wal_bytes_per_s)
	cs=$(median 10 session cpu_pct); c1=$(median 10 single cpu_pct)
	ts=$(median 10 session tps); t1=$(median 10 single tps)
	# what each load adds to the idle server
	ws_net=$(calc "$ws - $wi"); w1_net=$(calc "$w1 - $wi")
	cs_net=$(calc "$cs - $ci"); c1_net=$(calc "$c1 - $ci")
	out ""
	out "Figure 10: sessions (1.5), median of $REPS"
	out "  (a) heartbeat of $n locks: $ns sessions x $per locks renewed every 5 s ($rate_s session renewals/s asked)"
	out "      against $n leases renewed one by one every 5 s ($rate_1 renewals/s asked), $SESS_SECONDS s each, 8 clients;"
	out "      server CPU (% of one core) and WAL of every PostgreSQL process, and the same with nothing running (idle)"
	out "$(printf '  %-30s %12s %14s %10s %16s %16s' load "renewals/s" "WAL B/s" "CPU %" "added WAL B/call" "added CPU ms/call")"
	out "$(printf '  %-30s %12s %14s %10s' idle - "$(fmt "$wi" 0)" "$(fmt "$ci" 1)")"
	out "$(printf '  %-30s %12s %14s %10s %16s %16s' session "$(fmt "$ts" 0)" "$(fmt "$ws" 0)" "$(fmt "$cs" 1)" \
		"$(fmt "$(calc "$ws_net / $ts")" 0)" "$(fmt "$(calc "10 * $cs_net / $ts")" 3)")"
	out "$(printf '  %-30s %12s %14s %10s %16s %16s' "one by one" "$(fmt "$t1" 0)" "$(fmt "$w1" 0)" "$(fmt "$c1" 1)" \
		"$(fmt "$(calc "$w1_net / $t1")" 0)" "$(fmt "$(calc "10 * $c1_net / $t1")" 3)")"
	# one by one at the rate it needs (it may not keep it: its cost per renewal times that rate)
	w1_need=$(calc "$w1_net / $t1 * $rate_1"); c1_need=$(calc "$c1_net / $t1 * $rate_1")
	goal 10 "heartbeat WAL added: sessions vs one by one at $rate_1/s" "$ws_net" B/s "one by one, per renewal x rate" "$w1_need" "$(ratio "$ws_net" "$w1_need")" "<=" 0.02
	goal 10 "heartbeat server CPU added: sessions vs one by one at $rate_1/s" "$cs_net" "% core" "one by one, per renewal x rate" "$c1_need" "$(ratio "$cs_net" "$c1_need")" "<=" 0.02
	goal 10 "heartbeat WAL/s as measured (one by one at the rate it kept)" "$ws" B/s "one by one" "$w1" "$(ratio "$ws" "$w1")" info 0
	goal 10 "heartbeat server CPU as measured (one by one at the rate it kept)" "$cs" "% core" "one by one" "$c1" "$(ratio "$cs" "$c1")" info 0
	goal 10 "one by one: renewals/s kept vs asked" "$(median 10 single tps)" "/s" "asked" "$rate_1" "$(ratio "$(median 10 single tps)" "$rate_1")" info 0
	out ""
	out "  (b), (c) 8 clients, acquire + release cycles, synchronous_commit=on"
	table_header cycle
	table_row 10 cycle-alone "own ttl, nothing beside"
	table_row 10 cycle-with-heartbeat "own ttl, session heartbeat beside"
	table_row 10 cycle-session "in a session (one per client)"
	local a b
	a=$(median 10 cycle-alone tps); b=$(median 10 cycle-with-heartbeat tps)
	goal 10 "cycles/s with the session heartbeat running vs without" "$b" cycles/s "without" "$a" "$(ratio "$b" "$a")" ">=" 0.9
	b=$(median 10 cycle-session tps)
	goal 10 "cycles/s of a lock in a session vs own ttl" "$b" cycles/s "own ttl" "$a" "$(ratio "$b" "$a")" ">=" 0.95
	out ""
	out "  (d) acquire latency, 8 clients, free names (pgbench -r; releases not counted)"
	local l5 l1 lf
	l5=$(median 10 all5 acquire_ms); l1=$(median 10 one acquire_ms); lf=$(median 10 five acquire_ms)
	out "$(printf '  %-44s %10s ms' "lock_acquire_all of 5 names" "$(fmt "$l5" 3)")"
	out "$(printf '  %-44s %10s ms' "one lock_acquire" "$(fmt "$l1" 3)")"
	out "$(printf '  %-44s %10s ms' "five lock_acquire (5 statements)" "$(fmt "$lf" 3)")"
	goal 10 "multi-lock of 5 names vs one acquire" "$l5" ms "one acquire" "$l1" "$(ratio "$l5" "$l1")" "<=" 2
	goal 10 "multi-lock of 5 names vs 5 single acquires" "$l5" ms "5 acquires" "$lf" "$(ratio "$l5" "$lf")" info 0
	sql postgres "DROP DATABASE sess WITH (FORCE)" >/dev/null
}

# ================================================================ main
want 1 && figure1
want 2 && figure2
want 3 && figure3
want sweep && sweep
want 4 && figure4
want 6 && figure6
want 5 && figure5
want 8 && figure8
want 9 && figure9
want 10 && figure10
if want peers; then
	# etcd, ZooKeeper and Redis beside lockservice: a harness and servers of its own
	say "peers: bench/peers/run.sh (results in $HERE/peers/results)"
	bash "$HERE/peers/run.sh" --seconds "$SECONDS_RUN" --reps "$REPS" || fail_check "bench/peers/run.sh failed"
fi

write_summaries

say "done in $(( ($(date +%s) - T_START) / 60 )) min: results in $RESULTS (summary.txt, summary.md, runs.csv, *.png)"
if [ "$FAILURES" -gt 0 ]; then
	say "$FAILURES checks failed"
	exit 1
fi
exit 0

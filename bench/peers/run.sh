#!/bin/bash
# bench/peers/run.sh: lockservice beside etcd, ZooKeeper and Redis (AOF
# appendfsync always and everysec), each through its standard Python lock
# recipe, in one run, interleaved.  See bench/peers/README.md.
#
#   bench/peers/run.sh                 3 reps x 10 s of every workload (~8 min)
#   bench/peers/run.sh --quick         1 rep x 2 s (~1 min): the harness works
#   bench/peers/run.sh --seconds 20 --reps 5
#   bench/peers/run.sh --heartbeat     figure 10's peers: 100,000 locks kept alive
#                                      by 1,000 lockservice sessions, etcd leases,
#                                      ZooKeeper sessions (3 reps x 30 s, ~10 min)
#
# Run as root on Debian 12: installs what it needs with apt-get, runs every
# server as the postgres account on 127.0.0.1 with its data in one work
# directory on the same disk (every server flushes: PostgreSQL fsync +
# synchronous_commit on, etcd's WAL, ZooKeeper forceSync, Redis AOF), and
# stops them at the end.  Results: bench/peers/results/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECONDS_RUN= REPS=3 RESULTS="$HERE/results" HEARTBEAT=0 QUICK=0
while [ $# -gt 0 ]; do
	case "$1" in
		--quick) QUICK=1; REPS=1 ;;
		--heartbeat) HEARTBEAT=1 ;;
		--seconds) SECONDS_RUN=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--results) RESULTS=$2; shift ;;
		-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$SECONDS_RUN" ]; then
	if [ "$HEARTBEAT" = 1 ]; then SECONDS_RUN=$([ "$QUICK" = 1 ] && echo 5 || echo 30)
	else SECONDS_RUN=$([ "$QUICK" = 1 ] && echo 2 || echo 10); fi
fi
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# ------------------------------------------------------------ what it needs
LS_PG_VERSION=15 LS_PG_USER=postgres
source "$REPO/scripts/lib.sh"
LS_PACKAGES=(postgresql-15 postgresql-server-dev-15 build-essential python3-psycopg
	etcd-server python3-etcd3 zookeeper python3-kazoo redis-server python3-redis gnuplot-nox)
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (it installs packages and runs servers as postgres)" >&2; exit 2; }
ls_ensure_packages

WORK=$(mktemp -d /var/tmp/lspeers.XXXXXX)
chown postgres: "$WORK"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -x "${PGBIN:-}/pg_ctl" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg() { runuser -u postgres -- "$@"; }
wait_port() {	# PORT NAME: up to 60 s
	local i
	for i in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
	say "$2 did not start"; return 1
}

# ------------------------------------------------------------ PostgreSQL + lockservice
say "building lockservice into a private copy of PostgreSQL 15"
ls_private_postgres "$WORK/pgcopy" >/dev/null
PGBIN=$LS_PG_BIN
mkdir -p "$WORK/pgcopy/src" && git -C "$REPO" archive HEAD | tar -x -C "$WORK/pgcopy/src"
ls_build_install "$WORK/pgcopy/src" "$PGBIN/pg_config" > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
chown -R postgres: "$WORK"
PGPORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK'
shared_preload_libraries = 'lockservice'
shared_buffers = 512MB
synchronous_commit = on
fsync = on
max_wal_size = 8GB
CONF
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -XAtq -c "CREATE DATABASE bench" \
	-c "\\c bench" -c "CREATE EXTENSION lockservice"

# ------------------------------------------------------------ etcd
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port)
as_pg etcd --name peers --data-dir "$WORK/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	--initial-cluster "peers=http://127.0.0.1:$ETCD_PEER" > "$WORK/etcd.log" 2>&1 &
PIDS+=($!) ETCD_PID=$!
wait_port "$ETCD_PORT" etcd

# ------------------------------------------------------------ ZooKeeper (standalone, forceSync)
ZK_PORT=$(free_port)
mkdir -p "$WORK/zk/data" "$WORK/zk/conf"
cp /etc/zookeeper/conf/log4j.properties "$WORK/zk/conf/"
cat > "$WORK/zk/conf/zoo.cfg" <<CONF
tickTime=2000
dataDir=$WORK/zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
forceSync=yes
admin.enableServer=false
maxClientCnxns=0
4lw.commands.whitelist=srvr,ruok
CONF
chown -R postgres: "$WORK/zk"
as_pg java -Xmx512m -Dzookeeper.log.dir="$WORK/zk" -Dzookeeper.root.logger=WARN,CONSOLE \
	-cp "$WORK/zk/conf:/usr/share/java/zookeeper.jar" \
	org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zk/conf/zoo.cfg" > "$WORK/zk.log" 2>&1 &
PIDS+=($!) ZK_PID=$!
wait_port "$ZK_PORT" zookeeper

# measure WHAT SCRIPT CSV SETTINGS [VERSIONS]: runs SCRIPT over config.json,
# keeps CSV and writes SETTINGS (when, which commit, the servers' versions)
measure() {
	mkdir -p "$RESULTS"
	say "measuring $1: $REPS reps x ${SECONDS_RUN} s per system, interleaved"
	as_pg /usr/bin/python3 "$HERE/$2" --config "$WORK/config.json" --seconds "$SECONDS_RUN" \
		--reps "$REPS" --out "$WORK/$3"
	cp "$WORK/$3" "$RESULTS/$3"
	{
		echo "measured $(date -u '+%Y-%m-%d %H:%M UTC'), lockservice from $(git -C "$REPO" rev-parse --short HEAD), $REPS reps x ${SECONDS_RUN} s"
		echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r)"
		echo "versions: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), etcd $(etcd --version | awk '/etcd Version/ {print $3}'), ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper)${5:-}"
	} > "$RESULTS/$4"
}

# ------------------------------------------------------------ figure 10's peers
if [ "$HEARTBEAT" = 1 ]; then
	# the servers' pids: the postmaster; runuser's for etcd and ZooKeeper
	# (heartbeat.py counts a process and its children)
	cat > "$WORK/config.json" <<JSON
{"pg": "host=127.0.0.1 port=$PGPORT dbname=bench user=postgres",
 "etcd": "127.0.0.1:$ETCD_PORT", "zookeeper": "127.0.0.1:$ZK_PORT",
 "pg_pid": $(head -n 1 "$WORK/pg/postmaster.pid"), "etcd_pid": $ETCD_PID, "zookeeper_pid": $ZK_PID}
JSON
	chown postgres: "$WORK/config.json"
	measure "the heartbeat of 100,000 locks" heartbeat.py heartbeat.csv heartbeat_settings.txt
	/usr/bin/python3 "$HERE/heartbeat.py" --report "$RESULTS"
	cat "$RESULTS/heartbeat.md"
	exit 0
fi

# ------------------------------------------------------------ Redis, AOF fsync always / everysec
R1=$(free_port); R2=$(free_port)
for r in "$R1:always" "$R2:everysec"; do
	mkdir -p "$WORK/redis-${r#*:}"; chown postgres: "$WORK/redis-${r#*:}"
	as_pg redis-server --bind 127.0.0.1 --port "${r%%:*}" --dir "$WORK/redis-${r#*:}" \
		--appendonly yes --appendfsync "${r#*:}" --save '' --daemonize no > "$WORK/redis-${r#*:}.log" 2>&1 &
	PIDS+=($!)
	wait_port "${r%%:*}" "redis (${r#*:})"
done

cat > "$WORK/config.json" <<JSON
{"pg": "host=127.0.0.1 port=$PGPORT dbname=bench user=postgres",
 "etcd": "127.0.0.1:$ETCD_PORT", "zookeeper": "127.0.0.1:$ZK_PORT",
 "redis-always": "127.0.0.1:$R1", "redis-everysec": "127.0.0.1:$R2"}
JSON
chown postgres: "$WORK/config.json"

# ------------------------------------------------------------ measure
measure "every workload" peers.py runs.csv settings.txt \
	", Redis $(redis-server --version | grep -Eo 'v=[0-9.]+' | cut -d= -f2)"
/usr/bin/python3 "$HERE/report.py" "$RESULTS"
cat "$RESULTS/summary.md"

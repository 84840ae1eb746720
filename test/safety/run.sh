#!/usr/bin/env bash
# test/safety/run.sh [lscheck options...]
#
# Build the lock-safety checker and run it against a throwaway cluster.
# Defaults to the long run: 16 clients, 3 lock names, 30 minutes of faults,
# every nemesis.  Options given here override those defaults, e.g.
#
#   test/safety/run.sh                                # the long run (~31 min)
#   test/safety/run.sh --duration 60 --seed 42        # a short one
#   test/safety/run.sh --no-fence --nemesis pause     # must FAIL check 2
#
# --patroni runs it on the three-node Patroni cluster of scripts/ha.sh
# instead (as root; the cluster is taken down and brought up first, and
# down again at the end unless --keep-cluster), with its faults (partitions,
# switchover, failover, kill of the primary, SIGSTOP of its Patroni) besides
# pause, terminate and expire; --async (synchronous_mode off: the negative
# control, must FAIL) and --faketime NODE:OFFSET go to scripts/ha.sh up:
#
#   test/safety/run.sh --patroni --seed 7001          # 30 min under Patroni
#
# Runs as root (the server and the checker then run as 'postgres') or as
# the account that will own the cluster.  Needs lockservice installed
# (make install), gcc and libpq-dev, and libfaketime for the clock nemesis.
# The cluster, logs and history go to $LSCHECK_DIR (default
# /var/tmp/lscheck-run), which is emptied first.  Exit status: lscheck's
# (0 all checks passed, 1 a check failed, 2 setup error).

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
dir=${LSCHECK_DIR:-/var/tmp/lscheck-run}
bindir=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
pg_config=${bindir}/pg_config
[[ -x $pg_config ]] || pg_config=pg_config
incdir=$("$pg_config" --includedir)

# --patroni [--async] [--faketime NODE:OFFSET] [--keep-cluster]: the checker
# against the Patroni cluster of scripts/ha.sh (as root)
patroni=0 ha_up=() keep_cluster=0 args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --patroni) patroni=1; shift ;;
        --async) ha_up+=(--async); shift ;;
        --faketime) ha_up+=(--faketime "$2"); shift 2 ;;
        --keep-cluster) keep_cluster=1; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
if ((patroni == 0)) && [[ ${#ha_up[@]} -gt 0 ]]; then
    echo "run.sh: --async and --faketime go with --patroni" >&2
    exit 2
fi

run_as=()
if [[ $(id -u) -eq 0 && $patroni -eq 0 ]]; then
    run_as=(runuser -u postgres --)
fi

# stop a server left behind by an interrupted earlier run
if [[ -f $dir/data/postmaster.pid ]]; then
    "${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$dir"
mkdir -p "$dir"
if [[ ${#run_as[@]} -gt 0 ]]; then
    chown postgres: "$dir"
fi

gcc -Wall -Wextra -Werror -O2 -o "$dir/lscheck" "$here/lscheck.c" "-I$incdir" -lpq
chmod 755 "$dir/lscheck"

if ((patroni)); then
    [[ $(id -u) -eq 0 ]] || { echo "run.sh --patroni: run as root (network namespaces)" >&2; exit 2; }
    ha=$here/../../scripts/ha.sh
    ha_name=${LOCKSERVICE_HA_NAME:-lsha}
    "$ha" down >/dev/null 2>&1 || true
    if ! "$ha" up "${ha_up[@]}"; then
        echo "run.sh: the HA cluster did not come up" >&2
        "$ha" down >/dev/null 2>&1 || true
        exit 2
    fi
    rc=0
    "$dir/lscheck" --conninfo "$("$ha" conninfo)" --fault-cmd "$ha" \
        --client-netns "$ha_name-c0,$ha_name-c1" --superuser postgres --out "$dir/out" \
        --clients 16 --names 3 --duration 1800 --nemesis all "${args[@]}" || rc=$?
    # the nodes' logs beside the history
    for n in n1 n2 n3; do
        mkdir -p "$dir/out/$n"
        cp "${LOCKSERVICE_HA_DIR:-/var/tmp/lockservice-ha}/$n/patroni.log" "$dir/out/$n/" 2>/dev/null || true
        cp -r "${LOCKSERVICE_HA_DIR:-/var/tmp/lockservice-ha}/$n/data/log" "$dir/out/$n/" 2>/dev/null || true
    done
    if ((keep_cluster == 0)); then
        "$ha" down >/dev/null 2>&1 || true
    fi
    exit "$rc"
fi

# a free port
port=$((50000 + RANDOM % 10000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
done

cd "$dir"
exec "${run_as[@]}" "$dir/lscheck" \
    --initdb --pgdata "$dir/data" --host "$dir" --port "$port" \
    --bindir "$bindir" --out "$dir/out" \
    --clients 16 --names 3 --duration 1800 --nemesis all \
    "${args[@]}"

#!/usr/bin/env bash
# test/safety/ha-ci.sh: the CI run of the safety checker on a Patroni
# cluster (scripts/test.sh --suite ha runs it as root).
#
# Brings up scripts/ha.sh's cluster (three nodes in network namespaces, etcd,
# synchronous_mode_strict), runs lscheck with a fixed seed for one round of
# faults -- a partition of the primary (with clients on its side), a
# partition of the primary from etcd, SIGSTOP of the primary's Patroni,
# SIGKILL of the primary's postmaster, patronictl failover and switchover,
# and bursts of expiries -- then again in session mode (each client keeps
# two names in one session through a failover, a kill of the primary, a
# partition and a switchover), then test/safety/ha-lockctl.sh (lockctl holders
# on both sides of a partition of the primary), test/safety/ha-clients.sh
# (the Python, Go, Node.js and Java packages through a partition of the
# primary, of its replicas, kill-primary and switchover), and again with
# node n2's clock 2 s ahead for test/safety/ha-skew.sh (lease lengths across
# a switchover), and tears it all down.  Prints one "ok"/"not ok"
# line per assertion and ends with "ha: N passed, N failed".
#
# Environment: LSCHECK_DIR (history, default /var/tmp/lscheck-ha-ci),
# LSCHECK_SEED, and scripts/ha.sh's LOCKSERVICE_HA_* (scripts/test.sh points
# LOCKSERVICE_HA_BINDIR at its private PostgreSQL with lockservice in it).

set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ha=$here/../../scripts/ha.sh
dir=${LSCHECK_DIR:-/var/tmp/lscheck-ha-ci}
seed=${LSCHECK_SEED:-20261204}
name=${LOCKSERVICE_HA_NAME:-lsha}
bindir=${LOCKSERVICE_HA_BINDIR:-/usr/lib/postgresql/15/bin}
kinds=partition,partition-dcs,stop-patroni,kill-primary,failover,switchover,expire
# shellcheck source-path=SCRIPTDIR source=ha-tap.sh
. "$here/ha-tap.sh"

# sub SCRIPT NAME: run a script that ends with "NAME: N passed, N failed"
# and add its counts (a script that ends otherwise counts one failure)
sub() {
    local out=$dir/$2.out line p f
    "$1" >"$out" 2>&1
    cat "$out"
    line=$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$out")
    if [[ -z $line ]]; then
        p=0 f=1
    else
        read -r p f < <(sed -E "s/^$2: ([0-9]+) passed, ([0-9]+) failed/\\1 \\2/" <<<"$line")
    fi
    pass=$((pass + p)) fail=$((fail + f)) n=$((n + p + f))
}

finish() {
    "$ha" down >/dev/null 2>&1 || true
    echo "ha: $pass passed, $fail failed"
    exit $((fail > 0))
}

rm -rf "$dir"
mkdir -p "$dir"
gcc -Wall -Wextra -Werror -O2 -o "$dir/lscheck" "$here/lscheck.c" \
    "-I$("$bindir/pg_config" --includedir)" -lpq
ok $? "lscheck builds with -Wall -Wextra -Werror"

"$ha" down >/dev/null 2>&1 || true
t0=$SECONDS
"$ha" up >"$dir/ha-up.log" 2>&1
rc=$?
ok $rc "scripts/ha.sh up: three nodes, a leader streaming to two replicas, one synchronous ($((SECONDS - t0)) s)"
if ((rc != 0)); then
    tail -n 40 "$dir/ha-up.log"
    finish
fi

# round LABEL PREFIX KINDS SEED DURATION [LSCHECK ARGS...]: one round of
# the faults KINDS under the checker (history in $dir/out-LABEL, output in
# $dir/lscheck-LABEL.out); every check passes and every kind of fault happened
round() {
    local label=$1 prefix=$2 kinds=$3 seed=$4 duration=$5 rc c k t0=$SECONDS
    shift 5
    "$dir/lscheck" --conninfo "$("$ha" conninfo)" --fault-cmd "$ha" \
        --client-netns "$name-c0,$name-c1" --superuser postgres --out "$dir/out-$label" \
        --clients 8 --names 3 --duration "$duration" --hold-min 13000 --hold-max 16000 --seed "$seed" \
        --nemesis "$kinds" "$@" >"$dir/lscheck-$label.out" 2>&1
    rc=$?
    cat "$dir/lscheck-$label.out"
    echo "# lscheck ($label) ran $((SECONDS - t0)) s"
    ok $rc "${prefix}lscheck exits 0 (every check passed)"
    for c in 1 2 3 4 5; do
        grep -q "^check $c .*: PASS" "$dir/lscheck-$label.out"
        ok $? "${prefix}check $c passes"
    done
    for k in ${kinds//,/ }; do
        grep -Eq "^nemesis:.* $k [1-9][0-9]*;" "$dir/lscheck-$label.out"
        ok $? "${prefix}fault $k happened"
    done
}

round leases '' "$kinds" "$seed" 30
# after every fault of the cluster, some client was granted a lock again
awk '/^faults of the cluster/ { on = 1; next }
     on && /^  [a-z-]+ +[0-9]+ / { rows++; if ($NF != 0) bad++ }
     on && !/^  / { on = 0 }
     END { exit !(rows >= 6 && bad == 0) }' "$dir/lscheck-leases.out"
ok $? "a lock was granted after every fault of the cluster"

# session mode: each client keeps its names in one session, whose locks
# live and die with it through the faults that change the primary
round sessions 'session mode: ' failover,kill-primary,partition,switchover "$((seed + 1))" 20 --sessions 2

# lockctl holders on both sides of a partition of the primary
sub "$here/ha-lockctl.sh" ha-lockctl

# the four client packages through a partition of the primary, of its
# replicas, kill-primary and switchover
sub "$here/ha-clients.sh" ha-clients

# a node whose clock is 2 s ahead: lease lengths across a switchover
"$ha" down >/dev/null 2>&1 || true
"$ha" up --faketime n2:+2 >"$dir/ha-up-faketime.log" 2>&1
rc=$?
ok $rc "scripts/ha.sh up --faketime n2:+2 ($(grep -o 'server clock [-+0-9.]* s' "$dir/ha-up-faketime.log"))"
if ((rc == 0)); then
    sub "$here/ha-skew.sh" ha-skew
fi
finish

#!/usr/bin/env bash
# scripts/ha.sh: a local high-availability cluster for lockservice: three
# PostgreSQL 15 nodes managed by Patroni with an etcd DCS, each node (its
# PostgreSQL and its Patroni) in a network namespace of its own, so that a
# partition is real packet loss between nodes.
#
#   sudo scripts/ha.sh up [--async] [--faketime NODE:OFFSET]
#   sudo scripts/ha.sh status | conninfo | psql [PSQL ARGS...] | down
#   sudo scripts/ha.sh fault KIND [ARG] | heal | wait-healthy [SECONDS]
#   sudo scripts/ha.sh sync-to NODE
#
# up      installs the Debian packages it needs (patroni, python3-etcd,
#         etcd-server, nftables, PostgreSQL 15, build tools), builds and
#         installs lockservice (make install), creates the namespaces and
#         links, starts etcd and the three Patroni nodes, waits until a leader
#         and two streaming replicas (one synchronous) are there, and creates
#         the extension in database postgres.  --async: synchronous_mode off
#         (the negative control of the safety checker: a failover may lose
#         acknowledged leases).  --faketime n3:+2: node n3's postmaster runs
#         under libfaketime with its clock 2 s ahead.
# status  Patroni's view of the cluster (patronictl list) and the conninfo.
# conninfo  the multi-host libpq conninfo of the cluster (read-write node).
# leader, sync-standby  the name of the current leader, synchronous standby.
# psql    psql on the current leader, database postgres, as postgres.
# down    stops everything and removes the namespaces, links and data.
# fault   the nemesis of test/safety/lscheck.c (prints one line saying what
#         it did; every partition is symmetric packet loss, nft drop rules
#         inside the namespaces):
#           partition            the leader and the clients of namespace c0
#                                on one side, everything else (the replicas,
#                                etcd, the root namespace, clients c1) on the
#                                other
#           partition-dcs        the leader from etcd only
#           partition-replicas   the leader from the other nodes only
#           partition-clients C  client namespace C (c0, c1) from every node
#           switchover           patronictl switchover to the sync standby
#           failover             patronictl failover to the sync standby
#           kill-primary         SIGKILL of the leader's postmaster
#           stop-patroni         SIGSTOP of the leader's Patroni
# sync-to NODE  makes replica NODE the leader's synchronous standby: drops
#         the packets between the leader and the current synchronous standby
#         until Patroni names NODE, then lets them through and waits until
#         the cluster is healthy (a switchover goes to NODE after it).
# heal    removes every partition, SIGCONTs a stopped Patroni and waits until
#         the cluster is healthy again (wait-healthy).
#
# Layout (LOCKSERVICE_HA_NAME=lsha, LOCKSERVICE_HA_NET=10.89.0): a bridge
# lshabr in the root namespace (10.89.0.1); namespaces lsha-etcd (.10),
# lsha-n1..n3 (.11-.13: PostgreSQL on 5432, Patroni's REST API on 8008),
# lsha-c0, lsha-c1 (.20, .21: for clients, e.g. the checker's).  Data, logs
# and configuration in /var/tmp/lockservice-ha (LOCKSERVICE_HA_DIR).
# PostgreSQL and Patroni run as the postgres account; trust authentication
# on the private subnet (a test cluster, not a production setup).
# LOCKSERVICE_HA_BINDIR points Patroni at another PostgreSQL 15 (one with
# lockservice installed already: LOCKSERVICE_HA_NO_INSTALL=1 skips the
# build).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

NAME=${LOCKSERVICE_HA_NAME:-lsha}
NET=${LOCKSERVICE_HA_NET:-10.89.0}
DIR=${LOCKSERVICE_HA_DIR:-/var/tmp/lockservice-ha}
BINDIR=${LOCKSERVICE_HA_BINDIR:-$LS_PG_BIN}
NODES=(n1 n2 n3)
CLIENT_NS=(c0 c1)
BRIDGE=${NAME}br
PY=/usr/bin/python3

HA_PACKAGES=(patroni python3-etcd etcd-server nftables iproute2 libfaketime)

declare -A IP=([root]="$NET.1" [etcd]="$NET.10" [n1]="$NET.11" [n2]="$NET.12"
    [n3]="$NET.13" [c0]="$NET.20" [c1]="$NET.21")

ns() { printf '%s-%s' "$NAME" "$1"; }
in_ns() {
    local n=$1
    shift
    ip netns exec "$(ns "$n")" "$@"
}

# pg_in NS CMD...: CMD in namespace NS as the PostgreSQL account, in $DIR
# (Patroni's worker processes chdir to its working directory: the caller's
# may be closed to that account); exec all the way down, so that a
# background job's $! is CMD's own pid
pg_in() {
    local n=$1
    shift
    ip netns exec "$(ns "$n")" setpriv --reuid="$LS_PG_USER" --regid="$LS_PG_USER" --init-groups \
        env -C "$DIR" HOME="$DIR" "$@"
}

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
}

patronictl_() {
    patronictl -c "$DIR/patronictl.yml" "$@"
}

# members: "name role state timeline lag" for each member Patroni lists
members() {
    patronictl_ list -f json 2>/dev/null | "$PY" -c '
import json, sys
try:
    rows = json.load(sys.stdin)
except Exception:
    rows = []
for r in rows:
    lag = r.get("Lag in MB", "")
    print(r.get("Member"), r.get("Role", "").replace(" ", "_"), r.get("State", "").replace(" ", "_"),
          r.get("TL", "-"), "-" if lag in ("", None) else lag)
'
}

leader() {
    members | awk '!found && $2 == "Leader" && $3 == "running" { print $1; found = 1 }'
}

sync_standby() {
    members | awk '!found && $2 == "Sync_Standby" && ($3 == "streaming" || $3 == "running") { print $1; found = 1 }'
}

conninfo() {
    printf 'host=%s,%s,%s port=5432,5432,5432 target_session_attrs=read-write connect_timeout=2 tcp_user_timeout=4000 keepalives_idle=2 keepalives_interval=1 keepalives_count=2' \
        "${IP[n1]}" "${IP[n2]}" "${IP[n3]}"
}

# healthy: a running leader that streams to both replicas (one of them
# synchronous unless --async, and named so by Patroni), every member on the
# leader's timeline
healthy() {
    local out l want
    out=$(members)
    l=$(awk '$2 == "Leader" && $3 == "running" { print $1 }' <<<"$out")
    [[ $(wc -w <<<"$l") == 1 ]] || return 1
    awk '{ if ($2 == "Leader") tl = $4; else t[NR] = $4; n++ }
        END { for (i in t) if (t[i] != tl) exit 1; exit n != 3 }' <<<"$out" || return 1
    want="2 1"
    if [[ $(cat "$DIR/mode" 2>/dev/null) == async ]]; then
        want="2 0"
    else
        # Patroni names it in the DCS a moment after PostgreSQL reports it
        grep -q '^[^ ]* Sync_Standby ' <<<"$out" || return 1
    fi
    [[ $(leader_sql "$l" "SELECT count(*), count(*) FILTER (WHERE sync_state = 'sync')
        FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'" 2>/dev/null) == "$want" ]]
}

# leader_sql NODE SQL: one query on NODE through its unix socket (no
# network: a partition does not cut it), fields separated by a space
leader_sql() {
    ls_as_pg env PGOPTIONS="-c statement_timeout=5s" PGCONNECT_TIMEOUT=5 \
        "$LS_PG_BIN/psql" -X -A -t -F ' ' -q -h "$DIR/$1" -p 5432 -U postgres -d postgres \
        -c "$2" </dev/null
}

wait_healthy() {
    local limit=${1:-180} t0=$SECONDS
    while ! healthy; do
        if ((SECONDS - t0 > limit)); then
            echo "cluster not healthy after ${limit} s:" >&2
            members >&2
            return 1
        fi
        sleep 0.5
    done
}

# --- the network -----------------------------------------------------------

net_up() {
    local n
    ip link add "$BRIDGE" type bridge
    ip addr add "${IP[root]}/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for n in etcd "${NODES[@]}" "${CLIENT_NS[@]}"; do
        ip netns add "$(ns "$n")"
        ip link add "$NAME-$n" type veth peer name eth0 netns "$(ns "$n")"
        ip link set "$NAME-$n" master "$BRIDGE" up
        in_ns "$n" ip addr add "${IP[$n]}/24" dev eth0
        in_ns "$n" ip link set eth0 up
        in_ns "$n" ip link set lo up
        in_ns "$n" nft -f - <<EOF
table inet lsha {
    set blocked { type ipv4_addr; }
    chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
    chain output { type filter hook output priority 0; policy accept; ip daddr @blocked drop; }
}
EOF
    done
}

net_down() {
    local n
    for n in etcd "${NODES[@]}" "${CLIENT_NS[@]}"; do
        ip netns del "$(ns "$n")" 2>/dev/null || true
        ip link del "$NAME-$n" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
}

# block A B...: drop every packet between A and each B (both directions;
# A and B are namespace keys, "root" is the root namespace, blocked from
# inside the other side's namespace)
block() {
    local a=$1 b
    shift
    for b in "$@"; do
        if [[ $a != root ]]; then
            in_ns "$a" nft add element inet lsha blocked "{ ${IP[$b]} }"
        fi
        if [[ $b != root ]]; then
            in_ns "$b" nft add element inet lsha blocked "{ ${IP[$a]} }"
        fi
    done
}

unblock_all() {
    local n
    for n in etcd "${NODES[@]}" "${CLIENT_NS[@]}"; do
        in_ns "$n" nft flush set inet lsha blocked 2>/dev/null || true
    done
}

# --- the processes ---------------------------------------------------------

start_etcd() {
    mkdir -p "$DIR/etcd"
    chown "$LS_PG_USER": "$DIR/etcd"
    pg_in etcd etcd --name e1 --data-dir "$DIR/etcd/data" \
        --listen-client-urls "http://${IP[etcd]}:2379" --advertise-client-urls "http://${IP[etcd]}:2379" \
        --listen-peer-urls "http://${IP[etcd]}:2380" --initial-advertise-peer-urls "http://${IP[etcd]}:2380" \
        --initial-cluster "e1=http://${IP[etcd]}:2380" --enable-v2=true \
        >"$DIR/etcd/etcd.log" 2>&1 </dev/null &
    echo $! >"$DIR/etcd/pid"
}

# patroni_conf NODE SYNC(true|false) BINDIR
patroni_conf() {
    local n=$1 sync=$2 bindir=$3
    cat <<EOF
# written by scripts/ha.sh
scope: ${NAME}
namespace: /lockservice/
name: ${n}
restapi:
  listen: ${IP[$n]}:8008
  connect_address: ${IP[$n]}:8008
etcd:
  host: ${IP[etcd]}:2379
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    # a primary cut off from its standbys must stop quickly when it demotes
    # itself: its walsenders wait for them at shutdown (below: their
    # timeouts), and Patroni 3.0 may start a second demotion, and a second
    # postmaster, while the first one still waits
    primary_stop_timeout: 5
    synchronous_mode: ${sync}
    synchronous_mode_strict: ${sync}
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        shared_preload_libraries: lockservice
        synchronous_commit: "on"
        wal_log_hints: "on"
        lockservice.reap_interval: 1000ms
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        wal_sender_timeout: 5s
        tcp_user_timeout: 4000
        tcp_keepalives_idle: 2
        tcp_keepalives_interval: 1
        tcp_keepalives_count: 3
        log_line_prefix: '%m [%p] %a: '
        logging_collector: "on"
        log_directory: log
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host replication replicator ${NET}.0/24 trust
    - host all all ${NET}.0/24 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: ${IP[$n]}:5432
  connect_address: ${IP[$n]}:5432
  data_dir: ${DIR}/${n}/data
  bin_dir: ${bindir}
  pgpass: ${DIR}/${n}/pgpass
  use_unix_socket: true
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: ${DIR}/${n}
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
tags:
  nofailover: false
  noloadbalance: false
watchdog:
  mode: off
EOF
}

# a bin directory whose postgres runs under libfaketime OFFSET (the other
# programs are the real ones); prints its path
faketime_bindir() {
    local n=$1 off=$2 d f lib
    d=$DIR/$n/bin
    lib=$(find /usr/lib -path '*/faketime/libfaketime.so.1' -print -quit 2>/dev/null)
    [[ -n $lib ]] || ls_die "libfaketime not found"
    mkdir -p "$d"
    for f in "$BINDIR"/*; do
        ln -sf "$f" "$d/${f##*/}"
    done
    rm -f "$d/postgres"
    cat >"$d/postgres" <<EOF
#!/bin/sh
# node $n: the postmaster and its children see the clock $off s off
export LD_PRELOAD="$lib" FAKETIME="$off" FAKETIME_DONT_FAKE_MONOTONIC=1
exec "$BINDIR/postgres" "\$@"
EOF
    chmod 755 "$d/postgres"
    echo "$d"
}

start_patroni() {
    local n=$1
    pg_in "$n" patroni "$DIR/$n/patroni.yml" \
        >>"$DIR/$n/patroni.log" 2>&1 </dev/null &
    echo $! >"$DIR/$n/patroni.pid"
}

patroni_pid() {
    cat "$DIR/$1/patroni.pid" 2>/dev/null || true
}

postmaster_pid() {
    head -1 "$DIR/$1/data/postmaster.pid" 2>/dev/null || true
}

# --- commands --------------------------------------------------------------

cmd_up() {
    local sync=true ft_node='' ft_off='' n bindir tmp rc=0
    while [[ $# -gt 0 ]]; do
        case $1 in
            --async) sync=false; shift ;;
            --faketime)
                [[ $2 =~ ^(n[123]):([-+][0-9]+)$ ]] || ls_die "--faketime NODE:OFFSET, e.g. n3:+2"
                ft_node=${BASH_REMATCH[1]} ft_off=${BASH_REMATCH[2]}
                shift 2
                ;;
            *) ls_die "up: unknown option $1" ;;
        esac
    done
    if [[ $'\n'$(ip netns list)$'\n' == *$'\n'"$(ns n1)"[$' \n']* ]]; then
        ls_die "the cluster is up already (scripts/ha.sh down first)"
    fi
    ls_header "packages"
    LS_PACKAGES+=("${HA_PACKAGES[@]}")
    ls_ensure_packages
    if [[ -z ${LOCKSERVICE_HA_NO_INSTALL:-} ]]; then
        ls_header "build and install lockservice"
        tmp=$(mktemp -d /tmp/lockservice-ha-build.XXXXXX)
        ls_copy_tree "$LS_ROOT" "$tmp/src"
        ls_build_install "$tmp/src" "$BINDIR/pg_config" || rc=$?
        rm -rf "$tmp"
        ((rc == 0)) || ls_die "build or install failed"
    fi
    ls_header "network namespaces"
    if ! ip netns add "$NAME-probe" 2>/dev/null; then
        ls_die "cannot create network namespaces here (needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    fi
    ip netns del "$NAME-probe"
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chown "$LS_PG_USER": "$DIR"
    if [[ $sync == true ]]; then echo sync >"$DIR/mode"; else echo async >"$DIR/mode"; fi
    net_up
    ls_info "bridge $BRIDGE ${IP[root]}/24; namespaces $(ns etcd) $(ns n1) $(ns n2) $(ns n3) $(ns c0) $(ns c1)"
    ls_header "etcd and Patroni"
    start_etcd
    cat >"$DIR/patronictl.yml" <<EOF
scope: ${NAME}
namespace: /lockservice/
etcd:
  host: ${IP[etcd]}:2379
EOF
    for n in "${NODES[@]}"; do
        mkdir -p "$DIR/$n"
        bindir=$BINDIR
        if [[ $n == "$ft_node" ]]; then
            bindir=$(faketime_bindir "$n" "$ft_off")
            ls_info "$n: postgres under libfaketime, clock $ft_off s"
        fi
        patroni_conf "$n" "$sync" "$bindir" >"$DIR/$n/patroni.yml"
        chown -R "$LS_PG_USER": "$DIR/$n"
        chmod 700 "$DIR/$n"
        start_patroni "$n"
        # the first node bootstraps alone: the others clone it
        if [[ $n == n1 ]]; then
            local t0=$SECONDS
            until [[ $(leader) == n1 ]]; do
                ((SECONDS - t0 < 120)) || { tail -n 20 "$DIR/n1/patroni.log"; ls_die "n1 did not bootstrap"; }
                sleep 1
            done
        fi
    done
    wait_healthy 240 || { tail -n 20 "$DIR"/n*/patroni.log; ls_die "the cluster did not become healthy"; }
    run_psql -c "CREATE EXTENSION IF NOT EXISTS lockservice" >/dev/null
    if [[ -n $ft_node ]]; then
        local srv
        srv=$(leader_sql "$ft_node" "SELECT extract(epoch from pg_catalog.clock_timestamp())")
        ls_info "$ft_node: server clock $(awk -v s="$srv" -v l="$EPOCHREALTIME" 'BEGIN { printf "%+.2f", s - l }') s from the machine's"
    fi
    ls_header "up"
    cmd_status
}

run_psql() {
    local l
    l=$(leader)
    [[ -n $l ]] || ls_die "no leader"
    ls_as_pg "$LS_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$DIR/$l" -p 5432 -U postgres -d postgres "$@"
}

cmd_status() {
    if [[ ! -f $DIR/patronictl.yml ]]; then
        echo "no HA cluster ($DIR)"
        return 3
    fi
    patronictl_ list || true
    echo "mode: $(cat "$DIR/mode") replication; conninfo: $(conninfo)"
    echo "from a namespace: ip netns exec $(ns c0) psql \"\$(scripts/ha.sh conninfo) user=postgres dbname=postgres\""
}

cmd_down() {
    local n p
    for n in "${NODES[@]}"; do
        p=$(patroni_pid "$n")
        if [[ -n $p ]]; then
            kill -CONT "$p" 2>/dev/null || true
            kill -TERM "$p" 2>/dev/null || true
        fi
    done
    for n in "${NODES[@]}"; do
        p=$(patroni_pid "$n")
        local t0=$SECONDS
        while [[ -n $p ]] && kill -0 "$p" 2>/dev/null && ((SECONDS - t0 < 30)); do sleep 0.2; done
        if [[ -n $p ]]; then kill -KILL "$p" 2>/dev/null || true; fi
        p=$(postmaster_pid "$n")
        if [[ -n $p ]]; then kill -QUIT "$p" 2>/dev/null || true; fi
    done
    p=$(cat "$DIR/etcd/pid" 2>/dev/null || true)
    if [[ -n $p ]]; then kill -TERM "$p" 2>/dev/null || true; fi
    sleep 0.5
    # nothing of ours may outlive the namespaces
    for n in etcd "${NODES[@]}" "${CLIENT_NS[@]}"; do
        ip netns pids "$(ns "$n")" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    done
    net_down
    if [[ -z ${LOCKSERVICE_HA_KEEP:-} ]]; then
        rm -rf "$DIR"
    fi
    echo "HA cluster down"
}

cmd_fault() {
    local kind=$1 l s others=() n p
    l=$(leader)
    [[ -n $l ]] || { echo "no leader: nothing done"; return 0; }
    for n in "${NODES[@]}"; do
        [[ $n == "$l" ]] || others+=("$n")
    done
    case $kind in
        partition)
            block "$l" etcd "${others[@]}" root c1
            block c0 etcd "${others[@]}"
            echo "partition: {$l, c0} | {${others[*]}, etcd, c1, root}"
            ;;
        partition-dcs)
            block "$l" etcd
            echo "partition: $l | etcd"
            ;;
        partition-replicas)
            block "$l" "${others[@]}"
            echo "partition: $l | ${others[*]}"
            ;;
        partition-clients)
            local c=${2:-c0}
            block "$c" "${NODES[@]}"
            echo "partition: $c | ${NODES[*]} (leader $l)"
            ;;
        switchover | failover)
            # Patroni promotes only the synchronous standby its DCS names;
            # right after a change that key can lag a little: retry.
            # Asynchronous: any replica.
            local _
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                s=$(sync_standby)
                if [[ -z $s && $(cat "$DIR/mode") == async ]]; then
                    s=$(members | awk -v l="$l" '!found && $1 != l && $3 == "running" { print $1; found = 1 }')
                fi
                if [[ -n $s ]]; then
                    if [[ $kind == switchover ]]; then
                        patronictl_ switchover --leader "$l" --candidate "$s" --force >"$DIR/last-$kind.log" 2>&1 || true
                    else
                        patronictl_ failover --candidate "$s" --force >"$DIR/last-$kind.log" 2>&1 || true
                    fi
                    if grep -qi 'successfully' "$DIR/last-$kind.log"; then
                        echo "$kind: $l -> $s ($(grep -m1 -Eio 'successfully[^.]*' "$DIR/last-$kind.log"))"
                        return 0
                    fi
                fi
                sleep 1
                l=$(leader)
            done
            echo "$kind: did not succeed: $(tail -n 1 "$DIR/last-$kind.log" 2>/dev/null)"
            return 1
            ;;
        kill-primary)
            p=$(postmaster_pid "$l")
            [[ -n $p ]] && kill -KILL "$p"
            echo "SIGKILL postmaster $p of $l"
            ;;
        stop-patroni)
            p=$(patroni_pid "$l")
            kill -STOP "$p"
            echo "$l" >"$DIR/stopped"
            echo "SIGSTOP patroni $p of $l"
            ;;
        *) ls_die "unknown fault '$kind'" ;;
    esac
}

cmd_sync_to() {
    local node=${1:-} l s t0
    [[ -n $node && -n ${IP[$node]:-} ]] || ls_die "sync-to: which node? (n1, n2, n3)"
    wait_healthy 120 || return 1
    l=$(leader) s=$(sync_standby)
    [[ $l != "$node" ]] || ls_die "sync-to: $node is the leader"
    if [[ $s != "$node" ]]; then
        block "$l" "$s"
        t0=$SECONDS
        while [[ $(sync_standby) != "$node" ]]; do
            if ((SECONDS - t0 > 90)); then
                unblock_all
                echo "sync-to: Patroni did not name $node in 90 s (leader $l, sync standby $(sync_standby))" >&2
                return 1
            fi
            sleep 0.5
        done
        unblock_all
    fi
    wait_healthy 120 || return 1
    s=$(sync_standby)
    [[ $s == "$node" ]] || { echo "sync-to: the synchronous standby is $s again" >&2; return 1; }
    echo "sync-to: leader $(leader), synchronous standby $s"
}

cmd_heal() {
    local n
    unblock_all
    if [[ -f $DIR/stopped ]]; then
        n=$(cat "$DIR/stopped")
        kill -CONT "$(patroni_pid "$n")" 2>/dev/null || true
        rm -f "$DIR/stopped"
    fi
    wait_healthy "${1:-180}"
    echo "healed: leader $(leader)"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        up) ls_require_root; cmd_up "$@" ;;
        down) ls_require_root; cmd_down ;;
        status) cmd_status ;;
        conninfo) conninfo; echo ;;
        psql) run_psql "$@" ;;
        leader) leader ;;
        sync-standby) sync_standby ;;
        fault) ls_require_root; cmd_fault "$@" ;;
        heal) ls_require_root; cmd_heal "$@" ;;
        sync-to) ls_require_root; cmd_sync_to "$@" ;;
        wait-healthy) wait_healthy "$@" ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"

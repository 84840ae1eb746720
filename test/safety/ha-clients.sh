#!/usr/bin/env bash
# test/safety/ha-clients.sh: the four client packages through faults of
# scripts/ha.sh's cluster (run as root with the cluster up and healthy;
# test/safety/ha-ci.sh runs it).  Python (thread and asyncio), Go, Node.js
# and Java, each as processes of their own in the client namespaces
# (test/safety/ha-clients/: one small probe program per package, all
# printing "EPOCH EVENT [DETAILS]" lines), all packages at once, through the
# documented multi-host conninfo with the leader listed first:
#
# A. `fault partition` (the leader and namespace c0 | the rest, c1 among
#    them): a holder in c0 (ttl 6 s) must count its lease lost before the
#    other side is granted it; a waiter in c1 (a client that had used a
#    connection before the cut) must be granted that name within 5 s of the
#    new primary's first commit (a grant there: Patroni must have named a
#    synchronous standby for it first); a holder in c1 (ttl 40 s) must
#    renew on the new primary and keep its token; after the heal it
#    releases.
# B. `fault partition-replicas` (no commit completes): an acquire from c0
#    with a 2 s timeout must end in at most 3 s as outcome unknown or not
#    granted, never with a lease; after the heal a retry as the same holder
#    gets the lease the first call may have left (the server's token,
#    higher than any before the cut).
# C. `fault kill-primary`, then `fault switchover`, under a lease held with
#    the keepalive (ttl 30 s) in c1: kept with the same token and renewed on
#    the new primary, never counted held while anybody else had it (an
#    intruder asks for each name every 0.5 s), released at the end.
#
# Prints "ok"/"not ok" lines, the measured times, and
# "ha-clients: N passed, N failed".  Environment: LOCKSERVICE_HA_NAME (as
# ha.sh), LS_HA_CLIENTS (default "py pyaio go node java"), LS_GOCACHE (Go's
# build cache; scripts/test.sh passes the clients suite's).

set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src=$(cd -- "$here/../.." && pwd)
ha=$src/scripts/ha.sh
name=${LOCKSERVICE_HA_NAME:-lsha}
read -r -a pkgs <<<"${LS_HA_CLIENTS:-py pyaio go node java}"
work=$(mktemp -d /tmp/ha-clients.XXXXXX)
chmod 755 "$work"
PSQL=(psql -X -A -t -q)
# shellcheck source-path=SCRIPTDIR source=ha-tap.sh
. "$here/ha-tap.sh"

# --- the probes ------------------------------------------------------------

# build PKG: make PKG's probe runnable (status 0), output in $work/build-PKG.log
build() {
    case $1 in
        py | pyaio) /usr/bin/python3 -c 'import psycopg' ;;
        go)
            local gp=$work/gopath
            mkdir -p "$gp/src/github.com/lockservice"
            ln -sfn "$src/clients/go" "$gp/src/github.com/lockservice/lockservice-go"
            ln -sfn "$here/ha-clients/go" "$gp/src/lsprobe"
            (cd "$gp/src/lsprobe" && GO111MODULE=off GOPATH="$gp:/usr/share/gocode" \
                GOCACHE=${LS_GOCACHE:-$work/gocache} go build -o "$work/probe-go" .)
            ;;
        node)
            [[ -d $src/clients/node/node_modules/pg ]] ||
                (cd "$src/clients/node" && npm_config_cache=$work/npm-cache npm_config_update_notifier=false \
                    npm ci --no-audit --no-fund --loglevel=error)
            ;;
        java)
            mkdir -p "$work/java"
            # shellcheck disable=SC2046 # the sources' paths have no blanks
            javac -Xlint:all -Werror -d "$work/java" -cp /usr/share/java/postgresql.jar \
                $(find "$src/clients/java/src/main" -name '*.java') "$here/ha-clients/Probe.java"
            ;;
    esac
}

# conninfo, jdbc: the cluster with the leader's address first (the client
# meets the old primary first after a failover, as an application would)
hosts=()
set_hosts() {
    local l all
    l=$("$ha" leader)
    all=$("$ha" conninfo)
    all=${all#host=}
    IFS=, read -r -a all <<<"${all%% *}"
    hosts=("${all[@]}")
    put_first "${all[${l#n} - 1]}"
}
# put_first ADDRESS: that host first
put_first() {
    local h rest=()
    for h in "${hosts[@]}"; do
        [[ $h == "$1" ]] || rest+=("$h")
    done
    hosts=("$1" "${rest[@]}")
}
conninfo() {
    local h
    h=$(IFS=,; echo "${hosts[*]}")
    printf 'host=%s port=5432,5432,5432 target_session_attrs=read-write connect_timeout=2 tcp_user_timeout=4000 keepalives_idle=2 keepalives_interval=1 keepalives_count=2 user=postgres dbname=postgres' "$h"
}
jdbc() {
    local h
    h=$(printf '%s:5432,' "${hosts[@]}")
    printf 'jdbc:postgresql://%s/postgres?user=postgres&targetServerType=primary&connectTimeout=2' "${h%,}"
}

# probe NS PKG OUT ARGS...: PKG's probe in client namespace NS, in the
# background, its lines in OUT (standard error in OUT.err)
probe() {
    local ns=$1 pkg=$2 out=$3 cmd
    shift 3
    case $pkg in
        py) cmd=(/usr/bin/python3 "$here/ha-clients/probe.py") ;;
        pyaio) cmd=(/usr/bin/python3 "$here/ha-clients/probe.py" --aio) ;;
        go) cmd=("$work/probe-go") ;;
        node) cmd=(node "$here/ha-clients/probe.js") ;;
        java) cmd=(java -cp "$work/java:/usr/share/java/postgresql.jar" Probe) ;;
    esac
    ip netns exec "$name-$ns" env LS_CONNINFO="$(conninfo)" LS_JDBC_URL="$(jdbc)" \
        PYTHONPATH="$src/clients/python/src" PYTHONDONTWRITEBYTECODE=1 \
        LS_NODE_CLIENT="$src/clients/node" \
        "${cmd[@]}" "$@" >"$out" 2>"$out.err" </dev/null &
}

# --- reading what they printed ---------------------------------------------

# first FILE EVENT [FIELD]: the first line of EVENT: its time, or FIELD
first() { awk -v e="$2" -v f="${3:-1}" '$2 == e { print $f; exit }' "$1" 2>/dev/null; }
# wait_lines SECONDS EVENT FILE...: until each FILE has a line of EVENT (status 1 at the limit)
wait_lines() {
    local limit=$1 event=$2 f t0=$SECONDS
    shift 2
    for f in "$@"; do
        until [[ -n $(first "$f" "$event") ]]; do
            ((SECONDS - t0 > limit)) && return 1
            sleep 0.1
        done
    done
}
# wait_ended SECONDS FILE...: until each FILE's probe printed its result
wait_ended() {
    local limit=$1 f t0=$SECONDS
    shift
    for f in "$@"; do
        until grep -Eq '^[0-9.]+ (granted|notgranted|unknown|error) [0-9.]+' "$f" 2>/dev/null; do
            ((SECONDS - t0 > limit)) && return 1
            sleep 0.1
        done
    done
}
# result FILE: "EVENT SECONDS [TOKEN]" of an acquire probe
result() { grep -E '^[0-9.]+ (granted|notgranted|unknown|error) ' "$1" | tail -n 1 | cut -d' ' -f2-; }
# since T: seconds from the fault of the phase
since() { awk -v a="$1" -v b="$t_fault" 'BEGIN { if (a == "") print "-"; else printf "%+.2f", a - b }'; }
# held_after FILE T: whether FILE says "held" at or after T
held_after() { awk -v t="$2" '$2 == "held" && $1 >= t { found = 1; exit } END { exit !found }' "$1"; }
# tokens FILE: the distinct tokens of its held lines, in order
tokens() { awk '$2 == "held" && $3 != last { print $3; last = $3 }' "$1"; }
# show FILE: its lines for the log, held lines folded
show() {
    awk -v p="$2" '$2 == "held" { if (!h) first = $1; h++; last = $0; next }
        { if (h) { print "#   " p ": ... " h " held lines from " first " to " last; h = 0 } print "#   " p ": " $0 }
        END { if (h) print "#   " p ": ... " h " held lines from " first " to " last }' "$1" | tail -n 8
    [[ -s $1.err ]] && sed "s/^/#   $2 (stderr): /" "$1.err" | tail -n 5
    return 0
}

# sql QUERY: on the current primary, from the root namespace, retried
sql() { sql_retry "$(conninfo)" "$1"; }
# lease NAME: "token holder expires_at(epoch)" of NAME's live lease
lease() {
    sql "SELECT token, holder, extract(epoch FROM expires_at) FROM lockservice.leases
        WHERE name OPERATOR(pg_catalog.=) '$1' AND released_at IS NULL AND expires_at > now()" | tr '|' ' '
}

# wait_renewed NAME AFTER OUT: until NAME's lease on the primary expires
# after AFTER (epoch seconds: a renewal there moved it), for up to 60 s;
# its expires_at goes to OUT
wait_renewed() {
    local exp
    for _ in $(seq 1 300); do
        read -r _ _ exp < <(lease "$1")
        awk -v e="${exp:-0}" -v t="$2" 'BEGIN { exit !(e > t) }' && break
        sleep 0.2
    done
    echo "$exp" >"$3"
}
# after T SECONDS: T + SECONDS
after() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.3f", t + s }'; }

# failover_at: "WRITABLE COMMITS ADDRESS": when a node other than the first
# of hosts (the old leader) first took read-write sessions, and when a grant
# first committed there -- later, while Patroni has not yet named a
# synchronous standby for it (synchronous_mode_strict holds every commit)
failover_at() {
    local ip t_w
    for _ in $(seq 1 900); do
        for ip in "${hosts[@]:1}"; do
            if [[ $("${PSQL[@]}" -d "host=$ip port=5432 user=postgres dbname=postgres connect_timeout=1" \
                -c "SELECT NOT pg_catalog.pg_is_in_recovery()" 2>/dev/null) == t ]]; then
                t_w=$EPOCHREALTIME
                for _ in $(seq 1 300); do
                    "${PSQL[@]}" -d "host=$ip port=5432 user=postgres dbname=postgres connect_timeout=1" \
                        -c "SELECT lockservice.lock_acquire('ha-clients-commit', 'root', '1s')" \
                        >/dev/null 2>&1 && break
                    sleep 0.1
                done
                echo "$t_w $EPOCHREALTIME $ip"
                return 0
            fi
        done
        sleep 0.1
    done
}

# --- build -----------------------------------------------------------------

ready=()
for p in "${pkgs[@]}"; do
    build "$p" >"$work/build-$p.log" 2>&1
    rc=$?
    ok $rc "$p: the probe builds (test/safety/ha-clients/)"
    if ((rc == 0)); then
        ready+=("$p")
    else
        tail -n 20 "$work/build-$p.log" | sed 's/^/#   /'
    fi
done
pkgs=("${ready[@]}")
if [[ ${#pkgs[@]} -eq 0 ]]; then
    echo "ha-clients: $pass passed, $fail failed"
    exit 1
fi
"$ha" wait-healthy 120 >/dev/null

# --- A: partition of the primary -------------------------------------------

echo "# A: partition of the primary (the leader and c0 | the replicas, etcd, c1)"
set_hosts
sql "SELECT lockservice.force_release(p || n) FROM unnest('{$(IFS=,; echo "${pkgs[*]}")}'::text[]) p,
    unnest('{-old,-new,-unk,-ka}'::text[]) n" >/dev/null
old=() new=() waiter=()
for p in "${pkgs[@]}"; do
    probe c0 "$p" "$work/A-$p-old" hold "$p-old" 6 "h-$p-old" "$work/A.stop"
    probe c1 "$p" "$work/A-$p-new" hold "$p-new" 40 "h-$p-new" "$work/A.stop"
    probe c1 "$p" "$work/A-$p-wait" acquire "$p-old" 10 60 70 "h-$p-wait" "$work/A.go"
    old+=("$work/A-$p-old") new+=("$work/A-$p-new") waiter+=("$work/A-$p-wait")
done
wait_lines 90 granted "${old[@]}" "${new[@]}" && wait_lines 60 ready "${waiter[@]}"
ok $? "every probe is up: holders on both sides, waiters ready"
sleep 2.5 # a renewal or two before the cut
t_fault=$EPOCHREALTIME
"$ha" fault partition
touch "$work/A.go"
read -r t_rw t_commit rw_ip < <(failover_at)
echo "# new primary $rw_ip: read-write sessions at $(since "$t_rw") s, the first commit at $(since "$t_commit") s"
# from here on this script's own queries go there first (the probes keep
# the order they were started with)
put_first "$rw_ip"
wait_ended 90 "${waiter[@]}"
# the new side's holders renew on the new primary: each lease outlasts
# anything granted before the cut (ttl 40 s)
a_renewed=$(after "$t_fault" 40.2)
for p in "${pkgs[@]}"; do
    wait_renewed "$p-new" "$a_renewed" "$work/A-$p-new.exp"
done
"$ha" heal >/dev/null
touch "$work/A.stop"
wait_lines 60 released "${new[@]}"
for p in "${pkgs[@]}"; do
    f=$work/A-$p
    echo "# $p:"
    show "$f-old" "$p old side (ttl 6 s)"
    show "$f-wait" "$p waiter, other side"
    show "$f-new" "$p new side (ttl 40 s)"
    t_lost=$(first "$f-old" lost)
    read -r ev took tok < <(result "$f-wait")
    t_grant=$(first "$f-wait" granted)
    old_tok=$(first "$f-old" granted 3)
    ok "$([[ -n $t_lost && $ev == granted ]] &&
        awk -v a="$t_lost" -v b="$t_grant" 'BEGIN { exit !(a < b) }' &&
        ! held_after "$f-old" "$t_grant"; echo $?)" \
        "$p: the holder next to the old primary counts its lease lost ($(since "$t_lost") s) before the other side is granted it ($(since "$t_grant") s)"
    ok "$([[ $ev == granted ]] && awk -v g="$t_grant" -v c="$t_commit" -v t="$tok" -v o="$old_tok" \
        'BEGIN { exit !(g <= c + 5 && t + 0 > o + 0) }'; echo $?)" \
        "$p: a waiter on the healthy side is granted it within 5 s of the new primary's first commit ($ev $(since "$t_grant") s, first commit $(since "$t_commit") s), with a higher token"
    exp=$(cat "$f-new.exp")
    ok "$([[ -z $(first "$f-new" lost) && $(tokens "$f-new") == "$(first "$f-new" granted 3)" ]] &&
        awk -v e="${exp:-0}" -v t="$a_renewed" 'BEGIN { exit !(e > t) }'; echo $?)" \
        "$p: the holder on the healthy side renews on the new primary and keeps its token"
    ok "$([[ $(first "$f-new" released 3) == true ]]; echo $?)" "$p: after the heal it releases its lease"
done

# --- B: the synchronous standby cut off ------------------------------------

echo "# B: partition of the replicas (no commit completes until the heal)"
set_hosts
unk=()
for p in "${pkgs[@]}"; do
    probe c0 "$p" "$work/B-$p" acquire "$p-unk" 30 0 2 "h-$p-unk" "$work/B.go"
    unk+=("$work/B-$p")
done
wait_lines 60 ready "${unk[@]}"
ok $? "every probe is up (B)"
before=$(sql "SELECT lockservice.lock_acquire('ha-clients-ref', 'ref', '1s')")
t_fault=$EPOCHREALTIME
"$ha" fault partition-replicas
touch "$work/B.go"
wait_ended 30 "${unk[@]}"
"$ha" heal >/dev/null
retry=()
for p in "${pkgs[@]}"; do
    probe c0 "$p" "$work/B-$p-retry" acquire "$p-unk" 30 0 20 "h-$p-unk" "$work/B.go"
    retry+=("$work/B-$p-retry")
done
wait_ended 60 "${retry[@]}"
for p in "${pkgs[@]}"; do
    f=$work/B-$p
    show "$f" "$p cut off"
    show "$f-retry" "$p retry"
    read -r ev took _ < <(result "$f")
    ok "$([[ $ev == unknown || $ev == notgranted ]] && awk -v t="$took" 'BEGIN { exit !(t <= 3) }'; echo $?)" \
        "$p: an acquire with a 2 s timeout while no commit completes ends as outcome unknown or not granted in <= 3 s ($ev, $took s)"
    read -r ev2 _ tok2 < <(result "$f-retry")
    read -r stok sholder _ < <(lease "$p-unk")
    ok "$([[ $ev2 == granted && $tok2 == "$stok" && $sholder == "h-$p-unk" ]] &&
        awk -v t="$tok2" -v b="$before" 'BEGIN { exit !(t + 0 > b + 0) }'; echo $?)" \
        "$p: after the heal a retry as the same holder gets the lease on the server ($ev2 $tok2; server $stok; before the cut $before)"
done

# --- C: kill-primary and switchover under a kept lease ---------------------

echo "# C: kill-primary, then switchover, under leases kept alive (ttl 30 s)"
set_hosts
ka=()
for p in "${pkgs[@]}"; do
    probe c1 "$p" "$work/C-$p" hold "$p-ka" 30 "h-$p-ka" "$work/C.stop"
    ka+=("$work/C-$p")
done
wait_lines 90 granted "${ka[@]}"
ok $? "every probe is up (C)"
names=$(printf "'%s-ka'," "${pkgs[@]}")
(
    # the intruder: whoever gets a name while its holder counts it held
    while [[ ! -e $work/C.stop ]]; do
        "${PSQL[@]}" -F ' ' -d "$(conninfo)" -c "SELECT extract(epoch FROM pg_catalog.clock_timestamp()), n, t
            FROM unnest(ARRAY[${names%,}]) n, lockservice.lock_acquire(n, 'intruder', '2s') t
            WHERE t IS NOT NULL" >>"$work/C-intruder" 2>/dev/null
        sleep 0.5
    done
) &
intruder=$!
t_fault=$EPOCHREALTIME
"$ha" fault kill-primary
"$ha" wait-healthy 120 >/dev/null
echo "# healthy again at $(since "$EPOCHREALTIME") s"
"$ha" fault switchover
"$ha" wait-healthy 120 >/dev/null
t_sw=$EPOCHREALTIME
echo "# healthy again at $(since "$t_sw") s"
c_renewed=$(after "$t_sw" 29)
for p in "${pkgs[@]}"; do
    wait_renewed "$p-ka" "$c_renewed" "$work/C-$p.exp"
done
touch "$work/C.stop"
wait "$intruder"
wait_lines 60 released "${ka[@]}"
[[ -s $work/C-intruder ]] && sed 's/^/#   intruder granted: /' "$work/C-intruder"
for p in "${pkgs[@]}"; do
    f=$work/C-$p
    show "$f" "$p"
    exp=$(cat "$f.exp")
    ok "$([[ -z $(first "$f" lost) && $(tokens "$f") == "$(first "$f" granted 3)" ]] &&
        awk -v e="${exp:-0}" -v t="$c_renewed" 'BEGIN { exit !(e > t) }'; echo $?)" \
        "$p: the lease is kept through kill-primary and switchover, same token, renewed on the new primary"
    bad=0
    while read -r t_i n_i _; do
        [[ $n_i == "$p-ka" ]] && held_after "$f" "$t_i" && bad=1
    done <"$work/C-intruder"
    ok "$bad" "$p: never counted held once anybody else was granted it; tokens only rise ($(tokens "$f" | tr '\n' ' '))"
    ok "$([[ $(first "$f" released 3) == true ]]; echo $?)" "$p: at the end it releases its lease"
done

wait
rm -rf "$work"
echo "ha-clients: $pass passed, $fail failed"
exit $((fail > 0))

#!/usr/bin/env bash
# test/safety/ha-skew.sh: what a node whose clock is off does to lease
# lengths across a switchover (run as root with the cluster up as
# `scripts/ha.sh up --faketime n2:+2`).
#
# A lease of 30 s is granted on a node with the machine's clock, the
# primary is switched over to n2 (2 s ahead), and another holder waits for
# the name there: the lease lasts 30 s - 2 s in real time.  Then the other
# way round: granted on n2, switched over to a node with the machine's
# clock: 30 s + 2 s.  A fenced write with the first holder's token after
# the second holder's fenced write is refused either way.  Prints the real
# lengths and "ha-skew: N passed, N failed".

set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ha=$here/../../scripts/ha.sh
ci="$("$ha" conninfo) user=postgres dbname=postgres"
PSQL=(psql -X -A -t -q -v ON_ERROR_STOP=1)
# shellcheck source-path=SCRIPTDIR source=ha-tap.sh
. "$here/ha-tap.sh"

sql() { sql_retry "$ci" "$1"; }

# arrange WHICH: "to-n2": the leader has the machine's clock and n2 is its
# synchronous standby (the only candidate of a switchover); "from-n2": n2 is
# the leader.  Made, not waited for: a switchover moves the leadership away
# from n2, `ha.sh sync-to n2` names n2 the synchronous standby.  Each step
# and the state it left go to standard error.
arrange() {
    local l
    l=$("$ha" leader)
    if [[ $1 == to-n2 && $l == n2 ]]; then
        "$ha" fault switchover >&2 && "$ha" wait-healthy 120 >&2 || return 1
    fi
    if [[ $1 == to-n2 || $l != n2 ]]; then
        "$ha" sync-to n2 >&2 || return 1
    fi
    if [[ $1 == from-n2 && $l != n2 ]]; then
        "$ha" fault switchover >&2 && "$ha" wait-healthy 120 >&2 || return 1
    fi
    l=$("$ha" leader)
    echo "arranged $1: leader $l, synchronous standby $("$ha" sync-standby)" >&2
    case $1 in
        to-n2) [[ -n $l && $l != n2 && $("$ha" sync-standby) == n2 ]] ;;
        from-n2) [[ $l == n2 ]] ;;
    esac
}

# measure WHICH NAME: arrange WHICH, grant NAME (ttl 30 s) on the leader,
# switch over, wait for NAME on the new leader; prints the real seconds from
# the first grant's request to the second grant, the two tokens, and what
# the fence said to the first token afterwards
measure() {
    local which=$1 name=$2 t0 tok1 tok2 t1
    arrange "$which" || { echo "cannot arrange $which" >&2; return 1; }
    sql "SELECT lockservice.force_release('$name')" >/dev/null
    sql "CREATE TABLE IF NOT EXISTS skew_register (id serial, token bigint)" >/dev/null
    t0=$EPOCHREALTIME
    tok1=$(sql "SELECT lockservice.lock_acquire('$name', 'first', '30s')")
    "$ha" fault switchover >&2
    tok2=$(sql "SELECT lockservice.lock_acquire('$name', 'second', '30s', '90s')")
    t1=$EPOCHREALTIME
    sql "BEGIN; SELECT lockservice.fence('skew-$name', $tok2); INSERT INTO skew_register (token) VALUES ($tok2); COMMIT" >/dev/null
    local said
    said=$("${PSQL[@]}" -v VERBOSITY=verbose -d "$ci" \
        -c "BEGIN; SELECT lockservice.fence('skew-$name', $tok1); COMMIT" 2>&1)
    if [[ $said == *LS001* ]]; then said=refused; else said=accepted; fi
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $tok1 $tok2 $said"
}

read -r short s1 s2 sf < <(measure to-n2 skew-a)
echo "# granted on a node with the machine's clock, switched over to n2 (+2 s): the 30 s lease lasted $short s (tokens $s1 -> $s2)"
ok "$(awk -v x="$short" 'BEGIN { exit !(x > 26 && x < 29.5) }'; echo $?)" \
    "a lease granted on a node with the machine's clock ends about 2 s early on a node 2 s ahead ($short s)"
ok "$([[ $sf == refused ]]; echo $?)" "the first holder's late fenced write is refused"
read -r long l1 l2 lf < <(measure from-n2 skew-b)
echo "# granted on n2 (+2 s), switched over to a node with the machine's clock: the 30 s lease lasted $long s (tokens $l1 -> $l2)"
ok "$(awk -v x="$long" 'BEGIN { exit !(x > 31 && x < 36) }'; echo $?)" \
    "a lease granted on a node 2 s ahead lasts about 2 s longer on a node with the machine's clock ($long s)"
ok "$([[ $lf == refused ]]; echo $?)" "the first holder's late fenced write is refused"
echo "ha-skew: $pass passed, $fail failed"
exit $((fail > 0))

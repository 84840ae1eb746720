#!/usr/bin/env bash
# test/safety/ha-lockctl.sh: what lockctl holders see when the primary of
# scripts/ha.sh's cluster is cut off (run as root with the cluster up;
# test/safety/ha-ci.sh runs it).
#
# Two `lockctl run` holders through the cluster's multi-host conninfo:
#   old side   in namespace c0 (with the primary after the partition),
#              --ttl 6s: its renewals hang (the primary cannot commit without
#              its synchronous standby), so it must stop its command by its
#              local deadline and exit 3, before a waiter on the other side
#              can be granted the lock;
#   new side   in namespace c1 (with the replicas), --ttl 40s: it must follow
#              the new primary and keep its lease, same token, command alive.
# Then `ha.sh fault partition` (held until a new primary accepts the
# waiter's grant), heal.  Prints "ok"/"not ok" lines, the timeline in
# seconds from the fault, and "ha-lockctl: N passed, N failed".

set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ha=$here/../../scripts/ha.sh
name=${LOCKSERVICE_HA_NAME:-lsha}
work=$(mktemp -d /tmp/ha-lockctl.XXXXXX)
chmod 755 "$work"
ci="$("$ha" conninfo) user=postgres dbname=postgres"
PSQL=(psql -X -A -t -q)
# shellcheck source-path=SCRIPTDIR source=ha-tap.sh
. "$here/ha-tap.sh"

# stamp: prefix each line read with the wall clock (epoch seconds)
stamp() {
    local l
    while IFS= read -r l; do
        printf '%s %s\n' "$EPOCHREALTIME" "$l"
    done
}

# holder SIDE NAME TTL: lockctl run in namespace SIDE; its command writes the
# time into $work/NAME.alive every 50 ms (by a rename: never read
# half-written); lockctl's messages, stamped, go to $work/NAME.log, its exit
# status to $work/NAME.rc
holder() {
    local side=$1 lock=$2 ttl=$3
    (
        ip netns exec "$name-$side" lockctl -d "$ci" -vv run "$lock" --ttl "$ttl" --grace 2s -- \
            bash -c "while :; do echo \$EPOCHREALTIME > '$work/$lock.tmp'; mv '$work/$lock.tmp' '$work/$lock.alive'; sleep 0.05; done" \
            2> >(stamp >"$work/$lock.log")
        echo $? >"$work/$lock.rc"
    ) &
}

# the token and holder of NAME on the current primary
lease_of() {
    "${PSQL[@]}" -d "$ci" -c "SELECT token, holder FROM lockservice.leases
        WHERE name OPERATOR(pg_catalog.=) '$1' AND released_at IS NULL AND expires_at > now()"
}

"${PSQL[@]}" -d "$ci" -c "SELECT lockservice.force_release(n) FROM (VALUES ('ha-old'), ('ha-new')) v(n)" >/dev/null
holder c0 ha-old 6s
holder c1 ha-new 40s
for _ in $(seq 1 100); do
    [[ -s $work/ha-old.alive && -s $work/ha-new.alive ]] && break
    sleep 0.1
done
old_before=$(lease_of ha-old)
new_before=$(lease_of ha-new)
ok "$([[ -n $old_before && -n $new_before ]]; echo $?)" "both holders run their commands (ha-old: $old_before; ha-new: $new_before)"
sleep 2.5

t_fault=$EPOCHREALTIME
"$ha" fault partition
t_cut=$EPOCHREALTIME
# the other side waits for ha-old: granted once the old lease has expired on
# a primary that can commit
# (from the root namespace: no read-write node is reachable until the
# replicas' side has promoted one, so connecting is retried)
grant=''
for _ in $(seq 1 120); do
    grant=$("${PSQL[@]}" -d "$ci" -c "SELECT lockservice.lock_acquire('ha-old', 'other-side', '10s', '120s'),
        extract(epoch from pg_catalog.clock_timestamp())" 2>/dev/null) && break
    sleep 0.5
done
t_grant=${grant#*|}
token_other=${grant%%|*}
for _ in $(seq 1 300); do
    [[ -s $work/ha-old.rc ]] && break
    sleep 0.1
done
t_new_renewal=''
for _ in $(seq 1 300); do
    # confirmed after the cut: only a new primary can commit it
    t_new_renewal=$(awk -v t="$t_cut" '$1 > t && /renewed/ { print $1; exit }' "$work/ha-new.log")
    [[ -n $t_new_renewal ]] && break
    sleep 0.1
done
new_after=$(lease_of ha-new)
"$ha" heal >/dev/null

old_rc=$(cat "$work/ha-old.rc" 2>/dev/null || echo none)
old_last=$(cat "$work/ha-old.alive")
old_lost=$(awk '/lease lost/ { print $1; exit }' "$work/ha-old.log")
new_alive=$(cat "$work/ha-new.alive")
since() { awk -v a="$1" -v b="$t_fault" 'BEGIN { if (a == "") print "-"; else printf "%+.2f", a - b }'; }
echo "# timeline, seconds from the partition (old primary and namespace c0 on one side):"
echo "#   ha-old (ttl 6s): last confirmed renewal $(since "$(awk '/renewed/ { t = $1 } $1 > '"$t_fault"' { exit } END { print t }' "$work/ha-old.log")"), lockctl says lost $(since "$old_lost"), command last alive $(since "$old_last"), lockctl exit $old_rc"
echo "#   other side: ha-old granted $(since "$t_grant") (token $token_other)"
echo "#   ha-new (ttl 40s): first renewal confirmed after the cut $(since "$t_new_renewal"), command alive at $(since "$new_alive")"
sed "s/^/#   ha-old: /" "$work/ha-old.log" | tail -n 12
sed "s/^/#   ha-new: /" "$work/ha-new.log" | tail -n 12

ok "$([[ $old_rc == 3 ]]; echo $?)" "the holder on the old primary's side exits 3 (lease lost)"
ok "$(awk -v a="$old_last" -v b="$t_grant" 'BEGIN { exit !(a != "" && b != "" && a < b) }'; echo $?)" \
    "its command stopped before the other side was granted the lock"
ok "$(awk -v t="${old_before%%|*}" -v u="$token_other" 'BEGIN { exit !(u + 0 > t + 0) }'; echo $?)" \
    "the other side's token is higher than the old holder's"
ok "$([[ -n $t_new_renewal && ${new_after%%|*} == "${new_before%%|*}" ]]; echo $?)" \
    "the holder on the replicas' side renewed on the new primary and kept its token"
ok "$(awk -v a="$new_alive" -v b="$t_new_renewal" 'BEGIN { exit !(a >= b) }'; echo $?)" \
    "its command ran on through the failover"
pkill -TERM -f "lockctl .* run ha-new" 2>/dev/null
for _ in $(seq 1 100); do
    [[ -s $work/ha-new.rc ]] && break
    sleep 0.1
done
ok "$([[ -z $(lease_of ha-new) ]]; echo $?)" "stopped, it released its lease on the new primary"
rm -rf "$work"
echo "ha-lockctl: $pass passed, $fail failed"
exit $((fail > 0))

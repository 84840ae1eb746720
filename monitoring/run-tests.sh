#!/bin/bash
# The monitoring pieces' tests (scripts/test.sh --suite clients --client monitoring):
# promtool checks alerts.yml; the real postgres_exporter runs with queries.yaml
# against the harness's server as a pg_monitor role, and its metrics must move
# with real traffic: leases, waiters, expiry and reaping, refused renewals and
# fences, bounded name classes.
set -uo pipefail
cd "$(dirname "$0")"
here=$PWD
work=${LS_WORKDIR:-$(mktemp -d)}/monitoring
mkdir -p "$work"
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

admin() { psql "$LS_ADMIN_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
app() { psql "$LS_DSN" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

exporter_pid=""
waiter_pid=""
cleanup() {
	[ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null
	[ -n "$waiter_pid" ] && kill "$waiter_pid" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

# --- the alert rules
check "promtool accepts alerts.yml" promtool check rules alerts.yml

# --- the exporter, as a monitoring role that is not a superuser
admin "DO \$\$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ls_monitor') THEN
           CREATE ROLE ls_monitor LOGIN IN ROLE pg_monitor;
         END IF;
       END \$\$"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATA_SOURCE_NAME="postgresql://ls_monitor@127.0.0.1:${PGPORT}/lstest?sslmode=disable" \
	prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port" \
	--extend.query-path="$here/queries.yaml" --log.level=warn > "$work/exporter.log" 2>&1 &
exporter_pid=$!

scrape() { curl -fsS --max-time 20 "http://127.0.0.1:$port/metrics" > "$work/metrics" 2>/dev/null; }
# metric NAME [LABEL-REGEX]: the sum of the samples of NAME whose labels match
metric() {
	awk -v name="$1" -v labels="${2:-}" '
		index($0, name "{") == 1 || index($0, name " ") == 1 {
			l = $1; sub(/^[^{]*/, "", l)
			if (labels == "" || l ~ labels) { s += $NF; n++ }
		}
		END { if (n) printf "%.0f\n", s; else print "absent" }' "$work/metrics"
}
ge() { [ "$1" != absent ] && [ "$1" -ge "$2" ]; }
eq() { [ "$1" = "$2" ]; }
# wait_metric NAME LABELS MIN: scrape until the metric reaches MIN (60 s at most)
wait_metric() {
	local i v
	for i in $(seq 1 120); do
		scrape && v=$(metric "$1" "$2") && ge "$v" "$3" && return 0
		sleep 0.5
	done
	echo "# $1{$2} = ${v:-?}, expected >= $3" >&2
	return 1
}

up=1
for i in $(seq 1 100); do scrape && break; sleep 0.2; done
check "the exporter serves /metrics" scrape || up=0
if [ "$up" = 0 ]; then
	cat "$work/exporter.log"
	echo "monitoring: $passed passed, $((failed + 1)) failed"; exit 1
fi
check "pg_up is 1 for the monitoring role" eq "$(metric pg_up)" 1
check "lockservice_stats_acquires is exported" ge "$(metric lockservice_stats_acquires)" 0
check "lockservice_reaper_behind is exported and 0" eq "$(metric lockservice_reaper_behind 'datname="lstest"')" 0
if grep -q "lockservice" "$work/exporter.log"; then not_ok "no query errors in the exporter's log"; grep lockservice "$work/exporter.log"; else ok "no query errors in the exporter's log"; fi

# --- leases per class
acq0=$(metric lockservice_stats_acquires)
app "SELECT lockservice.lock_acquire('inv:' || g, 'm', '1 hour') FROM generate_series(1, 3) g" > /dev/null
app "SELECT lockservice.lock_acquire('job/' || g, 'm', '1 hour') FROM generate_series(1, 2) g" > /dev/null
app "SELECT lockservice.lock_acquire_shared('plain', 'm', '1 hour')" > /dev/null
scrape
check "live leases of class inv: 3" eq "$(metric lockservice_leases_live 'class="inv",.*kind="exclusive"')" 3
check "live leases of class job: 2" eq "$(metric lockservice_leases_live 'class="job"')" 2
check "a name without a class: (none), shared" eq "$(metric lockservice_leases_live 'class="\(none\)",.*kind="shared"')" 1
check "lockservice_stats_live_leases counts them" ge "$(metric lockservice_stats_live_leases)" 6
check "lockservice_stats_acquires moved by 6" ge "$(( $(metric lockservice_stats_acquires) - acq0 ))" 6

# --- waiters
psql "$LS_DSN" -XAtq -c "SELECT lockservice.lock_acquire('inv:1', 'w', '1 min', '60 s')" > "$work/waiter.out" 2>&1 &
waiter_pid=$!
check "a waiter shows in lockservice_stats_waiters" wait_metric lockservice_stats_waiters "" 1
# (the exporter runs its queries one after another, in no fixed order: wait for this one too)
check "... and in lockservice_leases_waiters for class inv" wait_metric lockservice_leases_waiters 'class="inv"' 1
admin "SELECT lockservice.force_release('inv:1')" > /dev/null
wait "$waiter_pid"; waiter_pid=""
check "the waiter was granted when the lease ended" grep -Eq '^[0-9]+$' "$work/waiter.out"
scrape
check "lockservice_stats_waiters back to 0" eq "$(metric lockservice_stats_waiters)" 0
check "lockservice_stats_acquires_waited counted it" ge "$(metric lockservice_stats_acquires_waited)" 1

# --- expiry, reaping, refused renewals and fences
exp0=$(metric lockservice_stats_expirations_reaped)
rep0=$(metric lockservice_reaper_reaped 'datname="lstest"'); [ "$rep0" = absent ] && rep0=0
tok=$(app "SELECT lockservice.lock_acquire('exp:1', 'm', '1 s')")
check "an expired lease counts in expirations_reaped" wait_metric lockservice_stats_expirations_reaped "" $((exp0 + 1))
check "... and in lockservice_reaper_reaped" wait_metric lockservice_reaper_reaped 'datname="lstest"' $((rep0 + 1))
check "lockservice_reaper_seconds_since_run is recent" \
	awk -v v="$(metric lockservice_reaper_seconds_since_run)" 'BEGIN { exit !(v >= 0 && v < 120) }'
rf0=$(metric lockservice_stats_renewals_failed)
app "SELECT lockservice.lock_renew('exp:1', $tok)" > /dev/null
scrape
check "a refused renewal counts in renewals_failed" eq "$(metric lockservice_stats_renewals_failed)" $((rf0 + 1))
fr0=$(metric lockservice_stats_fence_refusals)
t1=$(app "SELECT lockservice.lock_acquire('fence-a', 'm', '1 min')")
app "SELECT lockservice.lock_release('fence-a', $t1)" > /dev/null
t2=$(app "SELECT lockservice.lock_acquire('fence-a', 'm', '1 min')")
app "SELECT lockservice.fence('res', $t2)" > /dev/null
app "SELECT lockservice.fence('res', $t1)" > /dev/null 2>&1
scrape
check "a refused fence counts in fence_refusals" eq "$(metric lockservice_stats_fence_refusals)" $((fr0 + 1))

# --- bounded cardinality: 25 classes give 20 plus (other)
app "SELECT lockservice.lock_acquire('c' || g || ':x', 'm', '1 hour') FROM generate_series(1, 25) g" > /dev/null
scrape
classes=$(grep -E '^lockservice_leases_live\{' "$work/metrics" | grep -Eo 'class="[^"]*"' | sort -u | wc -l)
check "at most 21 classes exported ($classes)" [ "$classes" -le 21 ]
check "the rest are (other)" ge "$(metric lockservice_leases_live 'class="\(other\)"')" 1

# --- the alert expressions use only metrics the exporter exports
missing=$(grep -Eo 'lockservice_[a-z_]+' alerts.yml | sort -u | while read -r m; do
	grep -q "^$m[{ ]" "$work/metrics" || echo "$m"; done)
check "every metric in alerts.yml is exported${missing:+ (missing: $missing)}" [ -z "$missing" ]

admin "SELECT lockservice.force_release(name) FROM lockservice.leases_live" > /dev/null
echo "monitoring: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

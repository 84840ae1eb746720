# shellcheck shell=bash
# test/safety/ha-tap.sh: what the scripts of the HA suite share (sourced):
# the "ok N - what" lines (ok STATUS TEXT: STATUS 0 passes) and a query
# retried through a failover.
pass=0 fail=0 n=0

ok() {
    n=$((n + 1))
    if [[ $1 == 0 ]]; then
        pass=$((pass + 1))
        echo "ok $n - $2"
    else
        fail=$((fail + 1))
        echo "not ok $n - $2"
    fi
}

# sql_retry CONNINFO QUERY: psql -X -A -t -q, retried every 0.5 s for up to
# 60 s while no writable primary answers; prints the result
sql_retry() {
    local out
    for _ in $(seq 1 120); do
        out=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>/dev/null) && { echo "$out"; return 0; }
        sleep 0.5
    done
    return 1
}

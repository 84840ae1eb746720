# shellcheck shell=bash
# test/safety/ha-tap.sh: the "ok N - what" lines of ha-ci.sh and
# ha-lockctl.sh (sourced).  ok STATUS TEXT: STATUS 0 passes.
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

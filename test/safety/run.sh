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

run_as=()
if [[ $(id -u) -eq 0 ]]; then
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
    "$@"

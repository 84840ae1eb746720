#!/usr/bin/env bash
# scripts/demo.sh: a local PostgreSQL 15 with lockservice preloaded, and a
# short narrated demonstration of leases and fencing tokens.
#
#   sudo scripts/demo.sh          install, build, start the server, run the demo
#   sudo scripts/demo.sh stop     stop the demo server
#   sudo scripts/demo.sh status   is it running?
#
# Runs as root: installs missing Debian packages, builds and installs the
# extension (in a temporary copy of the tree), creates the cluster once in
# $LOCKSERVICE_DEMO_DIR (default /var/tmp/lockservice-demo; data in data/,
# unix socket in the directory itself, log in server.log) owned by
# 'postgres', with shared_preload_libraries = 'lockservice', port
# $LOCKSERVICE_DEMO_PORT (default 5499, localhost only), starts it (restarts
# it when a newer lockservice.so was installed) and creates the extension in
# database postgres.  Later runs reuse the cluster.  The server keeps running
# after the demo.  Local connections use peer authentication where the OS
# users root and postgres may log in as role postgres; TCP connections need
# a password (none is set).
#
# The demo (about 20 s) works in schema lsdemo of database postgres, which it
# recreates on every run.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR=${LOCKSERVICE_DEMO_DIR:-/var/tmp/lockservice-demo}
DEMO_PORT=${LOCKSERVICE_DEMO_PORT:-5499}
DATA=$DEMO_DIR/data
SERVER_LOG=$DEMO_DIR/server.log
BG_PIDS=()
T0=''

usage() {
    cat <<EOF
usage: sudo $0 [run|stop|status]

  run     (default) install what is missing, build and install lockservice,
          start the demo server and run the demonstration
  stop    stop the demo server
  status  tell whether the demo server runs

environment: LOCKSERVICE_DEMO_DIR (now $DEMO_DIR)
             LOCKSERVICE_DEMO_PORT (now $DEMO_PORT)
EOF
}

# ---- server --------------------------------------------------------------

demo_stop() {
    if ls_pg_running "$DATA"; then
        ls_pg_stop "$DATA"
        echo "demo server in $DATA stopped"
    else
        echo "demo server in $DATA is not running"
    fi
}

demo_status() {
    if ls_pg_running "$DATA"; then
        echo "demo server running: $DATA, socket $DEMO_DIR, port $DEMO_PORT"
    else
        echo "demo server not running ($DATA)"
        return 3
    fi
}

demo_build() {
    local tmp rc=0
    tmp=$(mktemp -d /tmp/lockservice-demo-build.XXXXXX)
    ls_copy_tree "$LS_ROOT" "$tmp/src"
    ls_build_install "$tmp/src" || rc=$?
    rm -rf "$tmp"
    if ((rc != 0)); then
        ls_die "build or install failed"
    fi
}

demo_init_cluster() {
    if [[ -f $DATA/PG_VERSION ]]; then
        ls_info "reusing the cluster in $DATA"
        return 0
    fi
    ls_info "creating a cluster in $DATA"
    mkdir -p "$DEMO_DIR"
    chown "$LS_PG_USER": "$DEMO_DIR"
    chmod 755 "$DEMO_DIR"
    ls_pg_initdb "$DATA" "$DEMO_DIR" "$DEMO_PORT" localhost peer scram-sha-256
    cat >"$DATA/pg_hba.conf" <<'EOF'
# written by scripts/demo.sh
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 peer map=demo
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
EOF
    cat >"$DATA/pg_ident.conf" <<'EOF'
# written by scripts/demo.sh: OS users root and postgres may connect as role
# postgres; every OS user may connect as the role of the same name.
# MAP  SYSTEM-USER  PG-USER
demo   root         postgres
demo   postgres     postgres
demo   /^(.*)$      \1
EOF
    chown "$LS_PG_USER": "$DATA/pg_hba.conf" "$DATA/pg_ident.conf"
}

demo_start() {
    local so
    so=$("$LS_PG_BIN/pg_config" --pkglibdir)/lockservice.so
    if ls_pg_running "$DATA"; then
        if [[ $so -nt $DATA/postmaster.pid ]]; then
            ls_info "restarting the server to load the newly installed lockservice.so"
            ls_as_pg "$LS_PG_BIN/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -m fast -w -t 60 \
                -o "-p $DEMO_PORT" restart >/dev/null </dev/null ||
                ls_die "restart failed; see $SERVER_LOG"
        else
            ls_info "server already running"
        fi
    else
        if ls_port_in_use "$DEMO_PORT"; then
            ls_die "port $DEMO_PORT is taken by another program; choose another with LOCKSERVICE_DEMO_PORT"
        fi
        ls_info "starting the server (port $DEMO_PORT, socket in $DEMO_DIR, log $SERVER_LOG)"
        touch "$SERVER_LOG"
        chown "$LS_PG_USER": "$SERVER_LOG"
        ls_pg_start "$DATA" "$SERVER_LOG" "-p $DEMO_PORT"
    fi
}

# dpsql ARGS...: psql as postgres on the demo server, database postgres,
# quiet, unaligned, tuples only, stopping at the first error.  PGOPTIONS
# gives every session the demo's start time (for the +seconds column).
dpsql() {
    ls_as_pg env PGOPTIONS="-c client_min_messages=warning -c lsdemo.t0=${T0:-0}" \
        psql -X -q -At -v ON_ERROR_STOP=1 -h "$DEMO_DIR" -p "$DEMO_PORT" -d postgres "$@"
}

# bg_psql APPNAME ARGS...: dpsql in the background as application APPNAME;
# its SQL comes from stdin, its errors go to $DEMO_DIR/APPNAME.err.
bg_psql() {
    local app=$1 sql
    shift
    sql=$(cat)
    PGAPPNAME=$app dpsql "$@" <<<"$sql" 2>"$DEMO_DIR/$app.err" &
    BG_PIDS+=($!)
}

# wait_bg: wait for the background sessions; show their errors if one failed.
wait_bg() {
    local pid failed=0 f
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" || failed=1
    done
    BG_PIDS=()
    if ((failed)); then
        for f in "$DEMO_DIR"/*.err; do
            [[ -s $f ]] && { echo "--- $f"; cat "$f"; }
        done
        ls_die "a demo session failed (see above)"
    fi
    rm -f "$DEMO_DIR"/*.err
}

on_exit() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}

pause() {
    sleep "${1:-1}"
}

# ---- the demonstration -----------------------------------------------------

demo_setup_sql() {
    dpsql <<'SQL'
-- the demonstration server is the demo's own: start from a fresh extension
-- (no leftovers of an earlier or interrupted run, the installed version's schema)
DROP EXTENSION IF EXISTS lockservice CASCADE;
CREATE EXTENSION lockservice;
DROP SCHEMA IF EXISTS lsdemo CASCADE;
CREATE SCHEMA lsdemo;
CREATE TABLE lsdemo.events (
    at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    who   text NOT NULL,
    what  text NOT NULL,
    token bigint
);
CREATE TABLE lsdemo.register (
    id         int PRIMARY KEY,
    value      text NOT NULL,
    written_by text NOT NULL,
    token      bigint
);
INSERT INTO lsdemo.register VALUES (1, 'initial value', 'nobody', NULL);
-- one narration line: seconds since the start of the demo, actor, message
CREATE FUNCTION lsdemo.say(who text, msg text) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT format('%9s  %-11s %s',
                  '+' || to_char(extract(epoch FROM clock_timestamp())
                                 - current_setting('lsdemo.t0')::numeric,
                                 'FM990.00') || 's',
                  who, msg)
$$;
SQL
}

# contender NAME: part 1, one of two sessions racing for 'demo-leader'.
contender() {
    bg_psql "$1" -v who="$1" <<'SQL'
SELECT lsdemo.say(:'who', 'lock_acquire(''demo-leader'', ttl => ''15 s'', wait => ''30 s'') ...');
-- the acquire and the record of its grant time commit together
INSERT INTO lsdemo.events (at, who, what, token)
SELECT clock_timestamp(), :'who', 'granted', t
  FROM (SELECT lockservice.lock_acquire('demo-leader', :'who',
                                        ttl => '15 s', wait => '30 s') AS t
        OFFSET 0) s
RETURNING token IS NOT NULL AS got, coalesce(token::text, 'NULL') AS token \gset
\if :got
    SELECT CASE WHEN count(*) = 1 THEN 4 ELSE 1 END AS hold
      FROM lsdemo.events WHERE what = 'granted' \gset
    SELECT lsdemo.say(:'who', format('GRANTED, fencing token %s: leader for %s s', :token, :hold));
    SELECT pg_sleep(:hold) \g /dev/null
    INSERT INTO lsdemo.events (who, what, token) VALUES (:'who', 'release', :token);
    SELECT lsdemo.say(:'who', format('lock_release(''demo-leader'', %s) -> %s',
                                     :token, lockservice.lock_release('demo-leader', :token)));
\else
    SELECT lsdemo.say(:'who', 'not granted within 30 s');
\endif
SQL
}

part_leader() {
    ls_header "1. leader election: two contenders race for lock 'demo-leader'"
    echo "Both sessions call lock_acquire at the same moment.  One is granted"
    echo "a fencing token; the other sleeps inside lock_acquire (wait => '30 s')"
    echo "until the lock is free, then gets a higher token."
    echo
    pause 1
    T0=$(date +%s.%N)
    contender contender-A
    contender contender-B
    sleep 1.5
    dpsql <<'SQL'
SELECT lsdemo.say('observer', format('%s is asleep in lock_acquire: pg_stat_activity wait_event %s/%s',
                                     application_name, wait_event_type, wait_event))
  FROM pg_stat_activity
 WHERE application_name LIKE 'contender-%' AND wait_event_type = 'Extension';
SELECT lsdemo.say('observer', format('lockservice.leases_live: %s held by %s, token %s, %s s left',
                                     name, holder, token, round(extract(epoch FROM remaining))))
  FROM lockservice.leases_live WHERE name = 'demo-leader';
SQL
    wait_bg
    dpsql <<'SQL'
SELECT lsdemo.say('observer', format('hand-off: %s ms from %s''s lock_release call to %s''s grant; token %s -> %s (%s)',
                                     round(extract(epoch FROM g.at - r.at) * 1000, 1),
                                     r.who, g.who, r.token, g.token,
                                     CASE WHEN g.token > r.token THEN 'higher' ELSE 'NOT HIGHER?!' END))
  FROM lsdemo.events r
  JOIN lsdemo.events g ON g.what = 'granted' AND g.who <> r.who
 WHERE r.what = 'release'
 ORDER BY r.at
 LIMIT 1;
SQL
}

part_fencing() {
    ls_header "2. why fencing tokens: a holder pauses and its lease expires"
    echo "worker-A takes lock 'demo-job' with a 2 s lease, then stalls for 3 s"
    echo "(think: GC pause).  worker-B gets the lock when A's lease expires and"
    echo "writes the protected table after fence('demo-register', tokenB).  When A"
    echo "wakes up it writes too, believing it still holds the lock, but its"
    echo "fence('demo-register', tokenA) in the same transaction is refused."
    echo
    pause 1
    T0=$(date +%s.%N)
    bg_psql worker-A <<'SQL'
SELECT coalesce(t::text, 'NULL') AS token
  FROM (SELECT lockservice.lock_acquire('demo-job', 'worker-A', ttl => '2 s') AS t OFFSET 0) s \gset
SELECT lsdemo.say('worker-A', format('lock_acquire(''demo-job'', ttl => ''2 s'') -> token %s', :token));
SELECT lsdemo.say('worker-A', '... stalls for 3 s: no heartbeat, no lock_renew ...');
SELECT pg_sleep(3) \g /dev/null
SELECT lsdemo.say('worker-A', 'wakes up, still believes it is the holder: BEGIN; UPDATE register; fence(...)');
\set ON_ERROR_STOP off
BEGIN;
UPDATE lsdemo.register SET value = 'written by worker-A', written_by = 'worker-A', token = :token
 WHERE id = 1;
SELECT lockservice.fence('demo-register', :token) \g /dev/null
COMMIT;
\set ON_ERROR_STOP on
SELECT lsdemo.say('worker-A', format('REFUSED with SQLSTATE %s: %s', :'LAST_ERROR_SQLSTATE', :'LAST_ERROR_MESSAGE'));
SELECT lsdemo.say('worker-A', 'its transaction rolled back: the UPDATE is undone');
SELECT lsdemo.say('worker-A', format('lock_renew(''demo-job'', %s) -> %s: the lease is gone',
                                     :token, lockservice.lock_renew('demo-job', :token)));
SQL
    sleep 0.5
    PGAPPNAME=worker-B dpsql <<'SQL'
SELECT lsdemo.say('worker-B', 'lock_acquire(''demo-job'', ttl => ''30 s'', wait => ''10 s'') ...');
SELECT coalesce(t::text, 'NULL') AS token
  FROM (SELECT lockservice.lock_acquire('demo-job', 'worker-B', ttl => '30 s', wait => '10 s') AS t
        OFFSET 0) s \gset
SELECT lsdemo.say('worker-B', format('GRANTED when worker-A''s lease expired: token %s', :token));
BEGIN;
SELECT lockservice.fence('demo-register', :token) \g /dev/null
UPDATE lsdemo.register SET value = 'written by worker-B', written_by = 'worker-B', token = :token
 WHERE id = 1;
COMMIT;
SELECT lsdemo.say('worker-B', format('BEGIN; fence(''demo-register'', %s); UPDATE register; COMMIT -> ok', :token));
SELECT lsdemo.say('worker-B', format('lock_release(''demo-job'', %s) -> %s',
                                     :token, lockservice.lock_release('demo-job', :token)));
SQL
    wait_bg
    echo
    echo "The protected table holds only worker-B's write:"
    ls_as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR" -p "$DEMO_PORT" -d postgres \
        -c 'SELECT id, value, written_by, token FROM lsdemo.register' \
        -c "SELECT resource, token AS highest_token_seen FROM lockservice.fences WHERE resource = 'demo-register'"
}

demo_run() {
    ls_header "setup"
    ls_ensure_packages
    ls_info "required packages are installed"
    demo_build
    demo_init_cluster
    demo_start
    demo_setup_sql
    ls_info "extension lockservice $(dpsql -c "SELECT extversion FROM pg_extension WHERE extname = 'lockservice'") ready in database postgres"
    part_leader
    pause 2
    part_fencing
    ls_header "done"
    cat <<EOF
The demo server keeps running, with lockservice preloaded:
  connect:  sudo psql -h $DEMO_DIR -p $DEMO_PORT -U postgres postgres
            (as user postgres: psql -h $DEMO_DIR -p $DEMO_PORT postgres)
  try:      SELECT lockservice.lock_acquire('my-lock', 'me', ttl => '1 min');
            SELECT * FROM lockservice.leases_live;
  log:      $SERVER_LOG
  stop:     sudo $0 stop
EOF
}

# ---- main ----------------------------------------------------------------

case ${1:-run} in
    run)
        ls_require_root
        trap on_exit EXIT
        demo_run
        ;;
    stop)
        ls_require_root
        demo_stop
        ;;
    status)
        ls_require_root
        demo_status
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# scripts/test.sh: build, install and test lockservice on Debian 12.
#
#   sudo scripts/test.sh [--suite regress|isolation|pgtap|tap]... [--keep]
#
# Runs as root: installs missing Debian packages (apt-get), copies the source
# tree to a fresh directory under /tmp, builds and installs it there with PGXS
# (make; make install), hands the copy to the 'postgres' account and runs each
# suite as that account (PostgreSQL refuses to run as root):
#
#   regress    make regresscheck     test/sql/*.sql vs expected/*.out, temp instance
#   isolation  make isolationcheck   test/specs/*.spec vs expected/*.out, temp instance
#   pgtap      pg_prove              test/pgtap/*.sql on a throwaway cluster
#   tap        prove                 test/t/*.pl with PostgreSQL::Test::Cluster
#   clients    run-tests.sh          clients/*/run-tests.sh and monitoring/run-tests.sh,
#                                    each against its own server and PgBouncer
#   ha         ha-ci.sh              test/safety/ha-ci.sh: the safety checker, lockctl
#                                    and the four client packages on a three-node
#                                    Patroni cluster in network namespaces (as root;
#                                    skipped where namespaces cannot be made)
#   packages   packages.sh           scripts/packages.sh: the Debian packages built,
#                                    lintian, installed with apt-get, installcheck,
#                                    purged; the PGXN zip installed with pgxnclient
#   pg18       test.sh --pg 18       regress, isolation, pgtap and tap on PostgreSQL 18
#
# A suite whose directory holds no tests is skipped.  A failing suite does not
# stop the others; its diffs / failure output are shown after it.  The last
# line of output is always "N passed, N failed" (all suites together), and
# the exit status is non-zero when anything failed or no test ran.  The work
# directory is removed after a clean run and kept (path printed) otherwise or
# with --keep.  No server is left running: every cluster started here is
# stopped on exit, also after an error or Ctrl-C.
#
# How tests are counted:
# - regress, isolation: one count per test file.  pg_regress 15 ends with a
#   summary (" All N tests passed." / " F of N tests failed." and the
#   "... ignored" variants, ignored failures not counted); that summary is
#   used.  Without one (pg_regress or the server died, make failed) the
#   per-test "name ... ok" / "name ... FAILED" lines are counted instead.
# - pgtap, tap: one count per assertion, from the TAP::Harness summary that
#   pg_prove and prove print: "Files=F, Tests=T" gives the assertions run,
#   and every file listed in the "Test Summary Report" section as
#   "(Wstat: W Tests: t Failed: k)" contributes k failures, plus the
#   assertions it planned but never ran ("Bad plan. You planned P tests but
#   ran R"), and at least 1 (a file that died or exited non-zero after
#   passing assertions is still a failure).  passed = T - sum(k).
# - Any suite whose command exits non-zero with no failure counted (crash,
#   no summary, setup error) counts 1 failure.
#
# pgTAP conventions (test/pgtap/*.sql):
# - Each file runs in its own fresh database in which this runner has already
#   run CREATE EXTENSION pgtap; CREATE EXTENSION lockservice; (files must not
#   create them).  The cluster preloads lockservice (test/preload.conf is
#   appended to its postgresql.conf), listens on a unix socket only and
#   trusts local connections; pg_prove connects as superuser 'postgres'.
# - Roles are cluster-wide and the cluster is shared by all files, so a file
#   that needs extra roles creates them inside its own transaction
#   (BEGIN; CREATE ROLE ...; ... ROLLBACK;), never committing them.
#
# Client conventions (clients/<name>/run-tests.sh, monitoring/run-tests.sh):
# each runs with bash as the PostgreSQL account, from its own directory in the
# copied tree, against a cluster and a PgBouncer of its own, both on
# 127.0.0.1 with trust authentication:
#   LS_PGDATA, LS_PGLOG   the cluster (lockservice preloaded, fsync off); the
#                         script may stop it and start it again with
#                         pg_ctl -D "$LS_PGDATA" -l "$LS_PGLOG" -w start
#   PGHOST PGPORT PGUSER PGDATABASE   the superuser 'postgres', database lstest
#                         (CREATE EXTENSION lockservice done)
#   LS_DSN                libpq conninfo as the non-superuser role ls_app
#   LS_ADMIN_DSN          the same as the superuser postgres
#   LS_BOUNCER_DSN, LS_PGBOUNCER_PORT   PgBouncer, pool_mode = transaction
#   HOME, LS_WORKDIR      a writable scratch directory (caches go there)
#   LS_SRC                the root of the copied source tree
# Debian packages it needs are listed in clients/<name>/debian-packages (one
# a line).  Its last "N passed, N failed" line (a "word: " may lead) is
# counted; a non-zero exit with no failure counted is one failure.
#
# TAP conventions (test/t/*.pl): run by prove from the root of the copied
# tree with PERL5LIB=<pgxs>/src/test/perl, -I test/t, PG_REGRESS set,
# TESTDIR=<root of the copied tree> (nodes and logs in $TESTDIR/tmp_check),
# PATH starting with the bin directory of a private copy of PostgreSQL 15
# under the work directory (pg_config there describes the copy).  The
# extension and lockctl are installed into that copy, never into the
# system's PostgreSQL, so that concurrent runs and other "make install"s
# cannot change them under the tests; a node that wants it preloaded sets
# shared_preload_libraries itself.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ALL_SUITES=(regress isolation pgtap tap clients ha packages pg18)
PGXS_DIR=/usr/lib/postgresql/${LS_PG_VERSION}/lib/pgxs
MAX_DIFF_LINES=${LOCKSERVICE_MAX_DIFF_LINES:-2000}

usage() {
    cat <<EOF
usage: sudo $0 [--suite SUITE]... [--client NAME]... [--keep]

  --suite SUITE  run only this suite (repeatable): ${ALL_SUITES[*]}
                 (default: all)
  --client NAME  in the clients suite, run only clients/NAME (or
                 'monitoring'); repeatable
  --tap FILE     in the tap suite, run only test/t/FILE (e.g. 009_cluster_life.pl);
                 repeatable
  --pg MAJOR     run the suites against PostgreSQL MAJOR built from Debian's
                 source package by scripts/build-pg.sh (cached; default suites
                 then: regress isolation pgtap tap)
  --pg-config PATH
                 the same against the PostgreSQL of that pg_config (16, 17, a
                 build of your own: lockservice is installed into it)
  --keep         keep the work directory under /tmp even when all passed

The pg18 suite runs "$0 --pg 18" (regress, isolation, pgtap, tap; with
LS_OLD_INSTALL, this run's PostgreSQL $LS_PG_VERSION, for
test/t/013_upgrade_major.pl) and counts its summary line.
EOF
}

TOTAL_PASS=0
LAST_RECORD=0
TOTAL_FAIL=0
RESULTS=()
WORK=''
PGTAP_DATA=''
FINISHED=0

# stop_and_tidy STATUS: stop every server started here; remove the work
# directory after a clean run, else say where it is.
stop_and_tidy() {
    if [[ -n $PGTAP_DATA ]]; then
        ls_pg_stop "$PGTAP_DATA" immediate
        PGTAP_DATA=''
    fi
    if [[ -n $WORK && -d $WORK/ha ]]; then
        # the ha suite's cluster, after an interruption: Patroni first, or it
        # restarts the postmasters stopped below
        env LOCKSERVICE_HA_DIR="$WORK/ha" LOCKSERVICE_HA_NAME=lsci LOCKSERVICE_HA_NET=10.89.1 \
            bash "$LS_ROOT/scripts/ha.sh" down >/dev/null 2>&1 || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        ls_stop_all_under "$WORK"
        local pidfile
        for pidfile in "$WORK"/clients/*/pgbouncer.pid; do
            if [[ -s $pidfile ]]; then
                kill "$(cat "$pidfile")" 2>/dev/null || true
            fi
        done
        if [[ $1 -eq 0 && $KEEP -eq 0 ]]; then
            rm -rf "$WORK"
        else
            printf 'work directory kept: %s\n' "$WORK"
        fi
    fi
}

# On an unexpected exit (error, Ctrl-C) still stop the servers and end with
# the summary line, counting the interruption as one failure.
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
    local rc=$?
    set +e
    if [[ $FINISHED -eq 0 ]]; then
        stop_and_tidy 1
        printf '%s: interrupted or failed unexpectedly (status %d)\n' "${0##*/}" "$rc"
        printf '%d passed, %d failed\n' "$TOTAL_PASS" "$((TOTAL_FAIL + 1))"
        [[ $rc -ne 0 ]] || rc=1
    fi
    exit "$rc"
}

# finish: the summary table and the final "N passed, N failed" line.
finish() {
    local line status=0
    if ((TOTAL_FAIL > 0 || TOTAL_PASS == 0)); then
        status=1
    fi
    stop_and_tidy "$status"
    ls_header "summary"
    for line in "${RESULTS[@]}"; do
        printf '  %s\n' "$line"
    done
    if ((TOTAL_PASS + TOTAL_FAIL == 0)); then
        printf '  no test ran\n'
    fi
    FINISHED=1
    printf '%d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    exit "$status"
}

# record SUITE PASS FAIL [NOTE]: also how long since the previous record
# (the suite's time; each client package's in the clients suite)
record() {
    local took=$((SECONDS - LAST_RECORD))
    LAST_RECORD=$SECONDS
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    RESULTS+=("$(printf '%-10s %4d passed, %4d failed  %3dm%02ds%s' "$1" "$2" "$3" \
        $((took / 60)) $((took % 60)) "${4:+  ($4)}")")
    if (($3 > 0)); then
        ls_bad "$1: $2 passed, $3 failed"
    else
        ls_good "$1: $2 passed, $3 failed"
    fi
}

# count_pg_regress LOG RC: print "PASS FAIL" for a pg_regress run (the
# format of 15, and the TAP-like one of 16 and later: "ok 1 - api", "# All
# 11 tests passed.").
count_pg_regress() {
    awk -v rc="$2" '
        / \.\.\. ok/ { lp++ }
        / \.\.\. FAILED/ { lf++ }
        /^ok [0-9]+ / { lp++ }
        /^not ok [0-9]+ / { lf++ }
        /^# All [0-9]+ tests passed\./ { sp = $3; sf = 0; s = 1 }
        /^# [0-9]+ of [0-9]+ tests failed\./ { sf = $2; sp = $4 - $2; s = 1 }
        /^ All [0-9]+ tests passed\./ { sp = $2; sf = 0; s = 1 }
        /^ [0-9]+ of [0-9]+ tests failed\./ { sf = $1; sp = $3 - $1; s = 1 }
        /^ [0-9]+ of [0-9]+ tests passed, [0-9]+ failed test/ { sp = $1; sf = 0; s = 1 }
        /^ [0-9]+ of [0-9]+ tests failed, [0-9]+ of these failures ignored/ {
            sf = $1 - $6; sp = $3 - $1; s = 1
        }
        END {
            if (s) { p = sp; f = sf } else { p = lp + 0; f = lf + 0 }
            if (rc != 0 && f == 0) f = 1
            print p + 0, f + 0
        }' "$1"
}

# count_tap LOG RC: print "PASS FAIL" for a prove / pg_prove run.
count_tap() {
    awk -v rc="$2" '
        function flush() {
            if (infile) { k += cur; f += (cur + miss > 0 ? cur + miss : 1) }
            infile = 0; cur = 0; miss = 0
        }
        /^Files=[0-9]+, Tests=[0-9]+/ {
            match($0, /Tests=[0-9]+/)
            total = substr($0, RSTART + 6, RLENGTH - 6) + 0
            seen = 1
        }
        /\(Wstat: .*Tests: [0-9]+ Failed: [0-9]+\)/ {
            flush()
            match($0, /Failed: [0-9]+\)/)
            cur = substr($0, RSTART + 8, RLENGTH - 9) + 0
            infile = 1
        }
        infile && /Parse errors: Bad plan\.  You planned [0-9]+ tests but ran [0-9]+/ {
            match($0, /planned [0-9]+/)
            planned = substr($0, RSTART + 8, RLENGTH - 8) + 0
            match($0, /ran [0-9]+/)
            ran = substr($0, RSTART + 4, RLENGTH - 4) + 0
            if (planned > ran) miss += planned - ran
        }
        END {
            flush()
            p = seen ? total - k : 0
            if (p < 0) p = 0
            if ((rc != 0 || !seen) && f == 0) f = 1
            print p + 0, f + 0
        }' "$1"
}

# count_summary LOG RC: print "PASS FAIL" from the last "N passed, N failed"
# line of LOG (a "word: " may lead); a non-zero RC with no failure counted is
# one failure.
count_summary() {
    local line pass=0 fail=0
    line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$1" 2>/dev/null | tail -n 1 || true)
    if [[ -n $line ]]; then
        read -r pass fail < <(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/' <<<"$line")
    fi
    if (($2 != 0 && fail == 0)); then
        fail=1
    fi
    echo "$pass $fail"
}

# show_file FILE: print a file, at most MAX_DIFF_LINES lines of it.
show_file() {
    local n
    n=$(wc -l <"$1")
    printf '%s---- %s (%d lines) ----%s\n' "$LS_BOLD" "$1" "$n" "$LS_OFF"
    head -n "$MAX_DIFF_LINES" "$1"
    if ((n > MAX_DIFF_LINES)); then
        printf '... (%d more lines in %s)\n' "$((n - MAX_DIFF_LINES))" "$1"
    fi
}

# show_server_trouble LOGFILE: crash and startup failures from a server log.
show_server_trouble() {
    [[ -f $1 ]] || return 0
    if grep -qE 'terminated by signal|TRAP:|PANIC:|FATAL:|could not load library' "$1"; then
        printf '%s---- server log %s (crashes / fatal errors) ----%s\n' "$LS_BOLD" "$1" "$LS_OFF"
        grep -E -B2 -A2 'terminated by signal|TRAP:|PANIC:|FATAL:|could not load library' "$1" |
            head -n 100
    fi
}

# run_pg_regress_suite NAME TARGET TEMPDIR FILES...: a make target running
# pg_regress or pg_isolation_regress on a temporary instance.
run_pg_regress_suite() {
    local name=$1 target=$2 tmpinst=$3 log rc=0 pass fail
    log=$WORK/logs/$name.log
    rm -f "$SRC/regression.diffs" "$SRC/regression.out"
    (cd "$SRC" && ls_as_pg env TMPDIR="$WORK/tmp" \
        make --no-print-directory "$target" </dev/null) 2>&1 | tee "$log" || rc=$?
    read -r pass fail < <(count_pg_regress "$log" "$rc")
    if ((fail > 0)); then
        if [[ -s $SRC/regression.diffs ]]; then
            cp "$SRC/regression.diffs" "$WORK/logs/$name.diffs"
            show_file "$WORK/logs/$name.diffs"
        fi
        if grep -q 'diff command failed' "$log"; then
            ls_bad "pg_regress stopped: an expected/*.out file is missing (results/ holds the actual output)"
        fi
        show_server_trouble "$SRC/$tmpinst/log/postmaster.log"
        # keep the failed instance's data and log out of the next suite's way
        if [[ -d $SRC/$tmpinst ]]; then
            mv "$SRC/$tmpinst" "$WORK/logs/$name-$tmpinst"
        fi
    fi
    record "$name" "$pass" "$fail"
}

run_regress() {
    ls_header "regress: pg_regress (make regresscheck)"
    if ! compgen -G "$SRC/test/sql/*.sql" >/dev/null; then
        ls_info "no tests in test/sql, skipped"
        RESULTS+=("regress    skipped (no tests)")
        return 0
    fi
    run_pg_regress_suite regress regresscheck tmp_check
}

run_isolation() {
    ls_header "isolation: pg_isolation_regress (make isolationcheck)"
    if ! compgen -G "$SRC/test/specs/*.spec" >/dev/null; then
        ls_info "no tests in test/specs, skipped"
        RESULTS+=("isolation  skipped (no tests)")
        return 0
    fi
    run_pg_regress_suite isolation isolationcheck tmp_check_iso
}

run_pgtap() {
    ls_header "pgtap: pg_prove on a throwaway cluster"
    local files=() f i=0 db sock port log rc pass fail sum_pass=0 sum_fail=0
    local psql_args
    while IFS= read -r -d '' f; do
        files+=("${f#"$SRC"/}")
    done < <(find "$SRC/test/pgtap" -maxdepth 1 -name '*.sql' -type f -print0 2>/dev/null | sort -z)
    if [[ ${#files[@]} -eq 0 ]]; then
        ls_info "no tests in test/pgtap, skipped"
        RESULTS+=("pgtap      skipped (no tests)")
        return 0
    fi

    sock=$WORK/pgtap
    mkdir -p "$sock"
    chown "$LS_PG_USER": "$sock"
    chmod 700 "$sock"
    port=$(ls_free_port)
    printf 'fsync = off\n' >"$WORK/pgtap-extra.conf"
    PGTAP_DATA=$sock/data
    if ! (
        ls_pg_initdb "$PGTAP_DATA" "$sock" "$port" '' trust trust \
            "$SRC/test/preload.conf" "$WORK/pgtap-extra.conf"
        ls_pg_start "$PGTAP_DATA" "$WORK/logs/pgtap-server.log"
    ); then
        ls_bad "pgtap: could not set up the cluster"
        record pgtap 0 1 "cluster setup failed"
        return 0
    fi
    ls_info "cluster on socket $sock port $port"
    psql_args=(psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U "$LS_PG_USER")

    for f in "${files[@]}"; do
        i=$((i + 1))
        db=pgtap_$i
        log=$WORK/logs/pgtap-$i.log
        rc=0
        {
            printf '# %s in database %s\n' "$f" "$db"
            ls_as_pg "${psql_args[@]}" -d postgres -c "CREATE DATABASE $db" &&
                ls_as_pg "${psql_args[@]}" -d "$db" \
                    -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION lockservice' &&
                (cd "$SRC" && ls_as_pg pg_prove --failures --comments --timer \
                    -h "$sock" -p "$port" -U "$LS_PG_USER" -d "$db" "$f")
        } </dev/null 2>&1 | tee "$log" || rc=$?
        read -r pass fail < <(count_tap "$log" "$rc")
        sum_pass=$((sum_pass + pass))
        sum_fail=$((sum_fail + fail))
    done

    ls_pg_stop "$PGTAP_DATA"
    if ((sum_fail > 0)); then
        show_server_trouble "$WORK/logs/pgtap-server.log"
    fi
    PGTAP_DATA=''
    record pgtap "$sum_pass" "$sum_fail"
}

run_tap() {
    ls_header "tap: prove test/t/*.pl"
    local files=() f log rc=0 pass fail name
    while IFS= read -r -d '' f; do
        files+=("${f#"$SRC"/}")
    done < <(find "$SRC/test/t" -maxdepth 1 -name '*.pl' -type f -print0 2>/dev/null | sort -z)
    if [[ ${#TAP_FILES[@]} -gt 0 ]]; then
        files=("${TAP_FILES[@]}")
    fi
    if [[ ${#files[@]} -eq 0 ]]; then
        ls_info "no tests in test/t, skipped"
        RESULTS+=("tap        skipped (no tests)")
        return 0
    fi
    log=$WORK/logs/tap.log
    rm -rf "$SRC/tmp_check"
    (cd "$SRC" && ls_as_pg env \
        PERL5LIB="$PGXS_DIR/src/test/perl" \
        PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        TESTDIR="$SRC" \
        TMPDIR="$WORK/tmp" \
        LS_OLD_INSTALL="${LS_OLD_INSTALL:-}" \
        with_ssl="$TAP_WITH_SSL" with_icu="$TAP_WITH_ICU" \
        prove --failures --timer -I test/t "${files[@]}" </dev/null) 2>&1 |
        tee "$log" || rc=$?
    read -r pass fail < <(count_tap "$log" "$rc")
    if ((fail > 0)); then
        # the per-file logs of failed files: test output and node actions
        while read -r name; do
            name=$(basename -- "$name" .pl)
            if [[ -f $SRC/tmp_check/log/regress_log_$name ]]; then
                printf '%s---- last 60 lines of tmp_check/log/regress_log_%s ----%s\n' \
                    "$LS_BOLD" "$name" "$LS_OFF"
                tail -n 60 "$SRC/tmp_check/log/regress_log_$name"
            fi
        done < <(awk '/\(Wstat: .*Tests: [0-9]+ Failed: [0-9]+\)/ { print $1 }' "$log")
        printf 'node logs: %s/tmp_check/log/\n' "$SRC"
    fi
    record tap "$pass" "$fail"
}

# client_suites: print "NAME DIR" for every client test script, in order
# (the --client names only, when given).
client_suites() {
    local script dir name
    for script in "$SRC"/clients/*/run-tests.sh "$SRC"/monitoring/run-tests.sh; do
        [[ -f $script ]] || continue
        dir=$(dirname -- "$script")
        name=$(basename -- "$dir")
        if [[ ${#CLIENTS[@]} -gt 0 && " ${CLIENTS[*]} " != *" $name "* ]]; then
            continue
        fi
        printf '%s %s\n' "$name" "$dir"
    done
}

# start_client_env NAME: a fresh cluster (lockservice preloaded, database
# lstest with the extension, a non-superuser login role ls_app) and a
# PgBouncer in transaction pooling mode in front of it, both on 127.0.0.1,
# trusting local connections.  Sets CENV_DIR, CENV_PORT, CENV_BPORT.
start_client_env() {
    local name=$1 dir port bport i=0
    local psql_pg=(psql -X -q -v ON_ERROR_STOP=1)
    dir=$WORK/clients/$name
    mkdir -p "$dir/home"
    printf 'fsync = off\nmax_connections = 200\n' >"$dir/extra.conf"
    chown -R "$LS_PG_USER": "$dir"
    chmod 700 "$dir"
    port=$(ls_free_port)
    ls_pg_initdb "$dir/data" "$dir" "$port" 127.0.0.1 trust trust \
        "$SRC/test/preload.conf" "$dir/extra.conf"
    ls_pg_start "$dir/data" "$dir/data/server.log"
    ls_as_pg "${psql_pg[@]}" -h "$dir" -p "$port" -U "$LS_PG_USER" -d postgres \
        -c 'CREATE DATABASE lstest' -c 'CREATE ROLE ls_app LOGIN' </dev/null
    ls_as_pg "${psql_pg[@]}" -h "$dir" -p "$port" -U "$LS_PG_USER" -d lstest \
        -c 'CREATE EXTENSION lockservice' </dev/null
    bport=$(ls_free_port)
    while [[ $bport == "$port" ]]; do bport=$(ls_free_port); done
    printf '"%s" ""\n"ls_app" ""\n' "$LS_PG_USER" >"$dir/users.txt"
    {
        printf '[databases]\n* = host=127.0.0.1 port=%s\n\n[pgbouncer]\n' "$port"
        printf 'listen_addr = 127.0.0.1\nlisten_port = %s\nunix_socket_dir =\n' "$bport"
        printf 'auth_type = trust\nauth_file = %s/users.txt\n' "$dir"
        printf 'pool_mode = transaction\ndefault_pool_size = 20\nmax_client_conn = 400\n'
        printf 'server_reset_query =\nignore_startup_parameters = extra_float_digits,options\n'
        printf 'logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n' "$dir" "$dir"
    } >"$dir/pgbouncer.ini"
    chown "$LS_PG_USER": "$dir/users.txt" "$dir/pgbouncer.ini"
    ls_as_pg pgbouncer -d -q "$dir/pgbouncer.ini" </dev/null
    while [[ ! -s $dir/pgbouncer.pid ]] && ((i < 100)); do
        sleep 0.1
        i=$((i + 1))
    done
    [[ -s $dir/pgbouncer.pid ]] || ls_die "pgbouncer did not start (log: $dir/pgbouncer.log)"
    CENV_DIR=$dir CENV_PORT=$port CENV_BPORT=$bport
}

# stop_client_env NAME: stop what start_client_env started.
stop_client_env() {
    local dir=$WORK/clients/$1
    ls_pg_stop "$dir/data" immediate
    if [[ -s $dir/pgbouncer.pid ]]; then
        kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    fi
}

# run_one_client NAME DIR LOG: run DIR/run-tests.sh as the PostgreSQL account
# against its own environment (see the header of this file), output to LOG.
run_one_client() {
    local name=$1 cdir=$2 log=$3
    start_client_env "$name"
    cd "$cdir"
    ls_as_pg env \
        HOME="$CENV_DIR/home" \
        LS_SRC="$SRC" \
        LS_PGDATA="$CENV_DIR/data" \
        LS_PGLOG="$CENV_DIR/data/server.log" \
        LS_WORKDIR="$CENV_DIR" \
        PGHOST=127.0.0.1 PGPORT="$CENV_PORT" PGUSER="$LS_PG_USER" PGDATABASE=lstest \
        LS_DSN="host=127.0.0.1 port=$CENV_PORT dbname=lstest user=ls_app" \
        LS_ADMIN_DSN="host=127.0.0.1 port=$CENV_PORT dbname=lstest user=$LS_PG_USER" \
        LS_BOUNCER_DSN="host=127.0.0.1 port=$CENV_BPORT dbname=lstest user=ls_app" \
        LS_PGBOUNCER_PORT="$CENV_BPORT" \
        bash ./run-tests.sh </dev/null >"$log" 2>&1
}

# run_clients: every client package's and the monitoring pieces' own tests,
# each counted by the "N passed, N failed" line its run-tests.sh ends with.
run_clients() {
    ls_header "clients: clients/*/run-tests.sh, monitoring/run-tests.sh"
    local name cdir log rc pass fail any=0
    mkdir -p "$WORK/clients"
    chown "$LS_PG_USER": "$WORK/clients"
    while read -r name cdir; do
        any=1
        ls_header "clients: $name"
        log=$WORK/logs/clients-$name.log
        rc=0
        (run_one_client "$name" "$cdir" "$log") || rc=$?
        [[ -f $log ]] && cat "$log"
        read -r pass fail < <(count_summary "$log" "$rc")
        if ((fail > 0)); then
            show_server_trouble "$WORK/clients/$name/data/server.log"
        fi
        stop_client_env "$name"
        record "$name" "$pass" "$fail"
    done < <(client_suites)
    if ((any == 0)); then
        ls_info "no client test scripts, skipped"
        RESULTS+=("clients    skipped (no tests)")
    fi
}

# run_ha: test/safety/ha-ci.sh as root (network namespaces), on the private
# PostgreSQL copy, with names and a subnet of its own so that a cluster of
# scripts/ha.sh the user runs is not touched.
run_ha() {
    ls_header "ha: the safety checker on a Patroni cluster (test/safety/ha-ci.sh)"
    local log=$WORK/logs/ha.log rc=0 pass fail
    if ! ip netns add lsci-probe 2>/dev/null; then
        ls_info "network namespaces cannot be created here (needs root with CAP_SYS_ADMIN): ha suite skipped"
        RESULTS+=("ha         skipped (network namespaces cannot be created here)")
        return 0
    fi
    ip netns del lsci-probe
    env LSCHECK_DIR="$WORK/ha-check" LOCKSERVICE_HA_DIR="$WORK/ha" LOCKSERVICE_HA_NAME=lsci \
        LOCKSERVICE_HA_NET=10.89.1 LOCKSERVICE_HA_BINDIR="$LS_PG_BIN" LOCKSERVICE_HA_NO_INSTALL=1 \
        LS_GOCACHE="$WORK/clients/go/go/cache" \
        bash "$SRC/test/safety/ha-ci.sh" </dev/null 2>&1 | tee "$log" || rc=$?
    read -r pass fail < <(count_summary "$log" "$rc")
    record ha "$pass" "$fail"
}

# run_packages: scripts/packages.sh as root: the Debian packages built with
# dpkg-buildpackage, lintian, installed with apt-get into the system's
# PostgreSQL, installcheck against a pg_createcluster cluster, purged; the
# PGXN zip installed with pgxnclient, installcheck, uninstalled.
run_packages() {
    ls_header "packages: Debian packages and the PGXN zip (scripts/packages.sh)"
    local log=$WORK/logs/packages.log rc=0 pass fail
    bash "$SRC/scripts/packages.sh" </dev/null 2>&1 | tee "$log" || rc=$?
    read -r pass fail < <(count_summary "$log" "$rc")
    record packages "$pass" "$fail"
}

# use_postgres PG_CONFIG: test against that PostgreSQL (--pg, --pg-config)
# instead of a copy of Debian's $LS_PG_VERSION; pgTAP's SQL (no C part) from
# Debian's postgresql-$LS_PG_VERSION-pgtap goes into it when it has none.
use_postgres() {
    local pgconfig=$1 ext f configure
    [[ -x $pgconfig ]] || ls_die "$pgconfig is not an executable pg_config"
    LS_PG_BIN=$("$pgconfig" --bindir)
    PGXS_DIR=$(dirname -- "$("$pgconfig" --pgxs)")
    PGXS_DIR=${PGXS_DIR%/src/makefiles}
    export PATH="${LS_PG_BIN}:${PATH}"
    configure=$("$pgconfig" --configure)
    TAP_WITH_SSL=no TAP_WITH_ICU=yes
    [[ $configure == *"--with-ssl=openssl"* || $configure == *"--with-openssl"* ]] && TAP_WITH_SSL=openssl
    [[ $configure == *"--without-icu"* ]] && TAP_WITH_ICU=no
    [[ -d $PGXS_DIR/src/test/perl ]] ||
        ls_info "no PostgreSQL::Test modules in $PGXS_DIR (configure --enable-tap-tests): the tap suite will fail"
    ext=$("$pgconfig" --sharedir)/extension
    if [[ ! -f $ext/pgtap.control ]]; then
        for f in /usr/share/postgresql/"$LS_PG_VERSION"/extension/pgtap*; do
            [[ -e $f ]] && cp "$f" "$ext/"
        done
    fi
}

# run_other_pg MAJOR: the pg18 suite -- regress, isolation, pgTAP and TAP
# against PostgreSQL MAJOR, test/t/013_upgrade_major.pl among them with this
# run's PostgreSQL $LS_PG_VERSION as the old installation (pg_upgrade and
# pg_dump into MAJOR), by this script with --pg; counted by its summary line.
run_other_pg() {
    local major=$1 log rc=0 pass fail
    ls_header "pg$major: regress, isolation, pgtap, tap against PostgreSQL $major ($0 --pg $major)"
    log=$WORK/logs/pg$major.log
    LS_OLD_INSTALL=$(dirname -- "$LS_PG_BIN") \
        bash "$LS_ROOT/scripts/test.sh" --pg "$major" </dev/null 2>&1 | tee "$log" || rc=$?
    read -r pass fail < <(count_summary "$log" "$rc")
    record "pg$major" "$pass" "$fail"
}

# ---- main ----------------------------------------------------------------

SUITES=()
CLIENTS=()
TAP_FILES=()
KEEP=0
PG_MAJOR=''
PG_CONFIG_PATH=''
TAP_WITH_SSL=openssl TAP_WITH_ICU=yes   # Debian's build; use_postgres reads another's
while [[ $# -gt 0 ]]; do
    case $1 in
        --suite)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            SUITES+=("$2")
            shift 2
            ;;
        --suite=*)
            SUITES+=("${1#--suite=}")
            shift
            ;;
        --client)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            CLIENTS+=("$2")
            shift 2
            ;;
        --client=*)
            CLIENTS+=("${1#--client=}")
            shift
            ;;
        --tap)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            TAP_FILES+=("test/t/${2##*/}")
            shift 2
            ;;
        --pg)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            PG_MAJOR=$2
            shift 2
            ;;
        --pg-config)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            PG_CONFIG_PATH=$2
            shift 2
            ;;
        --keep)
            KEEP=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
done
OTHER_PG=$([[ -n $PG_MAJOR || -n $PG_CONFIG_PATH ]] && echo 1 || echo 0)
if [[ ${#SUITES[@]} -eq 0 ]]; then
    SUITES=("${ALL_SUITES[@]}")
    ((OTHER_PG == 0)) || SUITES=(regress isolation pgtap tap)
fi
for s in "${SUITES[@]}"; do
    case $s in
        regress | isolation | pgtap | tap) ;;
        clients | ha | packages | pg18)
            ((OTHER_PG == 0)) || ls_die "suite '$s' runs on PostgreSQL $LS_PG_VERSION only (not with --pg or --pg-config)"
            ;;
        *) ls_die "unknown suite '$s' (choose from: ${ALL_SUITES[*]})" ;;
    esac
done

ls_require_root
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ls_header "packages"
if [[ " ${SUITES[*]} " == *" clients "* ]]; then
    ls_add_client_packages
fi
if [[ " ${SUITES[*]} " == *" ha "* ]]; then
    LS_PACKAGES+=(patroni python3-etcd etcd-server nftables iproute2)
fi
ls_ensure_packages
ls_info "all required packages are installed"

WORK=$(mktemp -d /tmp/lockservice-test.XXXXXX)
SRC=$WORK/src
mkdir -p "$WORK/logs" "$WORK/tmp"

if [[ -n $PG_MAJOR ]]; then
    ls_header "PostgreSQL $PG_MAJOR (scripts/build-pg.sh)"
    PG_CONFIG_PATH=$(bash "$LS_ROOT/scripts/build-pg.sh" "$PG_MAJOR" | tail -n 1) ||
        ls_die "no PostgreSQL $PG_MAJOR to test against"
fi
ls_copy_tree "$LS_ROOT" "$SRC"
if [[ -n $PG_CONFIG_PATH ]]; then
    use_postgres "$PG_CONFIG_PATH"
    ls_header "build and install (as root, in $SRC, into PostgreSQL $("$PG_CONFIG_PATH" --version | awk '{print $2}') at $LS_PG_BIN)"
else
    ls_header "build and install (as root, in $SRC, into a copy of PostgreSQL in $WORK/pg)"
    ls_private_postgres "$WORK/pg"
    PGXS_DIR=$LS_PG_BIN/../lib/pgxs
fi
if ! ls_build_install "$SRC" "$LS_PG_BIN/pg_config" LOCKCTL_LINKDIR=; then
    ls_bad "build or install failed"
    RESULTS+=("build      FAILED")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    finish
fi
chown -R "$LS_PG_USER": "$WORK"
chmod 755 "$WORK"

LAST_RECORD=$SECONDS
for suite in "${SUITES[@]}"; do
    case $suite in
        regress) run_regress ;;
        isolation) run_isolation ;;
        pgtap) run_pgtap ;;
        tap) run_tap ;;
        clients) run_clients ;;
        ha) run_ha ;;
        packages) run_packages ;;
        pg18) run_other_pg 18 ;;
    esac
done
finish

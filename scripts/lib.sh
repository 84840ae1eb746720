# shellcheck shell=bash
# scripts/lib.sh: helpers shared by scripts/test.sh and scripts/demo.sh.
#
# Source it from a script that runs as root under "set -euo pipefail".
# PostgreSQL refuses to run as root, so every PostgreSQL program is run as
# the unprivileged account LS_PG_USER (postgres) through runuser.

LS_PG_VERSION=15
LS_PG_BIN=/usr/lib/postgresql/${LS_PG_VERSION}/bin
LS_PG_USER=postgres

# Debian 12 packages the build and every test suite need.
LS_PACKAGES=(
    build-essential
    "postgresql-${LS_PG_VERSION}"
    "postgresql-server-dev-${LS_PG_VERSION}"
    "postgresql-${LS_PG_VERSION}-pgtap"
    libtap-parser-sourcehandler-pgtap-perl
    libipc-run-perl
    libpq-dev
    pgbouncer
    libfaketime
    gnuplot-nox
)

# ls_add_client_packages: add the Debian packages that the client packages
# and the monitoring pieces list (clients/*/debian-packages,
# monitoring/debian-packages: one name a line, # comments) to LS_PACKAGES.
ls_add_client_packages() {
    local f pkg
    for f in "$LS_ROOT"/clients/*/debian-packages "$LS_ROOT"/monitoring/debian-packages; do
        [[ -f $f ]] || continue
        while read -r pkg; do
            pkg=${pkg%%#*}
            pkg=${pkg//[[:space:]]/}
            if [[ -n $pkg ]]; then
                LS_PACKAGES+=("$pkg")
            fi
        done <"$f"
    done
}

# The root of the source tree: the parent of the directory holding this file.
# shellcheck disable=SC2034  # used by the scripts that source this file
LS_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

# Deterministic messages and locale, whatever the caller's environment.
export LANG=C.UTF-8 LC_MESSAGES=C
unset LC_ALL LANGUAGE LC_CTYPE LC_COLLATE
export PATH="${LS_PG_BIN}:${PATH}"

if [[ -t 1 ]]; then
    LS_BOLD=$'\e[1m' LS_RED=$'\e[31m' LS_GREEN=$'\e[32m' LS_OFF=$'\e[0m'
else
    LS_BOLD='' LS_RED='' LS_GREEN='' LS_OFF=''
fi

# ls_header TEXT: a section header.
ls_header() {
    printf '\n%s==== %s ====%s\n' "$LS_BOLD" "$*" "$LS_OFF"
}

# ls_info TEXT: a progress line.
ls_info() {
    printf '%s\n' "-- $*"
}

ls_good() {
    printf '%s%s%s\n' "$LS_GREEN" "$*" "$LS_OFF"
}

ls_bad() {
    printf '%s%s%s\n' "$LS_RED" "$*" "$LS_OFF"
}

# ls_die TEXT: print to stderr and exit 1.
ls_die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

ls_require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        ls_die "run me as root (sudo $0): I install packages and PostgreSQL extension files, then run PostgreSQL as '${LS_PG_USER}'"
    fi
}

# ls_as_pg CMD ARGS...: run a command as the PostgreSQL account in the
# current directory, keeping the environment but with a PATH that starts with
# PostgreSQL's programs and holds only system directories.  Where that account
# cannot enter the current directory (a clone in root's home or in a
# "mktemp -d" directory), the command starts in / instead: PostgreSQL's
# programs would otherwise print "could not change directory to ..." on
# every call, and no relative path under such a directory is readable to it.
# The check is on the path, not on ".": a directory that is open to all
# under a parent closed to the account passes "test -x ." but not a chdir
# by name, which is what PostgreSQL's programs do.
ls_as_pg() {
    if setpriv --reuid="$LS_PG_USER" --regid="$LS_PG_USER" --init-groups \
        test -x "$PWD" 2>/dev/null; then
        ls_as_pg_here "$@"
    else
        (cd / && ls_as_pg_here "$@")
    fi
}

# ls_as_pg_here CMD ARGS...: ls_as_pg's run, in the current directory.
ls_as_pg_here() {
    runuser -u "$LS_PG_USER" -- env \
        PATH="${LS_PG_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$@"
}

# ls_ensure_packages: install the missing ones of LS_PACKAGES with apt-get;
# silent when all are there.
ls_ensure_packages() {
    local pkg status missing=()
    for pkg in "${LS_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ $status != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    ls_info "installing missing packages: ${missing[*]}"
    local log
    log=$(mktemp /tmp/lockservice-apt.XXXXXX)
    if ! {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}"
    } </dev/null >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        ls_die "apt-get could not install: ${missing[*]}"
    fi
    rm -f "$log"
    getent passwd "$LS_PG_USER" >/dev/null ||
        ls_die "no '${LS_PG_USER}' account after installing postgresql-${LS_PG_VERSION}"
}

# ls_copy_tree SRC DST: copy a source tree, without build and test output.
ls_copy_tree() {
    local src=$1 dst=$2
    mkdir -p "$dst"
    cp -a "$src/." "$dst/"
    (
        cd "$dst" || exit 1
        rm -rf results output_iso tmp_check tmp_check_iso log \
            regression.diffs regression.out
        find . -path ./.git -prune -o \
            \( -name '*.o' -o -name '*.so' -o -name '*.bc' \) -type f \
            -exec rm -f {} +
    )
}

# ls_build_install DIR [PG_CONFIG [MAKE_ARGS...]]: build the tree in DIR with
# PGXS and install it into the PostgreSQL that PG_CONFIG (default: the
# system's) describes (as root).  On failure the compiler output is shown.
ls_build_install() {
    local dir=$1 pgconfig=${2:-$LS_PG_BIN/pg_config} jobs
    shift
    [[ $# -gt 0 ]] && shift
    jobs=$(nproc 2>/dev/null || echo 2)
    ls_info "building lockservice (make -j${jobs})"
    make -s -C "$dir" -j"$jobs" PG_CONFIG="$pgconfig" "$@" </dev/null || return 1
    ls_info "installing lockservice (make install)"
    make -s -C "$dir" PG_CONFIG="$pgconfig" "$@" install </dev/null >/dev/null || return 1
}

# ls_private_postgres DIR: copy the system's PostgreSQL (bin, lib, share; it
# is relocatable: it finds its files relative to its binaries) into DIR and
# point LS_PG_BIN at the copy.  An extension installed into the copy cannot
# change under the tests, whatever else on the machine runs "make install".
ls_private_postgres() {
    local dir=$1 sys_pgdir=/usr/lib/postgresql/${LS_PG_VERSION}
    local sys_share=/usr/share/postgresql/${LS_PG_VERSION}
    mkdir -p "$dir/lib/postgresql" "$dir/share/postgresql"
    cp -a "$sys_pgdir" "$dir/lib/postgresql/"
    cp -a "$sys_share" "$dir/share/postgresql/"
    ln -s /usr/include "$dir/include"
    LS_PG_BIN=$dir/lib/postgresql/${LS_PG_VERSION}/bin
    if [[ $("$LS_PG_BIN/pg_config" --pkglibdir) != "$dir/lib/postgresql/${LS_PG_VERSION}/lib" ]]; then
        ls_die "the copy of PostgreSQL in $dir is not relocatable"
    fi
    export PATH="${LS_PG_BIN}:${PATH}"
}

# ls_port_in_use PORT: true when something accepts TCP connections on
# localhost:PORT.
ls_port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    # a client connection's local port blocks a listener's bind as well
    command -v ss >/dev/null && [[ -n $(ss -Htan "sport = :$1" 2>/dev/null) ]]
}

# ls_free_port: print a TCP port that nothing uses, below the kernel's range
# of ephemeral ports (client connections take those: a server started on
# one of them can find it taken by then).
ls_free_port() {
    local low=32768 port tries=0
    [[ -r /proc/sys/net/ipv4/ip_local_port_range ]] &&
        read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    ((low > 12000)) || low=32768
    port=$((low - 12000 + RANDOM % 10000))
    while ((tries < 200)); do
        if ! ls_port_in_use "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        port=$((port + 1))
        tries=$((tries + 1))
    done
    ls_die "no free TCP port found"
}

# ls_pg_initdb DATADIR SOCKDIR PORT LISTEN AUTH_LOCAL AUTH_HOST [CONF...]:
# create a cluster owned by LS_PG_USER with lockservice preloaded, its unix
# socket in SOCKDIR, port PORT, listen_addresses LISTEN ('' for none) and the
# given initdb authentication methods.  Extra configuration files are
# appended to postgresql.conf.  DATADIR's parent must be writable by
# LS_PG_USER.
ls_pg_initdb() {
    local datadir=$1 sockdir=$2 port=$3 listen=$4 auth_local=$5 auth_host=$6
    local conf log
    shift 6
    log=$(mktemp /tmp/lockservice-initdb.XXXXXX)
    chmod 644 "$log"
    if ! ls_as_pg "$LS_PG_BIN/initdb" -D "$datadir" -U "$LS_PG_USER" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local="$auth_local" \
        --auth-host="$auth_host" >"$log" 2>&1 </dev/null; then
        cat "$log" >&2
        rm -f "$log"
        ls_die "initdb failed for $datadir"
    fi
    rm -f "$log"
    {
        printf '\n# added by %s\n' "${0##*/}"
        printf "listen_addresses = '%s'\n" "$listen"
        printf 'port = %s\n' "$port"
        printf "unix_socket_directories = '%s'\n" "$sockdir"
        printf "shared_preload_libraries = 'lockservice'\n"
        printf "lc_messages = 'C'\n"
        for conf in "$@"; do
            printf '\n# from %s\n' "$conf"
            cat "$conf"
        done
    } >>"$datadir/postgresql.conf"
}

# ls_pg_running DATADIR: true when a postmaster runs on DATADIR.
ls_pg_running() {
    [[ -f $1/postmaster.pid ]] &&
        ls_as_pg "$LS_PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# ls_pg_start DATADIR LOGFILE [POSTGRES_OPTIONS]: start the cluster and wait
# until it accepts connections; shows the end of the server log on failure.
ls_pg_start() {
    local datadir=$1 logfile=$2 opts=()
    if [[ -n ${3:-} ]]; then
        opts=(-o "$3")
    fi
    if ! ls_as_pg "$LS_PG_BIN/pg_ctl" -D "$datadir" -l "$logfile" -w -t 60 \
        "${opts[@]}" start >/dev/null </dev/null; then
        tail -n 30 "$logfile" >&2 || true
        ls_die "could not start the PostgreSQL server in $datadir (log: $logfile)"
    fi
}

# ls_pg_stop DATADIR [MODE]: stop the cluster if it runs (default mode fast).
ls_pg_stop() {
    local datadir=$1 mode=${2:-fast}
    if ls_pg_running "$datadir"; then
        ls_as_pg "$LS_PG_BIN/pg_ctl" -D "$datadir" -m "$mode" -w -t 60 \
            stop >/dev/null </dev/null || true
    fi
}

# ls_stop_all_under DIR: stop every postmaster whose data directory lies under
# DIR (servers left behind by an interrupted test run).
ls_stop_all_under() {
    local pidfile
    [[ -d $1 ]] || return 0
    while IFS= read -r -d '' pidfile; do
        ls_pg_stop "$(dirname -- "$pidfile")" immediate
    done < <(find "$1" -name postmaster.pid -type f -print0 2>/dev/null)
}

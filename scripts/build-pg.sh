#!/usr/bin/env bash
# scripts/build-pg.sh: a PostgreSQL major, built once from source into a
# cache outside the clone, for running lockservice's suites against it
# (scripts/test.sh --pg MAJOR).
#
#   sudo scripts/build-pg.sh [MAJOR]       Debian's source package postgresql-MAJOR
#                                          (default 18, from Debian unstable)
#   sudo scripts/build-pg.sh --source DIR  a PostgreSQL source tree of your own
#                                          (16, 17: Debian 12 cannot fetch them)
#
# Prints the path of the built pg_config on its last line.  The cache is
# ${LOCKSERVICE_PG_CACHE:-/var/cache/lockservice}/pg-MAJOR (source, build,
# install); a complete build is reused by later runs, a missing or partial
# one is built again.  Debian 12's apt gets the source package through a
# deb-src line for Debian's archive kept in the cache's own apt lists: the
# machine's sources stay as they are.  Needs root (apt-get).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${LOCKSERVICE_PG_CACHE:-/var/cache/lockservice}
major=18 source_dir=''
case ${1:-} in
    --source)
        source_dir=$(cd -- "${2:?--source needs a directory}" && pwd)
        ;;
    -h | --help)
        sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    '') ;;
    *) major=$1 ;;
esac
[[ $major =~ ^[0-9]+$ ]] || ls_die "MAJOR must be a number, not '$major'"

ls_require_root
LS_PACKAGES=(build-essential bison flex pkg-config libreadline-dev zlib1g-dev
    libipc-run-perl dpkg-dev)
ls_ensure_packages >&2

# the source tree: given, or Debian's source package for MAJOR
if [[ -n $source_dir ]]; then
    major=$(sed -n 's/^PACKAGE_VERSION=.\([0-9]*\).*/\1/p' "$source_dir/configure")
    [[ -n $major ]] || ls_die "$source_dir does not look like a PostgreSQL source tree"
fi
dir=$CACHE/pg-$major
prefix=$dir/install
if [[ -f $dir/complete && -x $prefix/bin/pg_config ]]; then
    printf '%s\n' "$prefix/bin/pg_config"
    exit 0
fi
rm -rf "$prefix" "$dir/complete"
mkdir -p "$dir"
if [[ -z $source_dir ]]; then
    apt_dir=$CACHE/apt
    mkdir -p "$apt_dir/lists/partial"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main\n' \
        >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::State::Lists=$apt_dir/lists")
    ls_info "fetching Debian's source package postgresql-$major" >&2
    apt-get "${apt_opts[@]}" update -qq >/dev/null
    rm -rf "$dir/dl"
    mkdir -p "$dir/dl"
    (cd "$dir/dl" && apt-get "${apt_opts[@]}" source --download-only -qq "postgresql-$major" >/dev/null 2>&1) ||
        ls_die "apt-get could not fetch the source package postgresql-$major"
    rm -rf "$dir/src"
    mkdir -p "$dir/src"
    tar -xf "$dir"/dl/postgresql-"$major"_*.orig.tar.* -C "$dir/src" --strip-components=1
    source_dir=$dir/src
fi

ls_info "building PostgreSQL $major from $source_dir into $prefix (a few minutes)" >&2
log=$dir/build.log
if ! (
    cd "$source_dir" &&
        ./configure --prefix="$prefix" --enable-tap-tests --without-icu &&
        make -j"$(nproc)" -s &&
        make -s install &&
        make -C contrib -j"$(nproc)" -s &&
        make -C contrib -s install # dblink: the isolation specs use it
) >"$log" 2>&1 </dev/null; then
    tail -n 30 "$log" >&2
    ls_die "the build of PostgreSQL $major failed (log: $log)"
fi
chmod -R a+rX "$dir"
touch "$dir/complete"
printf '%s\n' "$prefix/bin/pg_config"

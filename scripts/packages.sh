#!/usr/bin/env bash
# scripts/packages.sh: lockservice's Debian packages and PGXN distribution,
# built as their channels build them and tried as a DBA would
# (scripts/test.sh --suite packages runs it).
#
#   sudo scripts/packages.sh [--out DIR]
#
# 1. installs the build tools it lacks (debhelper, lintian,
#    postgresql-server-dev-all, libpq-dev, pkg-config);
# 2. builds in a copy of the tree (git's files): dpkg-buildpackage -us -uc -b
#    (debian/rules: pg_buildext builds postgresql-NN-lockservice for each
#    PostgreSQL major of debian/pgversions installed in Debian's layout;
#    lockctl, liblockservice-client1 and liblockservice-client-dev once);
# 3. lintian on the .changes: no error and no warning (informational tags
#    are listed);
# 4. apt-get install ./… of the built packages, pg_createcluster 15 with
#    lockservice in shared_preload_libraries, CREATE EXTENSION, the
#    pg_regress and isolation suites against that cluster with the
#    installed files (installcheck), lockctl from /usr/bin against it, and
#    a C program built with pkg-config against the installed library;
# 5. drops the cluster and purges the packages;
# 6. PGXN: make dist (lockservice-VERSION.zip, the version of META.json and
#    the control file), pgxn install ./lockservice-VERSION.zip (pgxnclient),
#    pgxn check (make installcheck) as postgres, pgxn uninstall.
# lockservice files of an earlier "make install" into the system's
# PostgreSQL (scripts/demo.sh does that) are put aside before and back after.
#
# The .deb files and the zip stay in DIR (default: a temporary directory,
# removed).  Prints "ok"/"not ok" lines and ends with
# "packages: N passed, N failed".

set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

out=''
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: sudo $0 [--out DIR]" >&2; exit 2 ;;
    esac
done
ls_require_root

pass=0 fail=0 n=0
ok() {
    n=$((n + 1))
    if [[ $1 == 0 ]]; then
        pass=$((pass + 1)); echo "ok $n - $2"
    else
        fail=$((fail + 1)); echo "not ok $n - $2"
    fi
}
finish() {
    echo "packages: $pass passed, $fail failed"
    exit $((fail > 0))
}

work=$(mktemp -d /tmp/lockservice-packages.XXXXXX)
chmod 755 "$work"
[[ -n $out ]] || out=$work/out
mkdir -p "$out"
version=$(sed -n '1s/^lockservice (\([^)]*\)).*/\1/p' "$LS_ROOT/debian/changelog")
packages=(lockctl liblockservice-client1 liblockservice-client-dev)
cluster=lsdeb
port=''
stash=$work/stash

# the system's lockservice files that no package owns (a "make install")
unowned() {
    local f
    for f in /usr/lib/postgresql/*/lib/lockservice.so /usr/lib/postgresql/*/lib/bitcode/lockservice* \
        /usr/share/postgresql/*/extension/lockservice* /usr/lib/*/liblockservice_client.* \
        /usr/lib/*/pkgconfig/lockservice_client.pc /usr/include/lockservice_client.h; do
        [[ -e $f || -L $f ]] || continue
        dpkg -S "$f" >/dev/null 2>&1 || echo "$f"
    done
}

# shellcheck disable=SC2317 # the EXIT trap runs it
cleanup() {
    if [[ -n $port ]]; then
        pg_dropcluster --stop "$LS_PG_VERSION" "$cluster" >/dev/null 2>&1 || true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" </dev/null >/dev/null 2>&1 || true
    if [[ -d $stash ]]; then
        (cd "$stash" && find . -mindepth 1 \( -type f -o -type l \) -print0 |
            while IFS= read -r -d '' f; do
                mkdir -p "/$(dirname -- "${f#./}")"
                cp -a "$f" "/${f#./}"
            done)
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. tools ---------------------------------------------------------------
LS_PACKAGES=(build-essential debhelper lintian postgresql-server-dev-all "postgresql-server-dev-$LS_PG_VERSION"
    "postgresql-$LS_PG_VERSION" libpq-dev pkg-config pgxnclient unzip)
ls_ensure_packages

# --- 2. build ---------------------------------------------------------------
src=$work/build/lockservice-$version
# copy_tree DEST: the tracked files and the new ones not ignored (a copy
# owned by another account, as scripts/test.sh makes, is still read);
# without git the whole tree, cleaned of build output
copy_tree() {
    mkdir -p "$1"
    if git -C "$LS_ROOT" -c safe.directory='*' rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$LS_ROOT" -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
            grep -zv '^clients/node/node_modules/' | (cd "$LS_ROOT" && tar --null -cf - -T -) | tar -xf - -C "$1"
    else
        ls_copy_tree "$LS_ROOT" "$1"
        make -s -C "$1" clean PG_CONFIG="$LS_PG_BIN/pg_config" >/dev/null 2>&1
    fi
}
copy_tree "$src"
t0=$SECONDS
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
rc=$?
ok $rc "dpkg-buildpackage -us -uc -b ($((SECONDS - t0)) s)"
if ((rc != 0)); then
    tail -n 40 "$work/build.log"
    finish
fi
cp "$work"/build/*.deb "$work"/build/*.changes "$work"/build/*.buildinfo "$out"/
debs=()
for f in "$work"/build/*.deb; do
    [[ $f == *-dbgsym_* ]] || debs+=("$f")
done
mapfile -t pgpkgs < <(for f in "${debs[@]}"; do basename "$f" | sed -n 's/^\(postgresql-[0-9]*-lockservice\)_.*/\1/p'; done)
packages+=("${pgpkgs[@]}")
echo "# built: $(for f in "${debs[@]}"; do basename "$f"; done | tr '\n' ' ')"
ok "$([[ " ${pgpkgs[*]} " == *" postgresql-$LS_PG_VERSION-lockservice "* && ${#debs[@]} -eq $((3 + ${#pgpkgs[@]})) ]]; echo $?)" \
    "the packages: ${packages[*]}"
contents=$(dpkg-deb -c "$work/build/postgresql-$LS_PG_VERSION-lockservice_${version}_amd64.deb" 2>/dev/null)
ok "$(grep -q "extension/lockservice--1.2--1.3.sql" <<<"$contents" && grep -q "lib/lockservice.so" <<<"$contents"; echo $?)" \
    "postgresql-$LS_PG_VERSION-lockservice holds the module, the control file and every SQL script"

# --- 3. lintian -------------------------------------------------------------
lintian --display-info "$work"/build/*.changes >"$work/lintian.log" 2>&1
sed 's/^/#   lintian: /' "$work/lintian.log"
ok "$(! grep -Eq '^[EW]: ' "$work/lintian.log"; echo $?)" "lintian: no errors, no warnings"

# --- 4. install and use -------------------------------------------------------
mkdir -p "$stash"
while IFS= read -r f; do
    mkdir -p "$stash/$(dirname -- "${f#/}")"
    mv "$f" "$stash/${f#/}"
done < <(unowned)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" </dev/null >"$work/install.log" 2>&1
rc=$?
ok $rc "apt-get install ./… of the built packages"
((rc == 0)) || { tail -n 20 "$work/install.log"; finish; }

port=$(ls_free_port)
pg_createcluster "$LS_PG_VERSION" "$cluster" -p "$port" -- --auth-local=trust >"$work/cluster.log" 2>&1 &&
    printf "shared_preload_libraries = 'lockservice'\nmax_prepared_transactions = 5\nfsync = off\n" \
        >"/etc/postgresql/$LS_PG_VERSION/$cluster/conf.d/lockservice.conf" &&
    pg_ctlcluster "$LS_PG_VERSION" "$cluster" start >>"$work/cluster.log" 2>&1
rc=$?
ok $rc "pg_createcluster $LS_PG_VERSION $cluster with lockservice preloaded, started (port $port)"
((rc == 0)) || { cat "$work/cluster.log"; finish; }
sock=/var/run/postgresql
# (from /: psql complains of a current directory postgres cannot enter)
psql_pg=(env -C / runuser -u postgres -- psql -X -q -A -t -h "$sock" -p "$port" -v ON_ERROR_STOP=1)
"${psql_pg[@]}" -d postgres -c 'CREATE EXTENSION lockservice' &&
    [[ $("${psql_pg[@]}" -d postgres -c "SELECT extversion FROM pg_catalog.pg_extension
        WHERE extname OPERATOR(pg_catalog.=) 'lockservice'") == "$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$LS_ROOT/lockservice.control")" ]]
ok $? "CREATE EXTENSION lockservice from the package, at the control file's version"

# the suites, from a copy of the tests owned by postgres, against the cluster
tests=$work/tests
mkdir -p "$tests"
cp -a "$src/test" "$src/expected" "$tests/"
chown -R postgres: "$tests"
pgxs=$(dirname -- "$("/usr/lib/postgresql/$LS_PG_VERSION/bin/pg_config" --pgxs)")/..
mapfile -t regress < <(find "$src/test/sql" -name '*.sql' -printf '%f\n' | sed 's/\.sql$//' | sort)
mapfile -t specs < <(find "$src/test/specs" -name '*.spec' -printf '%f\n' | sed 's/\.spec$//' | sort)
(cd "$tests" && runuser -u postgres -- "$pgxs/test/regress/pg_regress" --inputdir=test --outputdir=. \
    --bindir="/usr/lib/postgresql/$LS_PG_VERSION/bin" --host="$sock" --port="$port" \
    --dbname=contrib_regression --load-extension=lockservice "${regress[@]}") >"$work/regress.log" 2>&1
rc=$?
grep -E '^(test|ok|not ok|#|     )' "$work/regress.log" | sed 's/^/#   /' | tail -n 20
ok $rc "pg_regress installcheck against the installed package (${#regress[@]} tests)"
((rc == 0)) || { [[ -f $tests/regression.diffs ]] && head -n 60 "$tests/regression.diffs"; }
(cd "$tests" && runuser -u postgres -- "$pgxs/test/isolation/pg_isolation_regress" --inputdir=test --outputdir=. \
    --bindir="/usr/lib/postgresql/$LS_PG_VERSION/bin" --host="$sock" --port="$port" \
    --dbname=contrib_regression --load-extension=lockservice "${specs[@]}") >"$work/isolation.log" 2>&1
rc=$?
ok $rc "pg_isolation_regress installcheck against the installed package (${#specs[@]} specs)"
((rc == 0)) || { tail -n 20 "$work/isolation.log"; [[ -f $tests/regression.diffs ]] && head -n 60 "$tests/regression.diffs"; }

# lockctl and the C library from the packages
ci="host=$sock port=$port dbname=postgres user=postgres"
tok=$(runuser -u postgres -- /usr/bin/lockctl -d "$ci" acquire deb-test --ttl 30s 2>&1) &&
    runuser -u postgres -- /usr/bin/lockctl -d "$ci" release deb-test "$tok" >/dev/null 2>&1
ok $? "/usr/bin/lockctl acquires and releases (token $tok)"
cat >"$work/prog.c" <<'EOF'
#include <stdio.h>
#include <lockservice_client.h>

int
main(void)
{
	int64_t		ms = 0;
	char		buf[32];

	if (ls_parse_duration("1m30s", &ms) != 0)
		return 1;
	ls_format_duration(ms, buf, sizeof(buf));
	printf("%lld %s\n", (long long) ms, buf);
	return 0;
}
EOF
# ldd's whole output is read before it is matched: under pipefail, "ldd | grep -q"
# fails whenever grep has matched and left before ldd wrote its last line (SIGPIPE)
# shellcheck disable=SC2046 # pkg-config's flags are words
gcc -Wall -Werror -o "$work/prog" "$work/prog.c" $(pkg-config --cflags --libs lockservice_client) >"$work/prog.log" 2>&1 &&
    ldd "$work/prog" >>"$work/prog.log" 2>&1 &&
    grep -Eq 'liblockservice_client\.so\.1 => /(usr/)?lib/' "$work/prog.log" &&
    progout=$("$work/prog" 2>&1) && echo "prog: $progout" >>"$work/prog.log" && [[ $progout == "90000 "* ]]
rc=$?
ok $rc "a C program built with pkg-config links the installed shared library (liblockservice_client.so.1)"
((rc == 0)) || sed 's/^/# /' "$work/prog.log"

# --- 5. remove ----------------------------------------------------------------
pg_dropcluster --stop "$LS_PG_VERSION" "$cluster" >/dev/null 2>&1
port=''
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" </dev/null >"$work/purge.log" 2>&1
rc=$?
ok "$([[ $rc == 0 && ! -e /usr/bin/lockctl && -z $(ls /usr/share/postgresql/*/extension/lockservice* 2>/dev/null) ]]; echo $?)" \
    "apt-get purge removes every file"

# --- 6. PGXN -----------------------------------------------------------------
pgc=/usr/lib/postgresql/$LS_PG_VERSION/bin/pg_config
zip=lockservice-$version.zip
# make dist archives a commit: one of the tree as it is, in a copy
copy_tree "$work/dist"
(cd "$work/dist" && git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm dist &&
    make -s dist PG_CONFIG="$pgc") >"$work/dist.log" 2>&1 && cp "$work/dist/$zip" "$out/"
rc=$?
ok $rc "make dist: $zip"
((rc == 0)) || { cat "$work/dist.log"; finish; }
listing=$(unzip -Z1 "$out/$zip")
ok "$(grep -qx "lockservice-$version/META.json" <<<"$listing" &&
    grep -qx "lockservice-$version/sql/lockservice--1.2--1.3.sql" <<<"$listing" &&
    grep -qx "lockservice-$version/clients/c/lockctl.c" <<<"$listing" &&
    ! grep -Eq "^lockservice-$version/(bench|clients/(go|java|node|python|install)|debian|scripts|monitoring|test/t|test/safety|\.ci)/" <<<"$listing"; echo $?)" \
    "the zip holds the sources (lockctl and the C library too), SQL scripts and installcheck's tests, no CI, bench or other clients ($(wc -l <<<"$listing") files)"
pgxn install --yes --make make --pg_config "$pgc" "$out/$zip" >"$work/pgxn-install.log" 2>&1 &&
    [[ -f /usr/share/postgresql/$LS_PG_VERSION/extension/lockservice--1.2--1.3.sql ]]
rc=$?
ok $rc "pgxn install ./$zip"
((rc == 0)) || tail -n 20 "$work/pgxn-install.log"
chmod 755 "$out"
chmod 644 "$out/$zip"
(cd /tmp && runuser -u postgres -- pgxn check --make make --pg_config "$pgc" "$out/$zip") \
    >"$work/pgxn-check.log" 2>&1
rc=$?
grep -E 'All [0-9]+ tests passed|tests? failed|^ok|^not ok' "$work/pgxn-check.log" | sed 's/^/#   /'
ok $rc "pgxn check ./$zip: make installcheck (regress and isolation) against the installed files"
((rc == 0)) || tail -n 30 "$work/pgxn-check.log"
pgxn uninstall --yes --make make --pg_config "$pgc" "$out/$zip" >"$work/pgxn-uninstall.log" 2>&1
rc=$?
ok "$([[ $rc == 0 && ! -e /usr/lib/postgresql/$LS_PG_VERSION/lib/lockservice.so ]]; echo $?)" "pgxn uninstall removes it"
finish

#!/bin/bash
# The client packages as users install them (scripts/test.sh --suite clients
# --client install): each package's distributable artefact is built from the
# tree — the npm tarball (npm pack), the wheel (Debian's python3-build), the
# jar (javac and jar), the Go package copied out of the tree — and installed
# into a fresh project outside it, with the install command its README gives;
# the project's sample then takes and releases a lock on the harness's server.
# One test per package: the sample printed "acquired NAME token N" and
# "released true".
set -uo pipefail
cd "$(dirname "$0")"
here=$PWD
clients=$(cd .. && pwd)
work=${LS_WORKDIR:-$(mktemp -d)}/install
rm -rf "$work"
mkdir -p "$work"
export npm_config_cache="${LS_WORKDIR:-$work}/npm-cache" npm_config_update_notifier=false
kv() { tr ' ' '\n' <<<"$LS_DSN" | sed -n "s/^$1=//p"; }
url="postgresql://$(kv user)@$(kv host):$(kv port)/$(kv dbname)"
jdbc="jdbc:postgresql://$(kv host):$(kv port)/$(kv dbname)?user=$(kv user)"
passed=0 failed=0

# check NAME LOG: the sample's output in LOG took and released the lock
check() {
	if grep -Eq "^acquired install-$1 token [0-9]+$" "$2" && grep -q '^released [Tt]rue$' "$2"; then
		echo "ok - $1: built, installed into a fresh project, the sample took and released a lock"
		passed=$((passed + 1))
	else
		echo "not ok - $1 (log: $2)"
		cat "$2"
		failed=$((failed + 1))
	fi
}

# Node.js: npm pack, then "npm install <tarball> pg" in a new project
(
	set -e
	tarball=$(cd "$clients/node" && npm pack --silent --pack-destination "$work")
	mkdir "$work/node-app"
	cp "$here/sample.js" "$work/node-app/"
	cd "$work/node-app"
	npm init -y >/dev/null
	npm install --no-audit --no-fund --loglevel=error "$work/$tarball" pg
	node sample.js "$url" install-node
) >"$work/node.log" 2>&1
check node "$work/node.log"

# Python: a wheel built from a copy of the tree, "pip install <wheel>" into a
# venv (psycopg from Debian's python3-psycopg: --system-site-packages)
(
	set -e
	cp -r "$clients/python" "$work/python-src"
	python3 -m build --wheel --no-isolation --outdir "$work/dist" "$work/python-src"
	python3 -m venv --system-site-packages "$work/venv"
	"$work/venv/bin/pip" install --no-index --no-deps "$work"/dist/lockservice-*.whl
	mkdir "$work/python-app"
	cp "$here/sample.py" "$work/python-app/"
	cd "$work/python-app"
	"$work/venv/bin/python" sample.py "$LS_DSN" install-python
) >"$work/python.log" 2>&1
check python "$work/python.log"

# Java: the jar of src/main, then a program compiled and run against it
(
	set -e
	pgjdbc=/usr/share/java/postgresql.jar
	mkdir -p "$work/java-classes" "$work/java-app"
	javac -Xlint:all -Werror -d "$work/java-classes" -cp "$pgjdbc" $(find "$clients/java/src/main" -name '*.java')
	jar --create --file "$work/lockservice-client.jar" -C "$work/java-classes" .
	cp "$here/Sample.java" "$work/java-app/"
	cd "$work/java-app"
	javac -d . -cp "$work/lockservice-client.jar:$pgjdbc" Sample.java
	java -cp ".:$work/lockservice-client.jar:$pgjdbc" Sample "$jdbc" install-java
) >"$work/java.log" 2>&1
check java "$work/java.log"

# Go: the package copied (not linked) into a GOPATH of the project's own,
# its dependency pgx v4 from Debian's /usr/share/gocode
(
	set -e
	pkg="$work/gopath/src/github.com/lockservice/lockservice-go"
	mkdir -p "$pkg" "$work/gopath/src/example.com"
	cp "$clients/go"/*.go "$clients/go/go.mod" "$pkg/"
	rm -f "$pkg"/*_test.go
	cp -r "$here/goapp" "$work/gopath/src/example.com/app"
	cd "$work/gopath/src/example.com/app"
	GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache" go build -o app .
	./app "$LS_DSN" install-go
) >"$work/go.log" 2>&1
check go "$work/go.log"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

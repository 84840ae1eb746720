#!/bin/bash
# The Go client's tests (scripts/test.sh --suite clients --client go): built
# offline in GOPATH mode over Debian's /usr/share/gocode (pgx v4), go test
# against the harness's server and PgBouncer; the examples built first and
# run by the tests as processes of their own.
set -uo pipefail
cd "$(dirname "$0")"
work=${LS_WORKDIR:-$(mktemp -d)}/go
import=github.com/lockservice/lockservice-go
mkdir -p "$work/gopath/src/$(dirname "$import")" "$work/bin"
ln -sfn "$PWD" "$work/gopath/src/$import"
export GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/cache"
cd "$work/gopath/src/$import"
out=$(mktemp)
rc=0
for e in leader singleton criticalsection reservation; do
	go build -o "$work/bin/$e" "./examples/$e" || rc=1
done
go vet . ./examples/... || rc=1
LS_GO_EXAMPLES="$work/bin" go test -count=1 -timeout 10m -v . 2>&1 | tee "$out"
[ "${PIPESTATUS[0]}" -ne 0 ] && rc=1
passed=$(grep -c -- '^--- PASS' "$out")
failed=$(grep -c -- '^--- FAIL' "$out")
rm -f "$out"
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "go: $passed passed, $failed failed"
exit "$rc"

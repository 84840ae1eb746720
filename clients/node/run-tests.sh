#!/bin/bash
# The Node.js client's tests (scripts/test.sh --suite clients --client node):
# npm ci (pg, typescript, eslint from the npm registry, cache in the work
# directory), tsc --strict and eslint, then node --test against the
# harness's server and PgBouncer.
set -uo pipefail
cd "$(dirname "$0")"
export npm_config_cache="${LS_WORKDIR:-/tmp}/npm-cache" npm_config_update_notifier=false
npm ci --no-audit --no-fund --loglevel=error || { echo "node: 0 passed, 1 failed"; exit 1; }
# lint: the declarations against the README's uses (tsc --strict), the code
# with ESLint's recommended rules; each counts as one test
lint_pass=0 lint_fail=0
for check in "npx --no-install tsc -p ." "npx --no-install eslint ."; do
	echo "lint: $check"
	if $check; then lint_pass=$((lint_pass + 1)); else lint_fail=$((lint_fail + 1)); fi
done
out=$(mktemp)
node --test --test-concurrency=1 test/client.test.js 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
passed=$(awk '/^# pass / {print $3}' "$out" | tail -1)
failed=$(awk '/^# fail / {print $3}' "$out" | tail -1)
rm -f "$out"
[ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
passed=$((${passed:-0} + lint_pass))
failed=$((${failed:-0} + lint_fail))
[ "$lint_fail" -gt 0 ] && rc=1
echo "node: ${passed:-0} passed, ${failed:-0} failed"
exit "$rc"

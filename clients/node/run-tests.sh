#!/bin/bash
# The Node.js client's tests (scripts/test.sh --suite clients --client node):
# npm ci (pg from the npm registry, cache in the work directory), then
# node --test against the harness's server and PgBouncer.
set -uo pipefail
cd "$(dirname "$0")"
export npm_config_cache="${LS_WORKDIR:-/tmp}/npm-cache" npm_config_update_notifier=false
npm ci --no-audit --no-fund --loglevel=error || { echo "node: 0 passed, 1 failed"; exit 1; }
out=$(mktemp)
node --test --test-concurrency=1 test/client.test.js 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
passed=$(awk '/^# pass / {print $3}' "$out" | tail -1)
failed=$(awk '/^# fail / {print $3}' "$out" | tail -1)
rm -f "$out"
[ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
echo "node: ${passed:-0} passed, ${failed:-0} failed"
exit "$rc"

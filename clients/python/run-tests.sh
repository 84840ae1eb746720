#!/bin/bash
# The Python client's tests (scripts/test.sh --suite clients --client python):
# pyflakes, then pytest with Debian's python3 against the harness's server
# and PgBouncer.
set -uo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="$PWD/src" PYTHONDONTWRITEBYTECODE=1
# lint (Debian's pyflakes): one test
lint_pass=0 lint_fail=0
echo "lint: pyflakes src tests"
if /usr/bin/python3 -m pyflakes src tests; then lint_pass=1; else lint_fail=1; fi
out=$(mktemp)
/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE tests 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
passed=$(grep -Eo '[0-9]+ passed' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '[0-9]+ (failed|errors?)' "$out" | awk '{s += $1} END {print s + 0}')
rm -f "$out"
[ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
passed=$((${passed:-0} + lint_pass))
failed=$((${failed:-0} + lint_fail))
[ "$lint_fail" -gt 0 ] && rc=1
echo "python: ${passed:-0} passed, ${failed:-0} failed"
exit "$rc"

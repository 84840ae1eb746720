#!/bin/bash
# The Java client's tests (scripts/test.sh --suite clients --client java):
# javac and JUnit 5's console launcher from Debian (Maven Central is not
# reachable here; pom.xml is for normal builds), against the harness's server
# and PgBouncer.
set -uo pipefail
cd "$(dirname "$0")"
work=${LS_WORKDIR:-$(mktemp -d)}/java
rm -rf "$work"; mkdir -p "$work/classes"
cp="/usr/share/java/postgresql.jar:/usr/share/java/junit-platform-console-standalone.jar"
if ! javac -Xlint:all -Werror -d "$work/classes" -cp "$cp" $(find src -name '*.java'); then
	echo "java: 0 passed, 1 failed"; exit 1
fi
out=$(mktemp)
# on the JVM's own class path, so that the tests can start the examples in JVMs of their own
java -cp "$work/classes:$cp" org.junit.platform.console.ConsoleLauncher --disable-banner --details=tree \
	--disable-ansi-colors --select-package io.lockservice 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
passed=$(grep -Eo '[0-9]+ tests successful' "$out" | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '[0-9]+ tests failed' "$out" | grep -Eo '[0-9]+' | tail -1)
rm -f "$out"
[ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
echo "java: ${passed:-0} passed, ${failed:-0} failed"
exit "$rc"

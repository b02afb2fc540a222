#!/bin/sh
# oclgrind_run.sh TEST [ARGS...] - run a device test under Oclgrind (docs/GPU.md) with
# data-race, uninitialised-memory and API checks; fail on any Oclgrind report even when
# the test's own checks pass. Exits 77 (skipped) when oclgrind is not installed.
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
VD_TEST_SMALL=1 oclgrind --build-options -cl-opt-disable --data-races --uninitialized --check-api "$@" 2>"$err"
rc=$?
cat "$err" >&2
if grep -Eqi 'Invalid (read|write)|data race|Uninitiali[sz]ed|^Oclgrind.*error|error:' "$err"; then
    n=$(grep -Eci 'Invalid (read|write)|data race|Uninitiali[sz]ed|error' "$err")
    echo "oclgrind_run: $n Oclgrind report line(s) for $1 (stderr above)"
    exit 1
fi
exit $rc

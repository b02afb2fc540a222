#!/usr/bin/env bash
# test.sh - set up and build Verdant (scripts/setup.sh), then run every test with ctest.
# With CI=true: warnings are errors, at least one OpenCL device must exist (PoCL), and a
# skipped test counts as a failure, so device tests never silently skip there.
#
# Usage: scripts/test.sh [extra ctest options...]   e.g. scripts/test.sh -R dense
# Environment:
#   VD_TEST_TIMEOUT  seconds allowed per test that sets no TIMEOUT of its own (default 900)
#   VD_TEST_JOBS     parallel tests (default 2)
# Exits non-zero when anything fails; the last line is the verdict.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_BUILD_DIR:-$root/build}"
export VD_BUILD_DIR="$build"
ci="${CI:-false}"

verdict() {
    echo "test.sh: $*"
}

cmake_args=()
if [ "$ci" = true ]; then
    cmake_args+=(-DVD_WARNINGS_AS_ERRORS=ON)
fi
if ! bash "$root/scripts/setup.sh" "${cmake_args[@]}"; then
    verdict "FAILED: setup/build failed"
    exit 1
fi

if [ "$ci" = true ]; then
    devices="$(clinfo -l 2>&1 || true)"
    echo "$devices"
    if ! grep -q 'Device #' <<<"$devices"; then
        echo "test.sh: error: CI=true but no OpenCL device was found (clinfo -l)." >&2
        echo "test.sh: CI must have PoCL (pocl-opencl-icd) so device tests never skip." >&2
        verdict "FAILED: no OpenCL device in CI"
        exit 1
    fi
fi

log="$(mktemp "${TMPDIR:-/tmp}/verdant-ctest.XXXXXX")"
trap 'rm -f "$log"' EXIT
reason=""
set +e
ctest --test-dir "$build" --output-on-failure --no-tests=error \
    -j"${VD_TEST_JOBS:-2}" --timeout "${VD_TEST_TIMEOUT:-900}" "$@" 2>&1 | tee "$log"
rc="${PIPESTATUS[0]}"
set -e

# In CI a skipped test (exit 77: no device) is a failure: PoCL must make every test run.
if [ "$ci" = true ] && [ "$rc" -eq 0 ] && grep -q '\*\*\*Skipped' "$log"; then
    echo "test.sh: error: CI=true but some tests were skipped:" >&2
    grep -E 'Skipped|Not Run' "$log" >&2 || true
    rc=1
    reason="$(grep -c '(Skipped)' "$log" || true) test(s) skipped in CI; "
fi

summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
if [ "$rc" -eq 0 ]; then
    verdict "PASSED: ${summary:-all tests passed}"
else
    verdict "FAILED: ${reason:-}${summary:-see the output above} (exit $rc)"
fi
exit "$rc"

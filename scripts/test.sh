#!/usr/bin/env bash
# test.sh - set up and build Verdant (scripts/setup.sh), then run every test with ctest.
# With CI=true: warnings are errors, at least one OpenCL device must exist (PoCL), and a
# skipped test counts as a failure, so device tests never silently skip there.
#
# Usage: scripts/test.sh [extra ctest options...]   e.g. scripts/test.sh -R dense
# Environment:
#   VD_TEST_TIMEOUT  seconds allowed per test that sets no TIMEOUT of its own (default 900)
#   VD_TEST_JOBS     parallel tests (default 2)
#   VD_OCLGRIND_LONG=1  also run the label oclgrind-long (the model step of every sample
#                    model under Oclgrind, both profiles; over 10 CPU minutes each)
#   VD_SANITIZE=1    also run scripts/sanitize.sh (ASan+UBSan+LSan build, all tests); on in CI
#   VD_FUZZ=1        also run scripts/fuzz.sh (VD_FUZZ_SECONDS per harness, default 60); on in
#                    CI. Both stages run only when no ctest options were given.
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
run_sanitize=false
run_fuzz=false
if [ "$#" -eq 0 ]; then
    { [ "$ci" = true ] || [ "${VD_SANITIZE:-0}" = 1 ]; } && run_sanitize=true
    { [ "$ci" = true ] || [ "${VD_FUZZ:-0}" = 1 ]; } && run_fuzz=true
fi
# libFuzzer comes with clang's runtime library package.
"$run_fuzz" && export VD_EXTRA_PKGS="${VD_EXTRA_PKGS:-} clang libclang-rt-14-dev"
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
# The Oclgrind model steps (label oclgrind-long, over 10 CPU minutes each) only on request.
long_filter=()
[ "${VD_OCLGRIND_LONG:-0}" = 1 ] || long_filter=(-LE oclgrind-long)
ctest --test-dir "$build" --output-on-failure --no-tests=error "${long_filter[@]}" \
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

# Reliability stages (docs/RELIABILITY.md): the sanitizer run, then bounded fuzzing.
if [ "$rc" -eq 0 ] && "$run_sanitize" && ! bash "$root/scripts/sanitize.sh"; then
    rc=1
    reason="${reason}sanitizer stage (scripts/sanitize.sh) failed; "
fi
if [ "$rc" -eq 0 ] && "$run_fuzz" && ! bash "$root/scripts/fuzz.sh"; then
    rc=1
    reason="${reason}fuzz stage (scripts/fuzz.sh) failed; "
fi

summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
if [ "$rc" -eq 0 ]; then
    verdict "PASSED: ${summary:-all tests passed}"
else
    verdict "FAILED: ${reason:-}${summary:-see the output above} (exit $rc)"
fi
exit "$rc"

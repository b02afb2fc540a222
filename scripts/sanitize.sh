#!/usr/bin/env bash
# sanitize.sh - build the library, the tests and the verdant command with AddressSanitizer
# and UndefinedBehaviorSanitizer (gcc, -O1 -g, every UB check fatal) and run the tests
# under them with LeakSanitizer on: the host-side tests (parsers, references, caches) and the
# device tests on PoCL, the CLI end-to-end test included. Suppressions and the reason for
# each are in tests/sanitizers.supp.
#
# Usage: scripts/sanitize.sh [extra ctest options...]    e.g. scripts/sanitize.sh -R ckpt
# Environment:
#   VD_SANITIZE_BUILD_DIR   build directory (default <repo>/build-asan)
#   VD_TEST_JOBS            parallel tests (default 2)
# Exits non-zero when a test fails or a sanitizer reports; the last line is the verdict.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_SANITIZE_BUILD_DIR:-$root/build-asan}"
flags="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DVD_BUILD_BENCH=OFF -DVD_BUILD_SAMPLES=OFF >/dev/null
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
    tail -n 40 "$build/build.log"
    echo "sanitize.sh: FAILED: the sanitizer build failed (log: $build/build.log)"
    exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:new_delete_type_mismatch=0:abort_on_error=0:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers.supp:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

set +e
ctest --test-dir "$build" --output-on-failure -j"${VD_TEST_JOBS:-2}" --timeout 600 \
    -E '^install_consumer$' "$@" 2>&1 | tee "$build/ctest.log"
rc="${PIPESTATUS[0]}"
set -e
summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$build/ctest.log" | tail -1)"
if [ "$rc" -eq 0 ]; then
    echo "sanitize.sh: PASSED under ASan+UBSan+LSan: ${summary:-all tests passed}"
else
    echo "sanitize.sh: FAILED under ASan+UBSan+LSan: ${summary:-see above} (exit $rc)"
fi
exit "$rc"

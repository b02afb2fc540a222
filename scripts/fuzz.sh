#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer harnesses (tests/fuzz, clang, ASan + UBSan) and run each one
# for a bounded time, starting from its seed corpus in tests/fuzz/corpus/<harness>/.
#
# First every corpus file is replayed (the crash regressions kept there must stay fixed),
# then each harness fuzzes for VD_FUZZ_SECONDS. New interesting inputs go to a scratch
# corpus under the build directory, not into the repository; a crash leaves its input in
# <build>/fuzz-artifacts/<harness>/ and fails the run: copy it into the corpus as a
# regression input (crash-<what>) once the parser is fixed.
#
# Usage: scripts/fuzz.sh [harness...]        (default: all of them)
# Environment:
#   VD_FUZZ_SECONDS    seconds of fuzzing per harness (default 60)
#   VD_FUZZ_JOBS       harnesses run at once (default: number of CPUs)
#   VD_FUZZ_BUILD_DIR  build directory (default <repo>/build-fuzz)
# Prints one line per harness (executions, new corpus inputs, crashes) and a verdict.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${VD_FUZZ_SECONDS:-60}"
jobs="${VD_FUZZ_JOBS:-$(nproc)}"
all=(fuzz_cfg fuzz_idx fuzz_ckpt fuzz_progcache fuzz_tune fuzz_onnx)
harnesses=("${@:-${all[@]}}")

command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVD_FUZZ=ON \
    -DVD_BUILD_TESTS=OFF -DVD_BUILD_SAMPLES=OFF -DVD_BUILD_CLI=OFF -DVD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${harnesses[@]}" >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
    local h="$1" seeds="$root/tests/fuzz/corpus/$1" scratch="$build/fuzz-corpus/$1"
    local art="$build/fuzz-artifacts/$1" log="$build/fuzz-logs/$1.log"
    mkdir -p "$scratch" "$art" "$(dirname "$log")"
    rm -f "$art"/* "$log"
    # Replay every kept input (seeds and crash regressions).
    if ! "$build/tests/fuzz/$h" -runs=0 -artifact_prefix="$art/" "$seeds"/* >"$log" 2>&1; then
        echo "$h: a corpus input fails (regression); see $log"
        return 1
    fi
    # Fuzz. The scratch corpus comes first so new inputs are written there.
    local rc=0 execs crashes
    "$build/tests/fuzz/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" \
        "$scratch" "$seeds" >>"$log" 2>&1 || rc=$?
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    crashes="$(find "$art" -type f | wc -l)"
    printf '%-16s %4ss %10s executions %6s corpus inputs %3s crashes\n' "$h" "$seconds" \
        "${execs:-?}" "$(find "$scratch" -type f | wc -l)" "$crashes"
    [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || { echo "$h: FAILED (exit $rc); see $log"; return 1; }
}

fail=0
pids=()
for h in "${harnesses[@]}"; do
    run_one "$h" &
    pids+=("$!")
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        wait "${pids[0]}" || fail=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
if [ "$fail" -eq 0 ]; then
    echo "fuzz.sh: PASSED: ${#harnesses[@]} harnesses, ${seconds}s each, no crashes"
else
    echo "fuzz.sh: FAILED: see the logs under $build/fuzz-logs"
fi
exit "$fail"

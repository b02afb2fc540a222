#!/usr/bin/env bash
# mutation_check.sh - show that the gpu-profile and oclgrind labels catch what they are
# for (docs/GPU.md): each mutation is applied to a copy of cl/ that the tests load through
# VERDANT_KERNEL_DIR, and the named test must FAIL with it (and pass without it).
#
#   M1 gpu-profile: relu_mask_bias_nchw_bwd's GPU branch (conv.cl, #else of
#      VD_DEVICE_IS_CPU) drops the masked gradient of every second work-item: only the
#      GPU profile runs that code, so test_conv_gpuprofile must fail and test_conv pass.
#   M2 oclgrind: direct_bwd_filter (conv_direct.cl) no longer clears its staged __local
#      plane, so the padding it reads is whatever the memory held; test_conv_direct_oclgrind
#      must fail (Oclgrind's uninitialised-value report). Whether PoCL's run notices
#      (test_conv_direct) is printed too: where the memory happens to hold zeros it cannot.
#   M3 oclgrind: fft_pack (conv_fft.cl) zeroes one element past the end of each row of the
#      padded plane, so the last row of a plane writes the first element of the next plane,
#      which another work-item owns (and the last plane writes past its buffer):
#      test_conv_fft_races_oclgrind must fail (a race between work-groups is never dropped
#      by tests/oclgrind.supp). Whether PoCL's run notices is printed too.
#
# Usage: scripts/mutation_check.sh [BUILD_DIR] [M1|M2|M3 ...]   (default: all)
# Exits non-zero when a mutation survives or a test fails without its mutation.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
shift || true
which=("$@")
[ "${#which[@]}" -eq 0 ] && which=(M1 M2 M3)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-mut.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
bad=0

# mutate NAME FILE PYTHON-OLD PYTHON-NEW: a copy of cl/ with OLD replaced by NEW once.
mutate() {
    rm -rf "${tmp:?}/$1" && cp -r "$root/cl" "$tmp/$1"
    python3 - "$tmp/$1/$2" "$3" "$4" <<'PY' || { echo "mutation_check: $1: pattern not found in $2"; exit 1; }
import sys
p, old, new = sys.argv[1:4]
s = open(p).read()
if old not in s:
    sys.exit(1)
open(p, "w").write(s.replace(old, new, 1))
PY
}

# expect NAME TEST: the test passes as built and fails with the mutated kernels.
expect() {
    local name="$1" test="$2"
    if ! ctest --test-dir "$build" -R "^${test}\$" --output-on-failure >"$tmp/$name.clean" 2>&1; then
        echo "mutation_check: $name: $test fails WITHOUT the mutation (see below)"
        tail -20 "$tmp/$name.clean"
        bad=1
        return
    fi
    if VERDANT_KERNEL_DIR="$tmp/$name" ctest --test-dir "$build" -R "^${test}\$" \
        --output-on-failure >"$tmp/$name.mut" 2>&1; then
        echo "mutation_check: $name: SURVIVED: $test passes with the mutated kernels"
        bad=1
    else
        echo "mutation_check: $name: killed: $test fails with the mutation"
        grep -E -m3 "^FAIL|data race|Invalid|Uninit" "$tmp/$name.mut" | cut -c1-160 || true
    fi
}

for m in "${which[@]}"; do
    case "$m" in
    M1)
        mutate M1 conv.cl "        dy[dy_off + i] = g;
        s += g;
        j += (ulong)lsz;" "        dy[dy_off + i] = g;
        s += (l & 1) ? 0.0f : g;
        j += (ulong)lsz;"
        expect M1 test_conv_gpuprofile
        # The CPU profile does not run that branch: test_conv must still pass.
        if VERDANT_KERNEL_DIR="$tmp/M1" ctest --test-dir "$build" -R '^test_conv$' >/dev/null 2>&1; then
            echo "mutation_check: M1: test_conv (CPU profile) passes with it, as it should"
        else
            echo "mutation_check: M1: test_conv fails too: the mutation is not GPU-only"
            bad=1
        fi
        ;;
    M2)
        mutate M2 conv_direct.cl "    vd_local_zero(acc, RS * 8);
    vd_local_zero(xs, Hs * Ws);" "    vd_local_zero(acc, RS * 8);"
        expect M2 test_conv_direct_oclgrind
        if VERDANT_KERNEL_DIR="$tmp/M2" ctest --test-dir "$build" -R '^test_conv_direct$' >/dev/null 2>&1; then
            echo "mutation_check: M2: test_conv_direct on PoCL passes with it (only Oclgrind sees it)"
        else
            echo "mutation_check: M2: test_conv_direct on PoCL fails with it as well"
        fi
        ;;
    M3)
        mutate M3 conv_fft.cl "        for (int v = ow + Ws; v < N1; v++)" \
            "        for (int v = ow + Ws; v <= N1; v++)"
        expect M3 test_conv_fft_races_oclgrind
        if VERDANT_KERNEL_DIR="$tmp/M3" ctest --test-dir "$build" -R '^test_conv_fft$' >/dev/null 2>&1; then
            echo "mutation_check: M3: test_conv_fft on PoCL passed with it this time (whether the zero lands before or after the next plane's own write depends on the work-items' order)"
        else
            echo "mutation_check: M3: test_conv_fft on PoCL fails with it as well"
        fi
        ;;
    *) echo "mutation_check: unknown mutation $m"; bad=1 ;;
    esac
done
exit "$bad"

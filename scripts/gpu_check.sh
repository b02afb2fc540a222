#!/usr/bin/env bash
# gpu_check.sh - run, on a GPU machine without network access, what scripts/gpu_pack.sh
# packed: find the vendor's OpenCL driver, run the test suite on the GPU, `verdant bench` on
# the sample models (training and inference img/s, energy where NVML or another meter
# exists) and, when PyTorch with CUDA is installed there, PyTorch fp32 on the same models.
# Writes one report. See docs/GPU.md.
#
# Usage (from the packed folder): ./gpu_check.sh [--out DIR] [--icd LIB] [--test-timeout S]
#                                                [--steps N] [--skip-tests] [--skip-bench]
#   --out DIR          where the report goes (default $OUT when set, else ./gpu-report)
#   --icd LIB          the vendor's OpenCL library (default: libnvidia-opencl.so.1 found by
#                      ldconfig or in the usual folders, else the system's /etc/OpenCL/vendors)
#   --test-timeout S   seconds per test (default 120)
#   --steps N          timed steps per model in the benchmarks (default 20)
#   --tests REGEX      run only the tests whose name matches (grep -E)
#   --allow-cpu        rehearse on a machine without a GPU (the system's ICDs, e.g. PoCL,
#                      and VERDANT_DEVICE=cpu unless set): checks the pack, not a GPU
# Exit status: 0 when every test passed (or was skipped by --skip-tests), 1 otherwise,
# 2 for a usage error, 3 when no GPU OpenCL device was found.
set -uo pipefail

pack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-$pack/gpu-report}"
icd_lib=""
test_timeout=120
steps=20
run_tests=true
run_bench=true
allow_cpu=false
only=""
while [ "$#" -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --icd) icd_lib="$2"; shift 2 ;;
    --test-timeout) test_timeout="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --skip-tests) run_tests=false; shift ;;
    --skip-bench) run_bench=false; shift ;;
    --allow-cpu) allow_cpu=true; shift ;;
    --tests) only="$2"; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out" || exit 2
out="$(cd "$out" && pwd)"
report="$out/gpu-report.txt"
work="$(mktemp -d "${TMPDIR:-/tmp}/verdant-gpu.XXXXXX")"
trap 'rm -rf "$work"' EXIT
: >"$report"
say() { echo "$*" | tee -a "$report"; }

# 1. The vendor driver, through an ICD file of our own (OCL_ICD_VENDORS), so nothing of the
#    machine's configuration is needed or changed.
find_nvidia() {
    local p
    p="$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 /{print $NF; exit}')"
    [ -n "$p" ] && { echo "$p"; return; }
    for p in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 \
        /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia/current /usr/local/cuda/lib64 \
        /usr/local/cuda/compat; do
        [ -e "$p/libnvidia-opencl.so.1" ] && { echo "$p/libnvidia-opencl.so.1"; return; }
    done
}
[ -n "$icd_lib" ] || "$allow_cpu" || icd_lib="$(find_nvidia)"
mkdir -p "$work/icd"
if [ -n "$icd_lib" ]; then
    echo "$icd_lib" >"$work/icd/vendor.icd"
    export OCL_ICD_VENDORS="$work/icd"
    say "driver: $icd_lib (ICD file $work/icd/vendor.icd)"
elif ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
    say "driver: the system's ICD files: $(cat /etc/OpenCL/vendors/*.icd | tr '\n' ' ')"
else
    say "error: no OpenCL driver: libnvidia-opencl.so.1 not found and /etc/OpenCL/vendors is empty (pass --icd LIB)"
    exit 3
fi
export LD_LIBRARY_PATH="$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VERDANT_CACHE_DIR="$work/kernel-cache"
if "$allow_cpu"; then
    export VERDANT_DEVICE="${VERDANT_DEVICE:-cpu}"
else
    export VERDANT_DEVICE="${VERDANT_DEVICE:-gpu}"
fi
mkdir -p "$VERDANT_CACHE_DIR"
verdant="$pack/bin/verdant"

say "pack: $(tr '\n' ';' <"$pack/PACK-INFO" 2>/dev/null)"
say "host: $(uname -nrm)"
command -v nvidia-smi >/dev/null 2>&1 &&
    say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
say ""
say "== verdant devices"
"$verdant" devices 2>&1 | tee -a "$report"
if ! "$allow_cpu" && ! "$verdant" devices 2>/dev/null | grep -qE '^\*? *[0-9]+:[0-9]+ +GPU'; then
    say "error: no GPU OpenCL device found (see the list above)"
    exit 3
fi

# 2. The test suite on the GPU (every test ctest runs, less those needing a compiler there).
failed=0
passed=0
skipped=0
if "$run_tests"; then
    say ""
    say "== tests (VERDANT_DEVICE=$VERDANT_DEVICE, $test_timeout s each)"
    mkdir -p "$out/tests"
    while IFS=$'\t' read -r name labels env cmd; do
        [ -n "$name" ] || continue
        [ -z "$only" ] || grep -qE "$only" <<<"$name" || continue
        env="${env//@PACK@/$pack}"
        env="${env//$pack\/kernel-cache/$VERDANT_CACHE_DIR}"
        cmd="${cmd//@PACK@/$pack}"
        t0="$(date +%s.%N)"
        # shellcheck disable=SC2086  # the lists are space-separated words without spaces
        (cd "$pack/tests" && env $env timeout "$test_timeout" $cmd) >"$out/tests/$name.log" 2>&1
        rc=$?
        secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')"
        last="$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out/tests/$name.log" | tail -n 1)"
        case "$rc" in
        0) verdict=PASS; passed=$((passed + 1)) ;;
        77) verdict=SKIP; skipped=$((skipped + 1)) ;;
        124) verdict="FAIL (timeout)"; failed=$((failed + 1)) ;;
        *) verdict="FAIL (exit $rc)"; failed=$((failed + 1)) ;;
        esac
        say "$(printf '%-22s %-16s %6ss  %s' "$name" "$verdict" "$secs" "$last")"
    done <"$pack/tests/list.tsv"
    [ -s "$pack/tests/skipped.txt" ] && say "not run here: $(cut -f1 "$pack/tests/skipped.txt" | tr '\n' ' ')"
    say "$passed passed, $failed failed, $skipped skipped"
fi

# 3. Benchmarks: Verdant, then PyTorch CUDA fp32 on the same models when it is there.
if "$run_bench"; then
    models=("$pack"/models/lenet5.cfg "$pack"/models/vgg_bn.cfg "$pack"/models/resnet_small.cfg)
    say ""
    say "== verdant bench (batch 64, $steps steps, Adam; training and inference img/s, energy)"
    "$verdant" bench "${models[@]}" --steps "$steps" --json >"$out/verdant-bench.json" 2>"$out/verdant-bench.err"
    say "verdant bench exit $? (JSON in verdant-bench.json)"
    python3 - "$out/verdant-bench.json" <<'PY' 2>&1 | tee -a "$report"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"(no JSON: {e})"); sys.exit(0)
print(f"device: {d['device']['name']}")
for m in d["models"]:
    e = m.get("train_energy") or {}
    ipj = e.get("images_per_joule")
    print(f"{m['model'].split('/')[-1]:18s} train {m['train_images_per_s']:10.0f} img/s  "
          f"infer {m['infer_images_per_s']:10.0f} img/s  "
          f"energy {('%.0f img/J (%s)' % (ipj, e.get('meter'))) if ipj else 'n/a: ' + str(e.get('energy_note'))}")
PY
    if command -v python3 >/dev/null && python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        say ""
        say "== PyTorch CUDA fp32 (same models, batch 64, Adam, synthetic batches)"
        for m in "${models[@]}"; do
            python3 "$pack/bench/torch_gpu.py" --cfg "$m" --steps "$steps" 2>&1 | tee -a "$report"
        done
    else
        say ""
        say "PyTorch with CUDA: not installed here (python3 -c 'import torch' failed or no CUDA device)"
    fi
fi
say ""
say "report: $report"
[ "$failed" -eq 0 ]

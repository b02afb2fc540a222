#!/usr/bin/env bash
# onnx_bench.sh - inference of the exported sample CNNs (LeNet-5, VGG-BN): Verdant
# (vd_net_predict, on its OpenCL device) against ONNX Runtime's CPU provider with --threads
# threads, on the ONNX file vd_net_save_onnx wrote from the same net (same seeded weights),
# the same random batch, in one run, alternating Verdant and ONNX Runtime rounds so that
# load from other processes hits both alike. Both sides take a host batch and return host
# outputs per call (vd_net_predict / session.run), are timed over --iters calls after
# --warmup untimed ones, in a fresh process per round (context or session creation, kernel
# compilation and Verdant's convolution tuning happen before the timed calls). Before the
# rounds ONNX Runtime's outputs are checked against Verdant's (1e-4). ONNX Runtime runs
# twice per round: with its default spinning worker threads and with
# session.intra_op.allow_spinning=0 (blocking waits: faster when other processes load the
# machine); the faster setting (median over rounds) is the baseline, so Verdant is
# compared with ONNX Runtime's best setting here. Prints per model the median images/s of
# Verdant and of both settings, Verdant / the baseline, and the median of the per-round
# ratios (each Verdant round over the baseline setting's run in the same round).
#
# Usage: bench/onnx_bench.sh [--model lenet5|vgg_bn|all] [--rounds R] [--iters I]
#                            [--warmup W] [--batch B] [--threads T] [--build DIR]
#   defaults: all models, 5 rounds, 100 timed batches after 3 warm-up ones, batch 64,
#   ONNX Runtime on 2 threads, build directory build/ (it needs build/tests/onnx_tool: a
#   build with tests and ONNX).
# ONNX Runtime comes from PyPI into the virtual environment BUILD/onnx-venv (the one the
# onnx-ort test makes), created on first use.
# Environment: VERDANT_DEVICE picks Verdant's device as usual (default: best GPU, else PoCL).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=all
rounds=5
iters=100
warmup=3
batch=64
threads=2
build="$root/build"
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model="${2:?--model lenet5|vgg_bn|all}"; shift 2 ;;
    --rounds) rounds="${2:?--rounds R}"; shift 2 ;;
    --iters) iters="${2:?--iters I}"; shift 2 ;;
    --warmup) warmup="${2:?--warmup W}"; shift 2 ;;
    --batch) batch="${2:?--batch B}"; shift 2 ;;
    --threads) threads="${2:?--threads T}"; shift 2 ;;
    --build) build="${2:?--build DIR}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "onnx_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in rounds iters warmup batch threads; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "onnx_bench.sh: --$v '${!v}' is not a number" >&2; exit 2; }
done
[ "$rounds" -ge 1 ] && [ "$iters" -ge 1 ] && [ "$batch" -ge 1 ] && [ "$threads" -ge 1 ] ||
    { echo "onnx_bench.sh: --rounds, --iters, --batch and --threads must be >= 1" >&2; exit 2; }
case "$model" in
lenet5 | vgg_bn) models=("$model") ;;
all) models=(lenet5 vgg_bn) ;;
*) echo "onnx_bench.sh: --model '$model' is not lenet5, vgg_bn or all" >&2; exit 2 ;;
esac

tool="$build/tests/onnx_tool"
[ -x "$tool" ] || { echo "onnx_bench.sh: $tool not found (build with tests and ONNX)" >&2; exit 1; }
venv="$build/onnx-venv"
if ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then
    echo "onnx_bench.sh: making $venv (onnxruntime, onnx, numpy from PyPI) ..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime onnx numpy
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-onnx-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
value() { sed -n 's/^images_per_s=//p' "$1"; }

ortv="$("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)')"
echo "batch $batch, $iters timed batches after $warmup; ONNX Runtime $ortv CPU, $threads threads;" \
    "$rounds alternating rounds; $(nproc) CPUs (shared machine: figures are noisy)"
printf '%-8s %12s %12s %12s %10s %8s\n' model verdant ort ort_nospin verdant/ort paired
echo "         (images/s; verdant/ort and paired against the faster ONNX Runtime setting)"
for m in "${models[@]}"; do
    cfg="$root/samples/models/$m.cfg"
    "$tool" dump "$cfg" "$tmp/$m" --batch "$batch" --train-steps 0 >"$tmp/$m.dump"
    shape="$(sed -n 's/.*input_shape=[0-9]*,\([0-9,]*\).*/\1/p' "$tmp/$m.dump")"
    ort_args=("$tmp/$m.onnx" "$tmp/$m.in.f32" "$batch" "$shape" --threads "$threads"
        --iters "$iters" --warmup "$warmup")
    "$venv/bin/python" "$root/bench/ort_infer.py" "${ort_args[@]}" --iters 1 --warmup 0 \
        --check "$tmp/$m.out.f32" >/dev/null
    : >"$tmp/$m.v"
    : >"$tmp/$m.o"
    : >"$tmp/$m.n"
    for r in $(seq 1 "$rounds"); do
        echo "onnx_bench.sh: $m round $r ..." >&2
        "$tool" bench "$cfg" --batch "$batch" --iters "$iters" --warmup "$warmup" >"$tmp/out"
        value "$tmp/out" >>"$tmp/$m.v"
        "$venv/bin/python" "$root/bench/ort_infer.py" "${ort_args[@]}" >"$tmp/out"
        value "$tmp/out" >>"$tmp/$m.o"
        "$venv/bin/python" "$root/bench/ort_infer.py" "${ort_args[@]}" --no-spin >"$tmp/out"
        value "$tmp/out" >>"$tmp/$m.n"
    done
    v="$(median <"$tmp/$m.v")"
    o="$(median <"$tmp/$m.o")"
    n="$(median <"$tmp/$m.n")"
    best=o
    awk -v a="$n" -v b="$o" 'BEGIN { exit !(a > b) }' && best=n
    b="$(median <"$tmp/$m.$best")"
    # The median of each round's own ratio too: runs of one round share the machine's load.
    paired="$(paste "$tmp/$m.v" "$tmp/$m.$best" | awk '{ print $1 / $2 }' | median)"
    printf '%-8s %12.1f %12.1f %12.1f %10.2f %8.2f\n' "$m" "$v" "$o" "$n" \
        "$(awk -v a="$v" -v b="$b" 'BEGIN { print a / b }')" "$paired"
    echo "         rounds: verdant $(paste -sd' ' "$tmp/$m.v"); ort $(paste -sd' ' "$tmp/$m.o");" \
        "ort no-spin $(paste -sd' ' "$tmp/$m.n")"
done

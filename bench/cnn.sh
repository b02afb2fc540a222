#!/usr/bin/env bash
# cnn.sh - the sample CNNs (LeNet-5, the VGG-style CNN with batch norm) trained by Verdant
# and by PyTorch (CPU) side by side, in one run, on the same network file, batch, optimizer
# (Adam lr 1e-3) and data (Fashion-MNIST), alternating Verdant and PyTorch runs so that
# load from other processes hits both alike. Prints a table with Verdant/PyTorch.
#
# Two modes:
#   steps (default): training images/s over a fixed number of steps after warm-up steps.
#     PyTorch: bench/torch_cnn.py --steps S (shuffled Fashion-MNIST batches); Verdant:
#     `verdant bench MODEL --steps S --json` (synthetic batches of the same shape: the
#     values do not change the work; both exclude reading the files).
#   epochs (--epochs E): E whole epochs over the first --limit training images, images/s
#     per epoch (median; first batches included) and test accuracy after the last epoch.
#     PyTorch: torch_cnn.py --epochs E --limit N; Verdant: `verdant train MODEL --epochs E
#     --limit N --log`.
# PyTorch runs on --threads threads with OMP_WAIT_POLICY=PASSIVE, each round twice: with
# OPENBLAS_NUM_THREADS=1 and with OPENBLAS_NUM_THREADS=threads; the faster of the two
# (median over rounds) is the baseline, so Verdant is compared against PyTorch's best
# setting here. Verdant uses a fresh, temporary VERDANT_CACHE_DIR (unless --cache): tuning
# records made by an older build would otherwise choose convolution algorithms that were
# measured against older kernels. Before the rounds one short untimed Verdant run per model
# compiles the kernels and tunes the layers into it, so the rounds measure a warm start.
#
# Usage: bench/cnn.sh [--model lenet5|vgg_bn|all] [--limit N | --steps S] [--epochs E]
#                     [--rounds R] [--threads T] [--build DIR] [--cache DIR] [--json FILE]
#                     [--no-torch]
#   --model M     lenet5, vgg_bn or all (default all)
#   --limit N     images per run (default 3200): steps mode times N/batch steps, epochs mode
#                 trains on the first N images (0: all 60,000)
#   --steps S     steps mode: timed steps (overrides --limit)
#   --epochs E    epochs mode with E epochs (default: steps mode)
#   --warmup W    steps mode: untimed steps first (default 5)
#   --rounds R    alternating rounds of PyTorch then Verdant (default 2)
#   --threads T   PyTorch threads (default 2)
#   --batch B     batch size (default 64)
#   --build DIR   Verdant build directory (default build/)
#   --cache DIR   Verdant's kernel and tuning cache (default: a new temporary directory)
#   --json FILE   also write every result as one JSON document to FILE
#   --no-torch    Verdant only
# Environment: VERDANT_DEVICE picks Verdant's device as usual (default: best GPU, else PoCL).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=all
limit=3200
steps=""
epochs=0
warmup=5
rounds=2
threads=2
batch=64
build="$root/build"
json_out=""
cache=""
run_torch=1
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model="${2:?--model lenet5|vgg_bn|all}"; shift 2 ;;
    --limit) limit="${2:?--limit N}"; shift 2 ;;
    --steps) steps="${2:?--steps S}"; shift 2 ;;
    --epochs) epochs="${2:?--epochs E}"; shift 2 ;;
    --warmup) warmup="${2:?--warmup W}"; shift 2 ;;
    --rounds) rounds="${2:?--rounds R}"; shift 2 ;;
    --threads) threads="${2:?--threads T}"; shift 2 ;;
    --batch) batch="${2:?--batch B}"; shift 2 ;;
    --build) build="${2:?--build DIR}"; shift 2 ;;
    --cache) cache="${2:?--cache DIR}"; shift 2 ;;
    --json) json_out="${2:?--json FILE}"; shift 2 ;;
    --no-torch) run_torch=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cnn.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in limit epochs warmup rounds threads batch ${steps:+steps}; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "cnn.sh: --$v '${!v}' is not a number" >&2; exit 2; }
done
[ "$rounds" -ge 1 ] && [ "$batch" -ge 1 ] && [ "$threads" -ge 1 ] ||
    { echo "cnn.sh: --rounds, --batch and --threads must be >= 1" >&2; exit 2; }
case "$model" in
lenet5 | vgg_bn) models=("$model") ;;
all) models=(lenet5 vgg_bn) ;;
*) echo "cnn.sh: --model '$model' is not lenet5, vgg_bn or all" >&2; exit 2 ;;
esac
if [ "$epochs" -gt 0 ]; then mode=epochs; else mode=steps; fi
if [ -z "$steps" ]; then
    steps=$((limit / batch))
    [ "$steps" -ge 1 ] || steps=1
fi

py=/usr/bin/python3 # Debian's python: the one with python3-torch
verdant="$build/src/cli/verdant"
[ -x "$py" ] || { echo "cnn.sh: $py not found (apt-get install python3)" >&2; exit 1; }
[ -x "$verdant" ] || { echo "cnn.sh: $verdant not found; build first: scripts/setup.sh" >&2; exit 1; }
if [ "$run_torch" = 1 ] && ! "$py" -c 'import torch' 2>/dev/null; then
    echo "cnn.sh: torch is not importable by $py (apt-get install python3-torch); Verdant only" >&2
    run_torch=0
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-cnn.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export VERDANT_CACHE_DIR="${cache:-$tmp/verdant-cache}"
mkdir -p "$VERDANT_CACHE_DIR"

torch_run() { # model round variant(=OPENBLAS_NUM_THREADS)
    local m="$1" r="$2" ob="$3" args
    if [ "$mode" = steps ]; then args=(--steps "$steps" --warmup "$warmup")
    else args=(--steps 0 --epochs "$epochs" --limit "$limit"); fi
    echo "cnn.sh: $m round $r: PyTorch (OPENBLAS_NUM_THREADS=$ob) ..." >&2
    if ! env OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$ob" "$py" "$root/bench/torch_cnn.py" \
        --cfg "$root/samples/models/$m.cfg" --batch "$batch" --threads "$threads" "${args[@]}" \
        >"$tmp/torch-$m-$r-ob$ob.json" 2>"$tmp/torch.err"; then
        cat "$tmp/torch.err" >&2
        echo "cnn.sh: PyTorch failed on $m" >&2
        rm -f "$tmp/torch-$m-$r-ob$ob.json"
    fi
}

verdant_run() { # model round
    local m="$1" r="$2" cfg="$root/samples/models/$1.cfg"
    echo "cnn.sh: $m round $r: Verdant ..." >&2
    if [ "$mode" = steps ]; then
        "$verdant" bench "$cfg" --batch "$batch" --steps "$steps" --warmup "$warmup" --json \
            >"$tmp/verdant-$m-$r.json" 2>"$tmp/verdant.err" || {
            cat "$tmp/verdant.err" >&2
            echo "cnn.sh: verdant bench failed on $m" >&2
            return 1
        }
    else
        local lim=()
        [ "$limit" -gt 0 ] && lim=(--limit "$limit")
        "$verdant" train "$cfg" --batch "$batch" --epochs "$epochs" "${lim[@]}" \
            --log "$tmp/verdant-$m-$r.jsonl" >"$tmp/verdant.out" 2>"$tmp/verdant.err" || {
            cat "$tmp/verdant.out" "$tmp/verdant.err" >&2
            echo "cnn.sh: verdant train failed on $m" >&2
            return 1
        }
    fi
}

ok=1
for m in "${models[@]}"; do
    echo "cnn.sh: $m: warming Verdant's kernel and tuning caches ..." >&2
    "$verdant" bench "$root/samples/models/$m.cfg" --batch "$batch" --steps 1 --warmup 1 \
        >/dev/null 2>"$tmp/verdant.err" || { cat "$tmp/verdant.err" >&2; ok=0; continue; }
    for r in $(seq 1 "$rounds"); do
        if [ "$run_torch" = 1 ]; then
            torch_run "$m" "$r" 1
            [ "$threads" != 1 ] && torch_run "$m" "$r" "$threads"
        fi
        verdant_run "$m" "$r" || ok=0
    done
done

# --- Table --------------------------------------------------------------------------------
"$py" - "$tmp" "$mode" "$steps" "$warmup" "$epochs" "$limit" "$batch" "$threads" "$rounds" \
    "$json_out" "${models[@]}" <<'PYEOF'
import glob, json, os, re, statistics, sys

tmp, mode, steps, warmup, epochs, limit, batch, threads, rounds, json_out = sys.argv[1:11]
models = sys.argv[11:]

def med(xs):
    return statistics.median(xs) if xs else None

def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"

results, device, torch_blas = [], "", set()
for m in models:
    torch_by_variant = {}
    torch_acc = {}
    for path in sorted(glob.glob(os.path.join(tmp, f"torch-{m}-*-ob*.json"))):
        ob = re.search(r"-ob(\d+)\.json$", path).group(1)
        try:
            d = json.load(open(path))
        except ValueError:
            continue
        ips = d.get("images_per_s") if mode == "steps" else d.get("epoch_median_images_per_s")
        if d.get("blas"):
            torch_blas.add(d["blas"])
        if ips:
            torch_by_variant.setdefault(ob, []).append(ips)
            torch_acc.setdefault(ob, []).append(d.get("test_acc"))
    ver, ver_acc = [], []
    for path in sorted(glob.glob(os.path.join(tmp, f"verdant-{m}-*.json*"))):
        try:
            if mode == "steps":
                d = json.load(open(path))
                device = d["device"]["name"]
                ver.append(d["models"][0]["train_images_per_s"])
            else:
                lines = [json.loads(l) for l in open(path) if l.strip()]
                lines = [l for l in lines if "epoch" in l]
                if lines:
                    device = lines[-1].get("device", device)
                    ver.append(med([l["images_per_s"] for l in lines]))
                    ver_acc.append(lines[-1].get("test_acc"))
        except (ValueError, KeyError, IndexError):
            continue
    best = max(torch_by_variant, key=lambda k: med(torch_by_variant[k]), default=None)
    t = med(torch_by_variant[best]) if best else None
    v = med(ver)
    accs = [a for a in torch_acc.get(best, []) if a is not None] if best else []
    results.append({
        "model": m, "mode": mode,
        "torch_images_per_s": t, "torch_setting": f"OPENBLAS_NUM_THREADS={best}" if best else None,
        "torch_runs": torch_by_variant,
        "verdant_images_per_s": v, "verdant_runs": ver,
        "ratio": v / t if (v and t) else None,
        "torch_test_acc": accs[-1] if accs else None,
        "verdant_test_acc": ver_acc[-1] if ver_acc else None,
        "torch_blas": sorted(torch_blas),
    })

if mode == "steps":
    what = f"{steps} timed steps after {warmup} warm-up"
else:
    what = f"{epochs} epoch(s) over {limit if int(limit) else 60000} images"
title = (f"CNNs on Fashion-MNIST, Adam 1e-3, batch {batch}, {what}; median of {rounds} "
         f"alternating round(s); PyTorch {threads} threads, OMP_WAIT_POLICY=PASSIVE")
print()
print(title)
print(f"Verdant device: {device or os.environ.get('VERDANT_DEVICE', 'default')}")
blas = ", ".join(sorted(torch_blas)) or "unknown"
print(f"PyTorch BLAS: {blas}")
if "reference" in torch_blas:
    # Debian's torch calls whatever libblas.so.3 is selected: the netlib reference BLAS
    # makes its dense layers (and any BLAS-backed convolution path) several times slower,
    # which would flatter Verdant.
    print("WARNING: PyTorch ran on the reference BLAS, not a fair baseline; "
          "apt-get install libopenblas0-pthread")
print()
acc = mode == "epochs"
hdr = (f"{'model':<8} {'PyTorch img/s':>14} {'(setting)':<24} {'Verdant img/s':>14} "
       f"{'Verdant/PyTorch':>16}" + (f" {'acc PyTorch':>11} {'acc Verdant':>11}" if acc else ""))
print(hdr)
print("-" * len(hdr))
for r in results:
    line = (f"{r['model']:<8} {fmt(r['torch_images_per_s'], '14.1f')} "
            f"{(r['torch_setting'] or '-'):<24} {fmt(r['verdant_images_per_s'], '14.1f')} "
            f"{(fmt(r['ratio'], '15.2f') + 'x') if r['ratio'] else '-':>16}")
    if acc:
        line += f" {fmt(r['torch_test_acc'], '11.4f')} {fmt(r['verdant_test_acc'], '11.4f')}"
    print(line)
print()
for r in results:
    runs = "; ".join(f"OPENBLAS_NUM_THREADS={k}: " + ", ".join(f"{x:.0f}" for x in v)
                     for k, v in sorted(r["torch_runs"].items()))
    print(f"{r['model']}: PyTorch per round: {runs or '-'}; Verdant per round: "
          f"{', '.join(f'{x:.0f}' for x in r['verdant_runs']) or '-'}")
print("images/s: training images per second (steps mode: timed steps; epochs mode: median")
print("epoch). PyTorch column: the faster OPENBLAS_NUM_THREADS setting (median over rounds).")
if json_out:
    with open(json_out, "w") as f:
        json.dump({"title": title, "device": device, "results": results}, f, indent=1)
    print(f"wrote {json_out}")
if not any(r["verdant_images_per_s"] for r in results):
    sys.exit(1)
PYEOF
[ "$ok" = 1 ] || exit 1

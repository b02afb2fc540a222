#!/usr/bin/env bash
# mlp.sh - Fashion-MNIST MLP benchmark: Verdant against PyTorch (CPU) side by side.
#
# Runs, in one go:
#   1. PyTorch (Debian's torch 1.13 under /usr/bin/python3), bench/torch_mlp.py, with
#      OMP_WAIT_POLICY=PASSIVE and 2 threads. Debian's torch calls whatever libblas.so.3
#      the alternatives system selects; when that is the slow reference BLAS and an
#      OpenBLAS build is present (package libopenblas0-pthread, or VD_TORCH_OPENBLAS_DIR),
#      PyTorch runs a second time on OpenBLAS, so the table shows both baselines.
#   2. Verdant cold start: build/samples/fashion_mnist_mlp with empty, temporary
#      VERDANT_CACHE_DIR and POCL_CACHE_DIR (every kernel is compiled).
#   3. Verdant warm start: the same command again, reusing those caches.
# Same model and recipe on both sides: 784-256-128-10, ReLU, Adam lr 1e-3, batch 64.
# Then prints a table: images/s (median over epochs), test accuracy after the last epoch,
# startup time, and the ratio Verdant (warm) / PyTorch.
#
# Usage: bench/mlp.sh [--epochs N] [--threads T] [--build DIR] [--json FILE] [--no-torch]
#   --epochs N    epochs per run (default 1)
#   --threads T   PyTorch threads (default 2)
#   --build DIR   Verdant build directory (default build/)
#   --json FILE   also write every result as one JSON document to FILE
#   --no-torch    skip PyTorch
# Environment: VERDANT_DEVICE picks Verdant's device as usual (default: best GPU, else
# PoCL); VD_TORCH_OPENBLAS_DIR names a directory holding an OpenBLAS libblas.so.3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs=1
threads=2
build="$root/build"
json_out=""
run_torch=1
while [ $# -gt 0 ]; do
    case "$1" in
    --epochs) epochs="${2:?--epochs N}"; shift 2 ;;
    --threads) threads="${2:?--threads T}"; shift 2 ;;
    --build) build="${2:?--build DIR}"; shift 2 ;;
    --json) json_out="${2:?--json FILE}"; shift 2 ;;
    --no-torch) run_torch=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mlp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

py=/usr/bin/python3 # Debian's python: the one with python3-torch
sample="$build/samples/fashion_mnist_mlp"
[ -x "$py" ] || { echo "mlp.sh: $py not found (apt-get install python3)" >&2; exit 1; }
[ -x "$sample" ] || {
    echo "mlp.sh: $sample not found; build first: scripts/setup.sh" >&2
    exit 1
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/verdant-cache" "$tmp/pocl-cache"

now_ms() { date +%s%3N; }

# --- PyTorch ------------------------------------------------------------------------------
torch_runs=()
run_torch_variant() { # name, extra env...
    local name="$1" t0
    shift
    echo "mlp.sh: PyTorch ($name), $epochs epoch(s), $threads threads ..." >&2
    t0="$(now_ms)"
    if env OMP_WAIT_POLICY=PASSIVE "$@" "$py" "$root/bench/torch_mlp.py" --epochs "$epochs" \
        --threads "$threads" >"$tmp/torch-$name.json"; then
        torch_runs+=("$name")
        echo "$(($(now_ms) - t0))" >"$tmp/torch-$name.wall_ms"
    else
        echo "mlp.sh: PyTorch ($name) failed" >&2
    fi
}
if [ "$run_torch" = 1 ]; then
    if ! "$py" -c 'import torch' 2>/dev/null; then
        echo "mlp.sh: torch is not importable by $py (apt-get install python3-torch); skipping PyTorch" >&2
    else
        run_torch_variant default
        blas="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("blas",""))' \
            "$tmp/torch-default.json" 2>/dev/null || true)"
        oblas_dir="${VD_TORCH_OPENBLAS_DIR:-}"
        if [ -z "$oblas_dir" ]; then
            for d in /usr/lib/x86_64-linux-gnu/openblas-pthread /usr/lib/*/openblas-pthread \
                /usr/lib/*/openblas-openmp; do
                [ -e "$d/libblas.so.3" ] && { oblas_dir="$d"; break; }
            done
        fi
        if [ "$blas" != openblas ] && [ -n "$oblas_dir" ] && [ -e "$oblas_dir/libblas.so.3" ]; then
            run_torch_variant openblas LD_LIBRARY_PATH="$oblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
                OPENBLAS_NUM_THREADS="$threads"
        elif [ "$blas" = reference ]; then
            echo "mlp.sh: note: PyTorch runs on the reference BLAS (libblas3); install" \
                "libopenblas0-pthread for a faster, fairer baseline" >&2
        fi
    fi
fi

# --- Verdant ------------------------------------------------------------------------------
run_verdant() { # name
    local name="$1" t0 t1
    echo "mlp.sh: Verdant ($name start), $epochs epoch(s) ..." >&2
    rm -f "$tmp/verdant-$name.jsonl"
    t0="$(now_ms)"
    if ! VERDANT_CACHE_DIR="$tmp/verdant-cache" POCL_CACHE_DIR="$tmp/pocl-cache" \
        "$sample" --epochs "$epochs" --json "$tmp/verdant-$name.jsonl" \
        >"$tmp/verdant-$name.log" 2>&1; then
        cat "$tmp/verdant-$name.log" >&2
        echo "mlp.sh: Verdant ($name) failed" >&2
        return 1
    fi
    t1="$(now_ms)"
    echo "$((t1 - t0))" >"$tmp/verdant-$name.wall_ms"
}
verdant_ok=1
run_verdant cold || verdant_ok=0
if [ "$verdant_ok" = 1 ]; then
    run_verdant warm || verdant_ok=0
fi

# --- Table --------------------------------------------------------------------------------
"$py" - "$tmp" "$epochs" "$threads" "${VERDANT_DEVICE:-}" "$json_out" "${torch_runs[@]}" <<'PYEOF'
import json, os, statistics, sys

tmp, epochs, threads, device_env, json_out = sys.argv[1:6]
torch_names = sys.argv[6:]

def device_from_log(name):
    # The sample prints "device P:D  <name> (<platform>)" on stdout.
    try:
        for line in open(os.path.join(tmp, f"verdant-{name}.log")):
            if line.startswith("device "):
                return line[len("device "):].strip()
    except OSError:
        pass
    return ""

def verdant(name):
    path = os.path.join(tmp, f"verdant-{name}.jsonl")
    if not os.path.exists(path):
        return None
    lines = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if "epoch" in d:
                    lines.append(d)
    if not lines:
        return None
    wall = None
    try:
        wall = int(open(os.path.join(tmp, f"verdant-{name}.wall_ms")).read())
    except (OSError, ValueError):
        pass
    last = lines[-1]
    return {
        "images_per_s": statistics.median(float(d["images_per_s"]) for d in lines),
        "epoch_images_per_s": [float(d["images_per_s"]) for d in lines],
        "test_acc": last.get("test_acc"),
        "test_loss": last.get("test_loss"),
        "loss": last.get("loss"),
        "startup_ms": lines[0].get("startup_ms"),
        "first_batch_ms": lines[0].get("first_batch_ms"),
        "wall_ms": wall,
        "device": last.get("device", "") or device_from_log(name),
        "epochs": len(lines),
    }

rows = []
for name in torch_names:
    try:
        d = json.load(open(os.path.join(tmp, f"torch-{name}.json")))
    except (OSError, ValueError):
        continue
    try:
        d["wall_ms"] = int(open(os.path.join(tmp, f"torch-{name}.wall_ms")).read())
    except (OSError, ValueError):
        pass
    blas = {"reference": "reference BLAS", "openblas": "OpenBLAS"}.get(d.get("blas"), d.get("blas") or "?")
    rows.append((f"PyTorch {d.get('torch', '')} CPU, {blas}", "torch", d))
cold, warm = verdant("cold"), verdant("warm")
if cold:
    rows.append(("Verdant, cold start", "verdant", cold))
if warm:
    rows.append(("Verdant, warm start", "verdant", warm))

def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"

ref = warm or cold
title = (f"Fashion-MNIST MLP 784-256-128-10, Adam 1e-3, batch 64, {epochs} epoch(s); "
         f"PyTorch {threads} threads, OMP_WAIT_POLICY=PASSIVE")
print()
print(title)
dev = (ref or {}).get("device") or device_env or "default (best GPU, else PoCL)"
print(f"Verdant device: {dev}")
print()
hdr = f"{'run':<40} {'images/s':>10} {'Verdant/this':>12} {'test acc':>9} {'startup ms':>11} {'1st step ms':>11} {'wall s':>8}"
print(hdr)
print("-" * len(hdr))
for label, kind, d in rows:
    ips = d.get("images_per_s")
    ratio = ref["images_per_s"] / ips if (ref and kind == "torch" and ips) else None
    wall = d.get("wall_ms")
    print(f"{label:<40} {fmt(ips, '10.0f')} {(fmt(ratio, '11.2f') + 'x') if ratio else '-':>12} "
          f"{fmt(d.get('test_acc'), '9.4f')} {fmt(d.get('startup_ms'), '11.0f')} "
          f"{fmt(d.get('first_batch_ms'), '11.0f')} "
          f"{fmt(wall / 1e3 if wall else None, '8.1f')}")
print()
print("images/s: median over epochs of training images / epoch time (data files already read).")
print("Verdant/this: Verdant warm-start images/s divided by that row's.")
print("startup ms: program start to the first training step: PyTorch = import torch, model,")
print("            reading the data; Verdant = context, kernel programs, reading the data, net build.")
print("1st step ms: Verdant, program start to the end of the first training step (kernel")
print("            compilation it triggers included).")
print("wall s: the whole process (startup, reading the data, training, test).")
print("cold start: empty VERDANT_CACHE_DIR and POCL_CACHE_DIR; kernels the sample builds lazily")
print("            are compiled inside its first epoch, which lowers that epoch's images/s.")
if json_out:
    with open(json_out, "w") as f:
        json.dump({"title": title, "device": dev,
                   "runs": [{"run": l, **d} for l, _, d in rows]}, f, indent=1)
    print(f"wrote {json_out}")
if not rows:
    sys.exit(1)
PYEOF
[ "$verdant_ok" = 1 ] || exit 1

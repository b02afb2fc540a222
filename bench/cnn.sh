#!/usr/bin/env bash
# cnn.sh - the sample CNNs (LeNet-5, the VGG-style CNN with batch norm) trained by Verdant
# and by its peers side by side, in one run, on the same network file, batch, optimizer
# (Adam lr 1e-3) and data (Fashion-MNIST), in alternating rounds (every peer, then Verdant,
# per round) so that load from other processes hits all alike. Prints a table with each
# peer's training and inference images/s and Verdant/peer ratios.
#
# Peers (each at the fastest of its settings below, picked separately for training and for
# inference by the median over rounds; the setting used is printed):
#   PyTorch-Debian  Debian's python3-torch (1.13, OpenBLAS) under /usr/bin/python3:
#                   OPENBLAS_NUM_THREADS=1 and =threads.
#   PyTorch-PyPI    the current torch from PyPI in a virtual environment this script makes
#                   under BUILD/peers/torch-pypi (CPU build from download.pytorch.org/whl/cpu
#                   where reachable, else plain PyPI, which pulls the CUDA packages in too;
#                   BUILD/peers/torch-pypi/SOURCE says which): eager, channels_last,
#                   torch.compile, torch.compile + channels_last.
#   tinygrad        tinygrad from PyPI (venv BUILD/peers/tinygrad) on its OpenCL backend
#                   (DEV=CL: the same PoCL device as Verdant), TinyJit on; FUSE_OPTIM=0 and 1.
# The virtual environments are made once and reused (delete the folder to refresh). A peer
# that cannot be installed or fails is reported as such in the table, never dropped silently.
# All PyTorch runs use --threads threads with OMP_WAIT_POLICY=PASSIVE.
#
# Two modes:
#   steps (default): training images/s over a fixed number of steps after warm-up steps,
#     then inference images/s (eval mode, no autograd) over as many batches.
#     Peers: shuffled Fashion-MNIST batches (batch gathering included, reading the files
#     not; compiling and JIT capture happen in the untimed warm-up); Verdant: `verdant bench
#     MODEL --steps S --json` (synthetic batches of the same shape: the values do not change
#     the work; both exclude reading the files).
#   epochs (--epochs E): E whole epochs over the first --limit training images, images/s
#     per epoch (median; first batches included) and test accuracy after the last epoch.
#     PyTorch (both): torch_cnn.py --epochs E --limit N; Verdant: `verdant train MODEL
#     --epochs E --limit N --log`; tinygrad: steps mode only (reported as not run).
# Verdant uses a fresh, temporary VERDANT_CACHE_DIR (unless --cache): tuning records made by
# an older build would otherwise choose convolution algorithms that were measured against
# older kernels. Before the rounds one short untimed Verdant run per model compiles the
# kernels and tunes the layers into it, so the rounds measure a warm start.
#
# Usage: bench/cnn.sh [--model lenet5|vgg_bn|all] [--limit N | --steps S] [--epochs E]
#                     [--rounds R] [--threads T] [--build DIR] [--cache DIR] [--json FILE]
#                     [--no-torch] [--no-pypi] [--no-tinygrad] [--peers-dir DIR]
#   --model M     lenet5, vgg_bn or all (default all)
#   --limit N     images per run (default 3200): steps mode times N/batch steps, epochs mode
#                 trains on the first N images (0: all 60,000)
#   --steps S     steps mode: timed steps (overrides --limit)
#   --epochs E    epochs mode with E epochs (default: steps mode)
#   --warmup W    steps mode: untimed steps first (default 5)
#   --rounds R    alternating rounds of the peers then Verdant (default 2)
#   --threads T   PyTorch threads (default 2)
#   --batch B     batch size (default 64)
#   --build DIR   Verdant build directory (default build/)
#   --cache DIR   Verdant's kernel and tuning cache (default: a new temporary directory)
#   --json FILE   also write every result as one JSON document to FILE
#   --no-torch    no PyTorch-Debian;  --no-pypi: no PyTorch-PyPI;  --no-tinygrad: no tinygrad
#   --peers-dir D where the peers' virtual environments live (default BUILD/peers)
#   --pypi-settings "eager cl compile compile+cl"   PyTorch-PyPI settings to try (default all)
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
run_pypi=1
run_tinygrad=1
peers_dir=""
pypi_settings="eager cl compile compile+cl"
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
    --no-pypi) run_pypi=0; shift ;;
    --no-tinygrad) run_tinygrad=0; shift ;;
    --peers-dir) peers_dir="${2:?--peers-dir DIR}"; shift 2 ;;
    --pypi-settings) pypi_settings="${2:?--pypi-settings LIST}"; shift 2 ;;
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
for p in $pypi_settings; do
    case "$p" in eager | cl | compile | compile+cl) ;;
    *) echo "cnn.sh: --pypi-settings: '$p' is not eager, cl, compile or compile+cl" >&2; exit 2 ;;
    esac
done
if [ -z "$steps" ]; then
    steps=$((limit / batch))
    [ "$steps" -ge 1 ] || steps=1
fi

py=/usr/bin/python3 # Debian's python: the one with python3-torch
verdant="$build/src/cli/verdant"
[ -x "$py" ] || { echo "cnn.sh: $py not found (apt-get install python3)" >&2; exit 1; }
[ -x "$verdant" ] || { echo "cnn.sh: $verdant not found; build first: scripts/setup.sh" >&2; exit 1; }
peers_dir="${peers_dir:-$build/peers}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-cnn.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
note() { # peer message: why a peer did not run, for the table
    echo "cnn.sh: $1: $2" >&2
    printf '%s\t%s\n' "$1" "$2" >>"$tmp/peer-notes.tsv"
}
if [ "$run_torch" = 1 ] && ! "$py" -c 'import torch' 2>/dev/null; then
    note PyTorch-Debian "not run: torch is not importable by $py (apt-get install python3-torch)"
    run_torch=0
elif [ "$run_torch" = 0 ]; then
    note PyTorch-Debian "not run (--no-torch)"
fi

# A virtual environment of a peer from PyPI, made once under $peers_dir and reused: the
# folder counts as made when its .ok marker exists and the import still works.
make_venv() { # name import-check pip-args...   (prints nothing; 0 if usable)
    local name="$1" check="$2" dir="$peers_dir/$1"
    shift 2
    if [ -f "$dir/.ok" ] && "$dir/bin/python" -c "$check" 2>/dev/null; then return 0; fi
    echo "cnn.sh: making $dir (pip install $*) ..." >&2
    rm -rf "$dir"
    mkdir -p "$peers_dir"
    "$py" -m venv "$dir" >"$tmp/venv-$name.log" 2>&1 || return 1
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >>"$tmp/venv-$name.log" 2>&1 ||
        return 1
    "$dir/bin/python" -c "$check" >>"$tmp/venv-$name.log" 2>&1 || return 1
    "$dir/bin/pip" freeze >"$dir/FREEZE" 2>/dev/null || true
    touch "$dir/.ok"
}
pypi_py="$peers_dir/torch-pypi/bin/python"
if [ "$run_pypi" = 1 ]; then
    cpu_index=https://download.pytorch.org/whl/cpu
    if [ -f "$peers_dir/torch-pypi/.ok" ] && ! grep -q '^nvidia-' "$peers_dir/torch-pypi/FREEZE"
    then reach=1 # made from the CPU index before
    elif "$py" -c "import urllib.request as u; u.urlopen('$cpu_index/torch/', timeout=10)" \
        2>/dev/null; then reach=1
    else reach=0; echo "cnn.sh: $cpu_index is not reachable: PyTorch-PyPI from plain PyPI" >&2; fi
    if [ "$reach" = 1 ] && make_venv torch-pypi 'import torch, numpy' torch numpy \
        --index-url "$cpu_index" && ! grep -q '^nvidia-' "$peers_dir/torch-pypi/FREEZE"; then
        [ -f "$peers_dir/torch-pypi/SOURCE" ] ||
            echo "CPU build ($cpu_index)" >"$peers_dir/torch-pypi/SOURCE"
    elif make_venv torch-pypi 'import torch, numpy' torch numpy; then
        [ -f "$peers_dir/torch-pypi/SOURCE" ] || {
            n="$(grep -c '^nvidia-\|^cuda-\|^triton=' "$peers_dir/torch-pypi/FREEZE" || true)"
            echo "plain PyPI (the CPU index was not reachable): the CUDA build, which pulled in $n CUDA packages ($(du -sh "$peers_dir/torch-pypi" | cut -f1) in all), unused on a CPU" \
                >"$peers_dir/torch-pypi/SOURCE"
        }
    else
        note PyTorch-PyPI "not installable: pip install torch failed (log: $(tail -n 2 "$tmp/venv-torch-pypi.log" | tr '\n' ' '))"
        run_pypi=0
    fi
    [ "$run_pypi" = 1 ] && echo "cnn.sh: PyTorch-PyPI: $(cat "$peers_dir/torch-pypi/SOURCE")" >&2
else
    note PyTorch-PyPI "not run (--no-pypi)"
fi
tg_py="$peers_dir/tinygrad/bin/python"
if [ "$run_tinygrad" = 1 ]; then
    if ! make_venv tinygrad 'import tinygrad, numpy' tinygrad numpy; then
        note tinygrad "not installable: pip install tinygrad failed (log: $(tail -n 2 "$tmp/venv-tinygrad.log" | tr '\n' ' '))"
        run_tinygrad=0
    elif ! DEV=CL "$tg_py" -c 'from tinygrad import Device, Tensor; (Tensor.ones(4) + 1).numpy()' \
        >"$tmp/tg-check.log" 2>&1; then
        note tinygrad "not run: its OpenCL backend (DEV=CL) does not work here: $(tail -n 1 "$tmp/tg-check.log")"
        run_tinygrad=0
    elif [ "$mode" = epochs ]; then
        note tinygrad "not run: epochs mode is not implemented for tinygrad (steps mode only)"
        run_tinygrad=0
    fi
else
    note tinygrad "not run (--no-tinygrad)"
fi
export VERDANT_CACHE_DIR="${cache:-$tmp/verdant-cache}"
mkdir -p "$VERDANT_CACHE_DIR"

peer_run() { # peer model round setting python env-and-args...
    local peer="$1" m="$2" r="$3" set="$4" pyx="$5" args out
    shift 5
    if [ "$mode" = steps ]; then args=(--steps "$steps" --warmup "$warmup" --infer-steps "$steps")
    else args=(--steps 0 --epochs "$epochs" --limit "$limit"); fi
    local script="$root/bench/torch_cnn.py"
    [ "$peer" = tinygrad ] && script="$root/bench/tinygrad_cnn.py"
    [ "$peer" != tinygrad ] && args+=(--threads "$threads")
    out="$tmp/peer-$peer-$m-$r-$set.json"
    echo "cnn.sh: $m round $r: $peer ($set) ..." >&2
    local envs=() extra=() a
    for a in "$@"; do
        if [[ "$a" == *=* && "$a" != --* ]]; then envs+=("$a"); else extra+=("$a"); fi
    done
    if ! env OMP_WAIT_POLICY=PASSIVE "${envs[@]}" "$pyx" "$script" \
        --cfg "$root/samples/models/$m.cfg" --batch "$batch" "${args[@]}" "${extra[@]}" \
        >"$out" 2>"$tmp/peer.err"; then
        grep -v 'warning generated' "$tmp/peer.err" | tail -n 20 >&2
        echo "cnn.sh: $peer ($set) failed on $m" >&2
        printf '%s\t%s\t%s\t%s\n' "$peer" "$m" "$set" \
            "$(grep -v 'warning generated' "$tmp/peer.err" | tail -n 1)" >>"$tmp/peer-fail.tsv"
        rm -f "$out"
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
            peer_run PyTorch-Debian "$m" "$r" OPENBLAS_NUM_THREADS=1 "$py" OPENBLAS_NUM_THREADS=1
            [ "$threads" != 1 ] && peer_run PyTorch-Debian "$m" "$r" \
                "OPENBLAS_NUM_THREADS=$threads" "$py" "OPENBLAS_NUM_THREADS=$threads"
        fi
        if [ "$run_pypi" = 1 ]; then
            for p in $pypi_settings; do
                case "$p" in
                eager) peer_run PyTorch-PyPI "$m" "$r" eager "$pypi_py" ;;
                cl) peer_run PyTorch-PyPI "$m" "$r" channels_last "$pypi_py" --channels-last ;;
                compile) peer_run PyTorch-PyPI "$m" "$r" torch.compile "$pypi_py" --compile ;;
                compile+cl) peer_run PyTorch-PyPI "$m" "$r" torch.compile+channels_last \
                    "$pypi_py" --compile --channels-last ;;
                esac
            done
        fi
        if [ "$run_tinygrad" = 1 ]; then
            peer_run tinygrad "$m" "$r" TinyJit "$tg_py" FUSE_OPTIM=0
            peer_run tinygrad "$m" "$r" TinyJit+FUSE_OPTIM=1 "$tg_py" FUSE_OPTIM=1
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
PEERS = ["PyTorch-Debian", "PyTorch-PyPI", "tinygrad"]

def med(xs):
    return statistics.median(xs) if xs else None

def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"

def ratio(v, t):
    return v / t if (v and t) else None

def xfmt(v):
    return (fmt(v, ".2f") + "x") if v else "-"

notes = {}
if os.path.exists(os.path.join(tmp, "peer-notes.tsv")):
    for line in open(os.path.join(tmp, "peer-notes.tsv")):
        peer, msg = line.rstrip("\n").split("\t", 1)
        notes[peer] = msg
fails = {}
if os.path.exists(os.path.join(tmp, "peer-fail.tsv")):
    for line in open(os.path.join(tmp, "peer-fail.tsv")):
        peer, m, setting, msg = (line.rstrip("\n").split("\t") + ["", "", "", ""])[:4]
        fails.setdefault((peer, m), []).append(f"{setting}: {msg}")

train_key = "images_per_s" if mode == "steps" else "epoch_median_images_per_s"
results, device, info = [], "", {}
for m in models:
    row = {"model": m, "mode": mode, "peers": {}}
    for peer in PEERS:
        runs = {}  # setting -> {"train": [...], "infer": [...], "acc": [...]}
        for path in sorted(glob.glob(os.path.join(tmp, f"peer-{peer}-{m}-*.json"))):
            setting = re.match(rf"peer-{re.escape(peer)}-{m}-\d+-(.*)\.json$",
                               os.path.basename(path)).group(1)
            try:
                d = json.load(open(path))
            except ValueError:
                continue
            v = runs.setdefault(setting, {"train": [], "infer": [], "acc": []})
            if d.get(train_key):
                v["train"].append(d[train_key])
            if d.get("infer_images_per_s"):
                v["infer"].append(d["infer_images_per_s"])
            if d.get("test_acc") is not None:
                v["acc"].append(d["test_acc"])
            info.setdefault(peer, {})
            for k in ("torch", "tinygrad", "blas", "device"):
                if d.get(k):
                    info[peer][k] = d[k]

        def best(kind):
            cand = {k: med(v[kind]) for k, v in runs.items() if v[kind]}
            if not cand:
                return None, None
            k = max(cand, key=cand.get)
            return k, cand[k]
        ts, t = best("train")
        is_, i = best("infer")
        acc = runs[ts]["acc"][-1] if ts and runs[ts]["acc"] else None
        row["peers"][peer] = {"train_images_per_s": t, "train_setting": ts,
                              "infer_images_per_s": i, "infer_setting": is_,
                              "test_acc": acc, "runs": runs,
                              "failed": fails.get((peer, m), []), "note": notes.get(peer)}
    ver, ver_inf, ver_acc = [], [], []
    for path in sorted(glob.glob(os.path.join(tmp, f"verdant-{m}-*.json*"))):
        try:
            if mode == "steps":
                d = json.load(open(path))
                device = d["device"]["name"]
                ver.append(d["models"][0]["train_images_per_s"])
                ver_inf.append(d["models"][0]["infer_images_per_s"])
            else:
                lines = [json.loads(l) for l in open(path) if l.strip()]
                lines = [l for l in lines if "epoch" in l]
                if lines:
                    device = lines[-1].get("device", device)
                    ver.append(med([l["images_per_s"] for l in lines]))
                    ver_acc.append(lines[-1].get("test_acc"))
        except (ValueError, KeyError, IndexError):
            continue
    row.update({"verdant_images_per_s": med(ver), "verdant_runs": ver,
                "verdant_infer_images_per_s": med(ver_inf), "verdant_infer_runs": ver_inf,
                "verdant_test_acc": ver_acc[-1] if ver_acc else None})
    for peer, pr in row["peers"].items():
        pr["ratio_train"] = ratio(row["verdant_images_per_s"], pr["train_images_per_s"])
        pr["ratio_infer"] = ratio(row["verdant_infer_images_per_s"], pr["infer_images_per_s"])
    results.append(row)

if mode == "steps":
    what = f"{steps} timed steps after {warmup} warm-up, then {steps} inference batches"
else:
    what = f"{epochs} epoch(s) over {limit if int(limit) else 60000} images"
title = (f"CNNs on Fashion-MNIST, Adam 1e-3, batch {batch}, {what}; median of {rounds} "
         f"alternating round(s); PyTorch {threads} threads, OMP_WAIT_POLICY=PASSIVE")
print()
print(title)
print(f"Verdant device: {device or os.environ.get('VERDANT_DEVICE', 'default')}")
for peer in PEERS:
    d = info.get(peer, {})
    desc = ", ".join(f"{k} {v}" for k, v in d.items()) or notes.get(peer, "no result")
    print(f"{peer}: {desc}")
if "reference" in info.get("PyTorch-Debian", {}).get("blas", ""):
    # Debian's torch calls whatever libblas.so.3 is selected: the netlib reference BLAS
    # makes its dense layers (and any BLAS-backed convolution path) several times slower,
    # which would flatter Verdant.
    print("WARNING: PyTorch-Debian ran on the reference BLAS, not a fair baseline; "
          "apt-get install libopenblas0-pthread")
print()
infer = mode == "steps"
hdr = (f"{'model':<7} {'framework':<15} {'train img/s':>11} {'(setting)':<27}"
       + (f" {'infer img/s':>11} {'(setting)':<27}" if infer else f" {'test acc':>8}")
       + f" {'Verdant/peer train':>18}" + (f" {'infer':>7}" if infer else ""))
print(hdr)
print("-" * len(hdr))
for r in results:
    line = f"{r['model']:<7} {'Verdant':<15} {fmt(r['verdant_images_per_s'], '11.1f')} {'':<27}"
    line += (f" {fmt(r['verdant_infer_images_per_s'], '11.1f')} {'':<27}" if infer
             else f" {fmt(r['verdant_test_acc'], '8.4f')}")
    print(line)
    for peer in PEERS:
        pr = r["peers"][peer]
        if not pr["train_images_per_s"] and not pr["infer_images_per_s"]:
            why = pr["note"] or ("failed: " + "; ".join(pr["failed"]) if pr["failed"]
                                 else "no result")
            print(f"{r['model']:<7} {peer:<15} {why}")
            continue
        line = (f"{r['model']:<7} {peer:<15} {fmt(pr['train_images_per_s'], '11.1f')} "
                f"{(pr['train_setting'] or '-'):<27}")
        if infer:
            line += (f" {fmt(pr['infer_images_per_s'], '11.1f')} "
                     f"{(pr['infer_setting'] or '-'):<27}")
        else:
            line += f" {fmt(pr['test_acc'], '8.4f')}"
        line += f" {xfmt(pr['ratio_train']):>18}"
        if infer:
            line += f" {xfmt(pr['ratio_infer']):>7}"
        print(line)
print()
for r in results:
    for peer in PEERS:
        pr = r["peers"][peer]
        if pr["ratio_train"] or pr["ratio_infer"]:
            print(f"{r['model']}: Verdant / {peer}: train {xfmt(pr['ratio_train'])}"
                  + (f", inference {xfmt(pr['ratio_infer'])}" if infer else ""))
        else:
            why = pr["note"] or ("failed" if pr["failed"] else "no result")
            print(f"{r['model']}: Verdant / {peer}: - ({why})")
print()
for r in results:
    print(f"{r['model']}: Verdant per round: train "
          f"{', '.join(f'{x:.0f}' for x in r['verdant_runs']) or '-'}"
          + (f"; infer {', '.join(f'{x:.0f}' for x in r['verdant_infer_runs']) or '-'}"
             if infer else ""))
    for peer in PEERS:
        pr = r["peers"][peer]
        for setting, v in sorted(pr["runs"].items()):
            print(f"{r['model']}: {peer} {setting} per round: train "
                  f"{', '.join(f'{x:.0f}' for x in v['train']) or '-'}"
                  + (f"; infer {', '.join(f'{x:.0f}' for x in v['infer']) or '-'}"
                     if infer else ""))
        for f in pr["failed"]:
            print(f"{r['model']}: {peer} FAILED {f}")
print("images/s: training images per second (steps mode: timed steps; epochs mode: median")
print("epoch) and inference images per second (eval mode). Each peer's figure: its fastest")
print("setting by the median over rounds, picked separately for training and inference.")
if json_out:
    with open(json_out, "w") as f:
        json.dump({"title": title, "device": device, "peer_info": info, "notes": notes,
                   "results": results}, f, indent=1)
    print(f"wrote {json_out}")
if not any(r["verdant_images_per_s"] for r in results):
    sys.exit(1)
PYEOF
[ "$ok" = 1 ] || exit 1

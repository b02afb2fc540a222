#!/usr/bin/env bash
# mpi_scaling.sh - data-parallel scaling of `verdant train` (docs/DISTRIBUTED.md): training
# images/s with N = 1, 2 (and more with --ranks) MPI ranks at the same global batch, and
# the share of the epoch each rank spends in gradient communication (device -> host copy,
# MPI_Allreduce, host -> device copy; from the "N ranks: per rank ..." line that rank 0
# prints). The configurations alternate inside every round (plain process, np 1, np 2,
# ...) so that load from other processes on a shared machine hits them alike; the table
# gives the median over the rounds and the min-max.
#
# Binding: mpirun runs with --bind-to core (Open MPI 4's default for up to 2 ranks, stated
# so it holds for more): each rank, PoCL's threads included, runs on one core; "plain" is
# one process without mpirun, free to use every core. So np1 -> np2 is the scaling from
# one core to two; plain -> np2 compares one process on all the cores with one per core.
#
# Each run: `verdant train MODEL --epochs 1 --limit L --batch B` (global batch B; each of
# N ranks takes B/N), the epoch's training time only (the evaluation that follows is not
# in the img/s). One untimed run first compiles and tunes the kernels into a temporary
# cache that every timed run then shares (a warm start).
#
# Usage: bench/mpi_scaling.sh [--model lenet5|vgg_bn|mlp] [--limit L] [--batch B]
#                             [--rounds R] [--ranks "1 2"] [--build DIR] [--json FILE]
#   --model M    a sample model (default lenet5)
#   --limit L    training images per run (default 3072)
#   --batch B    global batch (default 64; must divide by every N)
#   --rounds R   rounds (default 3)
#   --ranks L    the rank counts to run under mpirun (default "1 2")
#   --bucket-kb K  also run every N > 1 with VERDANT_DIST_BUCKET_KB=K ("npNbK": gradient
#                buckets all-reduced while backward goes on; docs/DISTRIBUTED.md)
#   --build DIR  Verdant build directory (default build/)
#   --json FILE  also write the results as JSON
# Needs Open MPI's mpirun (openmpi-bin) and a build with MPI (VD_WITH_MPI). Runs as root
# with --allow-run-as-root and --oversubscribe (2 ranks may exceed the cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=lenet5 limit=3072 batch=64 rounds=3 ranks="1 2" build="$root/build" json="" bucket_kb=""
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --bucket-kb) bucket_kb="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mpi_scaling.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
verdant="$build/src/cli/verdant"
cfg="$root/samples/models/$model.cfg"
[ -x "$verdant" ] || { echo "mpi_scaling.sh: no $verdant (build first)" >&2; exit 1; }
[ -f "$cfg" ] || { echo "mpi_scaling.sh: no model $cfg" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi_scaling.sh: no mpirun (apt install openmpi-bin)" >&2; exit 1; }
for n in $ranks; do
    [ $((batch % n)) -eq 0 ] || { echo "mpi_scaling.sh: --batch $batch does not divide by $n" >&2; exit 2; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export VERDANT_CACHE_DIR="$tmp/verdant-cache" POCL_CACHE_DIR="$tmp/pocl-cache"
export OMPI_MCA_rmaps_base_oversubscribe=1
args=(train "$cfg" --epochs 1 --limit "$limit" --batch "$batch")

# run NAME CMD...: one timed run; appends "NAME img/s comm% allreduce_s copy_s" to results.
run() {
    local name="$1"
    shift
    if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
        cat "$tmp/out" "$tmp/err" >&2
        echo "mpi_scaling.sh: $name failed" >&2
        exit 1
    fi
    local ips comm ar cp
    ips="$(sed -n 's/^epoch 1\/1 .* \([0-9]*\) img\/s .*/\1/p' "$tmp/out")"
    comm="$(sed -n 's/.*in gradient communication (\([0-9.]*\)%).*/\1/p' "$tmp/out")"
    ar="$(sed -n 's/.*MPI_Allreduce \([0-9.]*\) s .*/\1/p' "$tmp/out")"
    cp="$(sed -n 's/.*copies \([0-9.]*\) s;.*/\1/p' "$tmp/out")"
    echo "$name ${ips:-0} ${comm:-0} ${ar:-0} ${cp:-0}" >>"$tmp/results"
}

echo "device: $("$verdant" devices 2>/dev/null | sed -n 's/^ *\* *//p' | head -1)"
echo "model $model, global batch $batch, $limit images per run, $rounds rounds; $(nproc) CPUs"
"$verdant" "${args[@]}" >/dev/null 2>&1 # untimed: compile and tune into the cache
for ((r = 1; r <= rounds; r++)); do
    run "plain" "$verdant" "${args[@]}"
    for n in $ranks; do
        run "np$n" mpirun --oversubscribe --allow-run-as-root --bind-to core -np "$n" \
            "$verdant" "${args[@]}"
        if [ -n "$bucket_kb" ] && [ "$n" -gt 1 ]; then
            run "np${n}b$bucket_kb" env VERDANT_DIST_BUCKET_KB="$bucket_kb" mpirun --oversubscribe \
                --allow-run-as-root --bind-to core -np "$n" "$verdant" "${args[@]}"
        fi
    done
done

python3 - "$tmp/results" "$model" "$batch" "$limit" "$json" <<'PY'
import json, statistics, sys
path, model, batch, limit, out = sys.argv[1:6]
rows = {}
for line in open(path):
    name, ips, comm, ar, cp = line.split()
    rows.setdefault(name, []).append((float(ips), float(comm), float(ar), float(cp)))
base = statistics.median(v[0] for v in rows["plain"])
cores = __import__("os").cpu_count()
print(f"{'run':8} {'ranks':>5} {'cores':>5} {'img/s':>8} {'min-max':>13} {'vs plain':>9} {'per rank':>9} "
      f"{'comm %':>7} {'allreduce s':>12} {'copies s':>9}")
res = []
for name, v in rows.items():
    n = 1 if name == "plain" else int(name[2:].split("b")[0])
    ips = statistics.median(x[0] for x in v)
    comm = statistics.median(x[1] for x in v)
    ar = statistics.median(x[2] for x in v)
    cp = statistics.median(x[3] for x in v)
    lo, hi = min(x[0] for x in v), max(x[0] for x in v)
    c = cores if name == "plain" else min(n, cores)
    print(f"{name:8} {n:>5} {c:>5} {ips:>8.0f} {f'{lo:.0f}-{hi:.0f}':>13} {ips / base:>9.2f} "
          f"{ips / n:>9.0f} {comm:>7.1f} {ar:>12.2f} {cp:>9.2f}")
    res.append({"run": name, "ranks": n, "cores": c, "images_per_s": ips, "min": lo, "max": hi,
                "vs_plain": ips / base, "comm_percent": comm, "allreduce_s": ar, "copies_s": cp,
                "rounds": [x[0] for x in v]})
if out:
    json.dump({"model": model, "batch": int(batch), "limit": int(limit), "results": res},
              open(out, "w"), indent=1)
PY

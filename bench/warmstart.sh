#!/usr/bin/env bash
# warmstart.sh - time from process start to the first finished training step of
# `verdant train`, cold (empty Verdant and PoCL caches) and warm (both caches filled by the
# cold run), for the sample models. The figure is the one `verdant train` prints as "first
# step done N ms after start": start-up (context, kernel programs, reading the IDX files,
# building the net and its plan) plus the first step (with any kernel compilation or
# convolution-algorithm measurement it triggers). Issue 4's target: warm under 0.5 s.
#
# Usage: bench/warmstart.sh [--build DIR] [--runs N] [MODEL.cfg ...]
#   --build DIR   Verdant build directory (default build/)
#   --runs N      warm runs per model (default 5); the median is printed with min and max
#   MODEL.cfg     default: samples/models/{mlp,lenet5,vgg_bn,resnet_small}.cfg
# Each run trains one epoch over the first 640 images (10 steps) and evaluates; only the
# first-step figure is used. Environment: VERDANT_DEVICE as usual.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
runs=5
models=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build="${2:?--build DIR}"; shift 2 ;;
    --runs) runs="${2:?--runs N}"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "warmstart.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
    esac
done
[ ${#models[@]} -gt 0 ] || models=("$root"/samples/models/{mlp,lenet5,vgg_bn,resnet_small}.cfg)
verdant="$build/src/cli/verdant"
[ -x "$verdant" ] || { echo "warmstart.sh: no $verdant (build first)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# first_step MODEL CACHE: one run with the given caches; prints the first-step milliseconds.
first_step() {
    local out
    if ! out="$(VERDANT_CACHE_DIR="$2/verdant" POCL_CACHE_DIR="$2/pocl" \
        "$verdant" train "$1" --epochs 1 --limit 640 2>"$tmp/err")"; then
        cat "$tmp/err" >&2
        echo "warmstart.sh: verdant train $1 failed" >&2
        return 1
    fi
    sed -n 's/^first step done \([0-9]*\) ms after start$/\1/p' <<<"$out"
}

echo "device: $("$verdant" devices 2>/dev/null | sed -n 's/^ *\* *//p' | head -1)"
printf "%-18s %10s %12s %18s\n" model "cold ms" "warm ms" "warm min-max"
for m in "${models[@]}"; do
    cache="$tmp/cache-$(basename "$m" .cfg)"
    mkdir -p "$cache"
    cold="$(first_step "$m" "$cache")"
    warm=()
    for ((i = 0; i < runs; i++)); do warm+=("$(first_step "$m" "$cache")"); done
    sorted=($(printf "%s\n" "${warm[@]}" | sort -n))
    printf "%-18s %10s %12s %18s\n" "$(basename "$m" .cfg)" "$cold" "${sorted[$((runs / 2))]}" \
        "${sorted[0]}-${sorted[$((runs - 1))]}"
done

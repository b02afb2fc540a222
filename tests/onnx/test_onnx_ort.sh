#!/usr/bin/env bash
# test_onnx_ort.sh - the ONNX export round trip through ONNX Runtime: every sample model
# (samples/models/*.cfg) and the cfgs beside this script (every layer kind) are built with
# seeded weights, trained a few Adam steps on random data (so weights and batch-norm
# running statistics are not their initial values), exported with vd_net_save_onnx and run
# in ONNX Runtime (CPU) on the same random inputs; outputs must match vd_net_predict's to
# 1e-4 (ort_compare.py). ONNX Runtime, onnx and numpy come from PyPI into a virtual
# environment in the build directory, made on first use.
# Usage: test_onnx_ort.sh ONNX_TOOL MODELS_DIR BUILD_DIR
# Exits 77 (skip) when PyPI cannot be reached to make the environment or there is no
# OpenCL device. CI treats a skip as a failure, and CI reaches PyPI.
set -u
tool="$1"
models="$2"
build="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$build/onnx-venv"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

skip() {
    echo "$1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 77
}

# The environment: reused when its packages import, else made (again).
if ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" || skip "python3 -m venv failed (Debian python3-venv)"
    if ! "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime onnx numpy \
        >"$tmp/pip.log" 2>&1; then
        tail -5 "$tmp/pip.log"
        rm -rf "$venv"
        skip "cannot install onnxruntime, onnx and numpy from PyPI"
    fi
fi

# all_layers.cfg must hold every registered layer type: a family added later fails here
# until the export maps it and this file uses it.
missing=""
for t in $("$tool" types); do
    grep -q "^\[$t\]" "$here/all_layers.cfg" || missing="$missing $t"
done
if [ -n "$missing" ]; then
    echo "FAIL all_layers.cfg lacks the layer types:$missing"
    echo "0 passed, 1 failed"
    exit 1
fi

# all_layers.cfg also cut after some of its layers, so that each part's output is compared
# before the pooling and softmax at the end average differences away.
for cut in mp mpd apx ap ap2 ln rs bn3; do
    awk -v cut="$cut" 'stop && /^\[/ { exit } { print } $1 == "name" && $3 == cut { stop = 1 }' \
        "$here/all_layers.cfg" >"$tmp/all_layers_to_$cut.cfg"
done

args=()
for cfg in "$models"/*.cfg "$here"/*.cfg "$tmp"/all_layers_to_*.cfg; do
    name="$(basename "$cfg" .cfg)"
    "$tool" dump "$cfg" "$tmp/$name" --batch 8 --train-steps 3 >"$tmp/dump.out" 2>"$tmp/dump.err"
    rc=$?
    if [ "$rc" -eq 77 ]; then skip "no usable OpenCL device"; fi
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: onnx_tool dump exited $rc"
        cat "$tmp/dump.err"
        args+=("$tmp/$name:1:1") # counted as a failure by ort_compare.py (no files)
        continue
    fi
    in_shape="$(sed -n 's/.*input_shape=\([0-9,]*\).*/\1/p' "$tmp/dump.out")"
    out_size="$(sed -n 's/.*output_size=\([0-9]*\).*/\1/p' "$tmp/dump.out")"
    args+=("$tmp/$name:$in_shape:$out_size")
done
"$venv/bin/python" "$here/ort_compare.py" "${args[@]}"

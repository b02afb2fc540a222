#!/usr/bin/env bash
# test_export.sh - `verdant export` as a user meets it: help, a wrong flag, a missing -o,
# a missing or malformed model file, an unwritable output (one-line errors naming the file,
# exit 2 for usage, 1 for failures), a layer ONNX cannot express (named with its option),
# and exports of a network file and of a trained checkpoint. A failed export leaves an
# existing output file as it was. The file's contents are checked by test_onnx_export and
# test_onnx_ort. Usage: test_export.sh VERDANT_BINARY MODELS_DIR
# Exits 77 (skip) when the Fashion-MNIST package or an OpenCL device is missing.
set -u
V="$1"
M="$2"
data=/usr/share/datasets/fashion-mnist
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

checks_need_data_and_device "$V" "$data"
one_line() {
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && pass=$((pass + 1)) || {
        fail=$((fail + 1))
        echo "FAIL $1: not one line"
        sed 's/^/  | /' "$tmp/err"
    }
}

expect 0 "export --help" "$V" export --help
contains "$tmp/out" "usage: verdant export MODEL.ckpt|MODEL.cfg -o MODEL.onnx" "export usage"
expect 0 "verdant --help lists export" "$V" --help
contains "$tmp/out" "export" "help lists export"
expect 2 "wrong flag" "$V" export "$M/lenet5.cfg" -o "$tmp/x.onnx" --outptu y
contains "$tmp/err" "unknown option '--outptu'" "wrong flag message"
one_line "wrong flag"
expect 2 "missing -o" "$V" export "$M/lenet5.cfg"
contains "$tmp/err" "missing -o MODEL.onnx" "missing -o message"
expect 2 "missing model" "$V" export -o "$tmp/x.onnx"
expect 1 "missing model file" "$V" export "$tmp/none.ckpt" -o "$tmp/x.onnx"
contains "$tmp/err" "none.ckpt" "missing file is named"
one_line "missing model file"
printf '[net]\ninput = 1, 28, 28\n[dense]\nname = fc\nfliters = 3\n' >"$tmp/bad.cfg"
expect 1 "malformed model file" "$V" export "$tmp/bad.cfg" -o "$tmp/x.onnx"
contains "$tmp/err" "bad.cfg:5: layer 'fc' (dense): unknown key 'fliters'" "bad cfg message"
expect 1 "unwritable output" "$V" export "$M/lenet5.cfg" -o "$tmp/no-such-dir/x.onnx"
contains "$tmp/err" "no-such-dir/x.onnx" "unwritable output is named"
one_line "unwritable output"

echo "previous" >"$tmp/keep.onnx"
printf '[net]\ninput = 1, 10, 10\n[avgpool]\nname = ap\nkernel = 3\nstride = 2\npad = 1\nceil = 1\n' \
    >"$tmp/overhang.cfg"
expect 1 "layer ONNX cannot express" "$V" export "$tmp/overhang.cfg" -o "$tmp/keep.onnx"
contains "$tmp/err" "layer 'ap' (avgpool): option 'ceil' = 1" "refusal names layer and option"
one_line "refusal"
contains "$tmp/keep.onnx" "previous" "a failed export leaves the existing file"

expect 0 "export a network file" "$V" export "$M/vgg_bn.cfg" -o "$tmp/vgg.onnx"
contains "$tmp/out" "wrote $tmp/vgg.onnx" "export says what it wrote"
[ -s "$tmp/vgg.onnx" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL vgg.onnx empty"; }
expect 0 "same seed, same file" "$V" export "$M/vgg_bn.cfg" -o "$tmp/vgg2.onnx"
cmp -s "$tmp/vgg.onnx" "$tmp/vgg2.onnx" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL export not reproducible"; }
expect 0 "--seed" "$V" export "$M/vgg_bn.cfg" -o "$tmp/vgg3.onnx" --seed 5
cmp -s "$tmp/vgg.onnx" "$tmp/vgg3.onnx" && { fail=$((fail + 1)); echo "FAIL --seed ignored"; } || pass=$((pass + 1))

expect 0 "train a checkpoint" "$V" train "$M/mlp.cfg" --epochs 1 --limit 512 --batch 64 \
    --checkpoint "$tmp/mlp.ckpt"
expect 0 "export a checkpoint" "$V" export "$tmp/mlp.ckpt" -o "$tmp/mlp.onnx"
expect 0 "export the untrained network file" "$V" export "$M/mlp.cfg" -o "$tmp/mlp0.onnx"
cmp -s "$tmp/mlp.onnx" "$tmp/mlp0.onnx" && { fail=$((fail + 1)); echo "FAIL checkpoint export holds the initial weights"; } || pass=$((pass + 1))
expect 2 "--seed with a checkpoint" "$V" export "$tmp/mlp.ckpt" -o "$tmp/x.onnx" --seed 3
checks_summary

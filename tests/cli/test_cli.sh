#!/usr/bin/env bash
# test_cli.sh - the `verdant` command as a user meets it: help, wrong flags and missing
# files (one-line errors, exit 2 / 1), plan, a short train with a checkpoint and a log,
# resume, eval and predict. Usage: test_cli.sh VERDANT_BINARY MODELS_DIR
# Exits 77 (skip) when the Fashion-MNIST package or an OpenCL device is missing.
set -u
V="$1"
M="$2"
data=/usr/share/datasets/fashion-mnist
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

checks_need_data_and_device "$V" "$data"

expect 0 "verdant --help" "$V" --help
contains "$tmp/out" "train" "help lists train"
expect 2 "no command" "$V"
expect 2 "unknown command" "$V" frobnicate
expect 2 "wrong flag" "$V" train "$M/lenet5.cfg" --fliters 3
contains "$tmp/err" "unknown option '--fliters'" "wrong flag message"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL wrong flag: not one line"; }
expect 2 "bad number" "$V" train "$M/lenet5.cfg" --epochs two
expect 1 "missing model file" "$V" train "$tmp/none.cfg"
contains "$tmp/err" "none.cfg" "missing model names the file"
expect 1 "missing data dir" "$V" train "$M/mlp.cfg" --data "$tmp/nodata"
contains "$tmp/err" "dataset-fashion-mnist" "missing data hint"
printf '[net]\ninput = 1, 28, 28\n[dense]\nname = fc\nfliters = 3\n' >"$tmp/bad.cfg"
expect 1 "bad model file" "$V" train "$tmp/bad.cfg"
contains "$tmp/err" "bad.cfg:5: layer 'fc' (dense): unknown key 'fliters'" "bad cfg message"

expect 0 "plan" "$V" plan "$M/lenet5.cfg" --batch 32
contains "$tmp/out" "total parameters: 61706" "plan counts LeNet-5's parameters"
contains "$tmp/out" "forward: 0.84 MFLOP per sample" "plan counts LeNet-5's FLOPs"

# bench: whole-model images/s, the per-layer table, JSON for machines, wrong flags.
expect 0 "bench" "$V" bench "$M/lenet5.cfg" --steps 2 --batch 8 --warmup 1
contains "$tmp/out" "images/s" "bench prints images/s"
contains "$tmp/out" "train " "bench prints the training row"
contains "$tmp/out" "inference " "bench prints the inference row"
expect 0 "bench --layers" "$V" bench "$M/lenet5.cfg" --steps 1 --batch 8 --warmup 1 --layers \
    --reps 1
contains "$tmp/out" "bwd_filter" "bench --layers lists the backward-filter pass"
contains "$tmp/out" "%peak" "bench --layers prints % of peak"
contains "$tmp/out" "nominal" "bench --layers says the peak is nominal"
expect 0 "bench --json" "$V" bench "$M/lenet5.cfg" --steps 1 --batch 8 --warmup 1 --layers \
    --reps 1 --json
cp "$tmp/out" "$tmp/bench.json"
expect 0 "bench --json parses" python3 -m json.tool "$tmp/bench.json"
expect 0 "bench --json fields" python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
m = d["models"][0]
assert m["train_images_per_s"] > 0 and m["infer_images_per_s"] > 0, m
rows = m["conv"]
assert {r["pass"] for r in rows} == {"fwd", "bwd_data", "bwd_filter"}, rows
assert all(r["ms"] > 0 and r["gflops"] > 0 for r in rows), rows
assert sum(r["selected"] for r in rows) == 6, rows  # 2 conv layers x 3 passes
assert d["device"]["peak_gflops_nominal"] > 0' "$tmp/bench.json"
expect 2 "bench wrong flag" "$V" bench "$M/lenet5.cfg" --stpes 2
contains "$tmp/err" "unknown option '--stpes'" "bench wrong flag message"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL bench wrong flag: not one line"; }
expect 2 "bench bad batch" "$V" bench "$M/lenet5.cfg" --batch 0
expect 1 "bench missing model" "$V" bench "$tmp/none.cfg"
contains "$tmp/err" "none.cfg" "bench names the missing model"

# --lr and --warmup pinned: the resume checks below count on lr 0.001 and no warm-up,
# whatever lenet5.cfg's recipe says.
expect 0 "train" "$V" train "$M/lenet5.cfg" --epochs 1 --limit 640 --checkpoint "$tmp/m.ckpt" \
    --log "$tmp/log.jsonl" --schedule cosine --lr 0.001 --warmup 0
contains "$tmp/out" "epoch 1/1" "train prints the epoch"
contains "$tmp/log.jsonl" '"epoch": 1' "train writes the log"
# stderr is a file here, not a terminal: plain progress lines instead of a redrawn bar.
expect 0 "train, progress into a file" "$V" train "$M/mlp.cfg" --epochs 1 --limit 2560
contains "$tmp/err" "  epoch 1   50%  batch 20/40  loss " "progress lines when stderr is not a terminal"
if grep -q $'\r' "$tmp/err"; then fail=$((fail + 1)); echo "FAIL progress into a file has carriage returns"; else pass=$((pass + 1)); fi
expect 0 "resume" "$V" train --resume "$tmp/m.ckpt" --epochs 2 --limit 640 --log "$tmp/log.jsonl"
contains "$tmp/out" "resumed from" "resume says so"
contains "$tmp/log.jsonl" '"epoch": 2' "resume continues at epoch 2"
contains "$tmp/out" "planned: 1 epochs, schedule cosine, batch 64" "resume reads the saved plan"
# The cosine schedule came from the checkpoint (no --schedule here), over the 2 epochs asked.
contains "$tmp/out" "lr 0.0005 " "resume continues the saved schedule"
expect 0 "resume when done" "$V" train --resume "$tmp/m.ckpt" --limit 640
contains "$tmp/out" "nothing to do: 1 epochs done" "resume of a finished plan says so"
expect 0 "eval" "$V" eval "$tmp/m.ckpt"
contains "$tmp/out" "confusion matrix" "eval prints the confusion matrix"
expect 0 "predict idx" "$V" predict "$tmp/m.ckpt" "$data/t10k-images-idx3-ubyte.gz" --index 3 --top 2
contains "$tmp/out" "[3]:" "predict names the image"
# The same image as PNG (grey and RGB) and PGM, written here from the IDX file: same answer.
python3 - "$data/t10k-images-idx3-ubyte.gz" "$tmp" <<'PYEOF'
import gzip, struct, sys, zlib
raw = gzip.open(sys.argv[1]).read()
px, out = raw[16 + 784 * 3:16 + 784 * 4], sys.argv[2]
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
def png(rgb):
    rows = b"".join(b"\0" + (bytes(v for p in px[r*28:(r+1)*28] for v in (p, p, p)) if rgb
                              else px[r*28:(r+1)*28]) for r in range(28))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 2 if rgb else 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
open(out + "/i3.png", "wb").write(png(False))
open(out + "/i3rgb.png", "wb").write(png(True))
open(out + "/i3.pgm", "wb").write(b"P5\n28 28\n255\n" + px)
open(out + "/cut.png", "wb").write(png(False)[:60])
open(out + "/small.pgm", "wb").write(b"P5\n10 10\n255\n" + bytes(100))
PYEOF
top3="$(sed -n 's/^[^:]*\[3\]: *//p' "$tmp/out")"
expect 0 "predict pgm" "$V" predict "$tmp/m.ckpt" "$tmp/i3.pgm" --top 2
contains "$tmp/out" "i3.pgm:  $top3" "pgm gives the IDX image's answer"
if grep -q "built without libpng" <("$V" predict "$tmp/m.ckpt" "$tmp/i3.png" 2>&1); then
    echo "note: verdant built without libpng; PNG checks skipped"
else
    expect 0 "predict png" "$V" predict "$tmp/m.ckpt" "$tmp/i3.png" "$tmp/i3rgb.png" --top 2
    contains "$tmp/out" "i3.png:  $top3" "grey png gives the IDX image's answer"
    contains "$tmp/out" "i3rgb.png:  $top3" "rgb png gives the IDX image's answer"
    expect 1 "predict truncated png" "$V" predict "$tmp/m.ckpt" "$tmp/cut.png"
    contains "$tmp/err" "cut.png': " "truncated png names the file"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL truncated png: not one line"; }
fi
expect 1 "predict wrong size" "$V" predict "$tmp/m.ckpt" "$tmp/small.pgm"
contains "$tmp/err" "is 10x10 (100 pixels); the network takes 784 values per image (28x28, 1 channel(s))" "wrong image size refused with both sizes"

# Green computing: energy fields in the log, the profiling table, info, plot, cache clear.
contains "$tmp/log.jsonl" '"images_per_joule": ' "log has the energy fields"
contains "$tmp/log.jsonl" '"energy_note": ' "log says what the meter counts or why none"
expect 0 "train --profile" "$V" train "$M/lenet5.cfg" --epochs 1 --limit 128 --profile
contains "$tmp/out" "[host overhead]" "profile table printed"
contains "$tmp/out" "fwd GFLOP/s" "profile table has GFLOP/s"
expect 0 "info" "$V" info
contains "$tmp/out" "energy meters:" "info lists the meters"
contains "$tmp/out" "rapl" "info names RAPL"
contains "$tmp/out" "verdant kernels and tuning" "info shows the cache directory"
mkdir -p "$tmp/cache"
touch "$tmp/cache/0123456789abcdef0123456789abcdef.bin" "$tmp/cache/tune-0123abcd.txt" \
    "$tmp/cache/notes.txt"
expect 0 "cache clear" env VERDANT_CACHE_DIR="$tmp/cache" "$V" cache clear
contains "$tmp/out" "removed 2 files" "cache clear counts what it removed"
[ ! -e "$tmp/cache/tune-0123abcd.txt" ] && [ -e "$tmp/cache/notes.txt" ] &&
    pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL cache clear removed the wrong files"; }
expect 2 "cache without action" "$V" cache
expect 2 "cache unknown action" "$V" cache frob
expect 2 "plot without -o" "$V" plot "$tmp/log.jsonl"
expect 2 "plot to .gif" "$V" plot "$tmp/log.jsonl" -o "$tmp/c.gif"
"$V" plot "$tmp/log.jsonl" -o "$tmp/c.png" >"$tmp/out" 2>"$tmp/err"
if grep -q "built without PLplot" "$tmp/err"; then
    expect 1 "plot without PLplot" "$V" plot "$tmp/log.jsonl" -o "$tmp/c.png"
    contains "$tmp/err" "libplplot-dev" "plot says how to get PLplot"
else
    expect 0 "plot png" "$V" plot "$tmp/log.jsonl" -o "$tmp/c.png"
    [ "$(head -c 8 "$tmp/c.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
        pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL plot: not a PNG"; }
    expect 0 "plot svg" "$V" plot "$tmp/log.jsonl" -o "$tmp/c.svg"
    contains "$tmp/c.svg" "<svg" "plot svg is SVG"
    expect 1 "plot missing log" "$V" plot "$tmp/none.jsonl" -o "$tmp/c.png"
    contains "$tmp/err" "none.jsonl" "plot names the missing log"
fi

# The training recipe in [net]: cfg keys fill what the flags leave open, flags win.
cat >"$tmp/r.cfg" <<'CFGEOF'
[net]
input = 1, 28, 28
optimizer = sgd
lr = 0.01
schedule = cosine
epochs = 2
batch = 32
[flatten]
[dense]
units = 10
CFGEOF
expect 0 "train from the recipe" "$V" train "$tmp/r.cfg" --limit 320 --checkpoint "$tmp/r.ckpt"
contains "$tmp/out" "optimizer sgd, batch 32" "recipe sets optimizer and batch"
contains "$tmp/out" "epoch 2/2" "recipe sets epochs"
contains "$tmp/out" "lr 0.005 " "recipe sets lr and the cosine schedule"
expect 0 "resume a recipe run" "$V" train --resume "$tmp/r.ckpt" --limit 320
contains "$tmp/out" "planned: 2 epochs, schedule cosine, batch 32" "resume resolves the recipe"
expect 0 "flags override the recipe" "$V" train "$tmp/r.cfg" --limit 320 --epochs 1 --batch 16 \
    --optimizer adam --lr 0.002
contains "$tmp/out" "optimizer adam, batch 16" "flags override optimizer and batch"
contains "$tmp/out" "epoch 1/1" "flag overrides epochs"
contains "$tmp/out" "lr 0.002 " "flag overrides lr"
sed 's/^epochs = 2$/epochs = 0/' "$tmp/r.cfg" >"$tmp/rbad.cfg"
expect 1 "bad recipe value" "$V" train "$tmp/rbad.cfg" --limit 320
contains "$tmp/err" "rbad.cfg:6: [net] epochs: '0'" "bad recipe value names file, line, key, value"

# Each sample model documents what `verdant train MODEL` with no flags resolves to (a
# "# resolves to: ..." header line next to its expected accuracy); the run must print that
# recipe. A 64-image train and test split keeps the documented epochs quick.
tiny="$tmp/tiny"
mkdir -p "$tiny"
for split in train t10k; do
    { printf '\x00\x00\x08\x03\x00\x00\x00\x40\x00\x00\x00\x1c\x00\x00\x00\x1c'
      gzip -dc "$data/$split-images-idx3-ubyte.gz" | tail -c +17 | head -c $((64 * 784)); } \
        >"$tiny/$split-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01\x00\x00\x00\x40'
      gzip -dc "$data/$split-labels-idx1-ubyte.gz" | tail -c +9 | head -c 64; } \
        >"$tiny/$split-labels-idx1-ubyte"
done
for cfg in "$M"/*.cfg; do
    name="$(basename "$cfg")"
    doc="$(sed -n 's/^# resolves to: //p' "$cfg")"
    if [ -z "$doc" ]; then
        fail=$((fail + 1)); echo "FAIL $name: no '# resolves to:' header line"; continue
    fi
    grep -q '^# Expected' "$cfg" && pass=$((pass + 1)) ||
        { fail=$((fail + 1)); echo "FAIL $name: no '# Expected' accuracy line in its header"; }
    expect 0 "$name: train with the defaults" "$V" train "$cfg" --data "$tiny"
    contains "$tmp/out" "recipe: $doc" "$name: the defaults resolve as its header documents"
done

head -c 100 /dev/urandom >"$tmp/m2.ckpt"
expect 1 "corrupt checkpoint" "$V" eval "$tmp/m2.ckpt"
contains "$tmp/err" "m2.ckpt" "corrupt checkpoint message names the file"

checks_summary

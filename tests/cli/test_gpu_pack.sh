#!/usr/bin/env bash
# test_gpu_pack.sh - the one-call GPU check's two halves on this machine: scripts/gpu_pack.sh
# packs the build into a folder within 64 MiB that runs without the build tree, and
# scripts/gpu_check.sh, run from a copy of it with --allow-cpu (the rehearsal mode: the
# system's PoCL instead of a GPU driver), runs packed tests and the benchmark and writes its
# report. A GPU machine runs the same scripts without --allow-cpu (docs/GPU.md).
# Usage: test_gpu_pack.sh BUILD_DIR SOURCE_DIR
set -u
B="$1"
S="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
if ! "$B/src/cli/verdant" devices >/dev/null 2>&1; then
    echo "no OpenCL device: skipped"
    exit 77
fi

expect 0 "gpu_pack.sh" bash "$S/scripts/gpu_pack.sh" --build "$B" --out "$tmp/pack"
contains "$tmp/err" "packed $tmp/pack" "pack summary"
expect 2 "gpu_pack.sh wrong flag" bash "$S/scripts/gpu_pack.sh" --frob
contains "$tmp/err" "unknown argument '--frob'" "wrong flag message"
for f in bin/verdant lib/libOpenCL.so.1 lib/libclblast.so.1 lib/libclFFT.so.2 lib/libverdant.so.0 \
    tests/list.tsv tests/test_act tests/cli/checks.sh gpu_check.sh bench/torch_gpu.py models/lenet5.cfg; do
    if [ -e "$tmp/pack/$f" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL packed file $f missing"; fi
done
kib="$(du -sk "$tmp/pack" | cut -f1)"
if [ "$kib" -le $((64 * 1024)) ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL pack is $kib KiB, over 64 MiB"; fi
# Every test ctest runs is in the list or named as not runnable there.
n_ctest="$(ctest --test-dir "$B" -N 2>/dev/null | sed -n 's/^Total Tests: //p')"
n_pack=$(($(wc -l <"$tmp/pack/tests/list.tsv") + $(wc -l <"$tmp/pack/tests/skipped.txt")))
if [ "$n_ctest" = "$n_pack" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL ctest has $n_ctest tests, the pack lists $n_pack"; fi

# Run from a moved copy, with no path into the build tree or the sources.
mv "$tmp/pack" "$tmp/moved"
expect 0 "gpu_check.sh --allow-cpu" env -u VERDANT_DEVICE "$tmp/moved/gpu_check.sh" --allow-cpu \
    --tests '^test_act$' --steps 2 --out "$tmp/report"
contains "$tmp/report/gpu-report.txt" "1 passed, 0 failed, 0 skipped" "report's test line"
contains "$tmp/report/gpu-report.txt" "lenet5.cfg" "report's benchmark table"
contains "$tmp/report/tests/test_act.log" " passed, 0 failed" "test log kept"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d["models"]) == 3 and all(m["train_images_per_s"] > 0 and m["infer_images_per_s"] > 0 for m in d["models"]) else 1)' "$tmp/report/verdant-bench.json"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL verdant-bench.json lacks three models' figures"; fi
# Without --allow-cpu on a machine with no GPU driver it must say so and exit 3, not hang.
if ! ls /etc/OpenCL/vendors/*.icd 2>/dev/null | xargs -r grep -qil nvidia; then
    expect 3 "gpu_check.sh without a GPU" env -u VERDANT_DEVICE "$tmp/moved/gpu_check.sh" --skip-bench --out "$tmp/report2"
    contains "$tmp/out" "no GPU OpenCL device" "no-GPU message"
fi
checks_summary

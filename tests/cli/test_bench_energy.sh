#!/usr/bin/env bash
# test_bench_energy.sh - the energy columns of `verdant bench`, text and --json, with each
# kind of answer a meter can give: none (VERDANT_METER=off; RAPL forced on a fake sysfs
# tree without powercap): one "energy: unavailable (<reason>)" line and nulls with the
# reason; a fake RAPL counter that does not move: "energy n/a" and nulls with a note, never
# an infinite images/J; the stub NVML library (tests/stub_nvml.c): its counter moves 2.5 J
# per read, so each timed stretch is exactly 2.5 J (joules per step = 2.5 / steps), and its
# 200 W power reading integrated gives 200 W. Needs no dataset (bench uses synthetic
# batches). Usage: test_bench_energy.sh VERDANT_BINARY MODELS_DIR STUB_NVML_LIBRARY
# Exits 77 (skip) without an OpenCL device.
set -u
V="$1"
M="$2"
STUB="$3"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# check DESCRIPTION PYTHON: run PYTHON with d = the JSON document in $tmp/out.
check() {
    local what="$1"
    if python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
$2" "$tmp/out" >"$tmp/py" 2>&1; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL $what"
        sed 's/^/  | /' "$tmp/py" "$tmp/out" | tail -20
    fi
}

if ! "$V" devices >/dev/null 2>&1; then
    echo "no usable OpenCL device"
    echo "0 passed, 0 failed, 1 skipped"
    exit 77
fi
B=("$V" bench "$M/mlp.cfg" --steps 4 --batch 8 --warmup 1)

# No meter: switched off, and RAPL forced on a tree without powercap.
expect 0 "bench, meters off" env VERDANT_METER=off "${B[@]}"
contains "$tmp/out" "energy: unavailable (energy meters are off (VERDANT_METER=off))" \
    "off: one unavailable line with the reason"
[ "$(grep -c 'energy' "$tmp/out")" -eq 1 ] && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL off: energy mentioned more than once"; cat "$tmp/out"; }
expect 0 "bench --json, meters off" env VERDANT_METER=off "${B[@]}" --json
check "off: JSON nulls with the reason" '
m = d["models"][0]
assert d["energy"] == {"meter": None, "energy_note": "energy meters are off (VERDANT_METER=off)"}, d["energy"]
for k in ("train_energy", "infer_energy"):
    e = m[k]
    assert e["joules"] is None and e["watts"] is None and e["images_per_joule"] is None, e
    assert e["meter"] is None and "VERDANT_METER=off" in e["energy_note"], e'
mkdir -p "$tmp/empty/sys/class"
expect 0 "bench --json, no powercap" env VERDANT_METER=rapl VERDANT_SYSFS_ROOT="$tmp/empty" \
    "${B[@]}" --json
check "no powercap: JSON nulls with the reason" '
for k in ("train_energy", "infer_energy"):
    e = d["models"][0][k]
    assert e["joules"] is None and e["images_per_joule"] is None and e["meter"] is None, e
    assert "/sys/class/powercap does not exist" in e["energy_note"], e
assert "/sys/class/powercap does not exist" in d["energy"]["energy_note"], d["energy"]'

# A RAPL counter that does not move: no figure, never an infinite images/J.
z="$tmp/still/sys/class/powercap/intel-rapl:0"
mkdir -p "$z"
echo package-0 >"$z/name"
echo 262143328850 >"$z/max_energy_range_uj"
echo 1000 >"$z/energy_uj"
expect 0 "bench, still counter" env VERDANT_METER=rapl VERDANT_SYSFS_ROOT="$tmp/still" "${B[@]}"
contains "$tmp/out" "energy: rapl meter, package-0" "still: the meter is named"
[ "$(grep -c 'energy n/a' "$tmp/out")" -eq 2 ] && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL still: not two 'energy n/a'"; cat "$tmp/out"; }
contains "$tmp/out" "counter did not move" "still: says why"
lacks "$tmp/out" "inf" "still: no infinite figure"
lacks "$tmp/out" "nan" "still: no NaN"
expect 0 "bench --json, still counter" env VERDANT_METER=rapl VERDANT_SYSFS_ROOT="$tmp/still" \
    "${B[@]}" --json
check "still: JSON nulls, meter named, note" '
for k in ("train_energy", "infer_energy"):
    e = d["models"][0][k]
    assert e["joules"] is None and e["watts"] is None and e["images_per_joule"] is None, e
    assert e["meter"] == "rapl" and "did not move" in e["energy_note"], e'

# The stub NVML meter: 2.5 J per read, so 2.5 J per timed stretch of 4 steps of 8 images.
export VERDANT_METER=nvml VERDANT_NVML_LIB="$STUB"
expect 0 "bench, stub energy counter" env STUB_NVML_MODE=energy "${B[@]}"
cp "$tmp/out" "$tmp/energy.txt"
contains "$tmp/out" "energy: nvml meter, GPU 0 Stub GPU A" "stub: the meter is named"
contains "$tmp/out" "0.6250 J/step" "stub: 2.5 J / 4 steps per training step"
contains "$tmp/out" "0.6250 J/batch" "stub: 2.5 J / 4 batches per inference batch"
contains "$tmp/out" "12.8 img/J (nvml)" "stub: 32 images / 2.5 J"
expect 0 "bench --json, stub energy counter" env STUB_NVML_MODE=energy "${B[@]}" --json
check "stub: JSON numbers" '
assert d["energy"]["meter"] == "nvml", d["energy"]
for k in ("train_energy", "infer_energy"):
    e = d["models"][0][k]
    assert abs(e["joules"] - 0.625) < 1e-9, e
    assert abs(e["images_per_joule"] - 12.8) < 1e-3, e
    assert e["watts"] > 0 and e["meter"] == "nvml" and "energy counter" in e["energy_note"], e'
expect 0 "bench --json, stub power" env STUB_NVML_MODE=power "${B[@]}" --json
check "stub power: 200 W integrated (within 5%)" '
for k in ("train_energy", "infer_energy"):
    e = d["models"][0][k]
    assert abs(e["watts"] - 200) < 10, e
    assert e["joules"] > 0 and e["images_per_joule"] > 0, e'
unset VERDANT_METER VERDANT_NVML_LIB

checks_summary

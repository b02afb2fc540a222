#!/usr/bin/env bash
# gpu_pack.sh - pack, on this (Debian) machine, everything a bare GPU machine without network
# access needs to test and benchmark Verdant: the built binaries, the ICD loader, CLBlast and
# clFFT unpacked from their Debian packages, the other shared libraries the binaries load,
# the sample models, the test list (from ctest) and scripts/gpu_check.sh, which runs it all
# there. Nothing vendor-specific is packed: the GPU machine's own OpenCL driver is found at
# run time. See docs/GPU.md.
#
# Usage: scripts/gpu_pack.sh [--build DIR] [--out DIR] [--with-data]
#   --build DIR   a configured and built tree (default build/, built by scripts/setup.sh)
#   --out DIR     the folder to fill (default build/gpu-pack; emptied first)
#   --with-data   also pack the Fashion-MNIST IDX files (30 MB) for verdant train
# The folder must stay within 64 MiB (the limit of what travels to the device machine);
# the script fails when it does not. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
out=""
with_data=false
limit_mib=64
while [ "$#" -gt 0 ]; do
    case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --with-data) with_data=true; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gpu_pack.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
out="${out:-$build/gpu-pack}"
log() { echo "gpu_pack.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$build/src/cli/verdant" ] || die "$build/src/cli/verdant not found: run scripts/setup.sh first"
command -v ctest >/dev/null || die "ctest not found"
command -v python3 >/dev/null || die "python3 not found (it reads ctest's JSON test list)"

rm -rf "$out"
mkdir -p "$out"/{bin,tests,lib,models,bench,debs}

# 1. The ICD loader, CLBlast and clFFT as unpacked Debian packages (the versions installed
#    here, so the binaries match). apt-get download needs no root and no network when the
#    .deb is still in apt's cache; otherwise it fetches from the Debian mirror.
debs=(ocl-icd-libopencl1 libclblast1 libclfft2)
(
    cd "$out/debs"
    for p in "${debs[@]}"; do
        v="$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)" || die "package $p is not installed"
        cached="$(ls /var/cache/apt/archives/"${p}"_*.deb 2>/dev/null | head -n 1 || true)"
        if [ -n "$cached" ]; then
            cp "$cached" .
        else
            apt-get download -q "$p=$v" >/dev/null 2>&1 || die "apt-get download $p=$v failed"
        fi
    done
    for d in ./*.deb; do
        dpkg-deb -x "$d" "$out/debs/root" || die "dpkg-deb -x $d failed"
    done
)
find "$out/debs/root/usr/lib" -name 'lib*.so*' \( -type f -o -type l \) -exec cp -a {} "$out/lib/" \;
rm -rf "$out/debs"
[ -e "$out/lib/libOpenCL.so.1" ] || die "libOpenCL.so.1 missing from the unpacked ICD loader"

# 2. Binaries: the CLI, libverdant and every test binary ctest runs.
cp -a "$build"/libverdant.so* "$out/lib/"
cp "$build/src/cli/verdant" "$out/bin/"
ctest --test-dir "$build" --show-only=json-v1 >"$out/ctest.json" 2>/dev/null ||
    die "ctest --show-only=json-v1 failed in $build"
python3 - "$out" "$build" "$root" <<'PY' || die "writing the test list failed"
# One line per test: name<TAB>labels<TAB>env (space-separated, @PACK@ for the folder)<TAB>
# command (space-separated). Paths of this machine become @PACK@-relative ones; tests that
# need a compiler or CMake here (install_consumer) or a build-tree-only tool are left out
# with the reason in tests/skipped.txt.
import json, os, shutil, sys
out, build, root = sys.argv[1:4]
d = json.load(open(os.path.join(out, "ctest.json")))
lines, skipped = [], []
def rel(s):
    s = s.replace(build + "/tests/", "@PACK@/tests/").replace(build + "/src/cli/", "@PACK@/bin/")
    s = s.replace(build + "/kernel-cache", "@PACK@/kernel-cache")
    s = s.replace(root + "/samples/models", "@PACK@/models").replace(root + "/tests/", "@PACK@/tests/")
    return s
for t in d["tests"]:
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    cmd = t.get("command") or []
    labels = props.get("LABELS", [])
    if not cmd:
        continue
    if "install" in labels or any(c.endswith("/cmake") or c.endswith("/cc") for c in cmd):
        skipped.append(f"{t['name']}\tneeds CMake and a compiler on the GPU machine")
        continue
    if "gpu-check" in labels:
        skipped.append(f"{t['name']}\ttests this pack itself (needs the build tree)")
        continue
    for c in cmd:  # copy what the command runs or reads
        if c.startswith(build + "/tests/") and os.path.isfile(c):
            shutil.copy2(c, os.path.join(out, "tests"))
        elif c.startswith(root + "/tests/") and os.path.isfile(c):
            dst = os.path.join(out, "tests", os.path.relpath(c, root + "/tests"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(c, dst)
    env = [rel(e) for e in props.get("ENVIRONMENT", [])]
    if any(" " in x for x in cmd + env):
        skipped.append(f"{t['name']}\ta space in its command or environment")
        continue
    lines.append("\t".join([t["name"], ",".join(labels), " ".join(env), " ".join(rel(c) for c in cmd)]))
open(os.path.join(out, "tests", "list.tsv"), "w").write("\n".join(lines) + "\n")
open(os.path.join(out, "tests", "skipped.txt"), "w").write("\n".join(skipped) + ("\n" if skipped else ""))
PY
rm -f "$out/ctest.json"
# The shell tests' helpers (sourced beside them) and the libraries the tests load by path
# (the NVML stub, for example).
mkdir -p "$out/tests/cli"
cp "$root"/tests/cli/*.sh "$out/tests/cli/"
find "$build/tests" -maxdepth 1 -name '*.so' -exec cp {} "$out/tests/" \;

# 3. The other shared libraries the binaries need, from this machine, leaving out glibc's
#    own (the GPU machine has one; a newer libc here than there fails loudly at start).
for b in "$out/bin/verdant" "$out"/tests/test_* "$out/tests/crash_kill"; do
    [ -f "$b" ] && [ -x "$b" ] && ldd "$b" 2>/dev/null
done | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    base="$(basename "$lib")"
    case "$base" in
    libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux* | libresolv.so.*) continue ;;
    esac
    [ -e "$out/lib/$base" ] || cp -L "$lib" "$out/lib/$base"
done

# 4. Models, benchmark peers, the run-there script, data.
cp "$root"/samples/models/*.cfg "$out/models/"
cp "$root/bench/torch_cnn.py" "$root/bench/torch_gpu.py" "$root/bench/cnn_cfg.py" \
    "$root/bench/torch_mlp.py" "$out/bench/" # torch_cnn imports the other two
cp "$root/scripts/gpu_check.sh" "$out/"
chmod +x "$out/gpu_check.sh"
if "$with_data"; then
    mkdir -p "$out/data/fashion-mnist"
    cp /usr/share/datasets/fashion-mnist/*.gz "$out/data/fashion-mnist/" ||
        die "Fashion-MNIST not found (apt-get install dataset-fashion-mnist)"
fi
{
    echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "packed $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
    for p in "${debs[@]}"; do echo "$p $(dpkg-query -W -f='${Version}' "$p")"; done
} >"$out/PACK-INFO"

kib="$(du -sk "$out" | cut -f1)"
mib=$(((kib + 1023) / 1024))
[ "$mib" -le "$limit_mib" ] || die "$out is $mib MiB, over the ${limit_mib} MiB limit"
log "packed $out: $mib MiB, $(wc -l <"$out/tests/list.tsv") tests, $(ls "$out/lib" | wc -l) libraries"
log "on the GPU machine: cd <that folder> && ./gpu_check.sh   (report: gpu-report.txt)"

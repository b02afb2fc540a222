#!/usr/bin/env bash
# setup.sh - install the Debian packages Verdant needs (only the missing ones) and
# configure + build it into build/ (Release). Safe to run again: installed packages are
# skipped, an existing build/ is reused and only what changed is rebuilt.
#
# Usage: scripts/setup.sh [extra cmake -D options...]
# Environment:
#   VD_BUILD_DIR     build directory (default: <repo>/build)
#   VD_BUILD_TYPE    CMAKE_BUILD_TYPE (default: Release)
#   VD_SKIP_APT=1    do not check or install Debian packages
#   VD_EXTRA_PKGS    more Debian packages to install (space-separated)
# Works as root (CI) or as a user with sudo, with no stdin and no prompts.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_BUILD_DIR:-$root/build}"
build_type="${VD_BUILD_TYPE:-Release}"

log() { echo "setup.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Debian packages needed to build, test and run the samples.
pkgs=(build-essential cmake pkg-config opencl-headers ocl-icd-opencl-dev pocl-opencl-icd
      clinfo libclblast-dev zlib1g-dev dataset-fashion-mnist
      libplplot-dev plplot-driver-cairo # verdant plot (PNG through the cairo driver)
      libpng-dev                        # verdant predict reading PNG images
      oclgrind                          # ctest -L oclgrind (docs/GPU.md)
      libopenmpi-dev openmpi-bin        # data-parallel training (docs/DISTRIBUTED.md)
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev # ONNX import/export (docs/ONNX.md)
      libonnx-testdata                  # the ONNX conformance node tests
      python3-venv                      # test_onnx_ort's ONNX Runtime environment (PyPI)
      python3-torch)                    # test_onnx_torch (PyTorch-exported models) and bench/
# clFFT is needed once the build looks for it.
if grep -rqs --include=CMakeLists.txt --include='*.cmake' -i 'clfft' "$root/CMakeLists.txt" \
    "$root/cmake" 2>/dev/null; then
    pkgs+=(libclfft-dev)
fi
# shellcheck disable=SC2206  # word splitting intended
[ -n "${VD_EXTRA_PKGS:-}" ] && pkgs+=(${VD_EXTRA_PKGS})

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *"install ok installed"* ]]
}

install_packages() {
    local missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "dpkg-query not found (not Debian?): skipping package installation"
        return 0
    fi
    for p in "${pkgs[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "all ${#pkgs[@]} Debian packages present"
        return 0
    fi
    log "installing missing Debian packages: ${missing[*]}"

    local -a as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "not root and sudo not found; install as root: apt-get install ${missing[*]}"
        if [ -t 0 ]; then
            as_root=(sudo)
        else
            as_root=(sudo -n) # no stdin: never wait for a password
        fi
    fi
    local -a apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get
                  -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef
                  -o Dpkg::Options::=--force-confold)
    "${apt[@]}" update -q </dev/null || die "apt-get update failed"
    "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
        die "apt-get install failed: ${missing[*]}"
    for p in "${missing[@]}"; do
        is_installed "$p" || die "package $p is still not installed"
    done
}

configure_and_build() {
    command -v cmake >/dev/null 2>&1 || die "cmake not found"
    # A build/ copied from another checkout points at that checkout's sources: start over.
    if [ -f "$build/CMakeCache.txt" ]; then
        local home
        home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")"
        if [ -n "$home" ] && [ "$(cd "$home" 2>/dev/null && pwd -P)" != "$(cd "$root" && pwd -P)" ]; then
            log "$build was configured for $home; reconfiguring from scratch"
            rm -rf "$build"
        fi
    fi
    local jobs
    jobs="$(nproc 2>/dev/null || echo 2)"
    log "configuring $build ($build_type)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$build_type" "$@"
    log "building with $jobs jobs"
    cmake --build "$build" -j"$jobs"
}

if [ "${VD_SKIP_APT:-0}" != 1 ]; then
    install_packages
fi
configure_and_build "$@"
log "done: $build"

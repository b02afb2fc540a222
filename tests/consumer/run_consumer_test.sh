#!/usr/bin/env bash
# run_consumer_test.sh - install a Verdant build into a temporary prefix and use it from an
# outside project, the way a user would:
#   1. cmake --install <build> --prefix <tmp>
#   2. find_package(Verdant): configure, build and run tests/consumer against the shared
#      (Verdant::verdant) and the static (Verdant::verdant_static) library
#   3. pkg-config: compile tests/consumer/main.c with `pkg-config --cflags --libs verdant`
#      (shared) and `pkg-config --static --libs verdant` (static libverdant.a), and run both
# Usage: run_consumer_test.sh BUILD_DIR [CMAKE] [CC] [CONFIG]
# Exits 0 and prints "1 passed, 0 failed" on success; non-zero and "0 passed, 1 failed"
# otherwise. Needs no OpenCL device.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: run_consumer_test.sh BUILD_DIR [CMAKE] [CC] [CONFIG]}"
cmake_bin="${2:-cmake}"
cc="${3:-cc}"
config="${4:-}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdant-consumer.XXXXXX")" || exit 1
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# Run a command, showing it; on failure show its output and fail with the step name.
step() {
    local name="$1"
    shift
    echo "+ $*"
    if ! "$@" >"$tmp/step.log" 2>&1; then
        cat "$tmp/step.log" >&2
        fail "$name"
    fi
    cat "$tmp/step.log"
}

prefix="$tmp/prefix"
config_args=()
[ -n "$config" ] && config_args=(--config "$config")

# 1. install
step "install into $prefix" "$cmake_bin" --install "$build" --prefix "$prefix" "${config_args[@]}"
[ -f "$prefix/include/verdant.h" ] || fail "include/verdant.h not installed"
pc="$(find "$prefix" -name verdant.pc -path '*/pkgconfig/*' | head -n 1)"
[ -n "$pc" ] || fail "verdant.pc not installed"
cfg="$(find "$prefix" -name VerdantConfig.cmake | head -n 1)"
[ -n "$cfg" ] || fail "VerdantConfig.cmake not installed"
[ -f "$(dirname "$cfg")/VerdantConfigVersion.cmake" ] || fail "VerdantConfigVersion.cmake not installed"
libdir="$(dirname "$(dirname "$pc")")"
[ -e "$libdir/libverdant.so" ] || fail "libverdant.so not installed in $libdir"
[ -f "$libdir/libverdant.a" ] || fail "libverdant.a not installed in $libdir"

# 2. find_package(Verdant)
step "configure consumer with find_package(Verdant)" \
    "$cmake_bin" -S "$here" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
step "build consumer" "$cmake_bin" --build "$tmp/build"
step "run consumer (Verdant::verdant)" "$tmp/build/consumer"
step "run consumer_static (Verdant::verdant_static)" "$tmp/build/consumer_static"
if command -v ldd >/dev/null 2>&1; then
    # Capture first: `ldd | grep -q` under pipefail fails when grep exits early (SIGPIPE).
    deps_shared="$(ldd "$tmp/build/consumer")"
    deps_static="$(ldd "$tmp/build/consumer_static")"
    grep -q 'libverdant\.so' <<<"$deps_shared" ||
        fail "consumer is not linked to libverdant.so"
    if grep -q 'libverdant\.so' <<<"$deps_static"; then
        fail "consumer_static depends on libverdant.so"
    fi
fi

# 3. pkg-config
command -v pkg-config >/dev/null 2>&1 || fail "pkg-config not found"
PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
step "pkg-config --modversion verdant" pkg-config --modversion verdant
pc_version="$(pkg-config --modversion verdant)"
cflags="$(pkg-config --cflags verdant)" || fail "pkg-config --cflags verdant"
libs="$(pkg-config --libs verdant)" || fail "pkg-config --libs verdant"
slibs="$(pkg-config --static --libs verdant)" || fail "pkg-config --static --libs verdant"
echo "pkg-config: cflags '$cflags' libs '$libs' static '$slibs'"
# shellcheck disable=SC2086  # word splitting of the flags is intended
step "compile against pkg-config (shared)" \
    "$cc" -std=c11 -Wall -Werror "$here/main.c" -o "$tmp/consumer_pc" $cflags $libs
# -l:libverdant.a picks the archive while the dependencies stay shared (GNU ld).
# shellcheck disable=SC2086
step "compile against pkg-config (static)" \
    "$cc" -std=c11 -Wall -Werror "$here/main.c" -o "$tmp/consumer_pc_static" $cflags \
    ${slibs/-lverdant/-l:libverdant.a}
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    step "run pkg-config consumer (shared)" "$tmp/consumer_pc"
step "run pkg-config consumer (static)" "$tmp/consumer_pc_static"
out="$("$tmp/consumer_pc_static")" || fail "consumer_pc_static"
[ "$out" != "${out#"verdant $pc_version"}" ] ||
    fail "library version in '$out' differs from verdant.pc version $pc_version"

echo "1 passed, 0 failed"

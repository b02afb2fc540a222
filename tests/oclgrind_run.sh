#!/bin/sh
# oclgrind_run.sh TEST [ARGS...] - run a device test under Oclgrind (docs/GPU.md) with
# data-race, uninitialised-memory and API checks; fail on any Oclgrind report even when
# the test's own checks pass. Exits 77 (skipped) when oclgrind is not installed.
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
# Environment (tests/CMakeLists.txt sets them per test):
#   VD_OCLGRIND_LOCAL_MEM=BYTES  the simulated device's __local memory. Oclgrind's default,
#       32 KiB, is below what the CPU profile's own GEMM (cl/gemm.cl, 720 KiB of blocks)
#       needs, so Verdant takes CLBlast's GEMM there, as on any device that small; the
#       own-GEMM tests give 4 MiB (PoCL has 1.25 MiB, but Oclgrind counts 1474560 bytes for
#       the gemm kernel, twice its blocks).
#   VD_OCLGRIND_UNINIT=0  leave out --uninitialized (bounds, races and API checks stay): its
#       plugin is the slow one (about 5x), and it crashes inside Oclgrind 21.10 (a segfault
#       in Uninitialized::instructionExecuted) in the MLP's training step with the own GEMM
#       (docs/GPU.md, defect 4); test_dense with the own GEMM runs clean under it.
checks="--data-races --check-api"
[ "${VD_OCLGRIND_UNINIT:-1}" = 0 ] || checks="$checks --uninitialized"
[ -z "${VD_OCLGRIND_LOCAL_MEM:-}" ] || checks="$checks --local-mem-size $VD_OCLGRIND_LOCAL_MEM"
# No --build-options -cl-opt-disable: Verdant's own programs are built unoptimised anyway
# under the profile's oclgrind_compat (src/runtime/program.c: the freeze instruction), and
# CLBlast's kernels, built optimised, run 4-5 times fewer simulated instructions (LeNet-5's
# model step in the GPU profile: 79 s -> 13 s with every check on, 0 reports either way).
# shellcheck disable=SC2086 # $checks is a list of options
VD_TEST_SMALL=1 oclgrind $checks "$@" 2>"$err"
rc=$?
cat "$err" >&2
if grep -Eqi 'Invalid (read|write)|data race|Uninitiali[sz]ed|^Oclgrind.*error|error:' "$err"; then
    n=$(grep -Eci 'Invalid (read|write)|data race|Uninitiali[sz]ed|error' "$err")
    echo "oclgrind_run: $n Oclgrind report line(s) for $1 (stderr above)"
    exit 1
fi
exit $rc

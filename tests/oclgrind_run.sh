#!/bin/sh
# oclgrind_run.sh TEST [ARGS...] - run a device test under Oclgrind (docs/GPU.md) with
# data-race, uninitialised-memory and API checks; fail on any Oclgrind report even when
# the test's own checks pass. Exits 77 (skipped) when oclgrind is not installed.
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
# VD_OCLGRIND_OWN_GEMM=1: give the simulated device 4 MiB of __local memory so that the CPU
# profile's own GEMM (cl/gemm.cl, 720 KiB of blocks; Oclgrind's default is 32 KiB, below
# which Verdant takes CLBlast's GEMM, as on any device that small) runs, and leave out
# --uninitialized, whose plugin crashes inside Oclgrind 21.10 on that kernel (a segfault in
# Uninitialized::instructionExecuted; docs/GPU.md, defect 4). Bounds (invalid read/write),
# data races and API checks stay on. 4 MiB, not PoCL's 1.25 MiB: Oclgrind counts the
# __local arrays of all four GEMM kernels of the unoptimised program toward each one.
checks="--data-races --uninitialized --check-api"
if [ "${VD_OCLGRIND_OWN_GEMM:-0}" = 1 ]; then
    checks="--local-mem-size 4194304 --data-races --check-api"
fi
# shellcheck disable=SC2086 # $checks is a list of options
# No --build-options -cl-opt-disable: Verdant's own programs are built unoptimised anyway
# under the profile's oclgrind_compat (src/runtime/program.c: the freeze instruction), and
# CLBlast's kernels, built optimised, run 4-5 times fewer simulated instructions (LeNet-5's
# model step in the GPU profile: 79 s -> 13 s with every check on, 0 reports either way).
VD_TEST_SMALL=1 oclgrind $checks "$@" 2>"$err"
rc=$?
cat "$err" >&2
if grep -Eqi 'Invalid (read|write)|data race|Uninitiali[sz]ed|^Oclgrind.*error|error:' "$err"; then
    n=$(grep -Eci 'Invalid (read|write)|data race|Uninitiali[sz]ed|error' "$err")
    echo "oclgrind_run: $n Oclgrind report line(s) for $1 (stderr above)"
    exit 1
fi
exit $rc

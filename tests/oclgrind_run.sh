#!/bin/sh
# oclgrind_run.sh TEST [ARGS...] - run a device test under Oclgrind (docs/GPU.md) with
# data-race, uninitialised-memory and API checks; fail on any Oclgrind report even when
# the test's own checks pass. Exits 77 (skipped) when oclgrind is not installed.
command -v oclgrind >/dev/null 2>&1 || { echo "oclgrind not installed: skipped"; exit 77; }
err=$(mktemp) || exit 1
trap 'rm -f "$err" "$err.kept"' EXIT
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
#   VD_OCLGRIND_OPT_DISABLE=1  build every program unoptimised (--build-options
#       -cl-opt-disable), clFFT's and CLBlast's too: the FFT runs with --uninitialized need
#       it (optimised, Oclgrind's plugin misreads clFFT's code and crashes; docs/GPU.md).
# Suppressions: tests/oclgrind.supp names the reports that are not Verdant's (kernels that
# clFFT generates) and the one kind of report each may drop; every other report fails the
# test, and the number dropped is printed. Oclgrind's own limit of 1000 messages is lifted
# (--max-errors) so that dropped reports cannot hide others behind it.
checks="--data-races --check-api --max-errors 100000000"
[ "${VD_OCLGRIND_UNINIT:-1}" = 0 ] || checks="$checks --uninitialized"
[ -z "${VD_OCLGRIND_LOCAL_MEM:-}" ] || checks="$checks --local-mem-size $VD_OCLGRIND_LOCAL_MEM"
[ "${VD_OCLGRIND_OPT_DISABLE:-0}" = 0 ] || checks="$checks --build-options -cl-opt-disable"
# No --build-options -cl-opt-disable: Verdant's own programs are built unoptimised anyway
# under the profile's oclgrind_compat (src/runtime/program.c: the freeze instruction), and
# CLBlast's kernels, built optimised, run 4-5 times fewer simulated instructions (LeNet-5's
# model step in the GPU profile: 79 s -> 13 s with every check on, 0 reports either way).
# shellcheck disable=SC2086 # $checks is a list of options
VD_TEST_SMALL=1 oclgrind $checks "$@" 2>"$err"
rc=$?
# One report is a header line at column 0 ("Invalid read ...", "Read-write data race at
# global memory ...", "Uninitialized value written to local memory ...", "Work-group
# divergence detected ...", "Unsupported instruction ...") and the indented
# or blank lines after it. A report is dropped only when tests/oclgrind.supp has a line
# "KIND KERNEL" for its kernel with KIND one of:
#   global-race-same-group  a data race in global memory between two work-items of one
#                           work-group (both entities in the same Group(...))
#   uninit-local-write      "Uninitialized value written to local memory"
# Any other line with "error" (build errors, API errors, Oclgrind's own) always counts.
supp="$(dirname "$0")/oclgrind.supp"
awk -v supp="$supp" -v out="$err.kept" '
    BEGIN {
        while ((getline l < supp) > 0)
            if (l !~ /^[ \t]*(#|$)/) { split(l, f, /[ \t]+/); ok[f[1] " " f[2]] = 1 }
        printf "" > out
    }
    function flush() {
        if (hdr == "") return
        kind = ""
        if (hdr ~ /data race at global memory/ && g1 != "" && g1 == g2) kind = "global-race-same-group"
        else if (hdr ~ /^Uninitiali[sz]ed value written to local memory/) kind = "uninit-local-write"
        if (kind != "" && ((kind " " kern) in ok)) dropped[kind " " kern]++
        else { kept++; printf "%s", blk >> out }
        hdr = ""; blk = ""
    }
    /^[^ \t]/ { flush() }
    tolower($0) ~ /^[^ \t].*(invalid (read|write)|data race|uninitiali[sz]ed|divergence|undefined behavio|unsupported)/ {
        hdr = $0; kern = ""; g1 = ""; g2 = ""
    }
    {
        if (hdr != "") {
            blk = blk $0 "\n"
            if ($1 == "Kernel:") kern = $2
            if ($1 == "First" && $2 == "entity:") g1 = $NF
            if ($1 == "Second" && $2 == "entity:") g2 = $NF
            next
        }
        print >> out
        if (tolower($0) ~ /error/) other++
    }
    END {
        flush()
        for (k in dropped) printf "oclgrind_run: dropped %d report(s) %s (tests/oclgrind.supp)\n", dropped[k], k
        exit (kept + other > 0) ? 1 : 0
    }' "$err"
bad=$?
cat "$err.kept" >&2
rm -f "$err.kept"
if [ "$bad" != 0 ]; then
    echo "oclgrind_run: Oclgrind reports for $1 (stderr above)"
    exit 1
fi
exit $rc

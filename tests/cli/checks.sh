# checks.sh - the check helpers of the shell tests (sourced, not run): each call counts one
# passed or failed check in $pass / $fail and prints what failed with the output's tail.
# The caller sets $tmp (a scratch directory) first and ends with checks_summary.
pass=0
fail=0
# expect RC DESCRIPTION CMD...: run CMD (stdout to $tmp/out, stderr to $tmp/err); its exit
# status must be RC.
expect() {
    local want="$1" what="$2"
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $what: exit $rc, want $want"
        sed 's/^/  | /' "$tmp/out" "$tmp/err" | tail -20
    fi
}
# contains FILE TEXT DESCRIPTION: TEXT must be in FILE.
contains() {
    if grep -qF -- "$2" "$1"; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL $3: '$2' not in output"
        sed 's/^/  | /' "$1" | tail -20
    fi
}
# lacks FILE WORD DESCRIPTION: WORD (a whole word, any case) must not be in FILE.
lacks() {
    if ! grep -qiwF -- "$2" "$1"; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL $3: '$2' in output"
        sed 's/^/  | /' "$1" | tail -20
    fi
}
# checks_summary: print the counts; the status is 0 when nothing failed.
checks_summary() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
# checks_need_data_and_device VERDANT DATA_DIR: exit 77 (skip) when the Fashion-MNIST
# package is not in DATA_DIR or VERDANT finds no usable OpenCL device.
checks_need_data_and_device() {
    if [ ! -f "$2/t10k-images-idx3-ubyte.gz" ]; then
        echo "no Fashion-MNIST (install dataset-fashion-mnist)"
        echo "0 passed, 0 failed, 1 skipped"
        exit 77
    fi
    if ! "$1" devices >/dev/null 2>&1; then
        echo "no usable OpenCL device"
        echo "0 passed, 0 failed, 1 skipped"
        exit 77
    fi
}

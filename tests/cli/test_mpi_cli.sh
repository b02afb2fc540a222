#!/usr/bin/env bash
# test_mpi_cli.sh - `mpirun -np 2 verdant train` end to end (docs/DISTRIBUTED.md):
#  * 2 ranks x batch 4 train LeNet-5 8 SGD steps; the weights equal those of one process
#    with batch 8 to 1e-5 relative (and differ from a run with other batches: the
#    comparison is not vacuous), also with crop and flip augmentation; rank 0 alone
#    prints, logs and checkpoints;
#  * resume with 2 ranks from a 1-process checkpoint and with 1 from a 2-rank one, both
#    against one process resumed from the same checkpoint;
#  * a rank that fails (a missing data directory on rank 1 only; an injected device error
#    on rank 1 while training) stops both ranks with the message, within a timeout;
#  * mismatched model files or command lines across the ranks are refused at start.
# Usage: test_mpi_cli.sh VERDANT CKPT_CMP MPIEXEC MODELS_DIR
# Exits 77 (skip) when the Fashion-MNIST package or an OpenCL device is missing.
set -u
V="$1"
CMP="$2"
MPIEXEC="$3"
M="$4"
data=/usr/share/datasets/fashion-mnist
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

checks_need_data_and_device "$V" "$data"
# As root, on a machine with fewer cores than ranks (Open MPI refuses both by default).
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { timeout 240 "$MPIEXEC" --oversubscribe --allow-run-as-root "$@"; }
# expect_fail DESCRIPTION CMD...: CMD must fail, but not by the timeout (124: a hang).
expect_fail() {
    local what="$1"
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL $what: exit $rc, want a failure (124 is the timeout: a hang)"
        sed 's/^/  | /' "$tmp/out" "$tmp/err" | tail -20
    fi
}
# count FILE TEXT N DESCRIPTION: TEXT is on exactly N lines of FILE.
count() {
    local n
    n=$(grep -cF -- "$2" "$1")
    if [ "$n" -eq "$3" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL $4: '$2' on $n lines, want $3"
        sed 's/^/  | /' "$1" | tail -20
    fi
}
cmp_ok() { # cmp_ok A B DESCRIPTION: weights agree to 1e-5 relative
    expect 0 "$3" "$CMP" "$1" "$2" 1e-5
    echo "$3: $(cat "$tmp/out")"
}

run=(--data "$data" --limit 64 --optimizer sgd --lr 0.01 --momentum 0.9 --seed 5)
L="$M/lenet5.cfg"

# Agreement: 2 ranks x 4 against one process x 8, the same 8 steps.
expect 0 "np 2 train" mpi -np 2 "$V" train "$L" "${run[@]}" --epochs 1 --batch 8 \
    --checkpoint "$tmp/np2.ckpt" --log "$tmp/np2.jsonl"
cp "$tmp/out" "$tmp/np2.out"
contains "$tmp/np2.out" "batch 8 (global: 2 ranks x 4)" "np 2 prints the global and per-rank batch"
contains "$tmp/np2.out" "rank 1: local rank 1 of 2" "np 2 lists rank 1's device"
contains "$tmp/np2.out" "in gradient communication" "np 2 prints the communication share"
count "$tmp/np2.out" "epoch 1/1" 1 "rank 0 alone prints the epoch"
count "$tmp/np2.jsonl" '"epoch": 1' 1 "rank 0 alone writes the log"
contains "$tmp/np2.jsonl" '"ranks": 2' "the log says 2 ranks"
expect 0 "1 process x 8" "$V" train "$L" "${run[@]}" --epochs 1 --batch 8 --checkpoint "$tmp/np1.ckpt"
cmp_ok "$tmp/np2.ckpt" "$tmp/np1.ckpt" "2 ranks x 4 vs 1 process x 8"
expect 0 "1 process x 4" "$V" train "$L" "${run[@]}" --epochs 1 --batch 4 --checkpoint "$tmp/b4.ckpt"
expect 1 "other batches give other weights (the comparison can fail)" "$CMP" "$tmp/np2.ckpt" \
    "$tmp/b4.ckpt" 1e-3
# Augmentation is drawn by the position in the global order: the same crops and flips.
aug=(--crop-pad 2 --flip --epochs 1 --batch 8)
expect 0 "np 2 augmented" mpi -np 2 "$V" train "$L" "${run[@]}" "${aug[@]}" --checkpoint "$tmp/a2.ckpt"
expect 0 "1 process augmented" "$V" train "$L" "${run[@]}" "${aug[@]}" --checkpoint "$tmp/a1.ckpt"
cmp_ok "$tmp/a2.ckpt" "$tmp/a1.ckpt" "augmented: 2 ranks x 4 vs 1 process x 8"
ls "$tmp"/np2.ckpt.tmp.* >/dev/null 2>&1 && { fail=$((fail + 1)); echo "FAIL temporary checkpoint left"; } || pass=$((pass + 1))

# Resume with any rank count: the checkpoint holds the global batch (8) and the state.
expect 0 "resume 1 process from 1" "$V" train --resume "$tmp/np1.ckpt" "${run[@]}" --epochs 2 \
    --checkpoint "$tmp/r11.ckpt"
expect 0 "resume 2 ranks from 1" mpi -np 2 "$V" train --resume "$tmp/np1.ckpt" "${run[@]}" \
    --epochs 2 --checkpoint "$tmp/r21.ckpt"
contains "$tmp/out" "resumed from $tmp/np1.ckpt after epoch 1" "np 2 resume prints the epoch"
contains "$tmp/out" "(global: 2 ranks x 4)" "np 2 resume splits the checkpoint's batch 8"
contains "$tmp/out" "epoch 2/2" "np 2 resume trains epoch 2"
cmp_ok "$tmp/r21.ckpt" "$tmp/r11.ckpt" "resumed: 2 ranks from 1 vs 1 from 1"
expect 0 "resume 1 process from 2" "$V" train --resume "$tmp/np2.ckpt" "${run[@]}" --epochs 2 \
    --checkpoint "$tmp/r12.ckpt"
contains "$tmp/out" "batch 8" "1-process resume keeps the global batch 8"
cmp_ok "$tmp/r12.ckpt" "$tmp/r11.ckpt" "resumed: 1 from 2 ranks vs 1 from 1"
expect 2 "np 2 with an odd batch" mpi -np 2 "$V" train "$L" "${run[@]}" --batch 7
contains "$tmp/err" "--batch 7 (global) does not divide by the 2 ranks" "odd batch message"

# A rank that fails stops both, with its message (the timeout catches a hang).
expect_fail "missing data on rank 1" mpi -np 1 "$V" train "$L" "${run[@]}" --batch 8 : \
    -np 1 "$V" train "$L" "${run[@]}" --batch 8 --data "$tmp/nodata"
contains "$tmp/err" "verdant train: rank 1:" "the failed rank is named"
contains "$tmp/err" "$tmp/nodata" "the failed rank's message names the directory"
# An OpenCL error injected into rank 1's 200th kernel launch: set-up takes fewer, so it
# strikes while training, after rank 0 has entered the collective steps.
expect_fail "device error on rank 1 while training" mpi -np 1 "$V" train "$L" "${run[@]}" \
    --batch 8 --epochs 3 --checkpoint "$tmp/fault.ckpt" : \
    -np 1 env VERDANT_FAULT_INJECT=200:-5:clEnqueueNDRangeKernel "$V" train "$L" "${run[@]}" \
    --batch 8 --epochs 3 --checkpoint "$tmp/fault.ckpt"
cat "$tmp/out" "$tmp/err" >"$tmp/fault.all"
contains "$tmp/fault.all" "verdant train: rank 1:" "the device error names rank 1"
contains "$tmp/fault.all" "clEnqueueNDRangeKernel" "the device error's message"
contains "$tmp/fault.all" "CL_OUT_OF_RESOURCES" "the device error's code"
lacks "$tmp/fault.all" "3/3" "the job stopped before the last epoch"

# Mismatches found at start.
sed 's/^filters = 6$/filters = 8/' "$L" >"$tmp/lenet8.cfg"
cmp -s "$L" "$tmp/lenet8.cfg" && { echo "FAIL $L has no 'filters = 6' line to change"; exit 1; }
expect_fail "mismatched model files" mpi -np 1 "$V" train "$L" "${run[@]}" --batch 8 : \
    -np 1 "$V" train "$tmp/lenet8.cfg" "${run[@]}" --batch 8
contains "$tmp/err" "the ranks' models differ" "mismatched models message"
# Whatever lr the sample's recipe holds, rank 1's file holds another (and must differ).
sed 's/^lr = .*/lr = 0.0123/' "$L" >"$tmp/lenet_lr.cfg"
cmp -s "$L" "$tmp/lenet_lr.cfg" && { echo "FAIL $L has no 'lr = ' line to change"; exit 1; }
expect_fail "model files with another recipe" mpi -np 1 "$V" train "$L" --data "$data" \
    --limit 64 --batch 8 : -np 1 "$V" train "$tmp/lenet_lr.cfg" --data "$data" --limit 64 --batch 8
contains "$tmp/err" "the ranks' models differ" "another recipe is another model"
expect_fail "mismatched command lines" mpi -np 1 "$V" train "$L" "${run[@]}" --batch 8 --epochs 1 : \
    -np 1 "$V" train "$L" "${run[@]}" --batch 8 --epochs 2
contains "$tmp/err" "the ranks disagree on --epochs (1 on some, 2 on others)" \
    "mismatched command lines message"
expect_fail "mismatched data" mpi -np 1 "$V" train "$L" "${run[@]}" --batch 8 : \
    -np 1 "$V" train "$L" "${run[@]}" --batch 8 --limit 128
contains "$tmp/err" "the ranks disagree on the training images" "mismatched data message"
checks_summary

#!/usr/bin/env bash
# run.sh - set up and build Verdant (scripts/setup.sh), then train LeNet-5
# (samples/models/lenet5.cfg) on Fashion-MNIST with `verdant train` on the best device: the
# library picks the best GPU, else the CPU through PoCL. About 90% test accuracy after the
# 8 epochs of the recipe in the model file's [net] section (Adam, warm-up, cosine schedule); the progress bar and a per-epoch summary show as it goes.
# Choose a device with VERDANT_DEVICE=gpu|cpu|P:D|<name substring>
# (list them with build/src/cli/verdant devices).
#
# Usage: scripts/run.sh [verdant train options...]   e.g. scripts/run.sh --epochs 1
# Defaults: the recipe in lenet5.cfg, --checkpoint build/lenet5.ckpt (resume it with
# build/src/cli/verdant train --resume build/lenet5.ckpt --epochs 12). Any option given
# overrides the recipe's key of the same name.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_BUILD_DIR:-$root/build}"

bash "$root/scripts/setup.sh"

verdant="$build/src/cli/verdant"
[ -x "$verdant" ] || {
    echo "run.sh: error: $verdant was not built" >&2
    exit 1
}
cmd=("$verdant" train "$root/samples/models/lenet5.cfg"
    --checkpoint "$build/lenet5.ckpt" "$@")
echo "run.sh: ${cmd[*]}" >&2
exec "${cmd[@]}"

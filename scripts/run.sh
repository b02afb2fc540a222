#!/usr/bin/env bash
# run.sh - set up and build Verdant (scripts/setup.sh), then train the Fashion-MNIST MLP
# sample on the best device: the library picks the best GPU, else the CPU through PoCL.
# Choose a device with VERDANT_DEVICE=gpu|cpu|P:D|<name substring>
# (list them with build/src/cli/verdant devices).
#
# Usage: scripts/run.sh [sample options...]   e.g. scripts/run.sh --epochs 5
# Every argument goes to build/samples/fashion_mnist_mlp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_BUILD_DIR:-$root/build}"

bash "$root/scripts/setup.sh"

sample="$build/samples/fashion_mnist_mlp"
[ -x "$sample" ] || {
    echo "run.sh: error: $sample was not built" >&2
    exit 1
}
echo "run.sh: $sample $*" >&2
exec "$sample" "$@"

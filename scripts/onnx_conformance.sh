#!/usr/bin/env bash
# onnx_conformance.sh - the ONNX backend node tests (Debian's libonnx-testdata) through
# Verdant's importer and inference (docs/ONNX.md, "Import"). Prints one line per node test,
#     PASS test_relu (batch)
#     FAIL test_softmax_default_axis: <why, from the importer>
#     SKIP test_abs: op Abs is not on the import list
# and a closing "N passed, N failed, N skipped". Tests whose operators are all on the import
# list run (input_0 is the data input; input_1.. are bound as constants) and must match
# output_0 within 1e-4 relative plus 1e-5 absolute. Exits 1 when fewer than 90% (or
# --min-pass P) of those pass, 77 without an OpenCL device or the test data.
#
# Usage: scripts/onnx_conformance.sh [--min-pass P] [--data DIR] [name-substring...]
# Environment: VD_BUILD_DIR (default <repo>/build), built with the tests (ctest target
# test_onnx_conformance).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VD_BUILD_DIR:-$root/build}"
bin="$build/tests/test_onnx_conformance"
if [ ! -x "$bin" ]; then
    echo "onnx_conformance.sh: $bin not built (cmake --build $build --target test_onnx_conformance)" >&2
    exit 1
fi
export VERDANT_CACHE_DIR="${VERDANT_CACHE_DIR:-$build/kernel-cache}"
exec "$bin" "$@"

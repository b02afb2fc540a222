/* fuzz_onnx.c - libFuzzer harness for the ONNX importer (src/onnx/onnx_import.c): the
 * protobuf-c parse of the model, tensor decoding, the graph walk with constant folding,
 * every operator's attribute checks and the mapping onto layers, up to shape inference in
 * vd_net_build (device-less context: the first device allocation fails cleanly). Input:
 * one flag byte (bit 0: whole-tensor mode; bits 1-2: batch dimensions 1 to 3), then the
 * .onnx bytes. Seeds: node-test models of libonnx-testdata (corpus/fuzz_onnx). The weights
 * and outputs on a real device are covered by test_onnx_import and test_onnx_conformance. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "net/net.h"
#include "onnx/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    vd_onnx_options o;
    vd_onnx_options_init(&o);
    o.whole_tensor = data[0] & 1;
    o.batch_dims = 1 + ((data[0] >> 1) & 3);
    o.max_batch = 2;
    vd_net *net = NULL;
    vd_context *ctx = fuzz_context();
    vd_status st = vd_onnx_import_mem(ctx, data + 1, size - 1, "fuzz.onnx", &o, &net);
    /* No device: a net can never come back built. */
    if (st == VD_OK || net) abort();
    if (!vd_last_error(ctx)[0]) abort(); /* every failure has a message */
    return 0;
}

/* onnx_import.h - the ONNX importer's internal entry points (src/onnx/onnx_import.c), for
 * the public vd_net_load_onnx, the conformance runner (tests/test_onnx_conformance.c) and
 * the fuzz harness (tests/fuzz/fuzz_onnx.c). */
#ifndef VD_ONNX_IMPORT_H
#define VD_ONNX_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdant.h>

/* ONNX files larger than this are refused before anything is read or allocated. */
#define VD_ONNX_MAX_BYTES ((size_t)1 << 30)
#define VD_ONNX_MAX_RANK 8

/* A constant supplied from outside the model for one of its graph inputs (the conformance
 * runner binds a node test's second and later inputs, e.g. a Conv's W, this way: Verdant
 * nets take one data input and hold weights as parameters). */
typedef struct vd_onnx_bind {
    const char *name;
    int32_t ndim;
    int64_t dims[VD_ONNX_MAX_RANK];
    const float *data; /* product of dims floats */
    bool is_int;       /* the values are integers (a Reshape's shape): kept as int64 too */
} vd_onnx_bind;

typedef struct vd_onnx_options {
    /* false (default): dimension 0 of the data input is the batch, the rest is one sample
     * (the layout of every model a framework exports). true: the whole input tensor is one
     * sample (rank 1 to 3) and the net runs on batches of 1: how single-operator tensors
     * such as (3, 4, 5) with an axis-0 Softmax map onto Verdant. */
    bool whole_tensor;
    /* > 1: the first batch_dims dimensions together are the batch (a (3, 4, 5) tensor as
     * 12 samples of 5, so a last-axis Softmax maps onto Verdant's); 0 or 1: dimension 0.
     * Ignored with whole_tensor. Layers that need NCHW (Conv, pooling, Gemm, BatchNorm)
     * and Reshape/Flatten then refuse. */
    int32_t batch_dims;
    int32_t max_batch;            /* vd_net_build's; <= 0: 64, or the model's fixed batch */
    const vd_onnx_bind *binds;    /* may be NULL */
    size_t n_binds;
    int32_t input_ndim;           /* > 0: the actual input shape (overrides symbolic dims) */
    int64_t input_dims[VD_ONNX_MAX_RANK];
} vd_onnx_options;

void vd_onnx_options_init(vd_onnx_options *o);

/* Import a model from memory (src names it in messages) and build it. With a device-less
 * context everything up to the device allocations of vd_net_build runs (fuzzing). */
vd_status vd_onnx_import_mem(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             const vd_onnx_options *opt, vd_net **out);

/* Read a whole file of at most VD_ONNX_MAX_BYTES (checked before allocating). */
vd_status vd_onnx_read_file(vd_context *ctx, const char *path, uint8_t **data, size_t *len);

/* Decode a serialized TensorProto (a node test's input_N.pb / output_N.pb) to floats:
 * *data is malloc'ed (numel floats), dims[0..*ndim). Float, double, int32 and int64
 * tensors (*is_int, may be NULL, says which); others are VD_ERR_UNSUPPORTED naming the
 * data type. *name (may be NULL)
 * receives a malloc'ed copy of the tensor's name. */
vd_status vd_onnx_tensor_decode(vd_context *ctx, const uint8_t *buf, size_t len, const char *src,
                                float **data, int32_t *ndim, int64_t dims[VD_ONNX_MAX_RANK],
                                bool *is_int, char **name);

/* The op types of a model's main graph, for the runner's op filter: calls fn once per node
 * (domain "" or "ai.onnx" gives the bare op type, others "domain:op"). Also the names of
 * its data inputs (graph inputs that are not initializers), in order. */
typedef void (*vd_onnx_op_fn)(void *user, const char *op);
vd_status vd_onnx_model_info(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             vd_onnx_op_fn fn, void *user, char ***inputs, size_t *n_inputs,
                             size_t *n_outputs);

#endif /* VD_ONNX_IMPORT_H */

/* conv_algo.h - the convolution algorithms behind conv2d/deconv2d, one table entry each.
 *
 * Every algorithm implements some of the three passes of a convolution (geometry
 * vd_conv_geom, NCHW float32, weights (K, C/groups, R, S)):
 *   VD_CONV_FWD:         y  = beta * y  + conv(x, w)          y: (n, K, P, Q)
 *   VD_CONV_BWD_DATA:    dx = beta * dx + conv^T(dy, w)       dx: (n, C, H, W)
 *   VD_CONV_BWD_FILTER:  dw = dw + sum over images corr(x, dy)   (always accumulates)
 * With beta == 0 the output is not read (NaNs in it do not propagate). No bias: the
 * layer adds it (vd_op_bias_nchw_fwd/bwd, or with a fused ReLU vd_op_bias_relu_nchw_fwd /
 * vd_op_relu_bias_nchw_bwd), except that an algorithm marked `epilogue` applies the
 * forward's bias and ReLU in its own output store when io asks for them:
 *   VD_CONV_FWD with epilogue: y = act(beta * y + conv(x, w) + b)
 *
 * An algorithm says which passes and geometries it handles (applies), how much scratch
 * it needs for a chunk of n images (workspace, in floats), and runs one pass over a
 * chunk of n images (run). The caller (src/layers/conv.c) cuts a batch into chunks whose
 * workspace fits its cap, offsets the tensors per chunk, and for BWD_FILTER lets the
 * chunks accumulate into dw. Scratch contents are undefined between calls.
 *
 * The choice of algorithm per (device, geometry, pass, chunk size) is made by
 * measurement on first use and stored in the tuning cache (src/ops/conv_select.c), or
 * forced with VERDANT_CONV_ALGO=name, or taken from vd_conv_algo_heuristic when
 * VERDANT_TUNE=off. Every algorithm is tested against tests/ref/conv_ref.c. */
#ifndef VD_OPS_CONV_ALGO_H
#define VD_OPS_CONV_ALGO_H

#include "ops_cnn.h"

typedef enum vd_conv_pass {
    VD_CONV_FWD = 0,
    VD_CONV_BWD_DATA = 1,
    VD_CONV_BWD_FILTER = 2,
    VD_CONV_N_PASSES = 3
} vd_conv_pass;
/* "fwd", "bwd_data" or "bwd_filter": the pass's name in tuning keys, logs and benches. */
const char *vd_conv_pass_name(vd_conv_pass pass);

/* Buffers of one pass over a chunk; (mem, element offset) pairs. Unused ones are NULL:
 *   FWD:        x (in), w (in), y (out, beta); b (K) and relu: the epilogue, honoured
 *               only by algorithms with .epilogue (others ignore them)
 *   BWD_DATA:   dy (in), w (in), dx (out, beta)
 *   BWD_FILTER: x (in), dy (in), dw (out, accumulated)
 * ws: scratch of at least workspace(g, pass, n) floats at ws_off. */
typedef struct vd_conv_io {
    cl_mem x, w, y, dy, dx, dw, ws;
    size_t x_off, w_off, y_off, dy_off, dx_off, dw_off, ws_off;
    float beta;
    cl_mem b;     /* bias (K) for the forward epilogue, or NULL */
    size_t b_off; /* not moved per chunk */
    bool relu;    /* ReLU in the forward epilogue */
    /* ws already holds what this algorithm derived from w (Winograd: the transformed
     * weights) in an earlier run of this pass over a chunk of the same size, with the same
     * weights, and nothing has written ws since: an algorithm may skip deriving it again.
     * Set by the layer's cache (src/layers/conv.c) and for the later full chunks of a pass
     * (vd_conv_run_chunks); algorithms that keep nothing in ws ignore it. */
    bool w_ready;
} vd_conv_io;

typedef struct vd_conv_algo {
    const char *name; /* "im2col", "direct", "winograd2", "winograd4", "fft", ... */
    /* Whether this algorithm runs the pass for this geometry on this device. */
    bool (*applies)(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass);
    /* Scratch floats for a chunk of n images (0: none). */
    size_t (*workspace)(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n);
    /* Enqueue the pass over n images. Non-blocking; errors name the kernel and raw code. */
    vd_status (*run)(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                     const vd_conv_io *io);
    /* true: the FWD pass applies io->b and io->relu in its output store (one pass fewer
     * over y for conv2d with a bias or relu = 1). */
    bool epilogue;
} vd_conv_algo;

/* The algorithms, in a fixed order (index = the id stored in tuning entries and shown by
 * verdant bench); NULL-name terminated. Entry 0 is im2col, which applies to everything. */
extern const vd_conv_algo *const vd_conv_algos[];
/* Index of the algorithm called name, or -1. */
int vd_conv_algo_find(const char *name);

/* Algorithm entries, one per source file (src/ops/conv_<name>.c). */
extern const vd_conv_algo vd_conv_algo_im2col;
extern const vd_conv_algo vd_conv_algo_implicit;
extern const vd_conv_algo vd_conv_algo_direct;
extern const vd_conv_algo vd_conv_algo_winograd2;
extern const vd_conv_algo vd_conv_algo_winograd4;
extern const vd_conv_algo vd_conv_algo_fft;

#endif /* VD_OPS_CONV_ALGO_H */

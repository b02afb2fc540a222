/* ops_cnn.h - kernel launchers for the convolutional-network layer families: convolution
 * (cl/conv.cl + CLBlast), pooling (cl/pool.cl) and normalisation/softmax (cl/norm.cl).
 * Same conventions as ops.h: (cl_mem, element offset) pairs, NCHW float32, non-blocking,
 * vd_status with the kernel name and raw OpenCL code on failure. Backward launchers take
 * beta for dx (dx = beta * dx + dL/dx; with beta == 0 dx is not read) and always
 * accumulate parameter gradients. All reductions run in a fixed order (no atomics), so
 * results are bit-reproducible on one device.
 *
 * Included only by src/ops/{conv,pool,norm}_ops.c, src/layers/{conv,pool,norm}.c and
 * their tests; the math of each kernel is documented at the top of its .cl file. */
#ifndef VD_OPS_CNN_H
#define VD_OPS_CNN_H

#include "ops.h"

/* Local size of the work-group reductions in conv.cl and norm.cl: the largest power of
 * two <= min(64, device maximum). Fixed per device, so reduction order is too. */
size_t vd_cnn_reduce_local(const vd_context *ctx);

/* ------------------------------------------------------------------ convolution */

/* One image's convolution geometry. Output pixel (p, q) with tap (r, s) reads input
 * (p*stride_h - pad_h + r*dil_h, q*stride_w - pad_w + s*dil_w); outside reads 0.
 * Weights are (K, C/groups, R, S); output channel k belongs to group k / (K/groups) and
 * sees input channels of that group only. P and Q are given, not derived, so that a
 * transposed convolution can use the same geometry with its own output size. */
typedef struct vd_conv_geom {
    int32_t C, H, W; /* input (C, H, W) */
    int32_t K, P, Q; /* output (K, P, Q) */
    int32_t R, S;    /* kernel */
    int32_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int32_t groups;
} vd_conv_geom;

/* (in + 2*pad - dil*(k-1) - 1) / stride + 1, or <= 0 when the kernel does not fit. */
int32_t vd_conv_out_size(int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t dil);
/* The convolution passes themselves are algorithms (conv_algo.h); im2col is
 * vd_conv_algo_im2col (conv_ops.c), the choice between them conv_select.h. */
/* y: (n, C, HW): y[i][c][j] += b[c]. */
vd_status vd_op_bias_nchw_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem b, size_t bo,
                              cl_mem y, size_t yo);
/* db[c] += sum over i, j of dy[i][c][j] (fixed-order work-group reduction). */
vd_status vd_op_bias_nchw_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem dy, size_t dyo,
                              cl_mem db, size_t dbo);
/* The epilogue of a convolution with a fused ReLU (conv2d/deconv2d relu=1), one pass:
 * y[i][c][j] = max(y[i][c][j] + b[c], 0); b may be NULL (no bias). y: (n, C, HW). */
vd_status vd_op_bias_relu_nchw_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem b,
                                   size_t bo, cl_mem y, size_t yo);
/* Its backward, one pass: dy = (y > 0 ? dy : 0) in place, and db[c] += the sum over i, j of
 * the masked dy when db is not NULL, in a fixed order (on GPUs vd_op_bias_nchw_bwd's, so db
 * is bit-identical to a separate ReLU followed by it; on CPUs plane by plane, see
 * cl/conv.cl). y, dy: (n, C, HW). */
vd_status vd_op_relu_bias_nchw_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem y,
                                   size_t yo, cl_mem dy, size_t dyo, cl_mem db, size_t dbo);

/* ------------------------------------------------------------------ pooling */

/* Window (p, q) covers input rows p*sh - ph + r*dh for r in [0, kh) (and likewise
 * columns): ph/pw are the top/left padding, pb/pr the bottom/right padding (they only
 * bound the padded input [-ph, H + pb) that count_include_pad averages over and the
 * output size), dh/dw the dilation (0 reads as 1, so that positional initialisers written
 * before it existed keep their meaning). excl (avgpool): 0 divides by the taps inside
 * the padded input (PyTorch's and ONNX's count_include_pad=1), 1 by the taps inside the
 * input (count_include_pad=0). Input (C, H, W), output (C, P, Q) per image. */
typedef struct vd_pool_geom {
    int32_t C, H, W, P, Q;
    int32_t kh, kw, sh, sw, ph, pw;
    int32_t pb, pr, dh, dw, excl;
} vd_pool_geom;

/* PyTorch's rule: floor or ceil of (in + 2*pad - k) / stride, plus 1; in ceil mode the
 * last window must start inside the input or the left padding, else it is dropped.
 * <= 0 when the window does not fit. vd_pool_out_size2 is the same with the padding
 * before (pad0) and after (pad1) the input and a window extent (k - 1) * dilation + 1. */
int32_t vd_pool_out_size(int32_t in, int32_t k, int32_t stride, int32_t pad, bool ceil_mode);
int32_t vd_pool_out_size2(int32_t in, int32_t extent, int32_t stride, int32_t pad0, int32_t pad1,
                          bool ceil_mode);

/* y = max over each window (padding never wins: it is -inf, as in PyTorch); idx (int32,
 * same shape as y) receives the winner's position h*W + w in its input plane, first
 * maximum in row-major window order; idx NULL: no positions (inference). x: (n, C, H, W),
 * y, idx: (n, C, P, Q). */
vd_status vd_op_maxpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo, cl_mem idx, size_t idxo);
/* y = the positions in idx (from vd_op_maxpool_fwd, same shape) as indices into the
 * flattened (n, C, H, W) input, as float: (image * C + c) * H * W + idx (ONNX MaxPool's
 * Indices with storage_order 0), or with colmajor w * H + h in place of the in-plane
 * position h * W + w (storage_order 1); exact while below 2^24. y: (n, C, P, Q). */
vd_status vd_op_maxpool_indices(vd_context *ctx, const vd_pool_geom *g, size_t n, bool colmajor,
                                cl_mem idx, size_t idxo, cl_mem y, size_t yo);
/* dx = beta * dx + dy routed to the positions in idx (gathered per input pixel). */
vd_status vd_op_maxpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem idx,
                            size_t idxo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo);
/* Average over the window's taps inside the input, divided by the taps inside the padded
 * input [-ph, H + pb) x [-pw, W + pr) (excl 0: padding counts as zeros but the part of a
 * ceil-mode window beyond the bottom/right padding does not) or inside the input (excl 1). */
vd_status vd_op_avgpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo);
vd_status vd_op_avgpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem dy, size_t dyo,
                            float beta, cl_mem dx, size_t dxo);
/* x: (n, C, HW) -> y: (n, C): the mean of each plane, summed in order. */
vd_status vd_op_globalavgpool_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem x,
                                  size_t xo, cl_mem y, size_t yo);
/* dx[i][c][j] = beta * dx[i][c][j] + dy[i][c] / HW. */
vd_status vd_op_globalavgpool_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem dy,
                                  size_t dyo, float beta, cl_mem dx, size_t dxo);

/* ------------------------------------------------------------------ normalisation */

/* Batch normalisation over x: (n, C, HW) (HW = 1 after a dense layer), statistics per
 * channel over n*HW values. `state` holds 6*C floats at so:
 *   [0, C) running mean   [C, 2C) running variance   [2C, 3C) mean used by the last forward
 *   [3C, 4C) 1/sqrt(var + eps) used by the last forward   [4C, 6C) backward scratch.
 * Training statistics: mean and biased variance of the batch (two passes); the running
 * statistics move by momentum (PyTorch convention: r = (1 - m) r + m batch, with the
 * unbiased variance). Needs n*HW >= 2. */
vd_status vd_op_batchnorm_stats(vd_context *ctx, size_t n, size_t C, size_t HW, float momentum,
                                float eps, cl_mem x, size_t xo, cl_mem state, size_t so);
/* Evaluation: the forward's mean and 1/std come from the running statistics. */
vd_status vd_op_batchnorm_eval_stats(vd_context *ctx, size_t C, float eps, cl_mem state, size_t so);
/* Inference: the weights w (K, per) and bias b (K; NULL: none) of a convolution followed
 * by this batch norm, with the norm folded in from the running statistics:
 * s = gamma / sqrt(running var + eps), out = [w[k][j] s[k] ..., (b[k] - running mean[k])
 * s[k] + beta[k] ...] (K * per + K floats). */
vd_status vd_op_batchnorm_fold(vd_context *ctx, size_t K, size_t per, float eps, cl_mem w,
                               size_t wo, cl_mem b, size_t bo, cl_mem state, size_t so,
                               cl_mem gamma, size_t go, cl_mem beta_p, size_t beo, cl_mem out,
                               size_t oo);
/* y = gamma * (x - mean) / std + beta with the stored mean and 1/std. gamma, beta: (C).
 * relu: y = max(0, that) (batch norm and ReLU fused: one pass over memory instead of two). */
vd_status vd_op_batchnorm_apply(vd_context *ctx, size_t n, size_t C, size_t HW, bool relu, cl_mem x,
                                size_t xo, cl_mem state, size_t so, cl_mem gamma, size_t go,
                                cl_mem beta_p, size_t bo, cl_mem y, size_t yo);
/* dgamma += sum dy * xhat, dbeta += sum dy (per channel, fixed order), and
 *   train:  dx = beta dx + gamma/std * (dy - mean(dy) - xhat * mean(dy * xhat))
 *   !train: dx = beta dx + gamma/std * dy   (statistics were constants)
 * dx may be NULL (skipped). relu: the forward had a fused ReLU; dy is first zeroed where its
 * output y <= 0 (y is read only then). */
vd_status vd_op_batchnorm_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, bool train, bool relu,
                              cl_mem x, size_t xo, cl_mem y, size_t yo, cl_mem dy, size_t dyo,
                              cl_mem state, size_t so, cl_mem gamma, size_t go, cl_mem dgamma,
                              size_t dgo, cl_mem dbeta, size_t dbo, float beta, cl_mem dx,
                              size_t dxo);

/* Layer normalisation over the D features of each of n samples (biased variance), with
 * elementwise gamma, beta: (D). stats: 2*n floats (mean, 1/std per sample), written by
 * the forward and read by the backward. */
vd_status vd_op_layernorm_fwd(vd_context *ctx, size_t n, size_t D, float eps, cl_mem x, size_t xo,
                              cl_mem gamma, size_t go, cl_mem beta_p, size_t bo, cl_mem y,
                              size_t yo, cl_mem stats, size_t sto);
/* dgamma[j] += sum_i dy xhat, dbeta[j] += sum_i dy (in sample order);
 * dx = beta dx + (1/std) (g - mean(g) - xhat mean(g xhat)), g = gamma * dy. dx may be
 * NULL (skipped). */
vd_status vd_op_layernorm_bwd(vd_context *ctx, size_t n, size_t D, cl_mem x, size_t xo, cl_mem dy,
                              size_t dyo, cl_mem stats, size_t sto, cl_mem gamma, size_t go,
                              cl_mem dgamma, size_t dgo, cl_mem dbeta, size_t dbo, float beta,
                              cl_mem dx, size_t dxo);

/* The statistics alone (layernorm output=mean|invstd): for each of the n rows of D values,
 * y[i] = mean (invstd false) or 1/sqrt(biased var + eps) (invstd true); stats (2n floats)
 * gets mean and 1/std as vd_op_layernorm_fwd writes them.  x: (n, D)  y: (n) */
vd_status vd_op_layernorm_stat_fwd(vd_context *ctx, size_t n, size_t D, float eps, bool invstd,
                                   cl_mem x, size_t xo, cl_mem y, size_t yo, cl_mem stats,
                                   size_t sto);
/* Its backward: dx = beta dx + dy_i / D (mean) or - dy_i inv^3 (x - mean) / D (invstd).
 * x, dx: (n, D)  dy: (n) */
vd_status vd_op_layernorm_stat_bwd(vd_context *ctx, size_t n, size_t D, bool invstd, cl_mem x,
                                   size_t xo, cl_mem dy, size_t dyo, cl_mem stats, size_t sto,
                                   float beta, cl_mem dx, size_t dxo);

/* Softmax over dimension 1 of x: (n, C, inner): for each (i, j),
 * y[i][:][j] = exp(x - max) / sum exp(x - max). */
vd_status vd_op_softmax_fwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem x, size_t xo,
                            cl_mem y, size_t yo);
/* dx = beta dx + y * (dy - sum_c y dy). */
vd_status vd_op_softmax_bwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem y, size_t yo,
                            cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo);
/* Log-softmax over the same dimension: y = x - max - log sum exp(x - max); its backward
 * dx = beta dx + dy - exp(y) * sum_c dy. */
vd_status vd_op_logsoftmax_fwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem x,
                               size_t xo, cl_mem y, size_t yo);
vd_status vd_op_logsoftmax_bwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem y,
                               size_t yo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo);

#endif /* VD_OPS_CNN_H */

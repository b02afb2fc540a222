/* ref_cnn.h - plain C references for the convolutional-network families (conv_ref.c,
 * pool_ref.c, norm_ref.c), used only by the tests. Direct loops with double accumulators,
 * written to be obviously correct rather than fast, and deliberately not in the kernels'
 * formulation (convolutions scatter where the kernels gather, max-pool backward finds
 * its own maxima instead of reading indices). Geometry structs are the launchers' ones
 * (src/ops/ops_cnn.h). Backward functions take beta like the kernels: dx = beta * dx +
 * ..., with beta == 0 dx is not read; parameter gradients always accumulate; a NULL
 * gradient pointer skips that gradient. */
#ifndef VD_TEST_REF_CNN_H
#define VD_TEST_REF_CNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops_cnn.h"

/* conv_ref.c. x: (n, C, H, W), w: (K, C/groups, R, S), b: (K) or NULL, y: (n, K, P, Q). */
void ref_conv2d_fwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                    const float *b, float *y);
/* dx = beta dx + dL/dx; dw += dL/dw; db += dL/db. */
void ref_conv2d_bwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                    const float *dy, float beta, float *dx, float *dw, float *db);
/* Transposed convolution, PyTorch ConvTranspose2d, described by the convolution it
 * transposes (g): x: (n, K, P, Q) -> y: (n, C, H, W), w: (K, C/groups, R, S),
 * b: (C) or NULL. Input pixel (p, q) adds x * w[k][c][r][s] to output
 * (p*stride_h - pad_h + r*dil_h, q*stride_w - pad_w + s*dil_w) when inside. */
void ref_deconv2d_fwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                      const float *b, float *y);
void ref_deconv2d_bwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                      const float *dy, float beta, float *dx, float *dw, float *db);

/* pool_ref.c. x: (n, C, H, W), y: (n, C, P, Q). idx may be NULL. */
void ref_maxpool_fwd(const vd_pool_geom *g, size_t n, const float *x, float *y, int32_t *idx);
/* Finds each window's first maximum in x again and routes dy there. */
void ref_maxpool_bwd(const vd_pool_geom *g, size_t n, const float *x, const float *dy,
                     float beta, float *dx);
/* Divisor: the window's taps inside the padded input (g->excl 0, count_include_pad) or
 * inside the input (g->excl 1). Dilation 0 reads as 1. */
void ref_avgpool_fwd(const vd_pool_geom *g, size_t n, const float *x, float *y);
void ref_avgpool_bwd(const vd_pool_geom *g, size_t n, const float *dy, float beta, float *dx);
/* x: (n, C, HW) -> y: (n, C) */
void ref_gavg_fwd(size_t n, size_t C, size_t HW, const float *x, float *y);
void ref_gavg_bwd(size_t n, size_t C, size_t HW, const float *dy, float beta, float *dx);

/* norm_ref.c. Batch norm over x: (n, C, HW) per channel.
 * Training: batch mean and biased variance normalise; run_mean/run_var (C) move by
 * momentum with the unbiased variance (PyTorch). Evaluation: the running statistics
 * normalise and are not changed. */
void ref_batchnorm_fwd(size_t n, size_t C, size_t HW, bool train, float momentum, float eps,
                       const float *x, const float *gamma, const float *beta_p, float *run_mean,
                       float *run_var, float *y);
/* The gradient of ref_batchnorm_fwd in the same mode (statistics recomputed from x in
 * training mode, taken from run_mean/run_var in evaluation mode). */
void ref_batchnorm_bwd(size_t n, size_t C, size_t HW, bool train, float eps, const float *x,
                       const float *gamma, const float *run_mean, const float *run_var,
                       const float *dy, float beta, float *dx, float *dgamma, float *dbeta);
/* Layer norm over the D features of each sample; gamma, beta: (D). */
void ref_layernorm_fwd(size_t n, size_t D, float eps, const float *x, const float *gamma,
                       const float *beta_p, float *y);
void ref_layernorm_bwd(size_t n, size_t D, float eps, const float *x, const float *gamma,
                       const float *dy, float beta, float *dx, float *dgamma, float *dbeta);
/* The row statistics alone (layernorm output=mean|invstd): y[i] = mean of row i (invstd
 * false) or 1/sqrt(biased var + eps); x: (n, D), y: (n). The backward: dx (n, D) from dy (n). */
void ref_layernorm_stats(size_t n, size_t D, float eps, bool invstd, const float *x, float *y);
void ref_layernorm_stats_bwd(size_t n, size_t D, float eps, bool invstd, const float *x,
                             const float *dy, float beta, float *dx);
/* Softmax over dimension 1 of (n, C, inner). */
void ref_softmax_fwd(size_t n, size_t C, size_t inner, const float *x, float *y);
void ref_logsoftmax_fwd(size_t n, size_t C, size_t inner, const float *x, float *y);
void ref_logsoftmax_bwd(size_t n, size_t C, size_t inner, const float *y, const float *dy,
                        float beta, float *dx);
void ref_softmax_bwd(size_t n, size_t C, size_t inner, const float *y, const float *dy,
                     float beta, float *dx);

#endif /* VD_TEST_REF_CNN_H */

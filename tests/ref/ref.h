/* ref.h - plain C reference implementations of the kernels, used only by the tests.
 * Single-threaded, double accumulators, written to be obviously correct rather than
 * fast. Arguments mean what they mean for the launchers in src/ops/ops.h, with host
 * pointers in place of (buffer, offset) pairs. Backward functions take beta like the
 * kernels: dx = beta * dx + ..., and with beta == 0 dx is not read. Parameter gradients
 * (dW, db) always accumulate. */
#ifndef VD_TEST_REF_H
#define VD_TEST_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h" /* vd_act */

/* act_ref.c: y = act(x); dx = beta*dx + dy*act'(x). The derivative is computed from x
 * alone (y is accepted for symmetry with the kernel and ignored). */
void ref_act_fwd(vd_act act, size_t n, const float *x, float *y);
void ref_act_bwd(vd_act act, size_t n, const float *x, const float *y, const float *dy,
                 float beta, float *dx);

/* Leaky ReLU with slope alpha below zero; dx = beta*dx + dy * (x > 0 ? 1 : alpha). */
void ref_leaky_fwd(float alpha, size_t n, const float *x, float *y);
void ref_leaky_bwd(float alpha, size_t n, const float *x, const float *dy, float beta, float *dx);

/* dense_ref.c */
/* Row-major C (m, n) = alpha * op(A) * op(B) + beta * C, op(A): (m, k), op(B): (k, n).
 * A is stored (m, k) with leading dimension lda, or (k, m) when ta; B likewise.
 * With beta == 0, C is not read. */
void ref_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, const float *a,
              size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);
/* y: (rows, cols), b: (cols): y[r][c] += b[c]. */
void ref_bias_fwd(size_t rows, size_t cols, const float *b, float *y);
/* db[c] += sum_r dy[r][c]. */
void ref_bias_bwd(size_t rows, size_t cols, const float *dy, float *db);
/* x: (N, in), W: (out, in), b: (out) or NULL, y: (N, out). y = x W^T + b. */
void ref_dense_fwd(size_t N, size_t in, size_t out, const float *x, const float *W,
                   const float *b, float *y);
/* dx = beta * dx + dy W (dx may be NULL to skip), dW += dy^T x, db += colsum(dy) (db may
 * be NULL). dy: (N, out). */
void ref_dense_bwd(size_t N, size_t in, size_t out, const float *x, const float *W,
                   const float *dy, float beta, float *dx, float *dW, float *db);

/* transpose_ref.c: x: (n, dims[0..r)), y: (n, dims[perm[0]], ..); y = beta*y + permute(x)
 * (y not read when beta == 0); output axis k is input axis perm[k]. r: 1 to 3. */
void ref_permute(size_t n, int32_t r, const int64_t *dims, const int32_t *perm, const float *x,
                 float beta, float *y);

/* dropout_ref.c: the mask from vd_philox4x32 / vd_rng_uniform, the host twin of
 * cl/common.cl. keep[i] = 1 when element i is kept. */
void ref_dropout_mask(size_t n, float p, uint64_t seed, uint64_t stream, uint8_t *keep);
void ref_dropout_fwd(size_t n, float p, uint64_t seed, uint64_t stream, const float *x,
                     float *y);
void ref_dropout_bwd(size_t n, float p, uint64_t seed, uint64_t stream, const float *dy,
                     float beta, float *dx);

/* loss_ref.c */
/* z: (rows, cols) logits, labels: (rows). dz and row_correct may be NULL. */
void ref_softmax_ce(size_t rows, size_t cols, const float *z, const int32_t *labels,
                    float grad_scale, float *dz, float *row_loss, float *row_correct);
/* p, t: (rows, cols). dp may be NULL. */
void ref_mse(size_t rows, size_t cols, const float *p, const float *t, float grad_scale,
             float *dp, float *row_loss);
/* acc[0] += sum row_loss, acc[1] += sum row_correct (row_correct may be NULL). */
void ref_loss_accumulate(size_t rows, const float *row_loss, const float *row_correct,
                         float *acc);

/* optim_ref.c: one step over n parameters; m (and v) are updated in place. */
void ref_sgd(size_t n, float *w, const float *g, float *m, float lr, float momentum, float wd,
             int nesterov);
void ref_adam(size_t n, float *w, const float *g, float *m, float *v, float lr, float b1,
              float b2, float eps, float wd, int decoupled, float bc1, float bc2);

/* merge_ref.c: concat of k inputs along one sample axis. Input j is (rows, len_j, inner)
 * (rows: the batch times the sample dimensions before the axis; inner: those after it),
 * the output (rows, sum of len_j, inner).
 * Backward: dxs[j] = betas[j] * dxs[j] + its slice of dy; NULL dxs[j] is skipped, and with
 * betas[j] == 0 dxs[j] is not read. */
void ref_concat_fwd(size_t rows, int32_t k, const size_t *lens, size_t inner,
                    const float *const *xs, float *y);
void ref_concat_bwd(size_t rows, int32_t k, const size_t *lens, size_t inner,
                    const float *dy, const float *betas, float *const *dxs);

#endif /* VD_TEST_REF_H */

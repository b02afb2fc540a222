/* ops.h - kernel launchers: one C function per kernel family, over (cl_mem, offset) pairs.
 * Offsets and counts are in float elements. All launchers are non-blocking and return
 * vd_status with the kernel name and raw OpenCL code in the message on failure.
 * Layers call these; these call the runtime. No launcher knows what a layer is. */
#ifndef VD_OPS_H
#define VD_OPS_H

#include "../runtime/runtime.h"

/* Argument checks for launchers: VD_ERR_INVALID_ARG naming the launcher when cond is false;
 * the context and every listed buffer must be non-NULL. */
#define VD_CHECK(ctx, cond, what)                                                                \
    do {                                                                                         \
        if (!(cond)) return vd_error_set((ctx), VD_ERR_INVALID_ARG, "%s: %s", __func__, (what)); \
    } while (0)
#define VD_NEED(ctx, ...)                                                \
    do {                                                                 \
        VD_CHECK(NULL, (ctx) != NULL, "NULL context");                   \
        cl_mem need_[] = {__VA_ARGS__};                                  \
        for (size_t k_ = 0; k_ < sizeof(need_) / sizeof(need_[0]); k_++) \
            VD_CHECK((ctx), need_[k_] != NULL, "NULL buffer");           \
    } while (0)

typedef enum vd_act {
    VD_ACT_IDENTITY = 0,
    VD_ACT_RELU = 1,
    VD_ACT_SIGMOID = 2,
    VD_ACT_TANH = 3,
    VD_ACT_GELU = 4,      /* tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    VD_ACT_LEAKY_RELU = 5 /* x > 0 ? x : alpha x; only through vd_op_leaky_* */
} vd_act;

/* x[i] = value for i < n. */
vd_status vd_op_fill(vd_context *ctx, size_t n, float value, cl_mem x, size_t xo);

/* Block copy of rows x cols floats between row-major views with leading dimensions:
 * dst[r*d_ld + c] = beta * dst[r*d_ld + c] + src[r*s_ld + c]; dst is not read when beta
 * is 0. s_ld 0 repeats one source row in every destination row (a broadcast). */
vd_status vd_op_copy2d(vd_context *ctx, size_t rows, size_t cols, cl_mem src, size_t so,
                       size_t s_ld, float beta, cl_mem dst, size_t dso, size_t d_ld);

/* Axis permutation of n samples of rank r (1..3), non-blocking:
 *   x: (n, dims[0], .., dims[r-1])   y: (n, dims[perm[0]], .., dims[perm[r-1]])
 *   y = beta * y + permute(x); y is not read when beta is 0. perm must be a permutation of
 *   0..r-1 (VD_ERR_INVALID_ARG otherwise, and for NULL buffers). */
vd_status vd_op_permute(vd_context *ctx, size_t n, int32_t r, const int64_t *dims,
                        const int32_t *perm, cl_mem x, size_t xo, float beta, cl_mem y,
                        size_t yo);

/* Clip x (n floats) to a global L2 norm of at most max_norm, on the device without a host
 * round trip: x *= min(1, max_norm / ||x||). work must hold VD_CLIP_PARTS floats; after the
 * call work[0] is the factor applied and work[1] is ||x|| before clipping. Deterministic
 * (fixed summation order, no atomics). */
#define VD_CLIP_PARTS 64
vd_status vd_op_clip_norm(vd_context *ctx, size_t n, float max_norm, cl_mem x, size_t xo,
                          cl_mem work);

/* y = act(x), n elements. x and y may be the same memory. */
vd_status vd_op_act_fwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                        size_t yo);
/* dx = beta * dx + dy * act'(x). Kernels may use x or y (y = act(x)) for the derivative. */
vd_status vd_op_act_bwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                        size_t yo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo);

/* Leaky ReLU with slope alpha for x <= 0: y = x > 0 ? x : alpha x;
 * dx = beta * dx + dy * (x > 0 ? 1 : alpha). Backward reads x. */
vd_status vd_op_leaky_fwd(vd_context *ctx, float alpha, size_t n, cl_mem x, size_t xo, cl_mem y,
                          size_t yo);
vd_status vd_op_leaky_bwd(vd_context *ctx, float alpha, size_t n, cl_mem x, size_t xo, cl_mem dy,
                          size_t dyo, float beta, cl_mem dx, size_t dxo);

/* y: (rows, cols) row-major; y[r][c] += b[c]. */
vd_status vd_op_bias_fwd(vd_context *ctx, size_t rows, size_t cols, cl_mem b, size_t bo, cl_mem y,
                         size_t yo);
/* db[c] += sum over r of dy[r][c], summed in row order (deterministic). */
vd_status vd_op_bias_bwd(vd_context *ctx, size_t rows, size_t cols, cl_mem dy, size_t dyo,
                         cl_mem db, size_t dbo);

/* Inverted dropout. Element i draws u = uniform(philox(ctr = {i/4, 0, stream lo, stream hi},
 * key = seed)[i%4]); kept when u >= p and scaled by 1/(1-p), else 0. Backward redraws the
 * same mask instead of storing it. */
vd_status vd_op_dropout_fwd(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                            cl_mem x, size_t xo, cl_mem y, size_t yo);
/* dx = beta * dx + mask * dy / (1-p) */
vd_status vd_op_dropout_bwd(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                            cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo);
/* y = the mask itself: 1 where vd_op_dropout_fwd keeps element i, 0 where it drops it. */
vd_status vd_op_dropout_mask(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                             cl_mem y, size_t yo);

/* Fused, numerically stable softmax + cross-entropy over (rows, cols) logits and int32
 * labels. Per row r: row_loss[r] = logsumexp(z_r) - z_r[label_r];
 * row_correct[r] = 1 if argmax(z_r) == label_r (first maximum wins) else 0;
 * dz[r][c] = grad_scale * (softmax(z_r)[c] - (c == label_r)).
 * dz may be NULL (evaluation). A label outside [0, cols) gives row_loss = NAN. */
vd_status vd_op_softmax_ce(vd_context *ctx, size_t rows, size_t cols, cl_mem z, size_t zo,
                           cl_mem labels, size_t lo, float grad_scale, cl_mem dz, size_t dzo,
                           cl_mem row_loss, cl_mem row_correct);
/* Mean squared error. row_loss[r] = sum_c (p - t)^2 / cols;
 * dp[r][c] = grad_scale * 2 * (p - t) / cols. dp may be NULL. */
vd_status vd_op_mse(vd_context *ctx, size_t rows, size_t cols, cl_mem p, size_t po, cl_mem t,
                    size_t to, float grad_scale, cl_mem dp, size_t dpo, cl_mem row_loss);
/* acc[0] += sum row_loss[0..rows), acc[1] += sum row_correct[0..rows) (row_correct may be
 * NULL), summed in order by one work-item (deterministic). */
vd_status vd_op_loss_accumulate(vd_context *ctx, size_t rows, cl_mem row_loss, cl_mem row_correct,
                                cl_mem acc);

/* SGD, PyTorch semantics: g' = g + wd*w; m = momentum*m + g';
 * w -= lr * (nesterov ? g' + momentum*m : m). With momentum 0, m is not touched (may be
 * NULL). */
vd_status vd_op_sgd(vd_context *ctx, size_t n, cl_mem w, size_t wo, cl_mem g, size_t go, cl_mem m,
                    size_t mo, float lr, float momentum, float wd, int nesterov);
/* Adam / AdamW, PyTorch semantics. decoupled=0 (Adam): g' = g + wd*w.
 * decoupled=1 (AdamW): w *= 1 - lr*wd first, g' = g.
 * m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 * w -= lr * (m / bc1) / (sqrt(v / bc2) + eps) with bc1 = 1 - b1^t, bc2 = 1 - b2^t
 * computed by the caller. */
vd_status vd_op_adam(vd_context *ctx, size_t n, cl_mem w, size_t wo, cl_mem g, size_t go, cl_mem m,
                     size_t mo, cl_mem v, size_t vo, float lr, float b1, float b2, float eps,
                     float wd, int decoupled, float bc1, float bc2);

#endif /* VD_OPS_H */

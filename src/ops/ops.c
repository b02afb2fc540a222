/* ops.c - kernel launchers for cl/util.cl, act.cl, dense.cl, dropout.cl, loss.cl and
 * optim.cl: argument checks, then one vd_kernel_run each. The math lives in the kernels
 * and is documented at the top of each .cl file and in ops.h; nothing here blocks. */
#include <math.h>

#include "ops.h"

vd_status vd_op_fill(vd_context *ctx, size_t n, float value, cl_mem x, size_t xo)
{
    VD_NEED(ctx, x);
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "util", "fill", n, VD_A_U64(n), VD_A_F32(value), VD_A_MEM(x), VD_A_U64(xo));
}

vd_status vd_op_copy2d(vd_context *ctx, size_t rows, size_t cols, cl_mem src, size_t so,
                       size_t s_ld, float beta, cl_mem dst, size_t dso, size_t d_ld)
{
    VD_NEED(ctx, src, dst);
    if (rows == 0 || cols == 0) return VD_OK;
    if ((s_ld < cols && s_ld != 0) || d_ld < cols)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "copy2d: leading dimension below cols");
    return VD_RUN(ctx, "util", "copy2d", 2, ((size_t[]){cols, rows}), NULL, VD_A_U64(rows),
                  VD_A_U64(cols), VD_A_MEM(src), VD_A_U64(so), VD_A_U64(s_ld), VD_A_F32(beta),
                  VD_A_MEM(dst), VD_A_U64(dso), VD_A_U64(d_ld));
}

vd_status vd_op_permute(vd_context *ctx, size_t n, int32_t r, const int64_t *dims,
                        const int32_t *perm, cl_mem x, size_t xo, float beta, cl_mem y,
                        size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, dims && perm && r >= 1 && r <= 3, "permute: rank must be 1 to 3");
    bool seen[3] = {false, false, false};
    for (int32_t k = 0; k < r; k++) {
        VD_CHECK(ctx, perm[k] >= 0 && perm[k] < r && !seen[perm[k]],
                 "permute: perm is not a permutation of the axes");
        seen[perm[k]] = true;
    }
    /* x's strides, then the output dims and the matching x strides, padded in front to 3. */
    size_t st[3], od[3] = {1, 1, 1}, os[3] = {0, 0, 0}, numel = 1;
    for (int32_t k = r - 1; k >= 0; k--) {
        st[k] = numel;
        numel *= (size_t)dims[k];
    }
    for (int32_t k = 0; k < r; k++) {
        od[3 - r + k] = (size_t)dims[perm[k]];
        os[3 - r + k] = st[perm[k]];
    }
    size_t total = n * numel;
    if (total == 0) return VD_OK;
    return VD_RUN1(ctx, "util", "permute3", total, VD_A_U64(total), VD_A_U64(od[1]),
                   VD_A_U64(od[2]), VD_A_U64(os[0]), VD_A_U64(os[1]), VD_A_U64(os[2]),
                   VD_A_MEM(x), VD_A_U64(xo), VD_A_F32(beta), VD_A_MEM(y), VD_A_U64(yo),
                   VD_A_U64(numel));
}

vd_status vd_op_clip_norm(vd_context *ctx, size_t n, float max_norm, cl_mem x, size_t xo,
                          cl_mem work)
{
    VD_NEED(ctx, x, work);
    VD_CHECK(ctx, max_norm > 0.0f && isfinite(max_norm), "clip norm must be > 0");
    if (n == 0) return VD_OK;
    size_t chunk = (n + VD_CLIP_PARTS - 1) / VD_CLIP_PARTS;
    vd_status st = VD_RUN1(ctx, "util", "sumsq_partial", VD_CLIP_PARTS, VD_A_U64(n),
                           VD_A_U64(chunk), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(work));
    /* clip_scale reads the partials, then writes factor and norm over work[0..1]. */
    if (st == VD_OK)
        st = VD_RUN1(ctx, "util", "clip_scale", 1, VD_A_U64(VD_CLIP_PARTS), VD_A_MEM(work),
                     VD_A_F32(max_norm), VD_A_MEM(work));
    if (st == VD_OK)
        st = VD_RUN1(ctx, "util", "scale_by", n, VD_A_U64(n), VD_A_MEM(x), VD_A_U64(xo),
                     VD_A_MEM(work));
    return st;
}

static bool act_valid(vd_act act)
{
    return (int)act >= (int)VD_ACT_IDENTITY && (int)act <= (int)VD_ACT_GELU;
}

vd_status vd_op_act_fwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                        size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, act_valid(act), "unknown activation");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "act", "act_fwd", n, VD_A_I32(act), VD_A_F32(0.0f), VD_A_U64(n),
                   VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

/* The kernel reads y for relu/sigmoid/tanh and x for gelu (cl/act.cl); the buffer a kind
 * does not read may be NULL. */
vd_status vd_op_act_bwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                        size_t yo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    VD_CHECK(ctx, act_valid(act), "unknown activation");
    VD_CHECK(ctx, act != VD_ACT_GELU || x, "gelu needs x");
    VD_CHECK(ctx, act == VD_ACT_GELU || act == VD_ACT_IDENTITY || y, "this activation needs y");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "act", "act_bwd", n, VD_A_I32(act), VD_A_F32(0.0f), VD_A_U64(n),
                   VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy),
                   VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_leaky_fwd(vd_context *ctx, float alpha, size_t n, cl_mem x, size_t xo, cl_mem y,
                          size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, isfinite(alpha), "leaky relu: alpha must be finite");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "act", "act_fwd", n, VD_A_I32(VD_ACT_LEAKY_RELU), VD_A_F32(alpha),
                   VD_A_U64(n), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_leaky_bwd(vd_context *ctx, float alpha, size_t n, cl_mem x, size_t xo, cl_mem dy,
                          size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, x, dy, dx);
    VD_CHECK(ctx, isfinite(alpha), "leaky relu: alpha must be finite");
    if (n == 0) return VD_OK;
    /* y is not read for leaky relu; x stands in for it so no argument is NULL. */
    return VD_RUN1(ctx, "act", "act_bwd", n, VD_A_I32(VD_ACT_LEAKY_RELU), VD_A_F32(alpha),
                   VD_A_U64(n), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(dy),
                   VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_bias_fwd(vd_context *ctx, size_t rows, size_t cols, cl_mem b, size_t bo, cl_mem y,
                         size_t yo)
{
    VD_NEED(ctx, b, y);
    if (rows == 0 || cols == 0) return VD_OK;
    return VD_RUN1(ctx, "dense", "bias_fwd", rows * cols, VD_A_U64(rows), VD_A_U64(cols),
                   VD_A_MEM(b), VD_A_U64(bo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_bias_bwd(vd_context *ctx, size_t rows, size_t cols, cl_mem dy, size_t dyo,
                         cl_mem db, size_t dbo)
{
    VD_NEED(ctx, dy, db);
    if (rows == 0 || cols == 0) return VD_OK;
    return VD_RUN1(ctx, "dense", "bias_bwd", cols, VD_A_U64(rows), VD_A_U64(cols), VD_A_MEM(dy),
                   VD_A_U64(dyo), VD_A_MEM(db), VD_A_U64(dbo));
}

/* p must lie in [0, 1): p = 1 would drop everything and scale by infinity. The kernels
 * handle 4 elements per work-item (one Philox block). */
#define VD_DROPOUT_ARGS(n, p, seed, stream) \
    VD_A_U64(n), VD_A_F32(p), VD_A_F32(1.0f / (1.0f - (p))), VD_A_U64(seed), VD_A_U64(stream)

vd_status vd_op_dropout_fwd(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                            cl_mem x, size_t xo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, p >= 0.0f && p < 1.0f, "dropout probability outside [0, 1)");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "dropout", "dropout_fwd", (n + 3) / 4, VD_DROPOUT_ARGS(n, p, seed, stream),
                   VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_dropout_bwd(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                            cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    VD_CHECK(ctx, p >= 0.0f && p < 1.0f, "dropout probability outside [0, 1)");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "dropout", "dropout_bwd", (n + 3) / 4, VD_DROPOUT_ARGS(n, p, seed, stream),
                   VD_A_MEM(dy), VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_dropout_mask(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                             cl_mem y, size_t yo)
{
    VD_NEED(ctx, y);
    VD_CHECK(ctx, p >= 0.0f && p < 1.0f, "dropout probability outside [0, 1)");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "dropout", "dropout_mask", (n + 3) / 4, VD_DROPOUT_ARGS(n, p, seed, stream),
                   VD_A_MEM(y), VD_A_U64(yo));
}

/* row_correct may be NULL as well as dz: the kernel takes a flag for each. */
vd_status vd_op_softmax_ce(vd_context *ctx, size_t rows, size_t cols, cl_mem z, size_t zo,
                           cl_mem labels, size_t lo, float grad_scale, cl_mem dz, size_t dzo,
                           cl_mem row_loss, cl_mem row_correct)
{
    VD_NEED(ctx, z, labels, row_loss);
    VD_CHECK(ctx, cols > 0 || rows == 0, "zero classes");
    if (rows == 0) return VD_OK;
    return VD_RUN1(ctx, "loss", "softmax_ce", rows, VD_A_U64(rows), VD_A_U64(cols), VD_A_MEM(z),
                   VD_A_U64(zo), VD_A_MEM(labels), VD_A_U64(lo), VD_A_F32(grad_scale),
                   VD_A_I32(dz != NULL), VD_A_MEM(dz), VD_A_U64(dzo), VD_A_MEM(row_loss),
                   VD_A_I32(row_correct != NULL), VD_A_MEM(row_correct));
}

vd_status vd_op_mse(vd_context *ctx, size_t rows, size_t cols, cl_mem p, size_t po, cl_mem t,
                    size_t to, float grad_scale, cl_mem dp, size_t dpo, cl_mem row_loss)
{
    VD_NEED(ctx, p, t, row_loss);
    VD_CHECK(ctx, cols > 0 || rows == 0, "zero columns");
    if (rows == 0) return VD_OK;
    return VD_RUN1(ctx, "loss", "mse", rows, VD_A_U64(rows), VD_A_U64(cols), VD_A_MEM(p),
                   VD_A_U64(po), VD_A_MEM(t), VD_A_U64(to), VD_A_F32(grad_scale),
                   VD_A_I32(dp != NULL), VD_A_MEM(dp), VD_A_U64(dpo), VD_A_MEM(row_loss));
}

vd_status vd_op_loss_accumulate(vd_context *ctx, size_t rows, cl_mem row_loss, cl_mem row_correct,
                                cl_mem acc)
{
    VD_NEED(ctx, row_loss, acc);
    if (rows == 0) return VD_OK;
    return VD_RUN1(ctx, "loss", "loss_accumulate", 1, VD_A_U64(rows), VD_A_MEM(row_loss),
                   VD_A_I32(row_correct != NULL), VD_A_MEM(row_correct), VD_A_MEM(acc));
}

vd_status vd_op_sgd(vd_context *ctx, size_t n, cl_mem w, size_t wo, cl_mem g, size_t go, cl_mem m,
                    size_t mo, float lr, float momentum, float wd, int nesterov)
{
    VD_NEED(ctx, w, g);
    VD_CHECK(ctx, momentum == 0.0f || m, "momentum needs a momentum buffer");
    VD_CHECK(ctx, !nesterov || momentum > 0.0f, "nesterov needs momentum > 0");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "optim", "sgd", n, VD_A_U64(n), VD_A_MEM(w), VD_A_U64(wo), VD_A_MEM(g),
                   VD_A_U64(go), VD_A_MEM(m), VD_A_U64(mo), VD_A_F32(lr), VD_A_F32(momentum),
                   VD_A_F32(wd), VD_A_I32(nesterov != 0));
}

vd_status vd_op_adam(vd_context *ctx, size_t n, cl_mem w, size_t wo, cl_mem g, size_t go, cl_mem m,
                     size_t mo, cl_mem v, size_t vo, float lr, float b1, float b2, float eps,
                     float wd, int decoupled, float bc1, float bc2)
{
    VD_NEED(ctx, w, g, m, v);
    VD_CHECK(ctx, bc1 > 0.0f && bc2 > 0.0f, "bias corrections must be > 0 (step t >= 1)");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "optim", "adam", n, VD_A_U64(n), VD_A_MEM(w), VD_A_U64(wo), VD_A_MEM(g),
                   VD_A_U64(go), VD_A_MEM(m), VD_A_U64(mo), VD_A_MEM(v), VD_A_U64(vo), VD_A_F32(lr),
                   VD_A_F32(b1), VD_A_F32(b2), VD_A_F32(eps), VD_A_F32(wd),
                   VD_A_I32(decoupled != 0), VD_A_F32(bc1), VD_A_F32(bc2));
}

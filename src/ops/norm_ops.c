/* norm_ops.c - launchers for cl/norm.cl: batch normalisation, layer normalisation and
 * softmax over channels. The math and the state layout are documented in norm.cl and
 * ops_cnn.h; nothing here blocks. */
#include "ops_cnn.h"

/* Reductions run one work-group of lsz per channel or sample: global = groups * lsz,
 * local = lsz. */

/* Batch-norm reductions cut each channel's n planes of HW values into n*K units of *chunk
 * contiguous values, K per plane: enough units that every lane of the group has one when
 * n < lsz, whole planes otherwise (norm.cl). Returns K. */
static int bn_units(size_t n, size_t HW, size_t lsz, size_t *chunk)
{
    size_t K = n < lsz ? lsz / n : 1;
    if (K > HW) K = HW;
    if (K < 1) K = 1;
    *chunk = (HW + K - 1) / K;
    return (int)((HW + *chunk - 1) / *chunk);
}

/* Elementwise batch-norm kernels run over (HW, n*C): a local size of (l0, l1) with l0 the
 * power of two covering HW up to 64, so small planes (7x7, or 1 after a dense layer) do not
 * leave most of a group idle. */
static void bn_local(const vd_context *ctx, size_t HW, size_t local[2])
{
    size_t cap = vd_cnn_reduce_local(ctx), l0 = 1;
    while (l0 < HW && l0 < cap) l0 *= 2;
    local[0] = l0;
    local[1] = cap / l0;
}

/* The CPU forms of the elementwise kernels (norm.cl, bn_apply_runs) stream runs of at most
 * BN_RUN values: enough work per work-item to amortise its setup, enough work-items
 * (n*C*K) to fill the cores. Returns K and sets *chunk. */
#define BN_RUN 1024
static int bn_runs(size_t HW, size_t *chunk)
{
    size_t K = (HW + BN_RUN - 1) / BN_RUN;
    if (K < 1) K = 1;
    *chunk = (HW + K - 1) / K;
    return (int)K;
}

vd_status vd_op_batchnorm_stats(vd_context *ctx, size_t n, size_t C, size_t HW, float momentum,
                                float eps, cl_mem x, size_t xo, cl_mem state, size_t so)
{
    VD_NEED(ctx, x, state);
    VD_CHECK(ctx, n * HW >= 2, "batch statistics need at least 2 values per channel");
    if (C == 0) return VD_OK;
    size_t lsz = vd_cnn_reduce_local(ctx), chunk;
    int K = bn_units(n, HW, lsz, &chunk);
    return VD_RUN(ctx, "norm", "bn_stats", 1, (size_t[]){C * lsz}, (size_t[]){lsz}, VD_A_U64(n),
                  VD_A_I32(C), VD_A_U64(HW), VD_A_I32(K), VD_A_U64(chunk), VD_A_F32(momentum),
                  VD_A_F32(eps), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(state), VD_A_U64(so),
                  VD_A_LOCAL(lsz * sizeof(float)));
}

vd_status vd_op_batchnorm_eval_stats(vd_context *ctx, size_t C, float eps, cl_mem state, size_t so)
{
    VD_NEED(ctx, state);
    if (C == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "bn_eval_stats", C, VD_A_I32(C), VD_A_F32(eps), VD_A_MEM(state),
                   VD_A_U64(so));
}

vd_status vd_op_batchnorm_fold(vd_context *ctx, size_t K, size_t per, float eps, cl_mem w,
                               size_t wo, cl_mem b, size_t bo, cl_mem state, size_t so,
                               cl_mem gamma, size_t go, cl_mem beta_p, size_t beo, cl_mem out,
                               size_t oo)
{
    VD_NEED(ctx, w, state, gamma, beta_p, out);
    if (K == 0 || per == 0) return VD_OK;
    VD_CHECK(ctx, per <= UINT32_MAX / K && K * per <= UINT32_MAX - K,
             "more than 2^32 folded weights");
    return VD_RUN1(ctx, "norm", "bn_fold", K * per + K, VD_A_U32(K), VD_A_U32(per), VD_A_F32(eps),
                   VD_A_MEM(w), VD_A_U64(wo), VD_A_I32(b ? 1 : 0), VD_A_MEM(b ? b : w),
                   VD_A_U64(b ? bo : 0), VD_A_MEM(state), VD_A_U64(so), VD_A_MEM(gamma),
                   VD_A_U64(go), VD_A_MEM(beta_p), VD_A_U64(beo), VD_A_MEM(out), VD_A_U64(oo));
}

vd_status vd_op_batchnorm_apply(vd_context *ctx, size_t n, size_t C, size_t HW, bool relu, cl_mem x,
                                size_t xo, cl_mem state, size_t so, cl_mem gamma, size_t go,
                                cl_mem beta_p, size_t bo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, state, gamma, beta_p, y);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    VD_CHECK(ctx, n * C <= UINT32_MAX, "more than 2^32 planes");
    if (ctx->dev.variant == VD_VARIANT_CPU) {
        size_t chunk;
        int K = bn_runs(HW, &chunk);
        return VD_RUN1(ctx, "norm", "bn_apply_runs", n * C * (size_t)K, VD_A_U64(n), VD_A_I32(C),
                       VD_A_U64(HW), VD_A_I32(K), VD_A_U64(chunk), VD_A_I32(relu ? 1 : 0),
                       VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(state), VD_A_U64(so), VD_A_MEM(gamma),
                       VD_A_U64(go), VD_A_MEM(beta_p), VD_A_U64(bo), VD_A_MEM(y), VD_A_U64(yo));
    }
    size_t local[2], global[2] = {HW, n * C};
    bn_local(ctx, HW, local);
    return VD_RUN(ctx, "norm", "bn_apply", 2, global, local, VD_A_U64(n), VD_A_I32(C), VD_A_U64(HW),
                  VD_A_I32(relu ? 1 : 0), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(state), VD_A_U64(so),
                  VD_A_MEM(gamma), VD_A_U64(go), VD_A_MEM(beta_p), VD_A_U64(bo), VD_A_MEM(y),
                  VD_A_U64(yo));
}

vd_status vd_op_batchnorm_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, bool train, bool relu,
                              cl_mem x, size_t xo, cl_mem y, size_t yo, cl_mem dy, size_t dyo,
                              cl_mem state, size_t so, cl_mem gamma, size_t go, cl_mem dgamma,
                              size_t dgo, cl_mem dbeta, size_t dbo, float beta, cl_mem dx,
                              size_t dxo)
{
    VD_NEED(ctx, x, dy, state, gamma, dgamma, dbeta);
    if (relu) VD_NEED(ctx, y);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    VD_CHECK(ctx, n * C <= UINT32_MAX, "more than 2^32 planes");
    if (!relu) y = x, yo = xo; /* not read */
    size_t lsz = vd_cnn_reduce_local(ctx), chunk, local[2], global[2] = {HW, n * C};
    int K = bn_units(n, HW, lsz, &chunk);
    vd_status st =
        VD_RUN(ctx, "norm", "bn_bwd_reduce", 1, (size_t[]){C * lsz}, (size_t[]){lsz}, VD_A_U64(n),
               VD_A_I32(C), VD_A_U64(HW), VD_A_I32(K), VD_A_U64(chunk), VD_A_I32(relu ? 1 : 0),
               VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy), VD_A_U64(dyo),
               VD_A_MEM(state), VD_A_U64(so), VD_A_MEM(dgamma), VD_A_U64(dgo), VD_A_MEM(dbeta),
               VD_A_U64(dbo), VD_A_LOCAL(lsz * sizeof(float)));
    if (st != VD_OK || !dx) return st;
    if (ctx->dev.variant == VD_VARIANT_CPU) {
        int R = bn_runs(HW, &chunk);
        return VD_RUN1(ctx, "norm", "bn_bwd_data_runs", n * C * (size_t)R, VD_A_U64(n), VD_A_I32(C),
                       VD_A_U64(HW), VD_A_I32(R), VD_A_U64(chunk), VD_A_I32(train ? 1 : 0),
                       VD_A_I32(relu ? 1 : 0), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo),
                       VD_A_MEM(dy), VD_A_U64(dyo), VD_A_MEM(state), VD_A_U64(so), VD_A_MEM(gamma),
                       VD_A_U64(go), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
    }
    bn_local(ctx, HW, local);
    return VD_RUN(ctx, "norm", "bn_bwd_data", 2, global, local, VD_A_U64(n), VD_A_I32(C),
                  VD_A_U64(HW), VD_A_I32(train ? 1 : 0), VD_A_I32(relu ? 1 : 0), VD_A_MEM(x),
                  VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy), VD_A_U64(dyo),
                  VD_A_MEM(state), VD_A_U64(so), VD_A_MEM(gamma), VD_A_U64(go), VD_A_F32(beta),
                  VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_layernorm_fwd(vd_context *ctx, size_t n, size_t D, float eps, cl_mem x, size_t xo,
                              cl_mem gamma, size_t go, cl_mem beta_p, size_t bo, cl_mem y,
                              size_t yo, cl_mem stats, size_t sto)
{
    VD_NEED(ctx, x, gamma, beta_p, y, stats);
    VD_CHECK(ctx, D > 0, "no features");
    if (n == 0) return VD_OK;
    size_t lsz = vd_cnn_reduce_local(ctx);
    return VD_RUN(ctx, "norm", "ln_fwd", 1, (size_t[]){n * lsz}, (size_t[]){lsz}, VD_A_U64(D),
                  VD_A_F32(eps), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(gamma), VD_A_U64(go),
                  VD_A_MEM(beta_p), VD_A_U64(bo), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(stats),
                  VD_A_U64(sto), VD_A_LOCAL(lsz * sizeof(float)));
}

vd_status vd_op_layernorm_bwd(vd_context *ctx, size_t n, size_t D, cl_mem x, size_t xo, cl_mem dy,
                              size_t dyo, cl_mem stats, size_t sto, cl_mem gamma, size_t go,
                              cl_mem dgamma, size_t dgo, cl_mem dbeta, size_t dbo, float beta,
                              cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, x, dy, stats, gamma, dgamma, dbeta);
    VD_CHECK(ctx, D > 0, "no features");
    if (n == 0) return VD_OK;
    vd_status st =
        VD_RUN1(ctx, "norm", "ln_bwd_param", D, VD_A_U64(n), VD_A_U64(D), VD_A_MEM(x), VD_A_U64(xo),
                VD_A_MEM(dy), VD_A_U64(dyo), VD_A_MEM(stats), VD_A_U64(sto), VD_A_MEM(dgamma),
                VD_A_U64(dgo), VD_A_MEM(dbeta), VD_A_U64(dbo));
    if (st != VD_OK || !dx) return st;
    size_t lsz = vd_cnn_reduce_local(ctx);
    return VD_RUN(ctx, "norm", "ln_bwd_data", 1, (size_t[]){n * lsz}, (size_t[]){lsz}, VD_A_U64(D),
                  VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(dy), VD_A_U64(dyo), VD_A_MEM(stats),
                  VD_A_U64(sto), VD_A_MEM(gamma), VD_A_U64(go), VD_A_F32(beta), VD_A_MEM(dx),
                  VD_A_U64(dxo), VD_A_LOCAL(lsz * sizeof(float)));
}

vd_status vd_op_layernorm_stat_fwd(vd_context *ctx, size_t n, size_t D, float eps, bool invstd,
                                   cl_mem x, size_t xo, cl_mem y, size_t yo, cl_mem stats,
                                   size_t sto)
{
    VD_NEED(ctx, x, y, stats);
    VD_CHECK(ctx, D > 0, "no features");
    if (n == 0) return VD_OK;
    size_t lsz = vd_cnn_reduce_local(ctx);
    return VD_RUN(ctx, "norm", "ln_stat_fwd", 1, (size_t[]){n * lsz}, (size_t[]){lsz}, VD_A_U64(D),
                  VD_A_F32(eps), VD_A_I32(invstd ? 1 : 0), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y),
                  VD_A_U64(yo), VD_A_MEM(stats), VD_A_U64(sto), VD_A_LOCAL(lsz * sizeof(float)));
}

vd_status vd_op_layernorm_stat_bwd(vd_context *ctx, size_t n, size_t D, bool invstd, cl_mem x,
                                   size_t xo, cl_mem dy, size_t dyo, cl_mem stats, size_t sto,
                                   float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, x, dy, stats, dx);
    VD_CHECK(ctx, D > 0, "no features");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "ln_stat_bwd", n * D, VD_A_U64(n * D), VD_A_U64(D),
                   VD_A_I32(invstd ? 1 : 0), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(dy), VD_A_U64(dyo),
                   VD_A_MEM(stats), VD_A_U64(sto), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_softmax_fwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem x, size_t xo,
                            cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, C > 0, "no channels");
    if (n == 0 || inner == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "softmax_fwd", n * inner, VD_A_U64(n * inner), VD_A_I32(C),
                   VD_A_U64(inner), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_softmax_bwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem y, size_t yo,
                            cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, y, dy, dx);
    VD_CHECK(ctx, C > 0, "no channels");
    if (n == 0 || inner == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "softmax_bwd", n * inner, VD_A_U64(n * inner), VD_A_I32(C),
                   VD_A_U64(inner), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy), VD_A_U64(dyo),
                   VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_logsoftmax_fwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem x,
                               size_t xo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, C > 0, "no channels");
    if (n == 0 || inner == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "logsoftmax_fwd", n * inner, VD_A_U64(n * inner), VD_A_I32(C),
                   VD_A_U64(inner), VD_A_MEM(x), VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_logsoftmax_bwd(vd_context *ctx, size_t n, size_t C, size_t inner, cl_mem y,
                               size_t yo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, y, dy, dx);
    VD_CHECK(ctx, C > 0, "no channels");
    if (n == 0 || inner == 0) return VD_OK;
    return VD_RUN1(ctx, "norm", "logsoftmax_bwd", n * inner, VD_A_U64(n * inner), VD_A_I32(C),
                   VD_A_U64(inner), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy), VD_A_U64(dyo),
                   VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

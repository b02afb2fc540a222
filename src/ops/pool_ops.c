/* pool_ops.c - launchers for cl/pool.cl (max, average and global average pooling) and
 * the output-size rule the pooling layers share. The math is documented in pool.cl and
 * ops_cnn.h; nothing here blocks. */
#include "ops_cnn.h"

int32_t vd_pool_out_size(int32_t in, int32_t k, int32_t stride, int32_t pad, bool ceil_mode)
{
    int64_t span = (int64_t)in + 2 * (int64_t)pad - k;
    if (span < 0 || stride < 1) return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* PyTorch: the last window must start inside the input or the left padding. */
    if (ceil_mode && (out - 1) * stride >= (int64_t)in + pad) out--;
    return (int32_t)out;
}

static bool geom_ok(const vd_pool_geom *g)
{
    return g->C > 0 && g->H > 0 && g->W > 0 && g->P > 0 && g->Q > 0 && g->kh > 0 && g->kw > 0 &&
           g->sh > 0 && g->sw > 0 && g->ph >= 0 && g->pw >= 0;
}

#define POOL_ARGS(g, n)                                                                   \
    VD_A_U64((n) * (size_t)(g)->C), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->P), \
        VD_A_I32((g)->Q), VD_A_I32((g)->kh), VD_A_I32((g)->kw), VD_A_I32((g)->sh),        \
        VD_A_I32((g)->sw), VD_A_I32((g)->ph), VD_A_I32((g)->pw)

static size_t out_elems(const vd_pool_geom *g, size_t n)
{
    return n * (size_t)g->C * (size_t)g->P * (size_t)g->Q;
}

static size_t in_elems(const vd_pool_geom *g, size_t n)
{
    return n * (size_t)g->C * (size_t)g->H * (size_t)g->W;
}

vd_status vd_op_maxpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo, cl_mem idx, size_t idxo)
{
    VD_NEED(ctx, x, y, idx);
    VD_CHECK(ctx, g && geom_ok(g), "bad pooling geometry");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "maxpool_fwd", out_elems(g, n), POOL_ARGS(g, n), VD_A_MEM(x),
                   VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(idx), VD_A_U64(idxo));
}

vd_status vd_op_maxpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem idx,
                            size_t idxo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, idx, dy, dx);
    VD_CHECK(ctx, g && geom_ok(g), "bad pooling geometry");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "maxpool_bwd", in_elems(g, n), POOL_ARGS(g, n), VD_A_MEM(idx),
                   VD_A_U64(idxo), VD_A_MEM(dy), VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx),
                   VD_A_U64(dxo));
}

vd_status vd_op_avgpool_fwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem x, size_t xo,
                            cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, g && geom_ok(g), "bad pooling geometry");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "avgpool_fwd", out_elems(g, n), POOL_ARGS(g, n), VD_A_MEM(x),
                   VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_avgpool_bwd(vd_context *ctx, const vd_pool_geom *g, size_t n, cl_mem dy, size_t dyo,
                            float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    VD_CHECK(ctx, g && geom_ok(g), "bad pooling geometry");
    if (n == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "avgpool_bwd", in_elems(g, n), POOL_ARGS(g, n), VD_A_MEM(dy),
                   VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

vd_status vd_op_globalavgpool_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem x,
                                  size_t xo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, x, y);
    VD_CHECK(ctx, HW > 0, "empty plane");
    if (n == 0 || C == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "gavg_fwd", n * C, VD_A_U64(n * C), VD_A_U64(HW), VD_A_MEM(x),
                   VD_A_U64(xo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_globalavgpool_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem dy,
                                  size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    VD_NEED(ctx, dy, dx);
    VD_CHECK(ctx, HW > 0, "empty plane");
    if (n == 0 || C == 0) return VD_OK;
    return VD_RUN1(ctx, "pool", "gavg_bwd", n * C * HW, VD_A_U64(n * C), VD_A_U64(HW), VD_A_MEM(dy),
                   VD_A_U64(dyo), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

/* conv_direct.c - the "direct" convolution algorithm: launchers for cl/conv_direct.cl and
 * its entry in the algorithm table (vd_conv_algo_direct, see conv_algo.h).
 *
 * It applies where im2col wastes most: few input channels per group (C/groups <= 4, e.g.
 * the first layer on grey or RGB images, where the column matrix is R*S times the input
 * and the GEMM is too thin to run fast) and depthwise layers (groups == C, which im2col
 * turns into one tiny GEMM per group). All three passes, any stride, padding, dilation
 * and groups; no workspace. Not here: 1x1 convolutions (they are a plain GEMM, which
 * im2col already runs without a copy worth removing), the choice between algorithms
 * (conv_select.c). */
#include "conv_algo.h"

/* The most input channels per group the kernels handle (VD_DIRECT_CB in the .cl file). */
#define DIRECT_MAX_CG 4
/* Output channels per work-item in direct_fwd (VD_DIRECT_KB). */
#define DIRECT_KB 8

static bool geom_valid(const vd_conv_geom *g)
{
    return g && g->C > 0 && g->H > 0 && g->W > 0 && g->K > 0 && g->P > 0 && g->Q > 0 &&
           g->R > 0 && g->S > 0 && g->stride_h > 0 && g->stride_w > 0 && g->pad_h >= 0 &&
           g->pad_w >= 0 && g->dil_h > 0 && g->dil_w > 0 && g->groups > 0 &&
           g->C % g->groups == 0 && g->K % g->groups == 0;
}

static bool direct_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    (void)ctx;
    if (!geom_valid(g) || (int)pass < 0 || (int)pass >= (int)VD_CONV_N_PASSES) return false;
    return g->C / g->groups <= DIRECT_MAX_CG;
}

static size_t direct_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                               size_t n)
{
    (void)ctx, (void)g, (void)pass, (void)n;
    return 0;
}

static size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

/* Local size along the image row: a multiple of 8 (PoCL's vector width on AVX2 and half of
 * it on AVX-512) covering the row, at most 64 and the device's limit. */
static size_t row_local(const vd_context *ctx, int32_t len)
{
    size_t l = round_up((size_t)len, 8);
    size_t cap = ctx->max_wg < 64 ? ctx->max_wg : 64;
    return l < cap ? l : cap;
}

#define GEOM_ARGS(g, n)                                                                        \
    VD_A_I32((g)->C), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->K), VD_A_I32((g)->R),  \
        VD_A_I32((g)->S), VD_A_I32((g)->stride_h), VD_A_I32((g)->stride_w),                    \
        VD_A_I32((g)->pad_h), VD_A_I32((g)->pad_w), VD_A_I32((g)->dil_h), VD_A_I32((g)->dil_w), \
        VD_A_I32((g)->P), VD_A_I32((g)->Q), VD_A_I32((g)->groups), VD_A_I32(n)

static vd_status direct_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                            const vd_conv_io *io)
{
    VD_CHECK(NULL, ctx != NULL, "NULL context");
    VD_CHECK(ctx, io != NULL, "NULL io");
    VD_CHECK(ctx, geom_valid(g), "bad convolution geometry");
    VD_CHECK(ctx, direct_applies(ctx, g, pass),
             "direct convolution needs C/groups <= 4 and a known pass");
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G;
    size_t chw = (size_t)g->C * (size_t)g->H * (size_t)g->W;
    size_t kpq = (size_t)g->K * (size_t)g->P * (size_t)g->Q;
    size_t nkb = (Kg + DIRECT_KB - 1) / DIRECT_KB;
    /* Grid dimension 2 and the per-image indices are 32-bit in the kernels. */
    VD_CHECK(ctx, n <= INT32_MAX / (G * nkb) && chw <= INT32_MAX && kpq <= INT32_MAX,
             "batch or image too large for 32-bit kernel indices");
    if (n == 0) return VD_OK;
    int32_t ni = (int32_t)n;
    switch (pass) {
    case VD_CONV_FWD: {
        VD_NEED(ctx, io->x, io->w, io->y);
        size_t l = row_local(ctx, g->Q);
        size_t global[3] = {round_up((size_t)g->Q, l), (size_t)g->P, n * G * nkb};
        size_t local[3] = {l, 1, 1};
        return VD_RUN(ctx, "conv_direct", "direct_fwd", 3, global, local, GEOM_ARGS(g, ni),
                      VD_A_MEM(io->x), VD_A_U64(io->x_off), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                      VD_A_F32(io->beta), VD_A_MEM(io->y), VD_A_U64(io->y_off));
    }
    case VD_CONV_BWD_DATA: {
        VD_NEED(ctx, io->dy, io->w, io->dx);
        size_t l = row_local(ctx, g->W);
        size_t global[3] = {round_up((size_t)g->W, l), (size_t)g->H, n * G};
        size_t local[3] = {l, 1, 1};
        return VD_RUN(ctx, "conv_direct", "direct_bwd_data", 3, global, local, GEOM_ARGS(g, ni),
                      VD_A_MEM(io->dy), VD_A_U64(io->dy_off), VD_A_MEM(io->w),
                      VD_A_U64(io->w_off), VD_A_F32(io->beta), VD_A_MEM(io->dx),
                      VD_A_U64(io->dx_off));
    }
    case VD_CONV_BWD_FILTER: {
        VD_NEED(ctx, io->x, io->dy, io->dw);
        /* A power of two covering the row (the tree in vd_group_sum needs one), at most
         * vd_cnn_reduce_local: fixed per shape and device, so the sum order is too. */
        size_t cap = vd_cnn_reduce_local(ctx), l = 1;
        while (l < (size_t)g->Q && l < cap) l *= 2;
        size_t global[3] = {l, (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S,
                            (size_t)g->K};
        size_t local[3] = {l, 1, 1};
        return VD_RUN(ctx, "conv_direct", "direct_bwd_filter", 3, global, local,
                      GEOM_ARGS(g, ni), VD_A_MEM(io->x), VD_A_U64(io->x_off), VD_A_MEM(io->dy),
                      VD_A_U64(io->dy_off), VD_A_MEM(io->dw), VD_A_U64(io->dw_off),
                      VD_A_LOCAL(l * sizeof(float)));
    }
    default: return VD_INTERNAL(ctx, "unknown convolution pass");
    }
}

const vd_conv_algo vd_conv_algo_direct = {
    .name = "direct",
    .applies = direct_applies,
    .workspace = direct_workspace,
    .run = direct_run,
};

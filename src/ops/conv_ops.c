/* conv_ops.c - im2col convolution: launchers for cl/conv.cl and the per-group CLBlast
 * GEMMs that sit between them. Forward, backward-data and backward-filter of conv2d;
 * deconv2d calls the same two functions with the roles swapped. No algorithm choice yet
 * (direct, Winograd and FFT come later behind the same vd_op_conv2d_* interface).
 *
 * A chunk of m images is handled at once: its column matrix is (C*R*S, m*P*Q), so the
 * GEMM for group g is Y_g (K/G, m*P*Q) = W_g (K/G, C/G*R*S) * col_g. For m == 1 that is
 * already the NCHW layout of one output image and the GEMM writes y directly; for m > 1
 * the product lands in a (K, m*P*Q) scratch and a copy kernel puts it back in NCHW order
 * (and the backward packs dy the other way). */
#include "gemm.h"
#include "ops_cnn.h"

size_t vd_cnn_reduce_local(const vd_context *ctx)
{
    size_t cap = ctx->max_wg < 64 ? ctx->max_wg : 64, l = 1;
    while (l * 2 <= cap) l *= 2;
    return l;
}

int32_t vd_conv_out_size(int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t dil)
{
    int64_t span = (int64_t)in + 2 * (int64_t)pad - (int64_t)dil * (k - 1) - 1;
    if (span < 0 || stride < 1) return 0;
    return (int32_t)(span / stride + 1);
}

static size_t crs(const vd_conv_geom *g)
{
    return (size_t)g->C * (size_t)g->R * (size_t)g->S;
}

static size_t pq(const vd_conv_geom *g)
{
    return (size_t)g->P * (size_t)g->Q;
}

size_t vd_conv_workspace(const vd_conv_geom *g, size_t nb)
{
    size_t col = crs(g) * nb * pq(g);
    return nb > 1 ? col + (size_t)g->K * nb * pq(g) : col;
}

static bool geom_ok(const vd_conv_geom *g)
{
    return g->C > 0 && g->H > 0 && g->W > 0 && g->K > 0 && g->P > 0 && g->Q > 0 && g->R > 0 &&
           g->S > 0 && g->stride_h > 0 && g->stride_w > 0 && g->pad_h >= 0 && g->pad_w >= 0 &&
           g->dil_h > 0 && g->dil_w > 0 && g->groups > 0 && g->C % g->groups == 0 &&
           g->K % g->groups == 0;
}

#define GEOM_ARGS(g, m)                                                                       \
    VD_A_I32((g)->C), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->R), VD_A_I32((g)->S), \
        VD_A_I32((g)->stride_h), VD_A_I32((g)->stride_w), VD_A_I32((g)->pad_h),               \
        VD_A_I32((g)->pad_w), VD_A_I32((g)->dil_h), VD_A_I32((g)->dil_w), VD_A_I32((g)->P),   \
        VD_A_I32((g)->Q), VD_A_I32(m)

static vd_status im2col(vd_context *ctx, const vd_conv_geom *g, size_t m, cl_mem x, size_t xo,
                        cl_mem col, size_t colo)
{
    return VD_RUN1(ctx, "conv", "im2col", crs(g) * m * pq(g), GEOM_ARGS(g, m), VD_A_MEM(x),
                   VD_A_U64(xo), VD_A_MEM(col), VD_A_U64(colo));
}

vd_status vd_op_conv2d_fwd(vd_context *ctx, const vd_conv_geom *g, size_t n, size_t nb, cl_mem x,
                           size_t xo, cl_mem w, size_t wo, float beta, cl_mem y, size_t yo,
                           cl_mem ws, size_t wso)
{
    VD_NEED(ctx, x, w, y, ws);
    VD_CHECK(ctx, g && geom_ok(g), "bad convolution geometry");
    VD_CHECK(ctx, nb >= 1, "chunk of 0 images");
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, CgRS = crs(g) / G, PQ = pq(g);
    size_t chw = (size_t)g->C * (size_t)g->H * (size_t)g->W, kpq = (size_t)g->K * PQ;
    size_t t_off = wso + crs(g) * nb * PQ; /* scratch after the column matrix */
    vd_status st = VD_OK;
    for (size_t i0 = 0; i0 < n && st == VD_OK; i0 += nb) {
        size_t m = n - i0 < nb ? n - i0 : nb, L = m * PQ;
        st = im2col(ctx, g, m, x, xo + i0 * chw, ws, wso);
        /* m == 1: the GEMM writes straight into y (and applies beta there). */
        cl_mem out = m == 1 ? y : ws;
        size_t out_off = m == 1 ? yo + i0 * kpq : t_off;
        for (size_t gi = 0; gi < G && st == VD_OK; gi++)
            st = vd_gemm(ctx, false, false, Kg, L, CgRS, 1.0f, w, wo + gi * Kg * CgRS, CgRS, ws,
                         wso + gi * CgRS * L, L, m == 1 ? beta : 0.0f, out, out_off + gi * Kg * L,
                         L);
        if (st == VD_OK && m > 1)
            st = VD_RUN1(ctx, "conv", "knl_to_nchw", (size_t)g->K * L, VD_A_I32(m), VD_A_I32(g->K),
                         VD_A_U64(PQ), VD_A_MEM(ws), VD_A_U64(t_off), VD_A_F32(beta), VD_A_MEM(y),
                         VD_A_U64(yo + i0 * kpq));
    }
    return st;
}

vd_status vd_op_conv2d_bwd(vd_context *ctx, const vd_conv_geom *g, size_t n, size_t nb, cl_mem x,
                           size_t xo, cl_mem dy, size_t dyo, cl_mem w, size_t wo, cl_mem dw,
                           size_t dwo, float beta, cl_mem dx, size_t dxo, cl_mem ws, size_t wso)
{
    VD_NEED(ctx, dy, w, ws);
    VD_CHECK(ctx, !dw || x, "dw needs x");
    VD_CHECK(ctx, g && geom_ok(g), "bad convolution geometry");
    VD_CHECK(ctx, nb >= 1, "chunk of 0 images");
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, CgRS = crs(g) / G, PQ = pq(g);
    size_t chw = (size_t)g->C * (size_t)g->H * (size_t)g->W, kpq = (size_t)g->K * PQ;
    size_t t_off = wso + crs(g) * nb * PQ;
    vd_status st = VD_OK;
    for (size_t i0 = 0; i0 < n && st == VD_OK; i0 += nb) {
        size_t m = n - i0 < nb ? n - i0 : nb, L = m * PQ;
        /* dY of the chunk as (K, m*P*Q): dy itself for one image, else packed. */
        cl_mem t = m == 1 ? dy : ws;
        size_t to = m == 1 ? dyo + i0 * kpq : t_off;
        if (m > 1)
            st = VD_RUN1(ctx, "conv", "nchw_to_knl", (size_t)g->K * L, VD_A_I32(m), VD_A_I32(g->K),
                         VD_A_U64(PQ), VD_A_MEM(dy), VD_A_U64(dyo + i0 * kpq), VD_A_MEM(ws),
                         VD_A_U64(t_off));
        if (st == VD_OK && dw) {
            st = im2col(ctx, g, m, x, xo + i0 * chw, ws, wso);
            /* dW_g (Kg, CgRS) += dY_g (Kg, L) * col_g^T */
            for (size_t gi = 0; gi < G && st == VD_OK; gi++)
                st = vd_gemm(ctx, false, true, Kg, CgRS, L, 1.0f, t, to + gi * Kg * L, L, ws,
                             wso + gi * CgRS * L, L, 1.0f, dw, dwo + gi * Kg * CgRS, CgRS);
        }
        if (st == VD_OK && dx) {
            /* col_g (CgRS, L) = W_g^T * dY_g, then gather back into dx. */
            for (size_t gi = 0; gi < G && st == VD_OK; gi++)
                st = vd_gemm(ctx, true, false, CgRS, L, Kg, 1.0f, w, wo + gi * Kg * CgRS, CgRS, t,
                             to + gi * Kg * L, L, 0.0f, ws, wso + gi * CgRS * L, L);
            if (st == VD_OK)
                st = VD_RUN1(ctx, "conv", "col2im", m * chw, GEOM_ARGS(g, m), VD_A_MEM(ws),
                             VD_A_U64(wso), VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo + i0 * chw));
        }
    }
    return st;
}

vd_status vd_op_bias_nchw_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem b, size_t bo,
                              cl_mem y, size_t yo)
{
    VD_NEED(ctx, b, y);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    return VD_RUN1(ctx, "conv", "bias_nchw_fwd", n * C * HW, VD_A_U64(n), VD_A_I32(C), VD_A_U64(HW),
                   VD_A_MEM(b), VD_A_U64(bo), VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_bias_nchw_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem dy, size_t dyo,
                              cl_mem db, size_t dbo)
{
    VD_NEED(ctx, dy, db);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    size_t lsz = vd_cnn_reduce_local(ctx);
    return VD_RUN(ctx, "conv", "bias_nchw_bwd", 1, (size_t[]){C * lsz}, (size_t[]){lsz},
                  VD_A_U64(n), VD_A_I32(C), VD_A_U64(HW), VD_A_MEM(dy), VD_A_U64(dyo), VD_A_MEM(db),
                  VD_A_U64(dbo), VD_A_LOCAL(lsz * sizeof(float)));
}

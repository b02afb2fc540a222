/* conv_ops.c - im2col convolution, the algorithm that applies to every geometry: the
 * launchers for cl/conv.cl and the GEMMs between them, for forward, backward-data and
 * backward-filter of conv2d (deconv2d calls the same passes with the roles swapped), and
 * its entry in the algorithm table (vd_conv_algo_im2col, see conv_algo.h). Other
 * algorithms live in conv_<name>.c; the choice between them in conv_select.c.
 *
 * A chunk of m images is handled at once; its column matrix col is (C*R*S, L = m*P*Q).
 *   forward:  y_img,g (K/G, PQ) = W_g (K/G, C/G*R*S) * col_g[:, img*PQ, +PQ)
 *             one strided-batched GEMM per group over the m images, written straight into
 *             the NCHW output (no repacking pass);
 *   bwd-data: col_g[:, img] = W_g^T * dy_img,g (batched likewise), then col2im gathers;
 *   bwd-filter: dW_g += dY_g (K/G, L) * col_g^T, one long-k GEMM (split along k by
 *             vd_gemm) after packing dy of the chunk into (K, L) order (skipped for m = 1). */
#include "conv_algo.h"
#include "gemm.h"

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

static bool geom_ok(const vd_conv_geom *g)
{
    return g->C > 0 && g->H > 0 && g->W > 0 && g->K > 0 && g->P > 0 && g->Q > 0 && g->R > 0 &&
           g->S > 0 && g->stride_h > 0 && g->stride_w > 0 && g->pad_h >= 0 && g->pad_w >= 0 &&
           g->dil_h > 0 && g->dil_w > 0 && g->groups > 0 && g->C % g->groups == 0 &&
           g->K % g->groups == 0;
}

/* Local size for a launch over planes of d1 rows by d0 columns: whole rows in dimension 0
 * (exact, so the vectorized work-item loop has no idle lanes there), as many rows as fit
 * in dimension 1. Few, large work-groups: PoCL pays a fixed cost per work-group. */
static void plane_local(const vd_context *ctx, size_t d0, size_t d1, size_t l[3])
{
    size_t cap = ctx->max_wg < 1024 ? ctx->max_wg : 1024;
    l[0] = d0 <= cap ? d0 : 64 <= cap ? 64 : cap;
    l[1] = cap / l[0];
    if (l[1] > d1) l[1] = d1;
    if (l[1] < 1) l[1] = 1;
    l[2] = 1;
}

#define GEOM_ARGS(g, m)                                                                       \
    VD_A_I32((g)->C), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->R), VD_A_I32((g)->S), \
        VD_A_I32((g)->stride_h), VD_A_I32((g)->stride_w), VD_A_I32((g)->pad_h),               \
        VD_A_I32((g)->pad_w), VD_A_I32((g)->dil_h), VD_A_I32((g)->dil_w), VD_A_I32((g)->P),   \
        VD_A_I32((g)->Q), VD_A_I32(m)

static vd_status im2col(vd_context *ctx, const vd_conv_geom *g, size_t m, cl_mem x, size_t xo,
                        cl_mem col, size_t colo)
{
    size_t l[3], gl[3] = {(size_t)g->Q, (size_t)g->P, m * crs(g)};
    plane_local(ctx, gl[0], gl[1], l);
    return VD_RUN(ctx, "conv", "im2col", 3, gl, l, GEOM_ARGS(g, m), VD_A_MEM(x), VD_A_U64(xo),
                  VD_A_MEM(col), VD_A_U64(colo));
}

static vd_status col2im(vd_context *ctx, const vd_conv_geom *g, size_t m, cl_mem col, size_t colo,
                        float beta, cl_mem dx, size_t dxo)
{
    size_t l[3], gl[3] = {(size_t)g->W, (size_t)g->H, m * (size_t)g->C};
    plane_local(ctx, gl[0], gl[1], l);
    return VD_RUN(ctx, "conv", "col2im", 3, gl, l, GEOM_ARGS(g, m), VD_A_MEM(col), VD_A_U64(colo),
                  VD_A_F32(beta), VD_A_MEM(dx), VD_A_U64(dxo));
}

/* One pass over a chunk of m images; ws holds the column matrix, then (bwd-filter, m > 1)
 * the packed dy. */
static vd_status fwd_chunk(vd_context *ctx, const vd_conv_geom *g, size_t m, const vd_conv_io *io)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, CgRS = crs(g) / G, PQ = pq(g);
    size_t L = m * PQ;
    vd_status st = im2col(ctx, g, m, io->x, io->x_off, io->ws, io->ws_off);
    for (size_t gi = 0; gi < G && st == VD_OK; gi++)
        st = vd_gemm_batched(ctx, false, false, Kg, PQ, CgRS, 1.0f, io->w,
                             io->w_off + gi * Kg * CgRS, CgRS, 0, io->ws,
                             io->ws_off + gi * CgRS * L, L, PQ, io->beta, io->y,
                             io->y_off + gi * Kg * PQ, PQ, (size_t)g->K * PQ, m);
    return st;
}

static vd_status bwd_data_chunk(vd_context *ctx, const vd_conv_geom *g, size_t m,
                                const vd_conv_io *io)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, CgRS = crs(g) / G, PQ = pq(g);
    size_t L = m * PQ;
    vd_status st = VD_OK;
    for (size_t gi = 0; gi < G && st == VD_OK; gi++)
        st =
            vd_gemm_batched(ctx, true, false, CgRS, PQ, Kg, 1.0f, io->w, io->w_off + gi * Kg * CgRS,
                            CgRS, 0, io->dy, io->dy_off + gi * Kg * PQ, PQ, (size_t)g->K * PQ, 0.0f,
                            io->ws, io->ws_off + gi * CgRS * L, L, PQ, m);
    if (st == VD_OK) st = col2im(ctx, g, m, io->ws, io->ws_off, io->beta, io->dx, io->dx_off);
    return st;
}

static vd_status bwd_filter_chunk(vd_context *ctx, const vd_conv_geom *g, size_t m,
                                  const vd_conv_io *io)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, CgRS = crs(g) / G, PQ = pq(g);
    size_t L = m * PQ;
    /* dY of the chunk as (K, m*P*Q): dy itself for one image, else packed after col. */
    cl_mem t = m == 1 ? io->dy : io->ws;
    size_t to = m == 1 ? io->dy_off : io->ws_off + crs(g) * L;
    vd_status st = VD_OK;
    if (m > 1) {
        size_t l[3], gl[3] = {PQ, (size_t)g->K, m};
        plane_local(ctx, PQ, (size_t)g->K, l);
        st = VD_RUN(ctx, "conv", "nchw_to_knl", 3, gl, l, VD_A_I32(m), VD_A_I32(g->K), VD_A_U64(PQ),
                    VD_A_MEM(io->dy), VD_A_U64(io->dy_off), VD_A_MEM(io->ws), VD_A_U64(to));
    }
    if (st == VD_OK) st = im2col(ctx, g, m, io->x, io->x_off, io->ws, io->ws_off);
    for (size_t gi = 0; gi < G && st == VD_OK; gi++)
        st =
            vd_gemm(ctx, false, true, Kg, CgRS, L, 1.0f, t, to + gi * Kg * L, L, io->ws,
                    io->ws_off + gi * CgRS * L, L, 1.0f, io->dw, io->dw_off + gi * Kg * CgRS, CgRS);
    return st;
}

static bool im2col_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    (void)ctx;
    (void)pass;
    return geom_ok(g);
}

static size_t im2col_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                               size_t n)
{
    (void)ctx;
    size_t col = crs(g) * n * pq(g);
    return pass == VD_CONV_BWD_FILTER && n > 1 ? col + (size_t)g->K * n * pq(g) : col;
}

static vd_status im2col_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                            const vd_conv_io *io)
{
    VD_CHECK(ctx, g && io && geom_ok(g), "bad convolution geometry");
    VD_NEED(ctx, io->ws);
    if (n == 0) return VD_OK;
    switch (pass) {
    case VD_CONV_FWD: VD_NEED(ctx, io->x, io->w, io->y); return fwd_chunk(ctx, g, n, io);
    case VD_CONV_BWD_DATA:
        VD_NEED(ctx, io->dy, io->w, io->dx);
        return bwd_data_chunk(ctx, g, n, io);
    case VD_CONV_BWD_FILTER:
        VD_NEED(ctx, io->x, io->dy, io->dw);
        return bwd_filter_chunk(ctx, g, n, io);
    default: return vd_error_set(ctx, VD_ERR_INVALID_ARG, "convolution pass %d", (int)pass);
    }
}

const vd_conv_algo vd_conv_algo_im2col = {
    .name = "im2col",
    .applies = im2col_applies,
    .workspace = im2col_workspace,
    .run = im2col_run,
};

vd_status vd_op_bias_nchw_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem b, size_t bo,
                              cl_mem y, size_t yo)
{
    VD_NEED(ctx, b, y);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    size_t l[3], gl[3] = {HW, C, n};
    plane_local(ctx, HW, C, l);
    return VD_RUN(ctx, "conv", "bias_nchw_fwd", 3, gl, l, VD_A_U64(n), VD_A_I32(C), VD_A_U64(HW),
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

vd_status vd_op_bias_relu_nchw_fwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem b,
                                   size_t bo, cl_mem y, size_t yo)
{
    VD_NEED(ctx, y);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    size_t l[3], gl[3] = {HW, C, n};
    plane_local(ctx, HW, C, l);
    return VD_RUN(ctx, "conv", "bias_relu_nchw_fwd", 3, gl, l, VD_A_U64(n), VD_A_I32(C),
                  VD_A_U64(HW), VD_A_I32(b != NULL), VD_A_MEM(b ? b : y), VD_A_U64(b ? bo : 0),
                  VD_A_MEM(y), VD_A_U64(yo));
}

vd_status vd_op_relu_bias_nchw_bwd(vd_context *ctx, size_t n, size_t C, size_t HW, cl_mem y,
                                   size_t yo, cl_mem dy, size_t dyo, cl_mem db, size_t dbo)
{
    VD_NEED(ctx, y, dy);
    if (n == 0 || C == 0 || HW == 0) return VD_OK;
    if (!db) {
        size_t l[3], gl[3] = {HW, C, n};
        plane_local(ctx, HW, C, l);
        return VD_RUN(ctx, "conv", "relu_mask_nchw_bwd", 3, gl, l, VD_A_U64(n), VD_A_I32(C),
                      VD_A_U64(HW), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy), VD_A_U64(dyo));
    }
    size_t lsz = vd_cnn_reduce_local(ctx);
    return VD_RUN(ctx, "conv", "relu_mask_bias_nchw_bwd", 1, (size_t[]){C * lsz}, (size_t[]){lsz},
                  VD_A_U64(n), VD_A_I32(C), VD_A_U64(HW), VD_A_MEM(y), VD_A_U64(yo), VD_A_MEM(dy),
                  VD_A_U64(dyo), VD_A_MEM(db), VD_A_U64(dbo), VD_A_LOCAL(lsz * sizeof(float)));
}

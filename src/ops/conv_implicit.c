/* conv_implicit.c - convolution as implicit GEMM on CPU OpenCL devices: the forward pass
 * multiplies the weights by a column matrix that the GEMM kernel gathers from the input
 * into its __local B block (cl/gemm.cl, vd_gemm_pack_b_conv) instead of reading one that
 * im2col wrote to memory. On a machine whose memory bandwidth is a few GB/s, writing and
 * re-reading a column matrix 9 to 25 times the size of the input cost more than the
 * multiply itself (docs/BENCHMARKS.md). No workspace at all.
 *
 * Applies where the own GEMM kernel is the device's GEMM (vd_gemm_backend_get): to the
 * forward pass of any geometry, and to backward-data at stride 1 (with pad <= dil*(R-1)),
 * which is the forward convolution of dy with the weights flipped 180 degrees and the
 * channel roles swapped (cl/conv.cl flip_weights, the workspace), padded by
 * dil*(R-1) - pad. Not here: backward-filter (a reduction over images; im2col, Winograd,
 * direct or FFT do it). */
#include "conv_algo.h"
#include "gemm.h"

static bool bwd_data_ok(const vd_conv_geom *g)
{
    return g->stride_h == 1 && g->stride_w == 1 && g->pad_h <= g->dil_h * (g->R - 1) &&
           g->pad_w <= g->dil_w * (g->S - 1) &&
           g->H == g->P - 2 * g->pad_h + g->dil_h * (g->R - 1) &&
           g->W == g->Q - 2 * g->pad_w + g->dil_w * (g->S - 1);
}

static bool implicit_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    if ((be != VD_GEMM_BACKEND_OWN8 && be != VD_GEMM_BACKEND_OWN16) || g->groups < 1 ||
        g->C % g->groups != 0 || g->K % g->groups != 0)
        return false;
    return pass == VD_CONV_FWD || (pass == VD_CONV_BWD_DATA && bwd_data_ok(g));
}

static size_t implicit_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                                 size_t n)
{
    (void)ctx, (void)n;
    return pass == VD_CONV_BWD_DATA
               ? (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S
               : 0;
}

/* Forward convolution of src (n, Cs, Hs, Ws) into dst (n, Kd, Pd, Qd) with weights wt,
 * group by group, as implicit GEMMs. */
static vd_status implicit_fwd(vd_context *ctx, const vd_conv_geom *g, size_t n, cl_mem wt,
                              size_t wt_off, cl_mem src, size_t src_off, float beta, cl_mem dst,
                              size_t dst_off, int epi, cl_mem b, size_t b_off)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, Cg = (size_t)g->C / G;
    size_t RS = (size_t)g->R * (size_t)g->S, HW = (size_t)g->H * (size_t)g->W;
    size_t PQ = (size_t)g->P * (size_t)g->Q;
    vd_gemm_conv_geom cg = {g->H,     g->W,     g->S,     (int32_t)RS, g->stride_h, g->stride_w,
                            g->pad_h, g->pad_w, g->dil_h, g->dil_w,    g->Q};
    vd_status st = VD_OK;
    for (size_t gi = 0; gi < G && st == VD_OK; gi++)
        st = vd_gemm_conv(ctx, &cg, Kg, PQ, Cg * RS, 1.0f, wt, wt_off + gi * Kg * Cg * RS, Cg * RS,
                          src, src_off + gi * Cg * HW, (size_t)g->C * HW, beta, dst,
                          dst_off + gi * Kg * PQ, PQ, (size_t)g->K * PQ, n, epi, b,
                          b_off + gi * Kg);
    return st;
}

static vd_status implicit_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                              const vd_conv_io *io)
{
    VD_CHECK(ctx, g && io && implicit_applies(ctx, g, pass),
             "implicit convolution does not apply to this geometry and pass");
    if (pass == VD_CONV_FWD) {
        VD_NEED(ctx, io->x, io->w, io->y);
        return implicit_fwd(ctx, g, n, io->w, io->w_off, io->x, io->x_off, io->beta, io->y,
                            io->y_off, (io->b ? 1 : 0) | (io->relu ? 2 : 0), io->b, io->b_off);
    }
    VD_NEED(ctx, io->dy, io->w, io->dx, io->ws);
    size_t Cg = (size_t)(g->C / g->groups), RS = (size_t)g->R * (size_t)g->S;
    size_t gl[3] = {RS, Cg, (size_t)g->K};
    vd_status st = VD_RUN(ctx, "conv", "flip_weights", 3, gl, NULL, VD_A_I32(g->K), VD_A_I32(Cg),
                          VD_A_I32(RS), VD_A_I32(g->groups), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                          VD_A_MEM(io->ws), VD_A_U64(io->ws_off));
    /* The transposed problem: input dy (K, P, Q), output dx (C, H, W), same kernel. */
    vd_conv_geom t = {g->K,
                      g->P,
                      g->Q,
                      g->C,
                      g->H,
                      g->W,
                      g->R,
                      g->S,
                      1,
                      1,
                      g->dil_h * (g->R - 1) - g->pad_h,
                      g->dil_w * (g->S - 1) - g->pad_w,
                      g->dil_h,
                      g->dil_w,
                      g->groups};
    if (st == VD_OK)
        st = implicit_fwd(ctx, &t, n, io->ws, io->ws_off, io->dy, io->dy_off, io->beta, io->dx,
                          io->dx_off, 0, NULL, 0);
    return st;
}

const vd_conv_algo vd_conv_algo_implicit = {
    .name = "implicit",
    .applies = implicit_applies,
    .workspace = implicit_workspace,
    .run = implicit_run,
    .epilogue = true, /* the forward's bias and ReLU in the GEMM kernel (vd_gemm_epi) */
};

/* conv_implicit.c - convolution as implicit GEMM on CPU OpenCL devices: the forward pass
 * multiplies the weights by a column matrix that the GEMM kernel gathers from the input
 * into its __local B block (cl/gemm.cl, vd_gemm_pack_b_conv) instead of reading one that
 * im2col wrote to memory. On a machine whose memory bandwidth is a few GB/s, writing and
 * re-reading a column matrix 9 to 25 times the size of the input cost more than the
 * multiply itself (docs/BENCHMARKS.md). No workspace at all.
 *
 * Applies where the own GEMM kernel is the device's GEMM (vd_gemm_backend_get), to the
 * forward pass of any geometry. Not here: backward passes (im2col, Winograd or direct do
 * those). */
#include "conv_algo.h"
#include "gemm.h"

static bool implicit_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    return pass == VD_CONV_FWD && (be == VD_GEMM_BACKEND_OWN8 || be == VD_GEMM_BACKEND_OWN16) &&
           g->C % g->groups == 0 && g->K % g->groups == 0;
}

static size_t implicit_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                                 size_t n)
{
    (void)ctx, (void)g, (void)pass, (void)n;
    return 0;
}

static vd_status implicit_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                              const vd_conv_io *io)
{
    if (pass != VD_CONV_FWD)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "implicit convolution: forward pass only");
    VD_NEED(ctx, io->x, io->w, io->y);
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, Cg = (size_t)g->C / G;
    size_t RS = (size_t)g->R * (size_t)g->S, HW = (size_t)g->H * (size_t)g->W;
    size_t PQ = (size_t)g->P * (size_t)g->Q;
    vd_gemm_conv_geom cg = {g->H,        g->W,        g->S,     (int32_t)RS, g->stride_h, g->stride_w,
                            g->pad_h,    g->pad_w,    g->dil_h, g->dil_w,    g->Q};
    vd_status st = VD_OK;
    for (size_t gi = 0; gi < G && st == VD_OK; gi++)
        st = vd_gemm_conv(ctx, &cg, Kg, PQ, Cg * RS, 1.0f, io->w, io->w_off + gi * Kg * Cg * RS,
                          Cg * RS, io->x, io->x_off + gi * Cg * HW, (size_t)g->C * HW, io->beta,
                          io->y, io->y_off + gi * Kg * PQ, PQ, (size_t)g->K * PQ, n);
    return st;
}

const vd_conv_algo vd_conv_algo_implicit = {
    .name = "implicit",
    .applies = implicit_applies,
    .workspace = implicit_workspace,
    .run = implicit_run,
};

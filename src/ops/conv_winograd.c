/* conv_winograd.c - Winograd convolution F(2x2,3x3) ("winograd2") and F(4x4,3x3)
 * ("winograd4") for 3x3, stride-1, dilation-1, ungrouped convolutions with padding 0..2:
 * the forward, the backward-data and the backward-filter pass behind the vd_conv_algo
 * interface (conv_algo.h). The transforms are cl/winograd.cl (its banner has the math);
 * the alpha^2 matrix products in between go through vd_gemm, or on CPUs everything runs
 * fused (fused_ok). The forward pass applies the layer's bias and ReLU in its output store
 * (the `epilogue` of conv_algo.h). Not here: the choice of algorithm (conv_select.c),
 * chunking a batch (the layer).
 *
 * Per pass over n images, with T = n * tiles (tiles = ceil(out_h/m) * ceil(out_w/m)):
 *   FWD:        U = G w G^T (a2, K, C); V = B^T x B (a2, C, T);
 *               M_e (K, T) = U_e V_e;                  y  = beta y  + A^T M A
 *   BWD_DATA:   the same with dy as input, the weights rotated by 180 degrees and the
 *               channels swapped (M_e (C, T) = U_e^T V_e, a GEMM with op(A) transposed),
 *               padding 2 - pad, tiles over (H, W):  dx = beta dx + A^T M A
 *   BWD_FILTER: V = B^T x B (a2, C, T); Z = A dy A^T (a2, K, T);
 *               dU_e (K, C) = Z_e V_e^T (a GEMM with k = T);   dw += G^T dU G
 * (a2 = alpha^2, alpha = m + 2). The weight transform runs on every call: the weights
 * change every training step and it costs one pass over them. Workspace, in floats:
 * [U or dU | V | M or Z], a2 matrices each, about a2 * (K*C + C*T + K*T) (see estride).
 *
 * Numerics: F(2x2,3x3)'s transforms have coefficients 0, +-1, +-1/2 and lose almost
 * nothing; F(4x4,3x3)'s reach 5 and 8 in B and A and 1/24 in G, and the output is a
 * difference of larger terms, so its error is several times larger (measured in
 * tests/test_winograd.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_algo.h"
#include "gemm.h"

/* The dimensions of one pass: the "input" side (channels ci, plane hi x wi, padding) that
 * is tiled and transformed, the "output" side (co, ho x wo), and the tile grid. */
typedef struct wino_plan {
    int m, alpha, a2;
    int32_t ci, hi, wi, co, ho, wo, ph, pw;
    int32_t th, tw; /* tiles per image: th x tw */
    size_t T;       /* tiles in the chunk */
    size_t su, sv, sm;                 /* floats from one matrix e to the next in U, V, M */
    size_t u_off, v_off, m_off, total; /* workspace parts, floats from ws_off */
} wino_plan;

/* The distance between the alpha^2 matrices of a transformed tensor: the matrix size
 * rounded up to 4 KiB plus one 64-byte line. The transform kernels write (or read) all
 * alpha^2 matrices at once, one stream each; with a plain stride that is a multiple of
 * 4 KiB (C*T often is) the 16 or 36 streams fall into one L1 cache set and evict each
 * other, which made the transforms several times slower. */
static size_t estride(size_t n)
{
    return ((n + 1023) & ~(size_t)1023) + 16;
}

/* Geometry this algorithm handles; the same for every pass and tile size. */
static bool wino_geom_ok(const vd_conv_geom *g)
{
    if (!g) return false;
    if (g->R != 3 || g->S != 3 || g->stride_h != 1 || g->stride_w != 1 || g->dil_h != 1 ||
        g->dil_w != 1 || g->groups != 1)
        return false;
    if (g->C < 1 || g->K < 1 || g->H < 1 || g->W < 1 || g->pad_h < 0 || g->pad_h > 2 ||
        g->pad_w < 0 || g->pad_w > 2)
        return false;
    /* P and Q are given, not derived: they must be the stride-1 output sizes. */
    if (g->P != g->H + 2 * g->pad_h - 2 || g->Q != g->W + 2 * g->pad_w - 2 || g->P < 1 ||
        g->Q < 1)
        return false;
    /* Plane offsets in the kernels are 32-bit. */
    return (int64_t)g->H * g->W < INT32_MAX && (int64_t)g->P * g->Q < INT32_MAX;
}

static void plan_make(const vd_conv_geom *g, vd_conv_pass pass, size_t n, int m, wino_plan *p)
{
    p->m = m, p->alpha = m + 2, p->a2 = p->alpha * p->alpha;
    if (pass == VD_CONV_BWD_DATA) { /* convolve dy (K, P, Q) into dx (C, H, W) */
        p->ci = g->K, p->hi = g->P, p->wi = g->Q, p->co = g->C, p->ho = g->H, p->wo = g->W;
        p->ph = 2 - g->pad_h, p->pw = 2 - g->pad_w;
    } else {
        p->ci = g->C, p->hi = g->H, p->wi = g->W, p->co = g->K, p->ho = g->P, p->wo = g->Q;
        p->ph = g->pad_h, p->pw = g->pad_w;
    }
    p->th = (p->ho + m - 1) / m, p->tw = (p->wo + m - 1) / m;
    p->T = n * (size_t)p->th * (size_t)p->tw;
    size_t a2 = (size_t)p->a2;
    p->su = estride((size_t)g->K * (size_t)g->C);
    p->sv = estride((size_t)p->ci * p->T);
    p->sm = estride((size_t)p->co * p->T);
    p->u_off = 0;
    p->v_off = a2 * p->su;
    p->m_off = p->v_off + a2 * p->sv;
    p->total = p->m_off + a2 * p->sm;
}

/* Whether the pass runs fused (cl/winograd.cl: winoX_wpack + winoX_fused forward and
 * backward data, winoX_fused_wgrad + winoX_wgrad backward filter): on devices whose GEMM is
 * Verdant's own kernel (CPUs, where the transformed tensors' trips through memory cost
 * more than the products), when the kernels' __local arrays fit the device's local memory
 * and the per-image offsets fit their arithmetic. Elsewhere (GPUs: CLBlast) the unfused
 * path runs; VERDANT_WINO_FUSED=0 forces it (tests, benchmarks). For backward filter the
 * value is the tiles per block (32, 16 or 8, the most that fit), else 1 or 0. */
static int fused_ok(const vd_context *ctx, const wino_plan *p, vd_conv_pass pass, size_t n)
{
    if (!ctx) return 0;
    const char *env = getenv("VERDANT_WINO_FUSED");
    if (env && !strcmp(env, "0")) return 0;
    if (!ctx->dev.wino_fused) return 0; /* the device profile (GPU: unfused) */
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    if (be != VD_GEMM_BACKEND_OWN8 && be != VD_GEMM_BACKEND_OWN16) return 0;
    if (p->T >= (size_t)INT32_MAX ||
        n * (size_t)p->ci * (size_t)p->hi * (size_t)p->wi >= (size_t)INT32_MAX ||
        n * (size_t)p->co * (size_t)p->ho * (size_t)p->wo >= (size_t)INT32_MAX)
        return 0;
    size_t a2 = (size_t)p->a2, have = ctx->dev.local_mem;
    if (pass != VD_CONV_BWD_FILTER)
        return sizeof(float) * a2 * 16 * ((size_t)p->ci + 8) <= have;
    size_t c16 = ((size_t)p->ci + 15) / 16 * 16, k16 = ((size_t)p->co + 15) / 16 * 16;
    for (int tb = 32; tb >= 8; tb /= 2)
        if (sizeof(float) * a2 * (size_t)tb * (c16 + k16) <= have) return tb;
    return 0;
}

/* Fused backward filter: slabs (one per compute unit, at most one per block) of
 * a2 x (K rounded up to 8) x (C rounded up to 16) partial sums. */
static size_t wgrad_slabs(const vd_context *ctx, const wino_plan *p, int tb)
{
    size_t cores = ctx->info.compute_units > 0 ? (size_t)ctx->info.compute_units : 1;
    size_t blocks = (p->T + (size_t)tb - 1) / (size_t)tb;
    return blocks < cores ? blocks : cores;
}

static size_t wgrad_slab_floats(const wino_plan *p)
{
    return (size_t)p->a2 * (((size_t)p->co + 7) / 8 * 8) * (((size_t)p->ci + 15) / 16 * 16);
}

static bool wino_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    return ctx && pass >= VD_CONV_FWD && pass < VD_CONV_N_PASSES && wino_geom_ok(g);
}

/* The fused path's workspace: the packed weights, a2 matrices (co rounded up to 8, ci). */
static size_t fused_estride(const wino_plan *p)
{
    return estride((size_t)(p->co + 7) / 8 * 8 * (size_t)p->ci);
}

static size_t wino_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                             size_t n, int m)
{
    if (!wino_geom_ok(g) || pass < VD_CONV_FWD || pass >= VD_CONV_N_PASSES || n == 0) return 0;
    wino_plan p;
    plan_make(g, pass, n, m, &p);
    int tb = fused_ok(ctx, &p, pass, n);
    if (!tb) return p.total;
    return pass == VD_CONV_BWD_FILTER ? wgrad_slabs(ctx, &p, tb) * wgrad_slab_floats(&p)
                                      : (size_t)p.a2 * fused_estride(&p);
}

static vd_status wino_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                          const vd_conv_io *io, int m)
{
    const char *name = m == 2 ? "winograd2" : "winograd4";
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: NULL context", name);
    if (!io) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: NULL io", name);
    if (pass < VD_CONV_FWD || pass >= VD_CONV_N_PASSES)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: unknown pass %d", name, (int)pass);
    if (!wino_geom_ok(g))
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "%s: needs a 3x3 stride-1 dilation-1 ungrouped convolution with "
                            "padding 0..2 and P = H + 2*pad - 2",
                            name);
    bool have = pass == VD_CONV_FWD        ? io->x && io->w && io->y
                : pass == VD_CONV_BWD_DATA ? io->dy && io->w && io->dx
                                           : io->x && io->dy && io->dw;
    if (!have || !io->ws)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: NULL buffer for pass %d", name,
                            (int)pass);
    if (n == 0) return VD_OK;
    wino_plan p;
    plan_make(g, pass, n, m, &p);
    /* The kernels index tiles with 32-bit integers and vd_gemm takes sizes below 2^31. */
    if (p.T * (size_t)(p.ci > p.co ? p.ci : p.co) >= (size_t)INT32_MAX)
        return vd_error_set(ctx, VD_ERR_SHAPE, "%s: %zu tiles x %d channels is too large a chunk",
                            name, p.T, p.ci > p.co ? p.ci : p.co);
    char kn[32];
    size_t K = (size_t)g->K, C = (size_t)g->C, T = p.T, a2 = (size_t)p.a2;
    size_t u = io->ws_off + p.u_off, v = io->ws_off + p.v_off, mo = io->ws_off + p.m_off;
    vd_status st = VD_OK;
    int tb = fused_ok(ctx, &p, pass, n); /* 0: unfused; backward filter: tiles per block */

    if (pass == VD_CONV_BWD_FILTER && tb) {
        size_t nz = wgrad_slabs(ctx, &p, tb), zs = wgrad_slab_floats(&p);
        size_t k8 = (K + 7) / 8 * 8, c16 = (C + 15) / 16 * 16, k16 = (K + 15) / 16 * 16;
        static const size_t one[1] = {1};
        snprintf(kn, sizeof kn, "wino%d_fused_wgrad", m);
        VD_TRY(VD_RUN(ctx, "winograd", kn, 1, ((size_t[]){nz}), one, VD_A_U32(T),
                      VD_A_I32(g->C), VD_A_I32(g->H), VD_A_I32(g->W), VD_A_I32(g->pad_h),
                      VD_A_I32(g->pad_w), VD_A_I32(g->K), VD_A_I32(g->P), VD_A_I32(g->Q),
                      VD_A_I32(p.th), VD_A_I32(p.tw), VD_A_I32(tb), VD_A_U32(nz),
                      VD_A_MEM(io->x), VD_A_U64(io->x_off), VD_A_MEM(io->dy),
                      VD_A_U64(io->dy_off), VD_A_MEM(io->ws), VD_A_U64(io->ws_off), VD_A_U64(zs),
                      VD_A_LOCAL(sizeof(float) * a2 * (size_t)tb * c16),
                      VD_A_LOCAL(sizeof(float) * a2 * (size_t)tb * k16)));
        snprintf(kn, sizeof kn, "wino%d_wgrad", m);
        VD_TRY(VD_RUN1(ctx, "winograd", kn, K * C, VD_A_I32(g->K), VD_A_I32(g->C),
                       VD_A_I32(c16), VD_A_U32(nz), VD_A_U64(zs), VD_A_MEM(io->ws),
                       VD_A_U64(io->ws_off), VD_A_U64(k8 * c16), VD_A_MEM(io->dw),
                       VD_A_U64(io->dw_off)));
        return VD_OK;
    }
    if (pass == VD_CONV_BWD_FILTER) {
        size_t rows = n * C * (size_t)p.th;
        snprintf(kn, sizeof kn, "wino%d_input", m);
        VD_TRY(VD_RUN1(ctx, "winograd", kn, rows, VD_A_U32(rows), VD_A_I32(g->C), VD_A_I32(g->H),
                       VD_A_I32(g->W), VD_A_I32(g->pad_h), VD_A_I32(g->pad_w), VD_A_I32(p.th),
                       VD_A_I32(p.tw), VD_A_U32(T), VD_A_MEM(io->x), VD_A_U64(io->x_off),
                       VD_A_MEM(io->ws), VD_A_U64(v), VD_A_U64(p.sv)));
        snprintf(kn, sizeof kn, "wino%d_dy", m);
        VD_TRY(VD_RUN(ctx, "winograd", kn, 2, ((size_t[]){T, K}), NULL, VD_A_I32(g->K),
                      VD_A_I32(g->P), VD_A_I32(g->Q), VD_A_I32(p.th), VD_A_I32(p.tw),
                      VD_A_U32(T), VD_A_MEM(io->dy), VD_A_U64(io->dy_off), VD_A_MEM(io->ws),
                      VD_A_U64(mo), VD_A_U64(p.sm)));
        /* dU_e (K, C) = Z_e (K, T) * V_e^T */
        VD_TRY(vd_gemm_batched(ctx, false, true, K, C, T, 1.0f, io->ws, mo, T, p.sm, io->ws, v,
                               T, p.sv, 0.0f, io->ws, u, C, p.su, a2));
        snprintf(kn, sizeof kn, "wino%d_wgrad", m);
        VD_TRY(VD_RUN1(ctx, "winograd", kn, K * C, VD_A_I32(g->K), VD_A_I32(g->C),
                       VD_A_I32(g->C), VD_A_U32(1), VD_A_U64(0), VD_A_MEM(io->ws),
                       VD_A_U64(u), VD_A_U64(p.su), VD_A_MEM(io->dw),
                       VD_A_U64(io->dw_off)));
        return VD_OK;
    }

    bool fwd = pass == VD_CONV_FWD;
    cl_mem in = fwd ? io->x : io->dy, out = fwd ? io->y : io->dx;
    size_t in_off = fwd ? io->x_off : io->dy_off, out_off = fwd ? io->y_off : io->dx_off;
    size_t ci = (size_t)p.ci, co = (size_t)p.co;
    /* The forward epilogue (conv_algo.h): + b, ReLU, in the output store. */
    int epi = fwd ? (io->b ? 1 : 0) | (io->relu ? 2 : 0) : 0;
    cl_mem bm = io->b ? io->b : out;
    size_t bo = io->b ? io->b_off : 0;
    if (tb) {
        size_t es = fused_estride(&p), co8 = (co + 7) / 8 * 8, blocks = (T + 15) / 16;
        snprintf(kn, sizeof kn, "wino%d_wpack", m);
        if (!io->w_ready) /* the packed weights: the start of ws, the same for every chunk */
            VD_TRY(VD_RUN1(ctx, "winograd", kn, co8 * ci, VD_A_I32(g->K), VD_A_I32(g->C),
                           VD_A_I32(!fwd), VD_A_I32(co8), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                           VD_A_MEM(io->ws), VD_A_U64(io->ws_off), VD_A_U64(es)));
        snprintf(kn, sizeof kn, "wino%d_fused", m);
        static const size_t one[1] = {1};
        VD_TRY(VD_RUN(ctx, "winograd", kn, 1, ((size_t[]){blocks}), one, VD_A_U32(T),
                      VD_A_I32(p.ci), VD_A_I32(p.hi), VD_A_I32(p.wi), VD_A_I32(p.ph),
                      VD_A_I32(p.pw), VD_A_I32(p.co), VD_A_I32(p.ho), VD_A_I32(p.wo),
                      VD_A_I32(p.th), VD_A_I32(p.tw), VD_A_MEM(in), VD_A_U64(in_off),
                      VD_A_MEM(io->ws), VD_A_U64(io->ws_off), VD_A_U64(es), VD_A_F32(io->beta),
                      VD_A_I32(epi), VD_A_MEM(bm), VD_A_U64(bo), VD_A_MEM(out), VD_A_U64(out_off),
                      VD_A_LOCAL(sizeof(float) * a2 * ci * 16),
                      VD_A_LOCAL(sizeof(float) * a2 * 8 * 16)));
        return VD_OK;
    }
    snprintf(kn, sizeof kn, "wino%d_weight", m);
    if (!io->w_ready) /* U: the start of ws, the same for every chunk */
        VD_TRY(VD_RUN1(ctx, "winograd", kn, K * C, VD_A_I32(g->K), VD_A_I32(g->C), VD_A_I32(!fwd),
                       VD_A_MEM(io->w), VD_A_U64(io->w_off), VD_A_MEM(io->ws), VD_A_U64(u),
                       VD_A_U64(p.su)));
    snprintf(kn, sizeof kn, "wino%d_input", m);
    VD_TRY(VD_RUN1(ctx, "winograd", kn, n * ci * (size_t)p.th, VD_A_U32(n * ci * (size_t)p.th),
                   VD_A_I32(p.ci), VD_A_I32(p.hi), VD_A_I32(p.wi), VD_A_I32(p.ph), VD_A_I32(p.pw),
                   VD_A_I32(p.th), VD_A_I32(p.tw), VD_A_U32(T), VD_A_MEM(in), VD_A_U64(in_off),
                   VD_A_MEM(io->ws), VD_A_U64(v), VD_A_U64(p.sv)));
    /* FWD: M_e (K, T) = U_e (K, C) V_e (C, T); BWD_DATA: M_e (C, T) = U_e^T V_e (K, T). */
    VD_TRY(vd_gemm_batched(ctx, !fwd, false, co, T, ci, 1.0f, io->ws, u, C, p.su, io->ws, v, T,
                           p.sv, 0.0f, io->ws, mo, T, p.sm, a2));
    snprintf(kn, sizeof kn, "wino%d_output", m);
    VD_TRY(VD_RUN1(ctx, "winograd", kn, n * co * (size_t)p.th, VD_A_U32(n * co * (size_t)p.th),
                   VD_A_I32(p.co), VD_A_I32(p.ho), VD_A_I32(p.wo), VD_A_I32(p.th), VD_A_I32(p.tw),
                   VD_A_U32(T), VD_A_MEM(io->ws), VD_A_U64(mo), VD_A_U64(p.sm), VD_A_F32(io->beta),
                   VD_A_I32(epi), VD_A_MEM(bm), VD_A_U64(bo), VD_A_MEM(out), VD_A_U64(out_off)));
done:
    return st;
}

static size_t wino2_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                              size_t n)
{
    return wino_workspace(ctx, g, pass, n, 2);
}

static size_t wino4_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                              size_t n)
{
    return wino_workspace(ctx, g, pass, n, 4);
}

static vd_status wino2_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                           const vd_conv_io *io)
{
    return wino_run(ctx, g, pass, n, io, 2);
}

static vd_status wino4_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                           const vd_conv_io *io)
{
    return wino_run(ctx, g, pass, n, io, 4);
}

/* epilogue: the forward pass applies the layer's bias and ReLU in its output store. */
const vd_conv_algo vd_conv_algo_winograd2 = {"winograd2", wino_applies, wino2_workspace, wino2_run,
                                             true};
const vd_conv_algo vd_conv_algo_winograd4 = {"winograd4", wino_applies, wino4_workspace, wino4_run,
                                             true};

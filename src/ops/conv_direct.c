/* conv_direct.c - the "direct" convolution algorithm: launchers for cl/conv_direct.cl and
 * its entry in the algorithm table (vd_conv_algo_direct, see conv_algo.h).
 *
 * It applies where im2col wastes most: few input channels per group (C/groups <= 16, e.g.
 * the first layer on grey or RGB images, where the column matrix is R*S times the input
 * and the GEMM is too thin to run fast) and depthwise layers (groups == C, which im2col
 * turns into one tiny GEMM per group). All three passes, any stride, padding, dilation
 * and groups; no workspace. Not here: 1x1 convolutions (they are a plain GEMM, which
 * im2col already runs without a copy worth removing), the choice between algorithms
 * (conv_select.c). */
#include <stdlib.h>
#include <string.h>

#include "conv_algo.h"

/* The most input channels per group this algorithm takes: the kernels handle any number,
 * but with more, im2col's GEMM has enough depth to win. 16, not 4: LeNet-5's second layer
 * (6 -> 16 channels, 5x5 on 14x14) ran its backward passes through im2col at 3-6 GFLOP/s
 * (two thirds of LeNet's step), where direct measured 2-3x faster; the choice between
 * them stays with the measurement (conv_select.c). */
#define DIRECT_MAX_CG 16

static bool geom_valid(const vd_conv_geom *g)
{
    return g && g->C > 0 && g->H > 0 && g->W > 0 && g->K > 0 && g->P > 0 && g->Q > 0 && g->R > 0 &&
           g->S > 0 && g->stride_h > 0 && g->stride_w > 0 && g->pad_h >= 0 && g->pad_w >= 0 &&
           g->dil_h > 0 && g->dil_w > 0 && g->groups > 0 && g->C % g->groups == 0 &&
           g->K % g->groups == 0;
}

static size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

static size_t max2(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The __local planes a pass stages (see cl/conv_direct.cl), in floats. */
typedef struct direct_dims {
    size_t Hs, Ws;   /* staged plane: x padded (FWD, BWD_FILTER) or dy spread (BWD_DATA) */
    size_t Q8, W8;   /* output / input row lengths rounded up to 8 */
    size_t local[3]; /* floats of each __local argument (0: unused) */
    size_t total;    /* sum of local[] */
} direct_dims;

static void dims_of(const vd_conv_geom *g, vd_conv_pass pass, direct_dims *d)
{
    size_t H = (size_t)g->H, W = (size_t)g->W, P = (size_t)g->P, Q = (size_t)g->Q;
    size_t R = (size_t)g->R, S = (size_t)g->S, Cg = (size_t)(g->C / g->groups);
    size_t sh = (size_t)g->stride_h, sw = (size_t)g->stride_w;
    size_t dh = (size_t)g->dil_h, dw = (size_t)g->dil_w;
    memset(d, 0, sizeof(*d));
    d->Q8 = round_up(Q, 8), d->W8 = round_up(W, 8);
    if (pass == VD_CONV_BWD_DATA) {
        d->Hs = H + (R - 1) * dh;
        d->Ws = d->W8 + (S - 1) * dw;
        d->local[0] = d->Hs * d->Ws, d->local[1] = Cg * H * d->W8;
    } else {
        d->Hs = max2((size_t)g->pad_h + H, (P - 1) * sh + (R - 1) * dh + 1);
        /* The forward kernel computes 16 columns per step (two float8 blocks sharing each
         * weight load), so its staged rows cover round_up(Q, 16) outputs. */
        size_t qs = pass == VD_CONV_FWD ? round_up(Q, 16) : d->Q8;
        d->Ws = max2((size_t)g->pad_w + W, (qs - 1) * sw + (S - 1) * dw + 1);
        /* Backward filter: direct_bwd_filter's 3x3 and 5x5 paths read 16 columns from each
         * block of 8 (vload16 at q0 <= Q8 - 8), so staged rows are >= Q8 + 8 wide (zeros). */
        if (pass == VD_CONV_BWD_FILTER) d->Ws = max2(d->Ws, d->Q8 + 8);
        if (pass == VD_CONV_FWD) d->local[0] = Cg * d->Hs * d->Ws;
        else d->local[0] = d->Hs * d->Ws, d->local[1] = P * d->Q8, d->local[2] = R * S * 8;
    }
    d->total = d->local[0] + d->local[1] + d->local[2];
}

/* Backward-data at stride 1 and dilation 1 is a forward convolution: dx = dy (*) W' with
 * W'[c][k][r][s] = W[k][c][R-1-r][S-1-s] (input and output channels swapped within each
 * group, taps turned by 180 degrees) and padding R-1-pad. Run that way it gets the forward
 * kernel's register accumulators instead of direct_bwd_data's sums in __local memory, but
 * also multiplies the padding's zeros: on LeNet-5's conv2 (6 <- 16 channels, 5x5 on 14x14)
 * 1.19-1.28 ms against 1.59 (verdant bench --layers). *t is that forward geometry. */
static bool bwd_data_as_fwd(const vd_conv_geom *g, vd_conv_geom *t)
{
    /* The forward kernel blocks output channels by 4 or 8 in registers: with fewer than 4
     * (here Cg, the input channels of the layer) it runs one at a time and loses to
     * direct_bwd_data (LeNet-5's first layer, Cg = 1: 0.67 against 0.45 ms). */
    if (g->stride_h != 1 || g->stride_w != 1 || g->dil_h != 1 || g->dil_w != 1 ||
        g->pad_h > g->R - 1 || g->pad_w > g->S - 1 || g->K / g->groups > DIRECT_MAX_CG ||
        g->C / g->groups < 4)
        return false;
    *t = *g;
    t->C = g->K, t->K = g->C;
    t->H = g->P, t->W = g->Q, t->P = g->H, t->Q = g->W;
    t->pad_h = g->R - 1 - g->pad_h, t->pad_w = g->S - 1 - g->pad_w;
    return true;
}

static bool fits(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    direct_dims d;
    dims_of(g, pass, &d);
    return d.total * sizeof(float) + 1024 <= ctx->dev.local_mem;
}

/* Whether backward-data runs as a forward convolution here (see bwd_data_as_fwd). */
static bool use_fwd_for_bwd(const vd_context *ctx, const vd_conv_geom *g, vd_conv_geom *t)
{
    return bwd_data_as_fwd(g, t) && fits(ctx, t, VD_CONV_FWD);
}

static bool direct_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    if (!ctx || !geom_valid(g) || (int)pass < 0 || (int)pass >= (int)VD_CONV_N_PASSES) return false;
    if (g->C / g->groups > DIRECT_MAX_CG) return false;
    /* Planes and rows are indexed with 32-bit ints in the kernels. */
    if ((size_t)g->H * (size_t)g->W > INT32_MAX / 2 || (size_t)g->P * (size_t)g->Q > INT32_MAX / 2)
        return false;
    vd_conv_geom t;
    if (pass == VD_CONV_BWD_DATA && use_fwd_for_bwd(ctx, g, &t)) return true;
    return fits(ctx, g, pass);
}

/* The output channels per work-group of direct_fwd_k<kb> for Kg channels per group: 8, or
 * 6 for exactly 6 (LeNet-5's first layer, which as two blocks of 4 computed 8 channels for
 * 6), else the smallest of 1, 2, 4 that covers Kg. */
static size_t fwd_kb(size_t Kg)
{
    return Kg >= 8 ? 8 : Kg == 6 ? 6 : Kg > 2 ? 4 : Kg;
}

/* Which forward kernel runs g: 0 for direct_fwd_k<kb> (output columns along the vector
 * lanes, 16 per step), else KV for direct_fwd_v<KV> (KV output channels along the lanes,
 * blocks of 8 pixels of the flattened output plane; cl/conv_direct.cl). Both are bound by
 * loads more than by FMAs on CPUs: direct_fwd_k issues 1/kb + 1/2 loads per FMA (one input
 * vector per kb channels, one weight per two column blocks), direct_fwd_v 1 + 1/8 (an
 * input value broadcast for every FMA, one weight vector per 8 pixels). Each wastes lanes
 * on a different remainder: direct_fwd_k on round_up(Q, 16) - Q columns and on the empty
 * channels of its last block, direct_fwd_v on the empty lanes of its last channel block
 * (and at most 7 pixels per plane). The kernel with more useful MACs per load runs. KV is
 * 16 where the device's native float vectors are that wide (AVX-512) and the group has
 * more than 8 channels, else 8. Measured (convalgo_bench --only lenet --passes fwd --n 64,
 * AVX-512 Xeon, PoCL): LeNet-5's c2 (Q = 10, 16 channels) 0.58 ms with direct_fwd_v16
 * against 0.73 with direct_fwd_k8, as the model says; its c1 (K = 6, Q = 28) 0.75 ms with
 * direct_fwd_v8 against 0.49, where counting wasted lanes alone had picked direct_fwd_v8.
 * VERDANT_DIRECT_FWD=rows|lanes|lanes8|lanes16 forces one (tests, benchmarks; lanes: the KV
 * above). */
static int fwd_lanes(const vd_context *ctx, const vd_conv_geom *g)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, Q = (size_t)g->Q;
    size_t PQ = (size_t)g->P * Q;
    size_t kv = ctx->dev.vec_width >= 16 && Kg > 8 ? 16 : 8;
    const char *env = getenv("VERDANT_DIRECT_FWD");
    if (env && strcmp(env, "rows") == 0) return 0;
    if (env && strcmp(env, "lanes") == 0) return (int)kv;
    if (env && strcmp(env, "lanes8") == 0) return 8;
    if (env && strcmp(env, "lanes16") == 0) return 16;
    size_t kb = fwd_kb(Kg);
    double rows = 8.0 * (double)Kg / (double)round_up(Kg, kb) * (double)Q /
                  (double)round_up(Q, 16) / (1.0 / (double)kb + 0.5);
    double lanes = (double)kv * (double)Kg / (double)round_up(Kg, kv) * (double)PQ /
                   (double)round_up(PQ, 8) / (1.0 + 1.0 / 8.0);
    return lanes > rows ? (int)kv : 0;
}

/* Floats of direct_fwd_v<kv>'s packed weights. */
static size_t packed_floats(const vd_conv_geom *g, size_t kv)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, Cg = (size_t)g->C / G;
    return G * round_up(Kg, kv) * Cg * (size_t)g->R * (size_t)g->S;
}

/* Backward-data run as a forward convolution keeps W' (K*Cg*R*S floats) in the workspace,
 * the forward with direct_fwd_v its packed weights; nothing else needs one. */
static size_t direct_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                               size_t n)
{
    (void)n;
    vd_conv_geom t;
    if (!ctx || !geom_valid(g)) return 0;
    if (pass == VD_CONV_FWD) {
        int kv = fwd_lanes(ctx, g);
        return kv ? packed_floats(g, (size_t)kv) : 0;
    }
    if (pass != VD_CONV_BWD_DATA || !use_fwd_for_bwd(ctx, g, &t)) return 0;
    return (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S;
}

#define GEOM_ARGS(g, n)                                                                           \
    VD_A_I32((g)->C), VD_A_I32((g)->H), VD_A_I32((g)->W), VD_A_I32((g)->K), VD_A_I32((g)->R),     \
        VD_A_I32((g)->S), VD_A_I32((g)->stride_h), VD_A_I32((g)->stride_w), VD_A_I32((g)->pad_h), \
        VD_A_I32((g)->pad_w), VD_A_I32((g)->dil_h), VD_A_I32((g)->dil_w), VD_A_I32((g)->P),       \
        VD_A_I32((g)->Q), VD_A_I32((g)->groups), VD_A_I32(n)

/* The forward kernel over n images: y = beta*y + x (*) w, then the epilogue (epi bit 0: +b,
 * bit 1: ReLU). */
static vd_status run_fwd(vd_context *ctx, const vd_conv_geom *g, size_t n, cl_mem x, size_t xo,
                         cl_mem w, size_t wo, float beta, cl_mem y, size_t yo, int epi, cl_mem b,
                         size_t bo)
{
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G;
    size_t kb = fwd_kb(Kg); /* direct_fwd_k<kb> */
    size_t nkb = (Kg + kb - 1) / kb;
    VD_CHECK(ctx, n <= INT32_MAX / (G * nkb), "batch too large for 32-bit kernel indices");
    direct_dims d;
    dims_of(g, VD_CONV_FWD, &d);
    size_t one[1] = {1}, global[1] = {n * G * nkb};
    const char *name = kb == 8   ? "direct_fwd_k8"
                       : kb == 6 ? "direct_fwd_k6"
                       : kb == 4 ? "direct_fwd_k4"
                       : kb == 2 ? "direct_fwd_k2"
                                 : "direct_fwd_k1";
    return VD_RUN(ctx, "conv_direct", name, 1, global, one, GEOM_ARGS(g, (int32_t)n), VD_A_MEM(x),
                  VD_A_U64(xo), VD_A_MEM(w), VD_A_U64(wo), VD_A_F32(beta), VD_A_MEM(y),
                  VD_A_U64(yo), VD_A_LOCAL(d.local[0] * sizeof(float)), VD_A_I32(d.Hs),
                  VD_A_I32(d.Ws), VD_A_I32(epi), VD_A_MEM(b ? b : y), VD_A_U64(b ? bo : 0));
}

static vd_status direct_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                            const vd_conv_io *io)
{
    VD_CHECK(NULL, ctx != NULL, "NULL context");
    VD_CHECK(ctx, io != NULL, "NULL io");
    VD_CHECK(ctx, geom_valid(g), "bad convolution geometry");
    VD_CHECK(ctx, direct_applies(ctx, g, pass),
             "direct convolution needs C/groups <= 16, a known pass and planes that fit in "
             "local memory");
    size_t G = (size_t)g->groups, Kg = (size_t)g->K / G, Cg = (size_t)g->C / G;
    size_t kb = fwd_kb(Kg); /* direct_fwd_k<kb> */
    size_t nkb = (Kg + kb - 1) / kb;
    /* Work-group counts are 32-bit in the kernels. */
    VD_CHECK(ctx, n <= INT32_MAX / (G * nkb) && (size_t)g->K * Cg <= INT32_MAX,
             "batch too large for 32-bit kernel indices");
    if (n == 0) return VD_OK;
    int32_t ni = (int32_t)n;
    direct_dims d;
    dims_of(g, pass, &d);
    size_t one[1] = {1};
    switch (pass) {
    case VD_CONV_FWD: {
        VD_NEED(ctx, io->x, io->w, io->y);
        int kv = fwd_lanes(ctx, g);
        if (kv) {
            VD_NEED(ctx, io->ws);
            if (!io->w_ready) { /* the packed weights: the start of ws, the same every chunk */
                size_t nwp = packed_floats(g, (size_t)kv);
                vd_status st = VD_RUN1(ctx, "conv_direct", "direct_pack_weights_v", nwp,
                                       VD_A_U64(nwp), VD_A_I32((int32_t)Kg),
                                       VD_A_I32((int32_t)(Cg * (size_t)g->R * (size_t)g->S)),
                                       VD_A_I32(kv), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                                       VD_A_MEM(io->ws), VD_A_U64(io->ws_off));
                if (st != VD_OK) return st;
            }
            size_t nkv = (Kg + (size_t)kv - 1) / (size_t)kv;
            size_t global[1] = {n * G * nkv};
            bool epi_b = io->b != NULL;
            return VD_RUN(ctx, "conv_direct", kv == 16 ? "direct_fwd_v16" : "direct_fwd_v8", 1,
                          global, one, GEOM_ARGS(g, ni), VD_A_MEM(io->x), VD_A_U64(io->x_off),
                          VD_A_MEM(io->ws), VD_A_U64(io->ws_off), VD_A_F32(io->beta),
                          VD_A_MEM(io->y), VD_A_U64(io->y_off),
                          VD_A_LOCAL(d.local[0] * sizeof(float)), VD_A_I32(d.Hs), VD_A_I32(d.Ws),
                          VD_A_I32((epi_b ? 1 : 0) | (io->relu ? 2 : 0)),
                          VD_A_MEM(epi_b ? io->b : io->y), VD_A_U64(epi_b ? io->b_off : 0));
        }
        return run_fwd(ctx, g, n, io->x, io->x_off, io->w, io->w_off, io->beta, io->y, io->y_off,
                       (io->b ? 1 : 0) | (io->relu ? 2 : 0), io->b, io->b_off);
    }
    case VD_CONV_BWD_DATA: {
        VD_NEED(ctx, io->dy, io->w, io->dx);
        vd_conv_geom t;
        if (use_fwd_for_bwd(ctx, g, &t)) {
            VD_NEED(ctx, io->ws);
            size_t taps = (size_t)g->R * (size_t)g->S, nw = (size_t)g->K * Cg * taps;
            vd_status st = VD_RUN1(ctx, "conv_direct", "direct_flip_weights", nw, VD_A_U64(nw),
                                   VD_A_I32((int32_t)Cg), VD_A_I32((int32_t)Kg),
                                   VD_A_I32((int32_t)taps), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                                   VD_A_MEM(io->ws), VD_A_U64(io->ws_off));
            if (st != VD_OK) return st;
            return run_fwd(ctx, &t, n, io->dy, io->dy_off, io->ws, io->ws_off, io->beta, io->dx,
                           io->dx_off, 0, NULL, 0);
        }
        size_t global[1] = {n * G};
        return VD_RUN(ctx, "conv_direct", "direct_bwd_data", 1, global, one, GEOM_ARGS(g, ni),
                      VD_A_MEM(io->dy), VD_A_U64(io->dy_off), VD_A_MEM(io->w), VD_A_U64(io->w_off),
                      VD_A_F32(io->beta), VD_A_MEM(io->dx), VD_A_U64(io->dx_off),
                      VD_A_LOCAL(d.local[0] * sizeof(float)),
                      VD_A_LOCAL(d.local[1] * sizeof(float)), VD_A_I32(d.Hs), VD_A_I32(d.Ws),
                      VD_A_I32(d.W8));
    }
    case VD_CONV_BWD_FILTER: {
        VD_NEED(ctx, io->x, io->dy, io->dw);
        size_t global[1] = {(size_t)g->K * Cg};
        return VD_RUN(
            ctx, "conv_direct", "direct_bwd_filter", 1, global, one, GEOM_ARGS(g, ni),
            VD_A_MEM(io->x), VD_A_U64(io->x_off), VD_A_MEM(io->dy), VD_A_U64(io->dy_off),
            VD_A_MEM(io->dw), VD_A_U64(io->dw_off), VD_A_LOCAL(d.local[0] * sizeof(float)),
            VD_A_LOCAL(d.local[1] * sizeof(float)), VD_A_LOCAL(d.local[2] * sizeof(float)),
            VD_A_I32(d.Hs), VD_A_I32(d.Ws), VD_A_I32(d.Q8));
    }
    default: return VD_INTERNAL(ctx, "unknown convolution pass");
    }
}

const vd_conv_algo vd_conv_algo_direct = {
    .name = "direct",
    .applies = direct_applies,
    .workspace = direct_workspace,
    .run = direct_run,
    .epilogue = true,
};

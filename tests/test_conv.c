/* test_conv.c - conv2d and deconv2d on the device against tests/ref/conv_ref.c.
 *
 * Two levels: the layers through their vtable (reshape, forward, backward twice: beta = 0
 * on a dx full of NaN, then beta = 1, with dW and db accumulating), on buffers at odd
 * offsets with guard zones; and the im2col algorithm (vd_conv_run_batch) with an explicit
 * chunk of 2 images on a batch of 3, so both the one-image path (GEMM straight into NCHW)
 * and the packed multi-image path run. Shapes: stride 2, padding, dilation 2, groups 2,
 * depthwise, 1x1, 5x5, non-square kernels, sizes that are not multiples of 64, batch 1
 * and 3. Also bad options and shapes.
 *
 * relu = 1 (the fused epilogue): the same layer checks with ReLU applied to the reference's
 * output, and the reference's backward fed dy masked where the device's y <= 0 (the mask
 * is the layer's y; masking by the reference's y would flip on values within rounding of
 * 0). Every algorithm is forced in turn (VERDANT_CONV_ALGO) on geometries it applies to,
 * with and without bias, conv2d and deconv2d; the test checks that the forced algorithm
 * ran every pass it applies to. Winograd and FFT carry their transform error and are held
 * to test_conv_algos.c's bound for them (1e-4 of max |ref| more absolute) wherever they
 * ran, forced or chosen by the layer's measurement (the layer's algorithm text says). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/conv_select.h"
#include "layer_rig.h"
#include "ref_cnn.h"

/* Dot products of length C/groups*R*S (<= 75 here) and, for dW, n*P*Q (<= ~2000) in
 * fp32 with inputs in [-1, 1]. The worst error measured is 6e-6 on a dW of -0.0085 (a
 * sum of 390 terms that cancels); 2e-5 absolute plus 1e-4 relative leaves a margin of
 * about 3.5 (cf. test_dense.c, 1e-5 for length 129). */
#define ATOL 2e-5f
#define RTOL 1e-4f
#define XFORM_ATOL_REL 1e-4f /* as test_conv_algos.c */

/* The algorithm forced for the layer tests (NULL: the selection's choice). */
static const char *forced_algo;

static uint64_t rng = 77;

static float *rand_array(size_t n, float lo, float hi)
{
    return rig_rand_array(&rng, n, lo, hi);
}

/* ------------------------------------------------------------------ layer tests */

typedef struct conv_opts {
    int K, kh, kw, stride, pad, dil, groups, bias, output_pad, relu;
} conv_opts;

/* on: stride_h/stride_w and pad_h/pad_w per axis instead of stride and pad. */
typedef struct conv_axes {
    int on, sh, sw, ph, pw;
} conv_axes;

/* Under Oclgrind (test_small()) LeNet's 28x28 first layer runs at 16x16: the same kernels
 * and tile edges (the other shapes are small already). */
static int small_hw(int hw)
{
    return test_small() && hw == 28 ? 16 : hw;
}

static float max_abs(const float *v, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

/* Whether the algorithm the layer ran for convolution pass p carries a transform error
 * (Winograd, FFT). The layer's algorithm text is "fwd/bwd_data/bwd_filter". Forced or
 * chosen by measurement alike: a shape whose measurement picks Winograd gets its bound. */
static bool ran_xform(const vd_layer *l, int p)
{
    char names[64];
    snprintf(names, sizeof names, "%s", l->ops->algo(l));
    char *save = NULL, *tok = strtok_r(names, "/", &save);
    for (int i = 0; i < p && tok; i++) tok = strtok_r(NULL, "/", &save);
    return tok && (!strncmp(tok, "winograd", 8) || !strcmp(tok, "fft"));
}

/* expect_close with the bound of the algorithm that ran (see the banner). */
static void close_to(const char *what, bool xform, const float *got, const float *want, size_t n)
{
    float atol = xform ? XFORM_ATOL_REL * max_abs(want, n) + ATOL : ATOL;
    expect_close(what, got, want, n, atol, RTOL);
}

/* One check: the forced algorithm ran each pass of g it applies to. The layer's algorithm
 * text is "fwd/bwd_data/bwd_filter"; deconv2d runs the convolution's passes swapped but
 * names them by the convolution's pass, as the selection does. */
static void expect_forced_ran(vd_context *ctx, const char *what, const vd_layer *l,
                              const vd_conv_geom *g)
{
    if (!forced_algo) return;
    int a = vd_conv_algo_find(forced_algo);
    char names[64], w[400];
    snprintf(names, sizeof names, "%s", l->ops->algo(l));
    const char *pass_name[VD_CONV_N_PASSES] = {NULL, NULL, NULL};
    char *save = NULL, *tok = strtok_r(names, "/", &save);
    for (int p = 0; p < VD_CONV_N_PASSES && tok; p++, tok = strtok_r(NULL, "/", &save))
        pass_name[p] = tok;
    bool ok = a >= 0;
    for (int p = 0; p < VD_CONV_N_PASSES && ok; p++)
        if (vd_conv_algos[a]->applies(ctx, g, (vd_conv_pass)p))
            ok = pass_name[p] && !strcmp(pass_name[p], forced_algo);
    snprintf(w, sizeof w, "%s: %s ran every pass it applies to (%s)", what, forced_algo,
             l->ops->algo(l));
    expect_true(w, ok);
}

static vd_conv_geom geom(int C, int H, int W, int K, int R, int S, int st, int pad, int dil,
                         int groups)
{
    vd_conv_geom g = {C, H, W, K, 0, 0, R, S, st, st, pad, pad, dil, dil, groups};
    g.P = vd_conv_out_size(H, R, st, pad, dil);
    g.Q = vd_conv_out_size(W, S, st, pad, dil);
    return g;
}

/* conv2d or deconv2d with options o on (C, H, W) inputs, batch n. The test derives the
 * geometry from the options itself (PyTorch's formulas), so the layer's shape inference
 * is checked too. */
static void check_layer_ax(vd_context *ctx, bool deconv, conv_opts o, conv_axes ax, int C, int H,
                           int W, size_t n)
{
    const char *type = deconv ? "deconv2d" : "conv2d";
    char opts[300];
    int used = snprintf(opts, sizeof opts,
                        "filters=%d kernel_h=%d kernel_w=%d stride=%d pad=%d "
                        "dilation=%d groups=%d bias=%d relu=%d",
                        o.K, o.kh, o.kw, o.stride, o.pad, o.dil, o.groups, o.bias, o.relu);
    if (deconv)
        used += snprintf(opts + used, sizeof opts - (size_t)used, " output_pad=%d", o.output_pad);
    if (ax.on)
        snprintf(opts + used, sizeof opts - (size_t)used, " stride_h=%d stride_w=%d pad_h=%d pad_w=%d",
                 ax.sh, ax.sw, ax.ph, ax.pw);
    int sh = ax.on ? ax.sh : o.stride, sw = ax.on ? ax.sw : o.stride;
    int ph = ax.on ? ax.ph : o.pad, pw = ax.on ? ax.pw : o.pad;
    vd_conv_geom g;
    if (deconv) { /* the convolution it transposes: C, H, W = the deconv's output */
        int Ho = (H - 1) * sh - 2 * ph + o.dil * (o.kh - 1) + o.output_pad + 1;
        int Wo = (W - 1) * sw - 2 * pw + o.dil * (o.kw - 1) + o.output_pad + 1;
        g = (vd_conv_geom){o.K, Ho, Wo, C, H, W, o.kh, o.kw, sh, sw, ph, pw, o.dil, o.dil, o.groups};
    } else {
        g = geom(C, H, W, o.K, o.kh, o.kw, sh, ph, o.dil, o.groups);
        g.stride_w = sw;
        g.pad_w = pw;
        g.Q = vd_conv_out_size(W, o.kw, sw, pw, o.dil);
    }
    rig r;
    char what[400];
    snprintf(what, sizeof what, "%s %s on (%d, %d, %d) n=%zu%s%s", type, opts, C, H, W, n,
             forced_algo ? " algo=" : "", forced_algo ? forced_algo : "");
    if (!rig_open(&r, ctx, type, opts, rig_shape3(C, H, W), n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    vd_shape want_out = deconv ? rig_shape3(g.C, g.H, g.W) : rig_shape3(g.K, g.P, g.Q);
    char w0[440];
    snprintf(w0, sizeof w0, "%s: output shape", what);
    expect_true(w0, r.l->out.ndim == 3 && !memcmp(r.l->out.d, want_out.d, 3 * sizeof(int64_t)));
    bool bias = r.l->n_params == 2;
    size_t nw = r.l->params[0].numel, nb = bias ? r.l->params[1].numel : 0;
    test_fill_uniform(&rng, r.hp, r.arena, -1, 1);
    float *x = rand_array(r.nin, -1, 1), *dy = rand_array(r.nout, -1, 1);
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4);
    float *gr = test_malloc(r.arena * 4), *wdw = test_malloc(nw * 4 + 4),
          *wdb = test_malloc(nb * 4 + 4), *dym = test_malloc(r.nout * 4);
    char w2[500];

    if (!rig_forward(&r, true, x, y)) goto out;
    if (deconv) ref_deconv2d_fwd(&g, n, x, rig_param(&r, 0), bias ? rig_param(&r, 1) : NULL, want);
    else ref_conv2d_fwd(&g, n, x, rig_param(&r, 0), bias ? rig_param(&r, 1) : NULL, want);
    size_t clipped = 0;
    for (size_t i = 0; o.relu && i < r.nout; i++) {
        clipped += want[i] <= 0.0f;
        want[i] = want[i] > 0.0f ? want[i] : 0.0f;
    }
    snprintf(w2, sizeof w2, "%s: forward", what);
    close_to(w2, ran_xform(r.l, deconv ? VD_CONV_BWD_DATA : VD_CONV_FWD), y, want, r.nout);
    if (o.relu) { /* the ReLU must have something to clip, and something to pass */
        snprintf(w2, sizeof w2, "%s: ReLU clips %zu of %zu", what, clipped, r.nout);
        expect_true(w2, clipped > 0 && clipped < r.nout);
    }
    /* The gradient the reference sees: dy through the device's ReLU. */
    for (size_t i = 0; i < r.nout; i++) dym[i] = !o.relu || y[i] > 0.0f ? dy[i] : 0.0f;
    /* dx starts as NaN: beta = 0 must not read it. */
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, gr)) break;
        if (deconv)
            ref_deconv2d_bwd(&g, n, x, rig_param(&r, 0), dym, beta, wdx, wdw, bias ? wdb : NULL);
        else ref_conv2d_bwd(&g, n, x, rig_param(&r, 0), dym, beta, wdx, wdw, bias ? wdb : NULL);
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        close_to(w2, ran_xform(r.l, deconv ? VD_CONV_FWD : VD_CONV_BWD_DATA), dx, wdx, r.nin);
        snprintf(w2, sizeof w2, "%s: dW pass %d", what, pass);
        close_to(w2, ran_xform(r.l, VD_CONV_BWD_FILTER), gr + r.l->params[0].offset, wdw, nw);
        if (bias) {
            snprintf(w2, sizeof w2, "%s: db pass %d", what, pass);
            close_to(w2, false, gr + r.l->params[1].offset, wdb, nb);
        }
    }
    expect_forced_ran(ctx, what, r.l, &g);
    rig_guards(&r, what);
    /* The gaps between parameters in the gradient arena stay zero. */
    float *g0 = test_malloc(r.arena * 4);
    memcpy(g0, gr, r.arena * 4);
    for (int32_t i = 0; i < r.l->n_params; i++)
        memset(g0 + r.l->params[i].offset, 0, r.l->params[i].numel * 4);
    float *zero = test_malloc(r.arena * 4);
    snprintf(w2, sizeof w2, "%s: gradient arena untouched outside the parameters", what);
    expect_close(w2, g0, zero, r.arena, 0, 0);
    free(g0), free(zero);
out:
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(gr), free(wdw), free(wdb);
    free(dym);
    rig_close(&r);
}

static void check_layer(vd_context *ctx, bool deconv, conv_opts o, int C, int H, int W, size_t n)
{
    check_layer_ax(ctx, deconv, o, (conv_axes){0, 0, 0, 0, 0}, C, H, W, n);
}

/* Per-axis strides and padding (what ONNX's (1, 0, 1, 0) pads and (3, 2) strides import
 * to), with the selection's choice and every algorithm forced. */
static void check_axes(vd_context *ctx)
{
    typedef struct {
        bool deconv;
        conv_opts o;
        conv_axes ax;
        int C, H, W;
        size_t n;
    } axes_case;
    static const axes_case cases[] = {
        {false, {4, 3, 3, 1, 0, 1, 1, 1, 0, 1}, {1, 2, 1, 1, 0}, 3, 9, 8, 2},
        {false, {4, 3, 5, 1, 0, 1, 1, 1, 0, 0}, {1, 1, 1, 0, 2}, 2, 7, 9, 2},
        {false, {5, 3, 3, 1, 0, 1, 1, 0, 0, 0}, {1, 1, 1, 1, 0}, 16, 8, 8, 2},
        {true, {2, 3, 3, 1, 0, 1, 1, 1, 1, 0}, {1, 3, 2, 1, 0}, 3, 4, 5, 2},
        {true, {3, 3, 3, 1, 0, 1, 1, 1, 0, 1}, {1, 1, 2, 0, 1}, 2, 5, 4, 2},
    };
    const char *saved = getenv("VERDANT_CONV_ALGO");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", saved ? saved : "");
    for (int a = -1; a < 0 || vd_conv_algos[a]; a++) {
        forced_algo = a < 0 ? NULL : vd_conv_algos[a]->name;
        if (forced_algo && test_algo_skipped(forced_algo)) continue;
        if (forced_algo) setenv("VERDANT_CONV_ALGO", forced_algo, 1);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_layer_ax(ctx, cases[i].deconv, cases[i].o, cases[i].ax, cases[i].C, cases[i].H,
                           cases[i].W, cases[i].n);
    }
    forced_algo = NULL;
    if (saved) setenv("VERDANT_CONV_ALGO", keep, 1);
    else unsetenv("VERDANT_CONV_ALGO");
}

/* ------------------------------------------------------------------ launcher tests */

/* The im2col algorithm (vd_conv_algo_im2col through vd_conv_run_batch) with chunks of nb
 * images, beta = 0 then 1. */
static vd_status run_im2col(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                            size_t nb, vd_conv_io io)
{
    return vd_conv_run_batch(ctx, vd_conv_algo_find("im2col"), g, pass, n, nb, &io);
}

static void check_ops_chunked(vd_context *ctx, vd_conv_geom g, size_t n, size_t nb)
{
    size_t nx = n * g.C * g.H * g.W, ny = n * g.K * g.P * g.Q;
    size_t nw = (size_t)g.K * (g.C / g.groups) * g.R * g.S, nws = 1;
    for (int p = 0; p < VD_CONV_N_PASSES; p++) {
        size_t need = vd_conv_algo_im2col.workspace(ctx, &g, (vd_conv_pass)p, nb);
        if (need > nws) nws = need;
    }
    float *x = rand_array(nx, -1, 1), *w = rand_array(nw, -1, 1), *dy = rand_array(ny, -1, 1);
    float *y0 = rand_array(ny, -1, 1), *y = test_malloc(ny * 4), *want = test_malloc(ny * 4);
    float *dx = test_malloc(nx * 4), *wdx = rand_array(nx, -1, 1), *dw = test_malloc(nw * 4);
    float *wdw = test_malloc(nw * 4);
    char what[200];
    snprintf(what, sizeof what, "conv ops C%d %dx%d K%d R%dxS%d s%d p%d d%d g%d n=%zu nb=%zu", g.C,
             g.H, g.W, g.K, g.R, g.S, g.stride_h, g.pad_h, g.dil_h, g.groups, n, nb);
    test_buf bx, bw, by, bdy, bdx, bdw, bws;
    memset(&bx, 0, sizeof bx), bw = by = bdy = bdx = bdw = bws = bx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, nx, 3, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nw, 1, w, &bw)) &
              EXPECT_OK(ctx, test_buf_create(ctx, ny, 2, y0, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, ny, 4, dy, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nx, 5, wdx, &bdx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nw, 6, NULL, &bdw)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nws, 9, NULL, &bws));
    if (!ok) goto done;
    char w2[240];
    /* Forward with beta = 1 on random y0: y = y0 + conv(x). */
    ref_conv2d_fwd(&g, n, x, w, NULL, want);
    for (size_t i = 0; i < ny; i++) want[i] += y0[i];
    vd_conv_io io = {.x = bx.mem,
                     .x_off = bx.off,
                     .w = bw.mem,
                     .w_off = bw.off,
                     .y = by.mem,
                     .y_off = by.off,
                     .dy = bdy.mem,
                     .dy_off = bdy.off,
                     .dx = bdx.mem,
                     .dx_off = bdx.off,
                     .dw = bdw.mem,
                     .dw_off = bdw.off,
                     .ws = bws.mem,
                     .ws_off = bws.off,
                     .beta = 1.0f};
    EXPECT_OK(ctx, run_im2col(ctx, &g, VD_CONV_FWD, n, nb, io));
    EXPECT_OK(ctx, test_buf_read(&by, y));
    snprintf(w2, sizeof w2, "%s: forward beta=1", what);
    expect_close(w2, y, want, ny, ATOL, RTOL);
    io.beta = 0.0f;
    EXPECT_OK(ctx, run_im2col(ctx, &g, VD_CONV_FWD, n, nb, io));
    EXPECT_OK(ctx, test_buf_read(&by, y));
    ref_conv2d_fwd(&g, n, x, w, NULL, want);
    snprintf(w2, sizeof w2, "%s: forward", what);
    expect_close(w2, y, want, ny, ATOL, RTOL);
    /* Backward with beta = 1 on random dx, and dW from zero, twice for dW. */
    EXPECT_OK(ctx, vd_op_fill(ctx, nw, 0.0f, bdw.mem, bdw.off));
    memset(wdw, 0, nw * 4);
    for (int pass = 0; pass < 2; pass++) {
        io.beta = 1.0f;
        EXPECT_OK(ctx, run_im2col(ctx, &g, VD_CONV_BWD_FILTER, n, nb, io));
        EXPECT_OK(ctx, run_im2col(ctx, &g, VD_CONV_BWD_DATA, n, nb, io));
        ref_conv2d_bwd(&g, n, x, w, dy, 1.0f, wdx, wdw, NULL);
        EXPECT_OK(ctx, test_buf_read(&bdx, dx));
        EXPECT_OK(ctx, test_buf_read(&bdw, dw));
        snprintf(w2, sizeof w2, "%s: dx beta=1 pass %d", what, pass);
        expect_close(w2, dx, wdx, nx, ATOL, RTOL);
        snprintf(w2, sizeof w2, "%s: dW pass %d", what, pass);
        expect_close(w2, dw, wdw, nw, ATOL, RTOL);
    }
    expect_guards(what, &by), expect_guards(what, &bdx), expect_guards(what, &bdw);
    expect_guards(what, &bws);
done:
    test_buf_destroy(&bx), test_buf_destroy(&bw), test_buf_destroy(&by), test_buf_destroy(&bdy);
    test_buf_destroy(&bdx), test_buf_destroy(&bdw), test_buf_destroy(&bws);
    free(x), free(w), free(dy), free(y0), free(y), free(want), free(dx), free(wdx), free(dw);
    free(wdw);
}

/* ------------------------------------------------------------------ relu = 1 */

/* The fused epilogue under every algorithm, on geometries each one applies to: {K, kh, kw,
 * stride, pad, dilation, groups, bias, output_pad, relu}, input (C, H, W), batch. */
static void check_relu(vd_context *ctx)
{
    typedef struct relu_case {
        bool deconv;
        conv_opts o;
        int C, H, W;
        size_t n;
    } relu_case;
    static const relu_case cases[] = {
        /* 3x3 stride 1 (Winograd, implicit, im2col), odd sizes, with and without bias */
        {false, {5, 3, 3, 1, 1, 1, 1, 1, 0, 1}, 3, 9, 7, 3},
        {false, {4, 3, 3, 1, 0, 1, 1, 0, 0, 1}, 6, 11, 10, 2},
        /* 5x5 stride 1, few input channels (FFT, direct): LeNet's c1 (28x28; 16x16 under
         * test_small(), below) and c2 */
        {false, {6, 5, 5, 1, 2, 1, 1, 1, 0, 1}, 1, 28, 28, 3},
        {false, {16, 5, 5, 1, 0, 1, 1, 1, 0, 1}, 6, 14, 13, 2},
        {false, {3, 5, 5, 1, 2, 1, 1, 0, 0, 1}, 2, 13, 11, 3},
        /* depthwise stride 2 (direct), grouped dilated */
        {false, {6, 3, 3, 2, 1, 1, 3, 1, 0, 1}, 3, 8, 7, 3},
        {false, {6, 3, 3, 1, 1, 2, 2, 1, 0, 1}, 4, 9, 8, 1},
        /* deconv2d: stride 2, grouped without bias, 5x5 stride 1 */
        {true, {2, 3, 3, 2, 1, 1, 1, 1, 1, 1}, 3, 4, 5, 3},
        {true, {2, 3, 3, 1, 0, 2, 2, 0, 0, 1}, 4, 3, 4, 3},
        {true, {3, 5, 5, 1, 2, 1, 1, 1, 0, 1}, 4, 9, 8, 2},
        /* deconv2d with negative output_pad (the bottom/right cropped more) */
        {true, {2, 3, 3, 2, 1, 1, 1, 1, -1, 1}, 3, 4, 5, 3},
        {true, {3, 5, 5, 1, 2, 1, 1, 1, -1, 1}, 4, 9, 8, 2},
        {true, {3, 3, 3, 1, 1, 1, 1, 0, -1, 1}, 3, 9, 7, 2},
    };
    size_t nc = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < nc; i++) /* the selection's own choice */
        check_layer(ctx, cases[i].deconv, cases[i].o, cases[i].C, small_hw(cases[i].H),
                    small_hw(cases[i].W), cases[i].n);
    const char *saved = getenv("VERDANT_CONV_ALGO");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", saved ? saved : "");
    for (int a = 0; vd_conv_algos[a]; a++) {
        if (test_algo_skipped(vd_conv_algos[a]->name)) continue;
        forced_algo = vd_conv_algos[a]->name;
        setenv("VERDANT_CONV_ALGO", forced_algo, 1);
        for (size_t i = 0; i < nc; i++)
            check_layer(ctx, cases[i].deconv, cases[i].o, cases[i].C, small_hw(cases[i].H),
                        small_hw(cases[i].W), cases[i].n);
    }
    forced_algo = NULL;
    if (saved) setenv("VERDANT_CONV_ALGO", keep, 1);
    else unsetenv("VERDANT_CONV_ALGO");
    /* A relu value other than 0/1 is refused, naming the key. */
    vd_layer *l = NULL;
    vd_kv two[] = {{"filters", "4", 0}, {"relu", "2", 0}};
    expect_status("conv2d relu=2", ctx, vd_layer_create(ctx, "conv2d", "c", two, 2, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    expect_true("conv2d relu=2: the message names the key",
                strstr(vd_last_error(ctx), "'relu'") != NULL);
    vd_kv one[] = {{"filters", "4", 0}, {"relu", "1", 0}};
    if (EXPECT_OK(ctx, vd_layer_create(ctx, "deconv2d", "d", one, 2, NULL, 0, &l))) {
        expect_true("deconv2d relu=1 sets fused_rectifier", l->fused_rectifier);
        vd_layer_destroy(l);
    }
}

/* ------------------------------------------------------------------ bad input */

static void check_bad(vd_context *ctx)
{
    vd_layer *l = NULL;
    expect_status("conv2d without filters", ctx,
                  vd_layer_create(ctx, "conv2d", "c", NULL, 0, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv typo[] = {{"filters", "4", 0}, {"strid", "2", 0}};
    expect_status("conv2d unknown key", ctx,
                  vd_layer_create(ctx, "conv2d", "c", typo, 2, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv zero[] = {{"filters", "4", 0}, {"stride", "0", 0}};
    expect_status("conv2d stride 0", ctx, vd_layer_create(ctx, "conv2d", "c", zero, 2, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    expect_reshape_fails(ctx, "conv2d", "filters=4", (vd_shape){1, {10}}, "conv2d on (10)");
    expect_reshape_fails(ctx, "conv2d", "filters=4 groups=2", rig_shape3(3, 8, 8),
                         "conv2d groups not dividing C");
    expect_reshape_fails(ctx, "conv2d", "filters=3 groups=2", rig_shape3(4, 8, 8),
                         "conv2d groups not dividing filters");
    expect_reshape_fails(ctx, "conv2d", "filters=4 kernel=5", rig_shape3(1, 4, 4),
                         "conv2d kernel larger than the input");
    expect_reshape_fails(ctx, "conv2d", "filters=4 kernel=3 dilation=3", rig_shape3(1, 6, 6),
                         "conv2d dilated kernel larger than the input");
    expect_reshape_fails(ctx, "deconv2d", "filters=4 stride=2 output_pad=2", rig_shape3(1, 4, 4),
                         "deconv2d output_pad >= stride and dilation");
    expect_reshape_fails(ctx, "deconv2d", "filters=2 kernel=1 output_pad=-1", rig_shape3(1, 1, 1),
                         "deconv2d output_pad cropping the whole output");
    /* Argument checks of the im2col algorithm and the batch runner. */
    vd_conv_geom g = geom(2, 4, 4, 2, 3, 3, 1, 1, 1, 1);
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 64, 0, NULL, &t))) return;
    vd_conv_io io = {.x = t.mem, .w = t.mem, .y = t.mem, .dy = t.mem, .ws = t.mem};
    int im2col = vd_conv_algo_find("im2col");
    vd_conv_io nox = io;
    nox.x = NULL;
    expect_status("conv fwd NULL x", ctx,
                  vd_conv_run_batch(ctx, im2col, &g, VD_CONV_FWD, 1, 1, &nox), VD_ERR_INVALID_ARG);
    expect_status("conv fwd chunk 0", ctx,
                  vd_conv_run_batch(ctx, im2col, &g, VD_CONV_FWD, 1, 0, &io), VD_ERR_INVALID_ARG);
    vd_conv_geom bad = g;
    bad.groups = 3;
    expect_status("conv fwd bad groups", ctx,
                  vd_conv_run_batch(ctx, im2col, &bad, VD_CONV_FWD, 1, 1, &io), VD_ERR_INVALID_ARG);
    vd_conv_io dw_nox = nox;
    dw_nox.dw = t.mem;
    expect_status("conv bwd dw without x", ctx,
                  vd_conv_run_batch(ctx, im2col, &g, VD_CONV_BWD_FILTER, 1, 1, &dw_nox),
                  VD_ERR_INVALID_ARG);
    expect_status("conv n = 0 is a no-op", ctx,
                  vd_conv_run_batch(ctx, im2col, &g, VD_CONV_FWD, 0, 1, &io), VD_OK);
    expect_guards("conv n = 0 writes nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    if (getenv("VD_TEST_VERBOSE")) printf("device: %s\n", ctx->info.name);
    /* Under Oclgrind (test_small()) the layers not forced to an algorithm take the
     * heuristic's fixed choice instead of measuring every candidate: reproducible, and the
     * measurement took most of the simulator's time. Forced algorithms left out by
     * VD_TEST_SKIP_ALGOS (FFT under Oclgrind, docs/GPU.md) are skipped. */
    if (test_small()) setenv("VERDANT_TUNE", "off", 1);

    /* conv2d layer: {K, kh, kw, stride, pad, dilation, groups, bias, output_pad} */
    check_layer(ctx, false, (conv_opts){4, 3, 3, 1, 0, 1, 1, 1, 0, 0}, 3, 7, 6, 3);
    check_layer(ctx, false, (conv_opts){5, 3, 3, 2, 1, 1, 1, 1, 0, 0}, 3, 9, 11, 3);
    check_layer(ctx, false, (conv_opts){3, 3, 3, 1, 2, 2, 1, 0, 0, 0}, 2, 9, 8, 1);
    check_layer(ctx, false, (conv_opts){6, 3, 3, 1, 1, 1, 2, 1, 0, 0}, 4, 6, 7, 3);
    /* depthwise x2 */
    check_layer(ctx, false, (conv_opts){6, 3, 3, 2, 1, 1, 3, 1, 0, 0}, 3, 8, 7, 3);
    check_layer(ctx, false, (conv_opts){4, 3, 3, 1, 1, 1, 4, 1, 0, 0}, 4, 5, 5, 1); /* depthwise */
    check_layer(ctx, false, (conv_opts){7, 1, 1, 1, 0, 1, 1, 1, 0, 0}, 5, 4, 3, 3);
    check_layer(ctx, false, (conv_opts){3, 5, 5, 1, 2, 1, 1, 1, 0, 0}, 2, 13, 11, 3);
    check_layer(ctx, false, (conv_opts){3, 2, 3, 1, 1, 1, 1, 1, 0, 0}, 2, 7, 8, 1);
    check_layer(ctx, false, (conv_opts){67, 3, 3, 1, 1, 1, 1, 1, 0, 0}, 3, 10, 13, 3);
    check_layer(ctx, false, (conv_opts){6, 5, 5, 1, 0, 1, 1, 1, 0, 0}, 1, small_hw(28), small_hw(28),
                3); /* LeNet */
    check_layer(ctx, false, (conv_opts){5, 3, 3, 2, 0, 2, 1, 1, 0, 0}, 3, 12, 9, 3);
    /* deconv2d layer */
    check_layer(ctx, true, (conv_opts){2, 3, 3, 2, 1, 1, 1, 1, 1, 0}, 3, 4, 5, 3);
    check_layer(ctx, true, (conv_opts){3, 4, 4, 2, 1, 1, 1, 1, 0, 0}, 2, 3, 3, 1);
    check_layer(ctx, true, (conv_opts){2, 3, 3, 1, 0, 2, 2, 0, 0, 0}, 4, 3, 4, 3);
    check_layer(ctx, true, (conv_opts){5, 1, 1, 1, 0, 1, 1, 1, 0, 0}, 3, 5, 6, 3);
    check_layer(ctx, true, (conv_opts){6, 3, 3, 2, 0, 1, 3, 1, 1, 0}, 3, 5, 4, 3); /* depthwise */
    /* negative output_pad: one (two) more rows/columns cropped at the bottom/right */
    check_layer(ctx, true, (conv_opts){2, 3, 3, 2, 1, 1, 1, 1, -1, 0}, 3, 4, 5, 3);
    check_layer(ctx, true, (conv_opts){3, 3, 3, 1, 1, 1, 1, 1, -1, 0}, 2, 5, 6, 2);
    check_layer(ctx, true, (conv_opts){2, 3, 3, 1, 0, 2, 2, 0, -2, 0}, 4, 3, 4, 3);
    /* launchers with chunks of 2 images over a batch of 3 (and of 1) */
    check_ops_chunked(ctx, geom(3, 7, 9, 5, 3, 3, 2, 1, 1, 1), 3, 2);
    check_ops_chunked(ctx, geom(4, 6, 7, 6, 3, 3, 1, 1, 2, 2), 3, 2);
    check_ops_chunked(ctx, geom(3, 6, 6, 6, 3, 3, 1, 1, 1, 3), 3, 2);
    check_ops_chunked(ctx, geom(2, 9, 7, 3, 5, 5, 1, 2, 1, 1), 3, 1);
    check_ops_chunked(ctx, geom(5, 4, 3, 3, 1, 1, 1, 0, 1, 1), 3, 3);
    check_deterministic(ctx, &rng, "conv2d", "filters=8 kernel=3 pad=1 groups=2",
                        rig_shape3(4, 15, 13), 3);
    check_deterministic(ctx, &rng, "deconv2d", "filters=3 kernel=3 stride=2", rig_shape3(4, 6, 5),
                        3);
    check_relu(ctx);
    check_axes(ctx);
    check_bad(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_pool.c - maxpool, avgpool and globalavgpool on the device against
 * tests/ref/pool_ref.c, through the layers' vtable (forward; backward with beta = 0 on a
 * dx full of NaN, then beta = 1) on buffers at odd offsets with guard zones, plus the
 * max-pool indices from the launcher, ties, NaN and infinite inputs, and bad options and
 * shapes. Shapes: stride 1 and 2, overlapping windows, padding, ceil mode, odd sizes,
 * stride larger than the kernel (uncovered pixels between windows), rows longer than a
 * work-group, more planes than one launch takes, batch 1 and 3; both backward kernels
 * (per-pixel gather for overlapping windows, per-window cells otherwise) see each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ref_cnn.h"

/* Max pooling is exact (a copy); the average of at most 9 values and its backward are
 * within a few ulps: 1e-6 absolute and relative. */
#define ATOL 1e-6f
#define RTOL 1e-6f

static uint64_t rng = 99;

static float *rand_array(size_t n, float lo, float hi)
{
    return rig_rand_array(&rng, n, lo, hi);
}

/* Inputs for check_layer: PLAIN uniform in [-2, 2); TIES rounded to 1/4 steps so that
 * windows hold equal values (both sides take the first maximum); NANS with every 7th value
 * NaN and every 11th +-infinity (a NaN wins max pooling and stays). */
enum { PLAIN, TIES, NANS };

static const char *types[] = {"maxpool", "avgpool", "globalavgpool"};

/* The layer (kind: 0 maxpool, 1 avgpool, 2 globalavgpool) with options opts against the
 * reference at geometry g (its P, Q set here from ceil_mode; C, H, W the input). */
static void check_layer_g(vd_context *ctx, int kind, const char *opts, vd_pool_geom g,
                          int ceil_mode, size_t n, int special)
{
    char what[400];
    int C = g.C, H = g.H, W = g.W;
    snprintf(what, sizeof what, "%s %s on (%d, %d, %d) n=%zu%s", types[kind], opts, C, H, W, n,
             special == TIES   ? " with ties"
             : special == NANS ? " with NaN and inf"
                               : "");
    if (kind < 2) {
        int dh = g.dh ? g.dh : 1, dw = g.dw ? g.dw : 1;
        g.P = vd_pool_out_size2(H, (g.kh - 1) * dh + 1, g.sh, g.ph, g.pb, ceil_mode);
        g.Q = vd_pool_out_size2(W, (g.kw - 1) * dw + 1, g.sw, g.pw, g.pr, ceil_mode);
    } else {
        g.P = g.Q = 1;
    }
    rig r;
    if (!rig_open(&r, ctx, types[kind], opts, rig_shape3(C, H, W), n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    char w2[480];
    snprintf(w2, sizeof w2, "%s: output shape", what);
    expect_true(w2, r.l->out.ndim == 3 && r.l->out.d[0] == C && r.l->out.d[1] == g.P &&
                        r.l->out.d[2] == g.Q);
    float *x = rand_array(r.nin, -2, 2), *dy = rand_array(r.nout, -1, 1);
    if (special == TIES)
        for (size_t i = 0; i < r.nin; i++) x[i] = roundf(x[i] * 4.0f) / 4.0f;
    if (special == NANS)
        for (size_t i = 0; i < r.nin; i++) {
            if (i % 11 == 5) x[i] = i % 2 ? INFINITY : -INFINITY;
            if (i % 7 == 3) x[i] = NAN;
        }
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4),
          *gr = test_malloc(r.arena * 4);
    size_t HW = (size_t)H * W;
    if (rig_forward(&r, true, x, y)) {
        if (kind == 0) ref_maxpool_fwd(&g, n, x, want, NULL);
        else if (kind == 1) ref_avgpool_fwd(&g, n, x, want);
        else ref_gavg_fwd(n, C, HW, x, want);
        snprintf(w2, sizeof w2, "%s: forward", what);
        expect_close(w2, y, want, r.nout, ATOL, RTOL);
    }
    /* Maxpool's inference forward (without positions; the training forward's stay for
     * the backward below): the same values. Avgpool's is its training forward. */
    if (kind == 0 && rig_forward(&r, false, x, y)) {
        snprintf(w2, sizeof w2, "%s: inference forward", what);
        expect_close(w2, y, want, r.nout, ATOL, RTOL);
    }
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, gr)) break;
        if (kind == 0) ref_maxpool_bwd(&g, n, x, dy, beta, wdx);
        else if (kind == 1) ref_avgpool_bwd(&g, n, dy, beta, wdx);
        else ref_gavg_bwd(n, C, HW, dy, beta, wdx);
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        expect_close(w2, dx, wdx, r.nin, ATOL, RTOL);
    }
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(gr);
    rig_close(&r);
}

/* ax (may be NULL): per-axis {kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w}. */
static void check_layer_ax(vd_context *ctx, int kind, int k, int s, int pad, int ceil_mode,
                           const int *ax, int C, int H, int W, size_t n, int special)
{
    char opts[200] = "";
    if (kind < 2 && !ax)
        snprintf(opts, sizeof opts, "kernel=%d stride=%d pad=%d ceil=%d", k, s, pad, ceil_mode);
    if (kind < 2 && ax)
        snprintf(opts, sizeof opts,
                 "kernel_h=%d kernel_w=%d stride_h=%d stride_w=%d pad_h=%d pad_w=%d ceil=%d", ax[0],
                 ax[1], ax[2], ax[3], ax[4], ax[5], ceil_mode);
    vd_pool_geom g = {C, H, W, 1, 1, k, k, s ? s : k, s ? s : k, pad, pad, pad, pad, 1, 1, 0};
    if (ax)
        g = (vd_pool_geom){C,     H,     W,     1,     1,     ax[0], ax[1], ax[2],
                           ax[3], ax[4], ax[5], ax[4], ax[5], 1,     1,     0};
    check_layer_g(ctx, kind, opts, g, ceil_mode, n, special);
}

/* The new geometry: a = {kh, kw, sh, sw, top, left, bottom, right, dh, dw, count_pad, ceil}
 * spelled out as per-side keys (and count_pad for avgpool). */
static void check_layer_ext(vd_context *ctx, int kind, const int a[12], int C, int H, int W,
                            size_t n, int special)
{
    char opts[300];
    int m = snprintf(opts, sizeof opts,
                     "kernel_h=%d kernel_w=%d stride_h=%d stride_w=%d pad_top=%d pad_left=%d "
                     "pad_bottom=%d pad_right=%d dilation_h=%d dilation_w=%d ceil=%d",
                     a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[11]);
    if (kind == 1) snprintf(opts + m, sizeof opts - (size_t)m, " count_pad=%d", a[10]);
    vd_pool_geom g = {C,    H,    W,    1,    1,    a[0], a[1], a[2],
                      a[3], a[4], a[5], a[6], a[7], a[8], a[9], kind == 1 && !a[10]};
    check_layer_g(ctx, kind, opts, g, a[11], n, special);
}

static void check_layer(vd_context *ctx, int kind, int k, int s, int pad, int ceil_mode, int C,
                        int H, int W, size_t n, int special)
{
    check_layer_ax(ctx, kind, k, s, pad, ceil_mode, NULL, C, H, W, n, special);
}

/* The launcher's indices against the reference's (first maximum, h*W + w); nans: every
 * 5th input NaN (the first NaN of a window wins). */
static void check_indices(vd_context *ctx, vd_pool_geom g, size_t n, bool nans)
{
    size_t nx = n * g.C * g.H * g.W, ny = n * g.C * g.P * g.Q;
    float *x = rand_array(nx, -1, 1), *y = test_malloc(ny * 4), *wy = test_malloc(ny * 4);
    for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f); /* many ties */
    if (nans)
        for (size_t i = 3; i < nx; i += 5) x[i] = NAN;
    int32_t *idx = test_malloc(ny * 4), *widx = test_malloc(ny * 4);
    test_buf bx, by, bi;
    memset(&bx, 0, sizeof bx), by = bi = bx;
    if (EXPECT_OK(ctx, test_buf_create(ctx, nx, 2, x, &bx)) &
        EXPECT_OK(ctx, test_buf_create(ctx, ny, 3, NULL, &by)) &
        EXPECT_OK(ctx, test_buf_create(ctx, ny, 4, NULL, &bi))) {
        EXPECT_OK(ctx,
                  vd_op_maxpool_fwd(ctx, &g, n, bx.mem, bx.off, by.mem, by.off, bi.mem, bi.off));
        EXPECT_OK(ctx, test_buf_read(&by, y));
        EXPECT_OK(ctx, test_buf_read(&bi, (float *)idx));
        ref_maxpool_fwd(&g, n, x, wy, widx);
        expect_close(nans ? "maxpool launcher values with NaN" : "maxpool launcher values", y, wy,
                     ny, 0, 0);
        expect_equal_bytes(nans ? "maxpool launcher indices with NaN (first NaN)"
                                : "maxpool launcher indices (first maximum)",
                           idx, widx, ny * 4);
        expect_guards("maxpool indices guards", &bi);
    }
    test_buf_destroy(&bx), test_buf_destroy(&by), test_buf_destroy(&bi);
    free(x), free(y), free(wy), free(idx), free(widx);
}

/* maxpool indices=1: the layer outputs the reference's argmax as an index into the
 * flattened (n, C, H, W) input, as float (exact here: far below 2^24); asymmetric padding
 * and dilation. Training refuses it: forward in training mode and backward return
 * VD_ERR_UNSUPPORTED. */
static void check_indices_layer(vd_context *ctx, int order)
{
    char opts[160];
    snprintf(opts, sizeof(opts),
             "kernel=3 stride=2 pad_top=1 pad_bottom=0 pad_left=0 pad_right=2 dilation_w=2 "
             "indices=%d",
             order);
    int C = 3, H = 7, W = 9;
    size_t n = 2;
    vd_pool_geom g = {C, H, W, 0, 0, 3, 3, 2, 2, 1, 0, 0, 2, 1, 2, 0};
    g.P = vd_pool_out_size2(H, 3, 2, 1, 0, false);
    g.Q = vd_pool_out_size2(W, 5, 2, 0, 2, false);
    rig r;
    if (!rig_open(&r, ctx, "maxpool", opts, rig_shape3(C, H, W), n)) {
        printf("FAIL maxpool %s: setup\n", opts);
        rig_close(&r);
        return;
    }
    expect_true("maxpool indices=1: output shape",
                r.l->out.d[0] == C && r.l->out.d[1] == g.P && r.l->out.d[2] == g.Q);
    float *x = rand_array(r.nin, -1, 1), *y = test_malloc(r.nout * 4),
          *want = test_malloc(r.nout * 4), *wv = test_malloc(r.nout * 4),
          *dx = test_malloc(r.nin * 4), *gr = test_malloc(r.arena * 4 + 4);
    int32_t *widx = test_malloc(r.nout * 4);
    for (size_t i = 0; i < r.nin; i++) x[i] = roundf(x[i] * 2.0f); /* ties */
    for (size_t i = 3; i < r.nin; i += 13) x[i] = NAN;
    if (rig_forward(&r, false, x, y)) {
        ref_maxpool_fwd(&g, n, x, wv, widx);
        size_t pq = (size_t)g.P * g.Q, hw = (size_t)H * W;
        for (size_t i = 0; i < r.nout; i++) { /* indices=2: the plane column-major */
            size_t at = (size_t)widx[i];
            if (order == 2) at = (at % (size_t)W) * (size_t)H + at / (size_t)W;
            want[i] = (float)((i / pq) * hw + at);
        }
        expect_close(order == 2 ? "maxpool indices=2: flattened argmax, planes column-major"
                                : "maxpool indices=1: flattened argmax",
                     y, want, r.nout, 0, 0);
    }
    rig_guards(&r, "maxpool indices=1");
    vd_step s = rig_step(&r, true);
    expect_status(
        "maxpool indices=1: forward in training", ctx,
        r.l->ops->forward(r.l, &s, (vd_buf){r.x.mem, r.x.off}, (vd_buf){r.y.mem, r.y.off}),
        VD_ERR_UNSUPPORTED);
    expect_status("maxpool indices=1: backward", ctx,
                  r.l->ops->backward(r.l, &s, (vd_buf){r.x.mem, r.x.off},
                                     (vd_buf){r.y.mem, r.y.off}, (vd_buf){r.dy.mem, r.dy.off},
                                     (vd_buf){r.dx.mem, r.dx.off}, 0.0f),
                  VD_ERR_UNSUPPORTED);
    free(x), free(y), free(want), free(wv), free(dx), free(gr), free(widx);
    rig_close(&r);
}

/* Through a net: the new options survive vd_net_to_cfg (write, read, write is stable);
 * vd_net_predict gives the indices of maxpool indices=1 (against the reference), and
 * vd_net_train_step refuses it with VD_ERR_UNSUPPORTED. */
static void check_net(vd_context *ctx)
{
    const char *cfg = "[net]\ninput = 2, 5, 6\nloss = mse\n"
                      "[avgpool]\nname = ap\nkernel = 1\npad_bottom = 0\ncount_pad = 0\n"
                      "[maxpool]\nname = mp\nkernel = 3\nstride = 2\npad_top = 0\n"
                      "pad_bottom = 2\npad_left = 1\npad_right = 0\ndilation_w = 2\n"
                      "indices = 1\n[flatten]\n";
    vd_net *net = NULL, *again = NULL;
    char *text = NULL, *text2 = NULL;
    if (!EXPECT_OK(ctx, vd_net_parse_cfg(ctx, cfg, "pool.cfg", &net)) ||
        !EXPECT_OK(ctx, vd_net_build(net, 2)))
        goto done;
    expect_true("pool net: output size 2*3*2", vd_net_output_size(net) == 12);
    if (!EXPECT_OK(ctx, vd_net_to_cfg(net, &text)) || !text) goto done;
    expect_true("cfg writer keeps the per-side pads, dilation, count_pad and indices",
                strstr(text, "pad_bottom = 2") && strstr(text, "pad_left = 1") &&
                    strstr(text, "dilation_w = 2") && strstr(text, "count_pad = 0") &&
                    strstr(text, "indices = 1"));
    if (EXPECT_OK(ctx, vd_net_parse_cfg(ctx, text, "written.cfg", &again)) &&
        EXPECT_OK(ctx, vd_net_build(again, 2))) {
        EXPECT_OK(ctx, vd_net_to_cfg(again, &text2));
        expect_true("pool net: write, read, write is stable", text2 && !strcmp(text, text2));
    }
    float x[2 * 60], y[24], want[24], wv[24];
    int32_t widx[24];
    for (int i = 0; i < 120; i++) x[i] = roundf((float)((i * 37) % 11) - 5.0f);
    vd_pool_geom g = {2, 5, 6, 3, 2, 3, 3, 2, 2, 0, 1, 2, 0, 1, 2, 0};
    if (EXPECT_OK(ctx, vd_net_predict(net, x, 2, y))) {
        ref_maxpool_fwd(&g, 2, x, wv, widx);
        for (int i = 0; i < 24; i++) want[i] = (float)((i / 6) * 30 + widx[i]);
        expect_close("pool net: predict gives the flattened argmax", y, want, 24, 0, 0);
    }
    float t[24] = {0}, loss;
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    expect_status("pool net: train_step with indices=1", ctx,
                  vd_net_train_step(net, x, NULL, t, 2, &loss), VD_ERR_UNSUPPORTED);
    expect_true("the refusal says inference only",
                strstr(vd_last_error(ctx), "indices=1") != NULL &&
                    strstr(vd_last_error(ctx), "inference only") != NULL);
done:
    free(text), free(text2);
    vd_net_destroy(net), vd_net_destroy(again);
}

static void check_bad(vd_context *ctx)
{
    expect_reshape_fails(ctx, "maxpool", "kernel=2 pad=2", rig_shape3(1, 8, 8), "pad = kernel");
    expect_reshape_fails(ctx, "avgpool", "kernel=3 pad_bottom=3", rig_shape3(1, 8, 8),
                         "bottom pad = kernel");
    expect_reshape_fails(ctx, "maxpool", "kernel=2 dilation_w=2 pad_right=3", rig_shape3(1, 8, 8),
                         "right pad = dilated extent");
    expect_reshape_fails(ctx, "maxpool", "kernel=2 dilation=4 pad=1", rig_shape3(1, 2, 8),
                         "dilated window with no input tap");
    expect_reshape_fails(ctx, "maxpool", "kernel=3 dilation=3", rig_shape3(1, 6, 8),
                         "dilated window larger than input");
    expect_reshape_fails(ctx, "avgpool", "kernel=3", rig_shape3(1, 2, 8),
                         "window larger than input");
    expect_reshape_fails(ctx, "maxpool", "kernel=2", (vd_shape){1, {16}}, "maxpool on (16)");
    expect_reshape_fails(ctx, "globalavgpool", "", (vd_shape){1, {16}}, "globalavgpool on (16)");
    vd_layer *l = NULL;
    vd_kv kv[] = {{"kernel", "0", 0}};
    expect_status("maxpool kernel 0", ctx, vd_layer_create(ctx, "maxpool", "p", kv, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    vd_kv kv3[] = {{"count_pad", "0", 0}};
    expect_status("maxpool has no count_pad", ctx,
                  vd_layer_create(ctx, "maxpool", "p", kv3, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv4[] = {{"indices", "1", 0}};
    expect_status("avgpool has no indices", ctx,
                  vd_layer_create(ctx, "avgpool", "p", kv4, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv5[] = {{"dilation", "0", 0}};
    expect_status("maxpool dilation 0", ctx,
                  vd_layer_create(ctx, "maxpool", "p", kv5, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv2[] = {{"units", "3", 0}};
    expect_status("globalavgpool takes no keys", ctx,
                  vd_layer_create(ctx, "globalavgpool", "p", kv2, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 16, 0, NULL, &t))) return;
    vd_pool_geom g = {1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0};
    expect_status("maxpool NULL x", ctx, vd_op_maxpool_fwd(ctx, &g, 1, NULL, 0, t.mem, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    vd_pool_geom bad = g;
    bad.sh = 0;
    expect_status("avgpool stride 0", ctx, vd_op_avgpool_fwd(ctx, &bad, 1, t.mem, 0, t.mem, 0),
                  VD_ERR_INVALID_ARG);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    for (int kind = 0; kind < 2; kind++) {
        check_layer(ctx, kind, 2, 0, 0, 0, 3, 8, 6, 3, PLAIN);    /* the usual 2x2 */
        /* per axis: a 1-D window over (C, 1, L) as the ONNX importer makes it; 3x2 */
        check_layer_ax(ctx, kind, 0, 0, 0, 0, (const int[]){1, 3, 1, 2, 0, 1}, 3, 1, 11, 3, PLAIN);
        check_layer_ax(ctx, kind, 0, 0, 0, 1, (const int[]){3, 2, 2, 1, 1, 0}, 2, 9, 7, 2, PLAIN);
        check_layer(ctx, kind, 2, 2, 0, 0, 2, 7, 9, 1, PLAIN);    /* odd sizes, floor */
        check_layer(ctx, kind, 2, 2, 0, 1, 2, 7, 9, 3, PLAIN);    /* ceil mode */
        check_layer(ctx, kind, 3, 2, 1, 0, 3, 9, 8, 3, PLAIN);    /* overlapping, padded */
        check_layer(ctx, kind, 3, 2, 1, 1, 3, 10, 7, 3, PLAIN);   /* + ceil mode */
        check_layer(ctx, kind, 2, 2, 1, 1, 2, 5, 5, 3, PLAIN);    /* ceil drops a window */
        check_layer(ctx, kind, 3, 1, 1, 0, 5, 6, 7, 1, PLAIN);    /* stride 1 */
        check_layer(ctx, kind, 4, 3, 2, 1, 67, 11, 13, 3, PLAIN); /* many channels */
        check_layer(ctx, kind, 2, 1, 0, 0, 2, 6, 6, 3, TIES);     /* ties */
        check_layer(ctx, kind, 2, 0, 0, 0, 3, 8, 6, 3, TIES);     /* ties, windows apart */
        check_layer(ctx, kind, 2, 3, 0, 0, 2, 8, 11, 3, PLAIN);   /* stride > kernel: gaps */
        check_layer(ctx, kind, 3, 4, 1, 1, 3, 10, 13, 2, PLAIN);  /* gaps, padded, ceil */
        check_layer(ctx, kind, 3, 3, 0, 0, 2, 11, 10, 3, PLAIN);  /* H, W not multiples of 3 */
        check_layer(ctx, kind, 2, 2, 0, 0, 2, 4, 514, 1, PLAIN);  /* 257-wide output rows */
        check_layer(ctx, kind, 3, 2, 1, 0, 1, 5, 521, 1, PLAIN);  /* 521-wide input rows */
        check_layer(ctx, kind, 2, 0, 0, 0, 3, 8, 6, 3, NANS);     /* NaN, windows apart */
        /* >= 8 columns: maxpool2_fwd's vector steps and its scalar tail (W 38: 4 + 4 + 3) */
        check_layer(ctx, kind, 2, 0, 0, 0, 3, 6, 38, 2, NANS);
        check_layer(ctx, kind, 2, 0, 0, 0, 3, 7, 38, 2, TIES);
        check_layer(ctx, kind, 3, 2, 1, 0, 3, 9, 8, 3, NANS);     /* NaN, overlapping */
        /* per-side padding, dilation, count_pad: {kh, kw, sh, sw, top, left, bottom, right,
         * dh, dw, count_pad, ceil} */
        for (int cp = 1; cp >= (kind == 1 ? 0 : 1); cp--) {
            /* ONNX SAME_UPPER / SAME_LOWER: one more at the end / at the start */
            check_layer_ext(ctx, kind, (const int[]){3, 3, 1, 1, 0, 0, 1, 1, 1, 1, cp, 0}, 2, 5, 6,
                            2, PLAIN);
            check_layer_ext(ctx, kind, (const int[]){2, 2, 2, 2, 1, 1, 0, 0, 1, 1, cp, 0}, 2, 5, 7,
                            2, PLAIN); /* windows apart: the cell backward */
            /* pads up to kernel - 1 on every side, more than half the window */
            check_layer_ext(ctx, kind, (const int[]){3, 3, 1, 1, 2, 2, 2, 2, 1, 1, cp, 0}, 2, 4, 5,
                            2, PLAIN);
            check_layer_ext(ctx, kind, (const int[]){3, 2, 2, 3, 2, 0, 1, 1, 1, 1, cp, 1}, 3, 7, 8,
                            2, TIES); /* asymmetric, ceil */
            /* dilation: overlapping extents; windows apart but dilated (the gather) */
            check_layer_ext(ctx, kind, (const int[]){2, 2, 1, 1, 0, 0, 0, 0, 2, 2, cp, 0}, 2, 6, 7,
                            2, PLAIN);
            check_layer_ext(ctx, kind, (const int[]){3, 2, 2, 3, 1, 2, 3, 0, 2, 3, cp, 1}, 2, 9, 11,
                            3, PLAIN);
            check_layer_ext(ctx, kind, (const int[]){2, 2, 3, 3, 0, 1, 1, 0, 2, 2, cp, 0}, 2, 8, 9,
                            2, NANS);
        }
        /* 70000 planes: two launches (at most 65535 planes each); host-side splitting of
         * kernels the cases above run, so not under Oclgrind (test_small) */
        if (!test_small()) {
            check_layer(ctx, kind, 2, 0, 0, 0, 35000, 2, 2, 2, PLAIN);
            check_layer(ctx, kind, 2, 1, 0, 0, 35000, 2, 3, 2, PLAIN);
        }
    }
    check_layer(ctx, 2, 0, 0, 0, 0, 5, 7, 3, 3, PLAIN);
    check_layer(ctx, 2, 0, 0, 0, 0, 130, 1, 1, 1, PLAIN);
    check_layer(ctx, 2, 0, 0, 0, 0, 3, 28, 28, 3, PLAIN);
    if (!test_small()) check_layer(ctx, 2, 0, 0, 0, 0, 35000, 1, 3, 2, PLAIN); /* two launches */
    check_indices(ctx, (vd_pool_geom){3, 7, 9, 4, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0}, 3, false);
    check_indices(ctx, (vd_pool_geom){3, 7, 9, 4, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0}, 3, true);
    /* asymmetric padding and dilation: P = (7 + 0 + 2 - 5) / 2 + 1 = 3, Q = (9 + 1 + 0 - 3) + 1 */
    check_indices(ctx, (vd_pool_geom){2, 7, 9, 3, 8, 3, 2, 2, 1, 0, 1, 2, 0, 2, 2, 0}, 2, true);
    check_indices_layer(ctx, 1);
    check_indices_layer(ctx, 2);
    check_net(ctx);
    check_bad(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

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

/* kind: 0 maxpool, 1 avgpool, 2 globalavgpool. */
static void check_layer(vd_context *ctx, int kind, int k, int s, int pad, int ceil_mode, int C,
                        int H, int W, size_t n, int special)
{
    static const char *types[] = {"maxpool", "avgpool", "globalavgpool"};
    char opts[128] = "", what[256];
    if (kind < 2)
        snprintf(opts, sizeof opts, "kernel=%d stride=%d pad=%d ceil=%d", k, s, pad, ceil_mode);
    snprintf(what, sizeof what, "%s %s on (%d, %d, %d) n=%zu%s", types[kind], opts, C, H, W, n,
             special == TIES   ? " with ties"
             : special == NANS ? " with NaN and inf"
                               : "");
    vd_pool_geom g = {C, H, W, 1, 1, k, k, s ? s : k, s ? s : k, pad, pad};
    if (kind < 2) {
        g.P = vd_pool_out_size(H, k, g.sh, pad, ceil_mode);
        g.Q = vd_pool_out_size(W, k, g.sw, pad, ceil_mode);
    }
    rig r;
    if (!rig_open(&r, ctx, types[kind], opts, rig_shape3(C, H, W), n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    char w2[300];
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

static void check_bad(vd_context *ctx)
{
    expect_reshape_fails(ctx, "maxpool", "kernel=2 pad=2", rig_shape3(1, 8, 8), "pad > kernel/2");
    expect_reshape_fails(ctx, "avgpool", "kernel=3", rig_shape3(1, 2, 8),
                         "window larger than input");
    expect_reshape_fails(ctx, "maxpool", "kernel=2", (vd_shape){1, {16}}, "maxpool on (16)");
    expect_reshape_fails(ctx, "globalavgpool", "", (vd_shape){1, {16}}, "globalavgpool on (16)");
    vd_layer *l = NULL;
    vd_kv kv[] = {{"kernel", "0", 0}};
    expect_status("maxpool kernel 0", ctx, vd_layer_create(ctx, "maxpool", "p", kv, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    vd_kv kv2[] = {{"units", "3", 0}};
    expect_status("globalavgpool takes no keys", ctx,
                  vd_layer_create(ctx, "globalavgpool", "p", kv2, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 16, 0, NULL, &t))) return;
    vd_pool_geom g = {1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0};
    expect_status("maxpool NULL idx", ctx,
                  vd_op_maxpool_fwd(ctx, &g, 1, t.mem, 0, t.mem, 0, NULL, 0), VD_ERR_INVALID_ARG);
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
    check_indices(ctx, (vd_pool_geom){3, 7, 9, 4, 5, 3, 3, 2, 2, 1, 1}, 3, false);
    check_indices(ctx, (vd_pool_geom){3, 7, 9, 4, 5, 3, 3, 2, 2, 1, 1}, 3, true);
    check_bad(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

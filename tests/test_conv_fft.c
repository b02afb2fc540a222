/* test_conv_fft.c - the FFT convolution algorithm (vd_conv_algo_fft: clFFT plus
 * cl/conv_fft.cl) forced on its own, all three passes, against tests/ref/conv_ref.c.
 *
 * Every shape here maps to 16 x 16 FFT planes, because each new plane size costs clFFT
 * several seconds of PoCL compilation on a cold cache: odd sizes, a non-square 5x7 kernel
 * with different paddings, no padding, batch 1 and 3; buffers at odd offsets inside
 * guard zones, the workspace too (its base is realigned for clFFT's sub-buffers). FWD and
 * BWD_DATA with beta = 0 over NaN and beta = 1; BWD_FILTER accumulating twice, and
 * bit-identical when repeated. Also: which geometries it applies to, the FFT size rule, a
 * plan clFFT cannot make (34 = 2 x 17) returning VD_ERR_FFT with the call and raw code
 * (twice: the failure is remembered) with the context still usable afterwards, bad
 * arguments, and a second context sharing clFFT's process-wide setup.
 *
 * Error bound. FFT convolution does not round like a direct sum: every output picks up
 * rounding from whole-plane transforms, so its error scales with the size of the plane's
 * values, not with the output's own magnitude. The check is therefore
 *   |got - want| <= TOL * scale,   scale = max |want| over the tensor,
 * with TOL = 4e-6. The worst measured |got - want| / scale is printed with
 * VD_TEST_VERBOSE=1; measured on PoCL (16 x 16 planes): 2.8e-7, about 2 fp32 ulps of the
 * largest output, so the bound leaves a margin of about 14 for other devices' rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv_check.h"
#include "ops/conv_fft.h"

#define TOL 4e-6

static uint64_t rng = 9001;
static double worst; /* max over checks of |got - want| / scale */

/* One check: |got - want| <= TOL * max|want|, element by element. */
static void close_scaled(const char *what, const float *got, const float *want, size_t n)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= e)) e = isnan(d) ? INFINITY : d;
    }
    if (scale > 0 && e / scale > worst) worst = e / scale;
    expect_close(what, got, want, n, (float)(TOL * scale), 0.0f);
}

typedef struct shape {
    int C, H, W, K, R, S, ph, pw;
} shape;

static vd_conv_geom geom_of(shape s)
{
    vd_conv_geom g = {s.C, s.H, s.W, s.K, 0, 0, s.R, s.S, 1, 1, s.ph, s.pw, 1, 1, 1};
    g.P = vd_conv_out_size(s.H, s.R, 1, s.ph, 1);
    g.Q = vd_conv_out_size(s.W, s.S, 1, s.pw, 1);
    return g;
}

static void check_shape(vd_context *ctx, shape sh, size_t n)
{
    const vd_conv_algo *a = &vd_conv_algo_fft;
    vd_conv_geom g = geom_of(sh);
    char what[200], w2[300];
    snprintf(what, sizeof what, "fft C%d %dx%d K%d %dx%d p%d,%d n=%zu", g.C, g.H, g.W, g.K, g.R,
             g.S, g.pad_h, g.pad_w, n);
    for (int p = 0; p < VD_CONV_N_PASSES; p++) {
        snprintf(w2, sizeof w2, "%s: applies to pass %d", what, p);
        expect_true(w2, a->applies(ctx, &g, (vd_conv_pass)p));
    }
    conv_check_passes(ctx, a, &g, n, what, &rng, close_scaled);
}

static void check_rules(vd_context *ctx)
{
    const vd_conv_algo *a = &vd_conv_algo_fft;
    expect_true("fft size 0 -> 0", vd_conv_fft_size(0) == 0);
    expect_true("fft size 1 -> 2", vd_conv_fft_size(1) == 2);
    expect_true("fft size 13 -> 14", vd_conv_fft_size(13) == 14);
    expect_true("fft size 16 -> 16", vd_conv_fft_size(16) == 16);
    expect_true("fft size 17 -> 18", vd_conv_fft_size(17) == 18);
    expect_true("fft size 34 -> 36", vd_conv_fft_size(34) == 36);
    expect_true("fft size 62 -> 64", vd_conv_fft_size(62) == 64);
    expect_true("fft size 2^21 -> 0", vd_conv_fft_size((size_t)1 << 21) == 0);
    vd_conv_geom g = geom_of((shape){4, 28, 28, 8, 5, 5, 2, 2});
    expect_true("fft applies to 5x5 stride 1", a->applies(ctx, &g, VD_CONV_FWD));
    vd_conv_geom b = g;
    b.stride_h = b.stride_w = 2, b.P = b.Q = 14;
    expect_true("fft does not apply to stride 2", !a->applies(ctx, &b, VD_CONV_FWD));
    b = g, b.dil_h = b.dil_w = 2, b.P = b.Q = 24;
    expect_true("fft does not apply to dilation 2", !a->applies(ctx, &b, VD_CONV_BWD_DATA));
    b = g, b.groups = 2;
    expect_true("fft does not apply to groups 2", !a->applies(ctx, &b, VD_CONV_BWD_FILTER));
    b = geom_of((shape){4, 28, 28, 8, 3, 3, 1, 1});
    expect_true("fft does not apply to 3x3", !a->applies(ctx, &b, VD_CONV_FWD));
    b = geom_of((shape){4, 28, 28, 8, 5, 3, 2, 1});
    expect_true("fft does not apply to 5x3", !a->applies(ctx, &b, VD_CONV_FWD));
    expect_true("fft does not apply to an unknown pass", !a->applies(ctx, &g, VD_CONV_N_PASSES));
    expect_true("fft does not apply to a NULL geometry", !a->applies(ctx, NULL, VD_CONV_FWD));
    expect_true("fft workspace of a shape it does not handle is 0",
                a->workspace(ctx, &b, VD_CONV_FWD, 4) == 0);
    /* The workspace grows with the chunk. */
    expect_true("fft workspace grows with n",
                a->workspace(ctx, &g, VD_CONV_FWD, 8) > a->workspace(ctx, &g, VD_CONV_FWD, 4));
}

static void check_bad(vd_context *ctx)
{
    const vd_conv_algo *a = &vd_conv_algo_fft;
    /* A length clFFT cannot do (17 is not one of its radices): an error, not a crash. */
    vd_status st = vd_conv_fft_probe(ctx, 34, 34, 1);
    expect_status("fft plan 34x34 fails", ctx, st, VD_ERR_FFT);
    const char *msg = vd_last_error(ctx);
    expect_true("fft plan failure names the clFFT call", strstr(msg, "clfft") != NULL);
    expect_true("fft plan failure names the raw code", strstr(msg, "-> ") != NULL);
    if (getenv("VD_TEST_VERBOSE")) printf("fft 34x34: %s\n", msg);
    expect_status("fft plan 34x34 fails again (remembered)", ctx,
                  vd_conv_fft_probe(ctx, 34, 34, 1), VD_ERR_FFT);
    expect_status("fft plan 16x16 works", ctx, vd_conv_fft_probe(ctx, 16, 16, 2), VD_OK);
    expect_status("fft probe of an empty transform", ctx, vd_conv_fft_probe(ctx, 0, 16, 1),
                  VD_ERR_INVALID_ARG);
    expect_status("fft probe with NULL ctx", NULL, vd_conv_fft_probe(NULL, 16, 16, 1),
                  VD_ERR_INVALID_ARG);

    vd_conv_geom g = geom_of((shape){2, 12, 12, 3, 5, 5, 2, 2});
    vd_conv_geom s2 = g;
    s2.stride_h = 2, s2.P = 6;
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 64, 4, NULL, &t))) return;
    vd_conv_io io = {0};
    io.x = io.w = io.y = io.dy = io.dx = io.dw = io.ws = t.mem;
    expect_status("fft run on stride 2", ctx, a->run(ctx, &s2, VD_CONV_FWD, 1, &io),
                  VD_ERR_INVALID_ARG);
    vd_conv_geom bad = g;
    bad.K = 0;
    expect_status("fft run with a bad geometry", ctx, a->run(ctx, &bad, VD_CONV_FWD, 1, &io),
                  VD_ERR_INVALID_ARG);
    expect_status("fft run with NULL io", ctx, a->run(ctx, &g, VD_CONV_FWD, 1, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("fft run with NULL ctx", NULL, a->run(NULL, &g, VD_CONV_FWD, 1, &io),
                  VD_ERR_INVALID_ARG);
    vd_conv_io no_ws = io;
    no_ws.ws = NULL;
    expect_status("fft fwd with NULL workspace", ctx, a->run(ctx, &g, VD_CONV_FWD, 1, &no_ws),
                  VD_ERR_INVALID_ARG);
    vd_conv_io no_dw = io;
    no_dw.dw = NULL;
    expect_status("fft bwd filter with NULL dw", ctx,
                  a->run(ctx, &g, VD_CONV_BWD_FILTER, 1, &no_dw), VD_ERR_INVALID_ARG);
    expect_status("fft unknown pass", ctx, a->run(ctx, &g, VD_CONV_N_PASSES, 1, &io),
                  VD_ERR_INVALID_ARG);
    expect_status("fft n = 0 is a no-op", ctx, a->run(ctx, &g, VD_CONV_FWD, 0, &io), VD_OK);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    expect_guards("fft n = 0 writes nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    const char *verbose = getenv("VD_TEST_VERBOSE");
    check_rules(ctx);
    if (!vd_conv_algo_fft.applies(ctx, &(vd_conv_geom){1, 8, 8, 1, 4, 4, 5, 5, 1, 1, 0, 0, 1,
                                                       1, 1},
                                  VD_CONV_FWD)) {
        check_skip("fft convolution", "built without clFFT");
        vd_context_destroy(ctx);
        return check_summary();
    }
    check_bad(ctx);
    /* {C, H, W, K, R, S, ph, pw}; all on 16 x 16 planes */
    check_shape(ctx, (shape){3, 12, 12, 4, 5, 5, 2, 2}, 3);
    check_shape(ctx, (shape){2, 13, 9, 3, 5, 7, 1, 3}, 3); /* odd, non-square kernel */
    check_shape(ctx, (shape){4, 16, 15, 2, 5, 5, 0, 0}, 1); /* no padding, batch 1 */
    check_shape(ctx, (shape){1, 10, 10, 5, 7, 7, 3, 3}, 3); /* 7x7, C = 1 */

    /* A second context shares clFFT's process-wide setup; destroying it leaves the first
     * one working. */
    vd_context *ctx2 = NULL;
    if (EXPECT_OK(NULL, vd_context_create(NULL, &ctx2))) {
        check_shape(ctx2, (shape){2, 12, 12, 2, 5, 5, 2, 2}, 1);
        vd_context_destroy(ctx2);
    }
    check_shape(ctx, (shape){2, 12, 12, 2, 5, 5, 2, 2}, 1);
    if (verbose) printf("fft: worst |got - want| / max|want| = %.3g (bound %g)\n", worst, TOL);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

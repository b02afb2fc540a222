/* test_conv_direct.c - the direct convolution algorithm (vd_conv_algo_direct,
 * cl/conv_direct.cl) forced on its own, all three passes, against tests/ref/conv_ref.c.
 *
 * Shapes: LeNet's first layer (C = 1, 5x5, pad 2), RGB-like C = 3 with more than 8
 * filters (a partial block of output channels), groups with 2 and 4 input channels per
 * group, depthwise with stride 2, padding and dilation, depthwise with a channel
 * multiplier, different strides/pads/dilations along h and w, a non-square kernel, rows
 * longer than one work-group, batch 1 and 3. Every buffer sits at an odd offset inside
 * guard zones. FWD and BWD_DATA run with beta = 0 over an output full of NaN (it must not
 * be read) and with beta = 1 over random values; BWD_FILTER accumulates twice into a
 * random dw and is bit-identical when repeated. The forward runs with each of its kernels
 * (direct_fwd_k, output columns along the lanes, and direct_fwd_v8 and v16, output
 * channels along them: the one the launcher picks, then the others forced). Also: applies() for
 * shapes it does not handle, run() on bad arguments, n = 0. */
#define _GNU_SOURCE /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv_check.h"
#include "ops/conv_algo.h"
#include "runtime/runtime.h"

/* Same bound as test_conv.c (dot products of up to 800 terms here, dW sums of up
 * to n*P*Q = 3*784 terms, inputs in [-1, 1]); the worst error seen here is printed with
 * VD_TEST_VERBOSE=1. */
#define ATOL 2e-5f
#define RTOL 1e-4f

static uint64_t rng = 4242;
static double worst_ratio; /* max over all checks of |got - want| / (ATOL + RTOL |want|) */

static void close_and_track(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - want[i]) / (ATOL + RTOL * fabs((double)want[i]));
        if (r > worst_ratio || isnan(r)) worst_ratio = isnan(r) ? INFINITY : r;
    }
    expect_close(what, got, want, n, ATOL, RTOL);
}

typedef struct shape {
    int C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G;
} shape;

static vd_conv_geom geom_of(shape s)
{
    vd_conv_geom g = {s.C, s.H, s.W, s.K, 0, 0, s.R, s.S, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.G};
    g.P = vd_conv_out_size(s.H, s.R, s.sh, s.ph, s.dh);
    g.Q = vd_conv_out_size(s.W, s.S, s.sw, s.pw, s.dw);
    return g;
}

static void check_shape(vd_context *ctx, shape sh, size_t n)
{
    const vd_conv_algo *a = &vd_conv_algo_direct;
    vd_conv_geom g = geom_of(sh);
    char what[200], w2[300];
    snprintf(what, sizeof what,
             "direct C%d %dx%d K%d %dx%d s%d,%d p%d,%d d%d,%d g%d n=%zu", g.C, g.H, g.W, g.K,
             g.R, g.S, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups, n);
    for (int p = 0; p < VD_CONV_N_PASSES; p++) {
        snprintf(w2, sizeof w2, "%s: applies to pass %d", what, p);
        expect_true(w2, a->applies(ctx, &g, (vd_conv_pass)p));
        /* Backward-data at stride 1, dilation 1 and padding <= R-1 with 4-16 channels on
         * each side runs as a forward convolution with the flipped weights (K*Cg*R*S
         * floats) in the workspace. */
        bool flip = p == VD_CONV_BWD_DATA && g.stride_h == 1 && g.stride_w == 1 &&
                    g.dil_h == 1 && g.dil_w == 1 && g.pad_h <= g.R - 1 &&
                    g.pad_w <= g.S - 1 && g.K / g.groups <= 16 && g.C / g.groups >= 4;
        size_t want = flip ? (size_t)g.K * (size_t)(g.C / g.groups) * (size_t)(g.R * g.S) : 0;
        if (p == VD_CONV_FWD) continue; /* below, per forward kernel */
        snprintf(w2, sizeof w2, "%s: workspace for pass %d is %zu floats", what, p, want);
        expect_true(w2, a->workspace(ctx, &g, (vd_conv_pass)p, n) == want);
    }
    /* Every pass with the forward kernel the launcher picks, then the forward again with
     * the other one forced (VERDANT_DIRECT_FWD): direct_fwd_k (no workspace) and
     * direct_fwd_v<KV> (its packed weights in the workspace: G * round_up(Kg, KV) * Cg*R*S
     * floats, KV 16 on devices with 16-lane native float vectors and Kg > 8, else 8). */
    size_t G = (size_t)g.groups, Kg = (size_t)g.K / G,
           kv = ctx->dev.vec_width >= 16 && Kg > 8 ? 16 : 8;
    size_t packed = G * ((Kg + kv - 1) / kv * kv) * (size_t)(g.C / g.groups) * (size_t)(g.R * g.S);
    unsetenv("VERDANT_DIRECT_FWD");
    bool lanes = a->workspace(ctx, &g, VD_CONV_FWD, n) != 0;
    const char *forced[2] = {"rows", "lanes"};
    for (int v = 0; v < 2; v++) {
        setenv("VERDANT_DIRECT_FWD", forced[v], 1);
        size_t want = v ? packed : 0;
        snprintf(w2, sizeof w2, "%s: forward workspace with %s is %zu floats", what, forced[v],
                 want);
        expect_true(w2, a->workspace(ctx, &g, VD_CONV_FWD, n) == want);
    }
    unsetenv("VERDANT_DIRECT_FWD");
    conv_check_passes(ctx, a, &g, n, what, &rng, close_and_track);
    /* The forward with the kernels the launcher did not pick: direct_fwd_k, or
     * direct_fwd_v with the other KV (Oclgrind's native vectors are narrow, so v16 runs
     * there only forced). Under Oclgrind (test_small) on one image: every kernel still
     * runs every geometry, and the batch indexing is checked by the picked kernel's runs
     * above (at n images these two runs doubled the test's 39 s there). */
    size_t nf = test_small() ? 1 : n;
    const char *others[2] = {lanes ? "rows" : (kv == 16 ? "lanes16" : "lanes8"),
                             kv == 16 ? "lanes8" : "lanes16"};
    for (int v = 0; v < 2; v++) {
        setenv("VERDANT_DIRECT_FWD", others[v], 1);
        snprintf(w2, sizeof w2, "%s, forward %s, n=%zu", what, others[v], nf);
        conv_check_some_passes(ctx, a, &g, nf, w2, &rng, close_and_track, 1u << VD_CONV_FWD);
    }
    unsetenv("VERDANT_DIRECT_FWD");
    printf("%s: forward kernel %s\n", what, lanes ? "direct_fwd_v (lanes)" : "direct_fwd_k (rows)");
}

static void check_bad(vd_context *ctx)
{
    const vd_conv_algo *a = &vd_conv_algo_direct;
    shape s5 = {17, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1}; /* C/groups = 17: not handled */
    vd_conv_geom g5 = geom_of(s5);
    expect_true("direct does not apply to C/groups = 17", !a->applies(ctx, &g5, VD_CONV_FWD));
    vd_conv_geom bad = g5;
    bad.groups = 2; /* does not divide C */
    expect_true("direct does not apply to groups not dividing C",
                !a->applies(ctx, &bad, VD_CONV_BWD_DATA));
    expect_true("direct does not apply to an unknown pass",
                !a->applies(ctx, &g5, VD_CONV_N_PASSES));
    expect_true("direct does not apply to a NULL geometry", !a->applies(ctx, NULL, VD_CONV_FWD));
    shape s1 = {2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    vd_conv_geom g = geom_of(s1);
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 256, 4, NULL, &t))) return;
    vd_conv_io io = {0};
    io.x = io.w = io.y = io.dy = io.dx = io.dw = t.mem;
    expect_status("direct run on a shape it does not handle", ctx,
                  a->run(ctx, &g5, VD_CONV_FWD, 1, &io), VD_ERR_INVALID_ARG);
    expect_status("direct run with a bad geometry", ctx, a->run(ctx, &bad, VD_CONV_FWD, 1, &io),
                  VD_ERR_INVALID_ARG);
    expect_status("direct run with NULL io", ctx, a->run(ctx, &g, VD_CONV_FWD, 1, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("direct run with NULL ctx", NULL, a->run(NULL, &g, VD_CONV_FWD, 1, &io),
                  VD_ERR_INVALID_ARG);
    vd_conv_io no_x = io;
    no_x.x = NULL;
    expect_status("direct fwd with NULL x", ctx, a->run(ctx, &g, VD_CONV_FWD, 1, &no_x),
                  VD_ERR_INVALID_ARG);
    vd_conv_io no_dx = io;
    no_dx.dx = NULL;
    expect_status("direct bwd data with NULL dx", ctx,
                  a->run(ctx, &g, VD_CONV_BWD_DATA, 1, &no_dx), VD_ERR_INVALID_ARG);
    vd_conv_geom gf = geom_of((shape){4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}); /* as forward */
    expect_status("direct bwd data (as a forward convolution) with no workspace", ctx,
                  a->run(ctx, &gf, VD_CONV_BWD_DATA, 1, &io), VD_ERR_INVALID_ARG);
    setenv("VERDANT_DIRECT_FWD", "lanes", 1);
    expect_status("direct forward (direct_fwd_v) with no workspace", ctx,
                  a->run(ctx, &g, VD_CONV_FWD, 1, &io), VD_ERR_INVALID_ARG);
    unsetenv("VERDANT_DIRECT_FWD");
    vd_conv_io no_dw = io;
    no_dw.dw = NULL;
    expect_status("direct bwd filter with NULL dw", ctx,
                  a->run(ctx, &g, VD_CONV_BWD_FILTER, 1, &no_dw), VD_ERR_INVALID_ARG);
    expect_status("direct unknown pass", ctx, a->run(ctx, &g, VD_CONV_N_PASSES, 1, &io),
                  VD_ERR_INVALID_ARG);
    expect_status("direct n = 0 is a no-op", ctx, a->run(ctx, &g, VD_CONV_FWD, 0, &io), VD_OK);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    expect_guards("direct n = 0 writes nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    const char *verbose = getenv("VD_TEST_VERBOSE");

    /* {C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G} */
    check_shape(ctx, (shape){1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1}, 3); /* LeNet conv1 */
    check_shape(ctx, (shape){3, 11, 9, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1}, 3); /* 10 = 8 + 2 */
    check_shape(ctx, (shape){4, 7, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2}, 3);   /* Cg 2, Kg 3 */
    check_shape(ctx, (shape){8, 6, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2}, 1);   /* Cg 4 */
    check_shape(ctx, (shape){6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1}, 3); /* LeNet conv2 */
    check_shape(ctx, (shape){16, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 2);   /* Cg 16 */
    check_shape(ctx, (shape){5, 13, 10, 5, 3, 3, 1, 1, 2, 2, 2, 2, 5}, 3); /* depthwise, dil 2 */
    check_shape(ctx, (shape){6, 9, 12, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6}, 1);  /* depthwise s2 5x5 */
    check_shape(ctx, (shape){3, 8, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3}, 3);   /* multiplier 2 */
    check_shape(ctx, (shape){2, 9, 11, 3, 2, 3, 1, 2, 0, 1, 2, 1, 1}, 3);  /* h != w */
    check_shape(ctx, (shape){1, 5, 70, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 3);  /* rows > 64 */
    check_shape(ctx, (shape){3, 4, 3, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1}, 3);  /* 1x1, 17 = 8+8+1 */
    check_bad(ctx);
    if (verbose)
        printf("direct: worst |got - want| / (%g + %g |want|) = %.3f\n", ATOL, RTOL, worst_ratio);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

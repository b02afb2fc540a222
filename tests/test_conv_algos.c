/* test_conv_algos.c - every convolution algorithm in the table (src/ops/conv_algo.h) against
 * the shared CPU reference (tests/ref/conv_ref.c), for every pass it says it applies to,
 * through vd_conv_run_batch with chunks of 2 on a batch of 3 (so chunk offsets are
 * exercised), on buffers at odd offsets with guard zones. Forward and backward-data are
 * run with beta = 0 on an output full of NaN (which must not leak through) and then with
 * beta = 1; backward-filter accumulates into a non-zero dw. Algorithms that apply the
 * forward epilogue in their own store (.epilogue) are also run with a bias and ReLU (beta 0
 * over NaN) and with ReLU alone (beta 1). Also: the selection honours
 * VERDANT_CONV_ALGO, rejects an unknown name, and records its measured choice in the
 * tuning cache.
 *
 * Tolerances: dot products of length <= C/groups*R*S = 144 (forward, backward-data) and
 * n*P*Q <= 3*13*11 = 429 (backward-filter), inputs in [-1, 1], as in test_conv.c
 * (2e-5 absolute + 1e-4 relative). Winograd and FFT algorithms carry their own transform
 * error and are held to the bound their own tests establish (WINO_TOL below). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ops/conv_select.h"
#include "ref_cnn.h"
#include "runtime/tune.h"

#define ATOL 2e-5f
#define RTOL 1e-4f
/* Algorithms that transform (Winograd, FFT) are checked against a looser bound relative
 * to the output's scale: 1e-4 of max |ref| absolute. Measured errors are in their own
 * tests (test_winograd.c, test_conv_fft.c), which hold them to tighter per-variant bounds. */
#define XFORM_ATOL_REL 1e-4f

static uint64_t rng = 4242;

static vd_conv_geom geom(int C, int H, int W, int K, int R, int S, int st, int pad, int dil,
                         int groups)
{
    vd_conv_geom g = {C, H, W, K, 0, 0, R, S, st, st, pad, pad, dil, dil, groups};
    g.P = vd_conv_out_size(H, R, st, pad, dil);
    g.Q = vd_conv_out_size(W, S, st, pad, dil);
    return g;
}

static bool is_transform(const char *name)
{
    return strncmp(name, "winograd", 8) == 0 || strcmp(name, "fft") == 0;
}

static float max_abs(const float *v, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

static void close_to(const char *what, const char *algo, const float *got, const float *want,
                     size_t n)
{
    float atol = is_transform(algo) ? XFORM_ATOL_REL * max_abs(want, n) + ATOL : ATOL;
    expect_close(what, got, want, n, atol, RTOL);
}

/* Run pass p of algorithm a on geometry g, batch n = 3, chunks of 2, and compare. */
static void check_pass(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass p)
{
    const vd_conv_algo *al = vd_conv_algos[a];
    size_t n = 3, chunk = 2;
    size_t nx = n * (size_t)g->C * (size_t)g->H * (size_t)g->W;
    size_t ny = n * (size_t)g->K * (size_t)g->P * (size_t)g->Q;
    size_t nw = (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S;
    float *x = rig_rand_array(&rng, nx, -1, 1), *w = rig_rand_array(&rng, nw, -1, 1);
    float *dy = rig_rand_array(&rng, ny, -1, 1), *prior = NULL;
    size_t nout = p == VD_CONV_FWD ? ny : p == VD_CONV_BWD_DATA ? nx : nw;
    float *want = calloc(nout, sizeof(float)), *got = test_malloc(nout * sizeof(float));
    float *dwz = calloc(nw, sizeof(float)), *dxz = calloc(nx, sizeof(float));
    char what[160];
    snprintf(what, sizeof what, "%s %s C%d %dx%d K%d k%dx%d s%d p%d d%d g%d", al->name,
             p == VD_CONV_FWD ? "fwd" : p == VD_CONV_BWD_DATA ? "bwd_data" : "bwd_filter", g->C,
             g->H, g->W, g->K, g->R, g->S, g->stride_h, g->pad_h, g->dil_h, g->groups);
    test_buf bx, bw, bo, bdy, bws;
    size_t wsf = al->workspace(ctx, g, p, chunk);
    EXPECT_OK(ctx, test_buf_create(ctx, nx, 3, x, &bx));
    EXPECT_OK(ctx, test_buf_create(ctx, nw, 5, w, &bw));
    EXPECT_OK(ctx, test_buf_create(ctx, ny, 7, dy, &bdy));
    EXPECT_OK(ctx, test_buf_create(ctx, nout, 11, NULL, &bo));
    EXPECT_OK(ctx, test_buf_create(ctx, wsf ? wsf : 1, 13, NULL, &bws));
    vd_conv_io io = {.ws = bws.mem, .ws_off = bws.off};
    if (p == VD_CONV_FWD)
        io.x = bx.mem, io.x_off = bx.off, io.w = bw.mem, io.w_off = bw.off, io.y = bo.mem,
        io.y_off = bo.off;
    else if (p == VD_CONV_BWD_DATA)
        io.dy = bdy.mem, io.dy_off = bdy.off, io.w = bw.mem, io.w_off = bw.off, io.dx = bo.mem,
        io.dx_off = bo.off;
    else
        io.x = bx.mem, io.x_off = bx.off, io.dy = bdy.mem, io.dy_off = bdy.off, io.dw = bo.mem,
        io.dw_off = bo.off;
    /* Round 1: beta 0 over NaN (forward/backward-data), or dw starting from `prior`. */
    float *init = test_malloc(nout * sizeof(float));
    for (size_t i = 0; i < nout; i++) init[i] = p == VD_CONV_BWD_FILTER ? 0.25f : NAN;
    EXPECT_OK(ctx, test_buf_write(&bo, init));
    EXPECT_OK(ctx, vd_conv_run_batch(ctx, a, g, p, n, chunk, &io));
    EXPECT_OK(ctx, test_buf_read(&bo, got));
    if (p == VD_CONV_FWD) {
        ref_conv2d_fwd(g, n, x, w, NULL, want);
    } else if (p == VD_CONV_BWD_DATA) {
        ref_conv2d_bwd(g, n, x, w, dy, 0.0f, want, dwz, NULL);
    } else {
        for (size_t i = 0; i < nw; i++) want[i] = 0.25f;
        ref_conv2d_bwd(g, n, x, w, dy, 0.0f, dxz, want, NULL);
    }
    close_to(what, al->name, got, want, nout);
    expect_guards(what, &bo);
    /* Round 2: beta 1 (forward, backward-data) or a second accumulation (filter). */
    if (p != VD_CONV_BWD_FILTER) {
        prior = rig_rand_array(&rng, nout, -1, 1);
        EXPECT_OK(ctx, test_buf_write(&bo, prior));
        io.beta = 1.0f;
        EXPECT_OK(ctx, vd_conv_run_batch(ctx, a, g, p, n, chunk, &io));
        EXPECT_OK(ctx, test_buf_read(&bo, got));
        for (size_t i = 0; i < nout; i++) want[i] += prior[i];
        char w2[200];
        snprintf(w2, sizeof w2, "%s beta=1", what);
        close_to(w2, al->name, got, want, nout);
    }
    /* Rounds 3 and 4: the fused epilogue, y = relu(beta * y + conv + b). */
    if (p == VD_CONV_FWD && al->epilogue) {
        float *b = rig_rand_array(&rng, (size_t)g->K, -1, 1);
        test_buf bb;
        EXPECT_OK(ctx, test_buf_create(ctx, (size_t)g->K, 17, b, &bb));
        EXPECT_OK(ctx, test_buf_write(&bo, init));
        io.beta = 0.0f, io.b = bb.mem, io.b_off = bb.off, io.relu = true;
        EXPECT_OK(ctx, vd_conv_run_batch(ctx, a, g, p, n, chunk, &io));
        EXPECT_OK(ctx, test_buf_read(&bo, got));
        ref_conv2d_fwd(g, n, x, w, b, want);
        size_t clipped = 0;
        for (size_t i = 0; i < nout; i++) {
            clipped += want[i] <= 0.0f;
            want[i] = want[i] > 0.0f ? want[i] : 0.0f;
        }
        char w2[300];
        snprintf(w2, sizeof w2, "%s epilogue bias+relu (%zu of %zu clipped)", what, clipped, nout);
        close_to(w2, al->name, got, want, nout);
        expect_true(w2, clipped > 0 && clipped < nout);
        EXPECT_OK(ctx, test_buf_write(&bo, prior));
        io.beta = 1.0f, io.b = NULL, io.b_off = 0;
        EXPECT_OK(ctx, vd_conv_run_batch(ctx, a, g, p, n, chunk, &io));
        EXPECT_OK(ctx, test_buf_read(&bo, got));
        ref_conv2d_fwd(g, n, x, w, NULL, want);
        for (size_t i = 0; i < nout; i++) {
            float v = want[i] + prior[i];
            want[i] = v > 0.0f ? v : 0.0f;
        }
        snprintf(w2, sizeof w2, "%s epilogue relu beta=1", what);
        close_to(w2, al->name, got, want, nout);
        expect_guards(what, &bb);
        test_buf_destroy(&bb);
        free(b);
    }
    test_buf_destroy(&bx);
    test_buf_destroy(&bw);
    test_buf_destroy(&bdy);
    test_buf_destroy(&bo);
    test_buf_destroy(&bws);
    free(x), free(w), free(dy), free(want), free(got), free(dwz), free(dxz), free(init);
    free(prior);
}

static void check_selection(vd_context *ctx)
{
    vd_conv_geom g = geom(4, 9, 9, 8, 3, 3, 1, 1, 1, 1);
    int a = -1;
    setenv("VERDANT_CONV_ALGO", "im2col", 1);
    EXPECT_OK(ctx, vd_conv_select(ctx, &g, VD_CONV_FWD, 2, 1 << 20, &a));
    expect_true("VERDANT_CONV_ALGO=im2col is honoured", a == vd_conv_algo_find("im2col"));
    setenv("VERDANT_CONV_ALGO", "no-such-algo", 1);
    expect_status("unknown VERDANT_CONV_ALGO", ctx,
                  vd_conv_select(ctx, &g, VD_CONV_FWD, 2, 1 << 20, &a), VD_ERR_INVALID_ARG);
    expect_true("the message lists the algorithms",
                strstr(vd_last_error(ctx), "no-such-algo") && strstr(vd_last_error(ctx), "im2col"));
    unsetenv("VERDANT_CONV_ALGO");
    /* Measuring runs every algorithm, FFT included: not where algorithms are left out
     * (VD_TEST_SKIP_ALGOS, the Oclgrind runs); the records are host logic. */
    if (test_algo_skipped("fft")) return;
    /* Measured choice: recorded in the tuning cache under the shape's key. */
    EXPECT_OK(ctx, vd_conv_select(ctx, &g, VD_CONV_BWD_DATA, 2, 1 << 20, &a));
    char key[VD_TUNE_KEY_MAX], val[VD_TUNE_KEY_MAX];
    vd_conv_key(&g, VD_CONV_BWD_DATA, 2, key, sizeof key);
    bool rec = vd_tune_get(ctx, key, val, sizeof val);
    expect_true("the measured choice is in the tuning cache", rec);
    if (rec) {
        char *at = strchr(val, '@');
        if (at) *at = '\0';
        expect_true("the record names the chosen algorithm", vd_conv_algo_find(val) == a);
    }
    /* VERDANT_TUNE_FOR=energy without a meter: chosen by time, under the time key. */
    setenv("VERDANT_TUNE_FOR", "energy", 1);
    setenv("VERDANT_METER", "off", 1);
    EXPECT_OK(ctx, vd_conv_select(ctx, &g, VD_CONV_BWD_FILTER, 2, 1 << 20, &a));
    vd_conv_key(&g, VD_CONV_BWD_FILTER, 2, key, sizeof key);
    expect_true("no meter: the choice is recorded by time", vd_tune_get(ctx, key, val, sizeof val) &&
                                                                 !strchr(val, 'J'));
    unsetenv("VERDANT_TUNE_FOR");
    unsetenv("VERDANT_METER");
    setenv("VERDANT_TUNE", "off", 1);
    int h = -1;
    EXPECT_OK(ctx, vd_conv_select(ctx, &g, VD_CONV_FWD, 2, 1 << 20, &h));
    expect_true("VERDANT_TUNE=off takes the heuristic",
                h == vd_conv_algo_heuristic(ctx, &g, VD_CONV_FWD));
    unsetenv("VERDANT_TUNE");
}

int main(void)
{
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    if (rc) return rc == TEST_SKIP ? check_summary() : rc;
    const vd_conv_geom shapes[] = {
        geom(3, 13, 11, 5, 3, 3, 1, 1, 1, 1),   /* odd sizes, 3x3 stride 1 (Winograd) */
        geom(16, 8, 8, 16, 3, 3, 1, 0, 1, 1),   /* no padding */
        geom(5, 12, 10, 7, 3, 3, 2, 1, 1, 1),   /* stride 2 */
        geom(4, 11, 11, 6, 3, 3, 1, 2, 2, 1),   /* dilation 2 */
        geom(6, 9, 9, 4, 3, 3, 1, 1, 1, 2),     /* groups 2 */
        geom(8, 10, 10, 8, 3, 3, 1, 1, 1, 8),   /* depthwise */
        geom(1, 12, 12, 6, 5, 5, 1, 2, 1, 1),   /* one channel, 5x5 (LeNet's first layer) */
        geom(6, 14, 14, 16, 5, 5, 1, 0, 1, 1),  /* LeNet's second layer */
        geom(8, 7, 9, 12, 1, 1, 1, 0, 1, 1),    /* 1x1 */
        geom(4, 9, 8, 5, 2, 3, 1, 1, 1, 1),     /* non-square kernel */
    };
    int runs = 0;
    for (int a = 0; vd_conv_algos[a]; a++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int p = 0; p < VD_CONV_N_PASSES; p++)
                if (!test_algo_skipped(vd_conv_algos[a]->name) &&
                    vd_conv_algos[a]->applies(ctx, &shapes[s], (vd_conv_pass)p)) {
                    check_pass(ctx, a, &shapes[s], (vd_conv_pass)p);
                    runs++;
                }
    printf("%d algorithm/shape/pass combinations checked\n", runs);
    check_selection(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

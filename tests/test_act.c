/* test_act.c - cl/act.cl against tests/ref/act_ref.c: every activation, forward and
 * backward (beta 0 over garbage and beta != 0), in place, odd sizes, non-zero offsets,
 * guard zones, and bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ops/ops.h"
#include "ref.h"

/* Elementwise fp32: a few ulp of the result, plus an absolute floor for values near 0
 * (sigmoid/tanh derivatives y(1-y), 1-y^2 lose relative precision as y -> 1). */
#define ATOL 1e-5f
#define RTOL 1e-4f

static const char *act_names[] = {"identity", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"};
static uint64_t rng = 11;

/* Leaky ReLU has its own launchers (it takes a slope); these route every kind to its own. */
#define LEAKY_ALPHA 0.1f

static vd_status dev_fwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                         size_t yo)
{
    return act == VD_ACT_LEAKY_RELU ? vd_op_leaky_fwd(ctx, LEAKY_ALPHA, n, x, xo, y, yo)
                                    : vd_op_act_fwd(ctx, act, n, x, xo, y, yo);
}

static vd_status dev_bwd(vd_context *ctx, vd_act act, size_t n, cl_mem x, size_t xo, cl_mem y,
                         size_t yo, cl_mem dy, size_t dyo, float beta, cl_mem dx, size_t dxo)
{
    return act == VD_ACT_LEAKY_RELU
               ? vd_op_leaky_bwd(ctx, LEAKY_ALPHA, n, x, xo, dy, dyo, beta, dx, dxo)
               : vd_op_act_bwd(ctx, act, n, x, xo, y, yo, dy, dyo, beta, dx, dxo);
}

static void want_fwd(vd_act act, size_t n, const float *x, float *y)
{
    if (act == VD_ACT_LEAKY_RELU) ref_leaky_fwd(LEAKY_ALPHA, n, x, y);
    else ref_act_fwd(act, n, x, y);
}

static void want_bwd(vd_act act, size_t n, const float *x, const float *dy, float beta, float *dx)
{
    if (act == VD_ACT_LEAKY_RELU) ref_leaky_bwd(LEAKY_ALPHA, n, x, dy, beta, dx);
    else ref_act_bwd(act, n, x, NULL, dy, beta, dx);
}

static void check_act(vd_context *ctx, vd_act act, size_t n, size_t off)
{
    char what[128];
    size_t bytes = n * sizeof(float);
    float *x = test_malloc(bytes), *dy = test_malloc(bytes), *dx0 = test_malloc(bytes);
    float *want = test_malloc(bytes), *got = test_malloc(bytes), *nan = test_malloc(bytes);
    test_fill_uniform(&rng, x, n, -6.0f, 6.0f);
    test_fill_uniform(&rng, dy, n, -1.0f, 1.0f);
    test_fill_uniform(&rng, dx0, n, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    test_buf bx, by, bdy, bdx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, n, off, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 3, NULL, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, 2 * off, dy, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 1, nan, &bdx));
    if (!ok)
        goto done;

    snprintf(what, sizeof what, "act_fwd %s n=%zu off=%zu", act_names[act], n, off);
    EXPECT_OK(ctx, dev_fwd(ctx, act, n, bx.mem, bx.off, by.mem, by.off));
    EXPECT_OK(ctx, test_buf_read(&by, got));
    want_fwd(act, n, x, want);
    expect_close(what, got, want, n, ATOL, RTOL);
    expect_guards(what, &by);

    /* beta = 0 over a dx full of NaN: dx must be overwritten, not read. */
    snprintf(what, sizeof what, "act_bwd %s beta=0 n=%zu off=%zu", act_names[act], n, off);
    EXPECT_OK(ctx, dev_bwd(ctx, act, n, bx.mem, bx.off, by.mem, by.off, bdy.mem, bdy.off,
                                 0.0f, bdx.mem, bdx.off));
    EXPECT_OK(ctx, test_buf_read(&bdx, got));
    want_bwd(act, n, x, dy, 0.0f, want);
    expect_close(what, got, want, n, ATOL, RTOL);
    expect_guards(what, &bdx);

    snprintf(what, sizeof what, "act_bwd %s beta=0.5 n=%zu off=%zu", act_names[act], n, off);
    EXPECT_OK(ctx, test_buf_write(&bdx, dx0));
    EXPECT_OK(ctx, dev_bwd(ctx, act, n, bx.mem, bx.off, by.mem, by.off, bdy.mem, bdy.off,
                                 0.5f, bdx.mem, bdx.off));
    EXPECT_OK(ctx, test_buf_read(&bdx, got));
    for (size_t i = 0; i < n; i++)
        want[i] = dx0[i];
    want_bwd(act, n, x, dy, 0.5f, want);
    expect_close(what, got, want, n, ATOL, RTOL);

    /* In place: x and y the same memory. */
    snprintf(what, sizeof what, "act_fwd %s in place n=%zu off=%zu", act_names[act], n, off);
    EXPECT_OK(ctx, dev_fwd(ctx, act, n, bx.mem, bx.off, bx.mem, bx.off));
    EXPECT_OK(ctx, test_buf_read(&bx, got));
    want_fwd(act, n, x, want);
    expect_close(what, got, want, n, ATOL, RTOL);
    expect_guards(what, &bx);

done:
    test_buf_destroy(&bx), test_buf_destroy(&by), test_buf_destroy(&bdy), test_buf_destroy(&bdx);
    free(x), free(dy), free(dx0), free(want), free(got), free(nan);
}

/* Values where a careless formula breaks: huge inputs (GELU's x^3 and x^2 overflow,
 * sigmoid's exp(-x) overflow) must give the limits, not NaN. */
static void check_extremes(vd_context *ctx)
{
    static const float x[] = {-1e30f, -1e20f, -100.0f, -20.5f, -1e-30f, 0.0f,
                              1e-30f, 20.5f,   100.0f,  1e20f,  1e30f};
    enum { N = sizeof x / sizeof x[0] };
    float ones[N], got[N], want[N];
    for (int i = 0; i < N; i++)
        ones[i] = 1.0f;
    test_buf bx, by, bdy, bdx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, N, 5, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N, 0, NULL, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N, 1, ones, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N, 2, NULL, &bdx));
    for (int a = VD_ACT_IDENTITY; ok && a <= VD_ACT_GELU; a++) {
        char what[96];
        snprintf(what, sizeof what, "act_fwd %s extremes", act_names[a]);
        EXPECT_OK(ctx, vd_op_act_fwd(ctx, (vd_act)a, N, bx.mem, bx.off, by.mem, by.off));
        EXPECT_OK(ctx, test_buf_read(&by, got));
        ref_act_fwd((vd_act)a, N, x, want);
        expect_close(what, got, want, N, ATOL, RTOL);
        snprintf(what, sizeof what, "act_bwd %s extremes", act_names[a]);
        EXPECT_OK(ctx, vd_op_act_bwd(ctx, (vd_act)a, N, bx.mem, bx.off, by.mem, by.off,
                                     bdy.mem, bdy.off, 0.0f, bdx.mem, bdx.off));
        EXPECT_OK(ctx, test_buf_read(&bdx, got));
        ref_act_bwd((vd_act)a, N, x, NULL, ones, 0.0f, want);
        expect_close(what, got, want, N, ATOL, RTOL);
    }
    test_buf_destroy(&bx), test_buf_destroy(&by), test_buf_destroy(&bdy), test_buf_destroy(&bdx);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf b;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 8, 0, NULL, &b)))
        return;
    cl_mem m = b.mem;
    expect_status("act_fwd NULL x", ctx, vd_op_act_fwd(ctx, VD_ACT_RELU, 8, NULL, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_fwd NULL y", ctx, vd_op_act_fwd(ctx, VD_ACT_RELU, 8, m, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_fwd NULL ctx", NULL, vd_op_act_fwd(NULL, VD_ACT_RELU, 8, m, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_fwd unknown kind", ctx, vd_op_act_fwd(ctx, (vd_act)99, 8, m, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_fwd n=0", ctx, vd_op_act_fwd(ctx, VD_ACT_RELU, 0, m, 0, m, 0), VD_OK);
    expect_status("act_bwd gelu NULL x", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_GELU, 8, NULL, 0, m, 0, m, 0, 0.0f, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_bwd sigmoid NULL y", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_SIGMOID, 8, m, 0, NULL, 0, m, 0, 0.0f, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_bwd NULL dy", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_TANH, 8, m, 0, m, 0, NULL, 0, 0.0f, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_bwd NULL dx", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_TANH, 8, m, 0, m, 0, m, 0, 0.0f, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("act_bwd identity needs neither x nor y", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_IDENTITY, 8, NULL, 0, NULL, 0, m, 0, 0.0f, m, 0),
                  VD_OK);
    expect_status("act_bwd n=0", ctx,
                  vd_op_act_bwd(ctx, VD_ACT_RELU, 0, m, 0, m, 0, m, 0, 0.0f, m, 0), VD_OK);
    test_buf_destroy(&b);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    static const size_t sizes[] = {1, 3, 17, 129, 4097};
    for (int a = VD_ACT_IDENTITY; a <= VD_ACT_LEAKY_RELU; a++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_act(ctx, (vd_act)a, sizes[k], k % 2 ? 0 : 5 + 11 * k);
    check_extremes(ctx);
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

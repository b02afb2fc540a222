/* test_gradcheck_cnn.c - checks every reference backward in tests/ref/ref_cnn.h against
 * central finite differences (gradcheck.h, as in test_gradcheck.c: L = sum(y .* r), steps
 * 1e-3 * max(1, |x|), error |num - ana| / max(1, |num| + |ana|) <= 1e-2, at most 256
 * sampled indices per tensor), plus beta = 1 accumulation, a few hand-computed values,
 * the conv/deconv adjoint identity and the pooling output-size rule. Needs no OpenCL.
 * Max-pool inputs are distinct values spaced far wider than the step, so no window has
 * a tie. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "ref_cnn.h"

static uint64_t rng = 20240917;

static float *rand_array(size_t n, float lo, float hi)
{
    float *a = test_malloc(n * sizeof(float) + 1);
    test_fill_uniform(&rng, a, n, lo, hi);
    return a;
}

static float *zeros(size_t n)
{
    return test_malloc(n * sizeof(float) + 1); /* calloc */
}

/* ------------------------------------------------------------------ conv / deconv */

typedef struct conv_case {
    vd_conv_geom g;
    size_t n;
    bool deconv;
    float *x, *w, *b, *dy;
} conv_case;

static size_t cx(const conv_case *c) /* elements of the layer's input */
{
    return c->deconv ? c->n * c->g.K * c->g.P * c->g.Q : c->n * c->g.C * c->g.H * c->g.W;
}

static size_t cy(const conv_case *c)
{
    return c->deconv ? c->n * c->g.C * c->g.H * c->g.W : c->n * c->g.K * c->g.P * c->g.Q;
}

static size_t cw(const conv_case *c)
{
    return (size_t)c->g.K * (c->g.C / c->g.groups) * c->g.R * c->g.S;
}

static size_t cb(const conv_case *c)
{
    return (size_t)(c->deconv ? c->g.C : c->g.K);
}

static void conv_fwd(void *u, float *y)
{
    conv_case *c = u;
    if (c->deconv)
        ref_deconv2d_fwd(&c->g, c->n, c->x, c->w, c->b, y);
    else
        ref_conv2d_fwd(&c->g, c->n, c->x, c->w, c->b, y);
}

static void conv_bwd_all(conv_case *c, float beta, float *dx, float *dw, float *db)
{
    if (c->deconv)
        ref_deconv2d_bwd(&c->g, c->n, c->x, c->w, c->dy, beta, dx, dw, db);
    else
        ref_conv2d_bwd(&c->g, c->n, c->x, c->w, c->dy, beta, dx, dw, db);
}

static void conv_bwd_dx(void *u, float beta, float *dx)
{
    conv_bwd_all(u, beta, dx, NULL, NULL);
}

static void conv_bwd_dw(void *u, float beta, float *dw)
{
    conv_case *c = u;
    if (beta == 0.0f)
        memset(dw, 0, cw(c) * sizeof(float));
    conv_bwd_all(c, 0.0f, NULL, dw, NULL);
}

static void conv_bwd_db(void *u, float beta, float *db)
{
    conv_case *c = u;
    if (beta == 0.0f)
        memset(db, 0, cb(c) * sizeof(float));
    conv_bwd_all(c, 0.0f, NULL, NULL, db);
}

/* Convolution geometry from the layer's keys (square kernel, stride, pad, dilation). */
static vd_conv_geom conv_geom(int C, int H, int W, int K, int R, int S, int stride, int pad,
                              int dil, int groups)
{
    vd_conv_geom g = {C, H, W, K, 0, 0, R, S, stride, stride, pad, pad, dil, dil, groups};
    g.P = vd_conv_out_size(H, R, stride, pad, dil);
    g.Q = vd_conv_out_size(W, S, stride, pad, dil);
    return g;
}

/* The transposed convolution of a (Cin, H, W) input to Cout channels, as the geometry of
 * the convolution it transposes (its C, H, W are the deconv's output). */
static vd_conv_geom deconv_geom(int Cin, int H, int W, int Cout, int R, int S, int stride,
                                int pad, int dil, int groups, int output_pad)
{
    int Ho = (H - 1) * stride - 2 * pad + dil * (R - 1) + output_pad + 1;
    int Wo = (W - 1) * stride - 2 * pad + dil * (S - 1) + output_pad + 1;
    vd_conv_geom g = {Cout, Ho, Wo, Cin, H, W, R, S, stride, stride, pad, pad, dil, dil, groups};
    return g;
}

static void check_conv(const char *label, vd_conv_geom g, size_t n, bool deconv, bool bias)
{
    conv_case c = {g, n, deconv, NULL, NULL, NULL, NULL};
    c.x = rand_array(cx(&c), -1, 1);
    c.w = rand_array(cw(&c), -1, 1);
    c.b = bias ? rand_array(cb(&c), -1, 1) : NULL;
    c.dy = rand_array(cy(&c), -1, 1);
    float *dx = zeros(cx(&c)), *dw = zeros(cw(&c)), *db = zeros(cb(&c));
    conv_bwd_all(&c, 0.0f, dx, dw, bias ? db : NULL);
    char what[160];
    const char *kind = deconv ? "deconv2d" : "conv2d";
    snprintf(what, sizeof what, "%s %s dx", kind, label);
    gradcheck(&rng, what, conv_fwd, &c, c.x, cx(&c), cy(&c), c.dy, dx);
    snprintf(what, sizeof what, "%s %s dw", kind, label);
    gradcheck(&rng, what, conv_fwd, &c, c.w, cw(&c), cy(&c), c.dy, dw);
    if (bias) {
        snprintf(what, sizeof what, "%s %s db", kind, label);
        gradcheck(&rng, what, conv_fwd, &c, c.b, cb(&c), cy(&c), c.dy, db);
        accumulate_check(what, conv_bwd_db, &c, cb(&c));
    }
    snprintf(what, sizeof what, "%s %s dx", kind, label);
    accumulate_check(what, conv_bwd_dx, &c, cx(&c));
    snprintf(what, sizeof what, "%s %s dw", kind, label);
    accumulate_check(what, conv_bwd_dw, &c, cw(&c));
    free(dx), free(dw), free(db), free(c.x), free(c.w), free(c.b), free(c.dy);
}

/* <conv(x), y> == <x, deconv(y)> for the same weights: the transposed convolution is
 * the adjoint, which ties the two references together independently of the gradients. */
static void check_adjoint(vd_conv_geom g, size_t n)
{
    size_t nx = n * g.C * g.H * g.W, ny = n * g.K * g.P * g.Q;
    size_t nw = (size_t)g.K * (g.C / g.groups) * g.R * g.S;
    float *x = rand_array(nx, -1, 1), *y = rand_array(ny, -1, 1), *w = rand_array(nw, -1, 1);
    float *cxv = zeros(ny), *dyv = zeros(nx);
    ref_conv2d_fwd(&g, n, x, w, NULL, cxv);
    ref_deconv2d_fwd(&g, n, y, w, NULL, dyv);
    double a = dot_d(cxv, y, ny), b = dot_d(x, dyv, nx);
    char what[96];
    snprintf(what, sizeof what, "conv/deconv adjoint (%.9g vs %.9g)", a, b);
    expect_true(what, fabs(a - b) <= 1e-5 * fmax(1.0, fabs(a)));
    free(x), free(y), free(w), free(cxv), free(dyv);
}

/* Small cases worked out by hand. */
static void check_conv_known(void)
{
    /* 1x3x3 input 1..9, 2x2 kernel of ones, stride 1: sums of 2x2 blocks. */
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, y[4];
    vd_conv_geom g = conv_geom(1, 3, 3, 1, 2, 2, 1, 0, 1, 1);
    ref_conv2d_fwd(&g, 1, x, w, NULL, y);
    expect_close("conv2d 3x3 * ones(2x2)", y, (float[]){12, 16, 24, 28}, 4, 0, 0);
    /* Padding 1, stride 2, 3x3 kernel with only the centre set: picks x[0,0], x[0,2], ... */
    float wc[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, y2[4];
    g = conv_geom(1, 3, 3, 1, 3, 3, 2, 1, 1, 1);
    ref_conv2d_fwd(&g, 1, x, wc, NULL, y2);
    expect_close("conv2d centre tap stride 2 pad 1", y2, (float[]){1, 3, 7, 9}, 4, 0, 0);
    /* Dilation 2: the 2x2 kernel reads corners of the 3x3 input. */
    float y3[1];
    g = conv_geom(1, 3, 3, 1, 2, 2, 1, 0, 2, 1);
    ref_conv2d_fwd(&g, 1, x, (float[]){1, 10, 100, 1000}, NULL, y3);
    expect_close("conv2d dilation 2", y3, (float[]){1 + 30 + 700 + 9000}, 1, 0, 0);
    /* Deconv stride 2 kernel 2 of [[1, 2], [3, 4]]: each input pixel paints a block. */
    float xi[4] = {1, 10, 100, 1000}, yd[16];
    g = deconv_geom(1, 2, 2, 1, 2, 2, 2, 0, 1, 1, 0);
    expect_true("deconv2d 2x2 stride 2 output is 4x4", g.H == 4 && g.W == 4);
    ref_deconv2d_fwd(&g, 1, xi, (float[]){1, 2, 3, 4}, NULL, yd);
    float want[16] = {1,   2,   10,   20,   3,   4,   30,   40,
                      100, 200, 1000, 2000, 300, 400, 3000, 4000};
    expect_close("deconv2d blocks", yd, want, 16, 0, 0);
    /* Groups 2: output channel 1 only sees input channel 1. */
    float xg[2] = {3, 5}, yg[2];
    g = conv_geom(2, 1, 1, 2, 1, 1, 1, 0, 1, 2);
    ref_conv2d_fwd(&g, 1, xg, (float[]){2, 7}, (float[]){0.5f, 0}, yg);
    expect_close("conv2d groups 2", yg, (float[]){6.5f, 35}, 2, 0, 0);
}

/* ------------------------------------------------------------------ pooling */

typedef struct pool_case {
    vd_pool_geom g;
    size_t n;
    int kind; /* 0 max, 1 avg, 2 global avg */
    float *x, *dy;
} pool_case;

static size_t px(const pool_case *c)
{
    return c->n * c->g.C * c->g.H * c->g.W;
}

static size_t py(const pool_case *c)
{
    return c->n * c->g.C * c->g.P * c->g.Q;
}

static void pool_fwd(void *u, float *y)
{
    pool_case *c = u;
    if (c->kind == 0)
        ref_maxpool_fwd(&c->g, c->n, c->x, y, NULL);
    else if (c->kind == 1)
        ref_avgpool_fwd(&c->g, c->n, c->x, y);
    else
        ref_gavg_fwd(c->n, c->g.C, (size_t)c->g.H * c->g.W, c->x, y);
}

static void pool_bwd(void *u, float beta, float *dx)
{
    pool_case *c = u;
    if (c->kind == 0)
        ref_maxpool_bwd(&c->g, c->n, c->x, c->dy, beta, dx);
    else if (c->kind == 1)
        ref_avgpool_bwd(&c->g, c->n, c->dy, beta, dx);
    else
        ref_gavg_bwd(c->n, c->g.C, (size_t)c->g.H * c->g.W, c->dy, beta, dx);
}

/* Distinct values 0.05 apart in [-m/2*0.05, ...), shuffled: no ties, and a step of at
 * most 1e-3 * |x| cannot reorder them. */
static float *distinct_array(size_t m)
{
    float *a = test_malloc(m * sizeof(float) + 1);
    for (size_t i = 0; i < m; i++)
        a[i] = 0.05f * ((float)i - (float)m / 2.0f) + 0.0123f;
    for (size_t i = m; i > 1; i--) {
        size_t j = (size_t)test_rand_int(&rng, 0, (int64_t)i - 1);
        float t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
    return a;
}

static vd_pool_geom pool_geom(int C, int H, int W, int k, int s, int pad, bool ceil_mode)
{
    vd_pool_geom g = {C, H, W, 0, 0, k, k, s, s, pad, pad, pad, pad, 1, 1, 0};
    g.P = vd_pool_out_size(H, k, s, pad, ceil_mode);
    g.Q = vd_pool_out_size(W, k, s, pad, ceil_mode);
    return g;
}

static void check_pool(const char *label, int kind, vd_pool_geom g, size_t n)
{
    if (kind == 2)
        g.P = g.Q = 1;
    pool_case c = {g, n, kind, NULL, NULL};
    c.x = kind == 0 ? distinct_array(px(&c)) : rand_array(px(&c), -1, 1);
    c.dy = rand_array(py(&c), -1, 1);
    float *dx = zeros(px(&c));
    pool_bwd(&c, 0.0f, dx);
    static const char *names[] = {"maxpool", "avgpool", "globalavgpool"};
    char what[160];
    snprintf(what, sizeof what, "%s %s dx", names[kind], label);
    gradcheck(&rng, what, pool_fwd, &c, c.x, px(&c), py(&c), c.dy, dx);
    accumulate_check(what, pool_bwd, &c, px(&c));
    free(dx), free(c.x), free(c.dy);
}

static void check_pool_known(void)
{
    /* PyTorch's output sizes (MaxPool2d/AvgPool2d output_size rule). */
    expect_true("pool out 5,k2,s2 floor = 2", vd_pool_out_size(5, 2, 2, 0, false) == 2);
    expect_true("pool out 5,k2,s2 ceil = 3", vd_pool_out_size(5, 2, 2, 0, true) == 3);
    expect_true("pool out 5,k2,s2,p1 ceil = 3 (last window would start in the right pad)",
                vd_pool_out_size(5, 2, 2, 1, true) == 3);
    expect_true("pool out 6,k3,s2,p1 ceil = 4", vd_pool_out_size(6, 3, 2, 1, true) == 4);
    expect_true("pool out 28,k2,s2 = 14", vd_pool_out_size(28, 2, 2, 0, false) == 14);
    expect_true("pool out 1,k2,s2 = 0 (does not fit)", vd_pool_out_size(1, 2, 2, 0, false) <= 0);
    /* avg 2x2 stride 2 pad 1 on 1..4 (2x2): each window holds one value over divisor 4. */
    float x[4] = {1, 2, 3, 4}, y[4];
    vd_pool_geom g = pool_geom(1, 2, 2, 2, 2, 1, false);
    ref_avgpool_fwd(&g, 1, x, y);
    expect_close("avgpool count_include_pad", y, (float[]){0.25f, 0.5f, 0.75f, 1.0f}, 4, 0, 0);
    /* ceil mode 3x3 input, k2 s2: the last window holds 2 then 1 values; divisor is the
     * window clipped to the (zero) padding, i.e. 2 and 1 (PyTorch). */
    float x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y3[4];
    g = pool_geom(1, 3, 3, 2, 2, 0, true);
    ref_avgpool_fwd(&g, 1, x3, y3);
    expect_close("avgpool ceil mode divisor", y3, (float[]){3, 4.5f, 7.5f, 9}, 4, 0, 0);
    int32_t idx[4];
    ref_maxpool_fwd(&g, 1, x3, y3, idx);
    expect_close("maxpool ceil mode", y3, (float[]){5, 6, 8, 9}, 4, 0, 0);
    expect_true("maxpool indices", idx[0] == 4 && idx[1] == 5 && idx[2] == 7 && idx[3] == 8);
}

/* ------------------------------------------------------------------ normalisation */

typedef struct norm_case {
    size_t n, C, HW;
    int kind; /* 0 batchnorm train, 1 batchnorm eval, 2 layernorm, 3 softmax */
    float *x, *gamma, *beta, *rm, *rv, *dy;
} norm_case;

static size_t nparams(const norm_case *c)
{
    return c->kind == 2 ? c->C * c->HW : c->C;
}

static void norm_fwd(void *u, float *y)
{
    norm_case *c = u;
    if (c->kind <= 1) {
        /* The running statistics change in training mode: work on copies. */
        float *rm = zeros(c->C), *rv = zeros(c->C);
        memcpy(rm, c->rm, c->C * sizeof(float));
        memcpy(rv, c->rv, c->C * sizeof(float));
        ref_batchnorm_fwd(c->n, c->C, c->HW, c->kind == 0, 0.1f, 1e-5f, c->x, c->gamma, c->beta,
                          rm, rv, y);
        free(rm), free(rv);
    } else if (c->kind == 2) {
        ref_layernorm_fwd(c->n, c->C * c->HW, 1e-5f, c->x, c->gamma, c->beta, y);
    } else {
        ref_softmax_fwd(c->n, c->C, c->HW, c->x, y);
    }
}

static void norm_bwd_all(norm_case *c, float beta, float *dx, float *dg, float *db)
{
    if (c->kind <= 1) {
        ref_batchnorm_bwd(c->n, c->C, c->HW, c->kind == 0, 1e-5f, c->x, c->gamma, c->rm, c->rv,
                          c->dy, beta, dx, dg, db);
    } else if (c->kind == 2) {
        ref_layernorm_bwd(c->n, c->C * c->HW, 1e-5f, c->x, c->gamma, c->dy, beta, dx, dg, db);
    } else {
        float *y = zeros(c->n * c->C * c->HW);
        ref_softmax_fwd(c->n, c->C, c->HW, c->x, y);
        ref_softmax_bwd(c->n, c->C, c->HW, y, c->dy, beta, dx);
        free(y);
    }
}

static void norm_bwd_dx(void *u, float beta, float *dx)
{
    norm_bwd_all(u, beta, dx, NULL, NULL);
}

static void norm_bwd_dg(void *u, float beta, float *dg)
{
    norm_case *c = u;
    if (beta == 0.0f)
        memset(dg, 0, nparams(c) * sizeof(float));
    norm_bwd_all(c, 0.0f, NULL, dg, NULL);
}

/* layernorm output=mean|invstd: rows of D values, one statistic each. */
typedef struct ln_stat_case {
    size_t rows, D;
    bool invstd;
    float *x, *dy;
} ln_stat_case;

static void ln_stat_fwd(void *u, float *y)
{
    ln_stat_case *c = u;
    ref_layernorm_stats(c->rows, c->D, 1e-5f, c->invstd, c->x, y);
}

static void ln_stat_bwd(void *u, float beta, float *dx)
{
    ln_stat_case *c = u;
    ref_layernorm_stats_bwd(c->rows, c->D, 1e-5f, c->invstd, c->x, c->dy, beta, dx);
}

static void check_ln_stats(bool invstd, size_t rows, size_t D)
{
    ln_stat_case c = {rows, D, invstd, rand_array(rows * D, -2, 3), rand_array(rows, -1, 1)};
    float *dx = zeros(rows * D);
    ln_stat_bwd(&c, 0.0f, dx);
    char what[160];
    snprintf(what, sizeof what, "layernorm output=%s %zu rows of %zu dx",
             invstd ? "invstd" : "mean", rows, D);
    gradcheck(&rng, what, ln_stat_fwd, &c, c.x, rows * D, rows, c.dy, dx);
    accumulate_check(what, ln_stat_bwd, &c, rows * D);
    free(dx), free(c.x), free(c.dy);
}

static void check_norm(const char *label, int kind, size_t n, size_t C, size_t HW)
{
    norm_case c = {n, C, HW, kind, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t nx = n * C * HW, np = nparams(&c);
    c.x = rand_array(nx, -2, 3);
    c.gamma = rand_array(np, 0.5f, 1.5f);
    c.beta = rand_array(np, -1, 1);
    c.rm = rand_array(C, -0.5f, 0.5f);
    c.rv = rand_array(C, 0.5f, 2.0f);
    c.dy = rand_array(nx, -1, 1);
    float *dx = zeros(nx), *dg = zeros(np), *db = zeros(np);
    norm_bwd_all(&c, 0.0f, dx, kind == 3 ? NULL : dg, kind == 3 ? NULL : db);
    static const char *names[] = {"batchnorm train", "batchnorm eval", "layernorm", "softmax"};
    char what[160];
    snprintf(what, sizeof what, "%s %s dx", names[kind], label);
    gradcheck(&rng, what, norm_fwd, &c, c.x, nx, nx, c.dy, dx);
    accumulate_check(what, norm_bwd_dx, &c, nx);
    if (kind != 3) {
        snprintf(what, sizeof what, "%s %s dgamma", names[kind], label);
        gradcheck(&rng, what, norm_fwd, &c, c.gamma, np, nx, c.dy, dg);
        accumulate_check(what, norm_bwd_dg, &c, np);
        snprintf(what, sizeof what, "%s %s dbeta", names[kind], label);
        gradcheck(&rng, what, norm_fwd, &c, c.beta, np, nx, c.dy, db);
    }
    free(dx), free(dg), free(db);
    free(c.x), free(c.gamma), free(c.beta), free(c.rm), free(c.rv), free(c.dy);
}

/* Batch norm statistics against numbers worked out by hand (PyTorch semantics). */
static void check_batchnorm_known(void)
{
    /* One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased 14/3. */
    float x[4] = {1, 2, 3, 6}, g = 1, b = 0, rm = 0, rv = 1, y[4];
    ref_batchnorm_fwd(4, 1, 1, true, 0.1f, 0.0f, x, &g, &b, &rm, &rv, y);
    float s = (float)(1.0 / sqrt(3.5));
    expect_close("batchnorm train y", y, (float[]){-2 * s, -1 * s, 0, 3 * s}, 4, 1e-6f, 1e-6f);
    expect_close("batchnorm running mean 0.9*0 + 0.1*3", &rm, (float[]){0.3f}, 1, 1e-7f, 1e-6f);
    expect_close("batchnorm running var 0.9*1 + 0.1*14/3", &rv,
                 (float[]){(float)(0.9 + 0.1 * 14.0 / 3.0)}, 1, 1e-7f, 1e-6f);
    ref_batchnorm_fwd(4, 1, 1, false, 0.1f, 0.0f, x, &g, &b, &rm, &rv, y);
    float e = (float)(1.0 / sqrt(0.9 + 0.1 * 14.0 / 3.0));
    expect_close("batchnorm eval uses running stats", y,
                 (float[]){0.7f * e, 1.7f * e, 2.7f * e, 5.7f * e}, 4, 1e-6f, 1e-6f);
    expect_close("batchnorm eval leaves running mean", &rm, (float[]){0.3f}, 1, 0, 0);
}

int main(void)
{
    check_conv_known();
    /* conv2d: plain, stride 2 + pad, dilation 2, groups 2, depthwise, 1x1, kernel 5. */
    check_conv("3x7x6 k3", conv_geom(3, 7, 6, 4, 3, 3, 1, 0, 1, 1), 2, false, true);
    check_conv("3x7x9 k3 s2 p1", conv_geom(3, 7, 9, 5, 3, 3, 2, 1, 1, 1), 3, false, true);
    check_conv("2x9x8 k3 d2 p2", conv_geom(2, 9, 8, 3, 3, 3, 1, 2, 2, 1), 1, false, false);
    check_conv("4x6x5 g2", conv_geom(4, 6, 5, 6, 3, 3, 1, 1, 1, 2), 2, false, true);
    check_conv("3x6x6 depthwise x2", conv_geom(3, 6, 6, 6, 3, 3, 2, 1, 1, 3), 2, false, true);
    check_conv("5x4x3 1x1", conv_geom(5, 4, 3, 3, 1, 1, 1, 0, 1, 1), 3, false, true);
    check_conv("2x9x7 k5 p2", conv_geom(2, 9, 7, 3, 5, 5, 1, 2, 1, 1), 1, false, true);
    check_conv("2x7x8 k2x3", conv_geom(2, 7, 8, 3, 2, 3, 1, 1, 1, 1), 2, false, true);
    /* deconv2d: stride 2 with output_pad, padding, dilation, groups. */
    check_conv("3x4x5 k3 s2 p1 op1", deconv_geom(3, 4, 5, 2, 3, 3, 2, 1, 1, 1, 1), 2, true, true);
    check_conv("2x3x3 k4 s2 p1", deconv_geom(2, 3, 3, 3, 4, 4, 2, 1, 1, 1, 0), 1, true, true);
    check_conv("4x3x4 k3 d2 g2", deconv_geom(4, 3, 4, 2, 3, 3, 1, 0, 2, 2, 0), 2, true, false);
    check_conv("3x4x5 k3 s2 p1 op-1", deconv_geom(3, 4, 5, 2, 3, 3, 2, 1, 1, 1, -1), 2, true, true);
    check_adjoint(conv_geom(4, 7, 6, 6, 3, 3, 2, 1, 2, 2), 2);
    check_adjoint(conv_geom(3, 5, 5, 3, 5, 5, 1, 2, 1, 3), 1);

    check_pool_known();
    check_pool("2x6x7 k2", 0, pool_geom(2, 6, 7, 2, 2, 0, false), 2);
    check_pool("3x7x7 k3 s2 p1 ceil", 0, pool_geom(3, 7, 7, 3, 2, 1, true), 2);
    check_pool("2x5x6 k3 s1", 0, pool_geom(2, 5, 6, 3, 1, 0, false), 1);
    /* per-side pads, dilation, count_pad = 0 (excl): P = (6 + 2 - 5) / 2 + 1, Q = 7 + 1 - 3 + 1 */
    for (int kind = 0; kind < 2; kind++)
        for (int excl = 0; excl <= kind; excl++) {
            vd_pool_geom g = {2, 6, 7, 2, 6, 3, 2, 2, 1, 0, 1, 2, 0, 2, 2, excl};
            check_pool(excl ? "2x6x7 k3x2 pads 0,1,2,0 d2 excl" : "2x6x7 k3x2 pads 0,1,2,0 d2",
                       kind, g, 2);
        }
    check_pool("2x6x7 k2", 1, pool_geom(2, 6, 7, 2, 2, 0, false), 2);
    check_pool("3x7x7 k3 s2 p1 ceil", 1, pool_geom(3, 7, 7, 3, 2, 1, true), 2);
    check_pool("2x5x5 k2 s2 p1 ceil", 1, pool_geom(2, 5, 5, 2, 2, 1, true), 3);
    check_pool("3x5x4", 2, pool_geom(3, 5, 4, 1, 1, 0, false), 2);

    check_batchnorm_known();
    check_norm("(3, 4x5) n=4", 0, 4, 3, 20);
    check_norm("(7) n=5", 0, 5, 7, 1);
    check_norm("(3, 4x5) n=4", 1, 4, 3, 20);
    check_norm("(2, 3x3) n=1", 0, 1, 2, 9);
    check_norm("(3, 4x5) n=3", 2, 3, 3, 20);
    check_norm("(10) n=4", 2, 4, 10, 1);
    check_ln_stats(false, 6, 5);
    check_ln_stats(true, 6, 5);
    check_ln_stats(true, 2, 17);
    check_norm("(10) n=4", 3, 4, 10, 1);
    check_norm("(5, 3x2) n=2", 3, 2, 5, 6);
    return check_summary();
}

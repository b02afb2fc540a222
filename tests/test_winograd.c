/* test_winograd.c - the Winograd convolution algorithms (src/ops/conv_winograd.c,
 * cl/winograd.cl), F(2x2,3x3) and F(4x4,3x3), called through their vd_conv_algo entries
 * and compared with tests/ref/conv_ref.c: forward, backward-data and backward-filter.
 *
 * Shapes: H and W that are not multiples of the tile (7x7, 13x9, 28x28, 1x5, 3x4), channel
 * counts 1, 3, 32, 64 and others, padding 0, 1, 2 and unequal (pad_h != pad_w), batch 1,
 * 2, 3 and 5. Every buffer sits at a non-zero offset inside guard zones. FWD and BWD_DATA
 * run with beta = 0 on an output full of NaN (it must not be read) and with beta = 1 on
 * random values; BWD_FILTER runs twice and must accumulate.
 *
 * Tolerances. Winograd's error is a property of the transform, so it is measured against
 * the scale of the result: err = max |got - ref| / max |ref| (ref the pure convolution,
 * without the beta term), and each element must satisfy
 *   |got - want| <= bound * max|ref| + 1e-6 * |want|
 * (the second term is the rounding of the beta * old + new sum). check_error_survey
 * measures err over 16 random draws per variant and pass (inputs and weights uniform in
 * [-1, 1], C = K = 32, 12x12, pad 1, batch 2) and checks it against the same bound; the
 * worst err over the shapes of main is printed too. Measured on PoCL 3.1 (pthread,
 * AVX-512), survey / shapes:
 *   winograd2: FWD 2.9e-07 / 3.6e-07   BWD_DATA 2.9e-07 / 3.3e-07   BWD_FILTER 5.3e-07 / 5.5e-07
 *   winograd4: FWD 5.0e-06 / 6.5e-06   BWD_DATA 5.6e-06 / 6.8e-06   BWD_FILTER 4.6e-06 / 4.9e-06
 * F(4x4,3x3) loses about 15x more than F(2x2,3x3): its transforms have coefficients up
 * to 5 and 8 and 1/24, and each output is a difference of larger terms. The bounds are
 * about 3x the worst of both columns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/conv_algo.h"
#include "ref_cnn.h"

/* The measured worst cases times about 3 (see the banner). */
static const float BOUND[2][3] = {
    {1.2e-6f, 1.2e-6f, 1.8e-6f}, /* winograd2: FWD, BWD_DATA, BWD_FILTER */
    {2e-5f, 2e-5f, 1.5e-5f},     /* winograd4 */
};
#define RTOL_SUM 1e-6f

static const char *const PASS_NAME[3] = {"FWD", "BWD_DATA", "BWD_FILTER"};
static const vd_conv_algo *const ALGOS[2] = {&vd_conv_algo_winograd2, &vd_conv_algo_winograd4};

static uint64_t rng = 4242;
/* Worst max|err|/max|ref| seen by check_shape, per variant and pass (printed at the end). */
static double worst_shape_err[2][3];

static vd_conv_geom geom3(int C, int H, int W, int K, int ph, int pw)
{
    vd_conv_geom g = {C, H, W, K, 0, 0, 3, 3, 1, 1, ph, pw, 1, 1, 1};
    g.P = vd_conv_out_size(H, 3, 1, ph, 1);
    g.Q = vd_conv_out_size(W, 3, 1, pw, 1);
    return g;
}

static float *rand_array(size_t n, float lo, float hi)
{
    float *p = test_malloc(n * sizeof(float) + sizeof(float));
    test_fill_uniform(&rng, p, n, lo, hi);
    return p;
}

static float max_abs(const float *a, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i]));
    return m;
}

/* max |got - base - ref| / max |ref| */
static double rel_err(const float *got, const float *base, const float *ref, size_t n)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (base ? base[i] : 0.0) - ref[i]);
        if (d > e || isnan(d)) e = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > s) s = fabs(ref[i]);
    }
    return s > 0 ? e / s : e;
}

/* The device buffers of one shape, at offsets, with guard zones. */
typedef struct setup {
    vd_conv_geom g;
    size_t n, nx, nw, ny, nws;
    test_buf x, w, y, dy, dx, dw, ws;
} setup;

static bool setup_open(vd_context *ctx, setup *s, const vd_conv_algo *a, vd_conv_geom g, size_t n)
{
    memset(s, 0, sizeof *s);
    s->g = g, s->n = n;
    s->nx = n * g.C * g.H * g.W, s->ny = n * g.K * g.P * g.Q, s->nw = (size_t)g.K * g.C * 9;
    for (int p = 0; p < 3; p++) {
        size_t ws = a->workspace(ctx, &g, (vd_conv_pass)p, n);
        if (ws > s->nws) s->nws = ws;
    }
    return EXPECT_OK(ctx, test_buf_create(ctx, s->nx, 3, NULL, &s->x)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->nw, 5, NULL, &s->w)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->ny, 7, NULL, &s->y)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->ny, 2, NULL, &s->dy)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->nx, 9, NULL, &s->dx)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->nw, 1, NULL, &s->dw)) &
           EXPECT_OK(ctx, test_buf_create(ctx, s->nws, 11, NULL, &s->ws));
}

static void setup_close(setup *s)
{
    test_buf_destroy(&s->x), test_buf_destroy(&s->w), test_buf_destroy(&s->y);
    test_buf_destroy(&s->dy), test_buf_destroy(&s->dx), test_buf_destroy(&s->dw);
    test_buf_destroy(&s->ws);
}

static vd_conv_io setup_io(const setup *s, float beta)
{
    vd_conv_io io = {s->x.mem, s->w.mem, s->y.mem, s->dy.mem, s->dx.mem, s->dw.mem, s->ws.mem,
                     s->x.off, s->w.off, s->y.off, s->dy.off, s->dx.off, s->dw.off, s->ws.off,
                     beta,     NULL,     0,        false,     false};
    return io;
}

/* One pass: upload host x, w, dy and the output's old contents (old, or NaN for beta 0),
 * run, read the output back into got (outn floats). Returns false if a call failed. */
static bool run_pass(vd_context *ctx, setup *s, const vd_conv_algo *a, vd_conv_pass pass,
                     const float *x, const float *w, const float *dy, const float *old,
                     float beta, float *got)
{
    const test_buf *out = pass == VD_CONV_FWD ? &s->y : pass == VD_CONV_BWD_DATA ? &s->dx : &s->dw;
    bool ok = EXPECT_OK(ctx, test_buf_write(&s->x, x)) & EXPECT_OK(ctx, test_buf_write(&s->w, w)) &
              EXPECT_OK(ctx, test_buf_write(&s->dy, dy));
    if (old) ok &= EXPECT_OK(ctx, test_buf_write(out, old));
    else ok &= EXPECT_OK(ctx, vd_op_fill(ctx, out->n, NAN, out->mem, out->off));
    if (!ok) return false;
    vd_conv_io io = setup_io(s, beta);
    if (!EXPECT_OK(ctx, a->run(ctx, &s->g, pass, s->n, &io))) return false;
    return EXPECT_OK(ctx, test_buf_read(out, got));
}

/* The reference of a pass without any beta term: y, dx or dw of the convolution alone. */
static void ref_pass(const setup *s, vd_conv_pass pass, const float *x, const float *w,
                     const float *dy, float *ref)
{
    if (pass == VD_CONV_FWD) {
        ref_conv2d_fwd(&s->g, s->n, x, w, NULL, ref);
    } else if (pass == VD_CONV_BWD_DATA) {
        ref_conv2d_bwd(&s->g, s->n, x, w, dy, 0.0f, ref, NULL, NULL);
    } else {
        memset(ref, 0, s->nw * sizeof(float));
        ref_conv2d_bwd(&s->g, s->n, x, w, dy, 0.0f, NULL, ref, NULL);
    }
}

static size_t out_elems(const setup *s, vd_conv_pass pass)
{
    return pass == VD_CONV_FWD ? s->ny : pass == VD_CONV_BWD_DATA ? s->nx : s->nw;
}

/* The forward epilogue (conv_algo.h): y = relu(conv + b) over a y full of NaN, beta 0,
 * both paths (fused and VERDANT_WINO_FUSED=0 run through here). ref: the convolution. */
static void check_epilogue(vd_context *ctx, setup *s, const vd_conv_algo *a, const char *what,
                           const float *ref, float atol, float *got, float *want)
{
    const vd_conv_geom *g = &s->g;
    float *b = rand_array((size_t)g->K, -1, 1);
    test_buf bb;
    char w2[300];
    if (EXPECT_OK(ctx, test_buf_create(ctx, (size_t)g->K, 13, b, &bb))) {
        vd_conv_io io = setup_io(s, 0.0f);
        io.b = bb.mem, io.b_off = bb.off, io.relu = true;
        size_t plane = (size_t)g->P * g->Q, clipped = 0;
        for (size_t i = 0; i < s->ny; i++) {
            float v = ref[i] + b[(i / plane) % (size_t)g->K];
            clipped += v <= 0.0f;
            want[i] = v > 0.0f ? v : 0.0f;
        }
        if (EXPECT_OK(ctx, vd_op_fill(ctx, s->y.n, NAN, s->y.mem, s->y.off)) &&
            EXPECT_OK(ctx, a->run(ctx, g, VD_CONV_FWD, s->n, &io)) &&
            EXPECT_OK(ctx, test_buf_read(&s->y, got))) {
            snprintf(w2, sizeof w2, "%s: FWD epilogue bias+relu (%zu of %zu clipped)", what,
                     clipped, s->ny);
            expect_close(w2, got, want, s->ny, atol, RTOL_SUM);
        }
        expect_guards(what, &bb);
        test_buf_destroy(&bb);
    }
    free(b);
}

/* Every pass of algorithm ai on geometry g, batch n. */
static void check_shape(vd_context *ctx, int ai, vd_conv_geom g, size_t n)
{
    const vd_conv_algo *a = ALGOS[ai];
    char what[200], w2[300];
    snprintf(what, sizeof what, "%s C%d %dx%d K%d pad %d,%d n=%zu", a->name, g.C, g.H, g.W, g.K,
             g.pad_h, g.pad_w, n);
    setup s;
    if (!setup_open(ctx, &s, a, g, n)) goto done;
    for (int p = 0; p < 3; p++) {
        vd_conv_pass pass = (vd_conv_pass)p;
        snprintf(w2, sizeof w2, "%s: applies to %s", what, PASS_NAME[p]);
        if (!expect_true(w2, a->applies(ctx, &g, pass))) continue;
        float *x = rand_array(s.nx, -1, 1), *w = rand_array(s.nw, -1, 1);
        float *dy = rand_array(s.ny, -1, 1);
        size_t no = out_elems(&s, pass);
        float *ref = test_malloc(no * 4 + 4), *got = test_malloc(no * 4 + 4);
        float *old = rand_array(no, -1, 1), *want = test_malloc(no * 4 + 4);
        ref_pass(&s, pass, x, w, dy, ref);
        float atol = BOUND[ai][p] * max_abs(ref, no);
        /* FWD, BWD_DATA: beta = 0 over NaN, then beta = 1 over old. BWD_FILTER: dw = old,
         * then two runs accumulate. */
        if (pass != VD_CONV_BWD_FILTER) {
            if (run_pass(ctx, &s, a, pass, x, w, dy, NULL, 0.0f, got)) {
                snprintf(w2, sizeof w2, "%s: %s beta=0 over NaN", what, PASS_NAME[p]);
                expect_close(w2, got, ref, no, atol, RTOL_SUM);
                double e = rel_err(got, NULL, ref, no);
                if (e > worst_shape_err[ai][p]) worst_shape_err[ai][p] = e;
            }
            for (size_t i = 0; i < no; i++)
                want[i] = old[i] + ref[i];
            if (run_pass(ctx, &s, a, pass, x, w, dy, old, 1.0f, got)) {
                snprintf(w2, sizeof w2, "%s: %s beta=1", what, PASS_NAME[p]);
                expect_close(w2, got, want, no, atol, RTOL_SUM);
            }
            if (pass == VD_CONV_FWD) /* x and w are still on the device */
                check_epilogue(ctx, &s, a, what, ref, atol, got, want);
            /* w_ready (conv_algo.h): the weights' transform the runs above left in ws is
             * used as it is; w, zeroed now, is not read again. */
            const test_buf *ob = pass == VD_CONV_FWD ? &s.y : &s.dx;
            vd_conv_io io = setup_io(&s, 0.0f);
            io.w_ready = true;
            if (EXPECT_OK(ctx, vd_op_fill(ctx, s.nw, 0.0f, s.w.mem, s.w.off)) &&
                EXPECT_OK(ctx, vd_op_fill(ctx, no, NAN, ob->mem, ob->off)) &&
                EXPECT_OK(ctx, a->run(ctx, &s.g, pass, s.n, &io)) &&
                EXPECT_OK(ctx, test_buf_read(ob, got))) {
                snprintf(w2, sizeof w2, "%s: %s w_ready reuses the transformed weights", what,
                         PASS_NAME[p]);
                expect_close(w2, got, ref, no, atol, RTOL_SUM);
            }
        } else if (run_pass(ctx, &s, a, pass, x, w, dy, old, 1.0f, got)) {
            for (size_t i = 0; i < no; i++)
                want[i] = old[i] + ref[i];
            snprintf(w2, sizeof w2, "%s: BWD_FILTER accumulates", what);
            expect_close(w2, got, want, no, atol, RTOL_SUM);
            double e = rel_err(got, old, ref, no);
            if (e > worst_shape_err[ai][p]) worst_shape_err[ai][p] = e;
            vd_conv_io io = setup_io(&s, 1.0f);
            if (EXPECT_OK(ctx, a->run(ctx, &s.g, pass, s.n, &io)) &&
                EXPECT_OK(ctx, test_buf_read(&s.dw, got))) {
                for (size_t i = 0; i < no; i++)
                    want[i] += ref[i];
                snprintf(w2, sizeof w2, "%s: BWD_FILTER accumulates twice", what);
                expect_close(w2, got, want, no, 2 * atol, RTOL_SUM);
            }
        }
        free(x), free(w), free(dy), free(ref), free(got), free(old), free(want);
    }
    expect_guards(what, &s.x), expect_guards(what, &s.w), expect_guards(what, &s.y);
    expect_guards(what, &s.dy), expect_guards(what, &s.dx), expect_guards(what, &s.dw);
    expect_guards(what, &s.ws);
done:
    setup_close(&s);
}

/* The measured transform error (see the banner): 16 random draws per variant and pass. */
static void check_error_survey(vd_context *ctx)
{
    /* Under Oclgrind (test_small()) two draws of a narrower shape: the kernels are those
     * of main's shapes, the survey's figures are PoCL's. */
    const int draws = test_small() ? 2 : 16;
    vd_conv_geom g = test_small() ? geom3(8, 6, 6, 8, 1, 1) : geom3(32, 12, 12, 32, 1, 1);
    for (int ai = 0; ai < 2; ai++) {
        const vd_conv_algo *a = ALGOS[ai];
        setup s;
        if (!setup_open(ctx, &s, a, g, 2)) {
            setup_close(&s);
            continue;
        }
        for (int p = 0; p < 3; p++) {
            vd_conv_pass pass = (vd_conv_pass)p;
            size_t no = out_elems(&s, pass);
            double worst = 0.0;
            float *ref = test_malloc(no * 4), *got = test_malloc(no * 4);
            float *zero = test_malloc(no * 4);
            memset(zero, 0, no * 4);
            bool ok = true;
            for (int d = 0; d < draws && ok; d++) {
                float *x = rand_array(s.nx, -1, 1), *w = rand_array(s.nw, -1, 1);
                float *dy = rand_array(s.ny, -1, 1);
                ref_pass(&s, pass, x, w, dy, ref);
                ok = run_pass(ctx, &s, a, pass, x, w, dy, zero, 0.0f, got);
                double e = rel_err(got, NULL, ref, no);
                if (ok && e > worst) worst = e;
                free(x), free(w), free(dy);
            }
            char what[200];
            printf("%s %-10s max|err|/max|ref| over %d draws: %.2e (bound %.1e)\n", a->name,
                   PASS_NAME[p], draws, worst, BOUND[ai][p]);
            snprintf(what, sizeof what, "%s %s transform error within its bound", a->name,
                     PASS_NAME[p]);
            if (ok) expect_true(what, worst <= BOUND[ai][p]);
            free(ref), free(got), free(zero);
        }
        setup_close(&s);
    }
}

/* applies() refuses what the algorithm cannot do; run() refuses bad arguments. */
static void check_bad(vd_context *ctx)
{
    vd_conv_geom ok = geom3(2, 5, 5, 3, 1, 1);
    for (int ai = 0; ai < 2; ai++) {
        const vd_conv_algo *a = ALGOS[ai];
        char what[200];
        struct {
            const char *why;
            vd_conv_geom g;
        } no[8];
        for (int i = 0; i < 8; i++)
            no[i].g = ok;
        no[0].why = "stride 2", no[0].g.stride_h = no[0].g.stride_w = 2, no[0].g.P = 3,
        no[0].g.Q = 3;
        no[1].why = "5x5 kernel", no[1].g.R = no[1].g.S = 5, no[1].g.P = no[1].g.Q = 3;
        no[2].why = "groups 2", no[2].g.C = 2, no[2].g.K = 2, no[2].g.groups = 2;
        no[3].why = "dilation 2", no[3].g.dil_h = no[3].g.dil_w = 2, no[3].g.P = no[3].g.Q = 3;
        no[4].why = "pad 3", no[4].g = geom3(2, 5, 5, 3, 3, 3);
        no[5].why = "P not the output size", no[5].g.P = 4;
        no[6].why = "3x1 kernel", no[6].g.S = 1, no[6].g.Q = 7;
        no[7].why = "negative pad", no[7].g = geom3(2, 5, 5, 3, -1, 1);
        for (int i = 0; i < 8; i++)
            for (int p = 0; p < 3; p++) {
                snprintf(what, sizeof what, "%s does not apply: %s (%s)", a->name, no[i].why,
                         PASS_NAME[p]);
                expect_true(what, !a->applies(ctx, &no[i].g, (vd_conv_pass)p) &&
                                      a->workspace(ctx, &no[i].g, (vd_conv_pass)p, 1) == 0);
            }
        snprintf(what, sizeof what, "%s does not apply: NULL geometry", a->name);
        expect_true(what, !a->applies(ctx, NULL, VD_CONV_FWD));

        test_buf t;
        if (!EXPECT_OK(ctx, test_buf_create(ctx, 4096, 2, NULL, &t))) continue;
        vd_conv_io io = {t.mem, t.mem, t.mem, t.mem, t.mem, t.mem, t.mem, /* x .. ws */
                         0,     0,     0,     0,     0,     0,     0,     /* offsets */
                         0.0f,  NULL,  0,     false, false};
        snprintf(what, sizeof what, "%s run NULL context", a->name);
        expect_status(what, NULL, a->run(NULL, &ok, VD_CONV_FWD, 1, &io), VD_ERR_INVALID_ARG);
        snprintf(what, sizeof what, "%s run NULL io", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_FWD, 1, NULL), VD_ERR_INVALID_ARG);
        snprintf(what, sizeof what, "%s run bad pass", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, (vd_conv_pass)7, 1, &io), VD_ERR_INVALID_ARG);
        vd_conv_io nw = io;
        nw.w = NULL;
        snprintf(what, sizeof what, "%s run FWD NULL w", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_FWD, 1, &nw), VD_ERR_INVALID_ARG);
        vd_conv_io ndx = io;
        ndx.dx = NULL;
        snprintf(what, sizeof what, "%s run BWD_DATA NULL dx", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_BWD_DATA, 1, &ndx), VD_ERR_INVALID_ARG);
        vd_conv_io nx = io;
        nx.x = NULL;
        snprintf(what, sizeof what, "%s run BWD_FILTER NULL x", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_BWD_FILTER, 1, &nx),
                      VD_ERR_INVALID_ARG);
        vd_conv_io nws = io;
        nws.ws = NULL;
        snprintf(what, sizeof what, "%s run NULL workspace", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_FWD, 1, &nws), VD_ERR_INVALID_ARG);
        snprintf(what, sizeof what, "%s run on a stride-2 geometry", a->name);
        expect_status(what, ctx, a->run(ctx, &no[0].g, VD_CONV_FWD, 1, &io), VD_ERR_UNSUPPORTED);
        snprintf(what, sizeof what, "%s run n = 0 is a no-op", a->name);
        expect_status(what, ctx, a->run(ctx, &ok, VD_CONV_FWD, 0, &io), VD_OK);
        snprintf(what, sizeof what, "%s run n = 0 writes nothing", a->name);
        expect_guards(what, &t);
        test_buf_destroy(&t);
    }
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    /* Twice: as the device runs them (on CPU devices FWD and BWD_DATA run fused, one
     * kernel per block of 16 tiles), then with VERDANT_WINO_FUSED=0 (the transforms and
     * batched GEMMs that GPUs run). */
    for (int r = 0; r < 4; r++) {
        int ai = r % 2;
        if (r == 2) setenv("VERDANT_WINO_FUSED", "0", 1);
        check_shape(ctx, ai, geom3(1, 7, 7, 3, 1, 1), 1);
        check_shape(ctx, ai, geom3(3, 13, 9, 32, 0, 0), 5);
        if (!test_small()) {
            check_shape(ctx, ai, geom3(32, 28, 28, 64, 1, 1), 1);
            check_shape(ctx, ai, geom3(64, 7, 7, 32, 2, 2), 5);
            check_shape(ctx, ai, geom3(64, 14, 14, 64, 1, 1), 2);
        } else {
            /* Under Oclgrind the same paths on fewer channels: C and K over 16 (two
             * channel blocks of the fused kernels), padding 2, batch over 1. */
            check_shape(ctx, ai, geom3(20, 8, 8, 18, 1, 1), 1);
            check_shape(ctx, ai, geom3(18, 7, 7, 9, 2, 2), 2);
        }
        check_shape(ctx, ai, geom3(5, 3, 4, 4, 0, 2), 2);
        check_shape(ctx, ai, geom3(2, 1, 5, 3, 1, 1), 3);
        check_shape(ctx, ai, geom3(7, 10, 11, 6, 2, 0), 2);
        check_shape(ctx, ai, geom3(9, 6, 6, 17, 1, 1), 7); /* 7*4 tiles: blocks across images */
    }
    unsetenv("VERDANT_WINO_FUSED");
    for (int ai = 0; ai < 2; ai++)
        for (int p = 0; p < 3; p++)
            printf("%s %-10s max|err|/max|ref| over the shapes above: %.2e (bound %.1e)\n",
                   ALGOS[ai]->name, PASS_NAME[p], worst_shape_err[ai][p], BOUND[ai][p]);
    check_error_survey(ctx);
    check_bad(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

/* winograd_bench.c - Winograd convolution F(2x2,3x3) and F(4x4,3x3)
 * (src/ops/conv_winograd.c) against the im2col path (vd_op_conv2d_fwd/bwd with the whole
 * batch as one chunk, nb = n) on 3x3 stride-1 pad-1 layers, one process, one context.
 * Prints ms per call for each algorithm, the speed-up of each Winograd variant over
 * im2col, the effective GFLOP/s (2*K*C*9*n*P*Q / time, the direct convolution's count,
 * so that the columns compare) and the max relative difference of each result from
 * im2col's (max |w - i| / max |i|).
 *
 * Method: per shape, pass and algorithm, a first call, one warm-up, then --samples
 * samples of back-to-back calls lasting at least --min-time seconds each (one clFinish
 * per sample); the median is reported (--best: the fastest sample, for a busy machine).
 * Passes: FWD and BWD_DATA by default; --filter adds BWD_FILTER (dw accumulates).
 *
 * Usage: winograd_bench [--n N] [--samples N] [--min-time S] [--only SUBSTRING] [--best]
 *                       [--filter]
 * Environment: VERDANT_DEVICE, VERDANT_GEMM as everywhere else. Not a test: it judges
 * nothing and exits 0 unless setup or a call fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/conv_algo.h"

typedef struct shape {
    int C, K, H;
} shape;

static const shape shapes[] = {
    {32, 32, 28},  {64, 64, 28},   {128, 128, 28}, {64, 64, 14},   {128, 128, 14},
    {256, 256, 14}, {128, 128, 7}, {256, 256, 7},  {32, 64, 28},
};

static const char *const pass_name[3] = {"fwd", "bwd-data", "bwd-filter"};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_state = 42;
static float rand_uniform(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

typedef struct bench {
    vd_context *ctx;
    vd_conv_geom g;
    size_t n;
    cl_mem x, w, y, dy, dx, dw, ws;
} bench;

/* algo 0: im2col, 1: winograd2, 2: winograd4. */
static vd_status run_once(bench *b, int algo, vd_conv_pass pass)
{
    if (algo == 0) {
        if (pass == VD_CONV_FWD)
            return vd_op_conv2d_fwd(b->ctx, &b->g, b->n, b->n, b->x, 0, b->w, 0, 0.0f, b->y, 0,
                                    b->ws, 0);
        if (pass == VD_CONV_BWD_DATA)
            return vd_op_conv2d_bwd(b->ctx, &b->g, b->n, b->n, NULL, 0, b->dy, 0, b->w, 0, NULL,
                                    0, 0.0f, b->dx, 0, b->ws, 0);
        return vd_op_conv2d_bwd(b->ctx, &b->g, b->n, b->n, b->x, 0, b->dy, 0, b->w, 0, b->dw, 0,
                                0.0f, NULL, 0, b->ws, 0);
    }
    const vd_conv_algo *a = algo == 1 ? &vd_conv_algo_winograd2 : &vd_conv_algo_winograd4;
    vd_conv_io io = {b->x, b->w, b->y, b->dy, b->dx, b->dw, b->ws, 0, 0, 0, 0, 0, 0, 0, 0.0f};
    return a->run(b->ctx, &b->g, pass, b->n, &io);
}

/* Median (or best) seconds per call, < 0 on failure. */
static double time_algo(bench *b, int algo, vd_conv_pass pass, int samples, double min_time,
                        int best)
{
    if (run_once(b, algo, pass) || vd_context_finish(b->ctx)) return -1;
    double t0 = now();
    if (run_once(b, algo, pass) || vd_context_finish(b->ctx)) return -1;
    double one = now() - t0;
    long reps = (long)ceil(min_time / (one > 1e-6 ? one : 1e-6));
    if (reps < 1) reps = 1;
    double per[32];
    if (samples > 32) samples = 32;
    for (int i = 0; i < samples; i++) {
        t0 = now();
        for (long r = 0; r < reps; r++)
            if (run_once(b, algo, pass)) return -1;
        if (vd_context_finish(b->ctx)) return -1;
        per[i] = (now() - t0) / (double)reps;
    }
    qsort(per, (size_t)samples, sizeof(double), cmp_double);
    return best ? per[0] : per[samples / 2];
}

static int read_out(bench *b, vd_conv_pass pass, float *dst, size_t count)
{
    cl_mem m = pass == VD_CONV_FWD ? b->y : pass == VD_CONV_BWD_DATA ? b->dx : b->dw;
    return clEnqueueReadBuffer(b->ctx->queue, m, CL_TRUE, 0, count * sizeof(float), dst, 0, NULL,
                               NULL) == CL_SUCCESS
               ? 0
               : -1;
}

static double rel_diff(const float *got, const float *want, size_t count)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < count; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e > d || e != e) d = e;
        if (fabs(want[i]) > r) r = fabs(want[i]);
    }
    return r > 0 ? d / r : d;
}

static cl_mem buffer(vd_context *ctx, size_t count, int fill)
{
    float *h = malloc((count ? count : 1) * sizeof(float));
    if (!h) return NULL;
    for (size_t i = 0; i < count; i++)
        h[i] = fill ? rand_uniform() : 0.0f;
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              (count ? count : 1) * sizeof(float), h, &err);
    free(h);
    return err == CL_SUCCESS ? m : NULL;
}

int main(int argc, char **argv)
{
    int samples = 3, best = 0, filter = 0;
    double min_time = 0.2;
    size_t n = 64;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--best")) best = 1;
        else if (!strcmp(argv[i], "--filter")) filter = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--n N] [--samples N] [--min-time S] [--only SUBSTRING] [--best] "
                    "[--filter]\n",
                    argv[0]);
            return 2;
        }
    }
    if (samples < 1) samples = 1;
    if (n < 1) n = 1;
    vd_context *ctx = NULL;
    vd_status st = vd_context_create(NULL, &ctx);
    if (st != VD_OK) {
        fprintf(stderr, "vd_context_create: %s: %s\n", vd_status_name(st), vd_last_error(NULL));
        return 1;
    }
    printf("device: %s (%s), %d compute units\n", ctx->info.name, ctx->info.platform_name,
           ctx->info.compute_units);
    printf("method: batch %zu, first call + 1 warm-up, %s of %d samples >= %.2f s\n\n", n,
           best ? "best" : "median", samples, min_time);
    printf("| layer (C->K @ HxW, 3x3 pad 1) | pass | im2col ms | GF/s | winograd2 ms | GF/s | "
           "speed-up | winograd4 ms | GF/s | speed-up | max rel diff (w2, w4) |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    int rc = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0] && rc == 0; si++) {
        const shape *s = &shapes[si];
        char label[64];
        snprintf(label, sizeof label, "%d->%d @ %dx%d", s->C, s->K, s->H, s->H);
        if (only && !strstr(label, only)) continue;
        bench b = {ctx, {s->C, s->H, s->H, s->K, s->H, s->H, 3, 3, 1, 1, 1, 1, 1, 1, 1}, n,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        size_t nx = n * s->C * s->H * s->H, ny = n * s->K * s->H * s->H,
               nw = (size_t)s->K * s->C * 9;
        size_t nws = vd_conv_workspace(&b.g, n);
        for (int p = 0; p < 3; p++) {
            size_t a = vd_conv_algo_winograd2.workspace(ctx, &b.g, (vd_conv_pass)p, n);
            size_t c = vd_conv_algo_winograd4.workspace(ctx, &b.g, (vd_conv_pass)p, n);
            if (a > nws) nws = a;
            if (c > nws) nws = c;
        }
        b.x = buffer(ctx, nx, 1), b.w = buffer(ctx, nw, 1), b.dy = buffer(ctx, ny, 1);
        b.y = buffer(ctx, ny, 0), b.dx = buffer(ctx, nx, 0), b.dw = buffer(ctx, nw, 0);
        b.ws = buffer(ctx, nws, 0);
        float *ref = malloc((nx > ny ? nx : ny) * sizeof(float));
        float *got = malloc((nx > ny ? nx : ny) * sizeof(float));
        if (!b.x || !b.w || !b.dy || !b.y || !b.dx || !b.dw || !b.ws || !ref || !got) {
            fprintf(stderr, "%s: out of memory\n", label);
            rc = 1;
        }
        double flop = 2.0 * s->K * s->C * 9.0 * (double)n * s->H * s->H;
        for (int p = 0; p < (filter ? 3 : 2) && rc == 0; p++) {
            vd_conv_pass pass = (vd_conv_pass)p;
            size_t count = p == 0 ? ny : p == 1 ? nx : nw;
            double t[3], diff[3] = {0, 0, 0};
            for (int algo = 0; algo < 3 && rc == 0; algo++) {
                /* BWD_FILTER accumulates: zero dw before the call whose result is compared. */
                if (pass == VD_CONV_BWD_FILTER) {
                    vd_status zs = vd_op_fill(ctx, nw, 0.0f, b.dw, 0);
                    if (zs != VD_OK) rc = 1;
                }
                if (rc == 0 && (run_once(&b, algo, pass) != VD_OK ||
                                read_out(&b, pass, algo ? got : ref, count)))
                    rc = 1;
                if (rc == 0 && algo) diff[algo] = rel_diff(got, ref, count);
                if (rc == 0) t[algo] = time_algo(&b, algo, pass, samples, min_time, best);
                if (rc == 0 && t[algo] < 0) rc = 1;
                if (rc) fprintf(stderr, "%s %s algo %d: %s\n", label, pass_name[p], algo,
                                vd_last_error(ctx));
            }
            if (rc) break;
            printf("| %s | %s | %.2f | %.0f | %.2f | %.0f | %.2fx | %.2f | %.0f | %.2fx | "
                   "%.1e, %.1e |\n",
                   label, pass_name[p], t[0] * 1e3, flop / t[0] * 1e-9, t[1] * 1e3,
                   flop / t[1] * 1e-9, t[0] / t[1], t[2] * 1e3, flop / t[2] * 1e-9, t[0] / t[2],
                   diff[1], diff[2]);
            fflush(stdout);
        }
        cl_mem all[] = {b.x, b.w, b.y, b.dy, b.dx, b.dw, b.ws};
        for (int i = 0; i < 7; i++)
            if (all[i]) clReleaseMemObject(all[i]);
        free(ref), free(got);
    }
    vd_context_destroy(ctx);
    return rc;
}

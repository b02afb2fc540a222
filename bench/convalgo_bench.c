/* convalgo_bench.c - the convolution algorithms against im2col + GEMM on the layer shapes
 * they are meant for, side by side in one process: implicit GEMM and Winograd F(2x2,3x3) /
 * F(4x4,3x3) on 3x3 stride-1 layers with 32-256 channels at 28x28, 14x14 and 7x7; direct
 * on LeNet-5's two layers and depthwise 3x3 layers; FFT on 5x5, 7x7 and 9x9 layers with
 * 16-64 channels at 28x28 and 56x56. Each algorithm runs through its table entry
 * (conv_algo.h) on the whole batch in one call (im2col with a chunk of n images).
 * Prints a Markdown table: ms per pass, effective GFLOP/s (the direct convolution's
 * 2*K*C/groups*R*S*n*P*Q flops over the time), the speed-up im2col ms / algorithm ms, and
 * max|out - im2col out| / max|im2col out|.
 *
 * Method: per shape, pass and algorithm a first call (compiles, bakes FFT plans), one
 * warm-up, then --samples samples of back-to-back calls lasting at least --min-time
 * seconds each (one clFinish per sample); the median (or with --best the fastest)
 * sample is reported. The first FFT call on a new plane size costs clFFT seconds of
 * compilation on PoCL with a cold cache; that is not in the figures.
 *
 * Usage: convalgo_bench [--samples N] [--min-time S] [--only SUBSTRING] [--best]
 *                       [--passes fwd,bwd-data,bwd-filter] [--n N]
 *   --only: cases whose label or one of whose algorithm names contains SUBSTRING
 *           (e.g. --only winograd); --n: batch size for every case.
 * Not a test: it judges nothing and exits 0 unless setup or a run fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/conv_algo.h"

#define NALG 3 /* candidate algorithms per case, beside im2col */

typedef struct bcase {
    const char *label;
    const vd_conv_algo *algos[NALG];     /* NULL-padded */
    int C, H, K, R, stride, pad, groups; /* square images and kernels */
    size_t n;
} bcase;

#define WINO                                                                     \
    {                                                                            \
        &vd_conv_algo_implicit, &vd_conv_algo_winograd2, &vd_conv_algo_winograd4 \
    }
#define DIRECT                           \
    {                                    \
        &vd_conv_algo_direct, NULL, NULL \
    }
#define FFT                           \
    {                                 \
        &vd_conv_algo_fft, NULL, NULL \
    }

static const bcase cases[] = {
    {"3x3 32->32 p1 @28", WINO, 32, 28, 32, 3, 1, 1, 1, 64},
    {"3x3 64->64 p1 @28", WINO, 64, 28, 64, 3, 1, 1, 1, 64},
    {"3x3 128->128 p1 @28", WINO, 128, 28, 128, 3, 1, 1, 1, 64},
    {"3x3 64->64 p1 @14", WINO, 64, 14, 64, 3, 1, 1, 1, 64},
    {"3x3 128->128 p1 @14", WINO, 128, 14, 128, 3, 1, 1, 1, 64},
    {"3x3 256->256 p1 @14", WINO, 256, 14, 256, 3, 1, 1, 1, 64},
    {"3x3 128->128 p1 @7", WINO, 128, 7, 128, 3, 1, 1, 1, 64},
    {"3x3 256->256 p1 @7", WINO, 256, 7, 256, 3, 1, 1, 1, 64},
    {"3x3 32->64 p1 @28", WINO, 32, 28, 64, 3, 1, 1, 1, 64},
    {"3x3 32->64 p1 @14", WINO, 32, 14, 64, 3, 1, 1, 1, 64},  /* VGG-BN c2a */
    {"3x3 64->128 p1 @7", WINO, 64, 7, 128, 3, 1, 1, 1, 64},  /* VGG-BN c3a */
    {"lenet conv1 1->6 5x5 p2 @28", DIRECT, 1, 28, 6, 5, 1, 2, 1, 64},
    {"lenet conv2 6->16 5x5 @14", DIRECT, 6, 14, 16, 5, 1, 0, 1, 64},
    {"depthwise 32 3x3 p1 @28", DIRECT, 32, 28, 32, 3, 1, 1, 32, 64},
    {"depthwise 32 3x3 s2 p1 @28", DIRECT, 32, 28, 32, 3, 2, 1, 32, 64},
    {"rgb 3->32 3x3 p1 @28", DIRECT, 3, 28, 32, 3, 1, 1, 1, 64},
    {"5x5 32->32 p2 @28", FFT, 32, 28, 32, 5, 1, 2, 1, 64},
    {"5x5 64->64 p2 @28", FFT, 64, 28, 64, 5, 1, 2, 1, 32},
    {"7x7 32->32 p3 @28", FFT, 32, 28, 32, 7, 1, 3, 1, 32},
    {"9x9 32->32 p4 @28", FFT, 32, 28, 32, 9, 1, 4, 1, 32},
    {"5x5 16->16 p2 @56", FFT, 16, 56, 16, 5, 1, 2, 1, 16},
    {"5x5 32->64 p2 @56", FFT, 32, 56, 64, 5, 1, 2, 1, 16},
    {"7x7 32->32 p3 @56", FFT, 32, 56, 32, 7, 1, 3, 1, 16},
    {"9x9 16->16 p4 @56", FFT, 16, 56, 16, 9, 1, 4, 1, 16},
};

/* Whether case s is selected by --only (NULL: all). */
static int selected(const bcase *s, const char *only)
{
    if (!only || strstr(s->label, only)) return 1;
    for (int a = 0; a < NALG; a++)
        if (s->algos[a] && strstr(s->algos[a]->name, only)) return 1;
    return 0;
}

static const char *pass_name[] = {"fwd", "bwd-data", "bwd-filter"};

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

static uint64_t rng_state = 7;
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

static vd_status run_once(bench *b, const vd_conv_algo *a, vd_conv_pass pass)
{
    vd_conv_io io = {.x = b->x,
                     .w = b->w,
                     .y = b->y,
                     .dy = b->dy,
                     .dx = b->dx,
                     .dw = b->dw,
                     .ws = b->ws,
                     .beta = 0.0f};
    return a->run(b->ctx, &b->g, pass, b->n, &io);
}

/* Median (or best) seconds per call, < 0 on failure. */
static double time_algo(bench *b, const vd_conv_algo *a, vd_conv_pass pass, int samples,
                        double min_time, int best)
{
    if (run_once(b, a, pass) || vd_context_finish(b->ctx)) return -1;
    double t0 = now();
    if (run_once(b, a, pass) || vd_context_finish(b->ctx)) return -1;
    double one = now() - t0;
    long reps = (long)ceil(min_time / (one > 1e-6 ? one : 1e-6));
    if (reps < 1) reps = 1;
    double per[32];
    if (samples > 32) samples = 32;
    for (int i = 0; i < samples; i++) {
        t0 = now();
        for (long r = 0; r < reps; r++)
            if (run_once(b, a, pass)) return -1;
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
    size_t c = count ? count : 1;
    float *h = malloc(c * sizeof(float));
    if (!h) return NULL;
    for (size_t i = 0; i < c; i++) h[i] = fill ? rand_uniform() : 0.0f;
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, c * sizeof(float),
                              h, &err);
    free(h);
    return err == CL_SUCCESS ? m : NULL;
}

int main(int argc, char **argv)
{
    int samples = 3, best = 0;
    double min_time = 0.2;
    const char *only = NULL, *passes = "fwd,bwd-data,bwd-filter";
    size_t n_all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n_all = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--best")) best = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--samples N] [--min-time S] [--only SUBSTRING] [--best] "
                    "[--passes fwd,bwd-data,bwd-filter] [--n N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (samples < 1) samples = 1;
    vd_context *ctx = NULL;
    vd_status st = vd_context_create(NULL, &ctx);
    if (st != VD_OK) {
        fprintf(stderr, "vd_context_create: %s: %s\n", vd_status_name(st), vd_last_error(NULL));
        return 1;
    }
    printf("device: %s (%s), %d compute units\n", ctx->info.name, ctx->info.platform_name,
           ctx->info.compute_units);
    printf("method: first call + 1 warm-up, %s of %d samples >= %.2f s; speed-up = im2col ms "
           "/ algorithm ms\n\n",
           best ? "best" : "median", samples, min_time);
    printf("| layer | n | pass | im2col ms | GF/s | algorithm | ms | GF/s | speed-up | "
           "max rel diff |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    int rc = 0;
    for (size_t si = 0; si < sizeof cases / sizeof cases[0] && rc == 0; si++) {
        const bcase *s = &cases[si];
        if (!selected(s, only)) continue;
        size_t n = n_all ? n_all : s->n;
        int P = vd_conv_out_size(s->H, s->R, s->stride, s->pad, 1);
        bench b = {ctx,
                   {s->C, s->H, s->H, s->K, P, P, s->R, s->R, s->stride, s->stride, s->pad, s->pad,
                    1, 1, s->groups},
                   n,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   NULL};
        /* im2col first, then the case's candidates. */
        const vd_conv_algo *as[NALG + 1] = {&vd_conv_algo_im2col};
        int na = 1;
        for (int a = 0; a < NALG; a++)
            if (s->algos[a]) as[na++] = s->algos[a];
        size_t nx = n * s->C * s->H * s->H, ny = n * s->K * (size_t)P * P;
        size_t nw = (size_t)s->K * (s->C / s->groups) * s->R * s->R, nws = 1;
        for (int p = 0; p < 3; p++)
            for (int a = 0; a < na; a++) {
                size_t need = as[a]->workspace(ctx, &b.g, (vd_conv_pass)p, n);
                if (need > nws) nws = need;
            }
        b.x = buffer(ctx, nx, 1), b.w = buffer(ctx, nw, 1), b.dy = buffer(ctx, ny, 1);
        b.y = buffer(ctx, ny, 0), b.dx = buffer(ctx, nx, 0), b.dw = buffer(ctx, nw, 0);
        b.ws = buffer(ctx, nws, 0);
        size_t big = nx > ny ? nx : ny;
        float *ref = malloc(big * sizeof(float)), *got = malloc(big * sizeof(float));
        if (!b.x || !b.w || !b.dy || !b.y || !b.dx || !b.dw || !b.ws || !ref || !got) {
            fprintf(stderr, "%s: out of memory (workspace %zu floats)\n", s->label, nws);
            rc = 1;
        }
        double flop = 2.0 * s->K * (s->C / s->groups) * s->R * s->R * (double)n * P * P;
        for (int p = 0; p < 3 && rc == 0; p++) {
            if (!strstr(passes, pass_name[p])) continue;
            vd_conv_pass pass = (vd_conv_pass)p;
            size_t count = p == 0 ? ny : p == 1 ? nx : nw;
            double t[NALG + 1] = {0}, diff[NALG + 1] = {0};
            int ok[NALG + 1] = {0};
            for (int a = 0; a < na && rc == 0; a++) {
                if (!as[a]->applies(ctx, &b.g, pass)) continue;
                ok[a] = 1;
                /* BWD_FILTER accumulates: zero dw before the call whose result is compared. */
                if (pass == VD_CONV_BWD_FILTER && vd_op_fill(ctx, nw, 0.0f, b.dw, 0) != VD_OK)
                    rc = 1;
                if (rc == 0 && (run_once(&b, as[a], pass) != VD_OK ||
                                read_out(&b, pass, a ? got : ref, count)))
                    rc = 1;
                if (rc == 0 && a) diff[a] = rel_diff(got, ref, count);
                if (rc == 0) t[a] = time_algo(&b, as[a], pass, samples, min_time, best);
                if (rc == 0 && t[a] < 0) rc = 1;
                if (rc)
                    fprintf(stderr, "%s %s %s: %s\n", s->label, pass_name[p], as[a]->name,
                            vd_last_error(ctx));
            }
            if (rc) break;
            for (int a = 1; a < na; a++) {
                if (!ok[a]) {
                    printf("| %s | %zu | %s | | | %s | does not apply | | | |\n", s->label, n,
                           pass_name[p], as[a]->name);
                    continue;
                }
                printf("| %s | %zu | %s | %.2f | %.1f | %s | %.2f | %.1f | %.2fx | %.1e |\n",
                       s->label, n, pass_name[p], t[0] * 1e3, flop / t[0] * 1e-9, as[a]->name,
                       t[a] * 1e3, flop / t[a] * 1e-9, t[0] / t[a], diff[a]);
            }
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

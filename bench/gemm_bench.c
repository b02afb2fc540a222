/* gemm_bench.c - SGEMM side by side in one process: Verdant's own kernel (cl/gemm.cl),
 * CLBlast through the same context, and the host BLAS (OpenBLAS, cblas_sgemm) when the
 * build found one. Prints ms and GFLOP/s per shape, the own/OpenBLAS ratio and the max
 * relative error max|C - R| / max|R| of each OpenCL result against the host BLAS result
 * (or against a double-precision reference on a sample of entries when there is no BLAS).
 *
 * Method (docs/GEMM.md, after the PoCL GEMM experiment): per shape and backend, a first
 * call and one warm-up, then --samples samples of back-to-back calls lasting at least
 * --min-time seconds each (one clFinish per sample); the median is reported. The host
 * BLAS runs first with --threads threads, then the process sleeps 300 ms so that its
 * spinning threads go idle before the OpenCL runs.
 *
 * Usage: gemm_bench [--samples N] [--min-time S] [--threads T] [--no-clblast] [--no-own]
 *                   [--only SUBSTRING] [--ld-pad P] [--best]
 *                   [--cpu-time] [--tuned]
 *   --tuned adds a column for the own kernel as vd_gemm runs it, with its tuned parameters
 *   (the own column then runs the fixed defaults): the first call of a shape class
 *   measures the candidates unless VERDANT_CACHE_DIR holds a record, so "tuned 1st" is
 *   the first-use tuning cost with a fresh cache directory and the warm-start cost with a
 *   used one; "params" is tm,tn,kc,par,split and where it came from (tuned now, cache, or
 *   default for shapes too small to tune). VERDANT_TUNE=off makes both columns the same.
 *   The samples of the two own columns alternate (time_pair), so drift reaches both.
 *   --best reports the fastest sample instead of the median (for a busy machine: the
 *   least disturbed sample is the closest to the code's own speed).
 *   --cpu-time times with the process CPU clock instead of the wall clock: GFLOP per
 *   CPU-second, meaningful on a machine shared with other jobs when both libraries run
 *   one thread (POCL_MAX_PTHREAD_COUNT=1 --threads 1); a development aid, not a result.
 * Environment: VERDANT_DEVICE picks the OpenCL device as everywhere else. Not a test: it
 * judges nothing and always exits 0 unless setup fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/gemm.h"

#ifdef VD_BENCH_HAVE_CBLAS
#include <cblas.h>
/* OpenBLAS extensions; weak so that another cblas still links. */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
#endif

typedef struct shape {
    const char *name;
    bool ta, tb;
    size_t m, n, k;
} shape;

static const shape shapes[] = {
    {"square 1024", false, false, 1024, 1024, 1024},
    {"square 512", false, false, 512, 512, 512},
    {"mlp fc1 fwd x.W^T", false, true, 64, 256, 784},
    {"mlp fc1 dW dy^T.x", true, false, 256, 784, 64},
    {"mlp fc1 dx dy.W", false, false, 64, 784, 256},
    {"mlp fc2 fwd", false, true, 64, 128, 256},
    {"mlp fc3 fwd", false, true, 64, 10, 128},
    {"conv 32->64 @224 fwd", false, false, 64, 50176, 288},
    {"conv 32->32 @224 fwd", false, false, 32, 50176, 288},
    {"conv 64->64 @112 fwd", false, false, 64, 12544, 576},
    {"lenet conv1 fwd", false, false, 6, 50176, 25},
    {"lenet conv2 fwd", false, false, 16, 6400, 150},
    {"conv 32->64 bwd-data", true, false, 288, 50176, 64},
    {"conv 32->64 bwd-weights", false, true, 64, 288, 50176},
    /* samples/models/vgg_bn.cfg at batch 64 (28x28 images): the weight gradients of its
     * 3x3 convolutions as one GEMM over the batch (dy (K, N*P*Q) . col^T), and the
     * forward GEMM of one image. */
    {"vgg_bn c1b bwd-weights", false, true, 32, 288, 50176},
    {"vgg_bn c2b bwd-weights", false, true, 64, 576, 12544},
    {"vgg_bn c3b bwd-weights", false, true, 128, 1152, 3136},
    {"vgg_bn c2b fwd (1 image)", false, false, 64, 196, 576},
};

static clockid_t bench_clock = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int use_best; /* --best: fastest sample instead of the median */
static uint64_t rng_state = 42;
static float rand_uniform(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

typedef struct bench {
    vd_context *ctx;
    const shape *s;
    size_t lda, ldb, ldc;
    float *ha, *hb, *hc;
    cl_mem a, b, c;
    vd_gemm_backend own; /* OWN8 or OWN16 */
    vd_gemm_params def;  /* the own kernel's fixed defaults */
} bench;

/* One call; returns 0 on success. */
static int run_once(bench *x, int which)
{
    const shape *s = x->s;
    if (which == 0) {
#ifdef VD_BENCH_HAVE_CBLAS
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f, x->ha,
                    (int)x->lda, x->hb, (int)x->ldb, 0.0f, x->hc, (int)x->ldc);
        return 0;
#else
        return -1;
#endif
    }
    /* 1: own kernel with the default parameters, 3: own kernel tuned (the first call of a
     * shape class measures, unless the tuning cache has it), 2: CLBlast. */
    vd_status st = which == 1 ? vd_gemm_own_params(x->ctx, x->own, &x->def, s->ta, s->tb, s->m,
                                                   s->n, s->k, 1.0f, x->a, 0, x->lda, x->b, 0,
                                                   x->ldb, 0.0f, x->c, 0, x->ldc)
                              : vd_gemm_with(x->ctx, which == 3 ? x->own : VD_GEMM_BACKEND_CLBLAST,
                                             s->ta, s->tb, s->m, s->n, s->k, 1.0f, x->a, 0, x->lda,
                                             x->b, 0, x->ldb, 0.0f, x->c, 0, x->ldc);
    if (st != VD_OK) {
        fprintf(stderr, "vd_gemm: %s: %s\n", vd_status_name(st), vd_last_error(x->ctx));
        return -1;
    }
    return 0;
}

static int finish(bench *x, int which)
{
    return which == 0 ? 0 : vd_context_finish(x->ctx) == VD_OK ? 0 : -1;
}

/* Median seconds per call; first_s gets the first call's time. <0 on failure. */
static double time_backend(bench *x, int which, int samples, double min_time, double *first_s)
{
    double t0 = now();
    if (run_once(x, which) || finish(x, which)) return -1;
    *first_s = now() - t0;
    t0 = now();
    if (run_once(x, which) || finish(x, which)) return -1; /* warm-up */
    double one = now() - t0;
    long reps = (long)ceil(min_time / (one > 1e-6 ? one : 1e-6));
    if (reps < 1) reps = 1;
    double per[64];
    if (samples > 64) samples = 64;
    for (int i = 0; i < samples; i++) {
        t0 = now();
        for (long r = 0; r < reps; r++)
            if (run_once(x, which)) return -1;
        if (finish(x, which)) return -1;
        double dt = now() - t0;
        per[i] = dt / (double)reps;
        if (dt < min_time) /* the warm-up call was slow: lengthen the next samples */
            reps = (long)ceil((double)reps * min_time / dt * 1.1);
    }
    qsort(per, (size_t)samples, sizeof(double), cmp_double);
    return use_best ? per[0] : per[samples / 2];
}

/* As time_backend for two backends whose samples alternate (w0, w1, w0, w1, ...), so that
 * a drift in the machine's speed (other jobs, clocks) reaches both alike: --tuned times the
 * default and tuned own kernels this way. Returns 0 on success. */
static int time_pair(bench *x, const int which[2], int samples, double min_time, double t[2],
                     double first_s[2])
{
    long reps[2];
    for (int b = 0; b < 2; b++) {
        double t0 = now();
        if (run_once(x, which[b]) || finish(x, which[b])) return -1;
        first_s[b] = now() - t0;
    }
    for (int b = 0; b < 2; b++) {
        double t0 = now();
        if (run_once(x, which[b]) || finish(x, which[b])) return -1; /* warm-up */
        double one = now() - t0;
        reps[b] = (long)ceil(min_time / (one > 1e-6 ? one : 1e-6));
        if (reps[b] < 1) reps[b] = 1;
    }
    double per[2][64];
    if (samples > 64) samples = 64;
    for (int i = 0; i < samples; i++)
        for (int b = 0; b < 2; b++) {
            double t0 = now();
            for (long r = 0; r < reps[b]; r++)
                if (run_once(x, which[b])) return -1;
            if (finish(x, which[b])) return -1;
            double dt = now() - t0;
            per[b][i] = dt / (double)reps[b];
            if (dt < min_time) reps[b] = (long)ceil((double)reps[b] * min_time / dt * 1.1);
        }
    for (int b = 0; b < 2; b++) {
        qsort(per[b], (size_t)samples, sizeof(double), cmp_double);
        t[b] = use_best ? per[b][0] : per[b][samples / 2];
    }
    return 0;
}

/* max |got - want| / max |want| over the m x n result (both with leading dimension ldc). */
static double rel_err(const float *got, const float *want, size_t m, size_t n, size_t ldc)
{
    double dmax = 0, rmax = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double d = fabs((double)got[i * ldc + j] - (double)want[i * ldc + j]);
            double r = fabs((double)want[i * ldc + j]);
            if (d > dmax || d != d) dmax = d;
            if (r > rmax) rmax = r;
        }
    return rmax > 0 ? dmax / rmax : dmax;
}

/* Without a host BLAS: a double-precision reference for a few hundred entries. */
static double sampled_err(const bench *x, const float *got)
{
    const shape *s = x->s;
    double dmax = 0, rmax = 0;
    for (int t = 0; t < 256; t++) {
        size_t i = (size_t)t * 7919 % s->m, j = (size_t)t * 104729 % s->n;
        double acc = 0;
        for (size_t p = 0; p < s->k; p++) {
            double av = s->ta ? x->ha[p * x->lda + i] : x->ha[i * x->lda + p];
            double bv = s->tb ? x->hb[j * x->ldb + p] : x->hb[p * x->ldb + j];
            acc += av * bv;
        }
        double d = fabs((double)got[i * x->ldc + j] - acc);
        if (d > dmax || d != d) dmax = d;
        if (fabs(acc) > rmax) rmax = fabs(acc);
    }
    return rmax > 0 ? dmax / rmax : dmax;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static int upload(vd_context *ctx, const float *h, size_t n, cl_mem *out)
{
    cl_int err;
    *out = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                          (n ? n : 1) * sizeof(float), (void *)h, &err);
    return *out ? 0 : -1;
}

int main(int argc, char **argv)
{
    int samples = 5, threads = 2, use_clblast = 1, use_own = 1, use_tuned = 0;
    double min_time = 0.15;
    size_t ld_pad = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--ld-pad") && i + 1 < argc) ld_pad = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-clblast")) use_clblast = 0;
        else if (!strcmp(argv[i], "--no-own")) use_own = 0;
        else if (!strcmp(argv[i], "--tuned")) use_tuned = 1;
        else if (!strcmp(argv[i], "--best")) use_best = 1;
        else if (!strcmp(argv[i], "--cpu-time")) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else {
            fprintf(stderr,
                    "usage: %s [--samples N] [--min-time S] [--threads T] "
                    "[--no-clblast] [--no-own] [--only SUBSTRING] [--ld-pad P] [--best] "
                    "[--cpu-time] [--tuned]\n",
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
    int have_blas = 0;
#ifdef VD_BENCH_HAVE_CBLAS
    have_blas = 1;
    if (openblas_set_num_threads) openblas_set_num_threads(threads);
#endif
    /* The own column: VERDANT_GEMM=own8 / own16 picks the micro-kernel width, otherwise
     * the device's choice. */
    vd_gemm_backend own = vd_gemm_backend_get(ctx);
    if (own != VD_GEMM_BACKEND_OWN8 && own != VD_GEMM_BACKEND_OWN16) {
        setenv("VERDANT_GEMM", "own", 1);
        own = vd_gemm_backend_get(ctx);
    }
    unsetenv("VERDANT_GEMM");
    printf("own kernel: %s\n", own == VD_GEMM_BACKEND_OWN16 ? "8x32 float16" : "6x16 float8");
    printf("device: %s (%s), %d compute units\n", ctx->info.name, ctx->info.platform_name,
           ctx->info.compute_units);
#ifdef VD_BENCH_HAVE_CBLAS
    printf("host BLAS: %s, core %s, %d threads\n",
           openblas_get_config ? openblas_get_config() : "cblas",
           openblas_get_corename ? openblas_get_corename() : "?", threads);
#else
    printf("host BLAS: none (built without cblas_sgemm)\n");
#endif
    printf("method: first call + 1 warm-up, %s of %d samples >= %.2f s; ld pad %zu; "
           "load average %.2f\n\n",
           use_best ? "best" : "median", samples, min_time, ld_pad, loadavg());
    if (use_tuned) {
        /* The per-call cost of finding a shape's parameters (key + cache lookup). */
        vd_gemm_params q;
        double t0 = now();
        for (int i = 0; i < 100000; i++)
            vd_gemm_params_for(ctx, own, false, false, 1000 + (size_t)(i & 7), 1000, 1000, 1, &q);
        printf("parameter lookup per call: %.2f us\n", (now() - t0) / 100000 * 1e6);
    }
    printf("%-26s %-2s %-18s | %8s %7s | %8s %7s | %8s %7s | %6s | %8s %8s | %8s", "shape", "op",
           "m x n x k", "own ms", "GF/s", "clb ms", "GF/s", "blas ms", "GF/s", "own/bl", "err own",
           "err clb", "own 1st");
    if (use_tuned)
        printf(" | %8s %7s | %6s | %8s | %9s | %-24s", "tuned ms", "GF/s", "tun/bl", "err tun",
               "tuned 1st", "params");
    printf("\n");

    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        if (only && !strstr(s->name, only)) continue;
        bench x = {.ctx = ctx, .s = s, .own = own, .def = vd_gemm_params_default(own)};
        size_t ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
        size_t br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
        x.lda = ac + ld_pad, x.ldb = bc + ld_pad, x.ldc = s->n + ld_pad;
        size_t na = ar * x.lda, nb = br * x.ldb, nc = s->m * x.ldc;
        x.ha = malloc(na * sizeof(float));
        x.hb = malloc(nb * sizeof(float));
        x.hc = calloc(nc, sizeof(float));
        float *got = malloc(nc * sizeof(float)), *got2 = malloc(nc * sizeof(float));
        if (!x.ha || !x.hb || !x.hc || !got || !got2) {
            fprintf(stderr, "out of host memory\n");
            return 1;
        }
        for (size_t i = 0; i < na; i++) x.ha[i] = rand_uniform();
        for (size_t i = 0; i < nb; i++) x.hb[i] = rand_uniform();
        if (upload(ctx, x.ha, na, &x.a) || upload(ctx, x.hb, nb, &x.b) ||
            upload(ctx, x.hc, nc, &x.c)) {
            fprintf(stderr, "clCreateBuffer failed\n");
            return 1;
        }
        double flop = 2.0 * (double)s->m * (double)s->n * (double)s->k;
        double t_bl = -1, t_own = -1, t_clb = -1, t_tun = -1, first = 0, first_own = 0;
        double first_tun = 0, e_own = -1, e_clb = -1, e_tun = -1;
        char params[48] = "-";
        if (have_blas) {
            t_bl = time_backend(&x, 0, samples, min_time, &first);
            usleep(300000);
        }
        vd_gemm_params q;
        vd_gemm_params_source src =
            vd_gemm_params_for(ctx, own, s->ta, s->tb, s->m, s->n, s->k, 1, &q);
        if (use_own && use_tuned) {
            static const int pair[2] = {1, 3};
            double t2[2], f2[2];
            if (time_pair(&x, pair, samples, min_time, t2, f2) == 0)
                t_own = t2[0], t_tun = t2[1], first_own = f2[0], first_tun = f2[1];
        } else if (use_own) {
            t_own = time_backend(&x, 1, samples, min_time, &first_own);
        } else if (use_tuned) {
            t_tun = time_backend(&x, 3, samples, min_time, &first_tun);
        }
        for (int which = 1; which <= 3; which += 2) { /* each result, for its error */
            double t_w = which == 1 ? t_own : t_tun;
            if (t_w <= 0 || run_once(&x, which) || finish(&x, which) ||
                clEnqueueReadBuffer(ctx->queue, x.c, CL_TRUE, 0, nc * sizeof(float), got, 0, NULL,
                                    NULL) != CL_SUCCESS)
                continue;
            double e = have_blas ? rel_err(got, x.hc, s->m, s->n, x.ldc) : sampled_err(&x, got);
            if (which == 1) e_own = e;
            else e_tun = e;
        }
        if (use_tuned) {
            vd_gemm_params_for(ctx, own, s->ta, s->tb, s->m, s->n, s->k, 1, &q);
            snprintf(params, sizeof params, "%u,%u,%u,%u,%u %s", q.tm, q.tn, q.kc, q.par, q.split,
                     src == VD_GEMM_PARAMS_MISSING  ? "tuned now"
                     : src == VD_GEMM_PARAMS_CACHED ? "cache"
                                                    : "default");
        }
        if (use_clblast) {
            t_clb = time_backend(&x, 2, samples, min_time, &first);
            if (t_clb > 0 && clEnqueueReadBuffer(ctx->queue, x.c, CL_TRUE, 0, nc * sizeof(float),
                                                 got2, 0, NULL, NULL) == CL_SUCCESS)
                e_clb = have_blas ? rel_err(got2, x.hc, s->m, s->n, x.ldc) : sampled_err(&x, got2);
        }
        char dims[32], c_own[24] = "-", c_clb[24] = "-", c_bl[24] = "-", ratio[16] = "-";
        char se_own[16] = "-", se_clb[16] = "-", s1[16] = "-";
        snprintf(dims, sizeof dims, "%zux%zux%zu", s->m, s->n, s->k);
        if (t_own > 0)
            snprintf(c_own, sizeof c_own, "%8.3f %7.1f", t_own * 1e3, flop / t_own / 1e9);
        if (t_clb > 0)
            snprintf(c_clb, sizeof c_clb, "%8.3f %7.1f", t_clb * 1e3, flop / t_clb / 1e9);
        if (t_bl > 0) snprintf(c_bl, sizeof c_bl, "%8.3f %7.1f", t_bl * 1e3, flop / t_bl / 1e9);
        if (t_own > 0 && t_bl > 0) snprintf(ratio, sizeof ratio, "%5.0f%%", 100 * t_bl / t_own);
        if (e_own >= 0) snprintf(se_own, sizeof se_own, "%.1e", e_own);
        if (e_clb >= 0) snprintf(se_clb, sizeof se_clb, "%.1e", e_clb);
        if (t_own > 0) snprintf(s1, sizeof s1, "%.0f ms", first_own * 1e3);
        printf("%-26s %c%c %-18s | %16s | %16s | %16s | %6s | %8s %8s | %8s", s->name,
               s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', dims, c_own, c_clb, c_bl, ratio, se_own,
               se_clb, s1);
        if (use_tuned) {
            char c_tun[24] = "-", r_tun[16] = "-", se_tun[16] = "-", s1t[16] = "-";
            if (t_tun > 0)
                snprintf(c_tun, sizeof c_tun, "%8.3f %7.1f", t_tun * 1e3, flop / t_tun / 1e9);
            if (t_tun > 0 && t_bl > 0) snprintf(r_tun, sizeof r_tun, "%5.0f%%", 100 * t_bl / t_tun);
            if (e_tun >= 0) snprintf(se_tun, sizeof se_tun, "%.1e", e_tun);
            if (t_tun > 0) snprintf(s1t, sizeof s1t, "%.0f ms", first_tun * 1e3);
            printf(" | %16s | %6s | %8s | %9s | %-24s", c_tun, r_tun, se_tun, s1t, params);
        }
        printf("\n");
        fflush(stdout);
        clReleaseMemObject(x.a), clReleaseMemObject(x.b), clReleaseMemObject(x.c);
        free(x.ha), free(x.hb), free(x.hc), free(got), free(got2);
    }
    printf("\nload average at the end %.2f\n", loadavg());
    vd_context_destroy(ctx);
    return 0;
}

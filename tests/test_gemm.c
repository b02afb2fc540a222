/* test_gemm.c - vd_gemm (src/ops/gemm.c) against ref_gemm (tests/ref/dense_ref.c), with
 * each backend forced in turn through VERDANT_GEMM (own8 and own16, the two widths of
 * cl/gemm.cl, and clblast):
 * odd sizes around the kernel's tile edges (6/8-row panels, 16/32-column slivers, 198-row and
 * 256-deep blocks), all four transpose cases, alpha/beta other than 1/0, non-zero offsets,
 * padded leading dimensions (the padding must stay untouched), the MLP's shapes, reduced
 * conv-like shapes (the split-k path included), beta = 0 over NaN, k = 0, and bad
 * arguments. Tuning: every candidate parameter set of the own kernel forced in turn, the
 * tuning record's round trip through the cache (measured once, read by a second context),
 * damaged records, VERDANT_TUNE=off, and CLBlast's Xgemm parameter sets (opted in with
 * VERDANT_TUNE_CLBLAST=1). Not here: speed (bench/gemm_bench.c). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ops/gemm.h"
#include "ref.h"
#include "runtime/tune.h"

/* Tolerance. Inputs are uniform in [-1, 1], so C = sum of k products of size <= 1 with
 * random signs, |C| ~ sqrt(k)/3. Rounding a length-k fp32 sum in any order (blocked,
 * fused multiply-adds, split along k) gives errors that grow like sqrt(k) * u * |terms|
 * with high probability (Higham & Mary, SISC 2019); measured errors here are below
 * 1e-5 * sqrt(k). atol = 1e-4 * sqrt(k) leaves that margin for any summation order,
 * yet one dropped, doubled or misplaced term (|a*b| ~ 0.25 on average, and many of them
 * along a wrong row or column) is far above it for every k tested (<= 5000). */
static float atol_for(size_t k)
{
    return 1e-4f * sqrtf((float)(k ? k : 1));
}
#define RTOL 1e-5f

static uint64_t rng = 11;

static float *rand_array(size_t n)
{
    float *a = test_malloc(n * sizeof(float) + 1);
    test_fill_uniform(&rng, a, n, -1.0f, 1.0f);
    return a;
}

static const char *backend_name(vd_gemm_backend b)
{
    return b == VD_GEMM_BACKEND_OWN8    ? "own8"
           : b == VD_GEMM_BACKEND_OWN16 ? "own16"
           : b == VD_GEMM_BACKEND_OWN   ? "own"
                                        : "clblast";
}

/* Force the backend the way users and benchmarks do. */
static void use_backend(vd_gemm_backend b)
{
    setenv("VERDANT_GEMM", backend_name(b), 1);
}

/* Parameters forced for the next check_gemm calls (NULL: vd_gemm's own choice). */
static const vd_gemm_params *forced;
static vd_gemm_backend forced_backend;

/* op(A): (m, k), op(B): (k, n), C: (m, n), each with leading dimension minimal + pad, at
 * element offsets off, off + 1, off + 2. C starts random (or NaN when nan_c) and the
 * whole (m, ldc) block is compared, so the padding columns must come back unchanged. */
static void check_gemm(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                       float beta, size_t pad, size_t off, bool nan_c)
{
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    size_t lda = (ac ? ac : 1) + pad, ldb = (bc ? bc : 1) + pad, ldc = n + pad;
    size_t na = ar * lda, nb = br * ldb, nc = m * ldc;
    float *a = rand_array(na), *b = rand_array(nb), *c = rand_array(nc);
    float *want = test_malloc(nc * sizeof(float) + 1), *got = test_malloc(nc * sizeof(float) + 1);
    if (nan_c)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) c[i * ldc + j] = NAN;
    char what[200], with[64] = "";
    if (forced)
        snprintf(with, sizeof with, " params %u,%u,%u,%u,%u", forced->tm, forced->tn, forced->kc,
                 forced->par, forced->split);
    snprintf(what, sizeof what,
             "%s gemm %c%c m=%zu n=%zu k=%zu alpha=%g beta=%g pad=%zu off=%zu%s%s",
             backend_name(forced ? forced_backend : vd_gemm_backend_get(ctx)), ta ? 'T' : 'N',
             tb ? 'T' : 'N', m, n, k, alpha, beta, pad, off, nan_c ? " C=NaN" : "", with);
    test_buf ba, bb, bcb;
    memset(&ba, 0, sizeof ba), bb = bcb = ba;
    if (EXPECT_OK(ctx, test_buf_create(ctx, na, off, a, &ba)) &
        EXPECT_OK(ctx, test_buf_create(ctx, nb, off + 1, b, &bb)) &
        EXPECT_OK(ctx, test_buf_create(ctx, nc, off + 2, c, &bcb))) {
        vd_status st = forced ? vd_gemm_own_params(ctx, forced_backend, forced, ta, tb, m, n, k,
                                                   alpha, ba.mem, ba.off, lda, bb.mem, bb.off, ldb,
                                                   beta, bcb.mem, bcb.off, ldc)
                              : vd_gemm(ctx, ta, tb, m, n, k, alpha, ba.mem, ba.off, lda, bb.mem,
                                        bb.off, ldb, beta, bcb.mem, bcb.off, ldc);
        if (expect_status(what, ctx, st, VD_OK)) {
            EXPECT_OK(ctx, test_buf_read(&bcb, got));
            memcpy(want, c, nc * sizeof(float));
            if (nan_c && beta == 0.0f)
                for (size_t i = 0; i < m; i++)
                    for (size_t j = 0; j < n; j++) want[i * ldc + j] = 0.0f;
            ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
            expect_close(what, got, want, nc, atol_for(k), RTOL);
            expect_guards(what, &bcb);
            expect_guards(what, &ba);
            expect_guards(what, &bb);
        }
    }
    test_buf_destroy(&ba), test_buf_destroy(&bb), test_buf_destroy(&bcb);
    free(a), free(b), free(c), free(want), free(got);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 64, 0, NULL, &t))) return;
    cl_mem x = t.mem;
    expect_status("gemm NULL ctx", NULL,
                  vd_gemm(NULL, false, false, 2, 2, 2, 1, x, 0, 2, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_INVALID_ARG);
    expect_status("gemm NULL a", ctx,
                  vd_gemm(ctx, false, false, 2, 2, 2, 1, NULL, 0, 2, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_INVALID_ARG);
    expect_status("gemm NULL c", ctx,
                  vd_gemm(ctx, false, false, 2, 2, 2, 1, x, 0, 2, x, 0, 2, 0, NULL, 0, 2),
                  VD_ERR_INVALID_ARG);
    expect_status("gemm lda < k", ctx,
                  vd_gemm(ctx, false, false, 2, 2, 3, 1, x, 0, 2, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_SHAPE);
    expect_status("gemm ta, lda < m", ctx,
                  vd_gemm(ctx, true, false, 3, 2, 2, 1, x, 0, 2, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_SHAPE);
    expect_status("gemm tb, ldb < k", ctx,
                  vd_gemm(ctx, false, true, 2, 2, 3, 1, x, 0, 3, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_SHAPE);
    expect_status("gemm ldc < n", ctx,
                  vd_gemm(ctx, false, false, 2, 3, 2, 1, x, 0, 2, x, 0, 3, 0, x, 0, 2),
                  VD_ERR_SHAPE);
    expect_status("gemm m = 0 is a no-op", ctx,
                  vd_gemm(ctx, false, false, 0, 3, 2, 1, NULL, 0, 2, NULL, 0, 3, 0, x, 0, 3),
                  VD_OK);
    setenv("VERDANT_GEMM", "fastest", 1);
    expect_status("gemm VERDANT_GEMM=fastest", ctx,
                  vd_gemm(ctx, false, false, 2, 2, 2, 1, x, 0, 2, x, 0, 2, 0, x, 0, 2),
                  VD_ERR_INVALID_ARG);
    unsetenv("VERDANT_GEMM");
    vd_gemm_backend def = vd_gemm_backend_get(ctx);
    expect_true("device profile: CPU variant exactly on CPU devices unless forced",
                ctx->dev.forced || (ctx->dev.variant == VD_VARIANT_CPU) ==
                                       (ctx->info.type == VD_DEVICE_CPU));
    expect_true("default backend: own in the CPU profile, CLBlast in the GPU profile",
                ctx->dev.variant == VD_VARIANT_CPU
                    ? def == VD_GEMM_BACKEND_OWN8 || def == VD_GEMM_BACKEND_OWN16
                    : def == VD_GEMM_BACKEND_CLBLAST);
    expect_guards("bad-argument calls write nothing", &t);
    test_buf_destroy(&t);
}

/* VERDANT_LOCAL_MEM below what the own kernel's tiles need (the budget of a device with
 * little __local memory): in the CPU profile the default backend becomes CLBlast and
 * gives the same products, and forcing the own kernel is refused by the launch check with
 * the kernel named, not run over the budget. */
static void check_local_cap(void)
{
    setenv("VERDANT_LOCAL_MEM", "4096", 1);
    vd_context *ctx = NULL;
    if (test_context(&ctx) != 0) {
        unsetenv("VERDANT_LOCAL_MEM");
        return;
    }
    expect_true("VERDANT_LOCAL_MEM=4096 caps the profile's budget", ctx->dev.local_mem == 4096);
    unsetenv("VERDANT_GEMM");
    expect_true("4 KiB of __local: the default backend is CLBlast",
                vd_gemm_backend_get(ctx) == VD_GEMM_BACKEND_CLBLAST);
    check_gemm(ctx, false, true, 64, 128, 256, 1.0f, 0.0f, 0, 0, false);
    check_gemm(ctx, true, false, 33, 17, 70, 0.5f, 1.0f, 1, 2, false);
    setenv("VERDANT_GEMM", "own", 1);
    test_buf t;
    if (EXPECT_OK(ctx, test_buf_create(ctx, 64, 1, NULL, &t))) {
        vd_status st = vd_gemm(ctx, false, false, 8, 8, 8, 1, t.mem, t.off, 8, t.mem, t.off, 8, 0,
                               t.mem, t.off, 8);
        expect_true("own GEMM forced past the __local budget: VD_ERR_UNSUPPORTED naming it",
                    st == VD_ERR_UNSUPPORTED && strstr(vd_last_error(ctx), "gemm") &&
                        strstr(vd_last_error(ctx), "local"));
        test_buf_destroy(&t);
    }
    unsetenv("VERDANT_GEMM");
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    unsetenv("VERDANT_LOCAL_MEM");
}

/* ------------------------------------------------------------------ tuning */

/* Every candidate of both own widths, forced, on shapes that cross each parameter's
 * edges (k blocks of 128 / 192 / 256 / 512, 96-row tiles, 256-column tiles, split-k with 8
 * slabs per core), all four transpose cases, offsets and padding. */
static void check_candidates(vd_context *ctx)
{
    static const size_t shapes[][3] = {{67, 33, 257},   {133, 50, 600}, {203, 45, 70}, {5, 530, 9},
                                       {100, 700, 520}, {20, 40, 5000}, {70, 20, 1100}};
    static const vd_gemm_backend own[] = {VD_GEMM_BACKEND_OWN8, VD_GEMM_BACKEND_OWN16};
    /* Under Oclgrind (test_small()) every candidate on the shapes that cross its tile,
     * k block and split-k edges (the first, third, fourth and last), NN and TT only. */
    bool small = test_small();
    for (size_t bi = 0; bi < 2; bi++) {
        vd_gemm_params cand[16];
        size_t nc = vd_gemm_params_candidates(own[bi], cand, 16);
        expect_true("at least 4 candidates, the default first",
                    nc >= 4 && cand[0].tm == vd_gemm_params_default(own[bi]).tm &&
                        cand[0].kc == vd_gemm_params_default(own[bi]).kc);
        forced_backend = own[bi];
        for (size_t ci = 0; ci < nc; ci++) {
            expect_true("candidate valid", vd_gemm_params_valid(own[bi], &cand[ci]));
            forced = &cand[ci];
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int t = 0; t < 4; t += small ? 3 : 1)
                    if (!small || s == 0 || s == 2 || s == 3 || s == 6)
                        check_gemm(ctx, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2],
                                   0.75f, s % 2 ? 0.5f : 0.0f, (s + ci) % 3, 3 + s, false);
        }
        forced = NULL;
    }
    /* Absurd parameters are refused, not run. */
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 64, 0, NULL, &t))) return;
    static const vd_gemm_params bad[] = {{0, 512, 256, 2, 4},   {192, 512, 1000000000, 2, 4},
                                         {7, 512, 256, 2, 4},   {192, 520, 256, 2, 4},
                                         {192, 512, 512, 2, 4}, {192, 512, 256, 0, 4},
                                         {192, 512, 100, 2, 4}, {192, 512, 256, 2, 99}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "own16 params %u,%u,%u,%u,%u refused", bad[i].tm, bad[i].tn,
                 bad[i].kc, bad[i].par, bad[i].split);
        expect_true(what, !vd_gemm_params_valid(VD_GEMM_BACKEND_OWN16, &bad[i]));
        expect_status(what, ctx,
                      vd_gemm_own_params(ctx, VD_GEMM_BACKEND_OWN16, &bad[i], false, false, 2, 2, 2,
                                         1, t.mem, 0, 2, t.mem, 0, 2, 0, t.mem, 0, 2),
                      VD_ERR_INVALID_ARG);
    }
    expect_true("own8: kc 512 refused (fixed A row stride)",
                !vd_gemm_params_valid(VD_GEMM_BACKEND_OWN8, &(vd_gemm_params){96, 256, 512, 2, 4}));
    expect_guards("refused parameters write nothing", &t);
    test_buf_destroy(&t);
}

/* Lines in the tuning file(s) of cache directory dir. */
static long tune_lines(const char *dir)
{
    long lines = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "tune-", 5) != 0) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        for (int ch; f && (ch = fgetc(f)) != EOF;) lines += ch == '\n';
        if (f) fclose(f);
    }
    if (d) closedir(d);
    return lines;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A context on the cache directory dir (the tuning cache is per directory and device). */
static vd_context *context_in(const char *dir)
{
    setenv("VERDANT_CACHE_DIR", dir, 1);
    vd_context *ctx = NULL;
    if (test_context(&ctx) != 0) ctx = NULL;
    return ctx;
}

/* The own GEMM's tuning record: measured once, read by a second context without measuring
 * again, damaged records ignored, VERDANT_TUNE=off takes the defaults. */
static void check_tuning_cache(const char *dir)
{
    vd_context *ctx = context_in(dir);
    if (!ctx) return;
    setenv("VERDANT_GEMM", "own", 1);
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    const size_t m = 128, n = 256, k = 200; /* 6.6 M multiply-adds: tuned */
    vd_gemm_params p, p2;
    char key[VD_TUNE_KEY_MAX], val[VD_TUNE_KEY_MAX];
    vd_gemm_tune_key(be, false, false, m, n, k, 1, key, sizeof key);
    expect_true("fresh cache: no record yet", vd_gemm_params_for(ctx, be, false, false, m, n, k, 1,
                                                                 &p) == VD_GEMM_PARAMS_MISSING);
    expect_true("small shapes are not tuned", vd_gemm_params_for(ctx, be, false, true, 64, 10, 128,
                                                                 1, &p) == VD_GEMM_PARAMS_DEFAULT);
    double t0 = seconds();
    check_gemm(ctx, false, false, m, n, k, 1.0f, 0.5f, 1, 2, false); /* measures */
    double t_first = seconds() - t0;
    expect_true("first use recorded the winner",
                vd_gemm_params_for(ctx, be, false, false, m, n, k, 1, &p) ==
                        VD_GEMM_PARAMS_CACHED &&
                    vd_tune_get(ctx, key, val, sizeof val) && strchr(val, '@'));
    /* A shape of the same class (m, n, k within the same powers of two) uses the record. */
    expect_true("same class, same record", vd_gemm_params_for(ctx, be, false, false, 120, 300, 190,
                                                              1, &p2) == VD_GEMM_PARAMS_CACHED &&
                                               !memcmp(&p, &p2, sizeof p));
    vd_context_destroy(ctx);
    long lines = tune_lines(dir);

    ctx = context_in(dir);
    if (!ctx) return;
    expect_true("second context reads the record",
                vd_gemm_params_for(ctx, be, false, false, m, n, k, 1, &p2) ==
                        VD_GEMM_PARAMS_CACHED &&
                    !memcmp(&p, &p2, sizeof p));
    t0 = seconds();
    check_gemm(ctx, false, false, m, n, k, 1.0f, 0.5f, 1, 2, false);
    double t_warm = seconds() - t0;
    expect_true("second context does not measure again", tune_lines(dir) == lines);
    printf("# tuning %s: first use %.0f ms, warm start %.0f ms (with the reference and "
           "transfers), record %s\n",
           key, t_first * 1e3, t_warm * 1e3, val);

    /* Damaged or absurd records are ignored: the defaults meanwhile, a new measurement at
     * the next call. */
    static const char *const damaged[] = {"0,512,256,2,4@1.0",
                                          "192,512,1000000000,2,4@1",
                                          "192,512,256,2",
                                          "192,512,256,2,4,7",
                                          "abc",
                                          "-192,512,256,2,4",
                                          "99999999999,512,256,2,4",
                                          "192,512,256,2,4x"};
    vd_gemm_params def = vd_gemm_params_default(be);
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        EXPECT_OK(ctx, vd_tune_put(ctx, key, damaged[i]));
        char what[96];
        snprintf(what, sizeof what, "record '%s' ignored", damaged[i]);
        expect_true(what, vd_gemm_params_for(ctx, be, false, false, m, n, k, 1, &p2) ==
                                  VD_GEMM_PARAMS_MISSING &&
                              !memcmp(&p2, &def, sizeof def));
    }
    lines = tune_lines(dir);
    check_gemm(ctx, true, false, m, n, k, 1.0f, 0.0f, 0, 1, false); /* TN: its own class */
    check_gemm(ctx, false, false, m, n, k, 1.0f, 0.0f, 0, 1, false);
    expect_true("a damaged record is measured again",
                vd_gemm_params_for(ctx, be, false, false, m, n, k, 1, &p2) ==
                        VD_GEMM_PARAMS_CACHED &&
                    tune_lines(dir) == lines + 2);

    /* A valid record that is not the default is what the calls use ... */
    vd_gemm_params other = {be == VD_GEMM_BACKEND_OWN16 ? 96 : 96, 256, 128, 4, 0};
    snprintf(val, sizeof val, "%u,%u,%u,%u,%u@0.5", other.tm, other.tn, other.kc, other.par,
             other.split);
    EXPECT_OK(ctx, vd_tune_put(ctx, key, val));
    expect_true("a planted record is used", vd_gemm_params_for(ctx, be, false, false, m, n, k, 1,
                                                               &p2) == VD_GEMM_PARAMS_CACHED &&
                                                !memcmp(&p2, &other, sizeof other));
    check_gemm(ctx, false, false, m, n, k, -1.0f, 1.0f, 2, 0, false);
    /* ... unless VERDANT_TUNE=off: the defaults, and nothing measured or recorded. */
    setenv("VERDANT_TUNE", "off", 1);
    lines = tune_lines(dir);
    expect_true("VERDANT_TUNE=off: defaults", vd_gemm_params_for(ctx, be, false, false, m, n, k, 1,
                                                                 &p2) == VD_GEMM_PARAMS_DEFAULT &&
                                                  !memcmp(&p2, &def, sizeof def));
    check_gemm(ctx, false, true, m, n, k, 1.0f, 0.0f, 0, 0, false); /* NT: not yet tuned */
    expect_true("VERDANT_TUNE=off measures nothing", tune_lines(dir) == lines);
    unsetenv("VERDANT_TUNE");
    unsetenv("VERDANT_GEMM");
    vd_context_destroy(ctx);
}

/* CLBlast (VERDANT_GEMM=clblast): tuning opted in with VERDANT_TUNE_CLBLAST=1 measures the
 * Xgemm parameter sets at the first GEMM and records the choice, a second context applies
 * it without measuring, and every set gives correct results in every transpose case on
 * shapes large enough for CLBlast's indirect (Xgemm) kernel (above 704^3, the
 * XGEMM_MIN_INDIRECT_SIZE of CLBlast's generic default, which PoCL gets; smaller products
 * run XgemmDirect, which the sets do not change). */
static void check_clblast_tuning(const char *dir)
{
    setenv("VERDANT_GEMM", "clblast", 1);
    setenv("VERDANT_TUNE_CLBLAST", "1", 1);
    vd_context *ctx = context_in(dir);
    if (!ctx) return;
    long lines = tune_lines(dir);
    double t0 = seconds();
    check_gemm(ctx, false, false, 33, 40, 50, 1.0f, 0.0f, 0, 0, false); /* tunes first */
    double t_first = seconds() - t0;
    char val[VD_TUNE_KEY_MAX];
    expect_true("CLBlast: the choice is recorded",
                vd_tune_get(ctx, "clblast:Xgemm:s", val, sizeof val) &&
                    tune_lines(dir) == lines + (lines ? 1 : 2));
    printf("# CLBlast tuning: first GEMM %.1f s, record %s\n", t_first, val);
    for (int i = 1; i < vd_blas_sets(); i++) {
        EXPECT_OK(ctx, vd_blas_use(ctx, i));
        for (int t = 0; t < 4; t++) /* 705 x 710 x 720 > 704^3: Xgemm, not XgemmDirect */
            check_gemm(ctx, t & 1, t & 2, 705, 710, 720, 0.75f, 0.5f, t % 3, 1 + t, false);
    }
    expect_status("vd_blas_use(-1)", ctx, vd_blas_use(ctx, -1), VD_ERR_INVALID_ARG);
    expect_status("vd_blas_use(sets)", ctx, vd_blas_use(ctx, vd_blas_sets()), VD_ERR_INVALID_ARG);
    vd_context_destroy(ctx);

    lines = tune_lines(dir);
    ctx = context_in(dir);
    if (!ctx) return;
    t0 = seconds();
    check_gemm(ctx, true, true, 705, 710, 720, 1.0f, 0.0f, 1, 0, false);
    printf("# CLBlast warm start (record applied, reference included): %.1f s\n", seconds() - t0);
    expect_true("CLBlast: a second context applies the record without measuring",
                tune_lines(dir) == lines);
    /* A damaged record is ignored (CLBlast's own parameters; no measurement unless opted
     * in). */
    unsetenv("VERDANT_TUNE_CLBLAST");
    EXPECT_OK(ctx, vd_tune_put(ctx, "clblast:Xgemm:s", "0,1,32,2,8,8,32,16,16,1000000,1@1"));
    vd_context_destroy(ctx);
    ctx = context_in(dir);
    if (!ctx) return;
    lines = tune_lines(dir);
    check_gemm(ctx, false, true, 705, 710, 720, 1.0f, 0.0f, 0, 0, false);
    expect_true("CLBlast: damaged record ignored", tune_lines(dir) == lines);
    unsetenv("VERDANT_GEMM");
    vd_context_destroy(ctx);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();

    /* Odd sizes around the tile edges: MR 6 / 8, NR 16 / 32, TM 198 / 192, KC 256, TN 512. */
    static const size_t odd[][3] = {{1, 1, 1},      {3, 17, 5},   {17, 3, 129},  {129, 129, 129},
                                    {1, 129, 3},    {7, 1, 17},   {6, 16, 256},  {67, 33, 257},
                                    {133, 50, 600}, {13, 100, 2}, {203, 45, 70}, {5, 530, 9}};
    /* The MLP's shapes (784-256-128-10, batch 64): forward x W^T, dW = dy^T x, dx = dy W. */
    static const struct {
        bool ta, tb;
        size_t m, n, k;
    } mlp[] = {
        {false, true, 64, 256, 784}, {true, false, 256, 784, 64}, {false, false, 64, 784, 256},
        {false, true, 64, 128, 256}, {false, true, 64, 10, 128},  {false, false, 64, 128, 10},
    };
    /* Conv-like shapes from the PoCL GEMM experiment, with the pixel count reduced so the
     * double-precision reference stays quick; 2048 columns keep ldb = 4 KiB multiple
     * (the cache-aliasing case), and the last two take the split-k path. */
    static const struct {
        bool ta, tb;
        size_t m, n, k;
    } conv[] = {
        {false, false, 64, 3136, 288}, {false, false, 32, 2048, 288}, {false, false, 6, 3136, 25},
        {false, false, 16, 6400, 150}, {true, false, 288, 3136, 64},  {false, true, 64, 288, 3136},
        {false, true, 20, 40, 5000},
    };

    /* Both widths of the own micro-kernel run on any CPU device (float16 is only slower
     * where the registers are narrower), so both are checked wherever the test runs. */
    static const vd_gemm_backend backends[] = {VD_GEMM_BACKEND_OWN8, VD_GEMM_BACKEND_OWN16,
                                               VD_GEMM_BACKEND_CLBLAST};
    /* Under Oclgrind (test_small()) the odd sizes but 133 x 50 x 600 (67 x 33 x 257 crosses
     * the k block, 203 x 45 x 70 the row tile, 5 x 530 x 9 the column tile); the MLP's and
     * the conv-like shapes are left out: they run the same kernels at sizes the simulator
     * takes minutes over, and the split-k path runs in the corner cases below. */
    bool small = test_small();
    for (size_t bi = 0; bi < sizeof backends / sizeof backends[0]; bi++) {
        use_backend(backends[bi]);
        for (size_t s = 0; s < sizeof odd / sizeof odd[0]; s++)
            for (int t = 0; t < 4 && !(small && odd[s][2] == 600); t++)
                check_gemm(ctx, t & 1, t & 2, odd[s][0], odd[s][1], odd[s][2], 0.75f, 0.5f, s % 3,
                           s % 2 ? 0 : 5 + s, false);
        for (size_t s = 0; s < (small ? 0 : sizeof mlp / sizeof mlp[0]); s++) {
            check_gemm(ctx, mlp[s].ta, mlp[s].tb, mlp[s].m, mlp[s].n, mlp[s].k, 1.0f, 0.0f, 0, 0,
                       false);
            check_gemm(ctx, mlp[s].ta, mlp[s].tb, mlp[s].m, mlp[s].n, mlp[s].k, -1.5f, 1.0f, 4, 3,
                       false);
        }
        for (size_t s = 0; s < (small ? 0 : sizeof conv / sizeof conv[0]); s++)
            check_gemm(ctx, conv[s].ta, conv[s].tb, conv[s].m, conv[s].n, conv[s].k, 1.0f, 0.0f, 0,
                       0, false);
    }

    /* BLAS corner cases: beta = 0 over NaN (C must not be read), k = 0 (C = beta * C,
     * which CLBlast itself rejects; vd_gemm handles it), split-k with TT and beta. */
    for (size_t bi = 0; bi < 2; bi++) {
        use_backend(backends[bi]);
        check_gemm(ctx, false, false, 17, 33, 40, 1.0f, 0.0f, 1, 2, true);  /* beta 0, NaN C */
        check_gemm(ctx, false, true, 20, 40, 5000, 1.0f, 0.0f, 0, 0, true); /* split-k too */
        check_gemm(ctx, true, false, 9, 18, 0, 1.0f, 0.5f, 0, 1, false);    /* k = 0: C *= beta */
        check_gemm(ctx, true, true, 70, 20, 1100, 0.5f, 2.0f, 3, 1, false); /* split-k, TT */
    }
    use_backend(VD_GEMM_BACKEND_CLBLAST);
    check_gemm(ctx, true, false, 9, 18, 0, 1.0f, 0.5f, 0, 1, false);
    check_gemm(ctx, false, false, 17, 33, 40, 1.0f, 0.0f, 1, 2, true);
    setenv("VERDANT_GEMM", "own", 1);
    expect_true("VERDANT_GEMM=own resolves to a width",
                vd_gemm_backend_get(ctx) == VD_GEMM_BACKEND_OWN8 ||
                    vd_gemm_backend_get(ctx) == VD_GEMM_BACKEND_OWN16);
    check_gemm(ctx, false, false, 65, 70, 300, 1.0f, 0.0f, 0, 0, false);
    unsetenv("VERDANT_GEMM");

    check_bad_args(ctx);
    check_candidates(ctx);
    bool gpu = ctx->dev.variant == VD_VARIANT_GPU;
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    check_local_cap();
    /* The tuning records' logic is host code, and CLBlast's parameter sets take shapes over
     * 704^3 (its Xgemm, not ours): not under Oclgrind. */
    if (small) return check_summary();

    /* Tuning records in fresh cache directories of their own. */
    char dir[] = "/tmp/vd_test_gemm_XXXXXX", dir2[] = "/tmp/vd_test_gemm_XXXXXX";
    const char *cache = getenv("VERDANT_CACHE_DIR");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", cache ? cache : "");
    /* Each backend's tuning records in the profile whose default backend it is: the own
     * kernel's on CPU devices, CLBlast's (5 s of measuring on PoCL) on GPUs and in the
     * GPU-profile run (ctest's test_gemm_gpuprofile). Both force their backend, so running
     * each in both profiles would check the same host code twice. */
    if (mkdtemp(dir) && mkdtemp(dir2)) {
        if (!gpu) check_tuning_cache(dir);
        if (gpu) check_clblast_tuning(dir2);
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
        if (system(cmd) != 0) printf("# could not remove %s, %s\n", dir, dir2);
    } else {
        expect_true("mkdtemp", false);
    }
    if (cache) setenv("VERDANT_CACHE_DIR", saved, 1);
    return check_summary();
}

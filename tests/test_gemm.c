/* test_gemm.c - vd_gemm (src/ops/gemm.c) against ref_gemm (tests/ref/dense_ref.c), with
 * each backend forced in turn through VERDANT_GEMM (own8 and own16, the two widths of
 * cl/gemm.cl, and clblast):
 * odd sizes around the kernel's tile edges (6/8-row panels, 16/32-column slivers, 198-row and
 * 256-deep blocks), all four transpose cases, alpha/beta other than 1/0, non-zero offsets,
 * padded leading dimensions (the padding must stay untouched), the MLP's shapes, reduced
 * conv-like shapes (the split-k path included), beta = 0 over NaN, k = 0, and bad
 * arguments. Not here: speed (bench/gemm_bench.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/gemm.h"
#include "ref.h"

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
    char what[160];
    snprintf(what, sizeof what, "%s gemm %c%c m=%zu n=%zu k=%zu alpha=%g beta=%g pad=%zu off=%zu%s",
             backend_name(vd_gemm_backend_get(ctx)), ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha,
             beta, pad, off, nan_c ? " C=NaN" : "");
    test_buf ba, bb, bcb;
    memset(&ba, 0, sizeof ba), bb = bcb = ba;
    if (EXPECT_OK(ctx, test_buf_create(ctx, na, off, a, &ba)) &
        EXPECT_OK(ctx, test_buf_create(ctx, nb, off + 1, b, &bb)) &
        EXPECT_OK(ctx, test_buf_create(ctx, nc, off + 2, c, &bcb))) {
        vd_status st = vd_gemm(ctx, ta, tb, m, n, k, alpha, ba.mem, ba.off, lda, bb.mem, bb.off,
                               ldb, beta, bcb.mem, bcb.off, ldc);
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
    expect_true("default backend: own on CPU devices, CLBlast elsewhere",
                ctx->info.type == VD_DEVICE_CPU
                    ? def == VD_GEMM_BACKEND_OWN8 || def == VD_GEMM_BACKEND_OWN16
                    : def == VD_GEMM_BACKEND_CLBLAST);
    expect_guards("bad-argument calls write nothing", &t);
    test_buf_destroy(&t);
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
    for (size_t bi = 0; bi < sizeof backends / sizeof backends[0]; bi++) {
        use_backend(backends[bi]);
        for (size_t s = 0; s < sizeof odd / sizeof odd[0]; s++)
            for (int t = 0; t < 4; t++)
                check_gemm(ctx, t & 1, t & 2, odd[s][0], odd[s][1], odd[s][2], 0.75f, 0.5f, s % 3,
                           s % 2 ? 0 : 5 + s, false);
        for (size_t s = 0; s < sizeof mlp / sizeof mlp[0]; s++) {
            check_gemm(ctx, mlp[s].ta, mlp[s].tb, mlp[s].m, mlp[s].n, mlp[s].k, 1.0f, 0.0f, 0, 0,
                       false);
            check_gemm(ctx, mlp[s].ta, mlp[s].tb, mlp[s].m, mlp[s].n, mlp[s].k, -1.5f, 1.0f, 4, 3,
                       false);
        }
        for (size_t s = 0; s < sizeof conv / sizeof conv[0]; s++)
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
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

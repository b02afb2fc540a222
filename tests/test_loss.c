/* test_loss.c - cl/loss.cl against tests/ref/loss_ref.c: softmax cross-entropy (loss,
 * correctness, gradient; out-of-range labels, ties, huge logits, NULL dz/row_correct),
 * mean squared error, and the deterministic loss accumulation, with odd shapes and
 * non-zero offsets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/ops.h"
#include "ref.h"

#define ATOL 1e-5f
#define RTOL 1e-4f

static uint64_t rng = 3;

/* logsumexp sums cols exponentials in fp32 in order: the worst-case relative error of
 * that sum is cols * 2^-24, which becomes an absolute error of the loss (through log). */
static float lse_atol(size_t cols)
{
    return ATOL + (float)cols * 6e-8f;
}

/* Labels are int32; test buffers are float-typed, so labels travel as their bits. */
static void check_softmax_ce(vd_context *ctx, size_t rows, size_t cols, float zscale,
                             size_t off, bool with_dz, bool with_correct)
{
    char what[160];
    size_t nz = rows * cols;
    float *z = test_malloc(nz * sizeof(float)), *got = test_malloc(nz * sizeof(float));
    float *dz = test_malloc(nz * sizeof(float)), *lbits = test_malloc(rows * sizeof(float));
    float *loss = test_malloc(rows * sizeof(float)), *corr = test_malloc(rows * sizeof(float));
    int32_t *labels = test_malloc(rows * sizeof(int32_t));
    test_fill_uniform(&rng, z, nz, -zscale, zscale);
    for (size_t r = 0; r < rows; r++) {
        labels[r] = (int32_t)test_rand_int(&rng, 0, (int64_t)cols - 1);
        if (r % 7 == 3) /* make some rows correct */
            z[r * cols + labels[r]] = zscale * 1.5f;
        if (r % 11 == 5 && cols > 2) { /* a tie: the first maximum wins */
            z[r * cols + 0] = z[r * cols + cols - 1] = zscale * 2.0f;
            labels[r] = r % 2 ? 0 : (int32_t)cols - 1;
        }
        if (r % 13 == 12) /* out of range labels give NaN loss */
            labels[r] = r % 2 ? -1 : (int32_t)cols;
    }
    memcpy(lbits, labels, rows * sizeof(int32_t));
    const float scale = 1.0f / (float)rows;
    test_buf bz, bl, bdz, bloss, bcorr;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, nz, off, z, &bz)) &
              EXPECT_OK(ctx, test_buf_create(ctx, rows, off + 3, lbits, &bl)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nz, 2 * off, NULL, &bdz)) &
              EXPECT_OK(ctx, test_buf_create(ctx, rows, 0, NULL, &bloss)) &
              EXPECT_OK(ctx, test_buf_create(ctx, rows, 0, NULL, &bcorr));
    if (!ok)
        goto done;
    EXPECT_OK(ctx, vd_op_softmax_ce(ctx, rows, cols, bz.mem, bz.off, bl.mem, bl.off, scale,
                                    with_dz ? bdz.mem : NULL, bdz.off, bloss.mem,
                                    with_correct ? bcorr.mem : NULL));
    ref_softmax_ce(rows, cols, z, labels, scale, dz, loss, corr);
    snprintf(what, sizeof what, "softmax_ce loss rows=%zu cols=%zu |z|<=%g off=%zu", rows, cols,
             (double)zscale, off);
    EXPECT_OK(ctx, test_buf_read(&bloss, got));
    expect_close(what, got, loss, rows, lse_atol(cols), RTOL);
    expect_guards(what, &bloss);
    if (with_correct) {
        snprintf(what, sizeof what, "softmax_ce correct rows=%zu cols=%zu", rows, cols);
        EXPECT_OK(ctx, test_buf_read(&bcorr, got));
        expect_equal_bytes(what, got, corr, rows * sizeof(float));
        expect_guards(what, &bcorr);
    } else {
        expect_guards("softmax_ce row_correct NULL: nothing written", &bcorr);
    }
    if (with_dz) {
        /* softmax entries are exp(z - m) / s: a few ulp each, scaled by 1/rows. */
        snprintf(what, sizeof what, "softmax_ce dz rows=%zu cols=%zu", rows, cols);
        EXPECT_OK(ctx, test_buf_read(&bdz, got));
        expect_close(what, got, dz, nz, ATOL * scale, RTOL);
        expect_guards(what, &bdz);
    } else {
        expect_guards("softmax_ce dz NULL: nothing written", &bdz);
    }
done:
    test_buf_destroy(&bz), test_buf_destroy(&bl), test_buf_destroy(&bdz);
    test_buf_destroy(&bloss), test_buf_destroy(&bcorr);
    free(z), free(got), free(dz), free(lbits), free(loss), free(corr), free(labels);
}

static void check_mse(vd_context *ctx, size_t rows, size_t cols, size_t off, bool with_dp)
{
    char what[128];
    size_t n = rows * cols;
    float *p = test_malloc(n * sizeof(float)), *t = test_malloc(n * sizeof(float));
    float *dp = test_malloc(n * sizeof(float)), *got = test_malloc(n * sizeof(float));
    float *loss = test_malloc(rows * sizeof(float));
    test_fill_uniform(&rng, p, n, -2.0f, 2.0f);
    test_fill_uniform(&rng, t, n, -2.0f, 2.0f);
    const float scale = 0.5f;
    test_buf bp, bt, bdp, bloss;
    if (EXPECT_OK(ctx, test_buf_create(ctx, n, off, p, &bp)) &
        EXPECT_OK(ctx, test_buf_create(ctx, n, off + 5, t, &bt)) &
        EXPECT_OK(ctx, test_buf_create(ctx, n, off + 1, NULL, &bdp)) &
        EXPECT_OK(ctx, test_buf_create(ctx, rows, 0, NULL, &bloss))) {
        EXPECT_OK(ctx, vd_op_mse(ctx, rows, cols, bp.mem, bp.off, bt.mem, bt.off, scale,
                                 with_dp ? bdp.mem : NULL, bdp.off, bloss.mem));
        ref_mse(rows, cols, p, t, scale, dp, loss);
        snprintf(what, sizeof what, "mse loss rows=%zu cols=%zu off=%zu", rows, cols, off);
        EXPECT_OK(ctx, test_buf_read(&bloss, got));
        expect_close(what, got, loss, rows, ATOL, RTOL);
        expect_guards(what, &bloss);
        snprintf(what, sizeof what, "mse dp rows=%zu cols=%zu off=%zu%s", rows, cols, off,
                 with_dp ? "" : " (NULL: nothing written)");
        if (with_dp) {
            EXPECT_OK(ctx, test_buf_read(&bdp, got));
            expect_close(what, got, dp, n, ATOL, RTOL);
        }
        expect_guards(what, &bdp);
    }
    test_buf_destroy(&bp), test_buf_destroy(&bt), test_buf_destroy(&bdp);
    test_buf_destroy(&bloss);
    free(p), free(t), free(dp), free(got), free(loss);
}

/* acc starts non-zero and is accumulated into twice. */
static void check_accumulate(vd_context *ctx, size_t rows, bool with_correct)
{
    float *loss = test_malloc(rows * sizeof(float)), *corr = test_malloc(rows * sizeof(float));
    float acc[2] = {2.5f, 3.0f}, want[2] = {2.5f, 3.0f}, got[2];
    test_fill_uniform(&rng, loss, rows, 0.0f, 3.0f);
    for (size_t r = 0; r < rows; r++)
        corr[r] = (float)(test_rand_u64(&rng) & 1);
    test_buf bl, bc, ba;
    if (EXPECT_OK(ctx, test_buf_create(ctx, rows, 0, loss, &bl)) &
        EXPECT_OK(ctx, test_buf_create(ctx, rows, 0, corr, &bc)) &
        EXPECT_OK(ctx, test_buf_create(ctx, 2, 0, acc, &ba))) {
        for (int k = 0; k < 2; k++) {
            EXPECT_OK(ctx, vd_op_loss_accumulate(ctx, rows, bl.mem, with_correct ? bc.mem : NULL,
                                                 ba.mem));
            ref_loss_accumulate(rows, loss, with_correct ? corr : NULL, want);
        }
        EXPECT_OK(ctx, test_buf_read(&ba, got));
        char what[96];
        /* fp32 running sum of rows positive terms: relative error <= rows * 2^-24. */
        snprintf(what, sizeof what, "loss_accumulate rows=%zu correct=%d", rows, with_correct);
        expect_close(what, got, want, 2, ATOL, RTOL + (float)rows * 6e-8f);
        expect_guards(what, &ba);
    }
    test_buf_destroy(&bl), test_buf_destroy(&bc), test_buf_destroy(&ba);
    free(loss), free(corr);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 16, 0, NULL, &t)))
        return;
    cl_mem m = t.mem;
    expect_status("softmax_ce NULL z", ctx,
                  vd_op_softmax_ce(ctx, 2, 3, NULL, 0, m, 0, 1.0f, m, 0, m, m),
                  VD_ERR_INVALID_ARG);
    expect_status("softmax_ce NULL labels", ctx,
                  vd_op_softmax_ce(ctx, 2, 3, m, 0, NULL, 0, 1.0f, m, 0, m, m),
                  VD_ERR_INVALID_ARG);
    expect_status("softmax_ce NULL row_loss", ctx,
                  vd_op_softmax_ce(ctx, 2, 3, m, 0, m, 0, 1.0f, m, 0, NULL, m),
                  VD_ERR_INVALID_ARG);
    expect_status("softmax_ce cols=0", ctx,
                  vd_op_softmax_ce(ctx, 2, 0, m, 0, m, 0, 1.0f, m, 0, m, m), VD_ERR_INVALID_ARG);
    expect_status("softmax_ce rows=0", ctx,
                  vd_op_softmax_ce(ctx, 0, 3, m, 0, m, 0, 1.0f, m, 0, m, m), VD_OK);
    expect_status("softmax_ce NULL ctx", NULL,
                  vd_op_softmax_ce(NULL, 2, 3, m, 0, m, 0, 1.0f, m, 0, m, m), VD_ERR_INVALID_ARG);
    expect_status("mse NULL p", ctx, vd_op_mse(ctx, 2, 3, NULL, 0, m, 0, 1.0f, m, 0, m),
                  VD_ERR_INVALID_ARG);
    expect_status("mse NULL t", ctx, vd_op_mse(ctx, 2, 3, m, 0, NULL, 0, 1.0f, m, 0, m),
                  VD_ERR_INVALID_ARG);
    expect_status("mse NULL row_loss", ctx, vd_op_mse(ctx, 2, 3, m, 0, m, 0, 1.0f, m, 0, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("mse cols=0", ctx, vd_op_mse(ctx, 2, 0, m, 0, m, 0, 1.0f, m, 0, m),
                  VD_ERR_INVALID_ARG);
    expect_status("loss_accumulate NULL acc", ctx, vd_op_loss_accumulate(ctx, 2, m, m, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("loss_accumulate NULL row_loss", ctx,
                  vd_op_loss_accumulate(ctx, 2, NULL, m, m), VD_ERR_INVALID_ARG);
    expect_status("loss_accumulate rows=0", ctx, vd_op_loss_accumulate(ctx, 0, m, m, m), VD_OK);
    expect_guards("refused loss calls write nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    static const size_t shapes[][2] = {{1, 1}, {3, 17}, {17, 3}, {64, 10}, {129, 129}, {5, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1], off = s % 2 ? 0 : 7 + s;
        check_softmax_ce(ctx, rows, cols, 5.0f, off, true, true);
        check_mse(ctx, rows, cols, off, true);
    }
    /* Huge logits: without the max subtraction exp overflows to inf. */
    check_softmax_ce(ctx, 33, 10, 1000.0f, 3, true, true);
    /* Evaluation: no gradient, no correctness output. */
    check_softmax_ce(ctx, 40, 7, 5.0f, 1, false, false);
    check_mse(ctx, 9, 4, 2, false);
    for (size_t rows = 1; rows <= 1000; rows *= 10) {
        check_accumulate(ctx, rows, true);
        check_accumulate(ctx, rows + 2, false);
    }
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

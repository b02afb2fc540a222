/* test_dropout.c - cl/dropout.cl against tests/ref/dropout_ref.c: the device mask must
 * equal the host Philox mask bit for bit (for seeds and streams using all 64 bits), the
 * kept values and gradients must match, the keep rate must be near 1 - p, p = 0 must be
 * the identity, and bad probabilities must be refused. The mask itself (vd_op_dropout_mask,
 * and the layer's output=mask: ONNX Dropout's second output) is the same mask as 0/1
 * floats, all ones at inference, with a zero gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ops/ops.h"
#include "ref.h"

/* One fp32 multiply by the same float scale as the reference: exact up to rounding. */
#define ATOL 1e-6f
#define RTOL 1e-6f

static uint64_t rng = 99;

static void check_dropout(vd_context *ctx, size_t n, float p, uint64_t seed, uint64_t stream,
                          size_t off)
{
    char what[160];
    size_t bytes = n * sizeof(float);
    float *x = test_malloc(bytes), *dy = test_malloc(bytes), *dx0 = test_malloc(bytes);
    float *got = test_malloc(bytes), *want = test_malloc(bytes), *nan = test_malloc(bytes);
    uint8_t *mask_dev = test_malloc(n), *mask_ref = test_malloc(n);
    /* Inputs bounded away from 0, so y != 0 exactly when the element is kept. */
    for (size_t i = 0; i < n; i++) {
        x[i] = test_rand_uniform(&rng, 0.5f, 1.5f) * (i % 2 ? -1.0f : 1.0f);
        dy[i] = test_rand_uniform(&rng, 0.5f, 1.5f) * (i % 3 ? 1.0f : -1.0f);
        dx0[i] = test_rand_uniform(&rng, -1.0f, 1.0f);
        nan[i] = NAN;
    }
    test_buf bx, by, bdy, bdx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, n, off, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 2, NULL, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, 3 * off + 1, dy, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 1, nan, &bdx));
    if (!ok)
        goto done;

    snprintf(what, sizeof what, "dropout_fwd n=%zu p=%g seed=%#llx stream=%#llx off=%zu", n,
             (double)p, (unsigned long long)seed, (unsigned long long)stream, off);
    EXPECT_OK(ctx, vd_op_dropout_fwd(ctx, n, p, seed, stream, bx.mem, bx.off, by.mem, by.off));
    EXPECT_OK(ctx, test_buf_read(&by, got));
    ref_dropout_mask(n, p, seed, stream, mask_ref);
    for (size_t i = 0; i < n; i++)
        mask_dev[i] = got[i] != 0.0f;
    expect_equal_bytes(what, mask_dev, mask_ref, n);
    ref_dropout_fwd(n, p, seed, stream, x, want);
    expect_close(what, got, want, n, ATOL, RTOL);
    expect_guards(what, &by);

    snprintf(what, sizeof what, "dropout_mask n=%zu p=%g off=%zu", n, (double)p, off);
    EXPECT_OK(ctx, vd_op_dropout_mask(ctx, n, p, seed, stream, by.mem, by.off));
    EXPECT_OK(ctx, test_buf_read(&by, got));
    for (size_t i = 0; i < n; i++) want[i] = mask_ref[i] ? 1.0f : 0.0f;
    expect_equal_bytes(what, got, want, bytes);
    expect_guards(what, &by);

    /* Backward redraws the same mask: beta = 0 over NaN, then beta = 1 accumulating. */
    snprintf(what, sizeof what, "dropout_bwd beta=0 n=%zu p=%g off=%zu", n, (double)p, off);
    EXPECT_OK(ctx, vd_op_dropout_bwd(ctx, n, p, seed, stream, bdy.mem, bdy.off, 0.0f, bdx.mem,
                                     bdx.off));
    EXPECT_OK(ctx, test_buf_read(&bdx, got));
    for (size_t i = 0; i < n; i++)
        mask_dev[i] = got[i] != 0.0f;
    expect_equal_bytes(what, mask_dev, mask_ref, n);
    ref_dropout_bwd(n, p, seed, stream, dy, 0.0f, want);
    expect_close(what, got, want, n, ATOL, RTOL);
    expect_guards(what, &bdx);

    snprintf(what, sizeof what, "dropout_bwd beta=1 n=%zu p=%g off=%zu", n, (double)p, off);
    EXPECT_OK(ctx, test_buf_write(&bdx, dx0));
    EXPECT_OK(ctx, vd_op_dropout_bwd(ctx, n, p, seed, stream, bdy.mem, bdy.off, 1.0f, bdx.mem,
                                     bdx.off));
    EXPECT_OK(ctx, test_buf_read(&bdx, got));
    memcpy(want, dx0, bytes);
    ref_dropout_bwd(n, p, seed, stream, dy, 1.0f, want);
    expect_close(what, got, want, n, ATOL, RTOL);

done:
    test_buf_destroy(&bx), test_buf_destroy(&by), test_buf_destroy(&bdy), test_buf_destroy(&bdx);
    free(x), free(dy), free(dx0), free(got), free(want), free(nan), free(mask_dev), free(mask_ref);
}

/* Over many elements the kept fraction is Binomial(n, 1-p) / n: accept 6 standard
 * deviations (a false alarm about once in 10^9 runs; the seed is fixed anyway). Different
 * streams must give different masks. Under Oclgrind (test_small()) 2^14 elements instead
 * of 2^18: the same kernel and the same 6-sigma bound, which scales with n (2^18 took
 * most of the test's 160 s there). */
static void check_statistics(vd_context *ctx)
{
    const size_t n = test_small() ? (size_t)1 << 14 : (size_t)1 << 18;
    static const float ps[] = {0.1f, 0.5f, 0.9f};
    float *x = test_malloc(n * sizeof(float)), *y = test_malloc(n * sizeof(float));
    float *y2 = test_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f;
    test_buf bx, by;
    if (EXPECT_OK(ctx, test_buf_create(ctx, n, 0, x, &bx)) &
        EXPECT_OK(ctx, test_buf_create(ctx, n, 0, NULL, &by))) {
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            float p = ps[k];
            EXPECT_OK(ctx, vd_op_dropout_fwd(ctx, n, p, 42, 7, bx.mem, 0, by.mem, 0));
            EXPECT_OK(ctx, test_buf_read(&by, y));
            EXPECT_OK(ctx, vd_op_dropout_fwd(ctx, n, p, 42, 8, bx.mem, 0, by.mem, 0));
            EXPECT_OK(ctx, test_buf_read(&by, y2));
            size_t kept = 0, same = 0;
            for (size_t i = 0; i < n; i++) {
                kept += y[i] != 0.0f;
                same += (y[i] != 0.0f) == (y2[i] != 0.0f);
            }
            double rate = (double)kept / n, sd = sqrt(p * (1.0 - p) / n);
            char what[128];
            snprintf(what, sizeof what, "dropout p=%g keep rate %.5f near %.5f", (double)p, rate,
                     1.0 - p);
            expect_true(what, fabs(rate - (1.0 - p)) <= 6.0 * sd);
            /* Independent masks agree on a fraction p^2 + (1-p)^2 of the elements. */
            double agree = (double)same / n, want = p * p + (1.0 - p) * (1.0 - p);
            snprintf(what, sizeof what, "dropout p=%g streams 7 and 8 independent (agree %.4f)",
                     (double)p, agree);
            expect_true(what, fabs(agree - want) <= 6.0 * sqrt(want * (1.0 - want) / n));
        }
    }
    test_buf_destroy(&bx), test_buf_destroy(&by);
    free(x), free(y), free(y2);
}

/* p = 0 keeps everything with scale exactly 1: y is x bit for bit. */
static void check_identity(vd_context *ctx)
{
    const size_t n = 1001;
    float *x = test_malloc(n * sizeof(float)), *y = test_malloc(n * sizeof(float));
    test_fill_uniform(&rng, x, n, -3.0f, 3.0f);
    test_buf bx, by;
    if (EXPECT_OK(ctx, test_buf_create(ctx, n, 4, x, &bx)) &
        EXPECT_OK(ctx, test_buf_create(ctx, n, 9, NULL, &by))) {
        EXPECT_OK(ctx, vd_op_dropout_fwd(ctx, n, 0.0f, 1, 2, bx.mem, bx.off, by.mem, by.off));
        EXPECT_OK(ctx, test_buf_read(&by, y));
        expect_equal_bytes("dropout p=0 is the identity", y, x, n * sizeof(float));
        EXPECT_OK(ctx, vd_op_dropout_bwd(ctx, n, 0.0f, 1, 2, bx.mem, bx.off, 0.0f, by.mem,
                                         by.off));
        EXPECT_OK(ctx, test_buf_read(&by, y));
        expect_equal_bytes("dropout_bwd p=0 is the identity", y, x, n * sizeof(float));
    }
    test_buf_destroy(&bx), test_buf_destroy(&by);
    free(x), free(y);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 8, 0, NULL, &t)))
        return;
    cl_mem m = t.mem;
    static const float bad_p[] = {1.0f, 1.5f, -0.1f, NAN, INFINITY};
    for (size_t k = 0; k < sizeof bad_p / sizeof bad_p[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "dropout_fwd p=%g refused", (double)bad_p[k]);
        expect_status(what, ctx, vd_op_dropout_fwd(ctx, 8, bad_p[k], 1, 1, m, 0, m, 0),
                      VD_ERR_INVALID_ARG);
        snprintf(what, sizeof what, "dropout_bwd p=%g refused", (double)bad_p[k]);
        expect_status(what, ctx, vd_op_dropout_bwd(ctx, 8, bad_p[k], 1, 1, m, 0, 0.0f, m, 0),
                      VD_ERR_INVALID_ARG);
    }
    expect_status("dropout_fwd NULL x", ctx, vd_op_dropout_fwd(ctx, 8, 0.5f, 1, 1, NULL, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("dropout_fwd NULL y", ctx, vd_op_dropout_fwd(ctx, 8, 0.5f, 1, 1, m, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("dropout_bwd NULL dy", ctx,
                  vd_op_dropout_bwd(ctx, 8, 0.5f, 1, 1, NULL, 0, 0.0f, m, 0), VD_ERR_INVALID_ARG);
    expect_status("dropout_bwd NULL dx", ctx,
                  vd_op_dropout_bwd(ctx, 8, 0.5f, 1, 1, m, 0, 0.0f, NULL, 0), VD_ERR_INVALID_ARG);
    expect_status("dropout_fwd NULL ctx", NULL,
                  vd_op_dropout_fwd(NULL, 8, 0.5f, 1, 1, m, 0, m, 0), VD_ERR_INVALID_ARG);
    expect_status("dropout_fwd n=0", ctx, vd_op_dropout_fwd(ctx, 0, 0.5f, 1, 1, m, 0, m, 0), VD_OK);
    expect_guards("refused dropout calls write nothing", &t);
    test_buf_destroy(&t);
}

/* The layer with output=mask: training draws the layer's mask (rig: seed 1, step 0, index
 * 0, so stream 0), inference gives ones, and the gradient is zero (beta = 0 over NaN) or
 * leaves dx alone (beta = 1). */
static void check_mask_layer(vd_context *ctx, float p)
{
    char what[160], opts[64];
    snprintf(opts, sizeof opts, "p=%g output=mask", (double)p);
    rig r;
    if (!rig_open(&r, ctx, "dropout", opts, rig_shape3(3, 5, 7), 2)) {
        printf("FAIL dropout %s: setup\n", opts);
        rig_close(&r);
        return;
    }
    size_t n = r.nin;
    float *x = rig_rand_array(&rng, n, -1, 1), *dy = rig_rand_array(&rng, n, -1, 1);
    float *y = test_malloc(n * 4), *want = test_malloc(n * 4), *dx = test_malloc(n * 4);
    float *g = test_malloc((r.arena ? r.arena : 1) * 4);
    uint8_t *keep = test_malloc(n);
    ref_dropout_mask(n, p, 1, 0, keep);
    for (size_t i = 0; i < n; i++) want[i] = keep[i] ? 1.0f : 0.0f;
    snprintf(what, sizeof what, "dropout %s: training forward is the mask", opts);
    if (rig_forward(&r, true, x, y)) expect_equal_bytes(what, y, want, n * 4);
    for (size_t i = 0; i < n; i++) want[i] = 1.0f;
    snprintf(what, sizeof what, "dropout %s: inference forward is all ones", opts);
    if (rig_forward(&r, false, x, y)) expect_equal_bytes(what, y, want, n * 4);
    rig_nan_dx(&r, dx);
    for (size_t i = 0; i < n; i++) want[i] = 0.0f;
    snprintf(what, sizeof what, "dropout %s: backward beta=0 writes zeros", opts);
    if (rig_backward(&r, true, dy, 0.0f, dx, g)) expect_equal_bytes(what, dx, want, n * 4);
    snprintf(what, sizeof what, "dropout %s: backward beta=1 leaves dx", opts);
    if (rig_backward(&r, true, dy, 1.0f, dx, g)) expect_equal_bytes(what, dx, want, n * 4);
    snprintf(what, sizeof what, "dropout %s", opts);
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(g), free(keep);
    rig_close(&r);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    static const size_t sizes[] = {1, 3, 17, 129, 4099};
    static const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++)
            check_dropout(ctx, sizes[k], ps[j], 0x0123456789abcdefull + k,
                          (uint64_t)j << 33 | (k + 5), k % 2 ? 0 : 3 + k + j);
    check_dropout(ctx, 1000, 0.3f, 0, 0, 13);
    check_statistics(ctx);
    check_identity(ctx);
    check_mask_layer(ctx, 0.5f);
    check_mask_layer(ctx, 0.0f);
    {
        vd_layer *l = NULL;
        vd_kv kv[] = {{"output", "keep", 0}};
        expect_status("dropout output=keep refused", ctx,
                      vd_layer_create(ctx, "dropout", "d", kv, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    }
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_dense.c - the dense layer's device math against tests/ref/dense_ref.c:
 * vd_blas_sgemm (all four transpose cases, padded leading dimensions, offsets),
 * cl/dense.cl (bias_fwd, bias_bwd), and the dense forward/backward they make together:
 *     y = x W^T + b,  dx = beta dx + dy W,  dW += dy^T x,  db += colsum(dy)
 * with x: (N, in), W: (out, in), b: (out), y, dy: (N, out). The layer with per_row=1 is
 * the same maths on N * rows rows of the last sample axis (checked through the layer rig
 * against ref_dense_fwd/bwd of those rows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ops/ops.h"
#include "ref.h"

/* Dot products of length k in fp32 with inputs in [-1, 1]: the rounding error grows
 * like sqrt(k) * 2^-24 * k in the worst case; 1e-5 absolute plus 1e-4 relative covers
 * k <= ~200 used here with margin (the bound is about 3e-6 at k = 129). */
#define ATOL 1e-5f
#define RTOL 1e-4f

static uint64_t rng = 5;

static float *rand_array(size_t n)
{
    float *a = test_malloc(n * sizeof(float) + 1);
    test_fill_uniform(&rng, a, n, -1.0f, 1.0f);
    return a;
}

/* op(A): (m, k), op(B): (k, n), C: (m, n), each stored with a padded leading dimension
 * at a non-zero offset. */
static void check_gemm(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k)
{
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    size_t lda = ac + 3, ldb = bc + 1, ldc = n + 2;
    float *a = rand_array(ar * lda), *b = rand_array(br * ldb), *c = rand_array(m * ldc);
    float *want = test_malloc(m * ldc * sizeof(float)), *got = test_malloc(m * ldc * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "sgemm ta=%d tb=%d m=%zu n=%zu k=%zu", ta, tb, m, n, k);
    test_buf ba, bb, bc_;
    if (EXPECT_OK(ctx, test_buf_create(ctx, ar * lda, 7, a, &ba)) &
        EXPECT_OK(ctx, test_buf_create(ctx, br * ldb, 1, b, &bb)) &
        EXPECT_OK(ctx, test_buf_create(ctx, m * ldc, 30, c, &bc_))) {
        EXPECT_OK(ctx, vd_blas_sgemm(ctx, ta, tb, m, n, k, 0.75f, ba.mem, ba.off, lda, bb.mem,
                                     bb.off, ldb, 0.5f, bc_.mem, bc_.off, ldc));
        EXPECT_OK(ctx, test_buf_read(&bc_, got));
        memcpy(want, c, m * ldc * sizeof(float));
        ref_gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, want, ldc);
        expect_close(what, got, want, m * ldc, ATOL, RTOL); /* padding must be kept too */
        expect_guards(what, &bc_);
    }
    test_buf_destroy(&ba), test_buf_destroy(&bb), test_buf_destroy(&bc_);
    free(a), free(b), free(c), free(want), free(got);
}

static void check_bias(vd_context *ctx, size_t rows, size_t cols)
{
    float *b = rand_array(cols), *y = rand_array(rows * cols), *db = rand_array(cols);
    float *want = test_malloc(rows * cols * sizeof(float) + 1);
    float *got = test_malloc(rows * cols * sizeof(float) + 1);
    char what[96];
    test_buf bb, by, bdb;
    if (EXPECT_OK(ctx, test_buf_create(ctx, cols, 3, b, &bb)) &
        EXPECT_OK(ctx, test_buf_create(ctx, rows * cols, 10, y, &by)) &
        EXPECT_OK(ctx, test_buf_create(ctx, cols, 1, db, &bdb))) {
        snprintf(what, sizeof what, "bias_fwd rows=%zu cols=%zu", rows, cols);
        EXPECT_OK(ctx, vd_op_bias_fwd(ctx, rows, cols, bb.mem, bb.off, by.mem, by.off));
        EXPECT_OK(ctx, test_buf_read(&by, got));
        memcpy(want, y, rows * cols * sizeof(float));
        ref_bias_fwd(rows, cols, b, want);
        expect_close(what, got, want, rows * cols, ATOL, RTOL);
        expect_guards(what, &by);

        /* db accumulates: start from random values. */
        snprintf(what, sizeof what, "bias_bwd rows=%zu cols=%zu", rows, cols);
        EXPECT_OK(ctx, test_buf_write(&by, y));
        EXPECT_OK(ctx, vd_op_bias_bwd(ctx, rows, cols, by.mem, by.off, bdb.mem, bdb.off));
        EXPECT_OK(ctx, test_buf_read(&bdb, got));
        memcpy(want, db, cols * sizeof(float));
        ref_bias_bwd(rows, cols, y, want);
        expect_close(what, got, want, cols, ATOL, RTOL);
        expect_guards(what, &bdb);
    }
    test_buf_destroy(&bb), test_buf_destroy(&by), test_buf_destroy(&bdb);
    free(b), free(y), free(db), free(want), free(got);
}

/* The dense layer as the layer code composes it, forward then backward twice (the
 * second time with beta = 1 for dx, and dW, db accumulating). */
static void check_dense(vd_context *ctx, size_t N, size_t in, size_t out, size_t off)
{
    float *x = rand_array(N * in), *W = rand_array(out * in), *b = rand_array(out);
    float *dy = rand_array(N * out);
    size_t big = (N * in > out * in ? N * in : out * in) + N * out;
    float *want = test_malloc(big * sizeof(float)), *got = test_malloc(big * sizeof(float));
    float *wdx = test_malloc(N * in * sizeof(float)), *wdW = test_malloc(out * in * sizeof(float));
    float *wdb = test_malloc(out * sizeof(float));
    char what[128];
    test_buf bx, bW, bb, by, bdy, bdx, bdW, bdb;
    memset(&bx, 0, sizeof bx), bW = bb = by = bdy = bdx = bdW = bdb = bx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, N * in, off, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, out * in, off + 1, W, &bW)) &
              EXPECT_OK(ctx, test_buf_create(ctx, out, off + 2, b, &bb)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N * out, off + 3, NULL, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N * out, off + 4, dy, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, N * in, off + 5, NULL, &bdx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, out * in, off + 6, NULL, &bdW)) &
              EXPECT_OK(ctx, test_buf_create(ctx, out, off + 7, NULL, &bdb));
    if (!ok)
        goto done;

    snprintf(what, sizeof what, "dense fwd N=%zu in=%zu out=%zu off=%zu", N, in, out, off);
    EXPECT_OK(ctx, vd_blas_sgemm(ctx, false, true, N, out, in, 1.0f, bx.mem, bx.off, in, bW.mem,
                                 bW.off, in, 0.0f, by.mem, by.off, out));
    EXPECT_OK(ctx, vd_op_bias_fwd(ctx, N, out, bb.mem, bb.off, by.mem, by.off));
    EXPECT_OK(ctx, test_buf_read(&by, got));
    ref_dense_fwd(N, in, out, x, W, b, want);
    expect_close(what, got, want, N * out, ATOL, RTOL);
    expect_guards(what, &by);

    EXPECT_OK(ctx, vd_op_fill(ctx, out * in, 0.0f, bdW.mem, bdW.off));
    EXPECT_OK(ctx, vd_op_fill(ctx, out, 0.0f, bdb.mem, bdb.off));
    memset(wdW, 0, out * in * sizeof(float));
    memset(wdb, 0, out * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f; /* pass 0 overwrites dx */
        EXPECT_OK(ctx, vd_blas_sgemm(ctx, false, false, N, in, out, 1.0f, bdy.mem, bdy.off, out,
                                     bW.mem, bW.off, in, beta, bdx.mem, bdx.off, in));
        EXPECT_OK(ctx, vd_blas_sgemm(ctx, true, false, out, in, N, 1.0f, bdy.mem, bdy.off, out,
                                     bx.mem, bx.off, in, 1.0f, bdW.mem, bdW.off, in));
        EXPECT_OK(ctx, vd_op_bias_bwd(ctx, N, out, bdy.mem, bdy.off, bdb.mem, bdb.off));
        ref_dense_bwd(N, in, out, x, W, dy, beta, wdx, wdW, wdb);

        snprintf(what, sizeof what, "dense bwd dx pass %d N=%zu in=%zu out=%zu", pass, N, in, out);
        EXPECT_OK(ctx, test_buf_read(&bdx, got));
        expect_close(what, got, wdx, N * in, ATOL, RTOL);
        expect_guards(what, &bdx);
        snprintf(what, sizeof what, "dense bwd dW pass %d N=%zu in=%zu out=%zu", pass, N, in, out);
        EXPECT_OK(ctx, test_buf_read(&bdW, got));
        expect_close(what, got, wdW, out * in, ATOL, RTOL);
        expect_guards(what, &bdW);
        snprintf(what, sizeof what, "dense bwd db pass %d N=%zu in=%zu out=%zu", pass, N, in, out);
        EXPECT_OK(ctx, test_buf_read(&bdb, got));
        expect_close(what, got, wdb, out, ATOL, RTOL);
        expect_guards(what, &bdb);
    }
done:
    test_buf_destroy(&bx), test_buf_destroy(&bW), test_buf_destroy(&bb), test_buf_destroy(&by);
    test_buf_destroy(&bdy), test_buf_destroy(&bdx), test_buf_destroy(&bdW);
    test_buf_destroy(&bdb);
    free(x), free(W), free(b), free(dy), free(want), free(got), free(wdx), free(wdW), free(wdb);
}

/* dense per_row=1 on a sample (lead..., K): forward, then backward twice (dx overwritten,
 * then accumulated; dW, db accumulating), against the reference on N * rows rows. */
static void check_dense_per_row(vd_context *ctx, vd_shape in, size_t N, size_t out, bool bias)
{
    char opts[64], sh[64], what[200], w2[260];
    snprintf(opts, sizeof opts, "units=%zu per_row=1 bias=%d", out, bias);
    vd_shape_format(&in, sh, sizeof sh);
    snprintf(what, sizeof what, "dense %s on %s N=%zu", opts, sh, N);
    rig r;
    if (!rig_open(&r, ctx, "dense", opts, in, N)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    size_t K = (size_t)in.d[in.ndim - 1], rows = N * vd_shape_numel(&in) / K;
    bool shape_ok = r.l->out.ndim == in.ndim && r.l->out.d[in.ndim - 1] == (int64_t)out;
    for (int32_t k = 0; k + 1 < in.ndim; k++) shape_ok = shape_ok && r.l->out.d[k] == in.d[k];
    snprintf(w2, sizeof w2, "%s: output shape", what);
    expect_true(w2, shape_ok);
    snprintf(w2, sizeof w2, "%s: parameters (units, K) and (units)", what);
    expect_true(w2, r.l->params[0].numel == out * K && (!bias || r.l->params[1].numel == out));
    float *W = rig_param(&r, 0), *b = bias ? rig_param(&r, 1) : NULL;
    test_fill_uniform(&rng, W, out * K, -1.0f, 1.0f);
    if (b) test_fill_uniform(&rng, b, out, -1.0f, 1.0f);
    float *x = rand_array(rows * K), *dy = rand_array(rows * out);
    float *y = test_malloc(rows * out * 4), *want = test_malloc(rows * out * 4);
    float *dx = test_malloc(rows * K * 4), *wdx = test_malloc(rows * K * 4);
    float *g = test_malloc(r.arena * 4 + 4), *wdW = test_malloc(out * K * 4);
    float *wdb = test_malloc(out * 4);
    memset(wdW, 0, out * K * 4), memset(wdb, 0, out * 4);
    if (rig_forward(&r, true, x, y)) {
        ref_dense_fwd(rows, K, out, x, W, b, want);
        snprintf(w2, sizeof w2, "%s: forward", what);
        expect_close(w2, y, want, rows * out, ATOL, RTOL);
    }
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, g)) break;
        ref_dense_bwd(rows, K, out, x, W, dy, beta, wdx, wdW, b ? wdb : NULL);
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        expect_close(w2, dx, wdx, rows * K, ATOL, RTOL);
        snprintf(w2, sizeof w2, "%s: dW pass %d", what, pass);
        expect_close(w2, g + r.l->params[0].offset, wdW, out * K, ATOL, RTOL);
        if (b) {
            snprintf(w2, sizeof w2, "%s: db pass %d", what, pass);
            expect_close(w2, g + r.l->params[1].offset, wdb, out, ATOL, RTOL);
        }
    }
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(g), free(wdW), free(wdb);
    rig_close(&r);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 12, 0, NULL, &t)))
        return;
    cl_mem m = t.mem;
    expect_status("bias_fwd NULL b", ctx, vd_op_bias_fwd(ctx, 3, 4, NULL, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("bias_fwd NULL y", ctx, vd_op_bias_fwd(ctx, 3, 4, m, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("bias_bwd NULL dy", ctx, vd_op_bias_bwd(ctx, 3, 4, NULL, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("bias_bwd NULL db", ctx, vd_op_bias_bwd(ctx, 3, 4, m, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("bias_fwd NULL ctx", NULL, vd_op_bias_fwd(NULL, 3, 4, m, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("bias_fwd rows=0", ctx, vd_op_bias_fwd(ctx, 0, 4, m, 0, m, 0), VD_OK);
    expect_status("bias_bwd cols=0", ctx, vd_op_bias_bwd(ctx, 3, 0, m, 0, m, 0), VD_OK);
    expect_guards("zero-size bias ops write nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    /* (m or N, n or in, k or out). Under Oclgrind (test_small) the 64 rows of the fourth
     * shape become 16: still two panels of 8 and a partial one of 6, one row tile per core,
     * a k of 129 (a partial 16-wide k step) in the dense layer's products; the 64 rows
     * cost 21 of the test's 41 s there. */
    static const size_t shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 3, 129}, {64, 129, 10},
                                       {5, 200, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t sh[3] = {shapes[s][0], shapes[s][1], shapes[s][2]};
        if (test_small() && sh[0] == 64) sh[0] = 16;
        for (int t = 0; t < 4; t++)
            check_gemm(ctx, t & 1, t & 2, sh[0], sh[1], sh[2]);
        check_bias(ctx, sh[0], sh[1]);
        check_dense(ctx, sh[0], sh[1], sh[2], s % 2 ? 0 : 9 + s);
    }
    check_dense_per_row(ctx, (vd_shape){2, {3, 6}}, 1, 4, true);
    check_dense_per_row(ctx, (vd_shape){2, {5, 17}}, 3, 9, false);
    check_dense_per_row(ctx, (vd_shape){3, {2, 3, 7}}, 2, 5, true);
    check_dense_per_row(ctx, (vd_shape){2, {1, 129}}, 4, 3, true);
    expect_reshape_fails(ctx, "dense", "units=3 per_row=1", (vd_shape){1, {8}},
                         "dense per_row=1 on a rank-1 sample");
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_norm.c - batchnorm, layernorm and softmax on the device against
 * tests/ref/norm_ref.c, through the layers' vtable on buffers at odd offsets with guard
 * zones: forward, backward with beta = 0 on a dx full of NaN then beta = 1 (gamma/beta
 * gradients accumulating), batch norm in training mode over two batches and then in
 * evaluation mode (which shows the running statistics moved as PyTorch moves them), for
 * (C) inputs after a dense layer and (C, H, W) inputs, with and without the fused ReLU
 * (relu=1: the reference is batch norm, then ReLU; its backward masks dy where y <= 0),
 * over shapes that take every path of the vectorised reductions (runs shorter than 8, a
 * vector body and a tail, planes split across lanes); the running statistics read back
 * from the launcher; and bad shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ref_cnn.h"

/* Normalised values are O(1) and come from fp32 sums of up to ~1000 terms in a fixed
 * tree; the backward subtracts means of products (some cancellation). 2e-5 absolute and
 * 1e-4 relative cover the worst cases measured here (6e-6 off a dgamma of 0.065, a sum
 * of 600 terms) about 4 times over. */
#define ATOL 2e-5f
#define RTOL 1e-4f

static uint64_t rng = 4242;

static float *rand_array(size_t n, float lo, float hi)
{
    return rig_rand_array(&rng, n, lo, hi);
}

/* Compare the gradient arena's gamma and beta parts with wdg, wdb (np each). */
static void check_param_grads(rig *r, const char *what, const float *gr, const float *wdg,
                              const float *wdb, size_t np)
{
    char w[400];
    snprintf(w, sizeof w, "%s: dgamma", what);
    expect_close(w, gr + r->l->params[0].offset, wdg, np, ATOL, RTOL);
    snprintf(w, sizeof w, "%s: dbeta", what);
    expect_close(w, gr + r->l->params[1].offset, wdb, np, ATOL, RTOL);
}

/* Batch norm on a sample shape `in` (C first), batch n: two training steps, then an
 * evaluation forward and backward. */
static void check_batchnorm(vd_context *ctx, vd_shape in, size_t n, const char *opts,
                            float momentum, float eps)
{
    char what[256], w2[320];
    snprintf(what, sizeof what, "batchnorm %s on %lldx... n=%zu", opts, (long long)in.d[0], n);
    rig r;
    if (!rig_open(&r, ctx, "batchnorm", opts, in, n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    size_t C = (size_t)in.d[0], HW = vd_shape_numel(&in) / C;
    bool relu = opts && strstr(opts, "relu=1");
    test_fill_uniform(&rng, rig_param(&r, 0), C, 0.5f, 1.5f);
    test_fill_uniform(&rng, rig_param(&r, 1), C, -1, 1);
    float *rm = test_malloc(C * 4), *rv = test_malloc(C * 4);
    for (size_t c = 0; c < C; c++) rv[c] = 1.0f; /* PyTorch's initial running stats */
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4),
          *gr = test_malloc(r.arena * 4);
    float *wdg = test_malloc(C * 4), *wdb = test_malloc(C * 4);
    for (int step = 0; step < 3; step++) {
        bool train = step < 2;
        /* Each batch has its own offset and scale per channel, like real activations. */
        float *x = rand_array(r.nin, -1, 1), *dy = rand_array(r.nout, -1, 1);
        for (size_t i = 0; i < r.nin; i++)
            x[i] = x[i] * (1.0f + (float)((i / HW) % C)) + 0.5f * (float)step;
        snprintf(w2, sizeof w2, "%s: %s forward %d", what, train ? "train" : "eval", step);
        if (!rig_forward(&r, train, x, y)) {
            free(x), free(dy);
            break;
        }
        float *rm0 = test_malloc(C * 4), *rv0 = test_malloc(C * 4);
        memcpy(rm0, rm, C * 4), memcpy(rv0, rv, C * 4); /* stats before this forward */
        ref_batchnorm_fwd(n, C, HW, train, momentum, eps, x, rig_param(&r, 0), rig_param(&r, 1), rm,
                          rv, want);
        if (relu)
            for (size_t i = 0; i < r.nout; i++) want[i] = want[i] > 0.0f ? want[i] : 0.0f;
        expect_close(w2, y, want, r.nout, ATOL, RTOL);
        /* The fused ReLU's backward: the reference sees dy zeroed where y <= 0. */
        float *rdy = test_malloc(r.nout * 4);
        for (size_t i = 0; i < r.nout; i++) rdy[i] = relu && !(want[i] > 0.0f) ? 0.0f : dy[i];
        rig_nan_dx(&r, dx);
        for (int pass = 0; pass < 2; pass++) {
            float beta = pass ? 1.0f : 0.0f;
            if (!rig_backward(&r, train, dy, beta, dx, gr)) break;
            /* Evaluation mode normalised with the statistics before the forward, which
             * in evaluation mode are the same as after. */
            ref_batchnorm_bwd(n, C, HW, train, eps, x, rig_param(&r, 0), rm0, rv0, rdy, beta, wdx,
                              wdg, wdb);
            snprintf(w2, sizeof w2, "%s: %s dx step %d pass %d", what, train ? "train" : "eval",
                     step, pass);
            expect_close(w2, dx, wdx, r.nin, ATOL, RTOL);
            check_param_grads(&r, w2, gr, wdg, wdb, C);
        }
        free(rm0), free(rv0), free(x), free(dy), free(rdy);
    }
    rig_guards(&r, what);
    free(rm), free(rv), free(y), free(want), free(dx), free(wdx), free(gr), free(wdg), free(wdb);
    rig_close(&r);
}

/* The running statistics themselves, read back from the launcher's state buffer. */
static void check_running_stats(vd_context *ctx, size_t n, size_t C, size_t HW)
{
    size_t nx = n * C * HW;
    float *x = rand_array(nx, -3, 5), *st = rand_array(6 * C, 0.5f, 1.5f);
    float *rm = test_malloc(C * 4), *rv = test_malloc(C * 4), *y = test_malloc(nx * 4);
    float *got = test_malloc(6 * C * 4), ones[1] = {1}, zeros[1] = {0};
    memcpy(rm, st, C * 4), memcpy(rv, st + C, C * 4);
    float *g = test_malloc(C * 4), *b = test_malloc(C * 4);
    for (size_t c = 0; c < C; c++) g[c] = ones[0], b[c] = zeros[0];
    test_buf bx, bs;
    memset(&bx, 0, sizeof bx), bs = bx;
    if (EXPECT_OK(ctx, test_buf_create(ctx, nx, 1, x, &bx)) &
        EXPECT_OK(ctx, test_buf_create(ctx, 6 * C, 2, st, &bs))) {
        for (int k = 0; k < 2; k++) {
            EXPECT_OK(ctx, vd_op_batchnorm_stats(ctx, n, C, HW, 0.25f, 1e-3f, bx.mem, bx.off,
                                                 bs.mem, bs.off));
            ref_batchnorm_fwd(n, C, HW, true, 0.25f, 1e-3f, x, g, b, rm, rv, y);
        }
        EXPECT_OK(ctx, test_buf_read(&bs, got));
        expect_close("batchnorm running mean after 2 steps (momentum 0.25)", got, rm, C, 1e-6f,
                     1e-5f);
        expect_close("batchnorm running var (unbiased) after 2 steps", got + C, rv, C, 1e-6f,
                     1e-5f);
        expect_guards("batchnorm state guards", &bs);
    }
    test_buf_destroy(&bx), test_buf_destroy(&bs);
    free(x), free(st), free(rm), free(rv), free(y), free(got), free(g), free(b);
}

/* vd_op_batchnorm_fold (the inference fold, docs/CONV.md) against the host formula, with
 * and without a bias: K channels of per weights, the running statistics from the state,
 * gamma and beta at offsets of their own. */
static void check_fold(vd_context *ctx, size_t K, size_t per, bool bias)
{
    float eps = 1e-3f;
    float *w = rand_array(K * per, -1, 1), *b = rand_array(K, -1, 1),
          *st = rand_array(6 * K, -1, 1);
    float *g = rand_array(K, 0.5f, 2), *be = rand_array(K, -1, 1);
    for (size_t k = 0; k < K; k++) st[K + k] = 0.1f + fabsf(st[K + k]); /* variances */
    size_t n = K * per + K;
    float *want = test_malloc(n * 4), *got = test_malloc(n * 4);
    for (size_t k = 0; k < K; k++) {
        double sc = (double)g[k] / sqrt((double)st[K + k] + eps);
        for (size_t j = 0; j < per; j++) want[k * per + j] = (float)(w[k * per + j] * sc);
        want[K * per + k] = (float)(((bias ? b[k] : 0.0) - st[k]) * sc + be[k]);
    }
    char what[96];
    snprintf(what, sizeof what, "batchnorm fold K=%zu per=%zu bias=%d", K, per, (int)bias);
    test_buf bw, bb, bs, bg, bbe, bo;
    memset(&bw, 0, sizeof bw), bb = bs = bg = bbe = bo = bw;
    if (EXPECT_OK(ctx, test_buf_create(ctx, K * per, 3, w, &bw)) &
        EXPECT_OK(ctx, test_buf_create(ctx, K, 5, b, &bb)) &
        EXPECT_OK(ctx, test_buf_create(ctx, 6 * K, 2, st, &bs)) &
        EXPECT_OK(ctx, test_buf_create(ctx, K, 7, g, &bg)) &
        EXPECT_OK(ctx, test_buf_create(ctx, K, 1, be, &bbe)) &
        EXPECT_OK(ctx, test_buf_create(ctx, n, 4, NULL, &bo))) {
        EXPECT_OK(ctx, vd_op_batchnorm_fold(ctx, K, per, eps, bw.mem, bw.off, bias ? bb.mem : NULL,
                                            bb.off, bs.mem, bs.off, bg.mem, bg.off, bbe.mem,
                                            bbe.off, bo.mem, bo.off));
        EXPECT_OK(ctx, test_buf_read(&bo, got));
        expect_close(what, got, want, n, 1e-6f, 1e-5f);
        expect_guards(what, &bo);
    }
    test_buf_destroy(&bw), test_buf_destroy(&bb), test_buf_destroy(&bs);
    test_buf_destroy(&bg), test_buf_destroy(&bbe), test_buf_destroy(&bo);
    free(w), free(b), free(st), free(g), free(be), free(want), free(got);
}

/* Layer norm over the sample axes from `axis` (rows of D = prod(in.d[axis..]) values);
 * output 0: y, 1: the row means, 2: the row 1/std (no parameters, one value per row). */
static void check_layernorm_opts(vd_context *ctx, vd_shape in, size_t n, int axis, int output,
                                 float eps)
{
    static const char *const outs[] = {"y", "mean", "invstd"};
    char what[256], w2[320], opts[96];
    snprintf(opts, sizeof opts, "axis=%d output=%s eps=%g", axis, outs[output], (double)eps);
    snprintf(what, sizeof what, "layernorm %s on %lld-dim %lldx.. n=%zu", opts, (long long)in.ndim,
             (long long)in.d[0], n);
    rig r;
    if (!rig_open(&r, ctx, "layernorm", opts, in, n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    size_t D = 1;
    for (int k = axis; k < in.ndim; k++) D *= (size_t)in.d[k];
    size_t rows = n * vd_shape_numel(&in) / D;
    bool stats = output != 0;
    expect_true(what, r.nout == (stats ? rows : r.nin));
    expect_true(what, r.l->n_params == (stats ? 0 : 2));
    if (!stats) {
        expect_true(what, r.l->params[0].numel == D && r.l->params[1].numel == D);
        test_fill_uniform(&rng, rig_param(&r, 0), D, 0.5f, 1.5f);
        test_fill_uniform(&rng, rig_param(&r, 1), D, -1, 1);
    }
    float *x = rand_array(r.nin, -2, 3), *dy = rand_array(r.nout, -1, 1);
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4),
          *gr = test_malloc((r.arena ? r.arena : 1) * 4);
    float *wdg = test_malloc(D * 4), *wdb = test_malloc(D * 4);
    if (rig_forward(&r, true, x, y)) {
        if (stats) ref_layernorm_stats(rows, D, eps, output == 2, x, want);
        else ref_layernorm_fwd(rows, D, eps, x, rig_param(&r, 0), rig_param(&r, 1), want);
        snprintf(w2, sizeof w2, "%s: forward", what);
        expect_close(w2, y, want, r.nout, ATOL, RTOL);
    }
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, gr)) break;
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        if (stats) {
            ref_layernorm_stats_bwd(rows, D, eps, output == 2, x, dy, beta, wdx);
            expect_close(w2, dx, wdx, r.nin, ATOL, RTOL);
            continue;
        }
        ref_layernorm_bwd(rows, D, eps, x, rig_param(&r, 0), dy, beta, wdx, wdg, wdb);
        expect_close(w2, dx, wdx, r.nin, ATOL, RTOL);
        check_param_grads(&r, w2, gr, wdg, wdb, D);
    }
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(gr), free(wdg), free(wdb);
    rig_close(&r);
}

static void check_layernorm(vd_context *ctx, vd_shape in, size_t n)
{
    check_layernorm_opts(ctx, in, n, 0, 0, 1e-5f);
}

static void check_softmax_kind(vd_context *ctx, vd_shape in, size_t n, float scale, bool logsm)
{
    char what[256], w2[320];
    const char *type = logsm ? "logsoftmax" : "softmax";
    snprintf(what, sizeof what, "%s on %lld-dim %lldx.. n=%zu scale %g", type, (long long)in.ndim,
             (long long)in.d[0], n, scale);
    rig r;
    if (!rig_open(&r, ctx, type, NULL, in, n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    size_t C = (size_t)in.d[0], inner = vd_shape_numel(&in) / C;
    float *x = rand_array(r.nin, -scale, scale), *dy = rand_array(r.nout, -1, 1);
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4),
          *gr = test_malloc(r.arena * 4);
    if (rig_forward(&r, true, x, y)) {
        if (logsm) ref_logsoftmax_fwd(n, C, inner, x, want);
        else ref_softmax_fwd(n, C, inner, x, want);
        snprintf(w2, sizeof w2, "%s: forward", what);
        expect_close(w2, y, want, r.nout, 1e-6f, 1e-5f);
    }
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, gr)) break;
        if (logsm) ref_logsoftmax_bwd(n, C, inner, y, dy, beta, wdx);
        else ref_softmax_bwd(n, C, inner, y, dy, beta, wdx);
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        expect_close(w2, dx, wdx, r.nin, 1e-6f, 1e-5f);
    }
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(gr);
    rig_close(&r);
}

static void check_softmax(vd_context *ctx, vd_shape in, size_t n, float scale)
{
    check_softmax_kind(ctx, in, n, scale, false);
    check_softmax_kind(ctx, in, n, scale, true);
}

static void check_bad(vd_context *ctx)
{
    /* Training batch norm needs two values per channel (PyTorch raises too). */
    rig r;
    if (rig_open(&r, ctx, "batchnorm", NULL, (vd_shape){1, {4}}, 1)) {
        vd_step s = rig_step(&r, true);
        expect_status(
            "batchnorm train on 1 value per channel", ctx,
            r.l->ops->forward(r.l, &s, (vd_buf){r.x.mem, r.x.off}, (vd_buf){r.y.mem, r.y.off}),
            VD_ERR_SHAPE);
        s.train = false;
        EXPECT_OK(ctx, r.l->ops->forward(r.l, &s, (vd_buf){r.x.mem, r.x.off},
                                         (vd_buf){r.y.mem, r.y.off}));
    }
    rig_close(&r);
    vd_layer *l = NULL;
    vd_kv kv[] = {{"momentum", "1.5", 0}};
    expect_status("batchnorm momentum 1.5", ctx,
                  vd_layer_create(ctx, "batchnorm", "b", kv, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv2[] = {{"eps", "0", 0}};
    expect_status("layernorm eps 0", ctx,
                  vd_layer_create(ctx, "layernorm", "b", kv2, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv3[] = {{"output", "std", 0}};
    expect_status("layernorm output=std", ctx,
                  vd_layer_create(ctx, "layernorm", "b", kv3, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv4[] = {{"axis", "-1", 0}};
    expect_status("layernorm axis=-1", ctx,
                  vd_layer_create(ctx, "layernorm", "b", kv4, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    vd_kv kv5[] = {{"output", "1", 0}};
    expect_status("layernorm output=1 (a number)", ctx,
                  vd_layer_create(ctx, "layernorm", "b", kv5, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    expect_reshape_fails(ctx, "layernorm", "axis=3", rig_shape3(2, 3, 4),
                         "layernorm axis 3 of 3 axes");
    expect_reshape_fails(ctx, "layernorm", "axis=1", (vd_shape){1, {10}},
                         "layernorm axis 1 of 1 axis");
    if (EXPECT_OK(ctx, vd_layer_create(ctx, "batchnorm", "b", NULL, 0, NULL, 0, &l))) {
        vd_step s = {ctx, 2, true, 0, 0, {NULL, 0}, {NULL, 0}, 0};
        l->in = l->ins[0] = (vd_shape){1, {3}};
        l->n_inputs = 1;
        EXPECT_OK(ctx, l->ops->reshape(l));
        expect_status("batchnorm backward before forward", ctx,
                      l->ops->backward(l, &s, (vd_buf){NULL, 0}, (vd_buf){NULL, 0},
                                       (vd_buf){NULL, 0}, (vd_buf){NULL, 0}, 0.0f),
                      VD_ERR_STATE);
        vd_layer_destroy(l);
    }
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    /* Under test_small() (Oclgrind) the larger cases shrink to the fewest channels and
     * values that take the same paths (every reduction runs 64 lanes per channel, so the
     * channels cost most): planes split across the lanes into units with a vector body
     * and a tail (784 -> 32 x 25 values; small: 416 -> 32 x 13), more planes than lanes
     * (70 or 65 of 9 values), runs of the CPU elementwise kernels (2 and 3), n*C planes
     * that leave the GPU kernels' last group partly empty (67 or 7 channels of 12 values:
     * 4 planes a group; 129 or 65 after a dense layer: 64 a group). */
    bool small = test_small();
    check_batchnorm(ctx, rig_shape3(3, 5, 7), 3, NULL, 0.1f, 1e-5f);
    check_batchnorm(ctx, rig_shape3(small ? 7 : 67, 4, 3), 2, "momentum=0.3 eps=0.001", 0.3f,
                    1e-3f);
    check_batchnorm(ctx, rig_shape3(2, 20, 30), 1, NULL, 0.1f, 1e-5f);
    check_batchnorm(ctx, (vd_shape){1, {10}}, 5, NULL, 0.1f, 1e-5f); /* after dense */
    check_batchnorm(ctx, (vd_shape){1, {small ? 65 : 129}}, 3, "momentum=1", 1.0f, 1e-5f);
    check_batchnorm(ctx, rig_shape3(3, 5, 7), 3, "relu=1", 0.1f, 1e-5f);
    check_batchnorm(ctx, (vd_shape){1, {10}}, 5, "relu=1", 0.1f, 1e-5f);
    check_batchnorm(ctx, small ? rig_shape3(2, 16, 26) : rig_shape3(4, 28, 28), 2, "relu=1", 0.1f,
                    1e-5f); /* split planes */
    check_batchnorm(ctx, rig_shape3(small ? 2 : 6, small ? 3 : 9, small ? 3 : 9), small ? 65 : 70,
                    NULL, 0.1f, 1e-5f); /* n > lanes */
    /* planes over 1024 values: the CPU elementwise kernels cut them into runs (2 x 611) */
    check_batchnorm(ctx, rig_shape3(small ? 1 : 2, 33, 37), small ? 2 : 3, "relu=1", 0.1f, 1e-5f);
    check_batchnorm(ctx, rig_shape3(small ? 1 : 3, 45, 47), 2, NULL, 0.1f,
                    1e-5f); /* 2115: 3 runs */
    check_batchnorm(ctx, rig_shape3(small ? 2 : 5, 1, 17), 64, "relu=1 momentum=0.2", 0.2f, 1e-5f);
    check_running_stats(ctx, 3, 5, 37);
    check_running_stats(ctx, 4, 1, 1000);
    check_fold(ctx, 5, 27, false);
    check_fold(ctx, 3, 1, true);
    check_fold(ctx, 17, 150, true);
    check_layernorm(ctx, rig_shape3(3, 5, 7), 3);
    check_layernorm(ctx, (vd_shape){1, {10}}, 1);
    check_layernorm(ctx, (vd_shape){1, {1000}}, 3);
    /* trailing blocks (ONNX axis): rows of the last axes, several rows per sample */
    check_layernorm_opts(ctx, rig_shape3(3, 5, 7), 2, 1, 0, 1e-5f);
    check_layernorm_opts(ctx, rig_shape3(3, 5, 7), 2, 2, 0, 1e-3f);
    check_layernorm_opts(ctx, (vd_shape){4, {2, 3, 4, 5}}, 1, 3, 0, 1e-5f);
    check_layernorm_opts(ctx, (vd_shape){2, {3, 130}}, 3, 1, 0, 1e-5f); /* D > lanes */
    check_layernorm_opts(ctx, rig_shape3(3, 5, 7), 2, 0, 1, 1e-5f);
    check_layernorm_opts(ctx, rig_shape3(3, 5, 7), 2, 1, 1, 1e-5f);
    check_layernorm_opts(ctx, rig_shape3(3, 5, 7), 2, 2, 2, 1e-5f);
    check_layernorm_opts(ctx, (vd_shape){2, {3, 130}}, 3, 1, 2, 1e-2f);
    check_layernorm_opts(ctx, (vd_shape){1, {10}}, 2, 0, 2, 1e-5f);
    check_softmax(ctx, (vd_shape){1, {10}}, 3, 4.0f);
    check_softmax(ctx, (vd_shape){1, {1}}, 2, 1.0f);
    check_softmax(ctx, (vd_shape){1, {67}}, 1, 60.0f); /* large logits: max subtraction */
    check_softmax(ctx, rig_shape3(5, 3, 4), 3, 3.0f);
    check_deterministic(ctx, &rng, "batchnorm", NULL, rig_shape3(small ? 2 : 5, 31, 29),
                        small ? 2 : 3);
    check_deterministic(ctx, &rng, "layernorm", NULL, rig_shape3(small ? 2 : 5, 31, 29),
                        small ? 2 : 3);
    check_deterministic(ctx, &rng, "layernorm", "axis=1", rig_shape3(small ? 2 : 5, 31, 29),
                        small ? 2 : 3);
    check_deterministic(ctx, &rng, "layernorm", "axis=2 output=invstd",
                        rig_shape3(small ? 2 : 5, 31, 29), small ? 2 : 3);
    check_bad(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

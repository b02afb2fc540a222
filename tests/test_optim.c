/* test_optim.c - cl/optim.cl against tests/ref/optim_ref.c: several steps of SGD (plain,
 * momentum, Nesterov, weight decay) and Adam / AdamW (with and without weight decay),
 * over odd sizes at non-zero offsets, comparing weights and optimizer state after each
 * step; plus bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/ops.h"
#include "ref.h"

/* One step is a handful of fp32 operations per element. Device and reference each keep
 * their own state, so rounding differences could compound over steps; over 6 steps with
 * lr <= 0.1 they stay within a few ulp of the weights. */
#define ATOL 1e-5f
#define RTOL 1e-4f
#define STEPS 6

static uint64_t rng = 17;

typedef struct optim_case {
    const char *name;
    int adam; /* 0 SGD, 1 Adam, 2 AdamW */
    float lr, momentum, wd;
    int nesterov;
} optim_case;

static void check_optim(vd_context *ctx, const optim_case *oc, size_t n, size_t off)
{
    char what[160];
    size_t bytes = n * sizeof(float);
    float *w = test_malloc(bytes), *g = test_malloc(bytes), *m = test_malloc(bytes);
    float *v = test_malloc(bytes), *got = test_malloc(bytes);
    test_fill_uniform(&rng, w, n, -1.0f, 1.0f);
    bool use_m = oc->adam || oc->momentum != 0.0f;
    test_buf bw, bg, bm, bv;
    memset(&bm, 0, sizeof bm);
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, n, off, w, &bw)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 1, NULL, &bg)) &
              EXPECT_OK(ctx, test_buf_create(ctx, n, 2 * off + 3, m, &bm)) & /* m = 0 */
              EXPECT_OK(ctx, test_buf_create(ctx, n, off + 7, v, &bv));
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    for (int t = 1; ok && t <= STEPS; t++) {
        test_fill_uniform(&rng, g, n, -1.0f, 1.0f);
        EXPECT_OK(ctx, test_buf_write(&bg, g));
        if (oc->adam) {
            float bc1 = (float)(1.0 - pow(b1, t)), bc2 = (float)(1.0 - pow(b2, t));
            EXPECT_OK(ctx, vd_op_adam(ctx, n, bw.mem, bw.off, bg.mem, bg.off, bm.mem, bm.off,
                                      bv.mem, bv.off, oc->lr, b1, b2, eps, oc->wd, oc->adam == 2,
                                      bc1, bc2));
            ref_adam(n, w, g, m, v, oc->lr, b1, b2, eps, oc->wd, oc->adam == 2, bc1, bc2);
        } else {
            /* momentum 0: m must be neither needed nor touched */
            EXPECT_OK(ctx, vd_op_sgd(ctx, n, bw.mem, bw.off, bg.mem, bg.off,
                                     use_m ? bm.mem : NULL, bm.off, oc->lr, oc->momentum, oc->wd,
                                     oc->nesterov));
            ref_sgd(n, w, g, m, oc->lr, oc->momentum, oc->wd, oc->nesterov);
        }
        snprintf(what, sizeof what, "%s step %d n=%zu off=%zu: w", oc->name, t, n, off);
        EXPECT_OK(ctx, test_buf_read(&bw, got));
        expect_close(what, got, w, n, ATOL, RTOL);
        expect_guards(what, &bw);
        snprintf(what, sizeof what, "%s step %d n=%zu off=%zu: m", oc->name, t, n, off);
        EXPECT_OK(ctx, test_buf_read(&bm, got));
        expect_close(what, got, m, n, ATOL, RTOL); /* stays 0 for plain SGD */
        expect_guards(what, &bm);
        if (oc->adam) {
            snprintf(what, sizeof what, "%s step %d n=%zu off=%zu: v", oc->name, t, n, off);
            EXPECT_OK(ctx, test_buf_read(&bv, got));
            expect_close(what, got, v, n, ATOL, RTOL);
            expect_guards(what, &bv);
        }
    }
    test_buf_destroy(&bw), test_buf_destroy(&bg), test_buf_destroy(&bm), test_buf_destroy(&bv);
    free(w), free(g), free(m), free(v), free(got);
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 8, 0, NULL, &t)))
        return;
    cl_mem b = t.mem;
    expect_status("sgd NULL w", ctx, vd_op_sgd(ctx, 8, NULL, 0, b, 0, b, 0, 0.1f, 0.9f, 0, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("sgd NULL g", ctx, vd_op_sgd(ctx, 8, b, 0, NULL, 0, b, 0, 0.1f, 0.9f, 0, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("sgd momentum without m", ctx,
                  vd_op_sgd(ctx, 8, b, 0, b, 0, NULL, 0, 0.1f, 0.9f, 0, 0), VD_ERR_INVALID_ARG);
    expect_status("sgd nesterov without momentum", ctx,
                  vd_op_sgd(ctx, 8, b, 0, b, 0, b, 0, 0.1f, 0.0f, 0, 1), VD_ERR_INVALID_ARG);
    expect_status("sgd NULL ctx", NULL, vd_op_sgd(NULL, 8, b, 0, b, 0, b, 0, 0.1f, 0, 0, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("sgd n=0", ctx, vd_op_sgd(ctx, 0, b, 0, b, 0, NULL, 0, 0.1f, 0, 0, 0), VD_OK);
    expect_status("adam NULL v", ctx,
                  vd_op_adam(ctx, 8, b, 0, b, 0, b, 0, NULL, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0,
                             0.1f, 0.001f),
                  VD_ERR_INVALID_ARG);
    expect_status("adam NULL m", ctx,
                  vd_op_adam(ctx, 8, b, 0, b, 0, NULL, 0, b, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0,
                             0.1f, 0.001f),
                  VD_ERR_INVALID_ARG);
    expect_status("adam bc1 = 0 (step 0)", ctx,
                  vd_op_adam(ctx, 8, b, 0, b, 0, b, 0, b, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0,
                             0.0f, 0.0f),
                  VD_ERR_INVALID_ARG);
    expect_status("adam n=0", ctx,
                  vd_op_adam(ctx, 0, b, 0, b, 0, b, 0, b, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0,
                             0.1f, 0.001f),
                  VD_OK);
    expect_guards("refused optimizer calls write nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0)
        return check_summary();
    static const optim_case cases[] = {
        {"sgd", 0, 0.1f, 0.0f, 0.0f, 0},
        {"sgd wd", 0, 0.1f, 0.0f, 0.01f, 0},
        {"sgd momentum", 0, 0.05f, 0.9f, 0.0f, 0},
        {"sgd momentum wd", 0, 0.05f, 0.9f, 5e-4f, 0},
        {"sgd nesterov wd", 0, 0.05f, 0.9f, 1e-3f, 1},
        {"adam", 1, 1e-2f, 0, 0.0f, 0},
        {"adam wd (L2)", 1, 1e-2f, 0, 0.01f, 0},
        {"adamw", 2, 1e-2f, 0, 0.1f, 0},
    };
    static const size_t sizes[] = {1, 3, 17, 129, 1000};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            check_optim(ctx, &cases[c], sizes[k], k % 2 ? 0 : 2 + 5 * k);
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

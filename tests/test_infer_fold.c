/* test_infer_fold.c - the inference plan (docs/CONV.md, "Inference: batch norm folded in"):
 * a batchnorm after a conv2d is folded into the convolution's weights and bias at
 * inference, and a dropout passes its input through. The same net with the convs named as
 * extra outputs cannot fold (their outputs must stay the convolutions'), so it runs every
 * layer: both must predict the same after the same training, again after more training
 * and after new parameters are written (the fold is never stale), and a checkpoint of
 * the folded net predicts what it does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdant.h>

#include "check.h"
#include "net/net.h"

enum { B = 4, C = 2, H = 6, W = 6, OUT = 5 };

/* input (2,6,6) -> c1 conv (4, 3x3 pad 1, no bias) -> n1 batchnorm relu=1 -> c2 conv (3,
 * 3x3 pad 1, bias) -> n2 batchnorm -> d dropout -> flatten -> fc dense (5). blocked: c1 and
 * c2 are extra outputs (no folding). */
static vd_net *make(vd_context *ctx, bool blocked)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return NULL;
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){C, H, W}));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c1", "filters=4 kernel=3 pad=1 bias=0"));
    EXPECT_OK(ctx, vd_net_add(net, "batchnorm", "n1", "relu=1 momentum=0.5"));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c2", "filters=3 kernel=3 pad=1"));
    EXPECT_OK(ctx, vd_net_add(net, "batchnorm", "n2", "momentum=0.5 eps=0.01"));
    EXPECT_OK(ctx, vd_net_add(net, "dropout", "d", "p=0.25"));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", "f", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=5"));
    vd_net_set_loss(net, VD_LOSS_SOFTMAX_CE);
    if (blocked) {
        EXPECT_OK(ctx, vd_net_add_output(net, "c1"));
        EXPECT_OK(ctx, vd_net_add_output(net, "c2"));
    }
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAM);
    o.lr = 0.05f;
    if (!EXPECT_OK(ctx, vd_net_build(net, B)) || !EXPECT_OK(ctx, vd_net_set_optimizer(net, &o))) {
        vd_net_destroy(net);
        return NULL;
    }
    return net;
}

static void train(vd_context *ctx, vd_net *a, vd_net *b, const float *x, int steps)
{
    static const int32_t labels[B] = {0, 3, 1, 4};
    for (int s = 0; s < steps; s++) {
        float la = 0, lb = 0;
        EXPECT_OK(ctx, vd_net_train_step(a, x, labels, NULL, B, &la));
        EXPECT_OK(ctx, vd_net_train_step(b, x, labels, NULL, B, &lb));
        expect_true("training is the same with and without extra outputs", la == lb);
    }
}

/* Folding moves the rounding (conv(x, w s) against conv(x, w) s, the mean subtracted
 * from the bias instead of the output): the outputs differ by float rounding of their
 * largest terms, so the absolute bound follows the output's scale (1e-6 of its largest
 * magnitude, on top of 1e-5) and the relative one is 1e-4. */
static void expect_same_prediction(vd_context *ctx, const char *what, vd_net *a, vd_net *b,
                                   const float *x, float *ya)
{
    float yb[B * OUT], scale = 0;
    EXPECT_OK(ctx, vd_net_predict(a, x, B, ya));
    EXPECT_OK(ctx, vd_net_predict(b, x, B, yb));
    for (int i = 0; i < B * OUT; i++) scale = fmaxf(scale, fabsf(yb[i]));
    expect_close(what, ya, yb, B * OUT, 1e-5f + 1e-6f * scale, 1e-4f);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    vd_net *a = make(ctx, false), *b = make(ctx, true);
    if (!a || !b) goto out;
    /* The plan: n1, n2 folded and d passed through in a; only d in b. */
    expect_true("folded net: n1, n2 and d skipped at inference",
                a->infer_skip[1] && a->infer_skip[3] && a->infer_skip[4] && !a->infer_skip[0] &&
                    !a->infer_skip[2] && !a->infer_skip[6]);
    expect_true("blocked net: only d skipped at inference",
                !b->infer_skip[1] && !b->infer_skip[3] && b->infer_skip[4]);

    uint64_t rng = 11;
    float x[B * C * H * W], y0[B * OUT], y1[B * OUT], y2[B * OUT];
    test_fill_uniform(&rng, x, B * C * H * W, -2, 2);
    /* Before training: running mean 0, variance 1, gamma 1, beta 0. */
    expect_same_prediction(ctx, "untrained: folded = unfolded", a, b, x, y0);
    /* After training the statistics, gamma and beta are far from that (under Oclgrind,
     * test_small, one step each time: the same calls, a fifth of the simulated work). */
    int s1 = test_small() ? 1 : 4, s2 = test_small() ? 1 : 2;
    train(ctx, a, b, x, s1);
    expect_same_prediction(ctx, "trained: folded = unfolded", a, b, x, y1);
    train(ctx, a, b, x, s2);
    expect_same_prediction(ctx, "trained more: folded = unfolded (not stale)", a, b, x, y2);
    double moved = 0;
    for (int i = 0; i < B * OUT; i++) moved += fabs((double)y2[i] - y1[i]);
    expect_true("training moved the predictions", moved > 1e-3);

    /* New parameters written through the API. */
    size_t np = vd_net_param_count(a);
    float *p = test_malloc(np * sizeof(float));
    if (EXPECT_OK(ctx, vd_net_params_read(a, p, np))) {
        for (size_t i = 0; i < np; i++) p[i] = p[i] * 1.5f + 0.01f * (float)(i % 7);
        EXPECT_OK(ctx, vd_net_params_write(a, p, np));
        EXPECT_OK(ctx, vd_net_params_write(b, p, np));
        expect_same_prediction(ctx, "new parameters: folded = unfolded", a, b, x, y1);
    }
    free(p);

    /* A checkpoint of the folded net (statistics included) predicts what it does. */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vd_infer_fold_%d.ckpt", (int)getpid());
    if (EXPECT_OK(ctx, vd_net_save(a, path, NULL))) {
        vd_net *l = NULL;
        if (EXPECT_OK(ctx, vd_net_load(ctx, path, B, &l, NULL))) {
            float yl[B * OUT];
            EXPECT_OK(ctx, vd_net_predict(l, x, B, yl));
            expect_equal_bytes("checkpoint: the same prediction", yl, y1, sizeof(yl));
            vd_net_destroy(l);
        }
        unlink(path);
    }
out:
    vd_net_destroy(a);
    vd_net_destroy(b);
    vd_context_destroy(ctx);
    return check_summary();
}

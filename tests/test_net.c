/* test_net.c - whole-network steps against a CPU reference built from tests/ref: forward,
 * fused softmax cross-entropy or MSE, backward through dense and activation layers, and
 * the optimizer, for several steps, full and partial batches. Also the inference path
 * (vd_net_predict, dropout off) and vd_net_params_read/write round trips. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ref.h"

/* A 2-layer MLP: in -> dense(h) -> act -> dense(out). Reference state on the host. */
typedef struct mlp_ref {
    size_t in, h, out;
    float *w1, *b1, *w2, *b2; /* views into p (the vd_net_params_read layout) */
    float *p, *m, *v;
    size_t np;
} mlp_ref;

static void ref_bind(mlp_ref *r)
{
    r->w1 = r->p;
    r->b1 = r->w1 + r->h * r->in;
    r->w2 = r->b1 + r->h;
    r->b2 = r->w2 + r->out * r->h;
}

/* One reference step; returns the batch mean loss. */
static double ref_step(mlp_ref *r, vd_act act, vd_loss loss, const vd_optim_options *o, int64_t t,
                       size_t n, const float *x, const int32_t *labels, const float *targets)
{
    size_t in = r->in, h = r->h, out = r->out;
    float *hid = test_malloc(n * h * 4), *a = test_malloc(n * h * 4), *z = test_malloc(n * out * 4);
    float *dz = test_malloc(n * out * 4), *da = test_malloc(n * h * 4),
          *dh = test_malloc(n * h * 4);
    float *rl = test_malloc(n * 4), *g = test_malloc(r->np * 4);
    memset(g, 0, r->np * 4);
    float *gw1 = g, *gb1 = gw1 + h * in, *gw2 = gb1 + h, *gb2 = gw2 + out * h;
    ref_dense_fwd(n, in, h, x, r->w1, r->b1, hid);
    ref_act_fwd(act, n * h, hid, a);
    ref_dense_fwd(n, h, out, a, r->w2, r->b2, z);
    if (loss == VD_LOSS_SOFTMAX_CE)
        ref_softmax_ce(n, out, z, labels, 1.0f / (float)n, dz, rl, NULL);
    else ref_mse(n, out, z, targets, 1.0f / (float)n, dz, rl);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += rl[i];
    ref_dense_bwd(n, h, out, a, r->w2, dz, 0.0f, da, gw2, gb2);
    ref_act_bwd(act, n * h, hid, a, da, 0.0f, dh);
    ref_dense_bwd(n, in, h, x, r->w1, dh, 0.0f, NULL, gw1, gb1);
    if (o->clip_norm > 0.0f) { /* global L2 norm over every gradient */
        double ss = 0;
        for (size_t i = 0; i < r->np; i++) ss += (double)g[i] * g[i];
        double norm = sqrt(ss);
        if (norm > o->clip_norm)
            for (size_t i = 0; i < r->np; i++) g[i] = (float)(g[i] * (o->clip_norm / norm));
    }
    if (o->kind == VD_OPTIM_SGD) {
        ref_sgd(r->np, r->p, g, r->m, o->lr, o->momentum, o->weight_decay, o->nesterov);
    } else {
        float bc1 = (float)(1.0 - pow(o->beta1, (double)t)),
              bc2 = (float)(1.0 - pow(o->beta2, (double)t));
        ref_adam(r->np, r->p, g, r->m, r->v, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                 o->kind == VD_OPTIM_ADAMW, bc1, bc2);
    }
    free(hid);
    free(a);
    free(z);
    free(dz);
    free(da);
    free(dh);
    free(rl);
    free(g);
    return sum / (double)n;
}

static void run_case(vd_context *ctx, const char *act_name, vd_act act, vd_loss loss,
                     vd_optim_kind kind, size_t in, size_t h, size_t out, int32_t max_batch,
                     float clip)
{
    char what[160], opts[64];
    uint64_t rng = 1234 + in * 7 + h;
    vd_net *net = NULL;
    mlp_ref r = {.in = in, .h = h, .out = out};
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){(int64_t)in}));
    snprintf(opts, sizeof(opts), "units=%zu", h);
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc1", opts));
    EXPECT_OK(ctx, vd_net_add(net, act_name, NULL, NULL));
    snprintf(opts, sizeof(opts), "units=%zu", out);
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc2", opts));
    EXPECT_OK(ctx, vd_net_set_loss(net, loss));
    EXPECT_OK(ctx, vd_net_set_seed(net, 7));
    if (!EXPECT_OK(ctx, vd_net_build(net, max_batch))) goto done;
    vd_optim_options o;
    vd_optim_options_init(&o, kind);
    o.lr = kind == VD_OPTIM_SGD ? 0.1f : 0.01f;
    o.weight_decay = 0.01f;
    o.nesterov = kind == VD_OPTIM_SGD && in % 2;
    o.clip_norm = clip;
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));

    r.np = vd_net_param_count(net);
    expect_true("param count", r.np == h * in + h + out * h + out);
    r.p = test_malloc(r.np * 4);
    r.m = test_malloc(r.np * 4);
    r.v = test_malloc(r.np * 4);
    memset(r.m, 0, r.np * 4);
    memset(r.v, 0, r.np * 4);
    EXPECT_OK(ctx, vd_net_params_read(net, r.p, r.np));
    ref_bind(&r);
    /* Biases start at zero; weights are random with a sane spread. */
    double ss = 0;
    for (size_t i = 0; i < h * in; i++) ss += (double)r.w1[i] * r.w1[i];
    expect_true("init: fc1 bias zero", r.b1[0] == 0.0f && r.b1[h - 1] == 0.0f);
    if (h * in >= 100) {
        /* He normal before ReLU/GELU, Xavier normal otherwise. */
        bool rect = act == VD_ACT_RELU || act == VD_ACT_GELU;
        double want = rect ? sqrt(2.0 / (double)in) : sqrt(2.0 / (double)(in + h));
        double got_std = sqrt(ss / (double)(h * in));
        snprintf(what, sizeof(what), "init: fc1 weight std %.4f vs %.4f", got_std, want);
        expect_true(what, got_std > 0.8 * want && got_std < 1.2 * want);
    }

    float *x = test_malloc((size_t)max_batch * in * 4);
    float *tg = test_malloc((size_t)max_batch * out * 4);
    int32_t *lab = test_malloc((size_t)max_batch * 4);
    float *got = test_malloc(r.np * 4);
    for (int64_t step = 1; step <= 4; step++) {
        /* Step 3 is a partial batch. */
        size_t n = step == 3 ? (size_t)(max_batch > 1 ? max_batch - 1 : 1) : (size_t)max_batch;
        test_fill_uniform(&rng, x, n * in, -1.0f, 1.0f);
        test_fill_uniform(&rng, tg, n * out, -1.0f, 1.0f);
        for (size_t i = 0; i < n; i++) lab[i] = (int32_t)test_rand_int(&rng, 0, (int64_t)out - 1);
        float loss_dev = -1;
        const int32_t *lp = loss == VD_LOSS_SOFTMAX_CE ? lab : NULL;
        const float *tp = loss == VD_LOSS_MSE ? tg : NULL;
        if (!EXPECT_OK(ctx, vd_net_train_step(net, x, lp, tp, (int32_t)n, &loss_dev))) break;
        double loss_ref = ref_step(&r, act, loss, &o, step, n, x, lp, tp);
        snprintf(what, sizeof(what), "%s/%s/%s %zux%zux%zu step %d loss", act_name,
                 loss == VD_LOSS_MSE ? "mse" : "ce", kind == VD_OPTIM_SGD ? "sgd" : "adam", in, h,
                 out, (int)step);
        float lr_ = (float)loss_ref;
        expect_close(what, &loss_dev, &lr_, 1, 1e-5f, 1e-4f);
        EXPECT_OK(ctx, vd_net_params_read(net, got, r.np));
        snprintf(what + strlen(what) - 4, 16, "params");
        /* Adam divides by sqrt(v) + eps: a parameter whose gradient is tiny moves by ~lr in
         * either direction, so compare with an absolute tolerance of lr/100 there. */
        expect_close(what, got, r.p, r.np, kind == VD_OPTIM_SGD ? 2e-5f : 1e-4f, 1e-4f);
    }

    /* Inference: predict == reference forward. */
    size_t n = (size_t)max_batch;
    float *y = test_malloc(n * out * 4), *yr = test_malloc(n * out * 4),
          *hid = test_malloc(n * h * 4);
    EXPECT_OK(ctx, vd_net_params_read(net, r.p, r.np));
    EXPECT_OK(ctx, vd_net_predict(net, x, (int32_t)n, y));
    ref_dense_fwd(n, in, h, x, r.w1, r.b1, hid);
    ref_act_fwd(act, n * h, hid, hid);
    ref_dense_fwd(n, h, out, hid, r.w2, r.b2, yr);
    snprintf(what, sizeof(what), "%s predict %zux%zux%zu", act_name, in, h, out);
    expect_close(what, y, yr, n * out, 1e-5f, 1e-4f);

    /* params_write then read gives back the same bits. */
    for (size_t i = 0; i < r.np; i++) r.p[i] = (float)i * 0.001f;
    EXPECT_OK(ctx, vd_net_params_write(net, r.p, r.np));
    EXPECT_OK(ctx, vd_net_params_read(net, got, r.np));
    expect_equal_bytes("params write/read round trip", got, r.p, r.np * 4);
    free(y);
    free(yr);
    free(hid);
    free(x);
    free(tg);
    free(lab);
    free(got);
    free(r.p);
    free(r.m);
    free(r.v);
done:
    vd_net_destroy(net);
}

/* Dropout: identity at inference; during training about p of the units are zeroed. */
static void dropout_case(vd_context *ctx)
{
    vd_net *net = NULL;
    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){64}));
    EXPECT_OK(ctx, vd_net_add(net, "dropout", "drop", "p=0.5"));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=64 bias=0"));
    if (!EXPECT_OK(ctx, vd_net_build(net, 8))) goto done;
    float x[8 * 64], y1[8 * 64], y2[8 * 64];
    for (int i = 0; i < 8 * 64; i++) x[i] = (float)(i % 13) - 6.0f;
    EXPECT_OK(ctx, vd_net_predict(net, x, 8, y1));
    EXPECT_OK(ctx, vd_net_predict(net, x, 8, y2));
    expect_equal_bytes("dropout off at inference: predictions repeat", y1, y2, sizeof(y1));
done:
    vd_net_destroy(net);
}

int main(void)
{
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    if (rc) return check_summary();
    run_case(ctx, "tanh", VD_ACT_TANH, VD_LOSS_SOFTMAX_CE, VD_OPTIM_SGD, 5, 7, 3, 4, 0.0f);
    run_case(ctx, "relu", VD_ACT_RELU, VD_LOSS_SOFTMAX_CE, VD_OPTIM_ADAM, 17, 33, 10, 9, 0.0f);
    run_case(ctx, "gelu", VD_ACT_GELU, VD_LOSS_MSE, VD_OPTIM_ADAMW, 3, 129, 2, 17, 0.0f);
    run_case(ctx, "sigmoid", VD_ACT_SIGMOID, VD_LOSS_MSE, VD_OPTIM_SGD, 1, 1, 1, 1, 0.0f);
    /* Gradient clipping: a norm small enough that every step is clipped. */
    run_case(ctx, "tanh", VD_ACT_TANH, VD_LOSS_SOFTMAX_CE, VD_OPTIM_SGD, 5, 7, 3, 4, 0.05f);
    run_case(ctx, "relu", VD_ACT_RELU, VD_LOSS_MSE, VD_OPTIM_ADAM, 130, 65, 3, 8, 0.01f);
    dropout_case(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_graph.c - networks that are graphs, not stacks: a residual add and a channel
 * concatenation whose inputs are used twice. The gradients the net computes (read back as
 * the change of one plain SGD step with lr 1) are compared with central finite
 * differences of the loss computed on the host from vd_net_predict. Also checks the
 * graph errors: unknown inputs, mismatched shapes, dangling layers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define N 5
#define IN 6
#define OUT 3

static double host_ce(const float *z, const int32_t *lab)
{
    double sum = 0;
    for (int i = 0; i < N; i++) {
        double m = z[i * OUT];
        for (int c = 1; c < OUT; c++) m = fmax(m, z[i * OUT + c]);
        double s = 0;
        for (int c = 0; c < OUT; c++) s += exp(z[i * OUT + c] - m);
        sum += log(s) + m - z[i * OUT + lab[i]];
    }
    return sum / N;
}

static double loss_at(vd_context *ctx, vd_net *net, const float *p, size_t np, const float *x,
                      const int32_t *lab)
{
    float z[N * OUT];
    EXPECT_OK(ctx, vd_net_params_write(net, p, np));
    EXPECT_OK(ctx, vd_net_predict(net, x, N, z));
    return host_ce(z, lab);
}

static void residual_gradients(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){IN}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc1", "units=4"));
    EXPECT_OK(ctx, vd_net_add(net, "tanh", "t1", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc2", "units=4"));
    EXPECT_OK(ctx, vd_net_add(net, "add", "res", "input=t1+fc2"));
    EXPECT_OK(ctx, vd_net_add(net, "concat", "cat", "input=res+t1"));
    EXPECT_OK(ctx, vd_net_add(net, "sigmoid", "s", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "head", "units=3"));
    if (!EXPECT_OK(ctx, vd_net_build(net, N))) goto done;
    size_t np = vd_net_param_count(net);
    float p0[256], p1[256], q[256];
    if (!expect_true("param count fits", np <= 256)) goto done;
    EXPECT_OK(ctx, vd_net_params_read(net, p0, np));
    uint64_t rng = 99;
    float x[N * IN];
    int32_t lab[N] = {0, 2, 1, 2, 0};
    test_fill_uniform(&rng, x, N * IN, -1.5f, 1.5f);
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = 1.0f;
    o.momentum = 0.0f;
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    float loss = 0;
    EXPECT_OK(ctx, vd_net_train_step(net, x, lab, NULL, N, &loss));
    EXPECT_OK(ctx, vd_net_params_read(net, p1, np));
    double l0 = loss_at(ctx, net, p0, np, x, lab);
    float lf = (float)l0;
    expect_close("step loss equals host loss of predict", &loss, &lf, 1, 1e-5f, 1e-5f);
    int bad = 0, checked = 0;
    for (size_t i = 0; i < np; i++) {
        double ana = (double)p0[i] - (double)p1[i]; /* lr 1: the gradient */
        memcpy(q, p0, np * 4);
        double h = 1e-2;
        q[i] = (float)(p0[i] + h);
        double lp = loss_at(ctx, net, q, np, x, lab);
        q[i] = (float)(p0[i] - h);
        double lm = loss_at(ctx, net, q, np, x, lab);
        double num = (lp - lm) / (2 * h);
        /* fp32 forward noise ~1e-7 over 2h = 2e-2 gives ~1e-5 absolute; truncation error
         * is O(h^2) of the third derivative. */
        double err = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
        if (err > 2e-2) {
            if (bad < 5) printf("param %zu: analytic %.6f numeric %.6f\n", i, ana, num);
            bad++;
        }
        checked++;
    }
    char what[96];
    snprintf(what, sizeof(what), "graph gradients vs finite differences (%d of %d bad)", bad,
             checked);
    expect_true(what, bad == 0);
done:
    vd_net_destroy(net);
}

static void graph_errors(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){IN}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "a", "units=4"));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "b", "units=5 input=input"));
    expect_status("unknown input", ctx, vd_net_add(net, "add", "s", "input=a+zz"),
                  VD_ERR_INVALID_ARG);
    expect_true("message names the input", strstr(vd_last_error(ctx), "'zz'") != NULL);
    expect_status("two inputs to dense", ctx, vd_net_add(net, "dense", "d", "units=2 input=a+b"),
                  VD_ERR_INVALID_ARG);
    EXPECT_OK(ctx, vd_net_add(net, "add", "s", "input=a+b"));
    expect_status("add of (4) and (5)", ctx, vd_net_build(net, 2), VD_ERR_SHAPE);
    expect_true("shape message names the layer",
                strstr(vd_last_error(ctx), "layer 's' (add)") != NULL);
    vd_net_destroy(net);

    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){IN}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "a", "units=4"));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "b", "units=4 input=input"));
    expect_status("dangling layer a", ctx, vd_net_build(net, 2), VD_ERR_SHAPE);
    expect_true("dangling message names it", strstr(vd_last_error(ctx), "'a'") != NULL);
    /* The failed build left the net usable: fix it and build. */
    vd_net_destroy(net);
}

int main(void)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    residual_gradients(ctx);
    graph_errors(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

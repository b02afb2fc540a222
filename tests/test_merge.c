/* test_merge.c - concat along any sample axis (merge.c) against ref_concat_* (tests/ref/
 * merge_ref.c), forward and backward (beta 0 without reading dx, beta 1, a skipped input)
 * on guarded buffers at odd offsets; and the constant layer (constant.c): no input, the
 * same tensor for every sample, kept by checkpoints, untouched by the optimizer (weight
 * decay included), written back by the cfg writer. Plus the inputs both refuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer_rig.h"
#include "net/net.h"
#include "ref.h"

#define MAXK 3

static vd_shape shp(int32_t nd, int64_t a, int64_t b, int64_t c)
{
    vd_shape s = {nd, {a, b, c, 0}};
    return s;
}

/* Concat of k inputs of shapes in[] along axis, batch n. */
static void concat_case(vd_context *ctx, uint64_t *rng, int32_t axis, int32_t k, const vd_shape *in,
                        size_t n)
{
    char what[160], opt[8];
    char sh[64];
    vd_shape_format(&in[0], sh, sizeof(sh));
    snprintf(what, sizeof(what), "concat axis=%d of %d inputs like %s, batch %zu", (int)axis,
             (int)k, sh, n);
    snprintf(opt, sizeof(opt), "%d", (int)axis);
    vd_kv kv[1] = {{"axis", opt, 0}};
    vd_layer *l = NULL;
    test_buf x[MAXK], dx[MAXK], y, dy;
    memset(x, 0, sizeof(x));
    memset(dx, 0, sizeof(dx));
    memset(&y, 0, sizeof(y));
    memset(&dy, 0, sizeof(dy));
    float *hx[MAXK] = {NULL}, *hdx[MAXK] = {NULL}, *wdx[MAXK] = {NULL}, *hy = NULL, *wy = NULL,
          *hdy = NULL;
    if (!EXPECT_OK(ctx, vd_layer_create(ctx, "concat", "cat", kv, 1, NULL, 0, &l))) return;
    l->n_inputs = k;
    for (int32_t j = 0; j < k; j++) l->ins[j] = in[j];
    l->in = in[0];
    if (!expect_status(what, NULL, l->ops->reshape(l), VD_OK)) goto done;
    size_t inner = 1, rows = n, lens[MAXK], nout = n * vd_shape_numel(&l->out);
    for (int32_t d = axis + 1; d < l->out.ndim; d++) inner *= (size_t)l->out.d[d];
    for (int32_t d = 0; d < axis; d++) rows *= (size_t)l->out.d[d];
    for (int32_t j = 0; j < k; j++) lens[j] = (size_t)in[j].d[axis];
    vd_buf xs[MAXK], dxs[MAXK];
    float betas[MAXK];
    for (int32_t j = 0; j < k; j++) {
        size_t nin = n * vd_shape_numel(&in[j]);
        hx[j] = rig_rand_array(rng, nin, -2, 2);
        hdx[j] = rig_rand_array(rng, nin, -1, 1);
        wdx[j] = test_malloc(nin * sizeof(float));
        memcpy(wdx[j], hdx[j], nin * sizeof(float));
        if (!EXPECT_OK(ctx, test_buf_create(ctx, nin, 3 + 2 * (size_t)j, hx[j], &x[j]))) goto done;
        /* input 0: beta 0 over NaN (must not be read); 1: beta 1; 2: no gradient */
        betas[j] = j == 1 ? 1.0f : 0.0f;
        if (j == 0)
            for (size_t e = 0; e < nin; e++) hdx[j][e] = NAN;
        if (j < 2 && !EXPECT_OK(ctx, test_buf_create(ctx, nin, 5 + (size_t)j, hdx[j], &dx[j])))
            goto done;
        xs[j] = (vd_buf){x[j].mem, x[j].off};
        dxs[j] = j < 2 ? (vd_buf){dx[j].mem, dx[j].off} : (vd_buf){NULL, 0};
    }
    hy = test_malloc(nout * sizeof(float));
    wy = test_malloc(nout * sizeof(float));
    hdy = rig_rand_array(rng, nout, -1, 1);
    if (!EXPECT_OK(ctx, test_buf_create(ctx, nout, 7, NULL, &y)) ||
        !EXPECT_OK(ctx, test_buf_create(ctx, nout, 1, hdy, &dy)))
        goto done;
    vd_step s;
    memset(&s, 0, sizeof(s));
    s.ctx = ctx;
    s.n = (int32_t)n;
    EXPECT_OK(ctx, l->ops->forward_multi(l, &s, xs, (vd_buf){y.mem, y.off}));
    EXPECT_OK(ctx, test_buf_read(&y, hy));
    ref_concat_fwd(rows, k, lens, inner, (const float *const *)hx, wy);
    char w2[256];
    snprintf(w2, sizeof(w2), "%s: forward", what);
    expect_close(w2, hy, wy, nout, 0, 0);
    EXPECT_OK(ctx, l->ops->backward_multi(l, &s, xs, (vd_buf){y.mem, y.off},
                                          (vd_buf){dy.mem, dy.off}, dxs, betas));
    float *want[MAXK] = {wdx[0], wdx[1], NULL};
    ref_concat_bwd(rows, k, lens, inner, hdy, betas, want);
    for (int32_t j = 0; j < k && j < 2; j++) {
        EXPECT_OK(ctx, test_buf_read(&dx[j], hdx[j]));
        snprintf(w2, sizeof(w2), "%s: backward of input %d (beta %g)", what, (int)j,
                 (double)betas[j]);
        expect_close(w2, hdx[j], wdx[j], n * vd_shape_numel(&in[j]), 0, 0);
        expect_guards(w2, &dx[j]);
    }
    snprintf(w2, sizeof(w2), "%s: output guards", what);
    expect_guards(w2, &y);
done:
    for (int32_t j = 0; j < MAXK; j++) {
        test_buf_destroy(&x[j]);
        test_buf_destroy(&dx[j]);
        free(hx[j]);
        free(hdx[j]);
        free(wdx[j]);
    }
    test_buf_destroy(&y);
    test_buf_destroy(&dy);
    free(hy);
    free(wy);
    free(hdy);
    vd_layer_destroy(l);
}

static void concat_axes(vd_context *ctx)
{
    uint64_t rng = 7;
    /* rank 3, every axis; the inputs differ only there */
    concat_case(ctx, &rng, 0, 3, (vd_shape[]){shp(3, 2, 3, 4), shp(3, 1, 3, 4), shp(3, 3, 3, 4)},
                5);
    concat_case(ctx, &rng, 1, 3, (vd_shape[]){shp(3, 2, 3, 4), shp(3, 2, 1, 4), shp(3, 2, 2, 4)},
                5);
    concat_case(ctx, &rng, 2, 3, (vd_shape[]){shp(3, 2, 3, 4), shp(3, 2, 3, 1), shp(3, 2, 3, 5)},
                3);
    /* rank 2 and rank 1 */
    concat_case(ctx, &rng, 1, 2, (vd_shape[]){shp(2, 3, 2, 0), shp(2, 3, 5, 0)}, 4);
    concat_case(ctx, &rng, 0, 2, (vd_shape[]){shp(1, 3, 0, 0), shp(1, 6, 0, 0)}, 7);
    concat_case(ctx, &rng, 0, 3, (vd_shape[]){shp(1, 1, 0, 0), shp(1, 2, 0, 0), shp(1, 1, 0, 0)},
                1);
}

static void concat_errors(vd_context *ctx)
{
    vd_layer *l = NULL;
    vd_kv kv3[1] = {{"axis", "3", 0}}, kv2[1] = {{"axis", "2", 0}}, kvm[1] = {{"axis", "-1", 0}};
    expect_status("concat axis=3 (samples have at most 3 dimensions)", ctx,
                  vd_layer_create(ctx, "concat", "c", kv3, 1, NULL, 0, &l), VD_ERR_INVALID_ARG);
    expect_status("concat axis=-1", ctx, vd_layer_create(ctx, "concat", "c", kvm, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    if (EXPECT_OK(ctx, vd_layer_create(ctx, "concat", "c", kv2, 1, NULL, 0, &l))) {
        l->n_inputs = 2;
        l->ins[0] = l->ins[1] = shp(2, 3, 4, 0);
        expect_status("concat axis=2 of rank-2 inputs", NULL, l->ops->reshape(l), VD_ERR_SHAPE);
        expect_true("message names the axis", strstr(vd_last_error(NULL), "axis 2") != NULL);
        vd_layer_destroy(l);
    }
    vd_kv kv1[1] = {{"axis", "1", 0}};
    if (EXPECT_OK(ctx, vd_layer_create(ctx, "concat", "c", kv1, 1, NULL, 0, &l))) {
        l->n_inputs = 2;
        l->ins[0] = shp(3, 2, 3, 4);
        l->ins[1] = shp(3, 2, 5, 3); /* differs off the axis too */
        expect_status("concat axis=1 of (2,3,4) and (2,5,3)", NULL, l->ops->reshape(l),
                      VD_ERR_SHAPE);
        l->ins[1] = shp(3, 2, 5, 4);
        EXPECT_OK(ctx, l->ops->reshape(l));
        expect_true("concat axis=1 of (2,3,4) and (2,5,4) is (2,8,4)",
                    l->out.ndim == 3 && l->out.d[0] == 2 && l->out.d[1] == 8 && l->out.d[2] == 4);
        vd_layer_destroy(l);
    }
}

#define CN 4 /* batch */

/* input (2, 3) + constant k (2, 3), concatenated with a second constant (2, 2) along the
 * last axis: (2, 5); flattened into a dense head of 3 units. */
static vd_net *constant_net(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return NULL;
    EXPECT_OK(ctx, vd_net_input(net, 2, (int64_t[]){2, 3}));
    EXPECT_OK(ctx, vd_net_add(net, "constant", "k", "d0=2 d1=3 value=1.5"));
    EXPECT_OK(ctx, vd_net_add(net, "add", "s", "input=input+k"));
    EXPECT_OK(ctx, vd_net_add(net, "constant", "k2", "d0=2 d1=2 value=-0.25"));
    EXPECT_OK(ctx, vd_net_add(net, "concat", "cat", "input=s+k2 axis=1"));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", "f", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "head", "units=3"));
    if (!EXPECT_OK(ctx, vd_net_build(net, CN))) {
        vd_net_destroy(net);
        return NULL;
    }
    return net;
}

static vd_status state_of(vd_net *net, int32_t i, float *host, bool to_host)
{
    vd_layer *l = net->layers[i];
    return l->ops->state_copy(l, net->ctx, host, to_host);
}

/* The concat output (before the head), computed on the host from x and the constants. */
static void expect_cat(const char *what, vd_net *net, const float *x, const float *k,
                       const float *k2)
{
    /* Cut the net at 'cat': its activation after a predict. */
    float got[CN * 10], want[CN * 10], out[CN * 3];
    if (!EXPECT_OK(net->ctx, vd_net_predict(net, x, CN, out))) return;
    cl_int err =
        clEnqueueReadBuffer(net->ctx->queue, net->act[3].mem, CL_TRUE,
                            net->act[3].off * sizeof(float), sizeof(got), got, 0, NULL, NULL);
    expect_true("read the concat activation", err == CL_SUCCESS);
    for (int s = 0; s < CN; s++)
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 5; c++)
                want[s * 10 + r * 5 + c] =
                    c < 3 ? x[s * 6 + r * 3 + c] + k[r * 3 + c] : k2[r * 2 + (c - 3)];
    expect_close(what, got, want, CN * 10, 0, 0);
}

static void constant_layer(vd_context *ctx)
{
    vd_net *net = constant_net(ctx), *again = NULL;
    if (!net) return;
    uint64_t rng = 11;
    float x[CN * 6], k[6], k2[4], back[6], back2[4];
    test_fill_uniform(&rng, x, CN * 6, -1, 1);
    for (int e = 0; e < 6; e++) k[e] = 1.5f;
    for (int e = 0; e < 4; e++) k2[e] = -0.25f;
    expect_cat("fresh constants hold value= in every sample", net, x, k, k2);
    test_fill_uniform(&rng, k, 6, -3, 3);
    test_fill_uniform(&rng, k2, 4, -3, 3);
    EXPECT_OK(ctx, state_of(net, 0, k, false));
    EXPECT_OK(ctx, state_of(net, 2, k2, false));
    expect_cat("written constants in every sample", net, x, k, k2);

    /* A few AdamW steps with weight decay: the head trains, the constants stay. */
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAMW);
    o.lr = 0.1f;
    o.weight_decay = 0.5f;
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    int32_t lab[CN] = {0, 1, 2, 1};
    float p0[64], p1[64];
    size_t np = vd_net_param_count(net);
    expect_true("the head's parameters only", np == 3 * 10 + 3);
    EXPECT_OK(ctx, vd_net_params_read(net, p0, np));
    float loss;
    for (int it = 0; it < 3; it++) EXPECT_OK(ctx, vd_net_train_step(net, x, lab, NULL, CN, &loss));
    EXPECT_OK(ctx, vd_net_params_read(net, p1, np));
    expect_true("the head trained", memcmp(p0, p1, np * sizeof(float)) != 0);
    EXPECT_OK(ctx, state_of(net, 0, back, true));
    EXPECT_OK(ctx, state_of(net, 2, back2, true));
    expect_close("constant k untouched by AdamW with weight decay", back, k, 6, 0, 0);
    expect_close("constant k2 untouched", back2, k2, 4, 0, 0);

    /* A checkpoint keeps the values. */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/test_merge_%ld.ckpt", (long)getpid());
    float out1[CN * 3], out2[CN * 3];
    EXPECT_OK(ctx, vd_net_predict(net, x, CN, out1));
    if (EXPECT_OK(ctx, vd_net_save(net, path, NULL)) &&
        EXPECT_OK(ctx, vd_net_load(ctx, path, CN, &again, NULL))) {
        EXPECT_OK(ctx, vd_net_predict(again, x, CN, out2));
        expect_close("checkpoint round trip: same outputs", out2, out1, CN * 3, 0, 0);
        EXPECT_OK(ctx, state_of(again, 0, back, true));
        expect_close("checkpoint round trip: constant values", back, k, 6, 0, 0);
        vd_net_destroy(again);
        again = NULL;
    }
    remove(path);

    /* The cfg writer: no input line for a constant, and the text parses back the same. */
    char *text = NULL, *text2 = NULL;
    if (EXPECT_OK(ctx, vd_net_to_cfg(net, &text))) {
        const char *sec = strstr(text, "[constant]\nname = k\n");
        expect_true("cfg has the constant", sec != NULL);
        expect_true("cfg writes no input for it",
                    sec && strncmp(sec + strlen("[constant]\nname = k\n"), "input", 5) != 0);
        expect_true("cfg keeps concat axis", strstr(text, "axis = 1") != NULL);
        if (EXPECT_OK(ctx, vd_net_parse_cfg(ctx, text, "written.cfg", &again)) &&
            EXPECT_OK(ctx, vd_net_to_cfg(again, &text2)))
            expect_true("cfg round trip is stable", !strcmp(text, text2));
    }
    free(text);
    free(text2);
    vd_net_destroy(again);
    vd_net_destroy(net);
}

static void constant_errors(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){4}));
    expect_status("constant with an input", ctx,
                  vd_net_add(net, "constant", "k", "d0=4 input=input"), VD_ERR_INVALID_ARG);
    expect_true("message says it takes no input",
                strstr(vd_last_error(ctx), "takes no input") != NULL);
    expect_status("constant without d0", ctx, vd_net_add(net, "constant", "k", "value=1"),
                  VD_ERR_INVALID_ARG);
    expect_status("constant d2 without d1", ctx, vd_net_add(net, "constant", "k", "d0=4 d2=2"),
                  VD_ERR_INVALID_ARG);
    EXPECT_OK(ctx, vd_net_add(net, "constant", "k", "d0=5"));
    EXPECT_OK(ctx, vd_net_add(net, "add", "s", "input=input+k"));
    expect_status("add of (4) and a (5) constant", ctx, vd_net_build(net, 2), VD_ERR_SHAPE);
    vd_net_destroy(net);
}

int main(void)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    concat_axes(ctx);
    concat_errors(ctx);
    constant_layer(ctx);
    constant_errors(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_outputs.c - nets with several outputs (vd_net_add_output, vd_net_predict_outputs):
 * each extra output is the named layer's output, the same numbers a net ending in that
 * layer computes; a branch that feeds only an extra output leaves training exactly as
 * without it (its backward never runs); the outputs survive the network file, checkpoints
 * and ONNX export/import; and the bad calls are refused with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdant.h>

#include "check.h"

enum { B = 3, C = 2, H = 5, W = 5 };

/* input (2,5,5) -> conv c1 (3 ch, 3x3 pad 1) -> relu r -> flatten -> dense fc (4).
 * With branch: an avgpool p (2x2) reading c1 and a dense side (2) reading p, both outputs. */
static vd_net *make(vd_context *ctx, bool branch)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return NULL;
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){C, H, W}));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c1", "filters=3 kernel=3 pad=1"));
    if (branch) {
        EXPECT_OK(ctx, vd_net_add(net, "avgpool", "p", "kernel=2 stride=2 input=c1"));
        EXPECT_OK(ctx, vd_net_add(net, "dense", "side", "units=2 input=p"));
    }
    EXPECT_OK(ctx, vd_net_add(net, "relu", "r", "input=c1"));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", "f", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=4"));
    vd_net_set_loss(net, VD_LOSS_SOFTMAX_CE);
    if (branch) {
        EXPECT_OK(ctx, vd_net_add_output(net, "c1"));
        EXPECT_OK(ctx, vd_net_add_output(net, "side"));
    }
    if (!EXPECT_OK(ctx, vd_net_build(net, B))) {
        vd_net_destroy(net);
        return NULL;
    }
    return net;
}

/* Net b gets net a's parameters where both have them: c1 first, fc last; a's side layer's
 * (between them in a) are left out. */
static void copy_shared(vd_context *ctx, vd_net *a, vd_net *b)
{
    size_t na = vd_net_param_count(a), nb = vd_net_param_count(b);
    float *pa = test_malloc(na * sizeof(float)), *pb = test_malloc(nb * sizeof(float));
    EXPECT_OK(ctx, vd_net_params_read(a, pa, na));
    size_t c1 = 3 * C * 3 * 3 + 3, fc = nb - c1;
    memcpy(pb, pa, c1 * sizeof(float));
    memcpy(pb + c1, pa + na - fc, fc * sizeof(float));
    EXPECT_OK(ctx, vd_net_params_write(b, pb, nb));
    free(pa);
    free(pb);
}

static void outputs_and_training(vd_context *ctx)
{
    vd_net *a = make(ctx, true), *b = make(ctx, false);
    if (!a || !b) goto out;
    copy_shared(ctx, a, b);
    expect_true("output count 3", vd_net_output_count(a) == 3);
    expect_true("plain net: output count 1", vd_net_output_count(b) == 1);
    const char *name = NULL;
    size_t sz[3] = {0};
    for (int i = 0; i < 3; i++) EXPECT_OK(ctx, vd_net_output_info(a, i, NULL, &sz[i]));
    EXPECT_OK(ctx, vd_net_output_info(a, 1, &name, NULL));
    expect_true("output 1 is c1", name && !strcmp(name, "c1"));
    EXPECT_OK(ctx, vd_net_output_info(a, 0, &name, NULL));
    expect_true("output 0 is the last layer", name && !strcmp(name, "fc"));
    expect_true("sizes 4, 75, 2", sz[0] == 4 && sz[1] == 3 * H * W && sz[2] == 2);

    uint64_t rng = 7;
    float x[B * C * H * W];
    test_fill_uniform(&rng, x, B * C * H * W, -1, 1);
    float y0[B * 4], y1[B * 75], y2[B * 2], ref0[B * 4], p0[B * 4];
    float *outs[3] = {y0, y1, y2};
    EXPECT_OK(ctx, vd_net_predict_outputs(a, x, B, outs));
    EXPECT_OK(ctx, vd_net_predict(a, x, B, p0));
    EXPECT_OK(ctx, vd_net_predict(b, x, B, ref0));
    expect_equal_bytes("output 0 = vd_net_predict", y0, p0, sizeof(y0));
    expect_equal_bytes("output 0 = the net without the branch", y0, ref0, sizeof(y0));

    /* Output 1 against a net that ends in c1, with c1's parameters. */
    vd_net *c = NULL;
    EXPECT_OK(ctx, vd_net_create(ctx, &c));
    EXPECT_OK(ctx, vd_net_input(c, 3, (int64_t[]){C, H, W}));
    EXPECT_OK(ctx, vd_net_add(c, "conv2d", "c1", "filters=3 kernel=3 pad=1"));
    if (EXPECT_OK(ctx, vd_net_build(c, B))) {
        size_t nc = vd_net_param_count(c), na = vd_net_param_count(a);
        float *pa = test_malloc(na * sizeof(float));
        EXPECT_OK(ctx, vd_net_params_read(a, pa, na));
        EXPECT_OK(ctx, vd_net_params_write(c, pa, nc));
        float r1[B * 75];
        EXPECT_OK(ctx, vd_net_predict(c, x, B, r1));
        expect_equal_bytes("output 1 = a net ending in c1", y1, r1, sizeof(y1));
        free(pa);
    }
    vd_net_destroy(c);
    /* Output 2 on the host from output 1: 2x2 average pooling, then the side dense. */
    {
        size_t na = vd_net_param_count(a);
        float *pa = test_malloc(na * sizeof(float));
        EXPECT_OK(ctx, vd_net_params_read(a, pa, na));
        const float *ws = pa + 3 * C * 9 + 3, *bs = ws + 2 * 3 * 2 * 2;
        float want[B * 2];
        for (int n = 0; n < B; n++)
            for (int u = 0; u < 2; u++) {
                double acc = bs[u];
                for (int ch = 0; ch < 3; ch++)
                    for (int i = 0; i < 2; i++)
                        for (int j = 0; j < 2; j++) {
                            const float *pl = y1 + (n * 3 + ch) * H * W;
                            double avg = (pl[2 * i * W + 2 * j] + pl[2 * i * W + 2 * j + 1] +
                                          pl[(2 * i + 1) * W + 2 * j] +
                                          pl[(2 * i + 1) * W + 2 * j + 1]) / 4.0;
                            acc += ws[u * 12 + ch * 4 + i * 2 + j] * avg;
                        }
                want[n * 2 + u] = (float)acc;
            }
        expect_close("output 2 = host pool + dense of output 1", y2, want, B * 2, 1e-5f, 1e-4f);
        free(pa);
    }

    /* Training: the branch feeds no loss, so three steps leave c1 and fc exactly as in the
     * net without it. */
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAM);
    o.lr = 0.01f;
    EXPECT_OK(ctx, vd_net_set_optimizer(a, &o));
    EXPECT_OK(ctx, vd_net_set_optimizer(b, &o));
    int32_t labels[B] = {0, 3, 1};
    for (int s = 0; s < 3; s++) {
        float la = 0, lb = 0;
        EXPECT_OK(ctx, vd_net_train_step(a, x, labels, NULL, B, &la));
        EXPECT_OK(ctx, vd_net_train_step(b, x, labels, NULL, B, &lb));
        expect_true("same loss with and without the branch", la == lb);
    }
    {
        size_t na = vd_net_param_count(a), nb = vd_net_param_count(b);
        float *pa = test_malloc(na * sizeof(float)), *pb = test_malloc(nb * sizeof(float));
        EXPECT_OK(ctx, vd_net_params_read(a, pa, na));
        EXPECT_OK(ctx, vd_net_params_read(b, pb, nb));
        size_t c1 = 3 * C * 9 + 3, fc = nb - c1;
        expect_equal_bytes("c1 trained as without the branch", pa, pb, c1 * sizeof(float));
        expect_equal_bytes("fc trained as without the branch", pa + na - fc, pb + c1,
                           fc * sizeof(float));
        free(pa);
        free(pb);
    }

    /* The network file and a checkpoint keep the outputs. */
    char *cfg = NULL;
    EXPECT_OK(ctx, vd_net_to_cfg(a, &cfg));
    expect_true("cfg lists the outputs", cfg && strstr(cfg, "outputs = c1, side\n"));
    vd_net *back = NULL;
    if (cfg && EXPECT_OK(ctx, vd_net_parse_cfg(ctx, cfg, "a.cfg", &back))) {
        expect_true("parsed back: 3 outputs", vd_net_output_count(back) == 3);
        vd_net_destroy(back);
    }
    free(cfg);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vd_outputs_%d.ckpt", (int)getpid());
    if (EXPECT_OK(ctx, vd_net_save(a, path, NULL))) {
        vd_net *l = NULL;
        if (EXPECT_OK(ctx, vd_net_load(ctx, path, B, &l, NULL))) {
            float z0[B * 4], z1[B * 75], z2[B * 2], *zo[3] = {z0, z1, z2};
            EXPECT_OK(ctx, vd_net_predict_outputs(a, x, B, outs));
            EXPECT_OK(ctx, vd_net_predict_outputs(l, x, B, zo));
            expect_equal_bytes("checkpoint: output 1", z1, y1, sizeof(z1));
            expect_equal_bytes("checkpoint: output 2", z2, y2, sizeof(z2));
            vd_net_destroy(l);
        }
        unlink(path);
    }

    /* ONNX: three graph outputs out, three net outputs back in. */
    snprintf(path, sizeof(path), "/tmp/vd_outputs_%d.onnx", (int)getpid());
    vd_status st = vd_net_save_onnx(a, path);
    if (st == VD_ERR_UNSUPPORTED) check_skip("ONNX round trip", "built without ONNX");
    else if (expect_status("export with three outputs", ctx, st, VD_OK)) {
        vd_net *l = NULL;
        if (EXPECT_OK(ctx, vd_net_load_onnx_batch(ctx, path, B, &l))) {
            expect_true("imported: 3 outputs", vd_net_output_count(l) == 3);
            float z0[B * 4], z1[B * 75], z2[B * 2], *zo[3] = {z0, z1, z2};
            EXPECT_OK(ctx, vd_net_predict_outputs(a, x, B, outs));
            if (vd_net_output_count(l) == 3 && EXPECT_OK(ctx, vd_net_predict_outputs(l, x, B, zo))) {
                expect_close("onnx: output 0", z0, y0, B * 4, 1e-6f, 1e-5f);
                expect_close("onnx: output 1", z1, y1, B * 75, 1e-6f, 1e-5f);
                expect_close("onnx: output 2", z2, y2, B * 2, 1e-6f, 1e-5f);
            }
            vd_net_destroy(l);
        }
        unlink(path);
    }
out:
    vd_net_destroy(a);
    vd_net_destroy(b);
}

static void bad_calls(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){4}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "a", "units=3"));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "b", "units=2"));
    expect_status("NULL name", ctx, vd_net_add_output(net, NULL), VD_ERR_INVALID_ARG);
    expect_status("NULL net", NULL, vd_net_add_output(NULL, "a"), VD_ERR_INVALID_ARG);
    EXPECT_OK(ctx, vd_net_add_output(net, "a"));
    expect_status("twice", ctx, vd_net_add_output(net, "a"), VD_ERR_INVALID_ARG);
    expect_true("twice: message", strstr(vd_last_error(ctx), "already output 1") != NULL);
    EXPECT_OK(ctx, vd_net_add_output(net, "zz"));
    expect_status("unknown layer at build", ctx, vd_net_build(net, 2), VD_ERR_INVALID_ARG);
    expect_true("names it", strstr(vd_last_error(ctx), "'zz'") != NULL);
    vd_net_destroy(net);

    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){4}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "a", "units=3"));
    for (int i = 1; i < VD_MAX_OUTPUTS; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "x%d", i);
        vd_net_add(net, "relu", nm, "input=a");
        EXPECT_OK(ctx, vd_net_add_output(net, nm));
    }
    expect_status("too many", ctx, vd_net_add_output(net, "a"), VD_ERR_INVALID_ARG);
    EXPECT_OK(ctx, vd_net_build(net, 2));
    expect_true("VD_MAX_OUTPUTS outputs", vd_net_output_count(net) == VD_MAX_OUTPUTS);
    expect_status("after build", ctx, vd_net_add_output(net, "a"), VD_ERR_STATE);
    expect_status("info out of range", ctx, vd_net_output_info(net, VD_MAX_OUTPUTS, NULL, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("info -1", ctx, vd_net_output_info(net, -1, NULL, NULL), VD_ERR_INVALID_ARG);
    float x[8] = {0}, y[16];
    float *outs[VD_MAX_OUTPUTS] = {y, y, NULL};
    expect_status("a NULL output array", ctx, vd_net_predict_outputs(net, x, 2, outs),
                  VD_ERR_INVALID_ARG);
    expect_status("no array", ctx, vd_net_predict_outputs(net, x, 2, NULL), VD_ERR_INVALID_ARG);
    vd_net_destroy(net);

    /* The network file: an unknown output layer names the file and the key. */
    const char *cfg = "[net]\ninput = 4\noutputs = a, nope\n[dense]\nname = a\nunits = 3\n"
                      "[dense]\nunits = 2\n";
    expect_status("cfg: unknown output", ctx, vd_net_parse_cfg(ctx, cfg, "o.cfg", &net),
                  VD_ERR_FORMAT);
    expect_true("cfg message", strstr(vd_last_error(ctx), "o.cfg: [net] outputs: no layer is named "
                                                          "'nope'") != NULL);
    const char *cfg2 = "[net]\ninput = 4\noutputs = a,,b\n[dense]\nname = a\nunits = 3\n";
    expect_status("cfg: empty name", ctx, vd_net_parse_cfg(ctx, cfg2, "o.cfg", &net),
                  VD_ERR_FORMAT);
    expect_true("cfg: empty name names the line", strstr(vd_last_error(ctx), "o.cfg:3:") != NULL);
}

int main(void)
{
    /* New buffers NaN-filled (as on Oclgrind), so that a backward pass run on the gradient
     * buffer no consumer wrote, the branch's, would poison the training comparison. */
    setenv("VERDANT_OCLGRIND_COMPAT", "1", 1);
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    outputs_and_training(ctx);
    bad_calls(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

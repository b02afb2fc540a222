/* test_onnx_export.c - vd_net_save_onnx: the written file, parsed back with protobuf-c (the
 * code generated from Debian's onnx.proto), holds the model version, opset, a symbolic
 * batch dimension, the nodes in layer order with their attributes, every layer output's
 * shape, and the weights bit for bit as vd_net_params_read returns them (batch-norm
 * running statistics as the layer keeps them). Bad inputs: NULL arguments, an unbuilt net,
 * an option ONNX cannot express (avgpool ceil-mode overhang), clashing tensor names and an
 * unwritable path return their documented status, name the culprit, and leave an
 * existing file at the path untouched. Numerical agreement with an ONNX runtime is
 * test_onnx_ort.sh's job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "net/net.h"
#include "onnx.pb-c.h"
#include "onnx/onnx_export.h"

static char dir[] = "/tmp/verdant-onnx-XXXXXX";

/* conv2d with groups, dilation and fused ReLU; batchnorm; maxpool whose ceil mode adds an
 * overhanging window; dropout; flatten; dense; softmax. */
static const char *const NET_CFG = "[net]\ninput = 4, 10, 10\nseed = 3\n"
                                   "[conv2d]\nname = c1\nfilters = 6\nkernel = 3\npad = 2\n"
                                   "dilation = 2\ngroups = 2\nrelu = 1\n"
                                   "[batchnorm]\nname = bn1\neps = 0.001\n"
                                   "[maxpool]\nname = mp\nkernel = 3\nstride = 2\nceil = 1\n"
                                   "[dropout]\nname = drop\np = 0.25\n"
                                   "[flatten]\nname = flat\n"
                                   "[dense]\nname = fc\nunits = 5\n"
                                   "[softmax]\nname = sm\n";

static vd_net *build(vd_context *ctx, const char *cfg, int32_t batch)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_parse_cfg(ctx, cfg, "test", &net))) return NULL;
    if (batch > 0 && !EXPECT_OK(ctx, vd_net_build(net, batch))) {
        vd_net_destroy(net);
        return NULL;
    }
    return net;
}

static Onnx__ModelProto *read_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = test_malloc((size_t)(n > 0 ? n : 1));
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    Onnx__ModelProto *m = got == (size_t)n ? onnx__model_proto__unpack(NULL, (size_t)n, buf) : NULL;
    free(buf);
    return m;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int expect_ints(const char *what, const Onnx__NodeProto *n, const char *name, size_t count,
                       const int64_t *want)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    bool ok = a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS && a->n_ints == count;
    for (size_t i = 0; ok && i < count; i++) ok = a->ints[i] == want[i];
    char label[160];
    snprintf(label, sizeof(label), "%s: %s.%s", what, n->name, name);
    return expect_true(label, ok);
}

static int expect_int(const Onnx__NodeProto *n, const char *name, int64_t want)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    char label[160];
    snprintf(label, sizeof(label), "%s.%s == %lld", n->name, name, (long long)want);
    return expect_true(label,
                       a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT && a->i == want);
}

static int expect_float(const Onnx__NodeProto *n, const char *name, float want)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    char label[160];
    snprintf(label, sizeof(label), "%s.%s == %g (bit for bit)", n->name, name, (double)want);
    return expect_true(label, a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT &&
                                  !memcmp(&a->f, &want, sizeof(float)));
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!strcmp(g->initializer[i]->name, name)) return g->initializer[i];
    return NULL;
}

/* A tensor type (N, d...) with N symbolic. */
static int expect_type(const char *what, const Onnx__ValueInfoProto *v, const char *name, size_t nd,
                       const int64_t *d)
{
    bool ok = v && !strcmp(v->name, name) && v->type &&
              v->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
              v->type->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
              v->type->tensor_type->shape && v->type->tensor_type->shape->n_dim == nd + 1;
    const Onnx__TensorShapeProto *s = ok ? v->type->tensor_type->shape : NULL;
    ok = ok && s->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
         !strcmp(s->dim[0]->dim_param, "N");
    for (size_t i = 0; ok && i < nd; i++)
        ok = s->dim[i + 1]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
             s->dim[i + 1]->dim_value == d[i];
    return expect_true(what, ok);
}

/* The initializer name holds exactly the floats want (little-endian raw data) with dims. */
static int expect_init(const Onnx__GraphProto *g, const char *name, size_t nd, const int64_t *dims,
                       const float *want, size_t n)
{
    const Onnx__TensorProto *t = find_init(g, name);
    char label[160];
    snprintf(label, sizeof(label), "initializer %s: float, dims, %zu values", name, n);
    bool ok = t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && t->n_dims == nd &&
              t->has_raw_data && t->raw_data.len == 4 * n;
    for (size_t i = 0; ok && i < nd; i++) ok = t->dims[i] == dims[i];
    if (!expect_true(label, ok)) return 0;
    float *got = test_malloc(4 * n + 4);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = t->raw_data.data + 4 * i;
        uint32_t u =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&got[i], &u, 4);
    }
    snprintf(label, sizeof(label), "initializer %s: values bit for bit", name);
    int r = expect_equal_bytes(label, got, want, 4 * n);
    free(got);
    return r;
}

static void test_structure(vd_context *ctx)
{
    vd_net *net = build(ctx, NET_CFG, 8);
    if (!net) return;
    /* Two training steps: the weights and the running statistics leave their initial
     * values, so a file holding fresh ones would not pass. */
    vd_optim_options opt;
    vd_optim_options_init(&opt, VD_OPTIM_ADAM);
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &opt));
    uint64_t rng = 9;
    float *x = test_malloc(8 * 400 * sizeof(float));
    int32_t labels[8];
    for (int s = 0; s < 2; s++) {
        test_fill_uniform(&rng, x, 8 * 400, -1.0f, 1.0f);
        for (int i = 0; i < 8; i++) labels[i] = (int32_t)test_rand_int(&rng, 0, 4);
        EXPECT_OK(ctx, vd_net_train_step(net, x, labels, NULL, 8, NULL));
    }
    free(x);
    char path[256];
    snprintf(path, sizeof(path), "%s/net.onnx", dir);
    if (!EXPECT_OK(ctx, vd_net_save_onnx(net, path))) goto done;
    Onnx__ModelProto *m = read_model(path);
    if (!expect_true("the file parses as an ONNX ModelProto", m != NULL)) goto done;
    expect_true("ir_version 8", m->has_ir_version && m->ir_version == 8);
    expect_true("one opset import: ai.onnx 17",
                m->n_opset_import == 1 &&
                    (!m->opset_import[0]->domain || !*m->opset_import[0]->domain) &&
                    m->opset_import[0]->version == 17);
    expect_true("producer verdant", m->producer_name && !strcmp(m->producer_name, "verdant"));
    const Onnx__GraphProto *g = m->graph;
    if (!expect_true("a graph with one input and one output",
                     g && g->n_input == 1 && g->n_output == 1))
        goto unpack_done;
    expect_type("input (N, 4, 10, 10)", g->input[0], "input", 3, (int64_t[]){4, 10, 10});
    expect_type("output sm (N, 5)", g->output[0], "sm", 1, (int64_t[]){5});

    /* Nodes in layer order, each layer's last node producing a tensor named after it. */
    static const char *const ops[] = {
        "Conv", "Relu", "BatchNormalization", "MaxPool", "Dropout", "Flatten", "Gemm", "Softmax"};
    static const char *const outs[] = {"c1/conv", "c1", "bn1", "mp", "drop", "flat", "fc", "sm"};
    bool order = g->n_node == 8;
    for (size_t i = 0; order && i < 8; i++)
        order = !strcmp(g->node[i]->op_type, ops[i]) && g->node[i]->n_output == 1 &&
                !strcmp(g->node[i]->output[0], outs[i]);
    if (!expect_true("nodes Conv Relu BatchNormalization MaxPool Dropout Flatten Gemm Softmax",
                     order))
        goto unpack_done;
    const Onnx__NodeProto *conv = g->node[0], *bn = g->node[2], *mp = g->node[3];
    const Onnx__NodeProto *gemm = g->node[6];
    expect_true("Conv inputs input, c1.weight, c1.bias",
                conv->n_input == 3 && !strcmp(conv->input[0], "input") &&
                    !strcmp(conv->input[1], "c1.weight") && !strcmp(conv->input[2], "c1.bias"));
    expect_ints("conv", conv, "kernel_shape", 2, (int64_t[]){3, 3});
    expect_ints("conv", conv, "strides", 2, (int64_t[]){1, 1});
    expect_ints("conv", conv, "pads", 4, (int64_t[]){2, 2, 2, 2});
    expect_ints("conv", conv, "dilations", 2, (int64_t[]){2, 2});
    expect_int(conv, "group", 2);
    expect_true("Relu reads c1/conv",
                g->node[1]->n_input == 1 && !strcmp(g->node[1]->input[0], "c1/conv"));
    expect_true("BatchNormalization inputs c1, scale, bias, running mean, running var",
                bn->n_input == 5 && !strcmp(bn->input[0], "c1") &&
                    !strcmp(bn->input[1], "bn1.weight") && !strcmp(bn->input[2], "bn1.bias") &&
                    !strcmp(bn->input[3], "bn1.running_mean") &&
                    !strcmp(bn->input[4], "bn1.running_var"));
    expect_float(bn, "epsilon", 0.001f);
    /* 10 -> ceil mode 5 windows of 3 at stride 2: the last one hangs 1 over the edge. */
    expect_ints("maxpool overhang as end padding", mp, "pads", 4, (int64_t[]){0, 0, 1, 1});
    expect_ints("maxpool", mp, "kernel_shape", 2, (int64_t[]){3, 3});
    expect_ints("maxpool", mp, "strides", 2, (int64_t[]){2, 2});
    expect_int(mp, "ceil_mode", 0);
    expect_int(gemm, "transB", 1);
    expect_int(g->node[5], "axis", 1);
    expect_int(g->node[7], "axis", 1);
    expect_true("Dropout has a ratio input", g->node[4]->n_input == 2);

    /* Value types of every layer output but the last (that one is the graph output). */
    static const int64_t shapes[][3] = {{6, 10, 10}, {6, 10, 10}, {6, 5, 5}, {6, 5, 5}, {150}, {5}};
    static const size_t nds[] = {3, 3, 3, 3, 1, 1};
    static const char *const names[] = {"c1", "bn1", "mp", "drop", "flat", "fc"};
    if (expect_true("value_info for 6 layer outputs", g->n_value_info == 6))
        for (int i = 0; i < 6; i++) {
            char what[64];
            snprintf(what, sizeof(what), "value_info %s", names[i]);
            expect_type(what, g->value_info[i], names[i], nds[i], shapes[i]);
        }

    /* Weights bit for bit, in vd_net_params_read's order. */
    size_t np = vd_net_param_count(net);
    float *p = test_malloc(np * sizeof(float));
    if (EXPECT_OK(ctx, vd_net_params_read(net, p, np))) {
        size_t at = 0;
        expect_init(g, "c1.weight", 4, (int64_t[]){6, 2, 3, 3}, p + at, 108), at += 108;
        expect_init(g, "c1.bias", 1, (int64_t[]){6}, p + at, 6), at += 6;
        expect_init(g, "bn1.weight", 1, (int64_t[]){6}, p + at, 6), at += 6;
        expect_init(g, "bn1.bias", 1, (int64_t[]){6}, p + at, 6), at += 6;
        expect_init(g, "fc.weight", 2, (int64_t[]){5, 150}, p + at, 750), at += 750;
        expect_init(g, "fc.bias", 1, (int64_t[]){5}, p + at, 5), at += 5;
        expect_true("every parameter checked", at == np);
    }
    free(p);
    float stats[12];
    vd_layer *bl = net->layers[1];
    if (EXPECT_OK(ctx, bl->ops->state_copy(bl, ctx, stats, true))) {
        expect_init(g, "bn1.running_mean", 1, (int64_t[]){6}, stats, 6);
        expect_init(g, "bn1.running_var", 1, (int64_t[]){6}, stats + 6, 6);
        expect_true("running variance moved by training", stats[6] != 1.0f);
    }
    const Onnx__TensorProto *ratio = find_init(g, "drop.ratio");
    float r = 0.0f;
    if (ratio && ratio->raw_data.len == 4) memcpy(&r, ratio->raw_data.data, 4);
    expect_true("dropout ratio 0.25, a scalar", ratio && ratio->n_dims == 0 && r == 0.25f);
    expect_true("no other initializers", g->n_initializer == 9);
unpack_done:
    onnx__model_proto__free_unpacked(m, NULL);
    /* A checkpoint of the net, loaded back, exports the same file byte for byte (the
     * running statistics come back from the checkpoint). */
    char ckpt[256], again[256];
    snprintf(ckpt, sizeof(ckpt), "%s/net.ckpt", dir);
    snprintf(again, sizeof(again), "%s/again.onnx", dir);
    vd_net *back = NULL;
    if (EXPECT_OK(ctx, vd_net_save(net, ckpt, NULL)) &&
        EXPECT_OK(ctx, vd_net_load(ctx, ckpt, 2, &back, NULL)) &&
        EXPECT_OK(ctx, vd_net_save_onnx(back, again))) {
        FILE *a = fopen(path, "rb"), *b = fopen(again, "rb");
        bool same = a && b;
        for (int ca = 0, cb = 0; same && ca != EOF;) {
            ca = fgetc(a);
            cb = fgetc(b);
            same = ca == cb;
        }
        if (a) fclose(a);
        if (b) fclose(b);
        expect_true("export after a checkpoint round trip is byte-identical", same);
    }
    vd_net_destroy(back);
done:
    vd_net_destroy(net);
}

static int file_is(const char *path, const char *text)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return n == strlen(text) && !memcmp(buf, text, n);
}

static int message_has(vd_context *ctx, const char *a, const char *b)
{
    const char *m = vd_last_error(ctx);
    int ok = strstr(m, a) && (!b || strstr(m, b));
    if (!ok) printf("  message was: %s\n", m);
    return ok;
}

/* layernorm axis=A exports as LayerNormalization axis A + 1, and imports back to the same
 * outputs; output=mean and dropout output=mask have no single-output ONNX form yet. */
static void test_layernorm_axis(vd_context *ctx)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/ln_axis.onnx", dir);
    vd_net *net = build(ctx,
                        "[net]\ninput = 2, 3, 4\nseed = 5\n[layernorm]\nname = ln\naxis = 1\n"
                        "eps = 0.001\n",
                        2);
    if (!net) return;
    Onnx__ModelProto *m = NULL;
    vd_net *back = NULL;
    float gb[24];
    uint64_t rng = 3;
    test_fill_uniform(&rng, gb, 24, 0.5f, 1.5f); /* gamma, beta not at their 1, 0 start */
    EXPECT_OK(ctx, vd_net_params_write(net, gb, 24));
    if (EXPECT_OK(ctx, vd_net_save_onnx(net, path)) &&
        expect_true("it parses", (m = read_model(path)) != NULL) &&
        expect_true("one LayerNormalization node",
                    m->graph->n_node == 1 &&
                        !strcmp(m->graph->node[0]->op_type, "LayerNormalization"))) {
        expect_int(m->graph->node[0], "axis", 2);
        expect_float(m->graph->node[0], "epsilon", 0.001f);
        expect_init(m->graph, "ln.weight", 2, (int64_t[]){3, 4}, gb, 12);
    }
    if (EXPECT_OK(ctx, vd_net_load_onnx_batch(ctx, path, 2, &back))) {
        float x[48], y0[48], y1[48];
        test_fill_uniform(&rng, x, 48, -2, 3);
        EXPECT_OK(ctx, vd_net_predict(net, x, 2, y0));
        EXPECT_OK(ctx, vd_net_predict(back, x, 2, y1));
        expect_equal_bytes("layernorm axis=1: export, import, same outputs", y1, y0, sizeof(y0));
    }
    if (m) onnx__model_proto__free_unpacked(m, NULL);
    vd_net_destroy(back);
    vd_net_destroy(net);
    net = build(ctx, "[net]\ninput = 2, 3, 4\n[layernorm]\nname = st\noutput = mean\n", 2);
    if (net) {
        expect_status("layernorm output=mean", ctx, vd_net_save_onnx(net, path),
                      VD_ERR_UNSUPPORTED);
        expect_true("the refusal names the option",
                    message_has(ctx, "layer 'st' (layernorm): option 'output' = mean", NULL));
        vd_net_destroy(net);
    }
    net = build(ctx, "[net]\ninput = 6\n[dropout]\nname = dm\noutput = mask\n", 2);
    if (net) {
        expect_status("dropout output=mask", ctx, vd_net_save_onnx(net, path), VD_ERR_UNSUPPORTED);
        expect_true("the refusal names the option",
                    message_has(ctx, "layer 'dm' (dropout): option 'output' = mask", NULL));
        vd_net_destroy(net);
    }
}

static void test_bad_inputs(vd_context *ctx)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/keep.onnx", dir);
    FILE *f = fopen(path, "wb");
    if (f) fputs("previous", f), fclose(f);

    expect_status("NULL net", NULL, vd_net_save_onnx(NULL, path), VD_ERR_INVALID_ARG);
    vd_net *net = build(ctx, NET_CFG, 0);
    if (net) {
        expect_status("unbuilt net", ctx, vd_net_save_onnx(net, path), VD_ERR_STATE);
        EXPECT_OK(ctx, vd_net_build(net, 4));
        expect_status("NULL path", ctx, vd_net_save_onnx(net, NULL), VD_ERR_INVALID_ARG);
        char bad[300];
        snprintf(bad, sizeof(bad), "%s/no-such-dir/net.onnx", dir);
        expect_status("unwritable path", ctx, vd_net_save_onnx(net, bad), VD_ERR_IO);
        expect_true("the IO error names the file", message_has(ctx, "no-such-dir/net.onnx", NULL));
        vd_net_destroy(net);
    }

    /* avgpool in ceil mode with padding and an overhanging window (10 + 2 -> 6 windows of 3
     * at stride 2): Verdant's divisor has no ONNX form. */
    net = build(ctx,
                "[net]\ninput = 1, 10, 10\n[avgpool]\nname = ap\nkernel = 3\nstride = 2\n"
                "pad = 1\nceil = 1\n[flatten]\n",
                4);
    if (net) {
        expect_status("avgpool ceil overhang", ctx, vd_net_save_onnx(net, path),
                      VD_ERR_UNSUPPORTED);
        expect_true("the refusal names the layer and the option",
                    message_has(ctx, "layer 'ap' (avgpool): option 'ceil' = 1", "'pad' = 1"));
        vd_net_destroy(net);
    }
    /* Without padding the overhang is count_include_pad 0 with explicit end padding. */
    net = build(ctx,
                "[net]\ninput = 1, 10, 10\n[avgpool]\nname = ap\nkernel = 3\nstride = 2\n"
                "ceil = 1\n",
                4);
    if (net) {
        char ok_path[256];
        snprintf(ok_path, sizeof(ok_path), "%s/ceil_nopad.onnx", dir);
        Onnx__ModelProto *m = NULL;
        if (EXPECT_OK(ctx, vd_net_save_onnx(net, ok_path)) &&
            expect_true("it parses", (m = read_model(ok_path)) != NULL) &&
            expect_true("one AveragePool node", m->graph->n_node == 1)) {
            const Onnx__NodeProto *n = m->graph->node[0];
            expect_ints("avgpool overhang without padding", n, "pads", 4, (int64_t[]){0, 0, 1, 1});
            expect_int(n, "count_include_pad", 0);
            expect_int(n, "ceil_mode", 0);
        }
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        vd_net_destroy(net);
    }
    /* The same in ceil mode without an overhang (9 = 2*3 + 3) exports. */
    net = build(ctx,
                "[net]\ninput = 1, 9, 9\n[avgpool]\nname = ap\nkernel = 3\nstride = 3\n"
                "ceil = 1\n[flatten]\n",
                4);
    if (net) {
        char ok_path[256];
        snprintf(ok_path, sizeof(ok_path), "%s/ceil_ok.onnx", dir);
        EXPECT_OK(ctx, vd_net_save_onnx(net, ok_path));
        vd_net_destroy(net);
    }
    /* A layer named like a tensor the export derives from another one. */
    net = build(ctx,
                "[net]\ninput = 1, 6, 6\n[conv2d]\nname = c\nfilters = 2\nrelu = 1\n"
                "[relu]\nname = c/conv\n",
                2);
    if (net) {
        expect_status("clashing tensor names", ctx, vd_net_save_onnx(net, path),
                      VD_ERR_UNSUPPORTED);
        expect_true("the clash names the tensor", message_has(ctx, "'c/conv'", NULL));
        vd_net_destroy(net);
    }
    /* Over protobuf's 2 GiB message limit (here lowered to 1 KiB): refused with the size. */
    net = build(ctx, "[net]\ninput = 1, 8, 8\n[flatten]\n[dense]\nname = fc\nunits = 64\n", 2);
    if (net) {
        vd_onnx_export_set_size_limit(1024);
        expect_status("model over the size limit", ctx, vd_net_save_onnx(net, path),
                      VD_ERR_UNSUPPORTED);
        expect_true("the refusal gives the size and the limit",
                    message_has(ctx, "over the 1024-byte limit", "4160 parameters"));
        vd_onnx_export_set_size_limit(0);
        char ok_path[256];
        snprintf(ok_path, sizeof(ok_path), "%s/limit_ok.onnx", dir);
        EXPECT_OK(ctx, vd_net_save_onnx(net, ok_path));
        vd_net_destroy(net);
    }
    expect_true("failed exports left the existing file alone", file_is(path, "previous"));
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    expect_true("no temporary file left behind", access(tmp, F_OK) != 0);
}

/* The pools' per-side padding, dilation and count_pad as ONNX attributes, and deconv2d's
 * negative output_pad as end pads; a dilated avgpool and maxpool indices=1 are refused
 * with what is missing. */
static void test_pool_options(vd_context *ctx)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/pool_opts.onnx", dir);
    vd_net *net = build(ctx,
                        "[net]\ninput = 2, 9, 10\n"
                        "[maxpool]\nname = mp\nkernel_h = 3\nkernel_w = 2\nstride = 2\n"
                        "pad_top = 0\npad_left = 1\npad_bottom = 2\npad_right = 0\n"
                        "dilation_w = 3\n"
                        "[avgpool]\nname = ap\nkernel = 3\nstride = 1\npad_top = 2\n"
                        "pad_left = 0\npad_bottom = 1\npad_right = 2\ncount_pad = 0\n",
                        2);
    if (net) {
        Onnx__ModelProto *m = NULL;
        if (EXPECT_OK(ctx, vd_net_save_onnx(net, path)) &&
            expect_true("it parses", (m = read_model(path)) != NULL) &&
            expect_true("MaxPool and AveragePool", m->graph->n_node == 2)) {
            const Onnx__NodeProto *mp = m->graph->node[0], *ap = m->graph->node[1];
            expect_ints("maxpool kernel", mp, "kernel_shape", 2, (int64_t[]){3, 2});
            expect_ints("maxpool per-side pads", mp, "pads", 4, (int64_t[]){0, 1, 2, 0});
            expect_ints("maxpool dilations", mp, "dilations", 2, (int64_t[]){1, 3});
            expect_ints("avgpool per-side pads", ap, "pads", 4, (int64_t[]){2, 0, 1, 2});
            expect_int(ap, "count_include_pad", 0);
        }
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        vd_net_destroy(net);
    }
    /* deconv2d's negative output_pad: the bottom/right cropped more (end pads) */
    net = build(ctx,
                "[net]\ninput = 2, 4, 5\n[deconv2d]\nname = up\nfilters = 3\nkernel = 3\n"
                "stride = 2\npad = 1\noutput_pad = -1\n",
                2);
    if (net) {
        Onnx__ModelProto *m = NULL;
        if (EXPECT_OK(ctx, vd_net_save_onnx(net, path)) &&
            expect_true("it parses", (m = read_model(path)) != NULL) &&
            expect_true("one ConvTranspose", m->graph->n_node == 1)) {
            const Onnx__NodeProto *n = m->graph->node[0];
            expect_ints("deconv2d output_pad -1 as end pads", n, "pads", 4,
                        (int64_t[]){1, 1, 2, 2});
            expect_ints("deconv2d output_pad -1: output_padding 0", n, "output_padding", 2,
                        (int64_t[]){0, 0});
        }
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        vd_net_destroy(net);
    }
    net = build(ctx, "[net]\ninput = 1, 8, 8\n[avgpool]\nname = ap\nkernel = 2\ndilation = 2\n", 2);
    if (net) {
        expect_status("dilated avgpool", ctx, vd_net_save_onnx(net, path), VD_ERR_UNSUPPORTED);
        expect_true("the refusal names the layer and the opset",
                    message_has(ctx, "layer 'ap' (avgpool): dilation 2, 2", "opset 19"));
        vd_net_destroy(net);
    }
    net = build(ctx, "[net]\ninput = 1, 8, 8\n[maxpool]\nname = mp\nkernel = 2\nindices = 1\n", 2);
    if (net) {
        expect_status("maxpool indices=1", ctx, vd_net_save_onnx(net, path), VD_ERR_UNSUPPORTED);
        expect_true("the refusal names the layer and the option",
                    message_has(ctx, "layer 'mp' (maxpool): option 'indices' = 1", "Indices"));
        vd_net_destroy(net);
    }
}

/* transpose and dense per_row=1: Transpose perm (0, perm + 1), MatMul with the transposed
 * weight, Add of the bias; imported back, the same predictions (the importer maps
 * Transpose to transpose and MatMul on a rank-3 activation to dense per_row=1). */
static const char *const TP_CFG = "[net]\ninput = 3, 6\nseed = 5\nloss = mse\n"
                                  "[transpose]\nname = t\nperm = 1,0\n"
                                  "[dense]\nname = fc\nunits = 4\nper_row = 1\n"
                                  "[dense]\nname = fc2\nunits = 2\nper_row = 1\nbias = 0\n";

static void test_transpose_per_row(vd_context *ctx)
{
    vd_net *net = build(ctx, TP_CFG, 3), *back = NULL;
    if (!net) return;
    char path[256];
    snprintf(path, sizeof(path), "%s/tp.onnx", dir);
    Onnx__ModelProto *m = NULL;
    if (!EXPECT_OK(ctx, vd_net_save_onnx(net, path))) goto done;
    m = read_model(path);
    if (!expect_true("tp: the file parses", m != NULL)) goto done;
    const Onnx__GraphProto *g = m->graph;
    static const char *const ops[] = {"Transpose", "MatMul", "Add", "MatMul"};
    static const char *const outs[] = {"t", "fc/matmul", "fc", "fc2"};
    bool order = g->n_node == 4;
    for (size_t i = 0; order && i < 4; i++)
        order = !strcmp(g->node[i]->op_type, ops[i]) && !strcmp(g->node[i]->output[0], outs[i]);
    if (!expect_true("tp: nodes Transpose MatMul Add MatMul", order)) goto done;
    expect_ints("transpose", g->node[0], "perm", 3, (int64_t[]){0, 2, 1});
    expect_true("MatMul inputs t, fc.weight_t",
                g->node[1]->n_input == 2 && !strcmp(g->node[1]->input[0], "t") &&
                    !strcmp(g->node[1]->input[1], "fc.weight_t"));
    expect_true("Add inputs fc/matmul, fc.bias",
                g->node[2]->n_input == 2 && !strcmp(g->node[2]->input[1], "fc.bias"));
    expect_type("output fc2 (N, 6, 2)", g->output[0], "fc2", 2, (int64_t[]){6, 2});
    float p[4 * 3 + 4 + 2 * 4], wt[12];
    if (EXPECT_OK(ctx, vd_net_params_read(net, p, 24))) {
        for (int u = 0; u < 4; u++)
            for (int k = 0; k < 3; k++) wt[k * 4 + u] = p[u * 3 + k];
        expect_init(g, "fc.weight_t", 2, (int64_t[]){3, 4}, wt, 12);
        expect_init(g, "fc.bias", 1, (int64_t[]){4}, p + 12, 4);
    }
    if (EXPECT_OK(ctx, vd_net_load_onnx_batch(ctx, path, 3, &back))) {
        float x[54], a[36], b[36];
        uint64_t rng = 4;
        test_fill_uniform(&rng, x, 54, -1.0f, 1.0f);
        expect_true("tp: imported output size", vd_net_output_size(back) == 12);
        EXPECT_OK(ctx, vd_net_predict(net, x, 3, a));
        EXPECT_OK(ctx, vd_net_predict(back, x, 3, b));
        expect_close("tp: exported then imported, the same predictions", b, a, 36, 1e-6f, 1e-6f);
    }
done:
    if (m) onnx__model_proto__free_unpacked(m, NULL);
    vd_net_destroy(net);
    vd_net_destroy(back);
}

int main(void)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    if (!mkdtemp(dir)) return expect_true("mkdtemp", false), check_summary();
    test_structure(ctx);
    test_transpose_per_row(ctx);
    test_bad_inputs(ctx);
    test_layernorm_axis(ctx);
    test_pool_options(ctx);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    vd_context_destroy(ctx);
    return check_summary();
}

/* test_onnx_import.c - the ONNX importer (src/onnx/onnx_import.c) on models built here with
 * the generated protobuf-c code: a small network whose outputs are checked against a host
 * computation, bias fusion, constant folding, and every bad input the importer refuses
 * (truncated file, oversized file, unknown op, unknown or unsupported attribute, wrong
 * initializer size, a cycle, a missing input, two data inputs, an unsupported opset),
 * each with the message naming what is wrong. The node-test conformance run is
 * test_onnx_conformance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "onnx.pb-c.h"
#include "net/net.h"
#include "onnx/onnx_import.h"
#include "ref_cnn.h"

/* ------------------------------------------------------------------ model builder */

#define MAXN 80
typedef struct mb {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto os, *osp[1];
    Onnx__NodeProto node[MAXN], *nodep[MAXN];
    char *nin[MAXN][4], *nout[MAXN][3];
    Onnx__AttributeProto attr[MAXN][6], *attrp[MAXN][6];
    Onnx__TensorProto init[MAXN], *initp[MAXN];
    Onnx__ValueInfoProto vi[6], *inp[3], *outp[3];
    Onnx__TypeProto tp[6];
    Onnx__TypeProto__Tensor tt[6];
    Onnx__TensorShapeProto sh[6];
    Onnx__TensorShapeProto__Dimension dim[6][4], *dimp[6][4];
    int nvi;
} mb;

static void mb_init(mb *b, int64_t opset)
{
    memset(b, 0, sizeof(*b));
    b->m = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->os = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    b->os.domain = (char *)"";
    b->os.has_version = 1;
    b->os.version = opset;
    b->osp[0] = &b->os;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->osp;
    b->g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    b->g.name = (char *)"test";
    b->g.node = b->nodep;
    b->g.initializer = b->initp;
    b->g.input = b->inp;
    b->g.output = b->outp;
    b->m.graph = &b->g;
}

static Onnx__ValueInfoProto *mb_vi(mb *b, const char *name, int r, const int64_t *d)
{
    int k = b->nvi++;
    Onnx__ValueInfoProto *v = &b->vi[k];
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    v->name = (char *)name;
    b->tp[k] = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    b->tt[k] = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    b->tt[k].has_elem_type = 1;
    b->tt[k].elem_type = 1;
    b->sh[k] = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int j = 0; j < r; j++) {
        Onnx__TensorShapeProto__Dimension *dm = &b->dim[k][j];
        *dm = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (d[j] < 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = (char *)"N";
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = d[j];
        }
        b->dimp[k][j] = dm;
    }
    b->sh[k].n_dim = (size_t)r;
    b->sh[k].dim = b->dimp[k];
    b->tt[k].shape = &b->sh[k];
    b->tp[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->tp[k].tensor_type = &b->tt[k];
    v->type = &b->tp[k];
    return v;
}

static void mb_input(mb *b, const char *name, int r, const int64_t *d)
{
    b->inp[b->g.n_input++] = mb_vi(b, name, r, d);
}

static void mb_output(mb *b, const char *name)
{
    b->outp[b->g.n_output++] = mb_vi(b, name, 0, NULL);
}

static void mb_tensor(mb *b, const char *name, int r, const int64_t *d, const float *f, size_t n)
{
    Onnx__TensorProto *t = &b->init[b->g.n_initializer];
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->n_dims = (size_t)r;
    t->dims = (int64_t *)d;
    t->has_data_type = 1;
    t->data_type = 1;
    t->n_float_data = n;
    t->float_data = (float *)f;
    b->initp[b->g.n_initializer++] = t;
}

static void mb_int64(mb *b, const char *name, const int64_t *d1, const int64_t *v, size_t n)
{
    Onnx__TensorProto *t = &b->init[b->g.n_initializer];
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->n_dims = 1;
    t->dims = (int64_t *)d1;
    t->has_data_type = 1;
    t->data_type = 7;
    t->n_int64_data = n;
    t->int64_data = (int64_t *)v;
    b->initp[b->g.n_initializer++] = t;
}

/* A scalar bool initializer: one raw byte, or (raw false) in int32_data as ONNX allows. */
static void mb_bool(mb *b, const char *name, bool v, bool raw)
{
    static uint8_t bytes[2] = {0, 1};
    static int32_t ints[2] = {0, 1};
    Onnx__TensorProto *t = &b->init[b->g.n_initializer];
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.len = 1;
        t->raw_data.data = &bytes[v];
    } else {
        t->n_int32_data = 1;
        t->int32_data = &ints[v];
    }
    b->initp[b->g.n_initializer++] = t;
}

/* Inputs: up to 3 names (NULL ends); one output. Returns the node index. */
static int mb_node(mb *b, const char *op, const char *name, const char *in0, const char *in1,
                   const char *in2, const char *out)
{
    int k = (int)b->g.n_node++;
    Onnx__NodeProto *n = &b->node[k];
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = (char *)op;
    n->name = (char *)name;
    const char *ins[3] = {in0, in1, in2};
    for (int j = 0; j < 3 && ins[j]; j++) b->nin[k][n->n_input++] = (char *)ins[j];
    n->input = b->nin[k];
    b->nout[k][0] = (char *)out;
    n->n_output = 1;
    n->output = b->nout[k];
    n->attribute = b->attrp[k];
    b->nodep[k] = n;
    return k;
}

static Onnx__AttributeProto *mb_attr(mb *b, int node, const char *name)
{
    Onnx__NodeProto *n = &b->node[node];
    Onnx__AttributeProto *a = &b->attr[node][n->n_attribute];
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    b->attrp[node][n->n_attribute++] = a;
    return a;
}

static void mb_attr_i(mb *b, int node, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = mb_attr(b, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void mb_attr_f(mb *b, int node, const char *name, float v)
{
    Onnx__AttributeProto *a = mb_attr(b, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static void mb_attr_ints(mb *b, int node, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = mb_attr(b, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = n;
    a->ints = (int64_t *)v;
}

static void mb_attr_s(mb *b, int node, const char *name, const char *s)
{
    Onnx__AttributeProto *a = mb_attr(b, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.len = strlen(s);
    a->s.data = (uint8_t *)s;
}

static uint8_t *mb_pack(mb *b, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = test_malloc(*len ? *len : 1);
    onnx__model_proto__pack(&b->m, buf);
    return buf;
}

/* ------------------------------------------------------------------ helpers */

static vd_status import(vd_context *ctx, mb *b, int32_t max_batch, vd_net **net)
{
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    vd_onnx_options o;
    vd_onnx_options_init(&o);
    o.max_batch = max_batch;
    vd_status st = vd_onnx_import_mem(ctx, buf, len, "t.onnx", &o, net);
    free(buf);
    return st;
}

/* With the whole input tensor as one sample (batch 1). */
static vd_status import_whole(vd_context *ctx, mb *b, vd_net **net)
{
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    vd_onnx_options o;
    vd_onnx_options_init(&o);
    o.whole_tensor = true;
    vd_status st = vd_onnx_import_mem(ctx, buf, len, "t.onnx", &o, net);
    free(buf);
    return st;
}

/* The import must fail with want and a message holding every one of the words. */
static void expect_refused(vd_context *ctx, const char *what, mb *b, vd_status want,
                           const char *w1, const char *w2, const char *w3)
{
    vd_net *net = NULL;
    vd_status st = import(ctx, b, 4, &net);
    expect_status(what, ctx, st, want);
    const char *msg = vd_last_error(ctx);
    const char *words[3] = {w1, w2, w3};
    for (int k = 0; k < 3; k++)
        if (words[k]) {
            char label[256];
            snprintf(label, sizeof(label), "%s: message names '%s'", what, words[k]);
            if (!expect_true(label, strstr(msg, words[k]) != NULL)) printf("  message: %s\n", msg);
        }
    vd_net_destroy(net);
}

static const int64_t in_2x4[2] = {-1, 4};
static const float W34[12] = {0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 0, -2, 0.75f, 0.1f, 3};
static const float B3[3] = {0.1f, -0.2f, 0.3f};
static const int64_t d34[2] = {3, 4}, d43[2] = {4, 3}, d3[1] = {3};

/* x (N, 4) -> Gemm(W (3, 4), transB) -> Relu: against the host. */
static void test_gemm_relu(vd_context *ctx)
{
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    mb_tensor(&b, "W", 2, d34, W34, 12);
    mb_tensor(&b, "B", 1, d3, B3, 3);
    int g = mb_node(&b, "Gemm", "fc", "x", "W", "B", "h");
    mb_attr_i(&b, g, "transB", 1);
    mb_node(&b, "Relu", "act", "h", NULL, NULL, "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 4, &net))) return;
    float x[8] = {1, 2, 3, 4, -1, 0.5f, 2, -3}, y[6], want[6];
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 3; j++) {
            float s = B3[j];
            for (int k = 0; k < 4; k++) s += x[n * 4 + k] * W34[j * 4 + k];
            want[n * 3 + j] = s > 0 ? s : 0;
        }
    EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
    expect_close("Gemm+Relu outputs", y, want, 6, 1e-5f, 1e-5f);
    vd_net_destroy(net);
}

/* MatMul (K, N) + Add (N): one dense layer with a bias; the Reshape's shape is folded from
 * a Constant node and a Concat of constants. */
static void test_matmul_bias_fold(vd_context *ctx)
{
    static const int64_t in3[3] = {-1, 2, 2}, one[1] = {1}, two[1] = {2}, m1[1] = {-1},
                         four[1] = {4};
    static float W43[12];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++) W43[k * 3 + j] = W34[j * 4 + k];
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 3, in3);
    mb_int64(&b, "s0", one, m1, 1);
    int c = mb_node(&b, "Constant", "c", NULL, NULL, NULL, "s1");
    mb_attr_ints(&b, c, "value_ints", four, 1);
    int cc = mb_node(&b, "Concat", "cat", "s0", "s1", NULL, "shape");
    mb_attr_i(&b, cc, "axis", 0);
    mb_node(&b, "Reshape", "flat", "x", "shape", NULL, "xf");
    mb_tensor(&b, "W", 2, d43, W43, 12);
    mb_tensor(&b, "B", 1, d3, B3, 3);
    mb_node(&b, "MatMul", "mm", "xf", "W", NULL, "h");
    mb_node(&b, "Add", "bias", "h", "B", NULL, "y");
    mb_output(&b, "y");
    (void)two;
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 2, &net))) return;
    expect_true("MatMul+Add is one dense layer with a bias (2 layers: flatten, dense)",
                net->n_layers == 2 && !strcmp(net->layers[1]->ops->type, "dense") &&
                    net->layers[1]->n_params == 2);
    float x[4] = {1, -2, 0.5f, 3}, y[3], want[3];
    for (int j = 0; j < 3; j++) {
        want[j] = B3[j];
        for (int k = 0; k < 4; k++) want[j] += x[k] * W34[j * 4 + k];
    }
    EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
    expect_close("MatMul+Add outputs", y, want, 3, 1e-5f, 1e-5f);
    vd_net_destroy(net);
}

/* h = MatMul(x, W) is read twice (through an Identity by a constant Add, directly by an
 * Add of activations): the constant must not be fused into the dense layer's bias, which
 * would change what the second reader sees (2 xW + 2 B instead of 2 xW + B); it becomes a
 * constant layer and an add. */
static void test_no_unsafe_bias_fusion(vd_context *ctx)
{
    static float W43[12];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++) W43[k * 3 + j] = W34[j * 4 + k];
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    mb_tensor(&b, "W", 2, d43, W43, 12);
    mb_tensor(&b, "B", 1, d3, B3, 3);
    mb_node(&b, "MatMul", "mm", "x", "W", NULL, "h");
    mb_node(&b, "Identity", "id", "h", NULL, NULL, "h2");
    mb_node(&b, "Add", "bias", "h2", "B", NULL, "hb");
    mb_node(&b, "Add", "sum", "hb", "h", NULL, "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 2, &net))) return;
    bool has_const = false, dense_no_bias = false;
    for (int32_t i = 0; i < net->n_layers; i++) {
        has_const |= !strcmp(net->layers[i]->ops->type, "constant");
        if (!strcmp(net->layers[i]->ops->type, "dense"))
            dense_no_bias = net->layers[i]->n_params == 1;
    }
    expect_true("shared MatMul output: the dense layer keeps no bias", dense_no_bias);
    expect_true("shared MatMul output: the constant is a constant layer", has_const);
    float x[8] = {1, -2, 0.5f, 3, -1, 0.25f, 2, -0.5f}, y[6], want[6];
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 3; j++) {
            float h = 0;
            for (int k = 0; k < 4; k++) h += x[n * 4 + k] * W34[j * 4 + k];
            want[n * 3 + j] = (h + B3[j]) + h;
        }
    EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
    expect_close("shared MatMul output: (xW + B) + xW", y, want, 6, 1e-5f, 1e-5f);
    vd_net_destroy(net);
}

/* Conv with groups = 2, dilation 2, auto_pad SAME_UPPER (total padding 4: 2 a side) and a
 * bias, then a fused Relu, against a direct host convolution. */
static void test_conv_groups_dilation(vd_context *ctx)
{
    enum { N = 2, C = 4, H = 7, W = 6, M = 6, G = 2, K = 3, D = 2 };
    static const int64_t in4[4] = {-1, C, H, W}, dw[4] = {M, C / G, K, K}, db[1] = {M},
                         dil[2] = {D, D};
    static float w[M * (C / G) * K * K], bias[M];
    uint64_t rng = 11;
    test_fill_uniform(&rng, w, sizeof(w) / sizeof(w[0]), -0.5f, 0.5f);
    test_fill_uniform(&rng, bias, M, -0.2f, 0.2f);
    mb b;
    mb_init(&b, 11);
    mb_input(&b, "x", 4, in4);
    mb_tensor(&b, "W", 4, dw, w, sizeof(w) / sizeof(w[0]));
    mb_tensor(&b, "B", 1, db, bias, M);
    int cv = mb_node(&b, "Conv", "conv", "x", "W", "B", "c");
    mb_attr_i(&b, cv, "group", G);
    mb_attr_ints(&b, cv, "dilations", dil, 2);
    mb_attr_s(&b, cv, "auto_pad", "SAME_UPPER");
    mb_node(&b, "Relu", "relu", "c", NULL, NULL, "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, N, &net))) return;
    expect_true("Conv+Relu is one conv2d layer", net->n_layers == 1);
    float *x = test_malloc(N * C * H * W * sizeof(float));
    float *y = test_malloc(N * M * H * W * sizeof(float));
    float *want = test_malloc(N * M * H * W * sizeof(float));
    test_fill_uniform(&rng, x, N * C * H * W, -1, 1);
    int cg = C / G, mg = M / G, pad = D * (K - 1) / 2;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = bias[m];
                    int g = m / mg;
                    for (int c = 0; c < cg; c++)
                        for (int r = 0; r < K; r++)
                            for (int q = 0; q < K; q++) {
                                int ii = i - pad + r * D, jj = j - pad + q * D;
                                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                                s += (double)x[((n * C + g * cg + c) * H + ii) * W + jj] *
                                     w[((m * cg + c) * K + r) * K + q];
                            }
                    want[((n * M + m) * H + i) * W + j] = s > 0 ? (float)s : 0.0f;
                }
    EXPECT_OK(ctx, vd_net_predict(net, x, N, y));
    expect_close("Conv groups=2 dilation=2 SAME_UPPER + Relu", y, want, N * M * H * W, 1e-5f,
                 1e-4f);
    free(x);
    free(y);
    free(want);
    vd_net_destroy(net);
}

/* 61 Identity nodes before a Conv: the Conv's output is the 65th value, so the value table
 * grows while the Conv's weight is being read (a use-after-free under ASan before the fix). */
static void test_value_table_growth(vd_context *ctx)
{
    static const int64_t in4[4] = {-1, 2, 3, 3}, dw[4] = {1, 2, 1, 1}, db[1] = {1};
    static const float w[2] = {2.0f, -1.0f}, bias[1] = {0.5f};
    static char names[62][8];
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 4, in4);
    mb_tensor(&b, "W", 4, dw, w, 2);
    mb_tensor(&b, "B", 1, db, bias, 1);
    snprintf(names[0], sizeof names[0], "x");
    for (int k = 1; k <= 61; k++) {
        snprintf(names[k], sizeof names[k], "i%d", k);
        mb_node(&b, "Identity", NULL, names[k - 1], NULL, NULL, names[k]);
    }
    mb_node(&b, "Conv", "conv", names[61], "W", "B", "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 1, &net))) return;
    float x[18], y[9], want[9];
    for (int k = 0; k < 18; k++) x[k] = (float)k * 0.25f - 2.0f;
    for (int k = 0; k < 9; k++) want[k] = 2.0f * x[k] - x[9 + k] + 0.5f;
    EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
    expect_close("Conv after 61 Identity nodes", y, want, 9, 1e-6f, 1e-6f);
    vd_net_destroy(net);
}

/* A 1-D Conv (N, C, L) -> (N, M, L') imports as reshape, conv2d over (C, 1, L), reshape;
 * stride 2, pads (1, 1), against the host. */
static void test_conv1d(vd_context *ctx)
{
    enum { N = 2, C = 2, L = 9, M = 3, K = 3, S = 2, P = 1, LO = (L + 2 * P - K) / S + 1 };
    static const int64_t in3[3] = {-1, C, L}, dw[3] = {M, C, K}, st[1] = {S}, pads[2] = {P, P};
    static float w[M * C * K];
    uint64_t rng = 5;
    test_fill_uniform(&rng, w, M * C * K, -1, 1);
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 3, in3);
    mb_tensor(&b, "W", 3, dw, w, M * C * K);
    int cv = mb_node(&b, "Conv", "conv1d", "x", "W", NULL, "y");
    mb_attr_ints(&b, cv, "strides", st, 1);
    mb_attr_ints(&b, cv, "pads", pads, 2);
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, N, &net))) return;
    float x[N * C * L], y[N * M * LO], want[N * M * LO];
    test_fill_uniform(&rng, x, N * C * L, -1, 1);
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
            for (int o = 0; o < LO; o++) {
                double acc = 0;
                for (int c = 0; c < C; c++)
                    for (int k = 0; k < K; k++) {
                        int i = o * S - P + k;
                        if (i >= 0 && i < L) acc += (double)x[(n * C + c) * L + i] * w[(m * C + c) * K + k];
                    }
                want[(n * M + m) * LO + o] = (float)acc;
            }
    EXPECT_OK(ctx, vd_net_predict(net, x, N, y));
    expect_close("1-D Conv outputs", y, want, N * M * LO, 1e-5f, 1e-5f);
    vd_net_destroy(net);
}

/* Whole-tensor Gemm: A (K=4, M=2) with transA=1, B (3, 4) with transB=1, alpha 0.5,
 * beta 2, C (1, 3): a transpose (perm=1,0) and a dense per_row=1 with alpha, beta folded
 * into its weight and bias. */
static void test_gemm_trans_a(vd_context *ctx)
{
    static const int64_t a42[2] = {4, 2}, c13[2] = {1, 3};
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "a", 2, a42);
    mb_tensor(&b, "W", 2, d34, W34, 12);
    mb_tensor(&b, "C", 2, c13, B3, 3);
    int g = mb_node(&b, "Gemm", "fc", "a", "W", "C", "y");
    mb_attr_i(&b, g, "transA", 1);
    mb_attr_i(&b, g, "transB", 1);
    mb_attr_f(&b, g, "alpha", 0.5f);
    mb_attr_f(&b, g, "beta", 2.0f);
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import_whole(ctx, &b, &net))) return;
    expect_true("Gemm transA=1: transpose + dense per_row=1",
                net->n_layers == 2 && !strcmp(net->layers[0]->ops->type, "transpose") &&
                    !strcmp(net->layers[1]->ops->type, "dense"));
    float a[8] = {1, 2, -1, 0.5f, 3, -2, 0.25f, 4}, y[6], want[6];
    for (int m = 0; m < 2; m++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += (double)a[k * 2 + m] * W34[j * 4 + k];
            want[m * 3 + j] = (float)(0.5 * s + 2.0 * B3[j]);
        }
    EXPECT_OK(ctx, vd_net_predict(net, a, 1, y));
    expect_close("Gemm transA=1 transB=1 alpha beta outputs", y, want, 6, 1e-5f, 1e-5f);
    vd_net_destroy(net);
    /* C with a row per row of A^T: dense without a bias, then a constant beta * C added. */
    static const int64_t c23[2] = {2, 3};
    static const float C6[6] = {1, 2, 3, 4, 5, 6};
    b.init[1].dims = (int64_t *)c23;
    b.init[1].float_data = (float *)C6;
    b.init[1].n_float_data = 6;
    net = NULL;
    if (EXPECT_OK(ctx, import_whole(ctx, &b, &net))) {
        for (int m = 0; m < 2; m++)
            for (int j = 0; j < 3; j++) {
                double s = 0;
                for (int k = 0; k < 4; k++) s += (double)a[k * 2 + m] * W34[j * 4 + k];
                want[m * 3 + j] = (float)(0.5 * s + 2.0 * C6[m * 3 + j]);
            }
        EXPECT_OK(ctx, vd_net_predict(net, a, 1, y));
        expect_close("Gemm C with a row per row: + beta * C", y, want, 6, 1e-5f, 1e-5f);
    }
    vd_net_destroy(net);
}

/* MatMul (G, M, K) x constant (G, K, N): G products, as transpose, grouped 1x1 conv2d,
 * transpose; against the host. A B that varies along the batch is refused. */
static void test_matmul_batched(vd_context *ctx)
{
    enum { G = 2, M = 3, K = 4, N = 5 };
    static const int64_t ad[4] = {-1, G, M, K}, bd[4] = {1, G, K, N}, bd2[4] = {2, G, K, N};
    static float B[G * K * N], B2[2 * G * K * N];
    uint64_t rng = 5;
    test_fill_uniform(&rng, B, G * K * N, -1, 1);
    test_fill_uniform(&rng, B2, 2 * G * K * N, -1, 1);
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "a", 4, ad);
    mb_tensor(&b, "B", 4, bd, B, G * K * N);
    mb_node(&b, "MatMul", "mm", "a", "B", NULL, "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (EXPECT_OK(ctx, import(ctx, &b, 2, &net))) {
        float a[2 * G * M * K], y[2 * G * M * N], want[2 * G * M * N];
        test_fill_uniform(&rng, a, 2 * G * M * K, -1, 1);
        for (int s = 0; s < 2; s++)
            for (int g = 0; g < G; g++)
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        double acc = 0;
                        for (int k = 0; k < K; k++)
                            acc += (double)a[((s * G + g) * M + m) * K + k] * B[(g * K + k) * N + n];
                        want[((s * G + g) * M + m) * N + n] = (float)acc;
                    }
        EXPECT_OK(ctx, vd_net_predict(net, a, 2, y));
        expect_close("MatMul (G, M, K) x (1, G, K, N)", y, want, 2 * G * M * N, 1e-5f, 1e-5f);
    }
    vd_net_destroy(net);
    mb_init(&b, 13);
    mb_input(&b, "a", 4, ad);
    mb_tensor(&b, "B", 4, bd2, B2, 2 * G * K * N);
    mb_node(&b, "MatMul", "mm", "a", "B", NULL, "y");
    mb_output(&b, "y");
    expect_refused(ctx, "MatMul with a B per sample", &b, VD_ERR_UNSUPPORTED, "varies along the batch",
                   NULL, NULL);
}

/* MatMul of a (N, 2, 4) activation and a constant (4, 3), then Add of (3): one dense
 * per_row=1 layer with the bias folded in; and Transpose of the sample axes. */
static void test_matmul_rank3(vd_context *ctx)
{
    static const int64_t in3[3] = {-1, 2, 4}, p021[3] = {0, 2, 1};
    static float W43[12];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++) W43[k * 3 + j] = W34[j * 4 + k];
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 3, in3);
    mb_tensor(&b, "W", 2, d43, W43, 12);
    mb_tensor(&b, "B", 1, d3, B3, 3);
    mb_node(&b, "MatMul", "mm", "x", "W", NULL, "h");
    mb_node(&b, "Add", "bias", "h", "B", NULL, "hb");
    int t = mb_node(&b, "Transpose", "tr", "hb", NULL, NULL, "y");
    mb_attr_ints(&b, t, "perm", p021, 3);
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 2, &net))) return;
    expect_true("MatMul rank 3 + Add: dense per_row=1 with a bias, then transpose",
                net->n_layers == 2 && !strcmp(net->layers[0]->ops->type, "dense") &&
                    net->layers[0]->n_params == 2 &&
                    !strcmp(net->layers[1]->ops->type, "transpose"));
    float x[16], y[12], want[12];
    for (int i = 0; i < 16; i++) x[i] = (float)((i * 7) % 11) * 0.25f - 1.0f;
    for (int n = 0; n < 2; n++)
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 3; j++) {
                double s = B3[j];
                for (int k = 0; k < 4; k++) s += (double)x[n * 8 + r * 4 + k] * W34[j * 4 + k];
                want[n * 6 + j * 2 + r] = (float)s; /* transposed: (3, 2) */
            }
    EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
    expect_close("MatMul rank 3 + Add + Transpose outputs", y, want, 12, 1e-5f, 1e-5f);
    vd_net_destroy(net);
    /* Transpose that moves the batch, and a perm that is not one. */
    static const int64_t p102[3] = {1, 0, 2}, p001[3] = {0, 0, 1};
    b.node[2].attribute[0]->ints = (int64_t *)p102;
    expect_refused(ctx, "Transpose moving the batch", &b, VD_ERR_UNSUPPORTED, "'perm'",
                   "batch dimension 0", "'tr'");
    b.node[2].attribute[0]->ints = (int64_t *)p001;
    expect_refused(ctx, "Transpose with a repeated axis", &b, VD_ERR_UNSUPPORTED, "'perm'",
                   "not a permutation", "'tr'");
}

static void gemm_model(mb *b, int64_t opset)
{
    mb_init(b, opset);
    mb_input(b, "x", 2, in_2x4);
    mb_tensor(b, "W", 2, d34, W34, 12);
    int g = mb_node(b, "Gemm", "fc", "x", "W", NULL, "y");
    mb_attr_i(b, g, "transB", 1);
    mb_output(b, "y");
}

static void test_bad_inputs(vd_context *ctx)
{
    mb b;
    /* Truncated: half of a valid file. */
    gemm_model(&b, 13);
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    vd_net *net = NULL;
    expect_status("truncated file", ctx, vd_onnx_import_mem(ctx, buf, len / 2, "t.onnx", NULL, &net),
                  VD_ERR_FORMAT);
    expect_true("truncated: message says it does not parse",
                strstr(vd_last_error(ctx), "does not parse") != NULL);
    expect_status("empty file", ctx, vd_onnx_import_mem(ctx, buf, 0, "t.onnx", NULL, &net),
                  VD_ERR_FORMAT);
    /* Through a file: a missing one, a valid one, one over the size limit (sparse). */
    char path[] = "/tmp/vd_onnx_testXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        expect_true("write model", write(fd, buf, len) == (ssize_t)len);
        close(fd);
        if (EXPECT_OK(ctx, vd_net_load_onnx(ctx, path, &net))) vd_net_destroy(net);
        net = NULL;
        expect_true("truncate", truncate(path, (off_t)VD_ONNX_MAX_BYTES + 1) == 0);
        expect_status("file over the size limit", ctx, vd_net_load_onnx(ctx, path, &net),
                      VD_ERR_FORMAT);
        expect_true("over the limit: message gives the limit",
                    strstr(vd_last_error(ctx), "limited to") != NULL);
        unlink(path);
    }
    expect_status("missing file", ctx, vd_net_load_onnx(ctx, "/nonexistent/m.onnx", &net),
                  VD_ERR_IO);
    free(buf);

    /* Unknown operator. */
    gemm_model(&b, 13);
    b.node[0].op_type = (char *)"FancyOp";
    expect_refused(ctx, "unknown op", &b, VD_ERR_UNSUPPORTED, "FancyOp", "'fc'", "opset 13");
    /* A node without op_type (optional in onnx.proto: protobuf-c leaves it NULL; found by
     * fuzz_onnx, which crashed on it). */
    gemm_model(&b, 13);
    b.node[0].op_type = NULL;
    expect_refused(ctx, "node without op_type", &b, VD_ERR_FORMAT, "op_type", "'fc'", NULL);
    /* Unknown attribute. */
    gemm_model(&b, 13);
    mb_attr_i(&b, 0, "bogus", 1);
    expect_refused(ctx, "unknown attribute", &b, VD_ERR_UNSUPPORTED, "'bogus'", "Gemm", "'fc'");
    /* A known attribute with a value Verdant does not implement. */
    gemm_model(&b, 13);
    mb_attr_i(&b, 0, "transA", 1);
    expect_refused(ctx, "transA=1", &b, VD_ERR_UNSUPPORTED, "'transA'", "Gemm", "opset 13");
    /* Wrong initializer size: 10 values for (3, 4). */
    gemm_model(&b, 13);
    b.init[0].n_float_data = 10;
    expect_refused(ctx, "wrong initializer size", &b, VD_ERR_FORMAT, "'W'", "10 values", NULL);
    /* Weight of the wrong shape for the input: (3, 5) with transB. */
    gemm_model(&b, 13);
    static const int64_t d35[2] = {3, 5};
    static float W35[15];
    b.init[0].dims = (int64_t *)d35;
    b.init[0].n_float_data = 15;
    b.init[0].float_data = W35;
    expect_refused(ctx, "weight of the wrong shape", &b, VD_ERR_SHAPE, "inner dimension", "'fc'",
                   NULL);
    /* A cycle: a = Relu(b), b = Relu(a). */
    gemm_model(&b, 13);
    mb_node(&b, "Relu", "r1", "bb", NULL, NULL, "aa");
    mb_node(&b, "Relu", "r2", "aa", NULL, NULL, "bb");
    b.g.output[0]->name = (char *)"aa";
    expect_refused(ctx, "cycle", &b, VD_ERR_FORMAT, "cycle", "'r1'", NULL);
    /* An input nobody produces. */
    gemm_model(&b, 13);
    b.nin[0][0] = (char *)"nowhere";
    expect_refused(ctx, "missing input", &b, VD_ERR_FORMAT, "'nowhere'", "produced by no", NULL);
    /* Two data inputs. */
    gemm_model(&b, 13);
    mb_input(&b, "x2", 2, in_2x4);
    expect_refused(ctx, "two data inputs", &b, VD_ERR_UNSUPPORTED, "2 data inputs", "'x2'", NULL);
    /* Opset out of range. */
    gemm_model(&b, 22);
    expect_refused(ctx, "opset 22", &b, VD_ERR_UNSUPPORTED, "opset 22", "7 to 21", NULL);
    /* Gelu without the tanh approximation. */
    gemm_model(&b, 20);
    int gl = mb_node(&b, "Gelu", "g", "y", NULL, NULL, "z");
    b.g.output[0]->name = (char *)"z";
    mb_attr_s(&b, gl, "approximate", "none");
    expect_refused(ctx, "Gelu approximate=none", &b, VD_ERR_UNSUPPORTED, "'approximate'", "tanh",
                   NULL);
    /* Asymmetric Conv padding. */
    static const int64_t in4[4] = {-1, 1, 5, 5}, dw[4] = {2, 1, 3, 3}, pads[4] = {1, 0, 0, 1};
    static float w[18];
    mb_init(&b, 11);
    mb_input(&b, "x", 4, in4);
    mb_tensor(&b, "W", 4, dw, w, 18);
    int cv = mb_node(&b, "Conv", "conv", "x", "W", NULL, "y");
    mb_attr_ints(&b, cv, "pads", pads, 4);
    mb_output(&b, "y");
    expect_refused(ctx, "asymmetric pads", &b, VD_ERR_UNSUPPORTED, "'pads'", "Conv", "'conv'");
    /* Symbolic sample dimension. */
    static const int64_t sym[2] = {2, -1};
    gemm_model(&b, 13);
    b.vi[0].type->tensor_type->shape->dim[1]->value_case =
        ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    b.vi[0].type->tensor_type->shape->dim[1]->dim_param = (char *)"K";
    (void)sym;
    expect_refused(ctx, "symbolic sample dimension", &b, VD_ERR_UNSUPPORTED, "symbolic", NULL,
                   NULL);
    /* Graph output that is a constant. */
    gemm_model(&b, 13);
    b.g.output[0]->name = (char *)"W";
    expect_refused(ctx, "constant output", &b, VD_ERR_UNSUPPORTED, "constant", NULL, NULL);
}

/* The reshape layer the importer maps Reshape onto: a view, checked element counts. */
static void test_reshape_layer(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){12}));
    expect_status("reshape d2 without d1", ctx, vd_net_add(net, "reshape", "r0", "d0=3 d2=4"),
                  VD_ERR_INVALID_ARG);
    EXPECT_OK(ctx, vd_net_add(net, "reshape", "r1", "d0=3 d1=4"));
    EXPECT_OK(ctx, vd_net_add(net, "softmax", "sm", NULL));
    if (EXPECT_OK(ctx, vd_net_build(net, 1))) {
        float x[12], y[12];
        for (int k = 0; k < 12; k++) x[k] = (float)k * 0.1f;
        EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
        float want[12];
        for (int j = 0; j < 4; j++) { /* softmax over the 3 rows of each column */
            double s = 0;
            for (int c = 0; c < 3; c++) s += exp(x[c * 4 + j]);
            for (int c = 0; c < 3; c++) want[c * 4 + j] = (float)(exp(x[c * 4 + j]) / s);
        }
        expect_close("softmax over a reshaped (3, 4) sample", y, want, 12, 1e-6f, 1e-5f);
    }
    vd_net_destroy(net);
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){12}));
    EXPECT_OK(ctx, vd_net_add(net, "reshape", "r1", "d0=5 d1=2"));
    EXPECT_OK(ctx, vd_net_add(net, "relu", NULL, NULL));
    expect_status("reshape of 12 elements to (5, 2)", ctx, vd_net_build(net, 1), VD_ERR_SHAPE);
    vd_net_destroy(net);
}

/* LayerNormalization over the trailing axes from `axis` (negative too), Scale and B
 * broadcast to the normalised block: layernorm axis = ONNX axis - 1 with a batch axis,
 * = ONNX axis with the whole tensor as one sample; axis 0 with a batch axis refused; an
 * output beyond Y (Mean) that is used refused. */
static void test_layernorm_axis(vd_context *ctx)
{
    enum { N = 2, A = 2, B = 3, C = 4 };
    static const int64_t in4[4] = {-1, A, B, C}, dsc[2] = {B, C}, db[1] = {C};
    static float sc[B * C], bb[C];
    uint64_t rng = 11;
    test_fill_uniform(&rng, sc, B * C, 0.5f, 1.5f);
    test_fill_uniform(&rng, bb, C, -1, 1);
    float x[N * A * B * C], y[N * A * B * C], want[N * A * B * C], g[A * B * C], be[A * B * C];
    test_fill_uniform(&rng, x, N * A * B * C, -2, 3);
    for (int e = 0; e < B * C; e++) g[e] = sc[e], be[e] = bb[e % C];
    ref_layernorm_fwd(N * A, B * C, 1e-3f, x, g, be, want);
    static const int64_t axes[2] = {-2, 2};
    for (int k = 0; k < 2; k++) {
        mb b;
        mb_init(&b, 17);
        mb_input(&b, "x", 4, in4);
        mb_tensor(&b, "S", 2, dsc, sc, B * C);
        mb_tensor(&b, "B", 1, db, bb, C);
        int ln = mb_node(&b, "LayerNormalization", "ln", "x", "S", "B", "y");
        mb_attr_i(&b, ln, "axis", axes[k]);
        mb_attr_f(&b, ln, "epsilon", 1e-3f);
        mb_output(&b, "y");
        vd_net *net = NULL;
        char what[96];
        snprintf(what, sizeof what, "LayerNormalization axis=%lld", (long long)axes[k]);
        if (!EXPECT_OK(ctx, import(ctx, &b, N, &net))) continue;
        EXPECT_OK(ctx, vd_net_predict(net, x, N, y));
        expect_close(what, y, want, N * A * B * C, 2e-5f, 1e-4f);
        vd_net_destroy(net);
    }
    /* axis 0 (and -4): the block takes in the batch axis */
    for (int k = 0; k < 2; k++) {
        mb b;
        mb_init(&b, 17);
        mb_input(&b, "x", 4, in4);
        mb_tensor(&b, "S", 2, dsc, sc, B * C);
        int ln = mb_node(&b, "LayerNormalization", "ln", "x", "S", NULL, "y");
        mb_attr_i(&b, ln, "axis", k ? -4 : 0);
        mb_output(&b, "y");
        expect_refused(ctx,
                       k ? "LayerNormalization axis=-4 with a batch axis"
                         : "LayerNormalization axis=0 with a batch axis",
                       &b, VD_ERR_UNSUPPORTED, "axis", "batch axis", NULL);
    }
    {
        mb b;
        mb_init(&b, 17);
        mb_input(&b, "x", 4, in4);
        mb_tensor(&b, "S", 2, dsc, sc, B * C);
        int ln = mb_node(&b, "LayerNormalization", "ln", "x", "S", NULL, "y");
        mb_attr_i(&b, ln, "axis", 4);
        mb_output(&b, "y");
        expect_refused(ctx, "LayerNormalization axis=4 of a rank-4 input", &b, VD_ERR_UNSUPPORTED,
                       "axis", "not an axis", NULL);
    }
    {
        mb b;
        mb_init(&b, 17);
        mb_input(&b, "x", 4, in4);
        mb_tensor(&b, "S", 2, dsc, sc, B * C);
        int ln = mb_node(&b, "LayerNormalization", "ln", "x", "S", NULL, "y");
        b.nout[ln][1] = "mean";
        b.nout[ln][2] = "istd";
        b.node[ln].n_output = 3;
        mb_attr_i(&b, ln, "axis", -2);
        mb_attr_f(&b, ln, "epsilon", 1e-3f);
        mb_output(&b, "y");
        mb_output(&b, "mean");
        mb_output(&b, "istd");
        /* Y, Mean and InvStdDev as three outputs: the statistics against the host. */
        vd_net *net = NULL;
        if (EXPECT_OK(ctx, import(ctx, &b, N, &net)) &&
            expect_true("LayerNormalization: three outputs", vd_net_output_count(net) == 3)) {
            float y3[N * A * B * C], mean[N * A], istd[N * A], wm[N * A], wi[N * A];
            float *outs[3] = {y3, mean, istd};
            for (int r = 0; r < N * A; r++) {
                double m = 0, v = 0;
                for (int e = 0; e < B * C; e++) m += x[r * B * C + e];
                m /= B * C;
                for (int e = 0; e < B * C; e++) v += (x[r * B * C + e] - m) * (x[r * B * C + e] - m);
                v /= B * C;
                wm[r] = (float)m;
                wi[r] = (float)(1.0 / sqrt(v + 1e-3));
            }
            if (EXPECT_OK(ctx, vd_net_predict_outputs(net, x, N, outs))) {
                expect_close("LayerNormalization Mean output", mean, wm, N * A, 1e-5f, 1e-4f);
                expect_close("LayerNormalization InvStdDev output", istd, wi, N * A, 1e-5f, 1e-4f);
            }
        }
        vd_net_destroy(net);
    }
    /* The whole (2, 3, 4) tensor as one sample: ONNX axis 1 is sample axis 1. */
    {
        static const int64_t in3[3] = {A, B, C};
        mb b;
        mb_init(&b, 17);
        mb_input(&b, "x", 3, in3);
        mb_tensor(&b, "S", 2, dsc, sc, B * C);
        mb_tensor(&b, "B", 1, db, bb, C);
        int ln = mb_node(&b, "LayerNormalization", "ln", "x", "S", "B", "y");
        mb_attr_i(&b, ln, "axis", 1);
        mb_attr_f(&b, ln, "epsilon", 1e-3f);
        mb_output(&b, "y");
        size_t len;
        uint8_t *buf = mb_pack(&b, &len);
        vd_onnx_options o;
        vd_onnx_options_init(&o);
        o.max_batch = 1;
        o.whole_tensor = true;
        vd_net *net = NULL;
        if (EXPECT_OK(ctx, vd_onnx_import_mem(ctx, buf, len, "t.onnx", &o, &net))) {
            EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
            ref_layernorm_fwd(A, B * C, 1e-3f, x, g, be, want);
            expect_close("LayerNormalization axis=1, whole tensor one sample", y, want, A * B * C,
                         2e-5f, 1e-4f);
        }
        vd_net_destroy(net);
        free(buf);
    }
}

/* Dropout-13 with a constant bool training_mode: true with ratio 0 is the identity and
 * imports; true with ratio > 0 is refused; false imports. Bool tensors decode as 0/1. */
static void test_dropout_training_mode(vd_context *ctx)
{
    static const int64_t in2[2] = {-1, 6};
    static const float zero[1] = {0}, half[1] = {0.5f};
    struct {
        const char *what;
        const float *ratio;
        bool tm, raw, ok;
    } cases[] = {
        {"Dropout training_mode=true (raw bool) ratio 0: identity", zero, true, true, true},
        {"Dropout training_mode=true (int32_data bool) ratio 0: identity", zero, true, false, true},
        {"Dropout training_mode=false (raw bool) ratio 0.5: identity", half, false, true, true},
        {"Dropout training_mode=true ratio 0.5 refused", half, true, true, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 2, in2);
        mb_tensor(&b, "ratio", 0, NULL, cases[k].ratio, 1);
        mb_bool(&b, "tm", cases[k].tm, cases[k].raw);
        mb_node(&b, "Dropout", "drop", "x", "ratio", "tm", "y");
        mb_output(&b, "y");
        if (!cases[k].ok) {
            expect_refused(ctx, cases[k].what, &b, VD_ERR_UNSUPPORTED, "training_mode is true",
                           "ratio 0.5", NULL);
            continue;
        }
        vd_net *net = NULL;
        if (!EXPECT_OK(ctx, import(ctx, &b, 2, &net))) continue;
        float x[12], y[12];
        for (int e = 0; e < 12; e++) x[e] = (float)e - 5.5f;
        EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
        expect_equal_bytes(cases[k].what, y, x, sizeof(x));
        vd_net_destroy(net);
    }
    /* the decoder itself: a (3) bool tensor in raw bytes */
    static uint8_t bytes[3] = {1, 0, 2};
    static int64_t d3b[1] = {3};
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    t.name = (char *)"flags";
    t.n_dims = 1;
    t.dims = d3b;
    t.has_data_type = 1;
    t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    t.has_raw_data = 1;
    t.raw_data.len = 3;
    t.raw_data.data = bytes;
    size_t len = onnx__tensor_proto__get_packed_size(&t);
    uint8_t *buf = test_malloc(len);
    onnx__tensor_proto__pack(&t, buf);
    float *f = NULL;
    int32_t nd = 0;
    int64_t dims[VD_ONNX_MAX_RANK];
    bool is_int = false;
    if (EXPECT_OK(ctx,
                  vd_onnx_tensor_decode(ctx, buf, len, "flags.pb", &f, &nd, dims, &is_int, NULL))) {
        float want[3] = {1, 0, 1};
        expect_true("bool tensor: rank 1, 3 values, integers", nd == 1 && dims[0] == 3 && is_int);
        expect_equal_bytes("bool tensor decodes as 0/1", f, want, sizeof(want));
    }
    free(f);
    /* 2 bytes for 3 elements */
    t.raw_data.len = 2;
    len = onnx__tensor_proto__get_packed_size(&t);
    onnx__tensor_proto__pack(&t, buf);
    expect_status("bool tensor with too few bytes", ctx,
                  vd_onnx_tensor_decode(ctx, buf, len, "short.pb", &f, &nd, dims, &is_int, NULL),
                  VD_ERR_FORMAT);
    free(buf);
}

/* Several graph outputs: y = Relu(h) and h itself, h = Gemm(x). Output 0 (y) is computed
 * from h's layer, so a copy ends the net; output 1 is the Gemm's own output. */
static void test_two_outputs(vd_context *ctx)
{
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    mb_tensor(&b, "W", 2, d34, W34, 12);
    mb_tensor(&b, "B", 1, d3, B3, 3);
    int g = mb_node(&b, "Gemm", "fc", "x", "W", "B", "h");
    mb_attr_i(&b, g, "transB", 1);
    mb_node(&b, "Relu", "act", "h", NULL, NULL, "y");
    mb_output(&b, "y");
    mb_output(&b, "h");
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, import(ctx, &b, 4, &net))) return;
    expect_true("two outputs", vd_net_output_count(net) == 2);
    float x[8] = {1, 2, 3, 4, -1, 0.5f, 2, -3}, y[6], h[6], want_h[6], want_y[6];
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 3; j++) {
            float s = B3[j];
            for (int k = 0; k < 4; k++) s += x[n * 4 + k] * W34[j * 4 + k];
            want_h[n * 3 + j] = s;
            want_y[n * 3 + j] = s > 0 ? s : 0;
        }
    float *outs[2] = {y, h};
    if (vd_net_output_count(net) == 2) {
        EXPECT_OK(ctx, vd_net_predict_outputs(net, x, 2, outs));
        expect_close("output 0: Relu(Gemm)", y, want_y, 6, 1e-5f, 1e-5f);
        expect_close("output 1: Gemm", h, want_h, 6, 1e-5f, 1e-5f);
    }
    vd_net_destroy(net);
}

/* A uint8 input goes into value-keeping operators (Relu, MaxPool, ...) exactly; into
 * arithmetic it is refused. */
static void test_int_input(vd_context *ctx)
{
    mb b;
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    b.tt[0].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    mb_node(&b, "Relu", "act", "x", NULL, NULL, "y");
    mb_output(&b, "y");
    vd_net *net = NULL;
    if (EXPECT_OK(ctx, import(ctx, &b, 4, &net))) {
        float x[8] = {0, 255, 3, 17, 200, 1, 9, 128}, y[8];
        EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
        expect_equal_bytes("uint8 through Relu", y, x, sizeof(x));
    }
    vd_net_destroy(net);
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    b.tt[0].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    mb_tensor(&b, "W", 2, d34, W34, 12);
    int g = mb_node(&b, "Gemm", "fc", "x", "W", NULL, "y");
    mb_attr_i(&b, g, "transB", 1);
    mb_output(&b, "y");
    expect_refused(ctx, "uint8 into Gemm", &b, VD_ERR_UNSUPPORTED, "integer input", "dense",
                   "element type 2");
    mb_init(&b, 13);
    mb_input(&b, "x", 2, in_2x4);
    b.tt[0].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    mb_node(&b, "Relu", "act", "x", NULL, NULL, "y");
    mb_output(&b, "y");
    expect_refused(ctx, "bfloat16 input", &b, VD_ERR_UNSUPPORTED, "element type 16", NULL, NULL);
}

static vd_status import_mode(vd_context *ctx, mb *b, bool whole, int32_t batch_dims,
                             int32_t max_batch, vd_net **net)
{
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    vd_onnx_options o;
    vd_onnx_options_init(&o);
    o.max_batch = max_batch;
    o.whole_tensor = whole;
    o.batch_dims = batch_dims;
    vd_status st = vd_onnx_import_mem(ctx, buf, len, "t.onnx", &o, net);
    free(buf);
    return st;
}

/* Add and Concat with a constant operand: a constant layer broadcast to one sample
 * (numpy rules), in either operand order; refused when the constant varies along the batch
 * or would broadcast the activation, and for a Concat along the batch. */
static void test_constant_operands(vd_context *ctx)
{
    static const int64_t in23[3] = {-1, 2, 3}, d3c[1] = {3}, d223[3] = {2, 2, 3},
                         d122[3] = {1, 2, 2}, in13[3] = {-1, 1, 3}, d23[2] = {2, 3};
    static const float c3[3] = {0.5f, -1, 2}, c223[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                       c122[4] = {-1, -2, -3, -4};
    float x[12] = {1, -2, 0.5f, 3, -1, 0.25f, 2, -0.5f, 4, 0, -3, 1.5f}, y[20], want[20];
    for (int order = 0; order < 2; order++) {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 3, in23);
        mb_tensor(&b, "C", 1, d3c, c3, 3);
        mb_node(&b, "Add", "add", order ? "C" : "x", order ? "x" : "C", NULL, "y");
        mb_output(&b, "y");
        vd_net *net = NULL;
        if (!EXPECT_OK(ctx, import(ctx, &b, 2, &net))) continue;
        for (int e = 0; e < 12; e++) want[e] = x[e] + c3[e % 3];
        EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
        expect_close(order ? "Add(C (3), x (N, 2, 3))" : "Add(x (N, 2, 3), C (3))", y, want, 12,
                     0, 0);
        vd_net_destroy(net);
    }
    {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 3, in23);
        mb_tensor(&b, "C", 3, d223, c223, 12);
        mb_node(&b, "Add", "add", "x", "C", NULL, "y");
        mb_output(&b, "y");
        expect_refused(ctx, "Add of a constant that varies along the batch", &b,
                       VD_ERR_UNSUPPORTED, "'C'", "varies along the batch", NULL);
        /* With a fixed (2, 2, 3) input, the whole tensor one sample: exact. */
        mb_init(&b, 13);
        mb_input(&b, "x", 3, d223);
        mb_tensor(&b, "C", 3, d223, c223, 12);
        mb_node(&b, "Add", "add", "x", "C", NULL, "y");
        mb_output(&b, "y");
        vd_net *net = NULL;
        if (EXPECT_OK(ctx, import_mode(ctx, &b, true, 0, 1, &net))) {
            for (int e = 0; e < 12; e++) want[e] = x[e] + c223[e];
            EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
            expect_close("Add(x, C (2, 2, 3)) with the whole tensor one sample", y, want, 12, 0, 0);
            vd_net_destroy(net);
        }
    }
    {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 3, in13);
        mb_tensor(&b, "C", 2, d23, c223, 6);
        mb_node(&b, "Add", "add", "x", "C", NULL, "y");
        mb_output(&b, "y");
        expect_refused(ctx, "Add whose constant would broadcast the activation", &b,
                       VD_ERR_SHAPE, "does not broadcast", NULL, NULL);
    }
    {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 3, in23);
        mb_tensor(&b, "C", 3, d122, c122, 4);
        int c = mb_node(&b, "Concat", "cat", "x", "C", NULL, "y");
        mb_attr_i(&b, c, "axis", -1);
        mb_output(&b, "y");
        vd_net *net = NULL;
        if (EXPECT_OK(ctx, import(ctx, &b, 2, &net))) {
            for (int n = 0; n < 2; n++)
                for (int r = 0; r < 2; r++)
                    for (int k = 0; k < 5; k++)
                        want[n * 10 + r * 5 + k] =
                            k < 3 ? x[n * 6 + r * 3 + k] : c122[r * 2 + (k - 3)];
            EXPECT_OK(ctx, vd_net_predict(net, x, 2, y));
            expect_close("Concat(x (N, 2, 3), C (1, 2, 2), axis -1)", y, want, 20, 0, 0);
            vd_net_destroy(net);
        }
        mb_init(&b, 13);
        mb_input(&b, "x", 3, in23);
        mb_tensor(&b, "C", 3, d122, c122, 4);
        c = mb_node(&b, "Concat", "cat", "x", "C", NULL, "y");
        mb_attr_i(&b, c, "axis", 0);
        mb_output(&b, "y");
        expect_refused(ctx, "Concat along the batch", &b, VD_ERR_UNSUPPORTED, "'axis'",
                       "batch dimension", NULL);
    }
}

/* Flatten: axis 1 keeps the batch; another axis is refused with dimension 0 the batch, is
 * exact with the whole tensor one sample (a 4-D one too, when only Flatten reads it) or,
 * as the graph output, with the leading dimensions up to the axis the batch. */
static void test_flatten_axes(vd_context *ctx)
{
    static const int64_t in4[4] = {2, 3, 2, 2};
    float x[24], y[24];
    for (int e = 0; e < 24; e++) x[e] = (float)e - 7.5f;
    for (int axis = 0; axis <= 4; axis++) {
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 4, in4);
        int f = mb_node(&b, "Flatten", "flat", "x", NULL, NULL, "y");
        mb_attr_i(&b, f, "axis", axis);
        mb_output(&b, "y");
        char what[96];
        snprintf(what, sizeof(what), "Flatten axis %d of (2, 3, 2, 2)", axis);
        vd_net *net = NULL;
        vd_status st = import_mode(ctx, &b, false, 0, 2, &net);
        expect_status(what, ctx, st, axis == 1 ? VD_OK : VD_ERR_UNSUPPORTED);
        vd_net_destroy(net);
        net = NULL;
        /* Whole tensor one (4-D) sample: the output is (prod before, prod after). */
        snprintf(what, sizeof(what), "Flatten axis %d of (2, 3, 2, 2), whole tensor", axis);
        if (EXPECT_OK(ctx, import_mode(ctx, &b, true, 0, 1, &net))) {
            expect_true(what, vd_net_output_size(net) == 24);
            EXPECT_OK(ctx, vd_net_predict(net, x, 1, y));
            expect_close(what, y, x, 24, 0, 0);
            vd_net_destroy(net);
            net = NULL;
        }
        if (axis >= 2 && axis <= 3) {
            snprintf(what, sizeof(what), "Flatten axis %d of (2, 3, 2, 2), %d batch dims", axis,
                     axis);
            int32_t nb = axis == 2 ? 6 : 12;
            if (EXPECT_OK(ctx, import_mode(ctx, &b, false, axis, nb, &net))) {
                expect_true(what, (int)vd_net_output_size(net) == 24 / nb);
                EXPECT_OK(ctx, vd_net_predict(net, x, nb, y));
                expect_close(what, y, x, 24, 0, 0);
                vd_net_destroy(net);
                net = NULL;
            }
        }
    }
    {
        /* With 2 batch dimensions a merging Flatten read by another node is refused. */
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 4, in4);
        int f = mb_node(&b, "Flatten", "flat", "x", NULL, NULL, "h");
        mb_attr_i(&b, f, "axis", 2);
        mb_node(&b, "Relu", "r", "h", NULL, NULL, "y");
        mb_output(&b, "y");
        vd_net *net = NULL;
        expect_status("Flatten merging 2 batch dims, read by Relu", ctx,
                      import_mode(ctx, &b, false, 2, 6, &net), VD_ERR_UNSUPPORTED);
        expect_true("message says graph output",
                    strstr(vd_last_error(ctx), "graph output") != NULL);
        vd_net_destroy(net);
    }
    {
        /* A 4-D whole-tensor sample that a Relu reads too: refused (the rank). */
        mb b;
        mb_init(&b, 13);
        mb_input(&b, "x", 4, in4);
        int f = mb_node(&b, "Flatten", "flat", "x", NULL, NULL, "h");
        mb_attr_i(&b, f, "axis", 0);
        mb_node(&b, "Relu", "r", "x", NULL, NULL, "h2");
        mb_output(&b, "h");
        vd_net *net = NULL;
        expect_status("4-D whole-tensor sample read by Relu", ctx,
                      import_mode(ctx, &b, true, 0, 1, &net), VD_ERR_UNSUPPORTED);
        expect_true("message names the rank", strstr(vd_last_error(ctx), "rank 4") != NULL);
        vd_net_destroy(net);
    }
}

int main(void)
{
    vd_context *ctx;
    int rc = test_context(&ctx);
    if (rc) return rc == TEST_SKIP ? check_summary() : rc;
    test_gemm_relu(ctx);
    test_gemm_trans_a(ctx);
    test_matmul_rank3(ctx);
    test_matmul_bias_fold(ctx);
    test_no_unsafe_bias_fusion(ctx);
    test_conv_groups_dilation(ctx);
    test_value_table_growth(ctx);
    test_conv1d(ctx);
    test_bad_inputs(ctx);
    test_reshape_layer(ctx);
    test_layernorm_axis(ctx);
    test_dropout_training_mode(ctx);
    test_two_outputs(ctx);
    test_int_input(ctx);
    test_constant_operands(ctx);
    test_flatten_axes(ctx);
    test_matmul_batched(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

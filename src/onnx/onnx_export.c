/* onnx_export.c - vd_net_save_onnx: a built network as an ONNX model (IR version 8, opset
 * 17), the trained weights and batch-norm running statistics as float initializers, the
 * batch dimension symbolic ("N"). The messages are the protobuf-c structs generated from
 * Debian's onnx.proto at build time (cmake/onnx.cmake); this file fills them in and packs
 * them, it never writes protobuf by hand. Reading ONNX is onnx_import.c's business.
 *
 * Every layer maps to nodes that compute what vd_net_predict computes (inference mode):
 * docs/ONNX.md, "Export", has the table. A layer or option that ONNX cannot express
 * exactly is refused with VD_ERR_UNSUPPORTED naming the layer and the option; so is an
 * option this file does not know (a family that grew a key since), unless it holds its
 * default. Tensor names: a layer's output is named after the layer, its parameters
 * "<layer>.weight" and so on, the tensors between the nodes of one layer "<layer>/<what>".
 *
 * All message memory comes from one arena freed at the end; the file is written to
 * "<path>.tmp.<pid>", fsync'ed and renamed over path, like checkpoints. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../net/net.h"
#include "onnx_export.h"

#ifdef VD_HAVE_ONNX

#include "onnx.pb-c.h"

#define VD_ONNX_OPSET 17
#define VD_ONNX_IR_VERSION 8
#define VD_ONNX_MAX_BYTES ((size_t)INT32_MAX) /* protobuf's 2 GiB message limit */

static size_t size_limit = VD_ONNX_MAX_BYTES;

void vd_onnx_export_set_size_limit(size_t bytes)
{
    size_limit = bytes ? bytes : VD_ONNX_MAX_BYTES;
}

typedef struct ex {
    vd_context *ctx;
    vd_net *net;
    void **allocs; /* arena: every block handed out, freed at the end */
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__ValueInfoProto **infos;
    size_t n_infos, cap_infos;
    const float *params; /* vd_net_params_read order */
    size_t param_pos;    /* floats of params used by the layers done so far */
} ex;

static vd_status oom(ex *e)
{
    return vd_error_set(e->ctx, VD_ERR_NO_MEMORY, "vd_net_save_onnx: out of host memory");
}

/* Zeroed memory from the arena; NULL when out of memory. */
static void *ax(ex *e, size_t bytes)
{
    if (e->n_allocs == e->cap_allocs) {
        size_t ncap = e->cap_allocs ? 2 * e->cap_allocs : 256;
        void **p = realloc(e->allocs, ncap * sizeof(*p));
        if (!p) return NULL;
        e->allocs = p;
        e->cap_allocs = ncap;
    }
    void *b = calloc(1, bytes ? bytes : 1);
    if (b) e->allocs[e->n_allocs++] = b;
    return b;
}

static char *astr(ex *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? ax(e, (size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Append p to a growing array of pointers. */
static bool push(ex *e, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p) return false;
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        void **q = ax(e, ncap * sizeof(*q));
        if (!q) return false;
        if (*n) memcpy(q, *arr, *n * sizeof(*q));
        *arr = q;
        *cap = ncap;
    }
    (*arr)[(*n)++] = p;
    return true;
}

/* ------------------------------------------------------------------ message builders */

/* A node op_type(inputs) -> out, named name. Returns NULL when out of memory. */
static Onnx__NodeProto *node(ex *e, const char *op, const char *name, int n_in,
                             const char *const *in, const char *out)
{
    Onnx__NodeProto *n = ax(e, sizeof(*n));
    if (!n) return NULL;
    onnx__node_proto__init(n);
    n->op_type = astr(e, "%s", op);
    n->name = astr(e, "%s", name);
    n->domain = astr(e, "%s", "");
    n->input = ax(e, (size_t)n_in * sizeof(char *));
    n->output = ax(e, sizeof(char *));
    if (!n->op_type || !n->name || !n->domain || !n->input || !n->output) return NULL;
    for (int i = 0; i < n_in; i++)
        if (!(n->input[i] = astr(e, "%s", in[i]))) return NULL;
    n->n_input = (size_t)n_in;
    if (!(n->output[0] = astr(e, "%s", out))) return NULL;
    n->n_output = 1;
    if (!push(e, (void ***)&e->nodes, &e->n_nodes, &e->cap_nodes, n)) return NULL;
    return n;
}

static Onnx__AttributeProto *attr(ex *e, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    if (!n) return NULL;
    Onnx__AttributeProto *a = ax(e, sizeof(*a));
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    if (!(a->name = astr(e, "%s", name))) return NULL;
    a->has_type = 1;
    a->type = type;
    Onnx__AttributeProto **list = ax(e, (n->n_attribute + 1) * sizeof(*list));
    if (!list) return NULL;
    if (n->n_attribute) memcpy(list, n->attribute, n->n_attribute * sizeof(*list));
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

static bool attr_int(ex *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return false;
    a->has_i = 1;
    a->i = v;
    return true;
}

static bool attr_float(ex *e, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return false;
    a->has_f = 1;
    a->f = v;
    return true;
}

static bool attr_ints(ex *e, Onnx__NodeProto *n, const char *name, size_t count, const int64_t *v)
{
    Onnx__AttributeProto *a = attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a || !(a->ints = ax(e, count * sizeof(int64_t)))) return false;
    memcpy(a->ints, v, count * sizeof(int64_t));
    a->n_ints = count;
    return true;
}

/* A float initializer: dims as given (a scalar when ndim is 0), data stored as raw_data
 * in little-endian IEEE 754 whatever the host's byte order. */
static bool init_f32(ex *e, const char *name, int32_t ndim, const int64_t *dims, const float *data)
{
    Onnx__TensorProto *t = ax(e, sizeof(*t));
    if (!t) return false;
    onnx__tensor_proto__init(t);
    if (!(t->name = astr(e, "%s", name))) return false;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    size_t numel = 1;
    if (ndim > 0) {
        if (!(t->dims = ax(e, (size_t)ndim * sizeof(int64_t)))) return false;
        memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
        for (int32_t i = 0; i < ndim; i++) numel *= (size_t)dims[i];
    }
    t->n_dims = (size_t)ndim;
    unsigned char *raw = ax(e, numel * 4);
    if (!raw) return false;
    for (size_t i = 0; i < numel; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        raw[4 * i] = (unsigned char)u;
        raw[4 * i + 1] = (unsigned char)(u >> 8);
        raw[4 * i + 2] = (unsigned char)(u >> 16);
        raw[4 * i + 3] = (unsigned char)(u >> 24);
    }
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = numel * 4;
    return push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t);
}

/* A 1-D int64 initializer (Reshape's shape). */
static bool init_i64(ex *e, const char *name, size_t n, const int64_t *v)
{
    Onnx__TensorProto *t = ax(e, sizeof(*t));
    int64_t *dims = ax(e, sizeof(int64_t)), *data = ax(e, n * sizeof(int64_t));
    if (!t || !dims || !data) return false;
    onnx__tensor_proto__init(t);
    if (!(t->name = astr(e, "%s", name))) return false;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    dims[0] = (int64_t)n;
    t->dims = dims, t->n_dims = 1;
    memcpy(data, v, n * sizeof(int64_t));
    t->int64_data = data, t->n_int64_data = n;
    return push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t);
}

static bool init_scalar(ex *e, const char *name, float v)
{
    return init_f32(e, name, 0, NULL, &v);
}

/* A float tensor's type: ("N", shape...) with the batch dimension symbolic. */
static Onnx__ValueInfoProto *value_info(ex *e, const char *name, const vd_shape *s)
{
    Onnx__ValueInfoProto *v = ax(e, sizeof(*v));
    Onnx__TypeProto *tp = ax(e, sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = ax(e, sizeof(*tt));
    Onnx__TensorShapeProto *sh = ax(e, sizeof(*sh));
    if (!v || !tp || !tt || !sh) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    if (!(v->name = astr(e, "%s", name))) return NULL;
    size_t nd = (size_t)s->ndim + 1;
    if (!(sh->dim = ax(e, nd * sizeof(*sh->dim)))) return NULL;
    for (size_t i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = ax(e, sizeof(*d));
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            if (!(d->dim_param = astr(e, "%s", "N"))) return NULL;
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = s->d[i - 1];
        }
        sh->dim[i] = d;
    }
    sh->n_dim = nd;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

/* ------------------------------------------------------------------ layer options */

static const vd_key *key_of(const vd_layer *l, const char *name)
{
    for (const vd_key *k = l->ops->keys; k && k->name; k++)
        if (!strcmp(k->name, name)) return k;
    return NULL;
}

/* The value of one of l's options (the family's key table says where it lives). */
static double opt(const vd_layer *l, const char *name)
{
    const vd_key *k = key_of(l, name);
    if (!k) return 0;
    const char *field = (const char *)l + k->offset;
    return k->type == VD_KEY_FLOAT ? (double)*(const float *)field
                                   : (double)*(const int32_t *)field;
}

/* Every option of l must be one this file maps (handled, NULL-terminated) or hold its
 * default: a key added to a family later is refused until the export learns it. */
static vd_status check_keys(ex *e, const vd_layer *l, const char *const *handled)
{
    for (const vd_key *k = l->ops->keys; k && k->name; k++) {
        bool known = false;
        for (const char *const *h = handled; *h && !known; h++) known = !strcmp(*h, k->name);
        double v = opt(l, k->name);
        if (!known && k->type == VD_KEY_ENUM && v != k->def) {
            char word[32];
            vd_key_choice_name(k->help, (int32_t)v, word, sizeof(word));
            return vd_error_set(e->ctx, VD_ERR_UNSUPPORTED,
                                "vd_net_save_onnx: layer '%s' (%s): option '%s' = %s has no ONNX "
                                "mapping in this exporter",
                                l->name, l->ops->type, k->name, word);
        }
        if (!known && v != (k->type == VD_KEY_FLOAT ? (double)(float)k->def : k->def))
            return vd_error_set(e->ctx, VD_ERR_UNSUPPORTED,
                                "vd_net_save_onnx: layer '%s' (%s): option '%s' = %g has no ONNX "
                                "mapping in this exporter",
                                l->name, l->ops->type, k->name, v);
    }
    return VD_OK;
}

static vd_status unsupported(ex *e, const vd_layer *l, const char *why)
{
    return vd_error_set(e->ctx, VD_ERR_UNSUPPORTED, "vd_net_save_onnx: layer '%s' (%s): %s",
                        l->name, l->ops->type, why);
}

/* ------------------------------------------------------------------ layers */

/* The name of the tensor layer idx produces (-1: the graph input). */
static const char *tensor_of(const ex *e, int32_t idx)
{
    return idx < 0 ? "input" : e->net->layers[idx]->name;
}

/* The floats of parameter p of the layer being exported (they follow in params). */
static const float *param_data(ex *e, const vd_layer *l, int32_t p)
{
    size_t at = e->param_pos;
    for (int32_t q = 0; q < p; q++) at += l->params[q].numel;
    return e->params + at;
}

/* Parameter p as an initializer "<layer>.<suffix>" with its own shape. */
static bool param_init(ex *e, const vd_layer *l, int32_t p, const char *suffix, char **name)
{
    *name = astr(e, "%s.%s", l->name, suffix);
    return *name &&
           init_f32(e, *name, l->params[p].shape.ndim, l->params[p].shape.d, param_data(e, l, p));
}

/* out = Relu(in) named "<layer>" when the layer fuses one. */
static bool relu_after(ex *e, const vd_layer *l, const char *in)
{
    const char *const ins[1] = {in};
    return node(e, "Relu", astr(e, "%s/relu", l->name), 1, ins, l->name) != NULL;
}

static vd_status export_conv(ex *e, const vd_layer *l, bool transposed)
{
    static const char *const handled[] = {"filters", "kernel", "kernel_h",   "kernel_w",
                                          "stride",  "pad",    "dilation",   "groups",
                                          "bias",    "relu",   "output_pad", NULL};
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    int64_t R = l->params[0].shape.d[2], S = l->params[0].shape.d[3];
    int64_t stride = (int64_t)opt(l, "stride"), pad = (int64_t)opt(l, "pad");
    int64_t dil = (int64_t)opt(l, "dilation"), groups = (int64_t)opt(l, "groups");
    bool relu = opt(l, "relu") != 0, bias = l->n_params > 1;
    char *w = NULL, *b = NULL;
    if (!param_init(e, l, 0, "weight", &w) || (bias && !param_init(e, l, 1, "bias", &b)))
        return oom(e);
    const char *ins[3] = {tensor_of(e, l->inputs[0]), w, b};
    const char *out = relu ? astr(e, "%s/conv", l->name) : l->name;
    Onnx__NodeProto *n =
        out ? node(e, transposed ? "ConvTranspose" : "Conv", l->name, bias ? 3 : 2, ins, out)
            : NULL;
    /* deconv2d's negative output_pad crops -op more at the bottom/right: end pads
     * pad - op and output_padding 0 (ONNX's output: full - begin - end + output_padding). */
    int64_t op = transposed ? (int64_t)opt(l, "output_pad") : 0;
    int64_t end = op < 0 ? pad - op : pad;
    bool ok = n && attr_ints(e, n, "kernel_shape", 2, (int64_t[]){R, S}) &&
              attr_ints(e, n, "strides", 2, (int64_t[]){stride, stride}) &&
              attr_ints(e, n, "pads", 4, (int64_t[]){pad, pad, end, end}) &&
              attr_ints(e, n, "dilations", 2, (int64_t[]){dil, dil}) &&
              attr_int(e, n, "group", groups);
    if (ok && transposed)
        ok = attr_ints(e, n, "output_padding", 2, (int64_t[]){op > 0 ? op : 0, op > 0 ? op : 0});
    if (ok && relu) ok = relu_after(e, l, out);
    return ok ? VD_OK : oom(e);
}

static vd_status export_dense(ex *e, const vd_layer *l)
{
    static const char *const handled[] = {"units", "bias", "per_row", NULL};
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    const char *x = tensor_of(e, l->inputs[0]);
    bool bias = l->n_params > 1;
    if (opt(l, "per_row") != 0) {
        /* MatMul works on the last axis at every position of the others: x (N, .., K)
         * times W^T (K, units), then the bias (units) broadcast over the rows by Add. */
        int64_t units = l->params[0].shape.d[0], K = l->params[0].shape.d[1];
        float *wt = ax(e, (size_t)(units * K) * sizeof(float));
        char *w = astr(e, "%s.weight_t", l->name), *b = NULL;
        if (!wt || !w) return oom(e);
        const float *W = param_data(e, l, 0);
        for (int64_t u = 0; u < units; u++)
            for (int64_t k = 0; k < K; k++) wt[k * units + u] = W[u * K + k];
        const char *mm = bias ? astr(e, "%s/matmul", l->name) : l->name;
        const char *ins[2] = {x, w};
        if (!mm || !init_f32(e, w, 2, (int64_t[]){K, units}, wt) ||
            !node(e, "MatMul", mm, 2, ins, mm))
            return oom(e);
        if (!bias) return VD_OK;
        const char *ains[2] = {mm, NULL};
        if (!param_init(e, l, 1, "bias", &b)) return oom(e);
        ains[1] = b;
        return node(e, "Add", l->name, 2, ains, l->name) ? VD_OK : oom(e);
    }
    if (l->in.ndim != 1) { /* dense reads any sample as a flat vector */
        const char *flat = astr(e, "%s/flatten", l->name);
        Onnx__NodeProto *f = flat ? node(e, "Flatten", flat, 1, &x, flat) : NULL;
        if (!f || !attr_int(e, f, "axis", 1)) return oom(e);
        x = flat;
    }
    char *w = NULL, *b = NULL;
    if (!param_init(e, l, 0, "weight", &w) || (bias && !param_init(e, l, 1, "bias", &b)))
        return oom(e);
    const char *ins[3] = {x, w, b};
    Onnx__NodeProto *n = node(e, "Gemm", l->name, bias ? 3 : 2, ins, l->name);
    bool ok = n && attr_float(e, n, "alpha", 1.0f) && attr_float(e, n, "beta", 1.0f) &&
              attr_int(e, n, "transA", 0) && attr_int(e, n, "transB", 1);
    return ok ? VD_OK : oom(e);
}

/* Verdant's pools follow PyTorch (pool.c). Without ceil mode, or when ceil mode adds no
 * window, the output size is the floor formula with the layer's pads (per side:
 * pad_top/left/bottom/right, falling back to pad_h/pad_w and pad). When ceil mode adds a
 * last window that hangs over the bottom/right edge, the overhang is written as explicit
 * end padding with ceil_mode 0, which every ONNX runtime sizes alike: MaxPool pads with
 * -inf, so the window's maximum is the same. avgpool with count_pad=0 divides by the
 * window's taps inside the input: count_include_pad=0, whatever the padding. With
 * count_pad=1 it divides by the taps inside the padded input [-top, H + bottom), which is
 * the whole window (count_include_pad=1) unless ceil mode makes the last window overhang;
 * then, without any padding, that is its part inside the input (count_include_pad=0 with
 * the end padding), and with padding AveragePool divides the overhanging window by the
 * whole window (1) or the first window by its part inside the unpadded input (0): neither
 * matches, so that case is refused. Dilation is MaxPool's dilations; AveragePool has them
 * only from opset 19, so a dilated avgpool is refused. indices=1 (the argmax output) is
 * refused: it is ONNX MaxPool's second output, which this exporter does not write. */
static vd_status export_pool(ex *e, const vd_layer *l, bool is_max)
{
    static const char *const handled[] = {
        "kernel",   "stride",     "pad",        "ceil",      "kernel_h", "kernel_w",   "stride_h",
        "stride_w", "pad_h",      "pad_w",      "pad_top",   "pad_left", "pad_bottom", "pad_right",
        "dilation", "dilation_h", "dilation_w", "count_pad", NULL};
    if (is_max && opt(l, "indices") != 0)
        return unsupported(e, l,
                           "option 'indices' = 1 (the argmax output) is ONNX MaxPool's second "
                           "output (Indices), which this exporter does not write");
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    int64_t k = (int64_t)opt(l, "kernel"), s = (int64_t)opt(l, "stride");
    int64_t p = (int64_t)opt(l, "pad"), d = (int64_t)opt(l, "dilation");
    int64_t kh = opt(l, "kernel_h") ? (int64_t)opt(l, "kernel_h") : k;
    int64_t kw = opt(l, "kernel_w") ? (int64_t)opt(l, "kernel_w") : k;
    int64_t sh = opt(l, "stride_h") ? (int64_t)opt(l, "stride_h") : s ? s : kh;
    int64_t sw = opt(l, "stride_w") ? (int64_t)opt(l, "stride_w") : s ? s : kw;
    int64_t ph = opt(l, "pad_h") >= 0 ? (int64_t)opt(l, "pad_h") : p;
    int64_t pw = opt(l, "pad_w") >= 0 ? (int64_t)opt(l, "pad_w") : p;
    int64_t pt = opt(l, "pad_top") >= 0 ? (int64_t)opt(l, "pad_top") : ph;
    int64_t pb = opt(l, "pad_bottom") >= 0 ? (int64_t)opt(l, "pad_bottom") : ph;
    int64_t pl = opt(l, "pad_left") >= 0 ? (int64_t)opt(l, "pad_left") : pw;
    int64_t pr = opt(l, "pad_right") >= 0 ? (int64_t)opt(l, "pad_right") : pw;
    int64_t dh = opt(l, "dilation_h") ? (int64_t)opt(l, "dilation_h") : d;
    int64_t dw = opt(l, "dilation_w") ? (int64_t)opt(l, "dilation_w") : d;
    bool count_pad = is_max || opt(l, "count_pad") != 0;
    if (!is_max && (dh != 1 || dw != 1)) {
        char why[200];
        snprintf(why, sizeof(why),
                 "dilation %lld, %lld: ONNX AveragePool has dilations only from opset 19, and "
                 "this exporter writes opset %d",
                 (long long)dh, (long long)dw, VD_ONNX_OPSET);
        return unsupported(e, l, why);
    }
    int64_t eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
    int64_t H = l->in.d[1], W = l->in.d[2], P = l->out.d[1], Q = l->out.d[2];
    /* End padding that makes the floor formula give P (Q): the overhang of the last window. */
    int64_t end_h = (P - 1) * sh + eh - H - pt, end_w = (Q - 1) * sw + ew - W - pl;
    if (end_h < pb) end_h = pb;
    if (end_w < pr) end_w = pr;
    bool overhang = end_h > pb || end_w > pr, padded = pt || pb || pl || pr;
    if (overhang && !is_max && count_pad && padded) {
        char why[400];
        snprintf(why, sizeof(why),
                 "option 'ceil' = 1 with option 'pad' = %lld (top, left, bottom, right = %lld, "
                 "%lld, %lld, %lld) makes the last window hang over the padded %lldx%lld input "
                 "(kernel %lldx%lld, stride %lld, %lld); Verdant divides that window by its "
                 "part inside the padded input, which ONNX AveragePool cannot express (neither "
                 "count_include_pad value matches): use ceil = 0, pad = 0, count_pad = 0 or a "
                 "size without overhang",
                 (long long)p, (long long)pt, (long long)pl, (long long)pb, (long long)pr,
                 (long long)H, (long long)W, (long long)kh, (long long)kw, (long long)sh,
                 (long long)sw);
        return unsupported(e, l, why);
    }
    const char *x = tensor_of(e, l->inputs[0]);
    Onnx__NodeProto *n = node(e, is_max ? "MaxPool" : "AveragePool", l->name, 1, &x, l->name);
    bool ok = n && attr_ints(e, n, "kernel_shape", 2, (int64_t[]){kh, kw}) &&
              attr_ints(e, n, "strides", 2, (int64_t[]){sh, sw}) &&
              attr_ints(e, n, "pads", 4, (int64_t[]){pt, pl, end_h, end_w}) &&
              attr_int(e, n, "ceil_mode", 0);
    if (ok && is_max && (dh != 1 || dw != 1))
        ok = attr_ints(e, n, "dilations", 2, (int64_t[]){dh, dw});
    if (ok && !is_max) ok = attr_int(e, n, "count_include_pad", count_pad && !overhang ? 1 : 0);
    return ok ? VD_OK : oom(e);
}

/* Inference-form batch normalisation: the running statistics as the mean and var inputs. */
static vd_status export_batchnorm(ex *e, vd_layer *l)
{
    static const char *const handled[] = {"momentum", "eps", "relu", NULL};
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    if (!l->ops->state_copy || !l->ops->state_size ||
        l->ops->state_size(l) != 2 * (size_t)l->in.d[0])
        return VD_INTERNAL(e->ctx, "batchnorm state layout");
    size_t C = (size_t)l->in.d[0];
    float *stats = ax(e, 2 * C * sizeof(float));
    if (!stats) return oom(e);
    st = l->ops->state_copy(l, e->ctx, stats, true); /* running mean, running variance */
    if (st != VD_OK) return st;
    char *g = NULL, *b = NULL;
    char *mean = astr(e, "%s.running_mean", l->name), *var = astr(e, "%s.running_var", l->name);
    int64_t dims[1] = {(int64_t)C};
    if (!param_init(e, l, 0, "weight", &g) || !param_init(e, l, 1, "bias", &b) || !mean || !var ||
        !init_f32(e, mean, 1, dims, stats) || !init_f32(e, var, 1, dims, stats + C))
        return oom(e);
    bool relu = opt(l, "relu") != 0;
    const char *out = relu ? astr(e, "%s/bn", l->name) : l->name;
    const char *ins[5] = {tensor_of(e, l->inputs[0]), g, b, mean, var};
    Onnx__NodeProto *n = out ? node(e, "BatchNormalization", l->name, 5, ins, out) : NULL;
    bool ok = n && attr_float(e, n, "epsilon", (float)opt(l, "eps")) &&
              attr_float(e, n, "momentum", 1.0f - (float)opt(l, "momentum"));
    if (ok && relu) ok = relu_after(e, l, out);
    return ok ? VD_OK : oom(e);
}

static vd_status export_layernorm(ex *e, const vd_layer *l)
{
    /* output=mean|invstd (ONNX's Mean/InvStdDev outputs) is left to check_keys to refuse */
    static const char *const handled[] = {"eps", "axis", NULL};
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    char *g = NULL, *b = NULL;
    if (!param_init(e, l, 0, "weight", &g) || !param_init(e, l, 1, "bias", &b)) return oom(e);
    const char *ins[3] = {tensor_of(e, l->inputs[0]), g, b};
    Onnx__NodeProto *n = node(e, "LayerNormalization", l->name, 3, ins, l->name);
    /* sample axis a is axis a + 1 of the (N, ...) tensor */
    bool ok = n && attr_int(e, n, "axis", (int64_t)opt(l, "axis") + 1) &&
              attr_float(e, n, "epsilon", (float)opt(l, "eps"));
    return ok ? VD_OK : oom(e);
}

/* Verdant's GELU is the tanh approximation (cl/act.cl): 0.5 x (1 + tanh(sqrt(2/pi) (x +
 * 0.044715 x^3))). ONNX has Gelu only from opset 20, so it is written out in opset-17 ops. */
static vd_status export_gelu(ex *e, const vd_layer *l)
{
    const char *x = tensor_of(e, l->inputs[0]);
    const char *nm = l->name;
    char *cA = astr(e, "%s/c_0.044715", nm), *cC = astr(e, "%s/c_sqrt_2_over_pi", nm);
    char *c1 = astr(e, "%s/c_1", nm), *ch = astr(e, "%s/c_0.5", nm);
    char *x2 = astr(e, "%s/x2", nm), *x3 = astr(e, "%s/x3", nm), *ax3 = astr(e, "%s/ax3", nm);
    char *in = astr(e, "%s/inner", nm), *u = astr(e, "%s/u", nm), *t = astr(e, "%s/tanh", nm);
    char *t1 = astr(e, "%s/1p", nm), *xt = astr(e, "%s/xt", nm);
    if (!cA || !cC || !c1 || !ch || !x2 || !x3 || !ax3 || !in || !u || !t || !t1 || !xt ||
        !init_scalar(e, cA, 0.044715f) || !init_scalar(e, cC, 0.7978845608028654f) ||
        !init_scalar(e, c1, 1.0f) || !init_scalar(e, ch, 0.5f))
        return oom(e);
    bool ok = node(e, "Mul", x2, 2, (const char *[]){x, x}, x2) &&
              node(e, "Mul", x3, 2, (const char *[]){x2, x}, x3) &&
              node(e, "Mul", ax3, 2, (const char *[]){x3, cA}, ax3) &&
              node(e, "Add", in, 2, (const char *[]){x, ax3}, in) &&
              node(e, "Mul", u, 2, (const char *[]){in, cC}, u) &&
              node(e, "Tanh", t, 1, (const char *[]){u}, t) &&
              node(e, "Add", t1, 2, (const char *[]){t, c1}, t1) &&
              node(e, "Mul", xt, 2, (const char *[]){x, t1}, xt) &&
              node(e, "Mul", nm, 2, (const char *[]){xt, ch}, nm);
    return ok ? VD_OK : oom(e);
}

/* add: Add for two inputs, a chain of Adds for more, summed in input order as merge.c
 * does (y = x0, then y += x1, y += x2, ...), so the rounding is the same. */
static vd_status export_add(ex *e, const vd_layer *l)
{
    const char *acc = tensor_of(e, l->inputs[0]);
    for (int32_t k = 1; k < l->n_inputs; k++) {
        bool last = k == l->n_inputs - 1;
        const char *out = last ? l->name : astr(e, "%s/sum%d", l->name, (int)k);
        const char *ins[2] = {acc, tensor_of(e, l->inputs[k])};
        if (!out || !node(e, "Add", last ? l->name : out, 2, ins, out)) return oom(e);
        acc = out;
    }
    return VD_OK;
}

/* constant: its values as a (1, sample...) initializer, expanded to the batch of the graph
 * input (Shape, Slice of dimension 0, Concat with the sample shape, Expand), so that Concat
 * (which does not broadcast) sees an (N, sample...) tensor as Verdant's concat does. */
static vd_status export_constant(ex *e, vd_layer *l)
{
    static const char *const handled[] = {"d0", "d1", "d2", "value", NULL};
    vd_status st = check_keys(e, l, handled);
    if (st != VD_OK) return st;
    size_t n = vd_shape_numel(&l->out);
    if (!l->ops->state_copy || !l->ops->state_size || l->ops->state_size(l) != n)
        return VD_INTERNAL(e->ctx, "constant state layout");
    float *v = ax(e, (n ? n : 1) * sizeof(float));
    if (!v) return oom(e);
    if ((st = l->ops->state_copy(l, e->ctx, v, true)) != VD_OK) return st;
    int64_t dims[VD_MAX_DIMS + 1], sample[VD_MAX_DIMS];
    int32_t r = l->out.ndim;
    dims[0] = 1;
    for (int32_t k = 0; k < r; k++) dims[k + 1] = sample[k] = l->out.d[k];
    char *val = astr(e, "%s.value", l->name), *shp = astr(e, "%s/input_shape", l->name),
         *st0 = astr(e, "%s/zero", l->name), *en1 = astr(e, "%s/one", l->name),
         *bat = astr(e, "%s/batch", l->name), *sam = astr(e, "%s/sample_shape", l->name),
         *full = astr(e, "%s/shape", l->name);
    if (!val || !shp || !st0 || !en1 || !bat || !sam || !full) return oom(e);
    const char *in0[1] = {"input"}, *sl[3] = {shp, st0, en1}, *cat[2] = {bat, sam},
               *exp[2] = {val, full};
    Onnx__NodeProto *c = NULL;
    bool ok = init_f32(e, val, r + 1, dims, v) && init_i64(e, st0, 1, (int64_t[]){0}) &&
              init_i64(e, en1, 1, (int64_t[]){1}) && init_i64(e, sam, (size_t)r, sample) &&
              node(e, "Shape", shp, 1, in0, shp) && node(e, "Slice", bat, 3, sl, bat) &&
              (c = node(e, "Concat", full, 2, cat, full)) && attr_int(e, c, "axis", 0) &&
              node(e, "Expand", l->name, 2, exp, l->name);
    return ok ? VD_OK : oom(e);
}

static vd_status export_layer(ex *e, vd_layer *l)
{
    const char *t = l->ops->type;
    const char *x = tensor_of(e, l->inputs[0]);
    if (!strcmp(t, "conv2d") || !strcmp(t, "deconv2d")) return export_conv(e, l, t[0] == 'd');
    if (!strcmp(t, "dense")) return export_dense(e, l);
    if (!strcmp(t, "maxpool") || !strcmp(t, "avgpool")) return export_pool(e, l, t[0] == 'm');
    if (!strcmp(t, "batchnorm")) return export_batchnorm(e, l);
    if (!strcmp(t, "layernorm")) return export_layernorm(e, l);
    if (!strcmp(t, "constant")) return export_constant(e, l);
    if (!strcmp(t, "transpose")) {
        /* Transpose with the batch axis kept first: perm (0, perm + 1). */
        static const char *const keys[] = {"perm", NULL};
        vd_status st = check_keys(e, l, keys);
        if (st != VD_OK) return st;
        const vd_key *pk = key_of(l, "perm"); /* an int32_t[VD_MAX_DIMS] list */
        if (!pk) return unsupported(e, l, "no perm option");
        const int32_t *p = (const int32_t *)((const char *)l + pk->offset);
        int64_t perm[VD_MAX_DIMS];
        perm[0] = 0;
        for (int32_t k = 0; k < l->in.ndim; k++) perm[k + 1] = p[k] + 1;
        Onnx__NodeProto *n = node(e, "Transpose", l->name, 1, &x, l->name);
        if (!n || !attr_ints(e, n, "perm", (size_t)l->in.ndim + 1, perm)) return oom(e);
        return VD_OK;
    }
    if (!strcmp(t, "reshape")) {
        /* Reshape-14 with a constant shape: 0 first (the batch, copied from the input),
         * then the layer's output sample shape. */
        static const char *const dims[] = {"d0", "d1", "d2", NULL};
        vd_status st = check_keys(e, l, dims);
        if (st != VD_OK) return st;
        int64_t shape[VD_MAX_DIMS + 1];
        size_t n = 0;
        shape[n++] = 0;
        for (int32_t k = 0; k < l->out.ndim; k++) shape[n++] = l->out.d[k];
        char *sname = astr(e, "%s.shape", l->name);
        const char *ins[2] = {x, sname};
        if (!sname || !init_i64(e, sname, n, shape) || !node(e, "Reshape", l->name, 2, ins, l->name))
            return oom(e);
        return VD_OK;
    }
    static const struct {
        const char *type, *op;
    } simple[] = {{"relu", "Relu"},       {"sigmoid", "Sigmoid"},
                  {"tanh", "Tanh"},       {"leaky_relu", "LeakyRelu"},
                  {"dropout", "Dropout"}, {"flatten", "Flatten"},
                  {"concat", "Concat"},   {"globalavgpool", "GlobalAveragePool"},
                  {"softmax", "Softmax"}, {"logsoftmax", "LogSoftmax"},
                  {"gelu", NULL},
                  {"add", NULL}};
    size_t i = 0, n_simple = sizeof(simple) / sizeof(simple[0]);
    while (i < n_simple && strcmp(t, simple[i].type)) i++;
    if (i == n_simple)
        return unsupported(e, l, "this layer type has no ONNX mapping in this exporter");
    /* These families have no options but these. */
    static const char *const none[] = {NULL}, *const alpha[] = {"alpha", NULL},
                             *const p[] = {"p", NULL}, *const axis[] = {"axis", NULL};
    vd_status st = check_keys(e, l,
                              !strcmp(t, "leaky_relu") ? alpha
                              : !strcmp(t, "dropout")  ? p
                              : !strcmp(t, "concat")   ? axis
                                                       : none);
    if (st != VD_OK) return st;
    if (!strcmp(t, "gelu")) return export_gelu(e, l);
    if (!strcmp(t, "add")) return export_add(e, l);
    const char *ins[VD_MAX_INPUTS + 1];
    int n_in = 1;
    ins[0] = x;
    if (!strcmp(t, "concat")) {
        n_in = l->n_inputs;
        for (int32_t k = 0; k < l->n_inputs; k++) ins[k] = tensor_of(e, l->inputs[k]);
    }
    if (!strcmp(t, "dropout")) {
        /* Dropout-13: the ratio is an input; without training_mode it is the identity,
         * as Verdant's inference is. */
        char *ratio = astr(e, "%s.ratio", l->name);
        if (!ratio || !init_scalar(e, ratio, (float)opt(l, "p"))) return oom(e);
        ins[n_in++] = ratio;
    }
    Onnx__NodeProto *n = node(e, simple[i].op, l->name, n_in, ins, l->name);
    bool ok = n != NULL;
    if (ok && !strcmp(t, "leaky_relu")) ok = attr_float(e, n, "alpha", (float)opt(l, "alpha"));
    /* Flatten keeps the batch; Softmax normalises over the channels (the classes of a (C)
     * sample): axis 1 of the batched tensor. Concat joins sample axis A: axis A + 1. */
    if (ok && (!strcmp(t, "flatten") || !strcmp(t, "softmax") || !strcmp(t, "logsoftmax")))
        ok = attr_int(e, n, "axis", 1);
    if (ok && !strcmp(t, "concat")) ok = attr_int(e, n, "axis", 1 + (int64_t)opt(l, "axis"));
    return ok ? VD_OK : oom(e);
}

/* Every node, initializer and value name must be distinct (a layer named like a derived
 * tensor, e.g. "fc/flatten", would otherwise alias two values). */
static vd_status check_names(ex *e)
{
    size_t total = e->n_inits + 1;
    for (size_t i = 0; i < e->n_nodes; i++) total += e->nodes[i]->n_output;
    const char **names = ax(e, total * sizeof(char *));
    if (!names) return oom(e);
    size_t n = 0;
    names[n++] = "input";
    for (size_t i = 0; i < e->n_inits; i++) names[n++] = e->inits[i]->name;
    for (size_t i = 0; i < e->n_nodes; i++) names[n++] = e->nodes[i]->output[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(names[i], names[j]))
                return vd_error_set(e->ctx, VD_ERR_UNSUPPORTED,
                                    "vd_net_save_onnx: the tensor name '%s' would be used twice "
                                    "(a layer is named like a tensor the export derives from "
                                    "another layer); rename that layer",
                                    names[i]);
    return VD_OK;
}

static vd_status write_atomic(vd_context *ctx, const char *path, const uint8_t *buf, size_t len)
{
    char tmp[4096];
    if (strlen(path) > sizeof(tmp) - 32)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_save_onnx: path too long");
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return vd_error_set(ctx, VD_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    bool ok = fwrite(buf, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) ok = false, err = errno;
    if (!ok) {
        remove(tmp);
        return vd_error_set(ctx, VD_ERR_IO, "cannot write '%s': %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        remove(tmp);
        return vd_error_set(ctx, VD_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                            strerror(err));
    }
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return VD_OK;
}

vd_status vd_net_save_onnx(const vd_net *net_c, const char *path)
{
    vd_net *net = (vd_net *)net_c; /* reads only; the queue is used for the copies */
    if (!net || !path)
        return vd_error_set(net ? net->ctx : NULL, VD_ERR_INVALID_ARG,
                            "vd_net_save_onnx: NULL argument");
    vd_context *ctx = net->ctx;
    if (!net->built)
        return vd_error_set(ctx, VD_ERR_STATE, "vd_net_save_onnx: build the net first");
    if (net->n_layers < 1)
        return vd_error_set(ctx, VD_ERR_STATE, "vd_net_save_onnx: the net has no layers");
    ex e = {.ctx = ctx, .net = net};
    vd_status st = VD_OK;
    uint8_t *buf = NULL;
    size_t np = vd_net_param_count(net);
    float *params = ax(&e, (np ? np : 1) * sizeof(float));
    if (!params) {
        st = oom(&e);
        goto done;
    }
    VD_TRY(vd_net_params_read(net, params, np));
    e.params = params;
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        VD_TRY(export_layer(&e, l));
        for (int32_t p = 0; p < l->n_params; p++) e.param_pos += l->params[p].numel;
        bool is_output = i + 1 == net->n_layers;
        for (int32_t o = 0; o < net->n_extra; o++) is_output |= net->out_layers[o] == i;
        if (!is_output) {
            Onnx__ValueInfoProto *v = value_info(&e, l->name, &l->out);
            if (!push(&e, (void ***)&e.infos, &e.n_infos, &e.cap_infos, v)) {
                st = oom(&e);
                goto done;
            }
        }
    }
    if (e.param_pos != np) {
        st = VD_INTERNAL(ctx, "parameter count");
        goto done;
    }
    VD_TRY(check_names(&e));

    const vd_layer *last = net->layers[net->n_layers - 1];
    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    Onnx__ValueInfoProto *gin = value_info(&e, "input", &net->input);
    /* Output 0, the last layer's, then the extra outputs (vd_net_add_output) in order; an
     * extra output naming the last layer is output 0 already. */
    Onnx__ValueInfoProto *gouts[VD_MAX_OUTPUTS];
    size_t n_gout = 0;
    Onnx__ValueInfoProto *gout = value_info(&e, last->name, &last->out);
    gouts[n_gout++] = gout;
    for (int32_t o = 0; o < net->n_extra && gout; o++) {
        const vd_layer *x = net->layers[net->out_layers[o]];
        if (x == last) continue;
        if (!(gouts[n_gout++] = value_info(&e, x->name, &x->out))) gout = NULL;
    }
    Onnx__OperatorSetIdProto opset;
    onnx__operator_set_id_proto__init(&opset);
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = VD_ONNX_OPSET;
    char in_shape[128];
    vd_shape_format(&net->input, in_shape, sizeof(in_shape));
    char *doc = astr(&e,
                     "Exported by Verdant %s. Input 'input': N samples of shape %s, float32. "
                     "Output '%s': what vd_net_predict returns%s.",
                     vd_version(), in_shape, last->name,
                     strcmp(last->ops->type, "softmax") ? " (scores: no softmax applied)" : "");
    if (!gin || !gout || !doc) {
        st = oom(&e);
        goto done;
    }
    graph.name = "verdant";
    graph.node = e.nodes;
    graph.n_node = e.n_nodes;
    graph.initializer = e.inits;
    graph.n_initializer = e.n_inits;
    graph.input = &gin;
    graph.n_input = 1;
    graph.output = gouts;
    graph.n_output = n_gout;
    graph.value_info = e.infos;
    graph.n_value_info = e.n_infos;
    Onnx__ModelProto model;
    onnx__model_proto__init(&model);
    model.has_ir_version = 1;
    model.ir_version = VD_ONNX_IR_VERSION;
    model.opset_import = opsets;
    model.n_opset_import = 1;
    model.producer_name = "verdant";
    model.producer_version = (char *)vd_version();
    model.doc_string = doc;
    model.graph = &graph;
    size_t len = onnx__model_proto__get_packed_size(&model);
    if (len > size_limit) {
        st = vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                          "vd_net_save_onnx: the model would be %zu bytes, over the %zu-byte "
                          "limit of a protobuf message (%zu parameters); ONNX external data "
                          "files are not written",
                          len, size_limit, np);
        goto done;
    }
    buf = malloc(len ? len : 1);
    if (!buf) {
        st = oom(&e);
        goto done;
    }
    if (onnx__model_proto__pack(&model, buf) != len) {
        st = VD_INTERNAL(ctx, "protobuf-c packed a different size than it announced");
        goto done;
    }
    st = write_atomic(ctx, path, buf, len);
done:
    free(buf);
    for (size_t i = 0; i < e.n_allocs; i++) free(e.allocs[i]);
    free(e.allocs);
    return st;
}

#else /* !VD_HAVE_ONNX */

void vd_onnx_export_set_size_limit(size_t bytes)
{
    (void)bytes;
}

vd_status vd_net_save_onnx(const vd_net *net, const char *path)
{
    (void)path;
    return vd_error_set(net ? net->ctx : NULL, VD_ERR_UNSUPPORTED,
                        "vd_net_save_onnx: Verdant was built without ONNX (VD_WITH_ONNX needs "
                        "libonnx-dev, protobuf-c-compiler and libprotobuf-c-dev)");
}

#endif /* VD_HAVE_ONNX */

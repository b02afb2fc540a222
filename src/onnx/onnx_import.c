/* onnx_import.c - ONNX models onto Verdant's layers (docs/ONNX.md, "Import").
 *
 * The file is parsed by protobuf-c with the code generated from Debian's onnx.proto at
 * build time (cmake/onnx.cmake); its size is checked before anything is read. The graph
 * is walked in dependency order (the file's order is not trusted: a cycle or an input
 * nobody produces is an error naming the node), constants (initializers, Constant nodes,
 * and nodes whose inputs are all constants, folded on the host) are kept apart from
 * activations, and each operator on an activation becomes one Verdant layer (or none: an
 * Identity, a Reshape that keeps the shape) planned in a list that later nodes may still
 * amend (an Add of a constant after a MatMul or a bias-less Conv becomes that layer's
 * bias; any other constant operand of an Add or Concat becomes a `constant` layer holding
 * it broadcast to one sample). Layers no output depends on are dropped; the rest are added
 * to a net, which is built, and the weights, batch-norm statistics and constants are
 * written into it.
 *
 * Verdant's layers see a batch of samples of 1 to 3 dimensions, so dimension 0 of every
 * ONNX activation is the batch (or, with whole_tensor, the whole tensor is one sample and
 * ONNX axis a is sample axis a; with batch_dims k, the first k dimensions are the batch).
 * Everything the layers cannot express (asymmetric padding, a Concat along the batch, an
 * attribute value Verdant does not implement) is refused with the node, the operator, the
 * attribute and the opset named; nothing is approximated. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../net/net.h"
#include "../ops/ops_cnn.h"
#include "onnx_import.h"

#ifdef VD_HAVE_ONNX
#include "onnx.pb-c.h"

#define MAX_NODES 20000
#define MAX_ELEMS ((size_t)1 << 28) /* per tensor */
#define MAX_KV 16
#define R VD_ONNX_MAX_RANK

typedef Onnx__NodeProto node_t;
typedef Onnx__AttributeProto attr_t;

/* A constant tensor on the host. Integer tensors keep their int64 values too (shapes). */
typedef struct tens {
    int32_t r;
    int64_t d[R];
    size_t n;
    float *f;
    int64_t *i; /* NULL unless the tensor was integer */
} tens;

enum { V_CONST = 1, V_ACT = 2 };

typedef struct val {
    const char *name; /* points into the model (or a bind) */
    int kind;
    tens c;           /* V_CONST */
    int32_t layer;    /* V_ACT: planned layer index, -1 the net input */
    int32_t r;        /* V_ACT: the ONNX shape; d[0] is the batch (-1: symbolic) unless whole */
    int64_t d[R];
} val;

/* One planned Verdant layer. */
typedef struct lrec {
    char type[16], name[64];
    int32_t in[VD_MAX_INPUTS], n_in;
    char key[MAX_KV][16], value[MAX_KV][32];
    int32_t n_kv;
    float *p[VD_MAX_PARAMS];
    size_t pn[VD_MAX_PARAMS];
    int32_t np;
    float *state;
    size_t state_n;
    bool bias_open; /* dense/conv2d without a bias that a following Add may supply */
    int64_t bias_len;
    bool bias_last; /* the bias runs along the last axis (dense per_row=1), not the channel */
    bool live;
} lrec;

typedef struct imp {
    vd_context *ctx;
    const char *src;
    const vd_onnx_options *opt;
    int64_t opset;
    int32_t bo; /* 1: ONNX dimension 0 is the batch; 0: whole tensor */
    Onnx__GraphProto *g;
    val *v;
    size_t nv, capv;
    lrec *L;
    int32_t nl, capl;
    const node_t *node; /* the node being mapped (messages) */
    size_t node_idx;
    int64_t batch; /* the data input's fixed batch, -1 when symbolic or whole */
    bool one_d;    /* a 1-D Conv/pool mapped onto 2-D over (C, 1, L): attributes widened */
    int32_t *order, n_order; /* live layers in emission order; output 0's (main) last */
    int32_t main;
    int32_t out_layer[VD_MAX_OUTPUTS], n_outs;
    bool int_input; /* the data input is an 8/16-bit integer type (in_type) */
    int in_type;
    bool flat_input; /* the input's sample has more than 3 dimensions, and only Flatten and
                        Reshape (which see its element count) read it: the net's input is
                        that sample flattened */
} imp;

/* ------------------------------------------------------------------ messages */

static const char *node_label(const imp *I, char *buf, size_t cap)
{
    const node_t *n = I->node;
    if (n->name && *n->name) snprintf(buf, cap, "'%.80s'", n->name);
    else
        snprintf(buf, cap, "#%zu (output '%.60s')", I->node_idx,
                 n->n_output && n->output[0] ? n->output[0] : "");
    return buf;
}

/* "src: node 'x' (Conv, opset 13): <message>" */
static vd_status nerr(imp *I, vd_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vd_status nerr(imp *I, vd_status st, const char *fmt, ...)
{
    char msg[768], lab[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!I->node) return vd_error_set(I->ctx, st, "%s: %s", I->src, msg);
    return vd_error_set(I->ctx, st, "%s: node %s (%.40s, opset %lld): %s", I->src,
                        node_label(I, lab, sizeof(lab)), I->node->op_type ? I->node->op_type : "",
                        (long long)I->opset, msg);
}

static vd_status attr_err(imp *I, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vd_status attr_err(imp *I, const char *attr, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return nerr(I, VD_ERR_UNSUPPORTED, "attribute '%s': %s", attr, msg);
}

static void fmt_dims(const int64_t *d, int32_t r, char *buf, size_t cap)
{
    size_t u = (size_t)snprintf(buf, cap, "(");
    for (int32_t k = 0; k < r && u < cap; k++)
        u += (size_t)snprintf(buf + u, cap - u, "%s%lld", k ? ", " : "", (long long)d[k]);
    if (u < cap) snprintf(buf + u, cap - u, ")");
}

/* ------------------------------------------------------------------ tensors */

static void tens_free(tens *t)
{
    free(t->f);
    free(t->i);
    memset(t, 0, sizeof(*t));
}

static bool dims_numel(const int64_t *d, int32_t r, size_t *n)
{
    size_t c = 1;
    for (int32_t k = 0; k < r; k++) {
        if (d[k] < 0 || (d[k] > 0 && c > MAX_ELEMS / (size_t)d[k])) return false;
        c *= (size_t)d[k];
    }
    if (c > MAX_ELEMS) return false;
    *n = c;
    return true;
}

/* TensorProto -> tens. what names it in messages. */
static vd_status tensor_from_proto(vd_context *ctx, const char *src, const Onnx__TensorProto *t,
                                   const char *what, tens *out)
{
    memset(out, 0, sizeof(*out));
    const char *nm = t->name && *t->name ? t->name : what;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "%s: tensor '%.80s': external data files are not supported", src, nm);
    if (t->segment)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "%s: tensor '%.80s': segmented tensors are not supported", src, nm);
    if (t->n_dims > R)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "%s: tensor '%.80s': rank %zu (at most %d)",
                            src, nm, t->n_dims, R);
    out->r = (int32_t)t->n_dims;
    for (size_t k = 0; k < t->n_dims; k++) out->d[k] = t->dims[k];
    if (!dims_numel(out->d, out->r, &out->n))
        return vd_error_set(ctx, VD_ERR_FORMAT,
                            "%s: tensor '%.80s': negative dimension or more than %zu elements",
                            src, nm, MAX_ELEMS);
    int32_t dt = t->has_data_type ? t->data_type : 0;
    size_t n = out->n, have, esize;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: have = t->n_float_data; esize = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: have = t->n_double_data; esize = 8; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: have = t->n_int32_data; esize = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: have = t->n_int64_data; esize = 8; break;
    /* bool: one byte each in raw_data, or int32_data; read as the integers 0 and 1 */
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: have = t->n_int32_data; esize = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: have = t->n_int32_data; esize = 1; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: have = t->n_int32_data; esize = 2; break;
    default:
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "%s: tensor '%.80s': data type %d is not supported (float32, "
                            "float64, int8/16/32/64, uint8/16 and bool are)",
                            src, nm, (int)dt);
    }
    bool raw = t->has_raw_data && t->raw_data.len > 0;
    if (raw && have)
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: tensor '%.80s': both raw_data and typed data",
                            src, nm);
    size_t got = raw ? t->raw_data.len / esize : have;
    if ((raw && t->raw_data.len % esize) || got != n)
        return vd_error_set(ctx, VD_ERR_FORMAT,
                            "%s: tensor '%.80s': %zu values for shape with %zu elements", src, nm,
                            raw ? t->raw_data.len / esize : have, n);
    out->f = malloc((n ? n : 1) * sizeof(float));
    bool isint = dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
                 dt != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    if (isint) out->i = malloc((n ? n : 1) * sizeof(int64_t));
    if (!out->f || (isint && !out->i)) {
        tens_free(out);
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    const uint8_t *rp = raw ? t->raw_data.data : NULL;
    for (size_t k = 0; k < n; k++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
            float x;
            if (rp) memcpy(&x, rp + 4 * k, 4);
            else x = t->float_data[k];
            out->f[k] = x;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double x;
            if (rp) memcpy(&x, rp + 8 * k, 8);
            else x = t->double_data[k];
            out->f[k] = (float)x;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: {
            int64_t x = rp ? rp[k] != 0 : t->int32_data[k] != 0;
            out->i[k] = x;
            out->f[k] = (float)x;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t x;
            if (rp) memcpy(&x, rp + 4 * k, 4);
            else x = t->int32_data[k];
            out->i[k] = x;
            out->f[k] = (float)x;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: {
            /* raw_data: little-endian bytes; typed: one int32_data value per element. */
            int64_t x;
            if (rp && esize == 1)
                x = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? (int64_t)(int8_t)rp[k] : rp[k];
            else if (rp) {
                uint16_t u = (uint16_t)(rp[2 * k] | rp[2 * k + 1] << 8);
                x = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT16 ? (int64_t)(int16_t)u : u;
            } else x = t->int32_data[k];
            out->i[k] = x;
            out->f[k] = (float)x;
            break;
        }
        default: {
            int64_t x;
            if (rp) memcpy(&x, rp + 8 * k, 8);
            else x = t->int64_data[k];
            out->i[k] = x;
            out->f[k] = (float)x;
            break;
        }
        }
    }
    return VD_OK;
}

static vd_status tens_alloc(imp *I, tens *t, int32_t r, const int64_t *d, bool isint)
{
    memset(t, 0, sizeof(*t));
    t->r = r;
    for (int32_t k = 0; k < r; k++) t->d[k] = d[k];
    if (!dims_numel(t->d, r, &t->n))
        return nerr(I, VD_ERR_FORMAT, "constant of more than %zu elements", MAX_ELEMS);
    t->f = calloc(t->n ? t->n : 1, sizeof(float));
    if (isint) t->i = calloc(t->n ? t->n : 1, sizeof(int64_t));
    if (!t->f || (isint && !t->i)) {
        tens_free(t);
        return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    return VD_OK;
}

static vd_status tens_copy(imp *I, const tens *a, tens *out)
{
    vd_status st = tens_alloc(I, out, a->r, a->d, a->i != NULL);
    if (st != VD_OK) return st;
    memcpy(out->f, a->f, a->n * sizeof(float));
    if (a->i) memcpy(out->i, a->i, a->n * sizeof(int64_t));
    return VD_OK;
}

/* Numpy broadcast of a (ra dims) against the shape (rt, dt): out[k] = index into a. */
static bool bcast_index(const tens *a, int32_t rt, const int64_t *dt, size_t *map, size_t n)
{
    if (a->r > rt) return false;
    int32_t off = rt - a->r;
    for (int32_t k = 0; k < a->r; k++)
        if (a->d[k] != 1 && a->d[k] != dt[k + off]) return false;
    for (size_t e = 0; e < n; e++) {
        size_t rem = e, idx = 0, stride = 1;
        for (int32_t k = rt - 1; k >= 0; k--) {
            size_t pos = (size_t)(rem % (size_t)dt[k]);
            rem /= (size_t)dt[k];
            if (k >= off) {
                int64_t ad = a->d[k - off];
                idx += (ad == 1 ? 0 : pos) * stride;
                stride *= (size_t)ad;
            }
        }
        map[e] = idx;
    }
    return true;
}

/* a broadcast to exactly n elements of shape (rt, dt) into a fresh float array. */
static vd_status expand_to(imp *I, const tens *a, int32_t rt, const int64_t *dt, const char *what,
                           float **out)
{
    size_t n;
    *out = NULL;
    if (!dims_numel(dt, rt, &n)) return nerr(I, VD_ERR_FORMAT, "%s: too large", what);
    size_t *map = malloc((n ? n : 1) * sizeof(size_t));
    float *f = malloc((n ? n : 1) * sizeof(float));
    if (!map || !f) {
        free(map);
        free(f);
        return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    if (!bcast_index(a, rt, dt, map, n)) {
        char sa[96], sb[96];
        fmt_dims(a->d, a->r, sa, sizeof(sa));
        fmt_dims(dt, rt, sb, sizeof(sb));
        free(map);
        free(f);
        return nerr(I, VD_ERR_SHAPE, "%s: shape %s does not broadcast to %s", what, sa, sb);
    }
    for (size_t e = 0; e < n; e++) f[e] = a->f[map[e]];
    free(map);
    *out = f;
    return VD_OK;
}

/* ------------------------------------------------------------------ values */

static val *find_val(imp *I, const char *name)
{
    for (size_t k = I->nv; k-- > 0;)
        if (!strcmp(I->v[k].name, name)) return &I->v[k];
    return NULL;
}

static vd_status push_val(imp *I, const val *v)
{
    if (I->nv == I->capv) {
        size_t nc = I->capv ? 2 * I->capv : 64;
        val *p = realloc(I->v, nc * sizeof(*p));
        if (!p) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        I->v = p;
        I->capv = nc;
    }
    I->v[I->nv++] = *v;
    return VD_OK;
}

/* Takes ownership of t. */
static vd_status set_const(imp *I, const char *name, tens *t)
{
    val v;
    memset(&v, 0, sizeof(v));
    v.name = name;
    v.kind = V_CONST;
    v.c = *t;
    memset(t, 0, sizeof(*t));
    vd_status st = push_val(I, &v);
    if (st != VD_OK) tens_free(&v.c);
    return st;
}

static vd_status set_act(imp *I, const char *name, int32_t layer, int32_t r, const int64_t *d)
{
    val v;
    memset(&v, 0, sizeof(v));
    v.name = name;
    v.kind = V_ACT;
    v.layer = layer;
    v.r = r;
    for (int32_t k = 0; k < r; k++) v.d[k] = d[k];
    return push_val(I, &v);
}

/* How many node inputs and graph outputs read name. */
static int32_t uses(const imp *I, const char *name)
{
    int32_t c = 0;
    for (size_t k = 0; k < I->g->n_node; k++) {
        const node_t *n = I->g->node[k];
        for (size_t j = 0; j < n->n_input; j++)
            if (n->input[j] && !strcmp(n->input[j], name)) c++;
    }
    for (size_t k = 0; k < I->g->n_output; k++)
        if (I->g->output[k]->name && !strcmp(I->g->output[k]->name, name)) c++;
    return c;
}

/* How many node inputs and graph outputs read planned layer L's output, under any of
 * its names (Identity and shape-keeping Reshapes add names). */
static int32_t layer_uses(const imp *I, int32_t L)
{
    int32_t c = 0;
    for (size_t k = 0; k < I->nv; k++)
        if (I->v[k].kind == V_ACT && I->v[k].layer == L) c += uses(I, I->v[k].name);
    return c;
}

/* ------------------------------------------------------------------ layers */

static vd_status new_layer(imp *I, const char *type, int32_t *idx)
{
    if (I->nl == I->capl) {
        int32_t nc = I->capl ? 2 * I->capl : 32;
        lrec *p = realloc(I->L, (size_t)nc * sizeof(*p));
        if (!p) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        I->L = p;
        I->capl = nc;
    }
    lrec *l = &I->L[I->nl];
    memset(l, 0, sizeof(*l));
    snprintf(l->type, sizeof(l->type), "%s", type);
    /* A name from the node's (printable, no separators), unique, else type + index. */
    char base[48] = "";
    const char *nn = I->node && I->node->name ? I->node->name : "";
    size_t u = 0;
    for (const char *c = nn; *c && u < 40; c++) {
        unsigned char ch = (unsigned char)*c;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  strchr("_-./:", ch);
        base[u++] = ok ? (char)ch : '_';
    }
    base[u] = '\0';
    if (!u || !strcmp(base, "input")) snprintf(base, sizeof(base), "%s", type);
    snprintf(l->name, sizeof(l->name), "%s", base);
    for (int32_t k = 0, suffix = 1; k < I->nl; k++)
        if (!strcmp(I->L[k].name, l->name)) {
            snprintf(l->name, sizeof(l->name), "%s_%d", base, (int)suffix++);
            k = -1;
        }
    *idx = I->nl++;
    return VD_OK;
}

static void kv(lrec *l, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv(lrec *l, const char *key, const char *fmt, ...)
{
    if (l->n_kv == MAX_KV) return;
    snprintf(l->key[l->n_kv], sizeof(l->key[0]), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->value[l->n_kv], sizeof(l->value[0]), fmt, ap);
    va_end(ap);
    l->n_kv++;
}

static void kv_set(lrec *l, const char *key, const char *value)
{
    for (int32_t k = 0; k < l->n_kv; k++)
        if (!strcmp(l->key[k], key)) {
            snprintf(l->value[k], sizeof(l->value[0]), "%s", value);
            return;
        }
    kv(l, key, "%s", value);
}

/* Takes ownership of p. */
static void add_param(lrec *l, float *p, size_t n)
{
    l->p[l->np] = p;
    l->pn[l->np] = n;
    l->np++;
}

/* ------------------------------------------------------------------ attributes */

static const attr_t *attr(const imp *I, const char *name)
{
    for (size_t k = 0; k < I->node->n_attribute; k++)
        if (I->node->attribute[k]->name && !strcmp(I->node->attribute[k]->name, name))
            return I->node->attribute[k];
    return NULL;
}

/* Every attribute of the node must be in the space-separated list. */
static vd_status check_attrs(imp *I, const char *known)
{
    for (size_t k = 0; k < I->node->n_attribute; k++) {
        const attr_t *a = I->node->attribute[k];
        const char *nm = a->name ? a->name : "";
        bool ok = false;
        size_t len = strlen(nm);
        for (const char *p = known; *p && !ok;) {
            const char *e = strchr(p, ' ');
            size_t w = e ? (size_t)(e - p) : strlen(p);
            ok = len && w == len && !strncmp(p, nm, w);
            p += w + (e ? 1 : 0);
        }
        if (!ok)
            return attr_err(I, nm, "not supported by Verdant's importer for this op (known: %s)",
                            *known ? known : "none");
        if (a->ref_attr_name && *a->ref_attr_name)
            return attr_err(I, nm, "function attribute references are not supported");
    }
    return VD_OK;
}

static vd_status attr_int(imp *I, const char *name, int64_t def, int64_t *out)
{
    const attr_t *a = attr(I, name);
    *out = def;
    if (!a) return VD_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return attr_err(I, name, "expected an int (type %d)", (int)a->type);
    *out = a->i;
    return VD_OK;
}

static vd_status attr_float(imp *I, const char *name, float def, float *out)
{
    const attr_t *a = attr(I, name);
    *out = def;
    if (!a) return VD_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return attr_err(I, name, "expected a float (type %d)", (int)a->type);
    *out = a->f;
    return VD_OK;
}

/* *n = -1 when absent. */
static vd_status attr_ints(imp *I, const char *name, int64_t *out, int32_t cap, int32_t *n)
{
    const attr_t *a = attr(I, name);
    *n = -1;
    if (!a) return VD_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return attr_err(I, name, "expected a list of ints (type %d)", (int)a->type);
    if (a->n_ints > (size_t)cap) return attr_err(I, name, "%zu values (at most %d)", a->n_ints, cap);
    for (size_t k = 0; k < a->n_ints; k++) out[k] = a->ints[k];
    *n = (int32_t)a->n_ints;
    if (I->one_d && !strcmp(name, "pads") && *n == 2 && cap >= 4) { /* (b, e) -> (0, b, 0, e) */
        int64_t b = out[0], e = out[1];
        out[0] = 0, out[1] = b, out[2] = 0, out[3] = e;
        *n = 4;
    } else if (I->one_d && strcmp(name, "pads") && *n == 1 && cap >= 2) { /* v -> (1, v) */
        out[1] = out[0];
        out[0] = 1;
        *n = 2;
    }
    return VD_OK;
}

static vd_status attr_str(imp *I, const char *name, const char *def, char *out, size_t cap)
{
    const attr_t *a = attr(I, name);
    snprintf(out, cap, "%s", def);
    if (!a) return VD_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return attr_err(I, name, "expected a string (type %d)", (int)a->type);
    size_t n = a->s.len < cap - 1 ? a->s.len : cap - 1;
    if (a->s.len && a->s.data) memcpy(out, a->s.data, n);
    out[n] = '\0';
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)out[k] < ' ' || (unsigned char)out[k] >= 0x7f) out[k] = '?';
    return VD_OK;
}

/* ------------------------------------------------------------------ node inputs */

static const char *in_name(const imp *I, size_t k)
{
    if (k >= I->node->n_input || !I->node->input[k] || !I->node->input[k][0]) return NULL;
    return I->node->input[k];
}

static const char *out_name(const imp *I, size_t k)
{
    if (k >= I->node->n_output || !I->node->output[k] || !I->node->output[k][0]) return NULL;
    return I->node->output[k];
}

static val *in_val(imp *I, size_t k)
{
    const char *n = in_name(I, k);
    return n ? find_val(I, n) : NULL;
}

/* Outputs beyond the first must be absent or unused. */
static vd_status only_first_output(imp *I)
{
    for (size_t k = 1; k < I->node->n_output; k++) {
        const char *o = out_name(I, k);
        if (o && uses(I, o) > 0)
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "output %zu ('%.60s') is used, Verdant computes only the first output", k,
                        o);
    }
    return VD_OK;
}

static vd_status need_act(imp *I, val *x, const char *what)
{
    if (!x) return nerr(I, VD_ERR_FORMAT, "missing input %s", what);
    if (x->kind != V_ACT)
        return nerr(I, VD_ERR_UNSUPPORTED, "input %s '%.60s' must be an activation", what, x->name);
    return VD_OK;
}

static vd_status need_const(imp *I, val *c, const char *what)
{
    if (!c) return nerr(I, VD_ERR_FORMAT, "missing input %s", what);
    if (c->kind != V_CONST)
        return nerr(I, VD_ERR_UNSUPPORTED,
                    "input %s '%.60s' is computed from the data input; Verdant needs it "
                    "constant (an initializer)",
                    what, c->name);
    return VD_OK;
}

/* The batch dimension needs dimension 0 = batch: refuse in whole-tensor mode and for
 * inputs of the wrong rank. */
static vd_status need_batch_rank(imp *I, const val *x, int32_t r_lo, int32_t r_hi)
{
    if (I->bo != 1)
        return nerr(I, VD_ERR_UNSUPPORTED,
                    "needs dimension 0 of its input, alone, to be the batch (this import takes "
                    "%d leading dimensions as the batch)",
                    (int)I->bo);
    if (x->r < r_lo || x->r > r_hi)
        return nerr(I, VD_ERR_UNSUPPORTED, "input of rank %d (Verdant's layer takes rank %d%s%d)",
                    (int)x->r, (int)r_lo, r_lo == r_hi ? "" : " to ", r_lo == r_hi ? 0 : (int)r_hi);
    return VD_OK;
}

/* A layer on one activation; output shape (r, d). */
static vd_status emit1(imp *I, const char *type, const val *x, int32_t r, const int64_t *d,
                       int32_t *idx)
{
    vd_status st = new_layer(I, type, idx);
    if (st != VD_OK) return st;
    lrec *l = &I->L[*idx];
    l->in[0] = x->layer;
    l->n_in = 1;
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    return set_act(I, o, *idx, r, d);
}

/* One planned layer of type t reading layer `in`, no value of its own (a step inside one
 * operator); *idx its index. */
static vd_status chain(imp *I, const char *t, int32_t in, int32_t *idx)
{
    vd_status st = new_layer(I, t, idx);
    if (st != VD_OK) return st;
    I->L[*idx].in[0] = in;
    I->L[*idx].n_in = 1;
    return VD_OK;
}

/* ------------------------------------------------------------------ folding */

static vd_status fold(imp *I)
{
    const char *op = I->node->op_type ? I->node->op_type : "";
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    val *a = in_val(I, 0);
    if (!a) return nerr(I, VD_ERR_FORMAT, "missing input 0");
    tens t;
    vd_status st;
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        st = tens_copy(I, &a->c, &t);
        if (st == VD_OK) st = set_const(I, o, &t);
        return st;
    }
    if (!strcmp(op, "Relu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh") ||
        !strcmp(op, "LeakyRelu")) {
        float alpha = 0.01f;
        if (!strcmp(op, "LeakyRelu") && (st = attr_float(I, "alpha", 0.01f, &alpha)) != VD_OK)
            return st;
        if ((st = tens_alloc(I, &t, a->c.r, a->c.d, false)) != VD_OK) return st;
        for (size_t e = 0; e < t.n; e++) {
            float x = a->c.f[e];
            t.f[e] = op[0] == 'R'   ? (x > 0 ? x : 0)
                     : op[0] == 'S' ? 1.0f / (1.0f + expf(-x))
                     : op[0] == 'T' ? tanhf(x)
                                    : (x > 0 ? x : alpha * x);
        }
        return set_const(I, o, &t);
    }
    if (!strcmp(op, "Add")) {
        val *b = in_val(I, 1);
        if (!b) return nerr(I, VD_ERR_FORMAT, "Add needs two inputs");
        int32_t rt = a->c.r > b->c.r ? a->c.r : b->c.r;
        int64_t dt[R];
        for (int32_t k = 0; k < rt; k++) {
            int32_t ka = k - (rt - a->c.r), kb = k - (rt - b->c.r);
            int64_t da = ka >= 0 ? a->c.d[ka] : 1, db = kb >= 0 ? b->c.d[kb] : 1;
            if (da != db && da != 1 && db != 1)
                return nerr(I, VD_ERR_SHAPE, "constant Add of shapes that do not broadcast");
            dt[k] = da == 1 ? db : da;
        }
        float *fa = NULL, *fb = NULL;
        st = expand_to(I, &a->c, rt, dt, "input A", &fa);
        if (st == VD_OK) st = expand_to(I, &b->c, rt, dt, "input B", &fb);
        if (st == VD_OK) st = tens_alloc(I, &t, rt, dt, a->c.i && b->c.i);
        if (st == VD_OK) {
            for (size_t e = 0; e < t.n; e++) {
                t.f[e] = fa[e] + fb[e];
                if (t.i) t.i[e] = (int64_t)fa[e] + (int64_t)fb[e];
            }
            st = set_const(I, o, &t);
        }
        free(fa);
        free(fb);
        return st;
    }
    if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten")) {
        int64_t d[R];
        int32_t r = 0;
        if (op[0] == 'F') {
            int64_t axis;
            if ((st = attr_int(I, "axis", 1, &axis)) != VD_OK) return st;
            if (axis < 0) axis += a->c.r;
            if (axis < 0 || axis > a->c.r) return attr_err(I, "axis", "out of range");
            d[0] = d[1] = 1;
            for (int32_t k = 0; k < a->c.r; k++) d[k < axis ? 0 : 1] *= a->c.d[k];
            r = 2;
        } else {
            val *s = in_val(I, 1);
            if (!s || !s->c.i || s->c.r != 1 || s->c.n > R)
                return nerr(I, VD_ERR_FORMAT, "Reshape needs a rank-1 integer shape of <= %d", R);
            int64_t allow;
            if ((st = attr_int(I, "allowzero", 0, &allow)) != VD_OK) return st;
            int32_t neg = -1;
            size_t known = 1;
            r = (int32_t)s->c.n;
            for (int32_t k = 0; k < r; k++) {
                int64_t x = s->c.i[k];
                if (x == 0 && !allow) {
                    if (k >= a->c.r) return nerr(I, VD_ERR_SHAPE, "shape copies a missing dim");
                    x = a->c.d[k];
                }
                if (x == -1) {
                    if (neg >= 0) return nerr(I, VD_ERR_SHAPE, "two -1 in the shape");
                    neg = k;
                    x = 1;
                } else if (x < 0 || (x > 0 && known > MAX_ELEMS / (size_t)x)) {
                    return nerr(I, VD_ERR_SHAPE, "bad shape value %lld", (long long)x);
                }
                d[k] = x;
                known *= (size_t)x;
            }
            if (neg >= 0) {
                if (known == 0 || a->c.n % known)
                    return nerr(I, VD_ERR_SHAPE, "cannot infer -1 in the shape");
                d[neg] = (int64_t)(a->c.n / known);
                known = a->c.n;
            }
            if (known != a->c.n) return nerr(I, VD_ERR_SHAPE, "element counts differ");
        }
        if ((st = tens_copy(I, &a->c, &t)) != VD_OK) return st;
        t.r = r;
        for (int32_t k = 0; k < r; k++) t.d[k] = d[k];
        return set_const(I, o, &t);
    }
    if (!strcmp(op, "Concat")) {
        int64_t axis;
        if ((st = attr_int(I, "axis", 0, &axis)) != VD_OK) return st;
        int32_t r = a->c.r;
        if (axis < 0) axis += r;
        if (axis < 0 || axis >= r) return attr_err(I, "axis", "out of range for rank %d", (int)r);
        int64_t d[R];
        memcpy(d, a->c.d, sizeof(d));
        d[axis] = 0;
        bool isint = true;
        for (size_t k = 0; k < I->node->n_input; k++) {
            val *b = in_val(I, k);
            if (!b) return nerr(I, VD_ERR_FORMAT, "missing input %zu", k);
            if (b->c.r != r) return nerr(I, VD_ERR_SHAPE, "inputs of different rank");
            for (int32_t j = 0; j < r; j++)
                if (j != axis && b->c.d[j] != a->c.d[j])
                    return nerr(I, VD_ERR_SHAPE, "input %zu differs off the axis", k);
            d[axis] += b->c.d[axis];
            isint = isint && b->c.i;
        }
        if ((st = tens_alloc(I, &t, r, d, isint)) != VD_OK) return st;
        size_t outer = 1, inner = 1;
        for (int32_t j = 0; j < axis; j++) outer *= (size_t)d[j];
        for (int32_t j = (int32_t)axis + 1; j < r; j++) inner *= (size_t)d[j];
        size_t pos = 0;
        for (size_t o2 = 0; o2 < outer; o2++)
            for (size_t k = 0; k < I->node->n_input; k++) {
                val *b = in_val(I, k);
                size_t blk = (size_t)b->c.d[axis] * inner;
                memcpy(t.f + pos, b->c.f + o2 * blk, blk * sizeof(float));
                if (t.i) memcpy(t.i + pos, b->c.i + o2 * blk, blk * sizeof(int64_t));
                pos += blk;
            }
        return set_const(I, o, &t);
    }
    if (!strcmp(op, "MatMul")) {
        val *b = in_val(I, 1);
        if (!b || a->c.r != 2 || b->c.r != 2 || a->c.d[1] != b->c.d[0])
            return nerr(I, VD_ERR_UNSUPPORTED, "constant MatMul folds only 2-D x 2-D");
        int64_t d[2] = {a->c.d[0], b->c.d[1]};
        if ((st = tens_alloc(I, &t, 2, d, false)) != VD_OK) return st;
        size_t M = (size_t)d[0], N = (size_t)d[1], K = (size_t)a->c.d[1];
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double s = 0;
                for (size_t k = 0; k < K; k++) s += (double)a->c.f[i * K + k] * b->c.f[k * N + j];
                t.f[i * N + j] = (float)s;
            }
        return set_const(I, o, &t);
    }
    return nerr(I, VD_ERR_UNSUPPORTED,
                "all inputs are constants, and folding %s on the host is not implemented "
                "(folded: Identity, Dropout, Relu, Sigmoid, Tanh, LeakyRelu, Add, Reshape, "
                "Flatten, Concat, MatMul)",
                op);
}

static vd_status op_constant(imp *I)
{
    vd_status st = check_attrs(I, "value value_float value_floats value_int value_ints");
    if (st != VD_OK) return st;
    const char *o = out_name(I, 0);
    if (!o || I->node->n_attribute != 1)
        return nerr(I, VD_ERR_FORMAT, "Constant needs one output and exactly one value attribute");
    const attr_t *a = I->node->attribute[0];
    tens t;
    memset(&t, 0, sizeof(t));
    if (!strcmp(a->name, "value")) {
        if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t)
            return attr_err(I, "value", "expected a tensor");
        st = tensor_from_proto(I->ctx, I->src, a->t, o, &t);
    } else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_int")) {
        bool isf = a->name[6] == 'f';
        if (a->type != (isf ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                            : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
            return attr_err(I, a->name, "wrong attribute type %d", (int)a->type);
        st = tens_alloc(I, &t, 0, NULL, !isf);
        if (st == VD_OK) {
            t.f[0] = isf ? a->f : (float)a->i;
            if (!isf) t.i[0] = a->i;
        }
    } else {
        bool isf = a->name[6] == 'f';
        if (a->type != (isf ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                            : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS))
            return attr_err(I, a->name, "wrong attribute type %d", (int)a->type);
        int64_t n = (int64_t)(isf ? a->n_floats : a->n_ints);
        st = tens_alloc(I, &t, 1, &n, !isf);
        for (int64_t k = 0; st == VD_OK && k < n; k++) {
            t.f[k] = isf ? a->floats[k] : (float)a->ints[k];
            if (!isf) t.i[k] = a->ints[k];
        }
    }
    if (st == VD_OK) st = set_const(I, o, &t);
    return st;
}

/* ------------------------------------------------------------------ operators */

/* Spatial padding of a 2-D window op: pads[0..4) = (top, left, bottom, right). */
static vd_status spatial_pads(imp *I, const val *x, const int64_t *k, const int64_t *s,
                              const int64_t *dil, int64_t pads[4])
{
    char ap[32];
    vd_status st = attr_str(I, "auto_pad", "NOTSET", ap, sizeof(ap));
    if (st != VD_OK) return st;
    int32_t n;
    int64_t p[8];
    if ((st = attr_ints(I, "pads", p, 8, &n)) != VD_OK) return st;
    for (int j = 0; j < 4; j++) pads[j] = 0;
    if (!strcmp(ap, "NOTSET")) {
        if (n >= 0 && n != 4) return attr_err(I, "pads", "%d values (4 for 2-D)", (int)n);
        for (int j = 0; j < 4 && n == 4; j++) {
            if (p[j] < 0 || p[j] > 1024) return attr_err(I, "pads", "padding outside 0 to 1024");
            pads[j] = p[j];
        }
    } else if (!strcmp(ap, "VALID")) {
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int j = 0; j < 2; j++) {
            int64_t in = x->d[2 + j], out = (in + s[j] - 1) / s[j];
            int64_t total = (out - 1) * s[j] + (k[j] - 1) * dil[j] + 1 - in;
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            pads[j] = ap[5] == 'U' ? small : big;
            pads[j + 2] = ap[5] == 'U' ? big : small;
        }
    } else {
        return attr_err(I, "auto_pad", "'%s' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER", ap);
    }
    return VD_OK;
}

static vd_status two_equal(imp *I, const char *name, int64_t def, int64_t out[2])
{
    int32_t n;
    int64_t v[8];
    vd_status st = attr_ints(I, name, v, 8, &n);
    if (st != VD_OK) return st;
    if (n < 0) {
        out[0] = out[1] = def;
        return VD_OK;
    }
    if (n != 2) return attr_err(I, name, "%d values (2 for 2-D)", (int)n);
    if (v[0] < 1 || v[1] < 1 || v[0] > 1024 || v[1] > 1024)
        return attr_err(I, name, "values must be 1 to 1024 (Verdant's range)");
    out[0] = v[0];
    out[1] = v[1];
    return VD_OK;
}

static vd_status op_conv2(imp *I, bool transpose, val *x, val *w, val *b);
static vd_status one_d_in(imp *I, const val *x, val *x4);
static vd_status one_d_out(imp *I);

static vd_status op_conv(imp *I, bool transpose)
{
    vd_status st = check_attrs(I, transpose ? "auto_pad dilations group kernel_shape "
                                              "output_padding output_shape pads strides"
                                            : "auto_pad dilations group kernel_shape pads strides");
    if (st != VD_OK) return st;
    val *x = in_val(I, 0), *w = in_val(I, 1), *b = in_val(I, 2);
    if ((st = need_act(I, x, "X")) != VD_OK || (st = need_const(I, w, "W")) != VD_OK) return st;
    if (b && (st = need_const(I, b, "B")) != VD_OK) return st;
    if (x->r == 5) return nerr(I, VD_ERR_UNSUPPORTED, "3-D convolution (Verdant's are 2-D)");
    if (x->r == 3 && I->bo == 1) { /* 1-D: over (C, 1, L) with a (.., 1, k) kernel */
        if (w->c.r != 3) return nerr(I, VD_ERR_SHAPE, "W has rank %d, expected 3", (int)w->c.r);
        val w4 = *w, x4;
        w4.c.r = 4;
        w4.c.d[3] = w->c.d[2];
        w4.c.d[2] = 1;
        if ((st = one_d_in(I, x, &x4)) != VD_OK) return st;
        st = op_conv2(I, transpose, &x4, &w4, b ? in_val(I, 2) : NULL);
        if (st != VD_OK) {
            I->one_d = false;
            return st;
        }
        return one_d_out(I);
    }
    return op_conv2(I, transpose, x, w, b);
}

static vd_status op_conv2(imp *I, bool transpose, val *x, val *w, val *b)
{
    vd_status st = need_batch_rank(I, x, 4, 4);
    if (st != VD_OK) return st;
    if (w->c.r != 4) return nerr(I, VD_ERR_SHAPE, "W has rank %d, expected 4", (int)w->c.r);
    int64_t group;
    if ((st = attr_int(I, "group", 1, &group)) != VD_OK) return st;
    int64_t C = x->d[1];
    if (group < 1 || group > C || C % group)
        return attr_err(I, "group", "%lld does not divide the %lld input channels",
                        (long long)group, (long long)C);
    int64_t M = transpose ? w->c.d[1] * group : w->c.d[0];
    if ((transpose ? w->c.d[0] != C : w->c.d[1] * group != C) || M < 1 || M % group)
        return nerr(I, VD_ERR_SHAPE, "W of shape (%lld, %lld, %lld, %lld) does not fit %lld input "
                                     "channels in %lld groups",
                    (long long)w->c.d[0], (long long)w->c.d[1], (long long)w->c.d[2],
                    (long long)w->c.d[3], (long long)C, (long long)group);
    int64_t k[2] = {w->c.d[2], w->c.d[3]};
    if (k[0] < 1 || k[1] < 1 || k[0] > 1024 || k[1] > 1024)
        return nerr(I, VD_ERR_UNSUPPORTED, "kernel %lldx%lld (Verdant's are 1 to 1024)",
                    (long long)k[0], (long long)k[1]);
    int32_t nk;
    int64_t kv8[8];
    if ((st = attr_ints(I, "kernel_shape", kv8, 8, &nk)) != VD_OK) return st;
    if (nk >= 0 && (nk != 2 || kv8[0] != k[0] || kv8[1] != k[1]))
        return attr_err(I, "kernel_shape", "does not match W's spatial shape");
    int64_t s[2], dil[2];
    if ((st = two_equal(I, "strides", 1, s)) != VD_OK) return st;
    if ((st = two_equal(I, "dilations", 1, dil)) != VD_OK) return st;
    if (dil[0] != dil[1])
        return attr_err(I, "dilations", "%lld, %lld: Verdant dilates both axes alike",
                        (long long)dil[0], (long long)dil[1]);
    int64_t pads[4] = {0, 0, 0, 0}, out[2], opad = 0;
    if (!transpose) {
        if ((st = spatial_pads(I, x, k, s, dil, pads)) != VD_OK) return st;
        if (pads[0] != pads[2] || pads[1] != pads[3])
            return attr_err(I, "pads",
                            "(top, left, bottom, right) = (%lld, %lld, %lld, %lld): Verdant "
                            "pads the top as the bottom and the left as the right",
                            (long long)pads[0], (long long)pads[1], (long long)pads[2],
                            (long long)pads[3]);
        for (int j = 0; j < 2; j++) {
            out[j] = (x->d[2 + j] + 2 * pads[j] - dil[j] * (k[j] - 1) - 1) / s[j] + 1;
            if (out[j] < 1) return nerr(I, VD_ERR_SHAPE, "the kernel does not fit the input");
        }
    } else {
        int64_t op2[2];
        int32_t n;
        int64_t v[8];
        if ((st = attr_ints(I, "output_padding", v, 8, &n)) != VD_OK) return st;
        if (n >= 0 && n != 2) return attr_err(I, "output_padding", "%d values", (int)n);
        op2[0] = n == 2 ? v[0] : 0;
        op2[1] = n == 2 ? v[1] : 0;
        if (op2[0] < 0 || op2[1] < 0 || op2[0] > 1024 || op2[1] > 1024)
            return attr_err(I, "output_padding", "outside 0 to 1024");
        int64_t full[2];
        for (int j = 0; j < 2; j++) full[j] = s[j] * (x->d[2 + j] - 1) + op2[j] + (k[j] - 1) * dil[j] + 1;
        char ap[32];
        if ((st = attr_str(I, "auto_pad", "NOTSET", ap, sizeof(ap))) != VD_OK) return st;
        int64_t os[8];
        int32_t nos;
        if ((st = attr_ints(I, "output_shape", os, 8, &nos)) != VD_OK) return st;
        if (nos >= 0 && nos != 2) return attr_err(I, "output_shape", "%d values", (int)nos);
        if (nos == 2 || !strncmp(ap, "SAME", 4)) {
            for (int j = 0; j < 2; j++) {
                int64_t target = nos == 2 ? os[j] : x->d[2 + j] * s[j];
                if (target < 1 || target > (1 << 24))
                    return attr_err(I, "output_shape", "outside 1 to 2^24");
                /* ONNX's reference: begin = total - total // 2 (SAME_UPPER: total // 2),
                 * floor division; a negative end extends the output (output_pad). */
                int64_t total = full[j] - target;
                int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
                bool upper = !strcmp(ap, "SAME_UPPER");
                pads[j] = upper ? half : total - half;
                pads[j + 2] = total - pads[j];
                if (pads[j] < 0)
                    return attr_err(I, nos == 2 ? "output_shape" : "auto_pad",
                                    "output larger than Verdant's deconv2d can extend it");
            }
        } else if (!strcmp(ap, "NOTSET")) {
            if ((st = attr_ints(I, "pads", v, 8, &n)) != VD_OK) return st;
            if (n >= 0 && n != 4) return attr_err(I, "pads", "%d values (4 for 2-D)", (int)n);
            for (int j = 0; j < 4 && n == 4; j++) {
                if (v[j] < 0 || v[j] > 1024)
                    return attr_err(I, "pads", "padding outside 0 to 1024");
                pads[j] = v[j];
            }
        } else if (strcmp(ap, "VALID")) {
            return attr_err(I, "auto_pad", "'%s' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER",
                            ap);
        }
        /* Verdant: rows [p, p + out) of the full output, out = full - op - 2p + q; ONNX:
         * rows [pb, full - pe). So p = pb, q = op + pb - pe on both axes (q < 0: the
         * bottom/right cropped more than the top/left). */
        int64_t q[2] = {op2[0] + pads[0] - pads[2], op2[1] + pads[1] - pads[3]};
        if (q[0] != q[1] || q[0] < -1024)
            return attr_err(I, "pads",
                            "(top, left, bottom, right) = (%lld, %lld, %lld, %lld) with "
                            "output_padding (%lld, %lld): Verdant's deconv2d crops the top as "
                            "the bottom and the left as the right, then extends (or crops) the "
                            "bottom and right by one amount, the same on both axes",
                            (long long)pads[0], (long long)pads[1], (long long)pads[2],
                            (long long)pads[3], (long long)op2[0], (long long)op2[1]);
        if ((q[0] >= s[0] || q[0] >= s[1]) && q[0] >= dil[0])
            return attr_err(I, "pads", "needs output_pad %lld, not below the stride or dilation",
                            (long long)q[0]);
        opad = q[0];
        for (int j = 0; j < 2; j++) out[j] = full[j] - pads[j] - pads[j + 2];
        if (out[0] < 1 || out[1] < 1) return nerr(I, VD_ERR_SHAPE, "empty output");
    }
    int32_t idx;
    int64_t od[4] = {x->d[0], M, out[0], out[1]};
    if ((st = emit1(I, transpose ? "deconv2d" : "conv2d", x, 4, od, &idx)) != VD_OK) return st;
    w = in_val(I, 1); /* emit1 may have moved the value table (and w, b may be views) */
    b = in_val(I, 2);
    lrec *l = &I->L[idx];
    kv(l, "filters", "%lld", (long long)M);
    kv(l, "kernel_h", "%lld", (long long)k[0]);
    kv(l, "kernel_w", "%lld", (long long)k[1]);
    kv(l, "kernel", "%lld", (long long)k[0]);
    kv(l, "stride", "%lld", (long long)s[0]);
    kv(l, "pad", "%lld", (long long)pads[0]);
    if (s[1] != s[0]) kv(l, "stride_w", "%lld", (long long)s[1]);
    if (pads[1] != pads[0]) kv(l, "pad_w", "%lld", (long long)pads[1]);
    kv(l, "dilation", "%lld", (long long)dil[0]);
    kv(l, "groups", "%lld", (long long)group);
    if (transpose) kv(l, "output_pad", "%lld", (long long)opad);
    tens wc;
    if ((st = tens_copy(I, &w->c, &wc)) != VD_OK) return st;
    add_param(l, wc.f, wc.n);
    wc.f = NULL;
    tens_free(&wc);
    if (b) {
        if (b->c.n != (size_t)M)
            return nerr(I, VD_ERR_SHAPE, "B has %zu values for %lld output channels", b->c.n,
                        (long long)M);
        tens bc;
        if ((st = tens_copy(I, &b->c, &bc)) != VD_OK) return st;
        add_param(l, bc.f, bc.n);
        bc.f = NULL;
        tens_free(&bc);
        kv(l, "bias", "1");
    } else {
        kv(l, "bias", "0");
        l->bias_open = !transpose;
        l->bias_len = M;
    }
    return VD_OK;
}

/* A rank-3 (N, C, L) activation as (N, C, 1, L) for a 1-D Conv or pool: a reshape layer,
 * and I->one_d widens the node's attributes. *x4 is the 4-D view. */
static vd_status one_d_in(imp *I, const val *x, val *x4)
{
    int32_t r1;
    vd_status st = new_layer(I, "reshape", &r1);
    if (st != VD_OK) return st;
    I->L[r1].in[0] = x->layer;
    I->L[r1].n_in = 1;
    kv(&I->L[r1], "d0", "%lld", (long long)x->d[1]);
    kv(&I->L[r1], "d1", "1");
    kv(&I->L[r1], "d2", "%lld", (long long)x->d[2]);
    *x4 = *x;
    x4->r = 4;
    x4->d[0] = x->d[0];
    x4->d[1] = x->d[1];
    x4->d[2] = 1;
    x4->d[3] = x->d[2];
    x4->layer = r1;
    I->one_d = true;
    return VD_OK;
}

/* After a 1-D op's layer: its output value (the last one pushed, (N, M, 1, L')) becomes a
 * reshape back to (N, M, L'). */
static vd_status one_d_out(imp *I)
{
    I->one_d = false;
    val *o = &I->v[I->nv - 1];
    int32_t src = o->layer, r2;
    int64_t M = o->d[1], L = o->d[3];
    vd_status st = new_layer(I, "reshape", &r2);
    if (st != VD_OK) return st;
    I->L[r2].in[0] = src;
    I->L[r2].n_in = 1;
    kv(&I->L[r2], "d0", "%lld", (long long)M);
    kv(&I->L[r2], "d1", "%lld", (long long)L);
    o = &I->v[I->nv - 1];
    o->layer = r2;
    o->r = 3;
    o->d[1] = M;
    o->d[2] = L;
    return VD_OK;
}

static vd_status op_pool2(imp *I, bool maxp, val *x);

static vd_status op_pool(imp *I, bool maxp)
{
    vd_status st = check_attrs(I, maxp ? "auto_pad ceil_mode dilations kernel_shape pads "
                                         "storage_order strides"
                                       : "auto_pad ceil_mode count_include_pad dilations "
                                         "kernel_shape pads strides");
    if (st != VD_OK) return st;
    val *x = in_val(I, 0);
    /* MaxPool's Indices output: 2-D pooling with a batch axis, row-major indices */
    if ((!maxp || !x || x->r != 4 || I->bo != 1) && (st = only_first_output(I)) != VD_OK)
        return st;
    if ((st = need_act(I, x, "X")) != VD_OK) return st;
    if (x->r == 5) return nerr(I, VD_ERR_UNSUPPORTED, "3-D pooling (Verdant pools 2-D)");
    if (x->r == 3 && I->bo == 1) {
        val x4;
        if ((st = one_d_in(I, x, &x4)) != VD_OK) return st;
        st = op_pool2(I, maxp, &x4);
        if (st != VD_OK) {
            I->one_d = false;
            return st;
        }
        return one_d_out(I);
    }
    return op_pool2(I, maxp, x);
}

static vd_status op_pool2(imp *I, bool maxp, val *x)
{
    vd_status st = need_batch_rank(I, x, 4, 4);
    if (st != VD_OK) return st;
    int64_t k[2], s[2], dil[2];
    int32_t n;
    int64_t v[8];
    if ((st = attr_ints(I, "kernel_shape", v, 8, &n)) != VD_OK) return st;
    if (n != 2)
        return attr_err(I, "kernel_shape", n < 0 ? "required" : "%d values for %d-D", (int)n,
                        I->one_d ? 1 : 2);
    k[0] = v[0];
    k[1] = v[1];
    if (k[0] < 1 || k[1] < 1 || k[0] > 1024 || k[1] > 1024)
        return attr_err(I, "kernel_shape", "windows are 1 to 1024 wide");
    if ((st = two_equal(I, "strides", 1, s)) != VD_OK) return st;
    if ((st = two_equal(I, "dilations", 1, dil)) != VD_OK) return st;
    int64_t ceil_mode, cip = 0, so;
    if ((st = attr_int(I, "ceil_mode", 0, &ceil_mode)) != VD_OK) return st;
    if (maxp && (st = attr_int(I, "storage_order", 0, &so)) != VD_OK) return st;
    if (!maxp && (st = attr_int(I, "count_include_pad", 0, &cip)) != VD_OK) return st;
    int64_t pads[4], ext[2] = {(k[0] - 1) * dil[0] + 1, (k[1] - 1) * dil[1] + 1};
    if ((st = spatial_pads(I, x, k, s, dil, pads)) != VD_OK) return st;
    if (pads[0] >= ext[0] || pads[2] >= ext[0] || pads[1] >= ext[1] || pads[3] >= ext[1])
        return attr_err(I, "pads",
                        "(top, left, bottom, right) = (%lld, %lld, %lld, %lld): a pad must be "
                        "less than the window's extent %lldx%lld",
                        (long long)pads[0], (long long)pads[1], (long long)pads[2],
                        (long long)pads[3], (long long)ext[0], (long long)ext[1]);
    int64_t out[2];
    for (int j = 0; j < 2; j++) {
        int64_t span = x->d[2 + j] + pads[j] + pads[j + 2] - ext[j];
        if (span < 0) return nerr(I, VD_ERR_SHAPE, "the window does not fit the input");
        int64_t onnx = (ceil_mode ? (span + s[j] - 1) / s[j] : span / s[j]) + 1;
        int32_t vd = vd_pool_out_size2((int32_t)x->d[2 + j], (int32_t)ext[j], (int32_t)s[j],
                                       (int32_t)pads[j], (int32_t)pads[j + 2], ceil_mode != 0);
        if (vd != onnx)
            return attr_err(I, "ceil_mode", "ONNX gives %lld outputs, Verdant's ceil rule %d",
                            (long long)onnx, (int)vd);
        out[j] = onnx;
    }
    int32_t idx;
    int64_t od[4] = {x->d[0], x->d[1], out[0], out[1]};
    if ((st = emit1(I, maxp ? "maxpool" : "avgpool", x, 4, od, &idx)) != VD_OK) return st;
    lrec *l = &I->L[idx];
    kv(l, "kernel", "%lld", (long long)k[0]);
    kv(l, "stride", "%lld", (long long)s[0]);
    kv(l, "pad", "%lld", (long long)pads[0]);
    if (k[1] != k[0]) kv(l, "kernel_w", "%lld", (long long)k[1]);
    if (s[1] != s[0]) kv(l, "stride_w", "%lld", (long long)s[1]);
    if (pads[1] != pads[0]) kv(l, "pad_left", "%lld", (long long)pads[1]);
    if (pads[2] != pads[0]) kv(l, "pad_bottom", "%lld", (long long)pads[2]);
    if (pads[3] != pads[0]) kv(l, "pad_right", "%lld", (long long)pads[3]);
    if (dil[0] != 1) kv(l, "dilation_h", "%lld", (long long)dil[0]);
    if (dil[1] != 1) kv(l, "dilation_w", "%lld", (long long)dil[1]);
    /* count_include_pad=0 with padding divides by the taps inside the input */
    if (!maxp) kv(l, "count_pad", "%d", cip ? 1 : 0);
    kv(l, "ceil", "%d", ceil_mode ? 1 : 0);
    const char *io = maxp ? out_name(I, 1) : NULL;
    if (io) { /* Indices: a second maxpool, same window, that returns the argmax */
        int64_t order;
        if ((st = attr_int(I, "storage_order", 0, &order)) != VD_OK) return st;
        if (order != 0 && order != 1)
            return attr_err(I, "storage_order", "%lld is not 0 or 1", (long long)order);
        int32_t j;
        if ((st = chain(I, "maxpool", I->L[idx].in[0], &j)) != VD_OK) return st;
        lrec *li = &I->L[j];
        l = &I->L[idx]; /* new_layer may have moved the table */
        for (int32_t k2 = 0; k2 < l->n_kv; k2++) kv_set(li, l->key[k2], l->value[k2]);
        kv(li, "indices", "%d", order ? 2 : 1);
        if ((st = set_act(I, io, j, 4, od)) != VD_OK) return st;
    }
    return VD_OK;
}

static vd_status op_gap(imp *I)
{
    vd_status st = check_attrs(I, "");
    val *x = in_val(I, 0);
    if (st == VD_OK) st = need_act(I, x, "X");
    if (st == VD_OK && (x->r == 3 || x->r == 5))
        return nerr(I, VD_ERR_UNSUPPORTED, "%d-D pooling (Verdant pools 2-D)", (int)x->r - 2);
    if (st == VD_OK) st = need_batch_rank(I, x, 4, 4);
    if (st != VD_OK) return st;
    int32_t idx;
    int64_t od[4] = {x->d[0], x->d[1], 1, 1};
    return emit1(I, "globalavgpool", x, 4, od, &idx);
}

static vd_status op_act(imp *I, const char *type)
{
    val *x = in_val(I, 0);
    vd_status st = need_act(I, x, "X");
    if (st != VD_OK) return st;
    int32_t idx;
    return emit1(I, type, x, x->r, x->d, &idx);
}

static vd_status op_leaky(imp *I)
{
    vd_status st = check_attrs(I, "alpha");
    float alpha;
    if (st == VD_OK) st = attr_float(I, "alpha", 0.01f, &alpha);
    if (st != VD_OK) return st;
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return attr_err(I, "alpha", "%g is outside Verdant's [0, 1]", (double)alpha);
    int32_t idx;
    val *x = in_val(I, 0);
    if ((st = need_act(I, x, "X")) != VD_OK) return st;
    if ((st = emit1(I, "leaky_relu", x, x->r, x->d, &idx)) != VD_OK) return st;
    kv(&I->L[idx], "alpha", "%.9g", (double)alpha);
    return VD_OK;
}

static vd_status op_gelu(imp *I)
{
    char ap[16];
    vd_status st = check_attrs(I, "approximate");
    if (st == VD_OK) st = attr_str(I, "approximate", "none", ap, sizeof(ap));
    if (st != VD_OK) return st;
    if (strcmp(ap, "tanh"))
        return attr_err(I, "approximate",
                        "'%s': Verdant's gelu is the tanh approximation (approximate=\"tanh\"); "
                        "the exact erf form differs by up to 1e-3",
                        ap);
    return op_act(I, "gelu");
}

static vd_status op_dropout(imp *I)
{
    vd_status st = check_attrs(I, I->opset < 12 ? "ratio" : "seed");
    if (st != VD_OK) return st;
    float ratio = 0.5f;
    if (I->opset < 12) {
        if ((st = attr_float(I, "ratio", 0.5f, &ratio)) != VD_OK) return st;
    } else {
        val *r = in_val(I, 1), *tm = in_val(I, 2);
        if (r) {
            if ((st = need_const(I, r, "ratio")) != VD_OK) return st;
            if (r->c.n != 1) return nerr(I, VD_ERR_SHAPE, "ratio is not a scalar");
            ratio = r->c.f[0];
        }
        if (tm) {
            if ((st = need_const(I, tm, "training_mode")) != VD_OK) return st;
            if (tm->c.n != 1) return nerr(I, VD_ERR_SHAPE, "training_mode is not a scalar");
            /* training mode with ratio 0 keeps everything: the identity, as at inference */
            if (tm->c.f[0] != 0.0f && ratio != 0.0f)
                return nerr(I, VD_ERR_UNSUPPORTED,
                            "training_mode is true with ratio %g: the random mask of a "
                            "training-mode Dropout cannot be reproduced; Verdant imports "
                            "inference graphs (training_mode false, or ratio 0)",
                            (double)ratio);
        }
    }
    if (!(ratio >= 0.0f && ratio <= 0.99f))
        return attr_err(I, "ratio", "%g is outside Verdant's [0, 0.99]", (double)ratio);
    val *x = in_val(I, 0);
    if ((st = need_act(I, x, "data")) != VD_OK) return st;
    int32_t idx, xl = x->layer, xr = x->r;
    int64_t xd[VD_ONNX_MAX_RANK];
    for (int32_t k = 0; k < xr; k++) xd[k] = x->d[k];
    if ((st = emit1(I, "dropout", x, x->r, x->d, &idx)) != VD_OK) return st;
    kv(&I->L[idx], "p", "%.9g", (double)ratio);
    const char *o = out_name(I, 1);
    if (o) { /* the mask: all ones at inference */
        if ((st = chain(I, "dropout", xl, &idx)) != VD_OK) return st;
        kv(&I->L[idx], "p", "%.9g", (double)ratio);
        kv(&I->L[idx], "output", "mask");
        if ((st = set_act(I, o, idx, xr, xd)) != VD_OK) return st;
    }
    return VD_OK;
}

static vd_status op_identity(imp *I)
{
    vd_status st = check_attrs(I, "");
    val *x = in_val(I, 0);
    if (st == VD_OK) st = need_act(I, x, "input");
    const char *o = out_name(I, 0);
    if (st == VD_OK && !o) st = nerr(I, VD_ERR_FORMAT, "no output");
    if (st != VD_OK) return st;
    val copy = *x;
    return set_act(I, o, copy.layer, copy.r, copy.d);
}

/* An activation seen with new ONNX shape (r, d): no layer when the sample shape stays,
 * flatten for 1-D samples, reshape otherwise. */
static vd_status reshape_to(imp *I, const val *x, int32_t r, const int64_t *d)
{
    int32_t bo = I->bo, sr = r - bo;
    if (sr < 1 || sr > 3)
        return nerr(I, VD_ERR_UNSUPPORTED, "output of rank %d: Verdant samples have 1 to 3 "
                                           "dimensions%s",
                    (int)r, bo ? " after the batch" : "");
    bool same = x->r == r;
    for (int32_t k = bo; same && k < r; k++) same = x->d[k] == d[k];
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    if (same) return set_act(I, o, x->layer, r, d);
    int32_t idx;
    vd_status st = emit1(I, sr == 1 ? "flatten" : "reshape", x, r, d, &idx);
    if (st != VD_OK || sr == 1) return st;
    for (int32_t k = 0; k < sr; k++) {
        char key[4] = {'d', (char)('0' + k), 0, 0};
        kv(&I->L[idx], key, "%lld", (long long)d[bo + k]);
    }
    return VD_OK;
}

static size_t prod(const int64_t *d, int32_t a, int32_t b)
{
    size_t p = 1;
    for (int32_t k = a; k < b; k++) p *= (size_t)d[k];
    return p;
}

static vd_status op_flatten(imp *I)
{
    vd_status st = check_attrs(I, "axis");
    val *x = in_val(I, 0);
    if (st == VD_OK) st = need_act(I, x, "input");
    int64_t axis;
    if (st == VD_OK) st = attr_int(I, "axis", 1, &axis);
    if (st != VD_OK) return st;
    if (axis < 0) axis += x->r;
    if (axis < 0 || axis > x->r)
        return attr_err(I, "axis", "%lld is out of range for rank %d", (long long)axis, (int)x->r);
    int32_t bo = I->bo;
    if (bo && axis != bo)
        return attr_err(I, "axis",
                        "%lld: with the leading %d dimension%s the batch, only axis %d keeps the "
                        "batch apart from the sample (axis 0 needs the whole tensor as one "
                        "sample)",
                        (long long)axis, (int)bo, bo == 1 ? "" : "s", (int)bo);
    if (bo > 1) {
        /* The output (prod of the batch dimensions, prod of the sample) is the same memory
         * as (batch dimensions..., sample flattened): Verdant keeps the latter. Its ONNX
         * rank differs from what this import tracks, so it may only be the graph output. */
        const char *o = out_name(I, 0);
        if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
        int32_t readers = uses(I, o);
        for (size_t k = 0; k < I->g->n_output; k++)
            if (I->g->output[k]->name && !strcmp(I->g->output[k]->name, o)) readers--;
        if (readers > 0)
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "with %d batch dimensions, a Flatten that merges them may only be the "
                        "graph output ('%.60s' is read by other nodes)",
                        (int)bo, o);
        int64_t d[R];
        for (int32_t k = 0; k < bo; k++) d[k] = x->d[k];
        d[bo] = (int64_t)prod(x->d, bo, x->r);
        if (x->r == bo + 1) return set_act(I, o, x->layer, bo + 1, d);
        int32_t idx;
        return emit1(I, "flatten", x, bo + 1, d, &idx);
    }
    int64_t d[2] = {(int64_t)prod(x->d, 0, (int32_t)axis),
                    (int64_t)prod(x->d, (int32_t)axis, x->r)};
    if (bo) d[0] = x->d[0];
    return reshape_to(I, x, 2, d);
}

/* Transpose of an activation: the batch dimensions stay where they are, the sample axes
 * (1 to 3 of them) are permuted by a transpose layer; the identity permutation is no layer. */
static vd_status op_transpose(imp *I)
{
    vd_status st = check_attrs(I, "perm");
    val *x = in_val(I, 0);
    if (st == VD_OK) st = need_act(I, x, "data");
    if (st != VD_OK) return st;
    int64_t p[R];
    int32_t n;
    if ((st = attr_ints(I, "perm", p, R, &n)) != VD_OK) return st;
    if (n < 0) { /* default: the axes reversed */
        n = x->r;
        for (int32_t k = 0; k < n; k++) p[k] = n - 1 - k;
    }
    bool seen[R] = {false};
    bool ok = n == x->r;
    for (int32_t k = 0; ok && k < n; k++) {
        ok = p[k] >= 0 && p[k] < n && !seen[p[k]];
        if (ok) seen[p[k]] = true;
    }
    if (!ok) return attr_err(I, "perm", "not a permutation of the %d axes of the input", (int)x->r);
    int32_t bo = I->bo, sr = x->r - bo;
    for (int32_t k = 0; k < bo; k++)
        if (p[k] != k)
            return attr_err(I, "perm",
                            "moves batch dimension %d (this import takes %d leading dimension%s "
                            "as the batch)",
                            (int)k, (int)bo, bo == 1 ? "" : "s");
    if (sr < 1 || sr > 3)
        return nerr(I, VD_ERR_UNSUPPORTED, "a sample of rank %d (Verdant's transpose takes 1 to 3)",
                    (int)sr);
    int64_t d[R];
    bool identity = true;
    char perm[32] = "";
    size_t u = 0;
    for (int32_t k = 0; k < x->r; k++) {
        d[k] = x->d[p[k]];
        identity = identity && p[k] == k;
        if (k >= bo)
            u += (size_t)snprintf(perm + u, sizeof(perm) - u, "%s%d", k > bo ? "," : "",
                                  (int)(p[k] - bo));
    }
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    if (identity) return set_act(I, o, x->layer, x->r, x->d);
    int32_t idx;
    if ((st = emit1(I, "transpose", x, x->r, d, &idx)) != VD_OK) return st;
    kv(&I->L[idx], "perm", "%s", perm);
    return VD_OK;
}

static vd_status op_reshape(imp *I)
{
    vd_status st = check_attrs(I, I->opset >= 14 ? "allowzero" : "");
    val *x = in_val(I, 0), *s = in_val(I, 1);
    if (st == VD_OK) st = need_act(I, x, "data");
    if (st == VD_OK) st = need_const(I, s, "shape");
    if (st != VD_OK) return st;
    if (!s->c.i || s->c.r != 1 || s->c.n < 1 || s->c.n > R)
        return nerr(I, VD_ERR_FORMAT, "shape must be a rank-1 int64 tensor of 1 to %d values", R);
    int64_t allow;
    if ((st = attr_int(I, "allowzero", 0, &allow)) != VD_OK) return st;
    if (I->bo > 1) return nerr(I, VD_ERR_UNSUPPORTED, "with several batch dimensions");
    int32_t r = (int32_t)s->c.n, bo = I->bo;
    int64_t d[R];
    size_t sample = prod(x->d, bo, x->r);
    /* Batch mode: dimension 0 must stay the batch. */
    int32_t first = 0;
    if (bo) {
        int64_t t0 = s->c.i[0];
        bool keep = (t0 == 0 && !allow) || (I->batch > 0 && t0 == I->batch);
        if (t0 == -1) { /* the batch is inferred: the rest must be exactly one sample */
            size_t rest = 1;
            bool ok = true;
            for (int32_t k = 1; k < r; k++) {
                int64_t t = s->c.i[k];
                if (t == 0 && !allow && k < x->r) t = x->d[k];
                if (t <= 0) ok = false;
                else rest *= (size_t)t;
            }
            keep = ok && rest == sample;
        }
        if (!keep)
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "shape[0] = %lld: the reshape must keep dimension 0 (the batch) as is "
                        "(0, -1 or the batch size)",
                        (long long)t0);
        d[0] = x->d[0];
        first = 1;
    }
    int32_t neg = -1;
    size_t known = 1;
    for (int32_t k = first; k < r; k++) {
        int64_t t = s->c.i[k];
        if (t == 0 && !allow) {
            if (k >= x->r) return nerr(I, VD_ERR_SHAPE, "shape[%d] = 0 copies a missing dim", (int)k);
            t = x->d[k];
        }
        if (t == -1) {
            if (neg >= 0) return nerr(I, VD_ERR_SHAPE, "two -1 in the shape");
            neg = k;
            t = 1;
        } else if (t <= 0) {
            return nerr(I, VD_ERR_UNSUPPORTED, "shape[%d] = %lld", (int)k, (long long)t);
        }
        if ((size_t)t > MAX_ELEMS || known > MAX_ELEMS / (size_t)t)
            return nerr(I, VD_ERR_SHAPE, "shape too large");
        d[k] = t;
        known *= (size_t)t;
    }
    if (neg >= 0) {
        if (sample % known) return nerr(I, VD_ERR_SHAPE, "cannot infer the -1 in the shape");
        d[neg] = (int64_t)(sample / known);
        known = sample;
    }
    if (known != sample)
        return nerr(I, VD_ERR_SHAPE, "%zu elements per sample reshaped to %zu", sample, known);
    return reshape_to(I, x, r, d);
}

/* A constant operand c of an operator on activation x, as one Verdant sample of the ONNX
 * shape sd (rank r, the same as x's; dimensions sd[bo..r) are the sample): c, aligned to
 * rank r numpy-style (exact: not aligned, the dimensions must match as Concat's do), must
 * not vary along the batch dimensions and must broadcast to sd in the others. The values
 * are the same for every sample, so one sample of them is a `constant` layer. *f: fresh,
 * prod(sd[bo..r)) floats. */
static vd_status const_sample(imp *I, const val *c, const val *x, const int64_t *sd, bool exact,
                              float **f)
{
    int32_t r = x->r, bo = I->bo;
    *f = NULL;
    char sc[96], sx[96];
    fmt_dims(c->c.d, c->c.r, sc, sizeof(sc));
    fmt_dims(x->d, x->r, sx, sizeof(sx));
    if (c->c.r > r || (exact && c->c.r != r))
        return nerr(I, VD_ERR_SHAPE,
                    "constant '%.60s' of shape %s has %s rank than the activation %s", c->name, sc,
                    c->c.r > r ? "a higher" : "another", sx);
    int64_t cd[R];
    int32_t off = r - c->c.r;
    for (int32_t k = 0; k < r; k++) cd[k] = k < off ? 1 : c->c.d[k - off];
    size_t slices = 1, per = 1;
    for (int32_t k = 0; k < bo; k++) {
        bool fits = cd[k] == x->d[k] || x->d[k] < 0 || (!exact && cd[k] == 1);
        if (!fits)
            return nerr(I, VD_ERR_SHAPE,
                        "constant '%.60s' of shape %s does not match the batch dimension %d of "
                        "the activation %s",
                        c->name, sc, (int)k, sx);
        slices *= (size_t)cd[k];
    }
    for (int32_t k = bo; k < r; k++) per *= (size_t)cd[k];
    for (size_t sl = 1; sl < slices; sl++)
        if (memcmp(c->c.f, c->c.f + sl * per, per * sizeof(float)))
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "constant '%.60s' of shape %s varies along the batch (the leading %d "
                        "dimension%s of the activation %s): a Verdant net applies one constant "
                        "to every sample",
                        c->name, sc, (int)bo, bo > 1 ? "s" : "", sx);
    if (exact)
        for (int32_t k = bo; k < r; k++)
            if (cd[k] != sd[k]) {
                char ss[96];
                fmt_dims(sd, r, ss, sizeof(ss));
                return nerr(I, VD_ERR_SHAPE, "constant '%.60s' of shape %s, expected %s", c->name,
                            sc, ss);
            }
    tens one;
    memset(&one, 0, sizeof(one));
    one.r = r - bo;
    for (int32_t k = bo; k < r; k++) one.d[k - bo] = cd[k];
    one.n = per;
    one.f = c->c.f;
    return expand_to(I, &one, r - bo, sd + bo, "constant operand", f);
}

/* A `constant` layer holding f (owned from here on), one sample of shape sd[bo..r). */
static vd_status emit_constant(imp *I, int32_t r, const int64_t *sd, float *f, int32_t *idx)
{
    int32_t sr = r - I->bo;
    vd_status st = sr < 1 || sr > 3
                       ? nerr(I, VD_ERR_UNSUPPORTED,
                              "a constant sample of rank %d (Verdant samples have 1 to 3 "
                              "dimensions)",
                              (int)sr)
                       : new_layer(I, "constant", idx);
    if (st != VD_OK) {
        free(f);
        return st;
    }
    lrec *l = &I->L[*idx];
    l->n_in = 0;
    for (int32_t k = 0; k < sr; k++) {
        char key[4] = {'d', (char)('0' + k), 0, 0};
        kv(l, key, "%lld", (long long)sd[I->bo + k]);
    }
    l->state = f;
    l->state_n = prod(sd, I->bo, r);
    return VD_OK;
}

static vd_status op_concat(imp *I)
{
    vd_status st = check_attrs(I, "axis");
    int64_t axis;
    if (st == VD_OK) st = attr_int(I, "axis", 1 << 30, &axis);
    if (st != VD_OK) return st;
    if (axis == (1 << 30)) return attr_err(I, "axis", "required");
    size_t n = I->node->n_input;
    if (n > VD_MAX_INPUTS)
        return nerr(I, VD_ERR_UNSUPPORTED, "%zu inputs (at most %d)", n, VD_MAX_INPUTS);
    val *x0 = NULL;
    for (size_t k = 0; k < n; k++) {
        val *v = in_val(I, k);
        if (!v) return nerr(I, VD_ERR_FORMAT, "missing input %zu", k);
        if (v->kind == V_ACT && !x0) x0 = v;
    }
    if ((st = need_act(I, x0, "0")) != VD_OK) return st;
    int32_t r = x0->r, bo = I->bo;
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return attr_err(I, "axis", "out of range for rank %d", (int)r);
    if (axis < bo)
        return attr_err(I, "axis",
                        "%lld is a batch dimension (this import takes %d leading dimension%s as "
                        "the batch); Verdant concatenates within samples",
                        (long long)axis, (int)bo, bo == 1 ? "" : "s");
    int64_t d[R];
    memcpy(d, x0->d, sizeof(d));
    d[axis] = 0;
    for (size_t k = 0; k < n; k++) {
        val *x = in_val(I, k);
        int32_t xr = x->kind == V_ACT ? x->r : x->c.r;
        const int64_t *xd = x->kind == V_ACT ? x->d : x->c.d;
        bool same = xr == r;
        for (int32_t j = bo; same && j < r; j++) same = j == axis || xd[j] == x0->d[j];
        if (!same) return nerr(I, VD_ERR_SHAPE, "input %zu differs off the concat axis", k);
        d[axis] += xd[axis];
    }
    if (n == 1) {
        const char *o = out_name(I, 0);
        if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
        return set_act(I, o, x0->layer, x0->r, x0->d);
    }
    int32_t ins[VD_MAX_INPUTS];
    for (size_t k = 0; k < n; k++) {
        val *x = in_val(I, k);
        if (x->kind == V_ACT) {
            ins[k] = x->layer;
            continue;
        }
        int64_t sd[R];
        memcpy(sd, x0->d, sizeof(sd));
        sd[axis] = x->c.d[axis];
        float *f;
        if ((st = const_sample(I, x, x0, sd, true, &f)) != VD_OK ||
            (st = emit_constant(I, r, sd, f, &ins[k])) != VD_OK)
            return st;
    }
    int32_t idx;
    if ((st = emit1(I, "concat", x0, r, d, &idx)) != VD_OK) return st;
    lrec *l = &I->L[idx];
    l->n_in = (int32_t)n;
    for (size_t k = 0; k < n; k++) l->in[k] = ins[k];
    if (axis > bo) kv(l, "axis", "%d", (int)(axis - bo));
    return VD_OK;
}

static vd_status op_add(imp *I)
{
    vd_status st = check_attrs(I, "");
    if (st != VD_OK) return st;
    val *a = in_val(I, 0), *b = in_val(I, 1);
    if (!a || !b) return nerr(I, VD_ERR_FORMAT, "Add needs two inputs");
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    if (a->kind == V_ACT && b->kind == V_ACT) {
        bool same = a->r == b->r;
        for (int32_t k = I->bo; same && k < a->r; k++) same = a->d[k] == b->d[k];
        if (!same)
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "Add of two activations of different shapes: Verdant's add does not "
                        "broadcast");
        int32_t idx, b_layer = b->layer; /* emit1 may move the value table */
        if ((st = emit1(I, "add", a, a->r, a->d, &idx)) != VD_OK) return st;
        I->L[idx].in[1] = b_layer;
        I->L[idx].n_in = 2;
        return VD_OK;
    }
    val *x = a->kind == V_ACT ? a : b, *c = a->kind == V_ACT ? b : a;
    /* A bias: x comes straight from a bias-less dense/conv2d that nothing else reads, and c
     * is one value per output channel. */
    lrec *l = x->layer >= 0 ? &I->L[x->layer] : NULL;
    bool bias = l && l->bias_open && layer_uses(I, x->layer) == 1;
    if (bias) {
        int32_t ch = l->bias_last ? x->r - 1 : I->bo; /* the axis of the units/channels */
        int64_t cd[R];
        int32_t cr = x->r;
        for (int32_t k = 0; k < cr; k++) cd[k] = 1;
        cd[ch] = x->d[ch];
        /* c must broadcast to (1, K, 1, 1) (or (1, .., K) for per_row) shape-wise: every
         * dim but the channel is 1. */
        int32_t off = cr - c->c.r;
        bool ok = off >= 0;
        for (int32_t k = 0; ok && k < c->c.r; k++)
            ok = c->c.d[k] == 1 || (k + off == ch && c->c.d[k] == x->d[ch]);
        if (ok) {
            float *f = NULL;
            if ((st = expand_to(I, &c->c, cr, cd, "bias", &f)) != VD_OK) return st;
            add_param(l, f, (size_t)x->d[ch]);
            kv_set(l, "bias", "1");
            l->bias_open = false;
            return set_act(I, o, x->layer, x->r, x->d);
        }
    }
    /* Otherwise a `constant` layer (c broadcast to one sample of x) and an add. The
     * activation keeps its shape: a constant that would broadcast x is refused. */
    float *f;
    int32_t ci, idx;
    if ((st = const_sample(I, c, x, x->d, false, &f)) != VD_OK ||
        (st = emit_constant(I, x->r, x->d, f, &ci)) != VD_OK ||
        (st = emit1(I, "add", x, x->r, x->d, &idx)) != VD_OK)
        return st;
    I->L[idx].in[1] = ci;
    I->L[idx].n_in = 2;
    return VD_OK;
}

/* Gemm and MatMul with a constant weight B on an activation A. A sample of rank 1 (K)
 * is a dense layer; a sample of rank 2 or 3 (.., K), as in whole-tensor mode or a MatMul
 * of a rank-3 activation, is a dense layer with per_row=1 (the product at every position
 * of the leading sample axes). Gemm's transA=1 needs A's two axes in the sample: a
 * transpose layer (perm=1,0) first. alpha and beta are folded into the weight and the
 * bias; C must be one value per unit, shared by every row. */
/* MatMul of an activation with samples (G, M, K) and a constant B (.., G, K, N) that is the
 * same for every sample (its batch dimensions 1): G products at once, as a transpose to
 * (G, K, M), a view as (G*K, M, 1), a 1x1 conv2d with G groups (weight (G*N, K): row
 * g*N + j is B[g, :, j]), a view as (G, N, M) and a transpose back to (G, M, N). */
static vd_status op_matmul_batched(imp *I, const val *a, const val *b)
{
    int32_t r = a->r, bo = I->bo;
    int64_t G = a->d[bo], M = a->d[bo + 1], K = a->d[bo + 2];
    const int64_t *bd = b->c.d;
    for (int32_t k = 0; k < bo; k++)
        if (bd[k] != 1)
            return nerr(I, VD_ERR_UNSUPPORTED,
                        "B of shape (%lld, ...) varies along the batch: a Verdant net applies "
                        "one weight to every sample",
                        (long long)bd[k]);
    if (bd[bo] != G || bd[bo + 1] != K)
        return nerr(I, VD_ERR_SHAPE, "B's (%lld, %lld, ..) does not match A's (%lld, .., %lld)",
                    (long long)bd[bo], (long long)bd[bo + 1], (long long)G, (long long)K);
    int64_t N = bd[bo + 2];
    float *w = malloc((size_t)(G * N * K) * sizeof(float));
    if (!w) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    for (int64_t g = 0; g < G; g++)
        for (int64_t j = 0; j < N; j++)
            for (int64_t k = 0; k < K; k++)
                w[(g * N + j) * K + k] = b->c.f[(g * K + k) * N + j];
    int32_t t1, v1, cv, v2, t2;
    vd_status st;
    if ((st = chain(I, "transpose", a->layer, &t1)) != VD_OK ||
        (st = chain(I, "reshape", t1, &v1)) != VD_OK) {
        free(w);
        return st;
    }
    kv(&I->L[t1], "perm", "0,2,1");
    kv(&I->L[v1], "d0", "%lld", (long long)(G * K));
    kv(&I->L[v1], "d1", "%lld", (long long)M);
    kv(&I->L[v1], "d2", "1");
    if ((st = chain(I, "conv2d", v1, &cv)) != VD_OK) {
        free(w);
        return st;
    }
    lrec *l = &I->L[cv];
    kv(l, "filters", "%lld", (long long)(G * N));
    kv(l, "kernel", "1");
    kv(l, "groups", "%lld", (long long)G);
    kv(l, "bias", "0");
    add_param(l, w, (size_t)(G * N * K));
    if ((st = chain(I, "reshape", cv, &v2)) != VD_OK) return st;
    kv(&I->L[v2], "d0", "%lld", (long long)G);
    kv(&I->L[v2], "d1", "%lld", (long long)N);
    kv(&I->L[v2], "d2", "%lld", (long long)M);
    if ((st = chain(I, "transpose", v2, &t2)) != VD_OK) return st;
    kv(&I->L[t2], "perm", "0,2,1");
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    int64_t od[R];
    for (int32_t k = 0; k < r; k++) od[k] = a->d[k];
    od[r - 1] = N;
    return set_act(I, o, t2, r, od);
}

static vd_status op_dense(imp *I, bool gemm)
{
    vd_status st = check_attrs(I, gemm ? "alpha beta transA transB" : "");
    if (st != VD_OK) return st;
    val *a = in_val(I, 0), *b = in_val(I, 1), *c = gemm ? in_val(I, 2) : NULL;
    if (a && a->kind == V_CONST && b && b->kind == V_ACT)
        return nerr(I, VD_ERR_UNSUPPORTED,
                    "the constant is the left operand: Verdant's dense layer computes x W^T");
    if ((st = need_act(I, a, "A")) != VD_OK || (st = need_const(I, b, "B")) != VD_OK) return st;
    if (c && (st = need_const(I, c, "C")) != VD_OK) return st;
    if (gemm && a->r != 2) return nerr(I, VD_ERR_SHAPE, "A has rank %d, expected 2", (int)a->r);
    int32_t sr = a->r - I->bo; /* A's sample rank */
    if (sr < 1 || sr > 3)
        return nerr(I, VD_ERR_UNSUPPORTED,
                    "A of rank %d with %d batch dimension%s: a sample of rank %d (Verdant's "
                    "dense layer takes a sample of rank 1, or 2 to 3 with per_row=1)",
                    (int)a->r, (int)I->bo, I->bo == 1 ? "" : "s", (int)sr);
    float alpha = 1, beta = 1;
    int64_t ta = 0, tb = 0;
    if (gemm) {
        if ((st = attr_float(I, "alpha", 1, &alpha)) != VD_OK ||
            (st = attr_float(I, "beta", 1, &beta)) != VD_OK ||
            (st = attr_int(I, "transA", 0, &ta)) != VD_OK ||
            (st = attr_int(I, "transB", 0, &tb)) != VD_OK)
            return st;
        if (ta && sr != 2)
            return attr_err(I, "transA",
                            "1 with A's first dimension as the batch: the transpose would mix "
                            "samples (it imports with the whole tensor as one sample)");
    }
    if (!gemm && b->c.r > 2 && b->c.r == a->r && sr == 3) return op_matmul_batched(I, a, b);
    if (!gemm && b->c.r > 2)
        return nerr(I, VD_ERR_UNSUPPORTED,
                    "B of rank %d: a batched product (a matrix per leading index) is not a layer; "
                    "Verdant's dense layer takes a 2-D constant B",
                    (int)b->c.r);
    if (b->c.r != 2) return nerr(I, VD_ERR_SHAPE, "B has rank %d, expected 2", (int)b->c.r);
    /* The activation the dense layer reads: A, or A^T (M, K) from a (K, M) A. */
    int64_t xd[R];
    int32_t xr = a->r;
    for (int32_t k = 0; k < xr; k++) xd[k] = a->d[k];
    if (ta) {
        xd[0] = a->d[1];
        xd[1] = a->d[0];
    }
    int64_t K = xd[xr - 1], N = tb ? b->c.d[0] : b->c.d[1], KB = tb ? b->c.d[1] : b->c.d[0];
    if (KB != K)
        return nerr(I, VD_ERR_SHAPE, "B's inner dimension is %lld, A's is %lld", (long long)KB,
                    (long long)K);
    if (N < 1) return nerr(I, VD_ERR_SHAPE, "no output units");
    float *bias = NULL;
    bool matrix_c = false;
    if (c) {
        bool ok = c->c.r <= 2 && (c->c.r < 2 || c->c.d[0] == 1);
        int64_t cd[1] = {N};
        tens c1 = c->c;
        if (ok && c1.r == 2) { /* (1, N) -> (N) */
            c1.r = 1;
            c1.d[0] = c1.d[1];
        }
        /* A C with a row per row (test_gemm_default_matrix_bias) is the dense layer without
         * a bias followed by a `constant` layer of beta * C and an add (below). */
        if (ok) {
            if ((st = expand_to(I, &c1, 1, cd, "C", &bias)) != VD_OK) return st;
            for (int64_t n = 0; n < N; n++) bias[n] *= beta;
        } else matrix_c = true;
    }
    float *w = malloc((size_t)(N * K) * sizeof(float));
    if (!w) {
        free(bias);
        return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    for (int64_t n = 0; n < N; n++) /* dense weight: (units N, in K) */
        for (int64_t k = 0; k < K; k++)
            w[n * K + k] = alpha * (tb ? b->c.f[n * K + k] : b->c.f[k * N + n]);
    val x = *a;
    if (ta) { /* a transpose layer, read only by the dense layer: no value of its own */
        int32_t t;
        if ((st = chain(I, "transpose", a->layer, &t)) != VD_OK) {
            free(w);
            free(bias);
            return st;
        }
        kv(&I->L[t], "perm", "1,0");
        x.layer = t;
    }
    int32_t idx;
    int64_t od[R];
    for (int32_t k = 0; k < xr; k++) od[k] = xd[k];
    od[xr - 1] = N;
    if ((st = emit1(I, "dense", &x, xr, od, &idx)) != VD_OK) {
        free(w);
        free(bias);
        return st;
    }
    lrec *l = &I->L[idx];
    kv(l, "units", "%lld", (long long)N);
    if (sr > 1) {
        kv(l, "per_row", "1");
        l->bias_last = true;
    }
    add_param(l, w, (size_t)(N * K));
    if (bias) {
        add_param(l, bias, (size_t)N);
        kv(l, "bias", "1");
    } else {
        kv(l, "bias", "0");
        l->bias_open = !matrix_c;
        l->bias_len = N;
    }
    if (matrix_c) { /* + beta * C, one constant sample (the same for every sample) */
        val cb = *c, y = x;
        cb.c.f = malloc(c->c.n * sizeof(float) + 1);
        if (!cb.c.f) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        for (size_t e = 0; e < c->c.n; e++) cb.c.f[e] = beta * c->c.f[e];
        y.layer = idx;
        y.r = xr;
        memcpy(y.d, od, sizeof(od));
        float *f = NULL;
        int32_t ci, ai;
        st = const_sample(I, &cb, &y, od, false, &f);
        free(cb.c.f);
        if (st != VD_OK || (st = emit_constant(I, xr, od, f, &ci)) != VD_OK ||
            (st = emit1(I, "add", &y, xr, od, &ai)) != VD_OK)
            return st;
        I->L[ai].in[1] = ci;
        I->L[ai].n_in = 2;
    }
    return VD_OK;
}

static vd_status op_batchnorm(imp *I)
{
    vd_status st = check_attrs(I, I->opset < 9    ? "epsilon momentum spatial"
                                  : I->opset < 14 ? "epsilon momentum"
                                                  : "epsilon momentum training_mode");
    if (st != VD_OK) return st;
    if ((st = only_first_output(I)) != VD_OK) return st;
    float eps, mom;
    int64_t spatial, tm;
    if ((st = attr_float(I, "epsilon", 1e-5f, &eps)) != VD_OK ||
        (st = attr_float(I, "momentum", 0.9f, &mom)) != VD_OK ||
        (st = attr_int(I, "spatial", 1, &spatial)) != VD_OK ||
        (st = attr_int(I, "training_mode", 0, &tm)) != VD_OK)
        return st;
    if (!spatial) return attr_err(I, "spatial", "0 (per-position statistics) is not supported");
    if (tm) return attr_err(I, "training_mode", "1: Verdant imports inference graphs");
    if (!(eps >= 1e-12f && eps <= 1.0f))
        return attr_err(I, "epsilon", "%g is outside Verdant's [1e-12, 1]", (double)eps);
    if (!(mom >= 0.0f && mom <= 1.0f)) return attr_err(I, "momentum", "outside [0, 1]");
    val *x = in_val(I, 0);
    if ((st = need_act(I, x, "X")) != VD_OK) return st;
    if ((st = need_batch_rank(I, x, 2, 4)) != VD_OK) return st;
    int64_t C = x->d[1];
    float *gamma = NULL, *beta = NULL, *state = NULL;
    static const char *names[4] = {"scale", "B", "input_mean", "input_var"};
    for (int k = 0; k < 4; k++) {
        val *c = in_val(I, (size_t)k + 1);
        if ((st = need_const(I, c, names[k])) != VD_OK) goto fail;
        if (c->c.n != (size_t)C) {
            st = nerr(I, VD_ERR_SHAPE, "%s has %zu values for %lld channels", names[k], c->c.n,
                      (long long)C);
            goto fail;
        }
    }
    gamma = malloc((size_t)C * sizeof(float));
    beta = malloc((size_t)C * sizeof(float));
    state = malloc(2 * (size_t)C * sizeof(float));
    if (!gamma || !beta || !state) {
        st = vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto fail;
    }
    memcpy(gamma, in_val(I, 1)->c.f, (size_t)C * sizeof(float));
    memcpy(beta, in_val(I, 2)->c.f, (size_t)C * sizeof(float));
    memcpy(state, in_val(I, 3)->c.f, (size_t)C * sizeof(float));
    memcpy(state + C, in_val(I, 4)->c.f, (size_t)C * sizeof(float));
    for (int64_t k = 0; k < C; k++)
        if (!(state[C + k] >= 0.0f)) {
            st = nerr(I, VD_ERR_FORMAT, "input_var[%lld] = %g is negative or NaN", (long long)k,
                      (double)state[C + k]);
            goto fail;
        }
    int32_t idx;
    if ((st = emit1(I, "batchnorm", x, x->r, x->d, &idx)) != VD_OK) goto fail;
    lrec *l = &I->L[idx];
    kv(l, "eps", "%.9g", (double)eps);
    kv(l, "momentum", "%.9g", 1.0 - (double)mom); /* ONNX keeps momentum of the old value */
    add_param(l, gamma, (size_t)C);
    add_param(l, beta, (size_t)C);
    l->state = state;
    l->state_n = 2 * (size_t)C;
    return VD_OK;
fail:
    free(gamma);
    free(beta);
    free(state);
    return st;
}

static vd_status op_layernorm(imp *I)
{
    vd_status st = check_attrs(I, "axis epsilon stash_type");
    if (st != VD_OK) return st;
    int64_t axis, stash;
    float eps;
    if ((st = attr_int(I, "axis", -1, &axis)) != VD_OK ||
        (st = attr_float(I, "epsilon", 1e-5f, &eps)) != VD_OK ||
        (st = attr_int(I, "stash_type", 1, &stash)) != VD_OK)
        return st;
    val *x = in_val(I, 0), *sc = in_val(I, 1), *b = in_val(I, 2);
    if ((st = need_act(I, x, "X")) != VD_OK || (st = need_const(I, sc, "Scale")) != VD_OK)
        return st;
    if (b && (st = need_const(I, b, "B")) != VD_OK) return st;
    int64_t a = axis < 0 ? axis + x->r : axis;
    if (a < 0 || a >= x->r)
        return attr_err(I, "axis", "%lld is not an axis of this rank-%d input", (long long)axis,
                        (int)x->r);
    /* ONNX axis a of the tensor is sample axis a - bo (bo = 1 with a batch axis, 0 when
     * the whole tensor is one sample); the normalised block must lie inside the sample. */
    if (a < I->bo)
        return attr_err(I, "axis",
                        "%lld: the normalised block would take in the batch axis; Verdant's "
                        "layernorm normalises within each sample (axis %d or later of this "
                        "rank-%d input)",
                        (long long)axis, (int)I->bo, (int)x->r);
    if (!(eps >= 1e-12f && eps <= 1.0f))
        return attr_err(I, "epsilon", "%g is outside Verdant's [1e-12, 1]", (double)eps);
    int32_t sa = (int32_t)(a - I->bo); /* first normalised sample axis */
    int32_t sr = x->r - (int32_t)a;    /* rank of the normalised block */
    const int64_t *sd = x->d + a;      /* its dimensions: Scale and B broadcast to them */
    float *gamma = NULL, *beta = NULL;
    if ((st = expand_to(I, &sc->c, sr, sd, "Scale", &gamma)) != VD_OK) return st;
    size_t D = prod(sd, 0, sr);
    if (b) {
        if ((st = expand_to(I, &b->c, sr, sd, "B", &beta)) != VD_OK) {
            free(gamma);
            return st;
        }
    } else if (!(beta = calloc(D ? D : 1, sizeof(float)))) {
        free(gamma);
        return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    int32_t idx, xl = x->layer, xr = x->r;
    int64_t sd1[VD_ONNX_MAX_RANK];
    for (int32_t k = 0; k < xr; k++) sd1[k] = k < a ? x->d[k] : 1;
    if ((st = emit1(I, "layernorm", x, x->r, x->d, &idx)) != VD_OK) {
        free(gamma);
        free(beta);
        return st;
    }
    lrec *l = &I->L[idx];
    kv(l, "eps", "%.9g", (double)eps);
    if (sa) kv(l, "axis", "%d", (int)sa);
    add_param(l, gamma, D);
    add_param(l, beta, D);
    /* Mean and InvStdDev: one statistics layer each (dropped when unused) */
    for (size_t k = 1; k < 3 && k < I->node->n_output; k++) {
        const char *o = out_name(I, k);
        if (!o) continue;
        if ((st = chain(I, "layernorm", xl, &idx)) != VD_OK) return st;
        l = &I->L[idx];
        kv(l, "eps", "%.9g", (double)eps);
        if (sa) kv(l, "axis", "%d", (int)sa);
        kv(l, "output", "%s", k == 1 ? "mean" : "invstd");
        if ((st = set_act(I, o, idx, xr, sd1)) != VD_OK) return st;
    }
    return VD_OK;
}

static vd_status op_softmax(imp *I, bool logsm)
{
    vd_status st = check_attrs(I, "axis");
    if (st != VD_OK) return st;
    int64_t axis;
    bool old = I->opset < 13;
    if ((st = attr_int(I, "axis", old ? 1 : -1, &axis)) != VD_OK) return st;
    val *x = in_val(I, 0);
    if ((st = need_act(I, x, "input")) != VD_OK) return st;
    int64_t a = axis < 0 ? axis + x->r : axis;
    int32_t bo = I->bo, sr = x->r - bo;
    if (a < 0 || a >= x->r) return attr_err(I, "axis", "%lld is out of range", (long long)axis);
    /* Verdant: over sample dimension 0, at every position of the others. */
    bool direct = a == bo && (!old || sr == 1);
    /* Softmax over the last axis when every sample dimension before it is 1. */
    if (!direct && !old && a == x->r - 1 && a > bo) direct = prod(x->d, bo, (int32_t)a) == 1;
    const char *o = out_name(I, 0);
    if (!o) return nerr(I, VD_ERR_FORMAT, "no output");
    if (a == bo && old && sr > 1) {
        /* opset < 13: over everything from the axis on: flatten, softmax, shape back. */
        int32_t f, s2, r2;
        if ((st = new_layer(I, "flatten", &f)) != VD_OK) return st;
        I->L[f].in[0] = x->layer;
        I->L[f].n_in = 1;
        if ((st = new_layer(I, logsm ? "logsoftmax" : "softmax", &s2)) != VD_OK) return st;
        I->L[s2].in[0] = f;
        I->L[s2].n_in = 1;
        if ((st = new_layer(I, "reshape", &r2)) != VD_OK) return st;
        I->L[r2].in[0] = s2;
        I->L[r2].n_in = 1;
        for (int32_t k = 0; k < sr; k++) {
            char key[4] = {'d', (char)('0' + k), 0, 0};
            kv(&I->L[r2], key, "%lld", (long long)x->d[bo + k]);
        }
        return set_act(I, o, r2, x->r, x->d);
    }
    if (!direct)
        return attr_err(I, "axis",
                        "%lld on a rank-%d input%s: Verdant's softmax runs over sample "
                        "dimension 0 (ONNX axis %d)",
                        (long long)axis, (int)x->r, old ? " (opset < 13: over all axes from it)" : "",
                        (int)bo);
    if (a != bo) { /* (b, 1, .., 1, K): softmax over K of a flattened sample */
        int32_t f, s2, r2;
        if ((st = new_layer(I, "flatten", &f)) != VD_OK) return st;
        I->L[f].in[0] = x->layer;
        I->L[f].n_in = 1;
        if ((st = new_layer(I, logsm ? "logsoftmax" : "softmax", &s2)) != VD_OK) return st;
        I->L[s2].in[0] = f;
        I->L[s2].n_in = 1;
        if (sr == 1) return set_act(I, o, s2, x->r, x->d);
        if ((st = new_layer(I, "reshape", &r2)) != VD_OK) return st;
        I->L[r2].in[0] = s2;
        I->L[r2].n_in = 1;
        for (int32_t k = 0; k < sr; k++) {
            char key[4] = {'d', (char)('0' + k), 0, 0};
            kv(&I->L[r2], key, "%lld", (long long)x->d[bo + k]);
        }
        return set_act(I, o, r2, x->r, x->d);
    }
    int32_t idx;
    return emit1(I, logsm ? "logsoftmax" : "softmax", x, x->r, x->d, &idx);
}

static vd_status map_node(imp *I)
{
    const node_t *n = I->node;
    const char *op = n->op_type ? n->op_type : "";
    /* op_type is an optional string in onnx.proto (proto2): absent, protobuf-c leaves it
     * NULL (found by fuzz_onnx). */
    if (!*op) return nerr(I, VD_ERR_FORMAT, "node without op_type");
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return nerr(I, VD_ERR_UNSUPPORTED, "operator domain '%.60s' is not supported", n->domain);
    if (!strcmp(op, "Constant")) return op_constant(I);
    /* Every input must be known (the caller checked) ; all constant: fold. */
    bool any = false, all_const = true;
    for (size_t k = 0; k < n->n_input; k++) {
        val *v = in_val(I, k);
        if (!v) continue;
        any = true;
        if (v->kind != V_CONST) all_const = false;
    }
    if (any && all_const) return fold(I);
    if (!any) return nerr(I, VD_ERR_FORMAT, "operator without inputs");
    if (!strcmp(op, "Conv")) return op_conv(I, false);
    if (!strcmp(op, "ConvTranspose")) return op_conv(I, true);
    if (!strcmp(op, "MaxPool")) return op_pool(I, true);
    if (!strcmp(op, "AveragePool")) return op_pool(I, false);
    if (!strcmp(op, "GlobalAveragePool")) return op_gap(I);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(I);
    if (!strcmp(op, "LayerNormalization")) return op_layernorm(I);
    if (!strcmp(op, "Gemm")) return op_dense(I, true);
    if (!strcmp(op, "MatMul")) return op_dense(I, false);
    if (!strcmp(op, "Add")) return op_add(I);
    if (!strcmp(op, "Concat")) return op_concat(I);
    if (!strcmp(op, "Relu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh")) {
        vd_status st = check_attrs(I, "");
        if (st != VD_OK) return st;
        if (op[0] == 'R') { /* fused into the conv2d/batchnorm it follows (same maths) */
            val *x = in_val(I, 0);
            lrec *l = x && x->kind == V_ACT && x->layer >= 0 ? &I->L[x->layer] : NULL;
            bool fusable = l && (!strcmp(l->type, "conv2d") || !strcmp(l->type, "deconv2d") ||
                                 !strcmp(l->type, "batchnorm"));
            for (int32_t k = 0; fusable && k < l->n_kv; k++)
                if (!strcmp(l->key[k], "relu")) fusable = false;
            if (fusable && layer_uses(I, x->layer) == 1 && out_name(I, 0)) {
                kv(l, "relu", "1");
                l->bias_open = false;
                return set_act(I, out_name(I, 0), x->layer, x->r, x->d);
            }
        }
        return op_act(I, op[0] == 'R' ? "relu" : op[0] == 'S' ? "sigmoid" : "tanh");
    }
    if (!strcmp(op, "LeakyRelu")) return op_leaky(I);
    if (!strcmp(op, "Gelu")) return op_gelu(I);
    if (!strcmp(op, "Softmax")) return op_softmax(I, false);
    if (!strcmp(op, "LogSoftmax")) return op_softmax(I, true);
    if (!strcmp(op, "Dropout")) return op_dropout(I);
    if (!strcmp(op, "Flatten")) return op_flatten(I);
    if (!strcmp(op, "Reshape")) return op_reshape(I);
    if (!strcmp(op, "Identity")) return op_identity(I);
    if (!strcmp(op, "Transpose")) return op_transpose(I);
    return nerr(I, VD_ERR_UNSUPPORTED,
                "operator '%.60s' is not supported (docs/ONNX.md lists the ones that are)", op);
}

/* ------------------------------------------------------------------ graph */

static bool produced_by_pending(const imp *I, const bool *done, const char *name)
{
    for (size_t k = 0; k < I->g->n_node; k++) {
        if (done[k]) continue;
        const node_t *n = I->g->node[k];
        for (size_t j = 0; j < n->n_output; j++)
            if (n->output[j] && !strcmp(n->output[j], name)) return true;
    }
    return false;
}

static vd_status walk(imp *I)
{
    size_t nn = I->g->n_node;
    bool *done = calloc(nn ? nn : 1, sizeof(bool));
    if (!done) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    vd_status st = VD_OK;
    size_t left = nn;
    while (left && st == VD_OK) {
        bool progress = false;
        for (size_t k = 0; k < nn && st == VD_OK; k++) {
            if (done[k]) continue;
            const node_t *n = I->g->node[k];
            bool ready = true;
            for (size_t j = 0; j < n->n_input && ready; j++)
                if (n->input[j] && n->input[j][0] && !find_val(I, n->input[j])) ready = false;
            if (!ready) continue;
            I->node = n;
            I->node_idx = k;
            for (size_t j = 0; j < n->n_output && st == VD_OK; j++)
                if (n->output[j] && n->output[j][0] && find_val(I, n->output[j]))
                    st = nerr(I, VD_ERR_FORMAT, "output '%.60s' is produced twice", n->output[j]);
            if (st == VD_OK) st = map_node(I);
            done[k] = true;
            left--;
            progress = true;
        }
        if (!progress && st == VD_OK) {
            for (size_t k = 0; k < nn; k++) {
                if (done[k]) continue;
                const node_t *n = I->g->node[k];
                I->node = n;
                I->node_idx = k;
                for (size_t j = 0; j < n->n_input; j++) {
                    const char *in = n->input[j];
                    if (!in || !in[0] || find_val(I, in)) continue;
                    st = produced_by_pending(I, done, in)
                             ? nerr(I, VD_ERR_FORMAT,
                                    "input '%.60s' depends on this node's own output (the graph "
                                    "has a cycle)",
                                    in)
                             : nerr(I, VD_ERR_FORMAT,
                                    "input '%.60s' is produced by no node, initializer or graph "
                                    "input",
                                    in);
                    break;
                }
                break;
            }
            if (st == VD_OK) st = VD_INTERNAL(I->ctx, "no progress in the graph walk");
        }
    }
    I->node = NULL;
    free(done);
    return st;
}

static void imp_free(imp *I)
{
    for (size_t k = 0; k < I->nv; k++)
        if (I->v[k].kind == V_CONST) tens_free(&I->v[k].c);
    free(I->v);
    for (int32_t k = 0; k < I->nl; k++) {
        for (int32_t p = 0; p < I->L[k].np; p++) free(I->L[k].p[p]);
        free(I->L[k].state);
    }
    free(I->L);
    free(I->order);
}

static int64_t opset_of(const Onnx__ModelProto *m)
{
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx"))
            return o->has_version ? o->version : 1;
    }
    return -1;
}

static bool is_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_initializer; k++)
        if (g->initializer[k]->name && !strcmp(g->initializer[k]->name, name)) return true;
    return false;
}

static vd_status unpack(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                        Onnx__ModelProto **out)
{
    *out = NULL;
    if (!data || !len) return vd_error_set(ctx, VD_ERR_FORMAT, "%s: empty file", src);
    if (len > VD_ONNX_MAX_BYTES)
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: %zu bytes; ONNX files are limited to %zu",
                            src, len, VD_ONNX_MAX_BYTES);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, data);
    if (!m)
        return vd_error_set(ctx, VD_ERR_FORMAT,
                            "%s: not a valid ONNX model (the protobuf does not parse: truncated "
                            "or not an .onnx file)",
                            src);
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: the model has no graph", src);
    }
    *out = m;
    return VD_OK;
}

static vd_status plan(imp *I, Onnx__ModelProto *m)
{
    const vd_onnx_options *opt = I->opt;
    vd_status st;
    I->opset = opset_of(m);
    /* Opsets 1 to 6 only for operators unchanged since (GlobalAveragePool's node tests
     * declare opset 1): the strict attribute lists refuse the old attributes (is_test,
     * consumed_inputs, broadcast, Reshape's shape attribute). */
    if (I->opset < 1 || I->opset > 21)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                            "%s: default-domain opset %lld; Verdant imports opsets 7 to 21%s",
                            I->src, (long long)I->opset,
                            I->opset < 0 ? " (the model imports none)" : "");
    Onnx__GraphProto *g = m->graph;
    I->g = g;
    if (g->n_node > MAX_NODES)
        return vd_error_set(I->ctx, VD_ERR_FORMAT, "%s: %zu nodes (at most %d)", I->src,
                            g->n_node, MAX_NODES);
    if (g->n_sparse_initializer)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED, "%s: sparse initializers", I->src);
    for (size_t k = 0; k < g->n_initializer; k++) {
        tens t;
        const Onnx__TensorProto *tp = g->initializer[k];
        if (!tp->name || !*tp->name)
            return vd_error_set(I->ctx, VD_ERR_FORMAT, "%s: initializer %zu has no name", I->src, k);
        if ((st = tensor_from_proto(I->ctx, I->src, tp, "initializer", &t)) != VD_OK) return st;
        if ((st = set_const(I, tp->name, &t)) != VD_OK) return st;
    }
    for (size_t k = 0; k < opt->n_binds; k++) {
        const vd_onnx_bind *b = &opt->binds[k];
        tens t;
        if (b->ndim < 0 || b->ndim > R)
            return vd_error_set(I->ctx, VD_ERR_INVALID_ARG, "bind '%s': bad rank", b->name);
        if ((st = tens_alloc(I, &t, b->ndim, b->dims, b->is_int)) != VD_OK) return st;
        memcpy(t.f, b->data, t.n * sizeof(float));
        for (size_t e = 0; b->is_int && e < t.n; e++) t.i[e] = (int64_t)b->data[e];
        if ((st = set_const(I, b->name, &t)) != VD_OK) return st;
    }
    /* The data input. */
    const Onnx__ValueInfoProto *in = NULL;
    size_t n_data = 0;
    char names[256] = "";
    for (size_t k = 0; k < g->n_input; k++) {
        const char *nm = g->input[k]->name ? g->input[k]->name : "";
        if (find_val(I, nm)) continue;
        n_data++;
        if (!in) in = g->input[k];
        size_t u = strlen(names);
        if (u < sizeof(names) - 1)
            snprintf(names + u, sizeof(names) - u, "%s'%.40s'", u ? ", " : "", nm);
    }
    if (n_data != 1)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                            "%s: the graph has %zu data inputs%s%s; Verdant nets take exactly one "
                            "(weights must be initializers)",
                            I->src, n_data, n_data ? ": " : "", names);
    if (!in->name || !*in->name)
        return vd_error_set(I->ctx, VD_ERR_FORMAT, "%s: the data input has no name", I->src);
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED, "%s: input '%.60s' is not a tensor",
                            I->src, in->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int et = tt->has_elem_type ? (int)tt->elem_type : 0;
    /* 8- and 16-bit integers are exact in float32; they are taken where every operator keeps
     * values as they are (checked once the graph is walked), not where arithmetic would
     * have to wrap around as the integer type does. */
    I->int_input = et == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ||
                   et == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
                   et == ONNX__TENSOR_PROTO__DATA_TYPE__UINT16 ||
                   et == ONNX__TENSOR_PROTO__DATA_TYPE__INT16;
    if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && !I->int_input)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                            "%s: input '%.60s' has element type %d; Verdant computes float32 (1) "
                            "and takes 8- and 16-bit integers (2 to 5) into value-keeping "
                            "operators",
                            I->src, in->name, et);
    I->in_type = et;
    int32_t r;
    int64_t d[R];
    if (opt->input_ndim > 0) {
        r = opt->input_ndim > R ? R : opt->input_ndim;
        for (int32_t k = 0; k < r; k++) d[k] = opt->input_dims[k];
        if (tt->shape && tt->shape->n_dim != (size_t)r)
            return vd_error_set(I->ctx, VD_ERR_SHAPE, "%s: input '%.60s' has rank %zu, given %d",
                                I->src, in->name, tt->shape->n_dim, (int)r);
    } else {
        if (!tt->shape)
            return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED, "%s: input '%.60s' has no shape",
                                I->src, in->name);
        if (tt->shape->n_dim > R)
            return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED, "%s: input '%.60s' has rank %zu",
                                I->src, in->name, tt->shape->n_dim);
        r = (int32_t)tt->shape->n_dim;
        for (int32_t k = 0; k < r; k++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
            d[k] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                       ? dm->dim_value
                       : -1;
        }
    }
    I->bo = opt->whole_tensor ? 0 : opt->batch_dims > 1 ? opt->batch_dims : 1;
    if (I->bo > r)
        return vd_error_set(I->ctx, VD_ERR_INVALID_ARG, "%s: %d batch dimensions of a rank-%d input",
                            I->src, (int)I->bo, (int)r);
    if (r - I->bo > 3) {
        /* Flatten and Reshape depend only on the element count: a sample of more
         * dimensions is fine when nothing else reads it (Flatten axis 0 of a 4-D tensor in
         * whole-tensor mode, say). */
        bool only = uses(I, in->name) > 0;
        for (size_t k = 0; k < g->n_output && only; k++)
            only = !g->output[k]->name || strcmp(g->output[k]->name, in->name);
        for (size_t k = 0; k < g->n_node && only; k++) {
            const node_t *n = g->node[k];
            const char *op = n->op_type ? n->op_type : "";
            /* and a LayerNormalization over the whole sample, which sees only the count too */
            bool whole_ln = false;
            if (!strcmp(op, "LayerNormalization")) {
                int64_t ax = -1;
                for (size_t a = 0; a < n->n_attribute; a++)
                    if (n->attribute[a]->name && !strcmp(n->attribute[a]->name, "axis") &&
                        n->attribute[a]->has_i)
                        ax = n->attribute[a]->i;
                whole_ln = (ax < 0 ? ax + r : ax) == I->bo;
            }
            for (size_t j = 0; j < n->n_input && only; j++)
                if (n->input[j] && !strcmp(n->input[j], in->name))
                    only = j == 0 && (!strcmp(op, "Flatten") || !strcmp(op, "Reshape") || whole_ln);
        }
        I->flat_input = only;
    }
    if (r - I->bo < 1 || (r - I->bo > 3 && !I->flat_input))
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                            "%s: input '%.60s' has rank %d; Verdant samples have 1 to 3 "
                            "dimensions%s (more only when Flatten or Reshape alone read it)",
                            I->src, in->name, (int)r,
                            I->bo ? " after the batch dimension" : " (whole-tensor mode)");
    for (int32_t k = I->bo; k < r; k++)
        if (d[k] < 1 || d[k] > (1 << 24))
            return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                                "%s: input '%.60s': dimension %d is %s; Verdant needs a fixed "
                                "sample shape",
                                I->src, in->name, (int)k, d[k] < 0 ? "symbolic" : "out of range");
    {
        size_t sn = 1;
        for (int32_t k = I->bo; k < r; k++) {
            if (sn > MAX_ELEMS / (size_t)d[k])
                return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                                    "%s: input '%.60s': more than %zu elements per sample",
                                    I->src, in->name, MAX_ELEMS);
            sn *= (size_t)d[k];
        }
    }
    I->batch = I->bo == 1 && d[0] > 0 ? d[0] : -1;
    if ((st = set_act(I, in->name, -1, r, d)) != VD_OK) return st;
    if ((st = walk(I)) != VD_OK) return st;
    if (g->n_output < 1 || g->n_output > VD_MAX_OUTPUTS)
        return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                            "%s: the graph has %zu outputs; Verdant nets have 1 to %d", I->src,
                            g->n_output, VD_MAX_OUTPUTS);
    val *outs[VD_MAX_OUTPUTS];
    for (size_t o = 0; o < g->n_output; o++) {
        const char *on = g->output[o]->name ? g->output[o]->name : "";
        val *ov = find_val(I, on);
        if (!ov)
            return vd_error_set(I->ctx, VD_ERR_FORMAT, "%s: graph output '%.60s' is never produced",
                                I->src, on);
        if (ov->kind != V_ACT)
            return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                                "%s: graph output '%.60s' is a constant%s", I->src, on,
                                o ? " (a Verdant net's outputs are computed from its input)"
                                  : ": the net would compute nothing");
        if (o && ov->layer < 0)
            return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                                "%s: graph output '%.60s' is the data input itself", I->src, on);
        outs[o] = ov;
    }
    val *ov = outs[0];
    for (int32_t k = 0; k < I->nl; k++) I->L[k].live = false;
    int32_t top = -1;
    for (size_t o = 0; o < g->n_output; o++) {
        if (outs[o]->layer >= 0) I->L[outs[o]->layer].live = true;
        if (outs[o]->layer > top) top = outs[o]->layer;
    }
    for (int32_t k = top; k >= 0; k--)
        if (I->L[k].live)
            for (int32_t j = 0; j < I->L[k].n_in; j++)
                if (I->L[k].in[j] >= 0) I->L[I->L[k].in[j]].live = true;
    /* A graph that only re-views its input (Identity, Flatten, Reshape) is one copy: a Verdant
     * net must compute something, and dropout copies in inference. The same copy makes output
     * 0 a layer that no other live layer reads, when the other outputs are computed from it,
     * since a net's output 0 is its last layer. */
    bool computes = false, read = false;
    for (int32_t k = 0; k < I->nl; k++) {
        if (!I->L[k].live) continue;
        if (strcmp(I->L[k].type, "flatten") && strcmp(I->L[k].type, "reshape")) computes = true;
        for (int32_t j = 0; j < I->L[k].n_in && ov->layer >= 0; j++)
            read |= I->L[k].in[j] == ov->layer;
    }
    if (!computes || read) {
        int32_t idx;
        I->node = NULL;
        if ((st = new_layer(I, "dropout", &idx)) != VD_OK) return st;
        snprintf(I->L[idx].name, sizeof(I->L[idx].name), "copy_output");
        for (int32_t k = 0, suffix = 1; k < idx; k++)
            if (!strcmp(I->L[k].name, I->L[idx].name)) {
                snprintf(I->L[idx].name, sizeof(I->L[idx].name), "copy_output_%d", (int)suffix++);
                k = -1;
            }
        I->L[idx].in[0] = ov->layer;
        I->L[idx].n_in = 1;
        I->L[idx].live = true;
        kv(&I->L[idx], "p", "0");
        val o2 = *ov;
        if ((st = set_act(I, o2.name, idx, o2.r, o2.d)) != VD_OK) return st;
        outs[0] = &I->v[I->nv - 1];
    }
    if (I->int_input) /* only operators that select or move values, never compute new ones */
        for (int32_t k = 0; k < I->nl; k++) {
            static const char *const keep[] = {"maxpool", "relu", "flatten", "reshape", "concat",
                                               "dropout", NULL};
            bool ok = false;
            for (const char *const *t = keep; *t && !ok; t++) ok = !strcmp(I->L[k].type, *t);
            if (I->L[k].live && !ok)
                return vd_error_set(I->ctx, VD_ERR_UNSUPPORTED,
                                    "%s: integer input (element type %d) into a %s layer: Verdant "
                                    "computes float32, and only operators that keep values "
                                    "(MaxPool, Relu, Flatten, Reshape, Concat, Identity, Dropout "
                                    "at inference) give the integer result exactly",
                                    I->src, I->in_type, I->L[k].type);
        }
    /* Emission order: the live layers in plan order, output 0's layer last. */
    I->main = outs[0]->layer;
    I->n_order = 0;
    I->order = malloc((size_t)(I->nl ? I->nl : 1) * sizeof(int32_t));
    if (!I->order) return vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    for (int32_t k = 0; k < I->nl; k++)
        if (I->L[k].live && k != I->main) I->order[I->n_order++] = k;
    I->order[I->n_order++] = I->main;
    I->n_outs = (int32_t)g->n_output;
    for (size_t o = 0; o < g->n_output; o++) I->out_layer[o] = outs[o]->layer;
    return VD_OK;
}

static vd_status to_net(imp *I, int32_t max_batch, vd_net **out)
{
    vd_net *net = NULL;
    vd_status st = VD_OK;
    float *all = NULL;
    VD_TRY(vd_net_create(I->ctx, &net));
    {
        val *in = NULL;
        for (size_t k = 0; k < I->nv && !in; k++)
            if (I->v[k].kind == V_ACT && I->v[k].layer == -1) in = &I->v[k];
        if (!in) {
            st = VD_INTERNAL(I->ctx, "no input value");
            goto done;
        }
        int64_t flat = (int64_t)prod(in->d, I->bo, in->r);
        if (I->flat_input) VD_TRY(vd_net_input(net, 1, &flat));
        else VD_TRY(vd_net_input(net, in->r - I->bo, in->d + I->bo));
    }
    for (int32_t q = 0; q < I->n_order; q++) {
        lrec *l = &I->L[I->order[q]];
        char inputs[VD_MAX_INPUTS * 70] = "";
        size_t u = 0;
        for (int32_t j = 0; j < l->n_in; j++)
            u += (size_t)snprintf(inputs + u, sizeof(inputs) - u, "%s%s", j ? "+" : "",
                                  l->in[j] < 0 ? "input" : I->L[l->in[j]].name);
        vd_kv kvs[MAX_KV];
        for (int32_t j = 0; j < l->n_kv; j++) kvs[j] = (vd_kv){l->key[j], l->value[j], 0};
        st = vd_net_add_kv(net, l->type, l->name, inputs, kvs, (size_t)l->n_kv, NULL, 0);
        if (st != VD_OK) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", vd_last_error(I->ctx));
            st = vd_error_set(I->ctx, st, "%s: layer '%s' (%s): %s", I->src, l->name, l->type, msg);
            goto done;
        }
    }
    for (int32_t o = 1; o < I->n_outs; o++) VD_TRY(vd_net_add_output(net, I->L[I->out_layer[o]].name));
    if (max_batch <= 0) max_batch = I->batch > 64 ? (int32_t)I->batch : 64;
    st = vd_net_build(net, max_batch);
    if (st != VD_OK) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", vd_last_error(I->ctx));
        st = vd_error_set(I->ctx, st, "%s: %s", I->src, msg);
        goto done;
    }
    /* Outputs agree with the ONNX shapes; parameters are where the plan put them. */
    for (int32_t oi = 0; oi < I->n_outs; oi++) {
        size_t want = 1, have = 0;
        val *o = find_val(I, I->g->output[oi]->name);
        for (int32_t k = I->bo; k < o->r; k++) want *= (size_t)o->d[k];
        VD_TRY(vd_net_output_info(net, oi, NULL, &have));
        if (have != want) {
            st = vd_error_set(I->ctx, VD_ERR_INTERNAL,
                              "%s: the net's output %d ('%.60s') has %zu values per sample, the "
                              "ONNX graph's %zu",
                              I->src, (int)oi, I->g->output[oi]->name, have, want);
            goto done;
        }
    }
    size_t total = vd_net_param_count(net), pos = 0;
    all = malloc((total ? total : 1) * sizeof(float));
    if (!all) {
        st = vd_error_set(I->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    for (int32_t li = 0; li < I->n_order; li++) {
        lrec *l = &I->L[I->order[li]];
        vd_layer *vl = net->layers[li];
        if (vl->n_params != l->np) {
            st = vd_error_set(I->ctx, VD_ERR_INTERNAL, "%s: layer '%s': %d parameters, planned %d",
                              I->src, l->name, (int)vl->n_params, (int)l->np);
            goto done;
        }
        for (int32_t p = 0; p < l->np; p++) {
            if (vl->params[p].numel != l->pn[p] || pos + l->pn[p] > total) {
                st = vd_error_set(I->ctx, VD_ERR_SHAPE,
                                  "%s: layer '%s' %s: %zu values given, the layer has %zu", I->src,
                                  l->name, vl->params[p].name, l->pn[p], vl->params[p].numel);
                goto done;
            }
            memcpy(all + pos, l->p[p], l->pn[p] * sizeof(float));
            pos += l->pn[p];
        }
    }
    VD_TRY(vd_net_params_write(net, all, total));
    for (int32_t li = 0; li < I->n_order; li++) {
        lrec *l = &I->L[I->order[li]];
        vd_layer *vl = net->layers[li];
        if (!l->state) continue;
        if (!vl->ops->state_copy || vl->ops->state_size(vl) != l->state_n) {
            st = VD_INTERNAL(I->ctx, "state size");
            goto done;
        }
        VD_TRY(vd_net_layer_state_write(net, vl, l->state));
    }
    *out = net;
    net = NULL;
done:
    free(all);
    vd_net_destroy(net);
    return st;
}

void vd_onnx_options_init(vd_onnx_options *o)
{
    if (o) memset(o, 0, sizeof(*o));
}

vd_status vd_onnx_import_mem(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             const vd_onnx_options *opt, vd_net **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_onnx: out is NULL");
    *out = NULL;
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_load_onnx: ctx is NULL");
    vd_onnx_options dflt;
    vd_onnx_options_init(&dflt);
    if (!opt) opt = &dflt;
    if (!src) src = "<memory>";
    Onnx__ModelProto *m;
    vd_status st = unpack(ctx, data, len, src, &m);
    if (st != VD_OK) return st;
    imp I;
    memset(&I, 0, sizeof(I));
    I.ctx = ctx;
    I.src = src;
    I.opt = opt;
    st = plan(&I, m);
    if (st == VD_OK) st = to_net(&I, opt->max_batch, out);
    imp_free(&I);
    onnx__model_proto__free_unpacked(m, NULL);
    return st;
}

vd_status vd_onnx_tensor_decode(vd_context *ctx, const uint8_t *buf, size_t len, const char *src,
                                float **data, int32_t *ndim, int64_t dims[VD_ONNX_MAX_RANK],
                                bool *is_int, char **name)
{
    *data = NULL;
    if (name) *name = NULL;
    if (is_int) *is_int = false;
    if (!src) src = "<memory>";
    if (len > VD_ONNX_MAX_BYTES)
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: too large", src);
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!t) return vd_error_set(ctx, VD_ERR_FORMAT, "%s: not a TensorProto", src);
    tens x;
    vd_status st = tensor_from_proto(ctx, src, t, "tensor", &x);
    if (st == VD_OK) {
        *data = x.f;
        x.f = NULL;
        *ndim = x.r;
        for (int32_t k = 0; k < x.r; k++) dims[k] = x.d[k];
        if (name) *name = strdup(t->name ? t->name : "");
        if (is_int) *is_int = x.i != NULL;
        tens_free(&x);
    }
    onnx__tensor_proto__free_unpacked(t, NULL);
    return st;
}

vd_status vd_onnx_model_info(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             vd_onnx_op_fn fn, void *user, char ***inputs, size_t *n_inputs,
                             size_t *n_outputs)
{
    Onnx__ModelProto *m;
    if (!src) src = "<memory>";
    vd_status st = unpack(ctx, data, len, src, &m);
    if (st != VD_OK) return st;
    const Onnx__GraphProto *g = m->graph;
    for (size_t k = 0; k < g->n_node && fn; k++) {
        const node_t *n = g->node[k];
        char buf[160];
        if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
            snprintf(buf, sizeof(buf), "%.60s:%.60s", n->domain, n->op_type ? n->op_type : "");
        else snprintf(buf, sizeof(buf), "%.100s", n->op_type ? n->op_type : "");
        fn(user, buf);
    }
    if (inputs) {
        *inputs = calloc(g->n_input + 1, sizeof(char *));
        *n_inputs = 0;
        for (size_t k = 0; *inputs && k < g->n_input; k++) {
            const char *nm = g->input[k]->name ? g->input[k]->name : "";
            if (!is_init(g, nm)) (*inputs)[(*n_inputs)++] = strdup(nm);
        }
    }
    if (n_outputs) *n_outputs = g->n_output;
    onnx__model_proto__free_unpacked(m, NULL);
    return VD_OK;
}

#else /* !VD_HAVE_ONNX */

void vd_onnx_options_init(vd_onnx_options *o)
{
    if (o) memset(o, 0, sizeof(*o));
}

vd_status vd_onnx_import_mem(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             const vd_onnx_options *opt, vd_net **out)
{
    (void)data;
    (void)len;
    (void)opt;
    if (out) *out = NULL;
    return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                        "%s: Verdant was built without ONNX (needs protobuf-c-compiler, "
                        "libprotobuf-c-dev and libonnx-dev at build time)",
                        src ? src : "<memory>");
}

vd_status vd_onnx_tensor_decode(vd_context *ctx, const uint8_t *buf, size_t len, const char *src,
                                float **data, int32_t *ndim, int64_t dims[VD_ONNX_MAX_RANK],
                                bool *is_int, char **name)
{
    (void)buf;
    (void)is_int;
    (void)len;
    (void)ndim;
    (void)dims;
    *data = NULL;
    if (name) *name = NULL;
    return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "%s: Verdant was built without ONNX",
                        src ? src : "<memory>");
}

vd_status vd_onnx_model_info(vd_context *ctx, const uint8_t *data, size_t len, const char *src,
                             vd_onnx_op_fn fn, void *user, char ***inputs, size_t *n_inputs,
                             size_t *n_outputs)
{
    (void)data;
    (void)len;
    (void)fn;
    (void)user;
    (void)inputs;
    (void)n_inputs;
    (void)n_outputs;
    return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "%s: Verdant was built without ONNX",
                        src ? src : "<memory>");
}

#endif /* VD_HAVE_ONNX */

vd_status vd_onnx_read_file(vd_context *ctx, const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vd_error_set(ctx, VD_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vd_error_set(ctx, VD_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)sb.st_size > VD_ONNX_MAX_BYTES) {
        fclose(f);
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: %lld bytes; ONNX files are limited to %zu",
                            path, (long long)sb.st_size, VD_ONNX_MAX_BYTES);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return vd_error_set(ctx, VD_ERR_IO, "cannot read '%s'", path);
    }
    *data = buf;
    *len = n;
    return VD_OK;
}

vd_status vd_net_load_onnx_batch(vd_context *ctx, const char *path, int32_t max_batch,
                                 vd_net **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_onnx: out is NULL");
    *out = NULL;
    if (!ctx || !path)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_onnx: NULL argument");
    if (max_batch < 1 || max_batch > (1 << 20))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_onnx: max_batch %d out of range",
                            (int)max_batch);
#ifndef VD_HAVE_ONNX
    return vd_onnx_import_mem(ctx, NULL, 0, path, NULL, out);
#else
    uint8_t *data;
    size_t len;
    vd_status st = vd_onnx_read_file(ctx, path, &data, &len);
    if (st != VD_OK) return st;
    vd_onnx_options o;
    vd_onnx_options_init(&o);
    o.max_batch = max_batch;
    const char *base = strrchr(path, '/');
    st = vd_onnx_import_mem(ctx, data, len, base ? base + 1 : path, &o, out);
    free(data);
    return st;
#endif
}

vd_status vd_net_load_onnx(vd_context *ctx, const char *path, vd_net **out)
{
    return vd_net_load_onnx_batch(ctx, path, 64, out);
}

/* dense.c - fully connected layer: y = x W^T + b with W: (units, in), through CLBlast.
 * The input is flattened: x: (n, in) with in = numel of one input sample.
 * With per_row=1 the layer acts on the last sample axis instead, at every position of the
 * leading ones: a (L..., K) sample is rows = prod(L) rows of K, W: (units, K), and the
 * output sample is (L..., units); the GEMMs run on (n * rows, K). ONNX MatMul of a rank-3
 * activation and a 2-D weight is exactly this. */
#include <stddef.h>

#include "../ops/gemm.h"
#include "layer.h"

typedef struct dense {
    vd_layer base;
    int32_t units;
    int32_t bias;
    int32_t per_row;
    size_t rows, in; /* rows per sample and their length (1 and numel without per_row) */
} dense;

static const vd_key dense_keys[] = {
    {"units", VD_KEY_INT, offsetof(dense, units), 0, 1, 1 << 24, true, "number of outputs"},
    {"bias", VD_KEY_BOOL, offsetof(dense, bias), 1, 0, 1, false, "add a learned bias"},
    {"per_row", VD_KEY_BOOL, offsetof(dense, per_row), 0, 0, 1, false,
     "act on the last sample axis at every position of the others"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status dense_reshape(vd_layer *l)
{
    dense *d = (dense *)l;
    size_t in = vd_shape_numel(&l->in);
    d->rows = 1;
    l->out.ndim = 1;
    if (d->per_row) {
        if (l->in.ndim < 2 || l->in.ndim >= VD_MAX_DIMS) {
            char a[64];
            vd_shape_format(&l->in, a, sizeof(a));
            return vd_error_set(NULL, VD_ERR_SHAPE,
                                "layer '%s' (dense): per_row=1 needs a sample of rank 2 or 3, "
                                "got %s",
                                l->name, a);
        }
        in = (size_t)l->in.d[l->in.ndim - 1];
        d->rows = vd_shape_numel(&l->in) / in;
        l->out = l->in;
    }
    d->in = in;
    l->out.d[l->out.ndim - 1] = d->units;
    l->n_params = 0;
    vd_status st = vd_layer_param(l, NULL, "weight", 2, (int64_t[]){d->units, (int64_t)in},
                                  VD_INIT_AUTO, in, (size_t)d->units);
    if (st == VD_OK && d->bias)
        st = vd_layer_param(l, NULL, "bias", 1, (int64_t[]){d->units}, VD_INIT_ZERO, in,
                            (size_t)d->units);
    return st;
}

static vd_status dense_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    dense *d = (dense *)l;
    size_t in = d->in, out = (size_t)d->units, n = (size_t)s->n * d->rows;
    vd_buf w = vd_buf_at(s->params, l->params[0].offset);
    vd_status st = vd_gemm(s->ctx, false, true, n, out, in, 1.0f, x.mem, x.off, in,
                           w.mem, w.off, in, 0.0f, y.mem, y.off, out);
    if (st == VD_OK && d->bias) {
        vd_buf b = vd_buf_at(s->params, l->params[1].offset);
        st = vd_op_bias_fwd(s->ctx, n, out, b.mem, b.off, y.mem, y.off);
    }
    return st;
}

static vd_status dense_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                vd_buf dx, float beta)
{
    dense *d = (dense *)l;
    size_t in = d->in, out = (size_t)d->units, n = (size_t)s->n * d->rows;
    vd_buf w = vd_buf_at(s->params, l->params[0].offset);
    vd_buf dw = vd_buf_at(s->grads, l->params[0].offset);
    vd_status st = VD_OK;
    /* dW (out, in) += dy^T (out, n) * x (n, in) */
    st = vd_gemm(s->ctx, true, false, out, in, n, 1.0f, dy.mem, dy.off, out, x.mem, x.off, in, 1.0f,
                 dw.mem, dw.off, in);
    if (st == VD_OK && d->bias) {
        vd_buf db = vd_buf_at(s->grads, l->params[1].offset);
        st = vd_op_bias_bwd(s->ctx, n, out, dy.mem, dy.off, db.mem, db.off);
    }
    /* dx (n, in) = beta dx + dy (n, out) * W (out, in) */
    if (st == VD_OK && dx.mem)
        st = vd_gemm(s->ctx, false, false, n, in, out, 1.0f, dy.mem, dy.off, out, w.mem, w.off, in,
                     beta, dx.mem, dx.off, in);
    return st;
}

static uint64_t dense_flops(const vd_layer *l)
{
    return 2 * (uint64_t)l->params[0].numel * ((const dense *)l)->rows;
}

const vd_layer_ops vd_layer_dense = {
    .type = "dense",
    .size = sizeof(dense),
    .keys = dense_keys,
    .reshape = dense_reshape,
    .forward = dense_forward,
    .backward = dense_backward,
    .flops = dense_flops,
};

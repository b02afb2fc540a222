/* merge.c - layers that join several inputs: `add` (elementwise sum of equal shapes, for
 * residual blocks) and `concat` (along one sample axis, option axis; default 0, the
 * channels).
 * Both are block copies (vd_op_copy2d), forward and backward. */
#include <stddef.h>
#include <stdio.h>

#include "layer.h"

static vd_status add_reshape(vd_layer *l)
{
    if (l->n_inputs < 2) return vd_error_set(NULL, VD_ERR_SHAPE, "add needs at least 2 inputs");
    for (int32_t k = 1; k < l->n_inputs; k++) {
        bool same = l->ins[k].ndim == l->ins[0].ndim;
        for (int32_t d = 0; same && d < l->ins[0].ndim; d++)
            same = l->ins[k].d[d] == l->ins[0].d[d];
        if (!same) {
            char a[64], b[64];
            vd_shape_format(&l->ins[0], a, sizeof(a));
            vd_shape_format(&l->ins[k], b, sizeof(b));
            return vd_error_set(NULL, VD_ERR_SHAPE, "input %d has shape %s, input 0 has %s", (int)k,
                                b, a);
        }
    }
    l->out = l->ins[0];
    return VD_OK;
}

static vd_status add_forward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y)
{
    size_t n = (size_t)s->n * vd_shape_numel(&l->out);
    vd_status st = VD_OK;
    for (int32_t k = 0; k < l->n_inputs && st == VD_OK; k++)
        st = vd_op_copy2d(s->ctx, 1, n, xs[k].mem, xs[k].off, n, k ? 1.0f : 0.0f, y.mem, y.off, n);
    return st;
}

static vd_status add_backward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y, vd_buf dy,
                              const vd_buf *dxs, const float *betas)
{
    size_t n = (size_t)s->n * vd_shape_numel(&l->out);
    vd_status st = VD_OK;
    for (int32_t k = 0; k < l->n_inputs && st == VD_OK; k++)
        if (dxs[k].mem)
            st = vd_op_copy2d(s->ctx, 1, n, dy.mem, dy.off, n, betas[k], dxs[k].mem, dxs[k].off, n);
    return st;
}

const vd_layer_ops vd_layer_add = {
    .type = "add",
    .size = sizeof(vd_layer),
    .reshape = add_reshape,
    .max_inputs = VD_MAX_INPUTS,
    .forward_multi = add_forward,
    .backward_multi = add_backward,
};

typedef struct concat {
    vd_layer base;
    int32_t axis; /* sample axis joined along; 0 = channels */
} concat;

static const vd_key concat_keys[] = {
    {"axis", VD_KEY_INT, offsetof(concat, axis), 0, 0, 2, false,
     "sample axis to join along (0: channels)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

/* Product of sample dimensions [a, b). */
static size_t span(const vd_shape *sh, int32_t a, int32_t b)
{
    size_t n = 1;
    for (int32_t d = a; d < b; d++) n *= (size_t)sh->d[d];
    return n;
}

static vd_status concat_reshape(vd_layer *l)
{
    int32_t axis = ((concat *)l)->axis;
    if (axis >= l->ins[0].ndim) {
        char a[64];
        vd_shape_format(&l->ins[0], a, sizeof(a));
        return vd_error_set(NULL, VD_ERR_SHAPE, "axis %d is not a dimension of input 0 %s",
                            (int)axis, a);
    }
    int64_t len = 0;
    for (int32_t k = 0; k < l->n_inputs; k++) {
        bool same = l->ins[k].ndim == l->ins[0].ndim;
        for (int32_t d = 0; same && d < l->ins[0].ndim; d++)
            same = d == axis || l->ins[k].d[d] == l->ins[0].d[d];
        if (!same) {
            char a[64], b[64];
            vd_shape_format(&l->ins[0], a, sizeof(a));
            vd_shape_format(&l->ins[k], b, sizeof(b));
            return vd_error_set(NULL, VD_ERR_SHAPE,
                                "input %d has shape %s, input 0 has %s: only dimension %d (the "
                                "concat axis) may differ",
                                (int)k, b, a, (int)axis);
        }
        len += l->ins[k].d[axis];
    }
    l->out = l->ins[0];
    l->out.d[axis] = len;
    return VD_OK;
}

/* In NCHW memory the batch and the sample dimensions before the axis are `outer` rows;
 * input k is a block of d_k[axis] * inner values in each, at column c0 * inner of the
 * output's row of out[axis] * inner. */
static vd_status concat_copy(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y,
                             const vd_buf *dxs, const float *betas, bool forward)
{
    int32_t axis = ((concat *)l)->axis;
    size_t inner = span(&l->out, axis + 1, l->out.ndim);
    size_t outer = (size_t)s->n * span(&l->out, 0, axis);
    size_t out_ld = (size_t)l->out.d[axis] * inner, c0 = 0;
    vd_status st = VD_OK;
    for (int32_t k = 0; k < l->n_inputs && st == VD_OK; k++) {
        size_t cols = (size_t)l->ins[k].d[axis] * inner;
        if (forward)
            st = vd_op_copy2d(s->ctx, outer, cols, xs[k].mem, xs[k].off, cols, 0.0f, y.mem,
                              y.off + c0 * inner, out_ld);
        else if (dxs[k].mem)
            st = vd_op_copy2d(s->ctx, outer, cols, y.mem, y.off + c0 * inner, out_ld, betas[k],
                              dxs[k].mem, dxs[k].off, cols);
        c0 += (size_t)l->ins[k].d[axis];
    }
    return st;
}

static vd_status concat_forward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y)
{
    return concat_copy(l, s, xs, y, NULL, NULL, true);
}

static vd_status concat_backward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y,
                                 vd_buf dy, const vd_buf *dxs, const float *betas)
{
    return concat_copy(l, s, xs, dy, dxs, betas, false);
}

const vd_layer_ops vd_layer_concat = {
    .type = "concat",
    .size = sizeof(concat),
    .keys = concat_keys,
    .reshape = concat_reshape,
    .max_inputs = VD_MAX_INPUTS,
    .forward_multi = concat_forward,
    .backward_multi = concat_backward,
};

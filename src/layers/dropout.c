/* dropout.c - inverted dropout. The mask is drawn from Philox with the net seed and a
 * stream made of the step counter and the layer index, so it is reproducible and the
 * backward pass redraws it instead of storing it. output=mask returns the mask itself (1
 * kept, 0 dropped; all ones at inference), whose gradient is zero. */
#include <stddef.h>

#include "layer.h"

typedef struct dropout {
    vd_layer base;
    float p;
    int32_t output; /* 0: y, 1: mask */
} dropout;

static const vd_key dropout_keys[] = {
    {"p", VD_KEY_FLOAT, offsetof(dropout, p), 0.5, 0.0, 0.99, false, "drop probability"},
    {"output", VD_KEY_ENUM, offsetof(dropout, output), 0, 0, 0, false,
     "y|mask: the dropped-out input, or the mask (1 where an element is kept, 0 where dropped; "
     "all ones at inference)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static uint64_t stream_of(const vd_layer *l, const vd_step *s)
{
    return (s->step << 12) ^ (uint64_t)l->index;
}

static vd_status dropout_reshape(vd_layer *l)
{
    l->out = l->in;
    return VD_OK;
}

static vd_status dropout_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    float p = s->train ? ((dropout *)l)->p : 0.0f;
    if (((dropout *)l)->output == 1)
        return p == 0.0f ? vd_op_fill(s->ctx, n, 1.0f, y.mem, y.off)
                         : vd_op_dropout_mask(s->ctx, n, p, s->seed, stream_of(l, s), y.mem, y.off);
    return vd_op_dropout_fwd(s->ctx, n, p, s->seed, stream_of(l, s), x.mem, x.off, y.mem, y.off);
}

static vd_status dropout_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                  vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    if (((dropout *)l)->output == 1) {
        /* the mask does not depend on x: its gradient is 0 */
        if (beta == 1.0f) return VD_OK;
        if (beta == 0.0f) return vd_op_fill(s->ctx, n, 0.0f, dx.mem, dx.off);
        return VD_INTERNAL(s->ctx, "dropout output=mask: backward beta other than 0 or 1");
    }
    return vd_op_dropout_bwd(s->ctx, n, ((dropout *)l)->p, s->seed, stream_of(l, s), dy.mem, dy.off,
                             beta, dx.mem, dx.off);
}

static bool dropout_identity_at_inference(const vd_layer *l)
{
    return ((const dropout *)l)->output == 0;
}

const vd_layer_ops vd_layer_dropout = {
    .type = "dropout",
    .size = sizeof(dropout),
    .keys = dropout_keys,
    .reshape = dropout_reshape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .identity_at_inference = dropout_identity_at_inference,
};

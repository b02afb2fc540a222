/* act.c - elementwise activation layers (relu, sigmoid, tanh, gelu): one family, the kind
 * taken from the registry name. */
#include <string.h>

#include "layer.h"

static vd_act act_kind(const vd_layer *l)
{
    const char *t = l->ops->type;
    return !strcmp(t, "relu")      ? VD_ACT_RELU
           : !strcmp(t, "sigmoid") ? VD_ACT_SIGMOID
           : !strcmp(t, "tanh")    ? VD_ACT_TANH
           : !strcmp(t, "gelu")    ? VD_ACT_GELU
                                   : VD_ACT_IDENTITY;
}

static vd_status act_reshape(vd_layer *l)
{
    l->out = l->in;
    return VD_OK;
}

static vd_status act_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    return vd_op_act_fwd(s->ctx, act_kind(l), n, x.mem, x.off, y.mem, y.off);
}

static vd_status act_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                              vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    return vd_op_act_bwd(s->ctx, act_kind(l), n, x.mem, x.off, y.mem, y.off, dy.mem, dy.off, beta,
                         dx.mem, dx.off);
}

#define ACT_FAMILY(ident, tname)                          \
    const vd_layer_ops ident = {.type = tname,            \
                                .size = sizeof(vd_layer), \
                                .reshape = act_reshape,   \
                                .forward = act_forward,   \
                                .backward = act_backward}

ACT_FAMILY(vd_layer_relu, "relu");
ACT_FAMILY(vd_layer_sigmoid, "sigmoid");
ACT_FAMILY(vd_layer_tanh, "tanh");
ACT_FAMILY(vd_layer_gelu, "gelu");

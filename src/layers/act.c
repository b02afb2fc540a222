/* act.c - elementwise activation layers (relu, sigmoid, tanh, gelu): one family, the kind
 * taken from the registry name. */
#include <stddef.h>
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

/* Leaky ReLU: its own family because it has an option (the negative slope). */
typedef struct leaky {
    vd_layer base;
    float alpha;
} leaky;

static const vd_key leaky_keys[] = {
    {"alpha", VD_KEY_FLOAT, offsetof(leaky, alpha), 0.01, 0.0, 1.0, false,
     "slope for x <= 0 (PyTorch's negative_slope; darknet's 'leaky' is 0.1)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status leaky_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    return vd_op_leaky_fwd(s->ctx, ((leaky *)l)->alpha, n, x.mem, x.off, y.mem, y.off);
}

static vd_status leaky_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    size_t n = (size_t)s->n * vd_shape_numel(&l->in);
    return vd_op_leaky_bwd(s->ctx, ((leaky *)l)->alpha, n, x.mem, x.off, dy.mem, dy.off, beta,
                           dx.mem, dx.off);
}

const vd_layer_ops vd_layer_leaky_relu = {
    .type = "leaky_relu",
    .size = sizeof(leaky),
    .keys = leaky_keys,
    .reshape = act_reshape,
    .forward = leaky_forward,
    .backward = leaky_backward,
};

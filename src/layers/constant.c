/* constant.c - a layer with no input whose output is one fixed tensor of sample shape
 * (d0, d1, d2; 0 leaves a dimension out), the same for every sample of the batch. The
 * ONNX importer maps the constant operand of an Add or Concat onto it (docs/ONNX.md).
 *
 * The values are layer state, not a parameter: the optimizer updates the parameter arena
 * as a whole (weight decay and momentum included), so a value kept there would drift
 * although it gets no gradient. As state they are saved in checkpoints (like batch-norm
 * running statistics) and written by the importer; a fresh layer holds `value` everywhere.
 * Forward is one broadcast copy (vd_op_copy2d with source stride 0); backward has nothing
 * to do: no input, nothing trained. */
#include <stddef.h>
#include <stdio.h>

#include "../runtime/runtime.h"
#include "layer.h"

typedef struct constant {
    vd_layer base;
    int32_t d[3];
    float value;
    vd_layer_buf state; /* numel floats */
} constant;

static const vd_key constant_keys[] = {
    {"d0", VD_KEY_INT, offsetof(constant, d[0]), 0, 1, 1 << 24, true, "first dimension"},
    {"d1", VD_KEY_INT, offsetof(constant, d[1]), 0, 0, 1 << 24, false, "second (0: none)"},
    {"d2", VD_KEY_INT, offsetof(constant, d[2]), 0, 0, 1 << 24, false, "third (0: none)"},
    {"value", VD_KEY_FLOAT, offsetof(constant, value), 0, -1e30, 1e30, false,
     "initial value of every element (checkpoints and the importer replace them)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status constant_init(vd_layer *l)
{
    constant *c = (constant *)l;
    if (c->d[1] == 0 && c->d[2] != 0)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "layer '%s' (constant): d2 given without d1",
                            l->name);
    return VD_OK;
}

static vd_status constant_reshape(vd_layer *l)
{
    constant *c = (constant *)l;
    vd_shape s = {0, {0}};
    for (int i = 0; i < 3 && c->d[i] > 0; i++) s.d[s.ndim++] = c->d[i];
    if (vd_shape_numel(&s) > ((size_t)1 << 28))
        return vd_error_set(NULL, VD_ERR_SHAPE, "more than 2^28 elements");
    l->out = s;
    return VD_OK;
}

/* The state on first use (or after a reshape to another size): value everywhere. */
static vd_status constant_ensure(constant *c, vd_context *ctx)
{
    bool fresh;
    size_t n = vd_shape_numel(&c->base.out);
    vd_status st = vd_layer_buf_reserve(&c->state, ctx, n * sizeof(float), &fresh);
    if (st == VD_OK && fresh) st = vd_op_fill(ctx, n, c->value, c->state.mem, 0);
    return st;
}

static size_t constant_state_size(const vd_layer *l)
{
    return vd_shape_numel(&l->out);
}

static vd_status constant_state_copy(vd_layer *l, vd_context *ctx, float *host, bool to_host)
{
    constant *c = (constant *)l;
    vd_status st = constant_ensure(c, ctx);
    if (st != VD_OK) return st;
    size_t bytes = vd_shape_numel(&l->out) * sizeof(float);
    char what[160];
    snprintf(what, sizeof(what), "constant '%s' values", l->name);
    if (!to_host) return vd_buffer_write(ctx, c->state.mem, true, 0, bytes, host, NULL, what);
    cl_int err = vd_fault(ctx, "clEnqueueReadBuffer")
                     ?: clEnqueueReadBuffer(ctx->queue, c->state.mem, CL_TRUE, 0, bytes, host, 0,
                                            NULL, NULL);
    if (err == CL_SUCCESS) return VD_OK;
    char call[200];
    snprintf(call, sizeof(call), "clEnqueueReadBuffer(%s)", what);
    return vd_error_cl(ctx, call, err);
}

static vd_status constant_forward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y)
{
    (void)xs;
    constant *c = (constant *)l;
    vd_status st = constant_ensure(c, s->ctx);
    size_t n = vd_shape_numel(&l->out);
    if (st == VD_OK)
        st = vd_op_copy2d(s->ctx, (size_t)s->n, n, c->state.mem, 0, 0, 0.0f, y.mem, y.off, n);
    return st;
}

static vd_status constant_backward(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y,
                                   vd_buf dy, const vd_buf *dxs, const float *betas)
{
    (void)l, (void)s, (void)xs, (void)y, (void)dy, (void)dxs, (void)betas;
    return VD_OK;
}

static uint64_t constant_flops(const vd_layer *l)
{
    (void)l;
    return 0;
}

static void constant_destroy(vd_layer *l)
{
    vd_layer_buf_release(&((constant *)l)->state);
}

const vd_layer_ops vd_layer_constant = {
    .type = "constant",
    .size = sizeof(constant),
    .keys = constant_keys,
    .no_input = true,
    .init = constant_init,
    .reshape = constant_reshape,
    .forward_multi = constant_forward,
    .backward_multi = constant_backward,
    .flops = constant_flops,
    .destroy = constant_destroy,
    .state_size = constant_state_size,
    .state_copy = constant_state_copy,
};

/* norm.c - batch normalisation, layer normalisation and softmax as a layer
 * (src/ops/norm_ops.c, cl/norm.cl).
 *
 * batchnorm: per channel over (N, H, W) for (C, H, W) inputs, over N for (C) inputs
 *   (after a dense layer); generally channel = first dimension of the sample. Training
 *   normalises with the batch mean and biased variance and moves the running statistics
 *   by momentum (PyTorch: running = (1 - momentum) running + momentum batch, unbiased
 *   variance); evaluation uses the running statistics. gamma (ones) and beta (zeros) are
 *   trainable parameters. The running mean/variance are NOT parameters: they live in a
 *   layer-owned device buffer (mean 0, variance 1 when first allocated, on the first
 *   forward), saved in checkpoints through state_copy.
 *   relu=1 fuses a ReLU after it (forward and backward in the same kernels).
 * layernorm: over the trailing block of sample axes from `axis` (0: the whole sample,
 *   PyTorch's LayerNorm(normalized_shape = sample shape); ONNX LayerNormalization's axis):
 *   rows of D = prod(d[axis..]) values, prod(d[..axis)) rows per sample, with elementwise
 *   gamma/beta of the block's shape. output=mean|invstd returns each row's mean or
 *   1/sqrt(var + eps) instead (ONNX's Mean/InvStdDev outputs: the normalised axes become
 *   1), with no parameters; its backward is exact too.
 * softmax: over the first dimension of the sample (the classes of a (C) input, the
 *   channels at each pixel of a (C, H, W) one). Backward is exact.
 * logsoftmax: log of that, computed as x - max - log sum exp(x - max) (PyTorch's
 *   LogSoftmax over dim 1; what ONNX LogSoftmax imports to). */
#include <stddef.h>
#include <stdio.h>

#include "../ops/ops_cnn.h"
#include "layer.h"

/* ------------------------------------------------------------------ batchnorm */

typedef struct batchnorm {
    vd_layer base;
    float momentum, eps;
    int32_t relu; /* ReLU fused after the normalisation (int32_t: the key table writes one) */
    size_t C, HW;
    bool last_train;    /* mode of the last forward: the backward follows it */
    vd_layer_buf state; /* 6*C floats, layout in ops_cnn.h (running mean, running var, ...) */
} batchnorm;

static const vd_key bn_keys[] = {
    {"momentum", VD_KEY_FLOAT, offsetof(batchnorm, momentum), 0.1, 0.0, 1.0, false,
     "running statistics: r = (1 - momentum) r + momentum batch"},
    {"eps", VD_KEY_FLOAT, offsetof(batchnorm, eps), 1e-5, 1e-12, 1.0, false,
     "added to the variance"},
    {"relu", VD_KEY_BOOL, offsetof(batchnorm, relu), 0, 0, 1, false,
     "apply ReLU to the output in the same pass (saves a layer and two passes over memory)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status bn_init(vd_layer *l)
{
    l->fused_rectifier = ((batchnorm *)l)->relu;
    return VD_OK;
}

static vd_status bn_reshape(vd_layer *l)
{
    batchnorm *b = (batchnorm *)l;
    b->C = (size_t)l->in.d[0];
    b->HW = vd_shape_numel(&l->in) / b->C;
    l->out = l->in;
    l->n_params = 0;
    int64_t shape[1] = {(int64_t)b->C};
    vd_status st = vd_layer_param(l, NULL, "gamma", 1, shape, VD_INIT_ONE, b->C, b->C);
    if (st == VD_OK) st = vd_layer_param(l, NULL, "beta", 1, shape, VD_INIT_ZERO, b->C, b->C);
    return st;
}

/* Allocate the state on first use: running mean 0, running variance 1. */
static vd_status bn_ensure_state(batchnorm *b, vd_context *ctx)
{
    bool fresh;
    size_t C = b->C;
    vd_status st = vd_layer_buf_reserve(&b->state, ctx, 6 * C * sizeof(float), &fresh);
    if (st == VD_OK && fresh) {
        st = vd_op_fill(ctx, C, 0.0f, b->state.mem, 0);
        if (st == VD_OK) st = vd_op_fill(ctx, C, 1.0f, b->state.mem, C);
    }
    return st;
}

static size_t bn_state_size(const vd_layer *l)
{
    return 2 * ((const batchnorm *)l)->C;
}

/* Running mean then running variance, C floats each. */
static vd_status bn_state_copy(vd_layer *l, vd_context *ctx, float *host, bool to_host)
{
    batchnorm *b = (batchnorm *)l;
    vd_status st = bn_ensure_state(b, ctx);
    if (st != VD_OK) return st;
    size_t bytes = 2 * b->C * sizeof(float);
    char what[160];
    snprintf(what, sizeof(what), "batchnorm '%s' running statistics", l->name);
    if (!to_host) return vd_buffer_write(ctx, b->state.mem, true, 0, bytes, host, NULL, what);
    cl_int err = vd_fault(ctx, "clEnqueueReadBuffer")
                     ?: clEnqueueReadBuffer(ctx->queue, b->state.mem, CL_TRUE, 0, bytes, host, 0,
                                            NULL, NULL);
    if (err == CL_SUCCESS) return VD_OK;
    char call[200];
    snprintf(call, sizeof(call), "clEnqueueReadBuffer(%s)", what);
    return vd_error_cl(ctx, call, err);
}

static vd_status bn_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    batchnorm *b = (batchnorm *)l;
    size_t n = (size_t)s->n, C = b->C;
    vd_status st = bn_ensure_state(b, s->ctx);
    if (st != VD_OK) return st;
    if (s->train && n * b->HW < 2)
        return vd_error_set(s->ctx, VD_ERR_SHAPE,
                            "batchnorm '%s': training needs more than one value per channel "
                            "(batch %zu of %zu values each)",
                            l->name, n, b->HW);
    st = s->train ? vd_op_batchnorm_stats(s->ctx, n, C, b->HW, b->momentum, b->eps, x.mem, x.off,
                                          b->state.mem, 0)
                  : vd_op_batchnorm_eval_stats(s->ctx, C, b->eps, b->state.mem, 0);
    if (st != VD_OK) return st;
    b->last_train = s->train;
    vd_buf g = vd_buf_at(s->params, l->params[0].offset);
    vd_buf be = vd_buf_at(s->params, l->params[1].offset);
    return vd_op_batchnorm_apply(s->ctx, n, C, b->HW, b->relu, x.mem, x.off, b->state.mem, 0, g.mem,
                                 g.off, be.mem, be.off, y.mem, y.off);
}

static vd_status bn_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                             vd_buf dx, float beta)
{
    batchnorm *b = (batchnorm *)l;
    if (!b->state.mem)
        return vd_error_set(s->ctx, VD_ERR_STATE, "batchnorm '%s': backward before forward",
                            l->name);
    vd_buf g = vd_buf_at(s->params, l->params[0].offset);
    vd_buf dg = vd_buf_at(s->grads, l->params[0].offset);
    vd_buf db = vd_buf_at(s->grads, l->params[1].offset);
    return vd_op_batchnorm_bwd(s->ctx, (size_t)s->n, b->C, b->HW, b->last_train, b->relu, x.mem,
                               x.off, y.mem, y.off, dy.mem, dy.off, b->state.mem, 0, g.mem, g.off,
                               dg.mem, dg.off, db.mem, db.off, beta, dx.mem, dx.off);
}

vd_status vd_layer_batchnorm_fold(vd_layer *l, const vd_step *s, size_t K, size_t per, vd_buf w,
                                  vd_buf b, vd_buf out)
{
    batchnorm *bn = (batchnorm *)l;
    if (!l || l->ops != &vd_layer_batchnorm || bn->C != K)
        return vd_error_set(s->ctx, VD_ERR_SHAPE, "layer '%s' is not a batchnorm over %zu channels",
                            l ? l->name : "(null)", K);
    vd_status st = bn_ensure_state(bn, s->ctx);
    if (st != VD_OK) return st;
    vd_buf g = vd_buf_at(s->params, l->params[0].offset);
    vd_buf be = vd_buf_at(s->params, l->params[1].offset);
    return vd_op_batchnorm_fold(s->ctx, K, per, bn->eps, w.mem, w.off, b.mem, b.off, bn->state.mem,
                                0, g.mem, g.off, be.mem, be.off, out.mem, out.off);
}

static void bn_destroy(vd_layer *l)
{
    batchnorm *b = (batchnorm *)l;
    vd_layer_buf_release(&b->state);
}

const vd_layer_ops vd_layer_batchnorm = {
    .type = "batchnorm",
    .size = sizeof(batchnorm),
    .keys = bn_keys,
    .init = bn_init,
    .reshape = bn_reshape,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
    .state_size = bn_state_size,
    .state_copy = bn_state_copy,
};

/* ------------------------------------------------------------------ layernorm */

typedef struct layernorm {
    vd_layer base;
    float eps;
    int32_t axis;       /* first normalised sample axis */
    int32_t output;     /* LN_OUT_Y, LN_OUT_MEAN, LN_OUT_INVSTD */
    size_t rows, D;     /* per sample: rows of D normalised values */
    vd_layer_buf stats; /* 2 floats per row: mean, 1/std */
} layernorm;

enum { LN_OUT_Y = 0, LN_OUT_MEAN, LN_OUT_INVSTD };

static const vd_key ln_keys[] = {
    {"eps", VD_KEY_FLOAT, offsetof(layernorm, eps), 1e-5, 1e-12, 1.0, false,
     "added to the variance"},
    {"axis", VD_KEY_INT, offsetof(layernorm, axis), 0, 0, VD_MAX_DIMS - 1, false,
     "first sample axis of the normalised block (0: the whole sample)"},
    {"output", VD_KEY_ENUM, offsetof(layernorm, output), LN_OUT_Y, 0, 0, false,
     "y|mean|invstd: the normalised values, or each row's mean or 1/sqrt(var + eps)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status ln_reshape(vd_layer *l)
{
    layernorm *ln = (layernorm *)l;
    if (ln->axis >= l->in.ndim) {
        char sh[128];
        vd_shape_format(&l->in, sh, sizeof(sh));
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "layernorm '%s': axis %d is not an axis of its input %s (%d axes)",
                            l->name, (int)ln->axis, sh, (int)l->in.ndim);
    }
    vd_shape block = {.ndim = l->in.ndim - ln->axis};
    for (int32_t k = 0; k < block.ndim; k++) block.d[k] = l->in.d[ln->axis + k];
    ln->D = vd_shape_numel(&block);
    ln->rows = ln->D ? vd_shape_numel(&l->in) / ln->D : 0;
    l->out = l->in;
    l->n_params = 0;
    if (ln->output != LN_OUT_Y) {
        /* the statistics do not depend on gamma and beta: no parameters */
        for (int32_t k = ln->axis; k < l->out.ndim; k++) l->out.d[k] = 1;
        return VD_OK;
    }
    size_t D = ln->D;
    vd_status st = vd_layer_param(l, NULL, "gamma", block.ndim, block.d, VD_INIT_ONE, D, D);
    if (st == VD_OK) st = vd_layer_param(l, NULL, "beta", block.ndim, block.d, VD_INIT_ZERO, D, D);
    return st;
}

static vd_status ln_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    layernorm *ln = (layernorm *)l;
    size_t R = (size_t)s->n * ln->rows, D = ln->D;
    vd_status st = vd_layer_buf_reserve(&ln->stats, s->ctx, 2 * (R ? R : 1) * sizeof(float), NULL);
    if (st != VD_OK) return st;
    if (ln->output != LN_OUT_Y)
        return vd_op_layernorm_stat_fwd(s->ctx, R, D, ln->eps, ln->output == LN_OUT_INVSTD, x.mem,
                                        x.off, y.mem, y.off, ln->stats.mem, 0);
    vd_buf g = vd_buf_at(s->params, l->params[0].offset);
    vd_buf be = vd_buf_at(s->params, l->params[1].offset);
    return vd_op_layernorm_fwd(s->ctx, R, D, ln->eps, x.mem, x.off, g.mem, g.off, be.mem, be.off,
                               y.mem, y.off, ln->stats.mem, 0);
}

static vd_status ln_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                             vd_buf dx, float beta)
{
    layernorm *ln = (layernorm *)l;
    size_t R = (size_t)s->n * ln->rows, D = ln->D;
    if (!ln->stats.mem || ln->stats.bytes < 2 * R * sizeof(float))
        return vd_error_set(s->ctx, VD_ERR_STATE, "layernorm '%s': backward before forward",
                            l->name);
    if (ln->output != LN_OUT_Y) {
        if (!dx.mem) return VD_OK;
        return vd_op_layernorm_stat_bwd(s->ctx, R, D, ln->output == LN_OUT_INVSTD, x.mem, x.off,
                                        dy.mem, dy.off, ln->stats.mem, 0, beta, dx.mem, dx.off);
    }
    vd_buf g = vd_buf_at(s->params, l->params[0].offset);
    vd_buf dg = vd_buf_at(s->grads, l->params[0].offset);
    vd_buf db = vd_buf_at(s->grads, l->params[1].offset);
    return vd_op_layernorm_bwd(s->ctx, R, D, x.mem, x.off, dy.mem, dy.off, ln->stats.mem, 0, g.mem,
                               g.off, dg.mem, dg.off, db.mem, db.off, beta, dx.mem, dx.off);
}

static void ln_destroy(vd_layer *l)
{
    layernorm *ln = (layernorm *)l;
    vd_layer_buf_release(&ln->stats);
}

const vd_layer_ops vd_layer_layernorm = {
    .type = "layernorm",
    .size = sizeof(layernorm),
    .keys = ln_keys,
    .reshape = ln_reshape,
    .forward = ln_forward,
    .backward = ln_backward,
    .destroy = ln_destroy,
};

/* ------------------------------------------------------------------ softmax */

static vd_status softmax_reshape(vd_layer *l)
{
    l->out = l->in;
    return VD_OK;
}

static vd_status softmax_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    size_t C = (size_t)l->in.d[0];
    return vd_op_softmax_fwd(s->ctx, (size_t)s->n, C, vd_shape_numel(&l->in) / C, x.mem, x.off,
                             y.mem, y.off);
}

static vd_status softmax_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                  vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    size_t C = (size_t)l->in.d[0];
    return vd_op_softmax_bwd(s->ctx, (size_t)s->n, C, vd_shape_numel(&l->in) / C, y.mem, y.off,
                             dy.mem, dy.off, beta, dx.mem, dx.off);
}

const vd_layer_ops vd_layer_softmax = {
    .type = "softmax",
    .size = sizeof(vd_layer),
    .reshape = softmax_reshape,
    .forward = softmax_forward,
    .backward = softmax_backward,
};

/* ------------------------------------------------------------------ logsoftmax */

static vd_status logsoftmax_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    size_t C = (size_t)l->in.d[0];
    return vd_op_logsoftmax_fwd(s->ctx, (size_t)s->n, C, vd_shape_numel(&l->in) / C, x.mem, x.off,
                                y.mem, y.off);
}

static vd_status logsoftmax_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                     vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    size_t C = (size_t)l->in.d[0];
    return vd_op_logsoftmax_bwd(s->ctx, (size_t)s->n, C, vd_shape_numel(&l->in) / C, y.mem, y.off,
                                dy.mem, dy.off, beta, dx.mem, dx.off);
}

const vd_layer_ops vd_layer_logsoftmax = {
    .type = "logsoftmax",
    .size = sizeof(vd_layer),
    .reshape = softmax_reshape,
    .forward = logsoftmax_forward,
    .backward = logsoftmax_backward,
};

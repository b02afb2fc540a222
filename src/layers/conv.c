/* conv.c - 2-D convolution (conv2d) and transposed convolution (deconv2d), NCHW, through
 * im2col + CLBlast GEMM (src/ops/conv_ops.c). deconv2d is conv2d run backwards: its
 * forward is a convolution's backward-data and its backward-data a convolution's
 * forward, with the same (in channels, out channels / groups, R, S) weight layout as
 * PyTorch's ConvTranspose2d.
 *
 * Each layer owns a workspace (column matrix + scratch) taken from the context's pool on
 * the first forward and grown when a larger batch arrives; destroy gives it back. The
 * batch is processed in chunks sized so that the workspace stays under
 * VD_CONV_WS_CAP bytes. Not here: other algorithms (direct, Winograd, FFT). */
#include <stddef.h>
#include <stdio.h>

#include "../ops/ops_cnn.h"
#include "layer.h"

#define VD_CONV_WS_CAP ((size_t)64 << 20)

typedef struct conv {
    vd_layer base;
    int32_t filters, kernel, kernel_h, kernel_w, stride, pad, dilation, groups, bias;
    int32_t output_pad; /* deconv2d only */
    /* conv2d: its own geometry. deconv2d: the convolution it transposes, i.e. C, H, W
     * are the deconv's output and K, P, Q its input. */
    vd_conv_geom g;
    vd_layer_buf ws; /* im2col columns and scratch */
} conv;

#define COMMON_KEYS                                                                        \
    {"filters", VD_KEY_INT, offsetof(conv, filters),    0, 1,                              \
     1 << 20,   true,       "number of output channels"},                                  \
        {"kernel", VD_KEY_INT, offsetof(conv, kernel), 3, 1, 1024, false, "kernel size"},  \
        {"kernel_h", VD_KEY_INT, offsetof(conv, kernel_h),   0, 0,                         \
         1024,       false,      "kernel height (0: kernel)"},                             \
        {"kernel_w", VD_KEY_INT, offsetof(conv, kernel_w),  0, 0,                          \
         1024,       false,      "kernel width (0: kernel)"},                              \
        {"stride", VD_KEY_INT, offsetof(conv, stride), 1, 1, 1024, false, "stride"},       \
        {"pad", VD_KEY_INT, offsetof(conv, pad), 0, 0, 1024, false, "zero padding"},       \
        {"dilation", VD_KEY_INT, offsetof(conv, dilation), 1, 1, 1024, false, "dilation"}, \
        {"groups",                                                                         \
         VD_KEY_INT,                                                                       \
         offsetof(conv, groups),                                                           \
         1,                                                                                \
         1,                                                                                \
         1 << 20,                                                                          \
         false,                                                                            \
         "channel groups (in channels for depthwise)"},                                    \
    {                                                                                      \
        "bias", VD_KEY_BOOL, offsetof(conv, bias), 1, 0, 1, false, "add a learned bias"    \
    }

static const vd_key conv_keys[] = {
    COMMON_KEYS,
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static const vd_key deconv_keys[] = {
    COMMON_KEYS,
    {"output_pad", VD_KEY_INT, offsetof(conv, output_pad), 0, 0, 1024, false,
     "extra rows/columns on the bottom/right of the output"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static int32_t kh_of(const conv *c)
{
    return c->kernel_h ? c->kernel_h : c->kernel;
}

static int32_t kw_of(const conv *c)
{
    return c->kernel_w ? c->kernel_w : c->kernel;
}

/* Checks shared by both families; in_ch is the layer's input channel count. */
static vd_status check_common(vd_layer *l, int64_t in_ch)
{
    conv *c = (conv *)l;
    if (l->in.ndim != 3)
        return vd_error_set(NULL, VD_ERR_SHAPE, "%s needs a (C, H, W) input", l->ops->type);
    if (in_ch % c->groups != 0 || c->filters % c->groups != 0)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "groups=%d must divide both the input channels (%lld) and "
                            "filters (%d)",
                            (int)c->groups, (long long)in_ch, (int)c->filters);
    return VD_OK;
}

static vd_status conv_reshape(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_status st = check_common(l, l->in.d[0]);
    if (st != VD_OK) return st;
    vd_conv_geom g = {(int32_t)l->in.d[0],
                      (int32_t)l->in.d[1],
                      (int32_t)l->in.d[2],
                      c->filters,
                      0,
                      0,
                      kh_of(c),
                      kw_of(c),
                      c->stride,
                      c->stride,
                      c->pad,
                      c->pad,
                      c->dilation,
                      c->dilation,
                      c->groups};
    g.P = vd_conv_out_size(g.H, g.R, g.stride_h, g.pad_h, g.dil_h);
    g.Q = vd_conv_out_size(g.W, g.S, g.stride_w, g.pad_w, g.dil_w);
    if (g.P < 1 || g.Q < 1)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "kernel %dx%d (dilation %d) does not fit the %dx%d input with "
                            "padding %d",
                            (int)g.R, (int)g.S, (int)c->dilation, (int)g.H, (int)g.W, (int)c->pad);
    c->g = g;
    l->out.ndim = 3;
    l->out.d[0] = g.K;
    l->out.d[1] = g.P;
    l->out.d[2] = g.Q;
    l->n_params = 0;
    size_t rs = (size_t)g.R * (size_t)g.S, cg = (size_t)(g.C / g.groups);
    st = vd_layer_param(l, NULL, "weight", 4, (int64_t[]){g.K, (int64_t)cg, g.R, g.S}, VD_INIT_AUTO,
                        cg * rs, (size_t)g.K / (size_t)g.groups * rs);
    if (st == VD_OK && c->bias)
        st = vd_layer_param(l, NULL, "bias", 1, (int64_t[]){g.K}, VD_INIT_ZERO, cg * rs,
                            (size_t)g.K / (size_t)g.groups * rs);
    return st;
}

/* PyTorch's ConvTranspose2d: out = (in - 1) * stride - 2 * pad + dil * (k - 1) + op + 1,
 * with output_pad smaller than the stride or the dilation. */
static vd_status deconv_reshape(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_status st = check_common(l, l->in.d[0]);
    if (st != VD_OK) return st;
    if (c->output_pad >= c->stride && c->output_pad >= c->dilation)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "output_pad=%d must be smaller than the stride (%d) or the "
                            "dilation (%d)",
                            (int)c->output_pad, (int)c->stride, (int)c->dilation);
    int32_t R = kh_of(c), S = kw_of(c);
    int64_t H = l->in.d[1], W = l->in.d[2];
    int64_t Ho = (H - 1) * c->stride - 2 * (int64_t)c->pad + (int64_t)c->dilation * (R - 1) +
                 c->output_pad + 1;
    int64_t Wo = (W - 1) * c->stride - 2 * (int64_t)c->pad + (int64_t)c->dilation * (S - 1) +
                 c->output_pad + 1;
    if (Ho < 1 || Wo < 1 || Ho > (1 << 24) || Wo > (1 << 24))
        return vd_error_set(NULL, VD_ERR_SHAPE, "output would be %lldx%lld", (long long)Ho,
                            (long long)Wo);
    vd_conv_geom g = {c->filters, (int32_t)Ho, (int32_t)Wo, (int32_t)l->in.d[0], (int32_t)H,
                      (int32_t)W, R,           S,           c->stride,           c->stride,
                      c->pad,     c->pad,      c->dilation, c->dilation,         c->groups};
    c->g = g;
    l->out.ndim = 3;
    l->out.d[0] = c->filters;
    l->out.d[1] = Ho;
    l->out.d[2] = Wo;
    l->n_params = 0;
    /* weight (in, out / groups, R, S). Each output sees in/groups * R*S weights (fewer
     * with stride > 1); fan_out counts the outputs one input reaches. */
    size_t rs = (size_t)R * (size_t)S, kin = (size_t)(g.K / g.groups);
    size_t kout = (size_t)(g.C / g.groups);
    st = vd_layer_param(l, NULL, "weight", 4, (int64_t[]){g.K, (int64_t)kout, R, S}, VD_INIT_AUTO,
                        kin * rs, kout * rs);
    if (st == VD_OK && c->bias)
        st = vd_layer_param(l, NULL, "bias", 1, (int64_t[]){c->filters}, VD_INIT_ZERO, kin * rs,
                            kout * rs);
    return st;
}

/* Images per chunk for a batch of n, and a workspace big enough for it. */
static vd_status workspace(conv *c, vd_context *ctx, size_t n, size_t *nb)
{
    size_t per = vd_conv_workspace(&c->g, 2) / 2; /* column + scratch per image */
    size_t fit = VD_CONV_WS_CAP / sizeof(float) / (per ? per : 1);
    *nb = fit < 1 ? 1 : fit > n ? n : fit;
    if (*nb < 1) *nb = 1;
    return vd_layer_buf_reserve(&c->ws, ctx, vd_conv_workspace(&c->g, *nb) * sizeof(float), NULL);
}

/* What every pass starts with: the workspace for a batch of s->n (and nb, the images per
 * chunk) and the weight's place in the parameter arena. */
static vd_status begin_pass(vd_layer *l, const vd_step *s, size_t *nb, vd_buf *w)
{
    *w = vd_buf_at(s->params, l->params[0].offset);
    return workspace((conv *)l, s->ctx, (size_t)s->n, nb);
}

/* The bias over the layer's output (n, out channels, out plane), for both families:
 * forward adds b to t = y, backward accumulates db from t = dy. VD_OK without a bias. */
static vd_status bias_pass(vd_layer *l, const vd_step *s, bool backward, vd_buf t)
{
    if (!((conv *)l)->bias) return VD_OK;
    size_t n = (size_t)s->n, ch = (size_t)l->out.d[0];
    size_t plane = (size_t)l->out.d[1] * (size_t)l->out.d[2];
    if (backward) {
        vd_buf db = vd_buf_at(s->grads, l->params[1].offset);
        return vd_op_bias_nchw_bwd(s->ctx, n, ch, plane, t.mem, t.off, db.mem, db.off);
    }
    vd_buf b = vd_buf_at(s->params, l->params[1].offset);
    return vd_op_bias_nchw_fwd(s->ctx, n, ch, plane, b.mem, b.off, t.mem, t.off);
}

static vd_status conv_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    conv *c = (conv *)l;
    size_t nb;
    vd_buf w;
    vd_status st = begin_pass(l, s, &nb, &w);
    if (st == VD_OK)
        st = vd_op_conv2d_fwd(s->ctx, &c->g, (size_t)s->n, nb, x.mem, x.off, w.mem, w.off, 0.0f,
                              y.mem, y.off, c->ws.mem, 0);
    if (st == VD_OK) st = bias_pass(l, s, false, y);
    return st;
}

static vd_status conv_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                               vd_buf dx, float beta)
{
    conv *c = (conv *)l;
    size_t nb;
    vd_buf w, dw = vd_buf_at(s->grads, l->params[0].offset);
    vd_status st = begin_pass(l, s, &nb, &w);
    if (st == VD_OK) st = bias_pass(l, s, true, dy);
    if (st == VD_OK)
        st = vd_op_conv2d_bwd(s->ctx, &c->g, (size_t)s->n, nb, x.mem, x.off, dy.mem, dy.off, w.mem,
                              w.off, dw.mem, dw.off, beta, dx.mem, dx.off, c->ws.mem, 0);
    return st;
}

/* y = convolution backward-data of x, i.e. x plays dY and y plays dX. */
static vd_status deconv_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    conv *c = (conv *)l;
    size_t nb;
    vd_buf w;
    vd_status st = begin_pass(l, s, &nb, &w);
    if (st == VD_OK)
        st = vd_op_conv2d_bwd(s->ctx, &c->g, (size_t)s->n, nb, NULL, 0, x.mem, x.off, w.mem, w.off,
                              NULL, 0, 0.0f, y.mem, y.off, c->ws.mem, 0);
    if (st == VD_OK) st = bias_pass(l, s, false, y);
    return st;
}

/* dW: the convolution's filter gradient with input dy and output gradient x;
 * dx: the convolution's forward of dy. */
static vd_status deconv_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                 vd_buf dx, float beta)
{
    conv *c = (conv *)l;
    size_t n = (size_t)s->n, nb;
    vd_buf w, dw = vd_buf_at(s->grads, l->params[0].offset);
    vd_status st = begin_pass(l, s, &nb, &w);
    if (st == VD_OK) st = bias_pass(l, s, true, dy);
    if (st == VD_OK)
        st = vd_op_conv2d_bwd(s->ctx, &c->g, n, nb, dy.mem, dy.off, x.mem, x.off, w.mem, w.off,
                              dw.mem, dw.off, 0.0f, NULL, 0, c->ws.mem, 0);
    if (st == VD_OK && dx.mem)
        st = vd_op_conv2d_fwd(s->ctx, &c->g, n, nb, dy.mem, dy.off, w.mem, w.off, beta, dx.mem,
                              dx.off, c->ws.mem, 0);
    return st;
}

static void conv_destroy(vd_layer *l)
{
    conv *c = (conv *)l;
    vd_layer_buf_release(&c->ws);
}

/* Each weight is used once per output pixel (conv2d) or input pixel (deconv2d). */
static uint64_t conv_flops(const vd_layer *l)
{
    return 2 * (uint64_t)l->params[0].numel * (uint64_t)(l->out.d[1] * l->out.d[2]);
}

static uint64_t deconv_flops(const vd_layer *l)
{
    return 2 * (uint64_t)l->params[0].numel * (uint64_t)(l->in.d[1] * l->in.d[2]);
}

const vd_layer_ops vd_layer_conv2d = {
    .type = "conv2d",
    .size = sizeof(conv),
    .keys = conv_keys,
    .reshape = conv_reshape,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
    .flops = conv_flops,
};

const vd_layer_ops vd_layer_deconv2d = {
    .type = "deconv2d",
    .size = sizeof(conv),
    .keys = deconv_keys,
    .reshape = deconv_reshape,
    .forward = deconv_forward,
    .backward = deconv_backward,
    .destroy = conv_destroy,
    .flops = deconv_flops,
};

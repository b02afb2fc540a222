/* pool.c - max pooling, average pooling and global average pooling over (C, H, W)
 * inputs (src/ops/pool_ops.c, cl/pool.cl).
 *
 * maxpool/avgpool keys follow PyTorch's MaxPool2d/AvgPool2d: kernel, stride (0: the
 * kernel size), pad (at most half the kernel), ceil (ceil_mode: the last window may hang
 * over the bottom/right edge, but must start inside the input or the left padding).
 * avgpool divides by the window clipped to the padded input, i.e. PyTorch's default
 * count_include_pad=True. maxpool keeps the winning position of each output (int32) in a
 * layer-owned buffer for its backward, taken from the pool on the first forward and
 * grown with the batch. globalavgpool maps (C, H, W) to (C, 1, 1), so a following conv
 * still sees three dimensions and a dense layer flattens it as usual. */
#include <stddef.h>

#include "../ops/ops_cnn.h"
#include "layer.h"

typedef struct pool {
    vd_layer base;
    int32_t kernel, stride, pad, ceil;
    int32_t kernel_h, kernel_w, stride_h, stride_w; /* 0: kernel, stride */
    int32_t pad_h, pad_w;                           /* -1: pad */
    vd_pool_geom g;
    vd_layer_buf idx; /* maxpool: int32 argmax positions of the last forward */
} pool;

static const vd_key pool_keys[] = {
    {"kernel", VD_KEY_INT, offsetof(pool, kernel), 2, 1, 1024, false, "window size"},
    {"stride", VD_KEY_INT, offsetof(pool, stride), 0, 0, 1024, false, "stride (0: kernel)"},
    {"pad", VD_KEY_INT, offsetof(pool, pad), 0, 0, 512, false, "padding (<= kernel/2)"},
    {"ceil", VD_KEY_BOOL, offsetof(pool, ceil), 0, 0, 1, false, "ceil mode for the output size"},
    {"kernel_h", VD_KEY_INT, offsetof(pool, kernel_h), 0, 0, 1024, false, "window height (0: kernel)"},
    {"kernel_w", VD_KEY_INT, offsetof(pool, kernel_w), 0, 0, 1024, false, "window width (0: kernel)"},
    {"stride_h", VD_KEY_INT, offsetof(pool, stride_h), 0, 0, 1024, false,
     "stride along the height (0: stride)"},
    {"stride_w", VD_KEY_INT, offsetof(pool, stride_w), 0, 0, 1024, false,
     "stride along the width (0: stride)"},
    {"pad_h", VD_KEY_INT, offsetof(pool, pad_h), -1, -1, 512, false, "top/bottom padding (-1: pad)"},
    {"pad_w", VD_KEY_INT, offsetof(pool, pad_w), -1, -1, 512, false, "left/right padding (-1: pad)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status pool_reshape(vd_layer *l)
{
    pool *p = (pool *)l;
    if (l->in.ndim != 3)
        return vd_error_set(NULL, VD_ERR_SHAPE, "%s needs a (C, H, W) input", l->ops->type);
    int32_t kh = p->kernel_h ? p->kernel_h : p->kernel, kw = p->kernel_w ? p->kernel_w : p->kernel;
    int32_t sh = p->stride_h ? p->stride_h : p->stride ? p->stride : kh;
    int32_t sw = p->stride_w ? p->stride_w : p->stride ? p->stride : kw;
    int32_t ph = p->pad_h >= 0 ? p->pad_h : p->pad, pw = p->pad_w >= 0 ? p->pad_w : p->pad;
    if (ph > kh / 2 || pw > kw / 2)
        return vd_error_set(NULL, VD_ERR_SHAPE, "padding %d, %d is more than half the window %dx%d",
                            (int)ph, (int)pw, (int)kh, (int)kw);
    vd_pool_geom g = {(int32_t)l->in.d[0], (int32_t)l->in.d[1], (int32_t)l->in.d[2], 0, 0, kh, kw, sh,
                      sw, ph, pw};
    g.P = vd_pool_out_size(g.H, g.kh, g.sh, g.ph, p->ceil != 0);
    g.Q = vd_pool_out_size(g.W, g.kw, g.sw, g.pw, p->ceil != 0);
    if (g.P < 1 || g.Q < 1)
        return vd_error_set(NULL, VD_ERR_SHAPE, "window %dx%d does not fit the %dx%d input",
                            (int)kh, (int)kw, (int)g.H, (int)g.W);
    p->g = g;
    l->out.ndim = 3;
    l->out.d[0] = g.C;
    l->out.d[1] = g.P;
    l->out.d[2] = g.Q;
    return VD_OK;
}

static vd_status maxpool_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    pool *p = (pool *)l;
    size_t bytes = (size_t)s->n * vd_shape_numel(&l->out) * sizeof(cl_int);
    vd_status st = vd_layer_buf_reserve(&p->idx, s->ctx, bytes, NULL);
    if (st != VD_OK) return st;
    return vd_op_maxpool_fwd(s->ctx, &p->g, (size_t)s->n, x.mem, x.off, y.mem, y.off, p->idx.mem,
                             0);
}

/* Uses the positions of the last forward, which the net runs on the same batch. */
static vd_status maxpool_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                  vd_buf dx, float beta)
{
    pool *p = (pool *)l;
    if (!dx.mem) return VD_OK;
    if (!p->idx.mem || p->idx.bytes < (size_t)s->n * vd_shape_numel(&l->out) * sizeof(cl_int))
        return vd_error_set(s->ctx, VD_ERR_STATE, "maxpool '%s': backward before forward", l->name);
    return vd_op_maxpool_bwd(s->ctx, &p->g, (size_t)s->n, p->idx.mem, 0, dy.mem, dy.off, beta,
                             dx.mem, dx.off);
}

static void maxpool_destroy(vd_layer *l)
{
    pool *p = (pool *)l;
    vd_layer_buf_release(&p->idx);
}

static vd_status avgpool_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    pool *p = (pool *)l;
    return vd_op_avgpool_fwd(s->ctx, &p->g, (size_t)s->n, x.mem, x.off, y.mem, y.off);
}

static vd_status avgpool_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                  vd_buf dx, float beta)
{
    pool *p = (pool *)l;
    if (!dx.mem) return VD_OK;
    return vd_op_avgpool_bwd(s->ctx, &p->g, (size_t)s->n, dy.mem, dy.off, beta, dx.mem, dx.off);
}

static vd_status gavg_reshape(vd_layer *l)
{
    if (l->in.ndim != 3)
        return vd_error_set(NULL, VD_ERR_SHAPE, "globalavgpool needs a (C, H, W) input");
    l->out.ndim = 3;
    l->out.d[0] = l->in.d[0];
    l->out.d[1] = 1;
    l->out.d[2] = 1;
    return VD_OK;
}

static vd_status gavg_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    return vd_op_globalavgpool_fwd(s->ctx, (size_t)s->n, (size_t)l->in.d[0],
                                   (size_t)(l->in.d[1] * l->in.d[2]), x.mem, x.off, y.mem, y.off);
}

static vd_status gavg_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                               vd_buf dx, float beta)
{
    if (!dx.mem) return VD_OK;
    return vd_op_globalavgpool_bwd(s->ctx, (size_t)s->n, (size_t)l->in.d[0],
                                   (size_t)(l->in.d[1] * l->in.d[2]), dy.mem, dy.off, beta, dx.mem,
                                   dx.off);
}

const vd_layer_ops vd_layer_maxpool = {
    .type = "maxpool",
    .size = sizeof(pool),
    .keys = pool_keys,
    .reshape = pool_reshape,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = maxpool_destroy,
};

const vd_layer_ops vd_layer_avgpool = {
    .type = "avgpool",
    .size = sizeof(pool),
    .keys = pool_keys,
    .reshape = pool_reshape,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

const vd_layer_ops vd_layer_globalavgpool = {
    .type = "globalavgpool",
    .size = sizeof(vd_layer),
    .reshape = gavg_reshape,
    .forward = gavg_forward,
    .backward = gavg_backward,
};

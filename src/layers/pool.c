/* pool.c - max pooling, average pooling and global average pooling over (C, H, W)
 * inputs (src/ops/pool_ops.c, cl/pool.cl).
 *
 * maxpool/avgpool keys follow PyTorch's MaxPool2d/AvgPool2d: kernel, stride (0: the
 * kernel size), pad, ceil (ceil_mode: the last window may hang over the bottom/right
 * edge, but must start inside the input or the left padding), dilation; and ONNX's
 * per-side padding (pad_top, pad_left, pad_bottom, pad_right, each less than the window's
 * extent (kernel - 1) * dilation + 1 along its axis, as ONNX allows; every window must
 * hold an input tap). avgpool divides by the window's taps inside the padded input
 * (count_pad=1, the default: PyTorch's count_include_pad=True) or inside the input
 * (count_pad=0). maxpool keeps the winning position of each output (int32) in a
 * layer-owned buffer for its backward, taken from the pool on the first forward and
 * grown with the batch; with indices=1 it outputs that position as an index into the
 * flattened (N, C, H, W) input, as float (exact below 2^24; ONNX MaxPool's Indices,
 * storage_order 0), for inference only. globalavgpool maps (C, H, W) to (C, 1, 1), so a
 * following conv still sees three dimensions and a dense layer flattens it as usual. */
#include <stddef.h>

#include "../ops/ops_cnn.h"
#include "layer.h"

typedef struct pool {
    vd_layer base;
    int32_t kernel, stride, pad, ceil;
    int32_t kernel_h, kernel_w, stride_h, stride_w; /* 0: kernel, stride */
    int32_t pad_h, pad_w;                           /* -1: pad */
    int32_t pad_top, pad_left, pad_bottom, pad_right; /* -1: pad_h, pad_w */
    int32_t dilation, dilation_h, dilation_w;         /* 0: dilation */
    int32_t count_pad;                                /* avgpool: padding in the divisor */
    int32_t indices;                                  /* maxpool: output the argmax */
    vd_pool_geom g;
    vd_layer_buf idx; /* maxpool: int32 argmax positions of the last forward */
} pool;

/* The keys maxpool and avgpool share (clang-format would put every field of an entry on
 * a line of its own). */
// clang-format off
#define POOL_KEYS                                                                                  \
    {"kernel", VD_KEY_INT, offsetof(pool, kernel), 2, 1, 1024, false, "window size"},              \
        {"stride", VD_KEY_INT, offsetof(pool, stride), 0, 0, 1024, false, "stride (0: kernel)"},   \
        {"pad", VD_KEY_INT, offsetof(pool, pad), 0, 0, 65535, false,                               \
         "padding on every side (< the window extent)"},                                           \
        {"ceil", VD_KEY_BOOL, offsetof(pool, ceil), 0, 0, 1, false,                                \
         "ceil mode for the output size"},                                                         \
        {"kernel_h", VD_KEY_INT, offsetof(pool, kernel_h), 0, 0, 1024, false,                      \
         "window height (0: kernel)"},                                                             \
        {"kernel_w", VD_KEY_INT, offsetof(pool, kernel_w), 0, 0, 1024, false,                      \
         "window width (0: kernel)"},                                                              \
        {"stride_h", VD_KEY_INT, offsetof(pool, stride_h), 0, 0, 1024, false,                      \
         "stride along the height (0: stride)"},                                                   \
        {"stride_w", VD_KEY_INT, offsetof(pool, stride_w), 0, 0, 1024, false,                      \
         "stride along the width (0: stride)"},                                                    \
        {"pad_h", VD_KEY_INT, offsetof(pool, pad_h), -1, -1, 65535, false,                         \
         "top/bottom padding (-1: pad)"},                                                          \
        {"pad_w", VD_KEY_INT, offsetof(pool, pad_w), -1, -1, 65535, false,                         \
         "left/right padding (-1: pad)"},                                                          \
        {"pad_top", VD_KEY_INT, offsetof(pool, pad_top), -1, -1, 65535, false,                     \
         "top padding (-1: pad_h)"},                                                               \
        {"pad_left", VD_KEY_INT, offsetof(pool, pad_left), -1, -1, 65535, false,                   \
         "left padding (-1: pad_w)"},                                                              \
        {"pad_bottom", VD_KEY_INT, offsetof(pool, pad_bottom), -1, -1, 65535, false,               \
         "bottom padding (-1: pad_h)"},                                                            \
        {"pad_right", VD_KEY_INT, offsetof(pool, pad_right), -1, -1, 65535, false,                 \
         "right padding (-1: pad_w)"},                                                             \
        {"dilation", VD_KEY_INT, offsetof(pool, dilation), 1, 1, 1024, false,                      \
         "spacing of the window's taps"},                                                          \
        {"dilation_h", VD_KEY_INT, offsetof(pool, dilation_h), 0, 0, 1024, false,                  \
         "dilation along the height (0: dilation)"},                                               \
        {"dilation_w", VD_KEY_INT, offsetof(pool, dilation_w), 0, 0, 1024, false,                  \
         "dilation along the width (0: dilation)"}
// clang-format on

static const vd_key maxpool_keys[] = {
    POOL_KEYS,
    {"indices", VD_KEY_INT, offsetof(pool, indices), 0, 0, 2, false,
     "1 (2): output the argmax's index into the flattened input, its planes row-major "
     "(column-major), as float; inference only"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static const vd_key avgpool_keys[] = {
    POOL_KEYS,
    {"count_pad", VD_KEY_BOOL, offsetof(pool, count_pad), 1, 0, 1, false,
     "divide by the window's taps in the padded input (1) or in the input (0)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

/* Whether every window along an axis holds a tap inside [0, in): taps at
 * i*s - pad + r*d, r in [0, k). */
static bool windows_hit(int32_t in, int32_t out, int32_t k, int32_t s, int32_t pad, int32_t d)
{
    for (int64_t i = 0; i < out; i++) {
        int64_t a = i * s - pad, r = a >= 0 ? 0 : (-a + d - 1) / d;
        if (r >= k || a + r * d >= in) return false;
    }
    return true;
}

static vd_status pool_reshape(vd_layer *l)
{
    pool *p = (pool *)l;
    if (l->in.ndim != 3)
        return vd_error_set(NULL, VD_ERR_SHAPE, "%s needs a (C, H, W) input", l->ops->type);
    int32_t kh = p->kernel_h ? p->kernel_h : p->kernel, kw = p->kernel_w ? p->kernel_w : p->kernel;
    int32_t sh = p->stride_h ? p->stride_h : p->stride ? p->stride : kh;
    int32_t sw = p->stride_w ? p->stride_w : p->stride ? p->stride : kw;
    int32_t ph = p->pad_h >= 0 ? p->pad_h : p->pad, pw = p->pad_w >= 0 ? p->pad_w : p->pad;
    int32_t pt = p->pad_top >= 0 ? p->pad_top : ph, pb = p->pad_bottom >= 0 ? p->pad_bottom : ph;
    int32_t pl = p->pad_left >= 0 ? p->pad_left : pw, pr = p->pad_right >= 0 ? p->pad_right : pw;
    int32_t dh = p->dilation_h ? p->dilation_h : p->dilation;
    int32_t dw = p->dilation_w ? p->dilation_w : p->dilation;
    int64_t eh = (int64_t)(kh - 1) * dh + 1, ew = (int64_t)(kw - 1) * dw + 1;
    if (pt >= eh || pb >= eh || pl >= ew || pr >= ew)
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "padding (top, left, bottom, right) = (%d, %d, %d, %d) is not less "
                            "than the window's extent %lldx%lld",
                            (int)pt, (int)pl, (int)pb, (int)pr, (long long)eh, (long long)ew);
    int32_t C = (int32_t)l->in.d[0], H = (int32_t)l->in.d[1], W = (int32_t)l->in.d[2];
    int32_t excl = l->ops == &vd_layer_avgpool && !p->count_pad;
    vd_pool_geom g = {C, H, W, 0, 0, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, excl};
    g.P = vd_pool_out_size2(g.H, (int32_t)eh, g.sh, pt, pb, p->ceil != 0);
    g.Q = vd_pool_out_size2(g.W, (int32_t)ew, g.sw, pl, pr, p->ceil != 0);
    if (g.P < 1 || g.Q < 1)
        return vd_error_set(NULL, VD_ERR_SHAPE, "window %dx%d does not fit the %dx%d input",
                            (int)eh, (int)ew, (int)g.H, (int)g.W);
    if (!windows_hit(g.H, g.P, kh, sh, pt, dh) || !windows_hit(g.W, g.Q, kw, sw, pl, dw))
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "a dilated %dx%d window (dilation %d, %d) falls between the input's "
                            "rows or columns: it holds no input value",
                            (int)kh, (int)kw, (int)dh, (int)dw);
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
    if (p->indices && s->train)
        return vd_error_set(s->ctx, VD_ERR_UNSUPPORTED,
                            "maxpool '%s': indices=1 (argmax output) is inference only", l->name);
    /* Inference keeps no positions (no backward follows) unless they are the output. */
    if (!s->train && !p->indices)
        return vd_op_maxpool_fwd(s->ctx, &p->g, (size_t)s->n, x.mem, x.off, y.mem, y.off, NULL, 0);
    vd_status st = vd_layer_buf_reserve(&p->idx, s->ctx, bytes, NULL);
    if (st != VD_OK) return st;
    st = vd_op_maxpool_fwd(s->ctx, &p->g, (size_t)s->n, x.mem, x.off, y.mem, y.off, p->idx.mem, 0);
    if (st != VD_OK || !p->indices) return st;
    return vd_op_maxpool_indices(s->ctx, &p->g, (size_t)s->n, p->indices == 2, p->idx.mem, 0,
                                 y.mem, y.off);
}

/* Uses the positions of the last forward, which the net runs on the same batch. */
static vd_status maxpool_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                  vd_buf dx, float beta)
{
    pool *p = (pool *)l;
    if (p->indices)
        return vd_error_set(s->ctx, VD_ERR_UNSUPPORTED,
                            "maxpool '%s': indices=1 (argmax output) has no gradient: inference "
                            "only",
                            l->name);
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
    .keys = maxpool_keys,
    .reshape = pool_reshape,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .destroy = maxpool_destroy,
};

const vd_layer_ops vd_layer_avgpool = {
    .type = "avgpool",
    .size = sizeof(pool),
    .keys = avgpool_keys,
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

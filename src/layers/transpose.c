/* transpose.c - permutes the axes of each sample (the batch axis stays first): option
 * perm=1,0 on a (K, M) sample gives (M, K); any permutation of the axes of a sample of rank
 * 1 to 3. Forward runs util.cl's permute3 with perm, backward with its inverse. What the
 * ONNX importer maps a Gemm's transA=1 onto, and Transpose with perm (0, perm + 1) is
 * what the exporter writes (docs/ONNX.md). */
#include <stddef.h>
#include <stdio.h>

#include "layer.h"

typedef struct transpose {
    vd_layer base;
    int32_t perm[VD_MAX_DIMS]; /* -1 past the end */
    int32_t inv[VD_MAX_DIMS];
    int32_t r;
} transpose;

static const vd_key transpose_keys[] = {
    {"perm", VD_KEY_INTS, offsetof(transpose, perm), 0, 0, 3, true,
     "the input sample axis of each output axis, e.g. 1,0"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status transpose_init(vd_layer *l)
{
    transpose *t = (transpose *)l;
    bool seen[VD_MAX_DIMS] = {false};
    t->r = 0;
    while (t->r < VD_MAX_DIMS && t->perm[t->r] >= 0) t->r++;
    for (int32_t k = 0; k < t->r; k++) {
        int32_t p = t->perm[k];
        if (p >= t->r || seen[p])
            return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                                "layer '%s' (transpose): perm is not a permutation of 0..%d",
                                l->name, (int)t->r - 1);
        seen[p] = true;
        t->inv[p] = k;
    }
    return VD_OK;
}

static vd_status transpose_reshape(vd_layer *l)
{
    transpose *t = (transpose *)l;
    if (l->in.ndim != t->r) {
        char a[64];
        vd_shape_format(&l->in, a, sizeof(a));
        return vd_error_set(NULL, VD_ERR_SHAPE,
                            "layer '%s' (transpose): perm has %d axes, the input sample %s has %d",
                            l->name, (int)t->r, a, (int)l->in.ndim);
    }
    l->out.ndim = t->r;
    for (int32_t k = 0; k < t->r; k++) l->out.d[k] = l->in.d[t->perm[k]];
    return VD_OK;
}

static vd_status transpose_forward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y)
{
    transpose *t = (transpose *)l;
    return vd_op_permute(s->ctx, (size_t)s->n, t->r, l->in.d, t->perm, x.mem, x.off, 0.0f, y.mem,
                         y.off);
}

static vd_status transpose_backward(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy,
                                    vd_buf dx, float beta)
{
    (void)x, (void)y;
    transpose *t = (transpose *)l;
    if (!dx.mem) return VD_OK;
    return vd_op_permute(s->ctx, (size_t)s->n, t->r, l->out.d, t->inv, dy.mem, dy.off, beta, dx.mem,
                         dx.off);
}

const vd_layer_ops vd_layer_transpose = {
    .type = "transpose",
    .size = sizeof(transpose),
    .keys = transpose_keys,
    .init = transpose_init,
    .reshape = transpose_reshape,
    .forward = transpose_forward,
    .backward = transpose_backward,
};

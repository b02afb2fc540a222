/* flatten.c - (C, H, W) -> (C*H*W), and reshape: the same memory seen with another sample
 * shape of 1 to 3 dimensions (d0, d1, d2; 0 leaves a dimension out) with the same number of
 * elements. NCHW memory is already flat, so the output aliases the input and no kernel runs
 * in either direction. reshape is what the ONNX importer maps Reshape onto (docs/ONNX.md). */
#include <stddef.h>
#include <stdio.h>

#include "layer.h"

static vd_status flatten_reshape(vd_layer *l)
{
    l->out.ndim = 1;
    l->out.d[0] = (int64_t)vd_shape_numel(&l->in);
    return VD_OK;
}

const vd_layer_ops vd_layer_flatten = {
    .type = "flatten",
    .size = sizeof(vd_layer),
    .alias = true,
    .reshape = flatten_reshape,
};

typedef struct reshape {
    vd_layer base;
    int32_t d[3];
} reshape;

static const vd_key reshape_keys[] = {
    {"d0", VD_KEY_INT, offsetof(reshape, d[0]), 0, 1, 1 << 24, true, "first dimension"},
    {"d1", VD_KEY_INT, offsetof(reshape, d[1]), 0, 0, 1 << 24, false, "second (0: none)"},
    {"d2", VD_KEY_INT, offsetof(reshape, d[2]), 0, 0, 1 << 24, false, "third (0: none)"},
    {NULL, 0, 0, 0, 0, 0, false, NULL},
};

static vd_status reshape_init(vd_layer *l)
{
    reshape *r = (reshape *)l;
    if (r->d[1] == 0 && r->d[2] != 0)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "layer '%s' (reshape): d2 given without d1",
                            l->name);
    return VD_OK;
}

static vd_status reshape_reshape(vd_layer *l)
{
    reshape *r = (reshape *)l;
    vd_shape s = {0, {0}};
    for (int i = 0; i < 3 && r->d[i] > 0; i++) s.d[s.ndim++] = r->d[i];
    if (vd_shape_numel(&s) != vd_shape_numel(&l->in)) {
        char a[64], b[64];
        vd_shape_format(&l->in, a, sizeof(a));
        vd_shape_format(&s, b, sizeof(b));
        return vd_error_set(NULL, VD_ERR_SHAPE, "cannot reshape %s to %s (element counts differ)",
                            a, b);
    }
    l->out = s;
    return VD_OK;
}

const vd_layer_ops vd_layer_reshape = {
    .type = "reshape",
    .size = sizeof(reshape),
    .keys = reshape_keys,
    .alias = true,
    .init = reshape_init,
    .reshape = reshape_reshape,
};

/* flatten.c - (C, H, W) -> (C*H*W). NCHW memory is already flat, so the output aliases the
 * input and no kernel runs in either direction. */
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

/* layer_rig.h - the layer-test rig that test_conv.c, test_pool.c and test_norm.c share: one
 * single-input layer created from "key=value ..." options, reshaped, and run through its
 * vtable (forward, backward) on guarded device buffers at odd offsets, with a host copy of
 * its parameter arena. Also the checks every layer family gets: guards, bad-shape reshape,
 * two runs bit-identical. Comparisons against the references and their tolerances stay in
 * each test. */
#ifndef VD_TEST_LAYER_RIG_H
#define VD_TEST_LAYER_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "layers/layer.h"

typedef struct rig {
    vd_context *ctx;
    vd_layer *l;
    size_t n, nin, nout, arena; /* batch; elements of x, y; parameter arena */
    float *hp;                  /* host copy of the parameter arena */
    test_buf x, y, dy, dx, p, g;
} rig;

/* Create layer `type` with opts ("key=value ..." or NULL) on sample shape `in`, batch n,
 * reshape it, place its parameters 3 floats apart in an arena and allocate the buffers
 * (parameters and gradients zero). Counts the setup checks; returns false if one failed.
 * Call rig_close either way. */
bool rig_open(rig *r, vd_context *ctx, const char *type, const char *opts, vd_shape in, size_t n);
/* Finish the queue and free everything (r may be partly opened). */
void rig_close(rig *r);

/* Host copy of parameter i (write it before rig_forward, which uploads the arena). */
static inline float *rig_param(rig *r, int i)
{
    return r->hp + r->l->params[i].offset;
}

/* The step the rig's layer runs with: batch n, the rig's parameter and gradient arenas. */
vd_step rig_step(rig *r, bool train);
/* Upload the parameters and x (nin floats), run forward, read y (nout floats) back. */
bool rig_forward(rig *r, bool train, const float *x, float *y);
/* Backward into dx (beta) and the gradient arena (accumulating); reads both back. */
bool rig_backward(rig *r, bool train, const float *dy, float beta, float *dx, float *g);
/* Fill dx (nin floats) with NaN and upload it: a backward with beta = 0 must not read it. */
void rig_nan_dx(rig *r, float *dx);
/* Four checks: the guard zones of y, dx, the gradients and the parameters. */
void rig_guards(rig *r, const char *what);

/* (c, h, w) sample shape. */
vd_shape rig_shape3(int64_t c, int64_t h, int64_t w);
/* n floats uniform in [lo, hi) from *rng (4 spare bytes at the end). */
float *rig_rand_array(uint64_t *rng, size_t n, float lo, float hi);

/* One check: creating `type` with opts succeeds and reshape on `in` gives VD_ERR_SHAPE. */
void expect_reshape_fails(vd_context *ctx, const char *type, const char *opts, vd_shape in,
                          const char *what);
/* One check: the same inputs (drawn from *rng) twice on the same device give bit-identical
 * outputs and gradients (fixed-order reductions, no atomics). */
void check_deterministic(vd_context *ctx, uint64_t *rng, const char *type, const char *opts,
                         vd_shape in, size_t n);

#endif /* VD_TEST_LAYER_RIG_H */

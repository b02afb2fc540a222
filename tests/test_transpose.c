/* test_transpose.c - the transpose layer (src/layers/transpose.c, util.cl's permute3)
 * against tests/ref/transpose_ref.c: every permutation of samples of rank 1 to 3, forward,
 * backward (the inverse permutation) overwriting and accumulating, at odd offsets with
 * guards; the perm option's parsing and the refusals of bad permutations, ranks and
 * launcher arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layer_rig.h"
#include "ref.h"

static uint64_t rng = 11;

/* A copy is exact: no tolerance. */
static void check_perm(vd_context *ctx, vd_shape in, const int32_t *perm, size_t n)
{
    char opts[64] = "perm=", what[160];
    for (int32_t k = 0; k < in.ndim; k++)
        snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s%d", k ? "," : "",
                 (int)perm[k]);
    char sh[64];
    vd_shape_format(&in, sh, sizeof sh);
    snprintf(what, sizeof what, "transpose %s on %s n=%zu", opts, sh, n);
    rig r;
    if (!rig_open(&r, ctx, "transpose", opts, in, n)) {
        printf("FAIL %s: setup\n", what);
        rig_close(&r);
        return;
    }
    bool shape_ok = r.l->out.ndim == in.ndim;
    for (int32_t k = 0; k < in.ndim; k++) shape_ok = shape_ok && r.l->out.d[k] == in.d[perm[k]];
    char w2[240];
    snprintf(w2, sizeof w2, "%s: output shape", what);
    expect_true(w2, shape_ok);
    int32_t inv[3];
    for (int32_t k = 0; k < in.ndim; k++) inv[perm[k]] = k;
    float *x = rig_rand_array(&rng, r.nin, -2, 2), *dy = rig_rand_array(&rng, r.nout, -1, 1);
    float *y = test_malloc(r.nout * 4), *want = test_malloc(r.nout * 4);
    float *dx = test_malloc(r.nin * 4), *wdx = test_malloc(r.nin * 4),
          *gr = test_malloc(r.arena * 4 + 4);
    if (rig_forward(&r, true, x, y)) {
        ref_permute(n, in.ndim, in.d, perm, x, 0.0f, want);
        snprintf(w2, sizeof w2, "%s: forward", what);
        expect_close(w2, y, want, r.nout, 0, 0);
    }
    rig_nan_dx(&r, dx);
    for (int pass = 0; pass < 2; pass++) {
        float beta = pass ? 1.0f : 0.0f;
        if (!rig_backward(&r, true, dy, beta, dx, gr)) break;
        ref_permute(n, in.ndim, r.l->out.d, inv, dy, beta, wdx);
        snprintf(w2, sizeof w2, "%s: dx pass %d", what, pass);
        expect_close(w2, dx, wdx, r.nin, 0, 0);
    }
    rig_guards(&r, what);
    free(x), free(dy), free(y), free(want), free(dx), free(wdx), free(gr);
    rig_close(&r);
}

static void expect_create_fails(vd_context *ctx, const char *value, const char *needle)
{
    vd_kv kv[1] = {{"perm", value, 0}};
    vd_layer *l = NULL;
    char what[160];
    snprintf(what, sizeof what, "transpose perm='%s' refused", value);
    expect_status(what, ctx, vd_layer_create(ctx, "transpose", "t", kv, 1, NULL, 0, &l),
                  VD_ERR_INVALID_ARG);
    snprintf(what, sizeof what, "perm='%s': message has '%s' (got: %s)", value, needle,
             vd_last_error(ctx));
    expect_true(what, strstr(vd_last_error(ctx), needle) != NULL);
    expect_true("failed create returns NULL", l == NULL);
    vd_layer_destroy(l);
}

static void check_options(vd_context *ctx)
{
    expect_create_fails(ctx, "1,1", "not a permutation");
    expect_create_fails(ctx, "0,2", "not a permutation");
    expect_create_fails(ctx, "a", "not a list");
    expect_create_fails(ctx, "1,0,", "not a list");
    expect_create_fails(ctx, ",1", "not a list");
    expect_create_fails(ctx, "-1,0", "not a list");
    expect_create_fails(ctx, "0,1,2,3", "at most 3");
    expect_create_fails(ctx, "", "empty");
    vd_layer *l = NULL;
    expect_status("transpose without perm", ctx,
                  vd_layer_create(ctx, "transpose", "t", NULL, 0, NULL, 0, &l), VD_ERR_INVALID_ARG);
    expect_true("missing perm named", strstr(vd_last_error(ctx), "missing key 'perm'") != NULL);
    /* The options text writes the list back as given. */
    vd_kv kv[1] = {{"perm", "2, 0,1", 0}};
    if (EXPECT_OK(ctx, vd_layer_create(ctx, "transpose", "t", kv, 1, NULL, 0, &l))) {
        char text[64];
        vd_layer_options_text(l, text, sizeof text);
        expect_true("options text 'perm = 2,0,1'", !strcmp(text, "perm = 2,0,1\n"));
    }
    vd_layer_destroy(l);
    expect_reshape_fails(ctx, "transpose", "perm=1,0", rig_shape3(2, 3, 4), "perm of 2 on rank 3");
    expect_reshape_fails(ctx, "transpose", "perm=2,0,1", (vd_shape){2, {3, 4}},
                         "perm of 3 on rank 2");
}

static void check_bad_args(vd_context *ctx)
{
    test_buf t;
    if (!EXPECT_OK(ctx, test_buf_create(ctx, 24, 0, NULL, &t))) return;
    cl_mem m = t.mem;
    const int64_t d[3] = {2, 3, 4};
    const int32_t p[3] = {2, 0, 1}, dup[3] = {0, 0, 1}, big[3] = {0, 1, 3};
    expect_status("permute NULL x", ctx, vd_op_permute(ctx, 1, 3, d, p, NULL, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute NULL y", ctx, vd_op_permute(ctx, 1, 3, d, p, m, 0, 0, NULL, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute NULL ctx", NULL, vd_op_permute(NULL, 1, 3, d, p, m, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute rank 4", ctx, vd_op_permute(ctx, 1, 4, d, p, m, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute rank 0", ctx, vd_op_permute(ctx, 1, 0, d, p, m, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute duplicate axis", ctx, vd_op_permute(ctx, 1, 3, d, dup, m, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute axis out of range", ctx, vd_op_permute(ctx, 1, 3, d, big, m, 0, 0, m, 0),
                  VD_ERR_INVALID_ARG);
    expect_status("permute n=0", ctx, vd_op_permute(ctx, 0, 3, d, p, m, 0, 0, m, 0), VD_OK);
    expect_guards("permute n=0 writes nothing", &t);
    test_buf_destroy(&t);
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    static const int32_t p1[1][1] = {{0}}, p2[2][2] = {{0, 1}, {1, 0}};
    static const int32_t p3[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (size_t n = 1; n <= 3; n += 2) {
        check_perm(ctx, (vd_shape){1, {7}}, p1[0], n);
        for (int k = 0; k < 2; k++) {
            check_perm(ctx, (vd_shape){2, {3, 5}}, p2[k], n);
            check_perm(ctx, (vd_shape){2, {1, 9}}, p2[k], n);
        }
        for (int k = 0; k < 6; k++) check_perm(ctx, rig_shape3(2, 3, 5), p3[k], n);
    }
    check_perm(ctx, rig_shape3(17, 1, 33), p3[4], 2);
    check_deterministic(ctx, &rng, "transpose", "perm=2,0,1", rig_shape3(3, 4, 5), 2);
    check_options(ctx);
    check_bad_args(ctx);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

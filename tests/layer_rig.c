/* layer_rig.c - the layer-test rig (see layer_rig.h). */
#include "layer_rig.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Split "key=value key=value" (copied into buf) into at most max kv pairs. */
static size_t parse_opts(const char *opts, char *buf, size_t size, vd_kv *kv, size_t max)
{
    size_t nkv = 0;
    snprintf(buf, size, "%s", opts ? opts : "");
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && nkv < max;
         t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        *eq = '\0';
        kv[nkv++] = (vd_kv){t, eq + 1, 0};
    }
    return nkv;
}

bool rig_open(rig *r, vd_context *ctx, const char *type, const char *opts, vd_shape in, size_t n)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->n = n;
    char buf[256];
    vd_kv kv[16];
    size_t nkv = parse_opts(opts, buf, sizeof buf, kv, 16);
    if (!EXPECT_OK(ctx, vd_layer_create(ctx, type, "t", kv, nkv, NULL, 0, &r->l))) return false;
    r->l->in = in;
    r->l->ins[0] = in;
    r->l->n_inputs = 1;
    vd_status st = r->l->ops->reshape(r->l);
    if (!expect_status("reshape", NULL, st, VD_OK)) return false;
    /* Parameters 3 floats apart, so none is aligned by accident. */
    size_t off = 1;
    for (int32_t i = 0; i < r->l->n_params; i++) {
        r->l->params[i].offset = off;
        off += r->l->params[i].numel + 3;
    }
    r->arena = off;
    r->hp = test_malloc(off * sizeof(float));
    r->nin = n * vd_shape_numel(&r->l->in);
    r->nout = n * vd_shape_numel(&r->l->out);
    float *zero = test_malloc((off > r->nin ? off : r->nin) * sizeof(float));
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, r->nin, 7, NULL, &r->x)) &
              EXPECT_OK(ctx, test_buf_create(ctx, r->nout, 11, NULL, &r->y)) &
              EXPECT_OK(ctx, test_buf_create(ctx, r->nout, 3, NULL, &r->dy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, r->nin, 13, NULL, &r->dx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, off, 5, zero, &r->p)) &
              EXPECT_OK(ctx, test_buf_create(ctx, off, 9, zero, &r->g));
    free(zero);
    return ok;
}

void rig_close(rig *r)
{
    EXPECT_OK(r->ctx, vd_context_finish(r->ctx));
    vd_layer_destroy(r->l);
    test_buf_destroy(&r->x), test_buf_destroy(&r->y), test_buf_destroy(&r->dy);
    test_buf_destroy(&r->dx), test_buf_destroy(&r->p), test_buf_destroy(&r->g);
    free(r->hp);
}

vd_step rig_step(rig *r, bool train)
{
    vd_step s = {r->ctx, (int32_t)r->n, train, 1, 0, {r->p.mem, r->p.off}, {r->g.mem, r->g.off},
                 0 /* weights version unknown: layers keep nothing */};
    return s;
}

bool rig_forward(rig *r, bool train, const float *x, float *y)
{
    vd_step s = rig_step(r, train);
    return EXPECT_OK(r->ctx, test_buf_write(&r->p, r->hp)) &&
           EXPECT_OK(r->ctx, test_buf_write(&r->x, x)) &&
           EXPECT_OK(r->ctx, r->l->ops->forward(r->l, &s, (vd_buf){r->x.mem, r->x.off},
                                                (vd_buf){r->y.mem, r->y.off})) &&
           EXPECT_OK(r->ctx, test_buf_read(&r->y, y));
}

bool rig_backward(rig *r, bool train, const float *dy, float beta, float *dx, float *g)
{
    vd_step s = rig_step(r, train);
    return EXPECT_OK(r->ctx, test_buf_write(&r->dy, dy)) &&
           EXPECT_OK(r->ctx, r->l->ops->backward(r->l, &s, (vd_buf){r->x.mem, r->x.off},
                                                 (vd_buf){r->y.mem, r->y.off},
                                                 (vd_buf){r->dy.mem, r->dy.off},
                                                 (vd_buf){r->dx.mem, r->dx.off}, beta)) &&
           EXPECT_OK(r->ctx, test_buf_read(&r->dx, dx)) &&
           EXPECT_OK(r->ctx, test_buf_read(&r->g, g));
}

void rig_nan_dx(rig *r, float *dx)
{
    for (size_t i = 0; i < r->nin; i++) dx[i] = NAN;
    EXPECT_OK(r->ctx, test_buf_write(&r->dx, dx));
}

void rig_guards(rig *r, const char *what)
{
    char w[400];
    snprintf(w, sizeof w, "%s: guards y", what), expect_guards(w, &r->y);
    snprintf(w, sizeof w, "%s: guards dx", what), expect_guards(w, &r->dx);
    snprintf(w, sizeof w, "%s: guards grads", what), expect_guards(w, &r->g);
    snprintf(w, sizeof w, "%s: guards params", what), expect_guards(w, &r->p);
}

vd_shape rig_shape3(int64_t c, int64_t h, int64_t w)
{
    vd_shape s = {3, {c, h, w}};
    return s;
}

float *rig_rand_array(uint64_t *rng, size_t n, float lo, float hi)
{
    float *a = test_malloc(n * sizeof(float) + 4);
    test_fill_uniform(rng, a, n, lo, hi);
    return a;
}

void expect_reshape_fails(vd_context *ctx, const char *type, const char *opts, vd_shape in,
                          const char *what)
{
    char buf[256];
    vd_kv kv[16];
    size_t nkv = parse_opts(opts, buf, sizeof buf, kv, 16);
    vd_layer *l = NULL;
    if (!EXPECT_OK(ctx, vd_layer_create(ctx, type, "bad", kv, nkv, NULL, 0, &l))) return;
    l->in = l->ins[0] = in;
    l->n_inputs = 1;
    expect_status(what, NULL, l->ops->reshape(l), VD_ERR_SHAPE);
    vd_layer_destroy(l);
}

void check_deterministic(vd_context *ctx, uint64_t *rng, const char *type, const char *opts,
                         vd_shape in, size_t n)
{
    rig r;
    char what[200];
    snprintf(what, sizeof what, "%s %s: two runs bit-identical", type, opts ? opts : "");
    if (!rig_open(&r, ctx, type, opts, in, n)) {
        rig_close(&r);
        return;
    }
    test_fill_uniform(rng, r.hp, r.arena, 0.5f, 1.5f);
    float *x = rig_rand_array(rng, r.nin, -1, 1), *dy = rig_rand_array(rng, r.nout, -1, 1);
    float *out[2][3];
    float *zero = test_malloc(r.arena * 4);
    for (int k = 0; k < 2; k++) {
        out[k][0] = test_malloc(r.nout * 4), out[k][1] = test_malloc(r.nin * 4);
        out[k][2] = test_malloc(r.arena * 4);
        EXPECT_OK(ctx, test_buf_write(&r.g, zero));
        rig_forward(&r, true, x, out[k][0]);
        rig_backward(&r, true, dy, 0.0f, out[k][1], out[k][2]);
    }
    expect_true(what, !memcmp(out[0][0], out[1][0], r.nout * 4) &&
                          !memcmp(out[0][1], out[1][1], r.nin * 4) &&
                          !memcmp(out[0][2], out[1][2], r.arena * 4));
    for (int k = 0; k < 2; k++) free(out[k][0]), free(out[k][1]), free(out[k][2]);
    free(zero), free(x), free(dy);
    rig_close(&r);
}

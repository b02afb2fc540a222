/* conv_check.c - see conv_check.h. */
#include "conv_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_cnn.h"

static float *rand_array(uint64_t *rng, size_t n)
{
    float *a = test_malloc(n * sizeof(float) + 4);
    test_fill_uniform(rng, a, n, -1, 1);
    return a;
}

static float *nan_array(size_t n)
{
    float *a = test_malloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) a[i] = NAN;
    return a;
}

/* Run pass p into out (reading it back into got, n floats) with beta. */
static void run_read(vd_context *ctx, const vd_conv_algo *a, const vd_conv_geom *g, size_t n,
                     vd_conv_io *io, vd_conv_pass p, float beta, const test_buf *out, float *got)
{
    io->beta = beta;
    EXPECT_OK(ctx, a->run(ctx, g, p, n, io));
    EXPECT_OK(ctx, test_buf_read(out, got));
}

void conv_check_passes(vd_context *ctx, const vd_conv_algo *a, const vd_conv_geom *g, size_t n,
                       const char *what, uint64_t *rng, conv_close_fn close)
{
    conv_check_some_passes(ctx, a, g, n, what, rng, close, (1u << VD_CONV_N_PASSES) - 1);
}

void conv_check_some_passes(vd_context *ctx, const vd_conv_algo *a, const vd_conv_geom *g, size_t n,
                            const char *what, uint64_t *rng, conv_close_fn close, unsigned passes)
{
    size_t nx = n * (size_t)g->C * (size_t)g->H * (size_t)g->W;
    size_t ny = n * (size_t)g->K * (size_t)g->P * (size_t)g->Q;
    size_t nw = (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S;
    size_t nws = 1;
    for (int p = 0; p < VD_CONV_N_PASSES; p++) {
        size_t s = a->workspace(ctx, g, (vd_conv_pass)p, n);
        if (s > nws) nws = s;
    }
    float *x = rand_array(rng, nx), *w = rand_array(rng, nw), *dy = rand_array(rng, ny);
    float *y0 = rand_array(rng, ny), *dx0 = rand_array(rng, nx), *dw0 = rand_array(rng, nw);
    float *nan_y = nan_array(ny), *nan_x = nan_array(nx);
    float *y = test_malloc(ny * 4), *want = test_malloc(ny * 4);
    float *dx = test_malloc(nx * 4), *wdx = test_malloc(nx * 4);
    float *dw = test_malloc(nw * 4), *wdw = test_malloc(nw * 4), *inc = test_malloc(nw * 4);
    float *winc = test_malloc(nw * 4), *first = test_malloc(nw * 4);
    char w2[400];
    test_buf bx, bw, by, bdy, bdx, bdw, bws;
    memset(&bx, 0, sizeof bx), bw = by = bdy = bdx = bdw = bws = bx;
    bool ok = EXPECT_OK(ctx, test_buf_create(ctx, nx, 3, x, &bx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nw, 5, w, &bw)) &
              EXPECT_OK(ctx, test_buf_create(ctx, ny, 7, nan_y, &by)) &
              EXPECT_OK(ctx, test_buf_create(ctx, ny, 1, dy, &bdy)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nx, 9, nan_x, &bdx)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nw, 2, dw0, &bdw)) &
              EXPECT_OK(ctx, test_buf_create(ctx, nws, 7, NULL, &bws));
    if (!ok) goto done;
    vd_conv_io io = {0};
    io.x = bx.mem, io.x_off = bx.off, io.w = bw.mem, io.w_off = bw.off;
    io.y = by.mem, io.y_off = by.off, io.dy = bdy.mem, io.dy_off = bdy.off;
    io.dx = bdx.mem, io.dx_off = bdx.off, io.dw = bdw.mem, io.dw_off = bdw.off;
    io.ws = bws.mem, io.ws_off = bws.off;

    /* FWD: beta = 0 over NaN, then beta = 1 over random y0. */
    if (passes & (1u << VD_CONV_FWD)) {
        ref_conv2d_fwd(g, n, x, w, NULL, want);
        run_read(ctx, a, g, n, &io, VD_CONV_FWD, 0.0f, &by, y);
        snprintf(w2, sizeof w2, "%s: forward beta=0 over NaN", what);
        close(w2, y, want, ny);
        EXPECT_OK(ctx, test_buf_write(&by, y0));
        run_read(ctx, a, g, n, &io, VD_CONV_FWD, 1.0f, &by, y);
        for (size_t i = 0; i < ny; i++) want[i] += y0[i];
        snprintf(w2, sizeof w2, "%s: forward beta=1", what);
        close(w2, y, want, ny);
    }

    /* BWD_DATA: beta = 0 over NaN, then beta = 1 over random dx0. */
    if (passes & (1u << VD_CONV_BWD_DATA)) {
        run_read(ctx, a, g, n, &io, VD_CONV_BWD_DATA, 0.0f, &bdx, dx);
        ref_conv2d_bwd(g, n, x, w, dy, 0.0f, wdx, NULL, NULL);
        snprintf(w2, sizeof w2, "%s: dx beta=0 over NaN", what);
        close(w2, dx, wdx, nx);
        EXPECT_OK(ctx, test_buf_write(&bdx, dx0));
        run_read(ctx, a, g, n, &io, VD_CONV_BWD_DATA, 1.0f, &bdx, dx);
        memcpy(wdx, dx0, nx * 4);
        ref_conv2d_bwd(g, n, x, w, dy, 1.0f, wdx, NULL, NULL);
        snprintf(w2, sizeof w2, "%s: dx beta=1", what);
        close(w2, dx, wdx, nx);
    }

    /* BWD_FILTER accumulates, twice into dw0. The error is judged on the accumulated
     * gradient (dw - dw0), not on the sum it is hidden in. */
    if (passes & (1u << VD_CONV_BWD_FILTER)) {
        memcpy(wdw, dw0, nw * 4);
        for (int pass = 0; pass < 2; pass++) {
            run_read(ctx, a, g, n, &io, VD_CONV_BWD_FILTER, 0.0f, &bdw, dw);
            if (pass == 0) memcpy(first, dw, nw * 4);
            ref_conv2d_bwd(g, n, x, w, dy, 0.0f, NULL, wdw, NULL);
            for (size_t i = 0; i < nw; i++) winc[i] = wdw[i] - dw0[i], inc[i] = dw[i] - dw0[i];
            snprintf(w2, sizeof w2, "%s: dw accumulated, pass %d", what, pass);
            close(w2, inc, winc, nw);
        }
        /* Bit-reproducible: the same accumulation from the same start gives the same bits. */
        EXPECT_OK(ctx, test_buf_write(&bdw, dw0));
        run_read(ctx, a, g, n, &io, VD_CONV_BWD_FILTER, 0.0f, &bdw, dw);
        snprintf(w2, sizeof w2, "%s: dw bit-identical when repeated", what);
        expect_equal_bytes(w2, dw, first, nw * 4);
    }
    expect_guards(what, &bx), expect_guards(what, &bw), expect_guards(what, &by);
    expect_guards(what, &bdy), expect_guards(what, &bdx), expect_guards(what, &bdw);
    expect_guards(what, &bws);
done:
    test_buf_destroy(&bx), test_buf_destroy(&bw), test_buf_destroy(&by);
    test_buf_destroy(&bdy), test_buf_destroy(&bdx), test_buf_destroy(&bdw);
    test_buf_destroy(&bws);
    free(x), free(w), free(dy), free(y0), free(dx0), free(dw0), free(nan_y), free(nan_x);
    free(y), free(want), free(dx), free(wdx), free(dw), free(wdw), free(inc), free(winc);
    free(first);
}

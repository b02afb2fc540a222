/* conv_ref.c - reference 2-D convolution and transposed convolution, forward and
 * backward, as direct loops over (image, output channel, output pixel, input channel of
 * the group, tap). Backward scatters into double accumulators (the kernels gather). */
#include <stdlib.h>
#include <string.h>

#include "ref_cnn.h"

/* Input row of output row p at tap r, or -1 when it falls in the padding. */
static long in_at(long p, long r, long stride, long pad, long dil, long size)
{
    long h = p * stride - pad + r * dil;
    return h >= 0 && h < size ? h : -1;
}

static double *dzeros(size_t n)
{
    double *d = calloc(n ? n : 1, sizeof(double));
    if (!d) abort();
    return d;
}

/* Visit every (image, k, p, q, c, r, s) with a valid input tap and call
 * f(ctx, x index, w index, y index). */
typedef void (*visit_fn)(void *u, size_t xi, size_t wi, size_t yi);

static void visit(const vd_conv_geom *g, size_t n, visit_fn f, void *u)
{
    long Kg = g->K / g->groups, Cg = g->C / g->groups;
    for (size_t i = 0; i < n; i++)
        for (long k = 0; k < g->K; k++) {
            long grp = k / Kg;
            for (long p = 0; p < g->P; p++)
                for (long q = 0; q < g->Q; q++) {
                    size_t yi = (((i * g->K) + k) * g->P + p) * g->Q + q;
                    for (long cl = 0; cl < Cg; cl++) {
                        long c = grp * Cg + cl;
                        for (long r = 0; r < g->R; r++) {
                            long h = in_at(p, r, g->stride_h, g->pad_h, g->dil_h, g->H);
                            if (h < 0) continue;
                            for (long s = 0; s < g->S; s++) {
                                long w = in_at(q, s, g->stride_w, g->pad_w, g->dil_w, g->W);
                                if (w < 0) continue;
                                size_t xi = (((i * g->C) + c) * g->H + h) * g->W + w;
                                size_t wi = ((k * Cg + cl) * g->R + r) * g->S + s;
                                f(u, xi, wi, yi);
                            }
                        }
                    }
                }
        }
}

/* "out[a] += in1[b] * in2[c]" in the three roles of the convolution. */
typedef struct acc {
    const float *x, *w, *y; /* y: the output (or its gradient) */
    double *dst;
    int role;               /* 0: y += x w, 1: dx += dy w, 2: dw += dy x */
} acc;

static void accumulate(void *u, size_t xi, size_t wi, size_t yi)
{
    acc *a = u;
    if (a->role == 0)
        a->dst[yi] += (double)a->x[xi] * a->w[wi];
    else if (a->role == 1)
        a->dst[xi] += (double)a->y[yi] * a->w[wi];
    else
        a->dst[wi] += (double)a->y[yi] * a->x[xi];
}

static size_t x_elems(const vd_conv_geom *g, size_t n)
{
    return n * (size_t)g->C * (size_t)g->H * (size_t)g->W;
}

static size_t y_elems(const vd_conv_geom *g, size_t n)
{
    return n * (size_t)g->K * (size_t)g->P * (size_t)g->Q;
}

static size_t w_elems(const vd_conv_geom *g)
{
    return (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S;
}

/* dst[i] = beta * dst[i] + d[i], not reading dst when beta == 0. */
static void store_beta(float *dst, const double *d, size_t count, float beta)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)(beta == 0.0f ? d[i] : (double)beta * dst[i] + d[i]);
}

static void add_into(float *dst, const double *d, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)((double)dst[i] + d[i]);
}

/* Per-channel sum of t: (n, ch, hw) added into db. */
static void channel_sums(size_t n, size_t ch, size_t hw, const float *t, float *db)
{
    for (size_t c = 0; c < ch; c++) {
        double s = db[c];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++)
                s += t[(i * ch + c) * hw + j];
        db[c] = (float)s;
    }
}

void ref_conv2d_fwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                    const float *b, float *y)
{
    size_t ny = y_elems(g, n), pq = (size_t)g->P * (size_t)g->Q;
    double *d = dzeros(ny);
    acc a = {x, w, NULL, d, 0};
    visit(g, n, accumulate, &a);
    for (size_t i = 0; i < ny; i++)
        y[i] = (float)(d[i] + (b ? b[(i / pq) % (size_t)g->K] : 0.0));
    free(d);
}

void ref_conv2d_bwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                    const float *dy, float beta, float *dx, float *dw, float *db)
{
    if (dx) {
        double *d = dzeros(x_elems(g, n));
        acc a = {x, w, dy, d, 1};
        visit(g, n, accumulate, &a);
        store_beta(dx, d, x_elems(g, n), beta);
        free(d);
    }
    if (dw) {
        double *d = dzeros(w_elems(g));
        acc a = {x, w, dy, d, 2};
        visit(g, n, accumulate, &a);
        add_into(dw, d, w_elems(g));
        free(d);
    }
    if (db)
        channel_sums(n, (size_t)g->K, (size_t)g->P * (size_t)g->Q, dy, db);
}

/* The transposed convolution is the same sum with input and output exchanged: its input
 * is the convolution's output side (K, P, Q), its output the input side (C, H, W). */
void ref_deconv2d_fwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                      const float *b, float *y)
{
    size_t ny = x_elems(g, n), hw = (size_t)g->H * (size_t)g->W;
    double *d = dzeros(ny);
    acc a = {NULL, w, x, d, 1};
    visit(g, n, accumulate, &a);
    for (size_t i = 0; i < ny; i++)
        y[i] = (float)(d[i] + (b ? b[(i / hw) % (size_t)g->C] : 0.0));
    free(d);
}

void ref_deconv2d_bwd(const vd_conv_geom *g, size_t n, const float *x, const float *w,
                      const float *dy, float beta, float *dx, float *dw, float *db)
{
    if (dx) { /* dL/dx[k][p][q] = sum over taps of dy[c][h][w] * w */
        double *d = dzeros(y_elems(g, n));
        acc a = {dy, w, NULL, d, 0};
        visit(g, n, accumulate, &a);
        store_beta(dx, d, y_elems(g, n), beta);
        free(d);
    }
    if (dw) {
        double *d = dzeros(w_elems(g));
        acc a = {dy, w, x, d, 2};
        visit(g, n, accumulate, &a);
        add_into(dw, d, w_elems(g));
        free(d);
    }
    if (db)
        channel_sums(n, (size_t)g->C, (size_t)g->H * (size_t)g->W, dy, db);
}

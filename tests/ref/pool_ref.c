/* pool_ref.c - reference max, average and global average pooling, forward and backward,
 * as direct loops over windows; backward scatters from each window into its input taps. */
#include <math.h>
#include <stdlib.h>

#include "ref_cnn.h"

static size_t planes(const vd_pool_geom *g, size_t n)
{
    return n * (size_t)g->C;
}

/* Input row of tap r of window p (and column of tap s of window q); dilation 0 is 1. */
static long tap_h(const vd_pool_geom *g, long p, long r)
{
    return p * g->sh - g->ph + r * (g->dh ? g->dh : 1);
}

static long tap_w(const vd_pool_geom *g, long q, long s)
{
    return q * g->sw - g->pw + s * (g->dw ? g->dw : 1);
}

/* Position (h*W + w) of the first maximum of window (p, q) of plane xp; -1 if empty. */
static long window_argmax(const vd_pool_geom *g, const float *xp, long p, long q)
{
    long best = -1;
    for (long r = 0; r < g->kh; r++) {
        long h = tap_h(g, p, r);
        if (h < 0 || h >= g->H) continue;
        for (long s = 0; s < g->kw; s++) {
            long w = tap_w(g, q, s);
            if (w < 0 || w >= g->W) continue;
            long at = h * g->W + w;
            if (best < 0 || (!isnan(xp[best]) && (xp[at] > xp[best] || isnan(xp[at]))))
                best = at;
        }
    }
    return best;
}

void ref_maxpool_fwd(const vd_pool_geom *g, size_t n, const float *x, float *y, int32_t *idx)
{
    size_t hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q;
    for (size_t pl = 0; pl < planes(g, n); pl++)
        for (long p = 0; p < g->P; p++)
            for (long q = 0; q < g->Q; q++) {
                long a = window_argmax(g, x + pl * hw, p, q);
                size_t o = pl * pq + (size_t)(p * g->Q + q);
                y[o] = a < 0 ? 0.0f : x[pl * hw + (size_t)a];
                if (idx) idx[o] = (int32_t)a;
            }
}

void ref_maxpool_bwd(const vd_pool_geom *g, size_t n, const float *x, const float *dy,
                     float beta, float *dx)
{
    size_t hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q, nx = planes(g, n) * hw;
    double *d = calloc(nx ? nx : 1, sizeof(double));
    if (!d) abort();
    for (size_t pl = 0; pl < planes(g, n); pl++)
        for (long p = 0; p < g->P; p++)
            for (long q = 0; q < g->Q; q++) {
                long a = window_argmax(g, x + pl * hw, p, q);
                if (a >= 0) d[pl * hw + (size_t)a] += dy[pl * pq + (size_t)(p * g->Q + q)];
            }
    for (size_t i = 0; i < nx; i++)
        dx[i] = (float)(beta == 0.0f ? d[i] : (double)beta * dx[i] + d[i]);
    free(d);
}

/* The window's taps inside the padded input [-ph, H + pb) x [-pw, W + pr) (excl 0,
 * count_include_pad) or inside the input (excl 1), counted one by one. */
static double divisor(const vd_pool_geom *g, long p, long q)
{
    long lo_h = g->excl ? 0 : -g->ph, hi_h = g->excl ? g->H : g->H + g->pb;
    long lo_w = g->excl ? 0 : -g->pw, hi_w = g->excl ? g->W : g->W + g->pr;
    long n = 0;
    for (long r = 0; r < g->kh; r++)
        for (long c = 0; c < g->kw; c++) {
            long h = tap_h(g, p, r), w = tap_w(g, q, c);
            n += h >= lo_h && h < hi_h && w >= lo_w && w < hi_w;
        }
    return (double)n;
}

void ref_avgpool_fwd(const vd_pool_geom *g, size_t n, const float *x, float *y)
{
    size_t hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q;
    for (size_t pl = 0; pl < planes(g, n); pl++)
        for (long p = 0; p < g->P; p++)
            for (long q = 0; q < g->Q; q++) {
                double s = 0.0;
                for (long r = 0; r < g->kh; r++)
                    for (long c = 0; c < g->kw; c++) {
                        long h = tap_h(g, p, r), w = tap_w(g, q, c);
                        if (h >= 0 && h < g->H && w >= 0 && w < g->W)
                            s += x[pl * hw + (size_t)(h * g->W + w)];
                    }
                y[pl * pq + (size_t)(p * g->Q + q)] = (float)(s / divisor(g, p, q));
            }
}

void ref_avgpool_bwd(const vd_pool_geom *g, size_t n, const float *dy, float beta, float *dx)
{
    size_t hw = (size_t)g->H * g->W, pq = (size_t)g->P * g->Q, nx = planes(g, n) * hw;
    double *d = calloc(nx ? nx : 1, sizeof(double));
    if (!d) abort();
    for (size_t pl = 0; pl < planes(g, n); pl++)
        for (long p = 0; p < g->P; p++)
            for (long q = 0; q < g->Q; q++) {
                double v = dy[pl * pq + (size_t)(p * g->Q + q)] / divisor(g, p, q);
                for (long r = 0; r < g->kh; r++)
                    for (long c = 0; c < g->kw; c++) {
                        long h = tap_h(g, p, r), w = tap_w(g, q, c);
                        if (h >= 0 && h < g->H && w >= 0 && w < g->W)
                            d[pl * hw + (size_t)(h * g->W + w)] += v;
                    }
            }
    for (size_t i = 0; i < nx; i++)
        dx[i] = (float)(beta == 0.0f ? d[i] : (double)beta * dx[i] + d[i]);
    free(d);
}

void ref_gavg_fwd(size_t n, size_t C, size_t HW, const float *x, float *y)
{
    for (size_t pl = 0; pl < n * C; pl++) {
        double s = 0.0;
        for (size_t j = 0; j < HW; j++)
            s += x[pl * HW + j];
        y[pl] = (float)(s / (double)HW);
    }
}

void ref_gavg_bwd(size_t n, size_t C, size_t HW, const float *dy, float beta, float *dx)
{
    for (size_t pl = 0; pl < n * C; pl++)
        for (size_t j = 0; j < HW; j++) {
            double v = (double)dy[pl] / (double)HW;
            size_t i = pl * HW + j;
            dx[i] = (float)(beta == 0.0f ? v : (double)beta * dx[i] + v);
        }
}

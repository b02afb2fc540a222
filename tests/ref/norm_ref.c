/* norm_ref.c - reference batch normalisation, layer normalisation and softmax over
 * channels, forward and backward, in double. The backward formulas are the textbook
 * ones (Ioffe & Szegedy 2015 for batch norm; Ba et al. 2016 for layer norm) and are
 * checked against finite differences in test_gradcheck_cnn.c. */
#include <math.h>

#include "ref_cnn.h"

/* Element j (0 <= j < n*HW) of channel c. */
static size_t bn_at(size_t C, size_t HW, size_t c, size_t j)
{
    return ((j / HW) * C + c) * HW + j % HW;
}

/* Batch mean and biased variance of channel c. */
static void bn_stats(size_t n, size_t C, size_t HW, size_t c, const float *x, double *mean,
                     double *var)
{
    size_t M = n * HW;
    double s = 0.0, q = 0.0;
    for (size_t j = 0; j < M; j++)
        s += x[bn_at(C, HW, c, j)];
    *mean = s / (double)M;
    for (size_t j = 0; j < M; j++) {
        double d = x[bn_at(C, HW, c, j)] - *mean;
        q += d * d;
    }
    *var = q / (double)M;
}

void ref_batchnorm_fwd(size_t n, size_t C, size_t HW, bool train, float momentum, float eps,
                       const float *x, const float *gamma, const float *beta_p, float *run_mean,
                       float *run_var, float *y)
{
    size_t M = n * HW;
    for (size_t c = 0; c < C; c++) {
        double mean, var;
        if (train) {
            bn_stats(n, C, HW, c, x, &mean, &var);
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mean);
            run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * unbiased);
        } else {
            mean = run_mean[c];
            var = run_var[c];
        }
        double inv = 1.0 / sqrt(var + (double)eps);
        for (size_t j = 0; j < M; j++) {
            size_t e = bn_at(C, HW, c, j);
            y[e] = (float)(gamma[c] * ((x[e] - mean) * inv) + beta_p[c]);
        }
    }
}

void ref_batchnorm_bwd(size_t n, size_t C, size_t HW, bool train, float eps, const float *x,
                       const float *gamma, const float *run_mean, const float *run_var,
                       const float *dy, float beta, float *dx, float *dgamma, float *dbeta)
{
    size_t M = n * HW;
    for (size_t c = 0; c < C; c++) {
        double mean, var;
        if (train)
            bn_stats(n, C, HW, c, x, &mean, &var);
        else
            mean = run_mean[c], var = run_var[c];
        double inv = 1.0 / sqrt(var + (double)eps);
        double s1 = 0.0, s2 = 0.0;
        for (size_t j = 0; j < M; j++) {
            size_t e = bn_at(C, HW, c, j);
            s1 += dy[e];
            s2 += dy[e] * (x[e] - mean) * inv;
        }
        if (dgamma) dgamma[c] = (float)(dgamma[c] + s2);
        if (dbeta) dbeta[c] = (float)(dbeta[c] + s1);
        if (!dx) continue;
        for (size_t j = 0; j < M; j++) {
            size_t e = bn_at(C, HW, c, j);
            double xhat = (x[e] - mean) * inv, g = dy[e];
            if (train) g = g - s1 / (double)M - xhat * s2 / (double)M;
            g *= gamma[c] * inv;
            dx[e] = (float)(beta == 0.0f ? g : (double)beta * dx[e] + g);
        }
    }
}

static void ln_stats(size_t D, const float *xi, float eps, double *mean, double *inv)
{
    double s = 0.0, q = 0.0;
    for (size_t j = 0; j < D; j++)
        s += xi[j];
    *mean = s / (double)D;
    for (size_t j = 0; j < D; j++)
        q += (xi[j] - *mean) * (xi[j] - *mean);
    *inv = 1.0 / sqrt(q / (double)D + (double)eps);
}

void ref_layernorm_fwd(size_t n, size_t D, float eps, const float *x, const float *gamma,
                       const float *beta_p, float *y)
{
    for (size_t i = 0; i < n; i++) {
        double mean, inv;
        ln_stats(D, x + i * D, eps, &mean, &inv);
        for (size_t j = 0; j < D; j++)
            y[i * D + j] = (float)(gamma[j] * ((x[i * D + j] - mean) * inv) + beta_p[j]);
    }
}

void ref_layernorm_bwd(size_t n, size_t D, float eps, const float *x, const float *gamma,
                       const float *dy, float beta, float *dx, float *dgamma, float *dbeta)
{
    for (size_t i = 0; i < n; i++) {
        double mean, inv, a = 0.0, b = 0.0;
        const float *xi = x + i * D, *dyi = dy + i * D;
        ln_stats(D, xi, eps, &mean, &inv);
        for (size_t j = 0; j < D; j++) {
            double xhat = (xi[j] - mean) * inv, g = (double)gamma[j] * dyi[j];
            a += g;
            b += g * xhat;
            if (dgamma) dgamma[j] = (float)(dgamma[j] + dyi[j] * xhat);
            if (dbeta) dbeta[j] = (float)(dbeta[j] + dyi[j]);
        }
        if (!dx) continue;
        for (size_t j = 0; j < D; j++) {
            double xhat = (xi[j] - mean) * inv, g = (double)gamma[j] * dyi[j];
            double v = inv * (g - a / (double)D - xhat * b / (double)D);
            dx[i * D + j] = (float)(beta == 0.0f ? v : (double)beta * dx[i * D + j] + v);
        }
    }
}

void ref_layernorm_stats(size_t n, size_t D, float eps, bool invstd, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) {
        double mean, inv;
        ln_stats(D, x + i * D, eps, &mean, &inv);
        y[i] = (float)(invstd ? inv : mean);
    }
}

/* d mean / dx_j = 1/D; d inv / dx_j = -inv^3 (x_j - mean) / D (d var / dx_j = 2 (x_j - mean)
 * / D, and the mean's own change sums to zero against the deviations). */
void ref_layernorm_stats_bwd(size_t n, size_t D, float eps, bool invstd, const float *x,
                             const float *dy, float beta, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        double mean, inv;
        ln_stats(D, x + i * D, eps, &mean, &inv);
        for (size_t j = 0; j < D; j++) {
            double v = invstd ? -(double)dy[i] * inv * inv * inv * (x[i * D + j] - mean) / (double)D
                              : (double)dy[i] / (double)D;
            dx[i * D + j] = (float)(beta == 0.0f ? v : (double)beta * dx[i * D + j] + v);
        }
    }
}

void ref_softmax_fwd(size_t n, size_t C, size_t inner, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < inner; k++) {
            const float *xi = x + i * C * inner + k;
            double m = -INFINITY, s = 0.0;
            for (size_t c = 0; c < C; c++)
                m = fmax(m, xi[c * inner]);
            for (size_t c = 0; c < C; c++)
                s += exp(xi[c * inner] - m);
            for (size_t c = 0; c < C; c++)
                y[i * C * inner + k + c * inner] = (float)(exp(xi[c * inner] - m) / s);
        }
}

void ref_softmax_bwd(size_t n, size_t C, size_t inner, const float *y, const float *dy,
                     float beta, float *dx)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < inner; k++) {
            size_t base = i * C * inner + k;
            double dot = 0.0;
            for (size_t c = 0; c < C; c++)
                dot += (double)y[base + c * inner] * dy[base + c * inner];
            for (size_t c = 0; c < C; c++) {
                size_t e = base + c * inner;
                double v = y[e] * (dy[e] - dot);
                dx[e] = (float)(beta == 0.0f ? v : (double)beta * dx[e] + v);
            }
        }
}

void ref_logsoftmax_fwd(size_t n, size_t C, size_t inner, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < inner; k++) {
            const float *xi = x + i * C * inner + k;
            double m = -INFINITY, s = 0.0;
            for (size_t c = 0; c < C; c++)
                m = fmax(m, xi[c * inner]);
            for (size_t c = 0; c < C; c++)
                s += exp(xi[c * inner] - m);
            for (size_t c = 0; c < C; c++)
                y[i * C * inner + k + c * inner] = (float)(xi[c * inner] - m - log(s));
        }
}

void ref_logsoftmax_bwd(size_t n, size_t C, size_t inner, const float *y, const float *dy,
                        float beta, float *dx)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < inner; k++) {
            size_t base = i * C * inner + k;
            double sum = 0.0;
            for (size_t c = 0; c < C; c++)
                sum += dy[base + c * inner];
            for (size_t c = 0; c < C; c++) {
                size_t e = base + c * inner;
                double v = dy[e] - exp((double)y[e]) * sum;
                dx[e] = (float)(beta == 0.0f ? v : (double)beta * dx[e] + v);
            }
        }
}

/* act_ref.c - reference activations and their derivatives, in double. */
#include <math.h>

#include "ref.h"

#define GELU_C 0.79788456080286535588 /* sqrt(2 / pi) */
#define GELU_A 0.044715

static double act_fwd1(vd_act act, double x)
{
    switch (act) {
    case VD_ACT_RELU:
        return x > 0.0 ? x : 0.0;
    case VD_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case VD_ACT_TANH:
        return tanh(x);
    case VD_ACT_GELU:
        return 0.5 * x * (1.0 + tanh(GELU_C * (x + GELU_A * x * x * x)));
    default:
        return x;
    }
}

static double act_grad1(vd_act act, double x)
{
    switch (act) {
    case VD_ACT_RELU:
        return x > 0.0 ? 1.0 : 0.0;
    case VD_ACT_SIGMOID: {
        double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s);
    }
    case VD_ACT_TANH: {
        double t = tanh(x);
        return 1.0 - t * t;
    }
    case VD_ACT_GELU: {
        /* d/dx 0.5 x (1 + tanh(u)), u = c (x + a x^3), du/dx = c (1 + 3 a x^2) */
        double t = tanh(GELU_C * (x + GELU_A * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x);
    }
    default:
        return 1.0;
    }
}

void ref_act_fwd(vd_act act, size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)act_fwd1(act, x[i]);
}

void ref_act_bwd(vd_act act, size_t n, const float *x, const float *y, const float *dy,
                 float beta, float *dx)
{
    (void)y;
    for (size_t i = 0; i < n; i++) {
        double g = (double)dy[i] * act_grad1(act, x[i]);
        dx[i] = (float)(beta == 0.0f ? g : (double)beta * dx[i] + g);
    }
}

void ref_leaky_fwd(float alpha, size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (float)((double)alpha * x[i]);
}

void ref_leaky_bwd(float alpha, size_t n, const float *x, const float *dy, float beta, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        double g = (double)dy[i] * (x[i] > 0.0f ? 1.0 : (double)alpha);
        dx[i] = (float)(beta == 0.0f ? g : (double)beta * dx[i] + g);
    }
}

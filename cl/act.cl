/* act.cl - elementwise activations, forward and backward.
 *
 * -D switches: none. The activation is an int argument holding a vd_act value
 * (src/ops/ops.h): 0 identity, 1 relu, 2 sigmoid, 3 tanh, 4 gelu (tanh approximation),
 * 5 leaky relu with slope alpha (the float argument; ignored by the others).
 * act_fwd: global n (rounded up to the local size, default 64), one work-item per
 *   element: y = act(x). x and y may be the same memory.
 * act_bwd: global n, one work-item per element: dx = beta * dx + dy * act'(x).
 *   relu, sigmoid and tanh read the derivative off y = act(x); gelu reads x; identity
 *   reads neither (the launcher may then pass a NULL buffer). With beta == 0, dx is
 *   written without being read, so it may hold garbage (NaN) before the call. */

#define VD_ACT_IDENTITY 0
#define VD_ACT_RELU 1
#define VD_ACT_SIGMOID 2
#define VD_ACT_TANH 3
#define VD_ACT_GELU 4
#define VD_ACT_LEAKY_RELU 5 /* x > 0 ? x : alpha x (alpha: kernel argument) */

#define VD_GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define VD_GELU_A 0.044715f

/* The tanh argument of GELU: sqrt(2/pi) (x + 0.044715 x^3). */
inline float vd_gelu_u(float x)
{
    return VD_GELU_C * (x + VD_GELU_A * x * x * x);
}

inline float vd_act_fwd1(int act, float alpha, float x)
{
    switch (act) {
    case VD_ACT_LEAKY_RELU:
        return x > 0.0f ? x : alpha * x;
    case VD_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case VD_ACT_SIGMOID:
        return 1.0f / (1.0f + exp(-x));
    case VD_ACT_TANH:
        return tanh(x);
    case VD_ACT_GELU:
        /* 0.5 (1 + tanh(u)) == 1 / (1 + exp(-2u)): the same function, without the
         * cancellation of 1 + tanh(u) for negative x (it returned -3e22 for x = -1e30). */
        return x / (1.0f + exp(-2.0f * vd_gelu_u(x)));
    default:
        return x;
    }
}

/* Derivative of act at x, given y = act(x). */
inline float vd_act_grad1(int act, float alpha, float x, float y)
{
    switch (act) {
    case VD_ACT_LEAKY_RELU:
        return x > 0.0f ? 1.0f : alpha;
    case VD_ACT_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    case VD_ACT_SIGMOID:
        return y * (1.0f - y);
    case VD_ACT_TANH:
        return 1.0f - y * y;
    case VD_ACT_GELU: {
        /* d/dx of 0.5 x (1 + tanh(u)), u = c (x + a x^3), t = tanh(u):
         *   0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
         * written with s = 0.5 (1 + t) = 1 / (1 + e), e = exp(-2u), and
         * 1 - t^2 = 4 s (1 - s) = 4 e s^2, which avoids 1 - t^2 and 1 + t cancelling:
         *   s + 2 x e s^2 c (1 + 3 a x^2).
         * Beyond |x| = 9 the value is 1 or 0 to fp32 precision (|x e s^2 ...| < 1e-25),
         * and e would overflow to inf below x = -10. */
        if (fabs(x) > 9.0f)
            return x > 0.0f ? 1.0f : 0.0f;
        float e = exp(-2.0f * vd_gelu_u(x));
        float s = 1.0f / (1.0f + e);
        return s + 2.0f * x * e * s * s * VD_GELU_C * (1.0f + 3.0f * VD_GELU_A * x * x);
    }
    default:
        return 1.0f;
    }
}

kernel void act_fwd(int act, float alpha, ulong n, global const float *x, ulong x_off, global float *y,
                    ulong y_off)
{
    ulong i = get_global_id(0);
    if (i < n)
        y[y_off + i] = vd_act_fwd1(act, alpha, x[x_off + i]);
}

kernel void act_bwd(int act, float alpha, ulong n, global const float *x, ulong x_off,
                    global const float *y, ulong y_off, global const float *dy, ulong dy_off,
                    float beta, global float *dx, ulong dx_off)
{
    ulong i = get_global_id(0);
    if (i >= n)
        return;
    /* Branches, not ?:, for every optional read: a select loads both sides, and the side
     * not taken may be a buffer the caller never wrote (or the NULL of identity). */
    float xi = 0.0f, yi = 0.0f;
    if (act == VD_ACT_GELU || act == VD_ACT_LEAKY_RELU)
        xi = x[x_off + i];
    if (act == VD_ACT_RELU || act == VD_ACT_SIGMOID || act == VD_ACT_TANH)
        yi = y[y_off + i];
    float g = dy[dy_off + i] * vd_act_grad1(act, alpha, xi, yi);
    if (beta == 0.0f)
        dx[dx_off + i] = g;
    else
        dx[dx_off + i] = beta * dx[dx_off + i] + g;
}

/* pool.cl - max, average and global average pooling, forward and backward, NCHW.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Geometry per image: input (C, H, W), output (C, P, Q); window (p, q) covers input rows
 * p*sh - ph .. p*sh - ph + kh - 1 and columns q*sw - pw .. q*sw - pw + kw - 1. A "plane"
 * is one (image, channel) pair; planes are numbered img*C + c, so the kernels only need
 * the number of planes (n*C).
 *
 * maxpool_fwd: global planes*P*Q (rounded up to the local size, default 64), one
 *   work-item per output element. Only taps inside the input compete (padding is -inf,
 *   as in PyTorch); the first maximum in row-major window order wins, and a NaN wins and
 *   stays (PyTorch propagates NaN). idx receives the winner's h*W + w (-1 and y = 0 for a
 *   window with no input tap, which the layer's shape rules exclude).
 * maxpool_bwd: global planes*H*W, one work-item per input pixel: it sums, in (p, q) order,
 *   dy of every window that contains it and chose it (no atomics: deterministic).
 *   dx = beta * dx + sum; with beta == 0 dx is not read.
 * avgpool_fwd: global planes*P*Q: y = sum of the window's input taps / divisor, the
 *   divisor being the window clipped to the padded input [-pad, in + pad) (PyTorch's
 *   count_include_pad=True).
 * avgpool_bwd: global planes*H*W, one work-item per input pixel, gathering dy / divisor
 *   over the windows that contain it, in (p, q) order.
 * gavg_fwd: global planes, one work-item per plane: y = mean of its HW values, summed in
 *   order.
 * gavg_bwd: global planes*HW: dx = beta * dx + dy[plane] / HW. */

kernel void maxpool_fwd(ulong planes, int H, int W, int P, int Q, int kh, int kw, int sh,
                        int sw, int ph, int pw, global const float *x, ulong x_off,
                        global float *y, ulong y_off, global int *idx, ulong idx_off)
{
    ulong i = get_global_id(0);
    ulong PQ = (ulong)P * Q;
    if (i >= planes * PQ)
        return;
    ulong plane = i / PQ;
    int p = (int)((i % PQ) / Q), q = (int)(i % Q);
    int h0 = p * sh - ph, w0 = q * sw - pw;
    global const float *xp = x + x_off + plane * (ulong)H * W;
    float best = 0.0f;
    int bi = -1;
    for (int h = max(h0, 0); h < min(h0 + kh, H); h++) {
        for (int w = max(w0, 0); w < min(w0 + kw, W); w++) {
            float v = xp[h * W + w];
            if (bi < 0 || (!isnan(best) && (v > best || isnan(v)))) {
                best = v;
                bi = h * W + w;
            }
        }
    }
    y[y_off + i] = best;
    idx[idx_off + i] = bi;
}

/* The windows containing input row h: p in [lo, hi]. */
inline int2 vd_pool_range(int h, int k, int s, int pad, int P)
{
    int a = h + pad - k + 1;
    int lo = a <= 0 ? 0 : (a + s - 1) / s;
    int hi = min((h + pad) / s, P - 1);
    return (int2)(lo, hi);
}

kernel void maxpool_bwd(ulong planes, int H, int W, int P, int Q, int kh, int kw, int sh,
                        int sw, int ph, int pw, global const int *idx, ulong idx_off,
                        global const float *dy, ulong dy_off, float beta, global float *dx,
                        ulong dx_off)
{
    ulong i = get_global_id(0);
    ulong HW = (ulong)H * W, PQ = (ulong)P * Q;
    if (i >= planes * HW)
        return;
    ulong plane = i / HW;
    int h = (int)((i % HW) / W), w = (int)(i % W), me = h * W + w;
    int2 rp = vd_pool_range(h, kh, sh, ph, P), rq = vd_pool_range(w, kw, sw, pw, Q);
    float sum = 0.0f;
    for (int p = rp.x; p <= rp.y; p++)
        for (int q = rq.x; q <= rq.y; q++) {
            ulong o = plane * PQ + (ulong)p * Q + q;
            if (idx[idx_off + o] == me)
                sum += dy[dy_off + o];
        }
    dx[dx_off + i] = beta == 0.0f ? sum : beta * dx[dx_off + i] + sum;
}

/* Divisor of window (p, q) with count_include_pad: the window clipped to the padded
 * input. */
inline float vd_avg_divisor(int p, int q, int H, int W, int kh, int kw, int sh, int sw,
                            int ph, int pw)
{
    int h0 = p * sh - ph, w0 = q * sw - pw;
    int h1 = min(h0 + kh, H + ph), w1 = min(w0 + kw, W + pw);
    return (float)((h1 - h0) * (w1 - w0));
}

kernel void avgpool_fwd(ulong planes, int H, int W, int P, int Q, int kh, int kw, int sh,
                        int sw, int ph, int pw, global const float *x, ulong x_off,
                        global float *y, ulong y_off)
{
    ulong i = get_global_id(0);
    ulong PQ = (ulong)P * Q;
    if (i >= planes * PQ)
        return;
    ulong plane = i / PQ;
    int p = (int)((i % PQ) / Q), q = (int)(i % Q);
    int h0 = p * sh - ph, w0 = q * sw - pw;
    global const float *xp = x + x_off + plane * (ulong)H * W;
    float sum = 0.0f;
    for (int h = max(h0, 0); h < min(h0 + kh, H); h++)
        for (int w = max(w0, 0); w < min(w0 + kw, W); w++)
            sum += xp[h * W + w];
    y[y_off + i] = sum / vd_avg_divisor(p, q, H, W, kh, kw, sh, sw, ph, pw);
}

kernel void avgpool_bwd(ulong planes, int H, int W, int P, int Q, int kh, int kw, int sh,
                        int sw, int ph, int pw, global const float *dy, ulong dy_off,
                        float beta, global float *dx, ulong dx_off)
{
    ulong i = get_global_id(0);
    ulong HW = (ulong)H * W, PQ = (ulong)P * Q;
    if (i >= planes * HW)
        return;
    ulong plane = i / HW;
    int h = (int)((i % HW) / W), w = (int)(i % W);
    int2 rp = vd_pool_range(h, kh, sh, ph, P), rq = vd_pool_range(w, kw, sw, pw, Q);
    float sum = 0.0f;
    for (int p = rp.x; p <= rp.y; p++)
        for (int q = rq.x; q <= rq.y; q++)
            sum += dy[dy_off + plane * PQ + (ulong)p * Q + q] /
                   vd_avg_divisor(p, q, H, W, kh, kw, sh, sw, ph, pw);
    dx[dx_off + i] = beta == 0.0f ? sum : beta * dx[dx_off + i] + sum;
}

kernel void gavg_fwd(ulong planes, ulong HW, global const float *x, ulong x_off,
                     global float *y, ulong y_off)
{
    ulong i = get_global_id(0);
    if (i >= planes)
        return;
    float sum = 0.0f;
    for (ulong j = 0; j < HW; j++)
        sum += x[x_off + i * HW + j];
    y[y_off + i] = sum / (float)HW;
}

kernel void gavg_bwd(ulong planes, ulong HW, global const float *dy, ulong dy_off, float beta,
                     global float *dx, ulong dx_off)
{
    ulong i = get_global_id(0);
    if (i >= planes * HW)
        return;
    float g = dy[dy_off + i / HW] / (float)HW;
    dx[dx_off + i] = beta == 0.0f ? g : beta * dx[dx_off + i] + g;
}

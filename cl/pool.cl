/* pool.cl - max, average and global average pooling, forward and backward, NCHW.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Geometry per image: input (C, H, W), output (C, P, Q); window (p, q) has the taps at
 * input rows p*sh - ph + r*dh (r in [0, kh)) and columns q*sw - pw + c*dw (c in [0, kw));
 * ph, pw are the top and left padding, pb, pr the bottom and right padding (they bound
 * the padded input [-ph, H + pb) x [-pw, W + pr) that the average's divisor counts), dh,
 * dw the dilation (>= 1), excl the average's divisor: 0 counts the taps inside the padded
 * input (count_include_pad=1), 1 those inside the input (count_include_pad=0). A "plane"
 * is one (image, channel) pair; planes are numbered img*C + c, so the kernels only need
 * the number of planes (n*C).
 *
 * Work sizes: the launches are 3-D, (column, row, plane), so that every index comes from
 * the grid instead of divisions (the first version, 1-D over flat indices with three
 * 64-bit divisions or modulos per work-item, ran maxpool forward at 0.7 GB/s on PoCL and
 * backward 3x slower). PoCL runs dimension 0 innermost and hoists what depends only on the
 * row or plane out of its work-item loop. Offsets within a plane are int (the launcher
 * checks that the geometry fits); plane offsets are ulong. `planes` is the number of
 * planes of one launch (the launcher sends at most 65535 per launch, moving the offsets
 * on). Every kernel bounds-checks each dimension, so any local size is correct; the
 * launcher passes one that divides its global size (whole rows in dimension 0, then rows,
 * then a power of two of planes with the plane count rounded up to it; at most 256
 * work-items and 64 planes per group) or, for a long row without a usable divisor, NULL.
 *
 * maxpool_fwd: global (Q, P, planes), one work-item per output element. Only taps inside
 *   the input compete (padding is -inf, as in PyTorch); the first maximum in row-major
 *   window order wins, and a NaN wins and stays (PyTorch propagates NaN). idx receives the
 *   winner's h*W + w (-1 and y = 0 for a window with no input tap, which the layer's shape
 *   rules exclude).
 * avgpool_fwd: global (Q, P, planes): y = sum of the window's input taps / divisor, the
 *   divisor being the number of the window's taps inside the padded input (excl 0,
 *   PyTorch's count_include_pad=True) or inside the input (excl 1).
 * maxpool_indices: global (Q * P, 1, planes): y = (plane0 + plane) * H * W + idx as float
 *   (ONNX MaxPool's Indices output into the flattened input, storage_order 0), or with
 *   colmajor w * H + h in place of idx = h * W + w (storage_order 1).
 * pool_bwd: the backward of maxpool (avg == 0; idx from maxpool_fwd) or avgpool (avg != 0;
 *   idx is not read and may be NULL), any geometry; the launcher uses it when windows
 *   overlap. Global (W, H, planes), one work-item per input pixel: it sums, in (p, q)
 *   order, over the windows that contain it, dy if the window chose it (maxpool) or
 *   dy / divisor (avgpool). No atomics: deterministic. dx = beta * dx + sum; with
 *   beta == 0 dx is not read.
 * pool_bwd_cell: the same backward (same arguments) when windows do not overlap
 *   (kh <= sh and kw <= sw) and are not dilated (dh == dw == 1). Global (Q, P, planes),
 *   one work-item per output element.
 *   Each axis is cut into cells, cell p running from where window p starts (0 for the
 *   first) to where window p + 1 starts (the input's end for the last), so the cells tile
 *   the plane and cell (p, q) holds the part of window (p, q) inside the input. The
 *   work-item writes every pixel of its cell, pixels no window covers included, with
 *   exactly what pool_bwd would: dx = beta * dx + sum, where sum is 0 + dy (maxpool, the
 *   pixel the window chose) or 0 + dy / divisor (avgpool, pixels the window covers), and
 *   0 elsewhere.
 * gavg_fwd: global planes, one work-item per plane: y = mean of its HW values, summed in
 *   order.
 * gavg_bwd: global (HW, 1, planes): dx = beta * dx + dy[plane] / HW. */

/* The kernels' geometry arguments, in the order of POOL_ARGS (src/ops/pool_ops.c). */
#define VD_POOL_PARAMS                                                                    \
    ulong planes, int H, int W, int P, int Q, int kh, int kw, int sh, int sw, int ph, int pw, \
        int pb, int pr, int dh, int dw, int excl

/* ceil(a / d) for a > 0, d >= 1; no division for the common undilated case. */
inline int vd_pool_cdiv(int a, int d)
{
    return d == 1 ? a : (a + d - 1) / d;
}

/* The taps r in [lo, hi) (lo <= hi) of a window whose taps lie at a + r*d, r in [0, k),
 * that fall inside [b0, b1). */
inline int2 vd_pool_taps(int a, int k, int d, int b0, int b1)
{
    int lo = a >= b0 ? 0 : vd_pool_cdiv(b0 - a, d);
    int hi = a >= b1 ? 0 : min(k, vd_pool_cdiv(b1 - a, d));
    return (int2)(lo, max(lo, hi));
}

kernel void maxpool_fwd(VD_POOL_PARAMS, global const float *x, ulong x_off, global float *y,
                        ulong y_off, int keep, global int *idx, ulong idx_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1);
    ulong plane = get_global_id(2);
    if (q >= Q || p >= P || plane >= planes)
        return;
    int h0 = p * sh - ph, w0 = q * sw - pw;
    int2 rh = vd_pool_taps(h0, kh, dh, 0, H), rw = vd_pool_taps(w0, kw, dw, 0, W);
    global const float *xp = x + x_off + plane * (ulong)(H * W);
    float best = 0.0f;
    int bi = -1;
    if (rh.x < rh.y && rw.x < rw.y) {
        bi = (h0 + rh.x * dh) * W + w0 + rw.x * dw;
        best = xp[bi];
    }
    /* Branch-free on purpose: random data mispredicts a branch per tap (3x slower on
     * PoCL). v != v is isnan(v), which PoCL does not inline. A NaN best stays: NaN > x
     * and x > NaN are false. Revisiting the first tap changes nothing. */
    for (int r = rh.x; r < rh.y; r++) {
        int h = h0 + r * dh;
        for (int c = rw.x; c < rw.y; c++) {
            int w = w0 + c * dw;
            float v = xp[h * W + w];
            int take = (v > best) | ((v != v) & (best == best));
            best = take ? v : best;
            bi = take ? h * W + w : bi;
        }
    }
    ulong o = plane * (ulong)(P * Q) + (ulong)(p * Q + q);
    y[y_off + o] = best;
    if (keep)
        idx[idx_off + o] = bi;
}

kernel void maxpool_indices(ulong planes, ulong plane0, int H, int W, int colmajor, int PQ,
                            global const int *idx, ulong idx_off, global float *y, ulong y_off)
{
    int o = (int)get_global_id(0);
    ulong plane = get_global_id(2);
    if (o >= PQ || plane >= planes)
        return;
    ulong i = plane * (ulong)PQ + (ulong)o;
    int at = idx[idx_off + i]; /* h * W + w */
    if (colmajor)
        at = (at % W) * H + at / W;
    y[y_off + i] = (float)((plane0 + plane) * (ulong)(H * W) + (ulong)at);
}

/* The windows whose extent (k: (taps - 1) * dilation + 1) contains input row h: p in
 * [lo, hi] (empty when lo > hi). lo is ceil((h + pad - k + 1) / s) clamped at 0,
 * written without a branch so that both divisions always run (see pool_bwd). */
inline int2 vd_pool_range(int h, int k, int s, int pad, int P)
{
    int lo = max(h + pad - k + s, 0) / s;
    int hi = min((h + pad) / s, P - 1);
    return (int2)(lo, hi);
}

/* Divisor of window (p, q): its taps inside the padded input (excl 0) or inside the
 * input (excl 1). */
inline float vd_avg_divisor(int p, int q, int H, int W, int kh, int kw, int sh, int sw,
                            int ph, int pw, int pb, int pr, int dh, int dw, int excl)
{
    int h0 = p * sh - ph, w0 = q * sw - pw;
    int2 rh = vd_pool_taps(h0, kh, dh, excl ? 0 : -ph, excl ? H : H + pb);
    int2 rw = vd_pool_taps(w0, kw, dw, excl ? 0 : -pw, excl ? W : W + pr);
    return (float)((rh.y - rh.x) * (rw.y - rw.x));
}
#define VD_AVG_DIVISOR(p, q) \
    vd_avg_divisor((p), (q), H, W, kh, kw, sh, sw, ph, pw, pb, pr, dh, dw, excl)

kernel void avgpool_fwd(VD_POOL_PARAMS, global const float *x, ulong x_off, global float *y,
                        ulong y_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1);
    ulong plane = get_global_id(2);
    if (q >= Q || p >= P || plane >= planes)
        return;
    int h0 = p * sh - ph, w0 = q * sw - pw;
    int2 rh = vd_pool_taps(h0, kh, dh, 0, H), rw = vd_pool_taps(w0, kw, dw, 0, W);
    global const float *xp = x + x_off + plane * (ulong)(H * W);
    float sum = 0.0f;
    for (int r = rh.x; r < rh.y; r++)
        for (int c = rw.x; c < rw.y; c++)
            sum += xp[(h0 + r * dh) * W + w0 + c * dw];
    ulong o = plane * (ulong)(P * Q) + (ulong)(p * Q + q);
    y[y_off + o] = sum / VD_AVG_DIVISOR(p, q);
}

kernel void pool_bwd(VD_POOL_PARAMS, int avg, global const int *idx, ulong idx_off,
                     global const float *dy, ulong dy_off, float beta, global float *dx,
                     ulong dx_off)
{
    int w = (int)get_global_id(0), h = (int)get_global_id(1);
    ulong plane = get_global_id(2);
    /* Before the bounds check, so that the compiler may hoist the row's divisions out of
     * PoCL's loop over dimension 0 (a division that might not run cannot be hoisted). */
    int2 rp = vd_pool_range(h, (kh - 1) * dh + 1, sh, ph, P);
    if (w >= W || h >= H || plane >= planes)
        return;
    int me = h * W + w;
    int2 rq = vd_pool_range(w, (kw - 1) * dw + 1, sw, pw, Q);
    ulong ob = plane * (ulong)(P * Q);
    global const float *gp = dy + dy_off + ob;
    float sum = 0.0f;
    for (int p = rp.x; p <= rp.y; p++) {
        /* dilated: the window's extent holds h, but one of its taps must be h */
        int tap_h = dh == 1 || (h + ph - p * sh) % dh == 0;
        for (int q = rq.x; q <= rq.y; q++) {
            float g = gp[p * Q + q];
            int tap = tap_h & (dw == 1 || (w + pw - q * sw) % dw == 0);
            /* maxpool adds 0 for a window that chose another pixel, which leaves sum as it
             * is (sum is never -0); with both loads unconditional this is a select, not a
             * branch that random data mispredicts. */
            sum += avg ? (tap ? g / VD_AVG_DIVISOR(p, q) : 0.0f)
                       : idx[idx_off + ob + (ulong)(p * Q + q)] == me ? g : 0.0f;
        }
    }
    ulong i = dx_off + plane * (ulong)(H * W) + (ulong)me;
    dx[i] = beta == 0.0f ? sum : beta * dx[i] + sum;
}

/* First input row of cell p (of P along an axis of length H): the cells
 * [vd_pool_cell(p), vd_pool_cell(p + 1)) tile [0, H), and when k <= s, cell p holds the
 * part of window p inside the input. */
inline int vd_pool_cell(int p, int s, int pad, int P, int H)
{
    return p <= 0 ? 0 : p >= P ? H : clamp(p * s - pad, 0, H);
}

kernel void pool_bwd_cell(VD_POOL_PARAMS, int avg, global const int *idx,
                          ulong idx_off, global const float *dy, ulong dy_off, float beta,
                          global float *dx, ulong dx_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1);
    ulong plane = get_global_id(2);
    if (q >= Q || p >= P || plane >= planes)
        return;
    ulong o = plane * (ulong)(P * Q) + (ulong)(p * Q + q);
    int h0 = vd_pool_cell(p, sh, ph, P, H), h1 = vd_pool_cell(p + 1, sh, ph, P, H);
    int w0 = vd_pool_cell(q, sw, pw, Q, W), w1 = vd_pool_cell(q + 1, sw, pw, Q, W);
    /* g is the sum pool_bwd forms for a pixel that one window feeds: 0 + dy (so -0
     * becomes +0), divided first for avgpool. The pixels that get it: for maxpool the one
     * at win; for avgpool the window's part of the cell, rows [h0, he) and columns
     * [w0, we) (empty for maxpool), so that the loop does not depend on avg. */
    float g;
    int win = -1, he = h0, we = w0;
    if (avg) {
        g = 0.0f + dy[dy_off + o] / VD_AVG_DIVISOR(p, q);
        he = min(p * sh - ph + kh, h1);
        we = min(q * sw - pw + kw, w1);
    } else {
        g = 0.0f + dy[dy_off + o];
        win = idx[idx_off + o];
    }
    global float *dp = dx + dx_off + plane * (ulong)(H * W);
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            int me = h * W + w;
            float sum = (me == win) | ((h < he) & (w < we)) ? g : 0.0f;
            dp[me] = beta == 0.0f ? sum : beta * dp[me] + sum;
        }
}

kernel void gavg_fwd(ulong planes, ulong HW, global const float *x, ulong x_off,
                     global float *y, ulong y_off)
{
    ulong i = get_global_id(0);
    if (i >= planes)
        return;
    global const float *xp = x + x_off + i * HW;
    float sum = 0.0f;
    for (ulong j = 0; j < HW; j++)
        sum += xp[j];
    y[y_off + i] = sum / (float)HW;
}

kernel void gavg_bwd(ulong planes, ulong HW, global const float *dy, ulong dy_off, float beta,
                     global float *dx, ulong dx_off)
{
    ulong j = get_global_id(0), plane = get_global_id(2);
    if (j >= HW || plane >= planes)
        return;
    float g = dy[dy_off + plane] / (float)HW;
    ulong i = dx_off + plane * HW + j;
    dx[i] = beta == 0.0f ? g : beta * dx[i] + g;
}

/* maxpool2_fwd, maxpool2_bwd: maxpool with 2x2 windows, stride 2, no padding, the common
 * case, with the arguments of maxpool_fwd and pool_bwd_cell (the window and stride ones
 * unused). The generic kernels' data-dependent tap loops kept PoCL's work-item loop
 * scalar (maxpool forward ran at 4-5 GB/s). Same results bit for bit: taps in row-major
 * order, the first maximum wins, a NaN wins and stays.
 * maxpool2_fwd: global (P, planes), one work-item per output row: four windows per step
 *   from two float8 loads per input row (even lanes: the windows' left columns, odd: the
 *   right), the rest of the row one window at a time. Needs 2P <= H and 2Q <= W.
 * maxpool2_bwd: global (Q, P, planes), the window's four pixels as straight loads and
 *   stores, so PoCL vectorises the work-item loop; needs H == 2P and W == 2Q (the cells
 *   are the windows): dy where the forward chose, else 0. */
/* One 2x2 window of maxpool2_fwd: taps v0..v3 in row-major order, the first maximum
 * wins, a NaN wins and stays; *bi gets the winner's offset from i0 (0, 1, W, W + 1). */
#define VD_POOL2_TAKE(best, bi, v, off)                                   \
    do {                                                                  \
        VT_INT take = isgreater(v, best) | (isnan(v) & ~isnan(best));      \
        best = select(best, v, take);                                     \
        bi = select(bi, off, take);                                       \
    } while (0)

/* maxpool2_fwd_planes: the 2x2 stride-2 windows of small planes (W < 8, no vector step
 * in maxpool2_fwd), global (planes): one work-item per plane, all its windows, the loop
 * bounds uniform so PoCL runs the work-items side by side. Same taps, order and results
 * as maxpool2_fwd. Needs 2P <= H and 2Q <= W. */
kernel void maxpool2_fwd_planes(VD_POOL_PARAMS, global const float *x, ulong x_off,
                                global float *y, ulong y_off, int keep, global int *idx,
                                ulong idx_off)
{
    ulong plane = get_global_id(0);
    if (plane >= planes)
        return;
    global const float *xp = x + x_off + plane * (ulong)(H * W);
    ulong o = plane * (ulong)(P * Q);
#define VT_INT int
    for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q++) {
            int i0 = 2 * p * W + 2 * q;
            float best = xp[i0];
            int bi = i0;
            VD_POOL2_TAKE(best, bi, xp[i0 + 1], i0 + 1);
            VD_POOL2_TAKE(best, bi, xp[i0 + W], i0 + W);
            VD_POOL2_TAKE(best, bi, xp[i0 + W + 1], i0 + W + 1);
            y[y_off + o + (ulong)(p * Q + q)] = best;
            if (keep)
                idx[idx_off + o + (ulong)(p * Q + q)] = bi;
        }
#undef VT_INT
}

kernel void maxpool2_fwd(VD_POOL_PARAMS, global const float *x, ulong x_off,
                         global float *y, ulong y_off, int keep, global int *idx, ulong idx_off)
{
    /* Global (P, planes): one work-item per output row, four outputs per step from two
     * float8 loads per input row (the even and odd lanes are the window's columns). */
    int p = (int)get_global_id(0);
    ulong plane = get_global_id(1);
    if (p >= P || plane >= planes)
        return;
    global const float *r0 = x + x_off + plane * (ulong)(H * W) + 2 * p * W, *r1 = r0 + W;
    ulong o = plane * (ulong)(P * Q) + (ulong)(p * Q);
    global float *yp = y + y_off + o;
    global int *ip = idx + idx_off + o;
    int base = 2 * p * W, q = 0;
#define VT_INT int4
    for (; 2 * q + 8 <= W && q + 4 <= Q; q += 4) {
        float8 a = vload8(0, r0 + 2 * q), b = vload8(0, r1 + 2 * q);
        float4 best = a.even;
        int4 bi = (int4)(0, 2, 4, 6) + (base + 2 * q);
        VD_POOL2_TAKE(best, bi, a.odd, bi + 1);
        int4 b0 = (int4)(0, 2, 4, 6) + (base + W + 2 * q);
        VD_POOL2_TAKE(best, bi, b.even, b0);
        VD_POOL2_TAKE(best, bi, b.odd, b0 + 1);
        vstore4(best, 0, yp + q);
        if (keep)
            vstore4(bi, 0, ip + q);
    }
#undef VT_INT
#define VT_INT int
    for (; q < Q; q++) {
        int i0 = base + 2 * q;
        float best = r0[2 * q];
        int bi = i0;
        VD_POOL2_TAKE(best, bi, r0[2 * q + 1], i0 + 1);
        VD_POOL2_TAKE(best, bi, r1[2 * q], i0 + W);
        VD_POOL2_TAKE(best, bi, r1[2 * q + 1], i0 + W + 1);
        yp[q] = best;
        if (keep)
            ip[q] = bi;
    }
#undef VT_INT
}

kernel void maxpool2_bwd(VD_POOL_PARAMS, int avg, global const int *idx, ulong idx_off,
                         global const float *dy, ulong dy_off, float beta, global float *dx,
                         ulong dx_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1);
    ulong plane = get_global_id(2);
    if (q >= Q || p >= P || plane >= planes)
        return;
    ulong o = plane * (ulong)(P * Q) + (ulong)(p * Q + q);
    float g = 0.0f + dy[dy_off + o];
    int win = idx[idx_off + o], i0 = 2 * p * W + 2 * q;
    global float *dp = dx + dx_off + plane * (ulong)(H * W);
    float s0 = win == i0 ? g : 0.0f, s1 = win == i0 + 1 ? g : 0.0f;
    float s2 = win == i0 + W ? g : 0.0f, s3 = win == i0 + W + 1 ? g : 0.0f;
    if (beta != 0.0f) {
        s0 = beta * dp[i0] + s0, s1 = beta * dp[i0 + 1] + s1;
        s2 = beta * dp[i0 + W] + s2, s3 = beta * dp[i0 + W + 1] + s3;
    }
    dp[i0] = s0, dp[i0 + 1] = s1, dp[i0 + W] = s2, dp[i0 + W + 1] = s3;
}

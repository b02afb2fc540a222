/* conv.cl - the data-movement half of im2col convolution (the matrix products go through
 * vd_gemm / vd_gemm_batched), plus the per-channel bias of NCHW tensors. Used by conv2d
 * and, with the roles of forward and backward-data swapped, by deconv2d.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Geometry (per image): input (C, H, W), kernel (R, S), stride (sh, sw), padding (ph, pw),
 * dilation (dh, dw), output (P, Q). Output pixel (p, q) with kernel tap (r, s) reads input
 * (p*sh - ph + r*dh, q*sw - pw + s*dw); taps outside the input read 0. A chunk of nb
 * images is processed at once; its column matrix has C*R*S rows and L = nb*P*Q columns,
 * row (c, r, s) = (c*R + r)*S + s, column (img, p, q) = img*P*Q + p*Q + q.
 *
 * The launches are 3-D with the innermost image axis in dimension 0 (PoCL vectorizes the
 * work-item loop over dimension 0, so neighbouring work-items read and write neighbouring
 * floats) and everything else taken from the grid coordinates: no 64-bit division per
 * element (the first version, one 1-D work-item per element with six 64-bit divisions,
 * spent 70% of a VGG training step in im2col on PoCL).
 *
 * im2col:  global (Q, P, nb*C*R*S), one work-item per column element; dimension 2 is
 *          img * C*R*S + row. x points at the chunk's first image (nb, C, H, W).
 * col2im:  global (W, H, nb*C), one work-item per input pixel: it gathers the column
 *          entries that read this pixel, taps in (r, s) order, so there are no atomics and
 *          the sum's order is fixed (deterministic). dx = beta * dx + sum; with beta == 0,
 *          dx is written without being read.
 * nchw_to_knl: global (PQ, K, nb), one work-item per element: t (K, nb*PQ) = src (nb, K, PQ).
 * bias_nchw_fwd: global (HW, C, n), one work-item per element: y[img][c][hw] += b[c].
 * bias_nchw_bwd: local size a power of two (the launcher passes 64 or the device maximum),
 *          global C * local: one work-group per channel c. Lane l sums elements l, l+lsz,
 *          ... of the channel's n*HW values in order, then a tree over the lanes in local
 *          memory: the order depends only on the local size, so it is deterministic.
 *          db[c] += sum.
 * bias_relu_nchw_fwd: global (HW, C, n), one work-item per element: the epilogue of a
 *          conv2d/deconv2d with relu = 1, y = max(y + b[c], 0) in one pass (b read only when
 *          has_bias != 0). ReLU as act.cl's: v > 0 ? v : 0.
 * relu_mask_nchw_bwd: global (HW, C, n), one work-item per element: dy = y > 0 ? dy : 0,
 *          in place (the layer's backward without a bias).
 * relu_mask_bias_nchw_bwd: one work-group per channel like bias_nchw_bwd; each lane writes
 *          the masked values back, dy = y > 0 ? dy : 0 in place, and db[c] += the sum of
 *          the masked dy (a tree over the lanes at the end). One read of y and dy, one write
 *          of dy. Which lane takes which elements depends on the device (VD_DEVICE_IS_CPU):
 *          GPUs: as bias_nchw_bwd, lane l takes elements l, l+lsz, ... of the channel's
 *          n*HW values, so neighbouring lanes touch neighbouring floats, and db is summed
 *          in bias_nchw_bwd's order (bit-identical to a [relu] layer + bias); the lane
 *          walks (img, j) without a division per element. CPUs (PoCL runs a work-group's
 *          lanes one after another; that interleaved loop, with its data-dependent
 *          branch, ran at half the speed of a [relu] layer + bias_nchw_bwd in LeNet-5):
 *          lane l takes whole planes, images l, l+lsz, ..., each streamed in order. Both
 *          orders are fixed, so results are reproducible on one device. */

kernel void im2col(int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw, int dh,
                   int dw, int P, int Q, int nb, global const float *x, ulong x_off,
                   global float *col, ulong col_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1), z = (int)get_global_id(2);
    int CRS = C * R * S;
    if (q >= Q || p >= P || z >= nb * CRS)
        return;
    int img = z / CRS, row = z - img * CRS;
    int c = row / (R * S), rs = row - c * (R * S);
    int r = rs / S, s = rs - r * S;
    int ih = p * sh - ph + r * dh, iw = q * sw - pw + s * dw;
    bool in = ih >= 0 && ih < H && iw >= 0 && iw < W;
    ulong src = x_off + ((ulong)(img * C + c) * H + (in ? ih : 0)) * W + (in ? iw : 0);
    float v = x[src];
    ulong PQ = (ulong)P * Q;
    col[col_off + (ulong)row * nb * PQ + img * PQ + (ulong)p * Q + q] = in ? v : 0.0f;
}

kernel void col2im(int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw, int dh,
                   int dw, int P, int Q, int nb, global const float *col, ulong col_off,
                   float beta, global float *dx, ulong dx_off)
{
    int w = (int)get_global_id(0), h = (int)get_global_id(1), z = (int)get_global_id(2);
    if (w >= W || h >= H || z >= nb * C)
        return;
    int img = z / C, c = z - img * C;
    ulong PQ = (ulong)P * Q, L = (ulong)nb * PQ;
    global const float *cb = col + col_off + img * PQ;
    float sum = 0.0f;
    for (int r = 0; r < R; r++) {
        int th = h + ph - r * dh;
        if (th < 0)
            break; /* th only decreases with r */
        int p = th / sh;
        if (p * sh != th || p >= P)
            continue;
        for (int s = 0; s < S; s++) {
            int tw = w + pw - s * dw;
            if (tw < 0)
                break;
            int q = tw / sw;
            if (q * sw != tw || q >= Q)
                continue;
            ulong row = ((ulong)c * R + r) * S + s;
            sum += cb[row * L + (ulong)p * Q + q];
        }
    }
    ulong i = dx_off + ((ulong)z * H + h) * W + w;
    dx[i] = beta == 0.0f ? sum : beta * dx[i] + sum;
}

kernel void nchw_to_knl(int nb, int K, ulong PQ, global const float *src, ulong src_off,
                        global float *t, ulong t_off)
{
    ulong j = get_global_id(0);
    int k = (int)get_global_id(1), img = (int)get_global_id(2);
    if (j >= PQ || k >= K || img >= nb)
        return;
    t[t_off + ((ulong)k * nb + img) * PQ + j] = src[src_off + ((ulong)img * K + k) * PQ + j];
}

kernel void bias_nchw_fwd(ulong n, int C, ulong HW, global const float *b, ulong b_off,
                          global float *y, ulong y_off)
{
    ulong j = get_global_id(0);
    int c = (int)get_global_id(1);
    ulong img = get_global_id(2);
    if (j < HW && c < C && img < n)
        y[y_off + (img * C + c) * HW + j] += b[b_off + c];
}

kernel void bias_nchw_bwd(ulong n, int C, ulong HW, global const float *dy, ulong dy_off,
                          global float *db, ulong db_off, local float *buf)
{
    int c = (int)get_group_id(0);
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    ulong M = n * HW;
    float s = 0.0f;
    for (ulong j = (ulong)l; j < M; j += (ulong)lsz)
        s += dy[dy_off + ((j / HW) * C + c) * HW + j % HW];
    float sum = vd_group_sum(buf, s);
    if (l == 0)
        db[db_off + c] += sum;
}

kernel void bias_relu_nchw_fwd(ulong n, int C, ulong HW, int has_bias, global const float *b,
                               ulong b_off, global float *y, ulong y_off)
{
    ulong j = get_global_id(0);
    int c = (int)get_global_id(1);
    ulong img = get_global_id(2);
    if (j >= HW || c >= C || img >= n)
        return;
    ulong i = y_off + (img * C + c) * HW + j;
    float v = has_bias ? y[i] + b[b_off + c] : y[i];
    y[i] = v > 0.0f ? v : 0.0f;
}

kernel void relu_mask_nchw_bwd(ulong n, int C, ulong HW, global const float *y, ulong y_off,
                               global float *dy, ulong dy_off)
{
    ulong j = get_global_id(0);
    int c = (int)get_global_id(1);
    ulong img = get_global_id(2);
    if (j >= HW || c >= C || img >= n)
        return;
    ulong i = (img * C + c) * HW + j;
    if (!(y[y_off + i] > 0.0f))
        dy[dy_off + i] = 0.0f;
}

kernel void relu_mask_bias_nchw_bwd(ulong n, int C, ulong HW, global const float *y,
                                    ulong y_off, global float *dy, ulong dy_off,
                                    global float *db, ulong db_off, local float *buf)
{
    int c = (int)get_group_id(0);
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    float s = 0.0f;
#if VD_DEVICE_IS_CPU
    /* Eight lanes at a time, each its own partial sum (one scalar chain measured about
     * 1 ms per step on LeNet-5's c1 on PoCL), added in a fixed tree: still reproducible. */
    float8 s8 = (float8)(0.0f);
    for (ulong img = (ulong)l; img < n; img += (ulong)lsz) {
        ulong base = (img * C + c) * HW;
        global const float *yp = y + y_off + base;
        global float *dp = dy + dy_off + base;
        ulong j = 0;
        for (; j + 8 <= HW; j += 8) {
            float8 g = select((float8)(0.0f), vload8(0, dp + j), vload8(0, yp + j) > 0.0f);
            vstore8(g, 0, dp + j);
            s8 += g;
        }
        for (; j < HW; j++) {
            float g = yp[j] > 0.0f ? dp[j] : 0.0f;
            dp[j] = g;
            s += g;
        }
    }
    float4 s4 = s8.lo + s8.hi;
    float2 s2 = s4.lo + s4.hi;
    s += s2.x + s2.y;
#else
    ulong img = (ulong)l / HW, j = (ulong)l - img * HW;
    while (img < n) {
        ulong i = (img * C + c) * HW + j;
        float g = y[y_off + i] > 0.0f ? dy[dy_off + i] : 0.0f;
        dy[dy_off + i] = g;
        s += g;
        j += (ulong)lsz;
        while (j >= HW) {
            j -= HW;
            img++;
        }
    }
#endif
    float sum = vd_group_sum(buf, s);
    if (l == 0)
        db[db_off + c] += sum;
}

/* flip_weights: global (R*S, Cg, K) with Cg = C/groups, Kg = K/groups. The weights of the
 * transposed convolution that computes backward-data as a forward convolution (stride 1):
 * wt[g][c][k][r][s] = w[g*Kg + k][c][R-1-r][S-1-s], i.e. per group a (Cg, Kg, R, S) tensor,
 * groups one after another. */
kernel void flip_weights(int K, int Cg, int RS, int groups, global const float *w, ulong w_off,
                         global float *wt, ulong wt_off)
{
    int rs = (int)get_global_id(0), c = (int)get_global_id(1), k = (int)get_global_id(2);
    if (rs >= RS || c >= Cg || k >= K)
        return;
    int Kg = K / groups, g = k / Kg, kg = k - g * Kg;
    float v = w[w_off + ((ulong)k * Cg + c) * RS + (RS - 1 - rs)];
    wt[wt_off + (((ulong)g * Cg + c) * Kg + kg) * RS + rs] = v;
}

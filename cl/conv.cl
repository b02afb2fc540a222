/* conv.cl - the data-movement half of im2col convolution (the matrix products go through
 * CLBlast via vd_blas_sgemm), plus the per-channel bias of NCHW tensors. Used by conv2d
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
 * im2col:  global C*R*S*L (rounded up to the local size, default 64), one work-item per
 *          column element. x points at the chunk's first image (N, C, H, W).
 * col2im:  global nb*C*H*W, one work-item per input pixel: it gathers the column entries
 *          that read this pixel, taps in (r, s) order, so there are no atomics and the
 *          sum's order is fixed (deterministic). dx = beta * dx + sum; with beta == 0, dx
 *          is written without being read.
 * nchw_to_knl: global K*L, one work-item per element of t: t (K, nb*PQ) = src (nb, K, PQ).
 * knl_to_nchw: global nb*K*PQ, one work-item per element of dst: the inverse, as
 *          dst = beta * dst + t (dst not read when beta == 0).
 * bias_nchw_fwd: global n*C*HW, one work-item per element: y[img][c][hw] += b[c].
 * bias_nchw_bwd: local size a power of two (the launcher passes 64 or the device maximum),
 *          global C * local: one work-group per channel c. Lane l sums elements l, l+lsz,
 *          ... of the channel's n*HW values in order, then a tree over the lanes in local
 *          memory: the order depends only on the local size, so it is deterministic.
 *          db[c] += sum. */

kernel void im2col(int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw, int dh,
                   int dw, int P, int Q, int nb, global const float *x, ulong x_off,
                   global float *col, ulong col_off)
{
    ulong i = get_global_id(0);
    ulong PQ = (ulong)P * Q, L = (ulong)nb * PQ;
    if (i >= (ulong)C * R * S * L)
        return;
    ulong row = i / L, j = i % L;
    ulong img = j / PQ, pq = j % PQ;
    int p = (int)(pq / Q), q = (int)(pq % Q);
    int s = (int)(row % S), r = (int)((row / S) % R), c = (int)(row / ((ulong)R * S));
    int ih = p * sh - ph + r * dh, iw = q * sw - pw + s * dw;
    float v = 0.0f;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
        v = x[x_off + (img * C + c) * (ulong)H * W + (ulong)ih * W + iw];
    col[col_off + i] = v;
}

kernel void col2im(int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw, int dh,
                   int dw, int P, int Q, int nb, global const float *col, ulong col_off,
                   float beta, global float *dx, ulong dx_off)
{
    ulong i = get_global_id(0);
    ulong HW = (ulong)H * W, PQ = (ulong)P * Q, L = (ulong)nb * PQ;
    if (i >= (ulong)nb * C * HW)
        return;
    ulong img = i / ((ulong)C * HW);
    int c = (int)((i / HW) % C);
    int h = (int)((i % HW) / W), w = (int)(i % W);
    float sum = 0.0f;
    for (int r = 0; r < R; r++) {
        int th = h + ph - r * dh;
        if (th < 0)
            break; /* th only decreases with r */
        if (th % sh != 0 || th / sh >= P)
            continue;
        int p = th / sh;
        for (int s = 0; s < S; s++) {
            int tw = w + pw - s * dw;
            if (tw < 0)
                break;
            if (tw % sw != 0 || tw / sw >= Q)
                continue;
            int q = tw / sw;
            ulong row = ((ulong)c * R + r) * S + s;
            sum += col[col_off + row * L + img * PQ + (ulong)p * Q + q];
        }
    }
    dx[dx_off + i] = beta == 0.0f ? sum : beta * dx[dx_off + i] + sum;
}

kernel void nchw_to_knl(int nb, int K, ulong PQ, global const float *src, ulong src_off,
                        global float *t, ulong t_off)
{
    ulong i = get_global_id(0);
    ulong L = (ulong)nb * PQ;
    if (i >= (ulong)K * L)
        return;
    ulong k = i / L, j = i % L, img = j / PQ, pq = j % PQ;
    t[t_off + i] = src[src_off + (img * K + k) * PQ + pq];
}

kernel void knl_to_nchw(int nb, int K, ulong PQ, global const float *t, ulong t_off,
                        float beta, global float *dst, ulong dst_off)
{
    ulong i = get_global_id(0);
    ulong L = (ulong)nb * PQ;
    if (i >= (ulong)K * L)
        return;
    ulong img = i / ((ulong)K * PQ), k = (i / PQ) % K, pq = i % PQ;
    float v = t[t_off + k * L + img * PQ + pq];
    dst[dst_off + i] = beta == 0.0f ? v : beta * dst[dst_off + i] + v;
}

kernel void bias_nchw_fwd(ulong n, int C, ulong HW, global const float *b, ulong b_off,
                          global float *y, ulong y_off)
{
    ulong i = get_global_id(0);
    if (i < n * C * HW)
        y[y_off + i] += b[b_off + (i / HW) % C];
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

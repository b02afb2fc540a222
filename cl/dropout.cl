/* dropout.cl - inverted dropout with a counter-based mask (no mask buffer is stored:
 * backward draws the same numbers again).
 *
 * -D switches: none.
 * Element i keeps its value when u_i >= p, where u_i = vd_uniform_at(i, seed, stream)
 * (common.cl: Philox4x32-10 with counter {i/4, 0, stream lo, stream hi}, key seed, word
 * i%4), and kept values are scaled by 1/(1-p).
 * dropout_fwd / dropout_bwd: global ceil(n / 4) (rounded up to the local size, default
 *   64), one work-item per block of 4 consecutive elements 4j..4j+3 (one Philox call
 *   each), bounds-checked against n.
 *   fwd: y = keep ? x * scale : 0.    bwd: dx = beta * dx + (keep ? dy * scale : 0);
 *   with beta == 0, dx is written without being read. scale = 1/(1-p) from the host.
 * dropout_mask: same work size and draws as dropout_fwd: y = keep ? 1 : 0 (the mask that
 *   dropout_fwd with the same seed and stream applies; ONNX Dropout's second output). */

/* The four uniform words of block j (elements 4j..4j+3): one Philox call. */
inline void draw4(ulong j, ulong seed, ulong stream, uint w[4])
{
    uint4 r = vd_philox4x32((uint4)((uint)j, 0u, (uint)stream, (uint)(stream >> 32)),
                            (uint2)((uint)seed, (uint)(seed >> 32)));
    w[0] = r.x;
    w[1] = r.y;
    w[2] = r.z;
    w[3] = r.w;
}

kernel void dropout_fwd(ulong n, float p, float scale, ulong seed, ulong stream,
                        global const float *x, ulong x_off, global float *y, ulong y_off)
{
    ulong j = get_global_id(0);
    if (j * 4 >= n)
        return;
    uint w[4];
    draw4(j, seed, stream, w);
    for (int k = 0; k < 4; k++) {
        ulong i = j * 4 + k;
        if (i < n)
            y[y_off + i] = vd_uniform(w[k]) >= p ? x[x_off + i] * scale : 0.0f;
    }
}

kernel void dropout_bwd(ulong n, float p, float scale, ulong seed, ulong stream,
                        global const float *dy, ulong dy_off, float beta, global float *dx,
                        ulong dx_off)
{
    ulong j = get_global_id(0);
    if (j * 4 >= n)
        return;
    uint w[4];
    draw4(j, seed, stream, w);
    for (int k = 0; k < 4; k++) {
        ulong i = j * 4 + k;
        if (i >= n)
            break;
        float g = vd_uniform(w[k]) >= p ? dy[dy_off + i] * scale : 0.0f;
        if (beta == 0.0f) /* a branch: ?: would load dx, unwritten when beta == 0 */
            dx[dx_off + i] = g;
        else
            dx[dx_off + i] = beta * dx[dx_off + i] + g;
    }
}

kernel void dropout_mask(ulong n, float p, float scale, ulong seed, ulong stream,
                         global float *y, ulong y_off)
{
    ulong j = get_global_id(0);
    if (j * 4 >= n)
        return;
    uint w[4];
    draw4(j, seed, stream, w);
    for (int k = 0; k < 4; k++) {
        ulong i = j * 4 + k;
        if (i < n)
            y[y_off + i] = vd_uniform(w[k]) >= p ? 1.0f : 0.0f;
    }
}

/* conv_fft.cl - the three kernels of FFT convolution that are not FFTs (those are clFFT's
 * own generated kernels, enqueued by src/ops/conv_fft.c): packing planes into zero-padded
 * N0 x N1 FFT planes, the pointwise complex multiply-accumulate over channels in the
 * frequency domain, and cropping the inverse transforms back into NCHW with beta.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Layouts (all planes contiguous, batch-major, as clFFT's batched 2-D transforms see them):
 *   real planes: (nplanes, N0, N1) floats
 *   spectra:     (nplanes, N0, N1/2 + 1) complex, interleaved (float2); F = N0*(N1/2 + 1)
 *
 * fft_pack: global nplanes, local 1: one work-item per padded plane (PoCL pays more for
 *           scheduling many small work-groups than for these copies):
 *           dst[b][u][v] = src[b][u - oh][v - ow] inside the (Hs, Ws) source plane, 0
 *           elsewhere (the launcher guarantees the source fits: oh + Hs <= N0,
 *           ow + Ws <= N1). Source planes are src_plane floats apart.
 * fft_mac:  global (F rounded up, ceil(nb/4), ceil(na/2)), one work-item per frequency f
 *           and a block of 2 x 4 outputs:
 *               O[a][b][f] = sum over j < nj, in order, of opA(A[a][j][f]) * opB(B[b][j][f])
 *           where op is the complex conjugate when its sign argument is -1 and the identity
 *           when +1. Strides (in complex elements) say where (a, j) and (b, j) live, so the
 *           one kernel serves the three passes: forward Y[i][k] = sum_c X[i][c] conj(W[k][c]),
 *           backward-data DX[i][c] = sum_k DY[i][k] W[k][c], backward-filter
 *           DW[k][c] = sum_i conj(DY[i][k]) X[i][c]. Neighbouring work-items read
 *           neighbouring frequencies; the j loop runs in a fixed order (no atomics), so the
 *           result is reproducible on one device.
 * fft_crop: global nplanes, local 1: one work-item per destination plane:
 *           dst[b][u][v] = beta * dst[b][u][v] + src[b][u + oh][v + ow]; dst is not read
 *           when beta == 0. clFFT's inverse already divides by N0*N1. */

kernel void fft_pack(int Hs, int Ws, int oh, int ow, int N0, int N1, int nplanes,
                     global const float *src, ulong src_off, ulong src_plane, global float *dst,
                     ulong dst_off)
{
    int b = (int)get_global_id(0);
    if (b >= nplanes)
        return;
    global const float *s = src + src_off + (ulong)b * src_plane;
    global float *d = dst + dst_off + (ulong)b * N0 * N1;
    for (int u = 0; u < N0; u++) {
        int i = u - oh;
        global float *dr = d + u * N1;
        if (i < 0 || i >= Hs) {
            for (int v = 0; v < N1; v++)
                dr[v] = 0.0f;
            continue;
        }
        global const float *sr = s + i * Ws;
        for (int v = 0; v < ow; v++)
            dr[v] = 0.0f;
        for (int j = 0; j < Ws; j++)
            dr[ow + j] = sr[j];
        for (int v = ow + Ws; v < N1; v++)
            dr[v] = 0.0f;
    }
}

/* opA(a) * opB(b) for conjugation signs ca, cb (+1 or -1). */
inline float2 vd_cmul_signed(float2 a, float ca, float2 b, float cb)
{
    float ai = ca * a.y, bi = cb * b.y;
    return (float2)(a.x * b.x - ai * bi, a.x * bi + ai * b.x);
}

kernel void fft_mac(int na, int nb, int nj, int F, ulong a_as, ulong a_js, float a_conj,
                    ulong b_bs, ulong b_js, float b_conj, ulong o_as, ulong o_bs,
                    global const float2 *A, ulong a_off, global const float2 *B, ulong b_off,
                    global float2 *O, ulong o_off)
{
    int f = (int)get_global_id(0);
    int b0 = (int)get_global_id(1) * 4, a0 = (int)get_global_id(2) * 2;
    if (f >= F || b0 >= nb || a0 >= na)
        return;
    /* Rows past the end are clamped to the last one (valid loads, results not stored). */
    int a1 = min(a0 + 1, na - 1);
    int bi1 = min(b0 + 1, nb - 1), bi2 = min(b0 + 2, nb - 1), bi3 = min(b0 + 3, nb - 1);
    global const float2 *pa0 = A + a_off + (ulong)a0 * a_as + f;
    global const float2 *pa1 = A + a_off + (ulong)a1 * a_as + f;
    global const float2 *pb0 = B + b_off + (ulong)b0 * b_bs + f;
    global const float2 *pb1 = B + b_off + (ulong)bi1 * b_bs + f;
    global const float2 *pb2 = B + b_off + (ulong)bi2 * b_bs + f;
    global const float2 *pb3 = B + b_off + (ulong)bi3 * b_bs + f;
    float2 s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    for (int j = 0; j < nj; j++) {
        ulong ja = (ulong)j * a_js, jb = (ulong)j * b_js;
        float2 x0 = pa0[ja], x1 = pa1[ja];
        float2 w0 = pb0[jb], w1 = pb1[jb], w2 = pb2[jb], w3 = pb3[jb];
        s00 += vd_cmul_signed(x0, a_conj, w0, b_conj);
        s01 += vd_cmul_signed(x0, a_conj, w1, b_conj);
        s02 += vd_cmul_signed(x0, a_conj, w2, b_conj);
        s03 += vd_cmul_signed(x0, a_conj, w3, b_conj);
        s10 += vd_cmul_signed(x1, a_conj, w0, b_conj);
        s11 += vd_cmul_signed(x1, a_conj, w1, b_conj);
        s12 += vd_cmul_signed(x1, a_conj, w2, b_conj);
        s13 += vd_cmul_signed(x1, a_conj, w3, b_conj);
    }
    global float2 *o0 = O + o_off + (ulong)a0 * o_as + (ulong)b0 * o_bs + f;
    int nbl = min(4, nb - b0);
    o0[0] = s00;
    if (nbl > 1)
        o0[o_bs] = s01;
    if (nbl > 2)
        o0[2 * o_bs] = s02;
    if (nbl > 3)
        o0[3 * o_bs] = s03;
    if (a0 + 1 < na) {
        global float2 *o1 = o0 + o_as;
        o1[0] = s10;
        if (nbl > 1)
            o1[o_bs] = s11;
        if (nbl > 2)
            o1[2 * o_bs] = s12;
        if (nbl > 3)
            o1[3 * o_bs] = s13;
    }
}

kernel void fft_crop(int Hd, int Wd, int oh, int ow, int N0, int N1, int nplanes,
                     global const float *src, ulong src_off, float beta, global float *dst,
                     ulong dst_off)
{
    int b = (int)get_global_id(0);
    if (b >= nplanes)
        return;
    global const float *s = src + src_off + ((ulong)b * N0 + oh) * N1 + ow;
    global float *d = dst + dst_off + (ulong)b * Hd * Wd;
    for (int u = 0; u < Hd; u++) {
        global const float *sr = s + u * N1;
        global float *dr = d + u * Wd;
        if (beta == 0.0f) {
            for (int v = 0; v < Wd; v++)
                dr[v] = sr[v];
        } else {
            for (int v = 0; v < Wd; v++)
                dr[v] = beta * dr[v] + sr[v];
        }
    }
}

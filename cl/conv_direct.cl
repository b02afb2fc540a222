/* conv_direct.cl - direct convolution for the shapes where im2col spends most of its time
 * copying: few input channels per group (C/groups <= 4: the first layer of a network on
 * grey or RGB images) and depthwise layers (groups == C). No column matrix, no GEMM; each
 * output is a plain sum over its taps. The launcher is src/ops/conv_direct.c; the
 * algorithm table entry (vd_conv_algo_direct) says which geometries go here.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Geometry as in conv.cl: input (C, H, W), kernel (R, S), stride (sh, sw), padding
 * (ph, pw), dilation (dh, dw), output (P, Q), G groups; Cg = C/G input and Kg = K/G output
 * channels per group. Output pixel (p, q) with tap (r, s) reads input
 * (p*sh - ph + r*dh, q*sw - pw + s*dw); taps outside the input read 0. Weights
 * (K, Cg, R, S). n images, NCHW.
 *
 * Why this shape of work: PoCL runs a work-group as a loop over its work-items and
 * vectorizes across dimension 0, so dimension 0 is always the fastest-moving image column
 * (q or w): neighbouring work-items read neighbouring floats, and the row index (p or h)
 * and channel are the same for the whole work-group, so the row tests and the weight
 * loads are uniform (scalar loads, branches that do not diverge). Loads outside the input
 * are clamped to a valid address and their value replaced by 0 (a select, not a branch).
 * Indices are 32-bit inside an image; the 64-bit part is one multiply per plane.
 *
 * direct_fwd:   global (Q rounded up to the local size, P, n*G*ceil(Kg/8)); local (l, 1, 1)
 *               with l a multiple of 8, at most 64. A work-item computes output pixel
 *               (p, q) of up to 8 consecutive output channels of one group of one image
 *               (each input load feeds 8 FMAs). y = beta*y + sum; y not read when beta == 0.
 * direct_bwd_data: global (W rounded up, H, n*G); a work-item computes dx at pixel (h, w)
 *               for the Cg <= 4 input channels of one group of one image, gathering over
 *               the Kg output channels of the group and the taps in (k, r, s) order (no
 *               atomics). dx = beta*dx + sum; dx not read when beta == 0.
 * direct_bwd_filter: global (l, Cg*R*S, K), local (l, 1, 1), l a power of two, at most
 *               64: one work-group per weight (k, c, r, s). Lane j sums over columns q = j,
 *               j + l, ... and, for each, over images and output rows in order; then the
 *               fixed tree of vd_group_sum. The order depends only on the shape and l, so
 *               dw is bit-reproducible. dw += sum. */

#define VD_DIRECT_KB 8 /* output channels per work-item in direct_fwd */

kernel void direct_fwd(int C, int H, int W, int K, int R, int S, int sh, int sw, int ph, int pw,
                       int dh, int dw, int P, int Q, int G, int n, global const float *x,
                       ulong x_off, global const float *wt, ulong w_off, float beta,
                       global float *y, ulong y_off)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1), z = (int)get_global_id(2);
    int Cg = C / G, Kg = K / G, nkb = (Kg + VD_DIRECT_KB - 1) / VD_DIRECT_KB;
    if (p >= P || z >= n * G * nkb)
        return;
    int img = z / (G * nkb), rest = z - img * (G * nkb);
    int g = rest / nkb, kb = rest - g * nkb;
    int k0 = g * Kg + kb * VD_DIRECT_KB;
    int kn = min(VD_DIRECT_KB, Kg - kb * VD_DIRECT_KB);
    bool qin = q < Q;
    int qc = qin ? q : Q - 1; /* lanes past the row compute a valid pixel, store nothing */
    float acc[VD_DIRECT_KB];
    for (int j = 0; j < VD_DIRECT_KB; j++)
        acc[j] = 0.0f;
    int RS = R * S, CgRS = Cg * RS;
    global const float *wk = wt + w_off + (ulong)k0 * CgRS;
    for (int c = 0; c < Cg; c++) {
        global const float *xc = x + x_off + ((ulong)img * C + g * Cg + c) * (ulong)H * W;
        for (int r = 0; r < R; r++) {
            int ih = p * sh - ph + r * dh;
            if (ih < 0 || ih >= H)
                continue;
            global const float *xr = xc + ih * W;
            global const float *wr = wk + c * RS + r * S;
            for (int s = 0; s < S; s++) {
                int iw = qc * sw - pw + s * dw;
                bool in = iw >= 0 && iw < W;
                float v = xr[in ? iw : 0];
                v = in ? v : 0.0f;
#pragma unroll
                for (int j = 0; j < VD_DIRECT_KB; j++)
                    if (j < kn)
                        acc[j] = fma(v, wr[j * CgRS + s], acc[j]);
            }
        }
    }
    if (!qin)
        return;
    ulong PQ = (ulong)P * Q;
    global float *yo = y + y_off + ((ulong)img * K + k0) * PQ + p * Q + q;
#pragma unroll
    for (int j = 0; j < VD_DIRECT_KB; j++) {
        if (j < kn) {
            global float *o = yo + j * PQ;
            *o = beta == 0.0f ? acc[j] : beta * *o + acc[j];
        }
    }
}

#define VD_DIRECT_CB 4 /* the most input channels per group direct_bwd_data handles */

kernel void direct_bwd_data(int C, int H, int W, int K, int R, int S, int sh, int sw, int ph,
                            int pw, int dh, int dw, int P, int Q, int G, int n,
                            global const float *dy, ulong dy_off, global const float *wt,
                            ulong w_off, float beta, global float *dx, ulong dx_off)
{
    int w = (int)get_global_id(0), h = (int)get_global_id(1), z = (int)get_global_id(2);
    if (h >= H || z >= n * G)
        return;
    int img = z / G, g = z - img * G;
    int Cg = C / G, Kg = K / G, RS = R * S, CgRS = Cg * RS;
    bool win = w < W;
    int wc = win ? w : W - 1;
    float acc[VD_DIRECT_CB];
    for (int j = 0; j < VD_DIRECT_CB; j++)
        acc[j] = 0.0f;
    ulong PQ = (ulong)P * Q;
    for (int kk = 0; kk < Kg; kk++) {
        int k = g * Kg + kk;
        global const float *dyk = dy + dy_off + ((ulong)img * K + k) * PQ;
        global const float *wk = wt + w_off + (ulong)k * CgRS;
        for (int r = 0; r < R; r++) {
            int th = h + ph - r * dh;
            if (th < 0)
                break; /* th only decreases with r */
            int p = th / sh;
            if (p * sh != th || p >= P)
                continue;
            global const float *dyr = dyk + p * Q;
            for (int s = 0; s < S; s++) {
                int tw = wc + pw - s * dw;
                int q = sw == 1 ? tw : tw / sw;
                bool in = tw >= 0 && q * sw == tw && q < Q;
                float v = dyr[in ? q : 0];
                v = in ? v : 0.0f;
#pragma unroll
                for (int j = 0; j < VD_DIRECT_CB; j++)
                    if (j < Cg)
                        acc[j] = fma(v, wk[j * RS + r * S + s], acc[j]);
            }
        }
    }
    if (!win)
        return;
    ulong HW = (ulong)H * W;
    global float *o = dx + dx_off + ((ulong)img * C + g * Cg) * HW + h * W + w;
#pragma unroll
    for (int j = 0; j < VD_DIRECT_CB; j++) {
        if (j < Cg) {
            global float *oj = o + j * HW;
            *oj = beta == 0.0f ? acc[j] : beta * *oj + acc[j];
        }
    }
}

kernel void direct_bwd_filter(int C, int H, int W, int K, int R, int S, int sh, int sw, int ph,
                              int pw, int dh, int dw, int P, int Q, int G, int n,
                              global const float *x, ulong x_off, global const float *dy,
                              ulong dy_off, global float *dwt, ulong dw_off, local float *buf)
{
    int lane = (int)get_local_id(0), lsz = (int)get_local_size(0);
    int j = (int)get_group_id(1), k = (int)get_group_id(2);
    int Cg = C / G, Kg = K / G, RS = R * S;
    int c = j / RS, rs = j - c * RS;
    int r = rs / S, s = rs - r * S;
    int g = k / Kg;
    /* Output rows whose tap r lands inside the input: ih = p*sh - ph + r*dh in [0, H). */
    int p0 = 0, p1 = P;
    int t0 = ph - r * dh; /* p*sh >= t0 */
    if (t0 > 0)
        p0 = (t0 + sh - 1) / sh;
    int t1 = H + ph - r * dh; /* p*sh < t1 */
    p1 = t1 <= 0 ? 0 : min(P, (t1 + sh - 1) / sh);
    ulong HW = (ulong)H * W, PQ = (ulong)P * Q;
    float acc = 0.0f;
    for (int q = lane; q < Q; q += lsz) {
        int iw = q * sw - pw + s * dw;
        if (iw < 0 || iw >= W)
            continue;
        for (int img = 0; img < n; img++) {
            global const float *xc = x + x_off + ((ulong)img * C + g * Cg + c) * HW + iw;
            global const float *dyk = dy + dy_off + ((ulong)img * K + k) * PQ + q;
            for (int p = p0; p < p1; p++)
                acc = fma(dyk[p * Q], xc[(p * sh - ph + r * dh) * W], acc);
        }
    }
    float sum = vd_group_sum(buf, acc);
    if (lane == 0)
        dwt[dw_off + (ulong)k * Cg * RS + j] += sum;
}

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
 * Why this shape of work (CPU devices, PoCL): a work-group of one work-item owns whole
 * planes. It first copies the planes it reads into __local memory with the zero padding
 * written out (so the inner loops have no bounds tests), then walks the output rows in
 * blocks of 8 columns held in float8 accumulators (the forward kernel: 16 columns, two
 * blocks sharing each weight broadcast, which was one load per FMA): one explicit vector
 * FMA per tap and output channel, loads from the staged plane (contiguous when the stride
 * is 1). Columns
 * past the row end are computed on staged zeros and not stored. Many small work-groups
 * would cost PoCL more in scheduling than the arithmetic they hold; one per plane (or per
 * plane and block of 8 output channels) keeps their number near n*K. Local memory is
 * sized by the launcher, which checks it against the device's limit.
 *
 * direct_fwd_k{1,2,4,6,8}: global n*G*ceil(Kg/KB), local 1. Work-group (img, group, block
 *     of KB output channels): stages the Cg input planes of the group, padded, as (Hs, Ws)
 *     planes with the image at (ph, pw), then y = beta*y + sum for each output channel of
 *     the block (y not read when beta == 0). The layer's epilogue rides on that store:
 *     epi bit 0 adds b[k] (b read only then), bit 1 applies ReLU (v > 0 ? v : 0, as
 *     act.cl), so a conv2d with a bias and relu = 1 writes y once.
 * direct_flip_weights: W' for backward-data at stride 1 and dilation 1, which the launcher
 *     runs as a forward convolution of dy with W' (channels swapped, taps turned) and
 *     padding R-1-pad: the forward kernel keeps its sums in registers.
 * direct_bwd_data: the other backward-data cases (strides, dilations, padding past R-1).
 *     Global n*G, local 1. Work-group (img, group): for each output channel k
 *     of the group in order, stages dy[img][k] spread out by the stride into a zeroed
 *     (Hs, Ws) plane (dy[p][q] at (p*sh + (R-1)*dh - ph, q*sw + (S-1)*dw - pw)), which
 *     turns the transposed convolution into a stride-1 correlation with the flipped
 *     kernel; sums into a __local (Cg, H, W8) accumulator; finally dx = beta*dx + acc.
 * direct_bwd_filter: global K*Cg, local 1. Work-group (k, c): for each image in order,
 *     stages x[img][group c] padded like direct_fwd and dy[img][k] as a (P, Q8) plane
 *     with zero columns, and adds each tap's float8 partial sums over the image into a
 *     __local (R*S, 8) accumulator; at the end each tap's 8 lanes are added in a fixed
 *     tree and dw += that. Fixed order throughout, no atomics: bit-reproducible. */

/* n floats of dst = 0. */
inline void vd_local_zero(local float *dst, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = 0.0f;
}

/* Copy an (Hs, Ws) plane into a zeroed (.., Wl) local plane at (oh + i*step_h,
 * ow + j*step_w), skipping what falls outside rows [0, Hl) and columns [0, Wl). */
inline void vd_stage_plane(local float *dst, int Hl, int Wl, global const float *src, int Hs,
                           int Ws, int oh, int ow, int step_h, int step_w)
{
    for (int i = 0; i < Hs; i++) {
        int t = oh + i * step_h;
        if (t < 0 || t >= Hl)
            continue;
        local float *d = dst + t * Wl;
        global const float *s = src + i * Ws;
        if (step_w == 1 && ow >= 0 && ow + Ws <= Wl) {
            for (int j = 0; j < Ws; j++)
                d[ow + j] = s[j];
        } else {
            for (int j = 0; j < Ws; j++) {
                int u = ow + j * step_w;
                if (u >= 0 && u < Wl)
                    d[u] = s[j];
            }
        }
    }
}

/* Eight staged values p[0], p[st], ..., p[7*st]. */
inline float8 vd_load8_strided(local const float *p, int st)
{
    if (st == 1)
        return vload8(0, p);
    return (float8)(p[0], p[st], p[2 * st], p[3 * st], p[4 * st], p[5 * st], p[6 * st],
                    p[7 * st]);
}

/* dst[0..m) = beta * dst + v[0..m) for the first m <= 8 lanes (dst not read if beta == 0). */
inline void vd_store8_beta(global float *dst, float8 v, int m, float beta)
{
    if (m >= 8) {
        vstore8(beta == 0.0f ? v : beta * vload8(0, dst) + v, 0, dst);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int i = 0; i < m; i++)
        dst[i] = beta == 0.0f ? t[i] : beta * dst[i] + t[i];
}

/* As vd_store8_beta, then the epilogue: + bias (epi & 1), ReLU (epi & 2). The bias is added
 * after the beta term, in the order the separate bias pass would add it. */
inline void vd_store8_epi(global float *dst, float8 v, int m, float beta, int epi, float bias)
{
    if (epi == 0) {
        vd_store8_beta(dst, v, m, beta);
        return;
    }
    if (m >= 8) {
        float8 u = beta == 0.0f ? v : beta * vload8(0, dst) + v;
        if (epi & 1)
            u += (float8)(bias);
        if (epi & 2) /* u > 0 ? u : 0 per lane (isgreater is -1 where true) */
            u = select((float8)(0.0f), u, isgreater(u, (float8)(0.0f)));
        vstore8(u, 0, dst);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int i = 0; i < m; i++) {
        float u = beta == 0.0f ? t[i] : beta * dst[i] + t[i];
        if (epi & 1)
            u += bias;
        dst[i] = (epi & 2) ? (u > 0.0f ? u : 0.0f) : u;
    }
}

/* The forward kernels' work-group: (img, group g, block kb of kbw output channels) from
 * the global id, and the group's Cg input planes staged into zeroed (Hs, Ws) __local
 * planes with the image at (ph, pw). false past the last work-group. */
inline bool vd_fwd_block(int C, int H, int W, int K, int G, int n, int kbw,
                         global const float *x, ulong x_off, local float *xs, int Hs, int Ws,
                         int ph, int pw, int *img, int *g, int *kb)
{
    int z = (int)get_global_id(0);
    int Cg = C / G, nkb = (K / G + kbw - 1) / kbw;
    if (z >= n * G * nkb)
        return false;
    *img = z / (G * nkb);
    int rest = z - *img * (G * nkb);
    *g = rest / nkb, *kb = rest - *g * nkb;
    int plane = Hs * Ws;
    ulong HW = (ulong)H * W;
    vd_local_zero(xs, Cg * plane);
    for (int c = 0; c < Cg; c++)
        vd_stage_plane(xs + c * plane, Hs, Ws, x + x_off + ((ulong)*img * C + *g * Cg + c) * HW,
                       H, W, ph, pw, 1, 1);
    return true;
}

/* direct_fwd_k<KB>: KB output channels per work-group (1, 2, 4, 6 or 8; the launcher takes
 * 6 for exactly 6, else the smallest that covers min(Kg, 8)). All KB accumulators are
 * updated on every tap, with a block past the group's last channel repeating that channel's weights and storing
 * nothing: fixed-size loops keep the accumulators in registers. */
#define VD_DIRECT_FWD(KB)                                                                      \
    kernel void direct_fwd_k##KB(int C, int H, int W, int K, int R, int S, int sh, int sw,     \
                                 int ph, int pw, int dh, int dw, int P, int Q, int G, int n,   \
                                 global const float *x, ulong x_off, global const float *wt,   \
                                 ulong w_off, float beta, global float *y, ulong y_off,        \
                                 local float *xs, int Hs, int Ws, int epi,                     \
                                 global const float *b, ulong b_off)                           \
    {                                                                                          \
        int img, g, kb;                                                                        \
        if (!vd_fwd_block(C, H, W, K, G, n, KB, x, x_off, xs, Hs, Ws, ph, pw, &img, &g, &kb))    \
            return;                                                                            \
        int Cg = C / G, Kg = K / G, k0 = g * Kg + kb * KB;                                     \
        int kn = min(KB, Kg - kb * KB);                                                        \
        int plane = Hs * Ws;                                                                   \
        int RS = R * S, CgRS = Cg * RS;                                                        \
        global const float *wk = wt + w_off + (ulong)k0 * CgRS;                                \
        int wj[KB];                                                                            \
        for (int j = 0; j < KB; j++)                                                           \
            wj[j] = min(j, kn - 1) * CgRS;                                                     \
        ulong PQ = (ulong)P * Q;                                                               \
        global float *yk = y + y_off + ((ulong)img * K + k0) * PQ;                             \
        for (int p = 0; p < P; p++) {                                                          \
            for (int q0 = 0; q0 < Q; q0 += 16) {                                               \
                float8 acc[KB], acc1[KB];                                                      \
                _Pragma("unroll") for (int j = 0; j < KB; j++) acc[j] = acc1[j] = 0.0f;        \
                for (int c = 0; c < Cg; c++) {                                                 \
                    for (int r = 0; r < R; r++) {                                              \
                        local const float *xr =                                                \
                            xs + c * plane + (p * sh + r * dh) * Ws + q0 * sw;                 \
                        global const float *wr = wk + c * RS + r * S;                          \
                        for (int s = 0; s < S; s++) {                                          \
                            float8 xv = vd_load8_strided(xr + s * dw, sw);                     \
                            float8 xv1 = vd_load8_strided(xr + s * dw + 8 * sw, sw);           \
                            _Pragma("unroll") for (int j = 0; j < KB; j++) {                   \
                                float8 wv = (float8)(wr[wj[j] + s]);                           \
                                acc[j] = fma(wv, xv, acc[j]);                                  \
                                acc1[j] = fma(wv, xv1, acc1[j]);                               \
                            }                                                                  \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
                int m = min(8, Q - q0), m1 = min(8, Q - q0 - 8);                               \
                _Pragma("unroll") for (int j = 0; j < KB; j++) if (j < kn) {                   \
                    float bj = (epi & 1) ? b[b_off + k0 + j] : 0.0f;                           \
                    global float *yj = yk + j * PQ + p * Q + q0;                               \
                    vd_store8_epi(yj, acc[j], m, beta, epi, bj);                               \
                    if (m1 > 0)                                                                \
                        vd_store8_epi(yj + 8, acc1[j], m1, beta, epi, bj);                     \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

VD_DIRECT_FWD(1)
VD_DIRECT_FWD(2)
VD_DIRECT_FWD(4)
VD_DIRECT_FWD(6)
VD_DIRECT_FWD(8)

/* direct_fwd_v<KV>: the forward with KV output channels along the vector lanes, for layers
 * whose output rows are short (LeNet-5's second layer: Q = 10, where direct_fwd_k8's blocks
 * of 16 columns compute 6 of them on padding) or whose filter count leaves direct_fwd_k's
 * channel blocks part empty. Work-group (img, group, block of KV output channels), one
 * work-item, stages the group's input planes as direct_fwd_k does, then walks the P*Q
 * output pixels of the plane in blocks of VD_FWDV_PB, flattened (no row padding is
 * computed): per tap, one vector load of the KV channels' weights, shared by the block's
 * pixels, and per pixel one staged input value broadcast into an FMA. Weights come packed
 * by direct_pack_weights_v: (G, nkb, Cg, R, S, KV), a block's lanes past the group's last
 * channel repeating it (computed, not stored). The epilogue (bias, ReLU) as direct_fwd_k. */
#define VD_FWDV_PB 8
#define VD_DIRECT_FWD_V(KV)                                                                    \
    kernel void direct_fwd_v##KV(int C, int H, int W, int K, int R, int S, int sh, int sw,     \
                                 int ph, int pw, int dh, int dw, int P, int Q, int G, int n,   \
                                 global const float *x, ulong x_off, global const float *wp,   \
                                 ulong wp_off, float beta, global float *y, ulong y_off,       \
                                 local float *xs, int Hs, int Ws, int epi,                     \
                                 global const float *b, ulong b_off)                           \
    {                                                                                          \
        int img, g, kb;                                                                        \
        if (!vd_fwd_block(C, H, W, K, G, n, KV, x, x_off, xs, Hs, Ws, ph, pw, &img, &g, &kb))    \
            return;                                                                            \
        int Cg = C / G, Kg = K / G, k0 = g * Kg + kb * KV;                                     \
        int kn = min(KV, Kg - kb * KV);                                                        \
        int plane = Hs * Ws;                                                                   \
        int RS = R * S, PQ = P * Q;                                                            \
        int nkb = (Kg + KV - 1) / KV;                                                          \
        global const float *wb = wp + wp_off + (ulong)(g * nkb + kb) * Cg * RS * KV;           \
        global float *yk = y + y_off + ((ulong)img * K + k0) * (ulong)PQ;                      \
        for (int i0 = 0; i0 < PQ; i0 += VD_FWDV_PB) {                                          \
            int base[VD_FWDV_PB];                                                              \
            float##KV acc[VD_FWDV_PB];                                                         \
            _Pragma("unroll") for (int i = 0; i < VD_FWDV_PB; i++) {                           \
                int pix = min(i0 + i, PQ - 1), p = pix / Q;                                    \
                base[i] = p * sh * Ws + (pix - p * Q) * sw;                                    \
                acc[i] = 0.0f;                                                                 \
            }                                                                                  \
            for (int c = 0; c < Cg; c++) {                                                     \
                for (int r = 0; r < R; r++) {                                                  \
                    local const float *xr = xs + c * plane + r * dh * Ws;                      \
                    global const float *wr = wb + (c * R + r) * S * KV;                        \
                    for (int s = 0; s < S; s++) {                                              \
                        float##KV wv = vload##KV(s, wr);                                       \
                        local const float *xt = xr + s * dw;                                   \
                        _Pragma("unroll") for (int i = 0; i < VD_FWDV_PB; i++)                 \
                            acc[i] = fma((float##KV)(xt[base[i]]), wv, acc[i]);                \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            int m = min(VD_FWDV_PB, PQ - i0);                                                  \
            float t[VD_FWDV_PB * KV];                                                          \
            _Pragma("unroll") for (int i = 0; i < VD_FWDV_PB; i++) vstore##KV(acc[i], i, t);   \
            for (int j = 0; j < kn; j++) {                                                     \
                float bj = (epi & 1) ? b[b_off + k0 + j] : 0.0f;                               \
                global float *yj = yk + (ulong)j * PQ + i0;                                    \
                for (int i = 0; i < m; i++) {                                                  \
                    float u = beta == 0.0f ? t[i * KV + j] : beta * yj[i] + t[i * KV + j];     \
                    if (epi & 1)                                                               \
                        u += bj;                                                               \
                    yj[i] = (epi & 2) ? (u > 0.0f ? u : 0.0f) : u;                             \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

VD_DIRECT_FWD_V(8)
VD_DIRECT_FWD_V(16)

/* W (K, Cg, R, S) with G groups -> the (G, nkb, Cg*R*S, KV) layout of direct_fwd_v<KV>
 * (nkb = ceil(Kg / KV)): wp[((g*nkb + kb)*CgRS + t)*KV + j] = W[g*Kg + min(kb*KV + j,
 * Kg - 1)][t]. Global: every element of wp, one work-item each. */
kernel void direct_pack_weights_v(ulong nwp, int Kg, int CgRS, int KV, global const float *w,
                                  ulong w_off, global float *wp, ulong wp_off)
{
    ulong i = get_global_id(0);
    if (i >= nwp)
        return;
    int nkb = (Kg + KV - 1) / KV;
    int j = (int)(i % (ulong)KV);
    ulong rest = i / (ulong)KV;
    int t = (int)(rest % (ulong)CgRS);
    ulong gb = rest / (ulong)CgRS; /* g*nkb + kb */
    ulong g = gb / (ulong)nkb;
    int kb = (int)(gb - g * (ulong)nkb);
    int k = min(kb * KV + j, Kg - 1);
    wp[wp_off + i] = w[w_off + (g * (ulong)Kg + (ulong)k) * (ulong)CgRS + (ulong)t];
}

/* W (K, Cg, R, S) with G groups -> W' (C, Kg, R, S): W'[g*Cg + c][k][t] =
 * W[g*Kg + k][c][taps-1-t] (channels swapped within the group, taps turned by 180
 * degrees), for backward-data run as a forward convolution (src/ops/conv_direct.c).
 * Global: every element of W', one work-item each. */
kernel void direct_flip_weights(ulong nw, int Cg, int Kg, int taps, global const float *w,
                                ulong w_off, global float *wt, ulong wt_off)
{
    ulong i = get_global_id(0);
    if (i >= nw)
        return;
    int t = (int)(i % (ulong)taps);
    ulong rest = i / (ulong)taps;
    int k = (int)(rest % (ulong)Kg);
    ulong gc = rest / (ulong)Kg; /* g*Cg + c */
    ulong g = gc / (ulong)Cg, c = gc - g * (ulong)Cg;
    wt[wt_off + i] = w[w_off + ((g * (ulong)Kg + (ulong)k) * (ulong)Cg + c) * (ulong)taps +
                       (ulong)(taps - 1 - t)];
}

kernel void direct_bwd_data(int C, int H, int W, int K, int R, int S, int sh, int sw, int ph,
                            int pw, int dh, int dw, int P, int Q, int G, int n,
                            global const float *dy, ulong dy_off, global const float *wt,
                            ulong w_off, float beta, global float *dx, ulong dx_off,
                            local float *ds, local float *acc, int Hs, int Ws, int W8)
{
    int z = (int)get_global_id(0);
    if (z >= n * G)
        return;
    int img = z / G, g = z - img * G;
    int Cg = C / G, Kg = K / G, RS = R * S, CgRS = Cg * RS;
    ulong PQ = (ulong)P * Q, HW = (ulong)H * W;
    vd_local_zero(acc, Cg * H * W8);
    for (int kk = 0; kk < Kg; kk++) {
        int k = g * Kg + kk;
        vd_local_zero(ds, Hs * Ws);
        vd_stage_plane(ds, Hs, Ws, dy + dy_off + ((ulong)img * K + k) * PQ, P, Q,
                       (R - 1) * dh - ph, (S - 1) * dw - pw, sh, sw);
        global const float *wk = wt + w_off + (ulong)k * CgRS;
        for (int c = 0; c < Cg; c++) {
            for (int h = 0; h < H; h++) {
                local float *ar = acc + (c * H + h) * W8;
                for (int w0 = 0; w0 < W; w0 += 8) {
                    float8 a = vload8(0, ar + w0);
                    for (int r = 0; r < R; r++) {
                        local const float *dr = ds + (h + (R - 1 - r) * dh) * Ws + w0;
                        global const float *wr = wk + c * RS + r * S;
                        for (int s = 0; s < S; s++)
                            a = fma((float8)(wr[s]), vload8(0, dr + (S - 1 - s) * dw), a);
                    }
                    vstore8(a, 0, ar + w0);
                }
            }
        }
    }
    global float *dxg = dx + dx_off + ((ulong)img * C + g * Cg) * HW;
    for (int c = 0; c < Cg; c++)
        for (int h = 0; h < H; h++)
            for (int w0 = 0; w0 < W; w0 += 8)
                vd_store8_beta(dxg + c * HW + h * W + w0, vload8(0, acc + (c * H + h) * W8 + w0),
                               min(8, W - w0), beta);
}

kernel void direct_bwd_filter(int C, int H, int W, int K, int R, int S, int sh, int sw, int ph,
                              int pw, int dh, int dw, int P, int Q, int G, int n,
                              global const float *x, ulong x_off, global const float *dy,
                              ulong dy_off, global float *dwt, ulong dw_off, local float *xs,
                              local float *dys, local float *acc, int Hs, int Ws, int Q8)
{
    int z = (int)get_global_id(0);
    int Cg = C / G, Kg = K / G, RS = R * S;
    if (z >= K * Cg)
        return;
    int k = z / Cg, c = z - k * Cg, g = k / Kg;
    ulong PQ = (ulong)P * Q, HW = (ulong)H * W;
    vd_local_zero(acc, RS * 8);
    vd_local_zero(xs, Hs * Ws);
    vd_local_zero(dys, P * Q8);
    /* 3x3 and 5x5, stride 1, dilation 1 (VGG's and LeNet-5's first layers, LeNet's
     * second): the taps' sums in registers, each dy block loaded once for all of them and
     * each tap's window an unaligned vload8 of the staged row (the general loop below runs
     * one tap at a time on one dependent chain). The windows are not swizzles of one
     * vload16: Oclgrind 21.10 takes lane 11 of any 16-lane shuffle for undefined and
     * reported every such fma as uninitialised (docs/GPU.md). Ws >= Q8 + 8 (launcher), so
     * the last window of a row stays inside it. The two sizes are written out: one
     * always-inline helper taking the tap array and the size (the Winograd kernels' way)
     * kept the sums out of registers here and measured 1.5-2x slower (LeNet-5 c2). */
    bool k5 = R == 5 && S == 5 && sh == 1 && sw == 1 && dh == 1 && dw == 1;
    bool k3 = R == 3 && S == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1;
    float8 t5[25];
    for (int t = 0; t < 25; t++)
        t5[t] = 0.0f;
    for (int img = 0; img < n; img++) {
        /* The padding and the columns past Q stay zero from the first clear: every image
         * overwrites the same interior positions. */
        vd_stage_plane(xs, Hs, Ws, x + x_off + ((ulong)img * C + g * Cg + c) * HW, H, W, ph, pw,
                       1, 1);
        vd_stage_plane(dys, P, Q8, dy + dy_off + ((ulong)img * K + k) * PQ, P, Q, 0, 0, 1, 1);
        if (k5) {
            for (int p = 0; p < P; p++)
                for (int q0 = 0; q0 < Q; q0 += 8) {
                    float8 d = vload8(0, dys + p * Q8 + q0);
                    for (int r = 0; r < 5; r++) {
                        local const float *xr = xs + (p + r) * Ws + q0;
                        for (int s = 0; s < 5; s++)
                            t5[r * 5 + s] = fma(d, vload8(0, xr + s), t5[r * 5 + s]);
                    }
                }
            continue;
        }
        if (k3) {
            for (int p = 0; p < P; p++)
                for (int q0 = 0; q0 < Q; q0 += 8) {
                    float8 d = vload8(0, dys + p * Q8 + q0);
                    for (int r = 0; r < 3; r++) {
                        local const float *xr = xs + (p + r) * Ws + q0;
                        for (int s = 0; s < 3; s++)
                            t5[r * 3 + s] = fma(d, vload8(0, xr + s), t5[r * 3 + s]);
                    }
                }
            continue;
        }
        for (int r = 0; r < R; r++) {
            for (int s = 0; s < S; s++) {
                float8 a = (float8)(0.0f);
                for (int p = 0; p < P; p++) {
                    local const float *xr = xs + (p * sh + r * dh) * Ws + s * dw;
                    local const float *dr = dys + p * Q8;
                    for (int q0 = 0; q0 < Q; q0 += 8)
                        a = fma(vload8(0, dr + q0), vd_load8_strided(xr + q0 * sw, sw), a);
                }
                local float *ap = acc + (r * S + s) * 8;
                vstore8(vload8(0, ap) + a, 0, ap);
            }
        }
    }
    if (k5 || k3)
        for (int t = 0; t < RS; t++)
            vstore8(t5[t], t, acc);
    global float *dwk = dwt + dw_off + ((ulong)k * Cg + c) * RS;
    for (int rs = 0; rs < RS; rs++) {
        float8 v = vload8(0, acc + rs * 8);
        float4 h4 = v.lo + v.hi;
        float2 h2 = h4.lo + h4.hi;
        dwk[rs] += h2.x + h2.y;
    }
}

/* winograd.cl - the transforms of Winograd convolution F(2x2,3x3) and F(4x4,3x3) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016). The alpha^2
 * matrix products between them go through vd_gemm (src/ops/conv_winograd.c); this file
 * holds only the transforms, for 3x3 stride-1 ungrouped convolutions.
 *
 * -D switches: none. Every shape is an argument; the tile size m (2 or 4, alpha = m + 2)
 * is the kernel name's digit (wino2_*, wino4_*), so both variants live in one program and
 * their kernels come from the context's kernel cache. One body per transform takes m as a
 * constant, so each kernel compiles to straight-line code with its arrays in registers.
 *
 * Tiles. An output plane (P, Q) is cut into TH x TW tiles of m x m (TH = ceil(P/m)); tile
 * (th, tw) of image img is t = (img*TH + th)*TW + tw, T tiles in all. It reads the
 * alpha x alpha input patch at rows th*m - ph .. +alpha-1, columns tw*m - pw .. +alpha-1
 * (zero outside the input). Transformed tensors are alpha^2 matrices (channels, T), one
 * per element e = i*alpha + j of the transform, es floats apart (es >= channels*T, chosen
 * by the host so that the alpha^2 streams do not alias in the cache), so that each e is
 * one matrix for the GEMMs and the work-items of a work-group (consecutive t) write
 * consecutive addresses.
 *
 * Matrices (F(2,3) / F(4,3), Lavin's interpolation points 0, +-1, (+-2), inf):
 *   input   V = B^T d B        (alpha x alpha from the alpha x alpha patch d)
 *   weights U = G g G^T        (alpha x alpha from the 3x3 filter g)
 *   output  y = A^T M A        (m x m from the alpha x alpha product M)
 * and, for the filter gradient, the adjoints of the last two (the forward tile y is
 * linear in U, so dL/dU = (A dY A^T) (.) V and dL/dg = G^T (dL/dU) G):
 *   dy      Z = A dY A^T       (alpha x alpha from the m x m gradient tile dY)
 *   dw      dg = G^T dU G      (3 x 3 from alpha x alpha)
 *
 * Kernels (X = 2 or 4). Global sizes are rounded up to the local size (default: 64 in
 * dimension 0, 1 in dimension 1); work-items past the end return.
 *   winoX_weight: global K*C, one work-item per filter i = k*C + c:
 *       u[e*es + i] = (G g G^T)[e], g = w[i*9 ..] or, with flip != 0, rotated by 180
 *       degrees (backward data).
 *   winoX_input:  global rows = n*C*TH, one work-item per row of tiles r = (img*C + c)*TH
 *       + th of x (n, C, H, W), 8 tiles at a time in float8 lanes (one lane per tile):
 *       v[e*es + c*T + t] = (B^T d B)[e] for every tile t of the row, stored as float8.
 *   winoX_output: global rows = n*K*TH, one work-item per row of tiles (img, k, th),
 *       8 tiles at a time: y[img][k][tile pixels inside (P, Q)] = beta*y + (A^T M A),
 *       M[e] = m[e*es + k*T + t]; the lanes of each output row are interleaved into
 *       contiguous float16 stores. y is not read when beta == 0 (NaNs do not propagate).
 *       Then the forward epilogue (winoX_fused too): epi bit 0 adds b[k], bit 1 applies
 *       ReLU as act.cl does (backward data: epi 0).
 *   winoX_dy:     global (T, K), one work-item per (tile t, channel k) of dy (n, K, P, Q):
 *       z[e*es + k*T + t] = (A dY A^T)[e], dY zero past P and Q.
 *   winoX_wgrad:  global K*C, one work-item per filter i = k*C + c:
 *       dw[i*9 + r*3 + s] += (G^T dU G)[r][s], dU[e] = du[e*es + i].
 * Only 32-bit divisions, once per tile or row of tiles; addresses are 64-bit. Loads near
 * the border read a clamped address and select zero, so every tile runs the same
 * branch-free code. The per-tile kernels (weight, dy, wgrad) are left to PoCL's
 * vectoriser across work-items; input and output, the two passes over the big tensors,
 * are written with explicit float8 lanes. */

#define VD_WINO_AMAX 6
/* PoCL inlines by cost before it builds the work-item loop; a transform left as a call
 * keeps its arrays on the stack and stops the loop from being vectorised across
 * work-items, so every helper is forced inline. */
#define VD_WINO_INLINE inline __attribute__((always_inline))

/* 1-D transforms over strided private arrays: rows with stride 1, columns with stride
 * alpha (or m, or 3). m is a compile-time constant at every call site. One set for
 * float (per tile) and one for float8 (8 tiles of a tile row side by side). */
#define VD_WINO_1D(TYPE, SUF)                                                                      \
/* o = B^T d: alpha -> alpha. */                                                                   \
VD_WINO_INLINE void vd_wino_bt##SUF(const int m, const TYPE *d, const int ds,                      \
                                     TYPE *o, const int os)                                        \
{                                                                                                  \
    if (m == 2) {                                                                                  \
        TYPE d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];                                \
        o[0] = d0 - d2;                                                                            \
        o[os] = d1 + d2;                                                                           \
        o[2 * os] = d2 - d1;                                                                       \
        o[3 * os] = d1 - d3;                                                                       \
    } else {                                                                                       \
        TYPE d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],                \
              d5 = d[5 * ds];                                                                      \
        o[0] = 4.0f * d0 - 5.0f * d2 + d4;                                                         \
        o[os] = (d3 + d4) - 4.0f * (d1 + d2);                                                      \
        o[2 * os] = 4.0f * (d1 - d2) + (d4 - d3);                                                  \
        o[3 * os] = 2.0f * (d3 - d1) + (d4 - d2);                                                  \
        o[4 * os] = 2.0f * (d1 - d3) + (d4 - d2);                                                  \
        o[5 * os] = 4.0f * d1 - 5.0f * d3 + d5;                                                    \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* o = G g: 3 -> alpha. */                                                                         \
VD_WINO_INLINE void vd_wino_g##SUF(const int m, const TYPE *g, const int gs,                       \
                                     TYPE *o, const int os)                                        \
{                                                                                                  \
    TYPE g0 = g[0], g1 = g[gs], g2 = g[2 * gs];                                                    \
    if (m == 2) {                                                                                  \
        o[0] = g0;                                                                                 \
        o[os] = 0.5f * (g0 + g1 + g2);                                                             \
        o[2 * os] = 0.5f * (g0 - g1 + g2);                                                         \
        o[3 * os] = g2;                                                                            \
    } else {                                                                                       \
        TYPE s = g0 + g2;                                                                          \
        o[0] = 0.25f * g0;                                                                         \
        o[os] = (-1.0f / 6.0f) * (s + g1);                                                         \
        o[2 * os] = (-1.0f / 6.0f) * (s - g1);                                                     \
        o[3 * os] = (1.0f / 24.0f) * g0 + (1.0f / 12.0f) * g1 + (1.0f / 6.0f) * g2;                \
        o[4 * os] = (1.0f / 24.0f) * g0 - (1.0f / 12.0f) * g1 + (1.0f / 6.0f) * g2;                \
        o[5 * os] = g2;                                                                            \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* o = A^T v: alpha -> m. */                                                                       \
VD_WINO_INLINE void vd_wino_at##SUF(const int m, const TYPE *v, const int vs,                      \
                                     TYPE *o, const int os)                                        \
{                                                                                                  \
    if (m == 2) {                                                                                  \
        TYPE v0 = v[0], v1 = v[vs], v2 = v[2 * vs], v3 = v[3 * vs];                                \
        o[0] = v0 + v1 + v2;                                                                       \
        o[os] = v1 - v2 - v3;                                                                      \
    } else {                                                                                       \
        TYPE v0 = v[0], v1 = v[vs], v2 = v[2 * vs], v3 = v[3 * vs], v4 = v[4 * vs],                \
              v5 = v[5 * vs];                                                                      \
        TYPE sp = v1 + v2, sm = v1 - v2, tp = v3 + v4, tm = v3 - v4;                               \
        o[0] = v0 + sp + tp;                                                                       \
        o[os] = sm + 2.0f * tm;                                                                    \
        o[2 * os] = sp + 4.0f * tp;                                                                \
        o[3 * os] = sm + 8.0f * tm + v5;                                                           \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* o = A d: m -> alpha (adjoint of vd_wino_at). */                                                 \
VD_WINO_INLINE void vd_wino_a##SUF(const int m, const TYPE *d, const int ds,                       \
                                     TYPE *o, const int os)                                        \
{                                                                                                  \
    if (m == 2) {                                                                                  \
        TYPE d0 = d[0], d1 = d[ds];                                                                \
        o[0] = d0;                                                                                 \
        o[os] = d0 + d1;                                                                           \
        o[2 * os] = d0 - d1;                                                                       \
        o[3 * os] = -d1;                                                                           \
    } else {                                                                                       \
        TYPE d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];                                \
        TYPE e = d0 + d2, od = d1 + d3, e4 = d0 + 4.0f * d2, od8 = 2.0f * d1 + 8.0f * d3;          \
        o[0] = d0;                                                                                 \
        o[os] = e + od;                                                                            \
        o[2 * os] = e - od;                                                                        \
        o[3 * os] = e4 + od8;                                                                      \
        o[4 * os] = e4 - od8;                                                                      \
        o[5 * os] = d3;                                                                            \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* o = G^T u: alpha -> 3 (adjoint of vd_wino_g). */                                                \
VD_WINO_INLINE void vd_wino_gt##SUF(const int m, const TYPE *u, const int us,                      \
                                     TYPE *o, const int os)                                        \
{                                                                                                  \
    if (m == 2) {                                                                                  \
        TYPE u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us];                                \
        o[0] = u0 + 0.5f * (u1 + u2);                                                              \
        o[os] = 0.5f * (u1 - u2);                                                                  \
        o[2 * os] = 0.5f * (u1 + u2) + u3;                                                         \
    } else {                                                                                       \
        TYPE u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us],                \
              u5 = u[5 * us];                                                                      \
        TYPE s12 = u1 + u2, d12 = u2 - u1, s34 = u3 + u4, d34 = u3 - u4;                           \
        o[0] = 0.25f * u0 - (1.0f / 6.0f) * s12 + (1.0f / 24.0f) * s34;                            \
        o[os] = (1.0f / 6.0f) * d12 + (1.0f / 12.0f) * d34;                                        \
        o[2 * os] = (1.0f / 6.0f) * (s34 - s12) + u5;                                              \
    }                                                                                              \
}

VD_WINO_1D(float, )
VD_WINO_1D(float8, 8)
VD_WINO_1D(float16, 16)

/* Tile t -> image, tile row, tile column (32-bit divisions, once per work-item). */
VD_WINO_INLINE void vd_wino_tile(uint t, int TH, int TW, uint *img, int *th, int *tw)
{
    uint tpi = (uint)TH * (uint)TW;
    uint i = t / tpi, r = t - i * tpi, h = r / (uint)TW;
    *img = i;
    *th = (int)h;
    *tw = (int)(r - h * (uint)TW);
}

/* o = G g G^T for the 3x3 filter at wp (rotated by 180 degrees when flip != 0). */
VD_WINO_INLINE void vd_wino_filter(const int m, global const float *wp, int flip, float *o)
{
    const int a = m + 2;
    float g[9], tmp[VD_WINO_AMAX * 3];
    for (int r = 0; r < 9; r++)
        g[r] = wp[flip ? 8 - r : r];
    for (int s = 0; s < 3; s++) /* columns: G g */
        vd_wino_g(m, g + s, 3, tmp + s, 3);
    for (int r = 0; r < a; r++) /* rows: (G g) G^T */
        vd_wino_g(m, tmp + r * 3, 1, o + r * a, 1);
}

VD_WINO_INLINE void vd_wino_weight(const int m, int K, int C, int flip, global const float *w,
                           ulong w_off, global float *u, ulong u_off, ulong es)
{
    const int a = m + 2;
    uint i = get_global_id(0);
    if (i >= (uint)K * (uint)C)
        return;
    float o[VD_WINO_AMAX * VD_WINO_AMAX];
    vd_wino_filter(m, w + w_off + (ulong)i * 9, flip, o);
    global float *up = u + u_off + i;
    for (int e = 0; e < a * a; e++)
        up[e * es] = o[e];
}

/* Row r = (img*C + c)*TH + th of tiles -> (plane img*C + c, tile row th, first tile t). */
VD_WINO_INLINE void vd_wino_row(uint r, int C, int TH, int TW, uint *plane, int *th, uint *t0)
{
    uint p = r / (uint)TH, h = r - p * (uint)TH, img = p / (uint)C;
    *plane = p;
    *th = (int)h;
    *t0 = (img * (uint)TH + h) * (uint)TW;
}

VD_WINO_INLINE void vd_wino_input(const int m, uint rows, int C, int H, int W, int ph, int pw,
                                  int TH, int TW, uint T, global const float *x, ulong x_off,
                                  global float *v, ulong v_off, ulong es)
{
    const int a = m + 2;
    uint r = get_global_id(0);
    if (r >= rows)
        return;
    uint plane, t0;
    int th;
    vd_wino_row(r, C, TH, TW, &plane, &th, &t0);
    uint c = plane % (uint)C;
    global const float *xp = x + x_off + (ulong)plane * ((ulong)H * (ulong)W);
    global float *vp = v + v_off + (ulong)c * T + t0;
    int h0 = th * m - ph;
    for (int tw0 = 0; tw0 < TW; tw0 += 8) {
        /* d[i*a + j], lane l: patch element (i, j) of tile tw0 + l. */
        float8 d[VD_WINO_AMAX * VD_WINO_AMAX], o[VD_WINO_AMAX * VD_WINO_AMAX];
        for (int i = 0; i < a; i++) {
            int ih = h0 + i;
            bool rin = ih >= 0 && ih < H;
            global const float *row = xp + clamp(ih, 0, H - 1) * W;
            for (int j = 0; j < a; j++) {
                float lane[8];
                for (int l = 0; l < 8; l++) {
                    int iw = (tw0 + l) * m - pw + j;
                    float val = row[clamp(iw, 0, W - 1)];
                    lane[l] = rin && iw >= 0 && iw < W ? val : 0.0f;
                }
                d[i * a + j] = vload8(0, lane);
            }
        }
        for (int j = 0; j < a; j++) /* columns: B^T d */
            vd_wino_bt8(m, d + j, a, o + j, a);
        for (int i = 0; i < a; i++) /* rows: (B^T d) B */
            vd_wino_bt8(m, o + i * a, 1, d + i * a, 1);
        int nt = min(TW - tw0, 8);
        if (nt == 8) {
            for (int e = 0; e < a * a; e++)
                vstore8(d[e], 0, vp + e * es + tw0);
        } else {
            for (int e = 0; e < a * a; e++) {
                float lane[8];
                vstore8(d[e], 0, lane);
                for (int l = 0; l < nt; l++)
                    vp[e * es + tw0 + l] = lane[l];
            }
        }
    }
}

/* The forward epilogue on a stored value: + bias (epi & 1), then ReLU (epi & 2) as
 * act.cl writes it (v > 0 ? v : 0, so NaN and -0 become +0). */
VD_WINO_INLINE float vd_wino_epi1(float v, int epi, float bias)
{
    v = (epi & 1) ? v + bias : v;
    return (epi & 2) ? (v > 0.0f ? v : 0.0f) : v;
}

VD_WINO_INLINE float4 vd_wino_epi4(float4 v, int epi, float bias)
{
    v = (epi & 1) ? v + bias : v;
    return (epi & 2) ? select((float4)0.0f, v, isgreater(v, (float4)0.0f)) : v;
}

VD_WINO_INLINE float16 vd_wino_epi16(float16 v, int epi, float bias)
{
    v = (epi & 1) ? v + bias : v;
    return (epi & 2) ? select((float16)0.0f, v, isgreater(v, (float16)0.0f)) : v;
}

/* Row i of an output tile for 8 tiles side by side: o[j] lane l is output (i, j) of tile l.
 * Stores the m*8 values that land inside the plane at yrow[q0 ..]. */
VD_WINO_INLINE void vd_wino_store_row(const int m, const float8 *o, int q0, int Q, float beta,
                                      int epi, float bias, global float *yrow)
{
    float vals[32];
    if (m == 2) {
        vstore16(shuffle2(o[0], o[1], (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7,
                                                15)),
                 0, vals);
    } else {
        uint16 pairs = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        float16 ab = shuffle2(o[0], o[1], pairs), cd = shuffle2(o[2], o[3], pairs);
        vstore16(shuffle2(ab, cd, (uint16)(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23)),
                 0, vals);
        vstore16(shuffle2(ab, cd, (uint16)(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15,
                                           30, 31)),
                 0, vals + 16);
    }
    int n = min(Q - q0, 8 * m);
    global float *dst = yrow + q0;
    if (n == 8 * m) {
        for (int h = 0; h < m / 2; h++) {
            float16 val = vload16(h, vals);
            val = beta == 0.0f ? val : beta * vload16(h, dst) + val;
            vstore16(vd_wino_epi16(val, epi, bias), h, dst);
        }
    } else {
        for (int q = 0; q < n; q++)
            dst[q] = vd_wino_epi1(beta == 0.0f ? vals[q] : beta * dst[q] + vals[q], epi, bias);
    }
}

VD_WINO_INLINE void vd_wino_output(const int m, uint rows, int K, int P, int Q, int TH, int TW,
                                   uint T, global const float *mm, ulong m_off, ulong es,
                                   float beta, int epi, global const float *b, ulong b_off,
                                   global float *y, ulong y_off)
{
    const int a = m + 2;
    uint r = get_global_id(0);
    if (r >= rows)
        return;
    uint plane, t0;
    int th;
    vd_wino_row(r, K, TH, TW, &plane, &th, &t0);
    uint k = plane % (uint)K;
    float bias = (epi & 1) ? b[b_off + k] : 0.0f;
    global const float *mp = mm + m_off + (ulong)k * T + t0;
    global float *yp = y + y_off + (ulong)plane * ((ulong)P * (ulong)Q);
    for (int tw0 = 0; tw0 < TW; tw0 += 8) {
        float8 s[VD_WINO_AMAX * VD_WINO_AMAX], tmp[4 * VD_WINO_AMAX], o[16];
        int nt = min(TW - tw0, 8);
        if (nt == 8) {
            for (int e = 0; e < a * a; e++)
                s[e] = vload8(0, mp + e * es + tw0);
        } else {
            for (int e = 0; e < a * a; e++) {
                float lane[8];
                for (int l = 0; l < 8; l++)
                    lane[l] = l < nt ? mp[e * es + tw0 + min(l, nt - 1)] : 0.0f;
                s[e] = vload8(0, lane);
            }
        }
        for (int j = 0; j < a; j++) /* columns: A^T M */
            vd_wino_at8(m, s + j, a, tmp + j, a);
        for (int i = 0; i < m; i++) /* rows: (A^T M) A */
            vd_wino_at8(m, tmp + i * a, 1, o + i * m, 1);
        for (int i = 0; i < m && th * m + i < P; i++)
            vd_wino_store_row(m, o + i * m, tw0 * m, Q, beta, epi, bias, yp + (th * m + i) * Q);
    }
}

VD_WINO_INLINE void vd_wino_dy(const int m, int K, int P, int Q, int TH, int TW, uint T,
                       global const float *dy, ulong dy_off, global float *z, ulong z_off,
                       ulong es)
{
    const int a = m + 2;
    uint t = get_global_id(0), k = get_global_id(1);
    if (t >= T || k >= (uint)K)
        return;
    uint img;
    int th, tw;
    vd_wino_tile(t, TH, TW, &img, &th, &tw);
    global const float *dp = dy + dy_off + ((ulong)img * K + k) * ((ulong)P * (ulong)Q);
    int p0 = th * m, q0 = tw * m;
    float d[16], tmp[VD_WINO_AMAX * 4], o[VD_WINO_AMAX * VD_WINO_AMAX];
    for (int i = 0; i < m; i++) {
        bool rin = p0 + i < P;
        int row = min(p0 + i, P - 1) * Q;
        for (int j = 0; j < m; j++) {
            float val = dp[row + min(q0 + j, Q - 1)];
            d[i * m + j] = rin && q0 + j < Q ? val : 0.0f;
        }
    }
    for (int j = 0; j < m; j++) /* columns: A dY (alpha x m) */
        vd_wino_a(m, d + j, m, tmp + j, m);
    for (int i = 0; i < a; i++) /* rows: (A dY) A^T */
        vd_wino_a(m, tmp + i * m, 1, o + i * a, 1);
    global float *zp = z + z_off + (ulong)k * T + t;
    for (int e = 0; e < a * a; e++)
        zp[e * es] = o[e];
}

VD_WINO_INLINE void vd_wino_wgrad(const int m, int K, int C, int ld, uint nz, ulong zs,
                                  global const float *du, ulong du_off, ulong es,
                                  global float *dw, ulong dw_off)
{
    const int a = m + 2;
    uint i = get_global_id(0);
    if (i >= (uint)K * (uint)C)
        return;
    uint k = i / (uint)C, c = i - k * (uint)C;
    global const float *sp = du + du_off + (ulong)k * ld + c;
    float s[VD_WINO_AMAX * VD_WINO_AMAX], tmp[3 * VD_WINO_AMAX], g[9];
    for (int e = 0; e < a * a; e++)
        s[e] = sp[e * es];
    for (uint z = 1; z < nz; z++)
        for (int e = 0; e < a * a; e++)
            s[e] += sp[z * zs + e * es];
    for (int j = 0; j < a; j++) /* columns: G^T dU (3 x alpha) */
        vd_wino_gt(m, s + j, a, tmp + j, a);
    for (int r = 0; r < 3; r++) /* rows: (G^T dU) G */
        vd_wino_gt(m, tmp + r * a, 1, g + r * 3, 1);
    global float *dp = dw + dw_off + (ulong)i * 9;
    for (int r = 0; r < 9; r++)
        dp[r] += g[r];
}

/* In-register transpose of a 16 x 16 block: afterwards lane j of r[i] is what lane i of
 * r[j] was. Four rounds of one permutation (vector v, lane l -> vector (l & 1)*8 + v/2,
 * lane (v & 1)*8 + l/2: a one-bit rotation of the 8-bit index (v, l)). */
VD_WINO_INLINE void vd_wino_t16(float16 *r)
{
    for (int round = 0; round < 4; round++) {
        float16 t[16];
        for (int v = 0; v < 8; v++) {
            t[v] = (float16)(r[2 * v].even, r[2 * v + 1].even);
            t[8 + v] = (float16)(r[2 * v].odd, r[2 * v + 1].odd);
        }
        for (int v = 0; v < 16; v++)
            r[v] = t[v];
    }
}

/* The 8-row micro-kernel step of the fused kernels' products: acc##r += a[r] * b for the
 * accumulators acc0..acc7 (a: 8 consecutive floats, global or __local). A macro because
 * OpenCL 1.2 has no pointer that takes both address spaces. The cast is of (a)[r]:
 * (float16)(a)[r] reads as a vector literal, on which PoCL 3.1's clang 15 crashes. */
#define VD_WINO_FMA8(acc, a, b)                                 \
    do {                                                        \
        acc##0 = fma((float16)((a)[0]), b, acc##0);             \
        acc##1 = fma((float16)((a)[1]), b, acc##1);             \
        acc##2 = fma((float16)((a)[2]), b, acc##2);             \
        acc##3 = fma((float16)((a)[3]), b, acc##3);             \
        acc##4 = fma((float16)((a)[4]), b, acc##4);             \
        acc##5 = fma((float16)((a)[5]), b, acc##5);             \
        acc##6 = fma((float16)((a)[6]), b, acc##6);             \
        acc##7 = fma((float16)((a)[7]), b, acc##7);             \
    } while (0)

/* The weights for winoX_fused: u[e*es + (o/8)*ci*8 + i*8 + o%8] = (G g G^T)[e] of the
 * filter from pass input channel i to pass output channel o, for o < co8 (co rounded up to
 * 8; rows o >= co are zero). Forward (flip == 0): ci = C, co = K, g = w[o][i]; backward
 * data (flip != 0): ci = K, co = C, g = w[i][o] rotated by 180 degrees. */
VD_WINO_INLINE void vd_wino_wpack(const int m, int K, int C, int flip, int co8,
                                  global const float *w, ulong w_off, global float *u, ulong u_off,
                                  ulong es)
{
    const int a = m + 2;
    int ci = flip ? K : C, co = flip ? C : K;
    uint i = get_global_id(0);
    if (i >= (uint)co8 * (uint)ci)
        return;
    int o = (int)(i / (uint)ci), in = (int)(i - (uint)o * (uint)ci);
    float t[VD_WINO_AMAX * VD_WINO_AMAX];
    if (o < co) {
        int k = flip ? in : o, c = flip ? o : in;
        vd_wino_filter(m, w + w_off + ((ulong)k * C + c) * 9, flip, t);
    } else {
        for (int e = 0; e < a * a; e++)
            t[e] = 0.0f;
    }
    global float *up = u + u_off + (ulong)(o / 8) * ci * 8 + (ulong)in * 8 + o % 8;
    for (int e = 0; e < a * a; e++)
        up[e * es] = t[e];
}

/* Fused Winograd convolution (forward, or backward data with winoX_wpack's flipped
 * weights): one work-group of one work-item per block of 16 consecutive tiles, tile l of
 * the block in lane l of float16 vectors. Per block: (1) every input channel's alpha x
 * alpha patches are gathered and transformed into vl[(e*ci + c)*16 + l] (__local,
 * a2*ci*16 floats); (2) per group of 8 output channels, the a2 products
 * M_e (8, 16) = U_e (8, ci) V_e (ci, 16) go to ml[(e*8 + r)*16 + l] (a2*8*16 floats),
 * then (3) each channel's A^T M A is stored to its tiles in y (beta * y + ..., y not read
 * when beta == 0). The transformed tensors never leave the cache: the unfused path wrote
 * and re-read a2/m^2 = 2.25 times the input and the output through memory. */
VD_WINO_INLINE void vd_wino_fused(const int m, uint T, int ci, int hi, int wi, int ph, int pw,
                                  int co, int ho, int wo, int TH, int TW, global const float *x,
                                  ulong x_off, global const float *u, ulong u_off, ulong es,
                                  float beta, int epi, global const float *b, ulong b_off,
                                  global float *y, ulong y_off, local float *vl, local float *ml)
{
    const int a = m + 2, a2 = a * a;
    uint t0 = get_group_id(0) * 16;
    if (t0 >= T)
        return;
    int h0[16], w0[16];
    ulong xb[16], yb[16];
    for (int l = 0; l < 16; l++) {
        uint img;
        int th, tw;
        vd_wino_tile(min(t0 + l, T - 1), TH, TW, &img, &th, &tw);
        h0[l] = th * m, w0[l] = tw * m;
        xb[l] = x_off + (ulong)img * ci * hi * wi;
        yb[l] = y_off + (ulong)img * co * ho * wo;
    }
    int nl = (int)min(16u, T - t0);
    int plane = hi * wi;
    /* Per patch element: each lane's offset in its image (channel 0), clamped into the
     * plane, and a mask of the lanes inside the input; computed once per block. The loads
     * then build the vector directly (no lane array in memory, whose 16 scalar stores and
     * one vector load stalled store forwarding) and the mask zeroes the lanes outside. */
    int16 offs[VD_WINO_AMAX * VD_WINO_AMAX], inside[VD_WINO_AMAX * VD_WINO_AMAX];
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            int of[16], in[16];
            for (int l = 0; l < 16; l++) {
                int ih = h0[l] - ph + i, iw = w0[l] - pw + j;
                in[l] = (uint)ih < (uint)hi && (uint)iw < (uint)wi ? -1 : 0;
                of[l] = (int)(xb[l] - x_off) + clamp(ih, 0, hi - 1) * wi + clamp(iw, 0, wi - 1);
            }
            offs[i * a + j] = vload16(0, of);
            inside[i * a + j] = vload16(0, in);
        }
    for (int c = 0; c < ci; c++) {
        float16 d[VD_WINO_AMAX * VD_WINO_AMAX], o[VD_WINO_AMAX * VD_WINO_AMAX];
        global const float *xc = x + x_off + (ulong)c * plane;
        for (int e = 0; e < a2; e++) {
            int16 f = offs[e];
            float16 v = (float16)(xc[f.s0], xc[f.s1], xc[f.s2], xc[f.s3], xc[f.s4], xc[f.s5],
                                  xc[f.s6], xc[f.s7], xc[f.s8], xc[f.s9], xc[f.sa], xc[f.sb],
                                  xc[f.sc], xc[f.sd], xc[f.se], xc[f.sf]);
            d[e] = select((float16)0.0f, v, inside[e]);
        }
        for (int j = 0; j < a; j++) /* columns: B^T d */
            vd_wino_bt16(m, d + j, a, o + j, a);
        for (int i = 0; i < a; i++) /* rows: (B^T d) B */
            vd_wino_bt16(m, o + i * a, 1, d + i * a, 1);
        for (int e = 0; e < a2; e++)
            vstore16(d[e], e * ci + c, vl);
    }
    for (int ob = 0; ob * 8 < co; ob++) {
        global const float *ub = u + u_off + (ulong)ob * ci * 8;
        for (int e = 0; e < a2; e++) {
            global const float *ua = ub + e * es;
            local const float *vb = vl + e * ci * 16;
            float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
            float16 c4 = 0.0f, c5 = 0.0f, c6 = 0.0f, c7 = 0.0f;
            for (int c = 0; c < ci; c++) {
                float16 b = vload16(c, vb);
                VD_WINO_FMA8(c, ua, b);
                ua += 8;
            }
            vstore16(c0, e * 8 + 0, ml), vstore16(c1, e * 8 + 1, ml);
            vstore16(c2, e * 8 + 2, ml), vstore16(c3, e * 8 + 3, ml);
            vstore16(c4, e * 8 + 4, ml), vstore16(c5, e * 8 + 5, ml);
            vstore16(c6, e * 8 + 6, ml), vstore16(c7, e * 8 + 7, ml);
        }
        for (int r = 0; r < 8 && ob * 8 + r < co; r++) {
            float16 s[VD_WINO_AMAX * VD_WINO_AMAX], tmp[4 * VD_WINO_AMAX], o[16];
            for (int e = 0; e < a2; e++)
                s[e] = vload16(e * 8 + r, ml);
            for (int j = 0; j < a; j++) /* columns: A^T M */
                vd_wino_at16(m, s + j, a, tmp + j, a);
            for (int i = 0; i < m; i++) /* rows: (A^T M) A */
                vd_wino_at16(m, tmp + i * a, 1, o + i * m, 1);
            ulong kp = (ulong)(ob * 8 + r) * ho * wo;
            float bias = (epi & 1) ? b[b_off + ob * 8 + r] : 0.0f;
            if (m == 4) {
                /* o[q] lane l is output q of tile l; transposed, o[l] holds tile l's 4 x 4
                 * outputs, stored a row of 4 at a time (16 scalar stores per tile before). */
                vd_wino_t16(o);
                for (int l = 0; l < nl; l++) {
                    float4 row[4] = {o[l].lo.lo, o[l].lo.hi, o[l].hi.lo, o[l].hi.hi};
                    global float *yt = y + yb[l] + kp + (ulong)h0[l] * wo + w0[l];
                    int ni = min(4, ho - h0[l]), nj = min(4, wo - w0[l]);
                    for (int i = 0; i < ni; i++) {
                        global float *yr = yt + i * wo;
                        float4 v = row[i];
                        if (nj == 4) {
                            v = beta == 0.0f ? v : fma((float4)beta, vload4(0, yr), v);
                            vstore4(vd_wino_epi4(v, epi, bias), 0, yr);
                        } else {
                            float e[4];
                            vstore4(v, 0, e);
                            for (int j = 0; j < nj; j++)
                                yr[j] = vd_wino_epi1(beta == 0.0f ? e[j] : fma(beta, yr[j], e[j]),
                                                     epi, bias);
                        }
                    }
                }
            } else {
                float vals[16 * 16];
                for (int q = 0; q < m * m; q++)
                    vstore16(o[q], q, vals);
                for (int l = 0; l < nl; l++)
                    for (int i = 0; i < m && h0[l] + i < ho; i++) {
                        global float *yr = y + yb[l] + kp + (ulong)(h0[l] + i) * wo + w0[l];
                        int nj = min(m, wo - w0[l]);
                        for (int j = 0; j < nj; j++) {
                            float v = vals[(i * m + j) * 16 + l];
                            yr[j] = vd_wino_epi1(beta == 0.0f ? v : fma(beta, yr[j], v), epi, bias);
                        }
                    }
            }
        }
    }
}

/* Fused Winograd backward filter: work-group z (local size one) of nz takes the blocks of
 * tb consecutive tiles b = z, z + nz, ... and sums dU_e (K, C) = sum over its tiles of
 * Z_e (A dY A^T) times V_e (B^T x B) into its own slab du + z*zs, laid out
 * [e][k (K rounded up to 8)][c (C rounded up to 16)], that winoX_wgrad then adds up and
 * transforms. Here the lanes of the float16 vectors are 16 channels of one tile (not 16
 * tiles as in winoX_fused), so that the transformed tiles land in __local memory as
 * vl[(e*tb + t)*c16 + c] and zl[(e*tb + t)*k16 + k]: the product is then a sum over t of
 * outer products, each a vector load of 16 c's and broadcasts of 8 k's, with no transpose.
 * A patch is inside or outside the input for all 16 channels alike, so the gathers (one
 * plane apart) need no per-lane masks, only lanes past C (or K) read channel C-1 (K-1) and
 * are zeroed. */
VD_WINO_INLINE float16 vd_wino_chan16(global const float *p, ulong plane, int valid)
{
    if (valid >= 16) /* built from the loads directly, no lane array in memory */
        return (float16)(p[0], p[plane], p[2 * plane], p[3 * plane], p[4 * plane],
                         p[5 * plane], p[6 * plane], p[7 * plane], p[8 * plane], p[9 * plane],
                         p[10 * plane], p[11 * plane], p[12 * plane], p[13 * plane],
                         p[14 * plane], p[15 * plane]);
    float lane[16];
    for (int l = 0; l < 16; l++)
        lane[l] = l < valid ? p[(ulong)min(l, valid - 1) * plane] : 0.0f;
    return vload16(0, lane);
}

VD_WINO_INLINE void vd_wino_fused_wgrad(const int m, uint T, int C, int H, int W, int ph, int pw,
                                        int K, int P, int Q, int TH, int TW, int tb, uint nz,
                                        global const float *x, ulong x_off,
                                        global const float *dy, ulong dy_off, global float *du,
                                        ulong du_off, ulong zs, local float *vl, local float *zl)
{
    const int a = m + 2, a2 = a * a;
    const int c16 = (C + 15) / 16 * 16, k16 = (K + 15) / 16 * 16, k8 = (K + 7) / 8 * 8;
    uint z = get_group_id(0), nblk = (T + (uint)tb - 1) / (uint)tb;
    global float *dz = du + du_off + (ulong)z * zs;
    ulong xplane = (ulong)H * W, yplane = (ulong)P * Q;
    bool first = true;
    for (uint b = z; b < nblk; b += nz) {
        uint t0 = b * (uint)tb;
        int nt = (int)min((uint)tb, T - t0);
        for (int t = 0; t < tb; t++) {
            uint img;
            int th, tw;
            vd_wino_tile(t0 + min(t, nt - 1), TH, TW, &img, &th, &tw);
            bool on = t < nt;
            int h0 = th * m - ph, w0 = tw * m - pw;
            for (int cb = 0; cb < c16; cb += 16) {
                global const float *xp = x + x_off + ((ulong)img * C + cb) * xplane;
                float16 d[VD_WINO_AMAX * VD_WINO_AMAX], o[VD_WINO_AMAX * VD_WINO_AMAX];
                for (int i = 0; i < a; i++)
                    for (int j = 0; j < a; j++) {
                        int ih = h0 + i, iw = w0 + j;
                        bool in = on && (uint)ih < (uint)H && (uint)iw < (uint)W;
                        d[i * a + j] = in ? vd_wino_chan16(xp + ih * W + iw, xplane, C - cb)
                                          : (float16)0.0f;
                    }
                for (int j = 0; j < a; j++) /* columns: B^T d */
                    vd_wino_bt16(m, d + j, a, o + j, a);
                for (int i = 0; i < a; i++) /* rows: (B^T d) B */
                    vd_wino_bt16(m, o + i * a, 1, d + i * a, 1);
                for (int e = 0; e < a2; e++)
                    vstore16(d[e], 0, vl + (e * tb + t) * c16 + cb);
            }
            int p0 = th * m, q0 = tw * m;
            for (int kb = 0; kb < k16; kb += 16) {
                global const float *yp = dy + dy_off + ((ulong)img * K + kb) * yplane;
                float16 d[16], tmp[VD_WINO_AMAX * 4], o[VD_WINO_AMAX * VD_WINO_AMAX];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++) {
                        bool in = on && p0 + i < P && q0 + j < Q;
                        d[i * m + j] = in ? vd_wino_chan16(yp + (p0 + i) * Q + q0 + j, yplane,
                                                           K - kb)
                                          : (float16)0.0f;
                    }
                for (int j = 0; j < m; j++) /* columns: A dY (alpha x m) */
                    vd_wino_a16(m, d + j, m, tmp + j, m);
                for (int i = 0; i < a; i++) /* rows: (A dY) A^T */
                    vd_wino_a16(m, tmp + i * m, 1, o + i * a, 1);
                for (int e = 0; e < a2; e++)
                    vstore16(o[e], 0, zl + (e * tb + t) * k16 + kb);
            }
        }
        for (int e = 0; e < a2; e++) {
            local const float *ve = vl + e * tb * c16, *ze = zl + e * tb * k16;
            for (int k0 = 0; k0 < k8; k0 += 8)
                for (int c0 = 0; c0 < c16; c0 += 16) {
                    global float *dp = dz + ((ulong)e * k8 + k0) * c16 + c0;
                    float16 s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                    float16 s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
                    for (int t = 0; t < tb; t++) {
                        float16 v = vload16(0, ve + t * c16 + c0);
                        local const float *zt = ze + t * k16 + k0;
                        VD_WINO_FMA8(s, zt, v);
                    }
                    if (!first) {
                        s0 += vload16(0, dp), s1 += vload16(0, dp + c16);
                        s2 += vload16(0, dp + 2 * c16), s3 += vload16(0, dp + 3 * c16);
                        s4 += vload16(0, dp + 4 * c16), s5 += vload16(0, dp + 5 * c16);
                        s6 += vload16(0, dp + 6 * c16), s7 += vload16(0, dp + 7 * c16);
                    }
                    vstore16(s0, 0, dp), vstore16(s1, 0, dp + c16);
                    vstore16(s2, 0, dp + 2 * c16), vstore16(s3, 0, dp + 3 * c16);
                    vstore16(s4, 0, dp + 4 * c16), vstore16(s5, 0, dp + 5 * c16);
                    vstore16(s6, 0, dp + 6 * c16), vstore16(s7, 0, dp + 7 * c16);
                }
        }
        first = false;
    }
    if (first) /* no block for this slab: its sum is zero */
        for (ulong i = 0; i < (ulong)a2 * k8 * c16; i++)
            dz[i] = 0.0f;
}

/* The kernels: one per transform and tile size. */
#define VD_WINO_KERNELS(M)                                                                     \
    kernel void wino##M##_weight(int K, int C, int flip, global const float *w, ulong w_off,   \
                                 global float *u, ulong u_off, ulong es)                       \
    {                                                                                          \
        vd_wino_weight(M, K, C, flip, w, w_off, u, u_off, es);                                 \
    }                                                                                          \
    kernel void wino##M##_input(uint rows, int C, int H, int W, int ph, int pw, int TH, int TW, \
                                uint T, global const float *x, ulong x_off, global float *v,   \
                                ulong v_off, ulong es)                                         \
    {                                                                                          \
        vd_wino_input(M, rows, C, H, W, ph, pw, TH, TW, T, x, x_off, v, v_off, es);            \
    }                                                                                          \
    kernel void wino##M##_output(uint rows, int K, int P, int Q, int TH, int TW, uint T,       \
                                 global const float *mm, ulong m_off, ulong es, float beta,    \
                                 int epi, global const float *b, ulong b_off,                  \
                                 global float *y, ulong y_off)                                 \
    {                                                                                          \
        vd_wino_output(M, rows, K, P, Q, TH, TW, T, mm, m_off, es, beta, epi, b, b_off, y,     \
                       y_off);                                                                 \
    }                                                                                          \
    kernel void wino##M##_dy(int K, int P, int Q, int TH, int TW, uint T,                      \
                             global const float *dy, ulong dy_off, global float *z,            \
                             ulong z_off, ulong es)                                            \
    {                                                                                          \
        vd_wino_dy(M, K, P, Q, TH, TW, T, dy, dy_off, z, z_off, es);                           \
    }                                                                                          \
    kernel void wino##M##_wgrad(int K, int C, int ld, uint nz, ulong zs,                      \
                                global const float *du, ulong du_off, ulong es,                \
                                global float *dw, ulong dw_off)                                \
    {                                                                                          \
        vd_wino_wgrad(M, K, C, ld, nz, zs, du, du_off, es, dw, dw_off);                        \
    }                                                                                          \
    kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino##M##_fused_wgrad(          \
        uint T, int C, int H, int W, int ph, int pw, int K, int P, int Q, int TH, int TW,      \
        int tb, uint nz, global const float *x, ulong x_off, global const float *dy,           \
        ulong dy_off, global float *du, ulong du_off, ulong zs, local float *vl,               \
        local float *zl)                                                                       \
    {                                                                                          \
        vd_wino_fused_wgrad(M, T, C, H, W, ph, pw, K, P, Q, TH, TW, tb, nz, x, x_off, dy,      \
                            dy_off, du, du_off, zs, vl, zl);                                   \
    }                                                                                          \
    kernel void wino##M##_wpack(int K, int C, int flip, int co8, global const float *w,        \
                                ulong w_off, global float *u, ulong u_off, ulong es)           \
    {                                                                                          \
        vd_wino_wpack(M, K, C, flip, co8, w, w_off, u, u_off, es);                             \
    }                                                                                          \
    kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino##M##_fused(                \
        uint T, int ci, int hi, int wi, int ph, int pw, int co, int ho, int wo, int TH, int TW, \
        global const float *x, ulong x_off, global const float *u, ulong u_off, ulong es,      \
        float beta, int epi, global const float *b, ulong b_off, global float *y, ulong y_off, \
        local float *vl, local float *ml)                                                      \
    {                                                                                          \
        vd_wino_fused(M, T, ci, hi, wi, ph, pw, co, ho, wo, TH, TW, x, x_off, u, u_off, es,    \
                      beta, epi, b, b_off, y, y_off, vl, ml);                                  \
    }

VD_WINO_KERNELS(2)
VD_WINO_KERNELS(4)

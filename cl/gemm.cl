/* gemm.cl - Verdant's own SGEMM for CPU OpenCL devices (PoCL), written like a
 * BLIS/OpenBLAS micro-kernel; design and measurements in docs/GEMM.md. GPUs use CLBlast
 * (src/ops/gemm.c chooses). Holds the GEMM and its implicit-im2col convolution variant
 * (conv_gemm, with the convolution's bias/ReLU epilogue, vd_gemm_epi); no im2col pass.
 *
 * Row-major C (m, n) = alpha * op(A) * op(B) + beta * C, op(A): (m, k), op(B): (k, n).
 * Transposes are strides, so one kernel serves NN, TN, NT and TT:
 *   op(A)[i][p] = a[a_off + i * sa_i + p * sa_k]   (A: sa_i = lda, sa_k = 1; A^T: swapped)
 *   op(B)[p][j] = b[b_off + p * sb_k + j * sb_j]   (B: sb_k = ldb, sb_j = 1; B^T: swapped)
 *
 * -D switches: none. Two micro-kernels are compiled side by side and the host picks one by
 * the device's native float vector width (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT):
 *   gemm:     6 x 16 tile, 12 float8 accumulators   (AVX2: 16 vector registers)
 *   gemm_w16: 8 x 32 tile, 16 float16 accumulators  (AVX-512: 32 vector registers)
 * (A -D for the width would halve PoCL's cold build, about 1 s, but a -D program's kernels
 * cannot come from the context's kernel cache, and creating a cl_kernel per call cost
 * 8-18 us per launch in PoCL, more than the whole multiply of a small layer.)
 *
 * gemm, gemm_w16: local size (1, 1, 1) (reqd_work_group_size), global
 *   (ceil(n / tn), ceil(m / tm), nz). Work-group (x, y, z) computes the macro-tile
 *   C[y*tm, +tm) x [x*tn, +tn) over k range [z*kstep, +kspan) of A + z*a_zstride and
 *   B + z*b_zstride and writes it to C + z*c_zstride. Plain: nz = 1, kspan = k. Split-k:
 *   kstep = kspan, zero operand strides; the host points C at a scratch (nz, m, n) with
 *   beta = 0, c_zstride = m*n, and gemm_reduce adds the slabs. Strided batch (nz
 *   independent products, vd_gemm_batched): kstep = 0, kspan = k.
 *   tm: a multiple of MR (6 or 8), at most 198; tn: a multiple of NR (16 or 32), at most
 *   512; kcb: the deepest k block, a multiple of 16 with tm*kcb <= TMS*KC and
 *   kcb*tn <= KC*TN_MAX (the __local arrays), and kcb <= KC for the 6 x 16 kernel (its A
 *   block has row stride TMS). tm, tn and kcb are the free parameters the host tunes per
 *   device and shape class (src/ops/gemm.c); they are arguments, not -D switches, so that
 *   every choice runs the same compiled kernel. Inside, the BLIS loop nest: k block
 *   (<= kcb) -> NR-column sliver of B -> MR-row
 *   panel of A -> k. Per k block the work-group copies op(A)'s tm x kc block and op(B)'s
 *   kc x tn block to __local memory, zero past m and n:
 *     A, 6 x 16 kernel: ap[p * TMS + r]                 (vd_gemm_pack_a)
 *     A, 8 x 32 kernel: ap[(r/8) * kc*8 + p*8 + r%8]    (vd_gemm_pack_a8: 8-row panels)
 *     B: NR-wide slivers bp[s][p][NR]                   (vd_gemm_pack_b)
 *   The micro-kernel then reads both with unit stride through one pointer each whatever
 *   the leading dimensions or transposes: no 4 KiB cache-set aliasing (ld a multiple of
 *   1024 floats), A^T and B^T as fast as A and B (transposed copies go through a 16 x 16
 *   in-register transpose), no edge tests in the inner loop. A sliver (KC x NR floats, at
 *   most 32 KiB) stays in L1 while every A panel streams over it; the blocks stay in L2.
 *   Per k step the micro-kernel does 2 vector loads of B, MR broadcasts of A and 2*MR FMAs.
 *   First k block: C = alpha*acc + beta*C (C not read when beta == 0); later blocks
 *   C += alpha*acc.
 *
 * gemm_reduce: global (n, m) rounded up to local (16, 1) (reqd_work_group_size), one
 *   work-item per element of C: C = sum over z of w[z] + beta*C, slabs summed in order. */

#define VD_GEMM_KC 256
#define VD_GEMM_MR 6   /* rows of the 6 x 16 kernel's tile; the 8 x 32 kernel uses 8 */
#define VD_GEMM_TMS 208    /* row stride of the packed A block: tm (<= 198) rounded to 16 */
#define VD_GEMM_TN_MAX 512

/* dst[i*ds + j] = src[j*ss + i] for a 16 x 16 block, except that columns j >= 8 go to
 * dst + hs + i*ds + j - 8 (hs = 8: plain rows; larger: the two halves of each row go to
 * two 8-row A panels). Four rounds of one permutation: vector v, lane l goes to vector
 * (l & 1)*8 + v/2, lane (v & 1)*8 + l/2, a one-bit rotation of the 8-bit index (v, l), so
 * four rounds swap v and l. Each line of a round
 * is one two-source permute (vpermt2ps on AVX-512): 64 for 256 elements, where copying
 * element by element cost about as much as the multiply on the small MLP shapes. */
inline void vd_gemm_t16(__local float *dst, uint ds, uint hs, __global const float *src,
                        ulong ss)
{
    float16 r0 = vload16(0, src + 0 * ss);
    float16 r1 = vload16(0, src + 1 * ss);
    float16 r2 = vload16(0, src + 2 * ss);
    float16 r3 = vload16(0, src + 3 * ss);
    float16 r4 = vload16(0, src + 4 * ss);
    float16 r5 = vload16(0, src + 5 * ss);
    float16 r6 = vload16(0, src + 6 * ss);
    float16 r7 = vload16(0, src + 7 * ss);
    float16 r8 = vload16(0, src + 8 * ss);
    float16 r9 = vload16(0, src + 9 * ss);
    float16 r10 = vload16(0, src + 10 * ss);
    float16 r11 = vload16(0, src + 11 * ss);
    float16 r12 = vload16(0, src + 12 * ss);
    float16 r13 = vload16(0, src + 13 * ss);
    float16 r14 = vload16(0, src + 14 * ss);
    float16 r15 = vload16(0, src + 15 * ss);
    float16 t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15;
    for (int round = 0; round < 4; round++) {
        t0 = (float16)(r0.even, r1.even);
        t1 = (float16)(r2.even, r3.even);
        t2 = (float16)(r4.even, r5.even);
        t3 = (float16)(r6.even, r7.even);
        t4 = (float16)(r8.even, r9.even);
        t5 = (float16)(r10.even, r11.even);
        t6 = (float16)(r12.even, r13.even);
        t7 = (float16)(r14.even, r15.even);
        t8 = (float16)(r0.odd, r1.odd);
        t9 = (float16)(r2.odd, r3.odd);
        t10 = (float16)(r4.odd, r5.odd);
        t11 = (float16)(r6.odd, r7.odd);
        t12 = (float16)(r8.odd, r9.odd);
        t13 = (float16)(r10.odd, r11.odd);
        t14 = (float16)(r12.odd, r13.odd);
        t15 = (float16)(r14.odd, r15.odd);
        r0 = t0; r1 = t1; r2 = t2; r3 = t3; r4 = t4; r5 = t5; r6 = t6; r7 = t7;
        r8 = t8; r9 = t9; r10 = t10; r11 = t11; r12 = t12; r13 = t13; r14 = t14; r15 = t15;
    }
    vstore8(r0.lo, 0, dst + 0 * ds), vstore8(r0.hi, 0, dst + 0 * ds + hs);
    vstore8(r1.lo, 0, dst + 1 * ds), vstore8(r1.hi, 0, dst + 1 * ds + hs);
    vstore8(r2.lo, 0, dst + 2 * ds), vstore8(r2.hi, 0, dst + 2 * ds + hs);
    vstore8(r3.lo, 0, dst + 3 * ds), vstore8(r3.hi, 0, dst + 3 * ds + hs);
    vstore8(r4.lo, 0, dst + 4 * ds), vstore8(r4.hi, 0, dst + 4 * ds + hs);
    vstore8(r5.lo, 0, dst + 5 * ds), vstore8(r5.hi, 0, dst + 5 * ds + hs);
    vstore8(r6.lo, 0, dst + 6 * ds), vstore8(r6.hi, 0, dst + 6 * ds + hs);
    vstore8(r7.lo, 0, dst + 7 * ds), vstore8(r7.hi, 0, dst + 7 * ds + hs);
    vstore8(r8.lo, 0, dst + 8 * ds), vstore8(r8.hi, 0, dst + 8 * ds + hs);
    vstore8(r9.lo, 0, dst + 9 * ds), vstore8(r9.hi, 0, dst + 9 * ds + hs);
    vstore8(r10.lo, 0, dst + 10 * ds), vstore8(r10.hi, 0, dst + 10 * ds + hs);
    vstore8(r11.lo, 0, dst + 11 * ds), vstore8(r11.hi, 0, dst + 11 * ds + hs);
    vstore8(r12.lo, 0, dst + 12 * ds), vstore8(r12.hi, 0, dst + 12 * ds + hs);
    vstore8(r13.lo, 0, dst + 13 * ds), vstore8(r13.hi, 0, dst + 13 * ds + hs);
    vstore8(r14.lo, 0, dst + 14 * ds), vstore8(r14.hi, 0, dst + 14 * ds + hs);
    vstore8(r15.lo, 0, dst + 15 * ds), vstore8(r15.hi, 0, dst + 15 * ds + hs);
}

/* For the 6 x 16 kernel: ap[p*TMS + r] = op(A)[i0 + r][k0 + p] for r < tm, p < kc; zero
 * for rows >= m. */
inline void vd_gemm_pack_a(__local float *ap, __global const float *a, ulong sa_i, ulong sa_k,
                           uint m, uint i0, uint tm, uint k0, uint kc)
{
    uint valid = min(tm, m - i0);
    if (sa_i == 1) {
        /* A^T: the rows of the block are contiguous at each k, a straight copy. */
        for (uint p = 0; p < kc; p++) {
            __global const float *src = a + (ulong)(k0 + p) * sa_k + i0;
            __local float *dst = ap + p * VD_GEMM_TMS;
            uint r = 0;
            for (; r + 16 <= valid; r += 16) vstore16(vload16(0, src + r), 0, dst + r);
            for (; r < valid; r++) dst[r] = src[r];
            for (; r < tm; r++) dst[r] = 0.0f;
        }
        return;
    }
    /* A: transpose 16 x 16 blocks, the edges element by element. */
    uint r = 0;
    for (; r + 16 <= valid; r += 16) {
        __global const float *src = a + (ulong)(i0 + r) * sa_i + (ulong)k0 * sa_k;
        uint p = 0;
        for (; p + 16 <= kc; p += 16)
            vd_gemm_t16(ap + p * VD_GEMM_TMS + r, VD_GEMM_TMS, 8, src + p * sa_k, sa_i);
        for (; p < kc; p++)
            for (uint q = 0; q < 16; q++) ap[p * VD_GEMM_TMS + r + q] = src[q * sa_i + p * sa_k];
    }
    for (; r < tm; r++) {
        __global const float *src = a + (ulong)(i0 + r) * sa_i + (ulong)k0 * sa_k;
        for (uint p = 0; p < kc; p++) ap[p * VD_GEMM_TMS + r] = r < valid ? src[p * sa_k] : 0.0f;
    }
}

/* For the 8 x 32 kernel: 8-row panels, ap[(r/8)*kc*8 + p*8 + r%8] = op(A)[i0 + r][k0 + p]
 * for r < tm (a multiple of 8), p < kc; zero for rows >= m. Each k step of a panel is 32
 * contiguous bytes, so a panel's A stream (kc*32 bytes) uses every byte of its lines. */
inline void vd_gemm_pack_a8(__local float *ap, __global const float *a, ulong sa_i, ulong sa_k,
                            uint m, uint i0, uint tm, uint k0, uint kc)
{
    uint valid = min(tm, m - i0);
    if (sa_i == 1) {
        for (uint p = 0; p < kc; p++) {
            __global const float *src = a + (ulong)(k0 + p) * sa_k + i0;
            uint r = 0;
            for (; r + 8 <= valid; r += 8) vstore8(vload8(0, src + r), 0, ap + r * kc + p * 8);
            for (; r < tm; r++) ap[(r / 8) * kc * 8 + p * 8 + r % 8] = r < valid ? src[r] : 0.0f;
        }
        return;
    }
    uint r = 0;
    for (; r + 16 <= valid; r += 16) {
        __global const float *src = a + (ulong)(i0 + r) * sa_i + (ulong)k0 * sa_k;
        __local float *dst = ap + r * kc;
        uint p = 0;
        for (; p + 16 <= kc; p += 16)
            vd_gemm_t16(dst + p * 8, 8, kc * 8, src + p * sa_k, sa_i);
        for (; p < kc; p++)
            for (uint q = 0; q < 16; q++)
                dst[(q / 8) * kc * 8 + p * 8 + q % 8] = src[q * sa_i + p * sa_k];
    }
    for (; r < tm; r++) {
        __global const float *src = a + (ulong)(i0 + r) * sa_i + (ulong)k0 * sa_k;
        __local float *dst = ap + (r / 8) * kc * 8 + r % 8;
        for (uint p = 0; p < kc; p++) dst[p * 8] = r < valid ? src[p * sa_k] : 0.0f;
    }
}

/* bp[s*kc*nr_w + p*nr_w + j] = op(B)[k0 + p][j0 + s*nr_w + j] for the nc columns of the
 * macro-tile in slivers of nr_w (16 or 32), zero past nc. Row-major B is read a whole
 * macro-tile row at a time: reading one sliver at a time touched a new 4 KiB page every
 * 64-128 bytes when ldb = 1024 and cost a third of the speed at 1024^3. */
inline void vd_gemm_pack_b(__local float *bp, __global const float *b, ulong sb_k, ulong sb_j,
                           uint k0, uint kc, uint j0, uint nc, uint nr_w)
{
    uint ns = (nc + nr_w - 1) / nr_w;
    if (sb_j == 1) {
        for (uint p = 0; p < kc; p++) {
            __global const float *src = b + (ulong)(k0 + p) * sb_k + j0;
            for (uint s = 0; s < ns; s++) {
                __local float *dst = bp + (s * kc + p) * nr_w;
                __global const float *sv = src + s * nr_w;
                if ((s + 1) * nr_w <= nc) {
                    for (uint v = 0; v < nr_w / 16; v++) vstore16(vload16(v, sv), v, dst);
                } else {
                    for (uint j = 0; j < nr_w; j++) dst[j] = s * nr_w + j < nc ? sv[j] : 0.0f;
                }
            }
        }
        return;
    }
    /* B^T: rows of the stored matrix are columns of op(B); 16 x 16 blocks are transposed
     * in registers, the edges element by element. */
    for (uint j = 0; j < ns * nr_w; j += 16) {
        __local float *dst = bp + (j / nr_w) * kc * nr_w + j % nr_w;
        __global const float *src = b + (ulong)(j0 + j) * sb_j + (ulong)k0 * sb_k;
        uint p = 0;
        if (j + 16 <= nc && sb_k == 1)
            for (; p + 16 <= kc; p += 16) vd_gemm_t16(dst + p * nr_w, nr_w, 8, src + p, sb_j);
        for (; p < kc; p++)
            for (uint q = 0; q < 16; q++)
                dst[p * nr_w + q] = j + q < nc ? src[q * sb_j + p * sb_k] : 0.0f;
    }
}

/* Implicit im2col for the convolution kernels (conv_gemm, conv_gemm_w16): op(B) is the
 * column matrix of one image, never stored. Row kk = (c, r, s) of the reduction, column
 * J = oh * Q + ow of the output plane: B[kk][J] = x[c][oh*sh - ph + r*dh][ow*sw - pw + s*dw],
 * 0 outside the input. The column part (oh*sh - ph, ow*sw - pw) is tabulated once per
 * k block in cix (columns past nc get a row far outside, so they read as 0); each row then
 * fills its slivers with a masked gather (AVX-512 vgatherdps on PoCL). */
typedef struct vd_cgeo {
    int H, W, S, RS, sh, sw, ph, pw, dh, dw, Q;
} vd_cgeo;

inline void vd_gemm_pack_b_conv(__local float *bp, __local int *cix, __global const float *x,
                                const vd_cgeo *g, uint k0, uint kc, uint j0, uint nc, uint nr_w)
{
    uint ns = (nc + nr_w - 1) / nr_w, ncp = ns * nr_w;
    __local int *ih0 = cix, *iw0 = cix + VD_GEMM_TN_MAX;
    for (uint j = 0; j < ncp; j++) {
        int J = (int)(j0 + j), oh = J / g->Q, ow = J - oh * g->Q;
        ih0[j] = j < nc ? oh * g->sh - g->ph : -(1 << 28);
        iw0[j] = ow * g->sw - g->pw;
    }
    for (uint p = 0; p < kc; p++) {
        int kk = (int)(k0 + p), c = kk / g->RS, rs = kk - c * g->RS, r = rs / g->S;
        int dr = r * g->dh, ds = (rs - r * g->S) * g->dw;
        __global const float *xc = x + (ulong)c * g->H * g->W;
        for (uint sv = 0; sv < ns; sv++) {
            __local float *dst = bp + (sv * kc + p) * nr_w;
            __local const int *hh = ih0 + sv * nr_w, *ww = iw0 + sv * nr_w;
            for (uint l = 0; l < nr_w; l++) {
                int ih = hh[l] + dr, iw = ww[l] + ds;
                bool ok = (uint)ih < (uint)g->H && (uint)iw < (uint)g->W;
                dst[l] = ok ? xc[ih * g->W + iw] : 0.0f;
            }
        }
    }
}

/* Store a tile held in t (row r: t[r*NR .. +NR)) to C, rows < rows,
 * columns < nr: the edge path, element by element. */
inline void vd_gemm_store_edge(__global float *c, ulong ldc, __private const float *t, uint nrw,
                               uint rows, uint nr, float alpha, float beta, int first)
{
    for (uint r = 0; r < rows; r++)
        for (uint j = 0; j < nr; j++) {
            __global float *cp = c + r * ldc + j;
            float x = alpha * t[r * nrw + j];
            *cp = !first ? x + *cp : beta != 0.0f ? fma(beta, *cp, x) : x;
        }
}

/* The micro-kernel for vector type VT (float8 / float16, NR = 2 * width): C[0, rows) x
 * [0, nr) of the tile at c from the A panel ap (kc x 6, stride TMS) and the B sliver bp
 * (kc x NR). A macro so that both widths share one text. */
#define VD_GEMM_MICRO(NAME, VT, W, VLOAD, VSTORE)                                              \
    inline void NAME(__local const float *ap, __local const float *bp, uint kc,               \
                     __global float *c, ulong ldc, uint rows, uint nr, float alpha, float beta, \
                     int first)                                                                \
    {                                                                                          \
        VT c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f, c20 = 0.0f, c21 = 0.0f;             \
        VT c30 = 0.0f, c31 = 0.0f, c40 = 0.0f, c41 = 0.0f, c50 = 0.0f, c51 = 0.0f;             \
        for (uint p = 0; p < kc; p++) {                                                        \
            VT b0 = VLOAD(0, bp), b1 = VLOAD(1, bp), x;                                        \
            x = (VT)ap[0];                                                                     \
            c00 = fma(x, b0, c00);                                                             \
            c01 = fma(x, b1, c01);                                                             \
            x = (VT)ap[1];                                                                     \
            c10 = fma(x, b0, c10);                                                             \
            c11 = fma(x, b1, c11);                                                             \
            x = (VT)ap[2];                                                                     \
            c20 = fma(x, b0, c20);                                                             \
            c21 = fma(x, b1, c21);                                                             \
            x = (VT)ap[3];                                                                     \
            c30 = fma(x, b0, c30);                                                             \
            c31 = fma(x, b1, c31);                                                             \
            x = (VT)ap[4];                                                                     \
            c40 = fma(x, b0, c40);                                                             \
            c41 = fma(x, b1, c41);                                                             \
            x = (VT)ap[5];                                                                     \
            c50 = fma(x, b0, c50);                                                             \
            c51 = fma(x, b1, c51);                                                             \
            ap += VD_GEMM_TMS;                                                                 \
            bp += 2 * W;                                                                       \
        }                                                                                      \
        VT al = (VT)alpha;                                                                     \
        c00 *= al, c01 *= al, c10 *= al, c11 *= al, c20 *= al, c21 *= al;                      \
        c30 *= al, c31 *= al, c40 *= al, c41 *= al, c50 *= al, c51 *= al;                      \
        if (rows == VD_GEMM_MR && nr == 2 * W) {                                               \
            if (!first) {                                                                      \
                c00 += VLOAD(0, c), c01 += VLOAD(1, c);                                        \
                c10 += VLOAD(0, c + ldc), c11 += VLOAD(1, c + ldc);                            \
                c20 += VLOAD(0, c + 2 * ldc), c21 += VLOAD(1, c + 2 * ldc);                    \
                c30 += VLOAD(0, c + 3 * ldc), c31 += VLOAD(1, c + 3 * ldc);                    \
                c40 += VLOAD(0, c + 4 * ldc), c41 += VLOAD(1, c + 4 * ldc);                    \
                c50 += VLOAD(0, c + 5 * ldc), c51 += VLOAD(1, c + 5 * ldc);                    \
            } else if (beta != 0.0f) {                                                         \
                VT be = (VT)beta;                                                              \
                c00 = fma(be, VLOAD(0, c), c00), c01 = fma(be, VLOAD(1, c), c01);              \
                c10 = fma(be, VLOAD(0, c + ldc), c10), c11 = fma(be, VLOAD(1, c + ldc), c11);  \
                c20 = fma(be, VLOAD(0, c + 2 * ldc), c20);                                     \
                c21 = fma(be, VLOAD(1, c + 2 * ldc), c21);                                     \
                c30 = fma(be, VLOAD(0, c + 3 * ldc), c30);                                     \
                c31 = fma(be, VLOAD(1, c + 3 * ldc), c31);                                     \
                c40 = fma(be, VLOAD(0, c + 4 * ldc), c40);                                     \
                c41 = fma(be, VLOAD(1, c + 4 * ldc), c41);                                     \
                c50 = fma(be, VLOAD(0, c + 5 * ldc), c50);                                     \
                c51 = fma(be, VLOAD(1, c + 5 * ldc), c51);                                     \
            }                                                                                  \
            VSTORE(c00, 0, c), VSTORE(c01, 1, c);                                              \
            VSTORE(c10, 0, c + ldc), VSTORE(c11, 1, c + ldc);                                  \
            VSTORE(c20, 0, c + 2 * ldc), VSTORE(c21, 1, c + 2 * ldc);                          \
            VSTORE(c30, 0, c + 3 * ldc), VSTORE(c31, 1, c + 3 * ldc);                          \
            VSTORE(c40, 0, c + 4 * ldc), VSTORE(c41, 1, c + 4 * ldc);                          \
            VSTORE(c50, 0, c + 5 * ldc), VSTORE(c51, 1, c + 5 * ldc);                          \
            return;                                                                            \
        }                                                                                      \
        float t[12 * W];                                                                       \
        VSTORE(c00, 0, t), VSTORE(c01, 1, t), VSTORE(c10, 2, t), VSTORE(c11, 3, t);            \
        VSTORE(c20, 4, t), VSTORE(c21, 5, t), VSTORE(c30, 6, t), VSTORE(c31, 7, t);            \
        VSTORE(c40, 8, t), VSTORE(c41, 9, t), VSTORE(c50, 10, t), VSTORE(c51, 11, t);          \
        vd_gemm_store_edge(c, ldc, t, 2 * W, rows, nr, 1.0f, beta, first);                     \
    }

VD_GEMM_MICRO(vd_gemm_micro8, float8, 8, vload8, vstore8)
/* One full row of the 8 x 32 tile: c[0, 32) = v (+ beta*c or + c). */
inline void vd_gemm_row32(__global float *c, float16 v0, float16 v1, float beta, int first)
{
    if (!first) {
        v0 += vload16(0, c), v1 += vload16(1, c);
    } else if (beta != 0.0f) {
        v0 = fma((float16)beta, vload16(0, c), v0), v1 = fma((float16)beta, vload16(1, c), v1);
    }
    vstore16(v0, 0, c), vstore16(v1, 1, c);
}

/* The AVX-512 micro-kernel: an 8 x 32 tile in 16 float16 accumulators (of 32 registers),
 * per k step 2 loads of B, 8 broadcasts of A (one 32-byte panel row), 16 FMAs. */
inline void vd_gemm_micro16(__local const float *ap, __local const float *bp, uint kc,
                            __global float *c, ulong ldc, uint rows, uint nr, float alpha,
                            float beta, int first)
{
    float16 c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f, c20 = 0.0f, c21 = 0.0f;
    float16 c30 = 0.0f, c31 = 0.0f, c40 = 0.0f, c41 = 0.0f, c50 = 0.0f, c51 = 0.0f;
    float16 c60 = 0.0f, c61 = 0.0f, c70 = 0.0f, c71 = 0.0f;
    for (uint p = 0; p < kc; p++) {
        float16 b0 = vload16(0, bp), b1 = vload16(1, bp), x;
        x = (float16)ap[0], c00 = fma(x, b0, c00), c01 = fma(x, b1, c01);
        x = (float16)ap[1], c10 = fma(x, b0, c10), c11 = fma(x, b1, c11);
        x = (float16)ap[2], c20 = fma(x, b0, c20), c21 = fma(x, b1, c21);
        x = (float16)ap[3], c30 = fma(x, b0, c30), c31 = fma(x, b1, c31);
        x = (float16)ap[4], c40 = fma(x, b0, c40), c41 = fma(x, b1, c41);
        x = (float16)ap[5], c50 = fma(x, b0, c50), c51 = fma(x, b1, c51);
        x = (float16)ap[6], c60 = fma(x, b0, c60), c61 = fma(x, b1, c61);
        x = (float16)ap[7], c70 = fma(x, b0, c70), c71 = fma(x, b1, c71);
        ap += 8;
        bp += 32;
    }
    float16 al = (float16)alpha;
    c00 *= al, c01 *= al, c10 *= al, c11 *= al, c20 *= al, c21 *= al, c30 *= al, c31 *= al;
    c40 *= al, c41 *= al, c50 *= al, c51 *= al, c60 *= al, c61 *= al, c70 *= al, c71 *= al;
    if (rows == 8 && nr == 32) {
        vd_gemm_row32(c, c00, c01, beta, first);
        vd_gemm_row32(c + ldc, c10, c11, beta, first);
        vd_gemm_row32(c + 2 * ldc, c20, c21, beta, first);
        vd_gemm_row32(c + 3 * ldc, c30, c31, beta, first);
        vd_gemm_row32(c + 4 * ldc, c40, c41, beta, first);
        vd_gemm_row32(c + 5 * ldc, c50, c51, beta, first);
        vd_gemm_row32(c + 6 * ldc, c60, c61, beta, first);
        vd_gemm_row32(c + 7 * ldc, c70, c71, beta, first);
        return;
    }
    float t[256];
    vstore16(c00, 0, t), vstore16(c01, 1, t), vstore16(c10, 2, t), vstore16(c11, 3, t);
    vstore16(c20, 4, t), vstore16(c21, 5, t), vstore16(c30, 6, t), vstore16(c31, 7, t);
    vstore16(c40, 8, t), vstore16(c41, 9, t), vstore16(c50, 10, t), vstore16(c51, 11, t);
    vstore16(c60, 12, t), vstore16(c61, 13, t), vstore16(c70, 14, t), vstore16(c71, 15, t);
    vd_gemm_store_edge(c, ldc, t, 32, rows, nr, 1.0f, beta, first);
}

/* The macro-tile of work-group (x, y) over k range [kb, ke). nr_w (16 or 32) is a
 * constant after inlining, so each kernel keeps only its own micro-kernel. */
inline void vd_gemm_macro(uint m, uint n, uint kb, uint ke, uint tm, uint tn, uint kcb,
                          float alpha,
                          __global const float *a, ulong sa_i, ulong sa_k,
                          __global const float *b, ulong sb_k, ulong sb_j, float beta,
                          __global float *c, ulong ldc, __local float *ap, __local float *bp,
                          const uint nr_w, const vd_cgeo *cg, __local int *cix)
{
    uint i_blk = get_group_id(1) * tm, j_blk = get_group_id(0) * tn;
    if (i_blk >= m || j_blk >= n) return;
    uint i_end = min(i_blk + tm, m), j_end = min(j_blk + tn, n);
    const uint mr = nr_w == 16 ? VD_GEMM_MR : 8;
    uint tm_used = (i_end - i_blk + mr - 1) / mr * mr;
    /* Equal k blocks of at most kcb (576 = 3 x 192, not 256 + 256 + 64): a short last
     * block would pay a full pass over the C tile for little work. */
    uint nkb = max(1u, (ke - kb + kcb - 1) / kcb);
    uint kstep = min(kcb, ((ke - kb + nkb - 1) / nkb + 15) / 16 * 16);
    uint k0 = kb;
    do { /* at least once, so that k == 0 still scales C by beta */
        uint kc = min(kstep, ke - k0);
        int first = k0 == kb;
        if (nr_w == 16)
            vd_gemm_pack_a(ap, a, sa_i, sa_k, m, i_blk, tm_used, k0, kc);
        else
            vd_gemm_pack_a8(ap, a, sa_i, sa_k, m, i_blk, tm_used, k0, kc);
        if (cg)
            vd_gemm_pack_b_conv(bp, cix, b, cg, k0, kc, j_blk, j_end - j_blk, nr_w);
        else
            vd_gemm_pack_b(bp, b, sb_k, sb_j, k0, kc, j_blk, j_end - j_blk, nr_w);
        for (uint j0 = j_blk; j0 < j_end; j0 += nr_w) {
            uint nr = min(nr_w, j_end - j0);
            __local const float *bps = bp + (j0 - j_blk) * kc;
            for (uint i0 = i_blk; i0 < i_end; i0 += mr) {
                /* 6-row panels: column offset in the [k][TMS] block; 8-row: panel base. */
                __local const float *apq = ap + (i0 - i_blk) * (nr_w == 16 ? 1 : kc);
                __global float *cq = c + (ulong)i0 * ldc + j0;
                uint rows = min(mr, i_end - i0);
                if (nr_w == 16)
                    vd_gemm_micro8(apq, bps, kc, cq, ldc, rows, nr, alpha, beta, first);
                else
                    vd_gemm_micro16(apq, bps, kc, cq, ldc, rows, nr, alpha, beta, first);
            }
        }
        k0 += kc;
    } while (k0 < ke);
}

/* Both kernels: see the banner. Work-group z covers k range [z*kstep, +kspan) of the
 * operands offset by z*a_zstride, z*b_zstride, and writes C + z*c_zstride: split-k is
 * kstep = kspan with zero operand strides, a strided batch is kstep = 0 with kspan = k. */
#define VD_GEMM_BODY(NRW)                                                                      \
    __local float ap[VD_GEMM_TMS * VD_GEMM_KC];                                                \
    __local float bp[VD_GEMM_KC * VD_GEMM_TN_MAX];                                             \
    uint z = get_group_id(2), kb = z * kstep;                                                  \
    if (z > 0 && kstep > 0 && kb >= k) return;                                                 \
    vd_gemm_macro(m, n, kb, min(kb + kspan, k), tm, tn, kcb, alpha,                            \
                  a + a_off + (ulong)z * a_zstride, sa_i, sa_k,                                \
                  b + b_off + (ulong)z * b_zstride, sb_k, sb_j, beta,                          \
                  c + c_off + (ulong)z * c_zstride, ldc, ap, bp, NRW, 0, 0)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm(uint m, uint n, uint k, uint tm, uint tn, uint kcb, uint kspan, uint kstep, float alpha,
     __global const float *a, ulong a_off, ulong sa_i, ulong sa_k, ulong a_zstride,
     __global const float *b, ulong b_off, ulong sb_k, ulong sb_j, ulong b_zstride, float beta,
     __global float *c, ulong c_off, ulong ldc, ulong c_zstride)
{
    VD_GEMM_BODY(16);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_w16(uint m, uint n, uint k, uint tm, uint tn, uint kcb, uint kspan, uint kstep,
         float alpha, __global const float *a, ulong a_off, ulong sa_i, ulong sa_k, ulong a_zstride,
         __global const float *b, ulong b_off, ulong sb_k, ulong sb_j, ulong b_zstride,
         float beta, __global float *c, ulong c_off, ulong ldc, ulong c_zstride)
{
    VD_GEMM_BODY(32);
}

/* The forward epilogue of conv_gemm on this work-group's macro-tile of C, after its last k
 * block: + bias[row] (epi & 1), then ReLU (epi & 2) as act.cl writes it (v > 0 ? v : 0).
 * The tile was just written, so it is re-read from cache. */
inline void vd_gemm_epi(uint m, uint n, uint tm, uint tn, __global float *c, ulong ldc, int epi,
                        __global const float *bias)
{
    uint i_blk = get_group_id(1) * tm, j_blk = get_group_id(0) * tn;
    if (epi == 0 || i_blk >= m || j_blk >= n) return;
    uint i_end = min(i_blk + tm, m), j_end = min(j_blk + tn, n);
    for (uint i = i_blk; i < i_end; i++) {
        float b = (epi & 1) ? bias[i] : 0.0f;
        __global float *row = c + (ulong)i * ldc;
        for (uint j = j_blk; j < j_end; j++) {
            float v = (epi & 1) ? row[j] + b : row[j];
            row[j] = (epi & 2) ? (v > 0.0f ? v : 0.0f) : v;
        }
    }
}

/* Convolution forward as one implicit GEMM per image (group z of the grid = image z):
 * Y_z (m = K/G, n = P*Q) = W (m, k = C/G*R*S, row stride lda) * col(x_z), x_z = x + x_off +
 * z*x_zs, Y_z = c + c_off + z*c_zs with row stride ldc; see vd_gemm_pack_b_conv. */
#define VD_CONV_GEMM_BODY(NRW)                                                                 \
    __local float ap[VD_GEMM_TMS * VD_GEMM_KC];                                                \
    __local float bp[VD_GEMM_KC * VD_GEMM_TN_MAX];                                             \
    __local int cix[2 * VD_GEMM_TN_MAX];                                                       \
    uint z = get_group_id(2);                                                                  \
    vd_cgeo g = {H, W, S, RS, sh, sw, ph, pw, dh, dw, Q};                                      \
    vd_gemm_macro(m, n, 0, k, tm, tn, VD_GEMM_KC, alpha, a + a_off, lda, 1,                    \
                  x + x_off + (ulong)z * x_zs,                                                 \
                  0, 1, beta, c + c_off + (ulong)z * c_zs, ldc, ap, bp, NRW, &g, cix);       \
    vd_gemm_epi(m, n, tm, tn, c + c_off + (ulong)z * c_zs, ldc, epi, bias + b_off)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv_gemm(uint m, uint n, uint k, uint tm, uint tn, float alpha, __global const float *a,
          ulong a_off, ulong lda, __global const float *x, ulong x_off, ulong x_zs, int H, int W,
          int S, int RS, int sh, int sw, int ph, int pw, int dh, int dw, int Q, float beta,
          __global float *c, ulong c_off, ulong ldc, ulong c_zs, int epi,
          __global const float *bias, ulong b_off)
{
    VD_CONV_GEMM_BODY(16);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv_gemm_w16(uint m, uint n, uint k, uint tm, uint tn, float alpha, __global const float *a,
              ulong a_off, ulong lda, __global const float *x, ulong x_off, ulong x_zs, int H,
              int W, int S, int RS, int sh, int sw, int ph, int pw, int dh, int dw, int Q,
              float beta, __global float *c, ulong c_off, ulong ldc, ulong c_zs, int epi,
              __global const float *bias, ulong b_off)
{
    VD_CONV_GEMM_BODY(32);
}

__kernel __attribute__((reqd_work_group_size(16, 1, 1))) void
gemm_reduce(uint m, uint n, uint nz, __global const float *w, float beta, __global float *c,
            ulong c_off, ulong ldc)
{
    uint j = get_global_id(0), i = get_global_id(1);
    if (i >= m || j >= n) return;
    float s = 0.0f;
    for (uint z = 0; z < nz; z++) s += w[((ulong)z * m + i) * n + j];
    __global float *cp = c + c_off + (ulong)i * ldc + j;
    *cp = beta != 0.0f ? fma(beta, *cp, s) : s;
}

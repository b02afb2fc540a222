/* gemm.h - Verdant's SGEMM entry point: its own kernel (cl/gemm.cl) on CPU OpenCL devices,
 * CLBlast (vd_blas_sgemm) everywhere else. Layers call vd_gemm, never CLBlast directly,
 * so the choice lives in one place. Not here: convolution-specific GEMMs (im2col panels,
 * fused epilogues). */
#ifndef VD_OPS_GEMM_H
#define VD_OPS_GEMM_H

#include "../runtime/runtime.h"

typedef enum vd_gemm_backend {
    VD_GEMM_BACKEND_AUTO = 0, /* own kernel on CPU devices, CLBlast elsewhere */
    VD_GEMM_BACKEND_OWN = 1,  /* cl/gemm.cl, micro-kernel width from the device */
    VD_GEMM_BACKEND_CLBLAST = 2,
    VD_GEMM_BACKEND_OWN8 = 3, /* cl/gemm.cl, 6 x 16 tile of float8 (AVX2-sized) */
    VD_GEMM_BACKEND_OWN16 = 4 /* cl/gemm.cl, 8 x 32 tile of float16 (AVX-512-sized) */
} vd_gemm_backend;

/* Row-major C = alpha * op(A) * op(B) + beta * C. Non-blocking (enqueues on ctx's queue).
 *   op(A): (m, k); A is stored (m, k) with leading dimension lda >= k, or (k, m) with
 *          lda >= m when ta.
 *   op(B): (k, n); B is stored (k, n) with ldb >= n, or (n, k) with ldb >= k when tb.
 *   C:     (m, n) with ldc >= n.
 * Offsets and leading dimensions are in float elements. With beta == 0, C is not read
 * (NaNs in it do not propagate); k == 0 gives C = beta * C. m == 0 or n == 0 is a no-op.
 * The backend is the device's default (see vd_gemm_backend) unless the environment
 * variable VERDANT_GEMM is "own", "clblast", "own8" or "own16" (or "auto"). The default
 * takes the own kernel only on CPU devices with >= 720 KiB of __local memory per
 * work-group (PoCL: 2 MiB); forcing it elsewhere fails with VD_ERR_OPENCL. The split-k
 * path (few output tiles, long k) borrows a scratch block from the buffer pool.
 * Tuning (own kernel): the first call of a shape class (vd_gemm_tune_key) with at least
 * VD_GEMM_TUNE_MIN multiply-adds on a device measures the candidates of
 * vd_gemm_params_candidates on the call's A and B into a pooled scratch C, checks each
 * result against the default's, and records the fastest in the tuning cache
 * (src/runtime/tune.h); that call blocks until the measurements end. Later calls and later
 * processes read the record. VERDANT_TUNE=off or VERDANT_DETERMINISTIC=1: the defaults.
 * Returns VD_ERR_INVALID_ARG for a NULL ctx or buffer or an unknown VERDANT_GEMM,
 * VD_ERR_SHAPE for a leading dimension that is too small or a size over 2^31,
 * VD_ERR_OPENCL / VD_ERR_BUILD / VD_ERR_NO_MEMORY from the kernel path,
 * VD_ERR_BLAS from CLBlast. */
vd_status vd_gemm(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                  cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                  float beta, cl_mem c, size_t c_off, size_t ldc);

/* batch independent products, z = 0 .. batch-1:
 *   C + c_off + z*c_zs = alpha * op(A + a_off + z*a_zs) * op(B + b_off + z*b_zs) + beta * C
 * each as in vd_gemm (a stride may be 0 to share an operand). One launch of the own
 * kernel (the batch is its third grid dimension, never split along k); a loop of
 * CLBlast calls on other devices. batch <= 65535. */
vd_status vd_gemm_batched(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k,
                          float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_zs, cl_mem b,
                          size_t b_off, size_t ldb, size_t b_zs, float beta, cl_mem c, size_t c_off,
                          size_t ldc, size_t c_zs, size_t batch);

/* Geometry of the implicit column matrix of vd_gemm_conv (see cl/gemm.cl,
 * vd_gemm_pack_b_conv): input planes H x W, kernel taps RS = R*S in rows of S, strides,
 * paddings, dilations, and Q output columns per output row. */
typedef struct vd_gemm_conv_geom {
    int32_t H, W, S, RS, sh, sw, ph, pw, dh, dw, Q;
} vd_gemm_conv_geom;

/* Convolution forward as implicit GEMMs, one per image z < batch, on the own kernel only:
 *   C + c_off + z*c_zs (m, n) = alpha * A (m, k; row stride lda) * col(x + x_off + z*x_zs)
 *                               + beta * C
 * where col is the (k = C*R*S, n = P*Q) column matrix of the image, built in __local
 * memory by the kernel and never stored. VD_ERR_UNSUPPORTED when the own kernel is not
 * the device's GEMM (vd_gemm_backend_get is CLBlast). */
vd_status vd_gemm_conv(vd_context *ctx, const vd_gemm_conv_geom *g, size_t m, size_t n, size_t k,
                       float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem x, size_t x_off,
                       size_t x_zs, float beta, cl_mem c, size_t c_off, size_t ldc, size_t c_zs,
                       size_t batch, int epi, cl_mem bias, size_t b_off);

/* The backend vd_gemm would use on ctx right now (VERDANT_GEMM honoured); never AUTO or
 * OWN (resolved to OWN8 or OWN16). An unknown VERDANT_GEMM value reads as the device
 * default here (vd_gemm itself returns VD_ERR_INVALID_ARG for it). */
vd_gemm_backend vd_gemm_backend_get(const vd_context *ctx);

/* The same GEMM with the backend forced (AUTO: as vd_gemm). For tests and benchmarks. */
vd_status vd_gemm_with(vd_context *ctx, vd_gemm_backend backend, bool ta, bool tb, size_t m,
                       size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                       cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                       size_t ldc);

/* The free parameters of the own kernel (cl/gemm.cl), chosen per device and shape class
 * (see vd_gemm_params_for). All are kernel arguments or host-side plan choices: every
 * setting runs the same compiled kernel at the same local size, so tuning compiles
 * nothing. */
typedef struct vd_gemm_params {
    uint32_t tm;    /* most rows per macro-tile: a multiple of MR (6 or 8), <= 198 / 192 */
    uint32_t tn;    /* most columns per macro-tile: a multiple of NR (16 or 32), <= 512 */
    uint32_t kc;    /* deepest k block: a multiple of 16, 16..512 (see vd_gemm_params_valid) */
    uint32_t par;   /* tiles are narrowed until there are >= par tiles per core (1..16) */
    uint32_t split; /* split-k into up to split * cores slabs when the output has fewer
                       tiles than that and k is long; 0: never split (0..16) */
} vd_gemm_params;

/* The fixed defaults for an own backend (OWN8 or OWN16): the constants chosen on the
 * development VM (docs/GEMM.md). */
vd_gemm_params vd_gemm_params_default(vd_gemm_backend backend);
/* Whether p is usable by backend (OWN8 or OWN16): the bounds above, and the blocks fit
 * the kernel's __local arrays (tm rounded to 8 times kc <= 208 * 256 and kc * tn <=
 * 256 * 512 floats; kc <= 256 for OWN8, whose A block has a fixed row stride). */
bool vd_gemm_params_valid(vd_gemm_backend backend, const vd_gemm_params *p);
/* The candidates measured on first use of a shape class, the default first; returns how
 * many were written to out (at most cap). */
size_t vd_gemm_params_candidates(vd_gemm_backend backend, vd_gemm_params *out, size_t cap);

/* Where vd_gemm_params_for's answer came from. */
typedef enum vd_gemm_params_source {
    VD_GEMM_PARAMS_DEFAULT = 0, /* tuning off (VERDANT_TUNE=off, deterministic mode) or a
                                   shape below VD_GEMM_TUNE_MIN multiply-adds */
    VD_GEMM_PARAMS_CACHED = 1,  /* a valid record in the tuning cache */
    VD_GEMM_PARAMS_MISSING = 2  /* no valid record: the next call measures (default meanwhile) */
} vd_gemm_params_source;

/* Shapes below this many multiply-adds (m*n*k*batch) are not tuned: they are
 * launch-bound, and measuring would cost more than it could save. */
#define VD_GEMM_TUNE_MIN ((size_t)1 << 22)

/* The tuning-cache key of a shape's class on backend (OWN8 or OWN16): transposes, m, n,
 * k and batch rounded to the nearest power of two. */
void vd_gemm_tune_key(vd_gemm_backend backend, bool ta, bool tb, size_t m, size_t n, size_t k,
                      size_t batch, char *key, size_t cap);
/* The parameters a call of this shape on backend (OWN8 or OWN16) uses, without measuring:
 * *p is the cached winner or the default; returns where it came from. */
vd_gemm_params_source vd_gemm_params_for(vd_context *ctx, vd_gemm_backend backend, bool ta, bool tb,
                                         size_t m, size_t n, size_t k, size_t batch,
                                         vd_gemm_params *p);

/* vd_gemm_with on an own backend (OWN8 or OWN16) with the parameters forced (no tuning).
 * For tests and benchmarks. VD_ERR_INVALID_ARG for another backend or invalid params. */
vd_status vd_gemm_own_params(vd_context *ctx, vd_gemm_backend backend, const vd_gemm_params *p,
                             bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                             size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                             float beta, cl_mem c, size_t c_off, size_t ldc);

#endif /* VD_OPS_GEMM_H */

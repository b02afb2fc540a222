/* gemm.c - vd_gemm: argument checks, the backend choice (own kernel on CPU devices,
 * CLBlast elsewhere, VERDANT_GEMM to force one), and the macro-tile / split-k choice for
 * cl/gemm.cl. The kernel's design and measurements are in docs/GEMM.md. */
#include "gemm.h"

#include "ops.h"

#include <stdlib.h>
#include <string.h>

/* Must match cl/gemm.cl. */
#define GEMM_MR 6
#define GEMM_KC 256
#define GEMM_TM_MAX 198 /* 33 panels of 6 rows (24 of 8): A block <= 198 x KC stays in L2 */
#define GEMM_TN_MAX 512
#define GEMM_TMS 208
/* __local memory one work-group of cl/gemm.cl declares: the packed A and B blocks. PoCL
 * offers 2 MiB; a CPU runtime with less (Intel's offers 32 KiB) gets CLBlast instead. */
#define GEMM_LOCAL_BYTES ((GEMM_TMS * GEMM_KC + GEMM_KC * GEMM_TN_MAX) * sizeof(float))

static size_t div_up(size_t a, size_t b)
{
    return (a + b - 1) / b;
}
static size_t round_up(size_t a, size_t b)
{
    return div_up(a, b) * b;
}

/* Parse VERDANT_GEMM: -1 for an unknown value. */
static int backend_from_env(void)
{
    const char *e = getenv("VERDANT_GEMM");
    if (!e || !*e || !strcmp(e, "auto")) return VD_GEMM_BACKEND_AUTO;
    if (!strcmp(e, "own")) return VD_GEMM_BACKEND_OWN;
    if (!strcmp(e, "clblast")) return VD_GEMM_BACKEND_CLBLAST;
    if (!strcmp(e, "own8")) return VD_GEMM_BACKEND_OWN8;
    if (!strcmp(e, "own16")) return VD_GEMM_BACKEND_OWN16;
    return -1;
}

/* AUTO -> own kernel on CPU devices, CLBlast elsewhere; OWN -> the micro-kernel that fills
 * the device's vector registers: 8 x 32 (float16) where the native float width is 16
 * (PoCL on AVX-512), 6 x 16 (float8) otherwise. */
static vd_gemm_backend resolve(const vd_context *ctx, vd_gemm_backend b)
{
    if (b == VD_GEMM_BACKEND_AUTO)
        b = ctx->info.type == VD_DEVICE_CPU && ctx->info.local_mem_bytes >= GEMM_LOCAL_BYTES
                ? VD_GEMM_BACKEND_OWN
                : VD_GEMM_BACKEND_CLBLAST;
    if (b == VD_GEMM_BACKEND_OWN) {
        cl_uint w = 0;
        if (clGetDeviceInfo(ctx->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof w, &w, NULL) !=
            CL_SUCCESS)
            w = 8;
        b = w >= 16 ? VD_GEMM_BACKEND_OWN16 : VD_GEMM_BACKEND_OWN8;
    }
    return b;
}

vd_gemm_backend vd_gemm_backend_get(const vd_context *ctx)
{
    int e = backend_from_env();
    return resolve(ctx, e < 0 ? VD_GEMM_BACKEND_AUTO : (vd_gemm_backend)e);
}

/* The macro-tile of one work-group and the k split.
 * Rows: at most 198 per tile (33 panels of 6; 192 = 24 panels of 8), spread evenly
 * (m = 300 gives two tiles of 150, not 198 + 102). Every row tile copies the B block
 * again, so tall tiles copy B less often (1024^3: 6 copies of B instead of 16).
 * Columns: as wide as possible (up to 512) while there are at least two tiles per core:
 * the A block copied per k block is reused by every sliver of the tile, so narrow tiles
 * pay that copy again and again.
 * Split-k only when the output has too few tiles for the cores and k is long: the
 * weight-gradient shape 64 x 288 x 50176 would otherwise run on one core. */
typedef struct gemm_plan {
    size_t tm, tn, nbm, nbn, nz, kspan;
} gemm_plan;

static gemm_plan plan_for(size_t m, size_t n, size_t k, size_t cores, size_t nr, size_t batch)
{
    gemm_plan p;
    size_t mr = nr == 32 ? 8 : GEMM_MR, tm_max = GEMM_TM_MAX / mr * mr;
    p.nbm = div_up(m, tm_max);
    /* One macro-tile column (n <= nr): split the rows so every core gets some. */
    if (p.nbm < cores && n <= nr && m > mr) p.nbm = cores < div_up(m, mr) ? cores : div_up(m, mr);
    p.tm = round_up(div_up(m, p.nbm), mr);
    p.nbm = div_up(m, p.tm);
    size_t want = div_up(2 * cores, p.nbm * batch);
    p.tn = round_up(div_up(n, want), nr);
    if (p.tn > GEMM_TN_MAX) p.tn = GEMM_TN_MAX;
    p.nbn = div_up(n, p.tn);
    p.nz = 1;
    p.kspan = k;
    size_t tiles = p.nbm * p.nbn;
    if (batch == 1 && k >= 4 * GEMM_KC && tiles < 4 * cores && k > 4 * (m > n ? m : n)) {
        /* Fewer, wider tiles (A block reused over all of n from L2), cut along k. */
        p.tn = round_up(n, nr);
        if (p.tn > GEMM_TN_MAX) p.tn = GEMM_TN_MAX;
        p.nbn = div_up(n, p.tn);
        tiles = p.nbm * p.nbn;
        size_t nz = div_up(4 * cores, tiles);
        size_t max_nz = div_up(k, GEMM_KC);
        if (nz > max_nz) nz = max_nz;
        p.kspan = round_up(div_up(k, nz), GEMM_KC);
        p.nz = div_up(k, p.kspan); /* every slab gets a non-empty k range */
    }
    return p;
}

/* The own kernel over `batch` products with operand strides a_zs, b_zs, c_zs (batch 1:
 * one product, split along k when that pays). */
static vd_status gemm_own(vd_context *ctx, bool wide, bool ta, bool tb, size_t m, size_t n,
                          size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_zs,
                          cl_mem b, size_t b_off, size_t ldb, size_t b_zs, float beta, cl_mem c,
                          size_t c_off, size_t ldc, size_t c_zs, size_t batch)
{
    size_t cores = ctx->info.compute_units > 0 ? (size_t)ctx->info.compute_units : 1;
    gemm_plan p = plan_for(m, n, k, cores, wide ? 32 : 16, batch);
    cl_ulong sa_i = ta ? 1 : lda, sa_k = ta ? lda : 1;
    cl_ulong sb_k = tb ? 1 : ldb, sb_j = tb ? ldb : 1;
    static const size_t one[3] = {1, 1, 1};
    const char *kname = wide ? "gemm_w16" : "gemm";
    size_t global[3] = {p.nbn, p.nbm, batch > 1 ? batch : p.nz};
    if (p.nz == 1)
        return VD_RUN(ctx, "gemm", kname, 3, global, one, VD_A_U32(m), VD_A_U32(n), VD_A_U32(k),
                      VD_A_U32(p.tm), VD_A_U32(p.tn), VD_A_U32(k), VD_A_U32(0), VD_A_F32(alpha),
                      VD_A_MEM(a), VD_A_U64(a_off), VD_A_U64(sa_i), VD_A_U64(sa_k), VD_A_U64(a_zs),
                      VD_A_MEM(b), VD_A_U64(b_off), VD_A_U64(sb_k), VD_A_U64(sb_j), VD_A_U64(b_zs),
                      VD_A_F32(beta), VD_A_MEM(c), VD_A_U64(c_off), VD_A_U64(ldc),
                      VD_A_U64(c_zs));
    /* Split-k: partial products to a pooled scratch (nz, m, n), then one reduction. The
     * scratch goes back to the pool right after the enqueue: the queue is in order, so a
     * later user of the block runs after the reduction. */
    size_t bytes = p.nz * m * n * sizeof(float);
    cl_mem w = NULL;
    vd_status st = vd_buffer_alloc(ctx, bytes, &w);
    if (st != VD_OK) return st;
    st = VD_RUN(ctx, "gemm", kname, 3, global, one, VD_A_U32(m), VD_A_U32(n), VD_A_U32(k),
                VD_A_U32(p.tm), VD_A_U32(p.tn), VD_A_U32(p.kspan), VD_A_U32(p.kspan),
                VD_A_F32(alpha), VD_A_MEM(a), VD_A_U64(a_off), VD_A_U64(sa_i), VD_A_U64(sa_k),
                VD_A_U64(0), VD_A_MEM(b), VD_A_U64(b_off), VD_A_U64(sb_k), VD_A_U64(sb_j),
                VD_A_U64(0), VD_A_F32(0.0f), VD_A_MEM(w), VD_A_U64(0), VD_A_U64(n),
                VD_A_U64(m * n));
    if (st == VD_OK) {
        size_t rg[2] = {n, m}, rl[2] = {16, 1};
        st = VD_RUN(ctx, "gemm", "gemm_reduce", 2, rg, rl, VD_A_U32(m), VD_A_U32(n), VD_A_U32(p.nz),
                    VD_A_MEM(w), VD_A_F32(beta), VD_A_MEM(c), VD_A_U64(c_off), VD_A_U64(ldc));
    }
    vd_buffer_release(ctx, w, bytes);
    return st;
}

static vd_status gemm_any(vd_context *ctx, vd_gemm_backend backend, bool ta, bool tb, size_t m,
                          size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                          size_t a_zs, cl_mem b, size_t b_off, size_t ldb, size_t b_zs,
                          float beta, cl_mem c, size_t c_off, size_t ldc, size_t c_zs,
                          size_t batch)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_gemm: context is NULL");
    if (m == 0 || n == 0 || batch == 0) return VD_OK;
    if (!c || (k > 0 && (!a || !b)))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_gemm: NULL buffer");
    size_t a_cols = ta ? m : k, b_cols = tb ? k : n;
    if (lda < a_cols || ldb < b_cols || ldc < n || lda == 0 || ldb == 0)
        return vd_error_set(ctx, VD_ERR_SHAPE,
                            "vd_gemm(%c%c, m=%zu n=%zu k=%zu): leading dimensions lda=%zu "
                            "ldb=%zu ldc=%zu, need at least %zu/%zu/%zu",
                            ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, lda, ldb, ldc,
                            a_cols ? a_cols : 1, b_cols ? b_cols : 1, n);
    /* The kernel indexes rows, columns and k with 32-bit integers. */
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || batch > 65535)
        return vd_error_set(ctx, VD_ERR_SHAPE, "vd_gemm: m=%zu n=%zu k=%zu over 2^31 or batch %zu over 65535", m, n, k,
                            batch);
    if (backend == VD_GEMM_BACKEND_AUTO) {
        int e = backend_from_env();
        if (e < 0)
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "VERDANT_GEMM='%s': expected own, clblast or auto",
                                getenv("VERDANT_GEMM"));
        backend = (vd_gemm_backend)e;
    }
    backend = resolve(ctx, backend);
    if (backend == VD_GEMM_BACKEND_CLBLAST && batch > 1) {
        vd_status st = VD_OK;
        for (size_t z = 0; z < batch && st == VD_OK; z++)
            st = gemm_any(ctx, backend, ta, tb, m, n, k, alpha, a, a_off + z * a_zs, lda, 0, b,
                          b_off + z * b_zs, ldb, 0, beta, c, c_off + z * c_zs, ldc, 0, 1);
        return st;
    }
    if (backend == VD_GEMM_BACKEND_CLBLAST && k == 0) {
        /* CLBlast rejects k = 0; BLAS defines it as C = beta * C. Multiply zeros instead:
         * A (m, 1) and B (1, n) from one zero-filled pool block, alpha = 0. */
        size_t len = m > n ? m : n, bytes = len * sizeof(float);
        cl_mem z = NULL;
        vd_status st = vd_buffer_alloc(ctx, bytes, &z);
        if (st != VD_OK) return st;
        st = vd_op_fill(ctx, len, 0.0f, z, 0);
        if (st == VD_OK)
            st = vd_blas_sgemm(ctx, false, false, m, n, 1, 0.0f, z, 0, 1, z, 0, n, beta, c, c_off,
                               ldc);
        vd_buffer_release(ctx, z, bytes);
        return st;
    }
    if (backend == VD_GEMM_BACKEND_CLBLAST)
        return vd_blas_sgemm(ctx, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                             c_off, ldc);
    return gemm_own(ctx, backend == VD_GEMM_BACKEND_OWN16, ta, tb, m, n, k, alpha, a, a_off, lda,
                    a_zs, b, b_off, ldb, b_zs, beta, c, c_off, ldc, c_zs, batch);
}

vd_status vd_gemm_with(vd_context *ctx, vd_gemm_backend backend, bool ta, bool tb, size_t m,
                       size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                       cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                       size_t ldc)
{
    return gemm_any(ctx, backend, ta, tb, m, n, k, alpha, a, a_off, lda, 0, b, b_off, ldb, 0, beta,
                    c, c_off, ldc, 0, 1);
}

vd_status vd_gemm_batched(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k,
                          float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_zs, cl_mem b,
                          size_t b_off, size_t ldb, size_t b_zs, float beta, cl_mem c,
                          size_t c_off, size_t ldc, size_t c_zs, size_t batch)
{
    return gemm_any(ctx, VD_GEMM_BACKEND_AUTO, ta, tb, m, n, k, alpha, a, a_off, lda, a_zs, b,
                    b_off, ldb, b_zs, beta, c, c_off, ldc, c_zs, batch);
}

vd_status vd_gemm(vd_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                  cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                  float beta, cl_mem c, size_t c_off, size_t ldc)
{
    return vd_gemm_with(ctx, VD_GEMM_BACKEND_AUTO, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off,
                        ldb, beta, c, c_off, ldc);
}

vd_status vd_gemm_conv(vd_context *ctx, const vd_gemm_conv_geom *g, size_t m, size_t n, size_t k,
                       float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem x, size_t x_off,
                       size_t x_zs, float beta, cl_mem c, size_t c_off, size_t ldc, size_t c_zs,
                       size_t batch)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_gemm_conv: context is NULL");
    if (!g || !a || !x || !c)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_gemm_conv: NULL argument");
    if (m == 0 || n == 0 || batch == 0) return VD_OK;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda < k || ldc < n)
        return vd_error_set(ctx, VD_ERR_SHAPE, "vd_gemm_conv: m=%zu n=%zu k=%zu lda=%zu ldc=%zu", m,
                            n, k, lda, ldc);
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    if (be != VD_GEMM_BACKEND_OWN8 && be != VD_GEMM_BACKEND_OWN16)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "vd_gemm_conv: needs Verdant's own GEMM kernel (CPU devices)");
    bool wide = be == VD_GEMM_BACKEND_OWN16;
    size_t cores = ctx->info.compute_units > 0 ? (size_t)ctx->info.compute_units : 1;
    gemm_plan p = plan_for(m, n, k, cores, wide ? 32 : 16, batch);
    static const size_t one[3] = {1, 1, 1};
    size_t global[3] = {p.nbn, p.nbm, batch};
    return VD_RUN(ctx, "gemm", wide ? "conv_gemm_w16" : "conv_gemm", 3, global, one, VD_A_U32(m),
                  VD_A_U32(n), VD_A_U32(k), VD_A_U32(p.tm), VD_A_U32(p.tn), VD_A_F32(alpha),
                  VD_A_MEM(a), VD_A_U64(a_off), VD_A_U64(lda), VD_A_MEM(x), VD_A_U64(x_off),
                  VD_A_U64(x_zs), VD_A_I32(g->H), VD_A_I32(g->W), VD_A_I32(g->S), VD_A_I32(g->RS),
                  VD_A_I32(g->sh), VD_A_I32(g->sw), VD_A_I32(g->ph), VD_A_I32(g->pw),
                  VD_A_I32(g->dh), VD_A_I32(g->dw), VD_A_I32(g->Q), VD_A_F32(beta), VD_A_MEM(c),
                  VD_A_U64(c_off), VD_A_U64(ldc), VD_A_U64(c_zs));
}

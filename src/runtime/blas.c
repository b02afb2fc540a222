/* blas.c - the only file that calls CLBlast. Converts its status codes to vd_status and
 * keeps the raw code and the call's shape in the message, and tunes CLBlast's Xgemm
 * parameters per device (runtime.h: vd_blas_tune). */
#include "runtime.h" /* first: it selects the OpenCL API version */

#include <clblast_c.h>

#include "profile.h"
#include "tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ Xgemm tuning */

/* Xgemm's parameters in CLBlast 1.5 (GEMMK and KREG are 1.5's; an older CLBlast ignores
 * names its kernel does not have), in the order tuning records store them. */
static const char *const xgemm_names[] = {"GEMMK", "KREG",  "KWG",   "KWI", "MDIMA", "MDIMC",
                                          "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                          "STRM",  "STRN",  "VWM",   "VWN"};
#define XGEMM_NP ((int)(sizeof xgemm_names / sizeof xgemm_names[0]))

/* The sets. Set 0 is CLBlast's own choice (no override); the values listed for it are
 * CLBlast's generic default (kDeviceTypeAll), what PoCL and other devices without a
 * database entry of their own run. The others: CLBlast's database entry for an Intel
 * CPU (i5-6200U) and a CPU-minded set without __local memory (barriers split PoCL's
 * work-groups into loops, docs/GEMM.md), each a different work-group shape and
 * per-work-item tile. Each set costs a CLBlast compile (PoCL, cold: 8-10 s; the i7-4790K
 * entry, 16 x 16 outputs per work-item, took 23 s and ran slowest, so it is not here). Every set
 * satisfies Xgemm's constraints (MWG divisible by MDIMC*VWM and MDIMA*VWM, NWG by NDIMC*VWN and
 * NDIMB*VWN, KWG by KWI and by MDIMC*NDIMC/MDIMA and /NDIMB). */
static const size_t xgemm_sets[][16] = {
    {0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2},
    {0, 1, 32, 8, 32, 32, 64, 32, 16, 64, 1, 1, 1, 0, 2, 2},
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},
};
#define XGEMM_SETS ((int)(sizeof xgemm_sets / sizeof xgemm_sets[0]))
#define XGEMM_KEY "clblast:Xgemm:s"
/* m = n = k of the measured SGEMM. It must be above the size where CLBlast switches from
 * XgemmDirect to Xgemm (XGEMM_MIN_INDIRECT_SIZE: 704 by CLBlast's generic default, 320-384
 * for Intel CPUs, 128-1984 for GPUs), or the sets would not run at all: 1024 on CPUs (0.1 s
 * a call on PoCL with CLBlast's own parameters), 2048 elsewhere; the device profile picks
 * it by the real device type (profile_dev.c). */
static size_t tune_n(const vd_context *ctx)
{
    return ctx->dev.blas_tune_n ? ctx->dev.blas_tune_n : 1024;
}
#define XGEMM_TUNE_REPS 3

int vd_blas_sets(void)
{
    return XGEMM_SETS;
}

static vd_status override_set(vd_context *ctx, int i)
{
    CLBlastStatusCode s =
        vd_fault(ctx, "CLBlastOverrideParameters")
            ?: CLBlastOverrideParameters(ctx->device, "Xgemm", CLBlastPrecisionSingle, XGEMM_NP,
                                         (const char **)xgemm_names, xgemm_sets[i]);
    if (s == CLBlastSuccess) return VD_OK;
    return vd_error_set(ctx, VD_ERR_BLAS, "CLBlastOverrideParameters(Xgemm, set %d) -> %d", i,
                        (int)s);
}

vd_status vd_blas_use(vd_context *ctx, int i)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_blas_use: context is NULL");
    if (i < 0 || i >= XGEMM_SETS)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_blas_use: set %d of %d", i, XGEMM_SETS);
    ctx->blas_tuned = true; /* a forced set is not replaced by the record */
    return override_set(ctx, i);
}


/* A record "v0,...,v15@ms" -> the set it names; -1 when it is damaged or names no set of
 * this build (only known sets are ever passed to CLBlast: an unknown one could fail to
 * compile or overflow __local memory at the first GEMM). */
static int record_set(const char *s)
{
    size_t v[XGEMM_NP];
    for (int i = 0; i < XGEMM_NP; i++) {
        if (*s < '0' || *s > '9') return -1;
        char *end;
        unsigned long x = strtoul(s, &end, 10);
        if (end - s > 4) return -1;
        v[i] = (size_t)x;
        s = end;
        if (i < XGEMM_NP - 1 && *s++ != ',') return -1;
    }
    if (*s && *s != '@') return -1;
    for (int i = 0; i < XGEMM_SETS; i++)
        if (!memcmp(v, xgemm_sets[i], sizeof v)) return i;
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cl_int sgemm_nn(vd_context *ctx, size_t n, cl_mem a, cl_mem b, cl_mem c)
{
    CLBlastStatusCode s =
        vd_fault(ctx, "CLBlastSgemm")
            ?: CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n,
                            1.0f, a, 0, n, b, 0, n, 0.0f, c, 0, n, &ctx->queue, NULL);
    return s == CLBlastSuccess ? (vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue)) : (cl_int)s;
}

vd_status vd_blas_tune(vd_context *ctx, int *chosen)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_blas_tune: context is NULL");
    const size_t n = tune_n(ctx), count = n * n, bytes = count * sizeof(float);
    float *ha = malloc(bytes), *hb = malloc(bytes), *hc = malloc(bytes);
    cl_mem a = NULL, b = NULL, c = NULL;
    vd_status st =
        ha && hb && hc ? VD_OK : vd_error_set(ctx, VD_ERR_NO_MEMORY, "vd_blas_tune: host memory");
    uint64_t x = 88172645463325252ull; /* xorshift64: inputs uniform in [-1, 1) */
    for (size_t i = 0; st == VD_OK && i < count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ha[i] = (float)((x >> 40) * (1.0 / 8388608.0)) - 1.0f;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        hb[i] = (float)((x >> 40) * (1.0 / 8388608.0)) - 1.0f;
    }
    if (st == VD_OK) st = vd_buffer_alloc(ctx, bytes, &a);
    if (st == VD_OK) st = vd_buffer_alloc(ctx, bytes, &b);
    if (st == VD_OK) st = vd_buffer_alloc(ctx, bytes, &c);
    cl_int err = CL_SUCCESS;
    if (st == VD_OK) {
        err = vd_fault(ctx, "clEnqueueWriteBuffer")
                  ?: clEnqueueWriteBuffer(ctx->queue, a, CL_TRUE, 0, bytes, ha, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = vd_fault(ctx, "clEnqueueWriteBuffer")
                      ?: clEnqueueWriteBuffer(ctx->queue, b, CL_TRUE, 0, bytes, hb, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = vd_error_cl(ctx, "clEnqueueWriteBuffer(CLBlast tuning)", err);
    }
    int best = 0;
    double best_s = 1e30, t_start = now_s();
    for (int i = 0; st == VD_OK && i < XGEMM_SETS; i++) {
        if (i > 0 && override_set(ctx, i) != VD_OK) continue;
        double t0 = now_s();
        err = sgemm_nn(ctx, n, a, b, c); /* compiles this set, checked below */
        double first = now_s() - t0;
        if (err == CL_SUCCESS)
            err = vd_fault(ctx, "clEnqueueReadBuffer")
                      ?: clEnqueueReadBuffer(ctx->queue, c, CL_TRUE, 0, bytes, hc, 0, NULL, NULL);
        /* 256 sampled entries against a double-precision dot product, with test_gemm's
         * bound: |got - want| <= 1e-4 sqrt(k) + 1e-5 |want| for inputs in [-1, 1]. */
        bool ok = err == CL_SUCCESS;
        for (int t = 0; ok && t < 256; t++) {
            size_t r = (size_t)t * 7919 % n, col = (size_t)t * 104729 % n;
            double want = 0;
            for (size_t p = 0; p < n; p++) want += (double)ha[r * n + p] * hb[p * n + col];
            double got = hc[r * n + col];
            ok = fabs(got - want) <= 1e-4 * sqrt((double)n) + 1e-5 * fabs(want);
        }
        double bt = 1e30;
        for (int r = 0; ok && r <= XGEMM_TUNE_REPS; r++) { /* r == 0 warms up */
            t0 = now_s();
            ok = sgemm_nn(ctx, n, a, b, c) == CL_SUCCESS;
            if (r > 0 && now_s() - t0 < bt) bt = now_s() - t0;
        }
        vd_log(ctx, 1, "CLBlast Xgemm set %d: %s, first call %.0f ms, %.3f ms", i,
               ok ? "correct" : "REJECTED", first * 1e3, ok ? bt * 1e3 : 0.0);
        if (ok && bt < best_s) best = i, best_s = bt;
    }
    if (st == VD_OK && best_s < 1e30) {
        char val[128];
        int len = 0;
        for (int j = 0; j < XGEMM_NP; j++)
            len += snprintf(val + len, sizeof val - (size_t)len, "%s%zu", j ? "," : "",
                            xgemm_sets[best][j]);
        snprintf(val + len, sizeof val - (size_t)len, "@%.3f", best_s * 1e3);
        vd_log(ctx, 1, "CLBlast Xgemm: set %d chosen in %.1f s", best, now_s() - t_start);
        /* Set 0 won: CLBlast cannot drop an override, so this process gets the generic
         * default (what set 0 is wherever CLBlast has no entry of its own for the device). */
        st = vd_tune_put(ctx, XGEMM_KEY, val);
        if (st == VD_OK) st = vd_blas_use(ctx, best);
        if (st == VD_OK && chosen) *chosen = best;
    } else if (st == VD_OK) {
        st = vd_error_set(ctx, VD_ERR_BLAS, "vd_blas_tune: no Xgemm parameter set ran correctly");
    }
    if (a) vd_buffer_release(ctx, a, bytes);
    if (b) vd_buffer_release(ctx, b, bytes);
    if (c) vd_buffer_release(ctx, c, bytes);
    free(ha), free(hb), free(hc);
    ctx->blas_tuned = true;
    return st;
}

/* On a context's first CLBlast GEMM: the record's set, or a measurement when opted in.
 * Failures cost speed, never the GEMM: they are logged, and CLBlast's own parameters stay. */
static void tune_apply(vd_context *ctx)
{
    ctx->blas_tuned = true;
    if (vd_tune_off(ctx)) return;
    char val[VD_TUNE_KEY_MAX];
    int set = vd_tune_get(ctx, XGEMM_KEY, val, sizeof val) ? record_set(val) : -1;
    if (set > 0) {
        if (override_set(ctx, set) != VD_OK) vd_log(ctx, 1, "%s", vd_last_error(ctx));
        return;
    }
    if (set == 0) return; /* CLBlast's own parameters won */
    const char *opt = getenv("VERDANT_TUNE_CLBLAST");
    if (opt && strcmp(opt, "1") == 0 && vd_blas_tune(ctx, NULL) != VD_OK)
        vd_log(ctx, 1, "CLBlast tuning failed: %s", vd_last_error(ctx));
}

vd_status vd_blas_sgemm(vd_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                        float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                        size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc)
{
    if (m == 0 || n == 0) return VD_OK;
    if (!a || !b || !c) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "sgemm: NULL buffer");
    if (!ctx->blas_tuned) tune_apply(ctx);
    CLBlastStatusCode s = (CLBlastStatusCode)vd_fault(ctx, "CLBlastSgemm");
    vd_profile_name(ctx, "clblast:sgemm");
    if (s == CLBlastSuccess)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                         trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a,
                         a_off, lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue,
                         vd_profile_event(ctx) /* NULL unless profiling */);
    vd_profile_name(ctx, NULL);
    if (s == CLBlastSuccess) return VD_OK;
    vd_status st =
        (s == CLBlastInsufficientMemoryA || s == CLBlastInsufficientMemoryB ||
         s == CLBlastInsufficientMemoryC || s == CLBlastInvalidDimension ||
         s == CLBlastInvalidLeadDimA || s == CLBlastInvalidLeadDimB || s == CLBlastInvalidLeadDimC)
            ? VD_ERR_SHAPE
        : s == -4 /* CL_MEM_OBJECT_ALLOCATION_FAILURE */ || s == -6 ? VD_ERR_NO_MEMORY
                                                                    : VD_ERR_BLAS;
    return vd_error_set(ctx, st,
                        "CLBlastSgemm(%c%c, m=%zu n=%zu k=%zu, lda=%zu ldb=%zu ldc=%zu, offsets "
                        "%zu/%zu/%zu) -> %d",
                        trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, lda, ldb, ldc, a_off,
                        b_off, c_off, (int)s);
}

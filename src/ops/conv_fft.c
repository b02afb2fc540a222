/* conv_fft.c - the "fft" convolution algorithm: 2-D FFT convolution through clFFT for
 * large kernels (R, S >= 5), stride 1, dilation 1, groups 1, all three passes. Its entry
 * in the algorithm table is vd_conv_algo_fft (conv_algo.h); the non-FFT kernels are in
 * cl/conv_fft.cl. Also the per-context clFFT state (plans baked once per shape) and the
 * process-wide clfftSetup/clfftTeardown behind a reference count. Not here: the choice
 * between algorithms and the fallback to im2col when a pass returns VD_ERR_FFT (the
 * caller, conv_select.c / layers/conv.c, does that and logs the reason).
 *
 * Method (the convolution theorem; cf. Mathieu, Henaff, LeCun, "Fast training of
 * convolutional networks through FFTs", ICLR 2014). With both plane sides N >= the padded
 * input (H + 2*pad) and >= P + R - 1, circular correlation of the zero-padded planes
 * equals the linear one on the cropped window, so per pass:
 *   FWD:        Y[i][k]  = sum_c X[i][c] conj(W[k][c])    y  = crop at (0, 0)
 *   BWD_DATA:   DX[i][c] = sum_k DY[i][k] W[k][c]         dx = crop at (pad_h, pad_w)
 *   BWD_FILTER: DW[k][c] = sum_i X[i][c] conj(DY[i][k])   dw += crop at (0, 0), R x S
 * where x sits at (pad_h, pad_w) of its N0 x N1 plane and w, dy at (0, 0). Each pass:
 * pack both operands into zero-padded real planes, two batched real-to-complex 2-D FFTs,
 * the pointwise multiply-accumulate over channels (fft_mac, fixed order), one batched
 * complex-to-real inverse (clFFT scales by 1/(N0*N1)), crop with beta. N0 and N1 are
 * even products of 2, 3, 5 and 7 (vd_conv_fft_size). The error against the direct sum is
 * a few ulps times log(N) times the operand norms: test_conv_fft.c measures and bounds it.
 *
 * clFFT takes no buffer offsets, so its operands are sub-buffers of the caller's
 * workspace, each region aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN (the workspace asks for
 * that much slack); our own kernels take the same regions as (buffer, offset) pairs.
 * clFFT allocates its own intermediate buffers inside plans that need them.
 *
 * clFFT is unmaintained and fails on some lengths and devices: every plan, bake and
 * enqueue failure returns VD_ERR_FFT naming the clFFT call, the transform and the raw
 * code. A failed plan is remembered per context so it is not baked again, unless the
 * failure was the device or host running out (CL_OUT_OF_RESOURCES, CL_OUT_OF_HOST_MEMORY,
 * CL_MEM_OBJECT_ALLOCATION_FAILURE): that says nothing about the plan, and remembering it
 * would fail a forced FFT layer on every later step. The same holds for clfftSetup. Every
 * clFFT call that can fail asks vd_fault() first (runtime/fault.c), so tests reach each of
 * these paths. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/profile.h"
#include "conv_fft.h"

#ifdef VD_HAVE_CLFFT
#include <clFFT.h>
#endif

size_t vd_conv_fft_size(size_t need)
{
    if (need == 0 || need > ((size_t)1 << 20)) return 0;
    for (size_t m = need + (need & 1);; m += 2) {
        size_t r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        while (r % 7 == 0) r /= 7;
        if (r == 1) return m;
    }
}

static bool geom_valid(const vd_conv_geom *g)
{
    return g && g->C > 0 && g->H > 0 && g->W > 0 && g->K > 0 && g->P > 0 && g->Q > 0 &&
           g->R > 0 && g->S > 0 && g->stride_h > 0 && g->stride_w > 0 && g->pad_h >= 0 &&
           g->pad_w >= 0 && g->dil_h > 0 && g->dil_w > 0 && g->groups > 0 &&
           g->C % g->groups == 0 && g->K % g->groups == 0;
}

/* The FFT plane sides for g, or false when the FFT algorithm does not handle g. */
static bool fft_dims(const vd_conv_geom *g, size_t *n0, size_t *n1)
{
    if (!geom_valid(g) || g->groups != 1 || g->stride_h != 1 || g->stride_w != 1 ||
        g->dil_h != 1 || g->dil_w != 1 || g->R < 5 || g->S < 5)
        return false;
    size_t need0 = (size_t)g->H + 2 * (size_t)g->pad_h, need1 = (size_t)g->W + 2 * (size_t)g->pad_w;
    size_t out0 = (size_t)g->P + (size_t)g->R - 1, out1 = (size_t)g->Q + (size_t)g->S - 1;
    *n0 = vd_conv_fft_size(need0 > out0 ? need0 : out0);
    *n1 = vd_conv_fft_size(need1 > out1 ? need1 : out1);
    /* Bound the plane so that per-plane indices stay 32-bit in the kernels. */
    return *n0 && *n1 && *n0 * *n1 <= ((size_t)1 << 24);
}

/* Where each region of a pass lives in the workspace, in floats from ws_off (each start
 * aligned in device memory once the base is). */
typedef struct fft_layout {
    size_t n0, n1, F;              /* plane sides; complex elements per spectrum plane */
    size_t planes1, planes2, pout; /* operand 1 (-> A), operand 2 (-> B), output planes */
    size_t real, a, b, o;          /* region offsets (floats) from the aligned base */
    size_t real_n, a_n, b_n, o_n;  /* region sizes (floats) */
    size_t total;                  /* floats from the aligned base to the end */
    size_t align;                  /* alignment in floats */
} fft_layout;

static size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

static bool fft_layout_of(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                          size_t n, fft_layout *L)
{
    memset(L, 0, sizeof(*L));
    if (!fft_dims(g, &L->n0, &L->n1)) return false;
    size_t C = (size_t)g->C, K = (size_t)g->K;
    switch (pass) {
    case VD_CONV_FWD: L->planes1 = n * C, L->planes2 = K * C, L->pout = n * K; break;
    case VD_CONV_BWD_DATA: L->planes1 = n * K, L->planes2 = K * C, L->pout = n * C; break;
    case VD_CONV_BWD_FILTER: L->planes1 = n * K, L->planes2 = n * C, L->pout = K * C; break;
    default: return false;
    }
    size_t align = ctx && ctx->mem_align >= sizeof(float) ? ctx->mem_align / sizeof(float) : 32;
    L->align = align;
    L->F = L->n0 * (L->n1 / 2 + 1);
    L->real_n = max3(L->planes1, L->planes2, L->pout) * L->n0 * L->n1;
    L->a_n = L->planes1 * 2 * L->F;
    L->b_n = L->planes2 * 2 * L->F;
    L->o_n = L->pout * 2 * L->F;
    L->real = 0;
    L->a = round_up(L->real + L->real_n, align);
    L->b = round_up(L->a + L->a_n, align);
    L->o = round_up(L->b + L->b_n, align);
    L->total = L->o + L->o_n;
    return true;
}

#ifdef VD_HAVE_CLFFT

/* ------------------------------------------------------------------ clFFT state */

#define FFT_MAX_PLANS 32

typedef struct fft_plan {
    size_t n0, n1, batch;
    bool inverse;          /* false: real -> Hermitian (forward); true: the inverse */
    clfftPlanHandle h;     /* valid when st == VD_OK */
    cl_mem tmp;            /* the plan's intermediate buffer (NULL: it needs none) */
    size_t tmp_bytes;
    vd_status st;          /* a failure is kept, with its message */
    char msg[256];
    uint64_t used;
} fft_plan;

typedef struct fft_state {
    fft_plan plans[FFT_MAX_PLANS];
    size_t n_plans;
    uint64_t tick;
} fft_state;

/* Destroy a baked plan and the intermediate buffer it was given. */
static void plan_destroy(vd_context *ctx, fft_plan *p)
{
    if (p->st != VD_OK) return;
    clfftDestroyPlan(&p->h);
    if (p->tmp) vd_buffer_release(ctx, p->tmp, p->tmp_bytes);
    p->tmp = NULL, p->tmp_bytes = 0;
}


/* clfftSetup is process-wide; every context that uses clFFT holds one reference and the
 * last one out calls clfftTeardown. A failed setup is remembered so applies() can say no. */
static pthread_mutex_t fft_lock = PTHREAD_MUTEX_INITIALIZER;
static int fft_refs;
static int fft_setup_err; /* clFFT status of the last failed clfftSetup, 0 if none */

/* Out of device or host memory: worth trying again later, unlike a plan clFFT refuses. */
static bool fft_transient(clfftStatus err)
{
    return err == CLFFT_OUT_OF_RESOURCES || err == CLFFT_OUT_OF_HOST_MEMORY ||
           err == CLFFT_MEM_OBJECT_ALLOCATION_FAILURE;
}

/* vd_fault for a clFFT call: its codes extend OpenCL's. */
static clfftStatus fft_fault(vd_context *ctx, const char *call)
{
    return (clfftStatus)vd_fault(ctx, call);
}

static const char *clfft_error_name(int err)
{
    switch (err) {
    case CLFFT_BUGCHECK: return "CLFFT_BUGCHECK";
    case CLFFT_NOTIMPLEMENTED: return "CLFFT_NOTIMPLEMENTED";
    case CLFFT_TRANSPOSED_NOTIMPLEMENTED: return "CLFFT_TRANSPOSED_NOTIMPLEMENTED";
    case CLFFT_FILE_NOT_FOUND: return "CLFFT_FILE_NOT_FOUND";
    case CLFFT_FILE_CREATE_FAILURE: return "CLFFT_FILE_CREATE_FAILURE";
    case CLFFT_VERSION_MISMATCH: return "CLFFT_VERSION_MISMATCH";
    case CLFFT_INVALID_PLAN: return "CLFFT_INVALID_PLAN";
    case CLFFT_DEVICE_NO_DOUBLE: return "CLFFT_DEVICE_NO_DOUBLE";
    case CLFFT_DEVICE_MISMATCH: return "CLFFT_DEVICE_MISMATCH";
    default: return vd_cl_error_name((cl_int)err);
    }
}

/* Drop one context's reference; the last one tears clFFT down. */
static void fft_unref(void)
{
    pthread_mutex_lock(&fft_lock);
    if (fft_refs > 0 && --fft_refs == 0) clfftTeardown();
    pthread_mutex_unlock(&fft_lock);
}

/* clFFT compiles the kernels of every plan from source (0.4-0.6 s of LeNet-5's first
 * training step on PoCL) unless CLFFT_CACHE_PATH, read by clfftSetup, names a directory for
 * their binaries. Point it into the context's cache directory (runtime/cache.c: one
 * directory per clFFT version, checked before clFFT trusts it), unless the user set it;
 * with the cache off it stays unset. Under fft_lock, before clfftSetup. */
static bool fft_env_ours; /* CLFFT_CACHE_PATH is ours, not the user's */

static void clfft_cache_path(const vd_context *ctx)
{
    if (getenv("CLFFT_CACHE_PATH") && !fft_env_ours) return;
    cl_uint major = 0, minor = 0, patch = 0;
    char version[48], dir[1200];
    if (clfftGetVersion(&major, &minor, &patch) == CLFFT_SUCCESS &&
        snprintf(version, sizeof(version), "%u.%u.%u", major, minor, patch) > 0 &&
        vd_cache_clfft_dir(ctx->cache_dir, version, dir, sizeof(dir)) == 0) {
        fft_env_ours = setenv("CLFFT_CACHE_PATH", dir, 1) == 0;
        vd_log(ctx, 2, "clFFT binary cache %s", dir);
    } else if (fft_env_ours) {
        unsetenv("CLFFT_CACHE_PATH");
        fft_env_ours = false;
    }
}

static vd_status fft_state_get(vd_context *ctx, fft_state **out)
{
    *out = ctx->fft;
    if (*out) return VD_OK;
    pthread_mutex_lock(&fft_lock);
    if (fft_refs == 0) {
        clfft_cache_path(ctx);
        /* Filled by hand: clFFT's clfftInitSetupData is a header-only inline function that
         * is not exported, so an unoptimised build would not link it. */
        clfftSetupData sd;
        memset(&sd, 0, sizeof(sd));
        sd.major = clfftVersionMajor, sd.minor = clfftVersionMinor, sd.patch = clfftVersionPatch;
        /* VERDANT_CLFFT_DUMP=1: clFFT writes the source of every program it generates to
         * the working directory (clfft.kernel.*.cl), what Oclgrind's reports point into
         * (docs/GPU.md). A debugging aid; read at the first setup only. */
        const char *dump = getenv("VERDANT_CLFFT_DUMP");
        if (dump && *dump && strcmp(dump, "0") != 0) sd.debugFlags = CLFFT_DUMP_PROGRAMS;
        clfftStatus err = fft_fault(ctx, "clfftSetup") ?: clfftSetup(&sd);
        if (err != CLFFT_SUCCESS) {
            if (!fft_transient(err)) fft_setup_err = (int)err;
            pthread_mutex_unlock(&fft_lock);
            return vd_error_set(ctx, VD_ERR_FFT, "clfftSetup -> %d (%s)", (int)err,
                                clfft_error_name(err));
        }
        fft_setup_err = 0;
    }
    fft_refs++;
    pthread_mutex_unlock(&fft_lock);
    fft_state *s = calloc(1, sizeof(*s));
    if (!s) {
        fft_unref();
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "FFT convolution: out of host memory");
    }
    ctx->fft = s;
    *out = s;
    return VD_OK;
}

void vd_conv_fft_release(vd_context *ctx)
{
    if (!ctx) return;
    fft_state *s = ctx->fft;
    if (!s) return; /* this context never used clFFT: it holds no reference */
    for (size_t i = 0; i < s->n_plans; i++)
        plan_destroy(ctx, &s->plans[i]);
    free(s);
    ctx->fft = NULL;
    fft_unref();
}

/* Record a clFFT failure on plan p (kept for later asks, unless transient) and on ctx. */
static vd_status plan_fail(vd_context *ctx, fft_plan *p, const char *call, clfftStatus err)
{
    snprintf(p->msg, sizeof(p->msg), "%s(%s %zux%zu, batch %zu) -> %d (%s)", call,
             p->inverse ? "C2R" : "R2C", p->n0, p->n1, p->batch, (int)err,
             clfft_error_name(err));
    p->st = VD_ERR_FFT;
    if (fft_transient(err)) /* a free slot: matches no shape, evicted first */
        p->n0 = p->n1 = p->batch = 0, p->used = 0;
    return vd_error_set(ctx, VD_ERR_FFT, "%s", p->msg);
}

/* The baked plan for batch planes of n0 x n1 (rows x columns), forward real-to-complex or
 * its inverse, out of place, with the layouts of conv_fft.cl. */
static vd_status plan_get(vd_context *ctx, size_t n0, size_t n1, size_t batch, bool inverse,
                          clfftPlanHandle *out, cl_mem *tmp)
{
    fft_state *s;
    vd_status st = fft_state_get(ctx, &s);
    if (st != VD_OK) return st;
    s->tick++;
    for (size_t i = 0; i < s->n_plans; i++) {
        fft_plan *p = &s->plans[i];
        if (p->n0 == n0 && p->n1 == n1 && p->batch == batch && p->inverse == inverse) {
            p->used = s->tick;
            if (p->st != VD_OK) return vd_error_set(ctx, p->st, "%s (remembered)", p->msg);
            *out = p->h;
            if (tmp) *tmp = p->tmp;
            return VD_OK;
        }
    }
    fft_plan *p;
    if (s->n_plans < FFT_MAX_PLANS) {
        p = &s->plans[s->n_plans++];
    } else { /* evict the least recently used */
        p = &s->plans[0];
        for (size_t i = 1; i < s->n_plans; i++)
            if (s->plans[i].used < p->used) p = &s->plans[i];
        plan_destroy(ctx, p);
    }
    memset(p, 0, sizeof(*p));
    p->n0 = n0, p->n1 = n1, p->batch = batch, p->inverse = inverse, p->used = s->tick;
    size_t f1 = n1 / 2 + 1;
    size_t len[2] = {n1, n0}; /* clFFT: dimension 0 is the contiguous one */
    size_t rstride[2] = {1, n1}, cstride[2] = {1, f1};
    clfftPlanHandle h = 0;
    clfftStatus err = fft_fault(ctx, "clfftCreateDefaultPlan")
                          ?: clfftCreateDefaultPlan(&h, ctx->cl, CLFFT_2D, len);
    if (err != CLFFT_SUCCESS) return plan_fail(ctx, p, "clfftCreateDefaultPlan", err);
    const char *call = "clfftSetPlanPrecision";
    err = fft_fault(ctx, call) ?: clfftSetPlanPrecision(h, CLFFT_SINGLE);
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetLayout";
        err = fft_fault(ctx, call)
                  ?: (inverse ? clfftSetLayout(h, CLFFT_HERMITIAN_INTERLEAVED, CLFFT_REAL)
                              : clfftSetLayout(h, CLFFT_REAL, CLFFT_HERMITIAN_INTERLEAVED));
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetResultLocation";
        err = fft_fault(ctx, call) ?: clfftSetResultLocation(h, CLFFT_OUTOFPLACE);
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetPlanInStride";
        err =
            fft_fault(ctx, call) ?: clfftSetPlanInStride(h, CLFFT_2D, inverse ? cstride : rstride);
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetPlanOutStride";
        err =
            fft_fault(ctx, call) ?: clfftSetPlanOutStride(h, CLFFT_2D, inverse ? rstride : cstride);
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetPlanDistance";
        err = fft_fault(ctx, call)
                  ?: (inverse ? clfftSetPlanDistance(h, n0 * f1, n0 * n1)
                              : clfftSetPlanDistance(h, n0 * n1, n0 * f1));
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftSetPlanBatchSize";
        err = fft_fault(ctx, call) ?: clfftSetPlanBatchSize(h, batch);
    }
    if (err == CLFFT_SUCCESS) {
        call = "clfftBakePlan";
        err = fft_fault(ctx, call) ?: clfftBakePlan(h, 1, &ctx->queue, NULL, NULL);
    }
    /* The intermediate buffer of a multi-pass plan is ours (vd_buffer_alloc), not one
     * clFFT creates inside clfftEnqueueTransform: it counts in the memory statistics and
     * is NaN-filled under oclgrind_compat, whose shadow memory clFFT's own buffer escaped
     * (every read of it was reported uninitialised; docs/GPU.md). */
    size_t tmp_bytes = 0;
    if (err == CLFFT_SUCCESS) {
        call = "clfftGetTmpBufSize";
        err = fft_fault(ctx, call) ?: clfftGetTmpBufSize(h, &tmp_bytes);
    }
    if (err != CLFFT_SUCCESS) {
        clfftDestroyPlan(&h);
        return plan_fail(ctx, p, call, err);
    }
    if (tmp_bytes) {
        vd_status st = vd_buffer_alloc(ctx, tmp_bytes, &p->tmp);
        if (st != VD_OK) {
            clfftDestroyPlan(&h);
            p->n0 = p->n1 = p->batch = 0, p->used = 0; /* not remembered: memory may free up */
            p->st = st;
            snprintf(p->msg, sizeof p->msg, "%s", vd_last_error(ctx));
            return st;
        }
        p->tmp_bytes = tmp_bytes;
    }
    vd_log(ctx, 2, "clFFT plan %s %zux%zu batch %zu baked, %zu bytes of intermediate buffer",
           inverse ? "C2R" : "R2C", n0, n1, batch, tmp_bytes);
    p->h = h;
    p->st = VD_OK;
    *out = h;
    if (tmp) *tmp = p->tmp;
    return VD_OK;
}

vd_status vd_conv_fft_probe(vd_context *ctx, size_t n0, size_t n1, size_t batch)
{
    VD_CHECK(NULL, ctx != NULL, "NULL context");
    VD_CHECK(ctx, n0 > 0 && n1 > 0 && batch > 0, "empty transform");
    clfftPlanHandle h;
    return plan_get(ctx, n0, n1, batch, false, &h, NULL);
}

/* ------------------------------------------------------------------ the passes */

/* One batched transform between two workspace regions (sub-buffers; clFFT has no
 * offsets). */
static vd_status transform(vd_context *ctx, const fft_layout *L, size_t batch, bool inverse,
                           cl_mem in, cl_mem out)
{
    clfftPlanHandle h;
    cl_mem tmp = NULL;
    vd_status st = plan_get(ctx, L->n0, L->n1, batch, inverse, &h, &tmp);
    if (st != VD_OK) return st;
    /* A transform is several kernels; the profiler times it as one span (profile.h). */
    clfftStatus err = fft_fault(ctx, "clfftEnqueueTransform");
    vd_profile_name(ctx, inverse ? "clfft:inverse" : "clfft:forward");
    if (err == CLFFT_SUCCESS)
        err = clfftEnqueueTransform(h, inverse ? CLFFT_BACKWARD : CLFFT_FORWARD, 1, &ctx->queue, 0,
                                    NULL, vd_profile_span_event(ctx), &in, &out, tmp);
    vd_profile_name(ctx, NULL);
    if (err != CLFFT_SUCCESS)
        return vd_error_set(ctx, VD_ERR_FFT,
                            "clfftEnqueueTransform(%s %zux%zu, batch %zu) -> %d (%s)",
                            inverse ? "C2R" : "R2C", L->n0, L->n1, batch, (int)err,
                            clfft_error_name(err));
    return VD_OK;
}

/* Zero-padded real planes (region real) from nplanes (Hs, Ws) planes at (oh, ow). */
static vd_status pack(vd_context *ctx, const fft_layout *L, cl_mem ws, size_t base,
                      size_t nplanes, int32_t Hs, int32_t Ws, int32_t oh, int32_t ow, cl_mem src,
                      size_t src_off)
{
    size_t global[1] = {nplanes}, local[1] = {1};
    return VD_RUN(ctx, "conv_fft", "fft_pack", 1, global, local, VD_A_I32(Hs), VD_A_I32(Ws),
                  VD_A_I32(oh), VD_A_I32(ow), VD_A_I32(L->n0), VD_A_I32(L->n1),
                  VD_A_I32(nplanes), VD_A_MEM(src), VD_A_U64(src_off),
                  VD_A_U64((size_t)Hs * (size_t)Ws), VD_A_MEM(ws), VD_A_U64(base + L->real));
}

static vd_status crop(vd_context *ctx, const fft_layout *L, cl_mem ws, size_t base,
                      size_t nplanes, int32_t Hd, int32_t Wd, int32_t oh, int32_t ow, float beta,
                      cl_mem dst, size_t dst_off)
{
    size_t global[1] = {nplanes}, local[1] = {1};
    return VD_RUN(ctx, "conv_fft", "fft_crop", 1, global, local, VD_A_I32(Hd), VD_A_I32(Wd),
                  VD_A_I32(oh), VD_A_I32(ow), VD_A_I32(L->n0), VD_A_I32(L->n1),
                  VD_A_I32(nplanes), VD_A_MEM(ws), VD_A_U64(base + L->real), VD_A_F32(beta),
                  VD_A_MEM(dst), VD_A_U64(dst_off));
}

/* O[a][b] = sum_j opA(A[a][j]) opB(B[b][j]) per frequency; strides in spectrum planes. */
typedef struct mac_args {
    size_t na, nb, nj;
    size_t a_as, a_js, b_bs, b_js, o_as, o_bs; /* in planes */
    float a_conj, b_conj;
} mac_args;

static vd_status mac(vd_context *ctx, const fft_layout *L, cl_mem ws, size_t base,
                     const mac_args *m)
{
    size_t F = L->F;
    size_t global[3] = {round_up(F, 64), (m->nb + 3) / 4, (m->na + 1) / 2};
    size_t local[3] = {64, 1, 1};
    if (ctx->max_wg < 64) local[0] = ctx->max_wg, global[0] = round_up(F, ctx->max_wg);
    return VD_RUN(ctx, "conv_fft", "fft_mac", 3, global, local, VD_A_I32(m->na),
                  VD_A_I32(m->nb), VD_A_I32(m->nj), VD_A_I32(F), VD_A_U64(m->a_as * F),
                  VD_A_U64(m->a_js * F), VD_A_F32(m->a_conj), VD_A_U64(m->b_bs * F),
                  VD_A_U64(m->b_js * F), VD_A_F32(m->b_conj), VD_A_U64(m->o_as * F),
                  VD_A_U64(m->o_bs * F), VD_A_MEM(ws), VD_A_U64((base + L->a) / 2),
                  VD_A_MEM(ws), VD_A_U64((base + L->b) / 2), VD_A_MEM(ws),
                  VD_A_U64((base + L->o) / 2));
}

static vd_status sub_buffer(vd_context *ctx, cl_mem ws, size_t first_float, size_t n_floats,
                            cl_mem *out)
{
    cl_buffer_region reg = {first_float * sizeof(float), n_floats * sizeof(float)};
    cl_int err = vd_fault(ctx, "clCreateSubBuffer");
    *out = err ? NULL : clCreateSubBuffer(ws, 0, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
    if (!*out) return vd_error_cl(ctx, "clCreateSubBuffer(FFT workspace region)", err);
    return VD_OK;
}

static vd_status fft_run_impl(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                              size_t n, const vd_conv_io *io, const fft_layout *L)
{
    vd_status st = VD_OK;
    cl_mem real = NULL, sa = NULL, sb = NULL, so = NULL;
    /* The aligned base of the workspace, in floats from the start of the buffer. */
    size_t align_b = L->align * sizeof(float);
    size_t base = round_up(io->ws_off * sizeof(float), align_b) / sizeof(float);
    VD_TRY(sub_buffer(ctx, io->ws, base + L->real, L->real_n, &real));
    VD_TRY(sub_buffer(ctx, io->ws, base + L->a, L->a_n, &sa));
    VD_TRY(sub_buffer(ctx, io->ws, base + L->b, L->b_n, &sb));
    VD_TRY(sub_buffer(ctx, io->ws, base + L->o, L->o_n, &so));
    size_t C = (size_t)g->C, K = (size_t)g->K;
    int32_t ph = g->pad_h, pw = g->pad_w;
    mac_args m;
    switch (pass) {
    case VD_CONV_FWD:
        VD_TRY(pack(ctx, L, io->ws, base, n * C, g->H, g->W, ph, pw, io->x, io->x_off));
        VD_TRY(transform(ctx, L, n * C, false, real, sa));
        VD_TRY(pack(ctx, L, io->ws, base, K * C, g->R, g->S, 0, 0, io->w, io->w_off));
        VD_TRY(transform(ctx, L, K * C, false, real, sb));
        m = (mac_args){n, K, C, C, 1, C, 1, K, 1, 1.0f, -1.0f};
        VD_TRY(mac(ctx, L, io->ws, base, &m));
        VD_TRY(transform(ctx, L, n * K, true, so, real));
        VD_TRY(crop(ctx, L, io->ws, base, n * K, g->P, g->Q, 0, 0, io->beta, io->y, io->y_off));
        break;
    case VD_CONV_BWD_DATA:
        VD_TRY(pack(ctx, L, io->ws, base, n * K, g->P, g->Q, 0, 0, io->dy, io->dy_off));
        VD_TRY(transform(ctx, L, n * K, false, real, sa));
        VD_TRY(pack(ctx, L, io->ws, base, K * C, g->R, g->S, 0, 0, io->w, io->w_off));
        VD_TRY(transform(ctx, L, K * C, false, real, sb));
        m = (mac_args){n, C, K, K, 1, 1, C, C, 1, 1.0f, 1.0f};
        VD_TRY(mac(ctx, L, io->ws, base, &m));
        VD_TRY(transform(ctx, L, n * C, true, so, real));
        VD_TRY(crop(ctx, L, io->ws, base, n * C, g->H, g->W, ph, pw, io->beta, io->dx,
                    io->dx_off));
        break;
    case VD_CONV_BWD_FILTER:
        VD_TRY(pack(ctx, L, io->ws, base, n * K, g->P, g->Q, 0, 0, io->dy, io->dy_off));
        VD_TRY(transform(ctx, L, n * K, false, real, sa));
        VD_TRY(pack(ctx, L, io->ws, base, n * C, g->H, g->W, ph, pw, io->x, io->x_off));
        VD_TRY(transform(ctx, L, n * C, false, real, sb));
        m = (mac_args){K, C, n, 1, K, 1, C, C, 1, -1.0f, 1.0f};
        VD_TRY(mac(ctx, L, io->ws, base, &m));
        VD_TRY(transform(ctx, L, K * C, true, so, real));
        VD_TRY(crop(ctx, L, io->ws, base, K * C, g->R, g->S, 0, 0, 1.0f, io->dw, io->dw_off));
        break;
    default: st = VD_INTERNAL(ctx, "unknown convolution pass"); break;
    }
done:
    /* Released now, freed by OpenCL once the enqueued commands that use them are done. */
    if (real) clReleaseMemObject(real);
    if (sa) clReleaseMemObject(sa);
    if (sb) clReleaseMemObject(sb);
    if (so) clReleaseMemObject(so);
    return st;
}

static bool fft_available(void)
{
    pthread_mutex_lock(&fft_lock);
    bool ok = fft_setup_err == 0;
    pthread_mutex_unlock(&fft_lock);
    return ok;
}

#else /* !VD_HAVE_CLFFT */

void vd_conv_fft_release(vd_context *ctx)
{
    (void)ctx;
}

vd_status vd_conv_fft_probe(vd_context *ctx, size_t n0, size_t n1, size_t batch)
{
    (void)n0, (void)n1, (void)batch;
    return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "FFT convolution: built without clFFT");
}

static bool fft_available(void)
{
    return false;
}

#endif /* VD_HAVE_CLFFT */

/* ------------------------------------------------------------------ table entry */

static bool fft_applies(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    size_t n0, n1;
    (void)ctx;
    if ((int)pass < 0 || (int)pass >= (int)VD_CONV_N_PASSES) return false;
    return fft_available() && fft_dims(g, &n0, &n1);
}

static size_t fft_workspace(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass,
                            size_t n)
{
    fft_layout L;
    if (!fft_applies(ctx, g, pass) || n == 0 || !fft_layout_of(ctx, g, pass, n, &L)) return 0;
    return L.total + L.align; /* slack to align the base */
}

static vd_status fft_run(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                         const vd_conv_io *io)
{
    VD_CHECK(NULL, ctx != NULL, "NULL context");
    VD_CHECK(ctx, io != NULL, "NULL io");
    size_t n0, n1;
    VD_CHECK(ctx, geom_valid(g), "bad convolution geometry");
    VD_CHECK(ctx, (int)pass >= 0 && (int)pass < (int)VD_CONV_N_PASSES, "unknown pass");
    VD_CHECK(ctx, fft_dims(g, &n0, &n1),
             "FFT convolution needs groups 1, stride 1, dilation 1 and a kernel of 5x5 or more");
#ifdef VD_HAVE_CLFFT
    if (n == 0) return VD_OK;
    switch (pass) {
    case VD_CONV_FWD: VD_NEED(ctx, io->x, io->w, io->y, io->ws); break;
    case VD_CONV_BWD_DATA: VD_NEED(ctx, io->dy, io->w, io->dx, io->ws); break;
    default: VD_NEED(ctx, io->x, io->dy, io->dw, io->ws); break;
    }
    fft_layout L;
    if (!fft_layout_of(ctx, g, pass, n, &L)) return VD_INTERNAL(ctx, "FFT layout");
    /* Plane counts and grid dimensions are 32-bit in the kernels. */
    VD_CHECK(ctx, max3(L.planes1, L.planes2, L.pout) <= INT32_MAX && L.total <= SIZE_MAX / 8,
             "batch too large for FFT convolution");
    return fft_run_impl(ctx, g, pass, n, io, &L);
#else
    (void)n;
    return vd_error_set(ctx, VD_ERR_FFT, "FFT convolution: built without clFFT");
#endif
}

const vd_conv_algo vd_conv_algo_fft = {
    .name = "fft",
    .applies = fft_applies,
    .workspace = fft_workspace,
    .run = fft_run,
};

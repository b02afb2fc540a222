/* runtime.h - internal runtime: context, errors, programs and kernels, tensors, buffer pool,
 * the CLBlast wrapper and the counter-based RNG. Not installed; everything above the
 * runtime (ops, layers, net, train) includes this. Nothing here knows what a layer is. */
#ifndef VD_RUNTIME_H
#define VD_RUNTIME_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "verdant.h"

/* ------------------------------------------------------------------ errors (error.c) */

/* Record a message on ctx (or the thread-local slot when ctx is NULL) and return st. */
vd_status vd_error_set(const vd_context *ctx, vd_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, for a failed OpenCL call: "what -> -5 (CL_OUT_OF_RESOURCES)". Allocation
 * failures map to VD_ERR_NO_MEMORY, everything else to VD_ERR_OPENCL. */
vd_status vd_error_cl(const vd_context *ctx, const char *what, cl_int err);
/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), "CL_UNKNOWN_ERROR" otherwise. */
const char *vd_cl_error_name(cl_int err);
/* Broken invariant: VD_ERR_INTERNAL with file:line. */
#define VD_INTERNAL(ctx, msg) \
    vd_error_set((ctx), VD_ERR_INTERNAL, "internal error at %s:%d: %s", __FILE__, __LINE__, (msg))
/* Evaluate a vd_status expression; on failure jump to done with st set. */
#define VD_TRY(expr)                \
    do {                            \
        st = (expr);                \
        if (st != VD_OK) goto done; \
    } while (0)

/* ------------------------------------------------------------------ embedded kernels */

typedef struct vd_cl_source {
    const char *name; /* file stem: "act" for cl/act.cl */
    const char *text;
    size_t size;
} vd_cl_source;

/* Generated at build time from the cl/ files (cmake/embed_cl.cmake); NULL-name terminated. */
extern const vd_cl_source vd_cl_sources[];

/* ------------------------------------------------------------------ context */

typedef struct vd_kernel_entry {
    char file[32];
    char name[64];
    cl_kernel kernel;
} vd_kernel_entry;

typedef struct vd_program_entry {
    char file[32];
    char options[128];
    cl_program program;
} vd_program_entry;

typedef struct vd_pool_block {
    cl_mem mem;
    size_t bytes;
} vd_pool_block;

/* The device profile: every CPU-versus-GPU decision (kernel variant, GEMM backend,
 * Winograd fused or not, tuning sizes) and the device limits the launchers check, filled
 * once at context creation by vd_device_profile_fill (profile_dev.c) from the device's
 * type and queried limits. VERDANT_DEVICE_PROFILE=cpu|gpu (default auto) overrides the
 * variant: a CPU device then takes the GPU profile (docs/GPU.md). */
typedef enum { VD_VARIANT_CPU = 0, VD_VARIANT_GPU = 1 } vd_kernel_variant;

typedef struct vd_device_profile {
    vd_kernel_variant variant; /* kernels built with -D VD_DEVICE_IS_CPU/GPU from this */
    bool forced;               /* set by VERDANT_DEVICE_PROFILE, not the device type */
    bool gemm_own;             /* AUTO GEMM backend: Verdant's kernel (else CLBlast) */
    bool wino_fused;           /* Winograd may run fused (also needs the own GEMM) */
    cl_uint vec_width;         /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    size_t blas_tune_n;        /* m = n = k of CLBlast's tuning SGEMM (src/runtime/blas.c) */
    size_t max_wg;             /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t local_mem;          /* CL_DEVICE_LOCAL_MEM_SIZE in bytes */
    size_t mem_align;          /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    bool oclgrind_compat;      /* Oclgrind's uninitialised-memory shadow is only right when
                                  every buffer is first written whole by the host and later
                                  host writes cover whole buffers (docs/GPU.md): new buffers
                                  are then filled with NaN, partial host writes and fills go
                                  through a kernel (vd_buffer_write, vd_buffer_fill). Set on
                                  Oclgrind; VERDANT_OCLGRIND_COMPAT=0/1 forces it. */
} vd_device_profile;

struct vd_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    vd_device_info info;
    vd_device_profile dev; /* the one place CPU/GPU decisions are read from */
    int32_t verbose;
    size_t max_wg;         /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t mem_align;      /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    char cache_dir[1024];  /* "" when the disk cache is off */
    char device_key[1024]; /* platform/device/driver names and versions for cache keys */

    vd_program_entry *programs;
    size_t n_programs, cap_programs;
    vd_kernel_entry *kernels;
    size_t n_kernels, cap_kernels;

    vd_pool_block *pool; /* free blocks kept for reuse */
    size_t n_pool, cap_pool;
    vd_context_stats stats;
    void *fft; /* FFT convolution state: clFFT plans per shape (src/ops/conv_fft.c) */

    struct vd_tune_table *tune; /* tuning records, loaded on first use (tune.h) */
    bool blas_tuned;            /* CLBlast's tuning record looked up and applied (blas.c) */
    bool gemm_fallback_noted;   /* the own GEMM's local-memory fallback logged (gemm.c) */
    struct vd_profile *profile; /* kernel-time recorder, NULL when profiling is off (profile.h) */
    struct vd_meter *meter;     /* energy meter, opened on first use (src/energy/meter.h) */
    bool meter_tried;
    char meter_why[256]; /* why there is no meter */

    /* Reliability switches (fault.c), read from the environment at context creation. */
    bool deterministic;  /* VERDANT_DETERMINISTIC=1: fixed reduction order, no timing-based
                            choices (see docs/RELIABILITY.md) */
    bool check_numerics; /* VERDANT_CHECK_NUMERICS=1: check every layer's output and
                            gradients for NaN/Inf after it runs (slow; debugging) */
    struct {
        uint64_t at;   /* fail the at-th counted call (1-based); 0: disarmed */
        uint64_t seen; /* calls counted since arming */
        uint64_t fired;
        const char *last; /* the call that failed last (a string literal), or NULL */
        cl_int code;
        char call[48]; /* count only calls of this name; "" for every call */
    } fault;

    char error[2048];
};

/* The cache directory for a requested path (NULL: VERDANT_CACHE_DIR, else the XDG/HOME
 * default; "off": "" ), without creating it. -1 when it does not fit in cap. cache.c */
int vd_cache_dir_resolve(const char *requested, char *dst, size_t cap);

/* clFFT's binary cache (CLFFT_CACHE_PATH) inside a Verdant cache directory:
 * "<cache_dir>/clfft-<version>", created, with every file in it that clFFT could not read
 * safely removed first (clFFT trusts its entries: one of the right length but a bad header
 * or signature trips an assert or an unbounded allocation inside clFFT). version: clFFT's
 * run-time version, since clFFT's own cache key lacks it. 0 on success; -1 when cache_dir
 * is "" (cache off) or the directory cannot be made or written. cache.c */
int vd_cache_clfft_dir(const char *cache_dir, const char *version, char *dst, size_t cap);
/* Whether f holds a complete clFFT cache entry that clFFT's loader reads within bounds. */
bool vd_cache_clfft_entry_ok(FILE *f);

/* Choose a device from a selection string (NULL or "": the best one). device.c */
vd_status vd_device_select(const char *spec, cl_platform_id *platform, cl_device_id *device,
                           vd_device_info *info);

/* Debug/logging helper honouring ctx->verbose. */
/* Fills ctx->dev from ctx->device and ctx->info (errors go to the NULL context: it runs
 * inside vd_context_create); an invalid VERDANT_DEVICE_PROFILE is
 * VD_ERR_INVALID_ARG. Also sets ctx->max_wg and ctx->mem_align. */
vd_status vd_device_profile_fill(vd_context *ctx);
const char *vd_device_profile_name(const vd_context *ctx);

void vd_log(const vd_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Destroy ctx's clFFT plans and drop its reference on clFFT's process-wide setup (no-op
 * when it never used FFT convolution). src/ops/conv_fft.c; called by vd_context_destroy. */
void vd_conv_fft_release(vd_context *ctx);

/* ------------------------------------------------------------------ fault injection (fault.c) */

/* Tests only. Count this OpenCL call and return the armed error code when it is the one
 * chosen to fail, else CL_SUCCESS. Call sites read
 *     cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
 * and report a failure with vd_error_cl as usual, so an injected fault looks exactly like
 * a driver error. */
cl_int vd_fault(vd_context *ctx, const char *call);
/* Arm: the n-th call from now (counting only calls named `call` when it is not NULL or "")
 * fails with code (0: CL_OUT_OF_RESOURCES). n = 0 disarms. ctx->fault.seen counts the calls
 * made since, ctx->fault.fired how many faults fired. */
void vd_fault_arm(vd_context *ctx, uint64_t n, cl_int code, const char *call);
/* VERDANT_FAULT_INJECT=N[:CODE[:CALL]], read when a context is created. */
void vd_fault_arm_from_env(vd_context *ctx);
/* Blocking read of count floats at element off of mem; *index receives the first element
 * that is NaN or infinite (SIZE_MAX when none) and *value its value. For the
 * VERDANT_CHECK_NUMERICS debug mode. */
vd_status vd_find_nonfinite(vd_context *ctx, cl_mem mem, size_t off, size_t count, size_t *index,
                            float *value);

/* ------------------------------------------------------------------ programs (program.c) */

/* The built program for cl/<file>.cl with extra build options (may be NULL). Looks in the
 * context's table, then the disk cache, then compiles the embedded (or
 * VERDANT_KERNEL_DIR) source. Cache problems are silent misses; only a failed compile is
 * an error (VD_ERR_BUILD with the build log). */
vd_status vd_program_get(vd_context *ctx, const char *file, const char *options, cl_program *out);
/* Read and check one disk cache entry (see program.c) from f against key: the program
 * binary (malloc'ed, *len bytes), or NULL on any problem, which callers treat as a miss.
 * No length read from the file is trusted beyond the file's size. The fuzz target. */
unsigned char *vd_cache_entry_read(FILE *f, const char *key, size_t *len);
/* The kernel `name` from cl/<file>.cl (built with no extra options), cached per context. */
vd_status vd_kernel_get(vd_context *ctx, const char *file, const char *name, cl_kernel *out);

/* Kernel arguments as (size, pointer) pairs; build them with the VD_A_* macros. */
typedef struct vd_karg {
    size_t size;
    const void *ptr;
} vd_karg;

#define VD_A_MEM(m) ((vd_karg){sizeof(cl_mem), &(cl_mem){(m)}})
#define VD_A_U64(v) ((vd_karg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})
#define VD_A_I32(v) ((vd_karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define VD_A_U32(v) ((vd_karg){sizeof(cl_uint), &(cl_uint){(cl_uint)(v)}})
#define VD_A_F32(v) ((vd_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define VD_A_LOCAL(bytes) ((vd_karg){(bytes), NULL})

/* Set the arguments and enqueue cl/<file>.cl:<name> over dim dimensions. global sizes are
 * rounded up to a multiple of local (local NULL: 64 in dimension 0, 1 elsewhere, capped by
 * the device); kernels must bounds-check. Non-blocking. Errors name the kernel and the raw
 * OpenCL code. */
vd_status vd_kernel_run(vd_context *ctx, const char *file, const char *name, cl_uint dim,
                        const size_t *global, const size_t *local, size_t nargs,
                        const vd_karg *args);
#define VD_RUN(ctx, file, name, dim, global, local, ...)           \
    vd_kernel_run((ctx), (file), (name), (dim), (global), (local), \
                  sizeof((vd_karg[]){__VA_ARGS__}) / sizeof(vd_karg), (vd_karg[]){__VA_ARGS__})
/* 1-D launch over n items with the default local size. */
#define VD_RUN1(ctx, file, name, n, ...) \
    VD_RUN((ctx), (file), (name), 1, (size_t[]){(size_t)(n)}, NULL, __VA_ARGS__)

/* ------------------------------------------------------------------ buffers (tensor.c) */

/* A device allocation of at least bytes from the pool (reuses a freed block of the same
 * size class). VD_ERR_NO_MEMORY when the device refuses; the context stays usable. */
vd_status vd_buffer_alloc(vd_context *ctx, size_t bytes, cl_mem *out);
/* Give a block back to the pool. bytes must be what was asked for. */
void vd_buffer_release(vd_context *ctx, cl_mem mem, size_t bytes);
/* clEnqueueWriteBuffer of bytes at byte offset off of mem, on ctx's queue, through
 * vd_fault; what names the call in the error. On a device with oclgrind_compat a write
 * that does not cover the whole buffer goes to a temporary buffer of exactly its size and
 * is copied into place by a kernel (blocking; *ev, when asked for, is a marker after it). */
vd_status vd_buffer_write(vd_context *ctx, cl_mem mem, bool blocking, size_t off, size_t bytes,
                          const void *src, cl_event *ev, const char *what);
/* count floats of mem from element off set to value: clEnqueueFillBuffer, or the fill
 * kernel on a device with oclgrind_compat. */
vd_status vd_buffer_fill(vd_context *ctx, cl_mem mem, size_t off, size_t count, float value,
                         const char *what);
/* Release every cached free block. */
void vd_pool_trim(vd_context *ctx);

struct vd_tensor {
    vd_context *ctx;
    cl_mem mem;
    size_t offset; /* in elements */
    int32_t ndim;
    int64_t shape[VD_MAX_DIMS];
    size_t numel;
    size_t bytes; /* allocation size (0 for views: they do not own mem) */
    bool owns;
};

/* ------------------------------------------------------------------ BLAS (blas.c) */

/* Row-major C = alpha * op(A) * op(B) + beta * C through CLBlast, non-blocking.
 * Offsets and leading dimensions in elements. CLBlast errors become VD_ERR_BLAS with the
 * raw code and the shape in the message. */
vd_status vd_blas_sgemm(vd_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                        float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                        size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* CLBlast's Xgemm kernel parameters are tuned per device through CLBlastOverrideParameters
 * (blas.c): a small list of parameter sets, number 0 being CLBlast's own database entry
 * (no override). The first vd_blas_sgemm of a context applies the device's record from
 * the tuning cache (tune.h, key "clblast:Xgemm:s"); without one, and only when
 * VERDANT_TUNE_CLBLAST=1 (each set is a new CLBlast compile, seconds on PoCL), it measures
 * the sets with vd_blas_tune first. VERDANT_TUNE=off or VERDANT_DETERMINISTIC=1: nothing
 * is applied. CLBlast keeps overrides per device for the whole process, so they reach
 * every context on that device. */
/* Number of parameter sets (set 0: CLBlast's own). */
int vd_blas_sets(void);
/* Apply set i (0 .. vd_blas_sets() - 1) for ctx's device. Set 0 cannot undo an earlier
 * override (CLBlast has no call for that): it applies CLBlast's generic default instead,
 * which is what devices without their own database entry (PoCL) use anyway. For tests.
 * VD_ERR_INVALID_ARG for a bad i, VD_ERR_BLAS when CLBlast refuses. */
vd_status vd_blas_use(vd_context *ctx, int i);
/* Measure every set on a 1024^3 SGEMM (2048^3 on GPUs: above the size where CLBlast
 * switches to Xgemm) in scratch buffers (after a compile and a warm-up
 * run, best of 3), check each result against a double-precision reference on 256
 * sampled entries, record the fastest correct set in the tuning cache and apply it.
 * Blocks. *chosen (may be NULL) receives the set. */
vd_status vd_blas_tune(vd_context *ctx, int *chosen);

/* ------------------------------------------------------------------ RNG (rng.c) */

/* Philox4x32-10 (Salmon et al., SC'11): 4 random words for a 128-bit counter and a 64-bit
 * key. cl/common.cl holds the same function, so host and device draw identical streams. */
void vd_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Uniform float in [0,1) from one 32-bit word (24 random bits). */
float vd_rng_uniform(uint32_t word);
/* Fill n floats with N(0, std^2) draws from stream (seed, stream). */
void vd_rng_normal(uint64_t seed, uint64_t stream, float std, float *out, size_t n);
/* Fisher-Yates permutation of 0..n-1 from stream (seed, stream). */
void vd_rng_permutation(uint64_t seed, uint64_t stream, uint32_t *out, size_t n);

#endif /* VD_RUNTIME_H */

/* tensor.c - the device buffer pool and float32 tensors (create, views, host copies).
 * The pool keeps freed blocks by size class so a training loop that frees and allocates
 * the same sizes never reaches clCreateBuffer again. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

/* Size classes 2^k * {4,5,6,7}/4 (waste <= 25%), minimum 256 bytes. */
static size_t size_class(size_t bytes)
{
    if (bytes <= 256) return 256;
    size_t p = 256;
    while (p * 2 <= bytes) p *= 2;
    for (size_t q = 4; q <= 8; q++) {
        size_t c = p / 4 * q;
        if (c >= bytes) return c;
    }
    return p * 2;
}

void vd_pool_trim(vd_context *ctx)
{
    if (!ctx) return;
    for (size_t i = 0; i < ctx->n_pool; i++) clReleaseMemObject(ctx->pool[i].mem);
    ctx->n_pool = 0;
}

vd_status vd_buffer_alloc(vd_context *ctx, size_t bytes, cl_mem *out)
{
    *out = NULL;
    size_t cls = size_class(bytes);
    for (size_t i = 0; i < ctx->n_pool; i++) {
        if (ctx->pool[i].bytes == cls) {
            *out = ctx->pool[i].mem;
            ctx->pool[i] = ctx->pool[--ctx->n_pool];
            ctx->stats.pool_bytes_in_use += cls;
            return VD_OK;
        }
    }
    if (cls > ctx->info.max_alloc_bytes ||
        ctx->stats.pool_bytes_in_use + cls > ctx->info.global_mem_bytes)
        return vd_error_set(ctx, VD_ERR_NO_MEMORY,
                            "device out of memory: %zu bytes requested, %llu in use, device has "
                            "%llu (largest single buffer %llu)",
                            bytes, (unsigned long long)ctx->stats.pool_bytes_in_use,
                            (unsigned long long)ctx->info.global_mem_bytes,
                            (unsigned long long)ctx->info.max_alloc_bytes);
    cl_int err = vd_fault(ctx, "clCreateBuffer");
    cl_mem m = err ? NULL : clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, cls, NULL, &err);
    if (!m && ctx->n_pool > 0) { /* give cached blocks back and try once more */
        vd_pool_trim(ctx);
        m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, cls, NULL, &err);
    }
    if (!m) {
        char what[96];
        snprintf(what, sizeof(what), "clCreateBuffer(%zu bytes)", cls);
        return vd_error_cl(ctx, what, err);
    }
    if (ctx->dev.oclgrind_compat) { /* a whole first write, of NaN (runtime.h) */
        float *nan = malloc(cls);
        cl_int e = nan ? CL_SUCCESS : CL_OUT_OF_HOST_MEMORY;
        for (size_t i = 0; nan && i < cls / sizeof(float); i++) nan[i] = NAN;
        if (nan) e = clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, cls, nan, 0, NULL, NULL);
        free(nan);
        if (e != CL_SUCCESS) {
            clReleaseMemObject(m);
            return vd_error_cl(ctx, "clEnqueueWriteBuffer(NaN fill of a new buffer)", e);
        }
    }
    ctx->stats.pool_allocations++;
    ctx->stats.pool_bytes_in_use += cls;
    *out = m;
    return VD_OK;
}

void vd_buffer_release(vd_context *ctx, cl_mem mem, size_t bytes)
{
    if (!ctx || !mem) return;
    size_t cls = size_class(bytes);
    ctx->stats.pool_bytes_in_use -= cls;
    /* Keep at most a quarter of the device memory cached. */
    uint64_t cached = 0;
    for (size_t i = 0; i < ctx->n_pool; i++) cached += ctx->pool[i].bytes;
    if (cached + cls > ctx->info.global_mem_bytes / 4) {
        clReleaseMemObject(mem);
        return;
    }
    if (ctx->n_pool == ctx->cap_pool) {
        size_t ncap = ctx->cap_pool ? ctx->cap_pool * 2 : 32;
        vd_pool_block *p = realloc(ctx->pool, ncap * sizeof(*p));
        if (!p) {
            clReleaseMemObject(mem);
            return;
        }
        ctx->pool = p;
        ctx->cap_pool = ncap;
    }
    ctx->pool[ctx->n_pool++] = (vd_pool_block){mem, cls};
}

/* ---------------------------------------------------------------- tensors */

static vd_status check_shape(const vd_context *ctx, int32_t ndim, const int64_t *shape,
                             size_t *numel)
{
    if (ndim < 1 || ndim > VD_MAX_DIMS || !shape)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "tensor: ndim must be 1..%d, got %d",
                            VD_MAX_DIMS, (int)ndim);
    size_t n = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 1 || (uint64_t)shape[i] > ((uint64_t)1 << 40) / n)
            return vd_error_set(ctx, VD_ERR_SHAPE, "tensor: dimension %d has bad extent %lld",
                                (int)i, (long long)shape[i]);
        n *= (size_t)shape[i];
    }
    *numel = n;
    return VD_OK;
}

static vd_status tensor_new(vd_context *ctx, int32_t ndim, const int64_t *shape, vd_tensor **out)
{
    size_t numel = 0;
    vd_status st = check_shape(ctx, ndim, shape, &numel);
    if (st != VD_OK) return st;
    vd_tensor *t = calloc(1, sizeof(*t));
    if (!t) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    t->ctx = ctx;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->numel = numel;
    *out = t;
    return VD_OK;
}

vd_status vd_tensor_create(vd_context *ctx, int32_t ndim, const int64_t *shape, vd_tensor **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_tensor_create: out is NULL");
    *out = NULL;
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_tensor_create: ctx is NULL");
    vd_tensor *t;
    vd_status st = tensor_new(ctx, ndim, shape, &t);
    if (st != VD_OK) return st;
    t->bytes = t->numel * sizeof(float);
    st = vd_buffer_alloc(ctx, t->bytes, &t->mem);
    if (st != VD_OK) {
        free(t);
        return st;
    }
    t->owns = true;
    *out = t;
    return VD_OK;
}

vd_status vd_tensor_view(vd_tensor *base, size_t offset, int32_t ndim, const int64_t *shape,
                         vd_tensor **out)
{
    if (!out) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_tensor_view: out is NULL");
    *out = NULL;
    if (!base) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_tensor_view: base is NULL");
    vd_tensor *t;
    vd_status st = tensor_new(base->ctx, ndim, shape, &t);
    if (st != VD_OK) return st;
    if (offset > base->numel || t->numel > base->numel - offset) {
        st = vd_error_set(base->ctx, VD_ERR_SHAPE,
                          "vd_tensor_view: %zu elements at offset %zu do not fit in a tensor of "
                          "%zu",
                          t->numel, offset, base->numel);
        free(t);
        return st;
    }
    t->mem = base->mem;
    t->offset = base->offset + offset;
    t->owns = false;
    *out = t;
    return VD_OK;
}

void vd_tensor_destroy(vd_tensor *t)
{
    if (!t) return;
    if (t->owns) vd_buffer_release(t->ctx, t->mem, t->bytes);
    free(t);
}

int32_t vd_tensor_ndim(const vd_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t vd_tensor_dim(const vd_tensor *t, int32_t i)
{
    return (t && i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}

size_t vd_tensor_numel(const vd_tensor *t)
{
    return t ? t->numel : 0;
}

static vd_status copy_check(const vd_tensor *t, const void *host, size_t count, const char *fn)
{
    if (!t) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: tensor is NULL", fn);
    if (!host) return vd_error_set(t->ctx, VD_ERR_INVALID_ARG, "%s: host pointer is NULL", fn);
    if (count != t->numel)
        return vd_error_set(t->ctx, VD_ERR_SHAPE,
                            "%s: host buffer holds %zu floats, tensor has %zu", fn, count,
                            t->numel);
    return VD_OK;
}

vd_status vd_buffer_write(vd_context *ctx, cl_mem mem, bool blocking, size_t off, size_t bytes,
                          const void *src, cl_event *ev, const char *what)
{
    char call[160];
    snprintf(call, sizeof call, "clEnqueueWriteBuffer(%s)", what);
    size_t size = 0;
    if (ctx->dev.oclgrind_compat && bytes > 0 &&
        clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL) == CL_SUCCESS &&
        (off != 0 || bytes != size) && off % 4 == 0 && bytes % 4 == 0) {
        cl_int err = vd_fault(ctx, "clCreateBuffer");
        cl_mem tmp = err ? NULL : clCreateBuffer(ctx->cl, CL_MEM_READ_ONLY, bytes, NULL, &err);
        if (!tmp) return vd_error_cl(ctx, "clCreateBuffer(staged write)", err);
        err = vd_fault(ctx, "clEnqueueWriteBuffer")
                  ?: clEnqueueWriteBuffer(ctx->queue, tmp, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
        vd_status st = err == CL_SUCCESS ? VD_OK : vd_error_cl(ctx, call, err);
        if (st == VD_OK)
            st = VD_RUN1(ctx, "util", "copy_u32", bytes / 4, VD_A_U64(bytes / 4), VD_A_MEM(tmp),
                         VD_A_MEM(mem), VD_A_U64(off / 4));
        if (st == VD_OK && ev) {
            err = clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, ev);
            if (err != CL_SUCCESS) st = vd_error_cl(ctx, "clEnqueueMarkerWithWaitList", err);
        }
        if (st == VD_OK && (err = clFinish(ctx->queue)) != CL_SUCCESS)
            st = vd_error_cl(ctx, "clFinish(staged write)", err);
        clReleaseMemObject(tmp); /* the copy holds its own reference until it completes */
        return st;
    }
    cl_int err = vd_fault(ctx, "clEnqueueWriteBuffer")
                     ?: clEnqueueWriteBuffer(ctx->queue, mem, blocking ? CL_TRUE : CL_FALSE, off,
                                             bytes, src, 0, NULL, ev);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(ctx, call, err);
}

vd_status vd_buffer_fill(vd_context *ctx, cl_mem mem, size_t off, size_t count, float value,
                         const char *what)
{
    if (count == 0) return VD_OK;
    if (ctx->dev.oclgrind_compat)
        return VD_RUN1(ctx, "util", "fill", count, VD_A_U64(count), VD_A_F32(value), VD_A_MEM(mem),
                       VD_A_U64(off));
    char call[160];
    snprintf(call, sizeof call, "clEnqueueFillBuffer(%s)", what);
    cl_int err = vd_fault(ctx, "clEnqueueFillBuffer")
                     ?: clEnqueueFillBuffer(ctx->queue, mem, &value, sizeof(value),
                                            off * sizeof(float), count * sizeof(float), 0, NULL,
                                            NULL);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(ctx, call, err);
}

vd_status vd_tensor_write(vd_tensor *t, const float *src, size_t count)
{
    vd_status st = copy_check(t, src, count, "vd_tensor_write");
    if (st != VD_OK) return st;
    return vd_buffer_write(t->ctx, t->mem, true, t->offset * sizeof(float),
                           count * sizeof(float), src, NULL, "tensor");
}

vd_status vd_tensor_read(const vd_tensor *t, float *dst, size_t count)
{
    vd_status st = copy_check(t, dst, count, "vd_tensor_read");
    if (st != VD_OK) return st;
    cl_int err = vd_fault(t->ctx, "clEnqueueReadBuffer")
                     ?: clEnqueueReadBuffer(t->ctx->queue, t->mem, CL_TRUE,
                                            t->offset * sizeof(float), count * sizeof(float), dst,
                                            0, NULL, NULL);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(t->ctx, "clEnqueueReadBuffer", err);
}

vd_status vd_tensor_fill(vd_tensor *t, float value)
{
    if (!t) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_tensor_fill: tensor is NULL");
    return vd_buffer_fill(t->ctx, t->mem, t->offset, t->numel, value, "tensor");
}

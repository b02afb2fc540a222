/* The device profile (runtime.h: vd_device_profile): the one function that turns the
 * device's type and queried limits into the CPU-versus-GPU decisions every op reads. */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

const char *vd_device_profile_name(const vd_context *ctx)
{
    return ctx && ctx->dev.variant == VD_VARIANT_GPU ? "gpu" : "cpu";
}

vd_status vd_device_profile_fill(vd_context *ctx)
{
    vd_device_profile *d = &ctx->dev;
    memset(d, 0, sizeof *d);
    d->variant = ctx->info.type == VD_DEVICE_CPU ? VD_VARIANT_CPU : VD_VARIANT_GPU;
    const char *env = getenv("VERDANT_DEVICE_PROFILE");
    if (env && *env && strcmp(env, "auto") != 0) {
        if (!strcmp(env, "gpu"))
            d->variant = VD_VARIANT_GPU;
        else if (!strcmp(env, "cpu"))
            d->variant = VD_VARIANT_CPU;
        else
            return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                                "VERDANT_DEVICE_PROFILE=\"%s\": expected gpu, cpu or auto", env);
        d->forced = true;
    }
    d->gemm_own = d->variant == VD_VARIANT_CPU;
    d->wino_fused = d->variant == VD_VARIANT_CPU;
    /* CLBlast's tuning size follows the real device, not the variant: what it must clear,
     * the size where CLBlast's Xgemm takes over from XgemmDirect, comes from CLBlast's
     * database for the device it runs on (704 by its generic default, which PoCL gets;
     * 320-384 for Intel CPUs; 128-1984 for GPUs). A CPU forced to the GPU profile measured
     * 2048^3 products at 1.3-2.7 s each, 29 s for nothing 1024^3 did not show. */
    d->blas_tune_n = ctx->info.type == VD_DEVICE_CPU ? 1024 : 2048;

    cl_int err;
    size_t wg = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    if (err != CL_SUCCESS) return vd_error_cl(NULL, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE)", err);
    d->max_wg = wg ? wg : 1;
    cl_ulong lm = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
    if (err != CL_SUCCESS) return vd_error_cl(NULL, "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)", err);
    d->local_mem = (size_t)lm;
    /* VERDANT_LOCAL_MEM=BYTES lowers the budget (never raises it), so a CPU run can take
     * the paths of a device with less __local memory (NVIDIA's 48 KiB, 32 or 16 KiB):
     * every launcher and candidate check reads local_mem, not the device. */
    const char *lmenv = getenv("VERDANT_LOCAL_MEM");
    if (lmenv && *lmenv) {
        char *end = NULL;
        unsigned long long cap = strtoull(lmenv, &end, 10);
        if (!end || *end || cap == 0 || lmenv[0] == '-')
            return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                                "VERDANT_LOCAL_MEM=\"%s\": expected a positive number of bytes",
                                lmenv);
        if (cap < d->local_mem) d->local_mem = (size_t)cap;
    }
    cl_uint align_bits = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                          &align_bits, NULL);
    if (err != CL_SUCCESS) return vd_error_cl(NULL, "clGetDeviceInfo(CL_DEVICE_MEM_BASE_ADDR_ALIGN)", err);
    d->mem_align = align_bits >= 8 ? align_bits / 8 : 128;
    cl_uint w = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof w, &w, NULL) !=
            CL_SUCCESS || w == 0)
        w = 8;
    d->vec_width = w;
    /* Oclgrind 21.10 (and its master as of 2026-12): the uninitialised-memory plugin
     * keeps one shadow per buffer index. A host write, copy or fill pattern replaces it
     * with one of the written size (Uninitialized::hostMemoryStore ->
     * ShadowMemory::allocate), so a partial write makes the rest of the buffer read as
     * uninitialised; and clReleaseMemObject does not drop it, so a later buffer that
     * reuses the index inherits a shadow of the old size, and its stores beyond that
     * size are lost. Hence oclgrind_compat (runtime.h). */
    char dname[256] = "";
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof dname - 1, dname, NULL) == CL_SUCCESS)
        d->oclgrind_compat = strstr(dname, "Oclgrind") != NULL;
    const char *sw = getenv("VERDANT_OCLGRIND_COMPAT"); /* 0/1: force it either way */
    if (sw && (!strcmp(sw, "0") || !strcmp(sw, "1"))) d->oclgrind_compat = sw[0] == '1';
    ctx->max_wg = d->max_wg;
    ctx->mem_align = d->mem_align;
    return VD_OK;
}

/* context.c - context lifecycle: device selection, the OpenCL context and its in-order
 * profiling queue, the cache directory and the device key used by the disk caches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../energy/meter.h"
#include "profile.h"
#include "runtime.h"
#include "tune.h"

void vd_context_options_init(vd_context_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof(*opt));
}

/* mkdir -p; returns 0 on success. */
static int make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Resolve the cache directory; "" disables the disk cache (never an error). */
static void resolve_cache_dir(vd_context *ctx, const char *requested)
{
    char dir[1024];
    ctx->cache_dir[0] = '\0';
    if (vd_cache_dir_resolve(requested, dir, sizeof(dir)) != 0 || !dir[0]) return; /* cache.c */
    if (make_dirs(dir) != 0) {
        vd_log(ctx, 1, "kernel cache disabled: cannot create '%s': %s", dir, strerror(errno));
        return;
    }
    snprintf(ctx->cache_dir, sizeof(ctx->cache_dir), "%s", dir);
}

vd_status vd_context_create(const vd_context_options *opt, vd_context **out)
{
    vd_context_options defaults;
    vd_status st = VD_OK;
    vd_context *ctx = NULL;
    cl_int err;
    if (!out) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_context_create: out is NULL");
    *out = NULL;
    if (!opt) {
        vd_context_options_init(&defaults);
        opt = &defaults;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return vd_error_set(NULL, VD_ERR_NO_MEMORY, "vd_context_create: out of host memory");
    ctx->verbose = opt->verbose;
    const char *env_verbose = getenv("VERDANT_VERBOSE");
    if (env_verbose && *env_verbose && atoi(env_verbose) > ctx->verbose)
        ctx->verbose = atoi(env_verbose);

    const char *env_det = getenv("VERDANT_DETERMINISTIC"), *env_num = getenv("VERDANT_CHECK_NUMERICS");
    ctx->deterministic = env_det && *env_det && strcmp(env_det, "0") != 0;
    ctx->check_numerics = env_num && *env_num && strcmp(env_num, "0") != 0;
    vd_fault_arm_from_env(ctx);

    const char *spec = opt->device ? opt->device : getenv("VERDANT_DEVICE");
    VD_TRY(vd_device_select(spec, &ctx->platform, &ctx->device, &ctx->info));

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    err = vd_fault(ctx, "clCreateContext");
    ctx->cl = err ? NULL : clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (!ctx->cl) {
        st = vd_error_cl(NULL, "clCreateContext", err);
        goto done;
    }
    err = vd_fault(ctx, "clCreateCommandQueue");
    ctx->queue = err ? NULL
                     : clCreateCommandQueue(ctx->cl, ctx->device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (!ctx->queue) {
        st = vd_error_cl(NULL, "clCreateCommandQueue", err);
        goto done;
    }
    VD_TRY(vd_device_profile_fill(ctx));

    char pver[256] = "";
    clGetPlatformInfo(ctx->platform, CL_PLATFORM_VERSION, sizeof(pver), pver, NULL);
    pver[sizeof(pver) - 1] = '\0';
    snprintf(ctx->device_key, sizeof(ctx->device_key), "%s|%s|%s|%s|%s|%s", ctx->info.platform_name,
             pver, ctx->info.name, ctx->info.device_version, ctx->info.driver_version,
             ctx->info.vendor);
    resolve_cache_dir(ctx, opt->cache_dir);
    const char *env_prof = getenv("VERDANT_PROFILE");
    if (env_prof && *env_prof && strcmp(env_prof, "0") != 0) {
        VD_TRY(vd_profile_enable(ctx, true));
        ctx->profile->auto_print = true; /* vd_net_train_epoch prints the table */
    }
    vd_log(ctx, 1, "device %d:%d %s (%s), profile %s%s, kernel cache %s", ctx->info.platform_index,
           ctx->info.device_index, ctx->info.name, ctx->info.platform_name,
           vd_device_profile_name(ctx), ctx->dev.forced ? " (VERDANT_DEVICE_PROFILE)" : "",
           ctx->cache_dir[0] ? ctx->cache_dir : "off");
    *out = ctx;
    ctx = NULL;
done:
    vd_context_destroy(ctx);
    return st;
}

void vd_context_destroy(vd_context *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    vd_conv_fft_release(ctx); /* its plans live in ctx->cl */
    vd_profile_destroy(ctx->profile);
    vd_meter_close(ctx->meter);
    for (size_t i = 0; i < ctx->n_kernels; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (size_t i = 0; i < ctx->n_programs; i++) clReleaseProgram(ctx->programs[i].program);
    free(ctx->kernels);
    free(ctx->programs);
    vd_pool_trim(ctx);
    vd_tune_reset(ctx);
    free(ctx->pool);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx);
}

vd_status vd_context_device(const vd_context *ctx, vd_device_info *out)
{
    if (!ctx || !out)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_context_device: NULL argument");
    *out = ctx->info;
    return VD_OK;
}

vd_status vd_context_finish(vd_context *ctx)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_context_finish: ctx is NULL");
    cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(ctx, "clFinish", err);
}

vd_status vd_context_stats_get(const vd_context *ctx, vd_context_stats *out)
{
    if (!ctx || !out)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_context_stats_get: NULL argument");
    *out = ctx->stats;
    uint64_t cached = 0;
    for (size_t i = 0; i < ctx->n_pool; i++) cached += ctx->pool[i].bytes;
    out->pool_bytes_cached = cached;
    return VD_OK;
}

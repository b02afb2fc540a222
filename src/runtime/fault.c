/* fault.c - reliability helpers: fault injection for tests (make the n-th OpenCL call of a
 * context fail with a chosen error code, so every error path can be exercised without a
 * broken driver) and the non-finite scan behind VERDANT_CHECK_NUMERICS.
 *
 * Armed by VERDANT_FAULT_INJECT=N[:CODE[:CALL]] when a context is created (CODE defaults
 * to -5, CL_OUT_OF_RESOURCES; CALL restricts the count to calls of that name, e.g.
 * clBuildProgram), or by vd_fault_arm() from a test. Every OpenCL call site whose result
 * is checked asks vd_fault() first:
 *     cl_int err = vd_fault(ctx, "clEnqueueNDRangeKernel") ?: clEnqueueNDRangeKernel(...);
 * A fault fires once and disarms. The error text comes from vd_error_cl at the call site;
 * what a non-finite value means (which layer, which step) is said by the caller. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

void vd_fault_arm(vd_context *ctx, uint64_t n, cl_int code, const char *call)
{
    if (!ctx) return;
    ctx->fault.at = n;
    ctx->fault.code = code ? code : CL_OUT_OF_RESOURCES;
    ctx->fault.seen = 0;
    ctx->fault.fired = 0;
    ctx->fault.last = NULL;
    snprintf(ctx->fault.call, sizeof(ctx->fault.call), "%s", call ? call : "");
}

void vd_fault_arm_from_env(vd_context *ctx)
{
    const char *env = getenv("VERDANT_FAULT_INJECT");
    if (!ctx || !env || !*env) return;
    char *end = NULL;
    unsigned long long n = strtoull(env, &end, 10);
    long code = CL_OUT_OF_RESOURCES;
    const char *call = NULL;
    if (end && *end == ':') {
        code = strtol(end + 1, &end, 10);
        if (end && *end == ':') call = end + 1;
    }
    vd_fault_arm(ctx, (uint64_t)n, (cl_int)code, call);
}

cl_int vd_fault(vd_context *ctx, const char *call)
{
    if (!ctx) return CL_SUCCESS;
    if (ctx->fault.call[0] && strcmp(ctx->fault.call, call) != 0) return CL_SUCCESS;
    ctx->fault.seen++;
    if (ctx->fault.at == 0 || ctx->fault.seen != ctx->fault.at) return CL_SUCCESS;
    ctx->fault.at = 0; /* once */
    ctx->fault.fired++;
    ctx->fault.last = call;
    vd_log(ctx, 1, "fault injection: %s fails with %d (call %llu)", call, (int)ctx->fault.code,
           (unsigned long long)ctx->fault.seen);
    return ctx->fault.code;
}

vd_status vd_find_nonfinite(vd_context *ctx, cl_mem mem, size_t off, size_t count, size_t *index,
                            float *value)
{
    *index = SIZE_MAX;
    *value = 0.0f;
    if (!mem || count == 0) return VD_OK;
    float *host = malloc(count * sizeof(float));
    if (!host) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "numeric check: out of host memory");
    cl_int err = vd_fault(ctx, "clEnqueueReadBuffer")
                     ?: clEnqueueReadBuffer(ctx->queue, mem, CL_TRUE, off * sizeof(float),
                                            count * sizeof(float), host, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        free(host);
        return vd_error_cl(ctx, "clEnqueueReadBuffer(numeric check)", err);
    }
    for (size_t i = 0; i < count; i++)
        if (!isfinite(host[i])) {
            *index = i;
            *value = host[i];
            break;
        }
    free(host);
    return VD_OK;
}

/* error.c - status table text, per-context and thread-local error messages, OpenCL
 * error names. Holds no other state. */
#include <stdio.h>
#include <string.h>

#include "runtime.h"

static _Thread_local char tls_error[2048];

const char *vd_status_string(vd_status s)
{
    switch (s) {
#define VD_STATUS_TEXT_(name, value, text) \
    case name: return text;
        VD_STATUS_LIST(VD_STATUS_TEXT_)
#undef VD_STATUS_TEXT_
    }
    return "unknown status";
}

const char *vd_status_name(vd_status s)
{
    switch (s) {
#define VD_STATUS_NAME_(name, value, text) \
    case name: return #name;
        VD_STATUS_LIST(VD_STATUS_NAME_)
#undef VD_STATUS_NAME_
    }
    return "VD_STATUS_UNKNOWN";
}

const char *vd_version(void)
{
    return "0.1.0";
}

const char *vd_last_error(const vd_context *ctx)
{
    return ctx ? ctx->error : tls_error;
}

static vd_status error_vset(const vd_context *ctx, vd_status st, const char *fmt, va_list ap)
{
    /* The message slot is logically mutable state of an otherwise const handle. */
    char *dst = ctx ? ((vd_context *)ctx)->error : tls_error;
    size_t cap = ctx ? sizeof(ctx->error) : sizeof(tls_error);
    char tmp[2048];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    snprintf(dst, cap, "%s", tmp);
    if (ctx && ctx->verbose >= 2) fprintf(stderr, "verdant: error: %s\n", dst);
    return st;
}

vd_status vd_error_set(const vd_context *ctx, vd_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(ctx, st, fmt, ap);
    va_end(ap);
    return st;
}

#define VD_CL_ERRORS(X)                                                                           \
    X(CL_SUCCESS)                                                                                 \
    X(CL_DEVICE_NOT_FOUND) X(CL_DEVICE_NOT_AVAILABLE) X(CL_COMPILER_NOT_AVAILABLE) X(             \
        CL_MEM_OBJECT_ALLOCATION_FAILURE) X(CL_OUT_OF_RESOURCES) X(CL_OUT_OF_HOST_MEMORY)         \
        X(CL_PROFILING_INFO_NOT_AVAILABLE) X(CL_MEM_COPY_OVERLAP) X(CL_IMAGE_FORMAT_MISMATCH) X(  \
            CL_IMAGE_FORMAT_NOT_SUPPORTED) X(CL_BUILD_PROGRAM_FAILURE) X(CL_MAP_FAILURE)          \
            X(CL_MISALIGNED_SUB_BUFFER_OFFSET) X(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) X( \
                CL_COMPILE_PROGRAM_FAILURE) X(CL_LINKER_NOT_AVAILABLE) X(CL_LINK_PROGRAM_FAILURE) \
                X(CL_DEVICE_PARTITION_FAILED) X(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) X(              \
                    CL_INVALID_VALUE) X(CL_INVALID_DEVICE_TYPE) X(CL_INVALID_PLATFORM)            \
                    X(CL_INVALID_DEVICE) X(CL_INVALID_CONTEXT) X(CL_INVALID_QUEUE_PROPERTIES) X(  \
                        CL_INVALID_COMMAND_QUEUE) X(CL_INVALID_HOST_PTR) X(CL_INVALID_MEM_OBJECT) \
                        X(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) X(CL_INVALID_IMAGE_SIZE) X(         \
                            CL_INVALID_SAMPLER) X(CL_INVALID_BINARY) X(CL_INVALID_BUILD_OPTIONS)  \
                            X(CL_INVALID_PROGRAM) X(CL_INVALID_PROGRAM_EXECUTABLE) X(             \
                                CL_INVALID_KERNEL_NAME) X(CL_INVALID_KERNEL_DEFINITION)           \
                                X(CL_INVALID_KERNEL) X(CL_INVALID_ARG_INDEX) X(                   \
                                    CL_INVALID_ARG_VALUE) X(CL_INVALID_ARG_SIZE)                  \
                                    X(CL_INVALID_KERNEL_ARGS) X(CL_INVALID_WORK_DIMENSION) X(     \
                                        CL_INVALID_WORK_GROUP_SIZE) X(CL_INVALID_WORK_ITEM_SIZE)  \
                                        X(CL_INVALID_GLOBAL_OFFSET) X(CL_INVALID_EVENT_WAIT_LIST) \
                                            X(CL_INVALID_EVENT) X(CL_INVALID_OPERATION) X(        \
                                                CL_INVALID_GL_OBJECT) X(CL_INVALID_BUFFER_SIZE)   \
                                                X(CL_INVALID_MIP_LEVEL)                           \
                                                    X(CL_INVALID_GLOBAL_WORK_SIZE) X(             \
                                                        CL_INVALID_PROPERTY)                      \
                                                        X(CL_INVALID_IMAGE_DESCRIPTOR) X(         \
                                                            CL_INVALID_COMPILER_OPTIONS)          \
                                                            X(CL_INVALID_LINKER_OPTIONS) X(       \
                                                                CL_INVALID_DEVICE_PARTITION_COUNT)

const char *vd_cl_error_name(cl_int err)
{
    switch (err) {
#define VD_CL_ERR_CASE_(e) \
    case e: return #e;
        VD_CL_ERRORS(VD_CL_ERR_CASE_)
#undef VD_CL_ERR_CASE_
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "CL_UNKNOWN_ERROR";
}

vd_status vd_error_cl(const vd_context *ctx, const char *what, cl_int err)
{
    vd_status st = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                    err == CL_INVALID_BUFFER_SIZE)
                       ? VD_ERR_NO_MEMORY
                       : VD_ERR_OPENCL;
    return vd_error_set(ctx, st, "%s -> %d (%s)", what, (int)err, vd_cl_error_name(err));
}

void vd_log(const vd_context *ctx, int level, const char *fmt, ...)
{
    if (!ctx || ctx->verbose < level) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("verdant: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* device.c - OpenCL platform/device discovery, device info, and the selection rule
 * ("gpu", "cpu", "P:D", name substring; default best GPU, else first usable CPU).
 * All clGetDeviceInfo probing lives here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime.h"

#define VD_MAX_PLATFORMS 16
#define VD_MAX_DEVICES 64

static void info_str(cl_device_id d, cl_device_info what, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[cap - 1] = '\0';
}

static uint64_t info_u64(cl_device_id d, cl_device_info what)
{
    cl_ulong v = 0;
    clGetDeviceInfo(d, what, sizeof(v), &v, NULL);
    return v;
}

static uint32_t info_u32(cl_device_id d, cl_device_info what)
{
    cl_uint v = 0;
    clGetDeviceInfo(d, what, sizeof(v), &v, NULL);
    return v;
}

/* "OpenCL C 1.2 ..." -> 120; 0 when unparsable. */
static int c_version(const char *s)
{
    int major = 0, minor = 0;
    if (sscanf(s, "OpenCL C %d.%d", &major, &minor) != 2) return 0;
    return major * 100 + minor * 10;
}

static void fill_info(cl_platform_id p, cl_device_id d, int pi, int di, vd_device_info *out)
{
    memset(out, 0, sizeof(*out));
    out->platform_index = pi;
    out->device_index = di;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof(out->platform_name), out->platform_name, NULL);
    out->platform_name[sizeof(out->platform_name) - 1] = '\0';
    info_str(d, CL_DEVICE_NAME, out->name, sizeof(out->name));
    info_str(d, CL_DEVICE_VENDOR, out->vendor, sizeof(out->vendor));
    info_str(d, CL_DEVICE_VERSION, out->device_version, sizeof(out->device_version));
    info_str(d, CL_DRIVER_VERSION, out->driver_version, sizeof(out->driver_version));
    info_str(d, CL_DEVICE_OPENCL_C_VERSION, out->opencl_c_version, sizeof(out->opencl_c_version));
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(t), &t, NULL);
    out->type = (t & CL_DEVICE_TYPE_GPU)           ? VD_DEVICE_GPU
                : (t & CL_DEVICE_TYPE_CPU)         ? VD_DEVICE_CPU
                : (t & CL_DEVICE_TYPE_ACCELERATOR) ? VD_DEVICE_ACCELERATOR
                                                   : VD_DEVICE_OTHER;
    out->compute_units = (int32_t)info_u32(d, CL_DEVICE_MAX_COMPUTE_UNITS);
    out->max_clock_mhz = (int32_t)info_u32(d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    out->global_mem_bytes = info_u64(d, CL_DEVICE_GLOBAL_MEM_SIZE);
    out->local_mem_bytes = info_u64(d, CL_DEVICE_LOCAL_MEM_SIZE);
    out->max_alloc_bytes = info_u64(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    char ext[8192];
    info_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof(ext));
    out->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    out->has_fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    out->usable = c_version(out->opencl_c_version) >= 120 && out->type != VD_DEVICE_OTHER;
}

/* Walk every device; calls fn until it returns nonzero. Returns VD_ERR_NO_DEVICE with a
 * message when there is no platform at all. */
typedef int (*device_fn)(void *user, cl_platform_id p, cl_device_id d, const vd_device_info *info);

static vd_status for_each_device(device_fn fn, void *user)
{
    cl_platform_id plats[VD_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(VD_MAX_PLATFORMS, plats, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return vd_error_set(NULL, VD_ERR_NO_DEVICE,
                            "no OpenCL platform is installed (for a CPU device install the "
                            "Debian package pocl-opencl-icd)");
    if (err != CL_SUCCESS) return vd_error_cl(NULL, "clGetPlatformIDs", err);
    if (np > VD_MAX_PLATFORMS) np = VD_MAX_PLATFORMS;
    for (cl_uint pi = 0; pi < np; pi++) {
        cl_device_id devs[VD_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, VD_MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue; /* a platform with no devices is not an error */
        if (nd > VD_MAX_DEVICES) nd = VD_MAX_DEVICES;
        for (cl_uint di = 0; di < nd; di++) {
            vd_device_info info;
            fill_info(plats[pi], devs[di], (int)pi, (int)di, &info);
            if (fn(user, plats[pi], devs[di], &info)) return VD_OK;
        }
    }
    return VD_OK;
}

typedef struct list_state {
    vd_device_info *out;
    size_t cap, n;
} list_state;

static int list_one(void *user, cl_platform_id p, cl_device_id d, const vd_device_info *info)
{
    list_state *s = user;
    if (s->n < s->cap) s->out[s->n] = *info;
    s->n++;
    return 0;
}

vd_status vd_devices_list(vd_device_info *out, size_t cap, size_t *count)
{
    if (!count || (cap > 0 && !out))
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_devices_list: NULL argument");
    list_state s = {out, cap, 0};
    vd_status st = for_each_device(list_one, &s);
    *count = s.n;
    return st;
}

/* ---------------------------------------------------------------- selection */

typedef enum { SEL_BEST, SEL_GPU, SEL_CPU, SEL_INDEX, SEL_NAME } sel_kind;

typedef struct select_state {
    sel_kind kind;
    int pi, di;
    char needle[256];
    int found;
    long score;
    cl_platform_id platform;
    cl_device_id device;
    vd_device_info info;
} select_state;

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* Higher is better: GPUs first, then by compute units * clock as a rough throughput. */
static long device_score(const vd_device_info *info)
{
    long base = info->type == VD_DEVICE_GPU ? 3 : info->type == VD_DEVICE_ACCELERATOR ? 2 : 1;
    long work = (long)info->compute_units * (info->max_clock_mhz > 0 ? info->max_clock_mhz : 1);
    return base * 1000000000L + (work < 999999999L ? work : 999999999L);
}

static int select_one(void *user, cl_platform_id p, cl_device_id d, const vd_device_info *info)
{
    select_state *s = user;
    int match = 0;
    switch (s->kind) {
    case SEL_BEST: match = info->usable; break;
    case SEL_GPU: match = info->usable && info->type == VD_DEVICE_GPU; break;
    case SEL_CPU: match = info->usable && info->type == VD_DEVICE_CPU; break;
    case SEL_INDEX: match = info->platform_index == s->pi && info->device_index == s->di; break;
    case SEL_NAME: {
        char full[300];
        snprintf(full, sizeof(full), "%s / %s", info->platform_name, info->name);
        match = ci_contains(full, s->needle);
        break;
    }
    }
    if (!match) return 0;
    long score = device_score(info);
    if (!s->found || score > s->score) {
        s->found = 1;
        s->score = score;
        s->platform = p;
        s->device = d;
        s->info = *info;
    }
    /* An index or name picks the first match; gpu/cpu/best keep the best-scoring one. */
    return s->kind == SEL_INDEX || s->kind == SEL_NAME;
}

/* Internal: choose the device for a context from a selection string (NULL: best). */
vd_status vd_device_select(const char *spec, cl_platform_id *platform, cl_device_id *device,
                           vd_device_info *info)
{
    select_state s;
    memset(&s, 0, sizeof(s));
    s.kind = SEL_BEST;
    if (spec && *spec) {
        char tail;
        if (!strcasecmp(spec, "gpu")) s.kind = SEL_GPU;
        else if (!strcasecmp(spec, "cpu")) s.kind = SEL_CPU;
        else if (!strcasecmp(spec, "best") || !strcasecmp(spec, "default")) s.kind = SEL_BEST;
        else if (sscanf(spec, "%d:%d%c", &s.pi, &s.di, &tail) == 2) {
            if (s.pi < 0 || s.di < 0)
                return vd_error_set(NULL, VD_ERR_INVALID_ARG, "device '%s': indices must be >= 0",
                                    spec);
            s.kind = SEL_INDEX;
        } else {
            s.kind = SEL_NAME;
            snprintf(s.needle, sizeof(s.needle), "%s", spec);
        }
    }
    vd_status st = for_each_device(select_one, &s);
    if (st != VD_OK) return st;
    if (!s.found) {
        const char *what = s.kind == SEL_GPU   ? "no usable OpenCL GPU"
                           : s.kind == SEL_CPU ? "no usable OpenCL CPU device"
                                               : "no usable OpenCL device";
        if (spec && *spec)
            return vd_error_set(NULL, VD_ERR_NO_DEVICE,
                                "%s matches '%s' (list them with 'verdant devices')", what, spec);
        return vd_error_set(NULL, VD_ERR_NO_DEVICE,
                            "%s found (install a GPU driver's OpenCL ICD, or pocl-opencl-icd "
                            "for the CPU)",
                            what);
    }
    if (!s.info.usable)
        return vd_error_set(
            NULL, VD_ERR_UNSUPPORTED, "device %d:%d '%s' supports '%s'; Verdant needs OpenCL C 1.2",
            s.info.platform_index, s.info.device_index, s.info.name, s.info.opencl_c_version);
    *platform = s.platform;
    *device = s.device;
    *info = s.info;
    return VD_OK;
}

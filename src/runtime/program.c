/* program.c - OpenCL programs and kernels: source assembly (common.cl + file, with #line
 * directives), the per-context program/kernel tables, the on-disk binary cache, and the
 * one place where kernels are enqueued (vd_kernel_run).
 *
 * Disk cache entry: <cache_dir>/<32 hex digits>.bin =
 *   "VDBIN001" | u32 format | u64 key_len | key text | u64 bin_len | binary | u64 fnv(binary)
 * The key text is the cache format, device key (platform/device/driver names and versions),
 * build options and the full final source, so it is compared whole on load: a hash
 * collision cannot load a wrong program. Writes go to <name>.tmp.<pid>.<n> and are renamed.
 * Any problem reading or using an entry is a miss, never an error. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"
#include "runtime.h"

#define CACHE_MAGIC "VDBIN001"
#define CACHE_FORMAT 1u
#define CACHE_MAX_ENTRY (256u << 20) /* bound on any size read from an entry */

/* ---------------------------------------------------------------- source assembly */

static const vd_cl_source *embedded(const char *file)
{
    for (const vd_cl_source *s = vd_cl_sources; s->name; s++)
        if (!strcmp(s->name, file)) return s;
    return NULL;
}

/* Read cl/<file>.cl from VERDANT_KERNEL_DIR when set, else the embedded copy. The result
 * is malloc'ed. */
static vd_status load_file(vd_context *ctx, const char *file, char **text)
{
    *text = NULL;
    const char *dir = getenv("VERDANT_KERNEL_DIR");
    if (dir && *dir) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s.cl", dir, file);
        FILE *f = fopen(path, "rb");
        if (!f)
            return vd_error_set(ctx, VD_ERR_IO, "VERDANT_KERNEL_DIR: cannot open '%s': %s", path,
                                strerror(errno));
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            fclose(f);
            return vd_error_set(ctx, VD_ERR_IO, "cannot read '%s'", path);
        }
        fclose(f);
        buf[n] = '\0';
        *text = buf;
        return VD_OK;
    }
    const vd_cl_source *s = embedded(file);
    if (!s) return vd_error_set(ctx, VD_ERR_NOT_FOUND, "no kernel file cl/%s.cl", file);
    *text = strdup(s->text);
    return *text ? VD_OK : vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
}

/* The one function that decides device quirks: everything device-specific that kernels
 * may test goes into this header. */
static void quirk_header(const vd_context *ctx, char *dst, size_t cap)
{
    snprintf(dst, cap,
             "#define VD_DEVICE_IS_CPU %d\n"
             "#define VD_DEVICE_IS_GPU %d\n",
             ctx->dev.variant == VD_VARIANT_CPU, ctx->dev.variant == VD_VARIANT_GPU);
}

static vd_status assemble(vd_context *ctx, const char *file, char **out)
{
    char *common = NULL, *body = NULL;
    char header[512];
    vd_status st = VD_OK;
    *out = NULL;
    VD_TRY(load_file(ctx, "common", &common));
    if (strcmp(file, "common") != 0) VD_TRY(load_file(ctx, file, &body));
    quirk_header(ctx, header, sizeof(header));
    size_t n = strlen(header) + strlen(common) + (body ? strlen(body) : 0) + 128;
    char *src = malloc(n);
    if (!src) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    snprintf(src, n, "%s#line 1 \"common.cl\"\n%s\n#line 1 \"%s.cl\"\n%s\n", header, common, file,
             body ? body : "");
    *out = src;
done:
    free(common);
    free(body);
    return st;
}

/* ---------------------------------------------------------------- disk cache */

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static char *make_key(const vd_context *ctx, const char *options, const char *source)
{
    size_t n = strlen(ctx->device_key) + strlen(options) + strlen(source) + 128;
    char *key = malloc(n);
    if (key)
        snprintf(key, n, "verdant-program-cache format %u\n%s\n%s\n%s", CACHE_FORMAT,
                 ctx->device_key, options, source);
    return key;
}

static void entry_path(const vd_context *ctx, const char *key, char *path, size_t cap)
{
    size_t n = strlen(key);
    uint64_t a = fnv1a(key, n, 0xcbf29ce484222325ull);
    uint64_t b = fnv1a(key, n, 0x84222325cbf29ce4ull ^ n);
    snprintf(path, cap, "%s/%016llx%016llx.bin", ctx->cache_dir, (unsigned long long)a,
             (unsigned long long)b);
}

/* Read exactly n bytes; 0 on success. */
static int read_exact(FILE *f, void *dst, size_t n)
{
    return fread(dst, 1, n, f) == n ? 0 : -1;
}

unsigned char *vd_cache_entry_read(FILE *f, const char *key, size_t *len)
{
    char magic[8];
    uint32_t format = 0;
    uint64_t key_len = 0, bin_len = 0, sum = 0;
    char *stored_key = NULL;
    unsigned char *bin = NULL;
    long size = -1; /* every length read below is checked against the file's size first */
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) return NULL;
    if (read_exact(f, magic, 8) || memcmp(magic, CACHE_MAGIC, 8) || read_exact(f, &format, 4) ||
        format != CACHE_FORMAT || read_exact(f, &key_len, 8) || key_len != strlen(key))
        goto miss;
    stored_key = malloc(key_len);
    if (!stored_key || read_exact(f, stored_key, key_len) || memcmp(stored_key, key, key_len))
        goto miss;
    if (read_exact(f, &bin_len, 8) || bin_len == 0 || bin_len > CACHE_MAX_ENTRY ||
        bin_len > (uint64_t)size)
        goto miss;
    bin = malloc(bin_len);
    if (!bin || read_exact(f, bin, bin_len) || read_exact(f, &sum, 8) ||
        sum != fnv1a(bin, bin_len, 0xcbf29ce484222325ull))
        goto miss;
    free(stored_key);
    *len = (size_t)bin_len;
    return bin;
miss:
    free(stored_key);
    free(bin);
    return NULL;
}

/* Try to build the program from a cache entry. Returns NULL on any problem. */
static cl_program cache_load(vd_context *ctx, const char *key, const char *options)
{
    if (!ctx->cache_dir[0]) return NULL;
    char path[1200];
    entry_path(ctx, key, path, sizeof(path));
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cl_program prog = NULL;
    size_t len = 0;
    unsigned char *bin = vd_cache_entry_read(f, key, &len);
    if (!bin) goto miss;
    const unsigned char *bins[1] = {bin};
    cl_int bin_status = CL_SUCCESS, err = CL_SUCCESS;
    err = vd_fault(ctx, "clCreateProgramWithBinary");
    if (!err)
        prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &len, bins, &bin_status, &err);
    if (!prog || err != CL_SUCCESS || bin_status != CL_SUCCESS) goto miss;
    if ((vd_fault(ctx, "clBuildProgram")
             ?: clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL)) != CL_SUCCESS)
        goto miss;
    goto done;
miss:
    vd_log(ctx, 2, "program cache miss for %s", path);
    if (prog) clReleaseProgram(prog);
    prog = NULL;
done:
    free(bin);
    fclose(f);
    return prog;
}

/* Write the program's binary to the cache, atomically. Failures are only logged. */
static void cache_store(vd_context *ctx, const char *key, cl_program prog)
{
    if (!ctx->cache_dir[0]) return;
    size_t len = 0;
    cl_int err = vd_fault(ctx, "clGetProgramInfo")
                     ?: clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof(len), &len, NULL);
    if (err != CL_SUCCESS) {
        vd_log(ctx, 1, "program cache: not stored: clGetProgramInfo(BINARY_SIZES) -> %d (%s)",
               (int)err, vd_cl_error_name(err));
        return;
    }
    if (len == 0 || len > CACHE_MAX_ENTRY) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    err = vd_fault(ctx, "clGetProgramInfo")
              ?: clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof(bins), bins, NULL);
    if (err != CL_SUCCESS) {
        vd_log(ctx, 1, "program cache: not stored: clGetProgramInfo(BINARIES) -> %d (%s)", (int)err,
               vd_cl_error_name(err));
        free(bin);
        return;
    }
    char path[1200], tmp[1300];
    entry_path(ctx, key, path, sizeof(path));
    /* pid and a per-process sequence number: two contexts in two threads of one process
     * may store the same entry at once. */
    static atomic_ulong seq;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%lu", path, (long)getpid(),
             (unsigned long)atomic_fetch_add(&seq, 1));
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) {
        uint32_t format = CACHE_FORMAT;
        uint64_t key_len = strlen(key), bin_len = len;
        uint64_t sum = fnv1a(bin, len, 0xcbf29ce484222325ull);
        ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&format, 4, 1, f) == 1 &&
             fwrite(&key_len, 8, 1, f) == 1 && fwrite(key, 1, key_len, f) == key_len &&
             fwrite(&bin_len, 8, 1, f) == 1 && fwrite(bin, 1, len, f) == len &&
             fwrite(&sum, 8, 1, f) == 1;
        ok = (fclose(f) == 0) && ok;
    }
    if (ok && rename(tmp, path) == 0) {
        vd_log(ctx, 2, "program cached as %s", path);
    } else {
        vd_log(ctx, 1, "could not write program cache entry %s: %s", path, strerror(errno));
        if (f) remove(tmp);
    }
    free(bin);
}

/* ---------------------------------------------------------------- programs and kernels */

static vd_status build_from_source(vd_context *ctx, const char *file, const char *source,
                                   const char *options, cl_program *out)
{
    size_t len = strlen(source);
    cl_int err = vd_fault(ctx, "clCreateProgramWithSource");
    cl_program prog = err ? NULL : clCreateProgramWithSource(ctx->cl, 1, &source, &len, &err);
    if (!prog) return vd_error_cl(ctx, "clCreateProgramWithSource", err);
    ctx->stats.programs_built_from_source++;
    err = vd_fault(ctx, "clBuildProgram")
              ?: clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_len = 0;
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_len);
        char *log = malloc(log_len + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, log_len, log, NULL);
            log[log_len] = '\0';
        }
        vd_status st =
            vd_error_set(ctx, VD_ERR_BUILD, "clBuildProgram(%s.cl, '%s') -> %d (%s):\n%s", file,
                         options, (int)err, vd_cl_error_name(err), log ? log : "(no build log)");
        free(log);
        clReleaseProgram(prog);
        return st;
    }
    *out = prog;
    return VD_OK;
}

static int grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, ncap * size);
    if (!p) return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

vd_status vd_program_get(vd_context *ctx, const char *file, const char *options, cl_program *out)
{
    if (!ctx || !file || !out) return VD_INTERNAL(ctx, "vd_program_get: NULL argument");
    char opts[128];
    /* Oclgrind's uninitialised-memory plugin stops at LLVM's freeze instruction, which its
     * optimiser emits for paired / and % (docs/GPU.md): under oclgrind_compat the kernels
     * are built unoptimised, which emits none. */
    snprintf(opts, sizeof(opts), "-cl-std=CL1.2%s%s%s",
             ctx->dev.oclgrind_compat ? " -cl-opt-disable" : "", options && *options ? " " : "",
             options ? options : "");
    for (size_t i = 0; i < ctx->n_programs; i++) {
        if (!strcmp(ctx->programs[i].file, file) && !strcmp(ctx->programs[i].options, opts)) {
            *out = ctx->programs[i].program;
            return VD_OK;
        }
    }
    if (strlen(file) >= sizeof(ctx->programs[0].file) || strlen(opts) >= sizeof(opts) - 1)
        return VD_INTERNAL(ctx, "program name or options too long");
    char *source = NULL, *key = NULL;
    cl_program prog = NULL;
    vd_status st = VD_OK;
    VD_TRY(assemble(ctx, file, &source));
    key = make_key(ctx, opts, source);
    if (!key) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    prog = cache_load(ctx, key, opts);
    if (prog) {
        ctx->stats.programs_loaded_from_cache++;
        vd_log(ctx, 2, "program %s.cl loaded from cache", file);
    } else {
        VD_TRY(build_from_source(ctx, file, source, opts, &prog));
        vd_log(ctx, 1, "compiled %s.cl", file);
        cache_store(ctx, key, prog);
    }
    if (grow((void **)&ctx->programs, &ctx->cap_programs, ctx->n_programs,
             sizeof(*ctx->programs))) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    vd_program_entry *e = &ctx->programs[ctx->n_programs++];
    snprintf(e->file, sizeof(e->file), "%s", file);
    snprintf(e->options, sizeof(e->options), "%s", opts);
    e->program = prog;
    *out = prog;
    prog = NULL;
done:
    if (prog) clReleaseProgram(prog);
    free(source);
    free(key);
    return st;
}

vd_status vd_kernel_get(vd_context *ctx, const char *file, const char *name, cl_kernel *out)
{
    for (size_t i = 0; i < ctx->n_kernels; i++) {
        if (!strcmp(ctx->kernels[i].name, name) && !strcmp(ctx->kernels[i].file, file)) {
            *out = ctx->kernels[i].kernel;
            return VD_OK;
        }
    }
    if (strlen(name) >= sizeof(ctx->kernels[0].name) ||
        strlen(file) >= sizeof(ctx->kernels[0].file))
        return VD_INTERNAL(ctx, "kernel name too long");
    cl_program prog;
    vd_status st = vd_program_get(ctx, file, NULL, &prog);
    if (st != VD_OK) return st;
    cl_int err = vd_fault(ctx, "clCreateKernel");
    cl_kernel k = err ? NULL : clCreateKernel(prog, name, &err);
    if (!k) {
        char what[160];
        snprintf(what, sizeof(what), "clCreateKernel(%s.cl:%s)", file, name);
        return vd_error_cl(ctx, what, err);
    }
    if (grow((void **)&ctx->kernels, &ctx->cap_kernels, ctx->n_kernels, sizeof(*ctx->kernels))) {
        clReleaseKernel(k);
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    vd_kernel_entry *e = &ctx->kernels[ctx->n_kernels++];
    snprintf(e->file, sizeof(e->file), "%s", file);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->kernel = k;
    *out = k;
    return VD_OK;
}

vd_status vd_kernel_run(vd_context *ctx, const char *file, const char *name, cl_uint dim,
                        const size_t *global, const size_t *local, size_t nargs,
                        const vd_karg *args)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "kernel %s: context is NULL", name);
    if (dim < 1 || dim > 3) return VD_INTERNAL(ctx, "bad work dimension");
    cl_kernel k;
    vd_status st = vd_kernel_get(ctx, file, name, &k);
    if (st != VD_OK) return st;
    char what[160];
    for (size_t i = 0; i < nargs; i++) {
        cl_int err = vd_fault(ctx, "clSetKernelArg")
                         ?: clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS) {
            snprintf(what, sizeof(what), "clSetKernelArg(%s, %zu)", name, i);
            return vd_error_cl(ctx, what, err);
        }
    }
    /* The device's and this kernel's limits (docs/GPU.md): explicit local sizes above
     * CL_KERNEL_WORK_GROUP_SIZE / CL_DEVICE_MAX_WORK_GROUP_SIZE, or __local use (static
     * plus VD_A_LOCAL arguments) above CL_DEVICE_LOCAL_MEM_SIZE, are errors here rather
     * than CL_INVALID_WORK_GROUP_SIZE / CL_OUT_OF_RESOURCES from the driver. */
    size_t kwg = 0, lim = ctx->dev.max_wg ? ctx->dev.max_wg : 1;
    cl_int qerr = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg,
                                           &kwg, NULL);
    if (qerr == CL_SUCCESS && kwg > 0 && kwg < lim) lim = kwg;
    size_t lws[3] = {1, 1, 1}, gws[3] = {1, 1, 1}, group = 1;
    for (cl_uint d = 0; d < dim; d++) {
        lws[d] = local ? local[d] : (d == 0 ? 64 : 1);
        if (d == 0 && !local && lws[0] > lim) lws[0] = lim;
        if (lws[d] == 0) return VD_INTERNAL(ctx, "local size 0");
        group *= lws[d];
        if (global[d] == 0) return VD_OK; /* nothing to do */
        gws[d] = (global[d] + lws[d] - 1) / lws[d] * lws[d];
    }
    if (group > lim)
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "kernel %s.cl:%s: work-group of %zu items exceeds the limit of %zu "
                            "(CL_KERNEL_WORK_GROUP_SIZE %zu, CL_DEVICE_MAX_WORK_GROUP_SIZE %zu)",
                            file, name, group, lim, kwg, ctx->dev.max_wg);
    if (ctx->dev.local_mem) {
        cl_ulong stat = 0;
        if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof stat, &stat,
                                     NULL) != CL_SUCCESS)
            stat = 0;
        size_t dyn = 0;
        for (size_t i = 0; i < nargs; i++)
            if (!args[i].ptr) dyn += args[i].size;
        /* CL_KERNEL_LOCAL_MEM_SIZE may already count the arguments set above. */
        size_t used = (size_t)stat > dyn ? (size_t)stat : dyn;
        if (used > ctx->dev.local_mem)
            return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                                "kernel %s.cl:%s: needs %zu bytes of __local memory, the budget "
                                "is %zu (CL_DEVICE_LOCAL_MEM_SIZE, or VERDANT_LOCAL_MEM)",
                                file, name, used, ctx->dev.local_mem);
    }
    cl_int err = vd_fault(ctx, "clEnqueueNDRangeKernel")
                     ?: clEnqueueNDRangeKernel(ctx->queue, k, dim, NULL, gws, lws, 0, NULL,
                                               vd_profile_event(ctx) /* NULL unless profiling */);
    if (err != CL_SUCCESS) {
        snprintf(what, sizeof(what), "clEnqueueNDRangeKernel(%s)", name);
        return vd_error_cl(ctx, what, err);
    }
    return VD_OK;
}

/* tune.c - the per-device tuning cache (format and rules in tune.h). Records live in a
 * small table on the context, loaded from the device's file on first use; new records are
 * appended to the file under flock so concurrent processes never interleave lines. */
#include "tune.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TUNE_HEADER "verdant-tune 1"
#define TUNE_FILE_MAX ((size_t)4 << 20) /* a larger file is ignored, not read */

typedef struct tune_rec {
    char key[VD_TUNE_KEY_MAX];
    char value[VD_TUNE_KEY_MAX];
} tune_rec;

struct vd_tune_table {
    tune_rec *recs;
    size_t n, cap;
    bool loaded;
};

static bool token_ok(const char *s, size_t len)
{
    if (len == 0 || len >= VD_TUNE_KEY_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~') return false;
    return true;
}

long vd_tune_parse(const char *text, size_t len,
                   void (*record)(void *user, const char *key, const char *value), void *user)
{
    if (!text) return -1;
    size_t hl = strlen(TUNE_HEADER), pos = 0;
    if (len < hl || memcmp(text, TUNE_HEADER, hl) != 0 || (len > hl && text[hl] != '\n')) return -1;
    pos = len > hl ? hl + 1 : hl;
    long count = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (!nl) break; /* a torn last line (crash mid-append) is not a record */
        if (ll == 0 || line[0] == '#') continue;
        const char *sp = memchr(line, ' ', ll);
        if (!sp) continue;
        size_t kl = (size_t)(sp - line), vl = ll - kl - 1;
        if (!token_ok(line, kl) || !token_ok(sp + 1, vl)) continue;
        char key[VD_TUNE_KEY_MAX], value[VD_TUNE_KEY_MAX];
        memcpy(key, line, kl);
        key[kl] = '\0';
        memcpy(value, sp + 1, vl);
        value[vl] = '\0';
        if (record) record(user, key, value);
        count++;
    }
    return count;
}

static vd_status table_set(vd_context *ctx, const char *key, const char *value)
{
    struct vd_tune_table *t = ctx->tune;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i].key, key) == 0) {
            snprintf(t->recs[i].value, sizeof(t->recs[i].value), "%s", value);
            return VD_OK;
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 32;
        tune_rec *r = realloc(t->recs, cap * sizeof(*r));
        if (!r) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "tuning cache: out of host memory");
        t->recs = r;
        t->cap = cap;
    }
    snprintf(t->recs[t->n].key, VD_TUNE_KEY_MAX, "%s", key);
    snprintf(t->recs[t->n].value, VD_TUNE_KEY_MAX, "%s", value);
    t->n++;
    return VD_OK;
}

static void load_record(void *user, const char *key, const char *value)
{
    (void)table_set((vd_context *)user, key, value);
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* <cache_dir>/tune-<hash>.txt; false when the cache is off. The hash covers the device key
 * (platform, device, driver and their versions), the record format, the library version
 * and the text of every embedded kernel: records measured with other kernels (an older
 * build) would name choices that are no longer the fastest, so a new build starts a new
 * file instead of trusting them. */
static bool tune_path(const vd_context *ctx, char *path, size_t cap)
{
    if (!ctx->cache_dir[0]) return false;
    char ver[32];
    snprintf(ver, sizeof(ver), "%d.%d.%d", VD_VERSION_MAJOR, VD_VERSION_MINOR, VD_VERSION_PATCH);
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, ctx->device_key, strlen(ctx->device_key));
    h = fnv(h, TUNE_HEADER, strlen(TUNE_HEADER));
    h = fnv(h, ver, strlen(ver));
    for (const vd_cl_source *src = vd_cl_sources; src->name; src++)
        h = fnv(h, src->text, src->size);
    int n = snprintf(path, cap, "%s/tune-%016llx.txt", ctx->cache_dir, (unsigned long long)h);
    return n > 0 && (size_t)n < cap;
}

static vd_status ensure_loaded(vd_context *ctx)
{
    if (!ctx->tune) {
        ctx->tune = calloc(1, sizeof(*ctx->tune));
        if (!ctx->tune)
            return vd_error_set(ctx, VD_ERR_NO_MEMORY, "tuning cache: out of host memory");
    }
    if (ctx->tune->loaded) return VD_OK;
    ctx->tune->loaded = true;
    char path[1200];
    if (!tune_path(ctx, path, sizeof(path))) return VD_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return VD_OK; /* no file yet: every lookup is a miss */
    char *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 && (size_t)sb.st_size <= TUNE_FILE_MAX &&
        (buf = malloc((size_t)sb.st_size)) != NULL) {
        size_t got = fread(buf, 1, (size_t)sb.st_size, f);
        if (vd_tune_parse(buf, got, load_record, ctx) < 0)
            vd_log(ctx, 1, "tuning cache '%s' has no valid header; ignored", path);
    }
    free(buf);
    fclose(f);
    return VD_OK;
}

bool vd_tune_get(vd_context *ctx, const char *key, char *value, size_t cap)
{
    if (!ctx || !key || !value || cap == 0 || ensure_loaded(ctx) != VD_OK) return false;
    for (size_t i = 0; i < ctx->tune->n; i++)
        if (strcmp(ctx->tune->recs[i].key, key) == 0) {
            snprintf(value, cap, "%s", ctx->tune->recs[i].value);
            return true;
        }
    return false;
}

vd_status vd_tune_put(vd_context *ctx, const char *key, const char *value)
{
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_tune_put: context is NULL");
    if (!key || !value || !token_ok(key, strlen(key)) || !token_ok(value, strlen(value)))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                            "tuning record '%s' = '%s': keys and values are 1-127 printable "
                            "characters without spaces",
                            key ? key : "(null)", value ? value : "(null)");
    vd_status st = ensure_loaded(ctx);
    if (st == VD_OK) st = table_set(ctx, key, value);
    if (st != VD_OK) return st;
    char path[1200];
    if (!tune_path(ctx, path, sizeof(path))) return VD_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        vd_log(ctx, 1, "tuning cache: cannot open '%s': %s", path, strerror(errno));
        return VD_OK;
    }
    if (flock(fd, LOCK_EX) == 0) {
        char line[2 * VD_TUNE_KEY_MAX + 64];
        int n = 0;
        struct stat sb;
        if (fstat(fd, &sb) == 0 && sb.st_size == 0)
            n = snprintf(line, sizeof(line), TUNE_HEADER "\n");
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s %s\n", key, value);
        if (write(fd, line, (size_t)n) != n)
            vd_log(ctx, 1, "tuning cache: short write to '%s'", path);
        flock(fd, LOCK_UN);
    }
    close(fd);
    return VD_OK;
}

void vd_tune_reset(vd_context *ctx)
{
    if (!ctx || !ctx->tune) return;
    free(ctx->tune->recs);
    free(ctx->tune);
    ctx->tune = NULL;
}

bool vd_tune_off(const vd_context *ctx)
{
    const char *t = getenv("VERDANT_TUNE");
    return (t && strcmp(t, "off") == 0) || (ctx && ctx->deterministic);
}

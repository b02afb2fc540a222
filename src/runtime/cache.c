/* cache.c - the kernel cache directory as a user sees it: where it is (the one rule, also
 * used by context creation), how much of it is Verdant's, and clearing it (`verdant cache
 * clear`). Only files Verdant writes are counted or removed: program binaries
 * (<32 hex digits>.bin, program.c), their interrupted temporaries (<...>.bin.tmp.<pid>) and
 * the per-device tuning files (tune-*.txt, tune.h). Reading and writing entries is in
 * program.c. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

int vd_cache_dir_resolve(const char *requested, char *dst, size_t cap)
{
    const char *dir = requested ? requested : getenv("VERDANT_CACHE_DIR");
    int n;
    if (dir && !strcmp(dir, "off")) n = snprintf(dst, cap, "%s", "");
    else if (dir && *dir) n = snprintf(dst, cap, "%s", dir);
    else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg) n = snprintf(dst, cap, "%s/verdant", xdg);
        else if (home && *home) n = snprintf(dst, cap, "%s/.cache/verdant", home);
        else n = snprintf(dst, cap, "%s", "");
    }
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

vd_status vd_cache_dir(char *dst, size_t cap)
{
    if (!dst || cap == 0) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_cache_dir: no buffer");
    if (vd_cache_dir_resolve(NULL, dst, cap) != 0)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_cache_dir: the path does not fit in %zu bytes", cap);
    return VD_OK;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Verdant's own file names in a cache directory. */
static bool ours(const char *name)
{
    size_t n = strlen(name);
    if (n >= 36 && is_hex(name, 32) && !strncmp(name + 32, ".bin", 4))
        return n == 36 || !strncmp(name + 36, ".tmp.", 5);
    return n > 9 && !strncmp(name, "tune-", 5) && !strcmp(name + n - 4, ".txt");
}

static vd_status walk(const char *dir, bool remove_them, uint64_t *files, uint64_t *bytes)
{
    char resolved[1024];
    uint64_t nf = 0, nb = 0;
    if (files) *files = 0;
    if (bytes) *bytes = 0;
    if (!dir) {
        if (vd_cache_dir(resolved, sizeof(resolved)) != VD_OK) return VD_ERR_INVALID_ARG;
        dir = resolved;
    }
    if (!*dir) return VD_OK; /* cache off */
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return VD_OK;
        return vd_error_set(NULL, VD_ERR_IO, "cannot open cache directory '%s': %s", dir,
                            strerror(errno));
    }
    vd_status st = VD_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ours(e->d_name)) continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (remove_them && unlink(path) != 0) {
            if (st == VD_OK)
                st = vd_error_set(NULL, VD_ERR_IO, "cannot remove '%s': %s", path,
                                  strerror(errno));
            continue;
        }
        nf++;
        nb += (uint64_t)sb.st_size;
    }
    closedir(d);
    if (files) *files = nf;
    if (bytes) *bytes = nb;
    return st;
}

vd_status vd_cache_usage(const char *dir, uint64_t *files, uint64_t *bytes)
{
    return walk(dir, false, files, bytes);
}

vd_status vd_cache_clear(const char *dir, uint64_t *files, uint64_t *bytes)
{
    return walk(dir, true, files, bytes);
}

/* cache.c - the kernel cache directory as a user sees it: where it is (the one rule, also
 * used by context creation), how much of it is Verdant's, and clearing it (`verdant cache
 * clear`). Only files Verdant writes are counted or removed: program binaries
 * (<32 hex digits>.bin, program.c), their interrupted temporaries (<...>.bin.tmp.<pid>), the
 * per-device tuning files (tune-*.txt, tune.h) and the clFFT binary cache that the FFT
 * convolution points clFFT to (clfft-<version>/, a tree clFFT writes; its entries are
 * checked here before clFFT reads them). Reading and writing Verdant's own entries is in
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

/* ---------------------------------------------------------------- clFFT's binary cache */

/* The header of a clFFT cache entry (clFFT 2.x, src/library/fft_binary_lookup.h), laid out
 * by the same ABI as clFFT's struct: "CLB\0", then the sizes of the whole file, this header,
 * the program binary and the signature, which follow in that order. */
typedef struct clfft_header {
    char magic[4];
    size_t whole, header, binary, signature;
} clfft_header;

#define CLFFT_MAX_ENTRY ((size_t)256 << 20)
#define CLFFT_TREE_DEPTH 8 /* <vendor>/<device>/<driver>/<kernel>/<md5> is 5 */

bool vd_cache_clfft_entry_ok(FILE *f)
{
    clfft_header h;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < (long)sizeof(h) || (size_t)size > CLFFT_MAX_ENTRY || fseek(f, 0, SEEK_SET) != 0 ||
        fread(&h, sizeof(h), 1, f) != 1)
        return false;
    size_t n = (size_t)size;
    if (memcmp(h.magic, "CLB", 4) != 0 || h.whole != n || h.header != sizeof(h) || h.binary == 0 ||
        h.binary > n || h.signature > n || sizeof(h) + h.binary + h.signature != n)
        return false;
    char *sig = malloc(h.signature ? h.signature : 1);
    bool ok = sig && fseek(f, (long)(sizeof(h) + h.binary), SEEK_SET) == 0 &&
              fread(sig, 1, h.signature, f) == h.signature;
    /* The signature is a list of variants (int kind, size_t length, bytes). Walk it as
     * clFFT's loader does, whose loop index also gains one per variant: every read and
     * every allocation it makes must stay inside the signature. */
    size_t at = 0, head = sizeof(int) + sizeof(size_t);
    for (size_t i = 0; ok && i < h.signature; i++) {
        size_t len = 0;
        ok = h.signature - at >= head;
        if (ok) memcpy(&len, sig + at + sizeof(int), sizeof(len));
        ok = ok && len <= h.signature - at - head;
        at += ok ? head + len : 0;
        i += ok ? head + len : 0;
    }
    free(sig);
    return ok;
}

typedef enum tree_op { TREE_CHECK, TREE_COUNT, TREE_REMOVE } tree_op;

/* Walk the clFFT tree below path (links not followed, CLFFT_TREE_DEPTH levels at most).
 * TREE_CHECK removes every regular file that is not a sound entry; TREE_COUNT counts
 * regular files and their bytes; TREE_REMOVE removes and counts them, and the directories. */
static vd_status tree_walk(const char *path, int depth, tree_op op, uint64_t *files,
                           uint64_t *bytes)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return VD_OK;
        return vd_error_set(NULL, VD_ERR_IO, "cannot open cache directory '%s': %s", path,
                            strerror(errno));
    }
    vd_status st = VD_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1400];
        if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub)) continue;
        struct stat sb;
        if (lstat(sub, &sb) != 0) continue;
        vd_status s2 = VD_OK;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < CLFFT_TREE_DEPTH) s2 = tree_walk(sub, depth + 1, op, files, bytes);
            if (op == TREE_REMOVE && rmdir(sub) != 0 && s2 == VD_OK)
                s2 = vd_error_set(NULL, VD_ERR_IO, "cannot remove '%s': %s", sub, strerror(errno));
        } else if (S_ISREG(sb.st_mode) && op == TREE_CHECK) {
            FILE *f = fopen(sub, "rb"); /* one clFFT cannot open is a miss to it too */
            bool bad = f && !vd_cache_clfft_entry_ok(f);
            if (f) fclose(f);
            if (bad) unlink(sub); /* clFFT rebuilds it from source and writes it again */
        } else if (S_ISREG(sb.st_mode)) {
            if (op == TREE_REMOVE && unlink(sub) != 0) {
                s2 = vd_error_set(NULL, VD_ERR_IO, "cannot remove '%s': %s", sub, strerror(errno));
            } else {
                (*files)++;
                *bytes += (uint64_t)sb.st_size;
            }
        }
        if (st == VD_OK) st = s2;
    }
    closedir(d);
    return st;
}

int vd_cache_clfft_dir(const char *cache_dir, const char *version, char *dst, size_t cap)
{
    if (!cache_dir || !cache_dir[0] || !version || !dst) return -1;
    int n = snprintf(dst, cap, "%s/clfft-%s", cache_dir, version);
    struct stat sb;
    if (n < 0 || (size_t)n >= cap || (mkdir(dst, 0755) != 0 && errno != EEXIST) ||
        stat(dst, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(dst, W_OK | X_OK) != 0)
        return -1; /* clFFT would print its own complaint and go on without a cache */
    tree_walk(dst, 1, TREE_CHECK, NULL, NULL);
    return 0;
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
        char path[1400];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        /* clfft-<version>: the clFFT tree, counted and cleared whole */
        if (!strncmp(e->d_name, "clfft-", 6) && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            vd_status s2 = tree_walk(path, 1, remove_them ? TREE_REMOVE : TREE_COUNT, &nf, &nb);
            if (s2 == VD_OK && remove_them && rmdir(path) != 0)
                s2 = vd_error_set(NULL, VD_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
            if (st == VD_OK) st = s2;
            continue;
        }
        if (!ours(e->d_name)) continue;
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (remove_them && unlink(path) != 0) {
            if (st == VD_OK)
                st = vd_error_set(NULL, VD_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
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

/* test_cache.c - the on-disk program cache. Each scenario runs in a fresh child process
 * (fork before any OpenCL call) that builds every embedded kernel file and reports how
 * many programs it compiled from source and how many it loaded from the cache:
 *   1. cold cache: everything compiles, entries appear on disk;
 *   2. warm cache, second process: nothing compiles from source;
 *   3. a truncated entry and a garbage entry: both are silent misses, rebuilt and rewritten;
 *   4. VERDANT_CACHE_DIR=off: everything compiles and nothing is written;
 *   5. an unwritable cache directory: not an error;
 *   6. clFFT's binary cache (clfft-<version>/ in the cache directory): the entries clFFT
 *      writes pass Verdant's check, malformed ones are removed before clFFT could read
 *      them, and `verdant cache clear` (vd_cache_clear) counts and removes the tree. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ops/conv_fft.h"

typedef struct report {
    int status; /* vd_status of the whole run */
    int files;  /* programs requested */
    uint64_t built, loaded;
    double ms; /* wall time of context creation + all builds */
} report;

static void child(int fd)
{
    report r = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    vd_context *ctx = NULL;
    r.status = vd_context_create(NULL, &ctx);
    for (const vd_cl_source *s = vd_cl_sources; r.status == VD_OK && s->name; s++) {
        if (!strcmp(s->name, "common")) continue; /* prepended to every other file */
        cl_program p;
        r.status = vd_program_get(ctx, s->name, NULL, &p);
        r.files++;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    r.ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) * 1e-6;
    if (r.status != VD_OK) fprintf(stderr, "child: %s\n", vd_last_error(ctx));
    vd_context_stats st;
    if (ctx && vd_context_stats_get(ctx, &st) == VD_OK) {
        r.built = st.programs_built_from_source;
        r.loaded = st.programs_loaded_from_cache;
    }
    vd_context_destroy(ctx);
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) _exit(3);
    _exit(0);
}

static report run_child(const char *cache_dir)
{
    report r = {VD_ERR_INTERNAL, 0, 0, 0, 0};
    int fds[2];
    if (pipe(fds) != 0) return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        setenv("VERDANT_CACHE_DIR", cache_dir, 1);
        child(fds[1]);
    }
    close(fds[1]);
    if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) r.status = VD_ERR_INTERNAL;
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    return r;
}

/* A child that bakes one clFFT plan, so that clFFT writes its cache entries (VD_OK), or
 * VD_ERR_UNSUPPORTED without clFFT. */
static int fft_child(const char *cache_dir)
{
    int fds[2], status = VD_ERR_INTERNAL;
    if (pipe(fds) != 0) return status;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        setenv("VERDANT_CACHE_DIR", cache_dir, 1);
        unsetenv("CLFFT_CACHE_PATH");
        vd_context *ctx = NULL;
        int st = vd_context_create(NULL, &ctx);
        if (st == VD_OK) st = vd_conv_fft_probe(ctx, 14, 14, 8);
        if (st != VD_OK && st != VD_ERR_UNSUPPORTED)
            fprintf(stderr, "fft child: %s\n", vd_last_error(ctx));
        vd_context_destroy(ctx);
        if (write(fds[1], &st, sizeof(st)) != (ssize_t)sizeof(st)) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &status, sizeof(status)) != (ssize_t)sizeof(status)) status = VD_ERR_INTERNAL;
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    return status;
}

/* Regular files in the clfft-* trees of cache directory dir (depth 0), and how many of them
 * are sound clFFT entries. */
static void count_tree(const char *dir, int depth, int *files, int *sound)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (depth == 0 && strncmp(e->d_name, "clfft-", 6) != 0) continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode) && depth < 8) count_tree(path, depth + 1, files, sound);
        if (!S_ISREG(sb.st_mode)) continue;
        (*files)++;
        FILE *f = fopen(path, "rb");
        if (f && vd_cache_clfft_entry_ok(f)) (*sound)++;
        if (f) fclose(f);
    }
    closedir(d);
}

/* A clFFT cache entry as clFFT 2.x writes it: header ("CLB\0", whole size, header size,
 * binary size, signature size), binary, signature (int kind, size_t length, bytes; two
 * variants). Returns its size in buf. */
static size_t make_clfft_entry(unsigned char *buf)
{
    struct {
        char magic[4];
        size_t whole, header, binary, signature;
    } h = {{'C', 'L', 'B', '\0'}, 0, sizeof(h), 24, 0};
    unsigned char sig[64];
    size_t ns = 0, len = 4;
    for (int v = 0; v < 2; v++) {
        int kind = v;
        memcpy(sig + ns, &kind, sizeof(kind));
        memcpy(sig + ns + sizeof(kind), &len, sizeof(len));
        memset(sig + ns + sizeof(kind) + sizeof(len), 'a' + v, len);
        ns += sizeof(kind) + sizeof(len) + len;
    }
    h.signature = ns;
    h.whole = sizeof(h) + h.binary + ns;
    memcpy(buf, &h, sizeof(h));
    memset(buf + sizeof(h), 0x42, h.binary);
    memcpy(buf + sizeof(h) + h.binary, sig, ns);
    return h.whole;
}

static void write_file(const char *dir, const char *name, const unsigned char *b, size_t n)
{
    char path[1600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(b, 1, n, f);
        fclose(f);
    }
}

static bool exists_in(const char *dir, const char *name)
{
    char path[1600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Scenario 6, without a device: malformed entries go, sound ones stay; usage and clear
 * cover the tree. */
static void clfft_tree_checks(const char *dir)
{
    char top[1200], leaf[1300], got[1200];
    snprintf(top, sizeof(top), "%s/clfft-9.9.9", dir);
    snprintf(leaf, sizeof(leaf), "%s/Vendor/Device/1.0/kernel.cl", top);
    char mk[1400];
    snprintf(mk, sizeof(mk), "mkdir -p '%s'", leaf);
    expect_true("clfft: tree made", system(mk) == 0);
    unsigned char good[256], bad[256];
    size_t n = make_clfft_entry(good);
    size_t hs = 4 * sizeof(size_t) + sizeof(size_t); /* the header, padding included */
    write_file(leaf, "good", good, n);
    write_file(leaf, "truncated", good, n - 10);
    write_file(leaf, "tiny", good, 3);
    write_file(leaf, "empty", good, 0);
    memcpy(bad, good, n), bad[0] = 'X';
    write_file(leaf, "magic", bad, n);
    memcpy(bad, good, n), memset(bad + 3 * sizeof(size_t), 0x7f, sizeof(size_t)); /* binary */
    write_file(leaf, "binary_size", bad, n);
    memcpy(bad, good, n), memset(bad + hs + 24 + sizeof(int), 0x7f, sizeof(size_t));
    write_file(leaf, "variant_length", bad, n);
    FILE *f = fopen("/dev/null", "rb");
    expect_true("clfft: an empty file is not an entry", f && !vd_cache_clfft_entry_ok(f));
    if (f) fclose(f);
    expect_true("clfft: cache off gives no directory",
                vd_cache_clfft_dir("", "9.9.9", got, sizeof(got)) == -1);
    expect_true("clfft: directory for a version",
                vd_cache_clfft_dir(dir, "9.9.9", got, sizeof(got)) == 0 && !strcmp(got, top));
    expect_true("clfft: the sound entry is kept", exists_in(leaf, "good"));
    const char *gone[] = {"truncated", "tiny", "empty", "magic", "binary_size", "variant_length"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        char what[80];
        snprintf(what, sizeof(what), "clfft: malformed entry '%s' removed", gone[i]);
        expect_true(what, !exists_in(leaf, gone[i]));
    }
    uint64_t files0 = 0, bytes0 = 0, files = 0, bytes = 0;
    EXPECT_OK(NULL, vd_cache_usage(dir, &files0, &bytes0));
    write_file(leaf, "another", good, n);
    EXPECT_OK(NULL, vd_cache_usage(dir, &files, &bytes));
    expect_true("clfft: usage counts the tree's files", files == files0 + 1 && bytes == bytes0 + n);
}

/* Paths of the *.bin entries in dir (up to cap); returns the count. */
static int list_entries(const char *dir, char paths[][512], int cap)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".bin") && n < cap)
            snprintf(paths[n++], 512, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

int main(void)
{
    /* Skip like every device test when there is no device (checked in a child too, so the
     * parent never initialises OpenCL before forking). */
    char dir[] = "/tmp/verdant-cache-test-XXXXXX";
    if (!mkdtemp(dir)) return expect_true("mkdtemp", false), check_summary();
    report cold = run_child(dir);
    if (cold.status == VD_ERR_NO_DEVICE) {
        check_skip("program cache", "no usable OpenCL device");
        return check_summary();
    }
    expect_status("cold run", NULL, (vd_status)cold.status, VD_OK);
    printf("cold: %d files, %llu compiled, %llu from cache, %.0f ms\n", cold.files,
           (unsigned long long)cold.built, (unsigned long long)cold.loaded, cold.ms);
    expect_true("cold: every program compiled from source",
                cold.files > 0 && cold.built == (uint64_t)cold.files && cold.loaded == 0);
    char paths[64][512];
    int n = list_entries(dir, paths, 64);
    expect_true("cold: one cache entry per program", n == cold.files);

    report warm = run_child(dir);
    printf("warm: %llu compiled, %llu from cache, %.0f ms\n", (unsigned long long)warm.built,
           (unsigned long long)warm.loaded, warm.ms);
    expect_status("warm run", NULL, (vd_status)warm.status, VD_OK);
    expect_true("warm: a second process compiles nothing from source",
                warm.built == 0 && warm.loaded == (uint64_t)cold.files);

    if (n >= 2) {
        /* Truncate one entry to half its size; overwrite another with garbage. */
        struct stat sb;
        stat(paths[0], &sb);
        expect_true("truncate entry", truncate(paths[0], sb.st_size / 2) == 0);
        FILE *f = fopen(paths[1], "wb");
        if (f) {
            for (int i = 0; i < 4096; i++) fputc((i * 131 + 7) & 0xff, f);
            fclose(f);
        }
        report bad = run_child(dir);
        expect_status("corrupt entries are not an error", NULL, (vd_status)bad.status, VD_OK);
        expect_true("corrupt entries: exactly those two rebuilt",
                    bad.built == 2 && bad.loaded == (uint64_t)cold.files - 2);
        report again = run_child(dir);
        expect_true("rebuilt entries were rewritten", again.built == 0);
        /* An entry whose stored key differs (e.g. another driver wrote it under a colliding
         * name) must not be used: flip one byte inside the key text. */
        f = fopen(paths[0], "r+b");
        if (f) {
            fseek(f, 8 + 4 + 8 + 30, SEEK_SET);
            int c = fgetc(f);
            fseek(f, 8 + 4 + 8 + 30, SEEK_SET);
            fputc(c ^ 0x20, f);
            fclose(f);
        }
        report key = run_child(dir);
        expect_true("an entry with another key is a miss", key.status == VD_OK && key.built == 1);
    }

    char off_dir[] = "off";
    report off = run_child(off_dir);
    expect_true("cache off: everything compiles",
                off.status == VD_OK && off.built == (uint64_t)cold.files);

    report ro = run_child("/proc/verdant-cannot-create-this");
    expect_true("uncreatable cache dir is not an error", ro.status == VD_OK);

    /* 6. clFFT's cache: what clFFT writes passes the check (else every process would remove
     * and rebuild it), a second process keeps it, malformed entries go, clear takes all. */
    int fst = fft_child(dir);
    if (fst == VD_ERR_UNSUPPORTED) {
        check_skip("clFFT binary cache", "built without clFFT");
    } else {
        expect_status("clfft: a plan baked", NULL, (vd_status)fst, VD_OK);
        int files = 0, sound = 0;
        count_tree(dir, 0, &files, &sound);
        printf("clfft: %d files written, %d sound\n", files, sound);
        expect_true("clfft: clFFT wrote its cache entries", files > 0);
        expect_true("clfft: every entry clFFT wrote passes the check", sound == files);
        expect_status("clfft: a second process", NULL, (vd_status)fft_child(dir), VD_OK);
        int files2 = 0, sound2 = 0;
        count_tree(dir, 0, &files2, &sound2);
        expect_true("clfft: the second process kept them", files2 == files && sound2 == files);
    }
    clfft_tree_checks(dir);
    uint64_t cleared = 0, cbytes = 0;
    EXPECT_OK(NULL, vd_cache_clear(dir, &cleared, &cbytes));
    int left = 0, sound_left = 0;
    count_tree(dir, 0, &left, &sound_left);
    expect_true("clear removes the clFFT trees", cleared > 0 && left == 0);
    char top[1200];
    snprintf(top, sizeof(top), "%s/clfft-9.9.9", dir);
    expect_true("clear removes the clFFT directories", access(top, F_OK) != 0);

    for (int i = 0, m = list_entries(dir, paths, 64); i < m; i++) remove(paths[i]);
    rmdir(dir);
    return check_summary();
}

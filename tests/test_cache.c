/* test_cache.c - the on-disk program cache. Each scenario runs in a fresh child process
 * (fork before any OpenCL call) that builds every embedded kernel file and reports how
 * many programs it compiled from source and how many it loaded from the cache:
 *   1. cold cache: everything compiles, entries appear on disk;
 *   2. warm cache, second process: nothing compiles from source;
 *   3. a truncated entry and a garbage entry: both are silent misses, rebuilt and rewritten;
 *   4. VERDANT_CACHE_DIR=off: everything compiles and nothing is written;
 *   5. an unwritable cache directory: not an error. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

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

    for (int i = 0, m = list_entries(dir, paths, 64); i < m; i++) remove(paths[i]);
    rmdir(dir);
    return check_summary();
}

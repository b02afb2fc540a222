/* cmd_info.c - `verdant info` (device, driver, energy meters, cache directories and their
 * sizes) and `verdant cache clear` (removes Verdant's kernel programs and tuning files).
 * Public API only; PoCL's cache is only measured here, never removed. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <verdant.h>

#include "cli.h"

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* PoCL's kernel cache: POCL_CACHE_DIR, else $XDG_CACHE_HOME/pocl, else ~/.cache/pocl. */
static void pocl_cache_dir(char *dst, size_t cap)
{
    const char *env = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env) snprintf(dst, cap, "%s", env);
    else if (xdg && *xdg) snprintf(dst, cap, "%s/pocl", xdg);
    else if (home && *home) snprintf(dst, cap, "%s/.cache/pocl", home);
    else snprintf(dst, cap, "%s", "");
}

static uint64_t tree_bytes, tree_files;

static int add_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F) {
        tree_bytes += (uint64_t)sb->st_size;
        tree_files++;
    }
    return 0;
}

/* Bytes and files under dir; -1 when it cannot be read (missing: 0). */
static int tree_size(const char *dir, uint64_t *files, uint64_t *bytes)
{
    struct stat sb;
    tree_bytes = tree_files = 0;
    if (stat(dir, &sb) != 0) {
        *files = *bytes = 0;
        return 0;
    }
    int rc = nftw(dir, add_file, 16, FTW_PHYS);
    *files = tree_files;
    *bytes = tree_bytes;
    return rc;
}

int cmd_info(int argc, char **argv)
{
    const char *device = NULL;
    const flag flags[] = {{"--device", FLAG_STR, &device, 0, 0}, {NULL, 0, NULL, 0, 0}};
    const char *pos[1];
    int npos, help;
    int rc = cli_parse("info", argc, argv, flags, pos, 0, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_INFO, stdout), EXIT_OK) : rc;

    printf("verdant %s\n\n", vd_version());
    /* The device a context picks; its disk cache is off so that `info` writes nothing. */
    vd_context *ctx = NULL;
    vd_context_options o;
    vd_context_options_init(&o);
    o.device = device;
    o.cache_dir = "off";
    if (vd_context_create(&o, &ctx) == VD_OK) {
        vd_device_info d;
        vd_context_device(ctx, &d);
        printf("device %d:%d  %s\n", (int)d.platform_index, (int)d.device_index, d.name);
        printf("  platform         %s\n", d.platform_name);
        printf("  vendor           %s\n", d.vendor);
        printf("  device version   %s\n", d.device_version);
        printf("  driver           %s\n", d.driver_version);
        printf("  OpenCL C         %s\n", d.opencl_c_version);
        printf("  compute units    %d at %d MHz, %.0f MiB\n", (int)d.compute_units,
               (int)d.max_clock_mhz, mib(d.global_mem_bytes));
    } else {
        printf("device: none (%s)\n", vd_last_error(NULL));
    }

    printf("\nenergy meters:\n");
    vd_meter_info m[8];
    size_t n = 0;
    vd_meters_probe(m, 8, &n);
    for (size_t i = 0; i < n && i < 8; i++)
        printf("  %-6s %s: %s\n", m[i].name, m[i].available ? "found" : "unavailable", m[i].detail);
    if (ctx) {
        vd_meter_info use;
        vd_context_meter(ctx, &use);
        if (use.available) printf("  training on this device is measured by: %s (%s)\n", use.name,
                                  use.detail);
        else printf("  training on this device: energy unavailable (%s)\n", use.detail);
    }

    printf("\ncaches:\n");
    char dir[1024], pocl[1024];
    uint64_t files = 0, bytes = 0;
    if (vd_cache_dir(dir, sizeof(dir)) != VD_OK) snprintf(dir, sizeof(dir), "?");
    if (!dir[0]) {
        printf("  verdant kernels and tuning   off (VERDANT_CACHE_DIR=off)\n");
    } else if (vd_cache_usage(dir, &files, &bytes) == VD_OK) {
        printf("  verdant kernels and tuning   %s  %llu files, %.1f MiB\n", dir,
               (unsigned long long)files, mib(bytes));
    } else {
        printf("  verdant kernels and tuning   %s  (%s)\n", dir, vd_last_error(NULL));
    }
    pocl_cache_dir(pocl, sizeof(pocl));
    if (pocl[0]) {
        if (tree_size(pocl, &files, &bytes) == 0)
            printf("  PoCL kernel cache            %s  %llu files, %.1f MiB\n", pocl,
                   (unsigned long long)files, mib(bytes));
        else printf("  PoCL kernel cache            %s  (cannot be read)\n", pocl);
    }
    vd_context_destroy(ctx);
    return EXIT_OK;
}

int cmd_cache(int argc, char **argv)
{
    const flag flags[] = {{NULL, 0, NULL, 0, 0}};
    const char *pos[2];
    int npos, help;
    int rc = cli_parse("cache", argc, argv, flags, pos, 1, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_CACHE, stdout), EXIT_OK) : rc;
    if (npos == 0 || strcmp(pos[0], "clear") != 0) {
        fprintf(stderr, "verdant cache: %s (see 'verdant cache --help')\n",
                npos ? "unknown action; the only one is 'clear'" : "missing action 'clear'");
        return EXIT_USAGE;
    }
    char dir[1024];
    if (vd_cache_dir(dir, sizeof(dir)) != VD_OK) {
        fprintf(stderr, "verdant cache: %s\n", vd_last_error(NULL));
        return EXIT_FAIL;
    }
    if (!dir[0]) {
        printf("the kernel cache is off (VERDANT_CACHE_DIR=off): nothing to clear\n");
        return EXIT_OK;
    }
    uint64_t files = 0, bytes = 0;
    vd_status st = vd_cache_clear(dir, &files, &bytes);
    printf("removed %llu files (%.1f MiB) from %s\n", (unsigned long long)files, mib(bytes), dir);
    if (st != VD_OK) {
        fprintf(stderr, "verdant cache: %s\n", vd_last_error(NULL));
        return EXIT_FAIL;
    }
    char pocl[1024];
    pocl_cache_dir(pocl, sizeof(pocl));
    if (pocl[0] && tree_size(pocl, &files, &bytes) == 0 && files > 0)
        printf("PoCL's own cache (%s, %.1f MiB) is left alone; remove it by hand if you wish\n",
               pocl, mib(bytes));
    return EXIT_OK;
}

/* fake_sysfs.c - see fake_sysfs.h. */
#define _POSIX_C_SOURCE 200809L
#include "fake_sysfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void fake_mkdirs(const char *root, const char *rel)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    mkdir(path, 0755);
}

void fake_put(const char *root, const char *rel, const char *text)
{
    char path[600], tmp[620];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

void fake_put_u64(const char *root, const char *rel, unsigned long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu\n", v);
    fake_put(root, rel, buf);
}

void fake_remove(const char *root, const char *rel)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", root, rel);
    if (system(cmd) != 0) fprintf(stderr, "rm failed: %s\n", cmd);
}

/* rapl.c - CPU energy from RAPL through the Linux powercap interface:
 * <root>/sys/class/powercap/intel-rapl:N[:M]/{name,energy_uj,max_energy_range_uj}.
 * (AMD Zen processors report through the same "intel-rapl" powercap driver.)
 *
 * Counted: every "package-N" zone (cores, caches, memory controller, on-die graphics) and
 * every "dram" zone (DIMMs; a subzone of a package on most machines). Not counted, because
 * they lie inside a package or overlap it: "core", "uncore", "psys" (platform) and the
 * intel-rapl-mmio duplicates. Energy counters wrap at max_energy_range_uj; the meter's
 * polling thread reads them every second, far more often than the fastest wrap (minutes at
 * hundreds of watts), so each wrap is seen and added back. Not in this file: the choice of
 * meter (meter.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

#define RAPL_MAX_ZONES 16
#define RAPL_POLL_MS 1000

typedef struct rapl_zone {
    char path[800]; /* .../energy_uj */
    char name[32];
    uint64_t max, prev;
} rapl_zone;

typedef struct rapl_state {
    rapl_zone z[RAPL_MAX_ZONES];
    int n;
    bool primed;
} rapl_state;

static const char *errno_text(int err)
{
    return err == EACCES || err == EPERM
               ? "permission denied (since Linux 5.10 energy_uj is readable by root only; run "
                 "as root or grant read access, e.g. with a udev rule)"
           : err == EISDIR ? "is a directory, not a counter file"
           : err == EINVAL ? "not a number"
                           : strerror(err);
}

static vd_status rapl_poll(vd_meter *m)
{
    rapl_state *s = m->state;
    double add = 0.0;
    for (int i = 0; i < s->n; i++) {
        rapl_zone *z = &s->z[i];
        uint64_t cur = 0;
        int err = vd_read_u64_file(z->path, &cur);
        if (err) {
            snprintf(m->error, sizeof(m->error), "rapl: cannot read %.160s: %s", z->path,
                     errno_text(err));
            return err == EACCES || err == EPERM ? VD_ERR_UNSUPPORTED : VD_ERR_IO;
        }
        if (cur > z->max) {
            snprintf(m->error, sizeof(m->error),
                     "rapl: %.160s reads %llu, above max_energy_range_uj %llu", z->path,
                     (unsigned long long)cur, (unsigned long long)z->max);
            return VD_ERR_IO;
        }
        if (s->primed) {
            /* One wrap at most between polls: the counter restarted from 0 after max. */
            uint64_t d = cur >= z->prev ? cur - z->prev : z->max - z->prev + cur;
            add += (double)d * 1e-6;
        }
        z->prev = cur;
    }
    s->primed = true;
    m->joules += add;
    return VD_OK;
}

static void rapl_close(vd_meter *m)
{
    free(m->state);
    m->state = NULL;
}

static const vd_meter_ops rapl_ops = {"rapl", rapl_poll, rapl_close};

static int zone_filter(const struct dirent *e)
{
    return !strncmp(e->d_name, "intel-rapl:", 11);
}

vd_status vd_meter_open_rapl(const char *root, vd_meter **out, char *why, size_t cap)
{
    *out = NULL;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/sys/class/powercap", root ? root : "");
    struct dirent **list = NULL;
    int n = scandir(dir, &list, zone_filter, alphasort);
    if (n < 0) {
        int err = errno;
        if (err == ENOENT)
            snprintf(why, cap, "rapl: %s does not exist (no powercap driver; virtual machines "
                               "usually expose none)", dir);
        else snprintf(why, cap, "rapl: cannot open %s: %s", dir, strerror(err));
        return VD_ERR_UNSUPPORTED;
    }
    rapl_state *s = calloc(1, sizeof(*s));
    char detail[256] = "", problems[256] = "";
    size_t dl = 0, pl = 0;
    for (int i = 0; i < n; i++) {
        char path[800], name[64] = "";
        snprintf(path, sizeof(path), "%s/%s/name", dir, list[i]->d_name);
        int err = vd_read_small_file(path, name, sizeof(name));
        name[strcspn(name, "\n")] = '\0';
        bool wanted = !err && (!strncmp(name, "package-", 8) || !strcmp(name, "dram"));
        if (!s || !wanted || s->n == RAPL_MAX_ZONES) continue;
        rapl_zone *z = &s->z[s->n];
        snprintf(z->path, sizeof(z->path), "%s/%s/energy_uj", dir, list[i]->d_name);
        /* "dram" repeats on multi-socket machines: name it by its package (intel-rapl:1:0). */
        if (!strcmp(name, "dram")) {
            int pkg = 0;
            sscanf(list[i]->d_name, "intel-rapl:%d", &pkg);
            snprintf(z->name, sizeof(z->name), "dram-%d", pkg);
        } else {
            snprintf(z->name, sizeof(z->name), "%s", name);
        }
        char max_path[800];
        snprintf(max_path, sizeof(max_path), "%s/%s/max_energy_range_uj", dir, list[i]->d_name);
        uint64_t probe = 0;
        err = vd_read_u64_file(max_path, &z->max);
        const char *bad = max_path;
        if (!err) {
            err = vd_read_u64_file(z->path, &probe);
            bad = z->path;
        }
        if (!err && z->max == 0) {
            err = EINVAL;
            bad = max_path;
        }
        if (err) {
            if (pl < sizeof(problems))
                pl += (size_t)snprintf(problems + pl, sizeof(problems) - pl, "%s%.160s: %.80s",
                                       pl ? "; " : "", bad, errno_text(err));
            continue;
        }
        if (dl < sizeof(detail))
            dl += (size_t)snprintf(detail + dl, sizeof(detail) - dl, "%s%s", dl ? " + " : "",
                                   z->name);
        s->n++;
    }
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
    if (!s) {
        snprintf(why, cap, "rapl: out of host memory");
        return VD_ERR_NO_MEMORY;
    }
    if (s->n == 0) {
        free(s);
        if (pl) snprintf(why, cap, "rapl: no readable package or dram zone: %s", problems);
        else snprintf(why, cap, "rapl: %s has no package or dram zone", dir);
        return VD_ERR_UNSUPPORTED;
    }
    char full[512];
    snprintf(full, sizeof(full), "%s (CPU packages and DRAM, whole machine)%s%s", detail,
             pl ? "; not counted: " : "", pl ? problems : "");
    return vd_meter_start(&rapl_ops, s, RAPL_POLL_MS, full, out, why, cap);
}

/* hwmon.c - GPU energy from the Linux hwmon interface of the amdgpu, i915 and xe drivers:
 * <root>/sys/class/hwmon/hwmonN/{name, energyK_input, powerK_average, powerK_input}.
 *
 * energyK_input (microjoules, cumulative) is read directly when the driver has it (i915,
 * xe; newer amdgpu). Otherwise the board power powerK_average (or powerK_input, in
 * microwatts) is sampled every 100 ms by the meter's thread and integrated with the
 * trapezoid rule: the result is the sensor's readings integrated, as good as the driver's
 * averaging window, and the detail says so. A counter that goes backwards (driver reload)
 * starts a new baseline. Counted: what the driver's sensor covers (the GPU package or
 * board, depending on the driver); never the host CPU. With several sensors of the same
 * driver the meter refuses, since it cannot tell which one is the OpenCL device. Not here:
 * the choice of meter (meter.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

#define HWMON_POWER_POLL_MS 100
#define HWMON_ENERGY_POLL_MS 1000

typedef struct hwmon_state {
    char path[800];
    bool energy; /* true: cumulative energy in uJ; false: power in uW, integrated */
    bool primed;
    uint64_t prev; /* last energy reading, or last power reading */
    double t_prev;
} hwmon_state;

static vd_status hwmon_poll(vd_meter *m)
{
    hwmon_state *s = m->state;
    uint64_t cur = 0;
    int err = vd_read_u64_file(s->path, &cur);
    if (err) {
        snprintf(m->error, sizeof(m->error), "hwmon: cannot read %.180s: %s", s->path,
                 err == EISDIR ? "is a directory, not a sensor file" : strerror(err));
        return err == EACCES || err == EPERM ? VD_ERR_UNSUPPORTED : VD_ERR_IO;
    }
    double t = vd_meter_now();
    if (s->primed) {
        if (s->energy) m->joules += cur >= s->prev ? (double)(cur - s->prev) * 1e-6 : 0.0;
        else m->joules += 0.5 * ((double)s->prev + (double)cur) * 1e-6 * (t - s->t_prev);
    }
    s->prev = cur;
    s->t_prev = t;
    s->primed = true;
    return VD_OK;
}

static void hwmon_close(vd_meter *m)
{
    free(m->state);
    m->state = NULL;
}

static const vd_meter_ops hwmon_ops = {"hwmon", hwmon_poll, hwmon_close};

static int hwmon_filter(const struct dirent *e)
{
    return !strncmp(e->d_name, "hwmon", 5);
}

static bool gpu_driver(const char *name, const char *want)
{
    if (want) return !strcmp(name, want);
    return !strcmp(name, "amdgpu") || !strcmp(name, "i915") || !strcmp(name, "xe");
}

/* The first readable file among energy1..8_input, then power1..8_average, power1..8_input. */
static int find_sensor(const char *dir, char *path, size_t cap, bool *energy, char *why,
                       size_t wcap)
{
    static const char *const fmt[3] = {"%s/energy%d_input", "%s/power%d_average",
                                       "%s/power%d_input"};
    int first_err = 0;
    for (int f = 0; f < 3; f++)
        for (int k = 1; k <= 8; k++) {
            snprintf(path, cap, fmt[f], dir, k);
            uint64_t v;
            int err = vd_read_u64_file(path, &v);
            if (!err) {
                *energy = f == 0;
                return 0;
            }
            if (err != ENOENT && !first_err) {
                first_err = err;
                snprintf(why, wcap, "%.180s: %s", path,
                         err == EISDIR ? "is a directory, not a sensor file" : strerror(err));
            }
        }
    if (!first_err) snprintf(why, wcap, "%.180s has no energy*_input or power*_average/_input", dir);
    return first_err ? first_err : ENOENT;
}

vd_status vd_meter_open_hwmon(const char *root, const char *driver, vd_meter **out, char *why,
                              size_t cap)
{
    *out = NULL;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/sys/class/hwmon", root ? root : "");
    struct dirent **list = NULL;
    int n = scandir(dir, &list, hwmon_filter, alphasort);
    if (n < 0) {
        int err = errno;
        if (err == ENOENT) snprintf(why, cap, "hwmon: %s does not exist", dir);
        else snprintf(why, cap, "hwmon: cannot open %s: %s", dir, strerror(err));
        return VD_ERR_UNSUPPORTED;
    }
    int found = -1, matches = 0;
    char names[200] = "";
    size_t nl = 0;
    for (int i = 0; i < n; i++) {
        char path[800], name[64] = "";
        snprintf(path, sizeof(path), "%s/%s/name", dir, list[i]->d_name);
        if (vd_read_small_file(path, name, sizeof(name))) continue;
        name[strcspn(name, "\n")] = '\0';
        if (!gpu_driver(name, driver)) continue;
        if (found < 0) found = i;
        matches++;
        if (nl < sizeof(names))
            nl += (size_t)snprintf(names + nl, sizeof(names) - nl, "%s%s (%s)", nl ? ", " : "",
                                   list[i]->d_name, name);
    }
    vd_status st = VD_ERR_UNSUPPORTED;
    hwmon_state *s = NULL;
    char sdir[800], detail[256];
    if (matches == 0) {
        snprintf(why, cap, "hwmon: no %s sensor in %s", driver ? driver : "amdgpu/i915/xe GPU",
                 dir);
        goto done;
    }
    if (matches > 1) {
        snprintf(why, cap,
                 "hwmon: several GPU sensors (%s); cannot tell which one is the OpenCL device",
                 names);
        goto done;
    }
    snprintf(sdir, sizeof(sdir), "%s/%s", dir, list[found]->d_name);
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(why, cap, "hwmon: out of host memory");
        st = VD_ERR_NO_MEMORY;
        goto done;
    }
    char reason[300] = "";
    int err = find_sensor(sdir, s->path, sizeof(s->path), &s->energy, reason, sizeof(reason));
    if (err) {
        snprintf(why, cap, "hwmon: %s: %s", names, reason);
        st = err == ENOENT || err == EACCES || err == EPERM ? VD_ERR_UNSUPPORTED : VD_ERR_IO;
        free(s);
        s = NULL;
        goto done;
    }
    const char *file = strrchr(s->path, '/') + 1;
    snprintf(detail, sizeof(detail), "%s %s (%s)", names, file,
             s->energy ? "energy counter" : "sampled power integrated every 100 ms");
    st = vd_meter_start(&hwmon_ops, s, s->energy ? HWMON_ENERGY_POLL_MS : HWMON_POWER_POLL_MS,
                        detail, out, why, cap);
done:
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
    return st;
}

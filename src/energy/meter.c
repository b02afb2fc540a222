/* meter.c - the shared part of the energy meters (meter.h): the cumulative counter and its
 * lock, the polling thread, file helpers for the sysfs backends, the choice of meter for a
 * context's device, the epoch accounting used by the training loop, and the public calls
 * vd_meters_probe / vd_context_meter / vd_energy_span_begin / vd_energy_span_end. The
 * sensors themselves are in rapl.c, nvml.c and hwmon.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "meter.h"

/* ---------------------------------------------------------------- helpers */

double vd_meter_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *vd_sysfs_root(void)
{
    const char *r = getenv("VERDANT_SYSFS_ROOT");
    return r ? r : "";
}

int vd_read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return errno ? errno : EIO;
    size_t n = fread(buf, 1, cap - 1, f);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    buf[n] = '\0';
    return err;
}

int vd_read_u64_file(const char *path, uint64_t *out)
{
    char buf[64];
    int err = vd_read_small_file(path, buf, sizeof(buf));
    if (err) return err;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || errno || (*end && *end != '\n') || buf[0] == '-') return EINVAL;
    *out = (uint64_t)v;
    return 0;
}

/* ---------------------------------------------------------------- meter lifecycle */

static void *poll_thread(void *arg)
{
    vd_meter *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)m->poll_ms * 1000000L;
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&m->wake, &m->lock, &ts);
        if (!m->stop && m->failed == VD_OK) m->failed = m->ops->poll(m);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

vd_status vd_meter_start(const vd_meter_ops *ops, void *state, int poll_ms, const char *detail,
                         vd_meter **out, char *why, size_t cap)
{
    *out = NULL;
    vd_meter *m = calloc(1, sizeof(*m));
    if (!m) {
        if (ops->close) {
            vd_meter tmp = {.ops = ops, .state = state};
            ops->close(&tmp);
        }
        snprintf(why, cap, "out of host memory");
        return VD_ERR_NO_MEMORY;
    }
    m->ops = ops;
    m->state = state;
    m->poll_ms = poll_ms;
    snprintf(m->name, sizeof(m->name), "%s", ops->kind);
    snprintf(m->detail, sizeof(m->detail), "%s", detail ? detail : "");
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    /* The first poll sets the baseline (and proves the sensor reads). */
    vd_status st = ops->poll(m);
    if (st != VD_OK) {
        snprintf(why, cap, "%s", m->error);
        vd_meter_close(m);
        return st;
    }
    m->joules = 0.0;
    if (poll_ms > 0) {
        if (pthread_create(&m->thread, NULL, poll_thread, m) != 0) {
            snprintf(why, cap, "%s: cannot start the polling thread", ops->kind);
            vd_meter_close(m);
            return VD_ERR_UNSUPPORTED;
        }
        m->has_thread = true;
    }
    *out = m;
    return VD_OK;
}

vd_status vd_meter_read(vd_meter *m, double *joules)
{
    if (!m || !joules) return VD_ERR_INVALID_ARG;
    pthread_mutex_lock(&m->lock);
    if (m->failed == VD_OK) m->failed = m->ops->poll(m);
    vd_status st = m->failed;
    *joules = m->joules;
    pthread_mutex_unlock(&m->lock);
    return st;
}

void vd_meter_close(vd_meter *m)
{
    if (!m) return;
    if (m->has_thread) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    if (m->ops->close) m->ops->close(m);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---------------------------------------------------------------- choosing a meter */

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return false;
}

/* PCI bus and device of an NVIDIA OpenCL device (cl_nv_device_attribute_query), or -1. */
static void nv_pci(const vd_context *ctx, int *bus, int *dev)
{
    cl_uint b = 0, slot = 0;
    *bus = *dev = -1;
    if (clGetDeviceInfo(ctx->device, 0x4008 /* CL_DEVICE_PCI_BUS_ID_NV */, sizeof(b), &b, NULL) ==
            CL_SUCCESS &&
        clGetDeviceInfo(ctx->device, 0x4009 /* CL_DEVICE_PCI_SLOT_ID_NV */, sizeof(slot), &slot,
                        NULL) == CL_SUCCESS) {
        *bus = (int)b;
        *dev = (int)(slot >> 3); /* slot id = device << 3 | function */
    }
}

vd_status vd_meter_open(vd_context *ctx, vd_meter **out)
{
    char why[256] = "";
    vd_status st = VD_ERR_UNSUPPORTED;
    *out = NULL;
    const char *force = getenv("VERDANT_METER");
    const char *kind = NULL;
    const vd_device_info *d = &ctx->info;
    if (force && *force) {
        if (!strcmp(force, "off")) {
            return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                                "energy meters are off (VERDANT_METER=off)");
        }
        if (strcmp(force, "rapl") && strcmp(force, "nvml") && strcmp(force, "hwmon"))
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "VERDANT_METER='%s' is not off, rapl, nvml or hwmon", force);
        kind = force;
    } else if (d->type == VD_DEVICE_GPU) {
        kind = contains_ci(d->vendor, "nvidia") || contains_ci(d->platform_name, "nvidia") ? "nvml"
               : contains_ci(d->vendor, "amd") || contains_ci(d->vendor, "advanced micro") ||
                       contains_ci(d->vendor, "intel")
                   ? "hwmon"
                   : NULL;
        if (!kind)
            return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                                "no energy meter known for GPUs of vendor '%s'", d->vendor);
    } else if (d->type == VD_DEVICE_CPU) {
        kind = "rapl";
    } else {
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED,
                            "no energy meter known for this device type (%s)", d->name);
    }
    if (!strcmp(kind, "rapl")) {
        st = vd_meter_open_rapl(vd_sysfs_root(), out, why, sizeof(why));
    } else if (!strcmp(kind, "nvml")) {
        int bus = -1, dev = -1;
        if (d->type == VD_DEVICE_GPU) nv_pci(ctx, &bus, &dev);
        st = vd_meter_open_nvml(getenv("VERDANT_NVML_LIB"), bus, dev,
                                d->type == VD_DEVICE_GPU ? d->name : NULL, out, why, sizeof(why));
    } else {
        const char *driver = NULL;
        if (!force || !*force)
            driver = contains_ci(d->vendor, "intel") ? NULL /* i915 or xe */ : "amdgpu";
        st = vd_meter_open_hwmon(vd_sysfs_root(), driver, out, why, sizeof(why));
    }
    if (st != VD_OK) return vd_error_set(ctx, st, "%s", why);
    return VD_OK;
}

void vd_energy_meter(vd_context *ctx, vd_meter **out, const char **why)
{
    if (!ctx->meter_tried) {
        ctx->meter_tried = true;
        char saved[sizeof(ctx->error)];
        memcpy(saved, ctx->error, sizeof(saved)); /* an absent meter is no error */
        if (vd_meter_open(ctx, &ctx->meter) != VD_OK) {
            snprintf(ctx->meter_why, sizeof(ctx->meter_why), "%.250s", ctx->error);
            ctx->meter = NULL;
            vd_log(ctx, 1, "energy: unavailable: %s", ctx->meter_why);
        } else {
            vd_log(ctx, 1, "energy: %s meter, %s", ctx->meter->name, ctx->meter->detail);
        }
        memcpy(ctx->error, saved, sizeof(saved));
    }
    *out = ctx->meter;
    if (why) *why = ctx->meter ? "" : ctx->meter_why;
}

/* ---------------------------------------------------------------- epoch accounting */

void vd_energy_mark_begin(vd_context *ctx, vd_energy_mark *mk)
{
    memset(mk, 0, sizeof(*mk));
    vd_energy_meter(ctx, &mk->meter, &mk->why);
    if (mk->meter && vd_meter_read(mk->meter, &mk->j0) != VD_OK) mk->why = mk->meter->error;
}

void vd_energy_mark_end(const vd_energy_mark *mk, vd_epoch_stats *out)
{
    out->has_energy = 0;
    out->joules = out->watts = out->images_per_joule = 0.0;
    out->meter[0] = '\0';
    double j1 = 0.0;
    if (!mk->meter) {
        snprintf(out->energy_note, sizeof(out->energy_note), "%s", mk->why ? mk->why : "no meter");
        return;
    }
    if (vd_meter_read(mk->meter, &j1) != VD_OK) {
        snprintf(out->energy_note, sizeof(out->energy_note), "%s meter failed: %.200s",
                 mk->meter->name, mk->meter->error);
        return;
    }
    out->has_energy = 1;
    out->joules = j1 - mk->j0;
    out->watts = out->seconds > 0 ? out->joules / out->seconds : 0.0;
    out->images_per_joule = out->joules > 0 ? (double)out->samples / out->joules : 0.0;
    snprintf(out->meter, sizeof(out->meter), "%s", mk->meter->name);
    snprintf(out->energy_note, sizeof(out->energy_note), "%s", mk->meter->detail);
}

/* ---------------------------------------------------------------- public calls */

static void fill_info(vd_meter_info *info, const char *kind, vd_status st, vd_meter *m,
                      const char *why)
{
    memset(info, 0, sizeof(*info));
    info->available = st == VD_OK && m;
    snprintf(info->name, sizeof(info->name), "%s", kind);
    snprintf(info->detail, sizeof(info->detail), "%s", info->available ? m->detail : why);
}

vd_status vd_meters_probe(vd_meter_info *out, size_t cap, size_t *count)
{
    if (!count || (!out && cap))
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_meters_probe: NULL argument");
    const char *kinds[3] = {"rapl", "nvml", "hwmon"};
    for (size_t i = 0; i < 3 && i < cap; i++) {
        char why[256] = "";
        vd_meter *m = NULL;
        vd_status st = i == 0   ? vd_meter_open_rapl(vd_sysfs_root(), &m, why, sizeof(why))
                       : i == 1 ? vd_meter_open_nvml(getenv("VERDANT_NVML_LIB"), -1, -1, NULL, &m,
                                                     why, sizeof(why))
                                : vd_meter_open_hwmon(vd_sysfs_root(), NULL, &m, why, sizeof(why));
        fill_info(&out[i], kinds[i], st, m, why);
        vd_meter_close(m);
    }
    *count = 3;
    return VD_OK;
}

vd_status vd_context_meter(vd_context *ctx, vd_meter_info *out)
{
    if (!ctx || !out)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_context_meter: NULL argument");
    vd_meter *m = NULL;
    const char *why = NULL;
    vd_energy_meter(ctx, &m, &why);
    fill_info(out, m ? m->name : "none", m ? VD_OK : VD_ERR_UNSUPPORTED, m, why);
    return VD_OK;
}

/* ---------------------------------------------------------------- energy spans */

#define SPAN_OPEN 0x5644454eu  /* "VDEN": begun, not yet ended */
#define SPAN_ENDED 0x56444544u /* "VDED" */

vd_status vd_energy_span_begin(vd_context *ctx, vd_energy_span *span)
{
    if (!ctx || !span)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_energy_span_begin: NULL %s",
                            ctx ? "span" : "ctx");
    memset(span, 0, sizeof(*span));
    vd_status st = vd_context_finish(ctx); /* the device work before the span is not its own */
    if (st != VD_OK) return st;
    /* Open the meter (first use: dlopen, sysfs walk) before the clock starts, and start
     * the clock just before each read, so that watts divide the meter's interval. */
    vd_meter *m = NULL;
    vd_energy_meter(ctx, &m, NULL);
    span->start_seconds_ = vd_meter_now();
    vd_energy_mark mk;
    vd_energy_mark_begin(ctx, &mk);
    span->ctx_ = ctx;
    span->start_joules_ = mk.j0;
    span->state_ = SPAN_OPEN;
    return VD_OK;
}

vd_status vd_energy_span_end(vd_context *ctx, vd_energy_span *span)
{
    if (!ctx || !span)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_energy_span_end: NULL %s",
                            ctx ? "span" : "ctx");
    if (span->state_ != SPAN_OPEN)
        return vd_error_set(ctx, VD_ERR_STATE, "vd_energy_span_end: the span %s",
                            span->state_ == SPAN_ENDED ? "has already ended"
                                                       : "was not begun (vd_energy_span_begin)");
    if (span->ctx_ != ctx)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                            "vd_energy_span_end: the span began on another context");
    vd_status st = vd_context_finish(ctx);
    if (st != VD_OK) return st;
    double seconds = vd_meter_now() - span->start_seconds_;
    /* The context's meter is opened once and kept, so it is the one begin read; a meter
     * that failed at begin stays failed and the mark reports that. */
    vd_energy_mark mk;
    memset(&mk, 0, sizeof(mk));
    vd_energy_meter(ctx, &mk.meter, &mk.why);
    mk.j0 = span->start_joules_;
    vd_epoch_stats es;
    memset(&es, 0, sizeof(es));
    es.seconds = seconds;
    vd_energy_mark_end(&mk, &es);
    span->seconds = seconds;
    span->has_energy = es.has_energy;
    span->joules = es.joules;
    span->watts = es.watts;
    snprintf(span->meter, sizeof(span->meter), "%s", mk.meter ? mk.meter->name : "");
    snprintf(span->note, sizeof(span->note), "%s", es.energy_note);
    if (span->has_energy && !(span->joules > 0.0)) {
        /* A counter that did not move: the energy is below what the meter resolves over
         * this stretch, not zero. */
        span->has_energy = 0;
        span->joules = span->watts = 0.0;
        snprintf(span->note, sizeof(span->note),
                 "%s: the counter did not move in %.3g s (shorter than the meter's update "
                 "period); measure a longer stretch",
                 span->meter, seconds);
    }
    span->state_ = SPAN_ENDED;
    return VD_OK;
}

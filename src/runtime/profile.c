/* profile.c - the kernel-time recorder (profile.h): event slots for launches and spans,
 * reading the OpenCL profiling timestamps in batches, the per-(layer, phase) sums and the
 * first step's share. The table that names layers is in src/net/net_profile.c; the public
 * switches are here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profile.h"

/* Events kept before the oldest half is read. An epoch has tens of thousands of launches;
 * holding all of them would keep as many driver objects alive. The in-order queue runs at
 * most a couple of steps behind the host, so the oldest half is long done when read. */
#define PROF_MAX_PENDING 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void drop_pending(vd_profile *p)
{
    for (size_t i = 0; i < p->n_pending; i++) {
        if (p->pending[i].ev) clReleaseEvent(p->pending[i].ev);
        if (p->pending[i].begin) clReleaseEvent(p->pending[i].begin);
    }
    p->n_pending = 0;
    if (p->origin) clReleaseEvent(p->origin);
    p->origin = NULL;
}

static void clear_sums(vd_profile *p)
{
    if (p->layers) memset(p->layers, 0, (size_t)p->n_layers * 2 * sizeof(*p->layers));
    memset(p->phases, 0, sizeof(p->phases));
    p->steps = p->samples = 0;
    p->origin_ns = p->first_end_ns = 0;
    p->first_ns = 0;
    p->n_kernels = 0;
    p->error = VD_OK;
    p->error_msg[0] = '\0';
}

static vd_prof_cell *cell_for(vd_profile *p, int32_t layer, int32_t phase)
{
    if (layer < 0 || (phase != VD_PROF_FWD && phase != VD_PROF_BWD))
        return &p->phases[phase >= 0 && phase < VD_PROF_PHASES ? phase : VD_PROF_OTHER];
    if (layer >= p->n_layers) {
        int32_t n = layer + 16;
        vd_prof_cell *c = realloc(p->layers, (size_t)n * 2 * sizeof(*c));
        if (!c) return &p->phases[VD_PROF_OTHER]; /* still counted, under "other" */
        memset(c + (size_t)p->n_layers * 2, 0, (size_t)(n - p->n_layers) * 2 * sizeof(*c));
        p->layers = c;
        p->n_layers = n;
    }
    return &p->layers[(size_t)layer * 2 + (phase == VD_PROF_BWD)];
}

static void note_error(vd_profile *p, const char *what, cl_int err)
{
    if (p->error != VD_OK) return;
    p->error = VD_ERR_OPENCL;
    snprintf(p->error_msg, sizeof(p->error_msg), "%s -> %d (%s)", what, (int)err,
             vd_cl_error_name(err));
}

/* The two event calls of the recorder. A failure is noted (call, label, raw code) and
 * false returned: a profiling failure costs that record, never the step it timed. */
static bool event_wait(vd_context *ctx, cl_event ev, const char *label)
{
    cl_int err = vd_fault(ctx, "clWaitForEvents") ?: clWaitForEvents(1, &ev);
    if (err == CL_SUCCESS) return true;
    char call[160];
    snprintf(call, sizeof(call), "clWaitForEvents(%s)", label);
    note_error(ctx->profile, call, err);
    return false;
}

/* Timestamp `what` (CL_PROFILING_COMMAND_START or _END) of a completed event into *t. */
static bool event_time(vd_context *ctx, cl_event ev, cl_profiling_info what, cl_ulong *t,
                       const char *label)
{
    cl_int err = vd_fault(ctx, "clGetEventProfilingInfo")
                     ?: clGetEventProfilingInfo(ev, what, sizeof(*t), t, NULL);
    if (err == CL_SUCCESS) return true;
    char call[160];
    snprintf(call, sizeof(call), "clGetEventProfilingInfo(%s)", label);
    note_error(ctx->profile, call, err);
    return false;
}

/* The window's origin marker is done once anything after it is: read its end (the device
 * clock at the window's start) and release it. */
static void read_origin(vd_context *ctx)
{
    vd_profile *p = ctx->profile;
    if (!p->origin) return;
    cl_ulong t = 0;
    if (event_wait(ctx, p->origin, "profile window start") &&
        event_time(ctx, p->origin, CL_PROFILING_COMMAND_END, &t, "profile window start"))
        p->origin_ns = t;
    clReleaseEvent(p->origin);
    p->origin = NULL;
}

/* Add one launch's time to its kernel name's sums (a full table drops it: a few dozen
 * names are usual). */
static void kernel_add(vd_profile *p, const char *name, double ns)
{
    if (!name[0]) name = "(unnamed)";
    for (size_t i = 0; i < p->n_kernels; i++)
        if (!strcmp(p->kernels[i].name, name)) {
            p->kernels[i].ns += ns;
            p->kernels[i].launches++;
            return;
        }
    if (p->n_kernels == p->cap_kernels) {
        size_t cap = p->cap_kernels ? p->cap_kernels * 2 : 32;
        vd_prof_kernel *k = realloc(p->kernels, cap * sizeof(*k));
        if (!k) return;
        p->kernels = k;
        p->cap_kernels = cap;
    }
    vd_prof_kernel *k = &p->kernels[p->n_kernels++];
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->ns = ns;
    k->launches = 1;
}

/* Read and release the first n pending records (waiting for each), keep the rest. */
static void harvest(vd_context *ctx, size_t n)
{
    vd_profile *p = ctx->profile;
    if (n > p->n_pending) n = p->n_pending;
    if (n > 0) read_origin(ctx);
    for (size_t i = 0; i < n; i++) {
        vd_prof_record *r = &p->pending[i];
        if (!r->ev) {
            if (r->begin) clReleaseEvent(r->begin);
            continue;
        }
        cl_ulong t0 = 0, t1 = 0;
        /* Waiting for the launch waits for its span's marker too (an in-order queue); a
         * span starts where its marker ended. */
        bool ok = event_wait(ctx, r->ev, "profiled launch");
        if (ok)
            ok = r->begin ? event_time(ctx, r->begin, CL_PROFILING_COMMAND_END, &t0, "span start")
                          : event_time(ctx, r->ev, CL_PROFILING_COMMAND_START, &t0, "launch start");
        if (ok) ok = event_time(ctx, r->ev, CL_PROFILING_COMMAND_END, &t1, "launch end");
        if (ok) {
            vd_prof_cell *c = cell_for(p, r->layer, r->phase);
            double ns = t1 > t0 ? (double)(t1 - t0) : 0.0;
            c->ns += ns;
            c->kernels++;
            if (r->step == 0) {
                p->first_ns += ns;
                if (t1 > p->first_end_ns) p->first_end_ns = t1;
            } else {
                kernel_add(p, r->name, ns);
            }
        }
        clReleaseEvent(r->ev);
        if (r->begin) clReleaseEvent(r->begin);
    }
    memmove(p->pending, p->pending + n, (p->n_pending - n) * sizeof(*p->pending));
    p->n_pending -= n;
}

cl_event *vd_profile_slot(vd_context *ctx)
{
    vd_profile *p = ctx->profile;
    if (p->n_pending == PROF_MAX_PENDING) harvest(ctx, PROF_MAX_PENDING / 2);
    if (p->n_pending == p->cap_pending) {
        size_t cap = p->cap_pending ? p->cap_pending * 2 : 256;
        vd_prof_record *r = realloc(p->pending, cap * sizeof(*r));
        if (!r) return NULL; /* this launch goes unrecorded rather than failing */
        p->pending = r;
        p->cap_pending = cap;
    }
    vd_prof_record *r = &p->pending[p->n_pending++];
    r->ev = NULL;
    r->begin = NULL;
    r->layer = p->layer;
    r->phase = p->phase;
    r->step = p->steps;
    snprintf(r->name, sizeof(r->name), "%s", p->next_name ? p->next_name : "");
    p->next_name = NULL;
    return &r->ev;
}

cl_event *vd_profile_span_slot(vd_context *ctx)
{
    vd_profile *p = ctx->profile;
    cl_event *ev = vd_profile_slot(ctx);
    if (!ev) return NULL;
    vd_prof_record *r = &p->pending[p->n_pending - 1];
    /* Without the marker the span falls back to its last command's own time (noted). */
    cl_int err = vd_fault(ctx, "clEnqueueMarkerWithWaitList")
                     ?: clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &r->begin);
    if (err != CL_SUCCESS) {
        r->begin = NULL;
        note_error(p, "clEnqueueMarkerWithWaitList(profile span)", err);
    }
    return ev;
}

vd_status vd_profile_enable(vd_context *ctx, bool on)
{
    if (!on) {
        if (ctx->profile) clFinish(ctx->queue);
        vd_profile_destroy(ctx->profile);
        ctx->profile = NULL;
        return VD_OK;
    }
    if (ctx->profile) return VD_OK;
    vd_profile *p = calloc(1, sizeof(*p));
    if (!p) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "profiler: out of host memory");
    p->layer = -1;
    ctx->profile = p;
    return VD_OK;
}

void vd_profile_destroy(vd_profile *p)
{
    if (!p) return;
    drop_pending(p);
    free(p->pending);
    free(p->layers);
    free(p->kernels);
    free(p);
}

void vd_profile_begin(vd_context *ctx)
{
    vd_profile *p = ctx->profile;
    if (!p) return;
    /* Launches from before the window must not land in it. */
    cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
    drop_pending(p);
    clear_sums(p);
    if (err != CL_SUCCESS) note_error(p, "clFinish(profile window start)", err);
    p->layer = -1;
    p->phase = VD_PROF_OTHER;
    /* The device clock at the start, for the first step's wall time. */
    err = vd_fault(ctx, "clEnqueueMarkerWithWaitList")
              ?: clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &p->origin);
    if (err != CL_SUCCESS) {
        p->origin = NULL;
        note_error(p, "clEnqueueMarkerWithWaitList(profile window start)", err);
    }
    p->t_begin = now_s();
    p->t_end = p->t_begin;
    p->active = true;
}

vd_status vd_profile_end(vd_context *ctx)
{
    vd_profile *p = ctx->profile;
    if (!p || !p->active) return VD_OK;
    cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
    p->t_end = now_s();
    p->active = false;
    if (err != CL_SUCCESS) note_error(p, "clFinish(profile window)", err);
    harvest(ctx, p->n_pending);
    read_origin(ctx); /* when nothing was recorded */
    p->layer = -1;
    p->phase = VD_PROF_OTHER;
    if (p->error != VD_OK) return vd_error_set(ctx, p->error, "profiler: %s", p->error_msg);
    return VD_OK;
}

/* ---------------------------------------------------------------- public switches */

vd_status vd_context_set_profiling(vd_context *ctx, int32_t on)
{
    if (!ctx)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_context_set_profiling: ctx is NULL");
    vd_status st = vd_profile_enable(ctx, on != 0);
    if (st == VD_OK && ctx->profile) ctx->profile->auto_print = false; /* the caller prints */
    return st;
}

int32_t vd_context_profiling(const vd_context *ctx)
{
    return ctx && ctx->profile ? 1 : 0;
}

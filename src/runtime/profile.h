/* profile.h - the kernel-time recorder behind VERDANT_PROFILE=1 / `verdant train --profile`.
 *
 * While a context's recorder is on and a window is open, every kernel launch
 * (vd_kernel_run), every CLBlast call and every clFFT transform gets an OpenCL event,
 * tagged with the current scope: a layer index and a phase (forward, backward) set by the
 * net, or one of the non-layer phases (loss, optimizer, other). Events are read
 * (CL_PROFILING_COMMAND_START / _END; the queue is created with profiling on) in batches as
 * they complete, and summed per (layer, phase). A library call that enqueues several
 * kernels but signals only its last (a clFFT transform) is measured as a span: a marker
 * enqueued just before it gives the start. The first step of a window is also summed on
 * its own, since it carries one-time work (program loads, clFFT plans, algorithm
 * measurements) that later steps do not. The runtime does not know what a layer is: it
 * keeps integers, and src/net/net_profile.c turns them into the table with names, FLOP/s
 * and bytes.
 *
 * Off (ctx->profile NULL, the default), the hooks below are one pointer test each: no
 * event is created and nothing is recorded. Not here: the table (net_profile.c) and
 * energy (src/energy/meter.h). */
#ifndef VD_RUNTIME_PROFILE_H
#define VD_RUNTIME_PROFILE_H

#include "runtime.h"

typedef enum vd_prof_phase {
    VD_PROF_OTHER = 0, /* zeroing gradients, accumulators, anything outside a scope */
    VD_PROF_FWD = 1,   /* layer forward */
    VD_PROF_BWD = 2,   /* layer backward */
    VD_PROF_LOSS = 3,  /* loss (forward and its gradient) */
    VD_PROF_OPTIM = 4, /* optimizer update, gradient clipping */
    VD_PROF_PHASES = 5
} vd_prof_phase;

#define VD_PROF_NAME 48

typedef struct vd_prof_record {
    cl_event ev;    /* NULL when the enqueue failed */
    cl_event begin; /* spans: the marker enqueued just before (the span starts at its end) */
    int32_t layer;
    int32_t phase;
    uint64_t step; /* training steps counted in the window before this command */
    char name[VD_PROF_NAME];   /* kernel (or library call) name; "" if not given */
} vd_prof_record;

/* Sums per kernel name over the steps after the first (the steady state). */
typedef struct vd_prof_kernel {
    char name[VD_PROF_NAME];
    double ns;
    uint64_t launches;
} vd_prof_kernel;

/* Sums for one (layer, phase) or one non-layer phase. */
typedef struct vd_prof_cell {
    double ns;        /* kernel time, END - START summed */
    uint64_t kernels; /* launches */
} vd_prof_cell;

typedef struct vd_profile {
    bool active;     /* a window is open: launches get events */
    bool auto_print; /* turned on by VERDANT_PROFILE: vd_net_train_epoch prints the table */
    int32_t layer;   /* current scope; -1 outside layers */
    int32_t phase;
    vd_prof_record *pending; /* launched, not yet read */
    size_t n_pending, cap_pending;
    vd_prof_cell *layers;                /* [layer * 2 + (phase == BWD)] for FWD / BWD */
    int32_t n_layers;                    /* layers[] holds 2 * n_layers cells */
    vd_prof_cell phases[VD_PROF_PHASES]; /* non-layer phases (OTHER, LOSS, OPTIM) */
    uint64_t steps, samples;             /* training steps and samples in the window */
    double t_begin, t_end;               /* host monotonic seconds of the window */
    cl_event origin;       /* marker enqueued when the window opened (device clock), or NULL */
    cl_ulong origin_ns;    /* its end on the device clock, once read (0: not read) */
    cl_ulong first_end_ns; /* device clock: the latest end among the first step's commands */
    double first_ns;       /* kernel time of the first step (also in the sums) */
    vd_prof_kernel *kernels; /* per kernel name, steps after the first */
    size_t n_kernels, cap_kernels;
    const char *next_name; /* name for the next slot (vd_profile_name) */
    vd_status error;       /* first failure of a profiling call (VD_OK if none) */
    char error_msg[256];
} vd_profile;

/* Turn the recorder on (allocating it) or off (freeing it, dropping what was recorded). */
vd_status vd_profile_enable(vd_context *ctx, bool on);
/* Free the recorder (context destruction). Releases pending events. NULL is a no-op. */
void vd_profile_destroy(vd_profile *p);
/* Open a window: forget the sums and pending events, start the wall clock. No-op when off. */
void vd_profile_begin(vd_context *ctx);
/* Close the window: wait for the queue, read every pending event, stop the wall clock.
 * Returns the first failure of a profiling call in the window (its marker, clFinish, an
 * event's wait or timestamps), naming the call and raw code (VD_OK when off). Such a
 * failure only costs records: the steps in the window ran as without profiling. */
vd_status vd_profile_end(vd_context *ctx);

/* Slow path of vd_profile_event: a fresh record slot for the current scope (reads and
 * releases completed events when the pending list is full). NULL if out of memory. */
cl_event *vd_profile_slot(vd_context *ctx);
/* Slow path of vd_profile_span_event: a slot whose record starts at a marker enqueued now. */
cl_event *vd_profile_span_slot(vd_context *ctx);

/* Name the launch whose vd_profile_event / _span_event comes next (a kernel's name, or
 * "clblast:sgemm"); the per-kernel table of the report groups by it. */
static inline void vd_profile_name(vd_context *ctx, const char *name)
{
    if (ctx->profile) ctx->profile->next_name = name;
}

/* Event pointer to pass to an enqueue call: NULL (no event) unless a window is open. */
static inline cl_event *vd_profile_event(vd_context *ctx)
{
    return ctx->profile && ctx->profile->active ? vd_profile_slot(ctx) : NULL;
}

/* The same for a library call that enqueues several commands and hands back the event of
 * its last one only (clfftEnqueueTransform's outEvents): a marker enqueued here marks the
 * start, so the recorded time runs from the end of the commands before the call to the end
 * of its last command, gaps between its own commands included. Counted as one launch. */
static inline cl_event *vd_profile_span_event(vd_context *ctx)
{
    return ctx->profile && ctx->profile->active ? vd_profile_span_slot(ctx) : NULL;
}

/* Set the scope of the launches that follow (layer -1 for non-layer phases). */
static inline void vd_profile_scope(vd_context *ctx, int32_t layer, vd_prof_phase phase)
{
    if (ctx->profile) {
        ctx->profile->layer = layer;
        ctx->profile->phase = (int32_t)phase;
    }
}

/* Count one training step of n samples (for GFLOP/s and per-step times). */
static inline void vd_profile_step(vd_context *ctx, int32_t n)
{
    if (ctx->profile && ctx->profile->active) {
        ctx->profile->steps++;
        ctx->profile->samples += (uint64_t)n;
    }
}

#endif /* VD_RUNTIME_PROFILE_H */

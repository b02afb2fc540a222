/* dist.c - data-parallel training over MPI (docs/DISTRIBUTED.md).
 *
 * After backward the whole gradient arena is read to the host in one bucket, summed over
 * the ranks with one MPI_Allreduce, divided by the rank count and written back, so every
 * rank applies the same update: that of one process with an N-times larger batch (the
 * loss is the batch mean). Without MPI the API exists and returns VD_ERR_UNSUPPORTED. */
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef VD_HAVE_MPI
#include <mpi.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A bucket: the gradients of consecutive layers, [lo, hi) floats of the arena, final once
 * layer `last` (the lowest index in it) has run its backward pass. Buckets are listed in
 * the order backward completes them (from the end of the arena). */
typedef struct bucket {
    size_t lo, hi;
    int32_t last;
    cl_event ev; /* its read-back, enqueued behind that layer's backward */
} bucket;

struct vd_dist {
    MPI_Comm comm;
    int rank, size;
    float *buf; /* net->arena floats */
    vd_dist_stats stats;
    bucket *b;
    MPI_Request *req; /* per bucket: its MPI_Iallreduce */
    int nb, next;     /* buckets; the next one to read back in this step */
};

/* Buckets of at least cap floats along layer boundaries (cap 0: one bucket, the whole
 * arena, read back after backward as before). They cover [0, arena) without gaps. */
static int make_buckets(vd_net *net, struct vd_dist *d, size_t cap)
{
    d->b = calloc((size_t)net->n_layers + 1, sizeof(bucket));
    d->req = calloc((size_t)net->n_layers + 1, sizeof(MPI_Request));
    if (!d->b || !d->req) {
        free(d->b);
        free(d->req);
        d->b = NULL;
        d->req = NULL;
        return -1;
    }
    d->nb = 0;
    size_t hi = net->arena;
    int32_t last = -1;
    for (int32_t i = net->n_layers - 1; i >= 0; i--) {
        const vd_layer *l = net->layers[i];
        if (l->n_params == 0) continue;
        size_t lo = l->params[0].offset;
        last = i;
        if (cap && hi - lo >= cap && i > 0) {
            d->b[d->nb++] = (bucket){lo, hi, i, NULL};
            hi = lo;
        }
    }
    if (hi > 0 || d->nb == 0)
        d->b[d->nb++] = (bucket){0, hi, last < 0 ? 0 : last, NULL};
    if (!cap) d->b[0].last = -1; /* read after backward */
    return 0;
}

static void release_events(struct vd_dist *d)
{
    for (int k = 0; k < d->nb; k++)
        if (d->b[k].ev) {
            clWaitForEvents(1, &d->b[k].ev);
            clReleaseEvent(d->b[k].ev);
            d->b[k].ev = NULL;
        }
    d->next = 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

vd_status vd_net_set_distributed(vd_net *net, void *comm)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_set_distributed: net is NULL");
    if (!net->built)
        return vd_error_set(net->ctx, VD_ERR_STATE, "vd_net_set_distributed: build the net first");
    int init = 0;
    MPI_Initialized(&init);
    if (!init)
        return vd_error_set(net->ctx, VD_ERR_STATE,
                            "vd_net_set_distributed: MPI is not initialised (call MPI_Init)");
    MPI_Comm c = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD;
    struct vd_dist *d = calloc(1, sizeof(*d));
    float *buf = malloc((net->arena ? net->arena : 1) * sizeof(float));
    size_t np = vd_net_param_count(net);
    float *w = malloc((np ? np : 1) * sizeof(float));
    char *cfg = NULL;
    vd_status st = (d && buf && w) ? VD_OK : vd_error_set(net->ctx, VD_ERR_NO_MEMORY,
                                                         "vd_net_set_distributed: out of host memory");
    /* VERDANT_DIST_BUCKET_KB: gradient buckets of at least that many KiB, each read back
     * and all-reduced (MPI_Iallreduce) as soon as backward has finished its layers, while
     * the earlier layers' backward still runs; 0 or unset: one bucket after backward. The
     * ranks must cut the same buckets (their all-reduces pair up): checked below. */
    const char *env = getenv("VERDANT_DIST_BUCKET_KB");
    unsigned long long kb = 0;
    if (st == VD_OK && env && *env) {
        char *end = NULL;
        kb = strtoull(env, &end, 10);
        if (*end || env[0] == '-' || kb > (1ull << 30))
            st = vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                              "vd_net_set_distributed: VERDANT_DIST_BUCKET_KB '%s' is not a "
                              "number of KiB in [0, 2^30]",
                              env);
    }
    size_t cap = (size_t)kb * 1024 / sizeof(float);
    if (st == VD_OK && make_buckets(net, d, cap) != 0)
        st = vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "vd_net_set_distributed: out of host memory");
    if (st == VD_OK) st = vd_net_params_read(net, w, np);
    if (st == VD_OK) st = vd_net_to_cfg(net, &cfg);
    /* The hash of the cfg text (layers, shapes, options) and of the initial weights. */
    uint64_t h = 1469598103934665603ull;
    if (st == VD_OK) {
        h = fnv1a(h, cfg, strlen(cfg));
        h = fnv1a(h, &np, sizeof(np));
        h = fnv1a(h, w, np * sizeof(float));
    }
    /* Every rank takes part whatever happened locally, so nobody hangs. Maxima of x and
     * of ~x are x and ~x on every rank only when every rank has the same x. */
    unsigned long long v[5] = {h, ~(unsigned long long)h, st == VD_OK ? 0ull : 1ull, kb, ~kb},
                       mx[5];
    int err = MPI_Allreduce(v, mx, 5, MPI_UNSIGNED_LONG_LONG, MPI_MAX, c);
    free(cfg);
    free(w);
    if (err != MPI_SUCCESS) st = vd_error_set(net->ctx, VD_ERR_INTERNAL,
                                              "vd_net_set_distributed: MPI_Allreduce failed (%d)", err);
    else if (st != VD_OK) { /* message already set */
    } else if (mx[2])
        st = vd_error_set(net->ctx, VD_ERR_STATE,
                          "vd_net_set_distributed: another rank failed to set up");
    else if (mx[0] != h || mx[1] != ~(unsigned long long)h)
        st = vd_error_set(net->ctx, VD_ERR_STATE,
                          "vd_net_set_distributed: the ranks' models differ (network, "
                          "shapes or initial weights)");
    else if (mx[3] != kb || mx[4] != ~kb)
        st = vd_error_set(net->ctx, VD_ERR_STATE,
                          "vd_net_set_distributed: the ranks' VERDANT_DIST_BUCKET_KB differ "
                          "(%llu here)",
                          kb);
    if (st != VD_OK) {
        if (d) {
            free(d->b);
            free(d->req);
        }
        free(d);
        free(buf);
        return st;
    }
    MPI_Comm_rank(c, &d->rank);
    MPI_Comm_size(c, &d->size);
    d->comm = c;
    d->buf = buf;
    vd_net_dist_free(net);
    net->dist = d;
    return VD_OK;
}

vd_status vd_net_dist_info(const vd_net *net, int32_t *rank, int32_t *size)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_dist_info: net is NULL");
    if (rank) *rank = net->dist ? net->dist->rank : 0;
    if (size) *size = net->dist ? net->dist->size : 1;
    return VD_OK;
}

void vd_net_dist_begin(vd_net *net)
{
    if (net->dist) release_events(net->dist); /* left by a step that failed */
}

vd_status vd_net_dist_layer_done(vd_net *net, int32_t layer)
{
    struct vd_dist *d = net->dist;
    if (!d || d->size <= 1 || d->next >= d->nb || d->b[d->next].last != layer) return VD_OK;
    bucket *b = &d->b[d->next];
    cl_int e = vd_fault(net->ctx, "clEnqueueReadBuffer")
                   ?: clEnqueueReadBuffer(net->ctx->queue, net->grads, CL_FALSE,
                                          b->lo * sizeof(float), (b->hi - b->lo) * sizeof(float),
                                          d->buf + b->lo, 0, NULL, &b->ev);
    if (e != CL_SUCCESS)
        return vd_error_cl(net->ctx, "vd_net_dist_reduce: clEnqueueReadBuffer(bucket)", e);
    d->next++;
    e = clFlush(net->ctx->queue); /* the device starts on it now */
    if (e != CL_SUCCESS) return vd_error_cl(net->ctx, "vd_net_dist_reduce: clFlush", e);
    return VD_OK;
}

/* Wait for a bucket's read-back while advancing the all-reduces already started: Open
 * MPI's non-blocking collectives progress only inside MPI calls. */
static vd_status wait_bucket(vd_net *net, struct vd_dist *d, int k)
{
    for (;;) {
        cl_int status = CL_QUEUED;
        cl_int e = clGetEventInfo(d->b[k].ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status),
                                  &status, NULL);
        if (e != CL_SUCCESS)
            return vd_error_cl(net->ctx, "vd_net_dist_reduce: clGetEventInfo(bucket)", e);
        if (status < 0)
            return vd_error_cl(net->ctx, "vd_net_dist_reduce: the bucket's read-back", status);
        if (status == CL_COMPLETE) return VD_OK;
        int flag = 0;
        if (k > 0) MPI_Testall(k, d->req, &flag, MPI_STATUSES_IGNORE);
        if (k == 0 || flag) { /* nothing to advance: block on the event */
            e = clWaitForEvents(1, &d->b[k].ev);
            if (e != CL_SUCCESS)
                return vd_error_cl(net->ctx, "vd_net_dist_reduce: clWaitForEvents(bucket)", e);
            return VD_OK;
        }
        struct timespec ts = {0, 20000}; /* 20 us */
        nanosleep(&ts, NULL);
    }
}

vd_status vd_net_dist_reduce(vd_net *net)
{
    struct vd_dist *d = net->dist;
    if (!d || d->size <= 1) return VD_OK;
    size_t n = net->arena, bytes = n * sizeof(float);
    vd_status st = VD_OK;
    double t0 = now_s(), t1, t2;
    if (d->b[0].last < 0) { /* one bucket after backward */
        cl_int e = vd_fault(net->ctx, "clFinish") ?: clFinish(net->ctx->queue);
        if (e != CL_SUCCESS) return vd_error_cl(net->ctx, "vd_net_dist_reduce: clFinish(backward)", e);
        t1 = now_s();
        e = vd_fault(net->ctx, "clEnqueueReadBuffer")
                ?: clEnqueueReadBuffer(net->ctx->queue, net->grads, CL_TRUE, 0, bytes, d->buf, 0,
                                       NULL, NULL);
        if (e != CL_SUCCESS)
            return vd_error_cl(net->ctx, "vd_net_dist_reduce: clEnqueueReadBuffer", e);
        t2 = now_s();
        int err = MPI_Allreduce(MPI_IN_PLACE, d->buf, (int)n, MPI_FLOAT, MPI_SUM, d->comm);
        if (err != MPI_SUCCESS)
            return vd_error_set(net->ctx, VD_ERR_INTERNAL,
                                "vd_net_dist_reduce: MPI_Allreduce failed (%d)", err);
    } else { /* buckets read back behind their layers: all-reduce each as it arrives */
        if (d->next != d->nb)
            return vd_error_set(net->ctx, VD_ERR_INTERNAL,
                                "vd_net_dist_reduce: %d of %d gradient buckets were read back",
                                d->next, d->nb);
        for (int k = 0; k < d->nb; k++) d->req[k] = MPI_REQUEST_NULL;
        for (int k = 0; k < d->nb && st == VD_OK; k++) {
            st = wait_bucket(net, d, k);
            if (st != VD_OK) break;
            bucket *b = &d->b[k];
            int err = MPI_Iallreduce(MPI_IN_PLACE, d->buf + b->lo, (int)(b->hi - b->lo), MPI_FLOAT,
                                     MPI_SUM, d->comm, &d->req[k]);
            if (err != MPI_SUCCESS)
                st = vd_error_set(net->ctx, VD_ERR_INTERNAL,
                                  "vd_net_dist_reduce: MPI_Iallreduce failed (%d)", err);
        }
        t1 = t2 = now_s(); /* the last bucket is on the host: backward is done */
        /* Every rank started every all-reduce it reached; on a failure the others wait in
         * theirs (the command aborts the job: docs/DISTRIBUTED.md). */
        int err = MPI_Waitall(d->nb, d->req, MPI_STATUSES_IGNORE);
        if (st == VD_OK && err != MPI_SUCCESS)
            st = vd_error_set(net->ctx, VD_ERR_INTERNAL, "vd_net_dist_reduce: MPI_Waitall failed (%d)",
                              err);
        release_events(d);
        if (st != VD_OK) return st;
    }
    double t3 = now_s();
    float inv = 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++) d->buf[i] *= inv;
    cl_int e = vd_fault(net->ctx, "clEnqueueWriteBuffer")
                   ?: clEnqueueWriteBuffer(net->ctx->queue, net->grads, CL_TRUE, 0, bytes, d->buf,
                                           0, NULL, NULL);
    if (e != CL_SUCCESS) return vd_error_cl(net->ctx, "vd_net_dist_reduce: clEnqueueWriteBuffer", e);
    double t4 = now_s();
    d->stats.reduces++;
    d->stats.bytes += bytes;
    d->stats.wait_seconds += t1 - t0;
    d->stats.copy_seconds += (t2 - t1) + (t4 - t3);
    d->stats.allreduce_seconds += t3 - t2;
    return VD_OK;
}

vd_status vd_net_dist_stats(const vd_net *net, vd_dist_stats *out)
{
    if (!net || !out)
        return vd_error_set(net ? net->ctx : NULL, VD_ERR_INVALID_ARG,
                            "vd_net_dist_stats: net or out is NULL");
    memset(out, 0, sizeof(*out));
    if (net->dist) {
        *out = net->dist->stats;
        out->buckets = net->dist->nb;
    }
    return VD_OK;
}

void vd_net_dist_free(vd_net *net)
{
    if (!net || !net->dist) return;
    release_events(net->dist);
    free(net->dist->b);
    free(net->dist->req);
    free(net->dist->buf);
    free(net->dist);
    net->dist = NULL;
}

#else /* !VD_HAVE_MPI */

vd_status vd_net_set_distributed(vd_net *net, void *comm)
{
    (void)comm;
    return vd_error_set(net ? net->ctx : NULL, VD_ERR_UNSUPPORTED,
                        "vd_net_set_distributed: Verdant was built without MPI (VD_WITH_MPI)");
}

vd_status vd_net_dist_info(const vd_net *net, int32_t *rank, int32_t *size)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_dist_info: net is NULL");
    if (rank) *rank = 0;
    if (size) *size = 1;
    return VD_OK;
}

vd_status vd_net_dist_stats(const vd_net *net, vd_dist_stats *out)
{
    if (!net || !out)
        return vd_error_set(net ? net->ctx : NULL, VD_ERR_INVALID_ARG,
                            "vd_net_dist_stats: net or out is NULL");
    memset(out, 0, sizeof(*out));
    return VD_OK;
}

vd_status vd_net_dist_reduce(vd_net *net)
{
    (void)net;
    return VD_OK;
}

void vd_net_dist_begin(vd_net *net) { (void)net; }

vd_status vd_net_dist_layer_done(vd_net *net, int32_t layer)
{
    (void)net;
    (void)layer;
    return VD_OK;
}
void vd_net_dist_free(vd_net *net) { (void)net; }

#endif

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

struct vd_dist {
    MPI_Comm comm;
    int rank, size;
    float *buf; /* net->arena floats */
    vd_dist_stats stats;
};

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
    vd_status st = (d && buf && w) ? VD_OK : VD_ERR_NO_MEMORY;
    if (st == VD_OK) st = vd_net_params_read(net, w, np);
    if (st == VD_OK) st = vd_net_to_cfg(net, &cfg);
    /* The hash of the cfg text (layers, shapes, options) and of the initial weights. */
    uint64_t h = 1469598103934665603ull;
    if (st == VD_OK) {
        h = fnv1a(h, cfg, strlen(cfg));
        h = fnv1a(h, &np, sizeof(np));
        h = fnv1a(h, w, np * sizeof(float));
    }
    /* Every rank takes part whatever happened locally, so nobody hangs. */
    unsigned long long v[3] = {h, ~(unsigned long long)h, st == VD_OK ? 0ull : 1ull}, mx[3];
    int err = MPI_Allreduce(v, mx, 3, MPI_UNSIGNED_LONG_LONG, MPI_MAX, c);
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
    if (st != VD_OK) {
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

vd_status vd_net_dist_reduce(vd_net *net)
{
    struct vd_dist *d = net->dist;
    if (!d || d->size <= 1) return VD_OK;
    size_t n = net->arena, bytes = n * sizeof(float);
    double t0 = now_s();
    cl_int e = vd_fault(net->ctx, "clFinish") ?: clFinish(net->ctx->queue);
    if (e != CL_SUCCESS) return vd_error_cl(net->ctx, "vd_net_dist_reduce: clFinish(backward)", e);
    double t1 = now_s();
    e = vd_fault(net->ctx, "clEnqueueReadBuffer")
            ?: clEnqueueReadBuffer(net->ctx->queue, net->grads, CL_TRUE, 0, bytes, d->buf, 0, NULL,
                                   NULL);
    if (e != CL_SUCCESS) return vd_error_cl(net->ctx, "vd_net_dist_reduce: clEnqueueReadBuffer", e);
    double t2 = now_s();
    int err = MPI_Allreduce(MPI_IN_PLACE, d->buf, (int)n, MPI_FLOAT, MPI_SUM, d->comm);
    if (err != MPI_SUCCESS)
        return vd_error_set(net->ctx, VD_ERR_INTERNAL, "vd_net_dist_reduce: MPI_Allreduce failed (%d)",
                            err);
    double t3 = now_s();
    float inv = 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++) d->buf[i] *= inv;
    e = vd_fault(net->ctx, "clEnqueueWriteBuffer")
            ?: clEnqueueWriteBuffer(net->ctx->queue, net->grads, CL_TRUE, 0, bytes, d->buf, 0, NULL,
                                    NULL);
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
    if (net->dist) *out = net->dist->stats;
    return VD_OK;
}

void vd_net_dist_free(vd_net *net)
{
    if (!net || !net->dist) return;
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
void vd_net_dist_free(vd_net *net) { (void)net; }

#endif

/* net_bench.c - what `verdant bench` needs from inside the library: the per-layer
 * convolution table (every applicable algorithm of every pass of every conv2d/deconv2d
 * layer, timed with vd_conv_time, and the one vd_conv_select takes), the device's nominal
 * peak, and the input size of a net. Whole-model images/s is measured by the caller
 * through the public API (vd_net_train_step, vd_net_predict); nothing of that is here. */
#include <stdio.h>
#include <string.h>

#include "../ops/conv_select.h"
#include "net.h"

/* The workspace cap the conv2d layer runs under (VD_CONV_WS_CAP in src/layers/conv.c), so
 * the measured chunking is the layer's. */
#define BENCH_WS_CAP_FLOATS (((size_t)64 << 20) / sizeof(float))

size_t vd_net_input_size(const vd_net *net)
{
    return net && net->has_input ? vd_shape_numel(&net->input) : 0;
}

int32_t vd_net_input_shape(const vd_net *net, int64_t *shape, int32_t cap)
{
    if (!net || !net->has_input) return 0;
    for (int32_t i = 0; shape && i < cap && i < net->input.ndim; i++) shape[i] = net->input.d[i];
    return net->input.ndim;
}

vd_status vd_device_peak_gflops(const vd_context *ctx, double *gflops)
{
    if (!ctx || !gflops)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_device_peak_gflops: %s is NULL",
                            ctx ? "gflops" : "ctx");
    cl_uint width = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width,
                        NULL) != CL_SUCCESS ||
        width == 0)
        width = 1;
    *gflops = (double)ctx->info.compute_units * (double)ctx->info.max_clock_mhz * 1e-3 *
              (double)width * 2.0 * 2.0;
    return VD_OK;
}

/* Fill the geometry columns of a row. */
static void row_init(vd_conv_bench_row *r, const vd_layer *l, const vd_conv_geom *g, int pass,
                     int a, int32_t batch)
{
    memset(r, 0, sizeof(*r));
    r->layer = l->index;
    snprintf(r->layer_name, sizeof(r->layer_name), "%s", l->name);
    snprintf(r->layer_type, sizeof(r->layer_type), "%s", l->ops->type);
    snprintf(r->pass, sizeof(r->pass), "%s", vd_conv_pass_name(pass));
    snprintf(r->algo, sizeof(r->algo), "%s", vd_conv_algos[a]->name);
    r->C = g->C, r->H = g->H, r->W = g->W, r->K = g->K, r->P = g->P, r->Q = g->Q;
    r->R = g->R, r->S = g->S;
    r->stride_h = g->stride_h, r->stride_w = g->stride_w, r->pad_h = g->pad_h;
    r->pad_w = g->pad_w, r->dil_h = g->dil_h, r->dil_w = g->dil_w, r->groups = g->groups;
    r->batch = batch;
    r->flops = 2ull * (uint64_t)g->K * (uint64_t)(g->C / g->groups) * (uint64_t)g->R *
               (uint64_t)g->S * (uint64_t)g->P * (uint64_t)g->Q * (uint64_t)batch;
}

vd_status vd_net_bench_conv(vd_net *net, int32_t batch, int32_t reps, vd_conv_bench_row *rows,
                            size_t cap, size_t *count)
{
    const char *fn = "vd_net_bench_conv";
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: net is NULL", fn);
    vd_context *ctx = net->ctx;
    if (!count) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: count is NULL", fn);
    *count = 0;
    if (!rows && cap > 0)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: rows is NULL but cap is %zu", fn, cap);
    if (batch < 1 || batch > 65536)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: batch %d is outside [1, 65536]", fn,
                            (int)batch);
    if (reps < 1 || reps > 1000)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "%s: reps %d is outside [1, 1000]", fn,
                            (int)reps);
    if (!net->built)
        return vd_error_set(ctx, VD_ERR_STATE, "%s: the network is not yet built (vd_net_build)",
                            fn);
    double peak = 0;
    vd_status st = vd_device_peak_gflops(ctx, &peak);
    size_t n = 0;
    for (int32_t i = 0; i < net->n_layers && st == VD_OK; i++) {
        const vd_layer *l = net->layers[i];
        vd_conv_geom g;
        if (!vd_layer_conv_geom(l, &g)) continue;
        for (int p = 0; p < VD_CONV_N_PASSES && st == VD_OK; p++) {
            int chosen = -1;
            if (cap > 0) {
                /* The layer's own choice for this batch; may measure and record it. */
                st = vd_conv_select(ctx, &g, (vd_conv_pass)p, (size_t)batch, BENCH_WS_CAP_FLOATS,
                                    &chosen);
                if (st != VD_OK) break;
            }
            for (int a = 0; vd_conv_algos[a]; a++) {
                if (!vd_conv_algos[a]->applies(ctx, &g, (vd_conv_pass)p)) continue;
                if (n++ >= cap) continue;
                vd_conv_bench_row *r = &rows[n - 1];
                row_init(r, l, &g, p, a, batch);
                r->selected = a == chosen;
                double ms = 0;
                r->status = vd_conv_time(ctx, a, &g, (vd_conv_pass)p, (size_t)batch,
                                         BENCH_WS_CAP_FLOATS, (int)reps, &ms);
                if (r->status != VD_OK) {
                    snprintf(r->error, sizeof(r->error), "%s", vd_last_error(ctx));
                    vd_log(ctx, 1, "%s: %s %s %s: %s", fn, l->name,
                           vd_conv_pass_name((vd_conv_pass)p), vd_conv_algos[a]->name, r->error);
                    continue;
                }
                r->ms = ms;
                r->gflops = ms > 0 ? (double)r->flops / (ms * 1e6) : 0.0;
                r->peak_percent = peak > 0 ? 100.0 * r->gflops / peak : 0.0;
            }
        }
    }
    *count = n;
    return st;
}

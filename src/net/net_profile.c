/* net_profile.c - the per-layer profiling table: the runtime's recorder (runtime/profile.h)
 * sums kernel time per (layer index, phase); this file names the rows after the net's
 * layers and adds what only the net knows: FLOP counts (the layer vtable's flops hook),
 * compulsory bytes (inputs, parameters, outputs) and the algorithm in use (the algo hook).
 * Recording and the public on/off switch are in runtime/profile.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/profile.h"
#include "net.h"

static vd_status need_profiler(vd_net *net, const char *fn)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: net is NULL", fn);
    if (!net->ctx->profile)
        return vd_error_set(net->ctx, VD_ERR_STATE,
                            "%s: profiling is off (VERDANT_PROFILE=1 or vd_context_set_profiling)",
                            fn);
    return VD_OK;
}

vd_status vd_net_profile_begin(vd_net *net)
{
    vd_status st = need_profiler(net, "vd_net_profile_begin");
    if (st == VD_OK) vd_profile_begin(net->ctx);
    return st;
}

vd_status vd_net_profile_end(vd_net *net)
{
    vd_status st = need_profiler(net, "vd_net_profile_end");
    return st == VD_OK ? vd_profile_end(net->ctx) : st;
}

static void cell_text(char *dst, size_t cap, double v, const char *fmt)
{
    if (v > 0) snprintf(dst, cap, fmt, v);
    else snprintf(dst, cap, "-");
}

static int by_time_desc(const void *a, const void *b)
{
    double x = ((const vd_prof_kernel *)a)->ns, y = ((const vd_prof_kernel *)b)->ns;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Kernel time per kernel name over the steps after the first: which kernels the step is
 * made of (a layer's row sums several), how often each runs and how long one launch takes
 * (small launches are where a CPU device's per-launch cost shows). */
static void kernel_table(vd_profile *p, FILE *f)
{
    if (p->steps < 2 || p->n_kernels == 0) return;
    qsort(p->kernels, p->n_kernels, sizeof(*p->kernels), by_time_desc);
    double rest = (double)(p->steps - 1), total = 0;
    for (size_t i = 0; i < p->n_kernels; i++) total += p->kernels[i].ns;
    fprintf(f, "kernels, steps 2-%llu, by time:\n%-34s %10s %9s %9s %7s\n",
            (unsigned long long)p->steps, "kernel", "launches", "ms/step", "us/launch", "share");
    for (size_t i = 0; i < p->n_kernels; i++) {
        const vd_prof_kernel *k = &p->kernels[i];
        fprintf(f, "%-34s %10.1f %9.3f %9.1f %6.1f%%\n", k->name, (double)k->launches / rest,
                k->ns * 1e-6 / rest, k->launches ? k->ns * 1e-3 / (double)k->launches : 0.0,
                total > 0 ? 100.0 * k->ns / total : 0.0);
    }
    fprintf(f, "(launches: per step; share: of the kernel time of these steps)\n");
}

#define ROW_FMT "%-16s %-11s %9s %9s %9s %7s %12s %12s %9s  %s\n"

vd_status vd_net_profile_report(vd_net *net, void *file)
{
    vd_status st = need_profiler(net, "vd_net_profile_report");
    if (st != VD_OK) return st;
    vd_profile *p = net->ctx->profile;
    if (p->active) vd_profile_end(net->ctx);
    if (p->steps == 0 || !net->built)
        return vd_error_set(net->ctx, VD_ERR_STATE,
                            "vd_net_profile_report: no training step was recorded (profile a "
                            "window: vd_net_train_epoch, or vd_net_profile_begin/_end)");
    FILE *f = file ? (FILE *)file : stdout;
    double kernels_ns = 0;
    uint64_t launches = 0;
    for (int32_t i = 0; i < 2 * p->n_layers; i++) {
        kernels_ns += p->layers[i].ns;
        launches += p->layers[i].kernels;
    }
    for (int ph = 0; ph < VD_PROF_PHASES; ph++) {
        kernels_ns += p->phases[ph].ns;
        launches += p->phases[ph].kernels;
    }
    double wall_ns = (p->t_end - p->t_begin) * 1e9;
    double host_ns = wall_ns > kernels_ns ? wall_ns - kernels_ns : 0.0;
    double denom = wall_ns > kernels_ns ? wall_ns : kernels_ns; /* shares sum to 100% */
    if (denom <= 0) denom = 1;
    double steps = (double)p->steps, samples = (double)p->samples;
    fprintf(f,
            "profile: %llu steps, %llu samples, %.3f s wall; kernels %.3f s (%.1f%%, %.1f "
            "launches/step), host overhead %.3f s (%.1f%%)\n",
            (unsigned long long)p->steps, (unsigned long long)p->samples, wall_ns * 1e-9,
            kernels_ns * 1e-9, 100.0 * kernels_ns / denom, (double)launches / steps, host_ns * 1e-9,
            100.0 * host_ns / denom);
    /* The first step apart: it carries one-time work that says nothing about the steady
     * state. Its wall time is on the device clock, from the window's start marker to the
     * end of its last command. */
    double first_wall = p->first_end_ns > p->origin_ns && p->origin_ns > 0
                            ? (double)(p->first_end_ns - p->origin_ns)
                            : -1.0;
    if (p->steps >= 2 && first_wall >= 0 && first_wall <= wall_ns) {
        double rest = steps - 1, rest_wall = (wall_ns - first_wall) / rest;
        double rest_kern = (kernels_ns - p->first_ns) / rest;
        double rest_host = rest_wall > rest_kern ? rest_wall - rest_kern : 0.0;
        fprintf(f,
                "profile: first step %.3f s wall, %.3f s in kernels (one-time work lands here: "
                "program loads, clFFT plans, algorithm measurements); steps 2-%llu: %.2f ms "
                "wall, %.2f ms kernels, host overhead %.2f ms (%.1f%%) per step\n",
                first_wall * 1e-9, p->first_ns * 1e-9, (unsigned long long)p->steps,
                rest_wall * 1e-6, rest_kern * 1e-6, rest_host * 1e-6,
                rest_wall > 0 ? 100.0 * rest_host / rest_wall : 0.0);
    }
    if (p->error != VD_OK) fprintf(f, "profile: some events could not be read: %s\n", p->error_msg);
    fprintf(f, ROW_FMT, "layer", "type", "fwd ms", "bwd ms", "total ms", "share", "fwd GFLOP/s",
            "bwd GFLOP/s", "fwd GB/s", "algorithm");
    char a[32], b[32], c[32], d[32], e[32], g[32];
    double share_sum = 0;
    for (int32_t i = 0; i < net->n_layers; i++) {
        const vd_layer *l = net->layers[i];
        vd_prof_cell fw = {0}, bw = {0};
        if (i < p->n_layers) {
            fw = p->layers[2 * i];
            bw = p->layers[2 * i + 1];
        }
        const char *algo = l->ops->algo ? l->ops->algo(l) : NULL;
        double tot = fw.ns + bw.ns, share = 100.0 * tot / denom;
        share_sum += share;
        cell_text(a, sizeof(a), fw.ns * 1e-6 / steps, "%.3f");
        cell_text(b, sizeof(b), bw.ns * 1e-6 / steps, "%.3f");
        cell_text(c, sizeof(c), tot * 1e-6 / steps, "%.3f");
        /* FLOP/s only where the family counts its FLOPs (dense, conv, deconv: GEMM-shaped).
         * Their backward is two GEMMs of the forward's size: dW always, dx unless the
         * input is the net's (no gradient is computed for it). */
        double flops = l->ops->flops && !l->ops->alias ? (double)l->ops->flops(l) * samples : 0;
        bool dx = l->inputs[0] >= 0 && net->grad[l->inputs[0]].mem != NULL;
        double bwd_flops = flops * ((dx ? 1.0 : 0.0) + (l->n_params > 0 ? 1.0 : 0.0));
        cell_text(d, sizeof(d), fw.ns > 0 ? flops / fw.ns : 0, "%.2f");
        cell_text(e, sizeof(e), bw.ns > 0 ? bwd_flops / bw.ns : 0, "%.2f");
        /* Compulsory forward traffic: read every input and parameter, write the output. */
        double bytes = 0;
        if (!l->ops->alias) {
            for (int32_t k = 0; k < l->n_inputs; k++) bytes += (double)vd_shape_numel(&l->ins[k]);
            bytes += (double)vd_shape_numel(&l->out);
            bytes *= samples;
            for (int32_t k = 0; k < l->n_params; k++) bytes += (double)l->params[k].numel * steps;
            bytes *= sizeof(float);
        }
        cell_text(g, sizeof(g), fw.ns > 0 ? bytes / fw.ns : 0, "%.2f");
        char sh[16];
        snprintf(sh, sizeof(sh), "%.1f%%", share);
        fprintf(f, ROW_FMT, l->name, l->ops->type, a, b, c, sh, d, e, g, algo ? algo : "-");
    }
    static const struct {
        int ph;
        const char *name;
    } extra[] = {
        {VD_PROF_LOSS, "[loss]"}, {VD_PROF_OPTIM, "[optimizer]"}, {VD_PROF_OTHER, "[other]"}};
    for (size_t k = 0; k < sizeof(extra) / sizeof(extra[0]); k++) {
        double ns = p->phases[extra[k].ph].ns, share = 100.0 * ns / denom;
        share_sum += share;
        cell_text(c, sizeof(c), ns * 1e-6 / steps, "%.3f");
        char sh[16];
        snprintf(sh, sizeof(sh), "%.1f%%", share);
        fprintf(f, ROW_FMT, extra[k].name, "-", "-", "-", c, sh, "-", "-", "-", "-");
    }
    char sh[16];
    snprintf(sh, sizeof(sh), "%.1f%%", 100.0 * host_ns / denom);
    share_sum += 100.0 * host_ns / denom;
    cell_text(c, sizeof(c), host_ns * 1e-6 / steps, "%.3f");
    fprintf(f, ROW_FMT, "[host overhead]", "-", "-", "-", c, sh, "-", "-", "-", "-");
    snprintf(sh, sizeof(sh), "%.1f%%", share_sum);
    cell_text(c, sizeof(c), denom * 1e-6 / steps, "%.3f");
    fprintf(f, ROW_FMT, "total", "", "", "", c, sh, "", "", "", "");
    fprintf(f, "ms are per training step; fwd GB/s counts compulsory traffic only (inputs, "
               "parameters, outputs), a lower bound\n");
    kernel_table(p, f);
    fflush(f);
    return VD_OK;
}

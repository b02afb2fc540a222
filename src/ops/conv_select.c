/* conv_select.c - the table of convolution algorithms and the choice between them.
 *
 * For a (device, geometry, pass, batch) the choice is, in order:
 *   1. VERDANT_CONV_ALGO=name forces that algorithm wherever it applies (elsewhere the
 *      heuristic below decides, with a note at verbose level); an unknown name is an error;
 *   2. VERDANT_TUNE=off or VERDANT_DETERMINISTIC=1: the heuristic (fixed, so runs repeat);
 *   3. a record in the tuning cache (src/runtime/tune.h) naming an algorithm that applies;
 *   4. otherwise every applicable algorithm is measured on scratch buffers of the real
 *      shape in VD_TUNE_ROUNDS rounds over all candidates (each round: one warm-up and
 *      one timed run per candidate, ended by clFinish), each candidate's fastest run
 *      counts, the fastest candidate is kept and recorded as "name@ms". An algorithm that fails
 *      while being measured (an FFT plan clFFT refuses, say) is skipped with a note.
 * With VERDANT_TUNE_FOR=energy and an energy meter on the device (src/energy/meter.h),
 * candidates are compared by joules instead: the timed runs are repeated until they last
 * at least VD_ENERGY_MIN_S (meters update every 1-100 ms), and the energy per run is kept
 * under its own key ("...@<J>J"). Without a meter the choice stays on time and says so
 * once at verbose level.
 * Scratch for measuring comes from the buffer pool and goes back to it at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../energy/meter.h"
#include "../runtime/tune.h"
#include "conv_algo.h"
#include "conv_select.h"
#include "gemm.h"

#define VD_TUNE_ROUNDS 3 /* rounds of one warm-up and one timed run per candidate */
#define VD_ENERGY_MIN_S 2.0

const vd_conv_algo *const vd_conv_algos[] = {
    &vd_conv_algo_im2col,
    &vd_conv_algo_implicit,
    &vd_conv_algo_direct,
    &vd_conv_algo_winograd2,
    &vd_conv_algo_winograd4,
    &vd_conv_algo_fft,
    NULL,
};

/* Entries in vd_conv_algos, the terminating NULL excluded. */
#define VD_CONV_N_ALGOS_MAX ((int)(sizeof(vd_conv_algos) / sizeof(vd_conv_algos[0])) - 1)

int vd_conv_algo_find(const char *name)
{
    for (int i = 0; name && vd_conv_algos[i]; i++)
        if (strcmp(vd_conv_algos[i]->name, name) == 0) return i;
    return -1;
}

const char *vd_conv_pass_name(vd_conv_pass pass)
{
    return pass == VD_CONV_FWD ? "fwd" : pass == VD_CONV_BWD_DATA ? "bwd_data" : "bwd_filter";
}

void vd_conv_key(const vd_conv_geom *g, vd_conv_pass pass, size_t n, char *key, size_t cap)
{
    /* "conv3": records made while direct took at most 4 channels per group (key "conv")
     * never measured it for 5-16, and those made by timing each candidate in one block
     * ("conv2") could be picked by a slow spell; each new prefix makes every device
     * measure again. */
    snprintf(key, cap, "conv3:%s:%dx%dx%d:%dx%dx%d:k%dx%d:s%dx%d:p%dx%d:d%dx%d:g%d:n%zu",
             vd_conv_pass_name(pass), g->C, g->H, g->W, g->K, g->P, g->Q, g->R, g->S, g->stride_h,
             g->stride_w, g->pad_h, g->pad_w, g->dil_h, g->dil_w, g->groups, n);
}

static bool usable(const vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass)
{
    return a >= 0 && vd_conv_algos[a] && vd_conv_algos[a]->applies(ctx, g, pass);
}

/* A fixed choice from the shape alone, following what measuring picked on the development
 * VM (docs/CONV.md): depthwise -> direct; 3x3 stride-1 layers with >= 16 channels ->
 * Winograd F(4x4) for the backward passes, and for the forward pass too where the own GEMM
 * runs (there it is fused, cl/winograd.cl); other forward passes -> implicit where the own
 * GEMM runs; backward-data at stride 1 -> implicit; FFT never (measuring decides that);
 * else im2col. */
int vd_conv_algo_heuristic(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass)
{
    const char *order[4] = {NULL, NULL, NULL, "im2col"};
    bool wino =
        g->R == 3 && g->S == 3 && g->stride_h == 1 && g->stride_w == 1 && g->C >= 16 && g->K >= 16;
    if (g->groups > 1 && g->groups == g->C && g->groups == g->K) order[0] = "direct";
    vd_gemm_backend be = vd_gemm_backend_get(ctx);
    bool own = be == VD_GEMM_BACKEND_OWN8 || be == VD_GEMM_BACKEND_OWN16;
    if (wino && (pass != VD_CONV_FWD || own)) order[1] = "winograd4";
    if (pass != VD_CONV_BWD_FILTER) order[2] = "implicit";
    for (int i = 0; i < 4; i++) {
        int a = vd_conv_algo_find(order[i]);
        if (usable(ctx, a, g, pass)) return a;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t vd_conv_chunk(const vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                     size_t n, size_t cap_floats)
{
    size_t m = n;
    while (m > 1 && vd_conv_algos[a]->workspace(ctx, g, pass, m) > cap_floats) m = (m + 1) / 2;
    return m ? m : 1;
}

vd_status vd_conv_run_batch(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                            size_t n, size_t chunk, const vd_conv_io *io)
{
    return vd_conv_run_chunks(ctx, a, g, pass, n, chunk, io, NULL);
}

vd_status vd_conv_run_chunks(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                             size_t n, size_t chunk, const vd_conv_io *io, size_t *done)
{
    if (done) *done = 0;
    if (!g || !io || a < 0 || a >= VD_CONV_N_ALGOS_MAX || !vd_conv_algos[a] || chunk == 0)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                            "vd_conv_run_batch: bad geometry, io, algorithm %d or chunk %zu", a,
                            chunk);
    size_t chw = (size_t)g->C * (size_t)g->H * (size_t)g->W;
    size_t kpq = (size_t)g->K * (size_t)g->P * (size_t)g->Q;
    vd_status st = VD_OK;
    for (size_t i0 = 0; i0 < n && st == VD_OK; i0 += chunk) {
        size_t m = n - i0 < chunk ? n - i0 : chunk;
        vd_conv_io c = *io;
        c.x_off += i0 * chw;
        c.dx_off += i0 * chw;
        c.y_off += i0 * kpq;
        c.dy_off += i0 * kpq;
        c.w_ready = io->w_ready || (i0 > 0 && m == chunk); /* chunk 0 derived it */
        st = vd_conv_algos[a]->run(ctx, g, pass, m, &c);
        if (st == VD_OK && done) *done = i0 + m;
    }
    return st;
}

/* Scratch buffers of the real shape for measuring, released by free_scratch. */
typedef struct scratch {
    cl_mem mem[5];
    size_t bytes[5];
} scratch;

static void free_scratch(vd_context *ctx, scratch *s)
{
    for (int i = 0; i < 5; i++)
        if (s->mem[i]) vd_buffer_release(ctx, s->mem[i], s->bytes[i]);
}

static vd_status alloc_scratch(vd_context *ctx, const vd_conv_geom *g, size_t n, size_t ws_floats,
                               scratch *s, vd_conv_io *io)
{
    size_t sizes[5] = {n * (size_t)g->C * (size_t)g->H * (size_t)g->W,
                       (size_t)g->K * (size_t)(g->C / g->groups) * (size_t)g->R * (size_t)g->S,
                       n * (size_t)g->K * (size_t)g->P * (size_t)g->Q, ws_floats ? ws_floats : 1,
                       0};
    sizes[4] = sizes[1]; /* dw */
    memset(s, 0, sizeof(*s));
    vd_status st = VD_OK;
    for (int i = 0; i < 5 && st == VD_OK; i++) {
        s->bytes[i] = sizes[i] * sizeof(float);
        st = vd_buffer_alloc(ctx, s->bytes[i], &s->mem[i]);
        if (st == VD_OK) st = vd_op_fill(ctx, sizes[i], i == 3 ? 0.0f : 0.01f, s->mem[i], 0);
    }
    if (st != VD_OK) {
        free_scratch(ctx, s);
        return st;
    }
    memset(io, 0, sizeof(*io));
    io->x = io->dx = s->mem[0];
    io->w = s->mem[1];
    io->y = io->dy = s->mem[2];
    io->ws = s->mem[3];
    io->dw = s->mem[4];
    return VD_OK;
}

vd_status vd_conv_time(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                       size_t cap_floats, int reps, double *ms)
{
    if (!usable(ctx, a, g, pass))
        return vd_error_set(ctx, VD_ERR_UNSUPPORTED, "conv algorithm %d does not apply", a);
    size_t chunk = vd_conv_chunk(ctx, a, g, pass, n, cap_floats);
    scratch s;
    vd_conv_io io;
    vd_status st =
        alloc_scratch(ctx, g, n, vd_conv_algos[a]->workspace(ctx, g, pass, chunk), &s, &io);
    if (st != VD_OK) return st;
    double best = 1e30;
    for (int r = 0; r <= reps && st == VD_OK; r++) {
        cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
        if (err != CL_SUCCESS) {
            st = vd_error_cl(ctx, "clFinish(conv algorithm measurement)", err);
            break;
        }
        double t0 = now_s();
        st = vd_conv_run_batch(ctx, a, g, pass, n, chunk, &io);
        err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
        if (st == VD_OK && err != CL_SUCCESS)
            st = vd_error_cl(ctx, "clFinish(conv algorithm measurement)", err);
        double t = now_s() - t0;
        if (r > 0 && t < best) best = t; /* r == 0 warms up (compiles, plans) */
    }
    free_scratch(ctx, &s);
    if (st == VD_OK) *ms = best * 1e3;
    return st;
}

/* Joules per run of algorithm a (after a warm-up), from the meter m; runs repeat until
 * VD_ENERGY_MIN_S have passed so the meter's update period does not dominate. */
static vd_status conv_energy(vd_context *ctx, vd_meter *m, int a, const vd_conv_geom *g,
                             vd_conv_pass pass, size_t n, size_t cap_floats, double *joules)
{
    size_t chunk = vd_conv_chunk(ctx, a, g, pass, n, cap_floats);
    scratch s;
    vd_conv_io io;
    vd_status st =
        alloc_scratch(ctx, g, n, vd_conv_algos[a]->workspace(ctx, g, pass, chunk), &s, &io);
    if (st != VD_OK) return st;
    st = vd_conv_run_batch(ctx, a, g, pass, n, chunk, &io); /* warm-up */
    cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
    double j0 = 0, j1 = 0, t0 = now_s();
    long runs = 0;
    if (st == VD_OK && err != CL_SUCCESS)
        st = vd_error_cl(ctx, "clFinish(conv energy measurement)", err);
    if (st == VD_OK) st = vd_meter_read(m, &j0);
    while (st == VD_OK && (runs == 0 || now_s() - t0 < VD_ENERGY_MIN_S)) {
        st = vd_conv_run_batch(ctx, a, g, pass, n, chunk, &io);
        err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
        if (st == VD_OK && err != CL_SUCCESS)
            st = vd_error_cl(ctx, "clFinish(conv energy measurement)", err);
        runs++;
    }
    if (st == VD_OK) st = vd_meter_read(m, &j1);
    free_scratch(ctx, &s);
    if (st == VD_OK) *joules = (j1 - j0) / (double)runs;
    return st;
}

bool vd_conv_algo_forced(int a)
{
    const char *forced = getenv("VERDANT_CONV_ALGO");
    return a >= 0 && forced && *forced && vd_conv_algo_find(forced) == a;
}

vd_status vd_conv_select(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                         size_t cap_floats, int *algo)
{
    const char *forced = getenv("VERDANT_CONV_ALGO");
    if (forced && *forced) {
        int a = vd_conv_algo_find(forced);
        if (a < 0) {
            char names[256] = "";
            for (int i = 0; vd_conv_algos[i]; i++)
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                         i ? ", " : "", vd_conv_algos[i]->name);
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "VERDANT_CONV_ALGO='%s': expected one of %s", forced, names);
        }
        if (usable(ctx, a, g, pass)) {
            *algo = a;
            return VD_OK;
        }
        vd_log(ctx, 1, "VERDANT_CONV_ALGO=%s does not apply to this %s pass; heuristic used",
               forced, vd_conv_pass_name(pass));
    }
    if (vd_tune_off(ctx)) {
        *algo = vd_conv_algo_heuristic(ctx, g, pass);
        return VD_OK;
    }
    char key[VD_TUNE_KEY_MAX], val[VD_TUNE_KEY_MAX];
    vd_conv_key(g, pass, n, key, sizeof(key));
    if (vd_tune_get(ctx, key, val, sizeof(val))) {
        char *at = strchr(val, '@');
        if (at) *at = '\0';
        int a = vd_conv_algo_find(val);
        if (usable(ctx, a, g, pass)) {
            *algo = a;
            return VD_OK;
        }
    }
    int best = -1;
    double best_ms = 0;
    const char *tune_for = getenv("VERDANT_TUNE_FOR");
    vd_meter *meter = NULL;
    if (tune_for && strcmp(tune_for, "energy") == 0) {
        const char *why = NULL;
        vd_energy_meter(ctx, &meter, &why);
        if (!meter)
            vd_log(ctx, 1, "VERDANT_TUNE_FOR=energy: no energy meter (%s); choosing by time",
                   why ? why : "unavailable");
        else strncat(key, ":J", sizeof(key) - strlen(key) - 1);
        if (meter && vd_tune_get(ctx, key, val, sizeof(val))) {
            char *at = strchr(val, '@');
            if (at) *at = '\0';
            int a = vd_conv_algo_find(val);
            if (usable(ctx, a, g, pass)) {
                *algo = a;
                return VD_OK;
            }
        }
    }
    /* Time in VD_TUNE_ROUNDS rounds that take every candidate in turn, keeping each one's
     * fastest run: a slow spell of a shared machine (or a CPU device's worker threads
     * waking up) then hits one run of each candidate, not every run of one of them. A
     * block of runs per candidate let one such spell pick a 2.5x slower algorithm for
     * LeNet-5's second layer (docs/CONV.md). Energy is read over VD_ENERGY_MIN_S per
     * candidate, once. */
    double algo_ms[VD_CONV_N_ALGOS_MAX];
    int state[VD_CONV_N_ALGOS_MAX] = {0}; /* 0 not timed yet, 1 timed, -1 failed: skipped */
    for (int round = 0; round < (meter ? 1 : VD_TUNE_ROUNDS); round++) {
        for (int a = 0; vd_conv_algos[a] && a < VD_CONV_N_ALGOS_MAX; a++) {
            if (state[a] < 0 || !usable(ctx, a, g, pass)) continue;
            double ms = 0;
            vd_status st = meter ? conv_energy(ctx, meter, a, g, pass, n, cap_floats, &ms)
                                 : vd_conv_time(ctx, a, g, pass, n, cap_floats, 1, &ms);
            if (st != VD_OK) {
                vd_log(ctx, 1, "%s: %s skipped: %s", key, vd_conv_algos[a]->name,
                       vd_last_error(ctx));
                state[a] = -1;
            } else if (state[a] == 0 || ms < algo_ms[a]) {
                algo_ms[a] = ms;
                state[a] = 1;
            }
        }
    }
    for (int a = 0; vd_conv_algos[a] && a < VD_CONV_N_ALGOS_MAX; a++) {
        if (state[a] != 1) continue;
        vd_log(ctx, 2, "%s: %s %.3f %s", key, vd_conv_algos[a]->name, algo_ms[a],
               meter ? "J" : "ms");
        if (best < 0 || algo_ms[a] < best_ms) best = a, best_ms = algo_ms[a];
    }
    if (best < 0) {
        /* Nothing could be measured (out of memory for the scratch, say): the heuristic. */
        *algo = vd_conv_algo_heuristic(ctx, g, pass);
        return VD_OK;
    }
    snprintf(val, sizeof(val), meter ? "%s@%.6fJ" : "%s@%.3f", vd_conv_algos[best]->name, best_ms);
    *algo = best;
    return vd_tune_put(ctx, key, val);
}

/* test_bench.c - the public benchmark functions behind `verdant bench` (src/net/net_bench.c):
 * vd_net_bench_conv on a tiny two-conv net gives one row per layer, pass and applicable
 * algorithm, in that order, with the layer's geometry, the pass's FLOP count, positive
 * times, GFLOP/s and % of peak consistent with them, and exactly one chosen algorithm per
 * layer and pass (the forced one under VERDANT_CONV_ALGO); counting only (cap 0) measures
 * nothing; a short cap fills only what fits; vd_device_peak_gflops, vd_net_input_size and
 * vd_net_input_shape;
 * every bad argument returns its documented status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/net.h"
#include "ops/conv_algo.h"

#define BATCH 4
#define REPS 2

static const char *const pass_names[3] = {"fwd", "bwd_data", "bwd_filter"};

/* The two convolutions of make_net, as the layers see them. */
static const vd_conv_geom geoms[2] = {
    {3, 12, 12, 8, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* c1: 3x3 pad 1 */
    {8, 12, 12, 16, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1},   /* c2: 3x3 stride 2 pad 1 */
};
static const char *const conv_names[2] = {"c1", "c2"};
static const int32_t conv_index[2] = {0, 2};

static vd_net *make_net(vd_context *ctx, bool build)
{
    vd_net *net = NULL;
    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    if (!net) return NULL;
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){3, 12, 12}));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c1", "filters=8 kernel=3 pad=1"));
    EXPECT_OK(ctx, vd_net_add(net, "relu", "r1", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c2", "filters=16 kernel=3 pad=1 stride=2 bias=0"));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", "flat", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=10"));
    if (build) EXPECT_OK(ctx, vd_net_build(net, 16));
    return net;
}

/* Rows vd_net_bench_conv must give for make_net, from the algorithm table itself. */
static size_t expected_rows(vd_context *ctx)
{
    size_t n = 0;
    for (int l = 0; l < 2; l++)
        for (int p = 0; p < 3; p++)
            for (int a = 0; vd_conv_algos[a]; a++)
                n += vd_conv_algos[a]->applies(ctx, &geoms[l], (vd_conv_pass)p);
    return n;
}

/* Every row in order, with consistent numbers; one chosen per (layer, pass), which must be
 * `forced` when not NULL. */
static void check_rows(vd_context *ctx, const vd_conv_bench_row *rows, size_t n, double peak,
                       const char *forced)
{
    size_t i = 0;
    bool order = true, geom = true, times = true, rates = true, one_chosen = true;
    bool forced_ok = true;
    for (int l = 0; l < 2; l++) {
        const vd_conv_geom *g = &geoms[l];
        uint64_t flops = 2ull * (uint64_t)g->K * (uint64_t)(g->C / g->groups) *
                         (uint64_t)(g->R * g->S) * (uint64_t)(g->P * g->Q) * BATCH;
        for (int p = 0; p < 3; p++) {
            int chosen = 0;
            for (int a = 0; vd_conv_algos[a]; a++) {
                if (!vd_conv_algos[a]->applies(ctx, g, (vd_conv_pass)p)) continue;
                if (i >= n) {
                    order = false;
                    continue;
                }
                const vd_conv_bench_row *r = &rows[i++];
                if (strcmp(r->layer_name, conv_names[l]) || r->layer != conv_index[l] ||
                    strcmp(r->pass, pass_names[p]) || strcmp(r->algo, vd_conv_algos[a]->name) ||
                    strcmp(r->layer_type, "conv2d")) {
                    if (order)
                        printf("  row %zu: %s/%s/%s (layer %d, %s), want %s/%s/%s\n", i - 1,
                               r->layer_name, r->pass, r->algo, (int)r->layer, r->layer_type,
                               conv_names[l], pass_names[p], vd_conv_algos[a]->name);
                    order = false;
                }
                if (r->C != g->C || r->H != g->H || r->W != g->W || r->K != g->K ||
                    r->P != g->P || r->Q != g->Q || r->R != g->R || r->S != g->S ||
                    r->stride_h != g->stride_h || r->pad_w != g->pad_w || r->groups != 1 ||
                    r->batch != BATCH || r->flops != flops)
                    geom = false;
                if (r->status != VD_OK || !(r->ms > 0) || r->ms > 10000) {
                    printf("  %s %s %s: status %s, %g ms: %s\n", r->layer_name, r->pass, r->algo,
                           vd_status_name(r->status), r->ms, r->error);
                    times = false;
                    continue;
                }
                double want = (double)flops / (r->ms * 1e6);
                /* Winograd and FFT do fewer multiplies than the direct count, so their
                 * "GFLOP/s" may pass the nominal peak, but not by more than a few times. */
                if (!(r->gflops > 0) || r->gflops > want * 1.000001 ||
                    r->gflops < want * 0.999999 || r->gflops > 16 * peak ||
                    r->peak_percent < 100.0 * r->gflops / peak * 0.999999 ||
                    r->peak_percent > 100.0 * r->gflops / peak * 1.000001)
                    rates = false;
                chosen += r->selected != 0;
                if (r->selected && forced && strcmp(r->algo, forced)) forced_ok = false;
            }
            if (chosen != 1) {
                printf("  %s %s: %d rows chosen\n", conv_names[l], pass_names[p], chosen);
                one_chosen = false;
            }
        }
    }
    expect_true("rows: one per layer, pass and applicable algorithm, in order", order && i == n);
    expect_true("rows: geometry, batch and FLOP count of the layer", geom);
    expect_true("rows: every algorithm timed, positive ms", times);
    expect_true("rows: GFLOP/s and % of peak follow from ms and FLOPs", rates);
    expect_true("rows: exactly one chosen algorithm per layer and pass", one_chosen);
    if (forced) expect_true("rows: VERDANT_CONV_ALGO's algorithm is the chosen one", forced_ok);
}

int main(void)
{
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    if (rc) return check_summary();
    vd_net *net = NULL, *unbuilt = NULL, *dense = NULL;
    vd_conv_bench_row *rows = NULL;

    /* Peak: compute units x clock x width x 4, positive when the device reports a clock. */
    double peak = -1;
    EXPECT_OK(ctx, vd_device_peak_gflops(ctx, &peak));
    vd_device_info dev;
    EXPECT_OK(ctx, vd_context_device(ctx, &dev));
    double min_peak = (double)dev.compute_units * dev.max_clock_mhz * 1e-3 * 4.0;
    expect_true("peak: at least units x clock x 2 x 2, at most 64 lanes of that",
                dev.max_clock_mhz <= 0 ? peak == 0 : peak >= min_peak && peak <= 64 * min_peak);
    expect_status("peak: NULL ctx", NULL, vd_device_peak_gflops(NULL, &peak), VD_ERR_INVALID_ARG);
    expect_status("peak: NULL out", ctx, vd_device_peak_gflops(ctx, NULL), VD_ERR_INVALID_ARG);
    if (!(peak > 0)) peak = 1; /* keeps the ratios below finite on a clockless device */

    net = make_net(ctx, true);
    unbuilt = make_net(ctx, false);
    if (!net || !unbuilt) goto done;
    expect_true("input size: 3 x 12 x 12", vd_net_input_size(net) == 432);
    expect_true("input size: NULL net is 0", vd_net_input_size(NULL) == 0);
    int64_t ish[4] = {0, 0, 0, -7};
    expect_true("input shape: rank 3", vd_net_input_shape(net, ish, 4) == 3);
    expect_true("input shape: 3 x 12 x 12", ish[0] == 3 && ish[1] == 12 && ish[2] == 12);
    expect_true("input shape: nothing past the rank", ish[3] == -7);
    int64_t one[1] = {0};
    expect_true("input shape: cap 1 copies one",
                vd_net_input_shape(net, one, 1) == 3 && one[0] == 3);
    expect_true("input shape: NULL shape with cap 0", vd_net_input_shape(net, NULL, 0) == 3);
    expect_true("input shape: NULL net is 0", vd_net_input_shape(NULL, ish, 4) == 0);

    /* Counting only. */
    size_t want = expected_rows(ctx), count = 12345;
    EXPECT_OK(ctx, vd_net_bench_conv(net, BATCH, REPS, NULL, 0, &count));
    expect_true("count only: the number of applicable (layer, pass, algorithm)", count == want);
    expect_true("count only: at least im2col for 2 layers x 3 passes", count >= 6);

    /* Every row. One spare row must stay untouched. */
    rows = test_malloc((want + 1) * sizeof(*rows));
    memset(rows, 0xab, (want + 1) * sizeof(*rows));
    vd_conv_bench_row spare;
    memcpy(&spare, &rows[want], sizeof(spare));
    count = 0;
    unsetenv("VERDANT_CONV_ALGO");
    EXPECT_OK(ctx, vd_net_bench_conv(net, BATCH, REPS, rows, want + 1, &count));
    expect_true("rows: count", count == want);
    check_rows(ctx, rows, count, peak, NULL);
    expect_true("rows: nothing written past count", !memcmp(&spare, &rows[want], sizeof(spare)));

    /* A short cap fills what fits and still counts everything. */
    memset(rows, 0, (want + 1) * sizeof(*rows));
    count = 0;
    EXPECT_OK(ctx, vd_net_bench_conv(net, BATCH, REPS, rows, 2, &count));
    expect_true("short cap: total count", count == want);
    expect_true("short cap: the first two rows filled, the third not",
                rows[0].ms > 0 && rows[1].ms > 0 && rows[2].layer_name[0] == '\0' &&
                    !strcmp(rows[0].layer_name, "c1"));

    /* VERDANT_CONV_ALGO decides what the layer (and so the table) marks as chosen. */
    setenv("VERDANT_CONV_ALGO", "im2col", 1);
    count = 0;
    EXPECT_OK(ctx, vd_net_bench_conv(net, BATCH, REPS, rows, want, &count));
    check_rows(ctx, rows, count, peak, "im2col");
    setenv("VERDANT_CONV_ALGO", "nosuchalgo", 1);
    expect_status("unknown VERDANT_CONV_ALGO", ctx,
                  vd_net_bench_conv(net, BATCH, REPS, rows, want, &count), VD_ERR_INVALID_ARG);
    unsetenv("VERDANT_CONV_ALGO");

    /* A net without convolutions has no rows. */
    EXPECT_OK(ctx, vd_net_create(ctx, &dense));
    if (dense) {
        EXPECT_OK(ctx, vd_net_input(dense, 1, (int64_t[]){20}));
        EXPECT_OK(ctx, vd_net_add(dense, "dense", "fc", "units=5"));
        EXPECT_OK(ctx, vd_net_build(dense, 8));
        count = 99;
        EXPECT_OK(ctx, vd_net_bench_conv(dense, BATCH, REPS, rows, want, &count));
        expect_true("no conv layers: no rows", count == 0);
    }

    /* Bad arguments. */
    expect_status("NULL net", NULL, vd_net_bench_conv(NULL, BATCH, REPS, rows, want, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("NULL count", ctx, vd_net_bench_conv(net, BATCH, REPS, rows, want, NULL),
                  VD_ERR_INVALID_ARG);
    expect_status("NULL rows with cap", ctx, vd_net_bench_conv(net, BATCH, REPS, NULL, 3, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("batch 0", ctx, vd_net_bench_conv(net, 0, REPS, rows, want, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("batch 65537", ctx, vd_net_bench_conv(net, 65537, REPS, rows, want, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("reps 0", ctx, vd_net_bench_conv(net, BATCH, 0, rows, want, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("reps 1001", ctx, vd_net_bench_conv(net, BATCH, 1001, rows, want, &count),
                  VD_ERR_INVALID_ARG);
    expect_status("unbuilt net", ctx, vd_net_bench_conv(unbuilt, BATCH, REPS, rows, want, &count),
                  VD_ERR_STATE);
    expect_true("unbuilt net: message says build", strstr(vd_last_error(ctx), "vd_net_build"));

done:
    free(rows);
    vd_net_destroy(dense);
    vd_net_destroy(unbuilt);
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return check_summary();
}

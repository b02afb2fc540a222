/* test_mpi.c - data-parallel training (docs/DISTRIBUTED.md), run as `mpirun -np 2`.
 * Every rank trains LeNet-5 (samples/models/lenet5.cfg) for a few SGD steps on its half
 * (B samples) of each synthetic global batch of 2B; rank 0 then trains a plain net with
 * batch 2B on the same batches, and the weights must agree to 1e-5 relative. Also: a
 * rank with different initial weights, a bad VERDANT_DIST_BUCKET_KB, or one that differs
 * between the ranks make vd_net_set_distributed fail on every rank; vd_net_dist_stats. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define B 4
#define STEPS 4

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

static vd_net *make_net(vd_context *ctx, const char *cfg, uint64_t seed)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_load_cfg(ctx, cfg, &net))) return NULL;
    EXPECT_OK(ctx, vd_net_set_seed(net, seed));
    EXPECT_OK(ctx, vd_net_build(net, 2 * B));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = 0.05f;
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    return net;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    vd_context *ctx = NULL;
    vd_net *net = NULL, *ref = NULL;
    float *x = NULL, *w = NULL, *wr = NULL;
    const char *cfg = argc > 1 ? argv[1] : "samples/models/lenet5.cfg";
    if (size != 2) {
        expect_true("run with mpirun -np 2", false);
        goto done;
    }
    if (test_context(&ctx)) goto done;
    const size_t in = 28 * 28, G = 2 * B;
    x = malloc(STEPS * G * in * sizeof(float));
    int32_t labels[STEPS * 2 * B];
    uint64_t s = 42;
    for (size_t i = 0; i < STEPS * G * in; i++) x[i] = frand(&s) - 0.5f;
    for (size_t i = 0; i < STEPS * G; i++) labels[i] = (int32_t)(i * 7 % 10);

    /* Mismatch: rank 1 with another seed, so other initial weights. */
    net = make_net(ctx, cfg, rank == 1 ? 8 : 7);
    if (!net) goto done;
    expect_status("mismatched weights -> VD_ERR_STATE on every rank", ctx,
                  vd_net_set_distributed(net, NULL), VD_ERR_STATE);
    vd_net_destroy(net);

    /* VERDANT_DIST_BUCKET_KB: a bad value, and values that differ between the ranks (their
     * all-reduces would not pair up), fail on every rank. */
    const char *kb0 = getenv("VERDANT_DIST_BUCKET_KB");
    char kb_saved[32] = "";
    if (kb0) snprintf(kb_saved, sizeof(kb_saved), "%s", kb0);
    net = make_net(ctx, cfg, 7);
    if (!net) goto done;
    setenv("VERDANT_DIST_BUCKET_KB", "16k", 1);
    expect_status("VERDANT_DIST_BUCKET_KB=16k -> VD_ERR_INVALID_ARG", ctx,
                  vd_net_set_distributed(net, NULL), VD_ERR_INVALID_ARG);
    expect_true("the message names the variable",
                strstr(vd_last_error(ctx), "VERDANT_DIST_BUCKET_KB '16k'") != NULL);
    setenv("VERDANT_DIST_BUCKET_KB", rank == 1 ? "16" : "0", 1);
    expect_status("VERDANT_DIST_BUCKET_KB differing between ranks -> VD_ERR_STATE", ctx,
                  vd_net_set_distributed(net, NULL), VD_ERR_STATE);
    expect_true("the message says so", strstr(vd_last_error(ctx), "VERDANT_DIST_BUCKET_KB differ"));
    if (kb0) setenv("VERDANT_DIST_BUCKET_KB", kb_saved, 1);
    else unsetenv("VERDANT_DIST_BUCKET_KB");
    vd_net_destroy(net);

    net = make_net(ctx, cfg, 7);
    if (!net || !EXPECT_OK(ctx, vd_net_set_distributed(net, NULL))) goto done;
    int32_t r = -1, n = -1;
    EXPECT_OK(ctx, vd_net_dist_info(net, &r, &n));
    expect_true("vd_net_dist_info rank/size", r == rank && n == 2);
    for (int st = 0; st < STEPS; st++) {
        size_t off = (size_t)st * G + (size_t)rank * B;
        float loss = 0;
        EXPECT_OK(ctx, vd_net_train_step(net, x + off * in, labels + off, NULL, B, &loss));
    }
    size_t np = vd_net_param_count(net);
    /* Where the reductions' time went: one per step, the whole gradient arena each. */
    vd_dist_stats ds;
    EXPECT_OK(ctx, vd_net_dist_stats(net, &ds));
    expect_true("vd_net_dist_stats counts one reduction per step", ds.reduces == STEPS);
    expect_true("vd_net_dist_stats counts the gradient bytes",
                ds.bytes >= (uint64_t)STEPS * np * sizeof(float));
    expect_true("vd_net_dist_stats times are >= 0",
                ds.wait_seconds >= 0 && ds.copy_seconds >= 0 && ds.allreduce_seconds > 0);
    const char *kb = getenv("VERDANT_DIST_BUCKET_KB");
    printf("rank %d: %d gradient bucket(s) per step (VERDANT_DIST_BUCKET_KB=%s)\n", rank,
           (int)ds.buckets, kb ? kb : "unset");
    if (kb && atoi(kb) == 16) /* LeNet-5: [out, f4], [f3], [c2, c1] */
        expect_true("16 KiB buckets: 3 all-reduces per step", ds.buckets == 3);
    else if (!kb) expect_true("one all-reduce per step by default", ds.buckets == 1);
    expect_status("vd_net_dist_stats(net, NULL)", ctx, vd_net_dist_stats(net, NULL),
                  VD_ERR_INVALID_ARG);
    w = malloc(np * sizeof(float));
    wr = malloc(np * sizeof(float));
    EXPECT_OK(ctx, vd_net_params_read(net, w, np));
    /* Every rank has the same weights. */
    if (rank == 0) for (size_t i = 0; i < np; i++) wr[i] = w[i];
    MPI_Bcast(wr, (int)np, MPI_FLOAT, 0, MPI_COMM_WORLD);
    size_t diff = 0;
    for (size_t i = 0; i < np; i++) diff += w[i] != wr[i];
    expect_true("the ranks' weights are identical", diff == 0);

    if (rank == 0) {
        ref = make_net(ctx, cfg, 7);
        for (int st = 0; st < STEPS && ref; st++) {
            size_t off = (size_t)st * G;
            float loss = 0;
            EXPECT_OK(ctx, vd_net_train_step(ref, x + off * in, labels + off, NULL, (int32_t)G, &loss));
        }
        if (ref) {
            EXPECT_OK(ctx, vd_net_params_read(ref, wr, np));
            double worst = 0, moved = 0;
            for (size_t i = 0; i < np; i++) {
                double rel = fabs((double)w[i] - wr[i]) / (fabs((double)wr[i]) + 1e-3);
                if (rel > worst) worst = rel;
            }
            /* the weights moved at all (the comparison is not vacuous) */
            vd_net *init = make_net(ctx, cfg, 7);
            float *w0 = malloc(np * sizeof(float));
            if (init && w0 && vd_net_params_read(init, w0, np) == VD_OK)
                for (size_t i = 0; i < np; i++) moved += fabs((double)wr[i] - w0[i]);
            free(w0);
            vd_net_destroy(init);
            printf("2 ranks x batch %d vs 1 process x batch %d, %d steps: worst relative "
                   "difference %.3g, sum |w - w0| %.3g\n", B, 2 * B, STEPS, worst, moved);
            expect_true("weights agree to 1e-5 relative", worst <= 1e-5);
            expect_true("the weights moved", moved > 1e-3);
        }
    }
done:
    vd_net_destroy(ref);
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    free(x);
    free(w);
    free(wr);
    int rc = check_summary();
    MPI_Finalize();
    return rc;
}

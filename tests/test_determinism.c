/* test_determinism.c - VERDANT_DETERMINISTIC=1: two training runs with the same seed on the
 * same device give bit-identical weights. Each run builds a fresh net (weights from the
 * seeded Philox stream), trains epochs with shuffling, random-crop/flip augmentation and
 * dropout (all seeded), and hashes every weight (FNV-1a over the bytes); the runs use two
 * separate contexts. An MLP with dropout and a CNN (conv, batch norm, max pool) are both
 * checked, and the seed must matter (a different seed gives different weights).
 * Prints the hashes for docs/RELIABILITY.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rel_common.h"

#define SIDE 8
#define BATCH 8
#define EPOCHS 3

typedef vd_status (*make_fn)(vd_context *ctx, uint64_t seed, vd_net **out);

static vd_status make_mlp(vd_context *ctx, uint64_t seed, vd_net **out)
{
    return rel_mlp(ctx, SIDE, seed, BATCH, true, out);
}

static vd_status make_cnn(vd_context *ctx, uint64_t seed, vd_net **out)
{
    return rel_cnn(ctx, seed, BATCH, out);
}

/* One run in its own context: returns the weight hash (0 on failure, counted). */
static uint64_t run(make_fn make, uint64_t seed, const vd_dataset *ds, double *loss)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return 0;
    uint64_t h = 0;
    vd_net *net = NULL;
    expect_true("VERDANT_DETERMINISTIC=1 is seen by the context", ctx->deterministic);
    if (!EXPECT_OK(ctx, make(ctx, seed, &net))) goto done;
    vd_train_options o;
    vd_train_options_init(&o);
    o.batch = BATCH;
    o.seed = seed;
    o.crop_pad = 1;
    o.flip = 1;
    vd_epoch_stats es = {0};
    for (int32_t e = 1; e <= EPOCHS; e++)
        if (!EXPECT_OK(ctx, vd_net_train_epoch(net, ds, e, &o, &es))) goto done;
    *loss = es.loss;
    vd_status st;
    h = rel_hash_params(net, &st);
    if (!EXPECT_OK(ctx, st)) h = 0;
done:
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return h;
}

static void check_family(const char *name, make_fn make, const vd_dataset *ds)
{
    double l1 = 0, l2 = 0, l3 = 0;
    uint64_t a = run(make, 42, ds, &l1);
    uint64_t b = run(make, 42, ds, &l2);
    uint64_t c = run(make, 43, ds, &l3);
    char label[160];
    snprintf(label, sizeof(label), "%s: two runs with seed 42 give bit-identical weights", name);
    expect_true(label, a != 0 && a == b);
    snprintf(label, sizeof(label), "%s: ... and the same final loss", name);
    expect_true(label, l1 == l2);
    snprintf(label, sizeof(label), "%s: seed 43 gives other weights", name);
    expect_true(label, c != 0 && c != a);
    printf("determinism %-4s: %d epochs x %zu samples, weights hash %016llx and %016llx (seed 43: "
           "%016llx), final loss %.9g / %.9g\n",
           name, EPOCHS, vd_dataset_count(ds), (unsigned long long)a, (unsigned long long)b,
           (unsigned long long)c, l1, l2);
}

int main(void)
{
    setenv("VERDANT_DETERMINISTIC", "1", 1);
    vd_context *probe = NULL;
    if (test_context(&probe)) return check_summary(); /* no device: skipped */
    vd_context_destroy(probe);
    char dir[256];
    vd_dataset *ds = NULL;
    if (rel_tempdir(dir, "vd-determinism") != 0 || rel_dataset(dir, 6 * BATCH, SIDE, 5, &ds)) {
        expect_true("synthetic dataset", false);
        return check_summary();
    }
    check_family("mlp", make_mlp, ds);
    check_family("cnn", make_cnn, ds);
    vd_dataset_destroy(ds);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

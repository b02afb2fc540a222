/* test_numerics.c - numerical faults. Without any debug switch, a non-finite loss stops
 * vd_net_train_epoch (and vd_net_train_step when the loss is asked for) with
 * VD_ERR_NUMERIC naming the step; a diverging run leaves the last good checkpoint intact
 * and loadable. With VERDANT_CHECK_NUMERICS=1 every layer's output and gradients are
 * checked as it runs, and the error names the step and the first layer that produced a
 * non-finite value; the failed step does not touch the weights.
 * Usage: test_numerics [VERDANT_CLI]: with the verdant command given (argument or the
 * VERDANT_CLI environment variable, set by CTest) and the
 * Fashion-MNIST package installed), also `verdant train --checkpoint` with a learning
 * rate that diverges must fail with the step in its message and keep the checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "rel_common.h"

#define SIDE 8
#define BATCH 8

static float xs[BATCH * SIDE * SIDE];
static int32_t ys[BATCH];

static void expect_numeric(const char *what, const vd_context *ctx, vd_status st,
                           const char *needle1, const char *needle2)
{
    expect_status(what, ctx, st, VD_ERR_NUMERIC);
    const char *msg = vd_last_error(ctx);
    char label[512];
    snprintf(label, sizeof(label), "%s: message mentions '%s' and '%s' (got: %s)", what, needle1,
             needle2 ? needle2 : "", msg);
    expect_true(label, strstr(msg, needle1) && (!needle2 || strstr(msg, needle2)));
}

/* Set parameter `index` (in vd_net_params_read order) of net to v. */
static vd_status poke(vd_net *net, size_t index, float v)
{
    size_t n = vd_net_param_count(net);
    float *w = test_malloc(n * sizeof(float));
    vd_status st = vd_net_params_read(net, w, n);
    if (st == VD_OK) {
        w[index] = v;
        st = vd_net_params_write(net, w, n);
    }
    free(w);
    return st;
}

static bool file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = false;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

static int copy_file(const char *from, const char *to)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    return system(cmd);
}

/* ---------------------------------------------------------------- without the debug mode */

static void plain_mode(const char *dir)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return;
    expect_true("VERDANT_CHECK_NUMERICS unset: per-layer checks off", !ctx->check_numerics);
    vd_net *net = NULL;
    vd_dataset *ds = NULL;
    char ckpt[400], good[400];
    snprintf(ckpt, sizeof(ckpt), "%s/last.ckpt", dir);
    snprintf(good, sizeof(good), "%s/good.ckpt", dir);
    if (!EXPECT_OK(ctx, rel_mlp(ctx, SIDE, 1, BATCH, false, &net))) goto done;
    if (!EXPECT_OK(NULL, rel_dataset(dir, 10 * BATCH, SIDE, 3, &ds))) goto done;

    /* A step whose loss is asked for reports a NaN loss. */
    float loss = 0;
    EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, &loss));
    EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, &loss));
    /* In fc2: a NaN in fc1 would not reach the loss, since ReLU's fmax(x, 0) maps NaN to 0
     * (the per-layer checks below do see it). */
    EXPECT_OK(ctx, poke(net, (size_t)SIDE * SIDE * 32 + 32 + 5, NAN));
    expect_numeric("train_step with a NaN weight", ctx,
                   vd_net_train_step(net, xs, ys, NULL, BATCH, &loss), "training step 3", "finite");
    vd_net_destroy(net);
    net = NULL;

    /* An epoch: a good one is checkpointed, then the learning rate diverges. */
    vd_train_options to;
    vd_train_options_init(&to);
    to.batch = BATCH;
    vd_epoch_stats es;
    if (!EXPECT_OK(ctx, rel_mlp(ctx, SIDE, 1, BATCH, false, &net))) goto done;
    EXPECT_OK(ctx, vd_net_train_epoch(net, ds, 1, &to, &es));
    expect_true("a good epoch has a finite loss", isfinite(es.loss));
    vd_train_state ts;
    vd_train_state_init(&ts);
    ts.epoch = 1;
    EXPECT_OK(ctx, vd_net_save(net, ckpt, &ts));
    copy_file(ckpt, good);
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = 1e15f; /* stable softmax CE saturates: it takes a huge step to overflow */
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    vd_status st = vd_net_train_epoch(net, ds, 2, &to, &es);
    expect_numeric("an epoch with lr 1e15 diverges", ctx, st, "training step", "epoch 2, batch");
    /* Like the verdant command: save only after an epoch that succeeded. */
    if (st == VD_OK) vd_net_save(net, ckpt, &ts);
    expect_true("the last good checkpoint is untouched", file_equal(ckpt, good));
    vd_net *back = NULL;
    vd_train_state ts2;
    EXPECT_OK(ctx, vd_net_load(ctx, ckpt, BATCH, &back, &ts2));
    if (back) {
        expect_true("it loads with its epoch", ts2.epoch == 1);
        EXPECT_OK(ctx, vd_net_train_epoch(back, ds, 2, &to, &es));
        expect_true("and training resumes from it with a finite loss", isfinite(es.loss));
    }
    vd_net_destroy(back);

    /* The step named is the first bad one: poison the weights before an epoch. */
    vd_net_destroy(net);
    net = NULL;
    if (!EXPECT_OK(ctx, rel_mlp(ctx, SIDE, 1, BATCH, false, &net))) goto done;
    for (int i = 0; i < 4; i++) EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, NULL));
    EXPECT_OK(ctx, poke(net, 0, INFINITY));
    expect_numeric("epoch after 4 steps with an inf weight", ctx,
                   vd_net_train_epoch(net, ds, 1, &to, &es), "training step 5 (epoch 1, batch 1)",
                   NULL);
done:
    vd_net_destroy(net);
    vd_dataset_destroy(ds);
    vd_context_destroy(ctx);
}

/* ---------------------------------------------------------------- VERDANT_CHECK_NUMERICS=1 */

static void debug_mode(void)
{
    setenv("VERDANT_CHECK_NUMERICS", "1", 1);
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    unsetenv("VERDANT_CHECK_NUMERICS");
    if (rc) return;
    expect_true("VERDANT_CHECK_NUMERICS=1 turns the checks on", ctx->check_numerics);
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, rel_mlp(ctx, SIDE, 2, BATCH, false, &net))) goto done;
    EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, NULL));
    EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, NULL));

    /* A NaN in the input batch. */
    float bad[BATCH * SIDE * SIDE];
    memcpy(bad, xs, sizeof(bad));
    bad[77] = NAN;
    expect_numeric("NaN input", ctx, vd_net_train_step(net, bad, ys, NULL, BATCH, NULL),
                   "training step 3", "the input batch holds nan at element 77");

    /* A NaN weight in fc2: fc1 is fine, fc2 is the first bad layer. The step stops before
     * the update, so the weights stay as they were. */
    size_t n = vd_net_param_count(net);
    size_t fc1 = (size_t)SIDE * SIDE * 32 + 32;
    EXPECT_OK(ctx, poke(net, fc1 + 3, NAN));
    float *before = test_malloc(n * sizeof(float)), *after = test_malloc(n * sizeof(float));
    EXPECT_OK(ctx, vd_net_params_read(net, before, n));
    expect_numeric("NaN weight in fc2", ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, NULL),
                   "training step 3: layer 'fc2' (dense)", "its output");
    EXPECT_OK(ctx, vd_net_params_read(net, after, n));
    expect_equal_bytes("a step stopped by the check leaves the weights untouched", after, before,
                       n * sizeof(float));
    expect_numeric("inference with a NaN weight", ctx, vd_net_predict(net, xs, BATCH, before),
                   "inference: layer 'fc2'", NULL);
    EXPECT_OK(ctx, poke(net, fc1 + 3, 0.01f));

    /* Weights so large that fc1 overflows to infinity. */
    for (size_t i = 0; i < fc1; i++) after[i] = 3e38f;
    EXPECT_OK(ctx, vd_net_params_write(net, after, n));
    expect_numeric("overflow in fc1", ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, NULL),
                   "layer 'fc1' (dense) is the first", "inf");
    free(before);
    free(after);

    /* A healthy net passes every check, in a convolutional net as well. */
    vd_net_destroy(net);
    net = NULL;
    if (EXPECT_OK(ctx, rel_cnn(ctx, 4, BATCH, &net))) {
        float loss = 0;
        for (int i = 0; i < 3; i++)
            EXPECT_OK(ctx, vd_net_train_step(net, xs, ys, NULL, BATCH, &loss));
        expect_true("healthy CNN passes the checks with a finite loss", isfinite(loss));
    }
done:
    vd_net_destroy(net);
    vd_context_destroy(ctx);
}

/* ---------------------------------------------------------------- the verdant command */

static int run(const char *cmd, const char *out)
{
    char full[2048];
    snprintf(full, sizeof(full), "%s >'%s' 2>&1", cmd, out);
    int rc = system(full);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void cli(const char *verdant, const char *dir)
{
    struct stat sb;
    if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &sb) != 0) {
        check_skip("verdant train with a diverging lr", "no Fashion-MNIST");
        return;
    }
    const char *models = getenv("VERDANT_MODELS_DIR");
    char cmd[1500], ck[400], good[400], out[400];
    snprintf(ck, sizeof(ck), "%s/cli.ckpt", dir);
    snprintf(good, sizeof(good), "%s/cli-good.ckpt", dir);
    snprintf(out, sizeof(out), "%s/cli.out", dir);
    snprintf(cmd, sizeof(cmd), "'%s' train '%s/mlp.cfg' --epochs 1 --limit 512 --checkpoint '%s'",
             verdant, models ? models : "samples/models", ck);
    expect_true("verdant train: a good epoch with a checkpoint", run(cmd, out) == 0);
    copy_file(ck, good);
    snprintf(cmd, sizeof(cmd),
             "'%s' train '%s/mlp.cfg' --epochs 2 --limit 512 --checkpoint '%s' --optimizer sgd "
             "--lr 1000",
             verdant, models ? models : "samples/models", ck);
    int rc = run(cmd, out);
    expect_true("verdant train --lr 1000 fails with exit status 1", rc == 1);
    expect_true("... saying which step went non-finite",
                file_has(out, "training step") && file_has(out, "not finite"));
    expect_true("... and the checkpoint is the last good one", file_equal(ck, good));
    snprintf(cmd, sizeof(cmd), "'%s' train --resume '%s' --epochs 2 --limit 512", verdant, ck);
    expect_true("verdant train --resume from it succeeds", run(cmd, out) == 0);
}

int main(int argc, char **argv)
{
    char dir[256];
    unsetenv("VERDANT_CHECK_NUMERICS");
    rel_batch(21, BATCH, SIDE, xs, ys);
    if (rel_tempdir(dir, "vd-numerics") != 0) {
        expect_true("temporary directory", false);
        return check_summary();
    }
    plain_mode(dir);
    debug_mode();
    const char *verdant = argc > 1 ? argv[1] : getenv("VERDANT_CLI");
    if (verdant && *verdant) cli(verdant, dir);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

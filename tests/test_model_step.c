/* test_model_step.c - one training step and one prediction of every sample model (the
 * .cfg files of samples/models) with every convolution algorithm forced in turn, on inputs
 * shrunk so the whole run fits under Oclgrind (tests/oclgrind_run.sh; docs/GPU.md):
 * LeNet-5 at 16x16 (the smallest its 5x5 convolutions and two poolings leave non-empty),
 * VGG-BN and the residual net at 8x8, the MLP at its 28x28; batch 4 (with 2, batch norm
 * over two values is so ill-conditioned that one step moved VGG-BN's predictions by 0.5%
 * between algorithms). The layers, their options and every kernel they launch are those of
 * the real models; only the spatial size differs.
 *
 * What is checked: each algorithm gives the same loss and the same predictions after the
 * step as im2col does from the same initial weights (plain SGD, so the update is linear in
 * the gradient and the comparison is not at the mercy of Adam's sign of tiny gradients),
 * and everything is finite. Under Oclgrind any report fails the test as well. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define BATCH 4
#define LOSS_RTOL 1e-4
#define OUT_ATOL 1e-4
#define OUT_RTOL 1e-3

typedef struct model {
    const char *file;
    const char *input;       /* replaces the [net] input line */
    const char *small_input; /* instead of input under test_small(), NULL: the same */
    bool has_conv;
} model;

static const model models[] = {
    {"mlp.cfg", NULL, "1, 8, 8", false},
    {"lenet5.cfg", "1, 16, 16", NULL, true},
    {"vgg_bn.cfg", "1, 8, 8", NULL, true},
    {"resnet_small.cfg", "1, 8, 8", NULL, true},
};

static const char *const algos[] = {"im2col",    "implicit",  "direct",
                                    "winograd2", "winograd4", "fft"};
#define N_ALGOS (sizeof algos / sizeof algos[0])

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = test_malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* The cfg text with its "input = ..." line (the first) replaced by input. With narrow
 * (test_small(): under Oclgrind) every "filters = N" line also becomes N / 8 and every
 * "units = N" with N > 16 becomes N / 8: the same layers, options and kernels on an eighth
 * of the channels (LeNet-5 6/16 -> 2/2 filters, VGG-BN 32/64/128 -> 4/8/16, the
 * residual net 32/64 -> 4/8, dense 256/128/120/84 -> 32/16/15/10; the 10 classes stay). */
static char *shrink(const char *text, const char *input, bool narrow)
{
    size_t len = strlen(text);
    char *out = test_malloc(len + 64);
    const char *p = strstr(text, "\ninput");
    if (!input || !p) {
        strcpy(out, text);
    } else {
        const char *eol = strchr(p + 1, '\n');
        size_t head = (size_t)(p - text) + 1;
        memcpy(out, text, head);
        sprintf(out + head, "input = %s%s", input, eol ? eol : "");
    }
    if (!narrow) return out;
    char *res = test_malloc(strlen(out) + 1), *w = res;
    for (const char *line = out; *line;) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) + 1 : strlen(line);
        int v = 0, used = 0;
        if (sscanf(line, "filters = %d%n", &v, &used) == 1 && v > 1) {
            w += sprintf(w, "filters = %d", v / 8 > 2 ? v / 8 : 2);
        } else if (sscanf(line, "units = %d%n", &v, &used) == 1 && v > 16) {
            w += sprintf(w, "units = %d", v / 8 > 10 ? v / 8 : 10);
        } else {
            used = 0;
        }
        memcpy(w, line + used, n - (size_t)used);
        w += n - (size_t)used;
        line += n;
    }
    *w = 0;
    free(out);
    return res;
}

/* Build, one SGD step, predict. out receives BATCH * outputs floats. */
static bool run_one(vd_context *ctx, const char *cfg, const char *what, const float *x,
                    const int32_t *labels, float *loss, float *out, size_t *n_out)
{
    vd_net *net = NULL;
    bool ok = EXPECT_OK(ctx, vd_net_parse_cfg(ctx, cfg, what, &net));
    ok = ok && EXPECT_OK(ctx, vd_net_set_seed(net, 7));
    ok = ok && EXPECT_OK(ctx, vd_net_build(net, BATCH));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = 0.01f;
    ok = ok && EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    ok = ok && EXPECT_OK(ctx, vd_net_train_step(net, x, labels, NULL, BATCH, loss));
    if (ok) {
        *n_out = vd_net_output_size(net);
        ok = EXPECT_OK(ctx, vd_net_predict(net, x, BATCH, out));
    }
    vd_net_destroy(net);
    return ok;
}

int main(void)
{
    vd_context *ctx;
    if (test_context(&ctx) != 0) return check_summary();
    /* Under Oclgrind (test_small()) the passes a forced algorithm does not apply to (5x5,
     * 1x1, stride 2 for Winograd, say) take the heuristic's fixed choice instead of
     * measuring every candidate: measuring ran each algorithm four times per layer and
     * took most of the simulator's time (over 8 CPU minutes per profile, unfinished). */
    if (test_small()) setenv("VERDANT_TUNE", "off", 1);
    const char *dir = getenv("VERDANT_MODELS_DIR");
    if (!dir) dir = "samples/models";
    uint64_t rng = 5;
    float x[BATCH * 28 * 28];
    int32_t labels[BATCH] = {3, 8, 0, 5};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)test_rand_int(&rng, -1000, 1000) / 1000.0f;
    /* VD_TEST_MODEL=lenet5 (say): only the models whose file name contains it, so ctest can
     * run the models as separate tests, in parallel. */
    const char *only = getenv("VD_TEST_MODEL");
    size_t n_run = 0;
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (only && *only && !strstr(models[m].file, only)) continue;
        n_run++;
        char path[1024], what[256];
        snprintf(path, sizeof path, "%s/%s", dir, models[m].file);
        char *text = read_text(path);
        if (!expect_true(path, text != NULL)) continue;
        bool small = test_small();
        const char *input =
            small && models[m].small_input ? models[m].small_input : models[m].input;
        char *cfg = shrink(text, input, small);
        float ref_out[BATCH * 16], out[BATCH * 16], ref_loss = 0, loss = 0;
        size_t n_ref = 0, n_out = 0;
        for (size_t a = 0; a < (models[m].has_conv ? N_ALGOS : 1); a++) {
            /* VD_TEST_SKIP_ALGOS=fft: the Oclgrind runs with --uninitialized on optimised
             * programs leave the FFT algorithm out: there Oclgrind misreads clFFT's code
             * and crashes (docs/GPU.md, "FFT convolution under Oclgrind"). */
            if (a > 0 && test_algo_skipped(algos[a])) continue;
            setenv("VERDANT_CONV_ALGO", algos[a], 1);
            snprintf(what, sizeof what, "%s (input %s%s, conv %s)", models[m].file,
                     input ? input : "as in the file", small ? ", channels / 8" : "", algos[a]);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            bool ok = run_one(ctx, cfg, what, x, labels, a == 0 ? &ref_loss : &loss,
                              a == 0 ? ref_out : out, a == 0 ? &n_ref : &n_out);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            printf("%s: %.2f s\n", what,
                   (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
            fflush(stdout);
            if (!expect_true(what, ok)) continue;
            if (a == 0) {
                char w[300];
                snprintf(w, sizeof w, "%s: finite loss and outputs", what);
                bool finite = isfinite(ref_loss);
                for (size_t i = 0; i < BATCH * n_ref; i++) finite = finite && isfinite(ref_out[i]);
                expect_true(w, finite && n_ref <= 16);
                continue;
            }
            char w[300];
            snprintf(w, sizeof w, "%s: loss %.7g vs im2col %.7g", what, loss, ref_loss);
            expect_true(w, fabs(loss - ref_loss) <= LOSS_RTOL * fabs(ref_loss));
            snprintf(w, sizeof w, "%s: predictions after the step match im2col's", what);
            expect_close(w, out, ref_out, BATCH * n_ref, OUT_ATOL, OUT_RTOL);
        }
        unsetenv("VERDANT_CONV_ALGO");
        free(cfg);
        free(text);
    }
    expect_true("VD_TEST_MODEL names a sample model", n_run > 0);
    EXPECT_OK(ctx, vd_context_finish(ctx));
    vd_context_destroy(ctx);
    return check_summary();
}

/* onnx_tool.c - the Verdant side of the ONNX Runtime round trip and bench (test_onnx_ort.sh,
 * bench/onnx_bench.sh). Public API only.
 *
 *   onnx_tool dump MODEL.cfg|MODEL.ckpt PREFIX [--batch N] [--train-steps K] [--seed S]
 *     Build the model (a .cfg gets seeded random weights, then K Adam steps on random
 *     data and labels so that weights and batch-norm running statistics are not their
 *     initial values), write PREFIX.onnx with vd_net_save_onnx, N random inputs to
 *     PREFIX.in.f32 and vd_net_predict's outputs to PREFIX.out.f32 (raw little-endian
 *     float32), and print "input_shape=N,d1,.. output_shape=N,e1,.." on stdout.
 *   onnx_tool types
 *     Print the registered layer types, one a line.
 *   onnx_tool bench MODEL.cfg|MODEL.ckpt [--batch N] [--iters I] [--warmup W]
 *     Time I calls of vd_net_predict on a batch of N random inputs (host to host, after W
 *     untimed calls) and print "images_per_s=X".
 * Exit status: 0 success, 1 failure (message on stderr), 2 bad usage, 77 no device. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verdant.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 24);
}

static int fail(vd_context *ctx, const char *what, vd_status st)
{
    fprintf(stderr, "onnx_tool: %s: %s: %s\n", what, vd_status_name(st), vd_last_error(ctx));
    return 1;
}

static int write_f32(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(x, sizeof(float), n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "onnx_tool: cannot write '%s'\n", path);
    return ok ? 0 : 1;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "types")) { /* the registered layer types, one a line */
        for (const char *const *t = vd_net_layer_types(); *t; t++) puts(*t);
        return 0;
    }
    if (argc < 3 || (strcmp(argv[1], "dump") && strcmp(argv[1], "bench"))) {
        fprintf(stderr, "usage: onnx_tool dump MODEL PREFIX [--batch N] [--train-steps K] "
                        "[--seed S]\n       onnx_tool bench MODEL [--batch N] [--iters I] "
                        "[--warmup W]\n");
        return 2;
    }
    int dump = !strcmp(argv[1], "dump");
    const char *model = argv[2], *prefix = NULL;
    int first_flag = 3;
    if (dump) {
        if (argc < 4) return fprintf(stderr, "onnx_tool dump: PREFIX missing\n"), 2;
        prefix = argv[3];
        first_flag = 4;
    }
    long batch = dump ? 8 : 64, steps = 3, seed = 7, iters = 20, warmup = 3;
    for (int i = first_flag; i < argc; i++) {
        long *dst = !strcmp(argv[i], "--batch")         ? &batch
                    : !strcmp(argv[i], "--train-steps") ? &steps
                    : !strcmp(argv[i], "--seed")        ? &seed
                    : !strcmp(argv[i], "--iters")       ? &iters
                    : !strcmp(argv[i], "--warmup")      ? &warmup
                                                        : NULL;
        if (!dst || i + 1 >= argc)
            return fprintf(stderr, "onnx_tool: bad option '%s'\n", argv[i]), 2;
        *dst = strtol(argv[++i], NULL, 10);
    }
    if (batch < 1 || batch > 4096 || steps < 0 || iters < 1 || warmup < 0)
        return fprintf(stderr, "onnx_tool: option out of range\n"), 2;
    rng ^= (uint64_t)seed * 0x2545F4914F6CDD1Dull;

    vd_context *ctx = NULL;
    vd_net *net = NULL;
    float *x = NULL, *y = NULL, *xt = NULL;
    int32_t *labels = NULL;
    int rc = 1;
    vd_status st = vd_context_create(NULL, &ctx);
    if (st == VD_ERR_NO_DEVICE) {
        fprintf(stderr, "onnx_tool: no usable OpenCL device: %s\n", vd_last_error(NULL));
        return 77;
    }
    if (st != VD_OK) return fail(NULL, "vd_context_create", st);
    int ckpt = !has_suffix(model, ".cfg");
    if (ckpt) {
        st = vd_net_load(ctx, model, (int32_t)batch, &net, NULL);
        if (st != VD_OK) {
            rc = fail(ctx, model, st);
            goto done;
        }
    } else {
        st = vd_net_load_cfg(ctx, model, &net);
        if (st == VD_OK) st = vd_net_set_seed(net, (uint64_t)seed);
        if (st == VD_OK) st = vd_net_build(net, (int32_t)batch);
        if (st != VD_OK) {
            rc = fail(ctx, model, st);
            goto done;
        }
    }
    size_t in = vd_net_input_size(net), out = vd_net_output_size(net);
    x = malloc((size_t)batch * in * sizeof(float));
    y = malloc((size_t)batch * out * sizeof(float));
    labels = malloc((size_t)batch * sizeof(int32_t));
    xt = malloc((size_t)batch * in * sizeof(float));
    if (!x || !y || !labels || !xt) {
        fprintf(stderr, "onnx_tool: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = 2.0f * urand() - 1.0f;
    if (!dump) {
        for (long i = 0; i < warmup; i++)
            if ((st = vd_net_predict(net, x, (int32_t)batch, y)) != VD_OK) {
                rc = fail(ctx, "vd_net_predict", st);
                goto done;
            }
        /* VERDANT_PROFILE=1: the per-layer table of the timed calls on stderr (the figure
         * printed then includes the recorder's cost). */
        int prof = vd_context_profiling(ctx) && vd_net_profile_begin(net) == VD_OK;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < iters; i++)
            if ((st = vd_net_predict(net, x, (int32_t)batch, y)) != VD_OK) {
                rc = fail(ctx, "vd_net_predict", st);
                goto done;
            }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (prof) vd_net_profile_report(net, stderr);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("images_per_s=%.1f\n", (double)batch * (double)iters / s);
        rc = 0;
        goto done;
    }
    if (!ckpt && steps > 0) {
        vd_optim_options opt;
        vd_optim_options_init(&opt, VD_OPTIM_ADAM);
        opt.lr = 0.01f;
        if ((st = vd_net_set_optimizer(net, &opt)) != VD_OK) {
            rc = fail(ctx, "vd_net_set_optimizer", st);
            goto done;
        }
        int32_t classes = (int32_t)(out < 2 ? 1 : out);
        for (long s = 0; s < steps; s++) {
            for (size_t i = 0; i < (size_t)batch * in; i++) xt[i] = 2.0f * urand() - 1.0f;
            for (long i = 0; i < batch; i++) labels[i] = (int32_t)(urand() * (float)classes);
            st = vd_net_train_step(net, xt, labels, NULL, (int32_t)batch, NULL);
            if (st != VD_OK) {
                rc = fail(ctx, "vd_net_train_step", st);
                goto done;
            }
        }
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s.onnx", prefix);
    if ((st = vd_net_save_onnx(net, path)) != VD_OK) {
        rc = fail(ctx, "vd_net_save_onnx", st);
        goto done;
    }
    if ((st = vd_net_predict(net, x, (int32_t)batch, y)) != VD_OK) {
        rc = fail(ctx, "vd_net_predict", st);
        goto done;
    }
    snprintf(path, sizeof(path), "%s.in.f32", prefix);
    if (write_f32(path, x, (size_t)batch * in)) goto done;
    snprintf(path, sizeof(path), "%s.out.f32", prefix);
    if (write_f32(path, y, (size_t)batch * out)) goto done;
    int64_t shape[4];
    int32_t nd = vd_net_input_shape(net, shape, 4);
    printf("input_shape=%ld", batch);
    for (int32_t i = 0; i < nd; i++) printf(",%lld", (long long)shape[i]);
    printf(" output_size=%zu\n", out);
    rc = 0;
done:
    free(x);
    free(y);
    free(xt);
    free(labels);
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return rc;
}

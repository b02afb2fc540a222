/* cmd_bench.c - `verdant bench`: whole-model training and inference images/s on synthetic
 * batches of each model's input shape, the energy of the same timed stretches from the
 * context's meter (vd_energy_span: joules per step or batch, watts, images per joule, or
 * why there is no figure), and with --layers a table per convolution layer, pass and
 * algorithm (ms, GFLOP/s, % of the device's nominal peak, the one the automatic choice
 * takes) from vd_net_bench_conv. Text or one JSON document. Public API only; the
 * side-by-side comparison with PyTorch is bench/cnn.sh, which calls this verb. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verdant.h>

#include "cli.h"

#define MAX_MODELS 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

/* What one model measured. */
typedef struct model_result {
    const char *path;
    size_t params;
    uint64_t flops; /* forward, per sample */
    double train_ips, train_ms, infer_ips, infer_ms, last_loss;
    vd_energy_span train_energy, infer_energy; /* over the timed steps / batches */
    vd_conv_bench_row *rows;
    size_t n_rows;
} model_result;

typedef struct bench_opts {
    long batch, steps, warmup, reps;
    int layers, json;
} bench_opts;

/* Deterministic synthetic inputs in [-1, 1) and labels cycling over the classes: the
 * timing does not depend on the values, only on the shapes. */
static void synth(float *x, size_t n, int32_t *labels, int32_t batch, int32_t classes)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
    }
    for (int32_t i = 0; i < batch; i++) labels[i] = i % classes;
}

/* Load, build and time one model; on failure prints one line and returns EXIT_FAIL. */
static int bench_model(vd_context *ctx, const char *path, const bench_opts *o, model_result *r)
{
    int rc = EXIT_FAIL;
    vd_net *net = NULL;
    float *x = NULL, *out = NULL;
    int32_t *labels = NULL;
    int32_t batch = (int32_t)o->batch;
    memset(r, 0, sizeof(*r));
    r->path = path;
    size_t plen = strlen(path);
    int saved = (plen > 5 && !strcmp(path + plen - 5, ".onnx")) ||
                 (plen > 5 && !strcmp(path + plen - 5, ".ckpt"));
    if (saved) { /* an ONNX model or a checkpoint: its own weights */
        if (cli_load_model(ctx, path, batch, &net, NULL) != VD_OK) goto fail;
    } else if (vd_net_load_cfg(ctx, path, &net) != VD_OK || vd_net_build(net, batch) != VD_OK) {
        goto fail;
    }
    vd_optim_options opt;
    vd_optim_options_init(&opt, VD_OPTIM_ADAM);
    if (vd_net_set_optimizer(net, &opt) != VD_OK) goto fail;
    size_t in = vd_net_input_size(net), classes = vd_net_output_size(net);
    r->params = vd_net_param_count(net);
    r->flops = vd_net_flops(net);
    x = malloc((size_t)batch * in * sizeof(float));
    out = malloc((size_t)batch * classes * sizeof(float));
    labels = malloc((size_t)batch * sizeof(int32_t));
    if (!x || !out || !labels) {
        fprintf(stderr, "verdant bench: %s: out of memory for a batch of %d\n", path, (int)batch);
        goto done;
    }
    synth(x, (size_t)batch * in, labels, batch, (int32_t)classes);

    /* Training: warm-up steps (kernel builds, algorithm choice), then o->steps enqueued
     * back to back and one finish, as a training loop runs them. The energy span finishes
     * the queue at both ends, so it covers exactly the timed steps. */
    float loss = 0;
    for (long i = 0; i < o->warmup; i++)
        if (vd_net_train_step(net, x, labels, NULL, batch, &loss) != VD_OK) goto fail;
    if (vd_energy_span_begin(ctx, &r->train_energy) != VD_OK) goto fail;
    double t0 = now_s();
    for (long i = 0; i < o->steps; i++)
        if (vd_net_train_step(net, x, labels, NULL, batch, i + 1 == o->steps ? &loss : NULL) !=
            VD_OK)
            goto fail;
    if (vd_context_finish(ctx) != VD_OK) goto fail;
    double t = now_s() - t0;
    if (vd_energy_span_end(ctx, &r->train_energy) != VD_OK) goto fail;
    r->last_loss = loss;
    r->train_ms = 1e3 * t / (double)o->steps;
    r->train_ips = (double)batch * (double)o->steps / t;

    /* Inference: vd_net_predict blocks on its output, so each call is one batch's latency. */
    if (vd_net_predict(net, x, batch, out) != VD_OK) goto fail;
    if (vd_energy_span_begin(ctx, &r->infer_energy) != VD_OK) goto fail;
    t0 = now_s();
    for (long i = 0; i < o->steps; i++)
        if (vd_net_predict(net, x, batch, out) != VD_OK) goto fail;
    t = now_s() - t0;
    if (vd_energy_span_end(ctx, &r->infer_energy) != VD_OK) goto fail;
    r->infer_ms = 1e3 * t / (double)o->steps;
    r->infer_ips = (double)batch * (double)o->steps / t;

    if (o->layers) {
        size_t n = 0;
        if (vd_net_bench_conv(net, batch, (int32_t)o->reps, NULL, 0, &n) != VD_OK) goto fail;
        if (n > 0) {
            r->rows = calloc(n, sizeof(*r->rows));
            if (!r->rows) {
                fprintf(stderr, "verdant bench: out of memory\n");
                goto done;
            }
            if (vd_net_bench_conv(net, batch, (int32_t)o->reps, r->rows, n, &r->n_rows) != VD_OK)
                goto fail;
            if (r->n_rows > n) r->n_rows = n;
        }
    }
    rc = EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "verdant bench: %s\n", vd_last_error(ctx));
done:
    if (rc != EXIT_OK) {
        free(r->rows);
        r->rows = NULL;
        r->n_rows = 0;
    }
    free(x);
    free(out);
    free(labels);
    vd_net_destroy(net);
    return rc;
}

static void shape_text(const vd_conv_bench_row *w, char *dst, size_t cap)
{
    snprintf(dst, cap, "%dx%dx%d>%dx%dx%d k%dx%d s%d p%d%s", w->C, w->H, w->W, w->K, w->P, w->Q,
             w->R, w->S, w->stride_h, w->pad_h, w->groups > 1 ? " g" : "");
    if (w->groups > 1) snprintf(dst + strlen(dst), cap - strlen(dst), "%d", w->groups);
}

/* Images per joule of a span over `images` images; 0 when the span has no figure. */
static double per_joule(const vd_energy_span *e, double images)
{
    return e->has_energy && e->joules > 0 ? images / e->joules : 0.0;
}

/* The energy columns of a train or inference line: joules per step (or batch), average
 * watts, images per joule and the meter; "energy n/a" when the span has no figure (the
 * reason goes on the next line, unless it is the missing meter the header already gave). */
static void energy_text(const vd_energy_span *e, long steps, long batch, const char *per)
{
    if (e->has_energy) {
        printf("  %9.4f J/%-5s %7.1f W %9.1f img/J (%s)\n", e->joules / (double)steps, per,
               e->watts, per_joule(e, (double)batch * (double)steps), e->meter);
        return;
    }
    printf("  energy n/a\n");
    if (e->meter[0]) printf("    (%s)\n", e->note);
}

static void print_text(const vd_device_info *dev, double peak, const bench_opts *o,
                       const vd_meter_info *meter, const model_result *m, size_t nm)
{
    printf("device: %s (%s), %d compute units, %d MHz\n", dev->name, dev->platform_name,
           dev->compute_units, dev->max_clock_mhz);
    printf("batch %ld, Adam, synthetic data; train: %ld steps after %ld warm-up; inference: "
           "%ld batches after 1\n",
           o->batch, o->steps, o->warmup, o->steps);
    if (meter->available) printf("energy: %s meter, %s\n", meter->name, meter->detail);
    else printf("energy: unavailable (%s)\n", meter->detail);
    for (size_t i = 0; i < nm; i++) {
        const model_result *r = &m[i];
        printf("\n%s: %zu parameters, %.2f MFLOP per sample forward\n", r->path, r->params,
               (double)r->flops / 1e6);
        printf("  train      %10.1f images/s  %9.2f ms/step   %7.1f GFLOP/s (3 x forward)",
               r->train_ips, r->train_ms, 3.0 * (double)r->flops * r->train_ips / 1e9);
        if (meter->available) energy_text(&r->train_energy, o->steps, o->batch, "step");
        else putchar('\n');
        printf("  inference  %10.1f images/s  %9.2f ms/batch  %7.1f GFLOP/s", r->infer_ips,
               r->infer_ms, (double)r->flops * r->infer_ips / 1e9);
        if (meter->available) {
            printf("%14s", ""); /* under the train line's "(3 x forward)" */
            energy_text(&r->infer_energy, o->steps, o->batch, "batch");
        } else putchar('\n');
        if (!o->layers) continue;
        if (r->n_rows == 0) {
            printf("  (no convolution layers)\n");
            continue;
        }
        printf("\n  %-8s %-10s %-27s %-10s %9s %9s %7s  %s\n", "layer", "pass", "shape", "algo",
               "ms", "GFLOP/s", "%peak", "chosen");
        for (size_t j = 0; j < r->n_rows; j++) {
            const vd_conv_bench_row *w = &r->rows[j];
            char shape[64];
            shape_text(w, shape, sizeof(shape));
            if (w->status != VD_OK) {
                printf("  %-8s %-10s %-27s %-10s %9s  failed: %s\n", w->layer_name, w->pass, shape,
                       w->algo, "-", w->error);
                continue;
            }
            printf("  %-8s %-10s %-27s %-10s %9.3f %9.1f %6.1f%%  %s\n", w->layer_name, w->pass,
                   shape, w->algo, w->ms, w->gflops, w->peak_percent, w->selected ? "*" : "");
        }
    }
    if (o->layers)
        printf("\n%%peak: of a nominal %.1f GFLOP/s = compute units x clock x native float "
               "vector width x 2 (FMA) x 2 (FMA pipes), from what the driver reports, not a "
               "measured ceiling.\nms: best of %ld runs after one warm-up, on scratch buffers; "
               "chosen (*): what the layer runs (VERDANT_CONV_ALGO, tuning cache, or measured).\n",
               peak, o->reps);
}

/* One span as "<key>": {"joules": per step or batch, "watts", "images_per_joule", "meter",
 * "energy_note"}: the numbers null when it has no figure, meter null when there is no
 * meter; energy_note says what the meter counts or why there is no figure. */
static void energy_json(const char *key, const vd_energy_span *e, long steps, long batch)
{
    printf(", \"%s\": {", key);
    if (e->has_energy)
        printf("\"joules\": %.6g, \"watts\": %.4f, \"images_per_joule\": %.4f",
               e->joules / (double)steps, e->watts, per_joule(e, (double)batch * (double)steps));
    else printf("\"joules\": null, \"watts\": null, \"images_per_joule\": null");
    printf(", \"meter\": ");
    if (e->meter[0]) json_str(stdout, e->meter);
    else printf("null");
    printf(", \"energy_note\": ");
    json_str(stdout, e->note);
    printf("}");
}

static void print_json(const vd_device_info *dev, double peak, const bench_opts *o,
                       const vd_meter_info *meter, const model_result *m, size_t nm)
{
    printf("{\"version\": ");
    json_str(stdout, vd_version());
    printf(", \"device\": {\"name\": ");
    json_str(stdout, dev->name);
    printf(", \"platform\": ");
    json_str(stdout, dev->platform_name);
    printf(", \"compute_units\": %d, \"max_clock_mhz\": %d, \"peak_gflops_nominal\": %.3f},\n",
           dev->compute_units, dev->max_clock_mhz, peak);
    printf(" \"energy\": {\"meter\": ");
    if (meter->available) json_str(stdout, meter->name);
    else printf("null");
    printf(", \"energy_note\": ");
    json_str(stdout, meter->detail);
    printf("},\n");
    printf(" \"batch\": %ld, \"steps\": %ld, \"warmup\": %ld, \"reps\": %ld, "
           "\"optimizer\": \"adam\", \"models\": [",
           o->batch, o->steps, o->warmup, o->reps);
    for (size_t i = 0; i < nm; i++) {
        const model_result *r = &m[i];
        printf("%s\n  {\"model\": ", i ? "," : "");
        json_str(stdout, r->path);
        printf(", \"params\": %zu, \"forward_flops_per_sample\": %llu, "
               "\"train_images_per_s\": %.3f, \"train_ms_per_step\": %.4f, "
               "\"infer_images_per_s\": %.3f, \"infer_ms_per_batch\": %.4f, \"last_loss\": %.6g",
               r->params, (unsigned long long)r->flops, r->train_ips, r->train_ms, r->infer_ips,
               r->infer_ms, r->last_loss);
        energy_json("train_energy", &r->train_energy, o->steps, o->batch);
        energy_json("infer_energy", &r->infer_energy, o->steps, o->batch);
        if (o->layers) {
            printf(", \"conv\": [");
            for (size_t j = 0; j < r->n_rows; j++) {
                const vd_conv_bench_row *w = &r->rows[j];
                printf("%s\n    {\"layer\": %d, \"name\": ", j ? "," : "", w->layer);
                json_str(stdout, w->layer_name);
                printf(", \"type\": \"%s\", \"pass\": \"%s\", \"algo\": \"%s\", "
                       "\"C\": %d, \"H\": %d, \"W\": %d, \"K\": %d, \"P\": %d, \"Q\": %d, "
                       "\"R\": %d, \"S\": %d, \"stride\": [%d, %d], \"pad\": [%d, %d], "
                       "\"dilation\": [%d, %d], \"groups\": %d, \"batch\": %d, \"flops\": %llu, ",
                       w->layer_type, w->pass, w->algo, w->C, w->H, w->W, w->K, w->P, w->Q, w->R,
                       w->S, w->stride_h, w->stride_w, w->pad_h, w->pad_w, w->dil_h, w->dil_w,
                       w->groups, w->batch, (unsigned long long)w->flops);
                if (w->status == VD_OK)
                    printf("\"ms\": %.4f, \"gflops\": %.3f, \"peak_percent\": %.3f, ", w->ms,
                           w->gflops, w->peak_percent);
                else {
                    printf("\"ms\": null, \"gflops\": null, \"peak_percent\": null, \"error\": ");
                    json_str(stdout, w->error);
                    printf(", ");
                }
                printf("\"selected\": %s}", w->selected ? "true" : "false");
            }
            printf("]");
        }
        printf("}");
    }
    printf("\n]}\n");
}

/* The sample models, from the working directory (a source checkout) or, failing that, the
 * source tree this binary was built from. */
static int default_models(const char **pos, char buf[2][1024])
{
    static const char *names[2] = {"lenet5.cfg", "vgg_bn.cfg"};
    for (int i = 0; i < 2; i++) {
        snprintf(buf[i], sizeof(buf[i]), "samples/models/%s", names[i]);
#ifdef VD_SAMPLE_MODELS_DIR
        if (access(buf[i], R_OK) != 0)
            snprintf(buf[i], sizeof(buf[i]), "%s/%s", VD_SAMPLE_MODELS_DIR, names[i]);
#endif
        pos[i] = buf[i];
    }
    return 2;
}

int cmd_bench(int argc, char **argv)
{
    const char *device = NULL;
    bench_opts o = {.batch = 64, .steps = 20, .warmup = 3, .reps = 5};
    const flag flags[] = {
        {"--device", FLAG_STR, &device, 0, 0},   {"--batch", FLAG_INT, &o.batch, 1, 65536},
        {"--steps", FLAG_INT, &o.steps, 1, 1e6}, {"--warmup", FLAG_INT, &o.warmup, 0, 1e4},
        {"--reps", FLAG_INT, &o.reps, 1, 1000},  {"--layers", FLAG_BOOL, &o.layers, 0, 0},
        {"--json", FLAG_BOOL, &o.json, 0, 0},    {NULL, 0, NULL, 0, 0}};
    const char *pos[MAX_MODELS];
    char defaults[2][1024];
    int npos, help;
    int rc = cli_parse("bench", argc, argv, flags, pos, MAX_MODELS, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_BENCH, stdout), EXIT_OK) : rc;
    if (npos == 0) npos = default_models(pos, defaults);

    vd_context *ctx = NULL;
    model_result results[MAX_MODELS];
    int done_models = 0;
    rc = EXIT_FAIL;
    vd_context_options co;
    vd_context_options_init(&co);
    co.device = device;
    if (vd_context_create(&co, &ctx) != VD_OK) {
        fprintf(stderr, "verdant bench: %s\n", vd_last_error(NULL));
        goto done;
    }
    vd_device_info dev;
    vd_meter_info meter;
    double peak = 0;
    if (vd_context_device(ctx, &dev) != VD_OK || vd_device_peak_gflops(ctx, &peak) != VD_OK ||
        vd_context_meter(ctx, &meter) != VD_OK) {
        fprintf(stderr, "verdant bench: %s\n", vd_last_error(ctx));
        goto done;
    }
    for (; done_models < npos; done_models++) {
        if (isatty(STDERR_FILENO)) fprintf(stderr, "verdant bench: %s ...\n", pos[done_models]);
        if (bench_model(ctx, pos[done_models], &o, &results[done_models]) != EXIT_OK) goto done;
    }
    if (o.json) print_json(&dev, peak, &o, &meter, results, (size_t)done_models);
    else print_text(&dev, peak, &o, &meter, results, (size_t)done_models);
    rc = EXIT_OK;
done:
    for (int i = 0; i < done_models; i++) free(results[i].rows);
    vd_context_destroy(ctx);
    return rc;
}

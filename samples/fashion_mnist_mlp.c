/* fashion_mnist_mlp.c - train a 784-256-128-10 MLP on Fashion-MNIST with libverdant.
 *
 * One idea: the whole public training workflow in one file. Pick a device, load the IDX
 * files, describe the network by layer names, train epoch by epoch and evaluate on the
 * test split. Uses only <verdant.h> (plus libc for flags, timing and the progress bar).
 *
 *   fashion_mnist_mlp [--data DIR] [--epochs N] [--batch N] [--lr F]
 *                     [--optimizer sgd|adam|adamw] [--seed N] [--device STR] [--json FILE]
 *
 * Exit status: 0 success, 1 runtime failure (no device, no dataset), 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verdant.h>

static const char *usage =
    "usage: fashion_mnist_mlp [options]\n"
    "  --data DIR        IDX files (default /usr/share/datasets/fashion-mnist)\n"
    "  --epochs N        epochs to train (default 3)\n"
    "  --batch N         batch size (default 64)\n"
    "  --lr F            learning rate (default: the optimizer's, 0.001 for Adam)\n"
    "  --optimizer NAME  sgd, adam or adamw (default adam)\n"
    "  --seed N          weight init and shuffling seed (default 42)\n"
    "  --device STR      gpu, cpu, P:D or a name substring (default: VERDANT_DEVICE or best)\n"
    "  --json FILE       write one JSON object per epoch (one per line) to FILE\n"
    "  -h, --help        this text\n";

typedef struct options {
    const char *data, *device, *json;
    long epochs, batch, seed;
    double lr; /* 0: the optimizer's default */
    vd_optim_kind optimizer;
} options;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Strict number parsing: the whole argument must be a number in [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* Returns 0 to go on, 1 after --help, 2 on a usage error (message already printed). */
static int parse_args(int argc, char **argv, options *o)
{
    static const char *const with_value[] = {"--data", "--epochs", "--batch", "--lr", "--optimizer",
                                             "--seed", "--device", "--json",  NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 1;
        }
        int k = 0;
        while (with_value[k] && strcmp(with_value[k], a)) k++;
        if (!with_value[k]) {
            fprintf(stderr, "fashion_mnist_mlp: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fashion_mnist_mlp: option '%s' needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int ok = 1;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--json")) o->json = v;
        else if (!strcmp(a, "--epochs")) ok = parse_long(v, 1, 100000, &o->epochs);
        else if (!strcmp(a, "--batch")) ok = parse_long(v, 1, 1 << 20, &o->batch);
        else if (!strcmp(a, "--seed")) ok = parse_long(v, 0, 0x7fffffffL, &o->seed);
        else if (!strcmp(a, "--lr")) {
            char *end;
            o->lr = strtod(v, &end);
            ok = *v && !*end && o->lr > 0 && o->lr < 100;
        } else { /* --optimizer */
            if (!strcmp(v, "sgd")) o->optimizer = VD_OPTIM_SGD;
            else if (!strcmp(v, "adam")) o->optimizer = VD_OPTIM_ADAM;
            else if (!strcmp(v, "adamw")) o->optimizer = VD_OPTIM_ADAMW;
            else ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "fashion_mnist_mlp: bad value '%s' for %s (see --help)\n", v, a);
            return 2;
        }
    }
    return 0;
}

/* Called every progress_every batches: redraw one line on stderr. */
static void on_progress(void *user, const vd_progress *p)
{
    (void)user;
    enum { WIDTH = 30 };
    int filled = p->batches ? (int)(WIDTH * p->batch / p->batches) : 0;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r  [%s] %lld/%lld  loss %.4f  %.0f img/s ", bar, (long long)p->batch,
            (long long)p->batches, p->loss, p->seconds > 0 ? p->samples / p->seconds : 0.0);
    fflush(stderr);
}

/* Check a status; on failure print the library's message and leave through done. */
#define CHECK(call, errctx)                                                    \
    do {                                                                       \
        if ((st = (call)) != VD_OK) {                                          \
            fprintf(stderr, "fashion_mnist_mlp: %s\n", vd_last_error(errctx)); \
            goto done;                                                         \
        }                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    double t_start = now_s();
    options o = {.data = "/usr/share/datasets/fashion-mnist",
                 .epochs = 3,
                 .batch = 64,
                 .seed = 42,
                 .optimizer = VD_OPTIM_ADAM};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;

    vd_status st = VD_OK;
    vd_context *ctx = NULL;
    vd_dataset *train = NULL, *test = NULL;
    vd_net *net = NULL;
    FILE *json = NULL;
    int tty = isatty(fileno(stderr));

    if (o.json && !(json = fopen(o.json, "w"))) {
        fprintf(stderr, "fashion_mnist_mlp: cannot write %s: %s\n", o.json, strerror(errno));
        st = VD_ERR_IO;
        goto done;
    }

    /* 1. A context: one device, its queue and the kernel cache. */
    vd_context_options copt;
    vd_context_options_init(&copt);
    copt.device = o.device;
    CHECK(vd_context_create(&copt, &ctx), NULL);
    vd_device_info dev;
    CHECK(vd_context_device(ctx, &dev), ctx);
    printf("device %d:%d  %s (%s)\n", dev.platform_index, dev.device_index, dev.name,
           dev.platform_name);

    /* 2. The data: bytes in host memory, normalised per batch with the training set's
     *    mean and std (the same numbers for both splits, as the test set is "unseen"). */
    CHECK(vd_dataset_load_mnist(o.data, "train", &train), NULL);
    CHECK(vd_dataset_load_mnist(o.data, "test", &test), NULL);
    vd_dataset_set_normalization(train, 0.2860f, 0.3530f);
    vd_dataset_set_normalization(test, 0.2860f, 0.3530f);

    /* 3. The network, by layer names. Build allocates everything for batches <= batch. */
    CHECK(vd_net_create(ctx, &net), ctx);
    CHECK(vd_net_input(net, 3, (int64_t[]){1, 28, 28}), ctx);
    CHECK(vd_net_add(net, "flatten", NULL, NULL), ctx);
    CHECK(vd_net_add(net, "dense", "fc1", "units=256"), ctx);
    CHECK(vd_net_add(net, "relu", NULL, NULL), ctx);
    CHECK(vd_net_add(net, "dense", "fc2", "units=128"), ctx);
    CHECK(vd_net_add(net, "relu", NULL, NULL), ctx);
    CHECK(vd_net_add(net, "dense", "fc3", "units=10"), ctx);
    CHECK(vd_net_set_loss(net, VD_LOSS_SOFTMAX_CE), ctx);
    CHECK(vd_net_set_seed(net, (uint64_t)o.seed), ctx);
    CHECK(vd_net_build(net, (int32_t)o.batch), ctx);

    vd_optim_options oopt;
    vd_optim_options_init(&oopt, o.optimizer);
    if (o.lr > 0) oopt.lr = (float)o.lr;
    CHECK(vd_net_set_optimizer(net, &oopt), ctx);
    printf("%zu train / %zu test images, %zu parameters, lr %g\n", vd_dataset_count(train),
           vd_dataset_count(test), vd_net_param_count(net), oopt.lr);

    /* Startup = program start to the first training call: context, kernel builds done so
     * far, dataset decompression and network build. The first kernels may still compile
     * lazily inside the first epoch (then they count there). */
    double startup_ms = 1e3 * (now_s() - t_start);
    printf("startup %.0f ms\n", startup_ms);

    /* 4. Train. The progress bar is for people: only draw it on a terminal. */
    vd_train_options topt;
    vd_train_options_init(&topt);
    topt.batch = (int32_t)o.batch;
    topt.seed = (uint64_t)o.seed;
    topt.progress = tty ? on_progress : NULL;
    for (int32_t epoch = 1; epoch <= o.epochs; epoch++) {
        vd_epoch_stats es;
        vd_eval_stats ev;
        st = vd_net_train_epoch(net, train, epoch, &topt, &es);
        if (tty) fputs("\r\033[K", stderr); /* erase the bar */
        CHECK(st, ctx);
        CHECK(vd_net_evaluate(net, test, &ev), ctx);
        printf("epoch %d/%ld  loss %.4f  train %.2f%%  test %.2f%%  %.1f s  %.0f img/s\n", epoch,
               o.epochs, es.loss, 100.0 * es.train_accuracy, 100.0 * ev.accuracy, es.seconds,
               es.images_per_second);
        if (epoch == 1)
            printf("first training step done %.0f ms after start\n",
                   startup_ms + 1e3 * es.first_batch_seconds);
        fflush(stdout);
        if (json) {
            fprintf(json,
                    "{\"epoch\": %d, \"loss\": %.6f, \"train_acc\": %.6f, "
                    "\"test_acc\": %.6f, \"test_loss\": %.6f, \"seconds\": %.3f, "
                    "\"images_per_s\": %.1f",
                    epoch, es.loss, es.train_accuracy, ev.accuracy, ev.loss, es.seconds,
                    es.images_per_second);
            /* Start-up to the first finished training step: what a user waits for. */
            if (epoch == 1)
                fprintf(json, ", \"startup_ms\": %.1f, \"first_batch_ms\": %.1f", startup_ms,
                        startup_ms + 1e3 * es.first_batch_seconds);
            fprintf(json, "}\n");
            fflush(json);
        }
    }

done:
    if (json) fclose(json);
    vd_net_destroy(net);
    vd_dataset_destroy(test);
    vd_dataset_destroy(train);
    vd_context_destroy(ctx);
    return st == VD_OK ? 0 : 1;
}

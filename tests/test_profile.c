/* test_profile.c - per-layer profiling (runtime/profile.c, net/net_profile.c): off by
 * default and then no event is created; on, a training epoch gives a table with one row per
 * layer, positive forward and backward times for every layer that runs kernels, and shares
 * that sum to 100%; profiling changes no result; evaluation outside the window is not
 * recorded; the first step summed apart; spans (a library call that enqueues several
 * commands, like a clFFT transform) timed from their marker; manual windows;
 * VERDANT_PROFILE=1 prints the table by itself; bad calls.
 * Data: 192 synthetic 28x28 images written as IDX files, so no dataset package is needed. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "net/net.h"
#include "runtime/profile.h"

#define N_IMAGES 192

static const char *const layer_names[] = {"c1", "r1", "p1", "flat", "fc", NULL};

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* IDX image and label files of N_IMAGES samples whose class is visible in the pixels. */
static int write_idx(const char *img, const char *lab)
{
    FILE *fi = fopen(img, "wb"), *fl = fopen(lab, "wb");
    if (!fi || !fl) return -1;
    put_be32(fi, 0x803);
    put_be32(fi, N_IMAGES);
    put_be32(fi, 28);
    put_be32(fi, 28);
    put_be32(fl, 0x801);
    put_be32(fl, N_IMAGES);
    uint64_t rng = 7;
    for (int i = 0; i < N_IMAGES; i++) {
        int cls = i % 10;
        for (int p = 0; p < 28 * 28; p++) {
            int v = (int)test_rand_int(&rng, 0, 60) + ((p / 28) % 10 == cls ? 180 : 0);
            fputc(v > 255 ? 255 : v, fi);
        }
        fputc(cls, fl);
    }
    return fclose(fi) | fclose(fl);
}

static vd_net *make_net(vd_context *ctx)
{
    vd_net *net = NULL;
    EXPECT_OK(ctx, vd_net_create(ctx, &net));
    if (!net) return NULL;
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){1, 28, 28}));
    EXPECT_OK(ctx, vd_net_add(net, "conv2d", "c1", "filters=4 kernel=5"));
    EXPECT_OK(ctx, vd_net_add(net, "relu", "r1", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "maxpool", "p1", "kernel=2 stride=2"));
    EXPECT_OK(ctx, vd_net_add(net, "flatten", "flat", NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc", "units=10"));
    EXPECT_OK(ctx, vd_net_build(net, 64));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    return net;
}

/* Parse the table in path: checks one row per layer in order, positive times where
 * kernels run, shares summing to 100%. */
static void check_table(const char *path, const vd_net *net)
{
    FILE *f = fopen(path, "r");
    if (!expect_true("table: readable", f != NULL)) return;
    char line[512];
    int row = -1, extra = 0;
    double share_sum = 0, total_share = 0;
    bool header = false, times_ok = true, names_ok = true, conv_algo = false;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "layer ", 6)) {
            header = true;
            row = 0;
            continue;
        }
        if (row < 0 || strlen(line) < 17) continue;
        char name[17];
        snprintf(name, sizeof(name), "%.16s", line);
        for (char *e = name + strlen(name); e > name && e[-1] == ' ';) *--e = '\0';
        char type[32], fwd[32], bwd[32], tot[32], share[32], algo[64] = "";
        int k = sscanf(line + 16, "%31s %31s %31s %31s %31s %*s %*s %*s %63s", type, fwd, bwd, tot,
                       share, algo);
        if (!strcmp(name, "total")) { /* "total" has only the total ms and share */
            sscanf(line + 16, "%31s %31s", tot, share);
            total_share = atof(share);
            break;
        }
        if (k < 5) continue;
        if (name[0] == '[') {
            extra++;
            share_sum += atof(share);
            continue;
        }
        if (row >= net->n_layers || strcmp(name, layer_names[row])) names_ok = false;
        if (row < net->n_layers && !net->layers[row]->ops->alias)
            times_ok &= atof(fwd) > 0 && atof(bwd) > 0 && atof(tot) > 0;
        if (!strcmp(name, "c1")) conv_algo = algo[0] != '\0';
        share_sum += atof(share);
        row++;
    }
    fclose(f);
    expect_true("table: header", header);
    expect_true("table: one row per layer, in order", row == net->n_layers && names_ok);
    expect_true("table: loss, optimizer, other, host rows", extra == 4);
    expect_true("table: forward and backward times positive", times_ok);
    expect_true("table: conv row names its algorithm column", conv_algo);
    printf("  shares sum to %.2f%%, total row %.1f%%\n", share_sum, total_share);
    expect_true("table: shares sum to ~100%", fabs(share_sum - 100.0) < 1.0);
    expect_true("table: total row says 100%", fabs(total_share - 100.0) < 0.05);
}

/* True when the file at path holds the text. */
static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f)) found = strstr(line, text) != NULL;
    if (f) fclose(f);
    return found;
}

/* A span: a marker, a long command without an event, then a short one that gets the
 * span's event, as clfftEnqueueTransform does with its sub-plans. The span must cover the
 * long command; the short one alone would not. */
static void check_span(vd_context *ctx)
{
    size_t big = (size_t)16 << 20; /* bytes: a fill that takes far longer than 64 bytes */
    cl_mem m = NULL;
    float zero = 0.0f;
    EXPECT_OK(ctx, vd_buffer_alloc(ctx, big, &m));
    if (!m) return;
    vd_profile *p = ctx->profile;
    /* Touch the memory first: the first fill also pays for page faults. */
    expect_true("span: warm-up fill", clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof(zero), 0,
                                                          big, 0, NULL, NULL) == CL_SUCCESS);
    vd_profile_begin(ctx);                   /* waits for the warm-up */
    vd_profile_scope(ctx, -1, VD_PROF_LOSS); /* the long command on its own */
    expect_true("span: long fill enqueued",
                clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof(zero), 0, big, 0, NULL,
                                    vd_profile_event(ctx)) == CL_SUCCESS);
    vd_profile_scope(ctx, -1, VD_PROF_OPTIM); /* the span */
    cl_event *ev = vd_profile_span_event(ctx);
    expect_true("span: an event slot while the window is open", ev != NULL);
    expect_true("span: long fill inside it",
                clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof(zero), 0, big, 0, NULL, NULL) ==
                    CL_SUCCESS);
    expect_true("span: short last command", clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof(zero),
                                                                0, 64, 0, NULL, ev) == CL_SUCCESS);
    vd_profile_scope(ctx, -1, VD_PROF_OTHER); /* the short command on its own */
    expect_true("span: short fill enqueued",
                clEnqueueFillBuffer(ctx->queue, m, &zero, sizeof(zero), 0, 64, 0, NULL,
                                    vd_profile_event(ctx)) == CL_SUCCESS);
    EXPECT_OK(ctx, vd_profile_end(ctx));
    double lng = p->phases[VD_PROF_LOSS].ns, span = p->phases[VD_PROF_OPTIM].ns;
    double shrt = p->phases[VD_PROF_OTHER].ns;
    printf("  long fill %.3f ms, span %.3f ms, short fill %.3f ms\n", lng * 1e-6, span * 1e-6,
           shrt * 1e-6);
    expect_true("span: counted as one launch", p->phases[VD_PROF_OPTIM].kernels == 1);
    /* 0.3: the two long fills are separate runs on a shared machine. */
    expect_true("span: covers the command without an event", span >= 0.3 * lng);
    if (lng > 20 * shrt) expect_true("span: not just its last command", span > 5 * shrt);
    vd_buffer_release(ctx, m, big);
}

int main(void)
{
    vd_context *ctx = NULL;
    vd_dataset *ds = NULL;
    vd_net *net = NULL;
    char dir[] = "/tmp/verdant-profile-XXXXXX", img[128], lab[128], table[128];
    unsetenv("VERDANT_PROFILE");
    /* The heuristic convolution choice: no algorithm measurements (each compiles more
     * kernels), and the same algorithms in the profiled and unprofiled runs. */
    setenv("VERDANT_TUNE", "off", 1);
    int rc = test_context(&ctx);
    if (rc) return rc == TEST_SKIP ? check_summary() : 1;
    if (!mkdtemp(dir)) return 1;
    snprintf(img, sizeof(img), "%s/img.idx", dir);
    snprintf(lab, sizeof(lab), "%s/lab.idx", dir);
    snprintf(table, sizeof(table), "%s/table.txt", dir);
    expect_true("synthetic IDX written", write_idx(img, lab) == 0);
    EXPECT_OK(NULL, vd_dataset_load_idx(img, lab, &ds));
    if (!ds) goto done;

    /* Bad calls. */
    expect_true("set_profiling(NULL)", vd_context_set_profiling(NULL, 1) == VD_ERR_INVALID_ARG);
    expect_true("report(NULL)", vd_net_profile_report(NULL, NULL) == VD_ERR_INVALID_ARG);
    expect_true("profiling(NULL) is 0", vd_context_profiling(NULL) == 0);

    /* Off (the default): no recorder, no events, report refuses. */
    expect_true("off by default", vd_context_profiling(ctx) == 0 && ctx->profile == NULL);
    expect_true("off: no event slot", vd_profile_event(ctx) == NULL);
    net = make_net(ctx);
    if (!net) goto done;
    vd_train_options to;
    vd_train_options_init(&to);
    to.shuffle = 0;
    vd_epoch_stats off, on;
    EXPECT_OK(ctx, vd_net_train_epoch(net, ds, 1, &to, &off));
    expect_true("off: still no recorder after an epoch", ctx->profile == NULL);
    expect_true("off: report is VD_ERR_STATE", vd_net_profile_report(net, NULL) == VD_ERR_STATE);
    expect_true("off: begin is VD_ERR_STATE", vd_net_profile_begin(net) == VD_ERR_STATE);
    vd_net_destroy(net);

    /* On: same net, same seed: the same loss, and a table. */
    EXPECT_OK(ctx, vd_context_set_profiling(ctx, 1));
    expect_true("on", vd_context_profiling(ctx) == 1);
    net = make_net(ctx);
    if (!net) goto done;
    expect_true("on: nothing recorded yet", vd_net_profile_report(net, NULL) == VD_ERR_STATE);
    EXPECT_OK(ctx, vd_net_train_epoch(net, ds, 1, &to, &on));
    expect_true("profiling changes no result",
                on.loss == off.loss && on.train_accuracy == off.train_accuracy);
    vd_profile *p = ctx->profile;
    expect_true("on: window closed after the epoch", p && !p->active && p->n_pending == 0);
    expect_true("on: steps and samples counted", p && p->steps == 3 && p->samples == N_IMAGES);
    bool kernels = p && p->n_layers >= net->n_layers;
    for (int32_t i = 0; kernels && i < net->n_layers; i++)
        if (!net->layers[i]->ops->alias)
            kernels = p->layers[2 * i].kernels > 0 && p->layers[2 * i + 1].kernels > 0;
    expect_true("on: every layer's forward and backward recorded", kernels);
    expect_true("on: loss and optimizer recorded",
                p && p->phases[VD_PROF_LOSS].kernels > 0 && p->phases[VD_PROF_OPTIM].kernels > 0);
    double all_ns = 0;
    for (int32_t i = 0; p && i < 2 * p->n_layers; i++) all_ns += p->layers[i].ns;
    for (int ph = 0; p && ph < VD_PROF_PHASES; ph++) all_ns += p->phases[ph].ns;
    expect_true("on: first step's end read on the device clock",
                p && p->origin_ns > 0 && p->first_end_ns > p->origin_ns);
    expect_true("on: first step's kernels are part of the total",
                p && p->first_ns > 0 && p->first_ns < all_ns);
    double fwd0 = p ? p->layers[0].ns : 0;
    vd_eval_stats ev;
    EXPECT_OK(ctx, vd_net_evaluate(net, ds, &ev));
    expect_true("on: evaluation outside the window is not recorded",
                p && p->layers[0].ns == fwd0 && p->n_pending == 0);
    FILE *f = fopen(table, "w");
    EXPECT_OK(ctx, vd_net_profile_report(net, f));
    if (f) fclose(f);
    check_table(table, net);
    expect_true("table: the first step apart", file_has(table, "profile: first step "));
    /* The per-kernel section: steps 2-3 grouped by kernel name, every launch named. */
    expect_true("table: per-kernel section", file_has(table, "kernels, steps 2-3, by time:"));
    bool named = p && p->n_kernels > 0;
    for (size_t i = 0; p && i < p->n_kernels; i++)
        named = named && p->kernels[i].name[0] && strcmp(p->kernels[i].name, "(unnamed)") != 0 &&
                p->kernels[i].launches > 0;
    expect_true("table: every kernel of steps 2-3 has its name", named);

    /* A manual window around single steps. */
    float x[2 * 28 * 28] = {0}, loss = 0;
    int32_t y[2] = {1, 2};
    EXPECT_OK(ctx, vd_net_profile_begin(net));
    expect_true("manual: window open", p->active);
    EXPECT_OK(ctx, vd_net_train_step(net, x, y, NULL, 2, &loss));
    EXPECT_OK(ctx, vd_net_profile_end(net));
    expect_true("manual: one step of two samples", p->steps == 1 && p->samples == 2);
    f = fopen(table, "w");
    EXPECT_OK(ctx, vd_net_profile_report(net, f));
    if (f) fclose(f);
    check_table(table, net);
    expect_true("manual: one step, no first-step line", !file_has(table, "profile: first step "));
    expect_true("manual: one step, no per-kernel section", !file_has(table, "kernels, steps"));
    check_span(ctx);
    EXPECT_OK(ctx, vd_context_set_profiling(ctx, 0));
    expect_true("off again", ctx->profile == NULL && vd_profile_event(ctx) == NULL);
    vd_net_destroy(net);
    net = NULL;
    vd_context_destroy(ctx);
    ctx = NULL;

    /* VERDANT_PROFILE=1: every context records, and the epoch prints the table to stderr. */
    setenv("VERDANT_PROFILE", "1", 1);
    EXPECT_OK(NULL, vd_context_create(NULL, &ctx));
    unsetenv("VERDANT_PROFILE");
    if (!ctx) goto done;
    expect_true("VERDANT_PROFILE=1 turns it on", vd_context_profiling(ctx) == 1);
    net = make_net(ctx);
    if (!net) goto done;
    fflush(stderr);
    int saved = dup(2), fd = open(table, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    vd_status st = vd_net_train_epoch(net, ds, 1, &to, &on);
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    expect_status("VERDANT_PROFILE=1 epoch", ctx, st, VD_OK);
    check_table(table, net);
done:
    vd_net_destroy(net);
    vd_dataset_destroy(ds);
    vd_context_destroy(ctx);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

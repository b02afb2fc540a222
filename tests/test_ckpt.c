/* test_ckpt.c - checkpoints: resuming from a checkpoint continues training bit for bit as
 * if it had not stopped (same seed and device: same weights), and every damaged file
 * (truncated, flipped byte, wrong magic or version, sections that disagree) is refused
 * with VD_ERR_FORMAT naming the file, without crashing. A failed save leaves the previous
 * checkpoint intact. The run's plan (RUN section: schedule, epochs, batch, augmentation)
 * round-trips, and files without it still load. Uses a small synthetic IDX dataset written to a
 * temp directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"

static char dir[] = "/tmp/verdant-ckpt-XXXXXX";

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* 240 images 1x6x6 in 3 classes: class c has a bright c-th band plus noise. */
static vd_dataset *make_dataset(void)
{
    char ip[256], lp[256];
    snprintf(ip, sizeof(ip), "%s/img.idx", dir);
    snprintf(lp, sizeof(lp), "%s/lab.idx", dir);
    FILE *fi = fopen(ip, "wb"), *fl = fopen(lp, "wb");
    if (!fi || !fl) return NULL;
    const int n = 240;
    be32(fi, 0x803);
    be32(fi, n);
    be32(fi, 6);
    be32(fi, 6);
    be32(fl, 0x801);
    be32(fl, n);
    uint64_t rng = 5;
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        for (int p = 0; p < 36; p++) {
            int band = (p / 6) / 2 == c;
            fputc((int)(band ? 160 : 40) + (int)test_rand_int(&rng, 0, 60), fi);
        }
        fputc(c, fl);
    }
    fclose(fi);
    fclose(fl);
    vd_dataset *ds = NULL;
    return vd_dataset_load_idx(ip, lp, &ds) == VD_OK ? ds : NULL;
}

static vd_net *make_net(vd_context *ctx)
{
    vd_net *net = NULL;
    if (vd_net_parse_cfg(ctx,
                         "[net]\ninput = 1, 6, 6\nseed = 11\n[flatten]\n[dense]\nunits = 16\n"
                         "[batchnorm]\n[relu]\n[dropout]\np = 0.3\n[dense]\nunits = 3\n",
                         "ckpt-test", &net) != VD_OK ||
        vd_net_build(net, 16) != VD_OK) {
        printf("make_net: %s\n", vd_last_error(ctx));
        vd_net_destroy(net);
        return NULL;
    }
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAMW);
    o.weight_decay = 0.01f;
    vd_net_set_optimizer(net, &o);
    return net;
}

static void train(vd_context *ctx, vd_net *net, const vd_dataset *ds, int from, int to)
{
    vd_train_options to_;
    vd_train_options_init(&to_);
    to_.batch = 16;
    to_.seed = 3;
    to_.crop_pad = 1; /* augmentation must resume exactly too */
    to_.flip = 1;
    for (int e = from; e <= to; e++) EXPECT_OK(ctx, vd_net_train_epoch(net, ds, e, &to_, NULL));
}

static void resume_exact(vd_context *ctx, const vd_dataset *ds, const char *path)
{
    vd_net *a = make_net(ctx), *b = make_net(ctx), *c = NULL;
    if (!expect_true("nets built", a && b)) goto done;
    size_t np = vd_net_param_count(a);
    float *pa = test_malloc(np * 4), *pc = test_malloc(np * 4);
    train(ctx, a, ds, 1, 3);
    EXPECT_OK(ctx, vd_net_params_read(a, pa, np));

    train(ctx, b, ds, 1, 1);
    vd_train_state s;
    vd_train_state_init(&s);
    s.epoch = 1;
    s.shuffle_seed = 3;
    s.best_accuracy = 0.5;
    EXPECT_OK(ctx, vd_net_save(b, path, &s));
    vd_net_destroy(b);
    b = NULL;
    vd_train_state r;
    if (EXPECT_OK(ctx, vd_net_load(ctx, path, 16, &c, &r))) {
        expect_true("state restored",
                    r.epoch == 1 && r.shuffle_seed == 3 && r.best_accuracy == 0.5);
        train(ctx, c, ds, r.epoch + 1, 3);
        EXPECT_OK(ctx, vd_net_params_read(c, pc, np));
        expect_equal_bytes("resumed training gives bit-identical weights", pc, pa, np * 4);
        /* Inference uses the batch-norm running statistics: they resumed too. */
        float x[16 * 36], ya[16 * 3], yc[16 * 3];
        for (int i = 0; i < 16 * 36; i++) x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
        EXPECT_OK(ctx, vd_net_predict(a, x, 16, ya));
        EXPECT_OK(ctx, vd_net_predict(c, x, 16, yc));
        expect_equal_bytes("resumed running statistics give identical predictions", yc, ya,
                           sizeof(ya));
    }
    free(pa);
    free(pc);
done:
    vd_net_destroy(a);
    vd_net_destroy(b);
    vd_net_destroy(c);
}

/* A net with conv2d relu = 1 (the fused epilogue): the key is part of the stored
 * description, so the loaded net is the same net: same description text, same weights,
 * same predictions, and it trains on identically. */
static void conv_relu_round_trip(vd_context *ctx, const vd_dataset *ds, const char *path)
{
    const char *cfg = "[net]\ninput = 1, 6, 6\nseed = 13\n[conv2d]\nname = c1\nfilters = 4\n"
                      "kernel = 3\npad = 1\nrelu = 1\n[maxpool]\n[conv2d]\nfilters = 3\n"
                      "kernel = 3\nbias = 0\nrelu = 1\n[flatten]\n[dense]\nunits = 3\n";
    vd_net *a = NULL, *b = NULL;
    char *ta = NULL, *tb = NULL;
    float *pa = NULL, *pb = NULL;
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAM);
    if (!EXPECT_OK(ctx, vd_net_parse_cfg(ctx, cfg, "conv-relu", &a)) ||
        !EXPECT_OK(ctx, vd_net_build(a, 16)) || !EXPECT_OK(ctx, vd_net_set_optimizer(a, &o)))
        goto done;
    train(ctx, a, ds, 1, 1);
    vd_train_state s;
    vd_train_state_init(&s);
    s.epoch = 1;
    s.shuffle_seed = 3;
    EXPECT_OK(ctx, vd_net_save(a, path, &s));
    vd_train_state r;
    if (!EXPECT_OK(ctx, vd_net_load(ctx, path, 16, &b, &r))) goto done;
    EXPECT_OK(ctx, vd_net_to_cfg(a, &ta));
    EXPECT_OK(ctx, vd_net_to_cfg(b, &tb));
    expect_true("conv relu=1: the loaded description is the saved one",
                ta && tb && !strcmp(ta, tb));
    const char *c1 = tb ? strstr(tb, "name = c1") : NULL;
    const char *relu = c1 ? strstr(c1, "relu = ") : NULL;
    expect_true("conv relu=1: the loaded description has relu = 1",
                relu && !strncmp(relu, "relu = 1", 8));
    size_t np = vd_net_param_count(a);
    pa = test_malloc(np * 4), pb = test_malloc(np * 4);
    float x[16 * 36], ya[16 * 3], yb[16 * 3];
    for (int i = 0; i < 16 * 36; i++) x[i] = (float)((i * 29) % 13) / 13.0f - 0.3f;
    EXPECT_OK(ctx, vd_net_predict(a, x, 16, ya));
    EXPECT_OK(ctx, vd_net_predict(b, x, 16, yb));
    expect_equal_bytes("conv relu=1: identical predictions after loading", yb, ya, sizeof ya);
    train(ctx, a, ds, 2, 2);
    train(ctx, b, ds, r.epoch + 1, 2);
    EXPECT_OK(ctx, vd_net_params_read(a, pa, np));
    EXPECT_OK(ctx, vd_net_params_read(b, pb, np));
    expect_equal_bytes("conv relu=1: resumed training gives bit-identical weights", pb, pa, np * 4);
done:
    free(ta), free(tb), free(pa), free(pb);
    vd_net_destroy(a);
    vd_net_destroy(b);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = test_malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void expect_refused(vd_context *ctx, const char *what, const char *path, vd_status want,
                           const char *needle)
{
    vd_net *net = NULL;
    vd_status st = vd_net_load(ctx, path, 16, &net, NULL);
    expect_status(what, ctx, st, want);
    char label[512];
    snprintf(label, sizeof(label), "%s: message has '%s' (got: %s)", what, needle,
             vd_last_error(ctx));
    expect_true(label, strstr(vd_last_error(ctx), needle) != NULL);
    vd_net_destroy(net);
}

/* Copy checkpoint `in` to `out` with section `tag`'s payload replaced by payload[0..len),
 * or the section dropped when payload is NULL, fixing the section count and every
 * checksum: a well-formed file with the content a test wants. Returns the new size. */
static size_t edit_section(const unsigned char *in, const char *tag, const void *payload_new,
                           size_t len_new, unsigned char *out)
{
    size_t o = 16, i = 16;
    memcpy(out, in, 16);
    uint32_t nsec, kept = 0;
    memcpy(&nsec, in + 12, 4);
    char t[8] = {0};
    memcpy(t, tag, strlen(tag));
    for (uint32_t s = 0; s < nsec; s++) {
        uint64_t len;
        memcpy(&len, in + i + 8, 8);
        const unsigned char *payload = in + i + 20;
        uint64_t newlen = len;
        bool match = !memcmp(in + i, t, 8);
        if (match && !payload_new) {
            i += 20 + len;
            continue;
        }
        if (match) {
            payload = payload_new;
            newlen = len_new;
        }
        uint32_t crc = (uint32_t)crc32(0, payload, (uInt)newlen);
        memcpy(out + o, in + i, 8);
        memcpy(out + o + 8, &newlen, 8);
        memcpy(out + o + 16, &crc, 4);
        memcpy(out + o + 20, payload, newlen);
        o += 20 + newlen;
        i += 20 + len;
        kept++;
    }
    memcpy(out + 12, &kept, 4);
    uint32_t total = (uint32_t)crc32(0, out, (uInt)o);
    memcpy(out + o, &total, 4);
    return o + 4;
}

/* The NETCFG text replaced: weights that do not fit their network. */
static size_t swap_cfg(const unsigned char *in, const char *cfg, unsigned char *out)
{
    return edit_section(in, "NETCFG", cfg, strlen(cfg), out);
}

static void lr_is(const char *what, float got, float want)
{
    expect_close(what, &got, &want, 1, 1e-9f, 1e-6f);
}

/* The run's plan (schedule, epochs, batch, augmentation) survives a save and load; a file
 * without the RUN section (written before it existed) loads with epochs = 0, "not
 * recorded"; an out-of-range plan is refused. vd_schedule_lr follows the plan. */
static void run_plan(vd_context *ctx, const char *good)
{
    vd_net *net = make_net(ctx), *back = NULL;
    if (!net) return;
    vd_train_state a, b;
    vd_train_state_init(&a);
    expect_true("init: constant schedule, step size 3, plan not recorded",
                a.schedule == VD_SCHEDULE_CONSTANT && a.step_size == 3 && a.epochs == 0);
    a.epoch = 3, a.lr = 0.01f, a.schedule = VD_SCHEDULE_COSINE, a.epochs = 10, a.step_size = 4;
    a.warmup = 2, a.batch = 16, a.crop_pad = 1, a.flip = 1;
    char path[300];
    snprintf(path, sizeof(path), "%s/plan.ckpt", dir);
    if (EXPECT_OK(ctx, vd_net_save(net, path, &a)) &&
        EXPECT_OK(ctx, vd_net_load(ctx, path, 16, &back, &b)))
        expect_true("the run's plan round-trips",
                    b.epoch == 3 && b.lr == 0.01f && b.schedule == VD_SCHEDULE_COSINE &&
                        b.epochs == 10 && b.step_size == 4 && b.warmup == 2 && b.batch == 16 &&
                        b.crop_pad == 1 && b.flip == 1);
    vd_net_destroy(back);
    back = NULL;
    /* Learning rates along the plan. */
    lr_is("warm-up epoch 1 of 2: lr/3", vd_schedule_lr(&a, 1), 0.01f / 3);
    lr_is("cosine epoch 3 of 10", vd_schedule_lr(&a, 3),
          (float)(0.01 * 0.5 * (1 + cos(3.14159265358979 * 0.2))));
    lr_is("cosine epoch 6 of 10: half", vd_schedule_lr(&a, 6), 0.005f);
    a.schedule = VD_SCHEDULE_STEP, a.warmup = 0;
    lr_is("step 4: epoch 4 is lr", vd_schedule_lr(&a, 4), 0.01f);
    lr_is("step 4: epoch 5 is x0.1", vd_schedule_lr(&a, 5), 0.001f);
    a.schedule = VD_SCHEDULE_CONSTANT;
    lr_is("constant", vd_schedule_lr(&a, 9), 0.01f);
    /* An old file: no RUN section. */
    size_t n = 0;
    unsigned char *f = slurp(path, &n), *c = test_malloc(n + 64);
    if (expect_true("plan checkpoint read", f && n > 100)) {
        spit(path, c, edit_section(f, "RUN", NULL, 0, c));
        if (EXPECT_OK(ctx, vd_net_load(ctx, path, 16, &back, &b)))
            expect_true("no RUN section: epoch kept, plan not recorded",
                        b.epoch == 3 && b.epochs == 0 && b.schedule == VD_SCHEDULE_CONSTANT &&
                            b.batch == 0);
        vd_net_destroy(back);
        int32_t bad[8] = {7, 10, 3, 0, 16, 0, 0, 0}; /* schedule 7 */
        spit(path, c, edit_section(f, "RUN", bad, sizeof bad, c));
        expect_refused(ctx, "RUN: unknown schedule", path, VD_ERR_FORMAT, "RUN section");
        bad[0] = 2, bad[6] = 2; /* flip 2 */
        spit(path, c, edit_section(f, "RUN", bad, sizeof bad, c));
        expect_refused(ctx, "RUN: flip 2", path, VD_ERR_FORMAT, "out-of-range");
        spit(path, c, edit_section(f, "RUN", bad, 12, c));
        expect_refused(ctx, "RUN: short section", path, VD_ERR_FORMAT, "RUN section");
        /* A header that counts one section fewer than the file holds (checksums fixed):
         * the last section would be ignored silently; it is refused instead. */
        memcpy(c, f, n);
        uint32_t cnt;
        memcpy(&cnt, c + 12, 4);
        cnt--;
        memcpy(c + 12, &cnt, 4);
        uint32_t total = (uint32_t)crc32(0, c, (uInt)(n - 4));
        memcpy(c + n - 4, &total, 4);
        spit(path, c, n);
        expect_refused(ctx, "section count one short", path, VD_ERR_FORMAT,
                       "bytes after the last of its");
    }
    free(f), free(c);
    vd_net_destroy(net);
    (void)good;
}

static void damaged_files(vd_context *ctx, const char *good)
{
    size_t n = 0;
    unsigned char *b = slurp(good, &n);
    if (!expect_true("checkpoint written", b && n > 100)) return;
    char path[300];
    snprintf(path, sizeof(path), "%s/bad.ckpt", dir);
    size_t cuts[] = {0, 7, 19, 40, n / 2, n - 5, n - 1};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        spit(path, b, cuts[k]);
        char what[64];
        snprintf(what, sizeof(what), "truncated to %zu bytes", cuts[k]);
        expect_refused(ctx, what, path, VD_ERR_FORMAT, "bad.ckpt");
    }
    unsigned char *c = test_malloc(n + 4096);
    for (size_t at = 30; at < n; at += n / 7) {
        memcpy(c, b, n);
        c[at] ^= 0x10;
        spit(path, c, n);
        expect_refused(ctx, "flipped byte", path, VD_ERR_FORMAT, "checksum");
    }
    memcpy(c, b, n);
    c[0] = 'X';
    spit(path, c, n);
    expect_refused(ctx, "wrong magic", path, VD_ERR_FORMAT, "not a Verdant checkpoint");
    memcpy(c, b, n);
    c[8] = 99;
    spit(path, c, n);
    expect_refused(ctx, "wrong version", path, VD_ERR_FORMAT, "format version 99");
    size_t m = swap_cfg(b, "[net]\ninput = 1, 6, 6\n[flatten]\n[dense]\nunits = 5\n", c);
    spit(path, c, m);
    expect_refused(ctx, "weights of another network", path, VD_ERR_FORMAT, "PARAMS holds");
    m = swap_cfg(b, "[net]\ninput = 1, 6, 6\n[dense]\nfliters = 5\n", c);
    spit(path, c, m);
    expect_refused(ctx, "bad embedded description", path, VD_ERR_INVALID_ARG, "[NETCFG]:4:");
    expect_refused(ctx, "missing file", "/nonexistent/x.ckpt", VD_ERR_IO, "/nonexistent/x.ckpt");
    free(b);
    free(c);
}

static void failed_save_keeps_old(vd_context *ctx, const vd_dataset *ds, const char *good)
{
    vd_net *net = make_net(ctx);
    if (!net) return;
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(good, &n0);
    expect_status("save into a missing directory", ctx,
                  vd_net_save(net, "/nonexistent-dir/x.ckpt", NULL), VD_ERR_IO);
    /* A save over the old file that cannot complete: make the path a directory's child
     * of a file, which fails at fopen; the old file stays byte for byte. */
    char blocked[400];
    snprintf(blocked, sizeof(blocked), "%s/sub", good);
    expect_status("save under a file", ctx, vd_net_save(net, blocked, NULL), VD_ERR_IO);
    unsigned char *after = slurp(good, &n1);
    expect_true("old checkpoint untouched",
                n0 == n1 && before && after && !memcmp(before, after, n0));
    /* A successful save replaces it and leaves no temporary file behind. */
    train(ctx, net, ds, 1, 1);
    EXPECT_OK(ctx, vd_net_save(net, good, NULL));
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", good, (long)getpid());
    expect_true("no temporary left", access(tmp, F_OK) != 0);
    free(before);
    free(after);
    vd_net_destroy(net);
}

int main(void)
{
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    if (!mkdtemp(dir)) return expect_true("mkdtemp", false), check_summary();
    vd_dataset *ds = make_dataset();
    char good[300];
    snprintf(good, sizeof(good), "%s/good.ckpt", dir);
    if (expect_true("synthetic dataset", ds != NULL)) {
        resume_exact(ctx, ds, good);
        conv_relu_round_trip(ctx, ds, good);
        damaged_files(ctx, good);
        failed_save_keeps_old(ctx, ds, good);
        run_plan(ctx, good);
    }
    vd_dataset_destroy(ds);
    vd_context_destroy(ctx);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

/* cmd_train.c - `verdant train`, `verdant eval` and `verdant plan`: networks from
 * description files, trained and evaluated on IDX datasets, with progress, JSON logs,
 * checkpoints and resume. Public API only. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verdant.h>

#include "cli.h"

#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

int cli_parse(const char *verb, int argc, char **argv, const flag *flags, const char **positional,
              int max_pos, int *n_pos, int *help)
{
    *n_pos = 0;
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = 1;
            return EXIT_OK;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (*n_pos == max_pos) {
                fprintf(stderr, "verdant %s: unexpected argument '%s' (see 'verdant %s --help')\n",
                        verb, a, verb);
                return EXIT_USAGE;
            }
            positional[(*n_pos)++] = a;
            continue;
        }
        const flag *f = flags;
        while (f->name && strcmp(f->name, a)) f++;
        if (!f->name) {
            fprintf(stderr, "verdant %s: unknown option '%s' (see 'verdant %s --help')\n", verb, a,
                    verb);
            return EXIT_USAGE;
        }
        if (f->type == FLAG_BOOL) {
            *(int *)f->dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "verdant %s: option '%s' needs a value\n", verb, a);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        char *end = NULL;
        double x = 0;
        if (f->type != FLAG_STR) x = strtod(v, &end);
        if (f->type == FLAG_STR) {
            *(const char **)f->dst = v;
        } else if (!*v || *end || !isfinite(x) || x < f->lo || x > f->hi ||
                   (f->type == FLAG_INT && x != floor(x))) {
            fprintf(stderr, "verdant %s: %s '%s' is not %s in [%g, %g]\n", verb, a, v,
                    f->type == FLAG_INT ? "an integer" : "a number", f->lo, f->hi);
            return EXIT_USAGE;
        } else if (f->type == FLAG_INT) {
            *(long *)f->dst = (long)x;
        } else {
            *(double *)f->dst = x;
        }
    }
    return EXIT_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *verb, const vd_context *ctx)
{
    fprintf(stderr, "verdant %s: %s\n", verb, vd_last_error(ctx));
    return EXIT_FAIL;
}

/* A JSON string literal (device names and meter notes may hold anything). */
static void log_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static vd_status open_context(const char *device, vd_context **ctx)
{
    vd_context_options o;
    vd_context_options_init(&o);
    o.device = device;
    return vd_context_create(&o, ctx);
}

/* What the progress callbacks get: with R ranks each takes 1/R of every batch, so the
 * whole job's images/s is R times the local figure (printed by rank 0 only). */
typedef struct progress_user {
    int last[2]; /* epoch, and the tenth last printed in it (plain lines) */
    int ranks;
} progress_user;

/* Progress bar on stderr, only when it is a terminal. */
static void progress(void *user, const vd_progress *p)
{
    const progress_user *u = user;
    int width = 30, done = (int)(width * p->batch / (p->batches ? p->batches : 1));
    fprintf(stderr, "\r  epoch %d [", (int)p->epoch);
    for (int i = 0; i < width; i++) fputc(i < done ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld  loss %.4f  %.0f img/s ", (long long)p->batch,
            (long long)p->batches, p->loss,
            p->seconds > 0 ? (double)p->samples * u->ranks / p->seconds : 0.0);
    if (p->batch == p->batches) fprintf(stderr, "\r%*s\r", 100, "");
    fflush(stderr);
}

/* Where stderr is not a terminal (a log file, CI, nohup) a bar redrawn with \r would be
 * one unreadable line: print a plain line at every tenth of the epoch instead. */
static void progress_lines(void *user, const vd_progress *p)
{
    progress_user *u = user;
    int *last = u->last;
    long long batches = p->batches ? p->batches : 1;
    int tenth = (int)(10 * p->batch / batches);
    if (last[0] != p->epoch) last[0] = p->epoch, last[1] = 0;
    if (tenth <= last[1] || p->batch == p->batches) return; /* the epoch line follows */
    last[1] = tenth;
    fprintf(stderr, "  epoch %d  %3d%%  batch %lld/%lld  loss %.4f  %.0f img/s\n", (int)p->epoch,
            10 * tenth, (long long)p->batch, batches, p->loss,
            p->seconds > 0 ? (double)p->samples * u->ranks / p->seconds : 0.0);
    fflush(stderr);
}

static vd_status load_split(const char *dir, const char *split, long limit, vd_dataset **out)
{
    vd_dataset *all = NULL;
    vd_status st = vd_dataset_load_mnist(dir, split, &all);
    if (st != VD_OK) return st;
    if (limit > 0 && (size_t)limit < vd_dataset_count(all)) {
        st = vd_dataset_subset(all, 0, (size_t)limit, out);
        vd_dataset_destroy(all);
    } else {
        *out = all;
    }
    if (st == VD_OK) vd_dataset_set_normalization(*out, FMNIST_MEAN, FMNIST_STD);
    return st;
}

/* A failure of a data-parallel run once every rank is training: the other ranks may be
 * waiting in a collective for this one, so the job is aborted (the library never exits;
 * the command does, with the message first). With one process it just returns. */
static int die(const cli_mpi *m, const char *msg)
{
    if (m->size > 1) fprintf(stderr, "verdant train: rank %d: %s\n", m->rank, msg);
    else fprintf(stderr, "verdant train: %s\n", msg);
    cli_mpi_abort(m, EXIT_FAIL);
    return EXIT_FAIL;
}

/* With several ranks on one machine and no --device (nor VERDANT_DEVICE), local rank l
 * takes GPU l modulo the GPUs there are; without a GPU every rank opens the default. */
static const char *rank_device(const cli_mpi *m, const char *device, char *buf, size_t cap)
{
    if (device || getenv("VERDANT_DEVICE") || !m->on || m->local_size < 2) return device;
    vd_device_info list[64];
    size_t n = 0;
    if (vd_devices_list(list, 64, &n) != VD_OK) return device;
    int gpus[64], ng = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (list[i].type == VD_DEVICE_GPU) gpus[ng++] = (int)i;
    if (ng == 0) return device;
    const vd_device_info *d = &list[gpus[m->local_rank % ng]];
    snprintf(buf, cap, "%d:%d", (int)d->platform_index, (int)d->device_index);
    return buf;
}

static int train_run(int argc, char **argv, const cli_mpi *m);

int cmd_train(int argc, char **argv)
{
    /* Data-parallel when started by an MPI launcher or asked with --mpi (a value of a
     * string flag spelt "--mpi" would count too: not worth a second parse). */
    int want = cli_mpi_launched() != NULL;
    for (int i = 1; i < argc; i++) want |= !strcmp(argv[i], "--mpi");
    cli_mpi m = {0, 0, 1, 0, 1};
    if (want && cli_mpi_init(&argc, &argv, &m) != EXIT_OK) return EXIT_FAIL;
    int rc = train_run(argc, argv, &m);
    cli_mpi_finalize(&m);
    return rc;
}

/* Set-up failures are collected into why[] (empty: already printed, as cli_parse does)
 * and agreed on by every rank before any rank starts a collective step. */
#define SETUP_FAIL(code, ...)                          \
    do {                                               \
        snprintf(why, sizeof(why), __VA_ARGS__);       \
        rc = (code);                                   \
        goto agree;                                    \
    } while (0)

static int train_run(int argc, char **argv, const cli_mpi *m)
{
    const char *data = DEFAULT_DATA, *device = NULL, *ckpt = NULL, *resume = NULL, *log = NULL;
    /* Flags left at -1 (or NULL) were not given: a new run takes the defaults, a resumed
     * one the plan saved in its checkpoint. */
    const char *opt_name = NULL, *schedule = NULL;
    long epochs = -1, batch = -1, seed = 42, step_size = -1, warmup = -1, limit = 0, crop_pad = -1;
    int flip = 0, profile = 0, mpi_flag = 0;
    double lr = 0, momentum = -1, wd = -1, clip = -1;
    const flag flags[] = {{"--data", FLAG_STR, &data, 0, 0},
                          {"--device", FLAG_STR, &device, 0, 0},
                          {"--checkpoint", FLAG_STR, &ckpt, 0, 0},
                          {"--resume", FLAG_STR, &resume, 0, 0},
                          {"--log", FLAG_STR, &log, 0, 0},
                          {"--optimizer", FLAG_STR, &opt_name, 0, 0},
                          {"--schedule", FLAG_STR, &schedule, 0, 0},
                          {"--epochs", FLAG_INT, &epochs, 1, 100000},
                          {"--batch", FLAG_INT, &batch, 1, 65536},
                          {"--seed", FLAG_INT, &seed, 0, 4e18},
                          {"--step-size", FLAG_INT, &step_size, 1, 1e6},
                          {"--warmup", FLAG_INT, &warmup, 0, 1e6},
                          {"--limit", FLAG_INT, &limit, 1, 1e9},
                          {"--lr", FLAG_FLOAT, &lr, 1e-12, 1e3},
                          {"--momentum", FLAG_FLOAT, &momentum, 0, 0.999999},
                          {"--weight-decay", FLAG_FLOAT, &wd, 0, 10},
                          {"--clip-norm", FLAG_FLOAT, &clip, 0, 1e9},
                          {"--crop-pad", FLAG_INT, &crop_pad, 0, 64},
                          {"--flip", FLAG_BOOL, &flip, 0, 0},
                          {"--profile", FLAG_BOOL, &profile, 0, 0},
                          {"--mpi", FLAG_BOOL, &mpi_flag, 0, 0},
                          {NULL, 0, NULL, 0, 0}};
    const int R = m->size, root = m->rank == 0;
    /* Rank 0 alone prints the run (errors still reach stderr from every rank). */
    if (!root && !freopen("/dev/null", "w", stdout)) return EXIT_FAIL;
    double t_start = now_s();
    char why[1024] = "", agreed[1200] = "", devbuf[32];
    vd_context *ctx = NULL;
    vd_dataset *train = NULL, *test = NULL;
    vd_net *net = NULL;
    FILE *logf = NULL;
    vd_train_state state;
    vd_train_state_init(&state);
    vd_optim_options o;
    vd_train_recipe rec; /* the model file's [net] training keys */
    vd_train_recipe_init(&rec);
    const char *pos[1];
    int npos, help;
    vd_optim_kind kind = VD_OPTIM_ADAM;
    int sched = -1;
    int rc = cli_parse("train", argc, argv, flags, pos, 1, &npos, &help);
    if (help) {
        if (root) fputs(USAGE_TRAIN, stdout);
        return EXIT_OK; /* every rank reads the same --help: nobody waits */
    }
    if (rc) SETUP_FAIL(rc, "%s", ""); /* cli_parse printed it */
    kind = !opt_name                    ? VD_OPTIM_ADAM
           : !strcmp(opt_name, "sgd")   ? VD_OPTIM_SGD
           : !strcmp(opt_name, "adam")  ? VD_OPTIM_ADAM
           : !strcmp(opt_name, "adamw") ? VD_OPTIM_ADAMW
                                        : (vd_optim_kind)-1;
    if ((int)kind < 0)
        SETUP_FAIL(EXIT_USAGE, "--optimizer '%s' is not sgd, adam or adamw", opt_name);
    sched = !schedule                       ? -1
            : !strcmp(schedule, "constant") ? VD_SCHEDULE_CONSTANT
            : !strcmp(schedule, "step")     ? VD_SCHEDULE_STEP
            : !strcmp(schedule, "cosine")   ? VD_SCHEDULE_COSINE
                                            : -2;
    if (sched == -2)
        SETUP_FAIL(EXIT_USAGE, "--schedule '%s' is not constant, step or cosine", schedule);
    if (npos == 0 && !resume)
        SETUP_FAIL(EXIT_USAGE, "missing MODEL.cfg (see 'verdant train --help')");
    if (batch > 0 && batch % R)
        SETUP_FAIL(EXIT_USAGE, "--batch %ld (global) does not divide by the %d ranks", batch, R);
    rc = EXIT_FAIL;
    if (open_context(rank_device(m, device, devbuf, sizeof(devbuf)), &ctx) != VD_OK)
        SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(NULL));
    if (load_split(data, "train", limit, &train) != VD_OK ||
        load_split(data, "test", 0, &test) != VD_OK)
        SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(NULL));
    if (root && log && !(logf = fopen(log, "a"))) SETUP_FAIL(EXIT_FAIL, "cannot open log '%s'", log);
    if (resume) {
        vd_optim_options_init(&o, kind);
        /* The net is built for the per-rank batch: the global one (flag, else the
         * checkpoint's plan, else 64) divided by the ranks. */
        int32_t built = (int32_t)((batch > 0 ? batch : 64) + R - 1) / R;
        if (vd_net_load(ctx, resume, built, &net, &state) != VD_OK)
            SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
        if (batch < 0) batch = state.batch > 0 ? state.batch : 64;
        if (batch % R)
            SETUP_FAIL(EXIT_USAGE,
                       "the checkpoint's batch %ld (global) does not divide by the %d ranks: "
                       "give --batch",
                       batch, R);
        if (batch / R != built) {
            vd_net_destroy(net);
            net = NULL;
            if (vd_net_load(ctx, resume, (int32_t)(batch / R), &net, &state) != VD_OK)
                SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
        }
        if (epochs < 0) epochs = state.epochs > 0 ? state.epochs : 5;
        printf("resumed from %s after epoch %d", resume, (int)state.epoch);
        if (state.epochs > 0)
            printf(" (planned: %d epochs, schedule %s, batch %d)", (int)state.epochs,
                   state.schedule == VD_SCHEDULE_COSINE ? "cosine"
                   : state.schedule == VD_SCHEDULE_STEP ? "step"
                                                        : "constant",
                   (int)state.batch);
        else printf(" (checkpoint holds no plan: schedule and augmentation from the flags)");
        printf("\n");
        if (epochs <= state.epoch)
            printf("nothing to do: %d epochs done, --epochs %ld (give a larger --epochs to go "
                   "on)\n",
                   (int)state.epoch, epochs);
    } else {
        /* flag given > the model file's [net] recipe > built-in default */
        if (vd_net_load_cfg(ctx, pos[0], &net) != VD_OK ||
            vd_net_train_recipe(net, &rec) != VD_OK)
            SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
        if (!opt_name && rec.optimizer[0]) {
            opt_name = rec.optimizer;
            kind = !strcmp(opt_name, "sgd")    ? VD_OPTIM_SGD
                   : !strcmp(opt_name, "adamw") ? VD_OPTIM_ADAMW
                                                : VD_OPTIM_ADAM;
        }
        if (sched < 0 && rec.schedule[0])
            sched = !strcmp(rec.schedule, "cosine") ? VD_SCHEDULE_COSINE
                    : !strcmp(rec.schedule, "step") ? VD_SCHEDULE_STEP
                                                    : VD_SCHEDULE_CONSTANT;
        if (epochs < 0) epochs = rec.epochs > 0 ? rec.epochs : 5;
        if (batch < 0) batch = rec.batch > 0 ? rec.batch : 64;
        if (batch % R)
            SETUP_FAIL(EXIT_USAGE,
                       "the model file's batch %ld (global) does not divide by the %d ranks: "
                       "give --batch",
                       batch, R);
        if (lr <= 0 && rec.lr > 0) lr = rec.lr;
        if (momentum < 0) momentum = rec.momentum >= 0 ? rec.momentum : 0.9;
        if (wd < 0) wd = rec.weight_decay >= 0 ? rec.weight_decay : 0;
        if (clip < 0) clip = rec.clip_norm >= 0 ? rec.clip_norm : 0;
        if (warmup < 0 && rec.warmup >= 0) warmup = rec.warmup;
        if (step_size < 0 && rec.step_size > 0) step_size = rec.step_size;
        if (crop_pad < 0 && rec.crop_pad >= 0) crop_pad = rec.crop_pad;
        if (!flip && rec.flip > 0) flip = 1;
        vd_optim_options_init(&o, kind);
        if (vd_net_build(net, (int32_t)(batch / R)) != VD_OK)
            SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
        if (lr > 0) o.lr = (float)lr;
        o.momentum = (float)momentum;
        o.weight_decay = (float)wd;
        o.clip_norm = (float)clip;
        if (vd_net_set_optimizer(net, &o) != VD_OK) SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
        state.shuffle_seed = (uint64_t)seed;
        state.lr = o.lr;
        /* What the run resolved to; a sample model's header documents this line
         * ("resolves to: ..."), which tests/cli/test_cli.sh checks. */
        printf("recipe: optimizer %s, lr %g, schedule %s, warmup %ld, epochs %ld, batch %ld, "
               "weight_decay %g\n",
               opt_name ? opt_name : "adam", (double)o.lr,
               sched == VD_SCHEDULE_COSINE ? "cosine"
               : sched == VD_SCHEDULE_STEP ? "step"
                                           : "constant",
               warmup > 0 ? warmup : 0L, epochs, batch, (double)o.weight_decay);
    }
    if (profile && vd_context_set_profiling(ctx, 1) != VD_OK)
        SETUP_FAIL(EXIT_FAIL, "%s", vd_last_error(ctx));
    rc = EXIT_OK;
agree:
    /* Every rank gets here, failed or not; no rank goes on alone. */
    if (!cli_mpi_agree(m, rc == EXIT_OK, why, agreed, sizeof(agreed))) {
        if (root && agreed[0] && (R > 1 || why[0]))
            fprintf(stderr, "verdant train: %s\n", R > 1 ? agreed : why);
        if (rc == EXIT_OK) rc = EXIT_FAIL;
        goto done;
    }
    if (m->on) {
        /* The same layers, shapes, recipe and initial (or resumed) weights on every rank,
         * checked by the library on every rank at once; then the same plan. */
        if (vd_net_set_distributed(net, NULL) != VD_OK) {
            if (root) fprintf(stderr, "verdant train: %s\n", vd_last_error(ctx));
            rc = EXIT_FAIL;
            goto done;
        }
        static const char *what[] = {"--batch (global)",
                                     "--epochs",
                                     "the epoch to start from (--resume)",
                                     "the learning rate (--lr or the checkpoint)",
                                     "the shuffle seed (--seed or the checkpoint)",
                                     "the training images (--data, --limit)",
                                     "the test images (--data)",
                                     "--momentum",
                                     "--weight-decay",
                                     "--clip-norm",
                                     "--optimizer",
                                     "--schedule",
                                     "--step-size",
                                     "--warmup",
                                     "--crop-pad",
                                     "--flip"};
        double plan[] = {(double)batch,
                         (double)epochs,
                         (double)state.epoch,
                         (double)state.lr,
                         (double)state.shuffle_seed,
                         (double)vd_dataset_count(train),
                         (double)vd_dataset_count(test),
                         momentum,
                         wd,
                         clip,
                         (double)kind,
                         (double)sched,
                         (double)step_size,
                         (double)warmup,
                         (double)crop_pad,
                         (double)flip},
               lo[16], hi[16];
        int k = cli_mpi_differ(m, plan, 16, lo, hi);
        if (k >= 0) {
            if (root)
                fprintf(stderr,
                        "verdant train: the ranks disagree on %s (%.9g on some, %.9g on others): "
                        "start every rank with the same command line and files\n",
                        what[k], lo[k], hi[k]);
            rc = EXIT_FAIL;
            goto done;
        }
    }
    rc = EXIT_FAIL;
    /* The plan: flags given override the checkpoint's; it is saved with every checkpoint. */
    if (sched >= 0) state.schedule = sched;
    if (step_size > 0) state.step_size = (int32_t)step_size;
    if (warmup >= 0) state.warmup = (int32_t)warmup;
    if (crop_pad >= 0) state.crop_pad = (int32_t)crop_pad;
    if (flip) state.flip = 1;
    state.epochs = (int32_t)epochs;
    state.batch = (int32_t)batch; /* global: a checkpoint resumes with any rank count */
    vd_device_info dev;
    vd_context_device(ctx, &dev);
    printf("device %d:%d %s (%s)\n", (int)dev.platform_index, (int)dev.device_index, dev.name,
           dev.platform_name);
    if (R > 1) {
        char mine[160], *all = root ? calloc((size_t)R, sizeof(mine)) : NULL;
        snprintf(mine, sizeof(mine), "local rank %d of %d, device %d:%d %s", m->local_rank,
                 m->local_size, (int)dev.platform_index, (int)dev.device_index, dev.name);
        cli_mpi_gather(m, mine, all, sizeof(mine));
        for (int r = 0; all && r < R; r++) printf("  rank %d: %s\n", r, all + (size_t)r * sizeof(mine));
        free(all);
    }
    printf("%zu train / %zu test images, %zu parameters, optimizer %s, batch %ld", vd_dataset_count(train),
           vd_dataset_count(test), vd_net_param_count(net), opt_name ? opt_name : "adam", batch);
    if (R > 1) printf(" (global: %d ranks x %ld)", R, batch / R);
    printf("\n");
    double startup_s = now_s() - t_start;
    printf("startup %.0f ms\n", startup_s * 1e3);
    vd_meter_info meter;
    vd_context_meter(ctx, &meter);
    if (meter.available) printf("energy: %s meter, %s%s\n", meter.name, meter.detail,
                                R > 1 ? " (rank 0's device only)" : "");
    else printf("energy: unavailable (%s)\n", meter.detail);
    vd_train_options to;
    vd_train_options_init(&to);
    to.batch = (int32_t)(batch / R);
    to.seed = state.shuffle_seed;
    to.crop_pad = state.crop_pad;
    to.flip = state.flip;
    progress_user pu = {{0, 0}, R};
    to.user = &pu;
    if (!root) to.progress = NULL;
    else if (isatty(fileno(stderr))) to.progress = progress;
    else to.progress = progress_lines;
    vd_dist_stats prev;
    vd_net_dist_stats(net, &prev);
    for (long e = state.epoch + 1; e <= epochs; e++) {
        float elr = vd_schedule_lr(&state, (int32_t)e);
        vd_epoch_stats es;
        vd_eval_stats ev;
        if (vd_net_set_lr(net, elr) != VD_OK ||
            vd_net_train_epoch(net, train, (int32_t)e, &to, &es) != VD_OK) {
            rc = die(m, vd_last_error(ctx));
            goto done;
        }
        /* The job's figures: loss and accuracy over every rank's samples, the slowest
         * rank's time; the reductions' time averaged over the ranks. */
        vd_dist_stats ds;
        vd_net_dist_stats(net, &ds);
        double sums[6] = {es.loss * (double)es.samples, es.train_accuracy * (double)es.samples,
                          (double)es.samples, ds.wait_seconds - prev.wait_seconds,
                          ds.copy_seconds - prev.copy_seconds,
                          ds.allreduce_seconds - prev.allreduce_seconds},
               slowest = es.seconds;
        prev = ds;
        cli_mpi_sum(m, sums, 6);
        cli_mpi_max(m, &slowest, 1);
        if (R > 1) {
            es.samples = (int64_t)sums[2];
            es.loss = sums[0] / sums[2];
            es.train_accuracy = sums[1] / sums[2];
            es.seconds = slowest;
            es.images_per_second = slowest > 0 ? sums[2] / slowest : 0.0;
        }
        if (!root) continue; /* rank 0 alone evaluates, prints, logs and checkpoints */
        if (vd_net_evaluate(net, test, &ev) != VD_OK) {
            rc = die(m, vd_last_error(ctx));
            goto done;
        }
        printf("epoch %ld/%ld  loss %.4f  train %.2f%%  test %.2f%%  lr %.3g  %.1f s  %.0f img/s",
               e, epochs, es.loss, 100 * es.train_accuracy, 100 * ev.accuracy, elr, es.seconds,
               es.images_per_second);
        if (es.has_energy)
            printf("  %.1f J  %.1f W  %.1f img/J (%s)\n", es.joules, es.watts, es.images_per_joule,
                   es.meter);
        else printf("  energy n/a\n");
        double comm = (sums[4] + sums[5]) / R;
        if (R > 1)
            printf("  %d ranks: per rank %.2f s of %.2f s in gradient communication (%.1f%%): "
                   "MPI_Allreduce %.2f s (includes waiting for the slowest rank), copies %.2f "
                   "s; waiting for backward %.2f s\n",
                   R, comm, es.seconds, es.seconds > 0 ? 100 * comm / es.seconds : 0.0,
                   sums[5] / R, sums[4] / R, sums[3] / R);
        /* Time to the first finished training step of this process: start-up (context,
         * programs, data, net) plus the first step (with any compilation or algorithm
         * measurement it triggered) - the warm-start figure of docs/BENCHMARKS.md. */
        bool first = e == state.epoch + 1;
        double first_step_s = startup_s + es.first_batch_seconds;
        if (first) printf("first step done %.0f ms after start\n", first_step_s * 1e3);
        if (profile) vd_net_profile_report(net, stdout);
        fflush(stdout);
        if (logf) {
            fprintf(logf,
                    "{\"epoch\": %ld, \"loss\": %.6f, \"train_acc\": %.6f, \"test_loss\": %.6f, "
                    "\"test_acc\": %.6f, \"lr\": %.6g, \"seconds\": %.3f, \"images_per_s\": %.1f, "
                    "\"device\": ",
                    e, es.loss, es.train_accuracy, ev.loss, ev.accuracy, elr, es.seconds,
                    es.images_per_second);
            log_str(logf, dev.name);
            if (es.has_energy)
                fprintf(logf, ", \"joules\": %.3f, \"watts\": %.3f, \"images_per_joule\": %.4f",
                        es.joules, es.watts, es.images_per_joule);
            else fprintf(logf, ", \"joules\": null, \"watts\": null, \"images_per_joule\": null");
            fprintf(logf, ", \"meter\": ");
            if (es.has_energy) log_str(logf, es.meter);
            else fprintf(logf, "null");
            fprintf(logf, ", \"energy_note\": ");
            log_str(logf, es.energy_note);
            if (first)
                fprintf(logf, ", \"startup_ms\": %.1f, \"first_step_ms\": %.1f", startup_s * 1e3,
                        first_step_s * 1e3);
            if (R > 1)
                fprintf(logf, ", \"ranks\": %d, \"comm_seconds\": %.3f, \"allreduce_seconds\": %.3f",
                        R, comm, sums[5] / R);
            fprintf(logf, "}\n");
            fflush(logf);
        }
        state.epoch = (int32_t)e;
        if (ev.accuracy > state.best_accuracy) state.best_accuracy = ev.accuracy;
        if (ckpt && vd_net_save(net, ckpt, &state) != VD_OK) {
            rc = die(m, vd_last_error(ctx));
            goto done;
        }
    }
    rc = EXIT_OK;
done:
    if (logf) fclose(logf);
    vd_net_destroy(net);
    vd_dataset_destroy(train);
    vd_dataset_destroy(test);
    vd_context_destroy(ctx);
    return rc;
}
#undef SETUP_FAIL

int cmd_eval(int argc, char **argv)
{
    const char *data = DEFAULT_DATA, *device = NULL;
    long batch = 256;
    const flag flags[] = {{"--data", FLAG_STR, &data, 0, 0},
                          {"--device", FLAG_STR, &device, 0, 0},
                          {"--batch", FLAG_INT, &batch, 1, 65536},
                          {NULL, 0, NULL, 0, 0}};
    const char *pos[1];
    int npos, help;
    int rc = cli_parse("eval", argc, argv, flags, pos, 1, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_EVAL, stdout), EXIT_OK) : rc;
    if (npos == 0) {
        fprintf(stderr, "verdant eval: missing CHECKPOINT (see 'verdant eval --help')\n");
        return EXIT_USAGE;
    }
    vd_context *ctx = NULL;
    vd_dataset *test = NULL;
    vd_net *net = NULL;
    float *x = NULL, *out = NULL;
    int32_t *y = NULL;
    uint32_t *idx = NULL;
    long *conf = NULL;
    rc = EXIT_FAIL;
    if (open_context(device, &ctx) != VD_OK || load_split(data, "test", 0, &test) != VD_OK) {
        fail("eval", NULL);
        goto done;
    }
    if (cli_load_model(ctx, pos[0], (int32_t)batch, &net, NULL) != VD_OK) {
        fail("eval", ctx);
        goto done;
    }
    int64_t sh[3];
    vd_dataset_sample_shape(test, sh);
    size_t in = (size_t)(sh[0] * sh[1] * sh[2]), k = vd_net_output_size(net),
           n = vd_dataset_count(test);
    int classes = (int)k;
    x = malloc((size_t)batch * in * sizeof(float));
    out = malloc((size_t)batch * k * sizeof(float));
    y = malloc((size_t)batch * sizeof(int32_t));
    idx = malloc((size_t)batch * sizeof(uint32_t));
    conf = calloc((size_t)classes * (size_t)classes, sizeof(long));
    if (!x || !out || !y || !idx || !conf) {
        fprintf(stderr, "verdant eval: out of memory\n");
        goto done;
    }
    long correct = 0;
    for (size_t first = 0; first < n; first += (size_t)batch) {
        size_t nb = n - first < (size_t)batch ? n - first : (size_t)batch;
        for (size_t i = 0; i < nb; i++) idx[i] = (uint32_t)(first + i);
        if (vd_dataset_batch(test, idx, nb, x, y) != VD_OK) {
            fail("eval", NULL);
            goto done;
        }
        if (vd_net_predict(net, x, (int32_t)nb, out) != VD_OK) {
            fail("eval", ctx);
            goto done;
        }
        for (size_t i = 0; i < nb; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (out[i * k + (size_t)c] > out[i * k + (size_t)best]) best = c;
            if (y[i] >= 0 && y[i] < classes) conf[y[i] * classes + best]++;
            correct += best == y[i];
        }
    }
    printf("accuracy %.2f%% (%ld / %zu)\n\nper class:\n", 100.0 * (double)correct / (double)n,
           correct, n);
    for (int c = 0; c < classes; c++) {
        long row = 0;
        for (int j = 0; j < classes; j++) row += conf[c * classes + j];
        printf("  class %2d  %6.2f%%  (%ld images)\n", c,
               row ? 100.0 * (double)conf[c * classes + c] / (double)row : 0.0, row);
    }
    printf("\nconfusion matrix (rows: true, columns: predicted):\n      ");
    for (int j = 0; j < classes; j++) printf("%6d", j);
    printf("\n");
    for (int c = 0; c < classes; c++) {
        printf("  %2d  ", c);
        for (int j = 0; j < classes; j++) printf("%6ld", conf[c * classes + j]);
        printf("\n");
    }
    rc = EXIT_OK;
done:
    free(x);
    free(out);
    free(y);
    free(idx);
    free(conf);
    vd_net_destroy(net);
    vd_dataset_destroy(test);
    vd_context_destroy(ctx);
    return rc;
}

int cmd_plan(int argc, char **argv)
{
    const char *device = NULL;
    long batch = 64;
    const flag flags[] = {{"--device", FLAG_STR, &device, 0, 0},
                          {"--batch", FLAG_INT, &batch, 1, 65536},
                          {NULL, 0, NULL, 0, 0}};
    const char *pos[1];
    int npos, help;
    int rc = cli_parse("plan", argc, argv, flags, pos, 1, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_PLAN, stdout), EXIT_OK) : rc;
    if (npos == 0) {
        fprintf(stderr, "verdant plan: missing MODEL.cfg (see 'verdant plan --help')\n");
        return EXIT_USAGE;
    }
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    rc = EXIT_FAIL;
    if (open_context(device, &ctx) != VD_OK) {
        fail("plan", NULL);
        goto done;
    }
    vd_context_stats before, after;
    vd_context_stats_get(ctx, &before);
    if (vd_net_load_cfg(ctx, pos[0], &net) != VD_OK || vd_net_build(net, (int32_t)batch) != VD_OK) {
        fail("plan", ctx);
        goto done;
    }
    vd_context_stats_get(ctx, &after);
    vd_net_summary(net, stdout);
    printf("device memory at batch %ld: %.2f MiB (activations, gradients, parameters)\n", batch,
           (double)(after.pool_bytes_in_use - before.pool_bytes_in_use) / (1024.0 * 1024.0));
    /* The rest of the peak appears on the first step: every layer's workspace for the
     * algorithm chosen for it (choosing may measure them) and the optimizer's state. A dry
     * step on zeros shows it exactly. */
    size_t in = vd_net_input_size(net);
    float *x = calloc((size_t)batch * (in ? in : 1), sizeof(float));
    int32_t *labels = calloc((size_t)batch, sizeof(int32_t));
    float loss = 0;
    vd_optim_options oo;
    vd_optim_options_init(&oo, VD_OPTIM_ADAM); /* the default of verdant train */
    if (x && labels && vd_net_set_optimizer(net, &oo) == VD_OK &&
        vd_net_train_step(net, x, labels, NULL, (int32_t)batch, &loss) == VD_OK) {
        vd_context_stats_get(ctx, &after);
        printf("device memory at batch %ld after one training step: %.2f MiB (adds workspaces "
               "of the chosen convolution algorithms and the optimizer state)\n",
               batch,
               (double)(after.pool_bytes_in_use - before.pool_bytes_in_use) / (1024.0 * 1024.0));
    } else {
        printf("(no dry training step: %s)\n", x && labels ? vd_last_error(ctx) : "out of memory");
    }
    free(x);
    free(labels);
    rc = EXIT_OK;
done:
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return rc;
}

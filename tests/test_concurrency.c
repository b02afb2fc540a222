/* test_concurrency.c - several contexts at once.
 *  1. Two threads, each with its own context (and queue), train at the same time and get
 *     bit for bit the weights that the same jobs give when run one at a time (an MLP and a
 *     CNN, then two copies of the same job).
 *  2. Two threads and then two processes start with an empty program cache and compile and
 *     store the same programs at the same moment (released together through a barrier or a
 *     pipe). Afterwards the cache is valid: a new context loads every program from it
 *     (nothing compiled), computes correctly, and no temporary file is left behind.
 * The child processes are this binary run again (test_concurrency --cache-child DIR), so
 * no OpenCL state crosses a fork. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ops/ops.h"
#include "rel_common.h"

#define SIDE 8
#define BATCH 8

static vd_dataset *g_ds;

typedef struct job {
    bool cnn;
    uint64_t seed;
    const char *cache_dir; /* NULL: the default */
    pthread_barrier_t *start;
    /* results */
    uint64_t hash;
    vd_status st;
    char err[512];
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    vd_context_options co;
    vd_context_options_init(&co);
    co.cache_dir = j->cache_dir;
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    j->hash = 0;
    j->st = vd_context_create(&co, &ctx);
    if (j->start) pthread_barrier_wait(j->start); /* both contexts exist: go together */
    if (j->st != VD_OK) goto done;
    j->st = j->cnn ? rel_cnn(ctx, j->seed, BATCH, &net)
                   : rel_mlp(ctx, SIDE, j->seed, BATCH, true, &net);
    vd_train_options o;
    vd_train_options_init(&o);
    o.batch = BATCH;
    o.seed = j->seed;
    o.flip = 1;
    for (int32_t e = 1; e <= 2 && j->st == VD_OK; e++)
        j->st = vd_net_train_epoch(net, g_ds, e, &o, NULL);
    if (j->st == VD_OK) j->hash = rel_hash_params(net, &j->st);
done:
    snprintf(j->err, sizeof(j->err), "%s", j->st == VD_OK ? "" : vd_last_error(ctx));
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return NULL;
}

static void two_at_once(job *a, job *b)
{
    pthread_t ta, tb;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    a->start = b->start = &bar;
    pthread_create(&ta, NULL, run_job, a);
    pthread_create(&tb, NULL, run_job, b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    a->start = b->start = NULL;
}

static void training(void)
{
    job mlp = {.cnn = false, .seed = 42}, cnn = {.cnn = true, .seed = 7};
    run_job(&mlp);
    run_job(&cnn);
    if (!expect_true("sequential MLP job", mlp.st == VD_OK) ||
        !expect_true("sequential CNN job", cnn.st == VD_OK)) {
        printf("  %s %s\n", mlp.err, cnn.err);
        return;
    }
    int same = 0, rounds = 3;
    for (int r = 0; r < rounds; r++) {
        job a = {.cnn = false, .seed = 42}, b = {.cnn = true, .seed = 7};
        two_at_once(&a, &b);
        if (a.st != VD_OK || b.st != VD_OK) printf("  round %d: %s %s\n", r, a.err, b.err);
        same += a.hash == mlp.hash && b.hash == cnn.hash;
        job c = {.cnn = true, .seed = 7}, d = {.cnn = true, .seed = 7};
        two_at_once(&c, &d);
        same += c.hash == cnn.hash && d.hash == cnn.hash;
    }
    char label[160];
    snprintf(label, sizeof(label),
             "two contexts in two threads give the sequential weights bit for bit (%d of %d "
             "rounds)",
             same, 2 * rounds);
    expect_true(label, same == 2 * rounds);
    printf("concurrency: %d of %d two-thread rounds matched the one-at-a-time weights "
           "(mlp %016llx, cnn %016llx)\n",
           same, 2 * rounds, (unsigned long long)mlp.hash, (unsigned long long)cnn.hash);
}

/* ---------------------------------------------------------------- the program cache */

/* Build util.cl's program (its fill kernel) and fill + read a tensor: 0 when the values
 * come back right. */
static int cache_user(const char *dir, vd_context_stats *stats)
{
    vd_context_options co;
    vd_context_options_init(&co);
    co.cache_dir = dir;
    vd_context *ctx = NULL;
    vd_tensor *t = NULL;
    int bad = 1;
    if (vd_context_create(&co, &ctx) != VD_OK) goto done;
    float v[100];
    if (vd_tensor_create(ctx, 1, (int64_t[]){100}, &t) != VD_OK ||
        vd_op_fill(ctx, 100, 2.5f, t->mem, t->offset) || vd_tensor_read(t, v, 100))
        goto done;
    bad = 0;
    for (int i = 0; i < 100; i++) bad |= v[i] != 2.5f;
    if (stats) vd_context_stats_get(ctx, stats);
done:
    if (bad && ctx) fprintf(stderr, "cache user: %s\n", vd_last_error(ctx));
    vd_tensor_destroy(t);
    vd_context_destroy(ctx);
    return bad;
}

static void *cache_thread(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->st = cache_user(j->cache_dir, NULL) ? VD_ERR_INTERNAL : VD_OK;
    return NULL;
}

/* Files in dir: *bins entries, *tmps leftovers of interrupted writes. */
static void scan(const char *dir, int *bins, int *tmps)
{
    *bins = *tmps = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strstr(e->d_name, ".tmp.")) (*tmps)++;
        else if (strstr(e->d_name, ".bin")) (*bins)++;
    }
    if (d) closedir(d);
}

static void check_cache(const char *how, const char *dir)
{
    int bins, tmps;
    scan(dir, &bins, &tmps);
    vd_context_stats st = {0};
    char label[200];
    snprintf(label, sizeof(label), "%s: a new context computes right from the cache", how);
    expect_true(label, cache_user(dir, &st) == 0);
    snprintf(label, sizeof(label),
             "%s: ... loading every program from it (%llu loaded, %llu compiled, %d entries)", how,
             (unsigned long long)st.programs_loaded_from_cache,
             (unsigned long long)st.programs_built_from_source, bins);
    expect_true(label, st.programs_loaded_from_cache >= 1 && st.programs_built_from_source == 0);
    snprintf(label, sizeof(label), "%s: no temporary files left (%d)", how, tmps);
    expect_true(label, tmps == 0);
}

static void cache_writers(const char *self, const char *base)
{
    char dir[300], cmd[700];
    /* Two threads of this process. */
    snprintf(dir, sizeof(dir), "%s/threads", base);
    job a = {0}, b = {0};
    a.cache_dir = b.cache_dir = dir;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    a.start = b.start = &bar;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, cache_thread, &a);
    pthread_create(&tb, NULL, cache_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    expect_true("two threads compiling into an empty cache both compute right",
                a.st == VD_OK && b.st == VD_OK);
    check_cache("two threads", dir);

    /* Two processes, released together by closing a pipe. */
    snprintf(dir, sizeof(dir), "%s/processes", base);
    int go[2];
    if (pipe(go) != 0) {
        expect_true("pipe", false);
        return;
    }
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) < 0) _exit(3); /* returns 0 when the parent closes it */
            execl(self, self, "--cache-child", dir, (char *)NULL);
            _exit(2);
        }
    }
    close(go[0]);
    usleep(1000);
    close(go[1]);
    int ok = 0;
    for (int k = 0; k < 2; k++) {
        int status = 0;
        waitpid(kids[k], &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    expect_true("two processes compiling into an empty cache both compute right", ok == 2);
    check_cache("two processes", dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/threads' '%s/processes'", base, base);
    if (system(cmd) != 0) printf("could not clean %s\n", base);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--cache-child")) return cache_user(argv[2], NULL);
    vd_context *probe = NULL;
    if (test_context(&probe)) return check_summary(); /* no device: skipped */
    vd_context_destroy(probe);
    char dir[256];
    if (rel_tempdir(dir, "vd-concurrency") != 0 || rel_dataset(dir, 4 * BATCH, SIDE, 5, &g_ds)) {
        expect_true("synthetic dataset", false);
        return check_summary();
    }
    training();
    cache_writers("/proc/self/exe", dir);
    vd_dataset_destroy(g_ds);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

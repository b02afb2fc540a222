/* crash_kill.c - crash safety of checkpoints. A child process (this binary run again with
 * --child, so no OpenCL state crosses a fork) trains and saves a checkpoint after every
 * step, to the same path, forever. The parent kills it with SIGKILL, VD_CRASH_KILLS times
 * (default 40): half at a random moment (0-40 ms after the first checkpoint exists), half
 * while a checkpoint is being written (the child's temporary file exists; killed 0-0.5 ms
 * later). After every kill the checkpoint at the path must load, hold the state of some
 * finished save (its step counter and epoch agree), and training must resume from it.
 * Prints the counts (kills, kills that landed mid-write, failures) for
 * docs/RELIABILITY.md. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/net.h"
#include "rel_common.h"

#define SIDE 28 /* 25,450 parameters: with Adam's moments a 300 KB checkpoint */
#define BATCH 16

static float xs[BATCH * SIDE * SIDE];
static int32_t ys[BATCH];

/* The child: train one step, save, repeat; one byte on fd `ready` after the first save. */
static int child(const char *path, int ready)
{
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    if (vd_context_create(NULL, &ctx) != VD_OK || rel_mlp(ctx, SIDE, 9, BATCH, false, &net))
        return 2;
    vd_train_state ts;
    vd_train_state_init(&ts);
    for (int32_t it = 1;; it++) {
        if (vd_net_train_step(net, xs, ys, NULL, BATCH, NULL) != VD_OK) return 3;
        ts.epoch = it; /* one "epoch" per step: the loaded state says which save it was */
        if (vd_net_save(net, path, &ts) != VD_OK) {
            fprintf(stderr, "child: %s\n", vd_last_error(ctx));
            return 4;
        }
        if (it == 1 && write(ready, "r", 1) != 1) return 5;
    }
}

static long rand_below(uint64_t *s, long n)
{
    return (long)(test_rand_u64(s) % (uint64_t)n);
}

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

int main(int argc, char **argv)
{
    rel_batch(3, BATCH, SIDE, xs, ys);
    if (argc == 4 && !strcmp(argv[1], "--child")) return child(argv[2], atoi(argv[3]));
    vd_context *ctx = NULL;
    if (test_context(&ctx)) return check_summary();
    char dir[256], path[320], tmp[400];
    if (rel_tempdir(dir, "vd-crash") != 0) {
        expect_true("temporary directory", false);
        return check_summary();
    }
    snprintf(path, sizeof(path), "%s/train.ckpt", dir);
    int kills = getenv("VD_CRASH_KILLS") ? atoi(getenv("VD_CRASH_KILLS")) : 40;
    uint64_t rng = 20240601;
    int mid_write = 0, failures = 0, loaded = 0, resumed = 0;
    int32_t last_epoch = 0;
    for (int k = 0; k < kills; k++) {
        int p[2];
        if (pipe(p) != 0) break;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            char fd[16];
            snprintf(fd, sizeof(fd), "%d", p[1]);
            execl("/proc/self/exe", "crash_kill", "--child", path, fd, (char *)NULL);
            _exit(6);
        }
        close(p[1]);
        char c;
        bool ready = read(p[0], &c, 1) == 1;
        close(p[0]);
        if (!ready) { /* the child died before its first save */
            int status;
            waitpid(pid, &status, 0);
            printf("kill %d: the child exited early (status %d)\n", k, status);
            failures++;
            continue;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)pid);
        if (k % 2 == 0) {
            sleep_us(rand_below(&rng, 40000));
        } else { /* wait for a write to begin (its temporary file appears), then kill in it */
            for (int spin = 0; spin < 200000 && !exists(tmp); spin++) sleep_us(20);
            sleep_us(rand_below(&rng, 500));
        }
        bool writing = exists(tmp);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        writing = writing || exists(tmp);
        mid_write += writing;
        if (!WIFSIGNALED(status)) {
            printf("kill %d: the child was not killed (status %d)\n", k, status);
            failures++;
        }
        remove(tmp); /* leftovers of the interrupted write: never read, safe to delete */

        /* The checkpoint must load and resume. */
        vd_net *net = NULL;
        vd_train_state ts;
        vd_status st = vd_net_load(ctx, path, BATCH, &net, &ts);
        if (st != VD_OK) {
            printf("kill %d (%s): load failed: %s\n", k, writing ? "mid-write" : "between",
                   vd_last_error(ctx));
            failures++;
            continue;
        }
        loaded++;
        bool ok = ts.epoch >= 1 && (uint64_t)ts.epoch == net->step && ts.epoch >= 1;
        float loss = NAN;
        if (ok) ok = vd_net_train_step(net, xs, ys, NULL, BATCH, &loss) == VD_OK && isfinite(loss);
        if (ok) resumed++;
        else {
            printf("kill %d: checkpoint of save %d (net step %llu) does not resume: %s\n", k,
                   (int)ts.epoch, (unsigned long long)net->step, vd_last_error(ctx));
            failures++;
        }
        last_epoch = ts.epoch;
        vd_net_destroy(net);
    }
    char label[200];
    snprintf(label, sizeof(label), "%d SIGKILLs: the checkpoint loads every time (%d)", kills,
             loaded);
    expect_true(label, loaded == kills);
    snprintf(label, sizeof(label), "... and training resumes from it every time (%d)", resumed);
    expect_true(label, resumed == kills);
    expect_true("some kills landed while a checkpoint was being written", mid_write > 0);
    printf("crash-kill: %d kills, %d while a checkpoint was being written, %d loads, %d resumes, "
           "%d failures (last checkpoint: save %d)\n",
           kills, mid_write, loaded, resumed, failures, (int)last_epoch);
    vd_context_destroy(ctx);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return check_summary();
}

/* test_fault.c - device faults. Out-of-memory requests (more than the device has) return
 * VD_ERR_NO_MEMORY and leave the context usable. Then the fault-injection switch
 * (src/runtime/fault.c) makes the n-th OpenCL (or clFFT) call fail, for every n over a
 * training step, a training epoch, a prediction, a checkpoint save and load and a net
 * build, and over the convolution paths with their own calls: a CNN step with the FFT
 * algorithm forced (clFFT setup, plans, transforms, workspace sub-buffers), the algorithm
 * measurement (its clFinish calls; a failing candidate is skipped with a logged reason, so
 * a clFFT failure falls back to another algorithm), a step whose conv CHOSE fft (from the
 * tuning cache) with each clFFT call failing (the pass switches to im2col and is rerun, or
 * with part of an accumulating pass written the step fails and the next runs im2col),
 * checkpoints of a net with batch norm
 * (its running statistics), and a step inside a profiling window. Each failure must come
 * back as an error status whose message names the failed call and its raw code (or be
 * recovered from, where the runtime has a fallback; a profiling failure is reported by the
 * profiler while the step itself trains), never crash, and leave the network usable: the
 * next step succeeds with a finite loss.
 * Prints one "sweep" line per operation (calls, faults, errors, recovered) for
 * docs/RELIABILITY.md. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "net/net.h"
#include "ops/conv_select.h"
#include "runtime/tune.h"
#include "rel_common.h"

#define SIDE 8
#define BATCH 8
#define INJECT CL_OUT_OF_RESOURCES

static float xs[BATCH * SIDE * SIDE];
static int32_t ys[BATCH];

typedef struct sweep {
    const char *name;
    uint64_t calls, faults, errors, recovered;
    const char *only; /* count and fail only calls of this name (NULL: every call) */
    uint64_t soft;    /* errors reported while the training itself went through */
    /* For recovered faults: true when the run said why (a logged skip, a kept message). */
    bool (*explains)(vd_context *ctx, const char *call);
    uint64_t explained;
} sweep;

/* One operation under test: returns its status. */
typedef vd_status (*op_fn)(vd_context *ctx, void *user);

/* Set by an operation whose failure was only reported (a profiling error after a step that
 * trained); cleared before each call. */
static bool op_soft;

/* What the library logged (stderr, ctx->verbose >= 1) during the last operation run with
 * capture on, for the reasons of recovered faults. */
static bool capture_on;
static char captured[1 << 16];

static vd_status run_op(op_fn op, vd_context *ctx, void *user)
{
    op_soft = false;
    if (!capture_on) return op(ctx, user);
    captured[0] = '\0';
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = tmp ? dup(2) : -1;
    if (saved < 0 || dup2(fileno(tmp), 2) < 0) {
        if (tmp) fclose(tmp);
        if (saved >= 0) close(saved);
        return op(ctx, user);
    }
    vd_status st = op(ctx, user);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    return st;
}

/* A captured log line holding a, b (unless NULL), call and "-> <injected code>"; copied to
 * out (cap bytes) when out is not NULL. */
static bool logged_line(const char *a, const char *b, const char *call, char *out, size_t cap)
{
    char code[16];
    snprintf(code, sizeof(code), "-> %d", (int)INJECT);
    for (const char *line = captured; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
        if (strstr(buf, a) && (!b || strstr(buf, b)) && strstr(buf, call) && strstr(buf, code)) {
            if (out) snprintf(out, cap, "%s", buf);
            return true;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* A logged line saying a measured candidate was skipped because `call` failed with the
 * injected code. */
static bool skip_logged(vd_context *ctx, const char *call)
{
    (void)ctx;
    return logged_line(" skipped: ", NULL, call, NULL, 0);
}

/* The message of an injected failure must name the failed call and the raw code. */
static void check_report(const char *op, vd_context *ctx, vd_status st, uint64_t k,
                         const char *call)
{
    const char *msg = vd_last_error(ctx);
    if (!call) call = "?";
    char code[48], label[512];
    snprintf(code, sizeof(code), "%d", (int)INJECT);
    bool ok = strstr(msg, call) != NULL && strstr(msg, code) != NULL &&
              (st == VD_ERR_OPENCL || st == VD_ERR_BUILD || st == VD_ERR_BLAS || st == VD_ERR_FFT);
    snprintf(label, sizeof(label), "%s, fault at call %llu (%s): status %s names the call and %s",
             op, (unsigned long long)k, call, vd_status_name(st), code);
    if (!ok) printf("  message: %s\n", msg);
    expect_true(label, ok);
}

/* The sweep's line for docs/RELIABILITY.md; `which` names the calls swept (NULL: all). */
static void print_sweep(const sweep *sw, const char *which)
{
    printf("sweep %-12s %4llu calls, %4llu faults injected, %4llu errors reported, %llu "
           "recovered",
           sw->name, (unsigned long long)sw->calls, (unsigned long long)sw->faults,
           (unsigned long long)sw->errors, (unsigned long long)sw->recovered);
    if (sw->soft)
        printf(" (%llu errors from the profiler after a step that trained)",
               (unsigned long long)sw->soft);
    if (sw->explained) printf(" (%llu with the reason logged)", (unsigned long long)sw->explained);
    if (which) printf(" [%s]", which);
    printf("\n");
}

/* Fail call k of op (of calls named sw->only, if set) for every k until op makes fewer
 * than k calls; after each fault run `after` (a plain training step) and require it to
 * succeed. A recovered fault is counted as a fallback when the log says why. */
static void run_sweep(sweep *sw, vd_context *ctx, op_fn op, void *user, op_fn after, void *auser)
{
    vd_fault_arm(ctx, 0, 0, sw->only); /* count only */
    vd_status st = run_op(op, ctx, user);
    sw->calls = ctx->fault.seen;
    if (!EXPECT_OK(ctx, st)) return;
    int bad_after = 0;
    for (uint64_t k = 1; k <= sw->calls; k++) {
        vd_fault_arm(ctx, k, INJECT, sw->only);
        st = run_op(op, ctx, user);
        bool fired = ctx->fault.fired > 0;
        const char *call = ctx->fault.last;
        vd_fault_arm(ctx, 0, 0, NULL);
        if (!fired) break; /* fewer calls this time (a lazily built object already exists) */
        sw->faults++;
        if (st == VD_OK) {
            sw->recovered++;
            if (sw->explains && sw->explains(ctx, call)) sw->explained++;
        } else {
            sw->errors++;
            if (op_soft) sw->soft++;
            check_report(sw->name, ctx, st, k, call);
        }
        vd_status st2 = run_op(after, ctx, auser);
        if (st2 != VD_OK && bad_after++ < 5)
            printf("  after the fault at call %llu of %s: %s: %s\n", (unsigned long long)k,
                   sw->name, vd_status_name(st2), vd_last_error(ctx));
    }
    char label[160];
    snprintf(label, sizeof(label), "%s: every operation after an injected fault succeeds",
             sw->name);
    expect_true(label, bad_after == 0);
    snprintf(label, sizeof(label), "%s: each of its %llu OpenCL calls was failed once", sw->name,
             (unsigned long long)sw->calls);
    expect_true(label, sw->faults == sw->calls && sw->calls > 0);
    print_sweep(sw, sw->only);
}

/* ---------------------------------------------------------------- operations */

typedef struct env {
    vd_net *net;
    vd_dataset *ds;
    char path[300];
    char dir[256];
} env;

/* The convolution of fft_cnn, for the algorithm measurement. */
static const vd_conv_geom fft_geom = {1, 8, 8, 4, 8, 8, 5, 5, 1, 1, 2, 2, 1, 1, 1};

static vd_status op_step(vd_context *ctx, void *user)
{
    env *e = user;
    float loss = 0;
    vd_status st = vd_net_train_step(e->net, xs, ys, NULL, BATCH, &loss);
    if (st == VD_OK && !isfinite(loss))
        return vd_error_set(ctx, VD_ERR_NUMERIC, "loss %g after a fault", (double)loss);
    return st;
}

static vd_status op_epoch(vd_context *ctx, void *user)
{
    env *e = user;
    vd_train_options o;
    vd_train_options_init(&o);
    o.batch = BATCH;
    o.progress_every = 0;
    vd_epoch_stats es;
    return vd_net_train_epoch(e->net, e->ds, 1, &o, &es);
}

static vd_status op_eval(vd_context *ctx, void *user)
{
    env *e = user;
    vd_eval_stats ev;
    return vd_net_evaluate(e->net, e->ds, &ev);
}

static vd_status op_predict(vd_context *ctx, void *user)
{
    env *e = user;
    float out[BATCH * 10];
    return vd_net_predict(e->net, xs, BATCH, out);
}

static vd_status op_save(vd_context *ctx, void *user)
{
    env *e = user;
    return vd_net_save(e->net, e->path, NULL);
}

static vd_status op_load(vd_context *ctx, void *user)
{
    env *e = user;
    vd_net *net = (vd_net *)1;
    vd_status st = vd_net_load(ctx, e->path, BATCH, &net, NULL);
    if (st != VD_OK && net != NULL)
        return vd_error_set(ctx, VD_ERR_INTERNAL, "a failed load left *out set");
    vd_net_destroy(net);
    return st;
}

/* A step with every clFFT plan made anew (the context's clFFT state released first, so
 * clfftSetup and every plan call run again); VERDANT_CONV_ALGO=fft is set by the caller. */
static vd_status op_fft_step_fresh(vd_context *ctx, void *user)
{
    vd_conv_fft_release(ctx);
    return op_step(ctx, user);
}

/* Choose the algorithm of each pass of fft_geom by measuring every candidate, as on first
 * use with an empty tuning cache (ctx->cache_dir is a scratch directory here). fresh:
 * clFFT's plans are made anew too. */
static vd_status measure(vd_context *ctx, bool fresh)
{
    if (fresh) vd_conv_fft_release(ctx);
    vd_tune_reset(ctx);
    DIR *d = opendir(ctx->cache_dir);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;)
        if (!strncmp(de->d_name, "tune-", 5)) {
            char p[1400];
            snprintf(p, sizeof(p), "%s/%s", ctx->cache_dir, de->d_name);
            remove(p);
        }
    if (d) closedir(d);
    vd_status st = VD_OK;
    for (int pass = 0; pass < VD_CONV_N_PASSES && st == VD_OK; pass++) {
        int a = -1;
        st = vd_conv_select(ctx, &fft_geom, (vd_conv_pass)pass, BATCH, (size_t)1 << 22, &a);
    }
    return st;
}

static vd_status op_measure(vd_context *ctx, void *user)
{
    (void)user;
    return measure(ctx, false);
}

static vd_status op_measure_fresh(vd_context *ctx, void *user)
{
    (void)user;
    return measure(ctx, true);
}

/* A step inside a profiling window; the step's own failure wins, a profiling failure after
 * a step that trained is only reported (op_soft). */
static vd_status op_profiled_step(vd_context *ctx, void *user)
{
    env *e = user;
    vd_status st = vd_net_profile_begin(e->net);
    if (st != VD_OK) return st;
    st = op_step(ctx, user);
    vd_status st_end = vd_net_profile_end(e->net);
    if (st != VD_OK) return st;
    op_soft = st_end != VD_OK;
    return st_end;
}

static vd_status op_build(vd_context *ctx, void *user)
{
    vd_net *net = NULL;
    vd_status st = rel_mlp(ctx, SIDE, 7, BATCH, true, &net);
    vd_net_destroy(net);
    return st;
}

/* ---------------------------------------------------------------- out of memory */

static void out_of_memory(vd_context *ctx, env *e)
{
    vd_device_info info;
    EXPECT_OK(ctx, vd_context_device(ctx, &info));
    vd_tensor *t = (vd_tensor *)1;
    /* Twice the device's memory, in one tensor. */
    int64_t rows = (int64_t)(info.global_mem_bytes / (1u << 20) / 4 * 2 + 1);
    vd_status st = vd_tensor_create(ctx, 2, (int64_t[]){rows, 1 << 20}, &t);
    expect_status("tensor larger than the device", ctx, st, VD_ERR_NO_MEMORY);
    expect_true("... message says out of memory",
                strstr(vd_last_error(ctx), "out of memory") != NULL);
    expect_true("... *out is NULL", t == NULL);
    /* Just over the largest single allocation. */
    st = vd_tensor_create(ctx, 1, (int64_t[]){(int64_t)(info.max_alloc_bytes / 4) + 1}, &t);
    expect_status("tensor over the largest allocation", ctx, st, VD_ERR_NO_MEMORY);
    /* Many tensors whose total exceeds the device: the pool's accounting refuses in time. */
    vd_tensor *many[64] = {0};
    int64_t chunk = (int64_t)(info.max_alloc_bytes / 4 / 2);
    size_t made = 0;
    st = VD_OK;
    for (; made < 64 && st == VD_OK; made++) {
        st = vd_tensor_create(ctx, 1, (int64_t[]){chunk}, &many[made]);
        if (st != VD_OK) break;
    }
    expect_status("allocating past the device's memory", ctx, st, VD_ERR_NO_MEMORY);
    for (size_t i = 0; i < 64; i++) vd_tensor_destroy(many[i]);
    /* A net far too large for the device. */
    vd_net *big = NULL;
    EXPECT_OK(ctx, vd_net_create(ctx, &big));
    EXPECT_OK(ctx, vd_net_input(big, 3, (int64_t[]){3, 512, 512}));
    EXPECT_OK(ctx, vd_net_add(big, "flatten", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(big, "dense", "fc", "units=10"));
    expect_status("net build beyond the device", ctx, vd_net_build(big, 1 << 20),
                  VD_ERR_NO_MEMORY);
    expect_true("... message names the request",
                strstr(vd_last_error(ctx), "bytes requested") != NULL);
    EXPECT_OK(ctx, vd_net_build(big, 2)); /* the same net, smaller: now it fits */
    vd_net_destroy(big);
    /* An allocation the driver refuses (injected): VD_ERR_NO_MEMORY with the raw code. */
    vd_pool_trim(ctx);
    vd_fault_arm(ctx, 1, CL_MEM_OBJECT_ALLOCATION_FAILURE, "clCreateBuffer");
    st = vd_tensor_create(ctx, 1, (int64_t[]){12345}, &t);
    vd_fault_arm(ctx, 0, 0, NULL);
    expect_status("driver refuses a buffer", ctx, st, VD_ERR_NO_MEMORY);
    expect_true("... message names clCreateBuffer and -4",
                strstr(vd_last_error(ctx), "clCreateBuffer") &&
                    strstr(vd_last_error(ctx), "-4 (CL_MEM_OBJECT_ALLOCATION_FAILURE)"));
    /* The context is still usable. */
    expect_status("a training step after the out-of-memory errors", ctx, op_step(ctx, e), VD_OK);
    float host[4] = {1, 2, 3, 4}, back[4] = {0};
    st = vd_tensor_create(ctx, 1, (int64_t[]){4}, &t);
    if (EXPECT_OK(ctx, st)) {
        EXPECT_OK(ctx, vd_tensor_write(t, host, 4));
        EXPECT_OK(ctx, vd_tensor_read(t, back, 4));
        expect_equal_bytes("tensor round trip after out of memory", back, host, sizeof(host));
        vd_tensor_destroy(t);
    }
}

/* ---------------------------------------------------------------- first use */

/* A fresh context whose first call of `call` fails (VERDANT_FAULT_INJECT); the first step
 * must fail (or recover) with the call in the message, the next must succeed. */
static void first_use(const char *call, bool fresh_cache)
{
    char spec[96], dir[256] = "", label[200];
    snprintf(spec, sizeof(spec), "1:%d:%s", (int)INJECT, call);
    setenv("VERDANT_FAULT_INJECT", spec, 1);
    vd_context_options o;
    vd_context_options_init(&o);
    if (fresh_cache) { /* an empty cache, so programs are built from source */
        rel_tempdir(dir, "vd-fault-cache");
        o.cache_dir = dir;
    }
    vd_context *ctx = NULL;
    vd_status st = vd_context_create(&o, &ctx);
    unsetenv("VERDANT_FAULT_INJECT");
    if (!strcmp(call, "clCreateContext") || !strcmp(call, "clCreateCommandQueue")) {
        snprintf(label, sizeof(label), "context creation with %s failing", call);
        expect_status(label, NULL, st, VD_ERR_OPENCL);
        snprintf(label, sizeof(label), "... message names %s and -5", call);
        expect_true(label, strstr(vd_last_error(NULL), call) && strstr(vd_last_error(NULL), "-5"));
        vd_context_destroy(ctx);
        return;
    }
    if (!EXPECT_OK(NULL, st)) return;
    env e = {0};
    st = rel_mlp(ctx, SIDE, 3, BATCH, false, &e.net);
    if (st == VD_OK) st = op_step(ctx, &e);
    snprintf(label, sizeof(label), "first use with the first %s failing: fault fired", call);
    expect_true(label, ctx->fault.fired == 1);
    if (st != VD_OK) {
        check_report(call, ctx, st, 1, ctx->fault.last);
    }
    if (!fresh_cache) { /* (a fresh cache would compile every kernel: too slow for CI) */
        if (!e.net) st = rel_mlp(ctx, SIDE, 3, BATCH, false, &e.net);
        if (st == VD_OK || e.net) st = op_step(ctx, &e);
        snprintf(label, sizeof(label), "first use with %s failing: the next step succeeds", call);
        expect_status(label, ctx, st, VD_OK);
    }
    printf("first use: %-26s -> %s\n", call, ctx->fault.fired ? vd_last_error(ctx) : "no fault");
    vd_net_destroy(e.net);
    vd_context_destroy(ctx);
    if (dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("could not remove %s\n", dir);
    }
}

static void add_sweep(sweep *total, const sweep *one)
{
    total->calls += one->calls, total->faults += one->faults, total->errors += one->errors;
    total->recovered += one->recovered, total->soft += one->soft;
    total->explained += one->explained;
}

/* clFFT's calls that make a plan (once per shape and context), and the calls of every
 * FFT pass. */
static const char *const plan_calls[] = {"clfftSetup",
                                         "clfftCreateDefaultPlan",
                                         "clfftSetPlanPrecision",
                                         "clfftSetLayout",
                                         "clfftSetResultLocation",
                                         "clfftSetPlanInStride",
                                         "clfftSetPlanOutStride",
                                         "clfftSetPlanDistance",
                                         "clfftSetPlanBatchSize",
                                         "clfftBakePlan"};
static const char *const pass_calls[] = {"clfftEnqueueTransform", "clCreateSubBuffer"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A 5x5 convolution (FFT-able, geometry fft_geom) in a small CNN. */
static const char *const fft_cfg = "[net]\ninput = 1, 8, 8\n"
                                   "[conv2d]\nname = c1\nfilters = 4\nkernel = 5\npad = 2\n"
                                   "[batchnorm]\nname = bn1\n[relu]\n[maxpool]\nkernel = 2\n"
                                   "[flatten]\n[dense]\nname = fc\nunits = 10\n";

/* The layer called name in net, or NULL. */
static vd_layer *layer_named(vd_net *net, const char *name)
{
    for (int32_t i = 0; net && i < net->n_layers; i++)
        if (!strcmp(net->layers[i]->name, name)) return net->layers[i];
    return NULL;
}

/* The algorithms conv layer c1 runs ("fwd/bwd_data/bwd_filter"), as profiles show them. */
static const char *c1_algo(vd_net *net)
{
    vd_layer *l = layer_named(net, "c1");
    const char *a = l && l->ops->algo ? l->ops->algo(l) : NULL;
    return a ? a : "?";
}

/* The convolution paths with calls of their own: a 5x5 convolution (FFT-able) trained
 * with the FFT algorithm forced, then the measurement that picks an algorithm per pass. */
static void fft_sweeps(vd_context *ctx, const env *e, sweep *sw)
{
    const char *cfg = fft_cfg;
    env f = *e;
    f.net = NULL;
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    setenv("VERDANT_CONV_ALGO", "fft", 1);
    vd_status st = vd_net_parse_cfg(ctx, cfg, "fft_cnn", &f.net);
    if (st == VD_OK) st = vd_net_set_seed(f.net, 4);
    if (st == VD_OK) st = vd_net_build(f.net, BATCH);
    if (st == VD_OK) st = vd_net_set_optimizer(f.net, &o);
    if (!EXPECT_OK(ctx, st) || !EXPECT_OK(ctx, op_step(ctx, &f))) goto done;
    if (!ctx->fft) { /* the FFT convolution keeps clFFT state on the context once it ran */
        check_skip("FFT convolution sweeps", "the fft algorithm does not run here (no clFFT)");
        goto done;
    }
    /* Forced FFT: every call of a step with its plans baked, then every plan call (with the
     * clFFT state released before each step). Failures are errors (VD_ERR_FFT naming the
     * clFFT call, or the OpenCL call), and the next step works: a plan that failed for want
     * of resources is not remembered. */
    run_sweep(&sw[0], ctx, op_step, &f, op_step, &f);
    for (size_t i = 0; i < N_OF(plan_calls); i++) {
        sweep one = {.name = "fft_plans", .only = plan_calls[i]};
        run_sweep(&one, ctx, op_fft_step_fresh, &f, op_step, &f);
        add_sweep(&sw[1], &one);
    }
    print_sweep(&sw[1], "clFFT setup and plan calls");
    /* Forced means no fallback: after all those failures the layer still runs fft. */
    expect_true("forced fft: the layer still runs fft after every failure",
                !strcmp(c1_algo(f.net), "fft/-/fft"));
    unsetenv("VERDANT_CONV_ALGO");
    /* Measuring with an empty tuning cache: a scratch cache directory (programs are loaded
     * already; clFFT's kernels are compiled into it once). A candidate whose measurement
     * fails is skipped and the reason logged (verbose 1, captured); the next step runs. */
    char saved[sizeof(ctx->cache_dir)], dir[256];
    if (rel_tempdir(dir, "vd-fault-tune") != 0) goto done;
    memcpy(saved, ctx->cache_dir, sizeof(saved));
    snprintf(ctx->cache_dir, sizeof(ctx->cache_dir), "%s", dir);
    int verbose = ctx->verbose;
    ctx->verbose = 1;
    capture_on = true;
    if (EXPECT_OK(ctx, run_op(op_measure_fresh, ctx, NULL))) {
        sw[2].only = "clFinish";
        sw[2].explains = skip_logged;
        run_sweep(&sw[2], ctx, op_measure, NULL, op_step, &f);
        for (size_t i = 0; i < N_OF(plan_calls) + N_OF(pass_calls); i++) {
            bool plan = i < N_OF(plan_calls);
            sweep one = {.name = "measure_fft",
                         .only = plan ? plan_calls[i] : pass_calls[i - N_OF(plan_calls)],
                         .explains = skip_logged};
            run_sweep(&one, ctx, plan ? op_measure_fresh : op_measure, NULL, op_step, &f);
            add_sweep(&sw[3], &one);
        }
        print_sweep(&sw[3], "clFFT calls and clCreateSubBuffer");
        expect_true("measure: every clFinish fault skipped its candidate with the reason logged",
                    sw[2].explained == sw[2].faults && sw[2].faults > 0);
        expect_true("measure_fft: every clFFT fault fell back to another candidate, logged",
                    sw[3].explained == sw[3].faults && sw[3].faults > 0);
    }
    capture_on = false;
    ctx->verbose = verbose;
    vd_tune_reset(ctx);
    memcpy(ctx->cache_dir, saved, sizeof(saved));
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
done:
    unsetenv("VERDANT_CONV_ALGO");
    vd_net_destroy(f.net);
}

/* ---------------------------------------------------------------- FFT chosen, then failing */

/* A net with fft_cfg whose c1 CHOOSES fft for its passes (a tuning-cache record, not
 * VERDANT_CONV_ALGO), each step built anew with clFFT's state released, so every clFFT
 * call of a first step is swept. A failed clFFT call must switch c1's pass to im2col:
 * the step is rerun (results as im2col's) or, when part of an accumulating pass was
 * written already, fails with clFFT's message; either way the next step trains. */
typedef struct fb_env {
    env e;             /* e.net: rebuilt by every op_fb_step */
    size_t ws_cap;     /* c1's workspace cap in bytes (0: the default, one chunk) */
    size_t n_params;   /* parameters of the net */
    float *ref, *got;  /* parameters after one step: all-im2col, and this one */
    float ref_loss;    /* loss of that im2col step */
    uint64_t faulted;  /* steps with a fault fired */
    uint64_t switched; /* ... after which c1 shows im2col */
    uint64_t told;     /* failed steps whose message says im2col runs from the next step */
    uint64_t compared; /* recovered steps compared with im2col */
    uint64_t matched;  /* ... within tolerance */
    double worst;      /* largest |got - want| / (atol + rtol |want|) seen */
} fb_env;

#define FB_ATOL 1e-5
#define FB_RTOL 1e-4

static vd_status fb_build(vd_context *ctx, fb_env *fb)
{
    vd_net_destroy(fb->e.net);
    fb->e.net = NULL;
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    vd_status st = vd_net_parse_cfg(ctx, fft_cfg, "fft_cnn", &fb->e.net);
    if (st == VD_OK) st = vd_net_set_seed(fb->e.net, 4);
    if (st == VD_OK) st = vd_net_build(fb->e.net, BATCH);
    if (st == VD_OK) st = vd_net_set_optimizer(fb->e.net, &o);
    if (st == VD_OK && fb->ws_cap &&
        !vd_layer_conv_set_ws_cap(layer_named(fb->e.net, "c1"), fb->ws_cap))
        st = vd_error_set(ctx, VD_ERR_INTERNAL, "no conv layer c1");
    return st;
}

/* Worst |got - want| / (atol + rtol |want|) over n values (<= 1: within tolerance). */
static double fb_ratio(const float *got, const float *want, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - want[i]) / (FB_ATOL + FB_RTOL * fabs((double)want[i]));
        if (!(r <= worst)) worst = r; /* NaN counts as worst */
    }
    return worst;
}

/* One training step of a fresh net (clFFT's plans made anew); a step in which the armed
 * fault fired is checked against the im2col step. */
static vd_status op_fb_step(vd_context *ctx, void *user)
{
    fb_env *fb = user;
    vd_status st = fb_build(ctx, fb);
    if (st != VD_OK) return st;
    vd_conv_fft_release(ctx);
    float loss = 0;
    st = vd_net_train_step(fb->e.net, xs, ys, NULL, BATCH, &loss);
    if (ctx->fault.fired == 0) return st; /* the counting run */
    fb->faulted++;
    if (strstr(c1_algo(fb->e.net), "im2col")) fb->switched++;
    if (st != VD_OK && strstr(vd_last_error(ctx), "im2col from the next step")) {
        if (fb->told++ == 0) printf("  a failed step: %s\n", vd_last_error(ctx));
    }
    if (st != VD_OK) return st;
    fb->compared++;
    if (vd_net_params_read(fb->e.net, fb->got, fb->n_params) != VD_OK) return VD_OK;
    double r = fb_ratio(fb->got, fb->ref, fb->n_params);
    double rl = fb_ratio(&loss, &fb->ref_loss, 1);
    if (rl > r) r = rl;
    if (!(r <= fb->worst)) fb->worst = r;
    if (r <= 1) fb->matched++;
    return VD_OK;
}

/* The fallback's logged line: layer c1, "fft failed", the failed call and the code. */
static bool fallback_logged(vd_context *ctx, const char *call)
{
    (void)ctx;
    char buf[1024];
    if (!logged_line("layer 'c1'", "fft failed", call, buf, sizeof(buf))) return false;
    static bool shown;
    if (!shown) printf("  logged: %s\n", buf);
    shown = true;
    return true;
}

/* Every clFFT call of one step failed in turn (the calls that make a plan and
 * clfftEnqueueTransform); ws_cap 0: each pass in one chunk, else chunks of two images. */
static void fb_sweep(vd_context *ctx, fb_env *fb, const char *name, sweep *total)
{
    /* plan_calls, then the transform (clCreateSubBuffer is not a clFFT call: no fallback) */
    const size_t n_calls = N_OF(plan_calls) + 1;
    fb->faulted = fb->switched = fb->told = fb->compared = fb->matched = 0;
    fb->worst = 0;
    *total = (sweep){.name = name};
    for (size_t i = 0; i < n_calls; i++) {
        const char *call = i < N_OF(plan_calls) ? plan_calls[i] : pass_calls[0];
        sweep one = {.name = name, .only = call, .explains = fallback_logged};
        run_sweep(&one, ctx, op_fb_step, fb, op_step, &fb->e);
        add_sweep(total, &one);
    }
    print_sweep(total, "every clFFT call of a step, fft chosen from the tuning cache");
    printf("  %s: %llu steps recovered (%llu compared with im2col: %llu within %g + %g "
           "relative, worst %.3g of the tolerance), %llu failed with clFFT's message\n",
           name, (unsigned long long)total->recovered, (unsigned long long)fb->compared,
           (unsigned long long)fb->matched, FB_ATOL, FB_RTOL, fb->worst,
           (unsigned long long)total->errors);
    char label[200];
    snprintf(label, sizeof(label), "%s: c1 shows im2col after each of the %llu faults", name,
             (unsigned long long)fb->faulted);
    expect_true(label, fb->switched == fb->faulted && fb->faulted > 0);
    snprintf(label, sizeof(label), "%s: every rerun logged the fallback with the clFFT call", name);
    expect_true(label, total->explained == total->recovered);
    snprintf(label, sizeof(label), "%s: every failed step says im2col runs from the next step",
             name);
    expect_true(label, fb->told == total->errors);
    snprintf(label, sizeof(label), "%s: every recovered step equals the im2col step", name);
    expect_true(label, fb->matched == fb->compared && fb->compared == total->recovered);
}

static void fft_fallback(vd_context *ctx, const env *e, sweep *sw)
{
    fb_env fb = {.e = *e};
    fb.e.net = NULL;
    char saved[sizeof(ctx->cache_dir)], dir[256];
    if (rel_tempdir(dir, "vd-fault-fb") != 0) return;
    memcpy(saved, ctx->cache_dir, sizeof(saved));
    snprintf(ctx->cache_dir, sizeof(ctx->cache_dir), "%s", dir);
    vd_tune_reset(ctx);
    capture_on = true;
    /* The reference: one step with every pass forced to im2col. */
    setenv("VERDANT_CONV_ALGO", "im2col", 1);
    vd_status st = fb_build(ctx, &fb);
    unsetenv("VERDANT_CONV_ALGO");
    if (!EXPECT_OK(ctx, st)) goto done;
    fb.n_params = vd_net_param_count(fb.e.net);
    fb.ref = test_malloc(fb.n_params * sizeof(float));
    fb.got = test_malloc(fb.n_params * sizeof(float));
    if (!EXPECT_OK(ctx, vd_net_train_step(fb.e.net, xs, ys, NULL, BATCH, &fb.ref_loss)) ||
        !EXPECT_OK(ctx, vd_net_params_read(fb.e.net, fb.ref, fb.n_params)))
        goto done;
    /* Choose fft through the tuning cache, keyed as conv_select.c keys it. */
    for (int p = 0; p < VD_CONV_N_PASSES; p++) {
        char key[VD_TUNE_KEY_MAX];
        vd_conv_key(&fft_geom, (vd_conv_pass)p, BATCH, key, sizeof(key));
        EXPECT_OK(ctx, vd_tune_put(ctx, key, "fft@0.001"));
    }
    if (!EXPECT_OK(ctx, op_fb_step(ctx, &fb))) goto done;
    expect_true("fft from the tuning cache, unforced: c1 runs fft/-/fft",
                !strcmp(c1_algo(fb.e.net), "fft/-/fft"));
    EXPECT_OK(ctx, vd_net_params_read(fb.e.net, fb.got, fb.n_params));
    printf("fft vs im2col, one step without faults: worst %.3g of %g + %g relative\n",
           fb_ratio(fb.got, fb.ref, fb.n_params), FB_ATOL, FB_RTOL);
    /* One chunk per pass: nothing is written before a clFFT call fails, so every step is
     * rerun with im2col. */
    fb_sweep(ctx, &fb, "fft_fallback", &sw[0]);
    expect_true("fft_fallback: every clFFT fault recovered by an im2col rerun",
                sw[0].errors == 0 && sw[0].recovered == sw[0].faults && sw[0].faults > 0);
    /* Chunks of two images: a transform failing in a later chunk of the (accumulating)
     * filter pass fails the step; the forward (overwriting) is still rerun. */
    fb.ws_cap = vd_conv_algo_fft.workspace(ctx, &fft_geom, VD_CONV_BWD_FILTER, 2) * sizeof(float);
    printf("chunked: c1's workspace capped at %zu bytes: chunks of %zu (fwd), %zu (bwd_filter)\n",
           fb.ws_cap,
           vd_conv_chunk(ctx, vd_conv_algo_find("fft"), &fft_geom, VD_CONV_FWD, BATCH,
                         fb.ws_cap / sizeof(float)),
           vd_conv_chunk(ctx, vd_conv_algo_find("fft"), &fft_geom, VD_CONV_BWD_FILTER, BATCH,
                         fb.ws_cap / sizeof(float)));
    fb_sweep(ctx, &fb, "fft_fb_chunks", &sw[1]);
    expect_true("fft_fb_chunks: some steps rerun, some failed (part of dw written)",
                sw[1].recovered > 0 && sw[1].errors > 0);
    /* The fallback is not written to the tuning cache: a new net chooses fft again. */
    fb.ws_cap = 0;
    if (EXPECT_OK(ctx, op_fb_step(ctx, &fb)))
        expect_true("after the fallbacks a new net chooses fft again (not cached)",
                    !strcmp(c1_algo(fb.e.net), "fft/-/fft"));
done:
    capture_on = false;
    vd_net_destroy(fb.e.net);
    free(fb.ref);
    free(fb.got);
    vd_tune_reset(ctx);
    memcpy(ctx->cache_dir, saved, sizeof(saved));
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
}

/* CLBlast's parameter tuning (vd_blas_tune, VERDANT_TUNE_CLBLAST=1): each of its two
 * uploads failing is reported before any GEMM runs (the GEMMs themselves are too slow to
 * sweep here: 512^3 per parameter set). */
static void blas_tune_faults(vd_context *ctx)
{
    for (uint64_t k = 1; k <= 2; k++) {
        vd_fault_arm(ctx, k, INJECT, "clEnqueueWriteBuffer");
        int chosen = -1;
        vd_status st = vd_blas_tune(ctx, &chosen);
        bool fired = ctx->fault.fired > 0;
        vd_fault_arm(ctx, 0, 0, NULL);
        char label[128];
        snprintf(label, sizeof(label), "vd_blas_tune, upload %llu failing: fault fired",
                 (unsigned long long)k);
        expect_true(label, fired);
        if (fired) check_report("vd_blas_tune", ctx, st, k, "clEnqueueWriteBuffer(CLBlast tuning)");
    }
}

/* A recovered profiling fault: the epoch went through and the profiler's message, naming
 * the call and the raw code, is the context's last error (vd_net_train_epoch logs it). */
static bool profiler_kept(vd_context *ctx, const char *call)
{
    const char *msg = vd_last_error(ctx);
    char code[16];
    snprintf(code, sizeof(code), "-> %d", (int)INJECT);
    return !strncmp(msg, "profiler: ", 10) && strstr(msg, call) && strstr(msg, code);
}

/* An epoch with profiling on: every call of the recorder's own kinds failed in turn. The
 * epoch must succeed (the fault logged and left in vd_last_error) unless the failed call
 * was the training loop's own. */
static void profiled_epoch(vd_context *ctx, env *e, sweep *sw)
{
    static const char *calls[] = {"clEnqueueMarkerWithWaitList", "clGetEventProfilingInfo",
                                  "clWaitForEvents", "clFinish"};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        sweep one = {.name = "prof_epoch", .only = calls[i], .explains = profiler_kept};
        run_sweep(&one, ctx, op_epoch, e, op_step, e);
        add_sweep(sw, &one);
    }
    print_sweep(sw, "the profiler's call kinds");
    expect_true("prof_epoch: every epoch that went through kept the profiler's message",
                sw->explained == sw->recovered && sw->recovered > 0);
}

int main(void)
{
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    if (rc) return check_summary();
    env e = {0};
    rel_batch(11, BATCH, SIDE, xs, ys);
    if (rel_tempdir(e.dir, "vd-fault") != 0) {
        expect_true("temporary directory", false);
        goto done;
    }
    snprintf(e.path, sizeof(e.path), "%s/net.ckpt", e.dir);
    if (!EXPECT_OK(ctx, rel_mlp(ctx, SIDE, 5, BATCH, true, &e.net))) goto done;
    if (!EXPECT_OK(NULL, rel_dataset(e.dir, 3 * BATCH - 3, SIDE, 9, &e.ds))) goto done;
    EXPECT_OK(ctx, op_step(ctx, &e)); /* builds every kernel a step uses */
    EXPECT_OK(ctx, op_epoch(ctx, &e));
    EXPECT_OK(ctx, op_save(ctx, &e));

    out_of_memory(ctx, &e);
    blas_tune_faults(ctx);

    enum { N_SWEEPS = 18 };
    sweep sw[N_SWEEPS];
    const char *names[N_SWEEPS] = {
        "train_step", "train_epoch", "evaluate",  "predict",    "save",         "load",
        "build",      "cnn_step",    "cnn_save",  "cnn_load",   "fft_step",     "fft_plans",
        "measure",    "measure_fft", "prof_step", "prof_epoch", "fft_fallback", "fft_fb_chunks"};
    for (int i = 0; i < N_SWEEPS; i++) sw[i] = (sweep){.name = names[i]};
    run_sweep(&sw[0], ctx, op_step, &e, op_step, &e);
    run_sweep(&sw[1], ctx, op_epoch, &e, op_step, &e);
    run_sweep(&sw[2], ctx, op_eval, &e, op_step, &e);
    run_sweep(&sw[3], ctx, op_predict, &e, op_step, &e);
    run_sweep(&sw[4], ctx, op_save, &e, op_load, &e); /* the file on disk must still load */
    run_sweep(&sw[5], ctx, op_load, &e, op_step, &e);
    run_sweep(&sw[6], ctx, op_build, &e, op_build, &e);
    /* A convolutional net: conv (im2col + GEMM), batch norm, max pooling. */
    env c = e;
    if (EXPECT_OK(ctx, rel_cnn(ctx, 3, BATCH, &c.net))) {
        EXPECT_OK(ctx, op_step(ctx, &c));
        run_sweep(&sw[7], ctx, op_step, &c, op_step, &c);
        /* Its checkpoints hold batch norm's running statistics (state_copy). */
        snprintf(c.path, sizeof(c.path), "%s/cnn.ckpt", e.dir);
        EXPECT_OK(ctx, op_save(ctx, &c));
        run_sweep(&sw[8], ctx, op_save, &c, op_load, &c);
        run_sweep(&sw[9], ctx, op_load, &c, op_step, &c);
        vd_net_destroy(c.net);
    }
    fft_sweeps(ctx, &e, &sw[10]);
    if (ctx->fft) fft_fallback(ctx, &e, &sw[16]); /* clFFT ran in fft_sweeps */
    /* Profiling on: a fault in the recorder is reported by vd_net_profile_end (or logged
     * by vd_net_train_epoch), and the training goes on. */
    if (EXPECT_OK(ctx, vd_context_set_profiling(ctx, 1))) {
        EXPECT_OK(ctx, op_profiled_step(ctx, &e));
        run_sweep(&sw[14], ctx, op_profiled_step, &e, op_step, &e);
        /* The window adds only the recorder's calls to the step's, and each of those
         * failing was reported after a step that trained. */
        expect_true("prof_step: every fault in the recorder left the step trained",
                    sw[14].soft == sw[14].calls - sw[0].calls && sw[14].soft > 0);
        profiled_epoch(ctx, &e, &sw[15]);
        EXPECT_OK(ctx, vd_context_set_profiling(ctx, 0));
    }

    /* Faults in first use: program loading and kernel creation, context creation. */
    first_use("clCreateContext", false);
    first_use("clCreateCommandQueue", false);
    first_use("clCreateKernel", false);
    first_use("clCreateBuffer", false);
    first_use("clCreateProgramWithSource", true);
    first_use("clBuildProgram", true);

done:
    vd_dataset_destroy(e.ds);
    vd_net_destroy(e.net);
    vd_context_destroy(ctx);
    if (e.dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.dir);
        if (system(cmd) != 0) printf("could not remove %s\n", e.dir);
    }
    return check_summary();
}

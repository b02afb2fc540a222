/* test_fault.c - device faults. Out-of-memory requests (more than the device has) return
 * VD_ERR_NO_MEMORY and leave the context usable. Then the fault-injection switch
 * (src/runtime/fault.c) makes the n-th OpenCL call fail, for every n over a training step,
 * a training epoch, a prediction, a checkpoint save and load and a net build: each failure
 * (and a training step of a small CNN) must come back as an error status whose message
 * names the failed call and its raw code
 * (or be recovered from, where the runtime has a fallback), never crash, and leave the
 * network usable: the next step succeeds with a finite loss.
 * Prints one "sweep" line per operation (calls, faults, errors, recovered) for
 * docs/RELIABILITY.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rel_common.h"

#define SIDE 8
#define BATCH 8
#define INJECT CL_OUT_OF_RESOURCES

static float xs[BATCH * SIDE * SIDE];
static int32_t ys[BATCH];

typedef struct sweep {
    const char *name;
    uint64_t calls, faults, errors, recovered;
} sweep;

/* One operation under test: returns its status. */
typedef vd_status (*op_fn)(vd_context *ctx, void *user);

/* The message of an injected failure must name the failed call and the raw code. */
static void check_report(const char *op, vd_context *ctx, vd_status st, uint64_t k,
                         const char *call)
{
    const char *msg = vd_last_error(ctx);
    if (!call) call = "?";
    char code[48], label[512];
    snprintf(code, sizeof(code), "%d", (int)INJECT);
    bool ok = strstr(msg, call) != NULL && strstr(msg, code) != NULL &&
              (st == VD_ERR_OPENCL || st == VD_ERR_BUILD || st == VD_ERR_BLAS);
    snprintf(label, sizeof(label), "%s, fault at call %llu (%s): status %s names the call and %s",
             op, (unsigned long long)k, call, vd_status_name(st), code);
    if (!ok) printf("  message: %s\n", msg);
    expect_true(label, ok);
}

/* Fail call k of op for every k until op makes fewer than k calls; after each fault run
 * `after` (a plain training step) and require it to succeed. */
static void run_sweep(sweep *sw, vd_context *ctx, op_fn op, void *user, op_fn after, void *auser)
{
    vd_fault_arm(ctx, 0, 0, NULL); /* count only */
    vd_status st = op(ctx, user);
    sw->calls = ctx->fault.seen;
    if (!EXPECT_OK(ctx, st)) return;
    int bad_after = 0;
    for (uint64_t k = 1; k <= sw->calls; k++) {
        vd_fault_arm(ctx, k, INJECT, NULL);
        st = op(ctx, user);
        bool fired = ctx->fault.fired > 0;
        const char *call = ctx->fault.last;
        vd_fault_arm(ctx, 0, 0, NULL);
        if (!fired) break; /* fewer calls this time (a lazily built object already exists) */
        sw->faults++;
        if (st == VD_OK) {
            sw->recovered++;
        } else {
            sw->errors++;
            check_report(sw->name, ctx, st, k, call);
        }
        vd_status st2 = after(ctx, auser);
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
    printf("sweep %-12s %4llu calls, %4llu faults injected, %4llu errors reported, %llu "
           "recovered\n",
           sw->name, (unsigned long long)sw->calls, (unsigned long long)sw->faults,
           (unsigned long long)sw->errors, (unsigned long long)sw->recovered);
}

/* ---------------------------------------------------------------- operations */

typedef struct env {
    vd_net *net;
    vd_dataset *ds;
    char path[300];
    char dir[256];
} env;

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

    sweep sw[8];
    const char *names[8] = {"train_step", "train_epoch", "evaluate", "predict",
                            "save",       "load",        "build",    "cnn_step"};
    for (int i = 0; i < 8; i++) sw[i] = (sweep){names[i], 0, 0, 0, 0};
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
        vd_net_destroy(c.net);
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

/* test_api.c - deliberately invalid use of the public API: NULL handles, bad shapes,
 * undersized host buffers, malformed options, calls in the wrong state, impossible
 * allocations. Each must return its documented status with a useful message, must not
 * crash, and must leave the context usable. */
#define _GNU_SOURCE /* setenv, strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The status must match and the message must mention `needle`. */
static void expect_err(const char *what, const vd_context *ctx, vd_status got, vd_status want,
                       const char *needle)
{
    expect_status(what, ctx, got, want);
    const char *msg = vd_last_error(ctx);
    char label[256];
    snprintf(label, sizeof(label), "%s: message mentions '%s' (got: %s)", what, needle, msg);
    expect_true(label, strstr(msg, needle) != NULL);
}

static void status_table(void)
{
    const vd_status all[] = {
#define ALL_(name, value, text) name,
        VD_STATUS_LIST(ALL_)
#undef ALL_
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ok &= strlen(vd_status_string(all[i])) > 0;
        ok &= strncmp(vd_status_name(all[i]), "VD_", 3) == 0;
        ok &= i == 0 ? all[i] == 0 : all[i] < 0;
    }
    expect_true("every status has a name and text; errors are negative", ok);
    expect_true("unknown status has text", strlen(vd_status_string((vd_status)-999)) > 0);
    expect_true("version", strcmp(vd_version(), "0.1.0") == 0);
}

static void context_errors(void)
{
    expect_err("context_create(NULL out)", NULL, vd_context_create(NULL, NULL), VD_ERR_INVALID_ARG,
               "NULL");
    vd_context_options o;
    vd_context_options_init(&o);
    vd_context *ctx = (vd_context *)1;
    o.device = "99:0";
    expect_err("device 99:0", NULL, vd_context_create(&o, &ctx), VD_ERR_NO_DEVICE, "99:0");
    expect_true("failed create sets out to NULL", ctx == NULL);
    o.device = "no-such-device-anywhere";
    expect_err("device by bad name", NULL, vd_context_create(&o, &ctx), VD_ERR_NO_DEVICE,
               "no-such-device-anywhere");
    o.device = "-1:0";
    expect_err("negative index", NULL, vd_context_create(&o, &ctx), VD_ERR_INVALID_ARG, "-1:0");
    /* An invalid VERDANT_DEVICE_PROFILE is refused with its value named. */
    o.device = NULL;
    const char *old = getenv("VERDANT_DEVICE_PROFILE");
    char *saved = old ? strdup(old) : NULL;
    setenv("VERDANT_DEVICE_PROFILE", "tpu", 1);
    ctx = (vd_context *)1;
    expect_err("VERDANT_DEVICE_PROFILE=tpu", NULL, vd_context_create(&o, &ctx), VD_ERR_INVALID_ARG,
               "VERDANT_DEVICE_PROFILE=\"tpu\"");
    expect_true("bad profile sets out to NULL", ctx == NULL);
    if (saved) {
        setenv("VERDANT_DEVICE_PROFILE", saved, 1);
        free(saved);
    } else {
        unsetenv("VERDANT_DEVICE_PROFILE");
    }
    /* So is an invalid VERDANT_LOCAL_MEM (the __local budget cap). */
    const char *bad_caps[] = {"lots", "0", "-5", "12k"};
    for (size_t i = 0; i < sizeof bad_caps / sizeof bad_caps[0]; i++) {
        setenv("VERDANT_LOCAL_MEM", bad_caps[i], 1);
        char what[64], want[64];
        snprintf(what, sizeof what, "VERDANT_LOCAL_MEM=%s", bad_caps[i]);
        snprintf(want, sizeof want, "VERDANT_LOCAL_MEM=\"%s\"", bad_caps[i]);
        expect_err(what, NULL, vd_context_create(&o, &ctx), VD_ERR_INVALID_ARG, want);
    }
    unsetenv("VERDANT_LOCAL_MEM");
    vd_context_destroy(NULL);
    expect_true("NULL context has an empty-or-last error string", vd_last_error(NULL) != NULL);
    size_t count = 0;
    expect_err("devices_list NULL count", NULL, vd_devices_list(NULL, 0, NULL), VD_ERR_INVALID_ARG,
               "NULL");
    EXPECT_OK(NULL, vd_devices_list(NULL, 0, &count));
    expect_true("at least one device", count >= 1);
}

static void tensor_errors(vd_context *ctx)
{
    vd_tensor *t = NULL, *v = NULL;
    expect_err("tensor ndim 0", ctx, vd_tensor_create(ctx, 0, (int64_t[]){1}, &t),
               VD_ERR_INVALID_ARG, "ndim");
    expect_err("tensor ndim 5", ctx, vd_tensor_create(ctx, 5, (int64_t[]){1, 1, 1, 1, 1}, &t),
               VD_ERR_INVALID_ARG, "ndim");
    expect_err("tensor zero extent", ctx, vd_tensor_create(ctx, 2, (int64_t[]){3, 0}, &t),
               VD_ERR_SHAPE, "dimension 1");
    expect_err("tensor NULL ctx", NULL, vd_tensor_create(NULL, 1, (int64_t[]){3}, &t),
               VD_ERR_INVALID_ARG, "ctx");
    if (!EXPECT_OK(ctx, vd_tensor_create(ctx, 2, (int64_t[]){3, 5}, &t))) return;
    float host[15], back[15];
    for (int i = 0; i < 15; i++) host[i] = (float)i * 1.5f;
    expect_err("write undersized count", ctx, vd_tensor_write(t, host, 14), VD_ERR_SHAPE, "14");
    expect_err("read NULL dst", ctx, vd_tensor_read(t, NULL, 15), VD_ERR_INVALID_ARG, "NULL");
    expect_err("write NULL tensor", NULL, vd_tensor_write(NULL, host, 15), VD_ERR_INVALID_ARG,
               "NULL");
    EXPECT_OK(ctx, vd_tensor_write(t, host, 15));
    EXPECT_OK(ctx, vd_tensor_read(t, back, 15));
    expect_equal_bytes("tensor round trip", back, host, sizeof(host));
    expect_true("shape accessors", vd_tensor_ndim(t) == 2 && vd_tensor_dim(t, 1) == 5 &&
                                       vd_tensor_dim(t, 2) == 0 && vd_tensor_numel(t) == 15);
    expect_err("view past the end", ctx, vd_tensor_view(t, 10, 1, (int64_t[]){6}, &v), VD_ERR_SHAPE,
               "offset 10");
    if (EXPECT_OK(ctx, vd_tensor_view(t, 10, 1, (int64_t[]){5}, &v))) {
        float part[5];
        EXPECT_OK(ctx, vd_tensor_read(v, part, 5));
        expect_equal_bytes("view reads at its offset", part, host + 10, sizeof(part));
        EXPECT_OK(ctx, vd_tensor_fill(v, 2.0f));
        EXPECT_OK(ctx, vd_tensor_read(t, back, 15));
        expect_true("fill through a view touches only the view",
                    back[9] == host[9] && back[10] == 2.0f && back[14] == 2.0f);
        vd_tensor_destroy(v);
    }
    vd_tensor_destroy(t);
    vd_tensor_destroy(NULL);

    /* Asking for more than the device has: VD_ERR_NO_MEMORY, and the context still works. */
    vd_device_info info;
    EXPECT_OK(ctx, vd_context_device(ctx, &info));
    int64_t huge = (int64_t)(info.global_mem_bytes / 4) * 2;
    expect_err("tensor larger than the device", ctx, vd_tensor_create(ctx, 1, &huge, &t),
               VD_ERR_NO_MEMORY, "out of memory");
    if (EXPECT_OK(ctx, vd_tensor_create(ctx, 1, (int64_t[]){4}, &t))) {
        EXPECT_OK(ctx, vd_tensor_write(t, host, 4));
        vd_tensor_destroy(t);
    }
}

static void net_errors(vd_context *ctx)
{
    vd_net *net = NULL;
    expect_err("net NULL ctx", NULL, vd_net_create(NULL, &net), VD_ERR_INVALID_ARG, "ctx");
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    expect_err("build before input", ctx, vd_net_build(net, 4), VD_ERR_STATE, "vd_net_input");
    expect_err("input ndim 4", ctx, vd_net_input(net, 4, (int64_t[]){1, 1, 1, 1}),
               VD_ERR_INVALID_ARG, "dimensions");
    EXPECT_OK(ctx, vd_net_input(net, 3, (int64_t[]){1, 4, 4}));
    expect_err("build with no layers", ctx, vd_net_build(net, 4), VD_ERR_STATE, "no layers");
    expect_err("unknown type", ctx, vd_net_add(net, "denes", "x", NULL), VD_ERR_INVALID_ARG,
               "unknown layer type 'denes'");
    expect_err("unknown key", ctx, vd_net_add(net, "dense", "fc1", "untis=3"), VD_ERR_INVALID_ARG,
               "layer 'fc1' (dense): unknown key 'untis'");
    expect_err("missing key", ctx, vd_net_add(net, "dense", "fc1", NULL), VD_ERR_INVALID_ARG,
               "missing key 'units'");
    expect_err("bad int", ctx, vd_net_add(net, "dense", "fc1", "units=abc"), VD_ERR_INVALID_ARG,
               "'abc' is not an integer");
    expect_err("fraction for int", ctx, vd_net_add(net, "dense", "fc1", "units=2.5"),
               VD_ERR_INVALID_ARG, "not an integer");
    expect_err("out of range", ctx, vd_net_add(net, "dense", "fc1", "units=0"), VD_ERR_INVALID_ARG,
               "outside");
    expect_err("not key=value", ctx, vd_net_add(net, "dense", "fc1", "units"), VD_ERR_INVALID_ARG,
               "expected key=value");
    expect_err("dropout p=1", ctx, vd_net_add(net, "dropout", "d", "p=1"), VD_ERR_INVALID_ARG,
               "outside");
    expect_err("options on relu", ctx, vd_net_add(net, "relu", "r", "alpha=1"), VD_ERR_INVALID_ARG,
               "takes no options");
    EXPECT_OK(ctx, vd_net_add(net, "flatten", NULL, NULL));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc1", "units=3, bias=0"));
    expect_err("duplicate name", ctx, vd_net_add(net, "dense", "fc1", "units=3"),
               VD_ERR_INVALID_ARG, "used twice");
    float x[2 * 16] = {0}, out[2 * 3];
    int32_t labels[2] = {0, 5};
    expect_err("predict before build", ctx, vd_net_predict(net, x, 2, out), VD_ERR_STATE,
               "not yet built");
    expect_err("build batch 0", ctx, vd_net_build(net, 0), VD_ERR_INVALID_ARG, "max_batch");
    if (!EXPECT_OK(ctx, vd_net_build(net, 2))) goto done;
    expect_true("param count without bias", vd_net_param_count(net) == 48);
    expect_err("add after build", ctx, vd_net_add(net, "relu", NULL, NULL), VD_ERR_STATE,
               "already built");
    expect_err("train without optimizer", ctx, vd_net_train_step(net, x, labels, NULL, 2, NULL),
               VD_ERR_STATE, "optimizer");
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = -1.0f;
    expect_err("negative lr", ctx, vd_net_set_optimizer(net, &o), VD_ERR_INVALID_ARG,
               "learning rate");
    o.lr = 0.1f;
    EXPECT_OK(ctx, vd_net_set_optimizer(net, &o));
    expect_err("batch above max", ctx, vd_net_predict(net, x, 3, out), VD_ERR_SHAPE, "1 to 2");
    expect_err("label out of range", ctx, vd_net_train_step(net, x, labels, NULL, 2, NULL),
               VD_ERR_INVALID_ARG, "label 5");
    expect_err("CE without labels", ctx, vd_net_train_step(net, x, NULL, NULL, 2, NULL),
               VD_ERR_INVALID_ARG, "labels");
    float params[48];
    expect_err("params_read wrong count", ctx, vd_net_params_read(net, params, 47), VD_ERR_SHAPE,
               "47");
    /* After all that the net still trains. */
    labels[1] = 2;
    float loss = -1;
    EXPECT_OK(ctx, vd_net_train_step(net, x, labels, NULL, 2, &loss));
    expect_true("loss of zero input is ln(3)", loss > 1.0986f - 1e-4f && loss < 1.0986f + 1e-4f);
    EXPECT_OK(ctx, vd_net_summary(net, stdout));
    const char *const *types = vd_net_layer_types();
    int n = 0;
    while (types[n]) n++;
    expect_true("registry lists layer types", n >= 7 && !strcmp(types[0], "dense"));
done:
    vd_net_destroy(net);
    vd_net_destroy(NULL);
}

/* A shape mismatch is reported with the layer's name. */
static void shape_errors(vd_context *ctx)
{
    vd_net *net = NULL;
    if (!EXPECT_OK(ctx, vd_net_create(ctx, &net))) return;
    EXPECT_OK(ctx, vd_net_input(net, 1, (int64_t[]){10}));
    EXPECT_OK(ctx, vd_net_add(net, "dense", "fc1", "units=4"));
    EXPECT_OK(ctx, vd_net_build(net, 3));
    vd_dataset *ds = NULL;
    vd_eval_stats ev;
    expect_err("evaluate NULL dataset", ctx, vd_net_evaluate(net, ds, &ev), VD_ERR_INVALID_ARG,
               "dataset");
    vd_net_destroy(net);
}

int main(void)
{
    status_table();
    vd_context *ctx = NULL;
    int rc = test_context(&ctx);
    if (rc) return check_summary();
    context_errors();
    tensor_errors(ctx);
    net_errors(ctx);
    shape_errors(ctx);
    vd_context_destroy(ctx);
    return check_summary();
}

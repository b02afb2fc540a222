/* net.c - network construction, shape inference, buffer planning, weight init, and the
 * forward/backward order of one step. Layers are kept in order; each reads the previous
 * layer's output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/profile.h"
#include "net.h"

#define ARENA_ALIGN 16 /* elements: keeps every parameter 64-byte aligned */

vd_status vd_net_create(vd_context *ctx, vd_net **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_create: out is NULL");
    *out = NULL;
    if (!ctx) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_create: ctx is NULL");
    vd_net *net = calloc(1, sizeof(*net));
    if (!net) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    net->ctx = ctx;
    net->seed = 42;
    net->wver = 1;
    vd_train_recipe_init(&net->recipe);
    net->loss = VD_LOSS_SOFTMAX_CE;
    *out = net;
    return VD_OK;
}

void vd_net_destroy(vd_net *net)
{
    if (!net) return;
    clFinish(net->ctx->queue);
    vd_net_dist_free(net);
    for (int32_t i = 0; i < net->n_layers; i++) vd_layer_destroy(net->layers[i]);
    for (size_t i = 0; i < net->n_owned; i++)
        vd_buffer_release(net->ctx, net->owned[i].mem, net->owned[i].bytes);
    for (int32_t i = 0; i < net->n_extra; i++) free(net->out_names[i]);
    free(net->owned);
    free(net->layers);
    free(net->act);
    free(net->grad);
    free(net->out);
    free(net->infer_skip);
    free(net);
}

vd_status vd_net_alloc(vd_net *net, size_t bytes, cl_mem *out)
{
    if (net->n_owned == net->cap_owned) {
        size_t ncap = net->cap_owned ? net->cap_owned * 2 : 32;
        vd_owned_buf *p = realloc(net->owned, ncap * sizeof(*p));
        if (!p) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        net->owned = p;
        net->cap_owned = ncap;
    }
    vd_status st = vd_buffer_alloc(net->ctx, bytes, out);
    if (st == VD_OK) net->owned[net->n_owned++] = (vd_owned_buf){*out, bytes};
    return st;
}

static vd_status need_state(const vd_net *net, bool built, const char *fn)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: net is NULL", fn);
    if (net->built != built)
        return vd_error_set(net->ctx, VD_ERR_STATE, "%s: the network is %s built", fn,
                            built ? "not yet" : "already");
    return VD_OK;
}

vd_status vd_net_input(vd_net *net, int32_t ndim, const int64_t *shape)
{
    vd_status st = need_state(net, false, "vd_net_input");
    if (st != VD_OK) return st;
    if (ndim < 1 || ndim > 3 || !shape)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_input: a sample has 1 to 3 dimensions, got %d", (int)ndim);
    for (int32_t i = 0; i < ndim; i++)
        if (shape[i] < 1 || shape[i] > (1 << 24))
            return vd_error_set(net->ctx, VD_ERR_SHAPE, "vd_net_input: dimension %d is %lld",
                                (int)i, (long long)shape[i]);
    net->input.ndim = ndim;
    memcpy(net->input.d, shape, (size_t)ndim * sizeof(int64_t));
    net->has_input = true;
    return VD_OK;
}

/* Resolve "a+b" (or "a,b") into producer indices; "input" names the net input. */
static vd_status resolve_inputs(vd_net *net, const char *layer, const char *list, vd_layer *l)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", list);
    l->n_inputs = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "+, \t", &save); tok; tok = strtok_r(NULL, "+, \t", &save)) {
        if (l->n_inputs == VD_MAX_INPUTS)
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "layer '%s': more than %d inputs",
                                layer, VD_MAX_INPUTS);
        int32_t idx = -2;
        if (!strcmp(tok, "input")) idx = -1;
        for (int32_t i = 0; i < net->n_layers && idx == -2; i++)
            if (!strcmp(net->layers[i]->name, tok)) idx = i;
        if (idx == -2)
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                                "layer '%s': input '%s' is not an earlier layer (or 'input')",
                                layer, tok);
        l->inputs[l->n_inputs++] = idx;
    }
    if (l->n_inputs == 0)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "layer '%s': empty input list", layer);
    return VD_OK;
}

vd_status vd_net_add_kv(vd_net *net, const char *type, const char *name, const char *inputs,
                        const vd_kv *kv, size_t n, const char *src, int32_t line)
{
    vd_status st = need_state(net, false, "vd_net_add");
    if (st != VD_OK) return st;
    char auto_name[64];
    if (!name || !*name) {
        snprintf(auto_name, sizeof(auto_name), "%s%d", type ? type : "layer", (int)net->n_layers);
        name = auto_name;
    }
    /* A name must survive vd_net_to_cfg and an input list ("a + b") unchanged: no
     * whitespace, control characters, '+', '#', '=' or ',', and short enough not to be
     * truncated (found by fuzz_cfg: a name with spaces came back trimmed). */
    size_t nl = strlen(name);
    bool bad = nl >= sizeof(((vd_layer *)0)->name);
    for (size_t i = 0; i < nl && !bad; i++) {
        unsigned char ch = (unsigned char)name[i];
        bad = ch <= ' ' || ch >= 0x7f || strchr("+#=,", ch) != NULL;
    }
    if (bad)
        st = vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                          "layer name '%.80s' must be 1-%zu printable characters without "
                          "spaces, '+', '#', '=' or ','",
                          name, sizeof(((vd_layer *)0)->name) - 1);
    else if (!strcmp(name, "input"))
        st = vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "'input' is reserved for the net input");
    for (int32_t i = 0; i < net->n_layers && st == VD_OK; i++)
        if (!strcmp(net->layers[i]->name, name))
            st = vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "layer name '%s' is used twice", name);
    if (st != VD_OK) goto located;
    if (net->n_layers == net->cap_layers) {
        int32_t ncap = net->cap_layers ? net->cap_layers * 2 : 16;
        vd_layer **p = realloc(net->layers, (size_t)ncap * sizeof(*p));
        if (!p) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
        net->layers = p;
        net->cap_layers = ncap;
    }
    vd_layer *l;
    st = vd_layer_create(net->ctx, type, name, kv, n, src, line, &l);
    if (st != VD_OK) return st; /* already located */
    l->index = net->n_layers;
    if (l->ops->no_input) {
        l->n_inputs = 0;
        l->inputs[0] = -2; /* no producer: matches no layer and not the net input */
        if (inputs && *inputs)
            st = vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                              "layer '%s' (%s) takes no input, got input '%s'", name,
                              l->ops->type, inputs);
    } else if (inputs && *inputs) {
        st = resolve_inputs(net, name, inputs, l);
    } else {
        l->n_inputs = 1;
        l->inputs[0] = net->n_layers - 1; /* the previous layer, or -1: the net input */
    }
    int32_t max_in = l->ops->max_inputs > 1 ? l->ops->max_inputs : 1;
    if (st == VD_OK && l->n_inputs > max_in)
        st =
            vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "layer '%s' (%s) takes %d input%s, got %d",
                         name, l->ops->type, (int)max_in, max_in == 1 ? "" : "s", (int)l->n_inputs);
    if (st != VD_OK) {
        vd_layer_destroy(l);
        goto located;
    }
    net->layers[net->n_layers++] = l;
    return VD_OK;
located:
    if (src) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "%s", vd_last_error(net->ctx));
        st = vd_error_set(net->ctx, st, "%s:%d: %s", src, (int)line, msg);
    }
    return st;
}

vd_status vd_net_add(vd_net *net, const char *type, const char *name, const char *options)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_add: net is NULL");
    char buf[1024];
    if (options && strlen(options) >= sizeof(buf))
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_add: options too long");
    snprintf(buf, sizeof(buf), "%s", options ? options : "");
    vd_kv kv[64];
    size_t n = 0;
    const char *inputs = NULL;
    char *save = NULL;
    /* Pairs are separated by spaces or commas; input lists use '+' ("input=a+b"). */
    for (char *tok = strtok_r(buf, " ,\t\n", &save); tok; tok = strtok_r(NULL, " ,\t\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || eq[1] == '\0')
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                                "layer '%s' (%s): expected key=value, got '%s'", name ? name : "?",
                                type ? type : "?", tok);
        *eq = '\0';
        if (!strcmp(tok, "input") || !strcmp(tok, "inputs")) {
            inputs = eq + 1;
            continue;
        }
        if (n == sizeof(kv) / sizeof(kv[0]))
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_add: too many options");
        kv[n++] = (vd_kv){tok, eq + 1, 0};
    }
    return vd_net_add_kv(net, type, name, inputs, kv, n, NULL, 0);
}

vd_status vd_net_set_loss(vd_net *net, vd_loss loss)
{
    vd_status st = need_state(net, false, "vd_net_set_loss");
    if (st != VD_OK) return st;
    if (loss != VD_LOSS_SOFTMAX_CE && loss != VD_LOSS_MSE)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "unknown loss %d", (int)loss);
    net->loss = loss;
    return VD_OK;
}

vd_status vd_net_set_seed(vd_net *net, uint64_t seed)
{
    vd_status st = need_state(net, false, "vd_net_set_seed");
    if (st != VD_OK) return st;
    net->seed = seed;
    return VD_OK;
}

size_t vd_net_output_size(const vd_net *net)
{
    if (!net || net->n_layers == 0) return 0;
    return vd_shape_numel(&net->layers[net->n_layers - 1]->out);
}

size_t vd_net_param_count(const vd_net *net)
{
    size_t n = 0;
    for (int32_t i = 0; net && i < net->n_layers; i++)
        for (int32_t p = 0; p < net->layers[i]->n_params; p++) n += net->layers[i]->params[p].numel;
    return n;
}

static const vd_shape *producer_shape(const vd_net *net, int32_t idx)
{
    return idx < 0 ? &net->input : &net->layers[idx]->out;
}

/* Shape inference over the whole net; the first failure names its layer. Also checks
 * that every layer's output is used (a dangling branch would get no gradient). */
static vd_status infer_shapes(vd_net *net)
{
    char buf[64];
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        for (int32_t k = 0; k < l->n_inputs; k++) l->ins[k] = *producer_shape(net, l->inputs[k]);
        l->in = l->ins[0];
        l->n_params = 0;
        vd_error_set(NULL, VD_OK, "%s", ""); /* reshape reports through the thread slot */
        vd_status st = l->ops->reshape(l);
        if (st != VD_OK) {
            vd_shape_format(&l->in, buf, sizeof(buf));
            const char *why = vd_last_error(NULL);
            return vd_error_set(net->ctx, st == VD_ERR_INTERNAL ? st : VD_ERR_SHAPE,
                                "layer '%s' (%s) cannot take input %s%s%s%s", l->name, l->ops->type,
                                buf, l->n_inputs > 1 ? " and others" : "", why[0] ? ": " : "", why);
        }
    }
    for (int32_t i = 0; i + 1 < net->n_layers; i++) {
        bool used = false;
        for (int32_t o = 0; o < net->n_extra; o++) used |= net->out_layers[o] == i;
        for (int32_t j = i + 1; j < net->n_layers && !used; j++)
            for (int32_t k = 0; k < net->layers[j]->n_inputs; k++)
                used |= net->layers[j]->inputs[k] == i;
        if (!used)
            return vd_error_set(net->ctx, VD_ERR_SHAPE,
                                "layer '%s' output is not used by any later layer (the last "
                                "layer is the net's output; vd_net_add_output makes it another)",
                                net->layers[i]->name);
    }
    return VD_OK;
}

static bool is_rectifier(const vd_layer *l)
{
    return !strcmp(l->ops->type, "relu") || !strcmp(l->ops->type, "gelu") ||
           !strcmp(l->ops->type, "leaky_relu");
}

static vd_status init_params(vd_net *net)
{
    float *host = calloc(net->arena ? net->arena : 1, sizeof(float));
    if (!host) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    uint64_t stream = 0;
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        /* The first layer after this one that does compute decides He vs Xavier; a layer
         * that applies its own ReLU (conv2d relu=1) is followed by one. */
        l->followed_by_rectifier = l->fused_rectifier;
        int32_t cur = i;
        for (int32_t j = i + 1; j < net->n_layers && !l->followed_by_rectifier; j++) {
            const vd_layer *nx = net->layers[j];
            if (nx->inputs[0] != cur) continue; /* first consumer of cur */
            /* Look through layers that keep the scale: reshapes, dropout, normalisation;
             * a normalisation with a fused ReLU (batchnorm relu=1) is a rectifier. A
             * convolution with a fused ReLU is not: its ReLU comes after its own weights. */
            bool keeps_scale =
                !strcmp(nx->ops->type, "batchnorm") || !strcmp(nx->ops->type, "layernorm");
            if (keeps_scale && nx->fused_rectifier) {
                l->followed_by_rectifier = true;
                break;
            }
            if (nx->ops->alias || !strcmp(nx->ops->type, "dropout") ||
                !strcmp(nx->ops->type, "batchnorm") || !strcmp(nx->ops->type, "layernorm")) {
                cur = j;
                continue;
            }
            l->followed_by_rectifier = is_rectifier(nx);
            break;
        }
        for (int32_t p = 0; p < l->n_params; p++, stream++) {
            vd_param *pa = &l->params[p];
            float *dst = host + pa->offset;
            if (pa->init == VD_INIT_ONE) {
                for (size_t k = 0; k < pa->numel; k++) dst[k] = 1.0f;
            } else if (pa->init == VD_INIT_AUTO) {
                double var = l->followed_by_rectifier ? 2.0 / (double)pa->fan_in
                                                      : 2.0 / (double)(pa->fan_in + pa->fan_out);
                vd_rng_normal(net->seed, 0x1000000ull + stream, (float)sqrt(var), dst, pa->numel);
            }
        }
    }
    net->wver++;
    cl_int err = vd_fault(net->ctx, "clEnqueueWriteBuffer")
                     ?: clEnqueueWriteBuffer(net->ctx->queue, net->params, CL_TRUE, 0,
                                             net->arena * sizeof(float), host, 0, NULL, NULL);
    free(host);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(net->ctx, "clEnqueueWriteBuffer(params)", err);
}

/* The layers that do no work at inference (net.h): dropout returning y, and a batchnorm
 * that is the only consumer of a conv2d which takes it (vd_layer_conv_fold_bn), unless the
 * conv's output is itself an output of the net. */
static void plan_inference(vd_net *net)
{
    for (int32_t i = 0; i < net->n_layers; i++) {
        net->out[i] = net->act[i];
        const vd_layer *l = net->layers[i];
        net->infer_skip[i] = l->ops->identity_at_inference && l->ops->identity_at_inference(l);
        vd_layer_conv_fold_bn(net->layers[i], NULL);
    }
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        if (l->ops != &vd_layer_conv2d || i == net->n_layers - 1) continue;
        bool extra = false;
        for (int32_t o = 0; o < net->n_extra; o++) extra |= net->out_layers[o] == i;
        int32_t consumer = -1, uses = 0;
        for (int32_t j = i + 1; j < net->n_layers; j++)
            for (int32_t k = 0; k < net->layers[j]->n_inputs; k++)
                if (net->layers[j]->inputs[k] == i) consumer = j, uses++;
        if (!extra && uses == 1 && vd_layer_conv_fold_bn(l, net->layers[consumer]))
            net->infer_skip[consumer] = true;
    }
}

vd_status vd_net_build(vd_net *net, int32_t max_batch)
{
    vd_status st = need_state(net, false, "vd_net_build");
    if (st != VD_OK) return st;
    vd_context *ctx = net->ctx;
    if (!net->has_input)
        return vd_error_set(ctx, VD_ERR_STATE, "vd_net_build: call vd_net_input first");
    if (net->n_layers == 0) return vd_error_set(ctx, VD_ERR_STATE, "vd_net_build: no layers");
    if (max_batch < 1 || max_batch > (1 << 20))
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_build: max_batch %d out of range",
                            (int)max_batch);
    for (int32_t o = 0; o < net->n_extra; o++) {
        net->out_layers[o] = -1;
        for (int32_t i = 0; i < net->n_layers; i++)
            if (!strcmp(net->layers[i]->name, net->out_names[o])) net->out_layers[o] = i;
        if (net->out_layers[o] < 0)
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "vd_net_build: output %d names layer '%s', which the net does not "
                                "have",
                                (int)o + 1, net->out_names[o]);
    }
    VD_TRY(infer_shapes(net));
    bool computes = false;
    for (int32_t i = 0; i < net->n_layers; i++) computes |= !net->layers[i]->ops->alias;
    if (!computes) return vd_error_set(ctx, VD_ERR_STATE, "vd_net_build: the net computes nothing");

    size_t B = (size_t)max_batch;
    net->max_batch = max_batch;
    net->act = calloc((size_t)net->n_layers, sizeof(vd_buf));
    net->grad = calloc((size_t)net->n_layers, sizeof(vd_buf));
    net->out = calloc((size_t)net->n_layers, sizeof(vd_buf));
    net->infer_skip = calloc((size_t)net->n_layers, sizeof(bool));
    if (!net->act || !net->grad || !net->out || !net->infer_skip) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    VD_TRY(vd_net_alloc(net, B * vd_shape_numel(&net->input) * sizeof(float), &net->in.mem));
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        if (l->ops->alias) { /* shares its input's memory, gradient included */
            int32_t p = l->inputs[0];
            net->act[i] = p < 0 ? net->in : net->act[p];
            net->grad[i] = p < 0 ? (vd_buf){NULL, 0} : net->grad[p];
        } else {
            size_t bytes = B * vd_shape_numel(&l->out) * sizeof(float);
            VD_TRY(vd_net_alloc(net, bytes, &net->act[i].mem));
            /* The input needs no gradient; a layer whose inputs are all the net input
             * (through aliases) still gets one for its own output. */
            VD_TRY(vd_net_alloc(net, bytes, &net->grad[i].mem));
        }
    }
    VD_TRY(vd_net_alloc(net, B * sizeof(cl_int), &net->labels));
    VD_TRY(vd_net_alloc(net, B * vd_net_output_size(net) * sizeof(float), &net->targets));
    VD_TRY(vd_net_alloc(net, B * sizeof(float), &net->row_loss));
    VD_TRY(vd_net_alloc(net, B * sizeof(float), &net->row_correct));
    VD_TRY(vd_net_alloc(net, 4 * sizeof(float), &net->acc));

    size_t off = 0;
    for (int32_t i = 0; i < net->n_layers; i++)
        for (int32_t p = 0; p < net->layers[i]->n_params; p++) {
            net->layers[i]->params[p].offset = off;
            off += (net->layers[i]->params[p].numel + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        }
    net->arena = off ? off : ARENA_ALIGN;
    VD_TRY(vd_net_alloc(net, net->arena * sizeof(float), &net->params));
    VD_TRY(vd_net_alloc(net, net->arena * sizeof(float), &net->grads));
    VD_TRY(vd_op_fill(ctx, net->arena, 0.0f, net->grads, 0));
    VD_TRY(init_params(net));
    VD_TRY(vd_net_acc_zero(net));
    plan_inference(net);
    net->built = true;
done:
    if (st != VD_OK) {
        /* Leave the net unbuilt and its memory returned, so the caller may fix and retry. */
        for (size_t i = 0; i < net->n_owned; i++)
            vd_buffer_release(ctx, net->owned[i].mem, net->owned[i].bytes);
        net->n_owned = 0;
        free(net->act);
        free(net->grad);
        free(net->out);
        free(net->infer_skip);
        net->act = net->grad = net->out = NULL;
        net->infer_skip = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------- steps */

vd_status vd_net_upload(vd_net *net, const float *x, const int32_t *labels, const float *targets,
                        int32_t n, cl_event *ev)
{
    vd_context *ctx = net->ctx;
    bool blocking = ev == NULL;
    size_t in = vd_shape_numel(&net->input), out = vd_net_output_size(net);
    vd_status st = vd_buffer_write(ctx, net->in.mem, blocking, 0, (size_t)n * in * sizeof(float),
                                   x, NULL, "input");
    if (st != VD_OK) return st;
    cl_mem dst = labels ? net->labels : net->targets;
    const void *src = labels ? (const void *)labels : (const void *)targets;
    size_t bytes = labels ? (size_t)n * sizeof(cl_int) : (size_t)n * out * sizeof(float);
    if (!src) return VD_OK;
    return vd_buffer_write(ctx, dst, blocking, 0, bytes, src, ev, "labels");
}

static vd_step make_step(vd_net *net, int32_t n, bool train)
{
    /* Data-parallel: each rank draws its own dropout masks (with the one seed, rank r's
     * sample j would repeat rank 0's sample j's mask). */
    int32_t rank = 0;
    vd_net_dist_info(net, &rank, NULL);
    uint64_t seed = net->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)rank);
    vd_step s = {net->ctx, n, train, seed, net->step, {net->params, 0}, {net->grads, 0}, net->wver};
    return s;
}

static vd_buf act_of(const vd_net *net, int32_t idx)
{
    return idx < 0 ? net->in : net->out[idx];
}

/* VERDANT_CHECK_NUMERICS=1: a blocking scan of count floats at b after a layer ran; the
 * first non-finite value becomes VD_ERR_NUMERIC naming the step, the layer and what. */
static vd_status check_numeric(vd_net *net, const vd_step *s, const vd_layer *l, const char *what,
                               vd_buf b, size_t count)
{
    size_t idx;
    float v;
    vd_status st = vd_find_nonfinite(net->ctx, b.mem, b.off, count, &idx, &v);
    if (st != VD_OK || idx == SIZE_MAX) return st;
    char when[64];
    if (s->train)
        snprintf(when, sizeof(when), "training step %llu", (unsigned long long)s->step + 1);
    else snprintf(when, sizeof(when), "inference");
    if (!l)
        return vd_error_set(net->ctx, VD_ERR_NUMERIC, "%s: %s holds %g at element %zu of %zu", when,
                            what, (double)v, idx, count);
    return vd_error_set(net->ctx, VD_ERR_NUMERIC,
                        "%s: layer '%s' (%s) is the first to produce a non-finite value: %s "
                        "holds %g at element %zu of %zu",
                        when, l->name, l->ops->type, what, (double)v, idx, count);
}

/* The parameters (what = "weight") or their gradients of layer l, for check_numeric. */
static vd_status check_params(vd_net *net, const vd_step *s, const vd_layer *l, cl_mem arena,
                              const char *prefix)
{
    char what[64];
    for (int32_t p = 0; p < l->n_params; p++) {
        snprintf(what, sizeof(what), "%s%s", prefix, l->params[p].name);
        vd_status st =
            check_numeric(net, s, l, what, (vd_buf){arena, l->params[p].offset}, l->params[p].numel);
        if (st != VD_OK) return st;
    }
    return VD_OK;
}

static vd_status forward(vd_net *net, int32_t n, bool train)
{
    vd_step s = make_step(net, n, train);
    vd_buf xs[VD_MAX_INPUTS];
    bool check = net->ctx->check_numerics;
    vd_status st = VD_OK;
    if (check)
        VD_TRY(check_numeric(net, &s, NULL, "the input batch", net->in,
                             (size_t)n * vd_shape_numel(&net->input)));
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        if (l->ops->alias || (!train && net->infer_skip[i])) {
            net->out[i] = act_of(net, l->inputs[0]); /* the same memory, or passed through */
            continue;
        }
        net->out[i] = net->act[i];
        for (int32_t k = 0; k < l->n_inputs; k++) xs[k] = act_of(net, l->inputs[k]);
        vd_profile_scope(net->ctx, i, VD_PROF_FWD);
        st = l->ops->forward_multi ? l->ops->forward_multi(l, &s, xs, net->act[i])
                                   : l->ops->forward(l, &s, xs[0], net->act[i]);
        if (st != VD_OK) return st;
        if (check)
            VD_TRY(check_numeric(net, &s, l, "its output", net->act[i],
                                 (size_t)n * vd_shape_numel(&l->out)));
    }
done:
    return st;
}

/* Reverse order. A gradient buffer read by several consumers is overwritten by the first
 * consumer to run (beta 0) and accumulated by the others (beta 1); `written` tracks it
 * per buffer, since alias layers share their producer's. */
static vd_status backward(vd_net *net, int32_t n)
{
    vd_step s = make_step(net, n, true);
    vd_status st = VD_OK;
    cl_mem *written = calloc((size_t)net->n_layers, sizeof(cl_mem));
    size_t n_written = 0;
    if (!written) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    vd_buf xs[VD_MAX_INPUTS], dxs[VD_MAX_INPUTS];
    float betas[VD_MAX_INPUTS];
    for (int32_t i = net->n_layers - 1; i >= 0; i--) {
        vd_layer *l = net->layers[i];
        if (l->ops->alias) continue;
        /* A layer the loss does not depend on (it feeds only extra outputs, or nothing):
         * no consumer wrote its output's gradient, and it has none to pass on. */
        bool reached = i == net->n_layers - 1;
        for (size_t w = 0; !reached && w < n_written; w++) reached = written[w] == net->grad[i].mem;
        if (!reached) continue;
        for (int32_t k = 0; k < l->n_inputs; k++) {
            int32_t p = l->inputs[k];
            xs[k] = act_of(net, p);
            dxs[k] = p < 0 ? (vd_buf){NULL, 0} : net->grad[p];
            betas[k] = 0.0f;
            for (size_t w = 0; dxs[k].mem && w < n_written; w++)
                if (written[w] == dxs[k].mem) betas[k] = 1.0f;
        }
        vd_profile_scope(net->ctx, i, VD_PROF_BWD);
        if (l->ops->backward_multi)
            st = l->ops->backward_multi(l, &s, xs, net->act[i], net->grad[i], dxs, betas);
        else st = l->ops->backward(l, &s, xs[0], net->act[i], net->grad[i], dxs[0], betas[0]);
        if (st != VD_OK) break;
        for (int32_t k = 0; k < l->n_inputs && net->ctx->check_numerics && st == VD_OK; k++)
            st = check_numeric(net, &s, l, "the gradient of its input", dxs[k],
                               (size_t)n * vd_shape_numel(&l->ins[k]));
        if (st == VD_OK && net->ctx->check_numerics)
            st = check_params(net, &s, l, net->grads, "the gradient of its ");
        if (st == VD_OK && net->dist) st = vd_net_dist_layer_done(net, i);
        if (st != VD_OK) break;
        for (int32_t k = 0; k < l->n_inputs; k++) {
            bool seen = false;
            for (size_t w = 0; w < n_written; w++) seen |= written[w] == dxs[k].mem;
            if (dxs[k].mem && !seen) written[n_written++] = dxs[k].mem;
        }
    }
    free(written);
    return st;
}

vd_status vd_net_step_enqueue(vd_net *net, int32_t n, bool train)
{
    vd_context *ctx = net->ctx;
    int32_t last = net->n_layers - 1;
    size_t out = vd_net_output_size(net);
    vd_buf dy = train ? net->grad[last] : (vd_buf){NULL, 0};
    vd_status st = VD_OK;
    vd_profile_scope(ctx, -1, VD_PROF_OTHER);
    if (train) {
        net->wver++; /* statistics and parameters change from here on */
        VD_TRY(vd_op_fill(ctx, net->arena, 0.0f, net->grads, 0));
    }
    VD_TRY(forward(net, n, train));
    vd_buf y = net->out[last];
    vd_profile_scope(ctx, -1, VD_PROF_LOSS);
    if (net->loss == VD_LOSS_SOFTMAX_CE) {
        VD_TRY(vd_op_softmax_ce(ctx, (size_t)n, out, y.mem, y.off, net->labels, 0, 1.0f / (float)n,
                                dy.mem, dy.off, net->row_loss, net->row_correct));
        VD_TRY(vd_op_loss_accumulate(ctx, (size_t)n, net->row_loss, net->row_correct, net->acc));
    } else {
        VD_TRY(vd_op_mse(ctx, (size_t)n, out, y.mem, y.off, net->targets, 0, 1.0f / (float)n,
                         dy.mem, dy.off, net->row_loss));
        VD_TRY(vd_op_loss_accumulate(ctx, (size_t)n, net->row_loss, NULL, net->acc));
    }
    if (ctx->check_numerics) { /* debug mode: the loss, then each layer's gradients */
        vd_step s = make_step(net, n, train);
        VD_TRY(check_numeric(net, &s, NULL, "the loss", (vd_buf){net->row_loss, 0}, (size_t)n));
        if (train) VD_TRY(check_numeric(net, &s, NULL, "the loss gradient", dy, (size_t)n * out));
    }
    if (train) {
        if (net->dist) vd_net_dist_begin(net);
        VD_TRY(backward(net, n));
        if (net->dist) VD_TRY(vd_net_dist_reduce(net));
        vd_profile_scope(ctx, -1, VD_PROF_OPTIM);
        VD_TRY(vd_optim_update(net));
        if (ctx->check_numerics) {
            vd_step s = make_step(net, n, train);
            for (int32_t i = 0; i < net->n_layers; i++)
                VD_TRY(check_params(net, &s, net->layers[i], net->params, "after the update, its "));
        }
        net->step++;
        net->wver++;
        vd_profile_step(ctx, n);
    }
done:
    vd_profile_scope(ctx, -1, VD_PROF_OTHER);
    return st;
}

vd_status vd_net_acc_zero(vd_net *net)
{
    return vd_op_fill(net->ctx, 2, 0.0f, net->acc, 0);
}

vd_status vd_net_acc_read(vd_net *net, double *loss_sum, double *correct)
{
    float v[2];
    cl_int err = vd_fault(net->ctx, "clEnqueueReadBuffer")
                     ?: clEnqueueReadBuffer(net->ctx->queue, net->acc, CL_TRUE, 0, sizeof(v), v, 0,
                                            NULL, NULL);
    if (err != CL_SUCCESS) return vd_error_cl(net->ctx, "clEnqueueReadBuffer(loss)", err);
    *loss_sum = v[0];
    *correct = v[1];
    return VD_OK;
}

static vd_status check_batch(vd_net *net, const float *x, int32_t n, const char *fn)
{
    vd_status st = need_state(net, true, fn);
    if (st != VD_OK) return st;
    if (!x) return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "%s: x is NULL", fn);
    if (n < 1 || n > net->max_batch)
        return vd_error_set(net->ctx, VD_ERR_SHAPE,
                            "%s: batch of %d samples; the net was built "
                            "for 1 to %d",
                            fn, (int)n, (int)net->max_batch);
    return VD_OK;
}

vd_status vd_net_train_step(vd_net *net, const float *x, const int32_t *labels,
                            const float *targets, int32_t n, float *loss)
{
    vd_status st = check_batch(net, x, n, "vd_net_train_step");
    if (st != VD_OK) return st;
    if (!net->has_optim)
        return vd_error_set(net->ctx, VD_ERR_STATE,
                            "vd_net_train_step: set an optimizer first (vd_net_set_optimizer)");
    if (net->loss == VD_LOSS_SOFTMAX_CE && !labels)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_train_step: the softmax cross-entropy loss needs labels");
    if (net->loss == VD_LOSS_MSE && !targets)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_train_step: MSE needs targets");
    if (labels) {
        int32_t classes = (int32_t)vd_net_output_size(net);
        for (int32_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                                    "vd_net_train_step: label %d of sample %d is outside [0, %d)",
                                    (int)labels[i], (int)i, (int)classes);
    }
    VD_TRY(vd_net_acc_zero(net));
    VD_TRY(vd_net_upload(net, x, labels, net->loss == VD_LOSS_MSE ? targets : NULL, n, NULL));
    VD_TRY(vd_net_step_enqueue(net, n, true));
    if (loss) {
        double sum = 0, correct = 0;
        VD_TRY(vd_net_acc_read(net, &sum, &correct));
        *loss = (float)(sum / n);
        if (!isfinite(*loss))
            st = vd_error_set(net->ctx, VD_ERR_NUMERIC,
                              "vd_net_train_step: training step %llu: the loss is %g (not finite); "
                              "VERDANT_CHECK_NUMERICS=1 names the first layer that produced it",
                              (unsigned long long)net->step, (double)*loss);
    }
done:
    return st;
}

static int32_t output_layer(const vd_net *net, int32_t i)
{
    return i == 0 ? net->n_layers - 1 : net->out_layers[i - 1];
}

static vd_status predict(vd_net *net, const float *x, int32_t n, float *const *out,
                         int32_t n_out, const char *fn)
{
    vd_status st = check_batch(net, x, n, fn);
    if (st != VD_OK) return st;
    for (int32_t i = 0; i < n_out; i++)
        if (!out[i]) return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "%s: out[%d] is NULL", fn, (int)i);
    VD_TRY(vd_net_upload(net, x, NULL, NULL, n, NULL));
    VD_TRY(forward(net, n, false));
    for (int32_t i = 0; i < n_out; i++) {
        const vd_layer *l = net->layers[output_layer(net, i)];
        vd_buf y = net->out[output_layer(net, i)];
        cl_int err = vd_fault(net->ctx, "clEnqueueReadBuffer")
                         ?: clEnqueueReadBuffer(net->ctx->queue, y.mem, CL_TRUE,
                                                y.off * sizeof(float),
                                                (size_t)n * vd_shape_numel(&l->out) * sizeof(float),
                                                out[i], 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            char what[128];
            snprintf(what, sizeof(what), "clEnqueueReadBuffer(output %d, layer '%.64s')", (int)i,
                     l->name);
            return vd_error_cl(net->ctx, what, err);
        }
    }
    vd_profile_step(net->ctx, n); /* an inference batch is a step of a profiling window */
done:
    return st;
}

vd_status vd_net_predict(vd_net *net, const float *x, int32_t n, float *out)
{
    if (net && !out)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_predict: out is NULL");
    return predict(net, x, n, &out, 1, "vd_net_predict");
}

vd_status vd_net_predict_outputs(vd_net *net, const float *x, int32_t n, float *const *out)
{
    if (net && !out)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_predict_outputs: out is NULL");
    return predict(net, x, n, out, net ? 1 + net->n_extra : 0, "vd_net_predict_outputs");
}

vd_status vd_net_add_output(vd_net *net, const char *layer)
{
    vd_status st = need_state(net, false, "vd_net_add_output");
    if (st != VD_OK) return st;
    if (!layer || !*layer)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "vd_net_add_output: no layer name");
    if (net->n_extra + 1 >= VD_MAX_OUTPUTS)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_add_output: '%s': at most %d outputs", layer, VD_MAX_OUTPUTS);
    for (int32_t i = 0; i < net->n_extra; i++)
        if (!strcmp(net->out_names[i], layer))
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                                "vd_net_add_output: layer '%s' is already output %d", layer,
                                (int)i + 1);
    char *copy = strdup(layer);
    if (!copy) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    net->out_names[net->n_extra] = copy;
    net->out_layers[net->n_extra++] = -1;
    return VD_OK;
}

int32_t vd_net_output_count(const vd_net *net)
{
    return net ? 1 + net->n_extra : 0;
}

vd_status vd_net_output_info(const vd_net *net, int32_t i, const char **layer, size_t *size)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_output_info: net is NULL");
    if (i < 0 || i > net->n_extra)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_output_info: output %d of %d", (int)i, (int)(1 + net->n_extra));
    if (size && !net->built)
        return vd_error_set(net->ctx, VD_ERR_STATE, "vd_net_output_info: build the net first");
    if (i == 0 && net->n_layers == 0)
        return vd_error_set(net->ctx, VD_ERR_STATE, "vd_net_output_info: the net has no layers");
    if (layer)
        *layer = i == 0 ? net->layers[net->n_layers - 1]->name : net->out_names[i - 1];
    if (size) *size = vd_shape_numel(&net->layers[output_layer(net, i)]->out);
    return VD_OK;
}

/* ---------------------------------------------------------------- parameters */

static vd_status params_copy(vd_net *net, float *host, size_t count, bool to_host, const char *fn)
{
    vd_status st = need_state(net, true, fn);
    if (st != VD_OK) return st;
    if (!host) return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (count != vd_net_param_count(net))
        return vd_error_set(net->ctx, VD_ERR_SHAPE, "%s: %zu floats given, the net has %zu", fn,
                            count, vd_net_param_count(net));
    return vd_net_arena_copy(net, net->params, host, to_host, fn);
}

vd_status vd_net_layer_state_write(vd_net *net, vd_layer *l, float *host)
{
    net->wver++;
    return l->ops->state_copy(l, net->ctx, host, false);
}

vd_status vd_net_arena_copy(vd_net *net, cl_mem arena, float *host, bool to_host, const char *what)
{
    size_t pos = 0;
    char call[256];
    if (!to_host && arena == net->params) net->wver++;
    for (int32_t i = 0; i < net->n_layers; i++)
        for (int32_t p = 0; p < net->layers[i]->n_params; p++) {
            const vd_param *pa = &net->layers[i]->params[p];
            size_t bytes = pa->numel * sizeof(float), off = pa->offset * sizeof(float);
            if (!to_host) {
                snprintf(call, sizeof(call), "%s: %s", what, pa->name);
                vd_status st = vd_buffer_write(net->ctx, arena, true, off, bytes, host + pos, NULL,
                                               call);
                if (st != VD_OK) return st;
                pos += pa->numel;
                continue;
            }
            cl_int err = vd_fault(net->ctx, "clEnqueueReadBuffer")
                             ?: clEnqueueReadBuffer(net->ctx->queue, arena, CL_TRUE, off, bytes,
                                                    host + pos, 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                snprintf(call, sizeof(call), "%s: clEnqueueReadBuffer", what);
                return vd_error_cl(net->ctx, call, err);
            }
            pos += pa->numel;
        }
    return VD_OK;
}

vd_status vd_net_params_read(const vd_net *net, float *dst, size_t count)
{
    return params_copy((vd_net *)net, dst, count, true, "vd_net_params_read");
}

vd_status vd_net_params_write(vd_net *net, const float *src, size_t count)
{
    return params_copy(net, (float *)src, count, false, "vd_net_params_write");
}

static uint64_t layer_flops(const vd_layer *l)
{
    if (l->ops->alias) return 0;
    return l->ops->flops ? l->ops->flops(l) : (uint64_t)vd_shape_numel(&l->out);
}

uint64_t vd_net_flops(const vd_net *net)
{
    uint64_t f = 0;
    for (int32_t i = 0; net && i < net->n_layers; i++) f += layer_flops(net->layers[i]);
    return f;
}

vd_status vd_net_summary(const vd_net *net, void *file)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_summary: net is NULL");
    FILE *f = file ? (FILE *)file : stdout;
    char shape[64];
    vd_shape_format(&net->input, shape, sizeof(shape));
    fprintf(f, "%-16s %-13s %-18s %12s %14s\n", "layer", "type", "output", "parameters",
            "MFLOP/sample");
    fprintf(f, "%-16s %-13s %-18s %12s %14s\n", "input", "-", shape, "0", "-");
    for (int32_t i = 0; i < net->n_layers; i++) {
        const vd_layer *l = net->layers[i];
        size_t np = 0;
        for (int32_t p = 0; p < l->n_params; p++) np += l->params[p].numel;
        if (net->built) vd_shape_format(&l->out, shape, sizeof(shape));
        else snprintf(shape, sizeof(shape), "?");
        fprintf(f, "%-16s %-13s %-18s %12zu %14.3f\n", l->name, l->ops->type, shape, np,
                net->built ? (double)layer_flops(l) * 1e-6 : 0.0);
    }
    fprintf(f, "total parameters: %zu\n", vd_net_param_count(net));
    if (net->n_extra && net->n_layers) {
        fprintf(f, "outputs: %s", net->layers[net->n_layers - 1]->name);
        for (int32_t o = 0; o < net->n_extra; o++) fprintf(f, ", %s", net->out_names[o]);
        fprintf(f, "\n");
    }
    if (net->built)
        fprintf(f, "forward: %.2f MFLOP per sample (training: about 3x that)\n",
                (double)vd_net_flops(net) * 1e-6);
    return VD_OK;
}

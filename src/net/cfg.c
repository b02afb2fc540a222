/* cfg.c - the network description format: INI-like sections, one per layer, `key = value`
 * lines and `#` comments, read through the layer registry so every family's keys work
 * without parser changes. Also writes a net back out in the same format (checkpoints
 * store it). Errors name the file, line and key:
 *     lenet.cfg:14: layer 'c2' (conv2d): unknown key 'fliters'
 *
 *     [net]                 # once, first: input shape (no batch), loss, seed
 *     input = 1, 28, 28
 *     loss = softmax_ce     # or mse
 *     [conv2d]              # a layer: its type
 *     name = c1             # optional; input = a + b names inputs (default: previous)
 *     filters = 6
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define CFG_MAX_BYTES (1u << 20)
#define CFG_MAX_KEYS 64

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

typedef struct section {
    char type[64];
    int32_t line;
    const char *name, *inputs;
    vd_kv kv[CFG_MAX_KEYS];
    size_t n;
} section;

static vd_status fail(vd_context *ctx, const char *src, int32_t line, const char *fmt,
                      const char *a, const char *b)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a, b);
    return vd_error_set(ctx, VD_ERR_FORMAT, "%s:%d: %s", src, (int)line, msg);
}

static vd_status parse_shape(vd_context *ctx, const char *src, int32_t line, const char *value,
                             vd_shape *out)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", value);
    out->ndim = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", x\t", &save); t; t = strtok_r(NULL, ", x\t", &save)) {
        char *end;
        errno = 0;
        long long v = strtoll(t, &end, 10);
        if (*end || errno || v < 1 || v > (1 << 24) || out->ndim == 3)
            return fail(ctx, src, line,
                        "[net] input: '%s' is not a shape of 1 to 3 positive "
                        "integers (e.g. 1, 28, 28)%s",
                        value, "");
        out->d[out->ndim++] = v;
    }
    if (out->ndim == 0) return fail(ctx, src, line, "[net] input: empty shape%s%s", "", "");
    return VD_OK;
}

static vd_status net_key(vd_net *net, const char *src, int32_t line, const char *key,
                         const char *value, bool *has_input)
{
    vd_context *ctx = net->ctx;
    if (!strcmp(key, "input")) {
        vd_shape sh;
        vd_status st = parse_shape(ctx, src, line, value, &sh);
        if (st != VD_OK) return st;
        *has_input = true;
        return vd_net_input(net, sh.ndim, sh.d);
    }
    if (!strcmp(key, "loss")) {
        if (!strcmp(value, "softmax_ce") || !strcmp(value, "cross_entropy"))
            return vd_net_set_loss(net, VD_LOSS_SOFTMAX_CE);
        if (!strcmp(value, "mse")) return vd_net_set_loss(net, VD_LOSS_MSE);
        return fail(ctx, src, line, "[net] loss: '%s' is not softmax_ce or mse%s", value, "");
    }
    if (!strcmp(key, "seed")) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || errno || value[0] == '-')
            return fail(ctx, src, line, "[net] seed: '%s' is not a non-negative integer%s", value,
                        "");
        return vd_net_set_seed(net, v);
    }
    if (!strcmp(key, "outputs")) { /* extra outputs; checked against the layers at the end */
        char names[1024];
        snprintf(names, sizeof(names), "%s", value);
        for (char *t = names, *next; t; t = next) {
            next = strchr(t, ',');
            if (next) *next++ = '\0';
            t = trim(t);
            vd_status st = *t ? vd_net_add_output(net, t)
                              : fail(ctx, src, line, "[net] outputs: an empty layer name in '%s'%s",
                                     value, "");
            if (st != VD_OK && *t) {
                char msg[400];
                snprintf(msg, sizeof(msg), "%.390s", vd_last_error(ctx));
                return fail(ctx, src, line, "[net] outputs: %s%s", msg, "");
            }
            if (st != VD_OK) return st;
        }
        return VD_OK;
    }
    vd_train_recipe *r = &net->recipe;
    if (!strcmp(key, "optimizer") || !strcmp(key, "schedule")) {
        bool opt = key[0] == 'o';
        const char *ok = opt ? "sgd adam adamw" : "constant step cosine";
        char words[32];
        snprintf(words, sizeof(words), "%s", ok);
        bool found = false;
        char *sv = NULL;
        for (char *w = strtok_r(words, " ", &sv); w; w = strtok_r(NULL, " ", &sv))
            if (!strcmp(w, value)) found = true;
        if (!found)
            return vd_error_set(ctx, VD_ERR_FORMAT, "%s:%d: [net] %s: '%s' is not one of: %s",
                                src, (int)line, key, value, ok);
        snprintf(opt ? r->optimizer : r->schedule, sizeof(r->optimizer), "%s", value);
        return VD_OK;
    }
    static const struct {
        const char *key;
        bool is_int;
        double lo, hi;
        size_t off;
    } nums[] = {
        {"epochs", true, 1, 100000, offsetof(vd_train_recipe, epochs)},
        {"batch", true, 1, 65536, offsetof(vd_train_recipe, batch)},
        {"warmup", true, 0, 1e6, offsetof(vd_train_recipe, warmup)},
        {"step_size", true, 1, 1e6, offsetof(vd_train_recipe, step_size)},
        {"crop_pad", true, 0, 64, offsetof(vd_train_recipe, crop_pad)},
        {"flip", true, 0, 1, offsetof(vd_train_recipe, flip)},
        {"lr", false, 1e-12, 1e3, offsetof(vd_train_recipe, lr)},
        {"momentum", false, 0, 0.999999, offsetof(vd_train_recipe, momentum)},
        {"weight_decay", false, 0, 10, offsetof(vd_train_recipe, weight_decay)},
        {"clip_norm", false, 0, 1e9, offsetof(vd_train_recipe, clip_norm)},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (strcmp(key, nums[i].key)) continue;
        char *end;
        errno = 0;
        double x = strtod(value, &end);
        if (*end || errno || !isfinite(x) || x < nums[i].lo || x > nums[i].hi ||
            (nums[i].is_int && x != floor(x)))
            return vd_error_set(ctx, VD_ERR_FORMAT, "%s:%d: [net] %s: '%s' is not %s in [%g, %g]",
                                src, (int)line, key, value,
                                nums[i].is_int ? "an integer" : "a number", nums[i].lo,
                                nums[i].hi);
        char *base = (char *)r;
        if (nums[i].is_int) *(int32_t *)(base + nums[i].off) = (int32_t)x;
        else *(double *)(base + nums[i].off) = x;
        return VD_OK;
    }
    return fail(ctx, src, line,
                "[net]: unknown key '%s' (known: input, loss, seed, outputs, optimizer, schedule, epochs, "
                "batch, lr, momentum, weight_decay, clip_norm, warmup, step_size, crop_pad, "
                "flip)%s",
                key, "");
}

void vd_train_recipe_init(vd_train_recipe *r)
{
    if (!r) return;
    memset(r, 0, sizeof(*r));
    r->epochs = r->batch = r->warmup = r->step_size = r->crop_pad = r->flip = -1;
    r->lr = r->momentum = r->weight_decay = r->clip_norm = -1;
}

vd_status vd_net_train_recipe(const vd_net *net, vd_train_recipe *out)
{
    if (!out) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_train_recipe: out is NULL");
    vd_train_recipe_init(out);
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_train_recipe: net is NULL");
    *out = net->recipe;
    return VD_OK;
}

static vd_status flush(vd_net *net, const char *src, section *sec)
{
    if (!sec->type[0]) return VD_OK;
    vd_status st =
        vd_net_add_kv(net, sec->type, sec->name, sec->inputs, sec->kv, sec->n, src, sec->line);
    sec->type[0] = '\0';
    return st;
}

vd_status vd_net_parse_cfg(vd_context *ctx, const char *text, const char *src, vd_net **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_parse_cfg: out is NULL");
    *out = NULL;
    if (!ctx || !text)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_parse_cfg: NULL argument");
    if (!src) src = "<string>";
    size_t len = strlen(text);
    if (len > CFG_MAX_BYTES)
        return vd_error_set(ctx, VD_ERR_FORMAT, "%s: %zu bytes; network files are limited to %u",
                            src, len, CFG_MAX_BYTES);
    char *copy = strdup(text);
    vd_net *net = NULL;
    vd_status st = VD_OK;
    if (!copy) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    VD_TRY(vd_net_create(ctx, &net));
    section sec;
    memset(&sec, 0, sizeof(sec));
    bool in_net = false, seen_net = false, has_input = false, seen_layer = false;
    int32_t line = 0;
    char *save = NULL;
    for (char *raw = copy; raw; raw = save) {
        save = strchr(raw, '\n');
        if (save) *save++ = '\0';
        line++;
        char *hash = strchr(raw, '#');
        if (hash) *hash = '\0';
        char *s = trim(raw);
        if (!*s) continue;
        for (const char *c = s; *c; c++)
            if (!isprint((unsigned char)*c) && *c != '\t') {
                st = fail(ctx, src, line, "unexpected control or non-ASCII byte%s%s", "", "");
                goto done;
            }
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || close == s + 1) {
                st = fail(ctx, src, line, "malformed section header '%s' (expected [type])%s", s,
                          "");
                goto done;
            }
            *close = '\0';
            char *type = trim(s + 1);
            VD_TRY(flush(net, src, &sec));
            in_net = !strcmp(type, "net");
            if (in_net) {
                if (seen_net || seen_layer) {
                    st =
                        fail(ctx, src, line, "[net] must come once, before the layers%s%s", "", "");
                    goto done;
                }
                seen_net = true;
                continue;
            }
            if (strlen(type) >= sizeof(sec.type)) {
                st = fail(ctx, src, line, "section name '%s' is too long%s", type, "");
                goto done;
            }
            if (!has_input) {
                st = fail(ctx, src, line,
                          "layer [%s] before the input shape: start with [net] "
                          "and 'input = C, H, W'%s",
                          type, "");
                goto done;
            }
            seen_layer = true;
            memset(&sec, 0, sizeof(sec));
            snprintf(sec.type, sizeof(sec.type), "%s", type);
            sec.line = line;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            st = fail(ctx, src, line, "expected 'key = value' or '[section]', got '%s'%s", s, "");
            goto done;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key || !*value) {
            st = fail(ctx, src, line, "empty key or value in '%s'%s", key, "");
            goto done;
        }
        if (in_net) {
            VD_TRY(net_key(net, src, line, key, value, &has_input));
            continue;
        }
        if (!sec.type[0]) {
            st = fail(ctx, src, line, "key '%s' outside any section%s", key, "");
            goto done;
        }
        if (!strcmp(key, "name")) {
            sec.name = value;
            continue;
        }
        if (!strcmp(key, "input") || !strcmp(key, "inputs")) {
            sec.inputs = value;
            continue;
        }
        for (size_t i = 0; i < sec.n; i++)
            if (!strcmp(sec.kv[i].key, key)) {
                st = fail(ctx, src, line, "key '%s' given twice in [%s]", key, sec.type);
                goto done;
            }
        if (sec.n == CFG_MAX_KEYS) {
            st = fail(ctx, src, line, "too many keys in [%s]%s", sec.type, "");
            goto done;
        }
        sec.kv[sec.n++] = (vd_kv){key, value, line};
    }
    VD_TRY(flush(net, src, &sec));
    if (!has_input) {
        st = vd_error_set(ctx, VD_ERR_FORMAT, "%s: no input shape ([net] input = C, H, W)", src);
        goto done;
    }
    if (net->n_layers == 0) {
        st = vd_error_set(ctx, VD_ERR_FORMAT, "%s: no layers", src);
        goto done;
    }
    for (int32_t o = 0; o < net->n_extra; o++) {
        bool found = false;
        for (int32_t i = 0; i < net->n_layers && !found; i++)
            found = !strcmp(net->layers[i]->name, net->out_names[o]);
        if (!found) {
            st = vd_error_set(ctx, VD_ERR_FORMAT, "%s: [net] outputs: no layer is named '%s'", src,
                              net->out_names[o]);
            goto done;
        }
    }
    *out = net;
    net = NULL;
done:
    vd_net_destroy(net);
    free(copy);
    return st;
}

vd_status vd_net_load_cfg(vd_context *ctx, const char *path, vd_net **out)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_cfg: out is NULL");
    *out = NULL;
    if (!path) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load_cfg: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return vd_error_set(ctx, VD_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = malloc(CFG_MAX_BYTES + 2);
    size_t n = buf ? fread(buf, 1, CFG_MAX_BYTES + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    vd_status st;
    if (!buf) st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    else if (err) st = vd_error_set(ctx, VD_ERR_IO, "cannot read '%s'", path);
    else if (n > CFG_MAX_BYTES)
        st = vd_error_set(ctx, VD_ERR_FORMAT, "%s: larger than %u bytes", path, CFG_MAX_BYTES);
    else if (memchr(buf, '\0', n))
        st = vd_error_set(ctx, VD_ERR_FORMAT, "%s: contains NUL bytes (not a text file)", path);
    else {
        buf[n] = '\0';
        const char *base = strrchr(path, '/');
        st = vd_net_parse_cfg(ctx, buf, base ? base + 1 : path, out);
    }
    free(buf);
    return st;
}

vd_status vd_net_to_cfg(const vd_net *net, char **out)
{
    if (!out) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_to_cfg: out is NULL");
    *out = NULL;
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "vd_net_to_cfg: net is NULL");
    size_t cap = 4096 + (size_t)net->n_layers * 1024;
    char *buf = malloc(cap);
    if (!buf) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    size_t u = 0;
#define PUT(...) u += (size_t)snprintf(buf + u, u < cap ? cap - u : 0, __VA_ARGS__)
    PUT("[net]\ninput = ");
    for (int32_t d = 0; d < net->input.ndim; d++)
        PUT("%s%lld", d ? ", " : "", (long long)net->input.d[d]);
    PUT("\nloss = %s\nseed = %llu\n", net->loss == VD_LOSS_MSE ? "mse" : "softmax_ce",
        (unsigned long long)net->seed);
    for (int32_t o = 0; o < net->n_extra; o++)
        PUT("%s%s%s", o ? ", " : "outputs = ", net->out_names[o], o == net->n_extra - 1 ? "\n" : "");
    const vd_train_recipe *r = &net->recipe;
    if (r->optimizer[0]) PUT("optimizer = %s\n", r->optimizer);
    if (r->schedule[0]) PUT("schedule = %s\n", r->schedule);
    if (r->epochs >= 0) PUT("epochs = %d\n", (int)r->epochs);
    if (r->batch >= 0) PUT("batch = %d\n", (int)r->batch);
    if (r->lr >= 0) PUT("lr = %.9g\n", r->lr);
    if (r->momentum >= 0) PUT("momentum = %.9g\n", r->momentum);
    if (r->weight_decay >= 0) PUT("weight_decay = %.9g\n", r->weight_decay);
    if (r->clip_norm >= 0) PUT("clip_norm = %.9g\n", r->clip_norm);
    if (r->warmup >= 0) PUT("warmup = %d\n", (int)r->warmup);
    if (r->step_size >= 0) PUT("step_size = %d\n", (int)r->step_size);
    if (r->crop_pad >= 0) PUT("crop_pad = %d\n", (int)r->crop_pad);
    if (r->flip >= 0) PUT("flip = %d\n", (int)r->flip);
    for (int32_t i = 0; i < net->n_layers; i++) {
        const vd_layer *l = net->layers[i];
        PUT("\n[%s]\nname = %s\n", l->ops->type, l->name);
        bool default_input = l->n_inputs == 0 || (l->n_inputs == 1 && l->inputs[0] == i - 1);
        if (!default_input) {
            PUT("input = ");
            for (int32_t k = 0; k < l->n_inputs; k++)
                PUT("%s%s", k ? " + " : "",
                    l->inputs[k] < 0 ? "input" : net->layers[l->inputs[k]]->name);
            PUT("\n");
        }
        if (u < cap) u += vd_layer_options_text(l, buf + u, cap - u);
    }
#undef PUT
    if (u >= cap) {
        free(buf);
        return VD_INTERNAL(net->ctx, "network description too long");
    }
    *out = buf;
    return VD_OK;
}

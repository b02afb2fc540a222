/* registry.c - the one list of layer families, option parsing through each family's key
 * table, and helpers shared by every layer (shapes, parameter declaration). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

static const vd_layer_ops *const registry[] = {
    &vd_layer_dense,   &vd_layer_relu,          &vd_layer_sigmoid,   &vd_layer_tanh,
    &vd_layer_gelu,    &vd_layer_dropout,       &vd_layer_flatten,   &vd_layer_add,
    &vd_layer_concat,  &vd_layer_conv2d,        &vd_layer_deconv2d,  &vd_layer_maxpool,
    &vd_layer_avgpool, &vd_layer_globalavgpool, &vd_layer_batchnorm, &vd_layer_layernorm,
    &vd_layer_softmax, &vd_layer_leaky_relu, &vd_layer_reshape, &vd_layer_logsoftmax,
    &vd_layer_constant,
    &vd_layer_transpose,
};
#define N_REGISTRY (sizeof(registry) / sizeof(registry[0]))

const char *const *vd_net_layer_types(void)
{
    static const char *names[N_REGISTRY + 1];
    for (size_t i = 0; i < N_REGISTRY; i++) names[i] = registry[i]->type;
    names[N_REGISTRY] = NULL;
    return names;
}

const vd_layer_ops *vd_layer_find(const char *type)
{
    for (size_t i = 0; i < N_REGISTRY; i++)
        if (type && !strcmp(registry[i]->type, type)) return registry[i];
    return NULL;
}

size_t vd_shape_numel(const vd_shape *s)
{
    size_t n = 1;
    for (int32_t i = 0; i < s->ndim; i++) n *= (size_t)s->d[i];
    return n;
}

void vd_shape_format(const vd_shape *s, char *dst, size_t cap)
{
    size_t used = (size_t)snprintf(dst, cap, "(");
    for (int32_t i = 0; i < s->ndim && used < cap; i++)
        used +=
            (size_t)snprintf(dst + used, cap - used, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    if (used < cap) snprintf(dst + used, cap - used, ")");
}

vd_status vd_layer_param(vd_layer *l, vd_context *ctx, const char *name, int32_t ndim,
                         const int64_t *shape, vd_init init, size_t fan_in, size_t fan_out)
{
    if (l->n_params >= VD_MAX_PARAMS) return VD_INTERNAL(ctx, "too many parameters");
    vd_param *p = &l->params[l->n_params++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->shape.ndim = ndim;
    memcpy(p->shape.d, shape, (size_t)ndim * sizeof(int64_t));
    p->numel = vd_shape_numel(&p->shape);
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    return VD_OK;
}

vd_status vd_layer_buf_reserve(vd_layer_buf *b, vd_context *ctx, size_t bytes, bool *fresh)
{
    if (fresh) *fresh = false;
    if (b->mem && b->bytes >= bytes) return VD_OK;
    vd_layer_buf_release(b);
    vd_status st = vd_buffer_alloc(ctx, bytes, &b->mem);
    if (st != VD_OK) {
        b->mem = NULL;
        return st;
    }
    b->ctx = ctx;
    b->bytes = bytes;
    if (fresh) *fresh = true;
    return VD_OK;
}

void vd_layer_buf_release(vd_layer_buf *b)
{
    if (b->mem) vd_buffer_release(b->ctx, b->mem, b->bytes);
    *b = (vd_layer_buf){NULL, NULL, 0};
}

static const vd_key *find_key(const vd_layer_ops *ops, const char *key)
{
    for (const vd_key *k = ops->keys; k && k->name; k++)
        if (!strcmp(k->name, key)) return k;
    return NULL;
}

static void set_field(vd_layer *l, const vd_key *k, double v)
{
    char *field = (char *)l + k->offset;
    if (k->type == VD_KEY_INTS)
        for (int i = 0; i < VD_MAX_DIMS; i++) ((int32_t *)field)[i] = -1;
    else if (k->type == VD_KEY_FLOAT) *(float *)field = (float)v;
    else *(int32_t *)field = (int32_t)v;
}

/* Word i of the choices that open an enum key's help ("a|b|c: ..."): its start, length. */
static const char *choice_at(const char *help, int32_t i, size_t *len)
{
    const char *p = help;
    size_t end = p ? strcspn(p, ":") : 0; /* the choices end at the first ':' */
    for (int32_t k = 0; p && k <= i; k++) {
        size_t n = strcspn(p, "|:");
        if (n > end) n = end;
        if (k == i) {
            *len = n;
            return i >= 0 ? p : NULL;
        }
        if (n == end) return NULL;
        end -= n + 1;
        p += n + 1;
    }
    return NULL;
}

int32_t vd_key_choice(const char *help, const char *w)
{
    size_t len, wl = strlen(w);
    for (int32_t i = 0;; i++) {
        const char *p = choice_at(help, i, &len);
        if (!p) return -1;
        if (len == wl && !strncmp(p, w, len)) return i;
    }
}

void vd_key_choice_name(const char *help, int32_t i, char *dst, size_t cap)
{
    size_t len = 0;
    const char *p = choice_at(help, i, &len);
    snprintf(dst, cap, "%.*s", p ? (int)len : 0, p ? p : "");
}

/* "1,0" -> {1, 0, -1, -1}: at most k->hi entries, each an integer in [k->lo, VD_MAX_DIMS). */
static vd_status set_ints(vd_context *ctx, vd_layer *l, const vd_key *k, const char *value)
{
    int32_t v[VD_MAX_DIMS] = {-1, -1, -1, -1};
    int n = 0;
    const char *p = value;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno == ERANGE || (*end != ',' && *end != '\0') || n >= (int)k->hi ||
            x < (long)k->lo || x >= VD_MAX_DIMS)
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "layer '%s' (%s): key '%s': '%s' is not a list of at most %d "
                                "comma-separated integers in [%g, %d)",
                                l->name, l->ops->type, k->name, value, (int)k->hi, k->lo,
                                VD_MAX_DIMS);
        v[n++] = (int32_t)x;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && !*p) p = end; /* a trailing comma: parsed again, refused */
    }
    if (n == 0)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "layer '%s' (%s): key '%s': empty list",
                            l->name, l->ops->type, k->name);
    memcpy((char *)l + k->offset, v, sizeof(v));
    return VD_OK;
}

vd_status vd_layer_set_option(vd_context *ctx, vd_layer *l, const char *key, const char *value)
{
    const vd_key *k = find_key(l->ops, key);
    if (!k) {
        char known[256] = "";
        size_t used = 0;
        for (const vd_key *q = l->ops->keys; q && q->name && used < sizeof(known); q++)
            used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "",
                                     q->name);
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "layer '%s' (%s): unknown key '%s'%s%s%s",
                            l->name, l->ops->type, key,
                            used ? " (known: " : " (it takes no options", known, ")");
    }
    if (k->type == VD_KEY_ENUM) {
        int32_t c = vd_key_choice(k->help, value);
        if (c < 0)
            return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                "layer '%s' (%s): key '%s': '%s' is not one of %.*s", l->name,
                                l->ops->type, key, value, (int)strcspn(k->help, ":"), k->help);
        set_field(l, k, c);
        return VD_OK;
    }
    if (k->type == VD_KEY_INTS) return set_ints(ctx, l, k, value);
    char *end = NULL;
    errno = 0;
    double v;
    if (k->type == VD_KEY_BOOL && (!strcmp(value, "true") || !strcmp(value, "yes"))) v = 1;
    else if (k->type == VD_KEY_BOOL && (!strcmp(value, "false") || !strcmp(value, "no"))) v = 0;
    else v = strtod(value, &end);
    bool bad = end && (end == value || *end != '\0' || errno == ERANGE || !isfinite(v));
    if (!bad && k->type != VD_KEY_FLOAT && v != floor(v)) bad = true;
    if (!bad && k->type == VD_KEY_BOOL && v != 0 && v != 1) bad = true;
    if (bad)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG, "layer '%s' (%s): key '%s': '%s' is not %s",
                            l->name, l->ops->type, key, value,
                            k->type == VD_KEY_FLOAT ? "a number"
                            : k->type == VD_KEY_INT ? "an integer"
                                                    : "a boolean (0/1)");
    if (v < k->lo || v > k->hi)
        return vd_error_set(ctx, VD_ERR_INVALID_ARG,
                            "layer '%s' (%s): key '%s': %s is outside [%g, %g]", l->name,
                            l->ops->type, key, value, k->lo, k->hi);
    set_field(l, k, v);
    return VD_OK;
}

/* Prefix the context's message with "src:line: ". */
static vd_status at_line(vd_context *ctx, vd_status st, const char *src, int32_t line)
{
    if (!src || st == VD_OK) return st;
    char msg[2048];
    snprintf(msg, sizeof(msg), "%s", vd_last_error(ctx));
    return vd_error_set(ctx, st, "%s:%d: %s", src, (int)line, msg);
}

vd_status vd_layer_create(vd_context *ctx, const char *type, const char *name, const vd_kv *kv,
                          size_t n, const char *src, int32_t line, vd_layer **out)
{
    *out = NULL;
    const vd_layer_ops *ops = vd_layer_find(type);
    if (!ops) {
        char known[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < N_REGISTRY && used < sizeof(known); i++)
            used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
                                     registry[i]->type);
        return at_line(ctx,
                       vd_error_set(ctx, VD_ERR_INVALID_ARG, "unknown layer type '%s' (known: %s)",
                                    type ? type : "(null)", known),
                       src, line);
    }
    vd_layer *l = calloc(1, ops->size);
    if (!l) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    l->ops = ops;
    snprintf(l->name, sizeof(l->name), "%s", name);
    bool seen[32] = {false};
    size_t nkeys = 0;
    for (const vd_key *k = ops->keys; k && k->name; k++, nkeys++) set_field(l, k, k->def);
    vd_status st = VD_OK;
    if (nkeys > 32) {
        st = VD_INTERNAL(ctx, "too many keys");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        st = vd_layer_set_option(ctx, l, kv[i].key, kv[i].value);
        if (st != VD_OK) {
            st = at_line(ctx, st, src, kv[i].line ? kv[i].line : line);
            goto done;
        }
        seen[find_key(ops, kv[i].key) - ops->keys] = true;
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (ops->keys[i].required && !seen[i]) {
            st = at_line(ctx,
                         vd_error_set(ctx, VD_ERR_INVALID_ARG,
                                      "layer '%s' (%s): missing key '%s' (%s)", l->name, ops->type,
                                      ops->keys[i].name, ops->keys[i].help),
                         src, line);
            goto done;
        }
    }
    /* init has no context: its message lands in the thread-local slot; hand it on. */
    if (ops->init && (st = ops->init(l)) != VD_OK) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", vd_last_error(NULL));
        st = at_line(ctx, vd_error_set(ctx, st, "%s", msg), src, line);
        goto done;
    }
    *out = l;
    l = NULL;
done:
    vd_layer_destroy(l);
    return st;
}

size_t vd_layer_options_text(const vd_layer *l, char *dst, size_t cap)
{
    size_t used = 0;
    for (const vd_key *k = l->ops->keys; k && k->name; k++) {
        const char *field = (const char *)l + k->offset;
        char word[32];
        if (k->type == VD_KEY_ENUM)
            vd_key_choice_name(k->help, *(const int32_t *)field, word, sizeof(word));
        if (k->type == VD_KEY_INTS) {
            const int32_t *v = (const int32_t *)field;
            used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "%s = ", k->name);
            for (int i = 0; i < VD_MAX_DIMS && v[i] >= 0; i++)
                used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "%s%d",
                                         i ? "," : "", (int)v[i]);
            used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "\n");
        } else if (k->type == VD_KEY_FLOAT)
            used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "%s = %.9g\n",
                                     k->name, (double)*(const float *)field);
        else if (k->type == VD_KEY_ENUM)
            used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "%s = %s\n", k->name,
                                     word);
        else
            used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0, "%s = %d\n", k->name,
                                     (int)*(const int32_t *)field);
    }
    return used;
}

void vd_layer_destroy(vd_layer *l)
{
    if (!l) return;
    if (l->ops->destroy) l->ops->destroy(l);
    free(l);
}

/* ckpt.c - checkpoints: one file with the network description, weights, optimizer state,
 * step counters and the caller's training state, so training resumes exactly.
 *
 * Layout (little-endian):
 *   "VDCKPT01" | u32 format | u32 n_sections
 *   n_sections x { char tag[8] | u64 length | u32 crc32(payload) | payload }
 *   u32 crc32 of every byte before it
 * Sections: NETCFG (text), PARAMS (f32 x param_count), OPTIM (fixed header + m, v),
 * TRAIN (vd_train_state fields + net step), LSTATE (layer states: batch-norm running
 * statistics), RUN (the run's plan: schedule, epochs, step size, warm-up, batch,
 * augmentation; added later, so it may be missing). Unknown sections are skipped, so later
 * versions can add some. Written to "<path>.tmp.<pid>", flushed, fsync'ed and renamed over
 * the old file: a crash leaves either the old or the new checkpoint, never a torn one. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../net/net.h"

#define CKPT_MAGIC "VDCKPT01"
#define CKPT_FORMAT 1u
#define CKPT_MAX_SECTION (1ull << 34)
#define CKPT_MAX_SECTIONS 64u

void vd_train_state_init(vd_train_state *s)
{
    if (!s) return;
    memset(s, 0, sizeof(*s));
    s->shuffle_seed = 42;
    s->step_size = 3;
}

float vd_schedule_lr(const vd_train_state *s, int32_t epoch)
{
    if (!s) return 0.0f;
    double base = s->lr, lr = base;
    if (s->schedule == VD_SCHEDULE_STEP && s->step_size > 0)
        lr = base * pow(0.1, (double)((epoch - 1) / s->step_size));
    else if (s->schedule == VD_SCHEDULE_COSINE && s->epochs > 0)
        lr = base * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)(epoch - 1) / s->epochs));
    if (s->warmup > 0 && epoch <= s->warmup) lr = base * (double)epoch / (double)(s->warmup + 1);
    return (float)lr;
}

/* ---------------------------------------------------------------- writing */

typedef struct writer {
    FILE *f;
    uLong crc; /* running CRC of the whole file */
    bool ok;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (!w->ok || n == 0) return;
    w->ok = fwrite(p, 1, n, w->f) == n;
    w->crc = crc32(w->crc, p, (uInt)n);
}

/* Large payloads are written in pieces: crc32 takes uInt lengths. */
static uLong crc_of(const void *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *b = p;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return c;
}

static void section(writer *w, const char *tag, const void *p, uint64_t n)
{
    char t[8] = {0};
    memcpy(t, tag, strlen(tag) < 8 ? strlen(tag) : 8);
    uint32_t crc = (uint32_t)crc_of(p, (size_t)n);
    put(w, t, 8);
    put(w, &n, 8);
    put(w, &crc, 4);
    const unsigned char *b = p;
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done > (1u << 30) ? (1u << 30) : (size_t)(n - done);
        put(w, b + done, k);
        done += k;
    }
}

typedef struct optim_header {
    int32_t kind, nesterov, has_m, has_v;
    float lr, momentum, beta1, beta2, eps, weight_decay, clip_norm, reserved;
    int64_t t;
} optim_header;

/* The RUN section: the plan of the run (vd_train_state's later fields). */
typedef struct run_section {
    int32_t schedule, epochs, step_size, warmup, batch, crop_pad, flip, reserved;
} run_section;

typedef struct train_section {
    int32_t epoch, pad;
    uint64_t shuffle_seed;
    float lr;
    float pad2;
    double best_accuracy;
    uint64_t net_step;
} train_section;

/* Layer states (batch-norm running statistics) in layer order. */
static size_t state_count(const vd_net *net)
{
    size_t n = 0;
    for (int32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i]->ops->state_size) n += net->layers[i]->ops->state_size(net->layers[i]);
    return n;
}

static vd_status states_copy(vd_net *net, float *host, bool to_host)
{
    size_t pos = 0;
    for (int32_t i = 0; i < net->n_layers; i++) {
        vd_layer *l = net->layers[i];
        if (!l->ops->state_size) continue;
        vd_status st = to_host ? l->ops->state_copy(l, net->ctx, host + pos, true)
                               : vd_net_layer_state_write(net, l, host + pos);
        if (st != VD_OK) return st;
        pos += l->ops->state_size(l);
    }
    return VD_OK;
}

vd_status vd_net_save(const vd_net *net_c, const char *path, const vd_train_state *state)
{
    vd_net *net = (vd_net *)net_c; /* reads only; the queue is used for the copies */
    if (!net || !path)
        return vd_error_set(net ? net->ctx : NULL, VD_ERR_INVALID_ARG,
                            "vd_net_save: NULL argument");
    vd_context *ctx = net->ctx;
    if (!net->built) return vd_error_set(ctx, VD_ERR_STATE, "vd_net_save: build the net first");
    vd_status st = VD_OK;
    char *cfg = NULL, tmp[4096];
    size_t np = vd_net_param_count(net);
    float *buf = malloc((np ? np : 1) * sizeof(float));
    FILE *f = NULL;
    tmp[0] = '\0';
    if (!buf) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    VD_TRY(vd_net_to_cfg(net, &cfg));
    if (strlen(path) > sizeof(tmp) - 32) {
        st = vd_error_set(ctx, VD_ERR_INVALID_ARG, "checkpoint path too long");
        goto done;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        st = vd_error_set(ctx, VD_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    writer w = {f, crc32(0L, Z_NULL, 0), true};
    uint32_t format = CKPT_FORMAT, nsec = 6; /* NETCFG PARAMS OPTIM TRAIN RUN LSTATE */
    put(&w, CKPT_MAGIC, 8);
    put(&w, &format, 4);
    put(&w, &nsec, 4);
    section(&w, "NETCFG", cfg, strlen(cfg));
    VD_TRY(vd_net_arena_copy(net, net->params, buf, true, "vd_net_save: reading device arrays"));
    section(&w, "PARAMS", buf, np * sizeof(float));

    optim_header oh = {0};
    if (net->has_optim) {
        const vd_optim_options *o = &net->optim;
        oh = (optim_header){.kind = (int32_t)o->kind,
                            .nesterov = o->nesterov,
                            .has_m = net->m != NULL,
                            .has_v = net->v != NULL,
                            .lr = o->lr,
                            .momentum = o->momentum,
                            .beta1 = o->beta1,
                            .beta2 = o->beta2,
                            .eps = o->eps,
                            .weight_decay = o->weight_decay,
                            .clip_norm = o->clip_norm,
                            .t = net->t};
    } else {
        oh.kind = -1;
    }
    size_t obytes = sizeof(oh) + ((size_t)oh.has_m + (size_t)oh.has_v) * np * sizeof(float);
    unsigned char *ob = malloc(obytes);
    if (!ob) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    memcpy(ob, &oh, sizeof(oh));
    float *mv = (float *)(ob + sizeof(oh));
    if (oh.has_m)
        st = vd_net_arena_copy(net, net->m, mv, true, "vd_net_save: reading device arrays");
    if (st == VD_OK && oh.has_v)
        st = vd_net_arena_copy(net, net->v, mv + (oh.has_m ? np : 0), true,
                               "vd_net_save: reading device arrays");
    if (st == VD_OK) section(&w, "OPTIM", ob, obytes);
    free(ob);
    if (st != VD_OK) goto done;

    vd_train_state def;
    vd_train_state_init(&def);
    if (!state) state = &def;
    train_section ts = {state->epoch,         0,        state->shuffle_seed, state->lr, 0,
                        state->best_accuracy, net->step};
    section(&w, "TRAIN", &ts, sizeof(ts));
    run_section rs = {state->schedule, state->epochs,   state->step_size, state->warmup,
                      state->batch,    state->crop_pad, state->flip,      0};
    section(&w, "RUN", &rs, sizeof(rs));
    size_t ns = state_count(net);
    float *sb = malloc((ns ? ns : 1) * sizeof(float));
    if (!sb) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    st = states_copy(net, sb, true);
    if (st == VD_OK) section(&w, "LSTATE", sb, ns * sizeof(float));
    free(sb);
    if (st != VD_OK) goto done;
    uint32_t total = (uint32_t)w.crc;
    put(&w, &total, 4);
    bool ok = w.ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int cerr = fclose(f);
    f = NULL;
    if (!ok || cerr != 0) {
        st = vd_error_set(ctx, VD_ERR_IO,
                          "cannot write '%s': %s (the previous checkpoint, if any, "
                          "is untouched)",
                          tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = vd_error_set(ctx, VD_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                          strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
done:
    if (f) fclose(f);
    if (tmp[0]) remove(tmp);
    free(cfg);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- reading */

static vd_status bad(vd_context *ctx, const char *path, const char *what)
{
    return vd_error_set(ctx, VD_ERR_FORMAT, "checkpoint '%s': %s", path, what);
}

/* Read the whole file (bounded by its size) and check magic, version, CRCs. */
static vd_status read_file(vd_context *ctx, const char *path, unsigned char **data, size_t *len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vd_error_set(ctx, VD_ERR_IO, "cannot open checkpoint '%s': %s", path,
                            strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return vd_error_set(ctx, VD_ERR_IO, "cannot seek in '%s'", path);
    }
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0 || (uint64_t)size > CKPT_MAX_SECTION) {
        fclose(f);
        return bad(ctx, path, "unreadable or absurd size");
    }
    unsigned char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "checkpoint '%s': out of host memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return vd_error_set(ctx, VD_ERR_IO, "cannot read checkpoint '%s'", path);
    }
    *data = buf;
    *len = got;
    return VD_OK;
}

vd_status vd_ckpt_parse(vd_context *ctx, const char *path, const unsigned char *data, size_t len,
                        vd_ckpt_view *out)
{
    char msg[256];
    memset(out, 0, sizeof(*out));
    if (len < 20 || memcmp(data, CKPT_MAGIC, 6) != 0)
        return bad(ctx, path, "not a Verdant checkpoint (bad magic)");
    uint32_t format, nsec, total;
    memcpy(&format, data + 8, 4);
    memcpy(&nsec, data + 12, 4);
    if (memcmp(data, CKPT_MAGIC, 8) != 0 || format != CKPT_FORMAT) {
        snprintf(msg, sizeof(msg), "format version %u; this build reads version %u", format,
                 CKPT_FORMAT);
        return bad(ctx, path, msg);
    }
    memcpy(&total, data + len - 4, 4);
    if ((uint32_t)crc_of(data, len - 4) != total)
        return bad(ctx, path, "checksum mismatch (the file is truncated or corrupt)");
    if (nsec > CKPT_MAX_SECTIONS) return bad(ctx, path, "too many sections");
    size_t pos = 16;
    for (uint32_t i = 0; i < nsec; i++) {
        if (len - 4 - pos < 20) return bad(ctx, path, "section header runs past the end");
        char tag[9] = {0};
        memcpy(tag, data + pos, 8);
        uint64_t n;
        uint32_t crc;
        memcpy(&n, data + pos + 8, 8);
        memcpy(&crc, data + pos + 16, 4);
        pos += 20;
        if (n > len - 4 - pos) {
            snprintf(msg, sizeof(msg), "section %s claims %llu bytes, only %zu remain", tag,
                     (unsigned long long)n, len - 4 - pos);
            return bad(ctx, path, msg);
        }
        if ((uint32_t)crc_of(data + pos, (size_t)n) != crc) {
            snprintf(msg, sizeof(msg), "section %s checksum mismatch", tag);
            return bad(ctx, path, msg);
        }
        vd_ckpt_section v = {data + pos, n, true};
        if (!strcmp(tag, "NETCFG")) out->netcfg = v;
        else if (!strcmp(tag, "PARAMS")) out->params = v;
        else if (!strcmp(tag, "OPTIM")) out->optim = v;
        else if (!strcmp(tag, "TRAIN")) out->train = v;
        else if (!strcmp(tag, "LSTATE")) out->lstate = v;
        else if (!strcmp(tag, "RUN")) out->run = v;
        pos += (size_t)n;
    }
    if (pos != len - 4) {
        snprintf(msg, sizeof(msg), "%zu bytes after the last of its %u sections", len - 4 - pos,
                 nsec);
        return bad(ctx, path, msg);
    }
    if (!out->netcfg.present || !out->params.present)
        return bad(ctx, path, "missing the NETCFG or PARAMS section");
    return VD_OK;
}

vd_status vd_net_load(vd_context *ctx, const char *path, int32_t max_batch, vd_net **out,
                      vd_train_state *state)
{
    if (!out) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load: out is NULL");
    *out = NULL;
    if (!ctx || !path) return vd_error_set(ctx, VD_ERR_INVALID_ARG, "vd_net_load: NULL argument");
    unsigned char *data = NULL;
    size_t len = 0;
    vd_net *net = NULL;
    char *cfg = NULL;
    char msg[256];
    vd_status st = read_file(ctx, path, &data, &len);
    if (st != VD_OK) return st;
    vd_ckpt_view view;
    VD_TRY(vd_ckpt_parse(ctx, path, data, len, &view));
    vd_ckpt_section netcfg = view.netcfg, params = view.params, optim = view.optim,
                    train = view.train, lstate = view.lstate, run = view.run;
    cfg = malloc((size_t)netcfg.n + 1);
    if (!cfg) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    memcpy(cfg, netcfg.p, (size_t)netcfg.n);
    cfg[netcfg.n] = '\0';
    char src[600];
    snprintf(src, sizeof(src), "%s[NETCFG]", path);
    VD_TRY(vd_net_parse_cfg(ctx, cfg, src, &net));
    VD_TRY(vd_net_build(net, max_batch));
    size_t np = vd_net_param_count(net);
    if (params.n != np * sizeof(float)) {
        snprintf(msg, sizeof(msg), "PARAMS holds %llu floats, the network has %zu",
                 (unsigned long long)(params.n / sizeof(float)), np);
        st = bad(ctx, path, msg);
        goto done;
    }
    /* Sections are not aligned in the file: copy before use as floats. */
    float *tmp = malloc((np ? np : 1) * sizeof(float) * 2);
    if (!tmp) {
        st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
        goto done;
    }
    memcpy(tmp, params.p, np * sizeof(float));
    st = vd_net_arena_copy(net, net->params, tmp, false, "vd_net_load: writing device arrays");
    if (st == VD_OK && optim.present) {
        optim_header oh;
        if (optim.n < sizeof(oh)) {
            st = bad(ctx, path, "OPTIM section too short");
        } else {
            memcpy(&oh, optim.p, sizeof(oh));
            size_t want = sizeof(oh) + ((size_t)(oh.has_m != 0) + (size_t)(oh.has_v != 0)) * np * 4;
            if (oh.kind >= 0 && optim.n != want) {
                st = bad(ctx, path, "OPTIM section size does not match the network");
            } else if (oh.kind >= 0) {
                vd_optim_options o;
                vd_optim_options_init(&o, (vd_optim_kind)oh.kind);
                o.lr = oh.lr;
                o.momentum = oh.momentum;
                o.nesterov = oh.nesterov;
                o.beta1 = oh.beta1;
                o.beta2 = oh.beta2;
                o.eps = oh.eps;
                o.weight_decay = oh.weight_decay;
                o.clip_norm = oh.clip_norm;
                st = vd_net_set_optimizer(net, &o);
                if (st == VD_ERR_INVALID_ARG) { /* bad values in the file; device errors stay */
                    snprintf(msg, sizeof(msg), "OPTIM: %s", vd_last_error(ctx));
                    st = bad(ctx, path, msg);
                }
                const unsigned char *mv = optim.p + sizeof(oh);
                if (st == VD_OK && oh.has_m && net->m) {
                    memcpy(tmp, mv, np * 4);
                    st = vd_net_arena_copy(net, net->m, tmp, false,
                                           "vd_net_load: writing device arrays");
                    mv += np * 4;
                }
                if (st == VD_OK && oh.has_v && net->v) {
                    memcpy(tmp, mv, np * 4);
                    st = vd_net_arena_copy(net, net->v, tmp, false,
                                           "vd_net_load: writing device arrays");
                }
                net->t = oh.t;
            }
        }
    }
    free(tmp);
    if (st != VD_OK) goto done;
    if (lstate.present) {
        size_t ns = state_count(net);
        if (lstate.n != ns * sizeof(float)) {
            snprintf(msg, sizeof(msg), "LSTATE holds %llu floats, the network's layers keep %zu",
                     (unsigned long long)(lstate.n / sizeof(float)), ns);
            st = bad(ctx, path, msg);
            goto done;
        }
        float *sb = malloc((ns ? ns : 1) * sizeof(float));
        if (!sb) {
            st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
            goto done;
        }
        memcpy(sb, lstate.p, ns * sizeof(float));
        st = states_copy(net, sb, false);
        free(sb);
        if (st != VD_OK) goto done;
    }
    if (state) vd_train_state_init(state);
    if (train.present) {
        train_section ts;
        if (train.n != sizeof(ts)) {
            st = bad(ctx, path, "TRAIN section has the wrong size");
            goto done;
        }
        memcpy(&ts, train.p, sizeof(ts));
        net->step = ts.net_step;
        if (state) {
            state->epoch = ts.epoch;
            state->shuffle_seed = ts.shuffle_seed;
            state->lr = ts.lr;
            state->best_accuracy = ts.best_accuracy;
        }
    }
    if (run.present) {
        run_section rs;
        if (run.n != sizeof(rs)) {
            st = bad(ctx, path, "RUN section has the wrong size");
            goto done;
        }
        memcpy(&rs, run.p, sizeof(rs));
        if (rs.schedule < VD_SCHEDULE_CONSTANT || rs.schedule > VD_SCHEDULE_COSINE ||
            rs.epochs < 0 || rs.step_size < 0 || rs.warmup < 0 || rs.batch < 0 || rs.crop_pad < 0 ||
            rs.crop_pad > 64 || (rs.flip != 0 && rs.flip != 1)) {
            st = bad(ctx, path, "RUN section holds an out-of-range value");
            goto done;
        }
        if (state) {
            state->schedule = rs.schedule;
            state->epochs = rs.epochs;
            state->step_size = rs.step_size;
            state->warmup = rs.warmup;
            state->batch = rs.batch;
            state->crop_pad = rs.crop_pad;
            state->flip = rs.flip;
        }
    }
    *out = net;
    net = NULL;
done:
    vd_net_destroy(net);
    free(cfg);
    free(data);
    return st;
}

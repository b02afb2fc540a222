/* net.h - internal view of a network: layers in order, the buffers planned for one batch
 * size, the parameter/gradient/optimizer arenas. Shared by net.c and src/train. */
#ifndef VD_NET_H
#define VD_NET_H

#include "../layers/layer.h"

typedef struct vd_owned_buf {
    cl_mem mem;
    size_t bytes;
} vd_owned_buf;

struct vd_net {
    vd_context *ctx;
    struct vd_dist *dist;         /* data-parallel state (src/net/dist.c); NULL when off */
    vd_shape input;
    bool has_input;
    vd_layer **layers;
    int32_t n_layers, cap_layers;
    vd_loss loss;
    uint64_t seed;
    vd_train_recipe recipe; /* [net] training keys, "not given" by default */
    char *out_names[VD_MAX_OUTPUTS]; /* extra outputs (vd_net_add_output), resolved at build */
    int32_t out_layers[VD_MAX_OUTPUTS];
    int32_t n_extra;

    /* Planned by vd_net_build */
    bool built;
    int32_t max_batch;
    vd_buf in;                    /* (max_batch, input) */
    vd_buf *act;                  /* act[i]: output of layer i, (max_batch, out_i) */
    vd_buf *grad;                 /* grad[i]: dL/d act[i]; mem NULL where no gradient is needed */
    /* Inference plan (docs/CONV.md, "Inference: batch norm folded in"): skip[i] says layer i
     * does no work at inference, its output being its input's (dropout; a batchnorm folded
     * into the conv2d before it). out[i]: where layer i's output is after the last
     * forward: act[i], or in inference the output it passed through. */
    bool *infer_skip;
    vd_buf *out;
    cl_mem labels;                /* int32 (max_batch) */
    cl_mem targets;               /* float (max_batch, output) for MSE */
    cl_mem row_loss, row_correct; /* float (max_batch) */
    cl_mem acc;                   /* float[2]: running loss sum, correct count */
    size_t arena;                 /* elements in each arena */
    cl_mem params, grads;         /* parameter values and gradients */
    vd_owned_buf *owned;
    size_t n_owned, cap_owned;

    /* Optimizer */
    bool has_optim;
    vd_optim_options optim;
    cl_mem m, v;   /* optimizer state arenas (NULL when unused) */
    cl_mem clip_work; /* VD_CLIP_PARTS floats for gradient clipping (NULL when off) */
    int64_t t;     /* optimizer steps taken */
    uint64_t step; /* training steps enqueued (RNG streams) */
    /* Weights version (vd_step.wver), >= 1: moved on by everything that writes parameters
     * or layer state: building, a training step (its forward moves batch-norm statistics,
     * its update the parameters), vd_net_arena_copy into the parameters, and
     * vd_net_layer_state_write, which every state write goes through. */
    uint64_t wver;
};

/* Write layer l's persistent state from host (state_copy) and move the weights version. */
vd_status vd_net_layer_state_write(vd_net *net, vd_layer *l, float *host);

/* Append a layer from parsed options (vd_net_add and the network file reader). inputs:
 * "a+b" or "a,b", NULL for the previous layer. Errors are prefixed "src:line: " when src is
 * not NULL. */
vd_status vd_net_add_kv(vd_net *net, const char *type, const char *name, const char *inputs,
                        const vd_kv *kv, size_t n, const char *src, int32_t line);

/* Allocate a device buffer owned by the net (released in vd_net_destroy). */
vd_status vd_net_alloc(vd_net *net, size_t bytes, cl_mem *out);

/* Copy a batch to the device. Blocking when ev is NULL; otherwise non-blocking, with the
 * event of the last write returned in *ev (host memory must stay valid until then). */
vd_status vd_net_upload(vd_net *net, const float *x, const int32_t *labels, const float *targets,
                        int32_t n, cl_event *ev);
/* Enqueue forward, loss (+ accumulation into acc) and, when train, backward and the
 * optimizer update. */
vd_status vd_net_step_enqueue(vd_net *net, int32_t n, bool train);
/* Zero / read the running loss sum and correct count. */
vd_status vd_net_acc_zero(vd_net *net);
vd_status vd_net_acc_read(vd_net *net, double *loss_sum, double *correct);

/* dist.c: sum the gradients across ranks and divide by the rank count (no-op when
 * net->dist is NULL); free the state. */
vd_status vd_net_dist_reduce(vd_net *net);
/* Before a training step's backward (drops what a failed step left); after layer i's
 * backward is enqueued (reads back the gradient bucket it completes, if any). */
void vd_net_dist_begin(vd_net *net);
vd_status vd_net_dist_layer_done(vd_net *net, int32_t layer);
void vd_net_dist_free(vd_net *net);

/* Blocking copy between an arena laid out like the parameters (values, gradients,
 * optimizer moments) and vd_net_param_count() host floats in parameter-list order. */
vd_status vd_net_arena_copy(vd_net *net, cl_mem arena, float *host, bool to_host,
                            const char *what);

/* ckpt.c: a checkpoint image checked in host memory (magic, version, file and section
 * CRCs, section bounds) and its sections located; no device is used. path names it in
 * messages; ctx may be NULL. VD_ERR_FORMAT as vd_net_load. The fuzz target
 * (tests/fuzz/fuzz_ckpt.c). */
typedef struct vd_ckpt_section {
    const unsigned char *p; /* inside the image */
    uint64_t n;
    bool present;
} vd_ckpt_section;
typedef struct vd_ckpt_view {
    vd_ckpt_section netcfg, params, optim, train, lstate, run;
} vd_ckpt_view;
vd_status vd_ckpt_parse(vd_context *ctx, const char *path, const unsigned char *data, size_t len,
                        vd_ckpt_view *out);

/* optim.c: enqueue one update of every parameter from its gradient. */
vd_status vd_optim_update(vd_net *net);

#endif /* VD_NET_H */

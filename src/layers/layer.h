/* layer.h - the layer interface: a small vtable per family, a common header holding the
 * layer's name, shapes and parameter list, and the option-key tables through which both
 * vd_net_add() and network files set a layer's fields. The optimizer is not here: layers
 * only list their parameters; one optimizer kernel updates them all. */
#ifndef VD_LAYER_H
#define VD_LAYER_H

#include "../ops/ops.h"

/* Shape of one sample (no batch dimension). */
typedef struct vd_shape {
    int32_t ndim;
    int64_t d[VD_MAX_DIMS];
} vd_shape;

size_t vd_shape_numel(const vd_shape *s);
/* "(1, 28, 28)" */
void vd_shape_format(const vd_shape *s, char *dst, size_t cap);

/* A device buffer position: memory and an element offset. */
typedef struct vd_buf {
    cl_mem mem;
    size_t off;
} vd_buf;

static inline vd_buf vd_buf_at(vd_buf b, size_t elems)
{
    b.off += elems;
    return b;
}

typedef enum vd_init {
    VD_INIT_ZERO = 0,
    VD_INIT_ONE,
    VD_INIT_AUTO /* He normal when the layer is followed by ReLU/GELU, Xavier normal otherwise */
} vd_init;

#define VD_MAX_PARAMS 4

/* One trainable tensor. Values and gradients live in the net's parameter and gradient
 * arenas at `offset`; the same offset indexes the optimizer's state arenas. */
typedef struct vd_param {
    char name[16]; /* "weight", "bias" */
    vd_shape shape;
    size_t numel;
    size_t offset; /* elements into the arenas, set by the net */
    vd_init init;
    size_t fan_in, fan_out;
} vd_param;

/* What a forward/backward call needs besides the tensors. */
typedef struct vd_step {
    vd_context *ctx;
    int32_t n;     /* samples in this batch (<= max_batch) */
    bool train;    /* training mode (dropout active) */
    uint64_t seed; /* net seed */
    uint64_t step; /* optimisation step counter (RNG streams) */
    vd_buf params; /* parameter arena; a layer's parameter p is at params.off + p.offset */
    vd_buf grads;  /* gradient arena, same layout */
    /* The net's weights version (net.h): equal in two calls only when no parameter or
     * layer state changed in between, so a layer may keep what it derived from them
     * (folded or packed weights) while it stays the same. 0: unknown, keep nothing. */
    uint64_t wver;
} vd_step;

typedef struct vd_layer vd_layer;

/* VD_KEY_ENUM: one of a few words, stored as its index (int32_t); the words open the help
 * text, '|'-separated and ended by ':' ("y|mean|invstd: what the layer returns"), so the
 * key tables keep their shape. lo/hi are ignored, def is the default's index. */
/* VD_KEY_INTS: a comma-separated list of up to `hi` integers, each in [lo, VD_MAX_DIMS),
 * into an int32_t[VD_MAX_DIMS] field; unused entries hold -1 (the default: an empty list). */
typedef enum vd_key_type { VD_KEY_INT, VD_KEY_FLOAT, VD_KEY_BOOL, VD_KEY_ENUM,
                                  VD_KEY_INTS } vd_key_type;

/* One accepted option of a layer family: sets the field at `offset` in the family's
 * struct. */
typedef struct vd_key {
    const char *name;
    vd_key_type type;
    size_t offset;
    double def, lo, hi;
    bool required;
    const char *help;
} vd_key;

/* Index of word `w` among the choices of VD_KEY_ENUM help text `help`, or -1. */
int32_t vd_key_choice(const char *help, const char *w);
/* Copy word `i` of those choices to dst ("" when out of range). */
void vd_key_choice_name(const char *help, int32_t i, char *dst, size_t cap);

typedef struct vd_layer_ops {
    const char *type;   /* registry name */
    size_t size;        /* sizeof the family's struct (which begins with vd_layer) */
    const vd_key *keys; /* NULL-name terminated; may be NULL */
    /* true: the output is the input's memory (flatten/reshape): no forward/backward
     * work, the gradient buffer is shared too. */
    bool alias;
    /* true: the layer reads no input (constant); vd_net_add refuses an input list for it
     * and it has n_inputs 0. */
    bool no_input;
    /* After options are set: validate them and set family fields. May be NULL. */
    vd_status (*init)(vd_layer *l);
    /* Shape inference: set l->out from l->in and declare parameters with
     * vd_layer_param(). VD_ERR_SHAPE with a message naming the layer on mismatch. */
    vd_status (*reshape)(vd_layer *l);
    /* y = f(x). x: (n, in), y: (n, out). */
    vd_status (*forward)(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y);
    /* dx = beta * dx + dL/dx (skip when dx.mem is NULL); parameter gradients are always
     * accumulated into s->grads. dy is the layer's own: it may be overwritten (conv2d relu=1
     * masks it in place), with values that give the same gradients if run again. */
    vd_status (*backward)(vd_layer *l, const vd_step *s, vd_buf x, vd_buf y, vd_buf dy, vd_buf dx,
                          float beta);
    void (*destroy)(vd_layer *l); /* may be NULL */
    /* Persistent state that is not a parameter (batch-norm running statistics), saved in
     * checkpoints: its size in floats, and a blocking copy to (to_host) or from the host.
     * Both NULL for stateless families. */
    size_t (*state_size)(const vd_layer *l);
    /* Forward floating-point operations for one sample (multiply-adds count 2), for plans
     * and GFLOP/s figures. NULL: one per output element. */
    uint64_t (*flops)(const vd_layer *l);
    vd_status (*state_copy)(vd_layer *l, vd_context *ctx, float *host, bool to_host);
    /* Layers of several inputs (add, concat) set max_inputs > 1 and implement these
     * instead of forward/backward: xs[i] is input i (of shape l->ins[i]); dxs[i].mem is
     * NULL where no gradient is needed, and betas[i] says whether to overwrite (0) or
     * accumulate (1). reshape reads l->ins and l->n_inputs. */
    int32_t max_inputs;
    vd_status (*forward_multi)(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y);
    vd_status (*backward_multi)(vd_layer *l, const vd_step *s, const vd_buf *xs, vd_buf y,
                                vd_buf dy, const vd_buf *dxs, const float *betas);
    /* The algorithm this layer runs with now ("gemm", "winograd", ...), for the profiling
     * table; NULL (or a NULL hook) means "-". */
    const char *(*algo)(const vd_layer *l);
    /* true: at inference the output equals the input (dropout returning y), so the net
     * passes the input through without running forward. NULL: false. */
    bool (*identity_at_inference)(const vd_layer *l);
} vd_layer_ops;

#define VD_MAX_INPUTS 8

struct vd_layer {
    const vd_layer_ops *ops;
    char name[64];
    int32_t index;
    vd_shape in, out;              /* in == ins[0] */
    int32_t n_inputs;              /* 1 unless the family takes several */
    int32_t inputs[VD_MAX_INPUTS]; /* producer layer indices; -1 is the net input */
    vd_shape ins[VD_MAX_INPUTS];
    vd_param params[VD_MAX_PARAMS];
    int32_t n_params;
    bool followed_by_rectifier; /* set by the net before init of weights */
    bool fused_rectifier;       /* the family applies a ReLU to its own output (batchnorm or
                                   conv2d relu=1): the layer's own weights count as followed by
                                   a rectifier, and for a normalisation the layers before it */
};

/* A device buffer a layer keeps for itself (conv workspace, max-pool positions, norm
 * statistics), taken from the context's pool and grown on demand. */
typedef struct vd_layer_buf {
    vd_context *ctx; /* the context mem came from (NULL while empty) */
    cl_mem mem;
    size_t bytes;
} vd_layer_buf;

/* Make b hold at least bytes; *fresh (may be NULL) says whether it was (re)allocated, in
 * which case its contents are undefined. On failure b is empty. */
vd_status vd_layer_buf_reserve(vd_layer_buf *b, vd_context *ctx, size_t bytes, bool *fresh);
/* Give the memory back to its context's pool; b is empty afterwards. */
void vd_layer_buf_release(vd_layer_buf *b);

/* Declare a parameter during reshape. */
vd_status vd_layer_param(vd_layer *l, vd_context *ctx, const char *name, int32_t ndim,
                         const int64_t *shape, vd_init init, size_t fan_in, size_t fan_out);

/* Registry (registry.c) */
const vd_layer_ops *vd_layer_find(const char *type);
/* One option as text, with the line it came from (0 when not from a file). */
typedef struct vd_kv {
    const char *key, *value;
    int32_t line;
} vd_kv;

/* Allocate a layer of `type`, apply the options (missing ones keep their defaults) and run
 * init. Errors name the layer and key: "layer 'fc1' (dense): unknown key 'untis'", prefixed
 * with "src:line: " when src is not NULL (line: the key's, else `line`). */
vd_status vd_layer_create(vd_context *ctx, const char *type, const char *name, const vd_kv *kv,
                          size_t n, const char *src, int32_t line, vd_layer **out);
/* Append "key=value" pairs of every option of l (current values) to dst, one per line. */
size_t vd_layer_options_text(const vd_layer *l, char *dst, size_t cap);
/* Set one option from text; used by vd_layer_create and by file parsers. */
vd_status vd_layer_set_option(vd_context *ctx, vd_layer *l, const char *key, const char *value);
void vd_layer_destroy(vd_layer *l);

/* Family ops, defined in src/layers/<family>.c */
extern const vd_layer_ops vd_layer_dense;
extern const vd_layer_ops vd_layer_relu, vd_layer_sigmoid, vd_layer_tanh, vd_layer_gelu;
extern const vd_layer_ops vd_layer_leaky_relu;
extern const vd_layer_ops vd_layer_dropout;
extern const vd_layer_ops vd_layer_flatten, vd_layer_reshape; /* flatten.c */
extern const vd_layer_ops vd_layer_transpose;
extern const vd_layer_ops vd_layer_add, vd_layer_concat;
extern const vd_layer_ops vd_layer_constant; /* constant.c */
extern const vd_layer_ops vd_layer_conv2d, vd_layer_deconv2d; /* conv.c */
/* The convolution geometry of a conv2d or deconv2d layer after reshape (for deconv2d: the
 * convolution it transposes); false for other layers. conv.c; used by `verdant bench`. */
struct vd_conv_geom;
bool vd_layer_conv_geom(const vd_layer *l, struct vd_conv_geom *g);
/* Tests only: cap a conv2d or deconv2d layer's workspace at bytes (default 64 MiB) so its
 * passes run in more chunks; false for other layers. conv.c */
bool vd_layer_conv_set_ws_cap(vd_layer *l, size_t bytes);
extern const vd_layer_ops vd_layer_maxpool, vd_layer_avgpool, vd_layer_globalavgpool; /* pool.c */
extern const vd_layer_ops vd_layer_batchnorm, vd_layer_layernorm, vd_layer_softmax;   /* norm.c */
/* Inference folding (docs/CONV.md, "Inference: batch norm folded in"). The net plans it at
 * build: a conv2d without relu = 1 whose only consumer is a batchnorm takes that norm
 * (vd_layer_conv_fold_bn returns true; bn NULL undoes it), and at inference runs with the folded
 * weights and bias and the norm's ReLU, the norm itself skipped. vd_layer_batchnorm_fold writes a
 * convolution's weights w (K, per) and bias b (mem NULL: none) with the norm l folded in
 * to out (K * per + K floats); VD_ERR_SHAPE when l is not a batchnorm over K channels. */
bool vd_layer_conv_fold_bn(vd_layer *conv, vd_layer *bn);
vd_status vd_layer_batchnorm_fold(vd_layer *l, const vd_step *s, size_t K, size_t per, vd_buf w,
                                  vd_buf b, vd_buf out);
extern const vd_layer_ops vd_layer_logsoftmax;                                      /* norm.c */

#endif /* VD_LAYER_H */

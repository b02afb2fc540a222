/* verdant.h - the public C API of libverdant, a portable OpenCL deep learning runtime.
 *
 * This is the only header users include. It does not change with build options.
 * Conventions:
 *   - Every fallible call returns vd_status: VD_OK (0) or a negative error code.
 *     The detailed message is read with vd_last_error(ctx); calls that have no context
 *     (dataset loading, device listing) leave it in a thread-local slot read with
 *     vd_last_error(NULL).
 *   - Handles are opaque. destroy(NULL) is a no-op.
 *   - Structs the caller fills in come with an _init() that sets the defaults; call it
 *     first so that fields added later keep their defaults.
 *   - Shapes are listed outermost first (NCHW); tensors hold float32.
 *   - Library code never exits or aborts: the process belongs to the caller.
 */
#ifndef VERDANT_H
#define VERDANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(VERDANT_BUILDING)
#define VD_API __declspec(dllexport)
#elif defined(__GNUC__)
#define VD_API __attribute__((visibility("default")))
#else
#define VD_API
#endif

#define VD_VERSION_MAJOR 0
#define VD_VERSION_MINOR 1
#define VD_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------
 * Status codes. One table: the enum, vd_status_string() and vd_status_name() come from it.
 */
#define VD_STATUS_LIST(X)                                                                   \
    X(VD_OK, 0, "success")                                                                  \
    X(VD_ERR_INVALID_ARG, -1, "invalid argument")                                           \
    X(VD_ERR_NO_DEVICE, -2, "no usable OpenCL device")                                      \
    X(VD_ERR_OPENCL, -3, "OpenCL error")                                                    \
    X(VD_ERR_BUILD, -4, "kernel build failed")                                              \
    X(VD_ERR_NO_MEMORY, -5, "out of memory")                                                \
    X(VD_ERR_SHAPE, -6, "shape mismatch")                                                   \
    X(VD_ERR_IO, -7, "file I/O error")                                                      \
    X(VD_ERR_FORMAT, -8, "malformed input")                                                 \
    X(VD_ERR_BLAS, -9, "CLBlast error")                                                     \
    X(VD_ERR_FFT, -10, "clFFT error")                                                       \
    X(VD_ERR_UNSUPPORTED, -11, "not supported")                                             \
    X(VD_ERR_STATE, -12, "call not valid in this state")                                    \
    X(VD_ERR_NOT_FOUND, -13, "not found")                                                   \
    X(VD_ERR_NUMERIC, -14, "non-finite value")                                              \
    X(VD_ERR_INTERNAL, -15, "internal error")

typedef enum vd_status {
#define VD_STATUS_ENUM_(name, value, text) name = value,
    VD_STATUS_LIST(VD_STATUS_ENUM_)
#undef VD_STATUS_ENUM_
} vd_status;

/* Short English text for a status ("out of memory"); never NULL. */
VD_API const char *vd_status_string(vd_status s);
/* The enum name ("VD_ERR_NO_MEMORY"); never NULL. */
VD_API const char *vd_status_name(vd_status s);

typedef struct vd_context vd_context;
typedef struct vd_tensor vd_tensor;
typedef struct vd_net vd_net;
typedef struct vd_dataset vd_dataset;

/* The message of the last failed call on ctx, or of the last failed context-less call on
 * this thread when ctx is NULL. Empty string when there was none; never NULL. The pointer
 * stays valid until the next failing call on the same context / thread. */
VD_API const char *vd_last_error(const vd_context *ctx);

/* "0.1.0" */
VD_API const char *vd_version(void);

/* ---------------------------------------------------------------------------------------
 * Devices and contexts
 */
typedef enum vd_device_type {
    VD_DEVICE_OTHER = 0,
    VD_DEVICE_CPU = 1,
    VD_DEVICE_GPU = 2,
    VD_DEVICE_ACCELERATOR = 3
} vd_device_type;

typedef struct vd_device_info {
    int32_t platform_index;       /* index among clGetPlatformIDs */
    int32_t device_index;         /* index among that platform's devices */
    vd_device_type type;
    char platform_name[128];
    char name[128];
    char vendor[128];
    char device_version[128];     /* "OpenCL 3.0 ..." */
    char driver_version[128];
    char opencl_c_version[64];    /* "OpenCL C 1.2 ..." */
    int32_t compute_units;
    int32_t max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    int32_t has_fp16;
    int32_t has_fp64;
    int32_t usable;               /* OpenCL C >= 1.2 and a GPU/CPU/accelerator */
} vd_device_info;

/* List every OpenCL device of every platform. Writes up to cap entries to out (out may be
 * NULL when cap is 0) and the total count to *count. Returns VD_ERR_NO_DEVICE (with a
 * message) when no platform is installed. Does not create a context. */
VD_API vd_status vd_devices_list(vd_device_info *out, size_t cap, size_t *count);

typedef struct vd_context_options {
    /* Which device: NULL means the VERDANT_DEVICE environment variable, and when that is
     * unset too, the best GPU, else the best usable CPU device (PoCL); "best" ranks by
     * type, then compute units x clock.
     * Forms: "gpu", "cpu", "P:D" (platform and device indices), or a case-insensitive
     * substring of "platform name / device name". */
    const char *device;
    /* Directory for the kernel binary cache: NULL means VERDANT_CACHE_DIR, else
     * $XDG_CACHE_HOME/verdant, else ~/.cache/verdant. "off" disables the disk cache. */
    const char *cache_dir;
    /* 0 quiet, 1 notes on stderr (device chosen, cache misses), 2 debug. */
    int32_t verbose;
} vd_context_options;

VD_API void vd_context_options_init(vd_context_options *opt);

/* Create a context on one device (an in-order queue with profiling). opt may be NULL for
 * the defaults. Returns VD_ERR_NO_DEVICE when nothing matches, VD_ERR_INVALID_ARG for a
 * malformed device string, VD_ERR_OPENCL when the driver fails. */
VD_API vd_status vd_context_create(const vd_context_options *opt, vd_context **out);
VD_API void vd_context_destroy(vd_context *ctx);
/* The device the context runs on. */
VD_API vd_status vd_context_device(const vd_context *ctx, vd_device_info *out);
/* Wait for every enqueued command. */
VD_API vd_status vd_context_finish(vd_context *ctx);

typedef struct vd_context_stats {
    uint64_t programs_built_from_source; /* clBuildProgram from source text */
    uint64_t programs_loaded_from_cache; /* binaries read from the disk cache */
    uint64_t pool_bytes_in_use;          /* device bytes held by live tensors */
    uint64_t pool_bytes_cached;          /* freed device bytes kept for reuse */
    uint64_t pool_allocations;           /* clCreateBuffer calls so far */
} vd_context_stats;

VD_API vd_status vd_context_stats_get(const vd_context *ctx, vd_context_stats *out);

/* ---------------------------------------------------------------------------------------
 * Tensors: float32 device memory of up to 4 dimensions. A view shares its base's buffer
 * at an element offset; the base must outlive its views.
 */
#define VD_MAX_DIMS 4

/* shape: ndim extents, each >= 1. Contents are undefined until written. */
VD_API vd_status vd_tensor_create(vd_context *ctx, int32_t ndim, const int64_t *shape,
                                  vd_tensor **out);
/* A view of base starting offset elements in, with its own shape; VD_ERR_SHAPE if it
 * does not fit inside base. */
VD_API vd_status vd_tensor_view(vd_tensor *base, size_t offset, int32_t ndim,
                                const int64_t *shape, vd_tensor **out);
VD_API void vd_tensor_destroy(vd_tensor *t);
VD_API int32_t vd_tensor_ndim(const vd_tensor *t);
/* Extent of dimension i (0 when out of range). */
VD_API int64_t vd_tensor_dim(const vd_tensor *t, int32_t i);
VD_API size_t vd_tensor_numel(const vd_tensor *t);
/* Blocking copies between host memory and the tensor. count must equal numel:
 * VD_ERR_SHAPE otherwise (so an undersized host buffer is caught when its size is
 * passed honestly). */
VD_API vd_status vd_tensor_write(vd_tensor *t, const float *src, size_t count);
VD_API vd_status vd_tensor_read(const vd_tensor *t, float *dst, size_t count);
/* Set every element to value (non-blocking). */
VD_API vd_status vd_tensor_fill(vd_tensor *t, float value);

/* ---------------------------------------------------------------------------------------
 * Datasets (host memory). Images are stored as bytes and turned into floats per batch.
 */

/* Load an IDX image file and its IDX label file; either may be gzip-compressed (read
 * directly through zlib) or raw. Images must be IDX3 (count, rows, cols) of unsigned bytes,
 * labels IDX1 of unsigned bytes with the same count. Returns VD_ERR_IO for a missing or
 * unreadable file, VD_ERR_FORMAT for a bad magic, dimension or a truncated file, with the
 * path and the field in vd_last_error(NULL). */
/* labels_path may be NULL: images without labels (all labels 0), e.g. to classify them. */
VD_API vd_status vd_dataset_load_idx(const char *images_path, const char *labels_path,
                                     vd_dataset **out);
/* Fashion-MNIST (or MNIST) from a directory holding train-images-idx3-ubyte[.gz] etc.
 * split is "train" or "test" ("t10k" is accepted too). dir NULL means the Debian package's
 * /usr/share/datasets/fashion-mnist. */
VD_API vd_status vd_dataset_load_mnist(const char *dir, const char *split, vd_dataset **out);
/* A copy of count samples starting at first. */
VD_API vd_status vd_dataset_subset(const vd_dataset *ds, size_t first, size_t count,
                                   vd_dataset **out);
VD_API void vd_dataset_destroy(vd_dataset *ds);
VD_API size_t vd_dataset_count(const vd_dataset *ds);
/* Shape of one sample: (channels, rows, cols). Writes 3 values. */
VD_API void vd_dataset_sample_shape(const vd_dataset *ds, int64_t shape[3]);
/* Number of classes (max label + 1). */
VD_API int32_t vd_dataset_classes(const vd_dataset *ds);
/* Copy samples idx[0..n) as floats (pixel/255 - mean)/std with the dataset's mean and std
 * (vd_dataset_set_normalization) into x (n * sample size) and their labels into y. */
VD_API vd_status vd_dataset_batch(const vd_dataset *ds, const uint32_t *idx, size_t n,
                                  float *x, int32_t *y);
/* Default normalisation is mean 0, std 1 on [0,1] pixels. */
VD_API void vd_dataset_set_normalization(vd_dataset *ds, float mean, float std);

/* ---------------------------------------------------------------------------------------
 * Networks
 *
 * Build a network by naming layer types from the registry, each with "key=value" options:
 *     vd_net_create(ctx, &net);
 *     vd_net_input(net, 3, (int64_t[]){1, 28, 28});
 *     vd_net_add(net, "flatten", NULL, NULL);
 *     vd_net_add(net, "dense", "fc1", "units=256");
 *     vd_net_add(net, "relu", NULL, NULL);
 *     vd_net_add(net, "dense", "fc2", "units=10");
 *     vd_net_build(net, 64);
 * Layer types: dense (units, bias=1), relu, sigmoid, tanh, gelu, dropout (p),
 * flatten, and the rest of docs/FORMATS.md's table. vd_net_layer_types() lists them.
 */
typedef enum vd_loss {
    VD_LOSS_SOFTMAX_CE = 0, /* softmax + cross-entropy on integer labels (fused, stable) */
    VD_LOSS_MSE = 1         /* mean squared error on float targets */
} vd_loss;

typedef enum vd_optim_kind {
    VD_OPTIM_SGD = 0,   /* momentum, L2 weight decay added to the gradient */
    VD_OPTIM_ADAM = 1,  /* L2 weight decay added to the gradient */
    VD_OPTIM_ADAMW = 2  /* decoupled weight decay (Loshchilov & Hutter) */
} vd_optim_kind;

typedef struct vd_optim_options {
    vd_optim_kind kind;
    float lr;            /* default 0.01 for SGD, 0.001 for Adam/AdamW (set in init: 0.001) */
    float momentum;      /* SGD, default 0.9 */
    int32_t nesterov;    /* SGD, default 0 */
    float beta1, beta2;  /* Adam, default 0.9, 0.999 */
    float eps;           /* Adam, default 1e-8 */
    float weight_decay;  /* default 0 */
    float clip_norm;     /* > 0: scale the gradients so their global L2 norm is at most
                            this before each update (on the device); default 0: off */
} vd_optim_options;

VD_API void vd_optim_options_init(vd_optim_options *opt, vd_optim_kind kind);

/* NULL-terminated list of the registered layer type names. */
VD_API const char *const *vd_net_layer_types(void);

VD_API vd_status vd_net_create(vd_context *ctx, vd_net **out);
VD_API void vd_net_destroy(vd_net *net);
/* Shape of one input sample (without the batch dimension), 1 to 3 dims. */
VD_API vd_status vd_net_input(vd_net *net, int32_t ndim, const int64_t *shape);
/* Append a layer. type: a registered name. name: unique, or NULL for "<type><index>".
 * options: space- or comma-separated key=value pairs, or NULL. The input is the previous
 * layer. Unknown keys and bad values return VD_ERR_INVALID_ARG naming the layer and key. */
VD_API vd_status vd_net_add(vd_net *net, const char *type, const char *name,
                            const char *options);
VD_API vd_status vd_net_set_loss(vd_net *net, vd_loss loss);
/* Seed of the counter-based RNG used for weight init and dropout (default 42). */
VD_API vd_status vd_net_set_seed(vd_net *net, uint64_t seed);
/* Infer shapes, allocate every activation, gradient and parameter for batches of up to
 * max_batch samples, and initialise the weights (He for layers followed by ReLU/GELU,
 * Xavier otherwise). VD_ERR_SHAPE names the first layer whose input does not fit. */
VD_API vd_status vd_net_build(vd_net *net, int32_t max_batch);
/* Select the optimizer and allocate its state. Required before training. */
VD_API vd_status vd_net_set_optimizer(vd_net *net, const vd_optim_options *opt);
VD_API vd_status vd_net_set_lr(vd_net *net, float lr);
/* Number of trainable scalars. */
VD_API size_t vd_net_param_count(const vd_net *net);
/* Size of one output sample (classes for a classifier). */
VD_API size_t vd_net_output_size(const vd_net *net);
/* Extra outputs. A net's output (output 0) is its last layer's; vd_net_add_output makes
 * the output of another layer, named, one more result of vd_net_predict_outputs (outputs
 * 1, 2, ... in the order of the calls; at most VD_MAX_OUTPUTS in all). Call before
 * vd_net_build; the layer may be added later (it is looked up at build). Training still
 * minimises the loss of output 0: a layer that only feeds extra outputs gets no gradient
 * and its backward never runs. In a network file: [net] outputs = name, name. */
#define VD_MAX_OUTPUTS 8
VD_API vd_status vd_net_add_output(vd_net *net, const char *layer);
/* 1 + the number of extra outputs. */
VD_API int32_t vd_net_output_count(const vd_net *net);
/* Output i's layer name and floats per sample (after build for the size; NULL skips). */
VD_API vd_status vd_net_output_info(const vd_net *net, int32_t i, const char **layer,
                                    size_t *size);
/* Forward floating-point operations for one sample (multiply-add = 2), after build. */
VD_API uint64_t vd_net_flops(const vd_net *net);
/* Print one line per layer (name, type, output shape, parameters, MFLOP per sample) to a FILE* passed as
 * void* (stdout when NULL), to keep <stdio.h> out of this header. */
VD_API vd_status vd_net_summary(const vd_net *net, void *file);

/* Network description files (INI-like; see docs/FORMATS.md):
 *     [net]
 *     input = 1, 28, 28
 *     loss = softmax_ce
 *     [conv2d]
 *     name = c1
 *     filters = 6
 * Each section after [net] is a layer of that registry type; `name` and `input` (names
 * joined by '+', default: the previous layer) are reserved keys; the rest are the layer's
 * options. Errors are VD_ERR_FORMAT or VD_ERR_INVALID_ARG with "file:line: " and the key.
 * The net is returned unbuilt. */
VD_API vd_status vd_net_load_cfg(vd_context *ctx, const char *path, vd_net **out);
/* The same from text in memory; src names it in messages (NULL: "<string>"). */
VD_API vd_status vd_net_parse_cfg(vd_context *ctx, const char *text, const char *src,
                                  vd_net **out);
/* The net's description in that format (every option spelled out). *out is malloc'ed;
 * free it with free(). */
VD_API vd_status vd_net_to_cfg(const vd_net *net, char **out);

/* The training recipe a .cfg may carry in [net] (darknet style), so a model file states how
 * to reproduce its documented result. Keys are `verdant train`'s flags with '-' as '_':
 * optimizer (sgd|adam|adamw), schedule (constant|step|cosine), epochs, batch, lr, momentum,
 * weight_decay, clip_norm, warmup, step_size, crop_pad, flip (0|1). A field the file leaves
 * out stays "not given" (empty string, or negative): the caller's default applies, and an
 * explicit command-line flag wins over the file (flag > cfg key > built-in default).
 * vd_net_to_cfg writes the given keys back, so checkpoints keep the recipe. */
typedef struct vd_train_recipe {
    char optimizer[16], schedule[16]; /* "" = not given */
    int32_t epochs, batch, warmup, step_size, crop_pad, flip; /* -1 = not given */
    double lr, momentum, weight_decay, clip_norm;             /* -1 = not given */
} vd_train_recipe;
/* Every field "not given". */
VD_API void vd_train_recipe_init(vd_train_recipe *r);
/* The recipe parsed from the net's [net] section (all "not given" if it had none). */
VD_API vd_status vd_net_train_recipe(const vd_net *net, vd_train_recipe *out);

/* One optimisation step on n <= max_batch samples.
 *   x: (n, input sample) floats on the host.
 *   labels: (n) class indices for VD_LOSS_SOFTMAX_CE, or NULL;
 *   targets: (n, output sample) floats for VD_LOSS_MSE, or NULL.
 *   loss: if not NULL, receives the batch mean loss (this blocks until the step is done;
 *   with NULL the step is only enqueued).
 * A failed step leaves the weights as they were before it when the failure is detected
 * before the update; the network stays usable. */
VD_API vd_status vd_net_train_step(vd_net *net, const float *x, const int32_t *labels,
                                   const float *targets, int32_t n, float *loss);
/* Forward pass in inference mode (dropout off). out: (n, output sample) floats; blocks. */
VD_API vd_status vd_net_predict(vd_net *net, const float *x, int32_t n, float *out);
/* The same forward pass, every output: out[i] receives (n, output i's sample) floats, for i
 * below vd_net_output_count(); out[0] is what vd_net_predict returns. */
VD_API vd_status vd_net_predict_outputs(vd_net *net, const float *x, int32_t n,
                                        float *const *out);

/* Data-parallel training over MPI (docs/DISTRIBUTED.md). comm points to an MPI_Comm, or
 * is NULL for MPI_COMM_WORLD; MPI must be initialised by the caller. After each backward
 * pass the gradients are summed over the ranks in one MPI_Allreduce and divided by the
 * rank count, so with B samples per rank the update is that of one process with batch
 * N*B (the loss is the batch mean). Call after vd_net_build and before training, on every
 * rank at once: it checks (collectively) that every rank has the same layers, shapes and
 * initial weights and returns VD_ERR_STATE on every rank otherwise. Batch-norm statistics
 * stay per rank; dropout masks are drawn per rank. vd_net_train_epoch then shards every
 * global batch of N*B over the ranks. A step that fails on one rank leaves the others
 * waiting in its all-reduce: the caller must stop them (verdant train calls MPI_Abort).
 * VERDANT_DIST_BUCKET_KB=K splits the all-reduce into buckets of >= K KiB started while
 * backward runs. Returns VD_ERR_UNSUPPORTED when Verdant was built without MPI. */
VD_API vd_status vd_net_set_distributed(vd_net *net, void *comm);
/* Rank and size of the communicator set by vd_net_set_distributed (0 and 1 when unset). */
VD_API vd_status vd_net_dist_info(const vd_net *net, int32_t *rank, int32_t *size);
/* Where the gradient reductions' time went since vd_net_set_distributed (all zero when
 * unset or with one rank). Per step: wait for the backward pass to finish on the device,
 * copy the gradients to the host, MPI_Allreduce (which includes waiting for the slowest
 * rank to arrive), scale and copy back. With buckets (VERDANT_DIST_BUCKET_KB, see
 * docs/DISTRIBUTED.md) each is read back and all-reduced while backward goes on: the
 * wait then ends with the last bucket on the host, and allreduce_seconds is the time the
 * all-reduces still took after that (the part not overlapped). */
typedef struct vd_dist_stats {
    uint64_t reduces;         /* gradient reductions (training steps) */
    uint64_t bytes;           /* gradient bytes reduced per rank, all steps */
    int32_t buckets;          /* all-reduces per step (VERDANT_DIST_BUCKET_KB; 1 by default) */
    double wait_seconds;      /* waiting for the device to finish backward (compute) */
    double copy_seconds;      /* device -> host and host -> device gradient copies */
    double allreduce_seconds; /* inside MPI_Allreduce */
} vd_dist_stats;
VD_API vd_status vd_net_dist_stats(const vd_net *net, vd_dist_stats *out);

/* Copy all parameters out / in, in the order of the parameter list (layer order, then
 * weight before bias). count must equal vd_net_param_count. */
VD_API vd_status vd_net_params_read(const vd_net *net, float *dst, size_t count);
VD_API vd_status vd_net_params_write(vd_net *net, const float *src, size_t count);

/* ---------------------------------------------------------------------------------------
 * Checkpoints
 */

/* What the caller's training loop needs to resume, stored beside the net's own state. */
/* Learning-rate schedules (vd_schedule_lr). */
typedef enum vd_schedule {
    VD_SCHEDULE_CONSTANT = 0,
    VD_SCHEDULE_STEP = 1,  /* x0.1 every step_size epochs */
    VD_SCHEDULE_COSINE = 2 /* half a cosine from lr down to 0 over `epochs` epochs */
} vd_schedule;

typedef struct vd_train_state {
    int32_t epoch;          /* epochs completed */
    uint64_t shuffle_seed;  /* the seed passed to vd_net_train_epoch (default 42) */
    float lr;               /* base learning rate of the schedule (0: the optimizer's) */
    double best_accuracy;   /* free for the caller (e.g. best test accuracy so far) */
    /* The run's plan, saved so that a resumed run continues on the same learning-rate
     * curve with the same batches (checkpoints written before these fields existed load
     * with epochs = 0, "not recorded"): */
    int32_t schedule;       /* vd_schedule (default constant) */
    int32_t epochs;         /* epochs the run was planned for (0: not recorded) */
    int32_t step_size;      /* VD_SCHEDULE_STEP's period in epochs (default 3) */
    int32_t warmup;         /* epochs of linear warm-up before the schedule (default 0) */
    int32_t batch;          /* batch size (0: not recorded) */
    int32_t crop_pad, flip; /* augmentation (vd_train_options) */
} vd_train_state;

VD_API void vd_train_state_init(vd_train_state *s);
/* The learning rate of 1-based epoch `epoch` under s's schedule, from base s->lr: warm-up
 * ramps linearly (epoch e of w gets lr * e / (w + 1)), then constant, step or cosine over
 * s->epochs. */
VD_API float vd_schedule_lr(const vd_train_state *s, int32_t epoch);

/* Write one checkpoint file holding the network description, the weights, the optimizer
 * and its state, the step counters (so dropout and shuffling resume exactly) and *state
 * (may be NULL). Written to a temporary file, fsync'ed and renamed: a crash or a failed
 * write never damages an existing checkpoint at path. Blocks. VD_ERR_IO on failure. */
VD_API vd_status vd_net_save(const vd_net *net, const char *path, const vd_train_state *state);
/* Rebuild a net from a checkpoint for batches up to max_batch, with its weights and
 * optimizer state restored; *state (may be NULL) receives the training state.
 * VD_ERR_IO for a missing file; VD_ERR_FORMAT for a wrong magic or version, a checksum
 * mismatch (truncated or corrupt file) or a mismatch between sections, with the path and
 * the section in the message. */
VD_API vd_status vd_net_load(vd_context *ctx, const char *path, int32_t max_batch, vd_net **out,
                             vd_train_state *state);

/* ---------------------------------------------------------------------------------------
 * ONNX (docs/ONNX.md)
 */

/* Write a built net as an ONNX model (IR version 8, opset 17) to path: the graph of what
 * vd_net_predict computes (inference mode: dropout is the identity, batch norm uses the
 * running statistics), the current weights and running statistics as float initializers,
 * one input "input" of shape (N, sample shape...) with the batch dimension N symbolic and
 * one output named after the last layer. Written to a temporary file, fsync'ed and
 * renamed, like vd_net_save. Blocks (reads the weights from the device).
 * Returns VD_ERR_INVALID_ARG for a NULL argument, VD_ERR_STATE when the net is not built,
 * VD_ERR_UNSUPPORTED naming the layer and option that ONNX cannot express exactly (e.g.
 * avgpool ceil=1 with an overhanging last window) or when Verdant was built without ONNX,
 * VD_ERR_IO naming the file. */
VD_API vd_status vd_net_save_onnx(const vd_net *net, const char *path);
/* Import an ONNX model (opsets 7 to 21; the operators docs/ONNX.md lists) as a built net
 * for batches of up to 64 samples, with the model's weights and batch-norm statistics.
 * Dimension 0 of the model's one data input is the batch; the rest must be fixed (1 to 3
 * dimensions). Constant subgraphs are folded on the host. VD_ERR_IO for a missing file;
 * VD_ERR_FORMAT for a file that does not parse (truncated, over the size limit, a tensor
 * of the wrong size, a cycle or an input nobody produces); VD_ERR_UNSUPPORTED for an
 * operator, attribute or value Verdant cannot express, naming the node, the operator, the
 * attribute and the opset; and VD_ERR_UNSUPPORTED when Verdant was built without ONNX. */
VD_API vd_status vd_net_load_onnx(vd_context *ctx, const char *path, vd_net **out);
/* The same for batches of up to max_batch samples (1 to 2^20). */
VD_API vd_status vd_net_load_onnx_batch(vd_context *ctx, const char *path, int32_t max_batch,
                                        vd_net **out);

/* ---------------------------------------------------------------------------------------
 * Training loop over a dataset
 */
typedef struct vd_progress {
    int32_t epoch;       /* 1-based */
    int64_t batch;       /* batches done in this epoch */
    int64_t batches;     /* batches in this epoch */
    int64_t samples;     /* samples done in this epoch */
    double loss;         /* mean loss over the batches done so far */
    double seconds;      /* since the epoch began */
} vd_progress;

typedef void (*vd_progress_fn)(void *user, const vd_progress *p);

typedef struct vd_train_options {
    int32_t batch;          /* default 64; must be <= the net's max_batch */
    uint64_t seed;          /* shuffling seed, default 42; epoch e uses (seed, e) */
    int32_t shuffle;        /* default 1 */
    int32_t progress_every; /* call progress every this many batches (default 20; 0 never) */
    vd_progress_fn progress;
    void *user;
    /* Image augmentation of training batches, seeded from (seed, epoch) so it repeats
     * exactly on resume: */
    int32_t crop_pad;       /* > 0: random crop after padding by this many pixels (0..64) */
    int32_t flip;           /* nonzero: random left-right flip */
} vd_train_options;

VD_API void vd_train_options_init(vd_train_options *opt);

typedef struct vd_epoch_stats {
    double loss;            /* mean training loss */
    double train_accuracy;  /* fraction correct on the training batches, as trained */
    double seconds;         /* wall time of the epoch */
    double images_per_second;
    int64_t samples;
    double first_batch_seconds; /* epoch start to the end of its first step (includes any
                                   kernel compilation that step triggered) */
    /* Energy of the epoch from the context's meter (see vd_context_meter), measured, never
     * estimated. has_energy 0: no meter (or it failed); the other numbers are then 0 and
     * energy_note says why. */
    int32_t has_energy;
    double joules;           /* over the epoch's wall time */
    double watts;            /* joules / seconds */
    double images_per_joule; /* samples / joules */
    char meter[32];          /* "rapl", "nvml", "hwmon"; "" when none */
    char energy_note[256];   /* what the meter counts, or why there is none */
} vd_epoch_stats;

/* Train one epoch (epoch is 1-based and selects the shuffle). Host batches are prepared
 * while the device runs the previous step. Requires the softmax cross-entropy loss. */
VD_API vd_status vd_net_train_epoch(vd_net *net, const vd_dataset *train, int32_t epoch,
                                    const vd_train_options *opt, vd_epoch_stats *out);

typedef struct vd_eval_stats {
    double loss;
    double accuracy;
    int64_t samples;
    double seconds;
} vd_eval_stats;

/* Evaluate in inference mode in batches of up to the net's max_batch. */
VD_API vd_status vd_net_evaluate(vd_net *net, const vd_dataset *ds, vd_eval_stats *out);

/* ---------------------------------------------------------------------------------------
 * Profiling, energy and caches (docs/GREEN.md)
 *
 * Profiling records the device time of every kernel from OpenCL event timestamps, per
 * layer and phase. VERDANT_PROFILE=1 turns it on in every new context, and then
 * vd_net_train_epoch prints the table to stderr after each epoch by itself; with
 * vd_context_set_profiling the caller prints it (vd_net_profile_report). Off, it costs
 * nothing measurable.
 */

/* Turn the per-kernel recorder of ctx on (nonzero) or off. Off frees what was recorded.
 * Blocks until the queue is idle when turning off. */
VD_API vd_status vd_context_set_profiling(vd_context *ctx, int32_t on);
/* 1 when the recorder is on. */
VD_API int32_t vd_context_profiling(const vd_context *ctx);
/* Open a profiling window on net's context, forgetting what was recorded before (blocks
 * until the queue is idle). vd_net_train_epoch opens one at its start and closes it at its
 * end by itself. VD_ERR_STATE when profiling is off. */
VD_API vd_status vd_net_profile_begin(vd_net *net);
/* Close the window (blocks until the queue is idle; reads every kernel's timestamps). */
VD_API vd_status vd_net_profile_end(vd_net *net);
/* Print the table of the last window (closing it first if still open) to a FILE* passed
 * as void* (stdout when NULL): per layer, its type, convolution algorithm, forward and
 * backward milliseconds per step, share of the window's wall time, achieved forward and
 * backward GFLOP/s (layers with a FLOP count), forward GB/s of compulsory traffic (inputs,
 * parameters, outputs: a lower bound on real traffic), then the loss, optimizer, other
 * kernels and the host overhead (wall time not covered by kernels), whose shares sum to
 * 100%. VD_ERR_STATE when profiling is off or nothing was recorded. */
VD_API vd_status vd_net_profile_report(vd_net *net, void *file);

/* An energy meter: a kind of sensor, whether this machine has one, and what it counts or
 * why not. */
typedef struct vd_meter_info {
    int32_t available;
    char name[32];    /* "rapl", "nvml", "hwmon" */
    char detail[256]; /* what it counts when available, else why it is unavailable */
} vd_meter_info;

/* Probe every kind of meter (RAPL, NVML, hwmon) without a context: writes up to cap
 * entries and the number of kinds to *count. Reads sysfs and may dlopen NVML; blocks
 * briefly. */
VD_API vd_status vd_meters_probe(vd_meter_info *out, size_t cap, size_t *count);
/* The meter vd_net_train_epoch uses on ctx's device (opened on first use, kept with the
 * context): NVML for NVIDIA GPUs, hwmon for AMD/Intel GPUs, RAPL for CPU devices;
 * VERDANT_METER=off|rapl|nvml|hwmon forces a kind. available 0 with the reason when there
 * is none; that is not an error. */
VD_API vd_status vd_context_meter(vd_context *ctx, vd_meter_info *out);

/* The energy of any stretch of work on a context's device, from the context's meter (the
 * one vd_context_meter names), measured, never estimated:
 *
 *   vd_energy_span s;
 *   vd_energy_span_begin(ctx, &s);    finishes the queue, reads the meter, starts the clock
 *   ... enqueue work on ctx ...
 *   vd_energy_span_end(ctx, &s);      finishes the queue, stops the clock, reads the meter
 *   if (s.has_energy) printf("%.3f J, %.1f W (%s)\n", s.joules, s.watts, s.meter);
 *   else printf("energy n/a: %s\n", s.note);
 *
 * Both ends finish ctx's queue, so the energy covers the device work enqueued in between
 * (and anything else the meter sees: RAPL counts the whole CPU package, NVML the whole
 * board; note says what). Spans may overlap or nest; each is its own struct. Meters update
 * at their own pace (RAPL about every millisecond, NVML and hwmon every 10 to 100 ms or
 * more): measure stretches well beyond that. */
typedef struct vd_energy_span {
    /* 1: joules and watts are measured. 0: they are 0 and note says why: no meter (then
     * meter is ""), the meter failed, or its counter did not move (then meter names it: the
     * stretch was shorter than the meter's update period, so its energy is unknown, not
     * zero). */
    int32_t has_energy;
    double seconds;   /* wall time between the two reads (after each finish) */
    double joules;    /* energy the meter counted over seconds */
    double watts;     /* joules / seconds */
    char meter[32];   /* "rapl", "nvml", "hwmon"; "" when there is none */
    char note[256];   /* what the meter counts, or why there is no figure */
    /* Private: written by vd_energy_span_begin, read by vd_energy_span_end. */
    const vd_context *ctx_;
    double start_seconds_, start_joules_;
    uint32_t state_;
} vd_energy_span;

/* Start measuring on ctx: blocks until ctx's queue is idle, then reads the meter (opening
 * it on first use). span is the caller's; every field is overwritten. No meter is not an
 * error: the span still runs and its end says why there is no figure.
 * VD_ERR_INVALID_ARG for NULL ctx or span; VD_ERR_OPENCL when finishing the queue fails
 * (the span is then not started). */
VD_API vd_status vd_energy_span_begin(vd_context *ctx, vd_energy_span *span);
/* Stop measuring: blocks until ctx's queue is idle, reads the meter and fills span's
 * public fields (see vd_energy_span). ctx must be the context the span began on.
 * VD_ERR_INVALID_ARG for NULL arguments or another context; VD_ERR_STATE for a span that
 * was not begun or has already ended (zero-initialise spans so this is caught);
 * VD_ERR_OPENCL when finishing the queue fails (the span stays open). */
VD_API vd_status vd_energy_span_end(vd_context *ctx, vd_energy_span *span);

/* The kernel cache directory a context created now with default options would use
 * (VERDANT_CACHE_DIR, else $XDG_CACHE_HOME/verdant, else ~/.cache/verdant), without
 * creating it; "" when the cache is off. VD_ERR_INVALID_ARG if it does not fit in cap. */
VD_API vd_status vd_cache_dir(char *dst, size_t cap);
/* Verdant's files in dir (NULL: vd_cache_dir): program binaries (<hash>.bin), tuning files
 * (tune-*.txt) and leftovers of interrupted writes; their count and bytes. Other files are
 * not Verdant's and are neither counted nor removed. A missing directory is empty. */
VD_API vd_status vd_cache_usage(const char *dir, uint64_t *files, uint64_t *bytes);
/* Remove those files; *files and *bytes (may be NULL) receive what was removed.
 * VD_ERR_IO naming the first file that could not be removed. */
VD_API vd_status vd_cache_clear(const char *dir, uint64_t *files, uint64_t *bytes);

/* ---------------------------------------------------------------------------------------
 * Benchmarks (`verdant bench`)
 */

/* Elements of one input sample (1 * 28 * 28 for the sample CNNs); 0 before vd_net_input or
 * for NULL. Lets a caller make synthetic batches of the right size. */
VD_API size_t vd_net_input_size(const vd_net *net);
/* The shape of one input sample, as given to vd_net_input (e.g. {1, 28, 28}): copies up to
 * cap dimensions into shape and returns the rank; 0 before vd_net_input or for NULL net
 * (shape may be NULL when cap is 0). */
VD_API int32_t vd_net_input_shape(const vd_net *net, int64_t *shape, int32_t cap);

/* Nominal fp32 peak of ctx's device in GFLOP/s: compute units x max clock x native float
 * vector width x 2 (a fused multiply-add is two operations) x 2 (two FMA pipes per unit).
 * A paper figure from what the driver reports, not a measurement: PoCL reports vCPUs as
 * compute units and the base clock, and GPUs have neither "vector width" nor two pipes in
 * this sense, so compare percentages of it on one device only. *gflops is 0 when the
 * device reports no clock. VD_ERR_INVALID_ARG for NULL arguments. */
VD_API vd_status vd_device_peak_gflops(const vd_context *ctx, double *gflops);

/* One measurement of vd_net_bench_conv: one convolution layer, one pass, one algorithm. */
typedef struct vd_conv_bench_row {
    int32_t layer;          /* index of the layer in the net */
    char layer_name[64];
    char layer_type[16];    /* "conv2d" or "deconv2d" (its convolution is the transposed one) */
    char pass[16];          /* "fwd", "bwd_data" or "bwd_filter" */
    char algo[16];          /* "im2col", "implicit", "direct", "winograd2", "winograd4", "fft" */
    /* Geometry of the convolution: input (C, H, W), output (K, P, Q), kernel (R, S). */
    int32_t C, H, W, K, P, Q, R, S;
    int32_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int32_t batch;          /* images per pass */
    uint64_t flops;         /* 2 * K * C/groups * R * S * P * Q * batch (same for every pass) */
    double ms;              /* best of reps timed runs after one warm-up; 0 when status != 0 */
    double gflops;          /* flops / ms */
    double peak_percent;    /* 100 * gflops / vd_device_peak_gflops (0 when that is 0) */
    int32_t selected;       /* 1: the algorithm the layer's automatic choice takes for this pass
                               and batch (VERDANT_CONV_ALGO, the tuning cache, or measuring) */
    vd_status status;       /* VD_OK, or why this algorithm could not be timed */
    char error[160];        /* the message when status != VD_OK */
} vd_conv_bench_row;

/* Time every convolution algorithm that applies, for every pass (fwd, bwd_data,
 * bwd_filter) of every conv2d/deconv2d layer of a built net, on scratch buffers of the
 * layer's shape with batch images, and mark the one the automatic choice takes (making
 * that choice now may itself measure and write the tuning cache). Writes up to cap rows in
 * layer, pass, algorithm order, and the number of rows there are to *count; with cap 0
 * (rows may then be NULL) it only counts, measuring nothing. Blocks; takes about
 * (reps + 1) runs of each pass and algorithm. A failed algorithm is a row with its status
 * and message, not an error of the call.
 *   batch: 1 to 65536 images; reps: 1 to 1000 timed runs (the best is kept).
 * VD_ERR_INVALID_ARG for NULL net or count, rows NULL with cap > 0, or batch/reps out of
 * range; VD_ERR_STATE when the net is not built; VD_ERR_INVALID_ARG for an unknown
 * VERDANT_CONV_ALGO. */
VD_API vd_status vd_net_bench_conv(vd_net *net, int32_t batch, int32_t reps,
                                   vd_conv_bench_row *rows, size_t cap, size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* VERDANT_H */

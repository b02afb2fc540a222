/* train.c - the training and evaluation loops over a host dataset. Batches are gathered
 * and converted on the host into one of two staging buffers while the device runs the
 * previous step (non-blocking writes, in-order queue); the loss is summed on the device
 * and read back only when progress is reported. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../data/data.h"
#include "../energy/meter.h"
#include "../runtime/profile.h"
#include "../net/net.h"

void vd_train_options_init(vd_train_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof(*opt));
    opt->batch = 64;
    opt->seed = 42;
    opt->shuffle = 1;
    opt->progress_every = 20;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct loop_result {
    double loss_sum, correct, seconds, first_batch;
    int64_t samples;
} loop_result;

/* The loss sums of batches [*checked, upto) have arrived: the first non-finite one stops
 * training with VD_ERR_NUMERIC naming its step (the net's step count, 1-based). */
static vd_status check_loss(vd_context *ctx, float (*sums)[2], int64_t *checked, int64_t upto,
                            uint64_t step0, int32_t epoch)
{
    for (; *checked < upto; (*checked)++) {
        float v = sums[*checked][0];
        if (isfinite(v)) continue;
        return vd_error_set(ctx, VD_ERR_NUMERIC,
                            "training step %llu (epoch %d, batch %lld): the loss is not finite "
                            "(running sum %g); training stopped. VERDANT_CHECK_NUMERICS=1 names "
                            "the first layer that produces a non-finite value",
                            (unsigned long long)(step0 + (uint64_t)*checked + 1), (int)epoch,
                            (long long)*checked + 1, (double)v);
    }
    return VD_OK;
}

/* Run every batch of ds in the order of idx through the net (training or evaluation). */
static vd_status run_loop(vd_net *net, const vd_dataset *ds, const uint32_t *idx, size_t count,
                          int32_t batch, bool train, int32_t epoch, const vd_train_options *opt,
                          loop_result *res)
{
    vd_context *ctx = net->ctx;
    size_t in = vd_shape_numel(&net->input);
    int64_t batches = (int64_t)((count + (size_t)batch - 1) / (size_t)batch);
    float *xs[2] = {NULL, NULL};
    int32_t *ys[2] = {NULL, NULL};
    cl_event ev[2] = {NULL, NULL};
    vd_status st = VD_OK;
    int32_t drank = 0, dsize = 1; /* data-parallel rank and size (1: off) */
    if (train) vd_net_dist_info(net, &drank, &dsize);
    /* Augmentation (training only): its own Philox key, so it does not repeat the shuffle's
     * stream (seed, epoch). */
    vd_augment aug = {0};
    if (train && opt) {
        aug.crop_pad = opt->crop_pad;
        aug.flip = opt->flip;
        aug.seed = opt->seed ^ 0x9E3779B97F4A7C15ull;
        aug.stream = (uint64_t)epoch;
    }
    uint64_t *pos = malloc((size_t)batch * sizeof(uint64_t));
    if (!pos) return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    /* Training: the running loss sum after each step, read back without waiting (an
     * in-order queue finishes these reads before any later command), so a non-finite loss
     * stops the epoch within a few steps and names the step where it began. */
    float(*sums)[2] = train ? calloc((size_t)batches, sizeof(*sums)) : NULL;
    int64_t checked = 0;
    uint64_t step0 = net->step;
    if (train && !sums) {
        free(pos);
        return vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory");
    }
    for (int s = 0; s < 2; s++) {
        xs[s] = malloc((size_t)batch * in * sizeof(float));
        ys[s] = malloc((size_t)batch * sizeof(int32_t));
        if (!xs[s] || !ys[s]) {
            st = vd_error_set(ctx, VD_ERR_NO_MEMORY, "out of host memory for batch staging");
            goto done;
        }
    }
    VD_TRY(vd_net_acc_zero(net));
    double t0 = now_s();
    for (int64_t b = 0; b < batches; b++) {
        int slot = (int)(b & 1);
        if (ev[slot]) { /* the write that last read this staging buffer must be done */
            cl_int err = vd_fault(ctx, "clWaitForEvents") ?: clWaitForEvents(1, &ev[slot]);
            clReleaseEvent(ev[slot]);
            ev[slot] = NULL;
            if (err != CL_SUCCESS) {
                st = vd_error_cl(ctx, "clWaitForEvents(batch upload)", err);
                goto done;
            }
            if (sums) VD_TRY(check_loss(ctx, sums, &checked, b - 2, step0, epoch));
        }
        size_t first = (size_t)b * (size_t)batch;
        int32_t nb = (int32_t)((count - first) < (size_t)batch ? count - first : (size_t)batch);
        if (aug.crop_pad > 0 || aug.flip) {
            /* The position in the epoch's global order, so that N ranks (each taking its
             * B of every global batch of N*B, vd_net_train_epoch) draw the crops and
             * flips one process with batch N*B would. */
            uint64_t p0 = dsize > 1 ? ((uint64_t)b * (uint64_t)dsize + (uint64_t)drank) *
                                          (uint64_t)batch
                                    : first;
            for (int32_t i = 0; i < nb; i++) pos[i] = p0 + (uint64_t)i;
            st = vd_dataset_batch_augmented(ds, idx + first, pos, (size_t)nb, xs[slot], ys[slot],
                                            &aug);
        } else {
            st = vd_dataset_batch(ds, idx + first, (size_t)nb, xs[slot], ys[slot]);
        }
        if (st != VD_OK) { /* datasets report on the thread slot; move it to the context */
            vd_error_set(ctx, st, "%s", vd_last_error(NULL));
            goto done;
        }
        VD_TRY(vd_net_upload(net, xs[slot], ys[slot], NULL, nb, &ev[slot]));
        VD_TRY(vd_net_step_enqueue(net, nb, train));
        if (sums) {
            cl_int err = vd_fault(ctx, "clEnqueueReadBuffer")
                             ?: clEnqueueReadBuffer(ctx->queue, net->acc, CL_FALSE, 0,
                                                    sizeof(sums[b]), sums[b], 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                st = vd_error_cl(ctx, "clEnqueueReadBuffer(loss)", err);
                goto done;
            }
        }
        { /* start the device on this batch while the host prepares the next */
            cl_int err = vd_fault(ctx, "clFlush") ?: clFlush(ctx->queue);
            if (err != CL_SUCCESS) {
                st = vd_error_cl(ctx, "clFlush(batch)", err);
                goto done;
            }
        }
        if (b == 0) { /* one wait per epoch: the latency to the first finished step */
            cl_int err = vd_fault(ctx, "clFinish") ?: clFinish(ctx->queue);
            if (err != CL_SUCCESS) {
                st = vd_error_cl(ctx, "clFinish(first batch)", err);
                goto done;
            }
            res->first_batch = now_s() - t0;
        }
        res->samples += nb;
        bool last = b + 1 == batches;
        if (opt && opt->progress && opt->progress_every > 0 &&
            ((b + 1) % opt->progress_every == 0 || last)) {
            double sum, correct;
            VD_TRY(vd_net_acc_read(net, &sum, &correct));
            vd_progress p = {epoch,       b + 1, batches, res->samples, sum / (double)res->samples,
                             now_s() - t0};
            opt->progress(opt->user, &p);
        }
    }
    VD_TRY(vd_net_acc_read(net, &res->loss_sum, &res->correct));
    if (sums) VD_TRY(check_loss(ctx, sums, &checked, batches, step0, epoch));
    res->seconds = now_s() - t0;
done:
    /* After a failure, commands already enqueued (a non-blocking upload without an event,
     * a loss read-back) may still use the staging memory: drain the queue before freeing. */
    if (st != VD_OK) clFinish(ctx->queue);
    for (int s = 0; s < 2; s++) {
        if (ev[s]) {
            clWaitForEvents(1, &ev[s]);
            clReleaseEvent(ev[s]);
        }
        free(xs[s]);
        free(ys[s]);
    }
    free(pos);
    free(sums);
    return st;
}

static vd_status check_dataset(vd_net *net, const vd_dataset *ds, const char *fn)
{
    if (!net) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "%s: net is NULL", fn);
    if (!ds) return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "%s: dataset is NULL", fn);
    if (!net->built) return vd_error_set(net->ctx, VD_ERR_STATE, "%s: build the net first", fn);
    if (net->loss != VD_LOSS_SOFTMAX_CE)
        return vd_error_set(net->ctx, VD_ERR_UNSUPPORTED,
                            "%s: dataset loops need the softmax cross-entropy loss", fn);
    int64_t shape[3];
    vd_dataset_sample_shape(ds, shape);
    size_t numel = (size_t)(shape[0] * shape[1] * shape[2]);
    if (numel != vd_shape_numel(&net->input))
        return vd_error_set(net->ctx, VD_ERR_SHAPE,
                            "%s: dataset samples are (%lld, %lld, %lld) = %zu values, the net "
                            "takes %zu",
                            fn, (long long)shape[0], (long long)shape[1], (long long)shape[2],
                            numel, vd_shape_numel(&net->input));
    if ((size_t)vd_dataset_classes(ds) > vd_net_output_size(net))
        return vd_error_set(net->ctx, VD_ERR_SHAPE,
                            "%s: the dataset has %d classes, the net outputs %zu", fn,
                            (int)vd_dataset_classes(ds), vd_net_output_size(net));
    if (vd_dataset_count(ds) == 0)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG, "%s: the dataset is empty", fn);
    return VD_OK;
}

vd_status vd_net_train_epoch(vd_net *net, const vd_dataset *train, int32_t epoch,
                             const vd_train_options *opt, vd_epoch_stats *out)
{
    vd_train_options defaults;
    if (!opt) {
        vd_train_options_init(&defaults);
        opt = &defaults;
    }
    vd_status st = check_dataset(net, train, "vd_net_train_epoch");
    if (st != VD_OK) return st;
    if (!net->has_optim)
        return vd_error_set(net->ctx, VD_ERR_STATE, "vd_net_train_epoch: set an optimizer first");
    if (opt->crop_pad < 0 || opt->crop_pad > 64)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_train_epoch: crop_pad %d outside [0, 64]", (int)opt->crop_pad);
    if (opt->batch < 1 || opt->batch > net->max_batch)
        return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                            "vd_net_train_epoch: batch %d; the net was built for 1 to %d",
                            (int)opt->batch, (int)net->max_batch);
    size_t count = vd_dataset_count(train);
    uint32_t *idx = malloc(count * sizeof(uint32_t));
    if (!idx) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    if (opt->shuffle) vd_rng_permutation(opt->seed, (uint64_t)epoch, idx, count);
    else
        for (size_t i = 0; i < count; i++) idx[i] = (uint32_t)i;
    /* Data-parallel (vd_net_set_distributed): rank r of N takes samples [r*B, (r+1)*B) of
     * each global batch of N*B of the same permutation; an incomplete last global batch is
     * dropped so every rank takes the same number of steps (each step is collective). */
    int32_t rank = 0, size = 1;
    vd_net_dist_info(net, &rank, &size);
    if (size > 1) {
        size_t b = (size_t)opt->batch, g = b * (size_t)size, full = count / g;
        if (full == 0) {
            free(idx);
            return vd_error_set(net->ctx, VD_ERR_INVALID_ARG,
                                "vd_net_train_epoch: %zu samples are fewer than one global batch "
                                "of %d ranks x %d", count, (int)size, (int)opt->batch);
        }
        for (size_t k = 0; k < full; k++)
            for (size_t j = 0; j < b; j++)
                idx[k * b + j] = idx[k * g + (size_t)rank * b + j];
        count = full * b;
    }
    loop_result r = {0};
    vd_energy_mark mark; /* energy and profiling windows: this epoch's steps */
    vd_energy_mark_begin(net->ctx, &mark);
    vd_profile_begin(net->ctx);
    st = run_loop(net, train, idx, count, opt->batch, true, epoch, opt, &r);
    if (vd_profile_end(net->ctx) != VD_OK && st == VD_OK) vd_log(net->ctx, 1, "%s", net->ctx->error);
    free(idx);
    if (st != VD_OK) return st;
    if (out) {
        out->loss = r.loss_sum / (double)r.samples;
        out->train_accuracy = r.correct / (double)r.samples;
        out->seconds = r.seconds;
        out->images_per_second = r.seconds > 0 ? (double)r.samples / r.seconds : 0.0;
        out->samples = r.samples;
        out->first_batch_seconds = r.first_batch;
        vd_energy_mark_end(&mark, out);
    }
    if (net->ctx->profile && net->ctx->profile->auto_print) /* VERDANT_PROFILE=1 */
        vd_net_profile_report(net, stderr);
    return VD_OK;
}

vd_status vd_net_evaluate(vd_net *net, const vd_dataset *ds, vd_eval_stats *out)
{
    vd_status st = check_dataset(net, ds, "vd_net_evaluate");
    if (st != VD_OK) return st;
    size_t count = vd_dataset_count(ds);
    uint32_t *idx = malloc(count * sizeof(uint32_t));
    if (!idx) return vd_error_set(net->ctx, VD_ERR_NO_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) idx[i] = (uint32_t)i;
    loop_result r = {0};
    st = run_loop(net, ds, idx, count, net->max_batch, false, 0, NULL, &r);
    free(idx);
    if (st != VD_OK) return st;
    if (out) {
        out->loss = r.loss_sum / (double)r.samples;
        out->accuracy = r.correct / (double)r.samples;
        out->samples = r.samples;
        out->seconds = r.seconds;
    }
    return VD_OK;
}

/* conv_select.h - choosing a convolution algorithm per (device, geometry, pass, batch):
 * forced by VERDANT_CONV_ALGO, a fixed heuristic (VERDANT_TUNE=off, VERDANT_DETERMINISTIC),
 * the tuning cache, or measurement on first use (details in conv_select.c). Used by
 * src/layers/conv.c and `verdant bench`. Not here: the algorithms (conv_algo.h). */
#ifndef VD_OPS_CONV_SELECT_H
#define VD_OPS_CONV_SELECT_H

#include "conv_algo.h"

/* The algorithm index (into vd_conv_algos) for this pass over batches of n images, whose
 * workspace per chunk may use at most cap_floats floats. VD_ERR_INVALID_ARG for an
 * unknown VERDANT_CONV_ALGO; a failed measurement of one candidate only skips it. */
vd_status vd_conv_select(vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                         size_t cap_floats, int *algo);
/* The fixed choice used when tuning is off. */
int vd_conv_algo_heuristic(const vd_context *ctx, const vd_conv_geom *g, vd_conv_pass pass);
/* Images per chunk for algorithm a so its workspace stays within cap_floats (>= 1). */
size_t vd_conv_chunk(const vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                     size_t n, size_t cap_floats);
/* Run algorithm a over n images in chunks of `chunk`, offsetting io's tensors per chunk
 * (io->ws must hold workspace(chunk) floats). */
vd_status vd_conv_run_batch(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                            size_t n, size_t chunk, const vd_conv_io *io);
/* The same, and *done (may be NULL) receives the number of images whose chunks completed
 * before a failure (n on success), so a caller can tell whether any output was written. */
vd_status vd_conv_run_chunks(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass,
                             size_t n, size_t chunk, const vd_conv_io *io, size_t *done);
/* Whether VERDANT_CONV_ALGO names algorithm a: a forced choice gets no fallback. */
bool vd_conv_algo_forced(int a);
/* Best of reps timed runs (after one warm-up) of algorithm a on scratch buffers of the
 * shape, in milliseconds. */
vd_status vd_conv_time(vd_context *ctx, int a, const vd_conv_geom *g, vd_conv_pass pass, size_t n,
                       size_t cap_floats, int reps, double *ms);
/* The tuning-cache key of a choice: "conv3:fwd:CxHxW:KxPxQ:kRxS:s..:p..:d..:gG:nN". */
void vd_conv_key(const vd_conv_geom *g, vd_conv_pass pass, size_t n, char *key, size_t cap);

#endif /* VD_OPS_CONV_SELECT_H */

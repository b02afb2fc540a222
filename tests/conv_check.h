/* conv_check.h - the pass-by-pass check that an algorithm-specific convolution test runs
 * on one geometry (test_conv_direct, test_conv_fft): every pass of the algorithm against
 * tests/ref/conv_ref.c, with the test's own comparison (its tolerance rule and its
 * worst-error bookkeeping). test_conv_algos runs the table-wide variant (chunked batches,
 * only the passes an algorithm claims). */
#ifndef VD_TEST_CONV_CHECK_H
#define VD_TEST_CONV_CHECK_H

#include "check.h"
#include "ops/conv_algo.h"

/* Compare got with want (n floats) as one check labelled what. */
typedef void (*conv_close_fn)(const char *what, const float *got, const float *want, size_t n);

/* Algorithm a on geometry g, batch n, every buffer (the workspace too: the largest the
 * three passes ask for) at an odd offset inside guard zones, inputs uniform in [-1, 1]
 * from rng:
 *   FWD and BWD_DATA with beta = 0 over an output full of NaN, then beta = 1 over random
 *   values; BWD_FILTER accumulating twice into a random dw0, each time compared as the
 *   accumulated gradient (dw - dw0 against the reference's), then bit-identical when
 *   repeated from dw0. what prefixes every label. */
void conv_check_passes(vd_context *ctx, const vd_conv_algo *a, const vd_conv_geom *g, size_t n,
                       const char *what, uint64_t *rng, conv_close_fn close);

/* The same, only the passes whose bit (1 << pass) is set in passes. */
void conv_check_some_passes(vd_context *ctx, const vd_conv_algo *a, const vd_conv_geom *g, size_t n,
                            const char *what, uint64_t *rng, conv_close_fn close, unsigned passes);

#endif /* VD_TEST_CONV_CHECK_H */

/* conv_fft.h - what the FFT convolution algorithm (conv_fft.c) shows besides its table
 * entry vd_conv_algo_fft (conv_algo.h): the FFT size it picks and a plan probe for tests.
 * The per-context teardown, vd_conv_fft_release, is declared in runtime.h because the
 * context calls it. */
#ifndef VD_OPS_CONV_FFT_H
#define VD_OPS_CONV_FFT_H

#include "conv_algo.h"

/* The smallest even length >= need whose only prime factors are 2, 3, 5 and 7 (clFFT's
 * radices), or 0 when need is 0 or above 2^20. */
size_t vd_conv_fft_size(size_t need);

/* Get (create and bake on first use) the context's real-to-complex 2-D plan for batch
 * planes of n0 x n1, as run() does. VD_OK when it is usable; VD_ERR_FFT naming the clFFT
 * call and its raw code when clFFT refuses (for example an unsupported length); the
 * failure is remembered, so asking again costs nothing. VD_ERR_UNSUPPORTED when the
 * library was built without clFFT. For tests: run() only asks for sizes from
 * vd_conv_fft_size. */
vd_status vd_conv_fft_probe(vd_context *ctx, size_t n0, size_t n1, size_t batch);

#endif /* VD_OPS_CONV_FFT_H */

/* check.h - the small test harness every test executable shares: element-wise
 * comparisons with a pass/fail tally, a seeded RNG for inputs, the context a device test
 * runs on (or the reason it is skipped), and device buffers with guard zones around an
 * offset so that out-of-bounds writes and offset bugs show up.
 *
 * A test's main ends with `return check_summary();`, which prints
 * "N passed, N failed" (", N skipped" when some were) as the last line and returns the
 * exit code: 1 if anything failed, 77 (CTest's SKIP_RETURN_CODE) if nothing ran but
 * something was skipped, 0 otherwise. */
#ifndef VD_TEST_CHECK_H
#define VD_TEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define TEST_SKIP 77

/* Each check counts as one pass or one failure and prints a line on failure. */

/* |got[i] - want[i]| <= atol + rtol * |want[i]| for every i (NaN matches only NaN).
 * On failure prints the number of bad elements, the worst index and both values.
 * Returns 1 when all pass. */
int expect_close(const char *what, const float *got, const float *want, size_t n, float atol,
                 float rtol);
/* Bit-exact equality of n bytes; prints the first differing index. */
int expect_equal_bytes(const char *what, const void *got, const void *want, size_t n);
/* cond must hold. */
int expect_true(const char *what, bool cond);
/* A call's status must be want; prints both names and vd_last_error(ctx) otherwise. */
int expect_status(const char *what, const vd_context *ctx, vd_status got, vd_status want);
/* Shorthand for a call that must succeed. */
#define EXPECT_OK(ctx, expr) expect_status(#expr, (ctx), (expr), VD_OK)
/* Count one skipped check, printing why. */
void check_skip(const char *what, const char *why);
/* Print "N passed, N failed[, N skipped]" and return the exit code (see above). */
int check_summary(void);

/* Seeded test RNG (splitmix64): reproducible inputs for a given seed. */
uint64_t test_rand_u64(uint64_t *state);
/* Uniform in [lo, hi). */
float test_rand_uniform(uint64_t *state, float lo, float hi);
/* Uniform integer in [lo, hi]. */
int64_t test_rand_int(uint64_t *state, int64_t lo, int64_t hi);
/* x[i] uniform in [lo, hi). */
void test_fill_uniform(uint64_t *state, float *x, size_t n, float lo, float hi);
/* malloc that never returns NULL for a test (exits the test with failure instead). */
void *test_malloc(size_t bytes);

/* Create a context with the default options, so VERDANT_DEVICE and VERDANT_CACHE_DIR are
 * honoured. Returns 0 on success; TEST_SKIP (printing "no usable OpenCL device" and
 * counting a skip) when there is none; 1 (counting a failure) on any other error. */
int test_context(vd_context **out);

/* Whether VD_TEST_SMALL is set (tests/oclgrind_run.sh sets it): tests then leave out the
 * cases that are large only to reach a host-side limit (launch splits over 65535 planes,
 * many chunks) and shrink the rest, so every kernel still runs, in a few minutes, under a
 * simulator that is some 1000x slower than PoCL. */
bool test_small(void);
/* Whether the convolution algorithm `name` is listed in VD_TEST_SKIP_ALGOS (comma- or
 * space-separated names): the Oclgrind runs set it to "fft" (Oclgrind reports inside
 * clFFT's generated kernels, not traced yet; docs/GPU.md), and the tests that force every
 * algorithm in turn leave those out. */
bool test_algo_skipped(const char *name);

/* A device buffer of n floats at element offset off inside a larger allocation whose
 * other elements (guard zones) hold a sentinel. */
typedef struct test_buf {
    vd_context *ctx;
    cl_mem mem;
    size_t off, n, total;
} test_buf;

/* Allocate with vd_buffer_alloc and fill everything with the sentinel; data (n floats)
 * is written at off when not NULL. Returns VD_OK or the runtime's status. */
vd_status test_buf_create(vd_context *ctx, size_t n, size_t off, const float *data,
                          test_buf *out);
/* Blocking copies of the n floats at off. */
vd_status test_buf_write(const test_buf *b, const float *src);
vd_status test_buf_read(const test_buf *b, float *dst);
/* Checks (one check) that the guard zones still hold the sentinel. */
int expect_guards(const char *what, const test_buf *b);
void test_buf_destroy(test_buf *b);

#endif /* VD_TEST_CHECK_H */

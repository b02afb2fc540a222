/* gradcheck.h - the finite-difference machinery that test_gradcheck.c and
 * test_gradcheck_cnn.c share: a reference backward checked against central differences,
 * and beta = 0 / beta = 1 accumulation. Host only, no OpenCL.
 *
 * For an output y and a fixed random r, L = sum(y .* r), so dL/dy = r and the reference
 * backward run on dy = r must give dL/dx. Steps are eps = 1e-3 * max(1, |x|), sums are in
 * double, the error is |num - ana| / max(1, |num| + |ana|) with tolerance GC_TOL (fp32
 * forward values), and at most GC_MAX_CHECKS sampled indices are checked per tensor. */
#ifndef VD_TEST_GRADCHECK_H
#define VD_TEST_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#define GC_TOL 1e-2
#define GC_MAX_CHECKS 256

/* Forward of the function under test: reads its inputs through u (one of which is the
 * tensor being perturbed) and writes its outputs to y. */
typedef void (*fwd_fn)(void *u, float *y);
/* Backward of the function under test into dx (or a parameter gradient) with beta. */
typedef void (*bwd_fn)(void *u, float beta, float *dx);

/* sum(a .* b) in double. */
double dot_d(const float *a, const float *b, size_t n);

/* One check: ana (dL/dparam from the reference backward, np values) against central
 * differences of L = sum(f(param) .* r) (ny outputs). Indices are all of param when
 * np <= GC_MAX_CHECKS, else GC_MAX_CHECKS drawn from *rng. Prints the worst on failure. */
void gradcheck(uint64_t *rng, const char *name, fwd_fn f, void *u, float *param, size_t np,
               size_t ny, const float *r, const float *ana);

/* One check: run b into a buffer of n twice with beta = 1 from zero and once with beta = 0
 * on one full of NaN (beta = 0 must not read it), and expect 2x and 1x. */
void accumulate_check(const char *name, bwd_fn b, void *u, size_t n);

#endif /* VD_TEST_GRADCHECK_H */

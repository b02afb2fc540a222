/* gradcheck.c - finite-difference and accumulation checks (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

double dot_d(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

void gradcheck(uint64_t *rng, const char *name, fwd_fn f, void *u, float *param, size_t np,
               size_t ny, const float *r, const float *ana)
{
    float *y = test_malloc(ny * sizeof(float));
    size_t checks = np < GC_MAX_CHECKS ? np : GC_MAX_CHECKS, bad = 0, worst = 0;
    double worst_rel = -1.0, worst_num = 0.0;
    for (size_t k = 0; k < checks; k++) {
        size_t i = np <= GC_MAX_CHECKS ? k : (size_t)test_rand_int(rng, 0, (int64_t)np - 1);
        float keep = param[i];
        double h = 1e-3 * fmax(1.0, fabs(keep));
        /* Divide by the step actually taken after rounding to float. */
        float xp = (float)(keep + h), xm = (float)(keep - h);
        param[i] = xp;
        f(u, y);
        double lp = dot_d(y, r, ny);
        param[i] = xm;
        f(u, y);
        double lm = dot_d(y, r, ny);
        param[i] = keep;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double rel = fabs(num - ana[i]) / fmax(1.0, fabs(num) + fabs(ana[i]));
        if (rel > GC_TOL) bad++;
        if (rel > worst_rel) {
            worst_rel = rel;
            worst = i;
            worst_num = num;
        }
    }
    if (bad)
        printf("FAIL gradcheck %s: %zu of %zu off; worst [%zu]: numeric %.6g analytic %.6g "
               "(rel %.3g)\n",
               name, bad, checks, worst, worst_num, ana[worst], worst_rel);
    expect_true(name, bad == 0);
    free(y);
}

void accumulate_check(const char *name, bwd_fn b, void *u, size_t n)
{
    float *once = test_malloc(n * sizeof(float)), *twice = test_malloc(n * sizeof(float));
    char what[160];
    for (size_t i = 0; i < n; i++) once[i] = NAN;
    b(u, 0.0f, once);
    b(u, 1.0f, twice); /* twice starts at zero (calloc) */
    b(u, 1.0f, twice);
    for (size_t i = 0; i < n; i++) once[i] *= 2.0f;
    snprintf(what, sizeof what, "%s: beta=1 twice is 2x, beta=0 ignores old dx", name);
    expect_close(what, twice, once, n, 1e-6f, 1e-6f);
    free(once);
    free(twice);
}

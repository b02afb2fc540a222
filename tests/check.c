/* check.c - the shared test harness (see check.h). Plain C and the runtime's internal
 * buffer functions; no knowledge of any layer. */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail, n_skip;

static int tally(bool ok)
{
    if (ok)
        n_pass++;
    else
        n_fail++;
    return ok ? 1 : 0;
}

int expect_close(const char *what, const float *got, const float *want, size_t n, float atol,
                 float rtol)
{
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double excess;
        if (isnan(w) || isnan(g))
            excess = isnan(w) && isnan(g) ? 0.0 : INFINITY;
        else if (isinf(w) || isinf(g))
            excess = g == w ? 0.0 : INFINITY;
        else
            excess = fabs(g - w) - (atol + rtol * fabs(w));
        if (excess > 0.0)
            bad++;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad)
        printf("FAIL %s: %zu of %zu elements off (atol %g, rtol %g); worst [%zu]: got %.9g "
               "want %.9g\n",
               what, bad, n, atol, rtol, worst, got[worst], want[worst]);
    return tally(bad == 0);
}

int expect_equal_bytes(const char *what, const void *got, const void *want, size_t n)
{
    const unsigned char *g = got, *w = want;
    for (size_t i = 0; i < n; i++) {
        if (g[i] != w[i]) {
            printf("FAIL %s: first difference at byte %zu: got %u want %u\n", what, i, g[i],
                   w[i]);
            return tally(false);
        }
    }
    return tally(true);
}

int expect_true(const char *what, bool cond)
{
    if (!cond)
        printf("FAIL %s\n", what);
    return tally(cond);
}

int expect_status(const char *what, const vd_context *ctx, vd_status got, vd_status want)
{
    if (got != want)
        printf("FAIL %s: got %s, want %s (%s)\n", what, vd_status_name(got),
               vd_status_name(want), vd_last_error(ctx));
    return tally(got == want);
}

void check_skip(const char *what, const char *why)
{
    printf("SKIP %s: %s\n", what, why);
    n_skip++;
}

int check_summary(void)
{
    if (n_skip)
        printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    else
        printf("%d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    if (n_fail)
        return 1;
    return n_pass == 0 && n_skip > 0 ? TEST_SKIP : 0;
}

uint64_t test_rand_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_rand_uniform(uint64_t *state, float lo, float hi)
{
    double u = (double)(test_rand_u64(state) >> 11) * (1.0 / 9007199254740992.0);
    float v = (float)(lo + (hi - (double)lo) * u);
    return v < hi ? v : lo; /* rounding to float may reach hi */
}

int64_t test_rand_int(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(test_rand_u64(state) % (uint64_t)(hi - lo + 1));
}

void test_fill_uniform(uint64_t *state, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = test_rand_uniform(state, lo, hi);
}

void *test_malloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        printf("FAIL out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

bool test_small(void)
{
    const char *v = getenv("VD_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

bool test_algo_skipped(const char *name)
{
    const char *v = getenv("VD_TEST_SKIP_ALGOS");
    size_t n = strlen(name);
    for (const char *p = v; p && *p;) {
        p += strspn(p, ", ");
        size_t len = strcspn(p, ", ");
        if (len == n && !strncmp(p, name, n)) return true;
        p += len;
    }
    return false;
}

int test_context(vd_context **out)
{
    vd_context_options opt;
    vd_context_options_init(&opt);
    *out = NULL;
    vd_status st = vd_context_create(&opt, out);
    if (st == VD_ERR_NO_DEVICE) {
        check_skip("device tests", "no usable OpenCL device");
        return TEST_SKIP;
    }
    if (st != VD_OK) {
        printf("FAIL vd_context_create: %s: %s\n", vd_status_name(st), vd_last_error(NULL));
        n_fail++;
        return 1;
    }
    return 0;
}

/* A value no kernel produces by accident. */
#define GUARD_VALUE -12345.678f

vd_status test_buf_create(vd_context *ctx, size_t n, size_t off, const float *data,
                          test_buf *out)
{
    /* A kernel that skips its bounds check writes up to the end of its last work-group,
     * at most 63 elements past the end with the default local size of 64: 67 trailing
     * guard floats catch that instead of letting it corrupt whatever follows. */
    memset(out, 0, sizeof *out);
    size_t total = off + n + 67;
    float *fill = test_malloc(total * sizeof(float));
    for (size_t i = 0; i < total; i++)
        fill[i] = GUARD_VALUE;
    if (data)
        memcpy(fill + off, data, n * sizeof(float));
    cl_mem mem = NULL;
    vd_status st = vd_buffer_alloc(ctx, total * sizeof(float), &mem);
    if (st == VD_OK) {
        st = vd_buffer_write(ctx, mem, true, 0, total * sizeof(float), fill, NULL, "test_buf");
        if (st != VD_OK) {
            vd_buffer_release(ctx, mem, total * sizeof(float));
        } else {
            *out = (test_buf){ctx, mem, off, n, total};
        }
    }
    free(fill);
    return st;
}

vd_status test_buf_write(const test_buf *b, const float *src)
{
    if (b->n == 0)
        return VD_OK;
    return vd_buffer_write(b->ctx, b->mem, true, b->off * sizeof(float), b->n * sizeof(float), src,
                           NULL, "test_buf");
}

vd_status test_buf_read(const test_buf *b, float *dst)
{
    if (b->n == 0)
        return VD_OK;
    cl_int err = clEnqueueReadBuffer(b->ctx->queue, b->mem, CL_TRUE, b->off * sizeof(float),
                                     b->n * sizeof(float), dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? VD_OK : vd_error_cl(b->ctx, "clEnqueueReadBuffer(test_buf)", err);
}

int expect_guards(const char *what, const test_buf *b)
{
    float *all = test_malloc(b->total * sizeof(float));
    cl_int err = clEnqueueReadBuffer(b->ctx->queue, b->mem, CL_TRUE, 0, b->total * sizeof(float),
                                     all, 0, NULL, NULL);
    size_t bad = b->total;
    for (size_t i = 0; err == CL_SUCCESS && i < b->total; i++) {
        if ((i < b->off || i >= b->off + b->n) && all[i] != GUARD_VALUE) {
            bad = i;
            break;
        }
    }
    if (err != CL_SUCCESS)
        printf("FAIL %s: clEnqueueReadBuffer -> %d\n", what, err);
    else if (bad < b->total)
        printf("FAIL %s: guard zone overwritten at element %zu (offset %zu, n %zu): %.9g\n",
               what, bad, b->off, b->n, all[bad]);
    free(all);
    return tally(err == CL_SUCCESS && bad == b->total);
}

void test_buf_destroy(test_buf *b)
{
    if (b && b->mem)
        vd_buffer_release(b->ctx, b->mem, b->total * sizeof(float));
    if (b)
        b->mem = NULL;
}

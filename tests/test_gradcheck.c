/* test_gradcheck.c - checks every reference backward in tests/ref against central finite
 * differences, so the oracle the device tests trust is itself verified. Needs no OpenCL.
 *
 * For an output y and a fixed random r, L = sum(y .* r), so dL/dy = r and the reference
 * backward run on dy = r must give dL/dx. Steps are eps = 1e-3 * max(1, |x|), sums are in
 * double, the error is |num - ana| / max(1, |num| + |ana|) with tolerance 1e-2 (fp32
 * forward values), and at most 256 sampled indices are checked per tensor. Inputs stay
 * away from kinks (ReLU near 0). Accumulation is checked by running backward twice with
 * beta = 1 and expecting twice one run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "ref.h"

static uint64_t rng = 20240601;

static float *rand_array(size_t n, float lo, float hi)
{
    float *a = test_malloc(n * sizeof(float));
    test_fill_uniform(&rng, a, n, lo, hi);
    return a;
}

/* ------------------------------------------------------------------ activations */

typedef struct act_case {
    vd_act act;
    size_t n;
    float *x, *dy;
} act_case;

static void act_fwd(void *u, float *y)
{
    act_case *c = u;
    if (c->act == VD_ACT_LEAKY_RELU) ref_leaky_fwd(0.1f, c->n, c->x, y);
    else ref_act_fwd(c->act, c->n, c->x, y);
}

static void act_bwd(void *u, float beta, float *dx)
{
    act_case *c = u;
    if (c->act == VD_ACT_LEAKY_RELU) ref_leaky_bwd(0.1f, c->n, c->x, c->dy, beta, dx);
    else ref_act_bwd(c->act, c->n, c->x, NULL, c->dy, beta, dx);
}

static void check_act(void)
{
    static const char *names[] = {"identity", "relu", "sigmoid", "tanh", "gelu", "leaky_relu"};
    for (int a = VD_ACT_IDENTITY; a <= VD_ACT_LEAKY_RELU; a++) {
        act_case c = {(vd_act)a, 300, rand_array(300, -4.0f, 4.0f), rand_array(300, -1, 1)};
        for (size_t i = 0; i < c.n; i++) /* away from the ReLU kink */
            if (fabsf(c.x[i]) < 0.05f)
                c.x[i] = c.x[i] < 0 ? -0.1f : 0.1f;
        float *dx = test_malloc(c.n * sizeof(float));
        act_bwd(&c, 0.0f, dx);
        char what[64];
        snprintf(what, sizeof what, "act %s dx", names[a]);
        gradcheck(&rng, what, act_fwd, &c, c.x, c.n, c.n, c.dy, dx);
        snprintf(what, sizeof what, "act %s", names[a]);
        accumulate_check(what, act_bwd, &c, c.n);
        free(dx);
        free(c.x);
        free(c.dy);
    }
}

/* ------------------------------------------------------------------ dense */

typedef struct dense_case {
    size_t N, in, out;
    float *x, *W, *b, *dy;
} dense_case;

static void dense_fwd(void *u, float *y)
{
    dense_case *c = u;
    ref_dense_fwd(c->N, c->in, c->out, c->x, c->W, c->b, y);
}

static void dense_bwd_dx(void *u, float beta, float *dx)
{
    dense_case *c = u;
    float *dW = test_malloc(c->out * c->in * sizeof(float));
    ref_dense_bwd(c->N, c->in, c->out, c->x, c->W, c->dy, beta, dx, dW, NULL);
    free(dW);
}

/* Parameter gradients always accumulate: beta is ignored, dx is skipped. */
static void dense_bwd_dw(void *u, float beta, float *dW)
{
    dense_case *c = u;
    if (beta == 0.0f)
        memset(dW, 0, c->out * c->in * sizeof(float));
    ref_dense_bwd(c->N, c->in, c->out, c->x, c->W, c->dy, 0.0f, NULL, dW, NULL);
}

static void dense_bwd_db(void *u, float beta, float *db)
{
    dense_case *c = u;
    float *dW = test_malloc(c->out * c->in * sizeof(float));
    if (beta == 0.0f)
        memset(db, 0, c->out * sizeof(float));
    ref_dense_bwd(c->N, c->in, c->out, c->x, c->W, c->dy, 0.0f, NULL, dW, db);
    free(dW);
}

static void check_dense(size_t N, size_t in, size_t out)
{
    dense_case c = {N, in, out, rand_array(N * in, -1, 1), rand_array(out * in, -1, 1),
                    rand_array(out, -1, 1), rand_array(N * out, -1, 1)};
    float *dx = test_malloc(N * in * sizeof(float));
    float *dW = test_malloc(out * in * sizeof(float)), *db = test_malloc(out * sizeof(float));
    ref_dense_bwd(N, in, out, c.x, c.W, c.dy, 0.0f, dx, dW, db);
    char what[96];
    snprintf(what, sizeof what, "dense %zux%zu->%zu dx", N, in, out);
    gradcheck(&rng, what, dense_fwd, &c, c.x, N * in, N * out, c.dy, dx);
    snprintf(what, sizeof what, "dense %zux%zu->%zu dW", N, in, out);
    gradcheck(&rng, what, dense_fwd, &c, c.W, out * in, N * out, c.dy, dW);
    snprintf(what, sizeof what, "dense %zux%zu->%zu db", N, in, out);
    gradcheck(&rng, what, dense_fwd, &c, c.b, out, N * out, c.dy, db);
    snprintf(what, sizeof what, "dense %zux%zu->%zu dx", N, in, out);
    accumulate_check(what, dense_bwd_dx, &c, N * in);
    snprintf(what, sizeof what, "dense %zux%zu->%zu dW", N, in, out);
    accumulate_check(what, dense_bwd_dw, &c, out * in);
    snprintf(what, sizeof what, "dense %zux%zu->%zu db", N, in, out);
    accumulate_check(what, dense_bwd_db, &c, out);
    free(dx), free(dW), free(db);
    free(c.x), free(c.W), free(c.b), free(c.dy);
}

/* ref_gemm with transposed storage must agree with ref_gemm on explicit transposes. */
static void check_gemm_transposes(size_t m, size_t n, size_t k)
{
    float *a = rand_array(m * k, -1, 1), *b = rand_array(k * n, -1, 1);
    float *at = test_malloc(m * k * sizeof(float)), *bt = test_malloc(k * n * sizeof(float));
    float *want = rand_array(m * n, -1, 1), *got = test_malloc(m * n * sizeof(float));
    float *c0 = test_malloc(m * n * sizeof(float));
    memcpy(c0, want, m * n * sizeof(float));
    for (size_t i = 0; i < m; i++)
        for (size_t p = 0; p < k; p++)
            at[p * m + i] = a[i * k + p];
    for (size_t p = 0; p < k; p++)
        for (size_t j = 0; j < n; j++)
            bt[j * k + p] = b[p * n + j];
    /* Plain triple loop as the oracle of the oracle: C = 0.5 A B + 2 C. */
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++)
                s += (double)a[i * k + p] * b[p * n + j];
            want[i * n + j] = (float)(0.5 * s + 2.0 * c0[i * n + j]);
        }
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        memcpy(got, c0, m * n * sizeof(float));
        ref_gemm(ta, tb, m, n, k, 0.5f, ta ? at : a, ta ? m : k, tb ? bt : b, tb ? k : n, 2.0f,
                 got, n);
        char what[64];
        snprintf(what, sizeof what, "ref_gemm ta=%d tb=%d %zux%zux%zu", ta, tb, m, n, k);
        expect_close(what, got, want, m * n, 1e-6f, 1e-6f);
    }
    free(a), free(b), free(at), free(bt), free(want), free(got), free(c0);
}

/* ------------------------------------------------------------------ dropout */

typedef struct dropout_case {
    size_t n;
    float p;
    float *x, *dy;
} dropout_case;

static void dropout_fwd(void *u, float *y)
{
    dropout_case *c = u;
    ref_dropout_fwd(c->n, c->p, 7, 3, c->x, y);
}

static void dropout_bwd(void *u, float beta, float *dx)
{
    dropout_case *c = u;
    ref_dropout_bwd(c->n, c->p, 7, 3, c->dy, beta, dx);
}

static void check_dropout(void)
{
    dropout_case c = {1000, 0.3f, rand_array(1000, -2, 2), rand_array(1000, -1, 1)};
    float *dx = test_malloc(c.n * sizeof(float));
    ref_dropout_bwd(c.n, c.p, 7, 3, c.dy, 0.0f, dx);
    gradcheck(&rng, "dropout dx", dropout_fwd, &c, c.x, c.n, c.n, c.dy, dx);
    accumulate_check("dropout", dropout_bwd, &c, c.n);
    free(dx), free(c.x), free(c.dy);
}

/* ------------------------------------------------------------------ losses */

/* L = grad_scale * sum_r row_loss[r]: the per-row weight r is the constant grad_scale. */
typedef struct loss_case {
    size_t rows, cols;
    float *z, *t;
    int32_t *labels;
} loss_case;

static void ce_fwd(void *u, float *row_loss)
{
    loss_case *c = u;
    ref_softmax_ce(c->rows, c->cols, c->z, c->labels, 1.0f, NULL, row_loss, NULL);
}

static void mse_fwd(void *u, float *row_loss)
{
    loss_case *c = u;
    ref_mse(c->rows, c->cols, c->z, c->t, 1.0f, NULL, row_loss);
}

static void check_losses(size_t rows, size_t cols)
{
    const float scale = 0.37f;
    loss_case c = {rows, cols, rand_array(rows * cols, -5, 5), rand_array(rows * cols, -1, 1),
                   test_malloc(rows * sizeof(int32_t))};
    float *r = test_malloc(rows * sizeof(float)), *rl = test_malloc(rows * sizeof(float));
    float *dz = test_malloc(rows * cols * sizeof(float));
    for (size_t i = 0; i < rows; i++) {
        r[i] = scale;
        c.labels[i] = (int32_t)test_rand_int(&rng, 0, (int64_t)cols - 1);
    }
    char what[64];
    ref_softmax_ce(rows, cols, c.z, c.labels, scale, dz, rl, NULL);
    snprintf(what, sizeof what, "softmax_ce %zux%zu dz", rows, cols);
    gradcheck(&rng, what, ce_fwd, &c, c.z, rows * cols, rows, r, dz);
    ref_mse(rows, cols, c.z, c.t, scale, dz, rl);
    snprintf(what, sizeof what, "mse %zux%zu dp", rows, cols);
    gradcheck(&rng, what, mse_fwd, &c, c.z, rows * cols, rows, r, dz);
    free(r), free(rl), free(dz), free(c.z), free(c.t), free(c.labels);
}

/* Random123's known-answer vectors for Philox4x32-10: the host generator that the
 * dropout reference (and through it the device kernels) is checked against. */
static void check_philox_kat(void)
{
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                       {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
    static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                        {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                        {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int i = 0; i < 3; i++) {
        uint32_t got[4];
        vd_philox4x32(ctr[i], key[i], got);
        expect_equal_bytes("philox4x32-10 known answer", got, want[i], sizeof got);
    }
    expect_true("uniform(0) == 0", vd_rng_uniform(0) == 0.0f);
    expect_true("uniform(~0) < 1", vd_rng_uniform(0xffffffffu) < 1.0f);
}

int main(void)
{
    check_philox_kat();
    check_act();
    check_dense(1, 1, 1);
    check_dense(3, 17, 5);
    check_dense(17, 33, 10);
    check_gemm_transposes(1, 1, 1);
    check_gemm_transposes(3, 17, 5);
    check_gemm_transposes(19, 7, 13);
    check_dropout();
    check_losses(1, 1);
    check_losses(5, 10);
    check_losses(17, 129);
    return check_summary();
}

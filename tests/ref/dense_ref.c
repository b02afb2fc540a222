/* dense_ref.c - reference GEMM, bias add and dense layer forward/backward. */
#include "ref.h"

void ref_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, const float *a,
              size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double prev = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s + prev);
        }
    }
}

void ref_bias_fwd(size_t rows, size_t cols, const float *b, float *y)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            y[r * cols + c] = (float)((double)y[r * cols + c] + b[c]);
}

void ref_bias_bwd(size_t rows, size_t cols, const float *dy, float *db)
{
    for (size_t c = 0; c < cols; c++) {
        double s = db[c];
        for (size_t r = 0; r < rows; r++)
            s += dy[r * cols + c];
        db[c] = (float)s;
    }
}

void ref_dense_fwd(size_t N, size_t in, size_t out, const float *x, const float *W,
                   const float *b, float *y)
{
    for (size_t r = 0; r < N; r++) {
        for (size_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (size_t i = 0; i < in; i++)
                s += (double)x[r * in + i] * W[o * in + i];
            y[r * out + o] = (float)s;
        }
    }
}

void ref_dense_bwd(size_t N, size_t in, size_t out, const float *x, const float *W,
                   const float *dy, float beta, float *dx, float *dW, float *db)
{
    if (dx) /* dx = beta dx + dy W */
        ref_gemm(false, false, N, in, out, 1.0f, dy, out, W, in, beta, dx, in);
    for (size_t o = 0; o < out; o++) { /* dW += dy^T x */
        for (size_t i = 0; i < in; i++) {
            double s = dW[o * in + i];
            for (size_t r = 0; r < N; r++)
                s += (double)dy[r * out + o] * x[r * in + i];
            dW[o * in + i] = (float)s;
        }
    }
    if (db)
        ref_bias_bwd(N, out, dy, db);
}

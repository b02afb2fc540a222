/* transpose_ref.c - reference axis permutation of a batch of samples. */
#include "ref.h"

void ref_permute(size_t n, int32_t r, const int64_t *dims, const int32_t *perm, const float *x,
                 float beta, float *y)
{
    size_t numel = 1, st[3] = {0, 0, 0};
    for (int32_t k = r - 1; k >= 0; k--) {
        st[k] = numel;
        numel *= (size_t)dims[k];
    }
    size_t od[3];
    for (int32_t k = 0; k < r; k++) od[k] = (size_t)dims[perm[k]];
    for (size_t b = 0; b < n; b++) {
        for (size_t o = 0; o < numel; o++) {
            /* o's output coordinates, last axis fastest; their sum of x strides */
            size_t rem = o, src = 0;
            for (int32_t k = r - 1; k >= 0; k--) {
                src += (rem % od[k]) * st[perm[k]];
                rem /= od[k];
            }
            float v = x[b * numel + src];
            float *d = &y[b * numel + o];
            *d = beta == 0.0f ? v : (float)((double)beta * *d + v);
        }
    }
}

/* merge_ref.c - concat along one sample axis, the obvious way: element by element with
 * explicit indices (no block copies). */
#include "ref.h"

/* Element (row s, axis position a, inner i) of a tensor with extent len on the axis:
 * (s * len + a) * inner + i. */
void ref_concat_fwd(size_t rows, int32_t k, const size_t *lens, size_t inner,
                    const float *const *xs, float *y)
{
    size_t total = 0;
    for (int32_t j = 0; j < k; j++) total += lens[j];
    for (size_t s = 0; s < rows; s++)
        for (int32_t j = 0, a0 = 0; j < k; a0 += (int32_t)lens[j], j++)
            for (size_t a = 0; a < lens[j]; a++)
                for (size_t i = 0; i < inner; i++)
                    y[(s * total + (size_t)a0 + a) * inner + i] =
                        xs[j][(s * lens[j] + a) * inner + i];
}

void ref_concat_bwd(size_t rows, int32_t k, const size_t *lens, size_t inner, const float *dy,
                    const float *betas, float *const *dxs)
{
    size_t total = 0;
    for (int32_t j = 0; j < k; j++) total += lens[j];
    for (size_t s = 0; s < rows; s++)
        for (int32_t j = 0, a0 = 0; j < k; a0 += (int32_t)lens[j], j++)
            for (size_t a = 0; a < lens[j] && dxs[j]; a++)
                for (size_t i = 0; i < inner; i++) {
                    float *d = &dxs[j][(s * lens[j] + a) * inner + i];
                    float g = dy[(s * total + (size_t)a0 + a) * inner + i];
                    *d = betas[j] != 0.0f ? betas[j] * *d + g : g;
                }
}

/* dropout_ref.c - reference inverted dropout. The mask comes from the runtime's host
 * Philox (vd_philox4x32, vd_rng_uniform), mapped to elements exactly as cl/dropout.cl
 * describes: element i uses word i % 4 of the block for counter {i/4, 0, stream lo,
 * stream hi} and key seed, and is kept when that uniform is >= p. */
#include "ref.h"

#include "runtime/runtime.h"

static int keep_at(size_t i, float p, uint64_t seed, uint64_t stream)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)(i / 4), 0, (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t r[4];
    vd_philox4x32(ctr, key, r);
    return vd_rng_uniform(r[i % 4]) >= p;
}

void ref_dropout_mask(size_t n, float p, uint64_t seed, uint64_t stream, uint8_t *keep)
{
    for (size_t i = 0; i < n; i++)
        keep[i] = (uint8_t)keep_at(i, p, seed, stream);
}

/* The scale 1/(1-p) is rounded to float first, as the launcher passes it. */
void ref_dropout_fwd(size_t n, float p, uint64_t seed, uint64_t stream, const float *x,
                     float *y)
{
    const double scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        y[i] = keep_at(i, p, seed, stream) ? (float)(x[i] * scale) : 0.0f;
}

void ref_dropout_bwd(size_t n, float p, uint64_t seed, uint64_t stream, const float *dy,
                     float beta, float *dx)
{
    const double scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        double g = keep_at(i, p, seed, stream) ? dy[i] * scale : 0.0;
        dx[i] = (float)(beta == 0.0f ? g : (double)beta * dx[i] + g);
    }
}

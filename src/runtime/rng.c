/* rng.c - Philox4x32-10 counter-based RNG on the host (Salmon, Moraes, Dror, Shaw:
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11). cl/common.cl implements the same
 * function, so weight init, dropout and shuffling are reproducible from (seed, counter). */
#include <math.h>

#include "runtime.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void vd_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

float vd_rng_uniform(uint32_t word)
{
    return (float)(word >> 8) * (1.0f / 16777216.0f);
}

/* Block b of stream (seed, stream): counter {b lo, b hi, stream lo, stream hi}. */
static void block(uint64_t seed, uint64_t stream, uint64_t b, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vd_philox4x32(ctr, key, out);
}

void vd_rng_normal(uint64_t seed, uint64_t stream, float std, float *out, size_t n)
{
    /* Box-Muller on pairs of words; u1 is kept away from 0 so log() stays finite. */
    for (size_t i = 0; i < n; i += 2) {
        uint32_t w[4];
        block(seed, stream, i / 2, w);
        double u1 = ((double)(w[0] >> 8) + 0.5) / 16777216.0;
        double u2 = (double)(w[1] >> 8) / 16777216.0;
        double r = sqrt(-2.0 * log(u1));
        out[i] = (float)(std * r * cos(2.0 * M_PI * u2));
        if (i + 1 < n) out[i + 1] = (float)(std * r * sin(2.0 * M_PI * u2));
    }
}

void vd_rng_permutation(uint64_t seed, uint64_t stream, uint32_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        uint32_t w[4];
        block(seed, stream, i, w);
        /* 64 random bits, reduced modulo i: bias < i / 2^64, negligible. */
        uint64_t r = ((uint64_t)w[0] << 32 | w[1]) % i;
        uint32_t t = out[i - 1];
        out[i - 1] = out[r];
        out[r] = t;
    }
}

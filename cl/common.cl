/* common.cl - helpers shared by every kernel file. The runtime prepends this file (with
 * #line directives) to each cl/<family>.cl before building, so it holds no kernels, only
 * inline functions.
 *
 * -D switches: none.
 * Work size: not applicable (no kernels here).
 *
 * Holds Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11), bit-identical to vd_philox4x32 in src/runtime/rng.c, so host references and
 * device kernels draw the same streams, and the word -> uniform float conversion shared
 * with vd_rng_uniform. */

#define VD_PHILOX_M0 0xD2511F53u
#define VD_PHILOX_M1 0xCD9E8D57u
#define VD_PHILOX_W0 0x9E3779B9u
#define VD_PHILOX_W1 0xBB67AE85u

/* One Philox round on counter c with key k (the Random123 S-box). */
inline uint4 vd_philox_round(uint4 c, uint2 k)
{
    uint hi0 = mul_hi(VD_PHILOX_M0, c.x);
    uint lo0 = VD_PHILOX_M0 * c.x;
    uint hi1 = mul_hi(VD_PHILOX_M1, c.z);
    uint lo1 = VD_PHILOX_M1 * c.z;
    return (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

/* Philox4x32-10: four random words for a 128-bit counter and a 64-bit key. */
inline uint4 vd_philox4x32(uint4 ctr, uint2 key)
{
    ctr = vd_philox_round(ctr, key);
    for (int r = 1; r < 10; r++) {
        key.x += VD_PHILOX_W0;
        key.y += VD_PHILOX_W1;
        ctr = vd_philox_round(ctr, key);
    }
    return ctr;
}

/* Uniform float in [0, 1) from the top 24 bits of a word: every value is exact in fp32,
 * so host and device agree bit for bit. */
inline float vd_uniform(uint w)
{
    return (float)(w >> 8) * (1.0f / 16777216.0f);
}

/* Word i % 4 of the block for element i of stream (seed, stream): the element -> random
 * number mapping of dropout (dropout.cl draws whole blocks of 4 with the same mapping). */
inline float vd_uniform_at(ulong i, ulong seed, ulong stream)
{
    uint4 r = vd_philox4x32((uint4)((uint)(i / 4), 0u, (uint)stream, (uint)(stream >> 32)),
                            (uint2)((uint)seed, (uint)(seed >> 32)));
    uint k = (uint)(i % 4);
    return vd_uniform(k == 0 ? r.x : k == 1 ? r.y : k == 2 ? r.z : r.w);
}

/* Sum of v over the work-group, a fixed binary tree over buf (one float per work-item;
 * the local size must be a power of two): the same order on every run, no atomics. Every
 * work-item gets the result. Used by conv.cl and norm.cl. */
inline float vd_group_sum(local float *buf, float v)
{
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = lsz / 2; step > 0; step >>= 1) {
        if (l < step)
            buf[l] += buf[l + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* buf is reused by the next call */
    return r;
}

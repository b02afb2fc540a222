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

/* Philox4x32-10: four random words for a 128-bit counter and a 64-bit key. Written on
 * scalar words, the 32 x 32 -> 64-bit products as ulong multiplies: with uint4 and mul_hi
 * PoCL did not vectorise the work-item loop, and dropout spent 200 cycles per call. */
inline uint4 vd_philox4x32(uint4 ctr, uint2 key)
{
    uint c0 = ctr.x, c1 = ctr.y, c2 = ctr.z, c3 = ctr.w, k0 = key.x, k1 = key.y;
    for (int r = 0; r < 10; r++) {
        ulong p0 = (ulong)VD_PHILOX_M0 * c0, p1 = (ulong)VD_PHILOX_M1 * c2;
        uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0, n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0, c1 = (uint)p1, c2 = n2, c3 = (uint)p0;
        k0 += VD_PHILOX_W0, k1 += VD_PHILOX_W1;
    }
    return (uint4)(c0, c1, c2, c3);
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

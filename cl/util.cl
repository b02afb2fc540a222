/* util.cl - small memory kernels that belong to no layer family.
 *
 * -D switches: none.
 * fill: global n (rounded up to the local size, default 64), one work-item per element:
 *   x[x_off + i] = value. */

kernel void fill(ulong n, float value, global float *x, ulong x_off)
{
    ulong i = get_global_id(0);
    if (i < n)
        x[x_off + i] = value;
}

/* copy2d: global (cols, rows), one work-item per element of a rows x cols block:
 *   dst[d_off + r*d_ld + c] = beta * dst[...] + src[s_off + r*s_ld + c]
 * With beta == 0 dst is not read (it may hold anything, NaN included). Used for residual
 * adds, channel concatenation and their gradients. */
kernel void copy2d(ulong rows, ulong cols, global const float *src, ulong s_off, ulong s_ld,
                   float beta, global float *dst, ulong d_off, ulong d_ld)
{
    ulong c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= rows)
        return;
    ulong d = d_off + r * d_ld + c;
    float v = src[s_off + r * s_ld + c];
    dst[d] = beta == 0.0f ? v : beta * dst[d] + v;
}

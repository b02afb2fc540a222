/* util.cl - small memory kernels that belong to no layer family.
 *
 * -D switches: none.
 * fill: global n (rounded up to the local size, default 64), one work-item per element:
 *   x[x_off + i] = value.
 * copy_u32: global n, one work-item per 32-bit word: dst[d_off + i] = src[i], bit for
 *   bit (uint, so NaN payloads and int32 labels pass unchanged). The staged host write
 *   of src/runtime/tensor.c (vd_buffer_write).
 * Further below: copy2d, permute3 and the gradient-clipping passes, each with its own
 *   work-size contract. */

kernel void fill(ulong n, float value, global float *x, ulong x_off)
{
    ulong i = get_global_id(0);
    if (i < n)
        x[x_off + i] = value;
}

kernel void copy_u32(ulong n, global const uint *src, global uint *dst, ulong d_off)
{
    ulong i = get_global_id(0);
    if (i < n)
        dst[d_off + i] = src[i];
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

/* permute3: global n * d0 * d1 * d2, one work-item per element of y, which is the
 * (n, d0, d1, d2) tensor of the output sample shape; x's element of the same position is
 * at x_off + b*numel + i0*s0 + i1*s1 + i2*s2 (s0..s2: x's strides of the axes that output
 * axes 0..2 come from, numel = d0*d1*d2). Leading output dims of 1 (stride 0) pad samples
 * of rank below 3.
 *   y[y_off + idx] = beta * y[...] + x[...]     (y not read when beta == 0)
 * The transpose layer: forward with its permutation, backward with the inverse. */
kernel void permute3(ulong total, ulong d1, ulong d2, ulong s0, ulong s1, ulong s2,
                     global const float *x, ulong x_off, float beta, global float *y,
                     ulong y_off, ulong numel)
{
    ulong idx = get_global_id(0);
    if (idx >= total)
        return;
    ulong b = idx / numel, r = idx - b * numel;
    ulong i2 = r % d2, q = r / d2;
    ulong i1 = q % d1, i0 = q / d1;
    float v = x[x_off + b * numel + i0 * s0 + i1 * s1 + i2 * s2];
    ulong d = y_off + idx;
    y[d] = beta == 0.0f ? v : beta * y[d] + v;
}

/* Gradient clipping by global norm, in three deterministic passes (no atomics):
 * sumsq_partial: global parts, one work-item per part: out[p] = sum of x[i]^2 over the
 *   elements i = p*chunk .. min(n, (p+1)*chunk), in index order.
 * clip_scale: one work-item: norm = sqrt(sum of partial[0..parts) in order);
 *   scale[0] = norm > max_norm ? max_norm / norm : 1; scale[1] = norm. scale may be the
 *   partial buffer itself: every partial is read before anything is written.
 * scale_by: global n, one work-item per element: x[i] *= scale[0]. */
kernel void sumsq_partial(ulong n, ulong chunk, global const float *x, ulong x_off,
                          global float *out)
{
    ulong p = get_global_id(0);
    ulong lo = p * chunk, hi = min(n, lo + chunk);
    float s = 0.0f;
    for (ulong i = lo; i < hi; i++) {
        float v = x[x_off + i];
        s = fma(v, v, s);
    }
    out[p] = s;
}

kernel void clip_scale(ulong parts, global const float *partial, float max_norm,
                       global float *scale)
{
    if (get_global_id(0) != 0)
        return;
    float s = 0.0f;
    for (ulong p = 0; p < parts; p++)
        s += partial[p];
    float norm = sqrt(s);
    scale[0] = norm > max_norm ? max_norm / norm : 1.0f;
    scale[1] = norm;
}

kernel void scale_by(ulong n, global float *x, ulong x_off, global const float *scale)
{
    ulong i = get_global_id(0);
    if (i < n)
        x[x_off + i] *= scale[0];
}

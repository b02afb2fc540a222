/* dense.cl - the bias half of a dense layer; the matrix products go through CLBlast
 * (vd_blas_sgemm), so only the bias add and its gradient live here.
 *
 * -D switches: none.
 * bias_fwd: global rows * cols (rounded up to the local size, default 64), one
 *   work-item per element of y (rows, cols), row-major: y[r][c] += b[c].
 * bias_bwd: global cols, one work-item per column c: db[c] += sum_r dy[r][c], summed
 *   in row order, so the result does not depend on the device or the local size. */

kernel void bias_fwd(ulong rows, ulong cols, global const float *b, ulong b_off,
                     global float *y, ulong y_off)
{
    ulong i = get_global_id(0);
    if (i < rows * cols)
        y[y_off + i] += b[b_off + i % cols];
}

kernel void bias_bwd(ulong rows, ulong cols, global const float *dy, ulong dy_off,
                     global float *db, ulong db_off)
{
    ulong c = get_global_id(0);
    if (c >= cols)
        return;
    float s = 0.0f;
    for (ulong r = 0; r < rows; r++)
        s += dy[dy_off + r * cols + c];
    db[db_off + c] += s;
}

/* loss.cl - losses over a batch of rows, and their deterministic accumulation.
 *
 * -D switches: none.
 * softmax_ce: global rows (rounded up to the local size, default 64), one work-item per
 *   row r of logits z (rows, cols) with int labels:
 *     row_loss[r] = logsumexp(z_r) - z_r[label_r]   (NAN when the label is out of range)
 *     row_correct[r] = argmax(z_r) == label_r        (first maximum wins; if has_correct)
 *     dz[r][c] = grad_scale * (softmax(z_r)[c] - (c == label_r))   (if has_dz)
 *   The log-sum-exp subtracts the row maximum first, so no exp overflows.
 * mse: global rows, one work-item per row of predictions p and targets t (rows, cols):
 *     row_loss[r] = sum_c (p - t)^2 / cols;  dp[r][c] = grad_scale * 2 (p - t) / cols.
 * loss_accumulate: global 1 (one work-item): acc[0] += sum_r row_loss[r],
 *   acc[1] += sum_r row_correct[r] (if has_correct), summed in row order so the result
 *   is the same on every device. */

kernel void softmax_ce(ulong rows, ulong cols, global const float *z, ulong z_off,
                       global const int *labels, ulong labels_off, float grad_scale,
                       int has_dz, global float *dz, ulong dz_off, global float *row_loss,
                       int has_correct, global float *row_correct)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    global const float *zr = z + z_off + r * cols;
    int label = labels[labels_off + r];
    bool valid = label >= 0 && (ulong)label < cols;

    float m = zr[0];
    ulong arg = 0;
    for (ulong c = 1; c < cols; c++) {
        if (zr[c] > m) {
            m = zr[c];
            arg = c;
        }
    }
    float s = 0.0f;
    for (ulong c = 0; c < cols; c++)
        s += exp(zr[c] - m);

    /* log(s) - (z_label - m), not m + log(s) - z_label: when the label holds the maximum
     * of large logits the second form cancels to a multiple of ulp(m). */
    row_loss[r] = valid ? log(s) - (zr[label] - m) : NAN;
    if (has_correct)
        row_correct[r] = valid && arg == (ulong)label ? 1.0f : 0.0f;
    if (has_dz) {
        global float *dzr = dz + dz_off + r * cols;
        float inv = 1.0f / s;
        for (ulong c = 0; c < cols; c++) {
            float onehot = valid && c == (ulong)label ? 1.0f : 0.0f;
            dzr[c] = grad_scale * (exp(zr[c] - m) * inv - onehot);
        }
    }
}

kernel void mse(ulong rows, ulong cols, global const float *p, ulong p_off,
                global const float *t, ulong t_off, float grad_scale, int has_dp,
                global float *dp, ulong dp_off, global float *row_loss)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    global const float *pr = p + p_off + r * cols;
    global const float *tr = t + t_off + r * cols;
    float inv = 1.0f / (float)cols;
    float s = 0.0f;
    for (ulong c = 0; c < cols; c++) {
        float d = pr[c] - tr[c];
        s += d * d;
        if (has_dp)
            dp[dp_off + r * cols + c] = grad_scale * 2.0f * d * inv;
    }
    row_loss[r] = s * inv;
}

kernel void loss_accumulate(ulong rows, global const float *row_loss, int has_correct,
                            global const float *row_correct, global float *acc)
{
    if (get_global_id(0) != 0)
        return;
    float l = 0.0f, k = 0.0f;
    for (ulong r = 0; r < rows; r++) {
        l += row_loss[r];
        if (has_correct)
            k += row_correct[r];
    }
    acc[0] += l;
    if (has_correct)
        acc[1] += k;
}

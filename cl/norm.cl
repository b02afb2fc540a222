/* norm.cl - batch normalisation, layer normalisation and softmax over channels, forward
 * and backward.
 *
 * -D switches: none. Every shape is an argument.
 *
 * Work-group reductions (bn_stats, bn_bwd_reduce, ln_fwd, ln_bwd_data): the local size is
 * a power of two chosen by the launcher (64 or the device maximum, vd_cnn_reduce_local),
 * the global size is (number of groups) * local, with no partial groups, so every
 * work-item reaches every barrier. Lane l sums elements l, l + lsz, ... in order, then a
 * tree in local memory combines the lanes: the summation order depends only on the local
 * size, so results are deterministic (no atomics).
 *
 * Batch norm: x is (n, C, HW); channel c has M = n*HW values in n contiguous runs of HW
 * (one per sample: a "plane"). `st` holds 6*C floats:
 *   [0, C) running mean, [C, 2C) running variance, [2C, 3C) mean of the last forward,
 *   [3C, 4C) 1/sqrt(var + eps) of the last forward, [4C, 6C) sum(dy), sum(dy*xhat).
 * relu != 0 fuses a ReLU after the normalisation: y = max(0, gamma xhat + beta), and the
 * backward masks dy where y <= 0 (y is then an argument; otherwise it is not read).
 * bn_stats:      one group per channel. The channel's planes are cut into n*K units of
 *                `chunk` contiguous values (K chunks per plane, chosen by the launcher so
 *                that every lane has work when n < local size); lane l sums units l,
 *                l + lsz, ... with 8-wide vector loads, then the lanes are combined
 *                (vd_group_sum). Two passes: mean, then biased variance around it; then
 *                the running statistics: r = (1 - m) r + m * batch (variance unbiased:
 *                var * M / (M - 1)). No index arithmetic per element: on a CPU each lane
 *                streams contiguous memory (an earlier version that recovered (sample,
 *                pixel) from a flat index with two 64-bit divisions per element ran at
 *                0.7 GB/s).
 * bn_eval_stats: global C, one work-item per channel: the forward uses the running ones.
 * bn_fold:       global K*per + K: conv weights and bias with the running statistics
 *                folded in (inference; below).
 * bn_apply:      global (HW, n*C), one work-item per element, channel = plane % C once
 *                per plane: y = gamma xhat + beta (then ReLU when relu).
 * bn_bwd_reduce: one group per channel, units as bn_stats: sum(dy), sum(dy*xhat) into st,
 *                and dgamma[c] += sum(dy*xhat), dbeta[c] += sum(dy).
 * bn_bwd_data:   global (HW, n*C): dx = beta dx + gamma/std (dy - s1/M - xhat s2/M) in
 *                training mode, gamma/std dy in evaluation mode.
 *
 * Layer norm: x is (n, D); stats (2n floats) holds the mean and 1/std of each row.
 * ln_fwd:        one group per sample: two-pass mean and biased variance, then
 *                y = gamma xhat + beta for the sample's D elements.
 * ln_bwd_data:   one group per sample: g = gamma dy; dx = beta dx +
 *                (1/std) (g - mean(g) - xhat mean(g xhat)).
 * ln_bwd_param:  global D, one work-item per feature j: dgamma[j] += sum_i dy xhat,
 *                dbeta[j] += sum_i dy, in sample order.
 * A "sample" here is a row: layernorm over the trailing axes from `axis` hands these
 * kernels n * (rows per sample) rows of D values, gamma/beta indexed by the column.
 * ln_stat_fwd:   one group per row, as ln_fwd, but y (one value per row) gets the mean
 *                (invstd 0) or 1/std (invstd 1), and stats as ln_fwd writes them.
 * ln_stat_bwd:   global n*D, one work-item per element: dx = beta dx + dy_i / D (mean) or
 *                - dy_i inv^3 (x - mean) / D (invstd: d(var)/dx = 2 (x - mean) / D).
 *
 * Softmax: x is (n, C, inner), normalised over C for each (i, j).
 * softmax_fwd:   global n*inner, one work-item per (i, j): max, then sum of exp(x - max).
 * softmax_bwd:   global n*inner: dx = beta dx + y (dy - sum_c y dy).
 * logsoftmax_fwd: y = x - max - log(sum exp(x - max)).
 * logsoftmax_bwd: dx = beta dx + dy - exp(y) sum_c dy.
 * With beta == 0, dx is never read. */

/* Sum of p[0..len) (the 8 lanes of the vector partial sums added in a fixed order, then
 * the tail): deterministic for a given len. */
inline float vd_run_sum(global const float *p, ulong len)
{
    float8 a = (float8)(0.0f);
    ulong j = 0;
    for (; j + 8 <= len; j += 8) a += vload8(0, p + j);
    float4 h = a.lo + a.hi;
    float s = (h.x + h.y) + (h.z + h.w);
    for (; j < len; j++) s += p[j];
    return s;
}

/* Sum of (p[j] - m)^2 over p[0..len), same order as vd_run_sum. */
inline float vd_run_sumsq(global const float *p, ulong len, float m)
{
    float8 a = (float8)(0.0f);
    ulong j = 0;
    for (; j + 8 <= len; j += 8) {
        float8 d = vload8(0, p + j) - m;
        a += d * d;
    }
    float4 h = a.lo + a.hi;
    float s = (h.x + h.y) + (h.z + h.w);
    for (; j < len; j++) s += (p[j] - m) * (p[j] - m);
    return s;
}

/* Unit u of channel c (see bn_stats): its first element's offset in the tensor and its
 * length. */
inline ulong vd_bn_unit(ulong u, int K, ulong chunk, int C, int c, ulong HW, ulong *len)
{
    ulong i = u / (ulong)K, b = (u - i * (ulong)K) * chunk;
    *len = min(HW - b, chunk);
    return (i * (ulong)C + (ulong)c) * HW + b;
}

kernel void bn_stats(ulong n, int C, ulong HW, int K, ulong chunk, float momentum, float eps,
                     global const float *x, ulong x_off, global float *st, ulong st_off,
                     local float *buf)
{
    int c = (int)get_group_id(0);
    ulong l = get_local_id(0), lsz = get_local_size(0), units = n * (ulong)K, len;
    ulong M = n * HW;
    float s = 0.0f;
    for (ulong u = l; u < units; u += lsz) {
        ulong o = vd_bn_unit(u, K, chunk, C, c, HW, &len);
        s += vd_run_sum(x + x_off + o, len);
    }
    float mean = vd_group_sum(buf, s) / (float)M;
    s = 0.0f;
    for (ulong u = l; u < units; u += lsz) {
        ulong o = vd_bn_unit(u, K, chunk, C, c, HW, &len);
        s += vd_run_sumsq(x + x_off + o, len, mean);
    }
    float var = vd_group_sum(buf, s) / (float)M;
    if (l == 0) {
        global float *t = st + st_off;
        t[2 * C + c] = mean;
        t[3 * C + c] = 1.0f / sqrt(var + eps);
        float unbiased = M > 1 ? var * ((float)M / (float)(M - 1)) : var;
        t[c] = (1.0f - momentum) * t[c] + momentum * mean;
        t[C + c] = (1.0f - momentum) * t[C + c] + momentum * unbiased;
    }
}

kernel void bn_eval_stats(int C, float eps, global float *st, ulong st_off)
{
    int c = (int)get_global_id(0);
    if (c >= C)
        return;
    global float *t = st + st_off;
    t[2 * C + c] = t[c];
    t[3 * C + c] = 1.0f / sqrt(t[C + c] + eps);
}

/* bn_fold: global K*per + K, one work-item per output value: a convolution's weights
 * w (K, per) and bias b (K; has_b 0: none) with the batch norm after it folded in, for
 * inference (the running statistics, as bn_eval_stats + bn_apply use them):
 *   s = gamma / sqrt(var + eps),  w'[k][j] = w[k][j] s[k],  b'[k] = (b[k] - mean[k]) s[k] + beta[k]
 * into out: w' then b'. */
kernel void bn_fold(uint K, uint per, float eps, global const float *w, ulong w_off, int has_b,
                    global const float *b, ulong b_off, global const float *st, ulong st_off,
                    global const float *gamma, ulong g_off, global const float *bt, ulong bt_off,
                    global float *out, ulong out_off)
{
    uint i = (uint)get_global_id(0), kw = K * per;
    if (i >= kw + K)
        return;
    uint k = i < kw ? i / per : i - kw;
    float s = gamma[g_off + k] * (1.0f / sqrt(st[st_off + K + k] + eps));
    if (i < kw) {
        out[out_off + i] = w[w_off + i] * s;
    } else {
        float bias = has_b ? b[b_off + k] : 0.0f;
        out[out_off + i] = (bias - st[st_off + k]) * s + bt[bt_off + k];
    }
}

kernel void bn_apply(ulong n, int C, ulong HW, int relu, global const float *x, ulong x_off,
                     global const float *st, ulong st_off, global const float *gamma,
                     ulong g_off, global const float *bt, ulong b_off, global float *y,
                     ulong y_off)
{
    ulong p = get_global_id(0), plane = get_global_id(1);
    if (p >= HW || plane >= n * (ulong)C)
        return;
    int c = (int)((uint)plane % (uint)C);
    ulong i = plane * HW + p;
    float xhat = (x[x_off + i] - st[st_off + 2 * C + c]) * st[st_off + 3 * C + c];
    float v = gamma[g_off + c] * xhat + bt[b_off + c];
    y[y_off + i] = relu ? fmax(v, 0.0f) : v;
}

/* CPU forms of bn_apply and bn_bwd_data (the launcher picks them on CPU devices): one
 * work-item per unit of `chunk` contiguous values of one plane (K units per plane, global
 * n*C*K), the channel's scalars loaded once and the run streamed with 8-wide loads and
 * stores. Same arithmetic per element as the (HW, n*C) forms. On PoCL the 2-D forms ran
 * at 0.8-1 GB/s (one work-item per element, the channel's scalars gathered per element);
 * GPUs keep them: a run per work-item would not coalesce there. */
/* Run u of the n*C planes (K runs per plane): its first element's offset, its length
 * (0 past the plane's end or past the last run) and its channel. */
inline ulong vd_bn_run(ulong u, ulong n, int C, int K, ulong chunk, ulong HW, ulong *len,
                       int *c)
{
    ulong plane = u / (ulong)K, b = (u - plane * (ulong)K) * chunk;
    *len = plane < n * (ulong)C && b < HW ? min(HW - b, chunk) : 0;
    *c = (int)(plane % (ulong)C);
    return plane * HW + b;
}

kernel void bn_apply_runs(ulong n, int C, ulong HW, int K, ulong chunk, int relu,
                          global const float *x, ulong x_off, global const float *st,
                          ulong st_off, global const float *gamma, ulong g_off,
                          global const float *bt, ulong b_off, global float *y, ulong y_off)
{
    ulong len;
    int c;
    ulong o = vd_bn_run(get_global_id(0), n, C, K, chunk, HW, &len, &c), j = 0;
    if (len == 0)
        return;
    float m = st[st_off + 2 * C + c], inv = st[st_off + 3 * C + c];
    float g = gamma[g_off + c], b = bt[b_off + c];
    global const float *xp = x + x_off + o;
    global float *yp = y + y_off + o;
    for (; j + 8 <= len; j += 8) {
        float8 v = g * ((vload8(0, xp + j) - m) * inv) + b;
        vstore8(relu ? fmax(v, (float8)(0.0f)) : v, 0, yp + j);
    }
    for (; j < len; j++) {
        float v = g * ((xp[j] - m) * inv) + b;
        yp[j] = relu ? fmax(v, 0.0f) : v;
    }
}

kernel void bn_bwd_data_runs(ulong n, int C, ulong HW, int K, ulong chunk, int train, int relu,
                             global const float *x, ulong x_off, global const float *y,
                             ulong y_off, global const float *dy, ulong dy_off,
                             global const float *st, ulong st_off, global const float *gamma,
                             ulong g_off, float beta, global float *dx, ulong dx_off)
{
    ulong len;
    int c;
    ulong o = vd_bn_run(get_global_id(0), n, C, K, chunk, HW, &len, &c), j = 0;
    if (len == 0)
        return;
    float inv = st[st_off + 3 * C + c], m = st[st_off + 2 * C + c];
    float M = (float)(n * HW), a1 = st[st_off + 4 * C + c] / M, a2 = st[st_off + 5 * C + c] / M;
    float scale = gamma[g_off + c] * inv;
    global const float *xp = x + x_off + o, *yp = y + y_off + o, *gp = dy + dy_off + o;
    global float *dp = dx + dx_off + o;
    for (; j + 8 <= len; j += 8) {
        float8 g = vload8(0, gp + j);
        if (relu)
            g = select((float8)(0.0f), g, vload8(0, yp + j) > 0.0f);
        if (train)
            g = g - a1 - ((vload8(0, xp + j) - m) * inv) * a2;
        g *= scale;
        vstore8(beta == 0.0f ? g : beta * vload8(0, dp + j) + g, 0, dp + j);
    }
    for (; j < len; j++) {
        float g = gp[j];
        if (relu && !(yp[j] > 0.0f))
            g = 0.0f;
        if (train)
            g = g - a1 - ((xp[j] - m) * inv) * a2;
        g *= scale;
        dp[j] = beta == 0.0f ? g : beta * dp[j] + g;
    }
}

kernel void bn_bwd_reduce(ulong n, int C, ulong HW, int K, ulong chunk, int relu,
                          global const float *x, ulong x_off, global const float *y,
                          ulong y_off, global const float *dy, ulong dy_off, global float *st,
                          ulong st_off, global float *dgamma, ulong dg_off, global float *dbeta,
                          ulong db_off, local float *buf)
{
    int c = (int)get_group_id(0);
    ulong l = get_local_id(0), lsz = get_local_size(0), units = n * (ulong)K, len;
    float mean = st[st_off + 2 * C + c], inv = st[st_off + 3 * C + c];
    float s1 = 0.0f, s2 = 0.0f;
    for (ulong u = l; u < units; u += lsz) {
        ulong o = vd_bn_unit(u, K, chunk, C, c, HW, &len), j = 0;
        global const float *xp = x + x_off + o, *yp = y + y_off + o, *gp = dy + dy_off + o;
        float8 a1 = (float8)(0.0f), a2 = (float8)(0.0f);
        for (; j + 8 <= len; j += 8) {
            float8 g = vload8(0, gp + j);
            if (relu)
                g = select((float8)(0.0f), g, vload8(0, yp + j) > 0.0f);
            a1 += g;
            a2 += g * (vload8(0, xp + j) - mean);
        }
        float4 h1 = a1.lo + a1.hi, h2 = a2.lo + a2.hi;
        float t1 = (h1.x + h1.y) + (h1.z + h1.w), t2 = (h2.x + h2.y) + (h2.z + h2.w);
        for (; j < len; j++) {
            float g = relu && !(yp[j] > 0.0f) ? 0.0f : gp[j];
            t1 += g;
            t2 += g * (xp[j] - mean);
        }
        s1 += t1;
        s2 += t2;
    }
    s1 = vd_group_sum(buf, s1);
    s2 = vd_group_sum(buf, s2) * inv;
    if (l == 0) {
        st[st_off + 4 * C + c] = s1;
        st[st_off + 5 * C + c] = s2;
        dgamma[dg_off + c] += s2;
        dbeta[db_off + c] += s1;
    }
}

kernel void bn_bwd_data(ulong n, int C, ulong HW, int train, int relu, global const float *x,
                        ulong x_off, global const float *y, ulong y_off, global const float *dy,
                        ulong dy_off, global const float *st, ulong st_off,
                        global const float *gamma, ulong g_off, float beta, global float *dx,
                        ulong dx_off)
{
    ulong p = get_global_id(0), plane = get_global_id(1);
    if (p >= HW || plane >= n * (ulong)C)
        return;
    int c = (int)((uint)plane % (uint)C);
    ulong i = plane * HW + p;
    float inv = st[st_off + 3 * C + c];
    float g = dy[dy_off + i];
    if (relu && !(y[y_off + i] > 0.0f))
        g = 0.0f;
    if (train) {
        float M = (float)(n * HW);
        float xhat = (x[x_off + i] - st[st_off + 2 * C + c]) * inv;
        g = g - st[st_off + 4 * C + c] / M - xhat * (st[st_off + 5 * C + c] / M);
    }
    g *= gamma[g_off + c] * inv;
    dx[dx_off + i] = beta == 0.0f ? g : beta * dx[dx_off + i] + g;
}

/* Mean and 1/sqrt(biased var + eps) of the D values at xi, by the whole group (two
 * passes: the mean, then the squared deviations around it). */
inline float2 vd_ln_row_stats(global const float *xi, ulong D, float eps, local float *buf)
{
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    float s = 0.0f;
    for (ulong j = (ulong)l; j < D; j += (ulong)lsz)
        s += xi[j];
    float mean = vd_group_sum(buf, s) / (float)D;
    s = 0.0f;
    for (ulong j = (ulong)l; j < D; j += (ulong)lsz) {
        float d = xi[j] - mean;
        s += d * d;
    }
    return (float2)(mean, 1.0f / sqrt(vd_group_sum(buf, s) / (float)D + eps));
}

kernel void ln_fwd(ulong D, float eps, global const float *x, ulong x_off,
                   global const float *gamma, ulong g_off, global const float *bt,
                   ulong b_off, global float *y, ulong y_off, global float *stats,
                   ulong s_off, local float *buf)
{
    ulong i = get_group_id(0);
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    global const float *xi = x + x_off + i * D;
    float2 ms = vd_ln_row_stats(xi, D, eps, buf);
    float mean = ms.x, inv = ms.y;
    for (ulong j = (ulong)l; j < D; j += (ulong)lsz)
        y[y_off + i * D + j] = gamma[g_off + j] * ((xi[j] - mean) * inv) + bt[b_off + j];
    if (l == 0) {
        stats[s_off + 2 * i] = mean;
        stats[s_off + 2 * i + 1] = inv;
    }
}

kernel void ln_stat_fwd(ulong D, float eps, int invstd, global const float *x, ulong x_off,
                        global float *y, ulong y_off, global float *stats, ulong s_off,
                        local float *buf)
{
    ulong i = get_group_id(0);
    float2 ms = vd_ln_row_stats(x + x_off + i * D, D, eps, buf);
    if (get_local_id(0) == 0) {
        y[y_off + i] = invstd ? ms.y : ms.x;
        stats[s_off + 2 * i] = ms.x;
        stats[s_off + 2 * i + 1] = ms.y;
    }
}

kernel void ln_stat_bwd(ulong total, ulong D, int invstd, global const float *x, ulong x_off,
                        global const float *dy, ulong dy_off, global const float *stats,
                        ulong s_off, float beta, global float *dx, ulong dx_off)
{
    ulong e = get_global_id(0);
    if (e >= total)
        return;
    ulong i = e / D;
    float g = dy[dy_off + i], v;
    if (invstd) {
        float inv = stats[s_off + 2 * i + 1];
        v = -g * inv * inv * inv * (x[x_off + e] - stats[s_off + 2 * i]) / (float)D;
    } else {
        v = g / (float)D;
    }
    if (beta == 0.0f)
        dx[dx_off + e] = v;
    else
        dx[dx_off + e] = beta * dx[dx_off + e] + v;
}

kernel void ln_bwd_data(ulong D, global const float *x, ulong x_off, global const float *dy,
                        ulong dy_off, global const float *stats, ulong s_off,
                        global const float *gamma, ulong g_off, float beta, global float *dx,
                        ulong dx_off, local float *buf)
{
    ulong i = get_group_id(0);
    int l = (int)get_local_id(0), lsz = (int)get_local_size(0);
    float mean = stats[s_off + 2 * i], inv = stats[s_off + 2 * i + 1];
    float a = 0.0f, b = 0.0f;
    for (ulong j = (ulong)l; j < D; j += (ulong)lsz) {
        float g = gamma[g_off + j] * dy[dy_off + i * D + j];
        a += g;
        b += g * (x[x_off + i * D + j] - mean) * inv;
    }
    a = vd_group_sum(buf, a) / (float)D;
    b = vd_group_sum(buf, b) / (float)D;
    for (ulong j = (ulong)l; j < D; j += (ulong)lsz) {
        ulong e = i * D + j;
        float xhat = (x[x_off + e] - mean) * inv;
        float v = inv * (gamma[g_off + j] * dy[dy_off + e] - a - xhat * b);
        dx[dx_off + e] = beta == 0.0f ? v : beta * dx[dx_off + e] + v;
    }
}

kernel void ln_bwd_param(ulong n, ulong D, global const float *x, ulong x_off,
                         global const float *dy, ulong dy_off, global const float *stats,
                         ulong s_off, global float *dgamma, ulong dg_off, global float *dbeta,
                         ulong db_off)
{
    ulong j = get_global_id(0);
    if (j >= D)
        return;
    float sg = 0.0f, sb = 0.0f;
    for (ulong i = 0; i < n; i++) {
        float g = dy[dy_off + i * D + j];
        sg += g * (x[x_off + i * D + j] - stats[s_off + 2 * i]) * stats[s_off + 2 * i + 1];
        sb += g;
    }
    dgamma[dg_off + j] += sg;
    dbeta[db_off + j] += sb;
}

kernel void softmax_fwd(ulong rows, int C, ulong inner, global const float *x, ulong x_off,
                        global float *y, ulong y_off)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    ulong base = (r / inner) * C * inner + r % inner;
    float m = -INFINITY;
    for (int c = 0; c < C; c++)
        m = fmax(m, x[x_off + base + c * inner]);
    float s = 0.0f;
    for (int c = 0; c < C; c++)
        s += exp(x[x_off + base + c * inner] - m);
    for (int c = 0; c < C; c++)
        y[y_off + base + c * inner] = exp(x[x_off + base + c * inner] - m) / s;
}

kernel void softmax_bwd(ulong rows, int C, ulong inner, global const float *y, ulong y_off,
                        global const float *dy, ulong dy_off, float beta, global float *dx,
                        ulong dx_off)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    ulong base = (r / inner) * C * inner + r % inner;
    float dot = 0.0f;
    for (int c = 0; c < C; c++)
        dot += y[y_off + base + c * inner] * dy[dy_off + base + c * inner];
    for (int c = 0; c < C; c++) {
        ulong e = base + c * inner;
        float v = y[y_off + e] * (dy[dy_off + e] - dot);
        dx[dx_off + e] = beta == 0.0f ? v : beta * dx[dx_off + e] + v;
    }
}

kernel void logsoftmax_fwd(ulong rows, int C, ulong inner, global const float *x, ulong x_off,
                           global float *y, ulong y_off)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    ulong base = (r / inner) * C * inner + r % inner;
    float m = -INFINITY;
    for (int c = 0; c < C; c++)
        m = fmax(m, x[x_off + base + c * inner]);
    float s = 0.0f;
    for (int c = 0; c < C; c++)
        s += exp(x[x_off + base + c * inner] - m);
    float ls = log(s);
    for (int c = 0; c < C; c++)
        y[y_off + base + c * inner] = x[x_off + base + c * inner] - m - ls;
}

kernel void logsoftmax_bwd(ulong rows, int C, ulong inner, global const float *y, ulong y_off,
                           global const float *dy, ulong dy_off, float beta, global float *dx,
                           ulong dx_off)
{
    ulong r = get_global_id(0);
    if (r >= rows)
        return;
    ulong base = (r / inner) * C * inner + r % inner;
    float sum = 0.0f;
    for (int c = 0; c < C; c++)
        sum += dy[dy_off + base + c * inner];
    for (int c = 0; c < C; c++) {
        ulong e = base + c * inner;
        float v = dy[dy_off + e] - exp(y[y_off + e]) * sum;
        dx[dx_off + e] = beta == 0.0f ? v : beta * dx[dx_off + e] + v;
    }
}

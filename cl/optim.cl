/* optim.cl - parameter updates over a flat array of n parameters, PyTorch semantics.
 *
 * -D switches: none.
 * sgd: global n (rounded up to the local size, default 64), one work-item per parameter:
 *     g' = g + wd * w
 *     momentum != 0: m = momentum * m + g';  w -= lr * (nesterov ? g' + momentum * m : m)
 *     momentum == 0: w -= lr * g'  (m is not read or written and may be a NULL buffer)
 *   Like torch.optim.SGD with dampening 0: the caller zeroes m before the first step,
 *   which makes m = g' on that step, as PyTorch's clone does.
 * adam: global n, one work-item per parameter (torch.optim.Adam / AdamW):
 *     decoupled == 0: g' = g + wd * w;   decoupled == 1: w *= 1 - lr * wd, g' = g
 *     m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2
 *     w -= lr * (m / bc1) / (sqrt(v / bc2) + eps),  bc1 = 1 - b1^t, bc2 = 1 - b2^t
 *   (bias corrections from the host, which knows the step t). */

kernel void sgd(ulong n, global float *w, ulong w_off, global const float *g, ulong g_off,
                global float *m, ulong m_off, float lr, float momentum, float wd,
                int nesterov)
{
    ulong i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[w_off + i];
    float gi = g[g_off + i] + wd * wi;
    if (momentum != 0.0f) {
        float mi = momentum * m[m_off + i] + gi;
        m[m_off + i] = mi;
        gi = nesterov ? gi + momentum * mi : mi;
    }
    w[w_off + i] = wi - lr * gi;
}

kernel void adam(ulong n, global float *w, ulong w_off, global const float *g, ulong g_off,
                 global float *m, ulong m_off, global float *v, ulong v_off, float lr,
                 float b1, float b2, float eps, float wd, int decoupled, float bc1, float bc2)
{
    ulong i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[w_off + i];
    float gi = g[g_off + i];
    if (decoupled)
        wi *= 1.0f - lr * wd;
    else
        gi += wd * wi;
    float mi = b1 * m[m_off + i] + (1.0f - b1) * gi;
    float vi = b2 * v[v_off + i] + (1.0f - b2) * gi * gi;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    w[w_off + i] = wi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}

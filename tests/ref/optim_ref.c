/* optim_ref.c - reference SGD and Adam/AdamW steps, following torch.optim.SGD
 * (dampening 0) and torch.optim.Adam / AdamW (amsgrad off) line by line, in double. */
#include <math.h>

#include "ref.h"

void ref_sgd(size_t n, float *w, const float *g, float *m, float lr, float momentum, float wd,
             int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        double gi = (double)g[i] + (double)wd * w[i];
        if (momentum != 0.0f) {
            double mi = (double)momentum * m[i] + gi;
            m[i] = (float)mi;
            gi = nesterov ? gi + (double)momentum * mi : mi;
        }
        w[i] = (float)(w[i] - (double)lr * gi);
    }
}

void ref_adam(size_t n, float *w, const float *g, float *m, float *v, float lr, float b1,
              float b2, float eps, float wd, int decoupled, float bc1, float bc2)
{
    for (size_t i = 0; i < n; i++) {
        double wi = w[i], gi = g[i];
        if (decoupled)
            wi *= 1.0 - (double)lr * wd;
        else
            gi += (double)wd * wi;
        double mi = (double)b1 * m[i] + (1.0 - b1) * gi;
        double vi = (double)b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        w[i] = (float)(wi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
    }
}

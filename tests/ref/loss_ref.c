/* loss_ref.c - reference softmax cross-entropy, mean squared error and loss
 * accumulation, in double. */
#include <math.h>

#include "ref.h"

void ref_softmax_ce(size_t rows, size_t cols, const float *z, const int32_t *labels,
                    float grad_scale, float *dz, float *row_loss, float *row_correct)
{
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        int32_t label = labels[r];
        int valid = label >= 0 && (size_t)label < cols;
        size_t arg = 0;
        for (size_t c = 1; c < cols; c++)
            if (zr[c] > zr[arg])
                arg = c; /* strict: the first maximum wins */
        double m = zr[arg], s = 0.0;
        for (size_t c = 0; c < cols; c++)
            s += exp(zr[c] - m);
        row_loss[r] = valid ? (float)(m + log(s) - zr[label]) : NAN;
        if (row_correct)
            row_correct[r] = valid && arg == (size_t)label ? 1.0f : 0.0f;
        if (dz)
            for (size_t c = 0; c < cols; c++) {
                double onehot = valid && c == (size_t)label ? 1.0 : 0.0;
                dz[r * cols + c] = (float)(grad_scale * (exp(zr[c] - m) / s - onehot));
            }
    }
}

void ref_mse(size_t rows, size_t cols, const float *p, const float *t, float grad_scale,
             float *dp, float *row_loss)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            double d = (double)p[r * cols + c] - t[r * cols + c];
            s += d * d;
            if (dp)
                dp[r * cols + c] = (float)(grad_scale * 2.0 * d / (double)cols);
        }
        row_loss[r] = (float)(s / (double)cols);
    }
}

void ref_loss_accumulate(size_t rows, const float *row_loss, const float *row_correct,
                         float *acc)
{
    double l = 0.0, k = 0.0;
    for (size_t r = 0; r < rows; r++) {
        l += row_loss[r];
        if (row_correct)
            k += row_correct[r];
    }
    acc[0] = (float)(acc[0] + l);
    if (row_correct)
        acc[1] = (float)(acc[1] + k);
}

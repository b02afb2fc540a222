/* ckpt_cmp.c - the weights of two checkpoints compared, for tests/cli/test_mpi_cli.sh.
 * Usage: ckpt_cmp A.ckpt B.ckpt TOL. Prints the worst relative difference
 * |a - b| / (|b| + 1e-3) (the measure of tests/test_mpi.c) and the sum of |a - b|; exits
 * 0 when the worst is <= TOL, 1 when it is larger, 2 on a usage or load error (named). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <verdant.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckpt_cmp A.ckpt B.ckpt TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    vd_context *ctx = NULL;
    vd_net *a = NULL, *b = NULL;
    float *wa = NULL, *wb = NULL;
    int rc = 2;
    if (vd_context_create(NULL, &ctx) != VD_OK) {
        fprintf(stderr, "ckpt_cmp: %s\n", vd_last_error(NULL));
        return 2;
    }
    if (vd_net_load(ctx, argv[1], 1, &a, NULL) != VD_OK ||
        vd_net_load(ctx, argv[2], 1, &b, NULL) != VD_OK) {
        fprintf(stderr, "ckpt_cmp: %s\n", vd_last_error(ctx));
        goto done;
    }
    size_t n = vd_net_param_count(a);
    if (n != vd_net_param_count(b)) {
        fprintf(stderr, "ckpt_cmp: %zu parameters against %zu\n", n, vd_net_param_count(b));
        goto done;
    }
    wa = malloc(n * sizeof(float));
    wb = malloc(n * sizeof(float));
    if (!wa || !wb || vd_net_params_read(a, wa, n) != VD_OK || vd_net_params_read(b, wb, n) != VD_OK) {
        fprintf(stderr, "ckpt_cmp: cannot read the parameters: %s\n", vd_last_error(ctx));
        goto done;
    }
    double worst = 0, sum = 0;
    size_t at = 0, same = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)wa[i] - wb[i]), rel = d / (fabs((double)wb[i]) + 1e-3);
        if (!(rel <= worst)) worst = rel, at = i; /* NaN counts as worst */
        sum += d;
        same += wa[i] == wb[i];
    }
    printf("%zu parameters: worst relative difference %.3g (parameter %zu: %.9g vs %.9g), sum "
           "|a - b| %.3g, %zu bit-identical\n",
           n, worst, at, (double)wa[at], (double)wb[at], sum, same);
    rc = worst <= tol ? 0 : 1;
done:
    free(wa);
    free(wb);
    vd_net_destroy(a);
    vd_net_destroy(b);
    vd_context_destroy(ctx);
    return rc;
}

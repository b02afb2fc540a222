/* onnx_compare.c - import an ONNX model and compare vd_net_predict's outputs with
 * reference outputs another framework computed (tests/onnx/test_torch_import.sh):
 *     onnx_compare MODEL.onnx X.bin Y.bin N
 * X.bin holds N input samples, Y.bin the N expected outputs (raw float32). Passes when
 * every value is within 1e-4 relative plus 1e-5 absolute; prints the largest difference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <verdant.h>

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *p = malloc(n * sizeof(float));
    if (!f || !p || fread(p, sizeof(float), n, f) != n || fgetc(f) != EOF) {
        fprintf(stderr, "onnx_compare: %s does not hold %zu floats\n", path, n);
        if (f) fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: onnx_compare MODEL.onnx X.bin Y.bin N\n");
        return 2;
    }
    int n = atoi(argv[4]);
    vd_context *ctx;
    if (vd_context_create(NULL, &ctx) != VD_OK) {
        printf("SKIP: %s\n", vd_last_error(NULL));
        return 77;
    }
    vd_net *net;
    if (vd_net_load_onnx_batch(ctx, argv[1], n, &net) != VD_OK) {
        printf("FAIL %s: %s\n", argv[1], vd_last_error(ctx));
        return 1;
    }
    size_t in = vd_net_input_size(net), out = vd_net_output_size(net);
    float *x = read_floats(argv[2], (size_t)n * in), *want = read_floats(argv[3], (size_t)n * out);
    float *got = malloc((size_t)n * out * sizeof(float));
    if (!x || !want || !got) return 1;
    if (vd_net_predict(net, x, n, got) != VD_OK) {
        printf("FAIL %s: %s\n", argv[1], vd_last_error(ctx));
        return 1;
    }
    size_t bad = 0;
    double worst = 0, worst_rel = 0;
    for (size_t k = 0; k < (size_t)n * out; k++) {
        double d = fabs((double)got[k] - want[k]);
        if (d > 1e-5 + 1e-4 * fabs(want[k])) bad++;
        if (d > worst) worst = d;
        if (fabs(want[k]) > 1e-3 && d / fabs(want[k]) > worst_rel) worst_rel = d / fabs(want[k]);
    }
    printf("%s %s: %d samples x %zu outputs, largest difference %.3g (relative %.3g), %zu "
           "outside 1e-4 rel + 1e-5 abs\n",
           bad ? "FAIL" : "PASS", argv[1], n, out, worst, worst_rel, bad);
    free(x);
    free(want);
    free(got);
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return bad ? 1 : 0;
}

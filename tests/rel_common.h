/* rel_common.h - small helpers shared by the reliability tests (test_fault, test_numerics,
 * test_determinism, test_concurrency, crash_kill): a synthetic IDX dataset written to a
 * temporary directory, a small MLP or CNN, and a hash of a net's weights. Header-only
 * (static functions) so each test stays one file plus this. Not a general test harness:
 * that is check.h. */
#ifndef VD_TEST_REL_COMMON_H
#define VD_TEST_REL_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* A directory under TMPDIR, made with mkdtemp. path must hold 256 bytes. */
static inline int rel_tempdir(char *path, const char *stem)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, 256, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", stem);
    return mkdtemp(path) ? 0 : -1;
}

static inline void rel_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write n learnable side x side images (class i % 10: a bright row at 2 * class, plus
 * seeded noise) as raw IDX files dir/img.idx and dir/lbl.idx, and load them. */
static inline vd_status rel_dataset(const char *dir, int n, int side, uint64_t seed,
                                    vd_dataset **out)
{
    char ip[300], lp[300];
    snprintf(ip, sizeof(ip), "%s/img.idx", dir);
    snprintf(lp, sizeof(lp), "%s/lbl.idx", dir);
    FILE *fi = fopen(ip, "wb"), *fl = fopen(lp, "wb");
    if (!fi || !fl) {
        if (fi) fclose(fi);
        if (fl) fclose(fl);
        return VD_ERR_IO;
    }
    unsigned char h[16] = {0, 0, 8, 3};
    rel_be32(h + 4, (uint32_t)n);
    rel_be32(h + 8, (uint32_t)side);
    rel_be32(h + 12, (uint32_t)side);
    fwrite(h, 1, 16, fi);
    unsigned char hl[8] = {0, 0, 8, 1};
    rel_be32(hl + 4, (uint32_t)n);
    fwrite(hl, 1, 8, fl);
    unsigned char *img = malloc((size_t)side * (size_t)side);
    for (int i = 0; i < n; i++) {
        int c = i % 10;
        for (int p = 0; p < side * side; p++)
            img[p] = (unsigned char)(test_rand_u64(&seed) % 64u);
        for (int x = 0; x < side; x++) img[((2 * c) % side) * side + x] = 255;
        fwrite(img, 1, (size_t)side * (size_t)side, fi);
        unsigned char lab = (unsigned char)c;
        fwrite(&lab, 1, 1, fl);
    }
    free(img);
    fclose(fi);
    fclose(fl);
    return vd_dataset_load_idx(ip, lp, out);
}

/* 1 x side x side -> flatten -> dense 32 -> relu [-> dropout 0.25] -> dense 10, softmax
 * cross-entropy, Adam (lr 0.01), built for max_batch. */
static inline vd_status rel_mlp(vd_context *ctx, int side, uint64_t seed, int32_t max_batch,
                                bool dropout, vd_net **out)
{
    vd_net *net = NULL;
    vd_status st = VD_OK;
    VD_TRY(vd_net_create(ctx, &net));
    VD_TRY(vd_net_input(net, 3, (int64_t[]){1, side, side}));
    VD_TRY(vd_net_set_seed(net, seed));
    VD_TRY(vd_net_add(net, "flatten", NULL, NULL));
    VD_TRY(vd_net_add(net, "dense", "fc1", "units=32"));
    VD_TRY(vd_net_add(net, "relu", "r1", NULL));
    if (dropout) VD_TRY(vd_net_add(net, "dropout", "drop", "p=0.25"));
    VD_TRY(vd_net_add(net, "dense", "fc2", "units=10"));
    VD_TRY(vd_net_build(net, max_batch));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_ADAM);
    o.lr = 0.01f;
    VD_TRY(vd_net_set_optimizer(net, &o));
    *out = net;
    net = NULL;
done:
    vd_net_destroy(net);
    return st;
}

/* 1 x 8 x 8 -> conv2d 4 (3x3, pad 1) -> batchnorm -> relu -> maxpool 2 -> flatten -> dense
 * 10: every layer family a convolutional net uses, kept tiny. */
static inline vd_status rel_cnn(vd_context *ctx, uint64_t seed, int32_t max_batch, vd_net **out)
{
    const char *cfg = "[net]\ninput = 1, 8, 8\n"
                      "[conv2d]\nname = c1\nfilters = 4\nkernel = 3\npad = 1\n"
                      "[batchnorm]\nname = bn1\n[relu]\n[maxpool]\nkernel = 2\n"
                      "[flatten]\n[dense]\nname = fc\nunits = 10\n";
    vd_net *net = NULL;
    vd_status st = VD_OK;
    VD_TRY(vd_net_parse_cfg(ctx, cfg, "rel_cnn", &net));
    VD_TRY(vd_net_set_seed(net, seed));
    VD_TRY(vd_net_build(net, max_batch));
    vd_optim_options o;
    vd_optim_options_init(&o, VD_OPTIM_SGD);
    o.lr = 0.05f;
    VD_TRY(vd_net_set_optimizer(net, &o));
    *out = net;
    net = NULL;
done:
    vd_net_destroy(net);
    return st;
}

/* FNV-1a 64 over the bytes of every parameter (bit-exact comparison of weights). */
static inline uint64_t rel_hash_params(const vd_net *net, vd_status *st)
{
    size_t n = vd_net_param_count(net);
    float *w = malloc((n ? n : 1) * sizeof(float));
    uint64_t h = 0xcbf29ce484222325ull;
    *st = w ? vd_net_params_read(net, w, n) : VD_ERR_NO_MEMORY;
    if (*st == VD_OK) {
        const unsigned char *p = (const unsigned char *)w;
        for (size_t i = 0; i < n * sizeof(float); i++) {
            h ^= p[i];
            h *= 0x100000001b3ull;
        }
    }
    free(w);
    return h;
}

/* A batch of n samples of side x side from a fixed seed, labels i % 10. */
static inline void rel_batch(uint64_t seed, int n, int side, float *x, int32_t *y)
{
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < side * side; p++) x[i * side * side + p] = test_rand_uniform(&seed, 0, 1);
        y[i] = i % 10;
    }
}

#endif /* VD_TEST_REL_COMMON_H */

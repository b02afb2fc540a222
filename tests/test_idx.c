/* test_idx.c - the IDX dataset reader (src/data/idx.c): good files raw and gzip, batching,
 * subsets, and every kind of bad input (missing, bad magic, wrong type, truncated raw and
 * gzip, huge dimensions, garbage, a gzip stream cut in half). Then the real Fashion-MNIST
 * test split when it is installed. Needs no OpenCL device. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <verdant.h>

#include "check.h"
#include "data/data.h"

static char dir[256];

/* One check with a printf-style description (check.h's expect_true takes a fixed one). */
static int checkf(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int checkf(bool cond, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return expect_true(what, cond);
}
#define CHECK(cond) expect_true(#cond, (cond))

/* ------------------------------------------------------------------ file helpers */

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || gzwrite(f, data, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
    }
}

static size_t read_file(const char *path, unsigned char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n);
    size_t got = fread(*out, 1, (size_t)n, f);
    fclose(f);
    return got;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX3 image file in memory: header + count*rows*cols bytes. */
static unsigned char *make_images(uint32_t count, uint32_t rows, uint32_t cols, size_t *n)
{
    *n = 16 + (size_t)count * rows * cols;
    unsigned char *b = malloc(*n);
    put_be32(b, 0x00000803);
    put_be32(b + 4, count);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 16; i < *n; i++) b[i] = (unsigned char)((i - 16) * 7 + (i - 16) / 13);
    return b;
}

static unsigned char *make_labels(uint32_t count, const unsigned char *values, size_t *n)
{
    *n = 8 + count;
    unsigned char *b = malloc(*n);
    put_be32(b, 0x00000801);
    put_be32(b + 4, count);
    memcpy(b + 8, values, count);
    return b;
}

/* Expect status want from loading (images, labels), with a message naming must_name. */
static void expect_fail(const char *what, const char *images, const char *labels, vd_status want,
                        const char *must_name)
{
    vd_dataset *ds = (vd_dataset *)1;
    vd_status st = vd_dataset_load_idx(images, labels, &ds);
    const char *msg = vd_last_error(NULL);
    checkf(st == want, "%s: status %s, want %s (%s)", what, vd_status_name(st),
           vd_status_name(want), msg);
    checkf(ds == NULL, "%s: out not set to NULL", what);
    checkf(strstr(msg, must_name) != NULL, "%s: message does not name %s: %s", what, must_name,
           msg);
    if (st == want) printf("  ok  %-34s %s\n", what, msg);
}

/* ------------------------------------------------------------------ good files */

#define N_IMG 5
#define ROWS 3
#define COLS 4
static const unsigned char labels5[N_IMG] = {0, 1, 2, 9, 4};

static void check_contents(const char *what, vd_dataset *ds)
{
    checkf(vd_dataset_count(ds) == N_IMG, "%s: count %zu", what, vd_dataset_count(ds));
    int64_t shape[3] = {0};
    vd_dataset_sample_shape(ds, shape);
    checkf(shape[0] == 1 && shape[1] == ROWS && shape[2] == COLS, "%s: shape %lld %lld %lld", what,
           (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    checkf(vd_dataset_classes(ds) == 10, "%s: classes %d", what, vd_dataset_classes(ds));

    size_t img_n;
    unsigned char *img = make_images(N_IMG, ROWS, COLS, &img_n);
    uint32_t idx[N_IMG] = {4, 3, 2, 1, 0};
    float x[N_IMG * ROWS * COLS];
    int32_t y[N_IMG];
    checkf(vd_dataset_batch(ds, idx, N_IMG, x, y) == VD_OK, "%s: batch: %s", what,
           vd_last_error(NULL));
    double worst = 0;
    int labels_ok = 1;
    for (int i = 0; i < N_IMG; i++) {
        labels_ok &= y[i] == labels5[idx[i]];
        for (int j = 0; j < ROWS * COLS; j++) {
            double want = img[16 + idx[i] * ROWS * COLS + j] / 255.0;
            worst = fmax(worst, fabs(x[i * ROWS * COLS + j] - want));
        }
    }
    checkf(worst <= 1e-6, "%s: default normalisation off by %g", what, worst);
    checkf(labels_ok, "%s: labels differ", what);

    vd_dataset_set_normalization(ds, 0.5f, 0.25f);
    vd_dataset_set_normalization(ds, 0.0f, 0.0f); /* ignored: would divide by zero */
    CHECK(vd_dataset_batch(ds, idx, 2, x, NULL) == VD_OK);
    worst = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < ROWS * COLS; j++) {
            double want = (img[16 + idx[i] * ROWS * COLS + j] / 255.0 - 0.5) / 0.25;
            worst = fmax(worst, fabs(x[i * ROWS * COLS + j] - want));
        }
    checkf(worst <= 1e-5, "%s: (p/255 - 0.5)/0.25 off by %g", what, worst);
    free(img);
}

static void test_good_files(void)
{
    size_t img_n, lab_n;
    unsigned char *img = make_images(N_IMG, ROWS, COLS, &img_n);
    unsigned char *lab = make_labels(N_IMG, labels5, &lab_n);
    write_file(tpath("img.raw"), img, img_n, 0);
    write_file(tpath("lab.raw"), lab, lab_n, 0);
    write_file(tpath("img.gz"), img, img_n, 1);
    write_file(tpath("lab.gz"), lab, lab_n, 1);

    const char *pairs[][3] = {{"raw", "img.raw", "lab.raw"},
                              {"gzip", "img.gz", "lab.gz"},
                              {"gzip images + raw labels", "img.gz", "lab.raw"}};
    for (int p = 0; p < 3; p++) {
        vd_dataset *ds = NULL;
        vd_status st = vd_dataset_load_idx(tpath(pairs[p][1]), tpath(pairs[p][2]), &ds);
        checkf(st == VD_OK, "load %s: %s", pairs[p][0], vd_last_error(NULL));
        if (st == VD_OK) check_contents(pairs[p][0], ds);
        vd_dataset_destroy(ds);
    }

    /* Images without a label file: every label 0, one class. */
    {
        vd_dataset *nl = NULL;
        CHECK(vd_dataset_load_idx(tpath("img.gz"), NULL, &nl) == VD_OK);
        int32_t y2[2] = {-1, -1};
        CHECK(nl && vd_dataset_count(nl) == N_IMG && vd_dataset_classes(nl) == 1 &&
              vd_dataset_batch(nl, (uint32_t[]){0, 4}, 2, NULL, y2) == VD_OK && y2[0] == 0 &&
              y2[1] == 0);
        vd_dataset_destroy(nl);
    }

    /* Subsets copy samples, keep the shape, normalisation and the parent's classes. */
    vd_dataset *ds = NULL, *sub = NULL;
    CHECK(vd_dataset_load_idx(tpath("img.raw"), tpath("lab.raw"), &ds) == VD_OK);
    CHECK(vd_dataset_subset(ds, 1, 2, &sub) == VD_OK);
    CHECK(vd_dataset_count(sub) == 2 && vd_dataset_classes(sub) == 10);
    int32_t y[2] = {-1, -1};
    CHECK(vd_dataset_batch(sub, (uint32_t[]){0, 1}, 2, NULL, y) == VD_OK);
    checkf(y[0] == 1 && y[1] == 2, "subset labels %d %d", y[0], y[1]);
    vd_dataset *bad = (vd_dataset *)1;
    CHECK(vd_dataset_subset(ds, 4, 2, &bad) == VD_ERR_INVALID_ARG && bad == NULL);
    CHECK(vd_dataset_subset(ds, 0, 0, &bad) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_subset(ds, (size_t)-1, 2, &bad) == VD_ERR_INVALID_ARG);

    /* Batch index out of range: refused, output untouched. */
    float x[ROWS * COLS] = {42.0f};
    CHECK(vd_dataset_batch(ds, (uint32_t[]){5}, 1, x, NULL) == VD_ERR_INVALID_ARG);
    CHECK(x[0] == 42.0f);
    CHECK(vd_dataset_batch(ds, NULL, 0, x, NULL) == VD_OK);
    vd_dataset_destroy(sub);
    vd_dataset_destroy(ds);

    /* vd_dataset_load_mnist finds <prefix>-images-idx3-ubyte without .gz too. */
    write_file(tpath("t10k-images-idx3-ubyte"), img, img_n, 0);
    write_file(tpath("t10k-labels-idx1-ubyte.gz"), lab, lab_n, 1);
    ds = NULL;
    checkf(vd_dataset_load_mnist(dir, "test", &ds) == VD_OK, "load_mnist test: %s",
           vd_last_error(NULL));
    CHECK(vd_dataset_count(ds) == N_IMG);
    vd_dataset_destroy(ds);
    ds = NULL;
    CHECK(vd_dataset_load_mnist(dir, "t10k", &ds) == VD_OK);
    vd_dataset_destroy(ds);
    ds = (vd_dataset *)1;
    CHECK(vd_dataset_load_mnist(dir, "train", &ds) == VD_ERR_IO && ds == NULL);
    checkf(strstr(vd_last_error(NULL), "dataset-fashion-mnist") && strstr(vd_last_error(NULL), dir),
           "missing split message: %s", vd_last_error(NULL));
    printf("  ok  %-34s %s\n", "missing train split", vd_last_error(NULL));
    CHECK(vd_dataset_load_mnist(dir, "validation", &ds) == VD_ERR_INVALID_ARG);
    free(img);
    free(lab);
}

/* ------------------------------------------------------------------ bad input */

static void test_null_args(void)
{
    vd_dataset *ds = NULL;
    CHECK(vd_dataset_load_idx(NULL, "x", &ds) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_load_idx("/nonexistent/x", NULL, &ds) == VD_ERR_IO); /* no labels: allowed */
    CHECK(vd_dataset_load_idx("x", "y", NULL) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_load_mnist(NULL, NULL, &ds) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_load_mnist(NULL, "test", NULL) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_subset(NULL, 0, 1, &ds) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_batch(NULL, (uint32_t[]){0}, 1, NULL, NULL) == VD_ERR_INVALID_ARG);
    CHECK(vd_dataset_count(NULL) == 0 && vd_dataset_classes(NULL) == 0);
    int64_t shape[3] = {7, 7, 7};
    vd_dataset_sample_shape(NULL, shape);
    CHECK(shape[0] == 0 && shape[1] == 0 && shape[2] == 0);
    vd_dataset_set_normalization(NULL, 0.0f, 1.0f);
    vd_dataset_destroy(NULL);
}

/* Memory this process maps now, from /proc (0 where there is no /proc). */
static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_bad_files(void)
{
    size_t img_n, lab_n;
    unsigned char *img = make_images(N_IMG, ROWS, COLS, &img_n);
    unsigned char *lab = make_labels(N_IMG, labels5, &lab_n);
    const char *good_lab = tpath("lab.raw");
    unsigned char *b = malloc(img_n > 64 ? img_n : 64);
    const char *p;

    p = tpath("does-not-exist.gz");
    expect_fail("missing images", p, good_lab, VD_ERR_IO, p);
    expect_fail("missing labels", tpath("img.raw"), p, VD_ERR_IO, p);
    p = dir;
    expect_fail("directory", p, good_lab, VD_ERR_IO, p);

    memcpy(b, img, img_n);
    put_be32(b, 0x12345678);
    write_file(p = tpath("bad_magic"), b, img_n, 0);
    expect_fail("bad magic", p, good_lab, VD_ERR_FORMAT, p);

    memcpy(b, img, img_n);
    b[2] = 0x0D; /* float */
    write_file(p = tpath("bad_type"), b, img_n, 0);
    expect_fail("wrong type byte", p, good_lab, VD_ERR_FORMAT, p);

    write_file(p = tpath("labels_as_images"), lab, lab_n, 0);
    expect_fail("IDX1 given as images", p, good_lab, VD_ERR_FORMAT, p);

    write_file(p = tpath("trunc_img"), img, img_n - 7, 0);
    expect_fail("truncated images (raw)", p, good_lab, VD_ERR_FORMAT, p);
    checkf(strstr(vd_last_error(NULL), "expected") && strstr(vd_last_error(NULL), "got"),
           "truncation message lacks expected/got: %s", vd_last_error(NULL));
    write_file(p = tpath("trunc_img.gz"), img, img_n - 7, 1);
    expect_fail("truncated images (gzip)", p, good_lab, VD_ERR_FORMAT, p);

    write_file(p = tpath("trunc_hdr"), img, 10, 0);
    expect_fail("truncated header", p, good_lab, VD_ERR_FORMAT, p);
    write_file(p = tpath("empty"), img, 0, 0);
    expect_fail("empty file", p, good_lab, VD_ERR_FORMAT, p);

    unsigned char *lab4 = make_labels(N_IMG - 1, labels5, &lab_n);
    write_file(p = tpath("lab4"), lab4, lab_n, 0);
    expect_fail("label count mismatch", tpath("img.raw"), p, VD_ERR_FORMAT, p);
    free(lab4);
    write_file(p = tpath("trunc_lab"), lab, 8 + N_IMG - 2, 0);
    expect_fail("truncated labels", tpath("img.raw"), p, VD_ERR_FORMAT, p);
    expect_fail("images given as labels", tpath("img.raw"), tpath("img.raw"), VD_ERR_FORMAT,
                tpath("img.raw"));

    /* Dimensions out of range are refused from the header alone. */
    uint32_t dims[][3] = {{100000000u, 4096u, 4096u},
                          {0u, 28u, 28u},
                          {10u, 0u, 28u},
                          {10u, 28u, 5000u},
                          {100000001u, 1u, 1u}};
    for (int i = 0; i < 5; i++) {
        memcpy(b, img, 16);
        for (int d = 0; d < 3; d++) put_be32(b + 4 + 4 * d, dims[i][d]);
        char name[32];
        snprintf(name, sizeof(name), "dims%d", i);
        write_file(p = tpath(name), b, 16, 0);
        expect_fail(name, p, good_lab, VD_ERR_FORMAT, p);
    }

    /* A header claiming 1.5 GB (inside the limits) on a file that holds 16 bytes: must be
     * caught as truncation without ever allocating the claimed size. Cap the address space
     * a little above what the process maps now, so such an allocation would fail. */
    memcpy(b, img, 16);
    put_be32(b + 4, 2000000u); /* 2e6 x 28 x 28 = 1.57e9 bytes */
    put_be32(b + 8, 28u);
    put_be32(b + 12, 28u);
    write_file(p = tpath("huge_claim"), b, 16, 0);
    write_file(tpath("huge_claim.gz"), b, 16, 1);
    struct rlimit old;
    size_t vm = vm_bytes();
    int capped = vm > 0 && getrlimit(RLIMIT_AS, &old) == 0;
    if (capped) {
        struct rlimit lim = old;
        lim.rlim_cur = vm + ((rlim_t)256 << 20);
        if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max)
            lim.rlim_cur = old.rlim_max;
        capped = setrlimit(RLIMIT_AS, &lim) == 0;
    }
    expect_fail("huge claim, raw (capped memory)", p, good_lab, VD_ERR_FORMAT, p);
    expect_fail("huge claim, gzip (capped memory)", tpath("huge_claim.gz"), good_lab, VD_ERR_FORMAT,
                tpath("huge_claim.gz"));
    if (capped) setrlimit(RLIMIT_AS, &old);
    if (!capped) printf("  note: address-space cap not available; allocation not checked\n");

    for (int i = 0; i < 64; i++) b[i] = (unsigned char)(i * 37 + 11);
    write_file(p = tpath("garbage"), b, 64, 0);
    expect_fail("garbage bytes", p, good_lab, VD_ERR_FORMAT, p);

    /* A bigger gzip file (incompressible-ish pixels) cut in half, and one with its deflate
     * data damaged in the middle. */
    size_t big_n;
    unsigned char *big = make_images(300, 28, 28, &big_n);
    for (size_t i = 16; i < big_n; i++) big[i] = (unsigned char)(rand() & 0xff);
    write_file(tpath("big.gz"), big, big_n, 1);
    unsigned char *gz = NULL;
    size_t gz_n = read_file(tpath("big.gz"), &gz);
    CHECK(gz_n > 1000);
    write_file(p = tpath("half.gz"), gz, gz_n / 2, 0);
    expect_fail("gzip cut in half", p, good_lab, VD_ERR_FORMAT, p);
    for (size_t i = gz_n / 2; i < gz_n / 2 + 64; i++) gz[i] ^= 0x5a;
    write_file(p = tpath("damaged.gz"), gz, gz_n, 0);
    expect_fail("gzip damaged in the middle", p, good_lab, VD_ERR_FORMAT, p);
    for (size_t i = gz_n / 2; i < gz_n / 2 + 64; i++) gz[i] ^= 0x5a; /* undo */
    gz[gz_n - 8] ^= 0x01; /* the trailer's CRC-32: the data itself inflates fine */
    write_file(p = tpath("bad_crc.gz"), gz, gz_n, 0);
    expect_fail("gzip with a wrong CRC", p, good_lab, VD_ERR_FORMAT, p);
    free(gz);
    free(big);

    free(b);
    free(img);
    free(lab);
}

/* ------------------------------------------------------------------ real data */

static void test_fashion_mnist(void)
{
    const char *d = "/usr/share/datasets/fashion-mnist";
    struct stat sb;
    if (stat(d, &sb) != 0) {
        printf("  skip: %s not installed (Debian package dataset-fashion-mnist)\n", d);
        return;
    }
    vd_dataset *ds = NULL;
    vd_status st = vd_dataset_load_mnist(NULL, "test", &ds);
    checkf(st == VD_OK, "Fashion-MNIST test split: %s", vd_last_error(NULL));
    if (st != VD_OK) return;
    int64_t shape[3];
    vd_dataset_sample_shape(ds, shape);
    checkf(vd_dataset_count(ds) == 10000, "count %zu", vd_dataset_count(ds));
    CHECK(shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
    checkf(vd_dataset_classes(ds) == 10, "classes %d", vd_dataset_classes(ds));

    /* Balanced: 1000 per class; pixel mean near the usual 0.286. */
    size_t n = vd_dataset_count(ds);
    uint32_t *idx = malloc(n * sizeof(*idx));
    float *x = malloc(n * 784 * sizeof(*x));
    int32_t *y = malloc(n * sizeof(*y));
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    CHECK(vd_dataset_batch(ds, idx, n, x, y) == VD_OK);
    int hist[10] = {0};
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0 && y[i] < 10) hist[y[i]]++;
    for (size_t i = 0; i < n * 784; i++) sum += x[i];
    int balanced = 1;
    for (int c = 0; c < 10; c++) balanced &= hist[c] == 1000;
    checkf(balanced, "class histogram not 1000 each (class 0: %d)", hist[0]);
    checkf(fabs(sum / (n * 784.0) - 0.286) < 0.01, "pixel mean %f", sum / (n * 784.0));
    printf("  ok  Fashion-MNIST test split: %zu x 28x28, %d classes, pixel mean %.4f\n", n,
           vd_dataset_classes(ds), sum / (n * 784.0));
    free(idx);
    free(x);
    free(y);
    vd_dataset_destroy(ds);
}

static void remove_tree(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    char path[800];
    while (dp && (e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
            unlink(path);
        }
    if (dp) closedir(dp);
    if (rmdir(d) != 0) fprintf(stderr, "warning: could not remove %s\n", d);
}

/* Augmented batches: every output is the input shifted by (dr, dc) in [-p, p] (black
 * outside) and possibly mirrored; the same positions give the same batch; flips and shifts
 * both occur; without options the batch equals the plain one. */
static void test_augment(void)
{
    size_t img_n;
    unsigned char *img = make_images(N_IMG, ROWS, COLS, &img_n);
    write_file(tpath("aug.raw"), img, img_n, 0);
    vd_dataset *ds = NULL;
    if (!CHECK(vd_dataset_load_idx(tpath("aug.raw"), NULL, &ds) == VD_OK)) goto done;
    enum { B = 64 };
    uint32_t idx[B];
    uint64_t pos[B];
    for (int i = 0; i < B; i++) idx[i] = (uint32_t)(i % N_IMG), pos[i] = (uint64_t)i;
    static float x[B * ROWS * COLS], x2[B * ROWS * COLS], plain[B * ROWS * COLS];
    vd_augment none = {0, 0, 1, 1};
    CHECK(vd_dataset_batch_augmented(ds, idx, pos, B, x, NULL, &none) == VD_OK);
    CHECK(vd_dataset_batch(ds, idx, B, plain, NULL) == VD_OK);
    CHECK(memcmp(x, plain, sizeof(x)) == 0);
    vd_augment aug = {1, 1, 7, 3};
    CHECK(vd_dataset_batch_augmented(ds, idx, pos, B, x, NULL, &aug) == VD_OK);
    CHECK(vd_dataset_batch_augmented(ds, idx, pos, B, x2, NULL, &aug) == VD_OK);
    CHECK(memcmp(x, x2, sizeof(x)) == 0);
    int explained = 0, flips = 0, shifts = 0;
    for (int i = 0; i < B; i++) {
        const unsigned char *src = img + 16 + idx[i] * ROWS * COLS;
        int found = 0;
        for (int f = 0; f < 2 && !found; f++)
            for (int dr = -1; dr <= 1 && !found; dr++)
                for (int dc = -1; dc <= 1 && !found; dc++) {
                    int same = 1;
                    for (int r = 0; r < ROWS && same; r++)
                        for (int c = 0; c < COLS && same; c++) {
                            int sr = r + dr, sc = (f ? COLS - 1 - c : c) + dc;
                            int v = (sr >= 0 && sr < ROWS && sc >= 0 && sc < COLS)
                                        ? src[sr * COLS + sc] : 0;
                            same = fabs(x[(i * ROWS + r) * COLS + c] - v / 255.0) < 1e-6;
                        }
                    if (same) {
                        found = 1;
                        flips += f;
                        shifts += dr != 0 || dc != 0;
                    }
                }
        explained += found;
    }
    checkf(explained == B, "augment: %d of %d samples are a shift/flip of their input",
           explained, B);
    checkf(flips > 8 && flips < 56 && shifts > 20, "augment: %d flips, %d shifts in %d", flips,
           shifts, B);
    aug.stream = 4; /* another epoch: another draw */
    CHECK(vd_dataset_batch_augmented(ds, idx, pos, B, x2, NULL, &aug) == VD_OK);
    CHECK(memcmp(x, x2, sizeof(x)) != 0);
done:
    vd_dataset_destroy(ds);
    free(img);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/vd_test_idx_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_null_args();
    test_good_files();
    test_bad_files();
    test_fashion_mnist();
    test_augment();
    remove_tree(dir);
    return check_summary();
}

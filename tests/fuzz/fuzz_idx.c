/* fuzz_idx.c - libFuzzer harness for IDX datasets (src/data/idx.c), raw or gzip (zlib
 * reads both). Input: one flag byte (bit 0: a label file follows), then, with labels, a
 * 2-byte split point; the image file; the label file. The files are memfds read through
 * /proc/self/fd, so the real open/gzread path runs. A dataset that loads is then batched,
 * augmented and subset. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data/data.h"
#include "fuzz_common.h"

static int memfd(const char *name, char *path, size_t cap)
{
    int fd = memfd_create(name, 0);
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

static int put(int fd, const uint8_t *p, size_t n)
{
    if (ftruncate(fd, 0) != 0) return -1;
    return pwrite(fd, p, n, 0) == (ssize_t)n ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fi = -1, fl = -1;
    static char pi[64], pl[64];
    if (fi < 0) {
        fi = memfd("images", pi, sizeof(pi));
        fl = memfd("labels", pl, sizeof(pl));
        if (fi < 0 || fl < 0) abort();
    }
    if (size < 1 || size > (1u << 20)) return 0;
    bool labels = data[0] & 1;
    data++;
    size--;
    size_t split = size;
    if (labels) {
        if (size < 2) return 0;
        split = ((size_t)data[0] | (size_t)data[1] << 8);
        data += 2;
        size -= 2;
        if (split > size) split = size;
    }
    if (put(fi, data, split) || put(fl, data + split, size - split)) abort();
    vd_dataset *ds = NULL;
    if (vd_dataset_load_idx(pi, labels ? pl : NULL, &ds) != VD_OK) return 0;
    size_t n = vd_dataset_count(ds);
    int64_t shape[3];
    vd_dataset_sample_shape(ds, shape);
    size_t sample = (size_t)(shape[0] * shape[1] * shape[2]);
    float *x = malloc(2 * sample * sizeof(float));
    int32_t y[2];
    uint32_t idx[2] = {0, (uint32_t)(n - 1)};
    uint64_t pos[2] = {0, 1};
    vd_augment aug = {2, 1, 7, 1};
    if (!x || vd_dataset_batch(ds, idx, 2, x, y) != VD_OK ||
        vd_dataset_batch_augmented(ds, idx, pos, 2, x, y, &aug) != VD_OK)
        abort();
    if (y[0] < 0 || y[0] >= vd_dataset_classes(ds) || y[1] >= vd_dataset_classes(ds)) abort();
    vd_dataset *sub = NULL;
    if (vd_dataset_subset(ds, n - 1, 1, &sub) != VD_OK) abort();
    vd_dataset_destroy(sub);
    free(x);
    vd_dataset_destroy(ds);
    return 0;
}

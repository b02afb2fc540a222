/* idx.c - IDX dataset reader (MNIST / Fashion-MNIST) and host-side batching.
 *
 * Holds every vd_dataset_* function of verdant.h. Files are read through zlib, which reads
 * gzip and raw files alike. Pixels stay uint8 in host memory and become normalised floats
 * only when a batch is copied out. No OpenCL here; no shuffling or prefetch either (the
 * training loop owns those).
 *
 * IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header
 *     0x00 0x00 <type> <ndim>, then ndim big-endian uint32 extents, then the data,
 * with type 0x08 meaning unsigned byte. Images are IDX3 (count, rows, cols), labels IDX1.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"

/* Limits checked before anything is allocated, so a corrupt or hostile header cannot make
 * us ask for gigabytes. Real datasets sit far below them (MNIST train: 60000 x 28 x 28). */
#define IDX_MAX_COUNT 100000000u         /* 10^8 samples */
#define IDX_MAX_SIDE 4096u               /* rows, cols */
#define IDX_MAX_BYTES ((size_t)1u << 31) /* payload of one file */
#define IDX_TYPE_UBYTE 0x08

/* Data is read in chunks and the buffer grows as bytes actually arrive, so a header that
 * claims more than the file holds costs at most about twice the real file size. */
#define IDX_CHUNK ((size_t)16u << 20)

#define MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

struct vd_dataset {
    size_t count;       /* samples */
    int32_t rows, cols; /* one channel */
    int32_t classes;    /* max label + 1 */
    uint8_t *pixels;    /* (count, rows, cols) */
    uint8_t *labels;    /* (count) */
    float mean, std;    /* applied to pixel/255 */
    float lut[256];     /* byte -> normalised float, rebuilt when mean/std change */
};

static void dataset_build_lut(vd_dataset *ds)
{
    for (int v = 0; v < 256; v++) ds->lut[v] = ((float)v / 255.0f - ds->mean) / ds->std;
}

static const char *type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ file reading */

typedef struct idx_file {
    const char *path;
    gzFile gz;
} idx_file;

static vd_status idx_open(idx_file *f, const char *path)
{
    f->path = path;
    f->gz = NULL;
    /* open() first so a missing file reports errno reliably (gzopen may not), and so a
     * directory is refused here rather than as a puzzling read error later. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vd_error_set(NULL, VD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return vd_error_set(NULL, VD_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return vd_error_set(NULL, VD_ERR_IO, "%s: not a regular file%s", path,
                            S_ISDIR(sb.st_mode) ? " (a directory)" : "");
    }
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        return vd_error_set(NULL, VD_ERR_NO_MEMORY, "%s: gzdopen failed (out of memory)", path);
    }
    gzbuffer(f->gz, 1u << 18); /* fewer, larger reads than the 8 KiB default */
    return VD_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* zlib's message without the "<fd:3>: " prefix that gzdopen'ed streams carry. */
static const char *zlib_message(idx_file *f)
{
    int errnum = Z_OK;
    const char *m = gzerror(f->gz, &errnum);
    if (!m || !*m) return "unknown error";
    if (m[0] == '<') {
        const char *c = strstr(m, ": ");
        if (c) m = c + 2;
    }
    return m;
}

/* Read up to want bytes into buf; *got receives how many arrived. Returns VD_OK when the
 * stream ended cleanly (the caller compares *got with what it needed), VD_ERR_IO with the
 * message set for an operating-system read error, and VD_ERR_FORMAT WITHOUT a message for
 * a corrupt or cut gzip stream: the caller knows the totals to report, and adds
 * zlib_message(f). */
static vd_status idx_read(idx_file *f, void *buf, size_t want, size_t *got)
{
    *got = 0;
    while (*got < want) {
        size_t n = want - *got;
        if (n > IDX_CHUNK) n = IDX_CHUNK; /* gzread takes an unsigned and returns an int */
        int r = gzread(f->gz, (char *)buf + *got, (unsigned)n);
        if (r > 0) *got += (size_t)r;
        if (r == (int)n) continue;
        int errnum = Z_OK;
        gzerror(f->gz, &errnum);
        if (errnum == Z_ERRNO)
            return vd_error_set(NULL, VD_ERR_IO, "%s: read error: %s", f->path, strerror(errno));
        if (errnum != Z_OK) return VD_ERR_FORMAT;
        break; /* clean end of file */
    }
    return VD_OK;
}

/* The message for a short read: st is idx_read's status (VD_OK: plain end of file). */
static vd_status idx_short(idx_file *f, vd_status st, const char *what, size_t expected, size_t got)
{
    if (st == VD_ERR_FORMAT)
        return vd_error_set(NULL, VD_ERR_FORMAT,
                            "%s: corrupt or truncated gzip stream in %s: expected %zu bytes, got "
                            "%zu (zlib: %s)",
                            f->path, what, expected, got, zlib_message(f));
    return vd_error_set(NULL, VD_ERR_FORMAT, "%s: truncated %s: expected %zu bytes, got %zu",
                        f->path, what, expected, got);
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Read and check the header: magic 0x00 0x00 0x08 ndim with ndim == want_ndim. */
static vd_status idx_header(idx_file *f, int want_ndim, const char *kind, uint32_t dims[3])
{
    uint8_t hdr[4 + 4 * 3];
    size_t need = 4 + 4 * (size_t)want_ndim, got = 0;
    vd_status st = idx_read(f, hdr, 4, &got);
    if (st == VD_ERR_IO) return st;
    if (got < 4) return idx_short(f, st, "header", need, got);
    uint32_t magic = be32(hdr);
    uint32_t want_magic = 0x800u | (uint32_t)want_ndim;
    if (hdr[0] != 0 || hdr[1] != 0)
        return vd_error_set(NULL, VD_ERR_FORMAT,
                            "%s: bad magic 0x%08X: not an IDX file (expected 0x%08X for %s)",
                            f->path, (unsigned)magic, (unsigned)want_magic, kind);
    if (hdr[2] != IDX_TYPE_UBYTE)
        return vd_error_set(NULL, VD_ERR_FORMAT,
                            "%s: bad magic 0x%08X: element type 0x%02X (%s), expected 0x08 "
                            "(unsigned byte) for %s",
                            f->path, (unsigned)magic, hdr[2], type_name(hdr[2]), kind);
    if (hdr[3] != want_ndim)
        return vd_error_set(
            NULL, VD_ERR_FORMAT, "%s: bad magic 0x%08X: %d dimensions, expected %d for %s (0x%08X)",
            f->path, (unsigned)magic, hdr[3], want_ndim, kind, (unsigned)want_magic);
    st = idx_read(f, hdr + 4, need - 4, &got);
    if (st == VD_ERR_IO) return st;
    if (got < need - 4) return idx_short(f, st, "header", need, 4 + got);
    for (int i = 0; i < want_ndim; i++) dims[i] = be32(hdr + 4 + 4 * i);
    return VD_OK;
}

/* Read exactly bytes of payload into a fresh buffer, growing it as data arrives. */
static vd_status idx_payload(idx_file *f, size_t bytes, size_t header_bytes, const char *what,
                             uint8_t **out)
{
    vd_status st = VD_OK;
    *out = NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, have = 0;
    while (have < bytes) {
        if (have == cap) {
            size_t ncap = cap ? cap * 2 : IDX_CHUNK;
            if (ncap > bytes) ncap = bytes;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = vd_error_set(NULL, VD_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes for %s",
                                  f->path, ncap, what);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = 0;
        st = idx_read(f, buf + have, cap - have, &got);
        have += got;
        if (st == VD_ERR_IO) goto done;
        if (st != VD_OK || have < cap) break; /* end of file or broken gzip stream */
    }
    if (have < bytes) {
        /* Totals count the header, as a file size would. */
        st = idx_short(f, st, what, header_bytes + bytes, header_bytes + have);
        goto done;
    }
    /* zlib checks the gzip trailer (CRC-32, length) only when it reaches the end of the
     * stream, so ask for one more byte. Trailing bytes after the data are tolerated. */
    uint8_t extra;
    size_t got = 0;
    st = idx_read(f, &extra, 1, &got);
    if (st == VD_ERR_FORMAT)
        st = vd_error_set(NULL, VD_ERR_FORMAT, "%s: corrupt gzip stream after the %s (zlib: %s)",
                          f->path, what, zlib_message(f));
    if (st != VD_OK) goto done;
    *out = buf;
    buf = NULL;
done:
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ public API */

vd_status vd_dataset_load_idx(const char *images_path, const char *labels_path, vd_dataset **out)
{
    vd_status st = VD_OK;
    idx_file f = {0};
    vd_dataset *ds = NULL;
    if (out) *out = NULL;
    if (!images_path || !out)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_load_idx: images_path and out must not be NULL");

    ds = calloc(1, sizeof(*ds));
    if (!ds) return vd_error_set(NULL, VD_ERR_NO_MEMORY, "cannot allocate a dataset");
    ds->mean = 0.0f;
    ds->std = 1.0f;
    dataset_build_lut(ds);

    /* Images: (count, rows, cols). */
    uint32_t dims[3] = {0};
    VD_TRY(idx_open(&f, images_path));
    VD_TRY(idx_header(&f, 3, "images", dims));
    if (dims[0] == 0 || dims[0] > IDX_MAX_COUNT) {
        st = vd_error_set(NULL, VD_ERR_FORMAT, "%s: image count %u out of range [1, %u]",
                          images_path, (unsigned)dims[0], (unsigned)IDX_MAX_COUNT);
        goto done;
    }
    if (dims[1] == 0 || dims[1] > IDX_MAX_SIDE || dims[2] == 0 || dims[2] > IDX_MAX_SIDE) {
        st = vd_error_set(
            NULL, VD_ERR_FORMAT, "%s: image size %ux%u out of range (rows and cols in [1, %u])",
            images_path, (unsigned)dims[1], (unsigned)dims[2], (unsigned)IDX_MAX_SIDE);
        goto done;
    }
    /* Each factor is bounded above, so the product fits in 64 bits. */
    uint64_t total = (uint64_t)dims[0] * dims[1] * dims[2];
    if (total > IDX_MAX_BYTES) {
        st = vd_error_set(NULL, VD_ERR_FORMAT,
                          "%s: %u images of %ux%u make %llu bytes, more than the %zu-byte limit",
                          images_path, (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2],
                          (unsigned long long)total, IDX_MAX_BYTES);
        goto done;
    }
    ds->count = dims[0];
    ds->rows = (int32_t)dims[1];
    ds->cols = (int32_t)dims[2];
    VD_TRY(idx_payload(&f, (size_t)total, 16, "image data", &ds->pixels));
    idx_close(&f);

    /* Labels: (count). Without a label file every label is 0 (images to classify). */
    if (!labels_path) {
        ds->labels = calloc(ds->count, 1);
        if (!ds->labels) {
            st = vd_error_set(NULL, VD_ERR_NO_MEMORY, "cannot allocate %zu labels", ds->count);
            goto done;
        }
        ds->classes = 1;
        *out = ds;
        ds = NULL;
        goto done;
    }
    VD_TRY(idx_open(&f, labels_path));
    VD_TRY(idx_header(&f, 1, "labels", dims));
    if (dims[0] != ds->count) {
        st = vd_error_set(NULL, VD_ERR_FORMAT, "%s: %u labels but %s holds %zu images", labels_path,
                          (unsigned)dims[0], images_path, ds->count);
        goto done;
    }
    VD_TRY(idx_payload(&f, ds->count, 8, "label data", &ds->labels));
    idx_close(&f);

    /* Labels are bytes, so < 256 holds by construction; classes = max label + 1. */
    int32_t max_label = 0;
    for (size_t i = 0; i < ds->count; i++)
        if (ds->labels[i] > max_label) max_label = ds->labels[i];
    ds->classes = max_label + 1;

    *out = ds;
    ds = NULL;
done:
    idx_close(&f);
    vd_dataset_destroy(ds);
    return st;
}

/* Full path of dir/<prefix>-<kind>-idx<n>-ubyte, with ".gz" when that exists, else raw,
 * else VD_ERR_IO with the hint about the Debian package. */
static vd_status mnist_path(const char *dir, const char *prefix, const char *kind,
                            const char *split, char *buf, size_t cap)
{
    struct stat sb;
    int n = snprintf(buf, cap, "%s/%s-%s-ubyte.gz", dir, prefix, kind);
    if (n < 0 || (size_t)n >= cap)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "data directory path too long: %s", dir);
    if (stat(buf, &sb) == 0) return VD_OK;
    buf[n - 3] = '\0'; /* drop ".gz" */
    if (stat(buf, &sb) == 0) return VD_OK;
    return vd_error_set(NULL, VD_ERR_IO,
                        "Fashion-MNIST %s split not found: no %s/%s-%s-ubyte[.gz] (%s); "
                        "install the Debian package dataset-fashion-mnist or pass a data "
                        "directory",
                        split, dir, prefix, kind, strerror(errno));
}

vd_status vd_dataset_load_mnist(const char *dir, const char *split, vd_dataset **out)
{
    char images[4096], labels[4096];
    if (out) *out = NULL;
    if (!split || !out)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_load_mnist: split and out must not be NULL");
    const char *prefix;
    if (strcmp(split, "train") == 0) prefix = "train";
    else if (strcmp(split, "test") == 0 || strcmp(split, "t10k") == 0) prefix = "t10k";
    else
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_load_mnist: unknown split '%s' (use train or test)", split);
    if (!dir || !*dir) dir = MNIST_DEFAULT_DIR;

    vd_status st = mnist_path(dir, prefix, "images-idx3", split, images, sizeof(images));
    if (st != VD_OK) return st;
    st = mnist_path(dir, prefix, "labels-idx1", split, labels, sizeof(labels));
    if (st != VD_OK) return st;
    return vd_dataset_load_idx(images, labels, out);
}

vd_status vd_dataset_subset(const vd_dataset *ds, size_t first, size_t count, vd_dataset **out)
{
    vd_status st = VD_OK;
    vd_dataset *sub = NULL;
    if (out) *out = NULL;
    if (!ds || !out)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_subset: ds and out must not be NULL");
    if (count == 0 || first > ds->count || count > ds->count - first)
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_subset: samples [%zu, %zu+%zu) not inside the %zu "
                            "samples of the dataset (count must be >= 1)",
                            first, first, count, ds->count);
    size_t sample = (size_t)ds->rows * (size_t)ds->cols;
    sub = calloc(1, sizeof(*sub));
    if (!sub) return vd_error_set(NULL, VD_ERR_NO_MEMORY, "cannot allocate a dataset");
    *sub = *ds; /* shape, normalisation, table */
    /* Classes stay those of the parent: a small slice may miss a class, yet the task (and
     * the net's output size) does not change. */
    sub->count = count;
    sub->pixels = malloc(count * sample);
    sub->labels = malloc(count);
    if (!sub->pixels || !sub->labels) {
        st = vd_error_set(NULL, VD_ERR_NO_MEMORY, "vd_dataset_subset: cannot allocate %zu samples",
                          count);
        goto done;
    }
    memcpy(sub->pixels, ds->pixels + first * sample, count * sample);
    memcpy(sub->labels, ds->labels + first, count);
    *out = sub;
    sub = NULL;
done:
    vd_dataset_destroy(sub);
    return st;
}

void vd_dataset_destroy(vd_dataset *ds)
{
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    free(ds);
}

size_t vd_dataset_count(const vd_dataset *ds)
{
    return ds ? ds->count : 0;
}

void vd_dataset_sample_shape(const vd_dataset *ds, int64_t shape[3])
{
    if (!shape) return;
    shape[0] = ds ? 1 : 0;
    shape[1] = ds ? ds->rows : 0;
    shape[2] = ds ? ds->cols : 0;
}

int32_t vd_dataset_classes(const vd_dataset *ds)
{
    return ds ? ds->classes : 0;
}

vd_status vd_dataset_batch(const vd_dataset *ds, const uint32_t *idx, size_t n, float *x,
                           int32_t *y)
{
    if (!ds || (n > 0 && (!idx || (!x && !y))))
        return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                            "vd_dataset_batch: ds and idx must not be NULL, and x or y must be "
                            "given");
    /* Check every index first so a bad one leaves x and y untouched. */
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ds->count)
            return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                                "vd_dataset_batch: idx[%zu] = %u is out of range (%zu samples)", i,
                                (unsigned)idx[i], ds->count);
    size_t sample = (size_t)ds->rows * (size_t)ds->cols;
    for (size_t i = 0; i < n; i++) {
        if (x) {
            const uint8_t *src = ds->pixels + (size_t)idx[i] * sample;
            float *dst = x + i * sample;
            for (size_t j = 0; j < sample; j++) dst[j] = ds->lut[src[j]];
        }
        if (y) y[i] = ds->labels[idx[i]];
    }
    return VD_OK;
}

vd_status vd_dataset_batch_augmented(const vd_dataset *ds, const uint32_t *idx, const uint64_t *pos,
                                     size_t n, float *x, int32_t *y, const vd_augment *aug)
{
    if (!ds || (n > 0 && (!idx || !x)))
        return vd_error_set(NULL, VD_ERR_INVALID_ARG, "augmented batch: NULL argument");
    /* Every index is checked first, so a bad one leaves x and y untouched. */
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ds->count)
            return vd_error_set(NULL, VD_ERR_INVALID_ARG,
                                "augmented batch: idx[%zu] = %u is out of range (%zu samples)", i,
                                (unsigned)idx[i], ds->count);
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = ds->labels[idx[i]];
    if (!aug || (aug->crop_pad <= 0 && !aug->flip)) return vd_dataset_batch(ds, idx, n, x, NULL);
    if (!pos) return vd_error_set(NULL, VD_ERR_INVALID_ARG, "augmented batch: pos is NULL");
    int32_t R = ds->rows, C = ds->cols, p = aug->crop_pad > 0 ? aug->crop_pad : 0;
    size_t sample = (size_t)R * (size_t)C;
    for (size_t i = 0; i < n; i++) {
        uint32_t w[4];
        uint32_t ctr[4] = {(uint32_t)pos[i], (uint32_t)(pos[i] >> 32), (uint32_t)aug->stream,
                           (uint32_t)(aug->stream >> 32)};
        uint32_t key[2] = {(uint32_t)aug->seed, (uint32_t)(aug->seed >> 32)};
        vd_philox4x32(ctr, key, w);
        /* Offsets in [-p, p]: output pixel (r, c) reads input (r + dr, c + dc), black
         * outside the image. */
        int32_t dr = p ? (int32_t)(w[0] % (uint32_t)(2 * p + 1)) - p : 0;
        int32_t dc = p ? (int32_t)(w[1] % (uint32_t)(2 * p + 1)) - p : 0;
        bool flip = aug->flip && (w[2] & 1u);
        const uint8_t *src = ds->pixels + (size_t)idx[i] * sample;
        float *dst = x + i * sample;
        for (int32_t r = 0; r < R; r++)
            for (int32_t c = 0; c < C; c++) {
                int32_t sr = r + dr, sc = (flip ? C - 1 - c : c) + dc;
                uint8_t v = (sr >= 0 && sr < R && sc >= 0 && sc < C) ? src[sr * C + sc] : 0;
                dst[(size_t)r * (size_t)C + (size_t)c] = ds->lut[v];
            }
    }
    return VD_OK;
}

void vd_dataset_set_normalization(vd_dataset *ds, float mean, float std)
{
    /* The function returns nothing, so a std that would divide by zero (or a NaN) is
     * ignored rather than turning every batch into inf/NaN. */
    if (!ds || !isfinite(mean) || !isfinite(std) || !(std > 0.0f)) return;
    ds->mean = mean;
    ds->std = std;
    dataset_build_lut(ds);
}

/* cmd_predict.c - `verdant predict`: classify images with a checkpoint. Reads binary PGM
 * (P5) files, PNG files (any PNG libpng reads, converted to 8-bit grey; when built with
 * libpng) and IDX image files (every image, or one with --index). An image must have the
 * network's input size: it is refused with both sizes named, never resized silently.
 * Public API only. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef VD_HAVE_PNG
#include <png.h>
#endif

#include <verdant.h>

#include "cli.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

/* Read a binary PGM (P5, maxval <= 255) into *px (malloc'ed bytes). 0 on success; on
 * failure prints why. */
static int read_pgm(const char *path, unsigned char **px, long *w, long *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "verdant predict: cannot open '%s'\n", path);
        return -1;
    }
    char magic[3] = {0};
    long maxval = 0;
    int ok = fscanf(f, "%2s", magic) == 1 && !strcmp(magic, "P5");
    /* Header fields may be separated by comments ('#' to end of line). */
    long *fields[3] = {w, h, &maxval};
    for (int i = 0; ok && i < 3; i++) {
        int c;
        while ((c = fgetc(f)) == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
            if (c == '#')
                while ((c = fgetc(f)) != '\n' && c != EOF) {
                }
        ungetc(c, f);
        ok = fscanf(f, "%ld", fields[i]) == 1;
    }
    ok = ok && *w >= 1 && *h >= 1 && *w <= 4096 && *h <= 4096 && maxval >= 1 && maxval <= 255 &&
         fgetc(f) != EOF;
    size_t n = ok ? (size_t)(*w * *h) : 0;
    *px = ok ? malloc(n) : NULL;
    if (ok && (!*px || fread(*px, 1, n, f) != n)) ok = 0;
    fclose(f);
    if (!ok) {
        fprintf(stderr,
                "verdant predict: '%s' is not a binary PGM (P5) image of at most 4096x4096 "
                "with maxval <= 255, or it is truncated\n",
                path);
        free(*px);
        *px = NULL;
        return -1;
    }
    if (maxval != 255)
        for (size_t i = 0; i < n; i++) (*px)[i] = (unsigned char)((*px)[i] * 255 / maxval);
    return 0;
}

/* Read a PNG into *px as 8-bit grey (libpng's simplified API converts colour, palette,
 * 16-bit and alpha; colour becomes luminance). Same contract as read_pgm. */
static int read_png(const char *path, unsigned char **px, long *w, long *h)
{
    *px = NULL;
#ifdef VD_HAVE_PNG
    png_image im;
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) {
        fprintf(stderr, "verdant predict: '%s': not a readable PNG image (libpng: %s)\n", path,
                im.message);
        return -1;
    }
    if (im.width < 1 || im.height < 1 || im.width > 4096 || im.height > 4096) {
        fprintf(stderr, "verdant predict: '%s': %ux%u pixels; at most 4096x4096 are read\n", path,
                (unsigned)im.width, (unsigned)im.height);
        png_image_free(&im);
        return -1;
    }
    im.format = PNG_FORMAT_GRAY;
    *w = (long)im.width;
    *h = (long)im.height;
    *px = malloc(PNG_IMAGE_SIZE(im));
    if (!*px) {
        fprintf(stderr, "verdant predict: '%s': out of memory\n", path);
        png_image_free(&im);
        return -1;
    }
    if (!png_image_finish_read(&im, NULL, *px, 0, NULL)) {
        fprintf(stderr, "verdant predict: '%s': damaged or truncated PNG image (libpng: %s)\n",
                path, im.message);
        png_image_free(&im);
        free(*px);
        *px = NULL;
        return -1;
    }
    return 0;
#else
    (void)w;
    (void)h;
    fprintf(stderr,
            "verdant predict: '%s': this verdant was built without libpng (Debian libpng-dev); "
            "convert the image to PGM or IDX\n",
            path);
    return -1;
#endif
}

static int has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && !strcasecmp(path + n - k, suffix);
}

/* Print the top k classes of one output row (softmax of the logits). */
static void print_top(const char *label, const float *z, size_t classes, long k, int fashion)
{
    double m = z[0], sum = 0;
    for (size_t c = 1; c < classes; c++) m = fmax(m, z[c]);
    for (size_t c = 0; c < classes; c++) sum += exp(z[c] - m);
    printf("%s:", label);
    int used[4096] = {0};
    for (long t = 0; t < k && t < (long)classes; t++) {
        size_t best = 0;
        while (used[best]) best++;
        for (size_t c = 0; c < classes; c++)
            if (!used[c] && z[c] > z[best]) best = c;
        used[best] = 1;
        printf("  %zu%s%s%s %.1f%%", best, fashion ? " (" : "", fashion ? fashion_names[best] : "",
               fashion ? ")" : "", 100.0 * exp(z[best] - m) / sum);
    }
    printf("\n");
}

int cmd_predict(int argc, char **argv)
{
    const char *device = NULL;
    long top = 3, index = -1;
    double mean = 0.2860, std = 0.3530;
    const flag flags[] = {
        {"--device", FLAG_STR, &device, 0, 0},  {"--top", FLAG_INT, &top, 1, 100},
        {"--index", FLAG_INT, &index, 0, 1e9},  {"--mean", FLAG_FLOAT, &mean, -1e6, 1e6},
        {"--std", FLAG_FLOAT, &std, 1e-9, 1e6}, {NULL, 0, NULL, 0, 0}};
    const char *pos[65];
    int npos, help;
    int rc = cli_parse("predict", argc, argv, flags, pos, 65, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_PREDICT, stdout), EXIT_OK) : rc;
    if (npos < 2) {
        fprintf(stderr, "verdant predict: need CHECKPOINT and at least one IMAGE (see 'verdant "
                        "predict --help')\n");
        return EXIT_USAGE;
    }
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    float *x = NULL, *z = NULL;
    rc = EXIT_FAIL;
    vd_context_options o;
    vd_context_options_init(&o);
    o.device = device;
    if (vd_context_create(&o, &ctx) != VD_OK) {
        fprintf(stderr, "verdant predict: %s\n", vd_last_error(NULL));
        goto done;
    }
    if (cli_load_model(ctx, pos[0], 1, &net, NULL) != VD_OK) {
        fprintf(stderr, "verdant predict: %s\n", vd_last_error(ctx));
        goto done;
    }
    size_t classes = vd_net_output_size(net), in_size = vd_net_input_size(net);
    char in_desc[64];
    {
        int64_t d[8];
        int32_t rank = vd_net_input_shape(net, d, 8);
        if (rank == 3)
            snprintf(in_desc, sizeof(in_desc), "%lldx%lld, %lld channel(s)", (long long)d[2],
                     (long long)d[1], (long long)d[0]);
        else snprintf(in_desc, sizeof(in_desc), "%zu values", in_size);
    }
    int fashion = classes == 10;
    z = malloc(classes * sizeof(float));
    if (!z || classes > 4096) goto done;
    for (int i = 1; i < npos; i++) {
        const char *path = pos[i];
        int png = has_suffix(path, ".png");
        if (png || has_suffix(path, ".pgm")) {
            unsigned char *px = NULL;
            long w, h;
            if ((png ? read_png : read_pgm)(path, &px, &w, &h) != 0) goto done;
            if ((size_t)(w * h) != in_size) {
                /* vd_net_predict reads exactly in_size values: a smaller image would be read
                 * past its end, a larger one cut. */
                fprintf(stderr,
                        "verdant predict: '%s' is %ldx%ld (%ld pixels); the network takes "
                        "%zu values per image (%s); resize it first\n",
                        path, w, h, w * h, in_size, in_desc);
                free(px);
                goto done;
            }
            free(x);
            x = malloc((size_t)(w * h) * sizeof(float));
            for (long p = 0; x && p < w * h; p++) x[p] = (float)((px[p] / 255.0 - mean) / std);
            free(px);
            if (!x) goto done;
            if (vd_net_predict(net, x, 1, z) != VD_OK) {
                fprintf(stderr, "verdant predict: %s: %s\n", path, vd_last_error(ctx));
                goto done;
            }
            print_top(path, z, classes, top, fashion);
            continue;
        }
        /* Anything else is read as an IDX image file (gzip or raw), without labels. */
        vd_dataset *ds = NULL;
        if (vd_dataset_load_idx(path, NULL, &ds) != VD_OK) {
            fprintf(stderr, "verdant predict: %s\n", vd_last_error(NULL));
            goto done;
        }
        vd_dataset_set_normalization(ds, (float)mean, (float)std);
        int64_t sh[3];
        vd_dataset_sample_shape(ds, sh);
        size_t count = vd_dataset_count(ds), first = index >= 0 ? (size_t)index : 0;
        size_t last = index >= 0 ? first + 1 : count;
        if (first >= count) {
            fprintf(stderr, "verdant predict: --index %ld: '%s' has %zu images\n", index, path,
                    count);
            vd_dataset_destroy(ds);
            goto done;
        }
        free(x);
        x = malloc((size_t)(sh[0] * sh[1] * sh[2]) * sizeof(float));
        int32_t label;
        for (size_t k = first; x && k < last; k++) {
            uint32_t id = (uint32_t)k;
            char name[1200];
            snprintf(name, sizeof(name), "%s[%zu]", path, k);
            if (vd_dataset_batch(ds, &id, 1, x, &label) != VD_OK ||
                vd_net_predict(net, x, 1, z) != VD_OK) {
                fprintf(stderr, "verdant predict: %s: %s\n", name, vd_last_error(ctx));
                vd_dataset_destroy(ds);
                goto done;
            }
            print_top(name, z, classes, top, fashion);
        }
        vd_dataset_destroy(ds);
    }
    rc = EXIT_OK;
done:
    free(x);
    free(z);
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return rc;
}

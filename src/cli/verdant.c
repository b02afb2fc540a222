/* verdant.c - the `verdant` command: a table of verbs over the public API.
 *
 * Holds the argument dispatch, the global flags (--help, --version) and the verbs. Uses
 * only include/verdant.h, like any user program; nothing here reaches into the library.
 * To add a verb, write `static int cmd_<verb>(int argc, char **argv)` and its help text,
 * and add one row to `verbs[]`.
 *
 * Exit status: 0 success, 1 runtime failure (no device, bad file), 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdant.h>

#include "cli.h"

typedef struct verb {
    const char *name;
    const char *summary;               /* one line for `verdant --help` */
    const char *usage;                 /* full text for `verdant <verb> --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the verb name */
} verb;

static int cmd_devices(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const verb verbs[] = {
    {"devices", "list OpenCL platforms and devices, and which one is picked by default",
     "usage: verdant devices [--json]\n"
     "\n"
     "List every OpenCL platform and device: index P:D (use it with --device or\n"
     "VERDANT_DEVICE), type, name, platform, compute units, clock, memory, OpenCL C\n"
     "version, driver and fp16/fp64 support. The device a default context would pick\n"
     "(VERDANT_DEVICE, else the best GPU, else the first usable CPU) is marked '*'.\n"
     "\n"
     "options:\n"
     "  --json      one JSON object on stdout instead of the table\n"
     "  -h, --help  this text\n",
     cmd_devices},
    {"train", "train a network file on an IDX dataset (progress, logs, checkpoints)", USAGE_TRAIN,
     cmd_train},
    {"eval", "evaluate a checkpoint: accuracy, per-class accuracy, confusion matrix", USAGE_EVAL,
     cmd_eval},
    {"predict", "classify PNG, PGM or IDX images with a checkpoint (top-k classes)", USAGE_PREDICT,
     cmd_predict},
    {"plan", "show a network's layers, shapes, parameters and device memory", USAGE_PLAN, cmd_plan},
    {"info", "show the device, energy meters and cache directories", USAGE_INFO, cmd_info},
    {"cache", "manage the kernel cache ('verdant cache clear')", USAGE_CACHE, cmd_cache},
    {"plot", "draw loss, accuracy, images/s and images/J from a training log", USAGE_PLOT,
     cmd_plot},
    {"bench", "measure images/s per model and each conv layer's algorithms", USAGE_BENCH,
     cmd_bench},
    {"export", "write a checkpoint or network file as an ONNX model", USAGE_EXPORT, cmd_export},
    {"help", "show the help of a command", "usage: verdant help [COMMAND]\n", cmd_help},
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static const verb *find_verb(const char *name)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if (strcmp(verbs[i].name, name) == 0) return &verbs[i];
    return NULL;
}

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: verdant [--help] [--version] COMMAND [ARGS]\n"
            "\n"
            "Verdant %s: a portable OpenCL deep learning runtime.\n"
            "\n"
            "commands:\n",
            vd_version());
    for (size_t i = 0; i < N_VERBS; i++)
        fprintf(out, "  %-10s  %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out, "\n"
                 "Run 'verdant COMMAND --help' for the options of one command.\n"
                 "environment: VERDANT_DEVICE selects the device (\"gpu\", \"cpu\", \"P:D\" or a\n"
                 "name substring), VERDANT_CACHE_DIR the kernel binary cache.\n");
}

static int usage_error(const char *what, const char *arg, const char *see)
{
    fprintf(stderr, "verdant: %s '%s' (see '%s')\n", what, arg, see);
    return EXIT_USAGE;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* ------------------------------------------------------------------ verdant help */

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stdout);
        return EXIT_OK;
    }
    const verb *v = find_verb(argv[1]);
    if (!v) return usage_error("unknown command", argv[1], "verdant --help");
    fputs(v->usage, stdout);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ verdant devices */

static const char *type_name(vd_device_type t)
{
    switch (t) {
    case VD_DEVICE_CPU: return "CPU";
    case VD_DEVICE_GPU: return "GPU";
    case VD_DEVICE_ACCELERATOR: return "ACCELERATOR";
    default: return "OTHER";
    }
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* A JSON string literal; device strings come from drivers and may hold anything. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

static void devices_json(const vd_device_info *d, size_t n, int def, const char *def_error)
{
    printf("{\"version\": \"%s\", \"default\": ", vd_version());
    if (def >= 0) printf("\"%d:%d\"", d[def].platform_index, d[def].device_index);
    else printf("null");
    if (def_error) {
        printf(", \"default_error\": ");
        json_str(stdout, def_error);
    }
    printf(", \"devices\": [");
    for (size_t i = 0; i < n; i++) {
        const vd_device_info *e = &d[i];
        printf("%s\n  {\"index\": \"%d:%d\", \"platform_index\": %d, \"device_index\": %d, "
               "\"type\": \"%s\", \"name\": ",
               i ? "," : "", e->platform_index, e->device_index, e->platform_index, e->device_index,
               type_name(e->type));
        json_str(stdout, e->name);
        printf(", \"platform\": ");
        json_str(stdout, e->platform_name);
        printf(", \"vendor\": ");
        json_str(stdout, e->vendor);
        printf(", \"device_version\": ");
        json_str(stdout, e->device_version);
        printf(", \"driver_version\": ");
        json_str(stdout, e->driver_version);
        printf(", \"opencl_c_version\": ");
        json_str(stdout, e->opencl_c_version);
        printf(", \"compute_units\": %d, \"max_clock_mhz\": %d, \"global_mem_bytes\": %llu, "
               "\"local_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, \"fp16\": %s, "
               "\"fp64\": %s, \"usable\": %s, \"default\": %s}",
               e->compute_units, e->max_clock_mhz, (unsigned long long)e->global_mem_bytes,
               (unsigned long long)e->local_mem_bytes, (unsigned long long)e->max_alloc_bytes,
               e->has_fp16 ? "true" : "false", e->has_fp64 ? "true" : "false",
               e->usable ? "true" : "false", (int)i == def ? "true" : "false");
    }
    printf("\n]}\n");
}

static void devices_table(const vd_device_info *d, size_t n, int def, const char *def_error)
{
    printf("%zu OpenCL device%s", n, n == 1 ? "" : "s");
    fputs(def >= 0 ? " ('*' marks the default)\n" : "\n", stdout);
    for (size_t i = 0; i < n; i++) {
        const vd_device_info *e = &d[i];
        printf("\n%c %d:%d  %-4s %s%s\n", (int)i == def ? '*' : ' ', e->platform_index,
               e->device_index, type_name(e->type), e->name,
               e->usable ? "" : "  (not usable: needs OpenCL C >= 1.2)");
        printf("    platform         %s\n", e->platform_name);
        printf("    vendor           %s\n", e->vendor);
        printf("    compute units    %d\n", e->compute_units);
        printf("    max clock        %d MHz\n", e->max_clock_mhz);
        printf("    global memory    %.0f MiB\n", mib(e->global_mem_bytes));
        printf("    local memory     %.3g MiB (%llu KiB)\n", mib(e->local_mem_bytes),
               (unsigned long long)(e->local_mem_bytes / 1024));
        printf("    max allocation   %.0f MiB\n", mib(e->max_alloc_bytes));
        printf("    device version   %s\n", e->device_version);
        printf("    OpenCL C         %s\n", e->opencl_c_version);
        printf("    driver           %s\n", e->driver_version);
        printf("    fp16 / fp64      %s / %s\n", e->has_fp16 ? "yes" : "no",
               e->has_fp64 ? "yes" : "no");
    }
    if (def < 0) printf("\nno default device: %s\n", def_error ? def_error : "none matched");
}

static int cmd_devices(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(find_verb("devices")->usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            return usage_error(argv[i][0] == '-' ? "unknown option" : "unexpected argument",
                               argv[i], "verdant devices --help");
        }
    }

    int rc = EXIT_FAIL;
    vd_device_info *list = NULL;
    vd_context *ctx = NULL;
    char def_error[512] = "";
    size_t n = 0;
    vd_status st = vd_devices_list(NULL, 0, &n);
    if (st != VD_OK) {
        fprintf(stderr, "verdant: %s\n", vd_last_error(NULL));
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "verdant: OpenCL platforms are installed but they report no device\n");
        goto done;
    }
    list = calloc(n, sizeof(*list));
    if (!list) {
        fprintf(stderr, "verdant: out of memory\n");
        goto done;
    }
    size_t n2 = 0;
    st = vd_devices_list(list, n, &n2);
    if (st != VD_OK) {
        fprintf(stderr, "verdant: %s\n", vd_last_error(NULL));
        goto done;
    }
    if (n2 < n) n = n2; /* a device vanished between the two calls */

    /* The default is whatever a context created without options picks (this honours
     * VERDANT_DEVICE). The disk cache is off so that listing devices writes nothing. */
    int def = -1;
    vd_context_options opt;
    vd_context_options_init(&opt);
    opt.cache_dir = "off";
    vd_device_info chosen;
    if (vd_context_create(&opt, &ctx) == VD_OK && vd_context_device(ctx, &chosen) == VD_OK) {
        for (size_t i = 0; i < n; i++)
            if (list[i].platform_index == chosen.platform_index &&
                list[i].device_index == chosen.device_index)
                def = (int)i;
    } else {
        snprintf(def_error, sizeof(def_error), "%s", vd_last_error(NULL));
    }

    if (json) devices_json(list, n, def, def_error[0] ? def_error : NULL);
    else devices_table(list, n, def, def_error[0] ? def_error : NULL);
    rc = EXIT_OK;
done:
    vd_context_destroy(ctx);
    free(list);
    return rc;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    /* Line-buffered even into a pipe or file, so the summary lines on stdout and the
     * progress and errors on stderr keep their order in a log. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *a = argv[1];
    if (is_help(a)) {
        print_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(a, "--version") == 0) {
        printf("verdant %s (header %d.%d.%d)\n", vd_version(), VD_VERSION_MAJOR, VD_VERSION_MINOR,
               VD_VERSION_PATCH);
        return EXIT_OK;
    }
    if (a[0] == '-') return usage_error("unknown option", a, "verdant --help");
    const verb *v = find_verb(a);
    if (!v) return usage_error("unknown command", a, "verdant --help");
    return v->run(argc - 1, argv + 1);
}

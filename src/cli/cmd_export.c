/* cmd_export.c - `verdant export`: a checkpoint (trained weights) or a network file (its
 * seeded initial weights) written as an ONNX model with vd_net_save_onnx. Public API only.
 * A layer or option ONNX cannot express is the library's message, naming both. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <verdant.h>

#include "cli.h"

static int has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && !strcasecmp(path + n - k, suffix);
}

int cmd_export(int argc, char **argv)
{
    const char *out = NULL, *device = NULL;
    long seed = -1;
    const flag flags[] = {{"-o", FLAG_STR, &out, 0, 0},
                          {"--output", FLAG_STR, &out, 0, 0},
                          {"--seed", FLAG_INT, &seed, 0, 4294967295.0},
                          {"--device", FLAG_STR, &device, 0, 0},
                          {NULL, 0, NULL, 0, 0}};
    const char *pos[1];
    int npos, help;
    int rc = cli_parse("export", argc, argv, flags, pos, 1, &npos, &help);
    if (rc || help) return help ? (fputs(USAGE_EXPORT, stdout), EXIT_OK) : rc;
    if (npos == 0 || !out) {
        fprintf(stderr, "verdant export: missing %s (see 'verdant export --help')\n",
                npos == 0 ? "MODEL.ckpt or MODEL.cfg" : "-o MODEL.onnx");
        return EXIT_USAGE;
    }
    int cfg = has_suffix(pos[0], ".cfg");
    if (!cfg && seed >= 0) {
        fprintf(stderr, "verdant export: --seed applies to a MODEL.cfg only (a checkpoint "
                        "has its weights)\n");
        return EXIT_USAGE;
    }
    vd_context_options o;
    vd_context_options_init(&o);
    o.device = device;
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    vd_status st = vd_context_create(&o, &ctx);
    rc = EXIT_FAIL;
    if (st != VD_OK) {
        fprintf(stderr, "verdant export: %s\n", vd_last_error(NULL));
        goto done;
    }
    if (cfg) {
        st = vd_net_load_cfg(ctx, pos[0], &net);
        if (st == VD_OK && seed >= 0) st = vd_net_set_seed(net, (uint64_t)seed);
        if (st == VD_OK) st = vd_net_build(net, 1);
    } else {
        st = vd_net_load(ctx, pos[0], 1, &net, NULL);
    }
    if (st == VD_OK) st = vd_net_save_onnx(net, out);
    if (st != VD_OK) {
        fprintf(stderr, "verdant export: %s\n", vd_last_error(ctx));
        goto done;
    }
    printf("wrote %s (%zu parameters%s)\n", out, vd_net_param_count(net),
           cfg ? ", initial weights of the network file" : "");
    rc = EXIT_OK;
done:
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return rc;
}

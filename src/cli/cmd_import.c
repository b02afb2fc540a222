/* cmd_import.c - `verdant import MODEL.onnx -o MODEL.ckpt`: an ONNX model (docs/ONNX.md,
 * "Import") into a Verdant checkpoint that eval, predict, train --resume and bench take;
 * and cli_load_model, through which those verbs also read MODEL.onnx directly. Public API
 * only. */
#include <stdio.h>
#include <string.h>

#include <verdant.h>

#include "cli.h"

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

vd_status cli_load_model(vd_context *ctx, const char *path, int32_t max_batch, vd_net **net,
                         vd_train_state *state)
{
    if (has_suffix(path, ".onnx") || has_suffix(path, ".ONNX")) {
        if (state) vd_train_state_init(state);
        return vd_net_load_onnx_batch(ctx, path, max_batch, net);
    }
    return vd_net_load(ctx, path, max_batch, net, state);
}

int cmd_import(int argc, char **argv)
{
    const char *out = NULL, *device = NULL, *optimizer = "adam";
    double lr = -1;
    int help = 0, quiet = 0;
    const flag flags[] = {
        {"-o", FLAG_STR, &out, 0, 0},
        {"--output", FLAG_STR, &out, 0, 0},
        {"--device", FLAG_STR, &device, 0, 0},
        {"--quiet", FLAG_BOOL, &quiet, 0, 0},
        {"--optimizer", FLAG_STR, &optimizer, 0, 0},
        {"--lr", FLAG_FLOAT, &lr, 1e-12, 1e3},
        {NULL, 0, NULL, 0, 0},
    };
    const char *pos[2];
    int npos = 0;
    int rc = cli_parse("import", argc, argv, flags, pos, 2, &npos, &help);
    if (rc != EXIT_OK) return rc;
    if (help) {
        fputs(USAGE_IMPORT, stdout);
        return EXIT_OK;
    }
    if (npos != 1 || !out) {
        fprintf(stderr, "verdant import: need MODEL.onnx and -o MODEL.ckpt (see 'verdant import "
                        "--help')\n");
        return EXIT_USAGE;
    }
    vd_optim_kind kind = VD_OPTIM_ADAM;
    if (!strcmp(optimizer, "sgd")) kind = VD_OPTIM_SGD;
    else if (!strcmp(optimizer, "adamw")) kind = VD_OPTIM_ADAMW;
    else if (strcmp(optimizer, "adam")) {
        fprintf(stderr, "verdant import: --optimizer '%s' is not sgd, adam or adamw\n", optimizer);
        return EXIT_USAGE;
    }
    vd_context_options o;
    vd_context_options_init(&o);
    o.device = device;
    vd_context *ctx = NULL;
    vd_net *net = NULL;
    rc = EXIT_FAIL;
    if (vd_context_create(&o, &ctx) != VD_OK) {
        fprintf(stderr, "verdant import: %s\n", vd_last_error(NULL));
        goto done;
    }
    if (vd_net_load_onnx(ctx, pos[0], &net) != VD_OK) {
        fprintf(stderr, "verdant import: %s\n", vd_last_error(ctx));
        goto done;
    }
    if (!quiet) vd_net_summary(net, stdout);
    /* A fresh optimizer (zero moments, step 0), so train --resume fine-tunes from here. */
    vd_optim_options opt;
    vd_optim_options_init(&opt, kind);
    if (kind == VD_OPTIM_SGD) opt.lr = 0.01f;
    if (lr > 0) opt.lr = (float)lr;
    vd_train_state ts;
    vd_train_state_init(&ts);
    ts.lr = opt.lr;
    if (vd_net_set_optimizer(net, &opt) != VD_OK || vd_net_save(net, out, &ts) != VD_OK) {
        fprintf(stderr, "verdant import: %s\n", vd_last_error(ctx));
        goto done;
    }
    printf("imported %s: %zu parameters, %zu outputs per sample -> %s\n", pos[0],
           vd_net_param_count(net), vd_net_output_size(net), out);
    rc = EXIT_OK;
done:
    vd_net_destroy(net);
    vd_context_destroy(ctx);
    return rc;
}

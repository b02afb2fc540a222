/* fuzz_cfg.c - libFuzzer harness for network description files (src/net/cfg.c): the input
 * is the file's text. A file that parses must also build as far as a device-less context
 * allows (shape inference for every layer, then VD_ERR_NO_MEMORY at the first buffer), and
 * must survive a round trip: vd_net_to_cfg's text parses again to the same text. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    vd_context *ctx = fuzz_context();
    vd_net *net = NULL;
    if (vd_net_parse_cfg(ctx, text, "fuzz.cfg", &net) == VD_OK) {
        char *out = NULL, *out2 = NULL;
        if (vd_net_to_cfg(net, &out) == VD_OK) {
            vd_net *again = NULL;
            if (vd_net_parse_cfg(ctx, out, "round-trip.cfg", &again) != VD_OK) {
                fprintf(stderr, "round trip failed: %s\n--- text:\n%s\n", vd_last_error(ctx), out);
                abort();
            }
            if (vd_net_to_cfg(again, &out2) != VD_OK || strcmp(out, out2) != 0) {
                fprintf(stderr, "round trip changed the text:\n%s\n--- became:\n%s\n", out,
                        out2 ? out2 : "(error)");
                abort();
            }
            vd_net_destroy(again);
        }
        free(out);
        free(out2);
        vd_status st = vd_net_build(net, 2);
        if (st == VD_OK) abort(); /* impossible without device memory */
        vd_net_destroy(net);
    }
    free(text);
    return 0;
}

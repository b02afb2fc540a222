/* fuzz_ckpt.c - libFuzzer harness for checkpoint files (src/train/ckpt.c): the container
 * (magic, version, sections, CRCs) through vd_ckpt_parse, then the network description
 * inside through the cfg parser and shape inference (device-less context). Input: one flag
 * byte, then the file. Flag bit 0 repairs every CRC the way a writer would, so mutations
 * reach the section walk and the NETCFG text instead of stopping at the checksum; without
 * it the checksums themselves are fuzzed. The device-side restore (PARAMS, OPTIM, TRAIN,
 * LSTATE sizes against a built net) needs a device and is covered by test_ckpt. */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "net/net.h"

static void repair(unsigned char *b, size_t len)
{
    if (len < 20) return;
    uint32_t nsec;
    memcpy(&nsec, b + 12, 4);
    size_t pos = 16;
    for (uint32_t i = 0; i < nsec && i < 64; i++) {
        if (len - 4 - pos < 20) break;
        uint64_t n;
        memcpy(&n, b + pos + 8, 8);
        if (n > len - 4 - pos - 20) break;
        uint32_t crc = fuzz_crc32(b + pos + 20, (size_t)n);
        memcpy(b + pos + 16, &crc, 4);
        pos += 20 + (size_t)n;
    }
    uint32_t total = fuzz_crc32(b, len - 4);
    memcpy(b + len - 4, &total, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    bool fix = data[0] & 1;
    size_t len = size - 1;
    unsigned char *b = malloc(len ? len : 1);
    if (!b) return 0;
    memcpy(b, data + 1, len);
    if (fix) repair(b, len);
    vd_ckpt_view v;
    if (vd_ckpt_parse(NULL, "fuzz.ckpt", b, len, &v) == VD_OK) {
        if (!v.netcfg.present || !v.params.present || v.netcfg.n > len) abort();
        char *cfg = malloc((size_t)v.netcfg.n + 1);
        memcpy(cfg, v.netcfg.p, (size_t)v.netcfg.n);
        cfg[v.netcfg.n] = '\0';
        vd_net *net = NULL;
        vd_context *ctx = fuzz_context();
        if (vd_net_parse_cfg(ctx, cfg, "fuzz.ckpt[NETCFG]", &net) == VD_OK) {
            if (vd_net_build(net, 2) == VD_OK) abort();
            vd_net_destroy(net);
        }
        free(cfg);
    }
    free(b);
    return 0;
}

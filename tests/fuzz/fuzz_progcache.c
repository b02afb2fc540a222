/* fuzz_progcache.c - libFuzzer harness for program cache entries (src/runtime/program.c,
 * vd_cache_entry_read): "VDBIN001" | u32 format | u64 key_len | key | u64 bin_len | binary |
 * u64 fnv(binary), read through a FILE (fmemopen) against the fixed key FUZZ_KEY. Input:
 * one flag byte, then the entry; flag bit 0 repairs the trailing checksum so mutations of
 * the binary are accepted. Whatever comes back must be exactly the bytes the entry
 * holds. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"

#define FUZZ_KEY "verdant-program-cache format 1\nfuzz-device\n-cl-std=CL1.2\nkernel void k(){}"

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > (1u << 20)) return 0;
    bool fix = data[0] & 1;
    size_t len = size - 1;
    unsigned char *b = malloc(len);
    if (!b) return 0;
    memcpy(b, data + 1, len);
    size_t klen = strlen(FUZZ_KEY), at = 8 + 4 + 8 + klen; /* bin_len field */
    uint64_t bin_len = 0;
    if (len >= at + 8) memcpy(&bin_len, b + at, 8);
    bool whole = len >= at + 8 && bin_len <= len - at - 8 && len - at - 8 - bin_len >= 8;
    if (fix && whole) {
        uint64_t sum = fnv1a(b + at + 8, (size_t)bin_len);
        memcpy(b + at + 8 + bin_len, &sum, 8);
    }
    FILE *f = fmemopen(b, len, "rb");
    if (!f) abort();
    size_t got = 0;
    unsigned char *bin = vd_cache_entry_read(f, FUZZ_KEY, &got);
    fclose(f);
    if (bin && (!whole || got != bin_len || memcmp(bin, b + at + 8, got) != 0)) abort();
    free(bin);
    free(b);
    return 0;
}

/* fuzz_common.h - what the libFuzzer harnesses share: a context that has no device (so
 * parsers and shape inference run, and every device allocation fails cleanly with
 * VD_ERR_NO_MEMORY before any OpenCL call), and CRC-32 for harnesses that repair
 * checksums so the fuzzer gets past them. Harnesses only; not a test harness. */
#ifndef VD_FUZZ_COMMON_H
#define VD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "runtime/runtime.h"

/* One zeroed context per process: no queue, no cache directory, zero device memory. */
static inline vd_context *fuzz_context(void)
{
    static vd_context *ctx;
    if (!ctx) ctx = calloc(1, sizeof(*ctx));
    return ctx;
}

static inline uint32_t fuzz_crc32(const unsigned char *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

#endif /* VD_FUZZ_COMMON_H */

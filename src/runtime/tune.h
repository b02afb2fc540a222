/* tune.h - the per-device tuning cache: small "key value" records (a conv algorithm per
 * layer shape, GEMM parameters per shape class) kept in one text file per device in the
 * context's cache directory, beside the program cache and keyed the same way (a hash of
 * the platform/device/driver names and versions, the record format, the library version
 * and the text of every kernel, so a rebuilt library with changed kernels re-measures
 * instead of trusting records taken with the old ones).
 *
 * The file, <cache_dir>/tune-<hash>.txt, is
 *   verdant-tune 1
 *   # device: <the device key>
 *   <key> <value>
 *   ...
 * Keys and values are printable ASCII without spaces, at most 127 bytes each. Lines that
 * do not parse are ignored (a damaged file is a set of misses, never an error); the last
 * record for a key wins. Writes append a line under an advisory lock (flock), so two
 * processes tuning at once both land their records. With the cache off
 * (VERDANT_CACHE_DIR=off) records live only in the context. */
#ifndef VD_RUNTIME_TUNE_H
#define VD_RUNTIME_TUNE_H

#include "runtime.h"

#define VD_TUNE_KEY_MAX 128

/* The value stored for key, copied into value (cap bytes). true when found. Loads the
 * device's file on first use. */
bool vd_tune_get(vd_context *ctx, const char *key, char *value, size_t cap);
/* Store key = value in the context and append it to the device's file (best effort: a
 * write failure is logged at verbose level, not returned, since a lost record only costs
 * a re-measurement). VD_ERR_INVALID_ARG for a key or value that is empty, too long or
 * holds spaces or control characters; VD_ERR_NO_MEMORY when the host is out of memory. */
vd_status vd_tune_put(vd_context *ctx, const char *key, const char *value);

/* Parse the text of a tuning file (len bytes, need not be NUL-terminated), calling
 * record(user, key, value) for every valid record in order. Returns the number of valid
 * records, or -1 when the header line is missing or wrong (no records are then
 * reported). Bounded: never reads past len, never allocates. The fuzz target. */
long vd_tune_parse(const char *text, size_t len,
                   void (*record)(void *user, const char *key, const char *value), void *user);

/* true when nothing may be chosen by measuring (VERDANT_TUNE=off, or a deterministic
 * context): callers take their fixed defaults and neither read nor write records. */
bool vd_tune_off(const vd_context *ctx);

/* Forget every record of this context (verdant cache clear removes the files). */
void vd_tune_reset(vd_context *ctx);

#endif /* VD_RUNTIME_TUNE_H */

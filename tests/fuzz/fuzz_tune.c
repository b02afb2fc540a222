/* fuzz_tune.c - libFuzzer harness for the tuning cache text (src/runtime/tune.c,
 * vd_tune_parse): the input is a tuning file. Every record reported must satisfy the
 * documented rules (non-empty printable ASCII key and value without spaces, under
 * VD_TUNE_KEY_MAX bytes), and the count returned must match the records reported. The
 * parser gets the bytes in an exactly sized heap buffer, so a read past len is caught. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/tune.h"

static void check_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= VD_TUNE_KEY_MAX) abort();
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i])) abort();
}

static void record(void *user, const char *key, const char *value)
{
    check_token(key);
    check_token(value);
    (*(long *)user)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    long seen = 0;
    long n = vd_tune_parse(text, size, record, &seen);
    if (n >= 0 ? n != seen : seen != 0) abort();
    free(text);
    return 0;
}

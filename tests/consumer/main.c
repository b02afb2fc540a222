/* A program outside the Verdant tree: it sees only the installed <verdant.h> and library.
 * Checks that the header and the library agree on the version and that a status string
 * resolves. Needs no OpenCL device. */
#include <stdio.h>
#include <string.h>

#include <verdant.h>

#define VD_STR2_(x) #x
#define VD_STR_(x) VD_STR2_(x)

int main(void)
{
    const char *expect = VD_STR_(VD_VERSION_MAJOR) "." VD_STR_(VD_VERSION_MINOR) "." VD_STR_(
        VD_VERSION_PATCH);
    const char *version = vd_version();
    const char *oom = vd_status_string(VD_ERR_NO_MEMORY);
    const char *ok = vd_status_string(VD_OK);

    printf("verdant %s\n", version ? version : "(null)");
    printf("VD_ERR_NO_MEMORY: %s\n", oom ? oom : "(null)");
    if (!version || strcmp(version, expect) != 0) {
        fprintf(stderr, "consumer: library version '%s' != header version '%s'\n",
                version ? version : "(null)", expect);
        return 1;
    }
    if (!oom || !ok || oom[0] == '\0' || strcmp(oom, ok) == 0) {
        fprintf(stderr, "consumer: vd_status_string gave no distinct text\n");
        return 1;
    }
    return 0;
}

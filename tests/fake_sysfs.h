/* fake_sysfs.h - a scratch directory tree standing in for /sys in the energy tests
 * (VERDANT_SYSFS_ROOT points the meters at it). Test code: a failed write ends the test. */
#ifndef VD_TESTS_FAKE_SYSFS_H
#define VD_TESTS_FAKE_SYSFS_H

/* mkdir -p root/rel */
void fake_mkdirs(const char *root, const char *rel);
/* Write text to root/rel atomically (temporary file + rename): a meter's polling thread may
 * read it at any moment. Exits the test when the file cannot be written. */
void fake_put(const char *root, const char *rel, const char *text);
/* fake_put of "v\n". */
void fake_put_u64(const char *root, const char *rel, unsigned long long v);
/* rm -rf root/rel */
void fake_remove(const char *root, const char *rel);

#endif

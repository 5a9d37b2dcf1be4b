/* Locate and load files under tests/unit/data/ for unit tests.
 * The checkout is $RW_TOP when set, else derived from this file's build path. */
#ifndef RW_TESTS_LIB_TESTDATA_H
#define RW_TESTS_LIB_TESTDATA_H

#include <stddef.h>

/* malloc'd, NUL-terminated contents of tests/unit/data/<name>; *len excludes
 * the NUL. Aborts the test program with a message naming the file when it
 * cannot be read. */
char *rw_test_data_load(const char *name, size_t *len);

#endif

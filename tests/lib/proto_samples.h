/* Valid sample messages of every wire protocol type, for tests and seeds. */
#ifndef RW_TESTS_LIB_PROTO_SAMPLES_H
#define RW_TESTS_LIB_PROTO_SAMPLES_H

#include "shared/rw_proto.h"

/* Number of variants per type: 0 = typical values, 1 = limits (longest
 * strings, most entries, all-ones fields), 2 = minimal (empty/optional parts). */
#define RW_TEST_PROTO_VARIANTS 3

/*
 * Fill *msg with a valid message of the given type and variant. Pointer fields
 * refer to static storage (valid for the program's lifetime).
 * Returns 0, or -1 for an unknown type.
 */
int rw_test_proto_sample(uint16_t type, unsigned variant, struct rw_msg *msg);

#endif

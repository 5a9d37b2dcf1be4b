// SPDX-License-Identifier: GPL-2.0
/* The checks ringwatchd runs on every VM, in this order, each pass. */
#include "host/check.h"

const struct rw_check_ops *const rw_checks[] = {
	&rw_check_vm_liveness,
	&rw_check_cr_bits,
	NULL,
};

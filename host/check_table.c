// SPDX-License-Identifier: GPL-2.0
/* The checks ringwatchd runs on every VM, in this order, each pass. */
#include "host/check.h"

const struct rw_check_ops *const rw_checks[] = {
	&rw_check_vm_liveness,
	&rw_check_kernel,	/* runs the integrity engine: before the checks below */
	&rw_check_ktext,
	&rw_check_krodata,
	&rw_check_idt,
	&rw_check_cr,
	&rw_check_syscall,
	&rw_check_msr,
	&rw_check_modules,
	NULL,
};

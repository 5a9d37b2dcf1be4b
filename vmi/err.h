/* SPDX-License-Identifier: GPL-2.0 */
/* The error convention of the host library: a distinct code returned, and a
 * human-readable message in the caller's buffer. */
#ifndef RW_VMI_ERR_H
#define RW_VMI_ERR_H

#include <stddef.h>

/* Format the message into @err (when err != NULL and errlen > 0); returns @code. */
int vmi_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

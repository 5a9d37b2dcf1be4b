// SPDX-License-Identifier: GPL-2.0
#include "vmi/err.h"

#include <stdarg.h>
#include <stdio.h>

int vmi_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

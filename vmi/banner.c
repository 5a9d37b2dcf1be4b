// SPDX-License-Identifier: GPL-2.0
#include "vmi/banner.h"

#include <string.h>

static const char banner_prefix[] = "Linux version ";

/* Length of the printable line at @p (without terminator), or 0 if not one. */
static size_t printable_line(const uint8_t *p, size_t avail)
{
	size_t n;

	for (n = 0; n < avail && n < RW_BANNER_MAX; n++) {
		if (p[n] == '\0' || p[n] == '\n')
			return n;
		if (p[n] < 0x20 || p[n] > 0x7e)
			return 0;
	}
	return 0;
}

long long vmi_find_banner(const uint8_t *mem, size_t len, size_t from, char *out,
			  size_t outlen)
{
	const size_t plen = sizeof(banner_prefix) - 1;

	while (from < len) {
		const uint8_t *hit = memmem(mem + from, len - from, banner_prefix, plen);
		size_t off, n;

		if (!hit)
			return -1;
		off = (size_t)(hit - mem);
		n = printable_line(hit, len - off);
		/* Need something after the prefix: at least a version number. */
		if (n > plen && hit[plen] >= '0' && hit[plen] <= '9') {
			if (outlen) {
				size_t c = n < outlen - 1 ? n : outlen - 1;

				memcpy(out, hit, c);
				out[c] = '\0';
			}
			return (long long)off;
		}
		from = off + 1;
	}
	return -1;
}

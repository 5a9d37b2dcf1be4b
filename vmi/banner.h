/* SPDX-License-Identifier: GPL-2.0 */
/* Locate the kernel's "Linux version ..." banner in raw guest memory. */
#ifndef RW_VMI_BANNER_H
#define RW_VMI_BANNER_H

#include <stddef.h>
#include <stdint.h>

#define RW_BANNER_MAX 512

/*
 * Find the first "Linux version " string at or after @from in @mem[0..@len)
 * that is followed by a printable, NUL- or newline-terminated line of at most
 * RW_BANNER_MAX bytes.  Copies the line into @out (NUL-terminated).
 * Returns its offset, or -1 when there is none.
 */
long long vmi_find_banner(const uint8_t *mem, size_t len, size_t from, char *out,
			  size_t outlen);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding the image of a kernel ringwatchd was not given (a VM booted from
 * its own disk, an attach without --kernel): the banner in guest RAM
 * ("Linux version RELEASE (BUILDER) (COMPILER) VERSION") is matched against
 * the images the daemon knows: catalogs already open (other VMs' images),
 * then the files of the configured search paths.
 *
 * Cheap pre-filters first, so a search decompresses at most the images that
 * match: a bzImage by the version string in its setup header
 * ("RELEASE (BUILDER) VERSION", boot protocol field kernel_version), an ELF
 * vmlinux by the banner among its bytes.  A candidate is confirmed on its
 * catalog (host/kernels.h): the catalog's banner must equal the guest's.  The
 * banner is guest data: it is only compared, never used as a path.  Bounded:
 * directories are not recursed, at most RW_KSEARCH_MAX_FILES files per search.
 */
#ifndef RW_HOST_KERNEL_SEARCH_H
#define RW_HOST_KERNEL_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

struct rw_kernels;

#define RW_KSEARCH_MAX_FILES 64

/*
 * Does the setup header of the bzImage in @hdr (its first @len bytes) name
 * the kernel of @banner?  False for anything that is not a bzImage with a
 * kernel_version string.
 */
bool rw_ksearch_header_matches(const unsigned char *hdr, size_t len, const char *banner);

/*
 * The image of the kernel whose banner is @banner.  @paths: files, or
 * directories whose entries named vmlinuz*, vmlinux* or bzImage* are
 * candidates.  Returns 0 with the path in @found, or -1 with @why (the
 * reason a human can act on: which banner, how many images were looked at,
 * where, and per-image errors).
 */
int rw_kernel_search(struct rw_kernels *k, const char *const *paths, size_t npaths,
		     const char *banner, char *found, size_t foundlen, char *why, size_t whylen);

#endif

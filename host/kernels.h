/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Daemon-wide registry of guest kernel catalogs and the integrity engine's
 * shared baseline cache.
 *
 * A catalog (vmi/kcat.h: sections, symbols, BTF of one kernel image) is
 * opened once per image file and shared by every VM that runs it; two paths
 * holding the same build share one catalog (keyed by GNU build ID). Catalogs
 * stay open until the registry is freed: the integrity cache's builds borrow
 * their symbol tables, and there is one cache per daemon, so a build's
 * baseline bytes are held once however many VMs run it.
 *
 * A file is re-read when its identity (device, inode, size, mtime) changes, so
 * an image replaced in place (package upgrade) is picked up. Bounded: at most
 * RW_KERNELS_MAX catalogs (each holds the decompressed image).
 *
 * Thread-safe: one mutex, held while a catalog is opened (rare, ~1 s), so two
 * VMs of one image never decompress it twice.
 */
#ifndef RW_HOST_KERNELS_H
#define RW_HOST_KERNELS_H

#include <stddef.h>

#include "host/integrity.h"
#include "vmi/kcat.h"

#define RW_KERNELS_MAX 16

struct rw_kernels;

struct rw_kernels *rw_kernels_new(void);
/* Frees the catalogs and the cache: every rw_integrity object must be freed before. */
void rw_kernels_free(struct rw_kernels *k);

/*
 * The catalog of the image at @path (opened on first use).  The pointer stays
 * valid until rw_kernels_free.  Returns 0, or -1 with @err (unreadable image,
 * not a kernel, too many distinct images).
 */
int rw_kernels_get(struct rw_kernels *k, const char *path, const struct vmi_kcat **out,
		   char *err, size_t errlen);

/*
 * An image already open in the registry (e.g. another VM's) whose banner is
 * exactly @banner ("Linux version ..."): 0 with its path in @path, else -1.
 */
int rw_kernels_find_banner(struct rw_kernels *k, const char *banner, char *path,
			   size_t pathlen);

/* The shared baseline cache (one per registry). */
struct rw_integrity_cache *rw_kernels_integrity_cache(struct rw_kernels *k);

/* Distinct catalogs open (tests, metrics). */
size_t rw_kernels_count(struct rw_kernels *k);

#endif

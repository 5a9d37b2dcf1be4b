/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal writer for the "newc" cpio format the kernel unpacks as initramfs.
 * Used to append an overlay directory to the kit's base initramfs.
 */
#ifndef RW_HOST_CPIO_H
#define RW_HOST_CPIO_H

#include <stddef.h>
#include <stdio.h>

/*
 * Write every file, directory and symlink under @dir (recursively, sorted,
 * paths relative to @dir, owned by root) as a newc archive with trailer to
 * @out.  Other file types are an error.  Returns 0, or -1 with @err.
 */
int rw_cpio_write_dir(FILE *out, const char *dir, char *err, size_t errlen);

#endif

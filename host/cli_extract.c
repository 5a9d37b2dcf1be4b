// SPDX-License-Identifier: GPL-2.0
/* ringwatch extract-vmlinux: the ELF kernel out of a distro bzImage. */
#include <stdio.h>

#include "host/cli.h"
#include "vmi/kimage.h"

int cli_extract_vmlinux(int argc, char **argv)
{
	char err[512];

	if (argc != 3) {
		fprintf(stderr, "usage: ringwatch extract-vmlinux BZIMAGE OUT\n");
		return RW_EXIT_USAGE;
	}
	if (vmi_kimage_extract_file(argv[1], argv[2], err, sizeof(err))) {
		fprintf(stderr, "ringwatch extract-vmlinux: %s: %s\n", argv[1], err);
		return RW_EXIT_USAGE;
	}
	return RW_EXIT_OK;
}

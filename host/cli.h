/* SPDX-License-Identifier: GPL-2.0 */
/* ringwatch CLI subcommands.  Exit status: 0 clear, 1 alert, 2 usage/connection error. */
#ifndef RW_HOST_CLI_H
#define RW_HOST_CLI_H

#include <stddef.h>

enum {
	RW_EXIT_OK = 0,
	RW_EXIT_ALERT = 1,
	RW_EXIT_USAGE = 2,
};

int cli_launch(int argc, char **argv);
int cli_extract_vmlinux(int argc, char **argv);
int cli_inspect(int argc, char **argv);

/*
 * The guest kit to use when none is given: $RINGWATCH_KIT, else
 * build/kit/$KIT_FLAVOR (default cloud-amd64) beside the running binary's build tree.
 */
int cli_default_kit(char *out, size_t outlen);

#endif

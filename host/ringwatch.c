// SPDX-License-Identifier: GPL-2.0
/* ringwatch: the operator's command line. */
#include <stdio.h>
#include <string.h>

#include "host/cli.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct subcommand subcommands[] = {
	{ "launch", cli_launch,
	  "launch NAME [--kit DIR | --kernel K --initrd I] [--memory MIB] [--cpus N]\n"
	  "         [--overlay DIR] [--machine pc|q35] [--no-kaslr] [--timeout SEC] [--exit]" },
	{ "extract-vmlinux", cli_extract_vmlinux, "extract-vmlinux BZIMAGE OUT" },
	{ "inspect", cli_inspect, "inspect --qmp SOCK --mem FILE [--kernel IMAGE] [--json]" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: ringwatch COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %s\n", subcommands[i].usage);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return RW_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return RW_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ringwatch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return RW_EXIT_USAGE;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch: the operator's command line, in the habits of virsh.
 * Exit status: 0 all clear, 1 an alert is open (named VM / any VM for list),
 * 2 usage or connection error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cli.h"

struct subcommand {
	const char *name;
	int (*run)(const struct cli_ctx *ctx, int argc, char **argv);
	int (*run_local)(int argc, char **argv);	/* no daemon involved */
	const char *usage;
};

static const struct subcommand subcommands[] = {
	{ "list", cli_list, NULL, "list [--json]" },
	{ "status", cli_status, NULL, "status VM [--json]" },
	{ "events", cli_events, NULL, "events [VM] [--since T] [--limit N] [--follow] [--json]" },
	{ "check", cli_check, NULL, "check VM [--json]" },
	{ "attach", cli_attach, NULL,
	  "attach NAME --qmp SOCK [--mem FILE] [--kernel IMAGE] [--interval DUR] [--json]" },
	{ "detach", cli_detach, NULL, "detach VM [--json]" },
	{ "launch", cli_launch, NULL,
	  "launch NAME [--kit DIR | --kernel K --initrd I | --disk D [--format F]]\n"
	  "         [--memory MIB] [--cpus N] [--overlay DIR] [--no-kaslr] [--no-reboot]\n"
	  "         [--interval DUR] [--timeout SEC] [--json]\n"
	  "         (--disk: boot the image with the firmware; kernel found by kernel-search;\n"
	  "          a guest reboot reboots it; --no-reboot: it ends QEMU)" },
	{ "destroy", cli_destroy, NULL, "destroy VM [--json]" },
	{ "resume", cli_resume, NULL, "resume VM [--json]" },
	{ "ack", cli_ack, NULL, "ack VM [--id EVENT] [--json]" },
	{ "policy", cli_policy, NULL,
	  "policy VM add|remove module-allow NAME SHA256|* | exec-deny SHA256 | env-watch VAR |"
	  " usb-mount deny|allow [--json]" },
	{ "run", NULL, cli_run,
	  "run NAME [--kit DIR | --kernel K --initrd I] [--memory MIB] [--cpus N]\n"
	  "         [--overlay DIR] [--machine pc|q35] [--no-kaslr] [--timeout SEC] [--exit]\n"
	  "         (foreground launcher, no daemon)" },
	{ "extract-vmlinux", NULL, cli_extract_vmlinux, "extract-vmlinux BZIMAGE OUT" },
	{ "inspect", NULL, cli_inspect, "inspect --qmp SOCK --mem FILE [--kernel IMAGE] [--json]" },
};
#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: ringwatch [--control PATH] [--json] COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < NSUB; i++)
		fprintf(out, "  %s\n", subcommands[i].usage);
	fprintf(out, "control socket: --control, else $RINGWATCH_CONTROL, else %s\n"
		"exit status: 0 all clear, 1 alert open, 2 usage or connection error\n",
		RW_DEFAULT_CONTROL);
}

/* Global options before the command; returns the index of the command or -1. */
static int global_opts(int argc, char **argv, struct cli_ctx *ctx)
{
	const char *env = getenv("RINGWATCH_CONTROL");
	int i = 1;

	ctx->control = env && *env ? env : RW_DEFAULT_CONTROL;
	ctx->json = false;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--json")) {
			ctx->json = true;
			i++;
		} else if (!strcmp(argv[i], "--control") && i + 1 < argc) {
			ctx->control = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--control=", 10)) {
			ctx->control = argv[i] + 10;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(RW_EXIT_OK);
		} else {
			fprintf(stderr, "ringwatch: unknown option '%s'\n", argv[i]);
			return -1;
		}
	}
	return i < argc ? i : -1;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx;
	int cmd = global_opts(argc, argv, &ctx);

	if (cmd < 0) {
		usage(stderr);
		return RW_EXIT_USAGE;
	}
	if (!strcmp(argv[cmd], "help")) {
		usage(stdout);
		return RW_EXIT_OK;
	}
	for (size_t i = 0; i < NSUB; i++) {
		if (strcmp(argv[cmd], subcommands[i].name))
			continue;
		if (subcommands[i].run_local)
			return subcommands[i].run_local(argc - cmd, argv + cmd);
		return subcommands[i].run(&ctx, argc - cmd, argv + cmd);
	}
	fprintf(stderr, "ringwatch: unknown command '%s'\n", argv[cmd]);
	usage(stderr);
	return RW_EXIT_USAGE;
}

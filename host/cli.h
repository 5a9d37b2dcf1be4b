/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch CLI subcommands.  Exit status: 0 all clear, 1 an alert is open
 * (on the named VM; for list, on any VM), 2 usage or connection error.
 */
#ifndef RW_HOST_CLI_H
#define RW_HOST_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum {
	RW_EXIT_OK = 0,
	RW_EXIT_ALERT = 1,
	RW_EXIT_USAGE = 2,
};

#define RW_DEFAULT_CONTROL "/run/ringwatch/control.sock"

/* Options every daemon-backed command takes (before or after the command). */
struct cli_ctx {
	const char *control;	/* --control, $RINGWATCH_CONTROL, or the default */
	bool json;		/* --json: machine-readable output */
};

/* Foreground launcher (no daemon): scripts and tests. */
int cli_run(int argc, char **argv);
int cli_extract_vmlinux(int argc, char **argv);
int cli_inspect(int argc, char **argv);

/* Daemon-backed commands (host/cli_daemon.c). */
int cli_list(const struct cli_ctx *ctx, int argc, char **argv);
int cli_status(const struct cli_ctx *ctx, int argc, char **argv);
int cli_events(const struct cli_ctx *ctx, int argc, char **argv);
int cli_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_attach(const struct cli_ctx *ctx, int argc, char **argv);
int cli_detach(const struct cli_ctx *ctx, int argc, char **argv);
int cli_launch(const struct cli_ctx *ctx, int argc, char **argv);
int cli_destroy(const struct cli_ctx *ctx, int argc, char **argv);
int cli_resume(const struct cli_ctx *ctx, int argc, char **argv);
int cli_ack(const struct cli_ctx *ctx, int argc, char **argv);
int cli_policy(const struct cli_ctx *ctx, int argc, char **argv);

/*
 * The guest kit to use when none is given: $RINGWATCH_KIT, else
 * build/kit/$KIT_FLAVOR (default cloud-amd64) beside the running binary's build tree.
 */
int cli_default_kit(char *out, size_t outlen);

/* --- control socket client (host/cli_client.c) ----------------------------- */
struct rw_ctl;

/* Connect; on failure prints why to stderr and returns NULL. */
struct rw_ctl *rw_ctl_connect(const char *path);
/*
 * Send @req (reference stolen) and read the response line (bounded by
 * @timeout_ms; < 0 waits forever).  Returns the response object, or NULL
 * after printing the I/O failure.
 */
json_t *rw_ctl_call(struct rw_ctl *c, json_t *req, int timeout_ms);
/* Next streamed line (events --follow); NULL at EOF. */
json_t *rw_ctl_next(struct rw_ctl *c, int timeout_ms);
void rw_ctl_close(struct rw_ctl *c);

#endif

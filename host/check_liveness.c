// SPDX-License-Identifier: GPL-2.0
/*
 * vm-liveness: QEMU answers on QMP and the guest runs.  A paused VM is an
 * alert unless ringwatch paused it itself (a "pause" or "dump" response).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/check.h"
#include "vmi/qmp.h"

/* Run states that mean the guest stopped doing its job. */
static bool status_is_failure(const char *status)
{
	static const char *const bad[] = {
		"internal-error", "io-error", "shutdown", "guest-panicked", "watchdog",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!strcmp(status, bad[i]))
			return true;
	return false;
}

static void judge_status(struct rw_check_ctx *ctx, const char *status,
			 struct rw_check_result *res)
{
	if (!strcmp(status, "running")) {
		*ctx->run_state = RW_RUN_RUNNING;
		rw_check_set(res, RW_RESULT_OK, "qmp", "running");
		return;
	}
	if (!strcmp(status, "paused")) {
		*ctx->run_state = RW_RUN_PAUSED;
		if (ctx->vm->paused_by_ringwatch)
			rw_check_set(res, RW_RESULT_OK, "qmp", "paused by ringwatch (response)");
		else
			rw_check_set(res, RW_RESULT_ALERT, "qmp", "paused, not by ringwatch");
		return;
	}
	*ctx->run_state = RW_RUN_OTHER;
	if (status_is_failure(status))
		rw_check_set(res, RW_RESULT_ALERT, "qmp", "run state '%s'", status);
	else
		rw_check_set(res, RW_RESULT_UNKNOWN, "qmp", "run state '%s'", status);
}

static int liveness_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	char err[256];
	struct rw_qmp *qmp = rw_check_qmp(ctx, err, sizeof(err));
	char *status;

	if (!qmp) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "QMP not answering: %s", err);
		return 0;
	}
	status = rw_qmp_status(qmp, ctx->qmp_timeout_ms, err, sizeof(err));
	if (!status) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "query-status: %s", err);
		return 0;
	}
	if (strlen(status) > 64)
		status[64] = '\0';	/* bounded in messages */
	judge_status(ctx, status, res);
	if (res->result != RW_RESULT_OK || *ctx->run_state != RW_RUN_RUNNING)
		rw_check_add_finding(res, json_pack("{s:s,s:b}", "status", status,
						    "paused_by_ringwatch",
						    ctx->vm->paused_by_ringwatch));
	free(status);
	return 0;
}

const struct rw_check_ops rw_check_vm_liveness = {
	.name = "vm-liveness",
	.description = "QEMU answers on QMP and the guest is running (or paused by ringwatch)",
	.run = liveness_run,
};

// SPDX-License-Identifier: GPL-2.0
#include "host/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmi/qmp.h"

const char *rw_result_name(enum rw_result r)
{
	switch (r) {
	case RW_RESULT_OK: return "ok";
	case RW_RESULT_ALERT: return "alert";
	case RW_RESULT_UNKNOWN: return "unknown";
	case RW_RESULT_ERROR: return "error";
	}
	return "?";
}

size_t rw_check_count(const struct rw_check_ops *const *table)
{
	size_t n = 0;

	while (table[n])
		n++;
	return n;
}

struct rw_qmp *rw_check_qmp(struct rw_check_ctx *ctx, char *err, size_t errlen)
{
	if (!*ctx->qmp && !ctx->qmp_err[0]) {
		if (rw_qmp_connect(ctx->vm->qmp_path, ctx->qmp_timeout_ms, ctx->qmp,
				   ctx->qmp_err, ctx->qmp_errlen)) {
			*ctx->qmp = NULL;
			if (!ctx->qmp_err[0])
				snprintf(ctx->qmp_err, ctx->qmp_errlen, "QMP connect failed");
		}
	}
	if (!*ctx->qmp)
		snprintf(err, errlen, "%s", ctx->qmp_err);
	return *ctx->qmp;
}

int rw_check_event(struct rw_check_ctx *ctx, const char *check, const char *source,
		   enum rw_check_level level, json_t *detail)
{
	if (!ctx->host || !ctx->host->emit)
		return -1;
	return ctx->host->emit(ctx->host->arg, check, source, level, detail);
}

void *rw_check_peer_state(struct rw_check_ctx *ctx, const struct rw_check_ops *ops)
{
	if (!ctx->host || !ctx->host->peer_state)
		return NULL;
	return ctx->host->peer_state(ctx->host->arg, ops);
}

void rw_check_set(struct rw_check_result *res, enum rw_result result, const char *source,
		  const char *fmt, ...)
{
	va_list ap;

	res->result = result;
	snprintf(res->source, sizeof(res->source), "%s", source);
	va_start(ap, fmt);
	vsnprintf(res->summary, sizeof(res->summary), fmt, ap);
	va_end(ap);
}

void rw_check_add_finding(struct rw_check_result *res, json_t *finding)
{
	if (!finding)
		return;
	if (!res->findings)
		res->findings = json_array();
	if (!res->findings || json_array_size(res->findings) >= RW_CHECK_MAX_FINDINGS) {
		json_decref(finding);
		return;
	}
	json_array_append_new(res->findings, finding);
}

void rw_check_result_init(struct rw_check_result *res)
{
	memset(res, 0, sizeof(*res));
	res->result = RW_RESULT_UNKNOWN;
}

void rw_check_result_clear(struct rw_check_result *res)
{
	json_decref(res->findings);
	rw_check_result_init(res);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Responses to events, per the "respond" rules of the configuration:
 *   log          nothing beyond the event itself (stored, JSON lines, syslog)
 *   pause        QMP stop; the VM is marked paused-by-ringwatch so vm-liveness
 *                does not raise an alert for our own pause
 *   dump         QMP dump-guest-memory (ELF) into <state>/dumps/, then pause
 *   push-policy  hand a policy change to the channel; without a channel the
 *                intent is recorded
 * Each response is itself an event (source "ringwatchd", check "response").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "host/daemon.h"
#include "vmi/qmp.h"

#define DUMP_POLL_MS 200

struct response {
	struct rw_daemon *d;
	char vm[64];
	char qmp[300];
	const char *check;
	enum rw_severity sev;
	int64_t trigger;
};

static void response_event(struct response *r, const char *action, bool ok, json_t *detail)
{
	char err[256];

	json_object_set_new(detail, "action", json_string(action));
	json_object_set_new(detail, "result", json_string(ok ? "done" : "failed"));
	json_object_set_new(detail, "trigger_event", json_integer(r->trigger));
	json_object_set_new(detail, "trigger_check", json_string(r->check));
	if (rw_daemon_event(r->d, r->vm, "ringwatchd", "response", ok ? RW_SEV_INFO : RW_SEV_ERROR,
			    detail, err, sizeof(err)) < 0)
		rw_daemon_log(r->d, LOG_ERR, "response event for %s: %s", r->vm, err);
	json_decref(detail);
}

/* Mark (or unmark) the VM as paused by us; false when it is gone or unknown. */
static bool set_paused_mark(struct rw_daemon *d, const char *name, bool paused)
{
	struct rw_dvm *vm;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm && vm->state == RW_DVM_ACTIVE) {
		vm->rec.paused_by_us = paused;
		vm->refs++;
	} else {
		vm = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	if (!vm)
		return false;
	rw_dvm_persist(d, vm);
	rw_dvm_put(d, vm);
	return true;
}

static int qmp_simple(struct response *r, const char *cmd, json_t *args, int timeout_ms,
		      char *err, size_t errlen)
{
	struct rw_qmp *qmp;
	json_t *ret;

	if (rw_qmp_connect(r->qmp, (int)r->d->cfg->qmp_timeout_ms, &qmp, err, errlen)) {
		json_decref(args);
		return -1;
	}
	ret = rw_qmp_execute(qmp, cmd, args, timeout_ms, err, errlen);
	rw_qmp_close(qmp);
	json_decref(ret);
	return ret ? 0 : -1;
}

static bool do_pause(struct response *r)
{
	char err[256] = "";
	bool ok;

	if (!set_paused_mark(r->d, r->vm, true))
		return false;
	ok = qmp_simple(r, "stop", NULL, (int)r->d->cfg->qmp_timeout_ms, err, sizeof(err)) == 0;
	if (!ok)
		set_paused_mark(r->d, r->vm, false);
	response_event(r, "pause", ok, ok ? json_object() : json_pack("{s:s}", "error", err));
	return ok;
}

/* Poll query-dump until the detached dump completes, fails or times out. */
static int wait_dump(struct rw_qmp *qmp, int64_t deadline, int timeout_ms, json_int_t *bytes,
		     char *err, size_t errlen)
{
	while (rw_mono_ms() < deadline) {
		json_t *ret = rw_qmp_execute(qmp, "query-dump", NULL, timeout_ms, err, errlen);
		const char *status = ret ? json_string_value(json_object_get(ret, "status")) : NULL;

		if (!ret)
			return -1;
		*bytes = json_integer_value(json_object_get(ret, "completed"));
		if (status && !strcmp(status, "completed")) {
			json_decref(ret);
			return 0;
		}
		if (!status || strcmp(status, "active")) {
			snprintf(err, errlen, "dump status '%s'", status ? status : "?");
			json_decref(ret);
			return -1;
		}
		json_decref(ret);
		usleep(DUMP_POLL_MS * 1000);
	}
	snprintf(err, errlen, "dump not finished in time");
	return -1;
}

static int dump_to(struct response *r, const char *path, json_int_t *bytes, char *err,
		   size_t errlen)
{
	int timeout = (int)r->d->cfg->qmp_timeout_ms;
	int64_t deadline = rw_mono_ms() + r->d->cfg->dump_timeout_ms;
	char proto[900];
	struct rw_qmp *qmp;
	json_t *ret;
	int rc;

	if (rw_qmp_connect(r->qmp, timeout, &qmp, err, errlen))
		return -1;
	snprintf(proto, sizeof(proto), "file:%s", path);
	ret = rw_qmp_execute(qmp, "dump-guest-memory",
			     json_pack("{s:b,s:s,s:b}", "paging", 0, "protocol", proto, "detach", 1),
			     timeout, err, errlen);
	rc = ret ? wait_dump(qmp, deadline, timeout, bytes, err, errlen) : -1;
	json_decref(ret);
	rw_qmp_close(qmp);
	return rc;
}

static void do_dump(struct response *r)
{
	char dir[700], path[800], err[1024] = "";
	json_int_t bytes = 0;
	bool ok;

	snprintf(dir, sizeof(dir), "%s/dumps", r->d->state_dir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, sizeof(err), "%s: %s", dir, strerror(errno));
		ok = false;
	} else {
		snprintf(path, sizeof(path), "%s/%s-event%lld.elf", dir, r->vm, (long long)r->trigger);
		/* Our own dump stops the VM while it runs: not an alert. */
		if (!set_paused_mark(r->d, r->vm, true))
			return;
		ok = dump_to(r, path, &bytes, err, sizeof(err)) == 0;
	}
	response_event(r, "dump", ok, ok ? json_pack("{s:s,s:I}", "path", path, "bytes", bytes) :
		       json_pack("{s:s}", "error", err));
	do_pause(r);
}

static void do_push_policy(struct response *r)
{
	json_t *policy = json_pack("{s:s,s:s,s:I}", "reason", r->check, "severity",
				   rw_severity_name(r->sev), "trigger_event", (json_int_t)r->trigger);
	char err[256] = "";

	if (!r->d->push_policy) {
		response_event(r, "push-policy", true,
			       json_pack("{s:b,s:s,s:O}", "delivered", 0, "note",
					 "no guest channel attached: intent recorded", "policy",
					 policy));
	} else {
		int rc = r->d->push_policy(r->d->push_policy_arg, r->vm, policy, err, sizeof(err));

		response_event(r, "push-policy", rc == 0,
			       rc == 0 ? json_pack("{s:b,s:O}", "delivered", 1, "policy", policy) :
			       json_pack("{s:b,s:s,s:O}", "delivered", 0, "error", err, "policy",
					 policy));
	}
	json_decref(policy);
}

void rw_respond(struct rw_daemon *d, const char *vm, const char *check,
		enum rw_severity sev, int64_t event_id)
{
	unsigned int actions = rw_config_actions(d->cfg, check, sev);
	struct response r = { .d = d, .check = check, .sev = sev, .trigger = event_id };
	struct rw_dvm *dvm;

	if (!(actions & (RW_ACT_PAUSE | RW_ACT_DUMP | RW_ACT_PUSH_POLICY)))
		return;
	pthread_mutex_lock(&d->lock);
	dvm = rw_dvm_find_locked(d, vm);
	if (dvm) {
		snprintf(r.vm, sizeof(r.vm), "%s", dvm->rec.name);
		snprintf(r.qmp, sizeof(r.qmp), "%s", dvm->rec.qmp);
	}
	pthread_mutex_unlock(&d->lock);
	if (!dvm)
		return;
	rw_daemon_log(d, LOG_NOTICE, "responding to event %lld (%s on %s)", (long long)event_id,
		      check, vm);
	if (actions & RW_ACT_PUSH_POLICY)
		do_push_policy(&r);
	if (actions & RW_ACT_DUMP)
		do_dump(&r);
	else if (actions & RW_ACT_PAUSE)
		do_pause(&r);
}

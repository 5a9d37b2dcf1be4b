// SPDX-License-Identifier: GPL-2.0
/* ringwatchd core: lifecycle, registry, event pipeline, JSON views. */
#include "host/daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "host/daemon_channel.h"
#include "host/daemon_metrics.h"
#include "host/daemon_output.h"
#include "host/daemon_spawn.h"
#include "host/kernels.h"
#include "host/launcher.h"

int64_t rw_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *rw_derr_code(int rc)
{
	switch (-rc) {
	case RW_DERR_UNKNOWN_VM: return "unknown-vm";
	case RW_DERR_EXISTS: return "exists";
	case RW_DERR_BAD_REQUEST: return "bad-request";
	case RW_DERR_BUSY: return "busy";
	case RW_DERR_TIMEOUT: return "timeout";
	default: return "failed";
	}
}

bool rw_vm_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 48 || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

void rw_daemon_log(struct rw_daemon *d, int prio, const char *fmt, ...)
{
	char msg[1024], when[40];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->log_to_stderr) {
		rw_format_time(rw_now_ms(), when, sizeof(when));
		fprintf(stderr, "%s ringwatchd: %s\n", when, msg);
	}
	if (d->cfg->syslog)
		syslog(prio, "%s", msg);
}

/* --- registry ------------------------------------------------------------ */

struct rw_dvm *rw_dvm_find_locked(struct rw_daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nvms; i++)
		if (!strcmp(d->vms[i]->rec.name, name))
			return d->vms[i];
	return NULL;
}

static void dvm_free(struct rw_daemon *d, struct rw_dvm *vm)
{
	for (size_t i = 0; i < vm->nchecks; i++)
		if (vm->checks[i].state && d->checks[i]->free_state)
			d->checks[i]->free_state(vm->checks[i].state);
	if (vm->launched) {
		rw_vm_stop(vm->launched);
		free(vm->launched);
	}
	rw_dvm_stop_vsockd(&vm->vsockd_pid);
	free(vm);
}

void rw_dvm_put(struct rw_daemon *d, struct rw_dvm *vm)
{
	bool last;

	pthread_mutex_lock(&d->lock);
	last = --vm->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		dvm_free(d, vm);
}

struct rw_dvm *rw_dvm_new(struct rw_daemon *d, const char *name)
{
	struct rw_dvm *vm = calloc(1, sizeof(*vm) + d->nchecks * sizeof(vm->checks[0]));

	if (!vm)
		return NULL;
	snprintf(vm->rec.name, sizeof(vm->rec.name), "%s", name);
	vm->nchecks = d->nchecks;
	vm->refs = 1;
	for (size_t i = 0; i < vm->nchecks; i++)
		vm->checks[i].result = RW_RESULT_UNKNOWN;
	return vm;
}

/* Add to the registry (d->lock held); the registry owns the caller's ref. */
int rw_dvm_add_locked(struct rw_daemon *d, struct rw_dvm *vm)
{
	if (d->nvms == d->capvms) {
		size_t ncap = d->capvms ? d->capvms * 2 : 16;
		struct rw_dvm **n = realloc(d->vms, ncap * sizeof(*n));

		if (!n)
			return -1;
		d->vms = n;
		d->capvms = ncap;
	}
	d->vms[d->nvms++] = vm;
	return 0;
}

/* Remove from the registry (d->lock held); the caller gets the registry's ref. */
void rw_dvm_remove_locked(struct rw_daemon *d, struct rw_dvm *vm)
{
	for (size_t i = 0; i < d->nvms; i++) {
		if (d->vms[i] == vm) {
			memmove(&d->vms[i], &d->vms[i + 1], (d->nvms - i - 1) * sizeof(d->vms[0]));
			d->nvms--;
			vm->removed = true;
			return;
		}
	}
}

int rw_dvm_persist(struct rw_daemon *d, struct rw_dvm *vm)
{
	struct rw_store_vm rec;
	char err[256];

	pthread_mutex_lock(&d->lock);
	if (vm->removed) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	vm->rec.changed_ms = rw_now_ms();
	rec = vm->rec;
	pthread_mutex_unlock(&d->lock);
	if (rw_store_vm_put(d->store, &rec, err, sizeof(err))) {
		rw_daemon_log(d, LOG_ERR, "storing VM %s: %s", rec.name, err);
		return -1;
	}
	return 0;
}

void rw_dvm_mark_gone(struct rw_daemon *d, struct rw_dvm *vm, const char *why)
{
	char name[64], err[256];

	pthread_mutex_lock(&d->lock);
	if (vm->state == RW_DVM_GONE || vm->removed) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	vm->state = RW_DVM_GONE;
	snprintf(vm->rec.state, sizeof(vm->rec.state), "gone");
	snprintf(name, sizeof(name), "%s", vm->rec.name);
	pthread_cond_broadcast(&d->pass_cond);
	pthread_mutex_unlock(&d->lock);
	rw_dvm_persist(d, vm);
	json_t *detail = json_pack("{s:s}", "reason", why);

	if (rw_daemon_event(d, name, "ringwatchd", "lifecycle", RW_SEV_WARNING, detail, err,
			    sizeof(err)) < 0)
		rw_daemon_log(d, LOG_ERR, "event for %s: %s", name, err);
	json_decref(detail);
	rw_daemon_log(d, LOG_WARNING, "VM %s gone: %s", name, why);
}

void rw_dvm_reset_checks(struct rw_daemon *d, struct rw_dvm *vm)
{
	for (size_t i = 0; i < vm->nchecks; i++) {
		if (vm->checks[i].state && d->checks[i]->free_state)
			d->checks[i]->free_state(vm->checks[i].state);
		memset(&vm->checks[i], 0, sizeof(vm->checks[i]));
		vm->checks[i].result = RW_RESULT_UNKNOWN;
	}
}

/* --- events ---------------------------------------------------------------- */

void rw_daemon_announce(struct rw_daemon *d, int64_t id, int64_t time_ms, const char *vm,
			const char *source, const char *check, enum rw_severity sev,
			json_t *detail)
{
	json_t *ev = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)id, "vm", vm,
			       "time_ms", (json_int_t)time_ms, "source", source, "check", check,
			       "severity", rw_severity_name(sev), "detail",
			       detail ? json_incref(detail) : json_object());

	if (ev)
		rw_outputs_event(d->out, ev);
	json_decref(ev);
	rw_metrics_event(d->metrics, sev);
	pthread_mutex_lock(&d->lock);
	if (id > d->last_event_id)
		d->last_event_id = id;
	pthread_cond_broadcast(&d->event_cond);
	pthread_mutex_unlock(&d->lock);
}

int64_t rw_daemon_event(struct rw_daemon *d, const char *vm, const char *source,
			const char *check, enum rw_severity sev, json_t *detail, char *err,
			size_t errlen)
{
	int64_t time_ms = 0;
	int64_t id = rw_store_append_event(d->store, vm, source, check, sev, detail, &time_ms,
					   err, errlen);

	if (id < 0)
		return -1;
	rw_daemon_announce(d, id, time_ms, vm, source, check, sev, detail);
	/* Lifecycle and response events are ringwatchd's own: they never trigger responses. */
	if (strcmp(source, "ringwatchd"))
		rw_respond(d, vm, check, sev, id);
	return id;
}

/* --- JSON views ------------------------------------------------------------ */

static const char *vm_state_name(const struct rw_dvm *vm, int64_t open_alerts)
{
	bool unknown = false;

	if (vm->state == RW_DVM_GONE)
		return "gone";
	if (open_alerts > 0)
		return "alert";
	for (size_t i = 0; i < vm->nchecks; i++) {
		if (vm->checks[i].ran && vm->checks[i].result == RW_RESULT_ALERT)
			return "alert";
		if (!vm->checks[i].ran ||
		    (vm->checks[i].result != RW_RESULT_OK && !vm->checks[i].unavailable))
			unknown = true;
	}
	return unknown || vm->state != RW_DVM_ACTIVE ? "unknown" : "ok";
}

static json_t *time_json(int64_t ms)
{
	char when[40];

	if (!ms)
		return json_null();
	rw_format_time(ms, when, sizeof(when));
	return json_string(when);
}

static json_t *checks_json(struct rw_daemon *d, const struct rw_dvm *vm)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < vm->nchecks; i++) {
		const struct rw_dvm_check *c = &vm->checks[i];

		json_array_append_new(arr, json_pack(
			"{s:s,s:s,s:s,s:s,s:o,s:I,s:f,s:b}", "check", d->checks[i]->name,
			"result", c->ran ? rw_result_name(c->result) : "unknown",
			"source", c->source, "summary", c->ran ? c->summary : "not run yet",
			"time", time_json(c->time_ms), "time_ms", (json_int_t)c->time_ms,
			"duration_ms", c->duration_s * 1000.0,
			"unavailable", c->ran && c->unavailable));
	}
	return arr;
}

static const char *kernel_label(const struct rw_store_vm *rec)
{
	const char *slash;

	if (rec->kernel_version[0])
		return rec->kernel_version;
	slash = strrchr(rec->kernel, '/');
	return slash ? slash + 1 : rec->kernel;
}

/* One VM as JSON (d->lock held). */
static json_t *vm_json_locked(struct rw_daemon *d, const struct rw_dvm *vm, int64_t open_alerts,
			      bool with_checks)
{
	json_t *failing = json_array(), *o;

	for (size_t i = 0; i < vm->nchecks; i++)
		if (vm->checks[i].ran && (vm->checks[i].result == RW_RESULT_ALERT ||
					  vm->checks[i].result == RW_RESULT_ERROR))
			json_array_append_new(failing, json_string(d->checks[i]->name));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:I,s:o,s:I,s:b,s:I,s:s}",
		      "name", vm->rec.name, "state", vm_state_name(vm, open_alerts),
		      "phase", vm->state == RW_DVM_STARTING ? "starting" :
		      vm->state == RW_DVM_GONE ? "gone" : "active",
		      "kind", vm->rec.kind, "kernel", kernel_label(&vm->rec),
		      "kernel_image", vm->rec.kernel, "qmp", vm->rec.qmp,
		      "interval_ms", (json_int_t)(vm->rec.interval_ms ? vm->rec.interval_ms :
						   rw_config_interval(d->cfg, vm->rec.name)),
		      "last_check", time_json(vm->last_pass_ms),
		      "last_check_ms", (json_int_t)vm->last_pass_ms,
		      "failing", failing, "open_alerts", (json_int_t)open_alerts,
		      "paused_by_ringwatch", vm->rec.paused_by_us,
		      "passes", (json_int_t)vm->passes_done, "mem", vm->rec.mem);
	if (o && vm->rec.pid)
		json_object_set_new(o, "qemu_pid", json_integer(vm->rec.pid));
	if (o && with_checks)
		json_object_set_new(o, "checks", checks_json(d, vm));
	return o;
}

/* Open alerts per VM name, read before taking d->lock (the store has its own lock). */
static int64_t open_alerts_of(struct rw_daemon *d, const char *name)
{
	int64_t n = rw_store_open_alerts(d->store, name);

	return n < 0 ? 0 : n;
}

json_t *rw_daemon_list_json(struct rw_daemon *d)
{
	json_t *arr = json_array();
	char (*names)[64] = NULL;
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->nvms;
	names = calloc(n ? n : 1, sizeof(*names));
	for (size_t i = 0; names && i < n; i++)
		snprintf(names[i], sizeof(names[i]), "%s", d->vms[i]->rec.name);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; names && i < n; i++) {
		int rc;
		json_t *o = rw_daemon_vm_json(d, names[i], true, &rc);

		if (o)	/* detached meanwhile: skip */
			json_array_append_new(arr, o);
	}
	free(names);
	return arr;
}

json_t *rw_daemon_vm_json(struct rw_daemon *d, const char *name, bool with_checks, int *rc)
{
	int64_t open_alerts = open_alerts_of(d, name);
	struct rw_dvm *vm;
	json_t *o = NULL;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm)
		o = vm_json_locked(d, vm, open_alerts, with_checks);
	pthread_mutex_unlock(&d->lock);
	if (o) {
		json_t *health = rw_dchan_vm_health(d->chan, name), *states = NULL;
		char err[256];

		if (with_checks && rw_store_channel_states(d->store, name, &states, err,
							   sizeof(err)) == 0)
			json_object_set_new(health, "state", states);
		json_object_set_new(o, "channel", health);
	}
	*rc = vm ? (o ? 0 : -RW_DERR_FAILED) : -RW_DERR_UNKNOWN_VM;
	return o;
}

/* --- start / stop ---------------------------------------------------------- */

/* A launched VM's run dir survives a kill -9 of the daemon: remove it if it is ours. */
static void remove_stale_run_dir(struct rw_daemon *d, const char *dir)
{
	char prefix[600], cmd[1200];

	snprintf(prefix, sizeof(prefix), "%s/run/ringwatch-", d->state_dir);
	if (!dir[0] || strncmp(dir, prefix, strlen(prefix)) || strstr(dir, "..") ||
	    strchr(dir, '\''))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		rw_daemon_log(d, LOG_WARNING, "could not remove stale run dir %s", dir);
}

static void load_check_status(struct rw_daemon *d, struct rw_dvm *vm)
{
	struct rw_store_check *rows = NULL;
	size_t n = 0;
	char err[256];

	if (rw_store_check_list(d->store, vm->rec.name, &rows, &n, err, sizeof(err)))
		return;
	for (size_t r = 0; r < n; r++) {
		for (size_t i = 0; i < vm->nchecks; i++) {
			struct rw_dvm_check *c = &vm->checks[i];

			if (strcmp(rows[r].check, d->checks[i]->name))
				continue;
			for (int res = 0; res < 4; res++)
				if (!strcmp(rows[r].result, rw_result_name((enum rw_result)res)))
					c->result = (enum rw_result)res;
			snprintf(c->source, sizeof(c->source), "%s", rows[r].source);
			snprintf(c->summary, sizeof(c->summary), "%s", rows[r].summary);
			c->time_ms = rows[r].time_ms;
			c->ran = c->persisted = true;
		}
	}
	free(rows);
}

static int load_vms(struct rw_daemon *d, char *err, size_t errlen)
{
	struct rw_store_vm *recs = NULL;
	size_t n = 0;

	if (rw_store_vm_list(d->store, &recs, &n, err, errlen))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct rw_dvm *vm = rw_dvm_new(d, recs[i].name);
		bool was_active = !strcmp(recs[i].state, "active");

		if (!vm || rw_dvm_add_locked(d, vm)) {
			free(vm);
			free(recs);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		vm->rec = recs[i];
		load_check_status(d, vm);
		vm->state = was_active ? RW_DVM_ACTIVE : RW_DVM_GONE;
		vm->due_now = true;
		if (!strcmp(vm->rec.kind, "launched")) {
			/* Its QEMU died with the previous daemon (parent-death signal). */
			remove_stale_run_dir(d, vm->rec.run_dir);
			vm->rec.run_dir[0] = '\0';
			vm->rec.pid = 0;
			if (was_active)
				rw_dvm_mark_gone(d, vm, "ringwatchd restarted: the QEMU it launched "
						 "did not survive the previous daemon");
		}
	}
	free(recs);
	return 0;
}

static int start_services(struct rw_daemon *d, char *err, size_t errlen)
{
	if (rw_outputs_open(d->cfg->json_log, d->cfg->syslog, &d->out, err, errlen))
		return -1;
	d->metrics = rw_metrics_new(d->checks, d->nchecks);
	if (!d->metrics) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (d->cfg->metrics[0] && rw_metrics_listen(d, d->cfg->metrics, err, errlen))
		return -1;
	if (rw_spawner_start(&d->spawner, err, errlen))
		return -1;
	d->kernels = rw_kernels_new();
	if (!d->kernels) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return rw_dchan_start(d, err, errlen);
}

int rw_daemon_start(const struct rw_daemon_opts *opts, struct rw_daemon **out, char *err,
		    size_t errlen)
{
	struct rw_daemon *d = calloc(1, sizeof(*d));
	char run[700];

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->sched_cond, NULL);
	pthread_cond_init(&d->queue_cond, NULL);
	pthread_cond_init(&d->pass_cond, NULL);
	pthread_cond_init(&d->event_cond, NULL);
	d->cfg = opts->cfg;
	d->checks = opts->checks ? opts->checks : rw_checks;
	d->nchecks = rw_check_count(d->checks);
	d->log_to_stderr = opts->log_to_stderr;
	if ((size_t)snprintf(d->state_dir, sizeof(d->state_dir), "%s", opts->state_dir) >=
	    sizeof(d->state_dir) - 64) {
		snprintf(err, errlen, "state directory path too long");
		free(d);
		return -1;
	}
	snprintf(run, sizeof(run), "%s/run", d->state_dir);
	if ((mkdir(run, 0700) && errno != EEXIST)) {
		snprintf(err, errlen, "%s: %s", run, strerror(errno));
		free(d);
		return -1;
	}
	if (rw_store_open(d->state_dir, &d->store, err, errlen) ||
	    start_services(d, err, errlen) || load_vms(d, err, errlen) ||
	    rw_sched_start(d, err, errlen)) {
		rw_daemon_stop(d);
		return -1;
	}
	d->last_event_id = rw_store_last_event_id(d->store);
	*out = d;
	return 0;
}

/* Stop every VM the daemon launched (before the spawner thread exits and kills them). */
static void stop_launched(struct rw_daemon *d)
{
	for (;;) {
		struct rw_dvm *vm = NULL;
		struct rw_vm *qemu;
		int vsockd = 0;

		pthread_mutex_lock(&d->lock);
		for (size_t i = 0; i < d->nvms && !vm; i++)
			if (d->vms[i]->launched)
				vm = d->vms[i];
		qemu = vm ? vm->launched : NULL;
		if (vm) {
			vm->launched = NULL;
			vsockd = vm->vsockd_pid;
			vm->vsockd_pid = 0;
		}
		pthread_mutex_unlock(&d->lock);
		if (!vm)
			return;
		rw_vm_stop(qemu);
		free(qemu);
		rw_dvm_stop_vsockd(&vsockd);
		rw_dvm_mark_gone(d, vm, "ringwatchd stopped: the VM it launched was stopped");
	}
}

void rw_daemon_stop(struct rw_daemon *d)
{
	if (!d)
		return;
	rw_sched_stop(d);
	rw_dchan_stop(d);
	if (d->store)
		stop_launched(d);
	rw_spawner_stop(d->spawner);
	rw_metrics_free(d->metrics);
	d->metrics = NULL;
	for (size_t i = 0; i < d->nvms; i++)
		rw_dvm_put(d, d->vms[i]);
	free(d->vms);
	rw_kernels_free(d->kernels);	/* after every VM's check state */
	rw_outputs_close(d->out);
	rw_store_close(d->store);
	rw_daemon_free_configs(d);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->sched_cond);
	pthread_cond_destroy(&d->queue_cond);
	pthread_cond_destroy(&d->pass_cond);
	pthread_cond_destroy(&d->event_cond);
	free(d);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler and worker pool.  Each VM has at most one pass in flight; the
 * scheduler queues a pass when a VM is due (its interval after the start of
 * its previous pass) or asked for one, and N workers run passes.  A VM whose
 * QEMU hangs holds one worker for at most the QMP timeout per call, and its
 * own schedule only: the others keep theirs.
 */
#include "host/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "host/daemon_metrics.h"
#include "host/kernel_search.h"
#include "host/launcher.h"
#include "vmi/banner.h"
#include "vmi/qmp.h"

#define SCHED_MAX_SLEEP_MS 1000
#define MAX_WORKERS 64
/* Largest RAM scanned for the kernel banner (bigger guests: first 64 GiB). */
#define BANNER_SCAN_MAX (64ull << 30)

static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(cond, lock, &ts);
}

void rw_sched_kick(struct rw_daemon *d)
{
	pthread_cond_signal(&d->sched_cond);
}

static unsigned int vm_interval(struct rw_daemon *d, const struct rw_dvm *vm)
{
	return vm->rec.interval_ms ? vm->rec.interval_ms : rw_config_interval(d->cfg, vm->rec.name);
}

static int enqueue_locked(struct rw_daemon *d, struct rw_dvm *vm)
{
	if (d->qlen == d->qcap) {
		size_t ncap = d->qcap ? d->qcap * 2 : 16;
		struct rw_dvm **nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return -1;
		for (size_t i = 0; i < d->qlen; i++)
			nq[i] = d->queue[(d->qhead + i) % d->qcap];
		free(d->queue);
		d->queue = nq;
		d->qcap = ncap;
		d->qhead = 0;
	}
	d->queue[(d->qhead + d->qlen) % d->qcap] = vm;
	d->qlen++;
	return 0;
}

static struct rw_dvm *dequeue_locked(struct rw_daemon *d)
{
	struct rw_dvm *vm = d->queue[d->qhead];

	d->qhead = (d->qhead + 1) % d->qcap;
	d->qlen--;
	return vm;
}

/* Queue every due VM; returns how long the scheduler may sleep. */
static int64_t schedule_due_locked(struct rw_daemon *d)
{
	int64_t now = rw_mono_ms(), sleep_ms = SCHED_MAX_SLEEP_MS;

	for (size_t i = 0; i < d->nvms; i++) {
		struct rw_dvm *vm = d->vms[i];

		if (vm->state != RW_DVM_ACTIVE || vm->in_flight || vm->busy)
			continue;
		if (vm->due_now || now >= vm->next_due) {
			if (enqueue_locked(d, vm))
				continue;	/* out of memory: retried next round */
			vm->in_flight = true;
			vm->due_now = false;
			vm->passes_started++;
			vm->refs++;
			pthread_cond_signal(&d->queue_cond);
		} else if (vm->next_due - now < sleep_ms) {
			sleep_ms = vm->next_due - now;
		}
	}
	return sleep_ms;
}

static void *sched_main(void *arg)
{
	struct rw_daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		int64_t sleep_ms = schedule_due_locked(d);

		if (sleep_ms > 0 && !d->stopping)
			timed_wait(&d->sched_cond, &d->lock, sleep_ms);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* --- one pass --------------------------------------------------------------- */

struct pass_vm {
	char name[64];
	char qmp[300];
	char mem[300];
	char kernel[512];
	char kernel_why[400];
	bool need_version;
	bool need_image;		/* no kernel image given: search the known ones */
	bool launched;
	int mem_fd;
	uint64_t mem_size;
	struct rw_check_vm view;
};

static void snapshot_vm(struct rw_daemon *d, struct rw_dvm *vm, struct pass_vm *p)
{
	pthread_mutex_lock(&d->lock);
	snprintf(p->name, sizeof(p->name), "%s", vm->rec.name);
	snprintf(p->qmp, sizeof(p->qmp), "%s", vm->rec.qmp);
	snprintf(p->mem, sizeof(p->mem), "%s", vm->rec.mem);
	snprintf(p->kernel, sizeof(p->kernel), "%s", vm->rec.kernel);
	p->need_version = !vm->rec.kernel_version[0];
	p->need_image = !vm->rec.kernel[0];
	snprintf(p->kernel_why, sizeof(p->kernel_why), "%s", vm->kernel_why);
	p->launched = vm->launched != NULL;
	p->mem_fd = vm->launched ? vm->launched->ram_fd : -1;
	p->mem_size = vm->launched ? vm->launched->ram_size : 0;
	p->view = (struct rw_check_vm){
		.name = p->name, .qmp_path = p->qmp, .mem_path = p->mem, .mem_fd = p->mem_fd,
		.mem_size = p->mem_size, .kernel_path = p->kernel, .kernel_why = p->kernel_why,
		.paused_by_ringwatch = vm->rec.paused_by_us,
	};
	pthread_mutex_unlock(&d->lock);
}

/* Did the VM's QEMU go away?  Sets @why. */
static bool vm_vanished(struct rw_dvm *vm, const struct pass_vm *p, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, rc;

	if (p->launched) {
		if (!rw_vm_exited(vm->launched))	/* worker-only while in flight */
			return false;
		snprintf(why, whylen, "QEMU (launched by ringwatchd) exited");
		return true;
	}
	if (stat(p->qmp, &sb) && errno == ENOENT) {
		snprintf(why, whylen, "QMP socket %s is gone", p->qmp);
		return true;
	}
	if (strlen(p->qmp) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, p->qmp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc && errno == ECONNREFUSED) {
		snprintf(why, whylen, "QMP socket %s refuses connections (QEMU exited)", p->qmp);
		return true;
	}
	return false;
}

/* "Linux version 6.1.0-28-cloud-amd64 (...)" -> "6.1.0-28-cloud-amd64". */
static void banner_version(const char *banner, char *out, size_t outlen)
{
	const char *v = banner + strlen("Linux version ");

	snprintf(out, outlen, "%.*s", (int)strcspn(v, " "), v);
}

/* Banners collected from guest RAM per identification (the image holds several:
 * Linux 6.1 has a placeholder "#" copy besides the "#1" one the catalog reads). */
#define RAM_BANNERS_MAX 8

/*
 * A VM given no kernel image: find the image of the kernel whose banners its
 * RAM holds among the known ones (host/kernel_search.h).  Banners that were
 * not found are not searched again until the first one or the configuration
 * changes; the reason stays in vm->kernel_why for the kernel check to show.
 */
static void find_image(struct rw_daemon *d, struct rw_dvm *vm, struct pass_vm *p,
		       char (*banners)[RW_BANNER_MAX], size_t nbanners)
{
	const struct rw_config *cfg = d->cfg;
	const char *paths[RW_CONFIG_MAX_KSEARCH];
	char found[512], why[400], first_why[400] = "", err[256];
	size_t hit = nbanners;
	bool tried;

	pthread_mutex_lock(&d->lock);
	tried = vm->kernel_tried_cfg == cfg && !strcmp(vm->kernel_tried, banners[0]);
	pthread_mutex_unlock(&d->lock);
	if (tried)
		return;
	for (size_t i = 0; i < cfg->nkernel_search; i++)
		paths[i] = cfg->kernel_search[i];
	for (size_t i = 0; i < nbanners && hit == nbanners; i++) {
		if (rw_kernel_search(d->kernels, paths, cfg->nkernel_search, banners[i], found,
				     sizeof(found), why, sizeof(why)) == 0)
			hit = i;
		else if (!first_why[0])
			snprintf(first_why, sizeof(first_why), "%s", why);
	}
	if (hit == nbanners) {
		pthread_mutex_lock(&d->lock);
		snprintf(vm->kernel_why, sizeof(vm->kernel_why), "%s", first_why);
		snprintf(vm->kernel_tried, sizeof(vm->kernel_tried), "%.*s",
			 (int)sizeof(vm->kernel_tried) - 1, banners[0]);
		vm->kernel_tried_cfg = cfg;
		pthread_mutex_unlock(&d->lock);
		snprintf(p->kernel_why, sizeof(p->kernel_why), "%s", first_why);
		json_t *detail = json_pack("{s:s,s:s,s:s}", "action", "kernel-unknown", "banner",
					   banners[0], "reason", first_why);

		if (rw_daemon_event(d, p->name, "ringwatchd", "lifecycle", RW_SEV_WARNING, detail,
				    err, sizeof(err)) < 0)
			rw_daemon_log(d, LOG_ERR, "event for %s: %s", p->name, err);
		json_decref(detail);
		return;
	}
	pthread_mutex_lock(&d->lock);
	snprintf(vm->rec.kernel, sizeof(vm->rec.kernel), "%s", found);
	vm->kernel_why[0] = '\0';
	vm->kernel_tried[0] = '\0';
	vm->kernel_tried_cfg = NULL;
	pthread_mutex_unlock(&d->lock);
	rw_dvm_persist(d, vm);
	snprintf(p->kernel, sizeof(p->kernel), "%s", found);
	p->kernel_why[0] = '\0';
	json_t *detail = json_pack("{s:s,s:s,s:s}", "action", "kernel-identified", "image", found,
				   "banner", banners[hit]);

	if (rw_daemon_event(d, p->name, "ringwatchd", "lifecycle", RW_SEV_INFO, detail, err,
			    sizeof(err)) < 0)
		rw_daemon_log(d, LOG_ERR, "event for %s: %s", p->name, err);
	json_decref(detail);
}

/* Identify the running kernel from the banner in guest RAM (mapped read-only). */
static void identify_kernel(struct rw_daemon *d, struct rw_dvm *vm, struct pass_vm *p)
{
	char banners[RAM_BANNERS_MAX][RW_BANNER_MAX], version[128];
	size_t nbanners = 0;
	int fd = p->mem_fd;
	uint64_t size = p->mem_size;
	struct stat sb;
	void *ram;
	long long off;

	if (fd < 0) {
		if (!p->mem[0])
			return;
		fd = open(p->mem, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb)) {
			if (fd >= 0)
				close(fd);
			return;
		}
		size = (uint64_t)sb.st_size;
	}
	if (size > BANNER_SCAN_MAX)
		size = BANNER_SCAN_MAX;
	ram = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd != p->mem_fd)
		close(fd);
	if (ram == MAP_FAILED)
		return;
	off = vmi_find_banner(ram, size, 0, banners[0], sizeof(banners[0]));
	if (off >= 0)
		nbanners = 1;
	/* More banners only when an image is to be found (distinct ones, bounded). */
	while (p->need_image && off >= 0 && nbanners < RAM_BANNERS_MAX) {
		off = vmi_find_banner(ram, size, (size_t)off + 1, banners[nbanners],
				      sizeof(banners[0]));
		if (off < 0)
			break;
		bool seen = false;

		for (size_t i = 0; i < nbanners && !seen; i++)
			seen = !strcmp(banners[i], banners[nbanners]);
		if (!seen)
			nbanners++;
	}
	munmap(ram, size);
	if (!nbanners) {
		if (p->need_image && !p->kernel_why[0])
			snprintf(p->kernel_why, sizeof(p->kernel_why),
				 "no kernel banner in guest RAM yet (booting?): kernel not identified");
		return;
	}
	if (p->need_image)
		find_image(d, vm, p, banners, nbanners);
	if (!p->need_version)
		return;
	banner_version(banners[0], version, sizeof(version));
	pthread_mutex_lock(&d->lock);
	snprintf(vm->rec.kernel_version, sizeof(vm->rec.kernel_version), "%s", version);
	pthread_mutex_unlock(&d->lock);
	rw_dvm_persist(d, vm);
}

static enum rw_severity transition_severity(enum rw_result now, bool had, enum rw_result before)
{
	switch (now) {
	case RW_RESULT_ALERT: return RW_SEV_ALERT;
	case RW_RESULT_ERROR: return RW_SEV_ERROR;
	case RW_RESULT_UNKNOWN:
		return had && (before == RW_RESULT_OK || before == RW_RESULT_ALERT) ?
		       RW_SEV_WARNING : RW_SEV_INFO;
	case RW_RESULT_OK: break;
	}
	return RW_SEV_INFO;
}

/* Store the result of check @i; an event when the result (or an alert's summary) changed. */
static void record_result(struct rw_daemon *d, struct rw_dvm *vm, size_t i, const char *name,
			  const struct rw_check_result *res, double seconds)
{
	struct rw_dvm_check *c = &vm->checks[i];
	const char *check = d->checks[i]->name;
	struct rw_store_check row;
	bool had, changed, event;
	enum rw_result before;
	char err[256];

	pthread_mutex_lock(&d->lock);
	had = c->ran;
	before = c->result;
	changed = !had || before != res->result || strcmp(c->summary, res->summary) ||
		  strcmp(c->source, res->source);
	event = (!had && res->result != RW_RESULT_OK) || (had && before != res->result) ||
		(res->result == RW_RESULT_ALERT && strcmp(c->summary, res->summary));
	c->ran = true;
	c->result = res->result;
	c->unavailable = res->result == RW_RESULT_UNKNOWN && res->unavailable;
	snprintf(c->source, sizeof(c->source), "%s", res->source);
	snprintf(c->summary, sizeof(c->summary), "%s", res->summary);
	c->time_ms = rw_now_ms();
	c->duration_s = seconds;
	if (changed || !c->persisted) {
		snprintf(row.check, sizeof(row.check), "%s", check);
		snprintf(row.result, sizeof(row.result), "%s", rw_result_name(res->result));
		snprintf(row.source, sizeof(row.source), "%s", res->source);
		snprintf(row.summary, sizeof(row.summary), "%s", res->summary);
		row.time_ms = c->time_ms;
		c->persisted = true;
	}
	pthread_mutex_unlock(&d->lock);
	rw_metrics_check_run(d->metrics, i, res->result, seconds);
	if (changed && rw_store_check_put(d->store, name, &row, err, sizeof(err)))
		rw_daemon_log(d, LOG_ERR, "storing %s/%s: %s", name, check, err);
	if (!event)
		return;

	json_t *detail = json_pack("{s:s,s:s,s:s,s:o}", "result", rw_result_name(res->result),
				   "previous", had ? rw_result_name(before) : "none",
				   "summary", res->summary, "findings",
				   res->findings ? json_incref(res->findings) : json_array());

	if (rw_daemon_event(d, name, res->source[0] ? res->source : "ringwatchd", check,
			    transition_severity(res->result, had, before), detail, err,
			    sizeof(err)) < 0)
		rw_daemon_log(d, LOG_ERR, "event %s/%s: %s", name, check, err);
	json_decref(detail);
}

/* What a check may use of the daemon during one pass of one VM (worker-only). */
struct pass_host {
	struct rw_daemon *d;
	struct rw_dvm *vm;
	const char *name;
};

static int pass_emit(void *arg, const char *check, const char *source, enum rw_check_level level,
		     json_t *detail)
{
	static const enum rw_severity sev[] = {
		[RW_LEVEL_INFO] = RW_SEV_INFO, [RW_LEVEL_WARNING] = RW_SEV_WARNING,
		[RW_LEVEL_ALERT] = RW_SEV_ALERT, [RW_LEVEL_ERROR] = RW_SEV_ERROR,
	};
	struct pass_host *h = arg;
	char err[256];

	if ((unsigned)level > RW_LEVEL_ERROR)
		return -1;
	if (rw_daemon_event(h->d, h->name, source && *source ? source : "ringwatchd", check,
			    sev[level], detail, err, sizeof(err)) < 0) {
		rw_daemon_log(h->d, LOG_ERR, "event %s/%s: %s", h->name, check, err);
		return -1;
	}
	return 0;
}

static json_t *pass_channel_states(void *arg)
{
	struct pass_host *h = arg;
	json_t *rows = NULL;
	char err[256];

	if (!h->d->store || rw_store_channel_states(h->d->store, h->name, &rows, err, sizeof(err)))
		return NULL;
	return rows;
}

/* The state of another check of the same VM: checks of one VM run in one worker. */
static void *pass_peer_state(void *arg, const struct rw_check_ops *ops)
{
	struct pass_host *h = arg;

	for (size_t i = 0; i < h->d->nchecks && i < h->vm->nchecks; i++)
		if (h->d->checks[i] == ops)
			return h->vm->checks[i].state;
	return NULL;
}

static void run_check(struct rw_daemon *d, struct rw_dvm *vm, size_t i, struct pass_vm *p,
		      struct rw_qmp **qmp, char *qmp_err, size_t qmp_errlen,
		      enum rw_run_state *run_state)
{
	struct pass_host ph = { d, vm, p->name };
	const char *allow[RW_CONFIG_MAX_HOOK_ALLOW];
	size_t nallow = 0;

	for (; nallow < d->cfg->nhook_allow && nallow < RW_CONFIG_MAX_HOOK_ALLOW; nallow++)
		allow[nallow] = d->cfg->hook_allow[nallow];
	const struct rw_check_host host = {
		.kernels = d->kernels, .emit = pass_emit, .peer_state = pass_peer_state,
		.channel_states = pass_channel_states, .arg = &ph,
		.hook_allow = allow, .nhook_allow = nallow,
	};
	struct rw_check_ctx ctx = {
		.vm = &p->view, .host = &host, .qmp_timeout_ms = (int)d->cfg->qmp_timeout_ms,
		.state = vm->checks[i].state, .run_state = run_state, .qmp = qmp,
		.qmp_err = qmp_err, .qmp_errlen = qmp_errlen,
	};
	struct rw_check_result res;
	int64_t t0 = rw_mono_ms();
	int rc;

	rw_check_result_init(&res);
	rc = d->checks[i]->run(&ctx, &res);
	vm->checks[i].state = ctx.state;
	if (rc < 0 && res.result != RW_RESULT_ERROR)
		rw_check_set(&res, RW_RESULT_ERROR, res.source[0] ? res.source : "ringwatchd",
			     "check failed (%d)%s%s", rc, res.summary[0] ? ": " : "", res.summary);
	record_result(d, vm, i, p->name, &res, (double)(rw_mono_ms() - t0) / 1000.0);
	rw_check_result_clear(&res);
}

/* A VM ringwatch paused runs again: someone resumed it; clear our mark. */
static void note_resumed(struct rw_daemon *d, struct rw_dvm *vm, const char *name)
{
	bool was;
	char err[256];

	pthread_mutex_lock(&d->lock);
	was = vm->rec.paused_by_us;
	vm->rec.paused_by_us = false;
	pthread_mutex_unlock(&d->lock);
	if (!was)
		return;
	rw_dvm_persist(d, vm);
	json_t *detail = json_pack("{s:s}", "note", "VM paused by ringwatch runs again");

	rw_daemon_event(d, name, "ringwatchd", "lifecycle", RW_SEV_INFO, detail, err, sizeof(err));
	json_decref(detail);
}

/* A launched QEMU that exited: reap it and remove its run dir. */
static void release_launched(struct rw_daemon *d, struct rw_dvm *vm)
{
	struct rw_vm *qemu;

	pthread_mutex_lock(&d->lock);
	qemu = vm->launched;
	vm->launched = NULL;
	vm->rec.run_dir[0] = '\0';
	vm->rec.pid = 0;
	pthread_mutex_unlock(&d->lock);
	if (!qemu)
		return;
	rw_vm_stop(qemu);
	free(qemu);
	rw_dvm_persist(d, vm);
}

static void run_pass(struct rw_daemon *d, struct rw_dvm *vm)
{
	struct pass_vm p;
	struct rw_qmp *qmp = NULL;
	char qmp_err[256] = "", why[400];
	enum rw_run_state run_state = RW_RUN_UNSEEN;

	snapshot_vm(d, vm, &p);
	if (vm_vanished(vm, &p, why, sizeof(why))) {
		rw_dvm_mark_gone(d, vm, why);
		release_launched(d, vm);
		return;
	}
	if (p.need_version || p.need_image)
		identify_kernel(d, vm, &p);
	for (size_t i = 0; i < d->nchecks; i++)
		run_check(d, vm, i, &p, &qmp, qmp_err, sizeof(qmp_err), &run_state);
	rw_qmp_close(qmp);
	if (run_state == RW_RUN_RUNNING && p.view.paused_by_ringwatch)
		note_resumed(d, vm, p.name);
}

static void *worker_main(void *arg)
{
	struct rw_daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct rw_dvm *vm;
		int64_t start;

		while (!d->qlen && !d->stopping)
			pthread_cond_wait(&d->queue_cond, &d->lock);
		if (d->stopping)
			break;
		vm = dequeue_locked(d);
		pthread_mutex_unlock(&d->lock);
		start = rw_mono_ms();
		run_pass(d, vm);
		pthread_mutex_lock(&d->lock);
		vm->in_flight = false;
		vm->passes_done++;
		vm->last_pass_ms = rw_now_ms();
		vm->next_due = start + vm_interval(d, vm);
		if (vm->next_due < rw_mono_ms())
			vm->next_due = rw_mono_ms();
		pthread_cond_broadcast(&d->pass_cond);
		pthread_cond_signal(&d->sched_cond);
		pthread_mutex_unlock(&d->lock);
		rw_dvm_put(d, vm);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static unsigned int worker_count(const struct rw_config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int n = cfg->workers ? cfg->workers : (unsigned int)(cores > 0 ? cores : 1);

	/* At least two, so one hung QEMU never leaves the other VMs without a worker. */
	if (!cfg->workers && n < 2)
		n = 2;
	return n > MAX_WORKERS ? MAX_WORKERS : n;
}

int rw_sched_start(struct rw_daemon *d, char *err, size_t errlen)
{
	unsigned int n = worker_count(d->cfg);

	d->workers = calloc(n, sizeof(*d->workers));
	if (!d->workers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (d->nworkers = 0; d->nworkers < n; d->nworkers++) {
		if (pthread_create(&d->workers[d->nworkers], NULL, worker_main, d)) {
			snprintf(err, errlen, "cannot start worker threads");
			return -1;
		}
	}
	if (pthread_create(&d->sched_thread, NULL, sched_main, d)) {
		snprintf(err, errlen, "cannot start the scheduler thread");
		return -1;
	}
	d->sched_started = true;
	return 0;
}

void rw_sched_stop(struct rw_daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->sched_cond);
	pthread_cond_broadcast(&d->queue_cond);
	pthread_cond_broadcast(&d->pass_cond);
	pthread_cond_broadcast(&d->event_cond);
	pthread_mutex_unlock(&d->lock);
	if (d->sched_started)
		pthread_join(d->sched_thread, NULL);
	for (unsigned int i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i], NULL);
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
	d->sched_started = false;
	/* Passes queued but never run: release them. */
	while (d->qlen) {
		struct rw_dvm *vm = dequeue_locked(d);

		vm->in_flight = false;
		rw_dvm_put(d, vm);
	}
	free(d->queue);
	d->queue = NULL;
	d->qcap = 0;
}

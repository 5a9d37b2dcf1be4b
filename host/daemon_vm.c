// SPDX-License-Identifier: GPL-2.0
/* VM operations of ringwatchd: attach, detach, launch, destroy, resume, check now. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "host/daemon.h"
#include "host/daemon_channel.h"
#include "host/daemon_spawn.h"
#include "host/launcher.h"
#include "vmi/qmp.h"

static void vsockd_stop(int *pid);

/* Bound on the first pass after a launch (on top of the QMP timeouts). */
#define FIRST_PASS_SLACK_MS 10000

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -code;
}

static void lifecycle_event(struct rw_daemon *d, const char *vm, enum rw_severity sev,
			    json_t *detail)
{
	char err[256];

	if (rw_daemon_event(d, vm, "ringwatchd", "lifecycle", sev, detail, err, sizeof(err)) < 0)
		rw_daemon_log(d, LOG_ERR, "event for %s: %s", vm, err);
	json_decref(detail);
}

/* An absolute path that fits @max bytes, or "" when @optional. */
static int check_path(const char *what, const char *path, size_t max, bool optional,
		      char *err, size_t errlen)
{
	if (!path || !*path) {
		if (optional)
			return 0;
		return fail(err, errlen, RW_DERR_BAD_REQUEST, "%s is required", what);
	}
	if (path[0] != '/')
		return fail(err, errlen, RW_DERR_BAD_REQUEST, "%s '%s' must be an absolute path",
			    what, path);
	if (strlen(path) >= max)
		return fail(err, errlen, RW_DERR_BAD_REQUEST, "%s path too long", what);
	return 0;
}

/* Wait (d->lock held) until no pass of @vm is in flight. */
static void wait_idle_locked(struct rw_daemon *d, struct rw_dvm *vm)
{
	while (vm->in_flight && !d->stopping)
		pthread_cond_wait(&d->pass_cond, &d->lock);
}

/*
 * Make room for a new VM called @name (d->lock held): fine when unknown;
 * a gone VM of that name is replaced (its record and check status dropped);
 * anything else is an error.  Returns 0 or -RW_DERR_EXISTS.
 */
static int claim_name_locked(struct rw_daemon *d, const char *name, struct rw_dvm **replaced,
			     char *err, size_t errlen)
{
	struct rw_dvm *old = rw_dvm_find_locked(d, name);

	*replaced = NULL;
	if (!old)
		return 0;
	if (old->state != RW_DVM_GONE || old->busy)
		return fail(err, errlen, RW_DERR_EXISTS, "VM '%s' is already attached (%s)", name,
			    old->state == RW_DVM_STARTING ? "starting" : "active");
	old->busy = true;
	wait_idle_locked(d, old);
	rw_dvm_remove_locked(d, old);
	*replaced = old;
	return 0;
}

static void drop_replaced(struct rw_daemon *d, struct rw_dvm *old)
{
	char err[256];

	if (!old)
		return;
	if (rw_store_vm_delete(d->store, old->rec.name, err, sizeof(err)))
		rw_daemon_log(d, LOG_ERR, "dropping %s: %s", old->rec.name, err);
	rw_dvm_put(d, old);
}

int rw_daemon_attach(struct rw_daemon *d, const struct rw_attach_req *req, char *err,
		     size_t errlen)
{
	struct rw_dvm *vm, *old;
	int rc;

	if (!req->name || !rw_vm_name_valid(req->name))
		return fail(err, errlen, RW_DERR_BAD_REQUEST,
			    "bad VM name '%s' (1-48 of A-Z a-z 0-9 _ . -)", req->name ? req->name : "");
	if ((rc = check_path("QMP socket", req->qmp, sizeof(((struct sockaddr_un *)0)->sun_path),
			     false, err, errlen)) ||
	    (rc = check_path("memory source", req->mem, sizeof(vm->rec.mem), true, err, errlen)) ||
	    (rc = check_path("kernel image", req->kernel, sizeof(vm->rec.kernel), true, err, errlen)))
		return rc;
	vm = rw_dvm_new(d, req->name);
	if (!vm)
		return fail(err, errlen, RW_DERR_FAILED, "out of memory");
	snprintf(vm->rec.kind, sizeof(vm->rec.kind), "attached");
	snprintf(vm->rec.qmp, sizeof(vm->rec.qmp), "%s", req->qmp);
	snprintf(vm->rec.mem, sizeof(vm->rec.mem), "%s", req->mem ? req->mem : "");
	snprintf(vm->rec.kernel, sizeof(vm->rec.kernel), "%s", req->kernel ? req->kernel : "");
	snprintf(vm->rec.state, sizeof(vm->rec.state), "active");
	vm->rec.interval_ms = req->interval_ms;
	vm->rec.added_ms = rw_now_ms();
	vm->state = RW_DVM_ACTIVE;
	vm->due_now = true;

	pthread_mutex_lock(&d->lock);
	rc = claim_name_locked(d, req->name, &old, err, errlen);
	if (!rc && rw_dvm_add_locked(d, vm))
		rc = fail(err, errlen, RW_DERR_FAILED, "out of memory");
	pthread_mutex_unlock(&d->lock);
	if (rc) {
		rw_dvm_put(d, vm);
		return rc;
	}
	drop_replaced(d, old);
	rw_dvm_persist(d, vm);
	if (req->vsock_cid)
		rw_dchan_set_cid(d->chan, req->name, req->vsock_cid);
	lifecycle_event(d, req->name, RW_SEV_INFO,
			json_pack("{s:s,s:s,s:s,s:s,s:I}", "action", "attached", "qmp", req->qmp,
				  "mem", req->mem ? req->mem : "", "kernel",
				  req->kernel ? req->kernel : "", "vsock_cid",
				  (json_int_t)req->vsock_cid));
	pthread_mutex_lock(&d->lock);
	rw_sched_kick(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Take @name out of scheduling and the registry; the caller gets the ref. */
static struct rw_dvm *unregister(struct rw_daemon *d, const char *name, struct rw_vm **qemu,
				 int *vsockd)
{
	struct rw_dvm *vm;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm && !vm->busy) {
		vm->busy = true;
		wait_idle_locked(d, vm);
		rw_dvm_remove_locked(d, vm);
		*qemu = vm->launched;
		vm->launched = NULL;
		*vsockd = vm->vsockd_pid;
		vm->vsockd_pid = 0;
	} else {
		vm = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	return vm;
}

int rw_daemon_detach(struct rw_daemon *d, const char *name, char *err, size_t errlen)
{
	struct rw_vm *qemu = NULL;
	int vsockd = 0;
	struct rw_dvm *vm = unregister(d, name, &qemu, &vsockd);
	int rc;

	if (!vm)
		return fail(err, errlen, RW_DERR_UNKNOWN_VM, "no VM '%s' (or it is busy)", name);
	if (qemu) {	/* we own it: nobody else would stop it */
		rw_vm_stop(qemu);
		free(qemu);
	}
	vsockd_stop(&vsockd);
	if (d->chan)
		rw_dchan_set_cid(d->chan, name, 0);
	rc = rw_store_vm_delete(d->store, name, err, errlen) ? -RW_DERR_FAILED : 0;
	lifecycle_event(d, name, RW_SEV_INFO, json_pack("{s:s,s:b}", "action", "detached",
							"stopped", qemu != NULL));
	rw_dvm_put(d, vm);
	return rc;
}

void rw_dvm_stop_vsockd(int *pid)
{
	vsockd_stop(pid);
}

/* Launcher run dirs live under <state>/run when the socket paths fit, else /tmp. */
static const char *run_parent(struct rw_daemon *d, const char *name, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%s/run", d->state_dir);
	if (strlen(buf) + strlen(name) + 20 >= 90)
		return "/tmp";
	return buf;
}

/* --- the VM's vsock device (ringwatch-vsockd), started before its QEMU ------------- */

#define VSOCKD_GUEST_CID 3u	/* per-VM device: every guest may use the same CID */

struct vsockd_spawn {
	const char *bin, *vm, *vhost_sock, *upstream, *log;
	pid_t pid;
	int err;
};

/* Runs on the spawner thread: the device dies with that thread, like QEMU. */
static int vsockd_fork(void *arg)
{
	struct vsockd_spawn *v = arg;
	pid_t parent = getpid();
	int logfd = open(v->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_t pid;

	if (logfd < 0) {
		v->err = errno;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		v->err = errno;
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);	/* ringwatchd blocks SIGTERM */
		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execl(v->bin, v->bin, "--vm", v->vm, "--cid", "3", "--socket", v->vhost_sock,
		      "--upstream", v->upstream, (char *)NULL);
		dprintf(STDERR_FILENO, "exec %s: %s\n", v->bin, strerror(errno));
		_exit(127);
	}
	close(logfd);
	v->pid = pid;
	return 0;
}

static void vsockd_stop(int *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 40; i++) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	*pid = 0;
}

static void vsockd_binary(struct rw_daemon *d, char *out, size_t outlen)
{
	char self[PATH_MAX];
	ssize_t n;

	if (d->cfg->vsockd[0]) {
		snprintf(out, outlen, "%s", d->cfg->vsockd);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(out, outlen, "%s/ringwatch-vsockd", n > 0 ? dirname(self) : ".");
}

/* Start the VM's ringwatch-vsockd and wait until its vhost-user socket listens. */
static int vsockd_start(struct rw_daemon *d, const char *name, const char *parent,
			char *sock, size_t socklen, int *pid, char *err, size_t errlen)
{
	char bin[PATH_MAX], log[700];
	struct vsockd_spawn v = { .vm = name, .upstream = rw_dchan_socket_path(d->chan) };
	int status;

	vsockd_binary(d, bin, sizeof(bin));
	if (access(bin, X_OK))
		return fail(err, errlen, RW_DERR_FAILED, "ringwatch-vsockd not found at %s (set "
			    "'vsockd PATH' in the configuration)", bin);
	if ((size_t)snprintf(sock, socklen, "%s/%s.vhost", parent, name) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(err, errlen, RW_DERR_FAILED, "vsock device socket path too long");
	snprintf(log, sizeof(log), "%s/%s.vsockd.log", parent, name);
	unlink(sock);
	v.bin = bin;
	v.vhost_sock = sock;
	v.log = log;
	if (rw_spawner_call(d->spawner, vsockd_fork, &v))
		return fail(err, errlen, RW_DERR_FAILED, "cannot start ringwatch-vsockd: %s",
			    strerror(v.err ? v.err : EAGAIN));
	*pid = v.pid;
	for (int i = 0; i < 100; i++) {
		if (access(sock, F_OK) == 0)
			return 0;
		if (waitpid(v.pid, &status, WNOHANG) == v.pid) {
			*pid = 0;
			return fail(err, errlen, RW_DERR_FAILED, "ringwatch-vsockd exited at start "
				    "(log %s)", log);
		}
		usleep(50000);
	}
	vsockd_stop(pid);
	return fail(err, errlen, RW_DERR_FAILED, "ringwatch-vsockd did not create %s (log %s)",
		    sock, log);
}

static int start_qemu(struct rw_daemon *d, const struct rw_launch_req *req, struct rw_vm *qemu,
		      int *vsockd_pid, char *err, size_t errlen)
{
	struct rw_vm_config cfg;
	char parent[600], ready[512], vhost[300];
	unsigned int timeout = req->timeout_ms ? req->timeout_ms : d->cfg->launch_timeout_ms;

	rw_vm_config_init(&cfg);
	cfg.name = req->name;
	if (req->disk && *req->disk) {
		cfg.disk = req->disk;
		cfg.disk_format = req->disk_format && *req->disk_format ? req->disk_format : NULL;
	} else {
		cfg.kernel = req->kernel;
		cfg.initrd = req->initrd;
	}
	cfg.overlay_dir = req->overlay && *req->overlay ? req->overlay : NULL;
	if (req->memory_mib)
		cfg.memory_mib = req->memory_mib;
	if (req->cpus)
		cfg.cpus = req->cpus;
	cfg.kaslr = !req->no_kaslr;
	/* Like a VM under libvirt: a reboot in the guest reboots it (the kernel
	 * check re-identifies and re-baselines); --no-reboot makes it end QEMU. */
	cfg.allow_reboot = !req->no_reboot;
	cfg.run_parent = run_parent(d, req->name, parent, sizeof(parent));
	if (d->chan) {	/* the guest channel: a vhost-user-vsock device per VM */
		int rc = vsockd_start(d, req->name, cfg.run_parent, vhost, sizeof(vhost),
				      vsockd_pid, err, errlen);

		if (rc)
			return rc;
		cfg.vsock = RW_VSOCK_VHOST_USER;
		cfg.guest_cid = VSOCKD_GUEST_CID;
		cfg.vhost_user_socket = vhost;
	}
	if (rw_spawner_vm_start(d->spawner, &cfg, qemu, err, errlen)) {
		vsockd_stop(vsockd_pid);
		return -RW_DERR_FAILED;
	}
	/*
	 * A disk runs whatever it holds: there is no readiness line to wait for.
	 * The VM is checked from the start; its checks stay unknown ("kernel not
	 * identified yet") until the kernel has booted and is found.
	 */
	if (!cfg.disk && rw_vm_wait_ready(qemu, (int)timeout, ready, sizeof(ready), err, errlen)) {
		rw_vm_stop(qemu);
		vsockd_stop(vsockd_pid);
		return -RW_DERR_FAILED;
	}
	return 0;
}

/* Wait (bounded) until @name has completed @passes passes. */
static int wait_passes(struct rw_daemon *d, const char *name, uint64_t passes, int timeout_ms,
		       char *err, size_t errlen)
{
	int64_t deadline = rw_mono_ms() + timeout_ms;
	struct rw_dvm *vm;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		int64_t left = deadline - rw_mono_ms();
		struct timespec ts;

		vm = rw_dvm_find_locked(d, name);
		if (!vm) {
			rc = fail(err, errlen, RW_DERR_UNKNOWN_VM, "VM '%s' was detached", name);
			break;
		}
		if (vm->passes_done >= passes)
			break;
		if (vm->state == RW_DVM_GONE) {
			rc = fail(err, errlen, RW_DERR_FAILED, "VM '%s' is gone", name);
			break;
		}
		if (left <= 0 || d->stopping) {
			rc = fail(err, errlen, RW_DERR_TIMEOUT, "no pass over '%s' within %d ms",
				  name, timeout_ms);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&d->pass_cond, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int first_pass_timeout(struct rw_daemon *d)
{
	return (int)(d->cfg->qmp_timeout_ms * (d->nchecks + 1)) + FIRST_PASS_SLACK_MS;
}

/* The launched QEMU becomes the VM's: fill its record and start checking it. */
static int adopt_qemu(struct rw_daemon *d, struct rw_dvm *vm, struct rw_vm *qemu,
		      int vsockd_pid, const char *kernel)
{
	pthread_mutex_lock(&d->lock);
	if (vm->removed) {
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	vm->vsockd_pid = vsockd_pid;
	snprintf(vm->rec.qmp, sizeof(vm->rec.qmp), "%s", qemu->qmp_path);
	snprintf(vm->rec.mem, sizeof(vm->rec.mem), "/proc/%d/fd/%d", (int)getpid(), qemu->ram_fd);
	snprintf(vm->rec.kernel, sizeof(vm->rec.kernel), "%s", kernel);
	snprintf(vm->rec.run_dir, sizeof(vm->rec.run_dir), "%s", qemu->run_dir);
	snprintf(vm->rec.state, sizeof(vm->rec.state), "active");
	vm->rec.pid = qemu->pid;
	vm->launched = qemu;
	vm->state = RW_DVM_ACTIVE;
	vm->due_now = true;
	rw_sched_kick(d);
	pthread_mutex_unlock(&d->lock);
	rw_dvm_persist(d, vm);
	return 0;
}

static int reserve_launch(struct rw_daemon *d, const struct rw_launch_req *req,
			  struct rw_dvm **out, char *err, size_t errlen)
{
	struct rw_dvm *vm = rw_dvm_new(d, req->name), *old;
	int rc;

	if (!vm)
		return fail(err, errlen, RW_DERR_FAILED, "out of memory");
	snprintf(vm->rec.kind, sizeof(vm->rec.kind), "launched");
	snprintf(vm->rec.state, sizeof(vm->rec.state), "active");
	vm->rec.interval_ms = req->interval_ms;
	vm->rec.added_ms = rw_now_ms();
	vm->state = RW_DVM_STARTING;
	pthread_mutex_lock(&d->lock);
	rc = claim_name_locked(d, req->name, &old, err, errlen);
	if (!rc && rw_dvm_add_locked(d, vm))
		rc = fail(err, errlen, RW_DERR_FAILED, "out of memory");
	if (!rc)
		vm->refs++;	/* the launch's own */
	pthread_mutex_unlock(&d->lock);
	if (rc) {
		rw_dvm_put(d, vm);
		return rc;
	}
	drop_replaced(d, old);
	*out = vm;
	return 0;
}

static void cancel_launch(struct rw_daemon *d, struct rw_dvm *vm)
{
	pthread_mutex_lock(&d->lock);
	if (!vm->removed) {
		rw_dvm_remove_locked(d, vm);
		vm->refs--;	/* the registry's */
	}
	pthread_mutex_unlock(&d->lock);
	rw_dvm_put(d, vm);
}

int rw_daemon_launch(struct rw_daemon *d, const struct rw_launch_req *req, char *err,
		     size_t errlen)
{
	struct rw_vm *qemu;
	struct rw_dvm *vm = NULL;
	int rc, vsockd_pid = 0;

	if (!req->name || !rw_vm_name_valid(req->name))
		return fail(err, errlen, RW_DERR_BAD_REQUEST,
			    "bad VM name '%s' (1-48 of A-Z a-z 0-9 _ . -)", req->name ? req->name : "");
	if (req->disk && *req->disk) {
		if ((req->kernel && *req->kernel) || (req->initrd && *req->initrd) ||
		    (req->overlay && *req->overlay) || req->no_kaslr)
			return fail(err, errlen, RW_DERR_BAD_REQUEST,
				    "a disk boot takes no kernel, initrd, overlay or no_kaslr");
		if ((rc = check_path("disk", req->disk, 512, false, err, errlen)))
			return rc;
		if (req->disk_format && *req->disk_format &&
		    !rw_vm_disk_format_valid(req->disk_format))
			return fail(err, errlen, RW_DERR_BAD_REQUEST,
				    "disk format '%s': expected raw, qcow2, qed, vmdk, vdi, vhdx or "
				    "vpc", req->disk_format);
	} else if ((rc = check_path("kernel", req->kernel, 512, false, err, errlen)) ||
		   (rc = check_path("initrd", req->initrd, 512, false, err, errlen)) ||
		   (rc = check_path("overlay", req->overlay, 512, true, err, errlen))) {
		return rc;
	}
	qemu = calloc(1, sizeof(*qemu));
	if (!qemu)
		return fail(err, errlen, RW_DERR_FAILED, "out of memory");
	rc = reserve_launch(d, req, &vm, err, errlen);
	if (rc) {
		free(qemu);
		return rc;
	}
	rc = start_qemu(d, req, qemu, &vsockd_pid, err, errlen);
	if (!rc && adopt_qemu(d, vm, qemu, vsockd_pid,
			      req->disk && *req->disk ? "" : req->kernel)) {
		rw_vm_stop(qemu);
		vsockd_stop(&vsockd_pid);
		rc = fail(err, errlen, RW_DERR_FAILED, "VM '%s' was detached while starting",
			  req->name);
	}
	if (rc) {
		free(qemu);
		cancel_launch(d, vm);
		return rc;
	}
	if (req->disk && *req->disk)
		lifecycle_event(d, req->name, RW_SEV_INFO,
				json_pack("{s:s,s:s,s:s,s:i}", "action", "launched", "disk",
					  req->disk, "format", qemu->disk_format, "qemu_pid",
					  (int)qemu->pid));
	else
		lifecycle_event(d, req->name, RW_SEV_INFO,
				json_pack("{s:s,s:s,s:i}", "action", "launched", "kernel",
					  req->kernel, "qemu_pid", (int)qemu->pid));
	rw_dvm_put(d, vm);
	return wait_passes(d, req->name, 1, first_pass_timeout(d), err, errlen);
}

int rw_daemon_destroy(struct rw_daemon *d, const char *name, char *err, size_t errlen)
{
	struct rw_dvm *vm;
	struct rw_vm *qemu = NULL;
	int vsockd = 0;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm && vm->launched && !vm->busy) {
		vm->busy = true;
		vm->refs++;
		wait_idle_locked(d, vm);
		qemu = vm->launched;
		vm->launched = NULL;
		vsockd = vm->vsockd_pid;
		vm->vsockd_pid = 0;
		vm->rec.run_dir[0] = '\0';
		vm->rec.pid = 0;
	}
	pthread_mutex_unlock(&d->lock);
	if (!vm)
		return fail(err, errlen, RW_DERR_UNKNOWN_VM, "no VM '%s'", name);
	if (!qemu)
		return fail(err, errlen, RW_DERR_BAD_REQUEST,
			    "VM '%s' is not running under ringwatchd (attached VMs are stopped "
			    "where they were started, e.g. virsh destroy)", name);
	rw_vm_stop(qemu);
	free(qemu);
	vsockd_stop(&vsockd);
	rw_dvm_mark_gone(d, vm, "destroyed by the operator");
	pthread_mutex_lock(&d->lock);
	vm->busy = false;
	pthread_mutex_unlock(&d->lock);
	rw_dvm_put(d, vm);
	return 0;
}

int rw_daemon_resume(struct rw_daemon *d, const char *name, char *err, size_t errlen)
{
	char qmp_path[300];
	struct rw_dvm *vm;
	struct rw_qmp *qmp;
	json_t *ret;

	bool active = false;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm && vm->state == RW_DVM_ACTIVE) {
		snprintf(qmp_path, sizeof(qmp_path), "%s", vm->rec.qmp);
		vm->refs++;
		active = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (!vm)
		return fail(err, errlen, RW_DERR_UNKNOWN_VM, "no VM '%s'", name);
	if (!active)
		return fail(err, errlen, RW_DERR_BAD_REQUEST, "VM '%s' is not active", name);
	if (rw_qmp_connect(qmp_path, (int)d->cfg->qmp_timeout_ms, &qmp, err, errlen)) {
		rw_dvm_put(d, vm);
		return -RW_DERR_FAILED;
	}
	ret = rw_qmp_execute(qmp, "cont", NULL, (int)d->cfg->qmp_timeout_ms, err, errlen);
	rw_qmp_close(qmp);
	if (ret) {
		pthread_mutex_lock(&d->lock);
		vm->rec.paused_by_us = false;
		pthread_mutex_unlock(&d->lock);
		rw_dvm_persist(d, vm);
		lifecycle_event(d, name, RW_SEV_INFO, json_pack("{s:s}", "action", "resumed"));
	}
	json_decref(ret);
	rw_dvm_put(d, vm);
	return ret ? 0 : -RW_DERR_FAILED;
}

int rw_daemon_check_now(struct rw_daemon *d, const char *name, int timeout_ms, char *err,
			size_t errlen)
{
	struct rw_dvm *vm;
	uint64_t target = 0;
	int state = -1;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm) {
		state = (int)vm->state;
		/* The next pass to start; one in flight now started before the request. */
		target = vm->passes_started + 1;
		if (vm->state == RW_DVM_ACTIVE) {
			vm->due_now = true;
			rw_sched_kick(d);
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (!vm)
		return fail(err, errlen, RW_DERR_UNKNOWN_VM, "no VM '%s'", name);
	if (state != RW_DVM_ACTIVE)
		return fail(err, errlen, RW_DERR_FAILED, "VM '%s' is %s: nothing to check", name,
			    state == RW_DVM_GONE ? "gone" : "starting");
	return wait_passes(d, name, target, timeout_ms ? timeout_ms : first_pass_timeout(d),
			   err, errlen);
}

int rw_daemon_request_pass(struct rw_daemon *d, const char *name)
{
	struct rw_dvm *vm;

	pthread_mutex_lock(&d->lock);
	vm = rw_dvm_find_locked(d, name);
	if (vm) {
		vm->due_now = true;
		rw_sched_kick(d);
	}
	pthread_mutex_unlock(&d->lock);
	return vm ? 0 : -RW_DERR_UNKNOWN_VM;
}

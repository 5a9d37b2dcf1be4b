/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatchd core: the VM registry, the scheduler and its worker pool, the
 * event pipeline (store -> outputs -> metrics -> responses) and the VM
 * operations the control socket exposes.  host/ringwatchd.c is only option
 * parsing and process plumbing around this.
 *
 * Threads: one scheduler, N workers (one pass of one VM each), one spawner
 * (owns the QEMU processes the daemon launches: QEMU's parent-death signal
 * follows the thread that forked it), the control server and its client
 * threads, and the metrics server.  d->lock guards the registry and every
 * scheduling field; a pass runs without it.
 */
#ifndef RW_HOST_DAEMON_H
#define RW_HOST_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "host/check.h"
#include "host/daemon_config.h"
#include "host/daemon_store.h"

struct rw_vm;
struct rw_outputs;
struct rw_metrics;
struct rw_spawner;
struct rw_dchan;
struct rw_kernels;
struct rw_config_gen;

enum rw_dvm_state {
	RW_DVM_STARTING,	/* launch in progress: not checked yet */
	RW_DVM_ACTIVE,
	RW_DVM_GONE,		/* QEMU vanished (or destroyed): kept, not checked */
};

/* Per-VM, per-check status. */
struct rw_dvm_check {
	enum rw_result result;
	bool ran;
	char source[RW_CHECK_SOURCE_MAX];
	char summary[RW_CHECK_SUMMARY_MAX];
	int64_t time_ms;		/* wall clock of the last run */
	double duration_s;
	void *state;			/* the check's own state (worker-only) */
	bool persisted;			/* result/source/summary stored as they are */
	bool unavailable;		/* unknown: no source on this VM (not counted) */
};

struct rw_dvm {
	struct rw_store_vm rec;		/* what is persisted (name, paths, state...) */
	enum rw_dvm_state state;
	struct rw_vm *launched;		/* QEMU we started, or NULL */
	int vsockd_pid;			/* ringwatch-vsockd we started for it, or 0 */
	/* scheduling: d->lock */
	int64_t next_due;		/* monotonic ms */
	bool in_flight;			/* a pass is queued or running */
	bool due_now;			/* run a pass as soon as possible */
	bool busy;			/* destroy/detach in progress: no new pass */
	bool removed;			/* detached: freed when the last ref goes */
	/* Kernel image search for a VM given none (d->lock): the last banner tried
	 * (with the configuration it was tried under) and why it failed. */
	char kernel_why[400];
	char kernel_tried[512];
	const struct rw_config *kernel_tried_cfg;
	uint64_t passes_started;
	uint64_t passes_done;
	int64_t last_pass_ms;		/* wall clock end of the last pass */
	int refs;
	size_t nchecks;
	struct rw_dvm_check checks[];
};

/* Push a policy change to a guest (the channel sets it); 0 when delivered. */
typedef int (*rw_push_policy_fn)(void *arg, const char *vm, const json_t *policy,
				 char *err, size_t errlen);

struct rw_daemon {
	pthread_mutex_t lock;
	pthread_cond_t sched_cond;	/* scheduler: something to (re)consider */
	pthread_cond_t queue_cond;	/* workers: a job was queued, or stopping */
	pthread_cond_t pass_cond;	/* a pass finished / a VM left flight */
	pthread_cond_t event_cond;	/* an event was stored (followers) */
	struct rw_dvm **vms;
	size_t nvms, capvms;
	struct rw_dvm **queue;		/* FIFO of VMs due for a pass (each holds a ref) */
	size_t qhead, qlen, qcap;
	bool stopping;
	int64_t last_event_id;

	pthread_t sched_thread;
	bool sched_started;
	pthread_t *workers;
	unsigned int nworkers;

	char state_dir[512];
	/* The configuration in force; a reload (rw_daemon_reload) swaps it.  Read
	 * it through this pointer at use; superseded ones stay valid until stop. */
	const struct rw_config *_Atomic cfg;
	struct rw_config_gen *cfg_gens;	/* configurations the daemon loaded (reloads) */
	const struct rw_check_ops *const *checks;
	size_t nchecks;
	struct rw_store *store;
	struct rw_outputs *out;
	struct rw_metrics *metrics;
	struct rw_spawner *spawner;
	struct rw_kernels *kernels;	/* kernel catalogs + integrity cache, shared by the VMs */
	rw_push_policy_fn push_policy;	/* NULL until the channel attaches */
	void *push_policy_arg;
	struct rw_dchan *chan;		/* the guest channel (host/daemon_channel.h) */
	bool log_to_stderr;
};

struct rw_daemon_opts {
	const char *state_dir;
	const struct rw_config *cfg;		/* lives as long as the daemon */
	const struct rw_check_ops *const *checks;	/* NULL: rw_checks */
	bool log_to_stderr;			/* daemon messages on stderr too */
};

/* Error codes of the VM operations (returned negated). */
enum rw_derr {
	RW_DERR_FAILED = 1,	/* the operation failed (message says why) */
	RW_DERR_UNKNOWN_VM,
	RW_DERR_EXISTS,
	RW_DERR_BAD_REQUEST,
	RW_DERR_BUSY,
	RW_DERR_TIMEOUT,
};
const char *rw_derr_code(int rc);	/* "unknown-vm", ... for the control protocol */

/* Open the store under @opts->state_dir, load the VMs, start the threads. */
int rw_daemon_start(const struct rw_daemon_opts *opts, struct rw_daemon **out, char *err,
		    size_t errlen);
/* Stop the threads, stop the VMs the daemon launched (marked gone), close the store. */
void rw_daemon_stop(struct rw_daemon *d);

/*
 * Record an event: commit it to the store, then write it to the outputs,
 * count it, wake followers and (for check events) apply the configured
 * responses.  Returns the event id only after the commit, or -1 with @err.
 * This is what the channel calls before acknowledging a guest message.
 */
int64_t rw_daemon_event(struct rw_daemon *d, const char *vm, const char *source,
			const char *check, enum rw_severity sev, json_t *detail, char *err,
			size_t errlen);

/*
 * After an event was committed by someone else (the channel's batched
 * transactions): outputs, metrics, followers.  No responses.
 */
void rw_daemon_announce(struct rw_daemon *d, int64_t id, int64_t time_ms, const char *vm,
			const char *source, const char *check, enum rw_severity sev,
			json_t *detail);

struct rw_attach_req {
	const char *name;
	const char *qmp;
	const char *mem;		/* may be "" */
	const char *kernel;		/* may be "" */
	unsigned int interval_ms;	/* 0: config */
	unsigned int vsock_cid;		/* transport A: the guest's AF_VSOCK CID, 0: none */
};

struct rw_launch_req {
	const char *name;
	const char *kernel;		/* with initrd; or NULL with disk */
	const char *initrd;
	const char *disk;		/* boot this disk image with the firmware, or NULL */
	const char *disk_format;	/* NULL: detected (qcow2 magic, else raw) */
	const char *overlay;		/* may be NULL */
	unsigned int memory_mib;	/* 0: launcher default */
	unsigned int cpus;		/* 0: launcher default */
	bool no_kaslr;
	bool no_reboot;			/* a guest reboot ends QEMU (VM gone) instead of resetting */
	unsigned int interval_ms;
	unsigned int timeout_ms;	/* readiness; 0: config launch-timeout */
};

/* VM operations: 0, or -RW_DERR_* with a message in @err. */
int rw_daemon_attach(struct rw_daemon *d, const struct rw_attach_req *req, char *err,
		     size_t errlen);
int rw_daemon_detach(struct rw_daemon *d, const char *name, char *err, size_t errlen);
int rw_daemon_launch(struct rw_daemon *d, const struct rw_launch_req *req, char *err,
		     size_t errlen);
int rw_daemon_destroy(struct rw_daemon *d, const char *name, char *err, size_t errlen);
/* QMP "cont" on a VM ringwatch paused, clearing its paused-by-ringwatch mark. */
int rw_daemon_resume(struct rw_daemon *d, const char *name, char *err, size_t errlen);
/* Run a full pass that starts after this call and wait for it (bounded). */
int rw_daemon_check_now(struct rw_daemon *d, const char *name, int timeout_ms, char *err,
			size_t errlen);
/* Ask for a pass soon (a guest event arrived); no wait.  0 or -RW_DERR_UNKNOWN_VM. */
int rw_daemon_request_pass(struct rw_daemon *d, const char *name);

/* JSON views for the control socket and the CLI. */
json_t *rw_daemon_list_json(struct rw_daemon *d);
/* One VM with every check; NULL (and -RW_DERR_UNKNOWN_VM in *rc) when unknown. */
json_t *rw_daemon_vm_json(struct rw_daemon *d, const char *name, bool with_checks, int *rc);

/* What a reload (SIGHUP) reads: the file and the command-line overrides. */
struct rw_reload_src {
	const char *path;
	bool optional;		/* a missing file means the defaults */
	const char *json_log;	/* --json-log override, or NULL */
	const char *metrics;	/* --metrics override, or NULL */
};

/*
 * Re-read the configuration and apply what can change while running:
 * interval and per-VM intervals, qmp/launch/dump timeouts, respond rules,
 * json-log (reopened: log rotation), syslog, vsockd.  workers, metrics and
 * channel-vsock-port need a restart: they keep their running values and the
 * event says so.  A file that does not parse (or a json-log that cannot be
 * opened) changes nothing: -1 with "FILE:LINE: reason" in @err, logged, and
 * an error event (vm "-", check "config").  Success: 0 and an info event
 * listing the changed directives.
 */
int rw_daemon_reload(struct rw_daemon *d, const struct rw_reload_src *src, char *err,
		     size_t errlen);
/* Free the configurations reloads made (rw_daemon_stop, after every thread). */
void rw_daemon_free_configs(struct rw_daemon *d);

/* Valid VM name: [A-Za-z0-9_.-], 1..48 chars, not starting with '.' or '-'. */
bool rw_vm_name_valid(const char *name);

/* Daemon diagnostics (stderr and/or syslog), not events. */
void rw_daemon_log(struct rw_daemon *d, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- internal, shared by daemon_*.c ------------------------------------- */
struct rw_dvm *rw_dvm_find_locked(struct rw_daemon *d, const char *name);
struct rw_dvm *rw_dvm_new(struct rw_daemon *d, const char *name);	/* one ref, not registered */
int rw_dvm_add_locked(struct rw_daemon *d, struct rw_dvm *vm);	/* registry takes the ref */
void rw_dvm_remove_locked(struct rw_daemon *d, struct rw_dvm *vm);	/* caller gets the ref */
void rw_dvm_put(struct rw_daemon *d, struct rw_dvm *vm);	/* drop a ref */
int rw_dvm_persist(struct rw_daemon *d, struct rw_dvm *vm);	/* copy rec under lock, store */
void rw_dvm_mark_gone(struct rw_daemon *d, struct rw_dvm *vm, const char *why);
void rw_dvm_reset_checks(struct rw_daemon *d, struct rw_dvm *vm);	/* worker-free VM only */
int rw_sched_start(struct rw_daemon *d, char *err, size_t errlen);
void rw_sched_stop(struct rw_daemon *d);
void rw_sched_kick(struct rw_daemon *d);	/* with d->lock held */
/* Apply the configured response for a check event (worker context). */
void rw_respond(struct rw_daemon *d, const char *vm, const char *check,
		enum rw_severity sev, int64_t event_id);
int64_t rw_mono_ms(void);
/* Stop a ringwatch-vsockd the daemon started (SIGTERM, then SIGKILL); *pid = 0. */
void rw_dvm_stop_vsockd(int *pid);

#endif

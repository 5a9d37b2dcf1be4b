/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Check registry: every check ringwatchd runs on a VM is one rw_check_ops in
 * the table rw_checks[] (host/check_table.c).  A pass over a VM runs every
 * registered check in table order with one rw_check_ctx per check (the
 * check's own per-VM state survives between passes in ctx->state).
 *
 * Adding a check: write host/check_<name>.c defining a const struct
 * rw_check_ops, declare it below, and add it to rw_checks[].
 *
 * A check reports one result per pass:
 *   ok       the property holds, vouched for by res->source
 *   alert    the property is violated (findings say where)
 *   unknown  the property cannot be decided yet (e.g. no baseline, guest booting)
 *   error    the check could not run (QEMU not answering, unreadable input)
 * and names the source that vouched ("qmp", "host-memory", "guest-report"...).
 */
#ifndef RW_HOST_CHECK_H
#define RW_HOST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct rw_qmp;
struct rw_kernels;

enum rw_result {
	RW_RESULT_OK = 0,
	RW_RESULT_ALERT = 1,
	RW_RESULT_UNKNOWN = 2,
	RW_RESULT_ERROR = 3,
};

const char *rw_result_name(enum rw_result r);

/* What a check may know about the VM it runs on (read-only for the check). */
struct rw_check_vm {
	const char *name;
	const char *qmp_path;		/* QMP socket (unix) */
	const char *mem_path;		/* RAM source path, or "" */
	int mem_fd;			/* RAM fd held by the daemon (launched VMs), or -1 */
	uint64_t mem_size;		/* bytes of mem_fd, or 0 */
	const char *kernel_path;	/* kernel image, or "" */
	const char *kernel_why;		/* with no image: why none is known (may be NULL) */
	bool paused_by_ringwatch;	/* a response of ours paused it */
};

/* Run state observed by a check (vm-liveness fills it; the pass uses it). */
enum rw_run_state {
	RW_RUN_UNSEEN = 0,
	RW_RUN_RUNNING,
	RW_RUN_PAUSED,
	RW_RUN_OTHER,
};

/* Severity of an event a check records itself (the daemon's event severities). */
enum rw_check_level {
	RW_LEVEL_INFO = 0,
	RW_LEVEL_WARNING,
	RW_LEVEL_ALERT,
	RW_LEVEL_ERROR,
};

struct rw_check_ops;

/*
 * What the daemon lends a check beyond the VM: kernel catalogs shared by all
 * VMs, a way to record events of its own (beyond the result transitions the
 * daemon records), and the per-VM state of another check of the same pass.
 * Every member may be NULL (a check then reports what it cannot do).
 */
struct rw_check_host {
	struct rw_kernels *kernels;
	int (*emit)(void *arg, const char *check, const char *source, enum rw_check_level level,
		    json_t *detail);
	void *(*peer_state)(void *arg, const struct rw_check_ops *ops);
	/* The VM's latest guest-channel state rows (heartbeat, cpu-state,
	 * module-self...) as rw_store_channel_states() gives them: a new
	 * reference, or NULL when there are none or no store (may be NULL). */
	json_t *(*channel_states)(void *arg);
	void *arg;
	/* Modules allowed to own hook handlers (config "hook-allow"); a handler
	 * outside kernel text and these is a violation. May be NULL / 0. */
	const char *const *hook_allow;
	size_t nhook_allow;
};

struct rw_check_ctx {
	const struct rw_check_vm *vm;
	const struct rw_check_host *host;	/* may be NULL */
	int qmp_timeout_ms;		/* bound for every QMP call */
	void *state;			/* the check's per-VM state; freed with ops->free_state */
	enum rw_run_state *run_state;	/* shared by the checks of one pass */
	/* The pass's QMP connection: use rw_check_qmp(), never these directly. */
	struct rw_qmp **qmp;
	char *qmp_err;			/* why the connection failed (sticky for the pass) */
	size_t qmp_errlen;
};

#define RW_CHECK_SOURCE_MAX 32
#define RW_CHECK_SUMMARY_MAX 256
#define RW_CHECK_MAX_FINDINGS 64

struct rw_check_result {
	enum rw_result result;
	char source[RW_CHECK_SOURCE_MAX];	/* which source vouched */
	char summary[RW_CHECK_SUMMARY_MAX];	/* one line for humans */
	json_t *findings;			/* JSON array of objects (owned), or NULL */
	/*
	 * With RW_RESULT_UNKNOWN: no source for this property exists on this VM
	 * (e.g. MSRs under TCG without the guest module), as opposed to "not
	 * decided yet".  The summary says why; the VM's overall state ignores it.
	 */
	bool unavailable;
};

struct rw_check_ops {
	const char *name;		/* [a-z0-9-], unique */
	const char *description;
	/*
	 * Run once.  Fill @res (rw_check_set) and return 0; a negative return
	 * turns the result into "error" with the summary set by the check.
	 * Must be bounded in time (use ctx->qmp_timeout_ms for QMP calls).
	 */
	int (*run)(struct rw_check_ctx *ctx, struct rw_check_result *res);
	/* Free ctx->state (NULL state never passed); NULL when the check keeps none. */
	void (*free_state)(void *state);
};

/* The registered checks, NULL-terminated (host/check_table.c). */
extern const struct rw_check_ops *const rw_checks[];
size_t rw_check_count(const struct rw_check_ops *const *table);

extern const struct rw_check_ops rw_check_vm_liveness;
/* The integrity engine (host/check_integrity.c): "kernel" identifies the running
 * kernel, keeps the baseline and runs the engine's pass; the others report
 * the part of that pass they are named after, so they must follow it. */
extern const struct rw_check_ops rw_check_kernel;
extern const struct rw_check_ops rw_check_ktext;
extern const struct rw_check_ops rw_check_krodata;
extern const struct rw_check_ops rw_check_idt;
extern const struct rw_check_ops rw_check_cr;
extern const struct rw_check_ops rw_check_syscall;
extern const struct rw_check_ops rw_check_msr;
extern const struct rw_check_ops rw_check_modules;

/*
 * The QMP connection of this pass, connected on first use (bounded by
 * ctx->qmp_timeout_ms).  NULL when QEMU does not answer; the reason is in
 * @err (and stays for the rest of the pass, so a hung QEMU costs one timeout).
 */
struct rw_qmp *rw_check_qmp(struct rw_check_ctx *ctx, char *err, size_t errlen);

/*
 * Record an event of this check now (committed before return; @detail not
 * consumed).  0, or -1 when the daemon gave no event sink or the store failed.
 */
int rw_check_event(struct rw_check_ctx *ctx, const char *check, const char *source,
		   enum rw_check_level level, json_t *detail);

/* The per-VM state of check @ops on this VM (it ran earlier in the pass), or NULL. */
void *rw_check_peer_state(struct rw_check_ctx *ctx, const struct rw_check_ops *ops);

/* Set result, source and a printf-style summary. */
void rw_check_set(struct rw_check_result *res, enum rw_result result, const char *source,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Append a finding (reference stolen); at most RW_CHECK_MAX_FINDINGS are kept. */
void rw_check_add_finding(struct rw_check_result *res, json_t *finding);

void rw_check_result_init(struct rw_check_result *res);
void rw_check_result_clear(struct rw_check_result *res);

#endif

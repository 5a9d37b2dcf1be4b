/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch.ko internals: module parameters and the entry points each
 * subsystem (one per file) offers the others.
 */
#ifndef RINGWATCH_H
#define RINGWATCH_H

#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/types.h>

#include "report.h"

/* main.c: module parameters */
extern bool rw_param_enforce;		/* kill + deny on a violation */
extern unsigned int rw_param_scan_ms;	/* all-task credential scan period */
extern unsigned int rw_param_cpu_ms;	/* per-CPU state report period */

/* hooks.c: kprobes, their integrity, and refusing the probed call */
struct rw_hook {
	struct kprobe kp;
	bool can_deny;		/* the handler may refuse the call */
	bool lost;		/* reported as lost, until restored */
};

int rw_hooks_register(struct rw_hook *hooks, unsigned int n);
void rw_hooks_unregister(struct rw_hook *hooks, unsigned int n);
/* Report hooks unregistered or disabled; true when all are in place. */
bool rw_hooks_check(void);
unsigned long rw_hooks_missed(const struct rw_hook *hooks, unsigned int n);
/* From a can_deny pre-handler: make the probed function return @err. */
int rw_hook_deny(struct pt_regs *regs, long err);

/*
 * Hook on a hot path: an ftrace_ops filtered to @symbol's entry.  @check
 * runs with preemption off, in the caller's context; when it returns true
 * the call goes to @deny_to instead (a notrace function with the hooked
 * function's prototype, returning the refusal).
 */
struct rw_fhook {
	const char *symbol;
	bool (*check)(void);
	void *deny_to;
	struct ftrace_ops ops;
	bool lost;		/* reported as lost, until restored */
};

int rw_fhook_register(struct rw_fhook *h);
void rw_fhook_unregister(struct rw_fhook *h);

/* cred.c: credential shadowing */
int rw_cred_init(void);
void rw_cred_exit(void);
/*
 * Validate every task; @report emits a "scan" event with the counts.
 * Returns how many tasks are suspect (to be confirmed by the next scan).
 */
unsigned int rw_cred_scan_all(bool report);
/* True while the capability hook still fires (checked by calling it). */
bool rw_cred_hooks_alive(void);
/*
 * From the timer: hooks not all in place suspends enforcement (shadows go
 * stale); back in place, every shadow is retaken and enforcement resumes.
 */
void rw_cred_tracking(bool hooks_ok);
void rw_cred_show_status(struct seq_file *m);

/* cpustate.c: per-CPU MSR / control register state */
int rw_cpu_init(void);
void rw_cpu_exit(void);
void rw_cpu_report_all(enum rw_cpu_report_reason why);

/* challenge.c: keyed hash over a guest-virtual range */
int rw_challenge_init(void);
void rw_challenge_exit(void);
/* Hash and report (with the host's CHALLENGE seq, 0 = local request). */
int rw_challenge_answer(const u8 nonce[RW_NONCE_LEN], u64 va, u64 len,
			u16 hash_alg, u64 host_seq);

/* selfprot.c: self-description, unload protection, disarm */
int rw_selfprot_init(void);
void rw_selfprot_exit(void);
void rw_selfprot_describe(void);
int rw_selfprot_disarm(const char *token, size_t len);
bool rw_selfprot_armed(void);
/* Timer: hook integrity, heartbeat. */
void rw_selfprot_tick(void);

/* chan.c: the channel to the host (chan.h) */
void rw_kchan_show_status(struct seq_file *m);

/* fs.c: /sys/kernel/security/ringwatch/ */
int rw_fs_init(void);
void rw_fs_exit(void);
struct dentry;
struct dentry *rw_fs_dir(void);

/* agent.c: the agent's registration file, its BPF partners */
int rw_agent_init(struct dentry *dir);
void rw_agent_exit(void);
/* Timer: every partner hook still trampolined. */
void rw_agent_tick(void);
/* Disarmed: registered agents are told to let go, no new ones. */
void rw_agent_revoke(void);
void rw_agent_show_status(struct seq_file *m);

#endif

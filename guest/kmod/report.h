/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one reporting interface of ringwatch.ko.  Every finding and every
 * periodic report of every subsystem goes through these functions; nothing
 * else in the module prints or exports findings.
 *
 * A report is (a) sent to the host over the in-kernel vsock channel
 * (chan.c) as its rw_proto message where the protocol has one (credential
 * violation, CPU state, challenge response, heartbeat), (b) one structured
 * line in the kernel log, "ringwatch: event=<name> seq=<n> key=value ...",
 * and (c) kept in a ring of the last RW_REPORT_RING events plus counters,
 * readable (root only) in /sys/kernel/security/ringwatch/{events,status}
 * (the local copy).  The ring's seq is local; the channel numbers its own
 * stream.
 *
 * All functions may be called from any context (kprobe handlers with
 * interrupts off, tracepoints, RCU callbacks, process context).
 */
#ifndef RINGWATCH_REPORT_H
#define RINGWATCH_REPORT_H

#include <linux/sched.h>
#include <linux/types.h>

#define RW_REPORT_RING		128
#define RW_REPORT_LINE_MAX	1024

/* What a credential check inspects; values are stable (wire protocol). */
enum rw_shadow_field {
	RW_F_CRED,		/* task->cred pointer */
	RW_F_REAL_CRED,		/* task->real_cred pointer */
	RW_F_NSPROXY,		/* task->nsproxy pointer */
	RW_F_SECCOMP,		/* task->seccomp.mode (may only rise) */
	RW_F_SECCOMP_WORK,	/* SYSCALL_WORK_SECCOMP set while mode != 0 */
	/* Objective identity (task->real_cred), then the same set for the
	 * subjective one (task->cred) while it differs from real_cred.
	 */
	RW_F_UID, RW_F_GID, RW_F_SUID, RW_F_SGID,
	RW_F_EUID, RW_F_EGID, RW_F_FSUID, RW_F_FSGID,
	RW_F_SECUREBITS,
	RW_F_CAP_INHERITABLE, RW_F_CAP_PERMITTED, RW_F_CAP_EFFECTIVE,
	RW_F_CAP_BSET, RW_F_CAP_AMBIENT,
	RW_F_USER_NS,
	RW_F_GROUP_INFO,	/* supplementary groups (shared across exec) */
	RW_F_SUBJ_UID,
	RW_F_NR = RW_F_SUBJ_UID + (RW_F_GROUP_INFO - RW_F_UID + 1)
};

#define RW_ID_NR		(RW_F_GROUP_INFO - RW_F_UID + 1)

/* Where a violation was caught. */
enum rw_check {
	RW_CHECK_CAPABLE,
	RW_CHECK_FILE_OPEN,
	RW_CHECK_EXEC,
	RW_CHECK_MODULE_LOAD,
	RW_CHECK_FORK,
	RW_CHECK_COMMIT_CREDS,
	RW_CHECK_SCAN,
	RW_CHECK_NR
};

struct rw_field_diff {
	u8 field;		/* enum rw_shadow_field */
	u64 shadow;		/* value recorded on the legitimate path */
	u64 live;		/* value found in the task */
};

struct rw_cred_violation {
	pid_t pid;
	pid_t tgid;
	char comm[TASK_COMM_LEN];
	enum rw_check check;
	bool killed;
	bool denied;		/* the operation being checked was refused */
	int error;		/* with denied: the -errno it returned */
	unsigned int nr_diffs;
	struct rw_field_diff diffs[RW_F_NR];
};

/* uid gid suid sgid euid egid fsuid fsgid: RW_F_UID.. order (and the wire's). */
#define RW_CRED_IDS		8

/* A uid/gid-family change accepted at commit_creds (cross-checked by the host). */
struct rw_cred_change {
	pid_t pid;
	pid_t tgid;
	char comm[TASK_COMM_LEN];
	bool exec;		/* inside execve */
	int syscall_nr;		/* -1: none / unknown */
	u32 old_ids[RW_CRED_IDS];
	u32 new_ids[RW_CRED_IDS];
};

enum rw_cpu_report_reason {
	RW_CPUREP_LOAD,
	RW_CPUREP_PERIODIC,
	RW_CPUREP_REQUEST,
	RW_CPUREP_HOTPLUG,
};

/* Bits of rw_cpu_state.msr_faults: the rdmsr of that register faulted. */
enum rw_cpu_msr {
	RW_MSR_LSTAR, RW_MSR_STAR, RW_MSR_CSTAR, RW_MSR_SFMASK,
	RW_MSR_SYSENTER_CS, RW_MSR_SYSENTER_ESP, RW_MSR_SYSENTER_EIP,
	RW_MSR_EFER, RW_MSR_NR
};

struct rw_cpu_state {
	unsigned int cpu;
	u64 msr[RW_MSR_NR];	/* indexed by enum rw_cpu_msr */
	u32 msr_faults;
	u64 cr0;
	u64 cr4;
	u64 idt_base;
	u16 idt_limit;
};

#define RW_NONCE_LEN		16
#define RW_DIGEST_LEN		32

/* Challenge algorithm (wire value): HMAC-SHA256 keyed with the nonce. */
#define RW_CHAL_ALG_HMAC_SHA256	1

struct rw_challenge_answer {
	u8 nonce[RW_NONCE_LEN];
	u64 va;
	u64 len;
	u16 hash_alg;		/* as asked; only RW_CHAL_ALG_HMAC_SHA256 works */
	u64 host_seq;		/* seq of the host's CHALLENGE, 0: asked locally */
	int err;		/* 0, or -EINVAL/-E2BIG/-EFAULT/-ENOMEM/-EOPNOTSUPP */
	u8 digest[RW_DIGEST_LEN]; /* HMAC-SHA256(key = nonce, guest bytes) */
};

/* The module's own core layout, for the host to hash. */
struct rw_self_desc {
	u64 base;
	u64 text_end;		/* [base, text_end) executable */
	u64 ro_end;		/* [text_end, ro_end) read-only data */
	u64 ro_after_init_end;	/* [ro_end, ro_after_init_end) */
	u64 end;		/* [ro_after_init_end, end) writable data */
};

/* Events without a payload struct of their own. */
enum rw_event_kind {
	RW_EV_LOADED,		/* detail: armed=, enforce= */
	RW_EV_UNLOAD_ATTEMPT,	/* rmmod while armed (refused) */
	RW_EV_DISARMED,		/* the disarm token was presented */
	RW_EV_DISARM_REFUSED,	/* a wrong token was presented */
	RW_EV_HOOK_LOST,	/* a hook stopped firing / was unregistered */
	RW_EV_HOOK_RESTORED,
	RW_EV_TRACKING_LOST,	/* update hooks missed: shadows resynced */
	RW_EV_TRACKING_RESUMED,	/* hooks back, shadows retaken, enforcing */
	RW_EV_SHADOW_NOMEM,	/* a task could not get a shadow entry */
	RW_EV_SCAN,		/* detail: tasks=, shadow_live= */
	RW_EV_AGENT_REGISTERED,	/* first agent registration (local only) */
	RW_EV_AGENT_LOST,	/* the registered agent's file was released */
	RW_EV_AGENT_BACK,	/* an agent registered after a loss: gap_ms= */
	RW_EV_AGENT_RELEASED,	/* let go after disarm (local only) */
	RW_EV_PARTNER_DETACHED,	/* bpf_lsm_<hook> no longer calls a trampoline */
	RW_EV_PARTNER_RESTORED,
	RW_EV_NR
};

void rw_report_cred_violation(const struct rw_cred_violation *v);
/* Sent and counted only: too frequent for the log and the ring. */
void rw_report_cred_change(const struct rw_cred_change *c);
void rw_report_cpu_state(const struct rw_cpu_state *s, enum rw_cpu_report_reason why);
void rw_report_challenge(const struct rw_challenge_answer *a);
void rw_report_self(const struct rw_self_desc *d);
__printf(2, 3)
void rw_report_event(enum rw_event_kind kind, const char *fmt, ...);
/* Liveness counter: sent to the host, counted, not logged. */
void rw_report_heartbeat(u64 counter);

const char *rw_cred_field_name(enum rw_shadow_field f);
const char *rw_check_name(enum rw_check c);

/* Ring and counters, for the securityfs files. */
struct seq_file;
void rw_report_show_events(struct seq_file *m);
void rw_report_show_counters(struct seq_file *m);

int rw_report_init(void);
void rw_report_exit(void);

#endif

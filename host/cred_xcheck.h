/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Credential-change cross-check (host side of issue 7 item 4).
 *
 * Two guest components report the uid/gid-family changes they see, each on
 * its own channel stream (CRED_CHANGE, shared/rw_proto.h):
 *   - ringwatch.ko at commit_creds, where its credential shadow accepts the
 *     change ("kmod" side);
 *   - the BPF LSM programs at task_fix_setuid / task_fix_setgid /
 *     bprm_committing_creds, forwarded by ringwatch-agent ("bpf" side).
 * Every legitimate change passes both.  A kernel exploit that calls
 * commit_creds(prepare_kernel_cred(..)) itself passes only the first; a
 * change the BPF programs saw but ringwatch.ko did not means its hooks are
 * blind.  The correlator pairs the two reports per VM by (pid, tgid, new
 * ids); a pair cancels, a report left alone for the window becomes a
 * finding naming the side that saw it.
 *
 * A missing partner is blamed on the peer only when both streams had been
 * ready for a window when the report arrived and the peer's still is at
 * expiry: otherwise the report is counted as unverified (right after a
 * (re)connection a partner may have gone to a daemon that restarted since,
 * and a peer's absence is reported by its own liveness checks).
 *
 * A side that lost reports (its channel queue overflowed: LOSS; the BPF ring
 * buffer overflowed; ringwatch.ko's hooks missed hits) makes the other
 * side's lone reports from a window around the loss unverifiable too: they
 * are counted (after_loss), not reported.
 *
 * Memory is bounded: at most max_pending reports per VM and max_vms VMs.  A
 * report that does not fit is dropped and the overflow is itself a finding
 * (once per episode, and a summary when the episode ends); one-sided
 * findings are held back while an episode lasts, because a dropped report
 * leaves its partner alone (they are counted in the summary instead).
 *
 * Thread-safe (one internal mutex).  Time is passed in by the caller
 * (monotonic milliseconds), so tests drive the clock.
 */
#ifndef RW_HOST_CRED_XCHECK_H
#define RW_HOST_CRED_XCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "shared/rw_proto.h"

enum rw_xcheck_side {
	RW_XCHECK_KMOD = 0,	/* ringwatch.ko: commit_creds, the shadow update */
	RW_XCHECK_BPF = 1,	/* BPF LSM: task_fix_setuid/setgid, exec */
};
#define RW_XCHECK_SIDES 2

#define RW_XCHECK_WINDOW_MS_DEFAULT 10000u	/* TCG guests are slow */
#define RW_XCHECK_MAX_PENDING_DEFAULT 1024u	/* per VM */
#define RW_XCHECK_MAX_VMS_DEFAULT 1024u
#define RW_XCHECK_VM_NAME_MAX 64u

struct rw_xcheck_config {
	unsigned window_ms;	/* 0: default */
	unsigned max_pending;	/* 0: default */
	unsigned max_vms;	/* 0: default */
};

enum rw_xcheck_finding_kind {
	RW_XF_ONE_SIDED = 1,	/* a change only one side reported */
	RW_XF_OVERFLOW = 2,	/* a report dropped: table full (episode starts) */
	RW_XF_OVERFLOW_END = 3,	/* episode over: how many dropped / held back */
	RW_XF_VMS_FULL = 4,	/* no room for another VM: its reports are dropped */
};

struct rw_xcheck_finding {
	enum rw_xcheck_finding_kind kind;
	char vm[RW_XCHECK_VM_NAME_MAX];
	enum rw_xcheck_side side;	/* who saw it / whose report was dropped */
	struct rw_msg_cred_change obs;	/* ONE_SIDED: the report */
	uint64_t seq;			/* ONE_SIDED: its stream seq */
	int64_t age_ms;			/* ONE_SIDED: how long it waited */
	uint64_t dropped;		/* OVERFLOW*, VMS_FULL */
	uint64_t held_back;		/* OVERFLOW_END: one-sided reports not reported */
	unsigned cap;			/* OVERFLOW*: max_pending, VMS_FULL: max_vms */
	unsigned window_ms;
};

/* Findings produced by one call; the caller emits and then frees them. */
struct rw_xcheck_findings {
	struct rw_xcheck_finding *v;
	size_t n, cap;
	uint64_t lost;		/* findings that did not fit in memory */
};

struct rw_xcheck_stats {
	uint64_t reports[RW_XCHECK_SIDES];
	uint64_t matched;
	uint64_t one_sided[RW_XCHECK_SIDES];	/* reported as findings */
	uint64_t unverified;	/* expired while the peer was not (continuously) up */
	uint64_t after_loss;	/* expired near a loss of the peer's reports */
	uint64_t dropped;	/* reports that did not fit */
	uint64_t pending;	/* waiting now */
	bool peer_up[RW_XCHECK_SIDES];
};

struct rw_xcheck;

/* NULL when out of memory. */
struct rw_xcheck *rw_xcheck_new(const struct rw_xcheck_config *cfg);
void rw_xcheck_free(struct rw_xcheck *x);

/* The stream of @side of @vm became ready (@up) or closed. */
void rw_xcheck_side_state(struct rw_xcheck *x, const char *vm, enum rw_xcheck_side side,
			  bool up, int64_t now_ms, struct rw_xcheck_findings *out);

/* @side lost reports (LOSS, ring-buffer overflow, missed hooks) around @now_ms. */
void rw_xcheck_side_loss(struct rw_xcheck *x, const char *vm, enum rw_xcheck_side side,
			 int64_t now_ms, struct rw_xcheck_findings *out);

enum rw_xcheck_result {
	RW_XCHECK_MATCHED = 0,	/* paired with the other side's report */
	RW_XCHECK_PENDING = 1,	/* waiting for the other side */
	RW_XCHECK_DROPPED = 2,	/* no room (a finding says so) */
};

/* One report of @side (@seq: its stream position, for the finding). */
enum rw_xcheck_result rw_xcheck_observe(struct rw_xcheck *x, const char *vm,
					enum rw_xcheck_side side,
					const struct rw_msg_cred_change *obs, uint64_t seq,
					int64_t now_ms, struct rw_xcheck_findings *out);

/* Expire every report older than the window (call periodically). */
void rw_xcheck_expire(struct rw_xcheck *x, int64_t now_ms, struct rw_xcheck_findings *out);

/* Counters of @vm (all zero for an unknown VM). */
void rw_xcheck_stats(struct rw_xcheck *x, const char *vm, struct rw_xcheck_stats *out);

/* "ringwatch.ko" / "bpf". */
const char *rw_xcheck_side_name(enum rw_xcheck_side side);

/* Event detail for a finding (check "cred-xcheck"); NULL when out of memory. */
json_t *rw_xcheck_finding_json(const struct rw_xcheck_finding *f);

/* Free the findings' storage (the struct itself is the caller's). */
void rw_xcheck_findings_release(struct rw_xcheck_findings *out);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Credential shadowing: for every task, a copy of what its credentials,
 * namespaces and seccomp state must be, updated only on the kernel's own
 * change paths and compared with the task where an escalation must pass.
 *
 * Updated by:   commit_creds (every setuid/capset/exec/... commits here),
 *               override_creds/revert_creds (temporary subjective creds),
 *               switch_task_namespaces (setns, unshare, exec, exit),
 *               fork (the child starts from what the checked parent has);
 *               seccomp mode may only rise, so a rise is accepted anywhere.
 * Checked at:   security_capable, security_file_open, security_bprm_check
 *               (exec), security_kernel_read_file/load_data (module load),
 *               commit_creds, fork, and for every task on a timer.  Every
 *               hook is a kprobe on an ftrace site except the hottest,
 *               security_file_open: a bare ftrace_ops (hooks.c, rw_fhook).
 * On mismatch:  SIGKILL, the checked operation refused, one report.
 *
 * Storage: an rhashtable keyed by task_struct address (RCU lookups, bucket
 * locks only on insert/remove), one spinlock per entry.  Writers also bump
 * a per-entry seqcount, so the checks in the task itself first compare
 * without the lock (rw_shadow_fast_match); any difference, or a writer in
 * the way, takes the locked path that decides.  Entries are made
 * at fork (sched_process_fork) and freed with the task_struct
 * (sched_process_free), so an address is never reused while it has one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/binfmts.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/nsproxy.h>
#include <linux/percpu.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seccomp.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/thread_info.h>
#include <linux/tracepoint.h>
#include <linux/user_namespace.h>
#include <asm/syscall.h>

#include "ringwatch.h"

struct rw_task_state {
	unsigned long cred;
	unsigned long real_cred;
	unsigned long nsproxy;
	u64 obj[RW_ID_NR];	/* identity of real_cred, by RW_F_UID + i */
	u64 subj[RW_ID_NR];	/* identity of cred */
	int seccomp_mode;
	bool seccomp_work;
};

struct rw_shadow {
	struct rhash_head node;
	unsigned long key;	/* task_struct address */
	spinlock_t lock;	/* protects the fields below */
	seqcount_spinlock_t seq;	/* bumped by every writer (under lock) */
	struct rw_task_state st;
	struct rw_task_state prev;	/* before the last recorded change */
	unsigned long changed_at;	/* jiffies of the last recorded change */
	u64 suspect_gen;	/* scan that first saw a mismatch, or 0 */
	bool violated;		/* reported: keep refusing, don't re-report */
	struct rcu_head rcu;
};

static const struct rhashtable_params rw_shadow_params = {
	.key_len = sizeof(unsigned long),
	.key_offset = offsetof(struct rw_shadow, key),
	.head_offset = offsetof(struct rw_shadow, node),
	.nelem_hint = 1024,
	.automatic_shrinking = true,
};

static struct rhashtable rw_shadows;
static struct kmem_cache *rw_shadow_cache;
static atomic_long_t rw_shadow_live;
static atomic_long_t rw_shadow_created;
static atomic_long_t rw_shadow_freed;
static atomic_long_t rw_violations;
static atomic_long_t rw_kills;
static atomic_long_t rw_denials;
static atomic_long_t rw_scans;
static atomic_long_t rw_nomem;
static atomic_long_t rw_resyncs;
static unsigned long rw_missed_seen;	/* update-hook misses already handled */
/* Hooks were off (kprobes disabled, a hook removed, an exec's commit not
 * seen): shadows may be stale, so mismatches resync instead of killing
 * until the hooks are back and every shadow has been taken afresh.
 */
static bool rw_tracking_suspended;
static u64 rw_scan_gen;			/* only the scan path writes it */
static DEFINE_MUTEX(rw_scan_lock);

/*
 * How long after a recorded change the remote scan accepts the task still
 * showing the state before it: the change path's store may not have
 * happened yet (its CPU preempted, or a vCPU stalled by the host).  Checks
 * in the task itself never accept it.
 */
#define RW_INFLIGHT_JIFFIES	(2 * HZ)

/* What a refused check makes the checked function return. */
#define RW_DENY_ERR		(-EPERM)

/* One violation report buffer per CPU: reports are built with preemption
 * off and never nest in task context, so no allocation on the hot path.
 */
static DEFINE_PER_CPU(struct rw_cred_violation, rw_violation_buf);
static DEFINE_PER_CPU(unsigned long, rw_capable_hits);

/*
 * Per CPU, the entry last found for the task running there.  Written only
 * for current, with preemption off; dropped (rw_current_hint_drop) before
 * the task's entry is freed, which is after the task ran for the last time.
 */
struct rw_shadow_hint {
	unsigned long key;	/* task_struct address, 0 = none */
	struct rw_shadow *sh;
};
static DEFINE_PER_CPU(struct rw_shadow_hint, rw_current_hint);

#define RW_UPDATE_HOOKS	4
static struct rw_hook rw_update_hooks[RW_UPDATE_HOOKS];

static u64 rw_cap_u64(kernel_cap_t c)
{
	return ((u64)c.cap[1] << 32) | c.cap[0];
}

/* The uid/gid family of @c, by RW_F_UID + i up to RW_F_FSGID. */
static void rw_cred_ids(u32 ids[RW_CRED_IDS], const struct cred *c)
{
	ids[RW_F_UID - RW_F_UID] = __kuid_val(c->uid);
	ids[RW_F_GID - RW_F_UID] = __kgid_val(c->gid);
	ids[RW_F_SUID - RW_F_UID] = __kuid_val(c->suid);
	ids[RW_F_SGID - RW_F_UID] = __kgid_val(c->sgid);
	ids[RW_F_EUID - RW_F_UID] = __kuid_val(c->euid);
	ids[RW_F_EGID - RW_F_UID] = __kgid_val(c->egid);
	ids[RW_F_FSUID - RW_F_UID] = __kuid_val(c->fsuid);
	ids[RW_F_FSGID - RW_F_UID] = __kgid_val(c->fsgid);
}

static void rw_ids_from_cred(u64 ids[RW_ID_NR], const struct cred *c)
{
	u32 uids[RW_CRED_IDS];
	int i;

	BUILD_BUG_ON(RW_F_FSGID - RW_F_UID + 1 != RW_CRED_IDS);
	rw_cred_ids(uids, c);
	for (i = 0; i < RW_CRED_IDS; i++)
		ids[i] = uids[i];
	ids[RW_F_SECUREBITS - RW_F_UID] = c->securebits;
	ids[RW_F_CAP_INHERITABLE - RW_F_UID] = rw_cap_u64(c->cap_inheritable);
	ids[RW_F_CAP_PERMITTED - RW_F_UID] = rw_cap_u64(c->cap_permitted);
	ids[RW_F_CAP_EFFECTIVE - RW_F_UID] = rw_cap_u64(c->cap_effective);
	ids[RW_F_CAP_BSET - RW_F_UID] = rw_cap_u64(c->cap_bset);
	ids[RW_F_CAP_AMBIENT - RW_F_UID] = rw_cap_u64(c->cap_ambient);
	ids[RW_F_USER_NS - RW_F_UID] = (unsigned long)c->user_ns;
	ids[RW_F_GROUP_INFO - RW_F_UID] = (unsigned long)c->group_info;
}

/* Same as comparing rw_ids_from_cred(@c) with @ids, without the copy. */
static __always_inline bool rw_ids_match(const u64 ids[RW_ID_NR], const struct cred *c)
{
	BUILD_BUG_ON(RW_ID_NR != 16);
	return ids[RW_F_UID - RW_F_UID] == __kuid_val(c->uid) &&
	       ids[RW_F_GID - RW_F_UID] == __kgid_val(c->gid) &&
	       ids[RW_F_SUID - RW_F_UID] == __kuid_val(c->suid) &&
	       ids[RW_F_SGID - RW_F_UID] == __kgid_val(c->sgid) &&
	       ids[RW_F_EUID - RW_F_UID] == __kuid_val(c->euid) &&
	       ids[RW_F_EGID - RW_F_UID] == __kgid_val(c->egid) &&
	       ids[RW_F_FSUID - RW_F_UID] == __kuid_val(c->fsuid) &&
	       ids[RW_F_FSGID - RW_F_UID] == __kgid_val(c->fsgid) &&
	       ids[RW_F_SECUREBITS - RW_F_UID] == c->securebits &&
	       ids[RW_F_CAP_INHERITABLE - RW_F_UID] == rw_cap_u64(c->cap_inheritable) &&
	       ids[RW_F_CAP_PERMITTED - RW_F_UID] == rw_cap_u64(c->cap_permitted) &&
	       ids[RW_F_CAP_EFFECTIVE - RW_F_UID] == rw_cap_u64(c->cap_effective) &&
	       ids[RW_F_CAP_BSET - RW_F_UID] == rw_cap_u64(c->cap_bset) &&
	       ids[RW_F_CAP_AMBIENT - RW_F_UID] == rw_cap_u64(c->cap_ambient) &&
	       ids[RW_F_USER_NS - RW_F_UID] == (unsigned long)c->user_ns &&
	       ids[RW_F_GROUP_INFO - RW_F_UID] == (unsigned long)c->group_info;
}

static void rw_state_set_real(struct rw_task_state *st, const struct cred *c)
{
	st->real_cred = (unsigned long)c;
	if (c)
		rw_ids_from_cred(st->obj, c);
	else
		memset(st->obj, 0, sizeof(st->obj));
}

static void rw_state_set_subj(struct rw_task_state *st, const struct cred *c)
{
	st->cred = (unsigned long)c;
	if (c)
		rw_ids_from_cred(st->subj, c);
	else
		memset(st->subj, 0, sizeof(st->subj));
}

/* Caller holds rcu_read_lock(); @t is alive or RCU-protected. */
static void rw_state_capture(struct task_struct *t, struct rw_task_state *st)
{
	rw_state_set_real(st, rcu_dereference(t->real_cred));
	rw_state_set_subj(st, rcu_dereference(t->cred));
	st->nsproxy = (unsigned long)READ_ONCE(t->nsproxy);
	st->seccomp_mode = READ_ONCE(t->seccomp.mode);
	st->seccomp_work = test_task_syscall_work(t, SECCOMP);
}

static u64 rw_state_field(const struct rw_task_state *st, unsigned int f)
{
	switch (f) {
	case RW_F_CRED:
		return st->cred;
	case RW_F_REAL_CRED:
		return st->real_cred;
	case RW_F_NSPROXY:
		return st->nsproxy;
	case RW_F_SECCOMP:
		return st->seccomp_mode;
	case RW_F_SECCOMP_WORK:
		return st->seccomp_work;
	}
	if (f >= RW_F_SUBJ_UID && f < RW_F_NR)
		return st->subj[f - RW_F_SUBJ_UID];
	if (f >= RW_F_UID && f <= RW_F_GROUP_INFO)
		return st->obj[f - RW_F_UID];
	return 0;
}

/* Bit RW_F_x set when field x of @live breaks what @sh allows. */
static u64 rw_state_mismatch(const struct rw_task_state *sh,
			     const struct rw_task_state *live)
{
	u64 mask = 0;
	unsigned int i;

	if (sh->cred != live->cred)
		mask |= BIT_ULL(RW_F_CRED);
	if (sh->real_cred != live->real_cred)
		mask |= BIT_ULL(RW_F_REAL_CRED);
	if (sh->nsproxy != live->nsproxy)
		mask |= BIT_ULL(RW_F_NSPROXY);
	if (live->seccomp_mode < sh->seccomp_mode)
		mask |= BIT_ULL(RW_F_SECCOMP);
	if (live->seccomp_mode && !live->seccomp_work)
		mask |= BIT_ULL(RW_F_SECCOMP_WORK);
	for (i = 0; i < RW_ID_NR; i++)
		if (sh->obj[i] != live->obj[i])
			mask |= BIT_ULL(RW_F_UID + i);
	/* The subjective set is its own object only during an override. */
	if (sh->cred != sh->real_cred || live->cred != live->real_cred)
		for (i = 0; i < RW_ID_NR; i++)
			if (sh->subj[i] != live->subj[i])
				mask |= BIT_ULL(RW_F_SUBJ_UID + i);
	return mask;
}

/* Every change of an entry: the lock, and the seqcount for lockless readers. */
static void rw_shadow_lock(struct rw_shadow *sh, unsigned long *flags)
{
	spin_lock_irqsave(&sh->lock, *flags);
	write_seqcount_begin(&sh->seq);
}

static void rw_shadow_unlock(struct rw_shadow *sh, unsigned long flags)
{
	write_seqcount_end(&sh->seq);
	spin_unlock_irqrestore(&sh->lock, flags);
}

static struct rw_shadow *rw_shadow_lookup(struct task_struct *t)
{
	unsigned long key = (unsigned long)t;

	return rhashtable_lookup(&rw_shadows, &key, rw_shadow_params);
}

static void rw_shadow_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(rw_shadow_cache, container_of(head, struct rw_shadow, rcu));
}

/*
 * Find or make the entry of @t, which is alive or found under the RCU read
 * lock the caller holds (so sched_process_free cannot have run for it).
 * Any context; returns NULL when out of memory.
 */
static struct rw_shadow *rw_shadow_get(struct task_struct *t)
{
	struct rw_shadow *sh = rw_shadow_lookup(t), *old;

	if (likely(sh))
		return sh;
	sh = kmem_cache_zalloc(rw_shadow_cache, GFP_ATOMIC | __GFP_NOWARN);
	if (!sh)
		goto nomem;
	sh->key = (unsigned long)t;
	spin_lock_init(&sh->lock);
	seqcount_spinlock_init(&sh->seq, &sh->lock);
	rw_state_capture(t, &sh->st);
	old = rhashtable_lookup_get_insert_fast(&rw_shadows, &sh->node,
						rw_shadow_params);
	if (likely(!old)) {
		atomic_long_inc(&rw_shadow_live);
		atomic_long_inc(&rw_shadow_created);
		return sh;
	}
	kmem_cache_free(rw_shadow_cache, sh);
	if (!IS_ERR(old))
		return old;
nomem:
	if (atomic_long_inc_return(&rw_nomem) == 1)
		rw_report_event(RW_EV_SHADOW_NOMEM, "pid=%d comm=%s",
				task_pid_nr(t), t->comm);
	return NULL;
}

/*
 * Shadows cannot be trusted while tracking is suspended, nor after an
 * update hook missed a hit (kprobe recursion; resync once per miss).
 */
static bool rw_tracking_lost(void)
{
	unsigned long missed;

	if (READ_ONCE(rw_tracking_suspended))
		return true;
	missed = rw_hooks_missed(rw_update_hooks, RW_UPDATE_HOOKS);
	if (likely(missed == READ_ONCE(rw_missed_seen)))
		return false;
	WRITE_ONCE(rw_missed_seen, missed);
	rw_report_event(RW_EV_TRACKING_LOST, "reason=missed count=%lu", missed);
	return true;
}

static void rw_tracking_suspend(const char *reason)
{
	if (!xchg(&rw_tracking_suspended, true))
		rw_report_event(RW_EV_TRACKING_LOST, "reason=%s action=suspend", reason);
}

/* Fill the per-CPU report for @t; preemption must be off. */
static struct rw_cred_violation *
rw_violation_fill(struct task_struct *t, enum rw_check where, u64 mask,
		  const struct rw_task_state *sh, const struct rw_task_state *live)
{
	struct rw_cred_violation *v = this_cpu_ptr(&rw_violation_buf);
	unsigned int f;

	v->pid = task_pid_nr(t);
	v->tgid = task_tgid_nr(t);
	/* Not get_task_comm(): a hook may run under the task's alloc_lock. */
	strscpy(v->comm, t->comm, sizeof(v->comm));
	v->check = where;
	v->killed = false;
	v->denied = false;
	v->error = 0;
	v->nr_diffs = 0;
	for (f = 0; f < RW_F_NR; f++) {
		if (!(mask & BIT_ULL(f)))
			continue;
		v->diffs[v->nr_diffs].field = f;
		v->diffs[v->nr_diffs].shadow = rw_state_field(sh, f);
		v->diffs[v->nr_diffs].live = rw_state_field(live, f);
		v->nr_diffs++;
	}
	return v;
}

/* Kill, count and report; preemption off (the per-CPU buffer is in use). */
static void rw_violation_act(struct task_struct *t, struct rw_cred_violation *v,
			     bool deny)
{
	atomic_long_inc(&rw_violations);
	if (rw_param_enforce) {
		send_sig(SIGKILL, t, 1);
		v->killed = true;
		v->denied = deny;
		v->error = deny ? RW_DENY_ERR : 0;
		atomic_long_inc(&rw_kills);
	}
	rw_report_cred_violation(v);
}

/*
 * Lockless fast path of a check in the task itself (RCU read lock held):
 * true when @t is exactly in the recorded state, which is what
 * rw_state_mismatch() would find too (no mismatch, no seccomp rise to
 * record, no suspicion to clear).  False sends the caller to the locked
 * path: a difference, a violator, or a writer that got in the way.
 */
static __always_inline bool rw_shadow_fast_match(const struct rw_shadow *sh,
						  struct task_struct *t)
{
	const struct rw_task_state *st = &sh->st;
	const struct cred *real, *subj;
	unsigned int seq;

	seq = raw_read_seqcount(&sh->seq);
	if (seq & 1)
		return false;
	if (READ_ONCE(sh->violated) || READ_ONCE(sh->suspect_gen))
		return false;
	real = rcu_dereference(t->real_cred);
	subj = rcu_dereference(t->cred);
	if ((unsigned long)real != st->real_cred || (unsigned long)subj != st->cred ||
	    (unsigned long)READ_ONCE(t->nsproxy) != st->nsproxy ||
	    READ_ONCE(t->seccomp.mode) != st->seccomp_mode || !real)
		return false;
	if (st->seccomp_mode && !test_task_syscall_work(t, SECCOMP))
		return false;
	if (!rw_ids_match(st->obj, real))
		return false;
	/* the subjective set is its own object only during an override */
	if (subj != real && (!subj || !rw_ids_match(st->subj, subj)))
		return false;
	return !read_seqcount_retry(&sh->seq, seq);
}

/*
 * Compare @t with its shadow.  @scan_gen != 0 (remote scan): a mismatch
 * counts only when the previous scan saw one too, because another task can
 * be between a change path's hook and its store; a first one is counted in
 * @suspects.  Returns true when @t is a known violator (its checked
 * operation is to be refused).
 */
static noinline bool rw_cred_validate_locked(struct rw_shadow *sh, struct task_struct *t,
					     enum rw_check where, u64 scan_gen,
					     unsigned int *suspects, bool deny)
{
	struct rw_task_state live, old;
	struct rw_cred_violation *v;
	unsigned long flags;
	bool report = false, violator;
	u64 mask;

	rw_state_capture(t, &live);
	rw_shadow_lock(sh, &flags);
	mask = sh->violated ? 0 : rw_state_mismatch(&sh->st, &live);
	if (likely(!mask)) {
		sh->suspect_gen = 0;
		if (live.seccomp_mode > sh->st.seccomp_mode)
			sh->st.seccomp_mode = live.seccomp_mode;
	} else if (scan_gen && sh->changed_at &&
		   time_before(jiffies, sh->changed_at + RW_INFLIGHT_JIFFIES) &&
		   !rw_state_mismatch(&sh->prev, &live)) {
		mask = 0;	/* the recorded change is still in flight */
	} else if (scan_gen && (!sh->suspect_gen || sh->suspect_gen != scan_gen - 1)) {
		sh->suspect_gen = scan_gen;
		mask = 0;
		if (suspects)
			(*suspects)++;
	} else if (rw_tracking_lost()) {
		sh->st = live;
		mask = 0;
		atomic_long_inc(&rw_resyncs);
	} else {
		sh->violated = true;
		old = sh->st;
		report = true;
	}
	violator = sh->violated;
	rw_shadow_unlock(sh, flags);

	if (report) {
		preempt_disable();
		v = rw_violation_fill(t, where, mask, &old, &live);
		rw_violation_act(t, v, deny);
		preempt_enable();
	}
	return violator;
}

/*
 * Hot checks of current: its entry through the per-CPU hint (no table
 * lookup while the same task keeps running here), then the lockless
 * comparison.  RCU read lock held.
 */
static bool rw_current_fast_match(void)
{
	struct rw_shadow_hint *hint = get_cpu_ptr(&rw_current_hint);
	struct rw_shadow *sh = NULL;
	bool same;

	if (likely(hint->key == (unsigned long)current))
		sh = hint->sh;
	if (unlikely(!sh)) {
		sh = rw_shadow_get(current);
		if (sh) {
			hint->sh = sh;
			hint->key = (unsigned long)current;
		}
	}
	same = sh && rw_shadow_fast_match(sh, current);
	put_cpu_ptr(&rw_current_hint);
	return same;
}

/* Forget a task's hints before its entry goes (it runs nowhere by now). */
static void rw_current_hint_drop(unsigned long key)
{
	struct rw_shadow_hint *hint;
	int cpu;

	for_each_possible_cpu(cpu) {
		hint = per_cpu_ptr(&rw_current_hint, cpu);
		if (READ_ONCE(hint->key) == key)
			WRITE_ONCE(hint->key, 0);
	}
}

static bool rw_cred_validate(struct task_struct *t, enum rw_check where,
			     u64 scan_gen, unsigned int *suspects, bool deny)
{
	struct rw_shadow *sh;
	bool violator = false;

	rcu_read_lock();
	if (!scan_gen && t == current && likely(rw_current_fast_match())) {
		rcu_read_unlock();
		return false;
	}
	sh = rw_shadow_get(t);
	if (likely(sh))
		violator = rw_cred_validate_locked(sh, t, where, scan_gen, suspects, deny);
	rcu_read_unlock();
	return violator;
}

/* Checks of current at the points an escalation must pass. */
static bool rw_cred_check_current(enum rw_check where, bool deny)
{
	bool violator;

	if (!in_task())
		return false;
	violator = rw_cred_validate(current, where, 0, NULL, deny);
	if (violator && deny && rw_param_enforce) {
		atomic_long_inc(&rw_denials);
		return true;
	}
	return false;
}

static int rw_pre_check_deny(enum rw_check where, struct pt_regs *regs)
{
	if (rw_cred_check_current(where, true))
		return rw_hook_deny(regs, RW_DENY_ERR);
	return 0;
}

static int rw_pre_capable(struct kprobe *p, struct pt_regs *regs)
{
	this_cpu_inc(rw_capable_hits);
	return rw_pre_check_deny(RW_CHECK_CAPABLE, regs);
}

static bool rw_file_open_check(void)
{
	return rw_cred_check_current(RW_CHECK_FILE_OPEN, true);
}

/* Called instead of security_file_open() for a known violator. */
static noinline notrace int rw_file_open_refused(struct file *file)
{
	return RW_DENY_ERR;
}

static int rw_pre_bprm_check(struct kprobe *p, struct pt_regs *regs)
{
	return rw_pre_check_deny(RW_CHECK_EXEC, regs);
}

static int rw_pre_module_load(struct kprobe *p, struct pt_regs *regs)
{
	return rw_pre_check_deny(RW_CHECK_MODULE_LOAD, regs);
}

/* Before recording a change: keep the state it replaces.  Entry locked. */
static void rw_shadow_note_change(struct rw_shadow *sh)
{
	sh->prev = sh->st;
	sh->changed_at = jiffies ?: 1;
}

/* Record a legitimate change of current's (or @t's) state. */
static void rw_shadow_set_creds(struct task_struct *t, const struct cred *real,
				const struct cred *subj)
{
	struct rw_shadow *sh;
	unsigned long flags;

	rcu_read_lock();
	sh = rw_shadow_get(t);
	if (sh) {
		rw_shadow_lock(sh, &flags);
		if (!sh->violated) {
			rw_shadow_note_change(sh);
			if (real)
				rw_state_set_real(&sh->st, real);
			if (subj)
				rw_state_set_subj(&sh->st, subj);
		}
		rw_shadow_unlock(sh, flags);
	}
	rcu_read_unlock();
}

/*
 * Tell the host about a uid/gid-family change committed by current, so it
 * can pair it with what the BPF programs saw at task_fix_setuid/setgid and
 * exec: a change only commit_creds saw did not come through those paths
 * (an exploit calling commit_creds itself).  Capability-only and
 * refcount-only commits are not reported.
 */
static noinline void rw_cred_report_change(const struct cred *new)
{
	const struct cred *old = current_real_cred();
	struct rw_cred_change ch;
	struct pt_regs *uregs;

	rw_cred_ids(ch.old_ids, old);
	rw_cred_ids(ch.new_ids, new);
	if (!memcmp(ch.old_ids, ch.new_ids, sizeof(ch.old_ids)))
		return;
	ch.pid = task_pid_nr(current);
	ch.tgid = task_tgid_nr(current);
	strscpy(ch.comm, current->comm, sizeof(ch.comm));
	ch.exec = current->in_execve;
	ch.syscall_nr = -1;
	if (!(current->flags & PF_KTHREAD)) {
		uregs = task_pt_regs(current);
		ch.syscall_nr = (int)syscall_get_nr(current, uregs);
	}
	rw_report_cred_change(&ch);
}

/* commit_creds(new): check what is being replaced, then record @new. */
static int rw_pre_commit_creds(struct kprobe *p, struct pt_regs *regs)
{
	const struct cred *new = (const struct cred *)regs->di;

	if (!in_task() || !new)
		return 0;
	rw_cred_check_current(RW_CHECK_COMMIT_CREDS, false);
	rw_cred_report_change(new);
	rw_shadow_set_creds(current, new, new);
	return 0;
}

/* override_creds(new) and revert_creds(old) set current->cred only. */
static int rw_pre_set_subj(struct kprobe *p, struct pt_regs *regs)
{
	const struct cred *c = (const struct cred *)regs->di;

	if (in_task() && c)
		rw_shadow_set_creds(current, NULL, c);
	return 0;
}

/* switch_task_namespaces(p, new) */
static int rw_pre_switch_ns(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *t = (struct task_struct *)regs->di;
	struct rw_shadow *sh;
	unsigned long flags;

	if (!t)
		return 0;
	rcu_read_lock();
	sh = rw_shadow_get(t);
	if (sh) {
		rw_shadow_lock(sh, &flags);
		if (!sh->violated) {
			rw_shadow_note_change(sh);
			sh->st.nsproxy = regs->si;
		}
		rw_shadow_unlock(sh, flags);
	}
	rcu_read_unlock();
	return 0;
}

static struct rw_hook rw_update_hooks[RW_UPDATE_HOOKS] = {
	{ .kp = { .symbol_name = "commit_creds", .pre_handler = rw_pre_commit_creds } },
	{ .kp = { .symbol_name = "override_creds", .pre_handler = rw_pre_set_subj } },
	{ .kp = { .symbol_name = "revert_creds", .pre_handler = rw_pre_set_subj } },
	{ .kp = { .symbol_name = "switch_task_namespaces",
		  .pre_handler = rw_pre_switch_ns } },
};

static struct rw_hook rw_check_hooks[] = {
	{ .kp = { .symbol_name = "security_capable", .pre_handler = rw_pre_capable },
	  .can_deny = true },
	{ .kp = { .symbol_name = "security_bprm_check", .pre_handler = rw_pre_bprm_check },
	  .can_deny = true },
	{ .kp = { .symbol_name = "security_kernel_read_file",
		  .pre_handler = rw_pre_module_load }, .can_deny = true },
	{ .kp = { .symbol_name = "security_kernel_load_data",
		  .pre_handler = rw_pre_module_load }, .can_deny = true },
};

static struct rw_fhook rw_open_hook = {
	.symbol = "security_file_open",
	.check = rw_file_open_check,
	.deny_to = rw_file_open_refused,
};

/* sched_process_fork(parent = current, child): child inherits a verdict. */
static void rw_tp_fork(void *data, struct task_struct *parent,
		       struct task_struct *child)
{
	struct rw_shadow *sh;
	unsigned long flags;
	bool parent_bad;

	parent_bad = in_task() &&
		     rw_cred_validate(parent, RW_CHECK_FORK, 0, NULL, false);

	rcu_read_lock();
	sh = rw_shadow_get(child);
	if (sh && parent_bad) {
		rw_shadow_lock(sh, &flags);
		sh->violated = true;
		rw_shadow_unlock(sh, flags);
		if (rw_param_enforce)
			send_sig(SIGKILL, child, 1);
	}
	rcu_read_unlock();
}

/* sched_process_free(task): the task_struct is about to go. */
static void rw_tp_free(void *data, struct task_struct *t)
{
	unsigned long key = (unsigned long)t;
	struct rw_shadow *sh;

	rw_current_hint_drop(key);
	rcu_read_lock();
	sh = rhashtable_lookup(&rw_shadows, &key, rw_shadow_params);
	if (sh && !rhashtable_remove_fast(&rw_shadows, &sh->node, rw_shadow_params)) {
		atomic_long_dec(&rw_shadow_live);
		atomic_long_inc(&rw_shadow_freed);
		call_rcu(&sh->rcu, rw_shadow_free_rcu);
	}
	rcu_read_unlock();
}

/*
 * sched_process_exec(p = current, ...): fires after exec committed its new
 * creds through commit_creds; still seeing the old ones in the shadow means
 * the update hooks are not firing (tracepoints do not depend on kprobes).
 */
static void rw_tp_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	struct rw_shadow *sh;
	unsigned long flags;
	bool missed = false;

	rcu_read_lock();
	sh = rw_shadow_lookup(p);
	if (sh) {
		rw_shadow_lock(sh, &flags);
		if (!sh->violated &&
		    sh->st.real_cred != (unsigned long)rcu_dereference(p->real_cred)) {
			rw_state_capture(p, &sh->st);
			missed = true;
		}
		rw_shadow_unlock(sh, flags);
	}
	rcu_read_unlock();
	if (missed)
		rw_tracking_suspend("exec_commit_not_seen");
}

static struct rw_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool registered;
} rw_tps[] = {
	{ .name = "sched_process_fork", .probe = rw_tp_fork },
	{ .name = "sched_process_free", .probe = rw_tp_free },
	{ .name = "sched_process_exec", .probe = rw_tp_exec },
};

static void rw_tp_lookup(struct tracepoint *tp, void *priv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(rw_tps); i++)
		if (!strcmp(tp->name, rw_tps[i].name))
			rw_tps[i].tp = tp;
}

static void rw_tps_unregister(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(rw_tps); i++) {
		if (rw_tps[i].registered)
			tracepoint_probe_unregister(rw_tps[i].tp, rw_tps[i].probe, NULL);
		rw_tps[i].registered = false;
	}
	tracepoint_synchronize_unregister();
}

static int rw_tps_register(void)
{
	unsigned int i;
	int err;

	for_each_kernel_tracepoint(rw_tp_lookup, NULL);
	for (i = 0; i < ARRAY_SIZE(rw_tps); i++) {
		if (!rw_tps[i].tp) {
			pr_err("tracepoint %s not found\n", rw_tps[i].name);
			err = -ENOENT;
			goto fail;
		}
		err = tracepoint_probe_register(rw_tps[i].tp, rw_tps[i].probe, NULL);
		if (err) {
			pr_err("tracepoint %s: %d\n", rw_tps[i].name, err);
			goto fail;
		}
		rw_tps[i].registered = true;
	}
	return 0;
fail:
	rw_tps_unregister();
	return err;
}

/*
 * Snapshot every existing task (@overwrite: again, over what the first pass
 * saw, to catch a change path that was already past its hook at load).
 */
static void rw_shadow_populate(bool overwrite)
{
	struct task_struct *g, *t;
	struct rw_shadow *sh;
	unsigned long flags;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		sh = rw_shadow_get(t);
		if (!sh || !overwrite)
			continue;
		rw_shadow_lock(sh, &flags);
		rw_state_capture(t, &sh->st);
		rw_shadow_unlock(sh, flags);
	}
	rcu_read_unlock();
}

unsigned int rw_cred_scan_all(bool report)
{
	struct task_struct *g, *t;
	unsigned int suspects = 0;
	unsigned long tasks = 0;
	u64 gen;

	mutex_lock(&rw_scan_lock);
	gen = ++rw_scan_gen;
	rcu_read_lock();
	for_each_process_thread(g, t) {
		tasks++;
		if (t->exit_state)
			continue;
		rw_cred_validate(t, RW_CHECK_SCAN, gen, &suspects, false);
	}
	rcu_read_unlock();
	atomic_long_inc(&rw_scans);
	mutex_unlock(&rw_scan_lock);
	if (report)
		rw_report_event(RW_EV_SCAN,
				"tasks=%lu shadow_live=%ld suspects=%u violations=%ld",
				tasks, atomic_long_read(&rw_shadow_live), suspects,
				atomic_long_read(&rw_violations));
	return suspects;
}

void rw_cred_tracking(bool hooks_ok)
{
	if (!hooks_ok) {
		rw_tracking_suspend("hooks_lost");
		return;
	}
	if (!READ_ONCE(rw_tracking_suspended))
		return;
	rw_shadow_populate(true);
	WRITE_ONCE(rw_missed_seen, rw_hooks_missed(rw_update_hooks, RW_UPDATE_HOOKS));
	WRITE_ONCE(rw_tracking_suspended, false);
	rw_report_event(RW_EV_TRACKING_RESUMED, "reason=hooks_back");
}

bool rw_cred_hooks_alive(void)
{
	unsigned long before = 0, after = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		before += per_cpu(rw_capable_hits, cpu);
	ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN);
	for_each_possible_cpu(cpu)
		after += per_cpu(rw_capable_hits, cpu);
	return after != before;
}

void rw_cred_show_status(struct seq_file *m)
{
	seq_printf(m, "shadow_live=%ld\n", atomic_long_read(&rw_shadow_live));
	seq_printf(m, "shadow_created=%ld\n", atomic_long_read(&rw_shadow_created));
	seq_printf(m, "shadow_freed=%ld\n", atomic_long_read(&rw_shadow_freed));
	seq_printf(m, "shadow_nomem=%ld\n", atomic_long_read(&rw_nomem));
	seq_printf(m, "shadow_resyncs=%ld\n", atomic_long_read(&rw_resyncs));
	seq_printf(m, "violations=%ld\n", atomic_long_read(&rw_violations));
	seq_printf(m, "kills=%ld\n", atomic_long_read(&rw_kills));
	seq_printf(m, "denials=%ld\n", atomic_long_read(&rw_denials));
	seq_printf(m, "scans=%ld\n", atomic_long_read(&rw_scans));
	seq_printf(m, "tracking_suspended=%d\n", READ_ONCE(rw_tracking_suspended));
}

static void rw_shadow_free_now(void *ptr, void *arg)
{
	kmem_cache_free(rw_shadow_cache, ptr);
}

int rw_cred_init(void)
{
	int err;

	rw_shadow_cache = KMEM_CACHE(rw_shadow, 0);
	if (!rw_shadow_cache)
		return -ENOMEM;
	err = rhashtable_init(&rw_shadows, &rw_shadow_params);
	if (err)
		goto out_cache;
	/* Order: learn changes before snapshotting, check only after. */
	err = rw_tps_register();
	if (err)
		goto out_table;
	err = rw_hooks_register(rw_update_hooks, ARRAY_SIZE(rw_update_hooks));
	if (err)
		goto out_tps;
	rw_missed_seen = rw_hooks_missed(rw_update_hooks, RW_UPDATE_HOOKS);
	rw_shadow_populate(false);
	synchronize_rcu();
	rw_shadow_populate(true);
	err = rw_hooks_register(rw_check_hooks, ARRAY_SIZE(rw_check_hooks));
	if (err)
		goto out_update;
	err = rw_fhook_register(&rw_open_hook);
	if (err)
		goto out_check;
	return 0;

out_check:
	rw_hooks_unregister(rw_check_hooks, ARRAY_SIZE(rw_check_hooks));
out_update:
	rw_hooks_unregister(rw_update_hooks, ARRAY_SIZE(rw_update_hooks));
out_tps:
	rw_tps_unregister();
out_table:
	rcu_barrier();
	rhashtable_free_and_destroy(&rw_shadows, rw_shadow_free_now, NULL);
out_cache:
	kmem_cache_destroy(rw_shadow_cache);
	return err;
}

void rw_cred_exit(void)
{
	rw_fhook_unregister(&rw_open_hook);
	rw_hooks_unregister(rw_check_hooks, ARRAY_SIZE(rw_check_hooks));
	rw_hooks_unregister(rw_update_hooks, ARRAY_SIZE(rw_update_hooks));
	rw_tps_unregister();
	rcu_barrier();
	rhashtable_free_and_destroy(&rw_shadows, rw_shadow_free_now, NULL);
	kmem_cache_destroy(rw_shadow_cache);
}

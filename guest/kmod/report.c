// SPDX-License-Identifier: GPL-2.0
/*
 * Reporting: send each report to the host as its rw_proto message (where
 * the protocol has one), format it once as a "key=value" line, log it,
 * keep it in a ring of recent events and count it.  rw_report_emit() is the
 * single sink.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "chan.h"
#include "report.h"

enum rw_report_type {
	RW_REP_CRED_VIOLATION,
	RW_REP_CPU_STATE,
	RW_REP_CHALLENGE,
	RW_REP_SELF,
	RW_REP_EVENT,
	RW_REP_CRED_CHANGE,
	RW_REP_NR
};

static const char * const rw_report_type_names[RW_REP_NR] = {
	[RW_REP_CRED_VIOLATION] = "cred_violation",
	[RW_REP_CPU_STATE] = "cpu_state",
	[RW_REP_CHALLENGE] = "challenge_answer",
	[RW_REP_SELF] = "self_desc",
	[RW_REP_EVENT] = "event",
	[RW_REP_CRED_CHANGE] = "cred_change",
};

static const char * const rw_event_names[RW_EV_NR] = {
	[RW_EV_LOADED] = "loaded",
	[RW_EV_UNLOAD_ATTEMPT] = "unload_attempt",
	[RW_EV_DISARMED] = "disarmed",
	[RW_EV_DISARM_REFUSED] = "disarm_refused",
	[RW_EV_HOOK_LOST] = "hook_lost",
	[RW_EV_HOOK_RESTORED] = "hook_restored",
	[RW_EV_TRACKING_LOST] = "tracking_lost",
	[RW_EV_TRACKING_RESUMED] = "tracking_resumed",
	[RW_EV_SHADOW_NOMEM] = "shadow_nomem",
	[RW_EV_SCAN] = "scan",
	[RW_EV_AGENT_REGISTERED] = "agent_registered",
	[RW_EV_AGENT_LOST] = "agent_lost",
	[RW_EV_AGENT_BACK] = "agent_back",
	[RW_EV_AGENT_RELEASED] = "agent_released",
	[RW_EV_PARTNER_DETACHED] = "partner_detached",
	[RW_EV_PARTNER_RESTORED] = "partner_restored",
};

static const char * const rw_field_names[RW_F_NR] = {
	[RW_F_CRED] = "cred",
	[RW_F_REAL_CRED] = "real_cred",
	[RW_F_NSPROXY] = "nsproxy",
	[RW_F_SECCOMP] = "seccomp",
	[RW_F_SECCOMP_WORK] = "seccomp_work",
	[RW_F_UID] = "uid",
	[RW_F_GID] = "gid",
	[RW_F_SUID] = "suid",
	[RW_F_SGID] = "sgid",
	[RW_F_EUID] = "euid",
	[RW_F_EGID] = "egid",
	[RW_F_FSUID] = "fsuid",
	[RW_F_FSGID] = "fsgid",
	[RW_F_SECUREBITS] = "securebits",
	[RW_F_CAP_INHERITABLE] = "cap_inheritable",
	[RW_F_CAP_PERMITTED] = "cap_permitted",
	[RW_F_CAP_EFFECTIVE] = "cap_effective",
	[RW_F_CAP_BSET] = "cap_bset",
	[RW_F_CAP_AMBIENT] = "cap_ambient",
	[RW_F_USER_NS] = "user_ns",
	[RW_F_GROUP_INFO] = "group_info",
	[RW_F_SUBJ_UID + 0] = "subj_uid",
	[RW_F_SUBJ_UID + 1] = "subj_gid",
	[RW_F_SUBJ_UID + 2] = "subj_suid",
	[RW_F_SUBJ_UID + 3] = "subj_sgid",
	[RW_F_SUBJ_UID + 4] = "subj_euid",
	[RW_F_SUBJ_UID + 5] = "subj_egid",
	[RW_F_SUBJ_UID + 6] = "subj_fsuid",
	[RW_F_SUBJ_UID + 7] = "subj_fsgid",
	[RW_F_SUBJ_UID + 8] = "subj_securebits",
	[RW_F_SUBJ_UID + 9] = "subj_cap_inheritable",
	[RW_F_SUBJ_UID + 10] = "subj_cap_permitted",
	[RW_F_SUBJ_UID + 11] = "subj_cap_effective",
	[RW_F_SUBJ_UID + 12] = "subj_cap_bset",
	[RW_F_SUBJ_UID + 13] = "subj_cap_ambient",
	[RW_F_SUBJ_UID + 14] = "subj_user_ns",
	[RW_F_SUBJ_UID + 15] = "subj_group_info",
};

static const char * const rw_check_names[RW_CHECK_NR] = {
	[RW_CHECK_CAPABLE] = "capable",
	[RW_CHECK_FILE_OPEN] = "file_open",
	[RW_CHECK_EXEC] = "exec",
	[RW_CHECK_MODULE_LOAD] = "module_load",
	[RW_CHECK_FORK] = "fork",
	[RW_CHECK_COMMIT_CREDS] = "commit_creds",
	[RW_CHECK_SCAN] = "scan",
};

static const char * const rw_cpu_reason_names[] = {
	[RW_CPUREP_LOAD] = "load",
	[RW_CPUREP_PERIODIC] = "periodic",
	[RW_CPUREP_REQUEST] = "request",
	[RW_CPUREP_HOTPLUG] = "hotplug",
};

static const char * const rw_msr_names[RW_MSR_NR] = {
	[RW_MSR_LSTAR] = "lstar",
	[RW_MSR_STAR] = "star",
	[RW_MSR_CSTAR] = "cstar",
	[RW_MSR_SFMASK] = "sfmask",
	[RW_MSR_SYSENTER_CS] = "sysenter_cs",
	[RW_MSR_SYSENTER_ESP] = "sysenter_esp",
	[RW_MSR_SYSENTER_EIP] = "sysenter_eip",
	[RW_MSR_EFER] = "efer",
};

struct rw_report_line {
	u64 seq;
	char text[RW_REPORT_LINE_MAX];
};

/* Ring of recent reports; one lock, taken once per report (not hot). */
static struct rw_report_ring {
	spinlock_t lock;
	struct rw_report_line *lines;	/* RW_REPORT_RING entries */
	u64 next_seq;			/* seq of the next report, from 1 */
} rw_ring = {
	.lock = __SPIN_LOCK_UNLOCKED(rw_ring.lock),
};

static atomic64_t rw_type_count[RW_REP_NR];
static atomic64_t rw_event_count[RW_EV_NR];
static atomic64_t rw_heartbeat;
static atomic64_t rw_dropped;		/* lines too long (truncated) */
static atomic64_t rw_wire_refused;	/* channel refused (not running/encoding) */

/* Kernel-side field -> CRED_VIOLATION field_mask bit; -1: no wire field. */
static const s8 rw_wire_cred_bit[RW_F_SUBJ_UID] = {
	[RW_F_CRED] = RW_CRED_CRED_PTR,
	[RW_F_REAL_CRED] = RW_CRED_REAL_CRED_PTR,
	[RW_F_NSPROXY] = RW_CRED_NSPROXY_PTR,
	[RW_F_SECCOMP] = RW_CRED_SECCOMP_MODE,
	[RW_F_SECCOMP_WORK] = RW_CRED_SECCOMP_WORK,
	[RW_F_UID] = RW_CRED_UID,
	[RW_F_GID] = RW_CRED_GID,
	[RW_F_SUID] = RW_CRED_SUID,
	[RW_F_SGID] = RW_CRED_SGID,
	[RW_F_EUID] = RW_CRED_EUID,
	[RW_F_EGID] = RW_CRED_EGID,
	[RW_F_FSUID] = RW_CRED_FSUID,
	[RW_F_FSGID] = RW_CRED_FSGID,
	[RW_F_SECUREBITS] = RW_CRED_SECUREBITS,
	[RW_F_CAP_INHERITABLE] = RW_CRED_CAP_INHERITABLE,
	[RW_F_CAP_PERMITTED] = RW_CRED_CAP_PERMITTED,
	[RW_F_CAP_EFFECTIVE] = RW_CRED_CAP_EFFECTIVE,
	[RW_F_CAP_BSET] = RW_CRED_CAP_BSET,
	[RW_F_CAP_AMBIENT] = RW_CRED_CAP_AMBIENT,
	[RW_F_USER_NS] = RW_CRED_USER_NS_PTR,
	[RW_F_GROUP_INFO] = RW_CRED_GROUP_INFO_PTR,
};

/* Kernel-side check -> CRED_VIOLATION check (protocol version 2). */
static const u8 rw_wire_cred_check[RW_CHECK_NR] = {
	[RW_CHECK_CAPABLE] = RW_CRED_CHECK_CAPABLE,
	[RW_CHECK_FILE_OPEN] = RW_CRED_CHECK_FILE_OPEN,
	[RW_CHECK_EXEC] = RW_CRED_CHECK_EXEC,
	[RW_CHECK_MODULE_LOAD] = RW_CRED_CHECK_MODULE_LOAD,
	[RW_CHECK_FORK] = RW_CRED_CHECK_FORK,
	[RW_CHECK_COMMIT_CREDS] = RW_CRED_CHECK_COMMIT_CREDS,
	[RW_CHECK_SCAN] = RW_CRED_CHECK_SCAN,
};

static int rw_wire_cred_field(unsigned int f)
{
	if (f >= RW_F_NR)
		return -1;
	if (f >= RW_F_SUBJ_UID)	/* subjective twin: same wire bit */
		f = RW_F_UID + (f - RW_F_SUBJ_UID);
	return rw_wire_cred_bit[f];
}

static void rw_wire_send(struct rw_msg *m)
{
	if (rw_kchan_enqueue(m) == -EINVAL)
		atomic64_inc(&rw_wire_refused);
	/* -ENOBUFS/-ENOMEM: counted by the channel, reported as LOSS */
}

/* Separate frames keep the wire message off the formatting's stack. */
static noinline void rw_wire_cred(const struct rw_cred_violation *v)
{
	struct rw_msg m = { .hdr.type = RW_MSG_CRED_VIOLATION };
	struct rw_msg_cred_violation *c = &m.u.cred;
	unsigned int i, n = min_t(unsigned int, v->nr_diffs, RW_F_NR);

	c->pid = v->pid;
	c->tgid = v->tgid;
	strscpy(c->comm, v->comm, sizeof(c->comm));
	if ((unsigned int)v->check >= RW_CHECK_NR) {
		atomic64_inc(&rw_wire_refused);
		return;
	}
	c->check = rw_wire_cred_check[v->check];
	if (v->killed)
		c->action |= RW_CRED_ACT_KILLED;
	if (v->denied) {
		c->action |= RW_CRED_ACT_DENIED;
		c->error = v->error;
	}
	for (i = 0; i < n; i++) {
		int bit = rw_wire_cred_field(v->diffs[i].field);

		if (bit < 0 || (c->field_mask & BIT(bit)))
			continue;	/* objective value first */
		c->field_mask |= BIT(bit);
		c->old_val[bit] = v->diffs[i].shadow;
		c->new_val[bit] = v->diffs[i].live;
	}
	if (c->field_mask)
		rw_wire_send(&m);
}

static noinline void rw_wire_cpu(const struct rw_cpu_state *s,
				 enum rw_cpu_report_reason why)
{
	struct rw_msg m = { .hdr.type = RW_MSG_CPU_STATE };
	struct rw_msg_cpu_state *c = &m.u.cpu;
	u64 *msr[RW_MSR_NR] = {
		[RW_MSR_LSTAR] = &c->lstar,
		[RW_MSR_STAR] = &c->star,
		[RW_MSR_CSTAR] = &c->cstar,
		[RW_MSR_SFMASK] = &c->sfmask,
		[RW_MSR_SYSENTER_CS] = &c->sysenter_cs,
		[RW_MSR_SYSENTER_ESP] = &c->sysenter_esp,
		[RW_MSR_SYSENTER_EIP] = &c->sysenter_eip,
		[RW_MSR_EFER] = &c->efer,
	};
	unsigned int i;

	/* valid_mask bits 0..7 are the MSRs in the same order */
	BUILD_BUG_ON((int)RW_MSR_LSTAR != (int)RW_CPU_F_LSTAR ||
		     (int)RW_MSR_SYSENTER_EIP != (int)RW_CPU_F_SYSENTER_EIP ||
		     (int)RW_MSR_EFER != (int)RW_CPU_F_EFER);
	c->cpu_id = s->cpu;
	/* The wire has no "load": the first report counts as periodic. */
	c->reason = why == RW_CPUREP_REQUEST ? RW_CPU_REQUEST :
		    why == RW_CPUREP_HOTPLUG ? RW_CPU_HOTPLUG : RW_CPU_PERIODIC;
	for (i = 0; i < RW_MSR_NR; i++) {
		if (s->msr_faults & BIT(i))
			continue;
		*msr[i] = s->msr[i];
		c->valid_mask |= BIT(i);
	}
	c->cr0 = s->cr0;
	c->cr4 = s->cr4;
	c->idtr_base = s->idt_base;
	c->idtr_limit = s->idt_limit;
	c->valid_mask |= BIT(RW_CPU_F_CR0) | BIT(RW_CPU_F_CR4) |
			 BIT(RW_CPU_F_IDTR);
	rw_wire_send(&m);
}

static noinline void rw_wire_challenge(const struct rw_challenge_answer *a)
{
	struct rw_msg m = { .hdr.type = RW_MSG_CHALLENGE_RESPONSE };
	struct rw_msg_challenge_response *r = &m.u.chal_resp;

	if (!a->host_seq)
		return;		/* asked locally: nothing to answer */
	memcpy(r->nonce, a->nonce, sizeof(r->nonce));
	r->challenge_seq = a->host_seq;
	r->hash_alg = a->hash_alg;
	switch (a->err) {
	case 0:
		r->status = RW_CHAL_OK;
		r->hash_len = RW_DIGEST_LEN;
		memcpy(r->hash, a->digest, RW_DIGEST_LEN);
		break;
	case -EFAULT:
		r->status = RW_CHAL_FAULT;
		break;
	case -EOPNOTSUPP:
		r->status = RW_CHAL_UNSUPPORTED;
		break;
	case -ENOMEM:
	case -EBUSY:
		r->status = RW_CHAL_BUSY;
		break;
	default:
		r->status = RW_CHAL_DENIED;
		break;
	}
	rw_wire_send(&m);
}

static noinline void rw_wire_self(const struct rw_self_desc *d)
{
	struct rw_msg m = { .hdr.type = RW_MSG_MODULE_SELF };
	struct rw_msg_module_self *s = &m.u.self;

	s->module_addr = (unsigned long)THIS_MODULE;
	s->core_base = d->base;
	s->text_size = d->text_end - d->base;
	s->ro_size = d->ro_end - d->base;
	s->ro_after_init_size = d->ro_after_init_end - d->base;
	s->core_size = d->end - d->base;
	strscpy(s->name, THIS_MODULE->name, sizeof(s->name));
	rw_wire_send(&m);
}

/* Kernel-side event -> GUARD_EVENT kind; 0: not sent (local statistics). */
static const u16 rw_wire_guard_kind[RW_EV_NR] = {
	[RW_EV_LOADED] = RW_GUARD_LOADED,
	[RW_EV_UNLOAD_ATTEMPT] = RW_GUARD_UNLOAD_ATTEMPT,
	[RW_EV_DISARMED] = RW_GUARD_DISARMED,
	[RW_EV_DISARM_REFUSED] = RW_GUARD_DISARM_REFUSED,
	[RW_EV_HOOK_LOST] = RW_GUARD_HOOK_LOST,
	[RW_EV_HOOK_RESTORED] = RW_GUARD_HOOK_RESTORED,
	[RW_EV_TRACKING_LOST] = RW_GUARD_TRACKING_LOST,
	[RW_EV_TRACKING_RESUMED] = RW_GUARD_TRACKING_RESUMED,
	[RW_EV_SHADOW_NOMEM] = RW_GUARD_SHADOW_NOMEM,
	[RW_EV_AGENT_LOST] = RW_GUARD_AGENT_LOST,
	[RW_EV_AGENT_BACK] = RW_GUARD_AGENT_BACK,
	[RW_EV_PARTNER_DETACHED] = RW_GUARD_PARTNER_DETACHED,
	[RW_EV_PARTNER_RESTORED] = RW_GUARD_PARTNER_RESTORED,
};

static noinline void rw_wire_event(enum rw_event_kind kind, const char *detail)
{
	struct rw_msg m = { .hdr.type = RW_MSG_GUARD_EVENT };
	size_t len = strnlen(detail, RW_PROTO_MAX_EVENT_DETAIL - 1);

	if (!rw_wire_guard_kind[kind])
		return;
	m.u.guard.kind = rw_wire_guard_kind[kind];
	/* the line is ASCII; an over-long one is cut at the wire limit */
	m.u.guard.detail = detail;
	m.u.guard.detail_len = len;
	rw_wire_send(&m);
}

const char *rw_cred_field_name(enum rw_shadow_field f)
{
	return (unsigned int)f < RW_F_NR ? rw_field_names[f] : "?";
}

const char *rw_check_name(enum rw_check c)
{
	return (unsigned int)c < RW_CHECK_NR ? rw_check_names[c] : "?";
}

/* Bounded line builder: never overflows, remembers truncation. */
struct rw_line {
	char buf[RW_REPORT_LINE_MAX - 64];	/* room for "event=... seq=..." */
	size_t len;
	bool truncated;
};

static __printf(2, 3) void rw_line_add(struct rw_line *l, const char *fmt, ...)
{
	size_t room = sizeof(l->buf) - l->len;
	va_list ap;
	int n;

	if (room <= 1) {
		l->truncated = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		l->len = sizeof(l->buf) - 1;
		l->truncated = true;
	} else {
		l->len += n;
	}
}

/*
 * The single sink.  @body is "key=value ..." after the event name; the seq
 * number is assigned here so the log and the ring agree.
 * Channel delivery to the host is pending: it will be called from here.
 */
static void rw_report_emit(enum rw_report_type type, const char *name,
			   const struct rw_line *body, bool to_log)
{
	struct rw_report_line *slot;
	unsigned long flags;
	u64 seq;

	atomic64_inc(&rw_type_count[type]);
	if (body->truncated)
		atomic64_inc(&rw_dropped);

	spin_lock_irqsave(&rw_ring.lock, flags);
	seq = ++rw_ring.next_seq;
	if (rw_ring.lines) {
		slot = &rw_ring.lines[seq % RW_REPORT_RING];
		slot->seq = seq;
		snprintf(slot->text, sizeof(slot->text), "event=%s seq=%llu %s",
			 name, seq, body->buf);
	}
	spin_unlock_irqrestore(&rw_ring.lock, flags);

	if (to_log)
		pr_info("event=%s seq=%llu %s\n", name, seq, body->buf);
}

void rw_report_cred_violation(const struct rw_cred_violation *v)
{
	struct rw_line l = { .len = 0 };
	unsigned int i, n = min_t(unsigned int, v->nr_diffs, RW_F_NR);

	rw_wire_cred(v);
	rw_line_add(&l, "pid=%d tgid=%d comm=%s check=%s action=%s fields=",
		    v->pid, v->tgid, v->comm, rw_check_name(v->check),
		    v->killed ? (v->denied ? "kill,deny" : "kill") :
		    (v->denied ? "deny" : "report"));
	for (i = 0; i < n; i++)
		rw_line_add(&l, "%s%s", i ? "," : "",
			    rw_cred_field_name(v->diffs[i].field));
	rw_line_add(&l, " old=");
	for (i = 0; i < n; i++)
		rw_line_add(&l, "%s0x%llx", i ? "," : "", v->diffs[i].shadow);
	rw_line_add(&l, " new=");
	for (i = 0; i < n; i++)
		rw_line_add(&l, "%s0x%llx", i ? "," : "", v->diffs[i].live);
	if (v->denied)
		rw_line_add(&l, " error=%d", v->error);
	rw_report_emit(RW_REP_CRED_VIOLATION,
		       rw_report_type_names[RW_REP_CRED_VIOLATION], &l, true);
}

void rw_report_cred_change(const struct rw_cred_change *c)
{
	struct rw_msg m = { .hdr.type = RW_MSG_CRED_CHANGE };
	struct rw_msg_cred_change *w = &m.u.cred_change;

	BUILD_BUG_ON(RW_CRED_IDS != RW_CRED_CHANGE_IDS);
	atomic64_inc(&rw_type_count[RW_REP_CRED_CHANGE]);
	w->pid = c->pid;
	w->tgid = c->tgid;
	strscpy(w->comm, c->comm, sizeof(w->comm));
	w->via = RW_VIA_COMMIT_CREDS;
	w->flags = c->exec ? RW_CRED_CHANGE_F_EXEC : 0;
	w->syscall_nr = c->syscall_nr < -1 ? -1 : c->syscall_nr;
	memcpy(w->old_ids, c->old_ids, sizeof(w->old_ids));
	memcpy(w->new_ids, c->new_ids, sizeof(w->new_ids));
	rw_wire_send(&m);
}

void rw_report_cpu_state(const struct rw_cpu_state *s, enum rw_cpu_report_reason why)
{
	struct rw_line l = { .len = 0 };
	unsigned int i;

	rw_wire_cpu(s, why);
	rw_line_add(&l, "cpu=%u reason=%s", s->cpu,
		    (unsigned int)why < ARRAY_SIZE(rw_cpu_reason_names) ?
		    rw_cpu_reason_names[why] : "?");
	for (i = 0; i < RW_MSR_NR; i++) {
		if (s->msr_faults & BIT(i))
			rw_line_add(&l, " %s=fault", rw_msr_names[i]);
		else
			rw_line_add(&l, " %s=0x%llx", rw_msr_names[i], s->msr[i]);
	}
	rw_line_add(&l, " cr0=0x%llx cr4=0x%llx idt_base=0x%llx idt_limit=0x%x",
		    s->cr0, s->cr4, s->idt_base, s->idt_limit);
	rw_report_emit(RW_REP_CPU_STATE, rw_report_type_names[RW_REP_CPU_STATE],
		       &l, true);
}

void rw_report_challenge(const struct rw_challenge_answer *a)
{
	struct rw_line l = { .len = 0 };

	rw_wire_challenge(a);
	rw_line_add(&l, "nonce=%*phN va=0x%llx len=%llu", RW_NONCE_LEN, a->nonce,
		    a->va, a->len);
	if (a->host_seq)
		rw_line_add(&l, " host_seq=%llu", a->host_seq);
	if (a->err)
		rw_line_add(&l, " result=error err=%d", a->err);
	else
		rw_line_add(&l, " result=ok digest=%*phN", RW_DIGEST_LEN, a->digest);
	rw_report_emit(RW_REP_CHALLENGE, rw_report_type_names[RW_REP_CHALLENGE],
		       &l, true);
}

void rw_report_self(const struct rw_self_desc *d)
{
	struct rw_line l = { .len = 0 };

	rw_wire_self(d);
	rw_line_add(&l, "module=%s base=0x%llx text_end=0x%llx ro_end=0x%llx",
		    KBUILD_MODNAME, d->base, d->text_end, d->ro_end);
	rw_line_add(&l, " ro_after_init_end=0x%llx end=0x%llx",
		    d->ro_after_init_end, d->end);
	rw_report_emit(RW_REP_SELF, rw_report_type_names[RW_REP_SELF], &l, true);
}

void rw_report_event(enum rw_event_kind kind, const char *fmt, ...)
{
	struct rw_line l = { .len = 0 };
	va_list ap;
	int n;

	if ((unsigned int)kind >= RW_EV_NR)
		return;
	atomic64_inc(&rw_event_count[kind]);
	va_start(ap, fmt);
	n = vsnprintf(l.buf, sizeof(l.buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(l.buf))
		l.truncated = true;
	rw_wire_event(kind, l.buf);
	rw_report_emit(RW_REP_EVENT, rw_event_names[kind], &l, true);
}

void rw_report_heartbeat(u64 counter)
{
	struct rw_msg m = { .hdr.type = RW_MSG_HEARTBEAT };

	atomic64_set(&rw_heartbeat, counter);
	m.u.heartbeat.counter = counter;
	m.u.heartbeat.uptime_ns = ktime_get_boottime_ns();
	rw_wire_send(&m);
}

void rw_report_show_events(struct seq_file *m)
{
	unsigned long flags;
	u64 first, seq;

	spin_lock_irqsave(&rw_ring.lock, flags);
	seq = rw_ring.next_seq;
	first = seq > RW_REPORT_RING ? seq - RW_REPORT_RING + 1 : 1;
	for (; rw_ring.lines && first && first <= seq; first++)
		seq_printf(m, "%s\n", rw_ring.lines[first % RW_REPORT_RING].text);
	spin_unlock_irqrestore(&rw_ring.lock, flags);
}

void rw_report_show_counters(struct seq_file *m)
{
	unsigned int i;

	for (i = 0; i < RW_REP_NR; i++)
		seq_printf(m, "reports_%s=%lld\n", rw_report_type_names[i],
			   atomic64_read(&rw_type_count[i]));
	for (i = 0; i < RW_EV_NR; i++)
		seq_printf(m, "events_%s=%lld\n", rw_event_names[i],
			   atomic64_read(&rw_event_count[i]));
	seq_printf(m, "heartbeat=%lld\n", atomic64_read(&rw_heartbeat));
	seq_printf(m, "reports_truncated=%lld\n", atomic64_read(&rw_dropped));
	seq_printf(m, "reports_not_sent=%lld\n", atomic64_read(&rw_wire_refused));
}

int rw_report_init(void)
{
	struct rw_report_line *lines;

	lines = kvcalloc(RW_REPORT_RING, sizeof(*lines), GFP_KERNEL);
	if (!lines)
		return -ENOMEM;
	spin_lock_irq(&rw_ring.lock);
	rw_ring.lines = lines;
	spin_unlock_irq(&rw_ring.lock);
	return 0;
}

void rw_report_exit(void)
{
	struct rw_report_line *lines;

	spin_lock_irq(&rw_ring.lock);
	lines = rw_ring.lines;
	rw_ring.lines = NULL;
	spin_unlock_irq(&rw_ring.lock);
	kvfree(lines);
}

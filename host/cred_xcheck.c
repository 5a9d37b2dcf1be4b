// SPDX-License-Identifier: GPL-2.0
/* Credential-change cross-check; see host/cred_xcheck.h. */
#include "host/cred_xcheck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FINDINGS_PER_CALL 4096u

struct pending {
	struct rw_msg_cred_change obs;
	uint64_t seq;
	int64_t at_ms;			/* arrival (monotonic) */
	enum rw_xcheck_side side;
};

struct side_state {
	unsigned streams;		/* ready streams now */
	int64_t up_since_ms;		/* when streams went 0 -> 1 */
	bool lost;			/* reports lost at some point ... */
	int64_t lost_at_ms;		/* ... last at this time */
};

struct vm_xcheck {
	char name[RW_XCHECK_VM_NAME_MAX];
	struct pending *pend;		/* max_pending slots, unordered */
	size_t npend;
	struct side_state sides[RW_XCHECK_SIDES];
	struct rw_xcheck_stats st;
	bool overflowing;		/* episode in progress */
	int64_t overflow_until_ms;	/* episode ends (window after the last drop) */
	uint64_t episode_dropped, episode_held;
	enum rw_xcheck_side episode_side;
};

struct rw_xcheck {
	pthread_mutex_t lock;
	unsigned window_ms, max_pending, max_vms;
	struct vm_xcheck **vms;
	size_t nvms;
	bool vms_full_reported;
	uint64_t vms_full_dropped;
};

const char *rw_xcheck_side_name(enum rw_xcheck_side side)
{
	return side == RW_XCHECK_KMOD ? "ringwatch.ko" : "bpf";
}

struct rw_xcheck *rw_xcheck_new(const struct rw_xcheck_config *cfg)
{
	struct rw_xcheck *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	pthread_mutex_init(&x->lock, NULL);
	x->window_ms = cfg && cfg->window_ms ? cfg->window_ms : RW_XCHECK_WINDOW_MS_DEFAULT;
	x->max_pending = cfg && cfg->max_pending ? cfg->max_pending
						 : RW_XCHECK_MAX_PENDING_DEFAULT;
	x->max_vms = cfg && cfg->max_vms ? cfg->max_vms : RW_XCHECK_MAX_VMS_DEFAULT;
	return x;
}

static void vm_free(struct vm_xcheck *v)
{
	if (v) {
		free(v->pend);
		free(v);
	}
}

void rw_xcheck_free(struct rw_xcheck *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->nvms; i++)
		vm_free(x->vms[i]);
	free(x->vms);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

void rw_xcheck_findings_release(struct rw_xcheck_findings *out)
{
	if (!out)
		return;
	free(out->v);
	out->v = NULL;
	out->n = out->cap = 0;
}

/* Append a finding; returns the slot or NULL (counted in out->lost). */
static struct rw_xcheck_finding *finding_add(struct rw_xcheck_findings *out,
					     enum rw_xcheck_finding_kind kind,
					     const struct vm_xcheck *v, unsigned window_ms)
{
	struct rw_xcheck_finding *f;

	if (!out)
		return NULL;
	if (out->n == out->cap) {
		size_t ncap = out->cap ? out->cap * 2 : 8;
		struct rw_xcheck_finding *grown;

		if (ncap > MAX_FINDINGS_PER_CALL ||
		    !(grown = realloc(out->v, ncap * sizeof(*grown)))) {
			out->lost++;
			return NULL;
		}
		out->v = grown;
		out->cap = ncap;
	}
	f = &out->v[out->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->window_ms = window_ms;
	if (v)
		snprintf(f->vm, sizeof(f->vm), "%s", v->name);
	return f;
}

static struct vm_xcheck *vm_find(struct rw_xcheck *x, const char *vm)
{
	for (size_t i = 0; i < x->nvms; i++)
		if (!strcmp(x->vms[i]->name, vm))
			return x->vms[i];
	return NULL;
}

/* Find or make @vm's state; NULL when the table is full (a finding says so once). */
static struct vm_xcheck *vm_get(struct rw_xcheck *x, const char *vm,
				struct rw_xcheck_findings *out)
{
	struct vm_xcheck *v = vm_find(x, vm), **grown;
	struct rw_xcheck_finding *f;

	if (v)
		return v;
	if (x->nvms < x->max_vms) {
		v = calloc(1, sizeof(*v));
		grown = v ? realloc(x->vms, (x->nvms + 1) * sizeof(*grown)) : NULL;
		if (v)
			v->pend = calloc(x->max_pending, sizeof(*v->pend));
		if (v && grown && v->pend) {
			x->vms = grown;
			snprintf(v->name, sizeof(v->name), "%s", vm);
			x->vms[x->nvms++] = v;
			return v;
		}
		if (grown)
			x->vms = grown;
		vm_free(v);
	}
	x->vms_full_dropped++;
	if (!x->vms_full_reported) {
		f = finding_add(out, RW_XF_VMS_FULL, NULL, x->window_ms);
		if (f) {
			snprintf(f->vm, sizeof(f->vm), "%s", vm);
			f->cap = x->max_vms;
			f->dropped = x->vms_full_dropped;
			x->vms_full_reported = true;
		}
	}
	return NULL;
}

/* A VM with nothing pending and no stream up holds nothing worth keeping. */
static void vm_release_if_idle(struct rw_xcheck *x, struct vm_xcheck *v)
{
	if (v->npend || v->overflowing || v->sides[0].streams || v->sides[1].streams)
		return;
	for (size_t i = 0; i < x->nvms; i++) {
		if (x->vms[i] != v)
			continue;
		x->vms[i] = x->vms[--x->nvms];
		vm_free(v);
		x->vms_full_reported = false;
		return;
	}
}

static void pending_remove(struct vm_xcheck *v, size_t i)
{
	v->pend[i] = v->pend[--v->npend];
	v->st.pending = v->npend;
}

/*
 * May @p's lack of a partner be blamed on the peer?  Only when the peer has
 * been ready from a window before @p arrived until now, and @p's own stream
 * too: right after a (re)connection a partner may have been delivered to a
 * daemon that no longer remembers it (restart) or be still queued.
 */
static bool peer_covered(int64_t window_ms, const struct vm_xcheck *v, const struct pending *p)
{
	const struct side_state *peer = &v->sides[1 - p->side];
	const struct side_state *own = &v->sides[p->side];

	return peer->streams && peer->up_since_ms + window_ms <= p->at_ms &&
	       own->up_since_ms + window_ms <= p->at_ms;
}

/* Did the peer lose reports within a window of @p's arrival? */
static bool peer_lost_near(int64_t window_ms, const struct vm_xcheck *v, const struct pending *p)
{
	const struct side_state *peer = &v->sides[1 - p->side];
	int64_t d = p->at_ms - peer->lost_at_ms;

	return peer->lost && d <= window_ms && d >= -window_ms;
}

static void expire_vm(struct rw_xcheck *x, struct vm_xcheck *v, int64_t now_ms,
		      struct rw_xcheck_findings *out)
{
	struct rw_xcheck_finding *f;
	size_t i = 0;

	while (i < v->npend) {
		struct pending *p = &v->pend[i];
		int64_t age = now_ms - p->at_ms;

		if (age < (int64_t)x->window_ms) {
			i++;
			continue;
		}
		if (!peer_covered(x->window_ms, v, p)) {
			v->st.unverified++;
		} else if (peer_lost_near(x->window_ms, v, p)) {
			v->st.after_loss++;
		} else if (v->overflowing) {
			v->episode_held++;	/* its partner may be the dropped one */
		} else {
			v->st.one_sided[p->side]++;
			f = finding_add(out, RW_XF_ONE_SIDED, v, x->window_ms);
			if (f) {
				f->side = p->side;
				f->obs = p->obs;
				f->seq = p->seq;
				f->age_ms = age;
			}
		}
		pending_remove(v, i);
	}
	if (v->overflowing && now_ms >= v->overflow_until_ms) {
		f = finding_add(out, RW_XF_OVERFLOW_END, v, x->window_ms);
		if (f) {
			f->side = v->episode_side;
			f->dropped = v->episode_dropped;
			f->held_back = v->episode_held;
			f->cap = x->max_pending;
		}
		v->overflowing = false;
		v->episode_dropped = v->episode_held = 0;
	}
}

void rw_xcheck_expire(struct rw_xcheck *x, int64_t now_ms, struct rw_xcheck_findings *out)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->nvms;) {
		struct vm_xcheck *v = x->vms[i];
		size_t before = x->nvms;

		expire_vm(x, v, now_ms, out);
		vm_release_if_idle(x, v);
		if (x->nvms == before)
			i++;	/* else slot i now holds the last VM: look at it */
	}
	pthread_mutex_unlock(&x->lock);
}

void rw_xcheck_side_state(struct rw_xcheck *x, const char *vm, enum rw_xcheck_side side,
			  bool up, int64_t now_ms, struct rw_xcheck_findings *out)
{
	struct vm_xcheck *v;
	struct side_state *s;

	if (!x || !vm || (side != RW_XCHECK_KMOD && side != RW_XCHECK_BPF))
		return;
	pthread_mutex_lock(&x->lock);
	v = up ? vm_get(x, vm, out) : vm_find(x, vm);
	if (v) {
		s = &v->sides[side];
		if (up) {
			if (!s->streams++)
				s->up_since_ms = now_ms;
		} else if (s->streams) {
			s->streams--;
		}
		v->st.peer_up[side] = s->streams != 0;
		if (!up) {
			expire_vm(x, v, now_ms, out);
			vm_release_if_idle(x, v);
		}
	}
	pthread_mutex_unlock(&x->lock);
}

void rw_xcheck_side_loss(struct rw_xcheck *x, const char *vm, enum rw_xcheck_side side,
			 int64_t now_ms, struct rw_xcheck_findings *out)
{
	struct vm_xcheck *v;

	if (!x || !vm || (side != RW_XCHECK_KMOD && side != RW_XCHECK_BPF))
		return;
	pthread_mutex_lock(&x->lock);
	v = vm_get(x, vm, out);
	if (v) {
		v->sides[side].lost = true;
		v->sides[side].lost_at_ms = now_ms;
	}
	pthread_mutex_unlock(&x->lock);
}

static bool same_change(const struct rw_msg_cred_change *a, const struct rw_msg_cred_change *b)
{
	return a->pid == b->pid && a->tgid == b->tgid &&
	       !memcmp(a->new_ids, b->new_ids, sizeof(a->new_ids));
}

enum rw_xcheck_result rw_xcheck_observe(struct rw_xcheck *x, const char *vm,
					enum rw_xcheck_side side,
					const struct rw_msg_cred_change *obs, uint64_t seq,
					int64_t now_ms, struct rw_xcheck_findings *out)
{
	enum rw_xcheck_result res = RW_XCHECK_DROPPED;
	struct rw_xcheck_finding *f;
	struct vm_xcheck *v;
	size_t best = SIZE_MAX;

	if (!x || !vm || !obs || (side != RW_XCHECK_KMOD && side != RW_XCHECK_BPF))
		return RW_XCHECK_DROPPED;
	pthread_mutex_lock(&x->lock);
	v = vm_get(x, vm, out);
	if (!v)
		goto out;
	v->st.reports[side]++;
	expire_vm(x, v, now_ms, out);
	/* the oldest report of the other side with the same task and new ids */
	for (size_t i = 0; i < v->npend; i++) {
		const struct pending *p = &v->pend[i];

		if (p->side != side && same_change(&p->obs, obs) &&
		    (best == SIZE_MAX || p->at_ms < v->pend[best].at_ms))
			best = i;
	}
	if (best != SIZE_MAX) {
		pending_remove(v, best);
		v->st.matched++;
		res = RW_XCHECK_MATCHED;
		goto out;
	}
	if (v->npend < x->max_pending) {
		v->pend[v->npend++] = (struct pending){ .obs = *obs, .seq = seq, .at_ms = now_ms,
							.side = side };
		v->pend[v->npend - 1].obs.comm[RW_PROTO_COMM_LEN - 1] = '\0';
		v->st.pending = v->npend;
		res = RW_XCHECK_PENDING;
		goto out;
	}
	v->st.dropped++;
	v->overflow_until_ms = now_ms + x->window_ms;
	v->episode_dropped++;
	if (!v->overflowing) {
		v->overflowing = true;
		v->episode_side = side;
		f = finding_add(out, RW_XF_OVERFLOW, v, x->window_ms);
		if (f) {
			f->side = side;
			f->dropped = 1;
			f->cap = x->max_pending;
		}
	}
out:
	pthread_mutex_unlock(&x->lock);
	return res;
}

void rw_xcheck_stats(struct rw_xcheck *x, const char *vm, struct rw_xcheck_stats *out)
{
	struct vm_xcheck *v;

	memset(out, 0, sizeof(*out));
	if (!x || !vm)
		return;
	pthread_mutex_lock(&x->lock);
	v = vm_find(x, vm);
	if (v)
		*out = v->st;
	pthread_mutex_unlock(&x->lock);
}

/* --- findings as JSON --------------------------------------------------------------- */

static json_t *ids_json(const uint32_t ids[RW_CRED_CHANGE_IDS])
{
	/* enum rw_cred_field order */
	static const char *const names[RW_CRED_CHANGE_IDS] = {
		"uid", "gid", "suid", "sgid", "euid", "egid", "fsuid", "fsgid",
	};
	json_t *o = json_object();

	for (unsigned i = 0; o && i < RW_CRED_CHANGE_IDS; i++)
		json_object_set_new(o, names[i], json_integer(ids[i]));
	return o;
}

/* Guest text as printable ASCII (the guest owes us nothing). */
static void printable_comm(const char *in, char out[RW_PROTO_COMM_LEN])
{
	size_t n = strnlen(in, RW_PROTO_COMM_LEN - 1);

	for (size_t i = 0; i < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[n] = '\0';
}

static json_t *one_sided_json(const struct rw_xcheck_finding *f)
{
	const struct rw_msg_cred_change *c = &f->obs;
	const char *seen = rw_xcheck_side_name(f->side);
	const char *missing = rw_xcheck_side_name(f->side == RW_XCHECK_KMOD ? RW_XCHECK_BPF
									      : RW_XCHECK_KMOD);
	char comm[RW_PROTO_COMM_LEN], summary[160];

	printable_comm(c->comm, comm);
	snprintf(summary, sizeof(summary), "credential change seen by %s only (%s): pid %u "
		 "uid %u->%u euid %u->%u", seen,
		 f->side == RW_XCHECK_KMOD ? "commit_creds outside the setuid/setgid/exec paths"
					   : "ringwatch.ko's shadow update did not see it",
		 c->pid, c->old_ids[RW_CRED_UID], c->new_ids[RW_CRED_UID],
		 c->old_ids[RW_CRED_EUID], c->new_ids[RW_CRED_EUID]);
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:b,s:i,s:o,s:o,s:I,s:I,s:I}",
			 "kind", "one-sided", "summary", summary, "seen_by", seen,
			 "missing_from", missing, "pid", (json_int_t)c->pid, "tgid",
			 (json_int_t)c->tgid, "comm", comm, "via", rw_proto_cred_via_name(c->via),
			 "exec", (c->flags & RW_CRED_CHANGE_F_EXEC) != 0, "syscall",
			 (int)c->syscall_nr, "old", ids_json(c->old_ids), "new",
			 ids_json(c->new_ids), "age_ms", (json_int_t)f->age_ms, "window_ms",
			 (json_int_t)f->window_ms, "report_seq", (json_int_t)f->seq);
}

json_t *rw_xcheck_finding_json(const struct rw_xcheck_finding *f)
{
	char summary[200];

	if (!f)
		return NULL;
	switch (f->kind) {
	case RW_XF_ONE_SIDED:
		return one_sided_json(f);
	case RW_XF_OVERFLOW:
		snprintf(summary, sizeof(summary), "cross-check table full (%u pending): reports "
			 "dropped, one-sided changes cannot be told apart until it drains", f->cap);
		return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "kind", "overflow", "summary",
				 summary, "dropped_from", rw_xcheck_side_name(f->side), "cap",
				 (json_int_t)f->cap, "dropped", (json_int_t)f->dropped,
				 "window_ms", (json_int_t)f->window_ms);
	case RW_XF_OVERFLOW_END:
		snprintf(summary, sizeof(summary), "cross-check overflow over: %llu report(s) "
			 "dropped, %llu one-sided change(s) held back",
			 (unsigned long long)f->dropped, (unsigned long long)f->held_back);
		return json_pack("{s:s,s:s,s:I,s:I,s:I}", "kind", "overflow-end", "summary",
				 summary, "dropped", (json_int_t)f->dropped, "held_back",
				 (json_int_t)f->held_back, "cap", (json_int_t)f->cap);
	case RW_XF_VMS_FULL:
		snprintf(summary, sizeof(summary), "cross-check tracks at most %u VMs: reports of "
			 "this VM are dropped", f->cap);
		return json_pack("{s:s,s:s,s:I,s:I}", "kind", "vms-full", "summary", summary,
				 "cap", (json_int_t)f->cap, "dropped", (json_int_t)f->dropped);
	}
	return NULL;
}

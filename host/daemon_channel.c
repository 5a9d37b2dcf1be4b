// SPDX-License-Identifier: GPL-2.0
/* The guest channel inside ringwatchd; see host/daemon_channel.h. */
#include "host/daemon_channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/un.h>
#include <time.h>

#include "host/channel_service.h"
#include "host/cred_xcheck.h"
#include "host/daemon.h"
#include "vmi/banner.h"
#include "vmi/mem.h"

#define MAX_VMS 1024u
#define MAX_STAGE_EVENTS 4096u	/* per stream and commit; channel_host commits per read */
#define MAX_STAGE_STATES 256u
#define RESPOND_QUEUE 1024u
#define LOOP_TIMEOUT_MS 100
#define BANNER_SCAN_BYTES (1ull << 30)
#define BANNER_WINDOW (4u << 20)
#define AGENT_JSON_MAX 4096u

/* Health of one VM's channel (c->lock). */
struct vm_health {
	char vm[RW_CH_VM_NAME_MAX];
	unsigned streams;		/* ready connections now */
	unsigned comp_streams[RW_COMP_MAX + 1];
	uint64_t messages, events, states, lost, losses, duplicates, gaps, rejected;
	int64_t last_message_ms;	/* wall clock */
	unsigned ram_regions;		/* RAM received over transport B */
	bool ram_banner;		/* kernel identified from it */
	uint32_t cid;			/* transport A mapping, 0 none */
};

/* A CRED_CHANGE waiting for its stream's commit before the cross-check sees it. */
struct staged_change {
	struct rw_msg_cred_change c;
	uint64_t seq;
};

/* Messages of one stream taken since its last commit (channel thread only). */
struct stage {
	struct rw_ch_stream_id id;
	struct rw_store_chan_event *ev;
	size_t nev, capev;
	struct staged_change *chg;
	size_t nchg, capchg;
	bool lost_reports;		/* the stream says it lost cred reports */
	struct rw_store_chan_state st[MAX_STAGE_STATES];
	size_t nst;
	struct stage *next;
};

struct push_req {
	char vm[RW_CH_VM_NAME_MAX];
	struct rw_msg msg;
	struct rw_policy_entry entry;
	char name[256];
	struct rw_ch_conn *conn;	/* sent on, or NULL while queued */
	int64_t seq;
	int rc;				/* 0 pending, 1 acked, < 0 failed */
	char err[160];
	struct push_req *next;
};

struct respond_job {
	char vm[RW_CH_VM_NAME_MAX];
	char check[32];
	enum rw_severity sev;
	int64_t id;
};

struct rw_dchan {
	struct rw_daemon *d;
	struct rw_channel_service *svc;
	char path[128];
	pthread_t thread, responder;
	bool thread_started, responder_started;

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;		/* push results, responder queue */
	bool stopping;
	struct vm_health *vms;
	size_t nvms;
	struct push_req *pushes;
	uint32_t generation;
	struct respond_job jobs[RESPOND_QUEUE];
	size_t jhead, jlen;
	uint64_t jobs_dropped;

	struct stage *stages;		/* channel thread only */
	struct rw_xcheck *xcheck;	/* own lock; fed by the channel thread */
};

static const char *component_name(uint8_t c)
{
	switch (c) {
	case RW_COMP_KMOD: return "kmod";
	case RW_COMP_AGENT: return "agent";
	case RW_COMP_TEST: return "test";
	default: return "unknown";
	}
}

static void session_hex(const struct rw_ch_stream_id *id, char out[2 * RW_PROTO_SESSION_ID_LEN + 1])
{
	for (unsigned i = 0; i < RW_PROTO_SESSION_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id->session_id[i]);
}

static void hex_bytes(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* --- health ------------------------------------------------------------------ */

/* c->lock held.  NULL when the table is full. */
static struct vm_health *health_of(struct rw_dchan *c, const char *vm)
{
	struct vm_health *grown;

	for (size_t i = 0; i < c->nvms; i++)
		if (!strcmp(c->vms[i].vm, vm))
			return &c->vms[i];
	if (c->nvms >= MAX_VMS)
		return NULL;
	grown = realloc(c->vms, (c->nvms + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	c->vms = grown;
	memset(&c->vms[c->nvms], 0, sizeof(c->vms[0]));
	snprintf(c->vms[c->nvms].vm, sizeof(c->vms[0].vm), "%s", vm);
	return &c->vms[c->nvms++];
}

json_t *rw_dchan_vm_health(struct rw_dchan *c, const char *vm)
{
	json_t *o, *comps = json_array();
	struct vm_health h = { 0 };
	bool known = false;

	if (c) {
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < c->nvms; i++)
			if (!strcmp(c->vms[i].vm, vm)) {
				h = c->vms[i];
				known = true;
			}
		pthread_mutex_unlock(&c->lock);
	}
	for (unsigned k = 1; k <= RW_COMP_MAX; k++)
		if (h.comp_streams[k])
			json_array_append_new(comps, json_string(component_name((uint8_t)k)));
	o = json_pack("{s:b,s:i,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		      "seen", known, "streams", (int)h.streams, "components", comps,
		      "messages", (json_int_t)h.messages, "events", (json_int_t)h.events,
		      "states", (json_int_t)h.states, "lost", (json_int_t)h.lost,
		      "losses", (json_int_t)h.losses, "duplicates", (json_int_t)h.duplicates,
		      "gaps", (json_int_t)h.gaps, "rejected", (json_int_t)h.rejected,
		      "last_message_ms", (json_int_t)h.last_message_ms);
	if (o && h.ram_regions)
		json_object_set_new(o, "ram", json_pack("{s:b,s:b}", "mapped", h.ram_regions != 0,
							"kernel_identified", h.ram_banner));
	if (o && h.cid)
		json_object_set_new(o, "vsock_cid", json_integer(h.cid));
	if (o && c && c->xcheck) {
		struct rw_xcheck_stats xs;

		rw_xcheck_stats(c->xcheck, vm, &xs);
		json_object_set_new(o, "cred_xcheck",
				    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
					      "reports_kmod", (json_int_t)xs.reports[RW_XCHECK_KMOD],
					      "reports_bpf", (json_int_t)xs.reports[RW_XCHECK_BPF],
					      "matched", (json_int_t)xs.matched, "kmod_only",
					      (json_int_t)xs.one_sided[RW_XCHECK_KMOD], "bpf_only",
					      (json_int_t)xs.one_sided[RW_XCHECK_BPF], "unverified",
					      (json_int_t)xs.unverified, "after_loss",
					      (json_int_t)xs.after_loss, "dropped",
					      (json_int_t)xs.dropped, "pending",
					      (json_int_t)xs.pending, "window_ms",
					      (json_int_t)RW_XCHECK_WINDOW_MS_DEFAULT));
	}
	return o ? o : json_object();
}

void rw_dchan_set_cid(struct rw_dchan *c, const char *vm, uint32_t cid)
{
	struct vm_health *h;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; cid && i < c->nvms; i++)	/* one VM per CID */
		if (c->vms[i].cid == cid)
			c->vms[i].cid = 0;
	h = health_of(c, vm);
	if (h)
		h->cid = cid;
	pthread_mutex_unlock(&c->lock);
}

static int vm_for_cid(void *ctx, uint32_t cid, char *name, size_t len)
{
	struct rw_dchan *c = ctx;
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nvms; i++)
		if (c->vms[i].cid == cid) {
			snprintf(name, len, "%s", c->vms[i].vm);
			rc = 0;
		}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* --- responses (own thread: a dump or pause must not stall the streams) ---------- */

static void queue_response(struct rw_dchan *c, const char *vm, const char *check,
			   enum rw_severity sev, int64_t id)
{
	pthread_mutex_lock(&c->lock);
	if (c->jlen == RESPOND_QUEUE) {
		c->jobs_dropped++;
	} else {
		struct respond_job *j = &c->jobs[(c->jhead + c->jlen++) % RESPOND_QUEUE];

		snprintf(j->vm, sizeof(j->vm), "%s", vm);
		snprintf(j->check, sizeof(j->check), "%s", check);
		j->sev = sev;
		j->id = id;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

static void *responder_main(void *arg)
{
	struct rw_dchan *c = arg;
	uint64_t dropped_logged = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct respond_job j;

		while (!c->jlen && !c->stopping)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->jlen)
			break;
		j = c->jobs[c->jhead];
		c->jhead = (c->jhead + 1) % RESPOND_QUEUE;
		c->jlen--;
		if (c->jobs_dropped != dropped_logged) {
			dropped_logged = c->jobs_dropped;
			pthread_mutex_unlock(&c->lock);
			rw_daemon_log(c->d, LOG_WARNING, "channel: %llu guest events got no response "
				      "(responder queue full)", (unsigned long long)dropped_logged);
		} else {
			pthread_mutex_unlock(&c->lock);
		}
		rw_respond(c->d, j.vm, j.check, j.sev, j.id);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* --- message -> rows ---------------------------------------------------------- */

static const char *lsm_kind_name(uint16_t k)
{
	static const char *const names[] = { "?", "exec", "module-load", "mount", "file-open",
					     "mmap-exec", "bpf", "ptrace" };

	return k <= RW_LSM_KIND_MAX ? names[k] : "?";
}

/*
 * The agent carries its own report (a JSON object, docs/guest-bpf.md) in the
 * path field of LSM_EVENT.  Parsed strictly and bounded; anything else stays
 * a plain path string.
 */
static json_t *agent_report(const struct rw_msg_lsm_event *l)
{
	json_error_t jerr;
	json_t *o;

	if (!l->path || !l->path_len || l->path_len > AGENT_JSON_MAX || l->path[0] != '{')
		return NULL;
	o = json_loadb(l->path, l->path_len, JSON_REJECT_DUPLICATES, &jerr);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static enum rw_severity lsm_severity(const struct rw_msg_lsm_event *l, json_t *report)
{
	const char *ev = json_string_value(json_object_get(report, "event"));
	const char *agent = json_string_value(json_object_get(report, "agent"));

	if (ev && !strncmp(ev, "guard-", 6))
		return RW_SEV_ALERT;	/* someone went for the guard itself */
	if (agent)
		return !strcmp(agent, "failed") || !strcmp(agent, "overflow") ||
		       !strcmp(agent, "policy-error") ? RW_SEV_WARNING : RW_SEV_INFO;
	return l->verdict < 0 || ev ? RW_SEV_WARNING : RW_SEV_INFO;
}

static json_t *lsm_detail(const struct rw_msg_lsm_event *l, json_t *report)
{
	char sha[2 * RW_PROTO_SHA256_LEN + 1] = "";
	json_t *o;

	if (l->flags & RW_LSM_F_SHA256)
		hex_bytes(l->sha256, RW_PROTO_SHA256_LEN, sha);
	o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:s}", "kind", lsm_kind_name(l->kind), "verdict",
		      l->verdict < 0 ? "deny" : "allow", "errno", -l->verdict,
		      "pid", (json_int_t)l->pid, "uid", (json_int_t)l->uid, "comm", l->comm);
	if (!o)
		return NULL;
	if (sha[0])
		json_object_set_new(o, "sha256", json_string(sha));
	if (report)
		json_object_set(o, "report", report);
	else if (l->path && l->path_len)
		json_object_set_new(o, "path", json_stringn(l->path, l->path_len));
	return o;
}

static void printable(const char *in, size_t len, char *out, size_t cap);

/*
 * Credential violation: the fields with their shadow (old) and live (new)
 * values, and, from protocol version 2 on, where the guest caught it and what
 * it did ("check", "killed", "denied", "error"; absent in a version-1 frame).
 */
json_t *rw_dchan_cred_detail(const struct rw_msg_cred_violation *v)
{
	static const char *const names[RW_CRED_FIELD_COUNT] = {
		[RW_CRED_UID] = "uid",
		[RW_CRED_GID] = "gid",
		[RW_CRED_SUID] = "suid",
		[RW_CRED_SGID] = "sgid",
		[RW_CRED_EUID] = "euid",
		[RW_CRED_EGID] = "egid",
		[RW_CRED_FSUID] = "fsuid",
		[RW_CRED_FSGID] = "fsgid",
		[RW_CRED_CAP_INHERITABLE] = "cap_inheritable",
		[RW_CRED_CAP_PERMITTED] = "cap_permitted",
		[RW_CRED_CAP_EFFECTIVE] = "cap_effective",
		[RW_CRED_CAP_BSET] = "cap_bset",
		[RW_CRED_CAP_AMBIENT] = "cap_ambient",
		[RW_CRED_SECUREBITS] = "securebits",
		[RW_CRED_CRED_PTR] = "cred_ptr",
		[RW_CRED_REAL_CRED_PTR] = "real_cred_ptr",
		[RW_CRED_NSPROXY_PTR] = "nsproxy_ptr",
		[RW_CRED_SECCOMP_MODE] = "seccomp_mode",
		[RW_CRED_SECCOMP_WORK] = "seccomp_work",
		[RW_CRED_USER_NS_PTR] = "user_ns_ptr",
		[RW_CRED_GROUP_INFO_PTR] = "group_info_ptr",
	};
	char comm[RW_PROTO_COMM_LEN];
	json_t *changes = json_object(), *o;

	if (!changes)
		return NULL;
	for (unsigned i = 0; i < RW_CRED_FIELD_COUNT; i++)
		if (v->field_mask & (1u << i))
			json_object_set_new(changes, names[i],
					    json_pack("{s:I,s:I}", "old", (json_int_t)v->old_val[i],
						      "new", (json_int_t)v->new_val[i]));
	printable(v->comm, strnlen(v->comm, sizeof(v->comm)), comm, sizeof(comm));
	o = json_pack("{s:I,s:I,s:s,s:o}", "pid", (json_int_t)v->pid, "tgid",
		      (json_int_t)v->tgid, "comm", comm, "changes", changes);
	if (!o || !v->check)
		return o;
	if (json_object_set_new(o, "check", json_string(rw_proto_cred_check_name(v->check))) ||
	    json_object_set_new(o, "killed", json_boolean(v->action & RW_CRED_ACT_KILLED)) ||
	    json_object_set_new(o, "denied", json_boolean(v->action & RW_CRED_ACT_DENIED)) ||
	    json_object_set_new(o, "error", json_integer(v->error))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *cpu_detail(const struct rw_msg_cpu_state *p)
{
	char hex[24];
	json_t *o = json_pack("{s:I,s:i,s:I}", "cpu", (json_int_t)p->cpu_id, "reason",
			      (int)p->reason, "valid_mask", (json_int_t)p->valid_mask);
	const struct { const char *n; unsigned bit; uint64_t v; } regs[] = {
		{ "lstar", RW_CPU_F_LSTAR, p->lstar }, { "star", RW_CPU_F_STAR, p->star },
		{ "cstar", RW_CPU_F_CSTAR, p->cstar }, { "sfmask", RW_CPU_F_SFMASK, p->sfmask },
		{ "sysenter_cs", RW_CPU_F_SYSENTER_CS, p->sysenter_cs },
		{ "sysenter_esp", RW_CPU_F_SYSENTER_ESP, p->sysenter_esp },
		{ "sysenter_eip", RW_CPU_F_SYSENTER_EIP, p->sysenter_eip },
		{ "efer", RW_CPU_F_EFER, p->efer }, { "cr0", RW_CPU_F_CR0, p->cr0 },
		{ "cr4", RW_CPU_F_CR4, p->cr4 }, { "idtr_base", RW_CPU_F_IDTR, p->idtr_base },
	};

	for (size_t i = 0; o && i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (!(p->valid_mask & (1u << regs[i].bit)))
			continue;
		snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)regs[i].v);
		json_object_set_new(o, regs[i].n, json_string(hex));
	}
	if (o && (p->valid_mask & (1u << RW_CPU_F_IDTR)))
		json_object_set_new(o, "idtr_limit", json_integer(p->idtr_limit));
	return o;
}

/* What each of the guest module's own events means for the VM. */
static enum rw_severity guard_severity(uint16_t kind)
{
	switch (kind) {
	case RW_GUARD_HOOK_LOST:
		return RW_SEV_ALERT;	/* blinded: someone removed a hook */
	case RW_GUARD_AGENT_LOST:
		return RW_SEV_ALERT;	/* BPF events unforwarded, policy frozen */
	case RW_GUARD_PARTNER_DETACHED:
		return RW_SEV_ALERT;	/* an LSM hook no longer runs our program */
	case RW_GUARD_AGENT_BACK:
		return RW_SEV_WARNING;	/* back, but there was a gap (detail gap_ms) */
	case RW_GUARD_UNLOAD_ATTEMPT:
	case RW_GUARD_DISARMED:
	case RW_GUARD_DISARM_REFUSED:
	case RW_GUARD_TRACKING_LOST:
	case RW_GUARD_SHADOW_NOMEM:
		return RW_SEV_WARNING;
	default:
		return RW_SEV_INFO;	/* loaded, hook_restored, tracking_resumed,
					 * partner_restored */
	}
}

/* Guest text as printable ASCII (JSON needs UTF-8; the guest owes us nothing). */
static void printable(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = len < cap - 1 ? len : cap - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[n] = '\0';
}

static json_t *guard_detail(const struct rw_msg_guard_event *g)
{
	char text[RW_PROTO_MAX_EVENT_DETAIL];

	printable(g->detail ? g->detail : "", g->detail_len, text, sizeof(text));
	return json_pack("{s:s,s:i,s:s}", "kind", rw_proto_guard_kind_name(g->kind), "kind_code",
			 (int)g->kind, "detail", text);
}

static json_t *module_self_detail(const struct rw_msg_module_self *m, const char *session)
{
	char addr[24], base[24], name[RW_PROTO_MODULE_NAME_LEN];

	printable(m->name, strnlen(m->name, sizeof(m->name)), name, sizeof(name));
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)m->module_addr);
	snprintf(base, sizeof(base), "0x%llx", (unsigned long long)m->core_base);
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "name", name, "module_addr",
			 addr, "core_base", base, "text_size", (json_int_t)m->text_size,
			 "ro_size", (json_int_t)m->ro_size, "ro_after_init_size",
			 (json_int_t)m->ro_after_init_size, "core_size",
			 (json_int_t)m->core_size, "session", session);
}

static struct stage *stage_of(struct rw_dchan *c, const struct rw_ch_stream_id *id)
{
	struct stage *s;

	for (s = c->stages; s; s = s->next)
		if (!memcmp(&s->id, id, sizeof(*id)))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = *id;
	s->next = c->stages;
	c->stages = s;
	return s;
}

static void stage_clear(struct stage *s)
{
	for (size_t i = 0; i < s->nev; i++)
		json_decref(s->ev[i].detail);
	for (size_t i = 0; i < s->nst; i++)
		json_decref(s->st[i].detail);
	s->nev = s->nst = s->nchg = 0;
	s->lost_reports = false;
}

static void stage_drop(struct rw_dchan *c, const struct rw_ch_stream_id *id)
{
	for (struct stage **pp = &c->stages; *pp; pp = &(*pp)->next) {
		if (!memcmp(&(*pp)->id, id, sizeof(*id))) {
			struct stage *s = *pp;

			*pp = s->next;
			stage_clear(s);
			free(s->ev);
			free(s->chg);
			free(s);
			return;
		}
	}
}

static int stage_event(struct stage *s, const char *check, enum rw_severity sev, json_t *detail)
{
	if (!detail)
		return -ENOMEM;
	if (s->nev == s->capev) {
		size_t ncap = s->capev ? s->capev * 2 : 64;
		struct rw_store_chan_event *n;

		if (ncap > MAX_STAGE_EVENTS || !(n = realloc(s->ev, ncap * sizeof(*n)))) {
			json_decref(detail);
			return -ENOSPC;	/* refused: the guest resends after the next ACK */
		}
		s->ev = n;
		s->capev = ncap;
	}
	s->ev[s->nev++] = (struct rw_store_chan_event){ .check = check, .sev = sev,
							.detail = detail };
	return 0;
}

static int stage_change(struct stage *s, const struct rw_msg_cred_change *c, uint64_t seq)
{
	if (s->nchg == s->capchg) {
		size_t ncap = s->capchg ? s->capchg * 2 : 16;
		struct staged_change *n;

		if (ncap > MAX_STAGE_EVENTS || !(n = realloc(s->chg, ncap * sizeof(*n))))
			return -ENOSPC;	/* refused: the guest resends after the next ACK */
		s->chg = n;
		s->capchg = ncap;
	}
	s->chg[s->nchg++] = (struct staged_change){ .c = *c, .seq = seq };
	return 0;
}

/*
 * The BPF side's credential change as an event of its own (the issue's
 * "signals ... reported"): pid, comm, the hook it came through and the eight
 * ids before and after, flat ("old_uid", "new_uid"...).
 */
static json_t *cred_change_detail(const struct rw_msg_cred_change *c)
{
	static const char *const names[RW_CRED_CHANGE_IDS] = {
		"uid", "gid", "suid", "sgid", "euid", "egid", "fsuid", "fsgid",
	};
	char comm[2 * RW_PROTO_COMM_LEN], key[16];
	json_t *d;

	printable(c->comm, strnlen(c->comm, sizeof(c->comm)), comm, sizeof(comm));
	d = json_pack("{s:I,s:I,s:s,s:s,s:b,s:i}", "pid", (json_int_t)c->pid, "tgid",
		      (json_int_t)c->tgid, "comm", comm, "via", rw_proto_cred_via_name(c->via),
		      "exec", (c->flags & RW_CRED_CHANGE_F_EXEC) != 0, "syscall", (int)c->syscall_nr);
	for (unsigned int i = 0; d && i < RW_CRED_CHANGE_IDS; i++) {
		snprintf(key, sizeof(key), "old_%s", names[i]);
		json_object_set_new(d, key, json_integer((json_int_t)c->old_ids[i]));
		snprintf(key, sizeof(key), "new_%s", names[i]);
		json_object_set_new(d, key, json_integer((json_int_t)c->new_ids[i]));
	}
	return d;
}

/* --- credential-change cross-check (host/cred_xcheck.h) ----------------------------- */

static bool xcheck_side_of(uint8_t component, enum rw_xcheck_side *side)
{
	if (component == RW_COMP_KMOD)
		*side = RW_XCHECK_KMOD;
	else if (component == RW_COMP_AGENT)
		*side = RW_XCHECK_BPF;
	else
		return false;	/* a test stream speaks for neither side */
	return true;
}

/* Store, announce and (when a rule says so) respond to the cross-check's findings. */
static void xcheck_emit(struct rw_dchan *c, struct rw_xcheck_findings *out)
{
	char err[256];

	for (size_t i = 0; i < out->n; i++) {
		const struct rw_xcheck_finding *f = &out->v[i];
		enum rw_severity sev = f->kind == RW_XF_OVERFLOW_END ? RW_SEV_WARNING
								     : RW_SEV_ALERT;
		json_t *detail = rw_xcheck_finding_json(f);
		int64_t time_ms = 0, id;

		if (!detail) {
			rw_daemon_log(c->d, LOG_ERR, "cred-xcheck: out of memory for a finding "
				      "of %s", f->vm);
			continue;
		}
		id = rw_store_append_event(c->d->store, f->vm, "ringwatchd", "cred-xcheck", sev,
					   detail, &time_ms, err, sizeof(err));
		if (id < 0) {
			rw_daemon_log(c->d, LOG_ERR, "cred-xcheck: storing a finding of %s: %s",
				      f->vm, err);
		} else {
			rw_daemon_announce(c->d, id, time_ms, f->vm, "ringwatchd", "cred-xcheck",
					   sev, detail);
			if (rw_config_actions(c->d->cfg, "cred-xcheck", sev) &
			    (RW_ACT_PAUSE | RW_ACT_DUMP | RW_ACT_PUSH_POLICY))
				queue_response(c, f->vm, "cred-xcheck", sev, id);
			if (sev == RW_SEV_ALERT)
				rw_daemon_request_pass(c->d, f->vm);
		}
		json_decref(detail);
	}
	if (out->lost)
		rw_daemon_log(c->d, LOG_ERR, "cred-xcheck: %llu finding(s) lost (out of memory)",
			      (unsigned long long)out->lost);
	rw_xcheck_findings_release(out);
	out->lost = 0;
}

/* A latest-state row: replaced by newer messages of the same kind and key. */
static int stage_state(struct stage *s, const char *kind, const char *key, uint64_t seq,
		       json_t *detail)
{
	struct rw_store_chan_state *r = NULL;

	if (!detail)
		return -ENOMEM;
	for (size_t i = 0; i < s->nst; i++)
		if (!strcmp(s->st[i].kind, kind) && !strcmp(s->st[i].key, key))
			r = &s->st[i];
	if (!r) {
		if (s->nst == MAX_STAGE_STATES) {
			json_decref(detail);
			return -ENOSPC;
		}
		r = &s->st[s->nst++];
		memset(r, 0, sizeof(*r));
		r->kind = kind;
		snprintf(r->key, sizeof(r->key), "%s", key);
	}
	json_decref(r->detail);
	r->detail = detail;
	r->seq = seq;
	r->count++;
	return 0;
}

/* --- sink (channel thread) ------------------------------------------------------ */

static int sink_load(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm)
{
	struct rw_dchan *c = ctx;
	char hex[2 * RW_PROTO_SESSION_ID_LEN + 1], err[256];

	session_hex(id, hex);
	stage_drop(c, id);	/* anything staged but never committed is gone with its conn */
	if (rw_store_channel_mark(c->d->store, id->vm, component_name(id->component), hex, hwm,
				  err, sizeof(err))) {
		rw_daemon_log(c->d, LOG_ERR, "channel: stream of %s: %s", id->vm, err);
		return -EIO;
	}
	return 0;
}

static int sink_message(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *msg,
			const uint8_t *frame, size_t len)
{
	struct rw_dchan *c = ctx;
	struct stage *s = stage_of(c, id);
	char hex[2 * RW_PROTO_SESSION_ID_LEN + 1], key[32];
	json_t *detail = NULL, *report;
	enum rw_severity sev;
	int rc;

	(void)frame;
	(void)len;
	if (!s)
		return -ENOMEM;
	session_hex(id, hex);
	switch (msg->hdr.type) {
	case RW_MSG_HEARTBEAT:
		rc = stage_state(s, "heartbeat", "", msg->hdr.seq,
				 json_pack("{s:I,s:I,s:I}", "counter",
					   (json_int_t)msg->u.heartbeat.counter, "uptime_ns",
					   (json_int_t)msg->u.heartbeat.uptime_ns, "seq",
					   (json_int_t)msg->hdr.seq));
		break;
	case RW_MSG_CPU_STATE:
		snprintf(key, sizeof(key), "%u", msg->u.cpu.cpu_id);
		report = cpu_detail(&msg->u.cpu);
		if (report)	/* which module load vouched for it */
			json_object_set_new(report, "session", json_string(hex));
		rc = stage_state(s, "cpu-state", key, msg->hdr.seq, report);
		break;
	case RW_MSG_MODULE_SELF:
		rc = stage_state(s, "module-self", "", msg->hdr.seq,
				 module_self_detail(&msg->u.self, hex));
		break;
	case RW_MSG_GUARD_EVENT:
		/* missed hook hits: commit_creds reports may be missing */
		s->lost_reports |= msg->u.guard.kind == RW_GUARD_TRACKING_LOST;
		detail = guard_detail(&msg->u.guard);
		rc = stage_event(s, "guard-event", guard_severity(msg->u.guard.kind), detail);
		break;
	case RW_MSG_CRED_VIOLATION:
		detail = rw_dchan_cred_detail(&msg->u.cred);
		rc = stage_event(s, "cred-violation", RW_SEV_ALERT, detail);
		break;
	case RW_MSG_CRED_CHANGE:
		/* the cross-check pairs both sides' reports; the BPF side's is also a
		 * signal of its own (ringwatch.ko's, one per id change, is not stored) */
		rc = stage_change(s, &msg->u.cred_change, msg->hdr.seq);
		if (!rc && id->component == RW_COMP_AGENT) {
			detail = cred_change_detail(&msg->u.cred_change);
			rc = stage_event(s, "cred-change", RW_SEV_INFO, detail);
			if (rc)
				s->nchg--;	/* the message is refused whole */
		}
		break;
	case RW_MSG_LSM_EVENT:
		report = id->component == RW_COMP_AGENT ? agent_report(&msg->u.lsm) : NULL;
		/* BPF ring buffer overflow: credential records may be missing */
		if (report && json_is_string(json_object_get(report, "agent")) &&
		    !strcmp(json_string_value(json_object_get(report, "agent")), "overflow"))
			s->lost_reports = true;
		sev = lsm_severity(&msg->u.lsm, report);
		detail = lsm_detail(&msg->u.lsm, report);
		json_decref(report);
		rc = stage_event(s, "lsm-event", sev, detail);
		break;
	case RW_MSG_LOSS:
		s->lost_reports = true;
		detail = json_pack("{s:I,s:I,s:I}", "count", (json_int_t)msg->u.loss.count,
				   "first_seq", (json_int_t)msg->u.loss.first_seq, "last_seq",
				   (json_int_t)msg->u.loss.last_seq);
		rc = stage_event(s, "channel-loss", RW_SEV_WARNING, detail);
		break;
	case RW_MSG_CHALLENGE_RESPONSE: {
		char h[2 * RW_PROTO_SHA256_LEN + 1] = "";

		hex_bytes(msg->u.chal_resp.hash, msg->u.chal_resp.hash_len, h);
		detail = json_pack("{s:I,s:i,s:i,s:s}", "challenge_seq",
				   (json_int_t)msg->u.chal_resp.challenge_seq, "status",
				   (int)msg->u.chal_resp.status, "hash_alg",
				   (int)msg->u.chal_resp.hash_alg, "hash", h);
		rc = stage_event(s, "challenge-response", RW_SEV_INFO, detail);
		break;
	}
	default:
		return -EINVAL;	/* channel_host hands only sequenced guest types */
	}
	if (rc)
		return rc;
	/* Every stored row carries its stream position, so a reader can check the set. */
	if (detail) {
		json_object_set_new(detail, "seq", json_integer((json_int_t)msg->hdr.seq));
		json_object_set_new(detail, "session", json_string(hex));
	}
	return 0;
}

static int sink_commit(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm)
{
	struct rw_dchan *c = ctx;
	struct stage *s = stage_of(c, id);
	char hex[2 * RW_PROTO_SESSION_ID_LEN + 1], err[256];
	const char *comp = component_name(id->component);
	struct vm_health *h;
	bool kick = false;

	if (!s)
		return -ENOMEM;
	session_hex(id, hex);
	if (rw_store_channel_commit(c->d->store, id->vm, comp, hex, hwm, s->ev, s->nev, s->st,
				    s->nst, err, sizeof(err))) {
		rw_daemon_log(c->d, LOG_ERR, "channel: storing %zu message(s) of %s/%s: %s",
			      s->nev + s->nst, id->vm, comp, err);
		stage_clear(s);
		return -EIO;
	}
	/* Durable: announce, count, respond. */
	for (size_t i = 0; i < s->nev; i++) {
		struct rw_store_chan_event *e = &s->ev[i];

		rw_daemon_announce(c->d, e->id, e->time_ms, id->vm, comp, e->check, e->sev,
				   e->detail);
		/* Only events a rule acts on cost a responder job. */
		if (rw_config_actions(c->d->cfg, e->check, e->sev) &
		    (RW_ACT_PAUSE | RW_ACT_DUMP | RW_ACT_PUSH_POLICY))
			queue_response(c, id->vm, e->check, e->sev, e->id);
		kick |= e->sev == RW_SEV_ALERT;
	}
	pthread_mutex_lock(&c->lock);
	h = health_of(c, id->vm);
	if (h && (s->nev || s->nst)) {
		h->messages += s->nev;
		for (size_t i = 0; i < s->nst; i++)
			h->messages += s->st[i].count;
		h->events += s->nev;
		h->states += s->nst;
		h->last_message_ms = rw_now_ms();
		for (size_t i = 0; i < s->nev; i++)
			if (!strcmp(s->ev[i].check, "channel-loss")) {
				h->losses++;
				h->lost += (uint64_t)json_integer_value(
					json_object_get(s->ev[i].detail, "count"));
			}
	}
	pthread_mutex_unlock(&c->lock);
	/* Durable (acked from here on): now the cross-check may count them. */
	if ((s->nchg || s->lost_reports) && c->xcheck) {
		struct rw_xcheck_findings out = { 0 };
		enum rw_xcheck_side side;
		int64_t now = rw_mono_ms();

		if (xcheck_side_of(id->component, &side) && s->lost_reports)
			rw_xcheck_side_loss(c->xcheck, id->vm, side, now, &out);
		if (xcheck_side_of(id->component, &side))
			for (size_t i = 0; i < s->nchg; i++)
				rw_xcheck_observe(c->xcheck, id->vm, side, &s->chg[i].c,
						  s->chg[i].seq, now, &out);
		xcheck_emit(c, &out);
	}
	stage_clear(s);
	if (kick)	/* an alert from the guest: look at the VM now */
		rw_daemon_request_pass(c->d, id->vm);
	return 0;
}

/* --- app callbacks (channel thread) ---------------------------------------------- */

static void xcheck_stream(struct rw_dchan *c, const struct rw_ch_stream_id *id, bool up)
{
	struct rw_xcheck_findings out = { 0 };
	enum rw_xcheck_side side;

	if (!c->xcheck || !xcheck_side_of(id->component, &side))
		return;
	rw_xcheck_side_state(c->xcheck, id->vm, side, up, rw_mono_ms(), &out);
	xcheck_emit(c, &out);
}

static void app_ready(void *ctx, struct rw_ch_conn *conn)
{
	struct rw_dchan *c = ctx;
	const struct rw_ch_stream_id *id = rw_ch_conn_stream(conn);
	struct vm_health *h;

	pthread_mutex_lock(&c->lock);
	h = health_of(c, id->vm);
	if (h) {
		h->streams++;
		if (id->component <= RW_COMP_MAX)
			h->comp_streams[id->component]++;
	}
	pthread_mutex_unlock(&c->lock);
	rw_ch_conn_set_user(conn, (void *)1);	/* counted in streams */
	rw_daemon_log(c->d, LOG_INFO, "channel: %s stream of %s connected",
		      component_name(id->component), id->vm);
	xcheck_stream(c, id, true);
}

static void app_peer_ack(void *ctx, struct rw_ch_conn *conn, uint64_t acked)
{
	struct rw_dchan *c = ctx;
	bool any = false;

	pthread_mutex_lock(&c->lock);
	for (struct push_req *p = c->pushes; p; p = p->next)
		if (p->conn == conn && !p->rc && p->seq > 0 && (uint64_t)p->seq <= acked) {
			p->rc = 1;
			any = true;
		}
	if (any)
		pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void app_close(void *ctx, struct rw_ch_conn *conn, const char *reason)
{
	struct rw_dchan *c = ctx;
	struct rw_ch_conn_stats st;
	struct vm_health *h;
	bool counted = rw_ch_conn_user(conn) != NULL;
	const struct rw_ch_stream_id *id = counted ? rw_ch_conn_stream(conn) : NULL;

	rw_ch_conn_get_stats(conn, &st);
	pthread_mutex_lock(&c->lock);
	for (struct push_req *p = c->pushes; p; p = p->next)
		if (p->conn == conn && !p->rc) {
			p->rc = -1;
			snprintf(p->err, sizeof(p->err), "agent stream closed before the guest "
				 "acknowledged the update (%s)", reason ? reason : "closed");
		}
	pthread_cond_broadcast(&c->cond);
	if (id && (h = health_of(c, id->vm))) {
		if (h->streams)
			h->streams--;
		if (id->component <= RW_COMP_MAX && h->comp_streams[id->component])
			h->comp_streams[id->component]--;
		h->duplicates += st.duplicates;
		h->gaps += st.gaps;
		if (reason && strcmp(reason, "peer closed the connection") && st.version)
			h->rejected += strstr(reason, "malformed") || strstr(reason, "ERROR") ? 1 : 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (id) {
		stage_drop(c, id);
		rw_daemon_log(c->d, LOG_INFO, "channel: %s stream of %s closed: %s",
			      component_name(id->component), id->vm, reason ? reason : "");
		xcheck_stream(c, id, false);
	}
}

/* --- RAM from transport B -------------------------------------------------------- */

static bool banner_from(struct vmi_mem *mem, char *banner, size_t len)
{
	uint8_t *buf = malloc(BANNER_WINDOW);
	bool found = false;

	if (!buf)
		return false;
	for (uint64_t gpa = 0; gpa < BANNER_SCAN_BYTES && !found; gpa += BANNER_WINDOW - 512) {
		if (vmi_mem_read(mem, gpa, buf, BANNER_WINDOW))
			continue;
		found = vmi_find_banner(buf, BANNER_WINDOW, 0, banner, len) >= 0;
	}
	free(buf);
	return found;
}

static void on_ram(void *ctx, const char *vm, struct vmi_mem *mem)
{
	struct rw_dchan *c = ctx;
	struct rw_daemon *d = c->d;
	char banner[RW_BANNER_MAX], version[128] = "";
	struct vm_health *h;
	struct rw_dvm *dvm;
	bool own_source = true;

	pthread_mutex_lock(&d->lock);
	dvm = rw_dvm_find_locked(d, vm);
	if (dvm)
		own_source = dvm->launched || dvm->rec.mem[0];
	pthread_mutex_unlock(&d->lock);
	/* The VM's only memory source: identify the kernel from it. */
	if (mem && dvm && !own_source && banner_from(mem, banner, sizeof(banner))) {
		const char *v = banner + strlen("Linux version ");

		snprintf(version, sizeof(version), "%.*s", (int)strcspn(v, " "), v);
		pthread_mutex_lock(&d->lock);
		dvm = rw_dvm_find_locked(d, vm);
		if (dvm && !dvm->removed)
			snprintf(dvm->rec.kernel_version, sizeof(dvm->rec.kernel_version), "%s",
				 version);
		else
			dvm = NULL;
		if (dvm)
			dvm->refs++;
		pthread_mutex_unlock(&d->lock);
		if (dvm) {
			rw_dvm_persist(d, dvm);
			rw_dvm_put(d, dvm);
		}
	}
	pthread_mutex_lock(&c->lock);
	h = health_of(c, vm);
	if (h) {
		h->ram_regions = mem ? 1 : 0;
		h->ram_banner = version[0] != '\0';
	}
	pthread_mutex_unlock(&c->lock);
	rw_daemon_log(d, LOG_INFO, "channel: guest RAM of %s %s%s%s", vm,
		      mem ? "received from its vsock device" : "withdrawn",
		      version[0] ? ", kernel " : "", version);
}

/* --- policy pushes ---------------------------------------------------------------- */

static struct rw_ch_conn *agent_conn_of(struct rw_dchan *c, const char *vm);

/* Channel thread: send queued pushes (c->lock held). */
static void send_pushes_locked(struct rw_dchan *c)
{
	for (struct push_req *p = c->pushes; p; p = p->next) {
		struct rw_ch_conn *conn;
		int64_t seq;

		if (p->conn || p->rc)
			continue;
		conn = agent_conn_of(c, p->vm);
		if (!conn) {
			p->rc = -1;
			snprintf(p->err, sizeof(p->err), "VM '%s' has no agent stream connected",
				 p->vm);
			continue;
		}
		p->msg.u.policy.entries = &p->entry;
		seq = rw_ch_conn_send(conn, &p->msg);
		if (seq == -EAGAIN)
			continue;	/* output full: next round */
		if (seq < 0) {
			p->rc = -1;
			snprintf(p->err, sizeof(p->err), "cannot send the update: %s",
				 strerror((int)-seq));
			continue;
		}
		p->conn = conn;
		p->seq = seq;
	}
	pthread_cond_broadcast(&c->cond);
}

static struct rw_ch_conn *agent_conn_of(struct rw_dchan *c, const char *vm)
{
	return rw_channel_service_find(c->svc, vm, RW_COMP_AGENT);
}

static int parse_sha256(const char *hex, uint8_t out[32], char *err, size_t errlen)
{
	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdefABCDEF") != 64) {
		snprintf(err, errlen, "bad SHA-256 '%s' (64 hex digits)", hex);
		return -1;
	}
	for (int i = 0; i < 32; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	return 0;
}

static bool name_ok(const char *s, size_t max, const char *charset)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max && strspn(s, charset) == n;
}

int rw_dchan_policy_parse(const char *const *w, size_t n, bool remove, struct rw_dchan_policy *p,
			  char *err, size_t errlen)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

	memset(p, 0, sizeof(*p));
	p->remove = remove;
	if (n == 3 && !strcmp(w[0], "module-allow")) {
		p->list = RW_LIST_MODULE_ALLOW;
		if (!name_ok(w[1], 55, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")) {
			snprintf(err, errlen, "bad module name '%s'", w[1]);
			return -1;
		}
		snprintf(p->name, sizeof(p->name), "%s", w[1]);
		p->has_sha256 = strcmp(w[2], "*") != 0;
		return p->has_sha256 ? parse_sha256(w[2], p->sha256, err, errlen) : 0;
	}
	if (n == 2 && !strcmp(w[0], "exec-deny")) {
		p->list = RW_LIST_EXEC_DENY;
		p->has_sha256 = true;
		snprintf(p->name, sizeof(p->name), "%s", w[1]);
		return parse_sha256(w[1], p->sha256, err, errlen);
	}
	if (n == 2 && !strcmp(w[0], "env-watch")) {
		p->list = RW_LIST_ENV_VARS;
		if (!name_ok(w[1], 63, alnum)) {
			snprintf(err, errlen, "bad variable name '%s'", w[1]);
			return -1;
		}
		snprintf(p->name, sizeof(p->name), "%s", w[1]);
		return 0;
	}
	if (n == 2 && !strcmp(w[0], "usb-mount") && (!strcmp(w[1], "deny") || !strcmp(w[1], "allow"))) {
		p->list = RW_LIST_MOUNT_RULES;
		snprintf(p->name, sizeof(p->name), "usb=%s", w[1]);
		return 0;
	}
	snprintf(err, errlen, "expected module-allow NAME SHA256|*, exec-deny SHA256, "
		 "env-watch VAR or usb-mount deny|allow");
	return -1;
}

void rw_dchan_policy_msg(const struct rw_dchan_policy *p, const char *name, uint32_t generation,
			 struct rw_msg *msg, struct rw_policy_entry *entry)
{
	memset(entry, 0, sizeof(*entry));
	entry->name = name;
	entry->name_len = (uint16_t)strlen(name);
	entry->flags = p->has_sha256 ? RW_POLICY_E_SHA256 : 0;
	memcpy(entry->sha256, p->sha256, sizeof(entry->sha256));
	memset(msg, 0, sizeof(*msg));
	msg->hdr.type = RW_MSG_POLICY_UPDATE;
	msg->u.policy.op = p->remove ? RW_POLICY_REMOVE : RW_POLICY_ADD;
	msg->u.policy.list = p->list;
	msg->u.policy.count = 1;
	msg->u.policy.generation = generation;
	msg->u.policy.entries = entry;
}

int64_t rw_dchan_push_policy(struct rw_dchan *c, const char *vm, const struct rw_dchan_policy *p,
			     int timeout_ms, char *err, size_t errlen)
{
	struct push_req req;
	struct timespec until;
	int64_t gen = -1;

	if (!c) {
		snprintf(err, errlen, "the guest channel is not running");
		return -1;
	}
	memset(&req, 0, sizeof(req));
	snprintf(req.vm, sizeof(req.vm), "%s", vm);
	snprintf(req.name, sizeof(req.name), "%s", p->name);
	rw_dchan_policy_msg(p, req.name, 0, &req.msg, &req.entry);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	req.msg.u.policy.generation = ++c->generation;
	req.next = c->pushes;
	c->pushes = &req;
	while (!req.rc && !c->stopping)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT)
			break;
	for (struct push_req **pp = &c->pushes; *pp; pp = &(*pp)->next)
		if (*pp == &req) {
			*pp = req.next;
			break;
		}
	if (req.rc > 0)
		gen = req.msg.u.policy.generation;
	else if (req.rc < 0)
		snprintf(err, errlen, "%s", req.err);
	else
		snprintf(err, errlen, "%s", c->stopping ? "ringwatchd is stopping" :
			 req.conn ? "the guest did not acknowledge the update in time" :
			 "the update could not be sent in time");
	pthread_mutex_unlock(&c->lock);
	return gen;
}

/* The push-policy response: tighten the guest (removable media mounts denied). */
static int push_policy_response(void *arg, const char *vm, const json_t *policy, char *err,
				size_t errlen)
{
	static const char *const words[] = { "usb-mount", "deny" };
	struct rw_dchan_policy p;

	(void)policy;
	if (rw_dchan_policy_parse(words, 2, false, &p, err, errlen))
		return -1;
	return rw_dchan_push_policy(arg, vm, &p, 5000, err, errlen) > 0 ? 0 : -1;
}

/* --- thread, start, stop ------------------------------------------------------------ */

static void *chan_main(void *arg)
{
	struct rw_dchan *c = arg;

	for (;;) {
		int rc;

		pthread_mutex_lock(&c->lock);
		if (c->stopping) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		send_pushes_locked(c);
		pthread_mutex_unlock(&c->lock);
		if (c->xcheck) {
			struct rw_xcheck_findings out = { 0 };

			rw_xcheck_expire(c->xcheck, rw_mono_ms(), &out);
			xcheck_emit(c, &out);
		}
		rc = rw_channel_service_run_once(c->svc, LOOP_TIMEOUT_MS);
		if (rc < 0 && rc != -ENOMEM) {
			rw_daemon_log(c->d, LOG_ERR, "channel: poll failed: %s", strerror(-rc));
			struct timespec ts = { 0, 100000000L };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void chan_log(void *opaque, int level, const char *msg)
{
	struct rw_dchan *c = opaque;
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (level > VHU_LOG_INFO)
		return;
	rw_daemon_log(c->d, prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
}

int rw_dchan_start(struct rw_daemon *d, char *err, size_t errlen)
{
	struct rw_channel_service_config cfg;
	struct rw_dchan *c = calloc(1, sizeof(*c));
	char serr[300];

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->d = d;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->generation = (uint32_t)(rw_now_ms() / 1000);	/* fresh across restarts */
	c->xcheck = rw_xcheck_new(NULL);
	if (!c->xcheck) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", d->state_dir, RW_DCHAN_SOCKET) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "state directory path too long for %s (max 107 bytes)",
			 RW_DCHAN_SOCKET);
		goto fail;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.unix_path = c->path;
	cfg.vsock_port = d->cfg->channel_vsock_port;
	cfg.ch.sink = (struct rw_ch_sink_ops){ sink_load, sink_message, sink_commit };
	cfg.ch.sink_ctx = c;
	cfg.ch.app = (struct rw_ch_app_ops){ .on_ready = app_ready, .on_peer_ack = app_peer_ack,
					     .on_close = app_close };
	cfg.ch.app_ctx = c;
	cfg.ch.log = (struct vhu_logger){ .fn = chan_log, .opaque = c };
	cfg.ch.capabilities = RW_CAP_POLICY | RW_CAP_RESUME;
	for (unsigned i = 0; i < RW_PROTO_SESSION_ID_LEN; i++)
		cfg.ch.instance_id[i] = (uint8_t)(rw_now_ms() >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
	cfg.vm_for_cid = vm_for_cid;
	cfg.on_ram = on_ram;
	cfg.ctx = c;
	c->svc = rw_channel_service_new(&cfg, serr, sizeof(serr));
	if (!c->svc) {
		snprintf(err, errlen, "guest channel: %s", serr);
		goto fail;
	}
	if (pthread_create(&c->responder, NULL, responder_main, c)) {
		snprintf(err, errlen, "cannot start the channel responder thread");
		goto fail;
	}
	c->responder_started = true;
	if (pthread_create(&c->thread, NULL, chan_main, c)) {
		snprintf(err, errlen, "cannot start the channel thread");
		goto fail;
	}
	c->thread_started = true;
	d->chan = c;
	d->push_policy = push_policy_response;
	d->push_policy_arg = c;
	return 0;
fail:
	d->chan = c;
	rw_dchan_stop(d);
	return -1;
}

void rw_dchan_stop(struct rw_daemon *d)
{
	struct rw_dchan *c = d ? d->chan : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	if (c->responder_started)
		pthread_join(c->responder, NULL);
	d->push_policy = NULL;
	d->chan = NULL;
	rw_channel_service_free(c->svc);
	while (c->stages) {
		struct stage *s = c->stages;

		c->stages = s->next;
		stage_clear(s);
		free(s->ev);
		free(s->chg);
		free(s);
	}
	rw_xcheck_free(c->xcheck);
	free(c->vms);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

const char *rw_dchan_socket_path(const struct rw_dchan *c)
{
	return c ? c->path : "";
}

#include "tests/lib/proto_samples.h"

#include <stdio.h>
#include <string.h>

/* Longest strings the protocol allows (without the NUL), filled once. */
static char long_path[RW_PROTO_MAX_PATH];
static char long_names[RW_PROTO_MAX_POLICY_ENTRIES][RW_PROTO_MAX_NAME];
static struct rw_policy_entry many_entries[RW_PROTO_MAX_POLICY_ENTRIES];
static char long_text[RW_PROTO_MAX_ERROR_TEXT];
static char long_detail[RW_PROTO_MAX_EVENT_DETAIL];

static const struct rw_policy_entry two_entries[] = {
	{ .name = "ext4", .name_len = 4, .flags = RW_POLICY_E_SHA256,
	  .sha256 = { 0x11, 0x22, 0x33, [31] = 0xff } },
	{ .name = "vsock_loopback", .name_len = 14, .flags = 0 },
};

static void fill_limits(void)
{
	unsigned i;

	if (long_path[0])
		return;
	long_path[0] = '/';
	memset(long_path + 1, 'p', RW_PROTO_MAX_PATH - 2);
	long_path[RW_PROTO_MAX_PATH - 1] = 0;
	memset(long_text, 'e', RW_PROTO_MAX_ERROR_TEXT - 1);
	long_text[RW_PROTO_MAX_ERROR_TEXT - 1] = 0;
	memset(long_detail, 'd', RW_PROTO_MAX_EVENT_DETAIL - 1);
	long_detail[RW_PROTO_MAX_EVENT_DETAIL - 1] = 0;
	for (i = 0; i < RW_PROTO_MAX_POLICY_ENTRIES; i++) {
		memset(long_names[i], 'a' + (char)(i % 26), RW_PROTO_MAX_NAME - 1);
		long_names[i][RW_PROTO_MAX_NAME - 1] = 0;
		many_entries[i].name = long_names[i];
		many_entries[i].name_len = RW_PROTO_MAX_NAME - 1;
		many_entries[i].flags = RW_POLICY_E_SHA256;
		memset(many_entries[i].sha256, (int)i, RW_PROTO_SHA256_LEN);
	}
}

static void sample_hello(unsigned v, struct rw_msg *m)
{
	struct rw_msg_hello *h = &m->u.hello;
	unsigned i;

	m->hdr.component = v == 2 ? RW_COMP_HOST : RW_COMP_KMOD;
	h->version_min = 1;
	h->version_max = v == 1 ? 0xffff : 1;
	h->build_id_len = v == 1 ? RW_PROTO_BUILD_ID_MAX : v == 2 ? 0 : 7;
	for (i = 0; i < h->build_id_len; i++)
		h->build_id[i] = (uint8_t)(0xa0 + i);
	h->capabilities = v == 1 ? ~0ull : RW_CAP_CPU_STATE | RW_CAP_RESUME;
	for (i = 0; i < RW_PROTO_SESSION_ID_LEN; i++)
		h->session_id[i] = (uint8_t)(i * 17 + v);
	if (v == 2) {
		h->resume_seq = 41;
		h->next_seq = 1;
	} else {
		h->resume_seq = v == 1 ? ~0ull - 1 : 0;
		h->next_seq = v == 1 ? ~0ull : 1;
	}
}

static void sample_cpu(unsigned v, struct rw_msg *m)
{
	struct rw_msg_cpu_state *c = &m->u.cpu;

	c->cpu_id = v == 1 ? 0xffffffffu : 3;
	c->reason = (uint16_t)(v + 1);
	if (v == 2) {
		c->valid_mask = 1u << RW_CPU_F_LSTAR;
		c->lstar = 0xffffffff81a00080ull;
		return;
	}
	c->valid_mask = RW_CPU_VALID_KNOWN;
	c->lstar = 0xffffffff81a00080ull;
	c->star = 0x0023001000000000ull;
	c->cstar = 0xffffffff81a01b00ull;
	c->sfmask = 0x47700;
	c->sysenter_cs = 0x10;
	c->sysenter_esp = 0xfffffe0000003000ull;
	c->sysenter_eip = 0xffffffff81a01c40ull;
	c->efer = 0xd01;
	c->cr0 = 0x80050033;
	c->cr4 = v == 1 ? ~0ull : 0x3506f0;
	c->idtr_base = 0xfffffe0000000000ull;
	c->idtr_limit = 0xfff;
}

static void sample_cred(unsigned v, struct rw_msg *m)
{
	struct rw_msg_cred_violation *c = &m->u.cred;
	unsigned i;

	c->pid = 1234 + v;
	c->tgid = 1230;
	strcpy(c->comm, v == 1 ? "fifteen-chars-x" : v == 2 ? "" : "exploit");
	c->field_mask = v == 1 ? RW_CRED_FIELDS_KNOWN
		      : v == 2 ? 1u << RW_CRED_REAL_CRED_PTR
			       : (1u << RW_CRED_UID) | (1u << RW_CRED_EUID) |
				 (1u << RW_CRED_CAP_EFFECTIVE);
	for (i = 0; i < RW_CRED_FIELD_COUNT; i++) {
		if (!(c->field_mask & (1u << i)))
			continue;
		c->old_val[i] = 1000 + i;
		c->new_val[i] = v == 1 ? ~0ull - i : 0;
	}
	/* version >= 2 fields */
	c->check = v == 1 ? RW_CRED_CHECK_MAX : v == 2 ? RW_CRED_CHECK_SCAN : RW_CRED_CHECK_FILE_OPEN;
	c->action = v == 1 ? RW_CRED_ACTIONS_KNOWN : v == 2 ? 0 : RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED;
	c->error = v == 1 ? RW_CRED_ERROR_MIN : v == 2 ? 0 : -1;
}

static void sample_lsm(unsigned v, struct rw_msg *m)
{
	struct rw_msg_lsm_event *l = &m->u.lsm;

	l->kind = v == 1 ? RW_LSM_KIND_MAX : v == 2 ? RW_LSM_MOUNT : RW_LSM_EXEC;
	l->verdict = v == 1 ? RW_LSM_VERDICT_MIN : v == 2 ? 0 : -1;
	l->pid = 77;
	l->uid = v == 1 ? 0xffffffffu : 0;
	strcpy(l->comm, v == 1 ? "fifteen-chars-x" : "sh");
	if (v != 2) {
		l->flags = RW_LSM_F_SHA256;
		memset(l->sha256, 0x5a, sizeof(l->sha256));
	}
	if (v == 0) {
		l->path = "/tmp/evil";
		l->path_len = 9;
	} else if (v == 1) {
		l->path = long_path;
		l->path_len = RW_PROTO_MAX_PATH - 1;
	}
}

static void sample_policy(unsigned v, struct rw_msg *m)
{
	struct rw_msg_policy_update *p = &m->u.policy;

	m->hdr.component = RW_COMP_HOST;
	p->generation = 9 + v;
	if (v == 0) {
		p->op = RW_POLICY_ADD;
		p->list = RW_LIST_MODULE_ALLOW;
		p->count = 2;
		p->entries = two_entries;
	} else if (v == 1) {
		p->op = RW_POLICY_REPLACE;
		p->list = RW_LIST_ENV_VARS;
		p->count = RW_PROTO_MAX_POLICY_ENTRIES;
		p->entries = many_entries;
	} else {
		p->op = RW_POLICY_REPLACE;
		p->list = RW_LIST_EXEC_DENY;
		p->count = 0;
	}
}

static void sample_challenge(unsigned v, struct rw_msg *m)
{
	struct rw_msg_challenge *c = &m->u.challenge;

	m->hdr.component = RW_COMP_HOST;
	memset(c->nonce, 0xc0 + (int)v, sizeof(c->nonce));
	c->hash_alg = v == 1 ? RW_HASH_XXH64 : RW_HASH_SHA256;
	c->gva_start = v == 1 ? ~0ull - (RW_PROTO_MAX_CHALLENGE_LEN - 1) : 0xffffffff81000000ull;
	c->length = v == 1 ? RW_PROTO_MAX_CHALLENGE_LEN : v == 2 ? 1 : 4096;
}

static void sample_chal_resp(unsigned v, struct rw_msg *m)
{
	struct rw_msg_challenge_response *r = &m->u.chal_resp;

	memset(r->nonce, 0xc0 + (int)v, sizeof(r->nonce));
	r->challenge_seq = v == 1 ? ~0ull : 5;
	if (v == 2) {
		r->status = RW_CHAL_FAULT;
		r->hash_alg = RW_HASH_SHA256;
		return;
	}
	r->status = RW_CHAL_OK;
	r->hash_alg = v == 1 ? RW_HASH_XXH64 : RW_HASH_SHA256;
	r->hash_len = v == 1 ? 8 : 32;
	memset(r->hash, 0x3c, r->hash_len);
}

static void sample_error(unsigned v, struct rw_msg *m)
{
	struct rw_msg_error *e = &m->u.error;

	m->hdr.component = RW_COMP_HOST;
	e->code = v == 1 ? RW_ERR_CODE_MAX : RW_ERR_VERSION;
	e->detail = v == 1 ? RW_EPROTO_MIN : 0;
	e->ref_seq = v == 1 ? ~0ull : 0;
	if (v == 0) {
		e->text = "no common protocol version";
		e->text_len = (uint16_t)strlen(e->text);
	} else if (v == 1) {
		e->text = long_text;
		e->text_len = RW_PROTO_MAX_ERROR_TEXT - 1;
	}
}

static void sample_module_self(unsigned v, struct rw_msg *m)
{
	struct rw_msg_module_self *s = &m->u.self;

	m->hdr.component = RW_COMP_KMOD;
	s->module_addr = v == 1 ? ~0ull : 0xffffffffc0a02040ull;
	s->core_base = v == 1 ? ~0ull - (RW_PROTO_MAX_MODULE_CORE - 1) : 0xffffffffc0a00000ull;
	s->text_size = v == 2 ? 1 : v == 1 ? RW_PROTO_MAX_MODULE_CORE : 0x6000;
	s->ro_size = v == 2 ? 1 : v == 1 ? RW_PROTO_MAX_MODULE_CORE : 0x8000;
	s->ro_after_init_size = v == 2 ? 1 : v == 1 ? RW_PROTO_MAX_MODULE_CORE : 0x9000;
	s->core_size = v == 2 ? 1 : v == 1 ? RW_PROTO_MAX_MODULE_CORE : 0xa000;
	if (v == 1) {
		memset(s->name, 'm', RW_PROTO_MODULE_NAME_LEN - 1);
		s->name[RW_PROTO_MODULE_NAME_LEN - 1] = 0;
	} else {
		strcpy(s->name, v == 2 ? "r" : "ringwatch");
	}
}

static void sample_guard(unsigned v, struct rw_msg *m)
{
	struct rw_msg_guard_event *g = &m->u.guard;

	m->hdr.component = RW_COMP_KMOD;
	g->kind = v == 1 ? RW_GUARD_KIND_MAX : RW_GUARD_UNLOAD_ATTEMPT;
	if (v == 0) {
		g->detail = "pid=42 comm=rmmod flags=0x800 action=refused";
		g->detail_len = (uint16_t)strlen(g->detail);
	} else if (v == 1) {
		g->detail = long_detail;
		g->detail_len = RW_PROTO_MAX_EVENT_DETAIL - 1;
	}
}

/* 0: the kernel module's commit_creds, 1: limits from the agent (exec, all
 * ids changed, longest comm), 2: a test program, one id changed. */
static void sample_cred_change(unsigned v, struct rw_msg *m)
{
	struct rw_msg_cred_change *c = &m->u.cred_change;
	unsigned i;

	m->hdr.component = v == 0 ? RW_COMP_KMOD : v == 1 ? RW_COMP_AGENT : RW_COMP_TEST;
	c->pid = v == 1 ? ~0u : 4242 + v;
	c->tgid = v == 1 ? ~0u : 4242;
	c->via = v == 0 ? RW_VIA_COMMIT_CREDS : v == 1 ? RW_VIA_MAX : RW_VIA_TASK_FIX_SETUID;
	c->flags = v == 1 ? RW_CRED_CHANGE_FLAGS_KNOWN : 0;
	c->syscall_nr = v == 0 ? 117 : v == 1 ? 0x7fffffff : -1;
	snprintf(c->comm, sizeof(c->comm), "%s", v == 1 ? "fifteen-chars-x" : v ? "" : "su");
	for (i = 0; i < RW_CRED_CHANGE_IDS; i++) {
		c->old_ids[i] = v == 1 ? ~0u - i : 1000;
		c->new_ids[i] = v == 1 ? i : v == 2 && i ? 1000 : 0;
	}
}

int rw_test_proto_sample(uint16_t type, unsigned variant, struct rw_msg *m)
{
	unsigned v = variant % RW_TEST_PROTO_VARIANTS;

	fill_limits();
	memset(m, 0, sizeof(*m));
	m->hdr.type = type;
	m->hdr.component = RW_COMP_AGENT;
	m->hdr.seq = rw_proto_type_sequenced(type) ? (v == 1 ? ~0ull : 100 + v) : 0;
	switch (type) {
	case RW_MSG_HELLO: sample_hello(v, m); break;
	case RW_MSG_HEARTBEAT:
		m->u.heartbeat.counter = v == 1 ? ~0ull : v;
		m->u.heartbeat.uptime_ns = 123456789ull * (v + 1);
		break;
	case RW_MSG_CPU_STATE: sample_cpu(v, m); break;
	case RW_MSG_CRED_VIOLATION: sample_cred(v, m); break;
	case RW_MSG_LSM_EVENT: sample_lsm(v, m); break;
	case RW_MSG_POLICY_UPDATE: sample_policy(v, m); break;
	case RW_MSG_CHALLENGE: sample_challenge(v, m); break;
	case RW_MSG_CHALLENGE_RESPONSE: sample_chal_resp(v, m); break;
	case RW_MSG_ACK:
		m->hdr.component = RW_COMP_HOST;
		m->u.ack.acked_seq = v == 1 ? ~0ull : 99 * v;
		break;
	case RW_MSG_LOSS:
		m->u.loss.first_seq = v == 1 ? 1 : 50;
		m->u.loss.last_seq = v == 1 ? ~0ull - 1 : 59 + v;
		m->u.loss.count = v == 1 ? ~0ull - 1 : 10;
		break;
	case RW_MSG_GOODBYE:
		m->u.goodbye.reason = v == 1 ? RW_BYE_REASON_MAX : RW_BYE_SHUTDOWN;
		break;
	case RW_MSG_ERROR: sample_error(v, m); break;
	case RW_MSG_MODULE_SELF: sample_module_self(v, m); break;
	case RW_MSG_GUARD_EVENT: sample_guard(v, m); break;
	case RW_MSG_CRED_CHANGE: sample_cred_change(v, m); break;
	default:
		return -1;
	}
	return 0;
}

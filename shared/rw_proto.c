// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ringwatch wire protocol encoder/decoder. Builds in the guest kernel module
 * (Kbuild, __KERNEL__) and in userspace. Layouts: docs/protocol.md.
 */
#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#endif

#include "shared/rw_proto.h"

/* ---- payload sizes (fixed parts) --------------------------------------- */

#define HELLO_LEN 72u
#define HEARTBEAT_LEN 16u
#define CPU_STATE_LEN 104u
#define CRED_FIXED_LEN 32u
#define CRED_PAIR_LEN 16u
#define LSM_FIXED_LEN 72u
#define POLICY_FIXED_LEN 16u
#define POLICY_ENTRY_FIXED_LEN 36u
#define CHALLENGE_LEN 32u
#define CHAL_RESP_LEN 64u
#define ACK_LEN 8u
#define LOSS_LEN 24u
#define GOODBYE_LEN 8u
#define ERROR_FIXED_LEN 16u
#define MODULE_SELF_LEN (32u + RW_PROTO_MODULE_NAME_LEN)
#define GUARD_FIXED_LEN 8u
#define CRED_CHANGE_LEN (32u + 8u * RW_CRED_CHANGE_IDS)

/* ---- little-endian byte access ----------------------------------------- */

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static unsigned int popcount32(uint32_t v)
{
	unsigned int n = 0;

	while (v) {
		v &= v - 1;
		n++;
	}
	return n;
}

/* Bounded string length: index of the first NUL in p[0..max), or max. */
static size_t bounded_strlen(const char *p, size_t max)
{
	size_t i;

	for (i = 0; i < max; i++)
		if (!p[i])
			return i;
	return max;
}

/* ---- names and error strings ------------------------------------------- */

const char *rw_proto_strerror(int err)
{
	switch (err) {
	case RW_PROTO_OK: return "success";
	case RW_EPROTO_TRUNC_HEADER: return "truncated frame header";
	case RW_EPROTO_BAD_MAGIC: return "bad frame magic";
	case RW_EPROTO_VERSION: return "unsupported protocol version";
	case RW_EPROTO_HDR_LEN: return "unexpected header length";
	case RW_EPROTO_FLAGS: return "unknown header flag bits set";
	case RW_EPROTO_HDR_RESERVED: return "reserved header bytes not zero";
	case RW_EPROTO_COMPONENT: return "unknown sender component";
	case RW_EPROTO_UNKNOWN_TYPE: return "unknown message type";
	case RW_EPROTO_TOO_LARGE: return "payload length over the frame limit";
	case RW_EPROTO_TRUNC_PAYLOAD: return "truncated payload";
	case RW_EPROTO_PAYLOAD_LEN: return "payload length wrong for the message type";
	case RW_EPROTO_SEQ: return "sequence number not allowed for the message type";
	case RW_EPROTO_DIRECTION: return "message type not allowed from this sender";
	case RW_EPROTO_STR_UNTERMINATED: return "string not NUL-terminated";
	case RW_EPROTO_STR_TOO_LONG: return "string longer than its limit";
	case RW_EPROTO_STR_EMBEDDED_NUL: return "string contains an embedded NUL";
	case RW_EPROTO_COUNT: return "entry count over its limit";
	case RW_EPROTO_BAD_ENUM: return "enumerated field out of range";
	case RW_EPROTO_RESERVED: return "reserved payload bits or bytes not zero";
	case RW_EPROTO_RANGE: return "inconsistent length or range field";
	case RW_EPROTO_TRAILING: return "trailing bytes after the message";
	case RW_EPROTO_EMPTY: return "required field or set is empty";
	case RW_EPROTO_NOSPACE: return "output buffer too small";
	case RW_EPROTO_INVAL: return "invalid argument to encoder";
	case RW_EPROTO_NOT_IN_VERSION: return "message type or kind not in the frame's version";
	}
	return "unknown protocol error";
}

const char *rw_proto_guard_kind_name(uint16_t kind)
{
	switch (kind) {
	case RW_GUARD_LOADED: return "loaded";
	case RW_GUARD_UNLOAD_ATTEMPT: return "unload_attempt";
	case RW_GUARD_DISARMED: return "disarmed";
	case RW_GUARD_DISARM_REFUSED: return "disarm_refused";
	case RW_GUARD_HOOK_LOST: return "hook_lost";
	case RW_GUARD_HOOK_RESTORED: return "hook_restored";
	case RW_GUARD_TRACKING_LOST: return "tracking_lost";
	case RW_GUARD_TRACKING_RESUMED: return "tracking_resumed";
	case RW_GUARD_SHADOW_NOMEM: return "shadow_nomem";
	case RW_GUARD_AGENT_LOST: return "agent_lost";
	case RW_GUARD_AGENT_BACK: return "agent_back";
	case RW_GUARD_PARTNER_DETACHED: return "partner_detached";
	case RW_GUARD_PARTNER_RESTORED: return "partner_restored";
	}
	return "?";
}

const char *rw_proto_cred_via_name(uint16_t via)
{
	switch (via) {
	case RW_VIA_COMMIT_CREDS: return "commit_creds";
	case RW_VIA_TASK_FIX_SETUID: return "task_fix_setuid";
	case RW_VIA_TASK_FIX_SETGID: return "task_fix_setgid";
	case RW_VIA_EXEC: return "bprm_committing_creds";
	}
	return "?";
}

const char *rw_proto_cred_check_name(uint8_t check)
{
	switch (check) {
	case RW_CRED_CHECK_CAPABLE: return "capable";
	case RW_CRED_CHECK_FILE_OPEN: return "file_open";
	case RW_CRED_CHECK_EXEC: return "exec";
	case RW_CRED_CHECK_MODULE_LOAD: return "module_load";
	case RW_CRED_CHECK_FORK: return "fork";
	case RW_CRED_CHECK_COMMIT_CREDS: return "commit_creds";
	case RW_CRED_CHECK_SCAN: return "scan";
	}
	return "?";
}

const char *rw_proto_type_name(uint16_t type)
{
	switch (type) {
	case RW_MSG_HELLO: return "HELLO";
	case RW_MSG_HEARTBEAT: return "HEARTBEAT";
	case RW_MSG_CPU_STATE: return "CPU_STATE";
	case RW_MSG_CRED_VIOLATION: return "CRED_VIOLATION";
	case RW_MSG_LSM_EVENT: return "LSM_EVENT";
	case RW_MSG_POLICY_UPDATE: return "POLICY_UPDATE";
	case RW_MSG_CHALLENGE: return "CHALLENGE";
	case RW_MSG_CHALLENGE_RESPONSE: return "CHALLENGE_RESPONSE";
	case RW_MSG_ACK: return "ACK";
	case RW_MSG_LOSS: return "LOSS";
	case RW_MSG_GOODBYE: return "GOODBYE";
	case RW_MSG_ERROR: return "ERROR";
	case RW_MSG_MODULE_SELF: return "MODULE_SELF";
	case RW_MSG_GUARD_EVENT: return "GUARD_EVENT";
	case RW_MSG_CRED_CHANGE: return "CRED_CHANGE";
	}
	return "?";
}

bool rw_proto_type_sequenced(uint16_t type)
{
	switch (type) {
	case RW_MSG_HELLO:
	case RW_MSG_ACK:
	case RW_MSG_GOODBYE:
	case RW_MSG_ERROR:
		return false;
	default:
		return true;
	}
}

enum type_dir { DIR_BOTH, DIR_FROM_GUEST, DIR_FROM_HOST };

static enum type_dir type_direction(uint16_t type)
{
	switch (type) {
	case RW_MSG_POLICY_UPDATE:
	case RW_MSG_CHALLENGE:
		return DIR_FROM_HOST;
	case RW_MSG_HEARTBEAT:
	case RW_MSG_CPU_STATE:
	case RW_MSG_CRED_VIOLATION:
	case RW_MSG_LSM_EVENT:
	case RW_MSG_CHALLENGE_RESPONSE:
	case RW_MSG_LOSS:
	case RW_MSG_MODULE_SELF:
	case RW_MSG_GUARD_EVENT:
	case RW_MSG_CRED_CHANGE:
		return DIR_FROM_GUEST;
	default:
		return DIR_BOTH;
	}
}

static unsigned int hash_alg_len(uint16_t alg)
{
	switch (alg) {
	case RW_HASH_SHA256: return 32;
	case RW_HASH_XXH64: return 8;
	}
	return 0;
}

/* ---- header ------------------------------------------------------------- */

/*
 * Header checks in wire order, each as soon as its bytes are present, so the
 * streaming helper and the decoder report the same error for the same bytes.
 * Returns 0 when all present bytes are valid (even if the header is partial).
 */
static int check_header_prefix(const uint8_t *p, size_t len)
{
	uint16_t flags, version;

	if (len >= 4 && get_le32(p) != RW_PROTO_MAGIC)
		return RW_EPROTO_BAD_MAGIC;
	if (len >= 6) {
		version = get_le16(p + 4);
		if (version < RW_PROTO_VERSION_MIN || version > RW_PROTO_VERSION_MAX)
			return RW_EPROTO_VERSION;
	}
	if (len >= 12 && get_le16(p + 10) != RW_PROTO_HDR_LEN)
		return RW_EPROTO_HDR_LEN;
	if (len < RW_PROTO_HDR_LEN)
		return 0;
	flags = get_le16(p + 8);
	if (flags & ~RW_FLAGS_KNOWN)
		return RW_EPROTO_FLAGS;
	if (!all_zero(p + 25, 7))
		return RW_EPROTO_HDR_RESERVED;
	if (p[24] < 1 || p[24] > RW_COMP_MAX)
		return RW_EPROTO_COMPONENT;
	if (get_le32(p + 12) > RW_PROTO_MAX_PAYLOAD)
		return RW_EPROTO_TOO_LARGE;
	return 0;
}

int rw_proto_frame_check(const void *buf, size_t len, size_t *frame_len)
{
	const uint8_t *p = buf;
	size_t total;
	int err;

	if (!buf && len)
		return RW_EPROTO_INVAL;
	err = check_header_prefix(p, len);
	if (err)
		return err;
	if (len < RW_PROTO_HDR_LEN) {
		if (frame_len)
			*frame_len = RW_PROTO_HDR_LEN;
		return RW_FRAME_NEED_MORE;
	}
	total = RW_PROTO_HDR_LEN + (size_t)get_le32(p + 12);
	if (frame_len)
		*frame_len = total;
	return len >= total ? RW_FRAME_COMPLETE : RW_FRAME_NEED_MORE;
}

static void write_header(uint8_t *p, const struct rw_hdr *h, uint32_t payload_len)
{
	put_le32(p, RW_PROTO_MAGIC);
	put_le16(p + 4, h->version ? h->version : RW_PROTO_VERSION_MAX);
	put_le16(p + 6, h->type);
	put_le16(p + 8, h->flags);
	put_le16(p + 10, RW_PROTO_HDR_LEN);
	put_le32(p + 12, payload_len);
	put_le64(p + 16, h->seq);
	p[24] = h->component;
	memset(p + 25, 0, 7);
}

void rw_proto_mark_resent(void *frame, size_t len)
{
	uint8_t *p = frame;

	if (!frame || len < RW_PROTO_HDR_LEN)
		return;
	put_le16(p + 8, (uint16_t)(get_le16(p + 8) | RW_FLAG_RESENT));
}

/* ---- string helpers ----------------------------------------------------- */

/* Fixed-size field (comm): NUL inside, zero padding after it. */
static int check_fixed_str(const uint8_t *p, size_t size)
{
	size_t n = bounded_strlen((const char *)p, size);

	if (n == size)
		return RW_EPROTO_STR_UNTERMINATED;
	if (!all_zero(p + n, size - n))
		return RW_EPROTO_RESERVED;
	return 0;
}

/*
 * Counted string of size bytes (NUL included) with limit max: NUL exactly at
 * the end, none before. size 0 = absent is handled by the caller.
 */
static int check_counted_str(const uint8_t *p, size_t size, size_t max)
{
	size_t n;

	if (size > max)
		return RW_EPROTO_STR_TOO_LONG;
	if (size < 2)
		return RW_EPROTO_EMPTY;
	n = bounded_strlen((const char *)p, size);
	if (n == size)
		return RW_EPROTO_STR_UNTERMINATED;
	if (n != size - 1)
		return RW_EPROTO_STR_EMBEDDED_NUL;
	return 0;
}

/* ---- per-type decoders ---------------------------------------------------- */

static int decode_hello(const uint8_t *p, uint32_t len, uint8_t component,
			struct rw_msg_hello *m)
{
	if (len != HELLO_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->version_min = get_le16(p);
	m->version_max = get_le16(p + 2);
	m->build_id_len = p[4];
	if (!all_zero(p + 5, 3) || !all_zero(p + 28, 4))
		return RW_EPROTO_RESERVED;
	if (m->version_min < 1 || m->version_min > m->version_max)
		return RW_EPROTO_RANGE;
	if (m->build_id_len > RW_PROTO_BUILD_ID_MAX)
		return RW_EPROTO_RANGE;
	if (!all_zero(p + 8 + m->build_id_len, RW_PROTO_BUILD_ID_MAX - m->build_id_len))
		return RW_EPROTO_RESERVED;
	memcpy(m->build_id, p + 8, RW_PROTO_BUILD_ID_MAX);
	m->capabilities = get_le64(p + 32);
	memcpy(m->session_id, p + 40, RW_PROTO_SESSION_ID_LEN);
	m->resume_seq = get_le64(p + 56);
	m->next_seq = get_le64(p + 64);
	if (m->next_seq == 0)
		return RW_EPROTO_RANGE;
	/* a guest cannot have been acked beyond what it has numbered; the
	 * host's resume_seq is about the guest's stream, not its own */
	if (component != RW_COMP_HOST && m->resume_seq >= m->next_seq)
		return RW_EPROTO_RANGE;
	return 0;
}

static int decode_heartbeat(const uint8_t *p, uint32_t len, struct rw_msg_heartbeat *m)
{
	if (len != HEARTBEAT_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->counter = get_le64(p);
	m->uptime_ns = get_le64(p + 8);
	return 0;
}

static int decode_cpu_state(const uint8_t *p, uint32_t len, struct rw_msg_cpu_state *m)
{
	uint64_t regs[RW_CPU_F_COUNT];
	unsigned int i;

	if (len != CPU_STATE_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->cpu_id = get_le32(p);
	m->reason = get_le16(p + 4);
	m->idtr_limit = get_le16(p + 6);
	m->valid_mask = get_le32(p + 8);
	if (get_le32(p + 12))
		return RW_EPROTO_RESERVED;
	if (m->reason < RW_CPU_PERIODIC || m->reason > RW_CPU_HOTPLUG)
		return RW_EPROTO_BAD_ENUM;
	if (m->valid_mask & ~RW_CPU_VALID_KNOWN)
		return RW_EPROTO_RESERVED;
	for (i = 0; i < RW_CPU_F_COUNT; i++) {
		regs[i] = get_le64(p + 16 + 8 * i);
		/* a register the guest could not read is sent as zero */
		if (!(m->valid_mask & (1u << i)) && regs[i])
			return RW_EPROTO_RESERVED;
	}
	if (!(m->valid_mask & (1u << RW_CPU_F_IDTR)) && m->idtr_limit)
		return RW_EPROTO_RESERVED;
	m->lstar = regs[RW_CPU_F_LSTAR];
	m->star = regs[RW_CPU_F_STAR];
	m->cstar = regs[RW_CPU_F_CSTAR];
	m->sfmask = regs[RW_CPU_F_SFMASK];
	m->sysenter_cs = regs[RW_CPU_F_SYSENTER_CS];
	m->sysenter_esp = regs[RW_CPU_F_SYSENTER_ESP];
	m->sysenter_eip = regs[RW_CPU_F_SYSENTER_EIP];
	m->efer = regs[RW_CPU_F_EFER];
	m->cr0 = regs[RW_CPU_F_CR0];
	m->cr4 = regs[RW_CPU_F_CR4];
	m->idtr_base = regs[RW_CPU_F_IDTR];
	return 0;
}

/* CRED_VIOLATION bytes 28..31: reserved in version 1, check/action/error since 2. */
static int decode_cred_check(const uint8_t *p, uint16_t version,
			     struct rw_msg_cred_violation *m)
{
	m->check = 0;
	m->action = 0;
	m->error = 0;
	if (version < RW_PROTO_VERSION_CRED_CHECK)
		return get_le32(p) ? RW_EPROTO_RESERVED : 0;
	m->check = p[0];
	m->action = p[1];
	m->error = (int16_t)get_le16(p + 2);
	if (m->check < RW_CRED_CHECK_CAPABLE || m->check > RW_CRED_CHECK_MAX)
		return RW_EPROTO_BAD_ENUM;
	if (m->action & ~RW_CRED_ACTIONS_KNOWN)
		return RW_EPROTO_RESERVED;
	if (!(m->action & RW_CRED_ACT_DENIED))
		return m->error ? RW_EPROTO_RESERVED : 0;
	if (m->error >= 0 || m->error < RW_CRED_ERROR_MIN)
		return RW_EPROTO_RANGE;
	return 0;
}

static int decode_cred(const uint8_t *p, uint32_t len, uint16_t version,
		       struct rw_msg_cred_violation *m)
{
	const uint8_t *pair;
	unsigned int i;
	int err;

	if (len < CRED_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->pid = get_le32(p);
	m->tgid = get_le32(p + 4);
	m->field_mask = get_le32(p + 24);
	err = decode_cred_check(p + 28, version, m);
	if (err)
		return err;
	if (m->field_mask & ~RW_CRED_FIELDS_KNOWN)
		return RW_EPROTO_RESERVED;
	if (!m->field_mask)
		return RW_EPROTO_EMPTY;
	if (len != CRED_FIXED_LEN + CRED_PAIR_LEN * popcount32(m->field_mask))
		return RW_EPROTO_PAYLOAD_LEN;
	err = check_fixed_str(p + 8, RW_PROTO_COMM_LEN);
	if (err)
		return err;
	memcpy(m->comm, p + 8, RW_PROTO_COMM_LEN);
	pair = p + CRED_FIXED_LEN;
	for (i = 0; i < RW_CRED_FIELD_COUNT; i++) {
		m->old_val[i] = 0;
		m->new_val[i] = 0;
		if (!(m->field_mask & (1u << i)))
			continue;
		m->old_val[i] = get_le64(pair);
		m->new_val[i] = get_le64(pair + 8);
		pair += CRED_PAIR_LEN;
	}
	return 0;
}

static int decode_lsm(const uint8_t *p, uint32_t len, struct rw_msg_lsm_event *m)
{
	uint16_t path_size;
	int err;

	if (len < LSM_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->kind = get_le16(p);
	m->flags = get_le16(p + 2);
	m->verdict = (int32_t)get_le32(p + 4);
	m->pid = get_le32(p + 8);
	m->uid = get_le32(p + 12);
	path_size = get_le16(p + 64);
	if (get_le16(p + 66) || get_le32(p + 68))
		return RW_EPROTO_RESERVED;
	if (m->kind < RW_LSM_EXEC || m->kind > RW_LSM_KIND_MAX)
		return RW_EPROTO_BAD_ENUM;
	if (m->flags & ~RW_LSM_FLAGS_KNOWN)
		return RW_EPROTO_RESERVED;
	if (m->verdict > 0 || m->verdict < RW_LSM_VERDICT_MIN)
		return RW_EPROTO_RANGE;
	err = check_fixed_str(p + 16, RW_PROTO_COMM_LEN);
	if (err)
		return err;
	memcpy(m->comm, p + 16, RW_PROTO_COMM_LEN);
	if (!(m->flags & RW_LSM_F_SHA256) && !all_zero(p + 32, RW_PROTO_SHA256_LEN))
		return RW_EPROTO_RESERVED;
	memcpy(m->sha256, p + 32, RW_PROTO_SHA256_LEN);
	if (path_size > RW_PROTO_MAX_PATH)
		return RW_EPROTO_STR_TOO_LONG;
	if (len != LSM_FIXED_LEN + (uint32_t)path_size)
		return RW_EPROTO_PAYLOAD_LEN;
	if (path_size == 0) {
		m->path = NULL;
		m->path_len = 0;
		return 0;
	}
	err = check_counted_str(p + LSM_FIXED_LEN, path_size, RW_PROTO_MAX_PATH);
	if (err)
		return err;
	m->path = (const char *)(p + LSM_FIXED_LEN);
	m->path_len = (uint16_t)(path_size - 1);
	return 0;
}

/*
 * Parse one policy entry at p with avail bytes left. Returns its wire size
 * (> 0) or a negative rw_proto_err.
 */
static long parse_policy_entry(const uint8_t *p, uint32_t avail, struct rw_policy_entry *e)
{
	uint16_t name_size;
	int err;

	if (avail < POLICY_ENTRY_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	name_size = get_le16(p);
	e->flags = get_le16(p + 2);
	if (e->flags & ~RW_POLICY_E_FLAGS_KNOWN)
		return RW_EPROTO_RESERVED;
	if (!(e->flags & RW_POLICY_E_SHA256) && !all_zero(p + 4, RW_PROTO_SHA256_LEN))
		return RW_EPROTO_RESERVED;
	memcpy(e->sha256, p + 4, RW_PROTO_SHA256_LEN);
	if (name_size > RW_PROTO_MAX_NAME)
		return RW_EPROTO_STR_TOO_LONG;
	if (avail - POLICY_ENTRY_FIXED_LEN < name_size)
		return RW_EPROTO_PAYLOAD_LEN;
	err = check_counted_str(p + POLICY_ENTRY_FIXED_LEN, name_size, RW_PROTO_MAX_NAME);
	if (err)
		return err;
	e->name = (const char *)(p + POLICY_ENTRY_FIXED_LEN);
	e->name_len = (uint16_t)(name_size - 1);
	return POLICY_ENTRY_FIXED_LEN + name_size;
}

static int decode_policy(const uint8_t *p, uint32_t len, struct rw_msg_policy_update *m)
{
	struct rw_policy_entry e;
	uint32_t off;
	unsigned int i;
	long n;

	if (len < POLICY_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->op = get_le16(p);
	m->list = get_le16(p + 2);
	m->count = get_le16(p + 4);
	m->generation = get_le32(p + 8);
	m->entries = NULL;
	if (get_le16(p + 6) || get_le32(p + 12))
		return RW_EPROTO_RESERVED;
	if (m->op < RW_POLICY_ADD || m->op > RW_POLICY_REPLACE)
		return RW_EPROTO_BAD_ENUM;
	if (m->list < RW_LIST_MODULE_ALLOW || m->list > RW_LIST_ENV_VARS)
		return RW_EPROTO_BAD_ENUM;
	if (m->count > RW_PROTO_MAX_POLICY_ENTRIES)
		return RW_EPROTO_COUNT;
	/* REPLACE with no entries clears the list; ADD/REMOVE need entries */
	if (m->count == 0 && m->op != RW_POLICY_REPLACE)
		return RW_EPROTO_EMPTY;
	off = POLICY_FIXED_LEN;
	for (i = 0; i < m->count; i++) {
		n = parse_policy_entry(p + off, len - off, &e);
		if (n < 0)
			return (int)n;
		off += (uint32_t)n;
	}
	if (off != len)
		return RW_EPROTO_TRAILING;
	m->raw = p + POLICY_FIXED_LEN;
	m->raw_len = len - POLICY_FIXED_LEN;
	return 0;
}

int rw_proto_policy_next(const struct rw_msg_policy_update *p, uint32_t *iter,
			 struct rw_policy_entry *entry)
{
	long n;

	if (!p || !iter || !entry || !p->raw || *iter >= p->raw_len)
		return 0;
	n = parse_policy_entry(p->raw + *iter, p->raw_len - *iter, entry);
	if (n < 0)
		return 0;
	*iter += (uint32_t)n;
	return 1;
}

static int decode_challenge(const uint8_t *p, uint32_t len, struct rw_msg_challenge *m)
{
	if (len != CHALLENGE_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	memcpy(m->nonce, p, RW_PROTO_NONCE_LEN);
	m->gva_start = get_le64(p + 16);
	m->length = get_le32(p + 24);
	m->hash_alg = get_le16(p + 28);
	if (get_le16(p + 30))
		return RW_EPROTO_RESERVED;
	if (!hash_alg_len(m->hash_alg))
		return RW_EPROTO_BAD_ENUM;
	if (m->length == 0 || m->length > RW_PROTO_MAX_CHALLENGE_LEN)
		return RW_EPROTO_RANGE;
	if (m->gva_start + (m->length - 1) < m->gva_start)
		return RW_EPROTO_RANGE;
	return 0;
}

static int decode_chal_resp(const uint8_t *p, uint32_t len,
			    struct rw_msg_challenge_response *m)
{
	if (len != CHAL_RESP_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	memcpy(m->nonce, p, RW_PROTO_NONCE_LEN);
	m->challenge_seq = get_le64(p + 16);
	m->status = get_le16(p + 24);
	m->hash_alg = get_le16(p + 26);
	m->hash_len = p[28];
	if (!all_zero(p + 29, 3))
		return RW_EPROTO_RESERVED;
	if (m->status > RW_CHAL_STATUS_MAX || !hash_alg_len(m->hash_alg))
		return RW_EPROTO_BAD_ENUM;
	if (m->challenge_seq == 0)
		return RW_EPROTO_RANGE;
	if (m->status == RW_CHAL_OK ? m->hash_len != hash_alg_len(m->hash_alg)
				    : m->hash_len != 0)
		return RW_EPROTO_RANGE;
	if (!all_zero(p + 32 + m->hash_len, RW_PROTO_SHA256_LEN - m->hash_len))
		return RW_EPROTO_RESERVED;
	memcpy(m->hash, p + 32, RW_PROTO_SHA256_LEN);
	return 0;
}

static int decode_ack(const uint8_t *p, uint32_t len, struct rw_msg_ack *m)
{
	if (len != ACK_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->acked_seq = get_le64(p);
	return 0;
}

static int decode_loss(const uint8_t *p, uint32_t len, uint64_t seq, struct rw_msg_loss *m)
{
	if (len != LOSS_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->count = get_le64(p);
	m->first_seq = get_le64(p + 8);
	m->last_seq = get_le64(p + 16);
	if (m->first_seq == 0 || m->first_seq > m->last_seq || m->last_seq >= seq)
		return RW_EPROTO_RANGE;
	if (m->count == 0 || m->count - 1 > m->last_seq - m->first_seq)
		return RW_EPROTO_RANGE;
	return 0;
}

static int decode_goodbye(const uint8_t *p, uint32_t len, struct rw_msg_goodbye *m)
{
	if (len != GOODBYE_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->reason = get_le16(p);
	if (get_le16(p + 2) || get_le32(p + 4))
		return RW_EPROTO_RESERVED;
	if (m->reason < RW_BYE_SHUTDOWN || m->reason > RW_BYE_REASON_MAX)
		return RW_EPROTO_BAD_ENUM;
	return 0;
}

static int decode_error(const uint8_t *p, uint32_t len, struct rw_msg_error *m)
{
	uint16_t text_size;
	int err;

	if (len < ERROR_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->code = get_le16(p);
	m->detail = (int16_t)get_le16(p + 2);
	text_size = get_le16(p + 4);
	m->ref_seq = get_le64(p + 8);
	if (get_le16(p + 6))
		return RW_EPROTO_RESERVED;
	if (m->code < RW_ERR_VERSION || m->code > RW_ERR_CODE_MAX)
		return RW_EPROTO_BAD_ENUM;
	if (text_size > RW_PROTO_MAX_ERROR_TEXT)
		return RW_EPROTO_STR_TOO_LONG;
	if (len != ERROR_FIXED_LEN + (uint32_t)text_size)
		return RW_EPROTO_PAYLOAD_LEN;
	if (text_size == 0) {
		m->text = NULL;
		m->text_len = 0;
		return 0;
	}
	err = check_counted_str(p + ERROR_FIXED_LEN, text_size, RW_PROTO_MAX_ERROR_TEXT);
	if (err)
		return err;
	m->text = (const char *)(p + ERROR_FIXED_LEN);
	m->text_len = (uint16_t)(text_size - 1);
	return 0;
}

static int decode_module_self(const uint8_t *p, uint32_t len, struct rw_msg_module_self *m)
{
	int err;

	if (len != MODULE_SELF_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->module_addr = get_le64(p);
	m->core_base = get_le64(p + 8);
	m->text_size = get_le32(p + 16);
	m->ro_size = get_le32(p + 20);
	m->ro_after_init_size = get_le32(p + 24);
	m->core_size = get_le32(p + 28);
	if (!m->module_addr || !m->core_base || !m->text_size)
		return RW_EPROTO_EMPTY;
	if (m->text_size > m->ro_size || m->ro_size > m->ro_after_init_size ||
	    m->ro_after_init_size > m->core_size || m->core_size > RW_PROTO_MAX_MODULE_CORE)
		return RW_EPROTO_RANGE;
	if (m->core_base + (m->core_size - 1) < m->core_base)
		return RW_EPROTO_RANGE;
	err = check_fixed_str(p + 32, RW_PROTO_MODULE_NAME_LEN);
	if (err)
		return err;
	if (!p[32])
		return RW_EPROTO_EMPTY;
	memcpy(m->name, p + 32, RW_PROTO_MODULE_NAME_LEN);
	return 0;
}

static int decode_guard(const uint8_t *p, uint32_t len, struct rw_msg_guard_event *m)
{
	uint16_t detail_size;
	int err;

	if (len < GUARD_FIXED_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->kind = get_le16(p);
	detail_size = get_le16(p + 2);
	if (get_le32(p + 4))
		return RW_EPROTO_RESERVED;
	if (m->kind < RW_GUARD_LOADED || m->kind > RW_GUARD_KIND_MAX)
		return RW_EPROTO_BAD_ENUM;
	if (detail_size > RW_PROTO_MAX_EVENT_DETAIL)
		return RW_EPROTO_STR_TOO_LONG;
	if (len != GUARD_FIXED_LEN + (uint32_t)detail_size)
		return RW_EPROTO_PAYLOAD_LEN;
	if (detail_size == 0) {
		m->detail = NULL;
		m->detail_len = 0;
		return 0;
	}
	err = check_counted_str(p + GUARD_FIXED_LEN, detail_size, RW_PROTO_MAX_EVENT_DETAIL);
	if (err)
		return err;
	m->detail = (const char *)(p + GUARD_FIXED_LEN);
	m->detail_len = (uint16_t)(detail_size - 1);
	return 0;
}

/* Which component may report a change seen on which path. */
static bool cred_via_allowed(uint8_t component, uint16_t via)
{
	switch (component) {
	case RW_COMP_KMOD:
		return via == RW_VIA_COMMIT_CREDS;
	case RW_COMP_AGENT:
		return via != RW_VIA_COMMIT_CREDS;
	default:
		return true;	/* test programs speak for either side */
	}
}

static int decode_cred_change(const uint8_t *p, uint32_t len, uint8_t component,
			      struct rw_msg_cred_change *m)
{
	bool changed = false;
	unsigned int i;
	int err;

	if (len != CRED_CHANGE_LEN)
		return RW_EPROTO_PAYLOAD_LEN;
	m->pid = get_le32(p);
	m->tgid = get_le32(p + 4);
	m->via = get_le16(p + 24);
	m->flags = get_le16(p + 26);
	m->syscall_nr = (int32_t)get_le32(p + 28);
	if (m->via < RW_VIA_COMMIT_CREDS || m->via > RW_VIA_MAX)
		return RW_EPROTO_BAD_ENUM;
	if (!cred_via_allowed(component, m->via))
		return RW_EPROTO_DIRECTION;
	if (m->flags & ~RW_CRED_CHANGE_FLAGS_KNOWN)
		return RW_EPROTO_RESERVED;
	if (m->syscall_nr < -1)
		return RW_EPROTO_RANGE;
	err = check_fixed_str(p + 8, RW_PROTO_COMM_LEN);
	if (err)
		return err;
	memcpy(m->comm, p + 8, RW_PROTO_COMM_LEN);
	for (i = 0; i < RW_CRED_CHANGE_IDS; i++) {
		m->old_ids[i] = get_le32(p + 32 + 4 * i);
		m->new_ids[i] = get_le32(p + 32 + 4 * RW_CRED_CHANGE_IDS + 4 * i);
		changed |= m->old_ids[i] != m->new_ids[i];
	}
	if (!changed)
		return RW_EPROTO_EMPTY;
	return 0;
}

/* ---- decode --------------------------------------------------------------- */

static int check_type_rules(const struct rw_hdr *h)
{
	enum type_dir dir;

	if (h->type < 1 || h->type > RW_MSG_TYPE_MAX)
		return RW_EPROTO_UNKNOWN_TYPE;
	if (rw_proto_type_sequenced(h->type) != (h->seq != 0))
		return RW_EPROTO_SEQ;
	dir = type_direction(h->type);
	if (dir == DIR_FROM_HOST && h->component != RW_COMP_HOST)
		return RW_EPROTO_DIRECTION;
	if (dir == DIR_FROM_GUEST && h->component == RW_COMP_HOST)
		return RW_EPROTO_DIRECTION;
	return 0;
}

static int decode_payload(const uint8_t *pl, const struct rw_hdr *h, struct rw_msg *msg)
{
	uint32_t n = h->payload_len;

	switch (h->type) {
	case RW_MSG_HELLO: return decode_hello(pl, n, h->component, &msg->u.hello);
	case RW_MSG_HEARTBEAT: return decode_heartbeat(pl, n, &msg->u.heartbeat);
	case RW_MSG_CPU_STATE: return decode_cpu_state(pl, n, &msg->u.cpu);
	case RW_MSG_CRED_VIOLATION: return decode_cred(pl, n, h->version, &msg->u.cred);
	case RW_MSG_LSM_EVENT: return decode_lsm(pl, n, &msg->u.lsm);
	case RW_MSG_POLICY_UPDATE: return decode_policy(pl, n, &msg->u.policy);
	case RW_MSG_CHALLENGE: return decode_challenge(pl, n, &msg->u.challenge);
	case RW_MSG_CHALLENGE_RESPONSE: return decode_chal_resp(pl, n, &msg->u.chal_resp);
	case RW_MSG_ACK: return decode_ack(pl, n, &msg->u.ack);
	case RW_MSG_LOSS: return decode_loss(pl, n, h->seq, &msg->u.loss);
	case RW_MSG_GOODBYE: return decode_goodbye(pl, n, &msg->u.goodbye);
	case RW_MSG_ERROR: return decode_error(pl, n, &msg->u.error);
	case RW_MSG_MODULE_SELF: return decode_module_self(pl, n, &msg->u.self);
	case RW_MSG_GUARD_EVENT: {
		int err = decode_guard(pl, n, &msg->u.guard);

		if (!err && h->version < RW_PROTO_VERSION_GUARD_AGENT &&
		    msg->u.guard.kind > RW_GUARD_KIND_MAX_V1)
			return RW_EPROTO_NOT_IN_VERSION;
		return err;
	}
	case RW_MSG_CRED_CHANGE:
		if (h->version < RW_PROTO_VERSION_CRED_CHANGE)
			return RW_EPROTO_NOT_IN_VERSION;
		return decode_cred_change(pl, n, h->component, &msg->u.cred_change);
	}
	return RW_EPROTO_UNKNOWN_TYPE;
}

bool rw_proto_msg_in_version(const struct rw_msg *m, uint16_t version)
{
	if (m->hdr.type == RW_MSG_CRED_CHANGE)
		return version >= RW_PROTO_VERSION_CRED_CHANGE;
	if (m->hdr.type == RW_MSG_GUARD_EVENT && m->u.guard.kind > RW_GUARD_KIND_MAX_V1)
		return version >= RW_PROTO_VERSION_GUARD_AGENT;
	return true;
}

int rw_proto_decode(const void *buf, size_t len, struct rw_msg *msg)
{
	const uint8_t *p = buf;
	struct rw_hdr *h;
	int err;

	if ((!buf && len) || !msg)
		return RW_EPROTO_INVAL;
	err = check_header_prefix(p, len);
	if (err)
		return err;
	if (len < RW_PROTO_HDR_LEN)
		return RW_EPROTO_TRUNC_HEADER;
	h = &msg->hdr;
	h->version = get_le16(p + 4);
	h->type = get_le16(p + 6);
	h->flags = get_le16(p + 8);
	h->payload_len = get_le32(p + 12);
	h->seq = get_le64(p + 16);
	h->component = p[24];
	if (len - RW_PROTO_HDR_LEN < h->payload_len)
		return RW_EPROTO_TRUNC_PAYLOAD;
	if (len - RW_PROTO_HDR_LEN > h->payload_len)
		return RW_EPROTO_TRAILING;
	err = check_type_rules(h);
	if (err)
		return err;
	return decode_payload(p + RW_PROTO_HDR_LEN, h, msg);
}

/* ---- encode ----------------------------------------------------------------- */

/* Payload size of msg, or a negative rw_proto_err for unencodable input. */
static long payload_size(const struct rw_msg *msg)
{
	const struct rw_msg_policy_update *pu;
	unsigned int i;
	long total;

	switch (msg->hdr.type) {
	case RW_MSG_HELLO: return HELLO_LEN;
	case RW_MSG_HEARTBEAT: return HEARTBEAT_LEN;
	case RW_MSG_CPU_STATE: return CPU_STATE_LEN;
	case RW_MSG_CRED_VIOLATION:
		if (msg->u.cred.field_mask & ~RW_CRED_FIELDS_KNOWN)
			return RW_EPROTO_RESERVED;
		return CRED_FIXED_LEN + CRED_PAIR_LEN * popcount32(msg->u.cred.field_mask);
	case RW_MSG_LSM_EVENT:
		if (!msg->u.lsm.path_len)
			return LSM_FIXED_LEN;
		if (!msg->u.lsm.path)
			return RW_EPROTO_INVAL;
		if (msg->u.lsm.path_len >= RW_PROTO_MAX_PATH)
			return RW_EPROTO_STR_TOO_LONG;
		return LSM_FIXED_LEN + msg->u.lsm.path_len + 1;
	case RW_MSG_POLICY_UPDATE:
		pu = &msg->u.policy;
		if (pu->count > RW_PROTO_MAX_POLICY_ENTRIES)
			return RW_EPROTO_COUNT;
		if (pu->count && !pu->entries)
			return RW_EPROTO_INVAL;
		total = POLICY_FIXED_LEN;
		for (i = 0; i < pu->count; i++) {
			if (!pu->entries[i].name)
				return RW_EPROTO_INVAL;
			if (pu->entries[i].name_len >= RW_PROTO_MAX_NAME)
				return RW_EPROTO_STR_TOO_LONG;
			total += POLICY_ENTRY_FIXED_LEN + pu->entries[i].name_len + 1;
		}
		return total;
	case RW_MSG_CHALLENGE: return CHALLENGE_LEN;
	case RW_MSG_CHALLENGE_RESPONSE: return CHAL_RESP_LEN;
	case RW_MSG_ACK: return ACK_LEN;
	case RW_MSG_LOSS: return LOSS_LEN;
	case RW_MSG_GOODBYE: return GOODBYE_LEN;
	case RW_MSG_ERROR:
		if (!msg->u.error.text_len)
			return ERROR_FIXED_LEN;
		if (!msg->u.error.text)
			return RW_EPROTO_INVAL;
		if (msg->u.error.text_len >= RW_PROTO_MAX_ERROR_TEXT)
			return RW_EPROTO_STR_TOO_LONG;
		return ERROR_FIXED_LEN + msg->u.error.text_len + 1;
	case RW_MSG_MODULE_SELF: return MODULE_SELF_LEN;
	case RW_MSG_GUARD_EVENT:
		if (!msg->u.guard.detail_len)
			return GUARD_FIXED_LEN;
		if (!msg->u.guard.detail)
			return RW_EPROTO_INVAL;
		if (msg->u.guard.detail_len >= RW_PROTO_MAX_EVENT_DETAIL)
			return RW_EPROTO_STR_TOO_LONG;
		return GUARD_FIXED_LEN + msg->u.guard.detail_len + 1;
	case RW_MSG_CRED_CHANGE: return CRED_CHANGE_LEN;
	}
	return RW_EPROTO_UNKNOWN_TYPE;
}

long rw_proto_encoded_size(const struct rw_msg *msg)
{
	long n;

	if (!msg)
		return RW_EPROTO_INVAL;
	n = payload_size(msg);
	return n < 0 ? n : (long)RW_PROTO_HDR_LEN + n;
}

/* Copy a C string into a fixed field, zero padded; over-long input is an error. */
static int put_fixed_str(uint8_t *p, const char *s, size_t size)
{
	size_t n = bounded_strlen(s, size);

	if (n == size)
		return RW_EPROTO_STR_TOO_LONG;
	memcpy(p, s, n);
	memset(p + n, 0, size - n);
	return 0;
}

static void put_counted_str(uint8_t *p, const char *s, uint16_t len)
{
	memcpy(p, s, len);
	p[len] = 0;
}

static void encode_hello(uint8_t *p, const struct rw_msg_hello *m)
{
	unsigned int n = m->build_id_len <= RW_PROTO_BUILD_ID_MAX ? m->build_id_len
								   : RW_PROTO_BUILD_ID_MAX;

	put_le16(p, m->version_min);
	put_le16(p + 2, m->version_max);
	p[4] = m->build_id_len; /* an over-long value is caught by the self-check */
	memcpy(p + 8, m->build_id, n);
	put_le64(p + 32, m->capabilities);
	memcpy(p + 40, m->session_id, RW_PROTO_SESSION_ID_LEN);
	put_le64(p + 56, m->resume_seq);
	put_le64(p + 64, m->next_seq);
}

static void encode_cpu_state(uint8_t *p, const struct rw_msg_cpu_state *m)
{
	put_le32(p, m->cpu_id);
	put_le16(p + 4, m->reason);
	put_le16(p + 6, m->idtr_limit);
	put_le32(p + 8, m->valid_mask);
	put_le64(p + 16 + 8 * RW_CPU_F_LSTAR, m->lstar);
	put_le64(p + 16 + 8 * RW_CPU_F_STAR, m->star);
	put_le64(p + 16 + 8 * RW_CPU_F_CSTAR, m->cstar);
	put_le64(p + 16 + 8 * RW_CPU_F_SFMASK, m->sfmask);
	put_le64(p + 16 + 8 * RW_CPU_F_SYSENTER_CS, m->sysenter_cs);
	put_le64(p + 16 + 8 * RW_CPU_F_SYSENTER_ESP, m->sysenter_esp);
	put_le64(p + 16 + 8 * RW_CPU_F_SYSENTER_EIP, m->sysenter_eip);
	put_le64(p + 16 + 8 * RW_CPU_F_EFER, m->efer);
	put_le64(p + 16 + 8 * RW_CPU_F_CR0, m->cr0);
	put_le64(p + 16 + 8 * RW_CPU_F_CR4, m->cr4);
	put_le64(p + 16 + 8 * RW_CPU_F_IDTR, m->idtr_base);
}

static int encode_cred(uint8_t *p, uint16_t version, const struct rw_msg_cred_violation *m)
{
	uint8_t *pair = p + CRED_FIXED_LEN;
	unsigned int i;
	int err;

	put_le32(p, m->pid);
	put_le32(p + 4, m->tgid);
	err = put_fixed_str(p + 8, m->comm, RW_PROTO_COMM_LEN);
	if (err)
		return err;
	put_le32(p + 24, m->field_mask);
	if (version >= RW_PROTO_VERSION_CRED_CHECK) {
		p[28] = m->check;
		p[29] = m->action;
		put_le16(p + 30, (uint16_t)m->error);
	}
	for (i = 0; i < RW_CRED_FIELD_COUNT; i++) {
		if (!(m->field_mask & (1u << i)))
			continue;
		put_le64(pair, m->old_val[i]);
		put_le64(pair + 8, m->new_val[i]);
		pair += CRED_PAIR_LEN;
	}
	return 0;
}

static int encode_lsm(uint8_t *p, const struct rw_msg_lsm_event *m)
{
	int err;

	put_le16(p, m->kind);
	put_le16(p + 2, m->flags);
	put_le32(p + 4, (uint32_t)m->verdict);
	put_le32(p + 8, m->pid);
	put_le32(p + 12, m->uid);
	err = put_fixed_str(p + 16, m->comm, RW_PROTO_COMM_LEN);
	if (err)
		return err;
	memcpy(p + 32, m->sha256, RW_PROTO_SHA256_LEN);
	put_le16(p + 64, m->path_len ? (uint16_t)(m->path_len + 1) : 0);
	if (m->path_len)
		put_counted_str(p + LSM_FIXED_LEN, m->path, m->path_len);
	return 0;
}

static void encode_policy(uint8_t *p, const struct rw_msg_policy_update *m)
{
	const struct rw_policy_entry *e;
	uint8_t *q = p + POLICY_FIXED_LEN;
	unsigned int i;

	put_le16(p, m->op);
	put_le16(p + 2, m->list);
	put_le16(p + 4, m->count);
	put_le32(p + 8, m->generation);
	for (i = 0; i < m->count; i++) {
		e = &m->entries[i];
		put_le16(q, (uint16_t)(e->name_len + 1));
		put_le16(q + 2, e->flags);
		memcpy(q + 4, e->sha256, RW_PROTO_SHA256_LEN);
		put_counted_str(q + POLICY_ENTRY_FIXED_LEN, e->name, e->name_len);
		q += POLICY_ENTRY_FIXED_LEN + e->name_len + 1;
	}
}

static void encode_chal_resp(uint8_t *p, const struct rw_msg_challenge_response *m)
{
	memcpy(p, m->nonce, RW_PROTO_NONCE_LEN);
	put_le64(p + 16, m->challenge_seq);
	put_le16(p + 24, m->status);
	put_le16(p + 26, m->hash_alg);
	p[28] = m->hash_len;
	/* only the digest's own bytes go on the wire; the rest stays zero */
	memcpy(p + 32, m->hash,
	       m->hash_len < RW_PROTO_SHA256_LEN ? m->hash_len : RW_PROTO_SHA256_LEN);
}

static int encode_module_self(uint8_t *p, const struct rw_msg_module_self *m)
{
	put_le64(p, m->module_addr);
	put_le64(p + 8, m->core_base);
	put_le32(p + 16, m->text_size);
	put_le32(p + 20, m->ro_size);
	put_le32(p + 24, m->ro_after_init_size);
	put_le32(p + 28, m->core_size);
	return put_fixed_str(p + 32, m->name, RW_PROTO_MODULE_NAME_LEN);
}

static int encode_cred_change(uint8_t *p, const struct rw_msg_cred_change *m)
{
	unsigned int i;

	put_le32(p, m->pid);
	put_le32(p + 4, m->tgid);
	put_le16(p + 24, m->via);
	put_le16(p + 26, m->flags);
	put_le32(p + 28, (uint32_t)m->syscall_nr);
	for (i = 0; i < RW_CRED_CHANGE_IDS; i++) {
		put_le32(p + 32 + 4 * i, m->old_ids[i]);
		put_le32(p + 32 + 4 * RW_CRED_CHANGE_IDS + 4 * i, m->new_ids[i]);
	}
	return put_fixed_str(p + 8, m->comm, RW_PROTO_COMM_LEN);
}

static int encode_payload(uint8_t *p, const struct rw_msg *msg)
{
	const struct rw_msg_error *er = &msg->u.error;

	switch (msg->hdr.type) {
	case RW_MSG_HELLO:
		encode_hello(p, &msg->u.hello);
		return 0;
	case RW_MSG_HEARTBEAT:
		put_le64(p, msg->u.heartbeat.counter);
		put_le64(p + 8, msg->u.heartbeat.uptime_ns);
		return 0;
	case RW_MSG_CPU_STATE:
		encode_cpu_state(p, &msg->u.cpu);
		return 0;
	case RW_MSG_CRED_VIOLATION:
		return encode_cred(p, msg->hdr.version ? msg->hdr.version : RW_PROTO_VERSION_MAX,
				   &msg->u.cred);
	case RW_MSG_LSM_EVENT:
		return encode_lsm(p, &msg->u.lsm);
	case RW_MSG_POLICY_UPDATE:
		encode_policy(p, &msg->u.policy);
		return 0;
	case RW_MSG_CHALLENGE:
		memcpy(p, msg->u.challenge.nonce, RW_PROTO_NONCE_LEN);
		put_le64(p + 16, msg->u.challenge.gva_start);
		put_le32(p + 24, msg->u.challenge.length);
		put_le16(p + 28, msg->u.challenge.hash_alg);
		return 0;
	case RW_MSG_CHALLENGE_RESPONSE:
		encode_chal_resp(p, &msg->u.chal_resp);
		return 0;
	case RW_MSG_ACK:
		put_le64(p, msg->u.ack.acked_seq);
		return 0;
	case RW_MSG_LOSS:
		put_le64(p, msg->u.loss.count);
		put_le64(p + 8, msg->u.loss.first_seq);
		put_le64(p + 16, msg->u.loss.last_seq);
		return 0;
	case RW_MSG_GOODBYE:
		put_le16(p, msg->u.goodbye.reason);
		return 0;
	case RW_MSG_ERROR:
		put_le16(p, er->code);
		put_le16(p + 2, (uint16_t)er->detail);
		put_le16(p + 4, er->text_len ? (uint16_t)(er->text_len + 1) : 0);
		put_le64(p + 8, er->ref_seq);
		if (er->text_len)
			put_counted_str(p + ERROR_FIXED_LEN, er->text, er->text_len);
		return 0;
	case RW_MSG_MODULE_SELF:
		return encode_module_self(p, &msg->u.self);
	case RW_MSG_GUARD_EVENT:
		put_le16(p, msg->u.guard.kind);
		put_le16(p + 2, msg->u.guard.detail_len ? (uint16_t)(msg->u.guard.detail_len + 1) : 0);
		if (msg->u.guard.detail_len)
			put_counted_str(p + GUARD_FIXED_LEN, msg->u.guard.detail,
					msg->u.guard.detail_len);
		return 0;
	case RW_MSG_CRED_CHANGE:
		return encode_cred_change(p, &msg->u.cred_change);
	}
	return RW_EPROTO_UNKNOWN_TYPE;
}

long rw_proto_encode(const struct rw_msg *msg, void *buf, size_t cap)
{
	struct rw_msg check;
	uint8_t *p = buf;
	long plen;
	int err;

	if (!msg || !buf)
		return RW_EPROTO_INVAL;
	plen = payload_size(msg);
	if (plen < 0)
		return plen;
	if ((unsigned long)plen > RW_PROTO_MAX_PAYLOAD)
		return RW_EPROTO_TOO_LARGE;
	if (cap < RW_PROTO_HDR_LEN + (size_t)plen)
		return RW_EPROTO_NOSPACE;
	memset(p, 0, RW_PROTO_HDR_LEN + (size_t)plen);
	write_header(p, &msg->hdr, (uint32_t)plen);
	err = encode_payload(p + RW_PROTO_HDR_LEN, msg);
	if (!err)
		err = rw_proto_decode(p, RW_PROTO_HDR_LEN + (size_t)plen, &check);
	if (err) {
		memset(p, 0, RW_PROTO_HDR_LEN + (size_t)plen);
		return err;
	}
	return (long)RW_PROTO_HDR_LEN + plen;
}

long rw_proto_frame_downgrade(const void *frame, size_t len, uint16_t version,
			      void *out, size_t cap)
{
	struct rw_msg m;
	uint8_t *q = out;
	int err;

	if (!frame || !out)
		return RW_EPROTO_INVAL;
	err = rw_proto_decode(frame, len, &m);
	if (err)
		return err;
	if (version < RW_PROTO_VERSION_MIN || version > m.hdr.version)
		return RW_EPROTO_VERSION;
	if (!rw_proto_msg_in_version(&m, version))
		return RW_EPROTO_NOT_IN_VERSION;
	/* every version so far keeps each type's payload size */
	if (cap < len)
		return RW_EPROTO_NOSPACE;
	memcpy(q, frame, len);
	put_le16(q + 4, version);
	if (m.hdr.type == RW_MSG_CRED_VIOLATION && version < RW_PROTO_VERSION_CRED_CHECK)
		memset(q + RW_PROTO_HDR_LEN + 28, 0, 4);
	err = rw_proto_decode(q, len, &m);
	if (err) {
		memset(q, 0, len);
		return err;
	}
	return (long)len;
}

uint16_t rw_proto_negotiate(const struct rw_msg_hello *peer, uint16_t my_min, uint16_t my_max)
{
	uint16_t lo, hi;

	if (!peer)
		return 0;
	lo = peer->version_min > my_min ? peer->version_min : my_min;
	hi = peer->version_max < my_max ? peer->version_max : my_max;
	return lo <= hi ? hi : 0;
}

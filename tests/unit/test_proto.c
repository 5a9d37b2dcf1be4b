/*
 * Unit tests for shared/rw_proto: round trip of every type and variant, every
 * truncation, hostile lengths, every header and payload error code, streaming.
 *
 * `test_proto --write-seeds DIR` writes the fuzz seed corpus (one file per
 * type and variant) instead of running the tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/rw_proto.h"
#include "tests/lib/proto_samples.h"

#define MAX_FRAME RW_PROTO_MAX_FRAME

static uint8_t frame[MAX_FRAME + 64];

static size_t encode_sample(uint16_t type, unsigned variant, struct rw_msg *m)
{
	long n;

	assert_int_equal(rw_test_proto_sample(type, variant, m), 0);
	n = rw_proto_encode(m, frame, sizeof(frame));
	if (n < 0)
		fail_msg("encode %s/%u: %s", rw_proto_type_name(type), variant,
			 rw_proto_strerror((int)n));
	assert_int_equal(n, rw_proto_encoded_size(m));
	return (size_t)n;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* ---- round trip ---------------------------------------------------------- */

static void assert_policy_equal(const struct rw_msg_policy_update *a,
				const struct rw_msg_policy_update *b)
{
	struct rw_policy_entry e;
	uint32_t it = 0;
	unsigned i = 0;

	assert_int_equal(a->op, b->op);
	assert_int_equal(a->list, b->list);
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->generation, b->generation);
	while (rw_proto_policy_next(b, &it, &e)) {
		assert_true(i < a->count);
		assert_int_equal(e.name_len, a->entries[i].name_len);
		assert_memory_equal(e.name, a->entries[i].name, e.name_len);
		assert_int_equal(e.name[e.name_len], 0);
		assert_int_equal(e.flags, a->entries[i].flags);
		assert_memory_equal(e.sha256, a->entries[i].sha256, 32);
		i++;
	}
	assert_int_equal(i, a->count);
	assert_int_equal(it, b->raw_len);
}

#define EQ(field) assert_int_equal(a->field, b->field)

static void assert_hello_equal(const struct rw_msg_hello *a, const struct rw_msg_hello *b)
{
	EQ(version_min);
	EQ(version_max);
	EQ(build_id_len);
	assert_memory_equal(a->build_id, b->build_id, RW_PROTO_BUILD_ID_MAX);
	EQ(capabilities);
	assert_memory_equal(a->session_id, b->session_id, RW_PROTO_SESSION_ID_LEN);
	EQ(resume_seq);
	EQ(next_seq);
}

static void assert_cpu_equal(const struct rw_msg_cpu_state *a, const struct rw_msg_cpu_state *b)
{
	EQ(cpu_id);
	EQ(reason);
	EQ(idtr_limit);
	EQ(valid_mask);
	EQ(lstar);
	EQ(star);
	EQ(cstar);
	EQ(sfmask);
	EQ(sysenter_cs);
	EQ(sysenter_esp);
	EQ(sysenter_eip);
	EQ(efer);
	EQ(cr0);
	EQ(cr4);
	EQ(idtr_base);
}

static void assert_cred_equal(const struct rw_msg_cred_violation *a,
			      const struct rw_msg_cred_violation *b)
{
	unsigned i;

	EQ(pid);
	EQ(tgid);
	assert_memory_equal(a->comm, b->comm, RW_PROTO_COMM_LEN);
	EQ(field_mask);
	for (i = 0; i < RW_CRED_FIELD_COUNT; i++) {
		EQ(old_val[i]);
		EQ(new_val[i]);
	}
	EQ(check);
	EQ(action);
	EQ(error);
}

static void assert_lsm_equal(const struct rw_msg_lsm_event *a, const struct rw_msg_lsm_event *b)
{
	EQ(kind);
	EQ(flags);
	EQ(verdict);
	EQ(pid);
	EQ(uid);
	assert_memory_equal(a->comm, b->comm, RW_PROTO_COMM_LEN);
	assert_memory_equal(a->sha256, b->sha256, RW_PROTO_SHA256_LEN);
	EQ(path_len);
	if (a->path_len) {
		assert_memory_equal(a->path, b->path, a->path_len);
		assert_int_equal(b->path[b->path_len], 0);
	} else {
		assert_null(b->path);
	}
}

static void assert_chal_resp_equal(const struct rw_msg_challenge_response *a,
				   const struct rw_msg_challenge_response *b)
{
	assert_memory_equal(a->nonce, b->nonce, RW_PROTO_NONCE_LEN);
	EQ(challenge_seq);
	EQ(status);
	EQ(hash_alg);
	EQ(hash_len);
	assert_memory_equal(a->hash, b->hash, RW_PROTO_SHA256_LEN);
}

static void assert_error_equal(const struct rw_msg_error *a, const struct rw_msg_error *b)
{
	EQ(code);
	EQ(detail);
	EQ(ref_seq);
	EQ(text_len);
	if (a->text_len) {
		assert_memory_equal(a->text, b->text, a->text_len);
		assert_int_equal(b->text[b->text_len], 0);
	} else {
		assert_null(b->text);
	}
}

static void assert_payload_equal(const struct rw_msg *ma, const struct rw_msg *mb)
{
	const struct rw_msg *a = ma, *b = mb;

	switch (ma->hdr.type) {
	case RW_MSG_HELLO: assert_hello_equal(&ma->u.hello, &mb->u.hello); break;
	case RW_MSG_HEARTBEAT:
		EQ(u.heartbeat.counter);
		EQ(u.heartbeat.uptime_ns);
		break;
	case RW_MSG_CPU_STATE: assert_cpu_equal(&ma->u.cpu, &mb->u.cpu); break;
	case RW_MSG_CRED_VIOLATION: assert_cred_equal(&ma->u.cred, &mb->u.cred); break;
	case RW_MSG_LSM_EVENT: assert_lsm_equal(&ma->u.lsm, &mb->u.lsm); break;
	case RW_MSG_POLICY_UPDATE: assert_policy_equal(&ma->u.policy, &mb->u.policy); break;
	case RW_MSG_CHALLENGE:
		assert_memory_equal(a->u.challenge.nonce, b->u.challenge.nonce, RW_PROTO_NONCE_LEN);
		EQ(u.challenge.gva_start);
		EQ(u.challenge.length);
		EQ(u.challenge.hash_alg);
		break;
	case RW_MSG_CHALLENGE_RESPONSE:
		assert_chal_resp_equal(&ma->u.chal_resp, &mb->u.chal_resp);
		break;
	case RW_MSG_ACK: EQ(u.ack.acked_seq); break;
	case RW_MSG_LOSS:
		EQ(u.loss.count);
		EQ(u.loss.first_seq);
		EQ(u.loss.last_seq);
		break;
	case RW_MSG_GOODBYE: EQ(u.goodbye.reason); break;
	case RW_MSG_ERROR: assert_error_equal(&ma->u.error, &mb->u.error); break;
	case RW_MSG_MODULE_SELF:
		EQ(u.self.module_addr);
		EQ(u.self.core_base);
		EQ(u.self.text_size);
		EQ(u.self.ro_size);
		EQ(u.self.ro_after_init_size);
		EQ(u.self.core_size);
		assert_string_equal(a->u.self.name, b->u.self.name);
		break;
	case RW_MSG_GUARD_EVENT:
		EQ(u.guard.kind);
		EQ(u.guard.detail_len);
		if (a->u.guard.detail_len) {
			assert_memory_equal(a->u.guard.detail, b->u.guard.detail,
					    a->u.guard.detail_len);
			assert_int_equal(b->u.guard.detail[b->u.guard.detail_len], 0);
		} else {
			assert_null(b->u.guard.detail);
		}
		break;
	case RW_MSG_CRED_CHANGE:
		EQ(u.cred_change.pid);
		EQ(u.cred_change.tgid);
		EQ(u.cred_change.via);
		EQ(u.cred_change.flags);
		EQ(u.cred_change.syscall_nr);
		assert_string_equal(a->u.cred_change.comm, b->u.cred_change.comm);
		assert_memory_equal(a->u.cred_change.old_ids, b->u.cred_change.old_ids,
				    sizeof(a->u.cred_change.old_ids));
		assert_memory_equal(a->u.cred_change.new_ids, b->u.cred_change.new_ids,
				    sizeof(a->u.cred_change.new_ids));
		break;
	default:
		fail_msg("no comparison for type %u", ma->hdr.type);
	}
}

static void test_round_trip_every_type(void **state)
{
	struct rw_msg in, out;
	uint16_t t;
	unsigned v;
	size_t n;

	(void)state;
	for (t = 1; t <= RW_MSG_TYPE_MAX; t++) {
		for (v = 0; v < RW_TEST_PROTO_VARIANTS; v++) {
			n = encode_sample(t, v, &in);
			assert_true(n <= MAX_FRAME);
			memset(&out, 0xee, sizeof(out));
			assert_int_equal(rw_proto_decode(frame, n, &out), 0);
			assert_int_equal(out.hdr.version, RW_PROTO_VERSION_MAX);
			assert_int_equal(out.hdr.type, t);
			assert_int_equal(out.hdr.flags, 0);
			assert_int_equal(out.hdr.component, in.hdr.component);
			assert_int_equal(out.hdr.seq, in.hdr.seq);
			assert_int_equal(out.hdr.payload_len, n - RW_PROTO_HDR_LEN);
			assert_payload_equal(&in, &out);
		}
	}
}

/* The wire bytes of one message, written out by hand from docs/protocol.md. */
static void test_wire_layout_is_little_endian(void **state)
{
	static const uint8_t expect[] = {
		'R', 'W', 'C', '1', 1, 0, 2, 0, /* magic, version 1, type HEARTBEAT */
		0, 0, 32, 0, 16, 0, 0, 0,       /* flags, hdr_len 32, payload_len 16 */
		8, 7, 6, 5, 4, 3, 2, 1,         /* seq */
		RW_COMP_KMOD, 0, 0, 0, 0, 0, 0, 0,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* counter */
		1, 0, 0, 0, 0, 0, 0, 0x80,      /* uptime_ns */
	};
	struct rw_msg m = { .hdr = { .version = 1, .type = RW_MSG_HEARTBEAT,
				     .component = RW_COMP_KMOD, .seq = 0x0102030405060708ull } };

	(void)state;
	m.u.heartbeat.counter = 0x8877665544332211ull;
	m.u.heartbeat.uptime_ns = 0x8000000000000001ull;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), sizeof(expect));
	assert_memory_equal(frame, expect, sizeof(expect));
}

/* ---- truncation ------------------------------------------------------------ */

static void test_every_truncation_of_every_type(void **state)
{
	struct rw_msg m, out;
	size_t n, k, need;
	uint16_t t;
	unsigned v;
	int err;

	(void)state;
	for (t = 1; t <= RW_MSG_TYPE_MAX; t++) {
		for (v = 0; v < RW_TEST_PROTO_VARIANTS; v++) {
			n = encode_sample(t, v, &m);
			for (k = 0; k < n; k++) {
				/* exact-size heap copy so ASan sees any over-read */
				uint8_t *copy = malloc(k ? k : 1);

				assert_non_null(copy);
				memcpy(copy, frame, k);
				err = rw_proto_decode(copy, k, &out);
				assert_int_equal(err, k < RW_PROTO_HDR_LEN ? RW_EPROTO_TRUNC_HEADER
									   : RW_EPROTO_TRUNC_PAYLOAD);
				assert_int_equal(rw_proto_frame_check(copy, k, &need),
						 RW_FRAME_NEED_MORE);
				assert_int_equal(need, k < RW_PROTO_HDR_LEN ? RW_PROTO_HDR_LEN : n);
				free(copy);
			}
			assert_int_equal(rw_proto_frame_check(frame, n, &need), RW_FRAME_COMPLETE);
			assert_int_equal(need, n);
		}
	}
}

/*
 * The header claims a shorter or longer payload than the type's layout (the
 * buffer matching the claim): the decoder must reject it, never accept a
 * prefix or read past the claim.
 */
static void test_payload_len_disagrees_with_content(void **state)
{
	struct rw_msg m, out;
	size_t n, plen, claim;
	uint16_t t;
	unsigned v;
	int err;

	(void)state;
	for (t = 1; t <= RW_MSG_TYPE_MAX; t++) {
		for (v = 0; v < RW_TEST_PROTO_VARIANTS; v++) {
			n = encode_sample(t, v, &m);
			plen = n - RW_PROTO_HDR_LEN;
			for (claim = 0; claim < plen; claim++) {
				uint8_t *copy = malloc(RW_PROTO_HDR_LEN + claim);

				assert_non_null(copy);
				memcpy(copy, frame, RW_PROTO_HDR_LEN + claim);
				put32(copy + 12, (uint32_t)claim);
				err = rw_proto_decode(copy, RW_PROTO_HDR_LEN + claim, &out);
				if (err == 0)
					fail_msg("%s/%u accepted payload cut to %zu of %zu",
						 rw_proto_type_name(t), v, claim, plen);
				free(copy);
			}
			/* one extra zero byte claimed and present */
			memset(frame + n, 0, 8);
			for (claim = plen + 1; claim <= plen + 8; claim++) {
				put32(frame + 12, (uint32_t)claim);
				err = rw_proto_decode(frame, RW_PROTO_HDR_LEN + claim, &out);
				assert_true(err == RW_EPROTO_PAYLOAD_LEN || err == RW_EPROTO_TRAILING);
			}
		}
	}
}

/* ---- hostile header fields ----------------------------------------------------- */

static void test_oversized_and_huge_lengths(void **state)
{
	static const uint32_t lens[] = { RW_PROTO_MAX_PAYLOAD + 1, 0x10000, 0x7fffffffu,
					 0x80000000u, 0xfffffff0u, 0xffffffffu };
	struct rw_msg m, out;
	size_t need, n;
	unsigned i;

	(void)state;
	n = encode_sample(RW_MSG_HEARTBEAT, 0, &m);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		put32(frame + 12, lens[i]);
		assert_int_equal(rw_proto_frame_check(frame, RW_PROTO_HDR_LEN, &need),
				 RW_EPROTO_TOO_LARGE);
		assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_TOO_LARGE);
		assert_int_equal(rw_proto_decode(frame, sizeof(frame), &out), RW_EPROTO_TOO_LARGE);
	}
	/* the largest legal claim is only "need more" for the stream */
	put32(frame + 12, RW_PROTO_MAX_PAYLOAD);
	assert_int_equal(rw_proto_frame_check(frame, n, &need), RW_FRAME_NEED_MORE);
	assert_int_equal(need, RW_PROTO_MAX_FRAME);
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_TRUNC_PAYLOAD);
}

struct hdr_case {
	size_t off;
	unsigned width;
	uint64_t value;
	int expect;
};

static void test_header_field_errors(void **state)
{
	static const struct hdr_case cases[] = {
		{ 0, 4, 0x31435753, RW_EPROTO_BAD_MAGIC },
		{ 0, 4, 0, RW_EPROTO_BAD_MAGIC },
		{ 4, 2, 0, RW_EPROTO_VERSION },
		{ 4, 2, RW_PROTO_VERSION_MAX + 1, RW_EPROTO_VERSION },
		{ 4, 2, 0xffff, RW_EPROTO_VERSION },
		{ 6, 2, 0, RW_EPROTO_UNKNOWN_TYPE },
		{ 6, 2, RW_MSG_TYPE_MAX + 1, RW_EPROTO_UNKNOWN_TYPE },
		{ 6, 2, 0xffff, RW_EPROTO_UNKNOWN_TYPE },
		{ 8, 2, 0x0002, RW_EPROTO_FLAGS },
		{ 8, 2, 0x8000, RW_EPROTO_FLAGS },
		{ 10, 2, 0, RW_EPROTO_HDR_LEN },
		{ 10, 2, 40, RW_EPROTO_HDR_LEN },
		{ 16, 8, 0, RW_EPROTO_SEQ },
		{ 24, 1, 0, RW_EPROTO_COMPONENT },
		{ 24, 1, RW_COMP_MAX + 1, RW_EPROTO_COMPONENT },
		{ 24, 1, RW_COMP_HOST, RW_EPROTO_DIRECTION },
		{ 25, 1, 1, RW_EPROTO_HDR_RESERVED },
		{ 31, 1, 0x80, RW_EPROTO_HDR_RESERVED },
	};
	struct rw_msg m, out;
	size_t n;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hdr_case *c = &cases[i];

		n = encode_sample(RW_MSG_HEARTBEAT, 0, &m);
		if (c->width == 1)
			frame[c->off] = (uint8_t)c->value;
		else if (c->width == 2)
			put16(frame + c->off, (uint16_t)c->value);
		else if (c->width == 4)
			put32(frame + c->off, (uint32_t)c->value);
		else
			put64(frame + c->off, c->value);
		if (rw_proto_decode(frame, n, &out) != c->expect)
			fail_msg("case %u: got %d (%s), want %d", i, rw_proto_decode(frame, n, &out),
				 rw_proto_strerror(rw_proto_decode(frame, n, &out)), c->expect);
	}
	/* resent flag is legal */
	n = encode_sample(RW_MSG_HEARTBEAT, 0, &m);
	rw_proto_mark_resent(frame, n);
	assert_int_equal(rw_proto_decode(frame, n, &out), 0);
	assert_int_equal(out.hdr.flags, RW_FLAG_RESENT);
	/* a sequence number on an unsequenced type */
	n = encode_sample(RW_MSG_ACK, 0, &m);
	put64(frame + 16, 5);
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_SEQ);
	/* host-only type from a guest component */
	n = encode_sample(RW_MSG_POLICY_UPDATE, 0, &m);
	frame[24] = RW_COMP_AGENT;
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_DIRECTION);
}

/* Garbage is rejected by the stream check as soon as the bad bytes arrive. */
static void test_stream_rejects_early(void **state)
{
	struct rw_msg m;
	size_t need;

	(void)state;
	encode_sample(RW_MSG_HEARTBEAT, 0, &m);
	frame[1] = 'X';
	assert_int_equal(rw_proto_frame_check(frame, 3, &need), RW_FRAME_NEED_MORE);
	assert_int_equal(rw_proto_frame_check(frame, 4, &need), RW_EPROTO_BAD_MAGIC);
	encode_sample(RW_MSG_HEARTBEAT, 0, &m);
	frame[4] = 9;
	assert_int_equal(rw_proto_frame_check(frame, 5, &need), RW_FRAME_NEED_MORE);
	assert_int_equal(rw_proto_frame_check(frame, 6, &need), RW_EPROTO_VERSION);
	assert_int_equal(rw_proto_frame_check(NULL, 0, &need), RW_FRAME_NEED_MORE);
}

/* Several frames back to back, fed in uneven chunks like a socket would. */
static void test_stream_reassembly(void **state)
{
	static uint8_t stream[4 * MAX_FRAME];
	size_t total = 0, off = 0, have = 0, need, got = 0;
	struct rw_msg m, out;
	unsigned i, chunk = 1;
	uint16_t t;
	int r;

	(void)state;
	for (t = 1; t <= RW_MSG_TYPE_MAX; t++)
		for (i = 0; i < RW_TEST_PROTO_VARIANTS; i++) {
			size_t n = encode_sample(t, i, &m);

			if (total + n > sizeof(stream))
				continue;
			memcpy(stream + total, frame, n);
			total += n;
		}
	while (off < total) {
		have = have + chunk > total - off ? total - off : have + chunk;
		chunk = chunk * 3 % 1021 + 1;
		r = rw_proto_frame_check(stream + off, have, &need);
		assert_true(r >= 0);
		if (r == RW_FRAME_NEED_MORE) {
			assert_true(need > have);
			continue;
		}
		assert_int_equal(rw_proto_decode(stream + off, need, &out), 0);
		off += need;
		have -= need;
		got++;
	}
	assert_true(got >= RW_MSG_TYPE_MAX);
}

/* ---- payload errors: each code from at least one real frame ---------------------- */

struct payload_case {
	uint16_t type;
	unsigned variant;
	size_t off; /* payload offset */
	unsigned width;
	uint64_t value;
	int expect;
};

static void test_payload_field_errors(void **state)
{
	static const struct payload_case cases[] = {
		/* HELLO */
		{ RW_MSG_HELLO, 0, 0, 2, 0, RW_EPROTO_RANGE },     /* version_min 0 */
		{ RW_MSG_HELLO, 0, 0, 2, 2, RW_EPROTO_RANGE },     /* min > max */
		{ RW_MSG_HELLO, 0, 4, 1, 21, RW_EPROTO_RANGE },    /* build id len */
		{ RW_MSG_HELLO, 0, 5, 1, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_HELLO, 0, 28, 4, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_HELLO, 0, 8 + 7, 1, 1, RW_EPROTO_RESERVED }, /* byte past build id */
		{ RW_MSG_HELLO, 0, 64, 8, 0, RW_EPROTO_RANGE },    /* guest next_seq 0 */
		{ RW_MSG_HELLO, 0, 56, 8, 1, RW_EPROTO_RANGE },    /* resume >= next */
		{ RW_MSG_HELLO, 2, 64, 8, 0, RW_EPROTO_RANGE },    /* host next_seq 0 */
		/* CPU_STATE */
		{ RW_MSG_CPU_STATE, 0, 4, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CPU_STATE, 0, 4, 2, 4, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CPU_STATE, 0, 8, 4, 1u << RW_CPU_F_COUNT, RW_EPROTO_RESERVED },
		{ RW_MSG_CPU_STATE, 0, 12, 4, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_CPU_STATE, 2, 24, 8, 1, RW_EPROTO_RESERVED }, /* STAR not valid */
		{ RW_MSG_CPU_STATE, 2, 6, 2, 1, RW_EPROTO_RESERVED },  /* IDTR limit not valid */
		/* CRED_VIOLATION */
		{ RW_MSG_CRED_VIOLATION, 0, 24, 4, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_CRED_VIOLATION, 0, 24, 4, 1u << RW_CRED_FIELD_COUNT, RW_EPROTO_RESERVED },
		{ RW_MSG_CRED_VIOLATION, 0, 24, 4, 1, RW_EPROTO_PAYLOAD_LEN }, /* 1 pair, 3 sent */
		{ RW_MSG_CRED_VIOLATION, 0, 28, 1, 0, RW_EPROTO_BAD_ENUM },    /* v2 check */
		{ RW_MSG_CRED_VIOLATION, 0, 28, 1, RW_CRED_CHECK_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CRED_VIOLATION, 0, 29, 1, 4, RW_EPROTO_RESERVED },    /* action bit 2 */
		{ RW_MSG_CRED_VIOLATION, 0, 29, 1, 0x83, RW_EPROTO_RESERVED },
		{ RW_MSG_CRED_VIOLATION, 0, 30, 2, 0, RW_EPROTO_RANGE },       /* denied, no error */
		{ RW_MSG_CRED_VIOLATION, 0, 30, 2, 1, RW_EPROTO_RANGE },       /* positive error */
		{ RW_MSG_CRED_VIOLATION, 0, 30, 2, (uint16_t)-4096, RW_EPROTO_RANGE },
		{ RW_MSG_CRED_VIOLATION, 2, 30, 2, (uint16_t)-1, RW_EPROTO_RESERVED }, /* not denied */
		{ RW_MSG_CRED_VIOLATION, 0, 8 + 10, 1, 'x', RW_EPROTO_RESERVED }, /* after NUL */
		/* LSM_EVENT */
		{ RW_MSG_LSM_EVENT, 0, 0, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_LSM_EVENT, 0, 0, 2, RW_LSM_KIND_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_LSM_EVENT, 0, 2, 2, 2, RW_EPROTO_RESERVED },
		{ RW_MSG_LSM_EVENT, 0, 4, 4, 1, RW_EPROTO_RANGE },
		{ RW_MSG_LSM_EVENT, 0, 4, 4, (uint32_t)-4096, RW_EPROTO_RANGE },
		{ RW_MSG_LSM_EVENT, 0, 66, 2, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_LSM_EVENT, 0, 68, 4, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_LSM_EVENT, 0, 64, 2, 11, RW_EPROTO_PAYLOAD_LEN },
		{ RW_MSG_LSM_EVENT, 0, 64, 2, RW_PROTO_MAX_PATH + 1, RW_EPROTO_STR_TOO_LONG },
		{ RW_MSG_LSM_EVENT, 0, 64, 2, 0xffff, RW_EPROTO_STR_TOO_LONG },
		{ RW_MSG_LSM_EVENT, 0, 72 + 9, 1, 'x', RW_EPROTO_STR_UNTERMINATED },
		{ RW_MSG_LSM_EVENT, 0, 72 + 3, 1, 0, RW_EPROTO_STR_EMBEDDED_NUL },
		{ RW_MSG_LSM_EVENT, 0, 16 + 3, 1, 'A', RW_EPROTO_RESERVED }, /* after comm NUL */
		{ RW_MSG_LSM_EVENT, 2, 32, 1, 1, RW_EPROTO_RESERVED }, /* sha without flag */
		/* POLICY_UPDATE */
		{ RW_MSG_POLICY_UPDATE, 0, 0, 2, 4, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_POLICY_UPDATE, 0, 2, 2, 5, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_POLICY_UPDATE, 0, 4, 2, RW_PROTO_MAX_POLICY_ENTRIES + 1, RW_EPROTO_COUNT },
		{ RW_MSG_POLICY_UPDATE, 0, 4, 2, 0xffff, RW_EPROTO_COUNT },
		{ RW_MSG_POLICY_UPDATE, 0, 4, 2, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_POLICY_UPDATE, 0, 4, 2, 1, RW_EPROTO_TRAILING },
		{ RW_MSG_POLICY_UPDATE, 0, 4, 2, 3, RW_EPROTO_PAYLOAD_LEN },
		{ RW_MSG_POLICY_UPDATE, 0, 6, 2, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_POLICY_UPDATE, 0, 12, 4, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_POLICY_UPDATE, 0, 16, 2, 1, RW_EPROTO_EMPTY },     /* name size 1 */
		{ RW_MSG_POLICY_UPDATE, 0, 16, 2, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_POLICY_UPDATE, 0, 16, 2, 257, RW_EPROTO_STR_TOO_LONG },
		{ RW_MSG_POLICY_UPDATE, 0, 16, 2, 4, RW_EPROTO_STR_UNTERMINATED },
		{ RW_MSG_POLICY_UPDATE, 0, 16, 2, 6, RW_EPROTO_STR_EMBEDDED_NUL },
		{ RW_MSG_POLICY_UPDATE, 0, 18, 2, 2, RW_EPROTO_RESERVED },
		{ RW_MSG_POLICY_UPDATE, 0, 16 + 41 + 4, 1, 1, RW_EPROTO_RESERVED }, /* sha, no flag */
		/* CHALLENGE */
		{ RW_MSG_CHALLENGE, 0, 28, 2, 3, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CHALLENGE, 0, 30, 2, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_CHALLENGE, 0, 24, 4, 0, RW_EPROTO_RANGE },
		{ RW_MSG_CHALLENGE, 0, 24, 4, RW_PROTO_MAX_CHALLENGE_LEN + 1, RW_EPROTO_RANGE },
		{ RW_MSG_CHALLENGE, 0, 16, 8, ~0ull - 100, RW_EPROTO_RANGE }, /* wraps */
		/* CHALLENGE_RESPONSE */
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 16, 8, 0, RW_EPROTO_RANGE },
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 24, 2, RW_CHAL_STATUS_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 26, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 28, 1, 8, RW_EPROTO_RANGE },
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 28, 1, 255, RW_EPROTO_RANGE },
		{ RW_MSG_CHALLENGE_RESPONSE, 0, 29, 1, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_CHALLENGE_RESPONSE, 1, 32 + 8, 1, 1, RW_EPROTO_RESERVED }, /* past xxh64 */
		{ RW_MSG_CHALLENGE_RESPONSE, 2, 28, 1, 32, RW_EPROTO_RANGE }, /* hash on failure */
		/* LOSS */
		{ RW_MSG_LOSS, 0, 0, 8, 0, RW_EPROTO_RANGE },
		{ RW_MSG_LOSS, 0, 0, 8, 11, RW_EPROTO_RANGE },
		{ RW_MSG_LOSS, 0, 8, 8, 0, RW_EPROTO_RANGE },
		{ RW_MSG_LOSS, 0, 8, 8, 60, RW_EPROTO_RANGE },
		{ RW_MSG_LOSS, 0, 16, 8, 100, RW_EPROTO_RANGE }, /* last lost >= own seq */
		/* GOODBYE */
		{ RW_MSG_GOODBYE, 0, 0, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_GOODBYE, 0, 0, 2, RW_BYE_REASON_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_GOODBYE, 0, 2, 2, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_GOODBYE, 0, 4, 4, 1, RW_EPROTO_RESERVED },
		/* ERROR */
		{ RW_MSG_ERROR, 0, 0, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_ERROR, 0, 0, 2, RW_ERR_CODE_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_ERROR, 0, 6, 2, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_ERROR, 0, 4, 2, RW_PROTO_MAX_ERROR_TEXT + 1, RW_EPROTO_STR_TOO_LONG },
		{ RW_MSG_ERROR, 0, 4, 2, 5, RW_EPROTO_PAYLOAD_LEN },
		{ RW_MSG_ERROR, 0, 16 + 26, 1, '!', RW_EPROTO_STR_UNTERMINATED },
		{ RW_MSG_ERROR, 0, 16, 1, 0, RW_EPROTO_STR_EMBEDDED_NUL },
		/* MODULE_SELF */
		{ RW_MSG_MODULE_SELF, 0, 0, 8, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_MODULE_SELF, 0, 8, 8, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_MODULE_SELF, 0, 16, 4, 0, RW_EPROTO_EMPTY },
		{ RW_MSG_MODULE_SELF, 0, 16, 4, 0x8001, RW_EPROTO_RANGE },  /* text > ro */
		{ RW_MSG_MODULE_SELF, 0, 20, 4, 0x9001, RW_EPROTO_RANGE },  /* ro > ro_after_init */
		{ RW_MSG_MODULE_SELF, 0, 24, 4, 0xa001, RW_EPROTO_RANGE },  /* > core */
		{ RW_MSG_MODULE_SELF, 1, 28, 4, RW_PROTO_MAX_MODULE_CORE + 1, RW_EPROTO_RANGE },
		{ RW_MSG_MODULE_SELF, 0, 8, 8, ~0ull - 0x1000, RW_EPROTO_RANGE }, /* wraps */
		{ RW_MSG_MODULE_SELF, 2, 32, 1, 0, RW_EPROTO_EMPTY },       /* empty name */
		{ RW_MSG_MODULE_SELF, 0, 32 + 10, 1, 'x', RW_EPROTO_RESERVED }, /* after NUL */
		{ RW_MSG_MODULE_SELF, 1, 32 + 55, 1, 'x', RW_EPROTO_STR_UNTERMINATED },
		/* GUARD_EVENT */
		{ RW_MSG_GUARD_EVENT, 0, 0, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_GUARD_EVENT, 0, 0, 2, RW_GUARD_KIND_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_GUARD_EVENT, 0, 4, 4, 1, RW_EPROTO_RESERVED },
		{ RW_MSG_GUARD_EVENT, 0, 2, 2, RW_PROTO_MAX_EVENT_DETAIL + 1, RW_EPROTO_STR_TOO_LONG },
		{ RW_MSG_GUARD_EVENT, 0, 2, 2, 5, RW_EPROTO_PAYLOAD_LEN },
		{ RW_MSG_GUARD_EVENT, 0, 8 + 44, 1, '!', RW_EPROTO_STR_UNTERMINATED },
		{ RW_MSG_GUARD_EVENT, 0, 8 + 3, 1, 0, RW_EPROTO_STR_EMBEDDED_NUL },
		/* CRED_CHANGE (variant 0 from the kmod, 1 from the agent, 2 from a test) */
		{ RW_MSG_CRED_CHANGE, 0, 24, 2, 0, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CRED_CHANGE, 2, 24, 2, RW_VIA_MAX + 1, RW_EPROTO_BAD_ENUM },
		{ RW_MSG_CRED_CHANGE, 0, 24, 2, RW_VIA_TASK_FIX_SETUID, RW_EPROTO_DIRECTION },
		{ RW_MSG_CRED_CHANGE, 1, 24, 2, RW_VIA_COMMIT_CREDS, RW_EPROTO_DIRECTION },
		{ RW_MSG_CRED_CHANGE, 0, 26, 2, 2, RW_EPROTO_RESERVED },
		{ RW_MSG_CRED_CHANGE, 0, 28, 4, (uint32_t)-2, RW_EPROTO_RANGE },
		{ RW_MSG_CRED_CHANGE, 0, 8 + 3, 1, 'x', RW_EPROTO_RESERVED }, /* after comm NUL */
		{ RW_MSG_CRED_CHANGE, 1, 8 + 15, 1, 'x', RW_EPROTO_STR_UNTERMINATED },
		{ RW_MSG_CRED_CHANGE, 2, 32, 4, 0, RW_EPROTO_EMPTY }, /* old uid = new uid */
	};
	struct rw_msg m, out;
	unsigned i;
	size_t n;
	int err;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct payload_case *c = &cases[i];
		uint8_t *p = frame + RW_PROTO_HDR_LEN + c->off;

		n = encode_sample(c->type, c->variant, &m);
		assert_true(RW_PROTO_HDR_LEN + c->off + c->width <= n);
		if (c->width == 1)
			p[0] = (uint8_t)c->value;
		else if (c->width == 2)
			put16(p, (uint16_t)c->value);
		else if (c->width == 4)
			put32(p, (uint32_t)c->value);
		else
			put64(p, c->value);
		err = rw_proto_decode(frame, n, &out);
		if (err != c->expect)
			fail_msg("case %u (%s +%zu): got %d (%s), want %d (%s)", i,
				 rw_proto_type_name(c->type), c->off, err, rw_proto_strerror(err),
				 c->expect, rw_proto_strerror(c->expect));
	}
}

static void test_comm_without_nul(void **state)
{
	struct rw_msg m, out;
	size_t n;

	(void)state;
	n = encode_sample(RW_MSG_CRED_VIOLATION, 0, &m);
	memset(frame + RW_PROTO_HDR_LEN + 8, 'A', RW_PROTO_COMM_LEN);
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_STR_UNTERMINATED);
	n = encode_sample(RW_MSG_LSM_EVENT, 0, &m);
	memset(frame + RW_PROTO_HDR_LEN + 16, 'A', RW_PROTO_COMM_LEN);
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_STR_UNTERMINATED);
}

static void test_version_negotiation(void **state)
{
	struct rw_msg_hello h = { .version_min = 1, .version_max = 1 };

	(void)state;
	assert_int_equal(rw_proto_negotiate(&h, 1, 1), 1);
	assert_int_equal(rw_proto_negotiate(&h, 2, 3), 0);
	h.version_max = 5;
	assert_int_equal(rw_proto_negotiate(&h, 1, 3), 3);
	h.version_min = 4;
	assert_int_equal(rw_proto_negotiate(&h, 1, 3), 0);
	assert_int_equal(rw_proto_negotiate(NULL, 1, 3), 0);
}

/* Version 1 CRED_VIOLATION: bytes 28..31 reserved; version 2 gives them meaning. */
static void test_cred_check_versions(void **state)
{
	struct rw_msg m, out;
	size_t n;

	(void)state;
	assert_int_equal(rw_test_proto_sample(RW_MSG_CRED_VIOLATION, 0, &m), 0);
	m.hdr.version = 1;
	n = (size_t)rw_proto_encode(&m, frame, sizeof(frame));
	assert_int_equal(n, rw_proto_encoded_size(&m));
	assert_int_equal(frame[4], 1);
	assert_true(frame[RW_PROTO_HDR_LEN + 28] == 0 && frame[RW_PROTO_HDR_LEN + 29] == 0 &&
		    frame[RW_PROTO_HDR_LEN + 30] == 0 && frame[RW_PROTO_HDR_LEN + 31] == 0);
	memset(&out, 0xee, sizeof(out));
	assert_int_equal(rw_proto_decode(frame, n, &out), 0);
	assert_int_equal(out.u.cred.check, 0);
	assert_int_equal(out.u.cred.action, 0);
	assert_int_equal(out.u.cred.error, 0);
	assert_int_equal(out.u.cred.pid, m.u.cred.pid);
	/* in a version-1 frame these bytes stay reserved */
	frame[RW_PROTO_HDR_LEN + 28] = RW_CRED_CHECK_CAPABLE;
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_RESERVED);
	frame[RW_PROTO_HDR_LEN + 28] = 0;
	frame[RW_PROTO_HDR_LEN + 31] = 0x80;
	assert_int_equal(rw_proto_decode(frame, n, &out), RW_EPROTO_RESERVED);
	/* version 2: the exact bytes of check, action, error */
	m.hdr.version = 2;
	m.u.cred.check = RW_CRED_CHECK_CAPABLE;
	m.u.cred.action = RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED;
	m.u.cred.error = -13;
	n = (size_t)rw_proto_encode(&m, frame, sizeof(frame));
	assert_int_equal(frame[4], 2);
	assert_int_equal(frame[RW_PROTO_HDR_LEN + 28], 1);
	assert_int_equal(frame[RW_PROTO_HDR_LEN + 29], 3);
	assert_int_equal(frame[RW_PROTO_HDR_LEN + 30], 0xf3);
	assert_int_equal(frame[RW_PROTO_HDR_LEN + 31], 0xff);
	assert_int_equal(rw_proto_decode(frame, n, &out), 0);
	assert_int_equal(out.u.cred.error, -13);
	/* killed without denial: error must be 0 */
	m.u.cred.action = RW_CRED_ACT_KILLED;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_RESERVED);
	m.u.cred.error = 0;
	m.u.cred.check = 0;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_BAD_ENUM);
	assert_string_equal(rw_proto_cred_check_name(RW_CRED_CHECK_FILE_OPEN), "file_open");
	assert_string_equal(rw_proto_cred_check_name(RW_CRED_CHECK_SCAN), "scan");
	assert_string_equal(rw_proto_cred_check_name(0), "?");
	assert_string_equal(rw_proto_cred_check_name(RW_CRED_CHECK_MAX + 1), "?");
}

/*
 * Every type and variant converts to version 1 as if encoded in version 1,
 * except what version 1 does not have (CRED_CHANGE, guard kinds 10..13).
 */
static void test_frame_downgrade(void **state)
{
	static uint8_t direct[MAX_FRAME], out_buf[MAX_FRAME];
	struct rw_msg m, out;
	uint16_t t;
	unsigned v;
	long n, d, k;

	(void)state;
	for (t = 1; t <= RW_MSG_TYPE_MAX; t++) {
		for (v = 0; v < RW_TEST_PROTO_VARIANTS; v++) {
			n = (long)encode_sample(t, v, &m);
			rw_proto_mark_resent(frame, (size_t)n);
			m.hdr.version = 1;
			m.hdr.flags = RW_FLAG_RESENT;
			d = rw_proto_encode(&m, direct, sizeof(direct));
			k = rw_proto_frame_downgrade(frame, (size_t)n, 1, out_buf, sizeof(out_buf));
			if (!rw_proto_msg_in_version(&m, 1)) {
				/* new in version 2: neither encodable nor convertible in 1 */
				assert_int_equal(d, RW_EPROTO_NOT_IN_VERSION);
				assert_int_equal(k, RW_EPROTO_NOT_IN_VERSION);
				assert_true(rw_proto_msg_in_version(&m, 2));
				continue;
			}
			assert_true(d > 0);
			if (k != d || memcmp(out_buf, direct, (size_t)d))
				fail_msg("%s/%u: downgrade differs from a version-1 encoding (%ld)",
					 rw_proto_type_name(t), v, k);
			assert_int_equal(rw_proto_decode(out_buf, (size_t)k, &out), 0);
			assert_int_equal(out.hdr.version, 1);
			/* same version: an identical copy */
			k = rw_proto_frame_downgrade(frame, (size_t)n, RW_PROTO_VERSION_MAX,
						     out_buf, sizeof(out_buf));
			assert_int_equal(k, n);
			assert_memory_equal(out_buf, frame, (size_t)n);
		}
	}
	n = (long)encode_sample(RW_MSG_CRED_VIOLATION, 0, &m);
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n, 0, out_buf, sizeof(out_buf)),
			 RW_EPROTO_VERSION);
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n, RW_PROTO_VERSION_MAX + 1,
						  out_buf, sizeof(out_buf)),
			 RW_EPROTO_VERSION);
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n, 1, out_buf, (size_t)n - 1),
			 RW_EPROTO_NOSPACE);
	assert_int_equal(rw_proto_frame_downgrade(NULL, (size_t)n, 1, out_buf, sizeof(out_buf)),
			 RW_EPROTO_INVAL);
	/* a version-1 frame cannot be raised to version 2 */
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n, 1, direct, sizeof(direct)), n);
	assert_int_equal(rw_proto_frame_downgrade(direct, (size_t)n, 2, out_buf, sizeof(out_buf)),
			 RW_EPROTO_VERSION);
	/* an invalid frame is refused with its own decode error */
	frame[RW_PROTO_HDR_LEN + 28] = 0;
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n, 1, out_buf, sizeof(out_buf)),
			 RW_EPROTO_BAD_ENUM);
	assert_int_equal(rw_proto_frame_downgrade(frame, (size_t)n - 1, 1, out_buf,
						  sizeof(out_buf)),
			 RW_EPROTO_TRUNC_PAYLOAD);
}

static void test_decode_rejects_trailing_bytes(void **state)
{
	struct rw_msg m, out;
	size_t n;

	(void)state;
	n = encode_sample(RW_MSG_ACK, 0, &m);
	assert_int_equal(rw_proto_decode(frame, n + 1, &out), RW_EPROTO_TRAILING);
}

/* ---- encoder refuses what the decoder would reject -------------------------------- */

static void test_encoder_refuses_invalid(void **state)
{
	struct rw_policy_entry e = { .name = "x", .name_len = RW_PROTO_MAX_NAME };
	struct rw_msg m;
	uint8_t small[RW_PROTO_HDR_LEN + 8];

	(void)state;
	rw_test_proto_sample(RW_MSG_HEARTBEAT, 0, &m);
	assert_int_equal(rw_proto_encode(&m, small, RW_PROTO_HDR_LEN + 15), RW_EPROTO_NOSPACE);
	assert_int_equal(rw_proto_encode(NULL, frame, sizeof(frame)), RW_EPROTO_INVAL);
	assert_int_equal(rw_proto_encode(&m, NULL, 100), RW_EPROTO_INVAL);
	m.hdr.type = 0;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_UNKNOWN_TYPE);

	rw_test_proto_sample(RW_MSG_HEARTBEAT, 0, &m);
	m.hdr.seq = 0;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_SEQ);
	rw_test_proto_sample(RW_MSG_HEARTBEAT, 0, &m);
	m.hdr.flags = 0x10;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_FLAGS);

	rw_test_proto_sample(RW_MSG_LSM_EVENT, 0, &m);
	m.u.lsm.path_len = RW_PROTO_MAX_PATH;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_STR_TOO_LONG);
	rw_test_proto_sample(RW_MSG_LSM_EVENT, 0, &m);
	m.u.lsm.path = NULL;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_INVAL);
	rw_test_proto_sample(RW_MSG_LSM_EVENT, 0, &m);
	m.u.lsm.path = "/a\0b";
	m.u.lsm.path_len = 4;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_STR_EMBEDDED_NUL);
	rw_test_proto_sample(RW_MSG_LSM_EVENT, 0, &m);
	memset(m.u.lsm.comm, 'c', sizeof(m.u.lsm.comm));
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_STR_TOO_LONG);

	rw_test_proto_sample(RW_MSG_POLICY_UPDATE, 0, &m);
	m.u.policy.count = RW_PROTO_MAX_POLICY_ENTRIES + 1;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_COUNT);
	rw_test_proto_sample(RW_MSG_POLICY_UPDATE, 0, &m);
	m.u.policy.entries = &e;
	m.u.policy.count = 1;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_STR_TOO_LONG);

	rw_test_proto_sample(RW_MSG_CRED_VIOLATION, 0, &m);
	m.u.cred.field_mask = 0;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_EMPTY);
	rw_test_proto_sample(RW_MSG_HELLO, 0, &m);
	m.u.hello.build_id_len = RW_PROTO_BUILD_ID_MAX + 1;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_RANGE);
	rw_test_proto_sample(RW_MSG_CHALLENGE, 0, &m);
	m.hdr.component = RW_COMP_KMOD;
	assert_int_equal(rw_proto_encode(&m, frame, sizeof(frame)), RW_EPROTO_DIRECTION);
}

/* ---- error strings ------------------------------------------------------------------ */

static void test_strerror_distinct(void **state)
{
	const char *seen[-RW_EPROTO_MIN + 1];
	int e, f;

	(void)state;
	for (e = 0; e >= RW_EPROTO_MIN; e--) {
		seen[-e] = rw_proto_strerror(e);
		assert_non_null(seen[-e]);
		assert_string_not_equal(seen[-e], rw_proto_strerror(12345));
		for (f = 0; f > e; f--)
			assert_string_not_equal(seen[-e], seen[-f]);
	}
	assert_string_equal(rw_proto_type_name(RW_MSG_LOSS), "LOSS");
	assert_string_equal(rw_proto_type_name(999), "?");
}

/* Every GUARD_EVENT kind decodes, with a name of its own; the next one does not. */
static void test_guard_kinds(void **state)
{
	static const char *const agent_kinds[][2] = {
		{ "10", "agent_lost" }, { "11", "agent_back" },
		{ "12", "partner_detached" }, { "13", "partner_restored" },
	};
	const char *names[RW_GUARD_KIND_MAX + 1];
	struct rw_msg m, d;
	long len;

	(void)state;
	for (uint16_t k = RW_GUARD_LOADED; k <= RW_GUARD_KIND_MAX; k++) {
		memset(&m, 0, sizeof(m));
		m.hdr.type = RW_MSG_GUARD_EVENT;
		m.hdr.component = RW_COMP_KMOD;
		m.hdr.seq = k;
		m.u.guard.kind = k;
		m.u.guard.detail = "gap_ms=1114 hook=move_mount";
		m.u.guard.detail_len = (uint16_t)strlen(m.u.guard.detail);
		len = rw_proto_encode(&m, frame, sizeof(frame));
		assert_true(len > 0);
		assert_int_equal(rw_proto_decode(frame, (size_t)len, &d), 0);
		assert_int_equal(d.u.guard.kind, k);
		names[k] = rw_proto_guard_kind_name(k);
		assert_string_not_equal(names[k], "?");
		for (uint16_t j = RW_GUARD_LOADED; j < k; j++)
			assert_string_not_equal(names[k], names[j]);
	}
	for (size_t i = 0; i < sizeof(agent_kinds) / sizeof(agent_kinds[0]); i++)
		assert_string_equal(rw_proto_guard_kind_name((uint16_t)atoi(agent_kinds[i][0])),
				    agent_kinds[i][1]);
	assert_int_equal(RW_GUARD_AGENT_LOST, 10);
	assert_int_equal(RW_GUARD_PARTNER_RESTORED, RW_GUARD_KIND_MAX);
	assert_string_equal(rw_proto_guard_kind_name(RW_GUARD_KIND_MAX + 1), "?");
	m.u.guard.kind = RW_GUARD_KIND_MAX + 1;
	assert_true(rw_proto_encode(&m, frame, sizeof(frame)) < 0);
}

/* ---- seed writer -------------------------------------------------------------------- */

static int write_seeds(const char *dir)
{
	char path[4096];
	struct rw_msg m;
	uint16_t t;
	unsigned v;
	long n;
	FILE *f;

	for (t = 1; t <= RW_MSG_TYPE_MAX; t++) {
		for (v = 0; v < RW_TEST_PROTO_VARIANTS; v++) {
			if (rw_test_proto_sample(t, v, &m))
				return 1;
			n = rw_proto_encode(&m, frame, sizeof(frame));
			if (n < 0) {
				fprintf(stderr, "encode %u/%u: %s\n", t, v, rw_proto_strerror((int)n));
				return 1;
			}
			snprintf(path, sizeof(path), "%s/%s-%u", dir, rw_proto_type_name(t), v);
			f = fopen(path, "wb");
			if (!f || fwrite(frame, 1, (size_t)n, f) != (size_t)n || fclose(f)) {
				perror(path);
				return 1;
			}
			if (t != RW_MSG_CRED_VIOLATION)
				continue;
			/* the same in version 1 (no check/action/error) */
			m.hdr.version = 1;
			n = rw_proto_encode(&m, frame, sizeof(frame));
			snprintf(path, sizeof(path), "%s/%s-v1-%u", dir, rw_proto_type_name(t), v);
			f = fopen(path, "wb");
			if (n < 0 || !f || fwrite(frame, 1, (size_t)n, f) != (size_t)n || fclose(f)) {
				perror(path);
				return 1;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_wire_layout_is_little_endian),
		cmocka_unit_test(test_every_truncation_of_every_type),
		cmocka_unit_test(test_payload_len_disagrees_with_content),
		cmocka_unit_test(test_oversized_and_huge_lengths),
		cmocka_unit_test(test_header_field_errors),
		cmocka_unit_test(test_stream_rejects_early),
		cmocka_unit_test(test_stream_reassembly),
		cmocka_unit_test(test_payload_field_errors),
		cmocka_unit_test(test_comm_without_nul),
		cmocka_unit_test(test_decode_rejects_trailing_bytes),
		cmocka_unit_test(test_cred_check_versions),
		cmocka_unit_test(test_frame_downgrade),
		cmocka_unit_test(test_version_negotiation),
		cmocka_unit_test(test_encoder_refuses_invalid),
		cmocka_unit_test(test_strerror_distinct),
		cmocka_unit_test(test_guard_kinds),
	};

	if (argc == 3 && !strcmp(argv[1], "--write-seeds"))
		return write_seeds(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

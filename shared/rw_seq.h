/*
 * Receive-side sequence state of one message stream (host side, also used by
 * the guest for frames from the host).
 *
 * A stream is one sender identity: component + session id (the guest's boot
 * id or module-load id). The sender numbers its sequenced frames 1, 2, 3...
 * and (re)sends them in order, so a high-water mark is all the state needed:
 * each sequence number is accepted at most once per stream. Numbers skipped
 * over (a gap) are lost for good; the sender explains them with a LOSS frame.
 *
 * Persisting the high-water mark is the caller's job: persist what was
 * accepted BEFORE sending an ACK that covers it, and restore it with
 * rw_seq_init(..., persisted_hwm) after a restart.
 */
#ifndef RW_SHARED_RW_SEQ_H
#define RW_SHARED_RW_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "shared/rw_proto.h"

enum rw_seq_verdict {
	RW_SEQ_INVALID = -1,  /* seq 0: not a sequenced frame */
	RW_SEQ_NEW = 0,       /* next in order: accept */
	RW_SEQ_DUPLICATE = 1, /* already accepted (a resend): drop, ACK again */
	RW_SEQ_GAP = 2,       /* accept; *missing numbers were skipped */
};

struct rw_seq_stream {
	uint8_t component;
	uint8_t session_id[RW_PROTO_SESSION_ID_LEN];
	uint64_t hwm; /* highest accepted seq, 0 = none */
	/* counters, for stats and tests */
	uint64_t accepted;
	uint64_t duplicates;
	uint64_t gaps;
	uint64_t missing; /* sum of the gap sizes */
};

void rw_seq_init(struct rw_seq_stream *s, uint8_t component,
		 const uint8_t session_id[RW_PROTO_SESSION_ID_LEN], uint64_t persisted_hwm);

/* True if the stream belongs to this component + session. */
bool rw_seq_same_stream(const struct rw_seq_stream *s, uint8_t component,
			const uint8_t session_id[RW_PROTO_SESSION_ID_LEN]);

/*
 * Account for a received sequenced frame. NEW and GAP mean "deliver it";
 * for GAP, *missing (if non-NULL) is the number of skipped sequence numbers,
 * otherwise it is set to 0.
 */
enum rw_seq_verdict rw_seq_accept(struct rw_seq_stream *s, uint64_t seq, uint64_t *missing);

/* The cumulative ACK value to send: every seq <= it has been accepted. */
uint64_t rw_seq_ack_value(const struct rw_seq_stream *s);

/*
 * Check a reconnecting sender's HELLO against the stream: its next_seq must
 * be beyond the high-water mark, else it would reuse numbers already
 * accepted (a session id reused after a state loss). Returns true if the
 * sender may resume.
 */
bool rw_seq_resume_ok(const struct rw_seq_stream *s, const struct rw_msg_hello *hello);

const char *rw_seq_verdict_name(enum rw_seq_verdict v);

#endif

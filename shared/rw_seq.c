#include "shared/rw_seq.h"

#include <string.h>

void rw_seq_init(struct rw_seq_stream *s, uint8_t component,
		 const uint8_t session_id[RW_PROTO_SESSION_ID_LEN], uint64_t persisted_hwm)
{
	memset(s, 0, sizeof(*s));
	s->component = component;
	if (session_id)
		memcpy(s->session_id, session_id, RW_PROTO_SESSION_ID_LEN);
	s->hwm = persisted_hwm;
}

bool rw_seq_same_stream(const struct rw_seq_stream *s, uint8_t component,
			const uint8_t session_id[RW_PROTO_SESSION_ID_LEN])
{
	return s->component == component &&
	       !memcmp(s->session_id, session_id, RW_PROTO_SESSION_ID_LEN);
}

enum rw_seq_verdict rw_seq_accept(struct rw_seq_stream *s, uint64_t seq, uint64_t *missing)
{
	uint64_t skipped;

	if (missing)
		*missing = 0;
	if (seq == 0)
		return RW_SEQ_INVALID;
	if (seq <= s->hwm) {
		s->duplicates++;
		return RW_SEQ_DUPLICATE;
	}
	skipped = seq - s->hwm - 1;
	s->hwm = seq;
	s->accepted++;
	if (!skipped)
		return RW_SEQ_NEW;
	s->gaps++;
	s->missing += skipped;
	if (missing)
		*missing = skipped;
	return RW_SEQ_GAP;
}

uint64_t rw_seq_ack_value(const struct rw_seq_stream *s)
{
	return s->hwm;
}

bool rw_seq_resume_ok(const struct rw_seq_stream *s, const struct rw_msg_hello *hello)
{
	return hello->next_seq > s->hwm;
}

const char *rw_seq_verdict_name(enum rw_seq_verdict v)
{
	switch (v) {
	case RW_SEQ_INVALID: return "invalid";
	case RW_SEQ_NEW: return "new";
	case RW_SEQ_DUPLICATE: return "duplicate";
	case RW_SEQ_GAP: return "gap";
	}
	return "?";
}

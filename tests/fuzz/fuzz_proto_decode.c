/*
 * Fuzz the wire protocol decoder with hostile frames.
 * Properties checked beyond "no crash / no out-of-bounds read":
 *  - the streaming check and the decoder agree on the frame size and on
 *    header errors;
 *  - a frame that decodes re-encodes to exactly the same bytes (the encoding is
 *    canonical: every reserved/padding byte is checked to be zero), so the
 *    decoder accepts nothing the encoder would not produce;
 *  - a valid frame converts (rw_proto_frame_downgrade) to every older
 *    version, and the result decodes in that version.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/rw_proto.h"

static uint8_t reencoded[RW_PROTO_MAX_FRAME];
static uint8_t downgraded[RW_PROTO_MAX_FRAME];

/*
 * Every valid frame converts to every older version that has its type (and
 * kind), is refused with RW_EPROTO_NOT_IN_VERSION by the others; the
 * result decodes in that version, and converting to its own version copies it.
 */
static void check_downgrade(const uint8_t *data, size_t size, const struct rw_msg *m)
{
	uint16_t version = m->hdr.version;
	struct rw_msg d;
	uint16_t v;
	long n;

	for (v = RW_PROTO_VERSION_MIN; v <= version; v++) {
		n = rw_proto_frame_downgrade(data, size, v, downgraded, sizeof(downgraded));
		if (!rw_proto_msg_in_version(m, v)) {
			/* newer than v: refused, never half-converted */
			if (n != RW_EPROTO_NOT_IN_VERSION)
				abort();
			continue;
		}
		if (n < 0 || (size_t)n != size)
			abort();
		if (rw_proto_decode(downgraded, (size_t)n, &d) || d.hdr.version != v)
			abort();
		if (v == version && memcmp(downgraded, data, size))
			abort();
	}
	if (rw_proto_frame_downgrade(data, size, (uint16_t)(version + 1), downgraded,
				     sizeof(downgraded)) != RW_EPROTO_VERSION)
		abort();
}
static struct rw_policy_entry entries[RW_PROTO_MAX_POLICY_ENTRIES];

static void check_reencode(const uint8_t *data, size_t size, struct rw_msg *m)
{
	uint32_t it = 0;
	unsigned n = 0;
	long len;

	if (m->hdr.type == RW_MSG_POLICY_UPDATE) {
		while (n < RW_PROTO_MAX_POLICY_ENTRIES &&
		       rw_proto_policy_next(&m->u.policy, &it, &entries[n]))
			n++;
		if (n != m->u.policy.count || it != m->u.policy.raw_len)
			abort();
		m->u.policy.entries = entries;
	}
	len = rw_proto_encode(m, reencoded, sizeof(reencoded));
	if (len < 0 || (size_t)len != size || memcmp(reencoded, data, size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rw_msg m;
	size_t need = 0;
	int stream, err;

	stream = rw_proto_frame_check(data, size, &need);
	err = rw_proto_decode(data, size, &m);
	if (stream < 0) {
		/* a header error is the decoder's answer too */
		if (err != stream)
			abort();
		return 0;
	}
	if (stream == RW_FRAME_NEED_MORE) {
		if (need <= size || err >= 0)
			abort();
		return 0;
	}
	if (need > size)
		abort();
	if (need < size) {
		if (err >= 0)
			abort(); /* trailing bytes must not be accepted */
		/* the first frame alone is a valid decode input */
		err = rw_proto_decode(data, need, &m);
		size = need;
	}
	if (err == 0) {
		check_reencode(data, size, &m);
		check_downgrade(data, size, &m);
	}
	return 0;
}

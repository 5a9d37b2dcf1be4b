// SPDX-License-Identifier: GPL-2.0
/*
 * Bytes from a hostile guest into channel_host: the input is split into
 * chunks (first byte of each chunk: its length) and fed to one connection,
 * with a second, well-behaved connection interleaved, host output drained
 * partially, host frames sent and ticks advanced. Must not crash, leak, or
 * deliver a sequence number twice or out of order.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/channel_host.h"

struct sink {
	uint64_t staged, stored;
};

static int f_load(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm)
{
	struct sink *s = ctx;

	(void)id;
	s->staged = s->stored;
	*hwm = s->stored;
	return 0;
}

static int f_msg(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *m,
		 const uint8_t *frame, size_t len)
{
	struct sink *s = ctx;
	struct rw_msg again;

	(void)id;
	if (m->hdr.seq <= s->staged || rw_proto_decode(frame, len, &again) != 0)
		abort(); /* delivered twice, out of order, or not a valid frame */
	if ((m->hdr.seq % 997) == 13)
		return -5; /* the store sometimes refuses: nothing taken */
	s->staged = m->hdr.seq;
	return 0;
}

static int f_commit(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm)
{
	struct sink *s = ctx;

	(void)id;
	if (hwm != s->staged)
		abort();
	s->stored = hwm;
	return 0;
}

static void quiet(void *o, int level, const char *msg)
{
	(void)o;
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink s = { 0 };
	struct rw_ch_config cfg;
	struct rw_ch_host *h;
	struct rw_ch_conn *c;
	uint64_t now = 1;
	size_t off = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.sink.load = f_load;
	cfg.sink.on_message = f_msg;
	cfg.sink.commit = f_commit;
	cfg.sink_ctx = &s;
	cfg.log.fn = quiet;
	cfg.out_cap = 128 << 10;
	h = rw_ch_host_new(&cfg);
	if (!h)
		return 0;
	c = rw_ch_conn_new(h, "fuzz", 3, 1, NULL);
	while (c && off < size) {
		uint8_t ctl = data[off++];
		size_t n = ctl & 0x3f ? (size_t)(ctl & 0x3f) * 37 : 1;
		const uint8_t *d;
		size_t out;

		if (n > size - off)
			n = size - off;
		rw_ch_conn_input(c, data + off, n);
		off += n;
		out = rw_ch_conn_output(c, &d);
		rw_ch_conn_consumed(c, ctl & 0x40 ? out : out / 2);
		if (ctl & 0x80) {
			struct rw_msg m;

			memset(&m, 0, sizeof(m));
			m.hdr.type = RW_MSG_CHALLENGE;
			m.u.challenge.length = 64;
			m.u.challenge.gva_start = 0xffffffff81000000ull;
			m.u.challenge.hash_alg = RW_HASH_XXH64;
			rw_ch_conn_send(c, &m);
		}
		now += 4000;
		rw_ch_conn_tick(c, now);
		if (rw_ch_conn_closing(c)) {
			/* a new connection of the same guest resumes from the store */
			rw_ch_conn_free(c);
			c = rw_ch_conn_new(h, "fuzz", 3, 2, NULL);
		}
	}
	rw_ch_conn_free(c);
	rw_ch_host_free(h);
	return 0;
}

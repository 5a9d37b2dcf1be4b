// SPDX-License-Identifier: GPL-2.0
/*
 * Host end of guest streams (host/channel_host), the file event store and the
 * channel service's relay listener: store-then-ack ordering, duplicates after
 * a restart, bad input closing one connection while another carries on,
 * torn store logs. Transport A (AF_VSOCK) needs /dev/vhost-vsock.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/channel_host.h"
#include "host/channel_service.h"
#include "host/channel_store.h"
#include "host/vsock_relay.h"
#include "shared/rw_chan.h"
#include "shared/rw_proto.h"

/* ---- an in-memory sink that records the order of events ------------------- */

#define MAX_EVENTS 4096

struct mem_sink {
	uint64_t stored_hwm;  /* "durable" mark */
	uint64_t staged_hwm;
	unsigned staged, stored;
	char events[MAX_EVENTS]; /* 'm' message, 'c' commit */
	unsigned nevents;
	int fail_message_at;  /* seq whose on_message fails, 0 = never */
	bool fail_commit;
	unsigned closes;
	char last_close[300];
	uint64_t peer_acked;
};

static int sink_load(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm)
{
	struct mem_sink *s = ctx;

	(void)id;
	s->staged_hwm = s->stored_hwm;
	*hwm = s->stored_hwm;
	return 0;
}

static int sink_message(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *m,
			const uint8_t *frame, size_t len)
{
	struct mem_sink *s = ctx;

	(void)id;
	assert_int_equal(rw_proto_decode(frame, len, &(struct rw_msg){ 0 }), 0);
	if (s->fail_message_at && m->hdr.seq == (uint64_t)s->fail_message_at)
		return -EIO;
	assert_true(m->hdr.seq > s->staged_hwm);
	s->staged_hwm = m->hdr.seq;
	s->staged++;
	if (s->nevents < MAX_EVENTS)
		s->events[s->nevents++] = 'm';
	return 0;
}

static int sink_commit(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm)
{
	struct mem_sink *s = ctx;

	(void)id;
	if (s->fail_commit)
		return -ENOSPC;
	assert_int_equal(hwm, s->staged_hwm);
	s->stored_hwm = hwm;
	s->stored = s->staged;
	if (s->nevents < MAX_EVENTS)
		s->events[s->nevents++] = 'c';
	return 0;
}

static void app_close(void *ctx, struct rw_ch_conn *c, const char *reason)
{
	struct mem_sink *s = ctx;

	(void)c;
	s->closes++;
	snprintf(s->last_close, sizeof(s->last_close), "%s", reason);
}

static void app_peer_ack(void *ctx, struct rw_ch_conn *c, uint64_t a)
{
	struct mem_sink *s = ctx;

	(void)c;
	s->peer_acked = a;
}

static void quiet(void *o, int level, const char *msg)
{
	(void)o;
	(void)level;
	(void)msg;
}

static struct rw_ch_host *new_host(struct mem_sink *s)
{
	struct rw_ch_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.sink.load = sink_load;
	cfg.sink.on_message = sink_message;
	cfg.sink.commit = sink_commit;
	cfg.sink_ctx = s;
	cfg.app.on_close = app_close;
	cfg.app.on_peer_ack = app_peer_ack;
	cfg.app_ctx = s;
	cfg.log.fn = quiet;
	memset(cfg.instance_id, 0x11, sizeof(cfg.instance_id));
	return rw_ch_host_new(&cfg);
}

/* ---- guest-side frame helpers ----------------------------------------------- */

static size_t enc(struct rw_msg *m, uint8_t *buf, size_t cap)
{
	long n = rw_proto_encode(m, buf, cap);

	assert_true(n > 0);
	return (size_t)n;
}

static size_t guest_hello(uint8_t *buf, uint8_t session, uint64_t resume, uint64_t next)
{
	struct rw_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HELLO;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.version = RW_PROTO_VERSION_MIN;
	m.u.hello.version_min = 1;
	m.u.hello.version_max = RW_PROTO_VERSION_MAX; /* its data frames use the newest */
	memset(m.u.hello.session_id, session, RW_PROTO_SESSION_ID_LEN);
	m.u.hello.resume_seq = resume;
	m.u.hello.next_seq = next;
	return enc(&m, buf, 256);
}

static size_t heartbeat(uint8_t *buf, uint64_t seq)
{
	struct rw_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HEARTBEAT;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.seq = seq;
	m.u.heartbeat.counter = seq;
	return enc(&m, buf, 256);
}

/* Decode every frame the host produced; return the last of the given type. */
static int host_output(struct rw_ch_conn *c, uint16_t type, struct rw_msg *last, uint8_t *keep)
{
	const uint8_t *d;
	size_t len = rw_ch_conn_output(c, &d), off = 0, flen;
	int found = 0;

	while (off < len) {
		struct rw_msg m;

		assert_int_equal(rw_proto_frame_check(d + off, len - off, &flen), RW_FRAME_COMPLETE);
		assert_int_equal(rw_proto_decode(d + off, flen, &m), 0);
		assert_int_equal(m.hdr.component, RW_COMP_HOST);
		if (m.hdr.type == type) {
			memcpy(keep, d + off, flen); /* pointer fields point into keep */
			assert_int_equal(rw_proto_decode(keep, flen, last), 0);
			found++;
		}
		off += flen;
	}
	rw_ch_conn_consumed(c, len);
	return found;
}

static void test_hello_store_then_ack(void **state)
{
	struct mem_sink s = { 0 };
	struct rw_ch_host *h = new_host(&s);
	struct rw_ch_conn *c;
	struct rw_msg m;
	uint8_t buf[8192], keep[1024];
	size_t n = 0;

	(void)state;
	c = rw_ch_conn_new(h, "vm-1", 3, 1000, NULL);
	assert_non_null(c);
	n = guest_hello(buf, 7, 0, 1);
	assert_int_equal(rw_ch_conn_input(c, buf, n), 0);
	assert_true(rw_ch_conn_ready(c));
	assert_int_equal(host_output(c, RW_MSG_HELLO, &m, keep), 1);
	assert_int_equal(m.u.hello.resume_seq, 0);
	assert_int_equal(m.u.hello.next_seq, 1);
	assert_int_equal(rw_ch_conn_stream(c)->component, RW_COMP_TEST);
	assert_string_equal(rw_ch_conn_stream(c)->vm, "vm-1");

	/* 100 heartbeats fed one byte at a time: all delivered, committed, then ACKed */
	n = 0;
	for (uint64_t seq = 1; seq <= 100; seq++)
		n += heartbeat(buf + n, seq);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rw_ch_conn_input(c, buf + i, 1), 0);
	assert_int_equal(s.stored, 100);
	assert_int_equal(s.stored_hwm, 100);
	assert_true(host_output(c, RW_MSG_ACK, &m, keep) >= 1);
	assert_int_equal(m.u.ack.acked_seq, 100);
	/* every message came before the commit that covers it */
	assert_int_equal(s.events[0], 'm');
	assert_int_equal(s.events[s.nevents - 1], 'c');

	/* resends are dropped but ACKed again */
	n = heartbeat(buf, 50);
	assert_int_equal(rw_ch_conn_input(c, buf, n), 0);
	assert_int_equal(s.stored, 100);
	assert_int_equal(host_output(c, RW_MSG_ACK, &m, keep), 1);
	assert_int_equal(m.u.ack.acked_seq, 100);

	/* a gap is accepted, counted, explained by a LOSS */
	n = heartbeat(buf, 105);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_LOSS;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.seq = 106;
	m.u.loss.count = 4;
	m.u.loss.first_seq = 101;
	m.u.loss.last_seq = 104;
	n += enc(&m, buf + n, 256);
	assert_int_equal(rw_ch_conn_input(c, buf, n), 0);
	struct rw_ch_conn_stats st;
	rw_ch_conn_get_stats(c, &st);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.missing, 4);
	assert_int_equal(st.losses, 1);
	assert_int_equal(st.lost, 4);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(s.stored_hwm, 106);

	/* host -> guest frames, and the guest's ACK of them */
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_POLICY_UPDATE;
	m.u.policy.op = RW_POLICY_REPLACE;
	m.u.policy.list = RW_LIST_EXEC_DENY;
	m.u.policy.generation = 9;
	assert_int_equal(rw_ch_conn_send(c, &m), 1);
	assert_int_equal(rw_ch_conn_send(c, &m), 2);
	assert_int_equal(host_output(c, RW_MSG_POLICY_UPDATE, &m, keep), 2);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_ACK;
	m.hdr.component = RW_COMP_TEST;
	m.u.ack.acked_seq = 2;
	n = enc(&m, buf, 256);
	assert_int_equal(rw_ch_conn_input(c, buf, n), 0);
	assert_int_equal(s.peer_acked, 2);
	/* acknowledging what was never sent closes the stream */
	m.u.ack.acked_seq = 3;
	n = enc(&m, buf, 256);
	assert_true(rw_ch_conn_input(c, buf, n) < 0);
	assert_true(rw_ch_conn_closing(c));
	assert_int_equal(host_output(c, RW_MSG_ERROR, &m, keep), 1);
	assert_int_equal(m.u.error.code, RW_ERR_STREAM);
	rw_ch_conn_free(c);
	assert_int_equal(s.closes, 1);
	rw_ch_host_free(h);
}

/* A restarted host resumes from the stored mark: the guest's resends are not
 * delivered again, and numbers below the mark are refused as a new session. */
static void test_restart_resume(void **state)
{
	struct mem_sink s = { .stored_hwm = 40 };
	struct rw_ch_host *h = new_host(&s);
	struct rw_ch_conn *c = rw_ch_conn_new(h, "vm", 3, 1, NULL);
	uint8_t buf[8192], keep[1024];
	struct rw_msg m;
	size_t n;

	(void)state;
	n = guest_hello(buf, 1, 30, 51);
	for (uint64_t seq = 31; seq <= 50; seq++) /* resent after the crash */
		n += heartbeat(buf + n, seq);
	assert_int_equal(rw_ch_conn_input(c, buf, n), 0);
	assert_int_equal(host_output(c, RW_MSG_HELLO, &m, keep), 1);
	assert_int_equal(m.u.hello.resume_seq, 40);
	assert_int_equal(s.staged, 10); /* 41..50 only */
	assert_int_equal(s.stored_hwm, 50);
	rw_ch_conn_free(c);

	/* a session claiming to restart below the mark */
	c = rw_ch_conn_new(h, "vm", 3, 2, NULL);
	n = guest_hello(buf, 1, 0, 20);
	assert_true(rw_ch_conn_input(c, buf, n) < 0);
	assert_int_equal(host_output(c, RW_MSG_ERROR, &m, keep), 1);
	assert_int_equal(m.u.error.code, RW_ERR_STREAM);
	assert_non_null(strstr(rw_ch_conn_close_reason(c), "not above the stored mark"));
	rw_ch_conn_free(c);
	rw_ch_host_free(h);
}

/* The sink refusing a message or a commit: no ACK beyond what is stored. */
static void test_sink_failures(void **state)
{
	struct mem_sink s = { .fail_message_at = 6 };
	struct rw_ch_host *h = new_host(&s);
	struct rw_ch_conn *c = rw_ch_conn_new(h, "vm", 3, 1, NULL);
	uint8_t buf[8192], keep[1024];
	struct rw_msg m;
	size_t n;

	(void)state;
	n = guest_hello(buf, 2, 0, 1);
	for (uint64_t seq = 1; seq <= 10; seq++)
		n += heartbeat(buf + n, seq);
	assert_true(rw_ch_conn_input(c, buf, n) < 0);
	assert_int_equal(s.stored_hwm, 5);
	assert_int_equal(host_output(c, RW_MSG_ACK, &m, keep), 0);
	rw_ch_conn_consumed(c, 0);
	assert_non_null(strstr(rw_ch_conn_close_reason(c), "refused seq 6"));
	rw_ch_conn_free(c);

	s.fail_message_at = 0;
	s.fail_commit = true;
	c = rw_ch_conn_new(h, "vm", 3, 2, NULL);
	n = guest_hello(buf, 2, 5, 11);
	n += heartbeat(buf + n, 11);
	assert_true(rw_ch_conn_input(c, buf, n) < 0);
	assert_int_equal(host_output(c, RW_MSG_ACK, &m, keep), 0);
	assert_non_null(strstr(rw_ch_conn_close_reason(c), "commit failed"));
	assert_int_equal(s.stored_hwm, 5);
	rw_ch_conn_free(c);
	rw_ch_host_free(h);
}

static void expect_rejected(struct rw_ch_host *h, const uint8_t *bytes, size_t n, uint16_t code,
			    const char *reason)
{
	struct rw_ch_conn *c = rw_ch_conn_new(h, "bad", 3, 9, NULL);
	uint8_t keep[1024];
	struct rw_msg m;

	assert_true(rw_ch_conn_input(c, bytes, n) < 0);
	assert_true(rw_ch_conn_closing(c));
	assert_int_equal(host_output(c, RW_MSG_ERROR, &m, keep), 1);
	assert_int_equal(m.u.error.code, code);
	if (!strstr(rw_ch_conn_close_reason(c), reason))
		fail_msg("reason '%s' lacks '%s'", rw_ch_conn_close_reason(c), reason);
	rw_ch_conn_free(c);
}

/* Garbage, oversized frames, wrong first frame, versions: each connection is
 * closed with its reason while another one keeps working. */
static void test_bad_input_other_stream_carries_on(void **state)
{
	struct mem_sink s = { 0 };
	struct rw_ch_host *h = new_host(&s);
	struct rw_ch_conn *good = rw_ch_conn_new(h, "good", 4, 1, NULL);
	uint8_t buf[8192];
	struct rw_msg m;
	size_t n;

	(void)state;
	n = guest_hello(buf, 3, 0, 1);
	assert_int_equal(rw_ch_conn_input(good, buf, n), 0);

	memset(buf, 0xa5, 64);
	expect_rejected(h, buf, 64, RW_ERR_MALFORMED, "bad frame magic");
	n = guest_hello(buf, 4, 0, 1);
	buf[12] = 0, buf[13] = 0, buf[14] = 0x10; /* payload 1 MiB */
	expect_rejected(h, buf, 32, RW_ERR_MALFORMED, "payload length over");
	n = guest_hello(buf, 4, 0, 1);
	buf[4] = 9;
	expect_rejected(h, buf, n, RW_ERR_VERSION, "unsupported protocol version");
	n = heartbeat(buf, 1);
	expect_rejected(h, buf, n, RW_ERR_UNEXPECTED, "expected HELLO");
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HELLO;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.version = 1;
	m.u.hello.version_min = 1;
	m.u.hello.version_max = 1;
	m.u.hello.next_seq = 1;
	n = enc(&m, buf, 256);
	/* a range above ours: no common version */
	buf[32] = RW_PROTO_VERSION_MAX + 1, buf[34] = RW_PROTO_VERSION_MAX + 2;
	expect_rejected(h, buf, n, RW_ERR_VERSION, "no common protocol version");
	n = guest_hello(buf, 5, 0, 1);
	guest_hello(buf + n, 5, 0, 1);
	buf[n + 4] = RW_PROTO_VERSION_MAX; /* the second one in the negotiated version */
	n *= 2;
	expect_rejected(h, buf, n, RW_ERR_UNEXPECTED, "unexpected HELLO");
	n = guest_hello(buf, 5, 0, 1);
	buf[32 + 8] = 1; /* reserved HELLO byte: decode error */
	expect_rejected(h, buf, n, RW_ERR_MALFORMED, "malformed HELLO");

	/* the good stream is unaffected */
	n = heartbeat(buf, 1);
	assert_int_equal(rw_ch_conn_input(good, buf, n), 0);
	assert_int_equal(s.stored_hwm, 1);
	assert_true(rw_ch_conn_ready(good));
	rw_ch_conn_free(good);
	rw_ch_host_free(h);
}

static void test_supersede_and_limits(void **state)
{
	struct mem_sink s = { 0 };
	struct rw_ch_host *h = new_host(&s);
	struct rw_ch_conn *a = rw_ch_conn_new(h, "vm", 3, 1, NULL), *b;
	uint8_t buf[512];
	size_t n;
	int err = 0;

	(void)state;
	n = guest_hello(buf, 6, 0, 1);
	assert_int_equal(rw_ch_conn_input(a, buf, n), 0);
	b = rw_ch_conn_new(h, "vm", 3, 2, NULL);
	assert_int_equal(rw_ch_conn_input(b, buf, n), 0);
	assert_true(rw_ch_conn_closing(a));
	assert_non_null(strstr(rw_ch_conn_close_reason(a), "superseded"));
	assert_true(rw_ch_conn_ready(b));
	rw_ch_conn_free(a);
	rw_ch_conn_free(b);
	assert_null(rw_ch_conn_new(h, "bad name", 3, 1, &err));
	assert_int_equal(err, -EINVAL);
	assert_null(rw_ch_conn_new(h, "", 3, 1, &err));
	/* HELLO timeout */
	a = rw_ch_conn_new(h, "slow", 3, 1, NULL);
	rw_ch_conn_tick(a, 1000);
	assert_false(rw_ch_conn_closing(a));
	rw_ch_conn_tick(a, 1000 + 10001);
	assert_true(rw_ch_conn_closing(a));
	rw_ch_conn_free(a);
	assert_int_equal(rw_ch_host_conn_count(h), 0);
	rw_ch_host_free(h);
}

/* ---- file store --------------------------------------------------------------- */

static void make_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/rw-unit-chstore-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_file_store(void **state)
{
	char dir[64], path[512];
	struct rw_ch_file_store *st;
	struct rw_ch_sink_ops ops;
	struct rw_ch_stream_id id = { .vm = "vm1", .component = RW_COMP_AGENT };
	uint8_t frame[256];
	uint64_t hwm = 99;
	void *ctx;
	bool torn;
	size_t n;
	int fd;

	(void)state;
	make_dir(dir, sizeof(dir));
	st = rw_ch_file_store_open(dir, true, NULL);
	assert_non_null(st);
	rw_ch_file_store_sink(st, &ops, &ctx);
	assert_int_equal(ops.load(ctx, &id, &hwm), 0);
	assert_int_equal(hwm, 0);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		struct rw_msg m;

		n = heartbeat(frame, seq);
		assert_int_equal(rw_proto_decode(frame, n, &m), 0);
		assert_int_equal(ops.on_message(ctx, &id, &m, frame, n), 0);
	}
	assert_int_equal(ops.commit(ctx, &id, 4), -EINVAL); /* mark must match */
	assert_int_equal(ops.commit(ctx, &id, 5), 0);
	rw_ch_file_store_close(st);

	/* a torn record at the end (a crash mid-commit) is cut off on load */
	assert_int_equal(rw_ch_file_store_path(dir, &id, path, sizeof(path)), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "RWS1\x30\0\0\0\x06", 9), 9);
	close(fd);
	assert_int_equal(rw_ch_file_store_scan(path, NULL, NULL, &torn), 5);
	assert_true(torn);
	st = rw_ch_file_store_open(dir, false, NULL);
	rw_ch_file_store_sink(st, &ops, &ctx);
	assert_int_equal(ops.load(ctx, &id, &hwm), 0);
	assert_int_equal(hwm, 5);
	{
		struct rw_msg m;

		n = heartbeat(frame, 6);
		assert_int_equal(rw_proto_decode(frame, n, &m), 0);
		assert_int_equal(ops.on_message(ctx, &id, &m, frame, n), 0);
		assert_int_equal(ops.on_message(ctx, &id, &m, frame, n), -EINVAL); /* not increasing */
		assert_int_equal(ops.commit(ctx, &id, 6), 0);
	}
	rw_ch_file_store_close(st);
	assert_int_equal(rw_ch_file_store_scan(path, NULL, NULL, &torn), 6);
	assert_false(torn);
	/* a flipped byte ends the valid prefix */
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 40), 1);
	close(fd);
	assert_int_equal(rw_ch_file_store_scan(path, NULL, NULL, &torn), 0);
	assert_true(torn);
	id.vm[0] = '/';
	assert_int_equal(rw_ch_file_store_path(dir, &id, path, sizeof(path)), -EINVAL);
	rm_dir(dir);
}

/* ---- service: relay listener with preambles ------------------------------------ */

static int connect_unix(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	return fd;
}

static void send_preamble(int fd, uint16_t kind, const char *vm)
{
	struct rw_relay_preamble p = { .kind = kind, .cid = 3, .guest_port = 77, .host_port = 7391 };
	uint8_t pre[RW_RELAY_PREAMBLE_LEN];

	snprintf(p.vm, sizeof(p.vm), "%s", vm);
	rw_relay_preamble_encode(&p, pre);
	assert_int_equal(write(fd, pre, sizeof(pre)), (ssize_t)sizeof(pre));
}

/* Read until n bytes or EOF while running the service. */
static size_t pump_read(struct rw_channel_service *svc, int fd, uint8_t *buf, size_t want,
			bool *eof)
{
	size_t got = 0;

	*eof = false;
	for (int i = 0; i < 200 && got < want; i++) {
		ssize_t r;

		rw_channel_service_run_once(svc, 10);
		r = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (r == 0) {
			*eof = true;
			break;
		}
		if (r > 0)
			got += (size_t)r;
	}
	return got;
}

static void test_service_relay(void **state)
{
	char dir[64], sock[128], err[256];
	struct rw_channel_service_config cfg;
	struct rw_channel_service *svc;
	struct rw_channel_service_stats st;
	struct mem_sink s = { 0 };
	uint8_t buf[4096];
	struct rw_msg m;
	size_t n, flen;
	bool eof;
	int good, bad;

	(void)state;
	make_dir(dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/chan.sock", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.unix_path = sock;
	cfg.ch.sink.load = sink_load;
	cfg.ch.sink.on_message = sink_message;
	cfg.ch.sink.commit = sink_commit;
	cfg.ch.sink_ctx = &s;
	cfg.ch.log.fn = quiet;
	cfg.preamble_timeout_ms = 300;
	svc = rw_channel_service_new(&cfg, err, sizeof(err));
	assert_non_null(svc);

	good = connect_unix(sock);
	send_preamble(good, RW_RELAY_STREAM, "vm-a");
	n = guest_hello(buf, 8, 0, 1);
	n += heartbeat(buf + n, 1);
	assert_int_equal(write(good, buf, n), (ssize_t)n);
	n = pump_read(svc, good, buf, 32 + 72 + 32 + 8, &eof);
	assert_int_equal(n, 32 + 72 + 32 + 8); /* HELLO + ACK */
	assert_int_equal(rw_proto_frame_check(buf + 104, 40, &flen), RW_FRAME_COMPLETE);
	assert_int_equal(rw_proto_decode(buf + 104, flen, &m), 0);
	assert_int_equal(m.hdr.type, RW_MSG_ACK);
	assert_int_equal(m.u.ack.acked_seq, 1);

	/* bad preamble: dropped */
	bad = connect_unix(sock);
	memset(buf, 0x33, RW_RELAY_PREAMBLE_LEN);
	assert_int_equal(write(bad, buf, RW_RELAY_PREAMBLE_LEN), RW_RELAY_PREAMBLE_LEN);
	pump_read(svc, bad, buf, 1, &eof);
	assert_true(eof);
	close(bad);
	/* no preamble at all: timed out */
	bad = connect_unix(sock);
	pump_read(svc, bad, buf, 1, &eof);
	assert_true(eof);
	close(bad);
	/* garbage on a stream: ERROR then close */
	bad = connect_unix(sock);
	send_preamble(bad, RW_RELAY_STREAM, "vm-b");
	memset(buf, 0x77, 100);
	assert_int_equal(write(bad, buf, 100), 100);
	n = pump_read(svc, bad, buf, sizeof(buf), &eof);
	assert_true(eof);
	assert_int_equal(rw_proto_frame_check(buf, n, &flen), RW_FRAME_COMPLETE);
	assert_int_equal(rw_proto_decode(buf, flen, &m), 0);
	assert_int_equal(m.hdr.type, RW_MSG_ERROR);
	close(bad);
	/* control: a RAM table whose fd count does not match is rejected */
	bad = connect_unix(sock);
	send_preamble(bad, RW_RELAY_CONTROL, "vm-a");
	{
		struct rw_relay_region r = { 0, 4096, 0 };
		uint8_t rec[RW_RELAY_MEM_MAX];
		size_t len = rw_relay_mem_encode(&r, 1, rec);

		assert_int_equal(write(bad, rec, len), (ssize_t)len);
	}
	pump_read(svc, bad, buf, 1, &eof);
	assert_true(eof);
	close(bad);

	/* the good stream still works */
	n = heartbeat(buf, 2);
	assert_int_equal(write(good, buf, n), (ssize_t)n);
	n = pump_read(svc, good, buf, 40, &eof);
	assert_int_equal(n, 40);
	assert_int_equal(rw_proto_decode(buf, 40, &m), 0);
	assert_int_equal(m.u.ack.acked_seq, 2);
	rw_channel_service_get_stats(svc, &st);
	assert_int_equal(st.rejected, 3);
	close(good);
	rw_channel_service_free(svc);
	rm_dir(dir);
}

static void test_relay_preamble(void **state)
{
	struct rw_relay_preamble p = { .kind = RW_RELAY_STREAM, .cid = 5, .guest_port = 1,
				       .host_port = 2, .vm = "x.y-z_1" }, q;
	uint8_t pre[RW_RELAY_PREAMBLE_LEN];
	const char *why = NULL;

	(void)state;
	rw_relay_preamble_encode(&p, pre);
	assert_int_equal(rw_relay_preamble_decode(pre, &q, &why), 0);
	assert_string_equal(q.vm, p.vm);
	assert_int_equal(q.cid, 5);
	pre[30] = 'A' + 100; /* padding after the name */
	assert_true(rw_relay_preamble_decode(pre, &q, &why) < 0);
	rw_relay_preamble_encode(&p, pre);
	pre[25] = '/';
	assert_true(rw_relay_preamble_decode(pre, &q, &why) < 0);
	assert_string_equal(why, "invalid VM name");
	rw_relay_preamble_encode(&p, pre);
	memset(pre + 24, 'a', 64);
	assert_true(rw_relay_preamble_decode(pre, &q, &why) < 0);
	rw_relay_preamble_encode(&p, pre);
	pre[6] = 9;
	assert_true(rw_relay_preamble_decode(pre, &q, &why) < 0);
	rw_relay_preamble_encode(&p, pre);
	pre[90] = 1;
	assert_true(rw_relay_preamble_decode(pre, &q, &why) < 0);
}

/* Transport A: a real AF_VSOCK listener; the guest side is a host-local vsock
 * connection (needs the kernel's vhost_vsock and vsock_loopback). */
static void test_transport_a(void **state)
{
	struct rw_channel_service_config cfg;
	struct rw_channel_service *svc;
	struct rw_chan_config cc;
	struct mem_sink s = { 0 };
	struct rw_chan *ch;
	char err[256];

	(void)state;
	if (access("/dev/vhost-vsock", F_OK) != 0) {
		print_message("SKIP transport A: /dev/vhost-vsock does not exist on this host "
			      "(no kernel vhost_vsock; transport B is what this rig uses)\n");
		skip();
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.vsock_port = 17391;
	cfg.ch.sink.load = sink_load;
	cfg.ch.sink.on_message = sink_message;
	cfg.ch.sink.commit = sink_commit;
	cfg.ch.sink_ctx = &s;
	cfg.ch.log.fn = quiet;
	svc = rw_channel_service_new(&cfg, err, sizeof(err));
	if (!svc)
		fail_msg("transport A listener: %s", err);
	memset(&cc, 0, sizeof(cc));
	cc.transport = RW_CHAN_VSOCK;
	cc.vsock_cid = 1; /* VMADDR_CID_LOCAL */
	cc.vsock_port = 17391;
	cc.component = RW_COMP_TEST;
	memset(cc.session_id, 0x5e, sizeof(cc.session_id));
	ch = rw_chan_new(&cc, NULL);
	assert_non_null(ch);
	for (unsigned i = 0; i < 100; i++) {
		struct rw_msg m = { .hdr.type = RW_MSG_HEARTBEAT };

		m.u.heartbeat.counter = i;
		assert_int_equal(rw_chan_send(ch, &m), 0);
	}
	for (int i = 0; i < 500 && s.stored_hwm < 100; i++) {
		rw_chan_poll(ch, 2);
		rw_channel_service_run_once(svc, 2);
	}
	if (s.stored_hwm != 100)
		fail_msg("transport A: %llu of 100 stored (vsock_loopback loaded?)",
			 (unsigned long long)s.stored_hwm);
	rw_chan_free(ch);
	rw_channel_service_free(svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_store_then_ack),
		cmocka_unit_test(test_restart_resume),
		cmocka_unit_test(test_sink_failures),
		cmocka_unit_test(test_bad_input_other_stream_carries_on),
		cmocka_unit_test(test_supersede_and_limits),
		cmocka_unit_test(test_file_store),
		cmocka_unit_test(test_relay_preamble),
		cmocka_unit_test(test_service_relay),
		cmocka_unit_test(test_transport_a),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

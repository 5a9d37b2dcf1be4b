/*
 * Tests of the guest channel client (shared/rw_chan) and the host receive
 * state (shared/rw_seq) over unix sockets, against a fake host running in a
 * thread. The fake host is killed and restarted mid-stream; what it has
 * "persisted" survives, the rest is forgotten, exactly like a daemon crash.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/rw_chan.h"
#include "shared/rw_proto.h"
#include "shared/rw_seq.h"

#define MAX_SEQ 20000u

struct fake_host {
	char path[108];
	pthread_t thread;
	atomic_bool stop;
	atomic_bool ready; /* listening */

	/* behaviour */
	unsigned kill_every; /* drop everything after this many accepted (0 = never) */
	unsigned ack_every;  /* ACK after this many accepted frames */
	bool refuse_version; /* answer HELLO with ERROR(VERSION) */
	bool push_host_frames; /* send POLICY_UPDATE/CHALLENGE after HELLO */
	uint16_t max_version; /* newest version it speaks (0: RW_PROTO_VERSION_MAX) */
	uint16_t conn_version; /* negotiated on the current connection */

	/* "durable" state: survives a restart up to persisted_hwm */
	struct rw_seq_stream stream;
	uint64_t persisted_hwm;
	uint8_t count[MAX_SEQ + 1];
	uint64_t loss_seq, loss_count, loss_first, loss_last;
	unsigned loss_msgs;

	/* observations (read after the thread stopped, or atomics) */
	atomic_uint hellos;
	atomic_uint restarts;
	atomic_uint errors_sent;
	uint64_t guest_ack_of_host; /* ACK value the guest sent for host frames */
	unsigned bad_frames;
	unsigned over_max;
	unsigned wrong_version; /* data frames not in the negotiated version */
	unsigned creds;         /* CRED_VIOLATION frames accepted */
	struct rw_msg_cred_violation last_cred;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	unlink(path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool host_send(int fd, struct rw_msg *m)
{
	uint8_t buf[RW_PROTO_MAX_FRAME];
	long n;

	m->hdr.component = RW_COMP_HOST;
	n = rw_proto_encode(m, buf, sizeof(buf));
	if (n < 0) {
		fprintf(stderr, "fake host: encode %s: %s\n", rw_proto_type_name(m->hdr.type),
			rw_proto_strerror((int)n));
		return false;
	}
	return send_all(fd, buf, (size_t)n);
}

static bool host_ack(struct fake_host *h, int fd)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_ACK, .version = h->conn_version } };

	/* persist first, then acknowledge */
	h->persisted_hwm = rw_seq_ack_value(&h->stream);
	m.u.ack.acked_seq = h->persisted_hwm;
	return host_send(fd, &m);
}

static bool host_hello(struct fake_host *h, int fd, const struct rw_msg *in)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_HELLO } };
	uint16_t max = h->max_version ? h->max_version : RW_PROTO_VERSION_MAX;
	uint16_t v = rw_proto_negotiate(&in->u.hello, RW_PROTO_VERSION_MIN, max);

	atomic_fetch_add(&h->hellos, 1);
	if (h->refuse_version || !v) {
		m.hdr.type = RW_MSG_ERROR;
		m.u.error.code = RW_ERR_VERSION;
		m.u.error.text = "no common version";
		m.u.error.text_len = (uint16_t)strlen(m.u.error.text);
		host_send(fd, &m);
		atomic_fetch_add(&h->errors_sent, 1);
		return false;
	}
	if (!rw_seq_same_stream(&h->stream, in->hdr.component, in->u.hello.session_id)) {
		/* a new stream: the test uses one guest, so this is the first HELLO */
		rw_seq_init(&h->stream, in->hdr.component, in->u.hello.session_id, 0);
		h->persisted_hwm = 0;
	}
	if (!rw_seq_resume_ok(&h->stream, &in->u.hello)) {
		m.hdr.type = RW_MSG_ERROR;
		m.u.error.code = RW_ERR_STREAM;
		host_send(fd, &m);
		return false;
	}
	m.hdr.version = v;
	h->conn_version = v;
	m.u.hello.version_min = RW_PROTO_VERSION_MIN;
	m.u.hello.version_max = max;
	memset(m.u.hello.session_id, 0x77, RW_PROTO_SESSION_ID_LEN);
	m.u.hello.resume_seq = h->persisted_hwm;
	m.u.hello.next_seq = 1;
	return host_send(fd, &m);
}

static void host_push_frames(struct fake_host *h, int fd)
{
	static const struct rw_policy_entry e = { .name = "ext4", .name_len = 4 };
	struct rw_msg m = { .hdr = { .type = RW_MSG_POLICY_UPDATE, .seq = 1 } };

	(void)h;
	m.u.policy.op = RW_POLICY_ADD;
	m.u.policy.list = RW_LIST_MODULE_ALLOW;
	m.u.policy.count = 1;
	m.u.policy.entries = &e;
	host_send(fd, &m);
	host_send(fd, &m); /* the same seq again: must be delivered once */
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_CHALLENGE;
	m.hdr.seq = 2;
	m.u.challenge.hash_alg = RW_HASH_SHA256;
	m.u.challenge.gva_start = 0xffffffff81000000ull;
	m.u.challenge.length = 4096;
	host_send(fd, &m);
}

static void host_accept_data(struct fake_host *h, const struct rw_msg *m)
{
	enum rw_seq_verdict v = rw_seq_accept(&h->stream, m->hdr.seq, NULL);

	if (m->hdr.version != h->conn_version)
		h->wrong_version++;
	if (v != RW_SEQ_NEW && v != RW_SEQ_GAP)
		return;
	if (m->hdr.type == RW_MSG_CRED_VIOLATION) {
		h->creds++;
		h->last_cred = m->u.cred;
	}
	if (m->hdr.seq > MAX_SEQ) {
		h->over_max++;
		return;
	}
	h->count[m->hdr.seq]++;
	if (m->hdr.type == RW_MSG_LOSS) {
		h->loss_msgs++;
		h->loss_seq = m->hdr.seq;
		h->loss_count = m->u.loss.count;
		h->loss_first = m->u.loss.first_seq;
		h->loss_last = m->u.loss.last_seq;
	}
}

/*
 * Drop the connection and the listener. Alternate between two failures:
 *  - even: the connection drops but the host process survives: it still has
 *    everything it accepted in memory, yet its HELLO announces only the
 *    persisted mark, so the guest resends frames the host already has and
 *    rw_seq must drop them as duplicates;
 *  - odd: the host crashes: what was accepted but not persisted (= not ACKed)
 *    is forgotten, and the guest's resend must fill it in.
 */
static void host_crash(struct fake_host *h)
{
	uint64_t s;
	unsigned r = atomic_fetch_add(&h->restarts, 1);

	if (r % 2 == 0)
		return;
	for (s = h->persisted_hwm + 1; s <= h->stream.hwm && s <= MAX_SEQ; s++)
		h->count[s] = 0;
	if (h->loss_seq > h->persisted_hwm) {
		h->loss_msgs--;
		h->loss_seq = 0;
	}
	h->stream.hwm = h->persisted_hwm;
}

/* Serve one connection. Returns true if the host "crashed". */
static bool host_serve(struct fake_host *h, int fd)
{
	static uint8_t rx[2 * RW_PROTO_MAX_FRAME];
	size_t len = 0, off, flen;
	unsigned since_ack = 0, accepted = 0;
	bool greeted = false;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct rw_msg m;
	ssize_t n;
	int r;

	while (!atomic_load(&h->stop)) {
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = recv(fd, rx + len, sizeof(rx) - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		off = 0;
		while ((r = rw_proto_frame_check(rx + off, len - off, &flen)) == RW_FRAME_COMPLETE) {
			if (rw_proto_decode(rx + off, flen, &m) < 0) {
				h->bad_frames++;
				return false;
			}
			off += flen;
			if (m.hdr.type == RW_MSG_HELLO) {
				if (!host_hello(h, fd, &m))
					return false;
				greeted = true;
				if (h->push_host_frames)
					host_push_frames(h, fd);
				continue;
			}
			if (!greeted) {
				h->bad_frames++;
				return false;
			}
			if (m.hdr.type == RW_MSG_ACK) {
				h->guest_ack_of_host = m.u.ack.acked_seq;
				continue;
			}
			if (m.hdr.type == RW_MSG_GOODBYE)
				return false;
			host_accept_data(h, &m);
			since_ack++;
			accepted++;
			if (h->kill_every && accepted >= h->kill_every) {
				host_crash(h);
				return true;
			}
			if (since_ack >= h->ack_every) {
				if (!host_ack(h, fd))
					return false;
				since_ack = 0;
			}
		}
		if (r < 0) {
			h->bad_frames++;
			return false;
		}
		memmove(rx, rx + off, len - off);
		len -= off;
		/* nothing more buffered: acknowledge what we have */
		if (since_ack && len == 0) {
			if (!host_ack(h, fd))
				return false;
			since_ack = 0;
		}
	}
	return false;
}

static void *host_main(void *arg)
{
	struct fake_host *h = arg;
	struct pollfd pfd;
	int lfd, cfd;
	bool crashed;

	while (!atomic_load(&h->stop)) {
		lfd = listen_unix(h->path);
		if (lfd < 0) {
			perror("fake host: listen");
			return NULL;
		}
		atomic_store(&h->ready, true);
		crashed = false;
		while (!crashed && !atomic_load(&h->stop)) {
			pfd.fd = lfd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 20) <= 0)
				continue;
			cfd = accept(lfd, NULL, NULL);
			if (cfd < 0)
				continue;
			crashed = host_serve(h, cfd);
			close(cfd);
		}
		/* a crash takes the listener down too; the new one comes up a bit later */
		close(lfd);
		unlink(h->path);
		if (crashed)
			sleep_ms(30);
	}
	return NULL;
}

static struct fake_host *host_new(void)
{
	struct fake_host *h = calloc(1, sizeof(*h));
	static unsigned n;

	assert_non_null(h);
	snprintf(h->path, sizeof(h->path), "/tmp/rw-test-chan-%d-%u.sock", (int)getpid(), n++);
	h->ack_every = 64;
	rw_seq_init(&h->stream, 0, NULL, 0);
	return h;
}

static void host_start(struct fake_host *h)
{
	unsigned i;

	assert_int_equal(pthread_create(&h->thread, NULL, host_main, h), 0);
	for (i = 0; i < 500 && !atomic_load(&h->ready); i++)
		sleep_ms(2);
	assert_true(atomic_load(&h->ready));
}

static void host_stop(struct fake_host *h)
{
	atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	atomic_store(&h->stop, false);
	atomic_store(&h->ready, false);
}

static struct rw_chan *chan_new(const struct fake_host *h, size_t cap,
				rw_chan_recv_fn fn, void *ctx)
{
	struct rw_chan_config cfg = {
		.transport = RW_CHAN_UNIX,
		.unix_path = h->path,
		.component = RW_COMP_TEST,
		.session_id = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 },
		.build_id = { 0xde, 0xad },
		.build_id_len = 2,
		.queue_capacity = cap,
		.backoff_min_ms = 5,
		.backoff_max_ms = 40,
		.hello_timeout_ms = 2000,
		.on_message = fn,
		.cb_ctx = ctx,
	};
	int err = 0;
	struct rw_chan *c = rw_chan_new(&cfg, &err);

	if (!c)
		fail_msg("rw_chan_new: %s", strerror(-err));
	return c;
}

static void send_heartbeat(struct rw_chan *c, uint64_t i, int expect)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_HEARTBEAT } };

	m.u.heartbeat.counter = i;
	m.u.heartbeat.uptime_ns = i * 1000;
	assert_int_equal(rw_chan_send(c, &m), expect);
	assert_int_equal(m.hdr.seq, i);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_seq_stream(void **state)
{
	static const uint8_t sid[16] = { 9 };
	struct rw_seq_stream s;
	struct rw_msg_hello hello = { .next_seq = 5 };
	uint64_t missing = 99;

	(void)state;
	rw_seq_init(&s, RW_COMP_KMOD, sid, 0);
	assert_true(rw_seq_same_stream(&s, RW_COMP_KMOD, sid));
	assert_false(rw_seq_same_stream(&s, RW_COMP_AGENT, sid));
	assert_int_equal(rw_seq_accept(&s, 0, &missing), RW_SEQ_INVALID);
	assert_int_equal(rw_seq_accept(&s, 1, &missing), RW_SEQ_NEW);
	assert_int_equal(missing, 0);
	assert_int_equal(rw_seq_accept(&s, 1, NULL), RW_SEQ_DUPLICATE);
	assert_int_equal(rw_seq_accept(&s, 2, NULL), RW_SEQ_NEW);
	assert_int_equal(rw_seq_accept(&s, 6, &missing), RW_SEQ_GAP);
	assert_int_equal(missing, 3);
	assert_int_equal(rw_seq_accept(&s, 4, NULL), RW_SEQ_DUPLICATE); /* lost for good */
	assert_int_equal(rw_seq_ack_value(&s), 6);
	assert_int_equal(s.accepted, 3);
	assert_int_equal(s.duplicates, 2);
	assert_int_equal(s.gaps, 1);
	assert_int_equal(s.missing, 3);
	/* a sender that would reuse accepted numbers may not resume */
	assert_false(rw_seq_resume_ok(&s, &hello));
	hello.next_seq = 7;
	assert_true(rw_seq_resume_ok(&s, &hello));
	/* restart from the persisted mark */
	rw_seq_init(&s, RW_COMP_KMOD, sid, 6);
	assert_int_equal(rw_seq_accept(&s, 6, NULL), RW_SEQ_DUPLICATE);
	assert_int_equal(rw_seq_accept(&s, 7, NULL), RW_SEQ_NEW);
	assert_string_equal(rw_seq_verdict_name(RW_SEQ_GAP), "gap");
}

static void test_config_validation(void **state)
{
	struct rw_chan_config cfg = { .transport = RW_CHAN_UNIX, .unix_path = "/tmp/x",
				      .component = RW_COMP_AGENT };
	struct rw_chan *c;
	int err = 0;

	(void)state;
	c = rw_chan_new(&cfg, &err);
	assert_non_null(c);
	rw_chan_free(c);
	cfg.component = RW_COMP_HOST;
	assert_null(rw_chan_new(&cfg, &err));
	assert_int_equal(err, -EINVAL);
	cfg.component = RW_COMP_AGENT;
	cfg.queue_capacity = 1;
	assert_null(rw_chan_new(&cfg, &err));
	cfg.queue_capacity = 0;
	cfg.unix_path = NULL;
	assert_null(rw_chan_new(&cfg, &err));
	cfg.transport = RW_CHAN_VSOCK;
	c = rw_chan_new(&cfg, &err); /* vsock needs no path */
	assert_non_null(c);
	rw_chan_free(c);
	cfg.build_id_len = RW_PROTO_BUILD_ID_MAX + 1;
	assert_null(rw_chan_new(&cfg, &err));
}

static void test_send_rejects_wrong_types(void **state)
{
	struct fake_host *h = host_new();
	struct rw_chan *c = chan_new(h, 8, NULL, NULL);
	struct rw_msg m = { .hdr = { .type = RW_MSG_ACK } };
	struct rw_chan_stats st;

	(void)state;
	assert_int_equal(rw_chan_send(c, &m), -EINVAL);
	m.hdr.type = RW_MSG_POLICY_UPDATE;
	assert_int_equal(rw_chan_send(c, &m), -EINVAL);
	m.hdr.type = RW_MSG_LOSS;
	assert_int_equal(rw_chan_send(c, &m), -EINVAL);
	m.hdr.type = RW_MSG_LSM_EVENT; /* kind 0: invalid, must not use a number */
	assert_int_equal(rw_chan_send(c, &m), -EINVAL);
	rw_chan_get_stats(c, &st);
	assert_int_equal(st.next_seq, 1);
	assert_int_equal(st.queued, 0);
	rw_chan_free(c);
	free(h);
}

/* 10 000 messages, the host crashing and restarting every 1 500 accepted
 * frames: every sequence number must be delivered exactly once. */
static void test_exactly_once_across_host_restarts(void **state)
{
	const unsigned total = 10000;
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;
	unsigned i, bad = 0;
	struct timespec t0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h->kill_every = 1500;
	h->ack_every = 50;
	host_start(h);
	c = chan_new(h, 256, NULL, NULL);
	for (i = 1; i <= total; i++) {
		while (rw_chan_queue_space(c) == 0) {
			assert_int_equal(rw_chan_poll(c, 10), 0);
			if (ms_since(&t0) > 60000)
				fail_msg("stuck with a full queue at message %u", i);
		}
		send_heartbeat(c, i, 0);
		assert_int_equal(rw_chan_poll(c, 0), 0);
	}
	assert_int_equal(rw_chan_flush(c, 60000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);

	for (i = 1; i <= total; i++)
		if (h->count[i] != 1 && bad++ < 10)
			print_error("seq %u delivered %u times\n", i, h->count[i]);
	assert_int_equal(bad, 0);
	assert_int_equal(h->count[total + 1], 0);
	assert_int_equal(h->over_max, 0);
	assert_int_equal(h->bad_frames, 0);
	assert_int_equal(h->stream.hwm, total);
	assert_int_equal(h->stream.gaps, 0);
	assert_int_equal(st.acked_seq, total);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.lost, 0);
	/* the scenario really happened: crashes, reconnects, resends, dedup */
	assert_true(atomic_load(&h->restarts) >= 5);
	assert_true(st.connects >= 6);
	assert_true(st.resent > 0);
	assert_true(h->stream.duplicates > 0);
	rw_chan_free(c);
	free(h);
}

/* Messages produced while the host is away overflow the queue: the excess is
 * dropped, its numbers used up, and one LOSS reports it after reconnecting. */
static void test_overflow_reported_as_loss(void **state)
{
	const unsigned cap = 64, extra = 37;
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;
	unsigned i;

	(void)state;
	h->ack_every = 8;
	c = chan_new(h, cap, NULL, NULL);
	for (i = 1; i <= cap + extra; i++) {
		send_heartbeat(c, i, i <= cap ? 0 : -ENOBUFS);
		assert_int_equal(rw_chan_poll(c, 0), 0); /* no host: connect fails */
	}
	rw_chan_get_stats(c, &st);
	assert_int_equal(st.lost, extra);
	assert_int_equal(st.queued, cap);
	assert_true(st.connect_attempts >= 1);
	assert_int_equal(st.connects, 0);

	host_start(h);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	for (i = 1; i <= 10; i++)
		send_heartbeat(c, cap + extra + 1 + i, 0);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);

	for (i = 1; i <= cap; i++)
		assert_int_equal(h->count[i], 1);
	for (i = cap + 1; i <= cap + extra; i++)
		assert_int_equal(h->count[i], 0);
	assert_int_equal(h->loss_msgs, 1);
	assert_int_equal(h->loss_seq, cap + extra + 1);
	assert_int_equal(h->loss_count, extra);
	assert_int_equal(h->loss_first, cap + 1);
	assert_int_equal(h->loss_last, cap + extra);
	for (i = cap + extra + 2; i <= cap + extra + 11; i++)
		assert_int_equal(h->count[i], 1);
	assert_int_equal(h->stream.gaps, 1);
	assert_int_equal(h->stream.missing, extra);
	assert_int_equal(st.loss_reports, 1);
	assert_int_equal(st.acked_seq, cap + extra + 11);
	rw_chan_free(c);
	free(h);
}

/* A host without a common version answers ERROR and closes; the guest keeps
 * its queue and retries; once the host accepts, everything flows. */
static void test_version_refused_then_accepted(void **state)
{
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;
	unsigned i;

	(void)state;
	h->refuse_version = true;
	host_start(h);
	c = chan_new(h, 16, NULL, NULL);
	send_heartbeat(c, 1, 0);
	for (i = 0; i < 200 && atomic_load(&h->errors_sent) < 2; i++)
		assert_int_equal(rw_chan_poll(c, 10), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(rw_chan_poll(c, 5), 0);
	rw_chan_get_stats(c, &st);
	assert_true(st.version_errors >= 2);
	assert_int_equal(st.connects, 0);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.version, 0);
	host_stop(h);

	h->refuse_version = false;
	host_start(h);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);
	assert_int_equal(st.version, RW_PROTO_VERSION_MAX);
	assert_int_equal(h->count[1], 1);
	rw_chan_free(c);
	free(h);
}

static void send_cred_violation(struct rw_chan *c, uint64_t seq)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_CRED_VIOLATION } };

	m.u.cred.pid = 4242;
	m.u.cred.tgid = 4242;
	strcpy(m.u.cred.comm, "victim");
	m.u.cred.field_mask = 1u << RW_CRED_UID;
	m.u.cred.old_val[RW_CRED_UID] = 1000;
	m.u.cred.check = RW_CRED_CHECK_FILE_OPEN;
	m.u.cred.action = RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED;
	m.u.cred.error = -1;
	assert_int_equal(rw_chan_send(c, &m), 0);
	assert_int_equal(m.hdr.seq, seq);
}

/*
 * A host that speaks only version 1 gets every queued frame in version 1
 * (CRED_VIOLATION without check/action); a newer host later gets the same
 * queue in the newest version, with them.
 */
static void test_older_host_gets_older_frames(void **state)
{
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;

	(void)state;
	h->max_version = 1;
	host_start(h);
	c = chan_new(h, 16, NULL, NULL);
	send_heartbeat(c, 1, 0);
	send_cred_violation(c, 2);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);
	assert_int_equal(st.version, 1);
	assert_int_equal(st.downgraded, 2);
	assert_int_equal(st.proto_errors, 0);
	assert_int_equal(h->wrong_version, 0);
	assert_int_equal(h->bad_frames, 0);
	assert_int_equal(h->creds, 1);
	assert_int_equal(h->last_cred.pid, 4242);
	assert_int_equal(h->last_cred.old_val[RW_CRED_UID], 1000);
	assert_int_equal(h->last_cred.check, 0);
	assert_int_equal(h->last_cred.action, 0);

	/* the same guest, a new host speaking the newest version */
	h->max_version = 0;
	host_start(h);
	send_cred_violation(c, 3);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);
	assert_int_equal(st.version, RW_PROTO_VERSION_MAX);
	/* frame 3 may first have gone out on the dead version-1 connection */
	assert_true(st.downgraded >= 2);
	assert_int_equal(h->wrong_version, 0);
	assert_int_equal(h->creds, 2);
	assert_int_equal(h->last_cred.check, RW_CRED_CHECK_FILE_OPEN);
	assert_int_equal(h->last_cred.action, RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED);
	assert_int_equal(h->last_cred.error, -1);
	rw_chan_free(c);
	free(h);
}

/*
 * What version 1 does not have (a CRED_CHANGE) is skipped on a version-1
 * connection and counted; the host sees a sequence gap, the rest arrives.
 */
static void test_older_host_skips_newer_types(void **state)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_CRED_CHANGE } };
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;

	(void)state;
	h->max_version = 1;
	host_start(h);
	c = chan_new(h, 16, NULL, NULL);
	send_heartbeat(c, 1, 0);
	m.u.cred_change.pid = 77;
	m.u.cred_change.tgid = 77;
	strcpy(m.u.cred_change.comm, "su");
	m.u.cred_change.via = RW_VIA_TASK_FIX_SETUID;
	m.u.cred_change.syscall_nr = -1;
	m.u.cred_change.old_ids[0] = 1000;
	assert_int_equal(rw_chan_send(c, &m), 0);
	assert_int_equal(m.hdr.seq, 2);
	send_cred_violation(c, 3);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);
	assert_int_equal(st.version, 1);
	assert_int_equal(st.skipped_old_version, 1);
	assert_int_equal(st.proto_errors, 0);
	assert_int_equal(h->bad_frames, 0);
	assert_int_equal(h->wrong_version, 0);
	assert_int_equal(h->count[1], 1);
	assert_int_equal(h->count[2], 0);
	assert_int_equal(h->count[3], 1);
	assert_int_equal(h->stream.gaps, 1);
	assert_int_equal(h->creds, 1);
	rw_chan_free(c);
	free(h);
}

struct recv_log {
	unsigned policies, challenges;
	char name[16];
};

static void on_host_message(void *ctx, const struct rw_msg *m)
{
	struct recv_log *log = ctx;
	struct rw_policy_entry e;
	uint32_t it = 0;

	if (m->hdr.type == RW_MSG_POLICY_UPDATE) {
		log->policies++;
		if (rw_proto_policy_next(&m->u.policy, &it, &e))
			snprintf(log->name, sizeof(log->name), "%s", e.name);
	} else if (m->hdr.type == RW_MSG_CHALLENGE) {
		log->challenges++;
	}
}

/* Host->guest frames reach the callback once per seq and are ACKed. */
static void test_host_frames_delivered_and_acked(void **state)
{
	struct fake_host *h = host_new();
	struct recv_log log = { 0 };
	struct rw_chan_stats st;
	struct rw_chan *c;
	unsigned i;

	(void)state;
	h->push_host_frames = true;
	host_start(h);
	c = chan_new(h, 16, on_host_message, &log);
	send_heartbeat(c, 1, 0);
	assert_int_equal(rw_chan_flush(c, 20000), 0);
	for (i = 0; i < 200 && (log.challenges < 1 || h->guest_ack_of_host < 2); i++)
		assert_int_equal(rw_chan_poll(c, 10), 0);
	rw_chan_get_stats(c, &st);
	host_stop(h);
	assert_int_equal(log.policies, 1);
	assert_int_equal(log.challenges, 1);
	assert_string_equal(log.name, "ext4");
	assert_int_equal(st.host_messages, 2);
	assert_int_equal(h->guest_ack_of_host, 2);
	assert_int_equal(st.proto_errors, 0);
	rw_chan_free(c);
	free(h);
}

/* A host that talks garbage is disconnected, not trusted. */
static void test_garbage_from_host(void **state)
{
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;
	int lfd, cfd = -1;
	unsigned i;

	(void)state;
	lfd = listen_unix(h->path);
	assert_true(lfd >= 0);
	c = chan_new(h, 4, NULL, NULL);
	for (i = 0; i < 100 && cfd < 0; i++) {
		assert_int_equal(rw_chan_poll(c, 5), 0);
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 0) == 1)
			cfd = accept(lfd, NULL, NULL);
	}
	assert_true(cfd >= 0);
	assert_true(send_all(cfd, "GARBAGE-GARBAGE-GARBAGE-GARBAGE!", 32));
	rw_chan_get_stats(c, &st);
	for (i = 0; i < 100 && st.disconnects == 0; i++) {
		assert_int_equal(rw_chan_poll(c, 5), 0);
		rw_chan_get_stats(c, &st);
	}
	assert_true(st.proto_errors >= 1);
	assert_int_equal(st.last_error, RW_EPROTO_BAD_MAGIC);
	assert_true(st.disconnects >= 1);
	assert_int_equal(st.connects, 0);
	close(cfd);
	close(lfd);
	unlink(h->path);
	rw_chan_free(c);
	free(h);
}

/* Reconnect attempts back off exponentially but never beyond the maximum. */
static void test_backoff_bounded(void **state)
{
	struct fake_host *h = host_new();
	struct rw_chan_stats st;
	struct rw_chan *c;
	struct timespec t0;

	(void)state;
	c = chan_new(h, 4, NULL, NULL); /* 5 ms .. 40 ms, nobody listening */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		assert_int_equal(rw_chan_poll(c, 50), 0);
	while (ms_since(&t0) < 1000);
	rw_chan_get_stats(c, &st);
	/* 5+10+20 then every 40 ms: ~25 attempts in 1 s; unbounded doubling
	 * would make 8; no backoff at all would make hundreds */
	if (st.connect_attempts < 15 || st.connect_attempts > 40)
		fail_msg("%lu connect attempts in 1 s", (unsigned long)st.connect_attempts);
	assert_int_equal(st.state, RW_CHAN_DISCONNECTED);
	rw_chan_free(c);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_stream),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_send_rejects_wrong_types),
		cmocka_unit_test(test_exactly_once_across_host_restarts),
		cmocka_unit_test(test_overflow_reported_as_loss),
		cmocka_unit_test(test_version_refused_then_accepted),
		cmocka_unit_test(test_older_host_gets_older_frames),
		cmocka_unit_test(test_older_host_skips_newer_types),
		cmocka_unit_test(test_host_frames_delivered_and_acked),
		cmocka_unit_test(test_garbage_from_host),
		cmocka_unit_test(test_backoff_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

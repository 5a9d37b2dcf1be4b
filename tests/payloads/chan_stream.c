// SPDX-License-Identifier: GPL-2.0
/*
 * Guest test program for the host channel (static; links shared/rw_proto.c,
 * rw_chan.c, rw_seq.c: see scripts/build-payloads, "chan_*").
 *
 *   chan_stream stream N [PORT [TIMEOUT_S [PACE_MS]]]
 *     sends N HEARTBEATs (counter = 1..N, so counter == seq) through rw_chan
 *     to CID 2, never overflowing the queue (no LOSS), and collects the host's
 *     POLICY_UPDATEs, whose generation numbers 1..N identify them; delivery to
 *     this "application" is exactly once (a generation seen again after a
 *     host restart is counted as a redelivery and dropped). Ends when every
 *     heartbeat is acknowledged and every generation arrived, then prints
 *     CHAN-STREAM DONE status=ok ... (or status=timeout). PACE_MS > 0 queues
 *     at most 50 messages per PACE_MS (so a test can act mid-stream).
 *   chan_stream garbage|oversized|badversion [PORT]
 *     one raw AF_VSOCK connection sending a bad first frame; prints
 *     CHAN-BAD mode=... closed=1 error=CODE when the host answered with ERROR
 *     and closed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "shared/rw_chan.h"
#include "shared/rw_proto.h"

struct host_rx {
	unsigned n;
	uint8_t *seen; /* by generation */
	unsigned unique, redelivered, bad;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_host(void *ctx, const struct rw_msg *m)
{
	struct host_rx *h = ctx;
	uint32_t g;

	if (m->hdr.type != RW_MSG_POLICY_UPDATE) {
		h->bad++;
		return;
	}
	g = m->u.policy.generation;
	if (g < 1 || g > h->n) {
		h->bad++;
		return;
	}
	if (h->seen[g]) {
		h->redelivered++;
		return;
	}
	h->seen[g] = 1;
	h->unique++;
}

static int run_stream(unsigned n, unsigned port, unsigned timeout_s, unsigned pace_ms)
{
	struct rw_chan_config cfg;
	struct host_rx h = { .n = n };
	struct rw_chan_stats st;
	struct rw_chan *c;
	uint64_t start = now_ms(), last_report = 0, next_batch = 0;
	unsigned sent = 0;
	int err = 0, ok = 0;

	h.seen = calloc(n + 1u, 1);
	if (!h.seen)
		return 1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.transport = RW_CHAN_VSOCK;
	cfg.vsock_port = port;
	cfg.component = RW_COMP_TEST;
	if (getrandom(cfg.session_id, sizeof(cfg.session_id), 0) != (ssize_t)sizeof(cfg.session_id)) {
		perror("getrandom");
		return 1;
	}
	cfg.queue_capacity = 2048;
	cfg.backoff_min_ms = 50;
	cfg.backoff_max_ms = 400;
	cfg.hello_timeout_ms = 3000;
	cfg.on_message = on_host;
	cfg.cb_ctx = &h;
	c = rw_chan_new(&cfg, &err);
	if (!c) {
		fprintf(stderr, "rw_chan_new: %d\n", err);
		return 1;
	}
	for (;;) {
		uint64_t t = now_ms();

		unsigned budget = pace_ms ? 50 : n;

		if (pace_ms && t < next_batch)
			budget = 0;
		else if (pace_ms)
			next_batch = t + pace_ms;
		/* keep one slot free: a full queue would drop (LOSS) */
		while (sent < n && budget-- && rw_chan_queue_space(c) > 1) {
			struct rw_msg m;

			memset(&m, 0, sizeof(m));
			m.hdr.type = RW_MSG_HEARTBEAT;
			m.u.heartbeat.counter = sent + 1u;
			m.u.heartbeat.uptime_ns = t * 1000000u;
			if (rw_chan_send(c, &m) != 0) {
				fprintf(stderr, "rw_chan_send failed at %u\n", sent + 1);
				return 1;
			}
			sent++;
		}
		rw_chan_poll(c, 20);
		rw_chan_get_stats(c, &st);
		if (sent == n && st.queued == 0 && st.acked_seq >= n && h.unique == n) {
			ok = 1;
			break;
		}
		if (t - start > timeout_s * 1000ull)
			break;
		if (t - last_report >= 2000) {
			last_report = t;
			printf("CHAN-STREAM progress sent=%u acked=%llu host_unique=%u state=%s connects=%llu\n",
			       sent, (unsigned long long)st.acked_seq, h.unique,
			       rw_chan_state_name(st.state), (unsigned long long)st.connects);
			fflush(stdout);
		}
	}
	rw_chan_disconnect(c, RW_BYE_SHUTDOWN);
	rw_chan_get_stats(c, &st);
	printf("CHAN-STREAM DONE status=%s sent=%u acked=%llu lost=%llu connects=%llu "
	       "disconnects=%llu resent=%llu frames=%llu host_unique=%u host_redelivered=%u "
	       "host_bad=%u host_frames=%llu proto_errors=%llu ms=%llu\n",
	       ok ? "ok" : "timeout", sent, (unsigned long long)st.acked_seq,
	       (unsigned long long)st.lost, (unsigned long long)st.connects,
	       (unsigned long long)st.disconnects, (unsigned long long)st.resent,
	       (unsigned long long)st.frames_sent, h.unique, h.redelivered, h.bad,
	       (unsigned long long)st.host_messages, (unsigned long long)st.proto_errors,
	       (unsigned long long)(now_ms() - start));
	fflush(stdout);
	rw_chan_free(c);
	free(h.seen);
	return ok ? 0 : 1;
}

/* A bad first frame on a raw connection; report what the host did. */
static int run_bad(const char *mode, unsigned port)
{
	struct sockaddr_vm a;
	uint8_t out[64], in[4096];
	size_t got = 0, outlen = sizeof(out);
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0), code = -1, closed = 0;
	uint64_t start = now_ms();

	if (fd < 0) {
		perror("socket");
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.svm_family = AF_VSOCK;
	a.svm_cid = VMADDR_CID_HOST;
	a.svm_port = port;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("CHAN-BAD mode=%s connect-failed errno=%d\n", mode, errno);
		return 1;
	}
	memset(out, 0, sizeof(out));
	if (!strcmp(mode, "garbage")) {
		for (size_t i = 0; i < sizeof(out); i++)
			out[i] = (uint8_t)(0x5a ^ (i * 37));
	} else {
		/* a frame header; then break one field */
		out[0] = 'R', out[1] = 'W', out[2] = 'C', out[3] = '1';
		out[4] = 1;          /* version */
		out[6] = RW_MSG_HELLO;
		out[10] = 32;        /* hdr_len */
		out[24] = RW_COMP_TEST;
		if (!strcmp(mode, "oversized")) {
			out[12] = 0x00, out[13] = 0x00, out[14] = 0x10; /* 1 MiB payload */
		} else { /* badversion */
			out[4] = 77;
		}
		outlen = 32;
	}
	if (send(fd, out, outlen, MSG_NOSIGNAL) != (ssize_t)outlen) {
		printf("CHAN-BAD mode=%s send-failed errno=%d\n", mode, errno);
		return 1;
	}
	while (now_ms() - start < 20000) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 500) <= 0)
			continue;
		n = recv(fd, in + got, sizeof(in) - got, 0);
		if (n <= 0) {
			closed = 1;
			break;
		}
		got += (size_t)n;
	}
	if (got >= 32) {
		struct rw_msg m;
		size_t flen;

		if (rw_proto_frame_check(in, got, &flen) == RW_FRAME_COMPLETE &&
		    rw_proto_decode(in, flen, &m) == 0 && m.hdr.type == RW_MSG_ERROR)
			code = m.u.error.code;
	}
	printf("CHAN-BAD mode=%s closed=%d error=%d bytes=%zu\n", mode, closed, code, got);
	fflush(stdout);
	close(fd);
	return closed && code > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned port = RW_CHAN_DEFAULT_PORT;

	if (argc >= 3 && !strcmp(argv[1], "stream")) {
		unsigned n = (unsigned)strtoul(argv[2], NULL, 0);
		unsigned timeout_s = argc >= 5 ? (unsigned)strtoul(argv[4], NULL, 0) : 600;
		unsigned pace_ms = argc >= 6 ? (unsigned)strtoul(argv[5], NULL, 0) : 0;

		if (argc >= 4)
			port = (unsigned)strtoul(argv[3], NULL, 0);
		if (n < 1 || n > 10000000)
			return 2;
		return run_stream(n, port, timeout_s, pace_ms);
	}
	if (argc >= 2 && (!strcmp(argv[1], "garbage") || !strcmp(argv[1], "oversized") ||
			  !strcmp(argv[1], "badversion"))) {
		if (argc >= 3)
			port = (unsigned)strtoul(argv[2], NULL, 0);
		return run_bad(argv[1], port);
	}
	fprintf(stderr, "usage: chan_stream stream N [PORT [TIMEOUT_S [PACE_MS]]] | garbage|oversized|badversion [PORT]\n");
	return 2;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Guest test program: flood the host channel (static; links shared/rw_proto.c,
 * rw_chan.c, rw_seq.c: see scripts/build-payloads, "chan_*").
 *
 *   chan_flood SECONDS [PORT]
 *     for SECONDS (or until SIGTERM/SIGINT), queues LSM_EVENT messages (component test, kind exec,
 *     path "/flood/N") through rw_chan to CID 2 as fast as the host
 *     acknowledges them: the queue is kept full (one slot spare, so nothing is
 *     dropped as LOSS), so the send rate is the host's receive + decode +
 *     store + ACK rate, bounded by what this guest can encode.  Each message
 *     becomes one stored event on the host.  Then waits (at most 60 s) until
 *     every message is acknowledged and prints
 *       CHAN-FLOOD DONE status=ok|unacked sent=N acked=N lost=N connects=N
 *                       frames=N ms=MS rate=MSG_PER_S
 *     (rate: messages acknowledged while flooding, per second of flooding).
 *     Every 2 s: CHAN-FLOOD progress sent=N acked=N state=S.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shared/rw_chan.h"
#include "shared/rw_proto.h"

#define FLOOD_QUEUE 4096u
#define FLOOD_MAX_SECONDS 3600u
#define FLUSH_TIMEOUT_MS 60000

static volatile sig_atomic_t stop_flood;

static void on_stop(int sig)
{
	(void)sig;
	stop_flood = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One flood message: a harmless exec report the host stores as an info event. */
static int queue_one(struct rw_chan *c, uint64_t n, uint32_t pid)
{
	char path[48];
	struct rw_msg m;
	int len = snprintf(path, sizeof(path), "/flood/%llu", (unsigned long long)n);

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_LSM_EVENT;
	m.u.lsm.kind = RW_LSM_EXEC;
	m.u.lsm.verdict = 0;
	m.u.lsm.pid = pid;
	m.u.lsm.uid = 0;
	snprintf(m.u.lsm.comm, sizeof(m.u.lsm.comm), "chan_flood");
	m.u.lsm.path = path;
	m.u.lsm.path_len = (uint16_t)len;
	return rw_chan_send(c, &m);
}

static int run_flood(unsigned seconds, unsigned port)
{
	struct rw_chan_config cfg;
	struct rw_chan_stats st;
	struct rw_chan *c;
	uint64_t start, end, stopped, last_report = 0, sent = 0, acked_at_end;
	uint32_t pid = (uint32_t)getpid();
	int err = 0, flushed;

	memset(&cfg, 0, sizeof(cfg));
	cfg.transport = RW_CHAN_VSOCK;
	cfg.vsock_port = port;
	cfg.component = RW_COMP_TEST;
	if (getrandom(cfg.session_id, sizeof(cfg.session_id), 0) != (ssize_t)sizeof(cfg.session_id)) {
		perror("getrandom");
		return 1;
	}
	cfg.queue_capacity = FLOOD_QUEUE;
	cfg.backoff_min_ms = 50;
	cfg.backoff_max_ms = 400;
	cfg.hello_timeout_ms = 5000;
	c = rw_chan_new(&cfg, &err);
	if (!c) {
		fprintf(stderr, "rw_chan_new: %d\n", err);
		return 1;
	}
	start = now_ms();
	end = start + seconds * 1000ull;
	for (;;) {
		uint64_t t = now_ms();

		if (t >= end || stop_flood)
			break;
		/* keep one slot free: a full queue would drop (LOSS) */
		while (rw_chan_queue_space(c) > 1) {
			if (queue_one(c, sent + 1, pid) != 0) {
				fprintf(stderr, "rw_chan_send failed at %llu\n",
					(unsigned long long)sent + 1);
				rw_chan_free(c);
				return 1;
			}
			sent++;
		}
		rw_chan_poll(c, 5);
		if (t - last_report >= 2000) {
			last_report = t;
			rw_chan_get_stats(c, &st);
			printf("CHAN-FLOOD progress sent=%llu acked=%llu state=%s\n",
			       (unsigned long long)sent, (unsigned long long)st.acked_seq,
			       rw_chan_state_name(st.state));
			fflush(stdout);
		}
	}
	stopped = now_ms();
	rw_chan_get_stats(c, &st);
	acked_at_end = st.acked_seq;
	flushed = rw_chan_flush(c, FLUSH_TIMEOUT_MS) == 0;
	rw_chan_disconnect(c, RW_BYE_SHUTDOWN);
	rw_chan_get_stats(c, &st);
	printf("CHAN-FLOOD DONE status=%s sent=%llu acked=%llu lost=%llu connects=%llu frames=%llu "
	       "ms=%llu rate=%llu\n", flushed ? "ok" : "unacked", (unsigned long long)sent,
	       (unsigned long long)st.acked_seq, (unsigned long long)st.lost,
	       (unsigned long long)st.connects, (unsigned long long)st.frames_sent,
	       (unsigned long long)(stopped - start),
	       (unsigned long long)(acked_at_end * 1000u / (stopped - start + 1)));
	fflush(stdout);
	rw_chan_free(c);
	return flushed && st.lost == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned seconds, port = RW_CHAN_DEFAULT_PORT;
	char *end;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: chan_flood SECONDS [PORT]\n");
		return 2;
	}
	errno = 0;
	seconds = (unsigned)strtoul(argv[1], &end, 10);
	if (errno || *end || seconds < 1 || seconds > FLOOD_MAX_SECONDS) {
		fprintf(stderr, "chan_flood: SECONDS must be 1..%u\n", FLOOD_MAX_SECONDS);
		return 2;
	}
	if (argc == 3) {
		port = (unsigned)strtoul(argv[2], &end, 10);
		if (*end || port == 0) {
			fprintf(stderr, "chan_flood: bad PORT '%s'\n", argv[2]);
			return 2;
		}
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	return run_flood(seconds, port);
}

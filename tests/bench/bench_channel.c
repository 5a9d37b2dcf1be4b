// SPDX-License-Identifier: GPL-2.0
/*
 * Channel throughput and round-trip latency, host side of transport B:
 * a relayed stream (the unix connection ringwatch-vsockd makes, preamble
 * included) into the channel service running in a thread, with the file
 * event store (no fsync) and store-then-ack; against a plain unix-socket echo
 * of the same message size in the same run.
 *
 *   throughput: N heartbeats pipelined, until the cumulative ACK covers them
 *   latency:    one heartbeat, wait for its ACK (store commit included)
 *
 * The guest's virtio path is not in this number: under TCG the guest is the
 * bottleneck (e2e_channel prints the guest's own rate: 10 000 messages each
 * way in a few seconds).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/channel_service.h"
#include "host/channel_store.h"
#include "host/vsock_relay.h"
#include "shared/rw_proto.h"

#define N_MSGS 200000u
#define N_RTT 5000u
#define HB_SIZE 48u

static atomic_bool stop;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_channel: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void quiet(void *o, int level, const char *msg)
{
	(void)o;
	if (level <= 1)
		fprintf(stderr, "bench_channel: service: %s\n", msg);
}

static void *service_thread(void *arg)
{
	struct rw_channel_service *svc = arg;

	while (!atomic_load(&stop))
		rw_channel_service_run_once(svc, 50);
	return NULL;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

static size_t heartbeat(uint8_t *buf, uint64_t seq)
{
	struct rw_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HEARTBEAT;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.seq = seq;
	m.u.heartbeat.counter = seq;
	return (size_t)rw_proto_encode(&m, buf, 64);
}

/* Read host frames until an ACK >= want arrives. */
static void wait_ack(int fd, uint64_t want, uint8_t *rx, size_t *rx_len)
{
	for (;;) {
		size_t off = 0, flen;
		struct rw_msg m;
		ssize_t n;

		while (rw_proto_frame_check(rx + off, *rx_len - off, &flen) == RW_FRAME_COMPLETE) {
			if (rw_proto_decode(rx + off, flen, &m) != 0) {
				fprintf(stderr, "bench_channel: bad frame from the host\n");
				exit(1);
			}
			off += flen;
			if (m.hdr.type == RW_MSG_ERROR) {
				fprintf(stderr, "bench_channel: host ERROR %u\n", m.u.error.code);
				exit(1);
			}
			if (m.hdr.type == RW_MSG_ACK && m.u.ack.acked_seq >= want) {
				memmove(rx, rx + off, *rx_len - off);
				*rx_len -= off;
				return;
			}
		}
		memmove(rx, rx + off, *rx_len - off);
		*rx_len -= off;
		n = read(fd, rx + *rx_len, RW_PROTO_MAX_FRAME - *rx_len);
		if (n <= 0)
			die("read from the channel service");
		*rx_len += (size_t)n;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench_channel(const char *sock, double *rate, double *rtt_us)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct rw_relay_preamble p = { .kind = RW_RELAY_STREAM, .cid = 3, .guest_port = 1,
				       .host_port = 7391, .vm = "bench" };
	uint8_t pre[RW_RELAY_PREAMBLE_LEN], *batch, *rx = malloc(RW_PROTO_MAX_FRAME);
	double *lat = calloc(N_RTT, sizeof(double)), t0;
	size_t rx_len = 0, n;
	uint64_t seq = 0;
	struct rw_msg m;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	batch = malloc((size_t)1024 * HB_SIZE);
	if (!rx || !lat || !batch)
		die("malloc");
	if (strlen(sock) >= sizeof(un.sun_path))
		die("socket path too long");
	memcpy(un.sun_path, sock, strlen(sock));
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
		die("connect");
	rw_relay_preamble_encode(&p, pre);
	write_all(fd, pre, sizeof(pre));
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HELLO;
	m.hdr.component = RW_COMP_TEST;
	m.hdr.version = 1;
	m.u.hello.version_min = m.u.hello.version_max = 1;
	memset(m.u.hello.session_id, 0xbe, RW_PROTO_SESSION_ID_LEN);
	m.u.hello.next_seq = 1;
	n = (size_t)rw_proto_encode(&m, batch, 256);
	write_all(fd, batch, n);

	/* throughput: batches of 1024 frames, the host ACKs per read */
	t0 = now_s();
	while (seq < N_MSGS) {
		size_t len = 0;

		for (unsigned i = 0; i < 1024 && seq < N_MSGS; i++)
			len += heartbeat(batch + len, ++seq);
		write_all(fd, batch, len);
		if (seq % (16 * 1024) == 0)
			wait_ack(fd, seq - 8 * 1024, rx, &rx_len); /* bounded in flight */
	}
	wait_ack(fd, seq, rx, &rx_len);
	*rate = N_MSGS / (now_s() - t0);

	for (unsigned i = 0; i < N_RTT; i++) {
		n = heartbeat(batch, ++seq);
		t0 = now_s();
		write_all(fd, batch, n);
		wait_ack(fd, seq, rx, &rx_len);
		lat[i] = (now_s() - t0) * 1e6;
	}
	qsort(lat, N_RTT, sizeof(double), cmp_double);
	*rtt_us = lat[N_RTT / 2];
	close(fd);
	free(rx);
	free(lat);
	free(batch);
}

static void *echo_thread(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[65536];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return NULL;
		write_all(fd, buf, (size_t)n);
	}
}

static void read_n(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len > 65536 ? 65536 : len);

		if (n <= 0)
			die("echo read");
		len -= (size_t)n;
	}
}

static void bench_echo(double *rate, double *rtt_us)
{
	int sv[2];
	pthread_t th;
	uint8_t *batch = calloc(1024, HB_SIZE), *sink = malloc(1024 * HB_SIZE);
	double *lat = calloc(N_RTT, sizeof(double)), t0;
	uint64_t sent = 0, back = 0;

	if (!batch || !sink || !lat || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("echo setup");
	pthread_create(&th, NULL, echo_thread, &sv[1]);
	/* pipelined in batches of 1024 messages (a batch fits the socket buffers) */
	t0 = now_s();
	while (sent < N_MSGS) {
		write_all(sv[0], batch, 1024 * HB_SIZE);
		sent += 1024;
		read_n(sv[0], sink, 1024 * HB_SIZE);
		back += 1024;
	}
	*rate = (double)sent / (now_s() - t0);
	for (unsigned i = 0; i < N_RTT; i++) {
		t0 = now_s();
		write_all(sv[0], batch, HB_SIZE);
		read_n(sv[0], sink, HB_SIZE);
		lat[i] = (now_s() - t0) * 1e6;
	}
	qsort(lat, N_RTT, sizeof(double), cmp_double);
	*rtt_us = lat[N_RTT / 2];
	close(sv[0]);
	pthread_join(th, NULL);
	close(sv[1]);
	free(batch);
	free(sink);
	free(lat);
}

int main(void)
{
	char dir[] = "/tmp/rw-bench-chan-XXXXXX", sock[128], err[256], cmd[128];
	struct rw_channel_service_config cfg;
	struct rw_channel_service *svc;
	struct rw_ch_file_store *store;
	double ch_rate, ch_rtt, echo_rate, echo_rtt;
	pthread_t th;

	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(sock, sizeof(sock), "%s/chan.sock", dir);
	store = rw_ch_file_store_open(dir, false, NULL);
	if (!store)
		die("store");
	memset(&cfg, 0, sizeof(cfg));
	cfg.unix_path = sock;
	rw_ch_file_store_sink(store, &cfg.ch.sink, &cfg.ch.sink_ctx);
	cfg.ch.log.fn = quiet;
	svc = rw_channel_service_new(&cfg, err, sizeof(err));
	if (!svc) {
		fprintf(stderr, "bench_channel: %s\n", err);
		return 1;
	}
	pthread_create(&th, NULL, service_thread, svc);
	bench_channel(sock, &ch_rate, &ch_rtt);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	rw_channel_service_free(svc);
	rw_ch_file_store_close(store);
	bench_echo(&echo_rate, &echo_rtt);

	printf("channel (relay stream -> service -> file store -> ACK): %.0f msg/s, "
	       "round trip median %.1f us\n", ch_rate, ch_rtt);
	printf("plain unix-socket echo (%u-byte messages): %.0f msg/s, round trip median %.1f us\n",
	       HB_SIZE, echo_rate, echo_rtt);
	printf("channel vs unix echo ratio: throughput %.2f, latency %.2fx\n", ch_rate / echo_rate,
	       ch_rtt / echo_rtt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_channel: could not remove %s\n", dir);
	return 0;
}

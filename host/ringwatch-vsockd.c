// SPDX-License-Identifier: GPL-2.0
/* ringwatch-vsockd: the vhost-user-vsock device of one VM. Relays guest
 * streams to ringwatchd's channel socket and hands it the guest RAM; survives
 * ringwatchd restarts (QEMU 7.2 cannot reconnect a vhost-user-vsock back-end).
 * See host/vsock_relay.h and docs/vhost-user-vsock.md.
 *
 *   ringwatch-vsockd --vm NAME --cid CID --socket VHOST_SOCK --upstream CHAN_SOCK
 *                    [--port P]... [--verbose]
 *
 * Start it before QEMU (QEMU 7.2 cannot connect later). SIGTERM/SIGINT stop it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/vsock_relay.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void log_line(void *opaque, int level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	const char *vm = opaque;
	int max = getenv("RW_VSOCKD_DEBUG") ? VHU_LOG_DEBUG : VHU_LOG_INFO;
	struct timespec ts;

	if (level > max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%03ld ringwatch-vsockd[%s] %s: %s\n", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000, vm, names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: ringwatch-vsockd --vm NAME --cid CID --socket VHOST_SOCK "
		     "--upstream CHAN_SOCK [--port P]...\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct vsock_relay_config cfg = { 0 };
	uint32_t ports[16], cid = 0;
	unsigned nports = 0;
	struct vsock_relay *r;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "ringwatch-vsockd: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--vm")) {
			cfg.vm_name = v;
		} else if (!strcmp(a, "--cid")) {
			if (parse_u32(v, &cid) || cid < 3) {
				fprintf(stderr, "ringwatch-vsockd: bad CID '%s' (>= 3)\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--socket")) {
			cfg.vhost_socket = v;
		} else if (!strcmp(a, "--upstream")) {
			cfg.upstream = v;
		} else if (!strcmp(a, "--port")) {
			if (nports == 16 || parse_u32(v, &ports[nports]) || !ports[nports]) {
				fprintf(stderr, "ringwatch-vsockd: bad or too many --port '%s'\n", v);
				return 2;
			}
			nports++;
		} else {
			fprintf(stderr, "ringwatch-vsockd: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.vm_name || !cid || !cfg.vhost_socket || !cfg.upstream) {
		usage(stderr);
		return 2;
	}
	cfg.guest_cid = cid;
	cfg.ports = ports;
	cfg.nports = nports;
	cfg.log.fn = log_line;
	cfg.log.opaque = (void *)cfg.vm_name;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = vsock_relay_new(&cfg);
	if (!r) {
		fprintf(stderr, "ringwatch-vsockd: cannot start on %s: %s\n", cfg.vhost_socket,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "ringwatch-vsockd[%s]: listening on %s (cid %u), upstream %s\n",
		cfg.vm_name, cfg.vhost_socket, cid, cfg.upstream);
	while (!stop_requested) {
		int e = vsock_relay_run_once(r, 500);

		if (e < 0) {
			fprintf(stderr, "ringwatch-vsockd: event loop failed: %s\n", strerror(-e));
			vsock_relay_free(r);
			return 1;
		}
	}
	vsock_relay_free(r);
	return 0;
}

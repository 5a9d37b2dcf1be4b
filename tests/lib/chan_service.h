/* SPDX-License-Identifier: GPL-2.0 */
/* A channel service process for tests (what ringwatchd runs, minus the rest
 * of the daemon): rw_channel_service + the file event store, plus a small
 * "policy pusher" that sends host_msgs POLICY_UPDATEs (generation 1..N) to
 * every guest stream (generation g only after the stream's g-th message is
 * stored, so both directions progress together) and persists how far the guest acknowledged them, so a
 * SIGKILLed and restarted service resumes where the guest's ACKs left it.
 * On each guest RAM table it searches the kernel banner and writes it to
 * state_dir/banner-<pid>.txt.
 *
 * Challenges (with qmp_path and vmlinux): a request file
 * state_dir/challenge.req, "<va hex> <len> <nonce: 32 hex>", is turned into
 * a CHALLENGE (HMAC-SHA256) to the guest's kmod stream. The expected answer
 * comes from the service's own read of guest memory: the RAM regions
 * ringwatch-vsockd handed over, the VA translated with vmi_linux_attach
 * (registers over QMP, the kit's vmlinux as catalog). When the
 * CHALLENGE_RESPONSE arrives the verdict goes to state_dir/challenge.result:
 * "seq=<challenge seq> status=<n> match=<0|1> expected=<hex> got=<hex>"
 * (or "error=<why>" when the host could not compute its own answer). */
#ifndef RW_TESTS_CHAN_SERVICE_H
#define RW_TESTS_CHAN_SERVICE_H

#include <stdint.h>

struct rw_test_chan_service {
	const char *unix_path;  /* transport B listener, or NULL */
	uint32_t vsock_port;    /* transport A, or 0 */
	const char *store_dir;  /* file event store (must exist) */
	const char *state_dir;  /* host-acked marks, banner files (must exist) */
	unsigned host_msgs;     /* POLICY_UPDATEs per stream */
	unsigned window;        /* unacknowledged host messages in flight (default 256) */
	const char *qmp_path;   /* challenges: the VM's QMP socket (registers) */
	const char *vmlinux;    /* challenges: the kit's vmlinux (catalog) */
};

/* Runs until SIGTERM/SIGINT; returns a process exit code. Logs to stderr. */
int rw_test_chan_service_run(const struct rw_test_chan_service *o);

#endif

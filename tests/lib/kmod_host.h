/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host end of a guest whose ringwatch.ko talks over vsock, for e2e
 * tests that assert on what the host received:
 *
 *   guest ringwatch.ko --AF_VSOCK--> virtio-vsock (vhost-user)
 *   ringwatch-vsockd (child) --unix relay--> channel service (child,
 *   tests/lib/chan_service.h) --> file event store (the frames as stored)
 *
 * rw_kmod_host_scan() walks the stored kmod stream: every record must be the
 * next sequence number (1, 2, ...) and decode as a kmod frame, so a frame
 * the host holds proves it holds every earlier one.  Failures fail the test.
 */
#ifndef RW_TESTS_KMOD_HOST_H
#define RW_TESTS_KMOD_HOST_H

#include <stdint.h>
#include <sys/types.h>

#include "shared/rw_proto.h"
#include "tests/lib/harness.h"

struct rw_kmod_host {
	char dir[128];
	char store[256], state[256], chan_sock[256], vhost_sock[256];
	char svc_log[256], vsockd_log[256];
	pid_t svc, vsockd;
	uint32_t cid;
};

/* Fresh temp dir (tag), channel service and ringwatch-vsockd for guest cid. */
void rw_kmod_host_start(struct rw_kmod_host *h, const struct rw_test_env *env, const char *tag,
			uint32_t cid);
/* Point a boot at the host: vhost-user vsock on h's socket, h's cid. */
void rw_kmod_host_boot_opts(const struct rw_kmod_host *h, struct rw_test_boot *opts);
/* Stop both children and remove the directory. */
void rw_kmod_host_stop(struct rw_kmod_host *h);

/* Called for each stored frame of the kmod stream, in sequence order. */
typedef void (*rw_kmod_host_fn)(void *ctx, const struct rw_msg *m);
/* Walk the stored stream; returns the highest seq stored (0: nothing yet). */
uint64_t rw_kmod_host_scan(const struct rw_kmod_host *h, rw_kmod_host_fn fn, void *ctx);
/* Wait up to timeout_s until the host stored every frame up to seq. */
void rw_kmod_host_wait_seq(const struct rw_kmod_host *h, uint64_t seq, int timeout_s);

#endif

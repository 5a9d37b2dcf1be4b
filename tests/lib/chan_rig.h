/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host side of a channel e2e test over transport B, under one temporary
 * directory: a test channel service child (tests/lib/chan_service.h) with its
 * file event store, and ringwatch-vsockd as the VM's vhost-user-vsock
 * back-end relaying to it:
 *
 *   guest --AF_VSOCK--> virtio-vsock (vhost-user)
 *   ringwatch-vsockd (child) --unix relay--> channel service (child)
 *   --> file event store (the frames as stored)
 *
 * rw_test_chan_rig_scan() walks the stored stream: every record must be the
 * next sequence number (1, 2, ...) and decode as a frame of the expected
 * component, so a frame the host holds proves it holds every earlier one.
 * Plus the small helpers these tests share.  Failures fail the calling
 * cmocka test.
 */
#ifndef RW_TESTS_CHAN_RIG_H
#define RW_TESTS_CHAN_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shared/rw_proto.h"
#include "tests/lib/chan_service.h"
#include "tests/lib/harness.h"

struct rw_test_chan_rig {
	char dir[128];			/* /tmp/rwtest-<tag>-XXXXXX */
	char store[256];		/* dir/store: the service's event store */
	char state[256];		/* dir/state: the service's state files */
	char chan_sock[256];		/* dir/chan.sock: the service's listener */
	char vhost_sock[256];		/* dir/vhost.sock: vsockd's vhost-user socket */
	char svc_log[256];		/* dir/service.log */
	char vsockd_log[256];		/* dir/vsockd.log */
	char overlay[256];		/* dir/overlay (not created) */
	pid_t svc, vsockd;		/* running children, 0: none */
};

/* Run scripts/build-payloads for the kit (the guest payloads a test needs). */
void rw_test_build_payloads(const struct rw_test_env *env);

/* Make the temporary directory (tag names it) and its store/ and state/. */
void rw_test_chan_rig_init(struct rw_test_chan_rig *r, const char *tag);

/*
 * Fork the channel service with @o, its unix_path/store_dir/state_dir set to
 * the rig's (the rest is the caller's), output to r->svc_log, and wait (up to
 * 5 s) for its listener; fails if it does not appear.  Returns its pid.
 */
pid_t rw_test_chan_rig_start_service(const struct rw_test_chan_rig *r,
				     const struct rw_test_chan_service *o);

/* Start ringwatch-vsockd for VM @vm_name (guest CID @cid), relaying to the
 * service's socket; waits for its vhost-user socket.  Returns its pid. */
pid_t rw_test_chan_rig_start_vsockd(const struct rw_test_chan_rig *r,
				    const struct rw_test_env *env, const char *vm_name,
				    unsigned int cid);

/* Boot options for a guest behind the rig's vsockd (overlay dir/overlay). */
void rw_test_chan_rig_boot_opts(const struct rw_test_chan_rig *r, unsigned int cid,
				struct rw_test_boot *opts);

/* SIGTERM and reap vsockd and the service, remove the directory. */
void rw_test_chan_rig_stop(struct rw_test_chan_rig *r);

/* The one stream log in the store into @out ("" if none yet); fails on more than one. */
void rw_test_chan_rig_store_log(const struct rw_test_chan_rig *r, char *out, size_t len);

/* Called for each stored frame of the stream, in sequence order. */
typedef void (*rw_test_frame_fn)(void *ctx, const struct rw_msg *m);

/*
 * Walk the store's one stream: every record must be the next sequence number
 * (1, 2, ...) and decode as a frame of @component with that seq, else the
 * test fails.  @fn (may be NULL) sees each frame; *@torn (may be NULL) is set
 * when the log ends in a torn record.  Returns the highest seq stored (0: none).
 */
uint64_t rw_test_chan_rig_scan(const struct rw_test_chan_rig *r, uint8_t component,
			       rw_test_frame_fn fn, void *ctx, bool *torn);

/* Wait up to @timeout_s until the store holds the kmod (ringwatch.ko) stream up to @seq. */
void rw_test_chan_rig_wait_kmod_seq(const struct rw_test_chan_rig *r, uint64_t seq,
				    int timeout_s);

/* Send @sig to child @pid (if > 0) and reap it. */
void rw_test_kill_wait(pid_t pid, int sig);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t rw_test_mono_ms(void);

/* The whole file, NUL-terminated (free it), or NULL. */
char *rw_test_slurp(const char *path);

#endif

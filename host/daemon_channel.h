/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest channel inside ringwatchd: the channel service
 * (host/channel_service.h) on its own thread, with the daemon's SQLite store
 * as its sink.
 *
 *  - Store-then-ack: the messages a guest stream delivers become rows, and
 *    the stream's high-water mark is written, in ONE transaction
 *    (rw_store_channel_commit) before channel_host sends the ACK.  LSM events,
 *    credential violations, losses and challenge responses are events
 *    (source = "kmod" / "agent" / "test", check = "lsm-event",
 *    "cred-violation", "channel-loss", "challenge-response", "guard-event" —
 *    the guest module's own events: hook_lost alert, unload_attempt and other
 *    losses of protection warning, the rest info); heartbeats, CPU-state
 *    reports and the module's self-description (kind "module-self") update
 *    latest-state rows (table channel_state) instead of flooding the events
 *    table.  CPU-state and module-self rows carry the stream's session, so a
 *    reader can tell which module load vouched for them.
 *  - Once committed, events go to the outputs and metrics; responses run on a
 *    separate responder thread (a dump or pause never stalls guest streams).
 *  - Policy updates (ringwatch policy, the push-policy response) go out as
 *    POLICY_UPDATE frames on the VM's agent stream; the caller waits for the
 *    guest's ACK of the frame (the agent ACKs after applying it).
 *  - Health per VM: connected streams, last message, messages, losses.
 *  - Guest RAM received over transport B (ringwatch-vsockd's control
 *    connection) is the VM's memory source when it has no other.
 *
 * A misbehaving stream is closed by channel_host/channel_service with its
 * reason logged; nothing here blocks on a guest.  The thread never takes
 * d->lock while holding the channel lock (order: d->lock, then chan->lock).
 */
#ifndef RW_HOST_DAEMON_CHANNEL_H
#define RW_HOST_DAEMON_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct rw_daemon;
struct rw_msg_cred_violation;

/*
 * The detail object of a "cred-violation" event: pid, tgid, comm (printable
 * ASCII), changes {field: {old, new}}, and from a protocol version 2 frame
 * check (rw_proto_cred_check_name), killed, denied, error.  NULL when out of
 * memory.
 */
json_t *rw_dchan_cred_detail(const struct rw_msg_cred_violation *v);
struct rw_dchan;

/* Socket name under the state directory that ringwatch-vsockd connects to. */
#define RW_DCHAN_SOCKET "channel.sock"

/* Start the channel (d->chan, d->push_policy).  0, or -1 with @err. */
int rw_dchan_start(struct rw_daemon *d, char *err, size_t errlen);
void rw_dchan_stop(struct rw_daemon *d);

/* Path of the transport B socket (for vsockd --upstream). */
const char *rw_dchan_socket_path(const struct rw_dchan *c);

/* Channel health of @vm: {streams, components[], messages, events, lost, losses,
 * duplicates, gaps, rejected, last_message_ms, ram{regions,source}}; never NULL. */
json_t *rw_dchan_vm_health(struct rw_dchan *c, const char *vm);

/* Transport A: the guest with AF_VSOCK CID @cid is VM @vm (0 removes @vm's mapping). */
void rw_dchan_set_cid(struct rw_dchan *c, const char *vm, uint32_t cid);

/* One policy change for a VM's agent. */
struct rw_dchan_policy {
	bool remove;		/* false: add */
	uint16_t list;		/* RW_LIST_* (shared/rw_proto.h) */
	char name[256];		/* module / variable name, "usb=deny|allow", hex for exec-deny */
	bool has_sha256;
	uint8_t sha256[32];
};

/* The POLICY_UPDATE frame for @p (@name: storage for the entry name, usually p->name). */
struct rw_msg;
struct rw_policy_entry;
void rw_dchan_policy_msg(const struct rw_dchan_policy *p, const char *name, uint32_t generation,
			 struct rw_msg *msg, struct rw_policy_entry *entry);

/*
 * Send @p to @vm's agent stream and wait (up to @timeout_ms) for the guest's
 * ACK.  Returns the policy generation (> 0), or -1 with @err (no agent
 * stream, stream closed, timeout).
 */
int64_t rw_dchan_push_policy(struct rw_dchan *c, const char *vm, const struct rw_dchan_policy *p,
			     int timeout_ms, char *err, size_t errlen);

/*
 * Parse the words of a policy command ("module-allow NAME SHA256|*",
 * "exec-deny SHA256", "env-watch VAR", "usb-mount deny|allow").  0, or -1
 * with @err.
 */
int rw_dchan_policy_parse(const char *const *words, size_t n, bool remove,
			  struct rw_dchan_policy *p, char *err, size_t errlen);

#endif

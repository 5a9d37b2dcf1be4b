/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel channel to the host (docs/protocol.md): one AF_VSOCK stream to
 * CID 2 (the host), port 7391 by default, run by a dedicated kthread.
 *
 * Delivery contract (the same as the userspace client, shared/rw_chan.c):
 *  - a message gets its sequence number when it is queued
 *    (rw_kchan_enqueue), connected or not;
 *  - it leaves the bounded queue only when the host's cumulative ACK (or
 *    the resume_seq of its HELLO) covers it; after a reconnect the unacked
 *    ones are sent again in order, with their numbers and RESENT set;
 *  - a message that finds the queue full (or no memory) is dropped but
 *    keeps its number; the drops are reported with one LOSS message as soon
 *    as an ACK frees room.
 * Host frames: CHALLENGE is answered (challenge.c) with a
 * CHALLENGE_RESPONSE, POLICY_UPDATE is logged and acknowledged, both once
 * per sequence number per connection; ERROR and GOODBYE close the
 * connection, which is retried with exponential backoff.
 */
#ifndef RINGWATCH_CHAN_H
#define RINGWATCH_CHAN_H

#include "shared/rw_proto.h"

#define RW_KCHAN_HOST_CID	2	/* VMADDR_CID_HOST */
#define RW_KCHAN_DEFAULT_PORT	7391
#define RW_KCHAN_QUEUE_MAX	256	/* messages held until acknowledged */

struct seq_file;

/*
 * Queue a guest -> host sequenced message (not LOSS); hdr.seq and
 * hdr.component are assigned here.  Any context: never sleeps.
 * Returns 0 when queued, -ENOBUFS/-ENOMEM when dropped (its number is used
 * up and the loss reported later), -EINVAL when the message does not
 * encode or the channel is not running (nothing consumed).
 */
int rw_kchan_enqueue(struct rw_msg *msg);

void rw_kchan_show_status(struct seq_file *m);

int rw_kchan_init(void);
/* Stops the kthread (GOODBYE unload), releases the socket, frees the queue. */
void rw_kchan_exit(void);

#endif

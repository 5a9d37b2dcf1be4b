/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent: the ONE place events and agent reports leave the agent.
 *
 * Primary sink: the host channel (shared/rw_chan.h, the agent's own vsock
 * stream, separate from the kernel module's).  Each event or report is one
 * LSM_EVENT message: kind, verdict, pid, uid, comm and SHA-256 in their
 * native fields, and the event's JSON description (the same object the
 * local log holds, at most RW_EVENT_JSON_MAX bytes) in the path field; see
 * docs/guest-bpf.md, "Transport".  rw_chan keeps unacknowledged messages in
 * a bounded queue across reconnects and reports overflow as LOSS.
 *
 * Secondary copy: the event log in the guest (RW_AGENT_EVENT_LOG) and the
 * console, each line {"seq":N,...} with the channel sequence number the
 * message got (0: not sent, the channel is off).
 */
#ifndef RW_AGENT_FORWARD_H
#define RW_AGENT_FORWARD_H

#include <stddef.h>
#include <stdio.h>

#include "guest/bpf/ringwatch_bpf.h"

#define RW_AGENT_EVENT_LOG "/run/ringwatch/agent-events.log"

struct rw_chan;

struct rw_forward {
	int log_fd;			/* O_APPEND, or -1 */
	FILE *console;			/* or NULL */
	struct rw_chan *chan;		/* or NULL */
	unsigned long long lines;	/* lines forwarded */
	unsigned long long failures;	/* lines a sink could not take */
	unsigned long long queue_full;	/* channel queue full: message lost (LOSS follows) */
};

/* Open the sinks; @log_path, @console and @chan may be NULL. */
int rw_forward_open(struct rw_forward *fw, const char *log_path, FILE *console,
		    struct rw_chan *chan, char *err, size_t errlen);

/* A BPF event and its JSON (no trailing newline) to the host and the local log.
 * 0, or -1 if any sink failed. */
int rw_forward_event(struct rw_forward *fw, const struct rw_bpf_event *ev, const char *json);

/* An agent report (JSON object) to the host and the local log. */
int rw_forward_report(struct rw_forward *fw, const char *json);

/* Local log and console only (periodic health: the host gets a HEARTBEAT). */
int rw_forward_local(struct rw_forward *fw, const char *json);

void rw_forward_close(struct rw_forward *fw);

#endif

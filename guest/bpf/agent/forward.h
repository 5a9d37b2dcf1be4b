/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent: the ONE place events and agent reports leave the agent.
 *
 * Every line is one JSON object.  For now a line goes to the event log in
 * the guest (RW_AGENT_EVENT_LOG) and to the console; the host channel
 * (its own vsock stream, separate from the kernel module's) plugs in here.
 */
#ifndef RW_AGENT_FORWARD_H
#define RW_AGENT_FORWARD_H

#include <stddef.h>
#include <stdio.h>

#define RW_AGENT_EVENT_LOG "/run/ringwatch/agent-events.log"

struct rw_forward {
	int log_fd;			/* O_APPEND, or -1 */
	FILE *console;			/* or NULL */
	unsigned long long lines;	/* lines forwarded */
	unsigned long long failures;	/* lines a sink could not take */
};

/* Open the sinks; @log_path may be NULL (no log), @console NULL (no console). */
int rw_forward_open(struct rw_forward *fw, const char *log_path, FILE *console, char *err,
		    size_t errlen);

/* Forward one JSON object (no trailing newline).  0, or -1 if any sink failed. */
int rw_forward_line(struct rw_forward *fw, const char *json);

void rw_forward_close(struct rw_forward *fw);

#endif

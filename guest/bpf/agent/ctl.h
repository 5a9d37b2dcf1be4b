/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent: the ONE place policy updates come in.
 *
 * For now a FIFO in the guest (RW_AGENT_CTL, root only) carrying policy
 * lines (policy.h); the host channel plugs in here.  The FIFO is a test
 * stand-in: anybody who is root in the guest can write to it.
 */
#ifndef RW_AGENT_CTL_H
#define RW_AGENT_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "guest/bpf/agent/policy.h"

#define RW_AGENT_CTL "/run/ringwatch/agent.ctl"

struct rw_ctl {
	int fd;
	size_t len;			/* bytes of a partial line in buf */
	bool discarding;		/* inside an overlong line */
	char buf[RW_POLICY_LINE_MAX];
};

typedef void (*rw_ctl_line_fn)(void *arg, const char *line);

/* Create the FIFO (mode 0600) if needed and open it non-blocking. */
int rw_ctl_open(struct rw_ctl *ctl, const char *path, char *err, size_t errlen);

/* Open an existing descriptor (a pipe, a socket) as the command source. */
void rw_ctl_init_fd(struct rw_ctl *ctl, int fd);

/*
 * Read what is available and call @fn for each complete line (without the
 * newline).  Overlong lines and lines with a NUL byte are dropped and
 * reported as the line
 * "\x01overlong".  Returns the number of lines delivered, or -1 on a read
 * error.
 */
int rw_ctl_read(struct rw_ctl *ctl, rw_ctl_line_fn fn, void *arg);

void rw_ctl_close(struct rw_ctl *ctl);

#endif

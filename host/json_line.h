/* SPDX-License-Identifier: GPL-2.0 */
/* The control protocol's framing: one compact JSON object per line. */
#ifndef RW_HOST_JSON_LINE_H
#define RW_HOST_JSON_LINE_H
#include <jansson.h>

/*
 * Write @o as one compact JSON line ("...\n") to the stream socket @fd,
 * whole (retries short writes and EINTR; no SIGPIPE).  0, or -1 when it
 * could not be encoded or the peer is gone.
 */
int rw_json_line_send(int fd, const json_t *o);

#endif

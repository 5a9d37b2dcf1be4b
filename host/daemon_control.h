/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatchd's control socket: a unix stream socket (mode 0600: root-only
 * when the daemon runs as root) speaking JSON lines.  Each request is one
 * JSON object on one line with a "cmd" member; each response is one line
 * {"ok":true,"result":...} or {"ok":false,"code":"unknown-vm|bad-request|
 * exists|busy|timeout|failed","error":"..."}.  "events" with "follow":true
 * then streams {"event":{...}} lines until the client closes.
 * docs/operations.md documents every command.
 */
#ifndef RW_HOST_DAEMON_CONTROL_H
#define RW_HOST_DAEMON_CONTROL_H

#include <stddef.h>
#include <jansson.h>

struct rw_daemon;
struct rw_control;

#define RW_CONTROL_MAX_REQUEST (64u << 10)
#define RW_CONTROL_MAX_CLIENTS 64

/*
 * Bind @path (mode 0600).  A socket file nobody answers on is replaced; one a
 * live daemon answers on is an error.  Returns the listening fd or -1.
 */
int rw_control_bind(const char *path, char *err, size_t errlen);

/* Serve @listen_fd (taken over) in a thread. */
int rw_control_start(struct rw_daemon *d, int listen_fd, const char *path,
		     struct rw_control **out, char *err, size_t errlen);
/* Stop serving, close every client, remove the socket file. */
void rw_control_stop(struct rw_control *c);

/* Handle one request object; returns the response object (new reference). */
json_t *rw_control_handle(struct rw_daemon *d, json_t *req);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QMP client: one unix-socket connection to a QEMU monitor.
 *
 * QEMU is a peer we launched or were told to attach to; its replies are
 * still parsed defensively (bounded line length, timeouts on every read).
 * Asynchronous events that arrive while waiting for a reply are dropped.
 */
#ifndef RW_VMI_QMP_H
#define RW_VMI_QMP_H

#include <stddef.h>
#include <jansson.h>

/* Longest reply line accepted (HMP "info mtree -f" of a big VM is ~100 KiB). */
#define RW_QMP_MAX_LINE (16u << 20)

struct rw_qmp;

/*
 * Connect to the QMP socket at @path and negotiate capabilities.  Retries
 * the connect until @timeout_ms has passed (the socket may not exist yet).
 * Returns 0, or -1 with a message in @err.
 */
int rw_qmp_connect(const char *path, int timeout_ms, struct rw_qmp **out,
		   char *err, size_t errlen);

/*
 * Run @cmd with @args (a JSON object, reference stolen; may be NULL).
 * Returns the "return" member (new reference) or NULL with the QMP error
 * class and description (or the I/O failure) in @err.
 */
json_t *rw_qmp_execute(struct rw_qmp *qmp, const char *cmd, json_t *args,
		       int timeout_ms, char *err, size_t errlen);

/* Run an HMP command line through human-monitor-command; returns malloc'd text. */
char *rw_qmp_hmp(struct rw_qmp *qmp, const char *command_line, int timeout_ms,
		 char *err, size_t errlen);

/* "running", "paused", ... from query-status; malloc'd, or NULL with @err. */
char *rw_qmp_status(struct rw_qmp *qmp, int timeout_ms, char *err, size_t errlen);

void rw_qmp_close(struct rw_qmp *qmp);

#endif

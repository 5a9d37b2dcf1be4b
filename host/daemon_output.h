/* SPDX-License-Identifier: GPL-2.0 */
/* Event outputs of ringwatchd: JSON lines (file or stdout) and syslog. */
#ifndef RW_HOST_DAEMON_OUTPUT_H
#define RW_HOST_DAEMON_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct rw_outputs;

/* @json_log: "" none, "-" stdout, else a file opened for append (mode 0640). */
int rw_outputs_open(const char *json_log, bool use_syslog, struct rw_outputs **out,
		    char *err, size_t errlen);
/*
 * Switch to @json_log / @use_syslog (configuration reload).  The new JSON
 * file is opened first: on failure nothing changes (-1 with @err).  The same
 * file path is reopened, so a rotated log gets a fresh file.
 */
int rw_outputs_reconfigure(struct rw_outputs *o, const char *json_log, bool use_syslog,
			   char *err, size_t errlen);
/* Write one stored event ({id, vm, time_ms, source, check, severity, detail}). */
void rw_outputs_event(struct rw_outputs *o, const json_t *event);
void rw_outputs_close(struct rw_outputs *o);

/* ISO-8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.123Z. */
void rw_format_time(long long ms, char *out, size_t outlen);

#endif

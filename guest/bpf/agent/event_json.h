/* SPDX-License-Identifier: GPL-2.0 */
/* ringwatch-agent: one ring-buffer record (struct rw_bpf_event) as a JSON object. */
#ifndef RW_AGENT_EVENT_JSON_H
#define RW_AGENT_EVENT_JSON_H

#include <stddef.h>

/*
 * Format the record @rec of @len bytes (as read from the ring buffer: the
 * BPF side is not trusted to be well formed) into @out as one JSON object
 * without a newline.  Strings from the kernel (comm, file names) are
 * bounded by their field size and escaped; non-ASCII bytes become \u00XX.
 * Returns the length written, or -1 if @len is not a whole record or @out
 * is too small (RW_EVENT_JSON_MAX always suffices).
 */
#define RW_EVENT_JSON_MAX 2048
int rw_event_to_json(const void *rec, size_t len, char *out, size_t outlen);

/* Name of an event kind ("module-denied", ...), "unknown" if out of range. */
const char *rw_event_kind_name(unsigned int kind);

/*
 * Append @s (at most @max bytes, stops at NUL) as a quoted JSON string to
 * @out at *@pos; returns 0 or -1 when @out is full.
 */
int rw_json_put_string(char *out, size_t outlen, size_t *pos, const char *s, size_t max);

#endif

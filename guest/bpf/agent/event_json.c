// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: ring-buffer records to JSON. */
#include "guest/bpf/agent/event_json.h"

#include <linux/bpf.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guest/bpf/ringwatch_bpf.h"

static const char *const kind_names[RW_EV_KIND_MAX] = {
	[RW_EV_MODULE_DENIED] = "module-denied",
	[RW_EV_MODULE_REQUEST_DENIED] = "module-request-denied",
	[RW_EV_EXEC_DENIED] = "exec-denied",
	[RW_EV_EXEC_UNHASHED] = "exec-unhashed",
	[RW_EV_MOUNT_DENIED] = "mount-denied",
	[RW_EV_SELF_UNLINK] = "self-unlink",
	[RW_EV_EXEC_ENV] = "exec-env",
	[RW_EV_ENV_SCAN_INCOMPLETE] = "env-scan-incomplete",
	[RW_EV_CRED_CHANGE] = "cred-change",
	[RW_EV_GUARD_BPF] = "guard-bpf",
	[RW_EV_GUARD_PIN] = "guard-pin",
	[RW_EV_GUARD_SIGNAL] = "guard-signal",
	[RW_EV_GUARD_PTRACE] = "guard-ptrace",
	[RW_EV_GUARD_AGENT_EXE] = "guard-agent-exe",
};

const char *rw_event_kind_name(unsigned int kind)
{
	if (kind >= RW_EV_KIND_MAX || !kind_names[kind])
		return "unknown";
	return kind_names[kind];
}

static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= outlen)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(out + *pos, outlen - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen - *pos)
		return -1;
	*pos += (size_t)n;
	return 0;
}

int rw_json_put_string(char *out, size_t outlen, size_t *pos, const char *s, size_t max)
{
	if (put(out, outlen, pos, "\""))
		return -1;
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;

		if (c == '"' || c == '\\')
			rc = put(out, outlen, pos, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			rc = put(out, outlen, pos, "\\u%04x", c);
		else
			rc = put(out, outlen, pos, "%c", c);
		if (rc)
			return -1;
	}
	return put(out, outlen, pos, "\"");
}

static int put_field(char *out, size_t outlen, size_t *pos, const char *key, const char *s,
		     size_t max)
{
	if (put(out, outlen, pos, ",\"%s\":", key))
		return -1;
	return rw_json_put_string(out, outlen, pos, s, max);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int put_sha256(char *out, size_t outlen, size_t *pos, const uint8_t *h)
{
	if (put(out, outlen, pos, ",\"sha256\":\""))
		return -1;
	for (int i = 0; i < RW_BPF_SHA256_LEN; i++)
		if (put(out, outlen, pos, "%02x", h[i]))
			return -1;
	return put(out, outlen, pos, "\"");
}

static const char *module_origin(uint32_t v)
{
	return v == RW_MOD_FINIT ? "finit_module" : v == RW_MOD_INIT ? "init_module" : "unknown";
}

static const char *module_reason(uint32_t v)
{
	switch (v) {
	case RW_MOD_NOT_ALLOWED:
		return "not-allowlisted";
	case RW_MOD_NO_CONTENTS:
		return "no-contents";
	case RW_MOD_HASH_FAILED:
		return "hash-failed";
	case RW_MOD_NO_NAME:
		return "no-module-name";
	default:
		return "unknown";
	}
}

static const char *pin_op(uint32_t v)
{
	static const char *const ops[] = { "unknown", "open", "unlink", "rename", "umount" };

	return v < sizeof(ops) / sizeof(ops[0]) ? ops[v] : "unknown";
}

static const char *obj_type(uint32_t v)
{
	return v == RW_OBJ_PROG ? "prog" : v == RW_OBJ_MAP ? "map" : v == RW_OBJ_LINK ? "link"
										: "unknown";
}

static const char *bpf_cmd_name(int32_t cmd)
{
	switch (cmd) {
	case -1:
		return "fd-acquire";
	case BPF_LINK_UPDATE:
		return "link-update";
	case BPF_LINK_GET_FD_BY_ID:
		return "link-get-fd-by-id";
	case BPF_LINK_DETACH:
		return "link-detach";
	default:
		return "other";
	}
}

static int put_kind_fields(const struct rw_bpf_event *ev, char *out, size_t outlen, size_t *pos)
{
	const uint32_t *a = ev->arg;

	switch (ev->kind) {
	case RW_EV_MODULE_DENIED:
		if (put(out, outlen, pos, ",\"origin\":\"%s\",\"size\":%u,\"reason\":\"%s\"",
			module_origin(a[0]), a[1], module_reason(a[2])))
			return -1;
		if (a[3] && put_field(out, outlen, pos, "module", ev->name, RW_BPF_MOD_NAME_LEN))
			return -1;
		if (!all_zero(ev->sha256, sizeof(ev->sha256)) &&
		    put_sha256(out, outlen, pos, ev->sha256))
			return -1;
		if (ev->path[0] && put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path)))
			return -1;
		return 0;
	case RW_EV_MODULE_REQUEST_DENIED:
		return put_field(out, outlen, pos, "module", ev->name, sizeof(ev->name));
	case RW_EV_EXEC_DENIED:
		if (put_sha256(out, outlen, pos, ev->sha256))
			return -1;
		return put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path));
	case RW_EV_EXEC_UNHASHED:
		if (put(out, outlen, pos, ",\"ima_result\":%d", (int32_t)a[0]))
			return -1;
		return put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path));
	case RW_EV_MOUNT_DENIED:
		if (put(out, outlen, pos, ",\"removable\":%s,\"usb\":%s", a[0] ? "true" : "false",
			a[1] ? "true" : "false"))
			return -1;
		if (put_field(out, outlen, pos, "fstype", ev->name, sizeof(ev->name)))
			return -1;
		return put_field(out, outlen, pos, "disk", ev->path, sizeof(ev->path));
	case RW_EV_SELF_UNLINK:
		return put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path));
	case RW_EV_EXEC_ENV:
		if (put(out, outlen, pos, ",\"killed\":%s", a[0] ? "true" : "false"))
			return -1;
		if (put_field(out, outlen, pos, "variable", ev->name, sizeof(ev->name)))
			return -1;
		return put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path));
	case RW_EV_ENV_SCAN_INCOMPLETE:
		if (put(out, outlen, pos, ",\"scanned\":%u", a[0]))
			return -1;
		return put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path));
	case RW_EV_CRED_CHANGE:
		if (put(out, outlen, pos,
			",\"source\":\"%s\",\"old_uid\":%u,\"old_euid\":%u,\"new_uid\":%u,"
			"\"new_euid\":%u,\"new_egid\":%u",
			a[0] == RW_CRED_EXEC ? "exec" : a[0] == RW_CRED_SETGID ? "setgid" : "setid",
			a[1], a[2], a[3], a[4], a[5]))
			return -1;
		for (int i = 0; i < 2; i++) {
			const __u32 *ids = i ? ev->cred.new_ids : ev->cred.old_ids;

			if (put(out, outlen, pos, ",\"%s\":[%u,%u,%u,%u,%u,%u,%u,%u]",
				i ? "new_ids" : "old_ids", ids[0], ids[1], ids[2], ids[3], ids[4],
				ids[5], ids[6], ids[7]))
				return -1;
		}
		if (ev->path[0] && put_field(out, outlen, pos, "file", ev->path, sizeof(ev->path)))
			return -1;
		return 0;
	case RW_EV_GUARD_BPF:
		return put(out, outlen, pos, ",\"cmd\":\"%s\",\"object\":\"%s\",\"id\":%u",
			   bpf_cmd_name((int32_t)a[0]), obj_type(a[1]), a[2]);
	case RW_EV_GUARD_PIN:
		if (put(out, outlen, pos, ",\"op\":\"%s\",\"inode\":%u", pin_op(a[0]), a[1]))
			return -1;
		if (ev->path[0] && put_field(out, outlen, pos, "name", ev->path, sizeof(ev->path)))
			return -1;
		return 0;
	case RW_EV_GUARD_SIGNAL:
		return put(out, outlen, pos, ",\"target\":%u,\"signal\":%u", a[0], a[1]);
	case RW_EV_GUARD_PTRACE:
		return put(out, outlen, pos, ",\"target\":%u,\"mode\":%u", a[0], a[1]);
	case RW_EV_GUARD_AGENT_EXE:
		return put(out, outlen, pos, ",\"inode\":%u,\"mask\":%u", a[0], a[1]);
	default:
		return put(out, outlen, pos, ",\"kind\":%u", ev->kind);
	}
}

int rw_event_to_json(const void *rec, size_t len, char *out, size_t outlen)
{
	struct rw_bpf_event ev;
	size_t pos = 0;

	if (len != sizeof(ev) || !out || outlen == 0)
		return -1;
	memcpy(&ev, rec, sizeof(ev));
	if (put(out, outlen, &pos, "{\"event\":\"%s\",\"verdict\":\"%s\",\"ts_ns\":%llu",
		rw_event_kind_name(ev.kind), ev.verdict ? "deny" : "report",
		(unsigned long long)ev.ts_ns) ||
	    put(out, outlen, &pos, ",\"pid\":%u,\"tgid\":%u,\"uid\":%u,\"euid\":%u", ev.pid,
		ev.tgid, ev.uid, ev.euid) ||
	    put_field(out, outlen, &pos, "comm", ev.comm, sizeof(ev.comm)) ||
	    put_kind_fields(&ev, out, outlen, &pos) || put(out, outlen, &pos, "}"))
		return -1;
	return (int)pos;
}

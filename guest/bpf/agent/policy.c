// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: policy line parser (no side effects; see policy.h). */
#include "guest/bpf/agent/policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "shared/rw_proto.h"

#define MAX_FIELDS 4

struct field {
	const char *s;
	size_t len;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rw_sha256_from_hex(const char *hex, size_t len, uint8_t out[RW_BPF_SHA256_LEN])
{
	if (len != 2 * RW_BPF_SHA256_LEN)
		return -1;
	for (size_t i = 0; i < RW_BPF_SHA256_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool rw_policy_runtime_only(enum rw_agent_policy_op op)
{
	return op == RW_POL_BOOT_COMPLETE || op == RW_POL_HEALTH || op == RW_POL_RESTART;
}

static bool field_is(const struct field *f, const char *word)
{
	return f->len == strlen(word) && !memcmp(f->s, word, f->len);
}

/* Split on blanks, stop at '#'; returns the field count or -1 if too many. */
static int split(const char *line, struct field *fields)
{
	int n = 0;
	const char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == MAX_FIELDS)
			return -1;
		fields[n].s = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '#')
			p++;
		fields[n].len = (size_t)(p - fields[n].s);
		n++;
	}
}

static int parse_error(char *err, size_t errlen, const char *msg, const struct field *f)
{
	if (f)
		snprintf(err, errlen, "%s: '%.*s'", msg, (int)(f->len > 80 ? 80 : f->len), f->s);
	else
		snprintf(err, errlen, "%s", msg);
	return -1;
}

static int parse_module_name(const struct field *f, char *out, char *err, size_t errlen)
{
	if (f->len == 0 || f->len >= RW_BPF_MOD_NAME_LEN)
		return parse_error(err, errlen, "module name must have 1..55 characters", f);
	for (size_t i = 0; i < f->len; i++) {
		char c = f->s[i];

		if (c == '-')
			c = '_';
		if (!isalnum((unsigned char)c) && c != '_')
			return parse_error(err, errlen, "module name has a character outside [A-Za-z0-9_-]",
				    f);
		out[i] = c;
	}
	return 0;
}

static int parse_env_name(const struct field *f, char *out, char *err, size_t errlen)
{
	if (f->len == 0 || f->len >= RW_BPF_ENV_NAME_LEN)
		return parse_error(err, errlen, "variable name must have 1..31 characters", f);
	if (isdigit((unsigned char)f->s[0]))
		return parse_error(err, errlen, "variable name starts with a digit", f);
	for (size_t i = 0; i < f->len; i++) {
		if (!isalnum((unsigned char)f->s[i]) && f->s[i] != '_')
			return parse_error(err, errlen, "variable name has a character outside [A-Za-z0-9_]",
				    f);
		out[i] = f->s[i];
	}
	return 0;
}

static int parse_hash(const struct field *f, struct rw_policy_cmd *cmd, bool star_ok, char *err,
		      size_t errlen)
{
	if (star_ok && field_is(f, "*")) {
		cmd->any_hash = true;
		return 0;
	}
	static const uint8_t zero[RW_BPF_SHA256_LEN];

	if (rw_sha256_from_hex(f->s, f->len, cmd->sha256))
		return parse_error(err, errlen, star_ok ? "expected 64 hex digits or '*'"
						 : "expected 64 hex digits", f);
	/* All zero stands for '*' in the maps: not a hash anyone may name. */
	if (!memcmp(cmd->sha256, zero, sizeof(zero)))
		return parse_error(err, errlen, "the all-zero hash is reserved", f);
	return 0;
}

static int want_fields(int n, int min, int max, const struct field *verb, char *err,
		       size_t errlen)
{
	if (n < min || n > max) {
		if (min == max)
			snprintf(err, errlen, "'%.*s' takes %d argument(s), got %d",
				 (int)verb->len, verb->s, min - 1, n - 1);
		else
			snprintf(err, errlen, "'%.*s' takes %d to %d arguments, got %d",
				 (int)verb->len, verb->s, min - 1, max - 1, n - 1);
		return -1;
	}
	return 0;
}

int rw_policy_parse_line(const char *line, struct rw_policy_cmd *cmd, char *err, size_t errlen)
{
	struct field f[MAX_FIELDS];
	int n;

	memset(cmd, 0, sizeof(*cmd));
	if (strlen(line) >= RW_POLICY_LINE_MAX)
		return parse_error(err, errlen, "line too long", NULL);
	n = split(line, f);
	if (n < 0)
		return parse_error(err, errlen, "too many fields", NULL);
	if (n == 0)
		return 0;
	if (field_is(&f[0], "module-allow") || field_is(&f[0], "module-remove")) {
		cmd->op = field_is(&f[0], "module-allow") ? RW_POL_MODULE_ALLOW : RW_POL_MODULE_REMOVE;
		if (want_fields(n, 3, 3, &f[0], err, errlen) ||
		    parse_module_name(&f[1], cmd->name, err, errlen) ||
		    parse_hash(&f[2], cmd, true, err, errlen))
			return -1;
	} else if (field_is(&f[0], "exec-deny") || field_is(&f[0], "exec-remove")) {
		cmd->op = field_is(&f[0], "exec-deny") ? RW_POL_EXEC_DENY : RW_POL_EXEC_REMOVE;
		if (want_fields(n, 2, 2, &f[0], err, errlen) ||
		    parse_hash(&f[1], cmd, false, err, errlen))
			return -1;
	} else if (field_is(&f[0], "env-watch")) {
		cmd->op = RW_POL_ENV_WATCH;
		if (want_fields(n, 2, 3, &f[0], err, errlen) ||
		    parse_env_name(&f[1], cmd->name, err, errlen))
			return -1;
		if (n == 3) {
			if (!field_is(&f[2], "kill"))
				return parse_error(err, errlen, "env-watch option must be 'kill'", &f[2]);
			cmd->env_flags = RW_ENV_KILL;
		}
	} else if (field_is(&f[0], "env-remove")) {
		cmd->op = RW_POL_ENV_REMOVE;
		if (want_fields(n, 2, 2, &f[0], err, errlen) ||
		    parse_env_name(&f[1], cmd->name, err, errlen))
			return -1;
	} else if (field_is(&f[0], "usb-mount")) {
		cmd->op = RW_POL_USB_MOUNT;
		if (want_fields(n, 2, 2, &f[0], err, errlen))
			return -1;
		if (field_is(&f[1], "deny"))
			cmd->deny = true;
		else if (!field_is(&f[1], "allow"))
			return parse_error(err, errlen, "usb-mount takes 'deny' or 'allow'", &f[1]);
	} else if (field_is(&f[0], "boot-complete") || field_is(&f[0], "health") ||
		   field_is(&f[0], "restart")) {
		cmd->op = field_is(&f[0], "health")	 ? RW_POL_HEALTH
			  : field_is(&f[0], "restart") ? RW_POL_RESTART
						       : RW_POL_BOOT_COMPLETE;
		if (want_fields(n, 1, 1, &f[0], err, errlen))
			return -1;
	} else {
		return parse_error(err, errlen, "unknown command", &f[0]);
	}
	return 1;
}

/* One POLICY_UPDATE entry as a policy line (the language of policy.h). */
int rw_policy_update_line(const struct rw_msg_policy_update *p, const struct rw_policy_entry *e,
			   char *line, size_t len, char *err, size_t errlen)
{
	char hex[2 * RW_PROTO_SHA256_LEN + 1] = "*";
	bool add = p->op == RW_POLICY_ADD;

	if (p->op != RW_POLICY_ADD && p->op != RW_POLICY_REMOVE) {
		snprintf(err, errlen, "policy op %u not supported (add and remove are)", p->op);
		return -1;
	}
	if (e->flags & RW_POLICY_E_SHA256)
		for (unsigned i = 0; i < RW_PROTO_SHA256_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", e->sha256[i]);
	switch (p->list) {
	case RW_LIST_MODULE_ALLOW:
		snprintf(line, len, "%s %s %s", add ? "module-allow" : "module-remove", e->name, hex);
		return 0;
	case RW_LIST_EXEC_DENY:
		if (!(e->flags & RW_POLICY_E_SHA256))
			break;
		snprintf(line, len, "%s %s", add ? "exec-deny" : "exec-remove", hex);
		return 0;
	case RW_LIST_ENV_VARS:
		snprintf(line, len, "%s %s", add ? "env-watch" : "env-remove", e->name);
		return 0;
	case RW_LIST_MOUNT_RULES:
		if (!strcmp(e->name, "usb=deny") || !strcmp(e->name, "usb=allow")) {
			bool deny = !strcmp(e->name, "usb=deny") == add;

			snprintf(line, len, "usb-mount %s", deny ? "deny" : "allow");
			return 0;
		}
		break;
	}
	snprintf(err, errlen, "policy entry not understood (list %u)", p->list);
	return -1;
}

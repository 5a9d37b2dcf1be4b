// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8
#define MAX_DURATION_MS (24u * 3600u * 1000u)

static const struct {
	const char *name;
	unsigned int bit;
} action_names[] = {
	{ "log", RW_ACT_LOG },
	{ "pause", RW_ACT_PAUSE },
	{ "dump", RW_ACT_DUMP },
	{ "push-policy", RW_ACT_PUSH_POLICY },
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

void rw_config_defaults(struct rw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval_ms = 1000;
	cfg->workers = 0;
	cfg->qmp_timeout_ms = 3000;
	cfg->launch_timeout_ms = 180000;
	cfg->dump_timeout_ms = 300000;
	cfg->syslog = true;
	snprintf(cfg->metrics, sizeof(cfg->metrics), "127.0.0.1:9477");
	snprintf(cfg->hook_allow[0], sizeof(cfg->hook_allow[0]), "ringwatch");
	cfg->nhook_allow = 1;
}

void rw_config_free(struct rw_config *cfg)
{
	free(cfg->rules);
	free(cfg->vms);
	cfg->rules = NULL;
	cfg->vms = NULL;
	cfg->nrules = cfg->nvms = 0;
}

int rw_parse_duration(const char *s, unsigned int *ms)
{
	static const struct {
		const char *suffix;
		unsigned long long mult;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	unsigned long long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > MAX_DURATION_MS)
			return -1;
		p++;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(p, units[i].suffix)) {
			if (v * units[i].mult > MAX_DURATION_MS || v == 0)
				return -1;
			*ms = (unsigned int)(v * units[i].mult);
			return 0;
		}
	}
	return -1;
}

int rw_parse_actions(const char *s, unsigned int *bits, char *bad, size_t badlen)
{
	unsigned int out = 0;
	const char *p = s;

	for (;;) {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < NACTIONS; i++) {
			if (strlen(action_names[i].name) == n &&
			    !strncmp(p, action_names[i].name, n)) {
				out |= action_names[i].bit;
				found = true;
			}
		}
		if (!found) {
			snprintf(bad, badlen, "%.*s", (int)(n > 64 ? 64 : n), p);
			return -1;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	*bits = out;
	return 0;
}

void rw_actions_format(unsigned int bits, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NACTIONS; i++) {
		if (bits & action_names[i].bit) {
			int n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "",
					 action_names[i].name);

			if (n < 0 || (size_t)n >= outlen - used)
				return;
			used += (size_t)n;
		}
	}
}

/* Parsing state for one file. */
struct parse {
	const char *fname;
	unsigned int line;
	char *err;
	size_t errlen;
	struct rw_config *cfg;
	unsigned int seen;	/* single-use directives already given (bit per directive) */
};

static int perr(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parse *ps, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%u: %s", ps->fname, ps->line, msg);
	return -1;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static int want_args(struct parse *ps, char **w, int nw, int n)
{
	if (nw != n + 1)
		return perr(ps, "'%s' takes %d argument%s, got %d", w[0], n, n == 1 ? "" : "s",
			    nw - 1);
	return 0;
}

static int dir_duration(struct parse *ps, char **w, int nw, unsigned int *out)
{
	if (want_args(ps, w, nw, 1))
		return -1;
	if (rw_parse_duration(w[1], out))
		return perr(ps, "'%s': bad duration '%s' (use e.g. 500ms, 1s, 2m; 1ms..24h)",
			    w[0], w[1]);
	return 0;
}

static int dir_workers(struct parse *ps, char **w, int nw)
{
	char *end;
	unsigned long v;

	if (want_args(ps, w, nw, 1))
		return -1;
	if (!strcmp(w[1], "auto")) {
		ps->cfg->workers = 0;
		return 0;
	}
	errno = 0;
	v = strtoul(w[1], &end, 10);
	if (errno || *end || end == w[1] || v < 1 || v > 256)
		return perr(ps, "'workers': expected 1..256 or auto, got '%s'", w[1]);
	ps->cfg->workers = (unsigned int)v;
	return 0;
}

static int dir_onoff(struct parse *ps, char **w, int nw, bool *out)
{
	if (want_args(ps, w, nw, 1))
		return -1;
	if (strcmp(w[1], "on") && strcmp(w[1], "off"))
		return perr(ps, "'%s': expected on or off, got '%s'", w[0], w[1]);
	*out = !strcmp(w[1], "on");
	return 0;
}

static int dir_path(struct parse *ps, char **w, int nw, char *out, size_t outlen)
{
	if (want_args(ps, w, nw, 1))
		return -1;
	if (strlen(w[1]) >= outlen)
		return perr(ps, "'%s': value too long", w[0]);
	snprintf(out, outlen, "%s", strcmp(w[1], "off") ? w[1] : "");
	return 0;
}

static int dir_metrics(struct parse *ps, char **w, int nw)
{
	const char *colon;
	char *end;
	unsigned long port;

	if (dir_path(ps, w, nw, ps->cfg->metrics, sizeof(ps->cfg->metrics)))
		return -1;
	if (!ps->cfg->metrics[0])
		return 0;
	colon = strrchr(w[1], ':');
	if (!colon || colon == w[1])
		return perr(ps, "'metrics': expected HOST:PORT or off, got '%s'", w[1]);
	port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port > 65535)
		return perr(ps, "'metrics': bad port in '%s'", w[1]);
	return 0;
}

static int dir_vsock_port(struct parse *ps, char **w, int nw)
{
	char *end;
	unsigned long port;

	if (want_args(ps, w, nw, 1))
		return -1;
	if (!strcmp(w[1], "off")) {
		ps->cfg->channel_vsock_port = 0;
		return 0;
	}
	port = strtoul(w[1], &end, 10);
	if (*end || end == w[1] || port < 1 || port > 0xfffffffeul)
		return perr(ps, "'channel-vsock-port': expected a port number or off, got '%s'",
			    w[1]);
	ps->cfg->channel_vsock_port = (unsigned int)port;
	return 0;
}

/* Guest module names as the kernel keeps them: letters, digits, '_' and '-'. */
static bool valid_module_name(const char *s, size_t n)
{
	if (!n || n >= RW_CONFIG_MODULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static int dir_hook_allow(struct parse *ps, char **w, int nw)
{
	struct rw_config *cfg = ps->cfg;
	const char *p;

	if (want_args(ps, w, nw, 1))
		return -1;
	cfg->nhook_allow = 0;
	if (!strcmp(w[1], "none"))
		return 0;
	for (p = w[1];;) {
		size_t n = strcspn(p, ",");

		if (!valid_module_name(p, n))
			return perr(ps, "'hook-allow': bad module name '%.*s' (letters, digits, _ "
				    "and -, at most %d characters)",
				    (int)(n > 64 ? 64 : n), p, RW_CONFIG_MODULE_NAME_MAX - 1);
		if (cfg->nhook_allow >= RW_CONFIG_MAX_HOOK_ALLOW)
			return perr(ps, "'hook-allow': more than %d modules",
				    RW_CONFIG_MAX_HOOK_ALLOW);
		for (size_t i = 0; i < cfg->nhook_allow; i++)
			if (strlen(cfg->hook_allow[i]) == n && !strncmp(cfg->hook_allow[i], p, n))
				return perr(ps, "'hook-allow': module '%.*s' listed twice", (int)n,
					    p);
		/* the kernel stores '-' in module names as '_' */
		for (size_t i = 0; i < n; i++)
			cfg->hook_allow[cfg->nhook_allow][i] = p[i] == '-' ? '_' : p[i];
		cfg->hook_allow[cfg->nhook_allow][n] = '\0';
		cfg->nhook_allow++;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static int dir_vm(struct parse *ps, char **w, int nw)
{
	struct rw_config *cfg = ps->cfg;
	struct rw_vm_override *o, *grown;
	unsigned int ms;

	if (nw != 4 || strcmp(w[2], "interval"))
		return perr(ps, "expected 'vm NAME interval DURATION'");
	if (!valid_name(w[1], sizeof(o->name)))
		return perr(ps, "'vm': bad VM name '%s'", w[1]);
	if (rw_parse_duration(w[3], &ms))
		return perr(ps, "'vm %s interval': bad duration '%s'", w[1], w[3]);
	for (size_t i = 0; i < cfg->nvms; i++)
		if (!strcmp(cfg->vms[i].name, w[1]))
			return perr(ps, "VM '%s' configured twice", w[1]);
	if (cfg->nvms >= RW_CONFIG_MAX_VMS)
		return perr(ps, "more than %u vm lines", RW_CONFIG_MAX_VMS);
	grown = realloc(cfg->vms, (cfg->nvms + 1) * sizeof(*cfg->vms));
	if (!grown)
		return perr(ps, "out of memory");
	cfg->vms = grown;
	o = &cfg->vms[cfg->nvms++];
	snprintf(o->name, sizeof(o->name), "%s", w[1]);
	o->interval_ms = ms;
	return 0;
}

static int dir_respond(struct parse *ps, char **w, int nw)
{
	struct rw_config *cfg = ps->cfg;
	struct rw_response_rule *r, *grown;
	enum rw_severity sev;
	unsigned int bits;
	char bad[80];

	if (nw != 4)
		return perr(ps, "expected 'respond CHECK|* SEVERITY|* ACTION[,ACTION...]'");
	if (strcmp(w[1], "*") && !valid_name(w[1], sizeof(r->check)))
		return perr(ps, "'respond': bad check name '%s'", w[1]);
	if (strcmp(w[2], "*") && rw_severity_parse(w[2], &sev))
		return perr(ps, "'respond': unknown severity '%s' (info, warning, alert, error, *)",
			    w[2]);
	if (rw_parse_actions(w[3], &bits, bad, sizeof(bad)))
		return perr(ps, "'respond': unknown action '%s' (log, pause, dump, push-policy)",
			    bad);
	if (cfg->nrules >= RW_CONFIG_MAX_RULES)
		return perr(ps, "more than %u respond lines", RW_CONFIG_MAX_RULES);
	grown = realloc(cfg->rules, (cfg->nrules + 1) * sizeof(*cfg->rules));
	if (!grown)
		return perr(ps, "out of memory");
	cfg->rules = grown;
	r = &cfg->rules[cfg->nrules++];
	snprintf(r->check, sizeof(r->check), "%s", w[1]);
	snprintf(r->severity, sizeof(r->severity), "%s", w[2]);
	r->actions = bits;
	r->line = ps->line;
	return 0;
}

static int dir_kernel_search(struct parse *ps, char **w, int nw)
{
	struct rw_config *cfg = ps->cfg;

	if (want_args(ps, w, nw, 1))
		return -1;
	if (w[1][0] != '/')
		return perr(ps, "'kernel-search': '%s' is not an absolute path", w[1]);
	if (strlen(w[1]) >= sizeof(cfg->kernel_search[0]))
		return perr(ps, "'kernel-search': path too long");
	if (cfg->nkernel_search >= RW_CONFIG_MAX_KSEARCH)
		return perr(ps, "more than %u kernel-search lines", RW_CONFIG_MAX_KSEARCH);
	snprintf(cfg->kernel_search[cfg->nkernel_search++], sizeof(cfg->kernel_search[0]), "%s",
		 w[1]);
	return 0;
}

static const char *const single_directives[] = {
	"interval", "workers", "qmp-timeout", "launch-timeout", "dump-timeout",
	"json-log", "syslog", "metrics", "channel-vsock-port", "vsockd", "hook-allow",
};

static int directive(struct parse *ps, char **w, int nw)
{
	struct rw_config *cfg = ps->cfg;
	const size_t nsingle = sizeof(single_directives) / sizeof(single_directives[0]);

	for (size_t i = 0; i < nsingle; i++) {
		if (strcmp(w[0], single_directives[i]))
			continue;
		if (ps->seen & (1u << i))
			return perr(ps, "'%s' given twice", w[0]);
		ps->seen |= 1u << i;
	}
	if (!strcmp(w[0], "interval"))
		return dir_duration(ps, w, nw, &cfg->interval_ms);
	if (!strcmp(w[0], "workers"))
		return dir_workers(ps, w, nw);
	if (!strcmp(w[0], "qmp-timeout"))
		return dir_duration(ps, w, nw, &cfg->qmp_timeout_ms);
	if (!strcmp(w[0], "launch-timeout"))
		return dir_duration(ps, w, nw, &cfg->launch_timeout_ms);
	if (!strcmp(w[0], "dump-timeout"))
		return dir_duration(ps, w, nw, &cfg->dump_timeout_ms);
	if (!strcmp(w[0], "json-log"))
		return dir_path(ps, w, nw, cfg->json_log, sizeof(cfg->json_log));
	if (!strcmp(w[0], "syslog"))
		return dir_onoff(ps, w, nw, &cfg->syslog);
	if (!strcmp(w[0], "metrics"))
		return dir_metrics(ps, w, nw);
	if (!strcmp(w[0], "channel-vsock-port"))
		return dir_vsock_port(ps, w, nw);
	if (!strcmp(w[0], "vsockd"))
		return dir_path(ps, w, nw, cfg->vsockd, sizeof(cfg->vsockd));
	if (!strcmp(w[0], "kernel-search"))
		return dir_kernel_search(ps, w, nw);
	if (!strcmp(w[0], "hook-allow"))
		return dir_hook_allow(ps, w, nw);
	if (!strcmp(w[0], "vm"))
		return dir_vm(ps, w, nw);
	if (!strcmp(w[0], "respond"))
		return dir_respond(ps, w, nw);
	return perr(ps, "unknown directive '%.64s'", w[0]);
}

/* Split @line in place into words; a '#' at a word start ends the line. */
static int split_words(struct parse *ps, char *line, char **w, int *nw)
{
	char *p = line;

	*nw = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			return 0;
		if (*nw == MAX_WORDS)
			return perr(ps, "too many words");
		w[(*nw)++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static int parse_line(struct parse *ps, char *line)
{
	char *w[MAX_WORDS];
	int nw;

	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return perr(ps, "control character in line");
	if (split_words(ps, line, w, &nw))
		return -1;
	return nw ? directive(ps, w, nw) : 0;
}

int rw_config_parse(const char *text, size_t len, const char *fname, struct rw_config *cfg,
		    char *err, size_t errlen)
{
	struct parse ps = { .fname = fname, .err = err, .errlen = errlen, .cfg = cfg };
	char line[RW_CONFIG_MAX_LINE + 1];
	size_t pos = 0;

	if (len > RW_CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", fname, RW_CONFIG_MAX_BYTES);
		return -1;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		ps.line++;
		if (n > RW_CONFIG_MAX_LINE)
			return perr(&ps, "line longer than %u bytes", RW_CONFIG_MAX_LINE);
		if (memchr(text + pos, '\0', n))
			return perr(&ps, "NUL byte in line");
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if (parse_line(&ps, line))
			return -1;
		pos += n + (nl ? 1 : 0);
	}
	return 0;
}

int rw_config_load(const char *path, bool optional, struct rw_config *cfg, char *err,
		   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int rc;

	if (!f) {
		if (optional && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(RW_CONFIG_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(buf, 1, RW_CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	} else {
		rc = rw_config_parse(buf, n, path, cfg, err, errlen);
	}
	fclose(f);
	free(buf);
	return rc;
}

static bool rule_matches(const struct rw_response_rule *r, const char *check,
			 enum rw_severity sev)
{
	return (!strcmp(r->check, "*") || !strcmp(r->check, check)) &&
	       (!strcmp(r->severity, "*") || !strcmp(r->severity, rw_severity_name(sev)));
}

unsigned int rw_config_actions(const struct rw_config *cfg, const char *check,
			       enum rw_severity sev)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (rule_matches(&cfg->rules[i], check, sev))
			return cfg->rules[i].actions;
	return RW_ACT_LOG;
}

unsigned int rw_config_interval(const struct rw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nvms; i++)
		if (!strcmp(cfg->vms[i].name, name))
			return cfg->vms[i].interval_ms;
	return cfg->interval_ms;
}

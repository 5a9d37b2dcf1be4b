// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon-backed ringwatch commands: list, status, events, check, attach,
 * detach, launch, destroy, resume, ack.  Each sends one request over the
 * control socket and prints a table (or, with --json, the daemon's JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/daemon_config.h"
#include "host/daemon_output.h"
#include "host/launcher.h"

#define CALL_TIMEOUT_MS 30000
#define CHECK_TIMEOUT_MS 120000
#define LAUNCH_TIMEOUT_MS (15 * 60 * 1000)

/* --- helpers ------------------------------------------------------------------- */

static int usage_err(const char *cmd, const char *msg, const char *usage)
{
	fprintf(stderr, "ringwatch %s: %s\nusage: ringwatch %s\n", cmd, msg, usage);
	return RW_EXIT_USAGE;
}

/* getopt_long over a subcommand's own options; --json is accepted everywhere. */
static int next_opt(int argc, char **argv, const struct option *opts)
{
	return getopt_long(argc, argv, "", opts, NULL);
}

/* Send @req; on a daemon error print it and return NULL with *rc = 2. */
static json_t *call(const struct cli_ctx *ctx, const char *cmd, json_t *req, int timeout_ms,
		    int *rc)
{
	struct rw_ctl *c = rw_ctl_connect(ctx->control);
	json_t *resp, *result;

	*rc = RW_EXIT_USAGE;
	if (!c) {
		json_decref(req);
		return NULL;
	}
	resp = rw_ctl_call(c, req, timeout_ms);
	rw_ctl_close(c);
	if (!resp)
		return NULL;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "ringwatch %s: %s\n", cmd,
			json_string_value(json_object_get(resp, "error")) ?: "request failed");
		json_decref(resp);
		return NULL;
	}
	result = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	*rc = RW_EXIT_OK;
	return result;
}

static void print_json(json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (text)
		printf("%s\n", text);
	free(text);
}

static const char *str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static bool vm_alert(json_t *vm)
{
	return !strcmp(str(vm, "state"), "alert");
}

/* "3s ago", "2m ago"; "-" when never. */
static void ago(long long ms, char *out, size_t outlen)
{
	struct timespec ts;
	long long now, d;

	if (!ms) {
		snprintf(out, outlen, "-");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	d = (now - ms) / 1000;
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(out, outlen, "%llds ago", d);
	else if (d < 7200)
		snprintf(out, outlen, "%lldm ago", d / 60);
	else
		snprintf(out, outlen, "%lldh ago", d / 3600);
}

static void join_array(json_t *arr, char *out, size_t outlen)
{
	size_t i, used = 0;
	json_t *v;

	snprintf(out, outlen, "-");
	json_array_foreach(arr, i, v) {
		int n = snprintf(out + used, outlen - used, "%s%s", i ? "," : "",
				 json_string_value(v) ?: "?");

		if (n < 0 || (size_t)n >= outlen - used)
			break;
		used += (size_t)n;
	}
}

static void print_vm_table(json_t *vms)
{
	size_t i;
	json_t *vm;

	printf("%-20s %-8s %-28s %-10s %-24s %s\n", "VM", "STATE", "KERNEL", "LAST CHECK",
	       "FAILING", "ALERTS");
	json_array_foreach(vms, i, vm) {
		char when[32], failing[256];

		ago(json_integer_value(json_object_get(vm, "last_check_ms")), when, sizeof(when));
		join_array(json_object_get(vm, "failing"), failing, sizeof(failing));
		printf("%-20s %-8s %-28s %-10s %-24s %lld\n", str(vm, "name"), str(vm, "state"),
		       str(vm, "kernel")[0] ? str(vm, "kernel") : "-", when, failing,
		       (long long)json_integer_value(json_object_get(vm, "open_alerts")));
	}
}

static void print_vm_status(json_t *vm)
{
	size_t i;
	json_t *c;

	printf("VM %s: %s (%s%s), kernel %s\n", str(vm, "name"), str(vm, "state"), str(vm, "kind"),
	       json_is_true(json_object_get(vm, "paused_by_ringwatch")) ? ", paused by ringwatch" : "",
	       str(vm, "kernel")[0] ? str(vm, "kernel") : "unknown");
	printf("  qmp %s, every %lld ms, %lld passes, %lld open alerts\n", str(vm, "qmp"),
	       (long long)json_integer_value(json_object_get(vm, "interval_ms")),
	       (long long)json_integer_value(json_object_get(vm, "passes")),
	       (long long)json_integer_value(json_object_get(vm, "open_alerts")));
	{
		json_t *ch = json_object_get(vm, "channel"), *comps = json_object_get(ch, "components");
		char names[64] = "", last[64] = "never";
		long long last_ms = (long long)json_integer_value(json_object_get(ch, "last_message_ms"));

		if (json_array_size(comps))
			join_array(comps, names, sizeof(names));
		if (last_ms)
			ago(last_ms, last, sizeof(last));
		printf("  channel: %lld stream(s)%s%s%s, last message %s, %lld messages, %lld lost\n",
		       (long long)json_integer_value(json_object_get(ch, "streams")),
		       names[0] ? " (" : "", names, names[0] ? ")" : "", last,
		       (long long)json_integer_value(json_object_get(ch, "messages")),
		       (long long)json_integer_value(json_object_get(ch, "lost")));
	}
	{
		json_t *x = json_object_get(json_object_get(vm, "channel"), "cred_xcheck");
		static const char *const keys[] = { "matched", "kmod_only", "bpf_only", "unverified",
						    "after_loss", "dropped", "pending" };
		long long n[7];

		for (size_t k = 0; k < 7; k++)
			n[k] = (long long)json_integer_value(json_object_get(x, keys[k]));
		if (json_is_object(x))
			printf("  cred-xcheck: %lld paired, %lld kmod only, %lld bpf only, "
			       "%lld unverified, %lld after loss, %lld dropped, %lld waiting\n",
			       n[0], n[1], n[2], n[3], n[4], n[5], n[6]);
	}
	printf("%-12s %-8s %-18s %-24s %s\n", "CHECK", "RESULT", "SOURCE", "WHEN", "SUMMARY");
	json_array_foreach(json_object_get(vm, "checks"), i, c)
		printf("%-12s %-8s %-18s %-24s %s\n", str(c, "check"), str(c, "result"),
		       str(c, "source")[0] ? str(c, "source") : "-",
		       str(c, "time")[0] ? str(c, "time") : "-", str(c, "summary"));
}

/* The one positional VM argument after the options. */
static const char *one_vm(int argc, char **argv, const char *cmd, const char *usage)
{
	if (optind != argc - 1) {
		usage_err(cmd, optind >= argc ? "expected a VM name" : "too many arguments", usage);
		return NULL;
	}
	return argv[optind];
}

static const struct option json_only[] = {
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

/* Parse a command that takes only --json; returns -1 on a bad option. */
static int json_only_opts(int argc, char **argv, struct cli_ctx *local)
{
	int c;

	optind = 1;
	while ((c = next_opt(argc, argv, json_only)) != -1) {
		if (c != 'j')
			return -1;
		local->json = true;
	}
	return 0;
}

/* --- list / status / check ------------------------------------------------------ */

int cli_list(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "list [--json]";
	struct cli_ctx l = *ctx;
	json_t *res, *vms, *vm;
	size_t i;
	int rc;

	if (json_only_opts(argc, argv, &l) || optind != argc)
		return usage_err("list", "bad arguments", u);
	res = call(&l, "list", json_pack("{s:s}", "cmd", "list"), CALL_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	vms = json_object_get(res, "vms");
	if (l.json)
		print_json(vms);
	else
		print_vm_table(vms);
	json_array_foreach(vms, i, vm)
		if (vm_alert(vm))
			rc = RW_EXIT_ALERT;
	json_decref(res);
	return rc;
}

static int show_vm(const struct cli_ctx *ctx, const char *cmd, json_t *req, int timeout_ms)
{
	int rc;
	json_t *vm = call(ctx, cmd, req, timeout_ms, &rc);

	if (!vm)
		return rc;
	if (ctx->json)
		print_json(vm);
	else
		print_vm_status(vm);
	rc = vm_alert(vm) ? RW_EXIT_ALERT : RW_EXIT_OK;
	json_decref(vm);
	return rc;
}

int cli_status(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "status VM [--json]";
	struct cli_ctx l = *ctx;
	const char *vm;

	if (json_only_opts(argc, argv, &l))
		return usage_err("status", "bad option", u);
	vm = one_vm(argc, argv, "status", u);
	if (!vm)
		return RW_EXIT_USAGE;
	return show_vm(&l, "status", json_pack("{s:s,s:s}", "cmd", "status", "vm", vm),
		       CALL_TIMEOUT_MS);
}

int cli_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "check VM [--json]";
	struct cli_ctx l = *ctx;
	const char *vm;

	if (json_only_opts(argc, argv, &l))
		return usage_err("check", "bad option", u);
	vm = one_vm(argc, argv, "check", u);
	if (!vm)
		return RW_EXIT_USAGE;
	return show_vm(&l, "check", json_pack("{s:s,s:s}", "cmd", "check", "vm", vm),
		       CHECK_TIMEOUT_MS);
}

/* --- events ----------------------------------------------------------------------- */

/*
 * --since: "30s", "10m", "2h", "1d" ago; "@UNIXSECONDS"; or a UTC time
 * "YYYY-MM-DDTHH:MM:SS[Z]" / "YYYY-MM-DD HH:MM:SS" / "YYYY-MM-DD".
 */
static int parse_since(const char *s, long long *ms)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
					       "%Y-%m-%d" };
	struct timespec now;
	char *end;
	long long v;

	clock_gettime(CLOCK_REALTIME, &now);
	if (s[0] == '@') {
		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end || v < 0)
			return -1;
		*ms = v * 1000;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!errno && end != s && v >= 0 && v < 100000000 &&
	    (!strcmp(end, "s") || !strcmp(end, "m") || !strcmp(end, "h") || !strcmp(end, "d"))) {
		long long mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;

		*ms = ((long long)now.tv_sec - v * mult) * 1000;
		if (*ms < 0)
			*ms = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm = { 0 };
		const char *rest = strptime(s, formats[i], &tm);

		if (rest && (!*rest || !strcmp(rest, "Z"))) {
			*ms = (long long)timegm(&tm) * 1000;
			return 0;
		}
	}
	return -1;
}

static void print_event_line(json_t *ev, bool json)
{
	json_t *detail = json_object_get(ev, "detail");
	const char *summary = str(detail, "summary");
	char when[40], *dtext = NULL;

	if (json) {
		char *text = json_dumps(ev, JSON_COMPACT);

		if (text)
			printf("%s\n", text);
		free(text);
		fflush(stdout);
		return;
	}
	rw_format_time(json_integer_value(json_object_get(ev, "time_ms")), when, sizeof(when));
	if (!summary[0])
		dtext = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%-6lld %s %-16s %-8s %-12s %-12s %s\n",
	       (long long)json_integer_value(json_object_get(ev, "id")), when, str(ev, "vm"),
	       str(ev, "severity"), str(ev, "check"), str(ev, "source"),
	       summary[0] ? summary : dtext ? dtext : "");
	free(dtext);
	fflush(stdout);
}

static volatile sig_atomic_t follow_stop;

static void on_follow_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static int follow(const struct cli_ctx *ctx, json_t *req)
{
	struct rw_ctl *c = rw_ctl_connect(ctx->control);
	json_t *resp, *ev;
	size_t i;

	if (!c) {
		json_decref(req);
		return RW_EXIT_USAGE;
	}
	resp = rw_ctl_call(c, req, CALL_TIMEOUT_MS);
	if (!resp || !json_is_true(json_object_get(resp, "ok"))) {
		if (resp)
			fprintf(stderr, "ringwatch events: %s\n", str(resp, "error"));
		json_decref(resp);
		rw_ctl_close(c);
		return RW_EXIT_USAGE;
	}
	json_array_foreach(json_object_get(json_object_get(resp, "result"), "events"), i, ev)
		print_event_line(ev, ctx->json);
	json_decref(resp);
	signal(SIGINT, on_follow_signal);
	signal(SIGTERM, on_follow_signal);
	while (!follow_stop) {
		json_t *line = rw_ctl_next(c, 500);

		if (!line) {
			if (follow_stop)
				break;
			continue;	/* timeout: check for a signal, wait again */
		}
		print_event_line(json_object_get(line, "event"), ctx->json);
		json_decref(line);
	}
	rw_ctl_close(c);
	return RW_EXIT_OK;
}

/* Exit 1 when the named VM has an alert open (events VM). */
static int vm_exit_code(const struct cli_ctx *ctx, const char *vm)
{
	int rc;
	json_t *o = call(ctx, "events", json_pack("{s:s,s:s}", "cmd", "status", "vm", vm),
			 CALL_TIMEOUT_MS, &rc);

	if (!o)	/* a detached VM with stored events: nothing open to report */
		return RW_EXIT_OK;
	rc = vm_alert(o) ? RW_EXIT_ALERT : RW_EXIT_OK;
	json_decref(o);
	return rc;
}

int cli_events(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "events [VM] [--since T] [--limit N] [--follow] [--json]";
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx l = *ctx;
	long long since = 0, limit = 0;
	bool follow_flag = false;
	const char *vm = NULL;
	json_t *req, *res, *ev;
	size_t i;
	int c, rc;

	optind = 1;
	while ((c = next_opt(argc, argv, opts)) != -1) {
		char *end;

		switch (c) {
		case 'j': l.json = true; break;
		case 'f': follow_flag = true; break;
		case 's':
			if (parse_since(optarg, &since))
				return usage_err("events", "--since: expected e.g. 10m, 2h, @UNIXTIME "
						 "or 2025-01-31T12:00:00Z", u);
			break;
		case 'l':
			limit = strtoll(optarg, &end, 10);
			if (*end || end == optarg || limit < 1 || limit > 100000)
				return usage_err("events", "--limit: expected 1..100000", u);
			break;
		default: return usage_err("events", "bad option", u);
		}
	}
	if (argc - optind > 1)
		return usage_err("events", "too many arguments", u);
	if (optind < argc)
		vm = argv[optind];
	req = json_pack("{s:s,s:I,s:I,s:b}", "cmd", "events", "since_ms", (json_int_t)since,
			"limit", (json_int_t)limit, "follow", follow_flag);
	if (vm)
		json_object_set_new(req, "vm", json_string(vm));
	if (follow_flag)
		return follow(&l, req);
	res = call(&l, "events", req, CALL_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	if (l.json)
		print_json(json_object_get(res, "events"));
	else
		json_array_foreach(json_object_get(res, "events"), i, ev)
			print_event_line(ev, false);
	json_decref(res);
	return vm ? vm_exit_code(&l, vm) : RW_EXIT_OK;
}

/* --- attach / detach / destroy / resume / ack ------------------------------------ */

/* An absolute version of @path (relative to the CLI's cwd). */
static int absolute(const char *path, char *out, size_t outlen)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, outlen, "%s", path) < (int)outlen ? 0 : -1;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, outlen, "%s/%s", cwd, path) < (int)outlen ? 0 : -1;
}

static int parse_interval(const char *cmd, const char *s, unsigned int *ms, const char *u)
{
	if (rw_parse_duration(s, ms))
		return usage_err(cmd, "--interval: expected e.g. 500ms, 1s, 2m", u);
	return 0;
}

static int parse_count(const char *s, unsigned long max, unsigned long *out);

int cli_attach(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "attach NAME --qmp SOCK [--mem FILE] [--kernel IMAGE] "
				"[--interval DUR] [--vsock-cid CID] [--json]";
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "mem", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "interval", required_argument, NULL, 'i' },
		{ "vsock-cid", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	char qmp[PATH_MAX] = "", mem[PATH_MAX] = "", kernel[PATH_MAX] = "";
	unsigned long cid = 0;
	struct cli_ctx l = *ctx;
	unsigned int interval = 0;
	const char *name;
	json_t *res;
	int c, rc;

	optind = 1;
	while ((c = next_opt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'j': l.json = true; break;
		case 'q': if (absolute(optarg, qmp, sizeof(qmp))) return usage_err("attach", "--qmp: path too long", u); break;
		case 'm': if (absolute(optarg, mem, sizeof(mem))) return usage_err("attach", "--mem: path too long", u); break;
		case 'k': if (absolute(optarg, kernel, sizeof(kernel))) return usage_err("attach", "--kernel: path too long", u); break;
		case 'i': if (parse_interval("attach", optarg, &interval, u)) return RW_EXIT_USAGE; break;
		case 'C': if (parse_count(optarg, 0xfffffffeul, &cid) || cid < 3) return usage_err("attach", "--vsock-cid: a CID >= 3 expected", u); break;
		default: return usage_err("attach", "bad option", u);
		}
	}
	name = one_vm(argc, argv, "attach", u);
	if (!name)
		return RW_EXIT_USAGE;
	if (!qmp[0])
		return usage_err("attach", "--qmp SOCK is required", u);
	res = call(&l, "attach", json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "cmd", "attach", "name",
					   name, "qmp", qmp, "mem", mem, "kernel", kernel,
					   "interval_ms", (json_int_t)interval, "vsock_cid",
					   (json_int_t)cid), CALL_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	if (l.json)
		print_json(res);
	else
		printf("attached %s (qmp %s)\n", name, qmp);
	json_decref(res);
	return RW_EXIT_OK;
}

static int simple_op(const struct cli_ctx *ctx, int argc, char **argv, const char *cmd,
		     const char *done)
{
	char u[64];
	struct cli_ctx l = *ctx;
	const char *vm;
	json_t *res;
	int rc;

	snprintf(u, sizeof(u), "%s VM [--json]", cmd);
	if (json_only_opts(argc, argv, &l))
		return usage_err(cmd, "bad option", u);
	vm = one_vm(argc, argv, cmd, u);
	if (!vm)
		return RW_EXIT_USAGE;
	res = call(&l, cmd, json_pack("{s:s,s:s}", "cmd", cmd, "vm", vm), CHECK_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	if (l.json)
		print_json(res);
	else
		printf("%s %s\n", done, vm);
	json_decref(res);
	return RW_EXIT_OK;
}

int cli_detach(const struct cli_ctx *ctx, int argc, char **argv)
{
	return simple_op(ctx, argc, argv, "detach", "detached");
}

int cli_destroy(const struct cli_ctx *ctx, int argc, char **argv)
{
	return simple_op(ctx, argc, argv, "destroy", "destroyed");
}

int cli_resume(const struct cli_ctx *ctx, int argc, char **argv)
{
	return simple_op(ctx, argc, argv, "resume", "resumed");
}

int cli_ack(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "ack VM [--id EVENT] [--json]";
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "id", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx l = *ctx;
	long long id = 0;
	const char *vm;
	json_t *res;
	char *end;
	int c, rc;

	optind = 1;
	while ((c = next_opt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'j': l.json = true; break;
		case 'i':
			id = strtoll(optarg, &end, 10);
			if (*end || end == optarg || id < 1)
				return usage_err("ack", "--id: expected an event id", u);
			break;
		default: return usage_err("ack", "bad option", u);
		}
	}
	vm = one_vm(argc, argv, "ack", u);
	if (!vm)
		return RW_EXIT_USAGE;
	res = call(&l, "ack", json_pack("{s:s,s:s,s:I}", "cmd", "ack", "vm", vm, "id",
					(json_int_t)id), CALL_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	if (l.json)
		print_json(res);
	else
		printf("acknowledged %lld alert(s) on %s\n",
		       (long long)json_integer_value(json_object_get(res, "acknowledged")), vm);
	json_decref(res);
	return RW_EXIT_OK;
}

/* --- launch ------------------------------------------------------------------------ */

struct launch_args {
	char kit[PATH_MAX];
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	char overlay[PATH_MAX];
	char disk[PATH_MAX];
	char format[16];
	unsigned long memory, cpus, timeout_s;
	unsigned int interval;
	bool no_kaslr;
	bool no_reboot;
};

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || end == s || *out < 1 || *out > max ? -1 : 0;
}

static int launch_opts(int argc, char **argv, struct launch_args *a, struct cli_ctx *l,
		       const char *u)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "kit", required_argument, NULL, 'K' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "overlay", required_argument, NULL, 'o' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-kaslr", no_argument, NULL, 'n' },
		{ "no-reboot", no_argument, NULL, 'R' },
		{ "disk", required_argument, NULL, 'D' },
		{ "format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = next_opt(argc, argv, opts)) != -1) {
		char *dst = c == 'K' ? a->kit : c == 'k' ? a->kernel : c == 'i' ? a->initrd :
			    c == 'o' ? a->overlay : c == 'D' ? a->disk : NULL;

		if (dst && absolute(optarg, dst, PATH_MAX))
			return usage_err("launch", "path too long", u);
		switch (c) {
		case 'j': l->json = true; break;
		case 'K': case 'k': case 'i': case 'o': case 'D': break;
		case 'F':
			if (!rw_vm_disk_format_valid(optarg))
				return usage_err("launch", "--format: raw, qcow2, qed, vmdk, vdi, vhdx "
						 "or vpc", u);
			snprintf(a->format, sizeof(a->format), "%s", optarg);
			break;
		case 'm': if (parse_count(optarg, 65536, &a->memory)) return usage_err("launch", "--memory: MiB expected", u); break;
		case 'c': if (parse_count(optarg, 64, &a->cpus)) return usage_err("launch", "--cpus: 1..64 expected", u); break;
		case 't': if (parse_count(optarg, 3600, &a->timeout_s)) return usage_err("launch", "--timeout: seconds expected", u); break;
		case 'I': if (parse_interval("launch", optarg, &a->interval, u)) return RW_EXIT_USAGE; break;
		case 'n': a->no_kaslr = true; break;
		case 'R': a->no_reboot = true; break;
		default: return usage_err("launch", "bad option", u);
		}
	}
	return 0;
}

/* No --kernel: the kit's demo guest (--kit, $RINGWATCH_KIT or the build tree's kit). */
static int resolve_kernel(struct launch_args *a, const char *u)
{
	if (a->disk[0]) {
		if (a->kernel[0] || a->initrd[0] || a->kit[0] || a->overlay[0] || a->no_kaslr)
			return usage_err("launch", "--disk boots the disk: no --kit, --kernel, "
					 "--initrd, --overlay or --no-kaslr with it", u);
		if (access(a->disk, R_OK)) {
			fprintf(stderr, "ringwatch launch: disk image %s: %s\n", a->disk,
				strerror(errno));
			return RW_EXIT_USAGE;
		}
		return 0;
	}
	if (a->format[0])
		return usage_err("launch", "--format goes with --disk", u);
	if (!!a->kernel[0] != !!a->initrd[0])
		return usage_err("launch", "--kernel and --initrd go together", u);
	if (a->kernel[0])
		return 0;
	if (!a->kit[0] && cli_default_kit(a->kit, sizeof(a->kit)))
		return usage_err("launch", "cannot locate the guest kit; use --kit", u);
	if (snprintf(a->kernel, sizeof(a->kernel), "%s/vmlinuz", a->kit) >= (int)sizeof(a->kernel) ||
	    snprintf(a->initrd, sizeof(a->initrd), "%s/initramfs.cpio.gz", a->kit) >=
	    (int)sizeof(a->initrd))
		return usage_err("launch", "--kit: path too long", u);
	if (access(a->kernel, R_OK) || access(a->initrd, R_OK)) {
		fprintf(stderr, "ringwatch launch: no guest kit in %s (run 'make kit')\n", a->kit);
		return RW_EXIT_USAGE;
	}
	return 0;
}

int cli_launch(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "launch NAME [--kit DIR | --kernel K --initrd I | --disk D "
				"[--format F]] [--memory MIB] [--cpus N] [--overlay DIR] [--no-kaslr] "
				"[--no-reboot] [--interval DUR] [--timeout SEC] [--json]";
	struct launch_args a = { 0 };
	struct cli_ctx l = *ctx;
	const char *name;
	json_t *req;

	if (launch_opts(argc, argv, &a, &l, u))
		return RW_EXIT_USAGE;
	name = one_vm(argc, argv, "launch", u);
	if (!name || resolve_kernel(&a, u))
		return RW_EXIT_USAGE;
	req = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "cmd", "launch", "name", name,
			"memory_mib", (json_int_t)a.memory,
			"cpus", (json_int_t)a.cpus, "interval_ms", (json_int_t)a.interval,
			"timeout_ms", (json_int_t)a.timeout_s * 1000, "no_kaslr", a.no_kaslr);
	if (a.disk[0]) {
		json_object_set_new(req, "disk", json_string(a.disk));
		if (a.format[0])
			json_object_set_new(req, "disk_format", json_string(a.format));
	} else {
		json_object_set_new(req, "kernel", json_string(a.kernel));
		json_object_set_new(req, "initrd", json_string(a.initrd));
	}
	if (a.no_reboot)
		json_object_set_new(req, "no_reboot", json_true());
	if (a.overlay[0])
		json_object_set_new(req, "overlay", json_string(a.overlay));
	if (!l.json)
		printf("launching %s (%s %s)...\n", name, a.disk[0] ? "disk" : "kernel",
		       a.disk[0] ? a.disk : a.kernel), fflush(stdout);
	return show_vm(&l, "launch", req, LAUNCH_TIMEOUT_MS);
}

/* --- policy ------------------------------------------------------------------------ */

int cli_policy(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const char u[] = "policy VM add|remove module-allow NAME SHA256|* | exec-deny SHA256 "
				"| env-watch VAR | usb-mount deny|allow [--json]";
	struct cli_ctx l = *ctx;
	json_t *rule, *res;
	int rc, first;

	if (json_only_opts(argc, argv, &l))
		return usage_err("policy", "bad option", u);
	first = optind;
	if (argc - first < 3)
		return usage_err("policy", "expected VM, add|remove and a rule", u);
	if (strcmp(argv[first + 1], "add") && strcmp(argv[first + 1], "remove"))
		return usage_err("policy", "expected add or remove", u);
	if (argc - first - 2 > 3)
		return usage_err("policy", "too many arguments", u);
	rule = json_array();
	for (int i = first + 2; i < argc; i++)
		json_array_append_new(rule, json_string(argv[i]));
	res = call(&l, "policy", json_pack("{s:s,s:s,s:s,s:o}", "cmd", "policy", "vm", argv[first],
					   "op", argv[first + 1], "rule", rule),
		   CALL_TIMEOUT_MS, &rc);
	if (!res)
		return rc;
	if (l.json)
		print_json(res);
	else
		printf("policy of %s updated (generation %lld, acknowledged by the guest agent)\n",
		       argv[first], (long long)json_integer_value(json_object_get(res, "generation")));
	json_decref(res);
	return RW_EXIT_OK;
}

// SPDX-License-Identifier: GPL-2.0
/* The host side of the BPF LSM e2e test: see bpf_host.h. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/lib/bpf_host.h"
#include "tests/lib/e2e_daemon.h"

int rw_bpf_host_cli(struct rw_bpf_host *h, char **out, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return rw_test_ringwatch(&h->d, out, "%s", args);
}

/* `events`/`status` exit 1 while an alert is open on the VM (guard events are alerts). */
static json_t *cli_json(struct rw_bpf_host *h, const char *args, int ok_rc1)
{
	return rw_test_ringwatch_json(&h->d, ok_rc1 ? -1 : 0, "%s", args);
}

void rw_bpf_host_start(struct rw_bpf_host *h, const struct rw_test_env *env,
		       unsigned int interval_ms)
{
	char cfg[256];

	memset(h, 0, sizeof(*h));
	/* Responses are logged only: the test's guests must never be paused. */
	snprintf(cfg, sizeof(cfg), "interval %ums\nsyslog off\nqmp-timeout 5s\nrespond * alert log\n",
		 interval_ms);
	rw_test_daemon_init(&h->d, env, "bpfhost", cfg);
	h->d.json_log = true;
	rw_test_daemon_start(&h->d);
}

void rw_bpf_host_stop(struct rw_bpf_host *h)
{
	if (h->d.dir[0])
		rw_test_daemon_cleanup(&h->d);
	h->d.pid = 0;
	h->d.dir[0] = '\0';
}

void rw_bpf_host_boot(struct rw_bpf_host *h, const struct rw_test_env *genv, const char *name,
		      struct rw_test_boot *opts, struct rw_bpf_host_guest *g, char *ready,
		      size_t readylen)
{
	char vhost[300], log[300], mem[64], vm_name[sizeof(g->name)], *out;
	int rc;

	snprintf(vm_name, sizeof(vm_name), "%s", name);	/* @name may be g->name */
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", vm_name);
	name = g->name;
	snprintf(vhost, sizeof(vhost), "%s/%s.vhost", h->d.dir, name);
	snprintf(log, sizeof(log), "%s/%s.vsockd.log", h->d.dir, name);
	g->vsockd = rw_test_daemon_start_vsockd(&h->d, name, vhost, log);
	opts->vsock = RW_VSOCK_VHOST_USER;
	opts->vhost_user_socket = vhost;
	opts->guest_cid = 3;
	rw_test_boot(genv, opts, &g->vm, ready, readylen);
	snprintf(mem, sizeof(mem), "/proc/%d/fd/%d", (int)getpid(), g->vm.ram_fd);
	rc = rw_bpf_host_cli(h, &out, "attach '%s' --qmp '%s' --mem '%s' --kernel '%s'", name,
			     g->vm.qmp_path, mem, genv->kernel);
	if (rc)
		fail_msg("ringwatch attach %s: exit %d\n%s", name, rc, out);
	free(out);
}

void rw_bpf_host_shutdown(struct rw_bpf_host *h, struct rw_bpf_host_guest *g)
{
	int status;

	if (g->name[0] && h->d.pid > 0)
		rw_bpf_host_cli(h, NULL, "detach '%s'", g->name);
	if (g->vm.pid)
		rw_vm_stop(&g->vm);
	if (g->vsockd > 0) {
		kill(g->vsockd, SIGTERM);
		waitpid(g->vsockd, &status, 0);
	}
	g->vsockd = 0;
	g->name[0] = '\0';
}

json_t *rw_bpf_host_agent_events(struct rw_bpf_host *h, const char *vm)
{
	char args[256];
	json_t *all, *out = json_array(), *e;
	size_t i;

	snprintf(args, sizeof(args), "events '%s' --json --limit 100000", vm);
	all = cli_json(h, args, 1);
	if (!json_is_array(all))
		fail_msg("ringwatch %s: not a JSON array", args);
	json_array_foreach(all, i, e) {
		const char *src = json_string_value(json_object_get(e, "source"));

		if (src && !strcmp(src, "agent"))
			json_array_append(out, e);
	}
	json_decref(all);
	return out;
}

/* Host view of one agent event as one compact line (see bpf_host.h). */
static char *event_line(json_t *e)
{
	static const char *const host_keys[] = {
		"kind", "verdict", "errno", "comm", "sha256",
		/* a cred-change event (the daemon decodes the agent's CRED_CHANGE) */
		"pid", "via", "old_uid", "new_uid", "old_euid", "new_euid", "old_gid", "new_gid",
	};
	json_t *d = json_object_get(e, "detail"), *o = json_object();
	char *text;

	json_object_set(o, "id", json_object_get(e, "id"));
	json_object_set(o, "check", json_object_get(e, "check"));
	json_object_set(o, "severity", json_object_get(e, "severity"));
	for (size_t k = 0; k < sizeof(host_keys) / sizeof(host_keys[0]); k++)
		if (json_object_get(d, host_keys[k]))
			json_object_set(o, host_keys[k], json_object_get(d, host_keys[k]));
	if (json_object_get(d, "report"))
		json_object_set(o, "report", json_object_get(d, "report"));
	else	/* not a JSON object from the agent: the daemon kept the raw text */
		json_object_set(o, "path", json_object_get(d, "path"));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	assert_non_null(text);
	return text;
}

char *rw_bpf_host_agent_lines(struct rw_bpf_host *h, const char *vm)
{
	json_t *evs = rw_bpf_host_agent_events(h, vm), *e;
	size_t i, len = 0;
	char *all = strdup("");

	assert_non_null(all);
	json_array_foreach(evs, i, e) {
		char *line = event_line(e);
		size_t n = strlen(line);

		all = realloc(all, len + n + 2);
		assert_non_null(all);
		memcpy(all + len, line, n);
		all[len + n] = '\n';
		all[len + n + 1] = '\0';
		len += n + 1;
		free(line);
	}
	json_decref(evs);
	return all;
}

long long rw_bpf_host_policy(struct rw_bpf_host *h, const char *vm, const char *op,
			     const char *rule)
{
	char args[1024];
	json_t *res;
	long long gen;

	snprintf(args, sizeof(args), "policy --json '%s' %s %s", vm, op, rule);
	res = cli_json(h, args, 0);
	gen = (long long)json_integer_value(json_object_get(res, "generation"));
	json_decref(res);
	if (gen <= 0)
		fail_msg("ringwatch %s: no generation in the answer", args);
	return gen;
}

long long rw_bpf_host_agent_heartbeat(struct rw_bpf_host *h, const char *vm)
{
	char args[256];
	json_t *st, *row;
	long long counter = 0;
	size_t i;

	snprintf(args, sizeof(args), "status '%s' --json", vm);
	st = cli_json(h, args, 1);
	json_array_foreach(json_object_get(json_object_get(st, "channel"), "state"), i, row) {
		const char *comp = json_string_value(json_object_get(row, "component"));
		const char *kind = json_string_value(json_object_get(row, "kind"));

		if (comp && kind && !strcmp(comp, "agent") && !strcmp(kind, "heartbeat"))
			counter = (long long)json_integer_value(
				json_object_get(json_object_get(row, "detail"), "counter"));
	}
	json_decref(st);
	return counter;
}

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

/* popen @cmd, collect stdout; returns the exit code (-1 if killed). */
static int run_capture(char **out, const char *cmd)
{
	char buf[4096], *text = NULL;
	size_t len = 0, cap = 0;
	FILE *p = popen(cmd, "r");
	int status;

	if (!p)
		fail_msg("popen %s: %s", cmd, strerror(errno));
	while (fgets(buf, sizeof(buf), p)) {
		size_t n = strlen(buf);

		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			text = realloc(text, cap);
			assert_non_null(text);
		}
		memcpy(text + len, buf, n + 1);
		len += n;
	}
	status = pclose(p);
	if (out)
		*out = text ? text : strdup("");
	else
		free(text);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int rw_bpf_host_cli(struct rw_bpf_host *h, char **out, const char *fmt, ...)
{
	char args[2048], cmd[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "RINGWATCH_CONTROL='%s' '%s/rel/bin/ringwatch' %s 2>&1",
		 h->control, h->env->build, args);
	return run_capture(out, cmd);
}

static json_t *cli_json(struct rw_bpf_host *h, const char *args, int ok_rc1)
{
	json_error_t jerr;
	char *out;
	json_t *o;
	int rc = rw_bpf_host_cli(h, &out, "%s", args);

	/* `events`/`status` exit 1 while an alert is open on the VM (guard events are alerts). */
	if (rc != 0 && !(ok_rc1 && rc == 1))
		fail_msg("ringwatch %s: exit %d:\n%.4000s", args, rc, out);
	o = json_loads(out, 0, &jerr);
	if (!o)
		fail_msg("ringwatch %s: not JSON (%s):\n%.2000s", args, jerr.text, out);
	free(out);
	return o;
}

void rw_bpf_host_start(struct rw_bpf_host *h, const struct rw_test_env *env,
		       unsigned int interval_ms)
{
	char cfg[256], path[300], cmd[2048], *out;
	FILE *f;
	int rc;

	memset(h, 0, sizeof(*h));
	h->env = env;
	rw_test_mkdtemp(h->dir, sizeof(h->dir), "bpfhost");
	snprintf(h->control, sizeof(h->control), "%s/control.sock", h->dir);
	snprintf(h->state_dir, sizeof(h->state_dir), "%s/state", h->dir);
	/* Responses are logged only: the test's guests must never be paused. */
	snprintf(cfg, sizeof(cfg), "interval %ums\nsyslog off\nqmp-timeout 5s\nrespond * alert log\n",
		 interval_ms);
	rw_test_write_file(h->dir, "ringwatch.conf", cfg, 0644);
	snprintf(cmd, sizeof(cmd), "'%s/rel/bin/ringwatchd' --state-dir '%s' --control '%s' "
		 "--config '%s/ringwatch.conf' --json-log '%s/events.jsonl' 2>&1", env->build,
		 h->state_dir, h->control, h->dir, h->dir);
	rc = run_capture(&out, cmd);
	if (rc != 0)
		fail_msg("ringwatchd exited %d (is build/rel/bin/ringwatchd built?): %s", rc, out);
	free(out);
	snprintf(path, sizeof(path), "%s/ringwatchd.lock", h->state_dir);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%d", &h->daemon_pid) != 1 || h->daemon_pid <= 0)
		fail_msg("ringwatchd left no pid in %s", path);
	fclose(f);
}

void rw_bpf_host_stop(struct rw_bpf_host *h)
{
	if (h->daemon_pid > 0 && kill(h->daemon_pid, SIGTERM) == 0)
		for (int i = 0; i < 300 && !(kill(h->daemon_pid, 0) && errno == ESRCH); i++)
			usleep(100000);
	h->daemon_pid = 0;
	if (h->dir[0])
		rw_test_rmtree(h->dir);
	h->dir[0] = '\0';
}

static pid_t start_vsockd(struct rw_bpf_host *h, const char *name, const char *vhost)
{
	char bin[700], upstream[300], log[300];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch-vsockd", h->env->build);
	snprintf(upstream, sizeof(upstream), "%s/channel.sock", h->state_dir);
	snprintf(log, sizeof(log), "%s/%s.vsockd.log", h->dir, name);
	if (access(bin, X_OK))
		fail_msg("%s missing (make -f mk/build.mk VARIANT=rel bins)", bin);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(bin, bin, "--vm", name, "--cid", "3", "--socket", vhost, "--upstream",
		      upstream, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && access(vhost, F_OK); i++)
		usleep(50000);
	if (access(vhost, F_OK))
		fail_msg("ringwatch-vsockd did not create %s (log %s)", vhost, log);
	return pid;
}

void rw_bpf_host_boot(struct rw_bpf_host *h, const struct rw_test_env *genv, const char *name,
		      struct rw_test_boot *opts, struct rw_bpf_host_guest *g, char *ready,
		      size_t readylen)
{
	char vhost[300], mem[64], vm_name[sizeof(g->name)], *out;
	int rc;

	snprintf(vm_name, sizeof(vm_name), "%s", name);	/* @name may be g->name */
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", vm_name);
	name = g->name;
	snprintf(vhost, sizeof(vhost), "%s/%s.vhost", h->dir, name);
	g->vsockd = start_vsockd(h, name, vhost);
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

	if (g->name[0] && h->daemon_pid > 0)
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
	static const char *const host_keys[] = { "kind", "verdict", "errno", "comm", "sha256" };
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

// SPDX-License-Identifier: GPL-2.0
#include "tests/lib/e2e_daemon.h"

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

static int run_shell(char **out, const char *cmd)
{
	char buf[4096];
	size_t len = 0, cap = 0;
	char *text = NULL;
	FILE *p;
	int status;

	p = popen(cmd, "r");
	assert_non_null(p);
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

int rw_test_sh(char **out, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run_shell(out, cmd);
}

void rw_test_daemon_init(struct rw_test_daemon *d, const struct rw_test_env *env,
			 const char *tag, const char *config)
{
	memset(d, 0, sizeof(*d));
	d->env = env;
	rw_test_mkdtemp(d->dir, sizeof(d->dir), tag);
	snprintf(d->control, sizeof(d->control), "%s/control.sock", d->dir);
	snprintf(d->state_dir, sizeof(d->state_dir), "%s/state", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/ringwatch.conf", d->dir);
	rw_test_write_file(d->dir, "ringwatch.conf", config, 0644);
}

static int read_daemon_pid(const struct rw_test_daemon *d)
{
	char path[300];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/ringwatchd.lock", d->state_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return pid;
}

void rw_test_daemon_start(struct rw_test_daemon *d)
{
	char json_log[200] = "";
	char *out;
	int rc;

	if (d->json_log)
		snprintf(json_log, sizeof(json_log), "--json-log '%s/events.jsonl' ", d->dir);
	rc = rw_test_sh(&out, "'%s/rel/bin/ringwatchd' --state-dir '%s' --control '%s' --config '%s' "
			"%s2>&1", d->env->build, d->state_dir, d->control, d->conf, json_log);
	if (rc != 0)
		fail_msg("ringwatchd exited %d: %s", rc, out);
	free(out);
	d->pid = read_daemon_pid(d);
	assert_true(d->pid > 0);
}

void rw_test_daemon_stop(const struct rw_test_daemon *d)
{
	if (d->pid > 0 && kill(d->pid, SIGTERM) == 0) {
		for (int i = 0; i < 300 && !(kill(d->pid, 0) && errno == ESRCH); i++)
			usleep(100000);
	}
}

void rw_test_daemon_cleanup(struct rw_test_daemon *d)
{
	rw_test_daemon_stop(d);
	rw_test_rmtree(d->dir);
}

static int ringwatch_args(const struct rw_test_daemon *d, char **out, const char *args)
{
	return rw_test_sh(out, "RINGWATCH_CONTROL='%s' RINGWATCH_KIT='%s' '%s/rel/bin/ringwatch' %s 2>&1",
			  d->control, d->env->kit, d->env->build, args);
}

int rw_test_ringwatch(const struct rw_test_daemon *d, char **out, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return ringwatch_args(d, out, args);
}

json_t *rw_test_ringwatch_json(const struct rw_test_daemon *d, int want_rc, const char *fmt, ...)
{
	char args[2048], *out;
	json_error_t jerr;
	va_list ap;
	json_t *o;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = ringwatch_args(d, &out, args);
	if (want_rc >= 0 ? rc != want_rc : rc != 0 && rc != 1)
		fail_msg("ringwatch %s: exit %d, want %d:\n%s", args, rc, want_rc, out);
	o = json_loads(out, 0, &jerr);
	if (!o)
		fail_msg("ringwatch %s: not JSON (%s):\n%.2000s", args, jerr.text, out);
	free(out);
	return o;
}

json_t *rw_test_vm_events(const struct rw_test_daemon *d, const char *vm)
{
	json_t *all = rw_test_ringwatch_json(d, -1, "events %s --json --limit 100000", vm);

	if (!json_is_array(all)) {
		char *text = json_dumps(all, JSON_COMPACT | JSON_ENCODE_ANY);

		fail_msg("ringwatch events %s --json: not a JSON array: %.2000s", vm,
			 text ? text : "?");
	}
	return all;
}

json_t *rw_test_list_vm(json_t *list, const char *name)
{
	size_t i;
	json_t *vm;

	json_array_foreach(list, i, vm)
		if (!strcmp(json_string_value(json_object_get(vm, "name")), name))
			return vm;
	return NULL;
}

const char *rw_test_list_vm_state(json_t *list, const char *name)
{
	json_t *vm = rw_test_list_vm(list, name);

	return vm ? json_string_value(json_object_get(vm, "state")) : "(missing)";
}

void rw_test_wait_gone(int pid, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return;
		usleep(100000);
	}
	fail_msg("process %d still there after %d s", pid, timeout_s);
}

int rw_test_daemon_start_vsockd(const struct rw_test_daemon *d, const char *vm,
				const char *vhost, const char *log)
{
	char bin[700], upstream[300];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch-vsockd", d->env->build);
	snprintf(upstream, sizeof(upstream), "%s/channel.sock", d->state_dir);
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
		execl(bin, bin, "--vm", vm, "--cid", "3", "--socket", vhost, "--upstream", upstream,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && access(vhost, F_OK); i++)
		usleep(50000);
	if (access(vhost, F_OK))
		fail_msg("ringwatch-vsockd did not create %s (log %s)", vhost, log);
	return pid;
}

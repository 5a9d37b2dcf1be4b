// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatchd + ringwatch end to end, through the CLI only: two guests
 * launched by the daemon, one paused behind ringwatch's back (alert for it,
 * ok for the other, exit codes), kill -9 of the daemon and restart with every
 * event shown before still there, the libvirt hook invoked as libvirt does,
 * and clear exit-2 errors (bad arguments, unknown VM, no daemon, bad config).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "tests/lib/e2e_daemon.h"
#include "tests/lib/harness.h"

static struct rw_test_env env;
static struct rw_test_daemon rwd;

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_daemon_init(&rwd, &env, "daemon",
			    "interval 500ms\nmetrics 127.0.0.1:0\nsyslog off\nqmp-timeout 2s\n"
			    "respond * alert log\n");
	rwd.json_log = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rw_test_daemon_cleanup(&rwd);
	return 0;
}

static void expect_usage_error(const char *args, const char *needle)
{
	char *out;
	int rc = rw_test_ringwatch(&rwd, &out, "%s", args);

	if (rc != 2 || !strstr(out, needle))
		fail_msg("ringwatch %s: exit %d, want 2 and '%s':\n%s", args, rc, needle, out);
	free(out);
}

static void test_errors_without_daemon(void **state)
{
	char *out;
	int rc;

	(void)state;
	expect_usage_error("list", "cannot reach ringwatchd");
	expect_usage_error("status g1", "cannot reach ringwatchd");
	expect_usage_error("frobnicate", "unknown command 'frobnicate'");
	expect_usage_error("status", "expected a VM name");
	expect_usage_error("events --since yesterdayish", "--since");
	expect_usage_error("attach x", "--qmp SOCK is required");
	expect_usage_error("launch g --cpus many", "--cpus");
	expect_usage_error("launch g --kernel /k", "--kernel and --initrd go together");
	/* A config with a bad line: file and line named, exit 2, nothing started. */
	rw_test_write_file(rwd.dir, "bad.conf", "interval 1s\nrespond cr-bits alert reboot\n", 0644);
	rc = rw_test_sh(&out, "'%s/rel/bin/ringwatchd' --state-dir '%s' --control '%s' "
			"--config '%s/bad.conf' 2>&1", env.build, rwd.state_dir, rwd.control, rwd.dir);
	if (rc != 2 || !strstr(out, "bad.conf:2: 'respond': unknown action 'reboot'"))
		fail_msg("bad config: exit %d: %s", rc, out);
	free(out);
	assert_int_equal(access(rwd.control, F_OK), -1);
	rc = rw_test_sh(&out, "'%s/rel/bin/ringwatchd' --bogus 2>&1", env.build);
	assert_int_equal(rc, 2);
	free(out);
}

/* QMP "stop" on a guest, behind ringwatch's back. */
static void qmp_stop(const char *qmp_path)
{
	char *out;
	int rc = rw_test_sh(&out, "python3 - '%s' <<'PY'\n"
			    "import json, socket, sys\n"
			    "s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
			    "f = s.makefile('rw')\n"
			    "f.readline()\n"
			    "for cmd in ('qmp_capabilities', 'stop'):\n"
			    "    f.write(json.dumps({'execute': cmd}) + '\\n'); f.flush()\n"
			    "    while 'return' not in json.loads(f.readline()): pass\n"
			    "PY", qmp_path);

	if (rc)
		fail_msg("QMP stop on %s: %s", qmp_path, out);
	free(out);
}

static void test_two_guests_one_tampered(void **state)
{
	json_t *list, *vm;
	char *out, qmp[300];
	int rc;

	(void)state;
	rw_test_daemon_start(&rwd);
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-d1 --cpus 2");
	if (rc)
		fail_msg("launch d1: %d\n%s", rc, out);
	assert_non_null(strstr(out, "VM ringwatch-test-d1: ok"));
	free(out);
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-d2");
	if (rc)
		fail_msg("launch d2: %d\n%s", rc, out);
	free(out);
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d1"), "ok");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d2"), "ok");
	vm = rw_test_list_vm(list, "ringwatch-test-d1");
	assert_non_null(strstr(json_string_value(json_object_get(vm, "kernel")), env.kver));
	vm = rw_test_list_vm(list, "ringwatch-test-d2");
	snprintf(qmp, sizeof(qmp), "%s", json_string_value(json_object_get(vm, "qmp")));
	json_decref(list);

	qmp_stop(qmp);
	/* Within two intervals (plus a pass) the paused guest is an alert. */
	for (int i = 0; i < 40; i++) {
		rc = rw_test_ringwatch(&rwd, &out, "list --json");
		free(out);
		if (rc == 1)
			break;
		usleep(100000);
	}
	list = rw_test_ringwatch_json(&rwd, 1, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d2"), "alert");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d1"), "ok");
	vm = rw_test_list_vm(list, "ringwatch-test-d2");
	assert_string_equal(json_string_value(json_array_get(json_object_get(vm, "failing"), 0)),
			    "vm-liveness");
	assert_int_equal(json_integer_value(json_object_get(vm, "open_alerts")), 1);
	json_decref(list);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "status ringwatch-test-d1"), 0);
	free(out);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "status ringwatch-test-d2"), 1);
	assert_non_null(strstr(out, "paused, not by ringwatch"));
	free(out);
	vm = rw_test_ringwatch_json(&rwd, 1, "check ringwatch-test-d2 --json");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(vm, "checks"), 0), "source")), "qmp");
	json_decref(vm);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "events ringwatch-test-d2"), 1);
	assert_non_null(strstr(out, "alert"));
	free(out);
	expect_usage_error("status no-such-vm", "no VM 'no-such-vm'");
	expect_usage_error("events no-such-vm", "no VM 'no-such-vm'");
	expect_usage_error("check no-such-vm", "no VM 'no-such-vm'");
	expect_usage_error("launch ringwatch-test-d1", "already attached");
}

/* kill -9 the daemon: every event shown before is still shown after a restart. */
static void test_kill9_keeps_events(void **state)
{
	json_t *before, *after, *list, *ev;
	size_t i, j;
	int old = rwd.pid;

	(void)state;
	before = rw_test_ringwatch_json(&rwd, 0, "events --json");
	assert_true(json_array_size(before) >= 3);
	kill(rwd.pid, SIGKILL);
	rw_test_wait_gone(old, 10);
	rw_test_daemon_start(&rwd);
	after = rw_test_ringwatch_json(&rwd, 0, "events --json");
	json_array_foreach(before, i, ev) {
		bool found = false;
		json_t *e2;

		json_array_foreach(after, j, e2)
			found |= json_equal(json_object_get(ev, "id"), json_object_get(e2, "id")) &&
				 json_equal(json_object_get(ev, "detail"), json_object_get(e2, "detail"));
		if (!found)
			fail_msg("event %lld lost across kill -9",
				 (long long)json_integer_value(json_object_get(ev, "id")));
	}
	json_decref(before);
	json_decref(after);
	/* The guests died with the daemon that owned them: kept, marked gone. */
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d1"), "gone");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d2"), "gone");
	json_decref(list);
}

static void test_libvirt_hook(void **state)
{
	char *out, xml[2048], qmp[300];
	json_t *list, *vm;
	int rc, qemu_pid;

	(void)state;
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-d3");
	if (rc)
		fail_msg("launch d3: %d\n%s", rc, out);
	free(out);
	vm = rw_test_ringwatch_json(&rwd, 0, "status ringwatch-test-d3 --json");
	snprintf(qmp, sizeof(qmp), "%s", json_string_value(json_object_get(vm, "qmp")));
	qemu_pid = (int)json_integer_value(json_object_get(vm, "qemu_pid"));
	json_decref(vm);
	assert_true(qemu_pid > 0);
	/* What libvirt would have: its pid file, and the domain XML on stdin. */
	snprintf(xml, sizeof(xml), "%d\n", qemu_pid);
	rw_test_write_file(rwd.dir, "libvirt/dom1.pid", xml, 0644);
	snprintf(xml, sizeof(xml),
		 "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
		 "  <name>dom1</name>\n"
		 "  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>\n"
		 "  <os><type>hvm</type><kernel>%s</kernel></os>\n"
		 "  <qemu:commandline>\n    <qemu:arg value='-qmp'/>\n"
		 "    <qemu:arg value='unix:%s,server=on,wait=off'/>\n  </qemu:commandline>\n"
		 "</domain>\n", env.kernel, qmp);
	rw_test_write_file(rwd.dir, "dom1.xml", xml, 0644);
#define HOOK_ENV "RINGWATCH_HOOK_STRICT=1 RINGWATCH_CONTROL='%s' RINGWATCH_BIN='%s/rel/bin/ringwatch' " \
		 "RINGWATCH_LIBVIRT_RUN='%s/libvirt' '%s/configs/libvirt/hooks/qemu'"
	rc = rw_test_sh(&out, HOOK_ENV " dom1 started begin - < '%s/dom1.xml' 2>&1", rwd.control,
			env.build, rwd.dir, env.top, rwd.dir);
	if (rc)
		fail_msg("hook started: %d\n%s", rc, out);
	free(out);
	vm = rw_test_ringwatch_json(&rwd, 0, "check dom1 --json");
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ok");
	assert_string_equal(json_string_value(json_object_get(vm, "qmp")), qmp);
	assert_string_equal(json_string_value(json_object_get(vm, "kernel_image")), env.kernel);
	assert_non_null(strstr(json_string_value(json_object_get(vm, "mem")), "/proc/"));
	assert_non_null(strstr(json_string_value(json_object_get(vm, "kernel")), env.kver));
	json_decref(vm);
	/* Hooks libvirt runs for other phases do nothing. */
	assert_int_equal(rw_test_sh(NULL, HOOK_ENV " dom1 prepare begin - < '%s/dom1.xml'",
				    rwd.control, env.build, rwd.dir, env.top, rwd.dir), 0);
	rc = rw_test_sh(&out, HOOK_ENV " dom1 stopped end - < '%s/dom1.xml' 2>&1", rwd.control,
			env.build, rwd.dir, env.top, rwd.dir);
	if (rc)
		fail_msg("hook stopped: %d\n%s", rc, out);
	free(out);
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_null(rw_test_list_vm(list, "dom1"));
	json_decref(list);
	/* A domain without its own QMP socket: strict mode says why, exit 2. */
	rw_test_write_file(rwd.dir, "noqmp.xml", "<domain><name>dom2</name></domain>\n", 0644);
	rc = rw_test_sh(&out, HOOK_ENV " dom2 started begin - < '%s/noqmp.xml' 2>&1", rwd.control,
			env.build, rwd.dir, env.top, rwd.dir);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(out, "no '-qmp unix:PATH'"));
	free(out);

	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy ringwatch-test-d3"), 0);
	free(out);
	rw_test_wait_gone(qemu_pid, 30);
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "ringwatch-test-d3"), "gone");
	json_decref(list);
}

/* SIGTERM: the daemon stops what it launched and removes its socket. */
static void test_clean_stop(void **state)
{
	json_t *vm;
	char *out;
	int qemu_pid, rc;

	(void)state;
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-d4");
	if (rc)
		fail_msg("launch d4: %d\n%s", rc, out);
	free(out);
	vm = rw_test_ringwatch_json(&rwd, 0, "status ringwatch-test-d4 --json");
	qemu_pid = (int)json_integer_value(json_object_get(vm, "qemu_pid"));
	json_decref(vm);
	kill(rwd.pid, SIGTERM);
	rw_test_wait_gone(rwd.pid, 60);
	rw_test_wait_gone(qemu_pid, 10);
	rwd.pid = 0;
	assert_int_equal(access(rwd.control, F_OK), -1);
	expect_usage_error("list", "cannot reach ringwatchd");
}

/* --- guest reboot ------------------------------------------------------------------ */

/* (Re)start the test daemon if an earlier test left none running. */
static void ensure_daemon(void)
{
	if (rwd.pid > 0 && kill(rwd.pid, 0) == 0)
		return;
	rw_test_daemon_start(&rwd);
}

static const char *json_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static json_t *check_of(json_t *vm, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(vm, "checks"), i, c)
		if (!strcmp(json_str(c, "check"), name))
			return c;
	return NULL;
}

/* Every check ok (msr may be unknown when marked unavailable: no MSR source under TCG). */
static bool all_checks_ok(json_t *vm, char *why, size_t whylen)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(vm, "checks"), i, c) {
		if (!strcmp(json_str(c, "result"), "ok") ||
		    (!strcmp(json_str(c, "result"), "unknown") &&
		     json_is_true(json_object_get(c, "unavailable"))))
			continue;
		snprintf(why, whylen, "%s: %s (%s)", json_str(c, "check"), json_str(c, "result"),
			 json_str(c, "summary"));
		return false;
	}
	return json_array_size(json_object_get(vm, "checks")) > 0;
}

static int64_t last_event_id(const char *vm_name)
{
	char args[128];
	json_t *evs;
	int64_t id = 0;

	snprintf(args, sizeof(args), "events %s --json", vm_name);
	evs = rw_test_ringwatch_json(&rwd, 0, "%s", args);
	if (json_array_size(evs))
		id = json_integer_value(json_object_get(json_array_get(evs, json_array_size(evs) - 1),
							"id"));
	json_decref(evs);
	return id;
}

/* The launched VM's run dir holds QMP, the serial log and the guest command shell. */
static void run_file(json_t *vm, const char *file, char *out, size_t outlen)
{
	const char *qmp = json_str(vm, "qmp");
	const char *slash = strrchr(qmp, '/');

	assert_non_null(slash);
	snprintf(out, outlen, "%.*s/%s", (int)(slash - qmp), qmp, file);
}

static int count_in_file(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/*
 * `reboot -f` inside a launched guest: QEMU resets it (launch allows reboots),
 * the same QEMU boots the kernel again with a new KASLR slide; the daemon
 * notices (an event on `kernel` naming the previous identity), re-identifies
 * and re-baselines, and every check is ok again with no alert in between.
 */
static void test_guest_reboot(void **state)
{
	const char *name = "ringwatch-test-d5";
	char args[256], serial[400], why[512], slide_before[128], *out;
	struct rw_vm shell;
	json_t *vm, *evs, *ev;
	int64_t mark;
	bool found_reident = false;
	int rc, qemu_pid;
	size_t i;

	(void)state;
	ensure_daemon();
	snprintf(args, sizeof(args), "launch %s", name);
	rc = rw_test_ringwatch(&rwd, &out, "%s", args);
	if (rc)
		fail_msg("launch %s: %d\n%s", name, rc, out);
	free(out);
	snprintf(args, sizeof(args), "check %s --json", name);
	vm = rw_test_ringwatch_json(&rwd, 0, "%s", args);
	if (!all_checks_ok(vm, why, sizeof(why)))
		fail_msg("before the reboot: %s", why);
	qemu_pid = (int)json_integer_value(json_object_get(vm, "qemu_pid"));
	snprintf(slide_before, sizeof(slide_before), "%s",
		 json_str(check_of(vm, "kernel"), "summary"));
	run_file(vm, "serial.log", serial, sizeof(serial));
	memset(&shell, 0, sizeof(shell));
	shell.cmd_fd = -1;
	shell.pid = qemu_pid;
	run_file(vm, "cmd.sock", shell.cmd_path, sizeof(shell.cmd_path));
	json_decref(vm);
	assert_true(qemu_pid > 0);
	assert_int_equal(count_in_file(serial, "RINGWATCH-READY"), 1);
	mark = last_event_id(name);

	/* Reboot from inside, in the background so the shell answers first. */
	out = rw_test_guest_sh(&shell, "(sleep 1; reboot -f) </dev/null >/dev/null 2>&1 &", 30);
	free(out);
	for (int t = 0; count_in_file(serial, "RINGWATCH-READY") < 2; t++) {
		if (t > 1800)
			fail_msg("guest did not come back after reboot -f (serial %s)", serial);
		if (kill(qemu_pid, 0))
			fail_msg("QEMU %d exited on the guest reboot", qemu_pid);
		usleep(100000);
	}
	/* Re-identified and all ok again, within a bounded time. */
	snprintf(args, sizeof(args), "check %s --json", name);
	for (int t = 0;; t++) {
		rc = rw_test_ringwatch(&rwd, &out, "%s", args);
		vm = json_loads(out, 0, NULL);
		if (rc == 0 && vm && all_checks_ok(vm, why, sizeof(why)) &&
		    !strcmp(json_str(vm, "state"), "ok"))
			break;
		if (rc != 0 || t > 60) {
			char *evtext;

			snprintf(args, sizeof(args), "events %s", name);
			rw_test_ringwatch(&rwd, &evtext, "%s", args);
			printf("ringwatch check: exit %d\n%s\nevents:\n%s\n", rc, out, evtext);
			free(evtext);
			fail_msg("after the reboot: exit %d, checks not ok: %s", rc,
				 vm ? why : "not JSON");
		}
		free(out);
		json_decref(vm);
		sleep(1);
	}
	free(out);
	assert_string_equal(json_str(vm, "phase"), "active");
	assert_int_equal((int)json_integer_value(json_object_get(vm, "qemu_pid")), qemu_pid);
	assert_int_equal((int)json_integer_value(json_object_get(vm, "open_alerts")), 0);
	printf("kernel before: %s\nkernel after:  %s\n", slide_before,
	       json_str(check_of(vm, "kernel"), "summary"));
	json_decref(vm);

	/* Events since the reboot: the re-identification, no alert. */
	snprintf(args, sizeof(args), "events %s --json", name);
	evs = rw_test_ringwatch_json(&rwd, 0, "%s", args);
	json_array_foreach(evs, i, ev) {
		json_t *detail = json_object_get(ev, "detail");

		if (json_integer_value(json_object_get(ev, "id")) <= mark)
			continue;
		if (!strcmp(json_str(ev, "severity"), "alert")) {
			char *dump = json_dumps(ev, JSON_COMPACT);

			fail_msg("false alarm across the reboot: %s", dump);
		}
		if (!strcmp(json_str(ev, "check"), "kernel") &&
		    json_object_get(detail, "previous") && strstr(json_str(detail, "note"),
								  "re-identified"))
			found_reident = true;
	}
	if (!found_reident) {
		char *dump = json_dumps(evs, JSON_INDENT(1));

		fail_msg("no kernel re-identification event after the reboot:\n%s", dump);
	}
	json_decref(evs);
	if (shell.cmd_fd >= 0)
		close(shell.cmd_fd);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "list --json"), 0);
	free(out);
	snprintf(args, sizeof(args), "destroy %s", name);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "%s", args), 0);
	free(out);
	rw_test_wait_gone(qemu_pid, 30);
}

/* --- configuration reload ----------------------------------------------------------- */

/* The newest daemon-wide config event after @after (NULL if none within ~10 s). */
static json_t *wait_config_event(int64_t after)
{
	for (int t = 0; t < 100; t++) {
		json_t *evs = rw_test_ringwatch_json(&rwd, 0, "%s", "events --json"), *ev, *found = NULL;
		size_t i;

		json_array_foreach(evs, i, ev)
			if (json_integer_value(json_object_get(ev, "id")) > after &&
			    !strcmp(json_str(ev, "vm"), "-") && !strcmp(json_str(ev, "check"), "config"))
				found = ev;
		if (found) {
			json_incref(found);
			json_decref(evs);
			return found;
		}
		json_decref(evs);
		usleep(100000);
	}
	return NULL;
}

static int64_t newest_event_id(void)
{
	json_t *evs = rw_test_ringwatch_json(&rwd, 0, "%s", "events --json");
	int64_t id = json_array_size(evs) ?
		     json_integer_value(json_object_get(json_array_get(evs, json_array_size(evs) - 1),
							"id")) : 0;

	json_decref(evs);
	return id;
}

/* SIGHUP: a changed interval applies; a bad line keeps the running config, named. */
static void test_sighup_reload(void **state)
{
	json_t *ev, *list, *vm;
	int64_t mark;
	size_t i;
	char *out;

	(void)state;
	ensure_daemon();
	/* A VM to show the interval in force (its QMP socket does not exist: gone). */
	{
		char args[300];

		snprintf(args, sizeof(args), "attach cfgprobe --qmp '%s/no-such-qmp.sock'", rwd.dir);
		assert_int_equal(rw_test_ringwatch(&rwd, &out, "%s", args), 0);
		free(out);
	}
	rw_test_write_file(rwd.dir, "ringwatch.conf",
			   "interval 700ms\nmetrics 127.0.0.1:0\nsyslog off\nqmp-timeout 2s\n"
			   "respond * alert log\n", 0644);
	mark = newest_event_id();
	assert_int_equal(kill(rwd.pid, SIGHUP), 0);
	ev = wait_config_event(mark);
	if (!ev)
		fail_msg("no config event after SIGHUP");
	assert_string_equal(json_str(json_object_get(ev, "detail"), "result"), "applied");
	assert_string_equal(json_str(ev, "severity"), "info");
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(json_object_get(ev, "detail"), "changed"), 0)), "interval");
	json_decref(ev);
	/* Every VM without its own interval now shows the new one. */
	list = rw_test_ringwatch_json(&rwd, 0, "%s", "list --json");
	json_array_foreach(list, i, vm)
		assert_int_equal(json_integer_value(json_object_get(vm, "interval_ms")), 700);
	json_decref(list);

	/* A bad line: error event naming file and line; the daemon keeps serving. */
	rw_test_write_file(rwd.dir, "ringwatch.conf",
			   "interval 3s\nrespond cr alert reboot\n", 0644);
	mark = newest_event_id();
	assert_int_equal(kill(rwd.pid, SIGHUP), 0);
	ev = wait_config_event(mark);
	if (!ev)
		fail_msg("no config event after SIGHUP with a bad file");
	assert_string_equal(json_str(ev, "severity"), "error");
	assert_string_equal(json_str(json_object_get(ev, "detail"), "result"), "rejected");
	if (!strstr(json_str(json_object_get(ev, "detail"), "error"),
		    "ringwatch.conf:2: 'respond': unknown action 'reboot'"))
		fail_msg("error does not name file and line: %s",
			 json_str(json_object_get(ev, "detail"), "error"));
	json_decref(ev);
	assert_int_equal(kill(rwd.pid, 0), 0);
	list = rw_test_ringwatch_json(&rwd, 0, "%s", "list --json");
	json_array_foreach(list, i, vm)
		assert_int_equal(json_integer_value(json_object_get(vm, "interval_ms")), 700);
	json_decref(list);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "events"), 0);
	assert_non_null(strstr(out, "rejected"));
	free(out);
	assert_non_null(rw_test_list_vm(list = rw_test_ringwatch_json(&rwd, 0, "%s", "list --json"), "cfgprobe"));
	json_decref(list);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "detach cfgprobe"), 0);
	free(out);
	/* Back to the suite's configuration. */
	rw_test_write_file(rwd.dir, "ringwatch.conf",
			   "interval 500ms\nmetrics 127.0.0.1:0\nsyslog off\nqmp-timeout 2s\n"
			   "respond * alert log\n", 0644);
	mark = newest_event_id();
	assert_int_equal(kill(rwd.pid, SIGHUP), 0);
	ev = wait_config_event(mark);
	assert_non_null(ev);
	assert_string_equal(json_str(json_object_get(ev, "detail"), "result"), "applied");
	json_decref(ev);
}

/* --- boot from a disk image ----------------------------------------------------------- */

/*
 * A FAT disk with syslinux, the kit's kernel and initramfs, and a marker on
 * the kernel command line (proof the guest came up through the disk).
 */
static void make_boot_disk(char *img, size_t imglen)
{
	static const char *const tools[] = { "mkfs.fat", "syslinux", "mcopy" };
	char *out;
	int rc;

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (rw_test_sh(NULL, "command -v %s >/dev/null 2>&1 || test -x /usr/sbin/%s", tools[i],
		       tools[i]))
			fail_msg("%s missing (dosfstools, syslinux, mtools: scripts/install-deps)",
				 tools[i]);
	snprintf(img, imglen, "%s/boot,disk.img", rwd.dir);	/* a comma: QEMU escaping */
	rw_test_write_file(rwd.dir, "syslinux.cfg",
			   "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /vmlinuz\n"
			   "  INITRD /initrd.gz\n"
			   "  APPEND console=ttyS0,115200 panic=-1 rdinit=/init rwdisk=1\n", 0644);
	rc = rw_test_sh(&out, "set -e; export PATH=$PATH:/usr/sbin:/sbin; rm -f '%s'; "
		"mkfs.fat -C -n RWBOOT '%s' 32768 >/dev/null; syslinux --install '%s'; "
		"mcopy -i '%s' '%s' ::/vmlinuz; mcopy -i '%s' '%s' ::/initrd.gz; "
		"mcopy -i '%s' '%s/syslinux.cfg' ::/syslinux.cfg 2>&1",
		img, img, img, img, env.kernel, img, env.initrd, img, rwd.dir);
	if (rc)
		fail_msg("building the boot disk: %s", out);
	free(out);
}

static void restart_daemon(void)
{
	if (rwd.pid > 0 && kill(rwd.pid, SIGTERM) == 0)
		rw_test_wait_gone(rwd.pid, 60);
	rwd.pid = 0;
	rw_test_daemon_start(&rwd);
}

/* Poll `status NAME --json` until @pred holds (bounded); returns the VM JSON. */
static json_t *wait_status(const char *name, bool (*pred)(json_t *vm), int timeout_s,
			   const char *what)
{
	char args[128], *out = NULL;

	snprintf(args, sizeof(args), "status %s --json", name);
	for (int t = 0; t <= timeout_s * 2; t++) {
		json_t *vm;
		int rc = rw_test_ringwatch(&rwd, &out, "%s", args);

		vm = json_loads(out, 0, NULL);
		if (rc == 1)
			fail_msg("%s: alert while waiting for %s:\n%s", name, what, out);
		if (rc == 0 && vm && pred(vm)) {
			free(out);
			return vm;
		}
		json_decref(vm);
		if (t < timeout_s * 2)
			free(out);
		usleep(500000);
	}
	{
		char *evtext;

		snprintf(args, sizeof(args), "events %s", name);
		rw_test_ringwatch(&rwd, &evtext, "%s", args);
		printf("%s: last status:\n%s\nevents:\n%s\n", name, out, evtext);
		free(evtext);
	}
	fail_msg("%s: no %s within %d s", name, what, timeout_s);
	return NULL;
}

static bool kernel_unknown_named(json_t *vm)
{
	const char *s = json_str(check_of(vm, "kernel"), "summary");

	char want[200];

	snprintf(want, sizeof(want), "unknown kernel %s: its banner is none of the known images",
		 env.kver);
	return strstr(s, want) && strstr(s, "no kernel-search path configured");
}

static bool all_ok_identified(json_t *vm)
{
	char why[512];

	return !strcmp(json_str(vm, "state"), "ok") && all_checks_ok(vm, why, sizeof(why)) &&
	       !strncmp(json_str(vm, "kernel_image"), env.kit, strlen(env.kit));
}

/*
 * `ringwatch launch NAME --disk IMG`: the firmware boots the disk (syslinux,
 * the kit's kernel); the daemon was given no image.  With no kernel-search
 * path the kernel check says which kernel is unknown and why; after a reload
 * with `kernel-search KIT` the daemon finds the image by the banner, takes
 * its baseline, and every check is ok.
 */
static void test_launch_disk(void **state)
{
	const char *name = "ringwatch-test-d6";
	char img[300], args[1200], text[1024], *out;
	struct rw_vm shell;
	json_t *vm, *evs, *ev;
	bool unknown_ev = false, identified_ev = false, launched_disk = false;
	int qemu_pid;
	size_t i;

	(void)state;
	make_boot_disk(img, sizeof(img));
	restart_daemon();	/* a fresh kernel registry: the kit's image is not open yet */
	snprintf(args, sizeof(args), "launch bad1 --disk '%s/no-such.img'", rwd.dir);
	expect_usage_error(args, "no-such.img");
	snprintf(args, sizeof(args), "launch bad2 --disk '%s' --kernel '%s'", img, env.kernel);
	expect_usage_error(args, "--disk boots the disk");
	snprintf(args, sizeof(args), "launch bad3 --disk '%s' --format iso", img);
	expect_usage_error(args, "--format");

	snprintf(args, sizeof(args), "launch %s --disk '%s'", name, img);
	if (rw_test_ringwatch(&rwd, &out, "%s", args))
		fail_msg("launch --disk: %s", out);
	free(out);
	vm = wait_status(name, kernel_unknown_named, 240, "'unknown kernel' summary");
	printf("without kernel-search: %s\n", json_str(check_of(vm, "kernel"), "summary"));
	assert_string_equal(json_str(vm, "kernel_image"), "");
	assert_string_equal(json_str(vm, "phase"), "active");
	qemu_pid = (int)json_integer_value(json_object_get(vm, "qemu_pid"));
	memset(&shell, 0, sizeof(shell));
	shell.cmd_fd = -1;
	shell.pid = qemu_pid;
	run_file(vm, "cmd.sock", shell.cmd_path, sizeof(shell.cmd_path));
	json_decref(vm);
	/* It came up through the disk: syslinux's command line. */
	out = rw_test_guest_sh(&shell, "cat /proc/cmdline", 60);
	assert_non_null(strstr(out, "rwdisk=1"));
	free(out);
	close(shell.cmd_fd);

	/* Tell the daemon where kernels are; a reload is enough. */
	snprintf(text, sizeof(text),
		 "interval 500ms\nmetrics 127.0.0.1:0\nsyslog off\nqmp-timeout 2s\n"
		 "respond * alert log\nkernel-search %s\n", env.kit);
	rw_test_write_file(rwd.dir, "ringwatch.conf", text, 0644);
	assert_int_equal(kill(rwd.pid, SIGHUP), 0);
	vm = wait_status(name, all_ok_identified, 120, "identified kernel and all checks ok");
	printf("identified: %s -> %s\n", json_str(vm, "kernel_image"),
	       json_str(check_of(vm, "kernel"), "summary"));
	assert_non_null(strstr(json_str(vm, "kernel"), env.kver));
	json_decref(vm);

	snprintf(args, sizeof(args), "events %s --json", name);
	evs = rw_test_ringwatch_json(&rwd, 0, "%s", args);
	json_array_foreach(evs, i, ev) {
		json_t *detail = json_object_get(ev, "detail");
		const char *action = json_str(detail, "action");

		if (!strcmp(json_str(ev, "severity"), "alert")) {
			char *dump = json_dumps(ev, JSON_COMPACT);

			fail_msg("alert on the disk-booted guest: %s", dump);
		}
		launched_disk |= !strcmp(action, "launched") && !strcmp(json_str(detail, "disk"), img) &&
				 !strcmp(json_str(detail, "format"), "raw");
		unknown_ev |= !strcmp(action, "kernel-unknown") &&
			      !strcmp(json_str(ev, "severity"), "warning");
		identified_ev |= !strcmp(action, "kernel-identified") &&
				 !strncmp(json_str(detail, "image"), env.kit, strlen(env.kit));
	}
	json_decref(evs);
	assert_true(launched_disk);
	assert_true(unknown_ev);
	assert_true(identified_ev);

	snprintf(args, sizeof(args), "destroy %s", name);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "%s", args), 0);
	free(out);
	rw_test_wait_gone(qemu_pid, 30);
	rw_test_write_file(rwd.dir, "ringwatch.conf",
			   "interval 500ms\nmetrics 127.0.0.1:0\nsyslog off\nqmp-timeout 2s\n"
			   "respond * alert log\n", 0644);
	assert_int_equal(kill(rwd.pid, SIGHUP), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_without_daemon),
		cmocka_unit_test(test_two_guests_one_tampered),
		cmocka_unit_test(test_kill9_keeps_events),
		cmocka_unit_test(test_libvirt_hook),
		cmocka_unit_test(test_guest_reboot),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_launch_disk),
		cmocka_unit_test(test_clean_stop),
	};

	if (getenv("RW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_without_daemon),
		cmocka_unit_test(test_two_guests_one_tampered),
		cmocka_unit_test(test_kill9_keeps_events),
		cmocka_unit_test(test_libvirt_hook),
		cmocka_unit_test(test_clean_stop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

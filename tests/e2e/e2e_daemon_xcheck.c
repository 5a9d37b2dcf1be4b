// SPDX-License-Identifier: GPL-2.0
/*
 * The credential-change cross-check end to end, asserting only on what the
 * host holds (`ringwatch status/events VM --json`):
 *
 *  A guest runs ringwatch.ko and ringwatch-agent (BPF LSM programs), each
 *  on its own channel stream to ringwatchd (through ringwatch-vsockd).
 *
 *  1. Legitimate credential changes, many times: su-like setresgid/setresuid,
 *     a setuid-root binary run by a user, seteuid games as root.  Every
 *     change is reported by both sides and paired on the host: the VM's
 *     channel health counts the pairs, and no cred-xcheck event exists.
 *  2. The classic kernel exploit payload, commit_creds(prepare_kernel_cred(
 *     &init_task)), applied by a test module (rwtest_cred mode=commit) to an
 *     unprivileged shell that asks for it: ringwatch.ko's shadow accepts it
 *     (it is commit_creds), but no setuid/setgid/exec hook saw it, so the
 *     host raises cred-xcheck "seen by ringwatch.ko only" with that pid.
 *
 * Needs: the kit ($RW_KIT), qemu-system-x86_64, build/rel/bin/{ringwatchd,
 * ringwatch,ringwatch-vsockd}, the payloads (kmod/ringwatch.ko,
 * kmod/rwtest_cred.ko, bin/cred_legit, bin/ringwatch-agent,
 * rc.d/50-ringwatch-agent).
 */
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
#include <jansson.h>

#include "tests/lib/e2e_daemon.h"
#include "tests/lib/harness.h"

#define VM "ringwatch-test-x1"
#define LEGIT_RUNS 20
#define SETTLE_S 25		/* > the host's 10 s window, TCG is slow */

static struct rw_test_env env;
static struct rw_test_daemon rwd;
static char overlay[256];
static pid_t vsockd_pid;
static struct rw_vm guest;
static bool guest_up;

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void copy_file(const char *src, const char *rel, int mode)
{
	char *out;

	if (access(src, R_OK))
		fail_msg("missing %s (scripts/build-payloads, scripts/build-guest-bpf)", src);
	if (rw_test_sh(&out, "mkdir -p \"$(dirname '%s/%s')\" && cp '%s' '%s/%s' && chmod %o '%s/%s' 2>&1",
	       overlay, rel, src, overlay, rel, mode, overlay, rel))
		fail_msg("copying %s: %s", src, out);
	free(out);
}

/* ringwatch.ko before the agent (rc.d order), the agent, the test's tools. */
static void make_overlay(void)
{
	char src[1024];

	rw_test_mkdtemp(overlay, sizeof(overlay), "dxcheck-ov");
	snprintf(src, sizeof(src), "%s/kmod/ringwatch.ko", env.payloads);
	copy_file(src, "lib/modules/ringwatch.ko", 0644);
	snprintf(src, sizeof(src), "%s/kmod/rwtest_cred.ko", env.payloads);
	copy_file(src, "lib/modules/rwtest_cred.ko", 0644);
	snprintf(src, sizeof(src), "%s/bin/cred_legit", env.payloads);
	copy_file(src, "bin/cred_legit", 0755);
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", env.payloads);
	copy_file(src, "usr/sbin/ringwatch-agent", 0755);
	snprintf(src, sizeof(src), "%s/rc.d/50-ringwatch-agent", env.payloads);
	copy_file(src, "etc/ringwatch/rc.d/50-ringwatch-agent", 0755);
	rw_test_write_file(overlay, "etc/ringwatch/policy",
			   "# e2e_daemon_xcheck: the simulated exploit module may load\n"
			   "module-allow rwtest_cred *\n", 0644);
	rw_test_write_file(overlay, "etc/ringwatch/rc.d/40-ringwatch-ko",
			   "#!/bin/sh\n"
			   "insmod /lib/modules/ringwatch.ko || echo RWX-INSMOD-FAILED\n"
			   "mkdir -p /root && chmod 0700 /root\n"
			   "echo topsecret > /root/secret && chmod 0600 /root/secret\n"
			   "cp /bin/cred_legit /bin/cred_legit_suid\n"
			   "chown 0:0 /bin/cred_legit_suid && chmod 4755 /bin/cred_legit_suid\n",
			   0755);
}

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_daemon_init(&rwd, &env, "dxcheck",
			    "interval 2s\nmetrics off\nsyslog off\nqmp-timeout 5s\n"
			    "respond * alert log\n");
	rw_test_daemon_start(&rwd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (guest_up)
		rw_vm_stop(&guest);
	if (vsockd_pid > 0) {
		kill(vsockd_pid, SIGTERM);
		waitpid(vsockd_pid, NULL, 0);
	}
	if (overlay[0])
		rw_test_rmtree(overlay);
	rw_test_daemon_cleanup(&rwd);
	return 0;
}

/* The VM's channel health from `ringwatch status VM --json` (new reference). */
static json_t *channel_health(void)
{
	json_t *st = rw_test_ringwatch_json(&rwd, -1, "status %s --json", VM), *ch;

	ch = json_incref(json_object_get(st, "channel"));
	json_decref(st);
	if (!json_is_object(ch))
		fail_msg("status %s --json has no channel object", VM);
	return ch;
}

static bool has_component(json_t *ch, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(ch, "components"), i, c)
		if (!strcmp(json_string_value(c), name))
			return true;
	return false;
}

static json_int_t xcheck_count(json_t *ch, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(ch, "cred_xcheck"), key));
}

/* cred-xcheck events of the VM (new reference, array). */
static json_t *xcheck_events(void)
{
	json_t *all = rw_test_ringwatch_json(&rwd, -1, "events %s --json --limit 100000", VM), *res = json_array(), *e;
	size_t i;

	if (!json_is_array(all))
		fail_msg("ringwatch events %s --json: not an array", VM);
	json_array_foreach(all, i, e)
		if (!strcmp(str(e, "check"), "cred-xcheck"))
			json_array_append(res, e);
	json_decref(all);
	return res;
}

static char *gsh(const char *cmd, int timeout_s)
{
	return rw_test_guest_sh(&guest, cmd, timeout_s);
}

static void expect_summary(char *out, const char *cmd, int runs)
{
	char want[128];

	snprintf(want, sizeof(want), "cred_legit: %s runs=%d failures=0", cmd, runs);
	if (!strstr(out, want))
		fail_msg("guest: want '%s', got:\n%s", want, out);
	free(out);
}

static void boot_and_attach(void)
{
	struct rw_test_boot opts = { .name = "x1", .memory_mib = 512 };
	char vhost[300], log[300], ready[512], mem[64], *out;
	json_t *ch = NULL;
	int rc, waited;

	make_overlay();
	snprintf(vhost, sizeof(vhost), "%s/x1.vhost", rwd.dir);
	snprintf(log, sizeof(log), "%s/x1.vsockd.log", rwd.dir);
	vsockd_pid = rw_test_daemon_start_vsockd(&rwd, VM, vhost, log);
	opts.overlay_dir = overlay;
	opts.vsock = RW_VSOCK_VHOST_USER;
	opts.vhost_user_socket = vhost;
	opts.guest_cid = 3;
	rw_test_boot(&env, &opts, &guest, ready, sizeof(ready));
	guest_up = true;
	snprintf(mem, sizeof(mem), "/proc/%d/fd/%d", (int)getpid(), guest.ram_fd);
	rc = rw_test_ringwatch(&rwd, &out, "attach %s --qmp '%s' --mem '%s' --kernel '%s'", VM, guest.qmp_path, mem,
		env.kernel);
	if (rc)
		fail_msg("attach %s: %d\n%s", VM, rc, out);
	free(out);
	/* Both halves connected, each on its own stream. */
	for (waited = 0; waited < 180; waited++) {
		json_decref(ch);
		ch = channel_health();
		if (has_component(ch, "kmod") && has_component(ch, "agent"))
			break;
		sleep(1);
	}
	if (!has_component(ch, "kmod") || !has_component(ch, "agent")) {
		out = gsh("lsmod; cat /run/ringwatch/agent-channel; dmesg | tail -20", 60);
		fail_msg("streams of %s after %d s: %s\nguest:\n%s", VM, waited,
			 json_dumps(ch, JSON_COMPACT), out);
	}
	printf("   kmod and agent streams of %s connected after %d s\n", VM, waited);
	json_decref(ch);
}

static void test_legit_pairs_then_commit_creds_exploit(void **state)
{
	json_int_t matched_before, matched;
	json_t *ch, *evs, *e, *found = NULL, *d;
	char *out, cmd[512];
	long pid = 0;
	size_t i;
	int waited;

	(void)state;
	boot_and_attach();
	/* Let what boot did (the agent's own start) pair or expire first. */
	sleep(SETTLE_S);
	ch = channel_health();
	matched_before = xcheck_count(ch, "matched");
	json_decref(ch);

	/* 1. Legitimate changes, many times: all paired, no event. */
	snprintf(cmd, sizeof(cmd), "/bin/cred_legit su %d 1000", LEGIT_RUNS);
	expect_summary(gsh(cmd, 900), "su", LEGIT_RUNS);
	snprintf(cmd, sizeof(cmd), "/bin/cred_legit runas 1000 /bin/cred_legit suid-loop %d "
		 "/bin/cred_legit_suid /root/secret", LEGIT_RUNS);
	expect_summary(gsh(cmd, 900), "suid-loop", LEGIT_RUNS);
	snprintf(cmd, sizeof(cmd), "/bin/cred_legit root-games %d /root/secret", LEGIT_RUNS);
	expect_summary(gsh(cmd, 900), "root-games", LEGIT_RUNS);
	sleep(SETTLE_S);
	ch = channel_health();
	matched = xcheck_count(ch, "matched");
	printf("   legit: cred_xcheck %s\n",
	       json_dumps(json_object_get(ch, "cred_xcheck"), JSON_COMPACT));
	/* su: setresgid + setresuid per run, at least */
	if (matched - matched_before < 2 * LEGIT_RUNS)
		fail_msg("only %lld pairs for %d su runs and more: %s", (long long)(matched -
			 matched_before), LEGIT_RUNS, json_dumps(ch, JSON_COMPACT));
	assert_int_equal(xcheck_count(ch, "kmod_only"), 0);
	assert_int_equal(xcheck_count(ch, "bpf_only"), 0);
	assert_int_equal(xcheck_count(ch, "dropped"), 0);
	json_decref(ch);
	evs = xcheck_events();
	if (json_array_size(evs))
		fail_msg("cred-xcheck events for legitimate changes: %s",
			 json_dumps(evs, JSON_COMPACT));
	json_decref(evs);

	/* 2. commit_creds(prepare_kernel_cred(&init_task)) on an unprivileged shell. */
	free(gsh("insmod /lib/modules/rwtest_cred.ko mode=commit", 120));
	out = gsh("/bin/cred_legit runas 1000 /bin/sh -c "
		  "'echo RWX-PID=$$ RWX-UID=$(id -u); echo 1 > /proc/rwtest_escalate; "
		  "while read k r e rest; do [ $k = Uid: ] && echo RWX-STATUS=$r/$e; "
		  "done < /proc/$$/status; read s < /root/secret; echo RWX-SECRET=$s' 2>&1", 120);
	/* Builtins only after the escalation: the shell itself is root and reads root's file. */
	if (!strstr(out, "RWX-PID=") || sscanf(strstr(out, "RWX-PID="), "RWX-PID=%ld", &pid) != 1 ||
	    !strstr(out, "RWX-UID=1000") || !strstr(out, "RWX-STATUS=0/0") ||
	    !strstr(out, "RWX-SECRET=topsecret")) {
		char *dm = gsh("dmesg | grep -E \"rwtest|escal|cred\" | tail; ls -l /proc/rwtest_escalate; "
			       "cat /sys/kernel/security/ringwatch/status | grep -i cred", 60);

		fail_msg("the escalation did not happen as planned:\n%s\nguest:\n%s", out, dm);
	}
	free(out);
	printf("   pid %ld escalated itself to uid 0 through commit_creds\n", pid);
	for (waited = 0; waited < 90 && !found; waited++) {
		evs = xcheck_events();
		json_array_foreach(evs, i, e) {
			d = json_object_get(e, "detail");
			if (!strcmp(str(d, "kind"), "one-sided") &&
			    json_integer_value(json_object_get(d, "pid")) == pid)
				found = json_incref(e);
		}
		json_decref(evs);
		if (!found)
			sleep(1);
	}
	if (!found)
		fail_msg("no cred-xcheck event for pid %ld within %d s", pid, waited);
	d = json_object_get(found, "detail");
	printf("   after %d s: %s\n", waited, str(d, "summary"));
	assert_string_equal(str(found, "severity"), "alert");
	assert_string_equal(str(found, "source"), "ringwatchd");
	assert_string_equal(str(d, "seen_by"), "ringwatch.ko");
	assert_string_equal(str(d, "missing_from"), "bpf");
	assert_string_equal(str(d, "via"), "commit_creds");
	assert_int_equal(json_integer_value(json_object_get(d, "tgid")), pid);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "old"), "uid")),
			 1000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "new"), "uid")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "new"), "euid")), 0);
	assert_non_null(strstr(str(d, "summary"), "seen by ringwatch.ko only"));
	json_decref(found);
	/* And nothing else: the legitimate setuid of `runas` paired as usual. */
	evs = xcheck_events();
	if (json_array_size(evs) != 1)
		fail_msg("want exactly the exploit's cred-xcheck event, got %s",
			 json_dumps(evs, JSON_COMPACT));
	json_decref(evs);
	/* The operator's view says the same. */
	rw_test_ringwatch(&rwd, &out, "status %s", VM);
	if (!strstr(out, "cred-xcheck: ") || !strstr(out, " 1 kmod only, 0 bpf only"))
		fail_msg("ringwatch status %s lacks the cross-check line:\n%s", VM, out);
	printf("   %.*s\n", (int)strcspn(strstr(out, "cred-xcheck: "), "\n"),
	       strstr(out, "cred-xcheck: "));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legit_pairs_then_commit_creds_exploit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

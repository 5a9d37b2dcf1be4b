// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's `modules` check end to end through the CLI only: three guests
 * launched at once (1 vCPU each), each with rwtest_tamper.ko in its overlay
 * and an rc.d script that loads it some seconds after boot with one action
 * the module performs on itself TAMPER_DELAY_S seconds after going live:
 *
 *   hide_list  unlinked from the `modules` list  -> "hidden from lsmod"
 *   hide_kset  unlinked from the module kset     -> "hidden from sysfs"
 *   self_text  one byte of its own text flipped  -> "of text modified"
 *
 * For each: `ringwatch status VM --json` shows `modules` as the only failing
 * check with that reason; `ringwatch events VM --json` holds the module's
 * load (info) and then the alert event of check `modules` naming the module,
 * no later than TAMPER_DELAY_S + two check intervals (+ one pass of slack)
 * after the load was reported.
 *
 * A fourth guest, launched alongside, goes through the CPU-state tamperings
 * one after the other (each held HOLD_S seconds, then undone by rmmod): an IDT
 * gate, a sys_call_table slot, CR0.WP, CR4.SMEP.  Each must raise an alert
 * event of the right check (idt / syscall / cr) within two intervals (+ slack)
 * of that load being reported, no other check may alert, and once all are
 * undone the guest's checks are all passing again.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "tests/lib/e2e_daemon.h"
#include "tests/lib/harness.h"

static struct rw_test_env env;
static struct rw_test_daemon rwd;

#define LOAD_AFTER_BOOT_S 15	/* rc.d script: insmod this long after boot */
#define TAMPER_DELAY_S 4	/* module: act this long after going live */
#define INTERVAL_MS 1000
#define SLACK_MS 3000		/* one pass over three guests, event bookkeeping */
#define MODULE "rwtest_tamper"

struct action {
	const char *action;	/* rwtest_tamper action= */
	const char *vm;
	const char *reason;	/* in the modules finding and the status summary */
};

static const struct action actions[] = {
	{ "hide_list", "dmods-list", "hidden from lsmod" },
	{ "hide_kset", "dmods-kset", "hidden from sysfs" },
	{ "self_text", "dmods-text", "of text modified" },
};
#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

#define CPU_VM "dmods-cpu"
#define HOLD_S 8		/* CPU-state tampering held this long, then undone */

struct cpu_action {
	const char *args;	/* insmod arguments ($sct, $gpp from /proc/kallsyms) */
	const char *check;
	const char *reason;
};

/* IDT: vector 1 gets vector 0's gate; syscall: getpid (39) -> __x64_sys_getppid. */
static const struct cpu_action cpu_actions[] = {
	{ "action=idt value=1", "idt", "vector 1 " },
	{ "action=syscall addr=0x$sct off=312 value=0x$gpp", "syscall", "syscall 39 (getpid)" },
	{ "action=cr0wp", "cr", "CR0.WP cleared" },
	{ "action=smep", "cr", "CR4.SMEP cleared" },
};
#define NCPU (sizeof(cpu_actions) / sizeof(cpu_actions[0]))

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_daemon_init(&rwd, &env, "dmods",
			    "interval 1s\nmetrics off\nsyslog off\nqmp-timeout 5s\n"
			    "respond * alert log\n");
	rw_test_daemon_start(&rwd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rw_test_daemon_cleanup(&rwd);
	return 0;
}

/* An overlay with the tamper module in /root and @script as an rc.d script. */
static void make_overlay(const char *name, const char *script, char *out, size_t outlen)
{
	char ko[700], cmd[4096];

	snprintf(ko, sizeof(ko), "%s/kmod/" MODULE ".ko", env.payloads);
	if (access(ko, R_OK))
		fail_msg("test module missing: %s (run make payloads)", ko);
	snprintf(out, outlen, "%s/%s", rwd.dir, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/root' && cp '%s' '%s/root/'", out, ko, out);
	assert_int_equal(system(cmd), 0);
	rw_test_write_file(out, "etc/ringwatch/rc.d/50-rwtest", script, 0755);
}

/* Load the module late with @a's action; the module acts on itself later. */
static void module_overlay(const struct action *a, char *out, size_t outlen)
{
	char script[1024];

	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "# load the tamper module late; it acts on itself %d s after going live\n"
		 "(\n"
		 "  sleep %d\n"
		 "  insmod /root/" MODULE ".ko action=%s delay=%d && echo RWTEST-LOADED-%s\n"
		 ") </dev/null >/dev/console 2>&1 &\n",
		 TAMPER_DELAY_S, LOAD_AFTER_BOOT_S, a->action, TAMPER_DELAY_S, a->action);
	make_overlay(a->vm, script, out, outlen);
}

/* The CPU-state tamperings one after the other, each held, then undone. */
static void cpu_overlay(char *out, size_t outlen)
{
	char script[2048];
	size_t len;

	len = (size_t)snprintf(script, sizeof(script),
			       "#!/bin/sh\n"
			       "# CPU-state tamperings in turn: each held %d s, then undone\n"
			       "ks() { awk -v s=\"$1\" '$3 == s { print $1; exit }' /proc/kallsyms; }\n"
			       "(\n"
			       "  sleep %d\n"
			       "  sct=$(ks sys_call_table); gpp=$(ks __x64_sys_getppid)\n",
			       HOLD_S, LOAD_AFTER_BOOT_S);
	for (size_t i = 0; i < NCPU; i++)
		len += (size_t)snprintf(script + len, sizeof(script) - len,
					"  insmod /root/" MODULE ".ko %s && echo RWTEST-%zu\n"
					"  sleep %d; rmmod " MODULE "; sleep 4\n",
					cpu_actions[i].args, i, HOLD_S);
	snprintf(script + len, sizeof(script) - len,
		 "  echo RWTEST-CPU-DONE\n) </dev/null >/dev/console 2>&1 &\n");
	make_overlay(CPU_VM, script, out, outlen);
}

/* `ringwatch launch` for every action at once; each must exit 0. */
static void launch_all(void)
{
	char overlay[NACTIONS + 1][300], cmd[8192], *out;
	size_t len = 0;
	int rc;

	for (size_t i = 0; i < NACTIONS; i++)
		module_overlay(&actions[i], overlay[i], sizeof(overlay[i]));
	cpu_overlay(overlay[NACTIONS], sizeof(overlay[NACTIONS]));
	len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "fail=0; pids=; ");
	for (size_t i = 0; i <= NACTIONS; i++) {
		const char *vm = i < NACTIONS ? actions[i].vm : CPU_VM;

		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
					"RINGWATCH_CONTROL='%s' RINGWATCH_KIT='%s' '%s/rel/bin/ringwatch' "
					"launch %s --cpus 1 --overlay '%s' >'%s/%s.launch' 2>&1 & "
					"pids=\"$pids $!\"; ",
					rwd.control, env.kit, env.build, vm, overlay[i], rwd.dir, vm);
	}
	snprintf(cmd + len, sizeof(cmd) - len,
		 "for j in $pids; do wait $j || fail=1; done; cat '%s'/*.launch; exit $fail",
		 rwd.dir);
	rc = rw_test_sh(&out, "%s", cmd);
	printf("%s", out);
	if (rc)
		fail_msg("ringwatch launch (all at once): exit %d\n%s", rc, out);
	free(out);
}

/* time_ms of the first info event whose findings say the module loaded; 0 if none. */
static int64_t loaded_at(json_t *events)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(json_string_value(json_object_get(ev, "check")), "modules"))
			continue;
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f) {
			const char *d = json_string_value(json_object_get(f, "detail"));

			if (d && strstr(d, "module " MODULE " loaded"))
				return json_integer_value(json_object_get(ev, "time_ms"));
		}
	}
	return 0;
}

/* The first alert event of check `modules` with a finding naming the module
 * and @reason; its time_ms in *when.  Other checks' alerts fail the test. */
static json_t *modules_alert(json_t *events, const char *reason, int64_t *when)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		const char *check = json_string_value(json_object_get(ev, "check"));

		if (strcmp(json_string_value(json_object_get(ev, "severity")), "alert"))
			continue;
		if (strcmp(check, "modules"))
			fail_msg("alert from check %s: %s", check,
				 json_dumps(json_object_get(ev, "detail"), 0));
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f) {
			const char *d = json_string_value(json_object_get(f, "detail"));

			if (d && strstr(d, MODULE) && strstr(d, reason)) {
				*when = json_integer_value(json_object_get(ev, "time_ms"));
				return f;
			}
		}
	}
	return NULL;
}

/* self_text flips exactly one byte (XOR 0xff) of the module's own text. */
static void expect_one_flipped_byte(json_t *f)
{
	const char *o = json_string_value(json_object_get(f, "old_bytes"));
	const char *n = json_string_value(json_object_get(f, "new_bytes"));
	const char *sym = json_string_value(json_object_get(f, "symbol"));

	assert_int_equal(json_integer_value(json_object_get(f, "length")), 1);
	assert_non_null(o);
	assert_non_null(n);
	assert_int_equal(strlen(o), 2);
	assert_int_equal(strlen(n), 2);
	assert_int_equal(strtoul(o, NULL, 16) ^ strtoul(n, NULL, 16), 0xff);
	if (!sym || strncmp(sym, MODULE "+0x", strlen(MODULE) + 3))
		fail_msg("self_text finding not located in the module: %s", sym);
}

static json_t *modules_check(json_t *status)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(status, "checks"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "check")), "modules"))
			return c;
	fail_msg("no modules check in the status");
	return NULL;
}

/* Times of the module-loaded info events, in order (up to @max). */
static size_t loads_of(json_t *events, int64_t *t, size_t max)
{
	size_t i, j, n = 0;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(json_string_value(json_object_get(ev, "check")), "modules"))
			continue;
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f) {
			const char *d = json_string_value(json_object_get(f, "detail"));

			if (d && strstr(d, "module " MODULE " loaded") && n < max)
				t[n++] = json_integer_value(json_object_get(ev, "time_ms"));
		}
	}
	return n;
}

/* First alert event of @check with a finding containing @reason; alerts of
 * checks other than idt/syscall/cr fail the test. */
static json_t *cpu_alert(json_t *events, const char *check, const char *reason, int64_t *when)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		const char *c = json_string_value(json_object_get(ev, "check"));

		if (strcmp(json_string_value(json_object_get(ev, "severity")), "alert"))
			continue;
		if (strcmp(c, "idt") && strcmp(c, "syscall") && strcmp(c, "cr"))
			fail_msg("%s: alert from check %s: %s", CPU_VM, c,
				 json_dumps(json_object_get(ev, "detail"), 0));
		if (strcmp(c, check))
			continue;
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f) {
			const char *d = json_string_value(json_object_get(f, "detail"));

			if (d && strstr(d, reason)) {
				*when = json_integer_value(json_object_get(ev, "time_ms"));
				return f;
			}
		}
	}
	return NULL;
}

/* The CPU-state guest: each tampering alerted by its check, in time, then all ok. */
static void check_cpu_guest(void)
{
	int64_t loads[NCPU + 1] = { 0 }, alerted[NCPU] = { 0 };
	const int64_t bound = 2 * INTERVAL_MS + SLACK_MS;
	size_t nloads = 0;
	json_t *events, *st, *failing;
	char *out;

	/* the last load is undone HOLD_S after it; then a few more passes */
	for (int t = 0; t < 240 && nloads < NCPU; t++) {
		events = rw_test_ringwatch_json(&rwd, -1, "events " CPU_VM " --json");
		nloads = loads_of(events, loads, NCPU + 1);
		json_decref(events);
		if (nloads < NCPU)
			sleep(1);
	}
	sleep(HOLD_S + 4);
	events = rw_test_ringwatch_json(&rwd, -1, "events " CPU_VM " --json");
	nloads = loads_of(events, loads, NCPU + 1);
	if (nloads != NCPU)
		fail_msg("%s: %zu loads of %s reported, want %zu", CPU_VM, nloads, MODULE, NCPU);
	for (size_t i = 0; i < NCPU; i++) {
		const struct cpu_action *a = &cpu_actions[i];
		json_t *f = cpu_alert(events, a->check, a->reason, &alerted[i]);
		int64_t lag;

		if (!f)
			fail_msg("%s: '%s' raised no %s alert \"%s\"", CPU_VM, a->args, a->check,
				 a->reason);
		lag = alerted[i] - loads[i];
		printf("   %s: %s -> %s alert %+.1f s from the load: %s\n", CPU_VM, a->args,
		       a->check, lag / 1000.0, json_dumps(f, JSON_COMPACT));
		if (lag > bound || lag < -bound)
			fail_msg("%s: '%s' alerted %+.1f s from its load; bound %.1f s", CPU_VM,
				 a->args, lag / 1000.0, bound / 1000.0);
	}
	json_decref(events);
	/* all undone: every check passes again (the alerts stay open) */
	st = rw_test_ringwatch_json(&rwd, -1, "status " CPU_VM " --json");
	failing = json_object_get(st, "failing");
	if (json_array_size(failing))
		fail_msg("%s: still failing after all tampering was undone: %s", CPU_VM,
			 json_dumps(failing, 0));
	json_decref(st);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy " CPU_VM), 0);
	free(out);
}

static void test_tampering_detected_through_daemon(void **state)
{
	int64_t loaded[NACTIONS] = { 0 }, alerted[NACTIONS] = { 0 };
	const int64_t bound = TAMPER_DELAY_S * 1000 + 2 * INTERVAL_MS + SLACK_MS;
	size_t done = 0;

	(void)state;
	launch_all();
	for (int t = 0; t < 240 && done < NACTIONS; t++) {
		for (size_t i = 0; i < NACTIONS; i++) {
			json_t *events, *f;

			if (alerted[i])
				continue;
			events = rw_test_ringwatch_json(&rwd, -1, "events %s --json", actions[i].vm);
			if (!loaded[i])
				loaded[i] = loaded_at(events);
			f = modules_alert(events, actions[i].reason, &alerted[i]);
			if (f) {
				printf("   %s: loaded seen, alert after %.1f s: %s\n", actions[i].vm,
				       (alerted[i] - loaded[i]) / 1000.0, json_dumps(f, JSON_COMPACT));
				if (!strcmp(actions[i].action, "self_text"))
					expect_one_flipped_byte(f);
				done++;
			}
			json_decref(events);
		}
		if (done < NACTIONS)
			sleep(1);
	}
	for (size_t i = 0; i < NACTIONS; i++) {
		const struct action *a = &actions[i];
		json_t *st, *failing, *mc;
		const char *summary;
		char *out;

		if (!loaded[i])
			fail_msg("%s: the daemon never reported %s loaded", a->vm, MODULE);
		if (!alerted[i])
			fail_msg("%s: no modules alert \"%s\" naming %s", a->vm, a->reason, MODULE);
		if (alerted[i] < loaded[i] || alerted[i] - loaded[i] > bound)
			fail_msg("%s: alert %.1f s after the load was reported; bound %.1f s", a->vm,
				 (alerted[i] - loaded[i]) / 1000.0, bound / 1000.0);
		st = rw_test_ringwatch_json(&rwd, 1, "status %s --json", a->vm);
		failing = json_object_get(st, "failing");
		if (json_array_size(failing) != 1 ||
		    strcmp(json_string_value(json_array_get(failing, 0)), "modules"))
			fail_msg("%s: failing checks %s, want [\"modules\"]", a->vm,
				 json_dumps(failing, 0));
		assert_string_equal(json_string_value(json_object_get(st, "state")), "alert");
		mc = modules_check(st);
		assert_string_equal(json_string_value(json_object_get(mc, "result")), "alert");
		summary = json_string_value(json_object_get(mc, "summary"));
		printf("   %s status: modules: %s\n", a->vm, summary);
		if (!summary || !strstr(summary, a->reason) || !strstr(summary, MODULE))
			fail_msg("%s: modules summary lacks \"%s\" / %s: %s", a->vm, a->reason,
				 MODULE, summary);
		json_decref(st);
		assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy %s", a->vm), 0);
		free(out);
	}
	check_cpu_guest();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tampering_detected_through_daemon),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

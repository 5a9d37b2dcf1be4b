// SPDX-License-Identifier: GPL-2.0
/*
 * The guest module's self-protection and self-description as ringwatchd
 * sees them, end to end through the CLI only:
 *
 *  A guest launched with `ringwatch launch` loads ringwatch.ko from rc.d
 *  (armed).  The module describes itself (MODULE_SELF) and reports its CPUs'
 *  state; the daemon's own module walk finds it at the address it gave, with
 *  its text intact, so `ringwatch status VM --json` shows the msr check `ok`
 *  with source "guest-report".  Later an rc.d job runs `rmmod ringwatch`:
 *  it fails in the guest, the module stays, and `ringwatch events VM --json`
 *  holds the module's unload_attempt guard-event (severity warning) — plus
 *  its "loaded" event from the start.  Then rwtest_tamper.ko flips one byte
 *  of the module's own text (in a function that only runs on disarm): the
 *  modules check alerts and the msr check drops to `unknown`, saying the
 *  module's text changed since load — its reports are no longer used.
 *
 * Needs: the kit ($RW_KIT), qemu-system-x86_64, build/rel/bin/{ringwatchd,
 * ringwatch,ringwatch-vsockd}, the payloads (kmod/ringwatch.ko).
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


static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_daemon_init(&rwd, &env, "dguard",
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


#define VM "dguard"
#define RMMOD_DELAY_S 45
#define TAMPER_AFTER_S 10	/* after the rmmod */
#define STR_(x) #x
#define STR(x) STR_(x)

/* rc.d: load the module armed; some time later, try to unload it. */
static const char guard_script[] =
	"#!/bin/sh\n"
	"insmod /lib/modules/ringwatch.ko armed=1 cpu_interval_ms=2000 && "
	"echo RWGUARD-LOADED >/dev/console\n"
	"(\n"
	"  sleep " STR(RMMOD_DELAY_S) "\n"
	"  if rmmod ringwatch; then echo RWGUARD-UNLOADED; else echo RWGUARD-RMMOD-REFUSED; fi\n"
	"  grep -q '^ringwatch ' /proc/modules && echo RWGUARD-STILL-LOADED\n"
	"  sleep " STR(TAMPER_AFTER_S) "\n"
	"  echo 0 > /proc/sys/kernel/kptr_restrict\n"
	"  a=$(awk '$3 == \"rw_selfprot_disarm\" { print $1; exit }' /proc/kallsyms)\n"
	"  insmod /lib/modules/rwtest_tamper.ko action=text addr=0x$a off=4 && "
	"echo RWGUARD-TAMPERED\n"
	") </dev/null >/dev/console 2>&1 &\n";

static void make_overlay(char *out, size_t outlen)
{
	static const char *const mods[] = { "ringwatch.ko", "rwtest_tamper.ko" };
	char ko[700], cmd[2000];

	snprintf(out, outlen, "%s/overlay", rwd.dir);
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(ko, sizeof(ko), "%s/kmod/%s", env.payloads, mods[i]);
		if (access(ko, R_OK))
			fail_msg("guest module missing: %s (run scripts/build-payloads)", ko);
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/lib/modules' && cp '%s' '%s/lib/modules/'",
			 out, ko, out);
		assert_int_equal(system(cmd), 0);
	}
	rw_test_write_file(out, "etc/ringwatch/rc.d/50-rwguard", guard_script, 0755);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The entry of check @name in `ringwatch status VM --json` (new reference). */
static json_t *check_status(const char *want)
{
	json_t *st = rw_test_ringwatch_json(&rwd, -1, "status %s --json", VM);
	json_t *checks, *c, *found = NULL;
	size_t i;

	checks = json_object_get(st, "checks");
	if (!json_is_array(checks))
		fail_msg("status %s --json has no checks array", VM);
	json_array_foreach(checks, i, c) {
		const char *name = json_string_value(json_object_get(c, "check"));

		if (name && !strcmp(name, want))
			found = json_incref(c);
	}
	json_decref(st);
	if (!found)
		fail_msg("status %s --json has no %s check", VM, want);
	return found;
}

static json_t *msr_status(void)
{
	return check_status("msr");
}

/* The module's guard-events of @kind on @vm (new reference, array). */
static json_t *kmod_events_of(const char *vm, const char *kind)
{
	json_t *all = rw_test_vm_events(&rwd, vm), *res = json_array(), *e;
	size_t i;

	json_array_foreach(all, i, e) {
		json_t *d = json_object_get(e, "detail");

		if (!strcmp(str(e, "check"), "guard-event") && !strcmp(str(e, "source"), "kmod") &&
		    !strcmp(str(d, "kind"), kind))
			json_array_append(res, e);
	}
	json_decref(all);
	return res;
}

static void test_msr_from_guest_and_unload_attempt(void **state)
{
	char overlay[300], *out;
	json_t *msr = NULL, *evs = NULL, *e, *modules;
	int rc, waited;

	(void)state;
	make_overlay(overlay, sizeof(overlay));
	rc = rw_test_ringwatch(&rwd, &out, "launch %s --cpus 2 --overlay '%s'", VM, overlay);
	if (rc)
		fail_msg("launch %s: exit %d\n%s", VM, rc, out);
	printf("   %s", out);
	free(out);

	/* msr: ok, vouched for by the verified guest module. */
	for (waited = 0; waited < 120; waited++) {
		json_decref(msr);
		msr = msr_status();
		if (!strcmp(str(msr, "result"), "ok") && !strcmp(str(msr, "source"), "guest-report"))
			break;
		sleep(1);
	}
	printf("   msr after %d s: %s (%s): %s\n", waited, str(msr, "result"), str(msr, "source"),
	       str(msr, "summary"));
	assert_string_equal(str(msr, "result"), "ok");
	assert_string_equal(str(msr, "source"), "guest-report");
	assert_non_null(strstr(str(msr, "summary"), "2 of 2 vCPUs"));
	json_decref(msr);

	evs = kmod_events_of(VM, "loaded");
	assert_true(json_array_size(evs) >= 1);
	json_decref(evs);

	/* rmmod some time after boot: refused, and the host hears of it. */
	for (waited = 0; waited < RMMOD_DELAY_S + 90; waited++) {
		evs = kmod_events_of(VM, "unload_attempt");
		if (json_array_size(evs))
			break;
		json_decref(evs);
		evs = NULL;
		sleep(1);
	}
	if (!evs)
		fail_msg("no unload_attempt guard-event from %s within %d s", VM, waited);
	e = json_array_get(evs, 0);
	printf("   unload_attempt after %d s: severity %s, detail %s\n", waited, str(e, "severity"),
	       str(json_object_get(e, "detail"), "detail"));
	assert_string_equal(str(e, "severity"), "warning");
	assert_non_null(strstr(str(json_object_get(e, "detail"), "detail"), "action=refused"));
	json_decref(evs);

	/* The module is still there and still trusted. */
	sleep(3);
	msr = msr_status();
	printf("   msr after the unload attempt: %s (%s)\n", str(msr, "result"), str(msr, "source"));
	assert_string_equal(str(msr, "result"), "ok");
	assert_string_equal(str(msr, "source"), "guest-report");
	json_decref(msr);

	/* Its text changed: the reports are no longer trusted. */
	for (waited = 0, msr = NULL; waited < TAMPER_AFTER_S + 60; waited++) {
		json_decref(msr);
		msr = msr_status();
		if (strcmp(str(msr, "result"), "ok"))
			break;
		sleep(1);
	}
	printf("   msr after the module's text changed (%d s): %s (%s): %s\n", waited,
	       str(msr, "result"), str(msr, "source"), str(msr, "summary"));
	assert_string_equal(str(msr, "result"), "unknown");
	assert_non_null(strstr(str(msr, "summary"), "text changed since load"));
	json_decref(msr);
	modules = check_status("modules");
	printf("   modules: %s: %s\n", str(modules, "result"), str(modules, "summary"));
	assert_string_equal(str(modules, "result"), "alert");
	json_decref(modules);
}

/* ---- the agent and its BPF partners, watched by the module ------------- */

#define VM_AGENT "dguard-agent"
#define ATTACK_AFTER_S 15	/* after the agent is up: the host is attached */
#define UNHOOK_HOLD_S 8		/* move_mount stays unhooked this long */
#define AGENT_TOKEN "rw-test-disarm-agent-3c1d"

/*
 * The module goes in before the agent (rc.d 40), so the agent registers at
 * its start.  The attack (rc.d 60) runs when the agent is ready:
 *  - a userspace SIGKILL from this script: refused by the BPF guard (only
 *    init may signal the agent);
 *  - the same SIGKILL sent from ring 0 (rwtest_guard.ko action=kill): a
 *    kernel-sent signal does not go through security_task_kill(), so nothing
 *    in BPF can refuse it -- the agent really dies, the init loop of
 *    50-ringwatch-agent restarts it a second later;
 *  - once the new agent is up, rwtest_guard.ko action=unhook writes the NOP
 *    back over the trampoline CALL of bpf_lsm_move_mount (the BPF link, its
 *    pin and the program are untouched, so only the module can tell), and
 *    its unload restores the CALL;
 *  - then the host's token disarms the module: the agent is told (POLLHUP)
 *    and lets go of its registration, so `rmmod ringwatch` succeeds.
 */
static const char agent_attack_script[] =
	"#!/bin/sh\n"
	"(\n"
	"  sleep " STR(ATTACK_AFTER_S) "\n"
	"  pid=$(cat /run/ringwatch/agent.pid)\n"
	"  if kill -9 \"$pid\"; then echo RWGUARD-USERKILL-ALLOWED; "
	"else echo RWGUARD-USERKILL-REFUSED; fi\n"
	"  insmod /lib/modules/rwtest_guard.ko action=kill pid=$pid && "
	"echo RWGUARD-AGENT-KILLED pid=$pid\n"
	"  rmmod rwtest_guard\n"
	"  i=0\n"
	"  while [ \"$(cat /run/ringwatch/agent.pid)\" = \"$pid\" ] && [ $i -lt 300 ]; do\n"
	"    sleep 0.1; i=$((i + 1))\n"
	"  done\n"
	"  echo RWGUARD-AGENT-RESTARTED pid=$(cat /run/ringwatch/agent.pid)\n"
	"  sleep 5\n"
	"  echo 0 > /proc/sys/kernel/kptr_restrict\n"
	"  a=$(awk '$3 == \"bpf_lsm_move_mount\" { print $1; exit }' /proc/kallsyms)\n"
	"  insmod /lib/modules/rwtest_guard.ko action=unhook addr=0x$a && "
	"echo RWGUARD-UNHOOKED\n"
	"  sleep " STR(UNHOOK_HOLD_S) "\n"
	"  rmmod rwtest_guard && echo RWGUARD-REHOOKED\n"
	"  sleep 5\n"
	"  echo " AGENT_TOKEN " > /sys/kernel/security/ringwatch/disarm && echo RWGUARD-DISARMED\n"
	"  i=0\n"
	"  until rmmod ringwatch 2>/dev/null || [ $i -ge 50 ]; do sleep 0.2; i=$((i + 1)); done\n"
	"  grep -q '^ringwatch ' /proc/modules && echo RWGUARD-STILL-LOADED || "
	"echo RWGUARD-UNLOADED\n"
	") </dev/null >/dev/console 2>&1 &\n";

static void copy_payload(const char *overlay, const char *src, const char *rel, int mode)
{
	char cmd[2000];

	if (access(src, R_OK))
		fail_msg("missing %s (scripts/build-payloads, scripts/build-guest-bpf)", src);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s/%s')\" && cp '%s' '%s/%s' && "
		 "chmod %o '%s/%s'", overlay, rel, src, overlay, rel, mode, overlay, rel);
	assert_int_equal(system(cmd), 0);
}

static void make_agent_overlay(char *out, size_t outlen)
{
	char src[700];

	snprintf(out, outlen, "%s/overlay-agent", rwd.dir);
	snprintf(src, sizeof(src), "%s/kmod/ringwatch.ko", env.payloads);
	copy_payload(out, src, "lib/modules/ringwatch.ko", 0644);
	snprintf(src, sizeof(src), "%s/kmod/rwtest_guard.ko", env.payloads);
	copy_payload(out, src, "lib/modules/rwtest_guard.ko", 0644);
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", env.payloads);
	copy_payload(out, src, "usr/sbin/ringwatch-agent", 0755);
	snprintf(src, sizeof(src), "%s/rc.d/50-ringwatch-agent", env.payloads);
	copy_payload(out, src, "etc/ringwatch/rc.d/50-ringwatch-agent", 0755);
	rw_test_write_file(out, "etc/ringwatch/rc.d/40-rwkmod",
			   "#!/bin/sh\ninsmod /lib/modules/ringwatch.ko armed=1 disarm_token="
			   AGENT_TOKEN "\n", 0755);
	rw_test_write_file(out, "etc/ringwatch/policy",
			   "# e2e_daemon_guard: the attacker's test module may load\n"
			   "module-allow rwtest_guard *\n", 0644);
	rw_test_write_file(out, "etc/ringwatch/rc.d/60-rwattack", agent_attack_script, 0755);
}

/* Wait up to @timeout_s for @n guard-events of @kind; returns them. */
static json_t *wait_kmod_events(const char *vm, const char *kind, size_t n, int timeout_s)
{
	json_t *evs = NULL;

	for (int waited = 0; waited <= timeout_s; waited++) {
		json_decref(evs);
		evs = kmod_events_of(vm, kind);
		if (json_array_size(evs) >= n)
			return evs;
		sleep(1);
	}
	fail_msg("%s: %zu %s guard-event(s) after %d s, want %zu", vm, json_array_size(evs), kind,
		 timeout_s, n);
	return NULL;
}

static const char *detail_text(json_t *e)
{
	return str(json_object_get(e, "detail"), "detail");
}

/* The number after "@key=" in a guard-event's detail text, or -1. */
static long long detail_num(json_t *e, const char *key)
{
	char needle[64];
	const char *t = detail_text(e), *p;

	snprintf(needle, sizeof(needle), "%s=", key);
	for (p = strstr(t, needle); p; p = strstr(p + 1, needle))
		if (p == t || p[-1] == ' ')
			return strtoll(p + strlen(needle), NULL, 0);
	return -1;
}

/* The states of the agent's registration with the module, as it reported
 * them ({"agent":"kmod","state":...}), in order, space-separated. */
static char *agent_kmod_states(const char *vm)
{
	json_t *all = rw_test_vm_events(&rwd, vm), *e;
	size_t i, len = 0;
	char *out = calloc(1, 4096);

	assert_non_null(out);
	json_array_foreach(all, i, e) {
		json_t *report = json_object_get(json_object_get(e, "detail"), "report");

		if (strcmp(str(e, "source"), "agent") || strcmp(str(report, "agent"), "kmod") ||
		    !json_object_get(report, "state"))
			continue;
		len += (size_t)snprintf(out + len, len < 4000 ? 4096 - len : 0, "%s%s",
					len ? " " : "", str(report, "state"));
		if (len >= 4000)
			break;
	}
	json_decref(all);
	return out;
}

/* Agent reports (lsm-event, source agent) whose report.event is @name. */
static size_t agent_guard_reports(const char *vm, const char *name)
{
	json_t *all = rw_test_vm_events(&rwd, vm), *e;
	size_t i, n = 0;

	json_array_foreach(all, i, e) {
		json_t *report = json_object_get(json_object_get(e, "detail"), "report");

		if (!strcmp(str(e, "source"), "agent") && !strcmp(str(report, "event"), name))
			n++;
	}
	json_decref(all);
	return n;
}

static void test_agent_death_and_partner_detach(void **state)
{
	char overlay[300], *out;
	json_t *evs, *e;
	long long gap, lost_pid, back_pid;
	char *states;
	size_t i;
	int rc;

	(void)state;
	rw_test_ringwatch(&rwd, NULL, "destroy %s", VM);	/* the first test's guest: one TCG guest at a time */
	make_agent_overlay(overlay, sizeof(overlay));
	rc = rw_test_ringwatch(&rwd, &out, "launch %s --cpus 2 --overlay '%s'", VM_AGENT, overlay);
	if (rc)
		fail_msg("launch %s: exit %d\n%s", VM_AGENT, rc, out);
	printf("   %s", out);
	free(out);

	/* The ring-0 kill: agent_lost, with the agent's pid and SIGKILL. */
	evs = wait_kmod_events(VM_AGENT, "agent_lost", 1, ATTACK_AFTER_S + 120);
	e = json_array_get(evs, 0);
	printf("   agent_lost: severity %s, detail %s\n", str(e, "severity"), detail_text(e));
	assert_string_equal(str(e, "severity"), "alert");
	assert_int_equal(detail_num(e, "exiting"), 1);
	assert_int_equal(detail_num(e, "exit_code"), 9);	/* SIGKILL */
	lost_pid = detail_num(e, "pid");
	assert_true(lost_pid > 1);
	assert_int_equal(json_array_size(evs), 1);
	json_decref(evs);

	/* The userspace kill before it was refused (the BPF guard saw it). */
	assert_true(agent_guard_reports(VM_AGENT, "guard-signal") >= 1);

	/* init's loop restarted it: agent_back, a new pid, a plausible gap
	 * (the loop sleeps 1 s; a TCG guest restarts the agent in seconds). */
	evs = wait_kmod_events(VM_AGENT, "agent_back", 1, 60);
	e = json_array_get(evs, 0);
	printf("   agent_back: severity %s, detail %s\n", str(e, "severity"), detail_text(e));
	assert_string_equal(str(e, "severity"), "warning");
	gap = detail_num(e, "gap_ms");
	back_pid = detail_num(e, "pid");
	assert_true(gap >= 1000 && gap <= 30000);
	assert_int_equal(detail_num(e, "lost_pid"), lost_pid);
	assert_true(back_pid > 1 && back_pid != lost_pid);
	assert_non_null(strstr(detail_text(e), "after=lost"));
	json_decref(evs);

	/* The NOP over bpf_lsm_move_mount's trampoline call, then the CALL back. */
	evs = wait_kmod_events(VM_AGENT, "partner_detached", 1, 90);
	e = json_array_get(evs, 0);
	printf("   partner_detached: severity %s, detail %s\n", str(e, "severity"),
	       detail_text(e));
	assert_string_equal(str(e, "severity"), "alert");
	assert_non_null(strstr(detail_text(e), "hook=move_mount "));
	assert_non_null(strstr(detail_text(e), "insn=0f1f440000"));
	json_decref(evs);
	evs = wait_kmod_events(VM_AGENT, "partner_restored", 1, UNHOOK_HOLD_S + 60);
	e = json_array_get(evs, 0);
	printf("   partner_restored: severity %s, detail %s\n", str(e, "severity"),
	       detail_text(e));
	assert_string_equal(str(e, "severity"), "info");
	assert_non_null(strstr(detail_text(e), "hook=move_mount "));
	assert_non_null(strstr(detail_text(e), "insn=e8"));
	json_decref(evs);

	/* No other hook was ever reported detached (the kill left the pinned
	 * links alone), and there was one loss only. */
	sleep(3);
	evs = kmod_events_of(VM_AGENT, "partner_detached");
	json_array_foreach(evs, i, e)
		if (!strstr(detail_text(e), "hook=move_mount "))
			fail_msg("false partner_detached: %s", detail_text(e));
	assert_int_equal(json_array_size(evs), 1);
	json_decref(evs);
	evs = kmod_events_of(VM_AGENT, "agent_lost");
	assert_int_equal(json_array_size(evs), 1);
	json_decref(evs);

	/* Disarmed: the agent let go ("released"), the module could be
	 * unloaded, and the agent's next retry found no module ("absent").
	 * Each agent process registered once ("registered" twice). */
	for (int waited = 0;; waited++) {
		states = agent_kmod_states(VM_AGENT);
		if (strstr(states, "absent") || waited >= 90)
			break;
		free(states);
		sleep(1);
	}
	printf("   agent's registration states: %s\n", states);
	/* (a retry in the instant between disarm and rmmod may add a refusal) */
	assert_true(!strncmp(states, "registered registered released ", 31));
	assert_true(strlen(states) > 6 && !strcmp(states + strlen(states) - 6, "absent"));
	free(states);
	evs = kmod_events_of(VM_AGENT, "agent_lost");
	assert_int_equal(json_array_size(evs), 1);	/* letting go is no loss */
	json_decref(evs);
	rw_test_ringwatch(&rwd, NULL, "destroy %s", VM_AGENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msr_from_guest_and_unload_attempt),
		cmocka_unit_test(test_agent_death_and_partner_detach),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

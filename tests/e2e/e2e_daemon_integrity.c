// SPDX-License-Identifier: GPL-2.0
/*
 * The integrity engine inside ringwatchd, end to end through the CLI only:
 *
 *  1. Two guests launched with `ringwatch launch` (KASLR on).  One carries
 *     rwtest_tamper.ko in its overlay and an rc.d script that, some seconds
 *     after boot, flips one byte inside orderly_poweroff.  `ringwatch list
 *     --json` then shows that guest `alert` with `ktext` failing and the other
 *     `ok`; `ringwatch status` exits 1 / 0; `ringwatch events VM --json` holds
 *     the violation with its address (slide + link address) and symbol.
 *  2. A guest doing legitimate self-patching in a loop from rc.d (tracepoints
 *     on/off, the function tracer on/off over ~100 functions, a module
 *     loaded/unloaded, kprobes added/removed, a BPF fentry program attached
 *     and detached by the rw_bpfhook payload) stays `ok` the whole time: the
 *     hooks appear as info events, each site once, the BPF attach among them
 *     (hrtimer_nanosleep -> BPF trampoline).
 *  3. A guest with ringwatch.ko loaded (per-CPU reports every 500 ms): the
 *     msr check is `ok` from source guest-report; then rwtest_tamper.ko
 *     (action=lstar) points LSTAR of every CPU at a trampoline in its own
 *     text.  The msr check alerts within two intervals of the module's load,
 *     naming LSTAR, the expected entry_SYSCALL_64, the module the new value
 *     lies in and the source that vouched (guest-report); no other check
 *     alerts.  rmmod restores LSTAR and msr is `ok` again.
 *  4. A guest where rwtest_tamper.ko, a module not on the daemon's hook-allow
 *     list (the config allows ringwatch only), hooks do_sys_openat2 first
 *     with an ftrace_ops, then with a kprobe: each time ktext alerts with a
 *     finding naming the hooked function, the handler (in rwtest_tamper) and
 *     its owner; once the hook is removed ktext is `ok` again, and no other
 *     check alerted.
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
#include "vmi/kcat.h"

static struct rw_test_env env;
static struct rw_test_daemon rwd;

/* Byte flipped by the tamper guest: inside a function nothing calls at runtime. */
#define VICTIM "orderly_poweroff"
#define VICTIM_OFF 0x10
#define TAMPER_DELAY_S 25

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_daemon_init(&rwd, &env, "dinteg",
			    "interval 1s\nmetrics off\nsyslog off\nqmp-timeout 5s\n"
			    "hook-allow ringwatch\n"
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

static bool has_string(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

/* An overlay with the tamper module in /root and @script as an rc.d script. */
static void make_overlay(const char *name, const char *script, char *out, size_t outlen)
{
	char ko[700], cmd[2000];

	snprintf(ko, sizeof(ko), "%s/kmod/rwtest_tamper.ko", env.payloads);
	if (access(ko, R_OK))
		fail_msg("test module missing: %s (run make payloads)", ko);
	snprintf(out, outlen, "%s/%s", rwd.dir, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/root' && cp '%s' '%s/root/'", out, ko, out);
	assert_int_equal(system(cmd), 0);
	rw_test_write_file(out, "etc/ringwatch/rc.d/50-rwtest", script, 0755);
}

static void launch(const char *name, const char *overlay)
{
	char *out;
	int rc = overlay ? rw_test_ringwatch(&rwd, &out, "launch %s --cpus 2 --overlay '%s'", name,
					     overlay)
			 : rw_test_ringwatch(&rwd, &out, "launch %s --cpus 2", name);

	if (rc)
		fail_msg("launch %s: exit %d\n%s", name, rc, out);
	printf("   %s", out);
	free(out);
}

static uint64_t hex(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? strtoull(s, NULL, 16) : 0;
}

/* The slide the daemon found (from its "kernel identified" event). */
static uint64_t slide_of(json_t *events)
{
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev) {
		json_t *k = json_object_get(json_object_get(ev, "detail"), "kernel");

		if (!strcmp(json_string_value(json_object_get(ev, "check")), "kernel") && k)
			return hex(k, "slide");
	}
	fail_msg("no kernel identification event");
	return 0;
}

/* The ktext alert event's finding at @want, or NULL. */
static json_t *ktext_violation(json_t *events, uint64_t want)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(json_string_value(json_object_get(ev, "check")), "ktext") ||
		    strcmp(json_string_value(json_object_get(ev, "severity")), "alert"))
			continue;
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f)
			if (hex(f, "address") == want)
				return f;
	}
	return NULL;
}

static void test_tampered_guest_alert_other_ok(void **state)
{
	char overlay[300], script[1024], *out;
	struct vmi_kcat *cat;
	uint64_t link, slide, want;
	json_t *list = NULL, *vm, *events, *f;
	int rc = 0;

	(void)state;
	if (vmi_kcat_open(env.vmlinux, &cat, script, sizeof(script)))
		fail_msg("catalog %s: %s", env.vmlinux, script);
	assert_int_equal(vmi_kcat_symbol(cat, VICTIM, &link), 0);
	vmi_kcat_close(cat);

	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "# flip one byte of " VICTIM " some seconds after boot, keep it flipped\n"
		 "(\n"
		 "  sleep %d\n"
		 "  a=$(awk '$3 == \"" VICTIM "\" { print $1; exit }' /proc/kallsyms)\n"
		 "  insmod /root/rwtest_tamper.ko action=text addr=0x$a off=%d &&\n"
		 "    echo RWTEST-TAMPERED\n"
		 ") </dev/null >/dev/console 2>&1 &\n",
		 TAMPER_DELAY_S, VICTIM_OFF);
	make_overlay("tamper", script, overlay, sizeof(overlay));

	launch("dinteg-clean", NULL);
	launch("dinteg-tamper", overlay);
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "dinteg-clean"), "ok");
	assert_string_equal(rw_test_list_vm_state(list, "dinteg-tamper"), "ok");
	json_decref(list);

	/* The byte flips TAMPER_DELAY_S after boot; then within two intervals. */
	for (int i = 0; i < 120; i++) {
		rc = rw_test_ringwatch(&rwd, &out, "list --json");
		free(out);
		if (rc == 1)
			break;
		sleep(1);
	}
	list = rw_test_ringwatch_json(&rwd, 1, "list --json");
	printf("   list: tamper %s, clean %s\n", rw_test_list_vm_state(list, "dinteg-tamper"),
	       rw_test_list_vm_state(list, "dinteg-clean"));
	assert_string_equal(rw_test_list_vm_state(list, "dinteg-tamper"), "alert");
	assert_string_equal(rw_test_list_vm_state(list, "dinteg-clean"), "ok");
	vm = rw_test_list_vm(list, "dinteg-tamper");
	if (!has_string(json_object_get(vm, "failing"), "ktext"))
		fail_msg("ktext not among the failing checks: %s",
			 json_dumps(json_object_get(vm, "failing"), 0));
	assert_int_equal(json_array_size(json_object_get(vm, "failing")), 1);
	vm = rw_test_list_vm(list, "dinteg-clean");
	assert_int_equal(json_array_size(json_object_get(vm, "failing")), 0);
	json_decref(list);

	assert_int_equal(rw_test_ringwatch(&rwd, &out, "status dinteg-clean"), 0);
	free(out);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "status dinteg-tamper"), 1);
	printf("%s", out);
	assert_non_null(strstr(out, VICTIM "+0x10"));
	free(out);

	events = rw_test_ringwatch_json(&rwd, 1, "events dinteg-tamper --json");
	slide = slide_of(events);
	want = link + slide + VICTIM_OFF;
	f = ktext_violation(events, want);
	if (!f)
		fail_msg("no ktext alert event with a finding at 0x%" PRIx64 " (slide 0x%" PRIx64 ")",
			 want, slide);
	printf("   event: %s\n", json_dumps(f, JSON_COMPACT));
	assert_string_equal(json_string_value(json_object_get(f, "symbol")), VICTIM "+0x10");
	assert_string_equal(json_string_value(json_object_get(f, "severity")), "violation");
	assert_int_equal(strlen(json_string_value(json_object_get(f, "old_bytes"))), 2);
	json_decref(events);
	/* The clean guest: no alert event at all. */
	events = rw_test_ringwatch_json(&rwd, 0, "events dinteg-clean --json");
	for (size_t i = 0; i < json_array_size(events); i++)
		assert_string_not_equal(json_string_value(json_object_get(json_array_get(events, i),
									  "severity")),
					"alert");
	json_decref(events);

	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy dinteg-tamper"), 0);
	free(out);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy dinteg-clean"), 0);
	free(out);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

#define LEGIT_ROUNDS 3

static void test_legit_self_patching_stays_ok(void **state)
{
	char overlay[300], *out;
	const char *script =
		"#!/bin/sh\n"
		"# legitimate self-patching, several rounds; then leave a module loaded as\n"
		"# the end marker the host sees\n"
		"tr=/sys/kernel/tracing\n"
		"(\n"
		"  sleep 8\n"
		"  for round in 1 2 3; do\n"
		"    echo 1 > $tr/events/sched/enable; echo 1 > $tr/events/irq/enable; sleep 2\n"
		"    echo 0 > $tr/events/sched/enable; echo 0 > $tr/events/irq/enable; sleep 2\n"
		"    echo 'vfs_* do_sys_* ksys_*' > $tr/set_ftrace_filter\n"
		"    echo function > $tr/current_tracer; sleep 3\n"
		"    echo nop > $tr/current_tracer; echo > $tr/set_ftrace_filter; sleep 2\n"
		"    # a BPF fentry program attached, held 3 s, detached; if it fails the\n"
		"    # rounds stop, and the host never sees the module loads below\n"
		"    /root/rw_bpfhook 3000 || exit 1\n"
		"    insmod /root/rwtest_tamper.ko action=none; sleep 2\n"
		"    rmmod rwtest_tamper; sleep 2\n"
		"    echo 'p:rwprobe_a do_sys_openat2' > $tr/kprobe_events\n"
		"    echo 'p:rwprobe_b do_sys_openat2+5' >> $tr/kprobe_events\n"
		"    echo 1 > $tr/events/kprobes/enable; cat /proc/version >/dev/null; sleep 2\n"
		"    echo 0 > $tr/events/kprobes/enable; echo > $tr/kprobe_events; sleep 2\n"
		"    echo RWTEST-ROUND-$round\n"
		"  done\n"
		"  insmod /root/rwtest_tamper.ko action=none\n"
		"  echo RWTEST-LEGIT-DONE\n"
		") </dev/null >/dev/console 2>&1 &\n";
	size_t loads = 0, hook_sites = 0, bpf_hooks = 0, i, j;
	json_t *events, *ev, *f, *list;
	char bpf[700], cmd[1600];
	bool done = false;

	(void)state;
	make_overlay("legit", script, overlay, sizeof(overlay));
	snprintf(bpf, sizeof(bpf), "%s/bin/rw_bpfhook", env.payloads);
	if (access(bpf, X_OK))
		fail_msg("BPF payload missing: %s (run scripts/build-payloads)", bpf);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/root/'", bpf, overlay);
	assert_int_equal(system(cmd), 0);
	launch("dinteg-legit", overlay);
	for (int t = 0; t < 240 && !done; t++) {
		int rc = rw_test_ringwatch(&rwd, &out, "list --json");

		if (rc != 0) {
			printf("%s", out);
			free(out);
			rw_test_ringwatch(&rwd, &out, "status dinteg-legit");
			fail_msg("legitimate self-patching raised an alert (exit %d):\n%s", rc, out);
		}
		free(out);
		events = rw_test_ringwatch_json(&rwd, 0, "events dinteg-legit --json");
		loads = 0;
		json_array_foreach(events, i, ev)
			json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"),
					   j, f) {
				const char *d = json_string_value(json_object_get(f, "detail"));

				loads += d && strstr(d, "module rwtest_tamper loaded");
			}
		done = loads >= LEGIT_ROUNDS + 1;
		json_decref(events);
		if (!done)
			sleep(1);
	}
	if (!done)
		fail_msg("the guest's legitimate activity did not finish (%zu module loads seen)",
			 loads);
	sleep(3);	/* a few more passes over the final state */
	list = rw_test_ringwatch_json(&rwd, 0, "list --json");
	assert_string_equal(rw_test_list_vm_state(list, "dinteg-legit"), "ok");
	json_decref(list);
	events = rw_test_ringwatch_json(&rwd, 0, "events dinteg-legit --json");
	json_array_foreach(events, i, ev) {
		const char *sev = json_string_value(json_object_get(ev, "severity"));
		const char *check = json_string_value(json_object_get(ev, "check"));

		if (!strcmp(sev, "alert") || !strcmp(sev, "error"))
			fail_msg("%s event from %s: %s", sev, check,
				 json_dumps(json_object_get(ev, "detail"), 0));
		if (!strcmp(check, "ktext"))
			hook_sites += (size_t)json_integer_value(
				json_object_get(json_object_get(ev, "detail"), "new_hook_sites"));
		/* the BPF attach: an accepted hook, not a violation */
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "sites"), j, f)
			if (!strcmp(check, "ktext") &&
			    !strcmp(jstr(f, "symbol"), "hrtimer_nanosleep+0x0") &&
			    strstr(jstr(f, "detail"), "BPF trampoline") && bpf_hooks++ == 0)
				printf("   BPF hook: %s\n", json_dumps(f, JSON_COMPACT));
	}
	if (!bpf_hooks)
		fail_msg("the BPF fentry attach was not reported as a hook at hrtimer_nanosleep");
	printf("   %zu module loads, %zu hook sites reported (each once), %zu events\n", loads,
	       hook_sites, json_array_size(events));
	/* The function tracer (filtered: unfiltered, every function traced livelocks a
	 * 2-vCPU TCG guest) patches ~100 sites, the same each round: reported once. */
	if (hook_sites < 50 || hook_sites > 2000)
		fail_msg("hook sites reported: %zu", hook_sites);
	if (json_array_size(events) > 200)
		fail_msg("%zu events for %d rounds: hooks are not deduplicated",
			 json_array_size(events), LEGIT_ROUNDS);
	json_decref(events);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy dinteg-legit"), 0);
	free(out);
}

#define LSTAR_VM "dinteg-lstar"
#define LSTAR_DELAY_S 40	/* after boot: msr is ok from guest reports by then */
#define LSTAR_HOLD_S 12
#define INTERVAL_MS 1000	/* ringwatch.conf above */
#define SLACK_MS 3000		/* report latency, confirmation passes, bookkeeping */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char lstar_script[] =
	"#!/bin/sh\n"
	"# the guest module reports every CPU's MSRs every 500 ms; later LSTAR is\n"
	"# pointed at rwtest_tamper's trampoline, held, and restored by rmmod\n"
	"insmod /root/ringwatch.ko cpu_interval_ms=500 && echo RWTEST-RINGWATCH-LOADED >/dev/console\n"
	"(\n"
	"  sleep " STR(LSTAR_DELAY_S) "\n"
	"  insmod /root/rwtest_tamper.ko action=lstar && echo RWTEST-LSTAR-SET\n"
	"  dmesg | grep rwtest_tamper\n"
	"  sleep " STR(LSTAR_HOLD_S) "\n"
	"  rmmod rwtest_tamper && echo RWTEST-LSTAR-RESTORED\n"
	") </dev/null >/dev/console 2>&1 &\n";

/* The msr entry of `ringwatch status VM --json` (new reference). */
static json_t *msr_check(const char *vm)
{
	json_t *st = rw_test_ringwatch_json(&rwd, -1, "status %s --json", vm), *c, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(st, "checks"), i, c)
		if (!strcmp(jstr(c, "check"), "msr"))
			found = json_incref(c);
	json_decref(st);
	if (!found)
		fail_msg("status %s --json has no msr check", vm);
	return found;
}

/* time_ms of the first modules info event saying rwtest_tamper loaded; 0 if none. */
static int64_t tamper_loaded_at(json_t *events)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(jstr(ev, "check"), "modules"))
			continue;
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f)
			if (strstr(jstr(f, "detail"), "module rwtest_tamper loaded"))
				return json_integer_value(json_object_get(ev, "time_ms"));
	}
	return 0;
}

/* The first msr alert finding naming LSTAR (its event's time_ms in *when);
 * an alert from any other check fails the test. */
static json_t *lstar_alert(json_t *events, int64_t *when)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(jstr(ev, "severity"), "alert"))
			continue;
		if (strcmp(jstr(ev, "check"), "msr"))
			fail_msg("alert from check %s: %s", jstr(ev, "check"),
				 json_dumps(json_object_get(ev, "detail"), 0));
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f)
			if (!strncmp(jstr(f, "detail"), "LSTAR = ", 8)) {
				*when = json_integer_value(json_object_get(ev, "time_ms"));
				return f;
			}
	}
	return NULL;
}

static void test_lstar_redirect_detected_from_guest_reports(void **state)
{
	char overlay[300], ko[700], cmd[2000], *out;
	const int64_t bound = 2 * INTERVAL_MS + SLACK_MS;
	int64_t loaded = 0, alerted = 0, lag;
	json_t *msr = NULL, *events, *f, *st;
	int waited;

	(void)state;
	make_overlay("lstar", lstar_script, overlay, sizeof(overlay));
	snprintf(ko, sizeof(ko), "%s/kmod/ringwatch.ko", env.payloads);
	if (access(ko, R_OK))
		fail_msg("guest module missing: %s (run scripts/build-payloads)", ko);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/root/'", ko, overlay);
	assert_int_equal(system(cmd), 0);
	launch(LSTAR_VM, overlay);

	/* Before: msr ok, vouched for by the verified guest module. */
	for (waited = 0; waited < LSTAR_DELAY_S + 60; waited++) {
		json_decref(msr);
		msr = msr_check(LSTAR_VM);
		if (!strcmp(jstr(msr, "result"), "ok") || !strcmp(jstr(msr, "result"), "alert"))
			break;
		sleep(1);
	}
	printf("   msr after %d s: %s (%s): %s\n", waited, jstr(msr, "result"), jstr(msr, "source"),
	       jstr(msr, "summary"));
	assert_string_equal(jstr(msr, "result"), "ok");
	assert_string_equal(jstr(msr, "source"), "guest-report");

	/* LSTAR redirected: msr alerts, from the guest's report. */
	for (waited = 0; waited < LSTAR_DELAY_S + 90; waited++) {
		json_decref(msr);
		msr = msr_check(LSTAR_VM);
		if (strcmp(jstr(msr, "result"), "ok"))
			break;
		sleep(1);
	}
	printf("   msr after %d more s: %s (%s): %s\n", waited, jstr(msr, "result"),
	       jstr(msr, "source"), jstr(msr, "summary"));
	if (strcmp(jstr(msr, "result"), "alert"))
		fail_msg("msr did not alert on the LSTAR write (result %s: %s); the guest's "
			 "console says whether insmod action=lstar ran (it refuses under PTI)",
			 jstr(msr, "result"), jstr(msr, "summary"));
	assert_string_equal(jstr(msr, "source"), "guest-report");
	assert_non_null(strstr(jstr(msr, "summary"), "LSTAR"));
	json_decref(msr);
	msr = NULL;

	events = rw_test_ringwatch_json(&rwd, 1, "events " LSTAR_VM " --json --limit 100000");
	loaded = tamper_loaded_at(events);
	f = lstar_alert(events, &alerted);
	if (!loaded || !f)
		fail_msg("want a 'rwtest_tamper loaded' modules event (%lld) and an msr alert naming "
			 "LSTAR (%s)", (long long)loaded, f ? "found" : "none");
	lag = alerted - loaded;
	printf("   msr alert %+.1f s from the module's load: %s\n", lag / 1000.0,
	       json_dumps(f, JSON_COMPACT));
	if (lag > bound || lag < -bound)
		fail_msg("LSTAR alerted %+.1f s from the load of rwtest_tamper; bound %.1f s",
			 lag / 1000.0, bound / 1000.0);
	assert_string_equal(jstr(f, "severity"), "violation");
	assert_non_null(strstr(jstr(f, "detail"), "expected entry_SYSCALL_64"));
	assert_non_null(strstr(jstr(f, "detail"), "(source guest-report)"));
	if (!strstr(jstr(f, "symbol"), "[module rwtest_tamper]"))
		fail_msg("the new LSTAR is not placed in rwtest_tamper: %s", jstr(f, "symbol"));
	json_decref(events);

	/* Restored by rmmod: msr ok again, and it was the only failing check. */
	for (waited = 0; waited < LSTAR_HOLD_S + 60; waited++) {
		msr = msr_check(LSTAR_VM);
		if (!strcmp(jstr(msr, "result"), "ok"))
			break;
		json_decref(msr);
		msr = NULL;
		sleep(1);
	}
	if (!msr)
		fail_msg("msr not ok again after rmmod restored LSTAR");
	printf("   msr after the restore (%d s): %s (%s)\n", waited, jstr(msr, "result"),
	       jstr(msr, "source"));
	assert_string_equal(jstr(msr, "source"), "guest-report");
	json_decref(msr);
	st = rw_test_ringwatch_json(&rwd, -1, "status " LSTAR_VM " --json");
	if (json_array_size(json_object_get(st, "failing")))
		fail_msg("still failing after LSTAR was restored: %s",
			 json_dumps(json_object_get(st, "failing"), 0));
	json_decref(st);
	events = rw_test_ringwatch_json(&rwd, -1, "events " LSTAR_VM " --json --limit 100000");
	lstar_alert(events, &alerted);	/* no other check alerted meanwhile */
	json_decref(events);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy " LSTAR_VM), 0);
	free(out);
}

#define HOOK_VM "dinteg-hooks"
#define HOOK_SYM "do_sys_openat2"
#define HOOK_DELAY_S 30
#define HOOK_HOLD_S 10

static const char hook_script[] =
	"#!/bin/sh\n"
	"# hooks owned by rwtest_tamper (not allowlisted): an ftrace_ops, then a kprobe\n"
	"(\n"
	"  sleep " STR(HOOK_DELAY_S) "\n"
	"  insmod /root/rwtest_tamper.ko action=ftrace_hook sym=" HOOK_SYM
	" && echo RWTEST-FTRACE-HOOKED\n"
	"  sleep " STR(HOOK_HOLD_S) "\n"
	"  rmmod rwtest_tamper && echo RWTEST-FTRACE-REMOVED\n"
	"  sleep " STR(HOOK_HOLD_S) "\n"
	"  insmod /root/rwtest_tamper.ko action=kprobe sym=" HOOK_SYM " && echo RWTEST-KPROBE-SET\n"
	"  sleep " STR(HOOK_HOLD_S) "\n"
	"  rmmod rwtest_tamper && echo RWTEST-KPROBE-REMOVED\n"
	"  dmesg | grep rwtest_tamper\n"
	") </dev/null >/dev/console 2>&1 &\n";

/* The ktext check's result in `ringwatch status VM --json`. */
static char *ktext_result(const char *vm)
{
	json_t *st = rw_test_ringwatch_json(&rwd, -1, "status %s --json", vm), *c;
	char *r = NULL;
	size_t i;

	json_array_foreach(json_object_get(st, "checks"), i, c)
		if (!strcmp(jstr(c, "check"), "ktext"))
			r = strdup(jstr(c, "result"));
	json_decref(st);
	if (!r)
		fail_msg("status %s --json has no ktext check", vm);
	return r;
}

/* Poll ktext until its result is (@want) or not (@!want) "alert"; seconds waited. */
static int wait_ktext(const char *vm, bool alert, int limit_s)
{
	for (int waited = 0; waited < limit_s; waited++) {
		char *r = ktext_result(vm);
		bool is_alert = !strcmp(r, "alert"), done = alert ? is_alert : !strcmp(r, "ok");

		free(r);
		if (done)
			return waited;
		sleep(1);
	}
	fail_msg("ktext of %s not %s within %d s", vm, alert ? "alert" : "ok", limit_s);
	return -1;
}

/* The first ktext violation owned by rwtest_tamper whose detail holds @needle
 * (new reference, or NULL); an alert from another check fails the test. */
static json_t *hook_violation(json_t *events, const char *needle, bool want_sym)
{
	size_t i, j;
	json_t *ev, *f;

	json_array_foreach(events, i, ev) {
		if (strcmp(jstr(ev, "severity"), "alert"))
			continue;
		if (strcmp(jstr(ev, "check"), "ktext"))
			fail_msg("alert from check %s: %s", jstr(ev, "check"),
				 json_dumps(json_object_get(ev, "detail"), 0));
		json_array_foreach(json_object_get(json_object_get(ev, "detail"), "findings"), j, f)
			if (!strcmp(jstr(f, "severity"), "violation") &&
			    !strcmp(jstr(f, "owner"), "rwtest_tamper") &&
			    strstr(jstr(f, "detail"), needle) &&
			    (!want_sym || !strncmp(jstr(f, "symbol"), HOOK_SYM "+", strlen(HOOK_SYM) + 1)))
				return json_incref(f);
	}
	return NULL;
}

static void dump_alerts(json_t *events)
{
	size_t i, n = 0;
	json_t *ev;

	json_array_foreach(events, i, ev)
		if (!strcmp(jstr(ev, "severity"), "alert") && n++ < 4)
			printf("   alert event: %.3000s\n", json_dumps(ev, JSON_COMPACT));
}

static void test_foreign_hook_handlers_are_violations(void **state)
{
	char overlay[300], *out;
	json_t *events, *site, *ops, *kp, *st;
	int waited;

	(void)state;
	make_overlay("hooks", hook_script, overlay, sizeof(overlay));
	launch(HOOK_VM, overlay);
	waited = wait_ktext(HOOK_VM, false, 120);
	printf("   ktext ok after %d s\n", waited);
	printf("   ftrace_ops hook: ktext alert after %d s\n",
	       wait_ktext(HOOK_VM, true, HOOK_DELAY_S + 90));
	printf("   removed: ktext ok after %d s\n", wait_ktext(HOOK_VM, false, HOOK_HOLD_S + 60));
	events = rw_test_ringwatch_json(&rwd, -1, "events " HOOK_VM " --json --limit 100000");
	ops = hook_violation(events, "ftrace ops at", false);
	site = hook_violation(events, "ftrace site patched", true);
	if (!ops || !site)
		dump_alerts(events);
	if (!ops || !site)
		fail_msg("want ktext violations owned by rwtest_tamper for its ftrace_ops (%s) and "
			 "for the patched site of " HOOK_SYM " (%s)",
			 ops ? "found" : "none", site ? "found" : "none");
	printf("   ops:  %s\n   site: %s\n", json_dumps(ops, JSON_COMPACT),
	       json_dumps(site, JSON_COMPACT));
	if (!strstr(jstr(ops, "handler"), "[module rwtest_tamper]") ||
	    !strstr(jstr(site, "handler"), "[module rwtest_tamper]"))
		fail_msg("the handler is not named in rwtest_tamper");
	assert_non_null(strstr(jstr(site, "detail"), "not kernel text or an allowlisted module"));
	json_decref(ops);
	json_decref(site);
	json_decref(events);

	printf("   kprobe hook: ktext alert after %d s\n",
	       wait_ktext(HOOK_VM, true, HOOK_HOLD_S + 60));
	printf("   removed: ktext ok after %d s\n", wait_ktext(HOOK_VM, false, HOOK_HOLD_S + 60));
	events = rw_test_ringwatch_json(&rwd, -1, "events " HOOK_VM " --json --limit 100000");
	kp = hook_violation(events, "kprobe (pre_handler) at", true);
	if (!kp)
		dump_alerts(events);
	if (!kp)
		fail_msg("want a ktext violation naming the kprobe on " HOOK_SYM
			 " and its pre_handler in rwtest_tamper");
	printf("   kprobe: %s\n", json_dumps(kp, JSON_COMPACT));
	if (!strstr(jstr(kp, "handler"), "[module rwtest_tamper]"))
		fail_msg("the kprobe's handler is not named in rwtest_tamper");
	json_decref(kp);
	json_decref(events);
	st = rw_test_ringwatch_json(&rwd, -1, "status " HOOK_VM " --json");
	if (json_array_size(json_object_get(st, "failing")))
		fail_msg("still failing after the hooks were removed: %s",
			 json_dumps(json_object_get(st, "failing"), 0));
	json_decref(st);
	assert_int_equal(rw_test_ringwatch(&rwd, &out, "destroy " HOOK_VM), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tampered_guest_alert_other_ok),
		cmocka_unit_test(test_legit_self_patching_stays_ok),
		cmocka_unit_test(test_lstar_redirect_detected_from_guest_reports),
		cmocka_unit_test(test_foreign_hook_handlers_are_violations),
	};

	if (getenv("RW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RW_TEST_FILTER"));

	return cmocka_run_group_tests(tests, setup, teardown);
}

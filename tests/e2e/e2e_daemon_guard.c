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

/* The module's guard-events of @kind (new reference, array). */
static json_t *guard_events(const char *kind)
{
	char *out;
	json_error_t jerr;
	json_t *all, *res = json_array(), *e;
	size_t i;
	int rc = rw_test_ringwatch(&rwd, &out, "events %s --json --limit 100000", VM);

	if (rc != 0 && rc != 1)
		fail_msg("ringwatch events %s: exit %d:\n%s", VM, rc, out);
	all = json_loads(out, 0, &jerr);
	if (!json_is_array(all))
		fail_msg("ringwatch events %s: not a JSON array (%s):\n%.2000s", VM, jerr.text, out);
	free(out);
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

	evs = guard_events("loaded");
	assert_true(json_array_size(evs) >= 1);
	json_decref(evs);

	/* rmmod some time after boot: refused, and the host hears of it. */
	for (waited = 0; waited < RMMOD_DELAY_S + 90; waited++) {
		evs = guard_events("unload_attempt");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msr_from_guest_and_unload_attempt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

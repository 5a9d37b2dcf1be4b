// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration reload (what ringwatchd does on SIGHUP), without QEMU: what
 * takes effect, what needs a restart, a bad file or an unopenable json-log
 * keeping the running configuration with the file and line named, the error
 * and info events, and the JSON log reopened after rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/daemon.h"
#include "tests/lib/harness.h"

static int ok_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	(void)ctx;
	rw_check_set(res, RW_RESULT_OK, "test", "fine");
	return 0;
}

static const struct rw_check_ops ok_check = { .name = "probe", .run = ok_run };
static const struct rw_check_ops *const checks[] = { &ok_check, NULL };

static const char base_conf[] = "interval 200ms\nworkers 2\nmetrics off\nsyslog off\n"
				"respond * alert log\n";

struct fixture {
	char dir[128];
	char conf[256];
	struct rw_config cfg;
	struct rw_daemon *d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rw_daemon_opts opts = { .cfg = NULL, .checks = checks };
	char err[512];

	assert_non_null(f);
	rw_test_mkdtemp(f->dir, sizeof(f->dir), "reload");
	snprintf(f->conf, sizeof(f->conf), "%s/ringwatch.conf", f->dir);
	rw_test_write_file(f->dir, "ringwatch.conf", base_conf, 0644);
	rw_config_defaults(&f->cfg);
	if (rw_config_load(f->conf, false, &f->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	opts.cfg = &f->cfg;
	opts.state_dir = f->dir;
	if (rw_daemon_start(&opts, &f->d, err, sizeof(err)))
		fail_msg("daemon: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rw_daemon_stop(f->d);
	rw_config_free(&f->cfg);
	rw_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* The daemon-wide config events, oldest first. */
static json_t *config_events(struct fixture *f)
{
	struct rw_event_query q = { .vm = "-" };
	json_t *arr;
	char err[256];

	assert_int_equal(rw_store_events(f->d->store, &q, &arr, err, sizeof(err)), 0);
	return arr;
}

static json_t *last_config_event(struct fixture *f)
{
	json_t *arr = config_events(f), *ev;

	assert_true(json_array_size(arr) > 0);
	ev = json_incref(json_array_get(arr, json_array_size(arr) - 1));
	json_decref(arr);
	assert_string_equal(json_string_value(json_object_get(ev, "check")), "config");
	assert_string_equal(json_string_value(json_object_get(ev, "source")), "ringwatchd");
	return ev;
}

static bool has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(buf);
	if (f) {
		size_t n = fread(buf, 1, 65535, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static void test_reload_applies(void **state)
{
	struct fixture *f = *state;
	struct rw_reload_src src = { .path = f->conf };
	char conf[1024], log[300], err[512], *text;
	json_t *ev, *detail;

	snprintf(log, sizeof(log), "%s/events.jsonl", f->dir);
	snprintf(conf, sizeof(conf),
		 "interval 1s\nvm web1 interval 5s\nqmp-timeout 7s\nworkers 5\nmetrics off\n"
		 "syslog off\njson-log %s\nrespond ktext alert pause\nrespond * alert log\n"
		 "hook-allow ringwatch,vendor_probe\n", log);
	rw_test_write_file(f->dir, "ringwatch.conf", conf, 0644);
	if (rw_daemon_reload(f->d, &src, err, sizeof(err)))
		fail_msg("reload: %s", err);
	assert_int_equal(f->d->cfg->interval_ms, 1000);
	assert_int_equal(rw_config_interval(f->d->cfg, "web1"), 5000);
	assert_int_equal(rw_config_interval(f->d->cfg, "other"), 1000);
	assert_int_equal(f->d->cfg->qmp_timeout_ms, 7000);
	assert_int_equal(rw_config_actions(f->d->cfg, "ktext", RW_SEV_ALERT), RW_ACT_PAUSE);
	assert_int_equal(rw_config_actions(f->d->cfg, "idt", RW_SEV_ALERT), RW_ACT_LOG);
	assert_int_equal(f->d->cfg->nhook_allow, 2);
	assert_string_equal(f->d->cfg->hook_allow[1], "vendor_probe");
	/* The worker pool was sized at start: the running value stays, and is named. */
	assert_int_equal(f->d->cfg->workers, 2);
	assert_int_equal(f->d->nworkers, 2);

	ev = last_config_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "severity")), "info");
	detail = json_object_get(ev, "detail");
	assert_string_equal(json_string_value(json_object_get(detail, "result")), "applied");
	assert_string_equal(json_string_value(json_object_get(detail, "file")), f->conf);
	for (const char *const *n = (const char *const[]){ "interval", "vm", "qmp-timeout",
							  "json-log", "respond", "hook-allow", NULL };
	     *n; n++)
		if (!has_string(json_object_get(detail, "changed"), *n))
			fail_msg("'%s' not listed as changed", *n);
	assert_false(has_string(json_object_get(detail, "changed"), "syslog"));
	assert_true(has_string(json_object_get(detail, "restart_needed"), "workers"));
	assert_int_equal(json_array_size(json_object_get(detail, "restart_needed")), 1);
	json_decref(ev);
	/* The new JSON log got the reload's own event. */
	text = read_text(log);
	assert_non_null(strstr(text, "\"check\":\"config\""));
	assert_non_null(strstr(text, "\"result\":\"applied\""));
	free(text);

	/* Log rotation: the file moved away; a reload (same config) makes a new one. */
	{
		char rotated[320];

		snprintf(rotated, sizeof(rotated), "%s.1", log);
		assert_int_equal(rename(log, rotated), 0);
		if (rw_daemon_reload(f->d, &src, err, sizeof(err)))
			fail_msg("reload after rotation: %s", err);
		text = read_text(log);
		assert_non_null(strstr(text, "\"changed\":[]"));
		free(text);
	}
}

static void expect_rejected(struct fixture *f, const char *file, const char *needle)
{
	struct rw_reload_src src = { .path = file };
	const struct rw_config *before = f->d->cfg;
	unsigned int interval = before->interval_ms;
	char err[512];
	json_t *ev, *detail;

	assert_int_equal(rw_daemon_reload(f->d, &src, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("reload error '%s' does not say '%s'", err, needle);
	assert_ptr_equal(f->d->cfg, before);
	assert_int_equal(f->d->cfg->interval_ms, interval);
	ev = last_config_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "severity")), "error");
	detail = json_object_get(ev, "detail");
	assert_string_equal(json_string_value(json_object_get(detail, "result")), "rejected");
	assert_string_equal(json_string_value(json_object_get(detail, "file")), file);
	assert_non_null(strstr(json_string_value(json_object_get(detail, "error")), needle));
	json_decref(ev);
}

static void test_reload_rejects_bad_config(void **state)
{
	struct fixture *f = *state;
	char bad[300], missing[300], badlog[300];

	snprintf(bad, sizeof(bad), "%s/bad.conf", f->dir);
	rw_test_write_file(f->dir, "bad.conf", "interval 9s\nrespond ktext alert reboot\n", 0644);
	expect_rejected(f, bad, "bad.conf:2: 'respond': unknown action 'reboot'");

	snprintf(missing, sizeof(missing), "%s/missing.conf", f->dir);
	expect_rejected(f, missing, "missing.conf: No such file or directory");

	snprintf(badlog, sizeof(badlog), "%s/badlog.conf", f->dir);
	rw_test_write_file(f->dir, "badlog.conf",
			   "interval 9s\njson-log /nonexistent-dir/ringwatch/events.jsonl\n", 0644);
	expect_rejected(f, badlog, "json-log /nonexistent-dir/ringwatch/events.jsonl");

	/* "-" (stdout) needs the foreground daemon (this one logs nowhere). */
	rw_test_write_file(f->dir, "stdout.conf", "interval 9s\njson-log -\n", 0644);
	snprintf(badlog, sizeof(badlog), "%s/stdout.conf", f->dir);
	expect_rejected(f, badlog, "json-log - needs ringwatchd --foreground");
	assert_int_equal(f->d->cfg->interval_ms, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_rejects_bad_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

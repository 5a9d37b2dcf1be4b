// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatchd core without QEMU: fake checks on VMs whose "QMP socket" is a
 * listening socket nobody accepts on (a hung QEMU).  Scheduler isolation,
 * on-demand passes, gone detection, alert events and responses, the real
 * vm-liveness check against a hung QMP, control-protocol request validation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/daemon.h"
#include "host/daemon_control.h"
#include "tests/lib/harness.h"

/* What the fake checks saw: test-only state shared with the daemon's workers. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t fast_times[1024];
static size_t fast_n;
static int slow_runs;
static int flip_alert;

static int probe_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	if (!strncmp(ctx->vm->name, "slow", 4)) {
		pthread_mutex_lock(&seen_lock);
		slow_runs++;
		pthread_mutex_unlock(&seen_lock);
		usleep(2000000);	/* a QEMU that takes its whole timeout */
		rw_check_set(res, RW_RESULT_ERROR, "test", "timed out");
		return 0;
	}
	pthread_mutex_lock(&seen_lock);
	if (!strcmp(ctx->vm->name, "fast") && fast_n < 1024)
		fast_times[fast_n++] = rw_mono_ms();
	pthread_mutex_unlock(&seen_lock);
	rw_check_set(res, RW_RESULT_OK, "test", "fine");
	return 0;
}

static int flip_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	(void)ctx;
	if (__atomic_load_n(&flip_alert, __ATOMIC_SEQ_CST)) {
		rw_check_set(res, RW_RESULT_ALERT, "host-memory", "byte changed");
		rw_check_add_finding(res, json_pack("{s:s}", "symbol", "do_sys_open"));
	} else {
		rw_check_set(res, RW_RESULT_OK, "host-memory", "intact");
	}
	return 0;
}

static const struct rw_check_ops probe = { .name = "probe", .run = probe_run };
static const struct rw_check_ops flip = { .name = "flip", .run = flip_run };
static const struct rw_check_ops *const fake_checks[] = { &probe, &flip, NULL };
static const struct rw_check_ops *const liveness_only[] = { &rw_check_vm_liveness, NULL };

struct fixture {
	char dir[128];
	struct rw_config cfg;
	struct rw_daemon *d;
	int socks[4];
	int nsocks;
};

/* A unix socket that listens and never accepts: connect works, nothing answers. */
static void hung_socket(struct fixture *f, const char *name, char *path, size_t pathlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(path, pathlen, "%s/%s.sock", f->dir, name);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	f->socks[f->nsocks++] = fd;
}

static void start(struct fixture *f, const struct rw_check_ops *const *checks, const char *conf)
{
	struct rw_daemon_opts opts = { .cfg = &f->cfg, .checks = checks };
	char err[512];

	memset(f, 0, sizeof(*f));
	rw_test_mkdtemp(f->dir, sizeof(f->dir), "daemon");
	rw_config_defaults(&f->cfg);
	if (rw_config_parse(conf, strlen(conf), "test.conf", &f->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	opts.state_dir = f->dir;
	if (rw_daemon_start(&opts, &f->d, err, sizeof(err)))
		fail_msg("daemon: %s", err);
}

static void stop(struct fixture *f)
{
	rw_daemon_stop(f->d);
	for (int i = 0; i < f->nsocks; i++)
		close(f->socks[i]);
	rw_config_free(&f->cfg);
	rw_test_rmtree(f->dir);
}

static void attach(struct fixture *f, const char *name)
{
	char path[300], err[256];
	struct rw_attach_req req = { .name = name, .qmp = path, .mem = "", .kernel = "" };

	hung_socket(f, name, path, sizeof(path));
	if (rw_daemon_attach(f->d, &req, err, sizeof(err)))
		fail_msg("attach %s: %s", name, err);
}

static json_t *vm_json(struct fixture *f, const char *name)
{
	int rc;
	json_t *o = rw_daemon_vm_json(f->d, name, true, &rc);

	if (!o)
		fail_msg("no VM %s (%d)", name, rc);
	return o;
}

static json_t *events(struct fixture *f, const char *vm)
{
	struct rw_event_query q = { .vm = vm };
	json_t *arr;
	char err[256];

	assert_int_equal(rw_store_events(f->d->store, &q, &arr, err, sizeof(err)), 0);
	return arr;
}

static const char base_conf[] = "interval 200ms\nworkers 2\nmetrics off\nsyslog off\n";

/* A hung VM holds one worker; the other VM keeps its 200 ms schedule. */
static void test_hung_vm_does_not_delay_others(void **state)
{
	struct fixture f;
	int64_t max_gap = 0;
	size_t n;
	int slow;

	(void)state;
	start(&f, fake_checks, base_conf);
	pthread_mutex_lock(&seen_lock);
	fast_n = 0;
	slow_runs = 0;
	pthread_mutex_unlock(&seen_lock);
	attach(&f, "slow");
	attach(&f, "fast");
	usleep(3000000);
	pthread_mutex_lock(&seen_lock);
	n = fast_n;
	/* Steady state: the first passes store the initial check status (fsync). */
	for (size_t i = 3; i < n; i++)
		if (fast_times[i] - fast_times[i - 1] > max_gap)
			max_gap = fast_times[i] - fast_times[i - 1];
	slow = slow_runs;
	pthread_mutex_unlock(&seen_lock);
	print_message("fast: %zu passes in 3 s, longest gap %lld ms; slow: %d passes\n", n,
		      (long long)max_gap, slow);
	assert_true(n >= 10);
	assert_true(max_gap <= 400);	/* within 2x the interval */
	assert_true(slow >= 1 && slow <= 2);
	stop(&f);
}

static void test_check_now_and_unknown(void **state)
{
	struct fixture f;
	char err[256];
	json_t *o;
	json_int_t before;

	(void)state;
	start(&f, fake_checks, "interval 1h\nmetrics off\nsyslog off\n");
	attach(&f, "fast");
	assert_int_equal(rw_daemon_check_now(f.d, "fast", 5000, err, sizeof(err)), 0);
	o = vm_json(&f, "fast");
	before = json_integer_value(json_object_get(o, "passes"));
	assert_true(before >= 1);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "ok");
	json_decref(o);
	assert_int_equal(rw_daemon_check_now(f.d, "fast", 5000, err, sizeof(err)), 0);
	o = vm_json(&f, "fast");
	assert_int_equal(json_integer_value(json_object_get(o, "passes")), before + 1);
	json_decref(o);
	assert_int_equal(rw_daemon_check_now(f.d, "nope", 1000, err, sizeof(err)),
			 -RW_DERR_UNKNOWN_VM);
	assert_non_null(strstr(err, "nope"));
	/* Same name twice; bad names and paths. */
	struct rw_attach_req dup = { .name = "fast", .qmp = "/x.sock" };
	struct rw_attach_req badname = { .name = "a b", .qmp = "/x.sock" };
	struct rw_attach_req relpath = { .name = "r", .qmp = "x.sock" };

	assert_int_equal(rw_daemon_attach(f.d, &dup, err, sizeof(err)), -RW_DERR_EXISTS);
	assert_int_equal(rw_daemon_attach(f.d, &badname, err, sizeof(err)), -RW_DERR_BAD_REQUEST);
	assert_int_equal(rw_daemon_attach(f.d, &relpath, err, sizeof(err)), -RW_DERR_BAD_REQUEST);
	assert_int_equal(rw_daemon_detach(f.d, "fast", err, sizeof(err)), 0);
	assert_int_equal(rw_daemon_detach(f.d, "fast", err, sizeof(err)), -RW_DERR_UNKNOWN_VM);
	stop(&f);
}

/* The QMP socket disappears: the VM is marked gone, kept, and survives a restart as gone. */
static void test_gone_is_kept(void **state)
{
	struct fixture f;
	char path[300], err[256];
	json_t *o, *arr;
	struct rw_daemon_opts opts;

	(void)state;
	start(&f, fake_checks, base_conf);
	attach(&f, "fast");
	snprintf(path, sizeof(path), "%s/fast.sock", f.dir);
	unlink(path);
	for (int i = 0; i < 50; i++) {
		o = vm_json(&f, "fast");
		bool gone = !strcmp(json_string_value(json_object_get(o, "state")), "gone");

		json_decref(o);
		if (gone)
			break;
		usleep(100000);
	}
	o = vm_json(&f, "fast");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "gone");
	json_decref(o);
	/* The state flips before the gone event is committed: wait for the event. */
	for (int i = 0; i < 50; i++) {
		arr = events(&f, "fast");
		if (json_array_size(arr) >= 2)
			break;
		json_decref(arr);
		arr = NULL;
		usleep(100000);
	}
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "severity")),
			    "warning");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(
		json_array_get(arr, 1), "detail"), "reason")), "is gone"));
	json_decref(arr);
	/* Restart on the same state dir: still there, still gone. */
	rw_daemon_stop(f.d);
	opts = (struct rw_daemon_opts){ .state_dir = f.dir, .cfg = &f.cfg, .checks = fake_checks };
	assert_int_equal(rw_daemon_start(&opts, &f.d, err, sizeof(err)), 0);
	o = vm_json(&f, "fast");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "gone");
	json_decref(o);
	stop(&f);
}

static void test_alert_event_and_response(void **state)
{
	struct fixture f;
	char err[256];
	json_t *o, *arr, *ev;
	size_t i;
	bool alert = false, response = false;

	(void)state;
	start(&f, fake_checks, "interval 1h\nmetrics off\nsyslog off\n"
	      "respond flip alert push-policy\n");
	attach(&f, "fast");
	assert_int_equal(rw_daemon_check_now(f.d, "fast", 5000, err, sizeof(err)), 0);
	__atomic_store_n(&flip_alert, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(rw_daemon_check_now(f.d, "fast", 5000, err, sizeof(err)), 0);
	__atomic_store_n(&flip_alert, 0, __ATOMIC_SEQ_CST);
	o = vm_json(&f, "fast");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "alert");
	assert_int_equal(json_integer_value(json_object_get(o, "open_alerts")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "failing"), 0)),
			    "flip");
	json_decref(o);
	arr = events(&f, "fast");
	json_array_foreach(arr, i, ev) {
		json_t *detail = json_object_get(ev, "detail");

		if (!strcmp(json_string_value(json_object_get(ev, "check")), "flip")) {
			assert_string_equal(json_string_value(json_object_get(ev, "severity")), "alert");
			assert_string_equal(json_string_value(json_object_get(ev, "source")),
					    "host-memory");
			assert_string_equal(json_string_value(json_object_get(json_array_get(
				json_object_get(detail, "findings"), 0), "symbol")), "do_sys_open");
			alert = true;
		}
		if (!strcmp(json_string_value(json_object_get(ev, "check")), "response")) {
			assert_string_equal(json_string_value(json_object_get(detail, "action")),
					    "push-policy");
			assert_true(json_is_false(json_object_get(detail, "delivered")));
			response = true;
		}
	}
	json_decref(arr);
	assert_true(alert && response);
	/* The property holds again: check ok, the alert stays open until acknowledged. */
	assert_int_equal(rw_daemon_check_now(f.d, "fast", 5000, err, sizeof(err)), 0);
	o = vm_json(&f, "fast");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "alert");
	assert_int_equal(json_array_size(json_object_get(o, "failing")), 0);
	json_decref(o);
	assert_int_equal(rw_store_ack(f.d->store, "fast", 0, err, sizeof(err)), 1);
	o = vm_json(&f, "fast");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "ok");
	json_decref(o);
	stop(&f);
}

/* The real vm-liveness check on a QEMU that never answers: an error, bounded in time. */
static void test_liveness_on_hung_qmp(void **state)
{
	struct fixture f;
	char err[256];
	json_t *o, *c;
	int64_t t0;

	(void)state;
	start(&f, liveness_only, "interval 1h\nqmp-timeout 300ms\nmetrics off\nsyslog off\n");
	attach(&f, "hung");
	t0 = rw_mono_ms();
	assert_int_equal(rw_daemon_check_now(f.d, "hung", 5000, err, sizeof(err)), 0);
	assert_true(rw_mono_ms() - t0 < 3000);
	o = vm_json(&f, "hung");
	c = json_array_get(json_object_get(o, "checks"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "result")), "error");
	assert_string_equal(json_string_value(json_object_get(c, "source")), "qmp");
	assert_non_null(strstr(json_string_value(json_object_get(c, "summary")), "QMP not answering"));
	assert_string_equal(json_string_value(json_object_get(o, "state")), "unknown");
	json_decref(o);
	stop(&f);
}

static void expect_code(struct rw_daemon *d, const char *req, const char *code)
{
	json_error_t jerr;
	json_t *r = json_loads(req, 0, &jerr), *resp;

	resp = rw_control_handle(d, r);
	if (json_is_true(json_object_get(resp, "ok")) ||
	    strcmp(json_string_value(json_object_get(resp, "code")), code))
		fail_msg("%s: got %s", req, json_dumps(resp, JSON_COMPACT));
	json_decref(resp);
	json_decref(r);
}

static void test_control_requests(void **state)
{
	struct fixture f;
	json_t *r, *resp;

	(void)state;
	start(&f, fake_checks, "interval 1h\nmetrics off\nsyslog off\n");
	expect_code(f.d, "[]", "bad-request");
	expect_code(f.d, "{}", "bad-request");
	expect_code(f.d, "{\"cmd\":7}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"reboot\"}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"status\"}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"status\",\"vm\":5}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"status\",\"vm\":\"x\"}", "unknown-vm");
	expect_code(f.d, "{\"cmd\":\"events\",\"vm\":\"x\"}", "unknown-vm");
	expect_code(f.d, "{\"cmd\":\"events\",\"limit\":-1}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"attach\",\"name\":\"a\"}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"launch\",\"name\":\"a\",\"kernel\":\"/k\"}", "bad-request");
	expect_code(f.d, "{\"cmd\":\"launch\",\"name\":\"a\",\"kernel\":\"/nonexistent/k\","
		    "\"initrd\":\"/nonexistent/i\"}", "failed");
	expect_code(f.d, "{\"cmd\":\"destroy\",\"vm\":\"x\"}", "unknown-vm");
	expect_code(f.d, "{\"cmd\":\"ack\",\"vm\":\"x\"}", "unknown-vm");
	r = json_pack("{s:s}", "cmd", "list");
	resp = rw_control_handle(f.d, r);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
	json_decref(r);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hung_vm_does_not_delay_others),
		cmocka_unit_test(test_check_now_and_unknown),
		cmocka_unit_test(test_gone_is_kept),
		cmocka_unit_test(test_alert_event_and_response),
		cmocka_unit_test(test_liveness_on_hung_qmp),
		cmocka_unit_test(test_control_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

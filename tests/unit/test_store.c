// SPDX-License-Identifier: GPL-2.0
/* ringwatchd event store: WAL mode, ids, queries, acks, VM records, durability across kill -9. */
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/daemon_store.h"
#include "tests/lib/harness.h"

static struct rw_store *open_store(const char *dir)
{
	struct rw_store *st = NULL;
	char err[256];

	if (rw_store_open(dir, &st, err, sizeof(err)))
		fail_msg("rw_store_open: %s", err);
	return st;
}

static int64_t append(struct rw_store *st, const char *vm, const char *check,
		      enum rw_severity sev, const char *summary)
{
	json_t *detail = json_pack("{s:s}", "summary", summary);
	char err[256];
	int64_t id = rw_store_append_event(st, vm, "qmp", check, sev, detail, NULL, err, sizeof(err));

	json_decref(detail);
	if (id <= 0)
		fail_msg("append: %s", err);
	return id;
}

static json_t *query(struct rw_store *st, const char *vm, int64_t since, int64_t after,
		     unsigned limit)
{
	struct rw_event_query q = { .vm = vm, .since_ms = since, .after_id = after, .limit = limit };
	json_t *arr = NULL;
	char err[256];

	if (rw_store_events(st, &q, &arr, err, sizeof(err)))
		fail_msg("events: %s", err);
	return arr;
}

static void test_wal_and_ids(void **state)
{
	char dir[128], path[300], *mode = NULL;
	struct rw_store *st;
	sqlite3 *db;
	sqlite3_stmt *s;
	struct stat sb;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "store");
	st = open_store(dir);
	assert_int_equal(rw_store_last_event_id(st), 0);
	assert_int_equal(append(st, "a", "cr-bits", RW_SEV_ALERT, "one"), 1);
	assert_int_equal(append(st, "b", "vm-liveness", RW_SEV_INFO, "two"), 2);
	assert_int_equal(append(st, "a", "vm-liveness", RW_SEV_ERROR, "three"), 3);
	assert_int_equal(rw_store_last_event_id(st), 3);
	/* The database is in WAL mode, seen from an independent connection. */
	snprintf(path, sizeof(path), "%s/ringwatch.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	mode = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_string_equal(mode, "wal");
	free(mode);
	snprintf(path, sizeof(path), "%s/ringwatch.db-wal", dir);
	assert_int_equal(stat(path, &sb), 0);
	rw_store_close(st);
	rw_test_rmtree(dir);
}

static void test_queries_and_acks(void **state)
{
	char dir[128], err[256];
	struct rw_store *st;
	json_t *arr, *ev;
	int64_t t0;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "store");
	st = open_store(dir);
	for (int i = 0; i < 10; i++)
		append(st, i % 2 ? "odd" : "even", "cr-bits", i < 4 ? RW_SEV_ALERT : RW_SEV_INFO, "x");
	arr = query(st, NULL, 0, 0, 0);
	assert_int_equal(json_array_size(arr), 10);
	json_decref(arr);
	arr = query(st, "odd", 0, 0, 0);
	assert_int_equal(json_array_size(arr), 5);
	ev = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(ev, "vm")), "odd");
	assert_string_equal(json_string_value(json_object_get(ev, "severity")), "alert");
	assert_string_equal(json_string_value(json_object_get(ev, "source")), "qmp");
	assert_string_equal(json_string_value(json_object_get(ev, "check")), "cr-bits");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "detail"),
							      "summary")), "x");
	json_decref(arr);
	/* after_id, and limit keeps the newest in id order. */
	arr = query(st, NULL, 0, 7, 0);
	assert_int_equal(json_array_size(arr), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), 8);
	json_decref(arr);
	arr = query(st, NULL, 0, 0, 2);
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), 9);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "id")), 10);
	json_decref(arr);
	/* since: in the future, nothing. */
	t0 = rw_now_ms() + 60000;
	arr = query(st, NULL, t0, 0, 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	/* Open alerts and acknowledgement. */
	assert_int_equal(rw_store_open_alerts(st, "even"), 2);
	assert_int_equal(rw_store_open_alerts(st, NULL), 4);
	assert_int_equal(rw_store_ack(st, "even", 1, err, sizeof(err)), 1);
	assert_int_equal(rw_store_open_alerts(st, "even"), 1);
	assert_int_equal(rw_store_ack(st, "even", 0, err, sizeof(err)), 1);
	assert_int_equal(rw_store_open_alerts(st, "even"), 0);
	assert_int_equal(rw_store_ack(st, "even", 0, err, sizeof(err)), 0);
	assert_int_equal(rw_store_open_alerts(st, "odd"), 2);
	arr = query(st, "even", 0, 0, 1);
	json_decref(arr);
	rw_store_close(st);
	rw_test_rmtree(dir);
}

static void test_big_detail_and_records(void **state)
{
	char dir[128], err[256];
	struct rw_store *st;
	struct rw_store_vm vm = { .interval_ms = 500, .paused_by_us = true, .pid = 42 }, *vms;
	struct rw_store_check c = { .time_ms = 7 }, *checks;
	size_t n;
	json_t *detail, *arr;
	char *big = malloc(RW_STORE_MAX_DETAIL + 10);

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "store");
	st = open_store(dir);
	memset(big, 'z', RW_STORE_MAX_DETAIL + 9);
	big[RW_STORE_MAX_DETAIL + 9] = '\0';
	detail = json_pack("{s:s}", "blob", big);
	assert_true(rw_store_append_event(st, "v", "qmp", "c", RW_SEV_INFO, detail, NULL, err,
					  sizeof(err)) > 0);
	json_decref(detail);
	free(big);
	arr = query(st, "v", 0, 0, 0);
	assert_non_null(json_object_get(json_object_get(json_array_get(arr, 0), "detail"), "note"));
	json_decref(arr);

	snprintf(vm.name, sizeof(vm.name), "web");
	snprintf(vm.kind, sizeof(vm.kind), "attached");
	snprintf(vm.qmp, sizeof(vm.qmp), "/run/q.sock");
	snprintf(vm.state, sizeof(vm.state), "active");
	assert_int_equal(rw_store_vm_put(st, &vm, err, sizeof(err)), 0);
	snprintf(c.check, sizeof(c.check), "cr-bits");
	snprintf(c.result, sizeof(c.result), "alert");
	snprintf(c.source, sizeof(c.source), "qmp");
	snprintf(c.summary, sizeof(c.summary), "WP cleared");
	assert_int_equal(rw_store_check_put(st, "web", &c, err, sizeof(err)), 0);
	rw_store_close(st);

	st = open_store(dir);
	assert_int_equal(rw_store_vm_list(st, &vms, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(vms[0].qmp, "/run/q.sock");
	assert_int_equal(vms[0].interval_ms, 500);
	assert_true(vms[0].paused_by_us);
	assert_int_equal(vms[0].pid, 42);
	free(vms);
	assert_int_equal(rw_store_check_list(st, "web", &checks, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(checks[0].summary, "WP cleared");
	free(checks);
	assert_int_equal(rw_store_vm_delete(st, "web", err, sizeof(err)), 0);
	assert_int_equal(rw_store_vm_list(st, &vms, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(vms);
	assert_int_equal(rw_store_check_list(st, "web", &checks, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(checks);
	rw_store_close(st);
	rw_test_rmtree(dir);
}

/*
 * A child appends events and reports each id as soon as append returns, then
 * is SIGKILLed with the store open: every reported id is there on reopen.
 */
static void test_survives_kill9(void **state)
{
	char dir[128];
	int p[2];
	pid_t pid;
	int64_t ids[20], id;
	size_t got = 0;
	struct rw_store *st;
	json_t *arr;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "store");
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rw_store *cst;
		char err[256];

		close(p[0]);
		if (rw_store_open(dir, &cst, err, sizeof(err)))
			_exit(3);
		for (int i = 0; i < 20; i++) {
			json_t *d = json_pack("{s:i}", "n", i);

			id = rw_store_append_event(cst, "k9", "guest-report", "x", RW_SEV_ALERT, d,
						   NULL, err, sizeof(err));
			json_decref(d);
			if (write(p[1], &id, sizeof(id)) != sizeof(id))
				_exit(4);
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	while (got < 20 && read(p[0], &id, sizeof(id)) == sizeof(id))
		ids[got++] = id;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	assert_int_equal(got, 20);
	st = open_store(dir);
	arr = query(st, "k9", 0, 0, 0);
	assert_int_equal(json_array_size(arr), 20);
	for (size_t i = 0; i < got; i++) {
		assert_true(ids[i] > 0);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, i), "id")),
				 ids[i]);
	}
	json_decref(arr);
	rw_store_close(st);
	rw_test_rmtree(dir);
}

/* Channel batches: events, latest-state rows and the stream mark in one transaction. */
static void test_channel_commit(void **state)
{
	struct rw_store_chan_event ev[2] = {
		{ .check = "lsm-event", .sev = RW_SEV_WARNING },
		{ .check = "channel-loss", .sev = RW_SEV_WARNING },
	};
	struct rw_store_chan_state sts[1] = { { .kind = "heartbeat", .seq = 3, .count = 2 } };
	struct rw_store *st;
	json_t *arr;
	char dir[128], err[256];
	uint64_t hwm = 99;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "store");
	st = open_store(dir);
	assert_int_equal(rw_store_channel_mark(st, "vm1", "agent", "aa", &hwm, err, sizeof(err)), 0);
	assert_int_equal(hwm, 0);
	ev[0].detail = json_pack("{s:i}", "seq", 1);
	ev[1].detail = json_pack("{s:i}", "count", 4);
	sts[0].detail = json_pack("{s:i}", "counter", 7);
	assert_int_equal(rw_store_channel_commit(st, "vm1", "agent", "aa", 5, ev, 2, sts, 1, err,
						 sizeof(err)), 0);
	assert_true(ev[0].id > 0 && ev[1].id == ev[0].id + 1 && ev[0].time_ms > 0);
	assert_int_equal(rw_store_channel_mark(st, "vm1", "agent", "aa", &hwm, err, sizeof(err)), 0);
	assert_int_equal(hwm, 5);
	assert_int_equal(rw_store_channel_mark(st, "vm1", "agent", "bb", &hwm, err, sizeof(err)), 0);
	assert_int_equal(hwm, 0);	/* another session is another stream */
	/* A second batch folds into the state row (count adds up, detail replaced). */
	json_decref(sts[0].detail);
	sts[0].detail = json_pack("{s:i}", "counter", 9);
	sts[0].seq = 8;
	sts[0].count = 1;
	assert_int_equal(rw_store_channel_commit(st, "vm1", "agent", "aa", 8, NULL, 0, sts, 1, err,
						 sizeof(err)), 0);
	assert_int_equal(rw_store_channel_states(st, "vm1", &arr, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(arr), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "count")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 8);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_array_get(arr, 0), "detail"), "counter")), 9);
	json_decref(arr);
	arr = query(st, "vm1", 0, 0, 0);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "source")),
			    "agent");
	json_decref(arr);
	/* A failing statement rolls the whole batch back: no event, mark unchanged. */
	ev[0].check = NULL;	/* NOT NULL constraint */
	assert_int_equal(rw_store_channel_commit(st, "vm1", "agent", "aa", 12, ev, 2, sts, 1, err,
						 sizeof(err)), -1);
	assert_int_equal(rw_store_channel_mark(st, "vm1", "agent", "aa", &hwm, err, sizeof(err)), 0);
	assert_int_equal(hwm, 8);
	arr = query(st, "vm1", 0, 0, 0);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	json_decref(ev[0].detail);
	json_decref(ev[1].detail);
	json_decref(sts[0].detail);
	rw_store_close(st);
	rw_test_rmtree(dir);
}

static void test_open_errors(void **state)
{
	struct rw_store *st;
	char err[256];

	(void)state;
	assert_int_equal(rw_store_open("/nonexistent/dir", &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/ringwatch.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_and_ids),
		cmocka_unit_test(test_queries_and_acks),
		cmocka_unit_test(test_big_detail_and_records),
		cmocka_unit_test(test_survives_kill9),
		cmocka_unit_test(test_channel_commit),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

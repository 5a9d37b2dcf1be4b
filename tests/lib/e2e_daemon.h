/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the e2e tests that drive ringwatchd through its CLI:
 * shell commands with their output, one test daemon (its temporary directory,
 * control socket, state directory and config), `ringwatch ARGS` against it,
 * and waiting for a process to go.  Failures fail the calling cmocka test.
 */
#ifndef RW_TESTS_E2E_DAEMON_H
#define RW_TESTS_E2E_DAEMON_H

#include <stdbool.h>
#include <jansson.h>

#include "tests/lib/harness.h"

/*
 * Run a shell command line (printf-style).  Returns its exit status (-1 when
 * it did not exit normally); when @out is not NULL, *out gets what it wrote to
 * stdout (add 2>&1 for stderr), never NULL: free it.
 */
int rw_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One ringwatchd run by a test, everything under one temporary directory. */
struct rw_test_daemon {
	const struct rw_test_env *env;	/* borrowed: build/ and the kit */
	char dir[128];			/* /tmp/rwtest-<tag>-XXXXXX */
	char control[256];		/* dir/control.sock */
	char state_dir[256];		/* dir/state */
	char conf[256];			/* dir/ringwatch.conf */
	bool json_log;			/* started with --json-log dir/events.jsonl */
	int pid;			/* the running daemon (from its lock file); 0: none */
};

/*
 * Make the temporary directory (tag names it) and write @config as the
 * daemon's ringwatch.conf.  Does not start the daemon.
 */
void rw_test_daemon_init(struct rw_test_daemon *d, const struct rw_test_env *env,
			 const char *tag, const char *config);

/* Start ringwatchd (it daemonises); fails the test unless it exits 0.  Sets d->pid. */
void rw_test_daemon_start(struct rw_test_daemon *d);

/* SIGTERM the daemon (if d->pid is alive) and wait up to 30 s for it to go. */
void rw_test_daemon_stop(const struct rw_test_daemon *d);

/* rw_test_daemon_stop, then remove d->dir. */
void rw_test_daemon_cleanup(struct rw_test_daemon *d);

/* `ringwatch ARGS` (printf-style) against @d, stderr included; exit status, output in *out. */
int rw_test_ringwatch(const struct rw_test_daemon *d, char **out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * `ringwatch ARGS` whose output must be JSON; fails the test unless it exits
 * @want_rc (< 0: 0 or 1) and parses.  Returns the JSON (json_decref it).
 */
json_t *rw_test_ringwatch_json(const struct rw_test_daemon *d, int want_rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Every stored event of VM @vm: `ringwatch events VM --json --limit 100000`,
 * which must exit 0 (or 1: an alert is open on the VM) with a JSON array;
 * fails the test otherwise.  Returns the array (json_decref it).
 */
json_t *rw_test_vm_events(const struct rw_test_daemon *d, const char *vm);

/* The entry named @name in `ringwatch list --json` output @list (borrowed), or NULL. */
json_t *rw_test_list_vm(json_t *list, const char *name);

/* Its "state" ("ok", "alert", "gone"...), or "(missing)" when @list has no @name. */
const char *rw_test_list_vm_state(json_t *list, const char *name);

/*
 * Start ringwatch-vsockd for VM @vm (guest CID 3) serving the vhost-user
 * socket @vhost and relaying to @d's channel socket; its output goes to @log.
 * Waits until @vhost exists; fails the test otherwise.  The child dies with
 * the test (PR_SET_PDEATHSIG).  Returns its pid.
 */
int rw_test_daemon_start_vsockd(const struct rw_test_daemon *d, const char *vm,
				const char *vhost, const char *log);
/* Wait until process @pid is gone; fails the test after @timeout_s seconds. */
void rw_test_wait_gone(int pid, int timeout_s);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host side of a BPF LSM e2e test: a private ringwatchd, one
 * ringwatch-vsockd per guest (the test's, so the guest keeps its command
 * shell), `ringwatch attach`, and reads of what the daemon stored
 * (`ringwatch events VM --json`, `ringwatch status VM --json`) and policy
 * pushes (`ringwatch policy VM add|remove ...`).  Every helper fails the
 * calling cmocka test with the reason.
 */
#ifndef RW_TESTS_BPF_HOST_H
#define RW_TESTS_BPF_HOST_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "tests/lib/e2e_daemon.h"
#include "tests/lib/harness.h"

struct rw_bpf_host {
	struct rw_test_daemon d;	/* the private ringwatchd (tests/lib/e2e_daemon.h) */
};

/* One guest streaming to the daemon through the test's ringwatch-vsockd. */
struct rw_bpf_host_guest {
	char name[64];		/* the daemon's VM name */
	pid_t vsockd;
	struct rw_vm vm;
};

/* Start ringwatchd (checks every @interval_ms, responses: log only). */
void rw_bpf_host_start(struct rw_bpf_host *h, const struct rw_test_env *env,
		       unsigned int interval_ms);

/* SIGTERM the daemon, wait for it, remove the directory. */
void rw_bpf_host_stop(struct rw_bpf_host *h);

/*
 * Start a ringwatch-vsockd for @name, boot the guest of @genv (kit) on it
 * with @opts (vsock fields are set here) and `ringwatch attach` it.
 * @ready receives the guest's readiness line.
 */
void rw_bpf_host_boot(struct rw_bpf_host *h, const struct rw_test_env *genv, const char *name,
		      struct rw_test_boot *opts, struct rw_bpf_host_guest *g, char *ready,
		      size_t readylen);

/* Detach the guest from the daemon, stop it and its vsockd (idempotent). */
void rw_bpf_host_shutdown(struct rw_bpf_host *h, struct rw_bpf_host_guest *g);

/* Run `ringwatch ARGS` (stderr included in *out, which may be NULL); returns the exit code. */
int rw_bpf_host_cli(struct rw_bpf_host *h, char **out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every event the daemon stored for @vm whose source is the guest agent (JSON array). */
json_t *rw_bpf_host_agent_events(struct rw_bpf_host *h, const char *vm);

/*
 * The same events as text, one compact JSON object per line:
 *   {"id":..,"severity":..,"kind":..,"verdict":..,"errno":..,"comm":..,
 *    ["sha256":..,]"report":{the agent's object as stored}}
 * (host-side fields first, from the daemon's event detail).  Free it.
 */
char *rw_bpf_host_agent_lines(struct rw_bpf_host *h, const char *vm);

/*
 * `ringwatch policy @vm @op RULE...` (exit 0 required: the agent acknowledged
 * the frame); returns the generation the daemon assigned.
 */
long long rw_bpf_host_policy(struct rw_bpf_host *h, const char *vm, const char *op,
			     const char *rule);

/* The counter of the agent's latest HEARTBEAT stored by the daemon (0: none yet). */
long long rw_bpf_host_agent_heartbeat(struct rw_bpf_host *h, const char *vm);

#endif

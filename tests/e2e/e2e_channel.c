// SPDX-License-Identifier: GPL-2.0
/*
 * Channel e2e over transport B with a real guest:
 *
 *   ringwatch-vsockd (vhost-user-vsock back-end of the VM, survives restarts)
 *        |  unix relay: one connection per guest stream + RAM fds
 *   channel service child (what ringwatchd runs; file event store)
 *
 * The guest runs tests/payloads/chan_stream: 10 000 heartbeats up, 10 000
 * policy updates down. The service is SIGKILLed and restarted twice while
 * both directions are in flight. Afterwards the persisted store holds every
 * sequence number 1..N exactly once (counter == seq), the guest received every
 * host message (generation) and reports no loss, and the service found the
 * kernel banner in the RAM that vsockd handed over (both incarnations). Bad
 * streams (garbage, oversized frame, unknown version) are closed with an
 * ERROR and a logged reason while the main stream carries on.
 *
 * Needs: the kit ($RW_KIT), qemu-system-x86_64, build/rel/bin/ringwatch-vsockd,
 * gcc -static for the payload (scripts/build-payloads).
 */
#include <dirent.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/channel_store.h"
#include "shared/rw_proto.h"
#include "tests/lib/chan_rig.h"
#include "tests/lib/chan_service.h"
#include "tests/lib/harness.h"

#define N_MSGS 10000u
#define GUEST_CID 3u
#define KILL_AT_1 2000u
#define KILL_AT_2 5000u
#define STREAM_TIMEOUT_S 900

static struct rw_test_env env;

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_build_payloads(&env);
	return 0;
}

/* The service pushes N_MSGS policy updates down the guest's stream. */
static pid_t start_service(struct rw_test_chan_rig *r)
{
	const struct rw_test_chan_service o = { .host_msgs = N_MSGS, .window = 256 };

	return rw_test_chan_rig_start_service(r, &o);
}

struct verify {
	uint64_t bad_seq;	/* first record that is not heartbeat counter == seq, 0: none */
};

static void verify_heartbeat(void *ctx, const struct rw_msg *m)
{
	struct verify *v = ctx;

	if (!v->bad_seq &&
	    (m->hdr.type != RW_MSG_HEARTBEAT || m->u.heartbeat.counter != m->hdr.seq))
		v->bad_seq = m->hdr.seq;
}

static long stored_count(const struct rw_test_chan_rig *r)
{
	char path[512];

	rw_test_chan_rig_store_log(r, path, sizeof(path));
	if (!path[0])
		return 0;
	return rw_ch_file_store_scan(path, NULL, NULL, NULL);
}

static unsigned long field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (!p)
		fail_msg("'%s' missing in '%s'", key, line);
	return strtoul(p + strlen(key), NULL, 10);
}

/* Count banner files that name the kit's kernel. */
static int banners_found(const struct rw_test_chan_rig *r, char *first, size_t len)
{
	DIR *d = opendir(r->state);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[600];
		char *text;

		if (strncmp(e->d_name, "banner-", 7))
			continue;
		snprintf(path, sizeof(path), "%s/%s", r->state, e->d_name);
		text = rw_test_slurp(path);
		if (text && strstr(text, "found=1") && strstr(text, env.kver)) {
			if (!n)
				snprintf(first, len, "%s", text);
			n++;
		}
		free(text);
	}
	closedir(d);
	return n;
}

static void run_bad_client(struct rw_vm *vm, const char *mode)
{
	char cmd[128];
	char *out;

	snprintf(cmd, sizeof(cmd), "/bin/chan_stream %s 7391", mode);
	out = rw_test_guest_sh(vm, cmd, 60);
	printf("  guest: %s", out);
	assert_non_null(strstr(out, "closed=1"));
	assert_null(strstr(out, "error=-1"));
	free(out);
}

static void test_channel_kill_restart(void **state)
{
	struct rw_test_chan_rig r = { 0 };
	struct rw_test_boot opts = { .name = "chan" };
	struct rw_vm vm;
	char ready[512], cmd[2048], banner[1024];
	char *out = NULL, *log;
	unsigned kills = 0;
	uint64_t start, deadline;
	struct verify v = { 0 };
	uint64_t max_seq;
	bool torn = false;
	long n;

	(void)state;
	rw_test_chan_rig_init(&r, "chan");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/bin' && cp '%s/bin/chan_stream' '%s/bin/'",
		 r.overlay, env.payloads, r.overlay);
	assert_int_equal(system(cmd), 0);

	r.svc = start_service(&r);
	r.vsockd = rw_test_chan_rig_start_vsockd(&r, &env, "e2e-chan", GUEST_CID);
	rw_test_chan_rig_boot_opts(&r, GUEST_CID, &opts);
	rw_test_boot(&env, &opts, &vm, ready, sizeof(ready));
	printf("  guest up: %s\n", ready);

	snprintf(cmd, sizeof(cmd),
		 "/bin/chan_stream stream %u 7391 %d 25 >/tmp/cs.out 2>&1 </dev/null &", N_MSGS,
		 STREAM_TIMEOUT_S); /* paced: >= 5 s, so the kills land mid-stream */
	free(rw_test_guest_sh(&vm, cmd, 30));

	start = rw_test_mono_ms();
	deadline = start + (STREAM_TIMEOUT_S + 60) * 1000ull;
	/* kill while heartbeats are still arriving: watch the store closely */
	while (kills < 2 && rw_test_mono_ms() < deadline) {
		n = stored_count(&r);
		if ((kills == 0 && n >= KILL_AT_1) || (kills == 1 && n >= KILL_AT_2)) {
			printf("  %.1f s: %ld stored: SIGKILL the channel service (pid %d)\n",
			       (rw_test_mono_ms() - start) / 1000.0, n, (int)r.svc);
			if (n >= (long)N_MSGS - 500)
				fail_msg("the stream was almost over before kill %u: not mid-stream",
					 kills + 1);
			rw_test_kill_wait(r.svc, SIGKILL);
			kills++;
			usleep(700000);
			r.svc = start_service(&r);
			printf("  restarted the channel service (pid %d)\n", (int)r.svc);
		}
		if (rw_vm_exited(&vm))
			fail_msg("QEMU exited");
		usleep(5000);
	}
	/* bad streams next to the main one: each is closed, the rest carries on */
	run_bad_client(&vm, "garbage");
	run_bad_client(&vm, "oversized");
	run_bad_client(&vm, "badversion");
	while (rw_test_mono_ms() < deadline) {
		free(out);
		out = rw_test_guest_sh(&vm, "cat /tmp/cs.out", 30);
		if (strstr(out, "CHAN-STREAM DONE"))
			break;
		if (rw_vm_exited(&vm))
			fail_msg("QEMU exited");
		usleep(500000);
	}
	printf("  guest after %.1f s:\n%s", (rw_test_mono_ms() - start) / 1000.0, out);
	{
		const char *done = strstr(out, "CHAN-STREAM DONE");

		if (!done)
			fail_msg("no summary from the guest (service log %s)", r.svc_log);
		assert_non_null(strstr(done, "status=ok"));
		assert_int_equal(kills, 2);
		assert_int_equal(field(done, " sent="), N_MSGS);
		assert_int_equal(field(done, " acked="), N_MSGS);
		assert_int_equal(field(done, " lost="), 0);
		assert_int_equal(field(done, " host_unique="), N_MSGS);
		assert_int_equal(field(done, " host_bad="), 0);
		assert_int_equal(field(done, " proto_errors="), 0);
		assert_true(field(done, " connects=") >= 3); /* first + one per restart */
	}

	/* the persisted store: every seq 1..N exactly once, in order, intact */
	max_seq = rw_test_chan_rig_scan(&r, RW_COMP_TEST, verify_heartbeat, &v, &torn);
	if (v.bad_seq)
		fail_msg("stored record %llu is not heartbeat counter %llu",
			 (unsigned long long)v.bad_seq, (unsigned long long)v.bad_seq);
	assert_false(torn);
	assert_int_equal(max_seq, N_MSGS);
	printf("  store: %llu records, seq 1..%u each exactly once\n",
	       (unsigned long long)max_seq, N_MSGS);

	/* RAM from SET_MEM_TABLE, passed on by vsockd: both service lives saw it */
	assert_true(banners_found(&r, banner, sizeof(banner)) >= 2);
	printf("  banner via vsockd's RAM fds: %s", banner);

	log = rw_test_slurp(r.svc_log);
	assert_non_null(log);
	assert_non_null(strstr(log, "bad frame header: bad frame magic"));
	assert_non_null(strstr(log, "bad frame header: payload length over the frame limit"));
	assert_non_null(strstr(log, "bad frame header: unsupported protocol version"));
	free(log);
	log = rw_test_slurp(r.vsockd_log);
	assert_non_null(log);
	assert_non_null(strstr(log, "RAM region(s) to the channel service"));
	free(log);

	rw_vm_stop(&vm);
	free(out);
	rw_test_chan_rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_kill_restart),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

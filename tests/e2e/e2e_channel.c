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
	char cmd[2048];

	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	snprintf(cmd, sizeof(cmd), "'%s/scripts/build-payloads' '%s' '%s' >/dev/null", env.top,
		 env.kit, env.payloads);
	if (system(cmd) != 0)
		fail_msg("cannot build the guest payloads: %s", cmd);
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void child_defaults(const char *log)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP };
	int fd;

	/* the harness handlers would kill the test's QEMU: not in children */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
}

struct rig {
	char dir[128];
	char store[256], state[256], chan_sock[256], vhost_sock[256];
	char svc_log[256], vsockd_log[256], overlay[256];
	pid_t svc, vsockd;
};

static pid_t start_service(struct rig *r)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rw_test_chan_service o = {
			.unix_path = r->chan_sock,
			.store_dir = r->store,
			.state_dir = r->state,
			.host_msgs = N_MSGS,
			.window = 256,
		};
		child_defaults(r->svc_log);
		_exit(rw_test_chan_service_run(&o));
	}
	/* listening before we go on */
	for (int i = 0; i < 100 && access(r->chan_sock, F_OK) != 0; i++)
		usleep(20000);
	return pid;
}

static void kill_wait(pid_t pid, int sig)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, sig);
	waitpid(pid, &status, 0);
}

static pid_t start_vsockd(struct rig *r)
{
	char bin[700], cid[16];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch-vsockd", env.build);
	if (access(bin, X_OK) != 0)
		fail_msg("%s missing (make -f mk/build.mk VARIANT=rel bins)", bin);
	snprintf(cid, sizeof(cid), "%u", GUEST_CID);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_defaults(r->vsockd_log);
		execl(bin, bin, "--vm", "e2e-chan", "--cid", cid, "--socket", r->vhost_sock,
		      "--upstream", r->chan_sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && access(r->vhost_sock, F_OK) != 0; i++)
		usleep(20000);
	if (access(r->vhost_sock, F_OK) != 0)
		fail_msg("ringwatch-vsockd did not create %s (log %s)", r->vhost_sock, r->vsockd_log);
	return pid;
}

/* The one stream log in the store, "" if none yet. */
static void store_log_path(const struct rig *r, char *out, size_t len)
{
	DIR *d = opendir(r->store);
	struct dirent *e;
	int n = 0;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l > 4 && !strcmp(e->d_name + l - 4, ".log")) {
			snprintf(out, len, "%s/%s", r->store, e->d_name);
			n++;
		}
	}
	closedir(d);
	if (n > 1)
		fail_msg("%d stream logs in %s, expected one", n, r->store);
}

struct verify {
	uint64_t expect;  /* next seq expected */
	unsigned bad;     /* records that are not heartbeat counter == seq */
	char why[200];
};

static int verify_record(void *ctx, uint64_t seq, const uint8_t *frame, size_t len)
{
	struct verify *v = ctx;
	struct rw_msg m;

	if (seq != v->expect) {
		snprintf(v->why, sizeof(v->why), "record seq %llu where %llu was expected",
			 (unsigned long long)seq, (unsigned long long)v->expect);
		v->bad++;
		return 1;
	}
	if (rw_proto_decode(frame, len, &m) != 0 || m.hdr.type != RW_MSG_HEARTBEAT ||
	    m.hdr.seq != seq || m.u.heartbeat.counter != seq) {
		snprintf(v->why, sizeof(v->why), "record %llu is not heartbeat counter %llu",
			 (unsigned long long)seq, (unsigned long long)seq);
		v->bad++;
		return 1;
	}
	v->expect++;
	return 0;
}

static long stored_count(const struct rig *r)
{
	char path[512];

	store_log_path(r, path, sizeof(path));
	if (!path[0])
		return 0;
	return rw_ch_file_store_scan(path, NULL, NULL, NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = calloc(1, (size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

static unsigned long field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (!p)
		fail_msg("'%s' missing in '%s'", key, line);
	return strtoul(p + strlen(key), NULL, 10);
}

/* Count banner files that name the kit's kernel. */
static int banners_found(const struct rig *r, char *first, size_t len)
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
		text = slurp(path);
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
	struct rig r = { 0 };
	struct rw_test_boot opts = { .name = "chan" };
	struct rw_vm vm;
	char ready[512], cmd[2048], logpath[512], banner[1024];
	char *out = NULL, *log;
	unsigned kills = 0;
	uint64_t start, deadline;
	struct verify v = { .expect = 1 };
	bool torn = false;
	long n;

	(void)state;
	rw_test_mkdtemp(r.dir, sizeof(r.dir), "chan");
	snprintf(r.store, sizeof(r.store), "%s/store", r.dir);
	snprintf(r.state, sizeof(r.state), "%s/state", r.dir);
	snprintf(r.chan_sock, sizeof(r.chan_sock), "%s/chan.sock", r.dir);
	snprintf(r.vhost_sock, sizeof(r.vhost_sock), "%s/vhost.sock", r.dir);
	snprintf(r.svc_log, sizeof(r.svc_log), "%s/service.log", r.dir);
	snprintf(r.vsockd_log, sizeof(r.vsockd_log), "%s/vsockd.log", r.dir);
	snprintf(r.overlay, sizeof(r.overlay), "%s/overlay", r.dir);
	assert_int_equal(mkdir(r.store, 0700), 0);
	assert_int_equal(mkdir(r.state, 0700), 0);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/bin' && cp '%s/bin/chan_stream' '%s/bin/'",
		 r.overlay, env.payloads, r.overlay);
	assert_int_equal(system(cmd), 0);

	r.svc = start_service(&r);
	r.vsockd = start_vsockd(&r);
	opts.overlay_dir = r.overlay;
	opts.vsock = RW_VSOCK_VHOST_USER;
	opts.vhost_user_socket = r.vhost_sock;
	opts.guest_cid = GUEST_CID;
	rw_test_boot(&env, &opts, &vm, ready, sizeof(ready));
	printf("  guest up: %s\n", ready);

	snprintf(cmd, sizeof(cmd),
		 "/bin/chan_stream stream %u 7391 %d 25 >/tmp/cs.out 2>&1 </dev/null &", N_MSGS,
		 STREAM_TIMEOUT_S); /* paced: >= 5 s, so the kills land mid-stream */
	free(rw_test_guest_sh(&vm, cmd, 30));

	start = mono_ms();
	deadline = start + (STREAM_TIMEOUT_S + 60) * 1000ull;
	/* kill while heartbeats are still arriving: watch the store closely */
	while (kills < 2 && mono_ms() < deadline) {
		n = stored_count(&r);
		if ((kills == 0 && n >= KILL_AT_1) || (kills == 1 && n >= KILL_AT_2)) {
			printf("  %.1f s: %ld stored: SIGKILL the channel service (pid %d)\n",
			       (mono_ms() - start) / 1000.0, n, (int)r.svc);
			if (n >= (long)N_MSGS - 500)
				fail_msg("the stream was almost over before kill %u: not mid-stream",
					 kills + 1);
			kill_wait(r.svc, SIGKILL);
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
	while (mono_ms() < deadline) {
		free(out);
		out = rw_test_guest_sh(&vm, "cat /tmp/cs.out", 30);
		if (strstr(out, "CHAN-STREAM DONE"))
			break;
		if (rw_vm_exited(&vm))
			fail_msg("QEMU exited");
		usleep(500000);
	}
	printf("  guest after %.1f s:\n%s", (mono_ms() - start) / 1000.0, out);
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
	store_log_path(&r, logpath, sizeof(logpath));
	assert_true(logpath[0]);
	n = rw_ch_file_store_scan(logpath, verify_record, &v, &torn);
	if (v.bad)
		fail_msg("store %s: %s", logpath, v.why);
	assert_false(torn);
	assert_int_equal(n, N_MSGS);
	assert_int_equal(v.expect, N_MSGS + 1);
	printf("  store: %ld records, seq 1..%u each exactly once\n", n, N_MSGS);

	/* RAM from SET_MEM_TABLE, passed on by vsockd: both service lives saw it */
	assert_true(banners_found(&r, banner, sizeof(banner)) >= 2);
	printf("  banner via vsockd's RAM fds: %s", banner);

	log = slurp(r.svc_log);
	assert_non_null(log);
	assert_non_null(strstr(log, "bad frame header: bad frame magic"));
	assert_non_null(strstr(log, "bad frame header: payload length over the frame limit"));
	assert_non_null(strstr(log, "bad frame header: unsupported protocol version"));
	free(log);
	log = slurp(r.vsockd_log);
	assert_non_null(log);
	assert_non_null(strstr(log, "RAM region(s) to the channel service"));
	free(log);

	rw_vm_stop(&vm);
	kill_wait(r.svc, SIGTERM);
	kill_wait(r.vsockd, SIGTERM);
	free(out);
	rw_test_rmtree(r.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_kill_restart),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

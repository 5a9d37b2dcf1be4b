// SPDX-License-Identifier: GPL-2.0
#include "tests/lib/chan_rig.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

void rw_test_build_payloads(const struct rw_test_env *env)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "'%s/scripts/build-payloads' '%s' '%s' >/dev/null", env->top,
		 env->kit, env->payloads);
	if (system(cmd) != 0)
		fail_msg("cannot build the guest payloads: %s", cmd);
}

void rw_test_chan_rig_init(struct rw_test_chan_rig *r, const char *tag)
{
	memset(r, 0, sizeof(*r));
	rw_test_mkdtemp(r->dir, sizeof(r->dir), tag);
	snprintf(r->store, sizeof(r->store), "%s/store", r->dir);
	snprintf(r->state, sizeof(r->state), "%s/state", r->dir);
	snprintf(r->chan_sock, sizeof(r->chan_sock), "%s/chan.sock", r->dir);
	snprintf(r->vhost_sock, sizeof(r->vhost_sock), "%s/vhost.sock", r->dir);
	snprintf(r->svc_log, sizeof(r->svc_log), "%s/service.log", r->dir);
	snprintf(r->vsockd_log, sizeof(r->vsockd_log), "%s/vsockd.log", r->dir);
	snprintf(r->overlay, sizeof(r->overlay), "%s/overlay", r->dir);
	assert_int_equal(mkdir(r->store, 0700), 0);
	assert_int_equal(mkdir(r->state, 0700), 0);
}

/* In a forked child: default signal handlers, die with the test, output to @log. */
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

pid_t rw_test_chan_rig_start_service(const struct rw_test_chan_rig *r,
				     const struct rw_test_chan_service *o)
{
	pid_t pid;

	unlink(r->chan_sock);	/* a killed predecessor's: wait for the new listener */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rw_test_chan_service opts = *o;

		opts.unix_path = r->chan_sock;
		opts.store_dir = r->store;
		opts.state_dir = r->state;
		child_defaults(r->svc_log);
		_exit(rw_test_chan_service_run(&opts));
	}
	for (int i = 0; i < 250 && access(r->chan_sock, F_OK) != 0; i++)
		usleep(20000);
	if (access(r->chan_sock, F_OK) != 0)
		fail_msg("the channel service did not create %s (log %s)", r->chan_sock,
			 r->svc_log);
	return pid;
}

pid_t rw_test_chan_rig_start_vsockd(const struct rw_test_chan_rig *r,
				    const struct rw_test_env *env, const char *vm_name,
				    unsigned int cid)
{
	char bin[700], cid_arg[16];
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch-vsockd", env->build);
	if (access(bin, X_OK) != 0)
		fail_msg("%s missing (make -f mk/build.mk VARIANT=rel bins)", bin);
	snprintf(cid_arg, sizeof(cid_arg), "%u", cid);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_defaults(r->vsockd_log);
		execl(bin, bin, "--vm", vm_name, "--cid", cid_arg, "--socket", r->vhost_sock,
		      "--upstream", r->chan_sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && access(r->vhost_sock, F_OK) != 0; i++)
		usleep(20000);
	if (access(r->vhost_sock, F_OK) != 0)
		fail_msg("ringwatch-vsockd did not create %s (log %s)", r->vhost_sock, r->vsockd_log);
	return pid;
}

void rw_test_chan_rig_boot_opts(const struct rw_test_chan_rig *r, unsigned int cid,
				struct rw_test_boot *opts)
{
	opts->overlay_dir = r->overlay;
	opts->vsock = RW_VSOCK_VHOST_USER;
	opts->vhost_user_socket = r->vhost_sock;
	opts->guest_cid = cid;
}

void rw_test_chan_rig_stop(struct rw_test_chan_rig *r)
{
	rw_test_kill_wait(r->vsockd, SIGTERM);
	r->vsockd = 0;
	rw_test_kill_wait(r->svc, SIGTERM);
	r->svc = 0;
	if (r->dir[0])
		rw_test_rmtree(r->dir);
	r->dir[0] = '\0';
}

void rw_test_chan_rig_store_log(const struct rw_test_chan_rig *r, char *out, size_t len)
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

struct stream_scan {
	rw_test_frame_fn fn;
	void *ctx;
	uint8_t component;
	uint64_t expect;	/* next seq expected */
	char why[256];
};

static int stream_scan_record(void *ctx, uint64_t seq, const uint8_t *frame, size_t len)
{
	struct stream_scan *s = ctx;
	struct rw_msg m;

	if (seq != s->expect) {
		snprintf(s->why, sizeof(s->why), "record seq %llu where %llu was expected",
			 (unsigned long long)seq, (unsigned long long)s->expect);
		return 1;
	}
	if (rw_proto_decode(frame, len, &m) != 0 || m.hdr.seq != seq ||
	    m.hdr.component != s->component) {
		snprintf(s->why, sizeof(s->why),
			 "record %llu does not decode as a frame of component %u with that seq",
			 (unsigned long long)seq, s->component);
		return 1;
	}
	s->expect++;
	if (s->fn)
		s->fn(s->ctx, &m);
	return 0;
}

uint64_t rw_test_chan_rig_scan(const struct rw_test_chan_rig *r, uint8_t component,
			       rw_test_frame_fn fn, void *ctx, bool *torn)
{
	struct stream_scan s = { .fn = fn, .ctx = ctx, .component = component, .expect = 1 };
	char path[512];
	bool cut = false;

	rw_test_chan_rig_store_log(r, path, sizeof(path));
	if (torn)
		*torn = false;
	if (!path[0])
		return 0;
	rw_ch_file_store_scan(path, stream_scan_record, &s, &cut);
	if (s.why[0])
		fail_msg("store %s: %s", path, s.why);
	if (torn)
		*torn = cut;
	return s.expect - 1;
}

void rw_test_chan_rig_wait_kmod_seq(const struct rw_test_chan_rig *r, uint64_t seq,
				    int timeout_s)
{
	uint64_t have = 0;

	for (int i = 0; i <= timeout_s * 10; i++) {
		have = rw_test_chan_rig_scan(r, RW_COMP_KMOD, NULL, NULL, NULL);
		if (have >= seq)
			return;
		usleep(100000);
	}
	fail_msg("the host stored the module's stream up to seq %llu, not %llu, in %d s "
		 "(service log %s)", (unsigned long long)have, (unsigned long long)seq, timeout_s,
		 r->svc_log);
}

void rw_test_kill_wait(pid_t pid, int sig)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, sig);
	waitpid(pid, &status, 0);
}

uint64_t rw_test_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

char *rw_test_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = n < 0 ? NULL : calloc(1, (size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

// SPDX-License-Identifier: GPL-2.0
/* The host end of a ringwatch.ko guest for e2e tests: see kmod_host.h. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
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
#include "tests/lib/chan_service.h"
#include "tests/lib/kmod_host.h"

static void child_defaults(const char *log)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP };
	int fd;

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

static void start_service(struct rw_kmod_host *h)
{
	unlink(h->chan_sock);
	h->svc = fork();
	assert_true(h->svc >= 0);
	if (h->svc == 0) {
		struct rw_test_chan_service o = {
			.unix_path = h->chan_sock,
			.store_dir = h->store,
			.state_dir = h->state,
		};
		child_defaults(h->svc_log);
		_exit(rw_test_chan_service_run(&o));
	}
	for (int i = 0; i < 250 && access(h->chan_sock, F_OK) != 0; i++)
		usleep(20000);
	if (access(h->chan_sock, F_OK) != 0)
		fail_msg("the channel service did not create %s (log %s)", h->chan_sock,
			 h->svc_log);
}

static void start_vsockd(struct rw_kmod_host *h, const struct rw_test_env *env)
{
	char bin[700], cid[16];

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch-vsockd", env->build);
	if (access(bin, X_OK) != 0)
		fail_msg("%s missing (make -f mk/build.mk VARIANT=rel bins)", bin);
	snprintf(cid, sizeof(cid), "%u", h->cid);
	h->vsockd = fork();
	assert_true(h->vsockd >= 0);
	if (h->vsockd == 0) {
		child_defaults(h->vsockd_log);
		execl(bin, bin, "--vm", "e2e-kmod-host", "--cid", cid, "--socket", h->vhost_sock,
		      "--upstream", h->chan_sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && access(h->vhost_sock, F_OK) != 0; i++)
		usleep(20000);
	if (access(h->vhost_sock, F_OK) != 0)
		fail_msg("ringwatch-vsockd did not create %s (log %s)", h->vhost_sock,
			 h->vsockd_log);
}

void rw_kmod_host_start(struct rw_kmod_host *h, const struct rw_test_env *env, const char *tag,
			uint32_t cid)
{
	memset(h, 0, sizeof(*h));
	h->cid = cid;
	rw_test_mkdtemp(h->dir, sizeof(h->dir), tag);
	snprintf(h->store, sizeof(h->store), "%s/store", h->dir);
	snprintf(h->state, sizeof(h->state), "%s/state", h->dir);
	snprintf(h->chan_sock, sizeof(h->chan_sock), "%s/chan.sock", h->dir);
	snprintf(h->vhost_sock, sizeof(h->vhost_sock), "%s/vhost.sock", h->dir);
	snprintf(h->svc_log, sizeof(h->svc_log), "%s/service.log", h->dir);
	snprintf(h->vsockd_log, sizeof(h->vsockd_log), "%s/vsockd.log", h->dir);
	assert_int_equal(mkdir(h->store, 0700), 0);
	assert_int_equal(mkdir(h->state, 0700), 0);
	start_service(h);
	start_vsockd(h, env);
}

void rw_kmod_host_boot_opts(const struct rw_kmod_host *h, struct rw_test_boot *opts)
{
	opts->vsock = RW_VSOCK_VHOST_USER;
	opts->vhost_user_socket = h->vhost_sock;
	opts->guest_cid = h->cid;
}

static void kill_wait(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	waitpid(*pid, &status, 0);
	*pid = 0;
}

void rw_kmod_host_stop(struct rw_kmod_host *h)
{
	kill_wait(&h->vsockd);
	kill_wait(&h->svc);
	if (h->dir[0])
		rw_test_rmtree(h->dir);
	h->dir[0] = '\0';
}

/* The kmod stream's log in the store ("" if none yet); one stream only. */
static void store_log_path(const struct rw_kmod_host *h, char *out, size_t len)
{
	DIR *d = opendir(h->store);
	struct dirent *e;
	int n = 0;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l > 4 && !strcmp(e->d_name + l - 4, ".log")) {
			snprintf(out, len, "%s/%s", h->store, e->d_name);
			n++;
		}
	}
	closedir(d);
	if (n > 1)
		fail_msg("%d stream logs in %s, expected the module's only", n, h->store);
}

struct scan_ctx {
	rw_kmod_host_fn fn;
	void *ctx;
	uint64_t expect;
	char why[256];
};

static int scan_record(void *ctx, uint64_t seq, const uint8_t *frame, size_t len)
{
	struct scan_ctx *s = ctx;
	struct rw_msg m;

	if (seq != s->expect) {
		snprintf(s->why, sizeof(s->why), "record seq %llu where %llu was expected",
			 (unsigned long long)seq, (unsigned long long)s->expect);
		return 1;
	}
	if (rw_proto_decode(frame, len, &m) != 0 || m.hdr.seq != seq ||
	    m.hdr.component != RW_COMP_KMOD) {
		snprintf(s->why, sizeof(s->why), "record %llu does not decode as a kmod frame",
			 (unsigned long long)seq);
		return 1;
	}
	s->expect++;
	if (s->fn)
		s->fn(s->ctx, &m);
	return 0;
}

uint64_t rw_kmod_host_scan(const struct rw_kmod_host *h, rw_kmod_host_fn fn, void *ctx)
{
	struct scan_ctx s = { .fn = fn, .ctx = ctx, .expect = 1 };
	char path[512];
	bool torn = false;

	store_log_path(h, path, sizeof(path));
	if (!path[0])
		return 0;
	rw_ch_file_store_scan(path, scan_record, &s, &torn);
	if (s.why[0])
		fail_msg("store %s: %s", path, s.why);
	return s.expect - 1;
}

void rw_kmod_host_wait_seq(const struct rw_kmod_host *h, uint64_t seq, int timeout_s)
{
	uint64_t have = 0;

	for (int i = 0; i <= timeout_s * 10; i++) {
		have = rw_kmod_host_scan(h, NULL, NULL);
		if (have >= seq)
			return;
		usleep(100000);
	}
	fail_msg("the host stored the module's stream up to seq %llu, not %llu, in %d s "
		 "(service log %s)", (unsigned long long)have, (unsigned long long)seq, timeout_s,
		 h->svc_log);
}

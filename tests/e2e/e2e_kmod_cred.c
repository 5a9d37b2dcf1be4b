// SPDX-License-Identifier: GPL-2.0
/*
 * Guest module ringwatch.ko in a real guest:
 *  - a test module tampers with an unprivileged process's cred (uid fields
 *    in place; cred pointers swapped for init's): the process is killed
 *    before it opens a root-only file and the violation names it, with the
 *    fields and their old/new values (and, as a control, the same exploit
 *    without ringwatch does open the file);
 *  - legitimate changes (setuid-root binary, su-like drops, setresuid games,
 *    capability drops, unshare, seccomp) repeated: no violation;
 *  - a fork storm of 10 000 processes: no violation, no leaked shadow entry;
 *  - rmmod while armed fails and is reported, hooks switched off are
 *    reported, the disarm token lets it go; challenge answers; self ranges;
 *  - per-CPU reports for each of 4 vCPUs, matching QMP's CR0/CR4/IDT and
 *    the kernel's syscall entry points, and on CPU hotplug.
 *
 * Credential acceptance is asserted on what the HOST received: the two
 * credential tests boot the guest with a vhost-user vsock device behind
 * ringwatch-vsockd and the test channel service (tests/lib/chan_rig.h);
 * ringwatch.ko sends its CRED_VIOLATION frames there (protocol version 2:
 * with the check that caught it and the action taken) and the test decodes
 * the frames the service stored.  "No violation" is asserted once the host
 * holds the module's whole stream up to a number read after the runs (the
 * store is gap-free, so nothing before it can be missing) and no LOSS.
 * The module's local copy (securityfs) is still read where the wire has
 * nothing: shadow-table counts (scan reports, status) around the fork storm,
 * and the self-protection / per-CPU tests below, which stay on the local
 * copy (their host side is e2e_kmod_channel's and other tests'); only
 * guest_reports() reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "shared/rw_proto.h"
#include "tests/lib/chan_rig.h"
#include "tests/lib/harness.h"
#include "vmi/qmp.h"

#define TOKEN "rw-test-disarm-7f3a9c"
#define VICTIM_UID 1000u
#define GUEST_CID 3u
#define MAX_HOST_CREDS 16

static struct rw_test_env env;

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	return 0;
}

static void copy_into(const char *overlay, const char *rel, const char *src, int mode)
{
	char path[1200], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", overlay, rel);
	rw_test_write_file(overlay, rel, "", mode);	/* parents, mode */
	in = open(src, O_RDONLY);
	if (in < 0)
		fail_msg("payload %s missing (scripts/build-payloads): %s", src, strerror(errno));
	out = open(path, O_WRONLY | O_TRUNC);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* Overlay with the modules, the payloads and a root-only secret. */
static void make_overlay(char *overlay, size_t len)
{
	static const char *const bins[] = { "cred_victim", "cred_legit" };
	static const char *const mods[] = { "ringwatch", "rwtest_cred" };
	char src[1100], rel[128];

	rw_test_mkdtemp(overlay, len, "kmod");
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		snprintf(src, sizeof(src), "%s/bin/%s", env.payloads, bins[i]);
		snprintf(rel, sizeof(rel), "bin/%s", bins[i]);
		copy_into(overlay, rel, src, 0755);
	}
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(src, sizeof(src), "%s/kmod/%s.ko", env.payloads, mods[i]);
		snprintf(rel, sizeof(rel), "lib/modules/%s.ko", mods[i]);
		copy_into(overlay, rel, src, 0644);
	}
	rw_test_write_file(overlay, "etc/ringwatch/rc.d/50-kmod-test",
			   "#!/bin/sh\n"
			   "mkdir -p /root && chmod 0700 /root\n"
			   "echo topsecret > /root/secret && chmod 0600 /root/secret\n"
			   "cp /bin/cred_legit /bin/cred_legit_suid\n"
			   "chown 0:0 /bin/cred_legit_suid && chmod 4755 /bin/cred_legit_suid\n",
			   0755);
}

/* The host end of the guest's channel: vsockd and a channel service, default options. */
static void host_start(struct rw_test_chan_rig *host)
{
	const struct rw_test_chan_service o = { 0 };

	rw_test_chan_rig_init(host, "kcred-host");
	host->svc = rw_test_chan_rig_start_service(host, &o);
	host->vsockd = rw_test_chan_rig_start_vsockd(host, &env, "e2e-kmod-host", GUEST_CID);
}

/* @host: the guest gets a vsock device leading to it (NULL: none). */
static void boot(struct rw_vm *vm, const char *name, unsigned int cpus, char *overlay,
		 size_t overlay_len, const struct rw_test_chan_rig *host)
{
	struct rw_test_boot opts = { .name = name, .cpus = cpus };
	char ready[512];

	make_overlay(overlay, overlay_len);
	if (host)
		rw_test_chan_rig_boot_opts(host, GUEST_CID, &opts);
	opts.overlay_dir = overlay;	/* this one, not the rig's */
	rw_test_boot(&env, &opts, vm, ready, sizeof(ready));
	assert_non_null(strstr(ready, "failed_rc=0"));
}

static void gsh_ok(struct rw_vm *vm, const char *cmd)
{
	free(rw_test_guest_sh(vm, cmd, 60));
}

static void load_ringwatch(struct rw_vm *vm)
{
	gsh_ok(vm, "insmod /lib/modules/ringwatch.ko armed=1 disarm_token=" TOKEN
		   " scan_interval_ms=500 && dmesg -n 5");
}

/*
 * Everything ringwatch reported so far, one report per line: the guest-side
 * ring in securityfs (see the header comment for why not the host's view).
 * The only function that knows where reports come from.
 */
static char *guest_reports(struct rw_vm *vm)
{
	return rw_test_guest_shf(vm, 30, "cat /sys/kernel/security/ringwatch/events");
}

/* Value of " key=" in a report line (malloc'd), or NULL. */
static char *report_value(const char *line, const char *key)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	n = strcspn(p, " \n");
	return strndup(p, n);
}

static int line_has_all(const char *line, size_t len, const char *event,
			const char *const *needles)
{
	char head[96];
	char *copy = strndup(line, len);
	int ok;

	snprintf(head, sizeof(head), "event=%s ", event);
	ok = !strncmp(copy, head, strlen(head));
	for (size_t i = 0; ok && needles && needles[i]; i++)
		ok = strstr(copy, needles[i]) != NULL;
	free(copy);
	return ok;
}

/* Last report of @event whose line holds every needle (malloc'd), or NULL. */
static char *find_report(const char *all, const char *event, const char *const *needles)
{
	const char *found = NULL, *p = all;
	size_t found_len = 0;

	while (*p) {
		size_t len = strcspn(p, "\n");

		if (line_has_all(p, len, event, needles)) {
			found = p;
			found_len = len;
		}
		p += len + (p[len] == '\n');
	}
	return found ? strndup(found, found_len) : NULL;
}

static int count_reports(const char *all, const char *event, const char *const *needles)
{
	const char *p = all;
	int n = 0;

	while (*p) {
		size_t len = strcspn(p, "\n");

		n += line_has_all(p, len, event, needles);
		p += len + (p[len] == '\n');
	}
	return n;
}

/* Wait up to @timeout_s for a report; fails the test with all reports. */
static char *expect_report(struct rw_vm *vm, int timeout_s, const char *event,
			   const char *const *needles)
{
	char *all = NULL, *line = NULL;

	for (int i = 0; i <= timeout_s * 4 && !line; i++) {
		if (i)
			usleep(250000);
		free(all);
		all = guest_reports(vm);
		line = find_report(all, event, needles);
	}
	if (!line) {
		print_error("reports:\n%s\n", all);
		fail_msg("no report event=%s with %s%s", event, needles ? needles[0] : "",
			 needles && needles[0] && needles[1] ? " ..." : "");
	}
	free(all);
	return line;
}

static long status_value(struct rw_vm *vm, const char *key)
{
	char *out = rw_test_guest_shf(vm, 30,
				      "grep '^%s=' /sys/kernel/security/ringwatch/status", key);
	long v = strtol(strchr(out, '=') + 1, NULL, 10);

	free(out);
	return v;
}

static long text_value(const char *text, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s=", key);
	p = strstr(text, pat);
	if (!p)
		fail_msg("no %s in status:\n%s", key, text);
	return strtol(p + strlen(pat), NULL, 10);
}

/* live == created - freed, in one read of the status (retry: tasks come and go). */
static void expect_consistent_counts(struct rw_vm *vm)
{
	long live = 0, created = 0, freed = 0;

	for (int i = 0; i < 20; i++) {
		char *st = rw_test_guest_shf(vm, 30,
					     "echo; cat /sys/kernel/security/ringwatch/status");

		live = text_value(st, "shadow_live");
		created = text_value(st, "shadow_created");
		freed = text_value(st, "shadow_freed");
		free(st);
		if (live == created - freed)
			return;
		usleep(100000);
	}
	fail_msg("shadow_live %ld != created %ld - freed %ld", live, created, freed);
}

/*
 * A return probe on security_file_open() for the victim (tracefs): what the
 * kernel's open path got back, to tell a refused open (ringwatch redirects
 * the call to return -EPERM) from one that went through (the victim would
 * still die of its SIGKILL before it could say so).
 */
static void trace_victim_opens(struct rw_vm *vm)
{
	gsh_ok(vm, "T=/sys/kernel/tracing; [ -e $T/kprobe_events ] || "
		   "mount -t tracefs nodev $T; "
		   "echo 'r:rwopen security_file_open ret=$retval:s32' > $T/kprobe_events && "
		   "echo 'comm == \"cred_victim\"' > $T/events/kprobes/rwopen/filter && "
		   "echo 1 > $T/events/kprobes/rwopen/enable");
}

/* Result of the last security_file_open() of @pid: its open of the secret. */
static int victim_last_open(struct rw_vm *vm, int pid)
{
	char *out = rw_test_guest_shf(vm, 30,
		"grep ' cred_victim-%d .* rwopen: ' /sys/kernel/tracing/trace "
		"| tail -1", pid);
	char *ret = strstr(out, " ret=");
	int r;

	if (!ret)
		fail_msg("no traced security_file_open of pid %d: '%s'", pid, out);
	r = atoi(ret + 5);
	free(out);
	return r;
}

/*
 * Start the victim (uid 1000), tamper with it through rwtest_cred @mode,
 * let it try the secret.  Returns its pid; @out gets status and output.
 */
static int run_exploit(struct rw_vm *vm, const char *mode, char **out)
{
	char *p;
	int pid;

	*out = rw_test_guest_shf(vm, 120,
		"echo > /sys/kernel/tracing/trace\n"
		"rm -f /tmp/ready /tmp/go /tmp/victim.out\n"
		"/bin/cred_victim /tmp/ready /tmp/go /root/secret >/tmp/victim.out 2>&1 &\n"
		"v=$!\n"
		"i=0; while [ ! -s /tmp/ready ] && [ $i -lt 1000 ]; do sleep 0.05; i=$((i+1)); done\n"
		"grep -q 'Uid:.*1000' /proc/$v/status || echo victim-not-user\n"
		"insmod /lib/modules/rwtest_cred.ko pid=$v mode=%s || echo insmod-failed\n"
		"touch /tmp/go\n"
		"wait $v; echo \"victim_pid=$v status=$?\"\n"
		"cat /tmp/victim.out\n"
		"rmmod rwtest_cred\n", mode);
	assert_null(strstr(*out, "insmod-failed"));
	assert_null(strstr(*out, "victim-not-user"));
	p = strstr(*out, "victim_pid=");
	assert_non_null(p);
	pid = atoi(p + strlen("victim_pid="));
	assert_true(pid > 1);
	return pid;
}

/* What the host stored from the module's stream. */
struct host_creds {
	unsigned int n;		/* CRED_VIOLATION frames */
	struct rw_msg_cred_violation v[MAX_HOST_CREDS];
	unsigned int losses;	/* LOSS frames */
	unsigned int nomem;	/* GUARD_EVENT shadow_nomem */
	unsigned int versions;	/* bit per header version seen */
};

static void collect_creds(void *ctx, const struct rw_msg *m)
{
	struct host_creds *h = ctx;

	h->versions |= 1u << (m->hdr.version & 15);
	if (m->hdr.type == RW_MSG_LOSS)
		h->losses++;
	if (m->hdr.type == RW_MSG_GUARD_EVENT && m->u.guard.kind == RW_GUARD_SHADOW_NOMEM)
		h->nomem++;
	if (m->hdr.type != RW_MSG_CRED_VIOLATION)
		return;
	if (h->n < MAX_HOST_CREDS)
		h->v[h->n] = m->u.cred;
	h->n++;
}

static void host_creds(const struct rw_test_chan_rig *host, struct host_creds *h)
{
	memset(h, 0, sizeof(*h));
	rw_test_chan_rig_scan(host, RW_COMP_KMOD, collect_creds, h, NULL);
}

/* Wait until the host has the CRED_VIOLATION of @pid; fails after timeout_s. */
static struct rw_msg_cred_violation host_violation_of(const struct rw_test_chan_rig *host, int pid,
						      int timeout_s)
{
	struct host_creds h;

	for (int i = 0; i <= timeout_s * 10; i++) {
		host_creds(host, &h);
		for (unsigned int k = 0; k < h.n && k < MAX_HOST_CREDS; k++)
			if ((int)h.v[k].pid == pid)
				return h.v[k];
		usleep(100000);
	}
	fail_msg("the host has no CRED_VIOLATION of pid %d after %d s (%u others; service log %s)",
		 pid, timeout_s, h.n, host->svc_log);
	return h.v[0];
}

/* Everything the module numbered so far is on the host (the store is gap-free). */
static void host_caught_up(struct rw_vm *vm, const struct rw_test_chan_rig *host)
{
	long next = status_value(vm, "chan_next_seq");

	assert_true(next > 1);
	rw_test_chan_rig_wait_kmod_seq(host, (uint64_t)next - 1, 60);
}

static void expect_host_field(const struct rw_msg_cred_violation *c, unsigned int bit,
			      const char *name, bool known_old, uint64_t old, bool known_new,
			      uint64_t new_)
{
	if (!(c->field_mask & (1u << bit)))
		fail_msg("host CRED_VIOLATION of pid %u: field_mask 0x%x lacks %s", c->pid,
			 c->field_mask, name);
	if ((known_old && c->old_val[bit] != old) || (known_new && c->new_val[bit] != new_) ||
	    c->old_val[bit] == c->new_val[bit])
		fail_msg("host CRED_VIOLATION of pid %u: %s 0x%llx -> 0x%llx", c->pid, name,
			 (unsigned long long)c->old_val[bit], (unsigned long long)c->new_val[bit]);
}

static void expect_uid_fields(const struct rw_msg_cred_violation *c)
{
	expect_host_field(c, RW_CRED_UID, "uid", true, VICTIM_UID, true, 0);
	expect_host_field(c, RW_CRED_EUID, "euid", true, VICTIM_UID, true, 0);
	expect_host_field(c, RW_CRED_FSUID, "fsuid", true, VICTIM_UID, true, 0);
	expect_host_field(c, RW_CRED_GID, "gid", true, VICTIM_UID, true, 0);
}

/*
 * Where it was caught and what was done, as the host got it.  The victim
 * opens the secret within 10 ms of /tmp/go, so the open's check catches it
 * (killed, the open refused with -EPERM); the timer scan (two passes 500 ms
 * apart) can only win when the guest stalls between the tampering and the
 * open, and then it kills without a refusal.  Either way the victim's own
 * output proved it never opened the file.
 */
static void expect_host_action(const struct rw_msg_cred_violation *c)
{
	if (c->check == RW_CRED_CHECK_FILE_OPEN) {
		if (c->action != (RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED) || c->error != -EPERM)
			fail_msg("caught at file_open: action 0x%x error %d, want killed+denied "
				 "-EPERM", c->action, c->error);
	} else if (c->check == RW_CRED_CHECK_SCAN) {
		if (c->action != RW_CRED_ACT_KILLED || c->error)
			fail_msg("caught by the scan: action 0x%x error %d, want killed", c->action,
				 c->error);
	} else {
		fail_msg("violation caught at check %u (%s), want file_open (or the scan)",
			 c->check, rw_proto_cred_check_name(c->check));
	}
	printf("  host: pid %u (%s) caught at %s, action 0x%x error %d, fields 0x%x\n", c->pid,
	       c->comm, rw_proto_cred_check_name(c->check), c->action, c->error, c->field_mask);
}

static void expect_killed_violation(struct rw_vm *vm, const struct rw_test_chan_rig *host,
				    const char *mode, int is_swap)
{
	struct rw_msg_cred_violation c;
	char *out;
	int pid;

	pid = run_exploit(vm, mode, &out);
	if (!strstr(out, " status=137") || strstr(out, "victim: opened"))
		fail_msg("mode %s: victim not killed before the open:\n%s", mode, out);
	free(out);
	if (victim_last_open(vm, pid) != -EPERM)
		fail_msg("mode %s: the victim's open of the secret returned %d, not -EPERM", mode,
			 victim_last_open(vm, pid));
	c = host_violation_of(host, pid, 30);
	assert_int_equal(c.pid, pid);
	assert_int_equal(c.tgid, pid);
	assert_string_equal(c.comm, "cred_victim");
	expect_host_action(&c);
	expect_uid_fields(&c);
	if (is_swap) {
		/* init's cred: every pointer new, full capabilities where there were none */
		expect_host_field(&c, RW_CRED_CRED_PTR, "cred_ptr", false, 0, false, 0);
		expect_host_field(&c, RW_CRED_REAL_CRED_PTR, "real_cred_ptr", false, 0, false, 0);
		expect_host_field(&c, RW_CRED_CAP_EFFECTIVE, "cap_effective", true, 0, false, 0);
	} else {
		assert_false(c.field_mask & (1u << RW_CRED_CRED_PTR));
		assert_false(c.field_mask & (1u << RW_CRED_REAL_CRED_PTR));
	}
}

static void test_tampered_creds_killed(void **state)
{
	struct rw_test_chan_rig host;
	struct host_creds h;
	char overlay[128], *out;
	struct rw_vm vm;
	int pid;

	(void)state;
	host_start(&host);
	boot(&vm, "kmod-tamper", 1, overlay, sizeof(overlay), &host);

	/* Control: without ringwatch the simulated exploit works. */
	trace_victim_opens(&vm);
	pid = run_exploit(&vm, "uid", &out);
	if (!strstr(out, "victim: opened /root/secret uid=0 euid=0 content=topsecret"))
		fail_msg("control exploit did not work:\n%s", out);
	free(out);
	assert_int_equal(victim_last_open(&vm, pid), 0);

	load_ringwatch(&vm);
	/* local copy: the module shadows the tasks that were there (not on the wire) */
	assert_true(status_value(&vm, "shadow_live") > 10);
	expect_killed_violation(&vm, &host, "uid", 0);
	expect_killed_violation(&vm, &host, "swap", 1);

	/* the host holds both, nothing else, nothing lost, in protocol version 2 */
	host_caught_up(&vm, &host);
	host_creds(&host, &h);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.losses, 0);
	assert_int_equal(h.versions, 1u << RW_PROTO_VERSION_MAX);
	rw_vm_stop(&vm);
	rw_test_chan_rig_stop(&host);
	rw_test_rmtree(overlay);
}

static void expect_summary(const char *out, const char *cmd, long runs)
{
	char want[128];

	snprintf(want, sizeof(want), "cred_legit: %s runs=%ld failures=0", cmd, runs);
	if (!strstr(out, want))
		fail_msg("expected '%s' in:\n%s", want, out);
}

/* Counts from a fresh "scan" report: tasks seen and live shadow entries. */
static void scan_counts(struct rw_vm *vm, long *tasks, long *live)
{
	char *all, *line, *t, *l;
	const char *needles[] = { " tasks=", NULL };

	gsh_ok(vm, "echo scan > /sys/kernel/security/ringwatch/request");
	all = guest_reports(vm);
	line = find_report(all, "scan", needles);
	assert_non_null(line);
	t = report_value(line, "tasks");
	l = report_value(line, "shadow_live");
	*tasks = atol(t);
	*live = atol(l);
	free(t);
	free(l);
	free(line);
	free(all);
}

static void test_legitimate_changes_and_fork_storm(void **state)
{
	long tasks0, live0, tasks1 = 0, live1 = 0, created0;
	struct rw_test_chan_rig host;
	struct host_creds h;
	char overlay[128], *out;
	struct rw_vm vm;
	const int runs = 200;

	(void)state;
	host_start(&host);
	boot(&vm, "kmod-legit", 2, overlay, sizeof(overlay), &host);
	load_ringwatch(&vm);

	out = rw_test_guest_shf(&vm, 600, "/bin/cred_legit runas 1000 /bin/cred_legit suid-loop %d "
				"/bin/cred_legit_suid /root/secret", runs);
	expect_summary(out, "suid-loop", runs);
	free(out);
	out = rw_test_guest_shf(&vm, 600, "/bin/cred_legit root-games %d /root/secret", runs);
	expect_summary(out, "root-games", runs);
	free(out);
	out = rw_test_guest_shf(&vm, 600, "/bin/cred_legit su %d 1000", runs);
	expect_summary(out, "su", runs);
	free(out);

	/* Fork storm: entries come and go with the tasks.  The shadow counts are
	 * the module's local copy (scan reports, status): the wire has none. */
	scan_counts(&vm, &tasks0, &live0);
	created0 = status_value(&vm, "shadow_created");
	out = rw_test_guest_shf(&vm, 900, "/bin/cred_legit forkstorm 10000");
	expect_summary(out, "forkstorm", 10000);
	free(out);
	assert_true(status_value(&vm, "shadow_created") - created0 >= 10000);
	for (int i = 0; i < 40; i++) {
		scan_counts(&vm, &tasks1, &live1);
		if (live1 == tasks1 && live1 <= live0)
			break;
		usleep(250000);
	}
	if (live1 != tasks1 || live1 > live0)
		fail_msg("shadow entries: before %ld (tasks %ld), after %ld (tasks %ld)", live0,
			 tasks0, live1, tasks1);
	expect_consistent_counts(&vm);

	/* The host: the whole stream up to now, without a violation or a loss. */
	host_caught_up(&vm, &host);
	host_creds(&host, &h);
	if (h.n)
		fail_msg("the host got %u false credential violations, first pid %u (%s) at %s, "
			 "fields 0x%x", h.n, h.v[0].pid, h.v[0].comm,
			 rw_proto_cred_check_name(h.v[0].check), h.v[0].field_mask);
	assert_int_equal(h.losses, 0);
	assert_int_equal(h.nomem, 0);
	printf("  host: module stream stored up to seq %llu, no violation, no loss\n",
	       (unsigned long long)rw_test_chan_rig_scan(&host, RW_COMP_KMOD, NULL, NULL, NULL));
	rw_vm_stop(&vm);
	rw_test_chan_rig_stop(&host);
	rw_test_rmtree(overlay);
}

static void hmac_hex(const uint8_t key[16], const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	assert_non_null(HMAC(EVP_sha256(), key, 16, (const unsigned char *)data, len, md,
			     &mdlen));
	assert_int_equal(mdlen, 32);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_challenge(struct rw_vm *vm)
{
	static const uint8_t nonce[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	const char *nonce_hex = "00112233445566778899aabbccddeeff";
	char *addr, *banner, *line, *digest, *out, want[65], va_needle[64];
	const char *needles[3];

	addr = rw_test_guest_shf(vm, 30, "grep ' linux_banner$' /proc/kallsyms | cut -d' ' -f1");
	addr[strcspn(addr, "\n")] = '\0';
	banner = rw_test_guest_shf(vm, 30, "cat /proc/version");
	free(rw_test_guest_shf(vm, 30,
			       "echo challenge %s %s %zu > /sys/kernel/security/ringwatch/request",
			       nonce_hex, addr, strlen(banner)));
	snprintf(va_needle, sizeof(va_needle), " va=0x%llx ", strtoull(addr, NULL, 16));
	needles[0] = va_needle;
	needles[1] = " result=ok";
	needles[2] = NULL;
	line = expect_report(vm, 10, "challenge_answer", needles);
	digest = report_value(line, "digest");
	hmac_hex(nonce, banner, strlen(banner), want);
	assert_string_equal(digest, want);
	free(digest);
	free(line);

	/* User addresses and unmapped kernel addresses are refused. */
	gsh_ok(vm, "echo challenge 00112233445566778899aabbccddeeff"
		   " 400000 16 > /sys/kernel/security/ringwatch/request");
	needles[0] = " va=0x400000 ";
	needles[1] = " result=error err=-14";
	free(expect_report(vm, 10, "challenge_answer", needles));
	gsh_ok(vm, "echo challenge 00112233445566778899aabbccddeeff"
		   " ffff800000000000 4096 > /sys/kernel/security/ringwatch/request");
	needles[0] = " va=0xffff800000000000 ";
	free(expect_report(vm, 10, "challenge_answer", needles));
	free(rw_test_guest_shf(vm, 30, "echo challenge %s %s 999999999999 > "
			       "/sys/kernel/security/ringwatch/request", nonce_hex, addr));
	needles[0] = " len=999999999999 ";
	needles[1] = " result=error err=-7";
	free(expect_report(vm, 10, "challenge_answer", needles));
	/* Malformed requests are rejected outright. */
	out = rw_test_guest_shf(vm, 30,
				"echo challenge zz 1 1 > /sys/kernel/security/ringwatch/request; "
				"echo rc=$?");
	assert_null(strstr(out, "rc=0"));
	free(out);
	free(addr);
	free(banner);
}

static void test_self_protection(void **state)
{
	char overlay[128], *out, *line, *base, *text_end, *end;
	unsigned long long text;
	const char *unload[] = { " comm=rmmod", " action=refused", NULL };
	const char *lost[] = { " hook=security_capable", " reason=not_firing", NULL };
	const char *restored[] = { " hook=security_capable", NULL };
	struct rw_vm vm;

	(void)state;
	boot(&vm, "kmod-self", 1, overlay, sizeof(overlay), NULL);
	load_ringwatch(&vm);

	/* Self-description: .text lies in the reported text range. */
	line = expect_report(&vm, 5, "self_desc", NULL);
	base = report_value(line, "base");
	text_end = report_value(line, "text_end");
	end = report_value(line, "end");
	out = rw_test_guest_shf(&vm, 30, "cat /sys/module/ringwatch/sections/.text");
	text = strtoull(out, NULL, 16);
	assert_true(text >= strtoull(base, NULL, 16) && text < strtoull(text_end, NULL, 16));
	assert_true(strtoull(end, NULL, 16) > strtoull(text_end, NULL, 16));
	free(out);
	free(base);
	free(text_end);
	free(end);
	free(line);

	/* Armed: rmmod (also forced) fails, each attempt is reported. */
	out = rw_test_guest_shf(&vm, 30,
				"rmmod ringwatch; echo rc=$?; rmmod -f ringwatch; echo rc=$?; "
				"grep -c '^ringwatch ' /proc/modules");
	assert_null(strstr(out, "rc=0"));
	assert_non_null(strstr(out, "\n1\n"));
	free(out);
	out = guest_reports(&vm);
	assert_int_equal(count_reports(out, "unload_attempt", unload), 2);
	free(out);

	/* Kprobes switched off globally: the hook check notices, and recovery. */
	gsh_ok(&vm, "echo 0 > /sys/kernel/debug/kprobes/enabled");
	free(expect_report(&vm, 10, "hook_lost", lost));
	gsh_ok(&vm, "echo 1 > /sys/kernel/debug/kprobes/enabled");
	free(expect_report(&vm, 10, "hook_restored", restored));

	test_challenge(&vm);

	/* A wrong token is refused and reported; the right one disarms. */
	out = rw_test_guest_shf(&vm, 30,
				"echo wrong-token-123 > /sys/kernel/security/ringwatch/disarm; "
				"echo rc=$?");
	assert_null(strstr(out, "rc=0"));
	free(out);
	free(expect_report(&vm, 5, "disarm_refused", NULL));
	gsh_ok(&vm, "echo " TOKEN " > /sys/kernel/security/ringwatch/disarm");
	free(expect_report(&vm, 5, "disarmed", NULL));
	gsh_ok(&vm, "rmmod ringwatch && ! grep -q '^ringwatch ' /proc/modules && "
		    "! test -e /sys/kernel/security/ringwatch");
	rw_vm_stop(&vm);
	rw_test_rmtree(overlay);
}

static unsigned long long hex_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	if (!p)
		fail_msg("'%s' not found", key);
	return strtoull(p + strlen(key), NULL, 16);
}

static unsigned long long report_hex(const char *line, const char *key)
{
	char *v = report_value(line, key);
	unsigned long long x;

	if (!v)
		fail_msg("no %s in '%s'", key, line);
	x = strtoull(v, NULL, 16);
	free(v);
	return x;
}

static unsigned long long ksym(struct rw_vm *vm, const char *name)
{
	char *out = rw_test_guest_shf(vm, 30, "grep ' %s$' /proc/kallsyms | head -1", name);
	unsigned long long a = strtoull(out, NULL, 16);

	free(out);
	assert_true(a != 0);
	return a;
}

/* The module's view of @cpu (latest @reason report) against QMP's. */
static int cpu_matches_qmp(struct rw_vm *vm, const char *all, unsigned int cpu,
			   const char *regs, unsigned long long lstar)
{
	char cpu_needle[32], tag[16], *line;
	const char *needles[3];
	const char *block, *next;
	unsigned long long idt_base, idt_limit;
	int ok;

	snprintf(cpu_needle, sizeof(cpu_needle), " cpu=%u ", cpu);
	needles[0] = cpu_needle;
	needles[1] = " reason=request";
	needles[2] = NULL;
	line = find_report(all, "cpu_state", needles);
	if (!line)
		fail_msg("no cpu_state report for cpu %u", cpu);
	snprintf(tag, sizeof(tag), "CPU#%u", cpu);
	block = strstr(regs, tag);
	assert_non_null(block);
	next = strstr(block + 4, "CPU#");
	{
		char *b = next ? strndup(block, (size_t)(next - block)) : strdup(block);
		const char *idt = strstr(b, "IDT=");
		char *endp;

		assert_non_null(idt);
		idt_base = strtoull(idt + 4, &endp, 16);
		idt_limit = strtoull(endp, NULL, 16);
		ok = report_hex(line, "cr0") == hex_after(b, "CR0=") &&
		     report_hex(line, "cr4") == hex_after(b, "CR4=") &&
		     report_hex(line, "idt_base") == idt_base &&
		     report_hex(line, "idt_limit") == idt_limit &&
		     report_hex(line, "efer") == hex_after(b, "EFER=");
		if (!ok)
			print_message("cpu %u: module '%s'\nqmp:\n%s\n", cpu, line, b);
		free(b);
	}
	(void)vm;
	assert_int_equal(report_hex(line, "lstar"), lstar);
	free(line);
	return ok;
}

static void test_cpu_state_4_vcpus(void **state)
{
	char overlay[128], err[512], *all, *regs;
	unsigned long long lstar, cstar, sysenter;
	const char *hot[] = { " cpu=3 ", " reason=hotplug", NULL };
	struct rw_qmp *qmp;
	struct rw_vm vm;
	int ok = 0;

	(void)state;
	boot(&vm, "kmod-cpu", 4, overlay, sizeof(overlay), NULL);
	load_ringwatch(&vm);
	lstar = ksym(&vm, "entry_SYSCALL_64");
	cstar = ksym(&vm, "entry_SYSCALL_compat");
	sysenter = ksym(&vm, "entry_SYSENTER_compat");

	all = guest_reports(&vm);
	for (unsigned int cpu = 0; cpu < 4; cpu++) {
		char needle[32];
		const char *needles[] = { needle, " reason=load", NULL };
		char *line;

		snprintf(needle, sizeof(needle), " cpu=%u ", cpu);
		line = find_report(all, "cpu_state", needles);
		if (!line)
			fail_msg("no load-time cpu_state for cpu %u:\n%s", cpu, all);
		assert_int_equal(report_hex(line, "lstar"), lstar);
		assert_int_equal(report_hex(line, "cstar"), cstar);
		assert_int_equal(report_hex(line, "sysenter_eip"), sysenter);
		assert_true(report_hex(line, "efer") & (1ull << 10));	/* LMA */
		free(line);
	}
	free(all);

	if (rw_qmp_connect(vm.qmp_path, 5000, &qmp, err, sizeof(err)))
		fail_msg("QMP: %s", err);
	/* CR4 can flip for an instant (global TLB flush): allow a retry. */
	for (int attempt = 0; attempt < 3 && !ok; attempt++) {
		gsh_ok(&vm, "echo cpus > /sys/kernel/security/ringwatch/request");
		all = guest_reports(&vm);
		regs = rw_qmp_hmp(qmp, "info registers -a", 10000, err, sizeof(err));
		assert_non_null(regs);
		ok = 1;
		for (unsigned int cpu = 0; cpu < 4; cpu++)
			ok &= cpu_matches_qmp(&vm, all, cpu, regs, lstar);
		free(regs);
		free(all);
	}
	rw_qmp_close(qmp);
	assert_true(ok);

	gsh_ok(&vm, "echo 0 > /sys/devices/system/cpu/cpu3/online && "
		    "echo 1 > /sys/devices/system/cpu/cpu3/online");
	free(expect_report(&vm, 10, "cpu_state", hot));
	rw_vm_stop(&vm);
	rw_test_rmtree(overlay);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tampered_creds_killed),
		cmocka_unit_test(test_legitimate_changes_and_fork_storm),
		cmocka_unit_test(test_self_protection),
		cmocka_unit_test(test_cpu_state_4_vcpus),
	};

	/* RW_TEST_FILTER=test_name (cmocka pattern) runs a subset. */
	if (getenv("RW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, NULL);
}

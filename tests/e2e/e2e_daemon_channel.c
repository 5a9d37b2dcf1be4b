// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatchd + the guest channel + ringwatch-agent, end to end through the
 * CLI:
 *
 *  1. `ringwatch launch` of a guest with the agent (ringwatchd starts the VM's
 *     ringwatch-vsockd): the agent's stream connects, an LD_PRELOAD exec in
 *     the guest shows up in `ringwatch events VM --json` (source agent), a
 *     module the guest retries is refused (events) until
 *     `ringwatch policy VM add module-allow nlmon '*'`; the guest then loads
 *     it and says so with an exec the agent reports.
 *  2. kill -9 of ringwatchd while an attached guest (its QEMU and vsockd
 *     started by the test, so they outlive the daemon) streams events; after
 *     the restart every event the agent got an ACK for is stored exactly
 *     once, and nothing the guest did not send.
 *  3. That guest floods the channel (tests/payloads/chan_flood: stored events
 *     as fast as ringwatchd acknowledges them) while a second guest is
 *     checked every 500 ms: the flood reaches a floor rate, every message is
 *     acknowledged and stored, and the quiet guest's effective check interval
 *     stays within 2x.
 *
 * Needs: the kit ($RW_KIT), qemu-system-x86_64, build/rel/bin/{ringwatchd,
 * ringwatch,ringwatch-vsockd}, scripts/build-payloads + scripts/build-guest-bpf
 * (run by the setup).
 */
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
#include <jansson.h>

#include "tests/lib/e2e_daemon.h"
#include "tests/lib/harness.h"

#define INTERVAL_MS 500
#define FLOOD_WINDOW_S 15

static struct rw_test_env env;
static struct rw_test_daemon rwd;
static char overlay1[300], overlay2[300];
static int metrics_port;
static struct rw_vm g2;		/* attached guest: QEMU and vsockd are the test's */
static pid_t vsockd2;

/* ---- host helpers --------------------------------------------------------- */

static void copy_file(const char *src, const char *dst_dir, const char *rel, int mode)
{
	char *out;

	if (access(src, R_OK))
		fail_msg("missing %s (scripts/build-payloads, scripts/build-guest-bpf, the kit)", src);
	if (rw_test_sh(&out, "mkdir -p \"$(dirname '%s/%s')\" && cp '%s' '%s/%s' && chmod %o '%s/%s' "
		       "2>&1", dst_dir, rel, src, dst_dir, rel, mode, dst_dir, rel))
		fail_msg("copying %s: %s", src, out);
	free(out);
}

/* The agent, its boot script, a policy and a test script of the guest's own. */
static void make_overlay(char *out, size_t outlen, const char *tag, const char *script)
{
	char src[1024];

	rw_test_mkdtemp(out, outlen, tag);
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", env.payloads);
	copy_file(src, out, "usr/sbin/ringwatch-agent", 0755);
	snprintf(src, sizeof(src), "%s/rc.d/50-ringwatch-agent", env.payloads);
	copy_file(src, out, "etc/ringwatch/rc.d/50-ringwatch-agent", 0755);
	snprintf(src, sizeof(src), "%s/root/lib/modules/%s/kernel/drivers/net/nlmon.ko", env.kit,
		 env.kver);
	copy_file(src, out, "lib/modules/rwtest/nlmon.ko", 0644);
	snprintf(src, sizeof(src), "%s/bin/chan_flood", env.payloads);
	copy_file(src, out, "usr/bin/chan_flood", 0755);
	rw_test_write_file(out, "etc/ringwatch/policy",
			   "# e2e_daemon_channel: nothing allowlisted, loader variables watched\n"
			   "env-watch LD_PRELOAD\n", 0644);
	rw_test_write_file(out, "etc/ringwatch/rc.d/60-e2e", script, 0755);
}

/* Events of @vm from the agent whose report is @event (NULL: any). */
static json_t *agent_events(const char *vm, const char *event)
{
	json_t *all = rw_test_vm_events(&rwd, vm), *out;
	size_t i;
	json_t *e;

	out = json_array();
	json_array_foreach(all, i, e) {
		const char *ev = json_string_value(json_object_get(
			json_object_get(json_object_get(e, "detail"), "report"), "event"));

		if (strcmp(json_string_value(json_object_get(e, "source")), "agent"))
			continue;
		if (event && (!ev || strcmp(ev, event)))
			continue;
		json_array_append(out, e);
	}
	json_decref(all);
	return out;
}

static const char *report_str(json_t *e, const char *key)
{
	const char *v = json_string_value(json_object_get(
		json_object_get(json_object_get(e, "detail"), "report"), key));

	return v ? v : "";
}

/* Wait until @vm has an agent event @event whose report field @key contains @needle. */
static json_t *wait_report(const char *vm, const char *event, const char *key,
			   const char *needle, int timeout_s)
{
	for (int i = 0; i < timeout_s * 2; i++) {
		json_t *evs = agent_events(vm, event), *e;
		size_t j;

		json_array_foreach(evs, j, e) {
			if (strstr(report_str(e, key), needle)) {
				json_incref(e);
				json_decref(evs);
				return e;
			}
		}
		json_decref(evs);
		usleep(500000);
	}
	fail_msg("no '%s' event with %s containing '%s' from %s's agent within %d s", event, key,
		 needle, vm, timeout_s);
	return NULL;
}

static json_t *vm_status(const char *vm)
{
	return rw_test_ringwatch_json(&rwd, 0, "status %s --json", vm);
}

/* ---- fixture ---------------------------------------------------------------- */

static int setup(void **state)
{
	char cmd[4096], cfg[256];

	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	snprintf(cmd, sizeof(cmd), "'%s/scripts/build-payloads' '%s' '%s' >/dev/null && "
		 "'%s/scripts/build-guest-bpf' '%s' '%s' >/dev/null", env.top, env.kit,
		 env.payloads, env.top, env.kit, env.payloads);
	if (system(cmd) != 0)
		fail_msg("cannot build the guest payloads: %s", cmd);
	metrics_port = 20000 + (int)(getpid() % 20000);
	snprintf(cfg, sizeof(cfg), "interval %dms\nmetrics 127.0.0.1:%d\nsyslog off\n"
		 "qmp-timeout 2s\nrespond * alert log\n", INTERVAL_MS, metrics_port);
	rw_test_daemon_init(&rwd, &env, "dchan", cfg);
	rwd.json_log = true;
	return 0;
}

static int teardown(void **state)
{
	int status;

	(void)state;
	rw_test_daemon_stop(&rwd);
	if (g2.pid)
		rw_vm_stop(&g2);
	if (vsockd2 > 0) {
		kill(vsockd2, SIGTERM);
		waitpid(vsockd2, &status, 0);
	}
	if (overlay1[0])
		rw_test_rmtree(overlay1);
	if (overlay2[0])
		rw_test_rmtree(overlay2);
	rw_test_rmtree(rwd.dir);
	return 0;
}

/* ---- 1: events and policy through the daemon-launched guest --------------------- */

static const char modtry_script[] =
	"#!/bin/sh\n"
	"# e2e: an LD_PRELOAD exec, then retry nlmon every second; once it loads\n"
	"# (the host allowlisted it), report that with an exec the agent sees.\n"
	"(\n"
	"  sleep 2\n"
	"  env LD_PRELOAD=/e2e/hello /bin/true\n"
	"  while :; do\n"
	"    if insmod /lib/modules/rwtest/nlmon.ko 2>/dev/null; then\n"
	"      rmmod nlmon\n"
	"      env LD_PRELOAD=/e2e/nlmon-loaded /bin/true\n"
	"      break\n"
	"    fi\n"
	"    sleep 1\n"
	"  done\n"
	") </dev/null >/dev/null 2>&1 &\n";

static void test_launch_events_policy(void **state)
{
	json_t *st, *ch, *e;
	char *out;
	int rc;

	(void)state;
	rw_test_daemon_start(&rwd);
	make_overlay(overlay1, sizeof(overlay1), "dchan-g1", modtry_script);
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-c1 --overlay '%s'", overlay1);
	if (rc)
		fail_msg("launch c1: %d\n%s", rc, out);
	free(out);
	e = wait_report("ringwatch-test-c1", "exec-env", "variable", "LD_PRELOAD=/e2e/hello", 60);
	assert_string_equal(json_string_value(json_object_get(e, "check")), "lsm-event");
	assert_string_equal(json_string_value(json_object_get(e, "severity")), "warning");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "detail"), "kind")),
			    "exec");
	json_decref(e);
	/* The module is refused (finit_module and busybox's init_module fallback). */
	e = wait_report("ringwatch-test-c1", "module-denied", "module", "nlmon", 60);
	assert_string_equal(report_str(e, "verdict"), "deny");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "detail"),
							      "verdict")), "deny");
	json_decref(e);
	/* Channel health in status and metrics. */
	st = vm_status("ringwatch-test-c1");
	ch = json_object_get(st, "channel");
	assert_int_equal(json_integer_value(json_object_get(ch, "streams")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(ch, "components"), 0)),
			    "agent");
	assert_true(json_integer_value(json_object_get(ch, "messages")) >= 3);
	assert_true(json_integer_value(json_object_get(ch, "last_message_ms")) > 0);
	json_decref(st);
	rc = rw_test_sh(&out, "python3 -c \"import urllib.request; print(urllib.request.urlopen("
			"'http://127.0.0.1:%d/metrics', timeout=10).read().decode())\"", metrics_port);
	if (rc || !strstr(out, "ringwatch_channel_streams{vm=\"ringwatch-test-c1\"} 1") ||
	    !strstr(out, "ringwatch_channel_messages_total{vm=\"ringwatch-test-c1\"}"))
		fail_msg("channel metrics missing (rc %d):\n%s", rc, out);
	free(out);
	/* Bad policy commands: exit 2 with the reason. */
	rc = rw_test_ringwatch(&rwd, &out, "policy ringwatch-test-c1 add module-allow nlmon 1234");
	assert_int_equal(rc, 2);
	assert_non_null(strstr(out, "bad SHA-256"));
	free(out);
	rc = rw_test_ringwatch(&rwd, &out, "policy no-such-vm add env-watch FOO");
	assert_int_equal(rc, 2);
	assert_non_null(strstr(out, "no VM 'no-such-vm'"));
	free(out);
	/* The host allowlists the module: the guest's next try loads it. */
	rc = rw_test_ringwatch(&rwd, &out, "policy ringwatch-test-c1 add module-allow nlmon '*'");
	if (rc)
		fail_msg("policy add: %d\n%s", rc, out);
	assert_non_null(strstr(out, "acknowledged by the guest agent"));
	free(out);
	e = wait_report("ringwatch-test-c1", "exec-env", "variable", "LD_PRELOAD=/e2e/nlmon-loaded",
			60);
	json_decref(e);
	e = wait_report("ringwatch-test-c1", NULL, "command", "module-allow nlmon *", 10);
	assert_string_equal(report_str(e, "agent"), "policy-applied");
	assert_string_equal(report_str(e, "origin"), "host");
	json_decref(e);
}

/* ---- 2: kill -9 while an attached guest streams ----------------------------------- */

static const char stream_script[] =
	"#!/bin/sh\n"
	"# e2e: LD_PRELOAD execs until /tmp/stop.\n"
	"(\n"
	"  sleep 2; i=0\n"
	"  while [ ! -e /tmp/stop ]; do\n"
	"    i=$((i + 1)); env LD_PRELOAD=/stream/$i /bin/true\n"
	"    sleep 0.05\n"
	"  done\n"
	"  echo $i > /tmp/stream.count\n"
	") </dev/null >/dev/null 2>&1 &\n";

static size_t count_events(const char *vm, const char *event)
{
	json_t *evs = agent_events(vm, event);
	size_t n = json_array_size(evs);

	json_decref(evs);
	return n;
}

static void wait_count(const char *vm, const char *event, size_t min, int timeout_s)
{
	size_t n = 0;

	for (int i = 0; i < timeout_s * 2; i++) {
		n = count_events(vm, event);
		if (n >= min)
			return;
		usleep(500000);
	}
	fail_msg("%s: %zu '%s' events from the agent after %d s, want %zu", vm, n, event,
		 timeout_s, min);
}

static char *guest_sh(const char *cmd)
{
	return rw_test_guest_sh(&g2, cmd, 120);
}

static void test_kill9_while_streaming(void **state)
{
	struct rw_test_boot opts = { .name = "c2", .memory_mib = 512 };
	char vhost[300], log[300], ready[512], mem[64], status_line[200];
	unsigned long long acked = 0, next = 0, lost = 0;
	size_t before, n;
	json_t *evs, *e, *seen;
	char *out, *line;
	int rc, old = rwd.pid;

	(void)state;
	make_overlay(overlay2, sizeof(overlay2), "dchan-g2", stream_script);
	snprintf(vhost, sizeof(vhost), "%s/c2.vhost", rwd.dir);
	snprintf(log, sizeof(log), "%s/c2.vsockd.log", rwd.dir);
	vsockd2 = rw_test_daemon_start_vsockd(&rwd, "ringwatch-test-c2", vhost, log);
	opts.overlay_dir = overlay2;
	opts.vsock = RW_VSOCK_VHOST_USER;
	opts.vhost_user_socket = vhost;
	opts.guest_cid = 3;
	rw_test_boot(&env, &opts, &g2, ready, sizeof(ready));
	snprintf(mem, sizeof(mem), "/proc/%d/fd/%d", (int)getpid(), g2.ram_fd);
	rc = rw_test_ringwatch(&rwd, &out, "attach ringwatch-test-c2 --qmp '%s' --mem '%s' --kernel '%s'",
			       g2.qmp_path, mem, env.kernel);
	if (rc)
		fail_msg("attach c2: %d\n%s", rc, out);
	free(out);
	wait_count("ringwatch-test-c2", "exec-env", 30, 120);

	/* kill -9 mid-stream, a moment of absence, restart */
	before = count_events("ringwatch-test-c2", "exec-env");
	kill(rwd.pid, SIGKILL);
	rw_test_wait_gone(old, 10);
	usleep(1500000);
	rw_test_daemon_start(&rwd);
	wait_count("ringwatch-test-c2", "exec-env", before + 30, 120);

	/* Stop the stream and let the agent's queue drain. */
	free(guest_sh("touch /tmp/stop; while [ ! -e /tmp/stream.count ]; do sleep 0.2; done"));
	for (int i = 0; i < 120; i++) {
		out = guest_sh("cat /run/ringwatch/agent-channel");
		snprintf(status_line, sizeof(status_line), "%s", out);
		free(out);
		if (sscanf(status_line, "%*s %llu %llu %llu", &acked, &next, &lost) == 3 &&
		    acked + 1 == next && strstr(status_line, "ready"))
			break;
		usleep(500000);
	}
	if (!(acked + 1 == next))
		fail_msg("the agent's queue did not drain: %s", status_line);
	assert_int_equal(lost, 0);

	/* Host side: every agent message stored at most once, per (session, seq). */
	evs = agent_events("ringwatch-test-c2", NULL);
	seen = json_object();
	json_array_foreach(evs, n, e) {
		char key[96];
		json_t *d = json_object_get(e, "detail");

		snprintf(key, sizeof(key), "%s/%lld", json_string_value(json_object_get(d, "session")),
			 (long long)json_integer_value(json_object_get(d, "seq")));
		if (json_object_get(seen, key))
			fail_msg("agent message %s stored twice", key);
		json_object_set_new(seen, key, json_true());
	}
	json_decref(evs);
	json_decref(seen);

	/* Guest side: the seq of every exec-env event the agent sent (its local log);
	 * all of them are acknowledged now, so all must be on the host, and the host
	 * holds no exec-env event the guest did not send. */
	out = guest_sh("sed -n 's/^{\"seq\":\\([0-9]*\\),.*\"event\":\"exec-env\".*/\\1/p' "
		       "/run/ringwatch/agent-events.log");
	evs = agent_events("ringwatch-test-c2", "exec-env");
	seen = json_object();
	json_array_foreach(evs, n, e) {
		char key[32];

		snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(
				 json_object_get(json_object_get(e, "detail"), "seq")));
		json_object_set_new(seen, key, json_integer(0));
	}
	n = 0;
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *hit = json_object_get(seen, line);
		unsigned long long seq = strtoull(line, NULL, 10);

		if (seq == 0 || seq > acked)
			fail_msg("local log line with seq '%s' (acked %llu)", line, acked);
		if (!hit)
			fail_msg("exec-env event seq %s was acknowledged to the guest but is not in "
				 "ringwatch events", line);
		json_integer_set(hit, 1);
		n++;
	}
	{
		const char *key;
		json_t *v;

		json_object_foreach(seen, key, v)
			if (!json_integer_value(v))
				fail_msg("host holds exec-env seq %s the guest's log does not have", key);
	}
	printf("  %zu acknowledged exec-env events, all stored once (acked seq %llu)\n", n, acked);
	assert_true(n >= before + 30);
	json_decref(seen);
	json_decref(evs);
	free(out);
}

/* ---- 3: a flooding guest does not slow the other's checks --------------------------- */

/*
 * c2 runs chan_flood: LSM_EVENT messages on a test stream, sent as fast as
 * ringwatchd receives, decodes, stores (one SQLite event each, WAL, fsync per
 * commit) and acknowledges them.  Measured on the host: the rate at which c2's
 * stored channel events grow (status --json, channel.events), next to c3's
 * effective check interval (wall time / passes) quiet and under the flood.
 */
#define QUIET_WINDOW_S 8
#define FLOOD_RAMP_S 30		/* until c2's stored events start to grow */
#define FLOOD_MAX_S 90		/* chan_flood's own limit; SIGTERM ends it sooner */
/*
 * Floor for the flood, in messages stored and acknowledged per second.
 * Measured on the 2-core development machine (TCG guests, a clean-clone CI
 * run beside): chan_flood sustained ~4,700 msg/s (every one a committed SQLite
 * event and ACKed), while the LD_PRELOAD exec loop it replaces made 25-40
 * events/s.  1,000/s leaves 4x for a slower or busier machine and is still
 * 25x what an exec loop can make; below it there is no flood to measure
 * against and the test fails.
 */
#define FLOOD_FLOOR_PER_S 1000
/* ringwatchd's anonymous memory (RssAnon: the mapped guest RAM is not in it)
 * may grow this much over the flood: staging is bounded per commit, nothing
 * may accumulate per message. */
#define FLOOD_ANON_GROWTH_MAX_KIB (32 * 1024)

static uint64_t passes_of(const char *vm)
{
	json_t *st = vm_status(vm);
	uint64_t p = (uint64_t)json_integer_value(json_object_get(st, "passes"));

	json_decref(st);
	return p;
}

/* Channel events c2's streams have stored since the daemon started. */
static uint64_t stored_events_of(const char *vm)
{
	json_t *st = vm_status(vm);
	uint64_t n = (uint64_t)json_integer_value(json_object_get(json_object_get(st, "channel"),
								  "events"));

	json_decref(st);
	return n;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* RssAnon of @pid: what it allocated itself (guest RAM it maps is shared, not anon). */
static long anon_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	if (kib < 0)
		fail_msg("no RssAnon in %s", path);
	return kib;
}

/* CPU seconds (user + system) @pid has used. */
static double cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		fail_msg("cannot parse %s", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Bytes of the daemon's event store (database and its WAL). */
static long long store_bytes(void)
{
	static const char *const files[] = { "ringwatch.db", "ringwatch.db-wal" };
	long long total = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[400];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", rwd.state_dir, files[i]);
		if (stat(path, &sb) == 0)
			total += (long long)sb.st_size;
	}
	return total;
}

/*
 * c3's effective interval in ms over @secs seconds (wall time / passes done).
 * A pass starts no sooner than one interval after the previous one started,
 * so a mean near the interval also leaves no room for a long single stall.
 */
static double interval_over(const char *vm, int secs, uint64_t *passes)
{
	double t0 = now_s(), t1;
	uint64_t p0 = passes_of(vm), p1;

	sleep((unsigned)secs);
	p1 = passes_of(vm);
	t1 = now_s();
	*passes = p1 - p0;
	return p1 > p0 ? (t1 - t0) * 1000.0 / (double)(p1 - p0) : 1e9;
}

static void test_flood_keeps_other_interval(void **state)
{
	unsigned long long sent = 0, acked = 0, lost = 1, guest_rate = 0;
	uint64_t quiet_passes, flood_passes, e_start, e0, e1, e_end;
	double quiet_ms, flood_ms, t0, t1, host_rate, cpu0, cpu1;
	long anon0, anon1;
	long long store0, store1;
	char status[16] = "", cmd[256], *out, *done;
	int rc;

	(void)state;
	/* The launched guest died with the killed daemon: launch a quiet one. */
	rc = rw_test_ringwatch(&rwd, &out, "launch ringwatch-test-c3");
	if (rc)
		fail_msg("launch c3: %d\n%s", rc, out);
	free(out);
	for (int i = 0; passes_of("ringwatch-test-c3") < 3; i++) {
		if (i >= 120)
			fail_msg("c3 did not complete 3 check passes in 60 s");
		usleep(500000);
	}
	quiet_ms = interval_over("ringwatch-test-c3", QUIET_WINDOW_S, &quiet_passes);

	e_start = stored_events_of("ringwatch-test-c2");
	store0 = store_bytes();
	snprintf(cmd, sizeof(cmd), "rm -f /tmp/flood.out; /usr/bin/chan_flood %d >/tmp/flood.out "
		 "2>&1 </dev/null & echo $! >/tmp/flood.pid", FLOOD_MAX_S);
	free(guest_sh(cmd));
	for (int i = 0; stored_events_of("ringwatch-test-c2") < e_start + 100; i++) {
		if (i >= FLOOD_RAMP_S * 2) {
			out = guest_sh("cat /tmp/flood.out");
			fail_msg("c2's flood stored < 100 events in %d s; chan_flood says:\n%s",
				 FLOOD_RAMP_S, out);
		}
		usleep(500000);
	}
	anon0 = anon_kib(rwd.pid);
	cpu0 = cpu_s(rwd.pid);
	e0 = stored_events_of("ringwatch-test-c2");
	t0 = now_s();
	flood_ms = interval_over("ringwatch-test-c3", FLOOD_WINDOW_S, &flood_passes);
	e1 = stored_events_of("ringwatch-test-c2");
	t1 = now_s();
	cpu1 = cpu_s(rwd.pid);
	anon1 = anon_kib(rwd.pid);
	host_rate = (double)(e1 - e0) / (t1 - t0);

	/* End the flood; every message must be acknowledged, none lost. */
	out = guest_sh("kill -TERM $(cat /tmp/flood.pid); i=0; "
		       "while ! grep -q 'CHAN-FLOOD DONE' /tmp/flood.out && [ $i -lt 600 ]; do "
		       "sleep 0.1; i=$((i + 1)); done; cat /tmp/flood.out");
	done = strstr(out, "CHAN-FLOOD DONE");
	if (!done || sscanf(done, "CHAN-FLOOD DONE status=%15s sent=%llu acked=%llu lost=%llu",
			    status, &sent, &acked, &lost) != 4 || !strstr(done, "rate=") ||
	    sscanf(strstr(done, "rate="), "rate=%llu", &guest_rate) != 1)
		fail_msg("chan_flood did not finish:\n%s", out);
	free(out);
	e_end = stored_events_of("ringwatch-test-c2");
	store1 = store_bytes();

	printf("  flood from c2: %.0f msg/s stored and acked on the host (%llu in %.1f s), "
	       "chan_flood: sent %llu, acked %llu, lost %llu, %llu msg/s\n", host_rate,
	       (unsigned long long)(e1 - e0), t1 - t0, sent, acked, lost, guest_rate);
	printf("  c3 (configured %d ms): quiet %.0f ms (%llu passes), under the flood %.0f ms "
	       "(%llu passes); ringwatchd: %.0f%% of a core, RssAnon %ld -> %ld KiB, event store "
	       "+%lld KiB (%.0f bytes/event)\n", INTERVAL_MS, quiet_ms,
	       (unsigned long long)quiet_passes, flood_ms, (unsigned long long)flood_passes,
	       100.0 * (cpu1 - cpu0) / (t1 - t0), anon0, anon1, (store1 - store0) / 1024,
	       e_end > e_start ? (double)(store1 - store0) / (double)(e_end - e_start) : 0.0);
	assert_string_equal(status, "ok");
	assert_int_equal(lost, 0);
	assert_true(acked == sent);
	/* Every acknowledged message is a stored event (the agent may add a few). */
	if (e_end - e_start < acked)
		fail_msg("chan_flood got %llu ACKs but only %llu channel events were stored", acked,
			 (unsigned long long)(e_end - e_start));
	if (host_rate < FLOOD_FLOOR_PER_S)
		fail_msg("the flood reached only %.0f msg/s (floor %d): no flood to measure against",
			 host_rate, FLOOD_FLOOR_PER_S);
	if (flood_ms > 2.0 * INTERVAL_MS)
		fail_msg("c3's check interval stretched to %.0f ms under c2's flood (> 2 x %d ms)",
			 flood_ms, INTERVAL_MS);
	if (anon1 - anon0 > FLOOD_ANON_GROWTH_MAX_KIB)
		fail_msg("ringwatchd's anonymous memory grew by %ld KiB during the flood",
			 anon1 - anon0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_launch_events_policy),
		cmocka_unit_test(test_kill9_while_streaming),
		cmocka_unit_test(test_flood_keeps_other_interval),
	};

	if (getenv("RW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * BPF LSM e2e: one kit guest with ringwatch-agent started from rc.d and a
 * default policy, attached to a private ringwatchd (the test's own
 * ringwatch-vsockd, `ringwatch attach`); each test attacks (or uses) the
 * guest through its command shell and checks the refusal in the guest AND
 * the event ringwatchd received and stored.
 *
 * The agent runs as in production: no --debug-ctl, no etc/ringwatch/agent.args,
 * so its debug FIFO does not exist.
 *  - Every assertion on events goes through events_received():
 *    `ringwatch events VM --json`, agent events only, one compact line per
 *    event with the daemon's own fields (check, severity, kind, verdict,
 *    errno, comm, sha256) followed by the agent's report as stored
 *    (tests/lib/bpf_host.c).  The agent's local log is never read.
 *  - Every policy change is `ringwatch policy VM add|remove RULE`; the daemon
 *    returns once the agent ACKed the frame, and the test then waits for the
 *    agent's policy-applied report of that generation on the host.
 *  - Synchronisation (agent_sync) is a no-op host policy push: the agent
 *    drains its ring buffer before it handles a host frame, so once the
 *    report of that push is stored, every earlier event is stored too.
 *  - Health: the agent sends its health report to the host when it starts
 *    (and whenever a periodic check is not ok); later checks wait for a new
 *    HEARTBEAT (`ringwatch status`), which follows that periodic check.
 *  - Agent restart: there is no host command to restart the agent and the
 *    FIFO is gone in production, so the test kills it the way it can really
 *    die: SIGKILL sent from ring 0 (rwtest_guard.ko action=kill, allowlisted
 *    by the host at runtime); init's loop restarts it.
 *  - The USB mount case boots a second guest (generic-flavor kit with USB
 *    storage, $RW_KIT_USB, default build/kit/amd64) attached to the same
 *    daemon under its own VM name.
 *
 * Needs: the kit ($RW_KIT), build/rel/bin/{ringwatchd,ringwatch,
 * ringwatch-vsockd}, the payloads (scripts/build-payloads and
 * scripts/build-guest-bpf into $RW_PAYLOADS).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include <jansson.h>

#include "tests/lib/bpf_host.h"
#include "tests/lib/harness.h"

#define GUEST_MODDIR "/lib/modules/rwtest"
#define GUEST_PATH "export PATH=/usr/sbin:/usr/bin:/bin; "

/* Kit modules used as test subjects: small, no dependencies, harmless. */
static const char *const kit_modules[][2] = {
	{ "crc7", "kernel/lib/crc7.ko" },		/* never allowed */
	{ "dummy", "kernel/drivers/net/dummy.ko" },	/* allowed by hash in the default policy */
	{ "nlmon", "kernel/drivers/net/nlmon.ko" },	/* allowed at runtime */
};

static struct rw_test_env env;
static struct rw_bpf_host host;		/* ringwatchd the guests stream to */
static struct rw_bpf_host_guest main_g = { .name = "bpf-lsm" };
static struct rw_bpf_host_guest usb_g;	/* generic-flavor guest with a USB stick */
static struct rw_bpf_host_guest *g_now = &main_g;	/* the guest the helpers talk to */
static char overlay[128];
static char usb_overlay[128], usb_img[160];	/* the USB case's, removed by teardown too */
static char hash_dummy[65], hash_nlmon[65], hash_crc7[65], hash_hello[65], hash_guard[65];

/* ---- host-side helpers ------------------------------------------------- */

static void *slurp(const char *path, size_t *len)
{
	struct stat st;
	void *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		fail_msg("cannot read %s: %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		fail_msg("short read on %s", path);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void sha256_file(const char *path, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t len;
	void *data = slurp(path, &len);

	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(data);
}

static void copy_into(const char *dir, const char *rel, const char *src, int mode)
{
	char path[1024], parent[1100];
	size_t len;
	void *data = slurp(src, &len);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(parent, sizeof(parent), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(parent), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		fail_msg("writing %s: %s", path, strerror(errno));
	fchmod(fd, (mode_t)mode);
	close(fd);
	free(data);
}

static void need_file(const char *path, const char *what)
{
	if (access(path, R_OK))
		fail_msg("missing %s: %s (build it with scripts/build-guest-bpf / "
			 "scripts/build-payloads)", what, path);
}

/* ---- guest-side helpers ------------------------------------------------ */

/* Run a command that must succeed; returns its output (free it). */
static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	n = snprintf(cmd, sizeof(cmd), "%s", GUEST_PATH);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return rw_test_guest_sh(&g_now->vm, cmd, 120);
}

/* Run a command whose exit status the test checks itself. */
static char *sh_status(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sh_status(int *status, const char *fmt, ...)
{
	char cmd[2048], err[512];
	char *out = NULL;
	va_list ap;
	int n;

	n = snprintf(cmd, sizeof(cmd), "%s", GUEST_PATH);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if (rw_vm_exec(&g_now->vm, cmd, 120000, &out, status, err, sizeof(err)))
		fail_msg("guest command '%s': %s", cmd, err);
	return out;
}

/*
 * Every agent event ringwatchd stored for the current guest, one compact JSON
 * object per line (host fields, then "report").  THE one place that knows
 * where events arrive (see the file comment).
 */
static char *events_received(void)
{
	return rw_bpf_host_agent_lines(&host, g_now->name);
}

/* Lines of @text containing every needle (NULL terminated). */
/*
 * @needle occurs in @text[0..len); a needle ending in a digit must not be
 * followed by one ("pid":12 does not match "pid":123).  The daemon stores
 * the agent's report with its keys reordered, so needles name one field each.
 */
static bool has_field(const char *text, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	bool num = nlen && isdigit((unsigned char)needle[nlen - 1]);

	for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), needle, nlen)); p++)
		if (!num || (size_t)(p - text) + nlen >= len ||
		    !isdigit((unsigned char)p[nlen]))
			return true;
	return false;
}

static bool text_has(const char *text, const char *needle)
{
	return text && has_field(text, strlen(text), needle);
}

static int count_lines(const char *text, const char *const *needles)
{
	int n = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		bool all = true;

		for (const char *const *nd = needles; *nd && all; nd++)
			all = has_field(line, len, *nd);
		n += all;
		line = end ? end + 1 : NULL;
	}
	return n;
}

static int count_received(const char *const *needles)
{
	char *log = events_received();
	int n = count_lines(log, needles);

	free(log);
	return n;
}

/* Wait until at least @min received lines match all @needles. */
static void expect_events(int min, const char *const *needles)
{
	char *log;

	for (int i = 0; i < 300; i++) {
		if (count_received(needles) >= min)
			return;
		usleep(200000);
	}
	log = events_received();
	fprintf(stderr, "events received:\n%s", log);
	free(log);
	fprintf(stderr, "expected at least %d line(s) with all of:", min);
	for (const char *const *nd = needles; *nd; nd++)
		fprintf(stderr, " %s", *nd);
	fail_msg("\nexpected event(s) missing (received events above)");
}

#define EXPECT_EVENTS(min, ...) expect_events(min, (const char *const[]){ __VA_ARGS__, NULL })
#define COUNT(...) count_received((const char *const[]){ __VA_ARGS__, NULL })

/*
 * The agent's report answering host policy generation @gen (its "agent" is
 * policy-applied or policy-error), NULL if not stored yet.  Free it.
 */
static json_t *policy_outcome(long long gen)
{
	json_t *evs = rw_bpf_host_agent_events(&host, g_now->name), *e, *found = NULL;
	size_t i;

	json_array_foreach(evs, i, e) {
		json_t *r = json_object_get(json_object_get(e, "detail"), "report");
		const char *agent = json_string_value(json_object_get(r, "agent"));
		const char *origin = json_string_value(json_object_get(r, "origin"));

		if (agent && origin && !strcmp(origin, "host") &&
		    json_integer_value(json_object_get(r, "line")) == gen &&
		    (!strcmp(agent, "policy-applied") || !strcmp(agent, "policy-error")))
			found = json_incref(r);
	}
	json_decref(evs);
	return found;
}

/*
 * `ringwatch policy VM @op @rule`, then wait until the agent's report of that
 * generation is stored: it must be policy-applied with command @agent_line.
 */
static void host_update(const char *op, const char *rule, const char *agent_line)
{
	long long gen = rw_bpf_host_policy(&host, g_now->name, op, rule);
	json_t *r = NULL;
	char *text;

	for (int i = 0; i < 300 && !(r = policy_outcome(gen)); i++)
		usleep(200000);
	if (!r)
		fail_msg("no report from the agent for policy generation %lld (%s %s)", gen, op,
			 rule);
	text = json_dumps(r, JSON_COMPACT);
	if (strcmp(json_string_value(json_object_get(r, "agent")), "policy-applied") ||
	    !json_string_value(json_object_get(r, "command")) ||
	    strcmp(json_string_value(json_object_get(r, "command")), agent_line))
		fail_msg("policy %s %s: agent report %s, want policy-applied of '%s'", op, rule,
			 text, agent_line);
	free(text);
	json_decref(r);
}

/*
 * Wait until the host has everything the agent saw so far: a no-op policy
 * push (LD_PRELOAD is watched already).  The agent drains its ring buffer
 * before it handles a host frame, so its report of the push follows every
 * event committed before; the daemon stores a stream in order.
 */
static void agent_sync(void)
{
	host_update("add", "env-watch LD_PRELOAD", "env-watch LD_PRELOAD");
}

/* The latest health report from agent @pid (0: any) stored on the host, or NULL. */
static char *latest_health_of(int pid)
{
	char *log = events_received(), *line, *end, *copy = NULL, want[32];

	snprintf(want, sizeof(want), "\"pid\":%d", pid);
	for (line = log; line && *line; line = end ? end + 1 : NULL) {
		size_t len;

		end = strchr(line, '\n');
		len = end ? (size_t)(end - line) : strlen(line);
		if (has_field(line, len, "\"agent\":\"health\"") &&
		    (!pid || has_field(line, len, want))) {
			free(copy);
			copy = strndup(line, len);
		}
	}
	free(log);
	return copy;
}

/*
 * The agent is still healthy now: it reports health to the host when it
 * starts and whenever its periodic check (every 10 s) is not ok, right
 * before that period's HEARTBEAT.  So once a heartbeat newer than @since
 * is stored, a health problem since then would be stored as well.
 */
static void expect_still_healthy(long long since)
{
	const char *const bad[] = { "\"agent\":\"health\"", "\"ok\":false", NULL };
	const char *const failed[] = { "\"agent\":\"failed\"", NULL };
	long long hb = 0;

	for (int i = 0; i < 600 && (hb = rw_bpf_host_agent_heartbeat(&host, g_now->name)) <= since;
	     i++)
		usleep(200000);
	if (hb <= since)
		fail_msg("no agent heartbeat after #%lld reached the host in 120 s", since);
	assert_int_equal(count_received(bad), 0);
	assert_int_equal(count_received(failed), 0);
}

static int agent_pid(void)
{
	char *out = sh("cat /run/ringwatch/agent.pid");
	int pid = atoi(out);

	free(out);
	assert_true(pid > 1);
	return pid;
}

/* ---- fixture ----------------------------------------------------------- */

static void build_overlay(void)
{
	char src[1024], policy[2048], rel[256];

	rw_test_mkdtemp(overlay, sizeof(overlay), "bpf-lsm");
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", env.payloads);
	need_file(src, "ringwatch-agent");
	copy_into(overlay, "usr/sbin/ringwatch-agent", src, 0755);
	snprintf(src, sizeof(src), "%s/guest/bpf/rc.d/50-ringwatch-agent", env.top);
	need_file(src, "the agent's rc.d script");
	copy_into(overlay, "etc/ringwatch/rc.d/50-ringwatch-agent", src, 0755);
	for (const char *const *p = (const char *const[]){ "rw_modload", "rw_hello", "rw_selfdel",
							     "rw_attack", NULL }; *p; p++) {
		snprintf(src, sizeof(src), "%s/bin/%s", env.payloads, *p);
		need_file(src, "test payload");
		snprintf(rel, sizeof(rel), "usr/bin/%s", *p);
		copy_into(overlay, rel, src, 0755);
	}
	snprintf(src, sizeof(src), "%s/bin/rw_hello", env.payloads);
	sha256_file(src, hash_hello);
	for (size_t i = 0; i < sizeof(kit_modules) / sizeof(kit_modules[0]); i++) {
		snprintf(src, sizeof(src), "%s/root/lib/modules/%s/%s", env.kit, env.kver,
			 kit_modules[i][1]);
		need_file(src, "kit module");
		snprintf(rel, sizeof(rel), "lib/modules/rwtest/%s.ko", kit_modules[i][0]);
		copy_into(overlay, rel, src, 0644);
		sha256_file(src, i == 0 ? hash_crc7 : i == 1 ? hash_dummy : hash_nlmon);
	}
	/* Kills the agent from ring 0 for test_agent_restart (allowlisted there, by the host). */
	snprintf(src, sizeof(src), "%s/kmod/rwtest_guard.ko", env.payloads);
	need_file(src, "test kernel module");
	copy_into(overlay, "lib/modules/rwtest/rwtest_guard.ko", src, 0644);
	sha256_file(src, hash_guard);
	snprintf(policy, sizeof(policy),
		 "# ringwatch default policy for the BPF LSM e2e test\n"
		 "module-allow dummy %s\n"
		 "module-allow crc7 abababababababababababababababababababababababababababababababab\n"
		 "exec-deny %s\n"
		 "env-watch LD_PRELOAD\n"
		 "env-watch LD_LIBRARY_PATH\n"
		 "env-watch LD_AUDIT\n"
		 "usb-mount deny\n",
		 hash_dummy, hash_hello);
	rw_test_write_file(overlay, "etc/ringwatch/policy", policy, 0644);
	/* No etc/ringwatch/agent.args: the agent runs as in production (no debug FIFO). */
}

static int setup(void **state)
{
	struct rw_test_boot opts = { .name = "bpf-lsm", .cpus = 2, .memory_mib = 768 };
	char ready[512];

	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	build_overlay();
	rw_bpf_host_start(&host, &env, 5000);
	opts.overlay_dir = overlay;
	rw_bpf_host_boot(&host, &env, main_g.name, &opts, &main_g, ready, sizeof(ready));
	if (!strstr(ready, "failed_rc=0"))
		fail_msg("an rc.d script failed (agent did not start?): %s", ready);
	return 0;
}

/* Keep the guest console (agent output, kernel messages) for post-mortems. */
static void save_serial_log(struct rw_vm *guest, const char *name)
{
	char path[700], *tail = rw_vm_serial_tail(guest, 4u << 20);
	FILE *f;

	snprintf(path, sizeof(path), "%s/test-logs", env.build);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/test-logs/%s.serial.log", env.build, name);
	f = fopen(path, "w");
	if (f && tail)
		fputs(tail, f);
	if (f)
		fclose(f);
	free(tail);
}

static int teardown(void **state)
{
	(void)state;
	g_now = &main_g;
	if (usb_g.vm.pid) {	/* the USB test failed half-way */
		save_serial_log(&usb_g.vm, "e2e_bpf_lsm-usb");
		rw_bpf_host_shutdown(&host, &usb_g);
	}
	if (main_g.vm.pid)
		save_serial_log(&main_g.vm, "e2e_bpf_lsm");
	rw_bpf_host_shutdown(&host, &main_g);
	rw_bpf_host_stop(&host);
	rw_test_rmtree(overlay);
	if (usb_img[0])
		unlink(usb_img);
	if (usb_overlay[0])
		rw_test_rmtree(usb_overlay);
	return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_agent_up(void **state)
{
	char *out;

	(void)state;
	EXPECT_EVENTS(1, "\"agent\":\"started\"", "\"mode\":\"loaded\"");
	/* The health report of the agent's start, as the host stored it. */
	EXPECT_EVENTS(1, "\"check\":\"lsm-event\"", "\"agent\":\"health\"");
	out = latest_health_of(agent_pid());
	assert_non_null(out);
	assert_true(text_has(out, "\"ok\":true"));
	assert_true(text_has(out, "\"mode\":\"loaded\""));
	assert_true(text_has(out, "\"exec_deny\":1"));
	assert_true(text_has(out, "\"env_watch\":3"));
	assert_true(text_has(out, "\"ima\":\"installed\""));
	assert_true(text_has(out, "\"module_enforce\":true"));
	free(out);
	assert_int_equal(COUNT("\"agent\":\"policy-error\""), 0);
	/* Its stream is up: heartbeats are stored as the agent's latest state. */
	assert_true(rw_bpf_host_agent_heartbeat(&host, g_now->name) >= 1);
	out = sh("ls /sys/fs/bpf/ringwatch");
	assert_non_null(strstr(out, "link_rw_exec_check"));
	assert_non_null(strstr(out, "map_rw_events"));
	free(out);
}

static void expect_module_refused(const char *how, const char *name, const char *origin,
				  const char *hash)
{
	char mod[64], sha[80], org[64];
	int status, before;
	char *out;

	snprintf(mod, sizeof(mod), "\"module\":\"%s\"", name);
	snprintf(sha, sizeof(sha), "\"sha256\":\"%s\"", hash);
	snprintf(org, sizeof(org), "\"origin\":\"%s\"", origin);
	before = COUNT("\"event\":\"module-denied\"", mod, sha, org);
	out = sh_status(&status, "rw_modload %s " GUEST_MODDIR "/%s.ko", how, name);
	assert_string_equal(out, "error EPERM 1\n");
	free(out);
	EXPECT_EVENTS(before + 1, "\"severity\":\"warning\",\"kind\":\"module-load\","
		      "\"verdict\":\"deny\",\"errno\":1", "\"event\":\"module-denied\"",
		      "\"verdict\":\"deny\"", mod, sha, org, "\"reason\":\"not-allowlisted\"");
	out = sh("grep -c '^%s ' /proc/modules || true", name);
	assert_string_equal(out, "0\n");
	free(out);
}

static void test_module_not_allowlisted_finit(void **state)
{
	(void)state;
	expect_module_refused("finit", "crc7", "finit_module", hash_crc7);
}

static void test_module_not_allowlisted_init(void **state)
{
	(void)state;
	expect_module_refused("init", "crc7", "init_module", hash_crc7);
}

/* busybox insmod tries finit_module and falls back to init_module: both refused. */
static void test_module_busybox_insmod(void **state)
{
	const char *mod = "\"module\":\"crc7\"", *comm = "\"comm\":\"insmod\"";
	int status, finit, init;
	char *out;

	(void)state;
	finit = COUNT("\"event\":\"module-denied\"", mod, comm, "\"origin\":\"finit_module\"");
	init = COUNT("\"event\":\"module-denied\"", mod, comm, "\"origin\":\"init_module\"");
	out = sh_status(&status, "insmod " GUEST_MODDIR "/crc7.ko 2>&1");
	assert_int_not_equal(status, 0);
	free(out);
	EXPECT_EVENTS(finit + 1, "\"event\":\"module-denied\"", mod, comm,
		      "\"origin\":\"finit_module\"");
	EXPECT_EVENTS(init + 1, "\"event\":\"module-denied\"", mod, comm,
		      "\"origin\":\"init_module\"");
}

static void test_module_allowlisted_loads(void **state)
{
	char *out;

	(void)state;
	out = sh("rw_modload finit " GUEST_MODDIR "/dummy.ko && grep -c '^dummy ' /proc/modules "
		 "&& rmmod dummy && rw_modload init " GUEST_MODDIR "/dummy.ko && rmmod dummy");
	assert_string_equal(out, "ok\n1\nok\n");
	free(out);
	agent_sync();
	assert_int_equal(COUNT("\"module\":\"dummy\""), 0);
}

static void test_module_allowed_at_runtime(void **state)
{
	char rule[200], line[200];
	char *out;

	(void)state;
	expect_module_refused("finit", "nlmon", "finit_module", hash_nlmon);
	snprintf(rule, sizeof(rule), "module-allow nlmon %s", hash_nlmon);
	host_update("add", rule, rule);
	out = sh("insmod " GUEST_MODDIR "/nlmon.ko && grep -c '^nlmon ' /proc/modules && "
		 "rmmod nlmon");
	assert_string_equal(out, "1\n");
	free(out);
	/* ... and off the list again. */
	snprintf(line, sizeof(line), "module-remove nlmon %s", hash_nlmon);
	host_update("remove", rule, line);
	expect_module_refused("init", "nlmon", "init_module", hash_nlmon);
}

static void expect_exec_refused(const char *path)
{
	char file[300], sha[80];
	int status, before;
	char *out;

	snprintf(file, sizeof(file), "\"file\":\"%s\"", path);
	snprintf(sha, sizeof(sha), "\"sha256\":\"%s\"", hash_hello);
	before = COUNT("\"event\":\"exec-denied\"", file);
	out = sh_status(&status, "%s 2>&1", path);
	assert_int_not_equal(status, 0);
	assert_null(strstr(out, "rw_hello ran"));
	free(out);
	EXPECT_EVENTS(before + 1, "\"kind\":\"exec\",\"verdict\":\"deny\",\"errno\":1",
		      "\"event\":\"exec-denied\"", "\"verdict\":\"deny\"", file, sha);
}

static void test_exec_denied_by_hash(void **state)
{
	char *out;

	(void)state;
	expect_exec_refused("/usr/bin/rw_hello");
	free(sh("cp /usr/bin/rw_hello /tmp/innocent"));
	expect_exec_refused("/tmp/innocent");
	free(sh("mv /tmp/innocent /tmp/renamed"));
	expect_exec_refused("/tmp/renamed");
	/* A different file is not affected; and one byte changes the hash. */
	free(sh("cp /usr/bin/rw_hello /tmp/patched && echo >> /tmp/patched"));
	out = sh("/tmp/patched");
	assert_string_equal(out, "rw_hello ran\n");
	free(out);
}

static void test_exec_deny_runtime_update(void **state)
{
	char rule[200], line[200];
	char *out;

	(void)state;
	snprintf(rule, sizeof(rule), "exec-deny %s", hash_hello);
	snprintf(line, sizeof(line), "exec-remove %s", hash_hello);
	host_update("remove", rule, line);
	out = sh("/usr/bin/rw_hello");
	assert_string_equal(out, "rw_hello ran\n");
	free(out);
	host_update("add", rule, rule);
	expect_exec_refused("/usr/bin/rw_hello");
}

static void test_self_deleting_exec(void **state)
{
	char *out;

	(void)state;
	out = sh("cp /usr/bin/rw_selfdel /tmp/dropper && /tmp/dropper && ls /tmp");
	assert_non_null(strstr(out, "rw_selfdel removed /tmp/dropper"));
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"self-unlink\"", "\"comm\":\"dropper\"",
		      "\"file\":\"dropper\"");
}

static void test_ld_preload_exec(void **state)
{
	char *out;

	(void)state;
	out = sh("env LD_PRELOAD=/tmp/evil.so /bin/true && echo done");
	assert_string_equal(out, "done\n");
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"exec-env\"", "\"variable\":\"LD_PRELOAD=/tmp/evil.so\"",
		      "\"file\":\"/bin/true\"");
	/* Long arguments before the environment do not hide it. */
	free(sh("env LD_AUDIT=/x /bin/echo %0400d > /dev/null", 0));
	EXPECT_EVENTS(1, "\"event\":\"exec-env\"", "\"variable\":\"LD_AUDIT=/x\"");
}

static void test_guard_bpf_objects(void **state)
{
	long long hb = rw_bpf_host_agent_heartbeat(&host, g_now->name);
	char *out;

	(void)state;
	out = sh("rw_attack bpf /sys/fs/bpf/ringwatch");
	if (!strstr(out, "succeeded=0 ") || strstr(out, "denied=0 "))
		fail_msg("an attack on ringwatch's BPF objects got through:\n%s", out);
	free(out);
	EXPECT_EVENTS(1, "\"severity\":\"alert\"", "\"event\":\"guard-bpf\"",
		      "\"cmd\":\"link-get-fd-by-id\"", "\"object\":\"link\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-bpf\"", "\"object\":\"map\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-bpf\"", "\"object\":\"prog\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"open\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"unlink\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"rename\"");
	out = sh_status(&(int){ 0 }, "umount /sys/fs/bpf 2>&1; grep -c ' /sys/fs/bpf ' /proc/mounts");
	assert_non_null(strstr(out, "1\n"));
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"umount\"");
	/* Everything still attached (pins in the guest, the agent's own check on the host). */
	out = sh("ls /sys/fs/bpf/ringwatch");
	assert_non_null(strstr(out, "link_rw_exec_check"));
	free(out);
	expect_still_healthy(hb);
}

static void test_guard_agent_process(void **state)
{
	int pid = agent_pid(), status;
	char *out, target[32];

	(void)state;
	snprintf(target, sizeof(target), "\"target\":%d", pid);
	out = sh_status(&status, "kill -9 %d 2>&1; kill -TERM %d 2>&1; sleep 1; "
			"test -d /proc/%d && echo alive", pid, pid, pid);
	assert_non_null(strstr(out, "alive"));
	free(out);
	EXPECT_EVENTS(1, "\"severity\":\"alert\"", "\"event\":\"guard-signal\"", target,
		      "\"signal\":9");
	EXPECT_EVENTS(1, "\"event\":\"guard-signal\"", target, "\"signal\":15");
	out = sh("rw_attack ptrace %d", pid);
	if (!strstr(out, "succeeded=0 denied=2"))
		fail_msg("ptrace of the agent was not refused:\n%s", out);
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"guard-ptrace\"", target);
	out = sh("rw_attack fds %d", pid);
	if (!strstr(out, "succeeded=0 "))
		fail_msg("the agent's descriptors were reachable:\n%s", out);
	free(out);
	/* The binary that carries the agent's identity cannot be rewritten. */
	out = sh_status(&status, "echo x >> /usr/sbin/ringwatch-agent 2>&1");
	assert_int_not_equal(status, 0);
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"guard-agent-exe\"");
	assert_int_equal(agent_pid(), pid);
}

static void test_credential_change(void **state)
{
	char *out;

	(void)state;
	out = sh("rw_attack setuid 1000");
	assert_non_null(strstr(out, "setresuid 1000 ok"));
	free(out);
	/* the agent forwards it as CRED_CHANGE; the daemon stores it as a cred-change event */
	EXPECT_EVENTS(1, "\"check\":\"cred-change\"", "\"via\":\"task_fix_setuid\"",
		      "\"old_uid\":0", "\"old_euid\":0", "\"new_uid\":1000", "\"new_euid\":1000",
		      "\"comm\":\"rw_attack\"");
}

/*
 * The agent dies anyway and comes back: SIGKILL sent from ring 0
 * (rwtest_guard.ko action=kill; a kernel-sent signal does not pass
 * security_task_kill(), so no BPF program can refuse it).  There is no host
 * command that restarts the agent, and the debug FIFO the graceful
 * `restart` line used does not exist in production (no --debug-ctl), so
 * this is the path tested.  init's loop starts the agent again, it
 * reattaches to the pins, keeps the policy (including the host's runtime
 * updates) and delivers what happened while it was away.
 */
static void test_agent_restart(void **state)
{
	int old_pid = agent_pid(), new_pid = 0, before, status;
	char nlmon[200], guard[200], needle[64], *out, *health;

	(void)state;
	snprintf(nlmon, sizeof(nlmon), "module-allow nlmon %s", hash_nlmon);
	host_update("add", nlmon, nlmon);
	snprintf(guard, sizeof(guard), "module-allow rwtest_guard %s", hash_guard);
	host_update("add", guard, guard);
	before = COUNT("\"event\":\"module-denied\"", "\"comm\":\"rw_modload\"",
		       "\"origin\":\"init_module\"", "\"module\":\"crc7\"");
	/* While it is away (init's loop waits 1 s) the guard holds and events queue up. */
	out = sh_status(&status, "insmod " GUEST_MODDIR "/rwtest_guard.ko action=kill pid=%d && "
			"rmmod rwtest_guard && echo killed && rw_modload init " GUEST_MODDIR
			"/crc7.ko", old_pid);
	assert_string_equal(out, "killed\nerror EPERM 1\n");
	free(out);
	for (int i = 0; i < 300 && (new_pid <= 1 || new_pid == old_pid); i++) {
		usleep(100000);
		out = sh("cat /run/ringwatch/agent.pid 2>/dev/null || echo 0");
		new_pid = atoi(out);
		free(out);
	}
	if (new_pid <= 1 || new_pid == old_pid)
		fail_msg("the agent (pid %d) was not restarted", old_pid);
	snprintf(needle, sizeof(needle), "\"pid\":%d", new_pid);
	EXPECT_EVENTS(1, "\"agent\":\"started\"", needle, "\"mode\":\"reattached\"");
	EXPECT_EVENTS(before + 1, "\"event\":\"module-denied\"", "\"comm\":\"rw_modload\"",
		      "\"origin\":\"init_module\"", "\"module\":\"crc7\"");
	EXPECT_EVENTS(1, "\"agent\":\"health\"", needle);
	health = latest_health_of(new_pid);
	assert_non_null(health);
	assert_true(text_has(health, "\"ok\":true"));
	assert_true(text_has(health, "\"mode\":\"reattached\""));
	assert_true(text_has(health, "\"module_allow\":4"));
	assert_true(text_has(health, "\"exec_deny\":1"));
	assert_true(text_has(health, "\"env_watch\":3"));
	free(health);
	out = sh("insmod " GUEST_MODDIR "/nlmon.ko && rmmod nlmon && echo loaded");
	assert_string_equal(out, "loaded\n");
	free(out);
	/* The new instance is protected like the old one, and reports it. */
	out = sh_status(&status, "kill -9 %d 2>&1; sleep 1; test -d /proc/%d && echo alive",
			new_pid, new_pid);
	assert_non_null(strstr(out, "alive"));
	free(out);
	snprintf(needle, sizeof(needle), "\"target\":%d", new_pid);
	EXPECT_EVENTS(1, "\"event\":\"guard-signal\"", needle, "\"signal\":9");
	snprintf(guard, sizeof(guard), "module-allow rwtest_guard %s", hash_guard);
	snprintf(nlmon, sizeof(nlmon), "module-remove rwtest_guard %s", hash_guard);
	host_update("remove", guard, nlmon);
}

/* Legitimate activity under the full policy produces no event at all. */
static void test_legitimate_workload_is_quiet(void **state)
{
	const char *const any_event[] = { "\"event\":", NULL };
	int before, after, execs = 0;
	char *out;

	(void)state;
	agent_sync();
	before = count_received(any_event);
	out = sh("i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i + 1)); done; echo $i");
	execs += atoi(out);
	free(out);
	out = sh("for i in 1 2 3 4 5 6 7 8 9 10; do mkdir -p /mnt/t$i && mount -t tmpfs none "
		 "/mnt/t$i && echo x > /mnt/t$i/f && umount /mnt/t$i || exit 1; done; "
		 "for i in 1 2 3 4 5; do insmod " GUEST_MODDIR "/dummy.ko && rmmod dummy || exit 1; "
		 "done; ls /sys/fs/bpf/ringwatch > /dev/null; ps > /dev/null; echo fine");
	assert_string_equal(out, "fine\n");
	free(out);
	assert_int_equal(execs, 2000);
	agent_sync();
	after = count_received(any_event);
	if (after != before) {
		char *log = events_received();

		fail_msg("legitimate workload produced %d event(s):\n%s", after - before, log);
	}
	/* Nothing lost: the agent reports ring-buffer drops ("overflow") as soon as
	 * its counter moves -- after it handled the previous host frame, hence a
	 * second sync -- and the channel's own losses arrive as channel-loss. */
	agent_sync();
	assert_int_equal(COUNT("\"agent\":\"overflow\""), 0);
	assert_int_equal(COUNT("\"check\":\"channel-loss\""), 0);
}

/*
 * Removable/USB block devices: a QEMU usb-storage stick on the generic
 * kernel flavor (the cloud kernel has no USB).  Mounting it works before
 * boot-complete and is refused after; tmpfs is not affected; the rule can
 * be switched off at runtime.
 */
static void test_usb_mount_rule(void **state)
{
	struct rw_test_env usb_env;
	struct rw_test_boot opts = { .name = "bpf-usb", .cpus = 1, .memory_mib = 768 };
	char kit[600], drive[800], ready[512], src[1024], *out;
	const char *saved = getenv("RW_KIT");
	const char *args[] = { "-device", "qemu-xhci,id=xhci", "-drive", drive, "-device",
			       "usb-storage,bus=xhci.0,drive=usbstick,removable=on", NULL };
	int fd, status;

	(void)state;
	if (getenv("RW_KIT_USB"))
		snprintf(kit, sizeof(kit), "%s", getenv("RW_KIT_USB"));
	else
		snprintf(kit, sizeof(kit), "%s/kit/amd64", env.build);
	snprintf(src, sizeof(src), "%s/modules/usb_storage.ko", kit);
	if (access(src, R_OK))
		fail_msg("missing the generic-flavor kit with USB storage modules at %s (RW_KIT_USB); "
			 "build it with RW_KIT_EXTRA_MODULES=\"xhci_pci usb_storage sd_mod vfat "
			 "nls_cp437 nls_iso8859_1 nls_utf8\" scripts/mkkit amd64 %s", kit, kit);
	setenv("RW_KIT", kit, 1);
	rw_test_env_load(&usb_env);
	if (saved)
		setenv("RW_KIT", saved, 1);
	else
		unsetenv("RW_KIT");

	rw_test_mkdtemp(usb_overlay, sizeof(usb_overlay), "bpf-usb");
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", env.payloads);
	copy_into(usb_overlay, "usr/sbin/ringwatch-agent", src, 0755);
	snprintf(src, sizeof(src), "%s/guest/bpf/rc.d/50-ringwatch-agent", env.top);
	copy_into(usb_overlay, "etc/ringwatch/rc.d/50-ringwatch-agent", src, 0755);
	rw_test_write_file(usb_overlay, "etc/ringwatch/policy", "usb-mount deny\n", 0644);
	snprintf(usb_img, sizeof(usb_img), "%s-stick.img", usb_overlay);
	fd = open(usb_img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	close(fd);
	snprintf(drive, sizeof(drive), "if=none,id=usbstick,format=raw,file=%s", usb_img);
	opts.overlay_dir = usb_overlay;
	opts.extra_args = args;
	g_now = &usb_g;
	rw_bpf_host_boot(&host, &usb_env, "bpf-usb", &opts, g_now, ready, sizeof(ready));
	if (!strstr(ready, "failed_rc=0"))
		fail_msg("an rc.d script failed: %s", ready);
	EXPECT_EVENTS(1, "\"agent\":\"started\"", "\"mode\":\"loaded\"");

	out = sh("for i in $(seq 100); do [ -b /dev/sda ] && break; sleep 0.2; done; "
		 "mkdosfs /dev/sda > /dev/null && mkdir -p /mnt/usb && mount -t vfat -o iocharset=utf8 /dev/sda "
		 "/mnt/usb && echo before > /mnt/usb/f && umount /mnt/usb && echo mounted");
	assert_string_equal(out, "mounted\n");
	free(out);
	agent_sync();
	assert_int_equal(COUNT("\"event\":\"mount-denied\""), 0);
	free(sh("ringwatch-agent boot-complete"));
	out = sh_status(&status, "mount -t vfat -o iocharset=utf8 /dev/sda /mnt/usb 2>&1");
	assert_int_not_equal(status, 0);
	free(out);
	EXPECT_EVENTS(1, "\"kind\":\"mount\",\"verdict\":\"deny\",\"errno\":1",
		      "\"event\":\"mount-denied\"", "\"verdict\":\"deny\"",
		      "\"removable\":true", "\"usb\":true", "\"fstype\":\"vfat\"", "\"disk\":\"sda\"");
	out = sh("mount -t tmpfs none /mnt && umount /mnt && grep -c /mnt/usb /proc/mounts || true");
	assert_string_equal(out, "0\n");
	free(out);
	host_update("add", "usb-mount allow", "usb-mount allow");
	out = sh("mount -t vfat -o iocharset=utf8 /dev/sda /mnt/usb && cat /mnt/usb/f && umount /mnt/usb");
	assert_string_equal(out, "before\n");
	free(out);
	agent_sync();
	assert_int_equal(COUNT("\"event\":\"mount-denied\""), 1);
	save_serial_log(&g_now->vm, "e2e_bpf_lsm-usb");
	rw_bpf_host_shutdown(&host, g_now);
	g_now = &main_g;
	unlink(usb_img);
	rw_test_rmtree(usb_overlay);
	usb_img[0] = usb_overlay[0] = '\0';
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_up),
		cmocka_unit_test(test_module_not_allowlisted_finit),
		cmocka_unit_test(test_module_not_allowlisted_init),
		cmocka_unit_test(test_module_busybox_insmod),
		cmocka_unit_test(test_module_allowlisted_loads),
		cmocka_unit_test(test_module_allowed_at_runtime),
		cmocka_unit_test(test_exec_denied_by_hash),
		cmocka_unit_test(test_exec_deny_runtime_update),
		cmocka_unit_test(test_self_deleting_exec),
		cmocka_unit_test(test_ld_preload_exec),
		cmocka_unit_test(test_guard_bpf_objects),
		cmocka_unit_test(test_guard_agent_process),
		cmocka_unit_test(test_credential_change),
		cmocka_unit_test(test_agent_restart),
		cmocka_unit_test(test_legitimate_workload_is_quiet),
		cmocka_unit_test(test_usb_mount_rule),
	};

	if (getenv("RW_TEST_FILTER"))	/* e.g. RW_TEST_FILTER='test_usb*' */
		cmocka_set_test_filter(getenv("RW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * BPF LSM e2e: one kit guest with ringwatch-agent started from rc.d and a
 * default policy; each test attacks (or uses) the guest through its command
 * shell and checks the refusal and the event the agent forwarded.
 *
 * Every assertion on events goes through events_received(), which reads the
 * agent's event log in the guest (its secondary copy; each line carries the
 * channel seq).  This test boots the guest without ringwatchd, so the agent
 * runs with --debug-ctl (etc/ringwatch/agent.args) and policy updates,
 * health requests and restarts go through its debug FIFO.  What the host
 * receives over the channel is asserted by e2e_daemon_channel.
 */
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

#include "tests/lib/harness.h"

#define GUEST_MODDIR "/lib/modules/rwtest"
#define GUEST_LOG "/run/ringwatch/agent-events.log"
#define GUEST_CTL "/run/ringwatch/agent.ctl"
#define GUEST_PATH "export PATH=/usr/sbin:/usr/bin:/bin; "

/* Kit modules used as test subjects: small, no dependencies, harmless. */
static const char *const kit_modules[][2] = {
	{ "crc7", "kernel/lib/crc7.ko" },		/* never allowed */
	{ "dummy", "kernel/drivers/net/dummy.ko" },	/* allowed by hash in the default policy */
	{ "nlmon", "kernel/drivers/net/nlmon.ko" },	/* allowed at runtime */
};

static struct rw_test_env env;
static struct rw_vm main_vm;
static struct rw_vm usb_vm;		/* generic-flavor guest with a USB stick */
static struct rw_vm *vm_now = &main_vm;	/* the guest the helpers talk to */
static char overlay[128];
static char hash_dummy[65], hash_nlmon[65], hash_crc7[65], hash_hello[65];

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
	return rw_test_guest_sh(vm_now, cmd, 120);
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
	if (rw_vm_exec(vm_now, cmd, 120000, &out, status, err, sizeof(err)))
		fail_msg("guest command '%s': %s", cmd, err);
	return out;
}

/*
 * Everything the agent forwarded so far, one JSON object per line.
 * THE one place that knows where events arrive (see the file comment).
 */
static char *events_received(void)
{
	return sh("cat " GUEST_LOG);
}

/* Lines of @text containing every needle (NULL terminated). */
static int count_lines(const char *text, const char *const *needles)
{
	int n = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		bool all = true;

		for (const char *const *nd = needles; *nd && all; nd++) {
			const char *hit = memmem(line, len, *nd, strlen(*nd));

			all = hit != NULL;
		}
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
		usleep(100000);
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
 * Wait until the agent has forwarded everything committed so far: it drains
 * the ring buffer before it handles a command, so once the health report
 * asked for now arrives, earlier events are in.
 */
static void agent_sync(void)
{
	const char *const health[] = { "\"agent\":\"health\"", NULL };
	int before = count_received(health);

	free(sh("echo health > " GUEST_CTL));
	for (int i = 0; i < 300; i++) {
		if (count_received(health) > before)
			return;
		usleep(100000);
	}
	fail_msg("the agent did not answer a health request");
}

/* Send a runtime policy update and wait for the agent's acknowledgement. */
static void agent_update(const char *line)
{
	char needle[600];
	int before;

	snprintf(needle, sizeof(needle), "\"command\":\"%s\"", line);
	before = COUNT("\"agent\":\"policy-applied\"", needle);
	free(sh("echo '%s' > " GUEST_CTL, line));
	for (int i = 0; i < 300; i++) {
		if (COUNT("\"agent\":\"policy-applied\"", needle) > before)
			return;
		usleep(100000);
	}
	fail_msg("the agent did not apply '%s'", line);
}

/* The agent's health report, asked for now (after agent_sync). */
static char *latest_health(void)
{
	char *log, *line, *end, *copy;

	agent_sync();
	log = events_received();
	line = NULL;
	for (char *p = strstr(log, "\"agent\":\"health\""); p; p = strstr(p + 1, "\"agent\":\"health\""))
		line = p;
	assert_non_null(line);
	end = strchr(line, '\n');
	copy = strndup(line, end ? (size_t)(end - line) : strlen(line));
	free(log);
	return copy;
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
	/* No host channel here: policy updates go through the agent's debug FIFO. */
	rw_test_write_file(overlay, "etc/ringwatch/agent.args", "--debug-ctl\n", 0644);
}

static int setup(void **state)
{
	struct rw_test_boot opts = { .name = "bpf-lsm", .cpus = 2, .memory_mib = 768 };
	char ready[512];

	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	build_overlay();
	opts.overlay_dir = overlay;
	rw_test_boot(&env, &opts, &main_vm, ready, sizeof(ready));
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
	vm_now = &main_vm;
	if (usb_vm.pid) {	/* the USB test failed half-way */
		save_serial_log(&usb_vm, "e2e_bpf_lsm-usb");
		rw_vm_stop(&usb_vm);
	}
	save_serial_log(&main_vm, "e2e_bpf_lsm");
	rw_vm_stop(&main_vm);
	rw_test_rmtree(overlay);
	return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_agent_up(void **state)
{
	char *out;

	(void)state;
	EXPECT_EVENTS(1, "\"agent\":\"started\"", "\"mode\":\"loaded\"");
	out = latest_health();
	assert_non_null(strstr(out, "\"ok\":true"));
	assert_non_null(strstr(out, "\"exec_deny\":1,\"env_watch\":3"));
	assert_non_null(strstr(out, "\"ima\":\"installed\""));
	assert_non_null(strstr(out, "\"module_enforce\":true"));
	free(out);
	assert_int_equal(COUNT("\"agent\":\"policy-error\""), 0);
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
	EXPECT_EVENTS(before + 1, "\"event\":\"module-denied\"", "\"verdict\":\"deny\"", mod, sha,
		      org, "\"reason\":\"not-allowlisted\"");
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
	char line[200];
	char *out;

	(void)state;
	expect_module_refused("finit", "nlmon", "finit_module", hash_nlmon);
	snprintf(line, sizeof(line), "module-allow nlmon %s", hash_nlmon);
	agent_update(line);
	out = sh("insmod " GUEST_MODDIR "/nlmon.ko && grep -c '^nlmon ' /proc/modules && "
		 "rmmod nlmon");
	assert_string_equal(out, "1\n");
	free(out);
	/* ... and off the list again. */
	snprintf(line, sizeof(line), "module-remove nlmon %s", hash_nlmon);
	agent_update(line);
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
	EXPECT_EVENTS(before + 1, "\"event\":\"exec-denied\"", "\"verdict\":\"deny\"", file, sha);
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
	char line[200];
	char *out;

	(void)state;
	snprintf(line, sizeof(line), "exec-remove %s", hash_hello);
	agent_update(line);
	out = sh("/usr/bin/rw_hello");
	assert_string_equal(out, "rw_hello ran\n");
	free(out);
	snprintf(line, sizeof(line), "exec-deny %s", hash_hello);
	agent_update(line);
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
	char *out, *health;

	(void)state;
	out = sh("rw_attack bpf /sys/fs/bpf/ringwatch");
	if (!strstr(out, "succeeded=0 ") || strstr(out, "denied=0 "))
		fail_msg("an attack on ringwatch's BPF objects got through:\n%s", out);
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"guard-bpf\"", "\"cmd\":\"link-get-fd-by-id\"",
		      "\"object\":\"link\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-bpf\"", "\"object\":\"map\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-bpf\"", "\"object\":\"prog\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"open\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"unlink\"");
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"rename\"");
	out = sh_status(&(int){ 0 }, "umount /sys/fs/bpf 2>&1; grep -c ' /sys/fs/bpf ' /proc/mounts");
	assert_non_null(strstr(out, "1\n"));
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"guard-pin\"", "\"op\":\"umount\"");
	/* Everything still attached and the agent healthy. */
	health = latest_health();
	assert_non_null(strstr(health, "\"ok\":true"));
	free(health);
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
	EXPECT_EVENTS(1, "\"event\":\"guard-signal\"", target, "\"signal\":9");
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
	EXPECT_EVENTS(1, "\"event\":\"cred-change\"", "\"source\":\"setid\"",
		      "\"old_uid\":0,\"old_euid\":0,\"new_uid\":1000,\"new_euid\":1000",
		      "\"comm\":\"rw_attack\"");
}

/*
 * The agent restarts (here on request; a crash takes the same path): the
 * supervisor starts it again, it reattaches to the pins, keeps the policy
 * (including runtime updates) and delivers what happened while it was away.
 */
static void test_agent_restart(void **state)
{
	int old_pid = agent_pid(), new_pid = 0, before;
	char line[200], *out;

	(void)state;
	snprintf(line, sizeof(line), "module-allow nlmon %s", hash_nlmon);
	agent_update(line);
	before = COUNT("\"event\":\"module-denied\"", "\"comm\":\"rw_modload\"");
	free(sh("echo restart > " GUEST_CTL));
	EXPECT_EVENTS(1, "\"agent\":\"stopping\"");
	/* While it is away the guard holds and events queue up. */
	out = sh_status(&(int){ 0 }, "rw_modload init " GUEST_MODDIR "/crc7.ko");
	assert_string_equal(out, "error EPERM 1\n");
	free(out);
	EXPECT_EVENTS(1, "\"agent\":\"started\"", "\"mode\":\"reattached\"");
	EXPECT_EVENTS(before + 1, "\"event\":\"module-denied\"", "\"comm\":\"rw_modload\"");
	for (int i = 0; i < 100 && (new_pid <= 1 || new_pid == old_pid); i++) {
		usleep(100000);
		new_pid = agent_pid();
	}
	assert_int_not_equal(new_pid, old_pid);
	out = latest_health();
	assert_non_null(strstr(out, "\"ok\":true"));
	assert_non_null(strstr(out, "\"mode\":\"reattached\""));
	assert_non_null(strstr(out, "\"module_allow\":3"));
	free(out);
	out = sh("insmod " GUEST_MODDIR "/nlmon.ko && rmmod nlmon && echo loaded");
	assert_string_equal(out, "loaded\n");
	free(out);
	/* The new instance is protected like the old one. */
	out = sh_status(&(int){ 0 }, "kill -9 %d 2>&1; sleep 1; test -d /proc/%d && echo alive",
			new_pid, new_pid);
	assert_non_null(strstr(out, "alive"));
	free(out);
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
	out = latest_health();
	assert_non_null(strstr(out, "\"ringbuf_drops\":0"));
	free(out);
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
	char kit[600], img[700], drive[800], ready[512], usb_overlay[128], src[1024], *out;
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
	rw_test_write_file(usb_overlay, "etc/ringwatch/agent.args", "--debug-ctl\n", 0644);
	snprintf(img, sizeof(img), "%s-stick.img", usb_overlay);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	close(fd);
	snprintf(drive, sizeof(drive), "if=none,id=usbstick,format=raw,file=%s", img);
	opts.overlay_dir = usb_overlay;
	opts.extra_args = args;
	vm_now = &usb_vm;
	rw_test_boot(&usb_env, &opts, vm_now, ready, sizeof(ready));
	if (!strstr(ready, "failed_rc=0"))
		fail_msg("an rc.d script failed: %s", ready);

	out = sh("for i in $(seq 100); do [ -b /dev/sda ] && break; sleep 0.2; done; "
		 "mkdosfs /dev/sda > /dev/null && mkdir -p /mnt/usb && mount -t vfat -o iocharset=utf8 /dev/sda "
		 "/mnt/usb && echo before > /mnt/usb/f && umount /mnt/usb && echo mounted");
	assert_string_equal(out, "mounted\n");
	free(out);
	free(sh("ringwatch-agent boot-complete"));
	out = sh_status(&status, "mount -t vfat -o iocharset=utf8 /dev/sda /mnt/usb 2>&1");
	assert_int_not_equal(status, 0);
	free(out);
	EXPECT_EVENTS(1, "\"event\":\"mount-denied\"", "\"verdict\":\"deny\"",
		      "\"removable\":true,\"usb\":true,\"fstype\":\"vfat\",\"disk\":\"sda\"");
	out = sh("mount -t tmpfs none /mnt && umount /mnt && grep -c /mnt/usb /proc/mounts || true");
	assert_string_equal(out, "0\n");
	free(out);
	agent_update("usb-mount allow");
	out = sh("mount -t vfat -o iocharset=utf8 /dev/sda /mnt/usb && cat /mnt/usb/f && umount /mnt/usb");
	assert_string_equal(out, "before\n");
	free(out);
	save_serial_log(vm_now, "e2e_bpf_lsm-usb");
	rw_vm_stop(vm_now);
	vm_now = &main_vm;
	unlink(img);
	rw_test_rmtree(usb_overlay);
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

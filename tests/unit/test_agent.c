// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch-agent's pure parts: the policy language, ring-buffer records to
 * JSON, the control line reader, the LSM hook names it registers with
 * ringwatch.ko.  The agent is a guest program outside
 * libringwatch, so its sources are compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "guest/bpf/agent/ctl.c"
#include "guest/bpf/agent/event_json.c"
#include "guest/bpf/agent/kmodreg.c"
#include "guest/bpf/agent/policy.c"

#define H64 "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static int parse(const char *line, struct rw_policy_cmd *cmd, char *err)
{
	return rw_policy_parse_line(line, cmd, err, 256);
}

static void expect_error(const char *line, const char *needle)
{
	struct rw_policy_cmd cmd;
	char err[256] = "";

	if (parse(line, &cmd, err) != -1)
		fail_msg("'%s' was accepted", line);
	if (!strstr(err, needle))
		fail_msg("error for '%s' is '%s', expected '%s'", line, err, needle);
}

static void test_policy_commands(void **state)
{
	struct rw_policy_cmd cmd;
	char err[256];

	(void)state;
	assert_int_equal(parse("module-allow usb-storage " H64, &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_MODULE_ALLOW);
	assert_string_equal(cmd.name, "usb_storage");
	assert_false(cmd.any_hash);
	assert_int_equal(cmd.sha256[0], 0x00);
	assert_int_equal(cmd.sha256[1], 0x11);
	assert_int_equal(cmd.sha256[31], 0xff);

	assert_int_equal(parse("  module-remove\tdummy *   # any image", &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_MODULE_REMOVE);
	assert_true(cmd.any_hash);
	assert_string_equal(cmd.name, "dummy");
	for (int i = 0; i < RW_BPF_SHA256_LEN; i++)
		assert_int_equal(cmd.sha256[i], 0);

	assert_int_equal(parse("exec-deny " H64 "\r\n", &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_EXEC_DENY);
	assert_int_equal(parse("exec-remove " H64, &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_EXEC_REMOVE);

	assert_int_equal(parse("env-watch LD_PRELOAD", &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_ENV_WATCH);
	assert_string_equal(cmd.name, "LD_PRELOAD");
	assert_int_equal(cmd.env_flags, 0);
	assert_int_equal(parse("env-watch LD_AUDIT kill", &cmd, err), 1);
	assert_int_equal(cmd.env_flags, RW_ENV_KILL);
	assert_int_equal(parse("env-remove _X1", &cmd, err), 1);
	assert_int_equal(cmd.op, RW_POL_ENV_REMOVE);

	assert_int_equal(parse("usb-mount deny", &cmd, err), 1);
	assert_true(cmd.deny);
	assert_int_equal(parse("usb-mount allow", &cmd, err), 1);
	assert_false(cmd.deny);

	assert_int_equal(parse("boot-complete", &cmd, err), 1);
	assert_true(rw_policy_runtime_only(cmd.op));
	assert_int_equal(parse("health", &cmd, err), 1);
	assert_true(rw_policy_runtime_only(cmd.op));
	assert_int_equal(parse("restart", &cmd, err), 1);
	assert_true(rw_policy_runtime_only(cmd.op));
	assert_false(rw_policy_runtime_only(RW_POL_EXEC_DENY));

	assert_int_equal(parse("", &cmd, err), 0);
	assert_int_equal(parse("   \t", &cmd, err), 0);
	assert_int_equal(parse("# module-allow x *", &cmd, err), 0);
}

static void test_policy_errors(void **state)
{
	char longline[RW_POLICY_LINE_MAX + 10];

	(void)state;
	expect_error("module-allow", "takes 2 argument");
	expect_error("module-allow dummy", "takes 2 argument");
	expect_error("module-allow dummy * extra", "takes 2 argument");
	expect_error("module-allow du.mmy *", "outside [A-Za-z0-9_-]");
	expect_error("module-allow 01234567890123456789012345678901234567890123456789012345 *",
		     "1..55");
	expect_error("module-allow dummy " H64 "0", "64 hex digits or '*'");
	expect_error("module-allow dummy 0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		     "64 hex digits");
	expect_error("exec-deny 0000000000000000000000000000000000000000000000000000000000000000",
		     "reserved");
	expect_error("exec-deny *", "expected 64 hex digits");
	expect_error("env-watch 1LD", "starts with a digit");
	expect_error("env-watch LD-PRELOAD", "outside [A-Za-z0-9_]");
	expect_error("env-watch ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "1..31");
	expect_error("env-watch LD_PRELOAD block", "must be 'kill'");
	expect_error("usb-mount maybe", "'deny' or 'allow'");
	expect_error("health now", "takes 0 argument");
	expect_error("frobnicate", "unknown command");
	expect_error("a b c d e", "too many fields");
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	expect_error(longline, "line too long");
}

static struct rw_bpf_event sample(uint32_t kind)
{
	struct rw_bpf_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.verdict = -1;
	ev.ts_ns = 123456789;
	ev.pid = 42;
	ev.tgid = 41;
	ev.uid = 0;
	ev.euid = 0;
	snprintf(ev.comm, sizeof(ev.comm), "insmod");
	return ev;
}

static char *to_json(const struct rw_bpf_event *ev)
{
	static char out[RW_EVENT_JSON_MAX];
	int n = rw_event_to_json(ev, sizeof(*ev), out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	assert_int_equal(out[0], '{');
	assert_int_equal(out[n - 1], '}');
	assert_null(strchr(out, '\n'));
	return out;
}

static void test_event_json_kinds(void **state)
{
	struct rw_bpf_event ev;
	char *js;

	(void)state;
	ev = sample(RW_EV_MODULE_DENIED);
	ev.arg[0] = RW_MOD_INIT;
	ev.arg[1] = 5921;
	ev.arg[2] = RW_MOD_NOT_ALLOWED;
	ev.arg[3] = 1;
	snprintf(ev.name, sizeof(ev.name), "crc7");
	ev.sha256[0] = 0xab;
	ev.sha256[31] = 0x01;
	js = to_json(&ev);
	assert_non_null(strstr(js, "{\"event\":\"module-denied\",\"verdict\":\"deny\","
				   "\"ts_ns\":123456789,\"pid\":42,\"tgid\":41,\"uid\":0,"
				   "\"euid\":0,\"comm\":\"insmod\""));
	assert_non_null(strstr(js, "\"origin\":\"init_module\",\"size\":5921,"
				   "\"reason\":\"not-allowlisted\",\"module\":\"crc7\""));
	assert_non_null(strstr(js, "\"sha256\":\"ab00000000000000000000000000000000000000000000"
				   "000000000000000001\""));
	assert_null(strstr(js, "\"file\""));

	ev = sample(RW_EV_EXEC_ENV);
	ev.verdict = 0;
	snprintf(ev.name, sizeof(ev.name), "LD_PRELOAD=/tmp/x.so");
	snprintf(ev.path, sizeof(ev.path), "/bin/true");
	js = to_json(&ev);
	assert_non_null(strstr(js, "\"verdict\":\"report\""));
	assert_non_null(strstr(js, "\"killed\":false,\"variable\":\"LD_PRELOAD=/tmp/x.so\","
				   "\"file\":\"/bin/true\""));

	ev = sample(RW_EV_GUARD_BPF);
	ev.arg[0] = BPF_LINK_DETACH;
	ev.arg[1] = RW_OBJ_LINK;
	ev.arg[2] = 17;
	assert_non_null(strstr(to_json(&ev), "\"cmd\":\"link-detach\",\"object\":\"link\",\"id\":17"));
	ev.arg[0] = (uint32_t)-1;
	ev.arg[1] = RW_OBJ_MAP;
	assert_non_null(strstr(to_json(&ev), "\"cmd\":\"fd-acquire\",\"object\":\"map\""));

	ev = sample(RW_EV_GUARD_PIN);
	ev.arg[0] = 9;	/* out of range op */
	assert_non_null(strstr(to_json(&ev), "\"op\":\"unknown\""));

	ev = sample(RW_EV_CRED_CHANGE);
	ev.arg[0] = RW_CRED_SETID;
	ev.arg[3] = 1000;
	assert_non_null(strstr(to_json(&ev), "\"source\":\"setid\",\"old_uid\":0,\"old_euid\":0,"
					     "\"new_uid\":1000"));

	ev = sample(RW_EV_MOUNT_DENIED);
	ev.arg[1] = 1;
	snprintf(ev.name, sizeof(ev.name), "vfat");
	snprintf(ev.path, sizeof(ev.path), "sda");
	assert_non_null(strstr(to_json(&ev), "\"removable\":false,\"usb\":true,\"fstype\":\"vfat\","
					     "\"disk\":\"sda\""));

	/* Every kind formats, and so does one the agent does not know. */
	for (uint32_t k = 0; k <= RW_EV_KIND_MAX + 1; k++) {
		ev = sample(k);
		js = to_json(&ev);
		if (k == 0 || k >= RW_EV_KIND_MAX)
			assert_non_null(strstr(js, "\"event\":\"unknown\""));
		else
			assert_null(strstr(js, "\"event\":\"unknown\""));
	}
}

static void test_event_json_hostile(void **state)
{
	struct rw_bpf_event ev;
	char small[64];
	char *js;

	(void)state;
	ev = sample(RW_EV_SELF_UNLINK);
	/* Fields without a NUL, quotes, control and non-ASCII bytes. */
	memset(ev.comm, '"', sizeof(ev.comm));
	memset(ev.path, 'A', sizeof(ev.path));
	ev.path[0] = '\\';
	ev.path[1] = '\n';
	ev.path[2] = (char)0xff;
	js = to_json(&ev);
	assert_non_null(strstr(js, "\"comm\":\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\""));
	assert_non_null(strstr(js, "\"file\":\"\\\\\\u000a\\u00ffAAA"));
	assert_int_equal(strlen(strstr(js, "\"file\":")),
			 strlen("\"file\":\"\\\\\\u000a\\u00ff\"") + sizeof(ev.path) - 3 + 1);

	/* Wrong record size and a too small buffer are refused. */
	assert_int_equal(rw_event_to_json(&ev, sizeof(ev) - 1, small, sizeof(small)), -1);
	assert_int_equal(rw_event_to_json(&ev, sizeof(ev) + 1, small, sizeof(small)), -1);
	assert_int_equal(rw_event_to_json(&ev, sizeof(ev), small, sizeof(small)), -1);
	assert_int_equal(rw_event_to_json(&ev, sizeof(ev), small, 0), -1);
}

struct lines {
	int n;
	char got[8][RW_POLICY_LINE_MAX];
};

static void collect(void *arg, const char *line)
{
	struct lines *l = arg;

	if (l->n < 8)
		snprintf(l->got[l->n], sizeof(l->got[0]), "%s", line);
	l->n++;
}

/* Credential changes carry all eight ids before and after (the host's cross-check). */
static void test_event_json_cred_ids(void **state)
{
	struct rw_bpf_event ev = sample(RW_EV_CRED_CHANGE);
	const char *js;

	(void)state;
	ev.arg[0] = RW_CRED_SETGID;
	for (int i = 0; i < RW_BPF_CRED_IDS; i++) {
		ev.cred.old_ids[i] = 1000;
		ev.cred.new_ids[i] = i == 1 || i == 3 || i == 5 || i == 7 ? 0 : 1000;
	}
	js = to_json(&ev);
	assert_non_null(strstr(js, "\"source\":\"setgid\""));
	assert_non_null(strstr(js, "\"old_ids\":[1000,1000,1000,1000,1000,1000,1000,1000]"));
	assert_non_null(strstr(js, "\"new_ids\":[1000,0,1000,0,1000,0,1000,0]"));
	/* the ids share storage with sha256/name, which this kind never uses */
	assert_int_equal(sizeof(ev.cred), 2 * RW_BPF_CRED_IDS * sizeof(__u32));
	assert_true(sizeof(ev.cred) <= sizeof(ev.sha256) + sizeof(ev.name));
}

static void test_ctl_lines(void **state)
{
	struct lines got = { 0 };
	struct rw_ctl ctl;
	char big[RW_POLICY_LINE_MAX + 100];
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	rw_ctl_init_fd(&ctl, fds[0]);
	assert_int_equal(write(fds[1], "health\nexec-de", 14), 14);
	close(fds[1]);
	assert_int_equal(rw_ctl_read(&ctl, collect, &got), 1);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.got[0], "health");
	rw_ctl_close(&ctl);

	/* A partial line waits for its end; overlong and NUL lines are dropped. */
	assert_int_equal(pipe(fds), 0);
	rw_ctl_init_fd(&ctl, fds[0]);
	assert_int_equal(write(fds[1], "usb-mount ", 10), 10);
	assert_int_equal(write(fds[1], "deny\n", 5), 5);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(write(fds[1], big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(write(fds[1], "a\0b\nrestart\n", 12), 12);
	close(fds[1]);
	memset(&got, 0, sizeof(got));
	assert_int_equal(rw_ctl_read(&ctl, collect, &got), 4);
	assert_string_equal(got.got[0], "usb-mount deny");
	assert_string_equal(got.got[1], "\x01overlong");
	assert_string_equal(got.got[2], "\x01overlong");
	assert_string_equal(got.got[3], "restart");
	rw_ctl_close(&ctl);
}

/* Section -> hook name as ringwatch.ko will look it up (bpf_lsm_NAME). */
static void test_kmod_hook_of_section(void **state)
{
	char out[RW_KMOD_HOOK_MAX + 1], small[8];
	char longest[6 + RW_KMOD_HOOK_MAX + 2];
	static const char *const bad[] = {
		"lsm/", "lsm.s/", "fentry/bpf_lsm_file_open", "lsm/File_open", "lsm/file-open",
		"lsm/file open", "lsmfile_open", "", "lsm.s", "lsm/../x", "tp/lsm/file_open",
	};

	(void)state;
	assert_int_equal(rw_kmod_hook_of_section("lsm/file_open", out, sizeof(out)), 0);
	assert_string_equal(out, "file_open");
	assert_int_equal(rw_kmod_hook_of_section("lsm.s/bprm_check_security", out, sizeof(out)),
			 0);
	assert_string_equal(out, "bprm_check_security");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rw_kmod_hook_of_section(bad[i], out, sizeof(out)) != -1)
			fail_msg("accepted '%s'", bad[i]);
	/* The longest name the module takes, one more, a short buffer. */
	memcpy(longest, "lsm.s/", 6);
	memset(longest + 6, 'a', RW_KMOD_HOOK_MAX);
	longest[6 + RW_KMOD_HOOK_MAX] = '\0';
	assert_int_equal(rw_kmod_hook_of_section(longest, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), RW_KMOD_HOOK_MAX);
	longest[6 + RW_KMOD_HOOK_MAX] = 'a';
	longest[6 + RW_KMOD_HOOK_MAX + 1] = '\0';
	assert_int_equal(rw_kmod_hook_of_section(longest, out, sizeof(out)), -1);
	assert_int_equal(rw_kmod_hook_of_section("lsm/file_open", small, sizeof(small)), -1);
	assert_int_equal(rw_kmod_hook_of_section("lsm/bpf", small, sizeof(small)), 0);
	assert_string_equal(small, "bpf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_commands),
		cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_event_json_kinds),
		cmocka_unit_test(test_event_json_hostile),
		cmocka_unit_test(test_event_json_cred_ids),
		cmocka_unit_test(test_ctl_lines),
		cmocka_unit_test(test_kmod_hook_of_section),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

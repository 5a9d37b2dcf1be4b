// SPDX-License-Identifier: GPL-2.0
/*
 * Host policy pushes end to end without a guest: the words of
 * `ringwatch policy` -> rw_dchan_policy_parse -> the POLICY_UPDATE frame
 * (encode, decode as the agent does) -> the agent's policy line
 * (rw_policy_update_line) -> the agent's policy parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "guest/bpf/agent/policy.c"
#include "host/daemon_channel.h"
#include "shared/rw_proto.h"

#define HASH "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Words -> frame bytes -> decoded -> agent line. */
static void round_trip(const char *const *words, size_t n, bool remove, const char *want_line)
{
	struct rw_dchan_policy p;
	struct rw_policy_entry entry, got;
	struct rw_msg msg, dec;
	uint8_t buf[RW_PROTO_MAX_FRAME];
	char line[RW_POLICY_LINE_MAX], err[256];
	struct rw_policy_cmd cmd;
	uint32_t iter = 0;
	long len;

	assert_int_equal(rw_dchan_policy_parse(words, n, remove, &p, err, sizeof(err)), 0);
	rw_dchan_policy_msg(&p, p.name, 42, &msg, &entry);
	msg.hdr.seq = 1;
	msg.hdr.component = RW_COMP_HOST;
	len = rw_proto_encode(&msg, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(rw_proto_decode(buf, (size_t)len, &dec), 0);
	assert_int_equal(dec.u.policy.generation, 42);
	assert_int_equal(rw_proto_policy_next(&dec.u.policy, &iter, &got), 1);
	assert_int_equal(rw_policy_update_line(&dec.u.policy, &got, line, sizeof(line), err,
					       sizeof(err)), 0);
	assert_string_equal(line, want_line);
	assert_int_equal(rw_policy_parse_line(line, &cmd, err, sizeof(err)), 1);
	assert_int_equal(rw_proto_policy_next(&dec.u.policy, &iter, &got), 0);
}

static void test_policy_round_trips(void **state)
{
	(void)state;
	round_trip((const char *const[]){ "module-allow", "nlmon", "*" }, 3, false,
		   "module-allow nlmon *");
	round_trip((const char *const[]){ "module-allow", "nlmon", HASH }, 3, true,
		   "module-remove nlmon " HASH);
	round_trip((const char *const[]){ "exec-deny", HASH }, 2, false, "exec-deny " HASH);
	round_trip((const char *const[]){ "exec-deny", HASH }, 2, true, "exec-remove " HASH);
	round_trip((const char *const[]){ "env-watch", "LD_AUDIT" }, 2, false, "env-watch LD_AUDIT");
	round_trip((const char *const[]){ "env-watch", "LD_AUDIT" }, 2, true, "env-remove LD_AUDIT");
	round_trip((const char *const[]){ "usb-mount", "deny" }, 2, false, "usb-mount deny");
	round_trip((const char *const[]){ "usb-mount", "deny" }, 2, true, "usb-mount allow");
	round_trip((const char *const[]){ "usb-mount", "allow" }, 2, false, "usb-mount allow");
}

static void expect_parse_error(const char *const *words, size_t n, const char *needle)
{
	struct rw_dchan_policy p;
	char err[256] = "";

	assert_int_equal(rw_dchan_policy_parse(words, n, false, &p, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_policy_parse_errors(void **state)
{
	(void)state;
	expect_parse_error((const char *const[]){ "module-allow", "nlmon", "12" }, 3, "bad SHA-256");
	expect_parse_error((const char *const[]){ "module-allow", "a b", "*" }, 3, "bad module name");
	expect_parse_error((const char *const[]){ "module-allow", "nlmon" }, 2, "expected");
	expect_parse_error((const char *const[]){ "exec-deny", "*" }, 2, "bad SHA-256");
	expect_parse_error((const char *const[]){ "env-watch", "LD=X" }, 2, "bad variable");
	expect_parse_error((const char *const[]){ "usb-mount", "maybe" }, 2, "expected");
	expect_parse_error((const char *const[]){ "reboot" }, 1, "expected");
	expect_parse_error(NULL, 0, "expected");
}

/* What the agent refuses to turn into a line, even from a well-formed frame. */
static void test_agent_refuses_odd_updates(void **state)
{
	struct rw_msg_policy_update up = { .op = RW_POLICY_REPLACE, .list = RW_LIST_ENV_VARS };
	struct rw_policy_entry e = { .name = "LD_AUDIT", .name_len = 8 };
	char line[RW_POLICY_LINE_MAX], err[256];

	(void)state;
	assert_int_equal(rw_policy_update_line(&up, &e, line, sizeof(line), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not supported"));
	up.op = RW_POLICY_ADD;
	up.list = RW_LIST_EXEC_DENY;	/* without a SHA-256 */
	assert_int_equal(rw_policy_update_line(&up, &e, line, sizeof(line), err, sizeof(err)), -1);
	up.list = RW_LIST_MOUNT_RULES;	/* not a known rule */
	assert_int_equal(rw_policy_update_line(&up, &e, line, sizeof(line), err, sizeof(err)), -1);
	/* a name that makes no policy line: caught by the agent's parser */
	up.list = RW_LIST_ENV_VARS;
	e.name = "A B";
	e.name_len = 3;
	assert_int_equal(rw_policy_update_line(&up, &e, line, sizeof(line), err, sizeof(err)), 0);
	{
		struct rw_policy_cmd cmd;

		assert_int_equal(rw_policy_parse_line(line, &cmd, err, sizeof(err)), -1);
	}
}

/* The event detail the daemon stores for a credential violation, v2 and v1. */
static void test_cred_violation_detail(void **state)
{
	struct rw_msg m = { .hdr = { .type = RW_MSG_CRED_VIOLATION, .seq = 7,
				     .component = RW_COMP_KMOD } }, dec;
	uint8_t buf[1024];
	json_t *o, *ch;
	long len;

	(void)state;
	m.u.cred.pid = 321;
	m.u.cred.tgid = 320;
	memcpy(m.u.cred.comm, "vic\x01\xfftim", 9);
	m.u.cred.field_mask = (1u << RW_CRED_UID) | (1u << RW_CRED_GROUP_INFO_PTR);
	m.u.cred.old_val[RW_CRED_UID] = 1000;
	m.u.cred.new_val[RW_CRED_UID] = 0;
	m.u.cred.old_val[RW_CRED_GROUP_INFO_PTR] = 0x1000;
	m.u.cred.new_val[RW_CRED_GROUP_INFO_PTR] = 0x2000;
	m.u.cred.check = RW_CRED_CHECK_FILE_OPEN;
	m.u.cred.action = RW_CRED_ACT_KILLED | RW_CRED_ACT_DENIED;
	m.u.cred.error = -1;
	len = rw_proto_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(rw_proto_decode(buf, (size_t)len, &dec), 0);
	o = rw_dchan_cred_detail(&dec.u.cred);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), 321);
	assert_int_equal(json_integer_value(json_object_get(o, "tgid")), 320);
	assert_string_equal(json_string_value(json_object_get(o, "comm")), "vic??tim");
	assert_string_equal(json_string_value(json_object_get(o, "check")), "file_open");
	assert_true(json_is_true(json_object_get(o, "killed")));
	assert_true(json_is_true(json_object_get(o, "denied")));
	assert_int_equal(json_integer_value(json_object_get(o, "error")), -1);
	ch = json_object_get(o, "changes");
	assert_int_equal(json_object_size(ch), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ch, "uid"), "old")),
			 1000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ch, "uid"), "new")), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(ch, "group_info_ptr"), "new")), 0x2000);
	json_decref(o);

	/* a version-1 frame does not tell where or what: no such keys */
	m.hdr.version = 1;
	len = rw_proto_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(rw_proto_decode(buf, (size_t)len, &dec), 0);
	o = rw_dchan_cred_detail(&dec.u.cred);
	assert_non_null(o);
	assert_null(json_object_get(o, "check"));
	assert_null(json_object_get(o, "killed"));
	assert_null(json_object_get(o, "error"));
	assert_int_equal(json_object_size(json_object_get(o, "changes")), 2);
	json_decref(o);

	/* killed at the timer scan, nothing refused */
	m.hdr.version = 0;
	m.u.cred.check = RW_CRED_CHECK_SCAN;
	m.u.cred.action = RW_CRED_ACT_KILLED;
	m.u.cred.error = 0;
	len = rw_proto_encode(&m, buf, sizeof(buf));
	assert_int_equal(rw_proto_decode(buf, (size_t)len, &dec), 0);
	o = rw_dchan_cred_detail(&dec.u.cred);
	assert_string_equal(json_string_value(json_object_get(o, "check")), "scan");
	assert_true(json_is_true(json_object_get(o, "killed")));
	assert_true(json_is_false(json_object_get(o, "denied")));
	assert_int_equal(json_integer_value(json_object_get(o, "error")), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_round_trips),
		cmocka_unit_test(test_policy_parse_errors),
		cmocka_unit_test(test_agent_refuses_odd_updates),
		cmocka_unit_test(test_cred_violation_detail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0
/* ringwatchd configuration parser: every directive, every bad line named by file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/daemon_config.h"

static int parse(const char *text, struct rw_config *cfg, char *err, size_t errlen)
{
	rw_config_defaults(cfg);
	return rw_config_parse(text, strlen(text), "test.conf", cfg, err, errlen);
}

static void test_defaults(void **state)
{
	struct rw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse("", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.interval_ms, 1000);
	assert_int_equal(cfg.workers, 0);
	assert_int_equal(cfg.qmp_timeout_ms, 3000);
	assert_true(cfg.syslog);
	assert_string_equal(cfg.metrics, "127.0.0.1:9477");
	assert_string_equal(cfg.json_log, "");
	assert_int_equal(rw_config_actions(&cfg, "cr-bits", RW_SEV_ALERT), RW_ACT_LOG);
	rw_config_free(&cfg);
}

static void test_every_directive(void **state)
{
	static const char text[] =
		"# ringwatchd test config\n"
		"\n"
		"interval 250ms   # comment after words\n"
		"workers 3\n"
		"qmp-timeout 2s\n"
		"launch-timeout 2m\n"
		"dump-timeout 1h\n"
		"json-log /var/log/ringwatch/events.jsonl\n"
		"syslog off\n"
		"metrics [::1]:9100\n"
		"vm web-1 interval 5s\n"
		"\tvm db_2 interval 100ms\r\n"
		"respond cr-bits alert dump,push-policy\n"
		"respond * alert pause\n"
		"respond vm-liveness * log\n";
	struct rw_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.interval_ms, 250);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.qmp_timeout_ms, 2000);
	assert_int_equal(cfg.launch_timeout_ms, 120000);
	assert_int_equal(cfg.dump_timeout_ms, 3600000);
	assert_string_equal(cfg.json_log, "/var/log/ringwatch/events.jsonl");
	assert_false(cfg.syslog);
	assert_string_equal(cfg.metrics, "[::1]:9100");
	assert_int_equal(rw_config_interval(&cfg, "web-1"), 5000);
	assert_int_equal(rw_config_interval(&cfg, "db_2"), 100);
	assert_int_equal(rw_config_interval(&cfg, "other"), 250);
	/* First matching rule wins. */
	assert_int_equal(rw_config_actions(&cfg, "cr-bits", RW_SEV_ALERT),
			 RW_ACT_DUMP | RW_ACT_PUSH_POLICY);
	assert_int_equal(rw_config_actions(&cfg, "vm-liveness", RW_SEV_ALERT), RW_ACT_PAUSE);
	assert_int_equal(rw_config_actions(&cfg, "vm-liveness", RW_SEV_ERROR), RW_ACT_LOG);
	assert_int_equal(rw_config_actions(&cfg, "cr-bits", RW_SEV_WARNING), RW_ACT_LOG);
	assert_int_equal(cfg.rules[0].line, 13);
	rw_config_free(&cfg);

	/* kernel-search: repeatable, absolute paths, in order. */
	assert_int_equal(parse("kernel-search /boot\nkernel-search /srv/kernels/vmlinuz-6.1\n",
			       &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.nkernel_search, 2);
	assert_string_equal(cfg.kernel_search[0], "/boot");
	assert_string_equal(cfg.kernel_search[1], "/srv/kernels/vmlinuz-6.1");
	rw_config_free(&cfg);

	assert_int_equal(parse("json-log off\nmetrics off\nworkers auto\n", &cfg, err,
			       sizeof(err)), 0);
	assert_string_equal(cfg.json_log, "");
	assert_string_equal(cfg.metrics, "");
	assert_int_equal(cfg.workers, 0);
	rw_config_free(&cfg);
}

/* Each bad line is reported as test.conf:3 (two good lines precede it) with a reason. */
static void test_bad_lines(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} bad[] = {
		{ "frobnicate yes", "unknown directive 'frobnicate'" },
		{ "interval", "'interval' takes 1 argument, got 0" },
		{ "interval 1s 2s", "'interval' takes 1 argument, got 2" },
		{ "interval 10", "bad duration '10'" },
		{ "interval 0s", "bad duration '0s'" },
		{ "interval 25h", "bad duration '25h'" },
		{ "interval -1s", "bad duration '-1s'" },
		{ "interval 99999999999999999999ms", "bad duration" },
		{ "workers 0", "expected 1..256 or auto" },
		{ "workers 300", "expected 1..256 or auto" },
		{ "workers two", "expected 1..256 or auto" },
		{ "syslog yes", "expected on or off, got 'yes'" },
		{ "metrics 9477", "expected HOST:PORT or off" },
		{ "metrics 127.0.0.1:http", "bad port" },
		{ "metrics 127.0.0.1:70000", "bad port" },
		{ "vm web interval", "expected 'vm NAME interval DURATION'" },
		{ "vm web timeout 1s", "expected 'vm NAME interval DURATION'" },
		{ "vm we/b interval 1s", "bad VM name 'we/b'" },
		{ "vm web interval 1x", "bad duration '1x'" },
		{ "respond cr-bits alert", "expected 'respond CHECK|* SEVERITY|* ACTION" },
		{ "respond cr-bits panic log", "unknown severity 'panic'" },
		{ "respond cr-bits alert log,reboot", "unknown action 'reboot'" },
		{ "respond cr-bits alert log,", "unknown action ''" },
		{ "respond cr$bits alert log", "bad check name 'cr$bits'" },
		{ "kernel-search boot", "'kernel-search': 'boot' is not an absolute path" },
		{ "kernel-search", "'kernel-search'" },
		{ "interval 1s\x01", "control character" },
		{ "a b c d e f g h i", "too many words" },
	};
	struct rw_config cfg;
	char text[512], err[512], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "# first\nworkers 2\n%s\ninterval 1s\n", bad[i].line);
		if (!strncmp(bad[i].line, "interval", 8) || !strncmp(bad[i].line, "workers", 7))
			snprintf(text, sizeof(text), "# first\n\n%s\n", bad[i].line);
		assert_int_equal(parse(text, &cfg, err, sizeof(err)), -1);
		if (strncmp(err, "test.conf:3: ", 13) || !strstr(err, bad[i].reason))
			fail_msg("line '%s': got '%s', want test.conf:3: ...%s", bad[i].line, err,
				 bad[i].reason);
		rw_config_free(&cfg);
	}
	/* Duplicates of single-use directives, on the line of the second one. */
	assert_int_equal(parse("interval 1s\n\ninterval 2s\n", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "test.conf:3: 'interval' given twice");
	rw_config_free(&cfg);
	assert_int_equal(parse("vm a interval 1s\nvm a interval 2s\n", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "test.conf:2: VM 'a' configured twice");
	rw_config_free(&cfg);
	/* A line over the limit, and a NUL byte. */
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	char *big = malloc(RW_CONFIG_MAX_LINE + 64);

	assert_non_null(big);
	memset(big, 'a', RW_CONFIG_MAX_LINE + 10);
	big[RW_CONFIG_MAX_LINE + 10] = '\0';
	assert_int_equal(parse(big, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "test.conf:1: line longer than %u bytes", RW_CONFIG_MAX_LINE);
	assert_string_equal(err, want);
	free(big);
	rw_config_free(&cfg);
	rw_config_defaults(&cfg);
	assert_int_equal(rw_config_parse("syslog on\nsys\0log on\n", 21, "test.conf", &cfg, err,
					 sizeof(err)), -1);
	assert_string_equal(err, "test.conf:2: NUL byte in line");
	rw_config_free(&cfg);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/rwtest-conf-XXXXXX", err[512];
	struct rw_config cfg;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	(void)state;
	assert_non_null(f);
	fputs("interval 2s\n\nrespond * alert pausee\n", f);
	fclose(f);
	rw_config_defaults(&cfg);
	assert_int_equal(rw_config_load(path, false, &cfg, err, sizeof(err)), -1);
	char want[128];

	snprintf(want, sizeof(want), "%s:3: 'respond': unknown action 'pausee' (log, pause, dump, push-policy)", path);
	assert_string_equal(err, want);
	rw_config_free(&cfg);
	unlink(path);
	/* Missing: an error naming the file unless optional. */
	rw_config_defaults(&cfg);
	assert_int_equal(rw_config_load(path, false, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(rw_config_load(path, true, &cfg, err, sizeof(err)), 0);
	rw_config_free(&cfg);
}

static void test_durations_and_actions(void **state)
{
	unsigned int ms, bits;
	char bad[80], out[80];

	(void)state;
	assert_int_equal(rw_parse_duration("1ms", &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(rw_parse_duration("90s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(rw_parse_duration("24h", &ms), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(rw_parse_duration("1.5s", &ms), -1);
	assert_int_equal(rw_parse_duration("s", &ms), -1);
	assert_int_equal(rw_parse_duration("", &ms), -1);
	assert_int_equal(rw_parse_duration("1 s", &ms), -1);
	assert_int_equal(rw_parse_actions("log,pause,dump,push-policy", &bits, bad, sizeof(bad)), 0);
	assert_int_equal(bits, RW_ACT_LOG | RW_ACT_PAUSE | RW_ACT_DUMP | RW_ACT_PUSH_POLICY);
	rw_actions_format(bits, out, sizeof(out));
	assert_string_equal(out, "log,pause,dump,push-policy");
	assert_int_equal(rw_parse_actions("pause,,log", &bits, bad, sizeof(bad)), -1);
	assert_string_equal(bad, "");
}

/* hook-allow: the modules that may own hook handlers (default: ringwatch). */
static void test_hook_allow(void **state)
{
	static const struct {
		const char *text, *reason;
	} bad[] = {
		{ "hook-allow\n", "test.conf:1: 'hook-allow' takes 1 argument, got 0" },
		{ "hook-allow a b\n", "test.conf:1: 'hook-allow' takes 1 argument, got 2" },
		{ "hook-allow a,,b\n", "test.conf:1: 'hook-allow': bad module name ''" },
		{ "hook-allow a,b/c\n", "test.conf:1: 'hook-allow': bad module name 'b/c'" },
		{ "hook-allow a,b,a\n", "test.conf:1: 'hook-allow': module 'a' listed twice" },
		{ "hook-allow ringwatch\n\nhook-allow x\n", "test.conf:3: 'hook-allow' given twice" },
		{ "hook-allow aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		  "bad module name" },
	};
	struct rw_config cfg;
	char err[256], big[1024];
	size_t n = 0;

	(void)state;
	rw_config_defaults(&cfg);
	assert_int_equal(cfg.nhook_allow, 1);
	assert_string_equal(cfg.hook_allow[0], "ringwatch");
	assert_int_equal(parse("hook-allow ringwatch,rw-kprobe_test,x9\n", &cfg, err,
			       sizeof(err)), 0);
	assert_int_equal(cfg.nhook_allow, 3);
	assert_string_equal(cfg.hook_allow[1], "rw_kprobe_test"); /* as the kernel names it */
	assert_string_equal(cfg.hook_allow[2], "x9");
	rw_config_free(&cfg);
	assert_int_equal(parse("hook-allow none\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.nhook_allow, 0);
	rw_config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!parse(bad[i].text, &cfg, err, sizeof(err)))
			fail_msg("accepted: %s", bad[i].text);
		if (!strstr(err, bad[i].reason))
			fail_msg("'%s': got '%s', want '%s'", bad[i].text, err, bad[i].reason);
		rw_config_free(&cfg);
	}
	/* at most RW_CONFIG_MAX_HOOK_ALLOW names */
	n = (size_t)snprintf(big, sizeof(big), "hook-allow m0");
	for (int i = 1; i <= RW_CONFIG_MAX_HOOK_ALLOW; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, ",m%d", i);
	snprintf(big + n, sizeof(big) - n, "\n");
	assert_int_equal(parse(big, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 64 modules"));
	rw_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_directive),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_hook_allow),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_durations_and_actions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

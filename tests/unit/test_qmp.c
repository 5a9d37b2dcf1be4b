// SPDX-License-Identifier: GPL-2.0
/* QMP client against a scripted fake QEMU on a unix socket. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmi/qmp.h"

/* The fake sends greeting, then for each request it reads, the next reply. */
struct fake_qmp {
	char path[108];
	int listen_fd;
	const char *greeting;		/* NULL: never greet */
	const char *const *replies;	/* one per request line */
	size_t nreplies;
	char requests[8][512];
	size_t nrequests;
	pthread_t thread;
};

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static void *fake_main(void *arg)
{
	struct fake_qmp *f = arg;
	int fd = accept(f->listen_fd, NULL, NULL);
	char line[512];
	size_t len = 0;

	if (fd < 0)
		return NULL;
	if (!f->greeting) {
		sleep(2);	/* silent peer: longer than the client's timeout */
		close(fd);
		return NULL;
	}
	send_str(fd, f->greeting);
	while (f->nrequests < f->nreplies) {
		char c;

		if (read(fd, &c, 1) != 1)
			break;
		if (c != '\n' && len < sizeof(line) - 1) {
			line[len++] = c;
			continue;
		}
		line[len] = '\0';
		snprintf(f->requests[f->nrequests], sizeof(f->requests[0]), "%s", line);
		send_str(fd, f->replies[f->nrequests++]);
		len = 0;
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake_qmp *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(f->path, sizeof(f->path), "/tmp/rwtest-qmp-%d-%p.sock", (int)getpid(), (void *)f);
	unlink(f->path);
	memcpy(sa.sun_path, f->path, sizeof(f->path));
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 1), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake_qmp *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"

static void test_qmp_commands_and_events(void **state)
{
	static const char *const replies[] = {
		"{\"return\": {}}\n",
		"{\"event\": \"RESUME\", \"timestamp\": {}}\n{\"return\": {\"status\": \"running\", \"running\": true}}\n",
		"{\"return\": \"CPU#0\\nCR0=80050033\\n\"}\n",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}}\n",
	};
	struct fake_qmp f = { .greeting = GREETING, .replies = replies, .nreplies = 4 };
	struct rw_qmp *qmp;
	char err[256];
	char *s;

	(void)state;
	fake_start(&f);
	assert_int_equal(rw_qmp_connect(f.path, 2000, &qmp, err, sizeof(err)), 0);
	s = rw_qmp_status(qmp, 2000, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "running");
	free(s);
	s = rw_qmp_hmp(qmp, "info registers -a", 2000, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "CPU#0\nCR0=80050033\n");
	free(s);
	assert_null(rw_qmp_execute(qmp, "bogus", NULL, 2000, err, sizeof(err)));
	assert_non_null(strstr(err, "GenericError"));
	assert_non_null(strstr(err, "no such thing"));
	rw_qmp_close(qmp);
	fake_stop(&f);
	assert_string_equal(f.requests[0], "{\"execute\":\"qmp_capabilities\"}");
	assert_non_null(strstr(f.requests[2], "\"command-line\":\"info registers -a\""));
}

static void test_qmp_silent_peer_times_out(void **state)
{
	struct fake_qmp f = { .greeting = NULL };
	struct rw_qmp *qmp;
	char err[256];

	(void)state;
	fake_start(&f);
	assert_int_equal(rw_qmp_connect(f.path, 300, &qmp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "did not answer"));
	fake_stop(&f);
}

static void test_qmp_garbage_and_closed(void **state)
{
	struct fake_qmp bad = { .greeting = "this is not json\n" };
	static const char *const replies[] = { "{\"return\": {}}\n" };
	struct fake_qmp closing = { .greeting = GREETING, .replies = replies, .nreplies = 1 };
	struct rw_qmp *qmp;
	char err[256];

	(void)state;
	bad.replies = replies;
	bad.nreplies = 0;
	fake_start(&bad);
	assert_int_equal(rw_qmp_connect(bad.path, 1000, &qmp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid JSON"));
	fake_stop(&bad);

	/* QEMU going away mid-session is an error, not a hang. */
	fake_start(&closing);
	assert_int_equal(rw_qmp_connect(closing.path, 1000, &qmp, err, sizeof(err)), 0);
	assert_null(rw_qmp_status(qmp, 1000, err, sizeof(err)));
	assert_non_null(strstr(err, "closed"));
	rw_qmp_close(qmp);
	fake_stop(&closing);

	assert_int_equal(rw_qmp_connect("/nonexistent/qmp.sock", 100, &qmp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/qmp.sock"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qmp_commands_and_events),
		cmocka_unit_test(test_qmp_silent_peer_times_out),
		cmocka_unit_test(test_qmp_garbage_and_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0
#include "vmi/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmi/err.h"

struct rw_qmp {
	int fd;
	char *buf;	/* bytes received and not yet consumed */
	size_t len;
	size_t cap;
};

/* The message into err (vmi/err.h); the caller returns its own code. */
#define set_err(err, errlen, ...) ((void)vmi_seterr(err, errlen, 0, __VA_ARGS__))

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Connect with every blocking socket call bounded: a QEMU that never accepts
 * (full listen backlog) would otherwise block connect() and send() forever.
 */
static int open_unix(const char *path, long long timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		set_err(err, errlen, "QMP socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		set_err(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (timeout_ms < 1)
		timeout_ms = 1;
	tv.tv_sec = (time_t)(timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		set_err(err, errlen, "connect %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one '\n'-terminated line; returns malloc'd NUL-terminated text. */
static char *read_line(struct rw_qmp *qmp, long long deadline, char *err,
		       size_t errlen)
{
	for (;;) {
		char *nl = qmp->len ? memchr(qmp->buf, '\n', qmp->len) : NULL;

		if (nl) {
			size_t n = (size_t)(nl - qmp->buf);
			char *line = malloc(n + 1);

			if (!line) {
				set_err(err, errlen, "out of memory");
				return NULL;
			}
			memcpy(line, qmp->buf, n);
			line[n] = '\0';
			memmove(qmp->buf, nl + 1, qmp->len - n - 1);
			qmp->len -= n + 1;
			return line;
		}
		if (qmp->len >= RW_QMP_MAX_LINE) {
			set_err(err, errlen, "QMP reply longer than %u bytes", RW_QMP_MAX_LINE);
			return NULL;
		}
		if (qmp->cap - qmp->len < 4096) {
			size_t ncap = qmp->cap ? qmp->cap * 2 : 65536;
			char *nbuf;

			if (ncap > RW_QMP_MAX_LINE + 4096)
				ncap = RW_QMP_MAX_LINE + 4096;
			nbuf = realloc(qmp->buf, ncap);
			if (!nbuf) {
				set_err(err, errlen, "out of memory");
				return NULL;
			}
			qmp->buf = nbuf;
			qmp->cap = ncap;
		}

		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = qmp->fd, .events = POLLIN };
		int pr;

		if (left <= 0) {
			set_err(err, errlen, "QMP did not answer in time");
			return NULL;
		}
		pr = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			set_err(err, errlen, "poll: %s", strerror(errno));
			return NULL;
		}
		if (pr == 0)
			continue;

		ssize_t got = read(qmp->fd, qmp->buf + qmp->len, qmp->cap - qmp->len);

		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			set_err(err, errlen, "QMP %s: %s",
				errno == ECONNRESET ? "connection closed by QEMU on read" : "read",
				strerror(errno));
			return NULL;
		}
		if (got == 0) {
			set_err(err, errlen, "QMP connection closed by QEMU");
			return NULL;
		}
		qmp->len += (size_t)got;
	}
}

static int write_all(int fd, const char *p, size_t n, char *err, size_t errlen)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			set_err(err, errlen, "QMP %s: %s",
				errno == EPIPE || errno == ECONNRESET ?
				"connection closed by QEMU on write" : "write", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Next message that is not an asynchronous event. */
static json_t *read_reply(struct rw_qmp *qmp, long long deadline, char *err,
			  size_t errlen)
{
	for (;;) {
		char *line = read_line(qmp, deadline, err, errlen);
		json_error_t jerr;
		json_t *msg;

		if (!line)
			return NULL;
		msg = json_loads(line, 0, &jerr);
		free(line);
		if (!msg || !json_is_object(msg)) {
			set_err(err, errlen, "QMP sent invalid JSON: %s",
				msg ? "not an object" : jerr.text);
			json_decref(msg);
			return NULL;
		}
		if (json_object_get(msg, "event")) {
			json_decref(msg);
			continue;
		}
		return msg;
	}
}

static json_t *take_return(json_t *msg, const char *cmd, char *err, size_t errlen)
{
	json_t *ret = json_object_get(msg, "return");
	json_t *error = json_object_get(msg, "error");

	if (ret) {
		json_incref(ret);
		json_decref(msg);
		return ret;
	}
	if (error) {
		set_err(err, errlen, "QMP %s failed: %s: %s", cmd,
			json_string_value(json_object_get(error, "class")) ?: "?",
			json_string_value(json_object_get(error, "desc")) ?: "?");
	} else {
		set_err(err, errlen, "QMP %s: reply has neither return nor error", cmd);
	}
	json_decref(msg);
	return NULL;
}

json_t *rw_qmp_execute(struct rw_qmp *qmp, const char *cmd, json_t *args,
		       int timeout_ms, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	json_t *req = json_pack("{s:s}", "execute", cmd);
	char *text;
	int rc;

	if (!req) {
		json_decref(args);
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	if (args)
		json_object_set_new(req, "arguments", args);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text) {
		set_err(err, errlen, "cannot encode QMP %s", cmd);
		return NULL;
	}
	rc = write_all(qmp->fd, text, strlen(text), err, errlen);
	if (!rc)
		rc = write_all(qmp->fd, "\n", 1, err, errlen);
	free(text);
	if (rc)
		return NULL;

	json_t *msg = read_reply(qmp, deadline, err, errlen);

	return msg ? take_return(msg, cmd, err, errlen) : NULL;
}

int rw_qmp_connect(const char *path, int timeout_ms, struct rw_qmp **out,
		   char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	struct rw_qmp *qmp;
	json_t *greeting, *ret;
	int fd;

	for (;;) {
		fd = open_unix(path, deadline - now_ms(), err, errlen);
		if (fd >= 0)
			break;
		if (now_ms() >= deadline) {
			char why[256];

			snprintf(why, sizeof(why), "%s", err ? err : "");
			set_err(err, errlen, "QMP socket did not answer within %d ms (%s)",
				timeout_ms, why);
			return -1;
		}
		usleep(20000);
	}
	qmp = calloc(1, sizeof(*qmp));
	if (!qmp) {
		close(fd);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	qmp->fd = fd;
	greeting = read_reply(qmp, deadline, err, errlen);
	if (!greeting || !json_object_get(greeting, "QMP")) {
		if (greeting)
			set_err(err, errlen, "%s is not a QMP socket (no greeting)", path);
		json_decref(greeting);
		rw_qmp_close(qmp);
		return -1;
	}
	json_decref(greeting);
	ret = rw_qmp_execute(qmp, "qmp_capabilities", NULL,
			     (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 1),
			     err, errlen);
	if (!ret) {
		rw_qmp_close(qmp);
		return -1;
	}
	json_decref(ret);
	*out = qmp;
	return 0;
}

char *rw_qmp_hmp(struct rw_qmp *qmp, const char *command_line, int timeout_ms,
		 char *err, size_t errlen)
{
	json_t *ret = rw_qmp_execute(qmp, "human-monitor-command",
				     json_pack("{s:s}", "command-line", command_line),
				     timeout_ms, err, errlen);
	char *text;

	if (!ret)
		return NULL;
	if (!json_is_string(ret)) {
		set_err(err, errlen, "HMP '%s': reply is not a string", command_line);
		json_decref(ret);
		return NULL;
	}
	text = strdup(json_string_value(ret));
	json_decref(ret);
	if (!text)
		set_err(err, errlen, "out of memory");
	return text;
}

char *rw_qmp_status(struct rw_qmp *qmp, int timeout_ms, char *err, size_t errlen)
{
	json_t *ret = rw_qmp_execute(qmp, "query-status", NULL, timeout_ms, err, errlen);
	const char *status;
	char *copy = NULL;

	if (!ret)
		return NULL;
	status = json_string_value(json_object_get(ret, "status"));
	if (status)
		copy = strdup(status);
	else
		set_err(err, errlen, "query-status: no status in reply");
	json_decref(ret);
	return copy;
}

void rw_qmp_close(struct rw_qmp *qmp)
{
	if (!qmp)
		return;
	close(qmp->fd);
	free(qmp->buf);
	free(qmp);
}

// SPDX-License-Identifier: GPL-2.0
/* Client side of ringwatchd's control socket (JSON lines). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/json_line.h"

/* Longest response accepted (events can be long). */
#define CTL_MAX_LINE (64u << 20)

struct rw_ctl {
	int fd;
	char path[108];
	char *buf;
	size_t len, cap;
};

struct rw_ctl *rw_ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rw_ctl *c;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ringwatch: control socket path too long: %s\n", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "ringwatch: cannot reach ringwatchd at %s: %s\n"
			"(is ringwatchd running? the socket is set with --control or "
			"RINGWATCH_CONTROL)\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	snprintf(c->path, sizeof(c->path), "%s", path);
	return c;
}

void rw_ctl_close(struct rw_ctl *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Read one line; returns it malloc'd, or NULL (EOF, timeout, error: *why set). */
static char *read_line(struct rw_ctl *c, int timeout_ms, const char **why)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t got;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			char *line = strndup(c->buf, n);

			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (c->len >= CTL_MAX_LINE) {
			*why = "response too long";
			return NULL;
		}
		if (c->cap - c->len < 65536) {
			char *nb = realloc(c->buf, c->cap + (1u << 20));

			if (!nb) {
				*why = "out of memory";
				return NULL;
			}
			c->buf = nb;
			c->cap += 1u << 20;
		}
		int pr = poll(&p, 1, timeout_ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			*why = pr == 0 ? "ringwatchd did not answer in time" : strerror(errno);
			return NULL;
		}
		got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			*why = got == 0 ? "ringwatchd closed the connection" : strerror(errno);
			return NULL;
		}
		c->len += (size_t)got;
	}
}

static json_t *parse_line(struct rw_ctl *c, char *line)
{
	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);

	free(line);
	if (!o || !json_is_object(o)) {
		fprintf(stderr, "ringwatch: ringwatchd at %s sent an invalid response\n", c->path);
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *rw_ctl_call(struct rw_ctl *c, json_t *req, int timeout_ms)
{
	const char *why = NULL;
	char *line;
	int rc = rw_json_line_send(c->fd, req);

	json_decref(req);
	if (rc) {
		fprintf(stderr, "ringwatch: sending to ringwatchd at %s: %s\n", c->path,
			strerror(errno));
		return NULL;
	}
	line = read_line(c, timeout_ms, &why);
	if (!line) {
		fprintf(stderr, "ringwatch: ringwatchd at %s: %s\n", c->path, why);
		return NULL;
	}
	return parse_line(c, line);
}

json_t *rw_ctl_next(struct rw_ctl *c, int timeout_ms)
{
	const char *why = NULL;
	char *line = read_line(c, timeout_ms, &why);

	return line ? parse_line(c, line) : NULL;
}

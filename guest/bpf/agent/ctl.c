// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: policy updates from a FIFO (host channel pending). */
#include "guest/bpf/agent/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rw_ctl_open(struct rw_ctl *ctl, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (mkfifo(path, 0600) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	/* O_RDWR: the FIFO never reports end-of-file when writers come and go. */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode)) {
		snprintf(err, errlen, "%s is not a FIFO", path);
		close(fd);
		return -1;
	}
	rw_ctl_init_fd(ctl, fd);
	return 0;
}

void rw_ctl_init_fd(struct rw_ctl *ctl, int fd)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = fd;
}

/* Feed @n bytes; returns lines delivered. */
static int feed(struct rw_ctl *ctl, const char *data, size_t n, rw_ctl_line_fn fn, void *arg)
{
	int lines = 0;

	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (c == '\n') {
			if (ctl->discarding) {
				fn(arg, "\x01overlong");
			} else {
				ctl->buf[ctl->len] = '\0';
				fn(arg, ctl->buf);
			}
			ctl->len = 0;
			ctl->discarding = false;
			lines++;
		} else if (!ctl->discarding) {
			if (ctl->len + 1 >= sizeof(ctl->buf) || c == '\0')
				ctl->discarding = true;
			else
				ctl->buf[ctl->len++] = c;
		}
	}
	return lines;
}

int rw_ctl_read(struct rw_ctl *ctl, rw_ctl_line_fn fn, void *arg)
{
	char data[4096];
	int lines = 0;

	for (;;) {
		ssize_t n = read(ctl->fd, data, sizeof(data));

		if (n > 0) {
			lines += feed(ctl, data, (size_t)n, fn, arg);
			continue;
		}
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			return lines;
		if (errno != EINTR)
			return -1;
	}
}

void rw_ctl_close(struct rw_ctl *ctl)
{
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
}

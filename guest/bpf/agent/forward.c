// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: event forwarding (log file + console; host channel pending). */
#include "guest/bpf/agent/forward.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int rw_forward_open(struct rw_forward *fw, const char *log_path, FILE *console, char *err,
		    size_t errlen)
{
	memset(fw, 0, sizeof(*fw));
	fw->log_fd = -1;
	fw->console = console;
	if (log_path) {
		fw->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fw->log_fd < 0) {
			snprintf(err, errlen, "cannot open event log %s: %s", log_path,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One write() per line, so concurrent appenders never interleave inside it. */
static int write_line(int fd, const char *json)
{
	size_t len = strlen(json);
	char buf[8192];
	ssize_t n;

	if (len + 1 > sizeof(buf))
		return -1;
	memcpy(buf, json, len);
	buf[len] = '\n';
	do {
		n = write(fd, buf, len + 1);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)(len + 1) ? 0 : -1;
}

int rw_forward_line(struct rw_forward *fw, const char *json)
{
	int rc = 0;

	if (fw->log_fd >= 0 && write_line(fw->log_fd, json))
		rc = -1;
	if (fw->console) {
		if (fprintf(fw->console, "ringwatch-agent: %s\n", json) < 0 || fflush(fw->console))
			rc = -1;
	}
	fw->lines++;
	if (rc)
		fw->failures++;
	return rc;
}

void rw_forward_close(struct rw_forward *fw)
{
	if (fw->log_fd >= 0)
		close(fw->log_fd);
	fw->log_fd = -1;
}

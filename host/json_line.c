// SPDX-License-Identifier: GPL-2.0
/* One compact JSON object per line over a stream socket: see json_line.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "host/json_line.h"

int rw_json_line_send(int fd, const json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT), *line;
	size_t n, off = 0;
	int rc = 0;

	if (!text)
		return -1;
	n = strlen(text);
	line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return -1;
	}
	line[n++] = '\n';
	line[n] = '\0';
	while (off < n) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -1;
			break;
		}
		off += (size_t)w;
	}
	free(line);
	return rc;
}

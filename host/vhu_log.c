#include "host/vhu_log.h"

#include <stdio.h>

void vhu_vlogf(const struct vhu_logger *lg, int level, const char *fmt, va_list ap)
{
	char line[512];
	static const char *const names[] = { "error", "warn", "info", "debug" };

	vsnprintf(line, sizeof(line), fmt, ap);
	if (lg && lg->fn) {
		lg->fn(lg->opaque, level, line);
		return;
	}
	if (lg && level > lg->max_level)
		return;
	if (!lg && level > VHU_LOG_WARN)
		return;
	fprintf(stderr, "ringwatchd: vhost-vsock %s: %s\n",
		names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

void vhu_logf(const struct vhu_logger *lg, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vhu_vlogf(lg, level, fmt, ap);
	va_end(ap);
}

/* Logging sink shared by the vhost-user / virtqueue / vsock code.
 * Each object carries its own sink (no process-wide state); a NULL fn logs to stderr. */
#ifndef RW_HOST_VHU_LOG_H
#define RW_HOST_VHU_LOG_H

#include <stdarg.h>

enum vhu_log_level { VHU_LOG_ERR = 0, VHU_LOG_WARN = 1, VHU_LOG_INFO = 2, VHU_LOG_DEBUG = 3 };

struct vhu_logger {
	void (*fn)(void *opaque, int level, const char *msg);
	void *opaque;
	int max_level; /* with fn == NULL: lines above this level are dropped */
};

/* Formats and emits one line. With fn == NULL the line goes to stderr when
 * level <= max_level. */
void vhu_logf(const struct vhu_logger *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vhu_vlogf(const struct vhu_logger *lg, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif

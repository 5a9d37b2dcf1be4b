// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_output.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Longest detail text put in one syslog message. */
#define SYSLOG_DETAIL_MAX 768

struct rw_outputs {
	pthread_mutex_t lock;
	FILE *json;		/* NULL: no JSON lines */
	bool json_is_stdout;
	bool syslog;
};

void rw_format_time(long long ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int rw_outputs_open(const char *json_log, bool use_syslog, struct rw_outputs **out,
		    char *err, size_t errlen)
{
	struct rw_outputs *o = calloc(1, sizeof(*o));

	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (json_log && !strcmp(json_log, "-")) {
		o->json = stdout;
		o->json_is_stdout = true;
	} else if (json_log && *json_log) {
		int fd = open(json_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

		o->json = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!o->json) {
			snprintf(err, errlen, "json-log %s: %s", json_log, strerror(errno));
			if (fd >= 0)
				close(fd);
			free(o);
			return -1;
		}
	}
	o->syslog = use_syslog;
	if (use_syslog)
		openlog("ringwatchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_init(&o->lock, NULL);
	*out = o;
	return 0;
}

static int syslog_prio(const char *severity)
{
	if (!strcmp(severity, "alert"))
		return LOG_ALERT;
	if (!strcmp(severity, "error"))
		return LOG_ERR;
	if (!strcmp(severity, "warning"))
		return LOG_WARNING;
	return LOG_INFO;
}

static void to_syslog(const json_t *ev)
{
	const char *sev = json_string_value(json_object_get(ev, "severity"));
	char *detail = json_dumps(json_object_get(ev, "detail"), JSON_COMPACT | JSON_SORT_KEYS);

	syslog(syslog_prio(sev ? sev : "info"), "event %lld vm=%s check=%s source=%s severity=%s %.*s",
	       (long long)json_integer_value(json_object_get(ev, "id")),
	       json_string_value(json_object_get(ev, "vm")),
	       json_string_value(json_object_get(ev, "check")),
	       json_string_value(json_object_get(ev, "source")), sev ? sev : "?",
	       SYSLOG_DETAIL_MAX, detail ? detail : "{}");
	free(detail);
}

void rw_outputs_event(struct rw_outputs *o, const json_t *event)
{
	json_t *copy;
	char when[40], *line;

	if (!o)
		return;
	if (o->syslog)
		to_syslog(event);
	if (!o->json)
		return;
	copy = json_deep_copy(event);
	if (!copy)
		return;
	rw_format_time(json_integer_value(json_object_get(event, "time_ms")), when, sizeof(when));
	json_object_set_new(copy, "time", json_string(when));
	line = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (!line)
		return;
	pthread_mutex_lock(&o->lock);
	fprintf(o->json, "%s\n", line);
	fflush(o->json);
	pthread_mutex_unlock(&o->lock);
	free(line);
}

void rw_outputs_close(struct rw_outputs *o)
{
	if (!o)
		return;
	if (o->json && !o->json_is_stdout)
		fclose(o->json);
	if (o->syslog)
		closelog();
	pthread_mutex_destroy(&o->lock);
	free(o);
}

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

/* The JSON lines stream for @json_log: "" none (*out NULL), "-" stdout, else the file. */
static int open_json(const char *json_log, FILE **out, bool *is_stdout, char *err, size_t errlen)
{
	int fd;

	*out = NULL;
	*is_stdout = false;
	if (json_log && !strcmp(json_log, "-")) {
		*out = stdout;
		*is_stdout = true;
		return 0;
	}
	if (!json_log || !*json_log)
		return 0;
	fd = open(json_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	*out = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!*out) {
		snprintf(err, errlen, "json-log %s: %s", json_log, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

int rw_outputs_open(const char *json_log, bool use_syslog, struct rw_outputs **out,
		    char *err, size_t errlen)
{
	struct rw_outputs *o = calloc(1, sizeof(*o));

	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (open_json(json_log, &o->json, &o->json_is_stdout, err, errlen)) {
		free(o);
		return -1;
	}
	o->syslog = use_syslog;
	if (use_syslog)
		openlog("ringwatchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_init(&o->lock, NULL);
	*out = o;
	return 0;
}

int rw_outputs_reconfigure(struct rw_outputs *o, const char *json_log, bool use_syslog,
			   char *err, size_t errlen)
{
	FILE *json, *old;
	bool is_stdout, old_is_stdout, had_syslog;

	if (open_json(json_log, &json, &is_stdout, err, errlen))
		return -1;
	pthread_mutex_lock(&o->lock);
	old = o->json;
	old_is_stdout = o->json_is_stdout;
	had_syslog = o->syslog;
	o->json = json;
	o->json_is_stdout = is_stdout;
	if (use_syslog && !had_syslog)
		openlog("ringwatchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	o->syslog = use_syslog;
	pthread_mutex_unlock(&o->lock);
	if (old && !old_is_stdout)
		fclose(old);
	if (had_syslog && !use_syslog)
		closelog();
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

	bool use_syslog, use_json;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	use_syslog = o->syslog;
	use_json = o->json != NULL;
	pthread_mutex_unlock(&o->lock);
	if (use_syslog)
		to_syslog(event);
	if (!use_json)
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
	if (o->json) {	/* under the lock: a reload may have switched it */
		fprintf(o->json, "%s\n", line);
		fflush(o->json);
	}
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

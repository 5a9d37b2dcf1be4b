// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/daemon.h"

static const double buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define NRESULTS 4
#define HTTP_REQ_MAX 8192
#define HTTP_TIMEOUT_MS 2000

struct check_metrics {
	const char *name;
	uint64_t runs[NRESULTS];
	uint64_t bucket[NBUCKETS];	/* non-cumulative counts */
	uint64_t count;
	double sum;
};

struct rw_metrics {
	pthread_mutex_t lock;
	size_t nchecks;
	struct check_metrics *checks;
	uint64_t events[RW_SEV_COUNT];
	int listen_fd;
	int stop_pipe[2];
	int port;
	pthread_t thread;
	bool serving;
	struct rw_daemon *d;
};

struct rw_metrics *rw_metrics_new(const struct rw_check_ops *const *checks, size_t nchecks)
{
	struct rw_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->checks = calloc(nchecks ? nchecks : 1, sizeof(*m->checks));
	if (!m->checks) {
		free(m);
		return NULL;
	}
	m->nchecks = nchecks;
	for (size_t i = 0; i < nchecks; i++)
		m->checks[i].name = checks[i]->name;
	m->listen_fd = m->stop_pipe[0] = m->stop_pipe[1] = -1;
	m->port = -1;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void rw_metrics_free(struct rw_metrics *m)
{
	if (!m)
		return;
	rw_metrics_shutdown(m);
	pthread_mutex_destroy(&m->lock);
	free(m->checks);
	free(m);
}

void rw_metrics_check_run(struct rw_metrics *m, size_t check, enum rw_result r, double seconds)
{
	struct check_metrics *c;

	if (!m || check >= m->nchecks || (unsigned)r >= NRESULTS)
		return;
	c = &m->checks[check];
	pthread_mutex_lock(&m->lock);
	c->runs[r]++;
	c->count++;
	c->sum += seconds;
	for (size_t b = 0; b < NBUCKETS; b++) {
		if (seconds <= buckets[b]) {
			c->bucket[b]++;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

void rw_metrics_event(struct rw_metrics *m, enum rw_severity sev)
{
	if (!m || (unsigned)sev >= RW_SEV_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	m->events[sev]++;
	pthread_mutex_unlock(&m->lock);
}

/* Growing text buffer; on allocation failure it stays NULL and output is dropped. */
struct textbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void tb_printf(struct textbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(struct textbuf *tb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (tb->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(tb->p ? tb->p + tb->len : NULL, tb->p ? tb->cap - tb->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			tb->failed = true;
			return;
		}
		if (tb->p && (size_t)n < tb->cap - tb->len) {
			tb->len += (size_t)n;
			return;
		}
		size_t ncap = (tb->cap ? tb->cap * 2 : 4096) + (size_t)n;
		char *np = realloc(tb->p, ncap);

		if (!np) {
			tb->failed = true;
			return;
		}
		tb->p = np;
		tb->cap = ncap;
	}
}

/* VM and check names are [A-Za-z0-9_.-]: no label escaping needed. */
static void render_vms(struct textbuf *tb, json_t *list)
{
	json_t *vm, *c;
	size_t i, j;

	tb_printf(tb, "# HELP ringwatch_vm_state VM state: 0 ok, 1 alert, 2 unknown, 3 gone.\n"
		  "# TYPE ringwatch_vm_state gauge\n");
	json_array_foreach(list, i, vm) {
		const char *st = json_string_value(json_object_get(vm, "state"));
		int v = !strcmp(st, "ok") ? 0 : !strcmp(st, "alert") ? 1 :
			!strcmp(st, "gone") ? 3 : 2;

		tb_printf(tb, "ringwatch_vm_state{vm=\"%s\"} %d\n",
			  json_string_value(json_object_get(vm, "name")), v);
	}
	tb_printf(tb, "# HELP ringwatch_vm_open_alerts Unacknowledged alert events.\n"
		  "# TYPE ringwatch_vm_open_alerts gauge\n");
	json_array_foreach(list, i, vm)
		tb_printf(tb, "ringwatch_vm_open_alerts{vm=\"%s\"} %lld\n",
			  json_string_value(json_object_get(vm, "name")),
			  (long long)json_integer_value(json_object_get(vm, "open_alerts")));
	tb_printf(tb, "# HELP ringwatch_check_status Last result: 0 ok, 1 alert, 2 unknown, 3 error.\n"
		  "# TYPE ringwatch_check_status gauge\n");
	json_array_foreach(list, i, vm) {
		json_array_foreach(json_object_get(vm, "checks"), j, c) {
			const char *r = json_string_value(json_object_get(c, "result"));
			int v = !strcmp(r, "ok") ? 0 : !strcmp(r, "alert") ? 1 :
				!strcmp(r, "error") ? 3 : 2;

			tb_printf(tb, "ringwatch_check_status{vm=\"%s\",check=\"%s\"} %d\n",
				  json_string_value(json_object_get(vm, "name")),
				  json_string_value(json_object_get(c, "check")), v);
		}
	}
}

static void render_channel(struct textbuf *tb, json_t *list)
{
	static const struct { const char *key, *name, *type, *help; } gauges[] = {
		{ "streams", "ringwatch_channel_streams", "gauge", "Guest channel streams connected." },
		{ "messages", "ringwatch_channel_messages_total", "counter",
		  "Guest messages stored since the daemon started." },
		{ "lost", "ringwatch_channel_lost_total", "counter",
		  "Messages the guest reported lost (queue overflow)." },
		{ "gaps", "ringwatch_channel_gaps_total", "counter", "Sequence gaps seen." },
		{ "last_message_ms", "ringwatch_channel_last_message_timestamp_seconds", "gauge",
		  "Unix time of the last stored guest message (0: none)." },
	};
	json_t *vm;
	size_t i;

	for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
		tb_printf(tb, "# HELP %s %s\n# TYPE %s %s\n", gauges[g].name, gauges[g].help,
			  gauges[g].name, gauges[g].type);
		json_array_foreach(list, i, vm) {
			json_int_t v = json_integer_value(
				json_object_get(json_object_get(vm, "channel"), gauges[g].key));

			if (!strcmp(gauges[g].key, "last_message_ms"))
				tb_printf(tb, "%s{vm=\"%s\"} %.3f\n", gauges[g].name,
					  json_string_value(json_object_get(vm, "name")), v / 1000.0);
			else
				tb_printf(tb, "%s{vm=\"%s\"} %lld\n", gauges[g].name,
					  json_string_value(json_object_get(vm, "name")), (long long)v);
		}
	}
}

static void render_checks(struct textbuf *tb, struct rw_metrics *m)
{
	tb_printf(tb, "# HELP ringwatch_checks_run_total Check runs by result.\n"
		  "# TYPE ringwatch_checks_run_total counter\n");
	for (size_t i = 0; i < m->nchecks; i++)
		for (unsigned r = 0; r < NRESULTS; r++)
			tb_printf(tb, "ringwatch_checks_run_total{check=\"%s\",result=\"%s\"} %llu\n",
				  m->checks[i].name, rw_result_name((enum rw_result)r),
				  (unsigned long long)m->checks[i].runs[r]);
	tb_printf(tb, "# HELP ringwatch_check_duration_seconds Time one check takes on one VM.\n"
		  "# TYPE ringwatch_check_duration_seconds histogram\n");
	for (size_t i = 0; i < m->nchecks; i++) {
		const struct check_metrics *c = &m->checks[i];
		uint64_t cum = 0;

		for (size_t b = 0; b < NBUCKETS; b++) {
			cum += c->bucket[b];
			tb_printf(tb, "ringwatch_check_duration_seconds_bucket{check=\"%s\",le=\"%g\"} %llu\n",
				  c->name, buckets[b], (unsigned long long)cum);
		}
		tb_printf(tb, "ringwatch_check_duration_seconds_bucket{check=\"%s\",le=\"+Inf\"} %llu\n"
			  "ringwatch_check_duration_seconds_sum{check=\"%s\"} %.6f\n"
			  "ringwatch_check_duration_seconds_count{check=\"%s\"} %llu\n",
			  c->name, (unsigned long long)c->count, c->name, c->sum, c->name,
			  (unsigned long long)c->count);
	}
	tb_printf(tb, "# HELP ringwatch_events_total Events stored since the daemon started.\n"
		  "# TYPE ringwatch_events_total counter\n");
	for (unsigned s = 0; s < RW_SEV_COUNT; s++)
		tb_printf(tb, "ringwatch_events_total{severity=\"%s\"} %llu\n",
			  rw_severity_name((enum rw_severity)s), (unsigned long long)m->events[s]);
}

char *rw_metrics_render(struct rw_daemon *d)
{
	struct textbuf tb = { 0 };
	json_t *list = rw_daemon_list_json(d);

	if (list) {
		render_vms(&tb, list);
		render_channel(&tb, list);
	}
	json_decref(list);
	pthread_mutex_lock(&d->metrics->lock);
	render_checks(&tb, d->metrics);
	pthread_mutex_unlock(&d->metrics->lock);
	if (tb.failed) {
		free(tb.p);
		return NULL;
	}
	return tb.p;
}

static void write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Read the request head (bounded in size and time); true for GET /metrics. */
static bool read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, HTTP_TIMEOUT_MS) <= 0)
			return false;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
	return !strncmp(buf, "GET /metrics ", 13) || !strncmp(buf, "GET /metrics?", 13);
}

static void serve_one(struct rw_metrics *m, int fd)
{
	char req[HTTP_REQ_MAX], head[256];
	struct timeval tv = { .tv_sec = HTTP_TIMEOUT_MS / 1000 };
	char *body;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!read_request(fd, req, sizeof(req))) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n"
					 "Connection: close\r\n\r\n";
		write_all_fd(fd, nf, sizeof(nf) - 1);
		return;
	}
	body = rw_metrics_render(m->d);
	snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 body ? "200 OK" : "500 Internal Server Error", body ? strlen(body) : 0);
	write_all_fd(fd, head, strlen(head));
	if (body)
		write_all_fd(fd, body, strlen(body));
	free(body);
}

static void *metrics_thread(void *arg)
{
	struct rw_metrics *m = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = m->listen_fd, .events = POLLIN },
				       { .fd = m->stop_pipe[0], .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(m, fd);
		close(fd);
	}
	return NULL;
}

static int bind_tcp(const char *addr, int *port, char *err, size_t errlen)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, rc;

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(err, errlen, "metrics address '%s': expected HOST:PORT", addr);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "metrics address '%s': %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)) {
		snprintf(err, errlen, "metrics address '%s': %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		      ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int rw_metrics_listen(struct rw_daemon *d, const char *addr, char *err, size_t errlen)
{
	struct rw_metrics *m = d->metrics;

	m->d = d;
	m->listen_fd = bind_tcp(addr, &m->port, err, errlen);
	if (m->listen_fd < 0)
		return -1;
	if (pipe2(m->stop_pipe, O_CLOEXEC) ||
	    pthread_create(&m->thread, NULL, metrics_thread, m)) {
		snprintf(err, errlen, "metrics thread: %s", strerror(errno));
		rw_metrics_shutdown(m);
		return -1;
	}
	m->serving = true;
	return 0;
}

int rw_metrics_port(struct rw_metrics *m)
{
	return m ? m->port : -1;
}

void rw_metrics_shutdown(struct rw_metrics *m)
{
	if (!m)
		return;
	if (m->serving) {
		if (write(m->stop_pipe[1], "x", 1) != 1)
			pthread_cancel(m->thread);
		pthread_join(m->thread, NULL);
		m->serving = false;
	}
	int *fds[] = { &m->listen_fd, &m->stop_pipe[0], &m->stop_pipe[1] };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

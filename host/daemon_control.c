// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "host/daemon.h"
#include "host/daemon_channel.h"
#include "host/json_line.h"

#define CLIENT_IDLE_TIMEOUT_MS (10 * 60 * 1000)
#define SEND_TIMEOUT_S 10
#define MAX_EVENT_LIMIT 100000u

struct rw_control {
	struct rw_daemon *d;
	int listen_fd;
	int stop_pipe[2];
	char path[108];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* a client left */
	int clients[RW_CONTROL_MAX_CLIENTS];
	int nclients;
	bool stopping;
};

struct client {
	struct rw_control *c;
	int fd;
};

/* --- request helpers ---------------------------------------------------------- */

static json_t *error_reply(int rc, const char *msg)
{
	return json_pack("{s:b,s:s,s:s}", "ok", 0, "code", rw_derr_code(rc), "error", msg);
}

static json_t *ok_reply(json_t *result)
{
	return json_pack("{s:b,s:o}", "ok", 1, "result", result ? result : json_object());
}

/* Optional string member; @out NULL when absent.  -1 when present but not a string. */
static int get_str(json_t *req, const char *key, const char **out)
{
	json_t *v = json_object_get(req, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) > 4096)
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* Optional integer member in [0, max]; 0 when absent. */
static int get_uint(json_t *req, const char *key, long long max, long long *out)
{
	json_t *v = json_object_get(req, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static json_t *bad_field(const char *key)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "field '%s' missing or of the wrong type", key);
	return error_reply(-RW_DERR_BAD_REQUEST, msg);
}

/* The "vm" member, required. */
static const char *need_vm(json_t *req)
{
	const char *vm;

	return get_str(req, "vm", &vm) || !vm ? NULL : vm;
}

static json_t *vm_reply(struct rw_daemon *d, const char *vm)
{
	int rc;
	json_t *o = rw_daemon_vm_json(d, vm, true, &rc);
	char msg[128];

	if (!o) {
		snprintf(msg, sizeof(msg), "no VM '%s'", vm);
		return error_reply(rc, msg);
	}
	return ok_reply(o);
}

/* --- commands ----------------------------------------------------------------- */

static json_t *cmd_ping(struct rw_daemon *d, json_t *req)
{
	(void)req;
	return ok_reply(json_pack("{s:i,s:s,s:I}", "pid", (int)getpid(), "state_dir",
				  d->state_dir, "checks", (json_int_t)d->nchecks));
}

static json_t *cmd_list(struct rw_daemon *d, json_t *req)
{
	(void)req;
	return ok_reply(json_pack("{s:o}", "vms", rw_daemon_list_json(d)));
}

static json_t *cmd_status(struct rw_daemon *d, json_t *req)
{
	const char *vm = need_vm(req);

	return vm ? vm_reply(d, vm) : bad_field("vm");
}

static json_t *cmd_check(struct rw_daemon *d, json_t *req)
{
	const char *vm = need_vm(req);
	long long timeout;
	char err[512];
	int rc;

	if (!vm)
		return bad_field("vm");
	if (get_uint(req, "timeout_ms", 3600000, &timeout))
		return bad_field("timeout_ms");
	rc = rw_daemon_check_now(d, vm, (int)timeout, err, sizeof(err));
	return rc ? error_reply(rc, err) : vm_reply(d, vm);
}

static json_t *cmd_attach(struct rw_daemon *d, json_t *req)
{
	struct rw_attach_req a = { 0 };
	long long interval, cid;
	char err[512];
	int rc;

	if (get_str(req, "name", &a.name) || !a.name)
		return bad_field("name");
	if (get_str(req, "qmp", &a.qmp) || !a.qmp)
		return bad_field("qmp");
	if (get_str(req, "mem", &a.mem))
		return bad_field("mem");
	if (get_str(req, "kernel", &a.kernel))
		return bad_field("kernel");
	if (get_uint(req, "interval_ms", 86400000, &interval))
		return bad_field("interval_ms");
	a.interval_ms = (unsigned int)interval;
	if (get_uint(req, "vsock_cid", 0xfffffffeLL, &cid) || (cid && cid < 3))
		return bad_field("vsock_cid");
	a.vsock_cid = (unsigned int)cid;
	rc = rw_daemon_attach(d, &a, err, sizeof(err));
	return rc ? error_reply(rc, err) : vm_reply(d, a.name);
}

static json_t *cmd_launch(struct rw_daemon *d, json_t *req)
{
	struct rw_launch_req l = { 0 };
	long long mem, cpus, interval, timeout;
	char err[8192];
	int rc;

	if (get_str(req, "name", &l.name) || !l.name)
		return bad_field("name");
	if (get_str(req, "disk", &l.disk) || get_str(req, "disk_format", &l.disk_format))
		return bad_field("disk/disk_format");
	if (get_str(req, "kernel", &l.kernel) || (!l.kernel && !l.disk))
		return bad_field("kernel");
	if (get_str(req, "initrd", &l.initrd) || (!l.initrd && !l.disk))
		return bad_field("initrd");
	if (get_str(req, "overlay", &l.overlay))
		return bad_field("overlay");
	if (get_uint(req, "memory_mib", 1 << 20, &mem) || get_uint(req, "cpus", 1024, &cpus) ||
	    get_uint(req, "interval_ms", 86400000, &interval) ||
	    get_uint(req, "timeout_ms", 3600000, &timeout))
		return bad_field("memory_mib/cpus/interval_ms/timeout_ms");
	l.memory_mib = (unsigned int)mem;
	l.cpus = (unsigned int)cpus;
	l.interval_ms = (unsigned int)interval;
	l.timeout_ms = (unsigned int)timeout;
	l.no_kaslr = json_is_true(json_object_get(req, "no_kaslr"));
	l.no_reboot = json_is_true(json_object_get(req, "no_reboot"));
	rc = rw_daemon_launch(d, &l, err, sizeof(err));
	return rc ? error_reply(rc, err) : vm_reply(d, l.name);
}

typedef int (*vm_op_fn)(struct rw_daemon *, const char *, char *, size_t);

static json_t *simple_vm_op(struct rw_daemon *d, json_t *req, vm_op_fn op)
{
	const char *vm = need_vm(req);
	char err[512];
	int rc;

	if (!vm)
		return bad_field("vm");
	rc = op(d, vm, err, sizeof(err));
	return rc ? error_reply(rc, err) : ok_reply(json_pack("{s:s}", "vm", vm));
}

static json_t *cmd_detach(struct rw_daemon *d, json_t *req)
{
	return simple_vm_op(d, req, rw_daemon_detach);
}

static json_t *cmd_destroy(struct rw_daemon *d, json_t *req)
{
	return simple_vm_op(d, req, rw_daemon_destroy);
}

static json_t *cmd_resume(struct rw_daemon *d, json_t *req)
{
	return simple_vm_op(d, req, rw_daemon_resume);
}

static json_t *cmd_ack(struct rw_daemon *d, json_t *req)
{
	const char *vm = need_vm(req);
	long long id;
	char err[256];
	int64_t n;
	int rc;
	json_t *probe;

	if (!vm)
		return bad_field("vm");
	if (get_uint(req, "id", INT64_MAX, &id))
		return bad_field("id");
	probe = rw_daemon_vm_json(d, vm, false, &rc);
	if (!probe) {
		snprintf(err, sizeof(err), "no VM '%s'", vm);
		return error_reply(rc, err);
	}
	json_decref(probe);
	n = rw_store_ack(d->store, vm, id, err, sizeof(err));
	if (n < 0)
		return error_reply(-RW_DERR_FAILED, err);
	return ok_reply(json_pack("{s:s,s:I}", "vm", vm, "acknowledged", (json_int_t)n));
}

static int parse_event_query(struct rw_daemon *d, json_t *req, struct rw_event_query *q,
			     json_t **errout)
{
	long long since, after, limit;
	int rc;

	memset(q, 0, sizeof(*q));
	if (get_str(req, "vm", &q->vm)) {
		*errout = bad_field("vm");
		return -1;
	}
	if (get_uint(req, "since_ms", INT64_MAX, &since) ||
	    get_uint(req, "after_id", INT64_MAX, &after) ||
	    get_uint(req, "limit", MAX_EVENT_LIMIT, &limit)) {
		*errout = bad_field("since_ms/after_id/limit");
		return -1;
	}
	q->since_ms = since;
	q->after_id = after;
	q->limit = (unsigned int)limit;
	if (q->vm) {
		json_t *probe = rw_daemon_vm_json(d, q->vm, false, &rc);
		struct rw_event_query any = { .vm = q->vm, .limit = 1 };
		json_t *arr = NULL;
		char err[256];

		if (!probe && (rw_store_events(d->store, &any, &arr, err, sizeof(err)) ||
			       !json_array_size(arr))) {
			json_decref(arr);
			snprintf(err, sizeof(err), "no VM '%s' and no events of it", q->vm);
			*errout = error_reply(-RW_DERR_UNKNOWN_VM, err);
			return -1;
		}
		json_decref(probe);
		json_decref(arr);
	}
	return 0;
}

static json_t *cmd_events(struct rw_daemon *d, json_t *req)
{
	struct rw_event_query q;
	json_t *arr, *errout;
	char err[256];

	if (parse_event_query(d, req, &q, &errout))
		return errout;
	if (rw_store_events(d->store, &q, &arr, err, sizeof(err)))
		return error_reply(-RW_DERR_FAILED, err);
	return ok_reply(json_pack("{s:o}", "events", arr));
}

/* {"cmd":"policy","vm":N,"op":"add"|"remove","rule":["module-allow","NAME","SHA|*"]} */
static json_t *cmd_policy(struct rw_daemon *d, json_t *req)
{
	const char *vm = need_vm(req), *op, *words[4];
	json_t *rule = json_object_get(req, "rule"), *probe, *w;
	struct rw_dchan_policy p;
	char err[512];
	int64_t gen;
	size_t i, n;
	int rc;

	if (!vm)
		return bad_field("vm");
	if (get_str(req, "op", &op) || !op || (strcmp(op, "add") && strcmp(op, "remove")))
		return bad_field("op");
	n = json_array_size(rule);
	if (!json_is_array(rule) || n < 1 || n > 3)
		return bad_field("rule");
	json_array_foreach(rule, i, w) {
		if (!json_is_string(w) || strlen(json_string_value(w)) > 255)
			return bad_field("rule");
		words[i] = json_string_value(w);
	}
	if (rw_dchan_policy_parse(words, n, !strcmp(op, "remove"), &p, err, sizeof(err)))
		return error_reply(-RW_DERR_BAD_REQUEST, err);
	probe = rw_daemon_vm_json(d, vm, false, &rc);
	if (!probe) {
		snprintf(err, sizeof(err), "no VM '%s'", vm);
		return error_reply(rc, err);
	}
	json_decref(probe);
	gen = rw_dchan_push_policy(d->chan, vm, &p, 10000, err, sizeof(err));
	if (gen < 0)
		return error_reply(-RW_DERR_FAILED, err);
	{
		json_t *detail = json_pack("{s:s,s:O,s:I,s:b}", "op", op, "rule", rule,
					   "generation", (json_int_t)gen, "acknowledged", 1);
		char eerr[256];

		if (rw_daemon_event(d, vm, "ringwatchd", "policy", RW_SEV_INFO, detail, eerr,
				    sizeof(eerr)) < 0)
			rw_daemon_log(d, LOG_ERR, "event for %s: %s", vm, eerr);
		json_decref(detail);
	}
	return ok_reply(json_pack("{s:s,s:s,s:O,s:I}", "vm", vm, "op", op, "rule", rule,
				  "generation", (json_int_t)gen));
}

static const struct {
	const char *name;
	json_t *(*run)(struct rw_daemon *d, json_t *req);
} commands[] = {
	{ "ping", cmd_ping },       { "list", cmd_list },     { "status", cmd_status },
	{ "check", cmd_check },     { "events", cmd_events }, { "attach", cmd_attach },
	{ "detach", cmd_detach },   { "launch", cmd_launch }, { "destroy", cmd_destroy },
	{ "resume", cmd_resume },   { "ack", cmd_ack },       { "policy", cmd_policy },
};

json_t *rw_control_handle(struct rw_daemon *d, json_t *req)
{
	const char *cmd;
	char msg[128];

	if (!json_is_object(req) || get_str(req, "cmd", &cmd) || !cmd)
		return error_reply(-RW_DERR_BAD_REQUEST, "request must be an object with \"cmd\"");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, cmd))
			return commands[i].run(d, req);
	snprintf(msg, sizeof(msg), "unknown command '%.40s'", cmd);
	return error_reply(-RW_DERR_BAD_REQUEST, msg);
}

/* --- connection handling ------------------------------------------------------- */

/* Read one request line (bounded size, idle timeout).  NULL at EOF/error/stop. */
static char *read_request(struct rw_control *c, int fd, char *buf, size_t *len)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *len);
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = c->stop_pipe[0], .events = POLLIN } };
		ssize_t n;

		if (nl) {
			*nl = '\0';
			return buf;
		}
		if (*len >= RW_CONTROL_MAX_REQUEST)
			return NULL;
		if (poll(p, 2, CLIENT_IDLE_TIMEOUT_MS) <= 0 || p[1].revents)
			return NULL;
		n = recv(fd, buf + *len, RW_CONTROL_MAX_REQUEST - *len, 0);
		if (n <= 0)
			return NULL;
		*len += (size_t)n;
	}
}

static bool client_gone(struct rw_control *c, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = c->stop_pipe[0], .events = POLLIN } };
	char byte;

	if (poll(p, 2, 0) <= 0)
		return false;
	if (p[1].revents)
		return true;
	return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* After the reply to {"cmd":"events","follow":true}: stream new events. */
static void follow_events(struct rw_control *c, int fd, json_t *req, json_t *first)
{
	struct rw_daemon *d = c->d;
	struct rw_event_query q;
	json_t *arr = json_object_get(json_object_get(first, "result"), "events"), *errout;
	int64_t after = json_array_size(arr) ?
		json_integer_value(json_object_get(json_array_get(arr, json_array_size(arr) - 1),
						   "id")) : rw_store_last_event_id(d->store);

	if (parse_event_query(d, req, &q, &errout)) {
		json_decref(errout);
		return;
	}
	q.since_ms = 0;
	q.limit = 0;
	while (!client_gone(c, fd)) {
		json_t *ev, *batch = NULL;
		size_t i;
		char err[256];

		pthread_mutex_lock(&d->lock);
		if (d->last_event_id <= after && !d->stopping) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&d->event_cond, &d->lock, &ts);
		}
		pthread_mutex_unlock(&d->lock);
		q.after_id = after;
		if (rw_store_events(d->store, &q, &batch, err, sizeof(err)))
			return;
		json_array_foreach(batch, i, ev) {
			json_t *line = json_pack("{s:O}", "event", ev);

			after = json_integer_value(json_object_get(ev, "id"));
			if (rw_json_line_send(fd, line)) {
				json_decref(line);
				json_decref(batch);
				return;
			}
			json_decref(line);
		}
		json_decref(batch);
	}
}

static void serve_client(struct rw_control *c, int fd)
{
	char *buf = malloc(RW_CONTROL_MAX_REQUEST + 1);
	size_t len = 0;
	char *line;

	if (!buf)
		return;
	while ((line = read_request(c, fd, buf, &len))) {
		size_t used = strlen(line) + 1;
		json_error_t jerr;
		json_t *req = json_loads(line, 0, &jerr), *resp;

		resp = req ? rw_control_handle(c->d, req) :
			error_reply(-RW_DERR_BAD_REQUEST, "request is not valid JSON");
		if (rw_json_line_send(fd, resp) == 0 && req && json_is_true(json_object_get(resp, "ok")) &&
		    !strcmp(json_string_value(json_object_get(req, "cmd")), "events") &&
		    json_is_true(json_object_get(req, "follow"))) {
			follow_events(c, fd, req, resp);
			json_decref(resp);
			json_decref(req);
			break;
		}
		json_decref(resp);
		json_decref(req);
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	free(buf);
}

static void client_done(struct rw_control *c, int fd)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nclients; i++) {
		if (c->clients[i] == fd) {
			c->clients[i] = c->clients[--c->nclients];
			break;
		}
	}
	close(fd);
	pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

static void *client_main(void *arg)
{
	struct client *cl = arg;

	serve_client(cl->c, cl->fd);
	client_done(cl->c, cl->fd);
	free(cl);
	return NULL;
}

static void accept_one(struct rw_control *c)
{
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	struct client *cl;
	pthread_attr_t attr;
	pthread_t t;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&c->lock);
	if (c->nclients >= RW_CONTROL_MAX_CLIENTS || c->stopping) {
		pthread_mutex_unlock(&c->lock);
		json_t *busy = error_reply(-RW_DERR_BUSY, "too many control clients");

		rw_json_line_send(fd, busy);
		json_decref(busy);
		close(fd);
		return;
	}
	c->clients[c->nclients++] = fd;
	pthread_mutex_unlock(&c->lock);
	cl = malloc(sizeof(*cl));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!cl || pthread_create(&t, &attr, client_main, cl ? (cl->c = c, cl->fd = fd, cl) : NULL)) {
		free(cl);
		client_done(c, fd);
	}
	pthread_attr_destroy(&attr);
}

static void *control_main(void *arg)
{
	struct rw_control *c = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->listen_fd, .events = POLLIN },
				       { .fd = c->stop_pipe[0], .events = POLLIN } };

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			accept_one(c);
	}
	return NULL;
}

int rw_control_bind(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		snprintf(err, errlen, "%s: another ringwatchd is answering there", path);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);	/* stale socket of a daemon that died */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);	/* socket file 0600 from the start */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 32)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	chmod(path, 0600);
	return fd;
}

int rw_control_start(struct rw_daemon *d, int listen_fd, const char *path,
		     struct rw_control **out, char *err, size_t errlen)
{
	struct rw_control *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		close(listen_fd);
		return -1;
	}
	c->d = d;
	c->listen_fd = listen_fd;
	snprintf(c->path, sizeof(c->path), "%s", path);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	if (pipe2(c->stop_pipe, O_CLOEXEC) || pthread_create(&c->thread, NULL, control_main, c)) {
		snprintf(err, errlen, "control thread: %s", strerror(errno));
		close(listen_fd);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void rw_control_stop(struct rw_control *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_mutex_unlock(&c->lock);
	if (write(c->stop_pipe[1], "x", 1) != 1)
		pthread_cancel(c->thread);
	pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nclients; i++)
		shutdown(c->clients[i], SHUT_RDWR);
	while (c->nclients)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);
	close(c->listen_fd);
	unlink(c->path);
	close(c->stop_pipe[0]);
	close(c->stop_pipe[1]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->idle);
	free(c);
}

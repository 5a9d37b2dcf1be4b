/* ringwatch-vsockd core: vhost-user-vsock device + relay to ringwatchd; see
 * vsock_relay.h. */
#include "host/vsock_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/channel_host.h"
#include "shared/rw_chan.h"

#define DEFAULT_UP_BUF (1u << 20)
#define READ_CHUNK 65536u
#define CONTROL_BACKOFF_MIN_MS 100u
#define CONTROL_BACKOFF_MAX_MS 2000u
#define MAX_RELAY_PORTS 16u

/* ---- wire helpers ------------------------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void rw_relay_preamble_encode(const struct rw_relay_preamble *p, uint8_t out[RW_RELAY_PREAMBLE_LEN])
{
	memset(out, 0, RW_RELAY_PREAMBLE_LEN);
	put_le(out, RW_RELAY_MAGIC, 4);
	put_le(out + 4, RW_RELAY_VERSION, 2);
	put_le(out + 6, p->kind, 2);
	put_le(out + 8, p->cid, 4);
	put_le(out + 12, p->guest_port, 4);
	put_le(out + 16, p->host_port, 4);
	memcpy(out + 24, p->vm, strnlen(p->vm, RW_RELAY_VM_MAX - 1));
}

int rw_relay_preamble_decode(const uint8_t in[RW_RELAY_PREAMBLE_LEN], struct rw_relay_preamble *p,
			     const char **why)
{
	size_t n;

	if (get_le(in, 4) != RW_RELAY_MAGIC) {
		*why = "bad relay magic";
		return -1;
	}
	if (get_le(in + 4, 2) != RW_RELAY_VERSION) {
		*why = "unknown relay version";
		return -2;
	}
	p->kind = (uint16_t)get_le(in + 6, 2);
	if (p->kind != RW_RELAY_STREAM && p->kind != RW_RELAY_CONTROL) {
		*why = "unknown relay connection kind";
		return -3;
	}
	if (get_le(in + 20, 4) || get_le(in + 88, 8)) {
		*why = "reserved relay preamble bytes not zero";
		return -4;
	}
	p->cid = (uint32_t)get_le(in + 8, 4);
	p->guest_port = (uint32_t)get_le(in + 12, 4);
	p->host_port = (uint32_t)get_le(in + 16, 4);
	n = strnlen((const char *)in + 24, RW_RELAY_VM_MAX);
	if (n >= RW_RELAY_VM_MAX) {
		*why = "VM name not terminated";
		return -5;
	}
	for (size_t i = n; i < RW_RELAY_VM_MAX; i++)
		if (in[24 + i]) {
			*why = "VM name padding not zero";
			return -5;
		}
	memcpy(p->vm, in + 24, n);
	p->vm[n] = '\0';
	if (!rw_ch_vm_name_ok(p->vm)) {
		*why = "invalid VM name";
		return -6;
	}
	return 0;
}

size_t rw_relay_mem_encode(const struct rw_relay_region *r, unsigned n, uint8_t *out)
{
	put_le(out, RW_RELAY_MEM_MAGIC, 4);
	put_le(out + 4, n, 4);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = out + RW_RELAY_MEM_HDR + i * RW_RELAY_MEM_REGION;
		put_le(e, r[i].gpa, 8);
		put_le(e + 8, r[i].size, 8);
		put_le(e + 16, r[i].fd_offset, 8);
	}
	return RW_RELAY_MEM_HDR + n * RW_RELAY_MEM_REGION;
}

/* ---- relay -------------------------------------------------------------------- */

struct relay_stream {
	struct vsock_relay *r;
	struct relay_stream *next;
	struct vsock_conn *conn; /* NULL once the guest side is gone */
	int fd;                  /* upstream unix socket */
	uint8_t *up;             /* guest -> ringwatchd bytes not written yet */
	size_t up_len;
	bool guest_eof;  /* guest sent SHUTDOWN(SEND): shut our write side once drained */
	bool up_shut;
	bool dead;       /* to be freed at the end of the loop iteration */
};

struct vsock_relay {
	struct vsock_relay_config cfg;
	char vm[RW_RELAY_VM_MAX];
	char upstream[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t ports[MAX_RELAY_PORTS];
	struct vhu_server *srv;
	struct relay_stream *streams;
	/* control connection */
	int ctl_fd;
	uint64_t ctl_next_try;
	unsigned ctl_backoff;
	struct rw_relay_region mem[RW_RELAY_MAX_REGIONS];
	int mem_fd[RW_RELAY_MAX_REGIONS]; /* owned by the server; valid while mem_n */
	unsigned mem_n;
	bool mem_dirty; /* the control peer has not seen the current table */
	struct vsock_relay_stats st;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Non-blocking connect to the upstream socket with a preamble queued or sent.
 * Returns the fd or -errno. A unix connect either completes or fails at once
 * (EAGAIN: the listener's backlog is full, treated as unavailable). */
static int connect_upstream(struct vsock_relay *r)
{
	struct sockaddr_un un;
	int fd;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, r->upstream, strlen(r->upstream));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void stream_mark_dead(struct relay_stream *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->dead = true;
}

/* Write buffered guest bytes upstream. false when the upstream failed. */
static bool stream_flush_up(struct relay_stream *s)
{
	while (s->up_len) {
		ssize_t n = send(s->fd, s->up, s->up_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			return false;
		}
		memmove(s->up, s->up + n, s->up_len - (size_t)n);
		s->up_len -= (size_t)n;
		s->r->st.bytes_up += (uint64_t)n;
	}
	if (s->guest_eof && !s->up_shut) {
		shutdown(s->fd, SHUT_WR);
		s->up_shut = true;
	}
	return true;
}

static bool stream_queue_up(struct relay_stream *s, const uint8_t *d, size_t n)
{
	if (s->r->cfg.up_buf - s->up_len < n)
		return false;
	memcpy(s->up + s->up_len, d, n);
	s->up_len += n;
	return true;
}

/* The upstream end failed or closed: end the guest connection. */
static void stream_upstream_gone(struct relay_stream *s, const char *why, bool graceful)
{
	struct vsock_conn *c = s->conn;

	s->r->st.streams_reset++;
	vhu_logf(&s->r->cfg.log, VHU_LOG_INFO, "stream from guest port %u: %s",
		 c ? vsock_conn_guest_port(c) : 0, why);
	stream_mark_dead(s);
	if (c) {
		if (graceful)
			vsock_close(c); /* bytes already queued (an ERROR frame) still go out */
		else
			vsock_abort(c, why);
	}
}

static int on_guest_connect(void *opaque, struct vsock_conn *c)
{
	struct vsock_relay *r = opaque;
	struct rw_relay_preamble p = { 0 };
	uint8_t pre[RW_RELAY_PREAMBLE_LEN];
	struct relay_stream *s;
	int fd = connect_upstream(r);

	if (fd < 0) {
		r->st.streams_refused++;
		vhu_logf(&r->cfg.log, VHU_LOG_INFO,
			 "refusing guest connection from port %u to %u: channel service %s unavailable (%s)",
			 vsock_conn_guest_port(c), vsock_conn_host_port(c), r->upstream, strerror(-fd));
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s)
		s->up = malloc(r->cfg.up_buf);
	if (!s || !s->up) {
		if (s)
			free(s->up);
		free(s);
		close(fd);
		vhu_logf(&r->cfg.log, VHU_LOG_WARN, "refusing guest connection: out of memory");
		return -1;
	}
	s->r = r;
	s->conn = c;
	s->fd = fd;
	p.kind = RW_RELAY_STREAM;
	p.cid = (uint32_t)r->cfg.guest_cid;
	p.guest_port = vsock_conn_guest_port(c);
	p.host_port = vsock_conn_host_port(c);
	snprintf(p.vm, sizeof(p.vm), "%s", r->vm);
	rw_relay_preamble_encode(&p, pre);
	stream_queue_up(s, pre, sizeof(pre));
	s->next = r->streams;
	r->streams = s;
	vsock_conn_set_user(c, s);
	r->st.streams_opened++;
	r->st.streams++;
	if (!stream_flush_up(s)) {
		/* the guest connection is accepted by returning 0; end it right away */
		s->conn = NULL;
		stream_mark_dead(s);
		vsock_conn_set_user(c, NULL);
		return -1;
	}
	return 0;
}

static void on_guest_data(void *opaque, struct vsock_conn *c, const uint8_t *d, size_t n)
{
	struct vsock_relay *r = opaque;
	struct relay_stream *s = vsock_conn_user(c);

	if (!s || s->dead)
		return;
	if (n == 0) {
		s->guest_eof = true;
		if (!stream_flush_up(s))
			stream_upstream_gone(s, "channel service connection failed", false);
		return;
	}
	if (!stream_queue_up(s, d, n)) {
		char why[160];

		r->st.overflows++;
		snprintf(why, sizeof(why),
			 "guest flood: %zu bytes waiting for the channel service, limit %zu", s->up_len + n,
			 r->cfg.up_buf);
		vhu_logf(&r->cfg.log, VHU_LOG_WARN, "stream from guest port %u reset: %s",
			 vsock_conn_guest_port(c), why);
		stream_mark_dead(s);
		vsock_abort(c, why);
		return;
	}
	if (!stream_flush_up(s))
		stream_upstream_gone(s, "channel service connection failed", false);
}

static void on_guest_close(void *opaque, struct vsock_conn *c, const char *why)
{
	struct relay_stream *s = vsock_conn_user(c);

	(void)opaque;
	if (!s)
		return;
	s->conn = NULL;
	if (!s->dead) {
		vhu_logf(&s->r->cfg.log, VHU_LOG_DEBUG, "guest stream closed: %s", why);
		stream_mark_dead(s);
	}
}

static void on_guest_writable(void *opaque, struct vsock_conn *c)
{
	(void)opaque;
	(void)c; /* the next poll round reads upstream again (send space is back) */
}

/* ---- control connection --------------------------------------------------------- */

static void control_close(struct vsock_relay *r, const char *why)
{
	if (r->ctl_fd < 0)
		return;
	vhu_logf(&r->cfg.log, VHU_LOG_WARN, "control connection to %s lost: %s", r->upstream, why);
	close(r->ctl_fd);
	r->ctl_fd = -1;
	r->st.control_up = false;
	r->ctl_next_try = mono_ms() + r->ctl_backoff;
}

static bool control_send_mem(struct vsock_relay *r)
{
	uint8_t buf[RW_RELAY_MEM_MAX];
	char cbuf[CMSG_SPACE(sizeof(int) * RW_RELAY_MAX_REGIONS)];
	struct iovec iov;
	struct msghdr mh;
	size_t len = rw_relay_mem_encode(r->mem, r->mem_n, buf);
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (r->mem_n) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * r->mem_n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * r->mem_n);
		memcpy(CMSG_DATA(cm), r->mem_fd, sizeof(int) * r->mem_n);
	}
	/* small record on a fresh, otherwise idle socket: goes in one piece */
	n = sendmsg(r->ctl_fd, &mh, MSG_NOSIGNAL);
	if (n != (ssize_t)len) {
		control_close(r, n < 0 ? strerror(errno) : "short write of the RAM table");
		return false;
	}
	r->mem_dirty = false;
	r->st.mem_sent++;
	vhu_logf(&r->cfg.log, VHU_LOG_INFO, "handed %u RAM region(s) to the channel service",
		 r->mem_n);
	return true;
}

static void control_try_connect(struct vsock_relay *r, uint64_t now)
{
	struct rw_relay_preamble p = { 0 };
	uint8_t pre[RW_RELAY_PREAMBLE_LEN];
	int fd;

	if (r->ctl_fd >= 0 || now < r->ctl_next_try)
		return;
	fd = connect_upstream(r);
	if (fd < 0) {
		r->ctl_next_try = now + r->ctl_backoff;
		r->ctl_backoff = r->ctl_backoff * 2 > CONTROL_BACKOFF_MAX_MS ? CONTROL_BACKOFF_MAX_MS
									      : r->ctl_backoff * 2;
		return;
	}
	/* the control socket is blocking with a timeout: records are tiny */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	p.kind = RW_RELAY_CONTROL;
	p.cid = (uint32_t)r->cfg.guest_cid;
	snprintf(p.vm, sizeof(p.vm), "%s", r->vm);
	rw_relay_preamble_encode(&p, pre);
	if (send(fd, pre, sizeof(pre), MSG_NOSIGNAL) != (ssize_t)sizeof(pre)) {
		close(fd);
		r->ctl_next_try = now + r->ctl_backoff;
		return;
	}
	r->ctl_fd = fd;
	r->ctl_backoff = CONTROL_BACKOFF_MIN_MS;
	r->st.control_up = true;
	r->st.control_connects++;
	vhu_logf(&r->cfg.log, VHU_LOG_INFO, "control connection to %s up", r->upstream);
	r->mem_dirty = true; /* a (re)started service knows nothing yet */
}

static void on_mem_changed(void *opaque, const struct guest_ram_region *reg, unsigned n)
{
	struct vsock_relay *r = opaque;

	if (n > RW_RELAY_MAX_REGIONS)
		n = RW_RELAY_MAX_REGIONS; /* guest_ram holds at most 8 */
	for (unsigned i = 0; i < n; i++) {
		r->mem[i].gpa = reg[i].guest_phys_addr;
		r->mem[i].size = reg[i].memory_size;
		r->mem[i].fd_offset = reg[i].mmap_offset;
		r->mem_fd[i] = reg[i].fd;
	}
	r->mem_n = n;
	r->mem_dirty = true;
	if (r->ctl_fd >= 0)
		control_send_mem(r);
}

/* ---- lifecycle ------------------------------------------------------------------ */

struct vsock_relay *vsock_relay_new(const struct vsock_relay_config *cfg)
{
	static const uint32_t default_port = RW_CHAN_DEFAULT_PORT;
	struct vhu_server_config sc;
	struct vsock_relay *r;

	if (!cfg || !rw_ch_vm_name_ok(cfg->vm_name) || !cfg->vhost_socket || !cfg->upstream ||
	    strlen(cfg->upstream) >= sizeof(r->upstream) || cfg->guest_cid < 3 ||
	    cfg->nports > MAX_RELAY_PORTS) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	snprintf(r->vm, sizeof(r->vm), "%s", cfg->vm_name);
	snprintf(r->upstream, sizeof(r->upstream), "%s", cfg->upstream);
	r->cfg.vm_name = r->vm;
	r->cfg.upstream = r->upstream;
	if (!r->cfg.up_buf)
		r->cfg.up_buf = DEFAULT_UP_BUF;
	if (r->cfg.up_buf < RW_RELAY_PREAMBLE_LEN + 65536)
		r->cfg.up_buf = RW_RELAY_PREAMBLE_LEN + 65536;
	if (!cfg->nports) {
		r->ports[0] = default_port;
		r->cfg.nports = 1;
	} else {
		memcpy(r->ports, cfg->ports, sizeof(uint32_t) * cfg->nports);
	}
	r->cfg.ports = r->ports;
	r->ctl_fd = -1;
	r->ctl_backoff = CONTROL_BACKOFF_MIN_MS;

	memset(&sc, 0, sizeof(sc));
	sc.socket_path = cfg->vhost_socket;
	sc.vsock = cfg->vsock;
	sc.vsock.guest_cid = cfg->guest_cid;
	sc.log = cfg->log;
	sc.mem_changed = on_mem_changed;
	sc.mem_opaque = r;
	r->srv = vhu_server_new(&sc);
	if (!r->srv) {
		free(r);
		return NULL;
	}
	static const struct vsock_listener_ops ops = {
		.on_connect = on_guest_connect,
		.on_data = on_guest_data,
		.on_close = on_guest_close,
		.on_writable = on_guest_writable,
	};
	for (unsigned i = 0; i < r->cfg.nports; i++) {
		int e = vsock_listen(vhu_server_vsock(r->srv), r->ports[i], &ops, r);
		if (e) {
			vhu_logf(&r->cfg.log, VHU_LOG_ERR, "cannot listen on vsock port %u: %s",
				 r->ports[i], strerror(-e));
			vhu_server_free(r->srv);
			free(r);
			errno = -e;
			return NULL;
		}
	}
	control_try_connect(r, mono_ms());
	return r;
}

static void free_stream(struct relay_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->up);
	free(s);
}

static void reap_streams(struct vsock_relay *r)
{
	struct relay_stream **pp = &r->streams;

	while (*pp) {
		struct relay_stream *s = *pp;

		if (s->dead && !s->conn) {
			*pp = s->next;
			free_stream(s);
			r->st.streams--;
		} else if (s->dead) {
			/* guest side still closing (vsock_close): forget our side */
			vsock_conn_set_user(s->conn, NULL);
			s->conn = NULL;
		} else {
			pp = &s->next;
		}
	}
}

void vsock_relay_free(struct vsock_relay *r)
{
	if (!r)
		return;
	vhu_server_free(r->srv); /* closes every guest connection (on_close) */
	reap_streams(r);
	while (r->streams) {
		struct relay_stream *s = r->streams;

		r->streams = s->next;
		free_stream(s);
	}
	if (r->ctl_fd >= 0)
		close(r->ctl_fd);
	free(r);
}

/* Upstream -> guest: read as much as the guest connection can take. */
static void stream_pump_down(struct relay_stream *s)
{
	uint8_t buf[READ_CHUNK];

	while (!s->dead && s->conn) {
		size_t space = vsock_conn_send_space(s->conn);
		ssize_t n, sent;

		if (!space)
			return;
		n = recv(s->fd, buf, space < sizeof(buf) ? space : sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			stream_upstream_gone(s, "channel service connection failed", false);
			return;
		}
		if (n == 0) {
			stream_upstream_gone(s, "channel service closed the stream", true);
			return;
		}
		sent = vsock_send(s->conn, buf, (size_t)n);
		if (sent != n) {
			/* cannot happen (we read at most the space), unless the guest went */
			stream_upstream_gone(s, "guest connection cannot take data", false);
			return;
		}
		s->r->st.bytes_down += (uint64_t)n;
	}
}

#define MAX_STREAM_FDS 256

int vsock_relay_run_once(struct vsock_relay *r, int timeout_ms)
{
	struct pollfd pfd[VHU_SERVER_POLLFDS + 1 + MAX_STREAM_FDS];
	struct relay_stream *polled[MAX_STREAM_FDS];
	uint64_t now = mono_ms();
	int nsrv, n, ctl_i = -1, ns = 0, rc;

	control_try_connect(r, now);
	if (r->ctl_fd >= 0 && r->mem_dirty && r->mem_n)
		control_send_mem(r);
	if (r->ctl_fd < 0) {
		int wait = r->ctl_next_try > now ? (int)(r->ctl_next_try - now) : 0;
		if (timeout_ms < 0 || timeout_ms > wait)
			timeout_ms = wait;
	}
	nsrv = vhu_server_poll_prepare(r->srv, pfd, &timeout_ms);
	n = nsrv;
	if (r->ctl_fd >= 0) {
		ctl_i = n;
		pfd[n++] = (struct pollfd){ .fd = r->ctl_fd, .events = POLLIN };
	}
	for (struct relay_stream *s = r->streams; s && ns < MAX_STREAM_FDS; s = s->next) {
		short ev = 0;

		if (s->dead)
			continue;
		if (s->conn && vsock_conn_send_space(s->conn))
			ev |= POLLIN;
		if (s->up_len)
			ev |= POLLOUT;
		polled[ns++] = s;
		pfd[n++] = (struct pollfd){ .fd = s->fd, .events = ev };
	}
	rc = poll(pfd, (nfds_t)n, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	vhu_server_poll_dispatch(r->srv, pfd);
	if (ctl_i >= 0 && pfd[ctl_i].revents && r->ctl_fd >= 0) {
		char junk[64];
		ssize_t got = recv(r->ctl_fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			control_close(r, got == 0 ? "channel service closed it" : strerror(errno));
	}
	for (int i = 0; i < ns; i++) {
		struct relay_stream *s = polled[i];
		short re = pfd[nsrv + (ctl_i >= 0) + i].revents;

		if (s->dead || !re)
			continue;
		if ((re & POLLOUT) && !stream_flush_up(s)) {
			stream_upstream_gone(s, "channel service connection failed", false);
			continue;
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			stream_pump_down(s);
		/* upstream hung up while the guest reads nothing: do not spin on
		 * POLLHUP waiting for send space that may never come */
		if (!s->dead && (re & (POLLHUP | POLLERR)) &&
		    (!s->conn || !vsock_conn_send_space(s->conn)))
			stream_upstream_gone(s, "channel service hung up; guest not reading", false);
	}
	reap_streams(r);
	return 0;
}

void vsock_relay_get_stats(const struct vsock_relay *r, struct vsock_relay_stats *st)
{
	*st = r->st;
}

struct vhu_server *vsock_relay_server(struct vsock_relay *r)
{
	return r->srv;
}

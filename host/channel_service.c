/* Channel service: transports A and B feeding channel_host; see
 * channel_service.h. */
#include "host/channel_service.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "host/vsock_relay.h"
#include "vmi/mem.h"

#define DEFAULT_PREAMBLE_TIMEOUT_MS 5000u
#define DEFAULT_LINGER_MS 2000u
#define DEFAULT_MAX_FDS 512u
#define READ_CHUNK 65536u
#define MAX_VMS 256u

enum sc_kind { SC_PREAMBLE, SC_STREAM, SC_CONTROL };

struct svc_conn {
	enum sc_kind kind;
	int fd;
	uint64_t deadline; /* preamble wait or linger; 0 = none */
	/* SC_PREAMBLE */
	uint8_t pre[RW_RELAY_PREAMBLE_LEN];
	size_t pre_len;
	/* SC_STREAM */
	struct rw_ch_conn *ch;
	/* SC_CONTROL */
	char vm[RW_RELAY_VM_MAX];
	uint8_t ctl[RW_RELAY_MEM_MAX];
	size_t ctl_len;
	int fds[RW_RELAY_MAX_REGIONS];
	unsigned nfds;
	bool dead;
};

struct vm_ram {
	char vm[RW_RELAY_VM_MAX];
	struct vmi_mem *mem;
};

struct rw_channel_service {
	struct rw_channel_service_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rw_ch_host *host;
	int unix_fd, vsock_fd;
	struct svc_conn **conns;
	unsigned nconns;
	struct vm_ram rams[MAX_VMS];
	unsigned nrams;
	struct rw_channel_service_stats st;
	uint8_t *buf;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const struct vhu_logger *lg(const struct rw_channel_service *s)
{
	return &s->cfg.ch.log;
}

/* ---- RAM per VM ------------------------------------------------------------- */

static struct vm_ram *find_ram(struct rw_channel_service *s, const char *vm)
{
	for (unsigned i = 0; i < s->nrams; i++)
		if (!strcmp(s->rams[i].vm, vm))
			return &s->rams[i];
	return NULL;
}

struct vmi_mem *rw_channel_service_vm_mem(struct rw_channel_service *s, const char *vm)
{
	struct vm_ram *r = find_ram(s, vm);

	return r ? r->mem : NULL;
}

static void set_ram(struct rw_channel_service *s, const char *vm, struct vmi_mem *mem)
{
	struct vm_ram *r = find_ram(s, vm);

	if (!r) {
		if (!mem)
			return;
		if (s->nrams >= MAX_VMS) {
			vhu_logf(lg(s), VHU_LOG_WARN, "channel: RAM of %s ignored: %u VMs known", vm,
				 s->nrams);
			vmi_mem_close(mem);
			return;
		}
		r = &s->rams[s->nrams++];
		snprintf(r->vm, sizeof(r->vm), "%s", vm);
	}
	/* tell the user first: its pointer into the old mapping ends here */
	if (s->cfg.on_ram)
		s->cfg.on_ram(s->cfg.ctx, vm, mem);
	if (r->mem)
		vmi_mem_close(r->mem);
	r->mem = mem;
	s->st.ram_updates++;
}

/* ---- connections ---------------------------------------------------------------- */

static void conn_close_fds(struct svc_conn *c)
{
	for (unsigned i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void conn_drop(struct svc_conn *c)
{
	if (c->ch) {
		rw_ch_conn_free(c->ch);
		c->ch = NULL;
	}
	conn_close_fds(c);
	c->dead = true;
}

__attribute__((format(printf, 3, 4))) static void conn_reject(struct rw_channel_service *s,
							     struct svc_conn *c, const char *fmt,
							     ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->st.rejected++;
	vhu_logf(lg(s), VHU_LOG_WARN, "channel: dropping %s connection: %s",
		 c->kind == SC_CONTROL ? "control" : c->kind == SC_STREAM ? "stream" : "relay", msg);
	conn_drop(c);
}

static struct svc_conn *conn_add(struct rw_channel_service *s, int fd, enum sc_kind kind)
{
	struct svc_conn *c;

	if (s->nconns >= s->cfg.max_fds) {
		vhu_logf(lg(s), VHU_LOG_WARN, "channel: refusing a connection: %u open", s->nconns);
		s->st.rejected++;
		close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->kind = kind;
	s->conns[s->nconns++] = c;
	s->st.accepted++;
	return c;
}

static bool start_stream(struct rw_channel_service *s, struct svc_conn *c, const char *vm,
			 uint32_t cid, uint32_t port)
{
	int err = 0;

	c->ch = rw_ch_conn_new(s->host, vm, cid, port, &err);
	if (!c->ch) {
		conn_reject(s, c, "channel refused the stream from %s: %s", vm, strerror(-err));
		return false;
	}
	c->kind = SC_STREAM;
	c->deadline = 0;
	s->st.streams++;
	rw_ch_conn_tick(c->ch, mono_ms()); /* arms the HELLO timeout */
	return true;
}

/* Write what the stream has to say; then free it if it is finished. */
static void stream_flush(struct rw_channel_service *s, struct svc_conn *c)
{
	const uint8_t *data;
	size_t len;

	(void)s;
	while (c->ch && (len = rw_ch_conn_output(c->ch, &data)) > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			rw_ch_conn_eof(c->ch, "transport write failed");
			conn_drop(c);
			return;
		}
		rw_ch_conn_consumed(c->ch, (size_t)n);
	}
	if (c->ch && rw_ch_conn_closing(c->ch)) {
		len = rw_ch_conn_output(c->ch, &data);
		if (!len) {
			conn_drop(c);
		} else if (!c->deadline) {
			c->deadline = mono_ms() + s->cfg.linger_ms;
			shutdown(c->fd, SHUT_RD);
		}
	}
}

static void stream_read(struct rw_channel_service *s, struct svc_conn *c)
{
	ssize_t n = recv(c->fd, s->buf, READ_CHUNK, MSG_DONTWAIT);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		rw_ch_conn_eof(c->ch, "transport read failed");
	} else if (n == 0) {
		rw_ch_conn_eof(c->ch, "peer closed the connection");
	} else {
		rw_ch_conn_input(c->ch, s->buf, (size_t)n);
	}
	stream_flush(s, c);
}

static void preamble_read(struct rw_channel_service *s, struct svc_conn *c)
{
	struct rw_relay_preamble p;
	const char *why = "";
	ssize_t n = recv(c->fd, c->pre + c->pre_len, sizeof(c->pre) - c->pre_len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_reject(s, c, "closed before its preamble (%zu of %u bytes)", c->pre_len,
			    RW_RELAY_PREAMBLE_LEN);
		return;
	}
	c->pre_len += (size_t)n;
	if (c->pre_len < sizeof(c->pre))
		return;
	if (rw_relay_preamble_decode(c->pre, &p, &why)) {
		conn_reject(s, c, "bad preamble: %s", why);
		return;
	}
	if (p.kind == RW_RELAY_STREAM) {
		start_stream(s, c, p.vm, p.cid, p.guest_port);
		return;
	}
	for (unsigned i = 0; i < s->nconns; i++) {
		struct svc_conn *o = s->conns[i];

		if (o != c && !o->dead && o->kind == SC_CONTROL && !strcmp(o->vm, p.vm)) {
			vhu_logf(lg(s), VHU_LOG_INFO,
				 "channel: new control connection for %s replaces the old one", p.vm);
			conn_drop(o);
		}
	}
	c->kind = SC_CONTROL;
	c->deadline = 0;
	snprintf(c->vm, sizeof(c->vm), "%s", p.vm);
	vhu_logf(lg(s), VHU_LOG_INFO, "channel: device of VM %s (cid %u) connected", p.vm, p.cid);
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A complete MEM record with its fds: map the RAM. */
static void control_apply(struct rw_channel_service *s, struct svc_conn *c, unsigned n)
{
	struct vmi_ram_region r[RW_RELAY_MAX_REGIONS];
	struct vmi_mem *mem = NULL;
	char err[256];

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = c->ctl + RW_RELAY_MEM_HDR + i * RW_RELAY_MEM_REGION;

		r[i].gpa = get_le(e, 8);
		r[i].size = get_le(e + 8, 8);
		r[i].fd_offset = get_le(e + 16, 8);
		r[i].fd = c->fds[i];
	}
	if (n && vmi_mem_open_ram(r, n, &mem, err, sizeof(err)) != 0) {
		vhu_logf(lg(s), VHU_LOG_WARN, "channel: RAM of %s not mapped: %s", c->vm, err);
		mem = NULL;
	}
	/* the mappings are ours now; the fds are not needed */
	for (unsigned i = 0; i < n; i++)
		close(c->fds[i]);
	memmove(c->fds, c->fds + n, sizeof(int) * (c->nfds - n));
	c->nfds -= n;
	vhu_logf(lg(s), VHU_LOG_INFO, "channel: VM %s RAM: %u region(s)%s", c->vm, n,
		 n && !mem ? " (unusable)" : "");
	set_ram(s, c->vm, mem);
}

static void control_read(struct rw_channel_service *s, struct svc_conn *c)
{
	char cbuf[CMSG_SPACE(sizeof(int) * RW_RELAY_MAX_REGIONS)];
	struct iovec iov = { c->ctl + c->ctl_len, sizeof(c->ctl) - c->ctl_len };
	struct msghdr mh;
	ssize_t got;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	got = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); got >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < RW_RELAY_MAX_REGIONS)
				c->fds[c->nfds++] = fd;
			else
				close(fd), got = -2;
		}
	}
	if (got == 0) {
		vhu_logf(lg(s), VHU_LOG_INFO, "channel: device of VM %s disconnected", c->vm);
		set_ram(s, c->vm, NULL);
		conn_drop(c);
		return;
	}
	if (got < 0 || (mh.msg_flags & MSG_CTRUNC)) {
		conn_reject(s, c, "VM %s: %s", c->vm,
			    got == -2 || (mh.msg_flags & MSG_CTRUNC) ? "too many fds"
								       : strerror(errno));
		return;
	}
	c->ctl_len += (size_t)got;
	while (c->ctl_len >= RW_RELAY_MEM_HDR) {
		unsigned n;
		size_t need;

		if (get_le(c->ctl, 4) != RW_RELAY_MEM_MAGIC) {
			conn_reject(s, c, "VM %s: bad control record magic", c->vm);
			return;
		}
		n = (unsigned)get_le(c->ctl + 4, 4);
		if (n > RW_RELAY_MAX_REGIONS) {
			conn_reject(s, c, "VM %s: %u RAM regions (max %u)", c->vm, n,
				    RW_RELAY_MAX_REGIONS);
			return;
		}
		need = RW_RELAY_MEM_HDR + (size_t)n * RW_RELAY_MEM_REGION;
		if (c->ctl_len < need)
			return;
		if (c->nfds < n) {
			conn_reject(s, c, "VM %s: RAM table with %u regions came with %u fds", c->vm,
				    n, c->nfds);
			return;
		}
		control_apply(s, c, n);
		memmove(c->ctl, c->ctl + need, c->ctl_len - need);
		c->ctl_len -= need;
	}
}

/* ---- listeners ---------------------------------------------------------------------- */

static void accept_unix(struct rw_channel_service *s)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(s->unix_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct svc_conn *c;

		if (fd < 0)
			return;
		c = conn_add(s, fd, SC_PREAMBLE);
		if (c)
			c->deadline = mono_ms() + s->cfg.preamble_timeout_ms;
	}
}

static void accept_vsock(struct rw_channel_service *s)
{
	for (int i = 0; i < 16; i++) {
		struct sockaddr_vm peer;
		socklen_t plen = sizeof(peer);
		char name[RW_CH_VM_NAME_MAX];
		struct svc_conn *c;
		int fd = accept4(s->vsock_fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (s->cfg.vm_for_cid) {
			name[0] = '\0';
			if (s->cfg.vm_for_cid(s->cfg.ctx, peer.svm_cid, name, sizeof(name))) {
				vhu_logf(lg(s), VHU_LOG_WARN,
					 "channel: vsock connection from unknown cid %u refused",
					 peer.svm_cid);
				s->st.rejected++;
				close(fd);
				continue;
			}
		} else {
			snprintf(name, sizeof(name), "cid-%u", peer.svm_cid);
		}
		c = conn_add(s, fd, SC_STREAM);
		if (c)
			start_stream(s, c, name, peer.svm_cid, peer.svm_port);
	}
}

static int listen_unix(struct rw_channel_service *s, char *err, size_t errlen)
{
	struct sockaddr_un un;
	mode_t old;
	int fd;

	if (strlen(s->cfg.unix_path) >= sizeof(un.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", s->cfg.unix_path);
		return -1;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", s->cfg.unix_path);
	snprintf(s->path, sizeof(s->path), "%s", s->cfg.unix_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(un.sun_path); /* a stale socket of a killed predecessor */
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, 128) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", un.sun_path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	s->unix_fd = fd;
	return 0;
}

static int listen_vsock(struct rw_channel_service *s, char *err, size_t errlen)
{
	struct sockaddr_vm addr;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "AF_VSOCK socket: %s", strerror(errno));
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.svm_family = AF_VSOCK;
	addr.svm_cid = VMADDR_CID_ANY;
	addr.svm_port = s->cfg.vsock_port;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0) {
		snprintf(err, errlen, "cannot listen on vsock port %u: %s", s->cfg.vsock_port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	s->vsock_fd = fd;
	return 0;
}

struct rw_channel_service *rw_channel_service_new(const struct rw_channel_service_config *cfg,
						  char *err, size_t errlen)
{
	struct rw_channel_service *s;

	if (!cfg || (!cfg->unix_path && !cfg->vsock_port)) {
		snprintf(err, errlen, "no transport configured");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->unix_fd = s->vsock_fd = -1;
	if (!s->cfg.preamble_timeout_ms)
		s->cfg.preamble_timeout_ms = DEFAULT_PREAMBLE_TIMEOUT_MS;
	if (!s->cfg.linger_ms)
		s->cfg.linger_ms = DEFAULT_LINGER_MS;
	if (!s->cfg.max_fds)
		s->cfg.max_fds = DEFAULT_MAX_FDS;
	s->cfg.unix_path = NULL;
	s->conns = calloc(s->cfg.max_fds, sizeof(*s->conns));
	s->buf = malloc(READ_CHUNK);
	s->host = rw_ch_host_new(&cfg->ch);
	if (!s->conns || !s->buf || !s->host) {
		snprintf(err, errlen, "cannot set up the channel (%s)",
			 s->host ? "out of memory" : "sink callbacks missing");
		rw_channel_service_free(s);
		return NULL;
	}
	if (cfg->unix_path) {
		s->cfg.unix_path = cfg->unix_path;
		if (listen_unix(s, err, errlen)) {
			rw_channel_service_free(s);
			return NULL;
		}
	}
	if (cfg->vsock_port && listen_vsock(s, err, errlen)) {
		rw_channel_service_free(s);
		return NULL;
	}
	return s;
}

void rw_channel_service_free(struct rw_channel_service *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->conns && i < s->nconns; i++) {
		conn_drop(s->conns[i]);
		free(s->conns[i]);
	}
	for (unsigned i = 0; i < s->nrams; i++)
		if (s->rams[i].mem)
			vmi_mem_close(s->rams[i].mem);
	rw_ch_host_free(s->host);
	if (s->unix_fd >= 0) {
		close(s->unix_fd);
		unlink(s->path);
	}
	if (s->vsock_fd >= 0)
		close(s->vsock_fd);
	free(s->conns);
	free(s->buf);
	free(s);
}

static void reap(struct rw_channel_service *s)
{
	unsigned j = 0;

	for (unsigned i = 0; i < s->nconns; i++) {
		if (s->conns[i]->dead)
			free(s->conns[i]);
		else
			s->conns[j++] = s->conns[i];
	}
	s->nconns = j;
}

static void run_timers(struct rw_channel_service *s, uint64_t now)
{
	for (unsigned i = 0; i < s->nconns; i++) {
		struct svc_conn *c = s->conns[i];

		if (c->dead)
			continue;
		if (c->kind == SC_PREAMBLE && now >= c->deadline) {
			conn_reject(s, c, "no preamble within %u ms", s->cfg.preamble_timeout_ms);
		} else if (c->kind == SC_STREAM && c->ch) {
			if (c->deadline && now >= c->deadline) {
				vhu_logf(lg(s), VHU_LOG_WARN,
					 "channel: peer did not read the final bytes within %u ms",
					 s->cfg.linger_ms);
				conn_drop(c);
				continue;
			}
			rw_ch_conn_tick(c->ch, now);
			stream_flush(s, c);
		}
	}
}

int rw_channel_service_run_once(struct rw_channel_service *s, int timeout_ms)
{
	struct pollfd *pfd = calloc(s->nconns + 2, sizeof(*pfd));
	struct svc_conn **who = calloc(s->nconns + 2, sizeof(*who));
	int n = 0, unix_i = -1, vsock_i = -1, rc;
	uint64_t now = mono_ms();

	if (!pfd || !who) {
		free(pfd);
		free(who);
		return -ENOMEM;
	}
	if (s->unix_fd >= 0) {
		unix_i = n;
		pfd[n++] = (struct pollfd){ .fd = s->unix_fd, .events = POLLIN };
	}
	if (s->vsock_fd >= 0) {
		vsock_i = n;
		pfd[n++] = (struct pollfd){ .fd = s->vsock_fd, .events = POLLIN };
	}
	for (unsigned i = 0; i < s->nconns; i++) {
		struct svc_conn *c = s->conns[i];
		const uint8_t *d;
		short ev = POLLIN;

		if (c->dead)
			continue;
		if (c->kind == SC_STREAM && c->ch) {
			if (rw_ch_conn_output(c->ch, &d))
				ev |= POLLOUT;
			if (rw_ch_conn_closing(c->ch))
				ev &= (short)~POLLIN;
		}
		if (c->deadline) {
			int left = c->deadline > now ? (int)(c->deadline - now) : 0;
			if (timeout_ms < 0 || timeout_ms > left)
				timeout_ms = left;
		}
		if (c->kind != SC_CONTROL && (timeout_ms < 0 || timeout_ms > 1000))
			timeout_ms = 1000; /* HELLO timeouts */
		who[n] = c;
		pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	rc = poll(pfd, (nfds_t)n, timeout_ms);
	if (rc < 0) {
		rc = errno == EINTR ? 0 : -errno;
		free(pfd);
		free(who);
		return rc;
	}
	for (int i = 0; i < n; i++) {
		struct svc_conn *c = who[i];

		if (!c || c->dead || !pfd[i].revents)
			continue;
		switch (c->kind) {
		case SC_PREAMBLE:
			preamble_read(s, c);
			break;
		case SC_CONTROL:
			control_read(s, c);
			break;
		case SC_STREAM:
			if (pfd[i].revents & POLLOUT)
				stream_flush(s, c);
			if (!c->dead && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				stream_read(s, c);
			break;
		}
	}
	if (unix_i >= 0 && (pfd[unix_i].revents & POLLIN))
		accept_unix(s);
	if (vsock_i >= 0 && (pfd[vsock_i].revents & POLLIN))
		accept_vsock(s);
	run_timers(s, mono_ms());
	reap(s);
	free(pfd);
	free(who);
	return 0;
}

struct rw_ch_conn *rw_channel_service_find(struct rw_channel_service *s, const char *vm,
					   uint8_t component)
{
	for (unsigned i = s->nconns; i-- > 0;) {
		struct svc_conn *c = s->conns[i];
		const struct rw_ch_stream_id *id;

		if (c->dead || c->kind != SC_STREAM || !c->ch || !rw_ch_conn_ready(c->ch) ||
		    rw_ch_conn_closing(c->ch))
			continue;
		id = rw_ch_conn_stream(c->ch);
		if (id->component == component && !strcmp(id->vm, vm))
			return c->ch;
	}
	return NULL;
}

struct rw_ch_host *rw_channel_service_host(struct rw_channel_service *s)
{
	return s->host;
}

void rw_channel_service_get_stats(const struct rw_channel_service *s,
				  struct rw_channel_service_stats *st)
{
	*st = s->st;
	st->open_fds = s->nconns;
}

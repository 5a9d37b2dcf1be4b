#include "host/vhu_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/vhost_user.h"

#define IO_TIMEOUT_S 2
#define POLLED_RING_MS 10

struct vhu_server {
	struct vhu_server_config cfg;
	char *path;
	int listen_fd;
	int conn_fd;
	struct vhu_dev vhu;
	struct vsock_dev *vsock;
	bool tx_more;       /* tx budget exhausted: process again without waiting */
	/* what vhu_server_poll_prepare put where */
	int listen_i, conn_i, kick_i[2];
	bool polled_ring;
	unsigned sessions;
	char last_disconnect[256];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* vhu_dev callbacks */

static void on_ring_ready(void *opaque, unsigned idx)
{
	struct vhu_server *srv = opaque;
	if (idx == VSOCK_TXQ)
		srv->tx_more = vsock_dev_process_tx(srv->vsock) == 1;
	else if (idx == VSOCK_RXQ)
		vsock_dev_flush_rx(srv->vsock);
}

static void on_ring_stop(void *opaque, unsigned idx)
{
	struct vhu_server *srv = opaque;
	(void)idx;
	/* The driver is being reset (or QEMU stops the device): its sockets are gone. */
	if (vsock_dev_conn_count(srv->vsock))
		vsock_dev_reset(srv->vsock, "guest vsock device stopped");
}

static int on_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t size)
{
	struct vhu_server *srv = opaque;
	return vsock_dev_get_config(srv->vsock, offset, buf, size);
}

static void on_mem_changed(void *opaque, const struct guest_ram_region *r, unsigned n)
{
	struct vhu_server *srv = opaque;
	if (srv->cfg.mem_changed)
		srv->cfg.mem_changed(srv->cfg.mem_opaque, r, n);
}

static int listen_on(struct vhu_server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		vhu_logf(&srv->cfg.log, VHU_LOG_ERR, "socket path too long: %s", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* stale socket from a previous run */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, 4) != 0) {
		int e = errno;
		vhu_logf(&srv->cfg.log, VHU_LOG_ERR, "cannot listen on %s: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct vhu_server *vhu_server_new(const struct vhu_server_config *cfg)
{
	struct vhu_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->cfg = *cfg;
	if (!srv->cfg.log.fn && !srv->cfg.log.max_level)
		srv->cfg.log.max_level = VHU_LOG_INFO;
	srv->listen_fd = srv->conn_fd = -1;
	srv->vsock = vsock_dev_new(&cfg->vsock, &srv->vhu, &srv->cfg.log);
	if (!srv->vsock) {
		vhu_logf(&srv->cfg.log, VHU_LOG_ERR, "invalid vsock configuration (guest cid %llu)",
			 (unsigned long long)cfg->vsock.guest_cid);
		free(srv);
		errno = EINVAL;
		return NULL;
	}
	struct vhu_dev_ops ops = {
		.device_features = 0,
		.nqueues = 2,
		.get_config = on_get_config,
		.ring_ready = on_ring_ready,
		.ring_stop = on_ring_stop,
		.mem_changed = on_mem_changed,
	};
	vhu_dev_init(&srv->vhu, &ops, srv, &srv->cfg.log);
	if (cfg->socket_path) {
		srv->path = strdup(cfg->socket_path);
		srv->listen_fd = srv->path ? listen_on(srv, cfg->socket_path) : -1;
		if (srv->listen_fd < 0) {
			int e = errno;
			vsock_dev_free(srv->vsock);
			free(srv->path);
			free(srv);
			errno = e;
			return NULL;
		}
	}
	return srv;
}

static void disconnect(struct vhu_server *srv, const char *reason)
{
	if (srv->conn_fd < 0)
		return;
	snprintf(srv->last_disconnect, sizeof(srv->last_disconnect), "%s", reason);
	vhu_logf(&srv->cfg.log, VHU_LOG_INFO, "vhost-user front-end disconnected: %s", reason);
	close(srv->conn_fd);
	srv->conn_fd = -1;
	vhu_dev_reset(&srv->vhu);
	vsock_dev_reset(srv->vsock, "vhost-user front-end disconnected");
	srv->tx_more = false;
}

void vhu_server_free(struct vhu_server *srv)
{
	if (!srv)
		return;
	disconnect(srv, "server shutting down");
	vhu_dev_reset(&srv->vhu);
	vsock_dev_free(srv->vsock);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->path);
	}
	free(srv->path);
	free(srv);
}

struct vsock_dev *vhu_server_vsock(struct vhu_server *srv) { return srv->vsock; }
struct vhu_dev *vhu_server_vhu(struct vhu_server *srv) { return &srv->vhu; }
bool vhu_server_connected(const struct vhu_server *srv) { return srv->conn_fd >= 0; }
const char *vhu_server_last_disconnect(const struct vhu_server *srv) { return srv->last_disconnect; }
unsigned vhu_server_sessions(const struct vhu_server *srv) { return srv->sessions; }

int vhu_server_adopt_fd(struct vhu_server *srv, int fd)
{
	if (srv->conn_fd >= 0)
		return -EBUSY;
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	/* A stalled front-end must not hang the loop in the middle of a message. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	srv->conn_fd = fd;
	srv->sessions++;
	vsock_dev_reset(srv->vsock, "new vhost-user session");
	vhu_logf(&srv->cfg.log, VHU_LOG_INFO, "vhost-user front-end connected (session %u)",
		 srv->sessions);
	return 0;
}

static void accept_frontend(struct vhu_server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (srv->conn_fd >= 0) {
		vhu_logf(&srv->cfg.log, VHU_LOG_WARN, "second front-end connection refused");
		close(fd);
		return;
	}
	vhu_server_adopt_fd(srv, fd);
}

static void handle_frontend(struct vhu_server *srv)
{
	struct vhu_msg msg, reply;
	int fds[VHU_MAX_FDS], nfds = 0;
	char why[256];

	int rc = vhu_recv_msg(srv->conn_fd, &msg, fds, &nfds);
	if (rc) {
		disconnect(srv, rc == VHU_E_EOF ? "front-end closed the socket"
			       : rc == VHU_E_PROTO ? "malformed message (size or fds)"
						   : "socket read error or timeout");
		return;
	}
	rc = vhu_handle_msg(&srv->vhu, &msg, fds, nfds, &reply);
	vhu_close_fds(fds, nfds);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s: %s", vhu_request_name(msg.request), srv->vhu.error);
		disconnect(srv, why);
		return;
	}
	if (rc == VHU_SEND_REPLY && vhu_send_msg(srv->conn_fd, &reply, NULL, 0) != 0)
		disconnect(srv, "socket write error or timeout");
}

static void drain_eventfd(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
}

int vhu_server_poll_prepare(struct vhu_server *srv, struct pollfd *pfd, int *timeout_ms)
{
	int n = 0;

	srv->listen_i = srv->conn_i = srv->kick_i[0] = srv->kick_i[1] = -1;
	srv->polled_ring = false;
	if (srv->listen_fd >= 0) {
		srv->listen_i = n;
		pfd[n++] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
	}
	if (srv->conn_fd >= 0) {
		srv->conn_i = n;
		pfd[n++] = (struct pollfd){ .fd = srv->conn_fd, .events = POLLIN };
		for (unsigned q = 0; q < 2; q++) {
			struct vhu_vring *vr = vhu_dev_ring(&srv->vhu, q);
			if (!vr)
				continue;
			if (vr->kick_fd < 0) {
				srv->polled_ring = true;
				continue;
			}
			srv->kick_i[q] = n;
			pfd[n++] = (struct pollfd){ .fd = vr->kick_fd, .events = POLLIN };
		}
	}
	if (srv->tx_more)
		*timeout_ms = 0;
	else if (srv->polled_ring && (*timeout_ms < 0 || *timeout_ms > POLLED_RING_MS))
		*timeout_ms = POLLED_RING_MS;
	return n;
}

void vhu_server_poll_dispatch(struct vhu_server *srv, const struct pollfd *pfd)
{
	int conn_i = srv->conn_i, listen_i = srv->listen_i;
	int kick_i[2] = { srv->kick_i[0], srv->kick_i[1] };
	bool polled_ring = srv->polled_ring;

	if (conn_i >= 0 && pfd[conn_i].revents) {
		/* Messages first: they may stop rings whose kick fds we polled. */
		if (pfd[conn_i].revents & POLLIN)
			handle_frontend(srv);
		else
			disconnect(srv, "front-end socket hung up");
	}
	if (srv->conn_fd >= 0) {
		bool tx = srv->tx_more || polled_ring;
		bool rx = polled_ring;
		for (unsigned q = 0; q < 2; q++) {
			if (kick_i[q] < 0 || !(pfd[kick_i[q]].revents & POLLIN))
				continue;
			struct vhu_vring *vr = vhu_dev_ring(&srv->vhu, q);
			if (vr && vr->kick_fd == pfd[kick_i[q]].fd)
				drain_eventfd(vr->kick_fd);
			if (q == VSOCK_TXQ)
				tx = true;
			else
				rx = true;
		}
		srv->tx_more = false;
		if (tx)
			srv->tx_more = vsock_dev_process_tx(srv->vsock) == 1;
		if (rx)
			vsock_dev_flush_rx(srv->vsock);
		vsock_dev_tick(srv->vsock, now_ms());
		if (vsock_dev_broken(srv->vsock)) {
			char why[256];
			snprintf(why, sizeof(why), "guest violated the virtio-vsock protocol: %s",
				 vsock_dev_error(srv->vsock));
			disconnect(srv, why);
		}
	}
	if (listen_i >= 0 && (pfd[listen_i].revents & POLLIN))
		accept_frontend(srv);
}

int vhu_server_run_once(struct vhu_server *srv, int timeout_ms)
{
	struct pollfd pfd[VHU_SERVER_POLLFDS];
	int n = vhu_server_poll_prepare(srv, pfd, &timeout_ms);
	int rc = poll(pfd, (nfds_t)n, timeout_ms);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	vhu_server_poll_dispatch(srv, pfd);
	return 0;
}

/* Event loop for one vhost-user-vsock device: a unix socket QEMU connects to
 * (QEMU: -chardev socket,id=X,path=SOCK,reconnect=1
 *        -device vhost-user-vsock-pci,chardev=X
 *        -object memory-backend-memfd,id=mem,size=...,share=on -machine memory-backend=mem),
 * the vhost-user session on it, and the guest's kick eventfds.
 *
 * One front-end at a time; a second connection is refused. When QEMU goes
 * away, or the guest breaks the device's rules, the session is torn down
 * (connections closed, RAM unmapped) and the server keeps listening. */
#ifndef RW_HOST_VHU_SERVER_H
#define RW_HOST_VHU_SERVER_H

#include <stdbool.h>

#include "host/guest_ram.h"
#include "host/vhu_log.h"
#include "host/vsock_dev.h"

struct vhu_server_config {
	const char *socket_path;       /* NULL: no listener, use vhu_server_adopt_fd */
	struct vsock_dev_config vsock; /* guest_cid required */
	struct vhu_logger log;         /* fn NULL: stderr up to max_level (all-zero: INFO) */
	/* Guest RAM table changes (n == 0: RAM gone). Regions stay owned by the server. */
	void (*mem_changed)(void *opaque, const struct guest_ram_region *r, unsigned n);
	void *mem_opaque;
};

struct vhu_server;

/* Creates the device and, with socket_path, a listening socket (mode 0600;
 * a stale socket file is replaced). NULL on error (errno set, reason logged). */
struct vhu_server *vhu_server_new(const struct vhu_server_config *cfg);
void vhu_server_free(struct vhu_server *srv);

/* The vsock device: register listeners here. */
struct vsock_dev *vhu_server_vsock(struct vhu_server *srv);

/* Uses fd (a connected stream socket) as the front-end connection; the server
 * owns it from now on. Fails with -EBUSY if a front-end is connected. */
int vhu_server_adopt_fd(struct vhu_server *srv, int fd);

/* Waits up to timeout_ms (-1: forever) for one batch of events and handles
 * them. Returns 0, or -errno for a failure of the server itself (poll). */
int vhu_server_run_once(struct vhu_server *srv, int timeout_ms);

/* For callers with their own poll loop (ringwatch-vsockd): fill up to
 * VHU_SERVER_POLLFDS entries (returns how many) and lower *timeout_ms when the
 * server needs to come back sooner; after poll(), pass the same entries to
 * dispatch. vhu_server_run_once is prepare + poll + dispatch. */
#define VHU_SERVER_POLLFDS 4
struct pollfd;
int vhu_server_poll_prepare(struct vhu_server *srv, struct pollfd *pfd, int *timeout_ms);
void vhu_server_poll_dispatch(struct vhu_server *srv, const struct pollfd *pfd);

bool vhu_server_connected(const struct vhu_server *srv);
/* Why the last front-end session ended ("" if none ended yet). */
const char *vhu_server_last_disconnect(const struct vhu_server *srv);
/* Number of sessions accepted so far. */
unsigned vhu_server_sessions(const struct vhu_server *srv);
/* The vhost-user state of the current session (for diagnostics and tests). */
struct vhu_dev *vhu_server_vhu(struct vhu_server *srv);

#endif

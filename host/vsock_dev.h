/* virtio-vsock device (virtio spec "Socket Device") on top of a vhost-user
 * device: guest-initiated stream connections to host ports (CID 2), credit
 * based flow control in both directions, hostile-guest checks.
 *
 * Queues: 0 = rx (device -> driver), 1 = tx (driver -> device). The event
 * queue (2) is handled by QEMU itself for vhost-user-vsock and never reaches
 * the back-end.
 *
 * Threading: single-threaded; every function must be called from the thread
 * running the device's event loop. Callbacks may call vsock_send/vsock_close
 * (also on other connections); they must not free the device. */
#ifndef RW_HOST_VSOCK_DEV_H
#define RW_HOST_VSOCK_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/vhu_log.h"

struct vhu_dev;

#define VSOCK_HOST_CID 2u
#define VSOCK_HDR_SIZE 44u
#define VSOCK_TYPE_STREAM 1u
#define VSOCK_MAX_PAYLOAD 65536u /* largest packet payload accepted from the guest */

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

#define VSOCK_RXQ 0u
#define VSOCK_TXQ 1u

/* struct virtio_vsock_hdr, decoded to host order. Wire: 44 bytes, packed LE. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

/* 0 on success, -1 when len < VSOCK_HDR_SIZE. */
int vsock_hdr_decode(const uint8_t *buf, size_t len, struct vsock_hdr *out);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE]);
const char *vsock_op_name(uint16_t op);

struct vsock_conn;
struct vsock_dev;

struct vsock_listener_ops {
	/* New guest connection; return 0 to accept, non-zero to refuse (RST). */
	int (*on_connect)(void *opaque, struct vsock_conn *c);
	/* Bytes from the guest; len == 0 (data NULL) means the guest will send no more. */
	void (*on_data)(void *opaque, struct vsock_conn *c, const uint8_t *data, size_t len);
	/* Connection gone (reason says why); c is freed when this returns. */
	void (*on_close)(void *opaque, struct vsock_conn *c, const char *reason);
	/* Optional: send buffer drained after vsock_send() could not queue everything. */
	void (*on_writable)(void *opaque, struct vsock_conn *c);
};

struct vsock_dev_config {
	uint64_t guest_cid;        /* required, >= 3 */
	uint32_t buf_alloc;        /* receive window advertised per connection (default 64 KiB) */
	uint32_t send_buf;         /* per-connection queued-send cap (default 256 KiB) */
	unsigned max_conns;        /* default 64 */
	unsigned tx_budget;        /* tx packets handled per vsock_dev_process_tx call (default 256) */
	unsigned max_pkts_per_sec; /* per connection before RST (default 50000) */
	uint32_t close_timeout_ms; /* wait for the guest's RST after our SHUTDOWN (default 2000) */
};

/* vhu may be NULL (no rings: outgoing packets stay queued; used by fuzzing). */
struct vsock_dev *vsock_dev_new(const struct vsock_dev_config *cfg, struct vhu_dev *vhu,
				const struct vhu_logger *log);
void vsock_dev_free(struct vsock_dev *dev);
void vsock_dev_set_vhu(struct vsock_dev *dev, struct vhu_dev *vhu);

/* Listening host ports (at most 16). -EEXIST, -ENOSPC, -EINVAL. */
int vsock_listen(struct vsock_dev *dev, uint32_t port, const struct vsock_listener_ops *ops,
		 void *opaque);
int vsock_unlisten(struct vsock_dev *dev, uint32_t port);

/* Queues bytes for the guest. Returns how many were queued (< len when the
 * per-connection buffer is full), -EPIPE when the connection is closing or the
 * guest shut down its receive side, -ENOTCONN when the device is broken. */
ssize_t vsock_send(struct vsock_conn *c, const void *buf, size_t len);
/* Graceful close: queued data is sent, then SHUTDOWN; the guest's RST (or a
 * timeout, then our RST) ends it and on_close runs. */
void vsock_close(struct vsock_conn *c);
/* Immediate RST; on_close runs before this returns. */
void vsock_abort(struct vsock_conn *c, const char *reason);

uint32_t vsock_conn_guest_port(const struct vsock_conn *c);
uint32_t vsock_conn_host_port(const struct vsock_conn *c);
size_t vsock_conn_send_space(const struct vsock_conn *c);
size_t vsock_conn_send_queued(const struct vsock_conn *c);
void vsock_conn_set_user(struct vsock_conn *c, void *user);
void *vsock_conn_user(const struct vsock_conn *c);

/* Event-loop entry points. process_tx handles up to tx_budget guest packets
 * and returns 1 if more are pending, 0 if the tx ring is drained, -1 when the
 * device broke (see vsock_dev_error). flush_rx moves queued output into the
 * guest's rx buffers (0 or -1). tick expires closing connections. */
int vsock_dev_process_tx(struct vsock_dev *dev);
int vsock_dev_flush_rx(struct vsock_dev *dev);
void vsock_dev_tick(struct vsock_dev *dev, uint64_t now_ms);
/* Applies one decoded guest packet (payload has h->len bytes, already
 * bounded by the caller). Exposed for fuzzing and tests. */
void vsock_dev_handle_pkt(struct vsock_dev *dev, const struct vsock_hdr *h, const uint8_t *payload);

/* Drops every connection (on_close with reason) and clears the broken state. */
void vsock_dev_reset(struct vsock_dev *dev, const char *reason);
bool vsock_dev_broken(const struct vsock_dev *dev);
const char *vsock_dev_error(const struct vsock_dev *dev);
unsigned vsock_dev_conn_count(const struct vsock_dev *dev);
uint64_t vsock_dev_guest_cid(const struct vsock_dev *dev);

struct vsock_stats {
	uint64_t tx_pkts;          /* packets taken from the guest */
	uint64_t rx_pkts;          /* packets given to the guest */
	uint64_t rst_sent;
	uint64_t rst_dropped;      /* RST queue overflow */
	uint64_t bad_pkts;         /* malformed / spoofed packets dropped */
	uint64_t credit_violations;
	uint64_t floods;
};
void vsock_dev_stats(const struct vsock_dev *dev, struct vsock_stats *out);
/* The last guest-caused problem (also logged, rate-limited), for tests/diagnostics. */
const char *vsock_dev_last_event(const struct vsock_dev *dev);

/* vhu_dev_ops.get_config implementation: struct virtio_vsock_config { le64 guest_cid; }. */
int vsock_dev_get_config(void *vsock_dev, uint32_t offset, uint8_t *buf, uint32_t size);

#endif

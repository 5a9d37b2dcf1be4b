/*
 * Guest-side client of the ringwatch channel (userspace only): connects to the
 * host over AF_VSOCK (or a unix socket, for tests on the host), reconnects
 * with bounded exponential backoff, and keeps a bounded queue of sequenced
 * messages that survives disconnections.
 *
 * Delivery contract (docs/protocol.md, "Sequencing"):
 *  - every message gets its sequence number when it is queued (rw_chan_send);
 *  - a queued message is dropped only when a host ACK (or the resume_seq of
 *    the host's HELLO) covers it; after a reconnect the unacked ones are sent
 *    again, in order, with their original numbers (flag RW_FLAG_RESENT);
 *  - when the queue is full a new message is dropped but still consumes its
 *    number; the drops are reported as one LOSS message as soon as the queue
 *    has room again.
 *
 * Single-threaded and non-blocking: the caller drives all I/O with
 * rw_chan_poll() (or plugs rw_chan_fd()/rw_chan_poll_events() into its own
 * loop and calls rw_chan_poll(c, 0) when the fd is ready).
 */
#ifndef RW_SHARED_RW_CHAN_H
#define RW_SHARED_RW_CHAN_H

#ifdef __KERNEL__
#error "rw_chan is userspace only; the kernel module has its own transport"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/rw_proto.h"

#define RW_CHAN_HOST_CID 2u /* VMADDR_CID_HOST */
#define RW_CHAN_DEFAULT_PORT 7391u

enum rw_chan_transport {
	RW_CHAN_VSOCK = 0,
	RW_CHAN_UNIX = 1,
};

enum rw_chan_state {
	RW_CHAN_DISCONNECTED = 0, /* waiting for the next connect attempt */
	RW_CHAN_CONNECTING = 1,   /* non-blocking connect in progress */
	RW_CHAN_HELLO_WAIT = 2,   /* HELLO sent, waiting for the host's */
	RW_CHAN_READY = 3,        /* queued messages flow */
};

struct rw_chan;

/* Called for each host->guest data frame (POLICY_UPDATE, CHALLENGE), once per
 * sequence number per connection; the frame is ACKed after it returns. Pointer
 * fields of msg are valid only during the call. */
typedef void (*rw_chan_recv_fn)(void *ctx, const struct rw_msg *msg);

struct rw_chan_config {
	enum rw_chan_transport transport;
	unsigned int vsock_cid;  /* 0 = RW_CHAN_HOST_CID */
	unsigned int vsock_port; /* 0 = RW_CHAN_DEFAULT_PORT */
	const char *unix_path;   /* RW_CHAN_UNIX: socket path (< 108 bytes) */

	uint8_t component; /* RW_COMP_KMOD/AGENT/TEST */
	uint8_t session_id[RW_PROTO_SESSION_ID_LEN];
	uint8_t build_id[RW_PROTO_BUILD_ID_MAX];
	uint8_t build_id_len;
	uint64_t capabilities;

	size_t queue_capacity;          /* messages; 0 = 1024; 2 .. 1048576 */
	unsigned int backoff_min_ms;    /* 0 = 100 */
	unsigned int backoff_max_ms;    /* 0 = 10000 */
	unsigned int hello_timeout_ms;  /* 0 = 5000 */

	rw_chan_recv_fn on_message; /* may be NULL */
	void *cb_ctx;
};

struct rw_chan_stats {
	enum rw_chan_state state;
	uint16_t version;     /* negotiated on the current connection, 0 if none */
	uint64_t next_seq;    /* number the next message will get */
	uint64_t acked_seq;   /* every seq <= acked_seq is acknowledged */
	size_t queued;        /* messages held (sent or not) */
	uint64_t lost;        /* messages dropped by a full queue, total */
	uint64_t loss_reports; /* LOSS messages queued */
	uint64_t connects;    /* successful connections (HELLO exchanged) */
	uint64_t connect_attempts;
	uint64_t disconnects;
	uint64_t frames_sent; /* data frames fully written, resends included */
	uint64_t resent;      /* data frames written again after a reconnect */
	uint64_t downgraded;  /* data frames written in an older protocol version */
	uint64_t skipped_old_version; /* frames the connection's older version cannot carry */
	uint64_t host_messages; /* host data frames delivered to on_message */
	uint64_t peer_errors;   /* ERROR frames received */
	uint64_t version_errors; /* connections refused for lack of a common version */
	uint64_t proto_errors;  /* malformed or unexpected frames from the host */
	int last_error;         /* last -errno or rw_proto_err, 0 if none */
};

/* Create a channel (not connected yet). Returns NULL and sets *err (-errno)
 * on invalid configuration or allocation failure. */
struct rw_chan *rw_chan_new(const struct rw_chan_config *cfg, int *err);
void rw_chan_free(struct rw_chan *c);

/*
 * Queue a message. msg->hdr.type must be a guest->host sequenced type;
 * hdr.seq and hdr.component are assigned here (and written back into *msg).
 * Returns 0 when queued, -ENOBUFS when the queue was full (the message is
 * dropped, counted and later reported by LOSS; its number is used up),
 * -EINVAL (with nothing consumed) when the message cannot be encoded.
 */
int rw_chan_send(struct rw_chan *c, struct rw_msg *msg);

/* Free queue slots (capacity - queued). */
size_t rw_chan_queue_space(const struct rw_chan *c);

/*
 * Do I/O: connect when due, send, receive, handle ACK/HELLO/host messages.
 * Waits at most timeout_ms (0 = don't wait, < 0 = until something happens).
 * Returns 0, or a negative errno for failures of the caller's making (EINTR is
 * swallowed). Connection trouble is handled internally (stats.last_error).
 */
int rw_chan_poll(struct rw_chan *c, int timeout_ms);

/* Poll until every queued message is acknowledged or timeout_ms passes.
 * Returns 0 when the queue is empty, -ETIMEDOUT otherwise. */
int rw_chan_flush(struct rw_chan *c, int timeout_ms);

/* Close the current connection (GOODBYE is sent best-effort when READY). The
 * queue is kept; the next rw_chan_poll() reconnects after the backoff. */
void rw_chan_disconnect(struct rw_chan *c, uint16_t goodbye_reason);

/* Socket fd (-1 when disconnected) and the poll events it waits for. */
int rw_chan_fd(const struct rw_chan *c);
short rw_chan_poll_events(const struct rw_chan *c);

void rw_chan_get_stats(const struct rw_chan *c, struct rw_chan_stats *st);
const char *rw_chan_state_name(enum rw_chan_state s);

#endif

/* Host end of guest channel streams (docs/protocol.md): one rw_ch_conn per
 * guest connection, whatever carried it (transport B: a relayed vhost-user
 * vsock stream from ringwatch-vsockd; transport A: an AF_VSOCK socket; tests:
 * socketpairs). The connection is a byte-in / byte-out state machine; the
 * caller moves bytes (rw_ch_conn_input, rw_ch_conn_output/consumed).
 *
 * What it does with a stream:
 *  - frames the bytes with rw_proto_frame_check and decodes them; a malformed
 *    or oversized frame gets an ERROR frame and the connection closes with the
 *    reason logged (other connections are not affected);
 *  - HELLO: version negotiation, stream identity (vm, component, session id),
 *    the stream's persisted high-water mark (sink load) announced as
 *    resume_seq;
 *  - sequenced guest frames: duplicates (seq <= mark) are dropped, new ones go
 *    to sink.on_message; before any ACK covering them is sent, sink.commit
 *    makes them durable together with the new mark (store-then-ack). Gaps and
 *    LOSS frames are logged and counted;
 *  - host -> guest frames (POLICY_UPDATE, CHALLENGE) through rw_ch_conn_send,
 *    numbered per connection from 1; the guest's cumulative ACKs are passed
 *    to app.on_peer_ack.
 *
 * All connections of one rw_ch_host share the sink, and a stream (vm,
 * component, session) is live on at most one connection: a newer HELLO for a
 * live stream closes the older connection first.
 *
 * Single-threaded: call everything from one thread. */
#ifndef RW_HOST_CHANNEL_HOST_H
#define RW_HOST_CHANNEL_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/vhu_log.h"
#include "shared/rw_proto.h"

#define RW_CH_VM_NAME_MAX 64 /* bytes incl. NUL */

/* Identity of a guest stream. */
struct rw_ch_stream_id {
	char vm[RW_CH_VM_NAME_MAX]; /* VM name given by the transport */
	uint8_t component;          /* RW_COMP_KMOD / AGENT / TEST */
	uint8_t session_id[RW_PROTO_SESSION_ID_LEN];
};

/* Where accepted guest messages go (the daemon's event store). Contract:
 *  - load: the stream's mark (highest seq stored), 0 for a new stream;
 *  - on_message: one new message (seq > mark, in increasing order) with its
 *    raw frame; return 0 when taken, < 0 to refuse (the connection is closed
 *    with ERROR internal and nothing past the last commit is ACKed, so the
 *    guest resends);
 *  - commit: make every message taken for the stream durable TOGETHER with
 *    mark hwm (a crash before commit returns must lose both, or keep both);
 *    called before each ACK. Return 0 or < 0 (connection closed, no ACK).
 * Exactly-once across daemon restarts follows from this atomicity. */
struct rw_ch_sink_ops {
	int (*load)(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm);
	int (*on_message)(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *msg,
			  const uint8_t *frame, size_t len);
	int (*commit)(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm);
};

struct rw_ch_conn;

/* Optional application callbacks (all may be NULL). */
struct rw_ch_app_ops {
	/* HELLO exchanged: the stream id is known, rw_ch_conn_send works. */
	void (*on_ready)(void *ctx, struct rw_ch_conn *c);
	/* The guest acknowledged every host frame with seq <= acked_seq. */
	void (*on_peer_ack)(void *ctx, struct rw_ch_conn *c, uint64_t acked_seq);
	/* Output space was short (rw_ch_conn_send -EAGAIN) and is back. */
	void (*on_writable)(void *ctx, struct rw_ch_conn *c);
	/* The connection is finished (reason); it is freed by rw_ch_conn_free. */
	void (*on_close)(void *ctx, struct rw_ch_conn *c, const char *reason);
};

struct rw_ch_config {
	struct rw_ch_sink_ops sink; /* required: load, on_message, commit */
	void *sink_ctx;
	struct rw_ch_app_ops app;
	void *app_ctx;
	struct vhu_logger log;
	uint8_t instance_id[RW_PROTO_SESSION_ID_LEN]; /* host session id in HELLO */
	uint64_t capabilities;   /* advertised in the host HELLO */
	size_t out_cap;          /* output buffer bytes per connection (default 1 MiB, >= 128 KiB) */
	unsigned hello_timeout_ms; /* first HELLO must arrive in time (default 10000) */
	unsigned max_conns;      /* default 256 */
};

struct rw_ch_host;

struct rw_ch_host *rw_ch_host_new(const struct rw_ch_config *cfg);
/* Frees every connection still open (no callbacks). */
void rw_ch_host_free(struct rw_ch_host *h);
unsigned rw_ch_host_conn_count(const struct rw_ch_host *h);

/* New connection from VM vm (transport-provided; [A-Za-z0-9._-]{1,63}) with
 * the guest's CID and port (informational). NULL: -EINVAL (name), -ENOSPC
 * (max_conns), -ENOMEM in *err. */
struct rw_ch_conn *rw_ch_conn_new(struct rw_ch_host *h, const char *vm, uint32_t cid,
				  uint32_t port, int *err);
/* Unlinks and frees (calls app.on_close first if it has not run yet). */
void rw_ch_conn_free(struct rw_ch_conn *c);

/* Bytes from the guest. Returns 0, or < 0 once the connection is closing
 * (flush the output, which may end with an ERROR frame, then free it). */
int rw_ch_conn_input(struct rw_ch_conn *c, const uint8_t *data, size_t len);
/* The guest closed its side (EOF) or the transport failed. */
void rw_ch_conn_eof(struct rw_ch_conn *c, const char *why);
/* Periodic timers (HELLO timeout). now_ms: monotonic. */
void rw_ch_conn_tick(struct rw_ch_conn *c, uint64_t now_ms);

/* Output: *data/returned length of bytes to send; then report what was sent. */
size_t rw_ch_conn_output(const struct rw_ch_conn *c, const uint8_t **data);
void rw_ch_conn_consumed(struct rw_ch_conn *c, size_t n);
/* True when the connection is finished: send the output left, then free. */
bool rw_ch_conn_closing(const struct rw_ch_conn *c);
const char *rw_ch_conn_close_reason(const struct rw_ch_conn *c);

/* Queue a host -> guest frame (RW_MSG_POLICY_UPDATE / RW_MSG_CHALLENGE; seq
 * and component are assigned). Returns its seq (> 0), -ENOTCONN before the
 * HELLO exchange or when closing, -EAGAIN when the output buffer lacks room
 * (app.on_writable follows), -EINVAL for a message that does not encode. */
int64_t rw_ch_conn_send(struct rw_ch_conn *c, struct rw_msg *msg);

bool rw_ch_conn_ready(const struct rw_ch_conn *c);
/* Valid once ready. */
const struct rw_ch_stream_id *rw_ch_conn_stream(const struct rw_ch_conn *c);
uint32_t rw_ch_conn_cid(const struct rw_ch_conn *c);
void rw_ch_conn_set_user(struct rw_ch_conn *c, void *user);
void *rw_ch_conn_user(const struct rw_ch_conn *c);

struct rw_ch_conn_stats {
	uint16_t version;     /* negotiated, 0 before HELLO */
	uint64_t hwm;         /* stream mark */
	uint64_t committed;   /* mark last committed (and ACKed) */
	uint64_t frames;      /* frames decoded */
	uint64_t accepted;    /* new sequenced messages delivered */
	uint64_t duplicates;  /* resends dropped */
	uint64_t gaps, missing; /* numbers skipped */
	uint64_t losses;      /* LOSS messages */
	uint64_t lost;        /* sum of LOSS counts */
	uint64_t host_sent;   /* host frames queued */
	uint64_t host_acked;  /* guest ACK of host frames */
};
void rw_ch_conn_get_stats(const struct rw_ch_conn *c, struct rw_ch_conn_stats *st);

/* Text for an rw_ch_stream_id: "vm/component/sessionhex" (buf >= 112). */
const char *rw_ch_stream_name(const struct rw_ch_stream_id *id, char *buf, size_t len);
/* True for names accepted by rw_ch_conn_new. */
bool rw_ch_vm_name_ok(const char *vm);

#endif

#include "host/vsock_dev.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/vhost_user.h"
#include "host/virtqueue.h"

#define MAX_LISTENERS 16
#define RST_QUEUE 64
#define LOG_PER_SEC 20
#define PKTS_PER_VISIT 8 /* output packets per connection per round (fairness) */

enum {
	PEND_RESPONSE = 1u << 0,
	PEND_CREDIT_UPDATE = 1u << 1,
	PEND_CREDIT_REQUEST = 1u << 2,
};

struct vsock_listener {
	bool used;
	uint32_t port;
	struct vsock_listener_ops ops;
	void *opaque;
};

struct vsock_conn {
	struct vsock_dev *dev;
	struct vsock_listener *l;
	uint32_t guest_port, host_port;
	unsigned pending;
	/* host -> guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint8_t *sbuf;
	size_t scap, shead, slen;
	bool send_blocked;       /* vsock_send came up short: call on_writable on drain */
	/* guest -> host */
	uint32_t rx_cnt, fwd_cnt, adv_fwd_cnt;
	bool peer_shut_send, peer_shut_rcv, eof_delivered;
	/* local close */
	bool local_close, shutdown_sent;
	bool gone;               /* removed from the table; on_close is running */
	uint64_t close_deadline_ms;
	/* flood accounting */
	uint64_t window_s;
	unsigned window_pkts;
	void *user;
};

struct rst_entry {
	uint32_t guest_port, host_port;
};

struct vsock_dev {
	struct vsock_dev_config cfg;
	struct vhu_dev *vhu;
	struct vhu_logger log;
	struct vsock_listener listeners[MAX_LISTENERS];
	struct vsock_conn **conns; /* cfg.max_conns slots */
	unsigned nconns;
	unsigned rr;               /* round-robin start slot for output */
	struct rst_entry rstq[RST_QUEUE];
	unsigned rst_head, rst_len;
	uint8_t *scratch;          /* VSOCK_MAX_PAYLOAD bytes of tx payload */
	unsigned busy;             /* > 0 while inside process/flush/handle */
	bool broken;
	char error[192];
	char last_event[192];
	uint64_t log_window_s;
	unsigned log_count, log_suppressed;
	uint64_t now_ms;
	bool rx_used;              /* rx buffers completed since the last notify */
	struct vsock_stats st;
};

/* ---- header codec ---- */

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int vsock_hdr_decode(const uint8_t *b, size_t len, struct vsock_hdr *h)
{
	if (len < VSOCK_HDR_SIZE)
		return -1;
	h->src_cid = get_le64(b);
	h->dst_cid = get_le64(b + 8);
	h->src_port = get_le32(b + 16);
	h->dst_port = get_le32(b + 20);
	h->len = get_le32(b + 24);
	h->type = get_le16(b + 28);
	h->op = get_le16(b + 30);
	h->flags = get_le32(b + 32);
	h->buf_alloc = get_le32(b + 36);
	h->fwd_cnt = get_le32(b + 40);
	return 0;
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t b[VSOCK_HDR_SIZE])
{
	put_le(b, h->src_cid, 8);
	put_le(b + 8, h->dst_cid, 8);
	put_le(b + 16, h->src_port, 4);
	put_le(b + 20, h->dst_port, 4);
	put_le(b + 24, h->len, 4);
	put_le(b + 28, h->type, 2);
	put_le(b + 30, h->op, 2);
	put_le(b + 32, h->flags, 4);
	put_le(b + 36, h->buf_alloc, 4);
	put_le(b + 40, h->fwd_cnt, 4);
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = { "INVALID", "REQUEST", "RESPONSE", "RST",
					     "SHUTDOWN", "RW", "CREDIT_UPDATE", "CREDIT_REQUEST" };
	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "UNKNOWN";
}

/* ---- logging ---- */

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A guest-caused event: recorded, and logged at most LOG_PER_SEC times per second. */
static void guest_event(struct vsock_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void guest_event(struct vsock_dev *dev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dev->last_event, sizeof(dev->last_event), fmt, ap);
	va_end(ap);
	uint64_t s = monotonic_ms() / 1000u;
	if (s != dev->log_window_s) {
		if (dev->log_suppressed)
			vhu_logf(&dev->log, VHU_LOG_WARN, "guest cid %llu: %u more events suppressed",
				 (unsigned long long)dev->cfg.guest_cid, dev->log_suppressed);
		dev->log_window_s = s;
		dev->log_count = 0;
		dev->log_suppressed = 0;
	}
	if (dev->log_count++ < LOG_PER_SEC)
		vhu_logf(&dev->log, VHU_LOG_WARN, "guest cid %llu: %s",
			 (unsigned long long)dev->cfg.guest_cid, dev->last_event);
	else
		dev->log_suppressed++;
}

static void conn_destroy(struct vsock_dev *dev, unsigned slot, const char *reason);

/* Hostile or broken driver: stop the device (the server drops the front-end). */
static void violation(struct vsock_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void violation(struct vsock_dev *dev, const char *fmt, ...)
{
	va_list ap;
	if (dev->broken)
		return;
	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	dev->broken = true;
	vhu_logf(&dev->log, VHU_LOG_ERR, "guest cid %llu: device stopped: %s",
		 (unsigned long long)dev->cfg.guest_cid, dev->error);
	if (dev->vhu) {
		for (unsigned q = 0; q < 2; q++) {
			struct vhu_vring *vr = vhu_dev_ring(dev->vhu, q);
			if (vr)
				vhu_vring_signal_error(vr);
		}
	}
	for (unsigned i = 0; i < dev->cfg.max_conns; i++)
		if (dev->conns[i])
			conn_destroy(dev, i, "device stopped after guest protocol violation");
	dev->rst_len = 0;
}

/* ---- lifecycle ---- */

struct vsock_dev *vsock_dev_new(const struct vsock_dev_config *cfg, struct vhu_dev *vhu,
				const struct vhu_logger *log)
{
	if (!cfg || cfg->guest_cid < 3 || cfg->guest_cid >= 0xffffffffu)
		return NULL;
	struct vsock_dev *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->cfg = *cfg;
	if (!dev->cfg.buf_alloc)
		dev->cfg.buf_alloc = 64 * 1024;
	if (!dev->cfg.send_buf)
		dev->cfg.send_buf = 256 * 1024;
	if (!dev->cfg.max_conns)
		dev->cfg.max_conns = 64;
	if (!dev->cfg.tx_budget)
		dev->cfg.tx_budget = 256;
	if (!dev->cfg.max_pkts_per_sec)
		dev->cfg.max_pkts_per_sec = 50000;
	if (!dev->cfg.close_timeout_ms)
		dev->cfg.close_timeout_ms = 2000;
	dev->vhu = vhu;
	if (log)
		dev->log = *log;
	else
		dev->log.max_level = VHU_LOG_WARN;
	dev->conns = calloc(dev->cfg.max_conns, sizeof(*dev->conns));
	dev->scratch = malloc(VSOCK_MAX_PAYLOAD);
	if (!dev->conns || !dev->scratch) {
		free(dev->conns);
		free(dev->scratch);
		free(dev);
		return NULL;
	}
	dev->now_ms = monotonic_ms();
	return dev;
}

void vsock_dev_set_vhu(struct vsock_dev *dev, struct vhu_dev *vhu)
{
	dev->vhu = vhu;
}

void vsock_dev_reset(struct vsock_dev *dev, const char *reason)
{
	dev->busy++;
	for (unsigned i = 0; i < dev->cfg.max_conns; i++)
		if (dev->conns[i])
			conn_destroy(dev, i, reason);
	dev->busy--;
	dev->rst_len = 0;
	dev->broken = false;
	dev->error[0] = 0;
	dev->rx_used = false;
}

void vsock_dev_free(struct vsock_dev *dev)
{
	if (!dev)
		return;
	vsock_dev_reset(dev, "device removed");
	free(dev->conns);
	free(dev->scratch);
	free(dev);
}

bool vsock_dev_broken(const struct vsock_dev *dev) { return dev->broken; }
const char *vsock_dev_error(const struct vsock_dev *dev) { return dev->error; }
const char *vsock_dev_last_event(const struct vsock_dev *dev) { return dev->last_event; }
unsigned vsock_dev_conn_count(const struct vsock_dev *dev) { return dev->nconns; }
uint64_t vsock_dev_guest_cid(const struct vsock_dev *dev) { return dev->cfg.guest_cid; }
void vsock_dev_stats(const struct vsock_dev *dev, struct vsock_stats *out) { *out = dev->st; }

int vsock_dev_get_config(void *opaque, uint32_t offset, uint8_t *buf, uint32_t size)
{
	struct vsock_dev *dev = opaque;
	uint8_t cfg[8];
	put_le(cfg, dev->cfg.guest_cid, 8);
	if (offset > sizeof(cfg) || size > sizeof(cfg) - offset)
		return -1;
	memcpy(buf, cfg + offset, size);
	return 0;
}

int vsock_listen(struct vsock_dev *dev, uint32_t port, const struct vsock_listener_ops *ops,
		 void *opaque)
{
	struct vsock_listener *free_slot = NULL;
	if (!ops || !ops->on_data || !ops->on_close)
		return -EINVAL;
	for (unsigned i = 0; i < MAX_LISTENERS; i++) {
		if (dev->listeners[i].used && dev->listeners[i].port == port)
			return -EEXIST;
		if (!dev->listeners[i].used && !free_slot)
			free_slot = &dev->listeners[i];
	}
	if (!free_slot)
		return -ENOSPC;
	free_slot->used = true;
	free_slot->port = port;
	free_slot->ops = *ops;
	free_slot->opaque = opaque;
	return 0;
}

int vsock_unlisten(struct vsock_dev *dev, uint32_t port)
{
	for (unsigned i = 0; i < MAX_LISTENERS; i++) {
		struct vsock_listener *l = &dev->listeners[i];
		if (!l->used || l->port != port)
			continue;
		for (unsigned s = 0; s < dev->cfg.max_conns; s++)
			if (dev->conns[s] && dev->conns[s]->l == l)
				vsock_abort(dev->conns[s], "listener removed");
		l->used = false;
		return 0;
	}
	return -ENOENT;
}

static struct vsock_listener *find_listener(struct vsock_dev *dev, uint32_t port)
{
	for (unsigned i = 0; i < MAX_LISTENERS; i++)
		if (dev->listeners[i].used && dev->listeners[i].port == port)
			return &dev->listeners[i];
	return NULL;
}

/* ---- connections ---- */

uint32_t vsock_conn_guest_port(const struct vsock_conn *c) { return c->guest_port; }
uint32_t vsock_conn_host_port(const struct vsock_conn *c) { return c->host_port; }
void vsock_conn_set_user(struct vsock_conn *c, void *user) { c->user = user; }
void *vsock_conn_user(const struct vsock_conn *c) { return c->user; }
size_t vsock_conn_send_queued(const struct vsock_conn *c) { return c->slen; }

size_t vsock_conn_send_space(const struct vsock_conn *c)
{
	return c->dev->cfg.send_buf - c->slen;
}

static int find_slot(const struct vsock_dev *dev, uint32_t guest_port, uint32_t host_port)
{
	for (unsigned i = 0; i < dev->cfg.max_conns; i++) {
		const struct vsock_conn *c = dev->conns[i];
		if (c && c->guest_port == guest_port && c->host_port == host_port)
			return (int)i;
	}
	return -1;
}

static int slot_of(const struct vsock_dev *dev, const struct vsock_conn *c)
{
	for (unsigned i = 0; i < dev->cfg.max_conns; i++)
		if (dev->conns[i] == c)
			return (int)i;
	return -1;
}

static void conn_destroy(struct vsock_dev *dev, unsigned slot, const char *reason)
{
	struct vsock_conn *c = dev->conns[slot];
	dev->conns[slot] = NULL;
	dev->nconns--;
	c->gone = true;
	dev->busy++;
	if (c->l)
		c->l->ops.on_close(c->l->opaque, c, reason);
	dev->busy--;
	free(c->sbuf);
	free(c);
}

static void queue_rst(struct vsock_dev *dev, uint32_t guest_port, uint32_t host_port)
{
	if (dev->rst_len == RST_QUEUE) {
		dev->st.rst_dropped++;
		return;
	}
	struct rst_entry *e = &dev->rstq[(dev->rst_head + dev->rst_len++) % RST_QUEUE];
	e->guest_port = guest_port;
	e->host_port = host_port;
}

/* RST the guest side and free the connection. */
static void conn_reset(struct vsock_dev *dev, unsigned slot, const char *reason)
{
	struct vsock_conn *c = dev->conns[slot];
	queue_rst(dev, c->guest_port, c->host_port);
	conn_destroy(dev, slot, reason);
}

void vsock_abort(struct vsock_conn *c, const char *reason)
{
	int slot = slot_of(c->dev, c);
	if (slot >= 0)
		conn_reset(c->dev, (unsigned)slot, reason);
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	if (in_flight >= c->peer_buf_alloc) /* full, or a lying peer */
		return 0;
	return c->peer_buf_alloc - in_flight;
}

ssize_t vsock_send(struct vsock_conn *c, const void *buf, size_t len)
{
	struct vsock_dev *dev = c->dev;
	if (dev->broken)
		return -ENOTCONN;
	if (c->gone || c->local_close || c->peer_shut_rcv)
		return -EPIPE;
	if (!c->sbuf) {
		c->sbuf = malloc(dev->cfg.send_buf);
		if (!c->sbuf)
			return -ENOMEM;
		c->scap = dev->cfg.send_buf;
	}
	size_t n = c->scap - c->slen;
	if (n > len)
		n = len;
	if (n < len)
		c->send_blocked = true;
	for (size_t done = 0; done < n;) {
		size_t tail = (c->shead + c->slen) % c->scap;
		size_t chunk = c->scap - tail;
		if (chunk > n - done)
			chunk = n - done;
		memcpy(c->sbuf + tail, (const uint8_t *)buf + done, chunk);
		c->slen += chunk;
		done += chunk;
	}
	if (!dev->busy)
		vsock_dev_flush_rx(dev);
	return (ssize_t)n;
}

void vsock_close(struct vsock_conn *c)
{
	if (c->gone || c->local_close)
		return;
	c->local_close = true;
	c->close_deadline_ms = monotonic_ms() + c->dev->cfg.close_timeout_ms;
	if (!c->dev->busy)
		vsock_dev_flush_rx(c->dev);
}

/* ---- guest -> host packets ---- */

static bool flood_check(struct vsock_dev *dev, struct vsock_conn *c)
{
	uint64_t s = dev->now_ms / 1000u;
	if (s != c->window_s) {
		c->window_s = s;
		c->window_pkts = 0;
	}
	return ++c->window_pkts > dev->cfg.max_pkts_per_sec;
}

static void handle_request(struct vsock_dev *dev, const struct vsock_hdr *h)
{
	struct vsock_listener *l = find_listener(dev, h->dst_port);
	if (!l) {
		guest_event(dev, "connection to unbound host port %u from guest port %u: RST",
			    h->dst_port, h->src_port);
		queue_rst(dev, h->src_port, h->dst_port);
		return;
	}
	int free_slot = -1;
	for (unsigned i = 0; i < dev->cfg.max_conns; i++)
		if (!dev->conns[i]) {
			free_slot = (int)i;
			break;
		}
	if (free_slot < 0) {
		dev->st.floods++;
		guest_event(dev, "connection limit %u reached, port %u -> %u refused (RST)",
			    dev->cfg.max_conns, h->src_port, h->dst_port);
		queue_rst(dev, h->src_port, h->dst_port);
		return;
	}
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		queue_rst(dev, h->src_port, h->dst_port);
		return;
	}
	c->dev = dev;
	c->l = l;
	c->guest_port = h->src_port;
	c->host_port = h->dst_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = PEND_RESPONSE;
	dev->conns[free_slot] = c;
	dev->nconns++;
	if (l->ops.on_connect && l->ops.on_connect(l->opaque, c) != 0) {
		/* refused: the listener never saw it as open, so no on_close */
		c->l = NULL;
		conn_reset(dev, (unsigned)free_slot, "refused by listener");
	}
}

static void deliver_eof(struct vsock_conn *c)
{
	if (c->eof_delivered || !c->l)
		return;
	c->eof_delivered = true;
	c->l->ops.on_data(c->l->opaque, c, NULL, 0);
}

static void handle_rw(struct vsock_dev *dev, unsigned slot, const struct vsock_hdr *h,
		      const uint8_t *payload)
{
	struct vsock_conn *c = dev->conns[slot];
	/* What the guest may have in flight given the fwd_cnt we advertised. */
	uint32_t used = c->rx_cnt - c->adv_fwd_cnt;
	if (h->len > dev->cfg.buf_alloc || used > dev->cfg.buf_alloc - h->len) {
		dev->st.credit_violations++;
		guest_event(dev, "port %u -> %u: %u bytes exceed the advertised credit (%u in use of %u): RST",
			    h->src_port, h->dst_port, h->len, used, dev->cfg.buf_alloc);
		conn_reset(dev, slot, "guest exceeded flow-control credit");
		return;
	}
	if (c->peer_shut_send || c->local_close) {
		/* data after the sender's own SHUTDOWN, or after we closed: discard */
		c->rx_cnt += h->len;
		c->fwd_cnt += h->len;
		return;
	}
	c->rx_cnt += h->len;
	if (h->len && c->l) {
		dev->busy++;
		c->l->ops.on_data(c->l->opaque, c, payload, h->len);
		dev->busy--;
	}
	/* The callback may have closed/aborted the connection. */
	if (dev->conns[slot] != c)
		return;
	c->fwd_cnt += h->len;
	if (c->rx_cnt - c->adv_fwd_cnt >= dev->cfg.buf_alloc / 2)
		c->pending |= PEND_CREDIT_UPDATE;
}

void vsock_dev_handle_pkt(struct vsock_dev *dev, const struct vsock_hdr *h, const uint8_t *payload)
{
	if (dev->broken)
		return;
	dev->busy++;
	dev->st.tx_pkts++;
	if (h->src_cid != dev->cfg.guest_cid) {
		dev->st.bad_pkts++;
		guest_event(dev, "packet with src_cid %llu (expected %llu) dropped",
			    (unsigned long long)h->src_cid, (unsigned long long)dev->cfg.guest_cid);
		goto out;
	}
	if (h->dst_cid != VSOCK_HOST_CID) {
		dev->st.bad_pkts++;
		guest_event(dev, "packet to cid %llu (this device only reaches the host, cid 2) dropped",
			    (unsigned long long)h->dst_cid);
		goto out;
	}
	int slot = find_slot(dev, h->src_port, h->dst_port);
	if (h->type != VSOCK_TYPE_STREAM) {
		dev->st.bad_pkts++;
		guest_event(dev, "port %u -> %u: socket type %u not supported: RST", h->src_port,
			    h->dst_port, h->type);
		if (h->op != VSOCK_OP_RST) {
			if (slot >= 0)
				conn_reset(dev, (unsigned)slot, "unsupported socket type");
			else
				queue_rst(dev, h->src_port, h->dst_port);
		}
		goto out;
	}
	if (h->op == VSOCK_OP_REQUEST) {
		if (slot >= 0) {
			guest_event(dev, "duplicate REQUEST for port %u -> %u: RST", h->src_port, h->dst_port);
			conn_reset(dev, (unsigned)slot, "guest reused the connection's ports");
		} else {
			handle_request(dev, h);
		}
		goto out;
	}
	if (slot < 0) {
		if (h->op != VSOCK_OP_RST) {
			guest_event(dev, "%s for unknown connection %u -> %u: RST", vsock_op_name(h->op),
				    h->src_port, h->dst_port);
			queue_rst(dev, h->src_port, h->dst_port);
		}
		goto out;
	}
	struct vsock_conn *c = dev->conns[slot];
	if (flood_check(dev, c)) {
		dev->st.floods++;
		guest_event(dev, "port %u -> %u: more than %u packets/s: RST", h->src_port, h->dst_port,
			    dev->cfg.max_pkts_per_sec);
		conn_reset(dev, (unsigned)slot, "guest packet flood");
		goto out;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RW:
		handle_rw(dev, (unsigned)slot, h, payload);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & ~(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
			guest_event(dev, "port %u -> %u: SHUTDOWN flags 0x%x", h->src_port, h->dst_port,
				    h->flags);
		if (h->flags & VSOCK_SHUTDOWN_RCV) {
			c->peer_shut_rcv = true;
			c->slen = 0; /* the guest will not read it */
		}
		if (h->flags & VSOCK_SHUTDOWN_SEND) {
			c->peer_shut_send = true;
			deliver_eof(c);
		}
		if (dev->conns[slot] == c &&
		    ((c->peer_shut_rcv && c->peer_shut_send) || c->shutdown_sent))
			conn_reset(dev, (unsigned)slot, c->shutdown_sent ? "closed" : "closed by guest");
		break;
	case VSOCK_OP_RST:
		conn_destroy(dev, (unsigned)slot, c->shutdown_sent ? "closed" : "reset by guest");
		break;
	default: /* RESPONSE (we never connect), INVALID, unknown */
		guest_event(dev, "port %u -> %u: unexpected op %u (%s): RST", h->src_port, h->dst_port,
			    h->op, vsock_op_name(h->op));
		conn_reset(dev, (unsigned)slot, "unexpected packet from guest");
		break;
	}
out:
	dev->busy--;
}

/* ---- host -> guest: rx ring ---- */

/* Takes an rx buffer: 1 with *chain, 0 when none (or no ring), -1 on violation. */
static int rx_take(struct vsock_dev *dev, struct vhu_vring **vrp, struct vq_chain *chain)
{
	struct vhu_vring *vr = dev->vhu ? vhu_dev_ring(dev->vhu, VSOCK_RXQ) : NULL;
	if (!vr || dev->broken)
		return 0;
	int rc = vq_pop(&vr->vq, &dev->vhu->ram, chain);
	if (rc < 0) {
		violation(dev, "rx ring: %s (descriptor %u, address 0x%llx)", vq_strerror(rc),
			  vr->vq.err_desc, (unsigned long long)vr->vq.err_addr);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (chain->nread != 0 || chain->write_len < VSOCK_HDR_SIZE) {
		violation(dev, "rx buffer %u unusable: %u device-readable descriptors, %llu writable bytes",
			  chain->head, chain->nread, (unsigned long long)chain->write_len);
		return -1;
	}
	*vrp = vr;
	return 1;
}

/* Sends one packet built from h and up to two payload pieces; returns 1 sent,
 * 0 no rx buffer, -1 violation. h->len is set to the payload actually written,
 * limited by max_payload and the buffer. */
static int rx_emit(struct vsock_dev *dev, struct vsock_hdr *h, const uint8_t *p1, size_t n1,
		   const uint8_t *p2, size_t n2)
{
	struct vhu_vring *vr;
	struct vq_chain chain;
	int rc = rx_take(dev, &vr, &chain);
	if (rc <= 0)
		return rc;
	uint64_t room = chain.write_len - VSOCK_HDR_SIZE;
	if (n1 > room)
		n1 = (size_t)room, n2 = 0;
	else if (n2 > room - n1)
		n2 = (size_t)(room - n1);
	h->len = (uint32_t)(n1 + n2);
	uint8_t raw[VSOCK_HDR_SIZE];
	vsock_hdr_encode(h, raw);
	vq_chain_write(&chain, 0, raw, sizeof(raw));
	if (n1)
		vq_chain_write(&chain, VSOCK_HDR_SIZE, p1, n1);
	if (n2)
		vq_chain_write(&chain, VSOCK_HDR_SIZE + n1, p2, n2);
	vq_push(&vr->vq, chain.head, (uint32_t)(VSOCK_HDR_SIZE + n1 + n2));
	dev->rx_used = true;
	dev->st.rx_pkts++;
	return 1;
}

static void hdr_for(const struct vsock_dev *dev, struct vsock_hdr *h, uint32_t guest_port,
		    uint32_t host_port, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = dev->cfg.guest_cid;
	h->src_port = host_port;
	h->dst_port = guest_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = dev->cfg.buf_alloc;
}

static int emit_conn_ctl(struct vsock_dev *dev, struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h;
	hdr_for(dev, &h, c->guest_port, c->host_port, op);
	h.flags = flags;
	h.fwd_cnt = c->fwd_cnt;
	int rc = rx_emit(dev, &h, NULL, 0, NULL, 0);
	if (rc == 1)
		c->adv_fwd_cnt = c->fwd_cnt;
	return rc;
}

/* Emits up to `max` packets for connection in slot; returns packets sent, or
 * -1 (no rx buffer left) / -2 (violation). The connection may be freed. */
static int flush_conn(struct vsock_dev *dev, unsigned slot, int max)
{
	struct vsock_conn *c = dev->conns[slot];
	int sent = 0, rc;

	while (sent < max && dev->conns[slot] == c) {
		if (c->pending & PEND_RESPONSE) {
			if ((rc = emit_conn_ctl(dev, c, VSOCK_OP_RESPONSE, 0)) <= 0)
				return rc < 0 ? -2 : -1;
			c->pending &= ~(unsigned)PEND_RESPONSE;
		} else if (c->slen && peer_credit(c) > 0) {
			struct vsock_hdr h;
			size_t n = c->slen, credit = peer_credit(c);
			if (n > credit)
				n = credit;
			if (n > VSOCK_MAX_PAYLOAD)
				n = VSOCK_MAX_PAYLOAD;
			size_t first = c->scap - c->shead;
			if (first > n)
				first = n;
			hdr_for(dev, &h, c->guest_port, c->host_port, VSOCK_OP_RW);
			h.fwd_cnt = c->fwd_cnt;
			if ((rc = rx_emit(dev, &h, c->sbuf + c->shead, first, c->sbuf, n - first)) <= 0)
				return rc < 0 ? -2 : -1;
			c->adv_fwd_cnt = c->fwd_cnt;
			c->shead = (c->shead + h.len) % c->scap;
			c->slen -= h.len;
			c->tx_cnt += h.len;
			c->pending &= ~(unsigned)PEND_CREDIT_REQUEST;
			if (c->send_blocked && c->slen <= c->scap / 2) {
				c->send_blocked = false;
				if (c->l && c->l->ops.on_writable) {
					dev->busy++;
					c->l->ops.on_writable(c->l->opaque, c);
					dev->busy--;
				}
			}
		} else if (c->slen && !(c->pending & PEND_CREDIT_REQUEST) && !c->local_close) {
			/* blocked on the guest's window: ask once */
			if ((rc = emit_conn_ctl(dev, c, VSOCK_OP_CREDIT_REQUEST, 0)) <= 0)
				return rc < 0 ? -2 : -1;
			c->pending |= PEND_CREDIT_REQUEST;
		} else if (c->pending & PEND_CREDIT_UPDATE) {
			if ((rc = emit_conn_ctl(dev, c, VSOCK_OP_CREDIT_UPDATE, 0)) <= 0)
				return rc < 0 ? -2 : -1;
			c->pending &= ~(unsigned)PEND_CREDIT_UPDATE;
		} else if (c->local_close && !c->shutdown_sent && (c->slen == 0 || c->peer_shut_rcv)) {
			if ((rc = emit_conn_ctl(dev, c, VSOCK_OP_SHUTDOWN,
						VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) <= 0)
				return rc < 0 ? -2 : -1;
			c->shutdown_sent = true;
		} else {
			break;
		}
		sent++;
	}
	return sent;
}

static int flush_rst(struct vsock_dev *dev)
{
	while (dev->rst_len) {
		struct rst_entry *e = &dev->rstq[dev->rst_head];
		struct vsock_hdr h;
		hdr_for(dev, &h, e->guest_port, e->host_port, VSOCK_OP_RST);
		int rc = rx_emit(dev, &h, NULL, 0, NULL, 0);
		if (rc <= 0)
			return rc;
		dev->st.rst_sent++;
		dev->rst_head = (dev->rst_head + 1) % RST_QUEUE;
		dev->rst_len--;
	}
	return 1;
}

static void rx_notify(struct vsock_dev *dev)
{
	if (!dev->rx_used || !dev->vhu)
		return;
	dev->rx_used = false;
	struct vhu_vring *vr = vhu_dev_ring(dev->vhu, VSOCK_RXQ);
	if (vr && vq_needs_notify(&vr->vq))
		vhu_vring_notify(vr);
}

int vsock_dev_flush_rx(struct vsock_dev *dev)
{
	if (dev->broken)
		return -1;
	if (!dev->vhu || !vhu_dev_ring(dev->vhu, VSOCK_RXQ))
		return 0;
	dev->busy++;
	int rc = flush_rst(dev);
	/* Round-robin over connections until nothing moves or buffers run out. */
	bool progress = rc > 0;
	while (progress && !dev->broken) {
		progress = false;
		for (unsigned k = 0; k < dev->cfg.max_conns; k++) {
			unsigned slot = (dev->rr + k) % dev->cfg.max_conns;
			if (!dev->conns[slot])
				continue;
			rc = flush_conn(dev, slot, PKTS_PER_VISIT);
			if (rc < 0) {
				dev->rr = slot; /* resume here when buffers come back */
				progress = false;
				break;
			}
			if (rc > 0)
				progress = true;
			/* RSTs queued by callbacks during the flush */
			if (dev->rst_len && flush_rst(dev) <= 0) {
				progress = false;
				break;
			}
		}
	}
	rx_notify(dev);
	dev->busy--;
	return dev->broken ? -1 : 0;
}

void vsock_dev_tick(struct vsock_dev *dev, uint64_t now_ms)
{
	dev->now_ms = now_ms;
	dev->busy++;
	for (unsigned i = 0; i < dev->cfg.max_conns; i++) {
		struct vsock_conn *c = dev->conns[i];
		if (c && c->local_close && now_ms >= c->close_deadline_ms)
			conn_reset(dev, i, c->shutdown_sent ? "closed (guest did not answer SHUTDOWN)"
							    : "closed (unsent data dropped after timeout)");
	}
	dev->busy--;
	if (dev->rst_len)
		vsock_dev_flush_rx(dev);
}

/* ---- guest -> host: tx ring ---- */

static void handle_tx_chain(struct vsock_dev *dev, const struct vq_chain *chain)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;

	if (chain->read_len < VSOCK_HDR_SIZE) {
		dev->st.bad_pkts++;
		guest_event(dev, "tx buffer %u: %llu readable bytes, shorter than the packet header",
			    chain->head, (unsigned long long)chain->read_len);
		return;
	}
	vq_chain_read(chain, 0, raw, sizeof(raw));
	vsock_hdr_decode(raw, sizeof(raw), &h);
	if (h.len > VSOCK_MAX_PAYLOAD || h.len > chain->read_len - VSOCK_HDR_SIZE) {
		dev->st.bad_pkts++;
		guest_event(dev, "port %u -> %u: %s len %u but %llu bytes present (max %u): RST",
			    h.src_port, h.dst_port, vsock_op_name(h.op), h.len,
			    (unsigned long long)(chain->read_len - VSOCK_HDR_SIZE), VSOCK_MAX_PAYLOAD);
		if (h.src_cid == dev->cfg.guest_cid && h.op != VSOCK_OP_RST) {
			int slot = find_slot(dev, h.src_port, h.dst_port);
			if (slot >= 0)
				conn_reset(dev, (unsigned)slot, "malformed packet from guest");
			else
				queue_rst(dev, h.src_port, h.dst_port);
		}
		return;
	}
	if (h.op != VSOCK_OP_RW && h.len != 0) {
		/* control packets carry no payload; ignore what is there */
		h.len = 0;
	}
	vq_chain_read(chain, VSOCK_HDR_SIZE, dev->scratch, h.len);
	vsock_dev_handle_pkt(dev, &h, dev->scratch);
}

int vsock_dev_process_tx(struct vsock_dev *dev)
{
	if (dev->broken)
		return -1;
	struct vhu_vring *vr = dev->vhu ? vhu_dev_ring(dev->vhu, VSOCK_TXQ) : NULL;
	if (!vr)
		return 0;
	dev->now_ms = monotonic_ms();
	dev->busy++;
	unsigned n = 0;
	bool more = false;
	int rc = 0;
	for (; n < dev->cfg.tx_budget && !dev->broken; n++) {
		struct vq_chain chain;
		rc = vq_pop(&vr->vq, &dev->vhu->ram, &chain);
		if (rc == 0)
			break;
		if (rc < 0) {
			violation(dev, "tx ring: %s (descriptor %u, address 0x%llx)", vq_strerror(rc),
				  vr->vq.err_desc, (unsigned long long)vr->vq.err_addr);
			break;
		}
		if (chain.nread != chain.nseg) {
			violation(dev, "tx buffer %u has device-writable descriptors", chain.head);
			break;
		}
		handle_tx_chain(dev, &chain);
		/* the ring may have been stopped by a callback? no: only messages stop rings */
		vq_push(&vr->vq, chain.head, 0);
	}
	if (!dev->broken && n == dev->cfg.tx_budget)
		more = vq_pending(&vr->vq) > 0;
	if (n > 0 && !dev->broken && vq_needs_notify(&vr->vq))
		vhu_vring_notify(vr);
	dev->busy--;
	if (dev->broken)
		return -1;
	vsock_dev_flush_rx(dev);
	return dev->broken ? -1 : more ? 1 : 0;
}

/* Host end of guest channel streams; see channel_host.h. */
#include "host/channel_host.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/rw_seq.h"

#define DEFAULT_OUT_CAP (1u << 20)
#define MIN_OUT_CAP (128u << 10)
#define CTRL_RESERVE 1024u /* output kept free for HELLO/ACK/ERROR frames */
#define DEFAULT_HELLO_TIMEOUT_MS 10000u
#define DEFAULT_MAX_CONNS 256u
#define RX_CAP RW_PROTO_MAX_FRAME

enum conn_state { ST_HELLO_WAIT, ST_READY, ST_CLOSING };

struct rw_ch_host {
	struct rw_ch_config cfg;
	struct rw_ch_conn *conns; /* doubly linked */
	unsigned nconns;
};

struct rw_ch_conn {
	struct rw_ch_host *host;
	struct rw_ch_conn *prev, *next;
	enum conn_state state;
	char vm[RW_CH_VM_NAME_MAX];
	uint32_t cid, port;
	char label[128]; /* for log lines */
	void *user;

	struct rw_ch_stream_id id;
	struct rw_seq_stream seq;
	uint16_t version;
	uint64_t deadline_ms; /* HELLO timeout; 0 = set at first tick */

	uint8_t *rx;
	size_t rx_len;

	uint8_t *out;
	size_t out_head, out_len, out_cap;
	bool ack_due;
	bool want_writable;

	uint64_t host_next_seq;
	bool close_notified;
	char reason[256];
	struct rw_ch_conn_stats st;
};

bool rw_ch_vm_name_ok(const char *vm)
{
	size_t n;

	if (!vm)
		return false;
	n = strnlen(vm, RW_CH_VM_NAME_MAX);
	if (n == 0 || n >= RW_CH_VM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = vm[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

const char *rw_ch_stream_name(const struct rw_ch_stream_id *id, char *buf, size_t len)
{
	char hex[2 * RW_PROTO_SESSION_ID_LEN + 1];

	for (unsigned i = 0; i < RW_PROTO_SESSION_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id->session_id[i]);
	snprintf(buf, len, "%s/%u/%s", id->vm, id->component, hex);
	return buf;
}

/* ---- host ------------------------------------------------------------------ */

struct rw_ch_host *rw_ch_host_new(const struct rw_ch_config *cfg)
{
	struct rw_ch_host *h;

	if (!cfg || !cfg->sink.load || !cfg->sink.on_message || !cfg->sink.commit) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->cfg = *cfg;
	if (!h->cfg.out_cap)
		h->cfg.out_cap = DEFAULT_OUT_CAP;
	if (h->cfg.out_cap < MIN_OUT_CAP)
		h->cfg.out_cap = MIN_OUT_CAP;
	if (!h->cfg.hello_timeout_ms)
		h->cfg.hello_timeout_ms = DEFAULT_HELLO_TIMEOUT_MS;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = DEFAULT_MAX_CONNS;
	return h;
}

static void conn_release(struct rw_ch_conn *c)
{
	free(c->rx);
	free(c->out);
	free(c);
}

void rw_ch_host_free(struct rw_ch_host *h)
{
	if (!h)
		return;
	while (h->conns) {
		struct rw_ch_conn *c = h->conns;

		h->conns = c->next;
		conn_release(c);
	}
	free(h);
}

unsigned rw_ch_host_conn_count(const struct rw_ch_host *h)
{
	return h->nconns;
}

/* ---- logging / closing ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void conn_log(const struct rw_ch_conn *c, int level,
							  const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vhu_logf(&c->host->cfg.log, level, "channel %s: %s", c->label, msg);
}

static size_t out_free(const struct rw_ch_conn *c)
{
	return c->out_cap - c->out_len;
}

/* Room for n more bytes at the end of the output (compacts when needed). */
static uint8_t *out_reserve(struct rw_ch_conn *c, size_t n)
{
	if (out_free(c) < n)
		return NULL;
	if (c->out_head + c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_head, c->out_len);
		c->out_head = 0;
	}
	return c->out + c->out_head + c->out_len;
}

/* Encode a frame into the output; 0, -EAGAIN (no room) or a rw_proto_err. */
static int out_frame(struct rw_ch_conn *c, const struct rw_msg *m, size_t keep_free)
{
	long size = rw_proto_encoded_size(m);
	uint8_t *p;
	long n;

	if (size < 0)
		return (int)size;
	if (out_free(c) < (size_t)size + keep_free)
		return -EAGAIN;
	p = out_reserve(c, (size_t)size);
	if (!p)
		return -EAGAIN;
	n = rw_proto_encode(m, p, (size_t)size);
	if (n < 0)
		return (int)n;
	c->out_len += (size_t)n;
	return 0;
}

static void notify_close(struct rw_ch_conn *c)
{
	if (c->close_notified)
		return;
	c->close_notified = true;
	if (c->host->cfg.app.on_close)
		c->host->cfg.app.on_close(c->host->cfg.app_ctx, c, c->reason);
}

/* Stop processing; the reason is logged and kept. */
__attribute__((format(printf, 3, 4))) static void conn_finish(struct rw_ch_conn *c, int level,
							     const char *fmt, ...)
{
	va_list ap;

	if (c->state == ST_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->state = ST_CLOSING;
	c->ack_due = false;
	conn_log(c, level, "closing: %s", c->reason);
	notify_close(c);
}

/* Durably store what was accepted (store-then-ack). false: closed. */
static bool commit_accepted(struct rw_ch_conn *c)
{
	char name[128];
	int r;

	if (c->seq.hwm <= c->st.committed)
		return true;
	r = c->host->cfg.sink.commit(c->host->cfg.sink_ctx, &c->id, c->seq.hwm);
	if (r < 0) {
		conn_finish(c, VHU_LOG_ERR, "event store commit failed for %s up to seq %" PRIu64
			    " (%d): nothing ACKed past %" PRIu64,
			    rw_ch_stream_name(&c->id, name, sizeof(name)), c->seq.hwm, r,
			    c->st.committed);
		return false;
	}
	c->st.committed = c->seq.hwm;
	return true;
}

/* Send ERROR (best effort) and close. Accepted messages are committed first:
 * they were valid, and the guest may resend them anyway. */
__attribute__((format(printf, 5, 6))) static void conn_fail(struct rw_ch_conn *c, uint16_t code,
							   int detail, uint64_t ref_seq,
							   const char *fmt, ...)
{
	char text[RW_PROTO_MAX_ERROR_TEXT];
	struct rw_msg m;
	va_list ap;

	if (c->state == ST_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c->state == ST_READY && !commit_accepted(c))
		return;
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_ERROR;
	m.hdr.component = RW_COMP_HOST;
	m.hdr.version = c->version ? c->version : RW_PROTO_VERSION_MIN;
	m.u.error.code = code;
	m.u.error.detail = (int16_t)detail;
	m.u.error.ref_seq = ref_seq;
	m.u.error.text = text;
	m.u.error.text_len = (uint16_t)strlen(text);
	(void)out_frame(c, &m, 0); /* no room: the close says enough */
	conn_finish(c, VHU_LOG_WARN, "%s", text);
}

/* ---- connections ---------------------------------------------------------------- */

struct rw_ch_conn *rw_ch_conn_new(struct rw_ch_host *h, const char *vm, uint32_t cid,
				  uint32_t port, int *err)
{
	struct rw_ch_conn *c;
	int e = 0;

	if (!h || !rw_ch_vm_name_ok(vm))
		e = -EINVAL;
	else if (h->nconns >= h->cfg.max_conns)
		e = -ENOSPC;
	if (e) {
		if (err)
			*err = e;
		if (h && e == -ENOSPC)
			vhu_logf(&h->cfg.log, VHU_LOG_WARN,
				 "channel: refusing a connection from %s: %u connections open", vm,
				 h->nconns);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->rx = malloc(RX_CAP);
		c->out = malloc(h->cfg.out_cap);
	}
	if (!c || !c->rx || !c->out) {
		if (c)
			conn_release(c);
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	c->host = h;
	c->out_cap = h->cfg.out_cap;
	snprintf(c->vm, sizeof(c->vm), "%s", vm);
	c->cid = cid;
	c->port = port;
	snprintf(c->label, sizeof(c->label), "%s cid %u port %u", vm, cid, port);
	c->state = ST_HELLO_WAIT;
	c->host_next_seq = 1;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	return c;
}

void rw_ch_conn_free(struct rw_ch_conn *c)
{
	struct rw_ch_host *h;

	if (!c)
		return;
	h = c->host;
	if (!c->close_notified) {
		if (!c->reason[0])
			snprintf(c->reason, sizeof(c->reason), "connection released");
		notify_close(c);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	conn_release(c);
}

static void send_host_hello(struct rw_ch_conn *c, uint16_t version)
{
	struct rw_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HELLO;
	m.hdr.component = RW_COMP_HOST;
	m.hdr.version = version;
	m.u.hello.version_min = RW_PROTO_VERSION_MIN;
	m.u.hello.version_max = RW_PROTO_VERSION_MAX;
	m.u.hello.capabilities = c->host->cfg.capabilities | RW_CAP_RESUME;
	memcpy(m.u.hello.session_id, c->host->cfg.instance_id, RW_PROTO_SESSION_ID_LEN);
	m.u.hello.resume_seq = c->seq.hwm;
	m.u.hello.next_seq = c->host_next_seq;
	(void)out_frame(c, &m, 0); /* the buffer is empty at this point */
}

/* Another live connection of the same stream is stale (the guest reconnected
 * before we saw the old one close): close it. */
static void supersede(struct rw_ch_conn *c)
{
	for (struct rw_ch_conn *o = c->host->conns; o; o = o->next) {
		if (o == c || o->state != ST_READY)
			continue;
		if (!strcmp(o->id.vm, c->id.vm) && rw_seq_same_stream(&o->seq, c->id.component,
								       c->id.session_id))
			conn_finish(o, VHU_LOG_INFO,
				    "superseded by a newer connection of the same stream");
	}
}

static void handle_hello(struct rw_ch_conn *c, const struct rw_msg *m)
{
	const struct rw_msg_hello *hello = &m->u.hello;
	char name[128];
	uint64_t hwm = 0;
	uint16_t v;
	int r;

	if (m->hdr.component == RW_COMP_HOST) {
		conn_fail(c, RW_ERR_UNEXPECTED, RW_EPROTO_DIRECTION, 0,
			  "HELLO with the host's component from a guest");
		return;
	}
	v = rw_proto_negotiate(hello, RW_PROTO_VERSION_MIN, RW_PROTO_VERSION_MAX);
	if (!v) {
		conn_fail(c, RW_ERR_VERSION, 0, 0,
			  "no common protocol version: guest speaks %u..%u, host %u..%u",
			  hello->version_min, hello->version_max, RW_PROTO_VERSION_MIN,
			  RW_PROTO_VERSION_MAX);
		return;
	}
	memset(&c->id, 0, sizeof(c->id));
	snprintf(c->id.vm, sizeof(c->id.vm), "%s", c->vm);
	c->id.component = m->hdr.component;
	memcpy(c->id.session_id, hello->session_id, RW_PROTO_SESSION_ID_LEN);
	supersede(c);
	r = c->host->cfg.sink.load(c->host->cfg.sink_ctx, &c->id, &hwm);
	if (r < 0) {
		conn_fail(c, RW_ERR_INTERNAL, 0, 0, "cannot load the stream state of %s (%d)",
			  rw_ch_stream_name(&c->id, name, sizeof(name)), r);
		return;
	}
	rw_seq_init(&c->seq, c->id.component, c->id.session_id, hwm);
	if (!rw_seq_resume_ok(&c->seq, hello)) {
		conn_fail(c, RW_ERR_STREAM, 0, hello->next_seq,
			  "stream %s: next_seq %" PRIu64 " is not above the stored mark %" PRIu64
			  " (session id reused?)",
			  rw_ch_stream_name(&c->id, name, sizeof(name)), hello->next_seq, hwm);
		return;
	}
	if (hello->resume_seq > hwm)
		conn_log(c, VHU_LOG_WARN,
			 "stream %s: guest believes %" PRIu64 " acknowledged, store has %" PRIu64
			 " (host state lost: the difference will show as a gap)",
			 rw_ch_stream_name(&c->id, name, sizeof(name)), hello->resume_seq, hwm);
	c->version = v;
	c->st.version = v;
	c->st.hwm = hwm;
	c->st.committed = hwm;
	c->state = ST_READY;
	snprintf(c->label, sizeof(c->label), "%s cid %u port %u comp %u", c->vm, c->cid, c->port,
		 c->id.component);
	send_host_hello(c, v);
	conn_log(c, VHU_LOG_INFO,
		 "stream %s ready: version %u, resume from %" PRIu64 ", guest next %" PRIu64,
		 rw_ch_stream_name(&c->id, name, sizeof(name)), v, hwm, hello->next_seq);
	if (c->host->cfg.app.on_ready)
		c->host->cfg.app.on_ready(c->host->cfg.app_ctx, c);
}

static void handle_sequenced(struct rw_ch_conn *c, const struct rw_msg *m, const uint8_t *frame,
			     size_t len)
{
	uint64_t seq = m->hdr.seq, missing;
	int r;

	c->ack_due = true;
	if (seq <= c->seq.hwm) {
		(void)rw_seq_accept(&c->seq, seq, NULL); /* counts the duplicate */
		c->st.duplicates++;
		return;
	}
	r = c->host->cfg.sink.on_message(c->host->cfg.sink_ctx, &c->id, m, frame, len);
	if (r < 0) {
		conn_fail(c, RW_ERR_INTERNAL, 0, seq,
			  "event store refused seq %" PRIu64 " (%d); the guest will resend", seq, r);
		return;
	}
	if (rw_seq_accept(&c->seq, seq, &missing) == RW_SEQ_GAP) {
		c->st.gaps++;
		c->st.missing += missing;
		conn_log(c, VHU_LOG_WARN, "gap: %" PRIu64 " message(s) before seq %" PRIu64
			 " never arrived", missing, seq);
	}
	c->st.accepted++;
	c->st.hwm = c->seq.hwm;
	if (m->hdr.type == RW_MSG_LOSS) {
		c->st.losses++;
		c->st.lost += m->u.loss.count;
		conn_log(c, VHU_LOG_WARN,
			 "guest queue overflowed: %" PRIu64 " message(s) lost in seq %" PRIu64
			 "..%" PRIu64, m->u.loss.count, m->u.loss.first_seq, m->u.loss.last_seq);
	}
}

static void handle_peer_ack(struct rw_ch_conn *c, const struct rw_msg *m)
{
	uint64_t a = m->u.ack.acked_seq;

	if (a >= c->host_next_seq) {
		conn_fail(c, RW_ERR_STREAM, 0, 0,
			  "guest ACKed host seq %" PRIu64 " but only %" PRIu64 " were sent", a,
			  c->host_next_seq - 1);
		return;
	}
	if (a <= c->st.host_acked)
		return; /* cumulative: nothing new */
	c->st.host_acked = a;
	if (c->host->cfg.app.on_peer_ack)
		c->host->cfg.app.on_peer_ack(c->host->cfg.app_ctx, c, a);
}

static void handle_frame(struct rw_ch_conn *c, const struct rw_msg *m, const uint8_t *frame,
			 size_t len)
{
	c->st.frames++;
	if (c->state == ST_HELLO_WAIT) {
		if (m->hdr.type != RW_MSG_HELLO) {
			conn_fail(c, RW_ERR_UNEXPECTED, 0, m->hdr.seq,
				  "first frame is %s, expected HELLO", rw_proto_type_name(m->hdr.type));
			return;
		}
		handle_hello(c, m);
		return;
	}
	if (m->hdr.version != c->version) {
		conn_fail(c, RW_ERR_VERSION, RW_EPROTO_VERSION, m->hdr.seq,
			  "frame in version %u on a version %u connection", m->hdr.version,
			  c->version);
		return;
	}
	if (m->hdr.component != c->id.component) {
		conn_fail(c, RW_ERR_STREAM, RW_EPROTO_COMPONENT, m->hdr.seq,
			  "frame from component %u on a component %u stream", m->hdr.component,
			  c->id.component);
		return;
	}
	switch (m->hdr.type) {
	case RW_MSG_HEARTBEAT:
	case RW_MSG_CPU_STATE:
	case RW_MSG_CRED_VIOLATION:
	case RW_MSG_LSM_EVENT:
	case RW_MSG_CHALLENGE_RESPONSE:
	case RW_MSG_LOSS:
	case RW_MSG_MODULE_SELF:
	case RW_MSG_GUARD_EVENT:
	case RW_MSG_CRED_CHANGE:
		handle_sequenced(c, m, frame, len);
		break;
	case RW_MSG_ACK:
		handle_peer_ack(c, m);
		break;
	case RW_MSG_GOODBYE:
		if (commit_accepted(c))
			conn_finish(c, VHU_LOG_INFO, "guest said goodbye (reason %u)",
				    m->u.goodbye.reason);
		break;
	case RW_MSG_ERROR:
		if (commit_accepted(c))
			conn_finish(c, VHU_LOG_WARN, "guest sent ERROR code %u detail %d: %.*s",
				    m->u.error.code, m->u.error.detail, (int)m->u.error.text_len,
				    m->u.error.text ? m->u.error.text : "");
		break;
	default: /* HELLO again; host->guest types cannot decode from a guest */
		conn_fail(c, RW_ERR_UNEXPECTED, 0, m->hdr.seq, "unexpected %s frame",
			  rw_proto_type_name(m->hdr.type));
		break;
	}
}

/* Handle every complete frame in rx. */
static void process_rx(struct rw_ch_conn *c)
{
	size_t off = 0, flen;
	struct rw_msg m;
	int r;

	while (c->state != ST_CLOSING) {
		r = rw_proto_frame_check(c->rx + off, c->rx_len - off, &flen);
		if (r == RW_FRAME_NEED_MORE)
			break;
		if (r < 0) {
			conn_fail(c, r == RW_EPROTO_VERSION ? RW_ERR_VERSION : RW_ERR_MALFORMED, r, 0,
				  "bad frame header: %s", rw_proto_strerror(r));
			return;
		}
		r = rw_proto_decode(c->rx + off, flen, &m);
		if (r < 0) {
			conn_fail(c, RW_ERR_MALFORMED, r, 0, "malformed %s frame: %s",
				  rw_proto_type_name((uint16_t)(c->rx[off + 6] | c->rx[off + 7] << 8)),
				  rw_proto_strerror(r));
			return;
		}
		handle_frame(c, &m, c->rx + off, flen);
		off += flen;
	}
	if (off && c->state != ST_CLOSING) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
}

static void emit_ack(struct rw_ch_conn *c)
{
	struct rw_msg m;

	if (!c->ack_due || c->state != ST_READY)
		return;
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_ACK;
	m.hdr.component = RW_COMP_HOST;
	m.hdr.version = c->version;
	m.u.ack.acked_seq = c->st.committed;
	if (out_frame(c, &m, 0) == 0)
		c->ack_due = false;
}

int rw_ch_conn_input(struct rw_ch_conn *c, const uint8_t *data, size_t len)
{
	while (len && c->state != ST_CLOSING) {
		size_t n = RX_CAP - c->rx_len;

		if (n > len)
			n = len;
		memcpy(c->rx + c->rx_len, data, n);
		c->rx_len += n;
		data += n;
		len -= n;
		process_rx(c);
	}
	if (c->state == ST_READY && commit_accepted(c))
		emit_ack(c);
	return c->state == ST_CLOSING ? -EPIPE : 0;
}

void rw_ch_conn_eof(struct rw_ch_conn *c, const char *why)
{
	if (c->state == ST_READY && !commit_accepted(c))
		return;
	if (c->rx_len && c->state != ST_CLOSING)
		conn_finish(c, VHU_LOG_WARN, "%s with %zu bytes of an incomplete frame", why,
			    c->rx_len);
	else
		conn_finish(c, VHU_LOG_INFO, "%s", why);
}

void rw_ch_conn_tick(struct rw_ch_conn *c, uint64_t now_ms)
{
	if (c->state != ST_HELLO_WAIT)
		return;
	if (!c->deadline_ms) {
		c->deadline_ms = now_ms + c->host->cfg.hello_timeout_ms;
		return;
	}
	if (now_ms >= c->deadline_ms)
		conn_fail(c, RW_ERR_UNEXPECTED, 0, 0, "no HELLO within %u ms",
			  c->host->cfg.hello_timeout_ms);
}

size_t rw_ch_conn_output(const struct rw_ch_conn *c, const uint8_t **data)
{
	*data = c->out + c->out_head;
	return c->out_len;
}

void rw_ch_conn_consumed(struct rw_ch_conn *c, size_t n)
{
	if (n > c->out_len)
		n = c->out_len;
	c->out_head += n;
	c->out_len -= n;
	if (!c->out_len)
		c->out_head = 0;
	emit_ack(c);
	if (c->want_writable && c->state == ST_READY && out_free(c) >= c->out_cap / 2) {
		c->want_writable = false;
		if (c->host->cfg.app.on_writable)
			c->host->cfg.app.on_writable(c->host->cfg.app_ctx, c);
	}
}

bool rw_ch_conn_closing(const struct rw_ch_conn *c)
{
	return c->state == ST_CLOSING;
}

const char *rw_ch_conn_close_reason(const struct rw_ch_conn *c)
{
	return c->reason;
}

int64_t rw_ch_conn_send(struct rw_ch_conn *c, struct rw_msg *msg)
{
	int r;

	if (c->state != ST_READY)
		return -ENOTCONN;
	if (!msg || (msg->hdr.type != RW_MSG_POLICY_UPDATE && msg->hdr.type != RW_MSG_CHALLENGE))
		return -EINVAL;
	msg->hdr.component = RW_COMP_HOST;
	msg->hdr.version = c->version;
	msg->hdr.flags = 0;
	msg->hdr.seq = c->host_next_seq;
	r = out_frame(c, msg, CTRL_RESERVE);
	if (r == -EAGAIN) {
		c->want_writable = true;
		return -EAGAIN;
	}
	if (r < 0)
		return -EINVAL;
	c->st.host_sent++;
	return (int64_t)c->host_next_seq++;
}

bool rw_ch_conn_ready(const struct rw_ch_conn *c)
{
	return c->state == ST_READY;
}

const struct rw_ch_stream_id *rw_ch_conn_stream(const struct rw_ch_conn *c)
{
	return &c->id;
}

uint32_t rw_ch_conn_cid(const struct rw_ch_conn *c)
{
	return c->cid;
}

void rw_ch_conn_set_user(struct rw_ch_conn *c, void *user)
{
	c->user = user;
}

void *rw_ch_conn_user(const struct rw_ch_conn *c)
{
	return c->user;
}

void rw_ch_conn_get_stats(const struct rw_ch_conn *c, struct rw_ch_conn_stats *st)
{
	*st = c->st;
}

/*
 * Guest-side channel client: bounded resend queue, reconnect with backoff,
 * HELLO/resume, ACK handling, LOSS reporting. See rw_chan.h and
 * docs/protocol.md for the contract.
 */
#include "shared/rw_chan.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "shared/rw_seq.h"

#define DEFAULT_QUEUE 1024u
#define MAX_QUEUE (1u << 20)
#define DEFAULT_BACKOFF_MIN 100u
#define DEFAULT_BACKOFF_MAX 10000u
#define DEFAULT_HELLO_TIMEOUT 5000u
#define CTRL_BUF 512u /* a few control frames (HELLO, ACK, ERROR, GOODBYE) */

struct queued_frame {
	uint64_t seq;
	uint8_t *bytes;
	uint32_t len;
	bool sent; /* written completely on some connection */
};

struct pending_loss {
	uint64_t count;
	uint64_t first_seq;
	uint64_t last_seq;
};

enum tx_kind { TX_NONE, TX_CTRL, TX_DATA };

struct rw_chan {
	struct rw_chan_config cfg;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	enum rw_chan_state state;
	int fd;
	uint64_t next_attempt_ms;
	unsigned int backoff_ms;
	uint64_t hello_deadline_ms;
	uint16_t version;

	/* sequenced guest->host messages, oldest first (ring) */
	struct queued_frame *q;
	size_t q_cap, q_head, q_count;
	uint64_t next_seq;
	uint64_t acked_seq;
	struct pending_loss loss;

	/* output */
	enum tx_kind tx_kind; /* frame being written */
	size_t tx_idx;        /* queue position (from head) of the next data frame */
	size_t tx_off;        /* bytes of the current frame already written */
	uint8_t *tx_conv;     /* the current data frame in an older version (lazy) */
	size_t tx_conv_len;   /* 0: the queued bytes are written as they are */
	uint64_t sent_hwm;    /* highest seq the host may ACK on this connection */
	uint8_t ctrl[CTRL_BUF];
	size_t ctrl_len;
	bool ack_pending; /* an ACK of host frames is due */

	/* input */
	uint8_t *rx;
	size_t rx_len;
	struct rw_seq_stream host_stream; /* host frames seen on this connection */

	struct rw_chan_stats st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *rw_chan_state_name(enum rw_chan_state s)
{
	switch (s) {
	case RW_CHAN_DISCONNECTED: return "disconnected";
	case RW_CHAN_CONNECTING: return "connecting";
	case RW_CHAN_HELLO_WAIT: return "hello-wait";
	case RW_CHAN_READY: return "ready";
	}
	return "?";
}

/* ---- creation ------------------------------------------------------------- */

static int check_config(const struct rw_chan_config *cfg)
{
	if (cfg->transport == RW_CHAN_UNIX) {
		if (!cfg->unix_path || !cfg->unix_path[0] ||
		    strlen(cfg->unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -EINVAL;
	} else if (cfg->transport != RW_CHAN_VSOCK) {
		return -EINVAL;
	}
	if (cfg->component == RW_COMP_HOST || cfg->component < 1 || cfg->component > RW_COMP_MAX)
		return -EINVAL;
	if (cfg->build_id_len > RW_PROTO_BUILD_ID_MAX)
		return -EINVAL;
	if (cfg->queue_capacity == 1 || cfg->queue_capacity > MAX_QUEUE)
		return -EINVAL;
	if (cfg->backoff_min_ms && cfg->backoff_max_ms && cfg->backoff_min_ms > cfg->backoff_max_ms)
		return -EINVAL;
	return 0;
}

struct rw_chan *rw_chan_new(const struct rw_chan_config *cfg, int *err)
{
	struct rw_chan *c;
	int e = cfg ? check_config(cfg) : -EINVAL;

	if (e) {
		if (err)
			*err = e;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->cfg = *cfg;
	if (!c->cfg.vsock_cid)
		c->cfg.vsock_cid = RW_CHAN_HOST_CID;
	if (!c->cfg.vsock_port)
		c->cfg.vsock_port = RW_CHAN_DEFAULT_PORT;
	if (!c->cfg.queue_capacity)
		c->cfg.queue_capacity = DEFAULT_QUEUE;
	if (!c->cfg.backoff_min_ms)
		c->cfg.backoff_min_ms = DEFAULT_BACKOFF_MIN;
	if (!c->cfg.backoff_max_ms)
		c->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX;
	if (c->cfg.backoff_max_ms < c->cfg.backoff_min_ms)
		c->cfg.backoff_max_ms = c->cfg.backoff_min_ms;
	if (!c->cfg.hello_timeout_ms)
		c->cfg.hello_timeout_ms = DEFAULT_HELLO_TIMEOUT;
	if (cfg->transport == RW_CHAN_UNIX) {
		strcpy(c->unix_path, cfg->unix_path);
		c->cfg.unix_path = c->unix_path;
	}
	c->q_cap = c->cfg.queue_capacity;
	c->q = calloc(c->q_cap, sizeof(*c->q));
	c->rx = malloc(RW_PROTO_MAX_FRAME);
	if (!c->q || !c->rx)
		goto nomem;
	c->fd = -1;
	c->next_seq = 1;
	c->backoff_ms = c->cfg.backoff_min_ms;
	c->state = RW_CHAN_DISCONNECTED;
	return c;
nomem:
	rw_chan_free(c);
	if (err)
		*err = -ENOMEM;
	return NULL;
}

void rw_chan_free(struct rw_chan *c)
{
	size_t i;

	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->q)
		for (i = 0; i < c->q_count; i++)
			free(c->q[(c->q_head + i) % c->q_cap].bytes);
	free(c->q);
	free(c->rx);
	free(c->tx_conv);
	free(c);
}

/* ---- queue ----------------------------------------------------------------- */

static struct queued_frame *q_at(struct rw_chan *c, size_t idx)
{
	return &c->q[(c->q_head + idx) % c->q_cap];
}

/* Encode msg with the next sequence number into a new buffer. Returns 0 or a
 * negative rw_proto_err (nothing consumed). */
static int encode_next(struct rw_chan *c, struct rw_msg *msg, uint8_t **bytes, uint32_t *len)
{
	long size, n;

	msg->hdr.seq = c->next_seq;
	msg->hdr.component = c->cfg.component;
	msg->hdr.flags = 0;
	/* queued frames are encoded in our newest version; a connection that
	 * negotiated an older one gets them converted (convert_for_conn) */
	msg->hdr.version = 0;
	size = rw_proto_encoded_size(msg);
	if (size < 0)
		return (int)size;
	*bytes = malloc((size_t)size);
	if (!*bytes)
		return RW_EPROTO_NOSPACE;
	n = rw_proto_encode(msg, *bytes, (size_t)size);
	if (n < 0) {
		free(*bytes);
		*bytes = NULL;
		return (int)n;
	}
	*len = (uint32_t)n;
	return 0;
}

/* Append an encoded frame (numbered c->next_seq); the caller checked room. */
static void q_append(struct rw_chan *c, uint8_t *bytes, uint32_t len)
{
	struct queued_frame *f = q_at(c, c->q_count);

	f->seq = c->next_seq++;
	f->bytes = bytes;
	f->len = len;
	f->sent = false;
	c->q_count++;
}

/* Queue the pending LOSS report if there is room. */
static void flush_loss(struct rw_chan *c)
{
	struct rw_msg m;
	uint8_t *bytes;
	uint32_t len;

	if (!c->loss.count || c->q_count >= c->q_cap)
		return;
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_LOSS;
	m.u.loss.count = c->loss.count;
	m.u.loss.first_seq = c->loss.first_seq;
	m.u.loss.last_seq = c->loss.last_seq;
	if (encode_next(c, &m, &bytes, &len) == 0) {
		q_append(c, bytes, len);
		memset(&c->loss, 0, sizeof(c->loss));
		c->st.loss_reports++;
	}
}

/* Drop queued frames covered by a cumulative ACK (never one being written). */
static void q_drop_acked(struct rw_chan *c, uint64_t upto)
{
	struct queued_frame *f;

	while (c->q_count) {
		f = q_at(c, 0);
		if (f->seq > upto || (c->tx_kind == TX_DATA && c->tx_idx == 0))
			break;
		free(f->bytes);
		f->bytes = NULL;
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_count--;
		if (c->tx_idx)
			c->tx_idx--;
	}
	if (upto > c->acked_seq)
		c->acked_seq = upto;
	flush_loss(c);
}

int rw_chan_send(struct rw_chan *c, struct rw_msg *msg)
{
	uint8_t *bytes;
	uint32_t len;
	uint16_t t;
	int err;

	if (!c || !msg)
		return -EINVAL;
	t = msg->hdr.type;
	if (!rw_proto_type_sequenced(t) || t == RW_MSG_POLICY_UPDATE || t == RW_MSG_CHALLENGE ||
	    t == RW_MSG_LOSS)
		return -EINVAL;
	err = encode_next(c, msg, &bytes, &len);
	if (err)
		return err == RW_EPROTO_NOSPACE ? -ENOMEM : -EINVAL;
	if (c->q_count >= c->q_cap) {
		/* full: the message is lost but keeps its number, so the host
		 * sees a gap that the LOSS report explains */
		free(bytes);
		if (!c->loss.count)
			c->loss.first_seq = c->next_seq;
		c->loss.last_seq = c->next_seq;
		c->loss.count++;
		c->next_seq++;
		c->st.lost++;
		return -ENOBUFS;
	}
	q_append(c, bytes, len);
	return 0;
}

size_t rw_chan_queue_space(const struct rw_chan *c)
{
	return c->q_cap - c->q_count;
}

/* ---- connection ------------------------------------------------------------ */

static void schedule_reconnect(struct rw_chan *c)
{
	unsigned int b = c->backoff_ms;

	c->next_attempt_ms = now_ms() + b;
	c->backoff_ms = b >= c->cfg.backoff_max_ms / 2 ? c->cfg.backoff_max_ms : b * 2;
}

static void close_conn(struct rw_chan *c, int why)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		c->st.disconnects++;
	}
	if (why)
		c->st.last_error = why;
	c->state = RW_CHAN_DISCONNECTED;
	c->version = 0;
	c->tx_kind = TX_NONE;
	c->tx_idx = 0;
	c->tx_off = 0;
	c->tx_conv_len = 0;
	c->ctrl_len = 0;
	c->ack_pending = false;
	c->rx_len = 0;
	schedule_reconnect(c);
}

static int ctrl_append(struct rw_chan *c, struct rw_msg *m)
{
	long n;

	m->hdr.component = c->cfg.component;
	m->hdr.seq = 0;
	n = rw_proto_encode(m, c->ctrl + c->ctrl_len, sizeof(c->ctrl) - c->ctrl_len);
	if (n < 0)
		return (int)n;
	c->ctrl_len += (size_t)n;
	return 0;
}

static void queue_hello(struct rw_chan *c)
{
	struct rw_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HELLO;
	/* the lowest version we speak, so any host that can answer can read it */
	m.hdr.version = RW_PROTO_VERSION_MIN;
	m.u.hello.version_min = RW_PROTO_VERSION_MIN;
	m.u.hello.version_max = RW_PROTO_VERSION_MAX;
	m.u.hello.build_id_len = c->cfg.build_id_len;
	memcpy(m.u.hello.build_id, c->cfg.build_id, c->cfg.build_id_len);
	m.u.hello.capabilities = c->cfg.capabilities | RW_CAP_RESUME;
	memcpy(m.u.hello.session_id, c->cfg.session_id, RW_PROTO_SESSION_ID_LEN);
	m.u.hello.resume_seq = c->acked_seq;
	m.u.hello.next_seq = c->next_seq;
	ctrl_append(c, &m);
}

/* Best effort: tell the host why we drop the connection, then close. */
static void fail_conn(struct rw_chan *c, uint16_t code, int detail, uint64_t ref_seq)
{
	struct rw_msg m;
	uint8_t buf[64];
	long n;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_ERROR;
	m.hdr.component = c->cfg.component;
	m.hdr.version = c->version;
	m.u.error.code = code;
	m.u.error.detail = (int16_t)detail;
	m.u.error.ref_seq = ref_seq;
	/* only when no frame is half written, or the stream would be garbled */
	if (c->fd >= 0 && c->tx_kind == TX_NONE) {
		n = rw_proto_encode(&m, buf, sizeof(buf));
		if (n > 0 && send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			c->st.last_error = -errno;
	}
	close_conn(c, detail ? detail : -EPROTO);
}

static void on_connected(struct rw_chan *c)
{
	c->state = RW_CHAN_HELLO_WAIT;
	c->hello_deadline_ms = now_ms() + c->cfg.hello_timeout_ms;
	c->tx_kind = TX_NONE;
	c->tx_idx = 0;
	c->tx_off = 0;
	c->ctrl_len = 0;
	c->rx_len = 0;
	c->sent_hwm = c->acked_seq;
	queue_hello(c);
}

static int open_socket(struct rw_chan *c)
{
	struct sockaddr_un un;
	struct sockaddr_vm vm;
	struct sockaddr *sa;
	socklen_t salen;
	int fd, r;

	if (c->cfg.transport == RW_CHAN_UNIX) {
		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		strcpy(un.sun_path, c->unix_path);
		sa = (struct sockaddr *)&un;
		salen = sizeof(un);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	} else {
		memset(&vm, 0, sizeof(vm));
		vm.svm_family = AF_VSOCK;
		vm.svm_cid = c->cfg.vsock_cid;
		vm.svm_port = c->cfg.vsock_port;
		sa = (struct sockaddr *)&vm;
		salen = sizeof(vm);
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	r = connect(fd, sa, salen);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	c->fd = fd;
	return r == 0 ? 1 : 0;
}

static void try_connect(struct rw_chan *c)
{
	int r;

	c->st.connect_attempts++;
	r = open_socket(c);
	if (r < 0) {
		c->st.last_error = r;
		schedule_reconnect(c);
		return;
	}
	if (r == 1)
		on_connected(c);
	else
		c->state = RW_CHAN_CONNECTING;
}

static void finish_connect(struct rw_chan *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		close(c->fd);
		c->fd = -1; /* never connected: not a disconnect */
		close_conn(c, -soerr);
		return;
	}
	on_connected(c);
}

void rw_chan_disconnect(struct rw_chan *c, uint16_t goodbye_reason)
{
	struct rw_msg m;
	uint8_t buf[64];
	long n;

	if (!c || c->fd < 0)
		return;
	if (c->state == RW_CHAN_READY && c->tx_kind == TX_NONE) {
		memset(&m, 0, sizeof(m));
		m.hdr.type = RW_MSG_GOODBYE;
		m.hdr.component = c->cfg.component;
		m.hdr.version = c->version;
		m.u.goodbye.reason = goodbye_reason;
		n = rw_proto_encode(&m, buf, sizeof(buf));
		if (n > 0 && send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			c->st.last_error = -errno;
	}
	close_conn(c, 0);
}

/* ---- output ------------------------------------------------------------------ */

/*
 * The queued frame f in the connection's version, when that is older than
 * the frame's: into c->tx_conv.  Returns 0 or a negative rw_proto_err.
 */
static int convert_for_conn(struct rw_chan *c, const struct queued_frame *f)
{
	long n;

	c->tx_conv_len = 0;
	if (f->len < RW_PROTO_HDR_LEN ||
	    (uint16_t)(f->bytes[4] | f->bytes[5] << 8) == c->version)
		return 0;
	if (!c->tx_conv) {
		c->tx_conv = malloc(RW_PROTO_MAX_FRAME);
		if (!c->tx_conv)
			return RW_EPROTO_NOSPACE;
	}
	n = rw_proto_frame_downgrade(f->bytes, f->len, c->version, c->tx_conv,
				     RW_PROTO_MAX_FRAME);
	if (n < 0)
		return (int)n;
	c->tx_conv_len = (size_t)n;
	c->st.downgraded++;
	return 0;
}

/* Pick the next frame to write; false when there is none. */
static bool next_tx(struct rw_chan *c, const uint8_t **bytes, size_t *len)
{
	struct queued_frame *f;
	struct rw_msg m;
	int err;

again:
	if (c->tx_kind == TX_NONE) {
		if (!c->ctrl_len && c->ack_pending && c->state == RW_CHAN_READY) {
			memset(&m, 0, sizeof(m));
			m.hdr.type = RW_MSG_ACK;
			m.hdr.version = c->version;
			m.u.ack.acked_seq = rw_seq_ack_value(&c->host_stream);
			if (ctrl_append(c, &m) == 0)
				c->ack_pending = false;
		}
		if (c->ctrl_len)
			c->tx_kind = TX_CTRL;
		else if (c->state == RW_CHAN_READY && c->tx_idx < c->q_count)
			c->tx_kind = TX_DATA;
		else
			return false;
		c->tx_off = 0;
		if (c->tx_kind == TX_DATA) {
			f = q_at(c, c->tx_idx);
			if (f->sent) {
				rw_proto_mark_resent(f->bytes, f->len);
				c->st.resent++;
			}
			err = convert_for_conn(c, f);
			if (err == RW_EPROTO_NOT_IN_VERSION) {
				/* the host's version has no such message: a gap it sees */
				f->sent = true;
				if (f->seq > c->sent_hwm)
					c->sent_hwm = f->seq;
				c->tx_idx++;
				c->st.skipped_old_version++;
				c->tx_kind = TX_NONE;
				goto again;
			}
			if (err) {
				c->tx_kind = TX_NONE;
				fail_conn(c, RW_ERR_INTERNAL, err, f->seq);
				return false;
			}
		}
	}
	if (c->tx_kind == TX_CTRL) {
		*bytes = c->ctrl;
		*len = c->ctrl_len;
	} else {
		f = q_at(c, c->tx_idx);
		*bytes = c->tx_conv_len ? c->tx_conv : f->bytes;
		*len = c->tx_conv_len ? c->tx_conv_len : f->len;
	}
	return true;
}

static void tx_done(struct rw_chan *c)
{
	struct queued_frame *f;

	if (c->tx_kind == TX_CTRL) {
		c->ctrl_len = 0;
	} else {
		f = q_at(c, c->tx_idx);
		f->sent = true;
		if (f->seq > c->sent_hwm)
			c->sent_hwm = f->seq;
		c->tx_idx++;
		c->st.frames_sent++;
	}
	c->tx_kind = TX_NONE;
	c->tx_off = 0;
	c->tx_conv_len = 0;
}

/* Write as much as the socket takes. */
static void do_write(struct rw_chan *c)
{
	const uint8_t *bytes;
	size_t len;
	ssize_t n;

	while (c->fd >= 0 && next_tx(c, &bytes, &len)) {
		n = send(c->fd, bytes + c->tx_off, len - c->tx_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			close_conn(c, -errno);
			return;
		}
		c->tx_off += (size_t)n;
		if (c->tx_off == len)
			tx_done(c);
	}
}

/* ---- input --------------------------------------------------------------------- */

static void handle_host_hello(struct rw_chan *c, const struct rw_msg *m)
{
	const struct rw_msg_hello *h = &m->u.hello;

	if (c->state != RW_CHAN_HELLO_WAIT) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_UNEXPECTED, 0, 0);
		return;
	}
	/* the host answers in the version it chose; it must be in our range
	 * (the decoder checked the header version) and in its own */
	if (m->hdr.version < h->version_min || m->hdr.version > h->version_max) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_VERSION, 0, 0);
		return;
	}
	/* the host cannot have accepted numbers we never assigned */
	if (h->resume_seq >= c->next_seq) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_STREAM, 0, h->resume_seq);
		return;
	}
	c->version = m->hdr.version;
	rw_seq_init(&c->host_stream, RW_COMP_HOST, h->session_id, h->next_seq - 1);
	c->state = RW_CHAN_READY;
	c->backoff_ms = c->cfg.backoff_min_ms;
	c->st.connects++;
	if (h->resume_seq > c->sent_hwm)
		c->sent_hwm = h->resume_seq;
	q_drop_acked(c, h->resume_seq);
}

static void handle_ack(struct rw_chan *c, const struct rw_msg *m)
{
	uint64_t a = m->u.ack.acked_seq;

	if (c->state != RW_CHAN_READY || a > c->sent_hwm) {
		/* acknowledging what was never sent: a confused host */
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_STREAM, 0, a);
		return;
	}
	q_drop_acked(c, a);
}

static void handle_host_data(struct rw_chan *c, const struct rw_msg *m)
{
	enum rw_seq_verdict v;

	if (c->state != RW_CHAN_READY) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_UNEXPECTED, 0, m->hdr.seq);
		return;
	}
	v = rw_seq_accept(&c->host_stream, m->hdr.seq, NULL);
	if (v == RW_SEQ_NEW || v == RW_SEQ_GAP) {
		c->st.host_messages++;
		if (c->cfg.on_message)
			c->cfg.on_message(c->cfg.cb_ctx, m);
	}
	c->ack_pending = true;
}

/* Handle one decoded frame from the host; false if the connection was closed. */
static bool handle_frame(struct rw_chan *c, const struct rw_msg *m)
{
	int fd = c->fd;

	if (m->hdr.component != RW_COMP_HOST) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_UNEXPECTED, RW_EPROTO_DIRECTION, m->hdr.seq);
		return false;
	}
	if (c->state == RW_CHAN_READY && m->hdr.version != c->version) {
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_VERSION, RW_EPROTO_VERSION, m->hdr.seq);
		return false;
	}
	switch (m->hdr.type) {
	case RW_MSG_HELLO:
		handle_host_hello(c, m);
		break;
	case RW_MSG_ACK:
		handle_ack(c, m);
		break;
	case RW_MSG_POLICY_UPDATE:
	case RW_MSG_CHALLENGE:
		handle_host_data(c, m);
		break;
	case RW_MSG_ERROR:
		c->st.peer_errors++;
		if (m->u.error.code == RW_ERR_VERSION)
			c->st.version_errors++;
		close_conn(c, -ECONNREFUSED);
		break;
	case RW_MSG_GOODBYE:
		close_conn(c, -ECONNRESET);
		break;
	default:
		c->st.proto_errors++;
		fail_conn(c, RW_ERR_UNEXPECTED, 0, m->hdr.seq);
		break;
	}
	return c->fd == fd && c->fd >= 0;
}

/* Decode and handle every complete frame in rx. */
static void process_rx(struct rw_chan *c)
{
	struct rw_msg m;
	size_t off = 0, flen;
	int r;

	while (c->fd >= 0) {
		r = rw_proto_frame_check(c->rx + off, c->rx_len - off, &flen);
		if (r == RW_FRAME_NEED_MORE)
			break;
		if (r < 0) {
			c->st.proto_errors++;
			fail_conn(c, r == RW_EPROTO_VERSION ? RW_ERR_VERSION : RW_ERR_MALFORMED, r, 0);
			return;
		}
		r = rw_proto_decode(c->rx + off, flen, &m);
		if (r < 0) {
			c->st.proto_errors++;
			fail_conn(c, RW_ERR_MALFORMED, r, 0);
			return;
		}
		off += flen;
		if (!handle_frame(c, &m))
			return;
	}
	if (off && c->fd >= 0) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
}

static void do_read(struct rw_chan *c)
{
	ssize_t n;

	while (c->fd >= 0) {
		/* rx never holds more than one frame's worth: frames are processed
		 * as soon as they are complete */
		n = recv(c->fd, c->rx + c->rx_len, RW_PROTO_MAX_FRAME - c->rx_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				close_conn(c, -errno);
			return;
		}
		if (n == 0) {
			close_conn(c, -ECONNRESET);
			return;
		}
		c->rx_len += (size_t)n;
		process_rx(c);
	}
}

/* ---- driving --------------------------------------------------------------------- */

int rw_chan_fd(const struct rw_chan *c)
{
	return c->fd;
}

short rw_chan_poll_events(const struct rw_chan *c)
{
	short ev = POLLIN;

	if (c->fd < 0)
		return 0;
	if (c->state == RW_CHAN_CONNECTING)
		return POLLOUT;
	if (c->tx_kind != TX_NONE || c->ctrl_len || c->ack_pending ||
	    (c->state == RW_CHAN_READY && c->tx_idx < c->q_count))
		ev |= POLLOUT;
	return ev;
}

/* Milliseconds until the next timer (connect attempt, HELLO deadline). */
static int timer_wait(const struct rw_chan *c, uint64_t now)
{
	uint64_t due;

	if (c->state == RW_CHAN_DISCONNECTED)
		due = c->next_attempt_ms;
	else if (c->state == RW_CHAN_HELLO_WAIT || c->state == RW_CHAN_CONNECTING)
		due = c->hello_deadline_ms;
	else
		return -1;
	return due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
}

static void run_timers(struct rw_chan *c)
{
	uint64_t now = now_ms();

	if (c->state == RW_CHAN_DISCONNECTED && now >= c->next_attempt_ms) {
		try_connect(c);
		if (c->state == RW_CHAN_CONNECTING)
			c->hello_deadline_ms = now + c->cfg.hello_timeout_ms;
	} else if ((c->state == RW_CHAN_HELLO_WAIT || c->state == RW_CHAN_CONNECTING) &&
		   now >= c->hello_deadline_ms) {
		close_conn(c, -ETIMEDOUT);
	}
}

int rw_chan_poll(struct rw_chan *c, int timeout_ms)
{
	struct pollfd pfd;
	int wait, tw, r;

	if (!c)
		return -EINVAL;
	run_timers(c);
	if (c->fd >= 0 && c->state != RW_CHAN_CONNECTING)
		do_write(c);
	tw = timer_wait(c, now_ms());
	wait = timeout_ms;
	if (tw >= 0 && (wait < 0 || tw < wait))
		wait = tw;
	pfd.fd = c->fd;
	pfd.events = rw_chan_poll_events(c);
	pfd.revents = 0;
	r = poll(&pfd, c->fd >= 0 ? 1 : 0, wait);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (c->fd >= 0 && pfd.revents) {
		if (c->state == RW_CHAN_CONNECTING) {
			finish_connect(c);
		} else {
			if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
				do_read(c);
			if (c->fd >= 0 && (pfd.revents & (POLLHUP | POLLERR)) &&
			    !(pfd.revents & POLLIN))
				close_conn(c, -ECONNRESET);
		}
		if (c->fd >= 0 && c->state != RW_CHAN_CONNECTING)
			do_write(c);
	}
	run_timers(c);
	return 0;
}

int rw_chan_flush(struct rw_chan *c, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	uint64_t now;
	int r;

	while (c->q_count || c->loss.count) {
		now = now_ms();
		if (now >= end)
			return -ETIMEDOUT;
		r = rw_chan_poll(c, (int)(end - now));
		if (r < 0)
			return r;
	}
	return 0;
}

void rw_chan_get_stats(const struct rw_chan *c, struct rw_chan_stats *st)
{
	*st = c->st;
	st->state = c->state;
	st->version = c->version;
	st->next_seq = c->next_seq;
	st->acked_seq = c->acked_seq;
	st->queued = c->q_count;
}

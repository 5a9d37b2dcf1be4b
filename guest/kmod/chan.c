// SPDX-License-Identifier: GPL-2.0
/*
 * The module's own channel to the host: a kthread owns the AF_VSOCK socket
 * and does all I/O; reporters only append encoded frames to a bounded,
 * spinlock-protected queue (any context, GFP_ATOMIC) and poke the thread
 * through an irq_work (safe wherever a report can come from).
 *
 * Frames are freed only by the thread (when acknowledged) or at exit, so
 * the thread can send a queued frame without holding the lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": chan: " fmt

#include <linux/elf.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <linux/vm_sockets.h>
#include <linux/wait.h>
#include <net/sock.h>
#include <asm/unaligned.h>

#include "ringwatch.h"
#include "chan.h"

static unsigned int chan_port = RW_KCHAN_DEFAULT_PORT;
module_param(chan_port, uint, 0444);
MODULE_PARM_DESC(chan_port, "vsock port of the host's ringwatch channel, 0 = no channel (default 7391)");

#define RW_KCHAN_BACKOFF_MIN_MS	100
#define RW_KCHAN_BACKOFF_MAX_MS	10000
#define RW_KCHAN_HELLO_TIMEOUT	(5 * HZ)
#define RW_KCHAN_SEND_TIMEOUT	(10 * HZ)	/* one frame, then reconnect */
#define RW_KCHAN_IDLE		HZ		/* wake up at least this often */
#define RW_KCHAN_CTRL_MAX	128		/* HELLO/ACK/ERROR/GOODBYE frame */
#define RW_HDR_VERSION_OFF	4		/* docs/protocol.md, frame header */
#define RW_HDR_SEQ_OFF		16
#define RW_NOTES_MAX		4096
#define RW_NT_GNU_BUILD_ID	3		/* ELF note type, owner "GNU" */

struct rw_kchan_frame {
	struct list_head node;
	u64 seq;
	u32 len;
	bool sent;		/* written on some connection (thread only) */
	u8 data[];
};

enum rw_kchan_state {
	RW_KCHAN_DOWN,
	RW_KCHAN_HELLO_WAIT,
	RW_KCHAN_READY,
};

static struct rw_kchan {
	/* Queue: lock protects the list, the numbers, the loss record. */
	spinlock_t lock;
	struct list_head queue;		/* oldest first, increasing seq */
	unsigned int queued;
	bool open;			/* enqueue accepted */
	u64 next_seq;			/* number of the next message */
	u64 acked_seq;			/* host ACKed every seq <= this */
	u64 loss_count, loss_first, loss_last;

	/* Thread side (no lock: only the thread writes these). */
	struct task_struct *thread;
	wait_queue_head_t wq;
	bool kick;			/* work may be pending */
	struct irq_work kick_work;
	enum rw_kchan_state state;
	u16 version;			/* negotiated */
	u64 tx_seq;			/* next seq to write on this connection */
	u64 sent_hwm;			/* highest seq the host may ACK */
	u64 host_hwm;			/* host frames delivered (per connection) */
	bool ack_pending;
	u8 *rx;				/* RW_PROTO_MAX_FRAME bytes */
	size_t rx_len;
	void (*saved_data_ready)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);

	u8 session_id[RW_PROTO_SESSION_ID_LEN];
	u8 build_id[RW_PROTO_BUILD_ID_MAX];
	u8 build_id_len;

	/* Counters (status file). */
	atomic64_t lost, loss_reports, connects, attempts, disconnects;
	atomic64_t frames_sent, resent, host_messages, challenges, policies;
	atomic64_t skipped_old_version;	/* frames the host's older version lacks */
	atomic64_t peer_errors, proto_errors;
	int last_error;
} rw_kchan = {
	.lock = __SPIN_LOCK_UNLOCKED(rw_kchan.lock),
	.queue = LIST_HEAD_INIT(rw_kchan.queue),
	.next_seq = 1,
};

/* ---- queue (any context) --------------------------------------------- */

static void rw_kchan_poke(void)
{
	WRITE_ONCE(rw_kchan.kick, true);
	irq_work_queue(&rw_kchan.kick_work);
}

static void rw_kchan_kick_fn(struct irq_work *w)
{
	wake_up(&rw_kchan.wq);
}

/* Caller holds the lock: count a dropped number for the next LOSS. */
static void rw_kchan_count_loss(u64 seq)
{
	if (!rw_kchan.loss_count)
		rw_kchan.loss_first = seq;
	rw_kchan.loss_last = seq;
	rw_kchan.loss_count++;
	atomic64_inc(&rw_kchan.lost);
}

/*
 * Credential-change reports (one per setuid) may fill the queue only so far:
 * violations, guard events and heartbeats keep the rest.  A report over the
 * limit is a loss like any other (the host sees the LOSS).
 */
#define RW_KCHAN_CRED_CHANGE_MAX	(RW_KCHAN_QUEUE_MAX * 3 / 4)

static unsigned int rw_kchan_limit(u16 type)
{
	return type == RW_MSG_CRED_CHANGE ? RW_KCHAN_CRED_CHANGE_MAX : RW_KCHAN_QUEUE_MAX;
}

int rw_kchan_enqueue(struct rw_msg *msg)
{
	struct rw_kchan_frame *f;
	unsigned long flags;
	long size, n;
	u16 t = msg->hdr.type;
	int ret = 0;

	if (!rw_proto_type_sequenced(t) || t == RW_MSG_POLICY_UPDATE ||
	    t == RW_MSG_CHALLENGE || t == RW_MSG_LOSS)
		return -EINVAL;
	/* Encoded with a placeholder number, patched in under the lock. */
	msg->hdr.seq = 1;
	msg->hdr.component = RW_COMP_KMOD;
	msg->hdr.flags = 0;
	msg->hdr.version = 0;
	size = rw_proto_encoded_size(msg);
	if (size < 0)
		return -EINVAL;
	f = kmalloc(struct_size(f, data, size), GFP_ATOMIC | __GFP_NOWARN);
	if (f) {
		n = rw_proto_encode(msg, f->data, size);
		if (n < 0) {
			kfree(f);
			return -EINVAL;
		}
		f->len = n;
		f->sent = false;
	}

	spin_lock_irqsave(&rw_kchan.lock, flags);
	if (!rw_kchan.open) {
		ret = -EINVAL;
	} else if (!f || rw_kchan.queued >= rw_kchan_limit(t)) {
		/* Dropped, but the number is used: the host sees the gap
		 * and the LOSS that explains it.
		 */
		rw_kchan_count_loss(rw_kchan.next_seq++);
		ret = f ? -ENOBUFS : -ENOMEM;
	} else {
		f->seq = rw_kchan.next_seq++;
		put_unaligned_le64(f->seq, f->data + RW_HDR_SEQ_OFF);
		list_add_tail(&f->node, &rw_kchan.queue);
		rw_kchan.queued++;
		f = NULL;
	}
	msg->hdr.seq = ret ? 0 : rw_kchan.next_seq - 1;
	/* Under the lock: exit closes the queue, then syncs the irq_work. */
	if (ret != -EINVAL)
		rw_kchan_poke();
	spin_unlock_irqrestore(&rw_kchan.lock, flags);
	kfree(f);
	return ret;
}

/* Thread: queue the pending LOSS once there is room (after an ACK). */
static void rw_kchan_queue_loss(void)
{
	struct rw_kchan_frame *f;
	struct rw_msg m = { };
	long size;

	if (!READ_ONCE(rw_kchan.loss_count))
		return;
	m.hdr.type = RW_MSG_LOSS;
	m.hdr.component = RW_COMP_KMOD;
	m.hdr.seq = 2;
	m.u.loss.count = 1;
	m.u.loss.first_seq = 1;
	m.u.loss.last_seq = 1;
	size = rw_proto_encoded_size(&m);
	if (size < 0)
		return;
	f = kmalloc(struct_size(f, data, size), GFP_KERNEL);
	if (!f)
		return;
	spin_lock_irq(&rw_kchan.lock);
	if (rw_kchan.loss_count && rw_kchan.queued < RW_KCHAN_QUEUE_MAX) {
		m.hdr.seq = rw_kchan.next_seq;
		m.u.loss.count = rw_kchan.loss_count;
		m.u.loss.first_seq = rw_kchan.loss_first;
		m.u.loss.last_seq = rw_kchan.loss_last;
		if (rw_proto_encode(&m, f->data, size) == size) {
			f->len = size;
			f->sent = false;
			f->seq = rw_kchan.next_seq++;
			list_add_tail(&f->node, &rw_kchan.queue);
			rw_kchan.queued++;
			rw_kchan.loss_count = 0;
			atomic64_inc(&rw_kchan.loss_reports);
			f = NULL;
		}
	}
	spin_unlock_irq(&rw_kchan.lock);
	kfree(f);
}

/* Thread: drop what a cumulative ACK covers. */
static void rw_kchan_drop_acked(u64 upto)
{
	struct rw_kchan_frame *f, *tmp;
	LIST_HEAD(done);

	spin_lock_irq(&rw_kchan.lock);
	list_for_each_entry_safe(f, tmp, &rw_kchan.queue, node) {
		if (f->seq > upto)
			break;
		list_move_tail(&f->node, &done);
		rw_kchan.queued--;
	}
	if (upto > rw_kchan.acked_seq)
		rw_kchan.acked_seq = upto;
	spin_unlock_irq(&rw_kchan.lock);
	list_for_each_entry_safe(f, tmp, &done, node)
		kfree(f);
	rw_kchan_queue_loss();
}

/* Thread: the first queued frame numbered >= seq, or NULL. */
static struct rw_kchan_frame *rw_kchan_next_frame(u64 seq)
{
	struct rw_kchan_frame *f, *found = NULL;

	spin_lock_irq(&rw_kchan.lock);
	list_for_each_entry(f, &rw_kchan.queue, node) {
		if (f->seq >= seq) {
			found = f;
			break;
		}
	}
	spin_unlock_irq(&rw_kchan.lock);
	return found;
}

/* ---- socket ------------------------------------------------------------ */

static void rw_kchan_sk_data_ready(struct sock *sk)
{
	WRITE_ONCE(rw_kchan.kick, true);
	wake_up(&rw_kchan.wq);
}

static void rw_kchan_sk_state_change(struct sock *sk)
{
	WRITE_ONCE(rw_kchan.kick, true);
	wake_up(&rw_kchan.wq);
}

static void rw_kchan_sk_write_space(struct sock *sk)
{
	WRITE_ONCE(rw_kchan.kick, true);
	wake_up(&rw_kchan.wq);
}

static int rw_kchan_connect(struct socket **res)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = RW_KCHAN_HOST_CID,
		.svm_port = chan_port,
	};
	struct socket *sock;
	struct sock *sk;
	int err;

	err = sock_create_kern(&init_net, AF_VSOCK, SOCK_STREAM, 0, &sock);
	if (err)
		return err;
	sk = sock->sk;
	sk->sk_sndtimeo = HZ / 2;
	err = kernel_connect(sock, (struct sockaddr *)&addr, sizeof(addr), 0);
	if (err) {
		sock_release(sock);
		return err;
	}
	write_lock_bh(&sk->sk_callback_lock);
	rw_kchan.saved_data_ready = sk->sk_data_ready;
	rw_kchan.saved_state_change = sk->sk_state_change;
	rw_kchan.saved_write_space = sk->sk_write_space;
	sk->sk_data_ready = rw_kchan_sk_data_ready;
	sk->sk_state_change = rw_kchan_sk_state_change;
	sk->sk_write_space = rw_kchan_sk_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	*res = sock;
	return 0;
}

static void rw_kchan_close(struct socket *sock)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = rw_kchan.saved_data_ready;
	sk->sk_state_change = rw_kchan.saved_state_change;
	sk->sk_write_space = rw_kchan.saved_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sock_release(sock);
	rw_kchan.state = RW_KCHAN_DOWN;
	atomic64_inc(&rw_kchan.disconnects);
}

/* Write a whole frame; a partial write garbles the stream (reconnect). */
static int rw_kchan_write(struct socket *sock, const void *buf, size_t len)
{
	unsigned long deadline = jiffies + RW_KCHAN_SEND_TIMEOUT;
	size_t done = 0;

	while (done < len) {
		struct msghdr mh = { .msg_flags = MSG_NOSIGNAL };
		struct kvec iov = {
			.iov_base = (void *)buf + done,
			.iov_len = len - done,
		};
		int n = kernel_sendmsg(sock, &mh, &iov, 1, iov.iov_len);

		if (n > 0) {
			done += n;
			continue;
		}
		if (n != -EAGAIN && n != -EINTR && n != -ERESTARTSYS)
			return n ? n : -EPIPE;
		if (kthread_should_stop() || time_after(jiffies, deadline))
			return -ETIMEDOUT;
	}
	return 0;
}

static int rw_kchan_send_ctrl(struct socket *sock, struct rw_msg *m)
{
	u8 buf[RW_KCHAN_CTRL_MAX];
	long n;

	m->hdr.component = RW_COMP_KMOD;
	m->hdr.seq = 0;
	n = rw_proto_encode(m, buf, sizeof(buf));
	if (n < 0)
		return -EINVAL;
	return rw_kchan_write(sock, buf, n);
}

static int rw_kchan_send_hello(struct socket *sock)
{
	struct rw_msg m = { };
	struct rw_msg_hello *h = &m.u.hello;

	m.hdr.type = RW_MSG_HELLO;
	m.hdr.version = RW_PROTO_VERSION_MIN;	/* any host can read it */
	h->version_min = RW_PROTO_VERSION_MIN;
	h->version_max = RW_PROTO_VERSION_MAX;
	h->build_id_len = rw_kchan.build_id_len;
	memcpy(h->build_id, rw_kchan.build_id, rw_kchan.build_id_len);
	h->capabilities = RW_CAP_CPU_STATE | RW_CAP_CRED | RW_CAP_POLICY |
			  RW_CAP_CHALLENGE_SHA256 | RW_CAP_RESUME;
	memcpy(h->session_id, rw_kchan.session_id, sizeof(h->session_id));
	spin_lock_irq(&rw_kchan.lock);
	h->resume_seq = rw_kchan.acked_seq;
	h->next_seq = rw_kchan.next_seq;
	spin_unlock_irq(&rw_kchan.lock);
	rw_kchan.sent_hwm = h->resume_seq;
	return rw_kchan_send_ctrl(sock, &m);
}

/* Best effort: tell the host why, then the caller closes. */
static int rw_kchan_fail(struct socket *sock, u16 code, int detail, u64 ref_seq)
{
	struct rw_msg m = { };

	atomic64_inc(&rw_kchan.proto_errors);
	m.hdr.type = RW_MSG_ERROR;
	m.hdr.version = rw_kchan.version ? rw_kchan.version : RW_PROTO_VERSION_MIN;
	m.u.error.code = code;
	m.u.error.detail = detail;
	m.u.error.ref_seq = ref_seq;
	rw_kchan_send_ctrl(sock, &m);
	pr_warn_ratelimited("closing: error code %u detail %d seq %llu\n",
			    code, detail, ref_seq);
	return -EPROTO;
}

/*
 * Queued frames are in RW_PROTO_VERSION_MAX; a host that negotiated an older
 * version gets a converted copy (the queued frame keeps what the older
 * version lacks, for a later connection).
 */
static int rw_kchan_write_frame(struct socket *sock, const struct rw_kchan_frame *f)
{
	long n;
	u8 *conv;
	int err;

	if (get_unaligned_le16(f->data + RW_HDR_VERSION_OFF) == rw_kchan.version)
		return rw_kchan_write(sock, f->data, f->len);
	conv = kmalloc(f->len, GFP_KERNEL);
	if (!conv)
		return -ENOMEM;
	n = rw_proto_frame_downgrade(f->data, f->len, rw_kchan.version, conv, f->len);
	if (n == RW_EPROTO_NOT_IN_VERSION) {
		/* the host's version has no such message: it sees a gap */
		kfree(conv);
		atomic64_inc(&rw_kchan.skipped_old_version);
		return 0;
	}
	if (n < 0) {
		kfree(conv);
		return rw_kchan_fail(sock, RW_ERR_INTERNAL, n, f->seq);
	}
	err = rw_kchan_write(sock, conv, n);
	kfree(conv);
	return err;
}

/* Write the frames the host has not seen on this connection, in order. */
static int rw_kchan_flush(struct socket *sock)
{
	struct rw_kchan_frame *f;
	int err;

	while (!kthread_should_stop() &&
	       (f = rw_kchan_next_frame(rw_kchan.tx_seq))) {
		if (f->sent) {
			rw_proto_mark_resent(f->data, f->len);
			atomic64_inc(&rw_kchan.resent);
		}
		err = rw_kchan_write_frame(sock, f);
		if (err)
			return err;
		f->sent = true;
		rw_kchan.tx_seq = f->seq + 1;
		if (f->seq > rw_kchan.sent_hwm)
			rw_kchan.sent_hwm = f->seq;
		atomic64_inc(&rw_kchan.frames_sent);
	}
	return 0;
}

/* ---- host frames ------------------------------------------------------- */

static int rw_kchan_on_hello(struct socket *sock, const struct rw_msg *m)
{
	const struct rw_msg_hello *h = &m->u.hello;
	u64 next;

	if (rw_kchan.state != RW_KCHAN_HELLO_WAIT)
		return rw_kchan_fail(sock, RW_ERR_UNEXPECTED, 0, 0);
	if (m->hdr.version < h->version_min || m->hdr.version > h->version_max)
		return rw_kchan_fail(sock, RW_ERR_VERSION, 0, 0);
	spin_lock_irq(&rw_kchan.lock);
	next = rw_kchan.next_seq;
	spin_unlock_irq(&rw_kchan.lock);
	/* The host cannot have accepted numbers never given out. */
	if (h->resume_seq >= next)
		return rw_kchan_fail(sock, RW_ERR_STREAM, 0, h->resume_seq);
	rw_kchan.version = m->hdr.version;
	rw_kchan.host_hwm = h->next_seq - 1;
	rw_kchan.state = RW_KCHAN_READY;
	if (h->resume_seq > rw_kchan.sent_hwm)
		rw_kchan.sent_hwm = h->resume_seq;
	rw_kchan.tx_seq = h->resume_seq + 1;
	rw_kchan_drop_acked(h->resume_seq);
	pr_info("connected to the host (port %u, version %u, resume at %llu)\n",
		chan_port, rw_kchan.version, h->resume_seq);
	/*
	 * The load-time description is queued already; a later connection may
	 * reach a host that lost it, so describe the module again.
	 */
	if (atomic64_inc_return(&rw_kchan.connects) > 1)
		rw_selfprot_describe();
	return 0;
}

static int rw_kchan_on_ack(struct socket *sock, const struct rw_msg *m)
{
	u64 a = m->u.ack.acked_seq;

	/* Acknowledging what was never sent: a confused host. */
	if (rw_kchan.state != RW_KCHAN_READY || a > rw_kchan.sent_hwm)
		return rw_kchan_fail(sock, RW_ERR_STREAM, 0, a);
	rw_kchan_drop_acked(a);
	return 0;
}

static void rw_kchan_on_challenge(const struct rw_msg *m)
{
	const struct rw_msg_challenge *c = &m->u.challenge;

	atomic64_inc(&rw_kchan.challenges);
	rw_challenge_answer(c->nonce, c->gva_start, c->length, c->hash_alg,
			    m->hdr.seq);
}

static void rw_kchan_on_policy(const struct rw_msg *m)
{
	const struct rw_msg_policy_update *p = &m->u.policy;

	/* No policy list applies to the module yet: acknowledged, logged. */
	atomic64_inc(&rw_kchan.policies);
	pr_info_ratelimited("policy update generation %u op %u list %u entries %u (not applicable to the module)\n",
			    p->generation, p->op, p->list, p->count);
}

static int rw_kchan_on_host_data(struct socket *sock, const struct rw_msg *m)
{
	if (rw_kchan.state != RW_KCHAN_READY)
		return rw_kchan_fail(sock, RW_ERR_UNEXPECTED, 0, m->hdr.seq);
	/* Once per number per connection; resends are only acknowledged. */
	if (m->hdr.seq > rw_kchan.host_hwm) {
		rw_kchan.host_hwm = m->hdr.seq;
		atomic64_inc(&rw_kchan.host_messages);
		if (m->hdr.type == RW_MSG_CHALLENGE)
			rw_kchan_on_challenge(m);
		else
			rw_kchan_on_policy(m);
	}
	rw_kchan.ack_pending = true;
	return 0;
}

static int rw_kchan_on_frame(struct socket *sock, const struct rw_msg *m)
{
	if (m->hdr.component != RW_COMP_HOST)
		return rw_kchan_fail(sock, RW_ERR_UNEXPECTED, RW_EPROTO_DIRECTION,
				     m->hdr.seq);
	if (rw_kchan.state == RW_KCHAN_READY && m->hdr.version != rw_kchan.version)
		return rw_kchan_fail(sock, RW_ERR_VERSION, RW_EPROTO_VERSION,
				     m->hdr.seq);
	switch (m->hdr.type) {
	case RW_MSG_HELLO:
		return rw_kchan_on_hello(sock, m);
	case RW_MSG_ACK:
		return rw_kchan_on_ack(sock, m);
	case RW_MSG_POLICY_UPDATE:
	case RW_MSG_CHALLENGE:
		return rw_kchan_on_host_data(sock, m);
	case RW_MSG_ERROR:
		atomic64_inc(&rw_kchan.peer_errors);
		pr_warn_ratelimited("host error code %u detail %d: %.*s\n",
				    m->u.error.code, m->u.error.detail,
				    m->u.error.text ? (int)m->u.error.text_len : 0,
				    m->u.error.text ? m->u.error.text : "");
		return -ECONNREFUSED;
	case RW_MSG_GOODBYE:
		return -ECONNRESET;
	default:
		return rw_kchan_fail(sock, RW_ERR_UNEXPECTED, 0, m->hdr.seq);
	}
}

/* Decode and handle every complete frame in rx. */
static int rw_kchan_process_rx(struct socket *sock)
{
	struct rw_msg m;
	size_t off = 0, flen;
	int r;

	for (;;) {
		r = rw_proto_frame_check(rw_kchan.rx + off, rw_kchan.rx_len - off,
					 &flen);
		if (r == RW_FRAME_NEED_MORE)
			break;
		if (r < 0)
			return rw_kchan_fail(sock, r == RW_EPROTO_VERSION ?
					     RW_ERR_VERSION : RW_ERR_MALFORMED, r, 0);
		r = rw_proto_decode(rw_kchan.rx + off, flen, &m);
		if (r < 0)
			return rw_kchan_fail(sock, RW_ERR_MALFORMED, r, 0);
		off += flen;
		r = rw_kchan_on_frame(sock, &m);
		if (r)
			return r;
	}
	if (off) {
		memmove(rw_kchan.rx, rw_kchan.rx + off, rw_kchan.rx_len - off);
		rw_kchan.rx_len -= off;
	}
	return 0;
}

/* Read what is there (never blocks). */
static int rw_kchan_read(struct socket *sock)
{
	for (;;) {
		struct msghdr mh = { .msg_flags = MSG_DONTWAIT };
		struct kvec iov = {
			.iov_base = rw_kchan.rx + rw_kchan.rx_len,
			.iov_len = RW_PROTO_MAX_FRAME - rw_kchan.rx_len,
		};
		int n, err;

		/* rx holds at most one frame: complete ones are consumed. */
		n = kernel_recvmsg(sock, &mh, &iov, 1, iov.iov_len, MSG_DONTWAIT);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		rw_kchan.rx_len += n;
		err = rw_kchan_process_rx(sock);
		if (err)
			return err;
	}
}

static int rw_kchan_send_ack(struct socket *sock)
{
	struct rw_msg m = { };

	m.hdr.type = RW_MSG_ACK;
	m.hdr.version = rw_kchan.version;
	m.u.ack.acked_seq = rw_kchan.host_hwm;
	rw_kchan.ack_pending = false;
	return rw_kchan_send_ctrl(sock, &m);
}

/* One connection, until it fails or the module goes. */
static int rw_kchan_session(struct socket *sock)
{
	unsigned long hello_deadline = jiffies + RW_KCHAN_HELLO_TIMEOUT;
	int err;

	rw_kchan.state = RW_KCHAN_HELLO_WAIT;
	rw_kchan.version = 0;
	rw_kchan.rx_len = 0;
	rw_kchan.ack_pending = false;
	err = rw_kchan_send_hello(sock);
	while (!err) {
		WRITE_ONCE(rw_kchan.kick, false);
		smp_mb();	/* clear before looking, or a kick is lost */
		if (kthread_should_stop()) {
			struct rw_msg m = { };

			if (rw_kchan.state != RW_KCHAN_READY)
				return 0;
			m.hdr.type = RW_MSG_GOODBYE;
			m.hdr.version = rw_kchan.version;
			m.u.goodbye.reason = RW_BYE_UNLOAD;
			rw_kchan_send_ctrl(sock, &m);
			return 0;
		}
		err = rw_kchan_read(sock);
		if (err)
			break;
		if (rw_kchan.state == RW_KCHAN_HELLO_WAIT &&
		    time_after(jiffies, hello_deadline)) {
			err = -ETIMEDOUT;
			break;
		}
		if (rw_kchan.state == RW_KCHAN_READY) {
			if (rw_kchan.ack_pending)
				err = rw_kchan_send_ack(sock);
			if (!err)
				err = rw_kchan_flush(sock);
			if (err)
				break;
		}
		wait_event_interruptible_timeout(rw_kchan.wq,
						 READ_ONCE(rw_kchan.kick) ||
						 kthread_should_stop(),
						 RW_KCHAN_IDLE);
	}
	return err;
}

/* ---- build id: the kernel's own .notes, as /sys/kernel/notes shows it -- */

static void rw_kchan_parse_notes(const u8 *p, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *n = (const Elf64_Nhdr *)(p + off);
		size_t name = ALIGN((size_t)n->n_namesz, 4);
		size_t desc = ALIGN((size_t)n->n_descsz, 4);

		off += sizeof(*n);
		if (name > len - off || desc > len - off - name)
			return;
		if (n->n_type == RW_NT_GNU_BUILD_ID && n->n_namesz == 4 &&
		    !memcmp(p + off, "GNU", 4) && n->n_descsz &&
		    n->n_descsz <= RW_PROTO_BUILD_ID_MAX) {
			memcpy(rw_kchan.build_id, p + off + name, n->n_descsz);
			rw_kchan.build_id_len = n->n_descsz;
			return;
		}
		off += name + desc;
	}
}

static void rw_kchan_read_build_id(void)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	u8 *buf;

	buf = kmalloc(RW_NOTES_MAX, GFP_KERNEL);
	if (!buf)
		return;
	f = filp_open("/sys/kernel/notes", O_RDONLY, 0);
	if (!IS_ERR(f)) {
		n = kernel_read(f, buf, RW_NOTES_MAX, &pos);
		if (n > 0)
			rw_kchan_parse_notes(buf, n);
		filp_close(f, NULL);
	}
	kfree(buf);
	if (!rw_kchan.build_id_len)
		pr_info("kernel build id not found (/sys/kernel/notes): HELLO without one\n");
}

/* ---- thread ------------------------------------------------------------ */

static int rw_kchan_thread(void *arg)
{
	unsigned int backoff = RW_KCHAN_BACKOFF_MIN_MS;
	struct socket *sock;
	int err;

	rw_kchan_read_build_id();
	while (!kthread_should_stop()) {
		atomic64_inc(&rw_kchan.attempts);
		err = rw_kchan_connect(&sock);
		if (!err) {
			u64 before = atomic64_read(&rw_kchan.connects);

			err = rw_kchan_session(sock);
			rw_kchan_close(sock);
			if (atomic64_read(&rw_kchan.connects) != before)
				backoff = RW_KCHAN_BACKOFF_MIN_MS;
		}
		WRITE_ONCE(rw_kchan.last_error, err);
		if (kthread_should_stop())
			break;
		wait_event_interruptible_timeout(rw_kchan.wq, kthread_should_stop(),
						 msecs_to_jiffies(backoff));
		backoff = min(backoff * 2, (unsigned int)RW_KCHAN_BACKOFF_MAX_MS);
	}
	return 0;
}

void rw_kchan_show_status(struct seq_file *m)
{
	unsigned int queued;
	u64 next, acked;

	spin_lock_irq(&rw_kchan.lock);
	queued = rw_kchan.queued;
	next = rw_kchan.next_seq;
	acked = rw_kchan.acked_seq;
	spin_unlock_irq(&rw_kchan.lock);
	seq_printf(m, "chan_port=%u\n", chan_port);
	seq_printf(m, "chan_session=%*phN\n", RW_PROTO_SESSION_ID_LEN,
		   rw_kchan.session_id);
	seq_printf(m, "chan_build_id=%*phN\n", rw_kchan.build_id_len,
		   rw_kchan.build_id);
	seq_printf(m, "chan_state=%s\n",
		   READ_ONCE(rw_kchan.state) == RW_KCHAN_READY ? "ready" :
		   READ_ONCE(rw_kchan.state) == RW_KCHAN_HELLO_WAIT ?
		   "hello-wait" : "down");
	seq_printf(m, "chan_next_seq=%llu\nchan_acked_seq=%llu\nchan_queued=%u\n",
		   next, acked, queued);
	seq_printf(m, "chan_lost=%lld\nchan_loss_reports=%lld\n",
		   atomic64_read(&rw_kchan.lost),
		   atomic64_read(&rw_kchan.loss_reports));
	seq_printf(m, "chan_connects=%lld\nchan_attempts=%lld\nchan_disconnects=%lld\n",
		   atomic64_read(&rw_kchan.connects),
		   atomic64_read(&rw_kchan.attempts),
		   atomic64_read(&rw_kchan.disconnects));
	seq_printf(m, "chan_frames_sent=%lld\nchan_resent=%lld\nchan_skipped_old_version=%lld\n",
		   atomic64_read(&rw_kchan.frames_sent),
		   atomic64_read(&rw_kchan.resent),
		   atomic64_read(&rw_kchan.skipped_old_version));
	seq_printf(m, "chan_host_messages=%lld\nchan_challenges=%lld\nchan_policies=%lld\n",
		   atomic64_read(&rw_kchan.host_messages),
		   atomic64_read(&rw_kchan.challenges),
		   atomic64_read(&rw_kchan.policies));
	seq_printf(m, "chan_peer_errors=%lld\nchan_proto_errors=%lld\nchan_last_error=%d\n",
		   atomic64_read(&rw_kchan.peer_errors),
		   atomic64_read(&rw_kchan.proto_errors),
		   READ_ONCE(rw_kchan.last_error));
}

int rw_kchan_init(void)
{
	struct task_struct *t;

	if (!chan_port) {
		pr_info("disabled (chan_port=0)\n");
		return 0;
	}
	init_waitqueue_head(&rw_kchan.wq);
	init_irq_work(&rw_kchan.kick_work, rw_kchan_kick_fn);
	get_random_bytes(rw_kchan.session_id, sizeof(rw_kchan.session_id));
	rw_kchan.rx = kvmalloc(RW_PROTO_MAX_FRAME, GFP_KERNEL);
	if (!rw_kchan.rx)
		return -ENOMEM;
	spin_lock_irq(&rw_kchan.lock);
	rw_kchan.open = true;
	spin_unlock_irq(&rw_kchan.lock);
	t = kthread_run(rw_kchan_thread, NULL, "ringwatch-chan");
	if (IS_ERR(t)) {
		spin_lock_irq(&rw_kchan.lock);
		rw_kchan.open = false;
		spin_unlock_irq(&rw_kchan.lock);
		kvfree(rw_kchan.rx);
		rw_kchan.rx = NULL;
		return PTR_ERR(t);
	}
	rw_kchan.thread = t;
	return 0;
}

void rw_kchan_exit(void)
{
	struct rw_kchan_frame *f, *tmp;
	LIST_HEAD(done);

	if (!rw_kchan.thread)
		return;
	spin_lock_irq(&rw_kchan.lock);
	rw_kchan.open = false;
	spin_unlock_irq(&rw_kchan.lock);
	kthread_stop(rw_kchan.thread);	/* closes and releases the socket */
	rw_kchan.thread = NULL;
	irq_work_sync(&rw_kchan.kick_work);
	spin_lock_irq(&rw_kchan.lock);
	list_splice_init(&rw_kchan.queue, &done);
	rw_kchan.queued = 0;
	spin_unlock_irq(&rw_kchan.lock);
	list_for_each_entry_safe(f, tmp, &done, node)
		kfree(f);
	kvfree(rw_kchan.rx);
	rw_kchan.rx = NULL;
}

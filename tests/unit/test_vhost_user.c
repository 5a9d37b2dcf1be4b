/* vhost-user back-end + virtio-vsock device driven through a socketpair: the
 * test plays QEMU (messages, memfd RAM, eventfds) and the guest driver
 * (packets in the tx ring, buffers in the rx ring). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/vhost_user.h"
#include "host/vhu_server.h"
#include "host/vsock_dev.h"
#include "tests/lib/vring_guest.h"

#define GUEST_CID 3
#define RAM_GPA 0x0ull
#define RAM_UVA 0x7f1200000000ull
#define RAM_SIZE (4u << 20)
#define QSZ 16
#define RX_RING_GPA 0x10000ull
#define TX_RING_GPA 0x20000ull
#define RX_BUF_GPA 0x100000ull
#define TX_BUF_GPA 0x200000ull
#define RX_BUF_LEN (VSOCK_HDR_SIZE + 4096)
#define TX_BUF_LEN (VSOCK_HDR_SIZE + 8192)
#define PORT 1234
#define GPORT 50000

struct app {
	int connects, closes, eofs;
	char data[65536];
	size_t ndata;
	char close_reason[128];
	struct vsock_conn *conn;
	bool echo;
};

struct fx {
	int qemu;               /* our end of the socketpair */
	struct vhu_server *srv;
	struct tg_ram ram;
	struct tg_ring rx, tx;
	int kick[2], call[2];
	uint16_t tx_next_desc;
	struct app app;
	uint32_t guest_fwd_cnt; /* what the guest has consumed of host data */
	uint32_t guest_buf_alloc;
};

/* ---- listener ---- */

static int app_connect(void *o, struct vsock_conn *c)
{
	struct app *a = o;
	a->connects++;
	a->conn = c;
	return 0;
}

static void app_data(void *o, struct vsock_conn *c, const uint8_t *d, size_t n)
{
	struct app *a = o;
	if (n == 0) {
		a->eofs++;
		return;
	}
	if (a->ndata + n <= sizeof(a->data)) {
		memcpy(a->data + a->ndata, d, n);
		a->ndata += n;
	}
	if (a->echo)
		vsock_send(c, d, n);
}

static void app_close(void *o, struct vsock_conn *c, const char *reason)
{
	struct app *a = o;
	(void)c;
	a->closes++;
	a->conn = NULL;
	snprintf(a->close_reason, sizeof(a->close_reason), "%s", reason);
}

static const struct vsock_listener_ops app_ops = {
	.on_connect = app_connect, .on_data = app_data, .on_close = app_close,
};

/* ---- QEMU side ---- */

static void pump(struct fx *f)
{
	for (int i = 0; i < 4; i++)
		assert_int_equal(vhu_server_run_once(f->srv, 0), 0);
}

static void send_msg(struct fx *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, int nfds)
{
	struct vhu_msg m;
	memset(&m, 0, sizeof(m));
	m.request = req;
	m.flags = VHU_FLAG_VERSION | flags;
	m.size = size;
	if (size)
		memcpy(&m.payload, payload, size);
	assert_int_equal(vhu_send_msg(f->qemu, &m, fds, nfds), 0);
	assert_int_equal(vhu_server_run_once(f->srv, 1000), 0);
}

static void get_reply(struct fx *f, uint32_t req, struct vhu_msg *r)
{
	int fds[VHU_MAX_FDS], nfds = 0;
	assert_int_equal(vhu_recv_msg(f->qemu, r, fds, &nfds), 0);
	assert_int_equal(nfds, 0);
	assert_int_equal(r->request, req);
	assert_int_equal(r->flags, VHU_FLAG_VERSION | VHU_FLAG_REPLY);
}

static uint64_t call_u64(struct fx *f, uint32_t req)
{
	struct vhu_msg r;
	send_msg(f, req, 0, NULL, 0, NULL, 0);
	get_reply(f, req, &r);
	assert_int_equal(r.size, 8);
	return r.payload.u64;
}

/* SET_* with NEED_REPLY; returns the ack value. */
static uint64_t set_acked(struct fx *f, uint32_t req, const void *p, uint32_t size, const int *fds,
			  int nfds)
{
	struct vhu_msg r;
	send_msg(f, req, VHU_FLAG_NEED_REPLY, p, size, fds, nfds);
	get_reply(f, req, &r);
	assert_int_equal(r.size, 8);
	return r.payload.u64;
}

static void set_u64(struct fx *f, uint32_t req, uint64_t v)
{
	assert_int_equal(set_acked(f, req, &v, 8, NULL, 0), 0);
}

static void setup_ring(struct fx *f, unsigned q, struct tg_ring *r)
{
	struct vhu_vring_state st = { q, QSZ };
	assert_int_equal(set_acked(f, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 0);
	st.num = 0;
	assert_int_equal(set_acked(f, VHU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 0);
	struct vhu_vring_addr a = { .index = q, .desc_user_addr = tg_uva(r, r->desc),
				    .used_user_addr = tg_uva(r, r->used),
				    .avail_user_addr = tg_uva(r, r->avail) };
	assert_int_equal(set_acked(f, VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	uint64_t idx = q;
	assert_int_equal(set_acked(f, VHU_SET_VRING_KICK, &idx, 8, &f->kick[q], 1), 0);
	assert_int_equal(set_acked(f, VHU_SET_VRING_CALL, &idx, 8, &f->call[q], 1), 0);
	st.num = 1;
	assert_int_equal(set_acked(f, VHU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 0);
}

static void post_rx_buffers(struct fx *f)
{
	for (uint16_t i = 0; i < QSZ; i++) {
		/* two descriptors per buffer like Linux 6.1: header, then payload */
		tg_desc(&f->rx, i, RX_BUF_GPA + (uint64_t)i * 8192, VSOCK_HDR_SIZE, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
			(uint16_t)((i + 1) % QSZ));
	}
	/* Simpler: single descriptor buffers using every slot. */
	for (uint16_t i = 0; i < QSZ; i++) {
		tg_desc(&f->rx, i, RX_BUF_GPA + (uint64_t)i * 8192, RX_BUF_LEN, VRING_DESC_F_WRITE, 0);
		tg_avail_push(&f->rx, i);
	}
}

static void handshake(struct fx *f)
{
	uint64_t feat = call_u64(f, VHU_GET_FEATURES);
	assert_true(feat & (1ull << VHU_F_VERSION_1));
	assert_true(feat & (1ull << VHU_F_PROTOCOL_FEATURES));
	uint64_t pf = call_u64(f, VHU_GET_PROTOCOL_FEATURES);
	assert_true(pf & (1ull << VHU_PROTO_F_REPLY_ACK));
	assert_true(pf & (1ull << VHU_PROTO_F_CONFIG));
	uint64_t want = (1ull << VHU_PROTO_F_REPLY_ACK) | (1ull << VHU_PROTO_F_CONFIG) | (1ull << VHU_PROTO_F_MQ);
	set_u64(f, VHU_SET_PROTOCOL_FEATURES, want);
	assert_int_equal(call_u64(f, VHU_GET_QUEUE_NUM), 2);
	assert_int_equal(set_acked(f, VHU_SET_OWNER, NULL, 0, NULL, 0), 0);

	struct vhu_config c = { .offset = 0, .size = 8 };
	struct vhu_msg r;
	send_msg(f, VHU_GET_CONFIG, 0, &c, 12 + 8, NULL, 0);
	get_reply(f, VHU_GET_CONFIG, &r);
	assert_int_equal(r.size, 20);
	uint64_t cid;
	memcpy(&cid, r.payload.config.region, 8);
	assert_int_equal(cid, GUEST_CID);

	set_u64(f, VHU_SET_FEATURES, (1ull << VHU_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES));

	struct vhu_mem_table mt = { .nregions = 1 };
	mt.regions[0] = (struct vhu_mem_region_desc){ RAM_GPA, RAM_SIZE, RAM_UVA, 0 };
	int memfd = dup(f->ram.fd);
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 8 + 32, &memfd, 1), 0);
	close(memfd);

	setup_ring(f, 0, &f->rx);
	setup_ring(f, 1, &f->tx);
	assert_non_null(vhu_dev_ring(vhu_server_vhu(f->srv), 0));
	assert_non_null(vhu_dev_ring(vhu_server_vhu(f->srv), 1));
}

static void connect_session(struct fx *f)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->qemu = sv[0];
	assert_int_equal(vhu_server_adopt_fd(f->srv, sv[1]), 0);
}

static int fx_setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	if (tg_ram_create(&f.ram, RAM_SIZE, RAM_GPA, RAM_UVA) != 0)
		return -1;
	tg_ring_init(&f.rx, &f.ram, QSZ, RX_RING_GPA);
	tg_ring_init(&f.tx, &f.ram, QSZ, TX_RING_GPA);
	for (int q = 0; q < 2; q++) {
		f.kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		f.call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	struct vhu_server_config cfg = { .socket_path = NULL,
					 .vsock = { .guest_cid = GUEST_CID, .buf_alloc = 4096,
						    .send_buf = 65536 },
					 .log = { .max_level = VHU_LOG_WARN } };
	f.srv = vhu_server_new(&cfg);
	if (!f.srv)
		return -1;
	if (vsock_listen(vhu_server_vsock(f.srv), PORT, &app_ops, &f.app) != 0)
		return -1;
	connect_session(&f);
	f.guest_buf_alloc = 65536;
	*state = &f;
	return 0;
}

static int fx_ready(void **state)
{
	if (fx_setup(state) != 0)
		return -1;
	struct fx *f = *state;
	handshake(f);
	post_rx_buffers(f);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	vhu_server_free(f->srv);
	if (f->qemu >= 0)
		close(f->qemu);
	for (int q = 0; q < 2; q++) {
		close(f->kick[q]);
		close(f->call[q]);
	}
	tg_ram_destroy(&f->ram);
	return 0;
}

/* ---- guest driver side ---- */

static void guest_send(struct fx *f, const struct vsock_hdr *h, const void *payload, uint32_t plen)
{
	uint16_t d = f->tx_next_desc++ % QSZ;
	uint64_t buf = TX_BUF_GPA + (uint64_t)d * 16384;
	vsock_hdr_encode(h, tg_ram_at(&f->ram, buf));
	/* header and payload in separate descriptors, as Linux 6.1 does */
	if (plen) {
		uint16_t d2 = (uint16_t)((d + QSZ / 2) % QSZ);
		memcpy(tg_ram_at(&f->ram, buf + 4096), payload, plen);
		tg_desc(&f->tx, d, buf, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, d2);
		tg_desc(&f->tx, d2, buf + 4096, plen, 0, 0);
	} else {
		tg_desc(&f->tx, d, buf, VSOCK_HDR_SIZE, 0, 0);
	}
	tg_avail_push(&f->tx, d);
	uint64_t one = 1;
	assert_int_equal(write(f->kick[1], &one, 8), 8);
	pump(f);
}

static struct vsock_hdr ghdr(struct fx *f, uint16_t op, uint32_t sport, uint32_t dport)
{
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = sport,
			       .dst_port = dport, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = f->guest_buf_alloc, .fwd_cnt = f->guest_fwd_cnt };
	return h;
}

/* Next packet the device put in the rx ring; recycles the buffer. 0 if none. */
static int guest_recv(struct fx *f, struct vsock_hdr *h, uint8_t *payload)
{
	uint32_t id, len;
	if (!tg_used_pop(&f->rx, &id, &len))
		return 0;
	assert_true(id < QSZ);
	assert_true(len >= VSOCK_HDR_SIZE && len <= RX_BUF_LEN);
	uint8_t *buf = tg_ram_at(&f->ram, RX_BUF_GPA + (uint64_t)id * 8192);
	assert_int_equal(vsock_hdr_decode(buf, len, h), 0);
	assert_int_equal(h->len, len - VSOCK_HDR_SIZE);
	assert_int_equal(h->src_cid, VSOCK_HOST_CID);
	assert_int_equal(h->dst_cid, GUEST_CID);
	if (payload)
		memcpy(payload, buf + VSOCK_HDR_SIZE, h->len);
	tg_avail_push(&f->rx, (uint16_t)id);
	return 1;
}

static void guest_connect(struct fx *f, uint32_t gport)
{
	struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, gport, PORT);
	guest_send(f, &h, NULL, 0);
	struct vsock_hdr r;
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RESPONSE);
	assert_int_equal(r.src_port, PORT);
	assert_int_equal(r.dst_port, gport);
	assert_int_equal(r.buf_alloc, 4096);
}

static uint64_t eventfd_count(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

/* ---- tests ---- */

static void test_handshake_and_ram_export(void **state)
{
	struct fx *f = *state;
	handshake(f);
	unsigned n;
	const struct guest_ram_region *r = vhu_dev_regions(vhu_server_vhu(f->srv), &n);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].guest_phys_addr, RAM_GPA);
	assert_int_equal(r[0].memory_size, RAM_SIZE);
	assert_true(r[0].fd >= 0);
	/* the back-end's mapping is the same memory as the guest's */
	memcpy(tg_ram_at(&f->ram, 0x3000), "shared", 6);
	assert_memory_equal(r[0].host + 0x3000, "shared", 6);
}

static void test_connect_and_echo(void **state)
{
	struct fx *f = *state;
	f->app.echo = true;
	guest_connect(f, GPORT);
	assert_int_equal(f->app.connects, 1);
	assert_true(eventfd_count(f->call[0]) > 0);  /* rx used -> guest interrupted */
	assert_true(eventfd_count(f->call[1]) > 0);  /* tx used too */

	struct vsock_hdr h = ghdr(f, VSOCK_OP_RW, GPORT, PORT);
	h.len = 11;
	guest_send(f, &h, "hello vsock", 11);
	assert_int_equal(f->app.ndata, 11);
	assert_memory_equal(f->app.data, "hello vsock", 11);

	struct vsock_hdr r;
	uint8_t p[4096];
	assert_int_equal(guest_recv(f, &r, p), 1);
	assert_int_equal(r.op, VSOCK_OP_RW);
	assert_int_equal(r.len, 11);
	assert_memory_equal(p, "hello vsock", 11);
	assert_int_equal(r.fwd_cnt, 11); /* host consumed what it got */

	/* guest closes: SHUTDOWN both -> host RSTs and the app sees EOF + close */
	h = ghdr(f, VSOCK_OP_SHUTDOWN, GPORT, PORT);
	h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(f->app.eofs, 1);
	assert_int_equal(f->app.closes, 1);
	assert_int_equal(vsock_dev_conn_count(vhu_server_vsock(f->srv)), 0);
}

static void test_host_close(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	vsock_send(f->app.conn, "bye", 3);
	vsock_close(f->app.conn);
	pump(f);
	struct vsock_hdr r;
	uint8_t p[16];
	assert_int_equal(guest_recv(f, &r, p), 1);
	assert_int_equal(r.op, VSOCK_OP_RW);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(r.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	assert_int_equal(f->app.closes, 0);
	struct vsock_hdr h = ghdr(f, VSOCK_OP_RST, GPORT, PORT);
	guest_send(f, &h, NULL, 0);
	assert_int_equal(f->app.closes, 1);
	assert_string_equal(f->app.close_reason, "closed");
}

static void test_rst_for_unknown_port_and_conn(void **state)
{
	struct fx *f = *state;
	struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, GPORT, 9999);
	guest_send(f, &h, NULL, 0);
	struct vsock_hdr r;
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(r.src_port, 9999);
	assert_int_equal(r.dst_port, GPORT);
	assert_int_equal(f->app.connects, 0);

	/* data on a connection that does not exist */
	h = ghdr(f, VSOCK_OP_RW, GPORT + 1, PORT);
	h.len = 3;
	guest_send(f, &h, "abc", 3);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(f->app.ndata, 0);
	/* an RST for nothing gets no answer */
	h = ghdr(f, VSOCK_OP_RST, GPORT + 2, PORT);
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, NULL), 0);
}

static void test_credit_flow(void **state)
{
	struct fx *f = *state;
	f->guest_buf_alloc = 16; /* tiny guest window */
	guest_connect(f, GPORT);
	uint8_t data[40];
	for (int i = 0; i < 40; i++)
		data[i] = (uint8_t)i;
	assert_int_equal(vsock_send(f->app.conn, data, 40), 40);
	pump(f);
	struct vsock_hdr r;
	uint8_t p[4096];
	assert_int_equal(guest_recv(f, &r, p), 1);
	assert_int_equal(r.op, VSOCK_OP_RW);
	assert_int_equal(r.len, 16); /* never more than the guest's window */
	assert_memory_equal(p, data, 16);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_CREDIT_REQUEST);
	assert_int_equal(guest_recv(f, &r, NULL), 0);
	assert_int_equal(vsock_conn_send_queued(f->app.conn), 24);

	/* guest consumed 16 bytes */
	f->guest_fwd_cnt = 16;
	struct vsock_hdr h = ghdr(f, VSOCK_OP_CREDIT_UPDATE, GPORT, PORT);
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, p), 1);
	assert_int_equal(r.len, 16);
	assert_memory_equal(p, data + 16, 16);

	/* the guest lies: fwd_cnt ahead of what we sent -> no credit, no crash */
	f->guest_fwd_cnt = 1000000;
	h = ghdr(f, VSOCK_OP_CREDIT_UPDATE, GPORT, PORT);
	guest_send(f, &h, NULL, 0);
	f->guest_fwd_cnt = 32;
	h = ghdr(f, VSOCK_OP_CREDIT_UPDATE, GPORT, PORT);
	guest_send(f, &h, NULL, 0);
	int got = 0;
	while (guest_recv(f, &r, p))
		if (r.op == VSOCK_OP_RW)
			got += (int)r.len;
	assert_int_equal(got, 8);
	assert_int_equal(vsock_conn_send_queued(f->app.conn), 0);
}

static void test_guest_credit_violation(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	static uint8_t big[5000];
	struct vsock_hdr h = ghdr(f, VSOCK_OP_RW, GPORT, PORT);
	h.len = sizeof(big); /* host advertised buf_alloc 4096 */
	guest_send(f, &h, big, sizeof(big));
	struct vsock_hdr r;
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(f->app.closes, 1);
	assert_string_equal(f->app.close_reason, "guest exceeded flow-control credit");
	assert_int_equal(f->app.ndata, 0);
	struct vsock_stats st;
	vsock_dev_stats(vhu_server_vsock(f->srv), &st);
	assert_int_equal(st.credit_violations, 1);
	assert_true(vhu_server_connected(f->srv)); /* a per-connection problem */
}

static void test_credit_update_after_half_window(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	static uint8_t chunk[1500];
	struct vsock_hdr h = ghdr(f, VSOCK_OP_RW, GPORT, PORT);
	h.len = sizeof(chunk);
	guest_send(f, &h, chunk, sizeof(chunk));
	struct vsock_hdr r;
	assert_int_equal(guest_recv(f, &r, NULL), 0); /* < half of 4096 */
	guest_send(f, &h, chunk, sizeof(chunk));
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(r.fwd_cnt, 3000);
	/* the whole window is available again: 4096 more bytes are legal */
	for (int i = 0; i < 2; i++)
		guest_send(f, &h, chunk, sizeof(chunk));
	assert_int_equal(f->app.ndata, 4 * sizeof(chunk));
	assert_int_equal(f->app.closes, 0);
}

static void test_bad_packets(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	struct vsock_hdr r;
	/* spoofed source CID: dropped silently */
	struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, GPORT + 1, PORT);
	h.src_cid = 77;
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, NULL), 0);
	assert_int_equal(f->app.connects, 1);
	/* len claims more than the buffer holds: RST of that connection */
	h = ghdr(f, VSOCK_OP_RW, GPORT, PORT);
	h.len = 60000;
	guest_send(f, &h, "x", 1);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(f->app.closes, 1);
	assert_string_equal(f->app.close_reason, "malformed packet from guest");
	/* seqpacket not supported */
	h = ghdr(f, VSOCK_OP_REQUEST, GPORT + 3, PORT);
	h.type = 2;
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	struct vsock_stats st;
	vsock_dev_stats(vhu_server_vsock(f->srv), &st);
	assert_int_equal(st.bad_pkts, 3);
	assert_true(vhu_server_connected(f->srv));
	assert_non_null(strstr(vsock_dev_last_event(vhu_server_vsock(f->srv)), "type 2"));
}

static void test_connection_limit(void **state)
{
	struct fx *f = *state;
	struct vsock_hdr r;
	for (uint32_t i = 0; i < 64; i++) {
		struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, GPORT + i, PORT);
		guest_send(f, &h, NULL, 0);
		assert_int_equal(guest_recv(f, &r, NULL), 1);
		assert_int_equal(r.op, VSOCK_OP_RESPONSE);
	}
	struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, GPORT + 64, PORT);
	guest_send(f, &h, NULL, 0);
	assert_int_equal(guest_recv(f, &r, NULL), 1);
	assert_int_equal(r.op, VSOCK_OP_RST);
	assert_int_equal(vsock_dev_conn_count(vhu_server_vsock(f->srv)), 64);
}

static void expect_disconnect(struct fx *f, const char *why)
{
	assert_false(vhu_server_connected(f->srv));
	assert_non_null(strstr(vhu_server_last_disconnect(f->srv), why));
	/* the socket is closed: QEMU would see EOF */
	char c;
	assert_int_equal(read(f->qemu, &c, 1), 0);
	assert_int_equal(f->app.conn, NULL);
}

static void reconnect_and_check(struct fx *f)
{
	close(f->qemu);
	connect_session(f);
	/* The poisoned chain is still in the old tx ring: like a guest driver
	 * reset, start from fresh rings. */
	tg_ring_init(&f->rx, &f->ram, QSZ, RX_RING_GPA);
	tg_ring_init(&f->tx, &f->ram, QSZ, TX_RING_GPA);
	handshake(f);
	for (uint16_t i = 0; i < 4; i++) {
		tg_desc(&f->rx, i, RX_BUF_GPA + (uint64_t)i * 8192, RX_BUF_LEN, VRING_DESC_F_WRITE, 0);
		tg_avail_push(&f->rx, i);
	}
	uint64_t one = 1;
	assert_int_equal(write(f->kick[0], &one, 8), 8);
	pump(f);
	f->app.echo = true;
	guest_connect(f, GPORT + 7);
	assert_int_equal(vhu_server_sessions(f->srv), 2);
}

static void test_looping_chain_disconnects(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	tg_desc(&f->tx, 3, TX_BUF_GPA, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, 4);
	tg_desc(&f->tx, 4, TX_BUF_GPA, VSOCK_HDR_SIZE, VRING_DESC_F_NEXT, 3);
	tg_avail_push(&f->tx, 3);
	uint64_t one = 1;
	assert_int_equal(write(f->kick[1], &one, 8), 8);
	pump(f);
	expect_disconnect(f, "loop");
	assert_int_equal(f->app.closes, 1);
	reconnect_and_check(f);
}

static void test_desc_outside_ram_disconnects(void **state)
{
	struct fx *f = *state;
	tg_desc(&f->tx, 0, RAM_SIZE - 8, 64, 0, 0);
	tg_avail_push(&f->tx, 0);
	uint64_t one = 1;
	assert_int_equal(write(f->kick[1], &one, 8), 8);
	pump(f);
	expect_disconnect(f, "outside guest RAM");
	reconnect_and_check(f);
}

static void test_rx_avail_jump_disconnects(void **state)
{
	struct fx *f = *state;
	tg_avail_set_idx(&f->rx, (uint16_t)(f->rx.avail_idx + QSZ + 5));
	struct vsock_hdr h = ghdr(f, VSOCK_OP_REQUEST, GPORT, PORT);
	guest_send(f, &h, NULL, 0);
	expect_disconnect(f, "avail index");
}

static void test_unknown_message(void **state)
{
	struct fx *f = *state;
	/* with NEED_REPLY: error ack, session continues */
	struct vhu_msg r;
	send_msg(f, 99, VHU_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
	get_reply(f, 99, &r);
	assert_int_equal(r.payload.u64, 1);
	assert_true(vhu_server_connected(f->srv));
	/* SET_LOG_BASE is not offered: without NEED_REPLY the session is dropped */
	uint64_t v = 0;
	send_msg(f, VHU_SET_LOG_BASE, 0, &v, 8, NULL, 0);
	assert_false(vhu_server_connected(f->srv));
	assert_non_null(strstr(vhu_server_last_disconnect(f->srv), "SET_LOG_BASE"));
}

static void test_message_validation(void **state)
{
	struct fx *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC);
	/* features not offered */
	uint64_t v = 1ull << 26;
	assert_int_equal(set_acked(f, VHU_SET_FEATURES, &v, 8, NULL, 0), 1);
	/* wrong payload size */
	assert_int_equal(set_acked(f, VHU_SET_FEATURES, &v, 4, NULL, 0), 1);
	/* ring index out of range */
	struct vhu_vring_state st = { 2, 16 };
	assert_int_equal(set_acked(f, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	/* queue size not a power of two / too big */
	st = (struct vhu_vring_state){ 0, 100 };
	assert_int_equal(set_acked(f, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st = (struct vhu_vring_state){ 0, 65536 };
	assert_int_equal(set_acked(f, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	/* kick without an fd but without the NOFD flag; fd where none is expected */
	v = 0;
	assert_int_equal(set_acked(f, VHU_SET_VRING_KICK, &v, 8, NULL, 0), 1);
	assert_int_equal(set_acked(f, VHU_SET_OWNER, NULL, 0, &efd, 1), 1);
	/* kick before the ring is configured */
	assert_int_equal(set_acked(f, VHU_SET_VRING_KICK, &v, 8, &efd, 1), 1);
	/* mem table: region larger than its file, overlapping regions, non-file fd */
	struct vhu_mem_table mt = { .nregions = 1 };
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, RAM_SIZE * 2ull, RAM_UVA, 0 };
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 40, &f->ram.fd, 1), 1);
	mt.nregions = 2;
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, 0x100000, RAM_UVA, 0 };
	mt.regions[1] = (struct vhu_mem_region_desc){ 0x80000, 0x100000, RAM_UVA + 0x200000, 0x200000 };
	int two[2] = { f->ram.fd, f->ram.fd };
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 72, two, 2), 1);
	mt.nregions = 1;
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 40, &efd, 1), 1);
	mt.regions[0] = (struct vhu_mem_region_desc){ UINT64_MAX - 10, 0x1000, RAM_UVA, 0 };
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 40, &f->ram.fd, 1), 1);
	/* count/size mismatch */
	mt.regions[0] = (struct vhu_mem_region_desc){ 0, 0x1000, RAM_UVA, 0 };
	assert_int_equal(set_acked(f, VHU_SET_MEM_TABLE, &mt, 72, &f->ram.fd, 1), 1);
	/* GET_CONFIG past the 8-byte config space: empty reply */
	struct vhu_config c = { .offset = 4, .size = 8 };
	struct vhu_msg r;
	send_msg(f, VHU_GET_CONFIG, 0, &c, 20, NULL, 0);
	get_reply(f, VHU_GET_CONFIG, &r);
	assert_int_equal(r.size, 0);
	assert_true(vhu_server_connected(f->srv));
	close(efd);
	/* the fds we passed were not leaked into the device */
	unsigned n;
	vhu_dev_regions(vhu_server_vhu(f->srv), &n);
	assert_int_equal(n, 0);
}

static void test_get_vring_base_and_resume(void **state)
{
	struct fx *f = *state;
	f->app.echo = true;
	guest_connect(f, GPORT);
	struct vhu_vring_state st = { 1, 0 };
	struct vhu_msg r;
	send_msg(f, VHU_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
	get_reply(f, VHU_GET_VRING_BASE, &r);
	assert_int_equal(r.payload.state.index, 1);
	assert_int_equal(r.payload.state.num, 1); /* one tx buffer consumed */
	assert_null(vhu_dev_ring(vhu_server_vhu(f->srv), 1));
	/* stopping the device drops the guest's connections */
	assert_int_equal(f->app.closes, 1);
	/* restart the tx ring with a stale base: resumes from used->idx (1) */
	st.num = 0;
	assert_int_equal(set_acked(f, VHU_SET_VRING_BASE, &st, sizeof(st), NULL, 0), 0);
	uint64_t idx = 1;
	int k = dup(f->kick[1]);
	assert_int_equal(set_acked(f, VHU_SET_VRING_KICK, &idx, 8, &k, 1), 0);
	close(k);
	assert_non_null(vhu_dev_ring(vhu_server_vhu(f->srv), 1));
	guest_connect(f, GPORT + 1);
	assert_int_equal(f->app.connects, 2);
}

static void test_frontend_eof(void **state)
{
	struct fx *f = *state;
	guest_connect(f, GPORT);
	close(f->qemu);
	f->qemu = -1;
	pump(f);
	assert_false(vhu_server_connected(f->srv));
	assert_int_equal(f->app.closes, 1);
	unsigned n;
	vhu_dev_regions(vhu_server_vhu(f->srv), &n);
	assert_int_equal(n, 0);
}

static void test_listening_socket_reconnect(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/rw-vhu-test-%d.sock", (int)getpid());
	struct vhu_server_config cfg = { .socket_path = path, .vsock = { .guest_cid = GUEST_CID },
					 .log = { .max_level = VHU_LOG_WARN } };
	struct vhu_server *srv = vhu_server_new(&cfg);
	assert_non_null(srv);
	for (int round = 0; round < 2; round++) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un { sa_family_t f; char p[108]; } sa = { AF_UNIX, { 0 } };
		snprintf(sa.p, sizeof(sa.p), "%s", path);
		assert_int_equal(connect(s, (struct sockaddr *)(void *)&sa, sizeof(sa)), 0);
		assert_int_equal(vhu_server_run_once(srv, 1000), 0);
		assert_true(vhu_server_connected(srv));
		struct vhu_msg m = { .request = VHU_GET_FEATURES, .flags = VHU_FLAG_VERSION };
		assert_int_equal(vhu_send_msg(s, &m, NULL, 0), 0);
		assert_int_equal(vhu_server_run_once(srv, 1000), 0);
		int fds[VHU_MAX_FDS], nfds;
		struct vhu_msg r;
		assert_int_equal(vhu_recv_msg(s, &r, fds, &nfds), 0);
		assert_int_equal(r.size, 8);
		close(s);
		assert_int_equal(vhu_server_run_once(srv, 1000), 0);
		assert_false(vhu_server_connected(srv));
	}
	assert_int_equal(vhu_server_sessions(srv), 2);
	vhu_server_free(srv);
	assert_int_not_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_and_ram_export, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect_and_echo, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_host_close, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rst_for_unknown_port_and_conn, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_credit_flow, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_guest_credit_violation, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_credit_update_after_half_window, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_packets, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_looping_chain_disconnects, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_desc_outside_ram_disconnects, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rx_avail_jump_disconnects, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_message, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_message_validation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_get_vring_base_and_resume, fx_ready, fx_teardown),
		cmocka_unit_test_setup_teardown(test_frontend_eof, fx_ready, fx_teardown),
		cmocka_unit_test(test_listening_socket_reconnect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

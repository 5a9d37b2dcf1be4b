/* Fuzzer bytes -> a sequence of vhost-user messages (with harness-made memfd /
 * eventfd ancillary fds) applied to a vhost-user-vsock back-end. The memfd
 * "guest RAM" is filled from the input too, so rings that the messages set up
 * are then processed with hostile descriptors and packets.
 *
 * Record format, repeated: u8 request, u8 flags, u8 fdspec, u16 size, payload[size].
 * fdspec: low 3 bits = fd count (capped at VHU_MAX_FDS), bit 7 = eventfds instead of memfds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/vhost_user.h"
#include "host/vsock_dev.h"

#define RAM_BYTES (64 * 1024)

struct harness {
	struct vhu_dev vhu;
	struct vsock_dev *vsock;
};

static int cfg_cb(void *o, uint32_t off, uint8_t *buf, uint32_t size)
{
	struct harness *h = o;
	return vsock_dev_get_config(h->vsock, off, buf, size);
}

static void ready_cb(void *o, unsigned idx)
{
	struct harness *h = o;
	if (idx == VSOCK_TXQ)
		vsock_dev_process_tx(h->vsock);
	else
		vsock_dev_flush_rx(h->vsock);
}

static void stop_cb(void *o, unsigned idx)
{
	struct harness *h = o;
	(void)idx;
	vsock_dev_reset(h->vsock, "stop");
}

static int on_connect(void *o, struct vsock_conn *c)
{
	(void)o;
	vsock_send(c, "hi", 2);
	return 0;
}

static void on_data(void *o, struct vsock_conn *c, const uint8_t *d, size_t n)
{
	(void)o;
	if (n)
		vsock_send(c, d, n);
	else
		vsock_close(c);
}

static void on_close(void *o, struct vsock_conn *c, const char *r)
{
	(void)o;
	(void)c;
	(void)r;
}

static int make_memfd(const uint8_t *fill, size_t n)
{
	int fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, RAM_BYTES) != 0) {
		close(fd);
		return -1;
	}
	if (n) {
		if (n > RAM_BYTES)
			n = RAM_BYTES;
		if (pwrite(fd, fill, n, 0) < 0) {
			/* leave zeros */
		}
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct vhu_logger quiet = { .max_level = -1 };
	struct harness h;
	struct vsock_dev_config vc = { .guest_cid = 3, .buf_alloc = 4096, .send_buf = 8192, .max_conns = 8 };
	h.vsock = vsock_dev_new(&vc, &h.vhu, &quiet);
	if (!h.vsock)
		return 0;
	static const struct vsock_listener_ops ops = { on_connect, on_data, on_close, NULL };
	vsock_listen(h.vsock, 1234, &ops, NULL);
	struct vhu_dev_ops dops = { .nqueues = 2, .get_config = cfg_cb, .ring_ready = ready_cb,
				    .ring_stop = stop_cb };
	vhu_dev_init(&h.vhu, &dops, &h, &quiet);

	/* The tail of the input (after the messages) is guest RAM content:
	 * the first message byte 0xff ends the message list. */
	size_t pos = 0;
	unsigned nmsgs = 0;
	while (pos + 5 <= size && data[pos] != 0xff && nmsgs++ < 64) {
		struct vhu_msg msg, reply;
		int fds[VHU_MAX_FDS];
		memset(&msg, 0, sizeof(msg));
		msg.request = data[pos] % 42;
		msg.flags = data[pos + 1] & 0x0f;
		uint8_t fdspec = data[pos + 2];
		uint16_t len = (uint16_t)(data[pos + 3] | data[pos + 4] << 8);
		pos += 5;
		if (len > VHU_MAX_PAYLOAD)
			len = VHU_MAX_PAYLOAD;
		if (len > size - pos)
			len = (uint16_t)(size - pos);
		msg.size = len;
		memcpy(&msg.payload, data + pos, len);
		pos += len;
		int nfds = fdspec & 7;
		for (int i = 0; i < nfds; i++)
			fds[i] = (fdspec & 0x80) ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
						 : make_memfd(data + pos, size - pos);
		int rc = vhu_handle_msg(&h.vhu, &msg, fds, nfds, &reply);
		vhu_close_fds(fds, nfds);
		if (rc == VHU_SEND_REPLY && reply.size > VHU_MAX_PAYLOAD)
			abort();
		/* what the server does after kicks */
		vsock_dev_process_tx(h.vsock);
		vsock_dev_flush_rx(h.vsock);
		if (rc < 0 || vsock_dev_broken(h.vsock)) {
			vhu_dev_reset(&h.vhu);
			vsock_dev_reset(h.vsock, "reset");
		}
	}
	vhu_dev_reset(&h.vhu);
	vsock_dev_free(h.vsock);
	return 0;
}

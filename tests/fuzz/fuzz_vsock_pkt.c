/* Fuzzer bytes -> a sequence of guest vsock packets applied to the device's
 * packet state machine (no rings: replies stay queued, bounded).
 * Record: u8 ctl, 44-byte header, payload (header len, capped by input).
 * ctl bit 0 forces src_cid to the guest's, bit 1 forces dst_cid to the host,
 * bit 2 forces type STREAM, bits 4-5 pick the destination port. */
#include <stdint.h>
#include <string.h>

#include "host/vsock_dev.h"

static int on_connect(void *o, struct vsock_conn *c)
{
	(void)o;
	return vsock_conn_guest_port(c) & 1; /* refuse odd ports */
}

static void on_data(void *o, struct vsock_conn *c, const uint8_t *d, size_t n)
{
	(void)o;
	if (n == 0) {
		vsock_close(c);
		return;
	}
	if (d[0] == 'A')
		vsock_abort(c, "fuzz abort");
	else if (d[0] == 'C')
		vsock_close(c);
	else
		vsock_send(c, d, n);
}

static void on_close(void *o, struct vsock_conn *c, const char *r)
{
	(void)o;
	(void)r;
	if (vsock_send(c, "x", 1) >= 0) /* must be refused after close */
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct vhu_logger quiet = { .max_level = -1 };
	static const uint32_t ports[4] = { 1234, 1235, 9, 0xffffffffu };
	struct vsock_dev_config cfg = { .guest_cid = 3, .buf_alloc = 2048, .send_buf = 4096,
					.max_conns = 4, .max_pkts_per_sec = 100 };
	struct vsock_dev *dev = vsock_dev_new(&cfg, NULL, &quiet);
	if (!dev)
		return 0;
	static const struct vsock_listener_ops ops = { on_connect, on_data, on_close, NULL };
	vsock_listen(dev, 1234, &ops, NULL);
	vsock_listen(dev, 1235, &ops, NULL);

	size_t pos = 0;
	while (pos + 1 + VSOCK_HDR_SIZE <= size) {
		uint8_t ctl = data[pos++];
		struct vsock_hdr h;
		memset(&h, 0, sizeof(h)); /* padding: the round-trip check compares bytes */
		if (vsock_hdr_decode(data + pos, size - pos, &h) != 0)
			break;
		pos += VSOCK_HDR_SIZE;
		if (ctl & 1)
			h.src_cid = 3;
		if (ctl & 2)
			h.dst_cid = VSOCK_HOST_CID;
		if (ctl & 4)
			h.type = VSOCK_TYPE_STREAM;
		h.dst_port = ports[(ctl >> 4) & 3];
		h.src_port &= 0xf;
		size_t plen = h.len;
		if (plen > VSOCK_MAX_PAYLOAD)
			plen = VSOCK_MAX_PAYLOAD;
		if (plen > size - pos)
			plen = size - pos;
		h.len = (uint32_t)plen;
		uint8_t re[VSOCK_HDR_SIZE];
		struct vsock_hdr back;
		memset(&back, 0, sizeof(back));
		vsock_hdr_encode(&h, re);
		vsock_hdr_decode(re, sizeof(re), &back);
		if (memcmp(&back, &h, sizeof(h)) != 0)
			__builtin_trap();
		vsock_dev_handle_pkt(dev, &h, data + pos);
		pos += plen;
		if (ctl & 8)
			vsock_dev_tick(dev, (uint64_t)pos * 1000);
	}
	vsock_dev_free(dev);
	return 0;
}

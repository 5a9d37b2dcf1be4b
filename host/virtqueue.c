#include "host/virtqueue.h"

#include <stdlib.h>
#include <string.h>

const char *vq_strerror(int err)
{
	switch (err) {
	case VQ_OK: return "ok";
	case VQ_E_NOT_READY: return "virtqueue not set up";
	case VQ_E_AVAIL_IDX: return "avail index jumped by more than the queue size";
	case VQ_E_HEAD: return "avail ring head index out of range";
	case VQ_E_NEXT: return "descriptor next index out of range";
	case VQ_E_LOOP: return "descriptor chain longer than the queue (loop)";
	case VQ_E_ADDR: return "descriptor buffer outside guest RAM";
	case VQ_E_ORDER: return "device-readable descriptor after a writable one";
	case VQ_E_INDIRECT: return "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
	case VQ_E_USED_IDX: return "used index inconsistent with avail index";
	case VQ_E_PUSH: return "used element head out of range";
	case VQ_E_ALIGN: return "virtqueue ring misaligned";
	case VQ_E_SIZE: return "invalid queue size";
	case VQ_E_NOMEM: return "out of memory";
	default: return "unknown virtqueue error";
	}
}

/* Guest-shared 16-bit fields: single atomic access (the guest writes them concurrently). */
static uint16_t load16_acquire(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static uint16_t load16_relaxed(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static void store16_release(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static void store32_relaxed(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

int vq_init(struct vq *vq, uint16_t num, void *desc, void *avail, void *used,
	    uint16_t base, uint16_t *resumed_from)
{
	memset(vq, 0, sizeof(*vq));
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0)
		return VQ_E_SIZE;
	if (!desc || !avail || !used)
		return VQ_E_NOT_READY;
	if (((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
		return VQ_E_ALIGN;
	vq->segs = calloc(num, sizeof(*vq->segs));
	if (!vq->segs)
		return VQ_E_NOMEM;
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	uint16_t used_now = load16_acquire(vq->used + 2);
	uint16_t avail_now = load16_acquire(vq->avail + 2);
	if ((uint16_t)(avail_now - used_now) > num) {
		vq_destroy(vq);
		return VQ_E_USED_IDX;
	}
	(void)base;
	vq->last_avail = used_now;
	vq->used_idx = used_now;
	if (resumed_from)
		*resumed_from = used_now;
	return VQ_OK;
}

void vq_destroy(struct vq *vq)
{
	free(vq->segs);
	memset(vq, 0, sizeof(*vq));
}

int vq_pending(const struct vq *vq)
{
	if (!vq->segs)
		return VQ_E_NOT_READY;
	uint16_t avail_idx = load16_acquire(vq->avail + 2);
	uint16_t n = (uint16_t)(avail_idx - vq->last_avail);
	if (n > vq->num)
		return VQ_E_AVAIL_IDX;
	return n;
}

struct desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void read_desc(const struct vq *vq, uint16_t i, struct desc_copy *d)
{
	uint8_t raw[16];
	/* One copy; the guest may rewrite the table under us, we only use the copy. */
	memcpy(raw, vq->desc + (size_t)i * 16, sizeof(raw));
	memcpy(&d->addr, raw, 8);
	memcpy(&d->len, raw + 8, 4);
	memcpy(&d->flags, raw + 12, 2);
	memcpy(&d->next, raw + 14, 2);
}

int vq_pop(struct vq *vq, const struct guest_ram *ram, struct vq_chain *out)
{
	int pending = vq_pending(vq);
	if (pending <= 0)
		return pending;
	/* vq_pending's acquire load orders the ring entry read after idx. */
	uint16_t slot = vq->last_avail & (uint16_t)(vq->num - 1);
	uint16_t head = load16_relaxed(vq->avail + 4 + 2 * (size_t)slot);
	if (head >= vq->num) {
		vq->err_desc = head;
		return VQ_E_HEAD;
	}

	memset(out, 0, sizeof(*out));
	out->head = head;
	out->seg = vq->segs;
	uint16_t i = head;
	bool seen_writable = false;
	for (unsigned count = 0;; count++) {
		struct desc_copy d;
		if (count >= vq->num) {
			vq->err_desc = head;
			return VQ_E_LOOP;
		}
		read_desc(vq, i, &d);
		vq->err_desc = i;
		vq->err_addr = d.addr;
		if (d.flags & VRING_DESC_F_INDIRECT)
			return VQ_E_INDIRECT;
		bool writable = (d.flags & VRING_DESC_F_WRITE) != 0;
		if (!writable && seen_writable)
			return VQ_E_ORDER;
		seen_writable |= writable;
		if (d.len > 0) {
			uint8_t *p = guest_ram_gpa(ram, d.addr, d.len);
			if (!p)
				return VQ_E_ADDR;
			struct vq_seg *s = &out->seg[out->nseg++];
			s->p = p;
			s->len = d.len;
			s->writable = writable;
			if (writable)
				out->write_len += d.len;
			else {
				out->read_len += d.len;
				out->nread++;
			}
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->num)
			return VQ_E_NEXT;
		i = d.next;
	}
	vq->last_avail++;
	return 1;
}

int vq_push(struct vq *vq, uint16_t head, uint32_t written)
{
	if (!vq->segs)
		return VQ_E_NOT_READY;
	if (head >= vq->num)
		return VQ_E_PUSH;
	uint16_t slot = vq->used_idx & (uint16_t)(vq->num - 1);
	uint8_t *elem = vq->used + 4 + 8 * (size_t)slot;
	store32_relaxed(elem, head);
	store32_relaxed(elem + 4, written);
	vq->used_idx++;
	/* Element stores become visible before the new index. */
	store16_release(vq->used + 2, vq->used_idx);
	return VQ_OK;
}

bool vq_needs_notify(const struct vq *vq)
{
	if (!vq->segs)
		return false;
	/* Order our used->idx store before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (load16_relaxed(vq->avail) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (uint16_t i = 0; i < c->nread && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)dst + done, s->p + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	size_t done = 0;
	for (uint16_t i = c->nread; i < c->nseg && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(s->p + off, (const uint8_t *)src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

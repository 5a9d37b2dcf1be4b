/* Split virtqueue (virtio 1.x, little-endian, x86 host) processed over guest
 * RAM that the guest may modify concurrently and maliciously.
 *
 * Each descriptor is copied out of guest memory once before it is used;
 * every index read from guest memory is bounded; every buffer address is
 * translated through the guest RAM table and must lie entirely in RAM. */
#ifndef RW_HOST_VIRTQUEUE_H
#define RW_HOST_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/guest_ram.h"

#define VQ_MAX_SIZE 32768u

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

/* Byte sizes of the three ring parts for a queue of num entries (without
 * the EVENT_IDX trailing fields, which we do not negotiate). */
#define VQ_DESC_BYTES(num) ((uint64_t)(num) * 16u)
#define VQ_AVAIL_BYTES(num) (4u + 2u * (uint64_t)(num))
#define VQ_USED_BYTES(num) (4u + 8u * (uint64_t)(num))

enum vq_err {
	VQ_OK = 0,
	VQ_E_NOT_READY = -1,   /* ring not set up */
	VQ_E_AVAIL_IDX = -2,   /* avail->idx claims more than num outstanding buffers */
	VQ_E_HEAD = -3,        /* head index from the avail ring >= num */
	VQ_E_NEXT = -4,        /* descriptor next index >= num */
	VQ_E_LOOP = -5,        /* chain longer than the queue size (loop) */
	VQ_E_ADDR = -6,        /* buffer outside guest RAM */
	VQ_E_ORDER = -7,       /* device-readable descriptor after a writable one */
	VQ_E_INDIRECT = -8,    /* INDIRECT descriptor, feature not negotiated */
	VQ_E_USED_IDX = -9,    /* used->idx inconsistent with avail->idx at start */
	VQ_E_PUSH = -10,       /* push of a head that is out of range */
	VQ_E_ALIGN = -11,      /* ring part misaligned */
	VQ_E_SIZE = -12,       /* queue size 0, > VQ_MAX_SIZE or not a power of two */
	VQ_E_NOMEM = -13,
};

const char *vq_strerror(int err);

/* One mapped piece of a descriptor chain. */
struct vq_seg {
	uint8_t *p;
	uint32_t len;
	bool writable;
};

struct vq_chain {
	uint16_t head;      /* descriptor index to hand back in vq_push */
	uint16_t nseg;      /* segments in seg[] (readable ones first) */
	uint16_t nread;     /* how many leading segments are device-readable */
	uint64_t read_len;  /* total bytes of readable segments */
	uint64_t write_len; /* total bytes of writable segments */
	struct vq_seg *seg; /* points into the queue's scratch array */
};

struct vq {
	uint16_t num;
	uint16_t last_avail; /* next avail ring slot we will consume */
	uint16_t used_idx;   /* our shadow of used->idx */
	uint8_t *desc;       /* host pointers into guest RAM */
	uint8_t *avail;
	uint8_t *used;
	struct vq_seg *segs; /* num entries */
	/* Diagnostics for the last error: descriptor index and address. */
	uint16_t err_desc;
	uint64_t err_addr;
};

/* Sets up the queue over already translated ring pointers and returns VQ_OK
 * or an error. The next buffer to consume is the current used->idx read from
 * guest memory (every chain we take is completed before we return to the event
 * loop, so used->idx == our last_avail at any stop; this also resumes a ring
 * after a backend restart). base is what the front-end told us; *resumed_from
 * receives the index we actually start from. */
int vq_init(struct vq *vq, uint16_t num, void *desc, void *avail, void *used,
	    uint16_t base, uint16_t *resumed_from);
void vq_destroy(struct vq *vq);

/* Takes the next available chain. Returns 1 with *out filled, 0 if the ring
 * is empty, or a negative vq_err (the ring must then be treated as broken). */
int vq_pop(struct vq *vq, const struct guest_ram *ram, struct vq_chain *out);
/* Returns a chain to the driver with `written` bytes written into it. */
int vq_push(struct vq *vq, uint16_t head, uint32_t written);
/* True when the driver asked to be interrupted (VRING_AVAIL_F_NO_INTERRUPT clear). */
bool vq_needs_notify(const struct vq *vq);
/* Number of buffers the driver made available that we have not taken yet. */
int vq_pending(const struct vq *vq);

/* Copy from the chain's readable bytes at offset off; returns bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
/* Copy into the chain's writable bytes at offset off; returns bytes copied. */
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);

#endif

/* Test-side emulation of a guest driver: "guest RAM" in a memfd and split
 * virtqueues laid out in it, written the way a virtio driver would. Used by the
 * virtqueue and vhost-user unit tests. */
#ifndef RW_TESTS_VRING_GUEST_H
#define RW_TESTS_VRING_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "host/guest_ram.h"

struct tg_ram {
	int fd;
	uint8_t *p;
	uint64_t size;
	uint64_t gpa;  /* guest-physical base */
	uint64_t uva;  /* pretend QEMU virtual address of the base */
};

/* memfd of size bytes mapped into the test; 0 or -1. */
int tg_ram_create(struct tg_ram *ram, uint64_t size, uint64_t gpa, uint64_t uva);
void tg_ram_destroy(struct tg_ram *ram);
uint8_t *tg_ram_at(struct tg_ram *ram, uint64_t gpa);
/* A guest_ram table over the test's own mapping (no fd ownership). */
void tg_ram_table(struct tg_ram *ram, struct guest_ram *out);

struct tg_ring {
	struct tg_ram *ram;
	uint16_t num;
	uint64_t desc, avail, used; /* guest-physical addresses */
	uint16_t avail_idx;         /* driver's next avail index */
	uint16_t used_seen;         /* driver's last consumed used index */
};

/* Lays the ring out at gpa base (desc, avail, used; 4 KiB aligned parts). */
void tg_ring_init(struct tg_ring *r, struct tg_ram *ram, uint16_t num, uint64_t base);
void tg_desc(struct tg_ring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Publishes head in the avail ring and bumps avail->idx (release ordering). */
void tg_avail_push(struct tg_ring *r, uint16_t head);
void tg_avail_set_idx(struct tg_ring *r, uint16_t idx);
void tg_avail_set_flags(struct tg_ring *r, uint16_t flags);
/* 1 and the element if the device returned a buffer since the last call, else 0. */
int tg_used_pop(struct tg_ring *r, uint32_t *id, uint32_t *len);
uint16_t tg_used_idx(struct tg_ring *r);
void tg_used_set_idx(struct tg_ring *r, uint16_t idx);
/* QEMU-side (user) addresses of the ring parts. */
uint64_t tg_uva(const struct tg_ring *r, uint64_t gpa);

#endif

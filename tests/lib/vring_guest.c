#include "tests/lib/vring_guest.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int tg_ram_create(struct tg_ram *ram, uint64_t size, uint64_t gpa, uint64_t uva)
{
	memset(ram, 0, sizeof(*ram));
	ram->fd = memfd_create("tg-guest-ram", MFD_CLOEXEC);
	if (ram->fd < 0)
		return -1;
	if (ftruncate(ram->fd, (off_t)size) != 0)
		return -1;
	ram->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram->fd, 0);
	if (ram->p == MAP_FAILED)
		return -1;
	ram->size = size;
	ram->gpa = gpa;
	ram->uva = uva;
	return 0;
}

void tg_ram_destroy(struct tg_ram *ram)
{
	if (ram->p && ram->p != MAP_FAILED)
		munmap(ram->p, ram->size);
	if (ram->fd >= 0)
		close(ram->fd);
	memset(ram, 0, sizeof(*ram));
	ram->fd = -1;
}

uint8_t *tg_ram_at(struct tg_ram *ram, uint64_t gpa)
{
	return ram->p + (gpa - ram->gpa);
}

void tg_ram_table(struct tg_ram *ram, struct guest_ram *out)
{
	memset(out, 0, sizeof(*out));
	out->n = 1;
	out->r[0].guest_phys_addr = ram->gpa;
	out->r[0].memory_size = ram->size;
	out->r[0].userspace_addr = ram->uva;
	out->r[0].host = ram->p;
	out->r[0].fd = -1;
	for (unsigned i = 1; i < GUEST_RAM_MAX_REGIONS; i++)
		out->r[i].fd = -1;
}

void tg_ring_init(struct tg_ring *r, struct tg_ram *ram, uint16_t num, uint64_t base)
{
	memset(r, 0, sizeof(*r));
	r->ram = ram;
	r->num = num;
	r->desc = base;
	r->avail = base + (((uint64_t)num * 16 + 4095) & ~4095ull);
	r->used = r->avail + ((4 + 2 * (uint64_t)num + 2 + 4095) & ~4095ull);
	memset(tg_ram_at(ram, r->desc), 0, (size_t)(r->used - r->desc) + 4 + 8 * (size_t)num + 2);
}

void tg_desc(struct tg_ring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = tg_ram_at(r->ram, r->desc + 16 * (uint64_t)i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

void tg_avail_push(struct tg_ring *r, uint16_t head)
{
	uint8_t *a = tg_ram_at(r->ram, r->avail);
	memcpy(a + 4 + 2 * (size_t)(r->avail_idx % r->num), &head, 2);
	r->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(a + 2), r->avail_idx, __ATOMIC_RELEASE);
}

void tg_avail_set_idx(struct tg_ring *r, uint16_t idx)
{
	r->avail_idx = idx;
	__atomic_store_n((uint16_t *)(void *)(tg_ram_at(r->ram, r->avail) + 2), idx, __ATOMIC_RELEASE);
}

void tg_avail_set_flags(struct tg_ring *r, uint16_t flags)
{
	memcpy(tg_ram_at(r->ram, r->avail), &flags, 2);
}

uint16_t tg_used_idx(struct tg_ring *r)
{
	return __atomic_load_n((uint16_t *)(void *)(tg_ram_at(r->ram, r->used) + 2), __ATOMIC_ACQUIRE);
}

void tg_used_set_idx(struct tg_ring *r, uint16_t idx)
{
	__atomic_store_n((uint16_t *)(void *)(tg_ram_at(r->ram, r->used) + 2), idx, __ATOMIC_RELEASE);
	r->used_seen = idx;
}

int tg_used_pop(struct tg_ring *r, uint32_t *id, uint32_t *len)
{
	if (tg_used_idx(r) == r->used_seen)
		return 0;
	uint8_t *e = tg_ram_at(r->ram, r->used) + 4 + 8 * (size_t)(r->used_seen % r->num);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	r->used_seen++;
	return 1;
}

uint64_t tg_uva(const struct tg_ring *r, uint64_t gpa)
{
	return r->ram->uva + (gpa - r->ram->gpa);
}

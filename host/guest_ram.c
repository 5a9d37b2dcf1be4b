#include "host/guest_ram.h"

#include <sys/mman.h>
#include <unistd.h>

/* True when [addr, addr+len) is inside [base, base+size); overflow-safe. */
static int range_inside(uint64_t addr, uint64_t len, uint64_t base, uint64_t size)
{
	if (len == 0)
		len = 1;
	if (addr < base)
		return 0;
	uint64_t off = addr - base;
	return off < size && len <= size - off;
}

void *guest_ram_gpa(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < ram->n; i++) {
		const struct guest_ram_region *r = &ram->r[i];
		if (range_inside(gpa, len, r->guest_phys_addr, r->memory_size))
			return r->host + (gpa - r->guest_phys_addr);
	}
	return NULL;
}

void *guest_ram_uva(const struct guest_ram *ram, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < ram->n; i++) {
		const struct guest_ram_region *r = &ram->r[i];
		if (range_inside(uva, len, r->userspace_addr, r->memory_size))
			return r->host + (uva - r->userspace_addr);
	}
	return NULL;
}

void guest_ram_release(struct guest_ram *ram)
{
	for (unsigned i = 0; i < ram->n; i++) {
		struct guest_ram_region *r = &ram->r[i];
		if (r->map_base && r->map_base != MAP_FAILED)
			munmap(r->map_base, r->map_len);
		if (r->fd >= 0)
			close(r->fd);
		r->map_base = NULL;
		r->host = NULL;
		r->fd = -1;
	}
	ram->n = 0;
}

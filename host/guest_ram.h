/* Guest RAM as received from QEMU in VHOST_USER_SET_MEM_TABLE: a small table
 * of mmapped regions, with translation of guest-physical addresses (used in
 * descriptors) and QEMU user addresses (used for ring addresses) into host
 * pointers. Every translation checks that the whole [addr, addr+len) range
 * lies inside one region. */
#ifndef RW_HOST_GUEST_RAM_H
#define RW_HOST_GUEST_RAM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_RAM_MAX_REGIONS 8

/* One region. This is also what the rest of the daemon (introspection) gets. */
struct guest_ram_region {
	uint64_t guest_phys_addr; /* first guest-physical address of the region */
	uint64_t memory_size;     /* bytes */
	uint64_t userspace_addr;  /* QEMU's virtual address of the region */
	uint64_t mmap_offset;     /* offset of the region inside fd */
	uint8_t *host;            /* our pointer to guest_phys_addr (map_base + mmap_offset) */
	void *map_base;           /* what mmap returned (offset 0 of fd) */
	size_t map_len;           /* mmap length (mmap_offset + memory_size) */
	int fd;                   /* the memory fd, owned by the table */
};

struct guest_ram {
	struct guest_ram_region r[GUEST_RAM_MAX_REGIONS];
	unsigned n;
};

/* Host pointer for guest-physical [gpa, gpa+len) or NULL when any byte of it
 * is outside RAM (len 0 is treated as 1 byte). */
void *guest_ram_gpa(const struct guest_ram *ram, uint64_t gpa, uint64_t len);
/* Same for a QEMU user (virtual) address range. */
void *guest_ram_uva(const struct guest_ram *ram, uint64_t uva, uint64_t len);
/* Unmaps and closes every region; leaves an empty table. */
void guest_ram_release(struct guest_ram *ram);

#endif

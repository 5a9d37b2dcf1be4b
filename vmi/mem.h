/* Guest-physical memory sources: the bottom layer of vmi/.
 *
 * One interface (struct vmi_mem + struct vmi_mem_ops) over several backends:
 *   - host:    caller-owned host buffers (tests, fuzzers, anything already mapped)
 *   - ram:     fds mmap'd read-only (QEMU shared RAM memfd/file, vhost-user
 *              SET_MEM_TABLE regions)                            vmi/mem_ram.c
 *   - elfcore: an ELF core from dump-guest-memory / virsh dump   vmi/mem_elfcore.c
 *   - kvm:     a KVM VM this process holds (memslots + vCPU fds) vmi/mem_kvm.c
 *
 * Every backend is a sorted table of non-overlapping guest-physical regions,
 * each backed by host memory (or, for ELF cores, zero fill). Reads may cross
 * region boundaries when regions are adjacent; any byte not backed is a hole
 * and the whole read fails with VMI_MEM_E_HOLE (nothing partial is returned
 * as success).
 *
 * Trust: guest RAM is shared with a running, possibly hostile guest. Bytes read
 * (or seen through a direct pointer) may change at any time; callers must
 * treat them as untrusted input and copy before validating-then-using.
 *
 * Not thread-safe for close; concurrent reads on one source are fine (the
 * region table is immutable after open).
 */
#ifndef RW_VMI_MEM_H
#define RW_VMI_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vmi/err.h"

struct vmi_vcpu;

enum vmi_mem_err {
	VMI_MEM_OK = 0,
	VMI_MEM_E_ARG = -1,        /* NULL pointer / zero-size region / bad argument */
	VMI_MEM_E_HOLE = -2,       /* some byte of the range is not backed by RAM */
	VMI_MEM_E_NOT_CONTIG = -3, /* range is backed but not by one host mapping */
	VMI_MEM_E_NOMEM = -4,
	VMI_MEM_E_SYS = -5,        /* a system call failed (mmap, fstat, ioctl) */
	VMI_MEM_E_LAYOUT = -6,     /* region table invalid: overlap, overflow, fd too small */
	VMI_MEM_E_FORMAT = -7,     /* malformed ELF core */
	VMI_MEM_E_TOO_MANY = -8,   /* more regions / vCPUs than the limit */
	VMI_MEM_E_NO_VCPU = -9,    /* source has no such vCPU (or no vCPUs at all) */
};

/* Upper bound on regions of one source (vhost-user allows 8..509 regions). */
#define VMI_MEM_MAX_REGIONS 1024

/* One backed guest-physical range. host == NULL means "reads as zeros"
 * (ELF p_memsz beyond p_filesz); such a region never yields a direct pointer. */
struct vmi_mem_region {
	uint64_t gpa;
	uint64_t size;
	const uint8_t *host;
};

struct vmi_mem;

struct vmi_mem_ops {
	const char *kind; /* "host", "ram", "elfcore", "kvm", ... */
	/* Optional: serve reads/direct pointers itself. When NULL (all built-in
	 * backends) the region table below serves them. Called only after the
	 * generic argument checks (non-NULL, len > 0, no 2^64 wrap). read must
	 * fill all of buf or fail with VMI_MEM_E_HOLE; direct may always return
	 * VMI_MEM_E_NOT_CONTIG. */
	int (*read)(const struct vmi_mem *m, uint64_t gpa, void *buf, size_t len);
	int (*direct)(const struct vmi_mem *m, uint64_t gpa, size_t len, const void **out);
	/* Backend teardown (unmap, free private state). Called by vmi_mem_close. */
	void (*destroy)(struct vmi_mem *m);
	/* Optional: vCPU state. NULL when the source has no vCPUs. */
	int (*read_vcpu)(struct vmi_mem *m, unsigned idx, struct vmi_vcpu *out, char *err,
			 size_t errlen);
};

/* The interface object. Backends allocate it (possibly embedded first in a
 * larger struct) and fill ops + regions; unless ops->read/direct are set,
 * reads are served from the table. */
struct vmi_mem {
	const struct vmi_mem_ops *ops;
	struct vmi_mem_region *regions; /* sorted by gpa, non-overlapping, owned */
	size_t nregions;
	unsigned nvcpus;
};

/* Copy bytes [gpa, gpa+len) into buf. len 0 succeeds. Returns 0,
 * VMI_MEM_E_HOLE (buf content unspecified) or VMI_MEM_E_ARG. */
int vmi_mem_read(const struct vmi_mem *m, uint64_t gpa, void *buf, size_t len);

/* Little-endian u64 convenience. */
int vmi_mem_read_u64(const struct vmi_mem *m, uint64_t gpa, uint64_t *out);

/* Zero-copy: *out = host pointer to [gpa, gpa+len) when the whole range lies in
 * one host-backed region. Returns 0, VMI_MEM_E_HOLE, VMI_MEM_E_NOT_CONTIG
 * (backed but split over regions or zero-fill) or VMI_MEM_E_ARG. The pointer
 * stays valid until vmi_mem_close. */
int vmi_mem_direct(const struct vmi_mem *m, uint64_t gpa, size_t len, const void **out);

/* 1 when [gpa, gpa+len) is fully backed by the region table, else 0. */
int vmi_mem_is_backed(const struct vmi_mem *m, uint64_t gpa, uint64_t len);

/* vCPU state from the source (KVM sources only today). */
int vmi_mem_read_vcpu(struct vmi_mem *m, unsigned idx, struct vmi_vcpu *out, char *err,
		      size_t errlen);

const char *vmi_mem_kind(const struct vmi_mem *m);
void vmi_mem_close(struct vmi_mem *m);
const char *vmi_mem_strerror(int code);

/* Source over caller-owned host buffers (must outlive the source). The table
 * is copied, sorted and validated (no overlap, no gpa overflow, size > 0). */
int vmi_mem_open_host(const struct vmi_mem_region *regions, size_t n, struct vmi_mem **out,
		      char *err, size_t errlen);

/* --- ram: fds mapped read-only (vmi/mem_ram.c) ------------------------------ */

/* A guest-physical range backed by [fd_offset, fd_offset+size) of fd. Several
 * regions may share one fd (QEMU RAM split below/above 4 GiB) or each have
 * their own (vhost-user SET_MEM_TABLE: guest_phys_addr, memory_size,
 * mmap_offset). The fds are not kept: the caller may close them after open. */
struct vmi_ram_region {
	uint64_t gpa;
	uint64_t size;
	int fd;
	uint64_t fd_offset;
};

int vmi_mem_open_ram(const struct vmi_ram_region *regions, size_t n, struct vmi_mem **out,
		     char *err, size_t errlen);

/* --- elfcore: ELF64 x86-64 ET_CORE (vmi/mem_elfcore.c) ---------------------- */

/* Map the file read-only and serve its PT_LOAD segments by p_paddr. */
int vmi_mem_open_elfcore_fd(int fd, struct vmi_mem **out, char *err, size_t errlen);
/* Same over a caller-owned buffer (must outlive the source). */
int vmi_mem_open_elfcore_buf(const void *buf, size_t len, struct vmi_mem **out, char *err,
			     size_t errlen);

/* --- kvm: a VM this process holds (vmi/mem_kvm.c) ---------------------------- */

/* A KVM memslot as given to KVM_SET_USER_MEMORY_REGION. */
struct vmi_kvm_slot {
	uint64_t gpa;
	uint64_t size;
	const void *host; /* userspace_addr */
};

/* The fds are borrowed (not closed by vmi_mem_close). vCPU i of the source is
 * vcpu_fds[i]; vmi_mem_read_vcpu reads KVM_GET_SREGS + KVM_GET_MSRS. */
int vmi_mem_open_kvm(const struct vmi_kvm_slot *slots, size_t nslots, const int *vcpu_fds,
		     size_t nvcpus, struct vmi_mem **out, char *err, size_t errlen);

/* --- helpers for backends ---------------------------------------------------- */

/* Validate + sort a region table in place (no overlap, no overflow, size > 0,
 * n <= VMI_MEM_MAX_REGIONS). */
int vmi_mem_regions_check(struct vmi_mem_region *r, size_t n, char *err, size_t errlen);

#endif

/* x86-64 virtual -> guest-physical translation over a vmi_mem source:
 * IA-32e paging with 4 levels (CR4.LA57 = 0) or 5 levels (LA57 = 1), 4 KiB,
 * 2 MiB and 1 GiB pages, PCID/flag bits masked out of CR3, canonical-address
 * check, reserved-bit checks on every entry (bits above MAXPHYADDR, XD without
 * EFER.NXE, PS in PML5E/PML4E, the reserved low bits of large-page entries).
 *
 * The page tables are guest memory: hostile. A walk reads exactly one 8-byte
 * entry per level (at most 5), so it costs O(levels) whatever the tables hold,
 * including self-references. Entries read once, never re-read.
 *
 * A direct-mapped translation cache (VMI_X86_TLB_SIZE entries, by 4 KiB VPN)
 * speeds repeated translations. It is NOT coherent with guest memory: the
 * caller flushes it (vmi_x86_flush) whenever it wants fresh page tables;
 * vmi_x86_set_cr3 flushes it. One struct vmi_x86 per thread.
 */
#ifndef RW_VMI_X86_H
#define RW_VMI_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmi/mem.h"

enum vmi_x86_err {
	VMI_X86_OK = 0,
	VMI_X86_E_ARG = -1,           /* NULL pointer, zero length, range wraps 2^64 */
	VMI_X86_E_MODE = -2,          /* not IA-32e paging (EFER.LMA or CR4.PAE clear) */
	VMI_X86_E_NONCANONICAL = -3,  /* virtual address not canonical for the mode */
	VMI_X86_E_NOT_PRESENT = -4,   /* an entry on the walk has P = 0 */
	VMI_X86_E_RESERVED = -5,      /* a reserved bit is set in CR3 or an entry */
	VMI_X86_E_TABLE_OUTSIDE_RAM = -6, /* a paging structure lies outside RAM */
	VMI_X86_E_PHYS = -7,          /* translated page is not backed by RAM */
	VMI_X86_E_NOT_CONTIG = -8,    /* direct: range not contiguous in one host mapping */
};

/* CR4 / EFER bits used. */
#define VMI_X86_CR4_PAE (1ull << 5)
#define VMI_X86_CR4_LA57 (1ull << 12)
#define VMI_X86_CR4_PCIDE (1ull << 17)
#define VMI_X86_EFER_LMA (1ull << 10)
#define VMI_X86_EFER_NXE (1ull << 11)

/* Page-table entry bits. */
#define VMI_PTE_P (1ull << 0)
#define VMI_PTE_W (1ull << 1)
#define VMI_PTE_U (1ull << 2)
#define VMI_PTE_PS (1ull << 7)
#define VMI_PTE_XD (1ull << 63)

struct vmi_x86_xlat {
	uint64_t va;
	uint64_t pa;        /* guest-physical address of va */
	uint64_t page_size; /* 4096, 2 MiB or 1 GiB */
	/* Effective permissions across all levels: writable = every level R/W,
	 * user = every level U/S, nx = some level XD (only with EFER.NXE).
	 * CR0.WP/SMEP/SMAP are not applied: these are the page's own rights. */
	bool writable, user, nx;
	/* When the walk fails: level it stopped at (5..1; 0 = before any read)
	 * and the entry read there (0 if none). */
	int fail_level;
	uint64_t fail_entry;
};

#define VMI_X86_TLB_SIZE 512 /* power of two */

struct vmi_x86_tlb_entry {
	uint64_t vpn;     /* va >> 12; valid only when page_shift != 0 */
	uint64_t pa_page; /* guest-physical address of the 4 KiB frame of vpn */
	uint8_t page_shift; /* 12, 21, 30; 0 = empty slot */
	uint8_t writable, user, nx;
};

struct vmi_x86 {
	const struct vmi_mem *mem;
	uint64_t cr3, cr4, efer;
	unsigned maxphyaddr; /* default 52 */
	unsigned levels;     /* 4 or 5 */
	uint64_t root;       /* PML4/PML5 table address from CR3 */
	struct vmi_x86_tlb_entry tlb[VMI_X86_TLB_SIZE];
	/* Statistics (tests, tuning). */
	uint64_t tlb_hits, tlb_misses;
};

/* Set up a walker. Requires EFER.LMA and CR4.PAE; CR3 must not have bits
 * MAXPHYADDR..60 set (bits 61..63, LAM and no-flush, are ignored). */
int vmi_x86_init(struct vmi_x86 *x, const struct vmi_mem *mem, uint64_t cr3, uint64_t cr4,
		 uint64_t efer);

/* Physical-address width (36..52, from CPUID 0x80000008); flushes. */
int vmi_x86_set_maxphyaddr(struct vmi_x86 *x, unsigned bits);

/* New address space (e.g. another process or vCPU); flushes the cache. */
int vmi_x86_set_cr3(struct vmi_x86 *x, uint64_t cr3);

void vmi_x86_flush(struct vmi_x86 *x);

/* 1 when va is canonical for the walker's paging mode. */
int vmi_x86_canonical(const struct vmi_x86 *x, uint64_t va);

/* Translate one address. On error *out holds fail_level/fail_entry. */
int vmi_x86_translate(struct vmi_x86 *x, uint64_t va, struct vmi_x86_xlat *out);

/* Same without the cache (neither read nor filled). */
int vmi_x86_walk(const struct vmi_x86 *x, uint64_t va, struct vmi_x86_xlat *out);

/* Read len bytes at virtual va, crossing pages; all-or-nothing. */
int vmi_x86_read(struct vmi_x86 *x, uint64_t va, void *buf, size_t len);

/* Host pointer to the virtual range [va, va+len) when it is mapped to
 * physically contiguous memory inside one host-backed region of the source.
 * Costs one translation per page (cached). */
int vmi_x86_direct(struct vmi_x86 *x, uint64_t va, size_t len, const void **out);

const char *vmi_x86_strerror(int code);

#endif

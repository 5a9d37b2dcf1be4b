/* Page-table builder for tests and benchmarks: lays out x86-64 paging
 * structures (4 or 5 levels) inside a host buffer that a test exposes as
 * guest RAM starting at guest-physical ram_gpa. */
#ifndef RW_TESTS_LIB_PTB_H
#define RW_TESTS_LIB_PTB_H

#include <stddef.h>
#include <stdint.h>

struct ptb {
	uint8_t *ram;      /* host view of guest RAM */
	uint64_t ram_gpa;  /* guest-physical address of ram[0] */
	size_t ram_size;
	uint64_t next;     /* next free 4 KiB frame (guest-physical) for tables */
	uint64_t limit;    /* end of the table area (guest-physical) */
	unsigned levels;   /* 4 or 5 */
	uint64_t root;     /* guest-physical address of the PML4/PML5 */
};

/* Tables are allocated from [table_gpa, table_gpa + table_bytes). */
int ptb_init(struct ptb *b, uint8_t *ram, uint64_t ram_gpa, size_t ram_size,
	     uint64_t table_gpa, size_t table_bytes, unsigned levels);

#define PTB_FULL UINT64_MAX

/* Zeroed 4 KiB table; returns its guest-physical address or PTB_FULL. */
uint64_t ptb_alloc_table(struct ptb *b);

/* Map va -> pa with the given page size (4 KiB, 2 MiB, 1 GiB). Missing
 * intermediate tables are created with P|W|U; leaf = pa | leaf_flags | P
 * (| PS for large pages). Returns 0 or -1 (misaligned, conflict, full). */
int ptb_map(struct ptb *b, uint64_t va, uint64_t pa, uint64_t page_size, uint64_t leaf_flags);

/* Host pointer to the entry for va at level (levels..1), or NULL when an
 * upper level is not present / is a large page. */
uint64_t *ptb_entry(struct ptb *b, uint64_t va, unsigned level);

/* Host pointer for a guest-physical address inside ram (NULL if outside). */
uint8_t *ptb_host(struct ptb *b, uint64_t gpa);

#endif

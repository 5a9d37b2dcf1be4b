#include "tests/lib/ptb.h"

#include <string.h>

#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_U 4ull
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

uint8_t *ptb_host(struct ptb *b, uint64_t gpa)
{
	if (gpa < b->ram_gpa || gpa - b->ram_gpa >= b->ram_size)
		return NULL;
	return b->ram + (gpa - b->ram_gpa);
}

uint64_t ptb_alloc_table(struct ptb *b)
{
	if (b->next + 4096 > b->limit)
		return PTB_FULL;
	uint64_t t = b->next;
	b->next += 4096;
	memset(ptb_host(b, t), 0, 4096);
	return t;
}

int ptb_init(struct ptb *b, uint8_t *ram, uint64_t ram_gpa, size_t ram_size,
	     uint64_t table_gpa, size_t table_bytes, unsigned levels)
{
	memset(b, 0, sizeof(*b));
	if ((levels != 4 && levels != 5) || (table_gpa & 0xfff) || table_gpa < ram_gpa ||
	    table_gpa - ram_gpa + table_bytes > ram_size)
		return -1;
	b->ram = ram;
	b->ram_gpa = ram_gpa;
	b->ram_size = ram_size;
	b->next = table_gpa;
	b->limit = table_gpa + table_bytes;
	b->levels = levels;
	b->root = ptb_alloc_table(b);
	return b->root == PTB_FULL ? -1 : 0;
}

static uint64_t *slot(struct ptb *b, uint64_t table, uint64_t va, unsigned level)
{
	uint8_t *t = ptb_host(b, table);
	if (!t)
		return NULL;
	unsigned idx = (unsigned)((va >> (12 + 9 * (level - 1))) & 511);
	return (uint64_t *)(void *)(t + idx * 8);
}

uint64_t *ptb_entry(struct ptb *b, uint64_t va, unsigned level)
{
	uint64_t table = b->root;
	for (unsigned l = b->levels; l > level; l--) {
		uint64_t *e = slot(b, table, va, l);
		if (!e || !(*e & PTE_P) || (l <= 3 && (*e & PTE_PS)))
			return NULL;
		table = *e & ADDR_MASK;
	}
	return slot(b, table, va, level);
}

int ptb_map(struct ptb *b, uint64_t va, uint64_t pa, uint64_t page_size, uint64_t leaf_flags)
{
	unsigned leaf_level = page_size == 4096 ? 1 : page_size == (1ull << 21) ? 2 :
			      page_size == (1ull << 30) ? 3 : 0;
	if (!leaf_level || (pa & (page_size - 1)) || (va & (page_size - 1)))
		return -1;
	uint64_t table = b->root;
	for (unsigned l = b->levels; l > leaf_level; l--) {
		uint64_t *e = slot(b, table, va, l);
		if (!e)
			return -1;
		if (!(*e & PTE_P)) {
			uint64_t t = ptb_alloc_table(b);
			if (t == PTB_FULL)
				return -1;
			*e = t | PTE_P | PTE_W | PTE_U;
		} else if (l <= 3 && (*e & PTE_PS)) {
			return -1;
		}
		table = *e & ADDR_MASK;
	}
	uint64_t *e = slot(b, table, va, leaf_level);
	if (!e)
		return -1;
	*e = pa | leaf_flags | PTE_P | (leaf_level > 1 ? PTE_PS : 0);
	return 0;
}

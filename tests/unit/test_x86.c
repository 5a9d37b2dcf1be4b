/* x86-64 page-table walker over crafted page tables in a host buffer. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/ptb.h"
#include "vmi/mem.h"
#include "vmi/x86.h"

#define RAM_SIZE (8u << 20)
#define TABLES_BYTES (1u << 20)
#define EFER_LMA_NXE (VMI_X86_EFER_LMA | VMI_X86_EFER_NXE | (1u << 8))
#define CR4_4L VMI_X86_CR4_PAE
#define CR4_5L (VMI_X86_CR4_PAE | VMI_X86_CR4_LA57)

struct fx {
	uint8_t *ram;
	struct ptb b;
	struct vmi_mem *mem;
	struct vmi_x86 x;
};

static struct fx *fx_new(unsigned levels)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	for (size_t i = 0; i < RAM_SIZE; i++)
		f->ram[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(ptb_init(&f->b, f->ram, 0, RAM_SIZE, 0, TABLES_BYTES, levels), 0);
	struct vmi_mem_region r = { .gpa = 0, .size = RAM_SIZE, .host = f->ram };
	char err[256];
	assert_int_equal(vmi_mem_open_host(&r, 1, &f->mem, err, sizeof(err)), 0);
	assert_int_equal(vmi_x86_init(&f->x, f->mem, f->b.root,
				      levels == 5 ? CR4_5L : CR4_4L, EFER_LMA_NXE),
			 0);
	return f;
}

static void fx_free(struct fx *f)
{
	vmi_mem_close(f->mem);
	free(f->ram);
	free(f);
}

static void test_4k_page(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0xffffffff81234000ull, pa = 0x300000;
	assert_int_equal(ptb_map(&f->b, va, pa, 4096, VMI_PTE_W), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&f->x, va + 0x123, &t), 0);
	assert_int_equal(t.pa, pa + 0x123);
	assert_int_equal(t.page_size, 4096);
	assert_true(t.writable);
	assert_false(t.nx);
	assert_false(t.user); /* intermediates are U, the leaf is not */
	uint8_t buf[64];
	assert_int_equal(vmi_x86_read(&f->x, va + 0x100, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, f->ram + pa + 0x100, sizeof(buf));
	/* neighbouring page unmapped */
	assert_int_equal(vmi_x86_translate(&f->x, va + 4096, &t), VMI_X86_E_NOT_PRESENT);
	assert_int_equal(t.fail_level, 1);
	fx_free(f);
}

static void test_user_bit_from_leaf(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	assert_int_equal(ptb_map(&f->b, 0x400000, 0x300000, 4096, 0), 0);
	assert_int_equal(ptb_map(&f->b, 0x401000, 0x301000, 4096, VMI_PTE_U), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&f->x, 0x400000, &t), 0);
	assert_false(t.user);
	assert_false(t.writable);
	assert_int_equal(vmi_x86_translate(&f->x, 0x401000, &t), 0);
	assert_true(t.user);
	fx_free(f);
}

static void test_2m_page(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0xffffffff81000000ull, pa = 0x400000;
	assert_int_equal(ptb_map(&f->b, va, pa, 2u << 20, VMI_PTE_XD), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&f->x, va + 0x1abcde, &t), 0);
	assert_int_equal(t.pa, pa + 0x1abcde);
	assert_int_equal(t.page_size, 2u << 20);
	assert_true(t.nx);
	assert_false(t.writable);
	/* a 2 MiB page is one physical run: direct pointer for all of it */
	const void *p;
	assert_int_equal(vmi_x86_direct(&f->x, va, 2u << 20, &p), 0);
	assert_ptr_equal(p, f->ram + pa);
	fx_free(f);
}

static void test_1g_page(void **state)
{
	(void)state;
	/* RAM: tables at gpa 0 plus a 64 KiB window at gpa 1 GiB. */
	uint8_t *ram = aligned_alloc(4096, TABLES_BYTES);
	uint8_t *hi = aligned_alloc(4096, 65536);
	assert_non_null(ram);
	assert_non_null(hi);
	for (int i = 0; i < 65536; i++)
		hi[i] = (uint8_t)(i ^ 0x5a);
	struct ptb b;
	assert_int_equal(ptb_init(&b, ram, 0, TABLES_BYTES, 0, TABLES_BYTES, 4), 0);
	assert_int_equal(ptb_map(&b, 0xffff888000000000ull, 1ull << 30, 1ull << 30, VMI_PTE_W), 0);
	struct vmi_mem_region r[2] = { { 0, TABLES_BYTES, ram }, { 1ull << 30, 65536, hi } };
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_host(r, 2, &m, NULL, 0), 0);
	struct vmi_x86 x;
	assert_int_equal(vmi_x86_init(&x, m, b.root, CR4_4L, EFER_LMA_NXE), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&x, 0xffff888000001234ull, &t), 0);
	assert_int_equal(t.pa, (1ull << 30) + 0x1234);
	assert_int_equal(t.page_size, 1ull << 30);
	uint8_t buf[16];
	assert_int_equal(vmi_x86_read(&x, 0xffff888000001234ull, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, hi + 0x1234, sizeof(buf));
	/* beyond the 64 KiB window: translation fine, no RAM behind it */
	assert_int_equal(vmi_x86_translate(&x, 0xffff888000100000ull, &t), 0);
	assert_int_equal(vmi_x86_read(&x, 0xffff888000100000ull, buf, 1), VMI_X86_E_PHYS);
	const void *p;
	assert_int_equal(vmi_x86_direct(&x, 0xffff888000100000ull, 16, &p), VMI_X86_E_PHYS);
	/* straddling the window end: partially backed -> not readable */
	assert_int_equal(vmi_x86_read(&x, 0xffff888000000000ull + 65536 - 8, buf, 16),
			 VMI_X86_E_PHYS);
	vmi_mem_close(m);
	free(ram);
	free(hi);
}

static void test_la57(void **state)
{
	(void)state;
	struct fx *f = fx_new(5);
	/* An address only 5-level paging can express (bits 56:48 not a sign
	 * extension of bit 47), as the LA57 guest's direct map uses. */
	const uint64_t va = 0xff3716f61e401000ull;
	assert_int_equal(ptb_map(&f->b, va, 0x500000, 4096, VMI_PTE_W | VMI_PTE_XD), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&f->x, va + 8, &t), 0);
	assert_int_equal(t.pa, 0x500008);
	assert_true(t.nx);
	/* also a 2 MiB and 1 GiB leaf under 5 levels */
	assert_int_equal(ptb_map(&f->b, 0xff11000000200000ull, 0x600000, 2u << 20, 0), 0);
	assert_int_equal(vmi_x86_translate(&f->x, 0xff11000000300000ull, &t), 0);
	assert_int_equal(t.pa, 0x700000);
	assert_int_equal(ptb_map(&f->b, 0x0001000040000000ull, 0x40000000, 1ull << 30, 0), 0);
	assert_int_equal(vmi_x86_translate(&f->x, 0x0001000040000010ull, &t), 0);
	assert_int_equal(t.pa, 0x40000010);
	assert_int_equal(t.page_size, 1ull << 30);
	/* non-canonical for 57 bits: bit 56 set, bits 63:57 clear */
	assert_int_equal(vmi_x86_translate(&f->x, 0x0100000000000000ull, &t),
			 VMI_X86_E_NONCANONICAL);
	/* the same address is non-canonical with 4 levels */
	struct vmi_x86 x4;
	assert_int_equal(vmi_x86_init(&x4, f->mem, f->b.root, CR4_4L, EFER_LMA_NXE), 0);
	assert_int_equal(vmi_x86_translate(&x4, va, &t), VMI_X86_E_NONCANONICAL);
	fx_free(f);
}

static void test_noncanonical_4level(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	struct vmi_x86_xlat t;
	static const uint64_t bad[] = { 0x0000800000000000ull, 0xffff7fffffffffffull,
					0x8000000000000000ull, 0x00ff000000000000ull };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vmi_x86_translate(&f->x, bad[i], &t), VMI_X86_E_NONCANONICAL);
	assert_true(vmi_x86_canonical(&f->x, 0x00007fffffffffffull));
	assert_true(vmi_x86_canonical(&f->x, 0xffff800000000000ull));
	assert_false(vmi_x86_canonical(&f->x, 0x0000800000000000ull));
	fx_free(f);
}

/* Every combination of W/U/XD at each of the 4 levels of a 4 KiB mapping. */
static void test_permission_combinations(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0x00007f0000001000ull;
	assert_int_equal(ptb_map(&f->b, va, 0x300000, 4096, 0), 0);
	uint64_t *e[5];
	for (unsigned l = 1; l <= 4; l++) {
		e[l] = ptb_entry(&f->b, va, l);
		assert_non_null(e[l]);
	}
	const uint64_t bits[3] = { VMI_PTE_W, VMI_PTE_U, VMI_PTE_XD };
	for (unsigned combo = 0; combo < (1u << 12); combo++) {
		bool w = true, u = true, nx = false;
		for (unsigned l = 1; l <= 4; l++) {
			unsigned c = (combo >> ((l - 1) * 3)) & 7;
			*e[l] &= ~(VMI_PTE_W | VMI_PTE_U | VMI_PTE_XD);
			for (unsigned k = 0; k < 3; k++)
				if (c & (1u << k))
					*e[l] |= bits[k];
			w = w && (c & 1);
			u = u && (c & 2);
			nx = nx || (c & 4);
		}
		struct vmi_x86_xlat t;
		assert_int_equal(vmi_x86_walk(&f->x, va, &t), 0);
		assert_int_equal(t.writable, w);
		assert_int_equal(t.user, u);
		assert_int_equal(t.nx, nx);
		assert_int_equal(t.pa, 0x300000);
	}
	fx_free(f);
}

static void test_nxe_off(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0x1000000;
	assert_int_equal(ptb_map(&f->b, va, 0x300000, 4096, 0), 0);
	struct vmi_x86 x;
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root, CR4_4L, VMI_X86_EFER_LMA), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_walk(&x, va, &t), 0);
	assert_false(t.nx);
	/* XD is reserved without EFER.NXE: at the leaf and at an upper level */
	*ptb_entry(&f->b, va, 1) |= VMI_PTE_XD;
	assert_int_equal(vmi_x86_walk(&x, va, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 1);
	*ptb_entry(&f->b, va, 1) &= ~VMI_PTE_XD;
	*ptb_entry(&f->b, va, 3) |= VMI_PTE_XD;
	assert_int_equal(vmi_x86_walk(&x, va, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 3);
	/* with NXE the same tables are fine and NX */
	assert_int_equal(vmi_x86_walk(&f->x, va, &t), 0);
	assert_true(t.nx);
	fx_free(f);
}

static void test_reserved_bits(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	struct vmi_x86_xlat t;
	const uint64_t va4k = 0x1000000, va2m = 0x40000000, va1g = 0x8000000000ull;
	assert_int_equal(ptb_map(&f->b, va4k, 0x300000, 4096, 0), 0);
	assert_int_equal(ptb_map(&f->b, va2m, 0x400000, 2u << 20, 0), 0);
	assert_int_equal(ptb_map(&f->b, va1g, 0x40000000, 1u << 30, 0), 0);

	/* 2 MiB leaf: bits 20:13 reserved, bit 12 (PAT) allowed */
	uint64_t *pde = ptb_entry(&f->b, va2m, 2);
	*pde |= 1ull << 12;
	assert_int_equal(vmi_x86_walk(&f->x, va2m, &t), 0);
	assert_int_equal(t.pa, 0x400000);
	*pde |= 1ull << 13;
	assert_int_equal(vmi_x86_walk(&f->x, va2m, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 2);
	*pde &= ~(1ull << 13);
	*pde |= 1ull << 20;
	assert_int_equal(vmi_x86_walk(&f->x, va2m, &t), VMI_X86_E_RESERVED);
	*pde &= ~(1ull << 20);

	/* 1 GiB leaf: bits 29:13 reserved */
	uint64_t *pdpte = ptb_entry(&f->b, va1g, 3);
	*pdpte |= 1ull << 29;
	assert_int_equal(vmi_x86_walk(&f->x, va1g, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 3);
	*pdpte &= ~(1ull << 29);
	assert_int_equal(vmi_x86_walk(&f->x, va1g, &t), 0);

	/* PS in a PML4E is reserved */
	uint64_t *pml4e = ptb_entry(&f->b, va4k, 4);
	*pml4e |= VMI_PTE_PS;
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 4);
	*pml4e &= ~VMI_PTE_PS;

	/* bits above MAXPHYADDR */
	uint64_t *pte = ptb_entry(&f->b, va4k, 1);
	*pte |= 1ull << 47;
	/* with MAXPHYADDR 52, bit 47 is an address bit: a leaf outside RAM is
	 * still a valid translation */
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), 0);
	assert_int_equal(t.pa, (1ull << 47) | 0x300000);
	assert_int_equal(vmi_x86_set_maxphyaddr(&f->x, 46), 0);
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 1);
	*pte &= ~(1ull << 47);
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), 0);
	/* bit 51 is reserved whenever MAXPHYADDR < 52 */
	*ptb_entry(&f->b, va4k, 2) |= 1ull << 51;
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 2);
	/* bits 52..62 are ignored (software / protection keys) */
	*ptb_entry(&f->b, va4k, 2) &= ~(1ull << 51);
	*pte |= 0x7ffull << 52;
	assert_int_equal(vmi_x86_walk(&f->x, va4k, &t), 0);
	assert_int_equal(t.pa, 0x300000);
	fx_free(f);
}

static void test_outside_ram(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0x2000000;
	assert_int_equal(ptb_map(&f->b, va, 0x300000, 4096, 0), 0);
	struct vmi_x86_xlat t;
	/* a PDPT pointer beyond the 8 MiB of RAM */
	uint64_t *pml4e = ptb_entry(&f->b, va, 4);
	uint64_t saved = *pml4e;
	*pml4e = 0x100000000ull | VMI_PTE_P | VMI_PTE_W;
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), VMI_X86_E_TABLE_OUTSIDE_RAM);
	assert_int_equal(t.fail_level, 3);
	*pml4e = saved;
	/* CR3 itself outside RAM */
	assert_int_equal(vmi_x86_set_cr3(&f->x, 0x7fff0000000ull), 0);
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), VMI_X86_E_TABLE_OUTSIDE_RAM);
	assert_int_equal(t.fail_level, 4);
	assert_int_equal(vmi_x86_set_cr3(&f->x, f->b.root), 0);
	/* leaf beyond RAM: translation succeeds, reads fail */
	*ptb_entry(&f->b, va, 1) = 0x40000000ull | VMI_PTE_P;
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	assert_int_equal(t.pa, 0x40000000ull);
	uint8_t b;
	assert_int_equal(vmi_x86_read(&f->x, va, &b, 1), VMI_X86_E_PHYS);
	fx_free(f);
}

static void test_self_reference(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	uint64_t *root = (uint64_t *)(void *)ptb_host(&f->b, f->b.root);
	/* recursive slot 511: PML4[511] -> PML4 */
	root[511] = f->b.root | VMI_PTE_P | VMI_PTE_W;
	struct vmi_x86_xlat t;
	/* all indices 511: every level reads the root; the "page" is the root */
	assert_int_equal(vmi_x86_translate(&f->x, 0xfffffffffffff008ull, &t), 0);
	assert_int_equal(t.pa, f->b.root + 8);
	assert_int_equal(t.page_size, 4096);
	/* PS in the recursive PML4E is reserved (the cache must be flushed
	 * to see the change) */
	root[511] = f->b.root | VMI_PTE_P | VMI_PTE_PS;
	assert_int_equal(vmi_x86_translate(&f->x, 0xfffffffffffff000ull, &t), 0);
	vmi_x86_flush(&f->x);
	assert_int_equal(vmi_x86_translate(&f->x, 0xfffffffffffff000ull, &t), VMI_X86_E_RESERVED);
	assert_int_equal(t.fail_level, 4);
	/* every entry of every table points at the root: still 4 reads */
	for (int i = 0; i < 512; i++)
		root[i] = f->b.root | VMI_PTE_P;
	vmi_x86_flush(&f->x);
	for (uint64_t va = 0; va < (1ull << 47); va += 0x0000123456789000ull) {
		int rc = vmi_x86_translate(&f->x, va, &t);
		assert_int_equal(rc, 0);
		assert_int_equal(t.pa, f->b.root | (va & 0xfff));
	}
	fx_free(f);
}

static void test_pcid_and_cr3(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0x3000000;
	assert_int_equal(ptb_map(&f->b, va, 0x300000, 4096, 0), 0);
	struct vmi_x86 x;
	struct vmi_x86_xlat t;
	/* PCID 0x123 in CR3 bits 11:0, plus the no-flush bit 63 */
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root | 0x123 | (1ull << 63),
				      CR4_4L | VMI_X86_CR4_PCIDE, EFER_LMA_NXE),
			 0);
	assert_int_equal(vmi_x86_translate(&x, va, &t), 0);
	assert_int_equal(t.pa, 0x300000);
	/* reserved CR3 bits (above MAXPHYADDR, below 61) */
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root | (1ull << 55), CR4_4L, EFER_LMA_NXE),
			 VMI_X86_E_RESERVED);
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root, CR4_4L, EFER_LMA_NXE), 0);
	assert_int_equal(vmi_x86_set_maxphyaddr(&x, 40), 0);
	assert_int_equal(vmi_x86_set_cr3(&x, f->b.root | (1ull << 40)), VMI_X86_E_RESERVED);
	assert_int_equal(x.cr3, f->b.root); /* unchanged on error */
	assert_int_equal(vmi_x86_set_maxphyaddr(&x, 53), VMI_X86_E_ARG);
	/* not long mode */
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root, CR4_4L, 0), VMI_X86_E_MODE);
	assert_int_equal(vmi_x86_init(&x, f->mem, f->b.root, 0, EFER_LMA_NXE), VMI_X86_E_MODE);
	fx_free(f);
}

static void test_cache(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0x4000000;
	assert_int_equal(ptb_map(&f->b, va, 0x300000, 4096, VMI_PTE_W), 0);
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	assert_int_equal(f->x.tlb_misses, 1);
	assert_int_equal(vmi_x86_translate(&f->x, va + 0x10, &t), 0);
	assert_int_equal(f->x.tlb_hits, 1);
	assert_int_equal(t.pa, 0x300010);
	assert_true(t.writable);
	/* guest remaps the page: the cache keeps the old translation ... */
	*ptb_entry(&f->b, va, 1) = 0x301000 | VMI_PTE_P;
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	assert_int_equal(t.pa, 0x300000);
	/* ... until the caller flushes */
	vmi_x86_flush(&f->x);
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	assert_int_equal(t.pa, 0x301000);
	assert_false(t.writable);
	/* set_cr3 flushes: an empty root makes the page disappear */
	struct ptb b2 = f->b;
	uint64_t root2 = ptb_alloc_table(&b2);
	assert_int_not_equal(root2, PTB_FULL);
	assert_int_equal(vmi_x86_set_cr3(&f->x, root2), 0);
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), VMI_X86_E_NOT_PRESENT);
	/* failed translations are not cached */
	assert_int_equal(vmi_x86_set_cr3(&f->x, f->b.root), 0);
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	/* two VPNs sharing a cache slot evict each other correctly */
	const uint64_t va2 = va + (uint64_t)VMI_X86_TLB_SIZE * 4096;
	assert_int_equal(ptb_map(&f->b, va2, 0x302000, 4096, 0), 0);
	assert_int_equal(vmi_x86_translate(&f->x, va2, &t), 0);
	assert_int_equal(t.pa, 0x302000);
	assert_int_equal(vmi_x86_translate(&f->x, va, &t), 0);
	assert_int_equal(t.pa, 0x301000);
	/* a cached 2 MiB page answers for all its 4 KiB frames */
	assert_int_equal(ptb_map(&f->b, 0x40000000, 0x400000, 2u << 20, 0), 0);
	assert_int_equal(vmi_x86_translate(&f->x, 0x40005000, &t), 0);
	assert_int_equal(vmi_x86_translate(&f->x, 0x40005fff, &t), 0);
	assert_int_equal(t.pa, 0x405fff);
	assert_int_equal(t.page_size, 2u << 20);
	fx_free(f);
}

static void test_read_and_direct_across_pages(void **state)
{
	(void)state;
	struct fx *f = fx_new(4);
	const uint64_t va = 0xffffffffc0000000ull;
	/* two virtual pages on non-adjacent frames, then two on adjacent ones */
	assert_int_equal(ptb_map(&f->b, va, 0x305000, 4096, 0), 0);
	assert_int_equal(ptb_map(&f->b, va + 4096, 0x300000, 4096, 0), 0);
	assert_int_equal(ptb_map(&f->b, va + 8192, 0x310000, 4096, 0), 0);
	assert_int_equal(ptb_map(&f->b, va + 12288, 0x311000, 4096, 0), 0);
	uint8_t buf[200];
	assert_int_equal(vmi_x86_read(&f->x, va + 4096 - 100, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, f->ram + 0x305000 + 4096 - 100, 100);
	assert_memory_equal(buf + 100, f->ram + 0x300000, 100);
	const void *p;
	assert_int_equal(vmi_x86_direct(&f->x, va + 4096 - 100, 200, &p), VMI_X86_E_NOT_CONTIG);
	assert_int_equal(vmi_x86_direct(&f->x, va + 8192 + 10, 8000, &p), 0);
	assert_ptr_equal(p, f->ram + 0x310000 + 10);
	/* running into an unmapped page */
	assert_int_equal(vmi_x86_read(&f->x, va + 12288, buf, 100), 0);
	uint8_t big[8192];
	assert_int_equal(vmi_x86_read(&f->x, va + 12288, big, sizeof(big)),
			 VMI_X86_E_NOT_PRESENT);
	/* arguments */
	assert_int_equal(vmi_x86_read(&f->x, 0xfffffffffffffff0ull, buf, 32), VMI_X86_E_ARG);
	assert_int_equal(vmi_x86_direct(&f->x, va, 0, &p), VMI_X86_E_ARG);
	assert_int_equal(vmi_x86_read(&f->x, va, buf, 0), 0);
	fx_free(f);
}

/* Physically adjacent frames in two separate host regions: readable, but
 * no single host pointer. */
static void test_direct_across_regions(void **state)
{
	(void)state;
	uint8_t *lo = aligned_alloc(4096, 2u << 20);
	uint8_t *hi = aligned_alloc(4096, 1u << 20);
	assert_non_null(lo);
	assert_non_null(hi);
	memset(hi, 0xab, 1u << 20);
	struct ptb b;
	assert_int_equal(ptb_init(&b, lo, 0, 2u << 20, 0, 1u << 20, 4), 0);
	memset(lo + (1u << 20), 0xcd, 1u << 20);
	const uint64_t va = 0x7000000;
	assert_int_equal(ptb_map(&b, va, (2u << 20) - 4096, 4096, 0), 0);
	assert_int_equal(ptb_map(&b, va + 4096, 2u << 20, 4096, 0), 0);
	struct vmi_mem_region r[2] = { { 0, 2u << 20, lo }, { 2u << 20, 1u << 20, hi } };
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_host(r, 2, &m, NULL, 0), 0);
	struct vmi_x86 x;
	assert_int_equal(vmi_x86_init(&x, m, b.root, CR4_4L, EFER_LMA_NXE), 0);
	uint8_t buf[8];
	assert_int_equal(vmi_x86_read(&x, va + 4092, buf, 8), 0);
	static const uint8_t want[8] = { 0xcd, 0xcd, 0xcd, 0xcd, 0xab, 0xab, 0xab, 0xab };
	assert_memory_equal(buf, want, 8);
	const void *p;
	assert_int_equal(vmi_x86_direct(&x, va + 4092, 8, &p), VMI_X86_E_NOT_CONTIG);
	vmi_mem_close(m);
	free(lo);
	free(hi);
}

/* A backend with its own read op (no region table, no pointers) that counts
 * reads: the walk must cost exactly one entry read per level. */
struct counting_mem {
	struct vmi_mem base;
	const uint8_t *ram;
	size_t size;
	unsigned reads;
};

static int counting_read(const struct vmi_mem *m, uint64_t gpa, void *buf, size_t len)
{
	struct counting_mem *c = (struct counting_mem *)(uintptr_t)m;
	c->reads++;
	if (gpa >= c->size || len > c->size - gpa)
		return VMI_MEM_E_HOLE;
	memcpy(buf, c->ram + gpa, len);
	return 0;
}

static const struct vmi_mem_ops counting_ops = { .kind = "counting", .read = counting_read };

static void test_walk_cost_custom_source(void **state)
{
	(void)state;
	for (unsigned levels = 4; levels <= 5; levels++) {
		struct fx *f = fx_new(levels);
		struct counting_mem c = { .base = { .ops = &counting_ops }, .ram = f->ram,
					  .size = RAM_SIZE };
		struct vmi_x86 x;
		uint64_t cr4 = levels == 5 ? CR4_5L : CR4_4L;
		assert_int_equal(vmi_x86_init(&x, &c.base, f->b.root, cr4, EFER_LMA_NXE), 0);
		assert_int_equal(ptb_map(&f->b, 0x5000000, 0x300000, 4096, 0), 0);
		struct vmi_x86_xlat t;
		c.reads = 0;
		assert_int_equal(vmi_x86_walk(&x, 0x5000010, &t), 0);
		assert_int_equal(t.pa, 0x300010);
		assert_int_equal(c.reads, levels);
		/* a 2 MiB leaf stops one level early */
		assert_int_equal(ptb_map(&f->b, 0x40000000, 0x400000, 2u << 20, 0), 0);
		c.reads = 0;
		assert_int_equal(vmi_x86_walk(&x, 0x40000000, &t), 0);
		assert_int_equal(c.reads, levels - 1);
		/* fully self-referencing tables: still one read per level */
		uint64_t *root = (uint64_t *)(void *)ptb_host(&f->b, f->b.root);
		for (int i = 0; i < 512; i++)
			root[i] = f->b.root | VMI_PTE_P | VMI_PTE_W;
		c.reads = 0;
		assert_int_equal(vmi_x86_walk(&x, 0x1234567000ull, &t), 0);
		assert_int_equal(c.reads, levels);
		/* cached translation: no read at all */
		assert_int_equal(vmi_x86_translate(&x, 0x1234567000ull, &t), 0);
		c.reads = 0;
		assert_int_equal(vmi_x86_translate(&x, 0x1234567008ull, &t), 0);
		assert_int_equal(c.reads, 0);
		/* reads go through the custom op; no direct pointers from it */
		uint8_t b[16];
		assert_int_equal(vmi_x86_read(&x, 0x1234567000ull, b, sizeof(b)), 0);
		assert_memory_equal(b, f->ram + f->b.root, sizeof(b));
		const void *p;
		assert_int_equal(vmi_x86_direct(&x, 0x1234567000ull, 16, &p), VMI_X86_E_NOT_CONTIG);
		fx_free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_4k_page),
		cmocka_unit_test(test_user_bit_from_leaf),
		cmocka_unit_test(test_2m_page),
		cmocka_unit_test(test_1g_page),
		cmocka_unit_test(test_la57),
		cmocka_unit_test(test_noncanonical_4level),
		cmocka_unit_test(test_permission_combinations),
		cmocka_unit_test(test_nxe_off),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_outside_ram),
		cmocka_unit_test(test_self_reference),
		cmocka_unit_test(test_pcid_and_cr3),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_read_and_direct_across_pages),
		cmocka_unit_test(test_direct_across_regions),
		cmocka_unit_test(test_walk_cost_custom_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* vmi/linux: identity scan, KASLR anchors and attach (synthetic guest memory
 * holding the kit's real vmlinux at a chosen slide), module walkers over
 * crafted structures including hostile lists. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/lib/ptb.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"

#define EFER_LONG 0xd00ull /* LME | LMA | NXE */
#define CR4_PAE 0x20ull
#define PTE_W 2ull
#define PTE_XD (1ull << 63)

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- a small guest: RAM at GPA 0, 4 KiB mappings of one VA window ---------- */

#define RAM_SIZE (8u << 20)
#define TABLES 0x600000ull  /* page tables in [6 MiB, 8 MiB) */
#define WIN_VA 0xffffffffc0000000ull /* module area */
#define WIN_PA 0x100000ull
#define WIN_SIZE (2u << 20)

struct small {
	uint8_t *ram;
	struct ptb b;
	struct vmi_mem *mem;
	struct vmi_x86 x;
};

static void small_open(struct small *g, unsigned levels)
{
	char err[256];
	g->ram = calloc(1, RAM_SIZE);
	assert_non_null(g->ram);
	assert_int_equal(ptb_init(&g->b, g->ram, 0, RAM_SIZE, TABLES, RAM_SIZE - TABLES, levels), 0);
	for (uint64_t off = 0; off < WIN_SIZE; off += 4096)
		assert_int_equal(ptb_map(&g->b, WIN_VA + off, WIN_PA + off, 4096, PTE_W), 0);
	struct vmi_mem_region r = { 0, RAM_SIZE, g->ram };
	assert_int_equal(vmi_mem_open_host(&r, 1, &g->mem, err, sizeof(err)), 0);
	assert_int_equal(vmi_x86_init(&g->x, g->mem, g->b.root, CR4_PAE | (levels == 5 ? 1u << 12 : 0),
				      EFER_LONG), 0);
}

static void small_close(struct small *g)
{
	vmi_mem_close(g->mem);
	free(g->ram);
}

static uint8_t *at(struct small *g, uint64_t va)
{
	assert_true(va >= WIN_VA && va - WIN_VA < WIN_SIZE);
	return g->ram + WIN_PA + (va - WIN_VA);
}

/* ---- module walker -------------------------------------------------------- */

/* A made-up struct layout (the walker takes any; BTF gives the real one). */
static const struct vmi_linux_layout L = {
	.module_size = 512,
	.module_state = 0,
	.module_list = 8,
	.module_name = 24,
	.module_name_len = 56,
	.module_core_base = 320,
	.module_core_size = 328,
	.module_core_size_len = 4,
	.module_text_size = 332,
	.module_text_size_len = 4,
	.kobject_name = 0,
	.kobject_entry = 8,
	.kset_list = 0,
	.mkobj_kobj = 0,
	.mkobj_mod = 64,
};
#define MKOBJ_IN_MODULE 96 /* where this layout's module has its module_kobject */

#define MODULES_HEAD (WIN_VA + 0x0)   /* list_head modules */
#define KSET_VAR (WIN_VA + 0x10)      /* struct kset *module_kset */
#define KSET (WIN_VA + 0x100)         /* struct kset */
#define MOD(i) (WIN_VA + 0x10000 + (uint64_t)(i) * 0x1000)
#define NAMES (WIN_VA + 0x8000)

static void list_link(struct small *g, const uint64_t *nodes, size_t n, uint64_t head)
{
	for (size_t i = 0; i <= n; i++) {
		uint64_t cur = i == 0 ? head : nodes[i - 1];
		uint64_t next = i == n ? head : nodes[i];
		put_le(at(g, cur), next, 8);
		put_le(at(g, next) + 8, cur, 8);
	}
}

static uint64_t kobj_of(uint64_t mod)
{
	return mod + MKOBJ_IN_MODULE + L.mkobj_kobj;
}

static void make_module(struct small *g, unsigned i, const char *name, const char *kname)
{
	uint8_t *m = at(g, MOD(i));
	memset(m, 0, L.module_size);
	put_le(m + L.module_state, 0, 4);
	snprintf((char *)m + L.module_name, L.module_name_len, "%s", name);
	put_le(m + L.module_core_base, 0xffffffffc1000000ull + i * 0x10000, 8);
	put_le(m + L.module_core_size, 0x3000 + i, 4);
	put_le(m + L.module_text_size, 0x1000 + i, 4);
	uint64_t kobj = kobj_of(MOD(i));
	uint64_t nm = NAMES + i * 64;
	snprintf((char *)at(g, nm), 64, "%s", kname ? kname : name);
	put_le(at(g, kobj + L.kobject_name), nm, 8);
	put_le(at(g, kobj - L.mkobj_kobj + L.mkobj_mod), MOD(i), 8);
}

/* 3 modules on both lists, one built-in kset entry (mod NULL). */
static void make_modules(struct small *g)
{
	for (unsigned i = 0; i < 3; i++) {
		char n[16];
		snprintf(n, sizeof(n), "mod%u", i);
		make_module(g, i, n, NULL);
	}
	/* built-in: a bare module_kobject at MOD(9) with mod = NULL */
	uint64_t bkobj = MOD(9);
	memset(at(g, bkobj), 0, 128);
	snprintf((char *)at(g, NAMES + 9 * 64), 64, "builtin");
	put_le(at(g, bkobj + L.kobject_name), NAMES + 9 * 64, 8);
	uint64_t list[3] = { MOD(0) + L.module_list, MOD(1) + L.module_list, MOD(2) + L.module_list };
	list_link(g, list, 3, MODULES_HEAD);
	uint64_t kset[4] = { kobj_of(MOD(0)) + L.kobject_entry, bkobj + L.kobject_entry,
			     kobj_of(MOD(1)) + L.kobject_entry, kobj_of(MOD(2)) + L.kobject_entry };
	list_link(g, kset, 4, KSET + L.kset_list);
	put_le(at(g, KSET_VAR), KSET, 8);
}

static int walk(struct small *g, struct vmi_linux_modules *m, size_t max, char *err, size_t len)
{
	return vmi_linux_walk_modules(&g->x, &L, MODULES_HEAD, KSET_VAR, max, m, err, len);
}

static void test_walk_ok(void **state)
{
	(void)state;
	for (unsigned levels = 4; levels <= 5; levels++) {
		struct small g;
		struct vmi_linux_modules m;
		char err[256];
		small_open(&g, levels);
		make_modules(&g);
		assert_int_equal(walk(&g, &m, 64, err, sizeof(err)), 0);
		assert_int_equal(m.n, 3);
		assert_int_equal(m.kset_builtin, 1);
		for (unsigned i = 0; i < 3; i++) {
			char n[16];
			snprintf(n, sizeof(n), "mod%u", i);
			assert_string_equal(m.v[i].name, n);
			assert_int_equal(m.v[i].addr, MOD(i));
			assert_int_equal(m.v[i].core_base, 0xffffffffc1000000ull + i * 0x10000);
			assert_int_equal(m.v[i].core_size, 0x3000 + i);
			assert_int_equal(m.v[i].text_size, 0x1000 + i);
			assert_true(m.v[i].on_list && m.v[i].in_kset);
			assert_false(m.v[i].name_mismatch || m.v[i].unreadable);
		}
		vmi_linux_modules_free(&m);
		small_close(&g);
	}
}

/* Hidden from one list or the other, renamed, and an empty system. */
static void test_walk_hidden(void **state)
{
	struct small g;
	struct vmi_linux_modules m;
	char err[256];
	(void)state;
	small_open(&g, 4);
	make_modules(&g);
	/* mod1 unlinked from `modules` (list_del), mod2 unlinked from the kset. */
	uint64_t list[2] = { MOD(0) + L.module_list, MOD(2) + L.module_list };
	list_link(&g, list, 2, MODULES_HEAD);
	uint64_t kset[2] = { kobj_of(MOD(0)) + L.kobject_entry, kobj_of(MOD(1)) + L.kobject_entry };
	list_link(&g, kset, 2, KSET + L.kset_list);
	snprintf((char *)at(&g, NAMES + 0 * 64), 64, "other");
	assert_int_equal(walk(&g, &m, 64, err, sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0].name, "mod0");
	assert_true(m.v[0].on_list && m.v[0].in_kset && m.v[0].name_mismatch);
	assert_string_equal(m.v[1].name, "mod2");
	assert_true(m.v[1].on_list && !m.v[1].in_kset);
	assert_string_equal(m.v[2].name, "mod1");
	assert_true(!m.v[2].on_list && m.v[2].in_kset && !m.v[2].unreadable);
	assert_int_equal(m.v[2].addr, MOD(1));
	vmi_linux_modules_free(&m);

	/* Empty lists. */
	list_link(&g, NULL, 0, MODULES_HEAD);
	list_link(&g, NULL, 0, KSET + L.kset_list);
	assert_int_equal(walk(&g, &m, 64, err, sizeof(err)), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.kset_builtin, 0);
	vmi_linux_modules_free(&m);
	small_close(&g);
}

static void expect_walk(struct small *g, size_t max, int code, const char *needle)
{
	struct vmi_linux_modules m;
	char err[512] = "";
	int rc = walk(g, &m, max, err, sizeof(err));
	if (rc != code)
		fail_msg("walk returned %d (%s), expected %d", rc, err, code);
	if (needle && !strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_true(m.n <= max);
	vmi_linux_modules_free(&m);
}

static void test_walk_hostile(void **state)
{
	struct small g;
	(void)state;
	small_open(&g, 4);

	/* A loop that does not return to the head. */
	make_modules(&g);
	put_le(at(&g, MOD(2) + L.module_list), MOD(1) + L.module_list, 8);
	expect_walk(&g, 64, VMI_LINUX_E_LOOP, "modules list loops");
	/* A node pointing at itself. */
	make_modules(&g);
	put_le(at(&g, MOD(0) + L.module_list), MOD(0) + L.module_list, 8);
	expect_walk(&g, 64, VMI_LINUX_E_LOOP, "node 1");
	/* Loop in the kset. */
	make_modules(&g);
	put_le(at(&g, kobj_of(MOD(2)) + L.kobject_entry), kobj_of(MOD(0)) + L.kobject_entry, 8);
	expect_walk(&g, 64, VMI_LINUX_E_LOOP, "module kset loops");
	/* Non-canonical, user-half, misaligned, unmapped, head NULL. */
	const uint64_t bad[] = { 0x8000000000000000ull, 0x0000000000401000ull,
					MOD(1) + L.module_list + 4 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_modules(&g);
		put_le(at(&g, MOD(0) + L.module_list), bad[i], 8);
		expect_walk(&g, 64, VMI_LINUX_E_BAD_POINTER, "modules list node 1");
	}
	make_modules(&g);
	put_le(at(&g, MOD(0) + L.module_list), WIN_VA + WIN_SIZE + 0x100, 8); /* unmapped */
	expect_walk(&g, 64, VMI_LINUX_E_READ, "not present");
	make_modules(&g);
	put_le(at(&g, KSET_VAR), 0, 8);
	expect_walk(&g, 64, VMI_LINUX_E_BAD_POINTER, "module_kset");
	/* A list node whose struct module runs past the mapping. */
	make_modules(&g);
	put_le(at(&g, MOD(0) + L.module_list), WIN_VA + WIN_SIZE - 16, 8);
	put_le(at(&g, WIN_VA + WIN_SIZE - 16), MODULES_HEAD, 8);
	expect_walk(&g, 64, VMI_LINUX_E_READ, "struct module");
	small_close(&g);
}

/* Long lists: capped by max_entries; the cap itself is bounded. */
static void test_walk_limits(void **state)
{
	struct small g;
	uint64_t nodes[300]; /* MOD(299) still inside the 2 MiB window */
	(void)state;
	small_open(&g, 4);
	make_modules(&g);
	for (unsigned i = 0; i < 300; i++)
		nodes[i] = MOD(i) + L.module_list;
	/* 200 modules at MOD(0..199), each a copy of mod0. */
	for (unsigned i = 0; i < 200; i++)
		make_module(&g, i, "many", NULL);
	list_link(&g, nodes, 200, MODULES_HEAD);
	expect_walk(&g, 100, VMI_LINUX_E_TOO_MANY, "more than 100 entries");
	struct vmi_linux_modules m;
	char err[256];
	assert_int_equal(walk(&g, &m, VMI_LINUX_MAX_MODULES + 1, err, sizeof(err)), VMI_LINUX_E_ARG);
	assert_int_equal(walk(&g, &m, 0, err, sizeof(err)), VMI_LINUX_E_ARG);
	/* Kset entries whose .mod and name pointers are garbage: kept, flagged. */
	list_link(&g, nodes, 1, MODULES_HEAD);
	uint64_t k[2] = { kobj_of(MOD(0)) + L.kobject_entry, kobj_of(MOD(5)) + L.kobject_entry };
	list_link(&g, k, 2, KSET + L.kset_list);
	put_le(at(&g, kobj_of(MOD(5)) + L.mkobj_mod), 0xdead000000000000ull, 8);
	put_le(at(&g, kobj_of(MOD(5)) + L.kobject_name), 0x1234, 8);
	assert_int_equal(walk(&g, &m, 64, err, sizeof(err)), 0);
	assert_int_equal(m.n, 2);
	assert_true(m.v[1].unreadable && m.v[1].in_kset && !m.v[1].on_list);
	assert_string_equal(m.v[1].name, "?");
	vmi_linux_modules_free(&m);
	small_close(&g);
}

/* ---- identity scan on crafted pages --------------------------------------- */

static void put_note(uint8_t *p, const uint8_t *id, size_t n)
{
	put_le(p, 4, 4);
	put_le(p + 4, n, 4);
	put_le(p + 8, 3, 4);
	memcpy(p + 12, "GNU", 4);
	memcpy(p + 16, id, n);
}

static void test_identify_crafted(void **state)
{
	char err[256];
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct ptb b;
	struct vmi_mem *mem;
	struct vmi_x86 *x = malloc(sizeof(*x));
	struct vmi_linux_identity id;
	const uint64_t base = 0xffffffff81000000ull;
	const uint8_t kid[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	const uint8_t vid[20] = { 0xee };
	const uint8_t wid[20] = { 0xdd };
	(void)state;
	assert_non_null(ram);
	assert_non_null(x);
	assert_int_equal(ptb_init(&b, ram, 0, RAM_SIZE, TABLES, RAM_SIZE - TABLES, 4), 0);
	/* Pages 0..3 of the image, read-only, scattered physically (reverse order);
	 * page 4 writable. */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ptb_map(&b, base + i * 4096ull, 0x200000 - i * 0x10000ull, 4096, 0), 0);
	assert_int_equal(ptb_map(&b, base + 4 * 4096ull, 0x300000, 4096, PTE_W), 0);
	uint8_t *p0 = ram + 0x200000, *p1 = ram + 0x1f0000, *p2 = ram + 0x1e0000,
		*p3 = ram + 0x1d0000, *p4 = ram + 0x300000;
	/* Kernel note straddling pages 0/1: header at 4096-12 (type+"GNU" split). */
	uint8_t note[36];
	put_note(note, kid, 20);
	memcpy(p0 + 4096 - 12, note, 12);
	memcpy(p1, note + 12, 24);
	/* Banner straddling pages 1/2, and an unnumbered one before it. */
	const char *weak = "Linux version 6.1.0-x (b@h) # SMP\n";
	const char *good = "Linux version 6.1.0-x (b@h) #1 SMP\n";
	memcpy(p1 + 256, weak, strlen(weak));
	memcpy(p1 + 4096 - 5, good, 5);
	memcpy(p2, good + 5, strlen(good) - 5);
	/* An embedded ELF image (vDSO-like) on page 3 with its own note. */
	memcpy(p3, "\177ELF\002", 5);
	put_le(p3 + 0x28, 0x800, 8);    /* e_shoff */
	put_le(p3 + 0x3a, 64, 2);       /* e_shentsize */
	put_le(p3 + 0x3c, 8, 2);        /* e_shnum -> image ends at 0xa00 */
	put_note(p3 + 0x100, vid, 20);
	/* A note in writable memory. */
	put_note(p4 + 0x40, wid, 20);

	struct vmi_mem_region r = { 0, RAM_SIZE, ram };
	assert_int_equal(vmi_mem_open_host(&r, 1, &mem, err, sizeof(err)), 0);
	assert_int_equal(vmi_x86_init(x, mem, b.root, CR4_PAE, EFER_LONG), 0);
	assert_int_equal(vmi_linux_identify(x, &id, err, sizeof(err)), 0);
	assert_int_equal(id.nids, 1);
	assert_memory_equal(id.ids[0].id, kid, 20);
	assert_int_equal(id.ids[0].va, base + 4096 - 12);
	assert_string_equal(id.ids[0].hex, "0102030405060708090a0b0c0d0e0f1011121314");
	assert_int_equal(id.embedded_ids, 1);
	assert_int_equal(id.writable_ids, 1);
	assert_string_equal(id.banner, "Linux version 6.1.0-x (b@h) #1 SMP");
	assert_int_equal(id.banner_va, base + 2 * 4096 - 5);
	assert_int_equal(id.first_mapped_va, base);
	assert_int_equal(id.mapped_bytes, 5 * 4096);

	/* Only the writable note left: it is what there is. */
	memset(p0 + 4096 - 12, 0, 12);
	assert_int_equal(vmi_linux_identify(x, &id, err, sizeof(err)), 0);
	assert_int_equal(id.nids, 1);
	assert_memory_equal(id.ids[0].id, wid, 20);
	assert_true(id.ids[0].writable);

	/* The whole 1 GiB range mapped by one 1 GiB page at PA 0: only the
	 * backed part (8 MiB) is scanned ... */
	struct ptb b2;
	memset(ram + TABLES, 0, RAM_SIZE - TABLES);
	assert_int_equal(ptb_init(&b2, ram, 0, RAM_SIZE, TABLES, RAM_SIZE - TABLES, 4), 0);
	uint64_t pdpt = ptb_alloc_table(&b2);
	put_le(ram + b2.root + 511 * 8, pdpt | 3, 8);
	put_le(ram + pdpt + 510 * 8, 0x83, 8);
	assert_int_equal(vmi_x86_set_cr3(x, b2.root), 0);
	assert_int_equal(vmi_linux_identify(x, &id, err, sizeof(err)), 0);
	assert_int_equal(id.mapped_bytes, RAM_SIZE);
	/* ... and when all of it is backed (128 regions aliasing one buffer),
	 * the scan stops at its cap. */
	struct vmi_mem_region alias[128];
	struct vmi_mem *big;
	for (unsigned i = 0; i < 128; i++)
		alias[i] = (struct vmi_mem_region){ (uint64_t)i * RAM_SIZE, RAM_SIZE, ram };
	assert_int_equal(vmi_mem_open_host(alias, 128, &big, err, sizeof(err)), 0);
	assert_int_equal(vmi_x86_init(x, big, b2.root, CR4_PAE, EFER_LONG), 0);
	assert_int_equal(vmi_linux_identify(x, &id, err, sizeof(err)), VMI_LINUX_E_SCAN_LIMIT);
	assert_non_null(strstr(err, "512 MiB"));
	vmi_mem_close(big);
	vmi_mem_close(mem);
	free(x);
	free(ram);
}

/* ---- attach: the kit's vmlinux laid out in synthetic guest RAM ------------- */

static struct vmi_kcat *kit;

static int load_kit(void **state)
{
	char path[1024], err[512];
	const char *k = getenv("RW_KIT");
	(void)state;
	if (k && *k)
		snprintf(path, sizeof(path), "%s/vmlinux", k);
	else
		snprintf(path, sizeof(path), "%s/build/kit/cloud-amd64/vmlinux",
			 getenv("RW_TOP") ? getenv("RW_TOP") : ".");
	if (vmi_kcat_open(path, &kit, err, sizeof(err))) {
		fprintf(stderr, "guest kit vmlinux missing: %s: %s (set RW_KIT)\n", path, err);
		return -1;
	}
	return 0;
}

static int free_kit(void **state)
{
	(void)state;
	vmi_kcat_close(kit);
	return 0;
}

#define KRAM (72u << 20)
#define KTABLES (68ull << 20)
#define IDT_PA (66ull << 20)
#define IDT_VA 0xfffffe0000000000ull
#define LINK_TEXT 0xffffffff81000000ull
#define FILE_TEXT 0x200000ull
#define IMG_BYTES (34ull << 20) /* file [2 MiB, 36 MiB): .text .. .vvar */

struct kguest {
	uint8_t *ram;
	struct ptb b;
	struct vmi_mem *mem;
	struct vmi_vcpu vcpu;
	uint64_t user_pgd;
};

/* Image file offset o sits at PA o - FILE_TEXT + 16 MiB, i.e. at its link
 * physical address; it is mapped at its link VA + slide with 2 MiB pages. */
static uint8_t *kimg(struct kguest *g, uint64_t link_va)
{
	return g->ram + (link_va - 0xffffffff80000000ull);
}

static void set_gate(struct kguest *g, unsigned v, uint64_t target)
{
	uint8_t *e = g->ram + IDT_PA + v * 16;
	memset(e, 0, 16);
	put_le(e, target & 0xffff, 2);
	put_le(e + 2, 0x10, 2);
	e[5] = 0x8e;
	put_le(e + 6, (target >> 16) & 0xffff, 2);
	put_le(e + 8, target >> 32, 4);
}

static void kguest_open(struct kguest *g, int64_t slide, unsigned levels, bool pti)
{
	char err[256];
	size_t len;
	const uint8_t *img = vmi_kcat_image(kit, &len);
	assert_true(len >= FILE_TEXT + IMG_BYTES);
	memset(g, 0, sizeof(*g));
	g->ram = calloc(1, KRAM);
	assert_non_null(g->ram);
	memcpy(g->ram + (16u << 20), img + FILE_TEXT, IMG_BYTES);
	assert_int_equal(ptb_init(&g->b, g->ram, 0, KRAM, KTABLES, KRAM - KTABLES, levels), 0);
	g->user_pgd = ptb_alloc_table(&g->b); /* root + 4 KiB, as PTI pairs them */
	assert_int_equal(g->user_pgd, g->b.root + 4096);
	for (uint64_t off = 0; off < IMG_BYTES; off += 2u << 20) {
		uint64_t link = LINK_TEXT + off;
		/* .data onwards writable, text and rodata read-only */
		uint64_t fl = link >= 0xffffffff82a00000ull ? PTE_W | PTE_XD : 0;
		assert_int_equal(ptb_map(&g->b, link + (uint64_t)slide, link - 0xffffffff80000000ull,
					 2u << 20, fl), 0);
	}
	assert_int_equal(ptb_map(&g->b, IDT_VA, IDT_PA, 4096, 0), 0);
	static const char *const h[32] = { [0] = "asm_exc_divide_error", [3] = "asm_exc_int3",
		[4] = "asm_exc_overflow", [6] = "asm_exc_invalid_op",
		[13] = "asm_exc_general_protection", [14] = "asm_exc_page_fault" };
	for (unsigned v = 0; v < 32; v++) {
		uint64_t a;
		if (h[v] && vmi_kcat_symbol(kit, h[v], &a) == 0)
			set_gate(g, v, a + (uint64_t)slide);
	}
	if (pti) { /* the user PGD maps only the IDT's top-level slot (4 levels:
		    * with 5, IDT and image share PML5 slot 511) */
		assert_int_equal(levels, 4);
		unsigned idx = (unsigned)((IDT_VA >> (levels == 5 ? 48 : 39)) & 511);
		memcpy(g->ram + g->user_pgd + idx * 8, g->ram + g->b.root + idx * 8, 8);
	}
	struct vmi_mem_region r = { 0, KRAM, g->ram };
	assert_int_equal(vmi_mem_open_host(&r, 1, &g->mem, err, sizeof(err)), 0);
	g->vcpu.cr3 = (struct vmi_val){ pti ? g->user_pgd : g->b.root, VMI_PROV_QMP_INFO_REGISTERS };
	g->vcpu.cr4 = (struct vmi_val){ CR4_PAE | (levels == 5 ? 1u << 12 : 0),
					VMI_PROV_QMP_INFO_REGISTERS };
	g->vcpu.efer = (struct vmi_val){ EFER_LONG, VMI_PROV_QMP_INFO_REGISTERS };
	g->vcpu.idtr_base = (struct vmi_val){ IDT_VA, VMI_PROV_QMP_INFO_REGISTERS };
	g->vcpu.idtr_limit = (struct vmi_val){ 0xfff, VMI_PROV_QMP_INFO_REGISTERS };
}

static void kguest_close(struct kguest *g)
{
	vmi_mem_close(g->mem);
	free(g->ram);
}

static int try_attach(struct kguest *g, struct vmi_linux **lx, struct vmi_linux_info *info,
		      char *err, size_t len)
{
	return vmi_linux_attach(g->mem, &g->vcpu, 1, kit, lx, info, err, len);
}

static void test_attach_slides(void **state)
{
	static const struct { int64_t slide; unsigned levels; bool pti; } cases[] = {
		{ 0x1e800000, 4, false }, { 0, 4, false }, { 0x2a00000, 5, false },
		{ 0x3c000000 - (36ll << 20), 4, true },
	};
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct kguest g;
		struct vmi_linux *lx;
		struct vmi_linux_info info;
		char err[2048];
		kguest_open(&g, cases[c].slide, cases[c].levels, cases[c].pti);
		int rc = try_attach(&g, &lx, &info, err, sizeof(err));
		if (rc)
			fail_msg("slide 0x%" PRIx64 ": %s", (uint64_t)cases[c].slide, err);
		const struct vmi_linux_info *in = vmi_linux_info(lx);
		assert_int_equal(in->slide, cases[c].slide);
		assert_int_equal(in->nagree, 3);
		assert_int_equal(in->paging_levels, cases[c].levels);
		assert_int_equal(in->ident.nids, 1);
		assert_string_equal(in->ident.ids[0].hex, vmi_kcat_build_id_hex(kit));
		assert_string_equal(in->ident.banner, vmi_kcat_banner(kit));
		assert_int_equal(in->ident.embedded_ids, 2); /* the 64- and 32-bit vDSOs */
		if (in->cr3_scan != g.b.root)
			fail_msg("case %zu: scanned with CR3 0x%" PRIx64 ", kernel PGD is 0x%" PRIx64
				 " (%zu ids, first at 0x%" PRIx64 ")", c, in->cr3_scan, g.b.root,
				 in->ident.nids, in->ident.ids[0].va);
		/* The image's own init_top_pgt maps link VA -> link PA: usable with slide 0. */
		if (cases[c].slide == 0 && cases[c].levels == 4)
			assert_true(in->kernel_pgd != 0);
		uint64_t va;
		uint8_t got[64];
		assert_int_equal(vmi_linux_symbol(lx, "linux_banner", &va), 0);
		assert_int_equal(vmi_x86_read(vmi_linux_x86(lx), va, got, 14), 0);
		assert_memory_equal(got, "Linux version ", 14);
		assert_int_equal(vmi_linux_symbol(lx, "no_such_symbol_x", &va), VMI_LINUX_E_CATALOG);
		vmi_linux_detach(lx);
		kguest_close(&g);
	}
}

static void expect_attach(struct kguest *g, int code, const char *n1, const char *n2)
{
	struct vmi_linux *lx = NULL;
	struct vmi_linux_info info;
	char err[2048] = "";
	int rc = try_attach(g, &lx, &info, err, sizeof(err));
	if (rc != code)
		fail_msg("attach returned %d (%s), expected %d", rc, err, code);
	if (n1 && !strstr(err, n1))
		fail_msg("error '%s' lacks '%s'", err, n1);
	if (n2 && !strstr(err, n2))
		fail_msg("error '%s' lacks '%s'", err, n2);
	assert_null(lx);
}

static void test_attach_failures(void **state)
{
	struct kguest g;
	const int64_t S = 0x10000000;
	uint64_t note_sec = vmi_kcat_section(kit, ".notes")->addr, a;
	(void)state;

	/* Another build: the running build ID differs -> both IDs named. */
	kguest_open(&g, S, 4, false);
	uint8_t *notes = kimg(&g, note_sec);
	uint8_t *idp = memmem(notes, 0x200, vmi_kcat_build_id(kit, &(size_t){ 0 }), 20);
	assert_non_null(idp);
	idp[0] ^= 0xff;
	char running[41];
	for (int i = 0; i < 20; i++)
		snprintf(running + 2 * i, 3, "%02x", idp[i]);
	expect_attach(&g, VMI_LINUX_E_MISMATCH, running, vmi_kcat_build_id_hex(kit));
	kguest_close(&g);

	/* One hooked gate: the IDT anchor fails, the other two still agree. */
	kguest_open(&g, S, 4, false);
	assert_int_equal(vmi_kcat_symbol(kit, "asm_exc_page_fault", &a), 0);
	set_gate(&g, 14, 0xffffffffc0123456ull);
	struct vmi_linux *lx;
	struct vmi_linux_info info;
	char err[2048];
	assert_int_equal(try_attach(&g, &lx, &info, err, sizeof(err)), 0);
	assert_false(info.anchors[VMI_LINUX_ANCHOR_IDT].ok);
	assert_non_null(strstr(info.anchors[VMI_LINUX_ANCHOR_IDT].detail, "gates disagree"));
	assert_int_equal(info.nagree, 2);
	vmi_linux_detach(lx);
	/* ... and with the banner gone too, one anchor is not enough. */
	uint64_t lb;
	assert_int_equal(vmi_kcat_symbol(kit, "linux_banner", &lb), 0);
	kimg(&g, lb)[20] ^= 1;
	expect_attach(&g, VMI_LINUX_E_ANCHOR, "idt: failed", "banner: failed");
	kguest_close(&g);

	/* Every gate moved by 2 MiB: a consistent but different slide. */
	kguest_open(&g, S, 4, false);
	for (unsigned v = 0; v < 32; v++) {
		uint8_t *e = g.ram + IDT_PA + v * 16;
		if (e[5] != 0x8e)
			continue;
		uint64_t t = (uint64_t)(e[0] | e[1] << 8) | (uint64_t)(e[6] | e[7] << 8) << 16 |
			     (uint64_t)(e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24) << 32;
		set_gate(&g, v, t + (2u << 20));
	}
	expect_attach(&g, VMI_LINUX_E_DISAGREE, "idt: slide 0x10200000", "build-id-note: slide 0x10000000");
	kguest_close(&g);

	/* IDT limit too small, IDTR unknown. */
	kguest_open(&g, S, 4, false);
	g.vcpu.idtr_limit.v = 0x7f;
	assert_int_equal(try_attach(&g, &lx, &info, err, sizeof(err)), 0);
	assert_non_null(strstr(info.anchors[VMI_LINUX_ANCHOR_IDT].detail, "beyond IDT limit"));
	vmi_linux_detach(lx);
	g.vcpu.cr3.prov = VMI_PROV_NONE;
	expect_attach(&g, VMI_LINUX_E_VCPU, "lacks CR3", NULL);
	g.vcpu.cr3.prov = VMI_PROV_QMP_INFO_REGISTERS;
	/* Not long mode. */
	g.vcpu.efer.v = 0;
	expect_attach(&g, VMI_LINUX_E_PAGING, "EFER 0x0", NULL);
	g.vcpu.efer.v = EFER_LONG;
	/* Kernel range unmapped: nothing to identify. */
	g.vcpu.cr3.v = IDT_PA - 0x100000 + 0x1000; /* zeroed RAM; bit 12 set: retried, still nothing */
	expect_attach(&g, VMI_LINUX_E_NO_BUILD_ID, "no kernel build-ID note", NULL);
	kguest_close(&g);
}

static void test_layout_from_kit_btf(void **state)
{
	struct vmi_linux_layout l;
	char err[256];
	(void)state;
	assert_int_equal(vmi_linux_layout_from_btf(vmi_kcat_btf(kit), &l, err, sizeof(err)), 0);
	/* 6.1 x86-64: state, then list, then name[56]. */
	assert_int_equal(l.module_state, 0);
	assert_int_equal(l.module_list, 8);
	assert_int_equal(l.module_name, 24);
	assert_int_equal(l.module_name_len, 56);
	assert_int_equal(l.module_core_size_len, 4);
	assert_int_equal(l.module_text_size_len, 4);
	assert_int_equal(l.module_text_size, l.module_core_size + 4);
	assert_true(l.module_core_base + 8 <= l.module_size);
	assert_int_equal(l.kobject_name, 0);
	assert_int_equal(l.kobject_entry, 8);
	assert_int_equal(l.kset_list, 0);
	assert_int_equal(l.mkobj_kobj, 0);
	assert_true(l.mkobj_mod >= 64);
	assert_int_equal(vmi_linux_layout_from_btf(NULL, &l, err, sizeof(err)), VMI_LINUX_E_ARG);
}

int main(void)
{
	const struct CMUnitTest walk_tests[] = {
		cmocka_unit_test(test_walk_ok),
		cmocka_unit_test(test_walk_hidden),
		cmocka_unit_test(test_walk_hostile),
		cmocka_unit_test(test_walk_limits),
		cmocka_unit_test(test_identify_crafted),
	};
	const struct CMUnitTest kit_tests[] = {
		cmocka_unit_test(test_layout_from_kit_btf),
		cmocka_unit_test(test_attach_slides),
		cmocka_unit_test(test_attach_failures),
	};
	int fails = cmocka_run_group_tests_name("walkers", walk_tests, NULL, NULL);
	fails += cmocka_run_group_tests_name("kit", kit_tests, load_kit, free_kit);
	return fails ? 1 : 0;
}

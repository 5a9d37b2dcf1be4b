/* Fuzz the Linux walkers: the input is guest RAM (at gpa 0) holding page
 * tables and the structures the walkers follow. The module list/kset walk,
 * the IDT anchor and a small slide scan must never crash, loop or read
 * outside the image; results must respect their bounds.
 *
 * Layout: flags[1] max[1] | RAM image (gpa 0), CR3 = 0x1000.
 * flags: bit0 LA57, bit1 run the identity scan of the kernel image range
 * (slow: bounded but up to 256 Ki translations).
 * Walk roots (fixed): `modules` at 0xffffffffc0000000, `module_kset` pointer
 * at +0x10, IDT at +0x800 (limit 0xff). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/linux.h"

#define HDR 2
#define WIN 0xffffffffc0000000ull

static const struct vmi_linux_layout L = {
	.module_size = 256,
	.module_state = 0,
	.module_list = 8,
	.module_name = 24,
	.module_name_len = 56,
	.module_core_base = 128,
	.module_core_size = 136,
	.module_core_size_len = 4,
	.module_text_size = 140,
	.module_text_size_len = 4,
	.kobject_name = 0,
	.kobject_entry = 8,
	.kset_list = 0,
	.mkobj_kobj = 0,
	.mkobj_mod = 64,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR + 8)
		return 0;
	uint8_t flags = data[0];
	size_t max = 1 + data[1] % 64;
	struct vmi_mem_region r = { 0, size - HDR, data + HDR };
	struct vmi_mem *m;
	if (vmi_mem_open_host(&r, 1, &m, NULL, 0))
		abort();
	struct vmi_x86 *x = malloc(sizeof(*x));
	if (!x)
		abort();
	uint64_t cr4 = VMI_X86_CR4_PAE | ((flags & 1) ? VMI_X86_CR4_LA57 : 0);
	if (vmi_x86_init(x, m, 0x1000, cr4, VMI_X86_EFER_LMA | VMI_X86_EFER_NXE))
		abort();

	struct vmi_linux_modules mods;
	char err[512];
	int rc = vmi_linux_walk_modules(x, &L, WIN, WIN + 0x10, max, &mods, err, sizeof(err));
	/* Each list contributes at most max entries. */
	if (mods.n > 2 * max || (rc == 0 && mods.kset_builtin > max))
		abort();
	for (size_t i = 0; i < mods.n; i++) {
		if (strnlen(mods.v[i].name, VMI_LINUX_MODNAME_MAX) == VMI_LINUX_MODNAME_MAX)
			abort();
		if (!mods.v[i].on_list && !mods.v[i].in_kset)
			abort();
	}
	vmi_linux_modules_free(&mods);

	static const struct vmi_linux_gate gates[] = {
		{ 0, 0xffffffff81000000ull, "de" }, { 3, 0xffffffff81000100ull, "bp" },
		{ 14, 0xffffffff81000200ull, "pf" },
	};
	int64_t slide;
	(void)vmi_linux_slide_from_idt(x, WIN + 0x800, 0xff, gates, 3, &slide, err, sizeof(err));
	static const uint8_t pat[8] = { 3, 0, 0, 0, 'G', 'N', 'U', 0 };
	(void)vmi_linux_slide_scan(x, WIN, pat, sizeof(pat), 0, 64 << 21, 2u << 20, &slide, err,
				   sizeof(err));
	if (flags & 2) {
		struct vmi_linux_identity id;
		rc = vmi_linux_identify(x, &id, err, sizeof(err));
		if (id.nids > VMI_LINUX_MAX_IDS || id.mapped_bytes > VMI_LINUX_SCAN_MAX)
			abort();
		for (size_t i = 0; i < id.nids; i++)
			if (id.ids[i].len < 8 || id.ids[i].len > VMI_LINUX_ID_MAX)
				abort();
		if (strnlen(id.banner, sizeof(id.banner)) == sizeof(id.banner))
			abort();
	}
	free(x);
	vmi_mem_close(m);
	return 0;
}

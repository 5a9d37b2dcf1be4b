/* Fuzz the x86-64 page walker: the input is a guest RAM image plus the
 * registers and addresses to translate. The walk must never crash, hang or
 * read outside the image, and its results must be self-consistent.
 *
 * Layout: cr3[8] va[8] va2[8] flags[1] maxphy[1] rdlen[2] | RAM image (gpa 0)
 * flags: bit0 LA57, bit1 PCIDE, bit2 EFER.NXE, bit3 split RAM into two
 * adjacent regions, bit4 clear LMA (mode error path). */
#include <stdint.h>
#include <stdlib.h>

#include "vmi/mem.h"
#include "vmi/x86.h"

#define HDR 28

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void check_xlat(int rc, const struct vmi_x86_xlat *t, uint64_t va)
{
	if (rc)
		return;
	if (t->page_size != 4096 && t->page_size != (1u << 21) && t->page_size != (1u << 30))
		abort();
	if ((t->pa & (t->page_size - 1)) != (va & (t->page_size - 1)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR + 8)
		return 0;
	uint64_t cr3 = le64(data), va = le64(data + 8), va2 = le64(data + 16);
	uint8_t flags = data[24];
	unsigned maxphy = 36 + data[25] % 17;
	size_t rdlen = (size_t)(data[26] | (data[27] << 8));
	const uint8_t *ram = data + HDR;
	size_t ramlen = size - HDR;

	struct vmi_mem_region r[2];
	size_t nr = 1;
	r[0] = (struct vmi_mem_region){ 0, ramlen, ram };
	if ((flags & 8) && ramlen >= 2) {
		size_t half = ramlen / 2;
		r[0].size = half;
		r[1] = (struct vmi_mem_region){ half, ramlen - half, ram + half };
		nr = 2;
	}
	struct vmi_mem *m;
	if (vmi_mem_open_host(r, nr, &m, NULL, 0))
		abort();

	uint64_t cr4 = VMI_X86_CR4_PAE | ((flags & 1) ? VMI_X86_CR4_LA57 : 0) |
		       ((flags & 2) ? VMI_X86_CR4_PCIDE : 0);
	uint64_t efer = ((flags & 16) ? 0 : VMI_X86_EFER_LMA) | ((flags & 4) ? VMI_X86_EFER_NXE : 0);
	struct vmi_x86 *x = malloc(sizeof(*x));
	if (!x)
		abort();
	int rc = vmi_x86_init(x, m, cr3, cr4, efer);
	if (rc == 0)
		rc = vmi_x86_set_maxphyaddr(x, maxphy);
	if (rc == 0) {
		struct vmi_x86_xlat a, b;
		int ra = vmi_x86_translate(x, va, &a);
		int rb = vmi_x86_walk(x, va, &b);
		if (ra != rb || (ra == 0 && (a.pa != b.pa || a.page_size != b.page_size ||
					     a.writable != b.writable || a.user != b.user ||
					     a.nx != b.nx)))
			abort();
		check_xlat(ra, &a, va);
		/* cached answer must equal the walk */
		int rc2 = vmi_x86_translate(x, va, &b);
		if (rc2 != ra || (ra == 0 && b.pa != a.pa))
			abort();
		rc2 = vmi_x86_translate(x, va2, &b);
		check_xlat(rc2, &b, va2);

		uint8_t *buf = malloc(rdlen ? rdlen : 1);
		if (!buf)
			abort();
		vmi_x86_read(x, va, buf, rdlen);
		const void *p;
		if (rdlen && vmi_x86_direct(x, va, rdlen, &p) == 0) {
			/* the pointer must lie inside the image */
			const uint8_t *q = p;
			if (q < ram || q + rdlen > ram + ramlen)
				abort();
			volatile uint8_t touch = q[0];
			touch = q[rdlen - 1];
			(void)touch;
		}
		free(buf);
		vmi_x86_flush(x);
		vmi_x86_set_cr3(x, va2 & 0x000ffffffffff000ull);
		vmi_x86_translate(x, va2, &b);
	}
	free(x);
	vmi_mem_close(m);
	return 0;
}

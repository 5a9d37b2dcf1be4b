/* x86-64 page-table walker with a small direct-mapped translation cache. */
#include "vmi/x86.h"

#include <string.h>

const char *vmi_x86_strerror(int code)
{
	switch (code) {
	case VMI_X86_OK: return "ok";
	case VMI_X86_E_ARG: return "bad argument";
	case VMI_X86_E_MODE: return "vCPU not in IA-32e paging mode";
	case VMI_X86_E_NONCANONICAL: return "non-canonical virtual address";
	case VMI_X86_E_NOT_PRESENT: return "page not present";
	case VMI_X86_E_RESERVED: return "reserved bit set in paging entry";
	case VMI_X86_E_TABLE_OUTSIDE_RAM: return "paging structure outside RAM";
	case VMI_X86_E_PHYS: return "mapped page not backed by RAM";
	case VMI_X86_E_NOT_CONTIG: return "range not physically contiguous";
	}
	return "unknown translation error";
}

static uint64_t phys_mask(unsigned maxphyaddr)
{
	return ((1ull << maxphyaddr) - 1) & ~0xfffull;
}

/* Bits MAXPHYADDR..51 of an entry: must be zero. */
static uint64_t phys_rsvd(unsigned maxphyaddr)
{
	return ((1ull << 52) - 1) & ~((1ull << maxphyaddr) - 1);
}

static int compute_root(struct vmi_x86 *x, uint64_t cr3)
{
	/* Bits MAXPHYADDR..60 reserved; 61/62 are LAM, 63 no-flush (PCIDE). */
	uint64_t rsvd = ((1ull << 61) - 1) & ~((1ull << x->maxphyaddr) - 1);
	if (cr3 & rsvd)
		return VMI_X86_E_RESERVED;
	/* Bits 11:0 are the PCID (CR4.PCIDE) or PWT/PCD flags: never address. */
	x->root = cr3 & phys_mask(x->maxphyaddr);
	x->cr3 = cr3;
	return 0;
}

void vmi_x86_flush(struct vmi_x86 *x)
{
	if (x)
		memset(x->tlb, 0, sizeof(x->tlb));
}

int vmi_x86_init(struct vmi_x86 *x, const struct vmi_mem *mem, uint64_t cr3, uint64_t cr4,
		 uint64_t efer)
{
	if (!x || !mem)
		return VMI_X86_E_ARG;
	memset(x, 0, sizeof(*x));
	if (!(efer & VMI_X86_EFER_LMA) || !(cr4 & VMI_X86_CR4_PAE))
		return VMI_X86_E_MODE;
	x->mem = mem;
	x->cr4 = cr4;
	x->efer = efer;
	x->maxphyaddr = 52;
	x->levels = (cr4 & VMI_X86_CR4_LA57) ? 5 : 4;
	return compute_root(x, cr3);
}

int vmi_x86_set_maxphyaddr(struct vmi_x86 *x, unsigned bits)
{
	if (!x || bits < 36 || bits > 52)
		return VMI_X86_E_ARG;
	unsigned old = x->maxphyaddr;
	x->maxphyaddr = bits;
	int rc = compute_root(x, x->cr3);
	if (rc) {
		x->maxphyaddr = old;
		compute_root(x, x->cr3);
		return rc;
	}
	vmi_x86_flush(x);
	return 0;
}

int vmi_x86_set_cr3(struct vmi_x86 *x, uint64_t cr3)
{
	if (!x || !x->mem)
		return VMI_X86_E_ARG;
	uint64_t old = x->cr3;
	int rc = compute_root(x, cr3);
	if (rc) {
		compute_root(x, old);
		return rc;
	}
	vmi_x86_flush(x);
	return 0;
}

int vmi_x86_canonical(const struct vmi_x86 *x, uint64_t va)
{
	unsigned bits = x->levels == 5 ? 57 : 48;
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);
	return (uint64_t)s == va;
}

int vmi_x86_walk(const struct vmi_x86 *x, uint64_t va, struct vmi_x86_xlat *out)
{
	if (!x || !out || !x->mem)
		return VMI_X86_E_ARG;
	memset(out, 0, sizeof(*out));
	out->va = va;
	if (!vmi_x86_canonical(x, va))
		return VMI_X86_E_NONCANONICAL;

	const bool nxe = (x->efer & VMI_X86_EFER_NXE) != 0;
	const uint64_t amask = phys_mask(x->maxphyaddr);
	uint64_t rsvd_common = phys_rsvd(x->maxphyaddr);
	if (!nxe)
		rsvd_common |= VMI_PTE_XD;
	uint64_t table = x->root;
	bool w = true, u = true, nx = false;

	for (int level = (int)x->levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);
		uint64_t idx = (va >> shift) & 511;
		uint64_t e;
		out->fail_level = level;
		if (vmi_mem_read_u64(x->mem, table + idx * 8, &e) != 0)
			return VMI_X86_E_TABLE_OUTSIDE_RAM;
		out->fail_entry = e;
		if (!(e & VMI_PTE_P))
			return VMI_X86_E_NOT_PRESENT;
		uint64_t rsvd = rsvd_common;
		bool leaf = level == 1;
		if (level >= 4) {
			rsvd |= VMI_PTE_PS; /* no 512 GiB / 256 TiB pages */
		} else if ((level == 3 || level == 2) && (e & VMI_PTE_PS)) {
			leaf = true;
			/* Bits shift-1..13 must be zero (bit 12 is PAT). */
			rsvd |= ((1ull << shift) - 1) & ~((1ull << 13) - 1);
		}
		if (e & rsvd)
			return VMI_X86_E_RESERVED;
		w = w && (e & VMI_PTE_W);
		u = u && (e & VMI_PTE_U);
		nx = nx || (nxe && (e & VMI_PTE_XD));
		if (leaf) {
			uint64_t psize = 1ull << shift;
			out->pa = (e & amask & ~(psize - 1)) | (va & (psize - 1));
			out->page_size = psize;
			out->writable = w;
			out->user = u;
			out->nx = nx;
			out->fail_level = 0;
			out->fail_entry = 0;
			return 0;
		}
		table = e & amask;
	}
	return VMI_X86_E_NOT_PRESENT; /* unreachable: level 1 is always a leaf */
}

static unsigned shift_of(uint64_t page_size)
{
	return page_size == (1ull << 30) ? 30 : page_size == (1ull << 21) ? 21 : 12;
}

int vmi_x86_translate(struct vmi_x86 *x, uint64_t va, struct vmi_x86_xlat *out)
{
	if (!x || !out)
		return VMI_X86_E_ARG;
	uint64_t vpn = va >> 12;
	struct vmi_x86_tlb_entry *t = &x->tlb[vpn & (VMI_X86_TLB_SIZE - 1)];
	if (t->page_shift && t->vpn == vpn) {
		x->tlb_hits++;
		memset(out, 0, sizeof(*out));
		out->va = va;
		out->pa = t->pa_page | (va & 0xfff);
		out->page_size = 1ull << t->page_shift;
		out->writable = t->writable;
		out->user = t->user;
		out->nx = t->nx;
		return 0;
	}
	x->tlb_misses++;
	int rc = vmi_x86_walk(x, va, out);
	if (rc)
		return rc;
	t->vpn = vpn;
	t->pa_page = out->pa & ~0xfffull;
	t->page_shift = (uint8_t)shift_of(out->page_size);
	t->writable = out->writable;
	t->user = out->user;
	t->nx = out->nx;
	return 0;
}

int vmi_x86_read(struct vmi_x86 *x, uint64_t va, void *buf, size_t len)
{
	if (!x || (!buf && len))
		return VMI_X86_E_ARG;
	if (len && va + (len - 1) < va)
		return VMI_X86_E_ARG;
	uint8_t *dst = buf;
	while (len) {
		struct vmi_x86_xlat t;
		int rc = vmi_x86_translate(x, va, &t);
		if (rc)
			return rc;
		uint64_t in_page = t.page_size - (va & (t.page_size - 1));
		size_t n = in_page < len ? (size_t)in_page : len;
		if (vmi_mem_read(x->mem, t.pa, dst, n) != 0)
			return VMI_X86_E_PHYS;
		dst += n;
		va += n;
		len -= n;
	}
	return 0;
}

int vmi_x86_direct(struct vmi_x86 *x, uint64_t va, size_t len, const void **out)
{
	if (!x || !out || len == 0 || va + (len - 1) < va)
		return VMI_X86_E_ARG;
	struct vmi_x86_xlat t;
	int rc = vmi_x86_translate(x, va, &t);
	if (rc)
		return rc;
	const uint64_t pa0 = t.pa;
	uint64_t done = t.page_size - (va & (t.page_size - 1));
	/* Every further page must continue the physical run. */
	while (done < len) {
		rc = vmi_x86_translate(x, va + done, &t);
		if (rc)
			return rc;
		if (t.pa != pa0 + done)
			return VMI_X86_E_NOT_CONTIG;
		done += t.page_size - ((va + done) & (t.page_size - 1));
	}
	rc = vmi_mem_direct(x->mem, pa0, len, out);
	if (rc == VMI_MEM_E_NOT_CONTIG)
		return VMI_X86_E_NOT_CONTIG;
	if (rc)
		return VMI_X86_E_PHYS;
	return 0;
}

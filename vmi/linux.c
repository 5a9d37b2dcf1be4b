/* Linux layer: identity, KASLR anchors, attach. See linux.h. */
#include "vmi/linux.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vmi_linux {
	struct vmi_x86 x;
	const struct vmi_kcat *kc;
	struct vmi_linux_info info;
};

const char *vmi_linux_strerror(int code)
{
	switch (code) {
	case VMI_LINUX_OK: return "ok";
	case VMI_LINUX_E_ARG: return "invalid argument";
	case VMI_LINUX_E_NOMEM: return "out of memory";
	case VMI_LINUX_E_VCPU: return "vCPU state missing or unusable";
	case VMI_LINUX_E_PAGING: return "kernel address space not usable";
	case VMI_LINUX_E_NO_BUILD_ID: return "no build ID in the kernel image";
	case VMI_LINUX_E_MISMATCH: return "running kernel differs from the catalog";
	case VMI_LINUX_E_CATALOG: return "catalog lacks a needed symbol or section";
	case VMI_LINUX_E_ANCHOR: return "too few KASLR anchors";
	case VMI_LINUX_E_DISAGREE: return "KASLR anchors disagree";
	case VMI_LINUX_E_BTF: return "BTF lacks a needed member";
	case VMI_LINUX_E_READ: return "guest memory unreadable";
	case VMI_LINUX_E_BAD_POINTER: return "bad pointer in guest structure";
	case VMI_LINUX_E_LOOP: return "list loops";
	case VMI_LINUX_E_TOO_MANY: return "list too long";
	case VMI_LINUX_E_SCAN_LIMIT: return "kernel image range too large";
	default: return "unknown error";
	}
}

const char *vmi_linux_anchor_name(enum vmi_linux_anchor_kind k)
{
	switch (k) {
	case VMI_LINUX_ANCHOR_IDT: return "idt";
	case VMI_LINUX_ANCHOR_NOTE: return "build-id-note";
	case VMI_LINUX_ANCHOR_BANNER: return "banner";
	default: return "?";
	}
}

static void detailf(char *d, size_t dlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void detailf(char *d, size_t dlen, const char *fmt, ...)
{
	if (!d || !dlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d, dlen, fmt, ap);
	va_end(ap);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- identity scan -------------------------------------------------------- */

static const uint8_t gnu_tail[8] = { 3, 0, 0, 0, 'G', 'N', 'U', 0 }; /* type 3, "GNU" */
static const char banner_prefix[] = "Linux version ";
#define BANNER_PREFIX_LEN (sizeof(banner_prefix) - 1)
#define PREFIX_MAX 16 /* longest prefix searched (both fit) */

/* Read a printable line at va (up to max-1 bytes, ends at NUL or '\n'),
 * page by page so an unmapped page after it only shortens it. Returns its
 * length, or 0 when it is not a printable line. */
static size_t read_line(struct vmi_x86 *x, uint64_t va, char *out, size_t max)
{
	size_t n = 0;
	while (n + 1 < max) {
		uint8_t buf[256];
		size_t want = sizeof(buf) < max - 1 - n ? sizeof(buf) : max - 1 - n;
		uint64_t to_page = 4096 - ((va + n) & 4095);
		if (want > to_page)
			want = (size_t)to_page;
		if (vmi_x86_read(x, va + n, buf, want) != 0)
			return 0;
		for (size_t i = 0; i < want; i++) {
			if (buf[i] == 0 || buf[i] == '\n') {
				out[n] = '\0';
				return n;
			}
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				return 0;
			out[n++] = (char)buf[i];
		}
	}
	return 0; /* no terminator within max */
}

/* Is the note at va inside an ELF image embedded in kernel data (vDSO)?
 * Such images start on a page boundary a few pages before their notes. */
static int inside_embedded_elf(struct vmi_x86 *x, uint64_t va)
{
	for (unsigned k = 0; k < 4; k++) {
		uint64_t page = (va & ~4095ull) - 4096ull * k;
		uint8_t h[64];
		uint64_t end;
		if (page < VMI_LINUX_START_KERNEL_MAP || vmi_x86_read(x, page, h, sizeof(h)) != 0)
			continue;
		if (memcmp(h, "\177ELF", 4) != 0)
			continue;
		if (h[4] == 2) /* ELFCLASS64: e_shoff, e_shentsize, e_shnum */
			end = le64(h + 0x28) + (uint64_t)(h[0x3a] | h[0x3b] << 8) * (h[0x3c] | h[0x3d] << 8);
		else if (h[4] == 1)
			end = le32(h + 0x20) + (uint64_t)(h[0x2e] | h[0x2f] << 8) * (h[0x30] | h[0x31] << 8);
		else
			continue;
		if (end > (1u << 20))
			continue; /* not a plausible small embedded image */
		if (va < page + end)
			return 1;
	}
	return 0;
}

static void take_note(struct vmi_x86 *x, uint64_t hdr_va, struct vmi_linux_identity *id)
{
	uint8_t n[16 + VMI_LINUX_ID_MAX];
	if (hdr_va < VMI_LINUX_START_KERNEL_MAP || vmi_x86_read(x, hdr_va, n, 16) != 0)
		return;
	uint32_t namesz = le32(n), descsz = le32(n + 4);
	if (namesz != 4 || descsz < 8 || descsz > VMI_LINUX_ID_MAX)
		return;
	if (vmi_x86_read(x, hdr_va + 16, n + 16, descsz) != 0)
		return;
	if (inside_embedded_elf(x, hdr_va)) {
		id->embedded_ids++;
		return;
	}
	struct vmi_x86_xlat t;
	if (vmi_x86_translate(x, hdr_va, &t) != 0)
		return;
	for (size_t i = 0; i < id->nids; i++)
		if (id->ids[i].len == descsz && !memcmp(id->ids[i].id, n + 16, descsz)) {
			id->ids[i].writable &= t.writable;
			return;
		}
	if (id->nids == VMI_LINUX_MAX_IDS) {
		id->more_ids++;
		return;
	}
	struct vmi_linux_build_id *b = &id->ids[id->nids++];
	memcpy(b->id, n + 16, descsz);
	b->len = descsz;
	b->va = hdr_va;
	b->writable = t.writable;
	hex_of(b->id, descsz, b->hex);
}

/* The kernel's own note sits in read-only data once the kernel has applied
 * its RO protections; writable memory in the image range (data, bss, freed
 * init pages) can hold copies of other ELF files' notes. Keep only the
 * read-only ones when there are any. */
static void prefer_readonly_ids(struct vmi_linux_identity *id)
{
	size_t ro = 0;
	for (size_t i = 0; i < id->nids; i++)
		ro += !id->ids[i].writable;
	if (!ro)
		return;
	size_t k = 0;
	for (size_t i = 0; i < id->nids; i++) {
		if (id->ids[i].writable)
			id->writable_ids++;
		else
			id->ids[k++] = id->ids[i];
	}
	id->nids = k;
}

/* "... #<build number> SMP ..." rather than the weak fallback banner whose
 * version has no build number ("# SMP"). */
static int banner_numbered(const char *b)
{
	const char *h = strstr(b, ") #");
	return h && h[3] >= '0' && h[3] <= '9';
}

static void take_banner(struct vmi_x86 *x, uint64_t va, struct vmi_linux_identity *id)
{
	char line[VMI_LINUX_BANNER_MAX];
	if (id->banner[0] && banner_numbered(id->banner))
		return;
	size_t n = read_line(x, va, line, sizeof(line));
	if (n > BANNER_PREFIX_LEN && line[BANNER_PREFIX_LEN] >= '0' &&
	    line[BANNER_PREFIX_LEN] <= '9' && (!id->banner[0] || banner_numbered(line))) {
		memcpy(id->banner, line, n + 1);
		id->banner_va = va;
	}
}

/* Hits of both prefixes starting in [base, base+len) of p. */
static void scan_chunk(struct vmi_x86 *x, const uint8_t *p, size_t len, uint64_t va,
		       struct vmi_linux_identity *id)
{
	for (size_t off = 0; off + sizeof(gnu_tail) <= len;) {
		const uint8_t *h = memmem(p + off, len - off, gnu_tail, sizeof(gnu_tail));
		if (!h)
			break;
		size_t at = (size_t)(h - p);
		if (((va + at) & 3) == 0 && va + at >= 8) /* notes are 4-byte aligned */
			take_note(x, va + at - 8, id);
		off = at + 1;
	}
	for (size_t off = 0; off + BANNER_PREFIX_LEN <= len;) {
		const uint8_t *h = memmem(p + off, len - off, banner_prefix, BANNER_PREFIX_LEN);
		if (!h)
			break;
		size_t at = (size_t)(h - p);
		take_banner(x, va + at, id);
		off = at + 1;
	}
}

#define CHUNK_MAX (2u << 20)

int vmi_linux_identify(struct vmi_x86 *x, struct vmi_linux_identity *id, char *err,
		       size_t errlen)
{
	if (!x || !id)
		return VMI_LINUX_E_ARG;
	memset(id, 0, sizeof(*id));
	uint8_t *scratch = malloc(CHUNK_MAX);
	if (!scratch)
		return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
	const uint64_t end = VMI_LINUX_START_KERNEL_MAP + VMI_LINUX_KERNEL_IMAGE_SIZE;
	uint64_t va = VMI_LINUX_START_KERNEL_MAP;
	/* Last bytes of the previous chunk, for prefixes that straddle chunks. */
	uint8_t join[2 * PREFIX_MAX];
	uint64_t prev_end = 0;
	int rc = 0;

	while (va < end) {
		struct vmi_x86_xlat t;
		int trc = vmi_x86_translate(x, va, &t);
		if (trc != 0) {
			unsigned lvl = t.fail_level >= 1 && t.fail_level <= 5 ? (unsigned)t.fail_level : 1;
			uint64_t span = 1ull << (12 + 9 * (lvl - 1));
			if (span > VMI_LINUX_KERNEL_IMAGE_SIZE)
				span = VMI_LINUX_KERNEL_IMAGE_SIZE;
			va = (va & ~(span - 1)) + span;
			continue;
		}
		uint64_t ext = t.page_size - (va & (t.page_size - 1));
		if (ext > CHUNK_MAX)
			ext = CHUNK_MAX;
		if (ext > end - va)
			ext = end - va;
		if (id->mapped_bytes + ext > VMI_LINUX_SCAN_MAX) {
			rc = vmi_seterr(err, errlen, VMI_LINUX_E_SCAN_LIMIT,
					"kernel image range maps more than %llu MiB: not a kernel image",
					(unsigned long long)(VMI_LINUX_SCAN_MAX >> 20));
			break;
		}
		const void *direct;
		const uint8_t *p;
		if (vmi_mem_direct(x->mem, t.pa, (size_t)ext, &direct) == 0) {
			p = direct;
		} else if (vmi_mem_read(x->mem, t.pa, scratch, (size_t)ext) == 0) {
			p = scratch;
		} else { /* maps to something that is not RAM */
			va += ext;
			prev_end = 0;
			continue;
		}
		if (!id->first_mapped_va)
			id->first_mapped_va = va;
		id->mapped_bytes += ext;
		if (prev_end == va) {
			/* Prefixes that start in the previous chunk and end in this one. */
			size_t take = ext < PREFIX_MAX ? (size_t)ext : PREFIX_MAX;
			memcpy(join + PREFIX_MAX, p, take);
			for (size_t i = 1; i < PREFIX_MAX; i++) {
				size_t avail = PREFIX_MAX - i + take;
				uint64_t hva = va - PREFIX_MAX + i;
				if (avail >= sizeof(gnu_tail) && !memcmp(join + i, gnu_tail, sizeof(gnu_tail)) &&
				    (hva & 3) == 0)
					take_note(x, hva - 8, id);
				if (avail >= BANNER_PREFIX_LEN &&
				    !memcmp(join + i, banner_prefix, BANNER_PREFIX_LEN))
					take_banner(x, hva, id);
			}
		}
		scan_chunk(x, p, (size_t)ext, va, id);
		if (ext >= PREFIX_MAX)
			memcpy(join, p + ext - PREFIX_MAX, PREFIX_MAX);
		else
			memset(join, 0, sizeof(join));
		va += ext;
		prev_end = ext >= PREFIX_MAX ? va : 0;
	}
	free(scratch);
	prefer_readonly_ids(id);
	return rc;
}

/* ---- anchors -------------------------------------------------------------- */

int vmi_linux_slide_from_idt(struct vmi_x86 *x, uint64_t idt_base, uint64_t idt_limit,
			     const struct vmi_linux_gate *gates, size_t n, int64_t *slide,
			     char *detail, size_t detlen)
{
	if (!x || !gates || !n || !slide)
		return VMI_LINUX_E_ARG;
	char buf[256] = "";
	size_t used = 0;
	int64_t first = 0;
	int disagree = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t g[16];
		unsigned v = gates[i].vector;
		if (v > 255 || (uint64_t)v * 16 + 15 > idt_limit) {
			detailf(detail, detlen, "vector %u beyond IDT limit 0x%" PRIx64, v, idt_limit);
			return VMI_LINUX_E_ANCHOR;
		}
		int rc = vmi_x86_read(x, idt_base + v * 16ull, g, sizeof(g));
		if (rc) {
			detailf(detail, detlen, "IDT gate %u at 0x%" PRIx64 " unreadable: %s", v,
				(uint64_t)(idt_base + v * 16ull), vmi_x86_strerror(rc));
			return VMI_LINUX_E_READ;
		}
		unsigned type = g[5] & 0xf;
		if (!(g[5] & 0x80) || (type != 0xe && type != 0xf)) {
			detailf(detail, detlen, "IDT gate %u not a present interrupt/trap gate (0x%02x)",
				v, g[5]);
			return VMI_LINUX_E_ANCHOR;
		}
		uint64_t target = (uint64_t)(g[0] | g[1] << 8) | (uint64_t)(g[6] | g[7] << 8) << 16 |
				  (uint64_t)le32(g + 8) << 32;
		int64_t s = (int64_t)(target - gates[i].link_va);
		if (i == 0)
			first = s;
		else if (s != first)
			disagree = 1;
		int w = snprintf(buf + used, sizeof(buf) - used, "%s%u:%s%+" PRId64 "M", i ? " " : "",
				 v, gates[i].name ? gates[i].name : "?", s / (1 << 20));
		if (w > 0 && (size_t)w < sizeof(buf) - used)
			used += (size_t)w;
	}
	if (disagree) {
		detailf(detail, detlen, "IDT gates disagree: %s", buf);
		return VMI_LINUX_E_DISAGREE;
	}
	*slide = first;
	detailf(detail, detlen, "%zu gates agree (%s)", n, buf);
	return 0;
}

int vmi_linux_slide_scan(struct vmi_x86 *x, uint64_t link_va, const uint8_t *bytes, size_t len,
			 int64_t slide_min, int64_t slide_max, uint64_t align, int64_t *slide,
			 char *detail, size_t detlen)
{
	if (!x || !bytes || !len || len > 4096 || !slide || align < 4096 || (align & (align - 1)) ||
	    slide_max < slide_min || (uint64_t)(slide_max - slide_min) / align > (1u << 20))
		return VMI_LINUX_E_ARG;
	uint8_t buf[4096];
	size_t found = 0;
	int64_t hit[2] = { 0, 0 };
	for (int64_t s = slide_min; s <= slide_max; s += (int64_t)align) {
		uint64_t va = link_va + (uint64_t)s;
		if (vmi_x86_read(x, va, buf, len) != 0 || memcmp(buf, bytes, len) != 0)
			continue;
		if (found < 2)
			hit[found] = s;
		found++;
	}
	if (found == 1) {
		*slide = hit[0];
		detailf(detail, detlen, "found at 0x%" PRIx64, link_va + (uint64_t)hit[0]);
		return 0;
	}
	if (found == 0)
		detailf(detail, detlen, "not found at any of the %" PRId64 " candidate slides",
			(slide_max - slide_min) / (int64_t)align + 1);
	else
		detailf(detail, detlen, "ambiguous: %zu candidate slides match (0x%" PRIx64
			", 0x%" PRIx64 ", ...)", found, (uint64_t)hit[0], (uint64_t)hit[1]);
	return VMI_LINUX_E_ANCHOR;
}

/* ---- attach --------------------------------------------------------------- */

static const struct {
	unsigned vector;
	const char *name;
} idt_handlers[] = {
	{ 0, "asm_exc_divide_error" },
	{ 3, "asm_exc_int3" },
	{ 6, "asm_exc_invalid_op" },
	{ 13, "asm_exc_general_protection" },
	{ 14, "asm_exc_page_fault" },
};
#define NGATES (sizeof(idt_handlers) / sizeof(idt_handlers[0]))

/* Link-time extent of the kernel image: allocated sections in the kernel map. */
static int image_extent(const struct vmi_kcat *kc, uint64_t *lo, uint64_t *hi)
{
	*lo = UINT64_MAX;
	*hi = 0;
	for (size_t i = 0; i < vmi_kcat_section_count(kc); i++) {
		const struct vmi_ksection *s = vmi_kcat_section_at(kc, i);
		if (!s || !(s->flags & 2 /* SHF_ALLOC */) || s->addr < VMI_LINUX_START_KERNEL_MAP ||
		    s->size > VMI_LINUX_KERNEL_IMAGE_SIZE)
			continue;
		if (s->addr < *lo)
			*lo = s->addr;
		if (s->addr + s->size > *hi)
			*hi = s->addr + s->size;
	}
	return *hi > *lo && *hi <= VMI_LINUX_START_KERNEL_MAP + VMI_LINUX_KERNEL_IMAGE_SIZE ? 0 : -1;
}

/* Link address and bytes of the catalog's build-ID note inside .notes. */
static int catalog_note(const struct vmi_kcat *kc, uint64_t *va, uint8_t *note, size_t *len)
{
	const struct vmi_ksection *s = vmi_kcat_section(kc, ".notes");
	size_t idlen;
	const uint8_t *id = vmi_kcat_build_id(kc, &idlen);
	const uint8_t *d = s ? vmi_kcat_section_data(kc, s) : NULL;
	if (!d || !id || !idlen || idlen > VMI_LINUX_ID_MAX)
		return -1;
	uint8_t want[16 + VMI_LINUX_ID_MAX] = { 4, 0, 0, 0, (uint8_t)idlen, 0, 0, 0,
						3, 0, 0, 0, 'G', 'N', 'U', 0 };
	memcpy(want + 16, id, idlen);
	for (uint64_t off = 0; off + 16 + idlen <= s->size; off += 4) {
		if (!memcmp(d + off, want, 16 + idlen)) {
			*va = s->addr + off;
			memcpy(note, want, 16 + idlen);
			*len = 16 + idlen;
			return 0;
		}
	}
	return -1;
}

static int set_anchor(struct vmi_linux_anchor *a, int rc, int64_t slide)
{
	a->ok = rc == 0;
	a->slide = rc == 0 ? slide : 0;
	return rc;
}

static void anchors_text(const struct vmi_linux_info *in, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (int k = 0; k < VMI_LINUX_NANCHORS; k++) {
		const struct vmi_linux_anchor *a = &in->anchors[k];
		int w;
		if (a->ok)
			w = snprintf(out + used, outlen - used, "%s%s: slide 0x%" PRIx64 " (%s)",
				     k ? "; " : "", vmi_linux_anchor_name((enum vmi_linux_anchor_kind)k),
				     (uint64_t)a->slide, a->detail);
		else
			w = snprintf(out + used, outlen - used, "%s%s: failed (%s)", k ? "; " : "",
				     vmi_linux_anchor_name((enum vmi_linux_anchor_kind)k), a->detail);
		if (w < 0 || (size_t)w >= outlen - used)
			return;
		used += (size_t)w;
	}
}

static int compute_slide(struct vmi_linux *lx, const struct vmi_vcpu *v0, char *err,
			 size_t errlen)
{
	struct vmi_linux_info *in = &lx->info;
	const struct vmi_kcat *kc = lx->kc;
	uint64_t lo, hi;
	if (image_extent(kc, &lo, &hi))
		return vmi_seterr(err, errlen, VMI_LINUX_E_CATALOG,
				  "catalog has no kernel image sections in the kernel map");
	const int64_t smin = 0;
	const int64_t smax = (int64_t)(((VMI_LINUX_START_KERNEL_MAP + VMI_LINUX_KERNEL_IMAGE_SIZE - hi)) &
				       ~(VMI_LINUX_KASLR_ALIGN - 1));

	/* (a) IDT gates. */
	struct vmi_linux_anchor *a = &in->anchors[VMI_LINUX_ANCHOR_IDT];
	struct vmi_linux_gate gates[NGATES];
	int rc = 0;
	for (size_t i = 0; i < NGATES && !rc; i++) {
		gates[i].vector = idt_handlers[i].vector;
		gates[i].name = idt_handlers[i].name;
		if (vmi_kcat_symbol(kc, idt_handlers[i].name, &gates[i].link_va)) {
			detailf(a->detail, sizeof(a->detail), "catalog lacks %s", idt_handlers[i].name);
			rc = VMI_LINUX_E_CATALOG;
		}
	}
	if (!rc && (v0->idtr_base.prov == VMI_PROV_NONE || v0->idtr_limit.prov == VMI_PROV_NONE)) {
		detailf(a->detail, sizeof(a->detail), "vCPU 0 has no IDTR");
		rc = VMI_LINUX_E_VCPU;
	}
	int64_t s = 0;
	if (!rc)
		rc = vmi_linux_slide_from_idt(&lx->x, v0->idtr_base.v, v0->idtr_limit.v, gates, NGATES,
					      &s, a->detail, sizeof(a->detail));
	if (!rc && (s < smin || s > smax || ((uint64_t)s & (VMI_LINUX_KASLR_ALIGN - 1)))) {
		char tmp[sizeof(a->detail)];
		snprintf(tmp, sizeof(tmp), "%s", a->detail);
		detailf(a->detail, sizeof(a->detail), "slide 0x%" PRIx64 " not a KASLR slide (%.180s)",
			(uint64_t)s, tmp);
		rc = VMI_LINUX_E_ANCHOR;
	}
	set_anchor(a, rc, s);

	/* (b) the build-ID note at .notes + slide. */
	a = &in->anchors[VMI_LINUX_ANCHOR_NOTE];
	uint8_t note[16 + VMI_LINUX_ID_MAX];
	size_t note_len;
	uint64_t note_va;
	if (catalog_note(kc, &note_va, note, &note_len)) {
		detailf(a->detail, sizeof(a->detail), "catalog .notes has no build-ID note");
		rc = VMI_LINUX_E_CATALOG;
	} else {
		rc = vmi_linux_slide_scan(&lx->x, note_va, note, note_len, smin, smax,
					  VMI_LINUX_KASLR_ALIGN, &s, a->detail, sizeof(a->detail));
	}
	set_anchor(a, rc, s);

	/* (c) the banner at linux_banner + slide. */
	a = &in->anchors[VMI_LINUX_ANCHOR_BANNER];
	uint64_t banner_va;
	const char *banner = vmi_kcat_banner(kc);
	if (vmi_kcat_symbol(kc, "linux_banner", &banner_va) || !banner || !banner[0]) {
		detailf(a->detail, sizeof(a->detail), "catalog lacks linux_banner");
		rc = VMI_LINUX_E_CATALOG;
	} else {
		rc = vmi_linux_slide_scan(&lx->x, banner_va, (const uint8_t *)banner, strlen(banner),
					  smin, smax, VMI_LINUX_KASLR_ALIGN, &s, a->detail,
					  sizeof(a->detail));
	}
	set_anchor(a, rc, s);

	/* Agreement: at least two anchors, all that produced a value equal. */
	unsigned nok = 0;
	int disagree = 0;
	for (int k = 0; k < VMI_LINUX_NANCHORS; k++) {
		if (!in->anchors[k].ok)
			continue;
		if (nok && in->anchors[k].slide != in->slide)
			disagree = 1;
		if (!nok)
			in->slide = in->anchors[k].slide;
		nok++;
	}
	char all[1024];
	anchors_text(in, all, sizeof(all));
	if (disagree)
		return vmi_seterr(err, errlen, VMI_LINUX_E_DISAGREE, "KASLR anchors disagree: %s", all);
	if (nok < 2)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ANCHOR,
				  "fewer than two KASLR anchors gave a slide: %s", all);
	in->nagree = nok;
	return 0;
}

/* Switch to the kernel's own top-level table (init_top_pgt): stable across
 * context switches, unlike whatever CR3 vCPU 0 happened to hold. Used only
 * if it maps the build-ID note to the same bytes. */
static void use_kernel_pgd(struct vmi_linux *lx)
{
	uint64_t sym, note_va;
	uint8_t note[16 + VMI_LINUX_ID_MAX], got[16 + VMI_LINUX_ID_MAX];
	size_t note_len;
	struct vmi_x86_xlat t;
	if (vmi_kcat_symbol(lx->kc, "init_top_pgt", &sym) ||
	    catalog_note(lx->kc, &note_va, note, &note_len))
		return;
	if (vmi_x86_translate(&lx->x, sym + (uint64_t)lx->info.slide, &t) || (t.pa & 4095))
		return;
	struct vmi_x86 *probe = malloc(sizeof(*probe));
	if (!probe)
		return;
	if (vmi_x86_init(probe, lx->x.mem, t.pa, lx->x.cr4, lx->x.efer) == 0 &&
	    vmi_x86_set_maxphyaddr(probe, lx->x.maxphyaddr) == 0 &&
	    vmi_x86_read(probe, note_va + (uint64_t)lx->info.slide, got, note_len) == 0 &&
	    !memcmp(got, note, note_len) && vmi_x86_set_cr3(&lx->x, t.pa) == 0)
		lx->info.kernel_pgd = t.pa;
	free(probe);
}

/* After the slide is known, the running banner is the one at linux_banner. */
static void running_banner(struct vmi_linux *lx)
{
	uint64_t va;
	char line[VMI_LINUX_BANNER_MAX];
	if (vmi_kcat_symbol(lx->kc, "linux_banner", &va))
		return;
	va += (uint64_t)lx->info.slide;
	if (read_line(&lx->x, va, line, sizeof(line)) > BANNER_PREFIX_LEN) {
		memcpy(lx->info.ident.banner, line, sizeof(line));
		lx->info.ident.banner_va = va;
	}
}

int vmi_linux_attach(const struct vmi_mem *mem, const struct vmi_vcpu *vcpus, size_t nvcpus,
		     const struct vmi_kcat *kc, struct vmi_linux **out,
		     struct vmi_linux_info *info_out, char *err, size_t errlen)
{
	if (!mem || !vcpus || !nvcpus || !kc || !out)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ARG, "invalid argument");
	*out = NULL;
	if (info_out)
		memset(info_out, 0, sizeof(*info_out));
	const struct vmi_vcpu *v0 = &vcpus[0];
	if (v0->cr3.prov == VMI_PROV_NONE || v0->cr4.prov == VMI_PROV_NONE ||
	    v0->efer.prov == VMI_PROV_NONE)
		return vmi_seterr(err, errlen, VMI_LINUX_E_VCPU,
				  "vCPU %u lacks CR3/CR4/EFER", v0->index);
	struct vmi_linux *lx = calloc(1, sizeof(*lx));
	if (!lx)
		return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
	lx->kc = kc;
	struct vmi_linux_info *in = &lx->info;
	in->build_id_hex = vmi_kcat_build_id_hex(kc);
	in->cr3_vcpu = in->cr3_scan = v0->cr3.v;
	int rc = vmi_x86_init(&lx->x, mem, v0->cr3.v, v0->cr4.v, v0->efer.v);
	if (rc) {
		rc = vmi_seterr(err, errlen, VMI_LINUX_E_PAGING,
				"vCPU %u paging state (CR3 0x%" PRIx64 " CR4 0x%" PRIx64
				" EFER 0x%" PRIx64 "): %s", v0->index, v0->cr3.v, v0->cr4.v,
				v0->efer.v, vmi_x86_strerror(rc));
		goto out;
	}
	in->paging_levels = lx->x.levels;

	rc = vmi_linux_identify(&lx->x, &in->ident, err, errlen);
	if (rc)
		goto out;
	/* With PTI a vCPU in user mode holds the user PGD (bit 12 set), which
	 * maps only the entry code; the kernel PGD is the page before it. */
	if (in->ident.nids == 0 && (v0->cr3.v & 0x1000)) {
		uint64_t kcr3 = v0->cr3.v & ~0x1000ull;
		if (vmi_x86_set_cr3(&lx->x, kcr3) == 0) {
			in->cr3_scan = kcr3;
			rc = vmi_linux_identify(&lx->x, &in->ident, err, errlen);
			if (rc)
				goto out;
		}
	}
	if (in->ident.nids == 0) {
		rc = vmi_seterr(err, errlen, VMI_LINUX_E_NO_BUILD_ID,
				"no kernel build-ID note in the kernel image range (CR3 0x%" PRIx64
				", %llu KiB mapped, %zu vDSO notes)", in->cr3_scan,
				(unsigned long long)(in->ident.mapped_bytes >> 10),
				in->ident.embedded_ids);
		goto out;
	}
	size_t idlen;
	const uint8_t *id = vmi_kcat_build_id(kc, &idlen);
	int match = 0;
	for (size_t i = 0; i < in->ident.nids; i++)
		match |= in->ident.ids[i].len == idlen && !memcmp(in->ident.ids[i].id, id, idlen);
	if (!match) {
		char running[VMI_LINUX_MAX_IDS * (2 * VMI_LINUX_ID_MAX + 2)] = "";
		for (size_t i = 0; i < in->ident.nids; i++) {
			strcat(running, i ? "," : "");
			strcat(running, in->ident.ids[i].hex);
		}
		rc = vmi_seterr(err, errlen, VMI_LINUX_E_MISMATCH,
				"guest kernel build ID %s (banner \"%.200s\") does not match the "
				"catalog's %s (banner \"%.200s\")", running,
				in->ident.banner[0] ? in->ident.banner : "not found",
				vmi_kcat_build_id_hex(kc), vmi_kcat_banner(kc));
		goto out;
	}
	rc = compute_slide(lx, v0, err, errlen);
	if (rc)
		goto out;
	use_kernel_pgd(lx);
	running_banner(lx);
out:
	if (info_out)
		*info_out = lx->info;
	if (rc) {
		free(lx);
		return rc;
	}
	*out = lx;
	return 0;
}

void vmi_linux_detach(struct vmi_linux *lx)
{
	free(lx);
}

const struct vmi_linux_info *vmi_linux_info(const struct vmi_linux *lx)
{
	return lx ? &lx->info : NULL;
}

struct vmi_x86 *vmi_linux_x86(struct vmi_linux *lx)
{
	return lx ? &lx->x : NULL;
}

int vmi_linux_symbol(const struct vmi_linux *lx, const char *name, uint64_t *va)
{
	uint64_t a;
	if (!lx || !name || !va)
		return VMI_LINUX_E_ARG;
	if (vmi_kcat_symbol(lx->kc, name, &a))
		return VMI_LINUX_E_CATALOG;
	*va = a + (uint64_t)lx->info.slide;
	return 0;
}

int vmi_linux_modules(struct vmi_linux *lx, struct vmi_linux_modules *out, char *err,
		      size_t errlen)
{
	if (!lx || !out)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ARG, "invalid argument");
	memset(out, 0, sizeof(*out));
	struct vmi_linux_layout l;
	const struct vmi_kbtf *b = vmi_kcat_btf(lx->kc);
	int rc = vmi_linux_layout_from_btf(b, &l, err, errlen);
	if (rc)
		return rc;
	uint64_t modules_va, kset_va;
	if (vmi_linux_symbol(lx, "modules", &modules_va) ||
	    vmi_linux_symbol(lx, "module_kset", &kset_va))
		return vmi_seterr(err, errlen, VMI_LINUX_E_CATALOG,
				  "catalog lacks the symbols modules / module_kset");
	return vmi_linux_walk_modules(&lx->x, &l, modules_va, kset_va, VMI_LINUX_MAX_MODULES, out,
				      err, errlen);
}

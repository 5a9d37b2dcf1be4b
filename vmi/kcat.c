/* Kernel catalog for one vmlinux. See kcat.h. */
#include "vmi/kcat.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmi/err.h"
#include "vmi/kimage.h"

#define MAX_SECTIONS 4096
#define BANNER_PREFIX "Linux version "

struct vmi_kcat {
	uint8_t *img;
	size_t img_len;
	struct vmi_ksection *sec;
	size_t nsec;
	char *names; /* section name pool */
	uint8_t build_id[VMI_KCAT_BUILD_ID_MAX];
	size_t build_id_len;
	char build_id_hex[2 * VMI_KCAT_BUILD_ID_MAX + 1];
	char banner[VMI_KCAT_BANNER_MAX];
	struct vmi_ksyms *syms;
	struct vmi_kbtf *btf;
};

/* Errors: a code returned, the message into err (vmi/err.h). */
#define fail(...) vmi_seterr(__VA_ARGS__)

const char *vmi_kcat_strerror(int code)
{
	switch (code) {
	case VMI_KCAT_OK: return "ok";
	case VMI_KCAT_E_ARG: return "invalid argument";
	case VMI_KCAT_E_IMAGE: return "kernel image unreadable";
	case VMI_KCAT_E_ELF: return "bad ELF image";
	case VMI_KCAT_E_NO_SECTION: return "required section missing";
	case VMI_KCAT_E_NO_BUILD_ID: return "no GNU build ID";
	case VMI_KCAT_E_SYMBOLS: return "symbols unavailable";
	case VMI_KCAT_E_BTF: return "BTF unavailable";
	case VMI_KCAT_E_NOMEM: return "out of memory";
	case VMI_KCAT_E_NOT_FOUND: return "not found";
	case VMI_KCAT_E_DUPLICATE: return "build ID already present";
	default: return "unknown error";
	}
}

void vmi_kcat_close(struct vmi_kcat *kc)
{
	if (!kc)
		return;
	vmi_ksyms_free(kc->syms);
	vmi_kbtf_close(kc->btf);
	free(kc->sec);
	free(kc->names);
	free(kc->img);
	free(kc);
}

/* Copy the section table out of libelf, bounds-checking every section. */
static int load_sections(struct vmi_kcat *kc, char *err, size_t errlen)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(err, errlen, VMI_KCAT_E_ELF, "libelf: %s", elf_errmsg(-1));
	Elf *e = elf_memory((char *)kc->img, kc->img_len);
	if (!e)
		return fail(err, errlen, VMI_KCAT_E_ELF, "elf_memory: %s", elf_errmsg(-1));
	int rc = VMI_KCAT_OK;
	size_t shnum = 0, shstrndx = 0, pool_len = 0;
	if (elf_kind(e) != ELF_K_ELF || elf_getshdrnum(e, &shnum) || elf_getshdrstrndx(e, &shstrndx)) {
		rc = fail(err, errlen, VMI_KCAT_E_ELF, "no section table: %s", elf_errmsg(-1));
		goto out;
	}
	if (shnum == 0 || shnum > MAX_SECTIONS) {
		rc = fail(err, errlen, VMI_KCAT_E_ELF, "%zu sections", shnum);
		goto out;
	}
	kc->sec = calloc(shnum, sizeof(*kc->sec));
	size_t pool_alloc = 4096;
	kc->names = malloc(pool_alloc);
	if (!kc->sec || !kc->names) {
		rc = fail(err, errlen, VMI_KCAT_E_NOMEM, "out of memory");
		goto out;
	}
	size_t *name_off = calloc(shnum, sizeof(*name_off));
	if (!name_off) {
		rc = fail(err, errlen, VMI_KCAT_E_NOMEM, "out of memory");
		goto out;
	}
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e, scn)) != NULL;) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || kc->nsec >= shnum) {
			rc = fail(err, errlen, VMI_KCAT_E_ELF, "section header: %s", elf_errmsg(-1));
			break;
		}
		const char *nm = elf_strptr(e, shstrndx, sh.sh_name);
		if (!nm)
			nm = "";
		if (sh.sh_type != SHT_NOBITS &&
		    (sh.sh_offset > kc->img_len || sh.sh_size > kc->img_len - sh.sh_offset)) {
			rc = fail(err, errlen, VMI_KCAT_E_ELF, "section %s [%#llx,+%#llx) outside image",
				  nm, (unsigned long long)sh.sh_offset, (unsigned long long)sh.sh_size);
			break;
		}
		if (sh.sh_addr + sh.sh_size < sh.sh_addr) {
			rc = fail(err, errlen, VMI_KCAT_E_ELF, "section %s address range wraps", nm);
			break;
		}
		size_t nl = strnlen(nm, 256);
		if (pool_alloc - pool_len < nl + 1) {
			while (pool_alloc - pool_len < nl + 1)
				pool_alloc *= 2;
			char *np = realloc(kc->names, pool_alloc);
			if (!np) {
				rc = fail(err, errlen, VMI_KCAT_E_NOMEM, "out of memory");
				break;
			}
			kc->names = np;
		}
		memcpy(kc->names + pool_len, nm, nl);
		kc->names[pool_len + nl] = '\0';
		name_off[kc->nsec] = pool_len;
		pool_len += nl + 1;
		struct vmi_ksection *s = &kc->sec[kc->nsec++];
		s->addr = sh.sh_addr;
		s->offset = sh.sh_offset;
		s->size = sh.sh_size;
		s->type = sh.sh_type;
		s->flags = sh.sh_flags;
	}
	for (size_t i = 0; i < kc->nsec; i++)
		kc->sec[i].name = kc->names + name_off[i];
	free(name_off);
out:
	elf_end(e);
	return rc;
}

size_t vmi_kcat_section_count(const struct vmi_kcat *kc) { return kc ? kc->nsec : 0; }

const struct vmi_ksection *vmi_kcat_section_at(const struct vmi_kcat *kc, size_t i)
{
	return kc && i < kc->nsec ? &kc->sec[i] : NULL;
}

const struct vmi_ksection *vmi_kcat_section(const struct vmi_kcat *kc, const char *name)
{
	if (!kc || !name)
		return NULL;
	for (size_t i = 0; i < kc->nsec; i++)
		if (strcmp(kc->sec[i].name, name) == 0)
			return &kc->sec[i];
	return NULL;
}

const uint8_t *vmi_kcat_section_data(const struct vmi_kcat *kc, const struct vmi_ksection *s)
{
	if (!kc || !s || s->type == SHT_NOBITS)
		return NULL;
	return kc->img + s->offset; /* bounds checked in load_sections */
}

const struct vmi_ksection *vmi_kcat_section_of(const struct vmi_kcat *kc, uint64_t addr)
{
	if (!kc)
		return NULL;
	for (size_t i = 0; i < kc->nsec; i++) {
		const struct vmi_ksection *s = &kc->sec[i];
		if ((s->flags & SHF_ALLOC) && s->size && addr >= s->addr && addr - s->addr < s->size)
			return s;
	}
	return NULL;
}

const uint8_t *vmi_kcat_bytes_at(const struct vmi_kcat *kc, uint64_t addr, size_t len)
{
	if (!kc)
		return NULL;
	for (size_t i = 0; i < kc->nsec; i++) {
		const struct vmi_ksection *s = &kc->sec[i];
		if (s->type == SHT_NOBITS || !(s->flags & SHF_ALLOC) || !s->addr)
			continue;
		if (addr >= s->addr && addr - s->addr <= s->size && len <= s->size - (addr - s->addr))
			return kc->img + s->offset + (addr - s->addr);
	}
	return NULL;
}

size_t vmi_kcat_parse_build_id(const uint8_t *notes, size_t len, uint8_t *id, size_t idmax)
{
	size_t pos = 0;
	while (notes && len - pos >= 12 && pos <= len) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, notes + pos, 4);
		memcpy(&descsz, notes + pos + 4, 4);
		memcpy(&type, notes + pos + 8, 4);
		pos += 12;
		size_t name_span = ((size_t)namesz + 3) & ~(size_t)3;
		size_t desc_span = ((size_t)descsz + 3) & ~(size_t)3;
		if (name_span > len - pos || desc_span > len - pos - name_span)
			return 0;
		const uint8_t *name = notes + pos, *desc = notes + pos + name_span;
		if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(name, "GNU", 4) == 0) {
			if (descsz == 0 || descsz > idmax)
				return 0;
			memcpy(id, desc, descsz);
			return descsz;
		}
		pos += name_span + desc_span;
	}
	return 0;
}

static int load_build_id(struct vmi_kcat *kc, char *err, size_t errlen)
{
	const struct vmi_ksection *s = vmi_kcat_section(kc, ".notes");
	if (!s || s->type == SHT_NOBITS)
		return fail(err, errlen, VMI_KCAT_E_NO_SECTION, "no .notes section");
	kc->build_id_len = vmi_kcat_parse_build_id(vmi_kcat_section_data(kc, s), s->size,
						   kc->build_id, sizeof(kc->build_id));
	if (!kc->build_id_len)
		return fail(err, errlen, VMI_KCAT_E_NO_BUILD_ID, "no NT_GNU_BUILD_ID note in .notes");
	for (size_t i = 0; i < kc->build_id_len; i++)
		snprintf(kc->build_id_hex + 2 * i, 3, "%02x", kc->build_id[i]);
	return VMI_KCAT_OK;
}

/* Copy a printable, NUL-terminated "Linux version ..." string at p. */
static bool take_banner(struct vmi_kcat *kc, const uint8_t *p, size_t avail)
{
	size_t pl = strlen(BANNER_PREFIX);
	if (avail < pl || memcmp(p, BANNER_PREFIX, pl) != 0)
		return false;
	size_t n = 0;
	while (n < avail && n < sizeof(kc->banner) - 1 && p[n] && p[n] != '\n') {
		if (p[n] < 0x20 || p[n] >= 0x7f)
			return false;
		n++;
	}
	if (n == avail || n == sizeof(kc->banner) - 1 || n <= pl || (p[n] && p[n] != '\n'))
		return false;
	memcpy(kc->banner, p, n);
	kc->banner[n] = '\0';
	return true;
}

static void load_banner(struct vmi_kcat *kc)
{
	uint64_t a;
	if (vmi_ksyms_addr(kc->syms, "linux_banner", &a) == VMI_KSYMS_OK) {
		const struct vmi_ksection *s = vmi_kcat_section_of(kc, a);
		if (s && s->type != SHT_NOBITS) {
			size_t off = (size_t)(a - s->addr);
			if (take_banner(kc, vmi_kcat_section_data(kc, s) + off, (size_t)s->size - off))
				return;
		}
	}
	/* No symbol: the first "Linux version <digit>" string in .rodata. */
	const struct vmi_ksection *ro = vmi_kcat_section(kc, ".rodata");
	const uint8_t *d = vmi_kcat_section_data(kc, ro);
	if (!d)
		return;
	size_t pl = strlen(BANNER_PREFIX);
	for (const uint8_t *p = d; (p = memmem(p, ro->size - (size_t)(p - d), BANNER_PREFIX, pl));
	     p++) {
		size_t rest = ro->size - (size_t)(p - d);
		if (rest > pl && p[pl] >= '0' && p[pl] <= '9' && take_banner(kc, p, rest))
			return;
	}
}

static int load_symbols(struct vmi_kcat *kc, char *err, size_t errlen)
{
	const struct vmi_ksection *ro = vmi_kcat_section(kc, ".rodata");
	if (!ro || ro->type == SHT_NOBITS)
		return fail(err, errlen, VMI_KCAT_E_NO_SECTION, "no .rodata section");
	char e2[256] = "";
	int rc = vmi_ksyms_from_kallsyms(vmi_kcat_section_data(kc, ro), ro->size, &kc->syms, NULL,
					 e2, sizeof(e2));
	if (rc)
		return fail(err, errlen, VMI_KCAT_E_SYMBOLS, "kallsyms: %s", e2);
	return VMI_KCAT_OK;
}

static int load_btf(struct vmi_kcat *kc, char *err, size_t errlen)
{
	const struct vmi_ksection *s = vmi_kcat_section(kc, ".BTF");
	if (!s || s->type == SHT_NOBITS)
		return fail(err, errlen, VMI_KCAT_E_BTF, "no .BTF section (CONFIG_DEBUG_INFO_BTF=n?)");
	char e2[256] = "";
	if (vmi_kbtf_open(vmi_kcat_section_data(kc, s), s->size, &kc->btf, e2, sizeof(e2)))
		return fail(err, errlen, VMI_KCAT_E_BTF, ".BTF: %s", e2);
	return VMI_KCAT_OK;
}

int vmi_kcat_from_image(const void *img, size_t len, struct vmi_kcat **out, char *err,
			size_t errlen)
{
	if (!img || !out)
		return fail(err, errlen, VMI_KCAT_E_ARG, "NULL argument");
	*out = NULL;
	struct vmi_kcat *kc = calloc(1, sizeof(*kc));
	if (!kc)
		return fail(err, errlen, VMI_KCAT_E_NOMEM, "out of memory");
	void *elf = NULL;
	int rc = vmi_kimage_extract(img, len, &elf, &kc->img_len, err, errlen);
	if (rc) {
		free(kc);
		return VMI_KCAT_E_IMAGE;
	}
	kc->img = elf;
	rc = load_sections(kc, err, errlen);
	if (!rc && !vmi_kcat_section(kc, ".text"))
		rc = fail(err, errlen, VMI_KCAT_E_NO_SECTION, "no .text section");
	if (!rc)
		rc = load_build_id(kc, err, errlen);
	if (!rc)
		rc = load_symbols(kc, err, errlen);
	if (!rc)
		rc = load_btf(kc, err, errlen);
	if (rc) {
		vmi_kcat_close(kc);
		return rc;
	}
	load_banner(kc);
	*out = kc;
	return VMI_KCAT_OK;
}

int vmi_kcat_open(const char *path, struct vmi_kcat **out, char *err, size_t errlen)
{
	if (!path || !out)
		return fail(err, errlen, VMI_KCAT_E_ARG, "NULL argument");
	*out = NULL;
	void *buf;
	size_t len;
	if (vmi_kimage_read_file(path, VMI_KIMAGE_DEFAULT_CAP, &buf, &len, err, errlen))
		return VMI_KCAT_E_IMAGE;
	int rc = vmi_kcat_from_image(buf, len, out, err, errlen);
	free(buf);
	return rc;
}

int vmi_kcat_load_system_map(struct vmi_kcat *kc, const char *path, char *err, size_t errlen)
{
	if (!kc || !path)
		return fail(err, errlen, VMI_KCAT_E_ARG, "NULL argument");
	struct vmi_ksyms *s;
	char e2[256] = "";
	if (vmi_ksyms_load_system_map(path, &s, e2, sizeof(e2)))
		return fail(err, errlen, VMI_KCAT_E_SYMBOLS, "%s: %s", path, e2);
	vmi_ksyms_free(kc->syms);
	kc->syms = s;
	return VMI_KCAT_OK;
}

const uint8_t *vmi_kcat_build_id(const struct vmi_kcat *kc, size_t *len)
{
	if (len)
		*len = kc ? kc->build_id_len : 0;
	return kc ? kc->build_id : NULL;
}

const char *vmi_kcat_build_id_hex(const struct vmi_kcat *kc) { return kc ? kc->build_id_hex : ""; }
const char *vmi_kcat_banner(const struct vmi_kcat *kc) { return kc ? kc->banner : ""; }
const struct vmi_ksyms *vmi_kcat_symbols(const struct vmi_kcat *kc) { return kc ? kc->syms : NULL; }
const struct vmi_kbtf *vmi_kcat_btf(const struct vmi_kcat *kc) { return kc ? kc->btf : NULL; }

int vmi_kcat_symbol(const struct vmi_kcat *kc, const char *name, uint64_t *addr)
{
	if (!kc)
		return VMI_KCAT_E_ARG;
	return vmi_ksyms_addr(kc->syms, name, addr) ? VMI_KCAT_E_NOT_FOUND : VMI_KCAT_OK;
}

const uint8_t *vmi_kcat_image(const struct vmi_kcat *kc, size_t *len)
{
	if (len)
		*len = kc ? kc->img_len : 0;
	return kc ? kc->img : NULL;
}

/* ---- set keyed by build ID ---- */

struct vmi_kcat_set {
	struct vmi_kcat **kc;
	size_t n, alloc;
};

struct vmi_kcat_set *vmi_kcat_set_new(void) { return calloc(1, sizeof(struct vmi_kcat_set)); }

struct vmi_kcat *vmi_kcat_set_find(const struct vmi_kcat_set *set, const uint8_t *id, size_t len)
{
	if (!set || !id)
		return NULL;
	for (size_t i = 0; i < set->n; i++)
		if (set->kc[i]->build_id_len == len && memcmp(set->kc[i]->build_id, id, len) == 0)
			return set->kc[i];
	return NULL;
}

struct vmi_kcat *vmi_kcat_set_find_hex(const struct vmi_kcat_set *set, const char *hex)
{
	if (!set || !hex)
		return NULL;
	for (size_t i = 0; i < set->n; i++)
		if (strcasecmp(set->kc[i]->build_id_hex, hex) == 0)
			return set->kc[i];
	return NULL;
}

int vmi_kcat_set_add(struct vmi_kcat_set *set, struct vmi_kcat *kc)
{
	if (!set || !kc || !kc->build_id_len)
		return VMI_KCAT_E_ARG;
	if (vmi_kcat_set_find(set, kc->build_id, kc->build_id_len))
		return VMI_KCAT_E_DUPLICATE;
	if (set->n == set->alloc) {
		size_t na = set->alloc ? set->alloc * 2 : 4;
		struct vmi_kcat **p = realloc(set->kc, na * sizeof(*p));
		if (!p)
			return VMI_KCAT_E_NOMEM;
		set->kc = p;
		set->alloc = na;
	}
	set->kc[set->n++] = kc;
	return VMI_KCAT_OK;
}

size_t vmi_kcat_set_count(const struct vmi_kcat_set *set) { return set ? set->n : 0; }

void vmi_kcat_set_free(struct vmi_kcat_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		vmi_kcat_close(set->kc[i]);
	free(set->kc);
	free(set);
}

/* Kernel catalog: everything the host knows about one guest kernel build,
 * from its image alone: sections, GNU build ID, banner, symbols (decoded from
 * the image's kallsyms tables, or a System.map), BTF struct layouts.
 * Addresses are link-time (unslid). A small set type keys catalogs by build ID.
 */
#ifndef RW_VMI_KCAT_H
#define RW_VMI_KCAT_H

#include <stddef.h>
#include <stdint.h>

#include "vmi/kbtf.h"
#include "vmi/ksyms.h"

enum vmi_kcat_err {
	VMI_KCAT_OK = 0,
	VMI_KCAT_E_ARG = -1,
	VMI_KCAT_E_IMAGE = -2,     /* file unreadable or bzImage extraction failed */
	VMI_KCAT_E_ELF = -3,       /* libelf rejected the image / bad section table */
	VMI_KCAT_E_NO_SECTION = -4, /* a required section (.text/.rodata/.notes) missing */
	VMI_KCAT_E_NO_BUILD_ID = -5,
	VMI_KCAT_E_SYMBOLS = -6,   /* kallsyms decode / System.map failed */
	VMI_KCAT_E_BTF = -7,       /* .BTF missing or unparsable */
	VMI_KCAT_E_NOMEM = -8,
	VMI_KCAT_E_NOT_FOUND = -9, /* lookup miss */
	VMI_KCAT_E_DUPLICATE = -10, /* set already holds that build ID */
};

#define VMI_KCAT_BUILD_ID_MAX 64
#define VMI_KCAT_BANNER_MAX 512

struct vmi_ksection {
	const char *name;
	uint64_t addr;   /* sh_addr */
	uint64_t offset; /* in the ELF image */
	uint64_t size;
	uint32_t type;   /* SHT_* */
	uint64_t flags;  /* SHF_* */
};

struct vmi_kcat;

/* Load a vmlinux ELF or a bzImage (extracted in memory). Builds sections,
 * build ID, banner, kallsyms symbols and BTF; fails with a distinct code if
 * any of them is missing. */
int vmi_kcat_open(const char *path, struct vmi_kcat **out, char *err, size_t errlen);
/* Same from bytes in memory (copied / extracted; img may be freed after). */
int vmi_kcat_from_image(const void *img, size_t len, struct vmi_kcat **out, char *err,
			size_t errlen);
void vmi_kcat_close(struct vmi_kcat *kc);

/* Replace the kallsyms-derived symbols with a real System.map. */
int vmi_kcat_load_system_map(struct vmi_kcat *kc, const char *path, char *err, size_t errlen);

const uint8_t *vmi_kcat_build_id(const struct vmi_kcat *kc, size_t *len);
const char *vmi_kcat_build_id_hex(const struct vmi_kcat *kc);
const char *vmi_kcat_banner(const struct vmi_kcat *kc); /* "Linux version ..." without '\n' */

size_t vmi_kcat_section_count(const struct vmi_kcat *kc);
const struct vmi_ksection *vmi_kcat_section_at(const struct vmi_kcat *kc, size_t i);
const struct vmi_ksection *vmi_kcat_section(const struct vmi_kcat *kc, const char *name);
/* File bytes of a section (NULL for SHT_NOBITS). */
const uint8_t *vmi_kcat_section_data(const struct vmi_kcat *kc, const struct vmi_ksection *s);
/* Image bytes backing [addr, addr+len) if wholly inside one PROGBITS/NOTE
 * section with an address; NULL otherwise. */
const uint8_t *vmi_kcat_bytes_at(const struct vmi_kcat *kc, uint64_t addr, size_t len);

/* The section holding addr (allocated sections only), or NULL. */
const struct vmi_ksection *vmi_kcat_section_of(const struct vmi_kcat *kc, uint64_t addr);

const struct vmi_ksyms *vmi_kcat_symbols(const struct vmi_kcat *kc);
int vmi_kcat_symbol(const struct vmi_kcat *kc, const char *name, uint64_t *addr);
const struct vmi_kbtf *vmi_kcat_btf(const struct vmi_kcat *kc);

/* The ELF image (vmlinux + trailing relocation data). */
const uint8_t *vmi_kcat_image(const struct vmi_kcat *kc, size_t *len);

/* Parse NT_GNU_BUILD_ID from ELF note bytes; returns its length or 0. */
size_t vmi_kcat_parse_build_id(const uint8_t *notes, size_t len, uint8_t *id, size_t idmax);

/* ---- set of catalogs keyed by build ID ---- */
struct vmi_kcat_set;
struct vmi_kcat_set *vmi_kcat_set_new(void);
/* Takes ownership of kc on success. */
int vmi_kcat_set_add(struct vmi_kcat_set *set, struct vmi_kcat *kc);
/* Build ID as hex string or raw bytes. */
struct vmi_kcat *vmi_kcat_set_find_hex(const struct vmi_kcat_set *set, const char *hex);
struct vmi_kcat *vmi_kcat_set_find(const struct vmi_kcat_set *set, const uint8_t *id, size_t len);
size_t vmi_kcat_set_count(const struct vmi_kcat_set *set);
void vmi_kcat_set_free(struct vmi_kcat_set *set);

const char *vmi_kcat_strerror(int code);

#endif

/* Kernel symbol tables for one kernel build: decoded from the image's own
 * compressed kallsyms tables (no System.map needed), or loaded from a
 * System.map file.
 *
 * Addresses are the link-time (unslid) addresses. The input bytes are
 * untrusted: every table entry is bounded and cross-checked; the locator does
 * bounded work on arbitrary input.
 */
#ifndef RW_VMI_KSYMS_H
#define RW_VMI_KSYMS_H

#include <stddef.h>
#include <stdint.h>

enum vmi_ksyms_err {
	VMI_KSYMS_OK = 0,
	VMI_KSYMS_E_ARG = -1,
	VMI_KSYMS_E_NO_TOKEN_TABLE = -2, /* no kallsyms_token_table/_index pair found */
	VMI_KSYMS_E_NO_NAMES = -3,       /* token table found, but no num_syms/names/markers chain */
	VMI_KSYMS_E_NO_ADDRESSES = -4,   /* names found, but no consistent offsets/addresses table */
	VMI_KSYMS_E_BAD_NAME = -5,       /* a name decodes to an invalid string */
	VMI_KSYMS_E_NOMEM = -6,
	VMI_KSYMS_E_IO = -7,             /* System.map could not be read */
	VMI_KSYMS_E_PARSE = -8,          /* System.map line malformed */
	VMI_KSYMS_E_EMPTY = -9,          /* no symbols */
	VMI_KSYMS_E_NOT_FOUND = -10,     /* lookup miss */
	VMI_KSYMS_E_BUDGET = -11,        /* locator stopped: work budget exhausted */
};

/* Longest decoded symbol (type char + name), as the kernel's KSYM_NAME_LEN. */
#define VMI_KSYM_NAME_MAX 512

struct vmi_ksym {
	uint64_t addr;
	const char *name; /* points into the table's string pool */
	char type;        /* nm-style type letter: T t D d R r B b A ... */
};

/* Where the kallsyms tables were found, as offsets into the searched
 * buffer (add the buffer's virtual address for link addresses). */
struct vmi_kallsyms_layout {
	size_t num_syms_off, names_off, markers_off, seqs_off, token_table_off,
		token_index_off, addrs_off, relative_base_off;
	uint32_t num_syms;
	int has_seqs;           /* kallsyms_seqs_of_names present (6.2+, and backports) */
	int base_relative;      /* CONFIG_KALLSYMS_BASE_RELATIVE */
	int absolute_percpu;    /* CONFIG_KALLSYMS_ABSOLUTE_PERCPU */
	int addrs_after_tokens; /* offsets table after token_index (newer layout) */
	uint64_t relative_base;
};

struct vmi_ksyms;

/* Locate and decode the kallsyms tables inside buf (the kernel's .rodata, or
 * any byte range that contains all the tables). layout may be NULL. */
int vmi_ksyms_from_kallsyms(const void *buf, size_t len, struct vmi_ksyms **out,
			    struct vmi_kallsyms_layout *layout, char *err, size_t errlen);

/* Parse a System.map ("<hex addr> <type> <name>" per line). At most
 * max_bytes are read. */
int vmi_ksyms_load_system_map(const char *path, struct vmi_ksyms **out, char *err, size_t errlen);
int vmi_ksyms_parse_system_map(const char *text, size_t len, struct vmi_ksyms **out, char *err,
			       size_t errlen);

void vmi_ksyms_free(struct vmi_ksyms *s);

size_t vmi_ksyms_count(const struct vmi_ksyms *s);
/* i-th symbol in address order (NULL if out of range). */
const struct vmi_ksym *vmi_ksyms_at(const struct vmi_ksyms *s, size_t i);

/* Name -> symbol. With duplicate names (static symbols), the lowest address
 * wins; *dups (optional) gets how many symbols carry the name. */
const struct vmi_ksym *vmi_ksyms_lookup(const struct vmi_ksyms *s, const char *name,
					size_t *dups);
/* Convenience: name -> address; 0 or VMI_KSYMS_E_NOT_FOUND. */
int vmi_ksyms_addr(const struct vmi_ksyms *s, const char *name, uint64_t *addr);

/* Address -> the symbol with the greatest address <= addr (first of equals),
 * offset into it in *off. NULL if addr is below every symbol. Absolute
 * (per-CPU, type 'A') symbols are skipped when percpu == 0. */
const struct vmi_ksym *vmi_ksyms_find(const struct vmi_ksyms *s, uint64_t addr, int percpu,
				      uint64_t *off);

const char *vmi_ksyms_strerror(int code);

#endif

/* Parser for the text of QEMU HMP "info mtree -f" (flat views): finds the RAM
 * ranges of the "system" address space that belong to the main RAM memory
 * region, as {guest-physical address, size, offset inside that region}.
 *
 * Lines of interest (QEMU 7.2, pc and q35, KVM and TCG):
 *   FlatView #1
 *    AS "memory", root: system
 *    Root memory region: system
 *     0000000000000000-000000000009ffff (prio 0, ram): mem KVM
 *     0000000000100000-00000000bfffffff (prio 0, ram): mem @0000000000100000 KVM
 *     0000000100000000-000000015fffffff (prio 0, ram): mem @00000000c0000000 KVM
 * The name is the terminal memory region (the backend id for
 * -machine memory-backend=ID, "pc.ram" for legacy -m); "@OFF" is the offset
 * inside it (absent = 0). Types "ram" and "rom" of that region count (a
 * booted guest shows PAM-shadowed BIOS areas below 1 MiB as "rom" pieces of
 * main RAM); "i/o", "ramd", "nv-ram"... and other regions do not. Ranges that
 * continue each other in both gpa and offset are merged.
 *
 * The text comes from QEMU, not the guest, but is parsed defensively: bounded
 * sizes, strict hex, no overflow, ranges sorted and non-overlapping.
 */
#ifndef RW_VMI_MTREE_H
#define RW_VMI_MTREE_H

#include <stddef.h>
#include <stdint.h>

#include "vmi/mem.h"

enum vmi_mtree_err {
	VMI_MTREE_OK = 0,
	VMI_MTREE_E_ARG = -1,       /* NULL pointer */
	VMI_MTREE_E_NO_SYSTEM = -2, /* no flat view rooted at "system" */
	VMI_MTREE_E_AMBIGUOUS = -3, /* more than one flat view rooted at "system" */
	VMI_MTREE_E_SYNTAX = -4,    /* malformed range line inside the system view */
	VMI_MTREE_E_NO_RAM = -5,    /* no ram range (of the requested name) */
	VMI_MTREE_E_TOO_MANY = -6,  /* more ranges than the output array */
	VMI_MTREE_E_LAYOUT = -7,    /* unsorted/overlapping ranges or offset overflow */
	VMI_MTREE_E_TOO_LONG = -8,  /* input or a line over the limit */
};

#define VMI_MTREE_MAX_TEXT (16u << 20)
#define VMI_MTREE_MAX_LINE 4096u
#define VMI_MTREE_NAME_MAX 64

struct vmi_mtree_range {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* inside the named memory region (= backend fd offset) */
	char name[VMI_MTREE_NAME_MAX];
};

/* Parse text[0..len). ram_name selects the memory region; NULL means "the
 * one mapped at guest-physical 0" (main RAM on pc/q35). Fills out[0..*n),
 * sorted by gpa. */
int vmi_mtree_parse_ram(const char *text, size_t len, const char *ram_name,
			struct vmi_mtree_range *out, size_t max, size_t *n, char *err,
			size_t errlen);

/* Turn parsed ranges into mem_ram regions on one fd whose offset 0 is the
 * start of the memory region (the memfd/file of the backend). */
void vmi_mtree_to_ram_regions(const struct vmi_mtree_range *r, size_t n, int fd,
			      struct vmi_ram_region *out);

const char *vmi_mtree_strerror(int code);

#endif

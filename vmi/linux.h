/* Linux layer of vmi/: attach to a running x86-64 Linux guest from the host.
 *
 *   identity  the running kernel's GNU build ID and "Linux version" banner,
 *             found by scanning the mapped kernel image range in guest memory
 *             (no catalog needed);
 *   attach    match the identity with a catalog (vmi/kcat.h) and compute the
 *             KASLR slide from independent anchors that must agree:
 *               IDT     exception gate targets (IDTR from the vCPU) against
 *                       the catalog's asm_exc_* handlers;
 *               NOTE    the candidate slide at which the catalog's build-ID
 *                       note appears at .notes + slide;
 *               BANNER  the candidate slide at which the catalog's banner
 *                       appears at linux_banner + slide;
 *   walkers   the `modules` list and the module kset through BTF offsets
 *             (vmi/kbtf.h), bounded against hostile lists.
 *
 * Everything read from the guest is hostile input: pointers are checked
 * (kernel half, canonical, aligned, translatable), counts are capped, lists
 * are checked for cycles, strings are bounded. The guest runs while we read:
 * a list being modified can make a walk fail; callers may retry.
 */
#ifndef RW_VMI_LINUX_H
#define RW_VMI_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmi/kbtf.h"
#include "vmi/kcat.h"
#include "vmi/mem.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

enum vmi_linux_err {
	VMI_LINUX_OK = 0,
	VMI_LINUX_E_ARG = -1,
	VMI_LINUX_E_NOMEM = -2,
	VMI_LINUX_E_VCPU = -3,        /* vCPU state missing (provenance NONE) or unusable */
	VMI_LINUX_E_PAGING = -4,      /* walker setup failed / kernel image not mapped */
	VMI_LINUX_E_NO_BUILD_ID = -5, /* no build-ID note in the mapped kernel image */
	VMI_LINUX_E_MISMATCH = -6,    /* running build ID differs from the catalog's */
	VMI_LINUX_E_CATALOG = -7,     /* a symbol/section the layer needs is not in the catalog */
	VMI_LINUX_E_ANCHOR = -8,      /* fewer than two slide anchors produced a value */
	VMI_LINUX_E_DISAGREE = -9,    /* slide anchors disagree */
	VMI_LINUX_E_BTF = -10,        /* a struct member the walkers need is not in BTF */
	VMI_LINUX_E_READ = -11,       /* guest memory at a needed address does not read */
	VMI_LINUX_E_BAD_POINTER = -12, /* non-canonical / user-half / misaligned / unmapped */
	VMI_LINUX_E_LOOP = -13,       /* a list revisits a node */
	VMI_LINUX_E_TOO_MANY = -14,   /* a list exceeds the entry limit */
	VMI_LINUX_E_SCAN_LIMIT = -15, /* kernel image range maps more than the scan cap */
};

const char *vmi_linux_strerror(int code);

/* x86-64 kernel virtual layout (arch/x86/include/asm/page_64_types.h):
 * the kernel image lives in [__START_KERNEL_map, +KERNEL_IMAGE_SIZE) (1 GiB
 * with CONFIG_RANDOMIZE_BASE); KASLR moves it by a multiple of
 * CONFIG_PHYSICAL_ALIGN (0x200000 in Debian's 6.1 configs) and never below
 * the link address (the random offset is >= LOAD_PHYSICAL_ADDR). */
#define VMI_LINUX_START_KERNEL_MAP 0xffffffff80000000ull
#define VMI_LINUX_KERNEL_IMAGE_SIZE (1ull << 30)
#define VMI_LINUX_KASLR_ALIGN (2ull << 20)
/* Mapped bytes of the image range the identity scan reads at most. */
#define VMI_LINUX_SCAN_MAX (512ull << 20)

/* --- identity: what runs, without a catalog ----------------------------- */

#define VMI_LINUX_MAX_IDS 8
#define VMI_LINUX_ID_MAX 64
#define VMI_LINUX_BANNER_MAX 512

struct vmi_linux_build_id {
	uint8_t id[VMI_LINUX_ID_MAX];
	size_t len;
	uint64_t va; /* of the note header */
	bool writable; /* mapped writable (every copy seen) */
	char hex[2 * VMI_LINUX_ID_MAX + 1];
};

struct vmi_linux_identity {
	/* GNU build-ID notes in the kernel image range that are not part of an
	 * embedded ELF image (the vDSOs carry their own). One for a sane guest. */
	struct vmi_linux_build_id ids[VMI_LINUX_MAX_IDS];
	size_t nids;
	size_t embedded_ids;   /* build-ID notes inside embedded ELF images (skipped) */
	size_t more_ids;       /* notes beyond VMI_LINUX_MAX_IDS (not stored) */
	size_t writable_ids;   /* dropped: in writable memory while read-only ones exist */
	/* A "Linux version " line ("#<n>"-numbered preferred), "" if none; after
	 * attach, the line at linux_banner + slide. */
	char banner[VMI_LINUX_BANNER_MAX];
	uint64_t banner_va;
	uint64_t first_mapped_va; /* lowest mapped address of the range (0 if none) */
	uint64_t mapped_bytes;
};

/* Scan [VMI_LINUX_START_KERNEL_MAP, +KERNEL_IMAGE_SIZE) through x's page
 * tables. Bounded: at most VMI_LINUX_SCAN_MAX mapped bytes (else
 * E_SCAN_LIMIT), unmapped parts skipped by the level at which they are absent. */
int vmi_linux_identify(struct vmi_x86 *x, struct vmi_linux_identity *id, char *err,
		       size_t errlen);

/* --- slide anchors (building blocks of attach; usable on their own) ------ */

struct vmi_linux_gate {
	unsigned vector;
	uint64_t link_va; /* handler address in the catalog (unslid) */
	const char *name;
};

/* Read the gates of idt_base (a kernel virtual address) and derive the slide
 * target - link_va for each; all must be present 64-bit interrupt/trap
 * gates, inside the IDT limit, and agree. detail (may be NULL) says which
 * vector gave what. */
int vmi_linux_slide_from_idt(struct vmi_x86 *x, uint64_t idt_base, uint64_t idt_limit,
			     const struct vmi_linux_gate *gates, size_t n, int64_t *slide,
			     char *detail, size_t detlen);

/* Try every slide s = k * align in [slide_min, slide_max]; succeed when
 * exactly one has bytes[0..len) at link_va + s in guest memory. */
int vmi_linux_slide_scan(struct vmi_x86 *x, uint64_t link_va, const uint8_t *bytes, size_t len,
			 int64_t slide_min, int64_t slide_max, uint64_t align, int64_t *slide,
			 char *detail, size_t detlen);

/* --- attach -------------------------------------------------------------- */

enum vmi_linux_anchor_kind {
	VMI_LINUX_ANCHOR_IDT = 0,
	VMI_LINUX_ANCHOR_NOTE,
	VMI_LINUX_ANCHOR_BANNER,
	VMI_LINUX_NANCHORS,
};

const char *vmi_linux_anchor_name(enum vmi_linux_anchor_kind k);

struct vmi_linux_anchor {
	bool ok;
	int64_t slide;
	char detail[256]; /* what matched, or why it failed */
};

struct vmi_linux_info {
	struct vmi_linux_identity ident;
	const char *build_id_hex; /* the catalog's (== the running one after attach) */
	int64_t slide;
	struct vmi_linux_anchor anchors[VMI_LINUX_NANCHORS];
	unsigned nagree; /* anchors that produced the slide */
	unsigned paging_levels;
	uint64_t cr3_vcpu;   /* CR3 of vCPU 0 as read */
	uint64_t cr3_scan;   /* CR3 the identity scan used (PTI user PGD -> kernel PGD) */
	uint64_t kernel_pgd; /* guest-physical init_top_pgt, the walker's CR3 after attach;
			      * 0 when the symbol is absent (then cr3_scan stays) */
};

struct vmi_linux;

/* Attach: vcpus[0] gives CR3/CR4/EFER/IDTR (provenance must not be NONE).
 * mem and kc must outlive the handle. On E_MISMATCH, E_DISAGREE and E_ANCHOR
 * the message names the build IDs / every anchor's value; when info_out is
 * non-NULL it receives what was learned even on failure. */
int vmi_linux_attach(const struct vmi_mem *mem, const struct vmi_vcpu *vcpus, size_t nvcpus,
		     const struct vmi_kcat *kc, struct vmi_linux **out,
		     struct vmi_linux_info *info_out, char *err, size_t errlen);
void vmi_linux_detach(struct vmi_linux *lx);

const struct vmi_linux_info *vmi_linux_info(const struct vmi_linux *lx);
/* The walker (kernel page tables); use it for reads at slid addresses. */
struct vmi_x86 *vmi_linux_x86(struct vmi_linux *lx);
/* Catalog symbol + slide. */
int vmi_linux_symbol(const struct vmi_linux *lx, const char *name, uint64_t *va);

/* --- struct layouts and module walkers ----------------------------------- */

/* Offsets (bytes) and sizes the walkers use, from BTF. */
struct vmi_linux_layout {
	size_t module_size;
	size_t module_state, module_list, module_name, module_name_len;
	size_t module_core_base, module_core_size, module_core_size_len;
	size_t module_text_size, module_text_size_len;
	size_t kobject_name, kobject_entry;
	size_t kset_list;
	size_t mkobj_kobj, mkobj_mod; /* in struct module_kobject */
};

/* 6.1 names: module.{state,list,name,core_layout.base,.size,.text_size},
 * kobject.{name,entry}, kset.list, module_kobject.{kobj,mod}. */
int vmi_linux_layout_from_btf(const struct vmi_kbtf *b, struct vmi_linux_layout *l, char *err,
			      size_t errlen);

#define VMI_LINUX_MAX_MODULES 4096
#define VMI_LINUX_MODNAME_MAX 64
#define VMI_LINUX_MAX_STRUCT (64u << 10) /* largest struct module accepted */

struct vmi_linux_module {
	char name[VMI_LINUX_MODNAME_MAX]; /* module.name; kobject name if only in the kset */
	uint64_t addr;                    /* struct module */
	uint64_t core_base;
	uint64_t core_size, text_size;
	int32_t state;                    /* MODULE_STATE_LIVE 0, COMING 1, GOING 2, UNFORMED 3 */
	bool on_list;                     /* reached through `modules` */
	bool in_kset;                     /* reached through module_kset (sysfs) */
	bool unreadable;                  /* kset's .mod pointer does not lead to a struct module */
	bool name_mismatch;               /* kobject name != module.name */
};

struct vmi_linux_modules {
	struct vmi_linux_module *v; /* list order, then kset-only entries */
	size_t n;
	size_t kset_builtin; /* kset entries whose .mod is NULL (built-in modules' sysfs dirs) */
};

/* Walk the list headed at modules_va (the `modules` list_head) and the kset
 * pointed to by the pointer variable at module_kset_var_va (`module_kset`),
 * at most max_entries (<= VMI_LINUX_MAX_MODULES) nodes each, and merge them
 * by struct module address. On error *out holds what was read before it
 * (free it either way). */
int vmi_linux_walk_modules(struct vmi_x86 *x, const struct vmi_linux_layout *l,
			   uint64_t modules_va, uint64_t module_kset_var_va, size_t max_entries,
			   struct vmi_linux_modules *out, char *err, size_t errlen);

/* Attached form: symbols `modules` and `module_kset`, layout from the BTF. */
int vmi_linux_modules(struct vmi_linux *lx, struct vmi_linux_modules *out, char *err,
		      size_t errlen);

void vmi_linux_modules_free(struct vmi_linux_modules *m);

#endif

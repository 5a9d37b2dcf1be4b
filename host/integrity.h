/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host integrity engine: checks a running guest kernel from outside against a
 * baseline taken at attach.
 *
 *   ktext / krodata  _stext.._etext and __start_rodata..__end_rodata hashed per
 *                    4 KiB page (XXH3). A changed page is diffed byte-wise and
 *                    every changed range is classified from the image's own
 *                    patch-site tables (jump labels, ftrace sites, static calls,
 *                    SMP lock prefixes, kprobes walked from guest memory);
 *                    anything else is a violation. An ftrace site may call
 *                    into the module area only inside the trampoline of an
 *                    ftrace_ops on ftrace_ops_list or a BPF trampoline on
 *                    trampoline_table (both walked from guest memory). Hooks
 *                    name function, handler and owner; a handler outside
 *                    kernel text and kv->hook_allow modules is a violation;
 *                    accepted trampolines are re-checked every pass.
 *   idt              per vCPU: IDTR base/limit, every gate's target/type/DPL.
 *   cr               per vCPU: CR0.WP, CR4.SMEP/SMAP/UMIP (where set at
 *                    baseline), EFER.NXE.
 *   syscall          sys_call_table entries, reported by syscall name.
 *   msr              LSTAR/CSTAR/SYSENTER_EIP against the catalog, STAR/SFMASK/
 *                    SYSENTER_CS against the first value seen; every finding
 *                    names the provenance of the value.
 *   modules          module list vs kset, per-module core text (given lists;
 *                    the walker that produces them lives elsewhere).
 *
 * The baseline bytes of text/rodata are stored once per kernel build ID,
 * un-relocated (KASLR slide removed with the image's own relocation table),
 * in a refcounted cache shared by every VM of that build. Each VM keeps only
 * its per-page hashes plus an overlay of pages where it differs (boot-time
 * differences, accepted patches), so accepting a patch in one VM never
 * changes another's baseline.
 *
 * Everything read from the guest is hostile: pointers, counts and lengths are
 * bounded; a guest that lies gets findings, never unbounded work.
 * Not thread-safe per VM object; distinct VM objects may run passes in
 * parallel threads (the cache is locked; shared baseline bytes are immutable).
 */
#ifndef RW_HOST_INTEGRITY_H
#define RW_HOST_INTEGRITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmi/kcat.h"
#include "vmi/ksyms.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

enum rw_integ_err {
	RW_INTEG_OK = 0,
	RW_INTEG_E_ARG = -1,       /* NULL / inconsistent argument */
	RW_INTEG_E_SYMBOL = -2,    /* a required symbol is missing from the catalog */
	RW_INTEG_E_TABLE = -3,     /* a patch-site table is missing or malformed */
	RW_INTEG_E_READ = -4,      /* guest memory needed for the baseline is unreadable */
	RW_INTEG_E_NOMEM = -5,
	RW_INTEG_E_VCPU = -6,      /* vCPU state missing (no CR3, provenance NONE...) */
	RW_INTEG_E_MISMATCH = -7,  /* kernel view and cached build disagree */
	RW_INTEG_E_LIMIT = -8,     /* more than the bounded number of items */
};
const char *rw_integ_strerror(int code);

/* ---- kernel build profile --------------------------------------------------
 * What the engine needs from the image, link-time (unslid) addresses. Built
 * from a catalog with rw_kprofile_from_kcat(); unit tests fill one by hand.
 * Table pointers are borrowed (the catalog or the test owns the bytes). */
struct rw_kprofile {
	char build_id[2 * VMI_KCAT_BUILD_ID_MAX + 1]; /* cache key (hex) */
	const struct vmi_ksyms *syms;
	uint64_t text_start, text_end;     /* _stext, _etext */
	uint64_t rodata_start, rodata_end; /* __start_rodata, __end_rodata */
	/* __jump_table: struct jump_entry { s32 code; s32 target; long key; } */
	const uint8_t *jump_table;
	uint64_t jump_table_addr;
	size_t jump_table_len;
	/* __mcount_loc: u64 absolute call-site addresses */
	const uint8_t *mcount;
	size_t mcount_len;
	/* .static_call_sites: struct static_call_site { s32 addr; s32 key; } */
	const uint8_t *static_calls;
	uint64_t static_calls_addr;
	size_t static_calls_len;
	/* .smp_locks: s32 offsets to LOCK prefixes (may be absent) */
	const uint8_t *smp_locks;
	uint64_t smp_locks_addr;
	size_t smp_locks_len;
	/* KASLR relocation table appended to vmlinux (may be NULL: slide must be 0
	 * for a VM to share the baseline, else it gets its own private copy) */
	const uint8_t *relocs;
	size_t relocs_len;
	/* kprobe_table: hlist_head[buckets]; offsets from BTF (kprobe_table = 0
	 * disables kprobe acceptance: every INT3 is then a violation) */
	uint64_t kprobe_table;
	unsigned kprobe_buckets;
	size_t kprobe_hlist_off, kprobe_addr_off;
	/* kprobe.pre_handler / kprobe.post_handler (0 = unknown: handlers are
	 * then neither named nor checked against the hook allowlist) */
	size_t kprobe_pre_off, kprobe_post_off;
	/* kprobe.list: an aggregated probe's children (0 = not walked) */
	size_t kprobe_list_off;
	/* ftrace_ops_list (a pointer variable) and its terminator ftrace_list_end;
	 * struct ftrace_ops member offsets from BTF. ftrace_ops_list = 0: no ops
	 * walk, so no module-area ftrace trampoline is accepted. */
	uint64_t ftrace_ops_list, ftrace_list_end;
	size_t fops_func_off, fops_next_off, fops_tramp_off, fops_tramp_size_off;
	/* BPF trampolines: trampoline_table[buckets] hlists of struct
	 * bpf_trampoline (hlist, func.addr, cur_image -> bpf_tramp_image.image).
	 * bpf_tramp_table = 0: a BPF trampoline is recognised by its prologue. */
	uint64_t bpf_tramp_table;
	unsigned bpf_tramp_buckets;
	size_t btr_hlist_off, btr_func_addr_off, btr_cur_image_off, bti_image_off;
	/* sys_call_table and its entry count */
	uint64_t sys_call_table;
	unsigned nr_syscalls;
	/* module / trampoline area (execmem): [module_start, module_end) */
	uint64_t module_start, module_end;
};

/* Defaults for x86-64 with KASLR: MODULES_VADDR..MODULES_END. */
#define RW_KPROFILE_MODULE_START 0xffffffffc0000000ull
#define RW_KPROFILE_MODULE_END 0xffffffffff000000ull
#define RW_KPROFILE_MAX_SYSCALLS 1024u
#define RW_KPROFILE_MAX_KPROBE_BUCKETS 4096u
#define RW_KPROFILE_BPF_TRAMP_BUCKETS 1024u /* TRAMPOLINE_TABLE_SIZE (1 << 10) */

/* Fill @p from a catalog (pointers into the catalog's image). */
int rw_kprofile_from_kcat(const struct vmi_kcat *cat, struct rw_kprofile *p, char *err,
			  size_t errlen);

/* ---- kernel view: the input of one attach / pass --------------------------- */
struct rw_kview {
	const struct vmi_kcat *cat;     /* used when profile is NULL */
	const struct rw_kprofile *profile; /* optional: overrides cat (tests) */
	struct vmi_x86 *x;              /* kernel VA translation (CPU0 CR3/CR4/EFER) */
	uint64_t slide;                 /* KASLR: running address - link address */
	const struct vmi_vcpu *vcpus;   /* per-vCPU state for this pass */
	size_t nvcpus;
	/* GUEST_REPORT MSR values count only while the caller has verified the
	 * reporting module's text intact (modules check). */
	bool guest_reporter_verified;
	/* Optional: name of the module owning an address outside kernel text
	 * (from the module walker); returns 0 and fills name, or -1. */
	int (*owner)(void *ctx, uint64_t addr, char *name, size_t len);
	void *owner_ctx;
	/* Modules allowed to own hook handlers (ftrace ops functions, kprobe
	 * handlers). A handler in kernel text is always allowed; one anywhere
	 * else is a violation unless its owner (through @owner) is listed. */
	const char *const *hook_allow;
	size_t nhook_allow;
};

/* ---- findings ---------------------------------------------------------------- */
enum rw_integ_check {
	RW_CHECK_KTEXT,
	RW_CHECK_KRODATA,
	RW_CHECK_IDT,
	RW_CHECK_CR,
	RW_CHECK_SYSCALL,
	RW_CHECK_MSR,
	RW_CHECK_MODULES,
	RW_CHECK_COUNT_
};
const char *rw_integ_check_name(enum rw_integ_check c); /* "ktext", "idt", ... */

enum rw_integ_sev {
	RW_FINDING_INFO,	/* event worth recording (module loaded, baseline note) */
	RW_FINDING_HOOK,	/* accepted patch that redirects code: still reported */
	RW_FINDING_VIOLATION,	/* tampering */
	RW_FINDING_ERROR,	/* the check could not run (unreadable memory...) */
};
const char *rw_integ_sev_name(enum rw_integ_sev s);

#define RW_FINDING_BYTES 16
#define RW_HOOK_OWNER_MAX 64
#define RW_HOOK_MAX_FTRACE_OPS 256u      /* ftrace_ops_list nodes walked per pass */
#define RW_HOOK_MAX_TRAMP_SIZE 65536u    /* bytes of one ops trampoline */
#define RW_HOOK_MAX_TRAMPS 256u          /* accepted trampolines re-hashed per pass */
#define RW_HOOK_MAX_BPF_TRAMPS 4096u     /* BPF trampolines walked per pass */

struct rw_finding {
	enum rw_integ_check check;
	enum rw_integ_sev sev;
	int vcpu;                   /* -1 when not per vCPU */
	uint64_t addr;              /* running (slid) address, 0 if none */
	char where[160];            /* symbol+offset of addr, or "" */
	uint8_t old_bytes[RW_FINDING_BYTES], new_bytes[RW_FINDING_BYTES];
	size_t nbytes;              /* bytes valid in old/new (range may be longer) */
	size_t range_len;           /* length of the changed range (text checks) */
	char detail[320];           /* human-readable */
	/* hooks (ftrace sites, ftrace ops, kprobes): the handler as symbol+offset
	 * or "0x… [module m]", and who owns it: "kernel", a module name, "bpf"
	 * (BPF trampoline), or "unknown"; "" when not a hook */
	char handler[160];
	char owner[RW_HOOK_OWNER_MAX];
};

typedef void (*rw_finding_fn)(void *ctx, const struct rw_finding *f);

/* ---- shared cache of per-build baselines ------------------------------------ */
struct rw_integrity_cache;
struct rw_integrity_cache *rw_integrity_cache_new(void);
/* Frees the cache; VMs still attached keep their build alive (refcount). */
void rw_integrity_cache_free(struct rw_integrity_cache *c);
/* Builds held and the bytes they use (for accounting and the benchmark). */
size_t rw_integrity_cache_builds(const struct rw_integrity_cache *c);
size_t rw_integrity_cache_bytes(const struct rw_integrity_cache *c);

/* ---- per VM ------------------------------------------------------------------ */
struct rw_integrity;

/* Take the baseline of one VM: reads text/rodata (sharing the build's bytes),
 * IDT and control registers of every vCPU, the syscall table. Findings about
 * the baseline itself (e.g. an IDT gate outside kernel text, pages differing
 * from the build's shared copy) go to @fn (may be NULL). */
int rw_integrity_baseline(struct rw_integrity_cache *cache, const struct rw_kview *kv,
			  rw_finding_fn fn, void *ctx, struct rw_integrity **out, char *err,
			  size_t errlen);

struct rw_pass_stats {
	size_t pages_hashed, pages_changed, bytes_hashed;
	size_t sites_accepted, violations, hooks, errors;
	enum vmi_prov msr_prov; /* provenance of the MSR values checked (NONE: none) */
};

/* One pass of every check. Returns 0 (findings reported through @fn) or a
 * negative code when the pass could not run at all. The caller flushes the
 * walker's cache or not (rw_integrity_pass flushes it itself first). */
int rw_integrity_pass(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		      void *ctx, struct rw_pass_stats *st);

/* Individual checks (rw_integrity_pass runs them all). */
int rw_integrity_check_text(struct rw_integrity *vm, const struct rw_kview *kv,
			    rw_finding_fn fn, void *ctx, struct rw_pass_stats *st);
int rw_integrity_check_idt(struct rw_integrity *vm, const struct rw_kview *kv,
			   rw_finding_fn fn, void *ctx, struct rw_pass_stats *st);
int rw_integrity_check_cr(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
			  void *ctx, struct rw_pass_stats *st);
int rw_integrity_check_syscalls(struct rw_integrity *vm, const struct rw_kview *kv,
				rw_finding_fn fn, void *ctx, struct rw_pass_stats *st);
int rw_integrity_check_msrs(struct rw_integrity *vm, const struct rw_kview *kv,
			    rw_finding_fn fn, void *ctx, struct rw_pass_stats *st);

/* Bytes this VM holds beyond the shared build (hashes, overlay, IDT copies). */
size_t rw_integrity_private_bytes(const struct rw_integrity *vm);
/* Pages of this VM whose baseline differs from the shared build copy. */
size_t rw_integrity_overlay_pages(const struct rw_integrity *vm);

void rw_integrity_free(struct rw_integrity *vm);

/* ---- modules (lists come from the module walker) ---------------------------- */
#define RW_MOD_NAME_MAX 56
#define RW_MOD_MAX 4096u
#define RW_MOD_TEXT_MAX (64u << 20)

struct rw_kmodule {
	uint64_t addr;                 /* struct module in guest VA: identity */
	char name[RW_MOD_NAME_MAX];
	uint64_t text, text_size;      /* core text (module_layout / mem[TEXT]) */
	/* Optional patch-site tables of the module (guest VAs, entry counts), for
	 * classifying legitimate changes to its text (0 = none). */
	uint64_t jump_entries; unsigned num_jump_entries;
	uint64_t ftrace_callsites; unsigned num_ftrace_callsites;
	uint64_t static_call_sites; unsigned num_static_call_sites;
};

/* Compare the module list and the kset (both as given by the walker): a
 * module on one and not the other is a violation (hidden); a module seen for
 * the first time gets its core text hashed and copied (event "loaded"), one
 * gone is an event ("unloaded"), one whose text changed outside its own
 * patch sites is a violation. */
int rw_integrity_check_modules(struct rw_integrity *vm, const struct rw_kview *kv,
			       const struct rw_kmodule *list, size_t nlist,
			       const struct rw_kmodule *kset, size_t nkset, rw_finding_fn fn,
			       void *ctx, struct rw_pass_stats *st);

/* True when the module at @addr (struct module VA) was seen, and its text
 * has matched its first-sight copy (after accepted site patches) on every
 * pass so far. The daemon uses it to decide whether the ringwatch guest
 * module's MSR reports can be trusted. */
bool rw_integrity_module_intact(const struct rw_integrity *vm, uint64_t addr);

#endif

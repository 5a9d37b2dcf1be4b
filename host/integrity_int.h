/* SPDX-License-Identifier: GPL-2.0 */
/* Internals shared by host/integrity_*.c (not a public interface). */
#ifndef RW_HOST_INTEGRITY_INT_H
#define RW_HOST_INTEGRITY_INT_H

#include <pthread.h>
#include <stdarg.h>

#include "host/integrity.h"

#define INTEG_PAGE 4096u
/* Bytes of context kept on both sides of a page when classifying it: sites
 * are at most 5 bytes and start at most 4 bytes before the page; relocations
 * are at most 8 bytes. */
#define INTEG_MARGIN 16u
#define INTEG_MAX_KPROBES 4096u
#define INTEG_MAX_RANGE_BYTES (256ull << 20)

enum integ_site_kind {
	SITE_JUMP,       /* jump label: NOP or JMP to the entry's target */
	SITE_FTRACE,     /* __mcount_loc: NOP or CALL into an ftrace/BPF trampoline */
	SITE_FTRACE_OPS, /* ftrace_call / ftrace_regs_call inside ftrace_caller */
	SITE_SCALL,      /* .static_call_sites entry (flag: tail) */
	SITE_SCT,        /* static call trampoline __SCT__* */
	SITE_SMP_LOCK,   /* LOCK prefix toggled between UP and SMP */
};

struct integ_site {
	uint64_t addr;   /* link-time */
	uint64_t target; /* jump label target (link-time), else 0 */
	uint8_t kind;
	uint8_t len;     /* upper bound of the patched bytes */
	uint8_t tail;    /* static call site is a tail call */
};

struct integ_range {
	uint64_t start, end; /* link-time; start page-aligned */
	size_t npages;
	uint8_t *bytes;      /* shared baseline, unslid (NULL until the first VM) */
};

/* One kernel build: decoded tables + the shared baseline bytes. */
struct integ_build {
	pthread_mutex_t lock;
	unsigned refs;
	struct rw_kprofile prof; /* copy; syms stays borrowed from the catalog */
	struct integ_site *sites;
	size_t nsites;
	uint64_t *rel[3]; /* 0: 32-bit, 1: inverse 32-bit, 2: 64-bit; sorted */
	size_t nrel[3];
	struct integ_range r[2]; /* 0: text, 1: rodata */
	int have_bytes;
	/* symbols (link-time), 0 when absent */
	uint64_t ftrace_caller, ftrace_regs_caller, ftrace_stub, return_thunk;
	uint64_t ftrace_call, ftrace_regs_call; /* the ops call sites inside them */
	uint64_t aggr_pre_handler;              /* pre_handler of aggregated kprobes */
	uint64_t entry_syscall_64, entry_sysenter_compat, entry_syscall_compat;
	uint64_t init_start, init_end; /* _sinittext, _einittext */
};

struct rw_integrity_cache {
	pthread_mutex_t lock;
	struct integ_build **b;
	size_t n, cap;
};

struct integ_vm_range {
	uint64_t *hash;     /* per page, of the expected (slid) bytes */
	uint8_t **overlay;  /* per page: private expected bytes, or NULL = shared+slide */
	size_t noverlay;
};

struct integ_idt {
	uint64_t base, limit;
	uint8_t gates[4096];
};

struct integ_cr {
	uint64_t cr0, cr4, efer;
};

struct integ_msr_seen {
	int have_star, have_sfmask, have_cs;
	uint64_t star, sfmask, cs;
};

struct integ_module {
	uint64_t addr, text, size;
	char name[RW_MOD_NAME_MAX];
	uint8_t *copy;
	uint64_t hash;
	int intact, seen;
};

struct integ_kprobe {
	uint64_t addr, pre, post; /* running addresses; handlers 0 when unknown */
};

struct integ_ops {
	uint64_t addr, func, tramp, tramp_size; /* struct ftrace_ops and its fields */
};

struct integ_btramp {
	uint64_t image, func; /* cur_image->image, func.addr of a bpf_trampoline */
};

struct integ_tramp {
	uint64_t ops, start, size; /* the ops it belongs to, its code */
	uint64_t call_off;         /* offset of its ops call (0: none known) */
	uint8_t *copy;             /* code as accepted */
};

struct rw_integrity {
	struct integ_build *b;
	uint64_t slide;
	struct integ_vm_range vr[2];
	size_t nvcpus;
	struct integ_idt *idt;
	struct integ_cr *cr;
	struct integ_msr_seen *msr;
	uint64_t *syscalls; /* baseline table (slid) */
	unsigned nsyscalls;
	struct integ_module *mods;
	size_t nmods, capmods;
	/* kprobes walked this pass (lazy), sorted by address */
	struct integ_kprobe *kprobes;
	size_t nkprobes;
	int kprobes_walked;
	/* ftrace ops walked this pass (lazy) */
	struct integ_ops *ops;
	size_t nops;
	int ops_walked, ops_malformed;
	/* BPF trampolines walked this pass (lazy; array allocated on first use) */
	struct integ_btramp *btramps;
	size_t nbtramps;
	int btramps_walked;
	/* ops trampolines accepted as ftrace-site targets, re-checked every pass */
	struct integ_tramp *tramps;
	size_t ntramps;
	uint8_t *scratch; /* 4 windows of INTEG_PAGE + 2*INTEG_MARGIN */
};

/* build / cache (integrity_build.c) */
int integ_cache_get(struct rw_integrity_cache *c, const struct rw_kprofile *p,
		    struct integ_build **out, char *err, size_t errlen);
void integ_build_put(struct integ_build *b);
void integ_apply_relocs(const struct integ_build *b, uint64_t va, uint8_t *buf, size_t len,
			int64_t delta);
const struct integ_site *integ_sites_from(const struct integ_build *b, uint64_t addr,
					  size_t *idx);

/* text (integrity_text.c) */
int integ_text_baseline(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
			void *ctx, char *err, size_t errlen);
void integ_text_free(struct rw_integrity *vm);
/* Site validation shared with modules: returns 1 accepted (with *hook set
 * when the new state redirects code, description in @why), 0 not valid. */
struct integ_site_ctx {
	struct rw_integrity *vm;
	const struct rw_kview *kv;
	/* out: the handler a hook site leads to, its owner, and whether the
	 * owner is allowed (denied = 1: neither kernel text nor allowlisted) */
	char handler[160];
	char owner[RW_HOOK_OWNER_MAX];
	int denied;
};
int integ_valid_site(struct integ_site_ctx *sc, const struct integ_site *s, uint64_t site_va,
		     const uint8_t *exp, const uint8_t *cur, int *hook, char *why, size_t whylen);

/* hooks (integrity_hooks.c): kprobes and ftrace ops walked from guest memory,
 * handler attribution and the allowlist, accepted trampolines re-checked */
int integ_kernel_pointer(const struct vmi_x86 *x, uint64_t p);
void integ_hooks_reset(struct rw_integrity *vm); /* forget this pass's walks */
void integ_walk_kprobes(struct rw_integrity *vm, const struct rw_kview *kv);
const struct integ_kprobe *integ_kprobe_at(const struct rw_integrity *vm, uint64_t va);
void integ_walk_ops(struct rw_integrity *vm, const struct rw_kview *kv);
/* The registered ops whose module-area trampoline holds @t, or NULL. */
const struct integ_ops *integ_ops_tramp(struct rw_integrity *vm, const struct rw_kview *kv,
					uint64_t t);
/* -1 when the kernel's BPF trampoline table is not known (prologue check
 * only); 1 when @t is the current image of a BPF trampoline of the function
 * starting at @func; 0 otherwise. */
int integ_bpf_tramp(struct rw_integrity *vm, const struct rw_kview *kv, uint64_t t,
		    uint64_t func);
/* Name handler @h into sc->handler / sc->owner and set sc->denied. */
void integ_handler(struct integ_site_ctx *sc, uint64_t h);
/* Remember an accepted trampoline (copy of its code) for the per-pass re-check. */
void integ_tramp_track(struct rw_integrity *vm, const struct rw_kview *kv,
		       const struct integ_ops *o);
/* Per pass: every ops / kprobe handler against the allowlist, every tracked
 * trampoline against its accepted copy. */
void integ_hooks_check(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		       void *ctx, struct rw_pass_stats *st);
size_t integ_hooks_private_bytes(const struct rw_integrity *vm);
void integ_hooks_free(struct rw_integrity *vm);

/* findings helpers (integrity.c) */
void integ_where(const struct rw_integrity *vm, const struct rw_kview *kv, uint64_t addr,
		 char *out, size_t len);
void integ_report(rw_finding_fn fn, void *ctx, struct rw_pass_stats *st, struct rw_finding *f);
void integ_finding(struct rw_finding *f, enum rw_integ_check c, enum rw_integ_sev s, int vcpu,
		   uint64_t addr, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int integ_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const struct rw_kprofile *integ_profile(const struct rw_kview *kv, struct rw_kprofile *tmp,
					char *err, size_t errlen, int *rc);
int integ_in_module_area(const struct integ_build *b, uint64_t va);
/* 1 when va is mapped executable and not writable (W^X code page). */
int integ_exec_page(struct vmi_x86 *x, uint64_t va);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel text and read-only data: per-page XXH3 against the baseline, byte
 * diff of changed pages, classification of each changed range from the
 * image's patch-site tables and the guest's kprobe table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "host/integrity_int.h"

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t NOP2[2] = { 0x66, 0x90 };
static const uint8_t RETPAD[5] = { 0xc3, 0xcc, 0xcc, 0xcc, 0xcc };
static const uint8_t XOR5RAX[5] = { 0x2e, 0x2e, 0x2e, 0x31, 0xc0 };

#define WIN_SIZE (INTEG_PAGE + 2 * INTEG_MARGIN)
#define MAX_PENDING 32

static uint64_t rel32_target(uint64_t site, const uint8_t *insn)
{
	int32_t rel;

	memcpy(&rel, insn + 1, 4);
	return site + 5 + (uint64_t)(int64_t)rel;
}

/* Expected (slid) bytes of [link_va, link_va+len) inside range r. */
static void expected_bytes(const struct rw_integrity *vm, int r, uint64_t link_va, size_t len,
			   uint8_t *buf, int with_overlay)
{
	const struct integ_range *rg = &vm->b->r[r];
	uint64_t off = link_va - rg->start;

	memcpy(buf, rg->bytes + off, len);
	integ_apply_relocs(vm->b, link_va, buf, len, (int64_t)vm->slide);
	if (!with_overlay)
		return;
	for (uint64_t p = off / INTEG_PAGE; p * INTEG_PAGE < off + len && p < rg->npages; p++) {
		uint64_t ps = p * INTEG_PAGE, s = ps > off ? ps : off;
		uint64_t e = ps + INTEG_PAGE < off + len ? ps + INTEG_PAGE : off + len;

		if (vm->vr[r].overlay[p])
			memcpy(buf + (s - off), vm->vr[r].overlay[p] + (s - ps), e - s);
	}
}

static size_t page_len(const struct integ_range *rg, size_t i)
{
	uint64_t va = rg->start + (uint64_t)i * INTEG_PAGE;

	return rg->end - va < INTEG_PAGE ? (size_t)(rg->end - va) : INTEG_PAGE;
}

/* ---- baseline ------------------------------------------------------------------ */

int integ_text_baseline(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
			void *ctx, char *err, size_t errlen)
{
	struct integ_build *b = vm->b;

	for (int r = 0; r < 2; r++) {
		struct integ_range *rg = &b->r[r];
		size_t size = (size_t)(rg->end - rg->start), differ = 0;
		uint8_t *raw, *unslid;

		vm->vr[r].hash = calloc(rg->npages, sizeof(uint64_t));
		vm->vr[r].overlay = calloc(rg->npages, sizeof(uint8_t *));
		raw = malloc(size);
		unslid = malloc(size);
		if (!vm->vr[r].hash || !vm->vr[r].overlay || !raw || !unslid) {
			free(raw);
			free(unslid);
			return integ_seterr(err, errlen, RW_INTEG_E_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < rg->npages; i++) {
			uint64_t va = rg->start + (uint64_t)i * INTEG_PAGE + vm->slide;
			size_t len = page_len(rg, i);
			int e = vmi_x86_read(kv->x, va, raw + i * INTEG_PAGE, len);

			if (e) {
				free(raw);
				free(unslid);
				return integ_seterr(err, errlen, RW_INTEG_E_READ,
						    "%s page 0x%llx unreadable: %s",
						    r ? "rodata" : "text", (unsigned long long)va,
						    vmi_x86_strerror(e));
			}
			vm->vr[r].hash[i] = XXH3_64bits(raw + i * INTEG_PAGE, len);
		}
		memcpy(unslid, raw, size);
		integ_apply_relocs(b, rg->start, unslid, size, -(int64_t)vm->slide);
		pthread_mutex_lock(&b->lock);
		if (!rg->bytes) {
			rg->bytes = unslid;
			unslid = NULL;
		} else {
			for (size_t i = 0; i < rg->npages; i++) {
				size_t o = i * INTEG_PAGE, len = page_len(rg, i);

				if (!memcmp(unslid + o, rg->bytes + o, len))
					continue;
				vm->vr[r].overlay[i] = malloc(INTEG_PAGE);
				if (!vm->vr[r].overlay[i]) {
					pthread_mutex_unlock(&b->lock);
					free(raw);
					free(unslid);
					return integ_seterr(err, errlen, RW_INTEG_E_NOMEM,
							    "out of memory");
				}
				memcpy(vm->vr[r].overlay[i], raw + o, len);
				vm->vr[r].noverlay++;
				differ++;
			}
		}
		pthread_mutex_unlock(&b->lock);
		free(raw);
		free(unslid);
		if (differ && fn) {
			struct rw_finding f;

			integ_finding(&f, r ? RW_CHECK_KRODATA : RW_CHECK_KTEXT, RW_FINDING_INFO, -1, 0,
				      "%zu of %zu pages differ from the shared baseline of build %s "
				      "at attach (kept privately for this VM)",
				      differ, rg->npages, b->prof.build_id);
			fn(ctx, &f);
		}
	}
	return 0;
}

void integ_text_free(struct rw_integrity *vm)
{
	for (int r = 0; r < 2; r++) {
		if (vm->vr[r].overlay && vm->b)
			for (size_t i = 0; i < vm->b->r[r].npages; i++)
				free(vm->vr[r].overlay[i]);
		free(vm->vr[r].overlay);
		free(vm->vr[r].hash);
	}
}

/* ---- site validation ------------------------------------------------------------- */

static int function_start(const struct rw_kview *kv, const struct rw_integrity *vm, uint64_t t)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t link = t - vm->slide, off;
	const struct vmi_ksym *k;

	if (link < p->text_start || link >= p->text_end)
		return 0;
	k = vmi_ksyms_find(p->syms, link, 0, &off);
	(void)kv;
	return k && off == 0;
}

/* A trampoline made by ftrace starts with a copy of ftrace_caller or
 * ftrace_regs_caller (1); a BPF trampoline with [endbr64] push %rbp;
 * mov %rsp,%rbp (2); anything else 0. */
static int trampoline_kind(struct integ_site_ctx *sc, uint64_t t)
{
	struct rw_integrity *vm = sc->vm;
	const struct integ_build *b = vm->b;
	uint8_t code[12], ref[8];
	const uint64_t starts[2] = { b->ftrace_caller, b->ftrace_regs_caller };
	static const uint8_t bpf[4] = { 0x55, 0x48, 0x89, 0xe5 };
	static const uint8_t endbr[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

	if (vmi_x86_read(sc->kv->x, t, code, sizeof(code)))
		return 0;
	for (int i = 0; i < 2; i++) {
		if (!starts[i] || starts[i] < b->r[0].start || starts[i] + 8 > b->r[0].end)
			continue;
		expected_bytes(vm, 0, starts[i], sizeof(ref), ref, 1);
		if (!memcmp(code, ref, sizeof(ref)))
			return 1;
	}
	if (!memcmp(code, bpf, 4) || (!memcmp(code, endbr, 4) && !memcmp(code + 4, bpf, 4)))
		return 2;
	return 0;
}

/* What the global ftrace_caller / ftrace_regs_caller at @caller calls now:
 * the rel32 CALL at its ops call site (0 when unknown). */
static uint64_t global_ops_call(struct integ_site_ctx *sc, uint64_t caller)
{
	const struct integ_build *b = sc->vm->b;
	uint64_t slide = sc->vm->slide;
	uint64_t site = caller == b->ftrace_caller + slide ? b->ftrace_call : b->ftrace_regs_call;
	uint8_t insn[5];

	if (!site || vmi_x86_read(sc->kv->x, site + slide, insn, 5) || insn[0] != 0xe8)
		return 0;
	return rel32_target(site + slide, insn);
}

/* Start of the kernel function holding @va (running address), or @va. */
static uint64_t function_of(const struct rw_integrity *vm, uint64_t va)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t link = va - vm->slide, off;
	const struct vmi_ksym *k;

	if (link < p->text_start || link >= p->text_end ||
	    !(k = vmi_ksyms_find(p->syms, link, 0, &off)) || off >= (1u << 20))
		return va;
	return va - off;
}

static void bpf_handler(struct integ_site_ctx *sc)
{
	snprintf(sc->handler, sizeof(sc->handler), "BPF program");
	snprintf(sc->owner, sizeof(sc->owner), "bpf");
	sc->denied = 0;
}

/* The handler a hooked ftrace site runs: a kprobe's own handler when one is
 * registered there, else @fallback (ops function or global ops call). */
static void ftrace_site_handler(struct integ_site_ctx *sc, uint64_t site_va, uint64_t fallback)
{
	const struct integ_kprobe *kp;

	integ_walk_kprobes(sc->vm, sc->kv);
	kp = integ_kprobe_at(sc->vm, site_va);
	if (kp && (kp->pre || kp->post))
		integ_handler(sc, kp->pre ? kp->pre : kp->post);
	else if (fallback)
		integ_handler(sc, fallback);
}

static void describe_target(struct integ_site_ctx *sc, uint64_t t, const char *what, char *why,
			    size_t whylen)
{
	char where[160];

	integ_where(sc->vm, sc->kv, t, where, sizeof(where));
	snprintf(why, whylen, "%s %s", what, where);
}

/* Function target: kernel text function start, or code in the module area
 * (W^X page). *hook = 1 when outside kernel text. */
static int valid_func_target(struct integ_site_ctx *sc, uint64_t t, int *hook)
{
	if (function_start(sc->kv, sc->vm, t))
		return 1;
	if (integ_in_module_area(sc->vm->b, t) && integ_exec_page(sc->kv->x, t)) {
		*hook = 1;
		return 1;
	}
	return 0;
}

static int is_ret_form(const struct integ_build *b, uint64_t slide, uint64_t site,
		       const uint8_t *cur)
{
	if (!memcmp(cur, RETPAD, 5))
		return 1;
	return cur[0] == 0xe9 && b->return_thunk && rel32_target(site, cur) == b->return_thunk + slide;
}

int integ_valid_site(struct integ_site_ctx *sc, const struct integ_site *s, uint64_t site_va,
		     const uint8_t *exp, const uint8_t *cur, int *hook, char *why, size_t whylen)
{
	const struct integ_build *b = sc->vm->b;
	uint64_t slide = sc->vm->slide, t;

	*hook = 0;
	why[0] = '\0';
	sc->handler[0] = sc->owner[0] = '\0';
	sc->denied = 0;
	switch (s->kind) {
	case SITE_JUMP:
		if (exp[0] == 0xeb || !memcmp(exp, NOP2, 2)) {
			if (!memcmp(cur, NOP2, 2))
				return 2;
			return cur[0] == 0xeb &&
					       site_va + 2 + (uint64_t)(int64_t)(int8_t)cur[1] == s->target
				       ? 2
				       : 0;
		}
		if (!memcmp(cur, NOP5, 5))
			return 5;
		return cur[0] == 0xe9 && rel32_target(site_va, cur) == s->target ? 5 : 0;
	case SITE_FTRACE: {
		const struct integ_ops *o;
		int kind;

		if (!memcmp(cur, NOP5, 5))
			return 5;
		if (cur[0] != 0xe8 && cur[0] != 0xe9)
			return 0;
		t = rel32_target(site_va, cur);
		*hook = 1;
		if ((b->ftrace_caller && t == b->ftrace_caller + slide) ||
		    (b->ftrace_regs_caller && t == b->ftrace_regs_caller + slide)) {
			describe_target(sc, t, "ftrace", why, whylen);
			ftrace_site_handler(sc, site_va, global_ops_call(sc, t));
			return 5;
		}
		if (!integ_in_module_area(b, t) || !integ_exec_page(sc->kv->x, t))
			return 0;
		kind = trampoline_kind(sc, t);
		if (kind == 1 && (o = integ_ops_tramp(sc->vm, sc->kv, t))) {
			char where[160];

			integ_where(sc->vm, sc->kv, t, where, sizeof(where));
			snprintf(why, whylen, "ftrace trampoline %s of ops 0x%llx", where,
				 (unsigned long long)o->addr);
			ftrace_site_handler(sc, site_va, o->func);
			integ_tramp_track(sc->vm, sc->kv, o);
			return 5;
		}
		if (kind == 2) {
			/* with the kernel's trampoline table: only the current image
			 * of a BPF trampoline attached to this very function */
			int known = integ_bpf_tramp(sc->vm, sc->kv, t,
						    function_of(sc->vm, site_va));

			if (!known)
				return 0;
			describe_target(sc, t, known > 0 ? "BPF trampoline" : "BPF trampoline (by its prologue)", why, whylen);
			bpf_handler(sc);
			return 5;
		}
		if (cur[0] == 0xe9) { /* BPF dispatcher: its fentry site jumps to its image */
			char where[160];

			integ_where(sc->vm, sc->kv, site_va, where, sizeof(where));
			if (!strncmp(where, "bpf_dispatcher_", 15)) {
				describe_target(sc, t, "BPF dispatcher image", why, whylen);
				bpf_handler(sc);
				return 5;
			}
		}
		return 0;
	}
	case SITE_FTRACE_OPS:
		if (cur[0] != 0xe8)
			return 0;
		t = rel32_target(site_va, cur);
		if (!valid_func_target(sc, t, hook))
			return 0;
		if (!b->ftrace_stub || t != b->ftrace_stub + slide) {
			*hook = 1;
			describe_target(sc, t, "ftrace ops function", why, whylen);
			integ_handler(sc, t);
		}
		return 5;
	case SITE_SCALL:
	case SITE_SCT:
		if (s->kind == SITE_SCT || s->tail) {
			if (is_ret_form(b, slide, site_va, cur))
				return 5;
			if (cur[0] != 0xe9)
				return 0;
		} else {
			if (!memcmp(cur, NOP5, 5) || !memcmp(cur, XOR5RAX, 5))
				return 5;
			if (cur[0] != 0xe8)
				return 0;
		}
		t = rel32_target(site_va, cur);
		if (!valid_func_target(sc, t, hook))
			return 0;
		if (*hook)
			describe_target(sc, t, "static call to", why, whylen);
		return 5;
	case SITE_SMP_LOCK:
		return cur[0] == 0xf0 || cur[0] == 0x3e ? 1 : 0;
	}
	return 0;
}

/* ---- classification of one changed page ---------------------------------------------- */

struct page_result {
	struct rw_finding f[MAX_PENDING];
	size_t nf, dropped, dropped_violations;
	size_t unexplained, accepted, delegated;
};

static void pend(struct page_result *pr, const struct rw_finding *f)
{
	if (pr->nf < MAX_PENDING) {
		pr->f[pr->nf++] = *f;
	} else {
		pr->dropped++;
		pr->dropped_violations += f->sev == RW_FINDING_VIOLATION;
	}
}

static void fill_bytes(struct rw_finding *f, const uint8_t *old, const uint8_t *cur, size_t len)
{
	f->nbytes = len < RW_FINDING_BYTES ? len : RW_FINDING_BYTES;
	memcpy(f->old_bytes, old, f->nbytes);
	memcpy(f->new_bytes, cur, f->nbytes);
	f->range_len = len;
}

/* Try the patch sites covering link address va. Returns accepted length from
 * va's site start (the site end minus window offset) or 0. */
static int try_sites(struct rw_integrity *vm, const struct rw_kview *kv, int r, uint64_t va,
		     uint64_t wstart, size_t wlen, const uint8_t *exp, const uint8_t *cur,
		     uint64_t *site_start, uint64_t *site_end, int *denied, struct page_result *pr)
{
	struct integ_site_ctx sc = { .vm = vm, .kv = kv };
	size_t idx;

	if (r != 0)
		return 0;
	integ_sites_from(vm->b, va >= 4 ? va - 4 : 0, &idx);
	for (; idx < vm->b->nsites && vm->b->sites[idx].addr <= va; idx++) {
		const struct integ_site *s = &vm->b->sites[idx];
		uint64_t so = s->addr - wstart;
		char why[256];
		int hook, n;
		struct integ_site slid = *s;

		if (s->addr + s->len <= va || s->addr < wstart || so + 5 > wlen)
			continue;
		slid.addr += vm->slide;
		if (slid.target)
			slid.target += vm->slide;
		n = integ_valid_site(&sc, &slid, slid.addr, exp + so, cur + so, &hook, why,
				     sizeof(why));
		if (n <= 0 || s->addr + (unsigned)n <= va)
			continue;
		/* changed bytes past the accepted length are examined on their own */
		*site_start = s->addr;
		*site_end = s->addr + (unsigned)n;
		*denied = sc.denied;
		pr->accepted += !sc.denied;
		if (hook) {
			struct rw_finding f;
			static const char *kinds[] = { "jump label", "ftrace",    "ftrace ops",
						       "static call", "static call trampoline",
						       "smp lock" };

			integ_finding(&f, RW_CHECK_KTEXT, sc.denied ? RW_FINDING_VIOLATION : RW_FINDING_HOOK,
				      -1, slid.addr, "%s site patched: -> %s%s%s%s%s%s",
				      kinds[s->kind], why, sc.handler[0] ? "; handler " : "",
				      sc.handler, sc.handler[0] ? " (" : "", sc.owner,
				      !sc.handler[0] ? ""
				      : sc.denied ? "): not kernel text or an allowlisted module"
						  : ")");
			integ_where(vm, kv, slid.addr, f.where, sizeof(f.where));
			snprintf(f.handler, sizeof(f.handler), "%s", sc.handler);
			snprintf(f.owner, sizeof(f.owner), "%s", sc.owner);
			fill_bytes(&f, exp + so, cur + so, (size_t)n);
			pend(pr, &f);
		}
		return 1;
	}
	return 0;
}

static int try_kprobe(struct rw_integrity *vm, const struct rw_kview *kv, uint64_t va,
		      uint64_t wstart, size_t wlen, const uint8_t *exp, const uint8_t *cur,
		      uint64_t *site_start, uint64_t *site_end, int *denied,
		      struct page_result *pr)
{
	struct rw_finding f;
	struct integ_site_ctx sc = { .vm = vm, .kv = kv };
	const struct integ_kprobe *kp;

	integ_walk_kprobes(vm, kv);
	if (!vm->nkprobes)
		return 0;
	for (unsigned back = 0; back < 5 && back <= va - wstart; back++) {
		uint64_t a = va - back, so = a - wstart;
		const char *what = NULL;

		if (!(kp = integ_kprobe_at(vm, a + vm->slide)))
			continue;
		if (back == 0 && cur[so] == 0xcc && (so + 1 >= wlen || cur[so + 1] == exp[so + 1] ||
						     cur[so + 1] != 0xcc)) {
			*site_end = a + 1;
			what = "kprobe (int3)";
		} else if (so + 5 <= wlen && cur[so] == 0xe9) {
			uint64_t t = rel32_target(a + vm->slide, cur + so);

			if (integ_in_module_area(vm->b, t) && integ_exec_page(kv->x, t)) {
				*site_end = a + 5;
				what = "optimized kprobe (jmp to detour buffer)";
			}
		}
		if (!what)
			continue;
		if (kp->pre || kp->post)
			integ_handler(&sc, kp->pre ? kp->pre : kp->post);
		*denied = sc.denied;
		pr->accepted += !sc.denied;
		integ_finding(&f, RW_CHECK_KTEXT, sc.denied ? RW_FINDING_VIOLATION : RW_FINDING_HOOK, -1,
			      a + vm->slide, "%s registered in kprobe_table%s%s%s%s%s", what,
			      sc.handler[0] ? "; handler " : "", sc.handler,
			      sc.handler[0] ? " (" : "", sc.owner,
			      !sc.handler[0] ? ""
			      : sc.denied    ? "): not kernel text or an allowlisted module"
					     : ")");
		integ_where(vm, kv, a + vm->slide, f.where, sizeof(f.where));
		snprintf(f.handler, sizeof(f.handler), "%s", sc.handler);
		snprintf(f.owner, sizeof(f.owner), "%s", sc.owner);
		fill_bytes(&f, exp + so, cur + so, (size_t)(*site_end - a));
		pend(pr, &f);
		*site_start = a;
		return 1;
	}
	return 0;
}

static int in_syscall_table(const struct rw_integrity *vm, int r, uint64_t va)
{
	const struct rw_kprofile *p = &vm->b->prof;

	return r == 1 && va >= p->sys_call_table && va < p->sys_call_table + 8ull * p->nr_syscalls;
}

/* Classify page i of range r from the windows exp/cur (covering
 * [wstart, wstart+wlen)); builds the accepted page in @accepted. */
static void classify(struct rw_integrity *vm, const struct rw_kview *kv, int r, size_t i,
		     uint64_t wstart, size_t wlen, const uint8_t *exp, const uint8_t *cur,
		     const uint8_t *base, uint8_t *accepted, struct page_result *pr)
{
	const struct integ_range *rg = &vm->b->r[r];
	uint64_t page = rg->start + (uint64_t)i * INTEG_PAGE;
	size_t plen = page_len(rg, i), po = (size_t)(page - wstart), j = 0;

	memcpy(accepted, exp + po, plen);
	while (j < plen) {
		uint64_t va = page + j, start = va, end = 0;
		int denied = 0;

		if (cur[po + j] == exp[po + j]) {
			j++;
			continue;
		}
		if (try_sites(vm, kv, r, va, wstart, wlen, exp, cur, &start, &end, &denied, pr) ||
		    (r == 0 &&
		     try_kprobe(vm, kv, va, wstart, wlen, exp, cur, &start, &end, &denied, pr))) {
			/* a hook whose handler is not allowed stays out of the baseline:
			 * it is found (and reported) again on every pass */
			for (uint64_t k = start > page ? start : page;
			     !denied && k < end && k < page + plen; k++)
				accepted[k - page] = cur[k - wstart];
			j = (size_t)(end - page);
			continue;
		}
		if (cur[po + j] == base[po + j]) { /* back to the build's attach-time bytes */
			accepted[j] = cur[po + j];
			j++;
			continue;
		}
		if (in_syscall_table(vm, r, va)) { /* reported by the syscall check */
			pr->delegated++;
			j++;
			continue;
		}
		{ /* unexplained run: differing bytes with gaps < 8, from the start of
		   * the patch site it hits, if any */
			size_t last = j, k = j + 1, idx;
			struct rw_finding f;
			const struct integ_site *hit = r == 0 ? integ_sites_from(vm->b, va >= 4 ? va - 4 : 0, &idx) : NULL;

			for (; hit && idx < vm->b->nsites && vm->b->sites[idx].addr <= va; idx++)
				if (vm->b->sites[idx].addr + 5 > va && vm->b->sites[idx].addr >= page) {
					j = (size_t)(vm->b->sites[idx].addr - page);
					va = page + j;
					break;
				}

			while (k < plen && k - last < 8) {
				if (cur[po + k] != exp[po + k]) {
					if (in_syscall_table(vm, r, page + k))
						break;
					last = k;
				}
				k++;
			}
			pr->unexplained++;
			integ_finding(&f, r ? RW_CHECK_KRODATA : RW_CHECK_KTEXT, RW_FINDING_VIOLATION,
				      -1, va + vm->slide,
				      "%zu byte(s) of kernel %s modified outside any patch site",
				      last - j + 1, r ? "read-only data" : "text");
			integ_where(vm, kv, va + vm->slide, f.where, sizeof(f.where));
			fill_bytes(&f, exp + po + j, cur + po + j, last - j + 1);
			pend(pr, &f);
			j = last + 1;
		}
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static void check_page(struct rw_integrity *vm, const struct rw_kview *kv, int r, size_t i,
		       rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	const struct integ_range *rg = &vm->b->r[r];
	uint64_t page = rg->start + (uint64_t)i * INTEG_PAGE;
	size_t plen = page_len(rg, i);
	uint64_t wstart = page - rg->start >= INTEG_MARGIN ? page - INTEG_MARGIN : rg->start;
	uint64_t wend = rg->end - (page + plen) >= INTEG_MARGIN ? page + plen + INTEG_MARGIN : rg->end;
	size_t wlen = (size_t)(wend - wstart);
	uint8_t *exp = vm->scratch, *cur = vm->scratch + WIN_SIZE, *acc = vm->scratch + 2 * WIN_SIZE;
	uint8_t *base = vm->scratch + 3 * WIN_SIZE;
	/* scratch: expected, current, accepted page, build baseline (no overlay) */
	struct page_result *pr = malloc(sizeof(*pr));
	struct rw_finding f;
	int e = 0;

	if (!pr) {
		integ_finding(&f, RW_CHECK_KTEXT, RW_FINDING_ERROR, -1, page + vm->slide, "out of memory");
		integ_report(fn, ctx, st, &f);
		return;
	}
	expected_bytes(vm, r, wstart, wlen, exp, 1);
	expected_bytes(vm, r, wstart, wlen, base, 0);
	/* A second look after a short pause rules out a patch caught half-way
	 * (text_poke_bp writes an int3 first, then the tail, then the head). */
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(pr, 0, sizeof(*pr));
		integ_hooks_reset(vm);
		e = vmi_x86_read(kv->x, wstart + vm->slide, cur, wlen);
		if (e)
			break;
		classify(vm, kv, r, i, wstart, wlen, exp, cur, base, acc, pr);
		if (!pr->unexplained)
			break;
		sleep_ms(2);
	}
	if (e) {
		integ_finding(&f, r ? RW_CHECK_KRODATA : RW_CHECK_KTEXT, RW_FINDING_ERROR, -1,
			      page + vm->slide, "page changed but unreadable now: %s",
			      vmi_x86_strerror(e));
		integ_report(fn, ctx, st, &f);
		free(pr);
		return;
	}
	for (size_t k = 0; k < pr->nf; k++)
		integ_report(fn, ctx, st, &pr->f[k]);
	if (pr->dropped) {
		integ_finding(&f, r ? RW_CHECK_KRODATA : RW_CHECK_KTEXT,
			      pr->dropped_violations ? RW_FINDING_VIOLATION : RW_FINDING_HOOK, -1,
			      page + vm->slide,
			      "%zu more finding(s) on this page not listed (%zu violation(s))",
			      pr->dropped, pr->dropped_violations);
		integ_report(fn, ctx, st, &f);
	}
	if (st)
		st->sites_accepted += pr->accepted;
	/* New per-VM baseline for the page: expected + accepted sites. */
	{
		const uint8_t *bp = base + (page - wstart);
		struct integ_vm_range *v = &vm->vr[r];

		if (!memcmp(bp, acc, plen)) {
			if (v->overlay[i]) {
				free(v->overlay[i]);
				v->overlay[i] = NULL;
				v->noverlay--;
			}
		} else {
			if (!v->overlay[i]) {
				v->overlay[i] = malloc(INTEG_PAGE);
				if (v->overlay[i])
					v->noverlay++;
			}
			if (v->overlay[i])
				memcpy(v->overlay[i], acc, plen);
		}
		if (!v->overlay[i] && memcmp(bp, acc, plen)) {
			free(pr);
			return; /* out of memory: keep the old baseline, retry next pass */
		}
		v->hash[i] = XXH3_64bits(acc, plen);
	}
	free(pr);
}

int rw_integrity_check_text(struct rw_integrity *vm, const struct rw_kview *kv,
			    rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	uint8_t *buf = vm->scratch + WIN_SIZE;

	if (!vm || !kv || !kv->x)
		return RW_INTEG_E_ARG;
	integ_hooks_reset(vm);
	for (int r = 0; r < 2; r++) {
		const struct integ_range *rg = &vm->b->r[r];
		size_t unreadable = 0;
		uint64_t first_bad = 0;

		for (size_t i = 0; i < rg->npages; i++) {
			uint64_t va = rg->start + (uint64_t)i * INTEG_PAGE + vm->slide;
			size_t len = page_len(rg, i);
			const void *p;
			uint64_t h;

			if (!vmi_x86_direct(kv->x, va, len, &p)) {
				h = XXH3_64bits(p, len);
			} else if (!vmi_x86_read(kv->x, va, buf, len)) {
				h = XXH3_64bits(buf, len);
			} else {
				if (!unreadable++)
					first_bad = va;
				continue;
			}
			if (st) {
				st->pages_hashed++;
				st->bytes_hashed += len;
			}
			if (h == vm->vr[r].hash[i])
				continue;
			if (st)
				st->pages_changed++;
			check_page(vm, kv, r, i, fn, ctx, st);
		}
		if (unreadable) {
			struct rw_finding f;

			integ_finding(&f, r ? RW_CHECK_KRODATA : RW_CHECK_KTEXT, RW_FINDING_VIOLATION, -1,
				      first_bad,
				      "%zu page(s) no longer readable through the kernel page "
				      "tables (first at 0x%llx): unmapped or remapped",
				      unreadable, (unsigned long long)first_bad);
			integ_report(fn, ctx, st, &f);
		}
	}
	integ_hooks_check(vm, kv, fn, ctx, st);
	return 0;
}

size_t integ_text_private_bytes(const struct rw_integrity *vm)
{
	size_t t = 0;

	for (int r = 0; r < 2; r++)
		t += vm->b->r[r].npages * (sizeof(uint64_t) + sizeof(uint8_t *)) +
		     vm->vr[r].noverlay * INTEG_PAGE;
	return t;
}

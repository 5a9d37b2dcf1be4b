// SPDX-License-Identifier: GPL-2.0
/* Per-vCPU checks (IDT, control registers, syscall MSRs) and the syscall table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/integrity_int.h"

#define CR0_WP (1ull << 16)
#define CR4_UMIP (1ull << 11)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_NXE (1ull << 11)

struct gate {
	uint64_t target;
	unsigned sel, ist, type, dpl, present;
};

static struct gate decode_gate(const uint8_t *g)
{
	struct gate d;
	uint16_t lo, mid, sel;
	uint32_t hi;

	memcpy(&lo, g, 2);
	memcpy(&sel, g + 2, 2);
	memcpy(&mid, g + 6, 2);
	memcpy(&hi, g + 8, 4);
	d.target = lo | (uint64_t)mid << 16 | (uint64_t)hi << 32;
	d.sel = sel;
	d.ist = g[4] & 7;
	d.type = g[5] & 0xf;
	d.dpl = (g[5] >> 5) & 3;
	d.present = g[5] >> 7;
	return d;
}

static int in_kernel_text(const struct rw_integrity *vm, uint64_t va)
{
	uint64_t link = va - vm->slide;

	return link >= vm->b->prof.text_start && link < vm->b->prof.text_end;
}

static int in_init_text(const struct rw_integrity *vm, uint64_t va)
{
	uint64_t link = va - vm->slide;

	return vm->b->init_start && link >= vm->b->init_start && link < vm->b->init_end;
}

static int read_idt(const struct rw_kview *kv, const struct vmi_vcpu *c, struct integ_idt *out,
		    char *why, size_t whylen)
{
	int e;

	if (c->idtr_base.prov == VMI_PROV_NONE || c->idtr_limit.prov == VMI_PROV_NONE) {
		snprintf(why, whylen, "IDTR not available");
		return RW_INTEG_E_VCPU;
	}
	out->base = c->idtr_base.v;
	out->limit = c->idtr_limit.v;
	if (out->limit > 4095 || (out->limit + 1) % 16) {
		snprintf(why, whylen, "IDTR limit 0x%llx not a table of 16-byte gates <= 4 KiB",
			 (unsigned long long)out->limit);
		return RW_INTEG_E_VCPU;
	}
	memset(out->gates, 0, sizeof(out->gates));
	if ((e = vmi_x86_read(kv->x, out->base, out->gates, (size_t)out->limit + 1))) {
		snprintf(why, whylen, "IDT at 0x%llx unreadable: %s",
			 (unsigned long long)out->base, vmi_x86_strerror(e));
		return RW_INTEG_E_READ;
	}
	return 0;
}

int integ_cpu_baseline(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		       void *ctx, char *err, size_t errlen)
{
	const struct rw_kprofile *p = &vm->b->prof;
	char why[200];
	int rc, e;

	vm->nvcpus = kv->nvcpus;
	vm->idt = calloc(kv->nvcpus, sizeof(*vm->idt));
	vm->cr = calloc(kv->nvcpus, sizeof(*vm->cr));
	vm->msr = calloc(kv->nvcpus, sizeof(*vm->msr));
	vm->nsyscalls = p->nr_syscalls;
	vm->syscalls = calloc(p->nr_syscalls ? p->nr_syscalls : 1, sizeof(uint64_t));
	if (!vm->idt || !vm->cr || !vm->msr || !vm->syscalls)
		return integ_seterr(err, errlen, RW_INTEG_E_NOMEM, "out of memory");
	for (size_t i = 0; i < kv->nvcpus; i++) {
		const struct vmi_vcpu *c = &kv->vcpus[i];

		if (c->cr0.prov == VMI_PROV_NONE || c->cr4.prov == VMI_PROV_NONE ||
		    c->efer.prov == VMI_PROV_NONE)
			return integ_seterr(err, errlen, RW_INTEG_E_VCPU,
					    "vCPU %zu: CR0/CR4/EFER not available", i);
		vm->cr[i] = (struct integ_cr){ c->cr0.v, c->cr4.v, c->efer.v };
		if ((rc = read_idt(kv, c, &vm->idt[i], why, sizeof(why))))
			return integ_seterr(err, errlen, rc, "vCPU %zu: %s", i, why);
		for (unsigned v = 0; v < (vm->idt[i].limit + 1) / 16; v++) {
			struct gate g = decode_gate(vm->idt[i].gates + 16 * v);
			struct rw_finding f;

			if (!g.present || in_kernel_text(vm, g.target) || !fn)
				continue;
			if (in_init_text(vm, g.target)) /* e.g. #MC without MCE: early handler left */
				integ_finding(&f, RW_CHECK_IDT, RW_FINDING_INFO, (int)i, g.target,
					      "at baseline: vector %u still points at its early "
					      "boot handler in (freed) init text",
					      v);
			else
				integ_finding(&f, RW_CHECK_IDT, RW_FINDING_VIOLATION, (int)i, g.target,
					      "at baseline: vector %u handler outside kernel text",
					      v);
			integ_where(vm, kv, g.target, f.where, sizeof(f.where));
			fn(ctx, &f);
		}
	}
	if (p->nr_syscalls &&
	    (e = vmi_x86_read(kv->x, p->sys_call_table + vm->slide, vm->syscalls,
			      8ull * p->nr_syscalls)))
		return integ_seterr(err, errlen, RW_INTEG_E_READ, "sys_call_table unreadable: %s",
				    vmi_x86_strerror(e));
	for (unsigned n = 0; n < vm->nsyscalls && fn; n++) {
		struct rw_finding f;

		if (in_kernel_text(vm, vm->syscalls[n]))
			continue;
		integ_finding(&f, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION, -1, vm->syscalls[n],
			      "at baseline: syscall %u points outside kernel text", n);
		integ_where(vm, kv, vm->syscalls[n], f.where, sizeof(f.where));
		fn(ctx, &f);
	}
	return 0;
}

void integ_cpu_free(struct rw_integrity *vm)
{
	free(vm->idt);
	free(vm->cr);
	free(vm->msr);
	free(vm->syscalls);
}

static size_t vcpus_to_check(struct rw_integrity *vm, const struct rw_kview *kv,
			     enum rw_integ_check c, rw_finding_fn fn, void *ctx,
			     struct rw_pass_stats *st)
{
	if (kv->nvcpus != vm->nvcpus) {
		struct rw_finding f;

		integ_finding(&f, c, RW_FINDING_ERROR, -1, 0,
			      "%zu vCPU states given, baseline has %zu: checking the common ones",
			      kv->nvcpus, vm->nvcpus);
		integ_report(fn, ctx, st, &f);
	}
	return kv->nvcpus < vm->nvcpus ? kv->nvcpus : vm->nvcpus;
}

int rw_integrity_check_idt(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
			   void *ctx, struct rw_pass_stats *st)
{
	size_t n;
	struct integ_idt *cur;

	if (!vm || !kv || !kv->x || (kv->nvcpus && !kv->vcpus))
		return RW_INTEG_E_ARG;
	cur = malloc(sizeof(*cur));
	if (!cur)
		return RW_INTEG_E_NOMEM;
	n = vcpus_to_check(vm, kv, RW_CHECK_IDT, fn, ctx, st);
	for (size_t i = 0; i < n; i++) {
		const struct integ_idt *base = &vm->idt[i];
		struct rw_finding f;
		char why[200];
		int rc;

		if (kv->vcpus[i].idtr_base.prov == VMI_PROV_NONE ||
		    kv->vcpus[i].idtr_limit.prov == VMI_PROV_NONE) {
			integ_finding(&f, RW_CHECK_IDT, RW_FINDING_ERROR, (int)i, 0, "IDTR not available");
			integ_report(fn, ctx, st, &f);
			continue;
		}
		rc = read_idt(kv, &kv->vcpus[i], cur, why, sizeof(why));
		if (cur->base != base->base || cur->limit != base->limit) {
			integ_finding(&f, RW_CHECK_IDT, RW_FINDING_VIOLATION, (int)i, cur->base,
				      "IDTR changed: base 0x%llx limit 0x%llx -> base 0x%llx limit "
				      "0x%llx (source %s)",
				      (unsigned long long)base->base, (unsigned long long)base->limit,
				      (unsigned long long)cur->base, (unsigned long long)cur->limit,
				      vmi_prov_name(kv->vcpus[i].idtr_base.prov));
			integ_report(fn, ctx, st, &f);
			continue;
		}
		if (rc) {
			integ_finding(&f, RW_CHECK_IDT, RW_FINDING_ERROR, (int)i, cur->base, "%s", why);
			integ_report(fn, ctx, st, &f);
			continue;
		}
		for (unsigned v = 0; v < (base->limit + 1) / 16; v++) {
			const uint8_t *og = base->gates + 16 * v, *ng = cur->gates + 16 * v;
			struct gate o, g;
			char ow[160];

			if (!memcmp(og, ng, 16))
				continue;
			o = decode_gate(og);
			g = decode_gate(ng);
			integ_where(vm, kv, o.target, ow, sizeof(ow));
			integ_finding(&f, RW_CHECK_IDT, RW_FINDING_VIOLATION, (int)i, g.target,
				      "vector %u gate changed: handler %s -> 0x%llx%s, type %u->%u, "
				      "dpl %u->%u, present %u->%u, selector 0x%x->0x%x, ist %u->%u",
				      v, ow, (unsigned long long)g.target,
				      in_kernel_text(vm, g.target) ? "" : " (outside kernel text)",
				      o.type, g.type, o.dpl, g.dpl, o.present, g.present, o.sel,
				      g.sel, o.ist, g.ist);
			integ_where(vm, kv, g.target, f.where, sizeof(f.where));
			f.nbytes = 16;
			memcpy(f.old_bytes, og, 16);
			memcpy(f.new_bytes, ng, 16);
			integ_report(fn, ctx, st, &f);
		}
	}
	free(cur);
	return 0;
}

struct cr_bit {
	const char *name;
	int reg; /* 0 cr0, 1 cr4, 2 efer */
	uint64_t bit;
};

static const struct cr_bit cr_bits[] = {
	{ "CR0.WP", 0, CR0_WP },     { "CR4.SMEP", 1, CR4_SMEP }, { "CR4.SMAP", 1, CR4_SMAP },
	{ "CR4.UMIP", 1, CR4_UMIP }, { "EFER.NXE", 2, EFER_NXE },
};

int rw_integrity_check_cr(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
			  void *ctx, struct rw_pass_stats *st)
{
	size_t n;

	if (!vm || !kv || (kv->nvcpus && !kv->vcpus))
		return RW_INTEG_E_ARG;
	n = vcpus_to_check(vm, kv, RW_CHECK_CR, fn, ctx, st);
	for (size_t i = 0; i < n; i++) {
		const struct vmi_vcpu *c = &kv->vcpus[i];
		const struct vmi_val *now[3] = { &c->cr0, &c->cr4, &c->efer };
		const uint64_t base[3] = { vm->cr[i].cr0, vm->cr[i].cr4, vm->cr[i].efer };
		struct rw_finding f;

		for (size_t k = 0; k < sizeof(cr_bits) / sizeof(cr_bits[0]); k++) {
			const struct cr_bit *b = &cr_bits[k];
			const struct vmi_val *v = now[b->reg];

			if (!(base[b->reg] & b->bit))
				continue;
			if (v->prov == VMI_PROV_NONE) {
				integ_finding(&f, RW_CHECK_CR, RW_FINDING_ERROR, (int)i, 0,
					      "%s: register value not available", b->name);
				integ_report(fn, ctx, st, &f);
				continue;
			}
			if (v->v & b->bit)
				continue;
			integ_finding(&f, RW_CHECK_CR, RW_FINDING_VIOLATION, (int)i, 0,
				      "%s cleared (set at baseline): value 0x%llx (source %s)", b->name,
				      (unsigned long long)v->v, vmi_prov_name(v->prov));
			integ_report(fn, ctx, st, &f);
		}
	}
	return 0;
}

/*
 * The syscall whose entry point symbol @k is: the kernel defines each handler
 * as __x64_sys_NAME and puts aliases at the same address (__do_sys_NAME,
 * __se_sys_NAME, __ia32_sys_NAME; the symbol table lists whichever sorts
 * first).  Fills NAME and returns 1 when __x64_sys_NAME sits at k's address.
 */
static int syscall_of_symbol(const struct vmi_ksyms *syms, const struct vmi_ksym *k, char *out,
			     size_t len)
{
	static const char *prefixes[] = { "__x64_sys_", "__do_sys_", "__se_sys_", "__ia32_sys_",
					   "sys_" };
	uint64_t a;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);
		char x64[VMI_KSYM_NAME_MAX + 16];

		if (strncmp(k->name, prefixes[i], pl))
			continue;
		snprintf(x64, sizeof(x64), "__x64_sys_%s", k->name + pl);
		if (!vmi_ksyms_addr(syms, x64, &a) && a == k->addr) {
			snprintf(out, len, "%s", k->name + pl);
			return 1;
		}
	}
	return 0;
}

/* Name of the syscall whose handler is at @target (its entry exactly); "#nr"
 * if none. */
static int syscall_name(const struct rw_integrity *vm, uint64_t target, unsigned nr, char *out,
			size_t len)
{
	uint64_t off;
	const struct vmi_ksym *k = vmi_ksyms_find(vm->b->prof.syms, target - vm->slide, 0, &off);

	if (k && !off && syscall_of_symbol(vm->b->prof.syms, k, out, len))
		return 1;
	snprintf(out, len, "#%u", nr);
	return 0;
}

/* symbol+offset of a syscall table value: inside a syscall handler named by
 * its __x64_sys_NAME symbol (not whichever alias sorts first), else as any
 * address (kernel symbol, module, bare address). */
static void syscall_where(const struct rw_integrity *vm, const struct rw_kview *kv,
			  uint64_t addr, char *out, size_t len)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t link = addr - vm->slide, off;
	const struct vmi_ksym *k;
	char name[128];

	if (link >= p->text_start && link < p->text_end &&
	    (k = vmi_ksyms_find(p->syms, link, 0, &off)) && off < (1u << 20) &&
	    syscall_of_symbol(p->syms, k, name, sizeof(name))) {
		snprintf(out, len, "__x64_sys_%.100s+0x%llx", name, (unsigned long long)off);
		return;
	}
	integ_where(vm, kv, addr, out, len);
}

int rw_integrity_check_syscalls(struct rw_integrity *vm, const struct rw_kview *kv,
				rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	uint64_t cur[RW_KPROFILE_MAX_SYSCALLS];
	struct rw_finding f;
	int e;

	if (!vm || !kv || !kv->x)
		return RW_INTEG_E_ARG;
	if (!vm->nsyscalls)
		return 0;
	e = vmi_x86_read(kv->x, vm->b->prof.sys_call_table + vm->slide, cur, 8ull * vm->nsyscalls);
	if (e) {
		integ_finding(&f, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION, -1,
			      vm->b->prof.sys_call_table + vm->slide,
			      "sys_call_table no longer readable: %s", vmi_x86_strerror(e));
		integ_report(fn, ctx, st, &f);
		return 0;
	}
	for (unsigned n = 0; n < vm->nsyscalls; n++) {
		char name[96], was[160], to[160], now[96], what[128];

		if (cur[n] == vm->syscalls[n])
			continue;
		syscall_name(vm, vm->syscalls[n], n, name, sizeof(name));
		syscall_where(vm, kv, vm->syscalls[n], was, sizeof(was));
		syscall_where(vm, kv, cur[n], to, sizeof(to));
		if (syscall_name(vm, cur[n], n, now, sizeof(now)))
			snprintf(what, sizeof(what), "the handler of syscall %s", now);
		else if (!in_kernel_text(vm, cur[n]))
			snprintf(what, sizeof(what), "not a syscall handler, outside kernel text");
		else
			snprintf(what, sizeof(what), "not a syscall handler");
		integ_finding(&f, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION, -1, cur[n],
			      "syscall %u (%s) repointed: %s -> %s = 0x%llx (%s)", n, name, was,
			      to, (unsigned long long)cur[n], what);
		snprintf(f.where, sizeof(f.where), "%s", to);
		f.nbytes = 8;
		memcpy(f.old_bytes, &vm->syscalls[n], 8);
		memcpy(f.new_bytes, &cur[n], 8);
		integ_report(fn, ctx, st, &f);
	}
	return 0;
}

/* ---- MSRs --------------------------------------------------------------------------- */

static int msr_usable(const struct rw_kview *kv, const struct vmi_val *v)
{
	if (v->prov == VMI_PROV_NONE)
		return 0;
	return v->prov != VMI_PROV_GUEST_REPORT || kv->guest_reporter_verified;
}

static void msr_expect_addr(struct rw_integrity *vm, const struct rw_kview *kv, int cpu,
			    const char *name, const struct vmi_val *v, uint64_t link,
			    const char *sym, rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	uint64_t want = link + vm->slide;
	struct rw_finding f;

	if (!link || !msr_usable(kv, v))
		return;
	if (st)
		st->msr_prov = v->prov;
	if (v->v == want)
		return;
	/* KVM on AMD keeps only the low 32 bits of SYSENTER_EIP/ESP. */
	if (v->prov == VMI_PROV_KVM_IOCTL && !strcmp(name, "SYSENTER_EIP") && !(v->v >> 32) &&
	    (uint32_t)v->v == (uint32_t)want)
		return;
	integ_finding(&f, RW_CHECK_MSR, RW_FINDING_VIOLATION, cpu, v->v,
		      "%s = 0x%llx, expected %s = 0x%llx (source %s)", name,
		      (unsigned long long)v->v, sym, (unsigned long long)want,
		      vmi_prov_name(v->prov));
	integ_where(vm, kv, v->v, f.where, sizeof(f.where));
	integ_report(fn, ctx, st, &f);
}

static void msr_sticky(const struct rw_kview *kv, int cpu, const char *name,
		       const struct vmi_val *v, int *have, uint64_t *first, rw_finding_fn fn,
		       void *ctx, struct rw_pass_stats *st)
{
	struct rw_finding f;

	if (!msr_usable(kv, v))
		return;
	if (st)
		st->msr_prov = v->prov;
	if (!*have) {
		*have = 1;
		*first = v->v;
		return;
	}
	if (v->v == *first)
		return;
	integ_finding(&f, RW_CHECK_MSR, RW_FINDING_VIOLATION, cpu, 0,
		      "%s changed: 0x%llx -> 0x%llx (source %s)", name, (unsigned long long)*first,
		      (unsigned long long)v->v, vmi_prov_name(v->prov));
	integ_report(fn, ctx, st, &f);
}

int rw_integrity_check_msrs(struct rw_integrity *vm, const struct rw_kview *kv,
			    rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	const struct integ_build *b;
	size_t n, unverified = 0;

	if (!vm || !kv || (kv->nvcpus && !kv->vcpus))
		return RW_INTEG_E_ARG;
	b = vm->b;
	n = kv->nvcpus < vm->nvcpus ? kv->nvcpus : vm->nvcpus;
	for (size_t i = 0; i < n; i++) {
		const struct vmi_vcpu *c = &kv->vcpus[i];
		struct integ_msr_seen *m = &vm->msr[i];
		const struct vmi_val *all[] = { &c->lstar, &c->star, &c->cstar, &c->sfmask,
						&c->sysenter_cs, &c->sysenter_esp, &c->sysenter_eip };

		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			unverified += all[k]->prov == VMI_PROV_GUEST_REPORT &&
				      !kv->guest_reporter_verified;
		msr_expect_addr(vm, kv, (int)i, "LSTAR", &c->lstar, b->entry_syscall_64,
				"entry_SYSCALL_64", fn, ctx, st);
		msr_expect_addr(vm, kv, (int)i, "CSTAR", &c->cstar, b->entry_syscall_compat,
				"entry_SYSCALL_compat", fn, ctx, st);
		msr_expect_addr(vm, kv, (int)i, "SYSENTER_EIP", &c->sysenter_eip,
				b->entry_sysenter_compat, "entry_SYSENTER_compat", fn, ctx, st);
		msr_sticky(kv, (int)i, "STAR", &c->star, &m->have_star, &m->star, fn, ctx, st);
		msr_sticky(kv, (int)i, "SFMASK", &c->sfmask, &m->have_sfmask, &m->sfmask, fn, ctx,
			   st);
		msr_sticky(kv, (int)i, "SYSENTER_CS", &c->sysenter_cs, &m->have_cs, &m->cs, fn, ctx,
			   st);
	}
	if (unverified) {
		struct rw_finding f;

		integ_finding(&f, RW_CHECK_MSR, RW_FINDING_INFO, -1, 0,
			      "%zu MSR value(s) from guest reports ignored: the reporting module "
			      "is not verified intact",
			      unverified);
		integ_report(fn, ctx, st, &f);
	}
	return 0;
}

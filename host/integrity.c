// SPDX-License-Identifier: GPL-2.0
/* Host integrity engine: attach (baseline), pass, findings helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/integrity_int.h"

int integ_cpu_baseline(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		       void *ctx, char *err, size_t errlen);
void integ_cpu_free(struct rw_integrity *vm);
void integ_modules_free(struct rw_integrity *vm);
size_t integ_text_private_bytes(const struct rw_integrity *vm);

const char *rw_integ_strerror(int code)
{
	switch (code) {
	case RW_INTEG_OK: return "ok";
	case RW_INTEG_E_ARG: return "bad argument";
	case RW_INTEG_E_SYMBOL: return "required symbol missing";
	case RW_INTEG_E_TABLE: return "patch-site table missing or malformed";
	case RW_INTEG_E_READ: return "guest memory unreadable";
	case RW_INTEG_E_NOMEM: return "out of memory";
	case RW_INTEG_E_VCPU: return "vCPU state missing";
	case RW_INTEG_E_MISMATCH: return "kernel view does not match the cached build";
	case RW_INTEG_E_LIMIT: return "limit exceeded";
	}
	return "unknown error";
}

const char *rw_integ_check_name(enum rw_integ_check c)
{
	static const char *names[RW_CHECK_COUNT_] = { "ktext", "krodata", "idt",    "cr",
						      "syscall", "msr",   "modules" };

	return (unsigned)c < RW_CHECK_COUNT_ ? names[c] : "?";
}

const char *rw_integ_sev_name(enum rw_integ_sev s)
{
	switch (s) {
	case RW_FINDING_INFO: return "info";
	case RW_FINDING_HOOK: return "hook";
	case RW_FINDING_VIOLATION: return "violation";
	case RW_FINDING_ERROR: return "error";
	}
	return "?";
}

int integ_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void integ_finding(struct rw_finding *f, enum rw_integ_check c, enum rw_integ_sev s, int vcpu,
		   uint64_t addr, const char *fmt, ...)
{
	va_list ap;

	memset(f, 0, sizeof(*f));
	f->check = c;
	f->sev = s;
	f->vcpu = vcpu;
	f->addr = addr;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

void integ_report(rw_finding_fn fn, void *ctx, struct rw_pass_stats *st, struct rw_finding *f)
{
	if (st) {
		st->violations += f->sev == RW_FINDING_VIOLATION;
		st->hooks += f->sev == RW_FINDING_HOOK;
		st->errors += f->sev == RW_FINDING_ERROR;
	}
	if (fn)
		fn(ctx, f);
}

int integ_in_module_area(const struct integ_build *b, uint64_t va)
{
	return va >= b->prof.module_start && va < b->prof.module_end;
}

int integ_exec_page(struct vmi_x86 *x, uint64_t va)
{
	struct vmi_x86_xlat xl;

	return !vmi_x86_translate(x, va, &xl) && !xl.nx && !xl.writable;
}

void integ_where(const struct rw_integrity *vm, const struct rw_kview *kv, uint64_t addr,
		 char *out, size_t len)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t link = addr - vm->slide, off;
	const struct vmi_ksym *k;
	char mod[RW_MOD_NAME_MAX];

	out[0] = '\0';
	if (link >= p->text_start && link < p->rodata_end + (64u << 20) &&
	    (k = vmi_ksyms_find(p->syms, link, 0, &off)) && off < (1u << 20)) {
		snprintf(out, len, "%s+0x%llx", k->name, (unsigned long long)off);
		return;
	}
	if (integ_in_module_area(vm->b, addr)) {
		if (kv && kv->owner && !kv->owner(kv->owner_ctx, addr, mod, sizeof(mod))) {
			mod[sizeof(mod) - 1] = '\0';
			snprintf(out, len, "0x%llx [module %s]", (unsigned long long)addr, mod);
		} else {
			snprintf(out, len, "0x%llx [module area, owner unknown]",
				 (unsigned long long)addr);
		}
		return;
	}
	snprintf(out, len, "0x%llx", (unsigned long long)addr);
}

const struct rw_kprofile *integ_profile(const struct rw_kview *kv, struct rw_kprofile *tmp,
					char *err, size_t errlen, int *rc)
{
	*rc = 0;
	if (kv->profile)
		return kv->profile;
	if (!kv->cat) {
		*rc = integ_seterr(err, errlen, RW_INTEG_E_ARG, "kernel view has no catalog");
		return NULL;
	}
	*rc = rw_kprofile_from_kcat(kv->cat, tmp, err, errlen);
	return *rc ? NULL : tmp;
}

int rw_integrity_baseline(struct rw_integrity_cache *cache, const struct rw_kview *kv,
			  rw_finding_fn fn, void *ctx, struct rw_integrity **out, char *err,
			  size_t errlen)
{
	struct rw_kprofile tmp;
	const struct rw_kprofile *p;
	struct rw_integrity *vm;
	int rc;

	if (!cache || !kv || !kv->x || !out || !kv->vcpus || !kv->nvcpus || kv->nvcpus > 4096)
		return integ_seterr(err, errlen, RW_INTEG_E_ARG,
				    "cache, walker, 1..4096 vCPU states and out are required");
	*out = NULL;
	if (!(p = integ_profile(kv, &tmp, err, errlen, &rc)))
		return rc;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return integ_seterr(err, errlen, RW_INTEG_E_NOMEM, "out of memory");
	if ((rc = integ_cache_get(cache, p, &vm->b, err, errlen))) {
		free(vm);
		return rc;
	}
	vm->slide = kv->slide;
	vm->scratch = malloc(4 * (INTEG_PAGE + 2 * INTEG_MARGIN));
	vm->kprobes = malloc(INTEG_MAX_KPROBES * sizeof(*vm->kprobes));
	vm->ops = malloc(RW_HOOK_MAX_FTRACE_OPS * sizeof(*vm->ops));
	vm->tramps = calloc(RW_HOOK_MAX_TRAMPS, sizeof(*vm->tramps));
	if (!vm->scratch || !vm->kprobes || !vm->ops || !vm->tramps) {
		rw_integrity_free(vm);
		return integ_seterr(err, errlen, RW_INTEG_E_NOMEM, "out of memory");
	}
	vmi_x86_flush(kv->x);
	if ((rc = integ_text_baseline(vm, kv, fn, ctx, err, errlen)) ||
	    (rc = integ_cpu_baseline(vm, kv, fn, ctx, err, errlen))) {
		rw_integrity_free(vm);
		return rc;
	}
	*out = vm;
	return 0;
}

int rw_integrity_pass(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		      void *ctx, struct rw_pass_stats *st)
{
	int rc;

	if (!vm || !kv || !kv->x)
		return RW_INTEG_E_ARG;
	if (kv->slide != vm->slide)
		return RW_INTEG_E_MISMATCH;
	if (st)
		memset(st, 0, sizeof(*st));
	vmi_x86_flush(kv->x);
	if ((rc = rw_integrity_check_text(vm, kv, fn, ctx, st)) ||
	    (rc = rw_integrity_check_syscalls(vm, kv, fn, ctx, st)))
		return rc;
	if (kv->nvcpus &&
	    ((rc = rw_integrity_check_idt(vm, kv, fn, ctx, st)) ||
	     (rc = rw_integrity_check_cr(vm, kv, fn, ctx, st)) ||
	     (rc = rw_integrity_check_msrs(vm, kv, fn, ctx, st))))
		return rc;
	return 0;
}

size_t rw_integrity_private_bytes(const struct rw_integrity *vm)
{
	size_t t;

	if (!vm)
		return 0;
	t = sizeof(*vm) + 4 * (INTEG_PAGE + 2 * INTEG_MARGIN) +
	    integ_hooks_private_bytes(vm) + integ_text_private_bytes(vm);
	t += vm->nvcpus * (sizeof(*vm->idt) + sizeof(*vm->cr) + sizeof(*vm->msr));
	t += vm->nsyscalls * sizeof(uint64_t);
	for (size_t i = 0; i < vm->nmods; i++)
		t += sizeof(vm->mods[i]) + (vm->mods[i].copy ? vm->mods[i].size : 0);
	return t;
}

size_t rw_integrity_overlay_pages(const struct rw_integrity *vm)
{
	return vm ? vm->vr[0].noverlay + vm->vr[1].noverlay : 0;
}

void rw_integrity_free(struct rw_integrity *vm)
{
	if (!vm)
		return;
	integ_text_free(vm);
	integ_cpu_free(vm);
	integ_modules_free(vm);
	free(vm->scratch);
	integ_hooks_free(vm);
	integ_build_put(vm->b);
	free(vm);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Modules: the module list and the module kset must agree; each module's core
 * text is copied at first sight and compared on every pass, legitimate
 * changes being those at the module's own patch sites (jump labels, ftrace
 * call sites, static calls), read from the guest with bounded counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "host/integrity_int.h"

#define MOD_MAX_SITES 65536u

static const struct rw_kmodule *find_mod(const struct rw_kmodule *a, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].addr == addr)
			return &a[i];
	return NULL;
}

static struct integ_module *tracked(struct rw_integrity *vm, uint64_t addr)
{
	for (size_t i = 0; i < vm->nmods; i++)
		if (vm->mods[i].addr == addr)
			return &vm->mods[i];
	return NULL;
}

static void name_of(const struct rw_kmodule *m, char *out)
{
	memcpy(out, m->name, RW_MOD_NAME_MAX);
	out[RW_MOD_NAME_MAX - 1] = '\0';
	for (char *c = out; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

static int cmp_site(const void *a, const void *b)
{
	const struct integ_site *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Read one of the module's site tables (entries of esize bytes) and append
 * the sites that lie inside its text. */
static size_t add_sites(const struct rw_kview *kv, const struct rw_kmodule *m, uint64_t table,
			unsigned count, unsigned esize, uint8_t kind, struct integ_site *out,
			size_t n)
{
	uint8_t *buf;

	if (!table || !count || count > MOD_MAX_SITES || n + count > MOD_MAX_SITES)
		return n;
	buf = malloc((size_t)count * esize);
	if (!buf)
		return n;
	if (!vmi_x86_read(kv->x, table, buf, (size_t)count * esize)) {
		for (unsigned i = 0; i < count; i++) {
			const uint8_t *e = buf + (size_t)i * esize;
			uint64_t ea = table + (uint64_t)i * esize, a, t = 0;
			int32_t r0, r1;
			uint8_t tail = 0;

			memcpy(&r0, e, 4);
			memcpy(&r1, e + 4, 4);
			if (kind == SITE_FTRACE) {
				memcpy(&a, e, 8);
			} else {
				a = ea + (uint64_t)(int64_t)r0;
				if (kind == SITE_JUMP)
					t = ea + 4 + (uint64_t)(int64_t)r1;
				else
					tail = (uint8_t)((ea + 4 + (uint64_t)(int64_t)r1) & 1);
			}
			if (a < m->text || a - m->text + 5 > m->text_size)
				continue;
			out[n++] = (struct integ_site){ a, t, kind, 5, tail };
		}
	}
	free(buf);
	return n;
}

/* Diff the module's text against its copy; returns unexplained ranges. */
static size_t classify_module(struct rw_integrity *vm, const struct rw_kview *kv,
			      const struct rw_kmodule *m, struct integ_module *t, uint8_t *cur,
			      const char *name, rw_finding_fn fn, void *ctx,
			      struct rw_pass_stats *st)
{
	struct integ_site *sites = malloc(MOD_MAX_SITES * sizeof(*sites));
	struct integ_site_ctx sc = { .vm = vm, .kv = kv };
	size_t ns = 0, bad = 0, j = 0;

	if (!sites)
		return 1;
	ns = add_sites(kv, m, m->jump_entries, m->num_jump_entries, 16, SITE_JUMP, sites, ns);
	ns = add_sites(kv, m, m->ftrace_callsites, m->num_ftrace_callsites, 8, SITE_FTRACE, sites,
		       ns);
	ns = add_sites(kv, m, m->static_call_sites, m->num_static_call_sites, 8, SITE_SCALL,
		       sites, ns);
	qsort(sites, ns, sizeof(*sites), cmp_site);
	while (j < t->size) {
		uint64_t va = t->text + j;
		size_t end = 0;
		struct rw_finding f;

		if (cur[j] == t->copy[j]) {
			j++;
			continue;
		}
		for (size_t k = 0; k < ns && !end; k++) {
			const struct integ_site *s = &sites[k];
			char why[256];
			int hook, n;

			if (s->addr > va || s->addr + 5 <= va)
				continue;
			n = integ_valid_site(&sc, s, s->addr, t->copy + (s->addr - t->text),
					     cur + (s->addr - t->text), &hook, why, sizeof(why));
			if (n <= 0 || s->addr + (unsigned)n <= va)
				continue;
			end = (size_t)(s->addr - t->text) + (unsigned)n;
			if (st)
				st->sites_accepted++;
			if (hook) {
				integ_finding(&f, RW_CHECK_MODULES,
					      sc.denied ? RW_FINDING_VIOLATION : RW_FINDING_HOOK, -1,
					      s->addr, "module %s: patch site -> %s%s%s%s%s%s",
					      name, why, sc.handler[0] ? "; handler " : "",
					      sc.handler, sc.handler[0] ? " (" : "", sc.owner,
					      !sc.handler[0] ? ""
					      : sc.denied ? "): not kernel text or an allowlisted "
							    "module"
							  : ")");
				integ_where(vm, kv, s->addr, f.where, sizeof(f.where));
				snprintf(f.handler, sizeof(f.handler), "%s", sc.handler);
				snprintf(f.owner, sizeof(f.owner), "%s", sc.owner);
				bad += sc.denied;
				integ_report(fn, ctx, st, &f);
			}
		}
		if (end) {
			j = end;
			continue;
		}
		{
			size_t last = j;

			for (size_t k = j + 1; k < t->size && k - last < 8; k++)
				if (cur[k] != t->copy[k])
					last = k;
			integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_VIOLATION, -1, va,
				      "module %s: %zu byte(s) of text modified at +0x%zx outside its "
				      "patch sites",
				      name, last - j + 1, j);
			snprintf(f.where, sizeof(f.where), "%s+0x%zx", name, j);
			f.nbytes = last - j + 1 < RW_FINDING_BYTES ? last - j + 1 : RW_FINDING_BYTES;
			memcpy(f.old_bytes, t->copy + j, f.nbytes);
			memcpy(f.new_bytes, cur + j, f.nbytes);
			f.range_len = last - j + 1;
			integ_report(fn, ctx, st, &f);
			bad++;
			j = last + 1;
		}
	}
	free(sites);
	return bad;
}

static int first_sight(struct rw_integrity *vm, const struct rw_kview *kv,
		       const struct rw_kmodule *m, const char *name, rw_finding_fn fn, void *ctx,
		       struct rw_pass_stats *st)
{
	struct integ_module *t;
	struct rw_finding f;

	if (vm->nmods == vm->capmods) {
		size_t nc = vm->capmods ? vm->capmods * 2 : 16;
		struct integ_module *n = realloc(vm->mods, nc * sizeof(*n));

		if (!n)
			return RW_INTEG_E_NOMEM;
		vm->mods = n;
		vm->capmods = nc;
	}
	t = &vm->mods[vm->nmods++];
	memset(t, 0, sizeof(*t));
	t->addr = m->addr;
	t->text = m->text;
	t->size = m->text_size;
	t->seen = 1;
	memcpy(t->name, name, RW_MOD_NAME_MAX);
	if (!m->text_size || m->text_size > RW_MOD_TEXT_MAX || !integ_in_module_area(vm->b, m->text) ||
	    m->text + m->text_size > vm->b->prof.module_end) {
		integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_VIOLATION, -1, m->text,
			      "module %s: core text 0x%llx size %llu outside the module area or "
			      "out of bounds",
			      name, (unsigned long long)m->text, (unsigned long long)m->text_size);
		integ_report(fn, ctx, st, &f);
		t->size = 0;
		return 0;
	}
	t->copy = malloc(t->size);
	if (!t->copy || vmi_x86_read(kv->x, t->text, t->copy, t->size)) {
		free(t->copy);
		t->copy = NULL;
		integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_ERROR, -1, m->text,
			      "module %s: core text unreadable, not tracked", name);
		integ_report(fn, ctx, st, &f);
		return 0;
	}
	t->hash = XXH3_64bits(t->copy, t->size);
	t->intact = 1;
	integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_INFO, -1, m->addr,
		      "module %s loaded: text 0x%llx, %llu bytes, xxh3 %016llx", name,
		      (unsigned long long)m->text, (unsigned long long)m->text_size,
		      (unsigned long long)t->hash);
	integ_report(fn, ctx, st, &f);
	return 0;
}

static void recheck(struct rw_integrity *vm, const struct rw_kview *kv,
		    const struct rw_kmodule *m, struct integ_module *t, const char *name,
		    rw_finding_fn fn, void *ctx, struct rw_pass_stats *st)
{
	uint8_t *cur;
	struct rw_finding f;
	uint64_t h;

	if (!t->copy)
		return;
	cur = malloc(t->size);
	if (!cur)
		return;
	if (vmi_x86_read(kv->x, t->text, cur, t->size)) {
		integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_VIOLATION, -1, t->text,
			      "module %s: core text no longer readable", name);
		integ_report(fn, ctx, st, &f);
		t->intact = 0;
		free(cur);
		return;
	}
	h = XXH3_64bits(cur, t->size);
	if (h != t->hash) {
		if (classify_module(vm, kv, m, t, cur, name, fn, ctx, st)) {
			t->intact = 0;
		} else {
			memcpy(t->copy, cur, t->size);
			t->hash = h;
		}
	}
	free(cur);
}

int rw_integrity_check_modules(struct rw_integrity *vm, const struct rw_kview *kv,
			       const struct rw_kmodule *list, size_t nlist,
			       const struct rw_kmodule *kset, size_t nkset, rw_finding_fn fn,
			       void *ctx, struct rw_pass_stats *st)
{
	char name[RW_MOD_NAME_MAX];
	struct rw_finding f;
	int rc;

	if (!vm || !kv || !kv->x || (nlist && !list) || (nkset && !kset))
		return RW_INTEG_E_ARG;
	if (nlist > RW_MOD_MAX || nkset > RW_MOD_MAX)
		return RW_INTEG_E_LIMIT;
	for (size_t i = 0; i < vm->nmods; i++)
		vm->mods[i].seen = 0;
	for (int pass = 0; pass < 2; pass++) {
		const struct rw_kmodule *a = pass ? kset : list, *other = pass ? list : kset;
		size_t na = pass ? nkset : nlist, no = pass ? nlist : nkset;

		for (size_t i = 0; i < na; i++) {
			const struct rw_kmodule *m = &a[i];
			struct integ_module *t;

			name_of(m, name);
			if (!find_mod(other, no, m->addr)) {
				integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_VIOLATION, -1, m->addr,
					      pass ? "module %s (struct module 0x%llx) in the module "
						     "kset but not on the module list: hidden from "
						     "lsmod"
						   : "module %s (struct module 0x%llx) on the module "
						     "list but not in the module kset: hidden from sysfs",
					      name, (unsigned long long)m->addr);
				integ_report(fn, ctx, st, &f);
			} else if (pass) {
				continue; /* on both: handled in the first round */
			}
			t = tracked(vm, m->addr);
			if (t && (t->text != m->text || t->size != m->text_size ||
				  strncmp(t->name, name, RW_MOD_NAME_MAX))) {
				t->seen = 0; /* same address reused by another module */
				t->addr = 0;
				t = NULL;
			}
			if (!t) {
				if ((rc = first_sight(vm, kv, m, name, fn, ctx, st)))
					return rc;
				continue;
			}
			if (t->seen)
				continue;
			t->seen = 1;
			recheck(vm, kv, m, t, name, fn, ctx, st);
		}
	}
	for (size_t i = 0; i < vm->nmods;) {
		struct integ_module *t = &vm->mods[i];

		if (t->seen) {
			i++;
			continue;
		}
		if (t->addr) {
			integ_finding(&f, RW_CHECK_MODULES, RW_FINDING_INFO, -1, t->addr,
				      "module %s unloaded", t->name);
			integ_report(fn, ctx, st, &f);
		}
		free(t->copy);
		vm->mods[i] = vm->mods[--vm->nmods];
	}
	return 0;
}

bool rw_integrity_module_intact(const struct rw_integrity *vm, uint64_t addr)
{
	for (size_t i = 0; vm && i < vm->nmods; i++)
		if (vm->mods[i].addr == addr)
			return vm->mods[i].intact && vm->mods[i].copy;
	return false;
}

void integ_modules_free(struct rw_integrity *vm)
{
	for (size_t i = 0; i < vm->nmods; i++)
		free(vm->mods[i].copy);
	free(vm->mods);
	vm->mods = NULL;
	vm->nmods = vm->capmods = 0;
}

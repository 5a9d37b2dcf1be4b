// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks: the kernel's own hooking mechanisms (kprobes, ftrace ops) walked
 * from guest memory, every pointer bounded and validated.
 *
 *   - kprobe_table[] hlists give the probed addresses and their pre/post
 *     handlers (an aggregated probe's children through kprobe.list);
 *   - ftrace_ops_list gives the registered ftrace_ops: func, trampoline and
 *     trampoline_size. An ftrace site calling into the module area is
 *     accepted only inside the trampoline of a registered ops;
 *   - every handler is attributed (symbol+offset, owner "kernel" or module)
 *     and one outside kernel text and allowlisted modules is a violation;
 *   - the code of every accepted trampoline is compared with its accepted
 *     copy on every pass: only its ops call may change, to an allowed handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/integrity_int.h"

#define MAX_AGGR_CHILDREN 64u

int integ_kernel_pointer(const struct vmi_x86 *x, uint64_t p)
{
	return (p >> 63) && vmi_x86_canonical(x, p);
}

static int rd64(const struct rw_kview *kv, uint64_t va, uint64_t *v)
{
	return vmi_x86_read(kv->x, va, v, 8);
}

void integ_hooks_reset(struct rw_integrity *vm)
{
	vm->kprobes_walked = 0;
	vm->ops_walked = 0;
	vm->btramps_walked = 0;
}

/* ---- kprobes ------------------------------------------------------------------- */

static int cmp_kprobe(const void *a, const void *b)
{
	const struct integ_kprobe *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void kprobe_push(struct rw_integrity *vm, uint64_t addr, uint64_t pre, uint64_t post)
{
	if (vm->nkprobes < INTEG_MAX_KPROBES)
		vm->kprobes[vm->nkprobes++] = (struct integ_kprobe){ addr, pre, post };
}

/* Handlers of struct kprobe at @base (0 when unknown or unreadable). */
static void kprobe_handlers(const struct rw_integrity *vm, const struct rw_kview *kv,
			    uint64_t base, uint64_t *pre, uint64_t *post)
{
	const struct rw_kprofile *p = &vm->b->prof;

	*pre = *post = 0;
	if (p->kprobe_pre_off && rd64(kv, base + p->kprobe_pre_off, pre))
		*pre = 0;
	if (p->kprobe_post_off && rd64(kv, base + p->kprobe_post_off, post))
		*post = 0;
}

/* An aggregated probe (pre_handler aggr_pre_handler) stands for the probes on
 * its kprobe.list: record those, bounded. Returns 1 when @base was one. */
static int kprobe_children(struct rw_integrity *vm, const struct rw_kview *kv, uint64_t base,
			   uint64_t addr, uint64_t pre, size_t *steps)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t head, node;

	if (!vm->b->aggr_pre_handler || pre != vm->b->aggr_pre_handler + vm->slide ||
	    !p->kprobe_list_off)
		return 0;
	head = base + p->kprobe_list_off;
	if (rd64(kv, head, &node))
		return 1;
	for (unsigned n = 0; node != head && n < MAX_AGGR_CHILDREN && *steps < INTEG_MAX_KPROBES;
	     n++, (*steps)++) {
		uint64_t cpre, cpost, next;

		if (!integ_kernel_pointer(kv->x, node) || rd64(kv, node, &next))
			break;
		kprobe_handlers(vm, kv, node - p->kprobe_list_off, &cpre, &cpost);
		kprobe_push(vm, addr, cpre, cpost);
		node = next;
	}
	return 1;
}

/* Walk kprobe_table[] hlists from guest memory; bounded in total nodes. */
void integ_walk_kprobes(struct rw_integrity *vm, const struct rw_kview *kv)
{
	const struct rw_kprofile *p = &vm->b->prof;
	size_t steps = 0;

	if (vm->kprobes_walked)
		return;
	vm->kprobes_walked = 1;
	vm->nkprobes = 0;
	if (!p->kprobe_table || !vm->kprobes)
		return;
	for (unsigned i = 0; i < p->kprobe_buckets && steps < INTEG_MAX_KPROBES; i++) {
		uint64_t node;

		if (rd64(kv, p->kprobe_table + vm->slide + 8ull * i, &node))
			break;
		while (node && integ_kernel_pointer(kv->x, node) && steps++ < INTEG_MAX_KPROBES) {
			uint64_t base = node - p->kprobe_hlist_off, addr, next, pre, post;

			if (rd64(kv, base + p->kprobe_addr_off, &addr) || rd64(kv, node, &next))
				break;
			kprobe_handlers(vm, kv, base, &pre, &post);
			if (!kprobe_children(vm, kv, base, addr, pre, &steps))
				kprobe_push(vm, addr, pre, post);
			node = next;
		}
	}
	qsort(vm->kprobes, vm->nkprobes, sizeof(*vm->kprobes), cmp_kprobe);
}

const struct integ_kprobe *integ_kprobe_at(const struct rw_integrity *vm, uint64_t va)
{
	struct integ_kprobe key = { va, 0, 0 };

	if (!vm->nkprobes)
		return NULL;
	return bsearch(&key, vm->kprobes, vm->nkprobes, sizeof(key), cmp_kprobe);
}

/* ---- ftrace ops ------------------------------------------------------------------ */

void integ_walk_ops(struct rw_integrity *vm, const struct rw_kview *kv)
{
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t node, end = p->ftrace_list_end ? p->ftrace_list_end + vm->slide : 0;

	if (vm->ops_walked)
		return;
	vm->ops_walked = 1;
	vm->nops = 0;
	vm->ops_malformed = 0;
	if (!p->ftrace_ops_list || !vm->ops)
		return;
	if (rd64(kv, p->ftrace_ops_list + vm->slide, &node)) {
		vm->ops_malformed = 1;
		return;
	}
	while (node && node != end) {
		struct integ_ops o = { node, 0, 0, 0 };
		uint64_t next;

		if (vm->nops >= RW_HOOK_MAX_FTRACE_OPS || !integ_kernel_pointer(kv->x, node) ||
		    rd64(kv, node + p->fops_func_off, &o.func) ||
		    rd64(kv, node + p->fops_next_off, &next) ||
		    rd64(kv, node + p->fops_tramp_off, &o.tramp) ||
		    rd64(kv, node + p->fops_tramp_size_off, &o.tramp_size)) {
			vm->ops_malformed = 1;
			return;
		}
		vm->ops[vm->nops++] = o;
		node = next;
	}
}

/* The trampoline of @o when it is a plausible one: in the module area,
 * bounded size, not wrapping. */
static int ops_has_tramp(const struct rw_integrity *vm, const struct integ_ops *o)
{
	return o->tramp && o->tramp_size && o->tramp_size <= RW_HOOK_MAX_TRAMP_SIZE &&
	       integ_in_module_area(vm->b, o->tramp) &&
	       o->tramp + o->tramp_size <= vm->b->prof.module_end;
}

const struct integ_ops *integ_ops_tramp(struct rw_integrity *vm, const struct rw_kview *kv,
					uint64_t t)
{
	integ_walk_ops(vm, kv);
	for (size_t i = 0; i < vm->nops; i++) {
		const struct integ_ops *o = &vm->ops[i];

		if (ops_has_tramp(vm, o) && t >= o->tramp && t - o->tramp < o->tramp_size)
			return o;
	}
	return NULL;
}

/* ---- BPF trampolines ------------------------------------------------------------ */

static void walk_bpf_tramps(struct rw_integrity *vm, const struct rw_kview *kv)
{
	const struct rw_kprofile *p = &vm->b->prof;
	size_t steps = 0;

	if (vm->btramps_walked)
		return;
	vm->btramps_walked = 1;
	vm->nbtramps = 0;
	if (!vm->btramps &&
	    !(vm->btramps = malloc(RW_HOOK_MAX_BPF_TRAMPS * sizeof(*vm->btramps))))
		return;
	for (unsigned i = 0; i < p->bpf_tramp_buckets && steps < RW_HOOK_MAX_BPF_TRAMPS; i++) {
		uint64_t node;

		if (rd64(kv, p->bpf_tramp_table + vm->slide + 8ull * i, &node))
			return;
		while (node && integ_kernel_pointer(kv->x, node) &&
		       steps++ < RW_HOOK_MAX_BPF_TRAMPS) {
			uint64_t base = node - p->btr_hlist_off, func, im, image, next;

			if (rd64(kv, node, &next) || rd64(kv, base + p->btr_func_addr_off, &func) ||
			    rd64(kv, base + p->btr_cur_image_off, &im))
				break;
			if (im && integ_kernel_pointer(kv->x, im) &&
			    !rd64(kv, im + p->bti_image_off, &image) && image)
				vm->btramps[vm->nbtramps++] = (struct integ_btramp){ image, func };
			node = next;
		}
	}
}

int integ_bpf_tramp(struct rw_integrity *vm, const struct rw_kview *kv, uint64_t t,
		    uint64_t func)
{
	if (!vm->b->prof.bpf_tramp_table)
		return -1;
	walk_bpf_tramps(vm, kv);
	for (size_t i = 0; i < vm->nbtramps; i++)
		if (vm->btramps[i].image == t && vm->btramps[i].func == func)
			return 1;
	return 0;
}

/* ---- handlers and the allowlist -------------------------------------------------- */

static int allowed_module(const struct rw_kview *kv, const char *name)
{
	for (size_t i = 0; kv->hook_allow && i < kv->nhook_allow; i++)
		if (kv->hook_allow[i] && !strcmp(kv->hook_allow[i], name))
			return 1;
	return 0;
}

void integ_handler(struct integ_site_ctx *sc, uint64_t h)
{
	const struct rw_integrity *vm = sc->vm;
	const struct rw_kprofile *p = &vm->b->prof;
	uint64_t link = h - vm->slide;
	char mod[RW_MOD_NAME_MAX];

	integ_where(vm, sc->kv, h, sc->handler, sizeof(sc->handler));
	if (link >= p->text_start && link < p->text_end) {
		snprintf(sc->owner, sizeof(sc->owner), "kernel");
		sc->denied = 0;
		return;
	}
	if (integ_in_module_area(vm->b, h) && sc->kv->owner &&
	    !sc->kv->owner(sc->kv->owner_ctx, h, mod, sizeof(mod))) {
		mod[sizeof(mod) - 1] = '\0';
		for (char *c = mod; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		snprintf(sc->owner, sizeof(sc->owner), "%s", mod);
		sc->denied = !allowed_module(sc->kv, mod);
		return;
	}
	snprintf(sc->owner, sizeof(sc->owner), "unknown");
	sc->denied = 1;
}

static void hook_finding(struct rw_finding *f, const struct integ_site_ctx *sc)
{
	snprintf(f->handler, sizeof(f->handler), "%s", sc->handler);
	snprintf(f->owner, sizeof(f->owner), "%s", sc->owner);
}

/* ---- accepted trampolines ------------------------------------------------------------ */

/* Offset of the ops call inside a trampoline copied from ftrace_caller or
 * ftrace_regs_caller (0 when it copies neither or the symbols are missing). */
static uint64_t tramp_call_off(struct rw_integrity *vm, const struct rw_kview *kv,
			       const struct integ_ops *o)
{
	const struct integ_build *b = vm->b;
	const uint64_t start[2] = { b->ftrace_caller, b->ftrace_regs_caller };
	const uint64_t call[2] = { b->ftrace_call, b->ftrace_regs_call };
	uint8_t code[8], ref[8];

	if (vmi_x86_read(kv->x, o->tramp, code, sizeof(code)))
		return 0;
	for (int i = 0; i < 2; i++) {
		if (!start[i] || !call[i] || call[i] <= start[i] ||
		    call[i] - start[i] + 5 > o->tramp_size || start[i] < b->r[0].start ||
		    start[i] + 8 > b->r[0].end ||
		    vmi_x86_read(kv->x, start[i] + vm->slide, ref, sizeof(ref)))
			continue;
		if (!memcmp(code, ref, sizeof(ref)))
			return call[i] - start[i];
	}
	return 0;
}

void integ_tramp_track(struct rw_integrity *vm, const struct rw_kview *kv,
		       const struct integ_ops *o)
{
	struct integ_tramp *t;

	for (size_t i = 0; i < vm->ntramps; i++)
		if (vm->tramps[i].ops == o->addr && vm->tramps[i].start == o->tramp &&
		    vm->tramps[i].size == o->tramp_size)
			return;
	if (!vm->tramps || vm->ntramps >= RW_HOOK_MAX_TRAMPS || !ops_has_tramp(vm, o))
		return;
	t = &vm->tramps[vm->ntramps];
	t->copy = malloc((size_t)o->tramp_size);
	if (!t->copy)
		return;
	if (vmi_x86_read(kv->x, o->tramp, t->copy, (size_t)o->tramp_size)) {
		free(t->copy);
		t->copy = NULL;
		return;
	}
	t->ops = o->addr;
	t->start = o->tramp;
	t->size = o->tramp_size;
	t->call_off = tramp_call_off(vm, kv, o);
	vm->ntramps++;
}

static int still_registered(const struct rw_integrity *vm, const struct integ_tramp *t)
{
	for (size_t i = 0; i < vm->nops; i++)
		if (vm->ops[i].addr == t->ops && vm->ops[i].tramp == t->start &&
		    vm->ops[i].tramp_size == t->size)
			return 1;
	return 0;
}

static void drop_tramp(struct rw_integrity *vm, size_t i)
{
	free(vm->tramps[i].copy);
	vm->tramps[i] = vm->tramps[--vm->ntramps];
}

/* Compare one tracked trampoline with its accepted copy and report what
 * changed: its ops call to an allowed handler is a hook (the copy follows),
 * anything else a violation (the copy stays, so it is reported every pass). */
static void recheck_tramp(struct rw_integrity *vm, const struct rw_kview *kv,
			  struct integ_tramp *t, uint8_t *cur, rw_finding_fn fn, void *ctx,
			  struct rw_pass_stats *st)
{
	struct integ_site_ctx sc = { .vm = vm, .kv = kv };
	size_t first = SIZE_MAX, last = 0, n = (size_t)t->size;
	struct rw_finding f;
	char where[160];

	if (vmi_x86_read(kv->x, t->start, cur, n)) {
		integ_finding(&f, RW_CHECK_KTEXT, RW_FINDING_VIOLATION, -1, t->start,
			      "ftrace trampoline of ops 0x%llx (%llu bytes) no longer readable",
			      (unsigned long long)t->ops, (unsigned long long)t->size);
		integ_where(vm, kv, t->start, f.where, sizeof(f.where));
		integ_report(fn, ctx, st, &f);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (cur[i] != t->copy[i]) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	if (first == SIZE_MAX)
		return;
	integ_where(vm, kv, t->start + first, where, sizeof(where));
	if (t->call_off && first >= t->call_off && last < t->call_off + 5) {
		const uint8_t *c = cur + t->call_off;
		int32_t rel;

		if (c[0] == 0xcc)
			return; /* text_poke_bp half-way: look again next pass */
		if (c[0] == 0xe8) {
			uint64_t site = t->start + t->call_off;

			memcpy(&rel, c + 1, 4);
			integ_handler(&sc, site + 5 + (uint64_t)(int64_t)rel);
			integ_finding(&f, RW_CHECK_KTEXT,
				      sc.denied ? RW_FINDING_VIOLATION : RW_FINDING_HOOK, -1, site,
				      "ftrace trampoline of ops 0x%llx now calls handler %s (%s)%s",
				      (unsigned long long)t->ops, sc.handler, sc.owner,
				      sc.denied ? ": not kernel text or an allowlisted module" : "");
			snprintf(f.where, sizeof(f.where), "%s", where);
			hook_finding(&f, &sc);
			f.nbytes = 5;
			memcpy(f.old_bytes, t->copy + t->call_off, 5);
			memcpy(f.new_bytes, c, 5);
			f.range_len = 5;
			integ_report(fn, ctx, st, &f);
			if (!sc.denied)
				memcpy(t->copy, cur, n);
			return;
		}
	}
	integ_finding(&f, RW_CHECK_KTEXT, RW_FINDING_VIOLATION, -1, t->start + first,
		      "ftrace trampoline of ops 0x%llx rewritten after it was accepted: %zu "
		      "byte(s) at +0x%zx",
		      (unsigned long long)t->ops, last - first + 1, first);
	snprintf(f.where, sizeof(f.where), "%s", where);
	f.nbytes = last - first + 1 < RW_FINDING_BYTES ? last - first + 1 : RW_FINDING_BYTES;
	memcpy(f.old_bytes, t->copy + first, f.nbytes);
	memcpy(f.new_bytes, cur + first, f.nbytes);
	f.range_len = last - first + 1;
	integ_report(fn, ctx, st, &f);
}

/* ---- per pass ------------------------------------------------------------------------ */

static void check_handler(struct rw_integrity *vm, const struct rw_kview *kv, uint64_t h,
			  uint64_t addr, const char *what, rw_finding_fn fn, void *ctx,
			  struct rw_pass_stats *st)
{
	struct integ_site_ctx sc = { .vm = vm, .kv = kv };
	struct rw_finding f;
	char where[160];

	if (!h)
		return;
	integ_handler(&sc, h);
	if (!sc.denied)
		return;
	integ_where(vm, kv, addr, where, sizeof(where));
	integ_finding(&f, RW_CHECK_KTEXT, RW_FINDING_VIOLATION, -1, addr,
		      "%s %s: handler %s owned by %s, not kernel text or an allowlisted module",
		      what, where, sc.handler, sc.owner);
	snprintf(f.where, sizeof(f.where), "%s", where);
	hook_finding(&f, &sc);
	integ_report(fn, ctx, st, &f);
}

void integ_hooks_check(struct rw_integrity *vm, const struct rw_kview *kv, rw_finding_fn fn,
		       void *ctx, struct rw_pass_stats *st)
{
	uint8_t *cur;
	struct rw_finding f;

	integ_walk_ops(vm, kv);
	integ_walk_kprobes(vm, kv);
	if (vm->ops_malformed) {
		integ_finding(&f, RW_CHECK_KTEXT, RW_FINDING_ERROR, -1,
			      vm->b->prof.ftrace_ops_list + vm->slide,
			      "ftrace_ops_list unreadable, looping or longer than %u ops: walked %zu",
			      RW_HOOK_MAX_FTRACE_OPS, vm->nops);
		integ_report(fn, ctx, st, &f);
	}
	for (size_t i = 0; i < vm->nops; i++)
		check_handler(vm, kv, vm->ops[i].func, vm->ops[i].addr, "ftrace ops at", fn, ctx,
			      st);
	for (size_t i = 0; i < vm->nkprobes; i++) {
		check_handler(vm, kv, vm->kprobes[i].pre, vm->kprobes[i].addr,
			      "kprobe (pre_handler) at", fn, ctx, st);
		check_handler(vm, kv, vm->kprobes[i].post, vm->kprobes[i].addr,
			      "kprobe (post_handler) at", fn, ctx, st);
	}
	if (!vm->ntramps || vm->ops_malformed)
		return;
	cur = malloc(RW_HOOK_MAX_TRAMP_SIZE);
	if (!cur)
		return;
	for (size_t i = 0; i < vm->ntramps;) {
		if (!still_registered(vm, &vm->tramps[i])) {
			drop_tramp(vm, i);
			continue;
		}
		recheck_tramp(vm, kv, &vm->tramps[i], cur, fn, ctx, st);
		i++;
	}
	free(cur);
}

size_t integ_hooks_private_bytes(const struct rw_integrity *vm)
{
	size_t t = (vm->btramps ? RW_HOOK_MAX_BPF_TRAMPS * sizeof(struct integ_btramp) : 0) +
		   INTEG_MAX_KPROBES * sizeof(struct integ_kprobe) +
		   RW_HOOK_MAX_FTRACE_OPS * sizeof(struct integ_ops) +
		   RW_HOOK_MAX_TRAMPS * sizeof(struct integ_tramp);

	for (size_t i = 0; i < vm->ntramps; i++)
		t += (size_t)vm->tramps[i].size;
	return t;
}

void integ_hooks_free(struct rw_integrity *vm)
{
	for (size_t i = 0; vm->tramps && i < vm->ntramps; i++)
		free(vm->tramps[i].copy);
	free(vm->tramps);
	free(vm->kprobes);
	free(vm->ops);
	free(vm->btramps);
	vm->btramps = NULL;
	vm->nbtramps = 0;
	vm->tramps = NULL;
	vm->kprobes = NULL;
	vm->ops = NULL;
	vm->ntramps = vm->nkprobes = vm->nops = 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The host integrity engine (host/integrity.h) as ringwatchd checks.
 *
 *   kernel   identifies the running kernel from guest RAM (vmi_linux_attach:
 *            build ID, banner, KASLR slide from independent anchors) against
 *            the VM's kernel image, takes the baseline at first sight and
 *            runs the engine's pass every time; re-identifies and
 *            re-baselines (with an event) when the guest rebooted.
 *   ktext, krodata, idt, cr, syscall, msr, modules
 *            report their part of that pass: they must follow "kernel" in
 *            the check table (they read its per-VM state).
 *
 * Per pass: vCPU state from QMP "info registers -a"; a reboot test (vCPU 0 in
 * long mode, and its own page tables map _stext where the kernel's page
 * tables do); the module list and kset walked from guest memory; then
 * rw_integrity_pass and rw_integrity_check_modules.
 *
 * Findings become: violations -> the check's result "alert" with the
 * findings (address, symbol+offset, old/new bytes) in the event the daemon
 * records; errors -> "error"; accepted hooks -> one info event per pass
 * listing the hook sites not reported before (each site once per baseline:
 * the function tracer alone patches ~34 000); info findings (module loaded /
 * unloaded, baseline notes) -> info events, bounded per pass.
 *
 * Sources named in every result: "host-memory" (ringwatchd's own read of
 * guest RAM), "qmp-info-registers" (control registers), and for MSRs the
 * provenance of the values ("kvm", "guest-report"); with none (QEMU/TCG
 * without the guest module) the msr result is "unknown" and says why.
 *
 * Bounded work on a hostile guest: the engine bounds every table, list and
 * length; the module walk is capped (VMI_LINUX_MAX_MODULES) and retried
 * once; a guest whose mapping keeps changing costs one identity scan
 * (bounded by VMI_LINUX_SCAN_MAX) per pass.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "host/check.h"
#include "host/integrity.h"
#include "host/kernels.h"
#include "shared/rw_proto.h"
#include "vmi/kbtf.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"
#include "vmi/mem.h"
#include "vmi/mtree.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

#define KI_MAX_VCPUS 512u
#define KI_MAX_RANGES 64
#define KI_HOOK_BITS 17u				/* 131072 slots, 1 MiB */
#define KI_HOOK_MAX ((1u << KI_HOOK_BITS) / 4 * 3)	/* load factor 3/4 */
#define KI_EVENT_SITES 32				/* hook sites listed per event */
#define KI_INFO_LISTED 32				/* info findings listed per event */
#define KI_NCHECKS RW_CHECK_COUNT_
#define KI_SOURCE_MEM "host-memory"

#define CR0_PG (1ull << 31)
#define EFER_LMA (1ull << 10)
#define MODULE_STATE_LIVE 0

/* What the pass found for one engine check; handed to that check's result. */
struct ki_outcome {
	enum rw_result result;
	bool unavailable;
	char source[RW_CHECK_SOURCE_MAX];
	char summary[RW_CHECK_SUMMARY_MAX];
	json_t *findings;	/* violations and errors (owned until taken) */
	size_t violations, errors;
	char first[200];	/* the first violation/error, for the summary */
	json_t *hook_sites;	/* hooks new this pass (bounded list) */
	size_t new_hooks;
	json_t *infos;		/* info findings of this pass (bounded list) */
	size_t ninfos;
};

struct ki_identity {
	bool valid;
	char build_id[2 * VMI_LINUX_ID_MAX + 1];
	char banner[VMI_LINUX_BANNER_MAX];
	int64_t slide;
};

/* Offsets in struct module of the patch-site tables (BTF); 0 size = absent. */
enum { MT_JUMP, MT_NJUMP, MT_FTRACE, MT_NFTRACE, MT_SCALL, MT_NSCALL, MT_COUNT };

struct ki_modtabs {
	size_t off[MT_COUNT], size[MT_COUNT];
};

struct ki_state {
	struct vmi_mem *mem;
	const struct vmi_kcat *cat;
	struct vmi_linux *lx;
	struct rw_integrity *integ;
	struct vmi_vcpu *vcpus;
	size_t nvcpus, baseline_vcpus;
	struct vmi_x86 probe;		/* vCPU 0's own page tables (reboot test) */
	struct vmi_linux_layout layout;
	bool have_layout;
	char layout_err[256];
	struct ki_modtabs mt;
	struct vmi_linux_modules mods;	/* last walk: module names for addresses */
	struct ki_identity id, prev;	/* current attach, the one before */
	char drop_reason[300];
	bool mapping_changed;		/* dropped because vCPU 0's mapping disagreed */
	struct ki_outcome out[KI_NCHECKS];
	uint64_t *hooks;		/* open-addressing set of reported hook sites */
	size_t nhooks, hooks_unremembered;
	size_t nmodules;
	enum vmi_prov msr_prov, cr_prov;
	json_t *reports;		/* this pass's guest-channel state rows (or NULL) */
	char msr_why[240];		/* why guest MSR reports were not used */
	size_t msr_reported;		/* vCPUs whose MSRs a verified report gave */
	struct vmi_vcpu *report_vcpus;	/* scratch: QMP state + reported MSRs */
	const char *const *hook_allow;	/* this pass's hook allowlist (host's) */
	size_t nhook_allow;
};

/* ---- per-pass outcome helpers ----------------------------------------------- */

static void outcome_clear(struct ki_outcome *o)
{
	json_decref(o->findings);
	json_decref(o->hook_sites);
	json_decref(o->infos);
	memset(o, 0, sizeof(*o));
	o->result = RW_RESULT_UNKNOWN;
}

static void pass_reset(struct ki_state *st)
{
	for (int c = 0; c < KI_NCHECKS; c++)
		outcome_clear(&st->out[c]);
	st->msr_prov = VMI_PROV_NONE;
	st->msr_why[0] = '\0';
	st->msr_reported = 0;
}

static void outcome_set(struct ki_outcome *o, enum rw_result r, const char *source,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void outcome_set(struct ki_outcome *o, enum rw_result r, const char *source,
			const char *fmt, ...)
{
	va_list ap;

	o->result = r;
	snprintf(o->source, sizeof(o->source), "%s", source);
	va_start(ap, fmt);
	vsnprintf(o->summary, sizeof(o->summary), fmt, ap);
	va_end(ap);
}

/* Every engine check gets the same verdict (the pass could not run). */
static void outcome_all(struct ki_state *st, enum rw_result r, const char *source,
			const char *why)
{
	for (int c = 0; c < KI_NCHECKS; c++)
		outcome_set(&st->out[c], r, source, "%s", why);
}

static void hex_bytes(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && k + 3 <= outlen; i++, k += 2)
		snprintf(out + k, outlen - k, "%02x", b[i]);
}

static json_t *finding_json(const struct rw_finding *f)
{
	char addr[24], old[2 * RW_FINDING_BYTES + 1], new[2 * RW_FINDING_BYTES + 1];
	json_t *o;

	snprintf(addr, sizeof(addr), "0x%" PRIx64, f->addr);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "check", rw_integ_check_name(f->check), "severity",
		      rw_integ_sev_name(f->sev), "address", addr, "symbol", f->where, "detail",
		      f->detail);
	if (!o)
		return NULL;
	if (f->vcpu >= 0)
		json_object_set_new(o, "vcpu", json_integer(f->vcpu));
	if (f->nbytes) {
		size_t n = f->nbytes < RW_FINDING_BYTES ? f->nbytes : RW_FINDING_BYTES;

		hex_bytes(f->old_bytes, n, old, sizeof(old));
		hex_bytes(f->new_bytes, n, new, sizeof(new));
		json_object_set_new(o, "old_bytes", json_string(old));
		json_object_set_new(o, "new_bytes", json_string(new));
	}
	if (f->range_len)
		json_object_set_new(o, "length", json_integer((json_int_t)f->range_len));
	if (f->handler[0])
		json_object_set_new(o, "handler", json_string(f->handler));
	if (f->owner[0])
		json_object_set_new(o, "owner", json_string(f->owner));
	return o;
}

static void append_bounded(json_t **arr, json_t *item, size_t max)
{
	if (!item)
		return;
	if (!*arr)
		*arr = json_array();
	if (!*arr || json_array_size(*arr) >= max) {
		json_decref(item);
		return;
	}
	json_array_append_new(*arr, item);
}

/* True when the hook site was not reported since the baseline (and remembers it). */
static bool hook_is_new(struct ki_state *st, const struct rw_finding *f)
{
	const uint64_t mask = (1u << KI_HOOK_BITS) - 1;
	struct {
		uint64_t addr;
		uint32_t check, n;
		uint8_t bytes[RW_FINDING_BYTES];
	} k;
	uint64_t key;
	size_t i;

	memset(&k, 0, sizeof(k));
	k.addr = f->addr;
	k.check = (uint32_t)f->check;
	k.n = (uint32_t)(f->nbytes < RW_FINDING_BYTES ? f->nbytes : RW_FINDING_BYTES);
	memcpy(k.bytes, f->new_bytes, k.n);
	key = XXH3_64bits(&k, sizeof(k));
	if (!key)
		key = 1;
	if (!st->hooks && !(st->hooks = calloc(mask + 1, sizeof(*st->hooks)))) {
		st->hooks_unremembered++;
		return true;
	}
	for (i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - KI_HOOK_BITS));; i = (i + 1) & mask) {
		if (st->hooks[i] == key)
			return false;
		if (!st->hooks[i])
			break;
	}
	if (st->nhooks >= KI_HOOK_MAX) {
		st->hooks_unremembered++;
		return true;
	}
	st->hooks[i] = key;
	st->nhooks++;
	return true;
}

static void hooks_forget(struct ki_state *st)
{
	free(st->hooks);
	st->hooks = NULL;
	st->nhooks = st->hooks_unremembered = 0;
}

/* rw_finding_fn: sort the engine's findings into outcomes and events. */
static void collect(void *ctx, const struct rw_finding *f)
{
	struct ki_state *st = ctx;
	struct ki_outcome *o;

	if ((unsigned)f->check >= KI_NCHECKS)
		return;
	o = &st->out[f->check];
	switch (f->sev) {
	case RW_FINDING_VIOLATION:
	case RW_FINDING_ERROR:
		if (f->sev == RW_FINDING_VIOLATION)
			o->violations++;
		else
			o->errors++;
		if (!o->first[0] || (f->sev == RW_FINDING_VIOLATION && o->violations == 1))
			snprintf(o->first, sizeof(o->first), "%.60s%s%.130s", f->where,
				 f->where[0] ? ": " : "", f->detail);
		append_bounded(&o->findings, finding_json(f), RW_CHECK_MAX_FINDINGS);
		break;
	case RW_FINDING_HOOK:
		if (!hook_is_new(st, f))
			break;
		o->new_hooks++;
		append_bounded(&o->hook_sites, finding_json(f), KI_EVENT_SITES);
		break;
	case RW_FINDING_INFO:
		if (f->check == RW_CHECK_MSR)
			break;	/* said by the msr result itself, every pass */
		if (o->ninfos++ < KI_INFO_LISTED)
			append_bounded(&o->infos, finding_json(f), KI_INFO_LISTED);
		break;
	}
}

/* ---- guest access --------------------------------------------------------------- */

static int open_mem(struct rw_check_ctx *ctx, struct rw_qmp *qmp, struct ki_state *st, char *err,
		    size_t errlen)
{
	struct vmi_mtree_range ranges[KI_MAX_RANGES];
	struct vmi_ram_region regions[KI_MAX_RANGES];
	char why[512];
	size_t n = 0;
	int fd, rc;
	char *text = rw_qmp_hmp(qmp, "info mtree -f", ctx->qmp_timeout_ms, why, sizeof(why));

	if (!text) {
		snprintf(err, errlen, "QMP info mtree -f: %s", why);
		return -1;
	}
	rc = vmi_mtree_parse_ram(text, strlen(text), NULL, ranges, KI_MAX_RANGES, &n, why,
				 sizeof(why));
	free(text);
	if (rc) {
		snprintf(err, errlen, "info mtree -f: %s", why);
		return -1;
	}
	fd = ctx->vm->mem_fd;
	if (fd < 0 && (fd = open(ctx->vm->mem_path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "guest RAM %s: %m", ctx->vm->mem_path);
		return -1;
	}
	vmi_mtree_to_ram_regions(ranges, n, fd, regions);
	rc = vmi_mem_open_ram(regions, n, &st->mem, why, sizeof(why));
	if (fd != ctx->vm->mem_fd)
		close(fd);
	if (rc) {
		snprintf(err, errlen, "guest RAM: %s", why);
		return -1;
	}
	return 0;
}

static int read_vcpus(struct rw_check_ctx *ctx, struct rw_qmp *qmp, struct ki_state *st,
		      char *err, size_t errlen)
{
	char why[512];
	char *text = rw_qmp_hmp(qmp, "info registers -a", ctx->qmp_timeout_ms, why, sizeof(why));
	int rc;

	if (!text) {
		snprintf(err, errlen, "QMP info registers -a: %s", why);
		return -1;
	}
	if (!st->vcpus && !(st->vcpus = calloc(KI_MAX_VCPUS, sizeof(*st->vcpus)))) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(st->vcpus, 0, KI_MAX_VCPUS * sizeof(*st->vcpus));
	rc = vmi_regs_hmp_parse(text, strlen(text), st->vcpus, KI_MAX_VCPUS, &st->nvcpus, why,
				sizeof(why));
	free(text);
	if (rc || !st->nvcpus) {
		snprintf(err, errlen, "info registers -a: %s (%s)", vmi_regs_strerror(rc), why);
		st->nvcpus = 0;
		return -1;
	}
	return 0;
}

static bool in_long_mode(const struct vmi_vcpu *c)
{
	return c->cr0.prov != VMI_PROV_NONE && c->efer.prov != VMI_PROV_NONE &&
	       (c->cr0.v & CR0_PG) && (c->efer.v & EFER_LMA);
}

/*
 * Reboot test: vCPU 0's own page tables must map _stext where the kernel's
 * page tables (the attach's walker) do.  After a reboot the old kernel's
 * tables may survive in RAM and still look fine; the vCPU's do not.
 */
static bool mapping_unchanged(struct ki_state *st, char *why, size_t whylen)
{
	const struct vmi_vcpu *c = &st->vcpus[0];
	struct vmi_x86 *kx = vmi_linux_x86(st->lx);
	struct vmi_x86_xlat k, v;
	uint64_t stext;

	if (vmi_linux_symbol(st->lx, "_stext", &stext)) {
		snprintf(why, whylen, "_stext not in the catalog");
		return false;
	}
	if (vmi_x86_walk(kx, stext, &k)) {
		snprintf(why, whylen, "the kernel page tables no longer map _stext 0x%" PRIx64,
			 stext);
		return false;
	}
	/* With PTI a vCPU caught in user mode runs on the user half (+4 KiB). */
	for (int attempt = 0; attempt < 2; attempt++) {
		uint64_t cr3 = attempt ? c->cr3.v & ~0x1000ull : c->cr3.v;

		if (attempt && cr3 == c->cr3.v)
			break;
		if (vmi_x86_init(&st->probe, st->mem, cr3, c->cr4.v, c->efer.v) ||
		    vmi_x86_walk(&st->probe, stext, &v))
			continue;
		if (v.pa == k.pa)
			return true;
		snprintf(why, whylen,
			 "vCPU 0 maps _stext 0x%" PRIx64 " at guest-physical 0x%" PRIx64
			 ", the kernel page tables at 0x%" PRIx64,
			 stext, v.pa, k.pa);
		return false;
	}
	snprintf(why, whylen, "vCPU 0's page tables (CR3 0x%" PRIx64 ") do not map _stext 0x%" PRIx64,
		 c->cr3.v, stext);
	return false;
}

/* ---- attach / detach -------------------------------------------------------------- */

static void drop_attach(struct ki_state *st, const char *why)
{
	rw_integrity_free(st->integ);
	st->integ = NULL;
	vmi_linux_detach(st->lx);
	st->lx = NULL;
	vmi_linux_modules_free(&st->mods);
	if (st->id.valid)
		st->prev = st->id;
	st->id.valid = false;
	snprintf(st->drop_reason, sizeof(st->drop_reason), "%s", why);
	hooks_forget(st);
}

static void module_tables(struct ki_state *st, const struct vmi_kbtf *btf)
{
	static const char *const path[MT_COUNT] = {
		"module.jump_entries",	   "module.num_jump_entries",
		"module.ftrace_callsites", "module.num_ftrace_callsites",
		"module.static_call_sites", "module.num_static_call_sites",
	};

	memset(&st->mt, 0, sizeof(st->mt));
	for (int i = 0; i < MT_COUNT; i++) {
		struct vmi_kbtf_member m;
		size_t want = i % 2 ? 4 : 8;	/* pointer, then unsigned int count */

		if (btf && !vmi_kbtf_member(btf, path[i], &m) && m.size == want) {
			st->mt.off[i] = m.offset;
			st->mt.size[i] = m.size;
		}
	}
}

static json_t *identity_json(const struct ki_identity *id)
{
	char slide[24];

	snprintf(slide, sizeof(slide), "0x%" PRIx64, (uint64_t)id->slide);
	return json_pack("{s:s,s:s,s:s}", "build_id", id->build_id, "banner", id->banner, "slide",
			 slide);
}

static bool same_identity(const struct ki_identity *a, const struct ki_identity *b)
{
	return a->valid && b->valid && a->slide == b->slide && !strcmp(a->build_id, b->build_id) &&
	       !strcmp(a->banner, b->banner);
}

/* The event that says what was (re-)identified and why. */
static void identity_event(struct rw_check_ctx *ctx, struct ki_state *st,
			   const struct vmi_linux_info *info)
{
	enum rw_check_level level = RW_LEVEL_INFO;
	const char *what = "kernel identified, baseline taken";
	json_t *d;

	if (st->prev.valid && !same_identity(&st->prev, &st->id)) {
		level = RW_LEVEL_WARNING;
		what = "kernel changed (reboot): re-identified and re-baselined";
	} else if (st->prev.valid && st->mapping_changed) {
		level = RW_LEVEL_ALERT;
		what = "vCPU 0's page tables stopped mapping kernel text where the kernel's own "
		       "do, with the same kernel and slide: re-baselined";
	} else if (st->prev.valid) {
		what = "same kernel re-identified and re-baselined";
	}
	d = json_pack("{s:s,s:o,s:i,s:i}", "note", what, "kernel", identity_json(&st->id),
		      "anchors_agreeing", (int)info->nagree, "vcpus", (int)st->nvcpus);
	if (d && st->prev.valid) {
		json_object_set_new(d, "previous", identity_json(&st->prev));
		json_object_set_new(d, "reason", json_string(st->drop_reason));
	}
	rw_check_event(ctx, "kernel", KI_SOURCE_MEM, level, d);
	json_decref(d);
}

static int owner_of(void *ctx, uint64_t addr, char *name, size_t len)
{
	const struct ki_state *st = ctx;

	for (size_t i = 0; i < st->mods.n; i++) {
		const struct vmi_linux_module *m = &st->mods.v[i];

		if (m->core_base && addr >= m->core_base && addr - m->core_base < m->core_size) {
			snprintf(name, len, "%s", m->name);
			return 0;
		}
	}
	return -1;
}

static struct rw_kview kview(struct ki_state *st)
{
	return (struct rw_kview){
		.cat = st->cat, .x = vmi_linux_x86(st->lx),
		.slide = (uint64_t)vmi_linux_info(st->lx)->slide, .vcpus = st->vcpus,
		.nvcpus = st->nvcpus < st->baseline_vcpus ? st->nvcpus : st->baseline_vcpus,
		.guest_reporter_verified = false, .owner = owner_of, .owner_ctx = st,
		.hook_allow = st->hook_allow, .nhook_allow = st->nhook_allow,
	};
}

/*
 * A kernel caught while still booting (right after a reset or reboot) is not
 * baselined: its alternatives, init text, module kset and read-only marking
 * are not final yet, and a baseline taken then turns the rest of the boot
 * into violations.  system_state reaches SYSTEM_RUNNING in kernel_init after
 * mark_readonly(); the enumerator's value comes from the image's BTF.  True
 * when booted, or when this kernel cannot tell (no symbol or no BTF enum).
 * A guest that keeps system_state low only keeps its checks "unknown".
 */
static bool kernel_booted(struct ki_state *st, char *why, size_t whylen)
{
	int64_t running;
	uint64_t va;
	uint32_t state;

	if (vmi_kbtf_enum_value(vmi_kcat_btf(st->cat), "system_states", "SYSTEM_RUNNING",
				&running) || vmi_linux_symbol(st->lx, "system_state", &va))
		return true;
	if (vmi_x86_read(vmi_linux_x86(st->lx), va, &state, sizeof(state))) {
		snprintf(why, whylen, "kernel not booted yet: system_state 0x%" PRIx64
			 " unreadable", va);
		return false;
	}
	if ((int64_t)state >= running)
		return true;
	snprintf(why, whylen, "kernel still booting (system_state %u, running is %" PRId64
		 "): baseline once it runs", state, running);
	return false;
}

/*
 * Identify the kernel and take the baseline.  Returns 0 attached; otherwise
 * sets the outcomes and @res and returns -1.
 */
static int attach(struct rw_check_ctx *ctx, struct ki_state *st, struct rw_check_result *res)
{
	struct vmi_linux_info info;
	struct rw_kview kv;
	char err[1024];
	int rc;

	if (rw_kernels_get(ctx->host->kernels, ctx->vm->kernel_path, &st->cat, err, sizeof(err))) {
		rw_check_set(res, RW_RESULT_ERROR, KI_SOURCE_MEM, "%s", err);
		outcome_all(st, RW_RESULT_ERROR, KI_SOURCE_MEM, res->summary);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	rc = vmi_linux_attach(st->mem, st->vcpus, st->nvcpus, st->cat, &st->lx, &info, err,
			      sizeof(err));
	if (rc) {
		st->lx = NULL;
		if (rc == VMI_LINUX_E_MISMATCH)
			rw_check_set(res, RW_RESULT_ALERT, KI_SOURCE_MEM,
				     "the running kernel is not the VM's kernel image: %s", err);
		else
			rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM,
				     "kernel not identified yet (booting?): %s", err);
		outcome_all(st, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, "kernel not identified");
		return -1;
	}
	if (!kernel_booted(st, err, sizeof(err))) {
		vmi_linux_detach(st->lx);
		st->lx = NULL;
		rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, "%s", err);
		outcome_all(st, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, "kernel still booting");
		return -1;
	}
	st->have_layout = !vmi_linux_layout_from_btf(vmi_kcat_btf(st->cat), &st->layout,
						     st->layout_err, sizeof(st->layout_err));
	module_tables(st, vmi_kcat_btf(st->cat));
	st->baseline_vcpus = st->nvcpus;
	kv = kview(st);
	rc = rw_integrity_baseline(rw_kernels_integrity_cache(ctx->host->kernels), &kv, collect, st,
				   &st->integ, err, sizeof(err));
	if (rc) {
		vmi_linux_detach(st->lx);
		st->lx = NULL;
		rw_check_set(res, RW_RESULT_ERROR, KI_SOURCE_MEM, "baseline: %s (%s)",
			     rw_integ_strerror(rc), err);
		outcome_all(st, RW_RESULT_ERROR, KI_SOURCE_MEM, res->summary);
		return -1;
	}
	st->id.valid = true;
	snprintf(st->id.build_id, sizeof(st->id.build_id), "%s", vmi_kcat_build_id_hex(st->cat));
	snprintf(st->id.banner, sizeof(st->id.banner), "%s", info.ident.banner);
	st->id.slide = info.slide;
	identity_event(ctx, st, &info);
	st->mapping_changed = false;
	return 0;
}

/* ---- modules ------------------------------------------------------------------------ */

static uint64_t read_field(struct vmi_x86 *x, uint64_t base, size_t off, size_t size)
{
	uint64_t v = 0;

	if (!size || vmi_x86_read(x, base + off, &v, size))
		return 0;
	return v;
}

static void to_kmodule(struct ki_state *st, const struct vmi_linux_module *m,
		       struct rw_kmodule *k)
{
	struct vmi_x86 *x = vmi_linux_x86(st->lx);
	const struct ki_modtabs *t = &st->mt;

	memset(k, 0, sizeof(*k));
	k->addr = m->addr;
	snprintf(k->name, sizeof(k->name), "%.*s", (int)sizeof(k->name) - 1, m->name);
	k->text = m->core_base;
	k->text_size = m->text_size;
	k->jump_entries = read_field(x, m->addr, t->off[MT_JUMP], t->size[MT_JUMP]);
	k->num_jump_entries = (unsigned)read_field(x, m->addr, t->off[MT_NJUMP], t->size[MT_NJUMP]);
	k->ftrace_callsites = read_field(x, m->addr, t->off[MT_FTRACE], t->size[MT_FTRACE]);
	k->num_ftrace_callsites =
		(unsigned)read_field(x, m->addr, t->off[MT_NFTRACE], t->size[MT_NFTRACE]);
	k->static_call_sites = read_field(x, m->addr, t->off[MT_SCALL], t->size[MT_SCALL]);
	k->num_static_call_sites =
		(unsigned)read_field(x, m->addr, t->off[MT_NSCALL], t->size[MT_NSCALL]);
}

/* Walk the list and the kset (retried once: the guest runs while we read). */
static int walk_modules(struct ki_state *st, char *err, size_t errlen)
{
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		vmi_linux_modules_free(&st->mods);
		rc = vmi_linux_modules(st->lx, &st->mods, err, errlen);
		if (!rc)
			return 0;
	}
	vmi_linux_modules_free(&st->mods);
	return rc;
}

/*
 * Only LIVE modules are compared: a module being loaded or unloaded is on one
 * of list/kset and not the other for a moment, and its text is still being
 * written (relocations, alternatives, ftrace sites) until it goes live.
 */
static void check_modules(struct ki_state *st, struct rw_kview *kv)
{
	struct ki_outcome *o = &st->out[RW_CHECK_MODULES];
	struct rw_kmodule *list = NULL, *kset = NULL;
	size_t nlist = 0, nkset = 0;
	char err[512];
	int rc;

	if (!st->have_layout) {
		o->errors++;
		snprintf(o->first, sizeof(o->first), "module layout from BTF: %.150s", st->layout_err);
		return;
	}
	if (st->mods.n) {
		list = calloc(st->mods.n, sizeof(*list));
		kset = calloc(st->mods.n, sizeof(*kset));
		if (!list || !kset) {
			o->errors++;
			snprintf(o->first, sizeof(o->first), "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < st->mods.n; i++) {
		const struct vmi_linux_module *m = &st->mods.v[i];

		if (m->state != MODULE_STATE_LIVE || m->unreadable)
			continue;
		if (m->on_list)
			to_kmodule(st, m, &list[nlist++]);
		if (m->in_kset)
			to_kmodule(st, m, &kset[nkset++]);
	}
	st->nmodules = nlist;
	rc = rw_integrity_check_modules(st->integ, kv, list, nlist, kset, nkset, collect, st,
					NULL);
	if (rc) {
		o->errors++;
		snprintf(err, sizeof(err), "module check: %s", rw_integ_strerror(rc));
		snprintf(o->first, sizeof(o->first), "%.190s", err);
	}
out:
	free(list);
	free(kset);
}

/* ---- verdicts and events -------------------------------------------------------------- */

static const char *prov_source(enum vmi_prov p)
{
	switch (p) {
	case VMI_PROV_KVM_IOCTL: return "kvm";
	case VMI_PROV_GUEST_REPORT: return "guest-report";
	case VMI_PROV_QMP_INFO_REGISTERS: return "qmp-info-registers";
	case VMI_PROV_NONE: break;
	}
	return "none";
}

static void ok_summary(struct ki_state *st, int c)
{
	struct ki_outcome *o = &st->out[c];
	size_t n = st->nvcpus < st->baseline_vcpus ? st->nvcpus : st->baseline_vcpus;

	switch (c) {
	case RW_CHECK_KTEXT:
		outcome_set(o, RW_RESULT_OK, KI_SOURCE_MEM,
			    "kernel text as at baseline or patched at its own patch sites "
			    "(hook sites seen: %zu)", st->nhooks + st->hooks_unremembered);
		break;
	case RW_CHECK_KRODATA:
		outcome_set(o, RW_RESULT_OK, KI_SOURCE_MEM, "read-only data as at baseline");
		break;
	case RW_CHECK_IDT:
		outcome_set(o, RW_RESULT_OK, KI_SOURCE_MEM,
			    "%zu vCPUs: IDTR and every gate as at baseline", n);
		break;
	case RW_CHECK_CR:
		outcome_set(o, RW_RESULT_OK, prov_source(st->cr_prov),
			    "%zu vCPUs: CR0.WP, CR4.SMEP/SMAP/UMIP (as at baseline), EFER.NXE set", n);
		break;
	case RW_CHECK_SYSCALL:
		outcome_set(o, RW_RESULT_OK, KI_SOURCE_MEM,
			    "sys_call_table as at baseline (x64_sys_call in the text hash)");
		break;
	case RW_CHECK_MSR:
		if (st->msr_prov == VMI_PROV_NONE) {
			outcome_set(o, RW_RESULT_UNKNOWN, "none",
				    "no MSR source: QMP has no syscall MSRs, ringwatchd holds no "
				    "KVM vCPU fd, and no verified guest module reports: %s",
				    st->msr_why[0] ? st->msr_why : "not tried");
			o->unavailable = true;
		} else if (st->msr_prov == VMI_PROV_GUEST_REPORT) {
			outcome_set(o, RW_RESULT_OK, prov_source(st->msr_prov),
				    "%zu of %zu vCPUs reported by the verified guest module: "
				    "LSTAR/CSTAR/SYSENTER_EIP at their entry points, "
				    "STAR/SFMASK/SYSENTER_CS unchanged", st->msr_reported, n);
		} else {
			outcome_set(o, RW_RESULT_OK, prov_source(st->msr_prov),
				    "%zu vCPUs: LSTAR/CSTAR/SYSENTER_EIP at their entry points, "
				    "STAR/SFMASK/SYSENTER_CS unchanged", n);
		}
		break;
	case RW_CHECK_MODULES:
		outcome_set(o, RW_RESULT_OK, KI_SOURCE_MEM,
			    "%zu live modules on both the module list and the kset, text intact",
			    st->nmodules);
		break;
	}
}

static void finish_outcomes(struct ki_state *st)
{
	for (int c = 0; c < KI_NCHECKS; c++) {
		struct ki_outcome *o = &st->out[c];
		const char *src = c == RW_CHECK_CR ? prov_source(st->cr_prov) :
				  c == RW_CHECK_MSR ? prov_source(st->msr_prov) : KI_SOURCE_MEM;

		if (o->violations)
			outcome_set(o, RW_RESULT_ALERT, src, "%zu violation%s: %s", o->violations,
				    o->violations == 1 ? "" : "s", o->first);
		else if (o->errors)
			outcome_set(o, RW_RESULT_ERROR, src, "%zu error%s: %s", o->errors,
				    o->errors == 1 ? "" : "s", o->first);
		else
			ok_summary(st, c);
	}
}

/* Per check and pass at most two events: hooks new this pass, info findings. */
static void emit_events(struct rw_check_ctx *ctx, struct ki_state *st)
{
	for (int c = 0; c < KI_NCHECKS; c++) {
		struct ki_outcome *o = &st->out[c];
		const char *check = rw_integ_check_name((enum rw_integ_check)c);
		json_t *d;

		if (o->new_hooks) {
			d = json_pack("{s:s,s:I,s:o}", "note",
				      "accepted patches that redirect code (each site reported once "
				      "per baseline)",
				      "new_hook_sites", (json_int_t)o->new_hooks, "sites",
				      o->hook_sites ? json_incref(o->hook_sites) : json_array());
			rw_check_event(ctx, check, KI_SOURCE_MEM, RW_LEVEL_INFO, d);
			json_decref(d);
		}
		if (o->ninfos) {
			d = json_pack("{s:I,s:o}", "count", (json_int_t)o->ninfos, "findings",
				      o->infos ? json_incref(o->infos) : json_array());
			rw_check_event(ctx, check, KI_SOURCE_MEM, RW_LEVEL_INFO, d);
			json_decref(d);
		}
	}
}

/* Forget this pass's violations and errors (a confirmation pass re-finds them). */
static void verdicts_reset(struct ki_state *st)
{
	for (int c = 0; c < KI_NCHECKS; c++) {
		struct ki_outcome *o = &st->out[c];

		json_decref(o->findings);
		o->findings = NULL;
		o->violations = o->errors = 0;
		o->first[0] = '\0';
	}
}

static size_t violations(const struct ki_state *st)
{
	size_t n = 0;

	for (int c = 0; c < KI_NCHECKS; c++)
		n += st->out[c].violations;
	return n;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- MSRs from the guest module's reports ------------------------------------------- */

#define KI_GUEST_COMPONENT "kmod"

static bool json_u64(const json_t *o, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);
	const char *t;
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (!(t = json_string_value(v)) || strncmp(t, "0x", 2) || !t[2])
		return false;
	*out = strtoull(t + 2, &end, 16);
	return !*end;
}

/* The latest row of @kind from the guest module (NULL if none). */
static const json_t *module_row(const json_t *rows, const char *kind, const char *key)
{
	size_t i;
	const json_t *r;

	json_array_foreach(rows, i, r) {
		const char *comp = json_string_value(json_object_get(r, "component"));
		const char *k = json_string_value(json_object_get(r, "kind"));
		const char *kk = json_string_value(json_object_get(r, "key"));

		if (comp && k && kk && !strcmp(comp, KI_GUEST_COMPONENT) && !strcmp(k, kind) &&
		    (!key || !strcmp(kk, key)))
			return json_object_get(r, "detail");
	}
	return NULL;
}

/*
 * Does the host's own view vouch for the module that described itself?  It
 * must be a live module on both the list and the kset at the struct module
 * address it gave, with the same core base, core size and text size, and
 * its text must have matched the host's first-sight copy on every pass.
 * Returns the module address, or 0 with st->msr_why set.
 */
static uint64_t verified_reporter(struct ki_state *st, const json_t *self)
{
	uint64_t addr, base, core, text;
	const struct vmi_linux_module *m = NULL;

	if (!json_u64(self, "module_addr", &addr) || !json_u64(self, "core_base", &base) ||
	    !json_u64(self, "core_size", &core) || !json_u64(self, "text_size", &text)) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "the guest module's self-description is incomplete");
		return 0;
	}
	for (size_t i = 0; i < st->mods.n && !m; i++)
		if (st->mods.v[i].addr == addr)
			m = &st->mods.v[i];
	if (!m || m->state != MODULE_STATE_LIVE || !m->on_list || !m->in_kset) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "the guest module (struct module 0x%" PRIx64 ") is not a live module on "
			 "both the module list and the kset in the host's walk", addr);
		return 0;
	}
	if (m->core_base != base || m->core_size != core || m->text_size != text) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "the guest module %.56s describes its core as 0x%" PRIx64 "+0x%" PRIx64
			 " (text 0x%" PRIx64 "), the host's walk finds 0x%" PRIx64 "+0x%" PRIx64
			 " (text 0x%" PRIx64 ")", m->name, base, core, text, m->core_base,
			 m->core_size, m->text_size);
		return 0;
	}
	if (!rw_integrity_module_intact(st->integ, addr)) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "guest module %.56s text changed since load (see the modules check): its "
			 "reports are not trusted", m->name);
		return 0;
	}
	return addr;
}

/* One CPU_STATE row's MSRs into @c with provenance GUEST_REPORT. */
static bool report_msrs(const json_t *d, struct vmi_vcpu *c)
{
	const struct { const char *key; unsigned bit; struct vmi_val *dst; } f[] = {
		{ "lstar", RW_CPU_F_LSTAR, &c->lstar }, { "star", RW_CPU_F_STAR, &c->star },
		{ "cstar", RW_CPU_F_CSTAR, &c->cstar }, { "sfmask", RW_CPU_F_SFMASK, &c->sfmask },
		{ "sysenter_cs", RW_CPU_F_SYSENTER_CS, &c->sysenter_cs },
		{ "sysenter_esp", RW_CPU_F_SYSENTER_ESP, &c->sysenter_esp },
		{ "sysenter_eip", RW_CPU_F_SYSENTER_EIP, &c->sysenter_eip },
	};
	uint64_t mask, v;
	bool any = false;

	if (!json_u64(d, "valid_mask", &mask))
		return false;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!(mask & (1u << f[i].bit)) || !json_u64(d, f[i].key, &v))
			continue;
		f[i].dst->v = v;
		f[i].dst->prov = VMI_PROV_GUEST_REPORT;
		any = true;
	}
	return any;
}

/*
 * With no MSR source of the host's own: the guest module's latest per-CPU
 * reports, from the same module load that described itself, checked by the
 * engine as GUEST_REPORT values only while verified_reporter() holds.
 */
static void guest_report_msrs(struct ki_state *st, const struct rw_kview *kv)
{
	const json_t *self = module_row(st->reports, "module-self", "");
	const char *session;
	struct rw_pass_stats stats;
	struct rw_kview gkv = *kv;
	bool seen[KI_MAX_VCPUS] = { false };
	const json_t *row;
	size_t i;

	st->msr_reported = 0;
	st->msr_why[0] = '\0';
	if (!self) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "no self-description from the guest module (ringwatch.ko not loaded or "
			 "not connected)");
		return;
	}
	session = json_string_value(json_object_get(self, "session"));
	if (!verified_reporter(st, self))
		return;
	if (!st->report_vcpus && !(st->report_vcpus = calloc(KI_MAX_VCPUS, sizeof(*st->vcpus)))) {
		snprintf(st->msr_why, sizeof(st->msr_why), "out of memory");
		return;
	}
	memcpy(st->report_vcpus, kv->vcpus, kv->nvcpus * sizeof(*kv->vcpus));
	/* One walk over the rows (the guest chooses how many CPU numbers it
	 * reports); CPU number = vCPU index. */
	json_array_foreach(st->reports, i, row) {
		const json_t *d = json_object_get(row, "detail");
		const char *comp = json_string_value(json_object_get(row, "component"));
		const char *kind = json_string_value(json_object_get(row, "kind"));
		const char *key = json_string_value(json_object_get(row, "key"));
		const char *ds = json_string_value(json_object_get(d, "session"));
		char *end;
		unsigned long cpu;

		if (!comp || !kind || !key || !ds || strcmp(comp, KI_GUEST_COMPONENT) ||
		    strcmp(kind, "cpu-state") || !session || strcmp(ds, session))
			continue;	/* only reports of the module load just verified */
		cpu = strtoul(key, &end, 10);
		if (!key[0] || *end || cpu >= kv->nvcpus || seen[cpu])
			continue;
		seen[cpu] = true;
		st->msr_reported += report_msrs(d, &st->report_vcpus[cpu]);
	}
	if (!st->msr_reported) {
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "the verified guest module has sent no CPU state report since it "
			 "described itself");
		return;
	}
	gkv.vcpus = st->report_vcpus;
	gkv.guest_reporter_verified = true;
	memset(&stats, 0, sizeof(stats));
	if (rw_integrity_check_msrs(st->integ, &gkv, collect, st, &stats)) {
		snprintf(st->msr_why, sizeof(st->msr_why), "MSR check on guest reports failed");
		return;
	}
	st->msr_prov = stats.msr_prov;
}

/* One engine pass (modules included); 0, or -1 with the outcomes set to error. */
static int engine_pass(struct ki_state *st)
{
	struct rw_kview kv = kview(st);
	struct rw_pass_stats stats;
	char err[512];
	int rc;

	if (walk_modules(st, err, sizeof(err))) {
		/* Judged by the modules outcome; the other checks still run. */
		st->out[RW_CHECK_MODULES].errors++;
		snprintf(st->out[RW_CHECK_MODULES].first, sizeof(st->out[0].first),
			 "module walk: %.180s", err);
	}
	rc = rw_integrity_pass(st->integ, &kv, collect, st, &stats);
	if (rc) {
		snprintf(err, sizeof(err), "integrity pass: %s", rw_integ_strerror(rc));
		outcome_all(st, RW_RESULT_ERROR, KI_SOURCE_MEM, err);
		return -1;
	}
	st->msr_prov = stats.msr_prov;
	if (!st->out[RW_CHECK_MODULES].errors)
		check_modules(st, &kv);
	if (st->msr_prov == VMI_PROV_NONE && !st->out[RW_CHECK_MODULES].errors)
		guest_report_msrs(st, &kv);
	else if (st->msr_prov == VMI_PROV_NONE)
		snprintf(st->msr_why, sizeof(st->msr_why),
			 "the module walk failed: the guest module cannot be verified");
	return 0;
}

/*
 * A violation is confirmed by up to two more passes after a pause: the guest
 * runs while we read, and a legitimate patch caught half-way (text_poke_bp:
 * int3, tail, head, with IPIs between; slow on an emulated CPU) must not be
 * an alert.  Accepted patches update the baseline and violations do not, so
 * a real violation is simply found again.  At most three passes per round.
 */
static void run_engine(struct ki_state *st)
{
	static const unsigned confirm_ms[] = { 100, 400 };

	st->cr_prov = st->vcpus[0].cr0.prov;
	if (engine_pass(st))
		return;
	for (size_t i = 0; i < sizeof(confirm_ms) / sizeof(confirm_ms[0]) && violations(st); i++) {
		sleep_ms(confirm_ms[i]);
		verdicts_reset(st);
		if (engine_pass(st))
			return;
	}
	finish_outcomes(st);
}

/* ---- the "kernel" check ------------------------------------------------------------------ */

static void kernel_set_ok(struct ki_state *st, struct rw_check_result *res)
{
	const char *v = st->id.banner;

	if (!strncmp(v, "Linux version ", 14))
		v += 14;
	rw_check_set(res, RW_RESULT_OK, KI_SOURCE_MEM, "%.*s, build %.12s, slide 0x%" PRIx64 ", %zu vCPUs",
		     (int)strcspn(v, " "), v, st->id.build_id, (uint64_t)st->id.slide,
		     st->baseline_vcpus);
}

static int kernel_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	struct ki_state *st = ctx->state;
	struct rw_qmp *qmp;
	char err[1024], why[512];

	if (!st && !(st = ctx->state = calloc(1, sizeof(*st)))) {
		rw_check_set(res, RW_RESULT_ERROR, KI_SOURCE_MEM, "out of memory");
		return 0;
	}
	pass_reset(st);
	st->hook_allow = ctx->host ? ctx->host->hook_allow : NULL;
	st->nhook_allow = ctx->host ? ctx->host->nhook_allow : 0;
	if (!ctx->host || !ctx->host->kernels) {
		rw_check_set(res, RW_RESULT_ERROR, "ringwatchd", "no kernel catalog registry");
		outcome_all(st, RW_RESULT_ERROR, "ringwatchd", res->summary);
		return 0;
	}
	if (!ctx->vm->kernel_path || !ctx->vm->kernel_path[0]) {
		if (ctx->vm->kernel_why && ctx->vm->kernel_why[0])
			rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, "%s",
				     ctx->vm->kernel_why);
		else
			rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM,
				     "no kernel image known for this VM (ringwatch attach --kernel "
				     "IMAGE)");
		outcome_all(st, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, res->summary);
		return 0;
	}
	if (ctx->vm->mem_fd < 0 && (!ctx->vm->mem_path || !ctx->vm->mem_path[0])) {
		rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM,
			     "no guest RAM source for this VM (ringwatch attach --mem FILE)");
		outcome_all(st, RW_RESULT_UNKNOWN, KI_SOURCE_MEM, res->summary);
		return 0;
	}
	if (!(qmp = rw_check_qmp(ctx, why, sizeof(why)))) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "QMP not answering: %s", why);
		outcome_all(st, RW_RESULT_ERROR, "qmp", res->summary);
		return 0;
	}
	if ((!st->mem && open_mem(ctx, qmp, st, err, sizeof(err))) ||
	    read_vcpus(ctx, qmp, st, err, sizeof(err))) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "%s", err);
		outcome_all(st, RW_RESULT_ERROR, "qmp", res->summary);
		return 0;
	}
	if (!in_long_mode(&st->vcpus[0])) {
		if (st->lx)
			drop_attach(st, "vCPU 0 left long mode (reset or reboot)");
		rw_check_set(res, RW_RESULT_UNKNOWN, "qmp-info-registers",
			     "vCPU 0 not in long mode: guest booting or reset");
		outcome_all(st, RW_RESULT_UNKNOWN, "qmp-info-registers", res->summary);
		return 0;
	}
	if (st->lx && !mapping_unchanged(st, why, sizeof(why))) {
		drop_attach(st, why);
		st->mapping_changed = true;
	}
	if (!st->lx && attach(ctx, st, res))
		return 0;
	st->reports = ctx->host->channel_states ? ctx->host->channel_states(ctx->host->arg) : NULL;
	run_engine(st);
	json_decref(st->reports);
	st->reports = NULL;
	emit_events(ctx, st);
	kernel_set_ok(st, res);
	return 0;
}

static void kernel_free(void *p)
{
	struct ki_state *st = p;

	pass_reset(st);
	rw_integrity_free(st->integ);
	vmi_linux_detach(st->lx);
	vmi_linux_modules_free(&st->mods);
	vmi_mem_close(st->mem);
	free(st->vcpus);
	free(st->report_vcpus);
	free(st->hooks);
	free(st);
}

const struct rw_check_ops rw_check_kernel = {
	.name = "kernel",
	.description = "the running kernel is the VM's image (build ID, slide from three anchors); "
		       "runs the integrity engine's pass, re-baselines after a reboot",
	.run = kernel_run,
	.free_state = kernel_free,
};

/* ---- the engine's checks ------------------------------------------------------------------- */

static int report_outcome(struct rw_check_ctx *ctx, enum rw_integ_check c,
			  struct rw_check_result *res)
{
	struct ki_state *st = rw_check_peer_state(ctx, &rw_check_kernel);
	struct ki_outcome *o;

	if (!st) {
		rw_check_set(res, RW_RESULT_UNKNOWN, KI_SOURCE_MEM,
			     "the kernel check has not run on this VM");
		return 0;
	}
	o = &st->out[c];
	rw_check_set(res, o->result, o->source[0] ? o->source : KI_SOURCE_MEM, "%s", o->summary);
	res->unavailable = o->unavailable;
	res->findings = o->findings;	/* taken */
	o->findings = NULL;
	return 0;
}

#define ENGINE_CHECK(ident, cname, which, desc)                                     \
	static int ident##_run(struct rw_check_ctx *ctx, struct rw_check_result *res) \
	{                                                                              \
		return report_outcome(ctx, which, res);                                \
	}                                                                              \
	const struct rw_check_ops rw_check_##ident = {                                 \
		.name = cname, .description = desc, .run = ident##_run,                \
	}

ENGINE_CHECK(ktext, "ktext", RW_CHECK_KTEXT,
	     "_stext.._etext hashed per page; changes only at the image's own patch sites");
ENGINE_CHECK(krodata, "krodata", RW_CHECK_KRODATA,
	     "__start_rodata..__end_rodata hashed per page against the baseline");
ENGINE_CHECK(idt, "idt", RW_CHECK_IDT, "per vCPU: IDTR base/limit and every gate's target, type, DPL");
ENGINE_CHECK(cr, "cr", RW_CHECK_CR,
	     "per vCPU: CR0.WP, CR4.SMEP/SMAP/UMIP (where set at baseline), EFER.NXE stay set");
ENGINE_CHECK(syscall, "syscall", RW_CHECK_SYSCALL,
	     "sys_call_table entries unchanged (named by syscall and target symbol)");
ENGINE_CHECK(msr, "msr", RW_CHECK_MSR,
	     "LSTAR/STAR/CSTAR/SFMASK/SYSENTER_* per vCPU, with the source that vouched");
ENGINE_CHECK(modules, "modules", RW_CHECK_MODULES,
	     "module list and kset agree; each live module's text changes only at its patch sites");

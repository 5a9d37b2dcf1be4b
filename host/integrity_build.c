// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel build profile and the shared per-build cache: patch-site tables
 * decoded from the image, the KASLR relocation table, and the baseline bytes
 * of text/rodata stored once (un-relocated) for every VM of the build.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/integrity_int.h"

static int64_t rd_s32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t rd_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* ---- profile from a catalog ------------------------------------------------ */

static int need_sym(const struct vmi_kcat *cat, const char *name, uint64_t *addr, char *err,
		    size_t errlen)
{
	if (vmi_kcat_symbol(cat, name, addr))
		return integ_seterr(err, errlen, RW_INTEG_E_SYMBOL, "symbol %s not in the catalog",
				    name);
	return 0;
}

/* Table delimited by two symbols, with its image bytes. Absent start symbol
 * = no table (returns 0 with len 0) unless required. */
static int sym_table(const struct vmi_kcat *cat, const char *start, const char *stop,
		     int required, const uint8_t **bytes, uint64_t *addr, size_t *len, char *err,
		     size_t errlen)
{
	uint64_t a, b;

	*bytes = NULL;
	*len = 0;
	*addr = 0;
	if (vmi_kcat_symbol(cat, start, &a) || vmi_kcat_symbol(cat, stop, &b)) {
		if (required)
			return integ_seterr(err, errlen, RW_INTEG_E_SYMBOL,
					    "table symbols %s/%s not in the catalog", start, stop);
		return 0;
	}
	if (b < a || b - a > (64u << 20))
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE, "table %s..%s malformed", start,
				    stop);
	if (b == a)
		return 0;
	*bytes = vmi_kcat_bytes_at(cat, a, (size_t)(b - a));
	if (!*bytes)
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE,
				    "table %s..%s has no bytes in the image", start, stop);
	*addr = a;
	*len = (size_t)(b - a);
	return 0;
}

/* End of the ELF proper inside the image (headers, sections, program headers);
 * what follows is the KASLR relocation table. */
static size_t elf_end(const struct vmi_kcat *cat, const uint8_t *img, size_t len)
{
	Elf64_Ehdr eh;
	size_t end;

	if (len < sizeof(eh))
		return len;
	memcpy(&eh, img, sizeof(eh));
	end = sizeof(eh);
	if (eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize > end)
		end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
	if (eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize > end)
		end = eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize;
	for (size_t i = 0; i < vmi_kcat_section_count(cat); i++) {
		const struct vmi_ksection *s = vmi_kcat_section_at(cat, i);

		if (s && s->type != SHT_NOBITS && s->offset + s->size > end)
			end = s->offset + s->size;
	}
	return end > len ? len : end;
}

/* Entries of sys_call_table in the image: consecutive pointers to function
 * starts in kernel text, bounded by the next symbol. */
static unsigned count_syscalls(const struct vmi_kcat *cat, const struct rw_kprofile *p)
{
	const struct vmi_ksyms *s = p->syms;
	unsigned n = 0;

	for (; n < RW_KPROFILE_MAX_SYSCALLS; n++) {
		const uint8_t *e = vmi_kcat_bytes_at(cat, p->sys_call_table + 8ull * n, 8);
		const struct vmi_ksym *k;
		uint64_t v, off;

		if (!e)
			break;
		v = rd_u64(e);
		if (v < p->text_start || v >= p->text_end)
			break;
		k = vmi_ksyms_find(s, v, 0, &off);
		if (!k || off)
			break;
		if (n && vmi_ksyms_find(s, p->sys_call_table + 8ull * n, 0, &off) &&
		    !off)
			break; /* another symbol starts here */
	}
	return n;
}

int rw_kprofile_from_kcat(const struct vmi_kcat *cat, struct rw_kprofile *p, char *err,
			  size_t errlen)
{
	const struct vmi_kbtf *btf;
	const uint8_t *img;
	size_t imglen, end, off;
	int rc;

	if (!cat || !p)
		return integ_seterr(err, errlen, RW_INTEG_E_ARG, "NULL argument");
	memset(p, 0, sizeof(*p));
	snprintf(p->build_id, sizeof(p->build_id), "%s", vmi_kcat_build_id_hex(cat));
	p->syms = vmi_kcat_symbols(cat);
	if ((rc = need_sym(cat, "_stext", &p->text_start, err, errlen)) ||
	    (rc = need_sym(cat, "_etext", &p->text_end, err, errlen)) ||
	    (rc = need_sym(cat, "__start_rodata", &p->rodata_start, err, errlen)) ||
	    (rc = need_sym(cat, "__end_rodata", &p->rodata_end, err, errlen)) ||
	    (rc = need_sym(cat, "sys_call_table", &p->sys_call_table, err, errlen)))
		return rc;
	if ((rc = sym_table(cat, "__start___jump_table", "__stop___jump_table", 1, &p->jump_table,
			    &p->jump_table_addr, &p->jump_table_len, err, errlen)))
		return rc;
	{
		uint64_t a;

		if ((rc = sym_table(cat, "__start_mcount_loc", "__stop_mcount_loc", 1, &p->mcount,
				    &a, &p->mcount_len, err, errlen)))
			return rc;
	}
	if ((rc = sym_table(cat, "__start_static_call_sites", "__stop_static_call_sites", 1,
			    &p->static_calls, &p->static_calls_addr, &p->static_calls_len, err,
			    errlen)))
		return rc;
	if ((rc = sym_table(cat, "__smp_locks", "__smp_locks_end", 0, &p->smp_locks,
			    &p->smp_locks_addr, &p->smp_locks_len, err, errlen)))
		return rc;
	img = vmi_kcat_image(cat, &imglen);
	end = img ? elf_end(cat, img, imglen) : 0;
	if (img && end < imglen) {
		p->relocs = img + end;
		p->relocs_len = imglen - end;
	}
	btf = vmi_kcat_btf(cat);
	if (!vmi_kcat_symbol(cat, "kprobe_table", &p->kprobe_table) && btf &&
	    !vmi_kbtf_offset(btf, "kprobe.hlist", &p->kprobe_hlist_off) &&
	    !vmi_kbtf_offset(btf, "kprobe.addr", &off)) {
		p->kprobe_addr_off = off;
		p->kprobe_buckets = 64; /* KPROBE_TABLE_SIZE (1 << KPROBE_HASH_BITS) */
		if (vmi_kbtf_offset(btf, "kprobe.pre_handler", &p->kprobe_pre_off) ||
		    vmi_kbtf_offset(btf, "kprobe.post_handler", &p->kprobe_post_off))
			p->kprobe_pre_off = p->kprobe_post_off = 0;
		if (vmi_kbtf_offset(btf, "kprobe.list", &p->kprobe_list_off))
			p->kprobe_list_off = 0;
	} else {
		p->kprobe_table = 0;
	}
	if (btf && !vmi_kcat_symbol(cat, "ftrace_ops_list", &p->ftrace_ops_list) &&
	    !vmi_kcat_symbol(cat, "ftrace_list_end", &p->ftrace_list_end) &&
	    !vmi_kbtf_offset(btf, "ftrace_ops.func", &p->fops_func_off) &&
	    !vmi_kbtf_offset(btf, "ftrace_ops.next", &p->fops_next_off) &&
	    !vmi_kbtf_offset(btf, "ftrace_ops.trampoline", &p->fops_tramp_off) &&
	    !vmi_kbtf_offset(btf, "ftrace_ops.trampoline_size", &p->fops_tramp_size_off)) {
		/* walked from guest memory every pass (host/integrity_hooks.c) */
	} else {
		p->ftrace_ops_list = p->ftrace_list_end = 0;
	}
	if (btf && !vmi_kcat_symbol(cat, "trampoline_table", &p->bpf_tramp_table) &&
	    !vmi_kbtf_offset(btf, "bpf_trampoline.hlist", &p->btr_hlist_off) &&
	    !vmi_kbtf_offset(btf, "bpf_trampoline.func.addr", &p->btr_func_addr_off) &&
	    !vmi_kbtf_offset(btf, "bpf_trampoline.cur_image", &p->btr_cur_image_off) &&
	    !vmi_kbtf_offset(btf, "bpf_tramp_image.image", &p->bti_image_off)) {
		p->bpf_tramp_buckets = RW_KPROFILE_BPF_TRAMP_BUCKETS;
	} else {
		p->bpf_tramp_table = 0;
	}
	p->nr_syscalls = count_syscalls(cat, p);
	if (!p->nr_syscalls)
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE,
				    "sys_call_table in the image holds no function pointers");
	p->module_start = RW_KPROFILE_MODULE_START;
	p->module_end = RW_KPROFILE_MODULE_END;
	return 0;
}

/* ---- decoding ----------------------------------------------------------------- */

static int in_text(const struct rw_kprofile *p, uint64_t a, unsigned len)
{
	return a >= p->text_start && a < p->text_end && p->text_end - a >= len;
}

static int site_push(struct integ_build *b, size_t *cap, uint64_t addr, uint64_t target,
		     uint8_t kind, uint8_t len, uint8_t tail)
{
	if (b->nsites == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct integ_site *n = realloc(b->sites, ncap * sizeof(*n));

		if (!n)
			return RW_INTEG_E_NOMEM;
		b->sites = n;
		*cap = ncap;
	}
	b->sites[b->nsites++] = (struct integ_site){ addr, target, kind, len, tail };
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	const struct integ_site *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int decode_sites(struct integ_build *b, char *err, size_t errlen)
{
	const struct rw_kprofile *p = &b->prof;
	size_t cap = 0;
	int rc;

	if (p->jump_table_len % 16 || p->static_calls_len % 8 || p->mcount_len % 8 ||
	    p->smp_locks_len % 4)
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE,
				    "patch-site table length not a multiple of its entry size");
	for (size_t i = 0; i < p->jump_table_len; i += 16) {
		uint64_t e = p->jump_table_addr + i;
		uint64_t code = e + (uint64_t)rd_s32(p->jump_table + i);
		uint64_t target = e + 4 + (uint64_t)rd_s32(p->jump_table + i + 4);

		if (in_text(p, code, 2) && (rc = site_push(b, &cap, code, target, SITE_JUMP, 5, 0)))
			return rc;
	}
	for (size_t i = 0; i < p->mcount_len; i += 8) {
		uint64_t a = rd_u64(p->mcount + i);

		if (in_text(p, a, 5) && (rc = site_push(b, &cap, a, 0, SITE_FTRACE, 5, 0)))
			return rc;
	}
	for (size_t i = 0; i < p->static_calls_len; i += 8) {
		uint64_t e = p->static_calls_addr + i;
		uint64_t a = e + (uint64_t)rd_s32(p->static_calls + i);
		uint64_t key = e + 4 + (uint64_t)rd_s32(p->static_calls + i + 4);

		if (in_text(p, a, 5) &&
		    (rc = site_push(b, &cap, a, 0, SITE_SCALL, 5, (uint8_t)(key & 1))))
			return rc;
	}
	for (size_t i = 0; i < p->smp_locks_len; i += 4) {
		uint64_t a = p->smp_locks_addr + i + (uint64_t)rd_s32(p->smp_locks + i);

		if (in_text(p, a, 1) && (rc = site_push(b, &cap, a, 0, SITE_SMP_LOCK, 1, 0)))
			return rc;
	}
	for (size_t i = 0; p->syms && i < vmi_ksyms_count(p->syms); i++) {
		const struct vmi_ksym *k = vmi_ksyms_at(p->syms, i);
		uint8_t kind;

		if (!strncmp(k->name, "__SCT__", 7))
			kind = SITE_SCT;
		else if (!strcmp(k->name, "ftrace_call") || !strcmp(k->name, "ftrace_regs_call"))
			kind = SITE_FTRACE_OPS;
		else
			continue;
		if (in_text(p, k->addr, 5) && (rc = site_push(b, &cap, k->addr, 0, kind, 5, 0)))
			return rc;
	}
	if (b->nsites)
		qsort(b->sites, b->nsites, sizeof(*b->sites), cmp_site);
	return 0;
}

static int reloc_keep(const struct rw_kprofile *p, uint64_t va, unsigned size)
{
	return (va >= p->text_start && va < p->text_end && p->text_end - va >= size) ||
	       (va >= p->rodata_start && va < p->rodata_end && p->rodata_end - va >= size);
}

/*
 * The x86 KASLR relocation table, read backwards from the end of the image:
 * 32-bit relocations up to a 0, inverse 32-bit up to a 0, 64-bit up to a 0.
 * Each entry is a link address truncated to 32 bits (sign-extend it).
 * Only entries inside text/rodata are kept.
 */
static int decode_relocs(struct integ_build *b, char *err, size_t errlen)
{
	const struct rw_kprofile *p = &b->prof;
	size_t n = p->relocs_len / 4, pos = n;
	static const unsigned size[3] = { 4, 4, 8 };

	if (!p->relocs || !n)
		return 0;
	for (int list = 0; list < 3; list++) {
		size_t cnt = 0, start = pos;

		while (pos > 0 && rd_u32(p->relocs + (pos - 1) * 4 + (p->relocs_len % 4)) != 0)
			pos--, cnt++;
		if (pos == 0)
			return integ_seterr(err, errlen, RW_INTEG_E_TABLE,
					    "KASLR relocation list %d has no terminator", list);
		b->rel[list] = malloc((cnt ? cnt : 1) * sizeof(uint64_t));
		if (!b->rel[list])
			return RW_INTEG_E_NOMEM;
		for (size_t i = pos; i < start; i++) {
			uint32_t v = rd_u32(p->relocs + i * 4 + (p->relocs_len % 4));
			uint64_t va = (uint64_t)(int64_t)(int32_t)v;

			if (reloc_keep(p, va, size[list]))
				b->rel[list][b->nrel[list]++] = va;
		}
		qsort(b->rel[list], b->nrel[list], sizeof(uint64_t), cmp_u64);
		pos--; /* the terminator */
	}
	return 0;
}

void integ_apply_relocs(const struct integ_build *b, uint64_t va, uint8_t *buf, size_t len,
			int64_t delta)
{
	static const unsigned size[3] = { 4, 4, 8 };

	if (!delta)
		return;
	for (int list = 0; list < 3; list++) {
		const uint64_t *r = b->rel[list];
		size_t lo = 0, hi = b->nrel[list];

		while (lo < hi) { /* first entry >= va */
			size_t mid = lo + (hi - lo) / 2;

			if (r[mid] < va)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < b->nrel[list] && r[i] - va + size[list] <= len; i++) {
			uint8_t *q = buf + (r[i] - va);

			if (list == 2) {
				uint64_t v;

				memcpy(&v, q, 8);
				v += (uint64_t)delta;
				memcpy(q, &v, 8);
			} else {
				uint32_t v;

				memcpy(&v, q, 4);
				v = list == 0 ? v + (uint32_t)delta : v - (uint32_t)delta;
				memcpy(q, &v, 4);
			}
		}
	}
}

const struct integ_site *integ_sites_from(const struct integ_build *b, uint64_t addr,
					  size_t *idx)
{
	size_t lo = 0, hi = b->nsites;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->sites[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return lo < b->nsites ? &b->sites[lo] : NULL;
}

static void sym_or_zero(const struct rw_kprofile *p, const char *name, uint64_t *out)
{
	if (!p->syms || vmi_ksyms_addr(p->syms, name, out))
		*out = 0;
}

static void build_free(struct integ_build *b)
{
	if (!b)
		return;
	free(b->sites);
	for (int i = 0; i < 3; i++)
		free(b->rel[i]);
	for (int i = 0; i < 2; i++)
		free(b->r[i].bytes);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int check_profile(const struct rw_kprofile *p, char *err, size_t errlen)
{
	if (!p->build_id[0] || !p->syms)
		return integ_seterr(err, errlen, RW_INTEG_E_ARG, "profile without build ID/symbols");
	if (p->text_start % INTEG_PAGE || p->rodata_start % INTEG_PAGE ||
	    p->text_end <= p->text_start || p->rodata_end <= p->rodata_start ||
	    p->text_end - p->text_start > INTEG_MAX_RANGE_BYTES ||
	    p->rodata_end - p->rodata_start > INTEG_MAX_RANGE_BYTES ||
	    (p->rodata_start < p->text_end && p->text_start < p->rodata_end))
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE,
				    "text/rodata ranges invalid (unaligned, empty, huge or overlapping)");
	if (p->nr_syscalls > RW_KPROFILE_MAX_SYSCALLS ||
	    p->kprobe_buckets > RW_KPROFILE_MAX_KPROBE_BUCKETS ||
	    p->kprobe_pre_off > 4096 || p->kprobe_post_off > 4096 || p->kprobe_list_off > 4096 ||
	    p->fops_func_off > 4096 || p->fops_next_off > 4096 || p->fops_tramp_off > 4096 ||
	    p->fops_tramp_size_off > 4096 || p->bpf_tramp_buckets > RW_KPROFILE_BPF_TRAMP_BUCKETS ||
	    p->btr_hlist_off > 4096 || p->btr_func_addr_off > 4096 ||
	    p->btr_cur_image_off > 4096 || p->bti_image_off > 4096 ||
	    p->module_end < p->module_start)
		return integ_seterr(err, errlen, RW_INTEG_E_TABLE, "profile limits exceeded");
	return 0;
}

static int build_new(const struct rw_kprofile *p, struct integ_build **out, char *err,
		     size_t errlen)
{
	struct integ_build *b;
	int rc;

	if ((rc = check_profile(p, err, errlen)))
		return rc;
	b = calloc(1, sizeof(*b));
	if (!b)
		return RW_INTEG_E_NOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->prof = *p;
	b->r[0].start = p->text_start;
	b->r[0].end = p->text_end;
	b->r[1].start = p->rodata_start;
	b->r[1].end = p->rodata_end;
	for (int i = 0; i < 2; i++)
		b->r[i].npages = (size_t)((b->r[i].end - b->r[i].start + INTEG_PAGE - 1) / INTEG_PAGE);
	if ((rc = decode_sites(b, err, errlen)) || (rc = decode_relocs(b, err, errlen))) {
		build_free(b);
		return rc == RW_INTEG_E_NOMEM
			       ? integ_seterr(err, errlen, rc, "out of memory decoding tables")
			       : rc;
	}
	sym_or_zero(p, "ftrace_caller", &b->ftrace_caller);
	sym_or_zero(p, "ftrace_regs_caller", &b->ftrace_regs_caller);
	sym_or_zero(p, "ftrace_stub", &b->ftrace_stub);
	sym_or_zero(p, "ftrace_call", &b->ftrace_call);
	sym_or_zero(p, "ftrace_regs_call", &b->ftrace_regs_call);
	sym_or_zero(p, "aggr_pre_handler", &b->aggr_pre_handler);
	sym_or_zero(p, "__x86_return_thunk", &b->return_thunk);
	sym_or_zero(p, "entry_SYSCALL_64", &b->entry_syscall_64);
	sym_or_zero(p, "entry_SYSENTER_compat", &b->entry_sysenter_compat);
	sym_or_zero(p, "entry_SYSCALL_compat", &b->entry_syscall_compat);
	sym_or_zero(p, "_sinittext", &b->init_start);
	sym_or_zero(p, "_einittext", &b->init_end);
	/* The tables were borrowed: do not keep pointers into them. */
	b->prof.jump_table = b->prof.mcount = b->prof.static_calls = b->prof.smp_locks = NULL;
	b->prof.relocs = NULL;
	b->refs = 1;
	*out = b;
	return 0;
}

void integ_build_put(struct integ_build *b)
{
	unsigned left;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	left = --b->refs;
	pthread_mutex_unlock(&b->lock);
	if (!left)
		build_free(b);
}

struct rw_integrity_cache *rw_integrity_cache_new(void)
{
	struct rw_integrity_cache *c = calloc(1, sizeof(*c));

	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void rw_integrity_cache_free(struct rw_integrity_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		integ_build_put(c->b[i]);
	free(c->b);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

size_t rw_integrity_cache_builds(const struct rw_integrity_cache *c)
{
	return c ? c->n : 0;
}

size_t rw_integrity_cache_bytes(const struct rw_integrity_cache *c)
{
	size_t total = 0;

	for (size_t i = 0; c && i < c->n; i++) {
		const struct integ_build *b = c->b[i];

		total += sizeof(*b) + b->nsites * sizeof(*b->sites);
		for (int l = 0; l < 3; l++)
			total += b->nrel[l] * sizeof(uint64_t);
		for (int r = 0; r < 2; r++)
			if (b->r[r].bytes)
				total += b->r[r].npages * INTEG_PAGE;
	}
	return total;
}

int integ_cache_get(struct rw_integrity_cache *c, const struct rw_kprofile *p,
		    struct integ_build **out, char *err, size_t errlen)
{
	struct integ_build *b = NULL;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->b[i]->prof.build_id, p->build_id))
			b = c->b[i];
	if (b) {
		if (b->prof.text_start != p->text_start || b->prof.text_end != p->text_end ||
		    b->prof.rodata_start != p->rodata_start || b->prof.rodata_end != p->rodata_end) {
			rc = integ_seterr(err, errlen, RW_INTEG_E_MISMATCH,
					  "build %s cached with different ranges", p->build_id);
			goto out;
		}
	} else {
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 4;
			struct integ_build **nb = realloc(c->b, ncap * sizeof(*nb));

			if (!nb) {
				rc = integ_seterr(err, errlen, RW_INTEG_E_NOMEM, "out of memory");
				goto out;
			}
			c->b = nb;
			c->cap = ncap;
		}
		if ((rc = build_new(p, &b, err, errlen)))
			goto out;
		c->b[c->n++] = b;
	}
	pthread_mutex_lock(&b->lock);
	b->refs++;
	pthread_mutex_unlock(&b->lock);
	*out = b;
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* host/integrity: the engine over a synthetic kernel in a memory source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/integrity.h"
#include "tests/lib/ptb.h"
#include "vmi/ksyms.h"
#include "vmi/mem.h"
#include "vmi/x86.h"

#define K 0xffffffff81000000ull
#define TEXT_SIZE 0x4000u
#define RO 0xffffffff81800000ull
#define RO_SIZE 0x2000u
#define BSS 0xffffffff81c00000ull
#define IDT_VA 0xfffffe0000000000ull
#define MOD_X 0xffffffffc0001000ull /* module-area code page (RO+X) */
#define MOD_W 0xffffffffc0002000ull /* module-area data page (RW) */
#define RAM_SIZE (4u << 20)
#define PA_TEXT 0x100000u
#define PA_RO 0x200000u
#define PA_IDT 0x280000u
#define PA_MODX 0x290000u
#define PA_MODW 0x291000u
#define PA_BSS 0x2a0000u

/* link-time symbols */
#define FUNC_A (K + 0x0)
#define FTRACE_CALLER (K + 0x100)
#define FTRACE_CALL (K + 0x180)
#define FTRACE_REGS_CALLER (K + 0x1c0)
#define FTRACE_STUB (K + 0x200)
#define FUNC_B (K + 0x1000)
#define SYS_READ (K + 0x1100)
#define SYS_WRITE (K + 0x1200)
#define EVIL (K + 0x1300)
#define SCT_FOO (K + 0x2000)
#define FUNC_C (K + 0x2100)
#define ENTRY_SYSCALL (K + 0x2200)
#define RET_THUNK (K + 0x2300)
#define FUNC_D (K + 0x3000)
#define SYSCALL_TABLE (RO + 0x100)
#define KPROBE_TABLE BSS
#define AGGR_PRE (K + 0x1400)
#define OPS_LIST (BSS + 0x800) /* ftrace_ops_list: pointer to the first ops */
#define OPS_END (BSS + 0x900)  /* ftrace_list_end */

static const char sysmap[] =
	"ffffffff81000000 T func_a\n"
	"ffffffff81000100 T ftrace_caller\n"
	"ffffffff81000180 T ftrace_call\n"
	"ffffffff810001c0 T ftrace_regs_caller\n"
	"ffffffff81000200 T ftrace_stub\n"
	"ffffffff81001000 T func_b\n"
	"ffffffff81001100 T __x64_sys_read\n"
	"ffffffff81001200 t __do_sys_write\n"	/* aliases of the handler, as in 6.1 */
	"ffffffff81001200 T __ia32_sys_write\n"
	"ffffffff81001200 T __x64_sys_write\n"
	"ffffffff81001300 T evil\n"
	"ffffffff81001400 T aggr_pre_handler\n"
	"ffffffff81002000 T __SCT__foo\n"
	"ffffffff81002100 T func_c\n"
	"ffffffff81002200 T entry_SYSCALL_64\n"
	"ffffffff81002300 T __x86_return_thunk\n"
	"ffffffff81003000 T func_d\n"
	"ffffffff81004000 T _etext\n"
	"ffffffff81800000 R __start_rodata\n"
	"ffffffff81800100 R sys_call_table\n"
	"ffffffff81802000 R __end_rodata\n"
	"ffffffff81c00000 b kprobe_table\n";

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

struct image {
	uint8_t text[TEXT_SIZE], ro[RO_SIZE];
	uint8_t jump[32], mcount[8], scalls[8], relocs[64];
	size_t relocs_len;
	struct vmi_ksyms *syms;
	struct rw_kprofile prof;
};

struct guest {
	uint8_t *ram;
	struct ptb pt;
	struct vmi_mem *mem;
	struct vmi_x86 x;
	struct vmi_vcpu vcpu[2];
	struct rw_kview kv;
	uint64_t slide;
};

struct sink {
	struct rw_finding f[256];
	size_t n;
};

static void collect(void *ctx, const struct rw_finding *f)
{
	struct sink *s = ctx;

	if (s->n < 256)
		s->f[s->n++] = *f;
}

static void put_s32(uint8_t *p, int64_t v)
{
	int32_t x = (int32_t)v;

	memcpy(p, &x, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void rel32(uint8_t *text, uint64_t site, uint8_t op, uint64_t target)
{
	uint8_t *p = text + (site - K);

	p[0] = op;
	put_s32(p + 1, (int64_t)(target - (site + 5)));
}

static struct image *make_image(void)
{
	struct image *im = calloc(1, sizeof(*im));
	uint64_t jt = RO + 0x1000, sc = RO + 0x1100;
	uint8_t *r;

	assert_non_null(im);
	for (size_t i = 0; i < TEXT_SIZE; i++)
		im->text[i] = (uint8_t)(0x40 + i % 61);
	for (size_t i = 0; i < RO_SIZE; i++)
		im->ro[i] = (uint8_t)(i * 7);
	memcpy(im->text + (FUNC_B - K), NOP5, 5);              /* ftrace site */
	rel32(im->text, FTRACE_CALL, 0xe8, FTRACE_STUB);         /* ftrace ops site */
	rel32(im->text, FUNC_A + 0x20, 0xe8, FUNC_B);            /* static call site */
	rel32(im->text, SCT_FOO, 0xe9, FUNC_B);                  /* trampoline */
	memcpy(im->text + (FUNC_C + 0x10 - K), NOP5, 5);         /* jump label, 5 bytes */
	im->text[FUNC_C + 0x20 - K] = 0x66;                      /* jump label, 2 bytes */
	im->text[FUNC_C + 0x21 - K] = 0x90;
	/* 32-bit absolute reference to func_b at func_a+0x40 (relocated) */
	put_s32(im->text + 0x40, (int64_t)(int32_t)(uint32_t)FUNC_B);
	put_u64(im->ro + 0x100, SYS_READ);
	put_u64(im->ro + 0x108, SYS_WRITE);
	/* tables (addresses as if they sat at jt / sc) */
	put_s32(im->jump + 0, (int64_t)(FUNC_C + 0x10 - jt));
	put_s32(im->jump + 4, (int64_t)(FUNC_C + 0x40 - (jt + 4)));
	put_s32(im->jump + 16, (int64_t)(FUNC_C + 0x20 - (jt + 16)));
	put_s32(im->jump + 20, (int64_t)(FUNC_C + 0x30 - (jt + 20)));
	put_u64(im->mcount, FUNC_B);
	put_s32(im->scalls, (int64_t)(FUNC_A + 0x20 - sc));
	put_s32(im->scalls + 4, 0x100); /* key, even: not a tail call */
	/* relocs, forward: 0, 64-bit..., 0, (no inverse), 0, 32-bit... */
	r = im->relocs;
	put_s32(r, 0);
	put_s32(r + 4, (int32_t)(uint32_t)(SYSCALL_TABLE));
	put_s32(r + 8, (int32_t)(uint32_t)(SYSCALL_TABLE + 8));
	put_s32(r + 12, 0);
	put_s32(r + 16, 0);
	put_s32(r + 20, (int32_t)(uint32_t)(FUNC_A + 0x40));
	im->relocs_len = 24;
	assert_int_equal(vmi_ksyms_parse_system_map(sysmap, strlen(sysmap), &im->syms, NULL, 0), 0);
	im->prof = (struct rw_kprofile){
		.build_id = "b1d0",
		.syms = im->syms,
		.text_start = K, .text_end = K + TEXT_SIZE,
		.rodata_start = RO, .rodata_end = RO + RO_SIZE,
		.jump_table = im->jump, .jump_table_addr = jt, .jump_table_len = 32,
		.mcount = im->mcount, .mcount_len = 8,
		.static_calls = im->scalls, .static_calls_addr = sc, .static_calls_len = 8,
		.relocs = im->relocs, .relocs_len = im->relocs_len,
		.kprobe_table = KPROBE_TABLE, .kprobe_buckets = 4,
		.kprobe_hlist_off = 0, .kprobe_addr_off = 40,
		.kprobe_pre_off = 48, .kprobe_post_off = 56, .kprobe_list_off = 64,
		.ftrace_ops_list = OPS_LIST, .ftrace_list_end = OPS_END,
		.fops_func_off = 0, .fops_next_off = 8, .fops_tramp_off = 0x20,
		.fops_tramp_size_off = 0x28,
		.sys_call_table = SYSCALL_TABLE, .nr_syscalls = 2,
		.module_start = RW_KPROFILE_MODULE_START, .module_end = RW_KPROFILE_MODULE_END,
	};
	return im;
}

static void free_image(struct image *im)
{
	vmi_ksyms_free(im->syms);
	free(im);
}

static uint8_t *host(struct guest *g, uint64_t link_va)
{
	uint64_t va = link_va;

	if (va >= K && va < K + TEXT_SIZE)
		return g->ram + PA_TEXT + (va - K);
	if (va >= RO && va < RO + RO_SIZE)
		return g->ram + PA_RO + (va - RO);
	if (va >= BSS && va < BSS + 0x1000)
		return g->ram + PA_BSS + (va - BSS);
	fail_msg("no host view for 0x%llx", (unsigned long long)va);
	return NULL;
}

static void set_gate(uint8_t *g16, uint64_t target)
{
	uint16_t lo = (uint16_t)target, mid = (uint16_t)(target >> 16), sel = 0x10;
	uint32_t hi = (uint32_t)(target >> 32);

	memset(g16, 0, 16);
	memcpy(g16, &lo, 2);
	memcpy(g16 + 2, &sel, 2);
	g16[5] = 0x8e;
	memcpy(g16 + 6, &mid, 2);
	memcpy(g16 + 8, &hi, 4);
}

static struct guest *make_guest(const struct image *im, uint64_t slide)
{
	struct guest *g = calloc(1, sizeof(*g));
	struct vmi_mem_region reg;
	const uint64_t XD = VMI_PTE_XD;

	assert_non_null(g);
	g->slide = slide;
	g->ram = calloc(1, RAM_SIZE);
	assert_non_null(g->ram);
	assert_int_equal(ptb_init(&g->pt, g->ram, 0, RAM_SIZE, 0x300000, 0x40000, 4), 0);
	for (uint64_t o = 0; o < TEXT_SIZE; o += 4096)
		assert_int_equal(ptb_map(&g->pt, K + slide + o, PA_TEXT + o, 4096, 0), 0);
	for (uint64_t o = 0; o < RO_SIZE; o += 4096)
		assert_int_equal(ptb_map(&g->pt, RO + slide + o, PA_RO + o, 4096, XD), 0);
	assert_int_equal(ptb_map(&g->pt, BSS + slide, PA_BSS, 4096, VMI_PTE_W | XD), 0);
	assert_int_equal(ptb_map(&g->pt, IDT_VA, PA_IDT, 4096, XD), 0);
	assert_int_equal(ptb_map(&g->pt, MOD_X, PA_MODX, 4096, 0), 0);
	assert_int_equal(ptb_map(&g->pt, MOD_W, PA_MODW, 4096, VMI_PTE_W), 0);
	memcpy(g->ram + PA_TEXT, im->text, TEXT_SIZE);
	memcpy(g->ram + PA_RO, im->ro, RO_SIZE);
	/* what the boot loader does with the slide */
	{
		uint32_t v32;
		uint64_t v64;

		memcpy(&v32, g->ram + PA_TEXT + 0x40, 4);
		v32 += (uint32_t)slide;
		memcpy(g->ram + PA_TEXT + 0x40, &v32, 4);
		for (int i = 0; i < 2; i++) {
			memcpy(&v64, g->ram + PA_RO + 0x100 + 8 * i, 8);
			v64 += slide;
			memcpy(g->ram + PA_RO + 0x100 + 8 * i, &v64, 8);
		}
		/* rel32 instructions are position independent: nothing to do */
	}
	for (int v = 0; v < 32; v++)
		set_gate(g->ram + PA_IDT + 16 * v, FUNC_D + slide + 0x100 + 0x10 * (uint64_t)v);
	/* module-area trampoline: a copy of ftrace_caller's first bytes */
	memcpy(g->ram + PA_MODX, g->ram + PA_TEXT + (FTRACE_CALLER - K), 64);
	/* no ftrace ops registered: the list holds only its terminator */
	{
		uint64_t end = OPS_END + slide;

		memcpy(g->ram + PA_BSS + (OPS_LIST - BSS), &end, 8);
	}
	reg = (struct vmi_mem_region){ 0, RAM_SIZE, g->ram };
	assert_int_equal(vmi_mem_open_host(&reg, 1, &g->mem, NULL, 0), 0);
	assert_int_equal(vmi_x86_init(&g->x, g->mem, g->pt.root,
				      VMI_X86_CR4_PAE | (1ull << 20) | (1ull << 21),
				      VMI_X86_EFER_LMA | VMI_X86_EFER_NXE),
			 0);
	for (unsigned i = 0; i < 2; i++) {
		struct vmi_vcpu *c = &g->vcpu[i];
		const enum vmi_prov q = VMI_PROV_QMP_INFO_REGISTERS;

		memset(c, 0, sizeof(*c));
		c->index = i;
		c->cr0 = (struct vmi_val){ 0x80050033, q };
		c->cr4 = (struct vmi_val){ VMI_X86_CR4_PAE | (1ull << 20) | (1ull << 21), q };
		c->efer = (struct vmi_val){ 0xd01, q };
		c->cr3 = (struct vmi_val){ g->pt.root, q };
		c->idtr_base = (struct vmi_val){ IDT_VA, q };
		c->idtr_limit = (struct vmi_val){ 32 * 16 - 1, q };
	}
	g->kv = (struct rw_kview){ .profile = &im->prof, .x = &g->x, .slide = slide,
				   .vcpus = g->vcpu, .nvcpus = 2 };
	return g;
}

static void free_guest(struct guest *g)
{
	vmi_mem_close(g->mem);
	free(g->ram);
	free(g);
}

struct fixture {
	struct image *im;
	struct guest *g;
	struct rw_integrity_cache *cache;
	struct rw_integrity *vm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	struct sink s = { .n = 0 };

	f->im = make_image();
	f->g = make_guest(f->im, 0);
	f->cache = rw_integrity_cache_new();
	if (rw_integrity_baseline(f->cache, &f->g->kv, collect, &s, &f->vm, err, sizeof(err)))
		fail_msg("baseline: %s", err);
	assert_int_equal(s.n, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rw_integrity_free(f->vm);
	rw_integrity_cache_free(f->cache);
	free_guest(f->g);
	free_image(f->im);
	free(f);
	return 0;
}

static size_t count(const struct sink *s, enum rw_integ_check c, enum rw_integ_sev sev)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->f[i].check == c && s->f[i].sev == sev;
	return n;
}

static const struct rw_finding *first(const struct sink *s, enum rw_integ_sev sev)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].sev == sev)
			return &s->f[i];
	return NULL;
}

static void run_pass(struct fixture *f, struct sink *s, struct rw_pass_stats *st)
{
	s->n = 0;
	assert_int_equal(rw_integrity_pass(f->vm, &f->g->kv, collect, s, st), 0);
}

static void expect_clean(struct fixture *f)
{
	struct sink s;
	struct rw_pass_stats st;

	run_pass(f, &s, &st);
	for (size_t i = 0; i < s.n; i++)
		if (s.f[i].sev >= RW_FINDING_VIOLATION)
			fail_msg("unexpected: %s %s %s", rw_integ_check_name(s.f[i].check),
				 s.f[i].where, s.f[i].detail);
}

static void test_clean_pass(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;

	run_pass(f, &s, &st);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.pages_hashed, 6);
	assert_int_equal(st.pages_changed, 0);
	assert_int_equal(st.bytes_hashed, TEXT_SIZE + RO_SIZE);
}

static void test_unexplained_byte_is_violation(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *v;
	uint8_t *p = host(f->g, FUNC_A + 0x80);
	uint8_t old = *p;

	*p ^= 0xff;
	run_pass(f, &s, &st);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_non_null(v);
	assert_int_equal(v->check, RW_CHECK_KTEXT);
	assert_int_equal(v->addr, FUNC_A + 0x80);
	assert_string_equal(v->where, "func_a+0x80");
	assert_int_equal(v->nbytes, 1);
	assert_int_equal(v->old_bytes[0], old);
	assert_int_equal(v->new_bytes[0], (uint8_t)(old ^ 0xff));
	/* persists on the next pass, then clears once undone */
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	*p = old;
	expect_clean(f);
}

static void test_jump_labels(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;

	rel32(host(f->g, K), FUNC_C + 0x10, 0xe9, FUNC_C + 0x40); /* writes guest text */
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 0); /* flips are not hooks */
	assert_int_equal(st.sites_accepted, 1);
	/* 2-byte form: jmp8 to the entry's target */
	host(f->g, FUNC_C + 0x20)[0] = 0xeb;
	host(f->g, FUNC_C + 0x20)[1] = 0x30 - 0x22;
	expect_clean(f);
	/* JMP somewhere else: violation */
	rel32(host(f->g, K), FUNC_C + 0x10, 0xe9, EVIL);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	assert_string_equal(first(&s, RW_FINDING_VIOLATION)->where, "func_c+0x10");
	memcpy(host(f->g, FUNC_C + 0x10), NOP5, 5);
	expect_clean(f);
	assert_int_equal(rw_integrity_overlay_pages(f->vm), 1); /* the 2-byte site stays JMP */
	host(f->g, FUNC_C + 0x20)[0] = 0x66;
	host(f->g, FUNC_C + 0x20)[1] = 0x90;
	expect_clean(f);
	assert_int_equal(rw_integrity_overlay_pages(f->vm), 0);
}

/* struct ftrace_ops at node: func +0, next +8, trampoline +0x20, size +0x28 */
static void add_ops(struct guest *g, uint64_t node, uint64_t func, uint64_t tramp, uint64_t size,
		    uint64_t next)
{
	uint8_t *o = host(g, node);

	memset(o, 0, 0x30);
	put_u64(o, func);
	put_u64(o + 8, next);
	put_u64(o + 0x20, tramp);
	put_u64(o + 0x28, size);
}

static void test_ftrace_sites(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	uint8_t *site = host(f->g, FUNC_B);
	uint8_t insn[8];

	/* CALL ftrace_caller: accepted hook naming the function and the handler */
	insn[0] = 0xe8;
	put_s32(insn + 1, (int64_t)(FTRACE_CALLER - (FUNC_B + 5)));
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 1);
	assert_string_equal(first(&s, RW_FINDING_HOOK)->where, "func_b+0x0");
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "ftrace_caller"));
	/* CALL a module-area trampoline that is a copy of ftrace_caller, the
	 * trampoline of a registered ftrace_ops */
	add_ops(f->g, BSS + 0xa00, FUNC_D, MOD_X, 0x40, OPS_END);
	put_u64(host(f->g, OPS_LIST), BSS + 0xa00);
	put_s32(insn + 1, (int64_t)(MOD_X - (FUNC_B + 5)));
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "ftrace trampoline"));
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "module area"));
	put_u64(host(f->g, OPS_LIST), OPS_END); /* ops gone: its trampoline is no more */
	/* a BPF trampoline prologue is accepted too (the target is examined when
	 * the site changes: unhook, change the code, hook again) */
	memcpy(site, NOP5, 5);
	expect_clean(f);
	memcpy(f->g->ram + PA_MODX, "\x55\x48\x89\xe5\x48\x83\xec\x10", 8);
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "BPF trampoline"));
	/* code that looks like neither: violation */
	memcpy(site, NOP5, 5);
	expect_clean(f);
	memset(f->g->ram + PA_MODX, 0xcc, 16);
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	/* a writable module page is never a trampoline */
	memcpy(f->g->ram + PA_MODW, f->g->ram + PA_TEXT + (FTRACE_CALLER - K), 64);
	put_s32(insn + 1, (int64_t)(MOD_W - (FUNC_B + 5)));
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	/* CALL into the middle of kernel text: violation */
	put_s32(insn + 1, (int64_t)(EVIL + 3 - (FUNC_B + 5)));
	memcpy(site, insn, 5);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	memcpy(site, NOP5, 5);
	expect_clean(f);
	/* ftrace_call inside ftrace_caller now calls a tracer function: hook */
	rel32(host(f->g, K), FTRACE_CALL, 0xe8, EVIL);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "evil+0x0"));
	rel32(host(f->g, K), FTRACE_CALL, 0xe8, FTRACE_STUB);
	expect_clean(f);
}

static void test_static_calls(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;

	rel32(host(f->g, K), FUNC_A + 0x20, 0xe8, FUNC_D); /* site -> another function */
	rel32(host(f->g, K), SCT_FOO, 0xe9, FUNC_D);       /* trampoline too */
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(st.sites_accepted, 2);
	memcpy(host(f->g, SCT_FOO), "\xc3\xcc\xcc\xcc\xcc", 5); /* RET form */
	memcpy(host(f->g, FUNC_A + 0x20), NOP5, 5);             /* NULL call */
	expect_clean(f);
	rel32(host(f->g, K), SCT_FOO, 0xe9, RET_THUNK);
	expect_clean(f);
	rel32(host(f->g, K), FUNC_A + 0x20, 0xe8, FUNC_D + 1); /* not a function start */
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	rel32(host(f->g, K), FUNC_A + 0x20, 0xe8, FUNC_B);
	rel32(host(f->g, K), SCT_FOO, 0xe9, FUNC_B);
	expect_clean(f);
}

static void add_kprobe(struct guest *g, uint64_t slot, uint64_t node_va, uint64_t addr)
{
	uint8_t *bss = host(g, BSS);

	put_u64(bss + 8 * slot, node_va);
	put_u64(bss + (node_va - BSS), 0);             /* hlist next */
	put_u64(bss + (node_va - BSS) + 40, addr);      /* kprobe.addr */
}

static void test_kprobes(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	uint8_t *p = host(f->g, FUNC_D + 8), old = *p;

	*p = 0xcc;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1); /* not registered */
	add_kprobe(f->g, 2, BSS + 0x100, FUNC_D + 8);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 1);
	assert_string_equal(first(&s, RW_FINDING_HOOK)->where, "func_d+0x8");
	/* optimized: jmp into a module-area detour buffer */
	rel32(host(f->g, K), FUNC_D + 8, 0xe9, MOD_X + 0x100);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(strstr(first(&s, RW_FINDING_HOOK)->detail, "optimized kprobe"));
	/* removed: bytes back to the attach state */
	memcpy(p, f->im->text + (FUNC_D + 8 - K), 5);
	put_u64(host(f->g, BSS) + 16, 0);
	expect_clean(f);
	(void)old;
	/* hostile table: a node pointing to itself, and garbage pointers */
	put_u64(host(f->g, BSS), BSS + 0x200);
	put_u64(host(f->g, BSS) + 0x200, BSS + 0x200);
	put_u64(host(f->g, BSS) + 0x200 + 40, FUNC_D + 8);
	put_u64(host(f->g, BSS) + 8, 0x4141414141414141ull);
	*p = 0xcc;
	run_pass(f, &s, &st); /* bounded walk; the self-loop still names the probe */
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	memcpy(p, f->im->text + (FUNC_D + 8 - K), 1);
	expect_clean(f);
}

static void test_rodata_and_syscalls(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *v;

	host(f->g, RO + 0x1800)[0] ^= 1;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KRODATA, RW_FINDING_VIOLATION), 1);
	host(f->g, RO + 0x1800)[0] ^= 1;
	expect_clean(f);
	put_u64(host(f->g, SYSCALL_TABLE), EVIL);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KRODATA, RW_FINDING_VIOLATION), 0); /* delegated */
	assert_int_equal(count(&s, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION), 1);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_non_null(strstr(v->detail, "syscall 0 (read)"));
	assert_string_equal(v->where, "evil+0x0");
	put_u64(host(f->g, SYSCALL_TABLE), SYS_READ);
	expect_clean(f);
}

/* A repointed syscall is named by the syscall, and both ends by the handler's
 * __x64_sys_ symbol, not by an alias that sorts first (__do_sys_...). */
static void test_syscall_names(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *v;
	uint64_t off;
	const struct vmi_ksym *k = vmi_ksyms_find(f->im->syms, SYS_WRITE, 0, &off);

	/* the premise: a plain lookup names the alias */
	assert_non_null(k);
	assert_string_equal(k->name, "__do_sys_write");
	/* read -> write's handler */
	put_u64(host(f->g, SYSCALL_TABLE), SYS_WRITE);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION), 1);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_int_equal(v->addr, SYS_WRITE);
	assert_string_equal(v->where, "__x64_sys_write+0x0");
	assert_non_null(strstr(v->detail, "syscall 0 (read) repointed: __x64_sys_read+0x0 -> "
					  "__x64_sys_write+0x0 = 0xffffffff81001200 "
					  "(the handler of syscall write)"));
	/* inside a handler, not its entry: not a handler, still named by __x64_sys_ */
	put_u64(host(f->g, SYSCALL_TABLE), SYS_WRITE + 0x10);
	run_pass(f, &s, &st);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_string_equal(v->where, "__x64_sys_write+0x10");
	assert_non_null(strstr(v->detail, "(not a syscall handler)"));
	put_u64(host(f->g, SYSCALL_TABLE), SYS_READ);
	expect_clean(f);
	/* write (listed first as __do_sys_write) -> a plain function */
	put_u64(host(f->g, SYSCALL_TABLE + 8), EVIL);
	run_pass(f, &s, &st);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_string_equal(v->where, "evil+0x0");
	assert_non_null(strstr(v->detail, "syscall 1 (write) repointed: __x64_sys_write+0x0 -> "
					  "evil+0x0"));
	/* -> module-area code */
	put_u64(host(f->g, SYSCALL_TABLE + 8), MOD_X);
	run_pass(f, &s, &st);
	v = first(&s, RW_FINDING_VIOLATION);
	assert_non_null(strstr(v->where, "[module area"));
	assert_non_null(strstr(v->detail, "not a syscall handler, outside kernel text"));
	put_u64(host(f->g, SYSCALL_TABLE + 8), SYS_WRITE);
	expect_clean(f);
}

static void test_idt_cr_msr(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	uint8_t save[16];

	memcpy(save, f->g->ram + PA_IDT + 16 * 3, 16);
	set_gate(f->g->ram + PA_IDT + 16 * 3, EVIL);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_IDT, RW_FINDING_VIOLATION), 2); /* both vCPUs */
	assert_non_null(strstr(first(&s, RW_FINDING_VIOLATION)->detail, "vector 3 "));
	memcpy(f->g->ram + PA_IDT + 16 * 3, save, 16);
	expect_clean(f);
	f->g->vcpu[1].idtr_base.v = IDT_VA + 0x100;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_IDT, RW_FINDING_VIOLATION), 1);
	f->g->vcpu[1].idtr_base.v = IDT_VA;

	f->g->vcpu[0].cr0.v &= ~(1ull << 16);
	f->g->vcpu[1].cr4.v &= ~(1ull << 21);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_CR, RW_FINDING_VIOLATION), 2);
	assert_non_null(strstr(s.f[0].detail, "CR0.WP cleared"));
	assert_non_null(strstr(s.f[0].detail, "qmp"));
	f->g->vcpu[0].cr0.v |= 1ull << 16;
	f->g->vcpu[1].cr4.v |= 1ull << 21;
	expect_clean(f);

	f->g->vcpu[0].lstar = (struct vmi_val){ ENTRY_SYSCALL, VMI_PROV_KVM_IOCTL };
	f->g->vcpu[0].star = (struct vmi_val){ 0x0023001000000000ull, VMI_PROV_KVM_IOCTL };
	run_pass(f, &s, &st);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.msr_prov, VMI_PROV_KVM_IOCTL);
	f->g->vcpu[0].lstar.v = EVIL;
	f->g->vcpu[0].star.v = 0x1234;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_MSR, RW_FINDING_VIOLATION), 2);
	assert_non_null(strstr(s.f[0].detail, "entry_SYSCALL_64"));
	assert_non_null(strstr(s.f[0].detail, "kvm"));
	/* unverified guest report: not used, said so */
	f->g->vcpu[0].lstar = (struct vmi_val){ EVIL, VMI_PROV_GUEST_REPORT };
	f->g->vcpu[0].star = (struct vmi_val){ 0x0023001000000000ull, VMI_PROV_KVM_IOCTL };
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_MSR, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_MSR, RW_FINDING_INFO), 1);
	f->g->kv.guest_reporter_verified = true;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_MSR, RW_FINDING_VIOLATION), 1);
	assert_non_null(strstr(s.f[0].detail, "guest"));
}

/* Two VMs of one build at different KASLR slides share the baseline bytes;
 * a patch accepted in one does not change the other. */
static void test_shared_build_and_slide(void **state)
{
	struct fixture *f = *state;
	struct guest *g2 = make_guest(f->im, 0x2400000);
	struct rw_integrity *vm2;
	struct sink s = { .n = 0 };
	struct rw_pass_stats st;
	size_t bytes1 = rw_integrity_cache_bytes(f->cache);
	char err[256];

	if (rw_integrity_baseline(f->cache, &g2->kv, collect, &s, &vm2, err, sizeof(err)))
		fail_msg("baseline: %s", err);
	assert_int_equal(s.n, 0);
	assert_int_equal(rw_integrity_cache_builds(f->cache), 1);
	assert_int_equal(rw_integrity_cache_bytes(f->cache), bytes1);
	assert_int_equal(rw_integrity_overlay_pages(vm2), 0); /* relocations undone */
	/* accept a jump-label flip in VM 1 only */
	rel32(host(f->g, K), FUNC_C + 0x10, 0xe9, FUNC_C + 0x40);
	expect_clean(f);
	assert_int_equal(rw_integrity_overlay_pages(f->vm), 1);
	assert_int_equal(rw_integrity_pass(vm2, &g2->kv, collect, &s, &st), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.pages_changed, 0);
	/* the same flip in VM 2 (slid addresses) is accepted there too */
	{
		uint8_t *p = g2->ram + PA_TEXT + (FUNC_C + 0x10 - K);

		p[0] = 0xe9;
		put_s32(p + 1, (int64_t)((FUNC_C + 0x40) - (FUNC_C + 0x15)));
	}
	assert_int_equal(rw_integrity_pass(vm2, &g2->kv, collect, &s, &st), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(st.sites_accepted, 1);
	/* a relocated pointer changed in VM 2 is still caught */
	put_u64(g2->ram + PA_RO + 0x108, SYS_READ + 0x2400000);
	s.n = 0;
	assert_int_equal(rw_integrity_pass(vm2, &g2->kv, collect, &s, &st), 0);
	assert_int_equal(count(&s, RW_CHECK_SYSCALL, RW_FINDING_VIOLATION), 1);
	assert_non_null(strstr(s.f[0].detail, "syscall 1 (write)"));
	rw_integrity_free(vm2);
	free_guest(g2);
}

static void test_bad_inputs(void **state)
{
	struct fixture *f = *state;
	struct rw_kprofile p = f->im->prof;
	struct rw_kview kv = f->g->kv;
	struct rw_integrity *vm;
	struct rw_integrity_cache *c = rw_integrity_cache_new();
	char err[256];

	assert_int_equal(rw_integrity_baseline(NULL, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_ARG);
	kv.profile = &p;
	snprintf(p.build_id, sizeof(p.build_id), "other1");
	p.text_start = K + 1; /* unaligned */
	assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_TABLE);
	p = f->im->prof;
	snprintf(p.build_id, sizeof(p.build_id), "other2");
	p.jump_table_len = 17; /* not a multiple of the entry size */
	assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_TABLE);
	p = f->im->prof;
	snprintf(p.build_id, sizeof(p.build_id), "other3");
	p.relocs_len = 8; /* reloc lists without terminators */
	{
		uint8_t junk[8];

		memset(junk, 0x41, sizeof(junk));
		p.relocs = junk;
		assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
				 RW_INTEG_E_TABLE);
	}
	p = f->im->prof;
	snprintf(p.build_id, sizeof(p.build_id), "other4");
	p.rodata_end = RO + 0x10000; /* past what is mapped */
	assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_READ);
	assert_non_null(strstr(err, "rodata"));
	kv = f->g->kv;
	f->g->vcpu[1].cr0.prov = VMI_PROV_NONE;
	assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_VCPU);
	f->g->vcpu[1].cr0.prov = VMI_PROV_QMP_INFO_REGISTERS;
	f->g->vcpu[1].idtr_limit.v = 0x10000;
	assert_int_equal(rw_integrity_baseline(c, &kv, NULL, NULL, &vm, err, sizeof(err)),
			 RW_INTEG_E_VCPU);
	f->g->vcpu[1].idtr_limit.v = 32 * 16 - 1;
	rw_integrity_cache_free(c);
}

static struct rw_kmodule mod(uint64_t addr, const char *name, uint64_t text, uint64_t size)
{
	struct rw_kmodule m;

	memset(&m, 0, sizeof(m));
	m.addr = addr;
	snprintf(m.name, sizeof(m.name), "%s", name);
	m.text = text;
	m.text_size = size;
	return m;
}

static void test_modules(void **state)
{
	struct fixture *f = *state;
	struct sink s = { .n = 0 };
	struct rw_kmodule a = mod(0xffffffffc0100000ull, "alpha", MOD_X, 0x200);
	struct rw_kmodule b = mod(0xffffffffc0200000ull, "beta", MOD_X + 0x200, 0x100);
	struct rw_kmodule list[2] = { a, b }, kset[2] = { a, b };

	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, 2, kset, 2, collect, &s,
						    NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_INFO), 2); /* loaded */
	assert_true(rw_integrity_module_intact(f->vm, a.addr));
	/* hidden from sysfs (not in kset) and hidden from lsmod (not on the list) */
	s.n = 0;
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, 2, kset, 1, collect, &s,
						    NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_VIOLATION), 1);
	assert_non_null(strstr(s.f[0].detail, "hidden from sysfs"));
	s.n = 0;
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, 1, kset, 2, collect, &s,
						    NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_VIOLATION), 1);
	assert_non_null(strstr(s.f[0].detail, "hidden from lsmod"));
	/* own text changed */
	f->g->ram[PA_MODX + 0x10] ^= 0x55;
	s.n = 0;
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, 2, kset, 2, collect, &s,
						    NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_VIOLATION), 1);
	assert_string_equal(s.f[0].where, "alpha+0x10");
	assert_false(rw_integrity_module_intact(f->vm, a.addr));
	assert_true(rw_integrity_module_intact(f->vm, b.addr));
	/* unloaded */
	s.n = 0;
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list + 1, 1, kset + 1, 1,
						    collect, &s, NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_INFO), 1);
	assert_non_null(strstr(s.f[0].detail, "alpha unloaded"));
	/* text outside the module area */
	list[0] = mod(0xffffffffc0300000ull, "gamma", K, 0x100);
	s.n = 0;
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, 1, list, 1, collect, &s,
						    NULL),
			 0);
	assert_int_equal(count(&s, RW_CHECK_MODULES, RW_FINDING_VIOLATION), 1);
	assert_int_equal(rw_integrity_check_modules(f->vm, &f->g->kv, list, RW_MOD_MAX + 1, list, 1,
						    collect, &s, NULL),
			 RW_INTEG_E_LIMIT);
}

/* ---- hooks: ftrace ops, handlers, allowlist, trampolines -------------------------- */

/* Owners of module-area code in these tests: MOD_X..+0x800 "rootkit",
 * MOD_X+0x800..+0x1000 "goodmod". */
static int test_owner(void *ctx, uint64_t addr, char *name, size_t len)
{
	(void)ctx;
	if (addr >= MOD_X && addr < MOD_X + 0x800)
		snprintf(name, len, "rootkit");
	else if (addr >= MOD_X + 0x800 && addr < MOD_X + 0x1000)
		snprintf(name, len, "goodmod");
	else
		return -1;
	return 0;
}

static const struct rw_finding *find_detail(const struct sink *s, enum rw_integ_sev sev,
					    const char *needle)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].sev == sev && strstr(s->f[i].detail, needle))
			return &s->f[i];
	return NULL;
}

static void call_site(struct guest *g, uint64_t site, uint64_t target)
{
	uint8_t *p = host(g, site);

	p[0] = 0xe8;
	put_s32(p + 1, (int64_t)(target - (site + 5)));
}

/* The rootkit case: an ftrace site patched to call code that looks like an
 * ftrace trampoline but belongs to no registered ops is a violation; the same
 * code as the trampoline of a registered ops is a hook naming function,
 * handler and owner. */
static void test_ftrace_ops_trampolines(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *h;

	f->g->kv.owner = test_owner;
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 0);
	/* registered: ops at BSS+0xa00, func kernel func_d, trampoline MOD_X */
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	expect_clean(f);
	add_ops(f->g, BSS + 0xa00, FUNC_D, MOD_X, 0x40, OPS_END);
	put_u64(host(f->g, OPS_LIST), BSS + 0xa00);
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(h = first(&s, RW_FINDING_HOOK));
	assert_string_equal(h->where, "func_b+0x0");
	assert_string_equal(h->handler, "func_d+0x0");
	assert_string_equal(h->owner, "kernel");
	assert_non_null(strstr(h->detail, "of ops 0xffffffff81c00a00"));
	assert_non_null(strstr(h->detail, "[module rootkit]"));
	/* a call past the end of the registered trampoline (same look) is not in it */
	memcpy(f->g->ram + PA_MODX + 0x80, f->g->ram + PA_MODX, 0x40);
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	expect_clean(f);
	call_site(f->g, FUNC_B, MOD_X + 0x80);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	expect_clean(f);
	/* a second ops behind the first: its trampoline counts too */
	add_ops(f->g, BSS + 0xb00, FUNC_C, MOD_X + 0x80, 0x40, OPS_END);
	put_u64(host(f->g, BSS + 0xa00) + 8, BSS + 0xb00);
	call_site(f->g, FUNC_B, MOD_X + 0x80);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_string_equal(first(&s, RW_FINDING_HOOK)->handler, "func_c+0x0");
	/* hostile list: a loop is bounded and reported as an error, and then no
	 * trampoline is accepted from it */
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	put_u64(host(f->g, BSS + 0xb00) + 8, BSS + 0xa00);
	run_pass(f, &s, &st);
	assert_non_null(find_detail(&s, RW_FINDING_ERROR, "looping"));
	/* a non-kernel pointer in the list */
	put_u64(host(f->g, BSS + 0xb00) + 8, 0x4141414141414141ull);
	run_pass(f, &s, &st);
	assert_non_null(find_detail(&s, RW_FINDING_ERROR, "ftrace_ops_list"));
	/* a trampoline size beyond the bound is no trampoline */
	put_u64(host(f->g, BSS + 0xb00) + 8, OPS_END);
	put_u64(host(f->g, BSS + 0xb00) + 0x28, RW_HOOK_MAX_TRAMP_SIZE + 1ull);
	expect_clean(f);
	call_site(f->g, FUNC_B, MOD_X + 0x80);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
}

/* Handlers outside kernel text must be owned by an allowlisted module. */
static void test_hook_allowlist(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *h;
	const char *allow1[] = { "goodmod" }, *allow2[] = { "goodmod", "rootkit" };

	f->g->kv.owner = test_owner;
	/* an ops whose function is rootkit code: a violation on every pass, even
	 * before any site calls it */
	add_ops(f->g, BSS + 0xa00, MOD_X + 0x100, 0, 0, OPS_END);
	put_u64(host(f->g, OPS_LIST), BSS + 0xa00);
	for (int i = 0; i < 2; i++) {
		run_pass(f, &s, &st);
		assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
		assert_non_null(h = first(&s, RW_FINDING_VIOLATION));
		assert_string_equal(h->owner, "rootkit");
		assert_string_equal(h->handler, "0xffffffffc0001100 [module rootkit]");
		assert_non_null(strstr(h->detail, "ftrace ops at"));
	}
	f->g->kv.hook_allow = allow1;
	f->g->kv.nhook_allow = 1;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	f->g->kv.hook_allow = allow2;
	f->g->kv.nhook_allow = 2;
	expect_clean(f);
	/* the site hooked through the global caller with a kprobe there: the
	 * kprobe's pre_handler is the handler (goodmod: allowed) */
	put_u64(host(f->g, OPS_LIST), OPS_END);
	add_kprobe(f->g, 1, BSS + 0x100, FUNC_B);
	put_u64(host(f->g, BSS + 0x100) + 48, MOD_X + 0x900);
	call_site(f->g, FUNC_B, FTRACE_CALLER);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(h = first(&s, RW_FINDING_HOOK));
	assert_string_equal(h->where, "func_b+0x0");
	assert_string_equal(h->owner, "goodmod");
	assert_non_null(strstr(h->detail, "handler 0xffffffffc0001900 [module goodmod] (goodmod)"));
	/* not allowlisted any more: the kprobe's handler is a violation each pass */
	f->g->kv.nhook_allow = 0;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "kprobe (pre_handler) at func_b+0x0"));
	assert_string_equal(h->owner, "goodmod");
	/* an INT3 kprobe whose post_handler is in unknown module-area code */
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	put_u64(host(f->g, BSS) + 8, 0);
	f->g->kv.hook_allow = allow2;
	f->g->kv.nhook_allow = 2;
	expect_clean(f);
	add_kprobe(f->g, 2, BSS + 0x180, FUNC_D + 8);
	put_u64(host(f->g, BSS + 0x180) + 56, MOD_X + 0x1800);
	host(f->g, FUNC_D + 8)[0] = 0xcc;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 2); /* site + handler */
	assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "kprobe (int3)"));
	assert_string_equal(h->where, "func_d+0x8");
	assert_string_equal(h->owner, "unknown");
	/* an aggregated probe stands for its children: their handlers count */
	put_u64(host(f->g, BSS + 0x180) + 56, 0);
	put_u64(host(f->g, BSS + 0x180) + 48, AGGR_PRE);
	put_u64(host(f->g, BSS + 0x180) + 64, BSS + 0x300 + 64);	/* list.next: child */
	memset(host(f->g, BSS + 0x300), 0, 0x50);
	put_u64(host(f->g, BSS + 0x300) + 40, FUNC_D + 8);
	put_u64(host(f->g, BSS + 0x300) + 48, MOD_X + 0x200);		/* rootkit */
	put_u64(host(f->g, BSS + 0x300) + 64, BSS + 0x180 + 64);	/* back to head */
	f->g->kv.nhook_allow = 1;						/* goodmod only */
	run_pass(f, &s, &st);
	/* the INT3 site was never accepted: it is judged again, with the child's
	 * handler; and the child's handler on its own */
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 2);
	assert_string_equal(find_detail(&s, RW_FINDING_VIOLATION, "kprobe (int3)")->owner, "rootkit");
	assert_string_equal(find_detail(&s, RW_FINDING_VIOLATION, "pre_handler")->owner, "rootkit");
	/* a child list that never returns to its head is bounded */
	put_u64(host(f->g, BSS + 0x300) + 64, BSS + 0x300 + 64);
	run_pass(f, &s, &st);
	assert_true(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION) >= 1);
	f->g->kv.nhook_allow = 2;
	expect_clean(f);
	/* an ftrace site into the trampoline of an ops whose function is rootkit
	 * code: the site itself names function, handler and owner */
	host(f->g, FUNC_D + 8)[0] = f->im->text[FUNC_D + 8 - K];
	put_u64(host(f->g, BSS) + 16, 0);
	f->g->kv.nhook_allow = 1;
	add_ops(f->g, BSS + 0xa00, MOD_X + 0x100, MOD_X, 0x40, OPS_END);
	put_u64(host(f->g, OPS_LIST), BSS + 0xa00);
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "ftrace site patched"));
	assert_string_equal(h->where, "func_b+0x0");
	assert_string_equal(h->owner, "rootkit");
	assert_non_null(strstr(h->detail, "not kernel text or an allowlisted module"));
	/* not taken into the baseline: named again on the next pass */
	run_pass(f, &s, &st);
	assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "ftrace site patched"));
	assert_string_equal(h->where, "func_b+0x0");
	/* allowlisted: accepted once, then quiet */
	f->g->kv.nhook_allow = 2;
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 1);
	expect_clean(f);
}

/* An accepted trampoline is compared with its accepted copy every pass. */
static void test_trampoline_recheck(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	const struct rw_finding *h;
	const char *allow[] = { "goodmod" };
	const uint64_t call_off = FTRACE_CALL - FTRACE_CALLER;

	f->g->kv.owner = test_owner;
	f->g->kv.hook_allow = allow;
	f->g->kv.nhook_allow = 1;
	memcpy(f->g->ram + PA_MODX, f->g->ram + PA_TEXT + (FTRACE_CALLER - K), 0xa0);
	add_ops(f->g, BSS + 0xa00, FUNC_D, MOD_X, 0xa0, OPS_END);
	put_u64(host(f->g, OPS_LIST), BSS + 0xa00);
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_HOOK), 1);
	expect_clean(f);
	/* a byte of the trampoline outside its ops call: violation, every pass */
	f->g->ram[PA_MODX + 0x10] ^= 0x5a;
	for (int i = 0; i < 2; i++) {
		run_pass(f, &s, &st);
		assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
		assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "rewritten after"));
		assert_int_equal(h->addr, MOD_X + 0x10);
	}
	f->g->ram[PA_MODX + 0x10] ^= 0x5a;
	expect_clean(f);
	/* its ops call now calls another kernel function: a hook, accepted */
	{
		uint8_t *c = f->g->ram + PA_MODX + call_off;
		uint64_t site = MOD_X + call_off;

		c[0] = 0xcc; /* half-way through text_poke_bp: not judged yet */
		expect_clean(f);
		c[0] = 0xe8;
		put_s32(c + 1, (int64_t)(FUNC_C - (site + 5)));
		run_pass(f, &s, &st);
		assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
		assert_non_null(h = find_detail(&s, RW_FINDING_HOOK, "now calls handler func_c+0x0"));
		assert_string_equal(h->owner, "kernel");
		expect_clean(f);
		/* ... then rootkit code: violation */
		put_s32(c + 1, (int64_t)(MOD_X + 0x300 - (site + 5)));
		run_pass(f, &s, &st);
		assert_non_null(h = find_detail(&s, RW_FINDING_VIOLATION, "now calls handler"));
		assert_string_equal(h->owner, "rootkit");
	}
	/* unregistered: the trampoline is forgotten, whatever becomes of it */
	put_u64(host(f->g, OPS_LIST), OPS_END);
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	expect_clean(f);
	memset(f->g->ram + PA_MODX, 0x90, 0x40);
	expect_clean(f);
}

/* With the kernel's BPF trampoline table known, a BPF-looking target is
 * accepted only as the current image of a trampoline of the hooked function. */
static void test_bpf_trampoline_table(void **state)
{
	struct fixture *f = *state;
	struct sink s;
	struct rw_pass_stats st;
	char err[256];
	uint8_t *bss = host(f->g, BSS);

	rw_integrity_free(f->vm);
	rw_integrity_cache_free(f->cache);
	f->im->prof.bpf_tramp_table = BSS + 0xc00; /* 4 buckets */
	f->im->prof.bpf_tramp_buckets = 4;
	f->im->prof.btr_hlist_off = 0;
	f->im->prof.btr_func_addr_off = 104;
	f->im->prof.btr_cur_image_off = 168;
	f->im->prof.bti_image_off = 0;
	f->cache = rw_integrity_cache_new();
	s.n = 0;
	if (rw_integrity_baseline(f->cache, &f->g->kv, collect, &s, &f->vm, err, sizeof(err)))
		fail_msg("baseline: %s", err);
	memcpy(f->g->ram + PA_MODX, "\x55\x48\x89\xe5\x48\x83\xec\x10", 8);
	/* not in the table: a prologue alone does not make a BPF trampoline */
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	/* a trampoline of func_b whose current image is MOD_X, in bucket 2 */
	put_u64(bss + 0xc00 + 16, BSS + 0xd00);
	memset(bss + 0xd00, 0, 0xb0);
	put_u64(bss + 0xd00 + 104, FUNC_B);
	put_u64(bss + 0xd00 + 168, BSS + 0xe00);
	put_u64(bss + 0xe00, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
	assert_non_null(find_detail(&s, RW_FINDING_HOOK, "BPF trampoline"));
	assert_string_equal(first(&s, RW_FINDING_HOOK)->owner, "bpf");
	/* the same image registered for another function does not count */
	memcpy(host(f->g, FUNC_B), NOP5, 5);
	expect_clean(f);
	put_u64(bss + 0xd00 + 104, FUNC_C);
	call_site(f->g, FUNC_B, MOD_X);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 1);
	/* hostile: a bucket chain looping on itself is bounded */
	put_u64(bss + 0xd00, BSS + 0xd00);
	put_u64(bss + 0xd00 + 104, FUNC_B);
	run_pass(f, &s, &st);
	assert_int_equal(count(&s, RW_CHECK_KTEXT, RW_FINDING_VIOLATION), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unexplained_byte_is_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jump_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ftrace_sites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kprobes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rodata_and_syscalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syscall_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idt_cr_msr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_build_and_slide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ftrace_ops_trampolines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_allowlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trampoline_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bpf_trampoline_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

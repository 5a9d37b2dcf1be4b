/* Fuzz the integrity engine's hook walks over hostile guest memory: the
 * kprobe table (with aggregated probes' child lists), ftrace_ops_list, ops
 * trampolines and a patched ftrace site all come from the input. Passes must
 * never crash, hang or read out of bounds, whatever the pointers say.
 *
 * Layout: BSS image[0x2000] (kprobe_table at +0, ftrace_ops_list at +0x800,
 * ftrace_list_end at +0x900) | module page[0x1000] (0xffffffffc0001000) |
 * ftrace site bytes[5] at func_b | one text byte at func_b+0x40.
 * Shorter inputs are zero-padded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/integrity.h"
#include "vmi/ksyms.h"
#include "vmi/mem.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

#define K 0xffffffff81000000ull
#define RO 0xffffffff81800000ull
#define BSS 0xffffffff81c00000ull
#define IDT_VA 0xfffffe0000000000ull
#define MOD_X 0xffffffffc0001000ull
#define RAM_SIZE (1u << 20)
#define PA_TABLES 0x1000u
#define PA_TEXT 0x20000u
#define PA_RO 0x30000u
#define PA_BSS 0x40000u
#define PA_IDT 0x50000u
#define PA_MODX 0x60000u
#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_NX (1ull << 63)
#define CR4_BITS (VMI_X86_CR4_PAE | (1ull << 20) | (1ull << 21))

static const char sysmap[] =
	"ffffffff81000000 T func_a\n"
	"ffffffff81000100 T ftrace_caller\n"
	"ffffffff81000180 T ftrace_call\n"
	"ffffffff810001c0 T ftrace_regs_caller\n"
	"ffffffff81000200 T ftrace_stub\n"
	"ffffffff81001000 T func_b\n"
	"ffffffff81001400 T aggr_pre_handler\n"
	"ffffffff81002000 T _etext\n";

struct ram {
	uint8_t *b;
	uint64_t next_table;
};

static uint64_t *entry(struct ram *r, uint64_t table, unsigned idx)
{
	return (uint64_t *)(r->b + table + 8ull * idx);
}

static int map4k(struct ram *r, uint64_t va, uint64_t pa, uint64_t flags)
{
	uint64_t table = PA_TABLES;

	for (int level = 4; level > 1; level--) {
		uint64_t *e = entry(r, table, (unsigned)(va >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & PTE_P)) {
			if (r->next_table + 0x1000 > PA_TEXT)
				return -1;
			*e = r->next_table | PTE_P | PTE_W;
			r->next_table += 0x1000;
		}
		table = *e & 0x000ffffffffff000ull;
	}
	*entry(r, table, (unsigned)(va >> 12) & 511) = pa | flags | PTE_P;
	return 0;
}

static int owner(void *ctx, uint64_t addr, char *name, size_t len)
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

static void sink(void *ctx, const struct rw_finding *f)
{
	size_t *n = ctx;

	(*n)++;
	if (strnlen(f->detail, sizeof(f->detail)) == sizeof(f->detail) ||
	    strnlen(f->handler, sizeof(f->handler)) == sizeof(f->handler) ||
	    strnlen(f->owner, sizeof(f->owner)) == sizeof(f->owner) ||
	    f->nbytes > RW_FINDING_BYTES)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmi_ksyms *syms;
	static uint8_t mcount[8];
	uint8_t input[0x2000 + 0x1000 + 6] = { 0 };
	struct ram r = { NULL, PA_TABLES + 0x1000 };
	struct vmi_mem_region reg;
	struct vmi_mem *mem = NULL;
	struct vmi_x86 x;
	struct vmi_vcpu vcpu;
	struct rw_integrity_cache *cache;
	struct rw_integrity *vm = NULL;
	const char *allow[] = { "goodmod" };
	uint64_t end = BSS + 0x900, v;
	size_t nf = 0;
	char err[256];

	if (!syms && vmi_ksyms_parse_system_map(sysmap, sizeof(sysmap) - 1, &syms, NULL, 0))
		abort();
	v = K + 0x1000;
	memcpy(mcount, &v, 8);
	memcpy(input, data, size < sizeof(input) ? size : sizeof(input));
	r.b = calloc(1, RAM_SIZE);
	if (!r.b)
		return 0;
	for (unsigned i = 0; i < 2; i++)
		if (map4k(&r, K + 0x1000ull * i, PA_TEXT + 0x1000ull * i, 0) ||
		    map4k(&r, BSS + 0x1000ull * i, PA_BSS + 0x1000ull * i, PTE_W | PTE_NX))
			abort();
	if (map4k(&r, RO, PA_RO, PTE_NX) || map4k(&r, IDT_VA, PA_IDT, PTE_NX) ||
	    map4k(&r, MOD_X, PA_MODX, 0))
		abort();
	for (unsigned i = 0; i < 0x2000; i++)
		r.b[PA_TEXT + i] = (uint8_t)(0x40 + i % 61);
	memcpy(r.b + PA_TEXT + 0x1000, "\x0f\x1f\x44\x00\x00", 5);
	memcpy(r.b + PA_BSS + 0x800, &end, 8);
	for (unsigned g = 0; g < 32; g++) { /* interrupt gates into func_a */
		uint8_t *e = r.b + PA_IDT + 16 * g;

		e[0] = 0x00, e[1] = 0x00, e[2] = 0x10, e[5] = 0x8e;
		e[6] = 0x00, e[7] = 0x81, memset(e + 8, 0xff, 4);
	}
	reg = (struct vmi_mem_region){ 0, RAM_SIZE, r.b };
	if (vmi_mem_open_host(&reg, 1, &mem, NULL, 0) ||
	    vmi_x86_init(&x, mem, PA_TABLES, CR4_BITS, VMI_X86_EFER_LMA | VMI_X86_EFER_NXE))
		abort();
	memset(&vcpu, 0, sizeof(vcpu));
	vcpu.cr0 = (struct vmi_val){ 0x80050033, VMI_PROV_QMP_INFO_REGISTERS };
	vcpu.cr4 = (struct vmi_val){ CR4_BITS, VMI_PROV_QMP_INFO_REGISTERS };
	vcpu.efer = (struct vmi_val){ 0xd01, VMI_PROV_QMP_INFO_REGISTERS };
	vcpu.cr3 = (struct vmi_val){ PA_TABLES, VMI_PROV_QMP_INFO_REGISTERS };
	vcpu.idtr_base = (struct vmi_val){ IDT_VA, VMI_PROV_QMP_INFO_REGISTERS };
	vcpu.idtr_limit = (struct vmi_val){ 32 * 16 - 1, VMI_PROV_QMP_INFO_REGISTERS };
	{
		const struct rw_kprofile prof = {
			.build_id = "f022", .syms = syms,
			.text_start = K, .text_end = K + 0x2000,
			.rodata_start = RO, .rodata_end = RO + 0x1000,
			.mcount = mcount, .mcount_len = 8,
			.kprobe_table = BSS, .kprobe_buckets = 64,
			.kprobe_hlist_off = 0, .kprobe_addr_off = 40,
			.kprobe_pre_off = 48, .kprobe_post_off = 56, .kprobe_list_off = 64,
			.ftrace_ops_list = BSS + 0x800, .ftrace_list_end = BSS + 0x900,
			.fops_func_off = 0, .fops_next_off = 8, .fops_tramp_off = 0x20,
			.fops_tramp_size_off = 0x28,
			.sys_call_table = RO, .nr_syscalls = 0,
			.module_start = RW_KPROFILE_MODULE_START,
			.module_end = RW_KPROFILE_MODULE_END,
		};
		const struct rw_kview kv = {
			.profile = &prof, .x = &x, .vcpus = &vcpu, .nvcpus = 1,
			.owner = owner, .hook_allow = allow, .nhook_allow = 1,
		};

		cache = rw_integrity_cache_new();
		if (!cache || rw_integrity_baseline(cache, &kv, NULL, NULL, &vm, err, sizeof(err)))
			abort();
		memcpy(r.b + PA_BSS, input, 0x2000);
		memcpy(r.b + PA_MODX, input + 0x2000, 0x1000);
		memcpy(r.b + PA_TEXT + 0x1000, input + 0x3000, 5);
		r.b[PA_TEXT + 0x1040] = input[0x3005];
		for (int pass = 0; pass < 3; pass++) {
			if (rw_integrity_pass(vm, &kv, sink, &nf, NULL))
				abort();
			/* the trampoline changes after it may have been accepted */
			r.b[PA_MODX + (input[0x3005] & 0x3f)] ^= 0x01;
		}
	}
	rw_integrity_free(vm);
	rw_integrity_cache_free(cache);
	vmi_mem_close(mem);
	free(r.b);
	return 0;
}

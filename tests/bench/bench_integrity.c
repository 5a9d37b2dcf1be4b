// SPDX-License-Identifier: GPL-2.0
/*
 * Integrity engine cost, measured side by side in one run:
 *  1. a full pass over one synthetic guest (all checks: 14 MiB text + 6 MiB
 *     rodata hashed per page, syscall table, IDT, CRs, MSRs) against raw XXH3
 *     over the same number of bytes (ratio = xxh3_time / pass_time);
 *  2. passes per second per core over many guests of one build (each with its
 *     own walker and per-VM state, all reading the same guest RAM);
 *  3. memory per additional guest with the same build vs the shared bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "host/integrity.h"
#include "tests/lib/ptb.h"
#include "vmi/ksyms.h"
#include "vmi/mem.h"
#include "vmi/x86.h"

#define K 0xffffffff81000000ull
#define TEXT (14u << 20)
#define RO 0xffffffff82000000ull
#define ROSZ (6u << 20)
#define IDT_VA 0xfffffe0000000000ull
#define RAM (40u << 20)
#define PA_TEXT (2u << 20)
#define PA_RO (18u << 20)
#define PA_IDT (26u << 20)
#define GUESTS 64
#define REPS 5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_integrity: %s\n", what);
	exit(1);
}

struct guest {
	struct vmi_mem *mem;
	struct vmi_x86 x;
	struct vmi_vcpu vcpu;
	struct rw_kview kv;
	struct rw_integrity *vm;
};

int main(void)
{
	static const char sysmap[] = "ffffffff81000000 T _stext\n"
				     "ffffffff81000100 T __x64_sys_read\n"
				     "ffffffff81000200 T entry_SYSCALL_64\n"
				     "ffffffff81e00000 T _etext\n"
				     "ffffffff82000000 R __start_rodata\n"
				     "ffffffff82000100 R sys_call_table\n"
				     "ffffffff82600000 R __end_rodata\n";
	uint8_t *ram = aligned_alloc(1 << 21, RAM);
	struct vmi_ksyms *syms;
	struct ptb pt;
	struct vmi_mem_region reg = { 0, RAM, NULL };
	struct rw_kprofile prof;
	struct rw_integrity_cache *cache = rw_integrity_cache_new();
	struct guest *g = calloc(GUESTS, sizeof(*g));
	double best_pass = 1e9, best_hash = 1e9, t0, many;
	size_t priv = 0;
	volatile uint64_t sink = 0;
	char err[256];

	if (!ram || !cache || !g)
		die("out of memory");
	memset(ram, 0, RAM);
	srand(1);
	for (size_t i = PA_TEXT; i < PA_IDT; i++)
		ram[i] = (uint8_t)rand();
	for (int i = 0; i < 450; i++) {
		uint64_t p = K + 0x100;

		memcpy(ram + PA_RO + 0x100 + 8 * i, &p, 8);
	}
	for (int v = 0; v < 256; v++) {
		uint64_t t = K + 0x200;
		uint8_t *e = ram + PA_IDT + 16 * v;

		memset(e, 0, 16);
		e[0] = (uint8_t)t;
		e[1] = (uint8_t)(t >> 8);
		e[2] = 0x10;
		e[5] = 0x8e;
		e[6] = (uint8_t)(t >> 16);
		e[7] = (uint8_t)(t >> 24);
		memcpy(e + 8, (uint8_t *)&t + 4, 4);
	}
	if (ptb_init(&pt, ram, 0, RAM, 32u << 20, 1u << 20, 4))
		die("ptb");
	for (uint64_t o = 0; o < TEXT; o += 1 << 21)
		if (ptb_map(&pt, K + o, PA_TEXT + o, 1 << 21, 0))
			die("map text");
	for (uint64_t o = 0; o < ROSZ; o += 1 << 21)
		if (ptb_map(&pt, RO + o, PA_RO + o, 1 << 21, VMI_PTE_XD))
			die("map rodata");
	if (ptb_map(&pt, IDT_VA, PA_IDT, 4096, VMI_PTE_XD))
		die("map idt");
	if (vmi_ksyms_parse_system_map(sysmap, sizeof(sysmap) - 1, &syms, err, sizeof(err)))
		die(err);
	memset(&prof, 0, sizeof(prof));
	snprintf(prof.build_id, sizeof(prof.build_id), "bench");
	prof.syms = syms;
	prof.text_start = K;
	prof.text_end = K + TEXT;
	prof.rodata_start = RO;
	prof.rodata_end = RO + ROSZ;
	prof.sys_call_table = RO + 0x100;
	prof.nr_syscalls = 450;
	prof.module_start = RW_KPROFILE_MODULE_START;
	prof.module_end = RW_KPROFILE_MODULE_END;
	reg.host = ram;
	for (int i = 0; i < GUESTS; i++) {
		struct vmi_vcpu *c = &g[i].vcpu;
		const enum vmi_prov q = VMI_PROV_QMP_INFO_REGISTERS;

		if (vmi_mem_open_host(&reg, 1, &g[i].mem, err, sizeof(err)))
			die(err);
		if (vmi_x86_init(&g[i].x, g[i].mem, pt.root, VMI_X86_CR4_PAE,
				 VMI_X86_EFER_LMA | VMI_X86_EFER_NXE))
			die("x86 init");
		c->cr0 = (struct vmi_val){ 0x80050033, q };
		c->cr4 = (struct vmi_val){ VMI_X86_CR4_PAE | (1u << 20), q };
		c->efer = (struct vmi_val){ 0xd01, q };
		c->idtr_base = (struct vmi_val){ IDT_VA, q };
		c->idtr_limit = (struct vmi_val){ 4095, q };
		c->lstar = (struct vmi_val){ K + 0x200, VMI_PROV_KVM_IOCTL };
		g[i].kv = (struct rw_kview){ .profile = &prof, .x = &g[i].x, .vcpus = c, .nvcpus = 1 };
		if (rw_integrity_baseline(cache, &g[i].kv, NULL, NULL, &g[i].vm, err, sizeof(err)))
			die(err);
		if (i)
			priv += rw_integrity_private_bytes(g[i].vm);
	}
	for (int r = 0; r < REPS; r++) {
		struct rw_pass_stats st;
		double t;

		t0 = now();
		if (rw_integrity_pass(g[0].vm, &g[0].kv, NULL, NULL, &st) || st.violations)
			die("pass failed");
		t = now() - t0;
		if (t < best_pass)
			best_pass = t;
		t0 = now();
		sink += XXH3_64bits(ram + PA_TEXT, TEXT);
		sink += XXH3_64bits(ram + PA_RO, ROSZ);
		t = now() - t0;
		if (t < best_hash)
			best_hash = t;
	}
	t0 = now();
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < GUESTS; i++)
			if (rw_integrity_pass(g[i].vm, &g[i].kv, NULL, NULL, NULL))
				die("pass failed");
	many = now() - t0;
	printf("full pass over one guest (%.0f MiB text+rodata, all checks): %.3f ms; raw XXH3 "
	       "over the same bytes: %.3f ms\n",
	       (TEXT + ROSZ) / 1048576.0, best_pass * 1e3, best_hash * 1e3);
	printf("pass vs raw XXH3 ratio: %.2f (1.0 = hashing speed)\n", best_hash / best_pass);
	printf("passes per second per core over %d guests of one build: %.0f\n", GUESTS,
	       2 * GUESTS / many);
	printf("memory per additional guest of the same build: %.1f KiB private; shared build "
	       "baseline %.1f MiB once (%zu build)\n",
	       priv / (GUESTS - 1) / 1024.0, rw_integrity_cache_bytes(cache) / 1048576.0,
	       rw_integrity_cache_builds(cache));
	printf("per-guest memory vs shared ratio: %.4f\n",
	       (double)priv / (GUESTS - 1) / (double)rw_integrity_cache_bytes(cache));
	for (int i = 0; i < GUESTS; i++) {
		rw_integrity_free(g[i].vm);
		vmi_mem_close(g[i].mem);
	}
	rw_integrity_cache_free(cache);
	vmi_ksyms_free(syms);
	free(g);
	free(ram);
	return sink == 42 ? 1 : 0;
}

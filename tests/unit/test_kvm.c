/* The KVM memory source against a real (never run) KVM VM: memslots, vCPU
 * state set with KVM_SET_SREGS / KVM_SET_MSRS and read back through vmi, and
 * a virtual->physical walk over page tables in the VM's memory, cross-checked
 * against KVM's own KVM_TRANSLATE. Needs /dev/kvm: fails without it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/ptb.h"
#include "vmi/mem.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

#define SLOT0_SIZE (4u << 20)
#define SLOT1_GPA 0x10000000ull
#define SLOT1_SIZE (1u << 20)
#define KTEXT_VA 0xffffffff81000000ull
#define KTEXT_PA 0x200000ull
#define FIXMAP_VA 0xffffffffff5fc000ull

struct vm {
	int kvm, vm, vcpu[2];
	uint8_t *slot0, *slot1;
	struct ptb pt;
};

static struct vm g;

static void die(const char *what)
{
	fprintf(stderr, "FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void set_cpuid(int vcpu)
{
	const unsigned max = 256;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + max * sizeof(c->entries[0]));
	if (!c)
		die("calloc");
	c->nent = max;
	if (ioctl(g.kvm, KVM_GET_SUPPORTED_CPUID, c) != 0)
		die("KVM_GET_SUPPORTED_CPUID");
	/* Long mode and NX in the guest CPUID, or KVM refuses EFER.LME/NXE. */
	if (ioctl(vcpu, KVM_SET_CPUID2, c) != 0)
		die("KVM_SET_CPUID2");
	free(c);
}

static int setup(void **state)
{
	(void)state;
	g.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (g.kvm < 0)
		die("/dev/kvm is required for this test (open /dev/kvm)");
	if (ioctl(g.kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		die("KVM_GET_API_VERSION mismatch");
	g.vm = ioctl(g.kvm, KVM_CREATE_VM, 0);
	if (g.vm < 0)
		die("KVM_CREATE_VM");
	g.slot0 = mmap(NULL, SLOT0_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g.slot1 = mmap(NULL, SLOT1_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.slot0 == MAP_FAILED || g.slot1 == MAP_FAILED)
		die("mmap guest memory");
	struct kvm_userspace_memory_region r0 = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = SLOT0_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)g.slot0 };
	struct kvm_userspace_memory_region r1 = {
		.slot = 1, .guest_phys_addr = SLOT1_GPA, .memory_size = SLOT1_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)g.slot1 };
	if (ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, &r0) != 0 ||
	    ioctl(g.vm, KVM_SET_USER_MEMORY_REGION, &r1) != 0)
		die("KVM_SET_USER_MEMORY_REGION");
	for (int i = 0; i < 2; i++) {
		g.vcpu[i] = ioctl(g.vm, KVM_CREATE_VCPU, i);
		if (g.vcpu[i] < 0)
			die("KVM_CREATE_VCPU");
		set_cpuid(g.vcpu[i]);
	}
	/* Page tables in slot 0 [0x1000, 0x100000); kernel text at 2 MiB. */
	if (ptb_init(&g.pt, g.slot0, 0, SLOT0_SIZE, 0x1000, 0xff000, 4) != 0)
		die("ptb_init");
	for (size_t i = 0x100000; i < SLOT0_SIZE; i++) /* above the tables */
		g.slot0[i] = (uint8_t)(i * 31 + 7);
	for (size_t i = 0; i < SLOT1_SIZE; i++)
		g.slot1[i] = (uint8_t)(i * 17 + 3);
	/* text: one 2 MiB page, read-only, executable */
	if (ptb_map(&g.pt, KTEXT_VA, KTEXT_PA, 2u << 20, 0) != 0)
		die("map text");
	/* a writable NX 4 KiB page in the second memslot */
	if (ptb_map(&g.pt, FIXMAP_VA, SLOT1_GPA + 0x3000, 4096, VMI_PTE_W | VMI_PTE_XD) != 0)
		die("map fixmap");
	/* a user page */
	if (ptb_map(&g.pt, 0x400000, 0x300000, 4096, VMI_PTE_U | VMI_PTE_W) != 0)
		die("map user");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		close(g.vcpu[i]);
	close(g.vm);
	close(g.kvm);
	munmap(g.slot0, SLOT0_SIZE);
	munmap(g.slot1, SLOT1_SIZE);
	return 0;
}

/* Values set into vCPU 0. SYSENTER_ESP/EIP fit 32 bits: on AMD hosts KVM
 * keeps only the low half unless the guest CPUID vendor is Intel. */
static const struct {
	uint32_t idx;
	uint64_t val;
} msr_vals[] = {
	{ VMI_MSR_LSTAR, KTEXT_VA + 0xc00000 / 8 },
	{ VMI_MSR_STAR, 0x0023001000000000ull },
	{ VMI_MSR_CSTAR, KTEXT_VA + 0x1234 },
	{ VMI_MSR_SFMASK, 0x47700 },
	{ VMI_MSR_SYSENTER_CS, 0x10 },
	{ VMI_MSR_SYSENTER_ESP, 0xfe003000 },
	{ VMI_MSR_SYSENTER_EIP, 0x81e02000 },
};
#define NMSR (sizeof(msr_vals) / sizeof(msr_vals[0]))

static const uint64_t want_cr0 = 0x80050033, want_cr2 = 0xdead000, want_efer = 0xd01;
static const uint64_t want_idt = 0xfffffe0000000000ull, want_gdt = 0xfffffe0000001000ull;
static const uint64_t want_tr = 0xfffffe0000003000ull;

static void program_vcpu0(uint64_t cr4)
{
	struct kvm_sregs sr;
	if (ioctl(g.vcpu[0], KVM_GET_SREGS, &sr) != 0)
		die("KVM_GET_SREGS");
	sr.cr0 = want_cr0;
	sr.cr2 = want_cr2;
	sr.cr3 = g.pt.root;
	sr.cr4 = cr4;
	sr.efer = want_efer;
	sr.idt.base = want_idt;
	sr.idt.limit = 0xfff;
	sr.gdt.base = want_gdt;
	sr.gdt.limit = 0x7f;
	sr.tr.selector = 0x40;
	sr.tr.base = want_tr;
	sr.tr.limit = 0x4087;
	sr.tr.type = 11;
	sr.tr.present = 1;
	sr.cs.selector = 0x10;
	sr.cs.l = 1;
	sr.cs.db = 0;
	sr.cs.type = 11;
	sr.cs.s = 1;
	sr.cs.present = 1;
	sr.cs.base = 0;
	sr.cs.limit = 0xffffffff;
	sr.cs.g = 1;
	if (ioctl(g.vcpu[0], KVM_SET_SREGS, &sr) != 0)
		die("KVM_SET_SREGS (long mode)");
	struct kvm_msrs *m = calloc(1, sizeof(*m) + NMSR * sizeof(m->entries[0]));
	if (!m)
		die("calloc");
	m->nmsrs = NMSR;
	for (size_t i = 0; i < NMSR; i++) {
		m->entries[i].index = msr_vals[i].idx;
		m->entries[i].data = msr_vals[i].val;
	}
	int n = ioctl(g.vcpu[0], KVM_SET_MSRS, m);
	if (n != (int)NMSR) {
		fprintf(stderr, "FAIL: KVM_SET_MSRS set %d of %zu\n", n, NMSR);
		exit(1);
	}
	free(m);
}

static struct vmi_mem *open_source(void)
{
	struct vmi_kvm_slot slots[2] = { { 0, SLOT0_SIZE, g.slot0 },
					 { SLOT1_GPA, SLOT1_SIZE, g.slot1 } };
	struct vmi_mem *m = NULL;
	char err[256];
	int rc = vmi_mem_open_kvm(slots, 2, g.vcpu, 2, &m, err, sizeof(err));
	if (rc)
		fail_msg("vmi_mem_open_kvm: %s", err);
	return m;
}

static void assert_kvm(struct vmi_val v, uint64_t want)
{
	assert_int_equal(v.prov, VMI_PROV_KVM_IOCTL);
	assert_int_equal(v.v, want);
}

static void test_kvm_vcpu_state(void **state)
{
	(void)state;
	const uint64_t cr4 = VMI_X86_CR4_PAE | (1u << 9) /* OSFXSR */;
	program_vcpu0(cr4);
	struct vmi_mem *m = open_source();
	assert_string_equal(vmi_mem_kind(m), "kvm");
	struct vmi_vcpu v;
	char err[256];
	int rc = vmi_mem_read_vcpu(m, 0, &v, err, sizeof(err));
	if (rc)
		fail_msg("read vCPU 0: %s", err);
	assert_int_equal(v.index, 0);
	assert_kvm(v.cr0, want_cr0);
	assert_kvm(v.cr2, want_cr2);
	assert_kvm(v.cr3, g.pt.root);
	assert_kvm(v.cr4, cr4);
	assert_kvm(v.efer, want_efer);
	assert_kvm(v.idtr_base, want_idt);
	assert_kvm(v.idtr_limit, 0xfff);
	assert_kvm(v.gdtr_base, want_gdt);
	assert_kvm(v.gdtr_limit, 0x7f);
	assert_kvm(v.tr_sel, 0x40);
	assert_kvm(v.tr_base, want_tr);
	assert_kvm(v.lstar, msr_vals[0].val);
	assert_kvm(v.star, msr_vals[1].val);
	assert_kvm(v.cstar, msr_vals[2].val);
	assert_kvm(v.sfmask, msr_vals[3].val);
	assert_kvm(v.sysenter_cs, msr_vals[4].val);
	assert_kvm(v.sysenter_esp, msr_vals[5].val);
	assert_kvm(v.sysenter_eip, msr_vals[6].val);

	/* vCPU 1 untouched: architectural reset state */
	rc = vmi_mem_read_vcpu(m, 1, &v, err, sizeof(err));
	if (rc)
		fail_msg("read vCPU 1: %s", err);
	assert_int_equal(v.index, 1);
	assert_kvm(v.cr0, 0x60000010);
	assert_kvm(v.efer, 0);
	assert_kvm(v.lstar, 0);
	assert_int_equal(vmi_mem_read_vcpu(m, 2, &v, err, sizeof(err)), VMI_MEM_E_NO_VCPU);
	vmi_mem_close(m);

	/* a closed fd is reported, not crashed on */
	int bad[1] = { 1000 };
	struct vmi_kvm_slot s = { 0, SLOT0_SIZE, g.slot0 };
	assert_int_equal(vmi_mem_open_kvm(&s, 1, bad, 1, &m, err, sizeof(err)), 0);
	assert_int_equal(vmi_mem_read_vcpu(m, 0, &v, err, sizeof(err)), VMI_MEM_E_SYS);
	assert_non_null(strstr(err, "KVM_GET_SREGS"));
	vmi_mem_close(m);
}

static void test_kvm_memory(void **state)
{
	(void)state;
	struct vmi_mem *m = open_source();
	uint8_t buf[64];
	assert_int_equal(vmi_mem_read(m, SLOT1_GPA + 100, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, g.slot1 + 100, sizeof(buf));
	assert_int_equal(vmi_mem_read(m, SLOT0_SIZE - 8, buf, 16), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, SLOT1_GPA + SLOT1_SIZE - 8, buf, 16), VMI_MEM_E_HOLE);
	/* the VM's memory is live: host writes show through */
	g.slot1[5] = 0x99;
	assert_int_equal(vmi_mem_read(m, SLOT1_GPA + 5, buf, 1), 0);
	assert_int_equal(buf[0], 0x99);
	const void *p;
	assert_int_equal(vmi_mem_direct(m, KTEXT_PA, 2u << 20, &p), 0);
	assert_ptr_equal(p, g.slot0 + KTEXT_PA);
	vmi_mem_close(m);
	char err[128];
	struct vmi_kvm_slot ov[2] = { { 0, 0x2000, g.slot0 }, { 0x1000, 0x1000, g.slot1 } };
	assert_int_equal(vmi_mem_open_kvm(ov, 2, NULL, 0, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
}

/* KVM's own translation of va for vCPU 0, as the reference. */
static int kvm_translate(uint64_t va, struct kvm_translation *t)
{
	memset(t, 0, sizeof(*t));
	t->linear_address = va;
	return ioctl(g.vcpu[0], KVM_TRANSLATE, t);
}

static void test_kvm_walk(void **state)
{
	(void)state;
	program_vcpu0(VMI_X86_CR4_PAE);
	struct vmi_mem *m = open_source();
	struct vmi_vcpu v;
	char err[256];
	if (vmi_mem_read_vcpu(m, 0, &v, err, sizeof(err)))
		fail_msg("read vCPU 0: %s", err);
	struct vmi_x86 x;
	assert_int_equal(vmi_x86_init(&x, m, v.cr3.v, v.cr4.v, v.efer.v), 0);

	/* the syscall entry (LSTAR) lies in the 2 MiB text page */
	struct vmi_x86_xlat t;
	assert_int_equal(vmi_x86_translate(&x, v.lstar.v, &t), 0);
	assert_int_equal(t.pa, KTEXT_PA + (v.lstar.v - KTEXT_VA));
	assert_int_equal(t.page_size, 2u << 20);
	assert_false(t.writable);
	assert_false(t.nx);
	uint8_t code[32];
	assert_int_equal(vmi_x86_read(&x, v.lstar.v, code, sizeof(code)), 0);
	assert_memory_equal(code, g.slot0 + t.pa, sizeof(code));

	/* a page of the second memslot */
	assert_int_equal(vmi_x86_translate(&x, FIXMAP_VA + 0x10, &t), 0);
	assert_int_equal(t.pa, SLOT1_GPA + 0x3010);
	assert_true(t.writable);
	assert_true(t.nx);
	assert_int_equal(vmi_x86_read(&x, FIXMAP_VA + 0x10, code, 8), 0);
	assert_memory_equal(code, g.slot1 + 0x3010, 8);

	/* cross-check with KVM_TRANSLATE, mapped and unmapped addresses */
	int checked = 0, absent = 0;
	static const uint64_t vas[] = { KTEXT_VA, KTEXT_VA + 0x1fffff, FIXMAP_VA + 0xfff,
					0x400123, 0x401000, 0xffff888000000000ull, 0 };
	for (size_t i = 0; i < sizeof(vas) / sizeof(vas[0]); i++) {
		struct kvm_translation kt;
		if (kvm_translate(vas[i], &kt) != 0)
			die("KVM_TRANSLATE");
		int rc = vmi_x86_translate(&x, vas[i], &t);
		if (!kt.valid) {
			assert_int_equal(rc, VMI_X86_E_NOT_PRESENT);
			absent++;
			continue;
		}
		assert_int_equal(rc, 0);
		/* (KVM reports constant writeable/usermode flags: pa only) */
		assert_int_equal(t.pa, kt.physical_address);
		checked++;
	}
	assert_int_equal(checked, 4);
	assert_int_equal(absent, 3);
	vmi_mem_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_vcpu_state),
		cmocka_unit_test(test_kvm_memory),
		cmocka_unit_test(test_kvm_walk),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

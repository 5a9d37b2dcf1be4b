// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: performs ONE tampering action at load and undoes it at
 * unload, so the host integrity engine can be shown to detect it.
 *
 *   action=text    addr=VA [off=N] flip one byte of kernel text at VA + N
 *                                  (off lets a shell script that read VA from
 *                                  /proc/kallsyms aim inside the function)
 *   action=syscall addr=VA value=P write the 8-byte pointer P at VA
 *                                  (a sys_call_table slot)
 *   action=idt     value=N         copy IDT gate 0 over gate N (default 1)
 *   action=cr0wp                   keep CR0.WP cleared on CPU 0 until unload
 *   action=smep                    keep CR4.SMEP cleared on CPU 0 until unload
 *   action=none                    nothing: an ordinary module load/unload
 *
 * Read-only kernel memory is written through a temporary writable alias
 * (vmap of the page with PAGE_KERNEL). CR writes use the bare instruction
 * (native_write_cr0/cr4 pin these bits back).
 */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <asm/desc.h>
#include <asm/set_memory.h>

static char *action = "none";
module_param(action, charp, 0444);
static unsigned long addr;
module_param(addr, ulong, 0444);
static unsigned long value;
module_param(value, ulong, 0444);
static unsigned long off;
module_param(off, ulong, 0444);

static u8 saved[16];
static unsigned long saved_at;
static size_t saved_len;
static struct task_struct *holder;

static int poke(unsigned long where, const void *src, size_t len, void *old)
{
	unsigned long off = where & ~PAGE_MASK;
	struct page *pg;
	void *map;

	if (off + len > PAGE_SIZE)
		return -EINVAL;
	pg = pfn_to_page(PHYS_PFN(slow_virt_to_phys((void *)where)));
	map = vmap(&pg, 1, VM_MAP, PAGE_KERNEL);
	if (!map)
		return -ENOMEM;
	if (old)
		memcpy(old, map + off, len);
	memcpy(map + off, src, len);
	vunmap(map);
	return 0;
}

static int save_and_poke(unsigned long where, const void *src, size_t len)
{
	int rc = poke(where, src, len, saved);

	if (!rc) {
		saved_at = where;
		saved_len = len;
	}
	return rc;
}

static int hold_cr(void *data)
{
	bool cr4 = data != NULL;
	unsigned long v;

	while (!kthread_should_stop()) {
		if (cr4) {
			asm volatile("mov %%cr4,%0" : "=r"(v));
			v &= ~X86_CR4_SMEP;
			asm volatile("mov %0,%%cr4" : : "r"(v) : "memory");
		} else {
			asm volatile("mov %%cr0,%0" : "=r"(v));
			v &= ~X86_CR0_WP;
			asm volatile("mov %0,%%cr0" : : "r"(v) : "memory");
		}
		msleep(20);
	}
	if (cr4) {
		asm volatile("mov %%cr4,%0" : "=r"(v));
		v |= X86_CR4_SMEP;
		asm volatile("mov %0,%%cr4" : : "r"(v) : "memory");
	} else {
		asm volatile("mov %%cr0,%0" : "=r"(v));
		v |= X86_CR0_WP;
		asm volatile("mov %0,%%cr0" : : "r"(v) : "memory");
	}
	return 0;
}

static int start_holder(bool cr4)
{
	holder = kthread_create(hold_cr, cr4 ? (void *)1 : NULL, "rwtest_cr");
	if (IS_ERR(holder)) {
		int rc = PTR_ERR(holder);

		holder = NULL;
		return rc;
	}
	kthread_bind(holder, 0);
	wake_up_process(holder);
	return 0;
}

static int __init tamper_init(void)
{
	if (!strcmp(action, "none"))
		return 0;
	if (!strcmp(action, "text")) {
		u8 b;

		if (!addr || off >= PAGE_SIZE)
			return -EINVAL;
		b = *(u8 *)(addr + off) ^ 0xff;
		return save_and_poke(addr + off, &b, 1);
	}
	if (!strcmp(action, "syscall")) {
		if (!addr || !value)
			return -EINVAL;
		return save_and_poke(addr, &value, sizeof(value));
	}
	if (!strcmp(action, "idt")) {
		struct desc_ptr dt;
		unsigned long vec = value ? value : 1;

		store_idt(&dt);
		if ((vec + 1) * 16 > (unsigned long)dt.size + 1)
			return -EINVAL;
		return save_and_poke(dt.address + vec * 16, (void *)dt.address, 16);
	}
	if (!strcmp(action, "cr0wp"))
		return start_holder(false);
	if (!strcmp(action, "smep"))
		return start_holder(true);
	return -EINVAL;
}

static void __exit tamper_exit(void)
{
	if (holder)
		kthread_stop(holder);
	if (saved_len)
		poke(saved_at, saved, saved_len, NULL);
}

module_init(tamper_init);
module_exit(tamper_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch test: one tampering action, undone at unload");

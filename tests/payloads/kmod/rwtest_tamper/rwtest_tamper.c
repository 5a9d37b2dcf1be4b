// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: performs ONE tampering action at load and undoes it at
 * unload, so the host integrity engine can be shown to detect it.
 *
 *   action=text    addr=VA [off=N] flip one byte of kernel text at VA + N
 *                                  (off lets a shell script that read VA from
 *                                  /proc/kallsyms aim inside the function)
 *   action=syscall addr=VA value=P [off=N]
 *                                  write the 8-byte pointer P at VA + N
 *                                  (a sys_call_table slot; off spares a
 *                                  script 64-bit shell arithmetic)
 *   action=idt     value=N         copy IDT gate 0 over gate N (default 1)
 *   action=cr0wp                   keep CR0.WP cleared on CPU 0 until unload
 *   action=smep                    keep CR4.SMEP cleared on CPU 0 until unload
 *   action=lstar                   point MSR_LSTAR of every CPU at a trampoline
 *                                  in this module's text that jumps on to the
 *                                  original entry; unload (rmmod) is the
 *                                  restoring action: it writes the original
 *                                  value back on every CPU first
 *   action=none                    nothing: an ordinary module load/unload
 *   action=ftrace_hook [sym=NAME]  register an ftrace_ops whose function is in
 *                                  this module, filtered to NAME (default
 *                                  do_sys_openat2): NAME's ftrace site is
 *                                  patched to call the ops' trampoline
 *   action=kprobe [sym=NAME]       register a kprobe on NAME whose pre_handler
 *                                  is in this module
 *                                  (both: a hook owned by a module that is not
 *                                  on ringwatchd's hook-allow list; unregistered
 *                                  at unload)
 *
 * Acting on the module itself, [delay=S] seconds after it went live (default
 * 3), so the host has seen it whole first; these stay in effect and pin the
 * module (rmmod fails: it is in use):
 *   action=hide_list               unlink it from the `modules` list (lsmod)
 *   action=hide_kset               unlink its kobject from the module kset
 *                                  (the sysfs directory stays, the kset walk
 *                                  no longer reaches it)
 *   action=self_text               flip one byte inside one of its own
 *                                  functions (core text, not a patch site)
 * Each prints "rwtest_tamper: ACTION done" to the kernel log when performed.
 *
 * Read-only kernel memory is written through a temporary writable alias
 * (vmap of the page with PAGE_KERNEL). CR writes use the bare instruction
 * (native_write_cr0/cr4 pin these bits back).
 */
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/kobject.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/smp.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/cpufeature.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/set_memory.h>

static char *action = "none";
module_param(action, charp, 0444);
static unsigned long addr;
module_param(addr, ulong, 0444);
static unsigned long value;
module_param(value, ulong, 0444);
static unsigned long off;
module_param(off, ulong, 0444);
static char *sym = "do_sys_openat2";
module_param(sym, charp, 0444);
static unsigned int delay = 3;
module_param(delay, uint, 0444);

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

/*
 * action=lstar.  The new LSTAR must keep every CPU working: it is a
 * trampoline in this module's text, "jmp *rwtest_lstar_orig(%rip)", which
 * touches neither the stack (still the user's at that point) nor GS (swapgs
 * is the original entry's first instruction) and only reads module data.
 * A CPU enters it with interrupts masked (SFMASK clears IF), so once the
 * restoring IPI has run on a CPU no CPU is inside it and the module may go.
 *
 * This needs the module's text mapped at syscall entry.  With page table
 * isolation (PTI) the CPU enters on the user page tables, which map only the
 * entry text: a module trampoline would fault and kill the guest, and no
 * other value there would both differ and keep syscalls working.  The
 * action therefore refuses to run under PTI (-EOPNOTSUPP, logged).  The test
 * guests (QEMU TCG, -cpu max) report an AMD CPU without the Meltdown bug, so
 * PTI is off there.
 */
static unsigned long rwtest_lstar_orig __used;
void rwtest_lstar_tramp(void);
asm(".pushsection .text, \"ax\"\n"
    ".globl rwtest_lstar_tramp\n"
    ".type rwtest_lstar_tramp, @function\n"
    "rwtest_lstar_tramp:\n"
    ANNOTATE_RETPOLINE_SAFE
    "jmp *rwtest_lstar_orig(%rip)\n"
    "int3\n"
    ".size rwtest_lstar_tramp, . - rwtest_lstar_tramp\n"
    ".popsection\n");

static bool lstar_set;

static void lstar_write_local(void *v)
{
	wrmsrl(MSR_LSTAR, (unsigned long)v);
}

static int lstar_redirect(void)
{
	unsigned long cur;

	if (boot_cpu_has(X86_FEATURE_PTI)) {
		pr_err("rwtest_tamper: lstar: page table isolation is on, module text is not "
		       "mapped at syscall entry: refusing\n");
		return -EOPNOTSUPP;
	}
	rdmsrl(MSR_LSTAR, cur);
	WRITE_ONCE(rwtest_lstar_orig, cur);
	smp_mb();
	lstar_set = true;
	on_each_cpu(lstar_write_local, (void *)rwtest_lstar_tramp, 1);
	pr_info("rwtest_tamper: lstar done (LSTAR 0x%lx -> %px)\n", cur, rwtest_lstar_tramp);
	return 0;
}

static void lstar_restore(void)
{
	if (!lstar_set)
		return;
	on_each_cpu(lstar_write_local, (void *)rwtest_lstar_orig, 1);
	lstar_set = false;
	pr_info("rwtest_tamper: lstar restored (LSTAR 0x%lx)\n", rwtest_lstar_orig);
}

/*
 * The self_text victim: never called, long enough that SELF_TEXT_OFF lies in
 * its body (past the IBT landing pad and the ftrace call site at its entry).
 */
#define SELF_TEXT_OFF 0x18
static noinline int rwtest_victim(int x)
{
	int acc = 0;

	for (int i = 0; i < x; i++)
		acc = acc * 31 + (i ^ x) + (acc >> 3);
	return acc ^ 0x5a5a;
}

static void hide_from_list(void)
{
	/* module_mutex is not exported: test module, the race with a concurrent
	 * load/unload is accepted. list_del_rcu keeps ->next valid for readers. */
	preempt_disable();
	list_del_rcu(&THIS_MODULE->list);
	preempt_enable();
}

static void hide_from_kset(void)
{
	struct kobject *kobj = &THIS_MODULE->mkobj.kobj;

	if (!kobj->kset)
		return;
	spin_lock(&kobj->kset->list_lock);
	list_del_init(&kobj->entry);
	spin_unlock(&kobj->kset->list_lock);
}

static int flip_own_text(void)
{
	unsigned long at = (unsigned long)rwtest_victim + SELF_TEXT_OFF;
	u8 b = *(u8 *)at ^ 0xff;

	return poke(at, &b, 1, NULL);
}

static void self_action(struct work_struct *w)
{
	int rc = 0;

	(void)w;
	if (!strcmp(action, "hide_list"))
		hide_from_list();
	else if (!strcmp(action, "hide_kset"))
		hide_from_kset();
	else
		rc = flip_own_text();
	if (rc)
		pr_err("rwtest_tamper: %s failed: %d\n", action, rc);
	else
		pr_info("rwtest_tamper: %s done (victim %ps at %px)\n", action, rwtest_victim,
			rwtest_victim);
}

static DECLARE_DELAYED_WORK(self_work, self_action);

/* ---- hooks owned by this module -------------------------------------------------- */

static atomic_long_t hook_hits = ATOMIC_LONG_INIT(0);
static bool ftrace_registered, kprobe_registered;

static void notrace rwtest_ftrace_func(unsigned long ip, unsigned long parent_ip,
				       struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	atomic_long_inc(&hook_hits);
}

static struct ftrace_ops rwtest_ops = {
	.func = rwtest_ftrace_func,
};

static int rwtest_kprobe_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_long_inc(&hook_hits);
	return 0;
}

static struct kprobe rwtest_kp = {
	.pre_handler = rwtest_kprobe_pre,
};

static int ftrace_hook(void)
{
	int rc = ftrace_set_filter(&rwtest_ops, (unsigned char *)sym, strlen(sym), 1);

	if (rc)
		return rc;
	rc = register_ftrace_function(&rwtest_ops);
	if (rc)
		return rc;
	ftrace_registered = true;
	pr_info("rwtest_tamper: ftrace_hook done (ops %px, handler %px on %s)\n", &rwtest_ops,
		rwtest_ftrace_func, sym);
	return 0;
}

static int kprobe_hook(void)
{
	int rc;

	rwtest_kp.symbol_name = sym;
	rc = register_kprobe(&rwtest_kp);
	if (rc)
		return rc;
	kprobe_registered = true;
	pr_info("rwtest_tamper: kprobe done (at %px, pre_handler %px on %s)\n", rwtest_kp.addr,
		rwtest_kprobe_pre, sym);
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
		if (!addr || !value || off >= PAGE_SIZE || off % sizeof(value))
			return -EINVAL;
		return save_and_poke(addr + off, &value, sizeof(value));
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
	if (!strcmp(action, "lstar"))
		return lstar_redirect();
	if (!strcmp(action, "ftrace_hook"))
		return ftrace_hook();
	if (!strcmp(action, "kprobe"))
		return kprobe_hook();
	if (!strcmp(action, "hide_list") || !strcmp(action, "hide_kset") ||
	    !strcmp(action, "self_text")) {
		if (rwtest_victim(0) != 0x5a5a)	/* keep the victim referenced */
			return -EINVAL;
		__module_get(THIS_MODULE);	/* pinned: unload would undo nothing */
		schedule_delayed_work(&self_work, (unsigned long)delay * HZ);
		return 0;
	}
	return -EINVAL;
}

static void __exit tamper_exit(void)
{
	lstar_restore();	/* first: the trampoline goes with the module */
	if (ftrace_registered)
		unregister_ftrace_function(&rwtest_ops);
	if (kprobe_registered)
		unregister_kprobe(&rwtest_kp);
	if (ftrace_registered || kprobe_registered)
		pr_info("rwtest_tamper: hook removed after %ld hit(s)\n",
			atomic_long_read(&hook_hits));
	if (holder)
		kthread_stop(holder);
	if (saved_len)
		poke(saved_at, saved, saved_len, NULL);
}

module_init(tamper_init);
module_exit(tamper_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch test: one tampering action, undone at unload");

// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: a ring-0 attacker going for ringwatch's BPF half, the
 * way the guard's userspace-facing protections cannot stop.
 *
 *   action=kill   pid=N   SIGKILL process N from the kernel (a kernel-sent
 *                         signal skips security_task_kill(), so the BPF
 *                         guard that refuses signals to the agent does not
 *                         see it).  Nothing to undo.
 *   action=unhook addr=VA silence one BPF LSM hook without touching any BPF
 *                         object: VA is a bpf_lsm_<hook> entry whose ftrace
 *                         site holds the CALL to the BPF trampoline; it is
 *                         overwritten with the 5-byte NOP it has when nothing
 *                         is attached (links, pins, bpftool all still look
 *                         fine).  Unload writes the CALL back.
 *
 * Text is written through a temporary writable alias of its page (vmap with
 * PAGE_KERNEL) while every other CPU is held in stop_machine().
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <asm/set_memory.h>

#define SITE_LEN 5

static char *action = "none";
module_param(action, charp, 0444);
static int pid;
module_param(pid, int, 0444);
static unsigned long addr;
module_param(addr, ulong, 0444);

static const u8 nop5[SITE_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static u8 saved[SITE_LEN];
static bool unhooked;

struct site_write {
	u8 *dst;		/* writable alias of the site */
	const u8 *src;
};

static int site_write_stopped(void *arg)
{
	struct site_write *w = arg;

	memcpy(w->dst, w->src, SITE_LEN);
	return 0;
}

static int site_write(unsigned long where, const u8 *src)
{
	unsigned long off = where & ~PAGE_MASK;
	struct site_write w = { .src = src };
	struct page *pg;
	void *map;
	int rc;

	if (off + SITE_LEN > PAGE_SIZE)
		return -EINVAL;
	pg = pfn_to_page(PHYS_PFN(slow_virt_to_phys((void *)where)));
	map = vmap(&pg, 1, VM_MAP, PAGE_KERNEL);
	if (!map)
		return -ENOMEM;
	w.dst = map + off;
	rc = stop_machine(site_write_stopped, &w, NULL);
	vunmap(map);
	return rc;
}

static int kill_from_kernel(void)
{
	struct pid *p = find_get_pid(pid);
	struct task_struct *t = p ? get_pid_task(p, PIDTYPE_PID) : NULL;
	int rc = -ESRCH;

	if (t) {
		rc = send_sig(SIGKILL, t, 1);
		put_task_struct(t);
	}
	put_pid(p);
	if (!rc)
		pr_info("rwtest_guard: kill of pid %d done\n", pid);
	return rc;
}

static int unhook(void)
{
	int rc;

	if (!addr)
		return -EINVAL;
	if (copy_from_kernel_nofault(saved, (void *)addr, SITE_LEN))
		return -EFAULT;
	if (saved[0] != 0xe8 && saved[0] != 0xe9)
		return -ENOENT;		/* no trampoline there */
	rc = site_write(addr, nop5);
	if (!rc) {
		unhooked = true;
		pr_info("rwtest_guard: unhook of %ps done\n", (void *)addr);
	}
	return rc;
}

static int __init guard_init(void)
{
	if (!strcmp(action, "none"))
		return 0;
	if (!strcmp(action, "kill"))
		return pid > 1 ? kill_from_kernel() : -EINVAL;
	if (!strcmp(action, "unhook"))
		return unhook();
	return -EINVAL;
}

static void __exit guard_exit(void)
{
	if (unhooked && !site_write(addr, saved))
		pr_info("rwtest_guard: %ps rehooked\n", (void *)addr);
}

module_init(guard_init);
module_exit(guard_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch test: kill the agent / unhook a BPF LSM hook from ring 0");

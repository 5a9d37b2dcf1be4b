// SPDX-License-Identifier: GPL-2.0
/*
 * The agent and its BPF partners.
 *
 * ringwatch-agent registers by opening /sys/kernel/security/ringwatch/agent
 * read-write and keeping it open for its whole life; it then writes one line,
 * "hooks <lsm hook> ...", naming the LSM hooks its programs are attached to.
 * An agent that stops on purpose (SIGTERM from init, the host's "restart")
 * writes "bye" first: its release is then logged locally, not reported as
 * a loss, and agent_back still reports the gap (after=stopped).
 *
 *  - Registration is refused unless the opener has CAP_SYS_ADMIN, runs the
 *    binary named by the agent_exe parameter (default
 *    /usr/sbin/ringwatch-agent; "" accepts any) and the module is armed.
 *    One agent at a time: a second open gets -EBUSY.
 *  - The release of that file is the agent's end, however it came (exit,
 *    SIGKILL, crash): no polling, reported at once as agent_lost.  The next
 *    registration reports agent_back with the gap in milliseconds.
 *  - Partners: on the timer, the entry of each bpf_lsm_<hook> must still hold
 *    the CALL (or JMP) ftrace patched in when the BPF trampoline was
 *    attached; the 5-byte NOP it has with nothing attached, or any other
 *    instruction, is reported as partner_detached (once), a CALL/JMP again as
 *    partner_restored.  An INT3 (a text_poke in progress) keeps the previous
 *    state until the next tick.  Where the CALL goes is not judged here: the
 *    host validates ftrace sites against the image.  The partner list stays
 *    while the agent is gone (its links are pinned, they outlive it).
 *  - Disarm: the registered file polls POLLHUP; the agent closes it (that
 *    release is not a loss) so the module can be unloaded.  While disarmed no
 *    agent can register.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "ringwatch.h"

#define RW_PARTNER_MAX		64
#define RW_HOOK_NAME_MAX	48	/* without "bpf_lsm_" */
#define RW_AGENT_WRITE_MAX	PAGE_SIZE
#define RW_SITE_LEN		5	/* CALL rel32 / NOP5 */

static char *agent_exe = "/usr/sbin/ringwatch-agent";
module_param(agent_exe, charp, 0444);
MODULE_PARM_DESC(agent_exe, "Path of the only binary that may register as the agent (\"\": any)");

struct rw_partner {
	char hook[RW_HOOK_NAME_MAX];
	unsigned long site;		/* bpf_lsm_<hook> entry */
	bool detached;			/* reported detached, until restored */
};

static DEFINE_MUTEX(rw_agent_lock);
static DECLARE_WAIT_QUEUE_HEAD(rw_agent_wait);
static struct {
	struct file *file;		/* the registration; NULL: none */
	pid_t pid;
	char comm[TASK_COMM_LEN];
	bool ever;			/* an agent registered since load */
	u64 lost_at_ns;			/* boottime of an unanswered loss, 0: none */
	pid_t lost_pid;
	unsigned int losses;
	bool bye;			/* the registered agent is stopping */
	bool lost_by_bye;		/* the unanswered gap was announced */
	bool revoked;			/* disarmed: agents must let go */
	struct rw_partner *partners;	/* RW_PARTNER_MAX entries */
	unsigned int nr_partners;
} rw_agent;

static unsigned long (*rw_kallsyms_lookup)(const char *name);
static struct dentry *rw_agent_dentry;

/* kallsyms_lookup_name is not exported: its address comes from a kprobe. */
static int rw_agent_find_kallsyms(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int err = register_kprobe(&kp);

	if (err)
		return err;
	rw_kallsyms_lookup = (unsigned long (*)(const char *))kp.addr;
	unregister_kprobe(&kp);
	return rw_kallsyms_lookup ? 0 : -ENOENT;
}

enum rw_site_state { RW_SITE_ATTACHED, RW_SITE_DETACHED, RW_SITE_PATCHING };

static enum rw_site_state rw_site_classify(const u8 insn[RW_SITE_LEN])
{
	if (insn[0] == 0xe8 || insn[0] == 0xe9)	/* CALL / JMP rel32 */
		return RW_SITE_ATTACHED;
	if (insn[0] == 0xcc)			/* text_poke_bp() under way */
		return RW_SITE_PATCHING;
	return RW_SITE_DETACHED;		/* NOP5, or anything else */
}

/* Check one partner; report its transitions.  Under rw_agent_lock. */
static void rw_partner_check(struct rw_partner *p, const char *why)
{
	u8 insn[RW_SITE_LEN];
	enum rw_site_state st;

	if (copy_from_kernel_nofault(insn, (void *)p->site, sizeof(insn)))
		memset(insn, 0, sizeof(insn));	/* unreadable: not attached */
	st = rw_site_classify(insn);
	if (st == RW_SITE_PATCHING)
		return;
	if (st == RW_SITE_DETACHED && !p->detached) {
		p->detached = true;
		rw_report_event(RW_EV_PARTNER_DETACHED,
				"hook=%s site=0x%lx insn=%*phN reason=%s",
				p->hook, p->site, RW_SITE_LEN, insn, why);
	} else if (st == RW_SITE_ATTACHED && p->detached) {
		p->detached = false;
		rw_report_event(RW_EV_PARTNER_RESTORED, "hook=%s site=0x%lx insn=%*phN",
				p->hook, p->site, RW_SITE_LEN, insn);
	}
}

void rw_agent_tick(void)
{
	unsigned int i;

	mutex_lock(&rw_agent_lock);
	for (i = 0; i < rw_agent.nr_partners; i++)
		rw_partner_check(&rw_agent.partners[i], "not_trampolined");
	mutex_unlock(&rw_agent_lock);
}

void rw_agent_revoke(void)
{
	mutex_lock(&rw_agent_lock);
	rw_agent.revoked = true;
	mutex_unlock(&rw_agent_lock);
	wake_up_interruptible_all(&rw_agent_wait);
}

void rw_agent_show_status(struct seq_file *m)
{
	unsigned int i, detached = 0;

	mutex_lock(&rw_agent_lock);
	for (i = 0; i < rw_agent.nr_partners; i++)
		detached += rw_agent.partners[i].detached;
	seq_printf(m, "agent_registered=%d\n", rw_agent.file != NULL);
	seq_printf(m, "agent_pid=%d\n", rw_agent.file ? rw_agent.pid : 0);
	seq_printf(m, "agent_losses=%u\n", rw_agent.losses);
	seq_printf(m, "agent_partners=%u\n", rw_agent.nr_partners);
	seq_printf(m, "agent_partners_detached=%u\n", detached);
	mutex_unlock(&rw_agent_lock);
}

/* True when current runs agent_exe (or agent_exe is empty). */
static bool rw_agent_exe_ok(void)
{
	struct mm_struct *mm = current->mm;
	struct file *exe = NULL;
	char *buf, *path;
	bool ok = false;

	if (!agent_exe || !agent_exe[0])
		return true;
	if (!mm)
		return false;
	rcu_read_lock();
	exe = rcu_dereference(mm->exe_file);
	if (exe && !get_file_rcu(exe))
		exe = NULL;
	rcu_read_unlock();
	if (!exe)
		return false;
	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (buf) {
		path = file_path(exe, buf, PATH_MAX);
		ok = !IS_ERR(path) && !strcmp(path, agent_exe);
		kfree(buf);
	}
	fput(exe);
	return ok;
}

static int rw_agent_open(struct inode *inode, struct file *file)
{
	int err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!(file->f_mode & FMODE_WRITE))
		return -EINVAL;
	if (!rw_agent_exe_ok())
		return -EACCES;
	mutex_lock(&rw_agent_lock);
	if (rw_agent.revoked || !rw_selfprot_armed()) {
		err = -EPERM;
	} else if (rw_agent.file) {
		err = -EBUSY;
	} else {
		rw_agent.file = file;
		rw_agent.bye = false;
		rw_agent.pid = task_tgid_nr(current);
		get_task_comm(rw_agent.comm, current);
		if (rw_agent.lost_at_ns) {
			u64 gap = ktime_get_boottime_ns() - rw_agent.lost_at_ns;

			rw_report_event(RW_EV_AGENT_BACK,
					"pid=%d comm=%s gap_ms=%llu after=%s lost_pid=%d losses=%u",
					rw_agent.pid, rw_agent.comm,
					div_u64(gap, NSEC_PER_MSEC),
					rw_agent.lost_by_bye ? "stopped" : "lost",
					rw_agent.lost_pid, rw_agent.losses);
			rw_agent.lost_at_ns = 0;
		} else if (!rw_agent.ever) {
			rw_report_event(RW_EV_AGENT_REGISTERED, "pid=%d comm=%s",
					rw_agent.pid, rw_agent.comm);
		}
		rw_agent.ever = true;
	}
	mutex_unlock(&rw_agent_lock);
	return err;
}

static int rw_agent_release(struct inode *inode, struct file *file)
{
	mutex_lock(&rw_agent_lock);
	if (rw_agent.file == file) {
		rw_agent.file = NULL;
		if (rw_agent.revoked) {
			rw_report_event(RW_EV_AGENT_RELEASED, "pid=%d reason=disarmed",
					rw_agent.pid);
		} else if (rw_agent.bye) {
			rw_agent.lost_at_ns = ktime_get_boottime_ns() ?: 1;
			rw_agent.lost_pid = rw_agent.pid;
			rw_agent.lost_by_bye = true;
			rw_report_event(RW_EV_AGENT_RELEASED, "pid=%d reason=stopped",
					rw_agent.pid);
		} else {
			rw_agent.lost_at_ns = ktime_get_boottime_ns() ?: 1;
			rw_agent.lost_pid = rw_agent.pid;
			rw_agent.lost_by_bye = false;
			rw_agent.losses++;
			/* exiting: exit_code is the signal or (status << 8) */
			rw_report_event(RW_EV_AGENT_LOST,
					"pid=%d comm=%s exiting=%d exit_code=0x%x releaser=%d",
					rw_agent.pid, rw_agent.comm,
					!!(current->flags & PF_EXITING),
					current->exit_code, task_tgid_nr(current));
		}
	}
	mutex_unlock(&rw_agent_lock);
	return 0;
}

static __poll_t rw_agent_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &rw_agent_wait, wait);
	return READ_ONCE(rw_agent.revoked) ? EPOLLHUP | EPOLLERR : 0;
}

/* Parse "hooks a b c" into @out; returns the count or -errno. */
static int rw_agent_parse_hooks(char *line, struct rw_partner *out)
{
	char sym[sizeof("bpf_lsm_") + RW_HOOK_NAME_MAX];
	unsigned int n = 0;
	char *tok;

	if (!str_has_prefix(line, "hooks "))
		return -EINVAL;
	line += strlen("hooks ");
	while ((tok = strsep(&line, " \t\n")) != NULL) {
		size_t len = strlen(tok), i;

		if (!len)
			continue;
		if (len >= RW_HOOK_NAME_MAX || n >= RW_PARTNER_MAX)
			return -E2BIG;
		for (i = 0; i < len; i++)
			if (!isalnum(tok[i]) && tok[i] != '_')
				return -EINVAL;
		snprintf(sym, sizeof(sym), "bpf_lsm_%s", tok);
		out[n].site = rw_kallsyms_lookup(sym);
		if (!out[n].site)
			return -ENOENT;
		strscpy(out[n].hook, tok, sizeof(out[n].hook));
		out[n].detached = false;
		n++;
	}
	return n ? n : -EINVAL;
}

static ssize_t rw_agent_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct rw_partner *list, *old;
	unsigned int i;
	char *line;
	int n;

	if (!count || count > RW_AGENT_WRITE_MAX)
		return -EINVAL;
	line = memdup_user_nul(ubuf, count);
	if (IS_ERR(line))
		return PTR_ERR(line);
	if (!strcmp(strim(line), "bye")) {
		kfree(line);
		mutex_lock(&rw_agent_lock);
		n = rw_agent.file == file ? 0 : -EBADF;
		if (!n)
			rw_agent.bye = true;
		mutex_unlock(&rw_agent_lock);
		return n ? n : count;
	}
	list = kcalloc(RW_PARTNER_MAX, sizeof(*list), GFP_KERNEL);
	if (!list) {
		kfree(line);
		return -ENOMEM;
	}
	n = rw_agent_parse_hooks(strim(line), list);
	kfree(line);
	if (n < 0) {
		kfree(list);
		return n;
	}
	mutex_lock(&rw_agent_lock);
	if (rw_agent.file != file) {
		mutex_unlock(&rw_agent_lock);
		kfree(list);
		return -EBADF;
	}
	/* A hook still detached stays reported as such. */
	for (i = 0; i < (unsigned int)n && rw_agent.partners; i++) {
		unsigned int j;

		for (j = 0; j < rw_agent.nr_partners; j++)
			if (!strcmp(list[i].hook, rw_agent.partners[j].hook))
				list[i].detached = rw_agent.partners[j].detached;
	}
	old = rw_agent.partners;
	rw_agent.partners = list;
	rw_agent.nr_partners = n;
	/* The agent says they are attached: check that at once. */
	for (i = 0; i < rw_agent.nr_partners; i++)
		rw_partner_check(&rw_agent.partners[i], "not_trampolined_at_registration");
	mutex_unlock(&rw_agent_lock);
	kfree(old);
	return count;
}

static const struct file_operations rw_agent_fops = {
	.owner = THIS_MODULE,
	.open = rw_agent_open,
	.release = rw_agent_release,
	.write = rw_agent_write,
	.poll = rw_agent_poll,
	.llseek = noop_llseek,
};

int rw_agent_init(struct dentry *dir)
{
	struct dentry *d;
	int err;

	err = rw_agent_find_kallsyms();
	if (err) {
		pr_err("cannot find kallsyms_lookup_name: %d\n", err);
		return err;
	}
	d = securityfs_create_file("agent", 0600, dir, NULL, &rw_agent_fops);
	if (IS_ERR(d))
		return PTR_ERR(d);
	rw_agent_dentry = d;
	return 0;
}

void rw_agent_exit(void)
{
	/* An open registration holds the module: nobody is registered here. */
	securityfs_remove(rw_agent_dentry);
	rw_agent_dentry = NULL;
	kfree(rw_agent.partners);
	rw_agent.partners = NULL;
	rw_agent.nr_partners = 0;
}

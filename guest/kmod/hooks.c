// SPDX-License-Identifier: GPL-2.0
/*
 * Kprobe registration for all subsystems, integrity of the registered
 * probes, and refusing a probed call.
 *
 * Every hook sits at a function entry that ftrace can patch, so the
 * handlers run in the context of the caller (not in the int3 exception)
 * and a handler may make the function return at once with an error: it
 * points regs->ip at an empty function, which returns to the caller with
 * the stack untouched and the error in %rax.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/mutex.h>
#include <linux/poison.h>

#include "ringwatch.h"

#define RW_HOOK_GROUPS	4

static struct rw_hook_group {
	struct rw_hook *hooks;
	unsigned int n;
} rw_groups[RW_HOOK_GROUPS];
static DEFINE_MUTEX(rw_groups_lock);

/* Reached by "returning" from a probed function: %rax holds the result. */
static noinline notrace void rw_hook_return(void)
{
}

int rw_hook_deny(struct pt_regs *regs, long err)
{
	regs->ax = (unsigned long)err;
	instruction_pointer_set(regs, (unsigned long)rw_hook_return);
	return 1;	/* regs->ip changed: kprobes must not single-step */
}

/* Having a post handler makes kprobes declare that we change regs->ip. */
static void rw_hook_post_nop(struct kprobe *p, struct pt_regs *regs,
			     unsigned long flags)
{
}

static bool rw_hook_at_ftrace_entry(const struct kprobe *kp)
{
	return (kp->flags & KPROBE_FLAG_FTRACE) &&
	       (kp->flags & KPROBE_FLAG_ON_FUNC_ENTRY);
}

int rw_hooks_register(struct rw_hook *hooks, unsigned int n)
{
	unsigned int i, g;
	int err = 0;

	mutex_lock(&rw_groups_lock);
	g = 0;
	while (g < RW_HOOK_GROUPS && rw_groups[g].hooks)
		g++;
	if (g == RW_HOOK_GROUPS) {
		mutex_unlock(&rw_groups_lock);
		return -ENOSPC;
	}
	for (i = 0; i < n; i++) {
		hooks[i].lost = false;
		if (hooks[i].can_deny)
			hooks[i].kp.post_handler = rw_hook_post_nop;
		err = register_kprobe(&hooks[i].kp);
		if (err) {
			pr_err("cannot hook %s: %d\n", hooks[i].kp.symbol_name, err);
			break;
		}
		if (!rw_hook_at_ftrace_entry(&hooks[i].kp)) {
			pr_err("hook %s is not at an ftrace function entry\n",
			       hooks[i].kp.symbol_name);
			unregister_kprobe(&hooks[i].kp);
			err = -EOPNOTSUPP;
			break;
		}
	}
	if (err) {
		while (i--)
			unregister_kprobe(&hooks[i].kp);
	} else {
		rw_groups[g].hooks = hooks;
		rw_groups[g].n = n;
	}
	mutex_unlock(&rw_groups_lock);
	return err;
}

void rw_hooks_unregister(struct rw_hook *hooks, unsigned int n)
{
	unsigned int g, i;

	mutex_lock(&rw_groups_lock);
	for (g = 0; g < RW_HOOK_GROUPS; g++) {
		if (rw_groups[g].hooks == hooks) {
			rw_groups[g].hooks = NULL;
			rw_groups[g].n = 0;
		}
	}
	mutex_unlock(&rw_groups_lock);
	for (i = 0; i < n; i++)
		unregister_kprobe(&hooks[i].kp);
}

unsigned long rw_hooks_missed(const struct rw_hook *hooks, unsigned int n)
{
	unsigned long sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += READ_ONCE(hooks[i].kp.nmissed);
	return sum;
}

/*
 * Unregistered by someone else: unregister_kprobe() unlinks the probe
 * (poisoning the list pointers) or marks it gone/disabled.  A probe that
 * merely became part of an aggregate (another probe on the same address)
 * has its hash link replaced but stays linked on the aggregate's list.
 */
static bool rw_hook_intact(struct kprobe *kp)
{
	if (kprobe_disabled(kp))
		return false;
	if (kp->list.prev == LIST_POISON2)
		return false;
	if (kp->hlist.pprev == LIST_POISON2 && list_empty(&kp->list))
		return false;
	return true;
}

bool rw_hooks_check(void)
{
	bool all = true;
	unsigned int g, i;

	mutex_lock(&rw_groups_lock);
	for (g = 0; g < RW_HOOK_GROUPS; g++) {
		for (i = 0; i < rw_groups[g].n; i++) {
			struct rw_hook *h = &rw_groups[g].hooks[i];
			bool intact = rw_hook_intact(&h->kp);

			if (!intact && !h->lost)
				rw_report_event(RW_EV_HOOK_LOST,
						"hook=%s reason=unregistered_or_disabled flags=0x%x",
						h->kp.symbol_name, h->kp.flags);
			else if (intact && h->lost)
				rw_report_event(RW_EV_HOOK_RESTORED, "hook=%s",
						h->kp.symbol_name);
			h->lost = !intact;
			all &= intact;
		}
	}
	mutex_unlock(&rw_groups_lock);
	return all;
}

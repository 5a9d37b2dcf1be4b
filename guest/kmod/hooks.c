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
 *
 * Hot checks use a bare ftrace_ops instead (struct rw_fhook): one callback
 * filtered to the one function, called from the ftrace trampoline with the
 * argument registers only (no full register save, no kprobe lookup, no
 * single-step emulation).  To refuse the call it points the saved ip at a
 * replacement with the function's prototype that returns the error, so the
 * caller gets it as the function's result.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/mutex.h>
#include <linux/poison.h>

#include "ringwatch.h"

#define RW_HOOK_GROUPS	4
#define RW_FHOOKS_MAX	4

static struct rw_hook_group {
	struct rw_hook *hooks;
	unsigned int n;
} rw_groups[RW_HOOK_GROUPS];
static struct rw_fhook *rw_fhooks[RW_FHOOKS_MAX];
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

static void rw_hook_note(bool intact, bool *lost, const char *symbol,
			 unsigned long flags)
{
	if (!intact && !*lost)
		rw_report_event(RW_EV_HOOK_LOST,
				"hook=%s reason=unregistered_or_disabled flags=0x%lx",
				symbol, flags);
	else if (intact && *lost)
		rw_report_event(RW_EV_HOOK_RESTORED, "hook=%s", symbol);
	*lost = !intact;
}

/* ---- ftrace hooks ------------------------------------------------------- */

static void notrace rw_fhook_call(unsigned long ip, unsigned long parent_ip,
				  struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct rw_fhook *h = container_of(ops, struct rw_fhook, ops);
	int bit;

	/* Also disables preemption until the unlock. */
	bit = ftrace_test_recursion_trylock(ip, parent_ip);
	if (bit < 0)
		return;
	if (h->check())
		ftrace_instruction_pointer_set(fregs, (unsigned long)h->deny_to);
	ftrace_test_recursion_unlock(bit);
}

int rw_fhook_register(struct rw_fhook *h)
{
	char filter[KSYM_NAME_LEN];
	unsigned int i;
	int err;

	if (strscpy(filter, h->symbol, sizeof(filter)) < 0)
		return -EINVAL;
	h->lost = false;
	h->ops.func = rw_fhook_call;
	/*
	 * RECURSION: the callback guards itself, so ftrace calls it straight
	 * from the trampoline; IPMODIFY: it may redirect the call; PERMANENT:
	 * ftrace cannot be switched off (sysctl ftrace_enabled) under it.
	 */
	h->ops.flags = FTRACE_OPS_FL_RECURSION | FTRACE_OPS_FL_IPMODIFY |
		       FTRACE_OPS_FL_PERMANENT;
	err = ftrace_set_filter(&h->ops, filter, strlen(filter), 1);
	if (err) {
		pr_err("cannot filter ftrace hook to %s: %d\n", h->symbol, err);
		return err;
	}
	mutex_lock(&rw_groups_lock);
	for (i = 0; i < RW_FHOOKS_MAX && rw_fhooks[i]; i++)
		;
	if (i == RW_FHOOKS_MAX) {
		err = -ENOSPC;
	} else {
		err = register_ftrace_function(&h->ops);
		if (err)
			pr_err("cannot hook %s with ftrace: %d\n", h->symbol, err);
		else
			rw_fhooks[i] = h;
	}
	mutex_unlock(&rw_groups_lock);
	if (err)
		ftrace_free_filter(&h->ops);
	return err;
}

void rw_fhook_unregister(struct rw_fhook *h)
{
	unsigned int i;
	bool found = false;

	mutex_lock(&rw_groups_lock);
	for (i = 0; i < RW_FHOOKS_MAX; i++) {
		if (rw_fhooks[i] == h) {
			rw_fhooks[i] = NULL;
			found = true;
		}
	}
	mutex_unlock(&rw_groups_lock);
	if (!found)
		return;
	unregister_ftrace_function(&h->ops);
	ftrace_free_filter(&h->ops);
}

/* Registered and patched in: ftrace clears ENABLED when the ops goes. */
static bool rw_fhook_intact(const struct rw_fhook *h)
{
	return READ_ONCE(h->ops.flags) & FTRACE_OPS_FL_ENABLED;
}

bool rw_hooks_check(void)
{
	bool all = true;
	unsigned int g, i;

	mutex_lock(&rw_groups_lock);
	for (i = 0; i < RW_FHOOKS_MAX; i++) {
		struct rw_fhook *fh = rw_fhooks[i];
		bool intact;

		if (!fh)
			continue;
		intact = rw_fhook_intact(fh);
		rw_hook_note(intact, &fh->lost, fh->symbol, READ_ONCE(fh->ops.flags));
		all &= intact;
	}
	for (g = 0; g < RW_HOOK_GROUPS; g++) {
		for (i = 0; i < rw_groups[g].n; i++) {
			struct rw_hook *h = &rw_groups[g].hooks[i];
			bool intact = rw_hook_intact(&h->kp);

			rw_hook_note(intact, &h->lost, h->kp.symbol_name, h->kp.flags);
			all &= intact;
		}
	}
	mutex_unlock(&rw_groups_lock);
	return all;
}

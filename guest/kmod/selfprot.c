// SPDX-License-Identifier: GPL-2.0
/*
 * Self-description and self-protection.
 *
 * Armed (module parameter, default on) means: the module holds a reference
 * on itself, so "rmmod" fails, and delete_module() naming it is refused
 * and reported (which also stops "rmmod -f").  The only way out is the
 * disarm token given at load: writing it to
 * /sys/kernel/security/ringwatch/disarm drops the reference.  The token is
 * meant to be owned by the host's policy; without one the module stays
 * until reboot.
 *
 * Integrity of the hooks is checked on the timer: probes unregistered or
 * disabled are reported, and the capability hook is made to fire (which
 * also notices kprobes being switched off globally).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/algapi.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ringwatch.h"

#define RW_TOKEN_MIN	8
#define RW_TOKEN_MAX	64

static bool armed = true;
module_param(armed, bool, 0444);
MODULE_PARM_DESC(armed, "Refuse unloading until disarmed with the token (default 1)");

static char *disarm_token;
module_param(disarm_token, charp, 0);
MODULE_PARM_DESC(disarm_token, "Secret that disarms the module (8..64 chars; host policy)");

static DEFINE_MUTEX(rw_arm_lock);
static bool rw_armed;			/* holds a module reference */
static char rw_token[RW_TOKEN_MAX];
static size_t rw_token_len;
static bool rw_hooks_dead;		/* latched "capability hook silent" */
static u64 rw_heartbeat_count;

bool rw_selfprot_armed(void)
{
	return READ_ONCE(rw_armed);
}

void rw_selfprot_describe(void)
{
	const struct module_layout *l = &THIS_MODULE->core_layout;
	struct rw_self_desc d;

	d.base = (unsigned long)l->base;
	d.text_end = d.base + l->text_size;
	d.ro_end = d.base + l->ro_size;
	d.ro_after_init_end = d.base + l->ro_after_init_size;
	d.end = d.base + l->size;
	rw_report_self(&d);
}

/* Copy a user string without faulting pages in (we run in a kprobe). */
static bool rw_user_string_nofault(char *dst, const char __user *src, size_t size)
{
	size_t done = 0;

	while (done < size) {
		size_t n = min_t(size_t, size - done,
				 PAGE_SIZE - offset_in_page((unsigned long)src + done));

		if (copy_from_user_nofault(dst + done, src + done, n))
			return false;
		if (memchr(dst + done, '\0', n))
			return true;
		done += n;
	}
	return false;
}

/* __x64_sys_delete_module(const struct pt_regs *regs) */
static int rw_pre_delete_module(struct kprobe *p, struct pt_regs *regs)
{
	const struct pt_regs *uregs = (const struct pt_regs *)regs->di;
	char name[MODULE_NAME_LEN];

	if (!READ_ONCE(rw_armed) || !uregs)
		return 0;
	if (!rw_user_string_nofault(name, (const char __user *)uregs->di,
				    sizeof(name)))
		return 0;
	if (strcmp(name, THIS_MODULE->name))
		return 0;
	rw_report_event(RW_EV_UNLOAD_ATTEMPT, "pid=%d comm=%s flags=0x%lx action=refused",
			task_pid_nr(current), current->comm, uregs->si);
	return rw_hook_deny(regs, -EPERM);
}

static struct rw_hook rw_self_hooks[] = {
	{ .kp = { .symbol_name = "__x64_sys_delete_module",
		  .pre_handler = rw_pre_delete_module }, .can_deny = true },
};

int rw_selfprot_disarm(const char *token, size_t len)
{
	int err = 0;

	while (len && (token[len - 1] == '\n' || token[len - 1] == '\0'))
		len--;
	mutex_lock(&rw_arm_lock);
	if (!rw_armed) {
		err = -EALREADY;
	} else if (!rw_token_len || len != rw_token_len ||
		   crypto_memneq(token, rw_token, len)) {
		rw_report_event(RW_EV_DISARM_REFUSED, "pid=%d comm=%s",
				task_pid_nr(current), current->comm);
		err = -EACCES;
	} else {
		WRITE_ONCE(rw_armed, false);
		module_put(THIS_MODULE);
		rw_agent_revoke();	/* its registration would pin us */
		rw_report_event(RW_EV_DISARMED, "pid=%d comm=%s",
				task_pid_nr(current), current->comm);
	}
	mutex_unlock(&rw_arm_lock);
	return err;
}

void rw_selfprot_tick(void)
{
	bool intact, alive;

	intact = rw_hooks_check();
	alive = rw_cred_hooks_alive();
	if (!alive && !rw_hooks_dead)
		rw_report_event(RW_EV_HOOK_LOST,
				"hook=security_capable reason=not_firing");
	else if (alive && rw_hooks_dead)
		rw_report_event(RW_EV_HOOK_RESTORED, "hook=security_capable");
	rw_hooks_dead = !alive;
	rw_cred_tracking(intact && alive);
	rw_report_heartbeat(++rw_heartbeat_count);
}

int rw_selfprot_init(void)
{
	int err;

	if (disarm_token) {
		rw_token_len = strlen(disarm_token);
		if (rw_token_len < RW_TOKEN_MIN || rw_token_len > RW_TOKEN_MAX) {
			pr_err("disarm_token must have %d..%d characters\n",
			       RW_TOKEN_MIN, RW_TOKEN_MAX);
			return -EINVAL;
		}
		memcpy(rw_token, disarm_token, rw_token_len);
		memzero_explicit(disarm_token, rw_token_len);
	}
	err = rw_hooks_register(rw_self_hooks, ARRAY_SIZE(rw_self_hooks));
	if (err)
		return err;
	if (armed) {
		__module_get(THIS_MODULE);
		rw_armed = true;
	}
	rw_selfprot_describe();
	return 0;
}

void rw_selfprot_exit(void)
{
	rw_hooks_unregister(rw_self_hooks, ARRAY_SIZE(rw_self_hooks));
	/* Only reached armed when a later init step failed. */
	if (rw_armed) {
		rw_armed = false;
		module_put(THIS_MODULE);
	}
	memzero_explicit(rw_token, sizeof(rw_token));
}

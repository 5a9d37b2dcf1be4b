// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch.ko: the in-guest half of ringwatch.  Sees and stops what only
 * code inside the guest kernel can: credential tampering (cred.c), per-CPU
 * MSR state (cpustate.c); answers the host's memory challenges
 * (challenge.c); describes and protects itself (selfprot.c).  Everything
 * it finds goes through one reporting interface (report.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/workqueue.h>

#include "chan.h"
#include "ringwatch.h"

bool rw_param_enforce = true;
module_param_named(enforce, rw_param_enforce, bool, 0444);
MODULE_PARM_DESC(enforce, "Kill the task and refuse the operation on a credential violation (default 1)");

unsigned int rw_param_scan_ms = 1000;
module_param_named(scan_interval_ms, rw_param_scan_ms, uint, 0444);
MODULE_PARM_DESC(scan_interval_ms, "Period of the all-task credential scan and hook check (default 1000, min 50)");

unsigned int rw_param_cpu_ms = 30000;
module_param_named(cpu_interval_ms, rw_param_cpu_ms, uint, 0444);
MODULE_PARM_DESC(cpu_interval_ms, "Period of per-CPU state reports, 0 = only at load/request/hotplug (default 30000)");

#define RW_RESCAN_MS	50	/* confirm a suspect quickly */

static struct delayed_work rw_tick_work;

static void rw_tick(struct work_struct *work)
{
	unsigned int suspects;

	rw_selfprot_tick();	/* hooks first: a scan must know they work */
	rw_agent_tick();	/* the BPF partners still attached */
	suspects = rw_cred_scan_all(false);
	schedule_delayed_work(&rw_tick_work,
			      msecs_to_jiffies(suspects ? RW_RESCAN_MS : rw_param_scan_ms));
}

static int __init rw_init(void)
{
	int err;

	if (rw_param_scan_ms < RW_RESCAN_MS)
		rw_param_scan_ms = RW_RESCAN_MS;
	err = rw_report_init();
	if (err)
		return err;
	/* The channel first: load-time reports are queued for the host. */
	err = rw_kchan_init();
	if (err)
		goto out_report;
	err = rw_challenge_init();
	if (err)
		goto out_chan;
	err = rw_cred_init();
	if (err)
		goto out_challenge;
	err = rw_selfprot_init();
	if (err)
		goto out_cred;
	err = rw_cpu_init();
	if (err)
		goto out_selfprot;
	err = rw_fs_init();
	if (err)
		goto out_cpu;
	err = rw_agent_init(rw_fs_dir());
	if (err)
		goto out_fs;
	INIT_DELAYED_WORK(&rw_tick_work, rw_tick);
	schedule_delayed_work(&rw_tick_work, msecs_to_jiffies(rw_param_scan_ms));
	rw_report_event(RW_EV_LOADED, "armed=%d enforce=%d scan_interval_ms=%u cpu_interval_ms=%u",
			rw_selfprot_armed(), rw_param_enforce, rw_param_scan_ms,
			rw_param_cpu_ms);
	return 0;

out_fs:
	rw_fs_exit();
out_cpu:
	rw_cpu_exit();
out_selfprot:
	rw_selfprot_exit();
out_cred:
	rw_cred_exit();
out_challenge:
	rw_challenge_exit();
out_chan:
	rw_kchan_exit();
out_report:
	rw_report_exit();
	return err;
}

static void __exit rw_exit(void)
{
	cancel_delayed_work_sync(&rw_tick_work);
	rw_agent_exit();
	rw_fs_exit();
	rw_cpu_exit();
	rw_selfprot_exit();
	rw_cred_exit();
	rw_challenge_exit();
	rw_kchan_exit();
	rw_report_exit();
}

module_init(rw_init);
module_exit(rw_exit);

MODULE_LICENSE("GPL");
/* The channel's socket family and transport (AF_VSOCK over virtio). */
MODULE_SOFTDEP("pre: vsock vmw_vsock_virtio_transport");
MODULE_AUTHOR("ringwatch");
MODULE_DESCRIPTION("ringwatch guest guard: credential shadowing, CPU state, challenges");

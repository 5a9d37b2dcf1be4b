// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU state the host cannot read itself (the syscall/sysenter MSRs) or
 * wants confirmed (EFER, CR0, CR4, IDTR): read on each CPU, reported at
 * load, periodically, on request and when a CPU comes online.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/smp.h>
#include <linux/workqueue.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/special_insns.h>

#include "ringwatch.h"

static const u32 rw_msr_index[RW_MSR_NR] = {
	[RW_MSR_LSTAR] = MSR_LSTAR,
	[RW_MSR_STAR] = MSR_STAR,
	[RW_MSR_CSTAR] = MSR_CSTAR,
	[RW_MSR_SFMASK] = MSR_SYSCALL_MASK,
	[RW_MSR_SYSENTER_CS] = MSR_IA32_SYSENTER_CS,
	[RW_MSR_SYSENTER_ESP] = MSR_IA32_SYSENTER_ESP,
	[RW_MSR_SYSENTER_EIP] = MSR_IA32_SYSENTER_EIP,
	[RW_MSR_EFER] = MSR_EFER,
};

static enum cpuhp_state rw_cpuhp_state;
static bool rw_cpuhp_loading;		/* first callbacks run at load */
static struct delayed_work rw_cpu_work;

/* Runs on the CPU being read, interrupts off. */
static void rw_cpu_read_local(void *arg)
{
	struct rw_cpu_state *s = arg;
	struct desc_ptr idt;
	unsigned int i;

	s->cpu = smp_processor_id();
	s->msr_faults = 0;
	for (i = 0; i < RW_MSR_NR; i++) {
		if (rdmsrl_safe(rw_msr_index[i], &s->msr[i])) {
			s->msr[i] = 0;
			s->msr_faults |= BIT(i);
		}
	}
	s->cr0 = native_read_cr0();
	s->cr4 = native_read_cr4();
	store_idt(&idt);
	s->idt_base = idt.address;
	s->idt_limit = idt.size;
}

static void rw_cpu_report_one(unsigned int cpu, enum rw_cpu_report_reason why)
{
	struct rw_cpu_state s = { 0 };

	if (smp_call_function_single(cpu, rw_cpu_read_local, &s, 1))
		return;		/* went offline meanwhile */
	rw_report_cpu_state(&s, why);
}

void rw_cpu_report_all(enum rw_cpu_report_reason why)
{
	unsigned int cpu;

	cpus_read_lock();
	for_each_online_cpu(cpu)
		rw_cpu_report_one(cpu, why);
	cpus_read_unlock();
}

static int rw_cpu_online(unsigned int cpu)
{
	rw_cpu_report_one(cpu, READ_ONCE(rw_cpuhp_loading) ? RW_CPUREP_LOAD :
			  RW_CPUREP_HOTPLUG);
	return 0;
}

static void rw_cpu_periodic(struct work_struct *work)
{
	rw_cpu_report_all(RW_CPUREP_PERIODIC);
	schedule_delayed_work(&rw_cpu_work, msecs_to_jiffies(rw_param_cpu_ms));
}

int rw_cpu_init(void)
{
	int ret;

	WRITE_ONCE(rw_cpuhp_loading, true);
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "ringwatch/cpu:online",
				rw_cpu_online, NULL);
	WRITE_ONCE(rw_cpuhp_loading, false);
	if (ret < 0)
		return ret;
	rw_cpuhp_state = ret;
	INIT_DELAYED_WORK(&rw_cpu_work, rw_cpu_periodic);
	if (rw_param_cpu_ms)
		schedule_delayed_work(&rw_cpu_work, msecs_to_jiffies(rw_param_cpu_ms));
	return 0;
}

void rw_cpu_exit(void)
{
	cancel_delayed_work_sync(&rw_cpu_work);
	cpuhp_remove_state(rw_cpuhp_state);
}

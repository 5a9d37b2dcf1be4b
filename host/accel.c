// SPDX-License-Identifier: GPL-2.0
#include "host/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Iterations of the probe loop: 2 instructions each, ~0.1 ms on hardware. */
#define PROBE_LOOPS 100000u
/* Give up on the probe after this long: KVM that slow is not usable. */
#define PROBE_LIMIT_US 1500000
#define PROBE_MEM_SIZE 0x10000
#define PROBE_CODE_ADDR 0x1000

const char *rw_accel_name(enum rw_accel accel)
{
	switch (accel) {
	case RW_ACCEL_KVM:
		return "kvm";
	case RW_ACCEL_TCG:
		return "tcg";
	default:
		return "auto";
	}
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void probe_alarm(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

/* Real-mode code: mov ecx, PROBE_LOOPS; 1: dec ecx; jnz 1b; hlt */
static size_t write_probe_code(uint8_t *mem)
{
	uint8_t code[] = {
		0x66, 0xb9, 0, 0, 0, 0,	/* mov ecx, imm32 */
		0x66, 0x49,		/* dec ecx */
		0x75, 0xfc,		/* jnz -4 */
		0xf4,			/* hlt */
	};
	uint32_t loops = PROBE_LOOPS;

	memcpy(&code[2], &loops, sizeof(loops));
	memcpy(mem + PROBE_CODE_ADDR, code, sizeof(code));
	return sizeof(code);
}

struct kvm_probe_vm {
	int kvm, vm, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static void probe_vm_close(struct kvm_probe_vm *p)
{
	if (p->run && p->run != MAP_FAILED)
		munmap(p->run, p->run_size);
	if (p->mem && p->mem != MAP_FAILED)
		munmap(p->mem, PROBE_MEM_SIZE);
	if (p->vcpu >= 0)
		close(p->vcpu);
	if (p->vm >= 0)
		close(p->vm);
	if (p->kvm >= 0)
		close(p->kvm);
}

static int probe_vm_open(struct kvm_probe_vm *p, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int mmap_size;

	p->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (p->kvm < 0) {
		snprintf(err, errlen, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	p->vm = ioctl(p->kvm, KVM_CREATE_VM, 0);
	if (p->vm < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	p->mem = mmap(NULL, PROBE_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	write_probe_code(p->mem);
	region.memory_size = PROBE_MEM_SIZE;
	region.userspace_addr = (uintptr_t)p->mem;
	if (ioctl(p->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	p->vcpu = ioctl(p->vm, KVM_CREATE_VCPU, 0);
	if (p->vcpu < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	mmap_size = ioctl(p->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	p->run_size = (size_t)mmap_size;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu, 0);
	if (p->run == MAP_FAILED) {
		snprintf(err, errlen, "mmap kvm_run: %s", strerror(errno));
		return -1;
	}
	if (ioctl(p->vcpu, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(p->vcpu, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(err, errlen, "KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	regs.rip = PROBE_CODE_ADDR;
	regs.rflags = 0x2;
	if (ioctl(p->vcpu, KVM_SET_REGS, &regs) < 0) {
		snprintf(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Run until HLT or the time limit.  Returns seconds taken, and in @done the
 * instructions executed (read back from ECX when the limit hit), or -1.
 */
static double probe_vm_run(struct kvm_probe_vm *p, double *done, char *err, size_t errlen)
{
	struct sigaction sa = { .sa_handler = probe_alarm }, old_sa;
	struct itimerval limit = { .it_value = { .tv_sec = 0, .tv_usec = PROBE_LIMIT_US } };
	struct itimerval off = { 0 };
	struct timespec t0, t1;
	double result = -1;

	limit.it_value.tv_sec = PROBE_LIMIT_US / 1000000;
	limit.it_value.tv_usec = PROBE_LIMIT_US % 1000000;
	*done = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old_sa);
	setitimer(ITIMER_REAL, &limit, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int rc = ioctl(p->vcpu, KVM_RUN, 0);

		if (rc < 0 && errno == EINTR) {
			struct kvm_regs regs;

			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (ioctl(p->vcpu, KVM_GET_REGS, &regs) < 0) {
				snprintf(err, errlen, "KVM_GET_REGS: %s", strerror(errno));
				break;
			}
			*done = 2.0 * (PROBE_LOOPS - (uint32_t)regs.rcx);
			result = elapsed_s(&t0, &t1);
			break;
		}
		if (rc < 0) {
			snprintf(err, errlen, "KVM_RUN: %s", strerror(errno));
			break;
		}
		if (p->run->exit_reason == KVM_EXIT_HLT) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			*done = 2.0 * PROBE_LOOPS;
			result = elapsed_s(&t0, &t1);
			break;
		}
		if (p->run->exit_reason != KVM_EXIT_INTR) {
			snprintf(err, errlen, "probe VM exited with reason %u", p->run->exit_reason);
			break;
		}
	}
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	return result;
}

int rw_accel_calibrate_kvm(struct rw_accel_probe *probe, char *err, size_t errlen)
{
	struct kvm_probe_vm p = { .kvm = -1, .vm = -1, .vcpu = -1 };
	double secs, done = 0;

	memset(probe, 0, sizeof(*probe));
	if (probe_vm_open(&p, err, errlen) < 0) {
		probe_vm_close(&p);
		return -1;
	}
	secs = probe_vm_run(&p, &done, err, errlen);
	probe_vm_close(&p);
	if (secs < 0)
		return -1;
	probe->kvm_usable = 1;
	probe->kvm_ips = done / (secs > 1e-9 ? secs : 1e-9);
	snprintf(probe->reason, sizeof(probe->reason),
		 "KVM probe: %.0f instructions in %.3f s = %.1f MIPS",
		 done, secs, probe->kvm_ips / 1e6);
	return 0;
}

int rw_accel_choose(enum rw_accel requested, struct rw_accel_probe *probe,
		    char *err, size_t errlen)
{
	const char *env = getenv("RINGWATCH_ACCEL");
	char kvm_err[256] = "";

	memset(probe, 0, sizeof(*probe));
	if (requested == RW_ACCEL_AUTO && env && *env) {
		if (!strcmp(env, "kvm"))
			requested = RW_ACCEL_KVM;
		else if (!strcmp(env, "tcg"))
			requested = RW_ACCEL_TCG;
		else {
			snprintf(err, errlen, "RINGWATCH_ACCEL='%s': expected kvm or tcg", env);
			return -1;
		}
		snprintf(probe->reason, sizeof(probe->reason), "RINGWATCH_ACCEL=%s", env);
	}
	if (requested == RW_ACCEL_TCG) {
		if (!probe->reason[0])
			snprintf(probe->reason, sizeof(probe->reason), "TCG requested");
		return RW_ACCEL_TCG;
	}
	if (requested == RW_ACCEL_KVM) {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			snprintf(err, errlen, "KVM requested but /dev/kvm: %s", strerror(errno));
			return -1;
		}
		close(fd);
		if (!probe->reason[0])
			snprintf(probe->reason, sizeof(probe->reason), "KVM requested");
		return RW_ACCEL_KVM;
	}
	if (rw_accel_calibrate_kvm(probe, kvm_err, sizeof(kvm_err)) < 0) {
		snprintf(probe->reason, sizeof(probe->reason), "KVM unusable (%s)", kvm_err);
		return RW_ACCEL_TCG;
	}
	if (probe->kvm_ips >= RW_KVM_MIN_IPS)
		return RW_ACCEL_KVM;
	snprintf(probe->reason + strlen(probe->reason),
		 sizeof(probe->reason) - strlen(probe->reason),
		 " < %.0f MIPS: using TCG", RW_KVM_MIN_IPS / 1e6);
	return RW_ACCEL_TCG;
}

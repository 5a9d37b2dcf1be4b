/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Accelerator choice.  KVM is used only when /dev/kvm runs guest code at
 * hardware speed: some nested hosts expose a /dev/kvm that emulates every
 * instruction at a few MIPS, where TCG boots a Linux guest faster.
 */
#ifndef RW_HOST_ACCEL_H
#define RW_HOST_ACCEL_H

#include <stddef.h>

enum rw_accel {
	RW_ACCEL_AUTO,
	RW_ACCEL_KVM,
	RW_ACCEL_TCG,
};

/* Instructions per second below which /dev/kvm is not worth using. */
#define RW_KVM_MIN_IPS 200000000.0

struct rw_accel_probe {
	int kvm_usable;		/* /dev/kvm opened and ran the probe */
	double kvm_ips;		/* measured instructions per second (0 if not run) */
	char reason[256];	/* why the choice was made */
};

/*
 * Run a short loop in a throw-away KVM VM and measure its speed.  Returns 0
 * with @probe filled, or -1 with @err when KVM could not run the probe at all.
 */
int rw_accel_calibrate_kvm(struct rw_accel_probe *probe, char *err, size_t errlen);

/*
 * Resolve RW_ACCEL_AUTO: RINGWATCH_ACCEL=kvm|tcg in the environment wins,
 * else the calibration.  Returns the accelerator, or -1 with @err for a bad
 * RINGWATCH_ACCEL value or when kvm is forced but unusable.
 */
int rw_accel_choose(enum rw_accel requested, struct rw_accel_probe *probe,
		    char *err, size_t errlen);

const char *rw_accel_name(enum rw_accel accel);

#endif

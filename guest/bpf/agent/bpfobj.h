/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent: the BPF side.  Loads the LSM programs, attaches them and
 * pins maps and links under RW_PIN_DIR, registers what the programs must
 * protect (the agent binary, its supervisor, the pins, every program, map
 * and link id); or, when the pins are already there (the agent was
 * restarted), reopens the pinned maps and leaves the attached programs alone.
 * Applies policy commands to the maps.
 */
#ifndef RW_AGENT_BPFOBJ_H
#define RW_AGENT_BPFOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/bpf/agent/policy.h"

#define RW_PIN_DIR "/sys/fs/bpf/ringwatch"
#define RW_IMA_POLICY "/sys/kernel/security/ima/policy"

enum rw_map_index {
	RW_MAP_EVENTS,
	RW_MAP_DROPS,
	RW_MAP_CONFIG,
	RW_MAP_MOD_ALLOW,
	RW_MAP_MOD_NAMES,
	RW_MAP_EXEC_DENY,
	RW_MAP_ENV_WATCH,
	RW_MAP_PROTECTED,
	RW_MAP_PIN_INODES,
	RW_MAP_PROTECTED_TGIDS,
	RW_MAP_COUNT,
};

struct rw_agent_bpf {
	struct ringwatch_bpf *skel;	/* fresh load; NULL when reattached */
	int map_fd[RW_MAP_COUNT];
	bool reattached;
	unsigned int links_expected;
	char ima[32];			/* "installed", "preexisting" or "unavailable" */
};

struct rw_agent_health {
	unsigned int links_expected;
	unsigned int links_pinned;	/* link pins that still open */
	uint64_t ringbuf_drops;		/* sum over CPUs */
	unsigned int module_allow;
	unsigned int exec_deny;
	unsigned int env_watch;
	bool boot_complete;
	bool usb_mount_deny;
	bool module_enforce;
};

/* Load+attach+pin, or reattach to the pins.  -1 with @err. */
int rw_bpf_setup(struct rw_agent_bpf *b, char *err, size_t errlen);

/* Turn module enforcement on (after the default policy is in). */
int rw_bpf_enforce_modules(struct rw_agent_bpf *b, char *err, size_t errlen);

/* Apply one policy command to the maps.  -1 with @err. */
int rw_bpf_apply(struct rw_agent_bpf *b, const struct rw_policy_cmd *cmd, char *err,
		 size_t errlen);

int rw_bpf_health(struct rw_agent_bpf *b, struct rw_agent_health *h);

/*
 * "hooks NAME ..." for ringwatch.ko: the LSM hook of every program (each
 * once).  -1 with @err when one has no LSM section or @out is too small.
 */
int rw_bpf_lsm_hooks(struct rw_agent_bpf *b, char *out, size_t outlen, char *err, size_t errlen);

/*
 * Set the boot-complete flag through the pins (the `boot-complete` command;
 * only the agent binary may open them).
 */
int rw_bpf_boot_complete_via_pins(char *err, size_t errlen);

/* Close descriptors; programs stay attached and pinned. */
void rw_bpf_close(struct rw_agent_bpf *b);

#endif

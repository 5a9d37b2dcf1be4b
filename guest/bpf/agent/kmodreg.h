/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent's registration with the guest kernel module
 * (guest/kmod/agent.c): the agent opens RW_KMOD_AGENT_FILE and keeps it open
 * for its whole life, so the module notices its death at once (the file's
 * release) and reports the gap when the next agent registers; it writes the
 * LSM hooks its programs are attached to, which the module then checks on
 * its timer.  When the module is disarmed the file polls POLLHUP and the
 * agent lets go (an open registration would keep the module loaded).
 * The module is optional: without it the agent runs alone and retries.
 */
#ifndef RW_AGENT_KMODREG_H
#define RW_AGENT_KMODREG_H

#include <stdbool.h>
#include <stddef.h>

#define RW_KMOD_AGENT_FILE "/sys/kernel/security/ringwatch/agent"
#define RW_KMOD_HOOK_MAX 47	/* hook name length the module accepts */

struct rw_kmod_reg {
	int fd;			/* the open registration, -1: none */
	char state[96];		/* "registered", "absent", "refused: ...", "released" */
};

void rw_kmod_reg_init(struct rw_kmod_reg *r);

/*
 * The LSM hook of a BPF program section, "lsm/NAME" or "lsm.s/NAME" -> NAME
 * in @out.  0, or -1 when @sec is no LSM section or NAME is not [a-z0-9_]+ of
 * at most RW_KMOD_HOOK_MAX characters.
 */
int rw_kmod_hook_of_section(const char *sec, char *out, size_t outlen);

/*
 * Register (when not registered yet) with @hooks, "hooks NAME ...".
 * Returns true when the state changed (worth a report).
 */
bool rw_kmod_register(struct rw_kmod_reg *r, const char *hooks);

/* The registration polled POLLHUP/POLLERR: the module was disarmed. */
void rw_kmod_release(struct rw_kmod_reg *r);

/* Stopping on purpose: say "bye" (the module logs no loss), then close. */
void rw_kmod_goodbye(struct rw_kmod_reg *r);

void rw_kmod_reg_close(struct rw_kmod_reg *r);

#endif

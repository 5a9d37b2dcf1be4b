/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatch-agent policy language: one command per line, '#' starts a
 * comment, fields separated by blanks.  The default policy file
 * (/etc/ringwatch/policy) and runtime updates use the same lines.
 *
 *   module-allow NAME SHA256|*    allow module NAME with this image hash / any image
 *   module-remove NAME SHA256|*   take that entry off the allowlist
 *   exec-deny SHA256              refuse exec of files with this SHA-256
 *   exec-remove SHA256
 *   env-watch VAR [kill]          report exec with VAR in the environment
 *                                 ("kill": SIGKILL the process before it runs)
 *   env-remove VAR
 *   usb-mount deny|allow          removable/USB block mounts after boot-complete
 *   boot-complete                 (runtime only) the guest finished booting
 *   health                        (runtime only) report health now
 *   restart                       (runtime only) the agent exits and its supervisor
 *                                 starts it again (reattaches; the programs stay)
 *
 * Module names are canonical kernel names: '-' is read as '_'.  SHA-256 is
 * 64 hex digits (either case).
 */
#ifndef RW_AGENT_POLICY_H
#define RW_AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/bpf/ringwatch_bpf.h"

enum rw_agent_policy_op {
	RW_POL_MODULE_ALLOW = 1,
	RW_POL_MODULE_REMOVE,
	RW_POL_EXEC_DENY,
	RW_POL_EXEC_REMOVE,
	RW_POL_ENV_WATCH,
	RW_POL_ENV_REMOVE,
	RW_POL_USB_MOUNT,
	RW_POL_BOOT_COMPLETE,
	RW_POL_HEALTH,
	RW_POL_RESTART,
};

struct rw_policy_cmd {
	enum rw_agent_policy_op op;
	char name[RW_BPF_MOD_NAME_LEN];	/* module name or variable name, NUL padded */
	uint8_t sha256[RW_BPF_SHA256_LEN];	/* all zero for "*" */
	bool any_hash;			/* module-allow/remove NAME * */
	bool deny;			/* usb-mount deny */
	uint32_t env_flags;		/* RW_ENV_KILL */
};

/* Line limit for both the policy file and runtime updates. */
#define RW_POLICY_LINE_MAX 512

/*
 * Parse one line.  Returns 1 and fills @cmd for a command, 0 for a blank or
 * comment line, -1 with a message in @err for anything else.
 */
int rw_policy_parse_line(const char *line, struct rw_policy_cmd *cmd, char *err, size_t errlen);

/* True for commands that only make sense at runtime (not in the file). */
bool rw_policy_runtime_only(enum rw_agent_policy_op op);

/*
 * One entry of a host POLICY_UPDATE (op add/remove) as a policy line:
 * module-allow -> module-allow/module-remove NAME HEX|*, exec-deny (SHA-256
 * required) -> exec-deny/exec-remove HEX, env-vars -> env-watch/env-remove
 * NAME, mount-rules "usb=deny|allow" -> usb-mount deny|allow (remove flips).
 * The line still goes through rw_policy_parse_line.  0, or -1 with @err.
 */
struct rw_msg_policy_update;
struct rw_policy_entry;
int rw_policy_update_line(const struct rw_msg_policy_update *p, const struct rw_policy_entry *e,
			  char *line, size_t len, char *err, size_t errlen);

/* 64 hex digits -> 32 bytes; 0 or -1. */
int rw_sha256_from_hex(const char *hex, size_t len, uint8_t out[RW_BPF_SHA256_LEN]);

#endif

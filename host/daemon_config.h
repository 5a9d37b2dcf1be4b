/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatchd configuration (configs/ringwatch.conf is the documented example).
 *
 * One directive per line, words separated by blanks, '#' starts a comment:
 *   interval DURATION             check interval of every VM (default 1s)
 *   workers N|auto                worker threads (auto: one per core, at least 2)
 *   qmp-timeout DURATION          bound on every QMP call (default 3s)
 *   launch-timeout DURATION       guest readiness bound for `ringwatch launch` (180s)
 *   dump-timeout DURATION         bound on a forensic memory dump (300s)
 *   json-log PATH|-|off           events as JSON lines to a file or stdout
 *   syslog on|off                 events to syslog (default on)
 *   metrics HOST:PORT|off         Prometheus endpoint (default 127.0.0.1:9477)
 *   vm NAME interval DURATION     per-VM interval override
 *   channel-vsock-port PORT|off   transport A: AF_VSOCK listener (host vhost_vsock)
 *   vsockd PATH                   ringwatch-vsockd for launched VMs (default: beside
 *                                 ringwatchd)
 *   kernel-search PATH            kernel image file or directory searched for the
 *                                 image of a VM given none (repeatable, absolute)
 *   hook-allow MODULE[,MODULE...]|none
 *                                 modules that may own hook handlers (ftrace
 *                                 ops functions, kprobe handlers); a handler
 *                                 outside kernel text and these is a violation
 *                                 (default: ringwatch)
 *   respond CHECK|* SEVERITY|* ACTION[,ACTION...]
 *                                 ACTION: log | pause | dump | push-policy
 * DURATION: an integer with unit ms, s, m or h.  The first matching respond
 * rule wins; with none, events are only logged.  Any other line is an error
 * reported as FILE:LINE: reason.
 */
#ifndef RW_HOST_DAEMON_CONFIG_H
#define RW_HOST_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "host/daemon_store.h"

enum rw_action {
	RW_ACT_LOG = 1u << 0,
	RW_ACT_PAUSE = 1u << 1,
	RW_ACT_DUMP = 1u << 2,
	RW_ACT_PUSH_POLICY = 1u << 3,
};

struct rw_response_rule {
	char check[48];		/* "*" matches every check */
	char severity[16];	/* "*" matches every severity */
	unsigned int actions;	/* enum rw_action bits */
	unsigned int line;
};

struct rw_vm_override {
	char name[64];
	unsigned int interval_ms;
};

#define RW_CONFIG_MAX_RULES 256
#define RW_CONFIG_MAX_VMS 1024
#define RW_CONFIG_MAX_BYTES (1u << 20)
#define RW_CONFIG_MAX_LINE 1024
#define RW_CONFIG_MAX_KSEARCH 16
#define RW_CONFIG_MAX_HOOK_ALLOW 64
#define RW_CONFIG_MODULE_NAME_MAX 56	/* MODULE_NAME_LEN of the guest kernel */

struct rw_config {
	unsigned int interval_ms;
	unsigned int workers;		/* 0: auto */
	unsigned int qmp_timeout_ms;
	unsigned int launch_timeout_ms;
	unsigned int dump_timeout_ms;
	char json_log[512];		/* "" off, "-" stdout */
	bool syslog;
	char metrics[128];		/* "" off */
	unsigned int channel_vsock_port;	/* 0: no transport A listener */
	char vsockd[512];		/* "" : ringwatch-vsockd beside ringwatchd */
	/* Kernel images (files, or directories of vmlinuz*, vmlinux*, bzImage* files)
	 * searched for the running kernel of a VM given no image (disk boots). */
	char kernel_search[RW_CONFIG_MAX_KSEARCH][512];
	size_t nkernel_search;
	char hook_allow[RW_CONFIG_MAX_HOOK_ALLOW][RW_CONFIG_MODULE_NAME_MAX];
	size_t nhook_allow;		/* modules allowed to own hook handlers */
	struct rw_response_rule *rules;
	size_t nrules;
	struct rw_vm_override *vms;
	size_t nvms;
};

void rw_config_defaults(struct rw_config *cfg);

/*
 * Parse @len bytes of @text (named @fname in messages) into @cfg, which must
 * hold defaults.  Returns 0, or -1 with "FNAME:LINE: reason" in @err.
 */
int rw_config_parse(const char *text, size_t len, const char *fname, struct rw_config *cfg,
		    char *err, size_t errlen);

/* Read and parse @path; a missing file is an error unless @optional. */
int rw_config_load(const char *path, bool optional, struct rw_config *cfg, char *err,
		   size_t errlen);

void rw_config_free(struct rw_config *cfg);

/* Actions for an event of @check with @sev: the first matching rule, else RW_ACT_LOG. */
unsigned int rw_config_actions(const struct rw_config *cfg, const char *check,
			       enum rw_severity sev);

/* Check interval for VM @name (its override, else the default). */
unsigned int rw_config_interval(const struct rw_config *cfg, const char *name);

/* "1s", "250ms", "2m", "1h" -> milliseconds; 0 and *ms, or -1. */
int rw_parse_duration(const char *s, unsigned int *ms);

/* Comma-separated action names -> bits; 0 and *bits, or -1 naming the bad one in @bad. */
int rw_parse_actions(const char *s, unsigned int *bits, char *bad, size_t badlen);

/* Names of the actions in @bits, comma separated, into @out. */
void rw_actions_format(unsigned int bits, char *out, size_t outlen);

#endif

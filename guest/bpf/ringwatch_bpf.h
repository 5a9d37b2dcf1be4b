/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared between the BPF LSM programs (guest/bpf/ringwatch.bpf.c, built
 * against vmlinux.h) and ringwatch-agent (userspace, <linux/types.h>):
 * the event record in the ring buffer, the configuration record and the
 * keys of the policy maps.  Only __u8/__u32/__u64 and fixed arrays, so the
 * layout is the same on both sides.
 */
#ifndef RW_GUEST_BPF_RINGWATCH_BPF_H
#define RW_GUEST_BPF_RINGWATCH_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RW_BPF_COMM_LEN 16
#define RW_BPF_NAME_LEN 64
#define RW_BPF_PATH_LEN 128
#define RW_BPF_MOD_NAME_LEN 56	/* MODULE_NAME_LEN on x86-64 */
#define RW_BPF_ENV_NAME_LEN 32	/* longest watched variable name + 1 */
#define RW_BPF_SHA256_LEN 32

#define RW_BPF_EXEC_DENY_MAX 65536
#define RW_BPF_MOD_ALLOW_MAX 4096
#define RW_BPF_ENV_WATCH_MAX 64
#define RW_BPF_PROTECTED_MAX 256

/* What happened; one record kind per event. */
enum rw_bpf_event_kind {
	RW_EV_MODULE_DENIED = 1,	/* finit_module/init_module refused */
	RW_EV_MODULE_REQUEST_DENIED,	/* request_module of a name not on the allowlist */
	RW_EV_EXEC_DENIED,		/* exec of a file whose SHA-256 is denied */
	RW_EV_EXEC_UNHASHED,		/* exec-deny list active but no SHA-256 for the file */
	RW_EV_MOUNT_DENIED,		/* removable/USB block device after boot-complete */
	RW_EV_SELF_UNLINK,		/* a process unlinked its own executable */
	RW_EV_EXEC_ENV,			/* exec with a watched loader variable */
	RW_EV_ENV_SCAN_INCOMPLETE,	/* argv+envp too large to scan completely */
	RW_EV_CRED_CHANGE,		/* uid/gid change (setuid family or exec) */
	RW_EV_GUARD_BPF,		/* bpf() against ringwatch's programs/maps/links */
	RW_EV_GUARD_PIN,		/* open/unlink/rename of a pin, umount of bpffs */
	RW_EV_GUARD_SIGNAL,		/* signal to the agent or its supervisor */
	RW_EV_GUARD_PTRACE,		/* ptrace access to the agent or its supervisor */
	RW_EV_GUARD_AGENT_EXE,		/* write access to the agent binary */
	RW_EV_KIND_MAX,
};

/* arg[0] of RW_EV_MODULE_DENIED */
enum rw_bpf_module_origin {
	RW_MOD_FINIT = 1,		/* finit_module: kernel_read_file(READING_MODULE) */
	RW_MOD_INIT = 2,		/* init_module: kernel_load_data(LOADING_MODULE) */
};

/* arg[2] of RW_EV_MODULE_DENIED: why */
enum rw_bpf_module_reason {
	RW_MOD_NOT_ALLOWED = 1,		/* (name, sha256) and (name, *) not on the allowlist */
	RW_MOD_NO_CONTENTS = 2,		/* partial read: the image cannot be hashed */
	RW_MOD_HASH_FAILED = 3,		/* image unreadable or too large to hash */
	RW_MOD_NO_NAME = 4,		/* no .gnu.linkonce.this_module section */
};

/* arg[0] of RW_EV_CRED_CHANGE */
enum rw_bpf_cred_source {
	RW_CRED_SETID = 1,		/* task_fix_setuid */
	RW_CRED_EXEC = 2,		/* bprm_committing_creds (any id changed by exec) */
	RW_CRED_SETGID = 3,		/* task_fix_setgid */
};

/* ids of RW_EV_CRED_CHANGE: uid gid suid sgid euid egid fsuid fsgid (wire order) */
#define RW_BPF_CRED_IDS 8
struct rw_bpf_cred_ids {
	__u32 old_ids[RW_BPF_CRED_IDS];
	__u32 new_ids[RW_BPF_CRED_IDS];
};

/* arg[0] of RW_EV_GUARD_PIN */
enum rw_bpf_pin_op {
	RW_PIN_OPEN = 1,
	RW_PIN_UNLINK = 2,
	RW_PIN_RENAME = 3,
	RW_PIN_UMOUNT = 4,
};

/* Object types in the protected-id set (rw_protected_key.type). */
enum rw_bpf_obj_type {
	RW_OBJ_PROG = 1,
	RW_OBJ_MAP = 2,
	RW_OBJ_LINK = 3,
};

/*
 * One ring-buffer record.  arg[] meaning per kind:
 *  MODULE_DENIED        origin, image size, reason, name found (0/1)
 *  EXEC_DENIED          -            (sha256, path = bprm->filename)
 *  EXEC_UNHASHED        error/algorithm returned by bpf_ima_file_hash
 *  MOUNT_DENIED         removable, on USB   (name = fs type, path = disk)
 *  SELF_UNLINK          -            (path = unlinked name)
 *  EXEC_ENV             killed (0/1) (name = "VAR=value" prefix, path = filename)
 *  ENV_SCAN_INCOMPLETE  bytes scanned
 *  CRED_CHANGE          source, old uid, old euid, new uid, new euid, new egid
 *                       (all eight ids before and after: cred, over sha256/name)
 *  GUARD_BPF            bpf cmd, object type, object id
 *  GUARD_PIN            op, inode number
 *  GUARD_SIGNAL         target tgid, signal
 *  GUARD_PTRACE         target tgid, ptrace mode
 *  GUARD_AGENT_EXE      inode number, access mask
 */
struct rw_bpf_event {
	__u32 kind;
	__s32 verdict;			/* 0: reported only; -EPERM: refused */
	__u64 ts_ns;			/* bpf_ktime_get_ns */
	__u32 pid;			/* thread id */
	__u32 tgid;
	__u32 uid;
	__u32 euid;
	__u32 arg[6];
	char comm[RW_BPF_COMM_LEN];
	union {
		struct {
			__u8 sha256[RW_BPF_SHA256_LEN];
			char name[RW_BPF_NAME_LEN];
		};
		struct rw_bpf_cred_ids cred;	/* RW_EV_CRED_CHANGE only */
	};
	char path[RW_BPF_PATH_LEN];
};

/* The single entry of the "rw_config" array map, written by the agent. */
struct rw_bpf_config {
	__u64 agent_exe_ino;		/* identity of ringwatch-agent: its exe inode */
	__u32 agent_exe_dev;		/* kernel dev_t (MAJOR << 20 | MINOR) */
	__u32 pin_dev;			/* bpffs holding the pins (kernel dev_t) */
	__u64 pin_dir_ino;		/* /sys/fs/bpf/ringwatch */
	__u32 boot_complete;		/* set by `ringwatch-agent boot-complete` */
	__u32 usb_mount_deny;		/* deny removable/USB block mounts after boot */
	__u32 exec_deny_count;		/* entries in rw_exec_deny (0: skip hashing) */
	__u32 env_watch_count;		/* entries in rw_env_watch (0: skip the scan) */
	__u32 module_enforce;		/* 1: modules must be on the allowlist */
	__u32 pad;
};

/* Key of "rw_mod_allow"; sha256 all zero stands for "*" (any image). */
struct rw_mod_key {
	char name[RW_BPF_MOD_NAME_LEN];
	__u8 sha256[RW_BPF_SHA256_LEN];
};

/* Key of "rw_env_watch": the variable name, NUL padded; value: flags. */
struct rw_env_key {
	char name[RW_BPF_ENV_NAME_LEN];
};
#define RW_ENV_KILL 1u			/* SIGKILL the process before it runs */

/* Key of "rw_protected": ringwatch's own programs, maps and links. */
struct rw_protected_key {
	__u32 type;			/* enum rw_bpf_obj_type */
	__u32 id;
};

#endif

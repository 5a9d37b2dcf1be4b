// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch BPF LSM programs (CO-RE, loaded and pinned by ringwatch-agent).
 *
 *  - modules: finit_module and init_module images must be on the allowlist
 *    by (name, SHA-256) or (name, *); request_module names likewise;
 *  - exec: files whose SHA-256 (IMA file hash) is on the deny list are refused;
 *  - mounts: block devices that are removable or sit on USB are refused once
 *    the guest declared boot complete;
 *  - signals: self-unlinking executables, exec with watched loader variables,
 *    credential changes (reported);
 *  - guard: ringwatch's own links, programs, maps, pins, the agent process and
 *    its binary are out of reach for everybody but the agent (and init, for
 *    signals).
 *
 * Every refusal and every signal is one record in the rw_events ring buffer;
 * a record that cannot be reserved is counted in rw_drops, never lost
 * silently.  Until the agent has written rw_config nothing is enforced.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "guest/bpf/ringwatch_bpf.h"
#include "guest/bpf/sha256.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define SIGKILL 9
#define GENHD_FL_REMOVABLE 1
#define PTRACE_MODE_NOAUDIT 0x04
#define MAY_WRITE 0x02
#define MAY_APPEND 0x08
#define RW_ENV_MAX_STEPS 8192	/* 63-byte reads: 512 KiB of argv+envp */
#define RW_DEV_MAX_DEPTH 16

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} rw_events SEC(".maps");

/* Ring-buffer reservations that failed (events lost), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rw_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rw_bpf_config);
} rw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_MOD_ALLOW_MAX);
	__type(key, struct rw_mod_key);
	__type(value, __u8);
} rw_mod_allow SEC(".maps");

/* Names with at least one allowlist entry: what request_module may ask for. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_MOD_ALLOW_MAX);
	__type(key, char[RW_BPF_MOD_NAME_LEN]);
	__type(value, __u8);
} rw_mod_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_EXEC_DENY_MAX);
	__type(key, __u8[RW_BPF_SHA256_LEN]);
	__type(value, __u8);
} rw_exec_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_ENV_WATCH_MAX);
	__type(key, struct rw_env_key);
	__type(value, __u32);
} rw_env_watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_PROTECTED_MAX);
	__type(key, struct rw_protected_key);
	__type(value, __u8);
} rw_protected SEC(".maps");

/* Inode numbers of the pins in the pin directory (on cfg->pin_dev). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RW_BPF_PROTECTED_MAX);
	__type(key, __u64);
	__type(value, __u8);
} rw_pin_inodes SEC(".maps");

/* Processes protected besides the agent itself (its supervisor). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u8);
} rw_protected_tgids SEC(".maps");

extern const void bpf_link_fops __ksym;

static __always_inline struct rw_bpf_config *rw_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rw_config, &zero);
}

static __always_inline struct rw_bpf_event *rw_event_new(__u32 kind, int verdict)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct rw_bpf_event *ev;
	__u64 id = bpf_get_current_pid_tgid();

	ev = bpf_ringbuf_reserve(&rw_events, sizeof(*ev), 0);
	if (!ev) {
		__u32 zero = 0;
		__u64 *drops = bpf_map_lookup_elem(&rw_drops, &zero);

		if (drops)
			__sync_fetch_and_add(drops, 1);
		return NULL;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->verdict = verdict;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = (__u32)id;
	ev->tgid = (__u32)(id >> 32);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->euid = BPF_CORE_READ(task, cred, euid.val);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return ev;
}

/* Kernel dev_t and inode number of a file's inode. */
static __always_inline bool rw_inode_is(struct inode *inode, __u32 dev, __u64 ino)
{
	if (!inode || !ino)
		return false;
	return BPF_CORE_READ(inode, i_ino) == ino && BPF_CORE_READ(inode, i_sb, s_dev) == dev;
}

static __always_inline bool rw_task_runs_agent(struct task_struct *task,
					       const struct rw_bpf_config *cfg)
{
	struct inode *exe = BPF_CORE_READ(task, mm, exe_file, f_inode);

	return rw_inode_is(exe, cfg->agent_exe_dev, cfg->agent_exe_ino);
}

static __always_inline bool rw_current_is_agent(const struct rw_bpf_config *cfg)
{
	return rw_task_runs_agent(bpf_get_current_task_btf(), cfg);
}

/* The agent or a process it registered (its supervisor). */
static __always_inline bool rw_task_protected(struct task_struct *task,
					      const struct rw_bpf_config *cfg)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (!cfg->agent_exe_ino)
		return false;
	return rw_task_runs_agent(task, cfg) || bpf_map_lookup_elem(&rw_protected_tgids, &tgid);
}

static __always_inline bool rw_is_protected_id(__u32 type, __u32 id)
{
	struct rw_protected_key key = { .type = type, .id = id };

	return id && bpf_map_lookup_elem(&rw_protected, &key);
}

/* ------------------------------------------------------------------------
 * Modules
 */

struct rw_elf_scan {
	__u64 buf;
	__u64 size;
	__u64 shoff;
	__u64 shstr_off;
	__u64 shstr_size;
	__u64 found_off;
	__u64 found_size;
	__u32 found;
};

static long rw_elf_section_cb(__u64 index, void *ctx)
{
	struct rw_elf_scan *sc = ctx;
	Elf64_Shdr sh;
	char name[26];
	__u64 off = sc->shoff + index * sizeof(Elf64_Shdr);

	if (off + sizeof(sh) > sc->size ||
	    bpf_probe_read_kernel(&sh, sizeof(sh), (const void *)(sc->buf + off)))
		return 1;
	if ((__u64)sh.sh_name + sizeof(name) > sc->shstr_size)
		return 0;
	if (bpf_probe_read_kernel(name, sizeof(name),
				  (const void *)(sc->buf + sc->shstr_off + sh.sh_name)))
		return 1;
	if (bpf_strncmp(name, sizeof(name), ".gnu.linkonce.this_module"))
		return 0;
	sc->found_off = sh.sh_offset;
	sc->found_size = sh.sh_size;
	sc->found = 1;
	return 1;
}

/*
 * The module's own name, as the loader will register it: struct module.name
 * inside the .gnu.linkonce.this_module section.  Every offset is checked
 * against the image size; returns 0 or -1 (no such section / malformed).
 */
static __noinline int rw_module_name(const void *buf, __u64 size,
					  char name[RW_BPF_MOD_NAME_LEN])
{
	struct rw_elf_scan sc = { .buf = (__u64)buf, .size = size };
	__u64 name_off = bpf_core_field_offset(struct module, name);
	Elf64_Ehdr eh;
	Elf64_Shdr strsh;
	int i, end = 0;

	if (size < sizeof(eh) || bpf_probe_read_kernel(&eh, sizeof(eh), buf))
		return -1;
	if (eh.e_ident[0] != 0x7f || eh.e_ident[1] != 'E' || eh.e_ident[2] != 'L' ||
	    eh.e_ident[3] != 'F' || eh.e_ident[4] != 2 /* ELFCLASS64 */ ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096 ||
	    eh.e_shstrndx >= eh.e_shnum || eh.e_shoff > size ||
	    (__u64)eh.e_shnum * sizeof(Elf64_Shdr) > size - eh.e_shoff)
		return -1;
	sc.shoff = eh.e_shoff;
	if (bpf_probe_read_kernel(&strsh, sizeof(strsh),
				  buf + eh.e_shoff + (__u64)eh.e_shstrndx * sizeof(Elf64_Shdr)))
		return -1;
	if (strsh.sh_offset > size || strsh.sh_size > size - strsh.sh_offset)
		return -1;
	sc.shstr_off = strsh.sh_offset;
	sc.shstr_size = strsh.sh_size;
	bpf_loop(eh.e_shnum, rw_elf_section_cb, &sc, 0);
	if (!sc.found || sc.found_off > size || sc.found_size > size - sc.found_off ||
	    sc.found_size < name_off + RW_BPF_MOD_NAME_LEN)
		return -1;
	if (bpf_probe_read_kernel(name, RW_BPF_MOD_NAME_LEN, buf + sc.found_off + name_off))
		return -1;
	/* Canonical key: NUL terminated, zero padded. */
	for (i = 0; i < RW_BPF_MOD_NAME_LEN; i++) {
		if (!name[i])
			end = 1;
		if (end || i == RW_BPF_MOD_NAME_LEN - 1)
			name[i] = 0;
	}
	return name[0] ? 0 : -1;
}

static __always_inline void rw_module_event(__u32 origin, __u64 size, __u32 reason,
					    const struct rw_mod_key *key, bool have_name,
					    bool have_hash, struct file *file)
{
	struct rw_bpf_event *ev = rw_event_new(RW_EV_MODULE_DENIED, -EPERM);

	if (!ev)
		return;
	ev->arg[0] = origin;
	ev->arg[1] = (__u32)(size > 0xffffffffull ? 0xffffffffull : size);
	ev->arg[2] = reason;
	ev->arg[3] = have_name;
	if (have_name)
		__builtin_memcpy(ev->name, key->name, RW_BPF_MOD_NAME_LEN);
	if (have_hash)
		__builtin_memcpy(ev->sha256, key->sha256, RW_BPF_SHA256_LEN);
	if (file)
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path),
					  BPF_CORE_READ(file, f_path.dentry, d_name.name));
	bpf_ringbuf_submit(ev, 0);
}

/* Allow iff (name, sha256) or (name, *) is on the allowlist. */
static __noinline int rw_check_module_image(const void *buf, __u64 size, __u32 origin,
						 struct file *file)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct rw_mod_key key = {};
	__u8 hash[RW_BPF_SHA256_LEN];

	if (!cfg || !cfg->module_enforce)
		return 0;
	if (rw_sha256_kernel(buf, size, hash)) {
		rw_module_event(origin, size, RW_MOD_HASH_FAILED, &key, false, false, file);
		return -EPERM;
	}
	if (rw_module_name(buf, size, key.name)) {
		__builtin_memcpy(key.sha256, hash, sizeof(hash));
		rw_module_event(origin, size, RW_MOD_NO_NAME, &key, false, true, file);
		return -EPERM;
	}
	if (bpf_map_lookup_elem(&rw_mod_allow, &key))	/* (name, *) */
		return 0;
	__builtin_memcpy(key.sha256, hash, sizeof(hash));
	if (bpf_map_lookup_elem(&rw_mod_allow, &key))
		return 0;
	rw_module_event(origin, size, RW_MOD_NOT_ALLOWED, &key, true, true, file);
	return -EPERM;
}

/* A module read without its contents (partial read) could not be checked. */
SEC("lsm/kernel_read_file")
int BPF_PROG(rw_module_read, struct file *file, enum kernel_read_file_id id, bool contents,
	     int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct rw_mod_key key = {};

	if (ret || id != READING_MODULE || contents || !cfg || !cfg->module_enforce)
		return ret;
	rw_module_event(RW_MOD_FINIT, 0, RW_MOD_NO_CONTENTS, &key, false, false, file);
	return -EPERM;
}

SEC("lsm/kernel_post_read_file")
int BPF_PROG(rw_module_post_read, struct file *file, char *buf, loff_t size,
	     enum kernel_read_file_id id, int ret)
{
	if (ret || id != READING_MODULE)
		return ret;
	return rw_check_module_image(buf, (__u64)size, RW_MOD_FINIT, file);
}

SEC("lsm/kernel_load_data")
int BPF_PROG(rw_module_load, enum kernel_load_data_id id, bool contents, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct rw_mod_key key = {};

	if (ret || id != LOADING_MODULE || contents || !cfg || !cfg->module_enforce)
		return ret;
	rw_module_event(RW_MOD_INIT, 0, RW_MOD_NO_CONTENTS, &key, false, false, NULL);
	return -EPERM;
}

SEC("lsm/kernel_post_load_data")
int BPF_PROG(rw_module_post_load, char *buf, loff_t size, enum kernel_load_data_id id,
	     char *description, int ret)
{
	if (ret || id != LOADING_MODULE)
		return ret;
	return rw_check_module_image(buf, (__u64)size, RW_MOD_INIT, NULL);
}

SEC("lsm/kernel_module_request")
int BPF_PROG(rw_module_request, char *kmod_name, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	char name[RW_BPF_MOD_NAME_LEN] = {};
	struct rw_bpf_event *ev;

	if (ret || !cfg || !cfg->module_enforce)
		return ret;
	if (bpf_probe_read_kernel_str(name, sizeof(name), kmod_name) <= 0)
		return -EPERM;
	if (bpf_map_lookup_elem(&rw_mod_names, name))
		return 0;
	ev = rw_event_new(RW_EV_MODULE_REQUEST_DENIED, -EPERM);
	if (ev) {
		__builtin_memcpy(ev->name, name, sizeof(name));
		bpf_ringbuf_submit(ev, 0);
	}
	return -EPERM;
}

/* ------------------------------------------------------------------------
 * Exec: deny by SHA-256 of the file (IMA's hash; cached by IMA when its
 * policy measures BPRM_CHECK, which the agent installs).
 */

SEC("lsm.s/bprm_check_security")
int BPF_PROG(rw_exec_check, struct linux_binprm *bprm, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct rw_bpf_event *ev;
	__u8 hash[RW_BPF_SHA256_LEN] = {};
	long algo;

	if (ret || !cfg || !cfg->exec_deny_count)
		return ret;
	algo = bpf_ima_file_hash(bprm->file, hash, sizeof(hash));
	if (algo != HASH_ALGO_SHA256) {
		ev = rw_event_new(RW_EV_EXEC_UNHASHED, 0);
		if (ev) {
			ev->arg[0] = (__u32)algo;
			bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), bprm->filename);
			bpf_ringbuf_submit(ev, 0);
		}
		return 0;
	}
	if (!bpf_map_lookup_elem(&rw_exec_deny, hash))
		return 0;
	ev = rw_event_new(RW_EV_EXEC_DENIED, -EPERM);
	if (ev) {
		__builtin_memcpy(ev->sha256, hash, sizeof(hash));
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), bprm->filename);
		bpf_ringbuf_submit(ev, 0);
	}
	return -EPERM;
}

/* ------------------------------------------------------------------------
 * Exec environment and credentials, at the point of no return: current->mm
 * is the new image, whose stack holds argv then envp strings from bprm->p up
 * to bprm->exec (the file name).
 */

struct rw_env_scan {
	__u64 cur;
	__u64 end;
	__u64 start;
	__u32 argc;
	__u32 strings;		/* strings started so far */
	__u32 total;		/* argc + envc */
	__u32 cont;		/* inside a string longer than one read */
	__u32 done;
	__u32 hit_flags;
	char hit[RW_BPF_NAME_LEN];
};

static long rw_env_step_cb(__u64 index, void *ctx)
{
	struct rw_env_scan *sc = ctx;
	char buf[64];
	struct rw_env_key key = {};
	__u32 *flags;
	long n;
	int i;

	(void)index;
	if (sc->cur >= sc->end || (!sc->cont && sc->strings >= sc->total)) {
		sc->done = 1;
		return 1;
	}
	n = bpf_probe_read_user_str(buf, sizeof(buf), (const void *)sc->cur);
	if (n <= 0) {
		sc->done = 1;
		return 1;
	}
	if (!sc->cont) {
		sc->strings++;
		if (sc->strings > sc->argc) {
			for (i = 0; i < RW_BPF_ENV_NAME_LEN - 1; i++) {
				if (buf[i] == '=' || !buf[i])
					break;
				key.name[i] = buf[i];
			}
			if (i < RW_BPF_ENV_NAME_LEN - 1 && buf[i] == '=') {
				flags = bpf_map_lookup_elem(&rw_env_watch, &key);
				if (flags && !sc->hit[0]) {
					__builtin_memcpy(sc->hit, buf, sizeof(sc->hit));
					sc->hit[sizeof(sc->hit) - 1] = 0;
					sc->hit_flags = *flags;
				}
			}
		}
	}
	if (n == sizeof(buf)) {
		sc->cont = 1;
		sc->cur += sizeof(buf) - 1;
	} else {
		sc->cont = 0;
		sc->cur += n;
	}
	return 0;
}

static __always_inline void rw_scan_env(struct linux_binprm *bprm, const char *filename)
{
	struct rw_env_scan sc = {};
	struct rw_bpf_event *ev;

	sc.start = sc.cur = BPF_CORE_READ(bprm, p);
	sc.end = BPF_CORE_READ(bprm, exec);
	sc.argc = (__u32)BPF_CORE_READ(bprm, argc);
	sc.total = sc.argc + (__u32)BPF_CORE_READ(bprm, envc);
	bpf_loop(RW_ENV_MAX_STEPS, rw_env_step_cb, &sc, 0);
	if (sc.hit[0]) {
		bool kill = sc.hit_flags & RW_ENV_KILL;

		if (kill)
			bpf_send_signal(SIGKILL);
		ev = rw_event_new(RW_EV_EXEC_ENV, kill ? -EPERM : 0);
		if (ev) {
			ev->arg[0] = kill;
			__builtin_memcpy(ev->name, sc.hit, sizeof(ev->name));
			bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), filename);
			bpf_ringbuf_submit(ev, 0);
		}
	}
	if (!sc.done) {
		ev = rw_event_new(RW_EV_ENV_SCAN_INCOMPLETE, 0);
		if (ev) {
			ev->arg[0] = (__u32)(sc.cur - sc.start);
			bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), filename);
			bpf_ringbuf_submit(ev, 0);
		}
	}
}

/* All eight ids of @c in wire order (uid gid suid sgid euid egid fsuid fsgid). */
static __always_inline void rw_cred_ids(__u32 ids[RW_BPF_CRED_IDS], const struct cred *c)
{
	ids[0] = BPF_CORE_READ(c, uid.val);
	ids[1] = BPF_CORE_READ(c, gid.val);
	ids[2] = BPF_CORE_READ(c, suid.val);
	ids[3] = BPF_CORE_READ(c, sgid.val);
	ids[4] = BPF_CORE_READ(c, euid.val);
	ids[5] = BPF_CORE_READ(c, egid.val);
	ids[6] = BPF_CORE_READ(c, fsuid.val);
	ids[7] = BPF_CORE_READ(c, fsgid.val);
}

/*
 * One RW_EV_CRED_CHANGE when any of the eight ids differs.  The host pairs
 * it with ringwatch.ko's report of the same commit_creds (issue 7 item 4).
 */
static __always_inline void rw_cred_change(__u32 source, const struct cred *new,
					   const struct cred *old, const char *filename)
{
	struct rw_bpf_cred_ids ids = {};
	struct rw_bpf_event *ev;
	bool changed = false;
	int i;

	rw_cred_ids(ids.old_ids, old);
	rw_cred_ids(ids.new_ids, new);
	for (i = 0; i < RW_BPF_CRED_IDS; i++)
		changed |= ids.old_ids[i] != ids.new_ids[i];
	if (!changed)
		return;
	ev = rw_event_new(RW_EV_CRED_CHANGE, 0);
	if (!ev)
		return;
	ev->arg[0] = source;
	ev->arg[1] = ids.old_ids[0];
	ev->arg[2] = ids.old_ids[4];
	ev->arg[3] = ids.new_ids[0];
	ev->arg[4] = ids.new_ids[4];
	ev->arg[5] = ids.new_ids[5];
	__builtin_memcpy(&ev->cred, &ids, sizeof(ids));
	if (filename)
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), filename);
	bpf_ringbuf_submit(ev, 0);
}

SEC("lsm/bprm_committing_creds")
int BPF_PROG(rw_exec_commit, struct linux_binprm *bprm)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct task_struct *task = bpf_get_current_task_btf();
	struct cred *new = bprm->cred;

	if (!cfg || !cfg->agent_exe_ino)
		return 0;
	if (cfg->env_watch_count)
		rw_scan_env(bprm, bprm->filename);
	if (new)
		rw_cred_change(RW_CRED_EXEC, new, task->real_cred, bprm->filename);
	return 0;
}

SEC("lsm/task_fix_setuid")
int BPF_PROG(rw_setuid, struct cred *new, const struct cred *old, int flags, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();

	if (ret || !cfg || !cfg->agent_exe_ino)
		return ret;
	rw_cred_change(RW_CRED_SETID, new, old, NULL);
	return 0;
}

SEC("lsm/task_fix_setgid")
int BPF_PROG(rw_setgid, struct cred *new, const struct cred *old, int flags, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();

	if (ret || !cfg || !cfg->agent_exe_ino)
		return ret;
	rw_cred_change(RW_CRED_SETGID, new, old, NULL);
	return 0;
}

/* ------------------------------------------------------------------------
 * Files: self-unlinking executables; the pins and the agent binary.
 */

static __always_inline void rw_pin_event(__u32 op, __u64 ino, struct dentry *dentry)
{
	struct rw_bpf_event *ev = rw_event_new(RW_EV_GUARD_PIN, -EPERM);

	if (!ev)
		return;
	ev->arg[0] = op;
	ev->arg[1] = (__u32)ino;
	if (dentry)
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path),
					  BPF_CORE_READ(dentry, d_name.name));
	bpf_ringbuf_submit(ev, 0);
}

SEC("lsm/inode_unlink")
int BPF_PROG(rw_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct task_struct *task;
	struct inode *exe;
	struct rw_bpf_event *ev;

	if (ret || !cfg || !cfg->agent_exe_ino)
		return ret;
	if (rw_inode_is(dir, cfg->pin_dev, cfg->pin_dir_ino) && !rw_current_is_agent(cfg)) {
		rw_pin_event(RW_PIN_UNLINK, BPF_CORE_READ(dentry, d_inode, i_ino), dentry);
		return -EPERM;
	}
	task = bpf_get_current_task_btf();
	exe = BPF_CORE_READ(task, mm, exe_file, f_inode);
	if (exe && exe == BPF_CORE_READ(dentry, d_inode)) {
		ev = rw_event_new(RW_EV_SELF_UNLINK, 0);
		if (ev) {
			bpf_probe_read_kernel_str(ev->path, sizeof(ev->path),
						  BPF_CORE_READ(dentry, d_name.name));
			bpf_ringbuf_submit(ev, 0);
		}
	}
	return 0;
}

SEC("lsm/inode_rename")
int BPF_PROG(rw_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();

	if (ret || !cfg || !cfg->pin_dir_ino)
		return ret;
	if ((rw_inode_is(old_dir, cfg->pin_dev, cfg->pin_dir_ino) ||
	     rw_inode_is(new_dir, cfg->pin_dev, cfg->pin_dir_ino)) && !rw_current_is_agent(cfg)) {
		rw_pin_event(RW_PIN_RENAME, BPF_CORE_READ(old_dentry, d_inode, i_ino), old_dentry);
		return -EPERM;
	}
	return 0;
}

/*
 * Opening a pin (BPF_OBJ_GET checks inode permission) and writing the
 * agent binary are for the agent only.  This runs on every path walk, so it
 * compares the superblock first.
 */
SEC("lsm/inode_permission")
int BPF_PROG(rw_inode_permission, struct inode *inode, int mask, int ret)
{
	struct rw_bpf_config *cfg;
	struct rw_bpf_event *ev;
	__u32 dev;
	__u64 ino;

	if (ret)
		return ret;
	cfg = rw_cfg();
	if (!cfg || !cfg->agent_exe_ino)
		return 0;
	dev = BPF_CORE_READ(inode, i_sb, s_dev);
	if (dev != cfg->pin_dev && dev != cfg->agent_exe_dev)
		return 0;
	ino = BPF_CORE_READ(inode, i_ino);
	if (dev == cfg->pin_dev && bpf_map_lookup_elem(&rw_pin_inodes, &ino) &&
	    !rw_current_is_agent(cfg)) {
		rw_pin_event(RW_PIN_OPEN, ino, NULL);
		return -EPERM;
	}
	if (dev == cfg->agent_exe_dev && ino == cfg->agent_exe_ino &&
	    (mask & (MAY_WRITE | MAY_APPEND))) {
		ev = rw_event_new(RW_EV_GUARD_AGENT_EXE, -EPERM);
		if (ev) {
			ev->arg[0] = (__u32)ino;
			ev->arg[1] = (__u32)mask;
			bpf_ringbuf_submit(ev, 0);
		}
		return -EPERM;
	}
	return 0;
}

SEC("lsm/sb_umount")
int BPF_PROG(rw_umount, struct vfsmount *mnt, int flags, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();

	if (ret || !cfg || !cfg->pin_dir_ino)
		return ret;
	if (BPF_CORE_READ(mnt, mnt_sb, s_dev) != cfg->pin_dev)
		return 0;
	rw_pin_event(RW_PIN_UMOUNT, 0, BPF_CORE_READ(mnt, mnt_root));
	return -EPERM;
}

/* ------------------------------------------------------------------------
 * Mounts: removable / USB block devices after boot-complete.
 */

static __always_inline bool rw_device_on_usb(struct device *dev)
{
	char bus[4];
	int i;

	for (i = 0; i < RW_DEV_MAX_DEPTH && dev; i++) {
		const char *name = BPF_CORE_READ(dev, bus, name);

		if (name && bpf_probe_read_kernel_str(bus, sizeof(bus), name) == 4 &&
		    bus[0] == 'u' && bus[1] == 's' && bus[2] == 'b')
			return true;
		dev = BPF_CORE_READ(dev, parent);
	}
	return false;
}

static __always_inline int rw_check_mount_sb(struct super_block *sb)
{
	struct rw_bpf_config *cfg = rw_cfg();
	struct block_device *bdev;
	struct gendisk *disk;
	struct rw_bpf_event *ev;
	struct device *dev;
	bool removable, usb;

	if (!cfg || !cfg->boot_complete || !cfg->usb_mount_deny || !sb)
		return 0;
	bdev = BPF_CORE_READ(sb, s_bdev);
	if (!bdev)
		return 0;
	disk = BPF_CORE_READ(bdev, bd_disk);
	if (!disk)
		return 0;
	removable = BPF_CORE_READ(disk, flags) & GENHD_FL_REMOVABLE;
	dev = (struct device *)((char *)BPF_CORE_READ(disk, part0) +
				bpf_core_field_offset(struct block_device, bd_device));
	usb = rw_device_on_usb(dev);
	if (!removable && !usb)
		return 0;
	ev = rw_event_new(RW_EV_MOUNT_DENIED, -EPERM);
	if (ev) {
		ev->arg[0] = removable;
		ev->arg[1] = usb;
		bpf_probe_read_kernel_str(ev->name, sizeof(ev->name),
					  BPF_CORE_READ(sb, s_type, name));
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), disk->disk_name);
		bpf_ringbuf_submit(ev, 0);
	}
	return -EPERM;
}

SEC("lsm/sb_kern_mount")
int BPF_PROG(rw_mount, struct super_block *sb, int ret)
{
	if (ret)
		return ret;
	return rw_check_mount_sb(sb);
}

/* fsmount() + move_mount() bypass sb_kern_mount. */
SEC("lsm/move_mount")
int BPF_PROG(rw_move_mount, const struct path *from_path, const struct path *to_path, int ret)
{
	if (ret)
		return ret;
	return rw_check_mount_sb(BPF_CORE_READ(from_path, mnt, mnt_sb));
}

/* ------------------------------------------------------------------------
 * Guard: bpf() against our objects, signals and ptrace against the agent.
 */

static __always_inline void rw_bpf_guard_event(int cmd, __u32 type, __u32 id)
{
	struct rw_bpf_event *ev = rw_event_new(RW_EV_GUARD_BPF, -EPERM);

	if (!ev)
		return;
	ev->arg[0] = (__u32)cmd;
	ev->arg[1] = type;
	ev->arg[2] = id;
	bpf_ringbuf_submit(ev, 0);
}

/* Link id behind a file descriptor of the calling process, or 0. */
static __always_inline __u32 rw_fd_link_id(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct bpf_link *link;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	if (BPF_CORE_READ(file, f_op) != (const struct file_operations *)&bpf_link_fops)
		return 0;
	link = BPF_CORE_READ(file, private_data);
	return link ? BPF_CORE_READ(link, id) : 0;
}

SEC("lsm/bpf")
int BPF_PROG(rw_bpf_cmd, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	struct rw_bpf_config *cfg;
	__u32 id;

	if (ret)
		return ret;
	switch (cmd) {
	case BPF_LINK_GET_FD_BY_ID:
		id = BPF_CORE_READ(attr, link_id);
		break;
	case BPF_LINK_DETACH:
		id = rw_fd_link_id(BPF_CORE_READ(attr, link_detach.link_fd));
		break;
	case BPF_LINK_UPDATE:
		id = rw_fd_link_id(BPF_CORE_READ(attr, link_update.link_fd));
		break;
	default:
		return 0;
	}
	if (!rw_is_protected_id(RW_OBJ_LINK, id))
		return 0;
	cfg = rw_cfg();
	if (!cfg || rw_current_is_agent(cfg))
		return 0;
	rw_bpf_guard_event(cmd, RW_OBJ_LINK, id);
	return -EPERM;
}

/* Any new fd for one of our maps (by id or pin) outside the agent. */
SEC("lsm/bpf_map")
int BPF_PROG(rw_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	struct rw_bpf_config *cfg;
	__u32 id = BPF_CORE_READ(map, id);

	if (ret || !rw_is_protected_id(RW_OBJ_MAP, id))
		return ret;
	cfg = rw_cfg();
	if (!cfg || rw_current_is_agent(cfg))
		return 0;
	rw_bpf_guard_event(-1, RW_OBJ_MAP, id);
	return -EPERM;
}

SEC("lsm/bpf_prog")
int BPF_PROG(rw_bpf_prog, struct bpf_prog *prog, int ret)
{
	struct rw_bpf_config *cfg;
	__u32 id = BPF_CORE_READ(prog, aux, id);

	if (ret || !rw_is_protected_id(RW_OBJ_PROG, id))
		return ret;
	cfg = rw_cfg();
	if (!cfg || rw_current_is_agent(cfg))
		return 0;
	rw_bpf_guard_event(-1, RW_OBJ_PROG, id);
	return -EPERM;
}

/* Signal 0 (existence probe) stays allowed; init and the target itself too. */
SEC("lsm/task_kill")
int BPF_PROG(rw_task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	__u32 self = (__u32)(bpf_get_current_pid_tgid() >> 32);
	__u32 target = BPF_CORE_READ(p, tgid);
	struct rw_bpf_event *ev;

	if (ret || !sig || !cfg || self == 1 || self == target || !rw_task_protected(p, cfg))
		return ret;
	ev = rw_event_new(RW_EV_GUARD_SIGNAL, -EPERM);
	if (ev) {
		ev->arg[0] = target;
		ev->arg[1] = (__u32)sig;
		bpf_ringbuf_submit(ev, 0);
	}
	return -EPERM;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(rw_ptrace, struct task_struct *child, unsigned int mode, int ret)
{
	struct rw_bpf_config *cfg = rw_cfg();
	__u32 self = (__u32)(bpf_get_current_pid_tgid() >> 32);
	__u32 target = BPF_CORE_READ(child, tgid);
	struct rw_bpf_event *ev;

	if (ret || !cfg || self == 1 || self == target || !rw_task_protected(child, cfg))
		return ret;
	if (!(mode & PTRACE_MODE_NOAUDIT)) {
		ev = rw_event_new(RW_EV_GUARD_PTRACE, -EPERM);
		if (ev) {
			ev->arg[0] = target;
			ev->arg[1] = mode;
			bpf_ringbuf_submit(ev, 0);
		}
	}
	return -EPERM;
}

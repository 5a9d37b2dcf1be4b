// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: load, pin, reattach, protect; policy into the maps. */
#include "guest/bpf/agent/bpfobj.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "guest/bpf/agent/kmodreg.h"
#include "ringwatch.skel.h"

static const char *const map_names[RW_MAP_COUNT] = {
	[RW_MAP_EVENTS] = "rw_events",
	[RW_MAP_DROPS] = "rw_drops",
	[RW_MAP_CONFIG] = "rw_config",
	[RW_MAP_MOD_ALLOW] = "rw_mod_allow",
	[RW_MAP_MOD_NAMES] = "rw_mod_names",
	[RW_MAP_EXEC_DENY] = "rw_exec_deny",
	[RW_MAP_ENV_WATCH] = "rw_env_watch",
	[RW_MAP_PROTECTED] = "rw_protected",
	[RW_MAP_PIN_INODES] = "rw_pin_inodes",
	[RW_MAP_PROTECTED_TGIDS] = "rw_protected_tgids",
};

static void map_pin_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, RW_PIN_DIR "/map_%s", name);
}

static void link_pin_path(char *out, size_t len, const char *prog)
{
	snprintf(out, len, RW_PIN_DIR "/link_%s", prog);
}

/* The kernel's dev_t of a stat() st_dev. */
static uint32_t kernel_dev(dev_t dev)
{
	return (uint32_t)(major(dev) << 20 | minor(dev));
}

static int errf(char *err, size_t errlen, const char *what, int e)
{
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -1;
}

static int read_config(struct rw_agent_bpf *b, struct rw_bpf_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_lookup_elem(b->map_fd[RW_MAP_CONFIG], &zero, cfg) ? -errno : 0;
}

static int write_config(struct rw_agent_bpf *b, const struct rw_bpf_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(b->map_fd[RW_MAP_CONFIG], &zero, cfg, BPF_ANY) ? -errno : 0;
}

/* Count the keys of a map (bounded by its max_entries). */
static unsigned int count_keys(int fd, size_t key_size)
{
	unsigned char key[128], next[128];
	unsigned int n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (n < 1u << 20 && !bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static int install_ima_policy(struct rw_agent_bpf *b)
{
	/* IMA then measures (and caches the hash of) every executed file, so
	 * bpf_ima_file_hash is a lookup after the first exec. */
	static const char rule[] = "measure func=BPRM_CHECK mask=MAY_EXEC\n";
	int fd = open(RW_IMA_POLICY, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(b->ima, sizeof(b->ima), "%s", errno == ENOENT ? "unavailable"
								      : "preexisting");
		return 0;
	}
	n = write(fd, rule, sizeof(rule) - 1);
	snprintf(b->ima, sizeof(b->ima), "%s",
		 n == (ssize_t)(sizeof(rule) - 1) ? "installed" : "rejected");
	close(fd);
	return 0;
}

static int protect_id(struct rw_agent_bpf *b, uint32_t type, uint32_t id)
{
	struct rw_protected_key key = { .type = type, .id = id };
	uint8_t one = 1;

	return bpf_map_update_elem(b->map_fd[RW_MAP_PROTECTED], &key, &one, BPF_ANY) ? -errno : 0;
}

static int prog_id(int fd, uint32_t *id)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

static int map_id(int fd, uint32_t *id)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

static int link_id(int fd, uint32_t *id)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

/* Remove whatever a previous, interrupted setup left in the pin directory. */
static int clear_pin_dir(char *err, size_t errlen)
{
	DIR *dir = opendir(RW_PIN_DIR);
	struct dirent *de;
	char path[512];

	if (!dir)
		return errno == ENOENT ? 0 : errf(err, errlen, "open " RW_PIN_DIR, errno);
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), RW_PIN_DIR "/%s", de->d_name);
		if (unlink(path)) {
			int e = errno;

			closedir(dir);
			return errf(err, errlen, "remove stale pin", e);
		}
	}
	closedir(dir);
	return 0;
}

static bool pins_complete(const struct ringwatch_bpf *skel)
{
	struct bpf_program *prog;
	char path[512];

	for (int i = 0; i < RW_MAP_COUNT; i++) {
		map_pin_path(path, sizeof(path), map_names[i]);
		if (access(path, F_OK))
			return false;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		link_pin_path(path, sizeof(path), bpf_program__name(prog));
		if (access(path, F_OK))
			return false;
	}
	return true;
}

static int register_pin(struct rw_agent_bpf *b, const char *path)
{
	struct stat st;
	uint64_t ino;
	uint8_t one = 1;

	if (stat(path, &st))
		return -errno;
	ino = st.st_ino;
	return bpf_map_update_elem(b->map_fd[RW_MAP_PIN_INODES], &ino, &one, BPF_ANY) ? -errno : 0;
}

/* The agent's supervisor (our parent, unless that is init) is protected too. */
static int register_supervisor(struct rw_agent_bpf *b)
{
	int fd = b->map_fd[RW_MAP_PROTECTED_TGIDS];
	uint32_t key, ppid = (uint32_t)getppid();
	uint8_t one = 1;

	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			return -errno;
	if (ppid <= 1)
		return 0;
	return bpf_map_update_elem(fd, &ppid, &one, BPF_ANY) ? -errno : 0;
}

static int register_identity(struct rw_agent_bpf *b, char *err, size_t errlen)
{
	struct rw_bpf_config cfg;
	struct stat exe, dir;
	int rc;

	if (stat("/proc/self/exe", &exe))
		return errf(err, errlen, "stat /proc/self/exe", errno);
	if (stat(RW_PIN_DIR, &dir))
		return errf(err, errlen, "stat " RW_PIN_DIR, errno);
	rc = read_config(b, &cfg);
	if (rc)
		return errf(err, errlen, "read rw_config", -rc);
	cfg.agent_exe_ino = exe.st_ino;
	cfg.agent_exe_dev = kernel_dev(exe.st_dev);
	cfg.pin_dir_ino = dir.st_ino;
	cfg.pin_dev = kernel_dev(dir.st_dev);
	rc = write_config(b, &cfg);
	return rc ? errf(err, errlen, "write rw_config", -rc) : 0;
}

static int setup_fresh(struct rw_agent_bpf *b, char *err, size_t errlen)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[512];
	uint32_t id = 0;
	int rc;

	if (ringwatch_bpf__load(b->skel))
		return errf(err, errlen, "load BPF programs", errno);
	if (ringwatch_bpf__attach(b->skel))
		return errf(err, errlen, "attach BPF LSM programs", errno);
	if (clear_pin_dir(err, errlen))
		return -1;
	if (mkdir(RW_PIN_DIR, 0700) && errno != EEXIST)
		return errf(err, errlen, "mkdir " RW_PIN_DIR, errno);
	for (int i = 0; i < RW_MAP_COUNT; i++) {
		map = bpf_object__find_map_by_name(b->skel->obj, map_names[i]);
		if (!map) {
			snprintf(err, errlen, "BPF object has no map %s", map_names[i]);
			return -1;
		}
		b->map_fd[i] = dup(bpf_map__fd(map));
		if (b->map_fd[i] < 0)
			return errf(err, errlen, "dup map fd", errno);
	}
	/* Protect every map of the object (internal ones included) and pin ours. */
	bpf_object__for_each_map(map, b->skel->obj) {
		if ((rc = map_id(bpf_map__fd(map), &id)) || (rc = protect_id(b, RW_OBJ_MAP, id)))
			return errf(err, errlen, "register map id", -rc);
	}
	for (int i = 0; i < RW_MAP_COUNT; i++) {
		map_pin_path(path, sizeof(path), map_names[i]);
		if (bpf_obj_pin(b->map_fd[i], path))
			return errf(err, errlen, "pin map", errno);
		if ((rc = register_pin(b, path)))
			return errf(err, errlen, "register map pin", -rc);
	}
	b->links_expected = 0;
	bpf_object__for_each_program(prog, b->skel->obj) {
		struct bpf_link *link = NULL;

		/* The skeleton keeps one link per program, in program order. */
		for (int i = 0; i < b->skel->skeleton->prog_cnt; i++)
			if (*b->skel->skeleton->progs[i].prog == prog)
				link = *b->skel->skeleton->progs[i].link;
		if (!link) {
			snprintf(err, errlen, "program %s has no link", bpf_program__name(prog));
			return -1;
		}
		link_pin_path(path, sizeof(path), bpf_program__name(prog));
		if (bpf_link__pin(link, path))
			return errf(err, errlen, "pin link", errno);
		if ((rc = register_pin(b, path)) ||
		    (rc = prog_id(bpf_program__fd(prog), &id)) ||
		    (rc = protect_id(b, RW_OBJ_PROG, id)) ||
		    (rc = link_id(bpf_link__fd(link), &id)) ||
		    (rc = protect_id(b, RW_OBJ_LINK, id)))
			return errf(err, errlen, "register program/link", -rc);
		b->links_expected++;
	}
	install_ima_policy(b);
	return 0;
}

static int setup_reattach(struct rw_agent_bpf *b, char *err, size_t errlen)
{
	struct bpf_program *prog;
	char path[512];

	for (int i = 0; i < RW_MAP_COUNT; i++) {
		map_pin_path(path, sizeof(path), map_names[i]);
		b->map_fd[i] = bpf_obj_get(path);
		if (b->map_fd[i] < 0)
			return errf(err, errlen, "open pinned map (is this the same agent binary?)",
				    errno);
	}
	b->links_expected = 0;
	bpf_object__for_each_program(prog, b->skel->obj)
		b->links_expected++;
	b->reattached = true;
	snprintf(b->ima, sizeof(b->ima), "unchanged");
	return 0;
}

int rw_bpf_setup(struct rw_agent_bpf *b, char *err, size_t errlen)
{
	struct rw_bpf_config cfg;
	int rc;

	memset(b, 0, sizeof(*b));
	for (int i = 0; i < RW_MAP_COUNT; i++)
		b->map_fd[i] = -1;
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	b->skel = ringwatch_bpf__open();
	if (!b->skel)
		return errf(err, errlen, "open BPF object", errno);
	rc = pins_complete(b->skel) ? setup_reattach(b, err, errlen)
				    : setup_fresh(b, err, errlen);
	if (rc)
		return -1;
	if (register_identity(b, err, errlen))
		return -1;
	if ((rc = register_supervisor(b)))
		return errf(err, errlen, "register supervisor", -rc);
	/* Recount (a restarted agent finds the maps as the previous one left them). */
	if ((rc = read_config(b, &cfg)))
		return errf(err, errlen, "read rw_config", -rc);
	cfg.exec_deny_count = count_keys(b->map_fd[RW_MAP_EXEC_DENY], RW_BPF_SHA256_LEN);
	cfg.env_watch_count = count_keys(b->map_fd[RW_MAP_ENV_WATCH], sizeof(struct rw_env_key));
	if ((rc = write_config(b, &cfg)))
		return errf(err, errlen, "write rw_config", -rc);
	return 0;
}

int rw_bpf_enforce_modules(struct rw_agent_bpf *b, char *err, size_t errlen)
{
	struct rw_bpf_config cfg;
	int rc = read_config(b, &cfg);

	if (!rc) {
		cfg.module_enforce = 1;
		rc = write_config(b, &cfg);
	}
	return rc ? errf(err, errlen, "enable module enforcement", -rc) : 0;
}

/* Keep rw_mod_names = the names that have at least one allowlist entry. */
static int sync_module_name(struct rw_agent_bpf *b, const char *name)
{
	struct rw_mod_key key, next;
	char nkey[RW_BPF_MOD_NAME_LEN] = { 0 };
	bool present = false;
	void *prev = NULL;
	uint8_t one = 1;

	memcpy(nkey, name, sizeof(nkey));
	while (!bpf_map_get_next_key(b->map_fd[RW_MAP_MOD_ALLOW], prev, &next)) {
		if (!memcmp(next.name, nkey, sizeof(nkey))) {
			present = true;
			break;
		}
		key = next;
		prev = &key;
	}
	if (present)
		return bpf_map_update_elem(b->map_fd[RW_MAP_MOD_NAMES], nkey, &one, BPF_ANY) ? -errno
											   : 0;
	if (bpf_map_delete_elem(b->map_fd[RW_MAP_MOD_NAMES], nkey) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Insert or delete @key in map @idx and keep the count in rw_config. */
static int update_counted(struct rw_agent_bpf *b, enum rw_map_index idx, const void *key,
			  const void *value, bool insert, __u32 *(*count)(struct rw_bpf_config *))
{
	struct rw_bpf_config cfg;
	int fd = b->map_fd[idx], rc;
	bool changed;

	if (insert) {
		changed = !bpf_map_update_elem(fd, key, value, BPF_NOEXIST);
		if (!changed) {
			if (errno != EEXIST)
				return -errno;
			if (bpf_map_update_elem(fd, key, value, BPF_EXIST))
				return -errno;
		}
	} else {
		changed = !bpf_map_delete_elem(fd, key);
		if (!changed && errno != ENOENT)
			return -errno;
	}
	if (!changed)
		return 0;
	if ((rc = read_config(b, &cfg)))
		return rc;
	if (insert)
		(*count(&cfg))++;
	else if (*count(&cfg))
		(*count(&cfg))--;
	return write_config(b, &cfg);
}

static __u32 *exec_count(struct rw_bpf_config *cfg)
{
	return &cfg->exec_deny_count;
}

static __u32 *env_count(struct rw_bpf_config *cfg)
{
	return &cfg->env_watch_count;
}

int rw_bpf_apply(struct rw_agent_bpf *b, const struct rw_policy_cmd *cmd, char *err,
		 size_t errlen)
{
	struct rw_mod_key mkey;
	struct rw_env_key ekey;
	struct rw_bpf_config cfg;
	uint8_t one = 1;
	int rc = 0;

	switch (cmd->op) {
	case RW_POL_MODULE_ALLOW:
	case RW_POL_MODULE_REMOVE:
		memset(&mkey, 0, sizeof(mkey));
		memcpy(mkey.name, cmd->name, sizeof(mkey.name));
		if (!cmd->any_hash)
			memcpy(mkey.sha256, cmd->sha256, sizeof(mkey.sha256));
		if (cmd->op == RW_POL_MODULE_ALLOW)
			rc = bpf_map_update_elem(b->map_fd[RW_MAP_MOD_ALLOW], &mkey, &one, BPF_ANY)
				     ? -errno : 0;
		else if (bpf_map_delete_elem(b->map_fd[RW_MAP_MOD_ALLOW], &mkey) && errno != ENOENT)
			rc = -errno;
		if (!rc)
			rc = sync_module_name(b, mkey.name);
		break;
	case RW_POL_EXEC_DENY:
	case RW_POL_EXEC_REMOVE:
		rc = update_counted(b, RW_MAP_EXEC_DENY, cmd->sha256, &one,
				    cmd->op == RW_POL_EXEC_DENY, exec_count);
		break;
	case RW_POL_ENV_WATCH:
	case RW_POL_ENV_REMOVE:
		memset(&ekey, 0, sizeof(ekey));
		memcpy(ekey.name, cmd->name, sizeof(ekey.name));
		rc = update_counted(b, RW_MAP_ENV_WATCH, &ekey, &cmd->env_flags,
				    cmd->op == RW_POL_ENV_WATCH, env_count);
		break;
	case RW_POL_USB_MOUNT:
	case RW_POL_BOOT_COMPLETE:
		rc = read_config(b, &cfg);
		if (rc)
			break;
		if (cmd->op == RW_POL_USB_MOUNT)
			cfg.usb_mount_deny = cmd->deny;
		else
			cfg.boot_complete = 1;
		rc = write_config(b, &cfg);
		break;
	case RW_POL_HEALTH:
	case RW_POL_RESTART:
		break;
	}
	return rc ? errf(err, errlen, "update BPF maps", -rc) : 0;
}

int rw_bpf_health(struct rw_agent_bpf *b, struct rw_agent_health *h)
{
	struct bpf_program *prog;
	struct rw_bpf_config cfg;
	int ncpu = libbpf_num_possible_cpus();
	uint32_t zero = 0;
	char path[512];
	int rc;

	memset(h, 0, sizeof(*h));
	h->links_expected = b->links_expected;
	bpf_object__for_each_program(prog, b->skel->obj) {
		int fd;

		link_pin_path(path, sizeof(path), bpf_program__name(prog));
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			h->links_pinned++;
			close(fd);
		}
	}
	if (ncpu > 0 && ncpu <= 4096) {
		uint64_t *per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));

		if (per_cpu && !bpf_map_lookup_elem(b->map_fd[RW_MAP_DROPS], &zero, per_cpu))
			for (int i = 0; i < ncpu; i++)
				h->ringbuf_drops += per_cpu[i];
		free(per_cpu);
	}
	h->module_allow = count_keys(b->map_fd[RW_MAP_MOD_ALLOW], sizeof(struct rw_mod_key));
	rc = read_config(b, &cfg);
	if (rc)
		return rc;
	h->exec_deny = cfg.exec_deny_count;
	h->env_watch = cfg.env_watch_count;
	h->boot_complete = cfg.boot_complete;
	h->usb_mount_deny = cfg.usb_mount_deny;
	h->module_enforce = cfg.module_enforce;
	return 0;
}

int rw_bpf_lsm_hooks(struct rw_agent_bpf *b, char *out, size_t outlen, char *err, size_t errlen)
{
	struct bpf_program *prog;
	char hook[RW_KMOD_HOOK_MAX + 1], word[RW_KMOD_HOOK_MAX + 3];
	size_t pos = sizeof("hooks ") - 1;

	/* "hooks a b ... " while building: every name sits between spaces */
	if (outlen <= pos) {
		snprintf(err, errlen, "hook list buffer too small");
		return -1;
	}
	memcpy(out, "hooks ", pos + 1);
	bpf_object__for_each_program(prog, b->skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		size_t len;

		if (!sec || rw_kmod_hook_of_section(sec, hook, sizeof(hook))) {
			snprintf(err, errlen, "program %s: not an LSM hook (%s)",
				 bpf_program__name(prog), sec ? sec : "no section");
			return -1;
		}
		snprintf(word, sizeof(word), " %s ", hook);
		if (strstr(out, word))
			continue;
		len = strlen(hook);
		if (pos + len + 2 > outlen) {
			snprintf(err, errlen, "hook list buffer too small");
			return -1;
		}
		memcpy(out + pos, hook, len);
		pos += len;
		out[pos++] = ' ';
		out[pos] = '\0';
	}
	out[pos - 1] = '\n';
	return 0;
}

int rw_bpf_boot_complete_via_pins(char *err, size_t errlen)
{
	struct rw_agent_bpf b;
	struct rw_policy_cmd cmd = { .op = RW_POL_BOOT_COMPLETE };
	char path[512];
	int rc;

	memset(&b, 0, sizeof(b));
	map_pin_path(path, sizeof(path), map_names[RW_MAP_CONFIG]);
	b.map_fd[RW_MAP_CONFIG] = bpf_obj_get(path);
	if (b.map_fd[RW_MAP_CONFIG] < 0)
		return errf(err, errlen, "open " RW_PIN_DIR "/map_rw_config", errno);
	rc = rw_bpf_apply(&b, &cmd, err, errlen);
	close(b.map_fd[RW_MAP_CONFIG]);
	return rc;
}

void rw_bpf_close(struct rw_agent_bpf *b)
{
	for (int i = 0; i < RW_MAP_COUNT; i++)
		if (b->map_fd[i] >= 0)
			close(b->map_fd[i]);
	/* Destroying the skeleton closes our link fds; the pins keep them attached. */
	if (b->skel)
		ringwatch_bpf__destroy(b->skel);
	b->skel = NULL;
}

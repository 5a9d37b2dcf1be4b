// SPDX-License-Identifier: GPL-2.0
/*
 * Guest payload: try to switch ringwatch's BPF guard off, the ways root can.
 *   rw_attack bpf DIR     every link/prog/map id: get an fd (and detach links);
 *                         every pin in DIR: BPF_OBJ_GET, unlink, rename
 *   rw_attack ptrace PID  PTRACE_ATTACH and PTRACE_SEIZE
 *   rw_attack setuid UID  setresuid(UID, UID, UID) (a credential change)
 *   rw_attack fds PID     open every /proc/PID/fd entry (the agent's link fds)
 * Prints one line per result, "<what> <target> ok|EPERM|<errno>", and a
 * summary "succeeded=N denied=N other=N".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int succeeded, denied, other;

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static void result(const char *what, const char *target, long rc)
{
	if (rc >= 0) {
		succeeded++;
		printf("%s %s ok\n", what, target);
	} else if (errno == EPERM) {
		denied++;
		printf("%s %s EPERM\n", what, target);
	} else {
		other++;
		printf("%s %s %s\n", what, target, strerror(errno));
	}
}

/* Walk the ids of one object kind and try to get an fd for each. */
static void walk_ids(int next_cmd, int get_cmd, const char *kind)
{
	union bpf_attr attr;
	unsigned int id = 0;
	char name[32];

	for (;;) {
		memset(&attr, 0, sizeof(attr));
		attr.start_id = id;
		if (sys_bpf(next_cmd, &attr))
			break;
		id = attr.next_id;
		memset(&attr, 0, sizeof(attr));
		if (get_cmd == BPF_LINK_GET_FD_BY_ID)
			attr.link_id = id;
		else if (get_cmd == BPF_PROG_GET_FD_BY_ID)
			attr.prog_id = id;
		else
			attr.map_id = id;
		snprintf(name, sizeof(name), "%s-%u", kind, id);
		long fd = sys_bpf(get_cmd, &attr);

		result("get-fd", name, fd);
		if (fd >= 0 && get_cmd == BPF_LINK_GET_FD_BY_ID) {
			memset(&attr, 0, sizeof(attr));
			attr.link_detach.link_fd = (unsigned int)fd;
			result("link-detach", name, sys_bpf(BPF_LINK_DETACH, &attr));
		}
		if (fd >= 0)
			close((int)fd);
	}
}

static void attack_pins(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512], moved[600];
	union bpf_attr attr;

	if (!d) {
		perror(dir);
		exit(2);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		memset(&attr, 0, sizeof(attr));
		attr.pathname = (unsigned long)path;
		long fd = sys_bpf(BPF_OBJ_GET, &attr);

		result("obj-get", de->d_name, fd);
		if (fd >= 0) {
			memset(&attr, 0, sizeof(attr));
			attr.link_detach.link_fd = (unsigned int)fd;
			if (!strncmp(de->d_name, "link_", 5))
				result("link-detach", de->d_name, sys_bpf(BPF_LINK_DETACH, &attr));
			close((int)fd);
		}
		snprintf(moved, sizeof(moved), "/sys/fs/bpf/moved-%s", de->d_name);
		result("rename", de->d_name, rename(path, moved));
		result("unlink", de->d_name, unlink(path));
	}
	closedir(d);
}

static void attack_ptrace(pid_t pid)
{
	char name[32];

	snprintf(name, sizeof(name), "%d", (int)pid);
	long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);

	result("ptrace-attach", name, rc);
	if (rc == 0) {
		waitpid(pid, NULL, 0);
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	rc = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
	result("ptrace-seize", name, rc);
	if (rc == 0)
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
}

static void attack_fds(pid_t pid)
{
	char dir[64], path[600];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	/* Listing the numbers is allowed; opening an entry needs ptrace access. */
	d = opendir(dir);
	if (!d) {
		perror(dir);
		exit(2);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int fd = open(path, O_RDONLY);

		result("open", path, fd);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: rw_attack bpf DIR | ptrace PID | fds PID | setuid UID\n");
		return 2;
	}
	if (!strcmp(argv[1], "bpf")) {
		walk_ids(BPF_LINK_GET_NEXT_ID, BPF_LINK_GET_FD_BY_ID, "link");
		walk_ids(BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID, "prog");
		walk_ids(BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID, "map");
		attack_pins(argv[2]);
	} else if (!strcmp(argv[1], "ptrace")) {
		attack_ptrace((pid_t)atoi(argv[2]));
	} else if (!strcmp(argv[1], "setuid")) {
		uid_t uid = (uid_t)atoi(argv[2]);

		result("setresuid", argv[2], setresuid(uid, uid, uid));
	} else if (!strcmp(argv[1], "fds")) {
		attack_fds((pid_t)atoi(argv[2]));
	} else {
		fprintf(stderr, "unknown attack %s\n", argv[1]);
		return 2;
	}
	printf("succeeded=%d denied=%d other=%d\n", succeeded, denied, other);
	return 0;
}

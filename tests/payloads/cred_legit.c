// SPDX-License-Identifier: GPL-2.0
/*
 * Legitimate credential changes, repeated, for ringwatch's false-positive
 * tests (runs in the guest, static).  Each command prints one summary line
 * "cred_legit: <cmd> runs=N failures=M" and exits non-zero on a failure.
 *   suid-check TARGET          as a setuid-root binary run by a user: open
 *                              TARGET as euid 0, access() it as the user,
 *                              become root fully, drop to the user again
 *   suid-loop N SUIDBIN TARGET fork+exec "SUIDBIN suid-check TARGET" N times
 *   root-games N TARGET        as root, N times in a child: seteuid games,
 *                              bounding-set drop, capset, keepcaps, ambient,
 *                              unshare(UTS), no_new_privs + seccomp filter,
 *                              then exec /bin/true
 *   su N UID                   as root, N times: setgroups/setresgid/
 *                              setresuid(UID) and exec /bin/true
 *   runas UID CMD...           become UID and exec CMD
 *   forkstorm N                N short-lived children, 64 at a time
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RW_USER 1000

static int fail(const char *what)
{
	dprintf(2, "cred_legit: %s: %s\n", what, strerror(errno));
	return 1;
}

static int can_open(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int become(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return fail("become");
	return 0;
}

static int suid_check(const char *target)
{
	if (getuid() != RW_USER || geteuid() != 0)
		return fail("not run setuid-root by the user");
	if (!can_open(target))
		return fail("open as euid 0");
	if (access(target, R_OK) == 0)
		return fail("access() as the real user succeeded");
	if (setresuid(0, 0, 0) || !can_open(target))
		return fail("full root");
	if (become(RW_USER))
		return 1;
	if (can_open(target))
		return fail("open after dropping to the user succeeded");
	return 0;
}

static int run_wait(char *const argv[], int quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (!quiet)
			dprintf(2, "cred_legit: %s ended with status 0x%x\n", argv[0], status);
		return 1;
	}
	return 0;
}

static int cap_drop(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return fail("capget");
	data[cap / 32].effective &= ~(1u << (cap % 32));
	data[cap / 32].permitted &= ~(1u << (cap % 32));
	data[cap / 32].inheritable &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &hdr, data))
		return fail("capset");
	return 0;
}

static int seccomp_allow_all(void)
{
	struct sock_filter insn[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { 1, insn };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail("no_new_privs");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return fail("seccomp");
	return 0;
}

/* One round of what a service does to its own credentials. */
static int root_games_once(const char *target)
{
	char *true_argv[] = { "/bin/true", NULL };

	if (setresuid(-1, RW_USER, 0) || can_open(target))
		return fail("seteuid user");
	if (setresuid(-1, 0, -1) || !can_open(target))
		return fail("seteuid back to root");
	if (prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0))
		return fail("capbset drop");
	if (cap_drop(CAP_SYS_BOOT))
		return 1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return fail("keepcaps");
	if (cap_drop(CAP_NET_ADMIN))
		return 1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return fail("ambient");
	if (unshare(CLONE_NEWUTS))
		return fail("unshare uts");
	if (seccomp_allow_all())
		return 1;
	execv(true_argv[0], true_argv);
	return fail("exec");
}

static int su_once(uid_t uid)
{
	char *true_argv[] = { "/bin/true", NULL };

	if (become(uid))
		return 1;
	execv(true_argv[0], true_argv);
	return fail("exec");
}

static int fork_child(int (*fn)(const char *, long), const char *s, long n)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return fail("fork");
	if (pid == 0)
		_exit(fn(s, n));
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid");
	return !WIFEXITED(status) || WEXITSTATUS(status);
}

static int root_games_child(const char *target, long unused)
{
	(void)unused;
	return root_games_once(target);
}

static int su_child(const char *unused, long uid)
{
	(void)unused;
	return su_once((uid_t)uid);
}

static int forkstorm(long n)
{
	long started = 0, reaped = 0, running = 0, failures = 0;
	int status;

	while (reaped < n) {
		while (started < n && running < 64) {
			pid_t pid = fork();

			if (pid < 0)
				return fail("fork");
			if (pid == 0)
				_exit(0);
			started++;
			running++;
		}
		if (wait(&status) < 0)
			return fail("wait");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failures++;
		reaped++;
		running--;
	}
	printf("cred_legit: forkstorm runs=%ld failures=%ld\n", n, failures);
	return failures != 0;
}

static int summary(const char *cmd, long runs, long failures)
{
	printf("cred_legit: %s runs=%ld failures=%ld\n", cmd, runs, failures);
	return failures != 0;
}

int main(int argc, char **argv)
{
	long i, n, failures = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "suid-check"))
		return suid_check(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "suid-loop")) {
		char *child[] = { argv[3], "suid-check", argv[4], NULL };

		n = atol(argv[2]);
		for (i = 0; i < n; i++)
			failures += run_wait(child, 0);
		return summary(argv[1], n, failures);
	}
	if (argc == 4 && !strcmp(argv[1], "root-games")) {
		n = atol(argv[2]);
		for (i = 0; i < n; i++)
			failures += fork_child(root_games_child, argv[3], 0);
		return summary(argv[1], n, failures);
	}
	if (argc == 4 && !strcmp(argv[1], "su")) {
		n = atol(argv[2]);
		for (i = 0; i < n; i++)
			failures += fork_child(su_child, NULL, atol(argv[3]));
		return summary(argv[1], n, failures);
	}
	if (argc >= 4 && !strcmp(argv[1], "runas")) {
		if (become((uid_t)atol(argv[2])))
			return 1;
		execv(argv[3], argv + 3);
		return fail("exec");
	}
	if (argc == 3 && !strcmp(argv[1], "forkstorm"))
		return forkstorm(atol(argv[2]));
	dprintf(2, "usage: see the comment at the top of cred_legit.c\n");
	return 2;
}

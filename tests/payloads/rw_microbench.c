// SPDX-License-Identifier: GPL-2.0
/*
 * Guest microbenchmark for the overhead of ringwatch.ko and the BPF LSM
 * programs (bench_guest_overhead runs it; static, no library beyond libc).
 *
 *   rw_microbench OP[:N][,OP[:N]...] ITERATIONS
 *       time each operation N times (default ITERATIONS), one line per OP:
 *       "op=NAME iters=N ns_per_op=X"
 *   rw_microbench noop                        exit 0 at once (the exec target)
 *
 * Operations:
 *   exec    posix_spawn of this binary with "noop" + waitpid (vfork-style
 *           spawn, so the cost is mostly execve of a small static binary)
 *   fork    fork + _exit(0) in the child + waitpid
 *   open    open(O_RDONLY) + close of a regular file (/tmp/rw_microbench.dat)
 *   setuid  setresuid(-1, 65534, -1) then back to 0 (root only); ns per call
 *   mount   mount tmpfs on /tmp/rw_microbench.mnt + umount (root only)
 *
 * Each OP is warmed up with ITERATIONS/10 (at least 1) untimed rounds first.
 * Exit status 0 only if every operation succeeded every time; otherwise a
 * message on stderr naming the operation and errno, status 1 (2: usage).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DATA_FILE "/tmp/rw_microbench.dat"
#define MOUNT_DIR "/tmp/rw_microbench.mnt"
#define MAX_ITERATIONS 10000000L

extern char **environ;

static const char *self_path;

static int wait_child_ok(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ECHILD;
		return -1;
	}
	return 0;
}

static int op_exec(void)
{
	char *const argv[] = { (char *)"rw_microbench", (char *)"noop", NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, self_path, NULL, NULL, argv, environ);

	if (rc) {
		errno = rc;
		return -1;
	}
	return wait_child_ok(pid);
}

static int op_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(0);
	return wait_child_ok(pid);
}

static int op_open(void)
{
	int fd = open(DATA_FILE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	return close(fd);
}

static int op_setuid(void)
{
	if (setresuid((uid_t)-1, 65534, (uid_t)-1))
		return -1;
	return setresuid((uid_t)-1, 0, (uid_t)-1);
}

static int op_mount(void)
{
	if (mount("rwbench", MOUNT_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k"))
		return -1;
	return umount(MOUNT_DIR);
}

struct bench_op {
	const char *name;
	int (*run)(void);
	unsigned int calls;	/* measured calls per run() */
	int (*prepare)(void);
};

static int prepare_open(void)
{
	int fd = open(DATA_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, "ringwatch\n", 10) != 10) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int prepare_mount(void)
{
	if (mkdir(MOUNT_DIR, 0755) && errno != EEXIST)
		return -1;
	return 0;
}

static int prepare_root(void)
{
	if (geteuid() != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int prepare_mount_root(void)
{
	return prepare_root() ? -1 : prepare_mount();
}

static const struct bench_op ops[] = {
	{ "exec", op_exec, 1, NULL },
	{ "fork", op_fork, 1, NULL },
	{ "open", op_open, 1, prepare_open },
	{ "setuid", op_setuid, 2, prepare_root },
	{ "mount", op_mount, 1, prepare_mount_root },
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const struct bench_op *find_op(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == len && !strncmp(ops[i].name, name, len))
			return &ops[i];
	return NULL;
}

static int run_op(const struct bench_op *op, long iterations)
{
	long warmup = iterations / 10 ? iterations / 10 : 1;
	double t0, t1;

	if (op->prepare && op->prepare()) {
		fprintf(stderr, "rw_microbench: %s: setup: %s\n", op->name, strerror(errno));
		return -1;
	}
	for (long i = 0; i < warmup; i++) {
		if (op->run()) {
			fprintf(stderr, "rw_microbench: %s: %s\n", op->name, strerror(errno));
			return -1;
		}
	}
	t0 = now_ns();
	for (long i = 0; i < iterations; i++) {
		if (op->run()) {
			fprintf(stderr, "rw_microbench: %s: %s\n", op->name, strerror(errno));
			return -1;
		}
	}
	t1 = now_ns();
	printf("op=%s iters=%ld ns_per_op=%.0f\n", op->name, iterations,
	       (t1 - t0) / ((double)iterations * op->calls));
	fflush(stdout);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: rw_microbench exec|fork|open|setuid|mount[:N][,...] ITERATIONS\n"
			"       rw_microbench noop\n");
	return 2;
}

int main(int argc, char **argv)
{
	const struct bench_op *selected[16];
	long counts[16];
	size_t nsel = 0;
	long iterations;
	char *end;

	if (argc == 2 && !strcmp(argv[1], "noop"))
		return 0;
	if (argc != 3)
		return usage();
	errno = 0;
	iterations = strtol(argv[2], &end, 10);
	if (errno || *end || iterations < 1 || iterations > MAX_ITERATIONS)
		return usage();
	for (const char *p = argv[1]; *p;) {
		size_t len = strcspn(p, ",");
		size_t name_len = strcspn(p, ",:");
		const struct bench_op *op = find_op(p, name_len);
		long count = iterations;

		if (!op || nsel == sizeof(selected) / sizeof(selected[0])) {
			fprintf(stderr, "rw_microbench: unknown operation '%.*s'\n", (int)len, p);
			return usage();
		}
		if (name_len < len) {
			errno = 0;
			count = strtol(p + name_len + 1, &end, 10);
			if (errno || end != p + len || count < 1 || count > MAX_ITERATIONS)
				return usage();
		}
		selected[nsel] = op;
		counts[nsel++] = count;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!nsel)
		return usage();
	/* The exec target is this very binary: resolve it once. */
	self_path = "/proc/self/exe";
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		self_path = exe;
	}
	for (size_t i = 0; i < nsel; i++)
		if (run_op(selected[i], counts[i]))
			return 1;
	return 0;
}

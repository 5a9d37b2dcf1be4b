// SPDX-License-Identifier: GPL-2.0
#include "tests/lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* snprintf that fails the test instead of truncating a path. */
static void fmt_path(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen)
		fail_msg("path too long: %s...", out);
}

static void env_path(char *out, size_t outlen, const char *var, const char *fallback)
{
	const char *v = getenv(var);

	fmt_path(out, outlen, "%s", v && *v ? v : fallback);
}

static void read_kernel_env(struct rw_test_env *env)
{
	char path[600], line[256];
	FILE *f;

	fmt_path(path, sizeof(path), "%s/kernel.env", env->kit);
	f = fopen(path, "r");
	if (!f)
		fail_msg("guest kit missing: %s: %s (run 'make kit')", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "RW_KVER=", 8))
			fmt_path(env->kver, sizeof(env->kver), "%s", line + 8);
	}
	fclose(f);
	if (!env->kver[0])
		fail_msg("%s has no RW_KVER", path);
}

void rw_test_env_load(struct rw_test_env *env)
{
	char fallback[512];

	memset(env, 0, sizeof(*env));
	env_path(env->top, sizeof(env->top), "RW_TOP", ".");
	fmt_path(fallback, sizeof(fallback), "%s/build", env->top);
	env_path(env->build, sizeof(env->build), "RW_BUILD", fallback);
	fmt_path(fallback, sizeof(fallback), "%s/kit/cloud-amd64", env->build);
	env_path(env->kit, sizeof(env->kit), "RW_KIT", fallback);
	fmt_path(fallback, sizeof(fallback), "%s/payloads", env->build);
	env_path(env->payloads, sizeof(env->payloads), "RW_PAYLOADS", fallback);
	fmt_path(env->kernel, sizeof(env->kernel), "%s/vmlinuz", env->kit);
	fmt_path(env->initrd, sizeof(env->initrd), "%s/initramfs.cpio.gz", env->kit);
	fmt_path(env->vmlinux, sizeof(env->vmlinux), "%s/vmlinux", env->kit);
	read_kernel_env(env);
}

static void cleanup_on_signal(int sig)
{
	rw_vm_kill_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void rw_test_install_cleanup(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP };

	atexit(rw_vm_kill_all);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], cleanup_on_signal);
}

void rw_test_boot(const struct rw_test_env *env, const struct rw_test_boot *opts,
		  struct rw_vm *vm, char *ready_line, size_t ready_len)
{
	struct rw_vm_config cfg;
	char name[64], err[8192];
	int timeout_s = opts->ready_timeout_s ? opts->ready_timeout_s : 180;

	rw_vm_config_init(&cfg);
	snprintf(name, sizeof(name), "ringwatch-test-%s", opts->name ? opts->name : "guest");
	cfg.name = name;
	cfg.kernel = env->kernel;
	cfg.initrd = env->initrd;
	if (opts->cpus)
		cfg.cpus = opts->cpus;
	if (opts->memory_mib)
		cfg.memory_mib = opts->memory_mib;
	if (opts->machine)
		cfg.machine = opts->machine;
	cfg.kaslr = !opts->no_kaslr;
	cfg.overlay_dir = opts->overlay_dir;
	cfg.append = opts->append;
	cfg.vsock = opts->vsock;
	cfg.vhost_user_socket = opts->vhost_user_socket;
	if (opts->guest_cid)
		cfg.guest_cid = opts->guest_cid;
	cfg.extra_args = opts->extra_args;
	if (rw_vm_start(&cfg, vm, err, sizeof(err)))
		fail_msg("starting guest %s: %s", name, err);
	if (rw_vm_wait_ready(vm, timeout_s * 1000, ready_line, ready_len, err, sizeof(err))) {
		rw_vm_stop(vm);
		fail_msg("guest %s: %s", name, err);
	}
}

char *rw_test_guest_sh(struct rw_vm *vm, const char *command, int timeout_s)
{
	char err[512], *out = NULL, *serial;
	int status = -1;

	if (!rw_vm_exec(vm, command, timeout_s * 1000, &out, &status, err, sizeof(err)) &&
	    status == 0)
		return out;
	serial = rw_vm_serial_tail(vm, 6000);
	/* stderr, not print_error(): cmocka truncates long messages. */
	fprintf(stderr, "guest command '%s' %s (status %d, qemu %s); output:\n%s\nconsole:\n%s\n",
		command, out ? "failed" : err, status, rw_vm_exited(vm) ? "exited" : "running",
		out ? out : "", serial ? serial : "");
	free(serial);
	free(out);
	fail_msg("guest command failed");
	return NULL;
}

char *rw_test_guest_shf(struct rw_vm *vm, int timeout_s, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		fail_msg("guest command too long: %.200s...", cmd);
	return rw_test_guest_sh(vm, cmd, timeout_s);
}

void rw_test_mkdtemp(char *out, size_t outlen, const char *tag)
{
	snprintf(out, outlen, "/tmp/rwtest-%s-XXXXXX", tag);
	if (!mkdtemp(out))
		fail_msg("mkdtemp %s: %s", out, strerror(errno));
}

static void make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
}

void rw_test_write_file(const char *dir, const char *rel, const char *content, int mode)
{
	char path[1024];
	int fd;
	size_t n = strlen(content);

	fmt_path(path, sizeof(path), "%s/%s", dir, rel);
	make_parents(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, content, n) != (ssize_t)n)
		fail_msg("writing %s: %s", path, strerror(errno));
	fchmod(fd, (mode_t)mode);
	close(fd);
}

void rw_test_rmtree(const char *dir)
{
	char cmd[1100];

	if (!dir[0] || strncmp(dir, "/tmp/rwtest-", 12))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		print_error("could not remove %s\n", dir);
}

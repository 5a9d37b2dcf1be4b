/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by e2e tests: the kit, booting guests, cleanup on any exit. */
#ifndef RW_TESTS_HARNESS_H
#define RW_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "host/launcher.h"

struct rw_test_env {
	char top[512];
	char build[512];
	char kit[512];
	char payloads[512];
	char kver[128];		/* RW_KVER from the kit's kernel.env */
	char kernel[600];	/* kit vmlinuz */
	char initrd[600];	/* kit initramfs */
	char vmlinux[600];	/* kit ELF vmlinux */
};

/*
 * Read RW_TOP/RW_BUILD/RW_KIT/RW_PAYLOADS and the kit's kernel.env.
 * Fails the calling cmocka test (with the reason) when the kit is missing.
 */
void rw_test_env_load(struct rw_test_env *env);

/*
 * Kill every guest this process started when it exits or receives
 * SIGINT/SIGTERM/SIGABRT/SIGSEGV (cmocka failures longjmp, crashes do not).
 */
void rw_test_install_cleanup(void);

/* Boot options beyond the defaults (kit kernel, 1 vCPU, 512 MiB, KASLR on). */
struct rw_test_boot {
	const char *name;	/* suffix after "ringwatch-test-" */
	unsigned int cpus;
	unsigned int memory_mib;
	bool no_kaslr;
	const char *overlay_dir;
	const char *append;
	const char *machine;
	int ready_timeout_s;	/* default 180 */
	enum rw_vsock_mode vsock;
	const char *vhost_user_socket;
	unsigned int guest_cid;
	const char *const *extra_args;	/* more QEMU arguments, NULL-terminated */
};

/* Boot a kit guest and wait for readiness; fails the test with the serial tail. */
void rw_test_boot(const struct rw_test_env *env, const struct rw_test_boot *opts,
		  struct rw_vm *vm, char *ready_line, size_t ready_len);

/*
 * Run a guest shell command; fails the test unless it exits 0 (printing the
 * command's output and the console tail).  Returns the output (free it).
 */
char *rw_test_guest_sh(struct rw_vm *vm, const char *command, int timeout_s);

/* rw_test_guest_sh() of a printf-formatted command (up to 4 KiB). */
char *rw_test_guest_shf(struct rw_vm *vm, int timeout_s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Make an empty temporary directory (under /tmp); fails the test on error. */
void rw_test_mkdtemp(char *out, size_t outlen, const char *tag);

/* Write @content to @dir/@rel (creating parents), with @mode. */
void rw_test_write_file(const char *dir, const char *rel, const char *content, int mode);

/* Remove a directory tree made by a test. */
void rw_test_rmtree(const char *dir);

#endif

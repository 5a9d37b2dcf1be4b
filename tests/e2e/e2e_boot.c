// SPDX-License-Identifier: GPL-2.0
/*
 * Foundation e2e: boot the kit guest through the launcher, check what the
 * host sees (readiness, QMP, vCPU registers, the banner in mapped RAM), the
 * overlay and command shell, and that no exit path leaves QEMU behind.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/lib/harness.h"
#include "vmi/banner.h"
#include "vmi/qmp.h"

static struct rw_test_env env;

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	return 0;
}

static int count_substr(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static unsigned long long field_hex(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	assert_non_null(p);
	return strtoull(p + strlen(key), NULL, 16);
}

static void check_registers(struct rw_vm *vm, unsigned int cpus)
{
	char err[512];
	struct rw_qmp *qmp;
	char *status, *regs;

	if (rw_qmp_connect(vm->qmp_path, 5000, &qmp, err, sizeof(err)))
		fail_msg("QMP: %s", err);
	status = rw_qmp_status(qmp, 5000, err, sizeof(err));
	assert_non_null(status);
	assert_string_equal(status, "running");
	free(status);
	regs = rw_qmp_hmp(qmp, "info registers -a", 10000, err, sizeof(err));
	rw_qmp_close(qmp);
	assert_non_null(regs);
	assert_int_equal(count_substr(regs, "CPU#"), (int)cpus);
	for (const char *cpu = strstr(regs, "CPU#"); cpu; cpu = strstr(cpu + 4, "CPU#")) {
		unsigned long long cr0 = field_hex(cpu, "CR0=");
		unsigned long long cr4 = field_hex(cpu, "CR4=");
		unsigned long long efer = field_hex(cpu, "EFER=");

		assert_true(cr0 & (1ull << 31));	/* paging */
		assert_true(cr0 & (1ull << 16));	/* write protect */
		assert_true(efer & (1ull << 10));	/* long mode active */
		if (vm->accel == RW_ACCEL_TCG)
			assert_true(cr4 & (1ull << 12)); /* -cpu max: 5-level paging */
	}
	free(regs);
}

/*
 * The host finds the kernel banner in the RAM it maps, and among the copies
 * in RAM one equals what the guest itself reports in /proc/version.
 */
static void check_banner(struct rw_vm *vm)
{
	char banner[RW_BANNER_MAX];
	char *version;
	void *ram;
	long long off;
	int found = 0, copies = 0;

	version = rw_test_guest_sh(vm, "cat /proc/version", 30);
	version[strcspn(version, "\n")] = '\0';
	ram = mmap(NULL, vm->ram_size, PROT_READ, MAP_SHARED, vm->ram_fd, 0);
	assert_true(ram != MAP_FAILED);
	off = vmi_find_banner(ram, vm->ram_size, 0, banner, sizeof(banner));
	assert_true(off >= 0);
	assert_non_null(strstr(banner, env.kver));
	while (off >= 0 && copies < 1000) {
		copies++;
		found |= !strcmp(banner, version);
		off = vmi_find_banner(ram, vm->ram_size, (size_t)off + 1, banner, sizeof(banner));
	}
	munmap(ram, vm->ram_size);
	if (!found)
		fail_msg("none of %d banners in guest RAM equals /proc/version '%s'", copies,
			 version);
	free(version);
}

static void test_boot_and_observe(void **state)
{
	char overlay[128], ready[512], expect[256];
	struct rw_test_boot opts = { .name = "boot", .cpus = 2 };
	struct rw_vm vm;
	char *out, *log, err[256];
	int status;

	(void)state;
	rw_test_mkdtemp(overlay, sizeof(overlay), "overlay");
	rw_test_write_file(overlay, "etc/ringwatch/rc.d/10-hello",
			   "#!/bin/sh\necho rwtest-rc-ran-$(cat /etc/rwtest-token)\n", 0755);
	rw_test_write_file(overlay, "etc/rwtest-token", "c0ffee\n", 0644);
	opts.overlay_dir = overlay;
	rw_test_boot(&env, &opts, &vm, ready, sizeof(ready));

	snprintf(expect, sizeof(expect), "kernel=%s ", env.kver);
	assert_non_null(strstr(ready, expect));
	assert_non_null(strstr(ready, "cpus=2 "));
	assert_non_null(strstr(ready, ",bpf "));	/* BPF LSM active, last in the list */
	assert_non_null(strstr(ready, "failed_modules=0 failed_rc=0"));
	log = rw_vm_serial_tail(&vm, 1 << 20);
	assert_non_null(strstr(log, "rwtest-rc-ran-c0ffee"));
	assert_true(strstr(log, "rwtest-rc-ran-c0ffee") < strstr(log, "RINGWATCH-READY"));
	free(log);

	check_registers(&vm, 2);
	check_banner(&vm);

	/* The command shell reports exit status and output faithfully. */
	assert_int_equal(rw_vm_exec(&vm, "echo out; echo err >&2; exit 3", 30000, &out, &status,
				    err, sizeof(err)), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out, "out\nerr\n");
	free(out);
	out = rw_test_guest_sh(&vm, "ls /sys/fs/bpf >/dev/null && cat /proc/mounts", 30);
	assert_non_null(strstr(out, " /sys/kernel/security securityfs"));
	assert_non_null(strstr(out, " /sys/fs/bpf bpf"));
	assert_non_null(strstr(out, " /sys/kernel/tracing tracefs"));
	free(out);
	out = rw_test_guest_sh(&vm, "cat /proc/modules", 30);
	assert_non_null(strstr(out, "vmw_vsock_virtio_transport "));
	free(out);

	rw_vm_stop(&vm);
	assert_int_equal(vm.pid, 0);
	assert_int_equal(access(vm.qmp_path, F_OK), -1);
	rw_test_rmtree(overlay);
}

static int process_gone(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *state;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 1;
	}
	fclose(f);
	state = strrchr(buf, ')');
	return state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X');
}

struct cli_run {
	pid_t pid;
	FILE *out;
	pid_t qemu;
	char run_dir[256];
};

/* Start "ringwatch run NAME" and read until the guest is up. */
static void cli_launch_until_running(struct cli_run *run, const char *name)
{
	char bin[700], line[1024];
	int pipefd[2];

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch", env.build);
	assert_int_equal(pipe(pipefd), 0);
	run->pid = fork();
	assert_true(run->pid >= 0);
	if (run->pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		execl(bin, bin, "run", name, "--kit", env.kit, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	run->out = fdopen(pipefd[0], "r");
	run->qemu = 0;
	while (fgets(line, sizeof(line), run->out)) {
		char *p = strstr(line, "qemu pid ");
		char *d = strstr(line, "run dir ");

		if (p)
			run->qemu = (pid_t)atoi(p + 9);
		if (d) {
			snprintf(run->run_dir, sizeof(run->run_dir), "%s", d + 8);
			run->run_dir[strcspn(run->run_dir, "\n")] = '\0';
		}
		if (strstr(line, "Ctrl-C stops the guest"))
			return;
	}
	fail_msg("ringwatch run ended before the guest was running");
}

static int wait_exit(pid_t pid, int timeout_s)
{
	int status;

	for (int i = 0; i < timeout_s * 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("process %d did not exit within %d s", (int)pid, timeout_s);
	return -1;
}

static void test_ctrl_c_stops_cleanly(void **state)
{
	struct cli_run run;
	char line[512];
	int status, stopped = 0;

	(void)state;
	cli_launch_until_running(&run, "ringwatch-test-ctrlc");
	assert_true(run.qemu > 0);
	kill(run.pid, SIGINT);
	while (fgets(line, sizeof(line), run.out))
		stopped |= !!strstr(line, "stopped ");
	fclose(run.out);
	status = wait_exit(run.pid, 30);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(stopped);
	assert_true(process_gone(run.qemu));
	assert_int_equal(access(run.run_dir, F_OK), -1);	/* sockets and dir removed */
}

static void test_killed_launcher_takes_qemu_along(void **state)
{
	struct cli_run run;
	char cmd[400];
	int gone = 0;

	(void)state;
	cli_launch_until_running(&run, "ringwatch-test-sigkill");
	kill(run.pid, SIGKILL);
	wait_exit(run.pid, 10);
	fclose(run.out);
	for (int i = 0; i < 50 && !gone; i++) {
		gone = process_gone(run.qemu);
		usleep(100000);
	}
	assert_true(gone);
	/* A SIGKILLed launcher cannot clean its run dir; remove it here. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run.run_dir);
	assert_int_equal(system(cmd), 0);
}

static void expect_start_failure(struct rw_vm_config *cfg, const char *needle)
{
	struct rw_vm vm;
	char err[4096];

	assert_int_equal(rw_vm_start(cfg, &vm, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_int_equal(vm.pid, 0);
	assert_int_equal(vm.run_dir[0], '\0');
}

static void test_bad_inputs(void **state)
{
	struct rw_vm_config cfg;
	char dir[128], garbage[256];
	uint8_t junk[65536];

	(void)state;
	rw_vm_config_init(&cfg);
	cfg.name = "ringwatch-test-bad";
	cfg.kernel = "/nonexistent/vmlinuz";
	cfg.initrd = env.initrd;
	expect_start_failure(&cfg, "/nonexistent/vmlinuz");

	/* A corrupt kernel image: QEMU refuses it and says why. */
	rw_test_mkdtemp(dir, sizeof(dir), "bad");
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	snprintf(garbage, sizeof(garbage), "%s/vmlinuz", dir);
	FILE *f = fopen(garbage, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	cfg.kernel = garbage;
	expect_start_failure(&cfg, "QEMU exited");

	cfg.kernel = env.kernel;
	cfg.memory_mib = 1;
	expect_start_failure(&cfg, "memory=1 MiB");
	cfg.memory_mib = 512;

	setenv("RINGWATCH_ACCEL", "warp", 1);
	expect_start_failure(&cfg, "RINGWATCH_ACCEL='warp'");
	unsetenv("RINGWATCH_ACCEL");
	rw_test_rmtree(dir);
}

/* An init that never signals readiness: timeout, serial tail, nothing left. */
static void test_readiness_timeout(void **state)
{
	struct rw_vm_config cfg;
	struct rw_vm vm;
	char overlay[128], err[8192];
	pid_t qemu;

	(void)state;
	rw_test_mkdtemp(overlay, sizeof(overlay), "stuck");
	rw_test_write_file(overlay, "init",
			   "#!/bin/busybox sh\n/bin/busybox echo rwtest-stuck-init\n"
			   "while :; do /bin/busybox sleep 100; done\n", 0755);
	rw_vm_config_init(&cfg);
	cfg.name = "ringwatch-test-stuck";
	cfg.kernel = env.kernel;
	cfg.initrd = env.initrd;
	cfg.overlay_dir = overlay;
	if (rw_vm_start(&cfg, &vm, err, sizeof(err)))
		fail_msg("start: %s", err);
	qemu = vm.pid;
	assert_int_equal(rw_vm_wait_ready(&vm, 20000, NULL, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not ready after 20000 ms"));
	assert_non_null(strstr(err, "rwtest-stuck-init"));
	rw_vm_stop(&vm);
	assert_true(process_gone(qemu));
	rw_test_rmtree(overlay);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_and_observe),
		cmocka_unit_test(test_ctrl_c_stops_cleanly),
		cmocka_unit_test(test_killed_launcher_takes_qemu_along),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_readiness_timeout),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

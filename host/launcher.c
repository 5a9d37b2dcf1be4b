// SPDX-License-Identifier: GPL-2.0
#include "host/launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/cpio.h"
#include "vmi/err.h"
#include "vmi/qmp.h"

#define RW_MAX_TRACKED_VMS 64
#define QEMU_START_TIMEOUT_MS 15000
#define QEMU_QUIT_TIMEOUT_MS 5000
#define QEMU_TERM_TIMEOUT_MS 2000
#define SERIAL_TAIL_BYTES 2048
#define READY_MARKER "RINGWATCH-READY"
#define MAX_QEMU_ARGS 64

/*
 * QEMU processes started by this process, for rw_vm_kill_all() from a
 * signal handler or atexit: the one piece of global state here, because a
 * signal handler has no other way to find them.
 */
static volatile pid_t tracked_pids[RW_MAX_TRACKED_VMS];

static void track_pid(pid_t pid)
{
	for (int i = 0; i < RW_MAX_TRACKED_VMS; i++) {
		if (!tracked_pids[i]) {
			tracked_pids[i] = pid;
			return;
		}
	}
}

static void untrack_pid(pid_t pid)
{
	for (int i = 0; i < RW_MAX_TRACKED_VMS; i++)
		if (tracked_pids[i] == pid)
			tracked_pids[i] = 0;
}

void rw_vm_kill_all(void)
{
	for (int i = 0; i < RW_MAX_TRACKED_VMS; i++) {
		pid_t pid = tracked_pids[i];

		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			tracked_pids[i] = 0;
		}
	}
}

/* The message into err (vmi/err.h); the caller returns its own code. */
#define set_err(err, errlen, ...) ((void)vmi_seterr(err, errlen, 0, __VA_ARGS__))

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rw_vm_config_init(struct rw_vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "guest";
	cfg->machine = "pc";
	cfg->cpus = 1;
	cfg->memory_mib = 512;
	cfg->accel = RW_ACCEL_AUTO;
	cfg->kaslr = true;
	cfg->command_shell = true;
	cfg->guest_cid = 3;
	cfg->run_parent = "/tmp";
	cfg->qemu = "qemu-system-x86_64";
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int copy_file_to(FILE *out, const char *path, char *err, size_t errlen)
{
	char buf[65536];
	FILE *in = fopen(path, "rb");
	size_t n;

	if (!in) {
		set_err(err, errlen, "initramfs %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, n, out) != n) {
			set_err(err, errlen, "writing initramfs: %s", strerror(errno));
			fclose(in);
			return -1;
		}
	}
	if (ferror(in)) {
		set_err(err, errlen, "reading %s: %s", path, strerror(errno));
		fclose(in);
		return -1;
	}
	fclose(in);
	return 0;
}

/*
 * The kernel unpacks concatenated archives; an uncompressed one must start
 * on a 4-byte boundary, and zero padding between archives is skipped.
 */
static int build_initramfs(const struct rw_vm_config *cfg, struct rw_vm *vm,
			   char *err, size_t errlen)
{
	static const char zeros[4];
	FILE *out;
	long end;

	if (cfg->disk)
		return 0;
	if (!cfg->overlay_dir) {
		snprintf(vm->initrd_path, sizeof(vm->initrd_path), "%s", cfg->initrd);
		return 0;
	}
	snprintf(vm->initrd_path, sizeof(vm->initrd_path), "%s/initramfs.img", vm->run_dir);
	out = fopen(vm->initrd_path, "wb");
	if (!out) {
		set_err(err, errlen, "%s: %s", vm->initrd_path, strerror(errno));
		return -1;
	}
	if (copy_file_to(out, cfg->initrd, err, errlen))
		goto fail;
	end = ftell(out);
	if (end < 0 || fwrite(zeros, 1, (size_t)((4 - (end & 3)) & 3), out) !=
			       (size_t)((4 - (end & 3)) & 3)) {
		set_err(err, errlen, "writing initramfs padding failed");
		goto fail;
	}
	if (rw_cpio_write_dir(out, cfg->overlay_dir, err, errlen))
		goto fail;
	if (fclose(out)) {
		set_err(err, errlen, "%s: %s", vm->initrd_path, strerror(errno));
		return -1;
	}
	return 0;
fail:
	fclose(out);
	return -1;
}

bool rw_vm_disk_format_valid(const char *format)
{
	static const char *const formats[] = { "raw", "qcow2", "qed", "vmdk", "vdi", "vhdx", "vpc" };

	for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(format, formats[i]))
			return true;
	return false;
}

const char *rw_vm_disk_format_detect(const char *path, char *err, size_t errlen)
{
	static const unsigned char qcow2[4] = { 'Q', 'F', 'I', 0xfb };
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		set_err(err, errlen, "disk image '%s': %s", path, strerror(errno));
		return NULL;
	}
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n < 0) {
		set_err(err, errlen, "disk image '%s': %s", path, strerror(errno));
		return NULL;
	}
	return n == (ssize_t)sizeof(magic) && !memcmp(magic, qcow2, sizeof(qcow2)) ? "qcow2" : "raw";
}

/* A disk boot: an existing image, a known format, none of the direct-boot inputs. */
static int check_disk_inputs(const struct rw_vm_config *cfg, char *err, size_t errlen)
{
	struct stat st;

	if (cfg->kernel || cfg->initrd || cfg->overlay_dir || cfg->append) {
		set_err(err, errlen, "a disk boot takes no kernel, initramfs, overlay or command line");
		return -1;
	}
	if (stat(cfg->disk, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		set_err(err, errlen, "disk image '%s': %s", cfg->disk,
			errno ? strerror(errno) : "not a file or block device");
		return -1;
	}
	if (cfg->disk_format && !rw_vm_disk_format_valid(cfg->disk_format)) {
		set_err(err, errlen, "disk format '%s': expected raw, qcow2, qed, vmdk, vdi, vhdx "
			"or vpc", cfg->disk_format);
		return -1;
	}
	return 0;
}

static int check_inputs(const struct rw_vm_config *cfg, char *err, size_t errlen)
{
	struct stat st;

	errno = 0;
	if (cfg->disk) {
		if (check_disk_inputs(cfg, err, errlen))
			return -1;
	} else if (!cfg->kernel || stat(cfg->kernel, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "kernel image '%s': %s", cfg->kernel ? cfg->kernel : "(none)",
			cfg->kernel ? strerror(errno ? errno : EINVAL) : "not given");
		return -1;
	}
	if (!cfg->disk && (!cfg->initrd || stat(cfg->initrd, &st) < 0 || !S_ISREG(st.st_mode))) {
		set_err(err, errlen, "initramfs '%s': %s", cfg->initrd ? cfg->initrd : "(none)",
			cfg->initrd ? strerror(errno ? errno : EINVAL) : "not given");
		return -1;
	}
	if (cfg->cpus < 1 || cfg->cpus > 64) {
		set_err(err, errlen, "cpus=%u: must be 1..64", cfg->cpus);
		return -1;
	}
	if (cfg->memory_mib < 128 || cfg->memory_mib > 65536) {
		set_err(err, errlen, "memory=%u MiB: must be 128..65536", cfg->memory_mib);
		return -1;
	}
	if (strcmp(cfg->machine, "pc") && strcmp(cfg->machine, "q35")) {
		set_err(err, errlen, "machine '%s': expected pc or q35", cfg->machine);
		return -1;
	}
	if (cfg->vsock == RW_VSOCK_VHOST_USER && !cfg->vhost_user_socket) {
		set_err(err, errlen, "vhost-user vsock needs a backend socket path");
		return -1;
	}
	if (cfg->vsock != RW_VSOCK_NONE && cfg->guest_cid < 3) {
		set_err(err, errlen, "guest CID %u: must be >= 3", cfg->guest_cid);
		return -1;
	}
	return 0;
}

struct qemu_argv {
	char *argv[MAX_QEMU_ARGS];
	int argc;
	bool failed;		/* an argument could not be built */
};

static void add_arg(struct qemu_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (a->argc < MAX_QEMU_ARGS - 1)
		a->argv[a->argc++] = s;
	else
		free(s);
	a->argv[a->argc] = NULL;
}

static void free_args(struct qemu_argv *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

static int argv_complete(const struct qemu_argv *a)
{
	for (int i = 0; i < a->argc; i++)
		if (!a->argv[i])
			return 0;
	return !a->failed && a->argc < MAX_QEMU_ARGS - 1;
}

/* QEMU option values are comma-separated: a comma in a path is written twice. */
static char *qemu_escape_commas(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	out = malloc(n + commas + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

/* The disk on virtio-blk, first in the firmware's boot order. */
static void add_disk_args(struct qemu_argv *a, const struct rw_vm_config *cfg,
			  const struct rw_vm *vm)
{
	char *file = qemu_escape_commas(cfg->disk);

	add_arg(a, "-drive");
	if (file)
		add_arg(a, "file=%s,if=none,id=rwdisk,format=%s", file, vm->disk_format);
	else
		a->failed = true;
	free(file);
	add_arg(a, "-device");
	add_arg(a, "virtio-blk-pci,drive=rwdisk,bootindex=0");
}

static void build_argv(const struct rw_vm_config *cfg, const struct rw_vm *vm,
		       struct qemu_argv *a)
{
	add_arg(a, "%s", cfg->qemu);
	add_arg(a, "-name");
	add_arg(a, "%s,debug-threads=on", vm->name);
	add_arg(a, "-nodefaults");
	add_arg(a, "-no-user-config");
	add_arg(a, "-display");
	add_arg(a, "none");
	if (!cfg->allow_reboot)
		add_arg(a, "-no-reboot");
	add_arg(a, "-machine");
	add_arg(a, "%s,memory-backend=rwram", cfg->machine);
	add_arg(a, "-accel");
	add_arg(a, "%s", vm->accel == RW_ACCEL_KVM ? "kvm" : "tcg");
	add_arg(a, "-cpu");
	add_arg(a, "%s", vm->accel == RW_ACCEL_KVM ? "host" : "max");
	add_arg(a, "-smp");
	add_arg(a, "%u", cfg->cpus);
	add_arg(a, "-m");
	add_arg(a, "%uM", cfg->memory_mib);
	add_arg(a, "-object");
	add_arg(a, "memory-backend-file,id=rwram,size=%uM,mem-path=/proc/self/fd/%d,share=on",
		cfg->memory_mib, vm->ram_fd);
	if (cfg->disk) {
		add_disk_args(a, cfg, vm);
	} else {
		add_arg(a, "-kernel");
		add_arg(a, "%s", cfg->kernel);
		add_arg(a, "-initrd");
		add_arg(a, "%s", vm->initrd_path);
		add_arg(a, "-append");
		add_arg(a, "console=ttyS0,115200 panic=-1 rdinit=/init%s%s%s",
			cfg->kaslr ? "" : " nokaslr", cfg->append ? " " : "",
			cfg->append ? cfg->append : "");
	}
	add_arg(a, "-serial");
	add_arg(a, "file:%s", vm->serial_log);
	if (cfg->command_shell) {
		add_arg(a, "-device");
		add_arg(a, "virtio-serial-pci,id=rwvser");
		add_arg(a, "-chardev");
		add_arg(a, "socket,id=rwcmd,path=%s,server=on,wait=off", vm->cmd_path);
		add_arg(a, "-device");
		add_arg(a, "virtserialport,bus=rwvser.0,chardev=rwcmd,name=org.ringwatch.cmd");
	}
	add_arg(a, "-qmp");
	add_arg(a, "unix:%s,server=on,wait=off", vm->qmp_path);
	add_arg(a, "-qmp");
	add_arg(a, "unix:%s/qmp-ctl.sock,server=on,wait=off", vm->run_dir);
	if (cfg->vsock == RW_VSOCK_VHOST_KERNEL) {
		add_arg(a, "-device");
		add_arg(a, "vhost-vsock-pci,guest-cid=%u", cfg->guest_cid);
	} else if (cfg->vsock == RW_VSOCK_VHOST_USER) {
		/*
		 * QEMU 7.2's vhost-user-vsock has no guest-cid property (the
		 * back-end answers GET_CONFIG with the CID) and fails to start
		 * with reconnect=1: the back-end must be listening first.
		 */
		add_arg(a, "-chardev");
		add_arg(a, "socket,id=rwvsock,path=%s", cfg->vhost_user_socket);
		add_arg(a, "-device");
		add_arg(a, "vhost-user-vsock-pci,chardev=rwvsock");
	}
	for (const char *const *x = cfg->extra_args; x && *x; x++)
		add_arg(a, "%s", *x);
}

static pid_t spawn_qemu(const struct rw_vm *vm, struct qemu_argv *a, char *err, size_t errlen)
{
	char logpath[320];
	pid_t parent = getpid(), pid;
	int logfd;

	snprintf(logpath, sizeof(logpath), "%s/qemu.log", vm->run_dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		set_err(err, errlen, "%s: %s", logpath, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		set_err(err, errlen, "fork: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/* QEMU must not outlive us, and the terminal's ^C is ours to handle. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		fcntl(vm->ram_fd, F_SETFD, 0);
		execvp(a->argv[0], a->argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", a->argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	return pid;
}

static char *read_file_tail(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;
	size_t n = 0;

	buf = malloc(max + 1);
	if (!buf) {
		if (f)
			fclose(f);
		return NULL;
	}
	buf[0] = '\0';
	if (!f)
		return buf;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0) {
		fseek(f, size > (long)max ? size - (long)max : 0, SEEK_SET);
		n = fread(buf, 1, max, f);
	}
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return buf;
}

char *rw_vm_serial_tail(const struct rw_vm *vm, size_t max)
{
	return read_file_tail(vm->serial_log, max);
}

static int reap(struct rw_vm *vm, int timeout_ms, int *status)
{
	long long deadline = now_ms() + timeout_ms;

	while (vm->pid > 0) {
		pid_t r = waitpid(vm->pid, status, WNOHANG);

		if (r == vm->pid || (r < 0 && errno == ECHILD)) {
			untrack_pid(vm->pid);
			vm->pid = 0;
			return 0;
		}
		if (now_ms() >= deadline)
			return -1;
		usleep(10000);
	}
	return 0;
}

bool rw_vm_exited(struct rw_vm *vm)
{
	int status;

	return vm->pid <= 0 || (reap(vm, 0, &status) == 0 && vm->pid == 0);
}

static void describe_exit(const struct rw_vm *vm, int status, char *err, size_t errlen)
{
	char logpath[320];
	char *log;

	snprintf(logpath, sizeof(logpath), "%s/qemu.log", vm->run_dir);
	log = read_file_tail(logpath, 1024);
	if (WIFEXITED(status))
		set_err(err, errlen, "QEMU exited with status %d: %s", WEXITSTATUS(status),
			log ? log : "");
	else
		set_err(err, errlen, "QEMU killed by signal %d: %s", WTERMSIG(status),
			log ? log : "");
	free(log);
}

/* Connect to the control monitor; confirms QEMU is up and answering. */
static int wait_qmp(struct rw_vm *vm, char *err, size_t errlen)
{
	long long deadline = now_ms() + QEMU_START_TIMEOUT_MS;
	char ctl[320], qerr[256];
	struct rw_qmp *qmp;
	int status;

	snprintf(ctl, sizeof(ctl), "%s/qmp-ctl.sock", vm->run_dir);
	for (;;) {
		if (reap(vm, 0, &status) == 0 && vm->pid == 0) {
			describe_exit(vm, status, err, errlen);
			return -1;
		}
		if (rw_qmp_connect(ctl, 200, &qmp, qerr, sizeof(qerr)) == 0) {
			char *state = rw_qmp_status(qmp, 5000, qerr, sizeof(qerr));

			rw_qmp_close(qmp);
			if (!state) {
				set_err(err, errlen, "QMP query-status failed: %s", qerr);
				return -1;
			}
			free(state);
			return 0;
		}
		if (now_ms() >= deadline) {
			set_err(err, errlen, "QMP socket %s did not answer within %d ms: %s", ctl,
				QEMU_START_TIMEOUT_MS, qerr);
			return -1;
		}
	}
}

static int make_run_dir(const struct rw_vm_config *cfg, struct rw_vm *vm, char *err,
			size_t errlen)
{
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
	for (char *p = vm->name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			*p = '_';
	if ((size_t)snprintf(vm->run_dir, sizeof(vm->run_dir), "%s/ringwatch-%s-XXXXXX",
			     cfg->run_parent, vm->name) >= 90) {
		set_err(err, errlen, "run dir under '%s' too long for unix sockets",
			cfg->run_parent);
		return -1;
	}
	if (!mkdtemp(vm->run_dir)) {
		set_err(err, errlen, "mkdtemp %s: %s", vm->run_dir, strerror(errno));
		vm->run_dir[0] = '\0';
		return -1;
	}
	snprintf(vm->qmp_path, sizeof(vm->qmp_path), "%s/qmp.sock", vm->run_dir);
	snprintf(vm->serial_log, sizeof(vm->serial_log), "%s/serial.log", vm->run_dir);
	snprintf(vm->cmd_path, sizeof(vm->cmd_path), "%s/cmd.sock", vm->run_dir);
	return 0;
}

static int make_ram(const struct rw_vm_config *cfg, struct rw_vm *vm, char *err, size_t errlen)
{
	vm->ram_size = (uint64_t)cfg->memory_mib << 20;
	vm->ram_fd = memfd_create("ringwatch-guest-ram", MFD_CLOEXEC);
	if (vm->ram_fd < 0) {
		set_err(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(vm->ram_fd, (off_t)vm->ram_size) < 0) {
		set_err(err, errlen, "sizing guest RAM to %u MiB: %s", cfg->memory_mib,
			strerror(errno));
		return -1;
	}
	return 0;
}

int rw_vm_start(const struct rw_vm_config *cfg, struct rw_vm *vm, char *err, size_t errlen)
{
	struct rw_accel_probe probe;
	struct qemu_argv args = { .argc = 0 };
	int accel;

	memset(vm, 0, sizeof(*vm));
	vm->ram_fd = -1;
	vm->cmd_fd = -1;
	vm->kaslr = cfg->kaslr;
	snprintf(vm->machine, sizeof(vm->machine), "%s", cfg->machine ? cfg->machine : "pc");
	if (check_inputs(cfg, err, errlen))
		return -1;
	if (cfg->disk) {
		const char *format = cfg->disk_format ? cfg->disk_format :
				     rw_vm_disk_format_detect(cfg->disk, err, errlen);

		if (!format)
			return -1;
		snprintf(vm->disk_format, sizeof(vm->disk_format), "%s", format);
	}
	accel = rw_accel_choose(cfg->accel, &probe, err, errlen);
	if (accel < 0)
		return -1;
	vm->accel = (enum rw_accel)accel;
	snprintf(vm->accel_reason, sizeof(vm->accel_reason), "%s", probe.reason);
	if (make_run_dir(cfg, vm, err, errlen) || make_ram(cfg, vm, err, errlen) ||
	    build_initramfs(cfg, vm, err, errlen))
		goto fail;
	build_argv(cfg, vm, &args);
	if (!argv_complete(&args)) {
		set_err(err, errlen, "building the QEMU command line failed");
		goto fail;
	}
	vm->pid = spawn_qemu(vm, &args, err, errlen);
	free_args(&args);
	if (vm->pid < 0) {
		vm->pid = 0;
		goto fail;
	}
	track_pid(vm->pid);
	if (wait_qmp(vm, err, errlen))
		goto fail;
	return 0;
fail:
	free_args(&args);
	rw_vm_stop(vm);
	return -1;
}

int rw_vm_wait_ready(struct rw_vm *vm, int timeout_ms, char *line, size_t linelen,
		     char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	int status;

	for (;;) {
		FILE *f = fopen(vm->serial_log, "rb");
		char buf[1024];

		while (f && fgets(buf, sizeof(buf), f)) {
			char *mark = strstr(buf, READY_MARKER);

			if (mark) {
				fclose(f);
				mark[strcspn(mark, "\r\n")] = '\0';
				if (line)
					snprintf(line, linelen, "%s", mark);
				return 0;
			}
		}
		if (f)
			fclose(f);
		if (reap(vm, 0, &status) == 0 && vm->pid == 0) {
			char *tail = rw_vm_serial_tail(vm, SERIAL_TAIL_BYTES);

			set_err(err, errlen, "guest stopped before readiness; serial log tail:\n%s",
				tail ? tail : "");
			free(tail);
			return -1;
		}
		if (now_ms() >= deadline) {
			char *tail = rw_vm_serial_tail(vm, SERIAL_TAIL_BYTES);

			set_err(err, errlen,
				"guest not ready after %d ms; serial log tail:\n%s", timeout_ms,
				tail ? tail : "");
			free(tail);
			return -1;
		}
		usleep(50000);
	}
}

static int cmd_connect(struct rw_vm *vm, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (vm->cmd_fd >= 0)
		return 0;
	if (strlen(vm->cmd_path) >= sizeof(sa.sun_path)) {
		set_err(err, errlen, "command socket path too long: %s", vm->cmd_path);
		return -1;
	}
	memcpy(sa.sun_path, vm->cmd_path, strlen(vm->cmd_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		set_err(err, errlen, "guest command shell %s: %s", vm->cmd_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	vm->cmd_fd = fd;
	return 0;
}

static int cmd_send(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static char *base64(const char *in)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned int v = (unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* Append socket data to a growing buffer until @marker shows up. */
static int cmd_read_until(int fd, pid_t vm_pid, const char *marker, long long deadline,
			  char **buf, size_t *len, size_t *cap, char *err, size_t errlen)
{
	for (;;) {
		if (*len && memmem(*buf, *len, marker, strlen(marker)))
			return 0;
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0) {
			set_err(err, errlen, "guest command timed out");
			return -1;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		if (*cap - *len < 4096) {
			char *grown;

			if (*cap >= (64u << 20)) {
				set_err(err, errlen, "guest command output over 64 MiB");
				return -1;
			}
			grown = realloc(*buf, *cap ? *cap * 2 : 65536);
			if (!grown) {
				set_err(err, errlen, "out of memory");
				return -1;
			}
			*buf = grown;
			*cap = *cap ? *cap * 2 : 65536;
		}
		ssize_t got = read(fd, *buf + *len, *cap - *len - 1);

		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			set_err(err, errlen, "guest command shell: read: %s", strerror(errno));
			return -1;
		}
		if (got == 0) {
			set_err(err, errlen, "guest command shell closed (QEMU %s)",
				kill(vm_pid, 0) == 0 ? "still running" : "gone");
			return -1;
		}
		*len += (size_t)got;
		(*buf)[*len] = '\0';
	}
}

/* Make sure the guest shell is reading its port: ping until it answers. */
static int cmd_sync(struct rw_vm *vm, long long deadline, char *err, size_t errlen)
{
	char marker[64], line[128];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;

	snprintf(marker, sizeof(marker), "@@RW-SYNC-%u@@", ++vm->cmd_serial);
	snprintf(line, sizeof(line), "\necho '@@RW-SYNC-'%u'@@'\n", vm->cmd_serial);
	while (now_ms() < deadline) {
		long long step = now_ms() + 1000;

		if (cmd_send(vm->cmd_fd, line)) {
			set_err(err, errlen, "guest command shell: %s", strerror(errno));
			break;
		}
		rc = cmd_read_until(vm->cmd_fd, vm->pid, marker, step < deadline ? step : deadline, &buf,
				    &len, &cap, err, errlen);
		if (rc == 0 || strcmp(err, "guest command timed out"))
			break;
	}
	free(buf);
	if (rc)
		set_err(err, errlen, "guest command shell does not answer");
	return rc;
}

int rw_vm_exec(struct rw_vm *vm, const char *command, int timeout_ms,
	       char **output, int *status, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	char marker[64];
	char *encoded, *line, *buf = NULL, *start, *end;
	size_t len = 0, cap = 0;
	int rc;

	*output = NULL;
	if (cmd_connect(vm, err, errlen) || cmd_sync(vm, deadline, err, errlen))
		return -1;
	encoded = base64(command);
	if (!encoded) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	snprintf(marker, sizeof(marker), "@@RW-DONE-%u-", ++vm->cmd_serial);
	rc = asprintf(&line,
		      "echo '@@RW-BEGIN-'%u'@@'; echo %s | base64 -d > /tmp/.rw-cmd; "
		      "sh /tmp/.rw-cmd </dev/null 2>&1; echo \"@@RW-DONE-%u-$?@@\"\n",
		      vm->cmd_serial, encoded, vm->cmd_serial);
	free(encoded);
	if (rc < 0) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	rc = cmd_send(vm->cmd_fd, line);
	free(line);
	if (rc) {
		set_err(err, errlen, "guest command shell: %s", strerror(errno));
		return -1;
	}
	if (cmd_read_until(vm->cmd_fd, vm->pid, marker, deadline, &buf, &len, &cap, err, errlen)) {
		free(buf);
		return -1;
	}
	/* The status follows the marker: "@@RW-DONE-n-STATUS@@". */
	end = memmem(buf, len, marker, strlen(marker));
	if (!strstr(end, "@@\n") &&
	    cmd_read_until(vm->cmd_fd, vm->pid, "@@\n", deadline, &buf, &len, &cap, err, errlen)) {
		free(buf);
		return -1;
	}
	end = memmem(buf, len, marker, strlen(marker));
	*status = atoi(end + strlen(marker));
	*end = '\0';
	{
		char begin[64];

		snprintf(begin, sizeof(begin), "@@RW-BEGIN-%u@@\n", vm->cmd_serial);
		start = strstr(buf, begin);
		start = start ? start + strlen(begin) : buf;
	}
	*output = strdup(start);
	free(buf);
	if (!*output) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void quit_via_qmp(struct rw_vm *vm)
{
	char ctl[320], qerr[256];
	struct rw_qmp *qmp;
	json_t *ret;

	snprintf(ctl, sizeof(ctl), "%s/qmp-ctl.sock", vm->run_dir);
	if (rw_qmp_connect(ctl, 1000, &qmp, qerr, sizeof(qerr)))
		return;
	ret = rw_qmp_execute(qmp, "quit", NULL, 2000, qerr, sizeof(qerr));
	json_decref(ret);
	rw_qmp_close(qmp);
}

void rw_vm_stop(struct rw_vm *vm)
{
	int status;

	if (vm->cmd_fd >= 0) {
		close(vm->cmd_fd);
		vm->cmd_fd = -1;
	}
	if (vm->pid > 0) {
		quit_via_qmp(vm);
		if (reap(vm, QEMU_QUIT_TIMEOUT_MS, &status)) {
			kill(vm->pid, SIGTERM);
			if (reap(vm, QEMU_TERM_TIMEOUT_MS, &status)) {
				kill(vm->pid, SIGKILL);
				reap(vm, 60000, &status);
			}
		}
	}
	if (vm->ram_fd >= 0) {
		close(vm->ram_fd);
		vm->ram_fd = -1;
	}
	if (vm->run_dir[0]) {
		remove_tree(vm->run_dir);
		vm->run_dir[0] = '\0';
	}
}

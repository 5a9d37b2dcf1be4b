/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU launcher: boots a guest whose RAM another process (ringwatchd, a test)
 * can map, with a QMP socket, the serial console in a log file, an optional
 * command shell on a virtio-serial port and an optional virtio-vsock device.
 *
 * QEMU dies with the process that launched it (PR_SET_PDEATHSIG), so no exit
 * path leaves an orphan; rw_vm_stop() is the clean path and removes the run
 * directory with its sockets.
 */
#ifndef RW_HOST_LAUNCHER_H
#define RW_HOST_LAUNCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/accel.h"

enum rw_vsock_mode {
	RW_VSOCK_NONE,
	RW_VSOCK_VHOST_KERNEL,	/* -device vhost-vsock-pci (host /dev/vhost-vsock) */
	RW_VSOCK_VHOST_USER,	/* -device vhost-user-vsock-pci, backend = ringwatchd */
};

struct rw_vm_config {
	const char *name;		/* VM name (QEMU -name, run dir prefix) */
	const char *kernel;		/* bzImage (NULL with @disk) */
	const char *initrd;		/* base initramfs (cpio, may be compressed) */
	const char *disk;		/* or: boot this disk image with the firmware */
	const char *disk_format;	/* raw, qcow2, ...; NULL: detected (qcow2 magic, else raw) */
	const char *overlay_dir;	/* files copied into the initramfs, or NULL */
	const char *append;		/* extra kernel command line, or NULL */
	const char *machine;		/* "pc" (default) or "q35" */
	unsigned int cpus;		/* default 1 */
	unsigned int memory_mib;	/* default 512 */
	enum rw_accel accel;		/* RW_ACCEL_AUTO: calibrate / RINGWATCH_ACCEL */
	bool kaslr;			/* false adds "nokaslr" */
	bool command_shell;		/* guest shell on a virtio-serial port, for rw_vm_exec() */
	bool allow_reboot;		/* false (default) adds -no-reboot: a guest reboot or
					 * panic (panic=-1) ends QEMU; true: QEMU resets the
					 * guest and boots the same kernel/initramfs again */
	enum rw_vsock_mode vsock;
	uint32_t guest_cid;		/* vhost-kernel; vhost-user: the back-end's CID */
	const char *vhost_user_socket;	/* backend socket for RW_VSOCK_VHOST_USER */
	const char *run_parent;		/* where the run dir is made; default /tmp */
	const char *qemu;		/* qemu-system-x86_64 binary; default from PATH */
	const char *const *extra_args;	/* more QEMU arguments (devices...), NULL-terminated */
};

struct rw_vm {
	char name[64];
	char run_dir[256];
	char qmp_path[300];
	char serial_log[300];
	char cmd_path[300];
	char initrd_path[300];		/* the initramfs actually booted ("" for a disk boot) */
	char disk_format[16];		/* a disk boot: the format given or detected */
	pid_t pid;			/* QEMU, or 0 once reaped */
	int ram_fd;			/* memfd holding guest RAM (shared with QEMU) */
	uint64_t ram_size;
	enum rw_accel accel;
	char accel_reason[256];		/* why this accelerator was chosen */
	int cmd_fd;			/* connection to the guest command shell, or -1 */
	unsigned int cmd_serial;	/* command counter for rw_vm_exec markers */
	bool kaslr;
	char machine[16];
};

/* Disk image formats rw_vm_start accepts for @disk_format. */
bool rw_vm_disk_format_valid(const char *format);
/* The format of the image at @path: "qcow2" when it has the qcow2 magic, else "raw";
 * NULL with @err when it cannot be read. */
const char *rw_vm_disk_format_detect(const char *path, char *err, size_t errlen);

/* Fill @cfg with defaults (name "guest", 1 vCPU, 512 MiB, auto accel, KASLR on). */
void rw_vm_config_init(struct rw_vm_config *cfg);

/*
 * Start QEMU; returns 0 and fills @vm, or -1 with a message in @err and
 * nothing left behind (no process, no run dir).
 */
int rw_vm_start(const struct rw_vm_config *cfg, struct rw_vm *vm, char *err, size_t errlen);

/*
 * Wait until the guest prints its readiness line.  On timeout or QEMU exit
 * returns -1 with the reason and the tail of the serial log in @err.
 * On success copies the readiness line into @line (if non-NULL).
 */
int rw_vm_wait_ready(struct rw_vm *vm, int timeout_ms, char *line, size_t linelen,
		     char *err, size_t errlen);

/*
 * Run a shell command in the guest (needs command_shell).  Output (stdout and
 * stderr) is returned malloc'd in @output; the exit status in @status.
 * Returns 0, or -1 with @err on timeout / no shell.
 */
int rw_vm_exec(struct rw_vm *vm, const char *command, int timeout_ms,
	       char **output, int *status, char *err, size_t errlen);

/* True once QEMU has exited (it is then reaped). */
bool rw_vm_exited(struct rw_vm *vm);

/* Last @max bytes of the serial log, malloc'd (never NULL on success). */
char *rw_vm_serial_tail(const struct rw_vm *vm, size_t max);

/*
 * Stop the guest: QMP quit, then SIGTERM, then SIGKILL, each bounded in time;
 * closes the RAM fd and removes the run dir.  Safe to call twice.
 */
void rw_vm_stop(struct rw_vm *vm);

/*
 * Stop every VM started by this process that is still running.  Used by
 * signal handlers and atexit; async-signal-safe subset (kill + waitpid).
 */
void rw_vm_kill_all(void);

#endif

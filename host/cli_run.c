// SPDX-License-Identifier: GPL-2.0
/* ringwatch run: boot a guest under the launcher and show its state. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/launcher.h"
#include "vmi/banner.h"
#include "vmi/qmp.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int cli_default_kit(char *out, size_t outlen)
{
	const char *env = getenv("RINGWATCH_KIT");
	const char *flavor = getenv("KIT_FLAVOR");
	char exe[PATH_MAX];
	ssize_t n;
	char *p;

	if (env && *env) {
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	/* <top>/build/<variant>/bin/ringwatch -> <top>/build */
	for (int i = 0; i < 3; i++) {
		p = strrchr(exe, '/');
		if (!p)
			return -1;
		*p = '\0';
	}
	snprintf(out, outlen, "%s/kit/%s", exe, flavor && *flavor ? flavor : "cloud-amd64");
	return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1000000) {
		fprintf(stderr, "ringwatch run: %s '%s': expected a number\n", opt, s);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

/* Print what the host sees of the guest: QMP state, vCPU registers, the banner in RAM. */
static void print_state(struct rw_vm *vm)
{
	char err[512], banner[RW_BANNER_MAX];
	struct rw_qmp *qmp;
	char *status, *regs;
	void *ram;

	if (rw_qmp_connect(vm->qmp_path, 5000, &qmp, err, sizeof(err))) {
		printf("qmp: %s\n", err);
		return;
	}
	status = rw_qmp_status(qmp, 5000, err, sizeof(err));
	printf("qmp status: %s\n", status ? status : err);
	free(status);
	regs = rw_qmp_hmp(qmp, "info registers -a", 10000, err, sizeof(err));
	if (regs) {
		/* Lines naming the CPU and its control state. */
		for (char *line = strtok(regs, "\n"); line; line = strtok(NULL, "\n"))
			if (!strncmp(line, "CPU#", 4) || strstr(line, "CR0=") ||
			    !strncmp(line, "EFER=", 5) || !strncmp(line, "IDT=", 4))
				printf("  %s\n", line);
	} else {
		printf("info registers: %s\n", err);
	}
	free(regs);
	rw_qmp_close(qmp);

	ram = mmap(NULL, vm->ram_size, PROT_READ, MAP_SHARED, vm->ram_fd, 0);
	if (ram == MAP_FAILED) {
		printf("guest RAM: mmap failed: %s\n", strerror(errno));
		return;
	}
	long long off = vmi_find_banner(ram, vm->ram_size, 0, banner, sizeof(banner));

	if (off >= 0)
		printf("guest RAM: banner at guest-physical 0x%llx: %s\n", off, banner);
	else
		printf("guest RAM: no kernel banner found in %llu MiB\n",
		       (unsigned long long)(vm->ram_size >> 20));
	munmap(ram, vm->ram_size);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kit", required_argument, NULL, 'k' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "overlay", required_argument, NULL, 'o' },
		{ "machine", required_argument, NULL, 'M' },
		{ "no-kaslr", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "exit", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	char kit[PATH_MAX] = "", kernel[PATH_MAX + 16], initrd[PATH_MAX + 32];
	char err[4096], ready[512];
	unsigned int timeout_s = 120;
	struct rw_vm_config cfg;
	struct rw_vm vm;
	bool exit_when_ready = false;
	int c;

	rw_vm_config_init(&cfg);
	cfg.kernel = cfg.initrd = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': snprintf(kit, sizeof(kit), "%s", optarg); break;
		case 'K': cfg.kernel = optarg; break;
		case 'i': cfg.initrd = optarg; break;
		case 'm': if (parse_uint("--memory", optarg, &cfg.memory_mib)) return RW_EXIT_USAGE; break;
		case 'c': if (parse_uint("--cpus", optarg, &cfg.cpus)) return RW_EXIT_USAGE; break;
		case 'o': cfg.overlay_dir = optarg; break;
		case 'M': cfg.machine = optarg; break;
		case 'n': cfg.kaslr = false; break;
		case 't': if (parse_uint("--timeout", optarg, &timeout_s)) return RW_EXIT_USAGE; break;
		case 'x': exit_when_ready = true; break;
		default: return RW_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ringwatch run: expected one VM name\n");
		return RW_EXIT_USAGE;
	}
	cfg.name = argv[optind];
	if (!!cfg.kernel != !!cfg.initrd) {
		fprintf(stderr, "ringwatch run: --kernel and --initrd go together\n");
		return RW_EXIT_USAGE;
	}
	if (!cfg.kernel) {
		if (!kit[0] && cli_default_kit(kit, sizeof(kit))) {
			fprintf(stderr, "ringwatch run: cannot locate the guest kit; use --kit\n");
			return RW_EXIT_USAGE;
		}
		snprintf(kernel, sizeof(kernel), "%s/vmlinuz", kit);
		snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", kit);
		cfg.kernel = kernel;
		cfg.initrd = initrd;
	}

	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	signal(SIGHUP, on_stop_signal);
	if (rw_vm_start(&cfg, &vm, err, sizeof(err))) {
		fprintf(stderr, "ringwatch run: %s\n", err);
		return RW_EXIT_USAGE;
	}
	printf("launched %s: qemu pid %d, accel %s (%s), %u vCPU, %u MiB, run dir %s\n",
	       vm.name, (int)vm.pid, rw_accel_name(vm.accel), vm.accel_reason, cfg.cpus,
	       cfg.memory_mib, vm.run_dir);
	fflush(stdout);
	if (rw_vm_wait_ready(&vm, (int)timeout_s * 1000, ready, sizeof(ready), err, sizeof(err))) {
		fprintf(stderr, "ringwatch run: %s\n", err);
		rw_vm_stop(&vm);
		return RW_EXIT_USAGE;
	}
	printf("guest ready: %s\n", ready);
	print_state(&vm);
	fflush(stdout);
	if (!exit_when_ready) {
		printf("running; Ctrl-C stops the guest\n");
		fflush(stdout);
		while (!stop_requested && !rw_vm_exited(&vm))
			usleep(200000);
		if (!stop_requested)
			printf("guest %s exited on its own\n", vm.name);
	}
	rw_vm_stop(&vm);
	printf("stopped %s\n", vm.name);
	return RW_EXIT_OK;
}

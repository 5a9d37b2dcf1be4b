// SPDX-License-Identifier: GPL-2.0
/*
 * vmi Linux layer against real guests: the host reads the guest's RAM file
 * (layout from QMP "info mtree -f") and vCPU state (QMP "info registers -a"),
 * attaches with the kit's catalog and checks, against what the guest says of
 * itself from inside:
 *   - the running build ID is the kit's, all three KASLR anchors agree;
 *   - the slide equals what the guest's /proc/kallsyms implies;
 *   - kernel text bytes read by the host equal the bytes a test module
 *     (tests/payloads/kmod/rwtest_dump) reads in the guest;
 *   - the module list walked by the host equals /proc/modules (names, core
 *     base, size), also after loading and unloading a module;
 *   - `ringwatch inspect` prints the same;
 * with KASLR on and 4.5 GiB RAM (split around 4 GiB), and with nokaslr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "tests/lib/harness.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"
#include "vmi/mtree.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"

static struct rw_test_env env;
static struct vmi_kcat *kit_cat;
static char overlay[128];

#define DUMP_LEN 512
#define DUMP_SYMBOL "vfs_read"

static int setup(void **state)
{
	char err[512], ko[700], cmd[1600];

	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	if (vmi_kcat_open(env.vmlinux, &kit_cat, err, sizeof(err))) {
		fprintf(stderr, "kit catalog %s: %s\n", env.vmlinux, err);
		return -1;
	}
	snprintf(ko, sizeof(ko), "%s/kmod/rwtest_dump.ko", env.payloads);
	if (access(ko, R_OK)) {
		fprintf(stderr, "test payload missing: %s (run scripts/build-payloads %s %s)\n", ko,
			env.kit, env.payloads);
		return -1;
	}
	snprintf(overlay, sizeof(overlay), "/tmp/rwtest-vmi-XXXXXX");
	if (!mkdtemp(overlay))
		return -1;
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/root' && cp '%s' '%s/root/'", overlay, ko, overlay);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rw_test_rmtree(overlay);
	vmi_kcat_close(kit_cat);
	return 0;
}

struct host_view {
	struct vmi_mem *mem;
	struct vmi_vcpu vcpus[16];
	size_t nvcpus;
	struct vmi_mtree_range ranges[16];
	size_t nranges;
};

/* What the host learns from QMP and the RAM fd, as ringwatchd would. */
static void host_view_open(struct rw_vm *vm, struct host_view *h)
{
	char err[1024];
	struct rw_qmp *qmp;
	struct vmi_ram_region regions[16];

	memset(h, 0, sizeof(*h));
	if (rw_qmp_connect(vm->qmp_path, 5000, &qmp, err, sizeof(err)))
		fail_msg("QMP: %s", err);
	char *mtree = rw_qmp_hmp(qmp, "info mtree -f", 10000, err, sizeof(err));
	char *regs = rw_qmp_hmp(qmp, "info registers -a", 10000, err, sizeof(err));
	rw_qmp_close(qmp);
	assert_non_null(mtree);
	assert_non_null(regs);
	if (vmi_mtree_parse_ram(mtree, strlen(mtree), NULL, h->ranges, 16, &h->nranges, err,
				sizeof(err)))
		fail_msg("mtree: %s", err);
	if (vmi_regs_hmp_parse(regs, strlen(regs), h->vcpus, 16, &h->nvcpus, err, sizeof(err)))
		fail_msg("registers: %s", err);
	free(mtree);
	free(regs);
	vmi_mtree_to_ram_regions(h->ranges, h->nranges, vm->ram_fd, regions);
	if (vmi_mem_open_ram(regions, h->nranges, &h->mem, err, sizeof(err)))
		fail_msg("RAM: %s", err);
}

static void host_view_close(struct host_view *h)
{
	vmi_mem_close(h->mem);
	h->mem = NULL;
}

static struct vmi_linux *attach(struct host_view *h)
{
	char err[2048];
	struct vmi_linux *lx;
	struct vmi_linux_info info;
	int rc = vmi_linux_attach(h->mem, h->vcpus, h->nvcpus, kit_cat, &lx, &info, err,
				  sizeof(err));
	if (rc)
		fail_msg("attach: %s (%s)", err, vmi_linux_strerror(rc));
	return lx;
}

/* Address of a symbol as the guest's /proc/kallsyms shows it. */
static uint64_t guest_kallsyms(struct rw_vm *vm, const char *name)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "grep ' %s$' /proc/kallsyms | head -1", name);
	char *out = rw_test_guest_sh(vm, cmd, 30);
	uint64_t a = strtoull(out, NULL, 16);
	if (!a)
		fail_msg("guest /proc/kallsyms has no address for %s: '%s'", name, out);
	free(out);
	return a;
}

static void check_identity_and_slide(struct rw_vm *vm, struct vmi_linux *lx, bool kaslr)
{
	const struct vmi_linux_info *in = vmi_linux_info(lx);
	uint64_t link;

	/*
	 * The running build ID is the kit's and every anchor agrees.  Other
	 * GNU build-ID notes may sit in guest memory (ELF images embedded in
	 * or left behind near the kernel image); what matters is that the
	 * kit's is there and attach matched it.
	 */
	bool kit_id_found = false;

	for (size_t i = 0; i < in->ident.nids; i++) {
		print_message("build ID %s at 0x%" PRIx64 "%s\n", in->ident.ids[i].hex,
			      in->ident.ids[i].va, in->ident.ids[i].writable ? " (writable)" : "");
		kit_id_found |= !strcmp(in->ident.ids[i].hex, vmi_kcat_build_id_hex(kit_cat));
	}
	assert_true(kit_id_found);
	assert_string_equal(in->ident.banner, vmi_kcat_banner(kit_cat));
	assert_int_equal(in->nagree, VMI_LINUX_NANCHORS);
	for (int k = 0; k < VMI_LINUX_NANCHORS; k++)
		assert_true(in->anchors[k].ok);
	assert_true(in->kernel_pgd != 0);

	/* The guest's own kallsyms implies the same slide. */
	rw_test_guest_sh(vm, "echo 0 > /proc/sys/kernel/kptr_restrict", 30);
	char *cmdline = rw_test_guest_sh(vm, "cat /proc/cmdline", 30);
	assert_int_equal(!strstr(cmdline, "nokaslr"), kaslr);
	free(cmdline);
	static const char *const syms[] = { "_text", "_stext", "asm_exc_page_fault", "linux_banner",
					    "modules" };
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		assert_int_equal(vmi_kcat_symbol(kit_cat, syms[i], &link), 0);
		uint64_t g = guest_kallsyms(vm, syms[i]);
		if ((int64_t)(g - link) != in->slide)
			fail_msg("%s: guest 0x%" PRIx64 " - catalog 0x%" PRIx64 " != host slide 0x%" PRIx64,
				 syms[i], g, link, (uint64_t)in->slide);
	}
	if (!kaslr)
		assert_int_equal(in->slide, 0);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Load the dump module on DUMP_SYMBOL and compare its bytes with the host's. */
static uint64_t check_text_bytes(struct rw_vm *vm, struct vmi_linux *lx)
{
	uint8_t host[DUMP_LEN], guest[DUMP_LEN];
	char cmd[256];
	uint64_t va, self = 0;
	size_t got = 0;

	assert_int_equal(vmi_linux_symbol(lx, DUMP_SYMBOL, &va), 0);
	snprintf(cmd, sizeof(cmd), "insmod /root/rwtest_dump.ko addr=0x%" PRIx64 " len=%d && "
		 "dmesg | grep 'rwtest_dump: '", va, DUMP_LEN);
	char *out = rw_test_guest_sh(vm, cmd, 60);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = strstr(line, "rwtest_dump: ");
		unsigned off;
		if (!p)
			continue;
		p += strlen("rwtest_dump: ");
		if (!strncmp(p, "self ", 5)) {
			self = strtoull(p + 5, NULL, 16);
			continue;
		}
		if (!strncmp(p, "fault", 5))
			fail_msg("guest could not read %s: %s", DUMP_SYMBOL, p);
		if (sscanf(p, "%4x ", &off) != 1 || strlen(p) < 5 + 64 || off + 32 > DUMP_LEN)
			continue;
		for (unsigned i = 0; i < 32; i++) {
			int hi = hexval(p[5 + 2 * i]), lo = hexval(p[6 + 2 * i]);
			assert_true(hi >= 0 && lo >= 0);
			guest[off + i] = (uint8_t)(hi << 4 | lo);
		}
		got += 32;
	}
	free(out);
	assert_int_equal(got, DUMP_LEN);
	assert_true(self != 0);
	assert_int_equal(vmi_x86_read(vmi_linux_x86(lx), va, host, sizeof(host)), 0);
	if (memcmp(host, guest, sizeof(host))) {
		for (size_t i = 0; i < sizeof(host); i++)
			if (host[i] != guest[i])
				fail_msg("%s+0x%zx: host reads %02x, guest %02x", DUMP_SYMBOL, i, host[i],
					 guest[i]);
	}
	return self;
}

/* Host module walk == guest /proc/modules (name, size, core base). */
static void check_modules(struct rw_vm *vm, struct vmi_linux *lx, const char *must_have,
			  const char *must_not_have, uint64_t must_have_addr)
{
	struct vmi_linux_modules mods;
	char err[1024];
	size_t guest_n = 0;

	char *pm = rw_test_guest_sh(vm, "cat /proc/modules", 30);
	int rc = vmi_linux_modules(lx, &mods, err, sizeof(err));
	if (rc)
		fail_msg("module walk: %s", err);
	for (char *line = strtok(pm, "\n"); line; line = strtok(NULL, "\n")) {
		char name[128], state[32];
		unsigned long long size, addr;
		if (sscanf(line, "%127s %llu %*s %*s %31s %llx", name, &size, state, &addr) != 4)
			fail_msg("unparsable /proc/modules line '%s'", line);
		guest_n++;
		const struct vmi_linux_module *m = NULL;
		for (size_t i = 0; i < mods.n; i++)
			if (!strcmp(mods.v[i].name, name))
				m = &mods.v[i];
		if (!m)
			fail_msg("guest module %s not in the host's walk", name);
		assert_true(m->on_list);
		assert_true(m->in_kset);
		assert_false(m->name_mismatch);
		assert_false(m->unreadable);
		assert_int_equal(m->core_size, size);
		assert_int_equal(m->core_base, addr);
		assert_true(m->text_size > 0 && m->text_size <= m->core_size);
	}
	free(pm);
	assert_int_equal(mods.n, guest_n);
	assert_true(mods.kset_builtin > 0);
	int found = 0;
	for (size_t i = 0; i < mods.n; i++) {
		if (must_have && !strcmp(mods.v[i].name, must_have)) {
			found = 1;
			if (must_have_addr)
				assert_int_equal(mods.v[i].addr, must_have_addr);
		}
		if (must_not_have)
			assert_string_not_equal(mods.v[i].name, must_not_have);
	}
	if (must_have)
		assert_true(found);
	vmi_linux_modules_free(&mods);
}

static char *run_capture(char *const argv[], int *status)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	assert_non_null(buf);
	while ((r = read(p[0], buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return buf;
}

/* ringwatch inspect --json against the running guest agrees with the library. */
static void check_cli(struct rw_vm *vm, const struct vmi_linux_info *in, const char *module)
{
	char bin[700], mem[64];
	int status;

	snprintf(bin, sizeof(bin), "%s/rel/bin/ringwatch", env.build);
	snprintf(mem, sizeof(mem), "/proc/%d/fd/%d", (int)getpid(), vm->ram_fd);
	char *const argv[] = { bin, "inspect", "--qmp", vm->qmp_path, "--mem", mem, "--kernel",
			       env.kernel, "--json", NULL };
	char *out = run_capture(argv, &status);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("ringwatch inspect exited %d:\n%s", WEXITSTATUS(status), out);
	json_error_t jerr;
	json_t *root = json_loads(out, 0, &jerr);
	if (!root)
		fail_msg("inspect output is not JSON (%s):\n%s", jerr.text, out);
	char slide[32];
	snprintf(slide, sizeof(slide), "0x%" PRIx64, (uint64_t)in->slide);
	assert_true(json_is_true(json_object_get(root, "attached")));
	assert_true(json_is_true(json_object_get(root, "build_id_matches")));
	assert_string_equal(json_string_value(json_object_get(root, "slide")), slide);
	assert_string_equal(json_string_value(json_array_get(json_object_get(root, "build_ids"), 0)),
			    vmi_kcat_build_id_hex(kit_cat));
	json_t *cpus = json_object_get(root, "vcpus");
	assert_true(json_array_size(cpus) >= 1);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_array_get(cpus, 0), "cr3"), "source")), "qmp-info-registers");
	json_t *mods = json_object_get(root, "modules"), *m;
	size_t i;
	int found = 0;
	json_array_foreach(mods, i, m)
		found |= !strcmp(json_string_value(json_object_get(m, "name")), module);
	assert_true(found);
	json_decref(root);
	free(out);

	/* Text output and a usage error. */
	char *const targv[] = { bin, "inspect", "--qmp", vm->qmp_path, "--mem", mem, "--kernel",
				env.vmlinux, NULL };
	out = run_capture(targv, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "(3 anchors agree)"));
	assert_non_null(strstr(out, module));
	free(out);
	char *const bad[] = { bin, "inspect", "--qmp", "/nonexistent/qmp.sock", "--mem", mem,
			      "--kernel", env.vmlinux, NULL };
	out = run_capture(bad, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	free(out);
}

static void run_guest(const char *name, bool kaslr, unsigned memory_mib, unsigned cpus)
{
	struct rw_test_boot opts = { .name = name, .cpus = cpus, .memory_mib = memory_mib,
				     .no_kaslr = !kaslr, .overlay_dir = overlay };
	struct rw_vm vm;
	struct host_view h;
	char ready[512];

	rw_test_boot(&env, &opts, &vm, ready, sizeof(ready));
	host_view_open(&vm, &h);
	assert_int_equal(h.nvcpus, cpus);
	if (memory_mib > 3584) { /* pc: RAM split below and above 4 GiB */
		assert_true(h.nranges >= 2);
		assert_true(h.ranges[h.nranges - 1].gpa >= (4ull << 30));
	}
	struct vmi_linux *lx = attach(&h);
	check_identity_and_slide(&vm, lx, kaslr);
	check_modules(&vm, lx, NULL, "rwtest_dump", 0);
	uint64_t self = check_text_bytes(&vm, lx);
	check_modules(&vm, lx, "rwtest_dump", NULL, self);
	check_cli(&vm, vmi_linux_info(lx), "rwtest_dump");
	rw_test_guest_sh(&vm, "rmmod rwtest_dump", 30);
	check_modules(&vm, lx, NULL, "rwtest_dump", 0);
	vmi_linux_detach(lx);
	host_view_close(&h);
	rw_vm_stop(&vm);
}

static void test_kaslr_split_ram(void **state)
{
	(void)state;
	run_guest("vmi-kaslr", true, 4608, 2);
}

static void test_nokaslr(void **state)
{
	(void)state;
	run_guest("vmi-nokaslr", false, 512, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kaslr_split_ram),
		cmocka_unit_test(test_nokaslr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

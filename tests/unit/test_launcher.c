// SPDX-License-Identifier: GPL-2.0
/* Launcher pieces that need no guest: accelerator choice, banner search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/accel.h"
#include "host/launcher.h"
#include "tests/lib/harness.h"
#include "vmi/banner.h"

static void test_accel_env_override(void **state)
{
	struct rw_accel_probe probe;
	char err[256];

	(void)state;
	setenv("RINGWATCH_ACCEL", "tcg", 1);
	assert_int_equal(rw_accel_choose(RW_ACCEL_AUTO, &probe, err, sizeof(err)), RW_ACCEL_TCG);
	assert_string_equal(probe.reason, "RINGWATCH_ACCEL=tcg");
	setenv("RINGWATCH_ACCEL", "fast", 1);
	assert_int_equal(rw_accel_choose(RW_ACCEL_AUTO, &probe, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "RINGWATCH_ACCEL='fast'"));
	/* An explicit request beats the environment. */
	assert_int_equal(rw_accel_choose(RW_ACCEL_TCG, &probe, err, sizeof(err)), RW_ACCEL_TCG);
	unsetenv("RINGWATCH_ACCEL");
}

/* The probe really runs guest code: it reports a positive speed and says so. */
static void test_accel_calibration_measures(void **state)
{
	struct rw_accel_probe probe;
	char err[256];

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK)) {
		/* Then auto must fall back to TCG and say why. */
		assert_int_equal(rw_accel_choose(RW_ACCEL_AUTO, &probe, err, sizeof(err)),
				 RW_ACCEL_TCG);
		assert_non_null(strstr(probe.reason, "KVM unusable"));
		return;
	}
	assert_int_equal(rw_accel_calibrate_kvm(&probe, err, sizeof(err)), 0);
	assert_true(probe.kvm_usable);
	assert_true(probe.kvm_ips > 0);
	assert_non_null(strstr(probe.reason, "MIPS"));
	int chosen = rw_accel_choose(RW_ACCEL_AUTO, &probe, err, sizeof(err));

	assert_int_equal(chosen, probe.kvm_ips >= RW_KVM_MIN_IPS ? RW_ACCEL_KVM : RW_ACCEL_TCG);
}

static void test_banner_search(void **state)
{
	static const char mem[] =
		"xxLinux version \x01junkLinux version abc\0"
		"Linux version 6.1.0-56-cloud-amd64 (gcc) #1 SMP\0tail"
		"Linux version 6.2 second\nmore";
	char out[64];
	long long off;

	(void)state;
	off = vmi_find_banner((const uint8_t *)mem, sizeof(mem) - 1, 0, out, sizeof(out));
	assert_int_equal(off, (const char *)memmem(mem, sizeof(mem), "Linux version 6.1", 17) - mem);
	assert_string_equal(out, "Linux version 6.1.0-56-cloud-amd64 (gcc) #1 SMP");
	off = vmi_find_banner((const uint8_t *)mem, sizeof(mem) - 1, (size_t)off + 1, out, 20);
	assert_true(off > 0);
	assert_string_equal(out, "Linux version 6.2 s");	/* truncated to the buffer */
	assert_int_equal(vmi_find_banner((const uint8_t *)mem, sizeof(mem) - 1, (size_t)off + 1,
					 out, sizeof(out)), -1);
	/* A banner cut off by the end of memory is not one. */
	assert_int_equal(vmi_find_banner((const uint8_t *)"Linux version 6", 15, 0, out,
					 sizeof(out)), -1);
}

/* Disk boots: format detection and validation, inputs refused before any QEMU starts. */
static void test_disk_inputs(void **state)
{
	static const unsigned char qcow2_magic[] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	struct rw_vm_config cfg;
	struct rw_vm vm;
	char dir[128], raw[256], qcow[256], err[512];
	FILE *f;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "disk");
	snprintf(raw, sizeof(raw), "%s/raw.img", dir);
	snprintf(qcow, sizeof(qcow), "%s/disk.qcow2", dir);
	rw_test_write_file(dir, "raw.img", "\xeb\x3c\x90mkfs.fat", 0644);
	f = fopen(qcow, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(qcow2_magic, 1, sizeof(qcow2_magic), f), sizeof(qcow2_magic));
	fclose(f);
	assert_string_equal(rw_vm_disk_format_detect(raw, err, sizeof(err)), "raw");
	assert_string_equal(rw_vm_disk_format_detect(qcow, err, sizeof(err)), "qcow2");
	assert_null(rw_vm_disk_format_detect("/nonexistent/x.img", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/x.img"));
	assert_true(rw_vm_disk_format_valid("qcow2"));
	assert_true(rw_vm_disk_format_valid("raw"));
	assert_false(rw_vm_disk_format_valid("iso"));
	assert_false(rw_vm_disk_format_valid(NULL));

	rw_vm_config_init(&cfg);
	cfg.run_parent = dir;
	cfg.disk = raw;
	cfg.kernel = "/boot/vmlinuz";
	assert_int_equal(rw_vm_start(&cfg, &vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a disk boot takes no kernel"));
	cfg.kernel = NULL;
	cfg.disk_format = "iso";
	assert_int_equal(rw_vm_start(&cfg, &vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "disk format 'iso'"));
	cfg.disk_format = NULL;
	cfg.disk = "/nonexistent/disk.img";
	assert_int_equal(rw_vm_start(&cfg, &vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "disk image '/nonexistent/disk.img'"));
	cfg.disk = dir;	/* a directory is not a disk */
	assert_int_equal(rw_vm_start(&cfg, &vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a file or block device"));
	rw_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accel_env_override),
		cmocka_unit_test(test_accel_calibration_measures),
		cmocka_unit_test(test_banner_search),
		cmocka_unit_test(test_disk_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

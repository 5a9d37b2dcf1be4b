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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accel_env_override),
		cmocka_unit_test(test_accel_calibration_measures),
		cmocka_unit_test(test_banner_search),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

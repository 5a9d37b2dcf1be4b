// SPDX-License-Identifier: GPL-2.0
/*
 * host/kernel_search: finding a kernel's image by the banner its RAM holds.
 * Synthetic setup headers for the bzImage pre-filter; the kit's vmlinuz and
 * vmlinux ($RW_KIT) for the real search, the registry shortcut and the
 * "unknown kernel" reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/kernel_search.h"
#include "host/kernels.h"
#include "tests/lib/harness.h"
#include "vmi/kcat.h"

static const char banner[] =
	"Linux version 6.1.0-9-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
	"12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC "
	"Debian 6.1.27-1 (2023-05-08)";

/* A setup header whose kernel_version string is @kver. */
static void fake_header(unsigned char *hdr, size_t len, const char *kver)
{
	size_t at = 0x300;

	memset(hdr, 0, len);
	memcpy(hdr + 0x202, "HdrS", 4);
	hdr[0x206] = 0x0f;
	hdr[0x207] = 0x02;
	hdr[0x20e] = (unsigned char)((at - 0x200) & 0xff);
	hdr[0x20f] = (unsigned char)((at - 0x200) >> 8);
	memcpy(hdr + at, kver, strlen(kver) + 1);
}

static void test_header_prefilter(void **state)
{
	unsigned char hdr[4096];

	(void)state;
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64 (debian-kernel@lists.debian.org) "
					"#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)");
	assert_true(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	/* Another build date, another release, another builder: no. */
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64 (debian-kernel@lists.debian.org) "
					"#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-09)");
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd6 (debian-kernel@lists.debian.org) "
					"#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)");
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64 (someone@elsewhere) "
					"#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)");
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	/* Only a release: the release decides. */
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64");
	assert_true(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	/* Hostile or broken headers: no magic, offset outside, no terminator, empty. */
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64");
	memcpy(hdr + 0x202, "HdrX", 4);
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64");
	hdr[0x20e] = 0xff;
	hdr[0x20f] = 0xff;
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	fake_header(hdr, sizeof(hdr), "");
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64");
	memset(hdr + 0x300, 'A', sizeof(hdr) - 0x300);
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), banner));
	assert_false(rw_ksearch_header_matches(hdr, 0x100, banner));
	/* A banner that is not one. */
	fake_header(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64");
	assert_false(rw_ksearch_header_matches(hdr, sizeof(hdr), "6.1.0-9-cloud-amd64"));
}

/* The kit's kernel: its banner (from its catalog) and the kit directory. */
static void kit_banner(const struct rw_test_env *env, char *out, size_t outlen)
{
	struct vmi_kcat *kc;
	char err[256];

	if (vmi_kcat_open(env->kernel, &kc, err, sizeof(err)))
		fail_msg("kit kernel %s: %s", env->kernel, err);
	snprintf(out, outlen, "%s", vmi_kcat_banner(kc));
	vmi_kcat_close(kc);
}

static void test_search_kit(void **state)
{
	struct rw_test_env env;
	struct rw_kernels *k = rw_kernels_new();
	char kb[512], found[512], why[512], tmp[128], other[600];
	const char *paths[2];
	unsigned char hdr[65536];
	FILE *f;

	(void)state;
	assert_non_null(k);
	rw_test_env_load(&env);
	kit_banner(&env, kb, sizeof(kb));
	f = fopen(env.kernel, "rb");
	assert_non_null(f);
	assert_int_equal(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	assert_true(rw_ksearch_header_matches(hdr, sizeof(hdr), kb));

	/* Nothing configured: the reason says so and names the release. */
	assert_int_equal(rw_kernel_search(k, NULL, 0, kb, found, sizeof(found), why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "unknown kernel "));
	assert_non_null(strstr(why, env.kver));
	assert_non_null(strstr(why, "no kernel-search path configured"));
	assert_int_equal(rw_kernels_count(k), 0);

	/* A directory with other files and the kit's images: found, confirmed on the catalog. */
	rw_test_mkdtemp(tmp, sizeof(tmp), "ksearch");
	rw_test_write_file(tmp, "vmlinuz-junk", "not a kernel at all", 0644);
	rw_test_write_file(tmp, "README", "ignored: not an image name", 0644);
	snprintf(other, sizeof(other), "ln -s '%s' '%s/vmlinuz-kit'", env.kernel, tmp);
	assert_int_equal(system(other), 0);
	paths[0] = "/nonexistent/kernels";
	paths[1] = tmp;
	if (rw_kernel_search(k, paths, 2, kb, found, sizeof(found), why, sizeof(why)))
		fail_msg("kit kernel not found: %s", why);
	snprintf(other, sizeof(other), "%s/vmlinuz-kit", tmp);
	assert_string_equal(found, other);
	assert_int_equal(rw_kernels_count(k), 1);	/* only the match was decompressed */

	/* Now open in the registry: found there first, whatever the paths. */
	found[0] = '\0';
	assert_int_equal(rw_kernel_search(k, NULL, 0, kb, found, sizeof(found), why, sizeof(why)),
			 0);
	assert_string_equal(found, other);

	/* The ELF vmlinux is found by the banner among its bytes. */
	{
		struct rw_kernels *k2 = rw_kernels_new();

		paths[0] = env.vmlinux;
		assert_int_equal(rw_kernel_search(k2, paths, 1, kb, found, sizeof(found), why,
						  sizeof(why)), 0);
		assert_string_equal(found, env.vmlinux);
		rw_kernels_free(k2);
	}

	/* Another build of the same release: not the kit's; the reason counts what was seen. */
	{
		char changed[512];

		snprintf(changed, sizeof(changed), "%s", kb);
		changed[strlen(changed) - 2] = changed[strlen(changed) - 2] == '1' ? '2' : '1';
		paths[0] = tmp;
		assert_int_equal(rw_kernel_search(k, paths, 1, changed, found, sizeof(found), why,
						  sizeof(why)), -1);
		assert_non_null(strstr(why, "2 files looked at in kernel-search"));
		assert_non_null(strstr(why, tmp));
	}
	/* Not a banner at all (guest data). */
	assert_int_equal(rw_kernel_search(k, paths, 1, "garbage", found, sizeof(found), why,
					  sizeof(why)), -1);
	assert_non_null(strstr(why, "no kernel banner"));
	rw_test_rmtree(tmp);
	rw_kernels_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_prefilter),
		cmocka_unit_test(test_search_kit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The integrity checks' plumbing without a guest: the kernel catalog registry
 * (one catalog per build however many paths, errors naming the file), and
 * the engine checks' verdicts when they cannot run (no registry, no kernel
 * image, no RAM source, the kernel check not run), which the sub-checks
 * report through the kernel check's per-VM state.
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

#include "host/check.h"
#include "host/integrity.h"
#include "host/kernels.h"
#include "vmi/kcat.h"

static const char *kit_vmlinux(char *buf, size_t len)
{
	const char *kit = getenv("RW_KIT"), *top = getenv("RW_TOP");

	if (kit)
		snprintf(buf, len, "%s/vmlinux", kit);
	else if (top)
		snprintf(buf, len, "%s/build/kit/cloud-amd64/vmlinux", top);
	else
		fail_msg("neither RW_KIT nor RW_TOP is set: cannot find the guest kit");
	if (access(buf, R_OK))
		fail_msg("guest kit file missing: %s (run make kit or set RW_KIT)", buf);
	return buf;
}

static void test_registry_errors(void **state)
{
	struct rw_kernels *k = rw_kernels_new();
	const struct vmi_kcat *cat = NULL;
	char err[1024], junk[] = "/tmp/rwtest-kernels-XXXXXX";
	int fd;

	(void)state;
	assert_non_null(k);
	assert_non_null(rw_kernels_integrity_cache(k));
	assert_int_equal(rw_kernels_get(k, "/nonexistent/vmlinuz", &cat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/vmlinuz"));
	assert_int_equal(rw_kernels_get(k, "", &cat, err, sizeof(err)), -1);
	fd = mkstemp(junk);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a kernel\n", 13), 13);
	close(fd);
	assert_int_equal(rw_kernels_get(k, junk, &cat, err, sizeof(err)), -1);
	assert_non_null(strstr(err, junk));
	assert_int_equal(rw_kernels_count(k), 0);
	unlink(junk);
	rw_kernels_free(k);
}

/* The guest kernel's profile gives the engine what it walks for hooks: the
 * kprobe table with handlers and the ftrace ops list with its trampolines. */
static void test_profile_hook_tables(void **state)
{
	struct rw_kernels *k = rw_kernels_new();
	const struct vmi_kcat *cat = NULL;
	struct rw_kprofile p;
	char path[600], err[1024];
	uint64_t a;

	(void)state;
	kit_vmlinux(path, sizeof(path));
	if (rw_kernels_get(k, path, &cat, err, sizeof(err)))
		fail_msg("%s", err);
	if (rw_kprofile_from_kcat(cat, &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_not_equal(p.kprobe_table, 0);
	assert_int_not_equal(p.kprobe_pre_off, 0);
	assert_int_equal(p.kprobe_post_off, p.kprobe_pre_off + 8);
	assert_int_not_equal(p.kprobe_list_off, 0);
	assert_int_equal(vmi_kcat_symbol(cat, "ftrace_ops_list", &a), 0);
	assert_int_equal(p.ftrace_ops_list, a);
	assert_int_equal(vmi_kcat_symbol(cat, "ftrace_list_end", &a), 0);
	assert_int_equal(p.ftrace_list_end, a);
	assert_int_equal(p.fops_func_off, 0);	/* func is the first member */
	assert_int_equal(p.fops_next_off, 8);
	assert_true(p.fops_tramp_off > p.fops_next_off);
	assert_int_equal(p.fops_tramp_size_off, p.fops_tramp_off + 8);
	assert_int_equal(vmi_kcat_symbol(cat, "aggr_pre_handler", &a), 0);
	assert_int_equal(vmi_kcat_symbol(cat, "trampoline_table", &a), 0);
	assert_int_equal(p.bpf_tramp_table, a);
	assert_int_equal(p.bpf_tramp_buckets, RW_KPROFILE_BPF_TRAMP_BUCKETS);
	assert_true(p.btr_cur_image_off > p.btr_func_addr_off);
	rw_kernels_free(k);
}

static void test_registry_shares_builds(void **state)
{
	struct rw_kernels *k = rw_kernels_new();
	const struct vmi_kcat *a = NULL, *b = NULL, *c = NULL;
	char path[600], link[] = "/tmp/rwtest-kernels-XXXXXX", alias[700], err[1024];

	(void)state;
	kit_vmlinux(path, sizeof(path));
	assert_non_null(mkdtemp(link));
	snprintf(alias, sizeof(alias), "%s/vmlinux-copy", link);
	assert_int_equal(symlink(path, alias), 0);
	if (rw_kernels_get(k, path, &a, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(rw_kernels_get(k, path, &b, err, sizeof(err)), 0);
	assert_ptr_equal(a, b);				/* same file: not re-read */
	assert_int_equal(rw_kernels_get(k, alias, &c, err, sizeof(err)), 0);
	assert_ptr_equal(a, c);				/* same build: one catalog */
	assert_int_equal(rw_kernels_count(k), 1);
	assert_non_null(vmi_kcat_build_id_hex(a));
	unlink(alias);
	rmdir(link);
	rw_kernels_free(k);
}

/* A pass of "kernel" then "ktext" on a VM, as the daemon runs them. */
struct fake_pass {
	void *kernel_state;
};

static void *peer(void *arg, const struct rw_check_ops *ops)
{
	struct fake_pass *p = arg;

	return ops == &rw_check_kernel ? p->kernel_state : NULL;
}

static void run_two(const struct rw_check_host *host, struct fake_pass *p,
		    const struct rw_check_vm *vm, struct rw_check_result *kres,
		    struct rw_check_result *tres)
{
	struct rw_qmp *qmp = NULL;
	char qmp_err[256] = "";
	enum rw_run_state rs = RW_RUN_UNSEEN;
	struct rw_check_ctx ctx = { .vm = vm, .host = host, .qmp_timeout_ms = 500,
				    .run_state = &rs, .qmp = &qmp, .qmp_err = qmp_err,
				    .qmp_errlen = sizeof(qmp_err) };

	rw_check_result_init(kres);
	rw_check_result_init(tres);
	ctx.state = p->kernel_state;
	assert_int_equal(rw_check_kernel.run(&ctx, kres), 0);
	p->kernel_state = ctx.state;
	ctx.state = NULL;
	assert_int_equal(rw_check_ktext.run(&ctx, tres), 0);
}

static void test_checks_without_inputs(void **state)
{
	struct rw_kernels *k = rw_kernels_new();
	struct fake_pass p = { NULL };
	const struct rw_check_host host = { .kernels = k, .peer_state = peer, .arg = &p };
	const struct rw_check_host bare = { .peer_state = peer, .arg = &p };
	struct rw_check_vm vm = { .name = "t", .qmp_path = "/nonexistent/qmp", .mem_path = "",
				  .mem_fd = -1, .kernel_path = "" };
	struct rw_check_result kres, tres;

	(void)state;
	/* No kernel image: both unknown, saying why. */
	run_two(&host, &p, &vm, &kres, &tres);
	assert_int_equal(kres.result, RW_RESULT_UNKNOWN);
	assert_non_null(strstr(kres.summary, "no kernel image"));
	assert_int_equal(tres.result, RW_RESULT_UNKNOWN);
	assert_non_null(strstr(tres.summary, "no kernel image"));
	assert_false(tres.unavailable);
	rw_check_result_clear(&kres);
	rw_check_result_clear(&tres);

	/* A kernel image but no RAM source. */
	vm.kernel_path = "/nonexistent/vmlinuz";
	run_two(&host, &p, &vm, &kres, &tres);
	assert_int_equal(kres.result, RW_RESULT_UNKNOWN);
	assert_non_null(strstr(kres.summary, "no guest RAM source"));
	rw_check_result_clear(&kres);
	rw_check_result_clear(&tres);

	/* RAM and image named, QEMU not answering: error from QMP. */
	vm.mem_path = "/nonexistent/ram";
	run_two(&host, &p, &vm, &kres, &tres);
	assert_int_equal(kres.result, RW_RESULT_ERROR);
	assert_string_equal(kres.source, "qmp");
	assert_int_equal(tres.result, RW_RESULT_ERROR);
	rw_check_result_clear(&kres);
	rw_check_result_clear(&tres);

	/* No catalog registry from the daemon: error. */
	run_two(&bare, &p, &vm, &kres, &tres);
	assert_int_equal(kres.result, RW_RESULT_ERROR);
	assert_non_null(strstr(kres.summary, "registry"));
	rw_check_result_clear(&kres);
	rw_check_result_clear(&tres);

	rw_check_kernel.free_state(p.kernel_state);
	p.kernel_state = NULL;

	/* The kernel check never ran on this VM. */
	{
		struct rw_check_ctx ctx = { .vm = &vm, .host = &host };

		rw_check_result_init(&tres);
		assert_int_equal(rw_check_msr.run(&ctx, &tres), 0);
		assert_int_equal(tres.result, RW_RESULT_UNKNOWN);
		assert_non_null(strstr(tres.summary, "has not run"));
		rw_check_result_clear(&tres);
	}
	rw_kernels_free(k);
}

/* The table: every engine check follows "kernel", names unique. */
static void test_table_order(void **state)
{
	size_t n = rw_check_count(rw_checks), kernel_at = n;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		if (rw_checks[i] == &rw_check_kernel)
			kernel_at = i;
		if (rw_checks[i] == &rw_check_ktext || rw_checks[i] == &rw_check_msr ||
		    rw_checks[i] == &rw_check_modules || rw_checks[i] == &rw_check_cr)
			assert_true(kernel_at < i);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(rw_checks[i]->name, rw_checks[j]->name);
	}
	assert_true(kernel_at < n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_errors),
		cmocka_unit_test(test_registry_shares_builds),
		cmocka_unit_test(test_profile_hook_tables),
		cmocka_unit_test(test_checks_without_inputs),
		cmocka_unit_test(test_table_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

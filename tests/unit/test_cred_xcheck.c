// SPDX-License-Identifier: GPL-2.0
/* The credential-change cross-check (host/cred_xcheck.c), driven by a test clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/cred_xcheck.h"

#define WINDOW 10000

static struct rw_msg_cred_change change(uint32_t pid, uint32_t from, uint32_t to)
{
	struct rw_msg_cred_change c;

	memset(&c, 0, sizeof(c));
	c.pid = pid;
	c.tgid = pid;
	c.via = RW_VIA_COMMIT_CREDS;
	c.syscall_nr = 105;
	snprintf(c.comm, sizeof(c.comm), "victim");
	for (unsigned i = 0; i < RW_CRED_CHANGE_IDS; i++) {
		c.old_ids[i] = from;
		c.new_ids[i] = to;
	}
	return c;
}

static struct rw_xcheck *both_up(unsigned cap, int64_t now)
{
	struct rw_xcheck_config cfg = { .window_ms = WINDOW, .max_pending = cap, .max_vms = 4 };
	struct rw_xcheck_findings out = { 0 };
	struct rw_xcheck *x = rw_xcheck_new(&cfg);

	assert_non_null(x);
	rw_xcheck_side_state(x, "vm1", RW_XCHECK_KMOD, true, now, &out);
	rw_xcheck_side_state(x, "vm1", RW_XCHECK_BPF, true, now, &out);
	assert_int_equal(out.n, 0);
	rw_xcheck_findings_release(&out);
	return x;
}

static void test_pairs_cancel_in_either_order(void **state)
{
	struct rw_xcheck *x = both_up(16, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(100, 1000, 0), b = change(101, 0, 1000);
	struct rw_xcheck_stats st;

	(void)state;
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 1, 10, &out),
			 RW_XCHECK_PENDING);
	a.via = RW_VIA_TASK_FIX_SETUID;	/* the path differs, the change does not */
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 1, 20, &out),
			 RW_XCHECK_MATCHED);
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &b, 2, 30, &out),
			 RW_XCHECK_PENDING);
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &b, 2, 9000, &out),
			 RW_XCHECK_MATCHED);
	rw_xcheck_expire(x, 100000, &out);
	assert_int_equal(out.n, 0);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.matched, 2);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.reports[RW_XCHECK_KMOD], 2);
	assert_int_equal(st.reports[RW_XCHECK_BPF], 2);
	assert_int_equal(st.one_sided[0] + st.one_sided[1], 0);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

static void expect_one_sided(enum rw_xcheck_side side, const char *seen, const char *missing)
{
	struct rw_xcheck *x = both_up(16, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(4242, 1000, 0);
	struct rw_xcheck_stats st;
	json_t *j;

	a.via = side == RW_XCHECK_KMOD ? RW_VIA_COMMIT_CREDS : RW_VIA_EXEC;
	assert_int_equal(rw_xcheck_observe(x, "vm1", side, &a, 77, 500, &out), RW_XCHECK_PENDING);
	rw_xcheck_expire(x, 500 + WINDOW - 1, &out);
	assert_int_equal(out.n, 0);	/* still inside the window */
	rw_xcheck_expire(x, 500 + WINDOW, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].kind, RW_XF_ONE_SIDED);
	assert_int_equal(out.v[0].side, side);
	assert_string_equal(out.v[0].vm, "vm1");
	assert_int_equal(out.v[0].obs.pid, 4242);
	assert_int_equal(out.v[0].seq, 77);
	assert_int_equal(out.v[0].age_ms, WINDOW);
	j = rw_xcheck_finding_json(&out.v[0]);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "one-sided");
	assert_string_equal(json_string_value(json_object_get(j, "seen_by")), seen);
	assert_string_equal(json_string_value(json_object_get(j, "missing_from")), missing);
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 4242);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "new"), "euid")),
			 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "old"), "fsgid")),
			 1000);
	assert_non_null(strstr(json_string_value(json_object_get(j, "summary")), "only"));
	json_decref(j);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.one_sided[side], 1);
	assert_int_equal(st.pending, 0);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

static void test_one_sided_kmod(void **state)
{
	(void)state;
	expect_one_sided(RW_XCHECK_KMOD, "ringwatch.ko", "bpf");
}

static void test_one_sided_bpf(void **state)
{
	(void)state;
	expect_one_sided(RW_XCHECK_BPF, "bpf", "ringwatch.ko");
}

/* Too late is as good as never: a partner after the window does not cancel it. */
static void test_partner_after_window(void **state)
{
	struct rw_xcheck *x = both_up(16, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(7, 1000, 0);

	(void)state;
	rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 1, 0, &out);
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 1, WINDOW + 5, &out),
			 RW_XCHECK_PENDING);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].side, RW_XCHECK_KMOD);
	rw_xcheck_expire(x, 3 * WINDOW, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[1].side, RW_XCHECK_BPF);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

/* Only a peer that was up all along is blamed. */
static void test_peer_absent_is_unverified(void **state)
{
	struct rw_xcheck_config cfg = { .window_ms = WINDOW };
	struct rw_xcheck_findings out = { 0 };
	struct rw_xcheck *x = rw_xcheck_new(&cfg);
	struct rw_msg_cred_change a = change(9, 1000, 0);
	struct rw_xcheck_stats st;

	(void)state;
	rw_xcheck_side_state(x, "vm1", RW_XCHECK_KMOD, true, 0, &out);
	rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 1, 100, &out);	/* no BPF side */
	rw_xcheck_side_state(x, "vm1", RW_XCHECK_BPF, true, 200, &out);	/* came later */
	rw_xcheck_expire(x, 100 + WINDOW, &out);
	assert_int_equal(out.n, 0);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.unverified, 1);
	assert_true(st.peer_up[RW_XCHECK_BPF]);
	/* now both are up: a one-sided change counts */
	rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 2, 20000, &out);
	/* the peer went away before expiry: unverified again */
	rw_xcheck_side_state(x, "vm1", RW_XCHECK_BPF, false, 20001, &out);
	rw_xcheck_expire(x, 20000 + WINDOW, &out);
	assert_int_equal(out.n, 0);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.unverified, 2);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

static void test_overflow_is_reported(void **state)
{
	struct rw_xcheck *x = both_up(4, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a;
	struct rw_xcheck_stats st;
	json_t *j;

	(void)state;
	for (uint32_t i = 0; i < 10; i++) {
		a = change(1000 + i, 1000, 0);
		rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, i + 1, 10, &out);
	}
	assert_int_equal(out.n, 1);	/* one finding per episode */
	assert_int_equal(out.v[0].kind, RW_XF_OVERFLOW);
	assert_int_equal(out.v[0].side, RW_XCHECK_BPF);
	assert_int_equal(out.v[0].cap, 4);
	j = rw_xcheck_finding_json(&out.v[0]);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "overflow");
	json_decref(j);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.dropped, 6);
	assert_int_equal(st.pending, 4);
	/* the pending ones expire during the episode: held back, summarised at its end */
	rw_xcheck_expire(x, 10 + WINDOW, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[1].kind, RW_XF_OVERFLOW_END);
	assert_int_equal(out.v[1].dropped, 6);
	assert_int_equal(out.v[1].held_back, 4);
	j = rw_xcheck_finding_json(&out.v[1]);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "overflow-end");
	json_decref(j);
	/* after the episode, one-sided changes are reported again */
	a = change(5, 1000, 0);
	rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 50, 30000, &out);
	rw_xcheck_expire(x, 30000 + WINDOW, &out);
	assert_int_equal(out.n, 3);
	assert_int_equal(out.v[2].kind, RW_XF_ONE_SIDED);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

/* Nothing a guest sends can pair what is not the same change. */
static void test_hostile_reports(void **state)
{
	struct rw_xcheck *x = both_up(64, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(50, 1000, 0), b;
	struct rw_xcheck_stats st;
	json_t *j;

	(void)state;
	/* same side twice is not a pair */
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 1, 0, &out),
			 RW_XCHECK_PENDING);
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &a, 2, 1, &out),
			 RW_XCHECK_PENDING);
	/* other task, other thread group, other new ids, other VM: no pair */
	b = a;
	b.pid = 51;
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &b, 1, 2, &out),
			 RW_XCHECK_PENDING);
	b = a;
	b.tgid = 49;
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &b, 2, 3, &out),
			 RW_XCHECK_PENDING);
	b = a;
	b.new_ids[RW_CRED_FSGID] = 1;
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &b, 3, 4, &out),
			 RW_XCHECK_PENDING);
	assert_int_equal(rw_xcheck_observe(x, "vm2", RW_XCHECK_BPF, &a, 1, 5, &out),
			 RW_XCHECK_PENDING);
	/* one partner cancels exactly one of the two identical reports */
	assert_int_equal(rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 4, 6, &out),
			 RW_XCHECK_MATCHED);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.pending, 4);
	/* control bytes and a comm without its NUL end up printable and bounded */
	memset(b.comm, 0x07, sizeof(b.comm));
	b.pid = 0xffffffffu;
	b.syscall_nr = -1;
	b.via = 999;
	rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &b, 5, 7, &out);
	rw_xcheck_expire(x, 7 + WINDOW, &out);
	assert_int_equal(out.n, 5);	/* vm2 has no streams up: unverified */
	for (size_t i = 0; i < out.n; i++) {
		j = rw_xcheck_finding_json(&out.v[i]);
		assert_non_null(j);
		for (const char *s = json_string_value(json_object_get(j, "comm")); *s; s++)
			assert_true(*s >= 0x20 && *s < 0x7f);
		assert_true(strlen(json_string_value(json_object_get(j, "comm"))) < 16);
		json_decref(j);
	}
	/* NULL and out-of-range arguments are refused, not followed */
	assert_int_equal(rw_xcheck_observe(NULL, "vm1", RW_XCHECK_KMOD, &a, 1, 0, &out),
			 RW_XCHECK_DROPPED);
	assert_int_equal(rw_xcheck_observe(x, NULL, RW_XCHECK_KMOD, &a, 1, 0, &out),
			 RW_XCHECK_DROPPED);
	assert_int_equal(rw_xcheck_observe(x, "vm1", (enum rw_xcheck_side)7, &a, 1, 0, &out),
			 RW_XCHECK_DROPPED);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

/*
 * Right after a stream (re)connects, a partner may have reached a daemon that
 * forgot it (restart) or still be queued: not blamed on the peer.
 */
static void test_fresh_stream_is_unverified(void **state)
{
	struct rw_xcheck *x = both_up(16, 1000);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(3, 1000, 0);
	struct rw_xcheck_stats st;

	(void)state;
	rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 1, 1000 + WINDOW - 1, &out);
	rw_xcheck_expire(x, 1000 + 3 * WINDOW, &out);
	assert_int_equal(out.n, 0);
	rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 2, 1000 + WINDOW, &out);
	rw_xcheck_expire(x, 1000 + 3 * WINDOW, &out);
	assert_int_equal(out.n, 1);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.unverified, 1);
	assert_int_equal(st.one_sided[RW_XCHECK_BPF], 1);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

/* A side that lost reports cannot blame the other for its lone ones nearby. */
static void test_loss_makes_partner_unverifiable(void **state)
{
	struct rw_xcheck *x = both_up(16, -WINDOW);
	struct rw_xcheck_findings out = { 0 };
	struct rw_msg_cred_change a = change(11, 1000, 0), b = change(12, 1000, 0);
	struct rw_xcheck_stats st;

	(void)state;
	rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 1, 100, &out);	/* partner lost */
	rw_xcheck_side_loss(x, "vm1", RW_XCHECK_KMOD, 3000, &out);	/* LOSS arrives */
	rw_xcheck_observe(x, "vm1", RW_XCHECK_KMOD, &b, 2, 5000, &out);	/* kmod: not affected */
	rw_xcheck_expire(x, 5000 + WINDOW, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].side, RW_XCHECK_KMOD);
	rw_xcheck_stats(x, "vm1", &st);
	assert_int_equal(st.after_loss, 1);
	/* long after the loss, lone BPF reports count again */
	rw_xcheck_observe(x, "vm1", RW_XCHECK_BPF, &a, 3, 3000 + WINDOW + 1, &out);
	rw_xcheck_expire(x, 3000 + 3 * WINDOW, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[1].side, RW_XCHECK_BPF);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

/* More VMs than the table holds: dropped, and said so once. */
static void test_vm_table_bounded(void **state)
{
	struct rw_xcheck_config cfg = { .window_ms = WINDOW, .max_vms = 2, .max_pending = 2 };
	struct rw_xcheck_findings out = { 0 };
	struct rw_xcheck *x = rw_xcheck_new(&cfg);
	struct rw_msg_cred_change a = change(1, 1000, 0);
	char vm[16];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(vm, sizeof(vm), "vm%d", i);
		rw_xcheck_observe(x, vm, RW_XCHECK_KMOD, &a, 1, 0, &out);
	}
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].kind, RW_XF_VMS_FULL);
	assert_string_equal(out.v[0].vm, "vm2");
	assert_int_equal(out.v[0].cap, 2);
	/* idle VMs are released after expiry: room again */
	rw_xcheck_expire(x, WINDOW, &out);
	assert_int_equal(rw_xcheck_observe(x, "vm9", RW_XCHECK_KMOD, &a, 1, WINDOW, &out),
			 RW_XCHECK_PENDING);
	assert_int_equal(out.n, 1);
	rw_xcheck_findings_release(&out);
	rw_xcheck_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_cancel_in_either_order),
		cmocka_unit_test(test_one_sided_kmod),
		cmocka_unit_test(test_one_sided_bpf),
		cmocka_unit_test(test_partner_after_window),
		cmocka_unit_test(test_peer_absent_is_unverified),
		cmocka_unit_test(test_overflow_is_reported),
		cmocka_unit_test(test_hostile_reports),
		cmocka_unit_test(test_fresh_stream_is_unverified),
		cmocka_unit_test(test_loss_makes_partner_unverifiable),
		cmocka_unit_test(test_vm_table_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

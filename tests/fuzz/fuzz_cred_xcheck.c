// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the credential-change cross-check (host/cred_xcheck.c) with hostile
 * report sequences: any ids, tasks, comms, VM names, stream flaps, losses and
 * clock steps.  Small limits so overflow and the VM cap are reached.
 * Properties beyond "no crash / no leak": pending never exceeds its cap,
 * every finding turns into JSON, matched + waiting never exceeds what was
 * reported.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cred_xcheck.h"

#define CAP 8
#define VMS 3

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct cursor *c)
{
	uint8_t b = 0;

	if (c->n) {
		b = *c->p++;
		c->n--;
	}
	return b;
}

static uint32_t take32(struct cursor *c)
{
	uint32_t v = take(c);

	v |= (uint32_t)take(c) << 8;
	v |= (uint32_t)take(c) << 16;
	return v | (uint32_t)take(c) << 24;
}

static void check_findings(struct rw_xcheck_findings *out)
{
	for (size_t i = 0; i < out->n; i++) {
		json_t *j = rw_xcheck_finding_json(&out->v[i]);

		if (!j)
			abort();
		json_decref(j);
	}
	rw_xcheck_findings_release(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rw_xcheck_config cfg = { .window_ms = 100, .max_pending = CAP, .max_vms = VMS };
	struct rw_xcheck *x = rw_xcheck_new(&cfg);
	struct cursor c = { data, size };
	struct rw_xcheck_findings out = { 0 };
	int64_t now = 0;

	if (!x)
		return 0;
	while (c.n) {
		uint8_t op = take(&c);
		char vm[8];
		enum rw_xcheck_side side = (op >> 4) & 1 ? RW_XCHECK_BPF : RW_XCHECK_KMOD;
		struct rw_msg_cred_change ch;
		struct rw_xcheck_stats st;

		snprintf(vm, sizeof(vm), "vm%u", (op >> 5) & 7);
		now += take(&c);
		switch (op & 7) {
		case 0:
		case 1:
			memset(&ch, 0, sizeof(ch));
			ch.pid = take(&c) & 3;
			ch.tgid = take(&c) & 1;
			ch.via = take(&c);
			ch.flags = take(&c);
			ch.syscall_nr = (int32_t)take32(&c);
			for (unsigned i = 0; i < sizeof(ch.comm); i++)
				ch.comm[i] = (char)take(&c);	/* unterminated on purpose */
			for (unsigned i = 0; i < RW_CRED_CHANGE_IDS; i++) {
				ch.old_ids[i] = take(&c) & 1 ? take32(&c) : 1000;
				ch.new_ids[i] = take(&c) & 1;
			}
			rw_xcheck_observe(x, vm, side, &ch, take(&c), now, &out);
			break;
		case 2:
			rw_xcheck_side_state(x, vm, side, true, now, &out);
			break;
		case 3:
			rw_xcheck_side_state(x, vm, side, false, now, &out);
			break;
		case 4:
			rw_xcheck_side_loss(x, vm, side, now, &out);
			break;
		case 5:
			now -= take(&c);	/* a clock that steps back */
			break;
		default:
			rw_xcheck_expire(x, now, &out);
			break;
		}
		rw_xcheck_stats(x, vm, &st);
		if (st.pending > CAP ||
		    st.matched * 2 + st.pending > st.reports[0] + st.reports[1])
			abort();
		check_findings(&out);
	}
	rw_xcheck_expire(x, now + 1000, &out);
	check_findings(&out);
	rw_xcheck_free(x);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Test payload: an fentry program on hrtimer_nanosleep that only counts its
 * calls.  Attaching it makes the kernel patch the function's ftrace site into
 * a CALL to a BPF trampoline (module area): legitimate self-patching the
 * host must accept (and report as a hook), not alarm on.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 hits;

SEC("fentry/hrtimer_nanosleep")
int BPF_PROG(rw_bpfhook_nanosleep)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/*
 * Test payload (guest, static): load rw_bpfhook.bpf.c, attach its fentry
 * program to hrtimer_nanosleep, hold it for HOLD_MS while sleeping in small
 * steps (each sleep goes through the hooked function), detach, and print
 * what happened:
 *
 *   rw_bpfhook: attached fentry/hrtimer_nanosleep prog_id=N link_id=M
 *   rw_bpfhook: detached after HOLD_MS ms, hits=K
 *
 *   rw_bpfhook [HOLD_MS]     (default 1000, at most 600000)
 * Exit 0 only if the program attached and ran at least once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rw_bpfhook.skel.h"

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static unsigned parse_hold(int argc, char **argv)
{
	char *end;
	unsigned long v;

	if (argc < 2)
		return 1000;
	errno = 0;
	v = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || v > 600000) {
		fprintf(stderr, "usage: rw_bpfhook [HOLD_MS <= 600000]\n");
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	unsigned hold = parse_hold(argc, argv);
	struct rw_bpfhook_bpf *skel;
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int err, lfd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(print_libbpf);
	skel = rw_bpfhook_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "rw_bpfhook: load failed: %s\n", strerror(errno));
		return 1;
	}
	err = rw_bpfhook_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "rw_bpfhook: attach failed: %s\n", strerror(-err));
		rw_bpfhook_bpf__destroy(skel);
		return 1;
	}
	memset(&info, 0, sizeof(info));
	lfd = bpf_link__fd(skel->links.rw_bpfhook_nanosleep);
	if (bpf_obj_get_info_by_fd(lfd, &info, &len)) {
		fprintf(stderr, "rw_bpfhook: link info: %s\n", strerror(errno));
		rw_bpfhook_bpf__destroy(skel);
		return 1;
	}
	printf("rw_bpfhook: attached fentry/hrtimer_nanosleep prog_id=%u link_id=%u\n",
	       info.prog_id, info.id);
	for (unsigned t = 0; t < hold; t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL);
	}
	rw_bpfhook_bpf__detach(skel);
	printf("rw_bpfhook: detached after %u ms, hits=%llu\n", hold,
	       (unsigned long long)skel->bss->hits);
	err = skel->bss->hits ? 0 : 1;
	rw_bpfhook_bpf__destroy(skel);
	return err;
}

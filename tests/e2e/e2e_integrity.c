// SPDX-License-Identifier: GPL-2.0
/*
 * Integrity engine against a real guest (KASLR off, slide 0): each tampering
 * action of the rwtest_tamper module is found by a pass with the right check
 * named, and undoing it clears the finding; then legitimate self-patching
 * (tracepoints, function tracer, module load/unload, kprobes, a BPF fentry
 * program attached and detached by the rw_bpfhook payload) repeated several
 * times raises no violation; the BPF attach is seen as an accepted hook.
 *
 * Not covered here: MSR tampering (needs the guest module's reports through
 * the daemon: e2e_daemon_integrity), module hiding and module text changes
 * (e2e_daemon_modules).
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

#include "host/integrity.h"
#include "tests/lib/harness.h"
#include "vmi/kcat.h"
#include "vmi/mem.h"
#include "vmi/mtree.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

#define MAX_FINDINGS 4096
#define NCPUS 2

static struct rw_test_env env;

struct sink {
	struct rw_finding f[MAX_FINDINGS];
	size_t n;
};

static void collect(void *ctx, const struct rw_finding *f)
{
	struct sink *s = ctx;

	if (s->n < MAX_FINDINGS)
		s->f[s->n++] = *f;
}

struct guest {
	struct rw_vm vm;
	struct rw_qmp *qmp;
	struct vmi_mem *mem;
	struct vmi_x86 x;
	struct vmi_kcat *cat;
	struct vmi_vcpu vcpus[NCPUS];
	struct rw_kview kv;
	struct rw_integrity_cache *cache;
	struct rw_integrity *integ;
};

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	return 0;
}

static void read_vcpus(struct guest *g)
{
	char err[256];
	size_t n;
	char *text = rw_qmp_hmp(g->qmp, "info registers -a", 10000, err, sizeof(err));

	if (!text)
		fail_msg("info registers: %s", err);
	if (vmi_regs_hmp_parse(text, strlen(text), g->vcpus, NCPUS, &n, err, sizeof(err)))
		fail_msg("registers: %s", err);
	assert_int_equal(n, NCPUS);
	free(text);
}

static uint64_t sym(struct guest *g, const char *name)
{
	uint64_t a;

	if (vmi_kcat_symbol(g->cat, name, &a))
		fail_msg("symbol %s not in the catalog", name);
	return a;
}

/* Kernel page tables: CPU0's CR3; with PTI a vCPU caught in user mode holds
 * the user half (PGD + 4 KiB), so fall back to the kernel PGD. */
static void setup_walker(struct guest *g)
{
	uint64_t cr3 = g->vcpus[0].cr3.v, stext = sym(g, "_stext"), banner = sym(g, "linux_banner");
	char buf[64];
	const char *want = vmi_kcat_banner(g->cat);

	for (int attempt = 0; attempt < 2; attempt++) {
		uint64_t c = attempt ? (cr3 & ~0x1fffull) : cr3;

		assert_int_equal(vmi_x86_init(&g->x, g->mem, c, g->vcpus[0].cr4.v,
					      g->vcpus[0].efer.v),
				 0);
		if (!vmi_x86_read(&g->x, stext, buf, 16) &&
		    !vmi_x86_read(&g->x, banner, buf, sizeof(buf)) &&
		    !strncmp(buf, want, sizeof(buf) - 1 < strlen(want) ? sizeof(buf) - 1
									: strlen(want)))
			return;
	}
	fail_msg("kernel text not readable through CPU0's CR3 0x%llx", (unsigned long long)cr3);
}

static void attach(struct guest *g)
{
	char err[512], *mtree;
	struct vmi_mtree_range ranges[16];
	struct vmi_ram_region regions[16];
	struct sink *s = calloc(1, sizeof(*s));
	size_t n;

	assert_non_null(s);
	if (rw_qmp_connect(g->vm.qmp_path, 5000, &g->qmp, err, sizeof(err)))
		fail_msg("QMP: %s", err);
	mtree = rw_qmp_hmp(g->qmp, "info mtree -f", 10000, err, sizeof(err));
	if (!mtree)
		fail_msg("info mtree: %s", err);
	if (vmi_mtree_parse_ram(mtree, strlen(mtree), NULL, ranges, 16, &n, err, sizeof(err)))
		fail_msg("mtree: %s", err);
	free(mtree);
	vmi_mtree_to_ram_regions(ranges, n, g->vm.ram_fd, regions);
	if (vmi_mem_open_ram(regions, n, &g->mem, err, sizeof(err)))
		fail_msg("RAM: %s", err);
	if (vmi_kcat_open(env.vmlinux, &g->cat, err, sizeof(err)))
		fail_msg("catalog %s: %s", env.vmlinux, err);
	read_vcpus(g);
	setup_walker(g);
	g->kv = (struct rw_kview){ .cat = g->cat, .x = &g->x, .slide = 0, .vcpus = g->vcpus,
				   .nvcpus = NCPUS };
	g->cache = rw_integrity_cache_new();
	assert_non_null(g->cache);
	if (rw_integrity_baseline(g->cache, &g->kv, collect, s, &g->integ, err, sizeof(err)))
		fail_msg("baseline: %s", err);
	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].sev >= RW_FINDING_VIOLATION)
			fail_msg("baseline finding: %s %s at 0x%llx %s", rw_integ_check_name(s->f[i].check),
				 s->f[i].detail, (unsigned long long)s->f[i].addr, s->f[i].where);
	free(s);
}

static void print_finding(const struct rw_finding *f)
{
	printf("   [%s/%s] cpu %d 0x%llx %s: %s", rw_integ_check_name(f->check),
	       rw_integ_sev_name(f->sev), f->vcpu, (unsigned long long)f->addr, f->where,
	       f->detail);
	if (f->nbytes) {
		printf(" [");
		for (size_t i = 0; i < f->nbytes; i++)
			printf("%02x", f->old_bytes[i]);
		printf(" -> ");
		for (size_t i = 0; i < f->nbytes; i++)
			printf("%02x", f->new_bytes[i]);
		printf("]");
	}
	printf("\n");
}

/* One pass with fresh vCPU state. */
static struct sink *pass(struct guest *g, struct rw_pass_stats *st)
{
	struct sink *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	read_vcpus(g);
	setup_walker(g); /* the CR3 seen at attach may belong to a process gone since */
	assert_int_equal(rw_integrity_pass(g->integ, &g->kv, collect, s, st), 0);
	return s;
}

static size_t count(const struct sink *s, enum rw_integ_check c, enum rw_integ_sev sev)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->f[i].check == c && s->f[i].sev == sev;
	return n;
}

static size_t violations(const struct sink *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].sev >= RW_FINDING_VIOLATION) {
			print_finding(&s->f[i]);
			n++;
		}
	return n;
}

static void expect_clean(struct guest *g, const char *when)
{
	struct rw_pass_stats st;
	struct sink *s = pass(g, &st);
	size_t v = violations(s);

	if (v)
		fail_msg("%zu violation(s) %s", v, when);
	free(s);
}

static char *guest(struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *guest(struct guest *g, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return rw_test_guest_sh(&g->vm, cmd, 240);
}

static void run(struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run(struct guest *g, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	free(rw_test_guest_sh(&g->vm, cmd, 240));
}

/* insmod with an action, one pass that must name @check, rmmod, clean pass. */
static void tamper(struct guest *g, const char *args, enum rw_integ_check check,
		   uint64_t want_addr, const char *want_text)
{
	struct rw_pass_stats st;
	struct sink *s;
	int found = 0;

	run(g, "insmod /root/rwtest_tamper.ko %s", args);
	usleep(200000);
	s = pass(g, &st);
	for (size_t i = 0; i < s->n; i++) {
		const struct rw_finding *f = &s->f[i];

		print_finding(f);
		if (f->sev == RW_FINDING_VIOLATION && f->check == check &&
		    (!want_addr || f->addr == want_addr) &&
		    (!want_text || strstr(f->detail, want_text) || strstr(f->where, want_text)))
			found = 1;
		else if (f->sev == RW_FINDING_VIOLATION)
			fail_msg("unexpected violation from '%s' in check %s", args,
				 rw_integ_check_name(f->check));
	}
	if (!found)
		fail_msg("'%s' not detected by check %s", args, rw_integ_check_name(check));
	free(s);
	run(g, "rmmod rwtest_tamper");
	expect_clean(g, "after undoing the tampering");
}

static void boot(struct guest *g)
{
	char overlay[128], ko[700], bpf[700], cmd[1800];
	struct rw_test_boot opts = { .name = "integrity", .cpus = NCPUS, .no_kaslr = true };

	snprintf(ko, sizeof(ko), "%s/kmod/rwtest_tamper.ko", env.payloads);
	if (access(ko, R_OK))
		fail_msg("test module missing: %s (run make payloads)", ko);
	snprintf(bpf, sizeof(bpf), "%s/bin/rw_bpfhook", env.payloads);
	if (access(bpf, X_OK))
		fail_msg("BPF payload missing: %s (run scripts/build-payloads)", bpf);
	rw_test_mkdtemp(overlay, sizeof(overlay), "integ");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/root' && cp '%s' '%s' '%s/root/'", overlay, ko,
		 bpf, overlay);
	assert_int_equal(system(cmd), 0);
	opts.overlay_dir = overlay;
	rw_test_boot(&env, &opts, &g->vm, NULL, 0);
	rw_test_rmtree(overlay);
}

/* A ktext hook finding at @sym+0x0 (an accepted patch that redirects code). */
static const struct rw_finding *hook_at(const struct sink *s, const char *sym)
{
	size_t n = strlen(sym);

	for (size_t i = 0; i < s->n; i++)
		if (s->f[i].check == RW_CHECK_KTEXT && s->f[i].sev == RW_FINDING_HOOK &&
		    !strncmp(s->f[i].where, sym, n) && !strcmp(s->f[i].where + n, "+0x0"))
			return &s->f[i];
	return NULL;
}

/*
 * A BPF fentry program attached (the ftrace site of hrtimer_nanosleep now
 * CALLs a BPF trampoline), held, detached: the pass while attached accepts
 * the site as a hook, no violation at any time, and the payload's own output
 * proves it attached and ran.
 */
static void bpf_attach_detach(struct guest *g)
{
	struct rw_pass_stats st;
	const struct rw_finding *h;
	struct sink *s;
	char *out;

	run(g, "(/root/rw_bpfhook 4000 >/tmp/bpfhook.out 2>&1; echo rc=$? >>/tmp/bpfhook.out) "
	       "</dev/null >/dev/null 2>&1 & "
	       "for i in $(seq 100); do grep -q attached /tmp/bpfhook.out 2>/dev/null && break; "
	       "sleep 0.1; done");
	s = pass(g, &st);
	if (violations(s))
		fail_msg("violation with a BPF fentry program attached");
	h = hook_at(s, "hrtimer_nanosleep");
	if (!h) {
		out = guest(g, "cat /tmp/bpfhook.out");
		fail_msg("BPF program attached but no accepted hook at hrtimer_nanosleep "
			 "(payload said: %s)", out);
	}
	if (h)
		print_finding(h);
	free(s);
	out = guest(g, "for i in $(seq 200); do grep -q rc= /tmp/bpfhook.out && break; sleep 0.1; "
		       "done; cat /tmp/bpfhook.out");
	printf("   %s", out);
	if (!strstr(out, "rw_bpfhook: attached fentry/hrtimer_nanosleep prog_id=") ||
	    !strstr(out, "rw_bpfhook: detached after") || !strstr(out, "rc=0"))
		fail_msg("rw_bpfhook did not attach, run and detach:\n%s", out);
	free(out);
	expect_clean(g, "after detaching the BPF program");
}

static void test_tamper_detected_and_legit_patching_quiet(void **state)
{
	struct guest *g = calloc(1, sizeof(*g));
	const char *tr = "/sys/kernel/tracing";
	char args[256];
	uint64_t victim, sct, getppid;

	(void)state;
	assert_non_null(g);
	boot(g);
	attach(g);
	expect_clean(g, "on a fresh guest");

	/* 1. one byte inside a kernel function */
	victim = sym(g, "orderly_poweroff") + 0x10;
	snprintf(args, sizeof(args), "action=text addr=0x%llx", (unsigned long long)victim);
	tamper(g, args, RW_CHECK_KTEXT, victim, "orderly_poweroff+0x10");
	/* 2. an IDT gate (vector 1 gets vector 0's gate) */
	tamper(g, "action=idt value=1", RW_CHECK_IDT, 0, "vector 1 ");
	/* 3. a sys_call_table slot: getpid -> __x64_sys_getppid */
	sct = sym(g, "sys_call_table");
	getppid = sym(g, "__x64_sys_getppid");
	snprintf(args, sizeof(args), "action=syscall addr=0x%llx value=0x%llx",
		 (unsigned long long)(sct + 8 * 39), (unsigned long long)getppid);
	tamper(g, args, RW_CHECK_SYSCALL, getppid, "syscall 39 (getpid)");
	/* 4. CR0.WP and CR4.SMEP cleared (held cleared by a kthread on CPU 0) */
	tamper(g, "action=cr0wp", RW_CHECK_CR, 0, "CR0.WP cleared");
	if (!(g->vcpus[0].cr4.v & (1ull << 20)))
		fail_msg("guest CPU has no SMEP: cannot test CR4.SMEP");
	tamper(g, "action=smep", RW_CHECK_CR, 0, "CR4.SMEP cleared");

	/* Legitimate self-patching, several rounds: no violation. */
	for (int round = 0; round < 3; round++) {
		struct rw_pass_stats st;
		struct sink *s;
		char *out;

		printf("   legit round %d\n", round);
		/* static keys via tracepoints */
		run(g, "echo 1 > %s/events/sched/enable && echo 1 > %s/events/irq/enable", tr, tr);
		expect_clean(g, "with tracepoints enabled");
		run(g, "echo 0 > %s/events/sched/enable && echo 0 > %s/events/irq/enable", tr, tr);
		expect_clean(g, "with tracepoints disabled");
		/*
		 * function tracer: ftrace sites patched to CALL the trampoline.
		 * Filtered to a few hundred functions: tracing every function
		 * livelocks a 2-vCPU TCG guest under QEMU 7.2 on a loaded host.
		 */
		run(g, "echo 'vfs_* do_sys_* ksys_* __x64_sys_*' > %s/set_ftrace_filter && "
		       "echo function > %s/current_tracer && sleep 0.3", tr, tr);
		s = pass(g, &st);
		if (violations(s))
			fail_msg("violation with the function tracer on");
		printf("   function tracer on: %zu pages changed, %zu sites accepted, %zu hooks\n",
		       st.pages_changed, st.sites_accepted, st.hooks);
		if (round == 0 && (st.sites_accepted < 100 || !count(s, RW_CHECK_KTEXT, RW_FINDING_HOOK)))
			fail_msg("function tracer on but only %zu sites seen", st.sites_accepted);
		free(s);
		run(g, "echo nop > %s/current_tracer && echo > %s/set_ftrace_filter", tr, tr);
		expect_clean(g, "after the function tracer");
		/* module load/unload */
		run(g, "insmod /root/rwtest_tamper.ko action=none");
		expect_clean(g, "with an ordinary module loaded");
		run(g, "rmmod rwtest_tamper");
		expect_clean(g, "after unloading an ordinary module");
		/* kprobes: on a function entry (ftrace-based) and inside a function (int3,
		 * then optimized to a jmp) */
		run(g, "echo 'p:rwprobe_a do_sys_openat2' > %s/kprobe_events && "
		       "echo 'p:rwprobe_b do_sys_openat2+5' >> %s/kprobe_events && "
		       "echo 1 > %s/events/kprobes/enable && cat /proc/version >/dev/null && sleep 0.3",
		    tr, tr, tr);
		s = pass(g, &st);
		if (violations(s))
			fail_msg("violation with kprobes registered");
		free(s);
		out = guest(g, "cat %s/kprobe_events", tr);
		assert_non_null(strstr(out, "rwprobe_b"));
		free(out);
		run(g, "echo 0 > %s/events/kprobes/enable && echo > %s/kprobe_events", tr, tr);
		expect_clean(g, "after removing the kprobes");
		/* a BPF program attached and detached */
		bpf_attach_detach(g);
	}
	printf("   overlay pages now: %zu, private bytes %zu\n",
	       rw_integrity_overlay_pages(g->integ), rw_integrity_private_bytes(g->integ));

	rw_integrity_free(g->integ);
	rw_integrity_cache_free(g->cache);
	vmi_kcat_close(g->cat);
	vmi_mem_close(g->mem);
	rw_qmp_close(g->qmp);
	rw_vm_stop(&g->vm);
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tamper_detected_and_legit_patching_quiet),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

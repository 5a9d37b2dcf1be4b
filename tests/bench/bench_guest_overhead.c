// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-side overhead of ringwatch.ko and of the BPF LSM programs, measured
 * in ONE boot of the kit guest with the static payload rw_microbench
 * (exec, fork+exit+wait, open/close, setresuid toggle, tmpfs mount/umount).
 *
 *  1. calibrate: a short run sizes each operation's iteration count so one
 *     measurement of it takes about OP_TARGET_S seconds (bounded);
 *  2. ROUNDS rounds of baseline (module not loaded) and module loaded
 *     (armed=1 with a disarm token, default scan interval, chan_port=0: the
 *     guest has no vsock device), order alternating (A/B, B/A) so slow drift
 *     of the emulated CPU cancels; after each module run the token disarms
 *     it and it is unloaded again;
 *  3. two more baseline runs, then ringwatch-agent starts (policy with
 *     10 000 exec-deny SHA-256 entries: 9 999 random + the hash of a copy of
 *     rw_hello, whose exec must then fail: proof the programs enforce), and
 *     ROUNDS runs with the programs attached.  Attached programs are pinned
 *     and guarded (they cannot be detached in the same boot), so the BPF
 *     phase comes last and is compared with every baseline run of the boot.
 *
 * Per operation: the median ns/op of each configuration; the module's ratio
 * is the median of the per-round ratios (each module run against the
 * baseline run of its own round), the BPF ratio median/median; the best-of
 * ratio (fastest/fastest) is printed beside it, since host load only ever
 * slows a run down.  Targets of the issues (module: < 3% on exec and fork,
 * < 5% on open; BPF: < 3% on exec) are checked on the median ratio.  The
 * baseline's own spread (slowest/fastest of its runs) is the noise floor.
 * The whole run is bounded (DEADLINE_S, each guest command timed out).
 * Under TCG the guest runs with -icount shift=0 (guest time = emulated
 * instructions, so host load does not move the numbers; RW_BENCH_NO_ICOUNT=1
 * for wall-clock TCG); the output says which clock was used.  Under TCG
 * the numbers are those of an emulated CPU and the output says so.
 * Exits 1 on any error (guest, payload, module or agent misbehaving); a
 * missed target is reported, not an error (see docs/guest-kmod.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "host/launcher.h"

#define ROUNDS 8
#define BPF_EXTRA_BASELINES 3
#define MAX_RUNS (ROUNDS + BPF_EXTRA_BASELINES)
#define OP_TARGET_S 0.25	/* max guest seconds per measurement of one operation */
#define OP_REAL_S 0.4		/* max host seconds per measurement of one operation */
#define DEADLINE_S 480		/* whole benchmark, boot included */
#define EXEC_DENY_ENTRIES 10000
#define TOKEN "rw-bench-disarm-5d1e07"
#define RUN_TIMEOUT_S 60	/* one microbench run (5 ops x ~0.5 s, TCG slack) */

enum op_id { OP_EXEC, OP_FORK, OP_OPEN, OP_SETUID, OP_MOUNT, OP_COUNT };

static const struct {
	const char *name;
	long calib_iters;	/* calibration iterations */
	long min_iters, max_iters;
	double kmod_target;	/* max overhead as a fraction, 0 = no target */
	double bpf_target;
} op_info[OP_COUNT] = {
	[OP_EXEC] = { "exec", 10, 10, 2000, 0.03, 0.03 },
	[OP_FORK] = { "fork", 10, 10, 4000, 0.03, 0 },
	[OP_OPEN] = { "open", 500, 200, 500000, 0.05, 0 },
	[OP_SETUID] = { "setuid", 500, 200, 500000, 0, 0 },
	[OP_MOUNT] = { "mount", 10, 10, 20000, 0, 0 },
};

enum config_id { CFG_BASE, CFG_KMOD, CFG_BPF, CFG_COUNT };
static const char *const config_name[CFG_COUNT] = { "baseline", "ringwatch.ko", "BPF LSM" };

struct samples {
	double ns[MAX_RUNS][OP_COUNT];
	int n;
};

static struct rw_vm vm;
static bool vm_started;
static double t_start;
static char overlay[256];

static void remove_tree(const char *dir);

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_guest_overhead: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (vm_started) {
		char *tail = rw_vm_serial_tail(&vm, 3000);

		if (tail)
			fprintf(stderr, "guest console (tail):\n%s\n", tail);
		free(tail);
		rw_vm_stop(&vm);
	}
	if (overlay[0])
		remove_tree(overlay);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- overlay ---------------------------------------------------------- */

static void make_parents(const char *path)
{
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			die("mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
}

static FILE *create_in_overlay(const char *rel, int mode)
{
	char path[1024];
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", overlay, rel);
	make_parents(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, (mode_t)mode))
		die("create %s: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	if (!f)
		die("fdopen %s: %s", path, strerror(errno));
	return f;
}

static void close_checked(FILE *f, const char *rel)
{
	if (ferror(f) | fclose(f))
		die("write %s in the overlay failed", rel);
}

static void write_overlay_file(const char *rel, const char *content, int mode)
{
	FILE *f = create_in_overlay(rel, mode);

	fputs(content, f);
	close_checked(f, rel);
}

/* Copy @src into the overlay as @rel; fills @sha256 (32 bytes) if non-NULL. */
static void copy_into_overlay(const char *src, const char *what, const char *rel, int mode,
			      unsigned char *sha256)
{
	unsigned char buf[65536];
	unsigned int mdlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FILE *in = fopen(src, "rb"), *out;
	size_t n;

	if (!in)
		die("%s missing: %s: %s (scripts/build-payloads, scripts/build-guest-bpf)", what,
		    src, strerror(errno));
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		die("SHA-256 context");
	out = create_in_overlay(rel, mode);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, n, out) != n || !EVP_DigestUpdate(md, buf, n))
			die("copy %s", src);
	}
	if (ferror(in))
		die("read %s", src);
	fclose(in);
	close_checked(out, rel);
	if (sha256 && (!EVP_DigestFinal_ex(md, sha256, &mdlen) || mdlen != 32))
		die("SHA-256 of %s", src);
	EVP_MD_CTX_free(md);
}

static void hex32(const unsigned char *b, char *out)
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Policy: EXEC_DENY_ENTRIES exec-deny lines, one of them @denied. */
static void write_policy(const unsigned char *denied)
{
	FILE *f = create_in_overlay("etc/ringwatch/policy", 0644);
	unsigned char h[32];
	char hex[65];

	fprintf(f, "# bench_guest_overhead: %d exec-deny entries\n", EXEC_DENY_ENTRIES);
	for (int i = 0; i < EXEC_DENY_ENTRIES - 1; i++) {
		if (getrandom(h, sizeof(h), 0) != (ssize_t)sizeof(h))
			die("getrandom: %s", strerror(errno));
		hex32(h, hex);
		fprintf(f, "exec-deny %s\n", hex);
		if (i == EXEC_DENY_ENTRIES / 2) {
			hex32(denied, hex);
			fprintf(f, "exec-deny %s\n", hex);
		}
	}
	close_checked(f, "etc/ringwatch/policy");
}

static void build_overlay(const char *top, const char *payloads)
{
	char src[1024];
	unsigned char denied[32];
	char *dir;

	snprintf(overlay, sizeof(overlay), "/tmp/rw-bench-overhead-XXXXXX");
	dir = mkdtemp(overlay);
	if (!dir) {
		overlay[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	snprintf(src, sizeof(src), "%s/bin/rw_microbench", payloads);
	copy_into_overlay(src, "payload rw_microbench", "usr/bin/rw_microbench", 0755, NULL);
	snprintf(src, sizeof(src), "%s/bin/rw_hello", payloads);
	copy_into_overlay(src, "payload rw_hello", "usr/bin/rw_denied", 0755, denied);
	snprintf(src, sizeof(src), "%s/kmod/ringwatch.ko", payloads);
	copy_into_overlay(src, "ringwatch.ko", "lib/modules/bench/ringwatch.ko", 0644, NULL);
	snprintf(src, sizeof(src), "%s/bin/ringwatch-agent", payloads);
	copy_into_overlay(src, "ringwatch-agent", "usr/sbin/ringwatch-agent", 0755, NULL);
	/* Not in rc.d: the agent starts only for the BPF phase. */
	snprintf(src, sizeof(src), "%s/guest/bpf/rc.d/50-ringwatch-agent", top);
	copy_into_overlay(src, "the agent's rc.d script", "usr/share/rw-bench/start-agent", 0755,
			  NULL);
	write_overlay_file("etc/ringwatch/agent.args", "--no-channel --no-console\n", 0644);
	write_policy(denied);
}

static void remove_tree(const char *dir)
{
	char cmd[600];

	/* Our own mkdtemp directory under /tmp, nothing else. */
	if (strncmp(dir, "/tmp/rw-bench-overhead-", 23) || strchr(dir, '\''))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_guest_overhead: could not remove %s\n", dir);
}

/* ---- guest ------------------------------------------------------------ */

/* Run @cmd in the guest; it must exit 0.  Returns its output (free it). */
static char *guest(int timeout_s, const char *cmd)
{
	char err[512], *out = NULL;
	int status = -1;

	if (rw_vm_exec(&vm, cmd, timeout_s * 1000, &out, &status, err, sizeof(err)))
		die("guest command '%s': %s", cmd, err);
	if (status != 0) {
		fprintf(stderr, "output:\n%s\n", out ? out : "");
		free(out);
		die("guest command '%s' exited with %d", cmd, status);
	}
	return out ? out : strdup("");
}

static void guest_ok(int timeout_s, const char *cmd)
{
	free(guest(timeout_s, cmd));
}

/* Parse "op=NAME iters=N ns_per_op=X" lines; every op must be present. */
static void parse_run(const char *out, double ns[OP_COUNT])
{
	for (int o = 0; o < OP_COUNT; o++) {
		char key[32];
		const char *p;
		long iters;
		double v;

		snprintf(key, sizeof(key), "op=%s ", op_info[o].name);
		p = strstr(out, key);
		if (!p || sscanf(p + strlen(key), "iters=%ld ns_per_op=%lf", &iters, &v) != 2 ||
		    !(v > 0) || v > 1e12)
			die("rw_microbench output lacks %s:\n%s", op_info[o].name, out);
		ns[o] = v;
	}
}

static void run_microbench(const long iters[OP_COUNT], double ns[OP_COUNT])
{
	char cmd[512], *out;
	int len = snprintf(cmd, sizeof(cmd), "/usr/bin/rw_microbench ");

	for (int o = 0; o < OP_COUNT; o++)
		len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, "%s%s:%ld", o ? "," : "",
				op_info[o].name, iters[o]);
	snprintf(cmd + len, sizeof(cmd) - (size_t)len, " 1");
	if (now_s() - t_start > DEADLINE_S)
		die("time budget of %d s exceeded (host overloaded?)", DEADLINE_S);
	out = guest(RUN_TIMEOUT_S, cmd);
	parse_run(out, ns);
	free(out);
}

static void record(struct samples *s, const double ns[OP_COUNT])
{
	if (s->n >= MAX_RUNS)
		die("internal: too many runs");
	memcpy(s->ns[s->n++], ns, sizeof(double) * OP_COUNT);
}

static void kmod_load(void)
{
	guest_ok(30, "insmod /lib/modules/bench/ringwatch.ko armed=1 disarm_token=" TOKEN
		     " chan_port=0 && grep -q '^ringwatch ' /proc/modules && "
		     "test -e /sys/kernel/security/ringwatch/disarm");
}

static void kmod_unload(void)
{
	guest_ok(30, "echo " TOKEN " > /sys/kernel/security/ringwatch/disarm && "
		     "rmmod ringwatch && ! grep -q '^ringwatch ' /proc/modules");
}

static void agent_start(void)
{
	char *out;

	char needle[64];
	const char *p;

	/* Control: without the programs the listed binary runs. */
	guest_ok(30, "/usr/bin/rw_denied >/dev/null");
	guest_ok(60, "/usr/share/rw-bench/start-agent >/dev/null 2>&1 </dev/null");
	/* The policy file is applied before "ready"; the health line counts it. */
	out = guest(30, "grep -o '\"exec_deny\":[0-9]*' /run/ringwatch/agent-events.log | tail -n 1; "
			"echo policy_errors=$(grep -c '\"policy-error\"' "
			"/run/ringwatch/agent-events.log)");
	snprintf(needle, sizeof(needle), "\"exec_deny\":%d\n", EXEC_DENY_ENTRIES);
	p = strstr(out, needle);
	if (!p || !strstr(out, "policy_errors=0\n"))
		die("agent did not apply the %d exec-deny entries cleanly:\n%s", EXEC_DENY_ENTRIES,
		    out);
	free(out);
	out = guest(30, "if /usr/bin/rw_denied >/dev/null; then echo ran; else echo refused; fi");
	if (!strstr(out, "refused"))
		die("exec of a denied binary was not refused (programs not enforcing?):\n%s", out);
	free(out);
}

/* ---- statistics ------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double median(const struct samples *s, int op)
{
	double v[MAX_RUNS];

	for (int i = 0; i < s->n; i++)
		v[i] = s->ns[i][op];
	return median_of(v, s->n);
}

static double best(const struct samples *s, int op)
{
	double lo = s->ns[0][op];

	for (int i = 1; i < s->n; i++)
		lo = s->ns[i][op] < lo ? s->ns[i][op] : lo;
	return lo;
}

static double spread(const struct samples *s, int op)
{
	double hi = s->ns[0][op];

	for (int i = 1; i < s->n; i++)
		hi = s->ns[i][op] > hi ? s->ns[i][op] : hi;
	return hi / best(s, op) - 1;
}

/* Median over rounds of module/baseline of the same round (paired: drift cancels). */
static double paired_ratio(const struct samples *base, const struct samples *kmod, int op)
{
	double v[MAX_RUNS];

	for (int i = 0; i < kmod->n; i++)
		v[i] = kmod->ns[i][op] / base->ns[i][op];
	return median_of(v, kmod->n);
}

static void print_ns(double ns)
{
	if (ns >= 1e6)
		printf("%8.2f ms", ns / 1e6);
	else if (ns >= 1e3)
		printf("%8.2f us", ns / 1e3);
	else
		printf("%8.0f ns", ns);
}

struct ratios {
	double median, best;
};

static void print_results(const struct samples s[CFG_COUNT])
{
	struct ratios r[OP_COUNT][CFG_COUNT];

	printf("%-7s %11s %11s %7s %7s %11s %7s %7s %6s\n", "op", "baseline", "ringwatch.ko",
	       "ratio", "(best)", "BPF LSM", "ratio", "(best)", "noise");
	for (int o = 0; o < OP_COUNT; o++) {
		r[o][CFG_KMOD] = (struct ratios){ paired_ratio(&s[CFG_BASE], &s[CFG_KMOD], o),
						  best(&s[CFG_KMOD], o) / best(&s[CFG_BASE], o) };
		r[o][CFG_BPF] = (struct ratios){ median(&s[CFG_BPF], o) / median(&s[CFG_BASE], o),
						 best(&s[CFG_BPF], o) / best(&s[CFG_BASE], o) };
		printf("%-7s ", op_info[o].name);
		print_ns(median(&s[CFG_BASE], o));
		printf(" ");
		print_ns(median(&s[CFG_KMOD], o));
		printf(" %7.3f %7.3f ", r[o][CFG_KMOD].median, r[o][CFG_KMOD].best);
		print_ns(median(&s[CFG_BPF], o));
		printf(" %7.3f %7.3f %5.0f%%\n", r[o][CFG_BPF].median, r[o][CFG_BPF].best,
		       spread(&s[CFG_BASE], o) * 100);
	}
	printf("targets (overhead = median ratio - 1; best-of ratio in brackets):\n");
	for (int o = 0; o < OP_COUNT; o++) {
		for (int c = CFG_KMOD; c <= CFG_BPF; c++) {
			double t = c == CFG_KMOD ? op_info[o].kmod_target : op_info[o].bpf_target;
			double ov = r[o][c].median - 1;

			if (t <= 0)
				continue;
			printf("  %-12s %-6s overhead %+6.1f%% (best-of %+6.1f%%), target < %.0f%%: %s\n",
			       config_name[c], op_info[o].name, ov * 100, (r[o][c].best - 1) * 100,
			       t * 100, ov < t ? "met" : "MISSED");
		}
	}
}

/* ---- main ------------------------------------------------------------- */

/*
 * Size each operation's iteration count from a short run: about OP_TARGET_S
 * of guest time, and at most about OP_REAL_S of host time (under -icount the
 * guest clock runs at its own pace: the host/guest time factor of the
 * calibration run, command overhead included, keeps the real time bounded).
 */
static void calibrate(long iters[OP_COUNT])
{
	long calib[OP_COUNT];
	double ns[OP_COUNT], guest_s = 0, host_s, factor, per_op_s;

	for (int o = 0; o < OP_COUNT; o++)
		calib[o] = op_info[o].calib_iters;
	host_s = now_s();
	run_microbench(calib, ns);
	host_s = now_s() - host_s;
	for (int o = 0; o < OP_COUNT; o++)
		guest_s += ns[o] * 1e-9 * (double)calib[o] * (o == OP_SETUID ? 2 : 1) * 1.1;
	factor = host_s / guest_s;	/* host seconds per guest second */
	per_op_s = OP_REAL_S / factor < OP_TARGET_S ? OP_REAL_S / factor : OP_TARGET_S;
	for (int o = 0; o < OP_COUNT; o++) {
		double n = per_op_s * 1e9 / (ns[o] * (o == OP_SETUID ? 2 : 1));

		iters[o] = n < (double)op_info[o].min_iters ? op_info[o].min_iters
			 : n > (double)op_info[o].max_iters ? op_info[o].max_iters
							     : (long)n;
	}
}

int main(void)
{
	const char *top = getenv("RW_TOP"), *kit_env = getenv("RW_KIT"),
		   *payloads_env = getenv("RW_PAYLOADS");
	char kit[600], payloads[600], kernel[700], initrd[700], err[8192], ready[512];
	struct samples s[CFG_COUNT] = { 0 };
	long iters[OP_COUNT];
	double ns[OP_COUNT], t_boot;
	struct rw_vm_config cfg;
	struct rw_accel_probe probe;
	/* TCG: the guest clock counts emulated instructions (1 ns each), so host
	 * load does not move the numbers. */
	static const char *const icount_args[] = { "-icount", "shift=0,sleep=on", NULL };
	const char *no_icount;
	bool use_icount;
	int accel;
	char *out;

	t_start = now_s();
	if (!top || !*top)
		top = ".";
	if (kit_env && *kit_env)
		snprintf(kit, sizeof(kit), "%s", kit_env);
	else
		snprintf(kit, sizeof(kit), "%s/build/kit/cloud-amd64", top);
	if (payloads_env && *payloads_env)
		snprintf(payloads, sizeof(payloads), "%s", payloads_env);
	else
		snprintf(payloads, sizeof(payloads), "%s/build/payloads", top);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", kit);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", kit);
	if (access(kernel, R_OK) || access(initrd, R_OK))
		die("guest kit missing (set RW_KIT; make kit): %s", kit);
	build_overlay(top, payloads);

	rw_vm_config_init(&cfg);
	accel = rw_accel_choose(RW_ACCEL_AUTO, &probe, err, sizeof(err));
	if (accel < 0)
		die("accelerator: %s", err);
	cfg.accel = (enum rw_accel)accel;
	no_icount = getenv("RW_BENCH_NO_ICOUNT");
	use_icount = cfg.accel == RW_ACCEL_TCG && !(no_icount && *no_icount && strcmp(no_icount, "0"));
	if (use_icount)
		cfg.extra_args = icount_args;
	cfg.name = "ringwatch-bench-overhead";
	cfg.kernel = kernel;
	cfg.initrd = initrd;
	cfg.overlay_dir = overlay;
	cfg.cpus = 1;
	cfg.memory_mib = 512;
	atexit(rw_vm_kill_all);
	if (rw_vm_start(&cfg, &vm, err, sizeof(err)))
		die("starting guest: %s", err);
	vm_started = true;
	remove_tree(overlay);	/* already packed into the guest's initramfs */
	overlay[0] = '\0';
	if (rw_vm_wait_ready(&vm, 180000, ready, sizeof(ready), err, sizeof(err)))
		die("guest not ready: %s", err);
	if (!strstr(ready, "failed_rc=0") || !strstr(ready, "bpf"))
		die("guest not ready for the benchmark (rc.d failure or no BPF LSM): %s", ready);
	t_boot = now_s();
	guest_ok(10, "dmesg -n 1");	/* no console printing inside the timings */

	calibrate(iters);
	printf("guest: 1 vCPU, accel %s (%s); iterations per run:", rw_accel_name(vm.accel),
	       probe.reason);
	for (int o = 0; o < OP_COUNT; o++)
		printf(" %s=%ld", op_info[o].name, iters[o]);
	printf("\n");
	if (use_icount)
		printf("NOTE: TCG with -icount shift=0: guest time = emulated instructions (1 ns\n"
		       "      each), independent of host load; ratios are instruction-count ratios of\n"
		       "      an emulated CPU (no cache/TLB/branch costs), not hardware timings.\n"
		       "      RW_BENCH_NO_ICOUNT=1 measures TCG wall-clock time instead.\n");
	else if (vm.accel != RW_ACCEL_KVM)
		printf("NOTE: TCG (emulated CPU), wall-clock guest time: times are those of QEMU's\n"
		       "      emulated CPU and move with host load; ratios only indicate.\n");
	fflush(stdout);

	for (int r = 0; r < ROUNDS; r++) {
		for (int half = 0; half < 2; half++) {
			bool with_kmod = (half == 0) == (r % 2 == 1);	/* A/B, then B/A */

			if (with_kmod)
				kmod_load();
			run_microbench(iters, ns);
			/* Run r of each config is round r: paired_ratio() relies on it. */
			record(&s[with_kmod ? CFG_KMOD : CFG_BASE], ns);
			if (with_kmod)
				kmod_unload();
		}
	}
	for (int r = 0; r < BPF_EXTRA_BASELINES; r++) {
		run_microbench(iters, ns);
		record(&s[CFG_BASE], ns);
	}
	agent_start();
	for (int r = 0; r < ROUNDS; r++) {
		run_microbench(iters, ns);
		record(&s[CFG_BPF], ns);
	}
	out = guest(30, "wc -l < /run/ringwatch/agent-events.log");
	printf("agent event log after the BPF runs: %ld lines (setuid changes are reported "
	       "events: the agent, on the same vCPU, handles each)\n", strtol(out, NULL, 10));
	free(out);

	printf("medians of %d runs (baseline: %d runs, module not loaded, agent not started); "
	       "module ratio = median of per-round ratios (A/B paired), BPF ratio = median/median; "
	       "(best) = fastest/fastest; noise = slowest/fastest baseline run - 1\n",
	       ROUNDS, s[CFG_BASE].n);
	print_results(s);
	printf("BPF LSM: exec-deny list of %d SHA-256 entries (exec of a listed binary refused); "
	       "programs stay attached once loaded, so the BPF runs come after every baseline run\n",
	       EXEC_DENY_ENTRIES);
	printf("ringwatch.ko: armed=1, scan_interval_ms=1000, chan_port=0 (no vsock device); "
	       "loaded before and disarmed+unloaded after each of its runs\n");
	printf("boot %.0f s, measurements %.0f s\n", t_boot - t_start, now_s() - t_boot);
	rw_vm_stop(&vm);
	vm_started = false;
	return 0;
}

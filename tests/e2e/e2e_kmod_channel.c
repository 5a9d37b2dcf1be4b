// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch.ko talks to the host itself, over its in-kernel vsock client,
 * through transport B (a real guest):
 *
 *   guest kernel: ringwatch.ko --AF_VSOCK--> virtio-vsock
 *   ringwatch-vsockd (the VM's vhost-user-vsock back-end)
 *        |  unix relay: the stream + the guest RAM fds
 *   channel service child (file event store; the test's "host")
 *
 * Asserted on what the HOST stored, not on the guest's own copy:
 *  - CPU_STATE for every vCPU (2), LSTAR = the kernel's entry_SYSCALL_64;
 *  - the uid-overwrite attack (rwtest_cred): the victim is killed and the
 *    host holds the CRED_VIOLATION with its pid, uid/euid/fsuid/gid
 *    1000 -> 0;
 *  - a CHALLENGE over linux_banner (64 bytes): the CHALLENGE_RESPONSE's
 *    HMAC equals what the service computed from its OWN read of guest
 *    memory (vsockd's RAM regions, VA translated by attaching to the
 *    kernel);
 *  - the service is SIGKILLed and restarted twice while heartbeats flow:
 *    the stored stream is seq 1..N, each exactly once, no LOSS, and the
 *    module reconnected;
 *  - disarm + rmmod: the module goes (its thread with it).
 *
 * Needs: the kit ($RW_KIT), qemu-system-x86_64, build/rel/bin/ringwatch-vsockd,
 * the payloads (scripts/build-payloads: ringwatch.ko, rwtest_cred.ko,
 * cred_victim).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shared/rw_proto.h"
#include "tests/lib/chan_rig.h"
#include "tests/lib/chan_service.h"
#include "tests/lib/harness.h"
#include "vmi/kcat.h"

#define GUEST_CID 3u
#define NCPUS 2u
#define TOKEN "rw-test-disarm-7f3a9c"
#define VICTIM_UID 1000u

static struct rw_test_env env;

static int setup(void **state)
{
	(void)state;
	rw_test_install_cleanup();
	rw_test_env_load(&env);
	rw_test_build_payloads(&env);
	return 0;
}

/* qmp: the VM's QMP socket once it runs (challenge support), else NULL. */
static pid_t start_service(struct rw_test_chan_rig *r, const char *qmp)
{
	const struct rw_test_chan_service o = { .qmp_path = qmp, .vmlinux = env.vmlinux };

	return rw_test_chan_rig_start_service(r, &o);
}

static void copy_into(const char *overlay, const char *rel, const char *src, int mode)
{
	char cmd[2600];

	rw_test_write_file(overlay, rel, "", mode);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/%s'", src, overlay, rel);
	if (access(src, R_OK) != 0 || system(cmd) != 0)
		fail_msg("payload %s missing (scripts/build-payloads)", src);
}

static void make_overlay(const char *overlay)
{
	char src[1100];

	snprintf(src, sizeof(src), "%s/bin/cred_victim", env.payloads);
	copy_into(overlay, "bin/cred_victim", src, 0755);
	snprintf(src, sizeof(src), "%s/kmod/ringwatch.ko", env.payloads);
	copy_into(overlay, "lib/modules/ringwatch.ko", src, 0644);
	snprintf(src, sizeof(src), "%s/kmod/rwtest_cred.ko", env.payloads);
	copy_into(overlay, "lib/modules/rwtest_cred.ko", src, 0644);
	rw_test_write_file(overlay, "etc/ringwatch/rc.d/50-kmod-test",
			   "#!/bin/sh\n"
			   "mkdir -p /root && chmod 0700 /root\n"
			   "echo topsecret > /root/secret && chmod 0600 /root/secret\n",
			   0755);
}

static long guest_status(struct rw_vm *vm, const char *key)
{
	char *out = rw_test_guest_shf(vm, 30,
				      "grep '^%s=' /sys/kernel/security/ringwatch/status", key);
	char *eq = strchr(out, '=');
	long v;

	if (!eq)
		fail_msg("no %s in the module status: %s", key, out);
	v = strtol(eq + 1, NULL, 10);
	free(out);
	return v;
}

static uint64_t ksym(struct rw_vm *vm, const char *name)
{
	char *out = rw_test_guest_shf(vm, 30, "grep ' %s$' /proc/kallsyms | head -1", name);
	uint64_t a = strtoull(out, NULL, 16);

	if (!a)
		fail_msg("guest /proc/kallsyms has no address for %s: '%s'", name, out);
	free(out);
	return a;
}

/* What the host stored, summarised. */
struct host_view {
	long records;
	uint64_t max_seq;
	unsigned heartbeats, losses;
	unsigned cpu_seen;	/* bit per cpu_id */
	uint64_t lstar[NCPUS], idtr[NCPUS], cr0[NCPUS];
	int want_pid;		/* CRED_VIOLATION of this pid */
	bool cred_found;
	struct rw_msg_cred_violation cred;
	unsigned chal_responses;
};

/* One stored frame of the module's stream into the view. */
static void tally_frame(void *ctx, const struct rw_msg *m)
{
	struct host_view *v = ctx;

	v->records++;
	switch (m->hdr.type) {
	case RW_MSG_HEARTBEAT:
		v->heartbeats++;
		break;
	case RW_MSG_LOSS:
		v->losses++;
		break;
	case RW_MSG_CPU_STATE:
		if (m->u.cpu.cpu_id < NCPUS) {
			v->cpu_seen |= 1u << m->u.cpu.cpu_id;
			v->lstar[m->u.cpu.cpu_id] = m->u.cpu.lstar;
			v->idtr[m->u.cpu.cpu_id] = m->u.cpu.idtr_base;
			v->cr0[m->u.cpu.cpu_id] = m->u.cpu.cr0;
		}
		break;
	case RW_MSG_CRED_VIOLATION:
		if ((int)m->u.cred.pid == v->want_pid) {
			v->cred_found = true;
			v->cred = m->u.cred;
		}
		break;
	case RW_MSG_CHALLENGE_RESPONSE:
		v->chal_responses++;
		break;
	default:
		break;
	}
}

static void host_view(const struct rw_test_chan_rig *r, int want_pid, struct host_view *v)
{
	memset(v, 0, sizeof(*v));
	v->want_pid = want_pid;
	v->max_seq = rw_test_chan_rig_scan(r, RW_COMP_KMOD, tally_frame, v, NULL);
}

/* Wait until the host view satisfies @done (or fail after timeout_s). */
static void wait_host(const struct rw_test_chan_rig *r, int want_pid, struct host_view *v,
		      int timeout_s, bool (*done)(const struct host_view *), const char *what)
{
	uint64_t end = rw_test_mono_ms() + (uint64_t)timeout_s * 1000u;

	for (;;) {
		host_view(r, want_pid, v);
		if (done(v))
			return;
		if (rw_test_mono_ms() > end)
			fail_msg("host never got %s (%ld records; service log %s)", what,
				 v->records, r->svc_log);
		usleep(100000);
	}
}

static bool have_cpus(const struct host_view *v)
{
	return v->cpu_seen == (1u << NCPUS) - 1;
}

static bool have_cred(const struct host_view *v)
{
	return v->cred_found;
}

static uint64_t kill_base;
static bool heartbeats_moved(const struct host_view *v)
{
	return v->heartbeats >= kill_base + 10;
}

/* SIGKILL the service while heartbeats flow; restart it; wait for more. */
static void kill_restart(struct rw_test_chan_rig *r, struct rw_vm *vm, unsigned n)
{
	struct host_view v;

	host_view(r, 0, &v);
	printf("  %ld records stored: SIGKILL the channel service (pid %d), kill %u\n",
	       v.records, (int)r->svc, n);
	rw_test_kill_wait(r->svc, SIGKILL);
	usleep(1500000);	/* the module queues meanwhile */
	r->svc = start_service(r, vm->qmp_path);
	kill_base = v.heartbeats;
	wait_host(r, 0, &v, 60, heartbeats_moved, "heartbeats after the restart");
	printf("  restarted (pid %d): %ld records\n", (int)r->svc, v.records);
}

static void expect_cred_field(const struct rw_msg_cred_violation *c, unsigned bit,
			      const char *name)
{
	if (!(c->field_mask & (1u << bit)))
		fail_msg("CRED_VIOLATION field_mask 0x%x lacks %s", c->field_mask, name);
	if (c->old_val[bit] != VICTIM_UID || c->new_val[bit] != 0)
		fail_msg("%s: %llu -> %llu, expected %u -> 0", name,
			 (unsigned long long)c->old_val[bit], (unsigned long long)c->new_val[bit],
			 VICTIM_UID);
}

static int run_uid_attack(struct rw_vm *vm)
{
	char *out, *p;
	int pid;

	out = rw_test_guest_shf(vm, 120,
		"rm -f /tmp/ready /tmp/go /tmp/victim.out\n"
		"/bin/cred_victim /tmp/ready /tmp/go /root/secret >/tmp/victim.out 2>&1 &\n"
		"v=$!\n"
		"i=0; while [ ! -s /tmp/ready ] && [ $i -lt 1000 ]; do sleep 0.05; i=$((i+1)); done\n"
		"grep -q 'Uid:.*1000' /proc/$v/status || echo victim-not-user\n"
		"insmod /lib/modules/rwtest_cred.ko pid=$v mode=uid || echo insmod-failed\n"
		"touch /tmp/go\n"
		"wait $v; echo \"victim_pid=$v status=$?\"\n"
		"cat /tmp/victim.out\n"
		"rmmod rwtest_cred\n");
	assert_null(strstr(out, "insmod-failed"));
	assert_null(strstr(out, "victim-not-user"));
	if (!strstr(out, " status=137") || strstr(out, "victim: opened"))
		fail_msg("victim not killed before the open:\n%s", out);
	p = strstr(out, "victim_pid=");
	assert_non_null(p);
	pid = atoi(p + strlen("victim_pid="));
	assert_true(pid > 1);
	free(out);
	return pid;
}

/* The host challenges linux_banner and checks the answer with its own read. */
static void challenge_banner(struct rw_test_chan_rig *r, struct rw_vm *vm)
{
	static const char nonce[] = "00112233445566778899aabbccddeeff";
	char req[600], result[600], text[600];
	uint64_t banner = ksym(vm, "linux_banner");
	char *res = NULL;

	snprintf(req, sizeof(req), "%s/challenge.req", r->state);
	snprintf(result, sizeof(result), "%s/challenge.result", r->state);
	snprintf(text, sizeof(text), "%llx 64 %s\n", (unsigned long long)banner, nonce);
	unlink(result);
	rw_test_write_file(r->state, "challenge.req.tmp", text, 0644);
	snprintf(text, sizeof(text), "%s/challenge.req.tmp", r->state);
	assert_int_equal(rename(text, req), 0);
	for (int i = 0; i < 300 && !res; i++) {
		usleep(100000);
		res = rw_test_slurp(result);
	}
	if (!res)
		fail_msg("no challenge result from the host (service log %s)", r->svc_log);
	printf("  challenge linux_banner 0x%llx+64: %s", (unsigned long long)banner, res);
	if (strstr(res, "error="))
		fail_msg("the host could not compute its own answer: %s", res);
	assert_non_null(strstr(res, " status=0 "));
	assert_non_null(strstr(res, " match=1 "));
	free(res);
}

static void test_kmod_channel(void **state)
{
	struct rw_test_chan_rig r = { 0 };
	struct rw_test_boot opts = { .name = "kmod-chan", .cpus = NCPUS };
	struct host_view v;
	struct rw_vm vm;
	char ready[512];
	uint64_t lstar;
	long acked;
	char *out;
	int pid;

	(void)state;
	rw_test_chan_rig_init(&r, "kchan");
	make_overlay(r.overlay);

	r.svc = start_service(&r, NULL);
	r.vsockd = rw_test_chan_rig_start_vsockd(&r, &env, "e2e-kmod", GUEST_CID);
	rw_test_chan_rig_boot_opts(&r, GUEST_CID, &opts);
	rw_test_boot(&env, &opts, &vm, ready, sizeof(ready));
	printf("  guest up: %s\n", ready);
	free(rw_test_guest_shf(&vm, 30, "echo 0 > /proc/sys/kernel/kptr_restrict"));
	lstar = ksym(&vm, "entry_SYSCALL_64");

	free(rw_test_guest_shf(&vm, 60,
			       "insmod /lib/modules/ringwatch.ko armed=1 disarm_token=" TOKEN
			       " scan_interval_ms=100 cpu_interval_ms=2000 && dmesg -n 5"));

	/* Per-CPU state of every vCPU, as the host stored it. */
	wait_host(&r, 0, &v, 60, have_cpus, "CPU_STATE for every vCPU");
	for (unsigned cpu = 0; cpu < NCPUS; cpu++) {
		if (v.lstar[cpu] != lstar)
			fail_msg("cpu %u LSTAR 0x%llx != entry_SYSCALL_64 0x%llx", cpu,
				 (unsigned long long)v.lstar[cpu], (unsigned long long)lstar);
		assert_true(v.cr0[cpu] & 0x80000001ull); /* PG, PE */
		assert_int_equal(v.idtr[cpu], v.idtr[0]);
	}
	printf("  host has CPU_STATE for %u vCPUs (LSTAR 0x%llx)\n", NCPUS,
	       (unsigned long long)lstar);

	/* Kill 1: before the attack; the restarted service can challenge. */
	kill_restart(&r, &vm, 1);

	pid = run_uid_attack(&vm);
	wait_host(&r, pid, &v, 30, have_cred, "the CRED_VIOLATION of the victim");
	assert_int_equal(v.cred.pid, pid);
	assert_int_equal(v.cred.tgid, pid);
	assert_string_equal(v.cred.comm, "cred_victim");
	expect_cred_field(&v.cred, RW_CRED_UID, "uid");
	expect_cred_field(&v.cred, RW_CRED_EUID, "euid");
	expect_cred_field(&v.cred, RW_CRED_FSUID, "fsuid");
	expect_cred_field(&v.cred, RW_CRED_GID, "gid");
	assert_false(v.cred.field_mask & (1u << RW_CRED_CRED_PTR));
	printf("  host has CRED_VIOLATION pid %d mask 0x%x\n", pid, v.cred.field_mask);

	challenge_banner(&r, &vm);

	/* Kill 2: mid-stream again, then the stream must be whole. */
	kill_restart(&r, &vm, 2);
	/* the module's view first: the store only grows meanwhile */
	acked = guest_status(&vm, "chan_acked_seq");
	host_view(&r, pid, &v);
	assert_true(v.cred_found);
	assert_true(v.chal_responses >= 1);
	assert_int_equal(v.losses, 0);
	assert_int_equal(guest_status(&vm, "chan_lost"), 0);
	assert_true(guest_status(&vm, "chan_connects") >= 3);
	assert_int_equal(guest_status(&vm, "chan_proto_errors"), 0);
	/* every number the host acknowledged is stored, 1..max each once */
	assert_true(acked > 0);
	assert_true((uint64_t)acked <= v.max_seq);
	printf("  store: seq 1..%llu each exactly once (%u heartbeats), module acked %ld\n",
	       (unsigned long long)v.max_seq, v.heartbeats, acked);
	out = rw_test_guest_shf(&vm, 30,
		"grep '^chan_' /sys/kernel/security/ringwatch/status | tr '\\n' ' '");
	printf("  module: %s\n", out);
	{
		/* the HELLO's build id is the running kernel's (the kit's) */
		struct vmi_kcat *kc;
		char err[512], want[128];

		if (vmi_kcat_open(env.vmlinux, &kc, err, sizeof(err)))
			fail_msg("kit catalog %s: %s", env.vmlinux, err);
		snprintf(want, sizeof(want), "chan_build_id=%s ", vmi_kcat_build_id_hex(kc));
		vmi_kcat_close(kc);
		if (!strstr(out, want))
			fail_msg("module status lacks '%s': %s", want, out);
	}
	free(out);

	/* Unload (disarmed): the thread and its socket go with the module. */
	out = rw_test_guest_shf(&vm, 60,
		"echo " TOKEN " > /sys/kernel/security/ringwatch/disarm && rmmod ringwatch && "
		"echo unloaded; ps | grep -c '[r]ingwatch-chan' || true");
	assert_non_null(strstr(out, "unloaded\n0"));
	free(out);

	rw_vm_stop(&vm);
	rw_test_chan_rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kmod_channel),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

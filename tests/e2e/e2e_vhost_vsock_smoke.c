/* Real-QEMU smoke test of transport B: QEMU 7.2 vhost-user-vsock-pci talks to
 * our vhost-user back-end; a Debian guest (kit kernel + initramfs, plus an
 * overlay cpio with a static AF_VSOCK client) connects to CID 2 port 1234,
 * sends a line, and the host echoes it back.
 *
 * Needs: $RW_KIT/vmlinuz, $RW_KIT/initramfs.cpio.gz, qemu-system-x86_64, a C
 * compiler able to link -static (for the guest client), $RW_TOP for its source. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/vhu_server.h"

#define PORT 1234
#define MSG "ping-from-guest"
#define TIMEOUT_S 120

struct echo {
	char got[256];
	size_t n;
	int connects, closes;
};

static int on_connect(void *o, struct vsock_conn *c)
{
	struct echo *e = o;
	(void)c;
	e->connects++;
	return 0;
}

static void on_data(void *o, struct vsock_conn *c, const uint8_t *d, size_t n)
{
	struct echo *e = o;
	if (!n)
		return;
	if (e->n + n < sizeof(e->got)) {
		memcpy(e->got + e->n, d, n);
		e->n += n;
	}
	vsock_send(c, d, n);
}

static void on_close(void *o, struct vsock_conn *c, const char *why)
{
	struct echo *e = o;
	(void)c;
	e->closes++;
	printf("  connection closed: %s\n", why);
}

static int smoke_fail(const char *fmt, const char *arg)
{
	printf("FAIL: ");
	printf(fmt, arg);
	printf("\n");
	return 1;
}

/* newc cpio writer for the overlay */
static void cpio_entry(FILE *f, const char *name, unsigned mode, const void *data, size_t len)
{
	static unsigned ino = 1000;
	size_t nlen = strlen(name) + 1;
	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino++, mode, 0, 0,
		1, 0, (unsigned)len, 0, 0, 0, 0, (unsigned)nlen, 0);
	fwrite(name, 1, nlen, f);
	for (size_t p = (110 + nlen) % 4; p && p < 4; p++)
		fputc(0, f);
	if (len) {
		fwrite(data, 1, len, f);
		for (size_t p = len % 4; p && p < 4; p++)
			fputc(0, f);
	}
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *b = malloc(n > 0 ? (size_t)n : 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static int build_initrd(const char *top, const char *kit, const char *dir, char *initrd, size_t sz)
{
	char cmd[4096], client[1024], base[1024];
	snprintf(client, sizeof(client), "%s/vsock-echo-client", dir);
	snprintf(cmd, sizeof(cmd), "cc -static -O2 -o %s %s/tests/e2e/guest/vsock_echo_client.c", client, top);
	if (system(cmd) != 0)
		return smoke_fail("cannot build the static guest client (%s)", cmd);
	size_t clen;
	void *cbin = slurp(client, &clen);
	if (!cbin)
		return smoke_fail("cannot read %s", client);
	snprintf(base, sizeof(base), "%s/initramfs.cpio.gz", kit);
	snprintf(initrd, sz, "%s/initrd", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", base, initrd);
	if (system(cmd) != 0)
		return smoke_fail("cannot copy %s", base);
	FILE *f = fopen(initrd, "ab");
	if (!f)
		return smoke_fail("cannot append to %s", initrd);
	/* The kernel unpacks concatenated archives in order: this overlay adds
	 * the client and an rc.d script run by the kit's init. */
	/* An uncompressed archive must start 4-byte aligned; the kernel skips zeros. */
	for (long pos = ftell(f); pos % 4; pos++)
		fputc(0, f);
	static const char rc[] = "#!/bin/sh\n/bin/vsock-echo-client 1234 " MSG "\n";
	cpio_entry(f, "bin", 040755, NULL, 0);
	cpio_entry(f, "bin/vsock-echo-client", 0100755, cbin, clen);
	cpio_entry(f, "etc", 040755, NULL, 0);
	cpio_entry(f, "etc/ringwatch", 040755, NULL, 0);
	cpio_entry(f, "etc/ringwatch/rc.d", 040755, NULL, 0);
	cpio_entry(f, "etc/ringwatch/rc.d/90-vsock-smoke", 0100755, rc, sizeof(rc) - 1);
	cpio_entry(f, "TRAILER!!!", 0, NULL, 0);
	fclose(f);
	free(cbin);
	return 0;
}

static int console_has(const char *path, const char *needle)
{
	size_t n;
	char *b = slurp(path, &n);
	if (!b)
		return 0;
	int found = memmem(b, n, needle, strlen(needle)) != NULL;
	free(b);
	return found;
}

static int run_smoke(void)
{
	const char *top = getenv("RW_TOP");
	const char *kit_env = getenv("RW_KIT");
	char kit[512], vmlinuz[1024], initramfs[1024], dir[] = "/tmp/rw-e2e-vhost-XXXXXX";
	char sock[1024], initrd[1024], console[1024];

	if (!top)
		return smoke_fail("%s is not set (checkout root, for the guest client source)", "RW_TOP");
	snprintf(kit, sizeof(kit), "%s", kit_env ? kit_env : "");
	if (!kit_env)
		snprintf(kit, sizeof(kit), "%s/build/kit/cloud-amd64", top);
	snprintf(vmlinuz, sizeof(vmlinuz), "%s/vmlinuz", kit);
	snprintf(initramfs, sizeof(initramfs), "%s/initramfs.cpio.gz", kit);
	if (access(vmlinuz, R_OK) != 0)
		return smoke_fail("guest kernel missing: %s (make kit)", vmlinuz);
	if (access(initramfs, R_OK) != 0)
		return smoke_fail("guest initramfs missing: %s (make kit)", initramfs);
	if (system("command -v qemu-system-x86_64 >/dev/null") != 0)
		return smoke_fail("%s not found", "qemu-system-x86_64");
	if (!mkdtemp(dir))
		return smoke_fail("mkdtemp: %s", strerror(errno));
	if (build_initrd(top, kit, dir, initrd, sizeof(initrd)))
		return 1;
	snprintf(sock, sizeof(sock), "%s/vhost-vsock.sock", dir);
	snprintf(console, sizeof(console), "%s/console.log", dir);

	struct echo e = { 0 };
	struct vhu_server_config cfg = { .socket_path = sock, .vsock = { .guest_cid = 3 },
					 .log = { .max_level = VHU_LOG_INFO } };
	struct vhu_server *srv = vhu_server_new(&cfg);
	if (!srv)
		return smoke_fail("cannot start the vhost-user server on %s", sock);
	static const struct vsock_listener_ops ops = { on_connect, on_data, on_close, NULL };
	vsock_listen(vhu_server_vsock(srv), PORT, &ops, &e);

	char chardev[1100], serial[1100];
	snprintf(chardev, sizeof(chardev), "socket,id=rwchr,path=%s", sock);
	snprintf(serial, sizeof(serial), "file:%s", console);
	pid_t qemu = fork();
	if (qemu == 0) {
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max",
		       "-m", "512M", "-smp", "1", "-display", "none", "-no-reboot",
		       "-serial", serial, "-kernel", vmlinuz, "-initrd", initrd,
		       "-append", "console=ttyS0 panic=-1 quiet",
		       "-chardev", chardev, "-device", "vhost-user-vsock-pci,chardev=rwchr",
		       "-object", "memory-backend-memfd,id=mem,size=512M,share=on",
		       "-machine", "memory-backend=mem", (char *)NULL);
		_exit(127);
	}
	printf("QEMU pid %d, socket %s, console %s\n", (int)qemu, sock, console);

	time_t end = time(NULL) + TIMEOUT_S;
	int ok = 0, qemu_exited = 0, status = 0;
	while (time(NULL) < end) {
		vhu_server_run_once(srv, 100);
		if (console_has(console, "VSOCK-SMOKE")) {
			/* give the guest's close a moment to reach us */
			for (int i = 0; i < 20; i++)
				vhu_server_run_once(srv, 50);
			ok = console_has(console, "VSOCK-SMOKE OK");
			break;
		}
		if (waitpid(qemu, &status, WNOHANG) == qemu) {
			qemu_exited = 1;
			break;
		}
	}
	if (!qemu_exited) {
		/* QEMU stops the device on SIGTERM and waits for our replies: keep serving. */
		kill(qemu, SIGTERM);
		for (int i = 0; i < 100 && waitpid(qemu, &status, WNOHANG) != qemu; i++)
			vhu_server_run_once(srv, 100);
		if (kill(qemu, 0) == 0) {
			kill(qemu, SIGKILL);
			waitpid(qemu, &status, 0);
		}
	}
	struct vsock_stats st;
	vsock_dev_stats(vhu_server_vsock(srv), &st);
	printf("host saw %d connect(s), %d close(s), %zu bytes: '%.*s'; packets from guest %llu, to guest %llu\n",
	       e.connects, e.closes, e.n, (int)e.n, e.got, (unsigned long long)st.tx_pkts,
	       (unsigned long long)st.rx_pkts);
	int pass = ok && e.connects == 1 && e.n == strlen(MSG) && memcmp(e.got, MSG, e.n) == 0;
	vhu_server_free(srv);
	if (!pass) {
		printf("FAIL: %s (console: %s)\n",
		       qemu_exited ? "QEMU exited early" : "no echo from the guest", console);
		return 1;
	}
	printf("PASS: guest AF_VSOCK connection to CID 2 port %d echoed through the vhost-user back-end\n", PORT);
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", dir);
	return 0;
}

static void test_vhost_vsock_echo(void **state)
{
	(void)state;
	assert_int_equal(run_smoke(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vhost_vsock_echo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

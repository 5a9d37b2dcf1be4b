// SPDX-License-Identifier: GPL-2.0
/*
 * Victim for the credential tampering tests (runs in the guest, static).
 *   cred_victim READY GO TARGET
 * Becomes uid/gid 1000, writes its pid to READY, waits (up to 120 s) for
 * GO to exist, then tries to open TARGET (a root-only file) and says what
 * happened: "victim: opened" (exit 0) or "victim: open failed" (exit 1).
 * Killed by ringwatch it says nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RW_VICTIM_UID 1000

int main(int argc, char **argv)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct stat st;
	char buf[64];
	int fd, i;

	if (argc != 4) {
		dprintf(2, "usage: cred_victim READY GO TARGET\n");
		return 2;
	}
	if (setgroups(0, NULL) || setresgid(RW_VICTIM_UID, RW_VICTIM_UID, RW_VICTIM_UID) ||
	    setresuid(RW_VICTIM_UID, RW_VICTIM_UID, RW_VICTIM_UID)) {
		dprintf(1, "victim: cannot drop privileges: %s\n", strerror(errno));
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		dprintf(1, "victim: cannot write %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	dprintf(fd, "%d\n", (int)getpid());
	close(fd);
	for (i = 0; i < 12000 && stat(argv[2], &st); i++)
		nanosleep(&tick, NULL);
	if (i == 12000) {
		dprintf(1, "victim: timed out waiting for %s\n", argv[2]);
		return 2;
	}
	fd = open(argv[3], O_RDONLY);
	if (fd < 0) {
		dprintf(1, "victim: open failed: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 0, sizeof(buf));
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	dprintf(1, "victim: opened %s uid=%d euid=%d content=%s\n", argv[3], (int)getuid(),
		(int)geteuid(), buf);
	close(fd);
	return 0;
}

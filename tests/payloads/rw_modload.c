// SPDX-License-Identifier: GPL-2.0
/*
 * Guest payload: load a kernel module through exactly one syscall.
 *   rw_modload finit FILE     finit_module(open(FILE))
 *   rw_modload init FILE      init_module(contents of FILE)
 * Prints "ok" or "error <errno-name> <errno>" and exits 0 / 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long rc)
{
	if (rc == 0) {
		printf("ok\n");
		return 0;
	}
	printf("error %s %d\n", errno == EPERM ? "EPERM" : strerror(errno), errno);
	return 1;
}

int main(int argc, char **argv)
{
	struct stat st;
	void *image;
	int fd;

	if (argc != 3 || (strcmp(argv[1], "finit") && strcmp(argv[1], "init"))) {
		fprintf(stderr, "usage: rw_modload finit|init FILE\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[2]);
		return 2;
	}
	if (!strcmp(argv[1], "finit"))
		return report(syscall(SYS_finit_module, fd, "", 0));
	image = malloc((size_t)st.st_size);
	if (!image || read(fd, image, (size_t)st.st_size) != st.st_size) {
		perror("read");
		return 2;
	}
	return report(syscall(SYS_init_module, image, (unsigned long)st.st_size, ""));
}

// SPDX-License-Identifier: GPL-2.0
/* Guest payload: unlink our own executable (what droppers do), then exit. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 2;
	}
	self[n] = '\0';
	if (unlink(self)) {
		perror(self);
		return 1;
	}
	printf("rw_selfdel removed %s\n", self);
	return 0;
}

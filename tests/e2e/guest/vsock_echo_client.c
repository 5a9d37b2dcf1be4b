/* Guest side of e2e_vhost_vsock_smoke: static program run from the guest's
 * init. Connects to the host (CID 2) on the given port, sends a line, reads
 * the echo back and prints one result line on the console. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(int argc, char **argv)
{
	unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1234;
	const char *msg = argc > 2 ? argv[2] : "ping-from-guest";
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = port };
	char buf[256];
	size_t want = strlen(msg), got = 0;

	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("VSOCK-SMOKE FAIL connect");
		return 1;
	}
	if (write(fd, msg, want) != (ssize_t)want) {
		perror("VSOCK-SMOKE FAIL write");
		return 1;
	}
	while (got < want && got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0) {
			perror("VSOCK-SMOKE FAIL read");
			return 1;
		}
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	printf("VSOCK-SMOKE %s echo=%s\n", strcmp(buf, msg) == 0 ? "OK" : "MISMATCH", buf);
	return 0;
}

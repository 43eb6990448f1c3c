/*
 * policy_client.c — a client binary other than the test program, so that
 * test_policy_root can show an exe rule telling two programs of one uid apart.
 *
 *   policy_client SOCKET REQUEST...
 *
 * Sends each REQUEST as one line on one connection, half-closes, and copies
 * every reply line to stdout. Exit 0 when the daemon closed after answering,
 * 1 on a connection error or after 10 s of silence.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define POLICY_CLIENT_TIMEOUT_MS 10000

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[65536];

	if (argc < 3) {
		fprintf(stderr, "usage: policy_client SOCKET REQUEST...\n");
		return 2;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "policy_client: %s: socket path too long\n", argv[1]);
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "policy_client: connect %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (send_all(fd, argv[i], strlen(argv[i])) < 0 || send_all(fd, "\n", 1) < 0) {
			fprintf(stderr, "policy_client: send: %s\n", strerror(errno));
			return 1;
		}
	}
	/* The daemon answers everything already sent, then closes (udsrpc(7)). */
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, POLICY_CLIENT_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "policy_client: no reply within %d ms\n",
			        POLICY_CLIENT_TIMEOUT_MS);
			return 1;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "policy_client: recv: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	}
	close(fd);
	return fflush(stdout) == 0 ? 0 : 1;
}

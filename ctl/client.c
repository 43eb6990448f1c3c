/* client.c — connect to udsrpcd, send request lines, read reply lines: every wait bounded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "sockpath.h"

static const char *client_hint(int e)
{
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		return "; is udsrpcd running? (or pass -s PATH / set UDSRPC_SOCKET)";
	case EACCES:
		return "; no permission on the socket: check its mode and group (socket_mode, socket_group)";
	case EAGAIN:
	case ETIMEDOUT:
		return "; the daemon is not accepting connections (overloaded?)";
	}
	return "";
}

int client_connect(const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char def[sizeof(sa.sun_path)];
	int fd, e;

	if (!path) {
		if (sockpath_default(def, sizeof(def)) < 0) {
			snprintf(err, errlen, "default socket path is too long; pass -s PATH");
			return -ENAMETOOLONG;
		}
		path = def;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	/*
	 * A Unix socket connects at once or not at all, except when the
	 * listener's backlog is full: then EAGAIN, and nothing will say when
	 * there is room (poll reports an unconnected socket writable at once).
	 * So try again, a millisecond apart, until the timeout.
	 */
	for (int waited = 0;; waited++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			e = 0;
			break;
		}
		e = errno;
		if (e != EAGAIN && e != EINTR)
			break;
		if (timeout_ms >= 0 && waited >= timeout_ms) {
			e = ETIMEDOUT;
			break;
		}
		poll(NULL, 0, 1);
	}
	if (e) {
		close(fd);
		snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(e),
			 client_hint(e));
		return -e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* What is left of timeout_ms since start; -1 stays "no bound". */
static int client_left(int timeout_ms, long long start)
{
	long long left;

	if (timeout_ms < 0)
		return -1;
	left = start + timeout_ms - (long long)clock_now_ms();
	return left > 0 ? (int)left : 0;
}

/* One wait for events on fd: 1 ready, -ETIMEDOUT, -EINTR or -errno. */
static int client_wait(int fd, short events, int timeout_ms, const sigset_t *sigmask)
{
	struct pollfd p = {.fd = fd, .events = events};
	struct timespec ts, *tsp = NULL;
	int r;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	r = ppoll(&p, 1, tsp, sigmask);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 1;
}

int client_send(int fd, const char *buf, size_t len, int timeout_ms)
{
	long long start = (long long)clock_now_ms();
	size_t off = 0;

	while (off < len) {
		/* MSG_DONTWAIT: a daemon that stopped reading (backpressure)
		 * must not hold us past the timeout inside send(). */
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = client_wait(fd, POLLOUT, client_left(timeout_ms, start), NULL);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return 0;
}

void client_lines_init(struct client_lines *l)
{
	memset(l, 0, sizeof(*l));
}

void client_lines_free(struct client_lines *l)
{
	free(l->buf);
	client_lines_init(l);
}

/* A complete line at the start of the buffer: hand it out. */
static int client_take(struct client_lines *l, size_t end, size_t skip, char **ret_line,
		       size_t *ret_len)
{
	l->buf[end] = '\0'; /* the "\n", or the spare byte kept past len */
	l->used = end + skip;
	*ret_line = l->buf;
	*ret_len = end;
	return 1;
}

int client_read_line(int fd, struct client_lines *l, int timeout_ms, char **ret_line,
		     size_t *ret_len)
{
	long long start = (long long)clock_now_ms();
	size_t scanned;

	if (l->used) {
		memmove(l->buf, l->buf + l->used, l->len - l->used);
		l->len -= l->used;
		l->used = 0;
	}
	scanned = 0;
	for (;;) {
		char *nl = NULL;
		if (l->len > scanned)
			nl = memchr(l->buf + scanned, '\n', l->len - scanned);
		if (nl)
			return client_take(l, (size_t)(nl - l->buf), 1, ret_line, ret_len);
		scanned = l->len;
		if (l->len >= CLIENT_LINE_MAX)
			return -EMSGSIZE;
		/* Keep one spare byte so that a last line without "\n" can be terminated. */
		if (l->cap - l->len < 4096 + 1) {
			size_t cap = l->cap ? l->cap * 2 : 16384;
			char *b = realloc(l->buf, cap);
			if (!b)
				return -ENOMEM;
			l->buf = b;
			l->cap = cap;
		}
		ssize_t n = recv(fd, l->buf + l->len, l->cap - l->len - 1, MSG_DONTWAIT);
		if (n > 0) {
			l->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (l->len)
				return client_take(l, l->len, 0, ret_line, ret_len);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = client_wait(fd, POLLIN, client_left(timeout_ms, start), l->sigmask);
		if (r < 0)
			return r;
	}
}

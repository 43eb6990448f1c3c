/* client.c — connecting to udsrpcd, with a bounded wait and messages that say what to do. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
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
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		/* A Unix socket connects at once or not at all, except when the
		 * listener's backlog is full: then EAGAIN, and we wait for room. */
		if (e == EAGAIN || e == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int r = poll(&p, 1, timeout_ms);
			socklen_t el = sizeof(e);
			if (r <= 0)
				e = r == 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
		}
		if (e) {
			close(fd);
			snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(e),
				 client_hint(e));
			return -e;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* sockpath.c — the default socket path (udsrpc(7), "TRANSPORT"), the same for servers and clients. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "export.h"

#include <udsrpc/client.h>

static int sockpath_fmt(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

UDSRPC_EXPORT int udsrpc_default_socket_path(char *buf, size_t len)
{
	const char *v;

	if ((v = getenv("UDSRPC_SOCKET")) && *v)
		return sockpath_fmt(buf, len, v, "");
	if ((v = getenv("RUNTIME_DIRECTORY")) && *v) {
		/* systemd may pass several colon-separated directories; the first is ours. */
		char dir[4096];
		size_t i = 0;
		while (v[i] && v[i] != ':' && i < sizeof(dir) - 1) {
			dir[i] = v[i];
			i++;
		}
		dir[i] = '\0';
		return sockpath_fmt(buf, len, dir, "/udsrpcd.sock");
	}
	if (geteuid() == 0)
		return sockpath_fmt(buf, len, "/run/udsrpcd.sock", "");
	if ((v = getenv("XDG_RUNTIME_DIR")) && *v)
		return sockpath_fmt(buf, len, v, "/udsrpcd.sock");
	int n = snprintf(buf, len, "/tmp/udsrpcd-%u.sock", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* sockpath.h — the default socket path, resolved the same way by all three programs. */
#ifndef UDSRPC_SOCKPATH_H
#define UDSRPC_SOCKPATH_H

#include <stddef.h>

/*
 * PROTOCOL.md §1 after an explicit --socket/config value:
 * $UDSRPC_SOCKET, $RUNTIME_DIRECTORY/udsrpcd.sock, /run/udsrpcd.sock as root,
 * $XDG_RUNTIME_DIR/udsrpcd.sock, /tmp/udsrpcd-$UID.sock.
 * Writes into buf; returns 0 or -ENAMETOOLONG.
 */
int sockpath_default(char *buf, size_t len);

#endif

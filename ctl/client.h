/* client.h — the client side of the wire, shared by udsrpcctl and udsrpc-bench. */
#ifndef UDSRPC_CLIENT_H
#define UDSRPC_CLIENT_H

#include <stddef.h>

/*
 * Connect to the daemon's socket (path NULL: the default of PROTOCOL.md §1,
 * sockpath_default). Returns a blocking, close-on-exec fd, or -errno with a
 * one-line message for people in err naming the path and the likely fix
 * ("... is udsrpcd running?"). timeout_ms bounds the wait when the daemon's
 * backlog is full (< 0: no bound).
 */
int client_connect(const char *path, int timeout_ms, char *err, size_t errlen);

#endif

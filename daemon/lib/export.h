/* export.h — marks the definitions of the public API (everything else stays hidden). */
#ifndef UDSRPC_EXPORT_H
#define UDSRPC_EXPORT_H

/* The version script (libudsrpc.map) lists the same names; a test compares them. */
#define UDSRPC_EXPORT __attribute__((visibility("default")))

#endif

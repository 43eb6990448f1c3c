/* methods.h — the built-in methods, each a flag of the options (udsrpc/server.h). */
#ifndef UDSRPC_LIB_METHODS_H
#define UDSRPC_LIB_METHODS_H

#include <stddef.h>
#include <time.h>

#include <udsrpc/server.h>

/* One built-in: the flag that switches it on, and its entry. */
struct builtin {
	unsigned flag;
	struct udsrpc_method method;
};

/* Every built-in (methods/table.c); their schemas are in the library's OpenRPC document. */
extern const struct builtin builtins[];
extern const size_t builtins_count;

/* RFC 3339 UTC with milliseconds into buf (at least 32 bytes). */
void methods_rfc3339(const struct timespec *ts, char *buf, size_t len);

#endif

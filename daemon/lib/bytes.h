/* bytes.h — short runs of bytes compared inline. */
#ifndef UDSRPC_BYTES_H
#define UDSRPC_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/*
 * memcmp(a, b, n) == 0, without a call for the short member names that
 * params and schemas have (a call cost more than the comparison on the
 * request path); long ones still go to memcmp.
 */
static inline bool bytes_equal(const char *a, const char *b, size_t n)
{
	if (n > 16)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

#endif

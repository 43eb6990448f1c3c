/* reply.h — checking one reply line from the daemon: strict JSON, JSON-RPC 2.0 shape, no
 * allocation. */
#ifndef UDSRPC_BENCH_REPLY_H
#define UDSRPC_BENCH_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum reply_kind {
	REPLY_RESULT,       /* {"jsonrpc":"2.0","id":…,"result":…} */
	REPLY_ERROR,        /* {"jsonrpc":"2.0","id":…,"error":{"code","message"[,"data"]}} */
	REPLY_NOTIFICATION, /* {"jsonrpc":"2.0","method":"…"[,"params":…]}: a server push */
};

enum reply_id {
	REPLY_ID_NONE,  /* notifications only */
	REPLY_ID_INT,   /* a non-negative integer that fits uint64_t: the only kind we send */
	REPLY_ID_NULL,  /* the daemon could not tell which request (parse error, -32003, …) */
	REPLY_ID_OTHER, /* a string, a negative or fractional number */
};

/* Spans point into the parsed line (borrowed, valid while it is). */
struct reply {
	enum reply_kind kind;
	enum reply_id id_kind;
	uint64_t id;        /* REPLY_ID_INT */
	const char *result; /* REPLY_RESULT: the raw JSON text of the value */
	size_t result_len;
	long long code;      /* REPLY_ERROR */
	const char *message; /* REPLY_ERROR: the raw string contents, escapes not decoded */
	size_t message_len;
};

/*
 * Parse one line (without its "\n") as a JSON-RPC 2.0 response or
 * notification. Every byte is checked: RFC 8259 syntax, UTF-8, nesting up
 * to 2048 levels (jansson's limit), no duplicate and no unknown members,
 * "jsonrpc" exactly "2.0", exactly one of "result"/"error", an "error"
 * object with an integer "code" and a string "message". Returns 0 and fills
 * *ret, or -EINVAL with a short static reason in *ret_why.
 */
int reply_parse(const char *line, size_t len, struct reply *ret, const char **ret_why);

#endif

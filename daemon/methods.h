/* methods.h — the method table and the call interface handlers see. */
#ifndef UDSRPC_METHODS_H
#define UDSRPC_METHODS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

struct call;
struct server;
struct peer_ident;

/*
 * A handler gets a call whose params already passed the method's schema
 * (params borrowed; NULL when absent) and must complete it exactly once with
 * call_result/call_error — now, or later after call_defer. Handlers never
 * touch sockets or build JSON-RPC envelopes.
 */
typedef void method_fn(struct call *c, json_t *params);

struct method {
	const char *name;
	method_fn *fn;
};

/* Every method, sorted by name (methods/table.c). */
extern const struct method *const methods_table[];
extern const size_t methods_count;
/* Index into methods_table, or -1. */
int methods_lookup(const char *name);

/* Complete the call: result is stolen (a new reference the caller gives up). */
void call_result(struct call *c, json_t *result);
/*
 * Complete the call with a result already serialised: text is the compact
 * JSON of one value, as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) would
 * write it (borrowed; copied before the call returns).
 */
void call_result_text(struct call *c, const char *text, size_t len);
/*
 * For a deferred call that owes the only reply on its connection (nothing
 * before it, nothing behind it, not in a batch): its whole reply line, as
 * call_result_text(text) would write it, into buf. The length, or 0 when the
 * call does not qualify or the line is longer than cap.
 */
size_t call_reply_line(const struct call *c, const char *text, size_t len, char *buf, size_t cap);
/* Complete the call whose reply line (call_reply_line) someone else wrote. */
void call_result_sent(struct call *c);
/* Complete with an error of the §2 table; data is stolen and may be NULL. */
void call_error(struct call *c, int code, json_t *data);
/*
 * Keep the call beyond the handler's return: returns the handle to complete
 * later (the argument must not be used again). NULL on ENOMEM, in which case
 * the call has been answered with -32603 already.
 */
struct call *call_defer(struct call *c);
/* Borrowed: the daemon, the caller's identity, and its connection's session. */
struct server *call_server(const struct call *c);
const struct peer_ident *call_peer(const struct call *c);
struct rpc_session *call_session(const struct call *c);

/* New reference: the whoami members of a peer (methods/peer.c; events reuse it). */
json_t *methods_peer_json(const struct peer_ident *p);
/* RFC 3339 UTC with milliseconds into buf (at least 32 bytes). */
void methods_rfc3339(const struct timespec *ts, char *buf, size_t len);

#endif

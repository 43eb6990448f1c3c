/*
 * call.h — what a handler gets: the method, the caller as the kernel
 * identified it, and the ways to answer. Part of <udsrpc/udsrpc.h>; see
 * udsrpc_call(3).
 *
 * A call is answered exactly once: with a result, with an error, or later,
 * after udsrpc_call_defer(). Replies reach the caller in the order its
 * requests came, whatever order calls complete in. Answering twice, or
 * after the caller has gone, is harmless: the second answer is dropped and
 * the function says so (-EALREADY, -ENOTCONN).
 *
 * Threads: for a deferred call, answering (udsrpc_call_result,
 * _result_text, _error), udsrpc_call_ref, udsrpc_call_unref and
 * udsrpc_call_caller_gone may be called from any thread: that is the one
 * thread-safe entry point of a call. All else is for the loop thread.
 * Answer or release every deferred call before udsrpc_server_free, from
 * threads the service has stopped by then: the server waits for none of
 * them, and a handle used after it is invalid.
 */
#ifndef UDSRPC_CALL_H
#define UDSRPC_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udsrpc_server;
struct udsrpc_call;
struct udsrpc_peer;

/* ---- the caller --------------------------------------------------------- */

/*
 * The caller's connection as the kernel described it at accept (udsrpc(7),
 * "IDENTITY"): SO_PEERCRED, SO_PEERGROUPS, and exe/comm read through a
 * pidfd. Nothing in a request changes it. Borrowed: valid while the call
 * is not answered (NULL after, for a deferred call). Loop thread.
 */
const struct udsrpc_peer *udsrpc_call_peer(const struct udsrpc_call *call);
/* The connection id: unique for the life of the server. */
uint64_t udsrpc_peer_id(const struct udsrpc_peer *peer);
uid_t udsrpc_peer_uid(const struct udsrpc_peer *peer);
gid_t udsrpc_peer_gid(const struct udsrpc_peer *peer);
pid_t udsrpc_peer_pid(const struct udsrpc_peer *peer);
/* Supplementary groups: *ret_n of them, borrowed (NULL when none). */
const gid_t *udsrpc_peer_groups(const struct udsrpc_peer *peer, size_t *ret_n);
/* The user name of uid, the process's comm and exe; NULL when unknown. Borrowed. */
const char *udsrpc_peer_user(const struct udsrpc_peer *peer);
const char *udsrpc_peer_comm(const struct udsrpc_peer *peer);
const char *udsrpc_peer_exe(const struct udsrpc_peer *peer);
/* True if gid is the peer's primary or one of its supplementary groups. */
bool udsrpc_peer_in_group(const struct udsrpc_peer *peer, gid_t gid);
/*
 * New reference: {"id","uid","gid","pid","groups","user","comm","exe"}, as
 * peer.whoami answers (unknown strings null). NULL on ENOMEM.
 */
json_t *udsrpc_peer_json(const struct udsrpc_peer *peer);

/* ---- the call ----------------------------------------------------------- */

/* The method called. Borrowed, valid while the call is. */
const char *udsrpc_call_method(const struct udsrpc_call *call);
/* The server the call came to. */
struct udsrpc_server *udsrpc_call_server(const struct udsrpc_call *call);
/*
 * Would the policy let this caller call method (on key, for methods
 * flagged UDSRPC_METHOD_KEYED; NULL: no key)? For a handler that reveals
 * or touches what other methods guard. Loop thread.
 */
bool udsrpc_call_allowed(const struct udsrpc_call *call, const char *method, const char *key);
/*
 * udsrpc_call_allowed for a handler that judges many keys of a few methods
 * in one run (a transaction's ops): *found (NULL at first, one per method)
 * keeps the method found by the first check for the next ones, which skip
 * the look-up by name. Good only until the handler returns.
 */
bool udsrpc_call_allowed_found(const struct udsrpc_call *call, const char *method,
                               const char *key, const void **found);

/*
 * One pointer of the service's per connection: NULL until set. The
 * options' on_disconnect hook gets it back when the connection closes.
 * Setting it once the connection has closed (its hook has run) is -ENOTCONN,
 * and the data stays the caller's; -EINVAL for a call without a connection.
 */
void *udsrpc_call_conn_data(const struct udsrpc_call *call);
int udsrpc_call_set_conn_data(struct udsrpc_call *call, void *data);

/* ---- answering ---------------------------------------------------------- */

/*
 * Answer with a result: stolen (the call takes the reference, also on
 * failure; NULL means null). 0 when the answer goes (or went) to the
 * caller; -EALREADY if the call was answered before, -ENOTCONN if the
 * caller has gone (the answer is dropped); -EINVAL for a NULL call.
 * A notification's answer is dropped silently (0), as JSON-RPC says.
 */
int udsrpc_call_result(struct udsrpc_call *call, json_t *result);
/*
 * The same with the result as the compact JSON text of one value (len
 * bytes, borrowed, copied): for an answer kept serialised. The text is
 * written as it is: it must be valid JSON without a newline.
 */
int udsrpc_call_result_text(struct udsrpc_call *call, const char *json, size_t len);
/*
 * Answer with an error: code (enum udsrpc_error_code, or the service's own
 * outside -32768..-32000; not 0), message (NULL: the table's text, which is
 * "Server error" for a code outside it) and data (stolen, may be NULL).
 * UDSRPC_PERMISSION_DENIED is a denial like the policy's: counted and
 * logged (udsrpc(7), "Denials and audit"), naming data.key or data.name
 * when set, so a handler that refuses must not log it again.
 * Returns as udsrpc_call_result.
 */
int udsrpc_call_error(struct udsrpc_call *call, int code, const char *message, json_t *data);

/* Defer flags. */
/*
 * The call will be answered from another thread, and may then be written
 * to the caller's socket by that thread at once when it is the only reply
 * the connection is owed (no batch, nothing queued before or after, no
 * event subscription): one thread hand-off fewer per answer. A service that
 * uses it and answers with a change the caller may ask about next sets
 * udsrpc_server_set_sync().
 */
#define UDSRPC_DEFER_DIRECT (1u << 0)

/*
 * Keep the call beyond the handler's return. Returns the call to answer
 * later, holding a reference the caller owns: answer it (once), then
 * release it with udsrpc_call_unref (either order, any thread). The
 * argument must not be used again. NULL on ENOMEM, in which case the call
 * has been answered with -32603; NULL too, answering nothing, for a call
 * answered or deferred already. Defer only from inside the handler.
 */
struct udsrpc_call *udsrpc_call_defer(struct udsrpc_call *call, unsigned flags);
/* Another reference to a deferred call. */
struct udsrpc_call *udsrpc_call_ref(struct udsrpc_call *call);
/*
 * Release a reference. When the last one goes and the call was never
 * answered, it is answered -32603 with data.reason "a deferred call was
 * dropped without an answer", and logged. NULL is fine.
 */
void udsrpc_call_unref(struct udsrpc_call *call);
/*
 * fn(call, arg) runs once, on the loop thread, if the caller disconnects
 * while the call is deferred and not answered (a long job may then stop).
 * The call stays valid (answering it is -ENOTCONN). Replaces an earlier
 * callback; NULL removes it.
 */
void udsrpc_call_on_disconnect(struct udsrpc_call *call,
                               void (*fn)(struct udsrpc_call *call, void *arg), void *arg);
/* True once the caller has gone (a hint from other threads). */
bool udsrpc_call_caller_gone(const struct udsrpc_call *call);

#ifdef __cplusplus
}
#endif

#endif

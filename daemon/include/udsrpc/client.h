/*
 * client.h — the client side of udsrpc: connect to a server's socket,
 * call methods (one at a time or pipelined), and receive the events the
 * server pushes, and serve methods through the daemon as a provider. Part
 * of <udsrpc/udsrpc.h>; see udsrpc_client(3).
 *
 * A client is for one thread at a time. Every wait is bounded by the
 * timeout the call is given (in milliseconds; < 0: no bound) and, with a
 * signal mask set (udsrpc_client_set_sigmask), ends with -EINTR when a
 * signal the mask lets through arrives. sigset_t needs the POSIX
 * declarations of <signal.h>: compile with _POSIX_C_SOURCE (or
 * _DEFAULT_SOURCE, gcc's default gnu11 mode has them).
 */
#ifndef UDSRPC_CLIENT_H
#define UDSRPC_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udsrpc_client;

/*
 * The default socket path (udsrpc(7), "TRANSPORT"), the first that applies:
 * $UDSRPC_SOCKET, $RUNTIME_DIRECTORY/udsrpcd.sock, /run/udsrpcd.sock as
 * root, $XDG_RUNTIME_DIR/udsrpcd.sock, /tmp/udsrpcd-$UID.sock. Into buf;
 * 0 or -ENAMETOOLONG.
 */
int udsrpc_default_socket_path(char *buf, size_t len);

/*
 * Connect to path (NULL: the default path above). Waits at most
 * timeout_ms, also while the server's listen backlog is full. On the
 * default path the server must run as root or as the caller's own uid,
 * else -EPERM: nobody can squat another user's /tmp/udsrpcd-UID.sock.
 * -errno with a one-line message naming the path and the likely fix
 * ("... is udsrpcd running?"). *ret is the caller's (udsrpc_client_free).
 */
int udsrpc_client_connect(struct udsrpc_client **ret, const char *path, int timeout_ms,
                          char *err, size_t errlen);
/* Close and free; NULL is fine. Notifications still queued are dropped. */
void udsrpc_client_free(struct udsrpc_client *c);
/*
 * The connected socket (blocking, close-on-exec), for the caller's own poll
 * loop: readable means udsrpc_client_receive/_read_line have input. Bytes
 * the client buffered already do not show on it: see udsrpc_client_pending.
 */
int udsrpc_client_fd(const struct udsrpc_client *c);
/* True when a whole line is buffered, so a read would not block. */
bool udsrpc_client_pending(const struct udsrpc_client *c);
/* The path connected to. Borrowed. */
const char *udsrpc_client_path(const struct udsrpc_client *c);
/*
 * While the client waits, ppoll runs with this signal mask (NULL: the
 * current one; the set is copied). A caller that blocks SIGINT and passes a
 * mask without it gets -EINTR exactly while waiting, with no race against
 * its flag.
 */
void udsrpc_client_set_sigmask(struct udsrpc_client *c, const sigset_t *mask);

/* udsrpc_client_call returns this (a positive value) when the server answered an error. */
#define UDSRPC_CLIENT_ERROR 1

/*
 * Call method with params (borrowed; NULL: no params member) and wait for
 * its reply. 0 with *ret_result a new reference to the result;
 * UDSRPC_CLIENT_ERROR with *ret_result a new reference to the error object
 * ({"code","message","data"?}); or -errno: -ETIMEDOUT, -EPIPE/-ECONNRESET
 * (the server went away), -EPROTO (a reply that is no JSON-RPC response),
 * -EINTR. An error with id null (the server's verdict on a line it could
 * not take as a request, or on the connection) also ends the call with
 * UDSRPC_CLIENT_ERROR. Notifications that arrive meanwhile go to the
 * callback of udsrpc_client_on_notify, or wait for udsrpc_client_receive;
 * replies to other requests (pipelined before) wait there too.
 */
int udsrpc_client_call(struct udsrpc_client *c, const char *method, const json_t *params,
                       int timeout_ms, json_t **ret_result);

/*
 * Pipelining: send a request without waiting. The id is the client's (a
 * counter from 1, in *ret_id); match replies by it. 0 or -errno.
 */
int udsrpc_client_send(struct udsrpc_client *c, const char *method, const json_t *params,
                       int timeout_ms, int64_t *ret_id);
/* A notification: a request without id, never answered. */
int udsrpc_client_notify(struct udsrpc_client *c, const char *method, const json_t *params,
                         int timeout_ms);
/*
 * Send text as it is (len bytes: one or more request lines; a "\n" is added
 * when the text does not end with one). For tools that relay requests.
 */
int udsrpc_client_send_raw(struct udsrpc_client *c, const char *text, size_t len,
                           int timeout_ms);
/*
 * The next message from the server, a reply or a notification (new
 * reference in *ret_msg); queued notifications come first. 1 with a
 * message, 0 at end of stream, -EPROTO for a line that is not a JSON
 * object (the line is consumed), or -errno.
 */
int udsrpc_client_receive(struct udsrpc_client *c, int timeout_ms, json_t **ret_msg);
/*
 * The next line as the server wrote it, without its "\n" and
 * NUL-terminated; *ret_line is borrowed until the next call on c. 1 with a
 * line, 0 at end of stream (a last line without "\n" comes first), or
 * -errno (-EMSGSIZE for a line over 256 MiB). Queued notifications are
 * not returned here.
 */
int udsrpc_client_read_line(struct udsrpc_client *c, int timeout_ms, const char **ret_line,
                            size_t *ret_len);
/*
 * Where notifications go that arrive while udsrpc_client_call waits: fn
 * gets the whole message (borrowed for the call). NULL: they are queued
 * for udsrpc_client_receive.
 */
void udsrpc_client_on_notify(struct udsrpc_client *c,
                             void (*fn)(void *arg, const json_t *msg), void *arg);

/* ---- providers (udsrpc(7), "PROVIDERS") ------------------------------------ */

/*
 * A provider serves methods of its own through the daemon on a client's
 * connection: it registers them (rpc.provide), gets each call another peer
 * makes to them with that caller's identity, and answers in any order.
 * Like the client it runs on, a provider is for one thread at a time.
 */
struct udsrpc_provider;
struct udsrpc_peer;
/* One forwarded call (or notification), from the handler to its answer. */
struct udsrpc_request;

/*
 * A provider on c (borrowed: c must outlive the provider; the provider
 * reads and writes it, so while the provider is in use call methods only
 * through udsrpc_client_call, which leaves forwarded calls queued for it).
 * Every answer is written within timeout_ms (< 0: no bound). *ret is the
 * caller's (udsrpc_provider_free). 0 or -ENOMEM.
 */
int udsrpc_provider_new(struct udsrpc_provider **ret, struct udsrpc_client *c, int timeout_ms);
/*
 * Free the provider (NULL is fine); the connection stays open. Requests not
 * answered yet stay the caller's: answering them then sends nothing and
 * returns -ENOTCONN (and frees them).
 */
void udsrpc_provider_free(struct udsrpc_provider *p);
/*
 * Register a method locally, to be provided by the next
 * udsrpc_provider_provide: method is an OpenRPC 1.2.6 Method Object
 * (text of len bytes: "name", "params", "result", ...), sent to the daemon
 * as it is; the daemon checks it. fn runs for each call forwarded to it,
 * with params borrowed for the call (NULL when the caller sent none) and
 * userdata. 0; -EINVAL (not a JSON object with a string "name"), -EEXIST
 * (name registered already) or -ENOMEM, with a message in err.
 */
int udsrpc_provider_add_method(struct udsrpc_provider *p, const char *method, size_t len,
                               void (*fn)(struct udsrpc_request *req, const json_t *params,
                                          void *userdata),
                               void *userdata, char *err, size_t errlen);
/* A topic to provide with the next udsrpc_provider_provide. 0, -EEXIST or -ENOMEM. */
int udsrpc_provider_add_topic(struct udsrpc_provider *p, const char *topic);
/*
 * Send rpc.provide for every method and topic added since the last call
 * and wait for the daemon's verdict: all or nothing, as the daemon takes
 * them. 0 (*ret_reply: the result, all this connection provides);
 * UDSRPC_CLIENT_ERROR (*ret_reply: the error object, e.g. -32013 name
 * taken, -32001 not allowed; those methods and topics are forgotten); or
 * -errno as udsrpc_client_call. *ret_reply is a new reference (NULL on
 * -errno); ret_reply may be NULL.
 */
int udsrpc_provider_provide(struct udsrpc_provider *p, int timeout_ms, json_t **ret_reply);
/*
 * Read the next message and, if it is a forwarded call, run its method's
 * handler (a call to a name not registered here is answered -32601). Any
 * other message (an event, a reply nobody waits for) is handed out in
 * *ret_msg (new reference), or dropped when ret_msg is NULL; *ret_msg is
 * NULL after a handler ran. 1 with a message, 0 at end of stream, or
 * -errno as udsrpc_client_receive (-ETIMEDOUT, -EINTR, -EPROTO for a line
 * that is no JSON object, which is consumed).
 */
int udsrpc_provider_dispatch(struct udsrpc_provider *p, int timeout_ms, json_t **ret_msg);
/*
 * udsrpc_provider_dispatch without a bound, dropping other messages, until
 * udsrpc_provider_stop (0), end of stream (0) or an error (-errno, -EPROTO
 * lines skipped).
 */
int udsrpc_provider_run(struct udsrpc_provider *p);
/* Make udsrpc_provider_run return after the message at hand (e.g. from a handler). */
void udsrpc_provider_stop(struct udsrpc_provider *p);
/* How many requests were handed to handlers and are not answered yet. */
size_t udsrpc_provider_pending(const struct udsrpc_provider *p);
/*
 * events.publish: event (borrowed) to subscribers of topic, one this
 * connection provides. Returns as udsrpc_client_call; *ret_reply (new
 * reference, may be NULL) is {"subscribers":n} or the error object.
 */
int udsrpc_provider_publish(struct udsrpc_provider *p, const char *topic, const json_t *event,
                            int timeout_ms, json_t **ret_reply);

/* The method called. Borrowed, valid until the request is answered. */
const char *udsrpc_request_method(const struct udsrpc_request *req);
/* The caller's params as sent (NULL: none). Borrowed, valid until answered. */
const json_t *udsrpc_request_params(const struct udsrpc_request *req);
/*
 * The caller, as the daemon captured it at accept and forwarded it (the
 * "caller" member): read with udsrpc_peer_uid, _gid, _pid, _groups, _user,
 * _comm, _exe, _id, _in_group and _json of <udsrpc/call.h>. Borrowed,
 * valid until the request is answered.
 */
const struct udsrpc_peer *udsrpc_request_caller(const struct udsrpc_request *req);
/* True for a forwarded notification: its answer sends nothing. */
bool udsrpc_request_is_notification(const struct udsrpc_request *req);
/*
 * Answer with result (stolen; the daemon checks it against the method's
 * result schema) or with an error (code any, message borrowed, NULL: a
 * generic one for the code; data stolen, may be NULL). Every request is
 * answered exactly once, in the handler or later (in any order), and the
 * answer frees it. 0, or -errno from writing the answer (the request is
 * freed all the same; -ENOTCONN when its provider was freed).
 */
int udsrpc_request_result(struct udsrpc_request *req, json_t *result);
int udsrpc_request_error(struct udsrpc_request *req, int code, const char *message,
                         json_t *data);

#ifdef __cplusplus
}
#endif

#endif

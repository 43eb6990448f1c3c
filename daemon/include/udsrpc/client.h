/*
 * client.h — the client side of udsrpc: connect to a server's socket,
 * call methods (one at a time or pipelined), and receive the events the
 * server pushes. Part of <udsrpc/udsrpc.h>; see udsrpc_client(3).
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

#ifdef __cplusplus
}
#endif

#endif

/* session.h — one udsrpcctl connection: requests out, replies and events in, failures said. */
#ifndef UDSRPCCTL_SESSION_H
#define UDSRPCCTL_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <jansson.h>

#include <udsrpc/udsrpc.h>

/*
 * Every function that can fail returns 0, or an exit status of ctl.h after
 * printing the one line a person needs on stderr: transport problems
 * (CTL_EXIT_IO) name the socket and the likely fix; daemon errors print
 * "udsrpcctl: METHOD: MESSAGE (code N)" (CTL_EXIT_ERROR, CTL_EXIT_DENIED).
 * The one exception is -EINTR: a signal arrived while waiting with a
 * sigmask set (session_set_sigmask); nothing is printed.
 */
struct session {
	const char *path;    /* borrowed: the socket, for messages */
	struct udsrpc_client *client;
	int fd;              /* the client's socket; -1 when closed */
	bool interruptible;  /* a sigmask is set: -EINTR ends a wait */
	long long deadline;  /* CLOCK_MONOTONIC ms for every wait; < 0: none */
	int timeout_ms;      /* what deadline came from, for messages */
	long long next_id;
	bool json_errors;    /* -j: an error also goes to stdout as {"error":{...}} */
	/*
	 * Notifications that arrive while a reply is awaited: message borrowed
	 * for the call. NULL: they are dropped (only watch subscribes).
	 */
	void (*on_notify)(void *arg, json_t *msg);
	void *notify_arg;
};

/* CLOCK_MONOTONIC in nanoseconds, and in milliseconds (deadlines). */
long long session_now_ns(void);
long long session_now_ms(void);

/* Connect to path; timeout_ms < 0: no bound. Sets the deadline the later calls share. */
int session_open(struct session *s, const char *path, int timeout_ms);
void session_close(struct session *s);
/* While waiting, ppoll with this mask: a signal it lets through ends the wait with -EINTR. */
void session_set_sigmask(struct session *s, const sigset_t *mask);

/*
 * A placeholder for JSON text jansson cannot hold (an integer outside int64):
 * the request line carries text as written (len bytes, copied; the JSON
 * whitespace around it left out, so it cannot break the line), and the
 * daemon, not udsrpcctl, judges it. NULL past 4 of them, or out of memory.
 */
json_t *session_verbatim(const char *text, size_t len);

/*
 * Call method with params (stolen; NULL: no params member) and wait for its
 * reply. On 0, *ret_result is a new reference to the result.
 */
int session_call(struct session *s, const char *method, json_t *params, json_t **ret_result);

/*
 * The next message the daemon sends, reply or notification (new reference
 * in *ret_msg). what names the wait in messages (a method, or "watch").
 * At EOF: CTL_EXIT_IO with "udsrpcd closed the connection".
 */
int session_read(struct session *s, const char *what, json_t **ret_msg);

/*
 * After a request that makes the daemon close (daemon.shutdown): wait until
 * it has, within the deadline. Silent; true if it closed.
 */
bool session_await_close(struct session *s);

/* Say on stderr why I/O on the socket failed (r: -errno); returns CTL_EXIT_IO. */
int session_io_failed(const struct session *s, const char *what, int r);

#endif

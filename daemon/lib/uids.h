/*
 * uids.h — what the server keeps per peer uid: open connections, unread
 * output held for them, and their share of the log. One uid is one attacker
 * (or one user's many clients), so these are the bounds one uid cannot
 * push past by opening more connections.
 */
#ifndef UDSRPC_LIB_UIDS_H
#define UDSRPC_LIB_UIDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <udsrpc/server.h>

struct udsrpc_server;

struct uid_count {
	struct uid_count *next;
	uid_t uid;
	unsigned n;	   /* open connections */
	unsigned waiting;  /* its connections paused until `out` drains (conn.c) */
	uint64_t out;	   /* bytes of output its connections hold, unread */
	uint64_t log_since; /* CLOCK_MONOTONIC ms: start of its current log window */
	unsigned log_lines; /* lines logged about it in that window */
	unsigned log_suppressed; /* and not logged */
};

/* Open connections of uid. */
unsigned server_uid_connections(struct udsrpc_server *srv, uid_t uid);
/*
 * A connection of uid opened (+1) or closed (-1). On +1 its entry, which
 * lives at least as long as the connection (NULL on ENOMEM: not counted).
 */
struct uid_count *server_uid_adjust(struct udsrpc_server *srv, uid_t uid, int delta);
/*
 * May a line at level about something uid did (a denial, a refused
 * connection) be logged? At most UIDS_LOG_LINES a second per uid; the
 * lines held back are counted and said in one line when the second is
 * over, so a loop of new connections cannot fill the disk.
 */
#define UIDS_LOG_LINES 10
bool server_uid_may_log(struct udsrpc_server *srv, uid_t uid, enum udsrpc_log_level level);
/* Everything, at server free. */
void server_uid_free(struct udsrpc_server *srv);

#endif

/* conn.h — one client connection: socket I/O, framing, backpressure, timeouts, lifetime. */
#ifndef UDSRPC_CONN_H
#define UDSRPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event_struct.h>

#include "framing.h"
#include "peer.h"
#include "rpc.h"

struct server;
struct store_ack;

/*
 * Lifetime: OPEN → (peer half-closes) READ_DONE → CLOSED → freed.
 * CLOSED means the socket is gone; the struct lives on while a deferred call
 * (a durable write) still points at its session, or while a callback of its
 * own is on the stack, and is freed by whichever of those ends last.
 */
struct conn {
	TAILQ_ENTRY(conn) link;	    /* server->conns */
	TAILQ_ENTRY(conn) sub_link; /* events subscribers, while topics != 0 */
	TAILQ_ENTRY(conn) flush_link; /* read this turn of the loop, written at its end */
	struct server *srv;
	/* One event for both directions: read interest while requests are
	 * wanted, write interest while output waits; its timeout is the
	 * partial-line/idle timer. */
	struct event ev;
	/* Input read but not handled yet: an unfinished line, or lines held
	 * back while paused. Complete lines are handled where they were read
	 * (a shared buffer); only leftovers are copied here. NULL when empty. */
	char *in;
	size_t in_len, in_cap;
	/* Replies and events not written yet. Allocated while output is owed
	 * or can arrive (processing, deferred calls, queued slots), else NULL:
	 * an idle connection holds no buffers. */
	struct evbuffer *out;
	struct framing framing;
	/* A reply the store's committer may write to fd (store.h), armed by
	 * methods/config.c: settled before the loop writes or closes. */
	struct store_ack *ack;
	struct rpc_session rpc;
	struct peer_ident peer;
	struct timespec connected; /* CLOCK_REALTIME */
	uint64_t partial_since_ms; /* when the unfinished line in `in` started; 0: none */
	int fd;
	unsigned topics;      /* events subscriptions (events.h bits) */
	unsigned in_callback; /* callbacks of its own (or holders) on the stack */
	short armed;	      /* EV_READ/EV_WRITE the event is added with; 0: not added */
	unsigned char timer;  /* which timeout the event carries now */
	bool paused;	 /* unread output above max_output_bytes: not reading requests */
	bool eof;	 /* the peer shut down its write side */
	bool closed;
	bool processing; /* handling its lines: a completion arriving meanwhile only writes */
	bool flush_queued; /* on the end-of-turn queue (and held by it) */
};

/* Take over fd and the identity (moved: *peer is cleared). NULL on ENOMEM (fd closed). */
struct conn *conn_new(struct server *srv, int fd, struct peer_ident *peer);
/* Close now, dropping unsent output (peer gone, limit broken, forced stop). */
void conn_close(struct conn *c, const char *why);
/* Graceful stop: answer what was read with -32004, send what is owed, then close. */
void conn_shutdown(struct conn *c);
/*
 * Keep c allocated across calls that may close it (and, through events,
 * close others): a held connection that closes is freed only at release.
 */
void conn_hold(struct conn *c);
void conn_release(struct conn *c);
/*
 * A durable write's reply in session s may be armed for the store's
 * committer to send (store_ack): s is c's own (its replies go to c's
 * socket), c is open, owes nothing and takes no events (whose order against
 * the writer's own reply is promised).
 */
bool conn_ack_ready(const struct conn *c, const struct rpc_session *s);
/* ack is armed (store_ack_arm) and its text filled in: c settles it before writing. */
void conn_ack_arm(struct conn *c, struct store_ack *ack);
/*
 * No more sends from the committer on c; if it sent only part of the line,
 * the rest goes first in c's output. Idempotent; true if it sent any of it.
 */
bool conn_ack_settle(struct conn *c, struct store_ack *ack);
/*
 * Append a server-push line (an event). If the peer's unread output would
 * pass max_output_bytes it is disconnected instead: false.
 */
bool conn_push(struct conn *c, const char *line, size_t len);

#endif

/* conn.h — one client connection: socket I/O, framing, backpressure, timeouts, lifetime. */
#ifndef UDSRPC_CONN_H
#define UDSRPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event_struct.h>

#include "events.h"
#include "framing.h"
#include "peer.h"
#include "rpc.h"

struct udsrpc_server;
struct deferred;

/*
 * Lifetime: OPEN → (peer half-closes) READ_DONE → CLOSED → freed.
 * CLOSED means the socket is gone; the struct lives on while a deferred call
 * (a durable write) still points at its session, or while a callback of its
 * own is on the stack, and is freed by whichever of those ends last.
 */
/*
 * An event line shared by the subscribers it is fanned out to, until the
 * end of the turn writes it (conn_push_held): counted references, the
 * publisher's one included.
 */
struct conn_line {
	unsigned refs;
	size_t len;
	char data[];
};

/* Events a connection holds by reference for the end of the turn; more go to its output buffer. */
#define CONN_PEND 16

struct conn {
	TAILQ_ENTRY(conn) link;	    /* server->conns */
	TAILQ_ENTRY(conn) sub_link; /* events subscribers, while topics != 0 */
	/*
	 * What an event's walk over the subscribers reads of each, kept
	 * together next to sub_link: one or two cache lines per subscriber
	 * instead of one per field (1,000 subscribers per event in
	 * tests/bench/fanout.sh).
	 */
	struct topic_set topics; /* events subscriptions */
	/* The history topic (server.h): the prefix its events are limited to
	 * (NULL: all), and the revision of the last of its events queued here. */
	char *sub_prefix;
	uint64_t sent_rev;
	/* Replaying the history (after_revision): every event of revisions up to
	 * replay_cursor was visited; more as the output drains, live events of
	 * the topic skipped meanwhile (the history has them) until caught up. */
	bool replaying;
	uint64_t replay_cursor;
	/* May it see the events of the topic of serial see_serial (events.c),
	 * under the policy of see_gen (the server's verdict_gen): subscribe at
	 * all (see_sub), read a key (see_plan; NULL: see_read for every key).
	 * Made on the first event after either changed, not per event. */
	bool see_valid, see_sub, see_read;
	uint64_t see_gen, see_serial;
	struct policy_plan *see_plan;
	uint64_t see_class; /* subscribers of one class have see_plans alike */
	/* The last of the subscribers from this one on whose verdicts are as
	 * fresh and of its class, while the server's sub_runs is see_run_gen. */
	struct conn *see_run_end;
	uint64_t see_run_gen;
	TAILQ_ENTRY(conn) flush_link; /* read this turn of the loop, written at its end */
	struct udsrpc_server *srv;
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
	/* A deferred call's reply another thread may write to fd itself
	 * (UDSRPC_DEFER_DIRECT): settled before the loop writes or closes. */
	struct deferred *direct;
	struct rpc_session rpc;
	struct udsrpc_peer peer;
	void *service_data;	 /* udsrpc_call_set_conn_data */
	struct timespec connected; /* CLOCK_REALTIME */
	uint64_t partial_since_ms; /* when the unfinished line in `in` started; 0: none */
	int fd;
	unsigned in_callback; /* callbacks of its own (or holders) on the stack */
	short armed;	      /* EV_READ/EV_WRITE the event is added with; 0: not added */
	unsigned char timer;  /* which timeout the event carries now */
	/* Its uid's entry (uids.h), and how much of that uid's `out` is this
	 * connection's output: synced whenever the output changes. */
	struct uid_count *uid;
	size_t out_counted;
	bool paused;	 /* unread output above max_output_bytes: not reading requests */
	bool uid_waiting; /* paused for its uid's output: woken when that drains */
	bool eof;	 /* the peer shut down its write side */
	bool closed;
	bool processing; /* handling its lines: a completion arriving meanwhile only writes */
	bool flush_queued; /* on the end-of-turn queue (and held by it) */
	/* Queued only for events held (pend): if they all went out (fanout.c),
	 * the turn's end has nothing else to do for it (conn_on_flush). */
	bool events_only;
	uint64_t event_turn; /* srv->turn when an event was last written straight here */
	/* Events of this turn not written yet, before anything in `out`
	 * (conn_flush writes them first): pend_bytes in all. */
	struct conn_line *pend[CONN_PEND];
	unsigned npend;
	size_t pend_bytes;
	/* Events overflowed max_output_bytes: no more events or requests; the
	 * line being written is finished, the overflow notice follows, then close. */
	bool overflowed;
	uint64_t overflow_since_ms;
};

/* Take over fd and the identity (moved: *peer is cleared). NULL on ENOMEM (fd closed). */
struct conn *conn_new(struct udsrpc_server *srv, int fd, struct udsrpc_peer *peer);
/* Close now, dropping unsent output (peer gone, limit broken, forced stop). */
void conn_close(struct conn *c, const char *why);
/*
 * The server is being freed: steps still queued for the end of a turn that
 * will not come (closing the last connections wakes those paused for their
 * uid) let go of what they hold, so nothing is left allocated.
 */
void conn_drop_queue(struct udsrpc_server *srv);
/* Graceful stop: answer what was read with -32004, send what is owed, then close. */
void conn_shutdown(struct conn *c);
/*
 * Keep c allocated across calls that may close it (and, through events,
 * close others): a held connection that closes is freed only at release.
 */
void conn_hold(struct conn *c);
void conn_release(struct conn *c);
/*
 * Another thread may write a reply of session s to c's socket directly only
 * while s is c's own (its replies go to c's socket), c is open, owes
 * nothing else, has nothing unwritten and takes no events (whose order
 * against the reply is promised).
 */
bool conn_direct_ready(const struct conn *c, const struct rpc_session *s);
/* d is armed (call.c): c settles it before it writes or closes. */
void conn_direct_arm(struct conn *c, struct deferred *d);
/* d's answer is in: if c still has it armed, settle it now. */
void conn_direct_done(struct conn *c, struct deferred *d);
/*
 * Append a server-push line (an event, or a call forwarded to a provider).
 * If the peer's unread output would pass max_output_bytes it is
 * disconnected instead: false.
 */
bool conn_push(struct conn *c, const char *line, size_t len);
/*
 * The same, written at the end of this turn of the loop with whatever else
 * c is sent in it: the calls forwarded to one provider while the loop reads
 * many callers go in one write, not one each.
 */
bool conn_push_turn(struct conn *c, const char *line, size_t len);
/*
 * An event fanned out to many subscribers: held for the end of this turn,
 * which writes it with every other event c gets in it, in one write, from
 * the line all of them share (*sl, made from line on first use; the caller
 * unrefs it). False when it cannot be held (c owes output already, is
 * closed, or out of memory): conn_push it then. It never calls back into
 * a connection's handling (no close, no event published), so a walk of the
 * subscribers can push as it goes.
 */
bool conn_push_held(struct conn *c, struct conn_line **sl, const char *line, size_t len);
void conn_line_unref(struct conn_line *sl);
/*
 * done bytes of c's held events (pend) were written, by whatever means
 * (fanout.c, conn_flush): what is left of them goes in front of `out`, in
 * order, and pend is emptied. False on ENOMEM (the caller closes c).
 */
bool conn_pend_wrote(struct conn *c, size_t done);
/* Bytes of output not written yet. */
size_t conn_unsent(const struct conn *c);
/*
 * Cut c off as a subscriber that does not read (udsrpc(7) "EVENTS"): no
 * more events or requests; what is queued goes out whole, then the
 * overflow notice, then close.
 */
void conn_overflow(struct conn *c);

#endif

/* rpc.h — JSON-RPC 2.0 over lines: envelope, batches, checks, dispatch, ordered replies. No I/O. */
#ifndef UDSRPC_RPC_H
#define UDSRPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

struct server;
struct peer_ident;
struct evbuffer;
struct rpc_slot;

/*
 * One per connection. Replies are appended to out in request order; a
 * request whose reply is not ready yet (a deferred call, a batch with one)
 * holds a slot in the queue and everything behind it waits there.
 */
struct rpc_session {
	struct server *srv;
	const struct peer_ident *peer; /* borrowed from the connection */
	struct evbuffer *out;	       /* owned by the connection */
	TAILQ_HEAD(rpc_slotq, rpc_slot) slots;
	unsigned deferred;    /* calls kept by handlers, not yet completed */
	bool detached;	      /* the connection is gone: replies are dropped */
	uint64_t requests;    /* requests seen (peer.list) */
	uint64_t denied_seen; /* methods already audited as denied, by table index */
	/* The policy's verdicts for this peer, by table index, under policy_gen. */
	uint64_t policy_gen, decided, allowed;
	void *owner;	      /* the connection */
	/* methods/config.c: this connection's store writes submitted and answered
	 * so far, and the reads waiting for the writes before them
	 * (read-your-writes when pipelining). */
	uint64_t store_writes_sent;
	uint64_t store_writes_done;
	struct config_wait *store_waiters;
	/* A deferred completion appended to out: the owner should write. */
	void (*on_output)(struct rpc_session *s);
	/* The last deferred call completed while detached: the owner may free. */
	void (*on_release)(struct rpc_session *s);
};

void rpc_session_init(struct rpc_session *s, struct server *srv, const struct peer_ident *peer,
		      struct evbuffer *out, void *owner);
/* Handle one request line (without its "\n"). Replies land in out or the queue. */
void rpc_handle_line(struct rpc_session *s, const char *line, size_t len);
/* Answer with an error and id null for input that is no request (parse error,
 * -32002, a bad batch); counted as a failed request. data stolen. */
void rpc_reply_unsolicited(struct rpc_session *s, int code, json_t *data);
/* Replies still owed (queued slots). */
bool rpc_session_busy(const struct rpc_session *s);
/* The connection is going away: drop queued replies. True if the session
 * may be freed now; false if deferred calls still point at it (on_release
 * fires when the last one completes). */
bool rpc_session_detach(struct rpc_session *s);

#endif

/* rpc.h — JSON-RPC 2.0 over lines: envelope, batches, checks, dispatch, ordered replies. No I/O. */
#ifndef UDSRPC_RPC_H
#define UDSRPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

#include "call.h"

struct udsrpc_server;
struct udsrpc_peer;
struct evbuffer;
struct rpc_slot;
struct method_entry;
struct provider;

/* Per-connection verdict cache entry bits, by method index. */
enum {
	VERDICT_DECIDED = 1,
	VERDICT_ALLOWED = 2,
	VERDICT_AUDITED = 4, /* its denial was logged on this connection */
	VERDICT_PLANNED = 8, /* decided per key, by its entry in plans */
};

struct rpc_plan {
	unsigned index; /* the method's */
	struct policy_plan *plan;
};

/*
 * One per connection. Replies are appended to out in request order; a
 * request whose reply is not ready yet (a deferred call, a batch with one)
 * holds a slot in the queue and everything behind it waits there.
 */
struct rpc_session {
	struct udsrpc_server *srv;
	const struct udsrpc_peer *peer; /* borrowed from the connection */
	struct evbuffer *out;		/* owned by the connection */
	TAILQ_HEAD(rpc_slotq, rpc_slot) slots;
	struct deferred_list pending; /* deferred calls not answered yet */
	unsigned deferred;	      /* deferred calls not answered yet */
	bool detached;		      /* the connection is gone: replies are dropped */
	uint64_t requests;	      /* requests seen (peer.list) */
	/*
	 * The policy's verdicts for this peer by method index, valid while
	 * verdict_gen is the server's; allocated on the first call, as long as
	 * the highest index called.
	 */
	uint64_t verdict_gen;
	unsigned char *verdicts;
	unsigned nverdicts;
	/* Methods whose verdict depends on the key (VERDICT_PLANNED): their
	 * policy plans (policy.h), valid with verdict_gen too. A few at most. */
	struct rpc_plan *plans;
	unsigned nplans;
	void *owner; /* the connection */
	struct provider *provider; /* after rpc.provide (broker.h) */
	char *caller_text; /* the peer as forwarded calls carry it, made on the first */
	/* A deferred completion appended to out: the owner should write. */
	void (*on_output)(struct rpc_session *s);
	/*
	 * A reply's bytes that nothing owed goes before: the owner may write
	 * them to its socket at once (the bytes it took), else they go to out.
	 * NULL: always out.
	 */
	size_t (*write_now)(struct rpc_session *s, const char *p, size_t n);
	/* The last deferred call completed while detached: the owner may free. */
	void (*on_release)(struct rpc_session *s);
};

void rpc_session_init(struct rpc_session *s, struct udsrpc_server *srv,
                      const struct udsrpc_peer *peer, struct evbuffer *out, void *owner);
/* Frees the verdict cache (after detach, when the session is freed). */
void rpc_session_free(struct rpc_session *s);
/* Handle one request line (without its "\n"). Replies land in out or the queue. */
void rpc_handle_line(struct rpc_session *s, const char *line, size_t len);
/* Answer with an error and id null for input that is no request (parse error,
 * -32002, a bad batch); counted as a failed request. data stolen. */
void rpc_reply_unsolicited(struct rpc_session *s, int code, json_t *data);
/*
 * A call of e on s was answered -32001 with data (call.c, where every
 * denial is counted, whoever refused it: the policy before the handler, or
 * the handler itself): the warning line naming the peer, e and data.key or
 * data.name, once per (connection, method) and within the uid's share of
 * the log (uids.h).
 */
void rpc_audit_denial(struct rpc_session *s, struct method_entry *e, const json_t *data);
/* Replies still owed (queued slots). */
bool rpc_session_busy(const struct rpc_session *s);
/* slot is a single request's, and nothing is queued before or after it. */
bool rpc_session_only(const struct rpc_session *s, const struct rpc_slot *slot);
/* The connection is going away: drop queued replies. True if the session
 * may be freed now; false if deferred calls still point at it (on_release
 * fires when the last one completes). */
bool rpc_session_detach(struct rpc_session *s);
/* Would the policy let this session's peer call e (on key)? Cached when it can be. */
bool rpc_allowed(struct rpc_session *s, struct method_entry *e, const char *key);

/* ---- for call.c ---- */

/* Deliver one reply to where its request's answer belongs. raw_id (or else id) names it. */
void rpc_deliver(struct rpc_session *s, struct rpc_slot *slot, size_t index, const json_t *id,
                 const char *raw_id, size_t raw_id_len, const struct rpc_body *b);
/* Move every finished reply at the head of the queue to out. */
bool rpc_flush(struct rpc_session *s);
/* A slot for a single deferred reply, at the tail; NULL on ENOMEM. */
struct rpc_slot *rpc_slot_single(struct rpc_session *s);
/* The reply slots kept for reuse go (udsrpc_server_free). */
void rpc_slot_spares_free(struct udsrpc_server *srv);
/*
 * The JSON text of len bytes as json_loadb(JSON_DECODE_ANY) gives it, when
 * it is in the fast path's plain subset (no escapes, no reals, integers up
 * to 18 digits); NULL for anything else, for jansson to parse. srv may be
 * NULL (a client's: no spare objects to reuse).
 */
json_t *rpc_fast_json(struct udsrpc_server *srv, const char *text, size_t len);
/* Params the fast path built, after the call: kept as srv's spare when
 * nothing else holds them (their values dropped), else released. */
void rpc_spare_park(struct udsrpc_server *srv, json_t *params);
/* A new reference for an id the fast path kept as text (null, an integer or a plain string). */
json_t *rpc_raw_id_json(const char *raw, size_t len);
/* The head of a reply line, {"jsonrpc":"2.0","id":ID,"result":, into buf (raw_id, or else
 * id, names it); its length, or 0 when it does not fit in cap bytes. */
size_t rpc_result_head(char *buf, size_t cap, const json_t *id, const char *raw_id,
                       size_t raw_id_len);
/* One reply line; raw_id (the request's id text, fast path) or else id names it. */
void rpc_write(struct evbuffer *out, const json_t *id, const char *raw_id, size_t raw_id_len,
               const struct rpc_body *b);

#endif

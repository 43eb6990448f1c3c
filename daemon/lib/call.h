/* call.h — one request being answered: where its reply goes, and how it completes. */
#ifndef UDSRPC_LIB_CALL_H
#define UDSRPC_LIB_CALL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

struct evbuffer;

#include <udsrpc/call.h>

#include "xthread.h"

struct rpc_session;
struct rpc_slot;
struct method_entry;
struct udsrpc_server;

/*
 * What a reply says: a result, given as a value or as its compact JSON
 * text (a handler that keeps its answer serialised skips building and
 * walking a tree per request), or an error code with its message and data.
 */
struct rpc_body {
	const json_t *result;
	const char *text; /* the result, when result is NULL and text is set */
	size_t text_len;
	int code;
	const char *message; /* NULL: the table's text for code */
	const json_t *data;
	bool sent; /* another thread wrote it already (UDSRPC_DEFER_DIRECT) */
	/* A provider's answer passed on unchanged (broker.c): a -32001 in it is
	 * the provider's verdict, counted but not the daemon's to log. */
	bool relayed;
};

/*
 * A call lives on the stack of the request path while its handler runs;
 * udsrpc_call_defer moves it into a struct deferred on the heap.
 */
struct udsrpc_call {
	struct rpc_session *session; /* NULL once a deferred call is done */
	struct rpc_slot *slot;	     /* NULL: a single request answered at once */
	size_t index;		     /* position in slot->batch */
	json_t *id;		     /* NULL for a notification; borrowed until deferred */
	/* The fast path's id: its JSON text as the request spelled it (which is
	 * how it is written back), borrowed from the line; defer turns it into
	 * id. NULL when id is used. */
	const char *raw_id;
	size_t raw_id_len;
	struct method_entry *method; /* NULL before it is known; a reference once deferred */
	uint64_t t0;
	atomic_int done; /* answered (set once, by whichever thread answers first) */
	bool moved;	 /* udsrpc_call_defer took it: this stack copy is dead */
	bool heap;	 /* this is a struct deferred's call */
};

enum direct_state {
	DIRECT_NONE,    /* not armed, or settled */
	DIRECT_ARMED,   /* another thread may write the reply */
	DIRECT_SENT,    /* it did (sent bytes of line) */
	DIRECT_REVOKED, /* it will not: the loop writes the reply */
};

/* A deferred call. */
struct deferred {
	struct udsrpc_call call;
	struct udsrpc_server *srv;
	atomic_uint refs; /* the caller's, and the cross-thread queue's while queued */
	atomic_bool gone; /* the caller disconnected */
	TAILQ_ENTRY(deferred) link; /* its session's pending calls, while not done */
	void (*on_disconnect)(struct udsrpc_call *call, void *arg);
	void *disconnect_arg;
	/* Answered on another thread: the answer, owned, until the loop takes it. */
	struct xnode xnode;
	json_t *x_result, *x_data;
	char *x_text, *x_message;
	size_t x_text_len;
	int x_code;
	bool x_sent;
	/* UDSRPC_DEFER_DIRECT, under srv->direct_mu once armed. */
	enum direct_state direct;
	int direct_fd;
	size_t direct_prefix_len; /* of line: {"jsonrpc":"2.0","id":ID,"result": */
	size_t direct_len, direct_sent;
	char *direct_line; /* prefix, then the whole line once written; NULL: not armed */
	char *direct_buf;  /* CALL_DIRECT_MAX bytes, kept with the struct when it is reused */
	struct deferred *spare_next; /* on srv->spare_calls */
	/* The fast path's id text when it is this short (most are): kept here
	 * rather than parsed into a json_t that only the reply would read. */
	char id_text[24];
};

TAILQ_HEAD(deferred_list, deferred);

static inline struct deferred *call_deferred(struct udsrpc_call *c)
{
	return (struct deferred *)((char *)c - offsetof(struct deferred, call));
}

/* Answer c with b (result and data are references it takes); on the loop thread. */
int call_finish(struct udsrpc_call *c, const struct rpc_body *b);
/* Answer with an error from the request path (data stolen). */
void call_fail(struct udsrpc_call *c, int code, json_t *data);
/* The caller's connection is gone: tell every pending deferred call of s. */
void call_session_gone(struct rpc_session *s);
/*
 * The loop settles an armed direct reply before it writes anything else to
 * that connection or closes it: from then on no other thread writes there.
 * Returns the bytes the other thread sent of the line (the rest, if any, is
 * appended to out first).
 */
size_t call_direct_settle(struct deferred *d, struct evbuffer *out);
/* The deferred calls kept for reuse go (udsrpc_server_free). */
void call_spares_free(struct udsrpc_server *srv);
/* The loop takes the answer another thread made, and the queue's reference. */
void call_remote_deliver(struct deferred *d);

#endif

/*
 * broker.h — providers (udsrpc(7), "PROVIDERS"): calls to a method another
 * connection serves are deferred, forwarded to that connection with the
 * daemon's own id and the caller's identity, and completed by its answer,
 * its departure (-32005) or the deadline (-32006).
 */
#ifndef UDSRPC_LIB_BROKER_H
#define UDSRPC_LIB_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct conn;
struct fwd;
struct method_entry;
struct rpc_session;
struct topic;
struct udsrpc_call;
struct udsrpc_server;
struct event;

/* One connection's part as a provider: what it serves, and the calls it owes. */
struct provider {
	struct conn *conn;
	struct method_entry **methods; /* served; the registry holds the references */
	size_t nmethods, capmethods;
	struct topic **topics;
	size_t ntopics, captopics;
	/* Calls forwarded and not answered, by the daemon's id (open addressing). */
	struct fwd **pending;
	size_t npending, cappending;
	uint64_t log_ms;      /* when a dropped answer was last logged */
	unsigned log_dropped; /* dropped since, not logged */
};

/* The server's part: the id counter and one deadline heap for every provider. */
struct broker {
	uint64_t next_id;
	struct fwd **heap;
	size_t nheap, capheap;
	struct event *timer;
};

/* The provided method's handler (userdata: its struct provider). */
void broker_handler(struct udsrpc_call *c, const json_t *params, void *userdata);
/*
 * A line from a connection that provides methods, parsed (doc NULL: not
 * JSON). True when it was the provider's (an answer, or garbage logged
 * and dropped); false: a request, for rpc to handle.
 */
bool broker_line(struct rpc_session *s, const json_t *doc);
/*
 * Stop serving the methods and topics named (both NULL: all of them), and
 * announce it on the "provider" topic (methods/provide.c).
 */
void provide_release(struct udsrpc_server *srv, struct provider *p, const json_t *methods,
                     const json_t *topics);
/* The policy changed: names it no longer allows their providers are logged (methods/provide.c). */
void provide_policy_changed(struct udsrpc_server *srv);
/* New reference: {"methods":[...],"topics":[...]}, all p provides now (p may be NULL: none). */
json_t *provided_json(const struct provider *p);
/* The provider of s, made on its first rpc.provide; NULL on ENOMEM. */
struct provider *broker_provider(struct rpc_session *s);
/* s's connection is gone: its pending calls are answered -32005, its names released. */
void broker_session_gone(struct rpc_session *s);
/* At server free, after every connection closed. */
void broker_free(struct udsrpc_server *srv);

#endif

/* events.h — topics, subscriptions, and server-push notifications (udsrpc(7), "EVENTS"). */
#ifndef UDSRPC_LIB_EVENTS_H
#define UDSRPC_LIB_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct conn;
struct udsrpc_server;
struct udsrpc_peer;

/* A topic subscribers may ask for. Ids are small and reused after removal. */
struct topic {
	char *name;
	char *read_method; /* events published with a key reach only peers allowed this on it */
	unsigned id;
	uint64_t serial; /* unique among the server's topics ever: an id is reused, this never */
	void *owner; /* the providing connection (rpc.provide), NULL for the server's own */
};

struct topics {
	struct topic **v; /* by id; NULL: a free id */
	size_t n;	  /* ids in use or free, v's length */
	size_t count;	  /* topics in use */
	uint64_t serials; /* the last topic's serial */
};

/*
 * The topics a connection subscribed to, a bit per topic id: the first 64
 * in the set itself (an event's walk over the subscribers then reads no
 * other allocation of each: that load was most of the walk's time in
 * tests/bench/fanout.sh), the ids from 64 on in `high`, nhigh words.
 */
struct topic_set {
	uint64_t low;
	uint64_t *high;
	unsigned nhigh;
	unsigned count;
};

void topics_free(struct topics *t);
/* A new topic: 0 and *ret, -EEXIST, -EINVAL (bad name), -ENOMEM. */
int topics_add(struct topics *t, const char *name, const char *read_method, void *owner,
               struct topic **ret);
struct topic *topics_find(const struct topics *t, const char *name);
/* Unsubscribes every connection from it, then frees it. */
void topics_remove(struct udsrpc_server *srv, struct topic *tp);
bool topic_name_valid(const char *name);

bool topic_set_has(const struct topic_set *s, unsigned id);
/* New reference: the names subscribed, in topic id order. */
json_t *events_topics_json(const struct udsrpc_server *srv, const struct topic_set *s);
/* 0, -ENOTCONN (c is closed: it never subscribes again), or -ENOMEM. */
int events_subscribe(struct conn *c, const struct topic *tp);
void events_unsubscribe(struct conn *c, const struct topic *tp);
void events_unsubscribe_all(struct conn *c);
bool events_wanted(const struct udsrpc_server *srv, const struct topic *tp);
/*
 * Send {"jsonrpc":"2.0","method":"event","params":params} to every subscriber
 * of tp that the policy in force lets call events.subscribe (and, with key,
 * only those tp's read_method allows on key). params
 * is stolen. Serialised once for all; a subscriber that does not keep up is
 * disconnected, never waited for. Returns how many got it.
 */
int events_publish(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                   json_t *params);
/* The same for a line already serialised (ending in '\n', borrowed); rev: what it carries. */
int events_publish_line(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                        uint64_t rev, const char *line, size_t len);
/*
 * after_revision: every kept event of the history topic above after that c
 * may see, pushed to c (sent_rev follows), as much as half of
 * max_output_bytes now and the rest by events_replay_more as the output
 * drains (conn_step); meanwhile live events of the topic skip c, which
 * finds them in the history. c must be subscribed already.
 */
void events_replay(struct conn *c, uint64_t after);
void events_replay_more(struct conn *c);
/* The prefix the history topic's events to c are limited to (NULL: none); 0 or -ENOMEM. */
int events_set_prefix(struct conn *c, const char *prefix);
/*
 * The policy changed (server_set_policy): a subscriber the new policy no
 * longer lets call events.subscribe loses every topic (udsrpc(7), "EVENTS").
 * Each event is judged again when sent as well (events_publish).
 */
void events_policy_changed(struct udsrpc_server *srv);
/* The "peer" topic's connect/disconnect event. */
void events_peer(struct udsrpc_server *srv, const struct udsrpc_peer *p, const char *type);
/* The "daemon" topic: type, with extra members (stolen, may be NULL). */
void events_daemon(struct udsrpc_server *srv, const char *type, json_t *extra);

#endif

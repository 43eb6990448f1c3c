/* events.h — topics, subscribers, and server-push notifications (PROTOCOL.md §3). */
#ifndef UDSRPC_EVENTS_H
#define UDSRPC_EVENTS_H

#include <jansson.h>

struct conn;
struct server;
struct peer_ident;

enum {
	EVENTS_CONFIG = 1u << 0,
	EVENTS_PEER = 1u << 1,
	EVENTS_DAEMON = 1u << 2,
};

/* The bit for a topic name, 0 if unknown. */
unsigned events_topic_bit(const char *name);
/* New reference: the topic names of a set of bits, in a fixed order. */
json_t *events_topics_json(unsigned topics);
void events_subscribe(struct conn *c, unsigned topics);
void events_unsubscribe(struct conn *c, unsigned topics);
void events_unsubscribe_all(struct conn *c);
/* True when anyone listens to topic: build the params only then. */
int events_wanted(const struct server *srv, unsigned topic);
/*
 * Send {"jsonrpc":"2.0","method":"event","params":params} to every subscriber
 * of topic. params is stolen. Serialised once for all of them; a subscriber
 * that does not keep up is disconnected, never waited for.
 */
void events_publish(struct server *srv, unsigned topic, json_t *params);
/* The "peer" topic's connect/disconnect event. */
void events_peer(struct server *srv, const struct peer_ident *p, const char *type);
/* The "daemon" topic: type reload/shutdown/log_level, with extra members (stolen, may be NULL). */
void events_daemon(struct server *srv, const char *type, json_t *extra);

#endif

/* events.c — subscriptions and fan-out of event notifications. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "events.h"
#include "log.h"
#include "methods.h"
#include "server.h"

static const struct {
	const char *name;
	unsigned bit;
} events_topics[] = {
	{"config", EVENTS_CONFIG},
	{"peer", EVENTS_PEER},
	{"daemon", EVENTS_DAEMON},
};
#define EVENTS_NTOPICS (sizeof(events_topics) / sizeof(events_topics[0]))

unsigned events_topic_bit(const char *name)
{
	for (size_t i = 0; i < EVENTS_NTOPICS; i++)
		if (strcmp(name, events_topics[i].name) == 0)
			return events_topics[i].bit;
	return 0;
}

json_t *events_topics_json(unsigned topics)
{
	json_t *a = json_array();
	for (size_t i = 0; i < EVENTS_NTOPICS; i++)
		if (topics & events_topics[i].bit)
			json_array_append_new(a, json_string(events_topics[i].name));
	return a;
}

void events_subscribe(struct conn *c, unsigned topics)
{
	if (c->topics == 0 && topics != 0)
		TAILQ_INSERT_TAIL(&c->srv->subscribers, c, sub_link);
	c->topics |= topics;
}

void events_unsubscribe(struct conn *c, unsigned topics)
{
	if (c->topics == 0)
		return;
	c->topics &= ~topics;
	if (c->topics == 0)
		TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
}

void events_unsubscribe_all(struct conn *c)
{
	events_unsubscribe(c, ~0u);
}

int events_wanted(const struct server *srv, unsigned topic)
{
	const struct conn *c;
	TAILQ_FOREACH(c, &srv->subscribers, sub_link)
		if (c->topics & topic)
			return 1;
	return 0;
}

void events_publish(struct server *srv, unsigned topic, json_t *params)
{
	struct conn *c;
	json_t *note;
	char *line;

	if (!events_wanted(srv, topic)) {
		json_decref(params);
		return;
	}
	note = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "event", "params", params);
	line = note ? json_dumps(note, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(note);
	if (!line) {
		log_error("event on topic %u dropped: out of memory", topic);
		return;
	}
	size_t len = strlen(line), n = 0, i;
	line[len] = '\n'; /* json_dumps leaves room only for its NUL: swap it */
	/* A push can disconnect a subscriber, whose "peer" event is published
	 * from inside this loop and can disconnect others: walk a held snapshot. */
	TAILQ_FOREACH(c, &srv->subscribers, sub_link)
		n++;
	struct conn **subs = malloc(n * sizeof(*subs));
	if (!subs) {
		log_error("event on topic %u dropped: out of memory", topic);
		free(line);
		return;
	}
	n = 0;
	TAILQ_FOREACH(c, &srv->subscribers, sub_link) {
		if (c->topics & topic) {
			conn_hold(c);
			subs[n++] = c;
		}
	}
	for (i = 0; i < n; i++)
		conn_push(subs[i], line, len + 1);
	for (i = 0; i < n; i++)
		conn_release(subs[i]);
	free(subs);
	free(line);
}

void events_peer(struct server *srv, const struct peer_ident *p, const char *type)
{
	if (!events_wanted(srv, EVENTS_PEER))
		return;
	json_t *params = json_pack("{s:s,s:s}", "topic", "peer", "type", type);
	json_t *who = methods_peer_json(p);
	json_object_update(params, who);
	json_decref(who);
	events_publish(srv, EVENTS_PEER, params);
}

void events_daemon(struct server *srv, const char *type, json_t *extra)
{
	if (!events_wanted(srv, EVENTS_DAEMON)) {
		json_decref(extra);
		return;
	}
	json_t *params = json_pack("{s:s,s:s}", "topic", "daemon", "type", type);
	if (extra)
		json_object_update(params, extra);
	json_decref(extra);
	events_publish(srv, EVENTS_DAEMON, params);
}

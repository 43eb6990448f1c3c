/* events.c — topics, subscriptions, and the fan-out of event notifications. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "events.h"
#include "export.h"
#include "log.h"
#include "policy.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"
#include "jsonnum.h"

bool topic_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void topic_free(struct topic *tp)
{
	if (tp) {
		free(tp->name);
		free(tp->read_method);
		free(tp);
	}
}

void topics_free(struct topics *t)
{
	for (size_t i = 0; i < t->n; i++)
		topic_free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct topic *topics_find(const struct topics *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] && strcmp(t->v[i]->name, name) == 0)
			return t->v[i];
	return NULL;
}

int topics_add(struct topics *t, const char *name, const char *read_method, void *owner,
               struct topic **ret)
{
	struct topic *tp;
	size_t id;

	if (!topic_name_valid(name))
		return -EINVAL;
	if (topics_find(t, name))
		return -EEXIST;
	for (id = 0; id < t->n && t->v[id]; id++)
		;
	if (id == t->n) {
		struct topic **v = realloc(t->v, (t->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->v[t->n++] = NULL;
	}
	if (!(tp = calloc(1, sizeof(*tp))) || !(tp->name = strdup(name)) ||
	    (read_method && !(tp->read_method = strdup(read_method)))) {
		topic_free(tp);
		return -ENOMEM;
	}
	tp->id = (unsigned)id;
	tp->owner = owner;
	t->v[id] = tp;
	t->count++;
	if (ret)
		*ret = tp;
	return 0;
}

void topics_remove(struct udsrpc_server *srv, struct topic *tp)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&srv->subscribers); c; c = next) {
		next = TAILQ_NEXT(c, sub_link);
		events_unsubscribe(c, tp);
	}
	srv->topics.v[tp->id] = NULL;
	srv->topics.count--;
	topic_free(tp);
}

bool topic_set_has(const struct topic_set *s, unsigned id)
{
	return id / 64 < s->words && (s->bits[id / 64] >> (id % 64) & 1);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *events_topics_json(const struct udsrpc_server *srv, const struct topic_set *s)
{
	const char **names = malloc((s->count + 1) * sizeof(*names));
	json_t *a = json_array();
	size_t n = 0;

	if (!names || !a) {
		free(names);
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < srv->topics.n && n < s->count; i++)
		if (srv->topics.v[i] && topic_set_has(s, (unsigned)i))
			names[n++] = srv->topics.v[i]->name;
	/* By name: an order that does not depend on when topics were declared. */
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	free(names);
	return a;
}

int events_subscribe(struct conn *c, const struct topic *tp)
{
	struct topic_set *s = &c->topics;
	unsigned w = tp->id / 64;

	/*
	 * A batch keeps running after its connection was closed under it (event
	 * overflow): a closed connection is off the subscriber list for good,
	 * and putting it back would leave it there after it is freed.
	 */
	if (c->closed)
		return -ENOTCONN;
	if (topic_set_has(s, tp->id))
		return 0;
	if (w >= s->words) {
		uint64_t *bits = realloc(s->bits, (w + 1) * sizeof(*bits));
		if (!bits)
			return -ENOMEM;
		memset(bits + s->words, 0, (w + 1 - s->words) * sizeof(*bits));
		s->bits = bits;
		s->words = w + 1;
	}
	if (s->count++ == 0) {
		TAILQ_INSERT_TAIL(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers++;
	}
	s->bits[w] |= 1ull << (tp->id % 64);
	return 0;
}

void events_unsubscribe(struct conn *c, const struct topic *tp)
{
	struct topic_set *s = &c->topics;

	if (!topic_set_has(s, tp->id))
		return;
	s->bits[tp->id / 64] &= ~(1ull << (tp->id % 64));
	if (--s->count == 0) {
		TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers--;
	}
}

void events_unsubscribe_all(struct conn *c)
{
	struct topic_set *s = &c->topics;

	if (s->count) {
		TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers--;
	}
	free(s->bits);
	memset(s, 0, sizeof(*s));
}

bool events_wanted(const struct udsrpc_server *srv, const struct topic *tp)
{
	const struct conn *c;
	TAILQ_FOREACH(c, &srv->subscribers, sub_link)
		if (topic_set_has(&c->topics, tp->id))
			return true;
	return false;
}

/*
 * The methods that judge who sees an event, looked up once per event:
 * subscribing at all, and (with a key) reading that key.
 */
struct events_judges {
	struct method_entry *subscribe;
	struct method_entry *read; /* tp's read_method, when registered */
};

static void events_judges(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                          struct events_judges *ret)
{
	static const char sub[] = "events.subscribe";

	ret->subscribe = registry_find(&srv->reg, sub, sizeof(sub) - 1);
	ret->read = key && tp && tp->read_method
	                ? registry_find(&srv->reg, tp->read_method, strlen(tp->read_method))
	                : NULL;
}

/* What the policy says of c calling method (entry e when registered) on key. */
static bool events_judge(struct conn *c, struct method_entry *e, const char *method,
                         const char *key)
{
	return e ? rpc_allowed(&c->rpc, e, key) : policy_allows(c->srv->policy, &c->peer, method, key);
}

/*
 * May c see an event on key of tp, under the policy in force now? A
 * subscription is no licence of its own: the peer must still be one that
 * may subscribe, and may read the key. Verdicts come from the connection's
 * cache, which a new policy empties.
 */
static bool events_may_see(struct conn *c, const struct topic *tp, const char *key,
                           const struct events_judges *j)
{
	if (!events_judge(c, j->subscribe, "events.subscribe", NULL))
		return false;
	if (!key || !tp->read_method)
		return true;
	return events_judge(c, j->read, tp->read_method, key);
}

void events_policy_changed(struct udsrpc_server *srv)
{
	struct events_judges j;
	struct conn *c, *next;

	events_judges(srv, NULL, NULL, &j);
	for (c = TAILQ_FIRST(&srv->subscribers); c; c = next) {
		next = TAILQ_NEXT(c, sub_link);
		if (events_judge(c, j.subscribe, "events.subscribe", NULL))
			continue;
		log_info(srv, "policy: uid %u pid %d (connection %llu) may no longer subscribe: "
		         "its %u topic(s) dropped", (unsigned)c->peer.uid, (int)c->peer.pid,
		         c->peer.id, c->topics.count);
		events_unsubscribe_all(c);
	}
}

int events_publish(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                   json_t *params)
{
	struct conn *c;
	json_t *note;
	char *line;

	if (!events_wanted(srv, tp)) {
		json_decref(params);
		return 0;
	}
	note = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "event", "params", params);
	line = note ? jsonnum_dumps(note, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(note);
	if (!line) {
		log_error(srv, "event on topic %s dropped: out of memory", tp->name);
		return -ENOMEM;
	}
	size_t len = strlen(line), n, i;
	line[len] = '\n'; /* json_dumps leaves room only for its NUL: swap it */
	/* A push can disconnect a subscriber, whose "peer" event is published
	 * from inside this loop and can disconnect others: walk a held snapshot. */
	struct conn **subs = malloc(srv->nsubscribers * sizeof(*subs));
	if (!subs) {
		log_error(srv, "event on topic %s dropped: out of memory", tp->name);
		free(line);
		return -ENOMEM;
	}
	struct events_judges j;
	events_judges(srv, tp, key, &j);
	n = 0;
	TAILQ_FOREACH(c, &srv->subscribers, sub_link) {
		if (topic_set_has(&c->topics, tp->id) && events_may_see(c, tp, key, &j)) {
			conn_hold(c);
			subs[n++] = c;
		}
	}
	int reached = 0;
	for (i = 0; i < n; i++)
		reached += conn_push(subs[i], line, len + 1);
	for (i = 0; i < n; i++)
		conn_release(subs[i]);
	free(subs);
	free(line);
	return reached;
}

/* {"topic":name} followed by event's members (stolen); the topic is ours to say. */
static json_t *events_params(const char *name, json_t *event)
{
	json_t *params = json_pack("{s:s}", "topic", name);
	if (params && (json_object_update(params, event) < 0 ||
	               json_object_set_new(params, "topic", json_string(name)) < 0)) {
		json_decref(params);
		params = NULL;
	}
	json_decref(event);
	return params;
}

void events_peer(struct udsrpc_server *srv, const struct udsrpc_peer *p, const char *type)
{
	struct topic *tp = topics_find(&srv->topics, "peer");

	if (!tp || !events_wanted(srv, tp))
		return;
	json_t *ev = udsrpc_peer_json(p);
	/* "type" first, as it has always come. */
	json_t *head = json_pack("{s:s}", "type", type);
	if (head && ev)
		json_object_update(head, ev);
	json_decref(ev);
	events_publish(srv, tp, NULL, events_params("peer", head));
}

void events_daemon(struct udsrpc_server *srv, const char *type, json_t *extra)
{
	struct topic *tp = topics_find(&srv->topics, "daemon");

	if (!tp || !events_wanted(srv, tp)) {
		json_decref(extra);
		return;
	}
	json_t *ev = json_pack("{s:s}", "type", type);
	if (ev && extra)
		json_object_update(ev, extra);
	json_decref(extra);
	events_publish(srv, tp, NULL, events_params("daemon", ev));
}

/* ---- the public face ------------------------------------------------------ */

UDSRPC_EXPORT int udsrpc_server_add_topic(struct udsrpc_server *srv, const char *topic,
                                          const char *read_method)
{
	return topics_add(&srv->topics, topic, read_method, NULL, NULL);
}

UDSRPC_EXPORT bool udsrpc_server_wanted(const struct udsrpc_server *srv, const char *topic)
{
	const struct topic *tp = topics_find(&srv->topics, topic);
	return tp && events_wanted(srv, tp);
}

UDSRPC_EXPORT int udsrpc_server_publish_keyed(struct udsrpc_server *srv, const char *topic,
                                              const char *key, json_t *event)
{
	const struct topic *tp = topics_find(&srv->topics, topic);

	if (!tp) {
		json_decref(event);
		return -ENOENT;
	}
	if (!json_is_object(event)) {
		json_decref(event);
		return -EINVAL;
	}
	if (!events_wanted(srv, tp)) {
		json_decref(event);
		return 0;
	}
	json_t *params = events_params(tp->name, event);
	if (!params)
		return -ENOMEM;
	return events_publish(srv, tp, key, params);
}

UDSRPC_EXPORT int udsrpc_server_publish(struct udsrpc_server *srv, const char *topic,
                                        json_t *event)
{
	return udsrpc_server_publish_keyed(srv, topic, NULL, event);
}

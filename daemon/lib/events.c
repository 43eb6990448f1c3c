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
	tp->serial = ++t->serials;
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
	if (srv->history_topic == tp)
		udsrpc_server_set_history(srv, tp->name, NULL, NULL);
	srv->topics.v[tp->id] = NULL;
	srv->topics.count--;
	topic_free(tp);
}

bool topic_set_has(const struct topic_set *s, unsigned id)
{
	if (id < 64)
		return s->low >> id & 1;
	return id / 64 - 1 < s->nhigh && (s->high[id / 64 - 1] >> (id % 64) & 1);
}

/* The word that holds id's bit, when there is one. */
static uint64_t *topic_set_word(struct topic_set *s, unsigned id)
{
	return id < 64 ? &s->low : id / 64 - 1 < s->nhigh ? &s->high[id / 64 - 1] : NULL;
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

	/*
	 * A batch keeps running after its connection was closed under it (event
	 * overflow): a closed connection is off the subscriber list for good,
	 * and putting it back would leave it there after it is freed.
	 */
	if (c->closed || c->overflowed)
		return -ENOTCONN;
	if (topic_set_has(s, tp->id))
		return 0;
	if (!topic_set_word(s, tp->id)) {
		unsigned n = tp->id / 64; /* words from 64 on up to tp's */
		uint64_t *high = realloc(s->high, n * sizeof(*high));
		if (!high)
			return -ENOMEM;
		memset(high + s->nhigh, 0, (n - s->nhigh) * sizeof(*high));
		s->high = high;
		s->nhigh = n;
	}
	if (s->count++ == 0) {
		/*
		 * Next to the other subscribers of its process (the same peer
		 * pid), as events are written in this order: a process holding
		 * many subscriptions on one epoll is then woken once for its run
		 * of writes instead of for nearly each, when its connections came
		 * in interleaved with others'. On the 2-CPU VM that took the
		 * kernel's part of a write from about 3.7 to 2.2 µs
		 * (tests/bench/fanout_floor -i -h against -h) and fanout.sh's half
		 * row from 3.8 to 2.3 µs per event. Across connections no order
		 * is promised; each one's own is unchanged. The walk from the
		 * tail is once per subscribing connection, not per event.
		 */
		struct conn *same = TAILQ_LAST(&c->srv->subscribers, conn_list);
		while (same && same->peer.pid != c->peer.pid)
			same = TAILQ_PREV(same, conn_list, sub_link);
		if (same)
			TAILQ_INSERT_AFTER(&c->srv->subscribers, same, c, sub_link);
		else
			TAILQ_INSERT_TAIL(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers++;
		c->srv->sub_runs++;
	}
	*topic_set_word(s, tp->id) |= 1ull << (tp->id % 64);
	return 0;
}

void events_unsubscribe(struct conn *c, const struct topic *tp)
{
	struct topic_set *s = &c->topics;

	if (!topic_set_has(s, tp->id))
		return;
	*topic_set_word(s, tp->id) &= ~(1ull << (tp->id % 64));
	if (tp == c->srv->history_topic)
		c->replaying = false;
	if (--s->count == 0) {
		TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers--;
		c->srv->sub_runs++;
	}
}

void events_unsubscribe_all(struct conn *c)
{
	struct topic_set *s = &c->topics;

	if (s->count) {
		TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
		c->srv->nsubscribers--;
		c->srv->sub_runs++;
	}
	free(s->high);
	memset(s, 0, sizeof(*s));
	free(c->sub_prefix);
	c->sub_prefix = NULL;
	c->replaying = false;
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
	uint64_t gen;              /* srv->verdict_gen, the policy's */
	bool keyed;                /* a key, and a read_method to judge it by */
};

static void events_judges(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                          struct events_judges *ret)
{
	static const char sub[] = "events.subscribe";

	ret->subscribe = registry_find(&srv->reg, sub, sizeof(sub) - 1);
	ret->keyed = key && tp && tp->read_method;
	ret->read = ret->keyed ? registry_find(&srv->reg, tp->read_method, strlen(tp->read_method))
	                       : NULL;
	ret->gen = srv->verdict_gen;
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

/*
 * The key verdicts of one event by plan class (struct conn's see_class):
 * subscribers of one kind (one process's, one uid's) have plans alike, and
 * the key's globs are matched once for them all. A few kinds at most in
 * practice; past EVENTS_MEMO, matched each.
 */
#define EVENTS_MEMO 8
struct events_memo {
	unsigned n;
	unsigned last; /* the entry found last: a class comes in runs (a process's subscribers) */
	struct {
		uint64_t cls;
		bool allow;
	} v[EVENTS_MEMO];
};

static bool events_plan_allows(struct events_memo *m, const struct conn *c, const char *key)
{
	if (m->n && m->v[m->last].cls == c->see_class)
		return m->v[m->last].allow;
	for (unsigned i = 0; i < m->n; i++)
		if (m->v[i].cls == c->see_class) {
			m->last = i;
			return m->v[i].allow;
		}
	bool allow = policy_plan_allows(c->see_plan, key);
	if (m->n < EVENTS_MEMO) {
		m->v[m->n].cls = c->see_class;
		m->v[m->n].allow = allow;
		m->last = m->n++;
	}
	return allow;
}

/*
 * The class of c's new plan for tp: that of the subscriber before it when
 * their plans are the same (a process's subscribers are next to each other,
 * events_subscribe), else a new one. Equal classes mean equal plans, so an
 * event compares a number per subscriber, not plans (policy_plan_same, as
 * many instructions again as the rest of a rejected subscriber's walk in
 * tests/bench/fanout.sh's half row). Never reused, in the whole process.
 */
static uint64_t events_plan_class(const struct conn *c, const struct topic *tp,
                                  const struct policy_plan *plan)
{
	static uint64_t classes;
	const struct conn *p = TAILQ_PREV(c, conn_list, sub_link);

	if (p && p->see_valid && p->see_gen == c->srv->verdict_gen && p->see_serial == tp->serial &&
	    p->see_plan && policy_plan_same(p->see_plan, plan))
		return p->see_class;
	return __atomic_add_fetch(&classes, 1, __ATOMIC_RELAXED);
}

/*
 * c's verdicts for tp made again under the policy in force (struct conn's
 * see_*); false when out of memory.
 */
static bool events_see_remake(struct conn *c, const struct topic *tp)
{
	struct udsrpc_server *srv = c->srv;
	struct policy_plan *plan = NULL;

	srv->sub_runs++; /* a run it is in may end here now */
	free(c->see_plan); /* unread: it borrows an old policy's globs */
	c->see_plan = NULL;
	c->see_valid = false;
	if (tp->read_method && !(plan = policy_plan_new(srv->policy, &c->peer, tp->read_method)))
		return false;
	c->see_sub = policy_allows(srv->policy, &c->peer, "events.subscribe", NULL);
	c->see_read = plan && policy_plan_allows(plan, NULL);
	if (plan && !policy_plan_keyless(plan)) {
		c->see_plan = plan;
		c->see_class = events_plan_class(c, tp, plan);
	} else {
		free(plan);
	}
	c->see_gen = srv->verdict_gen;
	c->see_serial = tp->serial;
	c->see_valid = true;
	return true;
}

/*
 * events_may_see for a live event, from the verdicts c keeps for tp under
 * the policy in force (struct conn's see_*): made again only when the
 * policy (verdict_gen: every reload or change of methods) or the topic
 * changed, so that an event costs a subscriber two compares and, for a
 * peer whose rules look at keys, the key globs of its plan. The same
 * verdicts as events_may_see's: a plan decides as policy_allows does, and
 * rpc_allowed's cache gives policy_allows' answer. Out of memory: that way.
 */
static bool events_see(struct conn *c, const struct topic *tp, const char *key,
                       const struct events_judges *j, struct events_memo *m)
{
	if ((!c->see_valid || c->see_gen != j->gen || c->see_serial != tp->serial) &&
	    !events_see_remake(c, tp))
		return events_may_see(c, tp, key, j);
	if (!c->see_sub)
		return false;
	if (!j->keyed)
		return true;
	return c->see_plan ? events_plan_allows(m, c, key) : c->see_read;
}

/*
 * c was refused by its plan (see_sub, a key): so is every subscriber after
 * it of its class with verdicts as fresh, whatever else they are, and the
 * walk jumps them. The last of them, found once while the list and the
 * verdicts stay as they are (sub_runs): in tests/bench/fanout.sh's half
 * row the refused half is a run of a hundred per process.
 */
static struct conn *events_run_end(struct conn *c, const struct topic *tp,
                                   const struct events_judges *j)
{
	struct udsrpc_server *srv = c->srv;

	if (c->see_run_end && c->see_run_gen == srv->sub_runs)
		return c->see_run_end;
	struct conn *end = c, *n;
	while ((n = TAILQ_NEXT(end, sub_link)) && n->see_valid && n->see_gen == j->gen &&
	       n->see_serial == tp->serial && n->see_plan && n->see_class == c->see_class)
		end = n;
	c->see_run_end = end;
	c->see_run_gen = srv->sub_runs;
	return end;
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

/* The history topic's prefix (udsrpc_server_set_history) lets key through? */
static bool events_prefix_ok(const struct conn *c, const struct topic *tp, const char *key)
{
	return !c->sub_prefix || tp != c->srv->history_topic ||
	       (key && strncmp(key, c->sub_prefix, strlen(c->sub_prefix)) == 0);
}

int events_publish(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                   json_t *params)
{
	json_t *note;
	char *line;

	if (!events_wanted(srv, tp)) {
		json_decref(params);
		return 0;
	}
	uint64_t rev = tp == srv->history_topic
	                   ? (uint64_t)json_integer_value(json_object_get(params, "revision"))
	                   : 0;
	note = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "event", "params", params);
	line = note ? jsonnum_dumps(note, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(note);
	if (!line) {
		log_error(srv, "event on topic %s dropped: out of memory", tp->name);
		return -ENOMEM;
	}
	size_t len = strlen(line);
	line[len] = '\n'; /* json_dumps leaves room only for its NUL: swap it */
	int reached = events_publish_line(srv, tp, key, rev, line, len + 1);
	free(line);
	return reached;
}

int events_publish_line(struct udsrpc_server *srv, const struct topic *tp, const char *key,
                        uint64_t rev, const char *line, size_t len)
{
	struct conn *c;
	size_t n = 0, i;

	/*
	 * Held as the walk goes (conn_push_held calls nothing back); the rest,
	 * whose push can disconnect a subscriber, whose "peer" event is
	 * published from inside and can disconnect others, after it, from a
	 * held snapshot of them.
	 */
	struct conn **subs = malloc((srv->nsubscribers ? srv->nsubscribers : 1) * sizeof(*subs));
	if (!subs) {
		log_error(srv, "event on topic %s dropped: out of memory", tp->name);
		return -ENOMEM;
	}
	struct events_judges j;
	struct events_memo memo = {.n = 0};
	events_judges(srv, tp, key, &j);
	int reached = 0;
	struct conn_line *sl = NULL; /* made once, shared by those it waits in */
	/* Per subscriber only what differs between them (a thousand of them per event). */
	const bool hist = tp == srv->history_topic;
	const unsigned id = tp->id;
	uint64_t outer = srv->pushing_rev; /* a nested publish ("peer") keeps it */
	if (hist)
		srv->pushing_rev = rev;
	TAILQ_FOREACH(c, &srv->subscribers, sub_link) {
		if (!topic_set_has(&c->topics, id))
			continue;
		/* One still replaying gets this one from the history, in its turn. */
		if (hist && (c->replaying || !events_prefix_ok(c, tp, key)))
			continue;
		if (!events_see(c, tp, key, &j, &memo)) {
			if (c->see_valid && c->see_sub && c->see_plan && j.keyed)
				c = events_run_end(c, tp, &j);
			continue;
		}
		if (conn_push_held(c, &sl, line, len)) {
			reached++;
			if (hist)
				c->sent_rev = rev;
		} else {
			conn_hold(c);
			subs[n++] = c;
		}
	}
	for (i = 0; i < n; i++) {
		if (conn_push(subs[i], line, len)) {
			reached++;
			if (hist)
				subs[i]->sent_rev = rev;
		}
	}
	srv->pushing_rev = outer;
	for (i = 0; i < n; i++)
		conn_release(subs[i]);
	conn_line_unref(sl);
	free(subs);
	return reached;
}

/*
 * One kept event for a resuming subscriber, filtered as a live one would
 * be. Up to half of max_output_bytes at a time (the low-water mark), so a
 * long history goes out at the reader's pace instead of overflowing it;
 * stopping only between revisions, so the cursor says "all of these".
 */
struct events_replaying {
	struct conn *c;
	struct events_judges j;
};

static int events_replay_one(void *ctx, const char *key, uint64_t rev, const char *line,
                             size_t len)
{
	struct events_replaying *er = ctx;
	struct conn *c = er->c;
	const struct topic *tp = c->srv->history_topic;

	if (c->closed || c->overflowed)
		return 1;
	if (rev != c->replay_cursor && conn_unsent(c) >= c->srv->limits.max_output_bytes / 2)
		return 1;
	c->replay_cursor = rev;
	if (events_prefix_ok(c, tp, key) && events_may_see(c, tp, key, &er->j)) {
		uint64_t outer = c->srv->pushing_rev;
		c->srv->pushing_rev = rev;
		if (conn_push(c, line, len))
			c->sent_rev = rev;
		c->srv->pushing_rev = outer;
	}
	return 0;
}

void events_replay_more(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;
	struct events_replaying er = {.c = c};
	uint64_t rev = 0;
	int r;

	/* The judges once for the walk: every event of the topic has a key. */
	events_judges(srv, srv->history_topic, "", &er.j);
	conn_hold(c);
	r = srv->history_fn(srv->history_arg, c->replay_cursor, events_replay_one, &er, &rev);
	if (r == -ESTALE && !c->closed && !c->overflowed)
		conn_overflow(c); /* so slow that the history moved on: it resumes, and hears -32015 */
	else if (r == 0)
		c->replaying = false; /* caught up: from now on the live events */
	conn_release(c);
}

void events_replay(struct conn *c, uint64_t after)
{
	c->sent_rev = after;
	c->replay_cursor = after;
	c->replaying = true;
	events_replay_more(c);
}

int events_set_prefix(struct conn *c, const char *prefix)
{
	char *p = prefix ? strdup(prefix) : NULL;

	if (prefix && !p)
		return -ENOMEM;
	free(c->sub_prefix);
	c->sub_prefix = p;
	return 0;
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

UDSRPC_EXPORT int udsrpc_server_set_history(struct udsrpc_server *srv, const char *topic,
                                            udsrpc_history_fn fn, void *arg)
{
	const struct topic *tp = topics_find(&srv->topics, topic);

	if (!tp)
		return -ENOENT;
	srv->history_topic = fn ? tp : NULL;
	srv->history_fn = fn;
	srv->history_arg = arg;
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_publish_line(struct udsrpc_server *srv, const char *topic,
                                             const char *key, uint64_t revision, const char *line,
                                             size_t len)
{
	const struct topic *tp = topics_find(&srv->topics, topic);

	if (!tp)
		return -ENOENT;
	return events_wanted(srv, tp) ? events_publish_line(srv, tp, key, revision, line, len) : 0;
}

UDSRPC_EXPORT int udsrpc_server_publish(struct udsrpc_server *srv, const char *topic,
                                        json_t *event)
{
	return udsrpc_server_publish_keyed(srv, topic, NULL, event);
}

/* events.c — the events.* methods: subscribe and unsubscribe this connection. */
#include <errno.h>
#include <stdio.h>

#include <udsrpc/udsrpc.h>

#include "call.h"
#include "conn.h"
#include "events.h"
#include "methods.h"
#include "rpc.h"
#include "server.h"

/* The calling connection (a built-in reaches past the public API to its own state). */
static struct conn *events_conn(const struct udsrpc_call *c)
{
	return c->session->owner;
}

/* The topics of params, all known: 0, or answered with -32602 naming the first unknown one. */
static int events_lookup(struct udsrpc_call *c, const json_t *topics, const struct topic **ret)
{
	struct udsrpc_server *srv = udsrpc_call_server(c);
	size_t i;
	const json_t *t;

	json_array_foreach(topics, i, t) {
		const struct topic *tp = topics_find(&srv->topics, json_string_value(t));
		if (!tp) {
			char path[32], reason[200];
			snprintf(path, sizeof(path), "/topics/%zu", i);
			snprintf(reason, sizeof(reason), "unknown topic '%.128s'", json_string_value(t));
			udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
			                  json_pack("{s:s,s:s}", "path", path, "reason", reason));
			return -1;
		}
		ret[i] = tp;
	}
	return 0;
}

/*
 * prefix and after_revision belong to the history topic (server.h,
 * udsrpc_server_set_history): -32602 naming the member without it among
 * topics; with after_revision older than the history, -32015 and nothing
 * subscribed. Returns whether the history topic is among them.
 */
static int events_history_check(struct udsrpc_call *c, const struct topic **tp, size_t n,
                                const json_t *params, uint64_t *ret_revision)
{
	struct udsrpc_server *srv = udsrpc_call_server(c);
	const json_t *after = json_object_get(params, "after_revision");
	const char *member = after ? "after_revision" : "prefix";
	bool hist = false;
	int r;

	for (size_t i = 0; i < n; i++)
		hist |= srv->history_topic && tp[i] == srv->history_topic;
	if ((after || json_object_get(params, "prefix")) && !hist) {
		char path[32], reason[200];
		snprintf(path, sizeof(path), "/%s", member);
		snprintf(reason, sizeof(reason), "%s needs the topic %.128s among topics", member,
		         srv->history_topic ? srv->history_topic->name : "with a history");
		udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
		                  json_pack("{s:s,s:s}", "path", path, "reason", reason));
		return -EINVAL;
	}
	if (!srv->history_fn)
		return 0;
	r = srv->history_fn(srv->history_arg, after ? (uint64_t)json_integer_value(after) : UINT64_MAX,
	                    NULL, NULL, ret_revision);
	if (r == -ESTALE && after) {
		udsrpc_call_error(c, UDSRPC_HISTORY_COMPACTED, NULL,
		                  json_pack("{s:I}", "compact_revision", (json_int_t)*ret_revision));
		return r;
	}
	if (r < 0) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return r;
	}
	return hist;
}

void builtin_events_subscribe(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct conn *conn = events_conn(c);
	const json_t *topics = json_object_get(params, "topics");
	const json_t *after = json_object_get(params, "after_revision");
	size_t n = json_array_size(topics);
	const struct topic *tp[n ? n : 1];
	uint64_t revision = 0;
	int hist;

	if (!conn) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	if (events_lookup(c, topics, tp) < 0 ||
	    (hist = events_history_check(c, tp, n, params, &revision)) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (events_subscribe(conn, tp[i]) < 0) {
			udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
			return;
		}
	}
	if (hist) {
		if (events_set_prefix(conn, json_string_value(json_object_get(params, "prefix"))) < 0) {
			udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
			return;
		}
		conn->sent_rev = revision;
	}
	json_t *res = json_pack("{s:o}", "topics", events_topics_json(conn->srv, &conn->topics));
	if (res && conn->srv->history_fn)
		json_object_set_new(res, "revision", json_integer((json_int_t)revision));
	/* The answer, then the kept events, then the live ones: all in this
	 * step of the loop, so no change is published between replay and
	 * subscription. */
	udsrpc_call_result(c, res);
	if (hist && after)
		events_replay(conn, (uint64_t)json_integer_value(after));
	else if (hist)
		conn->replaying = false; /* a subscribe without after_revision: live from now */
}

void builtin_events_unsubscribe(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct conn *conn = events_conn(c);
	const json_t *topics = json_object_get(params, "topics");
	size_t n = json_array_size(topics);
	const struct topic *tp[n ? n : 1];

	if (!conn) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	if (!topics) {
		events_unsubscribe_all(conn);
	} else {
		if (events_lookup(c, topics, tp) < 0)
			return;
		for (size_t i = 0; i < n; i++)
			events_unsubscribe(conn, tp[i]);
	}
	udsrpc_call_result(c, json_pack("{s:o}", "topics", events_topics_json(conn->srv, &conn->topics)));
}

/* events.publish: a provider's event on a topic it declared (udsrpc(7), "PROVIDERS"). */
void builtin_events_publish(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct conn *conn = events_conn(c);
	const char *name = json_string_value(json_object_get(params, "topic"));
	const struct topic *tp = conn ? topics_find(&conn->srv->topics, name) : NULL;

	(void)userdata;
	if (!tp || tp->owner != conn) {
		char reason[200];
		snprintf(reason, sizeof(reason), "'%.128s' is not a topic this connection provides", name);
		udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
		                  json_pack("{s:s,s:s}", "path", "/topic", "reason", reason));
		return;
	}
	json_t *ev = json_pack("{s:s,s:s,s:O}", "topic", tp->name, "type", "publish", "event",
	                       json_object_get(params, "event"));
	int n = ev ? events_publish(conn->srv, tp, NULL, ev) : -1;
	if (n < 0)
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
	else
		udsrpc_call_result(c, json_pack("{s:i}", "subscribers", n));
}

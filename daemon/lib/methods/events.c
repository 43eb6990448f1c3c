/* events.c — the events.* methods: subscribe and unsubscribe this connection. */
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

void builtin_events_subscribe(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct conn *conn = events_conn(c);
	const json_t *topics = json_object_get(params, "topics");
	size_t n = json_array_size(topics);
	const struct topic *tp[n ? n : 1];

	if (!conn) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	if (events_lookup(c, topics, tp) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (events_subscribe(conn, tp[i]) < 0) {
			udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
			return;
		}
	}
	udsrpc_call_result(c, json_pack("{s:o}", "topics", events_topics_json(conn->srv, &conn->topics)));
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

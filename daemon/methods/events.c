/* events.c — the events.* methods: subscribe and unsubscribe this connection. */
#include "conn.h"
#include "events.h"
#include "methods.h"
#include "rpc.h"

/* The schema allows only known topic names; unknown ones cannot reach here. */
static unsigned events_bits(const json_t *topics)
{
	unsigned bits = 0;
	size_t i;
	json_t *t;
	json_array_foreach(topics, i, t)
		bits |= events_topic_bit(json_string_value(t));
	return bits;
}

static void events_subscribe_m(struct call *c, json_t *params)
{
	struct conn *conn = call_session(c)->owner;
	events_subscribe(conn, events_bits(json_object_get(params, "topics")));
	call_result(c, json_pack("{s:o}", "topics", events_topics_json(conn->topics)));
}

static void events_unsubscribe_m(struct call *c, json_t *params)
{
	struct conn *conn = call_session(c)->owner;
	const json_t *topics = json_object_get(params, "topics");
	events_unsubscribe(conn, topics ? events_bits(topics) : ~0u);
	call_result(c, json_pack("{s:o}", "topics", events_topics_json(conn->topics)));
}

const struct method method_events_subscribe = {"events.subscribe", events_subscribe_m};
const struct method method_events_unsubscribe = {"events.unsubscribe", events_unsubscribe_m};

/* config.c — the config.* methods over the durable store; writes answer once fsync'd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "events.h"
#include "methods.h"
#include "peer.h"
#include "rpc.h"
#include "rpc_errors.h"
#include "server.h"
#include "store.h"

/* What a write needs after its request is gone: the reply and the event. */
struct config_write {
	struct call *call;
	struct server *srv;
	struct rpc_session *session;
	json_t *value; /* NULL for unset */
	uid_t uid;
	pid_t pid;
	struct store_ack ack; /* the reply, if the committer may send it */
	char key[];
};

/*
 * The key as the method's schema let it through: ConfigKey's pattern and
 * maxLength are the store's key rule, and the validator refuses a string
 * holding U+0000, so nothing here checks it again.
 */
static const char *config_key(const json_t *params)
{
	return json_string_value(json_object_get(params, "key"));
}

static int64_t config_expect(const json_t *params)
{
	const json_t *e = json_object_get(params, "expect_revision");
	return e ? (int64_t)json_integer_value(e) : -1;
}

/*
 * A read pipelined behind this connection's own unanswered write must see
 * it: the write is applied only once durable, so the read waits for it.
 * Reads never wait for other connections' writes.
 */
struct config_wait {
	struct config_wait *next;
	struct call *call;
	json_t *params;
	method_fn *fn;
	uint64_t after; /* run once this many of the session's writes are answered */
};

static bool config_wait_for_writes(struct call *c, json_t *params, method_fn *fn)
{
	struct rpc_session *s = call_session(c);
	struct config_wait *w, **tail;

	if (s->store_writes_done == s->store_writes_sent)
		return false;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->call = call_defer(c))) {
		if (w)
			free(w); /* call_defer answered -32603 */
		else
			call_error(c, RPC_INTERNAL_ERROR, NULL);
		return true;
	}
	w->params = json_incref(params);
	w->fn = fn;
	w->after = s->store_writes_sent;
	for (tail = &s->store_waiters; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	return true;
}

static void config_run_waiters(struct rpc_session *s)
{
	struct config_wait *w;

	/* Writes are answered in submission order, so waiters are ready in list order. */
	while ((w = s->store_waiters) && w->after <= s->store_writes_done) {
		bool last = !w->next;
		s->store_waiters = w->next;
		json_t *params = w->params;
		w->fn(w->call, params);
		json_decref(params);
		free(w);
		/* Completing the last waiting call may have freed a detached session. */
		if (last)
			return;
	}
}

/* The reads proper, run at once or when the writes before them are answered. */
static void config_get_key(struct call *c, const char *key)
{
	int err;
	size_t len;
	const char *item = store_get_item(call_server(c)->store, key, &len, &err);

	if (err == -ENOENT)
		call_error(c, RPC_NOT_FOUND, json_pack("{s:s}", "key", key));
	else if (err)
		call_error(c, RPC_INTERNAL_ERROR, NULL);
	else
		call_result_text(c, item, len);
}

static void config_get_now(struct call *c, json_t *params)
{
	config_get_key(c, config_key(params));
}

static void config_list_now(struct call *c, json_t *params)
{
	const char *prefix = json_string_value(json_object_get(params, "prefix"));
	json_t *items = store_list(call_server(c)->store, prefix);

	if (items)
		call_result(c, json_pack("{s:o}", "items", items));
	else
		call_error(c, RPC_INTERNAL_ERROR, NULL);
}

static void config_get(struct call *c, json_t *params)
{
	const char *key = config_key(params);

	if (config_wait_for_writes(c, params, config_get_now))
		return;
	config_get_key(c, key);
}

static void config_list(struct call *c, json_t *params)
{
	if (!config_wait_for_writes(c, params, config_list_now))
		config_list_now(c, params);
}

#define CONFIG_RESULT_MAX (STORE_KEY_MAX + 48)

/* {"key","revision"} written out: a key needs no escaping, and this runs per durable write. */
static size_t config_result_text(char text[CONFIG_RESULT_MAX], const char *key, uint64_t revision)
{
	static const char head[] = "{\"key\":\"", mid[] = "\",\"revision\":";
	char digits[20];
	size_t n = 0, len = strlen(key), d = 0;

	memcpy(text, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	memcpy(text + n, key, len);
	n += len;
	memcpy(text + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	do
		digits[d++] = (char)('0' + revision % 10);
	while ((revision /= 10));
	while (d)
		text[n++] = digits[--d];
	text[n++] = '}';
	return n;
}

static void config_result(struct call *c, const char *key, uint64_t revision)
{
	char text[CONFIG_RESULT_MAX];

	call_result_text(c, text, config_result_text(text, key, revision));
}

/*
 * The write just queued is its connection's only business: let the store's
 * committer send the reply as soon as it is durable (store.h, store_ack).
 */
static void config_arm_ack(struct config_write *w)
{
	struct conn *conn = w->session->owner;
	struct store *store = w->srv->store;
	char text[CONFIG_RESULT_MAX];
	uint64_t revision;

	/* A session without a connection (unit tests drive rpc alone) has no socket. */
	if (!conn || !conn_ack_ready(conn, w->session) ||
	    !store_ack_arm(store, &w->ack, &revision))
		return;
	w->ack.len = call_reply_line(w->call, text,
				     config_result_text(text, w->key, revision), w->ack.text,
				     sizeof(w->ack.text));
	if (w->ack.len == 0)
		w->ack.state = STORE_ACK_NONE; /* the committer sees it only after this turn */
	else
		conn_ack_arm(conn, &w->ack);
}

static void config_done(void *arg, enum store_status st, uint64_t revision, const char *reason)
{
	struct config_write *w = arg;
	struct rpc_session *session = w->session;
	const char *type = w->value ? "set" : "unset";
	/* Waiting reads hold deferred calls, so with any queued the session
	 * survives this reply; without, it may not, and is not touched after. */
	bool waiters = session->store_waiters != NULL;
	/* Settled whatever the outcome: the connection must not keep a pointer to it. */
	bool acked = w->ack.state != STORE_ACK_NONE && conn_ack_settle(session->owner, &w->ack);

	session->store_writes_done++;

	switch (st) {
	case STORE_OK:
		/* The event first: answering may close the writer's connection, and
		 * its "peer disconnect" must not overtake the change it made. */
		if (events_wanted(w->srv, EVENTS_CONFIG)) {
			json_t *ev = json_pack("{s:s,s:s,s:s,s:I}", "topic", "config", "type", type,
					       "key", w->key, "revision", (json_int_t)revision);
			if (w->value)
				json_object_set(ev, "value", w->value);
			json_object_set_new(ev, "peer",
					    json_pack("{s:I,s:I}", "uid", (json_int_t)w->uid, "pid",
						      (json_int_t)w->pid));
			events_publish(w->srv, EVENTS_CONFIG, ev);
		}
		if (acked)
			call_result_sent(w->call);
		else
			config_result(w->call, w->key, revision);
		break;
	case STORE_CONFLICT:
		call_error(w->call, RPC_CONFLICT,
			   json_pack("{s:s,s:I}", "key", w->key, "revision", (json_int_t)revision));
		break;
	case STORE_NOT_FOUND:
		call_error(w->call, RPC_NOT_FOUND, json_pack("{s:s}", "key", w->key));
		break;
	case STORE_IO_ERROR:
		call_error(w->call, RPC_STORAGE_ERROR,
			   json_pack("{s:s}", "reason", reason ? reason : "write failed"));
		break;
	}
	json_decref(w->value);
	free(w);
	if (waiters)
		config_run_waiters(session);
}

static void config_write(struct call *c, json_t *params, json_t *value)
{
	struct server *srv = call_server(c);
	const struct peer_ident *p = call_peer(c);
	const char *key = config_key(params);
	size_t len = strlen(key);
	struct config_write *w;
	int r;

	w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		call_error(c, RPC_INTERNAL_ERROR, NULL);
		return;
	}
	memcpy(w->key, key, len + 1);
	w->ack.state = STORE_ACK_NONE;
	w->srv = srv;
	w->uid = p->uid;
	w->pid = p->pid;
	w->value = value ? json_incref(value) : NULL;
	w->session = call_session(c);
	if (!(w->call = call_defer(c))) {
		json_decref(w->value);
		free(w);
		return;
	}
	w->session->store_writes_sent++;
	if (value)
		r = store_set(srv->store, w->key, value, config_expect(params), config_done, w);
	else
		r = store_unset(srv->store, w->key, config_expect(params), config_done, w);
	if (r < 0)
		config_done(w, STORE_IO_ERROR, 0, r == -ENOMEM ? "out of memory" : strerror(-r));
	else
		config_arm_ack(w);
}

static void config_set(struct call *c, json_t *params)
{
	config_write(c, params, json_object_get(params, "value"));
}

static void config_unset(struct call *c, json_t *params)
{
	config_write(c, params, NULL);
}

const struct method method_config_get = {"config.get", config_get};
const struct method method_config_list = {"config.list", config_list};
const struct method method_config_set = {"config.set", config_set};
const struct method method_config_unset = {"config.unset", config_unset};

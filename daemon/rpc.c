/*
 * rpc.c — JSON-RPC 2.0 on one connection's lines: parse, envelope, batch,
 * the checks of PROTOCOL.md §2 in their fixed order, dispatch, and replies
 * kept in request order even when a handler completes later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "log.h"
#include "methods.h"
#include "peer.h"
#include "policy.h"
#include "rpc.h"
#include "rpc_errors.h"
#include "schema.h"
#include "server.h"

/* A reply (or a batch's replies) still owed, in the connection's order. */
struct rpc_slot {
	TAILQ_ENTRY(rpc_slot) link;
	unsigned pending;     /* members not yet answered */
	json_t *batch;	      /* batch: the response objects; NULL for a single request */
	struct evbuffer *buf; /* single request: its serialised reply once answered */
};

struct call {
	struct rpc_session *session;
	struct rpc_slot *slot; /* NULL: a single request answered at once */
	size_t index;	       /* position in slot->batch */
	json_t *id;	       /* NULL for a notification; borrowed until deferred */
	int method;	       /* methods_table index, -1 before it is known */
	uint64_t t0;
	bool done;
	bool moved; /* call_defer took it: this stack copy is dead */
	bool heap;
};

const char *rpc_error_message(int code)
{
	switch (code) {
	case RPC_PARSE_ERROR: return "Parse error";
	case RPC_INVALID_REQUEST: return "Invalid Request";
	case RPC_METHOD_NOT_FOUND: return "Method not found";
	case RPC_INVALID_PARAMS: return "Invalid params";
	case RPC_INTERNAL_ERROR: return "Internal error";
	case RPC_PERMISSION_DENIED: return "Permission denied";
	case RPC_REQUEST_TOO_LARGE: return "Request too large";
	case RPC_SERVER_BUSY: return "Server busy";
	case RPC_SHUTTING_DOWN: return "Shutting down";
	case RPC_NOT_FOUND: return "Not found";
	case RPC_CONFLICT: return "Conflict";
	case RPC_STORAGE_ERROR: return "Storage error";
	}
	return "Server error";
}

void rpc_session_init(struct rpc_session *s, struct server *srv, const struct peer_ident *peer,
		      struct evbuffer *out, void *owner)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->peer = peer;
	s->out = out;
	s->owner = owner;
	TAILQ_INIT(&s->slots);
}

/* ---- serialisation ---------------------------------------------------- */

static int rpc_dump_cb(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

static void rpc_dump(struct evbuffer *out, const json_t *v)
{
	/* Integer ids and string results are most of the traffic: skip the
	 * generic encoder's per-call setup for them. */
	if (json_is_integer(v)) {
		char num[24];
		int n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		evbuffer_add(out, num, (size_t)n);
		return;
	}
	json_dump_callback(v, rpc_dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY);
}

#define LIT(s) s, sizeof(s) - 1

void rpc_write_reply(struct evbuffer *out, const json_t *id, const json_t *result, int code,
		     const json_t *data)
{
	/* Written field by field rather than building an envelope object: the
	 * member order is fixed and nothing is allocated. */
	evbuffer_add(out, LIT("{\"jsonrpc\":\"2.0\",\"id\":"));
	if (id)
		rpc_dump(out, id);
	else
		evbuffer_add(out, LIT("null"));
	if (code == 0) {
		evbuffer_add(out, LIT(",\"result\":"));
		rpc_dump(out, result ? result : json_null());
		evbuffer_add(out, LIT("}\n"));
		return;
	}
	evbuffer_add_printf(out, ",\"error\":{\"code\":%d,\"message\":\"%s\"", code,
			    rpc_error_message(code));
	if (data) {
		evbuffer_add(out, LIT(",\"data\":"));
		rpc_dump(out, data);
	}
	evbuffer_add(out, LIT("}}\n"));
}

static json_t *rpc_reply_object(const json_t *id, const json_t *result, int code,
				const json_t *data)
{
	json_t *o = json_object();
	json_object_set_new(o, "jsonrpc", json_string("2.0"));
	json_object_set_new(o, "id", id ? json_incref((json_t *)id) : json_null());
	if (code == 0) {
		json_object_set_new(o, "result", result ? json_incref((json_t *)result) : json_null());
	} else {
		json_t *e = json_pack("{s:i,s:s}", "code", code, "message", rpc_error_message(code));
		if (data)
			json_object_set(e, "data", (json_t *)data);
		json_object_set_new(o, "error", e);
	}
	return o;
}

/* ---- the reply queue -------------------------------------------------- */

static struct rpc_slot *rpc_slot_new(struct rpc_session *s, bool batch)
{
	struct rpc_slot *slot = calloc(1, sizeof(*slot));
	if (!slot)
		return NULL;
	slot->batch = batch ? json_array() : NULL;
	slot->buf = batch ? NULL : evbuffer_new();
	if (batch ? !slot->batch : !slot->buf) {
		free(slot);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&s->slots, slot, link);
	return slot;
}

static void rpc_slot_free(struct rpc_session *s, struct rpc_slot *slot)
{
	TAILQ_REMOVE(&s->slots, slot, link);
	json_decref(slot->batch);
	if (slot->buf)
		evbuffer_free(slot->buf);
	free(slot);
}

/* Move every finished reply at the head of the queue to out. */
static bool rpc_flush(struct rpc_session *s)
{
	struct rpc_slot *slot;
	bool wrote = false;

	while ((slot = TAILQ_FIRST(&s->slots)) && slot->pending == 0) {
		if (!s->detached) {
			if (slot->buf) {
				evbuffer_add_buffer(s->out, slot->buf);
				wrote = true;
			} else if (json_array_size(slot->batch) > 0) {
				/* An all-notification batch leaves an empty array: no reply at all. */
				rpc_dump(s->out, slot->batch);
				evbuffer_add(s->out, "\n", 1);
				wrote = true;
			}
		}
		rpc_slot_free(s, slot);
	}
	return wrote;
}

bool rpc_session_busy(const struct rpc_session *s)
{
	return !TAILQ_EMPTY(&s->slots);
}

bool rpc_session_detach(struct rpc_session *s)
{
	s->detached = true;
	/* Slots with deferred members stay until those complete; the rest go now. */
	struct rpc_slot *slot, *next;
	for (slot = TAILQ_FIRST(&s->slots); slot; slot = next) {
		next = TAILQ_NEXT(slot, link);
		if (slot->pending == 0)
			rpc_slot_free(s, slot);
	}
	return s->deferred == 0;
}

/* Deliver one reply to where its request's answer belongs. */
static void rpc_deliver(struct rpc_session *s, struct rpc_slot *slot, size_t index, const json_t *id,
			const json_t *result, int code, const json_t *data)
{
	if (!slot) {
		if (TAILQ_EMPTY(&s->slots)) {
			if (!s->detached)
				rpc_write_reply(s->out, id, result, code, data);
			return;
		}
		/* Earlier replies are still owed: this one waits its turn. */
		slot = rpc_slot_new(s, false);
		if (!slot)
			return; /* ENOMEM: nothing sane left to send */
		rpc_write_reply(slot->buf, id, result, code, data);
		return;
	}
	if (slot->batch)
		json_array_set_new(slot->batch, index, rpc_reply_object(id, result, code, data));
	else
		rpc_write_reply(slot->buf, id, result, code, data);
	slot->pending--;
}

void rpc_reply_unsolicited(struct rpc_session *s, int code, json_t *data)
{
	/* Counted as a request that failed, so requests.errors <= requests.total. */
	s->requests++;
	s->srv->stats.req_total++;
	s->srv->stats.req_errors++;
	rpc_deliver(s, NULL, 0, NULL, NULL, code, data);
	json_decref(data);
}

/* ---- calls ------------------------------------------------------------ */

static void call_finish(struct call *c, json_t *result, int code, json_t *data)
{
	struct rpc_session *s = c->session;
	struct server *srv = s->srv;

	if (c->done) {
		/* A handler answering twice is a bug; the first answer stands. */
		log_error("internal: method %s answered twice",
			  c->method >= 0 ? methods_table[c->method]->name : "?");
		json_decref(result);
		json_decref(data);
		return;
	}
	c->done = true;
	if (code)
		srv->stats.req_errors++;
	if (code == RPC_PERMISSION_DENIED)
		srv->stats.req_denied++;
	if (c->method >= 0)
		stats_method_record(&srv->method_stats[c->method], clock_now_ns() - c->t0, code);
	if (c->id) /* a notification is never answered, not even with an error */
		rpc_deliver(s, c->slot, c->index, c->id, result, code, data);
	json_decref(result);
	json_decref(data);
	if (!c->heap)
		return;
	json_decref(c->id);
	free(c);
	s->deferred--;
	rpc_flush(s);
	/* Told even when nothing was written (a deferred notification): the
	 * owner may have been waiting for this last call to close. */
	if (s->detached) {
		if (s->deferred == 0 && s->on_release)
			s->on_release(s);
	} else if (s->on_output) {
		s->on_output(s);
	}
}

void call_result(struct call *c, json_t *result)
{
	call_finish(c, result, 0, NULL);
}

void call_error(struct call *c, int code, json_t *data)
{
	call_finish(c, NULL, code, data);
}

struct call *call_defer(struct call *c)
{
	struct rpc_session *s = c->session;
	struct call *h = malloc(sizeof(*h));

	if (!h) {
		call_error(c, RPC_INTERNAL_ERROR, NULL);
		return NULL;
	}
	*h = *c;
	h->heap = true;
	if (h->id) {
		json_incref(h->id);
		if (!h->slot) {
			h->slot = rpc_slot_new(s, false);
			if (!h->slot) {
				json_decref(h->id);
				free(h);
				call_error(c, RPC_INTERNAL_ERROR, NULL);
				return NULL;
			}
			h->slot->pending = 1;
		}
	}
	c->moved = true;
	s->deferred++;
	return h;
}

struct server *call_server(const struct call *c)
{
	return c->session->srv;
}

const struct peer_ident *call_peer(const struct call *c)
{
	return c->session->peer;
}

struct rpc_session *call_session(const struct call *c)
{
	return c->session;
}

/* ---- checks and dispatch ---------------------------------------------- */

static json_t *rpc_reason(const char *fmt, const char *arg)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), fmt, arg);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
	/* A long member name may be cut inside a UTF-8 character, which
	 * json_pack refuses: drop the partial character. */
	size_t start = len;
	while (start > 0 && ((unsigned char)buf[start - 1] & 0xc0) == 0x80)
		start--;
	if (start > 0) {
		unsigned char lead = (unsigned char)buf[start - 1];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (len - (start - 1) < need)
			len = start - 1;
	}
	json_t *data = json_pack("{s:s%}", "reason", buf, len);
	/* NULL would read as "valid envelope": on ENOMEM still refuse the
	 * request, with data null (json_null() allocates nothing). */
	return data ? data : json_null();
}

/* Envelope check: NULL when valid, else the -32600 data. *ret_id is the
 * request's id when it has a valid one (even if the rest is invalid). */
static json_t *rpc_envelope(const json_t *req, json_t **ret_id, bool *ret_has_id)
{
	const char *key, *unknown = NULL;
	json_t *v, *id = NULL, *version = NULL, *method = NULL, *params = NULL;

	*ret_id = NULL;
	*ret_has_id = false;
	if (!json_is_object(req))
		return rpc_reason("%s", "a request must be a JSON object");
	json_object_foreach((json_t *)req, key, v) {
		if (strcmp(key, "id") == 0)
			id = v;
		else if (strcmp(key, "jsonrpc") == 0)
			version = v;
		else if (strcmp(key, "method") == 0)
			method = v;
		else if (strcmp(key, "params") == 0)
			params = v;
		else if (!unknown)
			unknown = key;
	}
	/* The id first: every later error can then carry it. */
	if (id) {
		if (!json_is_string(id) && !json_is_number(id) && !json_is_null(id))
			return rpc_reason("%s", "\"id\" must be a string, a number or null");
		*ret_id = id;
		*ret_has_id = true;
	}
	if (unknown)
		return rpc_reason("unknown member '%s'", unknown);
	if (!version)
		return rpc_reason("%s", "missing \"jsonrpc\": \"2.0\"");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0 ||
	    json_string_length(version) != 3)
		return rpc_reason("%s", "\"jsonrpc\" must be exactly \"2.0\"");
	if (!method)
		return rpc_reason("%s", "missing \"method\"");
	if (!json_is_string(method))
		return rpc_reason("%s", "\"method\" must be a string");
	if (params && !json_is_object(params) && !json_is_array(params))
		return rpc_reason("%s", "\"params\" must be an object or an array");
	return NULL;
}

static void rpc_audit_denial(struct rpc_session *s, int m)
{
	const struct peer_ident *p = s->peer;
	/* Once per (connection, method): a client retrying in a loop must not
	 * flood the log, and the first denial is the one an operator needs. */
	if (m < 64) {
		if (s->denied_seen & (1ull << m))
			return;
		s->denied_seen |= 1ull << m;
	}
	log_warning("denied %s to uid %u gid %u pid %d exe %s", methods_table[m]->name,
		    (unsigned)p->uid, (unsigned)p->gid, (int)p->pid, p->exe ? p->exe : "(unknown)");
}

/* One request object (alone or a batch member). */
static void rpc_dispatch(struct rpc_session *s, json_t *req, struct rpc_slot *slot)
{
	struct server *srv = s->srv;
	struct call c = {.session = s, .slot = slot, .method = -1};
	json_t *id, *data;
	bool has_id;

	s->requests++;
	srv->stats.req_total++;
	data = rpc_envelope(req, &id, &has_id);
	c.t0 = clock_now_ns();
	/* Invalid requests are answered even without an id (spec §5: id null),
	 * so reserve the batch position before knowing what they are. */
	if (data || has_id) {
		c.id = id ? id : json_null();
		if (slot) {
			c.index = json_array_size(slot->batch);
			json_array_append_new(slot->batch, json_null());
			slot->pending++;
		}
	}
	if (data) {
		call_error(&c, RPC_INVALID_REQUEST, data);
		return;
	}
	if (!has_id)
		c.id = NULL;

	const json_t *jm = json_object_get(req, "method");
	const char *name = json_string_value(jm);
	int m = json_string_length(jm) == strlen(name) ? methods_lookup(name) : -1;
	if (m < 0) {
		call_error(&c, RPC_METHOD_NOT_FOUND, json_pack("{s:s%}", "method", name,
							       json_string_length(jm)));
		return;
	}
	c.method = m;
	if (srv->shutting_down) {
		call_error(&c, RPC_SHUTTING_DOWN, NULL);
		return;
	}
	if (!policy_allows(srv->policy, s->peer, name)) {
		rpc_audit_denial(s, m);
		call_error(&c, RPC_PERMISSION_DENIED,
			   json_pack("{s:s,s:I,s:I,s:I}", "method", name, "uid",
				     (json_int_t)s->peer->uid, "gid", (json_int_t)s->peer->gid,
				     "pid", (json_int_t)s->peer->pid));
		return;
	}
	json_t *params = json_object_get(req, "params");
	if (schema_validate_params(srv->method_schemas[m], params, &data) < 0) {
		call_error(&c, RPC_INVALID_PARAMS, data);
		return;
	}
	methods_table[m]->fn(&c, params);
	if (!c.done && !c.moved) {
		log_error("internal: method %s returned without answering", name);
		call_error(&c, RPC_INTERNAL_ERROR, NULL);
	}
}

static void rpc_batch(struct rpc_session *s, json_t *batch)
{
	size_t n = json_array_size(batch);
	unsigned max = s->srv->cfg.limits.max_batch;

	if (n == 0 || n > max) {
		char reason[96];
		if (n == 0)
			snprintf(reason, sizeof(reason), "empty batch");
		else
			snprintf(reason, sizeof(reason), "batch of %zu requests exceeds max_batch %u",
				 n, max);
		rpc_reply_unsolicited(s, RPC_INVALID_REQUEST, json_pack("{s:s}", "reason", reason));
		return;
	}
	struct rpc_slot *slot = rpc_slot_new(s, true);
	if (!slot) {
		rpc_reply_unsolicited(s, RPC_INTERNAL_ERROR, NULL);
		return;
	}
	/* Held while the members run, so a member that completes at once cannot
	 * flush the batch before the later ones have taken their places. */
	slot->pending = 1;
	for (size_t i = 0; i < n; i++)
		rpc_dispatch(s, json_array_get(batch, i), slot);
	slot->pending--;
	rpc_flush(s);
}

void rpc_handle_line(struct rpc_session *s, const char *line, size_t len)
{
	json_error_t err;
	json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);

	if (!doc) {
		/* jansson's position is just past the byte it stopped at. */
		rpc_reply_unsolicited(s, RPC_PARSE_ERROR,
				      json_pack("{s:I}", "offset",
						(json_int_t)(err.position > 0 ? err.position - 1 : 0)));
		return;
	}
	if (json_is_array(doc))
		rpc_batch(s, doc);
	else
		rpc_dispatch(s, doc, NULL);
	json_decref(doc);
}

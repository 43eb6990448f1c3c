/*
 * rpc.c — JSON-RPC 2.0 on one connection's lines: parse, envelope, batch,
 * the checks of udsrpc(7) in their fixed order, dispatch, and replies
 * kept in request order even when a handler completes later.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "broker.h"
#include "bytes.h"
#include "clock.h"
#include "export.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "registry.h"
#include "rpc.h"
#include "schema.h"
#include "server.h"
#include "jsonnum.h"
#include "numpath.h"

/* A reply (or a batch's replies) still owed, in the connection's order. */
struct rpc_slot {
	TAILQ_ENTRY(rpc_slot) link;
	unsigned pending;     /* members not yet answered */
	bool batch;
	/*
	 * A batch: each answered member's reply, serialised as it comes (so its
	 * size is known while the batch runs, and no reply object is kept),
	 * with the line's "\n" that rpc_write ends it with; NULL until answered.
	 */
	struct evbuffer **parts;
	size_t nparts, capparts;
	size_t bytes;         /* a batch: what its parts hold so far */
	struct evbuffer *buf; /* single request: its serialised reply once answered */
	struct spare spare; /* on srv->spare_slots, once released */
};

/*
 * Byte classes for the fast paths: 1 JSON whitespace; 2 may stand in a
 * fast-path request string (printable ASCII but '"' and '\\').
 * Filled once, by rpc_session_init (before any line is handled).
 */
static unsigned char rpc_class[256];
static pthread_once_t rpc_class_once = PTHREAD_ONCE_INIT;

static void rpc_class_fill(void)
{
	rpc_class[' '] = rpc_class['\t'] = rpc_class['\n'] = rpc_class['\r'] = 1;
	for (int c = 0x20; c < 0x7f; c++)
		if (c != '"' && c != '\\')
			rpc_class[c] |= 2;
}

UDSRPC_EXPORT const char *udsrpc_error_message(int code)
{
	switch (code) {
	case UDSRPC_PARSE_ERROR: return "Parse error";
	case UDSRPC_INVALID_REQUEST: return "Invalid Request";
	case UDSRPC_METHOD_NOT_FOUND: return "Method not found";
	case UDSRPC_INVALID_PARAMS: return "Invalid params";
	case UDSRPC_INTERNAL_ERROR: return "Internal error";
	case UDSRPC_PERMISSION_DENIED: return "Permission denied";
	case UDSRPC_REQUEST_TOO_LARGE: return "Request too large";
	case UDSRPC_SERVER_BUSY: return "Server busy";
	case UDSRPC_SHUTTING_DOWN: return "Shutting down";
	case UDSRPC_PROVIDER_UNAVAILABLE: return "Provider unavailable";
	case UDSRPC_PROVIDER_TIMEOUT: return "Provider timeout";
	case UDSRPC_PROVIDER_BUSY: return "Provider busy";
	case UDSRPC_NOT_FOUND: return "Not found";
	case UDSRPC_CONFLICT: return "Conflict";
	case UDSRPC_STORAGE_ERROR: return "Storage error";
	case UDSRPC_NAME_TAKEN: return "Name taken";
	case UDSRPC_QUOTA_EXCEEDED: return "Quota exceeded";
	case UDSRPC_HISTORY_COMPACTED: return "History compacted";
	}
	return "Server error";
}

void rpc_session_init(struct rpc_session *s, struct udsrpc_server *srv,
		      const struct udsrpc_peer *peer, struct evbuffer *out, void *owner)
{
	pthread_once(&rpc_class_once, rpc_class_fill);
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->peer = peer;
	s->out = out;
	s->owner = owner;
	TAILQ_INIT(&s->slots);
	TAILQ_INIT(&s->pending);
}

static void rpc_plans_free(struct rpc_session *s)
{
	for (unsigned i = 0; i < s->nplans; i++)
		free(s->plans[i].plan);
	free(s->plans);
	s->plans = NULL;
	s->nplans = 0;
}

void rpc_session_free(struct rpc_session *s)
{
	rpc_plans_free(s);
	free(s->verdicts);
	free(s->caller_text);
	s->caller_text = NULL;
	s->verdicts = NULL;
	s->nverdicts = 0;
}

/* ---- serialisation ---------------------------------------------------- */


/*
 * Replies are written in one pass by jsonnum's writer through its stack
 * buffer, which goes to the evbuffer when full and at the end: a small
 * reply is one evbuffer_add, a large one a few big ones.
 */
#define LIT(s) s, sizeof(s) - 1

static int rpc_out_sink(const char *p, size_t n, void *data)
{
	return evbuffer_add(data, p, n);
}

static void rpc_out_init(struct jsonnum_out *o, struct evbuffer *out)
{
	o->sink = rpc_out_sink;
	o->data = out;
	o->err = false;
	o->len = 0;
}

/* A C string as a JSON string; text that is not UTF-8 is replaced, never written raw. */
static void rpc_out_text_json(struct jsonnum_out *o, const char *text)
{
	json_t *v = json_string(text);
	jsonnum_out_value(o, v ? v : json_string_nocheck("Server error"));
	json_decref(v);
}

/* The fields of one reply line, through o, flushed. */
static void rpc_write_out(struct jsonnum_out *o, const json_t *id, const char *raw_id,
			  size_t raw_id_len, const struct rpc_body *b)
{
	/* Written field by field rather than building an envelope object: the
	 * member order is fixed and nothing is allocated. */
	jsonnum_out_put(o, LIT("{\"jsonrpc\":\"2.0\",\"id\":"));
	if (raw_id)
		jsonnum_out_put(o, raw_id, raw_id_len);
	else
		jsonnum_out_value(o, id ? id : json_null());
	if (b->code == 0) {
		jsonnum_out_put(o, LIT(",\"result\":"));
		if (!b->result && b->text)
			jsonnum_out_put(o, b->text, b->text_len);
		else
			jsonnum_out_value(o, b->result ? b->result : json_null());
		jsonnum_out_put(o, LIT("}\n"));
	} else {
		const char *msg = b->message ? b->message : udsrpc_error_message(b->code);
		jsonnum_out_put(o, LIT(",\"error\":{\"code\":"));
		jsonnum_out_int(o, b->code);
		jsonnum_out_put(o, LIT(",\"message\":"));
		if (jsonnum_plain(msg, strlen(msg)))
			jsonnum_out_string(o, msg, strlen(msg));
		else
			rpc_out_text_json(o, msg);
		if (b->data) {
			jsonnum_out_put(o, LIT(",\"data\":"));
			jsonnum_out_value(o, b->data);
		}
		jsonnum_out_put(o, LIT("}}\n"));
	}
	jsonnum_out_flush(o);
}

/* One reply line; raw_id (the request's id text, fast path) or else id names it. */
void rpc_write(struct evbuffer *out, const json_t *id, const char *raw_id, size_t raw_id_len,
	       const struct rpc_body *b)
{
	struct jsonnum_out o;

	rpc_out_init(&o, out);
	rpc_write_out(&o, id, raw_id, raw_id_len, b);
}

/* The session's sink: the owner's socket while it takes the bytes, then out. */
static int rpc_session_sink(const char *p, size_t n, void *data)
{
	struct rpc_session *s = data;
	size_t done = s->write_now(s, p, n);

	return done == n ? 0 : evbuffer_add(s->out, p + done, n - done);
}

/*
 * A reply nothing owed goes before, to the session's output: straight from
 * jsonnum's stack buffer to the socket when the owner can write it now (a
 * deferred answer, outside the turn's reads), so that the usual reply
 * costs no evbuffer chain, copy and drain on its way out.
 */
static void rpc_write_session(struct rpc_session *s, const json_t *id, const char *raw_id,
			      size_t raw_id_len, const struct rpc_body *b)
{
	struct jsonnum_out o;

	if (!s->write_now) {
		rpc_write(s->out, id, raw_id, raw_id_len, b);
		return;
	}
	o.sink = rpc_session_sink;
	o.data = s;
	o.err = false;
	o.len = 0;
	rpc_write_out(&o, id, raw_id, raw_id_len, b);
}

/* jsonnum's sink into a caller's fixed buffer: a struct rpc_fixed. */
struct rpc_fixed {
	char *buf;
	size_t cap, len;
};

static int rpc_fixed_sink(const char *p, size_t n, void *data)
{
	struct rpc_fixed *f = data;

	if (n > f->cap - f->len)
		return -1;
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

size_t rpc_result_head(char *buf, size_t cap, const json_t *id, const char *raw_id,
		       size_t raw_id_len)
{
	struct rpc_fixed f = {.buf = buf, .cap = cap};
	struct jsonnum_out o;

	/* Field by field: an initializer would zero its 4 KiB buffer too. */
	o.sink = rpc_fixed_sink;
	o.data = &f;
	o.err = false;
	o.len = 0;

	jsonnum_out_put(&o, LIT("{\"jsonrpc\":\"2.0\",\"id\":"));
	if (raw_id)
		jsonnum_out_put(&o, raw_id, raw_id_len);
	else
		jsonnum_out_value(&o, id ? id : json_null());
	jsonnum_out_put(&o, LIT(",\"result\":"));
	jsonnum_out_flush(&o);
	return o.err ? 0 : f.len;
}

json_t *rpc_raw_id_json(const char *raw, size_t len)
{
	if (raw[0] == '"')
		return json_stringn(raw + 1, len - 2);
	if (raw[0] == 'n')
		return json_null();
	return json_integer((json_int_t)strtoll(raw, NULL, 10));
}

/* ---- the reply queue -------------------------------------------------- */

/* Kept for reuse: every deferred reply has a slot, 50 writers keep 50 in flight. */
#define RPC_SPARE_SLOTS 64

static struct rpc_slot *rpc_slot_new(struct rpc_session *s, bool batch)
{
	struct rpc_slot *slot = SPARE_OF(spares_take(&s->srv->spare_slots), struct rpc_slot, spare);

	if (slot) {
		memset(slot, 0, sizeof(*slot));
	} else if (!(slot = calloc(1, sizeof(*slot)))) {
		return NULL;
	}
	/* A single reply's buffer comes when it is needed: a deferred reply
	 * that completes at the head of the queue goes straight out. */
	slot->batch = batch;
	TAILQ_INSERT_TAIL(&s->slots, slot, link);
	return slot;
}

static void rpc_slot_free(struct rpc_session *s, struct rpc_slot *slot)
{
	TAILQ_REMOVE(&s->slots, slot, link);
	for (size_t i = 0; i < slot->nparts; i++)
		if (slot->parts[i])
			evbuffer_free(slot->parts[i]);
	free(slot->parts);
	if (slot->buf)
		evbuffer_free(slot->buf);
	if (!spares_give(&s->srv->spare_slots, &slot->spare, RPC_SPARE_SLOTS))
		free(slot);
}

void rpc_slot_spares_free(struct udsrpc_server *srv)
{
	struct spare *p;

	while ((p = spares_take(&srv->spare_slots)))
		free(SPARE_OF(p, struct rpc_slot, spare));
}

struct rpc_slot *rpc_slot_single(struct rpc_session *s)
{
	struct rpc_slot *slot = rpc_slot_new(s, false);
	if (slot)
		slot->pending = 1;
	return slot;
}

/* "[" the members' replies, in order, "," between them "]\n": each part loses its "\n". */
static void rpc_batch_write(struct evbuffer *out, struct rpc_slot *slot)
{
	evbuffer_add(out, "[", 1);
	for (size_t i = 0; i < slot->nparts; i++) {
		struct evbuffer *part = slot->parts[i];
		size_t n = part ? evbuffer_get_length(part) : 0;

		if (i > 0)
			evbuffer_add(out, ",", 1);
		if (n > 1)
			evbuffer_remove_buffer(part, out, n - 1);
		else
			evbuffer_add(out, "null", 4); /* ENOMEM when it was answered */
	}
	evbuffer_add(out, "]\n", 2);
}

/* Reserve the next member's place in a batch's reply; false on ENOMEM. */
static bool rpc_batch_reserve(struct rpc_slot *slot, size_t *ret_index)
{
	if (slot->nparts == slot->capparts) {
		size_t cap = slot->capparts ? slot->capparts * 2 : 16;
		struct evbuffer **p = realloc(slot->parts, cap * sizeof(*p));
		if (!p)
			return false;
		slot->parts = p;
		slot->capparts = cap;
	}
	slot->parts[slot->nparts] = NULL;
	*ret_index = slot->nparts++;
	return true;
}

bool rpc_flush(struct rpc_session *s)
{
	struct rpc_slot *slot;
	bool wrote = false;

	while ((slot = TAILQ_FIRST(&s->slots)) && slot->pending == 0) {
		if (!s->detached) {
			if (slot->buf) {
				evbuffer_add_buffer(s->out, slot->buf);
				wrote = true;
			} else if (slot->nparts > 0) {
				/* An all-notification batch leaves an empty array: no reply at all. */
				rpc_batch_write(s->out, slot);
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

bool rpc_session_only(const struct rpc_session *s, const struct rpc_slot *slot)
{
	return !slot->batch && TAILQ_FIRST(&s->slots) == slot && !TAILQ_NEXT(slot, link);
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

void rpc_deliver(struct rpc_session *s, struct rpc_slot *slot, size_t index, const json_t *id,
		 const char *raw_id, size_t raw_id_len, const struct rpc_body *b)
{
	if (!slot) {
		if (TAILQ_EMPTY(&s->slots)) {
			if (!s->detached)
				rpc_write_session(s, id, raw_id, raw_id_len, b);
			return;
		}
		/* Earlier replies are still owed: this one waits its turn. */
		slot = rpc_slot_new(s, false);
		if (!slot || !(slot->buf = evbuffer_new()))
			return; /* ENOMEM: nothing sane left to send */
		rpc_write(slot->buf, id, raw_id, raw_id_len, b);
		return;
	}
	/* Batch members never come from the fast path: they always have a json_t id. */
	if (slot->batch) {
		struct evbuffer *part = index < slot->nparts ? evbuffer_new() : NULL;
		if (part) {
			rpc_write(part, id, NULL, 0, b);
			slot->bytes += evbuffer_get_length(part);
			slot->parts[index] = part;
		}
	} else if (s->detached || b->sent)
		; /* nobody left to read it, or it is written */
	else if (slot == TAILQ_FIRST(&s->slots))
		rpc_write_session(s, id, raw_id, raw_id_len, b); /* nothing owed before it */
	else if (slot->buf || (slot->buf = evbuffer_new()))
		rpc_write(slot->buf, id, raw_id, raw_id_len, b);
	slot->pending--;
}

void rpc_reply_unsolicited(struct rpc_session *s, int code, json_t *data)
{
	/* Counted as a request that failed, so requests.errors <= requests.total. */
	s->requests++;
	s->srv->stats.req_total++;
	s->srv->stats.req_errors++;
	rpc_deliver(s, NULL, 0, NULL, NULL, 0, &(struct rpc_body){.code = code, .data = data});
	json_decref(data);
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

void rpc_audit_denial(struct rpc_session *s, struct method_entry *e, const json_t *data)
{
	const struct udsrpc_peer *p = s->peer;
	/* What was refused within the call, as the answer names it: a key
	 * (config.txn, unset by prefix, restore) or a name (rpc.provide). */
	const char *what = json_string_value(json_object_get(data, "key")), *of = " of key ";

	if (!what)
		what = json_string_value(json_object_get(data, "name")), of = " of ";
	if (!what)
		what = of = "";

	/* Once per (connection, method): a client retrying in a loop must not
	 * flood the log, and the first denial is the one an operator needs. */
	if (e->index < s->nverdicts) {
		if (s->verdicts[e->index] & VERDICT_AUDITED)
			return;
		s->verdicts[e->index] |= VERDICT_AUDITED;
	}
	/* And a loop of new connections, each denied once, is held to the uid's share. */
	if (!server_uid_may_log(s->srv, p->uid, UDSRPC_LOG_WARNING))
		return;
	log_warning(s->srv, "denied %s%s%s to uid %u gid %u pid %d exe %s", e->name, of, what,
	            (unsigned)p->uid, (unsigned)p->gid, (int)p->pid, p->exe ? p->exe : "(unknown)");
}

/* Room for method index i in the verdict cache, reset when the generation moved. */
static bool rpc_verdicts(struct rpc_session *s, unsigned i)
{
	if (s->verdict_gen != s->srv->verdict_gen) {
		s->verdict_gen = s->srv->verdict_gen;
		if (s->verdicts)
			memset(s->verdicts, 0, s->nverdicts);
		/* They borrow the old policy's rules, which may be gone. */
		rpc_plans_free(s);
	}
	if (i < s->nverdicts)
		return true;
	unsigned n = (i + 16) & ~15u;
	unsigned char *v = realloc(s->verdicts, n);
	if (!v)
		return false;
	memset(v + s->nverdicts, 0, n - s->nverdicts);
	s->verdicts = v;
	s->nverdicts = n;
	return true;
}

/* The plan kept for method index i (VERDICT_PLANNED). */
static const struct policy_plan *rpc_plan(const struct rpc_session *s, unsigned i)
{
	for (unsigned k = 0; k < s->nplans; k++)
		if (s->plans[k].index == i)
			return s->plans[k].plan;
	return NULL;
}

/* Keeps plan for index i (taking it), or frees it: false on ENOMEM. */
static bool rpc_plan_keep(struct rpc_session *s, unsigned i, struct policy_plan *plan)
{
	struct rpc_plan *v = realloc(s->plans, (s->nplans + 1) * sizeof(*v));

	if (!v) {
		free(plan);
		return false;
	}
	s->plans = v;
	s->plans[s->nplans++] = (struct rpc_plan){i, plan};
	s->verdicts[i] |= VERDICT_PLANNED;
	return true;
}

/*
 * A connection's identity is fixed at accept and the policy changes only on
 * reload, so each (connection, method) is planned once per policy, not per
 * request: a verdict no rule with keys takes part in is kept as it is (it
 * holds for every key), else the plan, and a call then costs only the key
 * globs of the rules that select this peer and method.
 */
bool rpc_allowed(struct rpc_session *s, struct method_entry *e, const char *key)
{
	unsigned i = e->index;
	struct policy_plan *plan;
	bool ok;

	if (!rpc_verdicts(s, i))
		return policy_allows(s->srv->policy, s->peer, e->name, key);
	if (s->verdicts[i] & VERDICT_DECIDED)
		return s->verdicts[i] & VERDICT_ALLOWED;
	if (s->verdicts[i] & VERDICT_PLANNED)
		return policy_plan_allows(rpc_plan(s, i), key);
	if (!(plan = policy_plan_new(s->srv->policy, s->peer, e->name)))
		return policy_allows(s->srv->policy, s->peer, e->name, key);
	ok = policy_plan_allows(plan, key);
	if (policy_plan_keyless(plan)) {
		s->verdicts[i] |= VERDICT_DECIDED | (ok ? VERDICT_ALLOWED : 0);
		free(plan);
	} else {
		rpc_plan_keep(s, i, plan);
	}
	return ok;
}

/* The policy key of a call: a keyed method's "key" param, when some rule looks at keys. */
static const char *rpc_key(struct rpc_session *s, const struct method_entry *e,
			   const json_t *params)
{
	if (!(e->flags & UDSRPC_METHOD_KEYED) || !policy_has_keys(s->srv->policy))
		return NULL;
	return json_string_value(json_object_get(params, "key"));
}

/*
 * From the method on: exists → allowed → params valid → handler (udsrpc(7),
 * "ERRORS"). e: the method, when the caller found it already (else NULL).
 */
static void rpc_call(struct rpc_session *s, struct udsrpc_call *c, const char *name,
		     size_t name_len, json_t *params, struct method_entry *e)
{
	struct udsrpc_server *srv = s->srv;
	json_t *data;

	if (!e)
		e = registry_find(&srv->reg, name, name_len);
	if (!e) {
		call_fail(c, UDSRPC_METHOD_NOT_FOUND, json_pack("{s:s%}", "method", name, name_len));
		return;
	}
	c->method = e;
	if (srv->shutting_down) {
		call_fail(c, UDSRPC_SHUTTING_DOWN, NULL);
		return;
	}
	/* Logged where every -32001 is counted (call.c), as a handler's own. */
	if (!rpc_allowed(s, e, rpc_key(s, e, params))) {
		call_fail(c, UDSRPC_PERMISSION_DENIED,
			  json_pack("{s:s,s:I,s:I,s:I}", "method", e->name, "uid",
				    (json_int_t)s->peer->uid, "gid", (json_int_t)s->peer->gid, "pid",
				    (json_int_t)s->peer->pid));
		return;
	}
	if (schema_validate_params(e->schema, params, &data) < 0) {
		call_fail(c, UDSRPC_INVALID_PARAMS, data);
		return;
	}
	/* [] for a method that takes none means none: the handler sees NULL. */
	if (json_is_array(params) && json_array_size(params) == 0 &&
	    schema_method_empty_array_ok(e->schema))
		params = NULL;
	/* The handler may remove its own method: the entry stays until it returns. */
	method_entry_ref(e);
	e->handler(c, params, e->userdata);
	if (!atomic_load_explicit(&c->done, memory_order_relaxed) && !c->moved) {
		log_error(srv, "internal: method %s returned without answering", e->name);
		call_fail(c, UDSRPC_INTERNAL_ERROR, NULL);
	}
	method_entry_unref(e);
}

/* One request object (alone or a batch member). */
static void rpc_dispatch(struct rpc_session *s, json_t *req, struct rpc_slot *slot)
{
	struct udsrpc_server *srv = s->srv;
	struct udsrpc_call c = {.session = s, .slot = slot};
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
			if (!rpc_batch_reserve(slot, &c.index)) {
				json_decref(data);
				return; /* ENOMEM: the member goes unanswered */
			}
			slot->pending++;
		}
	}
	if (data) {
		call_fail(&c, UDSRPC_INVALID_REQUEST, data);
		return;
	}
	/*
	 * A batch's reply is one line, built whole before any of it is sent, so
	 * the pause on unread output cannot bound it: once its replies pass
	 * max_output_bytes the rest of the batch is not run (notifications
	 * included) and each member with an id gets this error instead.
	 */
	if (slot && slot->bytes >= srv->limits.max_output_bytes) {
		if (has_id)
			call_fail(&c, UDSRPC_INTERNAL_ERROR,
				  json_pack("{s:s,s:I}", "reason",
					    "batch reply over max_output_bytes; member not run",
					    "limit", (json_int_t)srv->limits.max_output_bytes));
		return;
	}
	if (!has_id)
		c.id = NULL;

	const json_t *jm = json_object_get(req, "method");
	rpc_call(s, &c, json_string_value(jm), json_string_length(jm),
		 json_object_get(req, "params"), NULL);
}

static void rpc_batch(struct rpc_session *s, json_t *batch)
{
	size_t n = json_array_size(batch);
	uint64_t max = s->srv->limits.max_batch;

	if (n == 0 || n > max) {
		char reason[96];
		if (n == 0)
			snprintf(reason, sizeof(reason), "empty batch");
		else
			snprintf(reason, sizeof(reason), "batch of %zu requests exceeds max_batch %llu",
				 n, (unsigned long long)max);
		rpc_reply_unsolicited(s, UDSRPC_INVALID_REQUEST, json_pack("{s:s}", "reason", reason));
		return;
	}
	struct rpc_slot *slot = rpc_slot_new(s, true);
	if (!slot) {
		rpc_reply_unsolicited(s, UDSRPC_INTERNAL_ERROR, NULL);
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

/* ---- the fast path ------------------------------------------------------ */

/*
 * The shape nearly every request has, taken apart without building it: one
 * object with the members "jsonrpc":"2.0", "method" (a string of printable
 * ASCII without escapes), maybe "id" (null, an integer written plainly, or
 * such a string) and maybe "params" (an object or array, parsed alone by
 * jansson), each at most once, in any order. Such a line means exactly what
 * the generic path would make of it, and its id text is exactly what
 * jansson would write back. Anything else (escapes, duplicates, other
 * members or types, bad syntax) is left to the generic path, which owns
 * every error answer and parse error offset.
 */
#define RPC_FAST_DEPTH 2000  /* params nested deeper: let jansson's own limit (2048) judge */
#define RPC_FAST_METHOD 128  /* longer names exist nowhere: the generic path says so */
#define RPC_FAST_INT_DIGITS 18 /* always fits json_int_t */

struct rpc_fast {
	const char *p, *end;
	const char *id, *method, *params; /* id: raw text with quotes; method: without */
	size_t id_len, method_len, params_len;
	json_t *params_json; /* params already built (the plain subset); owned */
	struct method_entry *text; /* the method takes params as text: they were only delimited */
	struct method_entry *entry; /* the method, when looked up for that (else NULL) */
	struct udsrpc_server *srv;
};

static json_t *rpc_fast_value(struct rpc_fast *f, unsigned depth);

/* The method named so far, when it takes its params as text (udsrpc_server_set_text_handler). */
static struct method_entry *rpc_fast_text_method(struct rpc_fast *f)
{
	struct method_entry *e;

	if (!f->method || !f->srv || !f->srv->text_handlers)
		return NULL;
	/* Kept for rpc_call: one look-up per request, not two. */
	f->entry = e = registry_find(&f->srv->reg, f->method, f->method_len);
	return e && e->text_handler ? e : NULL;
}

static inline void rpc_fast_ws(struct rpc_fast *f)
{
	while (f->p < f->end && (rpc_class[(unsigned char)*f->p] & 1))
		f->p++;
}

/*
 * Past ch at f->p, whitespace before it allowed; false (after the
 * whitespace) if it is not there. Compact text, the usual, costs one
 * comparison.
 */
static inline bool rpc_fast_take(struct rpc_fast *f, char ch)
{
	if (f->p < f->end && *f->p == ch) {
		f->p++;
		return true;
	}
	rpc_fast_ws(f);
	if (f->p < f->end && *f->p == ch) {
		f->p++;
		return true;
	}
	return false;
}

/* A string of printable ASCII, no escapes; f->p at its opening quote. Returns its end or NULL. */
static inline const char *rpc_fast_string(struct rpc_fast *f)
{
	const char *q = f->p + 1;

	while (q < f->end && (rpc_class[(unsigned char)*q] & 2))
		q++;
	return q < f->end && *q == '"' ? q + 1 : NULL;
}

/* The end of an object or array at f->p, or NULL; its content is checked when it is built. */
static const char *rpc_fast_skip(struct rpc_fast *f)
{
	const char *q = f->p;
	unsigned depth = 0;

	for (; q < f->end; q++) {
		switch (*q) {
		case '"':
			for (q++;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				/* Eight bytes at a time to the first quote, backslash or control
				 * byte: a config.txn's params are mostly strings. */
				for (uint64_t w, m; f->end - q >= 8; q += 8) {
					memcpy(&w, q, 8);
					if ((m = jsonnum_special8_mask(w))) {
						q += (unsigned)__builtin_ctzll(m) >> 3;
						break;
					}
				}
#endif
				if (q >= f->end)
					return NULL;
				if (*q == '"')
					break;
				if (*q == '\\' && ++q >= f->end)
					return NULL;
				q++;
			}
			break;
		case '{':
		case '[':
			if (++depth > RPC_FAST_DEPTH)
				return NULL;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return q + 1;
			break;
		}
	}
	return NULL;
}

/*
 * -?(0|[1-9][0-9]*) at p, of at most RPC_FAST_INT_DIGITS digits and not the
 * start of a real: always a json_int_t, as strtoll gives it. Its end, or
 * NULL; its value in *ret unless ret is NULL (then it is not computed).
 */
static inline const char *rpc_fast_int(const char *p, const char *end, json_int_t *ret)
{
	bool neg = p < end && *p == '-';
	const char *d = p + neg, *e = d;
	uint64_t u = 0; /* unsigned: a long digit run wraps harmlessly before it is refused */

	if (d >= end || *d < '0' || *d > '9')
		return NULL;
	if (*e == '0')
		e++;
	else
		while (e < end && *e >= '0' && *e <= '9') {
			if (ret)
				u = u * 10 + (uint64_t)(*e - '0');
			e++;
		}
	if (e - d > RPC_FAST_INT_DIGITS ||
	    (e < end && (*e == '.' || *e == 'e' || *e == 'E' || (*e >= '0' && *e <= '9'))))
		return NULL;
	if (ret)
		*ret = neg ? -(json_int_t)u : (json_int_t)u;
	return e;
}

static bool rpc_fast_parse(struct rpc_fast *f)
{
	bool version = false;

	rpc_fast_ws(f);
	if (f->p >= f->end || *f->p != '{')
		return false;
	f->p++;
	for (;;) {
		const char *key, *v, *e;
		size_t klen, left;

		rpc_fast_ws(f);
		left = (size_t)(f->end - f->p);
		if (left < 5 || *f->p != '"')
			return false;
		/* The four names, whole and quoted, are matched in place; anything else is not ours. */
		key = f->p + 1;
		if (left >= 9 && memcmp(key, "jsonrpc\"", 8) == 0)
			klen = 7;
		else if (left >= 8 && (memcmp(key, "method\"", 7) == 0 || memcmp(key, "params\"", 7) == 0))
			klen = 6;
		else if (memcmp(key, "id\"", 3) == 0)
			klen = 2;
		else
			return false;
		f->p = key + klen + 1;
		if (!rpc_fast_take(f, ':'))
			return false;
		rpc_fast_ws(f);
		if (f->p >= f->end)
			return false;
		v = f->p;
		if (klen == 7 && memcmp(key, "jsonrpc", 7) == 0) {
			if (version || f->end - v < 5 || memcmp(v, "\"2.0\"", 5) != 0)
				return false;
			version = true;
			e = v + 5;
		} else if (klen == 6 && memcmp(key, "method", 6) == 0) {
			if (f->method || *v != '"' || !(e = rpc_fast_string(f)))
				return false;
			f->method = v + 1;
			f->method_len = (size_t)(e - v - 2);
		} else if (klen == 2 && memcmp(key, "id", 2) == 0) {
			if (f->id)
				return false;
			if (*v == '"') {
				if (!(e = rpc_fast_string(f)))
					return false;
			} else if (*v == 'n') {
				if (f->end - v < 4 || memcmp(v, "null", 4) != 0)
					return false;
				e = v + 4;
			} else {
				/* Echoed as written: "-0", which comes back as 0, goes the generic way. */
				if (!(e = rpc_fast_int(v, f->end, NULL)) || (*v == '-' && v[1] == '0'))
					return false;
			}
			f->id = v;
			f->id_len = (size_t)(e - v);
		} else if (klen == 6 && memcmp(key, "params", 6) == 0) {
			if (f->params || f->params_json || (*v != '{' && *v != '['))
				return false;
			/* Built at once when plain (and not taken as text); else only
			 * delimited, and jansson parses it. */
			f->text = rpc_fast_text_method(f);
			if (!f->text && (f->params_json = rpc_fast_value(f, 1))) {
				e = f->p;
			} else {
				f->p = v;
				if (!(e = rpc_fast_skip(f)))
					return false;
				f->params = v;
				f->params_len = (size_t)(e - v);
			}
		} else {
			return false;
		}
		f->p = e;
		if (rpc_fast_take(f, ','))
			continue;
		if (!rpc_fast_take(f, '}'))
			return false;
		rpc_fast_ws(f);
		return f->p == f->end && version && f->method;
	}
}

/*
 * params built from their text, for the plain subset: objects and arrays,
 * strings without escapes, integers written plainly (up to 18 digits),
 * true, false, null. Built with the calls jansson's own parser makes
 * (json_object_setn_new_nocheck, json_array_append_new), so the value is
 * the one json_loadb would give, duplicate names included; strings are
 * checked for UTF-8 as jansson's lexer checks them. NULL for anything
 * outside the subset, or malformed: jansson then parses the text itself
 * and owns every error. A 64 KiB string costs a scan and a copy here,
 * against about 140 instructions a byte through jansson's lexer.
 */
/* The bytes of a plain string at f->p (its opening quote); false if it has escapes or control bytes. */
static bool rpc_fast_raw(struct rpc_fast *f, const char **ret_p, size_t *ret_n, bool *ret_ascii)
{
	const uint64_t highs = 0x8080808080808080ull;
	const char *q = f->p + 1;
	uint64_t high = 0, w;

	/* Eight bytes at a time; the first '"', '\\' or control byte among them ends it. */
	while (f->end - q >= 8) {
		uint64_t m;

		memcpy(&w, q, 8);
		if ((m = jsonnum_special8_mask(w))) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			unsigned at = (unsigned)__builtin_ctzll(m) >> 3; /* the lowest byte is q[0] */

			if (q[at] != '"')
				return false;
			high |= w & ((1ull << (8 * at)) - 1); /* only the bytes before it */
			q += at;
			goto closed;
#else
			break;
#endif
		}
		high |= w;
		q += 8;
	}
	for (; q < f->end && *q != '"'; q++) {
		if (*q == '\\' || (unsigned char)*q < 0x20)
			return false;
		high |= (unsigned char)*q;
	}
	if (q >= f->end)
		return false;
closed: __attribute__((unused));
	*ret_p = f->p + 1;
	*ret_n = (size_t)(q - f->p - 1);
	*ret_ascii = !(high & highs);
	f->p = q + 1;
	return true;
}

/*
 * The params object of the last request, when nothing kept a reference to
 * it, with its members' values set to null: the next request's params fill
 * it instead of a new object, hash table and member entries being
 * allocated and freed around every call. A member whose name is the one
 * kept at its place takes the new value there (no hashing, no allocation);
 * from the first one that differs, the members kept past it go and the
 * rest are added as jansson adds them, so the object is always the one
 * json_loadb would give, order and duplicates included.
 */
#define RPC_SPARE_MEMBERS 16
#define RPC_SPARE_TEXT 64 /* bytes of a string value kept in it */

void rpc_spare_park(struct udsrpc_server *srv, json_t *params)
{
	/* Only ours, and small (a cleared object keeps its hash table's size). */
	if (!json_is_object(params) || params->refcount != 1 ||
	    json_object_size(params) > RPC_SPARE_MEMBERS || srv->spare_params) {
		json_decref(params);
		return;
	}
	/*
	 * The values go now (a big one must not wait for the next request),
	 * but a short string only the object holds stays: a member of the
	 * same name in the next request takes its new text in it.
	 */
	for (void *it = json_object_iter(params); it; it = json_object_iter_next(params, it)) {
		json_t *v = json_object_iter_value(it);

		if (!json_is_string(v) || v->refcount != 1 ||
		    json_string_length(v) > RPC_SPARE_TEXT)
			json_object_iter_set_new(params, it, json_null());
	}
	srv->spare_params = params;
}

/* Drop the members of spare after its first keep ones. */
static void rpc_spare_trim(json_t *c, size_t keep)
{
	while (json_object_size(c) > keep) {
		void *it = json_object_iter(c);

		for (size_t i = 0; i < keep; i++)
			it = json_object_iter_next(c, it);
		json_object_deln(c, json_object_iter_key(it), json_object_iter_key_len(it));
	}
}

static json_t *rpc_fast_container(struct rpc_fast *f, unsigned depth)
{
	bool object = *f->p == '{';
	char close = object ? '}' : ']';
	json_t *c;
	void *kept = NULL; /* the spare's member at the place of the next one parsed */
	size_t placed = 0; /* members parsed so far into kept places */

	if (object && depth == 1 && f->srv && f->srv->spare_params) {
		c = f->srv->spare_params;
		f->srv->spare_params = NULL;
		kept = json_object_iter(c);
	} else {
		c = object ? json_object() : json_array();
	}

	if (!c)
		return NULL;
	f->p++;
	rpc_fast_ws(f);
	if (f->p < f->end && *f->p == close) {
		f->p++;
		rpc_spare_trim(c, 0);
		return c;
	}
	for (;;) {
		const char *key = NULL;
		size_t klen = 0;
		bool ascii;
		bool same = false; /* the name is the one kept at this place */
		json_t *v;

		/* After a ',' too: "a": 1, "b": 2 is how Python's json writes. */
		if (object)
			rpc_fast_ws(f);
		if (object && kept) {
			/*
			 * The kept name, quoted, is there: the token is exactly that
			 * name, so it needs no scan of its own. A kept name is plain
			 * ASCII without '"' or '\\': the fast path read it (handlers
			 * get params const). Any other text is read as below, and a
			 * name other than the kept one ends the reuse there.
			 */
			key = json_object_iter_key(kept);
			klen = json_object_iter_key_len(kept);
			if (f->end - f->p > (ptrdiff_t)(klen + 1) && *f->p == '"' &&
			    f->p[klen + 1] == '"' && bytes_equal(f->p + 1, key, klen)) {
				f->p += klen + 2;
				same = true;
			}
		}
		if (object) {
			if (!same && (f->p >= f->end || *f->p != '"' ||
				      !rpc_fast_raw(f, &key, &klen, &ascii) || !ascii))
				goto fail;
			if (!rpc_fast_take(f, ':'))
				goto fail;
		}
		if (same) {
			json_t *was = json_object_iter_value(kept);
			const char *p;
			size_t n;

			rpc_fast_ws(f);
			/* A string kept here takes the new text: as json_stringn would make it. */
			if (json_is_string(was) && was->refcount == 1 && f->p < f->end &&
			    *f->p == '"') {
				if (!rpc_fast_raw(f, &p, &n, &ascii) ||
				    (ascii ? json_string_setn_nocheck(was, p, n)
				           : json_string_setn(was, p, n)) < 0)
					goto fail;
			} else if ((v = rpc_fast_value(f, depth + 1))) {
				json_object_iter_set_new(c, kept, v);
			} else {
				goto fail;
			}
			kept = json_object_iter_next(c, kept);
			placed++;
		} else if (!(v = rpc_fast_value(f, depth + 1))) {
			goto fail;
		} else {
			if (kept) {
				rpc_spare_trim(c, placed);
				kept = NULL;
			}
			if (object ? json_object_setn_new_nocheck(c, key, klen, v)
			           : json_array_append_new(c, v))
				goto fail;
		}
		if (rpc_fast_take(f, ','))
			continue;
		if (rpc_fast_take(f, close)) {
			if (kept)
				rpc_spare_trim(c, placed);
			return c;
		}
		goto fail;
	}
fail:
	json_decref(c);
	return NULL;
}

static json_t *rpc_fast_value(struct rpc_fast *f, unsigned depth)
{
	const char *p;
	size_t n;
	bool ascii;

	rpc_fast_ws(f);
	if (f->p >= f->end || depth > RPC_FAST_DEPTH)
		return NULL;
	switch (*f->p) {
	case '{':
	case '[':
		return rpc_fast_container(f, depth);
	case '"':
		if (!rpc_fast_raw(f, &p, &n, &ascii))
			return NULL;
		return ascii ? json_stringn_nocheck(p, n) : json_stringn(p, n);
	case 't':
		if (f->end - f->p < 4 || memcmp(f->p, "true", 4) != 0)
			return NULL;
		f->p += 4;
		return json_true();
	case 'f':
		if (f->end - f->p < 5 || memcmp(f->p, "false", 5) != 0)
			return NULL;
		f->p += 5;
		return json_false();
	case 'n':
		if (f->end - f->p < 4 || memcmp(f->p, "null", 4) != 0)
			return NULL;
		f->p += 4;
		return json_null();
	}
	json_int_t value;
	const char *e = rpc_fast_int(f->p, f->end, &value);
	if (!e)
		return NULL;
	f->p = e;
	return json_integer(value);
}

json_t *rpc_fast_json(struct udsrpc_server *srv, const char *text, size_t len)
{
	struct rpc_fast f = {.p = text, .end = text + len, .srv = srv};
	json_t *v = rpc_fast_value(&f, 0);

	if (v) {
		rpc_fast_ws(&f);
		if (f.p != f.end) {
			json_decref(v);
			v = NULL;
		}
	}
	return v;
}

/*
 * The checks rpc_call makes before the params (the method is e), then e's
 * text handler. False: nothing was answered or counted, the usual way runs.
 */
static bool rpc_fast_text(struct rpc_session *s, struct udsrpc_call *c, struct method_entry *e,
			  const char *text, size_t len)
{
	bool taken;

	if (s->srv->shutting_down || !rpc_allowed(s, e, NULL))
		return false;
	c->method = e;
	c->t0 = clock_now_ns();
	method_entry_ref(e);
	taken = e->text_handler(c, text, len, e->userdata);
	if (taken) {
		s->requests++;
		s->srv->stats.req_total++;
		if (!atomic_load_explicit(&c->done, memory_order_relaxed) && !c->moved) {
			log_error(s->srv, "internal: method %s returned without answering", e->name);
			call_fail(c, UDSRPC_INTERNAL_ERROR, NULL);
		}
	}
	c->method = taken ? e : NULL;
	method_entry_unref(e);
	return taken;
}

/* Handle the line if it has the common shape; false: the generic path must. */
static bool rpc_fast(struct rpc_session *s, const char *line, size_t len)
{
	struct rpc_fast f = {.p = line, .end = line + len, .srv = s->srv};
	char name[RPC_FAST_METHOD];
	json_t *params = NULL;

	if (!rpc_fast_parse(&f) || f.method_len >= sizeof(name)) {
		json_decref(f.params_json);
		return false;
	}
	params = f.params_json;
	struct udsrpc_call c = {.session = s, .raw_id = f.id, .raw_id_len = f.id_len};
	if (f.text && rpc_fast_text(s, &c, f.text, f.params, f.params_len))
		return true;
	/* Object or array only, no trailing text: the same as parsing it inside the request. */
	if (f.params && !(params = json_loadb(f.params, f.params_len, JSON_ALLOW_NUL, NULL)))
		return false;
	memcpy(name, f.method, f.method_len);
	name[f.method_len] = '\0';

	s->requests++;
	s->srv->stats.req_total++;
	c.t0 = clock_now_ns();
	rpc_call(s, &c, name, f.method_len, params, f.entry);
	if (params && params == f.params_json)
		rpc_spare_park(s->srv, params);
	else
		json_decref(params);
	return true;
}

/*
 * Valid JSON with an integer outside int64 (jansson refuses the whole text):
 * -32600 when it is the id or anywhere in a batch, -32602 naming its path
 * inside a request's params (PROTOCOL.md §1). False: not that case.
 */
static bool rpc_out_of_range(struct rpc_session *s, const char *line, size_t len, size_t at)
{
	struct numpath np;
	json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
				 NULL);
	char reason[320];

	if (!doc || !numpath_find(line, len, at, &np)) {
		json_decref(doc);
		return false;
	}
	if (json_is_object(doc) && !strncmp(np.pointer, "/params/", 8) && np.id) {
		/* The number at fault is in params, so the id parses and the reply names it. */
		json_t *id = json_loadb(np.id, np.id_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		json_t *data = json_pack("{s:s,s:s}", "path", np.pointer + 7, "reason",
					 "integer out of int64 range");
		s->requests++;
		s->srv->stats.req_total++;
		s->srv->stats.req_errors++;
		rpc_deliver(s, NULL, 0, id, NULL, 0,
			    &(struct rpc_body){.code = UDSRPC_INVALID_PARAMS, .data = data});
		json_decref(data);
		json_decref(id);
	} else {
		snprintf(reason, sizeof(reason), "%s is an integer out of int64 range",
			 !strcmp(np.pointer, "/id") ? "the id" : np.pointer);
		rpc_reply_unsolicited(s, UDSRPC_INVALID_REQUEST, json_pack("{s:s}", "reason", reason));
	}
	json_decref(doc);
	return true;
}

void rpc_handle_line(struct rpc_session *s, const char *line, size_t len)
{
	json_error_t err;
	json_t *doc;

	if ((s->provider && broker_fast(s, line, len)) || rpc_fast(s, line, len))
		return;
	doc = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
	/* On a provider's connection, answers and garbage are the broker's (udsrpc(7), "PROVIDERS"). */
	if (s->provider && broker_line(s, doc)) {
		json_decref(doc);
		return;
	}
	if (!doc) {
		/* jansson's position is just past the byte it stopped at, except
		 * for invalid UTF-8, where it is the offending byte itself. */
		size_t at = json_error_code(&err) == json_error_invalid_utf8 ? (size_t)err.position
		            : err.position > 0                               ? (size_t)err.position - 1
		                                                             : 0;
		if (json_error_code(&err) == json_error_numeric_overflow &&
		    rpc_out_of_range(s, line, len, at))
			return;
		rpc_reply_unsolicited(s, UDSRPC_PARSE_ERROR,
				      json_pack("{s:I}", "offset", (json_int_t)at));
		return;
	}
	if (json_is_array(doc))
		rpc_batch(s, doc);
	else
		rpc_dispatch(s, doc, NULL);
	json_decref(doc);
}

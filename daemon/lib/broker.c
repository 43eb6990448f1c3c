/*
 * broker.c — the broker of udsrpc(7), "PROVIDERS": a provided method's
 * handler defers the call and writes it to the provider's connection with
 * the daemon's own id and the caller's identity; the call completes when
 * the provider answers that id (in any order), when the provider leaves
 * (-32005), or at call_timeout_ms (-32006). One pending table per
 * provider, one deadline heap (and one timer) for the whole server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker.h"
#include "call.h"
#include "clock.h"
#include "conn.h"
#include "jsonnum.h"
#include "log.h"
#include "registry.h"
#include "rpc.h"
#include "schema.h"
#include "server.h"

/* A forwarded call the provider has not answered. */
struct fwd {
	uint64_t id; /* the daemon's, as the provider saw it */
	uint64_t deadline_ms;
	size_t heap_at;
	struct provider *prov;
	struct udsrpc_call *call; /* deferred; our reference */
};

/* ---- the pending table: open addressing on the daemon's id ------------------ */

static size_t slot_of(uint64_t id, size_t cap)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int pending_put(struct provider *p, struct fwd *f)
{
	if ((p->npending + 1) * 2 > p->cappending) {
		size_t cap = p->cappending ? p->cappending * 2 : 16;
		struct fwd **t = calloc(cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < p->cappending; i++) {
			struct fwd *g = p->pending[i];
			if (!g)
				continue;
			size_t j = slot_of(g->id, cap);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = g;
		}
		free(p->pending);
		p->pending = t;
		p->cappending = cap;
	}
	size_t j = slot_of(f->id, p->cappending);
	while (p->pending[j])
		j = (j + 1) & (p->cappending - 1);
	p->pending[j] = f;
	p->npending++;
	return 0;
}

/* Take the call of id out of the table; NULL if p owes none of that id. */
static struct fwd *pending_take(struct provider *p, uint64_t id)
{
	size_t mask = p->cappending - 1, i, j;
	struct fwd *f;

	if (!p->cappending)
		return NULL;
	for (i = slot_of(id, p->cappending); (f = p->pending[i]) && f->id != id; i = (i + 1) & mask)
		;
	if (!f)
		return NULL;
	/* Backward shift: every entry after the hole that may move into it does. */
	p->pending[i] = NULL;
	for (j = (i + 1) & mask; p->pending[j]; j = (j + 1) & mask) {
		size_t home = slot_of(p->pending[j]->id, p->cappending);
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			p->pending[i] = p->pending[j];
			p->pending[j] = NULL;
			i = j;
		}
	}
	p->npending--;
	return f;
}

/* ---- the deadline heap -------------------------------------------------------- */

static bool heap_less(const struct fwd *a, const struct fwd *b)
{
	return a->deadline_ms < b->deadline_ms || (a->deadline_ms == b->deadline_ms && a->id < b->id);
}

static void heap_set(struct broker *b, size_t i, struct fwd *f)
{
	b->heap[i] = f;
	f->heap_at = i;
}

static void heap_sift(struct broker *b, size_t i)
{
	struct fwd *f = b->heap[i];

	while (i > 0 && heap_less(f, b->heap[(i - 1) / 2])) {
		heap_set(b, i, b->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct fwd *least = f;
		if (l < b->nheap && heap_less(b->heap[l], least))
			m = l, least = b->heap[l];
		if (l + 1 < b->nheap && heap_less(b->heap[l + 1], least))
			m = l + 1, least = b->heap[l + 1];
		if (m == i)
			break;
		heap_set(b, i, least);
		i = m;
	}
	heap_set(b, i, f);
}

static int heap_push(struct broker *b, struct fwd *f)
{
	if (b->nheap == b->capheap) {
		size_t cap = b->capheap ? b->capheap * 2 : 64;
		struct fwd **h = realloc(b->heap, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		b->heap = h;
		b->capheap = cap;
	}
	heap_set(b, b->nheap++, f);
	heap_sift(b, b->nheap - 1);
	return 0;
}

static void heap_remove(struct broker *b, struct fwd *f)
{
	size_t i = f->heap_at;
	struct fwd *last = b->heap[--b->nheap];

	if (last != f) {
		heap_set(b, i, last);
		heap_sift(b, i);
	}
}

static void broker_on_timer(evutil_socket_t fd, short what, void *arg);

/* The one timer follows the earliest deadline. */
static void broker_arm(struct udsrpc_server *srv)
{
	struct broker *b = &srv->broker;

	if (b->nheap == 0) {
		if (b->timer)
			evtimer_del(b->timer);
		return;
	}
	if (!b->timer && !(b->timer = evtimer_new(srv->base, broker_on_timer, srv)))
		return; /* ENOMEM: deadlines wait for the next call to arm it */
	uint64_t now = clock_now_ms(), at = b->heap[0]->deadline_ms;
	uint64_t ms = at > now ? at - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(b->timer, &tv);
}

/* ---- completing ------------------------------------------------------------------- */

/* f is out of its table and the heap: answer its caller with body, and let it go. */
static void fwd_finish(struct fwd *f, const struct rpc_body *body)
{
	call_finish(f->call, body);
	udsrpc_call_unref(f->call);
	free(f);
}

static void fwd_fail(struct fwd *f, int code, json_t *data)
{
	fwd_finish(f, &(struct rpc_body){.code = code, .data = data});
}

static void broker_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	struct broker *b = &srv->broker;
	uint64_t now = clock_now_ms();

	(void)fd;
	(void)what;
	/* Answering can forward new calls (later deadlines) or close providers: look again each time. */
	while (b->nheap && b->heap[0]->deadline_ms <= now) {
		struct fwd *f = b->heap[0];
		heap_remove(b, f);
		pending_take(f->prov, f->id);
		const char *name = f->call->method ? f->call->method->name : "";
		fwd_fail(f, UDSRPC_PROVIDER_TIMEOUT,
		         json_pack("{s:s,s:I}", "method", name, "timeout_ms",
		                   (json_int_t)srv->limits.call_timeout_ms));
	}
	broker_arm(srv);
}

/* ---- forwarding ------------------------------------------------------------------- */

/* Append n bytes of s at *at (the caller sized the buffer). */
static void put(char **at, const char *s, size_t n)
{
	memcpy(*at, s, n);
	*at += n;
}

/*
 * {"jsonrpc":"2.0","id":I,"method":NAME,"params":P,"caller":{...}}\n, or
 * without id for a notification. malloc'd, its length in *ret_len. Put
 * together from its pieces' lengths: it is made once per call.
 */
static char *forward_line(const char *method, uint64_t id, bool notify, const json_t *params,
                          struct rpc_session *caller, size_t *ret_len)
{
	char *p = params ? jsonnum_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL, *line, *at;
	char digits[JSONNUM_U64_MAX + 1];
	size_t ndigits, nmethod = strlen(method), np = p ? strlen(p) : 0, ncaller;
	const char *d = jsonnum_u64(id, digits, &ndigits);

	/* The caller's identity never changes: its text is made once per connection. */
	if (!caller->caller_text) {
		json_t *who = udsrpc_peer_json(caller->peer);
		caller->caller_text = who ? jsonnum_dumps(who, JSON_COMPACT) : NULL;
		json_decref(who);
	}
	if ((params && !p) || !caller->caller_text) {
		free(p);
		return NULL;
	}
	ncaller = strlen(caller->caller_text);
	/* The name is a provided one: [A-Za-z0-9_.-] only, nothing to escape. */
	if (!(line = malloc(64 + ndigits + nmethod + np + ncaller))) {
		free(p);
		return NULL;
	}
	at = line;
	put(&at, "{\"jsonrpc\":\"2.0\",", 17);
	if (!notify) {
		put(&at, "\"id\":", 5);
		put(&at, d, ndigits);
		put(&at, ",", 1);
	}
	put(&at, "\"method\":\"", 10);
	put(&at, method, nmethod);
	put(&at, "\"", 1);
	if (p) {
		put(&at, ",\"params\":", 10);
		put(&at, p, np);
	}
	put(&at, ",\"caller\":", 10);
	put(&at, caller->caller_text, ncaller);
	put(&at, "}\n", 2);
	free(p);
	*ret_len = (size_t)(at - line);
	return line;
}

void broker_handler(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct provider *p = userdata;
	struct udsrpc_server *srv = udsrpc_call_server(c);
	const char *name = udsrpc_call_method(c);
	bool notify = !c->id && !c->raw_id;
	struct fwd *f;
	char *line;
	size_t len;

	if (p->conn->closed) {
		udsrpc_call_error(c, UDSRPC_PROVIDER_UNAVAILABLE, NULL, json_pack("{s:s}", "method", name));
		return;
	}
	if (!notify && p->npending >= srv->limits.max_provider_inflight) {
		udsrpc_call_error(c, UDSRPC_PROVIDER_BUSY, NULL,
		                  json_pack("{s:s,s:I}", "method", name, "limit",
		                            (json_int_t)srv->limits.max_provider_inflight));
		return;
	}
	if (!(f = calloc(1, sizeof(*f)))) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	f->id = ++srv->broker.next_id;
	f->prov = p;
	if (!(line = forward_line(name, f->id, notify, params, c->session, &len))) {
		free(f);
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	if (notify) {
		/* Never answered, by the provider or by us. */
		free(f);
		conn_push(p->conn, line, len);
		free(line);
		udsrpc_call_result(c, NULL);
		return;
	}
	f->deadline_ms = clock_now_ms() + srv->limits.call_timeout_ms;
	if (pending_put(p, f) < 0 || heap_push(&srv->broker, f) < 0) {
		pending_take(p, f->id);
		free(f);
		free(line);
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	if (!(f->call = udsrpc_call_defer(c, 0))) {
		/* Answered -32603 by defer. */
		pending_take(p, f->id);
		heap_remove(&srv->broker, f);
		free(f);
		free(line);
		return;
	}
	if (srv->broker.heap[0] == f)
		broker_arm(srv);
	/* A provider that does not read is disconnected here, and f answered -32005 with the rest. */
	conn_push_turn(p->conn, line, len);
	free(line);
}

/* ---- answers ------------------------------------------------------------------------ */

/* A line of p that answers nothing: logged at most once a second, then dropped. */
static void broker_drop(struct udsrpc_server *srv, struct provider *p, const char *why,
                        json_int_t id)
{
	uint64_t now = clock_now_ms();

	if (p->log_ms && now - p->log_ms < 1000) {
		p->log_dropped++;
		return;
	}
	const struct udsrpc_peer *peer = &p->conn->peer;
	char more[64] = "";
	if (p->log_dropped)
		snprintf(more, sizeof(more), " (%u more dropped since the last line)", p->log_dropped);
	if (id >= 0)
		log_warning(srv, "provider connection %llu (uid %u pid %d): dropped %s %lld%s", peer->id,
		            (unsigned)peer->uid, (int)peer->pid, why, (long long)id, more);
	else
		log_warning(srv, "provider connection %llu (uid %u pid %d): dropped %s%s", peer->id,
		            (unsigned)peer->uid, (int)peer->pid, why, more);
	p->log_ms = now;
	p->log_dropped = 0;
}

/* A provider's error object as JSON-RPC has it: an integer code (not 0) and a message. */
static bool error_valid(const json_t *e)
{
	const json_t *code = json_object_get(e, "code");
	return json_is_object(e) && json_is_integer(code) && json_integer_value(code) != 0 &&
	       json_integer_value(code) >= INT32_MIN && json_integer_value(code) <= INT32_MAX &&
	       json_is_string(json_object_get(e, "message"));
}

/* An answer to the daemon's id (result or error, exactly one, the error valid): its call completes. */
static void broker_answer(struct rpc_session *s, json_int_t id, const json_t *result,
                          const json_t *error)
{
	struct udsrpc_server *srv = s->srv;
	struct provider *p = s->provider;
	struct fwd *f;

	if (id < 0 || !(f = pending_take(p, (uint64_t)id))) {
		broker_drop(srv, p, "an answer to no pending call: id", id);
		return;
	}
	/* The timer stays armed: firing early finds nothing due and re-arms (one evtimer_add per new earliest). */
	heap_remove(&srv->broker, f);
	if (error) {
		/* Unchanged, whatever the code. */
		const json_t *data = json_object_get(error, "data");
		fwd_finish(f, &(struct rpc_body){
			.code = (int)json_integer_value(json_object_get(error, "code")),
			.message = json_string_value(json_object_get(error, "message")),
			.data = data ? json_incref((json_t *)data) : NULL,
			.relayed = true});
	} else {
		const struct method_entry *e = f->call->method;
		char path[256], reason[256];
		if (e && schema_validate_result(e->schema, result, path, sizeof(path), reason,
		                                sizeof(reason)) < 0) {
			char why[600];
			snprintf(why, sizeof(why), "the provider's result does not match the schema at '%s': %s",
			         path, reason);
			log_warning(srv, "method %s: %s (provider connection %llu)", e->name, why,
			            p->conn->peer.id);
			fwd_fail(f, UDSRPC_INTERNAL_ERROR, json_pack("{s:s}", "reason", why));
		} else {
			fwd_finish(f, &(struct rpc_body){.result = json_incref((json_t *)result)});
		}
	}
}

bool broker_line(struct rpc_session *s, const json_t *doc)
{
	struct udsrpc_server *srv = s->srv;
	struct provider *p = s->provider;
	const json_t *id, *result, *error, *version;

	if (!doc) {
		broker_drop(srv, p, "a line that is not JSON", -1);
		return true;
	}
	/* A request (or a batch): for rpc. A response has no "method". */
	if (!json_is_object(doc) || json_object_get(doc, "method"))
		return false;
	id = json_object_get(doc, "id");
	result = json_object_get(doc, "result");
	error = json_object_get(doc, "error");
	version = json_object_get(doc, "jsonrpc");
	if (!json_is_integer(id) || !result == !error || !json_is_string(version) ||
	    strcmp(json_string_value(version), "2.0") != 0 || (error && !error_valid(error))) {
		broker_drop(srv, p, "a malformed answer", json_is_integer(id) ? json_integer_value(id) : -1);
		return true;
	}
	broker_answer(s, json_integer_value(id), result, error);
	return true;
}

bool broker_fast(struct rpc_session *s, const char *line, size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":", mid[] = ",\"result\":";
	const char *at = line + sizeof(head) - 1, *end = line + len, *digits = at;
	json_int_t id = 0;
	json_t *result;

	if (len < sizeof(head) + sizeof(mid) + 1 || memcmp(line, head, sizeof(head) - 1) != 0 ||
	    end[-1] != '}')
		return false;
	/* Up to 18 digits, no leading zero: an int64 as JSON writes it. */
	while (at < end && *at >= '0' && *at <= '9' && at - digits < 18)
		id = id * 10 + (*at++ - '0');
	if (at == digits || (*digits == '0' && at - digits > 1) || (size_t)(end - at) < sizeof(mid) ||
	    memcmp(at, mid, sizeof(mid) - 1) != 0)
		return false;
	at += sizeof(mid) - 1;
	/* One value up to the closing brace, or it is refused (trailing text: more members). */
	if (!(result = rpc_fast_json(s->srv, at, (size_t)(end - 1 - at))) &&
	    !(result = json_loadb(at, (size_t)(end - 1 - at), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)))
		return false;
	broker_answer(s, id, result, NULL);
	json_decref(result);
	return true;
}

/* ---- departure ------------------------------------------------------------------------ */

struct provider *broker_provider(struct rpc_session *s)
{
	if (!s->provider && s->owner && (s->provider = calloc(1, sizeof(*s->provider))))
		s->provider->conn = s->owner;
	return s->provider;
}

void broker_session_gone(struct rpc_session *s)
{
	struct udsrpc_server *srv = s->srv;
	struct provider *p = s->provider;
	struct fwd **all;
	size_t n = 0;

	if (!p)
		return;
	/* Names first, so that nothing answered below can forward a new call here. */
	provide_release(srv, p, NULL, NULL);
	/* Answering runs other connections' steps: work on a snapshot of an emptied table. */
	all = p->pending;
	for (size_t i = 0; i < p->cappending; i++)
		if (all[i]) {
			heap_remove(&srv->broker, all[i]);
			all[n++] = all[i];
		}
	p->pending = NULL;
	p->npending = p->cappending = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = all[i]->call->method ? all[i]->call->method->name : "";
		fwd_fail(all[i], UDSRPC_PROVIDER_UNAVAILABLE, json_pack("{s:s}", "method", name));
	}
	free(all);
	broker_arm(srv);
	free(p->methods);
	free(p->topics);
	free(p);
	s->provider = NULL;
}

void broker_free(struct udsrpc_server *srv)
{
	if (srv->broker.timer)
		event_free(srv->broker.timer);
	free(srv->broker.heap);
	memset(&srv->broker, 0, sizeof(srv->broker));
}

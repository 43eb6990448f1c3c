/*
 * provider.c — the client side of udsrpc(7) "PROVIDERS": methods registered
 * with rpc.provide on a client's connection, the calls the daemon forwards
 * to them run through their handlers, answered by the daemon's id in any
 * order. Built on the client's own calls (client.c), nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udsrpc/client.h>
#include <udsrpc/server.h>

#include "export.h"
#include "clientparse.h"
#include "jsonnum.h"
#include "peer.h"
#include "rpc.h"

struct provided {
	char *name;
	void (*fn)(struct udsrpc_request *req, const json_t *params, void *userdata);
	void *userdata;
	bool sent; /* rpc.provide took it */
};

struct udsrpc_provider {
	struct udsrpc_client *c;
	int timeout_ms;
	struct provided *methods;
	size_t n, cap;
	json_t *new_methods, *new_topics, *topics; /* not yet sent; topics: all names, for -EEXIST */
	struct udsrpc_request *pending; /* requests handed out, not answered */
	size_t npending;
	bool stop;
};

struct udsrpc_request {
	struct udsrpc_provider *p; /* NULL once the provider is freed */
	struct udsrpc_request *prev, *next;
	json_t *msg; /* the forwarded message: id, method, params */
	struct udsrpc_peer caller; /* from msg's "caller", on first use: most handlers never ask */
	bool caller_read;
};

/*
 * A call as udsrpcd forwards it, {"jsonrpc":"2.0",...,"caller":{...}} with
 * the caller last: parsed without the caller, whose text is kept as a
 * string member "caller" for udsrpc_request_caller to read if asked (it is
 * most of the line, and most handlers never ask). NULL: another line, for
 * the generic parse.
 */
static json_t *forward_parse(void *arg, const char *line, size_t len)
{
	static const char key[] = ",\"caller\":{";
	const char *at = NULL, *q;
	json_t *msg;
	char *head;

	(void)arg;
	if (len < 40 || memcmp(line, "{\"jsonrpc\":\"2.0\",", 17) != 0 || line[len - 1] != '}' ||
	    line[len - 2] != '}')
		return NULL;
	/* The last one: params may hold the key, a string never (its quotes are escaped). */
	for (q = line + len - sizeof(key); q > line && !at; q--)
		if (*q == ',' && memcmp(q, key, sizeof(key) - 1) == 0)
			at = q;
	if (!at || !(head = malloc((size_t)(at - line) + 1)))
		return NULL;
	memcpy(head, line, (size_t)(at - line));
	head[at - line] = '}';
	msg = rpc_fast_json(NULL, head, (size_t)(at - line) + 1);
	free(head);
	const char *who = at + sizeof(key) - 2; /* its '{' */
	if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "method")) ||
	    json_object_get(msg, "caller") ||
	    json_object_set_new_nocheck(msg, "caller",
	                                json_stringn_nocheck(who, (size_t)(line + len - 1 - who))) < 0) {
		json_decref(msg);
		return NULL;
	}
	return msg;
}

UDSRPC_EXPORT int udsrpc_provider_new(struct udsrpc_provider **ret, struct udsrpc_client *c,
                                      int timeout_ms)
{
	struct udsrpc_provider *p = calloc(1, sizeof(*p));

	if (!p || !(p->new_methods = json_array()) || !(p->new_topics = json_array()) ||
	    !(p->topics = json_object())) {
		if (p) {
			json_decref(p->new_methods);
			json_decref(p->new_topics);
		}
		free(p);
		return -ENOMEM;
	}
	p->c = c;
	p->timeout_ms = timeout_ms;
	client_set_parser(c, forward_parse, p);
	*ret = p;
	return 0;
}

UDSRPC_EXPORT void udsrpc_provider_free(struct udsrpc_provider *p)
{
	if (!p)
		return;
	client_set_parser(p->c, NULL, NULL);
	/* Requests still out stay their holders'; they learn of this on answering. */
	for (struct udsrpc_request *r = p->pending; r; r = r->next)
		r->p = NULL;
	for (size_t i = 0; i < p->n; i++)
		free(p->methods[i].name);
	free(p->methods);
	json_decref(p->new_methods);
	json_decref(p->new_topics);
	json_decref(p->topics);
	free(p);
}

static struct provided *provider_find(const struct udsrpc_provider *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->methods[i].name, name) == 0)
			return &p->methods[i];
	return NULL;
}

UDSRPC_EXPORT int udsrpc_provider_add_method(
    struct udsrpc_provider *p, const char *method, size_t len,
    void (*fn)(struct udsrpc_request *req, const json_t *params, void *userdata), void *userdata,
    char *err, size_t errlen)
{
	char scratch[160];
	json_error_t jerr;
	json_t *m = json_loadb(method, len, 0, &jerr);
	const char *name = json_string_value(json_object_get(m, "name"));
	int r = 0;

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if (!json_is_object(m) || !name || !fn) {
		snprintf(err, errlen, "%s",
		         !m ? jerr.text
		            : !fn ? "no handler" : "the method object has no string \"name\"");
		r = -EINVAL;
	} else if (provider_find(p, name)) {
		snprintf(err, errlen, "%s: registered already", name);
		r = -EEXIST;
	} else if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct provided *a = realloc(p->methods, cap * sizeof(*a));
		if (a) {
			p->methods = a;
			p->cap = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0 && (!(p->methods[p->n].name = strdup(name)) ||
	               json_array_append(p->new_methods, m) < 0)) {
		free(p->methods[p->n].name);
		r = -ENOMEM;
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (r == 0) {
		struct provided *e = &p->methods[p->n++];
		e->fn = fn;
		e->userdata = userdata;
		e->sent = false;
	}
	json_decref(m);
	return r;
}

UDSRPC_EXPORT int udsrpc_provider_add_topic(struct udsrpc_provider *p, const char *topic)
{
	if (json_object_get(p->topics, topic))
		return -EEXIST;
	if (json_object_set_new(p->topics, topic, json_true()) < 0)
		return -ENOMEM;
	if (json_array_append_new(p->new_topics, json_string(topic)) < 0) {
		json_object_del(p->topics, topic);
		return -ENOMEM;
	}
	return 0;
}

/* Drop the methods and topics not yet taken by the daemon (it refused them all). */
static void provider_forget_new(struct udsrpc_provider *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->n; i++) {
		if (p->methods[i].sent)
			p->methods[kept++] = p->methods[i];
		else
			free(p->methods[i].name);
	}
	p->n = kept;
	for (size_t i = 0; i < json_array_size(p->new_topics); i++)
		json_object_del(p->topics, json_string_value(json_array_get(p->new_topics, i)));
}

/* udsrpc_client_call of method with params (stolen), the reply handed out or dropped. */
static int provider_call(struct udsrpc_provider *p, const char *method, json_t *params,
                         int timeout_ms, json_t **ret_reply)
{
	json_t *reply = NULL;
	int r = params ? udsrpc_client_call(p->c, method, params, timeout_ms, &reply) : -ENOMEM;

	json_decref(params);
	if (ret_reply)
		*ret_reply = reply;
	else
		json_decref(reply);
	return r;
}

UDSRPC_EXPORT int udsrpc_provider_provide(struct udsrpc_provider *p, int timeout_ms,
                                          json_t **ret_reply)
{
	json_t *params = json_pack("{s:O,s:O}", "methods", p->new_methods, "topics", p->new_topics);
	int r = provider_call(p, "rpc.provide", params, timeout_ms, ret_reply);

	if (r < 0)
		return r; /* no verdict: what was added stays, to be sent again */
	if (r == 0)
		for (size_t i = 0; i < p->n; i++)
			p->methods[i].sent = true;
	else
		provider_forget_new(p);
	json_array_clear(p->new_methods);
	json_array_clear(p->new_topics);
	return r;
}

UDSRPC_EXPORT int udsrpc_provider_publish(struct udsrpc_provider *p, const char *topic,
                                          const json_t *event, int timeout_ms, json_t **ret_reply)
{
	json_t *params = json_pack("{s:s,s:O}", "topic", topic, "event", (json_t *)event);
	return provider_call(p, "events.publish", params, timeout_ms, ret_reply);
}

UDSRPC_EXPORT size_t udsrpc_provider_pending(const struct udsrpc_provider *p)
{
	return p->npending;
}

UDSRPC_EXPORT void udsrpc_provider_stop(struct udsrpc_provider *p)
{
	p->stop = true;
}

/* ---- requests ------------------------------------------------------------- */

UDSRPC_EXPORT const char *udsrpc_request_method(const struct udsrpc_request *req)
{
	return json_string_value(json_object_get(req->msg, "method"));
}

UDSRPC_EXPORT const json_t *udsrpc_request_params(const struct udsrpc_request *req)
{
	return json_object_get(req->msg, "params");
}

UDSRPC_EXPORT const struct udsrpc_peer *udsrpc_request_caller(const struct udsrpc_request *req)
{
	struct udsrpc_request *r = (struct udsrpc_request *)req;

	/* Out of memory leaves strings NULL, as members the daemon did not send. */
	if (!r->caller_read) {
		const json_t *who = json_object_get(r->msg, "caller");
		json_t *text = json_is_string(who) ? json_loadb(json_string_value(who),
		                                                json_string_length(who), 0, NULL)
		                                   : NULL;
		peer_from_json(text ? text : who, &r->caller);
		json_decref(text);
	}
	r->caller_read = true;
	return &r->caller;
}

UDSRPC_EXPORT bool udsrpc_request_is_notification(const struct udsrpc_request *req)
{
	return json_object_get(req->msg, "id") == NULL;
}

static void request_free(struct udsrpc_request *req)
{
	struct udsrpc_provider *p = req->p;

	if (p) {
		*(req->prev ? &req->prev->next : &p->pending) = req->next;
		if (req->next)
			req->next->prev = req->prev;
		p->npending--;
	}
	json_decref(req->msg);
	peer_clear(&req->caller);
	free(req);
}

/* Write the response {"id", member: value} (value stolen) and free req. */
static int request_answer(struct udsrpc_request *req, const char *member, json_t *value)
{
	json_t *id = json_object_get(req->msg, "id");
	int r = 0;

	if (!req->p) {
		r = -ENOTCONN;
	} else if (id) {
		/*
		 * Put together from the two values' text, in the order and form
		 * udsrpcd's broker_fast reads without parsing the envelope; the
		 * daemon's ids are integers, written without a dump.
		 */
		char digits[JSONNUM_U64_MAX + 1];
		bool plain = json_is_integer(id) && json_integer_value(id) >= 0;
		char *dumped = plain ? NULL : jsonnum_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
		size_t ni = dumped ? strlen(dumped) : 0, nm = strlen(member);
		const char *idt =
		    plain ? jsonnum_u64((uint64_t)json_integer_value(id), digits, &ni) : dumped;
		char *vt = value ? jsonnum_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		size_t nv = vt ? strlen(vt) : 0;
		char *text = idt && vt ? malloc(ni + nm + nv + 32) : NULL, *at = text;
		if (text) {
			memcpy(at, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
			memcpy(at += 22, idt, ni);
			memcpy(at += ni, ",\"", 2);
			memcpy(at += 2, member, nm);
			memcpy(at += nm, "\":", 2);
			memcpy(at += 2, vt, nv);
			memcpy(at += nv, "}\n", 2);
			at += 2;
		}
		r = text ? udsrpc_client_send_raw(req->p->c, text, (size_t)(at - text), req->p->timeout_ms)
		         : -ENOMEM;
		free(text);
		free(dumped);
		free(vt);
	}
	json_decref(value);
	request_free(req);
	return r;
}

UDSRPC_EXPORT int udsrpc_request_result(struct udsrpc_request *req, json_t *result)
{
	return request_answer(req, "result", result ? result : json_null());
}

UDSRPC_EXPORT int udsrpc_request_error(struct udsrpc_request *req, int code, const char *message,
                                       json_t *data)
{
	json_t *e = json_pack("{s:i,s:s}", "code", code, "message",
	                      message ? message : udsrpc_error_message(code));

	if (e && data && json_object_set(e, "data", data) < 0) {
		json_decref(e);
		e = NULL;
	}
	json_decref(data);
	if (!e) {
		request_free(req);
		return -ENOMEM;
	}
	return request_answer(req, "error", e);
}

/* ---- the loop ------------------------------------------------------------- */

/* msg (stolen) is a forwarded call: a request for it, through its handler. */
static int provider_run_call(struct udsrpc_provider *p, json_t *msg)
{
	struct udsrpc_request *req = calloc(1, sizeof(*req));
	const char *method = json_string_value(json_object_get(msg, "method"));
	struct provided *m = method ? provider_find(p, method) : NULL;

	if (!req) {
		json_decref(msg);
		return -ENOMEM;
	}
	req->p = p;
	req->msg = msg;
	req->next = p->pending;
	if (p->pending)
		p->pending->prev = req;
	p->pending = req;
	p->npending++;
	if (!m || !m->sent) {
		/* The daemon forwards only what we provide; answer anything else as unknown. */
		int r = udsrpc_request_error(req, UDSRPC_METHOD_NOT_FOUND, NULL, NULL);
		return r == -ENOMEM ? r : 0;
	}
	m->fn(req, json_object_get(msg, "params"), m->userdata);
	return 0;
}

UDSRPC_EXPORT int udsrpc_provider_dispatch(struct udsrpc_provider *p, int timeout_ms,
                                           json_t **ret_msg)
{
	json_t *msg = NULL;
	int r;

	if (ret_msg)
		*ret_msg = NULL;
	if ((r = udsrpc_client_receive(p->c, timeout_ms, &msg)) <= 0)
		return r;
	/* A forwarded call is a request with the daemon's "caller" member; an
	 * event has a method but no caller. */
	if (json_is_string(json_object_get(msg, "method")) &&
	    (json_is_object(json_object_get(msg, "caller")) ||
	     json_is_string(json_object_get(msg, "caller")))) /* forward_parse's */
		return (r = provider_run_call(p, msg)) < 0 ? r : 1;
	if (ret_msg)
		*ret_msg = msg;
	else
		json_decref(msg);
	return 1;
}

UDSRPC_EXPORT int udsrpc_provider_run(struct udsrpc_provider *p)
{
	p->stop = false;
	while (!p->stop) {
		int r = udsrpc_provider_dispatch(p, -1, NULL);
		if (r == 0)
			return 0;
		if (r < 0 && r != -EPROTO)
			return r;
	}
	return 0;
}

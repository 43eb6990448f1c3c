/*
 * provide.c — rpc.provide and rpc.unprovide: which names a connection
 * serves through the daemon. Checked whole before anything is claimed
 * (schemas, provide rules, names taken), so a refused call leaves nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udsrpc/udsrpc.h>

#include "broker.h"
#include "call.h"
#include "conn.h"
#include "events.h"
#include "log.h"
#include "methods.h"
#include "policy.h"
#include "registry.h"
#include "rpc.h"
#include "schema.h"
#include "server.h"

/* The daemon's own namespaces: never a provider's. */
static const char *const reserved[] = {"rpc.", "daemon.", "peer.", "config.", "events."};

static bool name_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strncmp(name, reserved[i], strlen(reserved[i])) == 0)
			return true;
	return false;
}

json_t *provided_json(const struct provider *p)
{
	json_t *m = json_array(), *t = json_array();

	for (size_t i = 0; p && i < p->nmethods; i++)
		json_array_append_new(m, json_string(p->methods[i]->name));
	for (size_t i = 0; p && i < p->ntopics; i++)
		json_array_append_new(t, json_string(p->topics[i]->name));
	return json_pack("{s:o,s:o}", "methods", m, "topics", t);
}

/*
 * Names came or went (type "provide" or "unprovide"; methods and topics
 * stolen): the audit line of udsrpc(7) with the names touched, and the
 * "provider" topic's event with the provider's whoami fields.
 */
static void provide_changed(struct udsrpc_server *srv, const struct udsrpc_peer *peer,
                            const char *type, json_t *methods, json_t *topics)
{
	json_t *names = json_pack("{s:o,s:o}", "methods", methods, "topics", topics);
	char *text = names ? json_dumps(names, JSON_COMPACT) : NULL;

	udsrpc_server_audit(srv, strcmp(type, "provide") == 0 ? "rpc.provide" : "rpc.unprovide",
	                    peer->uid, peer->pid, peer->exe, "connection %llu: %.512s%s", peer->id,
	                    text ? text : "(out of memory)", text && strlen(text) > 512 ? "..." : "");
	free(text);
	if (!names || !udsrpc_server_wanted(srv, "provider")) {
		json_decref(names);
		return;
	}
	json_t *ev = json_pack("{s:s}", "type", type), *who = udsrpc_peer_json(peer);
	if (ev)
		json_object_update(ev, names);
	if (ev && who)
		json_object_update_missing(ev, who);
	json_decref(names);
	json_decref(who);
	udsrpc_server_publish(srv, "provider", ev);
}

static bool listed(const json_t *names, const char *name)
{
	size_t i;
	const json_t *v;

	json_array_foreach(names, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

void provide_release(struct udsrpc_server *srv, struct provider *p, const json_t *methods,
                     const json_t *topics)
{
	bool all = !methods && !topics;
	json_t *gone_m = json_array(), *gone_t = json_array();
	size_t k = 0;

	for (size_t i = 0; i < p->nmethods; i++) {
		struct method_entry *e = p->methods[i];
		if (all || listed(methods, e->name)) {
			json_array_append_new(gone_m, json_string(e->name));
			registry_remove(&srv->reg, e);
		} else {
			p->methods[k++] = e;
		}
	}
	p->nmethods = k;
	k = 0;
	for (size_t i = 0; i < p->ntopics; i++) {
		struct topic *tp = p->topics[i];
		if (all || listed(topics, tp->name)) {
			json_array_append_new(gone_t, json_string(tp->name));
			topics_remove(srv, tp);
		} else {
			p->topics[k++] = tp;
		}
	}
	p->ntopics = k;
	if (json_array_size(gone_m) || json_array_size(gone_t)) {
		if (json_array_size(gone_m))
			server_methods_changed(srv);
		provide_changed(srv, &p->conn->peer, "unprovide", gone_m, gone_t);
	} else {
		json_decref(gone_m);
		json_decref(gone_t);
	}
}

/*
 * The policy changed. A name provided under rules that no longer allow it
 * is released, as if the provider had called rpc.unprovide: a provider
 * whose right was revoked must not go on answering for the name (it would
 * answer callers who trust the name's owner). Calls already forwarded stay
 * pending until answered, as with rpc.unprovide; new calls get -32601. The
 * provider is not sent anything (the contract has no message for it): the
 * "provider" topic's unprovide event and a warning say what happened.
 */
void provide_policy_changed(struct udsrpc_server *srv)
{
	struct conn *c;

	TAILQ_FOREACH(c, &srv->conns, link) {
		struct provider *p = c->rpc.provider;
		json_t *methods = NULL, *topics = NULL;

		for (size_t i = 0; p && i < p->nmethods + p->ntopics; i++) {
			bool method = i < p->nmethods;
			const char *name = method ? p->methods[i]->name : p->topics[i - p->nmethods]->name;
			if (policy_allows_provide(srv->policy, &c->peer, name))
				continue;
			log_warning(srv, "policy: uid %u pid %d (connection %llu) may no longer provide "
			            "%s: released", (unsigned)c->peer.uid, (int)c->peer.pid, c->peer.id,
			            name);
			json_t **list = method ? &methods : &topics;
			if (!*list)
				*list = json_array();
			json_array_append_new(*list, json_string(name));
		}
		if (methods || topics) {
			json_t *none = json_array();
			provide_release(srv, p, methods ? methods : none, topics ? topics : none);
			json_decref(none);
		}
		json_decref(methods);
		json_decref(topics);
	}
}

/* -32602 for method object i: path /methods/i, the validator's words. */
static void refuse_method(struct udsrpc_call *c, size_t i, const char *reason)
{
	char path[32];
	snprintf(path, sizeof(path), "/methods/%zu", i);
	udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
	                  json_pack("{s:s,s:s}", "path", path, "reason", reason));
}

/* An OpenRPC document of these method objects, compiled by the validator everyone uses. */
static int load_methods(const json_t *methods, struct reg_doc **ret, char *err, size_t errlen)
{
	json_t *doc = json_pack("{s:s,s:{s:s,s:s},s:O}", "openrpc", "1.2.6", "info", "title",
	                        "rpc.provide", "version", "0", "methods", methods);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct reg_doc *d = calloc(1, sizeof(*d));
	int r = -1;

	json_decref(doc);
	if (text && d) {
		d->refs = 1;
		r = schema_load(text, strlen(text), &d->schema, err, errlen);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	free(text);
	if (r < 0) {
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

static bool grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 8;
	while (n < need)
		n *= 2;
	void *p = realloc(*v, n * size);
	if (!p)
		return false;
	*v = p;
	*cap = n;
	return true;
}

/*
 * The method objects as they will be served: OpenRPC's default
 * paramStructure is "either", but params here are by name (udsrpc(7)),
 * so an object that does not say is taken as "by-name". New reference.
 */
static json_t *by_name(const json_t *methods)
{
	json_t *out = json_array(), *m;
	size_t i;

	json_array_foreach(methods, i, m) {
		json_t *copy = json_copy(m);
		if (copy && !json_object_get(copy, "paramStructure"))
			json_object_set_new(copy, "paramStructure", json_string("by-name"));
		if (!copy || json_array_append_new(out, copy) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static void provide(struct udsrpc_call *c, const json_t *methods, const json_t *topics);

void builtin_rpc_provide(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	json_t *methods = by_name(json_object_get(params, "methods"));

	(void)userdata;
	if (!methods) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	provide(c, methods, json_object_get(params, "topics"));
	json_decref(methods);
}

static void provide(struct udsrpc_call *c, const json_t *methods, const json_t *topics)
{
	struct rpc_session *s = c->session;
	struct udsrpc_server *srv = s->srv;
	const struct udsrpc_peer *peer = s->peer;
	struct provider *p = s->provider;
	const json_t *m;
	size_t i, j;
	char err[512];

	/* A batch runs on after its connection closed (rpc.c): nothing may be claimed for it then. */
	if (!s->owner || ((struct conn *)s->owner)->closed) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL,
		                  json_pack("{s:s}", "reason", "the connection is closed"));
		return;
	}
	/* Provide rules, for every name and topic: first the refusal, so that a
	 * peer learns nothing of what others serve. */
	json_array_foreach(methods, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		for (j = 0; j < i; j++)
			if (strcmp(name, json_string_value(json_object_get(json_array_get(methods, j),
			                                                   "name"))) == 0) {
				snprintf(err, sizeof(err), "method '%s' is listed twice", name);
				refuse_method(c, i, err);
				return;
			}
	}
	json_array_foreach(topics, i, m) {
		for (j = 0; j < i; j++)
			if (json_equal(m, json_array_get(topics, j))) {
				char path[32];
				snprintf(path, sizeof(path), "/topics/%zu", i);
				udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
				                  json_pack("{s:s,s:s}", "path", path, "reason",
				                            "topic listed twice"));
				return;
			}
	}
	for (int pass = 0; pass < 2; pass++) {
		const json_t *list = pass ? topics : methods;
		json_array_foreach(list, i, m) {
			const char *name = pass ? json_string_value(m)
			                        : json_string_value(json_object_get(m, "name"));
			if (policy_allows_provide(srv->policy, peer, name))
				continue;
			/* Logged with data.name where it is counted (call.c), as every denial. */
			udsrpc_call_error(c, UDSRPC_PERMISSION_DENIED, NULL,
			                  json_pack("{s:s,s:I,s:I,s:I,s:s}", "method", "rpc.provide", "uid",
			                            (json_int_t)peer->uid, "gid", (json_int_t)peer->gid,
			                            "pid", (json_int_t)peer->pid, "name", name));
			return;
		}
	}
	/* Names: the daemon's, or served already (by this connection: the same object again is no change). */
	json_t *fresh = json_array();
	json_array_foreach(methods, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		struct method_entry *e = registry_find(&srv->reg, name, strlen(name));
		if (!name_reserved(name) && !e) {
			json_array_append(fresh, (json_t *)m);
			continue;
		}
		if (e && e->kind == METHOD_PROVIDED && e->userdata == p &&
		    json_equal(schema_method_object(e->schema), m))
			continue;
		json_decref(fresh);
		udsrpc_call_error(c, UDSRPC_NAME_TAKEN, NULL, json_pack("{s:s}", "method", name));
		return;
	}
	json_array_foreach(topics, i, m) {
		struct topic *tp = topics_find(&srv->topics, json_string_value(m));
		if (!tp || (tp->owner && tp->owner == s->owner))
			continue;
		json_decref(fresh);
		udsrpc_call_error(c, UDSRPC_NAME_TAKEN, NULL, json_pack("{s:s}", "topic", json_string_value(m)));
		return;
	}
	/* Schemas: the validator of every document; a refusal names the method object. */
	struct reg_doc *doc = NULL;
	size_t nfresh = json_array_size(fresh);
	if (nfresh && load_methods(fresh, &doc, err, sizeof(err)) < 0) {
		json_array_foreach(methods, i, m) {
			json_t *one = json_pack("[O]", m);
			struct reg_doc *d1 = NULL;
			char e1[512];
			int r = one ? load_methods(one, &d1, e1, sizeof(e1)) : -1;
			json_decref(one);
			reg_doc_unref(d1);
			if (r < 0) {
				json_decref(fresh);
				refuse_method(c, i, e1);
				return;
			}
		}
		json_decref(fresh);
		udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
		                  json_pack("{s:s,s:s}", "path", "/methods", "reason", err));
		return;
	}
	/* Claim: nothing below refuses but for memory, and then nothing stays claimed. */
	size_t ntopics = json_array_size(topics);
	struct reg_new *add = calloc(nfresh ? nfresh : 1, sizeof(*add));
	if (!p)
		p = broker_provider(s);
	if (!add || !p || !grow((void **)&p->methods, &p->capmethods, p->nmethods + nfresh,
	                        sizeof(*p->methods)) ||
	    !grow((void **)&p->topics, &p->captopics, p->ntopics + ntopics, sizeof(*p->topics)))
		goto nomem;
	for (i = 0; i < nfresh; i++) {
		add[i].schema = schema_method_at(doc->schema, i);
		add[i].handler = broker_handler;
		add[i].userdata = p;
	}
	if (nfresh && registry_add(&srv->reg, doc, add, nfresh, METHOD_PROVIDED, false, err,
	                           sizeof(err)) < 0)
		goto nomem;
	size_t m0 = p->nmethods, t0 = p->ntopics;
	for (i = 0; i < nfresh; i++) {
		const char *name = schema_method_name(add[i].schema);
		p->methods[p->nmethods++] = registry_find(&srv->reg, name, strlen(name));
	}
	json_t *new_topics = json_array();
	json_array_foreach(topics, i, m) {
		struct topic *tp;
		if (topics_find(&srv->topics, json_string_value(m)))
			continue; /* this connection's already */
		if (topics_add(&srv->topics, json_string_value(m), NULL, s->owner, &tp) < 0) {
			/* Undo: the methods and topics this call added. */
			while (p->ntopics > t0)
				topics_remove(srv, p->topics[--p->ntopics]);
			while (p->nmethods > m0)
				registry_remove(&srv->reg, p->methods[--p->nmethods]);
			json_decref(new_topics);
			goto nomem;
		}
		p->topics[p->ntopics++] = tp;
		json_array_append_new(new_topics, json_string(tp->name));
	}
	if (nfresh)
		server_methods_changed(srv);
	json_t *names = json_array();
	for (i = m0; i < p->nmethods; i++)
		json_array_append_new(names, json_string(p->methods[i]->name));
	if (json_array_size(names) || json_array_size(new_topics))
		provide_changed(srv, peer, "provide", names, new_topics);
	else {
		json_decref(names);
		json_decref(new_topics);
	}
	free(add);
	reg_doc_unref(doc);
	json_decref(fresh);
	udsrpc_call_result(c, provided_json(p));
	return;
nomem:
	free(add);
	reg_doc_unref(doc);
	json_decref(fresh);
	udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
}

void builtin_rpc_unprovide(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct rpc_session *s = c->session;
	const json_t *methods = json_object_get(params, "methods");
	const json_t *topics = json_object_get(params, "topics");

	(void)userdata;
	if (s->provider) {
		/* Only one list given: the other stays. */
		json_t *none = json_array();
		provide_release(s->srv, s->provider, methods ? methods : topics ? none : NULL,
		                topics ? topics : methods ? none : NULL);
		json_decref(none);
	}
	udsrpc_call_result(c, provided_json(s->provider));
}

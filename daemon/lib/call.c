/*
 * call.c — a call's life after dispatch: answered at once, or deferred
 * and answered later (from the loop or from any other thread), exactly
 * once whatever the caller does meanwhile; and the direct reply, written
 * by the answering thread itself when nothing else is owed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "call.h"
#include "clock.h"
#include "conn.h"
#include "export.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"
#include "xthread.h"
#include "jsonnum.h"

/* A direct reply's line must fit here (the prefix plus the result): bigger ones go the usual way. */
#define CALL_DIRECT_MAX 1024

static struct udsrpc_server *call_srv(const struct udsrpc_call *c)
{
	return c->heap ? call_deferred((struct udsrpc_call *)c)->srv : c->session->srv;
}

/* Claim the answer: true for the first caller, from whatever thread. */
static bool call_claim(struct udsrpc_call *c)
{
	int expected = 0;
	return atomic_compare_exchange_strong(&c->done, &expected, 1);
}

/* The loop's part of answering, once claimed. */
static int call_deliver(struct udsrpc_call *c, const struct rpc_body *b)
{
	struct rpc_session *s = c->session;
	struct udsrpc_server *srv = s->srv;
	int r = s->detached ? -ENOTCONN : 0;

	if (b->code)
		srv->stats.req_errors++;
	if (b->code == UDSRPC_PERMISSION_DENIED) {
		srv->stats.req_denied++;
		/* Logged here, where it is counted, so that no denial escapes the
		 * log and none is logged twice. */
		if (c->method && !b->relayed)
			rpc_audit_denial(s, c->method, b->data);
	}
	if (c->method)
		stats_method_record(&c->method->stats, clock_now_ns() - c->t0, b->code);
	if (c->id || c->raw_id) /* a notification is never answered, not even with an error */
		rpc_deliver(s, c->slot, c->index, c->id, c->raw_id, c->raw_id_len, b);
	if (!c->heap)
		return r;
	struct deferred *d = call_deferred(c);
	TAILQ_REMOVE(&s->pending, d, link);
	c->session = NULL;
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
	return r;
}

int call_finish(struct udsrpc_call *c, const struct rpc_body *b)
{
	int r;

	if (!call_claim(c)) {
		json_decref((json_t *)b->result);
		json_decref((json_t *)b->data);
		return -EALREADY;
	}
	r = call_deliver(c, b);
	json_decref((json_t *)b->result);
	json_decref((json_t *)b->data);
	return r;
}

void call_fail(struct udsrpc_call *c, int code, json_t *data)
{
	call_finish(c, &(struct rpc_body){.code = code, .data = data});
}

/* ---- the direct reply ----------------------------------------------------- */

/* At defer: arm when this reply is all its connection is owed (loop thread). */
static void call_direct_arm(struct deferred *d)
{
	struct udsrpc_call *c = &d->call;
	struct rpc_session *s = c->session;
	struct conn *conn = s->owner;
	size_t n;

	/* A session without a connection (unit tests drive rpc alone) has no socket. */
	if (!conn || (!c->id && !c->raw_id) || !c->slot || !rpc_session_only(s, c->slot) ||
	    !conn_direct_ready(conn, s))
		return;
	if (!d->direct_buf && !(d->direct_buf = malloc(CALL_DIRECT_MAX)))
		return;
	n = rpc_result_head(d->direct_buf, CALL_DIRECT_MAX, c->id, c->raw_id, c->raw_id_len);
	if (n > 0 && n + 64 < CALL_DIRECT_MAX) {
		d->direct_line = d->direct_buf;
		d->direct_prefix_len = n;
		d->direct = DIRECT_ARMED;
		conn_direct_arm(conn, d);
	}
}

/* From another thread: write the reply now if still armed. True if it went (or began to). */
static bool call_direct_send(struct deferred *d, const char *text, size_t len)
{
	struct udsrpc_server *srv = d->srv;
	bool sent = false;

	pthread_mutex_lock(&srv->direct_mu);
	if (d->direct == DIRECT_ARMED) {
		size_t n = d->direct_prefix_len;
		if (n + len + 2 <= CALL_DIRECT_MAX) {
			memcpy(d->direct_line + n, text, len);
			n += len;
			d->direct_line[n++] = '}';
			d->direct_line[n++] = '\n';
			d->direct_len = n;
			/* Before the bytes leave: a request they cause must find it set. */
			atomic_store(&srv->direct_sent, true);
			ssize_t w = send(d->direct_fd, d->direct_line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0) {
				d->direct_sent = (size_t)w;
				d->direct = DIRECT_SENT;
				sent = true;
			}
		}
		if (!sent)
			d->direct = DIRECT_REVOKED;
	}
	pthread_mutex_unlock(&srv->direct_mu);
	return sent;
}

size_t call_direct_settle(struct deferred *d, struct evbuffer *out)
{
	struct udsrpc_server *srv = d->srv;
	size_t sent = 0;

	pthread_mutex_lock(&srv->direct_mu);
	if (d->direct == DIRECT_ARMED) {
		d->direct = DIRECT_REVOKED;
	} else if (d->direct == DIRECT_SENT) {
		sent = d->direct_sent;
		/* A short send (rare: a reply line is far smaller than a socket
		 * buffer) leaves the rest to go first in the connection's output. */
		if (sent < d->direct_len && out)
			evbuffer_prepend(out, d->direct_line + sent, d->direct_len - sent);
		d->direct_sent = d->direct_len;
		d->direct = DIRECT_NONE;
	}
	pthread_mutex_unlock(&srv->direct_mu);
	return sent;
}

/* ---- answers from other threads ----------------------------------------- */

/* The loop takes an answer another thread made (xthread.c). */
void call_remote_deliver(struct deferred *d)
{
	struct udsrpc_call *c = &d->call;
	struct rpc_body b = {.result = d->x_result,
	                     .text = d->x_text,
	                     .text_len = d->x_text_len,
	                     .code = d->x_code,
	                     .message = d->x_message,
	                     .data = d->x_data,
	                     .sent = d->x_sent};

	if (d->x_sent && c->session && !c->session->detached && c->session->owner)
		conn_direct_done(c->session->owner, d);
	call_deliver(c, &b);
	json_decref(d->x_result);
	json_decref(d->x_data);
	free(d->x_text);
	free(d->x_message);
	d->x_result = d->x_data = NULL;
	d->x_text = d->x_message = NULL;
	udsrpc_call_unref(c);
}

/* Answered on a thread that is not the loop's: keep it, wake the loop. */
static int call_remote(struct deferred *d, json_t *result, const char *text, size_t len, int code,
                       const char *message, json_t *data)
{
	if (!call_claim(&d->call)) {
		json_decref(result);
		json_decref(data);
		return -EALREADY;
	}
	d->x_code = code;
	d->x_data = data;
	if (message && !(d->x_message = strdup(message)))
		d->x_code = UDSRPC_INTERNAL_ERROR;
	/* direct_line is set only when the call was armed; the lock decides whether it still is. */
	if (code == 0 && d->direct_line) {
		char *dump = NULL;
		if (!text && (dump = jsonnum_dumps(result ? result : json_null(),
		                                JSON_COMPACT | JSON_ENCODE_ANY)))
			text = dump, len = strlen(dump);
		if (text)
			d->x_sent = call_direct_send(d, text, len);
		free(dump);
	}
	if (!d->x_sent) {
		if (text) {
			if ((d->x_text = malloc(len + 1))) {
				memcpy(d->x_text, text, len);
				d->x_text[len] = '\0';
				d->x_text_len = len;
			} else {
				d->x_code = UDSRPC_INTERNAL_ERROR;
			}
			json_decref(result);
		} else {
			d->x_result = result;
		}
	} else {
		json_decref(result);
	}
	int gone = atomic_load(&d->gone);
	udsrpc_call_ref(&d->call);
	xthread_complete(d->srv, d);
	return gone ? -ENOTCONN : 0;
}

/* ---- the public face ------------------------------------------------------ */

/* Answers off the loop thread take the remote way; a call not deferred is on the loop by definition. */
static bool call_is_remote(const struct udsrpc_call *c)
{
	return c->heap && !server_on_loop(call_deferred((struct udsrpc_call *)c)->srv);
}

UDSRPC_EXPORT int udsrpc_call_result(struct udsrpc_call *c, json_t *result)
{
	if (!c) {
		json_decref(result);
		return -EINVAL;
	}
	if (call_is_remote(c))
		return call_remote(call_deferred(c), result, NULL, 0, 0, NULL, NULL);
	return call_finish(c, &(struct rpc_body){.result = result});
}

UDSRPC_EXPORT int udsrpc_call_result_text(struct udsrpc_call *c, const char *text, size_t len)
{
	if (!c || !text)
		return -EINVAL;
	if (call_is_remote(c))
		return call_remote(call_deferred(c), NULL, text, len, 0, NULL, NULL);
	return call_finish(c, &(struct rpc_body){.text = text, .text_len = len});
}

UDSRPC_EXPORT int udsrpc_call_error(struct udsrpc_call *c, int code, const char *message,
                                    json_t *data)
{
	if (!c || code == 0) {
		json_decref(data);
		return -EINVAL;
	}
	if (call_is_remote(c))
		return call_remote(call_deferred(c), NULL, NULL, 0, code, message, data);
	return call_finish(c, &(struct rpc_body){.code = code, .message = message, .data = data});
}

/* Kept for reuse: a durable write defers every call, and 50 writers keep 50 of them in flight. */
#define CALL_SPARE_MAX 64

/* A zeroed deferred call, reused when one is spare (loop thread); NULL on ENOMEM. */
static struct deferred *call_deferred_new(struct udsrpc_server *srv)
{
	struct deferred *d = SPARE_OF(spares_take(&srv->spare_calls), struct deferred, spare);
	char *buf;

	if (!d)
		return calloc(1, sizeof(*d));
	buf = d->direct_buf;
	memset(d, 0, sizeof(*d));
	d->direct_buf = buf;
	return d;
}

static void call_deferred_release(struct deferred *d)
{
	if (!spares_give(&d->srv->spare_calls, &d->spare, CALL_SPARE_MAX)) {
		free(d->direct_buf);
		free(d);
	}
}

void call_spares_free(struct udsrpc_server *srv)
{
	struct deferred *d;

	while ((d = SPARE_OF(spares_take(&srv->spare_calls), struct deferred, spare))) {
		free(d->direct_buf);
		free(d);
	}
}

UDSRPC_EXPORT struct udsrpc_call *udsrpc_call_defer(struct udsrpc_call *c, unsigned flags)
{
	struct rpc_session *s;
	struct deferred *d;

	if (!c || c->heap || c->moved || atomic_load(&c->done))
		return NULL;
	s = c->session;
	if (!(d = call_deferred_new(s->srv))) {
		call_fail(c, UDSRPC_INTERNAL_ERROR, NULL);
		return NULL;
	}
	d->call = *c;
	d->call.heap = true;
	d->srv = s->srv;
	atomic_init(&d->refs, 1);
	if (d->call.raw_id && d->call.raw_id_len <= sizeof(d->id_text)) {
		/* The line it points into is gone once the handler returns. */
		memcpy(d->id_text, d->call.raw_id, d->call.raw_id_len);
		d->call.raw_id = d->id_text;
	} else if (d->call.raw_id) {
		d->call.id = rpc_raw_id_json(d->call.raw_id, d->call.raw_id_len);
		d->call.raw_id = NULL;
		if (!d->call.id) {
			call_deferred_release(d);
			call_fail(c, UDSRPC_INTERNAL_ERROR, NULL);
			return NULL;
		}
	} else if (d->call.id) {
		json_incref(d->call.id);
	}
	if ((d->call.id || d->call.raw_id) && !d->call.slot &&
	    !(d->call.slot = rpc_slot_single(s))) {
		json_decref(d->call.id);
		call_deferred_release(d);
		call_fail(c, UDSRPC_INTERNAL_ERROR, NULL);
		return NULL;
	}
	if (d->call.method)
		method_entry_ref(d->call.method);
	c->moved = true;
	s->deferred++;
	TAILQ_INSERT_TAIL(&s->pending, d, link);
	if (flags & UDSRPC_DEFER_DIRECT)
		call_direct_arm(d);
	return &d->call;
}

UDSRPC_EXPORT struct udsrpc_call *udsrpc_call_ref(struct udsrpc_call *c)
{
	if (c && c->heap)
		atomic_fetch_add(&call_deferred(c)->refs, 1);
	return c;
}

/* The last reference went (loop thread). */
static void call_free(void *arg)
{
	struct deferred *d = arg;
	struct udsrpc_call *c = &d->call;

	if (!atomic_load(&c->done)) {
		log_error(d->srv, "internal: a deferred call of %s was dropped without an answer",
		          c->method ? c->method->name : "?");
		call_fail(c, UDSRPC_INTERNAL_ERROR,
		          json_pack("{s:s}", "reason", "a deferred call was dropped without an answer"));
	}
	if (c->method)
		method_entry_unref(c->method);
	json_decref(c->id);
	call_deferred_release(d);
}

UDSRPC_EXPORT void udsrpc_call_unref(struct udsrpc_call *c)
{
	struct deferred *d;

	if (!c || !c->heap)
		return;
	d = call_deferred(c);
	if (atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	if (server_on_loop(d->srv))
		call_free(d);
	else if (xthread_post(d->srv, call_free, d) < 0)
		log_error(d->srv, "internal: out of memory releasing a call from another thread");
}

UDSRPC_EXPORT void udsrpc_call_on_disconnect(struct udsrpc_call *c,
                                             void (*fn)(struct udsrpc_call *call, void *arg),
                                             void *arg)
{
	if (!c || !c->heap)
		return;
	call_deferred(c)->on_disconnect = fn;
	call_deferred(c)->disconnect_arg = arg;
}

UDSRPC_EXPORT bool udsrpc_call_caller_gone(const struct udsrpc_call *c)
{
	if (!c)
		return true;
	if (c->heap)
		return atomic_load(&call_deferred((struct udsrpc_call *)c)->gone);
	return c->session->detached;
}

void call_session_gone(struct rpc_session *s)
{
	struct deferred *d, **all;
	size_t n = 0, i = 0;

	TAILQ_FOREACH(d, &s->pending, link) {
		atomic_store(&d->gone, true);
		if (d->on_disconnect)
			n++;
	}
	/* A callback may answer (and so unlink and release) any of them: walk a
	 * snapshot, each held by a reference meanwhile. */
	if (n == 0 || !(all = malloc(n * sizeof(*all))))
		return;
	TAILQ_FOREACH(d, &s->pending, link) {
		if (d->on_disconnect) {
			udsrpc_call_ref(&d->call);
			all[i++] = d;
		}
	}
	for (i = 0; i < n; i++)
		if (!atomic_load(&all[i]->call.done))
			all[i]->on_disconnect(&all[i]->call, all[i]->disconnect_arg);
	for (i = 0; i < n; i++)
		udsrpc_call_unref(&all[i]->call);
	free(all);
}

UDSRPC_EXPORT const char *udsrpc_call_method(const struct udsrpc_call *c)
{
	return c && c->method ? c->method->name : NULL;
}

UDSRPC_EXPORT struct udsrpc_server *udsrpc_call_server(const struct udsrpc_call *c)
{
	return c ? call_srv(c) : NULL;
}

UDSRPC_EXPORT const struct udsrpc_peer *udsrpc_call_peer(const struct udsrpc_call *c)
{
	return c && c->session ? c->session->peer : NULL;
}

UDSRPC_EXPORT bool udsrpc_call_allowed_found(const struct udsrpc_call *c, const char *method,
                                             const char *key, const void **found)
{
	if (!c || !c->session || !method)
		return false;
	struct method_entry *e = (struct method_entry *)*found;
	if (!e)
		*found = e = registry_find(&c->session->srv->reg, method, strlen(method));
	if (e)
		return rpc_allowed(c->session, e, key);
	return policy_allows(c->session->srv->policy, c->session->peer, method, key);
}

UDSRPC_EXPORT bool udsrpc_call_allowed(const struct udsrpc_call *c, const char *method,
                                       const char *key)
{
	const void *found = NULL;

	return udsrpc_call_allowed_found(c, method, key, &found);
}

UDSRPC_EXPORT void *udsrpc_call_conn_data(const struct udsrpc_call *c)
{
	struct conn *conn = c && c->session ? c->session->owner : NULL;
	return conn ? conn->service_data : NULL;
}

UDSRPC_EXPORT int udsrpc_call_set_conn_data(struct udsrpc_call *c, void *data)
{
	struct conn *conn = c && c->session ? c->session->owner : NULL;

	if (!conn)
		return -EINVAL;
	if (conn->closed)
		return -ENOTCONN;
	conn->service_data = data;
	return 0;
}

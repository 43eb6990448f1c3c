/*
 * fuzz_rpc.c — libFuzzer target for the line → reply path: the input is the
 * byte stream a peer sends. It is read in chunks no larger than
 * framing_budget allows, split by framing_scan with the leftovers kept, as
 * conn.c does, and each line goes to rpc_handle_line of a session on a real
 * server: udsrpcd's own (its config.* and daemon.* on libudsrpc, the
 * library's built-ins), attached to a loop this target drives. Every reply
 * line and every event must then be one compact JSON-RPC text of the shape
 * udsrpc(7) gives.
 *
 * Each line is handed over in a buffer of exactly its length (no "\n", no
 * NUL after it), so a parser that reads past the line trips ASan.
 *
 * The peer is uid 0, so the default policy lets it call every method:
 *  - config.* run against a real store in a tmpfs scratch dir; an input that
 *    changed it gets a fresh, empty store afterwards, so inputs do not
 *    depend on each other and a crash replays from its input alone;
 *  - daemon.shutdown starts the graceful stop, which closes the listener and
 *    drains connections; requests after it in the same input get -32004,
 *    and the stopping state is cleared before the next input;
 *  - daemon.reload re-reads the embedded default policy (there is no config
 *    or policy file); daemon.log_level is put back to "error" afterwards;
 *  - the session's owner is a real connection (conn_new on a socketpair), so
 *    events.subscribe subscribes it, peer.list lists it, and the events it
 *    is sent come out of the socketpair, where they are checked too.
 * Each input is fed twice: whole (max_message_bytes 1 MiB, max_batch 1024),
 * then in reads of 1-7 bytes with max_message_bytes 128 and max_batch 3, so
 * that lines split across reads, oversize lines, the discard state and
 * the batch limit are all reached by short inputs. Then a third time, as a
 * peer sends it, on a second connection's socket, which the connection
 * reads, answers and (at the end of input) closes as in the daemon: its
 * replies, including those the store's committer writes itself (the
 * library's direct replies), and its
 * events come back mixed on that socket and are checked the same way.
 * Last, as what a provider sends: the bytes are a provider's answers to
 * calls another connection makes to its methods (feed_provider below).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <udsrpc/event.h>

#include "broker.h"
#include "clock.h"
#include "conn.h"
#include "events.h"
#include "framing.h"
#include "fuzzutil.h"
#include "listener.h"
#include "log.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"
#include "store.h"
#include "udsrpcd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct udsrpcd d;
static struct udsrpc_server *srv;
static struct event_base *base;
static struct conn *conn; /* the session's owner: events and peer.list */
static struct rpc_session sess;
static struct evbuffer *out;  /* the session's replies */
static int peer_end = -1;     /* the client's side of conn's socketpair: events land here */
static struct evbuffer *seen; /* events read back but not yet a whole line */
static char store_dir[128];
static json_t *root_who; /* a root_conn's identity as forwarded, without its "id" */

/* Replies of deferred calls are in out already; nothing to write here. */
static void on_output(struct rpc_session *s)
{
}

static void store_fresh(void)
{
	char err[512], path[256];
	static const char *const files[] = {"config.log", "config.snap", "config.snap.tmp"};

	if (d.store) {
		store_close(d.store);
		d.store = NULL;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", store_dir, files[i]);
		unlink(path);
	}
	if (store_open(store_dir, base, NULL, &d.store, err, sizeof(err)) < 0)
		fuzz_fail("store_open: %s", err);
	config_attach_store(&d);
}

/* A connection as listener.c makes one, from root, with every identity field set. */
static struct conn *root_conn(int *ret_peer_end)
{
	int sv[2];
	struct udsrpc_peer peer = {.id = ++srv->next_conn_id, .uid = 0, .gid = 0, .pid = getpid()};
	struct conn *c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		fuzz_fail("socketpair: %s", strerror(errno));
	peer.groups = malloc(2 * sizeof(*peer.groups));
	peer.groups[0] = 0;
	peer.groups[1] = 4;
	peer.ngroups = 2;
	peer.user = strdup("root");
	peer.comm = strdup("fuzz_rpc");
	peer.exe = strdup("/usr/bin/fuzz_rpc");
	c = conn_new(srv, sv[0], &peer);
	if (!c)
		fuzz_fail("conn_new: out of memory");
	*ret_peer_end = sv[1];
	return c;
}

static void conn_fresh(void)
{
	int end;

	conn = root_conn(&end);
	if (peer_end >= 0)
		close(peer_end);
	peer_end = end;
	rpc_session_free(&sess); /* the last one's verdict cache */
	rpc_session_init(&sess, srv, &conn->peer, out, conn);
	sess.on_output = on_output;
	sess.on_release = on_output;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[1024], path[256];

	config_defaults(&d.cfg);
	d.cfg.log_level = UDSRPC_LOG_ERROR;
	snprintf(path, sizeof(path), "%s/udsrpcd.sock", fuzz_scratch_dir());
	config_set_str(&d.cfg.socket, path);
	if (udsrpcd_init(&d, err, sizeof(err)) < 0)
		fuzz_fail("udsrpcd_init: %s", err);
	srv = d.srv;
	/* The loop is this thread's: answers from the store's committer go through it. */
	if (!(base = event_base_new()) || udsrpc_server_attach(srv, base, err, sizeof(err)) < 0)
		fuzz_fail("attach: %s", err);
	snprintf(store_dir, sizeof(store_dir), "%s/state", fuzz_scratch_dir());
	store_fresh();
	out = evbuffer_new();
	seen = evbuffer_new();
	conn_fresh();
	root_who = udsrpc_peer_json(&conn->peer);
	json_object_del(root_who, "id");
	return 0;
}

/*
 * After a daemon.shutdown: as if it had not come, so the next input starts
 * like the first (a stop that ran closed the listener; it is not needed).
 */
static void server_unstop(void)
{
	srv->shutting_down = false;
	srv->stopped = false;
	if (srv->ev_grace)
		evtimer_del(srv->ev_grace);
}

/*
 * One reply (or batch member, or event) as udsrpc(7) shapes it. foreign:
 * the reply may come from a provider, whose errors reach the caller
 * unchanged (any code, any message).
 */
static void check_message(const json_t *m, bool in_batch, bool event, bool foreign,
                          const char *line)
{
	const json_t *v = json_object_get(m, "jsonrpc");
	const json_t *id = json_object_get(m, "id");
	const json_t *result = json_object_get(m, "result");
	const json_t *error = json_object_get(m, "error");

	if (!json_is_object(m) || !json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		fuzz_fail("not a JSON-RPC 2.0 object: %.300s", line);
	if (event) {
		const json_t *method = json_object_get(m, "method");
		if (id || !json_is_string(method) ||
		    strcmp(json_string_value(method), "event") != 0 ||
		    !json_is_object(json_object_get(m, "params")) || json_object_size(m) != 3)
			fuzz_fail("an event is jsonrpc, method \"event\" and params: %.300s", line);
		return;
	}
	if (!id)
		fuzz_fail("a reply without an id%s: %.300s", in_batch ? " in a batch" : "", line);
	if (!json_is_string(id) && !json_is_number(id) && !json_is_null(id))
		fuzz_fail("reply id of the wrong type: %.300s", line);
	if (!result == !error || json_object_size(m) != 3)
		fuzz_fail("a reply has exactly jsonrpc, id and one of result/error: %.300s", line);
	if (error) {
		const json_t *code = json_object_get(error, "code");
		const json_t *msg = json_object_get(error, "message");
		if (!json_is_integer(code) || !json_is_string(msg))
			fuzz_fail("error without an integer code and a message: %.300s", line);
		if (foreign)
			return;
		if (strcmp(json_string_value(msg),
		           udsrpc_error_message((int)json_integer_value(code))) != 0)
			fuzz_fail("error without its code and exact message: %.300s", line);
		if (strcmp(json_string_value(msg), "Server error") == 0)
			fuzz_fail("error code outside the protocol's table: %.300s", line);
	}
}

/*
 * EITHER: an object without an id is an event. CALLER, PROVIDER: as
 * EITHER, replies may be a provider's, and each goes to brokered_reply
 * too. On every kind, a line with "caller" is a call forwarded to the
 * connection, which may have become a provider (rpc.provide in the input).
 */
enum line_kind { REPLIES, EVENTS, EITHER, CALLER, PROVIDER };

static void brokered_reply(const json_t *m, enum line_kind kind, const char *line);
static void brokered_forward(const json_t *m, enum line_kind kind, const char *line);

/* Check and drop every whole line in buf. */
static void check_lines(struct evbuffer *buf, enum line_kind kind)
{
	for (;;) {
		struct evbuffer_ptr nl = evbuffer_search(buf, "\n", 1, NULL);
		if (nl.pos < 0)
			return;
		size_t len = (size_t)nl.pos;
		const char *line = (const char *)evbuffer_pullup(buf, (ev_ssize_t)len + 1);
		json_error_t jerr;
		json_t *m = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
		if (!m)
			fuzz_fail("%s line is not JSON (%s at %d): %.300s",
			          kind == EVENTS ? "event" : "reply", jerr.text, jerr.position,
			          line);
		/* Once a call was forwarded, any reply may carry a provider's error. */
		bool foreign = kind == CALLER || kind == PROVIDER || srv->broker.next_id > 0;
		bool events = kind == EVENTS ||
		              ((kind == EITHER || foreign) && json_is_object(m) &&
		               !json_object_get(m, "id") && !json_object_get(m, "caller"));
		if (json_is_object(m) && json_object_get(m, "caller")) {
			brokered_forward(m, kind, line);
		} else if (json_is_array(m) && !events) {
			size_t i;
			json_t *member;
			if (json_array_size(m) == 0)
				fuzz_fail("empty batch reply: an all-notification batch gets none");
			json_array_foreach(m, i, member) check_message(member, true, false, foreign, line);
		} else {
			check_message(m, false, events, foreign, line);
		}
		if ((kind == CALLER || kind == PROVIDER) && !events && !json_object_get(m, "caller"))
			brokered_reply(m, kind, line);
		json_decref(m);
		evbuffer_drain(buf, len + 1);
	}
}

/* What reached the peer's end of the socketpair: events only. */
static void check_events(void)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(peer_end, buf, sizeof(buf))) > 0)
		evbuffer_add(seen, buf, (size_t)n);
	if (n < 0 && errno != EAGAIN)
		fuzz_fail("read: %s", strerror(errno));
	check_lines(seen, EVENTS);
}

/* conn_feed: frame and dispatch what buf holds; returns the bytes used. */
static size_t process(struct framing *f, const char *buf, size_t len, bool eof)
{
	const char *line;
	size_t off = 0, used, n;

	for (;;) {
		enum framing_event e = framing_scan(f, buf + off, len - off, eof, &used, &line, &n);
		if (used > len - off)
			fuzz_fail("framing_scan used %zu of %zu bytes", used, len - off);
		off += used;
		if (e == FRAMING_NONE)
			return off;
		if (e == FRAMING_BLANK)
			continue;
		if (e == FRAMING_OVERSIZE) {
			rpc_reply_unsolicited(&sess, UDSRPC_REQUEST_TOO_LARGE,
			                      json_pack("{s:I}", "limit", (json_int_t)f->max));
		} else {
			if (n == 0 || n > f->max || memchr(line, '\n', n) || line < buf ||
			    line + n > buf + off)
				fuzz_fail(
				    "framing handed out a line of %zu bytes (cap %zu) outside "
				    "what it used, or with a newline",
				    n, f->max);
			/* Exactly the line: a read past it is an ASan report. */
			char *copy = malloc(n);
			memcpy(copy, line, n);
			rpc_handle_line(&sess, copy, n);
			free(copy);
		}
		/* As a peer reading now and then would: the output cap stays far. */
		if (evbuffer_get_length(out) > 65536)
			check_lines(out, REPLIES);
	}
}

/* conn_read: reads of at most framing_budget bytes, leftovers kept for the next. */
static void feed(const uint8_t *data, size_t size, size_t max_message, unsigned max_batch,
                 size_t chunk)
{
	struct framing f;
	char *pend = malloc(size + 1); /* what is kept never exceeds what was read */
	size_t plen = 0, off = 0;

	srv->limits.max_message_bytes = max_message;
	srv->limits.max_batch = max_batch;
	framing_init(&f, max_message);
	for (;;) {
		bool eof = off == size;
		size_t used = process(&f, pend, plen, eof);
		memmove(pend, pend + used, plen - used);
		plen -= used;
		if (eof) {
			if (plen > 0)
				fuzz_fail("framing left %zu bytes at EOF", plen);
			break;
		}
		/* framing.h: never needs more than max + 1 bytes of a line. */
		if (plen > f.max + 1)
			fuzz_fail("framing keeps %zu bytes of a line, cap %zu", plen, f.max);
		size_t want = framing_budget(&f, plen, chunk);
		if (want == 0)
			fuzz_fail("read budget 0 with %zu bytes kept", plen);
		if (want > size - off)
			want = size - off;
		memcpy(pend + plen, data + off, want);
		plen += want;
		off += want;
	}
	free(pend);
}

/*
 * The input once more, through a connection's own path: sent on a socket
 * that conn_read reads, then shut, so the connection answers everything and
 * closes. Replies and events come back on the one socket; this is where the
 * store's committer may send a write's answer itself (a direct reply).
 */
static void feed_socket(const uint8_t *data, size_t size)
{
	struct conn *c;
	int end;
	struct evbuffer *got = evbuffer_new();
	uint64_t deadline = clock_now_ms() + 10000;
	size_t off = 0;
	bool shut = false;
	char buf[65536];
	ssize_t n;

	srv->limits.max_message_bytes = 1024 * 1024;
	srv->limits.max_batch = 1024;
	c = root_conn(&end);
	conn_hold(c); /* to look at after it closed */
	for (;;) {
		if (off < size && (n = write(end, data + off, size - off)) > 0)
			off += (size_t)n;
		if (off == size && !shut) {
			shutdown(end, SHUT_WR);
			shut = true;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		while ((n = read(end, buf, sizeof(buf))) > 0)
			evbuffer_add(got, buf, (size_t)n);
		bool ended = n == 0 || errno != EAGAIN;
		check_lines(got, EITHER);
		if (ended)
			break; /* closed: everything answered */
		if (clock_now_ms() > deadline)
			fuzz_fail("a connection fed %zu bytes and shut did not close within 10 s",
			          size);
	}
	if (!c->closed)
		fuzz_fail("the peer saw the end, but the connection is not closed (in %zu, eof %d, "
		          "owed %d, deferred %u, shutting down %d)",
		          c->in_len, c->eof, rpc_session_busy(&c->rpc), c->rpc.deferred,
		          srv->shutting_down);
	conn_release(c);
	if (evbuffer_get_length(got) > 0)
		fuzz_fail("replies end inside a line (%zu bytes)", evbuffer_get_length(got));
	evbuffer_free(got);
	close(end);
}

/* ---- the input as a provider's answers ------------------------------------------- */

/*
 * The provider P serves fz.int(n: integer) -> integer >= 0, fz.any() ->
 * anything and fz.str() -> string, and the topic fz.t.
 */
static const char provide_line[] =
    "{\"jsonrpc\":\"2.0\",\"id\":\"provide\",\"method\":\"rpc.provide\",\"params\":{\"methods\":["
    "{\"name\":\"fz.int\",\"params\":[{\"name\":\"n\",\"required\":true,\"schema\":{\"type\":"
    "\"integer\"}}],\"result\":{\"name\":\"r\",\"schema\":{\"type\":\"integer\",\"minimum\":0}}},"
    "{\"name\":\"fz.any\",\"params\":[],\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"fz.str\",\"params\":[],\"result\":{\"name\":\"r\",\"schema\":{\"type\":"
    "\"string\"}}}],\"topics\":[\"fz.t\"]}}\n";

/*
 * The caller C's calls before the input's own: forwarded as daemon ids 1-8
 * (6 and 8 are notifications, sent without an id), so an input answers
 * them by those numbers. Each line's reply is fixed_replies[i], in order.
 */
static const char fixed_calls[] =
    "{\"jsonrpc\":\"2.0\",\"id\":\"sub\",\"method\":\"events.subscribe\",\"params\":{\"topics\":"
    "[\"fz.t\",\"provider\"]}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"fz.int\",\"params\":{\"n\":1}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"fz.int\",\"params\":{\"n\":2}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"fz.any\"}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"fz.str\",\"params\":{}}\n"
    "[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"fz.int\",\"params\":{\"n\":5}},"
    "{\"jsonrpc\":\"2.0\",\"method\":\"fz.any\"},{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"fz.str\"}]\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"fz.int\",\"params\":{\"n\":8}}\n";

enum answer { SUBSCRIBED, INT, ANY, STR };
static const struct {
	const char *id; /* JSON text */
	enum answer a;
	json_int_t daemon_id; /* as forwarded */
} fixed_replies[] = {{"\"sub\"", SUBSCRIBED, 0}, {"1", INT, 1}, {"2", INT, 2}, {"3", ANY, 3},
                     {"\"s\"", STR, 4},          {"5", INT, 5}, {"6", STR, 7}}; /* the last two: a batch */
enum { NREPLIES = 6 };

/* What the provider is forwarded of those, in order (id 0: a notification). */
static const struct {
	const char *method;
	json_int_t id;
	const char *params; /* JSON text, NULL: none */
} fixed_forwards[] = {{"fz.int", 1, "{\"n\":1}"}, {"fz.int", 2, "{\"n\":2}"}, {"fz.any", 3, NULL},
                      {"fz.str", 4, "{}"},        {"fz.int", 5, "{\"n\":5}"}, {"fz.any", 0, NULL},
                      {"fz.str", 7, NULL},        {"fz.int", 0, "{\"n\":8}"}};
enum { NFORWARDS = sizeof(fixed_forwards) / sizeof(fixed_forwards[0]) };

static struct {
	json_t *c_who;    /* the caller's identity, as a forwarded "caller" has it */
	json_t *answers;  /* {"ID":[result...]}: what P's lines answer each id with */
	bool provided;         /* P's rpc.provide answered */
	unsigned replies;      /* C's replies so far (not events) */
	unsigned forwards;     /* calls forwarded to P so far */
} bk;

/* One of C's fixed calls answered: its own id, and a result only of its method's type. */
static void check_fixed(const json_t *m, unsigned i, const char *line)
{
	json_t *want = json_loads(fixed_replies[i].id, JSON_DECODE_ANY, NULL);
	const json_t *r = json_object_get(m, "result");

	if (!json_equal(json_object_get(m, "id"), want))
		fuzz_fail("reply %u to the caller is not for id %s (in the caller's order): %.300s", i,
		          fixed_replies[i].id, line);
	json_decref(want);
	if ((fixed_replies[i].a == SUBSCRIBED && !r) ||
	    (r && fixed_replies[i].a == INT && (!json_is_integer(r) || json_integer_value(r) < 0)) ||
	    (r && fixed_replies[i].a == STR && !json_is_string(r)))
		fuzz_fail("a result outside its method's result schema reached the caller: %.300s",
		          line);
	if (!r || fixed_replies[i].a == SUBSCRIBED)
		return;
	/* The result is one P sent for that call's id: answers reach their own caller. */
	char key[24];
	size_t k;
	json_t *sent;
	snprintf(key, sizeof(key), "%lld", (long long)fixed_replies[i].daemon_id);
	json_array_foreach(json_object_get(bk.answers, key), k, sent) {
		if (json_equal(sent, r))
			return;
	}
	fuzz_fail("the caller's id %s got a result the provider never sent for daemon id %s: %.300s",
	          fixed_replies[i].id, key, line);
}

/* Every line of P's bytes that carries an integer id and a result, as rpc would parse it. */
static json_t *answers_in(const uint8_t *data, size_t len)
{
	json_t *all = json_object();
	const uint8_t *end = data + len, *nl;

	for (const uint8_t *at = data; at < end; at = nl + 1) {
		if (!(nl = memchr(at, '\n', (size_t)(end - at))))
			nl = end;
		json_t *m = json_loadb((const char *)at, (size_t)(nl - at),
		                       JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
		json_t *id = json_object_get(m, "id"), *r = json_object_get(m, "result");
		if (json_is_integer(id) && r) {
			char key[24];
			snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(id));
			if (!json_object_get(all, key))
				json_object_set_new(all, key, json_array());
			json_array_append(json_object_get(all, key), r);
		}
		json_decref(m);
	}
	return all;
}

static void brokered_reply(const json_t *m, enum line_kind kind, const char *line)
{
	if (kind == PROVIDER) {
		if (!bk.provided) {
			if (!json_object_get(m, "result"))
				fuzz_fail("rpc.provide refused: %.300s", line);
			bk.provided = true;
		}
		return;
	}
	unsigned i = bk.replies++;
	if (i + 1 < NREPLIES) {
		check_fixed(m, i, line);
	} else if (i + 1 == NREPLIES) {
		if (!json_is_array(m) || json_array_size(m) != 2)
			fuzz_fail("the batch of two calls is answered with two replies: %.300s", line);
		check_fixed(json_array_get(m, 0), i, line);
		check_fixed(json_array_get(m, 1), i + 1, line);
	}
}

/* A call forwarded: the caller's params as sent, the daemon's own id, and the caller. */
static void brokered_forward(const json_t *m, enum line_kind kind, const char *line)
{
	const json_t *v = json_object_get(m, "jsonrpc"), *id = json_object_get(m, "id");
	const json_t *method = json_object_get(m, "method"), *params = json_object_get(m, "params");
	const json_t *caller = json_object_get(m, "caller");

	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0 ||
	    !json_is_string(method) || (id && (!json_is_integer(id) || json_integer_value(id) <= 0)) ||
	    (params && !json_is_object(params) && !json_is_array(params)) ||
	    json_object_size(m) != 3u + !!id + !!params)
		fuzz_fail("a forwarded call is jsonrpc, id, method, params and caller: %.300s", line);
	json_t *who = json_deep_copy(caller);
	if (!json_is_integer(json_object_get(caller, "id")) || json_object_del(who, "id") < 0 ||
	    !json_equal(who, root_who))
		fuzz_fail("a forwarded call's caller is not the identity of a connection: %.300s", line);
	json_decref(who);
	if (kind != PROVIDER || bk.forwards >= NFORWARDS)
		return;
	unsigned i = bk.forwards++;
	json_t *want = fixed_forwards[i].params ? json_loads(fixed_forwards[i].params, 0, NULL) : NULL;
	if (strcmp(json_string_value(method), fixed_forwards[i].method) != 0 ||
	    (id ? json_integer_value(id) : 0) != fixed_forwards[i].id || !json_equal(caller, bk.c_who) ||
	    (!want != !params) || (want && !json_equal(want, params)))
		fuzz_fail("forwarded call %u is not %s id %lld as the caller sent it: %.300s", i,
		          fixed_forwards[i].method, (long long)fixed_forwards[i].id, line);
	json_decref(want);
}

/*
 * One connection's peer: bytes for its end of the socketpair, written as
 * the connection makes room. Not held: a held connection's output waits
 * for the release, and forwarded calls are output. ended: the daemon
 * closed it (the struct is gone then).
 */
struct peer_side {
	int end;
	bool ended;
	const uint8_t *data;
	size_t len, off;
	struct evbuffer *got;
	enum line_kind kind;
};

/* One turn: write what fits, run the loop, read and check what came back. */
static void pump(struct peer_side *sides, size_t n)
{
	char buf[65536];
	ssize_t r;

	for (size_t i = 0; i < n; i++)
		if (sides[i].off < sides[i].len &&
		    (r = write(sides[i].end, sides[i].data + sides[i].off, sides[i].len - sides[i].off)) > 0)
			sides[i].off += (size_t)r;
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (size_t i = 0; i < n; i++) {
		while ((r = read(sides[i].end, buf, sizeof(buf))) > 0)
			evbuffer_add(sides[i].got, buf, (size_t)r);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			sides[i].ended = true;
		check_lines(sides[i].got, sides[i].kind);
	}
}

/* pump until done() or 10 s (a deadline the 200 ms call timeout keeps far). */
static void pump_until(struct peer_side *sides, bool (*done)(struct peer_side *), const char *what)
{
	uint64_t deadline = clock_now_ms() + 10000;

	while (!done(sides)) {
		pump(sides, 2);
		if (clock_now_ms() > deadline)
			fuzz_fail("fuzz_rpc: within 10 s, no %s (provider closed %d, caller closed %d)",
			          what, sides[0].ended, sides[1].ended);
	}
}

static bool provided(struct peer_side *s)
{
	return bk.provided || s[0].ended;
}

static bool forwarded(struct peer_side *s)
{
	/* The provider may be gone before (daemon.shutdown in the caller's part). */
	return (bk.forwards == NFORWARDS && s[1].off == s[1].len) || s[0].ended;
}

static bool provider_closed(struct peer_side *s)
{
	return s[0].ended;
}

static bool caller_closed(struct peer_side *s)
{
	return s[1].ended;
}

/*
 * The input once more, as what a provider P sends: P provides fz.*, a
 * caller C makes the fixed calls (and, when the input has a form feed, the
 * bytes after it are C's further calls, sent after the fixed ones), then
 * the bytes before the form feed are P's answers. The daemon's ids start at
 * 1 in every input, so answers can name them: matched ones, unknown ones,
 * garbage, batches, results off the result schema, calls of P's own. P
 * shuts its side; once it is closed (its pending calls answered -32005), C
 * shuts. C must have had each fixed call answered once, in its order, and
 * never a result its method's schema refuses; P must have been forwarded
 * the fixed calls as sent, with C's identity.
 */
static void feed_provider(const uint8_t *data, size_t size)
{
	const uint8_t *ff = memchr(data, '\f', size);
	size_t plen = ff ? (size_t)(ff - data) : size;
	uint64_t inflight = srv->limits.max_provider_inflight;
	struct peer_side sides[2] = {{.kind = PROVIDER}, {.kind = CALLER}};
	struct evbuffer *cbytes = evbuffer_new();

	if (srv->broker.nheap)
		fuzz_fail("calls still forwarded after the other feeds: %zu", srv->broker.nheap);
	srv->broker.next_id = 0; /* so that inputs can name the fixed calls' ids */
	srv->limits.max_message_bytes = 1024 * 1024;
	srv->limits.max_batch = 1024;
	/* Long enough for the answers to come first, short for calls P makes to itself. */
	srv->limits.call_timeout_ms = 100;
	/* The 6 fixed calls and 2 more: then -32007. */
	srv->limits.max_provider_inflight = 8;
	memset(&bk, 0, sizeof(bk));
	bk.answers = answers_in(data, plen);
	for (int i = 0; i < 2; i++) {
		struct conn *c = root_conn(&sides[i].end);
		if (i)
			bk.c_who = udsrpc_peer_json(&c->peer);
		sides[i].got = evbuffer_new();
	}

	sides[0].data = (const uint8_t *)provide_line;
	sides[0].len = sizeof(provide_line) - 1;
	pump_until(sides, provided, "answer to rpc.provide");
	evbuffer_add(cbytes, fixed_calls, sizeof(fixed_calls) - 1);
	if (ff)
		evbuffer_add(cbytes, ff + 1, size - plen - 1);
	sides[1].len = evbuffer_get_length(cbytes);
	sides[1].data = evbuffer_pullup(cbytes, -1);
	pump_until(sides, forwarded, "fixed calls forwarded");

	sides[0].data = data;
	sides[0].len = plen;
	sides[0].off = 0;
	while (sides[0].off < sides[0].len && !sides[0].ended)
		pump(sides, 2);
	shutdown(sides[0].end, SHUT_WR);
	pump_until(sides, provider_closed, "close of the provider after its EOF");
	shutdown(sides[1].end, SHUT_WR);
	pump_until(sides, caller_closed, "close of the caller after its EOF");
	pump(sides, 2);

	if (!bk.provided || bk.forwards != NFORWARDS || bk.replies < NREPLIES) {
		/* Only a daemon.shutdown in the input ends it early. */
		if (!srv->shutting_down)
			fuzz_fail("provided %d, %u of %d calls forwarded, %u of %d replies",
			          bk.provided, bk.forwards, (int)NFORWARDS, bk.replies, (int)NREPLIES);
	}
	if (srv->broker.nheap)
		fuzz_fail("%zu forwarded calls left after both connections closed", srv->broker.nheap);
	if (registry_find(&srv->reg, "fz.int", 6))
		fuzz_fail("fz.int still provided after its provider closed");
	for (int i = 0; i < 2; i++) {
		if (evbuffer_get_length(sides[i].got) > 0)
			fuzz_fail("%s's lines end inside a line (%zu bytes)", i ? "the caller" : "the provider",
			          evbuffer_get_length(sides[i].got));
		close(sides[i].end);
		evbuffer_free(sides[i].got);
	}
	evbuffer_free(cbytes);
	json_decref(bk.c_who);
	json_decref(bk.answers);
	srv->limits.max_provider_inflight = inflight;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/*
	 * An input that provides a method and calls it on the same session
	 * waits for this, as no one answers (set each time: daemon.reload may
	 * have reset it). The daemon's ids start again at 1: nothing is
	 * forwarded between inputs.
	 */
	srv->limits.call_timeout_ms = 20;
	if (srv->broker.nheap)
		fuzz_fail("calls still forwarded from the last input: %zu", srv->broker.nheap);
	srv->broker.next_id = 0;
	/* Held, so that a close (event overflow) leaves the struct for us to
	 * look at until the release frees it. */
	conn_hold(conn);
	feed(data, size, 1024 * 1024, 1024, size ? size : 1);
	check_lines(out, REPLIES);
	feed(data, size, 128, 3, 1 + size % 7);

	/* Durable writes answer from the loop once the committer is done. */
	while (sess.deferred > 0)
		event_base_loop(base, EVLOOP_ONCE);
	event_base_loop(base, EVLOOP_NONBLOCK); /* the stop, if shutdown was called */
	check_lines(out, REPLIES);
	if (evbuffer_get_length(out) > 0)
		fuzz_fail("replies end inside a line (%zu bytes)", evbuffer_get_length(out));
	if (rpc_session_busy(&sess))
		fuzz_fail("replies still owed after every call completed");

	/* Back to the state every input starts from: what the session provides goes too. */
	broker_session_gone(&sess);
	bool closed = conn->closed;
	if (!closed)
		events_unsubscribe_all(conn);
	conn_release(conn); /* flushes held events; frees it if closed */
	if (closed) {
		evbuffer_drain(seen, evbuffer_get_length(seen));
		conn_fresh();
	} else {
		/* Events beyond the socket buffer wait for the loop to write them. */
		for (int i = 0; i < 1000; i++) {
			size_t before = evbuffer_get_length(seen);
			check_events();
			event_base_loop(base, EVLOOP_NONBLOCK);
			if (evbuffer_get_length(seen) == before && i > 0)
				break;
		}
		check_events();
		if (evbuffer_get_length(seen) > 0)
			fuzz_fail("events end inside a line (%zu bytes)",
			          evbuffer_get_length(seen));
	}
	server_unstop();
	feed_socket(data, size);
	server_unstop();
	feed_provider(data, size);
	server_unstop();
	udsrpc_server_set_log_level(srv, UDSRPC_LOG_ERROR);
	if (store_revision(d.store) != 0)
		store_fresh();
	return 0;
}

/*
 * test_events.c — events.* and server push (udsrpc(7), "Server push" and EVENTS)
 * on a real udsrpcd: what each topic carries, order,
 * interleaving with responses, unsubscribe, the subscriber that never
 * reads (disconnected at max_output_bytes, writers unaffected), and a
 * transaction's events written together (order, completeness, overflow).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;

static int daemon_setup(void **state)
{
	daemon_start(&d, NULL);
	return 0;
}

/* A test may have stopped the daemon itself (the shutdown event). */
static int daemon_teardown(void **state)
{
	int status = d.pid > 0 ? daemon_stop(&d) : 0;
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

/* The result of method(params) on conn, which must succeed (new reference; params stolen). */
static json_t *ok_on(int conn, const char *method, json_t *params)
{
	static long id = 1;
	return harness_take_result(client_call_method(conn, id++, method, params), method);
}

/* A connection subscribed to topics (a JSON array text), its reply checked. */
static int subscriber(const char *topics_json)
{
	int c = client_connect(d.sock);
	assert_true(c >= 0);
	json_t *topics = json_loads(topics_json, 0, NULL);
	json_t *res = ok_on(c, "events.subscribe", json_pack("{s:O}", "topics", topics));
	assert_true(json_equal(json_object_get(res, "topics"), topics));
	json_decref(res);
	json_decref(topics);
	return c;
}

/* Assert line is an event notification; its params (new reference). */
static json_t *event_params(const char *line)
{
	json_t *n = json_loads(line, JSON_ALLOW_NUL, NULL);
	if (!n)
		print_error("not JSON: %.200s\n", line);
	assert_non_null(n);
	assert_int_equal(json_object_size(n), 3); /* jsonrpc, method, params: no id */
	assert_string_equal(json_string_value(json_object_get(n, "jsonrpc")), "2.0");
	assert_string_equal(json_string_value(json_object_get(n, "method")), "event");
	json_t *p = json_incref(json_object_get(n, "params"));
	assert_true(json_is_object(p));
	json_decref(n);
	return p;
}

/* The next line on conn, which must be an event (params, new reference). */
static json_t *next_event(int conn)
{
	char *line = client_recv_line(conn, 10000);
	assert_non_null(line);
	json_t *p = event_params(line);
	free(line);
	return p;
}

static void test_subscribe_unsubscribe_results(void **state)
{
	int c = client_connect(d.sock);
	json_t *res = ok_on(c, "events.subscribe", json_pack("{s:[s]}", "topics", "config"));
	/* With the store's revision (a fresh one: 0), where a watch from a listing starts. */
	json_t *want = json_pack("{s:[s],s:i}", "topics", "config", "revision", 0);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	/* The result lists all topics now subscribed, by name. */
	res = ok_on(c, "events.subscribe",
	            json_pack("{s:[s,s,s]}", "topics", "peer", "daemon", "peer"));
	want = json_pack("{s:[s,s,s],s:i}", "topics", "config", "daemon", "peer", "revision", 0);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	/* A topic nobody declared: -32602 naming it, and nothing changes. */
	json_t *reply = client_call(c, "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"events.subscribe\","
	                               "\"params\":{\"topics\":[\"peer\",\"weather\"]}}");
	want = json_pack("{s:s,s:i,s:{s:i,s:s,s:{s:s,s:s}}}", "jsonrpc", "2.0", "id", 77, "error",
	                 "code", -32602, "message", "Invalid params", "data", "path", "/topics/1",
	                 "reason", "unknown topic 'weather'");
	assert_true(json_equal(reply, want));
	json_decref(want);
	json_decref(reply);
	res = ok_on(c, "events.unsubscribe", json_pack("{s:[s]}", "topics", "peer"));
	want = json_pack("{s:[s,s]}", "topics", "config", "daemon");
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	/* peer.list shows them. */
	res = ok_on(c, "peer.list", NULL);
	size_t i;
	json_t *p;
	int found = 0;
	json_array_foreach(json_object_get(res, "peers"), i, p)
	{
		if (json_integer_value(json_object_get(p, "pid")) != getpid())
			continue;
		want = json_pack("[s,s]", "config", "daemon");
		assert_true(json_equal(json_object_get(p, "topics"), want));
		json_decref(want);
		found++;
	}
	assert_int_equal(found, 1);
	json_decref(res);
	/* Absent topics: all gone. */
	res = ok_on(c, "events.unsubscribe", NULL);
	want = json_pack("{s:[]}", "topics");
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	res = ok_on(c, "events.unsubscribe", json_pack("{s:[s]}", "topics", "config"));
	assert_int_equal(json_array_size(json_object_get(res, "topics")), 0);
	json_decref(res);

	/* Unknown topics, an empty list, a non-array, and a by-position array are invalid params.
	 */
	static const char *const bad[] = {
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b1\",\"method\":\"events.subscribe\",\"params\":{"
	    "\"topics\":[\"weather\"]}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b2\",\"method\":\"events.subscribe\",\"params\":{"
	    "\"topics\":\"config\"}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b3\",\"method\":\"events.subscribe\",\"params\":{}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b6\",\"method\":\"events.subscribe\",\"params\":{"
	    "\"topics\":[]}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b4\",\"method\":\"events.subscribe\",\"params\":[["
	    "\"config\"]]}",
	    "{\"jsonrpc\":\"2.0\",\"id\":\"b5\",\"method\":\"events.unsubscribe\",\"params\":{"
	    "\"topics\":[\"x\"]}}",
	};
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		json_t *r = client_call(c, bad[b]);
		assert_non_null(r);
		assert_int_equal(
		    json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
		    -32602);
		json_decref(r);
	}
	client_close(c);
}

/* A forked writer with its own connection (so its pid differs from ours). */
static pid_t fork_writer(void (*body)(int conn, void *arg), void *arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int c = client_connect(d.sock);
		if (c < 0)
			_exit(2);
		body(c, arg);
		client_close(c);
		_exit(0);
	}
	return pid;
}

static void wait_ok(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (status != 0)
		print_error("child %d: wait status 0x%x\n", (int)pid, status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Writer body: three changes, each answered; the revisions go to a pipe. */
static void three_changes(int c, void *arg)
{
	int out = *(int *)arg;
	static const char *const reqs[] = {
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\",\"params\":{\"key\":\"app/"
	    "a\",\"value\":1}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\",\"params\":{\"key\":\"app/"
	    "b\",\"value\":{\"x\":[1,\"t\\u0000\",null]}}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"config.unset\",\"params\":{\"key\":\"app/"
	    "a\"}}",
	};
	for (int i = 0; i < 3; i++) {
		json_t *r = client_call(c, reqs[i]);
		json_t *res = json_object_get(r, "result");
		if (!res)
			_exit(3);
		long rev = (long)json_integer_value(json_object_get(res, "revision"));
		if (write(out, &rev, sizeof(rev)) != sizeof(rev))
			_exit(4);
		json_decref(r);
	}
}

static void test_config_events_from_another_connection(void **state)
{
	int sub = subscriber("[\"config\"]");
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t writer = fork_writer(three_changes, &p[1]);
	close(p[1]);
	long revs[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(read(p[0], &revs[i], sizeof(revs[i])), sizeof(revs[i]));
	close(p[0]);
	wait_ok(writer);

	/* Exactly the members §3 lists, in the order the changes were made. */
	json_t *want[3] = {
	    json_pack("{s:s,s:s,s:s,s:I,s:i,s:{s:I,s:I}}", "topic", "config", "type", "set", "key",
	              "app/a", "revision", (json_int_t)revs[0], "value", 1, "peer", "uid",
	              (json_int_t)getuid(), "pid", (json_int_t)writer),
	    json_pack("{s:s,s:s,s:s,s:I,s:{s:[i,s%,n]},s:{s:I,s:I}}", "topic", "config", "type",
	              "set", "key", "app/b", "revision", (json_int_t)revs[1], "value", "x", 1,
	              "t\0", (size_t)2, "peer", "uid", (json_int_t)getuid(), "pid",
	              (json_int_t)writer),
	    json_pack("{s:s,s:s,s:s,s:I,s:{s:I,s:I}}", "topic", "config", "type", "unset", "key",
	              "app/a", "revision", (json_int_t)revs[2], "peer", "uid", (json_int_t)getuid(),
	              "pid", (json_int_t)writer),
	};
	assert_true(revs[0] < revs[1] && revs[1] < revs[2]);
	for (int i = 0; i < 3; i++) {
		json_t *ev = next_event(sub);
		if (!json_equal(ev, want[i])) {
			char *a = json_dumps(ev, JSON_COMPACT),
			     *b = json_dumps(want[i], JSON_COMPACT);
			print_error("event %d:\n got  %s\n want %s\n", i, a, b);
			free(a);
			free(b);
			fail();
		}
		json_decref(ev);
		json_decref(want[i]);
	}
	/* Failed changes publish nothing. */
	int w = client_connect(d.sock);
	json_t *r = client_call(w, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.unset\","
	                           "\"params\":{\"key\":\"app/a\"}}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 -32010);
	json_decref(r);
	r = client_call(w, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\",\"params\":{"
	                   "\"key\":\"app/b\",\"value\":0,\"expect_revision\":0}}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 -32011);
	json_decref(r);
	client_close(w);
	assert_true(client_silent(sub, 300));
	client_close(sub);
}

/*
 * A subscriber that writes gets the event of its own change before the
 * answer: the answer then means "all that this change caused is in front
 * of you" (the daemon answers lone writers from its commit thread, but not
 * subscribed ones, which would put the answer first).
 */
static void test_own_change_event_before_answer(void **state)
{
	int sub = subscriber("[\"config\"]");

	for (int i = 1; i <= 3; i++) {
		char req[160];
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"own\",\"value\":%d}}\n",
		         i, i);
		assert_int_equal(client_send(sub, req, strlen(req)), 0);
		json_t *ev = next_event(sub);
		assert_string_equal(json_string_value(json_object_get(ev, "key")), "own");
		assert_int_equal(json_integer_value(json_object_get(ev, "value")), i);
		json_t *r = client_recv_result(sub, i, 10000);
		assert_int_equal(json_integer_value(json_object_get(r, "revision")),
		                 json_integer_value(json_object_get(ev, "revision")));
		json_decref(r);
		json_decref(ev);
	}
	client_close(sub);
}

static void test_peer_events(void **state)
{
	int sub = subscriber("[\"peer\"]");
	int other = client_connect(d.sock);
	json_t *who = ok_on(other, "peer.whoami", NULL);
	client_close(other);

	json_t *ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "peer");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "connect");
	/* Besides topic and type: exactly the whoami fields of that peer. */
	json_object_del(ev, "topic");
	json_object_del(ev, "type");
	assert_true(json_equal(ev, who));
	json_decref(ev);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "disconnect");
	json_object_del(ev, "topic");
	json_object_del(ev, "type");
	assert_true(json_equal(ev, who));
	json_decref(ev);
	/* The fields are the real ones. */
	assert_int_equal(json_integer_value(json_object_get(who, "uid")), getuid());
	assert_int_equal(json_integer_value(json_object_get(who, "gid")), getgid());
	assert_int_equal(json_integer_value(json_object_get(who, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(who, "comm")), "test_events");
	json_decref(who);
	/* Events for a peer that connected, said nothing and left. */
	other = client_connect(d.sock);
	client_close(other);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "connect");
	json_int_t id = json_integer_value(json_object_get(ev, "id"));
	json_decref(ev);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "disconnect");
	assert_int_equal(json_integer_value(json_object_get(ev, "id")), id);
	json_decref(ev);
	client_close(sub);
}

static void test_daemon_events(void **state)
{
	int sub = subscriber("[\"daemon\"]");
	int admin = client_connect(d.sock);
	json_t *res = ok_on(admin, "daemon.log_level", json_pack("{s:s}", "level", "debug"));
	json_decref(res);
	json_t *ev = next_event(sub);
	json_t *want =
	    json_pack("{s:s,s:s,s:s}", "topic", "daemon", "type", "log_level", "level", "debug");
	assert_true(json_equal(ev, want));
	json_decref(want);
	json_decref(ev);

	/* SIGHUP is daemon.reload: the same event. */
	assert_int_equal(kill(d.pid, SIGHUP), 0);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "daemon");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "reload");
	assert_int_equal(json_integer_value(json_object_get(ev, "policy_rules")), 3); /* public, admin, admin provides */
	json_decref(ev);
	res = ok_on(admin, "daemon.reload", NULL);
	json_decref(res);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "reload");
	json_decref(ev);

	/* A subscriber to other topics hears none of it. */
	int cfg = subscriber("[\"config\",\"peer\"]");
	res = ok_on(admin, "daemon.log_level", json_pack("{s:s}", "level", "info"));
	json_decref(res);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "level")), "info");
	json_decref(ev);
	assert_true(client_silent(cfg, 200));
	client_close(cfg);

	/* Shutdown: the event, then the connection closes, and the daemon exits 0. */
	client_close(admin);
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "shutdown");
	json_decref(ev);
	assert_null(client_recv_line(sub, 10000));
	client_close(sub);
	assert_int_equal(daemon_wait(&d, 20000), 0);
}

#define FLOW_SETS 300
#define FLOW_VALUE 3000

/* Writer body: FLOW_SETS sets of a FLOW_VALUE-byte string naming its index. */
static void many_sets(int c, void *arg)
{
	char *req = malloc(FLOW_VALUE + 256), val[FLOW_VALUE + 1];
	for (int i = 0; i < FLOW_SETS; i++) {
		memset(val, 'a' + i % 26, FLOW_VALUE);
		int n = snprintf(val, sizeof(val), "%06d", i);
		val[n] = '-';
		val[FLOW_VALUE] = '\0';
		snprintf(req, FLOW_VALUE + 256,
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"flow/%d\",\"value\":\"%s\"}}",
		         i, i % 7, val);
		json_t *r = client_call(c, req);
		if (!json_object_get(r, "result"))
			_exit(3);
		json_decref(r);
	}
	free(req);
}

/*
 * While events flow, the subscriber keeps pipelined pings in flight: every
 * line it gets must be one whole JSON text, replies in order, events in order.
 */
static void test_events_between_responses(void **state)
{
	int sub = subscriber("[\"config\"]");
	pid_t writer = fork_writer(many_sets, NULL);
	long sent = 0, answered = 0, events = 0, events_mid = 0, last_rev = 0;
	long deadline = now_ms() + 60000;
	bool writer_done = false;
	char buf[64 * 20];

	while ((!writer_done || events < FLOW_SETS || answered < sent) && now_ms() < deadline) {
		/* Keep 20 pings in flight while the writer runs. */
		if (!writer_done && sent == answered) {
			size_t len = 0;
			for (int i = 0; i < 20; i++)
				len += (size_t)snprintf(
				    buf + len, sizeof(buf) - len,
				    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}\n",
				    ++sent);
			assert_int_equal(client_send(sub, buf, len), 0);
		}
		char *line = client_recv_line(sub, 10000);
		assert_non_null(line);
		json_t *msg = json_loads(line, JSON_ALLOW_NUL, NULL);
		if (!msg)
			print_error("line is not one JSON text: %.300s\n", line);
		assert_non_null(msg);
		free(line);
		if (json_object_get(msg, "id")) {
			assert_int_equal(json_integer_value(json_object_get(msg, "id")),
			                 answered + 1);
			assert_string_equal(json_string_value(json_object_get(msg, "result")),
			                    "pong");
			answered++;
		} else {
			json_t *p = json_object_get(msg, "params");
			assert_string_equal(json_string_value(json_object_get(msg, "method")),
			                    "event");
			long rev = (long)json_integer_value(json_object_get(p, "revision"));
			assert_true(rev > last_rev);
			last_rev = rev;
			const char *v = json_string_value(json_object_get(p, "value"));
			assert_non_null(v);
			assert_int_equal(strlen(v), FLOW_VALUE);
			assert_int_equal(atol(v), events); /* the writer's own order */
			events++;
			if (sent > answered)
				events_mid++;
		}
		json_decref(msg);
		if (!writer_done && waitpid(writer, NULL, WNOHANG) == writer)
			writer_done = true;
	}
	if (!writer_done)
		wait_ok(writer);
	print_message("%ld events, %ld of them while pings were in flight; %ld pings answered\n",
	              events, events_mid, answered);
	assert_int_equal(events, FLOW_SETS);
	assert_int_equal(answered, sent);
	assert_true(events_mid > 0); /* they did interleave */
	assert_true(client_silent(sub, 200));
	client_close(sub);
}

static void test_unsubscribe_stops_events(void **state)
{
	int sub = subscriber("[\"config\",\"peer\"]");
	int w = client_connect(d.sock);
	json_t *ev = next_event(sub); /* w's connect */
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "connect");
	json_decref(ev);
	json_t *res = ok_on(w, "config.set", json_pack("{s:s,s:i}", "key", "u", "value", 1));
	json_decref(res);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "set");
	json_decref(ev);

	res = ok_on(sub, "events.unsubscribe", json_pack("{s:[s]}", "topics", "config"));
	json_decref(res);
	res = ok_on(w, "config.set", json_pack("{s:s,s:i}", "key", "u", "value", 2));
	json_decref(res);
	/* No config event: the next line is this ping's reply. */
	res = ok_on(sub, "ping", NULL);
	json_decref(res);
	/* Still subscribed to peer. */
	int x = client_connect(d.sock);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "peer");
	json_decref(ev);
	res = ok_on(sub, "events.unsubscribe", NULL);
	json_decref(res);
	client_close(x);
	res = ok_on(w, "config.unset", json_pack("{s:s}", "key", "u"));
	json_decref(res);
	res = ok_on(sub, "ping", NULL);
	json_decref(res);
	assert_true(client_silent(sub, 300));
	client_close(w);
	client_close(sub);
}

#define OVF_SETS 400
#define OVF_VALUE 16384

/*
 * Child: a subscriber that reads everything, for the order and the count.
 * It writes one byte to ack per event (after "R" once subscribed) so that
 * the writer can stay within a few events of it: with max_output_bytes at
 * 64 KiB, a reader descheduled for a few fsyncs on a busy 2-core box would
 * otherwise be cut off too, which is the rule working, not what this checks.
 */
static void reading_subscriber(int ack, int want)
{
	int c = client_connect(d.sock);
	if (c < 0)
		_exit(2);
	if (client_send_str(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events.subscribe\","
	                       "\"params\":{\"topics\":[\"config\"]}}\n") < 0)
		_exit(3);
	char *line = client_recv_line(c, 10000);
	if (!line || !strstr(line, "\"result\""))
		_exit(4);
	free(line);
	if (write(ack, "R", 1) != 1)
		_exit(5);
	long last = 0;
	for (int i = 0; i < want; i++) {
		line = client_recv_line(c, 30000);
		if (!line)
			_exit(7); /* EOF (disconnected) or 30 s without an event */
		json_t *n = json_loads(line, 0, NULL);
		json_t *p = json_object_get(n, "params");
		long rev = (long)json_integer_value(json_object_get(p, "revision"));
		if (!p || rev <= last ||
		    json_string_length(json_object_get(p, "value")) != OVF_VALUE)
			_exit(6);
		last = rev;
		json_decref(n);
		free(line);
		if (write(ack, "e", 1) != 1)
			_exit(5);
	}
	_exit(0);
}

/*
 * A subscriber that never reads while large events flow: disconnected once
 * its unread output passes max_output_bytes; the writer and another
 * subscriber see no difference; the daemon's memory stays bounded.
 */
static void test_slow_subscriber_disconnected(void **state)
{
	daemon_prepare(&d);
	assert_int_equal(
	    /* The history keeps few of the 16 KiB events: the RSS below is the output's. */
	    daemon_spawn_config(
	        &d, "{\"limits\":{\"max_output_bytes\":65536,\"history_bytes\":65536}}", 0644,
	        NULL),
	    0);

	int slow = subscriber("[\"config\"]");
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t reader = fork();
	assert_true(reader >= 0);
	if (reader == 0) {
		close(p[0]);
		reading_subscriber(p[1], OVF_SETS);
	}
	close(p[1]);
	char ready;
	assert_int_equal(read(p[0], &ready, 1), 1);
	long acked = 0;

	long rss0 = proc_rss_kib(d.pid);
	int w = client_connect(d.sock);
	char *val = malloc(OVF_VALUE + 1), *req = malloc(OVF_VALUE + 256);
	memset(val, 'v', OVF_VALUE);
	val[OVF_VALUE] = '\0';
	for (int i = 0; i < OVF_SETS; i++) {
		/* Keep the reading subscriber within 4 events (64 KiB) of us. */
		while (acked < i - 4) {
			char acks[64];
			struct pollfd pfd = {.fd = p[0], .events = POLLIN};
			assert_int_equal(poll(&pfd, 1, 10000), 1);
			ssize_t n = read(p[0], acks, sizeof(acks));
			assert_true(n > 0);
			acked += n;
		}
		/* Each set is answered (client_call waits at most 10 s): the writer
		 * never waits on the subscriber that does not read. */
		snprintf(req, OVF_VALUE + 256,
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"ovf\",\"value\":\"%s\"}}",
		         i, val);
		json_t *r = client_call(w, req);
		assert_non_null(r);
		assert_non_null(json_object_get(r, "result"));
		json_decref(r);
	}
	long rss1 = proc_rss_kib(d.pid);
	free(req);
	free(val);
	client_close(w);
	wait_ok(reader); /* the reading subscriber got every event, in order */
	close(p[0]);

	char *log = daemon_log(&d);
	assert_non_null(strstr(
	    log, "events not read, unread output over max_output_bytes 65536; disconnecting"));
	free(log);

	/* The slow one: whole events only, then the overflow notice naming the
	 * last one's revision, then EOF. */
	size_t bytes = 0, lines = 0, frag = 0;
	long last_rev = 0, notice_rev = -1;
	char *pending = NULL;
	bool eof = false;
	long deadline = now_ms() + 10000;
	while (!eof && now_ms() < deadline) {
		struct pollfd pfd = {.fd = slow, .events = POLLIN};
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		char chunk[65536];
		ssize_t n = recv(slow, chunk, sizeof(chunk), 0);
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		pending = realloc(pending, frag + (size_t)n + 1);
		memcpy(pending + frag, chunk, (size_t)n);
		frag += (size_t)n;
		bytes += (size_t)n;
		char *start = pending, *nl;
		while ((nl = memchr(start, '\n', frag - (size_t)(start - pending)))) {
			*nl = '\0';
			json_t *ev = event_params(start);
			assert_int_equal(notice_rev, -1); /* nothing after the notice */
			if (strcmp(json_string_value(json_object_get(ev, "type")), "overflow") == 0) {
				assert_string_equal(json_string_value(json_object_get(ev, "topic")),
				                    "daemon");
				notice_rev = (long)json_integer_value(json_object_get(ev, "revision"));
			} else {
				assert_int_equal(json_string_length(json_object_get(ev, "value")),
				                 OVF_VALUE);
				last_rev = (long)json_integer_value(json_object_get(ev, "revision"));
				lines++;
			}
			json_decref(ev);
			start = nl + 1;
		}
		frag -= (size_t)(start - pending);
		memmove(pending, start, frag);
	}
	free(pending);
	print_message(
	    "slow subscriber: %zu bytes, %zu whole events, %zu bytes of a cut line, then %s\n",
	    bytes, lines, frag, eof ? "EOF" : "nothing");
	assert_true(eof);
	assert_true(lines < OVF_SETS / 2); /* cut off, not served the whole stream */
	assert_int_equal(frag, 0);          /* the line being written was finished */
	assert_int_equal(notice_rev, last_rev);
	client_close(slow);

	/* 400 events of 16 KiB passed by; holding them would be over 6 MiB. */
	print_message("daemon RSS %ld -> %ld KiB\n", rss0, rss1);
	/* Sanitizers keep freed memory in quarantine and valgrind's RSS is its
	 * own: there RSS says nothing about what the daemon holds. */
	if (!getenv("UDSRPC_SANITIZED") && !getenv("UDSRPCD_WRAPPER"))
		assert_true(rss1 - rss0 < 3 * 1024);
	int c = client_connect(d.sock);
	json_t *res = ok_on(c, "config.get", json_pack("{s:s}", "key", "ovf"));
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), OVF_SETS);
	json_decref(res);
	client_close(c);
}

#define TXN_KEYS 50
#define TXN_VALUE 1000

/* A config.txn setting b/00 .. b/49 to TXN_VALUE bytes of tag's letter (malloc'd line). */
static char *txn_request(long id, char tag)
{
	size_t cap = TXN_KEYS * (TXN_VALUE + 64) + 256, n;
	char *req = malloc(cap);
	assert_non_null(req);
	n = (size_t)snprintf(req, cap,
	                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"config.txn\","
	                     "\"params\":{\"success\":[", id);
	for (int k = 0; k < TXN_KEYS; k++) {
		n += (size_t)snprintf(req + n, cap - n, "%s{\"op\":\"set\",\"key\":\"b/%02d\",\"value\":\"",
		                      k ? "," : "", k);
		memset(req + n, tag, TXN_VALUE);
		n += TXN_VALUE;
		n += (size_t)snprintf(req + n, cap - n, "\"}");
	}
	snprintf(req + n, cap - n, "]}}\n");
	return req;
}

/* ev (params) is the set of key b/<k> by a transaction of tag, at revision rev. */
static void assert_txn_event(json_t *ev, int k, char tag, long rev)
{
	char key[16];
	snprintf(key, sizeof(key), "b/%02d", k);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "set");
	assert_string_equal(json_string_value(json_object_get(ev, "key")), key);
	assert_int_equal(json_integer_value(json_object_get(ev, "revision")), rev);
	const char *v = json_string_value(json_object_get(ev, "value"));
	assert_non_null(v);
	assert_int_equal(strlen(v), TXN_VALUE);
	assert_int_equal(v[0], tag);
	assert_int_equal(v[TXN_VALUE - 1], tag);
}

/*
 * A transaction's events reach a subscriber in one turn of the daemon's
 * loop, which writes them together (conn.c, batching): still one whole
 * event per line, every key, in op order, all with the transaction's
 * revision; two transactions sent at once follow each other in revision
 * order, and nothing comes after.
 */
static void test_txn_events_batched_in_order(void **state)
{
	int subs[3];
	for (int i = 0; i < 3; i++)
		subs[i] = subscriber("[\"config\"]");
	int w = client_connect(d.sock);
	assert_true(w >= 0);
	/* Both in one send: they are read, committed and published close together. */
	char *a = txn_request(1, 'a'), *b = txn_request(2, 'b');
	assert_int_equal(client_send_str(w, a), 0);
	assert_int_equal(client_send_str(w, b), 0);
	free(a);
	free(b);
	long rev[2];
	for (int t = 0; t < 2; t++) {
		json_t *r = client_recv_result(w, t + 1, 10000);
		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "succeeded")));
		rev[t] = (long)json_integer_value(json_object_get(r, "revision"));
		json_decref(r);
	}
	assert_true(rev[1] > rev[0]);
	for (int i = 0; i < 3; i++) {
		for (int t = 0; t < 2; t++)
			for (int k = 0; k < TXN_KEYS; k++) {
				json_t *ev = next_event(subs[i]);
				assert_txn_event(ev, k, t ? 'b' : 'a', rev[t]);
				json_decref(ev);
			}
		assert_true(client_silent(subs[i], 200));
		client_close(subs[i]);
	}
	client_close(w);
}

/*
 * Batched writes under the overflow rule (PROTOCOL §3): a subscriber that
 * never reads, sent transactions of 50 events of 1 KiB, is cut off; what
 * it got is whole events in order with no gap, each line whole, then the
 * overflow notice as the last line (whole, naming the last revision all
 * of whose events it got), then EOF; a resume after that revision gets the
 * next one whole. A subscriber that reads each transaction's
 * events before the next is sent (under max_output_bytes: one
 * transaction's events fit) gets all of them. partial_timeout_ms is long:
 * the slow one reads only after all 40 transactions, and under sanitizers
 * that takes more than the default 10 s, after which the daemon closes
 * without the notice it could not write (as it should).
 */
#define TXN_ROUNDS 40
static void test_txn_overflow_notice_last(void **state)
{
	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d,
	                                     "{\"limits\":{\"max_output_bytes\":65536,"
	                                     "\"history_bytes\":4194304,"
	                                     "\"partial_timeout_ms\":120000}}",
	                                     0644, NULL),
	                 0);
	int slow = subscriber("[\"config\"]"), reader = subscriber("[\"config\"]");
	int w = client_connect(d.sock);
	assert_true(w >= 0);
	long revs[TXN_ROUNDS];
	for (int t = 0; t < TXN_ROUNDS; t++) {
		char *req = txn_request(t + 1, (char)('a' + t % 26));
		assert_int_equal(client_send_str(w, req), 0);
		free(req);
		json_t *r = client_recv_result(w, t + 1, 10000);
		assert_non_null(r);
		revs[t] = (long)json_integer_value(json_object_get(r, "revision"));
		json_decref(r);
		for (int k = 0; k < TXN_KEYS; k++) {
			json_t *ev = next_event(reader);
			assert_txn_event(ev, k, (char)('a' + t % 26), revs[t]);
			json_decref(ev);
		}
	}
	client_close(w);
	assert_true(client_silent(reader, 100));
	client_close(reader);

	/* The slow one's stream, read now: line by line. */
	size_t cap = 8 << 20, len = 0;
	char *all = malloc(cap);
	assert_non_null(all);
	long deadline = now_ms() + 10000;
	for (;;) {
		struct pollfd pfd = {.fd = slow, .events = POLLIN};
		assert_true(now_ms() < deadline);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		ssize_t n = recv(slow, all + len, cap - len, 0);
		assert_true(n >= 0);
		if (n == 0)
			break; /* EOF: closed after the notice */
		len += (size_t)n;
		assert_true(len < cap);
	}
	assert_true(len > 0);
	assert_int_equal(all[len - 1], '\n'); /* no cut line at the end */
	long events = 0, notice_rev = -1, last_rev = 0;
	char *start = all, *nl;
	while ((nl = memchr(start, '\n', len - (size_t)(start - all)))) {
		*nl = '\0';
		json_t *ev = event_params(start);
		assert_int_equal(notice_rev, -1); /* the notice is the last line */
		if (strcmp(json_string_value(json_object_get(ev, "type")), "overflow") == 0) {
			assert_string_equal(json_string_value(json_object_get(ev, "topic")), "daemon");
			notice_rev = (long)json_integer_value(json_object_get(ev, "revision"));
		} else {
			/* The events of transaction events/50, key events%50, in that order. */
			long t = events / TXN_KEYS;
			assert_true(t < TXN_ROUNDS);
			assert_txn_event(ev, (int)(events % TXN_KEYS), (char)('a' + t % 26), revs[t]);
			last_rev = revs[t];
			events++;
		}
		json_decref(ev);
		start = nl + 1;
	}
	assert_true(start == all + len);
	print_message("slow subscriber: %zu bytes, %ld whole events, then the notice (revision %ld)\n",
	              len, events, notice_rev);
	assert_true(events > 0);
	assert_true(events < TXN_ROUNDS * TXN_KEYS / 2); /* cut off, not served the whole stream */
	/* Cut inside a transaction: the notice names the revision before it,
	 * whose events were all sent, not the one only partly sent (§8). */
	long split = events % TXN_KEYS ? revs[events / TXN_KEYS] : 0;
	print_message("cut after %ld of the %d events of revision %ld\n", events % TXN_KEYS,
	              TXN_KEYS, split ? split : last_rev);
	assert_int_equal(notice_rev, split ? split - 1 : last_rev);
	free(all);
	client_close(slow);

	/* Resuming after it: the next revision comes whole, every key in order. */
	long t = events / TXN_KEYS;
	assert_true(t < TXN_ROUNDS);
	int again = client_connect(d.sock);
	assert_true(again >= 0);
	json_decref(ok_on(again, "events.subscribe",
	                  json_pack("{s:[s],s:I}", "topics", "config", "after_revision",
	                            (json_int_t)notice_rev)));
	for (int k = 0; k < TXN_KEYS; k++) {
		json_t *ev = next_event(again);
		assert_txn_event(ev, k, (char)('a' + t % 26), revs[t]);
		json_decref(ev);
	}
	client_close(again);
}

/*
 * The event write path (fanout.c): io_uring when the kernel gives it,
 * write(2) each when not (the run with tests/integration/no_uring, which
 * refuses io_uring as seccomp or an old kernel would: $UDSRPC_TEST_NO_URING
 * names the errno). Either way the daemon says which, once, and a
 * subscriber that lags (not reading while more than a socket buffer of
 * events is sent: short sends, EAGAIN, the rest queued) then reads gets
 * every event whole and in order, as does one that keeps up.
 */
#define LAG_SETS 40
#define LAG_VALUE 8192
static void test_event_write_path(void **state)
{
	int lag = subscriber("[\"config\"]"), keep = subscriber("[\"config\"]");
	int w = client_connect(d.sock);
	char *val = malloc(LAG_VALUE + 1);
	assert_non_null(val);
	long revs[LAG_SETS];
	for (int i = 0; i < LAG_SETS; i++) {
		memset(val, 'a' + i % 26, LAG_VALUE);
		val[LAG_VALUE] = '\0';
		json_t *r = ok_on(w, "config.set", json_pack("{s:s,s:s}", "key", "lag/k", "value", val));
		revs[i] = (long)json_integer_value(json_object_get(r, "revision"));
		json_decref(r);
		json_t *ev = next_event(keep);
		assert_int_equal(json_integer_value(json_object_get(ev, "revision")), revs[i]);
		json_decref(ev);
	}
	for (int i = 0; i < LAG_SETS; i++) {
		json_t *ev = next_event(lag);
		const char *v = json_string_value(json_object_get(ev, "value"));
		assert_int_equal(json_integer_value(json_object_get(ev, "revision")), revs[i]);
		assert_non_null(v);
		assert_int_equal(strlen(v), LAG_VALUE);
		assert_true(v[0] == 'a' + i % 26 && v[LAG_VALUE - 1] == 'a' + i % 26);
		json_decref(ev);
	}
	assert_true(client_silent(lag, 200));
	free(val);
	client_close(lag);
	client_close(keep);
	client_close(w);

	const char *no = getenv("UDSRPC_TEST_NO_URING");
	char *log = daemon_log(&d), want[128];
	assert_non_null(log);
	if (no && *no)
		snprintf(want, sizeof(want), "event writes: write(2) per subscriber (io_uring: %s)",
		         strerror(strcmp(no, "ENOSYS") == 0 ? ENOSYS : EPERM));
	else if (strstr(log, "event writes: write(2)"))
		snprintf(want, sizeof(want), "event writes: write(2)"); /* this kernel has none: fine */
	else
		snprintf(want, sizeof(want), "event writes: io_uring");
	if (!strstr(log, want))
		print_error("daemon log lacks \"%s\":\n%s\n", want, log);
	assert_non_null(strstr(log, want));
	free(log);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_subscribe_unsubscribe_results),
	    T(test_config_events_from_another_connection),
	    T(test_own_change_event_before_answer),
	    T(test_peer_events),
	    T(test_daemon_events),
	    T(test_events_between_responses),
	    T(test_unsubscribe_stops_events),
	    cmocka_unit_test_teardown(test_slow_subscriber_disconnected, daemon_teardown),
	    T(test_txn_events_batched_in_order),
	    cmocka_unit_test_teardown(test_txn_overflow_notice_last, daemon_teardown),
	    T(test_event_write_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

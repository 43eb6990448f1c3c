/*
 * test_provider.c — the library's provider loop (udsrpc_client(3),
 * "Providers") on a real udsrpcd: a C provider answering with what it
 * knows of its caller, 200 calls answered in reverse order, a forwarded
 * notification, a name another connection provides, requests outliving
 * their provider, and events.publish on its own topic. Provider and
 * callers are the library's own clients; the daemon comes from the
 * integration harness.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <udsrpc/udsrpc.h>

#include "harness.h"

static struct daemon d;

#define ECHO                                                                                     \
	"{\"name\":\"t.double\",\"params\":[{\"name\":\"n\",\"required\":true,\"schema\":{\"type\":" \
	"\"integer\"}}],\"result\":{\"name\":\"n\",\"schema\":{\"type\":\"integer\"}}}"
#define WHO                                                                                      \
	"{\"name\":\"t.who\",\"params\":[],\"result\":{\"name\":\"who\",\"schema\":{\"type\":"      \
	"\"object\"}}}"
#define TICK "{\"name\":\"t.tick\",\"params\":[],\"result\":{\"name\":\"r\",\"schema\":{}}}"

static int setup(void **state)
{
	(void)state;
	daemon_start(&d, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int status = d.pid > 0 ? daemon_stop(&d) : 0;
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

static struct udsrpc_client *connect_client(void)
{
	struct udsrpc_client *c = NULL;
	char err[256];
	int r = udsrpc_client_connect(&c, d.sock, harness_ms(5000), err, sizeof(err));
	if (r < 0)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
	return c;
}

/* A provider on its own connection with method (an object's text) through fn. */
static struct udsrpc_provider *provider_with(struct udsrpc_client *c, const char *method,
                                             void (*fn)(struct udsrpc_request *, const json_t *,
                                                        void *),
                                             void *userdata)
{
	struct udsrpc_provider *p = NULL;
	char err[256];
	json_t *reply;

	assert_int_equal(udsrpc_provider_new(&p, c, harness_ms(5000)), 0);
	assert_int_equal(udsrpc_provider_add_method(p, method, strlen(method), fn, userdata, err,
	                                            sizeof(err)),
	                 0);
	assert_int_equal(udsrpc_provider_provide(p, harness_ms(5000), &reply), 0);
	assert_true(json_is_array(json_object_get(reply, "methods")));
	json_decref(reply);
	return p;
}

/* Dispatch until a handler has run (events and stray replies are not expected). */
static void dispatch_one(struct udsrpc_provider *p)
{
	json_t *other = NULL;
	assert_int_equal(udsrpc_provider_dispatch(p, harness_ms(5000), &other), 1);
	assert_null(other);
}

/* The reply to id on c (new reference), whatever came before it queued. */
static json_t *reply_to(struct udsrpc_client *c, int64_t id)
{
	json_t *msg = NULL;
	assert_int_equal(udsrpc_client_receive(c, harness_ms(5000), &msg), 1);
	assert_int_equal(json_integer_value(json_object_get(msg, "id")), id);
	return msg;
}

/* t.who: the caller as the provider sees it, through the peer accessors. */
static void who(struct udsrpc_request *req, const json_t *params, void *userdata)
{
	const struct udsrpc_peer *caller = udsrpc_request_caller(req);
	(void)userdata;
	assert_null(params);
	assert_string_equal(udsrpc_request_method(req), "t.who");
	assert_false(udsrpc_request_is_notification(req));
	/* Caller and provider are this process. */
	assert_int_equal(udsrpc_peer_uid(caller), getuid());
	assert_int_equal(udsrpc_peer_gid(caller), getgid());
	assert_int_equal(udsrpc_peer_pid(caller), getpid());
	assert_true(udsrpc_peer_in_group(caller, getgid()));
	assert_int_equal(udsrpc_request_result(req, udsrpc_peer_json(caller)), 0);
}

static void test_caller_identity(void **state)
{
	(void)state;
	struct udsrpc_client *pc = connect_client(), *c = connect_client();
	struct udsrpc_provider *p = provider_with(pc, WHO, who, NULL);
	json_t *whoami, *msg;
	int64_t id;

	assert_int_equal(udsrpc_client_call(c, "peer.whoami", NULL, harness_ms(5000), &whoami), 0);
	assert_int_equal(udsrpc_client_send(c, "t.who", NULL, harness_ms(5000), &id), 0);
	dispatch_one(p);
	assert_int_equal(udsrpc_provider_pending(p), 0);
	msg = reply_to(c, id);
	/* The round trip through udsrpc_peer_json loses nothing peer.whoami says. */
	assert_true(json_equal(json_object_get(msg, "result"), whoami));
	json_decref(msg);
	json_decref(whoami);
	udsrpc_provider_free(p);
	udsrpc_client_free(pc);
	udsrpc_client_free(c);
}

#define OUT_OF_ORDER 200

struct held {
	struct udsrpc_request *reqs[OUT_OF_ORDER];
	int n;
};

/* t.double: kept, to be answered later. */
static void hold(struct udsrpc_request *req, const json_t *params, void *userdata)
{
	struct held *h = userdata;
	assert_true(json_is_integer(json_object_get(params, "n")));
	assert_true(h->n < OUT_OF_ORDER);
	h->reqs[h->n++] = req;
}

/* Answers in reverse order reach each caller with its own id and result. */
static void test_out_of_order(void **state)
{
	(void)state;
	struct held h = {.n = 0};
	struct udsrpc_client *pc = connect_client(), *c = connect_client();
	struct udsrpc_provider *p = provider_with(pc, ECHO, hold, &h);
	int64_t ids[OUT_OF_ORDER];

	for (int i = 0; i < OUT_OF_ORDER; i++) {
		json_t *params = json_pack("{s:i}", "n", i);
		assert_int_equal(udsrpc_client_send(c, "t.double", params, harness_ms(5000), &ids[i]), 0);
		json_decref(params);
	}
	while (h.n < OUT_OF_ORDER)
		dispatch_one(p);
	assert_int_equal(udsrpc_provider_pending(p), OUT_OF_ORDER);
	for (int i = OUT_OF_ORDER - 1; i >= 0; i--) {
		json_int_t n = json_integer_value(
		    json_object_get(udsrpc_request_params(h.reqs[i]), "n"));
		assert_int_equal(udsrpc_request_result(h.reqs[i], json_integer(n * 2)), 0);
	}
	assert_int_equal(udsrpc_provider_pending(p), 0);
	/* The daemon keeps each caller's order (udsrpc(7), "PROVIDERS"). */
	for (int i = 0; i < OUT_OF_ORDER; i++) {
		json_t *msg = reply_to(c, ids[i]);
		assert_int_equal(json_integer_value(json_object_get(msg, "result")), 2 * i);
		json_decref(msg);
	}
	udsrpc_provider_free(p);
	udsrpc_client_free(pc);
	udsrpc_client_free(c);
}

static int ticks;

static void tick(struct udsrpc_request *req, const json_t *params, void *userdata)
{
	(void)params;
	(void)userdata;
	ticks++;
	if (udsrpc_request_is_notification(req))
		assert_int_equal(udsrpc_request_result(req, NULL), 0); /* sends nothing */
	else
		assert_int_equal(udsrpc_request_error(req, 42, "not now", json_pack("{s:i}", "x", 1)), 0);
}

/* A forwarded notification runs the handler and gets no answer; an error reaches the caller as sent. */
static void test_notification_and_error(void **state)
{
	(void)state;
	struct udsrpc_client *pc = connect_client(), *c = connect_client();
	struct udsrpc_provider *p = provider_with(pc, TICK, tick, NULL);
	json_t *res;

	ticks = 0;
	assert_int_equal(udsrpc_client_notify(c, "t.tick", NULL, harness_ms(5000)), 0);
	dispatch_one(p);
	assert_int_equal(ticks, 1);
	int64_t id;
	assert_int_equal(udsrpc_client_send(c, "t.tick", NULL, harness_ms(5000), &id), 0);
	dispatch_one(p);
	res = reply_to(c, id); /* the first thing c reads: the notification got nothing */
	json_t *want = json_loads("{\"code\":42,\"message\":\"not now\",\"data\":{\"x\":1}}", 0, NULL);
	assert_true(json_equal(json_object_get(res, "error"), want));
	json_decref(want);
	json_decref(res);
	assert_int_equal(ticks, 2);
	udsrpc_provider_free(p);
	udsrpc_client_free(pc);
	udsrpc_client_free(c);
}

/* A name another connection provides: -32013, forgotten here, all or nothing. */
static void test_name_taken(void **state)
{
	(void)state;
	struct udsrpc_client *pc = connect_client(), *qc = connect_client();
	struct udsrpc_provider *p = provider_with(pc, TICK, tick, NULL), *q = NULL;
	json_t *reply;
	char err[256];

	assert_int_equal(udsrpc_provider_new(&q, qc, harness_ms(5000)), 0);
	assert_int_equal(udsrpc_provider_add_method(q, TICK, strlen(TICK), tick, NULL, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_provider_add_method(q, TICK, strlen(TICK), tick, NULL, err, sizeof(err)),
	                 -EEXIST);
	assert_string_equal(err, "t.tick: registered already");
	assert_int_equal(udsrpc_provider_add_method(q, "[1]", 3, tick, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(udsrpc_provider_add_topic(q, "t.free"), 0);
	assert_int_equal(udsrpc_provider_add_topic(q, "t.free"), -EEXIST);
	assert_int_equal(udsrpc_provider_provide(q, harness_ms(5000), &reply), UDSRPC_CLIENT_ERROR);
	assert_int_equal(json_integer_value(json_object_get(reply, "code")), -32013);
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "data"), "method")),
	                    "t.tick");
	json_decref(reply);
	/* Forgotten: both may be added again, and the topic was not taken either
	 * (rpc.provide needs a method: one of another name with it). */
	static const char tock[] = "{\"name\":\"t.tock\",\"params\":[],\"result\":{\"name\":\"r\","
	                           "\"schema\":{}}}";
	assert_int_equal(udsrpc_provider_add_method(q, tock, strlen(tock), tick, NULL, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_provider_add_topic(q, "t.free"), 0);
	assert_int_equal(udsrpc_provider_provide(q, harness_ms(5000), &reply), 0);
	json_t *want = json_loads("{\"methods\":[\"t.tock\"],\"topics\":[\"t.free\"]}", 0, NULL);
	assert_true(json_equal(reply, want));
	json_decref(want);
	json_decref(reply);
	assert_int_equal(udsrpc_provider_add_method(q, TICK, strlen(TICK), tick, NULL, err, sizeof(err)), 0);
	udsrpc_provider_free(q);
	udsrpc_provider_free(p);
	udsrpc_client_free(qc);
	udsrpc_client_free(pc);
}

/* A request kept past its provider's free is answered -ENOTCONN and freed. */
static void test_request_outlives_provider(void **state)
{
	(void)state;
	struct held h = {.n = 0};
	struct udsrpc_client *pc = connect_client(), *c = connect_client();
	struct udsrpc_provider *p = provider_with(pc, ECHO, hold, &h);
	json_t *params = json_pack("{s:i}", "n", 7), *res;
	int64_t id;

	assert_int_equal(udsrpc_client_send(c, "t.double", params, harness_ms(5000), &id), 0);
	json_decref(params);
	dispatch_one(p);
	assert_int_equal(h.n, 1);
	udsrpc_provider_free(p);
	assert_int_equal(udsrpc_request_result(h.reqs[0], json_integer(14)), -ENOTCONN);
	/* The provider's connection goes: the daemon answers the caller -32005. */
	udsrpc_client_free(pc);
	res = reply_to(c, id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "error"), "code")), -32005);
	json_decref(res);
	udsrpc_client_free(c);
}

/* events.publish on the provider's own topic, while calls to it are forwarded meanwhile. */
static void test_publish(void **state)
{
	(void)state;
	struct udsrpc_client *pc = connect_client(), *sub = connect_client();
	struct udsrpc_provider *p = NULL;
	json_t *reply, *ev, *topics = json_pack("{s:[s]}", "topics", "t.news");
	char err[256];
	int64_t id;

	assert_int_equal(udsrpc_provider_new(&p, pc, harness_ms(5000)), 0);
	assert_int_equal(udsrpc_provider_add_method(p, WHO, strlen(WHO), who, NULL, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_provider_add_topic(p, "t.news"), 0);
	assert_int_equal(udsrpc_provider_provide(p, harness_ms(5000), NULL), 0);
	assert_int_equal(udsrpc_client_call(sub, "events.subscribe", topics, harness_ms(5000), &reply), 0);
	json_decref(reply);
	json_decref(topics);

	/* A call forwarded while the provider waits for its publish's reply is
	 * queued for dispatch, never taken for that reply (whatever the ids). */
	assert_int_equal(udsrpc_client_send(sub, "t.who", NULL, harness_ms(5000), &id), 0);
	ev = json_pack("{s:i}", "x", 1);
	assert_int_equal(udsrpc_provider_publish(p, "t.news", ev, harness_ms(5000), &reply), 0);
	assert_int_equal(json_integer_value(json_object_get(reply, "subscribers")), 1);
	json_decref(reply);
	json_decref(ev);
	dispatch_one(p);

	/* The subscriber gets the event and its answer, in the order the daemon wrote them. */
	bool got_event = false, got_answer = false;
	for (int i = 0; i < 2; i++) {
		json_t *msg = NULL;
		assert_int_equal(udsrpc_client_receive(sub, harness_ms(5000), &msg), 1);
		if (json_object_get(msg, "id")) {
			assert_int_equal(json_integer_value(json_object_get(msg, "id")), id);
			assert_true(json_is_object(json_object_get(msg, "result")));
			got_answer = true;
		} else {
			json_t *want = json_loads(
			    "{\"topic\":\"t.news\",\"type\":\"publish\",\"event\":{\"x\":1}}", 0, NULL);
			assert_string_equal(json_string_value(json_object_get(msg, "method")), "event");
			assert_true(json_equal(json_object_get(msg, "params"), want));
			json_decref(want);
			got_event = true;
		}
		json_decref(msg);
	}
	assert_true(got_event && got_answer);
	/* Only on its own topics. */
	ev = json_object();
	assert_int_equal(udsrpc_provider_publish(p, "peer", ev, harness_ms(5000), &reply),
	                 UDSRPC_CLIENT_ERROR);
	json_decref(reply);
	json_decref(ev);
	udsrpc_provider_free(p);
	udsrpc_client_free(pc);
	udsrpc_client_free(sub);
}

/* udsrpc_provider_run ends at end of stream; udsrpc_provider_stop from a handler ends it too. */
static void stop_in_handler(struct udsrpc_request *req, const json_t *params, void *userdata)
{
	(void)params;
	udsrpc_provider_stop(userdata);
	assert_int_equal(udsrpc_request_result(req, json_string("bye")), 0);
}

static void test_run_and_stop(void **state)
{
	(void)state;
	struct udsrpc_client *pc = connect_client(), *c = connect_client();
	struct udsrpc_provider *p = NULL;
	char err[256];
	int64_t id;
	json_t *res;

	assert_int_equal(udsrpc_provider_new(&p, pc, harness_ms(5000)), 0);
	assert_int_equal(udsrpc_provider_add_method(p, TICK, strlen(TICK), stop_in_handler, p, err,
	                                            sizeof(err)),
	                 0);
	assert_int_equal(udsrpc_provider_provide(p, harness_ms(5000), NULL), 0);
	assert_int_equal(udsrpc_client_send(c, "t.tick", NULL, harness_ms(5000), &id), 0);
	assert_int_equal(udsrpc_provider_run(p), 0);
	res = reply_to(c, id);
	assert_string_equal(json_string_value(json_object_get(res, "result")), "bye");
	json_decref(res);
	udsrpc_provider_free(p);
	udsrpc_client_free(pc);
	udsrpc_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_caller_identity),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_notification_and_error),
	    cmocka_unit_test(test_name_taken),
	    cmocka_unit_test(test_request_outlives_provider),
	    cmocka_unit_test(test_publish),
	    cmocka_unit_test(test_run_and_stop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

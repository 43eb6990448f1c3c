/*
 * test_providers.c — udsrpc(7) "PROVIDERS" on a real udsrpcd: rpc.provide
 * and rpc.unprovide (validation, names taken, all or nothing), forwarding
 * with the caller's identity, answers in any order, a provider that never
 * answers, one that dies with calls pending, one that sends garbage, and a
 * provider that calls itself.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;

/* Waits in ms, longer with the daemon under $UDSRPCD_WRAPPER (valgrind runs it ~20x slower). */
static int wait_ms(int ms)
{
	return getenv("UDSRPCD_WRAPPER") ? ms * 20 : ms;
}

/* test.echo(n) -> n; test.who() -> object. */
#define ECHO_METHOD                                                                              \
	"{\"name\":\"test.echo\",\"params\":[{\"name\":\"n\",\"required\":true,\"schema\":{\"type\":" \
	"\"integer\"}}],\"result\":{\"name\":\"n\",\"schema\":{\"type\":\"integer\"}}}"
#define WHO_METHOD                                                                               \
	"{\"name\":\"test.who\",\"params\":[],\"result\":{\"name\":\"who\",\"schema\":{\"type\":"   \
	"\"object\"}}}"

static int daemon_setup(void **state)
{
	(void)state;
	daemon_start(&d, NULL);
	return 0;
}

static int daemon_teardown(void **state)
{
	(void)state;
	int status = d.pid > 0 ? daemon_stop(&d) : 0;
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

/* call_timeout_ms 300: for the provider that never answers. */
static int short_timeout_setup(void **state)
{
	(void)state;
	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"call_timeout_ms\":300}}", 0644, NULL),
	                 0);
	return 0;
}

static long next_id = 1000000;

/* The reply to method(params_json) on fd (new reference). */
static json_t *call_json(int fd, const char *method, const char *params_json)
{
	json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;
	if (params_json)
		assert_non_null(params);
	return client_call_method(fd, next_id++, method, params);
}

/* rpc.provide of methods (a JSON array text), which must succeed: its result. */
static json_t *provide(int fd, const char *methods_json)
{
	char params[4096];
	snprintf(params, sizeof(params), "{\"methods\":%s}", methods_json);
	return harness_take_result(call_json(fd, "rpc.provide", params), "rpc.provide");
}

/* The error code of a reply (stolen), which must be an error. */
static int error_code(json_t *r, json_t **ret_data)
{
	json_t *e = json_object_get(r, "error");
	if (!e) {
		char *s = json_dumps(r, JSON_COMPACT);
		print_error("expected an error, got %s\n", s);
		free(s);
	}
	assert_non_null(e);
	int code = (int)json_integer_value(json_object_get(e, "code"));
	if (ret_data)
		*ret_data = json_incref(json_object_get(e, "data"));
	json_decref(r);
	return code;
}

/* rpc.provide of one minimal method object named name, which must fail: its code (data in *ret_data). */
static int provide_error(int fd, const char *name, json_t **ret_data)
{
	char params[256];
	snprintf(params, sizeof(params),
	         "{\"methods\":[{\"name\":\"%s\",\"params\":[],\"result\":{\"name\":\"r\","
	         "\"schema\":{}}}]}",
	         name);
	return error_code(call_json(fd, "rpc.provide", params), ret_data);
}

/* The next forwarded call or notification on the provider's fd (new reference): checked in shape. */
static json_t *forwarded_any(int fd, const char *method)
{
	char *line = client_recv_line(fd, wait_ms(5000));
	assert_non_null(line);
	json_t *req = json_loads(line, 0, NULL);
	if (!req)
		print_error("not JSON: %.200s\n", line);
	free(line);
	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "jsonrpc")), "2.0");
	assert_string_equal(json_string_value(json_object_get(req, "method")), method);
	assert_true(json_is_object(json_object_get(req, "caller")));
	return req;
}

/* The same for a call: it has the daemon's own integer id. */
static json_t *forwarded(int fd, const char *method)
{
	json_t *req = forwarded_any(fd, method);
	assert_true(json_is_integer(json_object_get(req, "id")));
	return req;
}

/* Answer forwarded id with its member ("result" or "error") as this JSON text. */
static void answer_with(int fd, json_int_t id, const char *member, const char *json)
{
	char line[512];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"%s\":%s}\n", (long long)id,
	         member, json);
	assert_int_equal(client_send_str(fd, line), 0);
}

static void answer(int fd, json_int_t id, const char *result_json)
{
	answer_with(fd, id, "result", result_json);
}

static void send_call(int fd, long id, const char *method, const char *params_json)
{
	char line[512];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}\n",
	         id, method, params_json);
	assert_int_equal(client_send_str(fd, line), 0);
}

/* The next line on fd, parsed (new reference). */
static json_t *recv_json(int fd, int timeout_ms)
{
	char *line = client_recv_line(fd, timeout_ms);
	assert_non_null(line);
	json_t *r = json_loads(line, 0, NULL);
	free(line);
	assert_non_null(r);
	return r;
}

/* The provider sees the caller exactly as the caller's peer.whoami does, and the caller's id comes back. */
static void test_caller_identity(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	assert_true(p >= 0 && c >= 0);
	json_t *res = provide(p, "[" WHO_METHOD "]");
	assert_string_equal(json_string_value(json_array_get(json_object_get(res, "methods"), 0)),
	                    "test.who");
	assert_int_equal(json_array_size(json_object_get(res, "topics")), 0);
	json_decref(res);
	json_t *who = harness_take_result(call_json(c, "peer.whoami", NULL), "peer.whoami");

	assert_int_equal(client_send_str(c, "{\"jsonrpc\":\"2.0\",\"id\":\"mine\",\"method\":\"test.who\"}\n"), 0);
	json_t *req = forwarded(p, "test.who");
	assert_null(json_object_get(req, "params")); /* none sent, none forwarded */
	assert_int_equal(json_object_size(req), 4);
	assert_true(json_equal(json_object_get(req, "caller"), who));
	char *caller = json_dumps(json_object_get(req, "caller"), JSON_COMPACT);
	answer(p, json_integer_value(json_object_get(req, "id")), caller);
	free(caller);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_string_equal(json_string_value(json_object_get(r, "id")), "mine");
	assert_true(json_equal(json_object_get(r, "result"), who));
	json_decref(r);
	json_decref(req);
	json_decref(who);
	client_close(c);
	client_close(p);
}

/* Params are checked against the provider's schema before anything is forwarded. */
static void test_params_checked_first(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	json_t *data = NULL;
	assert_int_equal(error_code(call_json(c, "test.echo", "{\"n\":\"x\"}"), &data), -32602);
	assert_string_equal(json_string_value(json_object_get(data, "path")), "/n");
	json_decref(data);
	assert_true(client_silent(p, 200));
	client_close(c);
	client_close(p);
}

/* rpc.provide refuses whole: a bad schema (the keyword named), a daemon name, a name taken. */
static void test_provide_refusals(void **state)
{
	(void)state;
	int p = client_connect(d.sock), q = client_connect(d.sock), c = client_connect(d.sock);
	json_t *data = NULL;

	assert_int_equal(error_code(call_json(p, "rpc.provide",
	                                      "{\"methods\":[" ECHO_METHOD ",{\"name\":\"test.bad\","
	                                      "\"params\":[{\"name\":\"x\",\"schema\":{"
	                                      "\"patternProperties\":{}}}],\"result\":{\"name\":\"r\","
	                                      "\"schema\":{}}}]}"),
	                             &data),
	                 -32602);
	assert_string_equal(json_string_value(json_object_get(data, "path")), "/methods/1");
	assert_non_null(strstr(json_string_value(json_object_get(data, "reason")), "patternProperties"));
	json_decref(data);
	/* Nothing of that call was registered. */
	assert_int_equal(error_code(call_json(c, "test.echo", "{\"n\":1}"), NULL), -32601);

	assert_int_equal(provide_error(p, "daemon.mine", &data), -32013);
	assert_string_equal(json_string_value(json_object_get(data, "method")), "daemon.mine");
	json_decref(data);
	/* A name without a dot is no provider's. */
	assert_int_equal(provide_error(p, "nodot", NULL), -32602);

	json_decref(provide(q, "[" ECHO_METHOD "]"));
	assert_int_equal(error_code(call_json(p, "rpc.provide", "{\"methods\":[" WHO_METHOD "," ECHO_METHOD "]}"),
	                            &data),
	                 -32013);
	assert_string_equal(json_string_value(json_object_get(data, "method")), "test.echo");
	json_decref(data);
	assert_int_equal(error_code(call_json(c, "test.who", NULL), NULL), -32601);
	/* Topics: a built-in one is taken. */
	assert_int_equal(error_code(call_json(p, "rpc.provide",
	                                      "{\"methods\":[" WHO_METHOD "],\"topics\":[\"peer\"]}"),
	                            &data),
	                 -32013);
	assert_string_equal(json_string_value(json_object_get(data, "topic")), "peer");
	json_decref(data);

	/* Unprovide: the name goes, and another connection may take it. */
	json_t *res = harness_take_result(call_json(q, "rpc.unprovide", NULL), "rpc.unprovide");
	assert_int_equal(json_array_size(json_object_get(res, "methods")), 0);
	json_decref(res);
	assert_int_equal(error_code(call_json(c, "test.echo", "{\"n\":1}"), NULL), -32601);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	client_close(c);
	client_close(q);
	client_close(p);
}

/* rpc.provide of one method named name on fd: the reply (new reference). */
static json_t *provide_named(int fd, const char *name)
{
	char params[512];
	snprintf(params, sizeof(params),
	         "{\"methods\":[{\"name\":\"%s\",\"params\":[],\"result\":{\"name\":\"r\","
	         "\"schema\":{}}}]}",
	         name);
	return call_json(fd, "rpc.provide", params);
}

/* rpc.provide adds names and rpc.unprovide takes some; names checked in form and namespace;
 * a topic another connection provides is taken; a second answer to one id is dropped. */
static void test_provide_names(void **state)
{
	(void)state;
	int p = client_connect(d.sock), q = client_connect(d.sock), c = client_connect(d.sock);
	json_t *data = NULL, *res, *want;
	char name[160];

	/* A second rpc.provide adds: its result is all this connection provides. */
	json_decref(harness_take_result(call_json(p, "rpc.provide", "{\"methods\":[" ECHO_METHOD "],"
	                                                            "\"topics\":[\"test.a\"]}"),
	                                "rpc.provide"));
	res = harness_take_result(call_json(p, "rpc.provide", "{\"methods\":[" WHO_METHOD "],"
	                                                      "\"topics\":[\"test.b\"]}"),
	                          "rpc.provide");
	want = json_loads("{\"methods\":[\"test.echo\",\"test.who\"],\"topics\":[\"test.a\",\"test.b\"]}", 0,
	                  NULL);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);

	/* Every daemon namespace is taken, and a topic another connection provides (all or nothing). */
	static const char *const taken[] = {"rpc.mine", "daemon.mine", "peer.mine", "config.mine",
	                                    "events.mine"};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		assert_int_equal(provide_error(q, taken[i], &data), -32013);
		assert_string_equal(json_string_value(json_object_get(data, "method")), taken[i]);
		json_decref(data);
	}
	assert_int_equal(error_code(call_json(q, "rpc.provide",
	                                      "{\"methods\":[{\"name\":\"q.x\",\"params\":[],\"result\":{"
	                                      "\"name\":\"r\",\"schema\":{}}}],\"topics\":[\"test.a\"]}"),
	                            &data),
	                 -32013);
	assert_string_equal(json_string_value(json_object_get(data, "topic")), "test.a");
	json_decref(data);
	assert_int_equal(error_code(call_json(c, "q.x", NULL), NULL), -32601);

	/* Names: 1-128 bytes of [A-Za-z0-9_.-] with at least one dot. */
	memset(name, 'a', 129);
	name[1] = '.';
	name[129] = '\0';
	assert_int_equal(error_code(provide_named(q, name), NULL), -32602); /* 129 bytes */
	name[128] = '\0';
	json_decref(harness_take_result(provide_named(q, name), "rpc.provide")); /* 128 bytes */
	assert_int_equal(error_code(provide_named(q, "q.a b"), NULL), -32602);
	assert_int_equal(error_code(provide_named(q, "q.a/b"), NULL), -32602);
	json_decref(harness_take_result(provide_named(q, "q_Z-9.a"), "rpc.provide"));
	/* The optional members of a Method Object: summary and errors. */
	json_decref(harness_take_result(
	    call_json(q, "rpc.provide", "{\"methods\":[{\"name\":\"q.err\",\"summary\":\"s\",\"params\":[],"
	                                "\"result\":{\"name\":\"r\",\"schema\":{}},\"errors\":[{\"code\":1,"
	                                "\"message\":\"failed\"}]}]}"),
	    "rpc.provide"));

	/* rpc.unprovide of some: the rest stay, the one named goes. */
	res = harness_take_result(call_json(p, "rpc.unprovide", "{\"methods\":[\"test.echo\"],"
	                                                        "\"topics\":[\"test.a\"]}"),
	                          "rpc.unprovide");
	want = json_loads("{\"methods\":[\"test.who\"],\"topics\":[\"test.b\"]}", 0, NULL);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	assert_int_equal(error_code(call_json(c, "test.echo", "{\"n\":1}"), NULL), -32601);

	/* An id answered twice: the caller gets the first, the second is dropped. */
	send_call(c, 7, "test.who", "{}");
	json_t *req = forwarded(p, "test.who");
	answer(p, json_integer_value(json_object_get(req, "id")), "{\"n\":1}");
	answer(p, json_integer_value(json_object_get(req, "id")), "{\"n\":2}");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "n")), 1);
	json_decref(r);
	assert_true(client_silent(c, 300));
	assert_true(client_silent(p, 0)); /* nothing said to the provider either */
	json_decref(harness_take_result(call_json(p, "ping", NULL), "ping")); /* still connected */
	client_close(c);
	client_close(q);
	client_close(p);
}

/* 1,000 pipelined calls answered in reverse: each caller gets its own answers, in its order. */
static void test_out_of_order(void **state)
{
	(void)state;
	enum { N = 1000 };
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_int_t ids[N];
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	for (long i = 0; i < N; i++) {
		char params[32];
		snprintf(params, sizeof(params), "{\"n\":%ld}", i);
		send_call(c, i + 1, "test.echo", params);
	}
	for (long i = 0; i < N; i++) {
		json_t *req = forwarded(p, "test.echo");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(req, "params"), "n")), i);
		ids[i] = json_integer_value(json_object_get(req, "id"));
		json_decref(req);
	}
	for (long i = N - 1; i >= 0; i--) {
		char result[32];
		snprintf(result, sizeof(result), "%ld", i);
		answer(p, ids[i], result);
	}
	for (long i = 0; i < N; i++) {
		json_t *r = recv_json(c, wait_ms(10000));
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i + 1);
		assert_int_equal(json_integer_value(json_object_get(r, "result")), i);
		json_decref(r);
	}
	client_close(c);
	client_close(p);
}

/* A provider that dies with 100 calls pending: each is -32005 at once, and the name is free. */
static void test_provider_dies(void **state)
{
	(void)state;
	enum { N = 100 };
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	for (long i = 0; i < N; i++)
		send_call(c, i + 1, "test.echo", "{\"n\":7}");
	for (long i = 0; i < N; i++)
		json_decref(forwarded(p, "test.echo"));
	long t0 = now_ms();
	client_close(p);
	for (long i = 0; i < N; i++) {
		json_t *r = recv_json(c, wait_ms(5000)), *data = NULL;
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i + 1);
		assert_int_equal(error_code(r, &data), -32005);
		assert_string_equal(json_string_value(json_object_get(data, "method")), "test.echo");
		json_decref(data);
	}
	assert_true(now_ms() - t0 < wait_ms(3000));
	assert_int_equal(error_code(call_json(c, "test.echo", "{\"n\":1}"), NULL), -32601);
	client_close(c);
}

/* Garbage from a provider is dropped and logged at most once a second; it stays connected. */
static void test_garbage_answers(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	char *before = daemon_log(&d);
	long t0 = now_ms();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(client_send_str(p, "this is not json\n"), 0);
		assert_int_equal(client_send_str(p, "{\"jsonrpc\":\"2.0\",\"id\":987654321,\"result\":1}\n"), 0);
		assert_int_equal(client_send_str(p, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":1}\n"), 0);
		assert_int_equal(client_send_str(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}\n"), 0);
	}
	/* Still served: a real call after the garbage goes through. */
	send_call(c, 1, "test.echo", "{\"n\":5}");
	json_t *req = forwarded(p, "test.echo");
	answer(p, json_integer_value(json_object_get(req, "id")), "5");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 5);
	json_decref(r);
	/* Nothing of it was answered to the provider. */
	assert_true(client_silent(p, 200));
	char *after = daemon_log(&d);
	unsigned lines = 0;
	for (const char *s = after + strlen(before); (s = strstr(s, "dropped")); s++)
		lines++;
	/* 200 bad lines: a line for the first, then at most one a second. */
	long secs = (now_ms() - t0) / 1000;
	assert_true(lines >= 1 && lines <= 2 + secs);
	free(before);
	free(after);
	client_close(c);
	client_close(p);
}

/* A provider calling its own method on its own connection. */
static void test_same_connection(void **state)
{
	(void)state;
	int p = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	send_call(p, 42, "test.echo", "{\"n\":3}");
	json_t *req = forwarded(p, "test.echo");
	answer(p, json_integer_value(json_object_get(req, "id")), "3");
	json_decref(req);
	json_t *r = recv_json(p, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 42);
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 3);
	json_decref(r);
	client_close(p);
}

/* No answer within call_timeout_ms: -32006; the late answer is dropped. */
static void test_never_answers(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	long t0 = now_ms();
	send_call(c, 1, "test.echo", "{\"n\":1}");
	send_call(c, 2, "test.echo", "{\"n\":2}");
	json_t *req = forwarded(p, "test.echo");
	json_decref(forwarded(p, "test.echo"));
	for (long i = 1; i <= 2; i++) {
		json_t *r = recv_json(c, wait_ms(5000)), *data = NULL;
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		assert_int_equal(error_code(r, &data), -32006);
		assert_string_equal(json_string_value(json_object_get(data, "method")), "test.echo");
		assert_int_equal(json_integer_value(json_object_get(data, "timeout_ms")), 300);
		json_decref(data);
	}
	long took = now_ms() - t0;
	assert_true(took >= 250 && took < wait_ms(3000));
	answer(p, json_integer_value(json_object_get(req, "id")), "1");
	json_decref(req);
	assert_true(client_silent(c, 300));
	/* Both still work. */
	send_call(c, 3, "test.echo", "{\"n\":9}");
	req = forwarded(p, "test.echo");
	answer(p, json_integer_value(json_object_get(req, "id")), "9");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 9);
	json_decref(r);
	client_close(c);
	client_close(p);
}

/* max_provider_inflight 5. */
static int inflight_setup(void **state)
{
	(void)state;
	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"max_provider_inflight\":5}}", 0644,
	                                     NULL),
	                 0);
	return 0;
}

/* idle_timeout_ms 400: a provider is a connection like others, under the same limits. */
static int idle_setup(void **state)
{
	(void)state;
	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"idle_timeout_ms\":400}}", 0644, NULL),
	                 0);
	return 0;
}

/* §7: a provider's own limits apply: idle past idle_timeout_ms, it is closed and its names go. */
static void test_provider_own_limits(void **state)
{
	(void)state;
	int p = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	long t0 = now_ms();
	char *line = client_recv_line(p, wait_ms(5000));
	char byte;
	assert_null(line);
	assert_int_equal(recv(p, &byte, 1, MSG_DONTWAIT), 0); /* EOF, not a wait that ran out */
	assert_true(now_ms() - t0 >= 300);
	int c = client_connect(d.sock);
	json_t *r = call_json(c, "test.echo", "{\"n\":1}");
	assert_int_equal(error_code(r, NULL), -32601);
	client_close(c);
	client_close(p);
}

/* At max_provider_inflight pending, more calls are -32007 until the provider answers. */
static void test_inflight_limit(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_int_t ids[5];
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	for (long i = 1; i <= 7; i++)
		send_call(c, i, "test.echo", "{\"n\":1}");
	for (int i = 0; i < 5; i++) {
		json_t *req = forwarded(p, "test.echo");
		ids[i] = json_integer_value(json_object_get(req, "id"));
		json_decref(req);
	}
	assert_true(client_silent(p, 200)); /* the 6th and 7th were not forwarded */
	for (int i = 0; i < 5; i++)
		answer(p, ids[i], "1");
	for (long i = 1; i <= 7; i++) {
		json_t *r = recv_json(c, wait_ms(5000)), *data = NULL;
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		if (i <= 5) {
			assert_int_equal(json_integer_value(json_object_get(r, "result")), 1);
			json_decref(r);
			continue;
		}
		assert_int_equal(error_code(r, &data), -32007);
		assert_string_equal(json_string_value(json_object_get(data, "method")), "test.echo");
		assert_int_equal(json_integer_value(json_object_get(data, "limit")), 5);
		json_decref(data);
	}
	/* Answered: room again. */
	send_call(c, 8, "test.echo", "{\"n\":8}");
	json_t *req = forwarded(p, "test.echo");
	answer(p, json_integer_value(json_object_get(req, "id")), "8");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 8);
	json_decref(r);
	client_close(c);
	client_close(p);
}

/* A result outside the result schema is -32603 naming the path; a provider's error passes unchanged. */
static void test_result_checked_errors_unchanged(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	send_call(c, 1, "test.echo", "{\"n\":1}");
	json_t *req = forwarded(p, "test.echo");
	answer(p, json_integer_value(json_object_get(req, "id")), "\"one\"");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000)), *data = NULL;
	assert_int_equal(error_code(r, &data), -32603);
	const char *reason = json_string_value(json_object_get(data, "reason"));
	assert_non_null(reason);
	assert_non_null(strstr(reason, "schema at ''"));
	json_decref(data);

	send_call(c, 2, "test.echo", "{\"n\":2}");
	req = forwarded(p, "test.echo");
	answer_with(p, json_integer_value(json_object_get(req, "id")), "error",
	            "{\"code\":-1234,\"message\":\"mine\",\"data\":{\"a\":[1,2]}}");
	json_decref(req);
	char *got = client_recv_line(c, wait_ms(5000));
	assert_non_null(got);
	assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1234,\"message\":"
	                         "\"mine\",\"data\":{\"a\":[1,2]}}}");
	free(got);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "method test.echo: the provider's result does not match"));
	free(log);
	client_close(c);
	client_close(p);
}

/* A batch is split (its notification forwarded without id) and answered whole, in its order. */
static void test_batch_split(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	assert_int_equal(client_send_str(c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test.echo\",\"params\":{\"n\":1}},"
	                                    "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"n\":2}},"
	                                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"test.echo\",\"params\":{\"n\":3}},"
	                                    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}]\n"),
	                 0);
	json_t *req[3];
	for (int i = 0; i < 3; i++)
		req[i] = forwarded_any(p, "test.echo");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(req[1], "params"), "n")), 2);
	assert_null(json_object_get(req[1], "id"));
	/* Answered in reverse; the batch's reply waits for the last. */
	answer(p, json_integer_value(json_object_get(req[2], "id")), "3");
	assert_true(client_silent(c, 200));
	answer(p, json_integer_value(json_object_get(req[0], "id")), "1");
	for (int i = 0; i < 3; i++)
		json_decref(req[i]);
	char *got = client_recv_line(c, wait_ms(5000));
	assert_non_null(got);
	assert_string_equal(got, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1},"
	                         "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":3},"
	                         "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":\"pong\"}]");
	free(got);
	assert_true(client_silent(p, 200)); /* the notification is never answered */
	client_close(c);
	client_close(p);
}

/* The next event on fd: its params (new reference). */
static json_t *next_event(int fd)
{
	json_t *n = recv_json(fd, wait_ms(5000));
	assert_string_equal(json_string_value(json_object_get(n, "method")), "event");
	json_t *params = json_incref(json_object_get(n, "params"));
	json_decref(n);
	return params;
}

/* The provider topic announces provide and unprovide; events.publish reaches a topic's subscribers. */
static void test_topics_and_publish(void **state)
{
	(void)state;
	int sub = client_connect(d.sock), p = client_connect(d.sock);
	json_decref(harness_take_result(call_json(sub, "events.subscribe", "{\"topics\":[\"provider\"]}"),
	                                "events.subscribe"));
	json_t *res = harness_take_result(call_json(p, "rpc.provide", "{\"methods\":[" ECHO_METHOD "],"
	                                                              "\"topics\":[\"test.news\"]}"),
	                                  "rpc.provide");
	assert_string_equal(json_string_value(json_array_get(json_object_get(res, "topics"), 0)), "test.news");
	json_decref(res);
	json_t *who = harness_take_result(call_json(p, "peer.whoami", NULL), "peer.whoami");
	json_t *ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "provider");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "provide");
	assert_string_equal(json_string_value(json_array_get(json_object_get(ev, "methods"), 0)), "test.echo");
	assert_string_equal(json_string_value(json_array_get(json_object_get(ev, "topics"), 0)), "test.news");
	assert_int_equal(json_integer_value(json_object_get(ev, "id")),
	                 json_integer_value(json_object_get(who, "id")));
	assert_int_equal(json_integer_value(json_object_get(ev, "pid")),
	                 json_integer_value(json_object_get(who, "pid")));
	json_decref(ev);
	json_decref(who);

	json_decref(harness_take_result(call_json(sub, "events.subscribe", "{\"topics\":[\"test.news\"]}"),
	                                "events.subscribe"));
	res = harness_take_result(call_json(p, "events.publish", "{\"topic\":\"test.news\",\"event\":{\"x\":1}}"),
	                          "events.publish");
	assert_int_equal(json_integer_value(json_object_get(res, "subscribers")), 1);
	json_decref(res);
	ev = next_event(sub);
	json_t *want = json_loads("{\"topic\":\"test.news\",\"type\":\"publish\",\"event\":{\"x\":1}}", 0, NULL);
	assert_true(json_equal(ev, want));
	json_decref(want);
	json_decref(ev);
	/* Only on its own topics. */
	json_t *data = NULL;
	assert_int_equal(error_code(call_json(sub, "events.publish", "{\"topic\":\"test.news\",\"event\":{}}"), &data),
	                 -32602);
	assert_string_equal(json_string_value(json_object_get(data, "path")), "/topic");
	json_decref(data);
	assert_int_equal(error_code(call_json(p, "events.publish", "{\"topic\":\"peer\",\"event\":{}}"), NULL),
	                 -32602);

	/* Leaving releases the topic (the subscriber loses it) and is announced. */
	client_close(p);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "unprovide");
	assert_string_equal(json_string_value(json_array_get(json_object_get(ev, "methods"), 0)), "test.echo");
	assert_string_equal(json_string_value(json_array_get(json_object_get(ev, "topics"), 0)), "test.news");
	json_decref(ev);
	res = harness_take_result(call_json(sub, "events.unsubscribe", "{\"topics\":[\"provider\"]}"),
	                          "events.unsubscribe");
	assert_int_equal(json_array_size(json_object_get(res, "topics")), 0);
	json_decref(res);
	client_close(sub);
}

/* The method object for NAME: no params, a string result. */
static void method_object(char *buf, size_t len, const char *name)
{
	snprintf(buf, len,
	         "{\"name\":\"%s\",\"summary\":\"provided\",\"params\":[],\"result\":{\"name\":\"r\","
	         "\"schema\":{\"type\":\"string\"}}}",
	         name);
}

/* The names rpc.discover lists (new reference: an object name -> true). */
static json_t *discovered(int fd)
{
	json_t *doc = harness_take_result(call_json(fd, "rpc.discover", NULL), "rpc.discover");
	json_t *names = json_object(), *m;
	size_t i;
	json_array_foreach(json_object_get(doc, "methods"), i, m)
		json_object_set_new(names, json_string_value(json_object_get(m, "name")), json_true());
	json_decref(doc);
	return names;
}

/* rpc.discover lists provided methods with their schemas while provided; peer.list shows provides; stats count them. */
static void test_discover_peers_stats(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_t *before = discovered(c);
	assert_null(json_object_get(before, "test.echo"));
	json_decref(harness_take_result(call_json(p, "rpc.provide", "{\"methods\":[" ECHO_METHOD "],"
	                                                            "\"topics\":[\"test.news\"]}"),
	                                "rpc.provide"));
	json_t *doc = harness_take_result(call_json(c, "rpc.discover", NULL), "rpc.discover");
	json_t *m, *mine = NULL;
	size_t i;
	json_array_foreach(json_object_get(doc, "methods"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "name")), "test.echo") == 0)
			mine = m;
	assert_non_null(mine);
	json_t *want = json_loads(ECHO_METHOD, 0, NULL);
	json_object_set_new(want, "paramStructure", json_string("by-name"));
	assert_true(json_equal(mine, want));
	json_decref(want);
	assert_int_equal(json_array_size(json_object_get(doc, "methods")), json_object_size(before) + 1);
	json_decref(doc);
	json_decref(before);

	/* peer.list: the provider's entry says what it provides; others provide nothing. */
	json_t *who = harness_take_result(call_json(p, "peer.whoami", NULL), "peer.whoami");
	json_t *peers = harness_take_result(call_json(c, "peer.list", NULL), "peer.list"), *e;
	unsigned seen = 0;
	json_array_foreach(json_object_get(peers, "peers"), i, e) {
		json_t *prov = json_object_get(e, "provides");
		assert_non_null(prov);
		if (json_integer_value(json_object_get(e, "id")) == json_integer_value(json_object_get(who, "id"))) {
			json_t *w = json_loads("{\"methods\":[\"test.echo\"],\"topics\":[\"test.news\"]}", 0, NULL);
			assert_true(json_equal(prov, w));
			json_decref(w);
			seen++;
		} else {
			assert_int_equal(json_array_size(json_object_get(prov, "methods")), 0);
		}
	}
	assert_int_equal(seen, 1);
	json_decref(peers);
	json_decref(who);

	/* daemon.stats counts calls and errors of the provided method. */
	for (long k = 1; k <= 3; k++) {
		send_call(c, k, "test.echo", "{\"n\":1}");
		json_t *req = forwarded(p, "test.echo");
		answer(p, json_integer_value(json_object_get(req, "id")), k == 3 ? "\"bad\"" : "1");
		json_decref(req);
		json_decref(recv_json(c, wait_ms(5000)));
	}
	json_t *stats = harness_take_result(call_json(c, "daemon.stats", NULL), "daemon.stats");
	json_t *st = json_object_get(json_object_get(stats, "methods"), "test.echo");
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(st, "calls")), 3);
	assert_int_equal(json_integer_value(json_object_get(st, "errors")), 1);
	json_decref(stats);

	/* Gone with its provider. */
	client_close(p);
	json_t *after = NULL;
	for (int tries = 0; tries < 100; tries++) {
		json_decref(after);
		after = discovered(c);
		if (!json_object_get(after, "test.echo"))
			break;
		usleep(10000);
	}
	assert_null(json_object_get(after, "test.echo"));
	json_decref(after);
	client_close(c);
}

/* 1,000 providers with 10 methods each: rpc.discover lists all 10,000 and still answers, calls reach the right one. */
static void test_thousand_providers(void **state)
{
	(void)state;
	enum { P = 1000, M = 10 };
	static int fds[P];
	char methods[M * 160 + 16], one[160], name[32];
	int c = client_connect(d.sock);
	json_t *base = discovered(c);

	for (int i = 0; i < P; i++) {
		fds[i] = client_connect(d.sock);
		assert_true(fds[i] >= 0);
		size_t n = (size_t)snprintf(methods, sizeof(methods), "[");
		for (int j = 0; j < M; j++) {
			snprintf(name, sizeof(name), "p%d.m%d", i, j);
			method_object(one, sizeof(one), name);
			n += (size_t)snprintf(methods + n, sizeof(methods) - n, "%s%s", j ? "," : "", one);
		}
		snprintf(methods + n, sizeof(methods) - n, "]");
		json_t *res = provide(fds[i], methods);
		assert_int_equal(json_array_size(json_object_get(res, "methods")), M);
		json_decref(res);
	}
	long t0 = now_ms();
	json_t *names = discovered(c);
	long took = now_ms() - t0;
	print_message("rpc.discover with %d provided methods: %zu methods, %ld ms\n", P * M,
	              json_object_size(names), took);
	assert_int_equal(json_object_size(names), json_object_size(base) + P * M);
	assert_non_null(json_object_get(names, "p999.m9"));
	assert_true(took < wait_ms(5000));
	json_decref(names);
	/* A call reaches its own provider, and ping is not slowed to a crawl. */
	send_call(c, 1, "p500.m3", "{}");
	json_t *req = forwarded(fds[500], "p500.m3");
	answer(fds[500], json_integer_value(json_object_get(req, "id")), "\"from 500\"");
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_string_equal(json_string_value(json_object_get(r, "result")), "from 500");
	json_decref(r);
	assert_true(client_silent(fds[499], 0));
	for (int i = 0; i < P; i++)
		client_close(fds[i]);
	json_t *after = NULL;
	for (int tries = 0; tries < 500; tries++) {
		json_decref(after);
		after = discovered(c);
		if (json_object_size(after) == json_object_size(base))
			break;
		usleep(10000);
	}
	assert_int_equal(json_object_size(after), json_object_size(base));
	json_decref(after);
	json_decref(base);
	client_close(c);
}

/* As root: a policy that lets uid 65534 call test.who and rpc.provide, and provide nothing. */
static int nobody_setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		daemon_start(&d, NULL); /* the test skips; teardown stops this one */
		return 0;
	}
	char path[160];
	daemon_prepare(&d);
	/* mkdtemp made it 0700: uid 65534 must reach the socket in it. */
	assert_int_equal(chmod(d.dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/policy.json", d.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"peer.whoami\",\"test.who\",\"rpc.provide\"],"
	      "\"uids\":[65534]},{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]},"
	      "{\"effect\":\"allow\",\"provide\":[\"test.*\"],\"uids\":[0]},"
	      "{\"effect\":\"allow\",\"provide\":[\"nobody.ok\"],\"uids\":[65534]}]}\n",
	      f);
	assert_int_equal(fclose(f), 0);
	const char *const args[] = {"-p", path, NULL};
	assert_int_equal(daemon_spawn(&d, args, NULL), 0);
	return 0;
}

/* A connection to the daemon made by a child that became uid/gid 65534 (the kernel's identity is the child's). */
static int nobody_connect(void)
{
	int sv[2], fd = -1;
	char cbuf[CMSG_SPACE(sizeof(int))];
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		int c = client_connect(d.sock);
		if (c < 0)
			_exit(3);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &c, sizeof(int));
		_exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 4);
	}
	close(sv[1]);
	if (recvmsg(sv[0], &mh, 0) == 1 && CMSG_FIRSTHDR(&mh))
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	close(sv[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_true(fd >= 0);
	return fd;
}

/* A uid-65534 caller: the provider sees what its own peer.whoami says; its own rpc.provide is refused by the provide rules. */
static void test_nobody_caller(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to make a uid-65534 caller\n");
		skip();
	}
	int p = client_connect(d.sock), c = nobody_connect();
	json_decref(provide(p, "[" WHO_METHOD "]"));
	json_t *who = harness_take_result(call_json(c, "peer.whoami", NULL), "peer.whoami");
	assert_int_equal(json_integer_value(json_object_get(who, "uid")), 65534);
	assert_int_equal(json_integer_value(json_object_get(who, "gid")), 65534);
	send_call(c, 5, "test.who", "{}");
	json_t *req = forwarded(p, "test.who");
	assert_true(json_equal(json_object_get(req, "caller"), who));
	char *caller = json_dumps(json_object_get(req, "caller"), JSON_COMPACT);
	answer(p, json_integer_value(json_object_get(req, "id")), caller);
	free(caller);
	json_decref(req);
	json_t *r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	assert_true(json_equal(json_object_get(r, "result"), who));
	json_decref(r);
	/* A provider's own -32001 reaches the caller unchanged, counted, and is the provider's to
	 * log. */
	send_call(c, 6, "test.who", "{}");
	req = forwarded(p, "test.who");
	answer_with(p, json_integer_value(json_object_get(req, "id")), "error",
	            "{\"code\":-32001,\"message\":\"no\",\"data\":{\"key\":\"k\"}}");
	json_decref(req);
	r = recv_json(c, wait_ms(5000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 6);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 -32001);
	json_decref(r);

	json_t *data = NULL;
	assert_int_equal(provide_error(c, "nobody.x", &data), -32001);
	assert_string_equal(json_string_value(json_object_get(data, "name")), "nobody.x");
	assert_int_equal(json_integer_value(json_object_get(data, "uid")), 65534);
	json_decref(data);
	/* A topic is judged by the provide rules like a method (§4): the call is refused whole. */
#define OK_METHOD "{\"name\":\"nobody.ok\",\"params\":[],\"result\":{\"name\":\"r\",\"schema\":{}}}"
	r = call_json(c, "rpc.provide", "{\"methods\":[" OK_METHOD "],\"topics\":[\"nobody.t\"]}");
	data = NULL;
	assert_int_equal(error_code(r, &data), -32001);
	assert_string_equal(json_string_value(json_object_get(data, "name")), "nobody.t");
	json_decref(data);
	/* All or nothing: the method it may provide was not taken with the refused topic. */
	json_decref(provide(c, "[" OK_METHOD "]"));
	char *log = daemon_log(&d);
	/* Logged once: the refused topic after it is the same (connection, method). */
	const char *first = strstr(log, "denied rpc.provide of nobody.x to uid 65534");
	assert_non_null(first);
	assert_null(strstr(first + 1, "denied rpc.provide"));
	assert_null(strstr(log, "denied test.who"));
	assert_non_null(strstr(log, "info: audit: rpc.provide uid 0 pid"));
	free(log);
	json_decref(who);
	client_close(c);
	client_close(p);
}

/* A graceful stop with a call pending on a provider: the caller is answered and the daemon exits. */
static void test_stop_with_pending(void **state)
{
	(void)state;
	int p = client_connect(d.sock), c = client_connect(d.sock);
	json_decref(provide(p, "[" ECHO_METHOD "]"));
	send_call(c, 1, "test.echo", "{\"n\":1}");
	json_decref(forwarded(p, "test.echo"));
	long t0 = now_ms();
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	json_t *r = recv_json(c, wait_ms(10000));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	int code = error_code(r, NULL);
	assert_true(code == -32005 || code == -32004);
	int status = daemon_wait(&d, wait_ms(10000));
	assert_int_equal(status, 0);
	d.pid = 0;
	print_message("stopped in %ld ms, the pending call answered %d\n", now_ms() - t0, code);
	client_close(c);
	client_close(p);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_caller_identity),
	    T(test_params_checked_first),
	    T(test_provide_refusals),
	    T(test_provide_names),
	    T(test_out_of_order),
	    T(test_provider_dies),
	    T(test_garbage_answers),
	    T(test_same_connection),
	    cmocka_unit_test_setup_teardown(test_never_answers, short_timeout_setup, daemon_teardown),
	    cmocka_unit_test_setup_teardown(test_inflight_limit, inflight_setup, daemon_teardown),
	    cmocka_unit_test_setup_teardown(test_provider_own_limits, idle_setup, daemon_teardown),
	    T(test_result_checked_errors_unchanged),
	    T(test_batch_split),
	    T(test_topics_and_publish),
	    T(test_discover_peers_stats),
	    T(test_thousand_providers),
	    cmocka_unit_test_setup_teardown(test_nobody_caller, nobody_setup, daemon_teardown),
	    T(test_stop_with_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

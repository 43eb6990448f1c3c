/*
 * test_rpc.c — the JSON-RPC layer fed with lines, no sockets: envelope,
 * batches, the order of checks, and replies kept in request order when a
 * handler (a durable write) completes later.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include <udsrpc/udsrpc.h>

#include "peer.h"
#include "rpc.h"
#include "server.h"

/*
 * A service of the tests' own beside the built-ins: test.later answers
 * when the test says (a stand-in for a durable write), test.level checks an
 * enum param, test.admin is for uid 0 and the server's own uid only.
 */
static const char test_doc[] =
    "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"methods\":["
    "{\"name\":\"test.later\",\"params\":[],\"paramStructure\":\"by-name\","
    "\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"test.level\",\"paramStructure\":\"by-name\",\"params\":[{\"name\":\"level\","
    "\"required\":true,\"schema\":{\"enum\":[\"error\",\"warning\",\"info\",\"debug\"]}}],"
    "\"result\":{\"name\":\"r\",\"schema\":{}}},"
    "{\"name\":\"test.admin\",\"params\":[],\"paramStructure\":\"by-name\","
    "\"result\":{\"name\":\"r\",\"schema\":{}}}]}";

static struct udsrpc_call *later[8];
static size_t nlater;

static void test_later(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	later[nlater++] = udsrpc_call_defer(c, 0);
}

static void test_answer(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	udsrpc_call_result(c, json_string("done"));
}

static const struct udsrpc_method test_methods[] = {
	{"test.later", test_later, UDSRPC_METHOD_PUBLIC},
	{"test.level", test_answer, UDSRPC_METHOD_PUBLIC},
	{"test.admin", test_answer, 0},
};

struct fx {
	struct udsrpc_server *srv;
	struct udsrpc_peer peer;
	struct evbuffer *out;
	struct rpc_session s;
};

static int fx_setup_as(void **state, uid_t uid)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct udsrpc_server_options o;
	char err[512];

	udsrpc_server_options_init(&o);
	o.builtins = UDSRPC_BUILTIN_ALL;
	o.socket_path = "/nonexistent/t.sock";
	assert_int_equal(udsrpc_server_new(&x->srv, &o, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_server_add_methods(x->srv, test_doc, strlen(test_doc), test_methods,
	                                           3, NULL, err, sizeof(err)),
	                 0);
	x->peer = (struct udsrpc_peer){.id = 1, .uid = uid, .gid = uid, .pid = 4242};
	x->out = evbuffer_new();
	rpc_session_init(&x->s, x->srv, &x->peer, x->out, NULL);
	nlater = 0;
	*state = x;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_as(state, getuid());
}

static int fx_setup_stranger(void **state)
{
	/* Not root and not the server's uid: the default policy's plain peer. */
	return fx_setup_as(state, getuid() == 12345 ? 12346 : 12345);
}

static int fx_teardown(void **state)
{
	struct fx *x = *state;
	for (size_t i = 0; i < nlater; i++)
		udsrpc_call_unref(later[i]);
	rpc_session_detach(&x->s);
	rpc_session_free(&x->s);
	evbuffer_free(x->out);
	udsrpc_server_free(x->srv);
	free(x);
	return 0;
}

static void feed(struct fx *x, const char *line)
{
	rpc_handle_line(&x->s, line, strlen(line));
}

/* All output so far, taken out of the buffer (malloc'd). */
static char *take(struct fx *x)
{
	size_t n = evbuffer_get_length(x->out);
	char *s = malloc(n + 1);
	evbuffer_remove(x->out, s, n);
	s[n] = '\0';
	return s;
}

static void expect(struct fx *x, const char *line, const char *want)
{
	feed(x, line);
	char *got = take(x);
	assert_string_equal(got, want);
	free(got);
}

static void test_ping_and_echo(void **state)
{
	struct fx *x = *state;
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"pong\"}\n");
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"echo\",\"params\":{\"k\":[1,2.5,null]}}",
	       "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"k\":[1,2.5,null]}}\n");
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"pong\"}\n");
	assert_int_equal(x->s.requests, 3);
}

static void test_notifications_are_silent(void **state)
{
	struct fx *x = *state;
	expect(x, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}", "");
	expect(x, "{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}", "");
	expect(x, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"x\":1}}", "");
	/* ...but an invalid request without an id is still answered, with id null. */
	expect(x, "{\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Invalid "
	       "Request\",\"data\":{\"reason\":\"missing \\\"jsonrpc\\\": \\\"2.0\\\"\"}}}\n");
}

static void test_check_order(void **state)
{
	struct fx *x = *state;
	/* parse → envelope → method → policy → params: each beats the ones after it. */
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nosuch\",\"params\":7}",
	       "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,\"message\":\"Invalid "
	       "Request\",\"data\":{\"reason\":\"\\\"params\\\" must be an object or an array\"}}}\n");
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nosuch\",\"params\":{\"x\":1}}",
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32601,\"message\":\"Method not "
	       "found\",\"data\":{\"method\":\"nosuch\"}}}\n");
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"test.level\",\"params\":{\"level\":\"loud\"}}",
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,\"message\":\"Invalid "
	       "params\",\"data\":{\"path\":\"/level\",\"reason\":\"must be one of \\\"error\\\", "
	       "\\\"warning\\\", \\\"info\\\", \\\"debug\\\"\"}}}\n");
}

static void test_denied_before_params(void **state)
{
	struct fx *x = *state;
	char want[512];
	/* A plain peer may not call an admin method, whatever its params. */
	snprintf(want, sizeof(want),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,\"message\":\"Permission "
		 "denied\",\"data\":{\"method\":\"test.admin\",\"uid\":%u,\"gid\":%u,\"pid\":4242}}}\n",
		 (unsigned)x->peer.uid, (unsigned)x->peer.gid);
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test.admin\",\"params\":{\"bad\":1}}", want);
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}\n");
	assert_int_equal(x->srv->stats.req_denied, 1);
}

static void test_batches(void **state)
{
	struct fx *x = *state;
	expect(x, "[]", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
			"\"Invalid Request\",\"data\":{\"reason\":\"empty batch\"}}}\n");
	expect(x, "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]", "");
	expect(x, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},"
		  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[2]}]",
	       "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"pong\"},{\"jsonrpc\":\"2.0\",\"id\":2,"
	       "\"result\":[2]}]\n");
	assert_int_equal(udsrpc_server_set_limit(x->srv, "max_batch", 2), 0);
	expect(x, "[1,2,3]", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
			     "\"Invalid Request\",\"data\":{\"reason\":\"batch of 3 requests exceeds "
			     "max_batch 2\"}}}\n");
}

static void test_shutting_down(void **state)
{
	struct fx *x = *state;
	x->srv->shutting_down = true;
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32004,\"message\":\"Shutting down\"}}\n");
}

static void test_method_nul_is_not_found(void **state)
{
	struct fx *x = *state;
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000x\"}";
	feed(x, req);
	char *got = take(x);
	assert_non_null(strstr(got, "-32601"));
	free(got);
}

/* A call answered later holds its place: what comes behind it waits for it. */
static void test_deferred_reply_keeps_order(void **state)
{
	struct fx *x = *state;

	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test.later\"}");
	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"test.later\"}");
	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
	assert_int_equal(evbuffer_get_length(x->out), 0); /* nothing before the first is answered */
	assert_true(rpc_session_busy(&x->s));
	assert_int_equal(nlater, 2);
	/* The second answered first: still nothing goes out. */
	assert_int_equal(udsrpc_call_result(later[1], json_integer(3)), 0);
	assert_int_equal(evbuffer_get_length(x->out), 0);
	assert_int_equal(udsrpc_call_result(later[0], json_integer(1)), 0);
	char *got = take(x);
	assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":3}\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":\"pong\"}\n");
	free(got);
	assert_false(rpc_session_busy(&x->s));
	/* Answering again is reported, and changes nothing. */
	assert_int_equal(udsrpc_call_result(later[0], json_integer(9)), -EALREADY);
	assert_int_equal(udsrpc_call_error(later[1], -1, "x", NULL), -EALREADY);
	assert_int_equal(evbuffer_get_length(x->out), 0);
}

/* A service's own error code and message reach the caller as given, escaped. */
static void test_service_error(void **state)
{
	struct fx *x = *state;

	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"test.later\"}");
	assert_int_equal(udsrpc_call_error(later[0], 17, "no \"disk\"\n", json_pack("{s:i}", "n", 1)),
	                 0);
	char *got = take(x);
	assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":17,\"message\":"
	                         "\"no \\\"disk\\\"\\n\",\"data\":{\"n\":1}}}\n");
	free(got);
}

/*
 * The fast parser's strings, eight bytes at a time, against jansson's: the
 * closing quote, a backslash, a control byte or a byte above 0x7f at each
 * offset of a word, with text after the quote in the same word. What the
 * fast path builds must equal what json_loadb gives; what it refuses,
 * jansson judges (NULL: the generic path), but a plain string is never refused.
 */
static void test_fast_strings(void **state)
{
	static const char *const odd[] = {"\\n", "\x01", "\xc3\xa9", "\xff", "\x7f"};
	(void)state;

	for (size_t len = 0; len < 20; len++) {
		for (size_t k = 0; k <= sizeof(odd) / sizeof(odd[0]); k++) {
			for (size_t at = 0; at <= len; at++) {
				char text[64];
				size_t n = 0;

				text[n++] = '[';
				text[n++] = '"';
				for (size_t i = 0; i < len; i++) {
					if (k < sizeof(odd) / sizeof(odd[0]) && i == at) {
						memcpy(text + n, odd[k], strlen(odd[k]));
						n += strlen(odd[k]);
					} else {
						text[n++] = (char)('a' + i % 26);
					}
				}
				static const char tail[] = "\",\"\xc3\xa9z\"]";
				memcpy(text + n, tail, sizeof(tail) - 1);
				n += sizeof(tail) - 1;

				json_t *fast = rpc_fast_json(NULL, text, n);
				json_t *want = json_loadb(text, n, JSON_ALLOW_NUL, NULL);
				if (fast) {
					assert_non_null(want);
					assert_true(json_equal(fast, want));
				} else {
					assert_true(k < sizeof(odd) / sizeof(odd[0]));
				}
				json_decref(fast);
				json_decref(want);
			}
		}
	}
}

/*
 * Params parsed into the spare object the previous request left: member by
 * member, order and duplicates included, the object json_loadb gives
 * (compared as dumped, which follows the members' order), whatever the
 * spare held before, a string it kept taking the new text included.
 */
static void test_fast_spare_params(void **state)
{
	static const char *const texts[] = {
	    "{\"key\":\"a\",\"value\":1}",
	    "{\"key\":\"b\",\"value\":\"two\"}",
	    "{\"value\":3,\"key\":\"c\"}",
	    "{\"key\":\"d\"}",
	    "{\"key\":\"e\",\"value\":5,\"x\":[1,{\"key\":2}]}",
	    "{\"key\":\"f\",\"value\":6}",
	    "{}",
	    "{\"key\":1,\"key\":2}",
	    "{\"key\":1,\"value\":2,\"key\":3}",
	    "{\"a\":1,\"b\":2,\"a\":3,\"c\":null}",
	    "{\"a\":true,\"b\":false}",
	    "{\"a\":[],\"c\":{}}",
	    "{\"key\":\"a\",\"value\":\"x\"}",
	    "{\"key\":\"\xc3\xa9t\xc3\xa9\",\"value\":\"y\"}",
	    "{\"key\":\"\xff\",\"value\":\"z\"}",
	    "{\"key\":\"b\",\"value\":7}",
	    "{\"key\":[\"b\"],\"value\":\"w\"}",
	    "{\"key\":\"c\",\"value\":\"v\"}",
	    /* Names that begin as the kept one does, or are its prefix. */
	    "{\"keyx\":1,\"key\":\"h\"}",
	    "{\"key\":\"i\",\"value\":9}",
	    "{\"ke\":1,\"value\":2}",
	    "{\"key\":\"j\",\"value\":10}",
	    "{\"key\" : \"k\" , \"value\" :11}",
	    "{\"key\":\"l\",\"valu\":12}",
	};
	struct fx *x = *state;

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			json_t *fast = rpc_fast_json(x->srv, texts[i], strlen(texts[i]));
			json_t *want = json_loadb(texts[i], strlen(texts[i]), 0, NULL);
			if (!want) {
				/* Not UTF-8: refused, for jansson to say why. */
				assert_null(fast);
				continue;
			}
			assert_non_null(fast);
			char *a = json_dumps(fast, JSON_COMPACT);
			char *b = json_dumps(want, JSON_COMPACT);
			assert_string_equal(a, b);
			free(a);
			free(b);
			rpc_spare_park(x->srv, fast);
			json_decref(want);
		}
	}
	/* Held elsewhere: not kept, so the next parse does not write into it. */
	json_t *held = rpc_fast_json(x->srv, texts[0], strlen(texts[0]));
	json_incref(held);
	rpc_spare_park(x->srv, held);
	json_t *next = rpc_fast_json(x->srv, texts[1], strlen(texts[1]));
	assert_ptr_not_equal(next, held);
	assert_string_equal(json_string_value(json_object_get(held, "key")), "a");
	json_decref(next);
	json_decref(held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping_and_echo, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_notifications_are_silent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_denied_before_params, fx_setup_stranger, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_shutting_down, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_method_nul_is_not_found, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply_keeps_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_service_error, fx_setup, fx_teardown),
		cmocka_unit_test(test_fast_strings),
		cmocka_unit_test_setup_teardown(test_fast_spare_params, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "peer.h"
#include "rpc.h"
#include "server.h"
#include "store.h"

struct fx {
	struct server srv;
	struct peer_ident peer;
	struct evbuffer *out;
	struct rpc_session s;
	char dir[64];
};

static int fx_setup_as(void **state, uid_t uid)
{
	struct fx *x = calloc(1, sizeof(*x));
	char err[512];

	config_defaults(&x->srv.cfg);
	assert_int_equal(server_init(&x->srv, err, sizeof(err)), 0);
	x->peer = (struct peer_ident){.id = 1, .uid = uid, .gid = uid, .pid = 4242};
	x->out = evbuffer_new();
	rpc_session_init(&x->s, &x->srv, &x->peer, x->out, NULL);
	*state = x;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_as(state, getuid());
}

static int fx_setup_stranger(void **state)
{
	/* Not root and not the daemon's uid: the default policy's plain peer. */
	return fx_setup_as(state, getuid() == 12345 ? 12346 : 12345);
}

static int fx_teardown(void **state)
{
	struct fx *x = *state;
	if (x->srv.store) {
		store_close(x->srv.store);
		x->srv.store = NULL;
	}
	evbuffer_free(x->out);
	server_free(&x->srv);
	if (x->dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
		assert_int_equal(system(cmd), 0);
	}
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
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"daemon.log_level\",\"params\":{\"level\":\"loud\"}}",
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,\"message\":\"Invalid "
	       "params\",\"data\":{\"path\":\"/level\",\"reason\":\"must be one of \\\"error\\\", "
	       "\\\"warning\\\", \\\"info\\\", \\\"debug\\\"\"}}}\n");
}

static void test_denied_before_params(void **state)
{
	struct fx *x = *state;
	char want[512];
	/* A plain peer may not shut the daemon down, whatever its params. */
	snprintf(want, sizeof(want),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,\"message\":\"Permission "
		 "denied\",\"data\":{\"method\":\"daemon.shutdown\",\"uid\":%u,\"gid\":%u,\"pid\":4242}}}\n",
		 (unsigned)x->peer.uid, (unsigned)x->peer.gid);
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.shutdown\",\"params\":{\"bad\":1}}", want);
	assert_false(x->srv.shutting_down);
	expect(x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}\n");
	assert_int_equal(x->srv.stats.req_denied, 1);
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
	x->srv.cfg.limits.max_batch = 2;
	expect(x, "[1,2,3]", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
			     "\"Invalid Request\",\"data\":{\"reason\":\"batch of 3 requests exceeds "
			     "max_batch 2\"}}}\n");
}

static void test_shutting_down(void **state)
{
	struct fx *x = *state;
	x->srv.shutting_down = true;
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

/* A write answered later holds its place: a ping behind it waits for it. */
static void test_deferred_reply_keeps_order(void **state)
{
	struct fx *x = *state;
	char err[256];

	snprintf(x->dir, sizeof(x->dir), "/tmp/udsrpc-rpc-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->srv.base = event_base_new();
	assert_int_equal(store_open(x->dir, x->srv.base, &x->srv.store, err, sizeof(err)), 0);

	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\",\"params\":{\"key\":\"k\",\"value\":\"v\"}}");
	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	feed(x, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"config.get\",\"params\":{\"key\":\"k\"}}");
	assert_int_equal(evbuffer_get_length(x->out), 0); /* nothing before the write is durable */
	assert_true(rpc_session_busy(&x->s));
	for (int i = 0; i < 1000 && rpc_session_busy(&x->s); i++)
		event_base_loop(x->srv.base, EVLOOP_ONCE);
	char *got = take(x);
	assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"key\":\"k\",\"revision\":1}}\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}\n"
				 "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"key\":\"k\",\"value\":\"v\",\"revision\":1}}\n");
	free(got);
	store_close(x->srv.store);
	x->srv.store = NULL;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

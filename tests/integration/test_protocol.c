/*
 * test_protocol.c — JSON-RPC 2.0 over a real udsrpcd: the examples of the
 * specification's §7 adapted to echo/unknown methods, framing, order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;
static int fd = -1;

static int group_setup(void **state)
{
	daemon_start(&d, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	int status = daemon_stop(&d);
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

static int conn_setup(void **state)
{
	fd = client_connect(d.sock);
	return fd < 0 ? -1 : 0;
}

static int conn_teardown(void **state)
{
	client_close(fd);
	fd = -1;
	return 0;
}

/* Send one line, expect exactly one reply line equal to want. */
static void exchange(const char *req, const char *want)
{
	assert_int_equal(client_send_str(fd, req), 0);
	assert_int_equal(client_send_str(fd, "\n"), 0);
	char *got = client_recv_line(fd, 5000);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* A request that must get no reply: prove it by the next ping answering first. */
static void silent(const char *req)
{
	assert_int_equal(client_send_str(fd, req), 0);
	exchange("\n{\"jsonrpc\":\"2.0\",\"id\":\"probe\",\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":\"probe\",\"result\":\"pong\"}");
}

static void test_ping(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":[]}",
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"params\":{}}",
		 "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"pong\"}");
}

/*
 * Integer ids come back as the same JSON number, and integers in params as
 * jansson reads them, whichever parser (the daemon has a fast one for the
 * common shape) took the line.
 */
static void test_integer_ids_and_params(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":-12,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":-12,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":123456789012345678,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":-1234567890123456789,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":-1234567890123456789,\"result\":\"pong\"}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
		 "\"Parse error\",\"data\":{\"offset\":22}}}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\","
		 "\"params\":[-0,0,7,-8,123456789012345678,1234567890123456789]}",
		 "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":"
		 "[0,0,7,-8,123456789012345678,1234567890123456789]}");
}

/*
 * PROTOCOL.md §1: every number comes back as the shortest text that reads
 * back as the same int64 or double: in an echoed id, in echoed params (the
 * fast path's shape and, inside a batch, the generic one) and in a stored
 * value read back with config.get.
 */
static const struct {
	const char *in, *out;
} fidelity[] = {
	{"0.1", "0.1"},
	{"1.10", "1.1"},
	{"1e300", "1e300"},
	{"1E2", "1e2"},
	{"-0", "0"},
	{"-0.0", "-0.0"},
	{"9007199254740992", "9007199254740992"},
	{"9007199254740993.0", "9007199254740992.0"},
	{"-9223372036854775808", "-9223372036854775808"},
	{"9223372036854775807", "9223372036854775807"},
	{"5e-324", "5e-324"},
	{"1.7976931348623157e308", "1.7976931348623157e308"},
	{"123456789012345680000.0", "1.2345678901234568e20"},
};

static void test_numbers_shortest(void **state)
{
	char req[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(fidelity) / sizeof(fidelity[0]); i++) {
		const char *in = fidelity[i].in, *out = fidelity[i].out;

		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"echo\",\"params\":[%s]}", in, in);
		snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":[%s]}", out,
			 out);
		exchange(req, want);
		snprintf(req, sizeof(req),
			 "[{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"echo\",\"params\":{\"v\":%s}}]",
			 in, in);
		snprintf(want, sizeof(want), "[{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"v\":%s}}]",
			 out, out);
		exchange(req, want);
		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\","
			 "\"params\":{\"key\":\"num/fidelity\",\"value\":[%s]}}", in);
		assert_int_equal(client_send_str(fd, req), 0);
		assert_int_equal(client_send_str(fd, "\n"), 0);
		free(client_recv_line(fd, 5000));
		assert_int_equal(client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
						     "\"config.get\",\"params\":{\"key\":\"num/fidelity\"}}\n"),
				 0);
		char *line = client_recv_line(fd, 5000);
		snprintf(want, sizeof(want), "\"value\":[%s],", out);
		assert_non_null(line);
		if (!strstr(line, want))
			fail_msg("%s: want %s in %s", in, want, line);
		free(line);
	}
}

/* Valid JSON the daemon cannot hold: -32600 for the id, -32602 with a path in params. */
static void test_integers_out_of_range(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"the id is an integer out of int64 "
		 "range\"}}}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"config.set\","
		 "\"params\":{\"key\":\"n\",\"value\":9223372036854775808}}",
		 "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,\"message\":"
		 "\"Invalid params\",\"data\":{\"path\":\"/value\",\"reason\":\"integer out of "
		 "int64 range\"}}}");
	exchange("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"echo\","
		 "\"params\":[1,{\"x/y~\":[0,-9223372036854775809]}]}",
		 "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32602,\"message\":"
		 "\"Invalid params\",\"data\":{\"path\":\"/1/x~1y~0/1\",\"reason\":\"integer out "
		 "of int64 range\"}}}");
	exchange("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\","
		 "\"params\":{\"a\":18446744073709551615}}]",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"/0/params/a is an integer out of "
		 "int64 range\"}}}");
	/* Not valid JSON after all (unterminated): still a parse error. */
	exchange("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[9223372036854775808",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
		 "\"Parse error\",\"data\":{\"offset\":68}}}");
}

static void test_spec_positional_and_named(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[42,23],\"id\":1}",
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[42,23]}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"subtrahend\":23,"
		 "\"minuend\":42},\"id\":3}",
		 "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"subtrahend\":23,\"minuend\":42}}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"x\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":null}");
	/* The daemon reuses the last params object: each request must see only its own. */
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":1},\"id\":4}",
		 "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"a\":1}}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"b\":2},\"id\":5}",
		 "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"b\":2}}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{},\"id\":6}",
		 "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{}}");
}

static void test_spec_notifications(void **state)
{
	silent("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,3,4,5]}");
	silent("{\"jsonrpc\":\"2.0\",\"method\":\"foobar\"}");
}

static void test_spec_method_not_found(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"foobar\",\"id\":\"1\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"error\":{\"code\":-32601,\"message\":"
		 "\"Method not found\",\"data\":{\"method\":\"foobar\"}}}");
}

static void test_spec_parse_error(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"foobar,\"params\":\"bar\",\"baz]",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
		 "\"Parse error\",\"data\":{\"offset\":40}}}");
	/* Invalid UTF-8 is a parse error too. */
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"\xff\"]}");
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32700);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
}

static void test_spec_invalid_request(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"\\\"method\\\" must be a string\"}}}");
	/* params neither object nor array; the id is valid, so it is echoed. */
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"bar\",\"id\":7}",
		 "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"\\\"params\\\" must be an object or an array\"}}}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":8,\"extra\":1}",
		 "{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"unknown member 'extra'\"}}}");
	exchange("{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":9}",
		 "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"\\\"jsonrpc\\\" must be exactly \\\"2.0\\\"\"}}}");
	exchange("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":[1]}",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		 "\"Invalid Request\",\"data\":{\"reason\":\"\\\"id\\\" must be a string, a number or null\"}}}");
	exchange("42", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		       "\"Invalid Request\",\"data\":{\"reason\":\"a request must be a JSON object\"}}}");
}

static void test_spec_batch_invalid_json(void **state)
{
	exchange("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,4],\"id\":\"1\"},"
		 "{\"jsonrpc\":\"2.0\",\"method\"]",
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
		 "\"Parse error\",\"data\":{\"offset\":86}}}");
}

static void test_spec_empty_batch(void **state)
{
	exchange("[]", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		       "\"Invalid Request\",\"data\":{\"reason\":\"empty batch\"}}}");
}

#define INVALID_OBJ                                                                                \
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Invalid "      \
	"Request\",\"data\":{\"reason\":\"a request must be a JSON object\"}}}"

static void test_spec_batch_of_invalid(void **state)
{
	exchange("[1]", "[" INVALID_OBJ "]");
	exchange("[1,2,3]", "[" INVALID_OBJ "," INVALID_OBJ "," INVALID_OBJ "]");
}

static void test_spec_mixed_batch(void **state)
{
	exchange("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,4],\"id\":\"1\"},"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[7]},"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[42,23],\"id\":\"2\"},"
		 "{\"foo\":\"boo\"},"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"foo.get\",\"params\":{\"name\":\"myself\"},\"id\":\"5\"},"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"9\"}]",
		 "[{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":[1,2,4]},"
		 "{\"jsonrpc\":\"2.0\",\"id\":\"2\",\"result\":[42,23]},"
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Invalid "
		 "Request\",\"data\":{\"reason\":\"unknown member 'foo'\"}}},"
		 "{\"jsonrpc\":\"2.0\",\"id\":\"5\",\"error\":{\"code\":-32601,\"message\":\"Method "
		 "not found\",\"data\":{\"method\":\"foo.get\"}}},"
		 "{\"jsonrpc\":\"2.0\",\"id\":\"9\",\"result\":\"pong\"}]");
}

static void test_spec_all_notifications_batch(void **state)
{
	silent("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,4]},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[7]}]");
}

static void test_params_checked(void **state)
{
	exchange("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":1}}",
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"Invalid "
		 "params\",\"data\":{\"path\":\"/x\",\"reason\":\"unknown member 'x'\"}}}");
}

static void test_framing_crlf_blank_nul(void **state)
{
	assert_int_equal(client_send_str(fd, "\r\n  \t\r\n\n"), 0);
	exchange("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\r",
		 "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":\"pong\"}");
	/* \u0000 inside strings is accepted and comes back escaped, never raw. */
	exchange("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\",\"params\":[\"a\\u0000b\\nc\"]}",
		 "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":[\"a\\u0000b\\nc\"]}");
}

static void test_oversize_line(void **state)
{
	/* Default cap is 1 MiB: 2 MiB of one line gets one -32002 and the connection lives on. */
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n + 64);
	int len = sprintf(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"");
	memset(big + len, 'a', n);
	strcpy(big + len + n, "\"]}\n");
	assert_int_equal(client_send(fd, big, strlen(big)), 0);
	free(big);
	char *got = client_recv_line(fd, 10000);
	assert_non_null(got);
	assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32002,"
				 "\"message\":\"Request too large\",\"data\":{\"limit\":1048576}}}");
	free(got);
	assert_true(client_silent(fd, 200)); /* answered once, not once per chunk */
	exchange("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}");
}

static void test_pipelined_in_order(void **state)
{
	/* 1000 requests in one write, mixed methods; replies must come back in order. */
	size_t cap = 1000 * 96, len = 0;
	char *buf = malloc(cap);
	for (int i = 1; i <= 1000; i++)
		len += (size_t)sprintf(buf + len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s}\n",
				       i, i % 3 ? "ping" : "echo", i % 3 ? "" : ",\"params\":[0]");
	assert_int_equal(client_send(fd, buf, len), 0);
	free(buf);
	for (int i = 1; i <= 1000; i++)
		json_decref(client_recv_result(fd, i, 10000));
}

static void test_half_close(void **state)
{
	/* Requests then shutdown(SHUT_WR), the last one without "\n": all answered, then EOF. */
	assert_int_equal(client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
					     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"), 0);
	shutdown(fd, SHUT_WR);
	char *a = client_recv_line(fd, 5000), *b = client_recv_line(fd, 5000);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"pong\"}");
	assert_string_equal(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}");
	free(a);
	free(b);
	assert_null(client_recv_line(fd, 5000)); /* then the daemon closes */
}

static void test_info_and_stats(void **state)
{
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	assert_non_null(r);
	json_t *res = json_object_get(r, "result");
	assert_string_equal(json_string_value(json_object_get(res, "name")), "udsrpcd");
	assert_int_equal(json_integer_value(json_object_get(res, "pid")), d.pid);
	assert_string_equal(json_string_value(json_object_get(res, "socket")), d.sock);
	assert_true(json_integer_value(json_object_get(res, "connections")) >= 1);
	json_decref(r);

	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.stats\"}");
	assert_non_null(r);
	res = json_object_get(r, "result");
	json_t *ping = json_object_get(json_object_get(res, "methods"), "ping");
	assert_non_null(ping);
	assert_true(json_integer_value(json_object_get(ping, "calls")) >= 667); /* 2 in 3 of the 1000 */
	assert_non_null(json_object_get(json_object_get(ping, "latency_us"), "p99"));
	json_t *reqs = json_object_get(res, "requests");
	assert_true(json_integer_value(json_object_get(reqs, "errors")) >= 10);
	assert_true(json_integer_value(json_object_get(json_object_get(res, "bytes"), "in")) > 2000000);
	assert_true(json_integer_value(json_object_get(json_object_get(res, "connections"), "peak")) >= 1);
	json_decref(r);
}

/* Every result above went through the schema check in the harness. */
static void test_results_matched_their_schemas(void **state)
{
	print_message("%lu replies validated against their result schemas\n",
		      harness_results_checked());
	assert_true(harness_results_checked() > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_integer_ids_and_params, conn_setup,
						conn_teardown),
		cmocka_unit_test_setup_teardown(test_numbers_shortest, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_integers_out_of_range, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_positional_and_named, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_notifications, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_method_not_found, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_parse_error, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_invalid_request, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_batch_invalid_json, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_empty_batch, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_batch_of_invalid, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_mixed_batch, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_spec_all_notifications_batch, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_params_checked, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_framing_crlf_blank_nul, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_line, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_in_order, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_half_close, conn_setup, conn_teardown),
		cmocka_unit_test_setup_teardown(test_info_and_stats, conn_setup, conn_teardown),
		cmocka_unit_test(test_results_matched_their_schemas),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

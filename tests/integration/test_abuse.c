/*
 * test_abuse.c — hostile and careless peers: each case drives the daemon past
 * a limit or into an awkward corner, then checks that it still answers a
 * plain ping and that daemon.stats adds up: connections.current back to what
 * the test holds, every counter at least what it was before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PING "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
#define MIB (1024 * 1024)

/* Most cases share one daemon with the default limits; its stats carry over. */
static struct daemon shared;
static json_t *last_stats; /* the previous daemon.stats result of the daemon being checked */

static bool under_wrapper(void)
{
	const char *w = getenv("UDSRPCD_WRAPPER");
	return w && *w;
}

static void start_with_limits(struct daemon *d, const char *limits_json)
{
	char cfg[256];

	daemon_prepare(d);
	snprintf(cfg, sizeof(cfg), "{\"limits\":%s}", limits_json);
	assert_int_equal(daemon_spawn_config(d, cfg, 0644, NULL), 0);
}

static json_int_t stat_at(const json_t *s, const char *group, const char *name)
{
	return json_integer_value(json_object_get(json_object_get(s, group), name));
}

static long error_code(const json_t *r)
{
	return (long)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* Every counter of now is at least what it was in before. */
static void assert_monotonic(const json_t *before, const json_t *now)
{
	static const char *const counters[][2] = {
	    {"connections", "peak"},
	    {"connections", "accepted"},
	    {"connections", "rejected"},
	    {"requests", "total"},
	    {"requests", "errors"},
	    {"requests", "denied"},
	    {"bytes", "in"},
	    {"bytes", "out"},
	};
	const char *name;
	json_t *m;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		json_int_t a = stat_at(before, counters[i][0], counters[i][1]);
		json_int_t b = stat_at(now, counters[i][0], counters[i][1]);
		if (b < a)
			fail_msg("%s.%s went down: %lld -> %lld", counters[i][0], counters[i][1],
			         (long long)a, (long long)b);
	}
	json_object_foreach(json_object_get((json_t *)before, "methods"), name, m)
	{
		json_t *n = json_object_get(json_object_get(now, "methods"), name);
		assert_non_null(n);
		assert_true(json_integer_value(json_object_get(n, "calls")) >=
		            json_integer_value(json_object_get(m, "calls")));
	}
}

/*
 * The daemon answers a ping on a new connection, and its stats settle at
 * `held` connections besides this one, consistent with what came before.
 * Returns the stats (borrowed, valid until the next check).
 */
static const json_t *check_healthy(const char *sock, int held)
{
	int fd = client_connect(sock);
	json_t *r, *s = NULL;

	assert_true(fd >= 0);
	/* Under valgrind the daemon may still be working through what the case
	 * left behind: wait for the answer, up to 2 minutes, not a fixed sleep. */
	assert_int_equal(client_send_str(fd, PING "\n"), 0);
	char *line = client_recv_line(fd, under_wrapper() ? 120000 : 10000);
	assert_non_null(line);
	r = json_loads(line, 0, NULL);
	free(line);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	/* Closes the test made may still be on their way to the daemon. */
	for (long deadline = now_ms() + 30000;;) {
		r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.stats\"}");
		assert_non_null(r);
		json_decref(s);
		s = json_incref(json_object_get(r, "result"));
		json_decref(r);
		assert_non_null(s);
		if (stat_at(s, "connections", "current") == held + 1 || now_ms() > deadline)
			break;
		usleep(50000);
	}
	client_close(fd);
	assert_int_equal(stat_at(s, "connections", "current"), held + 1);
	assert_true(stat_at(s, "connections", "peak") >= held + 1);
	assert_true(stat_at(s, "requests", "errors") <= stat_at(s, "requests", "total"));
	if (last_stats)
		assert_monotonic(last_stats, s);
	json_decref(last_stats);
	last_stats = s;
	return s;
}

static int shared_setup(void **state)
{
	daemon_start(&shared, NULL);
	check_healthy(shared.sock, 0);
	return 0;
}

static int shared_teardown(void **state)
{
	int status = daemon_stop(&shared);
	daemon_cleanup(&shared);
	json_decref(last_stats);
	last_stats = NULL;
	if (status != 0)
		fprintf(stderr, "test_abuse: daemon exit status %d, want 0\n", status);
	return status != 0;
}

/*
 * The end of a test with its own daemon: healthy with the one connection
 * kept through the abuse, and after it closes; then a clean stop.
 */
static void own_daemon_end(struct daemon *d, int kept)
{
	check_healthy(d->sock, 1);
	client_close(kept);
	check_healthy(d->sock, 0);
	assert_int_equal(daemon_stop(d), 0);
	daemon_cleanup(d);
	json_decref(last_stats);
	last_stats = NULL;
}

/* True once the daemon has hung up on fd (EOF or reset); data would be a failure. */
static bool hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 0) <= 0)
		return false;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	if (n > 0)
		fail_msg("a slowloris connection got a reply byte '%c' instead of a hang-up", c);
	return n == 0 || (errno != EAGAIN && errno != EINTR);
}

/* 200 peers each trickle one byte every ~100 ms, so no line ever completes. */
static void test_slowloris(void **state)
{
	enum { N = 200 };
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\""
	                          "slowly, slowly, one byte at a time, never to be finished\"]}";
	struct daemon d = {0};
	int fds[N], off[N], open_n = N, rounds = 0;

	last_stats = NULL;
	start_with_limits(&d, "{\"partial_timeout_ms\":500}");
	check_healthy(d.sock, 0);
	int normal = client_connect(d.sock);
	for (int i = 0; i < N; i++) {
		fds[i] = client_connect(d.sock);
		assert_true(fds[i] >= 0);
		off[i] = 0;
	}
	for (long deadline = now_ms() + 60000; open_n > 0 && now_ms() < deadline; rounds++) {
		for (int i = 0; i < N; i++) {
			if (fds[i] < 0)
				continue;
			if (hung_up(fds[i]) ||
			    send(fds[i], req + off[i]++, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				client_close(fds[i]);
				fds[i] = -1;
				open_n--;
			}
			assert_true(off[i] < (int)sizeof(req) - 2); /* never a whole line */
		}
		/* Everybody else is served meanwhile. */
		json_t *r = client_call(normal, PING);
		assert_non_null(r);
		assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
		json_decref(r);
		usleep(100000);
	}
	print_message("all %d slowloris connections closed by the daemon after %d rounds\n",
	              N - open_n, rounds);
	assert_int_equal(open_n, 0);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "incomplete request for 500 ms"));
	free(log);
	own_daemon_end(&d, normal);
}

/* 5,000 connections in a row, gone as soon as made: some mid-line, some with a reply owed. */
static void test_connect_burst(void **state)
{
	enum { N = 5000 };
	json_int_t before = stat_at(check_healthy(shared.sock, 0), "connections", "accepted");

	for (int i = 0; i < N; i++) {
		int fd = client_connect(shared.sock);
		assert_true(fd >= 0);
		if (i % 3 == 1)
			client_send_str(fd, "{\"jsonrpc\":");
		else if (i % 3 == 2)
			client_send_str(fd, PING "\n");
		client_close(fd);
	}
	const json_t *s = check_healthy(shared.sock, 0);
	/* Each of them, and the two connections of the checks. */
	assert_true(stat_at(s, "connections", "accepted") >= before + N + 1);
}

static void expect_parse_error(int fd, const char *line, size_t len)
{
	assert_int_equal(client_send(fd, line, len), 0);
	assert_int_equal(client_send(fd, "\n", 1), 0);
	char *reply = client_recv_line(fd, 60000);
	assert_non_null(reply);
	json_t *r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	assert_int_equal(error_code(r), -32700);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	free(reply);
}

/* 10,000 levels of nesting: over jansson's depth limit, so a parse error, not a deep recursion. */
static void test_deep_nesting(void **state)
{
	enum { DEPTH = 10000 };
	char *buf = malloc(DEPTH * 6 + 64);
	size_t n = 0;
	int fd = client_connect(shared.sock);

	memset(buf, '[', DEPTH);
	memset(buf + DEPTH, ']', DEPTH);
	expect_parse_error(fd, buf, 2 * DEPTH);
	/* Inside params of a valid envelope, objects this time. */
	n = (size_t)sprintf(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":");
	for (int i = 0; i < DEPTH; i++, n += 5)
		memcpy(buf + n, "{\"a\":", 5);
	buf[n++] = '1';
	memset(buf + n, '}', DEPTH + 1);
	n += DEPTH + 1;
	expect_parse_error(fd, buf, n);
	/* Unclosed: the parser gives up at its limit, not at the end of the line. */
	expect_parse_error(fd, buf, DEPTH);
	free(buf);
	json_t *r = client_call(fd, PING);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	client_close(fd);
	check_healthy(shared.sock, 0);
}

/* Strings near the 1 MiB line limit: invalid UTF-8, raw and escaped NULs. */
static void test_megabyte_strings(void **state)
{
	static const char head[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[\"";
	static const char tail[] = "\"]}";
	const size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
	char *line = malloc(2 * MIB);
	int fd = client_connect(shared.sock);
	size_t body = MIB - hl - tl; /* the line is exactly max_message_bytes long */

	memcpy(line, head, hl);
	memset(line + hl, 'x', body);
	memcpy(line + hl + body, tail, tl);
	/* Invalid UTF-8 deep inside: a parse error whose offset points at it. */
	line[hl + body / 2] = (char)0xff;
	assert_int_equal(client_send(fd, line, MIB), 0);
	assert_int_equal(client_send(fd, "\n", 1), 0);
	char *reply = client_recv_line(fd, 60000);
	json_t *r = json_loads(reply, 0, NULL);
	free(reply);
	assert_int_equal(error_code(r), -32700);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(r, "error"), "data"), "offset")),
	                 (json_int_t)(hl + body / 2));
	json_decref(r);
	/* A truncated multi-byte sequence at the very end of the string. */
	line[hl + body / 2] = 'x';
	line[hl + body - 1] = (char)0xe2;
	expect_parse_error(fd, line, MIB);
	/* A raw NUL byte is no JSON at all. */
	line[hl + body - 1] = '\0';
	expect_parse_error(fd, line, MIB);

	/* Escaped NULs are valid (JSON_ALLOW_NUL) and come back unchanged. */
	for (size_t i = 0; i + 6 <= body; i += 6)
		memcpy(line + hl + i, "\\u0000", 6);
	memset(line + hl + body - body % 6, 'y', body % 6);
	reply = NULL;
	assert_int_equal(client_send(fd, line, MIB), 0);
	assert_int_equal(client_send(fd, "\n", 1), 0);
	reply = client_recv_line(fd, 60000);
	assert_non_null(reply);
	r = json_loads(reply, JSON_ALLOW_NUL, NULL);
	json_t *sent = json_loadb(line, MIB, JSON_ALLOW_NUL, NULL);
	assert_non_null(r);
	assert_non_null(sent);
	assert_true(json_equal(json_object_get(r, "result"), json_object_get(sent, "params")));
	assert_int_equal(json_string_length(json_array_get(json_object_get(r, "result"), 0)),
	                 body / 6 + body % 6);
	json_decref(sent);
	json_decref(r);
	free(reply);

	/* One byte over the limit, with invalid UTF-8 too: -32002, and the connection stays. */
	memset(line + hl, (char)0xc3, body + 1);
	memcpy(line + hl + body + 1, tail, tl);
	assert_int_equal(client_send(fd, line, MIB + 1), 0);
	assert_int_equal(client_send(fd, "\n", 1), 0);
	reply = client_recv_line(fd, 60000);
	r = json_loads(reply, 0, NULL);
	free(reply);
	assert_int_equal(error_code(r), -32002);
	json_decref(r);
	r = client_call(fd, PING);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	free(line);
	client_close(fd);
	check_healthy(shared.sock, 0);
}

/*
 * U+0000 in member names. jansson (2.14) refuses a NUL in an object key even
 * with JSON_ALLOW_NUL ("NUL byte in object key not supported"), so such a
 * request is a parse error, answered like any other; NULs in values pass.
 */
static void test_nul_in_keys(void **state)
{
	static const char *const lines[] = {
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\\u0000b\":1}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"\\u0000\":1}",
	    "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"},{\"\\u0000\":{\"\\u0000\":0}}]",
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"config.get\",\"params\":{\"key\\u0000\":\"k\"}}",
	};
	int fd = client_connect(shared.sock);
	json_t *r;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_parse_error(fd, lines[i], strlen(lines[i]));
	/* In values: carried through unchanged by echo... */
	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\",\"params\":"
	                    "{\"k\":\"a\\u0000b\",\"l\":[\"\\u0000\"]}}");
	assert_non_null(r);
	json_t *k = json_object_get(json_object_get(r, "result"), "k");
	assert_int_equal(json_string_length(k), 3);
	assert_memory_equal(json_string_value(k), "a\0b", 3);
	json_decref(r);
	/* ...and never a valid config key or method name. */
	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"config.set\","
	                    "\"params\":{\"key\":\"a\\u0000b\",\"value\":1}}");
	assert_int_equal(error_code(r), -32602);
	json_decref(r);
	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\\u0000\"}");
	assert_int_equal(error_code(r), -32601);
	json_decref(r);
	client_close(fd);
	check_healthy(shared.sock, 0);
}

/* max_batch + 1 members is one -32600; exactly max_batch echos come back in order. */
static void test_huge_batches(void **state)
{
	enum { MAX = 1024 };
	char *buf = malloc(MAX * 96 + 64);
	size_t n = 0;
	int fd = client_connect(shared.sock);

	buf[n++] = '[';
	for (int i = 0; i <= MAX; i++)
		n += (size_t)sprintf(buf + n,
		                     "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\","
		                     "\"params\":[%d]}",
		                     i ? "," : "", i, i);
	buf[n++] = ']';
	buf[n] = '\0';
	json_t *r = client_call(fd, buf);
	assert_true(json_is_object(r));
	assert_int_equal(error_code(r), -32600);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);

	/* Drop the last member: exactly max_batch. */
	char *last = strrchr(buf, '{');
	last[-1] = ']';
	last[0] = '\0';
	r = client_call(fd, buf);
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), MAX);
	for (int i = 0; i < MAX; i++) {
		json_t *m = json_array_get(r, (size_t)i);
		assert_int_equal(json_integer_value(json_object_get(m, "id")), i);
		assert_int_equal(
		    json_integer_value(json_array_get(json_object_get(m, "result"), 0)), i);
	}
	json_decref(r);
	free(buf);
	client_close(fd);
	check_healthy(shared.sock, 0);
}

/* What a vanished writer got applied is whole: "gone/NNNN" holds NNNN, nothing else. */
static void assert_store_consistent(int most)
{
	int fd = client_connect(shared.sock);
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.list\","
	                            "\"params\":{\"prefix\":\"gone/\"}}");
	json_t *items = json_object_get(json_object_get(r, "result"), "items"), *item;
	size_t i;

	assert_non_null(items);
	print_message("%zu of %d keys written by vanished peers are there\n",
	              json_array_size(items), most);
	assert_true(json_array_size(items) <= (size_t)most);
	json_array_foreach(items, i, item)
	{
		const char *key = json_string_value(json_object_get(item, "key"));
		assert_int_equal(strlen(key), 9);
		assert_int_equal(json_integer_value(json_object_get(item, "value")),
		                 strtol(key + 5, NULL, 10));
	}
	json_decref(r);
	client_close(fd);
}

/* 300 pipelined durable writes, then the writer hangs up without reading a reply. */
static void test_disconnect_with_replies_pending(void **state)
{
	enum { N = 300 };
	char *buf = malloc(N * 128);
	size_t n = 0;

	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(buf + n,
		                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\","
		                     "\"params\":{\"key\":\"gone/%04d\",\"value\":%d}}\n",
		                     i, i, i);
	for (int round = 0; round < 5; round++) {
		int fd = client_connect(shared.sock);
		assert_int_equal(client_send(fd, buf, n), 0);
		if (round % 2)
			usleep(20000); /* some of the writes are done, some queued */
		client_close(fd);
	}
	free(buf);
	check_healthy(shared.sock, 0);
	assert_store_consistent(N);
	/* Whatever was applied is really there: a read-back of a later write sees it. */
	int fd = client_connect(shared.sock);
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\","
	                            "\"params\":{\"key\":\"gone/after\",\"value\":true}}");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.get\","
	                    "\"params\":{\"key\":\"gone/after\"}}");
	assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "value")));
	json_decref(r);
	client_close(fd);
}

/* A subscriber that leaves while its events are being produced. */
static void test_subscriber_vanishes(void **state)
{
	enum { N = 200 };
	int writer = client_connect(shared.sock);
	char line[160];

	for (int round = 0; round < 3; round++) {
		int sub = client_connect(shared.sock);
		json_t *r = client_call(sub, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		                             "\"events.subscribe\",\"params\":{\"topics\":"
		                             "[\"config\",\"peer\",\"daemon\"]}}");
		assert_non_null(json_object_get(r, "result"));
		json_decref(r);
		for (int i = 0; i < N; i++) {
			snprintf(line, sizeof(line),
			         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\","
			         "\"params\":{\"key\":\"ev/%d\",\"value\":%d}}\n",
			         i, i % 7, i);
			assert_int_equal(client_send_str(writer, line), 0);
			if (i == N / 2)
				client_close(sub); /* mid-stream, events unread */
		}
		/* The writer gets every reply, in order. */
		for (int i = 0; i < N; i++)
			json_decref(client_recv_result(writer, i, 60000));
	}
	client_close(writer);
	check_healthy(shared.sock, 0);
}

/* The daemon at its descriptor limit: connections it holds keep being served. */
static void test_held_at_fd_limit(void **state)
{
	enum { N = 100 };
	struct daemon d = {.nofile = 64};
	int fds[N];

	if (under_wrapper()) {
		print_message("skipped under UDSRPCD_WRAPPER: valgrind reserves descriptors of its "
		              "own, so the daemon's limit is not 64\n");
		skip();
	}
	last_stats = NULL;
	daemon_start(&d, NULL);
	check_healthy(d.sock, 0);
	int caller = client_connect(d.sock);
	json_t *r = client_call(caller, PING);
	json_decref(r);
	/* More than fit: the rest wait in the listen backlog. */
	for (int i = 0; i < N; i++) {
		fds[i] = client_connect(d.sock);
		assert_true(fds[i] >= 0);
	}
	for (int round = 0; round < 20; round++) {
		r = client_call(caller,
		                "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"daemon.stats\"}");
		assert_non_null(r);
		json_t *s = json_object_get(r, "result");
		/* Never more connections than descriptors, whatever waits outside. */
		assert_true(stat_at(s, "connections", "current") < 64);
		json_decref(r);
		r = client_call(caller, PING);
		assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
		json_decref(r);
		usleep(20000);
	}
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "pausing new connections"));
	free(log);
	/* The last in the backlog is served once others leave (the ones closed
	 * while still waiting are accepted too, if only to find them gone). */
	for (int i = 0; i < N - 10; i++)
		client_close(fds[i]);
	r = client_call(fds[N - 1], PING);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	for (int i = N - 10; i < N; i++)
		client_close(fds[i]);
	own_daemon_end(&d, caller);
}

int main(void)
{
	/* Own daemons (own limits): run before the shared one exists. */
	const struct CMUnitTest own[] = {
	    cmocka_unit_test(test_slowloris),
	    cmocka_unit_test(test_held_at_fd_limit),
	};
	const struct CMUnitTest on_shared[] = {
	    cmocka_unit_test(test_connect_burst),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_megabyte_strings),
	    cmocka_unit_test(test_nul_in_keys),
	    cmocka_unit_test(test_huge_batches),
	    cmocka_unit_test(test_disconnect_with_replies_pending),
	    cmocka_unit_test(test_subscriber_vanishes),
	};
	int failed = cmocka_run_group_tests_name("own daemons", own, NULL, NULL);
	failed +=
	    cmocka_run_group_tests_name("shared daemon", on_shared, shared_setup, shared_teardown);
	return failed ? 1 : 0;
}

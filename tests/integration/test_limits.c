/*
 * test_limits.c — every limit of udsrpc(7) driven past its value on a
 * real daemon: connections, message size, batch, output, timeouts, fds.
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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PING "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"

static void start_with_limits(struct daemon *d, const char *limits_json)
{
	char cfg[256];

	daemon_prepare(d);
	snprintf(cfg, sizeof(cfg), "{\"limits\":%s}", limits_json);
	assert_int_equal(daemon_spawn_config(d, cfg, 0644, NULL), 0);
}

static void assert_pong(int fd)
{
	json_t *r = client_call(fd, PING);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
}

/*
 * Some cases cannot run with the daemon under $UDSRPCD_WRAPPER (valgrind):
 * say why and skip them (cmocka's skip() does not return).
 */
static void skip_under_wrapper(const char *why)
{
	const char *w = getenv("UDSRPCD_WRAPPER");
	if (w && *w) {
		print_message("skipped under UDSRPCD_WRAPPER: %s\n", why);
		skip();
	}
}

static json_t *stats(const char *sock)
{
	int fd = client_connect(sock);
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.stats\"}");
	client_close(fd);
	assert_non_null(r);
	json_t *res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

static void test_max_connections(void **state)
{
	struct daemon d = {0};
	int fds[3];

	start_with_limits(&d, "{\"max_connections\":3}");
	for (int i = 0; i < 3; i++) {
		fds[i] = client_connect(d.sock);
		assert_pong(fds[i]);
	}
	int extra = client_connect(d.sock);
	char *line = client_recv_line(extra, 5000);
	assert_non_null(line);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32003,"
				  "\"message\":\"Server busy\",\"data\":{\"limit\":3}}}");
	free(line);
	assert_null(client_recv_line(extra, 5000)); /* then closed */
	client_close(extra);
	client_close(fds[0]);
	usleep(100000);
	/* A place is free again. */
	fds[0] = client_connect(d.sock);
	assert_pong(fds[0]);
	for (int i = 0; i < 3; i++)
		client_close(fds[i]);
	json_t *s = stats(d.sock);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "connections"), "rejected")), 1);
	json_decref(s);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_max_message_bytes(void **state)
{
	struct daemon d = {0};

	start_with_limits(&d, "{\"max_message_bytes\":100}");
	int fd = client_connect(d.sock);
	char line[256];
	/* 100 bytes exactly: accepted. */
	int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"");
	int pad = 100 - n - 3;
	memset(line + n, 'x', (size_t)pad);
	strcpy(line + n + pad, "\"]}");
	assert_int_equal(strlen(line), 100);
	json_t *r = client_call(fd, line);
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	/* 101: refused with the limit named, connection kept. */
	memmove(line + n + 1, line + n, strlen(line + n) + 1);
	r = client_call(fd, line);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32002);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"), "limit")), 100);
	json_decref(r);
	assert_pong(fd);
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_max_batch(void **state)
{
	struct daemon d = {0};

	start_with_limits(&d, "{\"max_batch\":4}");
	int fd = client_connect(d.sock);
	json_t *r = client_call(fd, "[" PING "," PING "," PING "," PING "]");
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 4);
	json_decref(r);
	r = client_call(fd, "[" PING "," PING "," PING "," PING "," PING "]");
	assert_true(json_is_object(r)); /* one error object, not an array */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32600);
	assert_true(json_is_null(json_object_get(r, "id")));
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"), "reason")), "max_batch 4"));
	json_decref(r);
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_partial_timeout(void **state)
{
	struct daemon d = {0};

	start_with_limits(&d, "{\"partial_timeout_ms\":300}");
	int fd = client_connect(d.sock);
	int idle = client_connect(d.sock);
	assert_pong(idle);
	/* A started line trickled byte by byte must not extend its deadline. */
	const char *part = "{\"jsonrpc\":";
	for (int i = 0; part[i]; i++) {
		if (client_send(fd, part + i, 1) < 0)
			break;
		usleep(50000);
	}
	assert_null(client_recv_line(fd, 3000)); /* closed without a reply */
	client_close(fd);
	/* A connection with no partial line is not affected. */
	assert_pong(idle);
	client_close(idle);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * The timeout is for one line, not the stream: a client that pipelines for
 * longer than it, each send ending inside a line, keeps its connection as
 * long as each line completes in time.
 */
static void test_partial_timeout_pipelined(void **state)
{
	struct daemon d = {0};
	char limits[64];
	const int lines = 40;
	const int step_ms = 60; /* lines * step_ms: 2.4 s, past the timeout twice over */

	(void)state;
	snprintf(limits, sizeof(limits), "{\"partial_timeout_ms\":%d}", harness_ms(1000));
	start_with_limits(&d, limits);
	int fd = client_connect(d.sock);
	char all[64 * 41];
	size_t len = 0, off = 0;
	for (int i = 1; i <= lines; i++)
		len += (size_t)sprintf(all + len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i);
	/* Send a line and a half at a time, so the daemon's buffer never empties. */
	size_t chunk = len / lines * 3 / 2;
	for (int i = 1; i <= lines; i++) {
		size_t want = (size_t)i * len / lines + (i < lines ? chunk / 3 : 0);
		if (want > len)
			want = len;
		if (want > off) {
			assert_int_equal(client_send(fd, all + off, want - off), 0);
			off = want;
		}
		usleep((useconds_t)harness_ms(step_ms) * 1000);
	}
	for (int i = 1; i <= lines; i++) {
		char *line = client_recv_line(fd, harness_ms(5000));
		char want[64];
		assert_non_null(line); /* NULL: closed as an incomplete request */
		snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":\"pong\"}", i);
		assert_string_equal(line, want);
		free(line);
	}
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_idle_timeout(void **state)
{
	struct daemon d = {0};

	char limits[64];

	/* Under valgrind on a loaded machine one ping can take longer than 300 ms. */
	snprintf(limits, sizeof(limits), "{\"idle_timeout_ms\":%d}", harness_ms(300));
	start_with_limits(&d, limits);
	int fd = client_connect(d.sock);
	assert_pong(fd);
	usleep(100000);
	assert_pong(fd); /* activity restarts the clock */
	assert_null(client_recv_line(fd, harness_ms(3000)));
	char c;
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0); /* closed, not just quiet */
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* A client sends 100k requests and reads nothing: the daemon stops reading it
 * at max_output_bytes, its RSS stays bounded; then every reply arrives in order. */
static void test_never_reading_client(void **state)
{
	struct daemon d = {0};
	const int total = 100000;

	skip_under_wrapper("100k requests take minutes under valgrind, and its RSS is not the "
			   "daemon's");
	start_with_limits(&d, "{\"max_output_bytes\":262144}");
	long rss0 = proc_rss_kib(d.pid);
	int fd = client_connect(d.sock);
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	char *req = malloc(64 * (size_t)total);
	size_t len = 0, off;
	for (int i = 1; i <= total; i++)
		len += (size_t)sprintf(req + len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i);
	/* Write until the kernel buffers are full both ways (the daemon paused). */
	off = client_send_until_full(fd, req, len);
	/* The daemon pushed back: it stopped reading long before taking all 4.3 MB. */
	print_message("client got %zu of %zu bytes out before the daemon stopped reading\n", off, len);
	assert_true(off < len / 2);
	long rss1 = proc_rss_kib(d.pid);
	print_message("daemon RSS grew by %ld KiB\n", rss1 - rss0);
	/* The cap is 256 KiB; allow the read chunk and allocator slack, but not 100k
	 * replies (~4 MiB). Sanitizer builds keep freed memory in quarantine, so
	 * there RSS says nothing about what is held. */
	if (!getenv("UDSRPC_SANITIZED"))
		assert_true(rss1 - rss0 < 3 * 1024);
	int other = client_connect(d.sock);
	assert_pong(other); /* others are still served */
	client_close(other);

	/* Now read everything while sending the rest. */
	fcntl(fd, F_SETFL, flags);
	int next = 1;
	while (next <= total) {
		if (off < len) {
			ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				off += (size_t)n;
		}
		/* A liveness bound, not a speed one: at load 14 an ASan daemon once took over 10 s. */
		char *line = client_recv_line(fd, harness_ms(30000));
		assert_non_null(line);
		char want[64];
		snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":\"pong\"}", next);
		assert_string_equal(line, want);
		free(line);
		next++;
	}
	free(req);
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* Out of descriptors: existing peers are answered, the daemon idles, and it recovers. */
static void test_fd_exhaustion(void **state)
{
	struct daemon d = {.nofile = 40};
	int fds[64], n = 0;

	skip_under_wrapper("valgrind reserves descriptors of its own below the limit, and its "
			   "CPU time is not the daemon's");
	daemon_start(&d, NULL);
	int first = client_connect(d.sock);
	assert_pong(first);
	/* Connect until the daemon cannot accept: beyond that, connects sit in the backlog. */
	for (n = 0; n < 60; n++) {
		fds[n] = client_connect(d.sock);
		assert_true(fds[n] >= 0);
		usleep(5000);
	}
	usleep(300000);
	long t0 = proc_cpu_ticks(d.pid);
	sleep(1);
	long t1 = proc_cpu_ticks(d.pid);
	assert_true(t1 - t0 < 30); /* backing off, not spinning on accept (100 ticks = a core) */
	assert_pong(first);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "pausing new connections"));
	free(log);
	/* Free descriptors: the waiting connections get served. */
	/* About 28 connections fit under 40 fds; leave 16 so the last one in the backlog fits. */
	for (int i = 0; i < 45; i++)
		client_close(fds[i]);
	assert_pong(fds[59]);
	for (int i = 45; i < n; i++)
		client_close(fds[i]);
	client_close(first);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_max_message_bytes),
		cmocka_unit_test(test_max_batch),
		cmocka_unit_test(test_partial_timeout),
		cmocka_unit_test(test_partial_timeout_pipelined),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_never_reading_client),
		cmocka_unit_test(test_fd_exhaustion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

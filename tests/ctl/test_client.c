/* test_client.c — ctl/client.c and udsrpcctl's session over a socketpair, with no daemon. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "clock.h"
#include "ctl.h"
#include "session.h"

static int fds[2]; /* [0]: the client's end, [1]: the test plays the daemon */

static int setup(void **state)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	return 0;
}

static int teardown(void **state)
{
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return 0;
}

static void put(const char *s)
{
	assert_int_equal(write(fds[1], s, strlen(s)), (ssize_t)strlen(s));
}

static void test_lines_split_and_joined(void **state)
{
	struct client_lines l;
	char *line;
	size_t len;

	client_lines_init(&l);
	/* Two lines in one write, then one line in two writes. */
	put("{\"a\":1}\n{\"b\":2}\n{\"c\"");
	assert_int_equal(client_read_line(fds[0], &l, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	assert_int_equal(client_read_line(fds[0], &l, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	/* The third is incomplete: nothing yet. */
	assert_int_equal(client_read_line(fds[0], &l, 50, &line, &len), -ETIMEDOUT);
	put(":3}\r\n");
	assert_int_equal(client_read_line(fds[0], &l, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"c\":3}\r"); /* "\r" is the caller's to judge */
	client_lines_free(&l);
}

static void test_lines_long_and_eof(void **state)
{
	size_t big = 200000;
	char *s = malloc(big + 2);
	struct client_lines l;
	char *line;
	size_t len;

	assert_non_null(s);
	memset(s, 'x', big);
	s[big] = '\n';
	s[big + 1] = '\0';
	client_lines_init(&l);
	/* Longer than a socket buffer: written by a child while we read. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		put(s);
		put("tail without newline");
		_exit(0);
	}
	close(fds[1]);
	fds[1] = -1;
	assert_int_equal(client_read_line(fds[0], &l, 5000, &line, &len), 1);
	assert_int_equal(len, big);
	assert_int_equal(strspn(line, "x"), big);
	/* At EOF the unterminated rest is a last line, then EOF for good. */
	assert_int_equal(client_read_line(fds[0], &l, 5000, &line, &len), 1);
	assert_string_equal(line, "tail without newline");
	assert_int_equal(client_read_line(fds[0], &l, 5000, &line, &len), 0);
	assert_int_equal(client_read_line(fds[0], &l, 5000, &line, &len), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	client_lines_free(&l);
	free(s);
}

static void test_lines_timeout_is_bounded(void **state)
{
	struct client_lines l;
	char *line;
	size_t len;
	long long t0 = (long long)clock_now_ms();

	client_lines_init(&l);
	assert_int_equal(client_read_line(fds[0], &l, 120, &line, &len), -ETIMEDOUT);
	long long took = (long long)clock_now_ms() - t0;
	assert_true(took >= 110 && took < 2000);
	client_lines_free(&l);
}

static volatile sig_atomic_t got_signal;

static void on_alarm(int sig)
{
	got_signal = 1;
}

static void test_lines_sigmask_interrupts(void **state)
{
	struct sigaction sa = {.sa_handler = on_alarm}, old;
	sigset_t block, prev, wait_mask;
	struct client_lines l;
	char *line;
	size_t len;

	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &prev);
	wait_mask = prev;
	sigdelset(&wait_mask, SIGALRM);
	sigaction(SIGALRM, &sa, &old);
	/* Pending before the wait starts: still seen, because ppoll unblocks it. */
	raise(SIGALRM);
	client_lines_init(&l);
	l.sigmask = &wait_mask;
	assert_int_equal(client_read_line(fds[0], &l, 5000, &line, &len), -EINTR);
	assert_int_equal(got_signal, 1);
	client_lines_free(&l);
	sigaction(SIGALRM, &old, NULL);
	sigprocmask(SIG_SETMASK, &prev, NULL);
}

static void test_send_times_out_when_not_read(void **state)
{
	static char chunk[65536];
	int r = 0;

	/* Nobody reads fds[1]: the socket buffer fills and send must give up. */
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 1000 && r == 0; i++)
		r = client_send(fds[0], chunk, sizeof(chunk), 100);
	assert_int_equal(r, -ETIMEDOUT);
}

static void test_send_to_closed_peer(void **state)
{
	close(fds[1]);
	fds[1] = -1;
	/* EPIPE, not SIGPIPE: the test would die otherwise. */
	assert_int_equal(client_send(fds[0], "x\n", 2, 1000), -EPIPE);
}

/* ---- session: replies matched by id, pushes set aside, verdicts as exit statuses ---- */

static int notified;

static void on_notify(void *arg, json_t *msg)
{
	assert_string_equal(json_string_value(json_object_get(msg, "method")), "event");
	notified++;
}

/* A session over fds[0] as if session_open had connected it. */
static void session_on_pair(struct session *s, int timeout_ms)
{
	memset(s, 0, sizeof(*s));
	client_lines_init(&s->lines);
	s->fd = fds[0];
	s->path = "/test.sock";
	s->timeout_ms = timeout_ms;
	s->deadline = (long long)clock_now_ms() + timeout_ms;
	s->next_id = 1;
}

static void session_done(struct session *s)
{
	client_lines_free(&s->lines);
}

/* The request the session sent, parsed. */
static json_t *sent(void)
{
	char buf[4096];
	ssize_t n = read(fds[1], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(buf[n - 1], '\n');
	return json_loads(buf, 0, NULL);
}

static void test_session_call_result(void **state)
{
	struct session s;
	json_t *result;

	session_on_pair(&s, 2000);
	s.on_notify = on_notify;
	notified = 0;
	/* The reply, after a push and a blank line, already waiting. */
	put("{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"topic\":\"config\"}}\n"
	    " \r\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"key\":\"k\",\"revision\":3}}\n");
	assert_int_equal(session_call(&s, "config.get", json_pack("{s:s}", "key", "k"), &result),
			 0);
	assert_int_equal(json_integer_value(json_object_get(result, "revision")), 3);
	assert_int_equal(notified, 1);
	json_decref(result);

	json_t *req = sent();
	assert_string_equal(json_string_value(json_object_get(req, "jsonrpc")), "2.0");
	assert_string_equal(json_string_value(json_object_get(req, "method")), "config.get");
	assert_int_equal(json_integer_value(json_object_get(req, "id")), 1);
	json_t *params = json_object_get(req, "params");
	assert_string_equal(json_string_value(json_object_get(params, "key")), "k");
	json_decref(req);

	/* The next call has the next id, and no params member when given none. */
	put("{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"pong\"}\n");
	assert_int_equal(session_call(&s, "ping", NULL, &result), 0);
	assert_string_equal(json_string_value(result), "pong");
	json_decref(result);
	req = sent();
	assert_int_equal(json_integer_value(json_object_get(req, "id")), 2);
	assert_null(json_object_get(req, "params"));
	json_decref(req);
	session_done(&s);
}

static int call_with_reply(const char *reply, int timeout_ms)
{
	struct session s;
	json_t *result = NULL;
	int r;

	session_on_pair(&s, timeout_ms);
	if (reply)
		put(reply);
	r = session_call(&s, "m", NULL, &result);
	assert_null(r ? result : NULL);
	json_decref(result);
	session_done(&s);
	return r;
}

static void test_session_verdicts(void **state)
{
	/* The tool's stderr lines are not under test here; the statuses are. */
	int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);

	int not_found = call_with_reply("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32010,"
					"\"message\":\"Not found\"}}\n",
					1000);
	int denied = call_with_reply("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,"
				     "\"message\":\"Permission denied\"}}\n",
				     1000);
	int busy = call_with_reply("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32003,"
				   "\"message\":\"Server busy\",\"data\":{\"limit\":1}}}\n",
				   1000);
	int wrong_id = call_with_reply("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":1}\n", 1000);
	int garbage = call_with_reply("not json\n", 1000);
	int silent = call_with_reply(NULL, 100);

	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);
	assert_int_equal(not_found, CTL_EXIT_ERROR);
	assert_int_equal(denied, CTL_EXIT_DENIED);
	assert_int_equal(busy, CTL_EXIT_ERROR);
	assert_int_equal(wrong_id, CTL_EXIT_IO);
	assert_int_equal(garbage, CTL_EXIT_IO);
	assert_int_equal(silent, CTL_EXIT_IO);
}

static void test_session_eof(void **state)
{
	int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
	struct session s;
	json_t *result;
	int r;

	session_on_pair(&s, 1000);
	/* The daemon takes the request and closes without a word. */
	shutdown(fds[1], SHUT_WR);
	dup2(devnull, STDERR_FILENO);
	r = session_call(&s, "m", NULL, &result);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);
	assert_int_equal(r, CTL_EXIT_IO);
	assert_null(result);
	session_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_split_and_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_long_and_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_timeout_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_sigmask_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_times_out_when_not_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_to_closed_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_call_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_eof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

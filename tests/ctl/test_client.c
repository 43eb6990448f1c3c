/*
 * test_client.c — libudsrpc's client API and udsrpcctl's session on it,
 * against a socket the test listens on and answers itself (no daemon).
 */
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

#include <sys/stat.h>
#include <sys/un.h>

#include <udsrpc/client.h>

#include "clock.h"
#include "ctl.h"
#include "session.h"

static char dir[64], path[96];
static int listen_fd = -1;
static struct udsrpc_client *cl;
static int fds[2]; /* [0]: the client's end, [1]: the test plays the daemon */

static int listen_on(const char *at)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int setup(void **state)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/udsrpc-client-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	listen_fd = listen_on(path);
	assert_int_equal(udsrpc_client_connect(&cl, path, 1000, err, sizeof(err)), 0);
	fds[0] = udsrpc_client_fd(cl);
	fds[1] = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fds[1] >= 0);
	return 0;
}

static int teardown(void **state)
{
	udsrpc_client_free(cl);
	cl = NULL;
	if (fds[1] >= 0)
		close(fds[1]);
	close(listen_fd);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void put(const char *s)
{
	assert_int_equal(write(fds[1], s, strlen(s)), (ssize_t)strlen(s));
}

static void test_lines_split_and_joined(void **state)
{
	const char *line;
	size_t len;

	/* Two lines in one write, then one line in two writes. */
	put("{\"a\":1}\n{\"b\":2}\n{\"c\"");
	assert_int_equal(udsrpc_client_read_line(cl, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	assert_int_equal(udsrpc_client_read_line(cl, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	/* The third is incomplete: nothing yet. */
	assert_int_equal(udsrpc_client_read_line(cl, 50, &line, &len), -ETIMEDOUT);
	put(":3}\r\n");
	assert_int_equal(udsrpc_client_read_line(cl, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"c\":3}\r"); /* "\r" is the caller's to judge */
}

static void test_lines_long_and_eof(void **state)
{
	size_t big = 200000;
	char *s = malloc(big + 2);
	const char *line;
	size_t len;

	assert_non_null(s);
	memset(s, 'x', big);
	s[big] = '\n';
	s[big + 1] = '\0';
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
	assert_int_equal(udsrpc_client_read_line(cl, 5000, &line, &len), 1);
	assert_int_equal(len, big);
	assert_int_equal(strspn(line, "x"), big);
	/* At EOF the unterminated rest is a last line, then EOF for good. */
	assert_int_equal(udsrpc_client_read_line(cl, 5000, &line, &len), 1);
	assert_string_equal(line, "tail without newline");
	assert_int_equal(udsrpc_client_read_line(cl, 5000, &line, &len), 0);
	assert_int_equal(udsrpc_client_read_line(cl, 5000, &line, &len), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	free(s);
}

static void test_lines_timeout_is_bounded(void **state)
{
	const char *line;
	size_t len;
	long long t0 = (long long)clock_now_ms();

	assert_int_equal(udsrpc_client_read_line(cl, 120, &line, &len), -ETIMEDOUT);
	long long took = (long long)clock_now_ms() - t0;
	assert_true(took >= 110 && took < 2000);
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
	const char *line;
	size_t len;

	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &prev);
	wait_mask = prev;
	sigdelset(&wait_mask, SIGALRM);
	sigaction(SIGALRM, &sa, &old);
	/* Pending before the wait starts: still seen, because ppoll unblocks it. */
	raise(SIGALRM);
	udsrpc_client_set_sigmask(cl, &wait_mask);
	assert_int_equal(udsrpc_client_read_line(cl, 5000, &line, &len), -EINTR);
	assert_int_equal(got_signal, 1);
	udsrpc_client_set_sigmask(cl, NULL);
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
		r = udsrpc_client_send_raw(cl, chunk, sizeof(chunk), 100);
	assert_int_equal(r, -ETIMEDOUT);
}

static void test_send_to_closed_peer(void **state)
{
	close(fds[1]);
	fds[1] = -1;
	/* EPIPE, not SIGPIPE: the test would die otherwise. */
	assert_int_equal(udsrpc_client_send_raw(cl, "x\n", 2, 1000), -EPIPE);
}

/* ---- calls: the reply by its id, events and other replies kept for later ---- */

static void test_client_call_keeps_the_rest(void **state)
{
	json_t *result, *msg;
	int64_t id;

	/* A pipelined request whose reply comes after an event and before ours. */
	assert_int_equal(udsrpc_client_send(cl, "a", NULL, 1000, &id), 0);
	assert_int_equal(id, 1);
	put("{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"topic\":\"x\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"first\"}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"n\":2}}\n");
	assert_int_equal(udsrpc_client_call(cl, "b", NULL, 1000, &result), 0);
	assert_int_equal(json_integer_value(json_object_get(result, "n")), 2);
	json_decref(result);
	assert_true(udsrpc_client_pending(cl));
	assert_int_equal(udsrpc_client_receive(cl, 0, &msg), 1);
	assert_string_equal(json_string_value(json_object_get(msg, "method")), "event");
	json_decref(msg);
	assert_int_equal(udsrpc_client_receive(cl, 0, &msg), 1);
	assert_string_equal(json_string_value(json_object_get(msg, "result")), "first");
	json_decref(msg);
	assert_false(udsrpc_client_pending(cl));
	/* The requests as sent: ids 1 and 2, one line each. */
	char buf[512];
	ssize_t n = read(fds[1], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1}\n"
	                         "{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"id\":2}\n");
}

static void test_client_call_error_and_junk(void **state)
{
	json_t *result;

	put("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32010,\"message\":\"Not found\"}}\n");
	assert_int_equal(udsrpc_client_call(cl, "m", NULL, 1000, &result), UDSRPC_CLIENT_ERROR);
	assert_int_equal(json_integer_value(json_object_get(result, "code")), -32010);
	json_decref(result);
	/* The server's verdict on a line it could not take (id null) answers the call. */
	put("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32002,\"message\":\"Request too large\"}}\n");
	assert_int_equal(udsrpc_client_call(cl, "m", NULL, 1000, &result), UDSRPC_CLIENT_ERROR);
	assert_int_equal(json_integer_value(json_object_get(result, "code")), -32002);
	json_decref(result);
	put("[1]\n");
	assert_int_equal(udsrpc_client_call(cl, "m", NULL, 1000, &result), -EPROTO);
	assert_null(result);
	assert_int_equal(udsrpc_client_call(cl, "m", NULL, 100, &result), -ETIMEDOUT);
	close(fds[1]);
	fds[1] = -1;
	int r = udsrpc_client_call(cl, "m", NULL, 1000, &result);
	assert_true(r == -EPIPE || r == -ECONNRESET);
}

/*
 * On the default path, a daemon run by another user is refused: anyone could
 * bind /tmp/udsrpcd-UID.sock first. With -s (a path given), it is trusted.
 */
static void test_default_path_refuses_another_uid(void **state)
{
	char err[256], other[100], sub[80];
	struct udsrpc_client *c = NULL;
	int ready[2], status;

	if (geteuid() != 0) {
		print_message("not root: cannot listen as another uid\n");
		skip();
	}
	/* A directory of the other user's, where it may bind. */
	snprintf(sub, sizeof(sub), "%s/other", dir);
	snprintf(other, sizeof(other), "%s/other.sock", sub);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", other);
		/* Not cmocka's asserts in the child: say "n" and the parent fails. */
		char ok = setgid(65534) == 0 && setuid(65534) == 0 &&
		                  bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 8) == 0
		              ? 'x'
		              : 'n';
		if (write(ready[1], &ok, 1) != 1 || ok != 'x')
			_exit(1);
		int a = accept(fd, NULL, NULL), b = accept(fd, NULL, NULL);
		(void)a;
		(void)b;
		pause();
		_exit(0);
	}
	char x = 0;
	assert_int_equal(read(ready[0], &x, 1), 1);
	assert_int_equal(x, 'x');
	setenv("UDSRPC_SOCKET", other, 1);
	assert_int_equal(udsrpc_client_connect(&c, NULL, 1000, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "is served by uid 65534"));
	assert_non_null(strstr(err, other));
	assert_int_equal(udsrpc_client_connect(&c, other, 1000, err, sizeof(err)), 0);
	udsrpc_client_free(c);
	unsetenv("UDSRPC_SOCKET");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(other);
	rmdir(sub);
	close(ready[0]);
	close(ready[1]);
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
	s->client = cl;
	s->fd = fds[0];
	s->path = "/test.sock";
	s->timeout_ms = timeout_ms;
	s->deadline = (long long)clock_now_ms() + timeout_ms;
	s->next_id = 1;
}

static void session_done(struct session *s)
{
	/* The client is the fixture's: teardown frees it. */
	s->client = NULL;
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
		cmocka_unit_test_setup_teardown(test_client_call_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_call_error_and_junk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_path_refuses_another_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_call_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_eof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_lifecycle.c — start-up safety, socket activation, readiness,
 * graceful stop, options and config files (udsrpc(7), udsrpcd(8)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PING "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
#define PONG "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"pong\"}"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Run udsrpcd with args to completion; returns exit code, stdout+stderr in out. */
static int run_udsrpcd(const char *const *args, char *out, size_t outlen)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[32] = {getenv("UDSRPCD")};
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t len = 0;
	ssize_t n;
	while (len < outlen - 1 && (n = read(pfd[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_sigterm_exits_zero_and_removes_socket(void **state)
{
	struct daemon d = {0};
	struct stat st;

	daemon_start(&d, NULL);
	assert_int_equal(stat(d.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	assert_int_equal(daemon_stop(&d), 0); /* exited, status 0 */
	assert_int_equal(stat(d.sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	daemon_cleanup(&d);
}

static void test_second_daemon_refused_naming_pid(void **state)
{
	struct daemon a = {0};
	char want[64], other[160], out[4096];

	daemon_start(&a, NULL);
	/* Same socket, its own state dir: refused with exit 1, naming the live pid. */
	snprintf(other, sizeof(other), "%s/other-state", a.dir);
	assert_int_equal(run_udsrpcd((const char *[]){"-s", a.sock, "-S", other, NULL}, out,
				     sizeof(out)), 1);
	snprintf(want, sizeof(want), "in use by a running daemon (pid %d)", a.pid);
	assert_non_null(strstr(out, want));
	assert_int_equal(access(other, F_OK), -1); /* touched nothing */
	/* The first one is untouched and still serves. */
	int fd = client_connect(a.sock);
	assert_true(fd >= 0);
	json_t *r = client_call(fd, PING);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	client_close(fd);
	assert_int_equal(daemon_stop(&a), 0);
	daemon_cleanup(&a);
}

static void test_stale_socket_replaced(void **state)
{
	struct daemon d = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	daemon_prepare(&d);
	/* A socket file nobody listens on: bound, then its owner closed. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, d.sock);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	int fd = client_connect(d.sock);
	json_t *r = client_call(fd, PING);
	assert_non_null(r);
	json_decref(r);
	client_close(fd);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "removed stale socket"));
	free(log);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_not_a_socket_refused(void **state)
{
	struct daemon d = {0};
	int status = 0;

	daemon_prepare(&d);
	write_file(d.sock, "precious\n");
	assert_int_equal(daemon_spawn(&d, NULL, &status), -1);
	assert_int_equal(WEXITSTATUS(status), 1);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "exists and is not a socket"));
	free(log);
	struct stat st;
	assert_int_equal(stat(d.sock, &st), 0); /* left alone */
	assert_true(S_ISREG(st.st_mode));
	daemon_cleanup(&d);
}

static void test_socket_not_ours_is_not_removed(void **state)
{
	struct daemon d = {0};
	struct stat st;

	daemon_start(&d, NULL);
	/* Someone replaced the path while we ran: at exit it is not ours to remove. */
	assert_int_equal(unlink(d.sock), 0);
	write_file(d.sock, "someone else's\n");
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(stat(d.sock, &st), 0);
	daemon_cleanup(&d);
}

static void test_shutdown_answers_in_flight_then_refuses(void **state)
{
	struct daemon d = {0};

	daemon_start(&d, NULL);
	int fd = client_connect(d.sock);
	/* One write: a ping, the shutdown, then a ping that arrives after it began. */
	assert_int_equal(client_send_str(fd, PING "\n"
				"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.shutdown\"}\n"
				"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n"), 0);
	char *a = client_recv_line(fd, 5000), *b = client_recv_line(fd, 5000),
	     *c = client_recv_line(fd, 5000);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_string_equal(a, PONG);
	assert_string_equal(b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"stopping\":true}}");
	assert_string_equal(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32004,"
			       "\"message\":\"Shutting down\"}}");
	free(a);
	free(b);
	free(c);
	assert_null(client_recv_line(fd, 5000)); /* then closed */
	client_close(fd);
	int status = daemon_wait(&d, 10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(d.sock, F_OK), -1);
	daemon_cleanup(&d);
}

static void test_socket_activation_and_notify(void **state)
{
	struct daemon d = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX}, na = {.sun_family = AF_UNIX};
	char notify_path[128], listen_pid[32], buf[256];

	daemon_prepare(&d);
	/* What systemd does: bind and listen, pass it as fd 3, and wait for READY=1. */
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/activated.sock", d.dir);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 16), 0);
	snprintf(notify_path, sizeof(notify_path), "%s/notify", d.dir);
	int ns = socket(AF_UNIX, SOCK_DGRAM, 0);
	strcpy(na.sun_path, notify_path);
	assert_int_equal(bind(ns, (struct sockaddr *)&na, sizeof(na)), 0);

	pid_t pid = fork();
	if (pid == 0) {
		char env_notify[160];
		dup2(ls, 3);
		snprintf(listen_pid, sizeof(listen_pid), "%d", getpid());
		setenv("LISTEN_PID", listen_pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		snprintf(env_notify, sizeof(env_notify), "%s", notify_path);
		setenv("NOTIFY_SOCKET", env_notify, 1);
		int lf = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(lf, 2);
		/* -s names another path: the passed socket wins and no file is made there. */
		execl(getenv("UDSRPCD"), "udsrpcd", "-s", d.sock, "-S", d.state, (char *)NULL);
		_exit(127);
	}
	close(ls);
	d.pid = pid;
	struct pollfd p = {.fd = ns, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	ssize_t n = recv(ns, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "READY=1"));
	int fd = client_connect(sa.sun_path);
	assert_true(fd >= 0);
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "socket")),
			    sa.sun_path);
	json_decref(r);
	client_close(fd);
	assert_int_equal(access(d.sock, F_OK), -1);
	assert_int_equal(daemon_stop(&d), 0);
	/* Never unlinked by the daemon: systemd owns it. */
	assert_int_equal(access(sa.sun_path, F_OK), 0);
	n = recv(ns, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "STOPPING=1"));
	close(ns);
	daemon_cleanup(&d);
}

static void test_options(void **state)
{
	char out[8192];

	assert_int_equal(run_udsrpcd((const char *[]){"--version", NULL}, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "udsrpcd "));
	assert_int_equal(run_udsrpcd((const char *[]){"--help", NULL}, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--state-dir"));
	assert_int_equal(run_udsrpcd((const char *[]){"--bogus", NULL}, out, sizeof(out)), 2);
	assert_int_equal(run_udsrpcd((const char *[]){"-l", "loud", NULL}, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "unknown log level 'loud'"));
	assert_int_equal(run_udsrpcd((const char *[]){"extra", NULL}, out, sizeof(out)), 2);
}

static void test_config_file_and_check(void **state)
{
	struct daemon d = {0};
	char cfg[160], out[16384];

	daemon_prepare(&d);
	snprintf(cfg, sizeof(cfg), "%s/udsrpcd.json", d.dir);
	write_file(cfg, "{\"socket_mode\":\"0600\",\"log_level\":\"debug\","
			"\"limits\":{\"max_batch\":7}}");
	assert_int_equal(run_udsrpcd((const char *[]){"-c", cfg, "-s", "/tmp/x.sock", "--check", NULL},
				     out, sizeof(out)), 0);
	json_t *doc = json_loads(out, 0, NULL);
	assert_non_null(doc);
	json_t *c = json_object_get(doc, "config");
	assert_string_equal(json_string_value(json_object_get(c, "socket")), "/tmp/x.sock");
	assert_string_equal(json_string_value(json_object_get(c, "socket_mode")), "0600");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "limits"), "max_batch")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "limits"), "max_connections")), 4096);
	assert_true(json_array_size(json_object_get(json_object_get(doc, "policy"), "rules")) == 3);
	json_decref(doc);
	assert_int_equal(access("/tmp/x.sock", F_OK), -1); /* --check never listens */

	/* A typo must not fall back to a default: the member is named. */
	write_file(cfg, "{\"limits\":{\"max_conections\":5}}");
	assert_int_equal(run_udsrpcd((const char *[]){"-c", cfg, "--check", NULL}, out, sizeof(out)), 1);
	assert_non_null(strstr(out, cfg));
	assert_non_null(strstr(out, "max_conections"));
	write_file(cfg, "{\"limits\": ");
	assert_int_equal(run_udsrpcd((const char *[]){"-c", cfg, "--check", NULL}, out, sizeof(out)), 1);
	assert_non_null(strstr(out, cfg));

	/* The mode from the file is applied to the socket. */
	write_file(cfg, "{\"socket_mode\":\"0600\"}");
	assert_int_equal(daemon_spawn(&d, (const char *[]){"-c", cfg, NULL}, NULL), 0);
	struct stat st;
	assert_int_equal(stat(d.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_sighup_keeps_serving(void **state)
{
	struct daemon d = {0};

	daemon_start(&d, NULL);
	int fd = client_connect(d.sock);
	kill(d.pid, SIGHUP);
	kill(d.pid, SIGPIPE); /* ignored, never fatal */
	usleep(100000);
	json_t *r = client_call(fd, PING);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	client_close(fd);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "reloaded"));
	free(log);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void test_journal_prefixes(void **state)
{
	static const char *const env[] = {"JOURNAL_STREAM=8:12345", NULL};
	struct daemon d = {.env = env};

	daemon_start(&d, (const char *[]){"-l", "debug", NULL});
	assert_int_equal(daemon_stop(&d), 0);
	char *log = daemon_log(&d);
	/* Under systemd the priority rides in "<N>", not in a word. */
	assert_true(strncmp(log, "<6>serving on ", 14) == 0);
	assert_non_null(strstr(log, "\n<6>stopped"));
	assert_null(strstr(log, "udsrpcd: info:"));
	free(log);
	daemon_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_exits_zero_and_removes_socket),
		cmocka_unit_test(test_second_daemon_refused_naming_pid),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_not_a_socket_refused),
		cmocka_unit_test(test_socket_not_ours_is_not_removed),
		cmocka_unit_test(test_shutdown_answers_in_flight_then_refuses),
		cmocka_unit_test(test_socket_activation_and_notify),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_config_file_and_check),
		cmocka_unit_test(test_sighup_keeps_serving),
		cmocka_unit_test(test_journal_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
#include <limits.h>
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
	/* An empty -s (an unset variable) is a usage error, not a socket named "". */
	assert_int_equal(run_udsrpcd((const char *[]){"-s", "", "--check", NULL}, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "udsrpcd: -s: empty socket path"));
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

	/* A socket_group that does not exist: --check says so, and a start fails
	 * before it makes a socket file (one used to be left behind). */
	write_file(cfg, "{\"socket_group\":\"udsrpc-no-such-group\"}");
	assert_int_equal(run_udsrpcd((const char *[]){"-c", cfg, "--check", NULL}, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "socket_group 'udsrpc-no-such-group': no such group"));
	assert_int_equal(run_udsrpcd((const char *[]){"-c", cfg, "-s", d.sock, "-S", d.state, NULL},
				     out, sizeof(out)), 1);
	assert_non_null(strstr(out, "socket_group 'udsrpc-no-such-group': no such group"));
	assert_int_equal(access(d.sock, F_OK), -1);

	/* The mode from the file is applied to the socket. */
	write_file(cfg, "{\"socket_mode\":\"0600\"}");
	assert_int_equal(daemon_spawn(&d, (const char *[]){"-c", cfg, NULL}, NULL), 0);
	struct stat st;
	assert_int_equal(stat(d.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * --check says what is wrong with a policy that still loads (PROTOCOL.md §4):
 * an unknown name, a pattern that matches no method, root locked out of
 * daemon.reload; exit 0, and the printed policy keeps the unknown name.
 */
static void test_check_policy_warnings(void **state)
{
	struct daemon d = {0};
	char pol[160], out[16384];

	daemon_prepare(&d);
	snprintf(pol, sizeof(pol), "%s/policy.json", d.dir);
	write_file(pol, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\",\"confg.*\"]},"
			"{\"effect\":\"allow\",\"methods\":[\"*\"],"
			"\"uids\":[\"udsrpc-no-such-user\"]},"
			"{\"effect\":\"allow\",\"provide\":[\"*\"],\"uids\":[0]}]}");
	assert_int_equal(run_udsrpcd((const char *[]){"-p", pol, "-S", d.state, "--check", NULL},
				     out, sizeof(out)), 0);
	assert_non_null(strstr(out, "warning: policy: rule 2: uids: unknown user "
				    "'udsrpc-no-such-user' matches no one\n"));
	assert_non_null(strstr(out, "warning: policy: rule 1: methods: 'confg.*' matches no "
				    "method served\n"));
	assert_non_null(strstr(out, "warning: policy: leaves root no way to call daemon.reload\n"));
	/* The provide rule's "*" is no call pattern: no warning for it. */
	assert_null(strstr(out, "rule 3"));
	/* stdout is a pipe, flushed at exit: the JSON comes after the warnings. */
	char *text = strstr(out, "\n{");
	assert_non_null(text);
	json_t *doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	json_t *rule = json_array_get(json_object_get(json_object_get(doc, "policy"), "rules"), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(rule, "uids"), 0)),
			    "udsrpc-no-such-user");
	json_decref(doc);

	/* The embedded default warns of nothing. */
	assert_int_equal(run_udsrpcd((const char *[]){"-S", d.state, "--check", NULL}, out,
				     sizeof(out)), 0);
	assert_null(strstr(out, "warning"));
	daemon_cleanup(&d);
}

/*
 * --check --as (CLI.md): the deciding rule for a caller named on the command
 * line, groups as the system gives the user; exit 0 allow, 1 deny, 2 usage.
 */
static void test_check_as(void **state)
{
	struct daemon d = {0};
	char pol[160], text[1024], out[4096], me[16], gone[16];
	int status;

	daemon_prepare(&d);
	/* A child that has exited: its pid names no process now. */
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0)
		_exit(0);
	assert_int_equal(waitpid(kid, &status, 0), kid);
	snprintf(me, sizeof(me), "%d", (int)getpid());
	snprintf(gone, sizeof(gone), "%d", (int)kid);
	snprintf(pol, sizeof(pol), "%s/policy.json", d.dir);
	snprintf(text, sizeof(text),
		 "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\"]},"
		 "{\"effect\":\"deny\",\"methods\":[\"config.*\"],\"groups\":[\"root\"]},"
		 "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"uids\":[\"nobody\"]},"
		 "{\"effect\":\"deny\",\"methods\":[\"daemon.info\"],\"exe\":[\"/usr/bin/x\"]},"
		 "{\"effect\":\"allow\",\"methods\":[\"daemon.info\"],\"pids\":[%s]},"
		 "{\"effect\":\"allow\",\"provide\":[\"app.*\"],\"uids\":[\"nobody\"]},"
		 "{\"effect\":\"allow\",\"methods\":[\"config.set\"],\"keys\":[\"app/*\"],"
		 "\"uids\":[\"nobody\"]},"
		 "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}",
		 me);
	write_file(pol, text);
	static const struct {
		const char *args[10];
		int rc;
		const char *out;
	} cases[] = {
	    {{"--as", "nobody", "ping"}, 0, "allow (rule 1)\n"},
	    {{"--as", "nobody", "config.get", "app/x"}, 0, "allow (rule 3)\n"},
	    /* nobody with root as primary group: the deny on group root decides. */
	    {{"--as", "nobody:root", "config.get", "app/x"}, 1, "deny (rule 2)\n"},
	    /* KEY decides a rule with keys: rule 7 is nobody's on app/ keys only. */
	    {{"--as", "nobody", "config.set", "app/x"}, 0, "allow (rule 7)\n"},
	    {{"--as", "nobody", "config.set", "other/x"}, 1, "deny (no rule matched)\n"},
	    {{"--as", "nobody", "config.set"}, 1, "deny (no rule matched)\n"},
	    {{"--as", "root", "config.set"}, 1, "deny (rule 2)\n"},
	    {{"--as", "root", "daemon.reload"}, 0, "allow (rule 8)\n"},
	    /* No --exe: unknown, and a deny rule with exe matches an unknown exe. */
	    {{"--as", "nobody", "--pid", "ME", "daemon.info"}, 1, "deny (rule 4)\n"},
	    {{"--as", "nobody", "--pid", "ME", "--exe", "/usr/bin/y", "daemon.info"}, 0,
	     "allow (rule 5)\n"},
	    {{"--as", "nobody", "--exe", "/usr/bin/y", "daemon.info"}, 1,
	     "deny (no rule matched)\n"},
	    {{"--as", "nobody", "--provide", "app.tick"}, 0, "allow (rule 6)\n"},
	    {{"--as", "nobody", "--provide", "ping"}, 1, "deny (no rule matched)\n"},
	    {{"--as", "udsrpc-no-such-user", "ping"}, 2, "udsrpcd: --as: unknown user "
							  "'udsrpc-no-such-user'\n"},
	    {{"--as", "nobody:udsrpc-no-such-group", "ping"}, 2, "udsrpcd: --as: unknown group "
								 "'udsrpc-no-such-group'\n"},
	    {{"--as", "nobody"}, 2, "udsrpcd: --check --as needs a METHOD (or --provide NAME)\n"},
	    {{"--as", "nobody", "--provide", "app.x", "ping"}, 2,
	     "udsrpcd: unexpected argument 'ping'; see udsrpcd --help\n"},
	    {{"--as", "nobody", "--pid", "0", "ping"}, 2,
	     "udsrpcd: --pid '0': expected a process id\n"},
	    {{"--as", "nobody", "--exe", "bin/x", "ping"}, 2,
	     "udsrpcd: --exe 'bin/x': expected an absolute path\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[16] = {"-p", pol, "-S", d.state, "--check"};
		size_t n = 5;
		for (size_t j = 0; cases[i].args[j]; j++)
			argv[n++] = strcmp(cases[i].args[j], "ME") == 0 ? me : cases[i].args[j];
		int rc = run_udsrpcd(argv, out, sizeof(out));
		if (rc != cases[i].rc || strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: exit %d, printed '%s'; want %d, '%s'", i, rc, out,
				 cases[i].rc, cases[i].out);
	}

	/* The pid's process is gone: the entry pinned at load is not it. */
	snprintf(text, sizeof(text),
		 "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\"],\"pids\":[%s]},"
		 "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}",
		 gone);
	write_file(pol, text);
	assert_int_equal(run_udsrpcd((const char *[]){"-p", pol, "-S", d.state, "--check", "--as",
						       "nobody", "--pid", gone, "ping", NULL},
				     out, sizeof(out)),
			 1);
	assert_non_null(strstr(out, "the entry matches no one\n"));
	assert_non_null(strstr(out, "\ndeny (no rule matched)\n"));

	/* Without --check, or --pid without --as: usage. */
	assert_int_equal(run_udsrpcd((const char *[]){"--as", "nobody", "ping", NULL}, out,
				     sizeof(out)),
			 2);
	assert_non_null(strstr(out, "--as goes with --check"));
	assert_int_equal(run_udsrpcd((const char *[]){"--check", "--pid", "1", NULL}, out,
				     sizeof(out)),
			 2);
	daemon_cleanup(&d);
}

/*
 * Relative socket, policy and state_dir in a config file are relative to the
 * file's directory, not to where udsrpcd runs (PROTOCOL.md §5).
 */
static void test_config_relative_paths(void **state)
{
	struct daemon d = {0};
	char sub[200], cfg[240], pol[240], want[PATH_MAX + 32], out[16384], cwd[PATH_MAX];

	daemon_prepare(&d);
	snprintf(sub, sizeof(sub), "%s/etc", d.dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(cfg, sizeof(cfg), "%s/udsrpcd.json", sub);
	snprintf(pol, sizeof(pol), "%s/policy.json", sub);
	write_file(cfg, "{\"socket\":\"run/s.sock\",\"policy\":\"policy.json\","
			"\"state_dir\":\"../state\"}");
	write_file(pol, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}");
	/* Started from elsewhere, with the config named by a relative path too. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(d.dir), 0);
	int rc = run_udsrpcd((const char *[]){"-c", "etc/udsrpcd.json", "--check", NULL}, out,
			     sizeof(out));
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	json_t *doc = json_loads(out, 0, NULL);
	assert_non_null(doc);
	json_t *c = json_object_get(doc, "config");
	char real[PATH_MAX];
	assert_non_null(realpath(sub, real));
	snprintf(want, sizeof(want), "%s/run/s.sock", real);
	assert_string_equal(json_string_value(json_object_get(c, "socket")), want);
	snprintf(want, sizeof(want), "%s/policy.json", real);
	assert_string_equal(json_string_value(json_object_get(c, "policy")), want);
	snprintf(want, sizeof(want), "%s/../state", real);
	assert_string_equal(json_string_value(json_object_get(c, "state_dir")), want);
	/* And the policy read is that file: one rule. */
	assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "policy"), "rules")), 1);
	json_decref(doc);
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

/* 50 acknowledged sets k/00..k/49 = 0..49 through the daemon, which then stops. */
static void fifty_sets_and_stop(struct daemon *d)
{
	int fd = client_connect(d->sock);
	char req[200];

	assert_true(fd >= 0);
	for (int i = 0; i < 50; i++) {
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"k/%02d\",\"value\":%d}}",
		         i, i, i);
		json_t *res = harness_take_result(client_call(fd, req), "config.set");
		assert_int_equal(json_integer_value(json_object_get(res, "revision")), i + 1);
		json_decref(res);
	}
	client_close(fd);
	assert_int_equal(daemon_stop(d), 0);
}

static json_int_t list_count(const struct daemon *d)
{
	int fd = client_connect(d->sock);
	json_t *res = harness_take_result(
	    client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.list\"}"),
	    "config.list");
	json_int_t n = (json_int_t)json_array_size(json_object_get(res, "items"));

	json_decref(res);
	client_close(fd);
	return n;
}

/*
 * udsrpcd(8) Recovery, the case of issue 16: one byte changed at offset 166
 * of config.log after 50 acknowledged sets. The daemon does not start (exit
 * 1, naming the file and offset) instead of cutting the log and losing 46
 * writes; --repair keeps the 49 readable ones, moves the damaged record
 * aside and says so; then it starts. A torn last record only warns.
 */
static void test_damaged_log_refused_then_repaired(void **state)
{
	struct daemon d = {0};
	char log_path[200], want[400], out[4096];
	unsigned char byte;
	int fd, status = 0;
	struct stat st;

	daemon_start(&d, NULL);
	fifty_sets_and_stop(&d);
	snprintf(log_path, sizeof(log_path), "%s/config.log", d.state);
	fd = open(log_path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 166), 1);
	byte ^= 0x01;
	assert_int_equal(pwrite(fd, &byte, 1, 166), 1);
	close(fd);
	assert_int_equal(stat(log_path, &st), 0);
	off_t size = st.st_size;

	/* It binds before it opens the store: the socket may answer before it exits. */
	if (daemon_spawn(&d, NULL, &status) == 0)
		status = daemon_wait(&d, 60000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	char *log = daemon_log(&d);
	/* Records of 41 bytes (k/00..k/09) first: byte 166 is in k/04's, at 164. */
	snprintf(want, sizeof(want), "error: %s is damaged at offset 164 (", log_path);
	if (!strstr(log, want) || !strstr(log, "--repair"))
		fail_msg("daemon said: %s", log);
	free(log);
	assert_int_equal(stat(log_path, &st), 0);
	assert_int_equal(st.st_size, size); /* nothing cut */

	assert_int_equal(run_udsrpcd((const char *[]){"--repair", "-S", d.state, NULL}, out,
	                             sizeof(out)),
	                 0);
	snprintf(want, sizeof(want),
	         "udsrpcd: %s: kept 49 log record(s); 1 record(s) could not be read, 41 bytes "
	         "moved to %s/config.log.damaged-",
	         d.state, d.state);
	if (!strstr(out, want))
		fail_msg("--repair said: %s", out);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	assert_int_equal(list_count(&d), 49);
	assert_int_equal(daemon_stop(&d), 0);

	/* The last record cut short, as a crash mid-write leaves it: dropped, with a warning. */
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	fd = client_connect(d.sock);
	json_decref(harness_take_result(
	    client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\",\"params\":"
	                    "{\"key\":\"last\",\"value\":\"torn\"}}"),
	    "config.set"));
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(stat(log_path, &st), 0);
	assert_int_equal(truncate(log_path, st.st_size - 3), 0);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	/* An answer means the store is open, so its warning is written. */
	assert_int_equal(list_count(&d), 49);
	log = daemon_log(&d);
	snprintf(want, sizeof(want),
	         "warning: %s: dropped a torn last record at offset %lld (", log_path,
	         (long long)st.st_size - 46);
	if (!strstr(log, want))
		fail_msg("daemon said: %s", log);
	free(log);
	assert_int_equal(daemon_stop(&d), 0);

	/* A state dir that is not there: exit 1, nothing created. */
	snprintf(want, sizeof(want), "%s/nothing", d.dir);
	assert_int_equal(run_udsrpcd((const char *[]){"--repair", "-S", want, NULL}, out,
	                             sizeof(out)),
	                 1);
	assert_non_null(strstr(out, "cannot open state directory"));
	assert_int_equal(access(want, F_OK), -1);
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
		cmocka_unit_test(test_check_policy_warnings),
		cmocka_unit_test(test_check_as),
		cmocka_unit_test(test_config_relative_paths),
		cmocka_unit_test(test_sighup_keeps_serving),
		cmocka_unit_test(test_journal_prefixes),
		cmocka_unit_test(test_damaged_log_refused_then_repaired),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

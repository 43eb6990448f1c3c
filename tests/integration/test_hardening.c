/*
 * test_hardening.c — the security review's findings, each replayed against a
 * real daemon: what the attack did, and what the daemon must do instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PING "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
#define MIB (1024 * 1024)
#define DEFAULT_MAX_OUTPUT (8 * MIB)

static bool under_wrapper(void)
{
	const char *w = getenv("UDSRPCD_WRAPPER");
	return w && *w;
}

static bool under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return false;
}

/* One line: a batch of n calls of method, ids 0..n-1 (malloc'd, "\n"-terminated). */
static char *batch_of(const char *method, int n)
{
	char *buf = malloc((size_t)n * 80 + 8);
	size_t len = 0;

	buf[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)sprintf(buf + len, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}",
				       i ? "," : "", i, method);
	memcpy(buf + len, "]\n", 3);
	return buf;
}

/*
 * For forked children: one request, one reply line (malloc'd, NULL on
 * failure), without the harness's reply checks, whose cmocka failure in a
 * child would go on running the parent's remaining tests.
 */
static char *raw_call(int fd, const char *request)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (write(fd, request, strlen(request)) != (ssize_t)strlen(request))
		goto fail;
	while (len < cap - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) != 1)
			goto fail;
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		char *nl = strchr(buf, '\n');
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
fail:
	free(buf);
	return NULL;
}

#define WHOAMI "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"peer.whoami\"}\n"

static void assert_ping(const struct daemon *d, int timeout_ms)
{
	int fd = client_connect(d->sock);
	assert_true(fd >= 0);
	assert_int_equal(client_send_str(fd, PING "\n"), 0);
	char *line = client_recv_line(fd, timeout_ms);
	if (!line)
		fail_msg("no answer to a ping within %d ms", timeout_ms);
	assert_non_null(strstr(line, "\"result\""));
	free(line);
	client_close(fd);
}

/*
 * The finding: one 58 KB line of 1,024 rpc.discover calls became one 26.5 MB
 * reply. The reply stops growing at max_output_bytes; the members after
 * that point are not run and are answered -32603 with data.limit.
 */
static void test_batch_reply_obeys_max_output_bytes(void **state)
{
	struct daemon d = {0};
	char *batch = batch_of("rpc.discover", 1024);

	(void)state;
	daemon_start(&d, NULL);
	int fd = client_connect(d.sock);
	assert_int_equal(client_send_str(fd, batch), 0);
	char *line = client_recv_line(fd, 60000);
	assert_non_null(line);
	size_t len = strlen(line);
	printf("# batch of 1024 rpc.discover: reply of %zu bytes (max_output_bytes %d)\n", len,
	       DEFAULT_MAX_OUTPUT);
	json_t *r = json_loads(line, 0, NULL);
	free(line);
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 1024);
	/* One member's reply may take it past the limit; the error replies after it are small. */
	assert_true(len < DEFAULT_MAX_OUTPUT + 64 * 1024 + 1024 * 160);
	json_t *first = json_array_get(r, 0), *last = json_array_get(r, 1023);
	assert_non_null(json_object_get(first, "result"));
	json_t *err = json_object_get(last, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "code")), -32603);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(err, "data"), "limit")),
			 DEFAULT_MAX_OUTPUT);
	assert_int_equal(json_integer_value(json_object_get(last, "id")), 1023);
	json_decref(r);
	client_close(fd);
	assert_ping(&d, 10000);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
	free(batch);
}

/*
 * 40 connections send that batch and never read: the daemon took 1.05 GB and
 * stalled a ping for 6 s. Each connection now holds at most one capped
 * batch reply, and a ping from another connection is answered.
 */
static void test_unread_batches_stay_bounded(void **state)
{
	enum { CONNS = 40 };
	struct daemon d = {0};
	int fds[CONNS];
	char *batch = batch_of("rpc.discover", 1024);

	(void)state;
	if (under_wrapper())
		skip(); /* 40 x 8 MiB of replies under valgrind: minutes, and the bound is the plain build's */
	daemon_start(&d, NULL);
	long rss0 = proc_rss_kib(d.pid);
	for (int i = 0; i < CONNS; i++) {
		fds[i] = client_connect(d.sock);
		assert_true(fds[i] >= 0);
		assert_int_equal(client_send_str(fds[i], batch), 0);
	}
	/* The ping is handled after the batches that arrived before it. */
	assert_ping(&d, 60000);
	long rss = proc_rss_kib(d.pid);
	printf("# %d unread batches: daemon RSS %ld KiB (%ld KiB before)\n", CONNS, rss, rss0);
	if (under_asan()) {
		printf("# RSS bound not checked: ASan's shadow and quarantine are not the daemon's\n");
	} else {
		/* One capped reply each (plus its last member and slack), not 26.5 MB each. */
		long bound_kib = rss0 + CONNS * (DEFAULT_MAX_OUTPUT + 2 * MIB) / 1024;
		assert_true(rss < bound_kib);
	}
	for (int i = 0; i < CONNS; i++)
		client_close(fds[i]);
	assert_ping(&d, 30000);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
	free(batch);
}

/*
 * A batch that outlives its connection: the subscriber is closed by event
 * overflow halfway (each daemon.log_level publishes a daemon event to it),
 * and the events.subscribe after that must not put the closed connection
 * back on the subscriber list (a use after free the next publish reads;
 * ASan and valgrind builds catch it, the daemon exits non-zero).
 */
static void test_subscribe_after_overflow_close(void **state)
{
	enum { LEVELS = 100 };
	struct daemon d = {0};
	char *buf = malloc(LEVELS * 100 + 256);
	size_t n = 0;

	(void)state;
	daemon_prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"max_output_bytes\":4096}}", 0644, NULL), 0);
	n += (size_t)sprintf(buf + n, "[{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"events.subscribe\","
				      "\"params\":{\"topics\":[\"daemon\"]}}");
	for (int i = 1; i <= LEVELS; i++)
		n += (size_t)sprintf(buf + n,
				     ",{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"daemon.log_level\","
				     "\"params\":{\"level\":\"%s\"}}",
				     i, i % 2 ? "debug" : "info");
	n += (size_t)sprintf(buf + n, ",{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"events.subscribe\","
				      "\"params\":{\"topics\":[\"daemon\"]}}]\n", LEVELS + 1);
	int fd = client_connect(d.sock);
	assert_int_equal(client_send(fd, buf, n), 0);
	/* Closed by the overflow: whatever came before, the stream ends. */
	char *line;
	while ((line = client_recv_line(fd, 20000)))
		free(line);
	client_close(fd);
	/* Another connection publishes again (a daemon event) and is answered. */
	int admin = client_connect(d.sock);
	json_t *res = client_call_method(admin, 1, "daemon.log_level", json_pack("{s:s}", "level", "info"));
	assert_non_null(json_object_get(res, "result"));
	json_decref(res);
	client_close(admin);
	assert_ping(&d, 10000);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
	free(buf);
}

/* The client half of the namespace test, run as "<self> --whoami SOCK": 0 when exe was null. */
static int whoami_main(const char *sock)
{
	int fd = client_connect(sock);
	char *line = fd < 0 ? NULL : raw_call(fd, WHOAMI);
	json_t *r = line ? json_loads(line, 0, NULL) : NULL;
	json_t *res = json_object_get(r, "result");
	int rc = 2;
	if (res) {
		printf("# whoami: exe %s\n", json_string_value(json_object_get(res, "exe")) ?: "null");
		rc = json_is_null(json_object_get(res, "exe")) ? 0 : 1;
	}
	/* Freed so LeakSanitizer, which aborts the child at exit, has nothing to report. */
	json_decref(r);
	free(line);
	if (fd >= 0)
		client_close(fd);
	return rc;
}

/*
 * A child makes a mount namespace of its own (flags for unshare), binds
 * this program over the file "fake" in the daemon's dir (or runs it where
 * it is when fake is false) and runs it from there to ask peer.whoami:
 * whoami_main's status, 77 when no namespace could be made.
 */
static int whoami_from(const struct daemon *d, int flags, bool fake)
{
	char self[PATH_MAX], path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/fake", d->dir);
	FILE *f = fopen(path, "w"); /* in the daemon's view: an empty file */
	assert_non_null(f);
	fclose(f);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (flags && unshare(flags) < 0)
			_exit(77);
		if (fake && (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			     mount(self, path, NULL, MS_BIND, NULL) < 0))
			_exit(77);
		execl(fake ? path : self, "whoami", "--whoami", d->sock, (char *)NULL);
		_exit(2);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * The finding: a bind mount in a mount namespace of one's own makes
 * /proc/PID/exe show any path. Such a peer has no exe, and neither has one
 * in a user namespace of its own; a peer in the host's namespaces keeps it.
 */
static void test_exe_null_when_faked(void **state)
{
	struct daemon d = {0};
	int r;

	(void)state;
	daemon_start(&d, NULL);
	assert_int_equal(whoami_from(&d, 0, false), 1);
	r = whoami_from(&d, geteuid() == 0 ? CLONE_NEWNS : CLONE_NEWUSER | CLONE_NEWNS, true);
	if (r == 77) {
		daemon_stop(&d);
		daemon_cleanup(&d);
		skip(); /* no mount namespace for us here (no root, no unprivileged user namespaces) */
	}
	assert_int_equal(r, 0);
	/* A user namespace without any mount: still not believed. */
	r = whoami_from(&d, CLONE_NEWUSER, false);
	if (r != 77)
		assert_int_equal(r, 0);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

#define RAW_NAME "\xff\xfeh\nx"
#define ESCAPED_NAME "\\xff\\xfeh\\x0ax"

/*
 * The finding: a process that names itself with bytes that are not UTF-8
 * (prctl PR_SET_NAME) had a null whoami, no peer.list entry and peer events
 * without uid or pid. Its name is now escaped and it shows in all three.
 */
static void test_raw_name_peer_shows(void **state)
{
	struct daemon d = {0};
	int go[2];

	(void)state;
	daemon_start(&d, NULL);
	int sub = client_connect(d.sock);
	json_t *r = client_call_method(sub, 1, "events.subscribe", json_pack("{s:[s]}", "topics", "peer"));
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		prctl(PR_SET_NAME, RAW_NAME);
		int fd = client_connect(d.sock);
		char *line = fd < 0 ? NULL : raw_call(fd, WHOAMI);
		json_t *who = line ? json_loads(line, 0, NULL) : NULL;
		const char *comm = json_string_value(json_object_get(json_object_get(who, "result"), "comm"));
		printf("# whoami of a peer named with raw bytes: %s\n", line ? line : "(nothing)");
		fflush(stdout);
		char c;
		(void)!read(go[0], &c, 1); /* stay connected until the parent has looked */
		_exit(comm && strcmp(comm, ESCAPED_NAME) == 0 ? 0 : 1);
	}
	close(go[0]);
	char *line = client_recv_line(sub, 10000);
	assert_non_null(line);
	printf("# its peer event: %s\n", line);
	json_t *msg = json_loads(line, 0, NULL), *ev = json_object_get(msg, "params");
	free(line);
	assert_int_equal(json_integer_value(json_object_get(ev, "pid")), pid);
	assert_int_equal(json_integer_value(json_object_get(ev, "uid")), getuid());
	assert_string_equal(json_string_value(json_object_get(ev, "comm")), ESCAPED_NAME);
	json_decref(msg); /* ev is borrowed from it */
	json_t *list = client_call_method(sub, 2, "peer.list", NULL);
	size_t i;
	json_t *p;
	int found = 0;
	json_array_foreach(json_object_get(json_object_get(list, "result"), "peers"), i, p)
		found += json_integer_value(json_object_get(p, "pid")) == pid &&
			 strcmp(json_string_value(json_object_get(p, "comm")) ?: "", ESCAPED_NAME) == 0;
	json_decref(list);
	assert_int_equal(found, 1);
	close(go[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	client_close(sub);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* Connects n times and pings on each: how many were served (not -32003). */
static int served_of(const char *sock, int n, int *fds)
{
	int served = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = client_connect(sock);
		char *line = fds[i] < 0 ? NULL : raw_call(fds[i], PING "\n");
		served += line && strstr(line, "\"result\"") != NULL;
		free(line);
	}
	return served;
}

/*
 * The finding: root is exempt from max_connections_per_uid but not from
 * max_connections, so other users holding connections locked it out.
 * max_connections 8 keeps 2 (a quarter, at most 16) for root: a user
 * trying for all 8 gets 6, and root still gets in.
 */
static void test_root_reserve(void **state)
{
	enum { MAX = 8 };
	struct daemon d = {0};
	int go[2], done[2], fds[MAX];

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root: connections of another uid, and root's own */
	daemon_prepare(&d);
	assert_int_equal(chmod(d.dir, 0755), 0); /* so uid 65534 can reach the socket */
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"max_connections\":8}}", 0644, NULL), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		int served = served_of(d.sock, MAX, fds);
		printf("# uid 65534 asked for %d connections, served on %d\n", MAX, served);
		fflush(stdout);
		char c = 1;
		(void)!write(done[1], &c, 1);
		(void)!read(go[0], &c, 1); /* hold them while root connects */
		_exit(served);
	}
	close(go[0]);
	close(done[1]);
	/* Root connects only once the user holds what it could get (no
	 * connection of root's meanwhile, which would take a slot). */
	char c;
	assert_int_equal(read(done[0], &c, 1), 1);
	int mine = served_of(d.sock, 2, fds);
	printf("# root asked for 2 more, served on %d\n", mine);
	for (int i = 0; i < 2; i++)
		client_close(fds[i]);
	close(go[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), MAX - 2);
	assert_int_equal(mine, 2);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * Starts a daemon on state dir d->state as it is now: its exit status (-1 if
 * it still serves after 10 s). The socket listens before the state dir is
 * checked, so the harness may have connected before the daemon gave up.
 */
static int start_on_state(struct daemon *d)
{
	int status = 0;
	if (daemon_spawn(d, NULL, &status) == 0) {
		status = daemon_wait(d, 10000);
		if (status == -1) {
			daemon_stop(d);
			return -1;
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * The findings: a state dir owned by another user was accepted, and a
 * symlink planted as config.log truncated the file it pointed at. Now a
 * state dir must be the daemon's (or root's) and not group/other-writable,
 * and the store's files are opened without following symlinks.
 */
static void test_state_dir_checks(void **state)
{
	struct daemon d = {0};
	char victim[160], log[160];

	(void)state;
	daemon_prepare(&d);
	assert_int_equal(mkdir(d.state, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(d.state, 65534, 65534), 0);
		assert_int_equal(start_on_state(&d), 1);
		char *text = daemon_log(&d);
		printf("# owned by uid 65534: %s", strstr(text, "state dir") ? strstr(text, "state dir") : text);
		assert_non_null(strstr(text, "owned by uid 65534"));
		free(text);
		assert_int_equal(chown(d.state, 0, 0), 0);
	}
	assert_int_equal(chmod(d.state, 0770), 0);
	assert_int_equal(start_on_state(&d), 1);
	char *text = daemon_log(&d);
	assert_non_null(strstr(text, "writable by group or others"));
	free(text);
	assert_int_equal(chmod(d.state, 0700), 0);
	/* The victim: a file of the daemon's user outside the state dir. */
	snprintf(victim, sizeof(victim), "%s/victim", d.dir);
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	snprintf(log, sizeof(log), "%s/config.log", d.state);
	assert_int_equal(symlink(victim, log), 0);
	int rc = start_on_state(&d);
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	printf("# config.log a symlink: daemon exit %d, victim %lld bytes\n", rc, (long long)st.st_size);
	assert_int_equal(rc, 1);
	assert_int_equal(st.st_size, 9);
	daemon_cleanup(&d);
}

/*
 * The finding: run as root, the daemon obeyed a policy or config file that
 * another user owned or could write. Each is refused, naming the file and
 * the fix; a root-owned 0644 file is still read.
 */
static void test_files_of_others(void **state)
{
	struct daemon d = {0};
	char policy[160], extra[200];
	int status = 0;

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root: the check applies to a daemon running as root */
	daemon_prepare(&d);
	/* The config file: another user's, then group-writable. */
	FILE *f = fopen(d.config, "w");
	assert_non_null(f);
	fputs("{}\n", f);
	fclose(f);
	assert_int_equal(chown(d.config, 65534, 65534), 0);
	const char *const with_config[] = {"-c", d.config, NULL};
	assert_int_equal(daemon_spawn(&d, with_config, &status), -1);
	char *text = daemon_log(&d);
	printf("# %s", text);
	assert_non_null(strstr(text, "owned by uid 65534"));
	assert_non_null(strstr(text, d.config));
	free(text);
	assert_int_equal(chown(d.config, 0, 0), 0);
	assert_int_equal(chmod(d.config, 0664), 0);
	assert_int_equal(daemon_spawn(&d, with_config, &status), -1);
	text = daemon_log(&d);
	assert_non_null(strstr(text, "chmod go-w"));
	free(text);
	/* The policy file, another user's. */
	snprintf(policy, sizeof(policy), "%s/policy.json", d.dir);
	f = fopen(policy, "w");
	assert_non_null(f);
	fputs("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"]}]}\n", f);
	fclose(f);
	assert_int_equal(chmod(policy, 0644), 0);
	assert_int_equal(chown(policy, 65534, 65534), 0);
	snprintf(extra, sizeof(extra), "%s", policy);
	const char *const with_policy[] = {"-p", extra, NULL};
	assert_int_equal(daemon_spawn(&d, with_policy, &status), -1);
	text = daemon_log(&d);
	assert_non_null(strstr(text, "policy.json: owned by uid 65534"));
	printf("# %s", strstr(text, "policy.json: owned"));
	free(text);
	/* Root's own, 0644: served. */
	assert_int_equal(chown(policy, 0, 0), 0);
	assert_int_equal(daemon_spawn(&d, with_policy, &status), 0);
	assert_ping(&d, 10000);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/*
 * The finding: a socket directory writable by others (root's, mode 0777)
 * was accepted, and anyone could move the socket aside and listen in its
 * place. Refused unless sticky; the socket gets its mode at bind.
 */
static void test_socket_dir_checks(void **state)
{
	struct daemon d = {0};
	int status = 0;
	struct stat st;

	(void)state;
	daemon_prepare(&d);
	assert_int_equal(chmod(d.dir, 0777), 0);
	assert_int_equal(daemon_spawn(&d, NULL, &status), -1);
	char *text = daemon_log(&d);
	printf("# %s", text);
	assert_non_null(strstr(text, "writable by group or others (mode 0777) and not sticky"));
	free(text);
	assert_int_equal(chmod(d.dir, 01777), 0);
	assert_int_equal(daemon_spawn_config(&d, "{\"socket_mode\":\"0600\"}", 0644, &status), 0);
	assert_int_equal(lstat(d.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_ping(&d, 10000);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(chmod(d.dir, 0700), 0);
	daemon_cleanup(&d);
}

/*
 * For the uid-output test's child: reads every connection in fds to the
 * end of its one reply line (a batch's answer array); how many arrived whole.
 */
static int read_all_replies(const int *fds, int n, int timeout_ms)
{
	struct pollfd p[64];
	int whole = 0, open = n;
	char buf[65536];

	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	while (open > 0 && poll(p, (nfds_t)n, timeout_ms) > 0) {
		for (int i = 0; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t k = read(p[i].fd, buf, sizeof(buf));
			if (k > 0 && buf[k - 1] != '\n')
				continue;
			/* One line each: its newline ends it (or the daemon hung up). */
			whole += k > 0;
			p[i].fd = -1;
			open--;
		}
	}
	return whole;
}

/*
 * The finding: 40 connections each sending one batch of 1,024 rpc.discover
 * and reading nothing took the daemon to 1.05 GB. One connection's reply
 * stops at max_output_bytes, and all of one uid's connections together
 * hold at most 4 x max_output_bytes: past it none of them is read. Another
 * uid's ping is answered meanwhile, and once the flooder reads, every one
 * of its 40 replies arrives whole.
 */
static void test_uid_output_bound(void **state)
{
	enum { CONNS = 40 };
	struct daemon d = {0};
	int sent[2], go[2];
	char *batch = batch_of("rpc.discover", 1024);

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root: the flood is another uid's (root is exempt) */
	if (under_wrapper())
		skip(); /* 40 batches of 8 MiB of replies under valgrind: minutes */
	daemon_prepare(&d);
	assert_int_equal(chmod(d.dir, 0755), 0); /* so uid 65534 can reach the socket */
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	long rss0 = proc_rss_kib(d.pid);
	assert_int_equal(pipe(sent), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fds[CONNS];
		char c = 1;
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* no flooder left reading if the test fails */
		close(sent[0]);
		close(go[1]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		for (int i = 0; i < CONNS; i++) {
			fds[i] = client_connect(d.sock);
			if (fds[i] < 0 || write(fds[i], batch, strlen(batch)) != (ssize_t)strlen(batch))
				_exit(101);
		}
		(void)!write(sent[1], &c, 1);
		(void)!read(go[0], &c, 1); /* read nothing until the parent has measured */
		_exit(read_all_replies(fds, CONNS, 30000) == CONNS ? 0 : 102);
	}
	close(sent[1]);
	close(go[0]);
	char c;
	assert_int_equal(read(sent[0], &c, 1), 1);
	/* Until the daemon has done what it will (its RSS still for a second, 30 s at most). */
	long rss = proc_rss_kib(d.pid), still_since = now_ms();
	for (long deadline = now_ms() + 30000; now_ms() < deadline && now_ms() - still_since < 1000;) {
		usleep(100000);
		long r = proc_rss_kib(d.pid);
		if (r != rss)
			still_since = now_ms();
		rss = r;
	}
	long t = now_ms();
	assert_ping(&d, 10000);
	long ping_ms = now_ms() - t;
	printf("# uid 65534's %d unread batches: daemon RSS %ld KiB (%ld before); root's ping "
	       "answered in %ld ms\n",
	       CONNS, rss, rss0, ping_ms);
	if (under_asan()) {
		printf("# RSS bound not checked: ASan's shadow and quarantine are not the daemon's\n");
	} else {
		/* 4 x 8 MiB for the uid, one more capped reply that crossed it, the
		 * batches' input and allocator slack: 64 MiB, not 40 x 8 MiB. */
		assert_true(rss - rss0 < 64 * 1024);
	}
	assert_true(ping_ms < 5000);
	/* Now the flooder reads: each connection paused for its uid is woken in turn. */
	assert_int_equal(write(go[1], &c, 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_ping(&d, 10000);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
	free(batch);
}

/*
 * The attacker of the socket race: a child that, as soon as the socket
 * file appears in dir, moves it to aside and puts link (a symlink to a
 * victim) in its place. Returns its pid once it is watching.
 */
static pid_t swapper_start(const char *dir, const char *sock, const char *aside, const char *link)
{
	int ready[2];
	const char *name = strrchr(sock, '/') + 1;

	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		int ifd = inotify_init1(0);
		if (ifd < 0 || inotify_add_watch(ifd, dir, IN_CREATE) < 0)
			_exit(100);
		(void)!write(ready[1], "r", 1);
		/* As long as the harness waits for a start: a loaded machine under valgrind binds late. */
		for (long deadline = now_ms() + harness_ms(10000); now_ms() < deadline;) {
			struct pollfd p = {.fd = ifd, .events = POLLIN};
			if (poll(&p, 1, 1000) != 1)
				continue;
			ssize_t n = read(ifd, buf, sizeof(buf));
			for (char *e = buf; n > 0 && e < buf + n;) {
				const struct inotify_event *ev = (const struct inotify_event *)e;
				if (ev->len && strcmp(ev->name, name) == 0)
					_exit(rename(sock, aside) == 0 && rename(link, sock) == 0 ? 0 : 101);
				e += sizeof(*ev) + ev->len;
			}
		}
		_exit(102);
	}
	char c;
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/*
 * The finding: chmod and chown after bind followed a symlink swapped in at
 * the socket's path (a root-owned 0600 file became 0666 on the first try).
 * The mode comes from the umask at bind, and with a socket_group the group
 * and mode are set through an O_PATH descriptor of the socket file taken
 * right after bind: a swapper that replaces the socket by a symlink to a
 * victim the moment it appears (inotify) never changes the victim. Either
 * the daemon saw the swap and refused to start, or the socket it made, now
 * moved aside, has the group and mode it was given.
 */
static void test_socket_symlink_race(void **state)
{
	const int ROUNDS = under_wrapper() ? 3 : 20; /* a start under valgrind takes a second */
	struct daemon d = {0};
	char real[128], victim[160], link[160], config[160], arg_config[160];
	int refused = 0, served = 0;
	struct stat st;

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root: a group and a victim of another uid */
	daemon_prepare(&d);
	snprintf(real, sizeof(real), "%s", d.sock);
	snprintf(d.sock, sizeof(d.sock), "%s/aside.sock", d.dir); /* where the harness finds it */
	snprintf(victim, sizeof(victim), "%s/victim", d.dir);
	snprintf(link, sizeof(link), "%s/link", d.dir);
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(victim, 0600), 0);
	assert_int_equal(chown(victim, 65534, 65534), 0);
	for (int i = 0; i < 2 * ROUNDS; i++) {
		bool group = i % 2 == 0;
		snprintf(config, sizeof(config), "%s/udsrpcd-%d.json", d.dir, group);
		f = fopen(config, "w");
		assert_non_null(f);
		fputs(group ? "{\"socket_group\":\"root\",\"socket_mode\":\"0660\"}\n"
			    : "{\"socket_mode\":\"0666\"}\n",
		      f);
		fclose(f);
		snprintf(arg_config, sizeof(arg_config), "%s", config);
		unlink(real);
		unlink(d.sock);
		assert_int_equal(symlink(victim, link), 0);
		pid_t swapper = swapper_start(d.dir, real, d.sock, link);
		const char *const args[] = {"-c", arg_config, "-s", real, NULL};
		int status = 0, ws;
		bool up = daemon_spawn(&d, args, &status) == 0;
		assert_int_equal(waitpid(swapper, &ws, 0), swapper);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0); /* the swap was made */
		assert_int_equal(lstat(victim, &st), 0);
		if ((st.st_mode & 07777) != 0600 || st.st_gid != 65534)
			fail_msg("round %d (%s): the victim became mode %04o group %u", i,
				 group ? "socket_group" : "umask", (unsigned)(st.st_mode & 07777),
				 (unsigned)st.st_gid);
		if (up) {
			served++;
			assert_int_equal(lstat(d.sock, &st), 0);
			assert_true(S_ISSOCK(st.st_mode));
			assert_int_equal(st.st_mode & 07777, group ? 0660 : 0666);
			if (group)
				assert_int_equal(st.st_gid, 0);
			assert_int_equal(daemon_stop(&d), 0);
		} else {
			refused++;
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 1);
		}
		unlink(link);
	}
	char *text = daemon_log(&d);
	printf("# %d starts with the socket swapped for a symlink at once: %d served (socket "
	       "moved aside with its mode), %d refused; the victim kept 0600 and its group\n",
	       2 * ROUNDS, served, refused);
	if (refused)
		assert_non_null(strstr(text, "replaced right after bind"));
	free(text);
	unlink(real);
	daemon_cleanup(&d);
}

/*
 * A peer that stops reading (here a process stopped by SIGSTOP) in every
 * way it can owe the daemon output: an event subscriber, a pipeline of
 * large echoes, a line it never finishes. Others keep being answered at
 * once; the subscriber is disconnected when its events overflow; and a
 * graceful stop ends within its grace period instead of waiting forever
 * for the paused peer to read what it is owed.
 */
static void test_stopped_peer_cannot_stall_others(void **state)
{
	enum { ROUNDS = 200 };
	struct daemon d = {0};
	int ready[2];

	(void)state;
	daemon_prepare(&d);
	/* The unfinished line must outlive the rounds, however slow the machine. */
	assert_int_equal(daemon_spawn_config(&d,
					     "{\"limits\":{\"max_output_bytes\":262144,"
					     "\"partial_timeout_ms\":120000}}",
					     0644, NULL),
			 0);
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char echo[70000];
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* stopped for good if the test fails before its kill */
		char *pipeline = malloc(64 * sizeof(echo));
		size_t len = 0;
		int sub = client_connect(d.sock), pipe_fd = client_connect(d.sock),
		    partial = client_connect(d.sock);
		char *line = sub < 0 ? NULL
				     : raw_call(sub, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
						     "\"events.subscribe\",\"params\":{\"topics\":"
						     "[\"peer\",\"config\"]}}\n");
		if (!line || !strstr(line, "\"result\"") || pipe_fd < 0 || partial < 0 || !pipeline)
			_exit(100);
		free(line);
		memset(echo, 'e', sizeof(echo));
		for (int i = 0; i < 64; i++)
			len += (size_t)sprintf(pipeline + len,
					       "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\","
					       "\"params\":[\"%.65536s\"]}\n",
					       i, echo);
		size_t sent = client_send_until_full(pipe_fd, pipeline, len);
		(void)!write(partial, "{\"jsonrpc\":\"2.0\",\"id\":1,", 24);
		(void)!write(ready[1], &sent, sizeof(sent));
		raise(SIGSTOP); /* reads nothing from now on */
		_exit(0);
	}
	close(ready[1]);
	size_t sent = 0;
	assert_int_equal(read(ready[0], &sent, sizeof(sent)), sizeof(sent));
	close(ready[0]);
	printf("# the stopped peer got %zu of %d bytes of echoes in before the daemon stopped "
	       "reading it\n",
	       sent, 64 * 65600);
	assert_true(sent < 64 * 65536 / 2);
	/* Others: a new connection each round (a peer event for the subscriber), a
	 * config.set with 4 KB (a config event), a ping. */
	char value[4200];
	memset(value, 'v', 4096);
	value[4096] = '\0';
	long worst = 0, total = now_ms();
	for (int i = 0; i < ROUNDS; i++) {
		long t = now_ms();
		int fd = client_connect(d.sock);
		json_t *r = client_call_method(fd, 1, "config.set",
					       json_pack("{s:s,s:s}", "key", "stall/k", "value", value));
		assert_non_null(json_object_get(r, "result"));
		json_decref(r);
		char *line = (client_send_str(fd, PING "\n"), client_recv_line(fd, 10000));
		assert_non_null(line);
		assert_non_null(strstr(line, "pong"));
		free(line);
		client_close(fd);
		if (now_ms() - t > worst)
			worst = now_ms() - t;
	}
	total = now_ms() - total;
	/*
	 * The subscriber is cut off (its events overflowed): subscribed to
	 * nothing, so nothing more is queued for it, and closed once its
	 * overflow notice is written or partial_timeout_ms (here 120 s) has
	 * passed, whichever is first (udsrpc(7) EVENTS); the pipeline and the
	 * partial line stay.
	 */
	int fd = client_connect(d.sock);
	json_t *list = client_call_method(fd, 1, "peer.list", NULL);
	size_t i, left = 0, subscribed = 0;
	json_t *p;
	json_array_foreach(json_object_get(json_object_get(list, "result"), "peers"), i, p)
	{
		if (json_integer_value(json_object_get(p, "pid")) != pid)
			continue;
		left++;
		subscribed += json_array_size(json_object_get(p, "topics")) > 0;
	}
	json_decref(list);
	client_close(fd);
	printf("# %d rounds of others in %ld ms, the slowest %ld ms; the stopped peer keeps %zu "
	       "of its 3 connections, %zu of them subscribed\n",
	       ROUNDS, total, worst, left, subscribed);
	/* Stalled would be the 10 s receive timeout; a loaded machine's hiccup is not. */
	assert_true(worst < 5000);
	assert_int_equal(left, 3);
	assert_int_equal(subscribed, 0);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "events not read"));
	free(log);
	/* A graceful stop does not wait for it to read: 10 s of grace, then it is closed. */
	long t = now_ms();
	assert_int_equal(daemon_stop(&d), 0);
	long stop_ms = now_ms() - t;
	printf("# graceful stop with the peer still stopped: %ld ms\n", stop_ms);
	assert_true(stop_ms < 15000);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	daemon_cleanup(&d);
}

/* ---- one uid in a loop: what it can make the daemon write and hold ------ */

#define LIST "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.list\"}\n"

/*
 * The flooding client, run as "<self> --flood SOCK DENY_MS REFUSE_MS" from
 * a long path: for DENY_MS a new connection per config.list (denied to
 * it), then, holding 4 connections (its max_connections_per_uid), for
 * REFUSE_MS a new connection per try, each refused. Prints "DENIED REFUSED".
 */
static int flood_main(const char *sock, long deny_ms, long refuse_ms)
{
	long deadline = now_ms() + deny_ms;
	unsigned denied = 0, refused = 0;
	int held[4];

	/* A connection the daemon has not seen closed yet may still count
	 * against the 4: what is refused then is counted too (it is logged). */
	for (unsigned i = 0; i < 200000 && now_ms() < deadline; i++) {
		int fd = client_connect(sock);
		char *line = fd < 0 ? NULL : raw_call(fd, LIST);
		denied += line && strstr(line, "-32001") != NULL;
		refused += line && strstr(line, "-32003") != NULL;
		free(line);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0, tries = 0; i < 4 && tries < 1000; tries++) {
		held[i] = client_connect(sock);
		char *line = held[i] < 0 ? NULL : raw_call(held[i], PING "\n");
		if (line && strstr(line, "\"result\"")) {
			i++;
		} else {
			refused += line && strstr(line, "-32003") != NULL;
			if (held[i] >= 0)
				close(held[i]);
			usleep(10000);
		}
		free(line);
	}
	deadline = now_ms() + refuse_ms;
	for (unsigned i = 0; i < 200000 && now_ms() < deadline; i++) {
		int fd = client_connect(sock);
		char buf[256];
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			refused += strstr(buf, "-32003") != NULL;
		}
		if (fd >= 0)
			close(fd);
	}
	printf("%u %u\n", denied, refused);
	return 0;
}

/* Copies this program to dir/<components...>/flood, each dir 0755; the path (static). */
static const char *copy_self_deep(const char *dir, const char *const *parts)
{
	static char path[PATH_MAX];
	char buf[65536];
	size_t n = (size_t)snprintf(path, sizeof(path), "%s", dir);

	for (; *parts; parts++) {
		n += (size_t)snprintf(path + n, sizeof(path) - n, "/%s", *parts);
		assert_true(n < sizeof(path) - 16);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path + n, sizeof(path) - n, "/flood");
	FILE *in = fopen("/proc/self/exe", "rb"), *out = fopen(path, "wb");
	assert_non_null(in);
	assert_non_null(out);
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, k, out), k);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

/* Lines of text holding needle; *sum adds the number right after it (when sum). */
static unsigned count_lines(const char *text, const char *needle, unsigned long *sum)
{
	unsigned lines = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) {
		lines++;
		if (sum)
			*sum += strtoul(p + strlen(needle), NULL, 10);
	}
	return lines;
}

/*
 * The finding: a loop of new connections, each making one denied call from
 * a binary at a long path, wrote 94 MB of log in 5 s. Lines about one uid
 * (its denials, its refused connections) are at most 10 a second, then one
 * line says how many were held back; every one is either logged or counted.
 * The exe path carries a newline and a journald prefix: it stays one line.
 */
static void test_denial_log_bounded(void **state)
{
	enum { DENY_MS = 3000, REFUSE_MS = 1500 };
	static const char *const env[] = {"JOURNAL_STREAM=8:12345", NULL};
	struct daemon d = {.env = env};
	char a[201], b[201];
	int out[2];

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs root: the flood runs as uid 65534, whose denials are logged */
	memset(a, 'a', 200), a[200] = '\0';
	memset(b, 'b', 200), b[200] = '\0';
	daemon_prepare(&d);
	assert_int_equal(chmod(d.dir, 0755), 0); /* so uid 65534 can reach the socket and binary */
	const char *const parts[] = {"x\n<3>FORGED by a path", a, b, a, b, a, b, a, b, a, b, a, b, a, NULL};
	const char *exe = copy_self_deep(d.dir, parts);
	printf("# flooding from an exe path of %zu bytes\n", strlen(exe));
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"max_connections_per_uid\":4}}", 0644, NULL), 0);
	assert_int_equal(pipe(out), 0);
	long t0 = now_ms();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char deny[16], refuse[16];
		dup2(out[1], 1);
		close(out[0]);
		/* Long enough for 100 of each on a loaded machine under valgrind too. */
		snprintf(deny, sizeof(deny), "%d", harness_ms(DENY_MS));
		snprintf(refuse, sizeof(refuse), "%d", harness_ms(REFUSE_MS));
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		execl(exe, "flood", "--flood", d.sock, deny, refuse, (char *)NULL);
		_exit(101);
	}
	close(out[1]);
	char counts[64] = "";
	ssize_t n = read(out[0], counts, sizeof(counts) - 1);
	close(out[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	unsigned denied = 0, refused = 0;
	assert_int_equal(sscanf(counts, "%u %u", &denied, &refused), 2);
	long secs = (now_ms() - t0 + 999) / 1000;
	/* The count of the last second comes with the next sweep (about a second). */
	char *log = NULL;
	unsigned long suppressed = 0;
	unsigned lines = 0, noted = 0;
	for (long deadline = now_ms() + harness_ms(5000);;) {
		free(log);
		log = daemon_log(&d);
		suppressed = 0;
		noted = count_lines(log, "uid 65534: ", &suppressed);
		lines = count_lines(log, "denied config.list to uid 65534", NULL) +
			count_lines(log, "uid 65534 is at max_connections_per_uid", NULL);
		if (lines + suppressed >= denied + refused || now_ms() > deadline)
			break;
		usleep(100000);
	}
	size_t size = strlen(log);
	printf("# %u denied calls and %u refused connections in %ld s: %u lines logged, %lu "
	       "suppressed in %u line(s); log %zu bytes\n",
	       denied, refused, secs, lines, suppressed, noted, size);
	assert_true(denied > 100 && refused > 100); /* the loop ran */
	assert_int_equal(lines + suppressed, denied + refused);
	assert_true(noted > 0);
	/* 10 a second, and one line of counts per second, over the run and the sweep after it. */
	assert_true(lines <= 10 * (unsigned)(secs + 3));
	assert_true(size < (size_t)(11 * (secs + 3)) * 2200 + 4096);
	/* The path's newline is escaped: nothing starts a line of its own or a priority. */
	assert_non_null(strstr(log, "\\x0a<3>FORGED by a path"));
	assert_null(strstr(log, "\n<3>FORGED"));
	free(log);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--whoami") == 0)
		return whoami_main(argv[2]);
	if (argc == 5 && strcmp(argv[1], "--flood") == 0)
		return flood_main(argv[2], atol(argv[3]), atol(argv[4]));
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exe_null_when_faked),
	    cmocka_unit_test(test_batch_reply_obeys_max_output_bytes),
	    cmocka_unit_test(test_unread_batches_stay_bounded),
	    cmocka_unit_test(test_subscribe_after_overflow_close),
	    cmocka_unit_test(test_raw_name_peer_shows),
	    cmocka_unit_test(test_root_reserve),
	    cmocka_unit_test(test_state_dir_checks),
	    cmocka_unit_test(test_files_of_others),
	    cmocka_unit_test(test_socket_dir_checks),
	    cmocka_unit_test(test_socket_symlink_race),
	    cmocka_unit_test(test_denial_log_bounded),
	    cmocka_unit_test(test_uid_output_bound),
	    cmocka_unit_test(test_stopped_peer_cannot_stall_others),
	};
	return cmocka_run_group_tests_name("hardening", tests, NULL, NULL) ? 1 : 0;
}

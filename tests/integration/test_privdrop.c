/*
 * test_privdrop.c — config "user"/"group": started as root, udsrpcd binds,
 * opens its state, then serves as that user with no way back; and it refuses
 * a state dir or socket directory that others could tamper with. Needs root
 * (exits 77 otherwise) and the nobody user and nogroup group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define STRANGER 12345 /* neither root nor the daemon's user */

static uid_t nobody_uid;
static gid_t nogroup_gid;

/* The socket's directory must be searchable by the other uids this test connects as. */
static void prepare(struct daemon *d)
{
	daemon_prepare(d);
	assert_int_equal(chmod(d->dir, 0711), 0);
}

static json_t *call(const char *sock, const char *req)
{
	int fd = client_connect(sock);
	assert_true(fd >= 0);
	json_t *r = client_call(fd, req);
	client_close(fd);
	assert_non_null(r);
	return r;
}

static long error_code(const json_t *r)
{
	return (long)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

/*
 * Send one request from a child that is uid/gid (no supplementary groups);
 * the reply, parsed. The child connects after the switch, so SO_PEERCRED
 * carries the new ids.
 */
static json_t *call_as(uid_t uid, gid_t gid, const char *sock, const char *req)
{
	int out[2];
	char buf[4096];
	size_t len = 0;
	int status;

	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(out[0]);
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(2);
		int fd = client_connect(sock);
		char *line = NULL;
		if (fd < 0 || client_send_str(fd, req) < 0 || client_send_str(fd, "\n") < 0 ||
		    !(line = client_recv_line(fd, 10000)))
			_exit(3);
		if (write(out[1], line, strlen(line)) < 0)
			_exit(4);
		_exit(0);
	}
	close(out[1]);
	for (ssize_t n;
	     len < sizeof(buf) - 1 && (n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += (size_t)n;
	buf[len] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	json_t *r = json_loads(buf, 0, NULL);
	assert_non_null(r);
	return r;
}

/* The value of "Name:" in /proc/PID/status, malloc'd. */
static char *proc_status_field(pid_t pid, const char *name)
{
	char path[64], line[512];
	size_t n = strlen(name);
	char *val = NULL;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (!val && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			val = strdup(v);
		}
	}
	fclose(f);
	assert_non_null(val);
	return val;
}

static void test_serves_as_nobody(void **state)
{
	struct daemon d = {0};
	char want[64], *v;
	struct stat st;
	json_t *r;

	prepare(&d);
	assert_int_equal(
	    daemon_spawn_config(&d, "{\"user\":\"nobody\",\"group\":\"nogroup\"}", 0644, NULL), 0);

	/* daemon.info names the uid that serves, and the kernel agrees. */
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
	                 nobody_uid);
	json_decref(r);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)nobody_uid, (unsigned)nobody_uid,
	         (unsigned)nobody_uid, (unsigned)nobody_uid);
	assert_string_equal(v = proc_status_field(d.pid, "Uid"), want);
	free(v);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)nogroup_gid, (unsigned)nogroup_gid,
	         (unsigned)nogroup_gid, (unsigned)nogroup_gid);
	assert_string_equal(v = proc_status_field(d.pid, "Gid"), want);
	free(v);
	assert_string_equal(v = proc_status_field(d.pid, "NoNewPrivs"), "1");
	free(v);
	assert_string_equal(v = proc_status_field(d.pid, "CapEff"), "0000000000000000");
	free(v);
	/* Root's supplementary groups are gone too: only nobody's own remain. */
	v = proc_status_field(d.pid, "Groups");
	for (char *tok = strtok(v, " "); tok; tok = strtok(NULL, " "))
		assert_int_not_equal(strtoul(tok, NULL, 10), 0);
	free(v);

	/* The state dir was created for it, and the store works through it. */
	assert_int_equal(stat(d.state, &st), 0);
	assert_int_equal(st.st_uid, nobody_uid);
	assert_int_equal(st.st_gid, nogroup_gid);
	assert_int_equal(st.st_mode & 0777, 0700);
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\","
	                 "\"params\":{\"key\":\"privdrop/k\",\"value\":42}}");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r, "result"), "revision")), 1);
	json_decref(r);
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"config.get\","
	                 "\"params\":{\"key\":\"privdrop/k\"}}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "value")),
	                 42);
	json_decref(r);

	/* Admin methods: root may ([0, "self"]); "self" is now nobody, not root and
	 * not anyone else. */
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"daemon.log_level\","
	                 "\"params\":{\"level\":\"info\"}}");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "result"), "level")), "info");
	json_decref(r);
	r = call_as(nobody_uid, nogroup_gid, d.sock,
	            "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"daemon.log_level\","
	            "\"params\":{\"level\":\"debug\"}}");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "result"), "level")), "debug");
	json_decref(r);
	r = call_as(STRANGER, STRANGER, d.sock,
	            "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"daemon.log_level\","
	            "\"params\":{\"level\":\"error\"}}");
	assert_int_equal(error_code(r), -32001);
	json_decref(r);

	/* Reload reads the files again, now as nobody. */
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"daemon.reload\"}");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r, "result"), "policy_rules")), 3);
	json_decref(r);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "running as uid"));
	assert_null(strstr(log, "not readable"));
	free(log);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

/* A config file only root can read: said at start, and reload fails without harm. */
static void test_unreadable_config_is_reported(void **state)
{
	struct daemon d = {0};
	prepare(&d);
	assert_int_equal(daemon_spawn_config(&d, "{\"user\":\"nobody\"}", 0600, NULL), 0);
	/* Answered once serving, which is after the check (connect alone is not). */
	json_t *r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	json_decref(r);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, d.config));
	assert_non_null(strstr(log, "not readable by uid"));
	free(log);
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.reload\"}");
	assert_int_equal(error_code(r), -32603);
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_object_get(json_object_get(r, "error"), "data"), "reason")),
	                       d.config));
	json_decref(r);
	r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	assert_int_equal(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}

static void assert_refused(struct daemon *d, int rc, int status, const char *path, const char *why)
{
	/* The socket listens before the state dir is checked: the harness may
	 * have connected before the daemon gave up. */
	if (rc == 0) {
		status = daemon_wait(d, 60000);
		assert_int_not_equal(status, -1);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	char *log = daemon_log(d);
	print_message("refused: %s", log);
	assert_non_null(strstr(log, path));
	assert_non_null(strstr(log, why));
	free(log);
}

static void test_world_writable_state_dir_refused(void **state)
{
	struct daemon d = {0};
	int status = 0;

	prepare(&d);
	assert_int_equal(mkdir(d.state, 0700), 0);
	assert_int_equal(chmod(d.state, 0777), 0);
	int rc = daemon_spawn(&d, NULL, &status);
	assert_refused(&d, rc, status, d.state, "writable by group or others");
	daemon_cleanup(&d);
}

/* A state dir that exists but is not the user's: named, with the chown that fixes it. */
static void test_state_dir_of_another_user_refused(void **state)
{
	struct daemon d = {0};
	int status = 0;

	prepare(&d);
	assert_int_equal(mkdir(d.state, 0700), 0);
	int rc = daemon_spawn_config(&d, "{\"user\":\"nobody\"}", 0644, &status);
	assert_refused(&d, rc, status, d.state, "chown");
	daemon_cleanup(&d);
}

static void test_socket_dir_ownership(void **state)
{
	struct daemon d = {0};
	char sockdir[80];
	struct stat st;
	int status = 0;

	prepare(&d);
	assert_true((size_t)snprintf(sockdir, sizeof(sockdir), "%s/run", d.dir) < sizeof(sockdir));
	assert_int_equal(mkdir(sockdir, 0755), 0);
	assert_int_equal(chown(sockdir, STRANGER, STRANGER), 0);
	snprintf(d.sock, sizeof(d.sock), "%s/udsrpcd.sock", sockdir);
	/* Owned by a third user: refused, and nothing was created there. */
	int rc = daemon_spawn(&d, NULL, &status);
	assert_refused(&d, rc, status, sockdir, "socket directory");
	assert_int_not_equal(stat(d.sock, &st), 0);

	/* Owned by the user udsrpcd serves as: fine, and that user can remove
	 * the socket on the way out. */
	assert_int_equal(chown(sockdir, nobody_uid, nogroup_gid), 0);
	assert_int_equal(daemon_spawn_config(&d, "{\"user\":\"nobody\"}", 0644, NULL), 0);
	json_t *r = call(d.sock, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "pong");
	json_decref(r);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_not_equal(stat(d.sock, &st), 0);
	daemon_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_serves_as_nobody),
	    cmocka_unit_test(test_unreadable_config_is_reported),
	    cmocka_unit_test(test_world_writable_state_dir_refused),
	    cmocka_unit_test(test_state_dir_of_another_user_refused),
	    cmocka_unit_test(test_socket_dir_ownership),
	};
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0) {
		printf("test_privdrop: skipped: switching users needs root (uid %u)\n",
		       (unsigned)geteuid());
		return 77;
	}
	if (!(pw = getpwnam("nobody")) || !(gr = getgrnam("nogroup"))) {
		printf("test_privdrop: skipped: no 'nobody' user or 'nogroup' group here\n");
		return 77;
	}
	nobody_uid = pw->pw_uid;
	nogroup_gid = gr->gr_gid;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* policy_fixture.c — see policy_fixture.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_fixture.h"

uid_t nobody_uid;
gid_t nobody_gid;
char self_exe[PATH_MAX];

/* The child's first message on ctl. */
struct kid_hello {
	pid_t pid;
	int err; /* errno of the identity change, 0 when it worked */
};


/* ---- small helpers ------------------------------------------------------ */

void write_file(const char *path, const char *text)
{
	char tmp[200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	/* Renamed into place: a reload never sees half a file. */
	assert_int_equal(rename(tmp, path), 0);
}

/* How often needle occurs in the daemon's log so far. */
int log_count(const struct daemon *d, const char *needle)
{
	char *log = daemon_log(d);
	int n = 0;
	assert_non_null(log);
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

/* The log is written before the reply or by a signal handler we cannot
 * observe otherwise: poll it, for a bounded time. */
bool wait_log_count(const struct daemon *d, const char *needle, int want, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	do {
		if (log_count(d, needle) >= want)
			return true;
		usleep(20000);
	} while (now_ms() < deadline);
	return false;
}

/* Closes every descriptor from 3 up except keep: a child must not hold copies
 * of the parent's sockets, or closing one in the parent would not reach the daemon. */
void close_inherited(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0u, 0);
}

int drop_identity(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
	/* Groups first and uid last: once the uid is gone, so is the right to change the rest. */
	if (setgroups(ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return errno;
	return 0;
}

/* ---- children ----------------------------------------------------------- */

static void send_fd(int sock, int fd, int err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memset(cbuf, 0, sizeof(cbuf));
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		_exit(3);
}

__attribute__((noreturn)) void kid_main(int ctl, const char *sock, uid_t uid, gid_t gid,
                                               const gid_t *groups, size_t ngroups)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct kid_hello hello;
	char cmd;

	/* Never outlive the test, even if it dies before closing ctl. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(120);
	close_inherited(ctl);
	hello.err = drop_identity(uid, gid, groups, ngroups);
	hello.pid = getpid();
	if (write(ctl, &hello, sizeof(hello)) != sizeof(hello) || hello.err)
		_exit(2);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	while (read(ctl, &cmd, 1) == 1) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			err = errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		send_fd(ctl, fd, err);
		if (fd >= 0)
			close(fd);
	}
	_exit(0);
}

static bool ctl_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, KID_TIMEOUT_MS) == 1;
}

/* Fork a child that becomes uid/gid with exactly these supplementary groups. */
struct kid *kid_spawn(struct fx *f, uid_t uid, gid_t gid, const gid_t *groups,
                             size_t ngroups)
{
	int sv[2];
	struct kid_hello hello;

	assert_true(f->nkids < MAX_KIDS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		kid_main(sv[1], f->d.sock, uid, gid, groups, ngroups);
	close(sv[1]);
	struct kid *k = &f->kids[f->nkids++];
	k->pid = pid;
	k->ctl = sv[0];
	assert_true(ctl_readable(k->ctl));
	assert_int_equal(read(k->ctl, &hello, sizeof(hello)), sizeof(hello));
	if (hello.err)
		fail_msg("child could not become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
		         strerror(hello.err));
	k->reported_pid = hello.pid;
	assert_int_equal(k->reported_pid, k->pid);
	return k;
}

struct kid *kid_nobody(struct fx *f)
{
	return kid_spawn(f, nobody_uid, nobody_gid, NULL, 0);
}

static void fx_track(struct fx *f, int fd)
{
	assert_true(fd >= 0);
	assert_true(f->nfds < MAX_FDS);
	f->fds[f->nfds++] = fd;
}

/* A connection made by the child, now in our hands. */
int kid_connect(struct fx *f, struct kid *k)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	int err = -1, fd = -1;
	struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};

	assert_int_equal(write(k->ctl, "c", 1), 1);
	assert_true(ctl_readable(k->ctl));
	assert_int_equal(recvmsg(k->ctl, &mh, MSG_CMSG_CLOEXEC), sizeof(err));
	if (err)
		fail_msg("child %d could not connect: %s", (int)k->pid, strerror(err));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	fx_track(f, fd);
	return fd;
}

int root_connect(struct fx *f)
{
	int fd = client_connect(f->d.sock);
	fx_track(f, fd);
	return fd;
}

void fx_close(struct fx *f, int fd)
{
	for (size_t i = 0; i < f->nfds; i++) {
		if (f->fds[i] == fd) {
			f->fds[i] = f->fds[--f->nfds];
			break;
		}
	}
	client_close(fd);
}

/* Waits (bounded) for a child; its status, or -1 after killing it. */
int reap(pid_t pid, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status;
	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(5000);
	} while (now_ms() < deadline);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Tell a child to go and check it went cleanly. */
void kid_finish(struct kid *k)
{
	close(k->ctl);
	k->ctl = -1;
	int status = reap(k->pid, KID_TIMEOUT_MS);
	k->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < f->nfds; i++)
		client_close(f->fds[i]);
	for (size_t i = 0; i < f->nkids; i++) {
		if (f->kids[i].ctl >= 0)
			close(f->kids[i].ctl);
		if (f->kids[i].pid > 0) {
			kill(f->kids[i].pid, SIGKILL);
			waitpid(f->kids[i].pid, NULL, 0);
		}
	}
	daemon_cleanup(&f->d);
	free(f);
	return 0;
}

/*
 * daemon_prepare + daemon_spawn with an optional config and policy file.
 * mkdtemp made the directory 0700; children of other uids must reach the
 * socket in it (the socket itself is 0666 by default).
 */
void fx_start(struct fx *f, const char *config_json, const char *policy_json)
{
	const char *args[5];
	int n = 0;

	daemon_prepare(&f->d);
	assert_int_equal(chmod(f->d.dir, 0755), 0);
	snprintf(f->config, sizeof(f->config), "%s/udsrpcd.json", f->d.dir);
	snprintf(f->policy, sizeof(f->policy), "%s/policy.json", f->d.dir);
	if (config_json) {
		write_file(f->config, config_json);
		args[n++] = "-c";
		args[n++] = f->config;
	}
	if (policy_json) {
		write_file(f->policy, policy_json);
		args[n++] = "-p";
		args[n++] = f->policy;
	}
	args[n] = NULL;
	if (daemon_spawn(&f->d, args, NULL) < 0) {
		char *log = daemon_log(&f->d);
		fail_msg("udsrpcd did not start:\n%s", log ? log : "");
	}
}

void fx_stop(struct fx *f)
{
	int status = daemon_stop(&f->d);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- replies ------------------------------------------------------------ */

json_t *call(int fd, const char *req)
{
	json_t *r = client_call(fd, req);
	if (!r)
		fail_msg("no reply to %s", req);
	return r;
}

void assert_json_equal(json_t *got, json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		print_error("got:  %s\nwant: %s\n", g ? g : "(null)", w ? w : "(null)");
		free(g);
		free(w);
		fail();
	}
}

/* The whole reply, exactly: {"jsonrpc":"2.0","id":id,"result":<result_json>}. */
void expect_result(int fd, const char *req, json_int_t id, const char *result_json)
{
	json_t *r = call(fd, req);
	json_t *want = json_pack("{s:s,s:I,s:o}", "jsonrpc", "2.0", "id", id, "result",
	                         json_loads(result_json, JSON_DECODE_ANY, NULL));
	assert_non_null(want);
	assert_json_equal(r, want);
	json_decref(want);
	json_decref(r);
}

/* The whole -32001 reply, exactly, data naming this peer and nothing else. */
void assert_denied_reply(json_t *r, json_int_t id, const char *method, uid_t uid, gid_t gid,
                                pid_t pid)
{
	json_t *want = json_pack("{s:s,s:I,s:{s:i,s:s,s:{s:s,s:I,s:I,s:I}}}", "jsonrpc", "2.0",
	                         "id", id, "error", "code", -32001, "message", "Permission denied",
	                         "data", "method", method, "uid", (json_int_t)uid, "gid",
	                         (json_int_t)gid, "pid", (json_int_t)pid);
	assert_non_null(want);
	assert_json_equal(r, want);
	json_decref(want);
}

/* k is the child that made the connection; NULL for one this test process made. */
void expect_denied(int fd, const char *req, json_int_t id, const char *method,
                          const struct kid *k, uid_t uid, gid_t gid)
{
	json_t *r = call(fd, req);
	assert_denied_reply(r, id, method, uid, gid, k ? k->pid : getpid());
	json_decref(r);
}

int error_code(json_t *r)
{
	return (int)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

json_t *root_call(struct fx *f, const char *req)
{
	int fd = root_connect(f);
	json_t *r = call(fd, req);
	fx_close(f, fd);
	return r;
}

int policy_fixture_main(const char *prog, const struct CMUnitTest *tests, size_t n)
{
	struct passwd *pw;
	ssize_t len;

	/* CTest reads 77 as "skipped" (SKIP_RETURN_CODE in tests/integration/CMakeLists.txt). */
	if (geteuid() != 0) {
		printf("%s: skipped: needs root to run clients as other uids "
		       "(setgroups/setresgid/setresuid)\n", prog);
		return 77;
	}
	if (!(pw = getpwnam("nobody"))) {
		printf("%s: skipped: no user 'nobody' to run clients as\n", prog);
		return 77;
	}
	/* The log is read as text here: keep its "udsrpcd: warning: " prefixes
	 * even when this runs under systemd (which would make them "<4>"). */
	unsetenv("JOURNAL_STREAM");
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", prog, strerror(errno));
		return 99;
	}
	self_exe[len] = '\0';
	return _cmocka_run_group_tests(prog, tests, n, NULL, NULL);
}

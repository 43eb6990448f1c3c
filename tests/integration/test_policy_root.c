/*
 * test_policy_root.c — the policy of udsrpc(7) on real connections made
 * by other users: forked children drop to another uid/gid/group set before
 * they connect, and the daemon judges them by what the kernel says.
 * Needs root (to change identity); without it the whole program skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy_fixture.h"

extern char **environ;

/* ---- test-only helpers ---------------------------------------------------- */

/*
 * A nobody child with this pid, its process gone: the kernel hands out the
 * number after ns_last_pid next, so it is set just before the fork. Other
 * processes forking meanwhile take it now and then: a bounded number of
 * tries. NULL (with the reason printed) where ns_last_pid cannot be set.
 */
static struct kid *kid_nobody_with_pid(struct fx *f, pid_t pid)
{
	for (int tries = 0; tries < 50; tries++) {
		FILE *last = fopen("/proc/sys/kernel/ns_last_pid", "w");
		if (!last || fprintf(last, "%d", (int)pid - 1) < 0 || fclose(last) != 0) {
			printf("cannot set /proc/sys/kernel/ns_last_pid (%s): no recycled pid\n",
			       strerror(errno));
			return NULL;
		}
		struct kid *k = kid_nobody(f);
		if (k->pid == pid)
			return k;
		kid_finish(k);
		f->nkids--;
	}
	fail_msg("pid %d did not come round again in 50 forks", (int)pid);
	return NULL;
}

/* Past the policy: config.get of an absent key is -32010, which only the handler says. */
static void expect_not_found(int fd)
{
	json_t *r = call(fd, CONFIG_GET);
	assert_int_equal(error_code(r), -32010);
	json_decref(r);
}

static json_int_t stat_at(json_t *stats, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(json_object_get(stats, a), b);
	if (c)
		v = json_object_get(v, c);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}


/* ---- cases ---------------------------------------------------------------- */

/* No -p: the embedded default gives nobody the harmless methods and nothing else. */
static void test_default_policy(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL, NULL);
	/* The default lets root reload: no lock-out warning. */
	assert_int_equal(log_count(&f->d, "leaves root no way"), 0);
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k);

	expect_result(fd, PING, 1, "\"pong\"");
	expect_denied(fd, CONFIG_SET, 2, "config.set", k, nobody_uid, nobody_gid);
	expect_denied(fd, SHUTDOWN, 4, "daemon.shutdown", k, nobody_uid, nobody_gid);

	/* Another user, uid and gid distinct: the data names each in its place. */
	struct kid *other = kid_spawn(f, OTHER_UID, OTHER_GID, NULL, 0);
	int fo = kid_connect(f, other);
	expect_result(fo, PING, 1, "\"pong\"");
	expect_denied(fo, CONFIG_SET, 2, "config.set", other, OTHER_UID, OTHER_GID);
	kid_finish(other);

	json_t *r = call(fd, WHOAMI);
	json_t *res = json_object_get(r, "result");
	assert_int_equal(json_integer_value(json_object_get(res, "uid")), nobody_uid);
	assert_int_equal(json_integer_value(json_object_get(res, "gid")), nobody_gid);
	assert_int_equal(json_integer_value(json_object_get(res, "pid")), k->reported_pid);
	assert_int_equal(json_array_size(json_object_get(res, "groups")), 0);
	assert_string_equal(json_string_value(json_object_get(res, "user")), "nobody");
	assert_string_equal(json_string_value(json_object_get(res, "exe")), self_exe);
	json_decref(r);

	/* The denied shutdown did nothing: the daemon still serves and stops cleanly. */
	r = root_call(f, REQ(8, "daemon.info"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
	                 0);
	json_decref(r);
	fx_close(f, fd);
	kid_finish(k);
	fx_stop(f);
}

/* uids by number and by name, each in a rule of its own so either form is proven alone. */
static void test_uids_rule(void **state)
{
	struct fx *f = *state;

	char policy[512];

	snprintf(policy, sizeof(policy),
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"uids\":[%u]},"
	         "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"uids\":[\"nobody\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"ping\"]}]}",
	         (unsigned)nobody_uid);
	fx_start(f, NULL, policy);
	struct kid *nob = kid_nobody(f);
	struct kid *other = kid_spawn(f, OTHER_UID, OTHER_GID, NULL, 0);
	int fn = kid_connect(f, nob), fo = kid_connect(f, other), fr = root_connect(f);

	expect_result(fn, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}"); /* rule 1: 65534 */
	expect_not_found(fn);                                /* rule 2: "nobody" */
	expect_denied(fn, CONFIG_SET, 2, "config.set", nob, nobody_uid, nobody_gid);

	expect_result(fo, PING, 1, "\"pong\"");
	expect_denied(fo, CONFIG_LIST, 6, "config.list", other, OTHER_UID, OTHER_GID);
	expect_denied(fo, CONFIG_GET, 5, "config.get", other, OTHER_UID, OTHER_GID);
	/* A policy file replaces the default: root has no rule here, so no exemption. */
	expect_denied(fr, CONFIG_LIST, 6, "config.list", NULL, 0, 0);

	kid_finish(nob);
	kid_finish(other);
	fx_stop(f);
}

/* A groups rule matches a supplementary group the peer got from setgroups(). */
static void test_groups_supplementary(void **state)
{
	struct fx *f = *state;
	struct group *gr = getgrnam("adm");

	if (!gr) {
		print_message("no group 'adm' on this machine; cannot name a group by name\n");
		skip();
	}
	gid_t adm = gr->gr_gid;
	assert_int_not_equal(adm, nobody_gid);
	fx_start(f, NULL,
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"groups\":[\"adm\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"peer.whoami\"]}]}");
	struct kid *member = kid_spawn(f, nobody_uid, nobody_gid, &adm, 1);
	struct kid *sibling = kid_nobody(f);
	struct kid *primary = kid_spawn(f, nobody_uid, adm, NULL, 0);
	int fm = kid_connect(f, member), fs = kid_connect(f, sibling), fp = kid_connect(f, primary);

	/* The member's primary gid is not adm: only SO_PEERGROUPS can have matched. */
	json_t *r = call(fm, WHOAMI);
	json_t *res = json_object_get(r, "result");
	assert_int_equal(json_integer_value(json_object_get(res, "gid")), nobody_gid);
	json_t *groups = json_pack("[I]", (json_int_t)adm);
	assert_json_equal(json_object_get(res, "groups"), groups);
	json_decref(groups);
	json_decref(r);
	expect_result(fm, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");

	expect_denied(fs, CONFIG_LIST, 6, "config.list", sibling, nobody_uid, nobody_gid);
	/* And a primary gid counts as well (§4: "match primary or supplementary"). */
	expect_result(fp, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");

	kid_finish(member);
	kid_finish(sibling);
	kid_finish(primary);
	fx_stop(f);
}

/* A pids rule written for a child that is already running, applied by SIGHUP. */
static void test_pids_rule(void **state)
{
	struct fx *f = *state;
	char policy[512];

	fx_start(f, NULL,
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}");
	struct kid *chosen = kid_nobody(f);
	struct kid *sibling = kid_nobody(f);
	/* Opened under the old policy: the identity stays, the verdict follows the reload. */
	int early = kid_connect(f, chosen);
	expect_denied(early, CONFIG_LIST, 6, "config.list", chosen, nobody_uid, nobody_gid);

	snprintf(policy, sizeof(policy),
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"pids\":[%d]},"
	         "{\"effect\":\"allow\",\"methods\":[\"ping\",\"peer.whoami\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}",
	         (int)chosen->pid);
	write_file(f->policy, policy);
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	assert_true(wait_log_count(&f->d, "reloaded: 3 policy rule(s)", 1, 5000));

	int fc = kid_connect(f, chosen), fs = kid_connect(f, sibling);
	expect_result(fc, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_result(early, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_denied(fs, CONFIG_LIST, 6, "config.list", sibling, nobody_uid, nobody_gid);
	json_t *r = call(fs, WHOAMI); /* the sibling really is the same uid */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
	                 nobody_uid);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "pid")),
	                 sibling->pid);
	json_decref(r);

	/*
	 * The entry is the process that had the pid at load: once it is gone, a
	 * new process given the same pid is not it (issue 18: the number was
	 * won after 32,294 forks). Its connections made before it died stay its own.
	 */
	pid_t pinned = chosen->pid;
	kid_finish(chosen);
	struct kid *reused = kid_nobody_with_pid(f, pinned);
	if (reused) {
		int fr = kid_connect(f, reused);
		r = call(fr, WHOAMI);
		assert_int_equal(
		    json_integer_value(json_object_get(json_object_get(r, "result"), "pid")), pinned);
		json_decref(r);
		expect_denied(fr, CONFIG_LIST, 6, "config.list", reused, nobody_uid, nobody_gid);
		expect_result(fc, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
		kid_finish(reused);
	}
	kid_finish(sibling);

	/* Loaded after the process is gone, the entry matches no one, and says so. */
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	assert_true(wait_log_count(&f->d, "reloaded: 3 policy rule(s)", 2, 5000));
	snprintf(policy, sizeof(policy),
	         "policy: rule 1: pids: no process has pid %d now: the entry matches no one",
	         (int)pinned);
	assert_int_equal(log_count(&f->d, policy), 1);
	fx_stop(f);
}

/*
 * Runs policy_client as uid/gid with these requests; its stdout, malloc'd.
 * The binary is opened before the identity changes and run with fexecve, so
 * the build directory need not be searchable by the target uid.
 */
static char *run_client_as(uid_t uid, gid_t gid, const char *client, const char *sock,
                           const char *const *reqs, pid_t *ret_pid)
{
	const char *argv[8] = {"policy_client", sock};
	int n = 2, out[2];

	for (; reqs[n - 2] && n < 7; n++)
		argv[n] = reqs[n - 2];
	argv[n] = NULL;
	int exe = open(client, O_RDONLY | O_CLOEXEC);
	assert_true(exe >= 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		close_inherited(exe);
		if (drop_identity(uid, gid, NULL, 0) == 0)
			fexecve(exe, (char *const *)argv, environ);
		_exit(127);
	}
	close(out[1]);
	close(exe);
	*ret_pid = pid;

	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	long deadline = now_ms() + KID_TIMEOUT_MS;
	assert_non_null(buf);
	for (;;) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (len + 1 >= cap)
			buf = realloc(buf, cap *= 2);
		ssize_t got = read(out[0], buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(out[0]);
	int status = reap(pid, KID_TIMEOUT_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return buf;
}

/* An exe rule tells two programs of one uid apart. */
static void test_exe_rule(void **state)
{
	struct fx *f = *state;
	const char *env = getenv("UDSRPC_POLICY_CLIENT");
	char client[PATH_MAX], policy[PATH_MAX + 256];
	pid_t cpid;

	if (!env || !realpath(env, client))
		fail_msg("$UDSRPC_POLICY_CLIENT (the policy_client helper) is not set or missing; "
		         "run through ctest");
	assert_string_not_equal(client, self_exe);
	/* The real path: the kernel reports the resolved binary in /proc/PID/exe. */
	snprintf(policy, sizeof(policy),
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"uids\":[%u],"
	         "\"exe\":[\"%s\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"peer.whoami\"]}]}",
	         (unsigned)nobody_uid, client);
	fx_start(f, NULL, policy);

	const char *reqs[] = {WHOAMI, CONFIG_LIST, NULL};
	char *out = run_client_as(nobody_uid, nobody_gid, client, f->d.sock, reqs, &cpid);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	json_t *who = json_loads(out, 0, NULL), *list = json_loads(nl + 1, 0, NULL);
	assert_non_null(who);
	assert_non_null(list);
	json_t *res = json_object_get(who, "result");
	assert_string_equal(json_string_value(json_object_get(res, "exe")), client);
	assert_int_equal(json_integer_value(json_object_get(res, "uid")), nobody_uid);
	assert_int_equal(json_integer_value(json_object_get(res, "pid")), cpid);
	json_t *want =
	    json_loads("{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"items\":[],\"revision\":0,\"more\":false}}", 0, NULL);
	assert_json_equal(list, want);
	json_decref(want);
	json_decref(who);
	json_decref(list);
	free(out);

	/* Same uid, same gid, another binary: denied. */
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k);
	json_t *r = call(fd, WHOAMI);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "exe")),
	                    self_exe);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
	                 nobody_uid);
	json_decref(r);
	expect_denied(fd, CONFIG_LIST, 6, "config.list", k, nobody_uid, nobody_gid);
	kid_finish(k);
	fx_stop(f);
}

/* The state letter of /proc/PID/stat ('T' once SIGSTOP has taken), or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * A peer that has exited before the daemon accepted it has no exe, so an exe
 * rule cannot match it (§4), even though a live process of the same binary
 * and uid is allowed. The daemon is held with SIGSTOP so that the child's
 * connect() waits in the backlog while the child exits and is reaped.
 */
static void test_exe_rule_peer_gone(void **state)
{
	struct fx *f = *state;
	char policy[PATH_MAX + 256], line[256];

	snprintf(policy, sizeof(policy),
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"uids\":[%u],"
	         "\"exe\":[\"%s\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"peer.whoami\"]}]}",
	         (unsigned)nobody_uid, self_exe);
	fx_start(f, NULL, policy);
	struct kid *live = kid_nobody(f);
	int fl = kid_connect(f, live);
	expect_result(fl, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");

	assert_int_equal(kill(f->d.pid, SIGSTOP), 0);
	long deadline = now_ms() + 5000;
	while (proc_state(f->d.pid) != 'T' && now_ms() < deadline)
		usleep(5000);
	assert_int_equal(proc_state(f->d.pid), 'T');
	struct kid *gone = kid_nobody(f);
	pid_t gone_pid = gone->pid;
	int fg = kid_connect(f, gone);
	kid_finish(gone); /* exited and reaped before the daemon could look at it */
	assert_int_equal(kill(f->d.pid, SIGCONT), 0);

	json_t *r = call(fg, WHOAMI);
	json_t *res = json_object_get(r, "result");
	assert_int_equal(json_integer_value(json_object_get(res, "uid")), nobody_uid);
	assert_int_equal(json_integer_value(json_object_get(res, "pid")), gone_pid);
	assert_true(json_is_null(json_object_get(res, "exe")));
	assert_true(json_is_null(json_object_get(res, "comm")));
	json_decref(r);
	r = call(fg, CONFIG_LIST);
	assert_denied_reply(r, 6, "config.list", nobody_uid, nobody_gid, gone_pid);
	json_decref(r);
	snprintf(line, sizeof(line), "denied config.list to uid %u gid %u pid %d exe (unknown)\n",
	         (unsigned)nobody_uid, (unsigned)nobody_gid, (int)gone_pid);
	assert_int_equal(log_count(&f->d, line), 1);
	/* The live one still is who it was. */
	expect_result(fl, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	kid_finish(live);
	fx_stop(f);
}

/* The embedded default's "self": the daemon's own uid (root here) gets admin methods. */
static void test_self_root(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL, NULL);
	int fd = root_connect(f);
	json_t *r = call(fd, REQ(8, "daemon.info"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
	                 getuid());
	json_decref(r);
	expect_result(fd, CONFIG_SET, 2, "{\"key\":\"k\",\"revision\":1}");
	expect_result(fd,
	              "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"daemon.log_level\","
	              "\"params\":{\"level\":\"info\"}}",
	              9, "{\"level\":\"info\"}");
	expect_result(fd, RELOAD, 7, "{\"policy_rules\":3}");
	r = call(fd, REQ(10, "peer.list"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"), "peers")),
	                 1);
	json_decref(r);
	expect_result(fd, SHUTDOWN, 4, "{\"stopping\":true}");
	int status = daemon_wait(&f->d, 20000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* True if uid/gid may execute path (every directory on the way searchable). */
static bool can_exec_as(uid_t uid, gid_t gid, const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(drop_identity(uid, gid, NULL, 0) == 0 && access(path, X_OK) == 0 ? 0 : 1);
	int status = reap(pid, KID_TIMEOUT_MS);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * "self" for a daemon that is not root: run it as nobody (under setpriv, as
 * UDSRPCD_WRAPPER), so "self" and uid 0 are different uids and each is seen
 * to count on its own.
 */
static void test_self_unprivileged_daemon(void **state)
{
	struct fx *f = *state;
	const char *orig = getenv("UDSRPCD"), *old = getenv("UDSRPCD_WRAPPER");
	const char *build = getenv("UDSRPC_BINARY_DIR");
	char wrapper[1024], stage[64], bin[128], cmd[1024], *saved = old ? strdup(old) : NULL;
	char *saved_bin = orig ? strdup(orig) : NULL;

	assert_non_null(saved_bin);
	assert_non_null(build);
	if (access("/usr/bin/setpriv", X_OK) != 0) {
		print_message("setpriv (util-linux) is missing; cannot run udsrpcd as nobody\n");
		free(saved);
		free(saved_bin);
		skip();
	}
	/*
	 * The build may sit in a directory only root can enter (mktemp -d,
	 * /root/src): run copies of the daemon and its library from a place
	 * nobody can read, the library found through LD_LIBRARY_PATH.
	 */
	snprintf(stage, sizeof(stage), "/tmp/udsrpc-stage-XXXXXX");
	assert_non_null(mkdtemp(stage));
	assert_int_equal(chmod(stage, 0755), 0);
	snprintf(bin, sizeof(bin), "%s/udsrpcd", stage);
	snprintf(
	    cmd, sizeof(cmd),
	    "cp -L '%s' '%s' && cp -L '%s/daemon/lib/libudsrpc.so.0' '%s/' && chmod -R a+rX '%s'",
	    saved_bin, bin, build, stage, stage);
	assert_int_equal(system(cmd), 0);
	if (!can_exec_as(nobody_uid, nobody_gid, bin))
		fail_msg("the staged %s is not executable by nobody", bin);
	snprintf(wrapper, sizeof(wrapper),
	         "/usr/bin/env LD_LIBRARY_PATH=%s /usr/bin/setpriv --reuid=%u --regid=%u "
	         "--clear-groups %s",
	         stage, (unsigned)nobody_uid, (unsigned)nobody_gid, saved ? saved : "");
	daemon_prepare(&f->d);
	assert_int_equal(chown(f->d.dir, nobody_uid, nobody_gid), 0);
	assert_int_equal(chmod(f->d.dir, 0755), 0);
	setenv("UDSRPCD_WRAPPER", wrapper, 1);
	setenv("UDSRPCD", bin, 1);
	int r = daemon_spawn(&f->d, NULL, NULL);
	setenv("UDSRPCD", saved_bin, 1);
	if (saved)
		setenv("UDSRPCD_WRAPPER", saved, 1);
	else
		unsetenv("UDSRPCD_WRAPPER");
	free(saved);
	free(saved_bin);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", stage);
	if (system(cmd) != 0)
		print_message("could not remove %s\n", stage);
	if (r < 0) {
		char *log = daemon_log(&f->d);
		fail_msg("udsrpcd as nobody did not start:\n%s", log ? log : "");
	}

	struct kid *self = kid_nobody(f);
	struct kid *other = kid_spawn(f, OTHER_UID, OTHER_GID, NULL, 0);
	int fs = kid_connect(f, self), fo = kid_connect(f, other), fr = root_connect(f);
	json_t *info = call(fs, REQ(8, "daemon.info"));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(info, "result"), "uid")),
	    nobody_uid);
	json_decref(info);
	expect_result(fs, CONFIG_SET, 2, "{\"key\":\"k\",\"revision\":1}"); /* "self" */
	expect_denied(fo, CONFIG_SET, 2, "config.set", other, OTHER_UID, OTHER_GID);
	expect_result(fr, CONFIG_SET, 2, "{\"key\":\"k\",\"revision\":2}"); /* 0 */
	kid_finish(self);
	kid_finish(other);
	fx_stop(f);
}

/* A broken file on reload leaves the running policy exactly as it was. */
static void test_reload_broken_policy(void **state)
{
	struct fx *f = *state;
	char reason[512], sighup_line[600], fixed[512];

	fx_start(f, NULL,
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"uids\":[\"nobody\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}");
	struct kid *k = kid_nobody(f);
	int fk = kid_connect(f, k), fr = root_connect(f);
	expect_result(fk, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_denied(fk, CONFIG_GET, 5, "config.get", k, nobody_uid, nobody_gid);

	/* Had any of this been applied, config.get would open and config.list close. */
	write_file(f->policy,
	           "{\"rules\":["
	           "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"uids\":[\"nobody\"]},"
	           "{\"effect\":\"allow\",\"methods\":[\"*\"],\"exe\":[\"bin/udsrpcctl\"]}]}");
	json_t *r = call(fr, RELOAD);
	assert_int_equal(error_code(r), -32603);
	json_t *err = json_object_get(r, "error");
	assert_string_equal(json_string_value(json_object_get(err, "message")), "Internal error");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	snprintf(reason, sizeof(reason),
	         "%s: rule 2: exe: relative path 'bin/udsrpcctl' (must start with '/')", f->policy);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "reason")), reason);
	json_decref(r);
	expect_result(fk, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_denied(fk, CONFIG_GET, 5, "config.get", k, nobody_uid, nobody_gid);

	/* SIGHUP: the same refusal goes to the log, and the daemon keeps serving. */
	snprintf(sighup_line, sizeof(sighup_line), "reload: %s; keeping the running policy",
	         reason);
	assert_int_equal(log_count(&f->d, sighup_line), 1); /* from daemon.reload */
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	assert_true(wait_log_count(&f->d, sighup_line, 2, 5000));
	expect_result(fk, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_denied(fk, CONFIG_GET, 5, "config.get", k, nobody_uid, nobody_gid);
	expect_result(fr, PING, 1, "\"pong\"");

	/* Fixed: the new policy is taken whole. */
	snprintf(fixed, sizeof(fixed),
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"uids\":[\"nobody\"]},"
	         "{\"effect\":\"deny\",\"methods\":[\"config.list\"],\"uids\":[%u]},"
	         "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}",
	         (unsigned)nobody_uid);
	write_file(f->policy, fixed);
	expect_result(fr, RELOAD, 7, "{\"policy_rules\":3}");
	expect_not_found(fk);
	expect_denied(fk, CONFIG_LIST, 6, "config.list", k, nobody_uid, nobody_gid);
	kid_finish(k);
	fx_stop(f);
}

/* Denials are counted every time and logged once per (connection, method). */
static void test_audit_once_per_connection(void **state)
{
	struct fx *f = *state;
	char line[PATH_MAX + 128];

	fx_start(f, NULL, NULL);
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k);
	expect_denied(fd, CONFIG_SET, 2, "config.set", k, nobody_uid, nobody_gid);
	expect_denied(fd, CONFIG_SET, 2, "config.set", k, nobody_uid, nobody_gid);

	snprintf(line, sizeof(line),
	         "udsrpcd: warning: denied config.set to uid %u gid %u pid %d exe %s\n",
	         (unsigned)nobody_uid, (unsigned)nobody_gid, (int)k->pid, self_exe);
	assert_int_equal(log_count(&f->d, line), 1);
	assert_int_equal(log_count(&f->d, "denied config.set"), 1);
	json_t *r = root_call(f, REQ(11, "daemon.stats"));
	json_t *s = json_object_get(r, "result");
	assert_int_equal(stat_at(s, "requests", "denied", NULL), 2);
	assert_int_equal(stat_at(s, "methods", "config.set", "denied"), 2);
	assert_int_equal(stat_at(s, "methods", "config.set", "calls"), 2);
	assert_int_equal(stat_at(s, "methods", "config.set", "errors"), 2);
	json_decref(r);

	/* Another method on the same connection has its own line... */
	expect_denied(fd, SHUTDOWN, 4, "daemon.shutdown", k, nobody_uid, nobody_gid);
	assert_int_equal(log_count(&f->d, "denied daemon.shutdown to uid"), 1);
	/* ...and so does the same method on a new connection. */
	int fd2 = kid_connect(f, k);
	expect_denied(fd2, CONFIG_SET, 2, "config.set", k, nobody_uid, nobody_gid);
	assert_int_equal(log_count(&f->d, line), 2);
	r = root_call(f, REQ(11, "daemon.stats"));
	s = json_object_get(r, "result");
	assert_int_equal(stat_at(s, "requests", "denied", NULL), 4);
	assert_int_equal(stat_at(s, "methods", "config.set", "denied"), 3);
	assert_int_equal(stat_at(s, "methods", "daemon.shutdown", "denied"), 1);
	json_decref(r);
	kid_finish(k);
	fx_stop(f);
}

/* Reads what is left on fd: true if the peer closed (EOF) within timeout_ms. */
static bool at_eof(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	return poll(&p, 1, timeout_ms) == 1 && recv(fd, &c, 1, 0) == 0;
}

static json_int_t current_connections(struct fx *f)
{
	json_t *r = root_call(f, REQ(11, "daemon.stats"));
	json_int_t n = stat_at(json_object_get(r, "result"), "connections", "current", NULL);
	json_decref(r);
	return n;
}

/* max_connections_per_uid stops one user's flood, and root is exempt from it. */
static void test_max_connections_per_uid(void **state)
{
	struct fx *f = *state;
	int fds[2], root_fds[3];

	fx_start(f, "{\"limits\":{\"max_connections_per_uid\":2}}", NULL);
	struct kid *k = kid_nobody(f);
	for (int i = 0; i < 2; i++) {
		fds[i] = kid_connect(f, k);
		expect_result(fds[i], PING, 1, "\"pong\"");
	}
	int third = kid_connect(f, k);
	char *line = client_recv_line(third, 5000);
	assert_non_null(line);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32003,"
	                          "\"message\":\"Server busy\",\"data\":{\"limit\":2}}}");
	free(line);
	assert_true(at_eof(third, 5000));
	fx_close(f, third);

	/* Root past the limit: three more, all served, while nobody holds two. */
	for (int i = 0; i < 3; i++) {
		root_fds[i] = root_connect(f);
		expect_result(root_fds[i], PING, 1, "\"pong\"");
	}
	/* The count is per uid: another user is not affected by nobody's. */
	struct kid *other = kid_spawn(f, OTHER_UID, OTHER_GID, NULL, 0);
	int fo = kid_connect(f, other);
	expect_result(fo, PING, 1, "\"pong\"");

	json_t *r = root_call(f, REQ(11, "daemon.stats"));
	assert_int_equal(stat_at(json_object_get(r, "result"), "connections", "rejected", NULL), 1);
	json_decref(r);

	/* A closed connection gives its place back. */
	json_int_t before = current_connections(f);
	fx_close(f, fds[0]);
	long deadline = now_ms() + 5000;
	while (current_connections(f) != before - 1 && now_ms() < deadline)
		usleep(20000);
	assert_int_equal(current_connections(f), before - 1);
	fds[0] = kid_connect(f, k);
	expect_result(fds[0], PING, 1, "\"pong\"");
	kid_finish(k);
	kid_finish(other);
	fx_stop(f);
}

/*
 * A deleted account never keeps the daemon from starting: its name matches
 * no one, a warning names the rule, and the rest of the policy is in force.
 */
static void test_unknown_user_matches_no_one(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL,
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"ping\"]},"
	         "{\"effect\":\"deny\",\"methods\":[\"config.list\"],"
	         "\"uids\":[\"" NO_SUCH_USER "\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"config.*\"],"
	         "\"uids\":[\"nobody\", \"" NO_SUCH_USER "\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"ping\", \"confg.*\"]}]}");
	assert_int_equal(log_count(&f->d, "policy: rule 2: uids: unknown user '" NO_SUCH_USER
	                                  "' matches no one"),
	                 1);
	assert_int_equal(log_count(&f->d, "policy: rule 3: uids: unknown user '" NO_SUCH_USER
	                                  "' matches no one"),
	                 1);
	/* A typo in a pattern matches nothing served: said, once, for that pattern only. */
	assert_int_equal(log_count(&f->d, "matches no method served"), 1);
	assert_int_equal(
	    log_count(&f->d, "policy: rule 4: methods: 'confg.*' matches no method served"), 1);
	/* No rule lets root call daemon.reload: said, and served all the same. */
	assert_int_equal(log_count(&f->d, "policy: leaves root no way to call daemon.reload"), 1);
	struct kid *nob = kid_nobody(f);
	int fn = kid_connect(f, nob), fr = root_connect(f);

	expect_result(fn, PING, 1, "\"pong\"");
	/* Rule 2 denies no one; rule 3 still names nobody. */
	expect_result(fn, CONFIG_LIST, 6, "{\"items\":[],\"revision\":0,\"more\":false}");
	expect_denied(fr, CONFIG_LIST, 6, "config.list", NULL, 0, 0);
	kid_finish(nob);
	fx_stop(f);
}

/* A policy file that does not compile stops the start-up, naming file and rule. */
static void test_bad_policy_at_startup(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *json;
		const char *msg; /* after "<path>: " */
	} cases[] = {
	    {"{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"echo\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"*\"],\"exe\":[\"bin/udsrpcctl\"]}]}",
	     "rule 3: exe: relative path"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[512];
		struct stat st;
		int status = 0;

		daemon_prepare(&f->d);
		snprintf(f->policy, sizeof(f->policy), "%s/policy.json", f->d.dir);
		write_file(f->policy, cases[i].json);
		const char *args[] = {"-p", f->policy, NULL};
		assert_int_equal(daemon_spawn(&f->d, args, &status), -1);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 1);
		snprintf(want, sizeof(want), "%s: %s", f->policy, cases[i].msg);
		assert_int_equal(log_count(&f->d, want), 1);
		/* Refused before the socket was made. */
		assert_int_equal(lstat(f->d.sock, &st), -1);
		daemon_cleanup(&f->d);
	}
}

#define CASE(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CASE(test_default_policy),
	    CASE(test_uids_rule),
	    CASE(test_groups_supplementary),
	    CASE(test_pids_rule),
	    CASE(test_exe_rule),
	    CASE(test_exe_rule_peer_gone),
	    CASE(test_self_root),
	    CASE(test_self_unprivileged_daemon),
	    CASE(test_reload_broken_policy),
	    CASE(test_audit_once_per_connection),
	    CASE(test_max_connections_per_uid),
	    CASE(test_bad_policy_at_startup),
	    CASE(test_unknown_user_matches_no_one),
	};
	return policy_fixture_main("test_policy_root", tests, sizeof(tests) / sizeof(tests[0]));
}

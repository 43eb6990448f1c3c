/* test_policy.c — policy compilation, its error messages, and rule evaluation. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy.h"

#define SELF 4321

static struct policy *compile(const char *text, uid_t self)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	struct policy *p = NULL;
	char err[256] = "";

	if (!doc)
		fail_msg("test bug: bad JSON: %s", jerr.text);
	int r = policy_compile(doc, self, &p, err, sizeof(err));
	json_decref(doc);
	if (r != 0)
		fail_msg("compile failed (%d): %s", r, err);
	assert_non_null(p);
	return p;
}

/* The document must be rejected with exactly this message. */
static void expect_error(const char *text, const char *message)
{
	json_t *doc = json_loads(text, JSON_ALLOW_NUL, NULL);
	struct policy *p = (struct policy *)1;
	char err[256] = "";

	assert_non_null(doc);
	assert_int_equal(policy_compile(doc, SELF, &p, err, sizeof(err)), -EINVAL);
	json_decref(doc);
	assert_null(p);
	assert_string_equal(err, message);
	assert_null(strchr(err, '\n'));
}

/* What fake_process pins for pid: a peer() is the process it pinned. */
#define FAKE_PROC(pid) ((struct peer_process){.ino = 1000ull + (unsigned long long)(pid), .known = true})
/* No process has this pid when a policy is loaded (fake_process). */
#define DEAD_PID 31337

/* What a pids entry pins at load in these tests: every pid but DEAD_PID has a process. */
static int fake_process(pid_t pid, struct peer_process *ret)
{
	*ret = (struct peer_process){0};
	if (pid == DEAD_PID)
		return -ESRCH;
	*ret = FAKE_PROC(pid);
	return 0;
}

static struct udsrpc_peer peer(uid_t uid, gid_t gid, pid_t pid)
{
	return (struct udsrpc_peer){.uid = uid, .gid = gid, .pid = pid, .proc = FAKE_PROC(pid)};
}

static void test_uids_by_number(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"uids\":[1000, 1002]}]}", SELF);
	struct udsrpc_peer a = peer(1000, 1000, 10), b = peer(1001, 1000, 10),
	                   c = peer(1002, 5, 11);

	assert_true(policy_allows(p, &a, "m", NULL));
	assert_false(policy_allows(p, &b, "m", NULL));
	assert_true(policy_allows(p, &c, "m", NULL));
	assert_false(policy_allows(p, &a, "n", NULL)); /* the method must match too */
	policy_free(p);
}

static void test_uids_by_name(void **state)
{
	struct passwd *nobody = getpwnam("nobody");
	assert_non_null(nobody);
	uid_t nobody_uid = nobody->pw_uid;

	struct policy *p =
	    compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"uids\":[\"root\"]},"
	            "{\"effect\":\"allow\",\"methods\":[\"n\"],\"uids\":[\"nobody\"]}]}",
	            SELF);
	struct udsrpc_peer root = peer(0, 0, 1), nob = peer(nobody_uid, 1, 2),
	                   other = peer(1, 1, 3);

	assert_true(policy_allows(p, &root, "m", NULL));
	assert_false(policy_allows(p, &nob, "m", NULL));
	assert_false(policy_allows(p, &other, "m", NULL));
	assert_true(policy_allows(p, &nob, "n", NULL));
	assert_false(policy_allows(p, &root, "n", NULL));
	assert_false(policy_allows(p, &other, "n", NULL));
	policy_free(p);
}

static void test_uids_self(void **state)
{
	const char *doc =
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"uids\":[\"self\"]}]}";
	struct policy *p = compile(doc, SELF);
	struct udsrpc_peer me = peer(SELF, 1, 1), root = peer(0, 0, 1);

	assert_true(policy_allows(p, &me, "m", NULL));
	assert_false(policy_allows(p, &root, "m", NULL));
	policy_free(p);

	/* "self" is whatever uid the caller passes at compile time. */
	p = compile(doc, 77);
	me = peer(77, 1, 1);
	struct udsrpc_peer old = peer(SELF, 1, 1);
	assert_true(policy_allows(p, &me, "m", NULL));
	assert_false(policy_allows(p, &old, "m", NULL));
	policy_free(p);
}

static void test_gids_by_number(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"gids\":[100]}]}", SELF);
	gid_t supp[] = {4, 100};
	struct udsrpc_peer primary = peer(1000, 100, 1), supplementary = peer(1000, 1000, 1),
	                   neither = peer(1000, 1000, 1);
	supplementary.groups = supp;
	supplementary.ngroups = 2;
	gid_t other[] = {4, 101};
	neither.groups = other;
	neither.ngroups = 2;

	assert_true(policy_allows(p, &primary, "m", NULL));
	assert_true(policy_allows(p, &supplementary, "m", NULL));
	assert_false(policy_allows(p, &neither, "m", NULL));
	policy_free(p);
}

static void test_groups_by_name(void **state)
{
	struct group *ng = getgrnam("nogroup");
	assert_non_null(ng);
	gid_t nogroup = ng->gr_gid;

	struct policy *p =
	    compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"groups\":[\"root\"]},"
	            "{\"effect\":\"allow\",\"methods\":[\"n\"],\"groups\":[\"nogroup\"]}]}",
	            SELF);
	gid_t supp_nogroup[] = {27, nogroup};
	gid_t supp_root[] = {0};
	struct udsrpc_peer root_primary = peer(1000, 0, 1), root_supp = peer(1000, 1000, 1),
	                   nogroup_supp = peer(1000, 1000, 1),
	                   nogroup_primary = peer(1000, nogroup, 1), none = peer(1000, 1000, 1);
	root_supp.groups = supp_root;
	root_supp.ngroups = 1;
	nogroup_supp.groups = supp_nogroup;
	nogroup_supp.ngroups = 2;

	assert_true(policy_allows(p, &root_primary, "m", NULL));
	assert_true(policy_allows(p, &root_supp, "m", NULL));
	assert_false(policy_allows(p, &nogroup_supp, "m", NULL));
	assert_false(policy_allows(p, &none, "m", NULL));
	assert_true(policy_allows(p, &nogroup_supp, "n", NULL));
	assert_true(policy_allows(p, &nogroup_primary, "n", NULL));
	assert_false(policy_allows(p, &root_primary, "n", NULL));
	assert_false(policy_allows(p, &none, "n", NULL));
	policy_free(p);
}

/* "gids" and "groups" are synonyms, but two selectors: each must match. */
static void test_gids_and_groups_together(void **state)
{
	struct policy *p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],"
	                           "\"gids\":[10],\"groups\":[\"root\", 20]}]}",
	                           SELF);
	gid_t both[] = {10, 20}, only10[] = {10}, only20[] = {20};
	struct udsrpc_peer a = peer(1, 1, 1), b = peer(1, 1, 1), c = peer(1, 1, 1),
	                   d = peer(1, 0, 1);
	a.groups = both;
	a.ngroups = 2;
	b.groups = only10;
	b.ngroups = 1;
	c.groups = only20;
	c.ngroups = 1;
	d.groups = only10; /* primary 0 = "root" satisfies "groups" */
	d.ngroups = 1;

	assert_true(policy_allows(p, &a, "m", NULL));
	assert_false(policy_allows(p, &b, "m", NULL));
	assert_false(policy_allows(p, &c, "m", NULL));
	assert_true(policy_allows(p, &d, "m", NULL));
	policy_free(p);
}

static void test_pids(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"pids\":[4242, 1]}]}", SELF);
	struct udsrpc_peer a = peer(1000, 1000, 4242), b = peer(1000, 1000, 4243),
	                   c = peer(0, 0, 1);

	assert_true(policy_allows(p, &a, "m", NULL));
	assert_false(policy_allows(p, &b, "m", NULL));
	assert_true(policy_allows(p, &c, "m", NULL));
	policy_free(p);
}

static void test_exe(void **state)
{
	struct policy *p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],"
	                           "\"uids\":[1],\"exe\":[\"/nonexistent/udsrpc/tool\"]}]}",
	                           SELF);
	struct udsrpc_peer a = peer(1, 1, 1), b = peer(1, 1, 1), unknown = peer(1, 1, 1);
	a.exe = "/nonexistent/udsrpc/tool";
	b.exe = "/nonexistent/udsrpc/tool2";

	assert_true(policy_allows(p, &a, "m", NULL));
	assert_false(policy_allows(p, &b, "m", NULL));
	assert_false(policy_allows(p, &unknown, "m", NULL));
	policy_free(p);
}

/* Deny rules fail closed: a peer whose exe is unknown (gone, or a child kept
 * the socket) is denied by a deny rule on exe, not let through. */
static void test_exe_unknown_matches_deny(void **state)
{
	struct policy *p =
	    compile("{\"rules\":["
	            "{\"effect\":\"deny\",\"methods\":[\"*\"],\"exe\":[\"/usr/bin/x\"]},"
	            "{\"effect\":\"allow\",\"methods\":[\"*\"]}]}",
	            SELF);
	struct udsrpc_peer known = peer(1, 1, 1), unknown = peer(1, 1, 1);
	known.exe = "/usr/bin/x";

	struct udsrpc_peer other = peer(1, 1, 1);
	other.exe = "/usr/bin/y";

	assert_false(policy_allows(p, &known, "ping", NULL));
	assert_false(policy_allows(p, &unknown, "ping", NULL));
	assert_true(policy_allows(p, &other, "ping", NULL));
	policy_free(p);
}

/* The kernel reports resolved paths; a rule naming a symlink matches its target too. */
static void test_exe_symlink(void **state)
{
	char dir[] = "/tmp/udsrpc-test-policy-XXXXXX", link[PATH_MAX], real[PATH_MAX],
	     doc[2 * PATH_MAX];
	assert_non_null(mkdtemp(dir));
	ssize_t n = readlink("/proc/self/exe", real, sizeof(real) - 1);
	assert_true(n > 0);
	real[n] = '\0';
	snprintf(link, sizeof(link), "%s/tool", dir);
	assert_int_equal(symlink(real, link), 0);

	snprintf(doc, sizeof(doc),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"uids\":[1],\"exe\":[\"%s\"]}]}", link);
	struct policy *p = compile(doc, SELF);
	struct udsrpc_peer target = peer(1, 1, 1), literal = peer(1, 1, 1), other = peer(1, 1, 1);
	target.exe = real;
	literal.exe = link;
	other.exe = "/usr/bin/true";
	assert_true(policy_allows(p, &target, "m", NULL));
	assert_true(policy_allows(p, &literal, "m", NULL));
	assert_false(policy_allows(p, &other, "m", NULL));

	/* The rendered policy keeps the path as written. */
	json_t *j = policy_to_json(p);
	assert_non_null(j);
	json_t *exe = json_object_get(json_array_get(json_object_get(j, "rules"), 0), "exe");
	assert_int_equal(json_array_size(exe), 1);
	assert_string_equal(json_string_value(json_array_get(exe, 0)), link);
	json_decref(j);
	policy_free(p);

	unlink(link);
	rmdir(dir);
}

static bool method_allowed(const char *pattern, const char *method)
{
	char doc[512];
	struct udsrpc_peer anyone = peer(1000, 1000, 1000);

	snprintf(doc, sizeof(doc), "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"%s\"]}]}",
	         pattern);
	struct policy *p = compile(doc, SELF);
	bool r = policy_allows(p, &anyone, method, NULL);
	policy_free(p);
	return r;
}

static void test_glob_dots(void **state)
{
	assert_true(method_allowed("daemon.*", "daemon.info"));
	assert_true(method_allowed("daemon.*", "daemon.a.b")); /* '*' crosses dots */
	assert_true(method_allowed("daemon.*", "daemon."));    /* an empty run is a run */
	assert_false(method_allowed("daemon.*", "daemons"));
	assert_false(method_allowed("daemon.*", "daemonXinfo"));
	assert_false(method_allowed("daemon.*", "daemon"));
	assert_false(method_allowed("daemon.*", "xdaemon.info"));
}

static void test_glob_star_matches_all(void **state)
{
	assert_true(method_allowed("*", "ping"));
	assert_true(method_allowed("*", "daemon.shutdown"));
	assert_true(method_allowed("*", "a.b.c.d"));
	assert_true(method_allowed("**", "x"));
}

static void test_glob_events(void **state)
{
	assert_true(method_allowed("events.*", "events.subscribe"));
	assert_true(method_allowed("events.*", "events.unsubscribe"));
	assert_false(method_allowed("events.*", "events"));
	assert_true(method_allowed("events", "events"));
	assert_false(method_allowed("events", "events.subscribe"));
	assert_false(method_allowed("events", "event"));
}

static void test_glob_general(void **state)
{
	assert_true(method_allowed("*.info", "daemon.info"));
	assert_false(method_allowed("*.info", "daemon.infos"));
	assert_true(method_allowed("a*b*c", "abc"));
	assert_true(method_allowed("a*b*c", "a.x.b.y.c"));
	assert_false(method_allowed("a*b*c", "acb"));
	assert_false(method_allowed("a*b*c", "ab"));
	assert_true(method_allowed("a**b", "ab"));
	/* Prefix and suffix may not share characters. */
	assert_false(method_allowed("ab*ba", "aba"));
	assert_true(method_allowed("ab*ba", "abba"));
	assert_false(method_allowed("a*a", "a"));
	assert_true(method_allowed("a*a", "aa"));
	assert_true(method_allowed("*b*", "abc"));
	assert_false(method_allowed("*b*", "ac"));
	/* Middles are found in order, without overlap. */
	assert_true(method_allowed("*aa*aa*", "aaaa"));
	assert_false(method_allowed("*aa*aa*", "aaa"));
	/* Nothing but '*' is special. */
	assert_true(method_allowed("peer.?", "peer.?"));
	assert_false(method_allowed("peer.?", "peer.x"));
	assert_true(method_allowed("[ab]", "[ab]"));
	assert_false(method_allowed("[ab]", "a"));
	/* Exact patterns compare whole names. */
	assert_false(method_allowed("ping", "pin"));
	assert_false(method_allowed("ping", "pingx"));
}

static void test_first_match_wins(void **state)
{
	struct udsrpc_peer p = peer(1000, 1000, 4242);
	struct policy *deny_first = compile(
	    "{\"rules\":[{\"effect\":\"deny\",\"methods\":[\"daemon.shutdown\"],\"pids\":[4242]},"
	    "{\"effect\":\"allow\",\"methods\":[\"*\"]}]}",
	    SELF);
	struct policy *allow_first =
	    compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"]},"
	            "{\"effect\":\"deny\",\"methods\":[\"daemon.shutdown\"],\"pids\":[4242]}]}",
	            SELF);

	assert_false(policy_allows(deny_first, &p, "daemon.shutdown", NULL));
	assert_true(policy_allows(deny_first, &p, "ping", NULL));
	assert_true(policy_allows(allow_first, &p, "daemon.shutdown", NULL));
	policy_free(deny_first);
	policy_free(allow_first);
}

static void test_all_selectors_must_match(void **state)
{
	struct policy *p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],"
	                           "\"uids\":[1000],\"pids\":[7],\"gids\":[50]}]}",
	                           SELF);
	struct udsrpc_peer all = peer(1000, 50, 7), no_uid = peer(1001, 50, 7),
	                   no_pid = peer(1000, 50, 8), no_gid = peer(1000, 51, 7);

	assert_true(policy_allows(p, &all, "m", NULL));
	assert_false(policy_allows(p, &no_uid, "m", NULL));
	assert_false(policy_allows(p, &no_pid, "m", NULL));
	assert_false(policy_allows(p, &no_gid, "m", NULL));
	policy_free(p);
}

static void test_default_deny(void **state)
{
	struct udsrpc_peer p = peer(1000, 1000, 1);
	struct policy *some = compile(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\"],\"uids\":[0]}]}", SELF);
	struct policy *none = compile("{\"rules\":[]}", SELF);

	assert_false(policy_allows(some, &p, "ping", NULL));
	assert_false(policy_allows(none, &p, "ping", NULL));
	assert_int_equal(policy_rule_count(none), 0);
	assert_false(policy_allows(NULL, &p, "ping", NULL));
	policy_free(some);
	policy_free(none);
}

static void test_embedded_default(void **state)
{
	static const char *const basic[] = {"ping", "echo", "rpc.discover", "daemon.info",
	                                    "peer.whoami"};
	static const char *const admin[] = {
	    "daemon.stats", "daemon.reload",    "daemon.shutdown",   "daemon.log_level",
	    "peer.list",    "config.get",       "config.set",        "config.unset",
	    "config.list",  "events.subscribe", "events.unsubscribe"};
	struct policy *p = policy_default(SELF, basic, sizeof(basic) / sizeof(basic[0]));
	struct udsrpc_peer root = peer(0, 0, 1), self = peer(SELF, 100, 2),
	                   other = peer(1000, 1000, 3);
	gid_t adm[] = {0, 4}; /* even in root's groups, only the uid counts */
	other.groups = adm;
	other.ngroups = 2;

	assert_non_null(p);
	assert_int_equal(policy_rule_count(p), 3);
	/* The third: admins may provide any name (rpc.provide), nobody else. */
	assert_int_equal(policy_provide_rule_count(p), 1);
	assert_true(policy_allows_provide(p, &root, "app.restart"));
	assert_true(policy_allows_provide(p, &self, "app.restart"));
	assert_false(policy_allows_provide(p, &other, "app.restart"));
	for (size_t i = 0; i < sizeof(basic) / sizeof(basic[0]); i++) {
		assert_true(policy_allows(p, &root, basic[i], NULL));
		assert_true(policy_allows(p, &self, basic[i], NULL));
		assert_true(policy_allows(p, &other, basic[i], NULL));
	}
	for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++) {
		assert_true(policy_allows(p, &root, admin[i], NULL));
		assert_true(policy_allows(p, &self, admin[i], NULL));
		assert_false(policy_allows(p, &other, admin[i], NULL));
	}
	assert_false(policy_allows(p, &other, "pingx", NULL));
	policy_free(p);
}

static void test_rule_count(void **state)
{
	struct policy *p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"]},"
	                           "{\"effect\":\"deny\",\"methods\":[\"b\"]},"
	                           "{\"effect\":\"allow\",\"methods\":[\"c\"]}]}",
	                           SELF);
	assert_int_equal(policy_rule_count(p), 3);
	assert_int_equal(policy_rule_count(NULL), 0);
	policy_free(p);
}

/* The document compiles, and its warnings are exactly these lines. */
static struct policy *expect_warnings(const char *text, const char *warnings)
{
	struct policy *p = compile(text, SELF);

	assert_non_null(policy_warnings(p));
	assert_string_equal(policy_warnings(p), warnings);
	return p;
}

/*
 * A pids entry is the process that had the pid at load: a later process with
 * that pid (another start time) is not matched, and an entry whose process
 * was gone at load matches no one, with a warning (issue 18, "pids entry").
 */
static void test_pids_pinned(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"pids\":[4242]},"
	    "{\"effect\":\"deny\",\"methods\":[\"n\"],\"pids\":[4242]},"
	    "{\"effect\":\"allow\",\"methods\":[\"n\"]}]}",
	    SELF);
	struct udsrpc_peer pinned = peer(1000, 1000, 4242), reused = pinned, unknown = pinned;

	reused.proc.ino++;         /* the pid came round again: another process */
	unknown.proc.known = false; /* gone before it was pinned */
	assert_null(policy_warnings(p));
	assert_true(policy_allows(p, &pinned, "m", NULL));
	assert_false(policy_allows(p, &reused, "m", NULL));
	assert_false(policy_allows(p, &unknown, "m", NULL));
	/* The deny pins the same process; an unknown one cannot slip past it. */
	assert_false(policy_allows(p, &pinned, "n", NULL));
	assert_true(policy_allows(p, &reused, "n", NULL));
	assert_false(policy_allows(p, &unknown, "n", NULL));
	policy_free(p);

	/* No process had the pid at load: nobody ever is that process. */
	p = expect_warnings("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],"
	                    "\"pids\":[1,31337]},"
	                    "{\"effect\":\"deny\",\"methods\":[\"n\"],\"pids\":[31337]},"
	                    "{\"effect\":\"allow\",\"methods\":[\"n\"]}]}",
	                    "rule 1: pids: no process has pid 31337 now: the entry matches no one\n"
	                    "rule 2: pids: no process has pid 31337 now: the entry matches no one");
	struct udsrpc_peer later = peer(1000, 1000, DEAD_PID), later_unknown = later,
	                   one = peer(0, 0, 1);
	later_unknown.proc.known = false;
	assert_false(policy_allows(p, &later, "m", NULL));
	assert_true(policy_allows(p, &one, "m", NULL));
	assert_true(policy_allows(p, &later, "n", NULL));
	assert_true(policy_allows(p, &later_unknown, "n", NULL));
	/* Printed back as the number; loaded again it pins what has the pid then. */
	json_t *j = policy_to_json(p);
	assert_int_equal(json_integer_value(json_array_get(
	                     json_object_get(json_array_get(json_object_get(j, "rules"), 1), "pids"),
	                     0)),
	                 DEAD_PID);
	json_decref(j);
	policy_free(p);
}

/*
 * The same with the real kernel: this process, then a child that has exited.
 * (A new process that gets the child's pid: test_policy_root, test_pids_rule.)
 */
static void test_pids_pinned_proc(void **state)
{
	struct peer_process proc;
	char doc[256];
	int status;

	policy_set_process_fn(NULL);
	assert_int_equal(peer_process_of_pid(getpid(), &proc), 0);
	assert_true(proc.known);
	snprintf(doc, sizeof(doc),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"pids\":[%d]}]}",
	         (int)getpid());
	struct policy *p = compile(doc, SELF);
	struct udsrpc_peer me = {.pid = getpid(), .proc = proc}, other = me;
	if (other.proc.ino)
		other.proc.ino++;
	else
		other.proc.start++;
	assert_null(policy_warnings(p));
	assert_true(policy_allows(p, &me, "m", NULL));
	assert_false(policy_allows(p, &other, "m", NULL));
	policy_free(p);

	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0)
		_exit(0);
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_int_equal(peer_process_of_pid(kid, &proc), -ESRCH);
	assert_false(proc.known);
	snprintf(doc, sizeof(doc),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"m\"],\"pids\":[%d]}]}",
	         (int)kid);
	p = compile(doc, SELF);
	assert_non_null(strstr(policy_warnings(p), "the entry matches no one"));
	struct udsrpc_peer next = {.pid = kid, .proc = me.proc};
	assert_false(policy_allows(p, &next, "m", NULL));
	policy_free(p);
	policy_set_process_fn(fake_process);
}

/* A deleted account never stops the daemon: its name matches no one. */
static void test_unknown_names_match_no_one(void **state)
{
	struct udsrpc_peer root = peer(0, 0, 10), other = peer(1000, 1000, 11);
	struct policy *p = expect_warnings(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"y\"],\"uids\":[\"udsrpc-no-such-user\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"z\"],\"uids\":[0,\"udsrpc-no-such-user\"]}]}",
	    "rule 2: uids: unknown user 'udsrpc-no-such-user' matches no one\n"
	    "rule 3: uids: unknown user 'udsrpc-no-such-user' matches no one");

	assert_true(policy_allows(p, &other, "x", NULL));
	/* A rule naming only unknown users is not a rule for anyone. */
	assert_false(policy_allows(p, &root, "y", NULL));
	assert_false(policy_allows(p, &other, "y", NULL));
	/* The known names of the same rule still count. */
	assert_true(policy_allows(p, &root, "z", NULL));
	assert_false(policy_allows(p, &other, "z", NULL));
	policy_free(p);

	p = expect_warnings("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],"
	                    "\"groups\":[\"root\",\"udsrpc-no-such-group\"]}]}",
	                    "rule 1: groups: unknown group 'udsrpc-no-such-group' matches no one");
	assert_true(policy_allows(p, &root, "x", NULL));
	assert_false(policy_allows(p, &other, "x", NULL));
	policy_free(p);

	p = expect_warnings("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],"
	                    "\"gids\":[\"udsrpc-no-such-group\"]}]}",
	                    "rule 1: gids: unknown group 'udsrpc-no-such-group' matches no one");
	assert_false(policy_allows(p, &root, "x", NULL));
	policy_free(p);

	/* A deny rule naming only the lost account denies no one either. */
	p = expect_warnings("{\"rules\":[{\"effect\":\"deny\",\"methods\":[\"x\"],"
	                    "\"uids\":[\"udsrpc-no-such-user\"]},"
	                    "{\"effect\":\"allow\",\"methods\":[\"x\"]}]}",
	                    "rule 1: uids: unknown user 'udsrpc-no-such-user' matches no one");
	assert_true(policy_allows(p, &other, "x", NULL));
	policy_free(p);

	p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[0]}]}", SELF);
	assert_null(policy_warnings(p));
	policy_free(p);
}

/* The warning for a policy that leaves root unable to reload it. */
static void test_root_may_call(void **state)
{
	static const struct {
		const char *rules;
		bool may;
	} cases[] = {
	    {"{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}", true},
	    {"{\"effect\":\"allow\",\"methods\":[\"daemon.*\"]}", true},
	    {"{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"uids\":[0]}", false},
	    {"{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[1000]}", false},
	    {"{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[\"udsrpc-no-such-user\"]}",
	     false},
	    {"{\"effect\":\"deny\",\"methods\":[\"daemon.reload\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}",
	     false},
	    /* A deny only some root processes meet leaves the others the allow. */
	    {"{\"effect\":\"deny\",\"methods\":[\"*\"],\"exe\":[\"/usr/bin/x\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}",
	     true},
	    {"{\"effect\":\"deny\",\"methods\":[\"*\"],\"uids\":[1000]},"
	     "{\"effect\":\"allow\",\"methods\":[\"daemon.reload\"]}",
	     true},
	    /* Provide rules decide who serves a name, never who calls it. */
	    {"{\"effect\":\"allow\",\"provide\":[\"*\"],\"uids\":[0]}", false},
	    /* daemon.reload has no key: a rule with keys never lets it through, nor stops it. */
	    {"{\"effect\":\"allow\",\"methods\":[\"*\"],\"keys\":[\"*\"],\"uids\":[0]}", false},
	    {"{\"effect\":\"deny\",\"methods\":[\"*\"],\"keys\":[\"*\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}", true},
	    {"{\"effect\":\"deny\",\"provide\":[\"*\"]},"
	     "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}",
	     true},
	};
	char doc[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"rules\":[%s]}", cases[i].rules);
		struct policy *p = compile(doc, SELF);
		if (policy_root_may_call(p, "daemon.reload") != cases[i].may)
			fail_msg("case %zu: %s: expected %d", i, cases[i].rules, cases[i].may);
		policy_free(p);
	}
}

static void note_pattern(size_t rule_no, const char *pattern, void *userdata)
{
	char *out = userdata;
	size_t len = strlen(out);

	snprintf(out + len, 256 - len, "%zu:%s ", rule_no, pattern);
}

static void test_unmatched_patterns(void **state)
{
	static const char *const names[] = {"config.get", "config.set", "ping"};
	static const size_t lens[] = {10, 10, 4};
	char out[256] = "";
	struct policy *p = compile("{\"rules\":["
	                           "{\"effect\":\"allow\",\"methods\":[\"ping\",\"pong\"]},"
	                           "{\"effect\":\"deny\",\"methods\":[\"config.*\",\"daemon.*\"]},"
	                           "{\"effect\":\"allow\",\"methods\":[\"*.set\",\"*\"]},"
	                           "{\"effect\":\"allow\",\"provide\":[\"app.*\"]}]}",
	                           SELF);

	policy_unmatched_patterns(p, names, lens, 3, note_pattern, out);
	assert_string_equal(out, "1:pong 2:daemon.* ");
	out[0] = '\0';
	policy_unmatched_patterns(p, names, lens, 0, note_pattern, out);
	assert_string_equal(out, "1:ping 1:pong 2:config.* 2:daemon.* 3:*.set 3:* ");
	policy_free(p);
}

static void test_errors_members(void **state)
{
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"]},"
	             "{\"effect\":\"allow\",\"method\":[\"x\"]}]}",
	             "rule 2: unknown member 'method'");
	expect_error("{\"rules\":[],\"rule\":[]}", "unknown top-level member 'rule'");
	expect_error("{}", "missing member 'rules'");
	expect_error("[]", "expected an object {\"rules\": [...]}");
	expect_error("{\"rules\":{}}", "rules: expected an array of rules");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"]}, 5]}",
	             "rule 2: expected an object with \"effect\" and \"methods\"");
}

/* Whatever the document holds, the message stays one bounded line. */
static void test_errors_quoting(void **state)
{
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"a\\nb\":1}]}",
	             "rule 1: unknown member 'a\\x0ab'");
	expect_error("{\"rules\":[],\"\\u001b[31m\":1}", "unknown top-level member '\\x1b[31m'");

	char doc[1024], name[301], expect[256];
	memset(name, 'u', 300);
	name[300] = '\0';
	snprintf(doc, sizeof(doc),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[\"%s\"]}]}",
	         name);
	/* quote() keeps 120 characters of the name, then "..." */
	snprintf(expect, sizeof(expect), "rule 1: uids: unknown user '%.120s...' matches no one",
	         name);
	policy_free(expect_warnings(doc, expect));
}

static void test_errors_effect(void **state)
{
	expect_error("{\"rules\":[{\"effect\":\"permit\",\"methods\":[\"x\"]}]}",
	             "rule 1: effect: 'permit' is not \"allow\" or \"deny\"");
	expect_error("{\"rules\":[{\"effect\":\"Allow\",\"methods\":[\"x\"]}]}",
	             "rule 1: effect: 'Allow' is not \"allow\" or \"deny\"");
	expect_error("{\"rules\":[{\"effect\":true,\"methods\":[\"x\"]}]}",
	             "rule 1: effect: expected \"allow\" or \"deny\"");
	expect_error("{\"rules\":[{\"methods\":[\"x\"]}]}",
	             "rule 1: effect: missing (\"allow\" or \"deny\")");
}

static void test_errors_methods(void **state)
{
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[]}]}",
	             "rule 1: methods: empty list (a rule needs at least one method)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\",\"\"]}]}",
	             "rule 1: methods: empty pattern (entry 2)");
	expect_error("{\"rules\":[{\"effect\":\"allow\"}]}",
	             "rule 1: methods: missing (a list of method names or patterns, or \"provide\" "
	             "for a provide rule)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":\"ping\"}]}",
	             "rule 1: methods: expected an array of method patterns");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[1]}]}",
	             "rule 1: methods: not a string without NUL bytes (entry 1)");
	/* "pi\0ng" would otherwise compare as "pi". */
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"pi\\u0000ng\"]}]}",
	             "rule 1: methods: not a string without NUL bytes (entry 1)");
}

/* Provide rules (rpc.provide) and call rules are judged apart, first match per kind. */
static void test_provide_rules(void **state)
{
	struct policy *p = compile("{\"rules\":["
	                           "{\"effect\":\"deny\",\"provide\":[\"app.secret\"]},"
	                           "{\"effect\":\"allow\",\"provide\":[\"app.*\"],\"uids\":[1000]},"
	                           "{\"effect\":\"allow\",\"methods\":[\"*\"]}]}",
	                           SELF);
	struct udsrpc_peer u = peer(1000, 1000, 3), other = peer(1001, 1001, 4);

	assert_true(policy_allows_provide(p, &u, "app.restart"));
	assert_false(policy_allows_provide(p, &u, "app.secret"));
	assert_false(policy_allows_provide(p, &other, "app.restart"));
	/* A call rule of "*" never lets anyone provide, nor a provide rule call. */
	assert_false(policy_allows_provide(p, &u, "db.get"));
	assert_true(policy_allows(p, &other, "app.secret", NULL));
	assert_int_equal(policy_rule_count(p), 3);
	assert_int_equal(policy_provide_rule_count(p), 2);
	/* --check prints provide rules under their own member, and they compile back. */
	json_t *doc = policy_to_json(p);
	json_t *r1 = json_array_get(json_object_get(doc, "rules"), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r1, "provide"), 0)),
	                    "app.*");
	assert_null(json_object_get(r1, "methods"));
	struct policy *back = NULL;
	assert_int_equal(policy_compile(doc, SELF, &back, NULL, 0), 0);
	assert_true(policy_allows_provide(back, &u, "app.restart"));
	assert_false(policy_allows_provide(back, &u, "app.secret"));
	policy_free(back);
	json_decref(doc);
	policy_free(p);

	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"provide\":[\"a\"]}]}",
	             "rule 1: both \"methods\" and \"provide\" (a rule is one or the other)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"provide\":[]}]}",
	             "rule 1: provide: empty list (a rule needs at least one method)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"provide\":[\"\"]}]}",
	             "rule 1: provide: empty pattern (entry 1)");
}

static void test_errors_selectors(void **state)
{
	/* exe alone would let any uid that can run (or fake) the program in. */
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"]},"
		     "{\"effect\":\"allow\",\"methods\":[\"x\"],\"exe\":[\"/usr/bin/x\"]}]}",
		     "rule 2: exe: an allow rule with exe must also have uids, gids or groups "
		     "(exe does not separate programs of one uid)");
	expect_error(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"exe\":[\"bin/foo\"]}]}",
	    "rule 1: exe: relative path 'bin/foo' (must start with '/')");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"exe\":[\"\"]}]}",
	             "rule 1: exe: relative path '' (must start with '/')");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[true]}]}",
	             "rule 1: uids: expected a number, a user name or \"self\" (entry 1)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[1.5]}]}",
	             "rule 1: uids: expected a number, a user name or \"self\" (entry 1)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":0}]}",
	             "rule 1: uids: expected an array of uids, user names or \"self\"");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[-1]}]}",
	             "rule 1: uids: invalid uid -1");
	expect_error(
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"gids\":[4294967295]}]}",
	    "rule 1: gids: invalid gid 4294967295");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"groups\":[null]}]}",
	             "rule 1: groups: expected a number or a group name (entry 1)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"pids\":[\"1\"]}]}",
	             "rule 1: pids: expected a number (entry 1)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"pids\":[0]}]}",
	             "rule 1: pids: invalid pid 0");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"],\"pids\":[]}]}",
	             "rule 1: pids: empty list (omit the member to match anyone)");
}

static void test_error_buffer_handling(void **state)
{
	json_t *doc = json_loads("{\"rules\":[{\"effect\":\"allow\"}]}", 0, NULL);
	struct policy *p = NULL;
	char small[8];

	assert_non_null(doc);
	assert_int_equal(policy_compile(doc, SELF, &p, NULL, 0), -EINVAL);
	assert_null(p);
	assert_int_equal(policy_compile(doc, SELF, &p, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "rule 1:");
	json_decref(doc);
}

/* Writes text to dir/name and returns the path (static buffer). */
static const char *write_file(const char *dir, const char *name, const char *text)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/udsrpc-test-policy-XXXXXX", err[512], expect[PATH_MAX + 128];
	struct policy *p = NULL;
	const char *path;

	assert_non_null(mkdtemp(dir));

	path =
	    write_file(dir, "ok.json",
	               "{\"rules\": [\n"
	               "  {\"effect\": \"allow\", \"methods\": [\"ping\"]},\n"
	               "  {\"effect\": \"allow\", \"methods\": [\"*\"], \"uids\": [0, \"self\"]}\n"
	               "]}\n");
	assert_int_equal(policy_load_file(path, SELF, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_rule_count(p), 2);
	policy_free(p);
	unlink(path);

	path = write_file(dir, "notjson.json", "{\"rules\": [\n  {effect: allow}\n]}\n");
	assert_int_equal(policy_load_file(path, SELF, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	snprintf(expect, sizeof(expect), "%s: line 2 column ", path);
	assert_int_equal(strncmp(err, expect, strlen(expect)), 0);
	unlink(path);

	path = write_file(
	    dir, "bad.json",
	    "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"x\"]},"
	    "{\"effect\":\"deny\",\"methods\":[\"x\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"x\"],\"uids\":[\"udsrpc-no-such-user\"]}]}");
	assert_int_equal(policy_load_file(path, SELF, &p, err, sizeof(err)), 0);
	assert_string_equal(policy_warnings(p),
	                    "rule 3: uids: unknown user 'udsrpc-no-such-user' matches no one");
	policy_free(p);
	p = NULL;
	unlink(path);

	path = write_file(
	    dir, "dup.json",
	    "{\"rules\":[{\"effect\":\"allow\",\"effect\":\"deny\",\"methods\":[\"x\"]}]}");
	assert_int_equal(policy_load_file(path, SELF, &p, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s: line 1 column ", path);
	assert_int_equal(strncmp(err, expect, strlen(expect)), 0);
	assert_non_null(strstr(err, "duplicate"));
	unlink(path);

	path = write_file(dir, "empty.json", "");
	assert_int_equal(policy_load_file(path, SELF, &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	unlink(path);

	snprintf(expect, sizeof(expect), "%s/missing.json", dir);
	assert_int_equal(policy_load_file(expect, SELF, &p, err, sizeof(err)), -ENOENT);
	assert_null(p);
	assert_int_equal(strncmp(err, expect, strlen(expect)), 0);
	assert_non_null(strstr(err, "No such file"));

	assert_int_equal(policy_load_file(dir, SELF, &p, err, sizeof(err)), -EISDIR);
	assert_int_equal(strncmp(err, dir, strlen(dir)), 0);

	assert_int_equal(rmdir(dir), 0);
}

static void test_to_json_round_trip(void **state)
{
	struct group *ng = getgrnam("nogroup");
	assert_non_null(ng);
	struct policy *p =
	    compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\",\"events.*\"]},"
	            "{\"effect\":\"deny\",\"methods\":[\"daemon.shutdown\"],\"pids\":[4242],"
	            "\"groups\":[\"nogroup\"],\"gids\":[\"root\", 7],\"exe\":[\"/nonexistent/x\"]},"
	            "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[\"root\",\"self\"]}]}",
	            SELF);
	json_t *j = policy_to_json(p);
	assert_non_null(j);

	json_t *expected = json_pack(
	    "{s:[{s:s,s:[s,s]},{s:s,s:[s],s:[i,i],s:[i],s:[i],s:[s]},{s:s,s:[s],s:[i,i]}]}",
	    "rules", "effect", "allow", "methods", "ping", "events.*", "effect", "deny", "methods",
	    "daemon.shutdown", "gids", 0, 7, "groups", (int)ng->gr_gid, "pids", 4242, "exe",
	    "/nonexistent/x", "effect", "allow", "methods", "*", "uids", 0, SELF);
	assert_non_null(expected);
	assert_true(json_equal(j, expected));

	/* The rendering compiles back to a policy that renders the same. */
	struct policy *again = NULL;
	char err[256];
	assert_int_equal(policy_compile(j, 9999, &again, err, sizeof(err)), 0);
	json_t *j2 = policy_to_json(again);
	assert_true(json_equal(j, j2));

	json_decref(j2);
	json_decref(expected);
	json_decref(j);
	policy_free(again);
	policy_free(p);

	j = policy_to_json(NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "rules")), 0);
	json_decref(j);
}

/*
 * An unknown name is printed back as the name, in its place in the list:
 * printed as the id it compiled to, the output would not load again (what
 * fuzz_policy found), and it must stay a name that matches no one.
 */
static void test_to_json_unknown_names(void **state)
{
	static const char doc[] =
	    "{\"rules\":[{\"effect\":\"deny\",\"methods\":[\"x\"],"
	    "\"uids\":[7,\"udsrpc-no-such-user\",\"root\"],"
	    "\"gids\":[\"udsrpc-no-such-group\"],\"groups\":[\"root\",\"udsrpc-no-such-group\"]}]}";
	struct policy *p = compile(doc, SELF), *again = NULL;
	json_t *j = policy_to_json(p), *j2;
	char err[256];

	assert_non_null(j);
	json_t *expected = json_pack("{s:[{s:s,s:[s],s:[i,s,i],s:[s],s:[i,s]}]}", "rules",
	                             "effect", "deny", "methods", "x", "uids", 7,
	                             "udsrpc-no-such-user", 0, "gids", "udsrpc-no-such-group",
	                             "groups", 0, "udsrpc-no-such-group");
	assert_true(json_equal(j, expected));
	assert_int_equal(policy_compile(j, SELF, &again, err, sizeof(err)), 0);
	assert_string_equal(policy_warnings(again),
	                    "rule 1: uids: unknown user 'udsrpc-no-such-user' matches no one\n"
	                    "rule 1: gids: unknown group 'udsrpc-no-such-group' matches no one\n"
	                    "rule 1: groups: unknown group 'udsrpc-no-such-group' matches no one");
	j2 = policy_to_json(again);
	assert_true(json_equal(j, j2));
	json_decref(j2);
	json_decref(expected);
	json_decref(j);
	policy_free(again);
	policy_free(p);
}

/* keys: a rule selects calls on keys its globs match; a call without a key never. */
static void test_keys_match(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":["
	    "{\"effect\":\"allow\",\"methods\":[\"config.list\"],\"uids\":[1000]},"
	    "{\"effect\":\"deny\",\"methods\":[\"config.*\"],\"keys\":[\"app/secret*\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"keys\":[\"app/*\",\"exact\"],"
	    "\"uids\":[1000]},"
	    "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"keys\":[\"a*b*c\"]}]}",
	    SELF);
	struct udsrpc_peer u = peer(1000, 1000, 10), other = peer(1001, 1001, 11);

	assert_true(policy_has_keys(p));
	assert_true(policy_allows(p, &u, "config.set", "app/mode"));
	assert_true(policy_allows(p, &u, "config.get", "app/a/b/c")); /* '*' crosses slashes */
	assert_true(policy_allows(p, &u, "config.unset", "exact"));
	assert_false(policy_allows(p, &u, "config.unset", "exact/not"));
	assert_false(policy_allows(p, &u, "config.set", "app"));	    /* the '/' is literal */
	assert_false(policy_allows(p, &u, "config.set", "other/mode"));
	assert_false(policy_allows(p, &u, "config.get", "app/secret/x")); /* the deny first */
	/* No key: only rules without keys can match. */
	assert_false(policy_allows(p, &u, "config.set", NULL));
	assert_true(policy_allows(p, &u, "config.list", NULL));
	assert_false(policy_allows(p, &other, "config.set", "app/mode"));
	assert_true(policy_allows(p, &other, "config.get", "aXbYc"));
	assert_true(policy_allows(p, &other, "config.get", "abc"));
	assert_false(policy_allows(p, &other, "config.get", "acb"));
	/* --check: the deciding rule, by key. */
	bool allow;
	assert_int_equal(policy_decide(p, false, &u, "config.set", "app/mode", &allow), 3);
	assert_true(allow);
	assert_int_equal(policy_decide(p, false, &u, "config.set", "app/secret", &allow), 2);
	assert_false(allow);
	assert_int_equal(policy_decide(p, false, &u, "config.set", "zzz", &allow), 0);
	assert_false(allow);
	policy_free(p);
}

/* A verdict may be cached per method only when no rule with keys took part in it. */
static void test_keys_keyless(void **state)
{
	struct policy *p = compile(
	    "{\"rules\":["
	    "{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"keys\":[\"app/*\"],\"uids\":[1000]},"
	    "{\"effect\":\"allow\",\"methods\":[\"config.get\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}]}",
	    SELF);
	struct udsrpc_peer u = peer(1000, 1000, 10), root = peer(0, 0, 1);
	bool keyless;

	/* Root: the keys rule is for uid 1000 only, so no key changes root's verdict. */
	assert_true(policy_allows_keyed(p, &root, "config.set", "any", &keyless));
	assert_true(keyless);
	/* uid 1000 on config.set: the keys rule decides, key by key. */
	assert_true(policy_allows_keyed(p, &u, "config.set", "app/x", &keyless));
	assert_false(keyless);
	assert_false(policy_allows_keyed(p, &u, "config.set", "x", &keyless));
	assert_false(keyless);
	/* ... and ping, which the keys rule's methods do not select. */
	assert_false(policy_allows_keyed(p, &u, "ping", NULL, &keyless));
	assert_true(keyless);
	/* Without keys rules anywhere, every verdict is keyless. */
	struct policy *plain =
	    compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"config.get\"]}]}", SELF);
	assert_false(policy_has_keys(plain));
	assert_true(policy_allows_keyed(plain, &u, "config.get", "x", &keyless));
	assert_true(keyless);
	policy_free(plain);
	policy_free(p);
}

static void test_keys_errors(void **state)
{
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[]}]}",
	             "rule 1: keys: empty list (omit the member to match anyone)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":\"app/*\"}]}",
	             "rule 1: keys: expected an array of key patterns");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[\"x\",\"\"]}]}",
	             "rule 1: keys: empty pattern (entry 2)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[7]}]}",
	             "rule 1: keys: not a string without NUL bytes (entry 1)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[\"app dir/*\"]}]}",
	             "rule 1: keys: 'app dir/*' can match no key (entry 1: keys hold only "
	             "A-Z a-z 0-9 . _ / -, and * is the only wildcard)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[\"a?\"]}]}",
	             "rule 1: keys: 'a?' can match no key (entry 1: keys hold only "
	             "A-Z a-z 0-9 . _ / -, and * is the only wildcard)");
	expect_error("{\"rules\":[{\"effect\":\"allow\",\"provide\":[\"a.b\"],\"keys\":[\"x\"]}]}",
	             "rule 1: keys: a provide rule selects names, not keys (keys go in a rule "
	             "with \"methods\")");
	/* 257 literal bytes are longer than any key; 256 and stars are fine. */
	char text[600], key[258];
	memset(key, 'k', 257);
	key[257] = '\0';
	snprintf(text, sizeof(text),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[\"%s\"]}]}", key);
	expect_error(text, "rule 1: keys: 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	                   "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...' can "
	                   "match no key (entry 1: longer than 256 bytes)");
	key[256] = '\0';
	key[0] = '*';
	snprintf(text, sizeof(text),
	         "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"a\"],\"keys\":[\"%s*\"]}]}", key);
	struct policy *p = compile(text, SELF);
	policy_free(p);
}

/* --check prints keys as written, and they compile back to the same verdicts. */
static void test_keys_to_json(void **state)
{
	struct policy *p = compile("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"config.*\"],"
	                           "\"keys\":[\"app/*\",\"x\"],\"uids\":[1000]}]}",
	                           SELF);
	json_t *j = policy_to_json(p);
	json_t *want = json_loads("{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"config.*\"],"
	                          "\"uids\":[1000],\"keys\":[\"app/*\",\"x\"]}]}",
	                          0, NULL);
	struct policy *back = NULL;
	struct udsrpc_peer u = peer(1000, 1000, 10);

	assert_true(json_equal(j, want));
	assert_int_equal(policy_compile(j, SELF, &back, NULL, 0), 0);
	assert_true(policy_allows(back, &u, "config.set", "app/y"));
	assert_false(policy_allows(back, &u, "config.set", "y"));
	assert_true(policy_has_keys(back));
	json_decref(j);
	json_decref(want);
	policy_free(back);
	policy_free(p);
}

int main(void)
{
	/* pids entries pin what the fake says; test_pids_pinned_proc asks the kernel. */
	policy_set_process_fn(fake_process);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uids_by_number),
	    cmocka_unit_test(test_uids_by_name),
	    cmocka_unit_test(test_uids_self),
	    cmocka_unit_test(test_gids_by_number),
	    cmocka_unit_test(test_groups_by_name),
	    cmocka_unit_test(test_gids_and_groups_together),
	    cmocka_unit_test(test_pids),
	    cmocka_unit_test(test_exe),
	    cmocka_unit_test(test_exe_unknown_matches_deny),
	    cmocka_unit_test(test_exe_symlink),
	    cmocka_unit_test(test_glob_dots),
	    cmocka_unit_test(test_glob_star_matches_all),
	    cmocka_unit_test(test_glob_events),
	    cmocka_unit_test(test_glob_general),
	    cmocka_unit_test(test_first_match_wins),
	    cmocka_unit_test(test_all_selectors_must_match),
	    cmocka_unit_test(test_default_deny),
	    cmocka_unit_test(test_embedded_default),
	    cmocka_unit_test(test_rule_count),
	    cmocka_unit_test(test_pids_pinned),
	    cmocka_unit_test(test_pids_pinned_proc),
	    cmocka_unit_test(test_unknown_names_match_no_one),
	    cmocka_unit_test(test_root_may_call),
	    cmocka_unit_test(test_unmatched_patterns),
	    cmocka_unit_test(test_errors_members),
	    cmocka_unit_test(test_errors_quoting),
	    cmocka_unit_test(test_errors_effect),
	    cmocka_unit_test(test_errors_methods),
	    cmocka_unit_test(test_provide_rules),
	    cmocka_unit_test(test_errors_selectors),
	    cmocka_unit_test(test_error_buffer_handling),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_to_json_round_trip),
	    cmocka_unit_test(test_to_json_unknown_names),
	    cmocka_unit_test(test_keys_match),
	    cmocka_unit_test(test_keys_keyless),
	    cmocka_unit_test(test_keys_errors),
	    cmocka_unit_test(test_keys_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

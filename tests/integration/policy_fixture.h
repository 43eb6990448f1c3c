/*
 * policy_fixture.h — the policy tests' fixture: a daemon with a policy
 * file, and children that drop to another uid/gid/group set before they
 * connect, so the daemon judges them by what the kernel says. Needs root.
 */
#ifndef UDSRPC_POLICY_FIXTURE_H
#define UDSRPC_POLICY_FIXTURE_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

/*
 * Ids that no passwd/group entry on a test machine is expected to own; uid and
 * gid differ so that a reply mixing them up cannot pass (nobody's are equal).
 */
#define OTHER_UID 60001
#define OTHER_GID 60002
#define NO_SUCH_USER "udsrpc-test-no-such-user"
#define KID_TIMEOUT_MS 10000
#define MAX_KIDS 8
#define MAX_FDS 16

#define REQ(id, method) "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"" method "\"}"
#define PING REQ(1, "ping")
#define WHOAMI REQ(3, "peer.whoami")
#define CONFIG_SET                                                                                 \
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\",\"params\":{\"key\":\"k\","       \
	"\"value\":1}}"
#define CONFIG_GET                                                                                 \
	"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"config.get\",\"params\":{\"key\":\"absent\"}}"
#define CONFIG_LIST REQ(6, "config.list")
#define SHUTDOWN REQ(4, "daemon.shutdown")
#define RELOAD REQ(7, "daemon.reload")

/* nobody's ids, looked up once in policy_fixture_main(). */
extern uid_t nobody_uid;
extern gid_t nobody_gid;
/* Where this test program really lives (exe rules compare it). */
extern char self_exe[PATH_MAX];

/*
 * A child process under another identity. It connects when told and hands the
 * connected socket back over ctl (SCM_RIGHTS): the kernel fixes SO_PEERCRED
 * and SO_PEERPIDFD at connect(), so the daemon sees the child whoever writes
 * on the socket afterwards — exactly the "nothing in a request can change the
 * identity" of §4. The child stays alive until ctl closes, so the daemon's
 * pidfd check at accept finds it running (test_exe_rule_peer_gone lets one go
 * first on purpose).
 */
struct kid {
	pid_t pid;          /* from fork() */
	pid_t reported_pid; /* getpid() as the child saw it */
	int ctl;
};

/* What each test owns, so a failed assertion still stops every process it started. */
struct fx {
	struct daemon d;
	struct kid kids[MAX_KIDS];
	size_t nkids;
	int fds[MAX_FDS];
	size_t nfds;
	char config[160];
	char policy[160];
};


void write_file(const char *path, const char *text);

/* How often needle occurs in the daemon's log so far. */
int log_count(const struct daemon *d, const char *needle);

/* The log is written before the reply or by a signal handler we cannot
 * observe otherwise: poll it, for a bounded time. */
bool wait_log_count(const struct daemon *d, const char *needle, int want, int timeout_ms);

/* Fork a child that becomes uid/gid with exactly these supplementary groups. */
struct kid *kid_spawn(struct fx *f, uid_t uid, gid_t gid, const gid_t *groups,
                             size_t ngroups);

struct kid *kid_nobody(struct fx *f);

/* A connection made by the child, now in our hands. */
int kid_connect(struct fx *f, struct kid *k);

int root_connect(struct fx *f);

void fx_close(struct fx *f, int fd);

/* Waits (bounded) for a child; its status, or -1 after killing it. */
int reap(pid_t pid, int timeout_ms);

/* Tell a child to go and check it went cleanly. */
void kid_finish(struct kid *k);

int fx_setup(void **state);

int fx_teardown(void **state);

/*
 * daemon_prepare + daemon_spawn with an optional config and policy file.
 * mkdtemp made the directory 0700; children of other uids must reach the
 * socket in it (the socket itself is 0666 by default).
 */
void fx_start(struct fx *f, const char *config_json, const char *policy_json);

void fx_stop(struct fx *f);

json_t *call(int fd, const char *req);

void assert_json_equal(json_t *got, json_t *want);

/* The whole reply, exactly: {"jsonrpc":"2.0","id":id,"result":<result_json>}. */
void expect_result(int fd, const char *req, json_int_t id, const char *result_json);

/* The whole -32001 reply, exactly, data naming this peer and nothing else. */
void assert_denied_reply(json_t *r, json_int_t id, const char *method, uid_t uid, gid_t gid,
                                pid_t pid);

/* k is the child that made the connection; NULL for one this test process made. */
void expect_denied(int fd, const char *req, json_int_t id, const char *method,
                          const struct kid *k, uid_t uid, gid_t gid);

int error_code(json_t *r);

json_t *root_call(struct fx *f, const char *req);

/*
 * The main() of a policy test program: skips (77) unless root and a user
 * nobody exist, fills nobody_uid, nobody_gid and self_exe, runs the tests.
 */
/* In a child: close every descriptor from 3 up except keep. */
void close_inherited(int keep);
/* In a child: become uid/gid with exactly these groups; 0 or the errno. */
int drop_identity(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups);

int policy_fixture_main(const char *prog, const struct CMUnitTest *tests, size_t n);

#endif

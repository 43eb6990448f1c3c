/*
 * test_policy_keys.c — the keys selector of udsrpc(7) ("Keys in a policy")
 * on real connections of uid nobody: calls decided as (method, key),
 * config.list and config events filtered by (config.get, key), and
 * config.txn, config.unset with prefix and config.restore refused whole,
 * data.key naming the first key refused. Needs root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_fixture.h"

/* "deploy may manage the keys under app/" (udsrpc(7)), nobody standing in for deploy. */
#define DEPLOY_RULES                                                                               \
	"{\"effect\":\"allow\",\"methods\":[\"config.list\",\"config.txn\",\"events.subscribe\"],"  \
	"\"uids\":[\"nobody\"]},"                                                                  \
	"{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"keys\":[\"app/*\"],"                    \
	"\"uids\":[\"nobody\"]},"
#define ROOT_ALL "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}"

/* One request line with by-name params (params_json) and id 1. */
static const char *req(const char *method, const char *params_json)
{
	static char line[1024];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
	         method, params_json);
	return line;
}

/* root sets key to 1. */
static void root_set(int fr, const char *key)
{
	char params[300];
	snprintf(params, sizeof(params), "{\"key\":\"%s\",\"value\":1}", key);
	json_t *r = call(fr, req("config.set", params));
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
}

/* The call must be refused whole: -32001 naming method, this peer, and key. */
static void expect_key_refused(int fd, const char *method, const char *params_json,
                               const struct kid *k, const char *key)
{
	json_t *r = call(fd, req(method, params_json));
	json_t *want = json_pack("{s:s,s:i,s:{s:i,s:s,s:{s:s,s:I,s:I,s:I,s:s}}}", "jsonrpc", "2.0",
	                         "id", 1, "error", "code", -32001, "message", "Permission denied",
	                         "data", "method", method, "uid", (json_int_t)nobody_uid, "gid",
	                         (json_int_t)nobody_gid, "pid", (json_int_t)k->pid, "key", key);
	assert_json_equal(r, want);
	json_decref(want);
	json_decref(r);
}

/* The keys of a config.list answer, " "-joined, and its "more". */
static void expect_list(int fd, const char *params_json, const char *want_keys, bool want_more)
{
	json_t *r = call(fd, req("config.list", params_json)), *item;
	json_t *res = json_object_get(r, "result");
	char got[512] = "";
	size_t i;

	assert_non_null(res);
	json_array_foreach(json_object_get(res, "items"), i, item) {
		strncat(got, i ? " " : "", sizeof(got) - strlen(got) - 1);
		strncat(got, json_string_value(json_object_get(item, "key")),
		        sizeof(got) - strlen(got) - 1);
	}
	assert_string_equal(got, want_keys);
	assert_int_equal(json_is_true(json_object_get(res, "more")), want_more);
	json_decref(r);
}

/* Absent for root: a refused call changed nothing. */
static void expect_absent(struct fx *f, const char *key)
{
	char params[300];
	snprintf(params, sizeof(params), "{\"key\":\"%s\"}", key);
	json_t *r = root_call(f, req("config.get", params));
	assert_int_equal(error_code(r), -32010);
	json_decref(r);
}

static void test_keys_decide_calls(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL, "{\"rules\":[" DEPLOY_RULES ROOT_ALL "]}");
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k), fr = root_connect(f);
	root_set(fr, "app/a");
	root_set(fr, "app/b");
	root_set(fr, "secret/x");
	root_set(fr, "zz/1");

	json_t *r = call(fd, req("config.get", "{\"key\":\"app/a\"}"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "value")),
	                 1);
	json_decref(r);
	expect_denied(fd, req("config.get", "{\"key\":\"secret/x\"}"), 1, "config.get", k,
	              nobody_uid, nobody_gid);
	expect_result(fd, req("config.set", "{\"key\":\"app/c\",\"value\":2}"), 1,
	              "{\"key\":\"app/c\",\"revision\":5}");
	expect_denied(fd, req("config.set", "{\"key\":\"secret/x\",\"value\":2}"), 1, "config.set",
	              k, nobody_uid, nobody_gid);
	expect_denied(fd, req("config.unset", "{\"key\":\"zz/1\"}"), 1, "config.unset", k,
	              nobody_uid, nobody_gid);
	/* Allowed on app/a after refused on secret/x: verdicts on keys are not cached per method. */
	expect_result(fd, req("config.unset", "{\"key\":\"app/c\"}"), 1,
	              "{\"key\":\"app/c\",\"revision\":6}");

	/* config.list: only what config.get allows; limit and more count those alone. */
	expect_list(fd, "{}", "app/a app/b", false);
	expect_list(fd, "{\"limit\":1}", "app/a", true);
	expect_list(fd, "{\"after\":\"app/a\",\"limit\":1}", "app/b", false);
	expect_list(fd, "{\"prefix\":\"secret/\",\"keys_only\":true}", "", false);
	expect_list(fr, "{}", "app/a app/b secret/x zz/1", false);

	/* config.txn: no key of its own (rule 1), then every key it touches. */
	expect_result(fd,
	              req("config.txn", "{\"compare\":[{\"key\":\"app/a\",\"exists\":true}],"
	                                "\"success\":[{\"op\":\"set\",\"key\":\"app/d\",\"value\":3},"
	                                "{\"op\":\"get\",\"key\":\"app/b\"}]}"),
	              1,
	              "{\"succeeded\":true,\"revision\":7,\"results\":[{\"key\":\"app/d\","
	              "\"revision\":7},{\"key\":\"app/b\",\"value\":1,\"revision\":2,"
	              "\"create_revision\":2,\"version\":1}]}");
	expect_key_refused(fd, "config.txn",
	                   "{\"compare\":[{\"key\":\"secret/x\",\"value\":1}],\"success\":[]}", k,
	                   "secret/x");
	expect_key_refused(fd, "config.txn",
	                   "{\"success\":[{\"op\":\"set\",\"key\":\"app/e\",\"value\":1},"
	                   "{\"op\":\"unset\",\"key\":\"zz/1\"},{\"op\":\"get\",\"key\":\"secret/x\"}]}",
	                   k, "zz/1");
	/* Each key of a method on its own, not just the first (its look-up is kept). */
	expect_key_refused(fd, "config.txn",
	                   "{\"compare\":[{\"key\":\"app/a\",\"exists\":true}],\"success\":["
	                   "{\"op\":\"get\",\"key\":\"app/b\"},{\"op\":\"set\",\"key\":\"app/e\","
	                   "\"value\":1},{\"op\":\"set\",\"key\":\"zz/2\",\"value\":1}]}",
	                   k, "zz/2");
	expect_key_refused(fd, "config.txn",
	                   "{\"compare\":[{\"key\":\"app/a\",\"exists\":true}],\"success\":["
	                   "{\"op\":\"get\",\"key\":\"secret/x\"}]}",
	                   k, "secret/x");
	/* The failure branch is judged too, though it would not run. */
	expect_key_refused(fd, "config.txn",
	                   "{\"success\":[],\"failure\":[{\"op\":\"get\",\"key\":\"secret/x\"}]}", k,
	                   "secret/x");
	expect_absent(f, "app/e");
	/* No key rule gives it the keyless calls rule 1 does not name. */
	expect_denied(fd, req("config.unset", "{\"prefix\":\"app/\"}"), 1, "config.unset", k,
	              nobody_uid, nobody_gid);
	expect_denied(fd, req("config.restore", "{\"items\":[],\"mode\":\"merge\"}"), 1,
	              "config.restore", k, nobody_uid, nobody_gid);
	kid_finish(k);
	fx_stop(f);
}

/*
 * config.unset with prefix and config.restore, allowed as calls, are judged
 * key by key: every key removed needs config.unset, every key written
 * config.set. A deny with keys ["*"] keeps the keyless allow after it to
 * the calls that have no key.
 */
static void test_keys_prefix_and_restore(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL,
	         "{\"rules\":["
	         "{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"keys\":[\"app/*\"],"
	         "\"uids\":[\"nobody\"]},"
	         "{\"effect\":\"deny\",\"methods\":[\"config.*\"],\"keys\":[\"*\"],"
	         "\"uids\":[\"nobody\"]},"
	         "{\"effect\":\"allow\",\"methods\":[\"config.unset\",\"config.restore\"],"
	         "\"uids\":[\"nobody\"]}," ROOT_ALL "]}");
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k), fr = root_connect(f);
	root_set(fr, "app/a");
	root_set(fr, "app/b");
	root_set(fr, "b/secret");

	/* The whole store: b/secret is the first key it may not unset. */
	expect_key_refused(fd, "config.unset", "{\"prefix\":\"\"}", k, "b/secret");
	expect_result(fd, req("config.unset", "{\"prefix\":\"app/\"}"), 1,
	              "{\"prefix\":\"app/\",\"revision\":4,\"count\":2}");
	expect_result(fd, req("config.restore", "{\"items\":[{\"key\":\"app/x\",\"value\":1}],"
	                                        "\"mode\":\"merge\"}"),
	              1, "{\"revision\":5,\"count\":1}");
	expect_key_refused(fd, "config.restore",
	                   "{\"items\":[{\"key\":\"app/y\",\"value\":1},"
	                   "{\"key\":\"c/z\",\"value\":1}],\"mode\":\"merge\"}",
	                   k, "c/z");
	expect_absent(f, "app/y");
	/* replace would remove b/secret, which it may not unset. */
	expect_key_refused(fd, "config.restore",
	                   "{\"items\":[{\"key\":\"app/x\",\"value\":2}],\"mode\":\"replace\"}", k,
	                   "b/secret");
	expect_list(fr, "{}", "app/x b/secret", false);
	kid_finish(k);
	fx_stop(f);
}

/*
 * Per-key refusals, for nobody: config.* on app/ only, and the three calls
 * that are judged key by key allowed as calls.
 */
#define PER_KEY_RULES                                                                              \
	"{\"rules\":["                                                                             \
	"{\"effect\":\"allow\",\"methods\":[\"config.*\"],\"keys\":[\"app/*\"],"                   \
	"\"uids\":[\"nobody\"]},"                                                                  \
	"{\"effect\":\"deny\",\"methods\":[\"config.*\"],\"keys\":[\"*\"],\"uids\":[\"nobody\"]}," \
	"{\"effect\":\"allow\",\"methods\":[\"config.txn\",\"config.unset\",\"config.restore\"],"  \
	"\"uids\":[\"nobody\"]}," ROOT_ALL "]}"
#define TXN_SECRET "{\"compare\":[{\"key\":\"b/secret\",\"exists\":true}],\"success\":[]}"
#define UNSET_ALL "{\"prefix\":\"\"}"
#define RESTORE_CZ "{\"items\":[{\"key\":\"c/z\",\"value\":1}],\"mode\":\"merge\"}"

/* The three refusals a handler makes itself, key by key, on fd. */
static void refuse_three(int fd, const struct kid *k)
{
	expect_key_refused(fd, "config.txn", TXN_SECRET, k, "b/secret");
	expect_key_refused(fd, "config.unset", UNSET_ALL, k, "b/secret");
	expect_key_refused(fd, "config.restore", RESTORE_CZ, k, "c/z");
}

/* The denial line of method refusing key to k (udsrpc(7), "Denials and audit"). */
static const char *key_denial(const char *method, const char *key, const struct kid *k)
{
	static char line[PATH_MAX + 300];
	snprintf(line, sizeof(line),
	         "warning: denied %s of key %s to uid %u gid %u pid %d exe %s\n", method, key,
	         (unsigned)nobody_uid, (unsigned)nobody_gid, (int)k->reported_pid, self_exe);
	return line;
}

/*
 * A refusal the handler decides per key is logged as one decided before it
 * runs: one warning line naming the peer, the method and data.key, once per
 * connection and method.
 */
static void test_keys_refusal_logged(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL, PER_KEY_RULES);
	struct kid *k = kid_nobody(f);
	int fd = kid_connect(f, k), fr = root_connect(f);
	root_set(fr, "app/a");
	root_set(fr, "b/secret");

	refuse_three(fd, k);
	assert_int_equal(log_count(&f->d, key_denial("config.txn", "b/secret", k)), 1);
	assert_int_equal(log_count(&f->d, key_denial("config.unset", "b/secret", k)), 1);
	assert_int_equal(log_count(&f->d, key_denial("config.restore", "c/z", k)), 1);
	/* Again on the same connection: refused again, not logged again. */
	refuse_three(fd, k);
	assert_int_equal(log_count(&f->d, "warning: denied "), 3);
	/* A call the policy refuses before the handler keeps its line, without a key. */
	expect_denied(fd, req("config.get", "{\"key\":\"b/secret\"}"), 1, "config.get", k,
	              nobody_uid, nobody_gid);
	assert_int_equal(log_count(&f->d, "warning: denied config.get to uid "), 1);
	assert_int_equal(log_count(&f->d, "warning: denied "), 4);
	kid_finish(k);
	fx_stop(f);
}

/*
 * They share the uid's log budget: 30 refusals (10 connections, three
 * methods each) in under a second are 10 lines, then one line counting the
 * other 20; however slow the machine, every one is logged or counted.
 */
static void test_keys_refusal_log_bounded(void **state)
{
	enum { CONNS = 10, REFUSALS = 3 * CONNS };
	struct fx *f = *state;

	fx_start(f, NULL, PER_KEY_RULES);
	struct kid *k = kid_nobody(f);
	int fr = root_connect(f);
	root_set(fr, "b/secret");

	long t0 = now_ms();
	for (int i = 0; i < CONNS; i++) {
		int fd = kid_connect(f, k);
		refuse_three(fd, k);
		fx_close(f, fd);
	}
	long spent = now_ms() - t0;
	char held[32];
	snprintf(held, sizeof(held), "uid %u: ", (unsigned)nobody_uid);
	/* The count comes with the sweep that closes the window, about a second on. */
	assert_true(wait_log_count(&f->d, held, 1, harness_ms(5000)));
	char *log = daemon_log(&f->d);
	assert_non_null(log);
	unsigned lines = 0, noted = 0;
	unsigned long suppressed = 0;
	for (const char *p = log; (p = strstr(p, "warning: denied config.")); p++) {
		const char *key = strstr(p, " of key "), *eol = strchr(p, '\n');
		lines += key && (!eol || key < eol);
	}
	for (const char *p = log; (p = strstr(p, held)); p++, noted++)
		suppressed += strtoul(p + strlen(held), NULL, 10);
	printf("# %d refusals in %ld ms: %u lines, %lu suppressed in %u line(s)\n", REFUSALS, spent,
	       lines, suppressed, noted);
	assert_int_equal(lines + suppressed, REFUSALS);
	if (spent < 1000) {
		assert_int_equal(lines, 10);
		assert_int_equal(suppressed, REFUSALS - 10);
		assert_int_equal(noted, 1);
	} else {
		assert_true(lines <=
		            10 * (unsigned)(spent / 1000 + 2)); /* a slow run: 10 a window */
	}
	free(log);
	kid_finish(k);
	fx_stop(f);
}

/* The next line on fd, an event: its key and type as "type key". */
static void expect_event(int fd, const char *want)
{
	char *line = client_recv_line(fd, harness_ms(5000)), got[300];
	json_t *msg = line ? json_loads(line, 0, NULL) : NULL;
	json_t *p = json_object_get(msg, "params");

	if (!p)
		fail_msg("no event (%s)", line ? line : "nothing within 5 s");
	snprintf(got, sizeof(got), "%s %s", json_string_value(json_object_get(p, "type")),
	         json_string_value(json_object_get(p, "key")));
	assert_string_equal(got, want);
	json_decref(msg);
	free(line);
}

/*
 * A config event reaches a subscriber only for keys it may config.get.
 * Two connections of nobody's (one kind: judged once per event for both,
 * events.c's memo) and one of root's, whose rules look at no key, each get
 * their own verdict per event, key after key.
 */
static void test_keys_filter_events(void **state)
{
	struct fx *f = *state;

	fx_start(f, NULL, "{\"rules\":[" DEPLOY_RULES ROOT_ALL "]}");
	struct kid *k = kid_nobody(f);
	int fds[3] = {kid_connect(f, k), kid_connect(f, k), root_connect(f)}, fr = root_connect(f);
	for (int i = 0; i < 3; i++) {
		json_t *r = call(fds[i], req("events.subscribe", "{\"topics\":[\"config\"]}"));
		assert_non_null(json_object_get(r, "result"));
		json_decref(r);
	}

	root_set(fr, "secret/x");
	root_set(fr, "app/a");
	expect_event(fds[2], "set secret/x");
	for (int i = 0; i < 3; i++)
		expect_event(fds[i], "set app/a");
	/* A transaction's events, one per key, filtered one by one. */
	json_t *r = call(fr, req("config.txn",
	                         "{\"success\":[{\"op\":\"set\",\"key\":\"secret/y\",\"value\":1},"
	                         "{\"op\":\"set\",\"key\":\"app/b\",\"value\":1},"
	                         "{\"op\":\"unset\",\"key\":\"secret/x\"}]}"));
	json_decref(r);
	expect_event(fds[2], "set secret/y");
	for (int i = 0; i < 3; i++)
		expect_event(fds[i], "set app/b");
	expect_event(fds[2], "unset secret/x");
	r = call(fr, req("config.unset", "{\"prefix\":\"\"}"));
	json_decref(r);
	for (int i = 0; i < 3; i++) {
		expect_event(fds[i], "unset app/a");
		expect_event(fds[i], "unset app/b");
	}
	expect_event(fds[2], "unset secret/y");
	for (int i = 0; i < 3; i++)
		assert_true(client_silent(fds[i], harness_ms(300)));
	kid_finish(k);
	fx_stop(f);
}

#define CASE(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CASE(test_keys_decide_calls),        CASE(test_keys_prefix_and_restore),
	    CASE(test_keys_filter_events),       CASE(test_keys_refusal_logged),
	    CASE(test_keys_refusal_log_bounded),
	};
	return policy_fixture_main("test_policy_keys", tests, sizeof(tests) / sizeof(tests[0]));
}

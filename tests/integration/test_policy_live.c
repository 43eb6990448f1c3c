/*
 * test_policy_live.c — a new policy reaches connections already open
 * (udsrpc(7), "EVENTS"): after a reload a subscriber keeps only the topics
 * it may still subscribe to, every event is judged by the policy in force
 * when it is sent, and no verdict cached on a connection outlives the
 * policy it came from. The subscriber is uid nobody; needs root.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_fixture.h"

#define ROOT_ALL "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0]}"
#define SUBSCRIBE(topics)                                                                          \
	"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"events.subscribe\",\"params\":{\"topics\":" topics \
	"}}"
#define SET_SECRET(v)                                                                              \
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\",\"params\":{\"key\":\"secret\","  \
	"\"value\":\"" v "\"}}"
#define GET_SECRET                                                                                 \
	"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"config.get\",\"params\":{\"key\":\"secret\"}}"

/* A policy of nobody's rules, then everything for root. */
static const char *policy_text(const char *nobody_rules)
{
	static char text[1024];
	snprintf(text, sizeof(text), "{\"rules\":[%s," ROOT_ALL "]}", nobody_rules);
	return text;
}

/* The daemon started with that policy file. */
static void start(struct fx *f, const char *nobody_rules)
{
	fx_start(f, NULL, policy_text(nobody_rules));
}

/* The policy file, rewritten whole (renamed into place) before a reload. */
static void policy(struct fx *f, const char *nobody_rules)
{
	write_file(f->policy, policy_text(nobody_rules));
}

/* The next line on fd, which must be an event: its params (new reference). */
static json_t *next_event(int fd)
{
	char *line = client_recv_line(fd, harness_ms(5000));
	if (!line)
		fail_msg("no event within 5 s");
	json_t *msg = json_loads(line, 0, NULL);
	if (!msg || strcmp(json_string_value(json_object_get(msg, "method")), "event") != 0)
		fail_msg("not an event: %s", line);
	free(line);
	json_t *params = json_incref(json_object_get(msg, "params"));
	json_decref(msg);
	return params;
}

/* The next event is a config set of key "secret" to value. */
static void expect_secret_event(int fd, const char *value)
{
	json_t *ev = next_event(fd);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "config");
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "secret");
	assert_string_equal(json_string_value(json_object_get(ev, "value")), value);
	json_decref(ev);
}

/* events.subscribe on fd, which must answer with exactly these topics subscribed. */
static void subscribe(int fd, const char *topics)
{
	char req[256];
	snprintf(req, sizeof(req), SUBSCRIBE("%s"), topics);
	json_t *r = call(fd, req), *want = json_loads(topics, 0, NULL);
	assert_json_equal(json_object_get(json_object_get(r, "result"), "topics"), want);
	json_decref(want);
	json_decref(r);
}

/* The topics peer.list shows for the one connection of uid (root asks). */
static json_t *topics_of(struct fx *f, uid_t uid)
{
	json_t *r = root_call(f, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"peer.list\"}");
	json_t *peers = json_object_get(json_object_get(r, "result"), "peers"), *p, *found = NULL;
	size_t i;

	json_array_foreach(peers, i, p)
		if (json_integer_value(json_object_get(p, "uid")) == (json_int_t)uid)
			found = json_incref(json_object_get(p, "topics"));
	json_decref(r);
	assert_non_null(found);
	return found;
}

static void assert_topics(struct fx *f, uid_t uid, const char *want_json)
{
	json_t *got = topics_of(f, uid), *want = json_loads(want_json, 0, NULL);
	assert_json_equal(got, want);
	json_decref(got);
	json_decref(want);
}

/*
 * The fault of issue 17: uid nobody, its events.* revoked by a reload, kept
 * receiving the values root set, because the subscription outlived the
 * policy that allowed it. Now it loses every topic, hears nothing more (not
 * even the reload, nor a peer coming), and says so in the log.
 */
static void test_reload_revokes_subscription(void **state)
{
	struct fx *f = *state;
	const char *may_watch =
	    "{\"effect\":\"allow\",\"methods\":[\"config.get\",\"events.*\"],\"uids\":[\"nobody\"]}";

	start(f, may_watch);

	struct kid *k = kid_nobody(f);
	int sub = kid_connect(f, k), fr = root_connect(f);
	subscribe(sub, "[\"config\",\"daemon\",\"peer\"]");
	/* Before: the secret reaches it. */
	expect_result(fr, SET_SECRET("one"), 2, "{\"key\":\"secret\",\"revision\":1}");
	expect_secret_event(sub, "one");

	/* config.get stays: the key filter alone would still let the event through. */
	policy(f, "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"uids\":[\"nobody\"]}");
	expect_result(fr, RELOAD, 7, "{\"policy_rules\":2}");
	expect_result(fr, SET_SECRET("two"), 2, "{\"key\":\"secret\",\"revision\":2}");
	int other = root_connect(f); /* a "peer" event, had it kept that topic */
	fx_close(f, other);
	assert_true(client_silent(sub, harness_ms(300)));
	assert_topics(f, nobody_uid, "[]");
	char line[160];
	snprintf(line, sizeof(line), "uid %u pid %d (connection ", (unsigned)nobody_uid,
	         (int)k->pid);
	assert_int_equal(log_count(&f->d, line), 1);
	assert_int_equal(log_count(&f->d, "may no longer subscribe: its 3 topic(s) dropped"), 1);
	/* It still reads the key it may read; it just hears nothing of it. */
	expect_result(sub, GET_SECRET, 5,
	              "{\"key\":\"secret\",\"value\":\"two\",\"revision\":2,\"create_revision\":1,"
	              "\"version\":2}");
	/* And it cannot subscribe again. */
	expect_denied(sub, SUBSCRIBE("[\"config\"]"), 9, "events.subscribe", k, nobody_uid,
	              nobody_gid);
	kid_finish(k);
	fx_stop(f);
}

/*
 * Still allowed to subscribe, the key's verdict changes both ways, by
 * SIGHUP: each event is judged by the policy in force when it is sent, and
 * the verdict the connection cached under the old one (from a config.get
 * call and from the last event) is not used again.
 */
static void test_event_judged_when_sent(void **state)
{
	struct fx *f = *state;
	const char *watch_only =
	    "{\"effect\":\"allow\",\"methods\":[\"events.*\"],\"uids\":[\"nobody\"]}";
	const char *watch_read = "{\"effect\":\"allow\",\"methods\":[\"config.get\",\"events.*\"],"
	                         "\"uids\":[\"nobody\"]}";

	start(f, watch_only);

	struct kid *k = kid_nobody(f);
	int sub = kid_connect(f, k), fr = root_connect(f);
	expect_denied(sub, GET_SECRET, 5, "config.get", k, nobody_uid, nobody_gid); /* cached: no */
	subscribe(sub, "[\"config\",\"daemon\"]");
	expect_result(fr, SET_SECRET("one"), 2, "{\"key\":\"secret\",\"revision\":1}");
	assert_true(client_silent(sub, harness_ms(300)));

	/* Opened by SIGHUP: the next set arrives (after the reload event). */
	policy(f, watch_read);
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	json_t *ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "reload");
	json_decref(ev);
	expect_result(fr, SET_SECRET("two"), 2, "{\"key\":\"secret\",\"revision\":2}");
	expect_secret_event(sub, "two"); /* cached: yes */

	/* Closed again: nothing, though the subscription itself stays. */
	policy(f, watch_only);
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	ev = next_event(sub);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "reload");
	json_decref(ev);
	expect_result(fr, SET_SECRET("three"), 2, "{\"key\":\"secret\",\"revision\":3}");
	assert_true(client_silent(sub, harness_ms(300)));
	assert_topics(f, nobody_uid, "[\"config\",\"daemon\"]");
	expect_denied(sub, GET_SECRET, 5, "config.get", k, nobody_uid, nobody_gid);
	kid_finish(k);
	fx_stop(f);
}

/* root sets key to value (string), at revision rev. */
static void root_set(int fd, const char *key, const char *value, int rev)
{
	char req[256], res[128];
	snprintf(req, sizeof(req),
	         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.set\",\"params\":{\"key\":\"%s\","
	         "\"value\":\"%s\"}}",
	         key, value);
	snprintf(res, sizeof(res), "{\"key\":\"%s\",\"revision\":%d}", key, rev);
	expect_result(fd, req, 2, res);
}

/* The next event on fd is a config set of key to value. */
static void expect_set_event(int fd, const char *key, const char *value)
{
	json_t *ev = next_event(fd);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")), "config");
	assert_string_equal(json_string_value(json_object_get(ev, "key")), key);
	assert_string_equal(json_string_value(json_object_get(ev, "value")), value);
	json_decref(ev);
}

/*
 * Root sets secret to v1 and v2, then pub to "x" (revisions from rev on):
 * root's subscriber rs hears all three, each open one of s only pub's.
 */
static void refused_twice(int fr, int rs, const int *s, int n, const char *v1, const char *v2,
                          const char *pub, int rev)
{
	root_set(fr, "secret", v1, rev);
	root_set(fr, "secret", v2, rev + 1);
	root_set(fr, pub, "x", rev + 2);
	expect_set_event(rs, "secret", v1);
	expect_set_event(rs, "secret", v2);
	expect_set_event(rs, pub, "x");
	for (int i = 0; i < n; i++)
		if (s[i] >= 0)
			expect_set_event(s[i], pub, "x");
}

/* The policy of nobody_rules by SIGHUP, heard as the reload event on each open one of s. */
static void reload(struct fx *f, const char *nobody_rules, const int *s, int n)
{
	policy(f, nobody_rules);
	assert_int_equal(kill(f->d.pid, SIGHUP), 0);
	for (int i = 0; i < n; i++)
		if (s[i] >= 0) {
			json_t *ev = next_event(s[i]);
			assert_string_equal(json_string_value(json_object_get(ev, "type")), "reload");
			json_decref(ev);
		}
}

/*
 * Several subscribers of one process under a keys rule: the walk of an
 * event passes over the run of those its plan refuses at once (events.c,
 * events_run_end). Each still gets what its verdict allows, when a key is
 * allowed, after one of the run goes, and after reloads open and close
 * the key again.
 */
static void test_event_judged_for_each_of_a_run(void **state)
{
	struct fx *f = *state;
	const char *pub_only = "{\"effect\":\"allow\",\"methods\":[\"events.*\"],\"uids\":[\"nobody\"]},"
	                       "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"keys\":[\"pub/*\"],"
	                       "\"uids\":[\"nobody\"]}";
	const char *pub_secret =
	    "{\"effect\":\"allow\",\"methods\":[\"events.*\"],\"uids\":[\"nobody\"]},"
	    "{\"effect\":\"allow\",\"methods\":[\"config.get\"],\"keys\":[\"pub/*\",\"secret\"],"
	    "\"uids\":[\"nobody\"]}";
	enum { N = 4 };
	int s[N];

	start(f, pub_only);
	struct kid *k = kid_nobody(f);
	int fr = root_connect(f), rs = root_connect(f);
	subscribe(rs, "[\"config\"]");
	for (int i = 0; i < N; i++) {
		s[i] = kid_connect(f, k);
		subscribe(s[i], "[\"config\",\"daemon\"]");
	}
	/* The first set makes the verdicts, the second finds the run made of them. */
	refused_twice(fr, rs, s, N, "one", "two", "pub/a", 1);

	/* One of the run gone: the rest as before. */
	fx_close(f, s[1]);
	s[1] = -1;
	refused_twice(fr, rs, s, N, "three", "four", "pub/b", 4);

	/* Opened, then closed again, by SIGHUP: each event by the policy in force. */
	reload(f, pub_secret, s, N);
	root_set(fr, "secret", "five", 7);
	root_set(fr, "secret", "six", 8);
	for (int i = 0; i < N; i++)
		if (s[i] >= 0) {
			expect_set_event(s[i], "secret", "five");
			expect_set_event(s[i], "secret", "six");
		}
	reload(f, pub_only, s, N);
	root_set(fr, "secret", "seven", 9);
	root_set(fr, "secret", "eight", 10);
	root_set(fr, "pub/c", "z", 11);
	for (int i = 0; i < N; i++)
		if (s[i] >= 0)
			expect_set_event(s[i], "pub/c", "z");
	kid_finish(k);
	fx_stop(f);
}

/*
 * A name provided under rules a reload revokes is released (udsrpc(7)):
 * logged, gone from rpc.discover, and a call to it is -32601.
 */
static void test_reload_provided_name_released(void **state)
{
	struct fx *f = *state;
	const char *calls = "{\"effect\":\"allow\",\"methods\":[\"rpc.*\"],\"uids\":[\"nobody\"]}";
	char both[512];

	snprintf(both, sizeof(both),
	         "%s,{\"effect\":\"allow\",\"provide\":[\"nobody.*\"],\"uids\":[\"nobody\"]}", calls);
	start(f, both);

	struct kid *k = kid_nobody(f);
	int prov = kid_connect(f, k), fr = root_connect(f);
	expect_result(prov,
	              "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"rpc.provide\",\"params\":{"
	              "\"methods\":[{\"name\":\"nobody.hello\",\"params\":[],"
	              "\"result\":{\"name\":\"r\",\"schema\":{}}}]}}",
	              3, "{\"methods\":[\"nobody.hello\"],\"topics\":[]}");
	policy(f, calls);
	expect_result(fr, RELOAD, 7, "{\"policy_rules\":2}");
	assert_int_equal(log_count(&f->d, "may no longer provide nobody.hello: released"), 1);
	json_t *r = call(fr, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"nobody.hello\"}");
	assert_int_equal(error_code(r), -32601);
	json_decref(r);
	r = call(fr, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"rpc.discover\"}");
	char *doc = json_dumps(r, JSON_COMPACT);
	assert_non_null(doc);
	assert_null(strstr(doc, "nobody.hello"));
	free(doc);
	json_decref(r);
	/* A new rpc.provide is judged by the new rules. */
	r = call(prov, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"rpc.provide\",\"params\":{"
	                       "\"methods\":[{\"name\":\"nobody.other\",\"params\":[],"
	                       "\"result\":{\"name\":\"r\",\"schema\":{}}}]}}");
	assert_int_equal(error_code(r), -32001);
	json_decref(r);
	kid_finish(k);
	fx_stop(f);
}

#define CASE(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CASE(test_reload_revokes_subscription),
	    CASE(test_event_judged_when_sent),
	    CASE(test_event_judged_for_each_of_a_run),
	    CASE(test_reload_provided_name_released),
	};
	return policy_fixture_main("test_policy_live", tests, sizeof(tests) / sizeof(tests[0]));
}

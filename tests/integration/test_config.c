/*
 * test_config.c — the config.* methods of udsrpc(7) on a real udsrpcd:
 * values of every JSON type, key syntax, the revision counter, CAS, restart
 * persistence, concurrent writers, notifications, policy, pipelined reads.
 *
 * Each test gets a fresh daemon and state dir, so revision numbers are exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct daemon d;
static int fd = -1;
static long next_id = 1;

static int daemon_setup(void **state)
{
	daemon_start(&d, NULL);
	fd = client_connect(d.sock);
	return fd < 0 ? -1 : 0;
}

static int daemon_teardown(void **state)
{
	client_close(fd);
	fd = -1;
	int status = daemon_stop(&d);
	daemon_cleanup(&d);
	return status == 0 ? 0 : -1;
}

/* Call method on conn and return the whole reply (new reference); asserts the id matches. */
static json_t *rpc_on(int conn, const char *method, json_t *params)
{
	return client_call_method(conn, next_id++, method, params);
}

static json_t *rpc(const char *method, json_t *params)
{
	return rpc_on(fd, method, params);
}

/* The result of a call that must succeed (new reference). */
static json_t *ok(const char *method, json_t *params)
{
	json_t *r = rpc(method, params);
	return harness_take_result(r, method);
}

/* The error of a call that must fail with code (new reference to the error object). */
static json_t *fails(const char *method, json_t *params, int code)
{
	json_t *r = rpc(method, params);
	json_t *err = json_object_get(r, "error");
	if (!err || json_integer_value(json_object_get(err, "code")) != code) {
		char *s = json_dumps(r, JSON_COMPACT);
		print_error("%s: expected error %d, got %s\n", method, code, s);
		free(s);
		fail();
	}
	json_incref(err);
	json_decref(r);
	return err;
}

/* Set key to value (stolen) and return the revision the daemon gave it. */
static json_int_t set(const char *key, json_t *value)
{
	json_t *res = ok("config.set", json_pack("{s:s,s:o}", "key", key, "value", value));
	assert_string_equal(json_string_value(json_object_get(res, "key")), key);
	json_int_t rev = json_integer_value(json_object_get(res, "revision"));
	assert_true(rev > 0);
	assert_int_equal(json_object_size(res), 2);
	json_decref(res);
	return rev;
}

static json_int_t unset(const char *key)
{
	json_t *res = ok("config.unset", json_pack("{s:s}", "key", key));
	assert_string_equal(json_string_value(json_object_get(res, "key")), key);
	json_int_t rev = json_integer_value(json_object_get(res, "revision"));
	json_decref(res);
	return rev;
}

/* config.get key must give exactly {key, value, revision, create_revision, version}. */
static void expect_get(const char *key, const json_t *value, json_int_t rev)
{
	json_t *res = ok("config.get", json_pack("{s:s}", "key", key));
	assert_int_equal(json_object_size(res), 5);
	assert_true(json_integer_value(json_object_get(res, "create_revision")) >= 1);
	assert_true(json_integer_value(json_object_get(res, "create_revision")) <= rev);
	assert_true(json_integer_value(json_object_get(res, "version")) >= 1);
	assert_string_equal(json_string_value(json_object_get(res, "key")), key);
	assert_true(json_equal(json_object_get(res, "value"), (json_t *)value));
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), rev);
	json_decref(res);
}

static void expect_absent(const char *key)
{
	json_t *err = fails("config.get", json_pack("{s:s}", "key", key), -32010);
	assert_string_equal(json_string_value(json_object_get(err, "message")), "Not found");
	json_t *data = json_object_get(err, "data");
	assert_int_equal(json_object_size(data), 1);
	assert_string_equal(json_string_value(json_object_get(data, "key")), key);
	json_decref(err);
}

/* -32011 with data exactly {"key": key, "revision": current}. */
static void expect_conflict(json_t *err, const char *key, json_int_t current)
{
	assert_string_equal(json_string_value(json_object_get(err, "message")), "Conflict");
	json_t *data = json_object_get(err, "data");
	assert_int_equal(json_object_size(data), 2);
	assert_string_equal(json_string_value(json_object_get(data, "key")), key);
	assert_int_equal(json_integer_value(json_object_get(data, "revision")), current);
	json_decref(err);
}

/* A nested object of a few hundred KiB: every JSON type at many depths. */
static json_t *big_value(void)
{
	json_t *o = json_object();
	char name[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "member-%05d", i);
		json_object_set_new(o, name,
		                    json_pack("{s:i,s:f,s:s,s:[b,n,s%],s:{s:[i,i]}}", "i", i, "f",
		                              i * 0.25, "s", "some text \xc3\xa9\xe2\x82\xac", "a",
		                              i % 2, "a\0b", (size_t)3, "o", "pair", i, -i));
	}
	/* Deep nesting too: 200 levels of arrays and objects. */
	json_t *deep = json_string("bottom");
	for (int i = 0; i < 200; i++)
		deep = i % 2 ? json_pack("[o]", deep) : json_pack("{s:o}", "d", deep);
	json_object_set_new(o, "deep", deep);
	return o;
}

static void test_values_of_every_type(void **state)
{
	static const char *const texts[] = {
	    "null",
	    "true",
	    "false",
	    "0",
	    "-1",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "1.5",
	    "-2.5e-300",
	    "\"\"",
	    "\"plain\"",
	    "\"x\\u0000y\"",
	    "\"\\u0000\"",
	    "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\\t\"",
	    "[]",
	    "{}",
	    "[1,\"two\",null,[true,{\"k\":\"v\\u0000\"}]]",
	    "{\"nested\":{\"a\":[{},[]]}}",
	};
	char key[32];
	json_int_t rev = 0;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_error_t err;
		json_t *v = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		assert_non_null(v);
		snprintf(key, sizeof(key), "type/%02zu", i);
		json_int_t r = set(key, json_incref(v));
		assert_int_equal(r, rev + 1); /* every set raises the one counter by one */
		rev = r;
		expect_get(key, v, r);
		json_decref(v);
	}
	/* The NUL survives byte for byte, not just as far as a C string goes. */
	json_t *res = ok("config.get", json_pack("{s:s}", "key", "type/11"));
	json_t *s = json_object_get(res, "value");
	assert_int_equal(json_string_length(s), 3);
	assert_memory_equal(json_string_value(s), "x\0y", 3);
	json_decref(res);

	json_t *big = big_value();
	char *dump = json_dumps(big, JSON_COMPACT);
	print_message("big value: %zu bytes\n", strlen(dump));
	assert_true(strlen(dump) > 200000);
	free(dump);
	rev = set("big", json_incref(big));
	expect_get("big", big, rev);
	/* Overwrite keeps the key, takes a new revision. */
	json_int_t r2 = set("big", json_integer(7));
	assert_int_equal(r2, rev + 1);
	json_t *seven = json_integer(7);
	expect_get("big", seven, r2);
	json_decref(seven);
	json_decref(big);
}

static void test_list_prefix_sorted_bytewise(void **state)
{
	/* Chosen around the byte order of the key alphabet: - . / 0-9 A-Z _ a-z. */
	static const char *const keys[] = {"a",  "b",    "a_b", "A",  "a-b", "a.b", "a/b", "a0",
	                                   "ab", "a//b", ".",   "/x", "_",   "Z",   "a/",  "-"};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	json_int_t revs[sizeof(keys) / sizeof(keys[0])];

	for (size_t i = 0; i < n; i++)
		revs[i] = set(keys[i], json_pack("{s:s,s:i}", "k", keys[i], "i", (int)i));
	static const struct {
		const char *prefix; /* NULL: no params at all */
		const char *want[17];
	} cases[] = {
	    {NULL,
	     {"-", ".", "/x", "A", "Z", "_", "a", "a-b", "a.b", "a/", "a//b", "a/b", "a0", "a_b",
	      "ab", "b", NULL}},
	    {"",
	     {"-", ".", "/x", "A", "Z", "_", "a", "a-b", "a.b", "a/", "a//b", "a/b", "a0", "a_b",
	      "ab", "b", NULL}},
	    {"a", {"a", "a-b", "a.b", "a/", "a//b", "a/b", "a0", "a_b", "ab", NULL}},
	    {"a/", {"a/", "a//b", "a/b", NULL}},
	    {"a//", {"a//b", NULL}},
	    {"/", {"/x", NULL}},
	    {"a/b", {"a/b", NULL}},
	    {"a/bc", {NULL}},
	    {"c", {NULL}},
	    {"B", {NULL}}, /* case matters */
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_t *params =
		    cases[c].prefix ? json_pack("{s:s}", "prefix", cases[c].prefix) : NULL;
		json_t *res = ok("config.list", params);
		assert_int_equal(json_object_size(res), 3); /* items, revision, more */
		assert_false(json_is_true(json_object_get(res, "more")));
		json_t *items = json_object_get(res, "items");
		assert_true(json_is_array(items));
		size_t want_n = 0;
		while (cases[c].want[want_n])
			want_n++;
		assert_int_equal(json_array_size(items), want_n);
		for (size_t i = 0; i < want_n; i++) {
			json_t *it = json_array_get(items, i);
			const char *key = cases[c].want[i];
			size_t k = 0;
			while (strcmp(keys[k], key) != 0)
				k++;
			assert_int_equal(json_object_size(it), 5);
			assert_string_equal(json_string_value(json_object_get(it, "key")), key);
			assert_int_equal(json_integer_value(json_object_get(it, "revision")),
			                 revs[k]);
			assert_string_equal(
			    json_string_value(json_object_get(json_object_get(it, "value"), "k")),
			    key);
		}
		json_decref(res);
	}
	/* An unset key leaves the listing. */
	unset("a/b");
	json_t *res = ok("config.list", json_pack("{s:s}", "prefix", "a/"));
	json_t *items = json_object_get(res, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "key")),
	                    "a/");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "key")),
	                    "a//b");
	json_decref(res);
	/* A prefix outside the key alphabet is invalid params, not an empty list. */
	json_t *err = fails("config.list", json_pack("{s:s}", "prefix", "a b"), -32602);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "path")), "/prefix");
	json_decref(err);
}

/* -32602 with data.path "/key" for each method taking a key. */
static void expect_bad_key(json_t *key)
{
	static const char *const methods[] = {"config.get", "config.set", "config.unset"};
	for (size_t m = 0; m < 3; m++) {
		json_t *params = json_pack("{s:O}", "key", key);
		if (strcmp(methods[m], "config.set") == 0)
			json_object_set_new(params, "value", json_true());
		json_t *err = fails(methods[m], params, -32602);
		json_t *data = json_object_get(err, "data");
		assert_string_equal(json_string_value(json_object_get(err, "message")),
		                    "Invalid params");
		assert_string_equal(json_string_value(json_object_get(data, "path")), "/key");
		assert_true(json_is_string(json_object_get(data, "reason")));
		json_decref(err);
	}
}

static void test_key_syntax(void **state)
{
	char k256[257], k257[258];
	memset(k256, 'k', 256);
	k256[256] = '\0';
	memset(k257, 'k', 257);
	k257[257] = '\0';
	/* Valid, however odd: the store does not map keys to file names. */
	static const char *const valid[] = {".", "..", "a//b",       "/x", "/",
	                                    "-", "_",  "a.b-c_d/E9", "x"};
	json_int_t rev = 0;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		rev = set(valid[i], json_string(valid[i]));
		json_t *v = json_string(valid[i]);
		expect_get(valid[i], v, rev);
		json_decref(v);
	}
	rev = set(k256, json_integer(256));
	json_t *v = json_integer(256);
	expect_get(k256, v, rev);
	json_decref(v);

	json_t *bad[] = {
	    json_string(""),
	    json_string(k257),
	    json_string("a b"),
	    json_stringn("a\0b", 3), /* a pattern alone would see only "a" */
	    json_string("caf\xc3\xa9"),
	    json_string("a\nb"),
	    json_string("a:b"),
	    json_integer(1),
	    json_null(),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_bad_key(bad[i]);
		json_decref(bad[i]);
	}
	/* Nothing bad was stored: the counter did not move. */
	assert_int_equal(set("after", json_true()), rev + 1);

	/* A missing key points at the params object and names the member. */
	json_t *err = fails("config.get", json_object(), -32602);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "path")), "");
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_object_get(err, "data"), "reason")), "key"));
	json_decref(err);
	/* set without a value, and with members it does not define. */
	err = fails("config.set", json_pack("{s:s}", "key", "k"), -32602);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "path")), "");
	assert_non_null(strstr(
	    json_string_value(json_object_get(json_object_get(err, "data"), "reason")), "value"));
	json_decref(err);
	err = fails("config.set", json_pack("{s:s,s:i,s:i}", "key", "k", "value", 1, "ttl", 5),
	            -32602);
	json_decref(err);
	err = fails("config.set", json_pack("[s,i]", "k", 1), -32602); /* by position */
	json_decref(err);
	expect_absent("k");
}

static void test_revision_counter(void **state)
{
	/* Starts at 1; one counter for the whole store; unset raises it too. */
	assert_int_equal(set("a", json_integer(1)), 1);
	assert_int_equal(set("b", json_integer(2)), 2);
	assert_int_equal(set("a", json_integer(3)), 3);
	json_t *v = json_integer(2);
	expect_get("b", v, 2); /* an item keeps the revision of its own last change */
	json_decref(v);
	assert_int_equal(unset("a"), 4);
	expect_absent("a");
	/* Failures change nothing. */
	json_decref(fails("config.unset", json_pack("{s:s}", "key", "a"), -32010));
	json_decref(fails("config.set",
	                  json_pack("{s:s,s:i,s:i}", "key", "b", "value", 9, "expect_revision", 1),
	                  -32011));
	json_decref(fails("config.get", json_pack("{s:s}", "key", "zzz"), -32010));
	assert_int_equal(set("c", json_integer(5)), 5);
	/* A key set again after an unset starts from the counter, not from 1. */
	assert_int_equal(set("a", json_integer(6)), 6);
	v = json_integer(6);
	expect_get("a", v, 6);
	json_decref(v);
}

static void test_cas(void **state)
{
	json_int_t r1 = set("cas", json_string("one"));
	set("other", json_null()); /* the counter moves past the key's own revision */

	/* Matching: applied. */
	json_t *res = ok("config.set", json_pack("{s:s,s:s,s:I}", "key", "cas", "value", "two",
	                                         "expect_revision", r1));
	json_int_t r2 = json_integer_value(json_object_get(res, "revision"));
	assert_int_equal(r2, r1 + 2);
	json_decref(res);
	/* Mismatched (stale, future, the store-wide counter): -32011 with the current one. */
	json_int_t wrong[] = {r1, r2 + 1, r2 - 1, 1000000};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		expect_conflict(fails("config.set",
		                      json_pack("{s:s,s:s,s:I}", "key", "cas", "value", "lost",
		                                "expect_revision", wrong[i]),
		                      -32011),
		                "cas", r2);
	json_t *v = json_string("two");
	expect_get("cas", v, r2);
	json_decref(v);

	/* expect_revision 0 = must not exist. */
	expect_conflict(
	    fails("config.set",
	          json_pack("{s:s,s:s,s:i}", "key", "cas", "value", "x", "expect_revision", 0),
	          -32011),
	    "cas", r2);
	res = ok("config.set",
	         json_pack("{s:s,s:s,s:i}", "key", "fresh", "value", "new", "expect_revision", 0));
	json_int_t r3 = json_integer_value(json_object_get(res, "revision"));
	assert_int_equal(r3, r2 + 1);
	json_decref(res);
	/* Absent key, non-zero expectation: conflict naming revision 0. */
	expect_conflict(
	    fails("config.set",
	          json_pack("{s:s,s:s,s:i}", "key", "absent", "value", "x", "expect_revision", 3),
	          -32011),
	    "absent", 0);
	expect_absent("absent");

	/* unset with CAS. */
	expect_conflict(fails("config.unset",
	                      json_pack("{s:s,s:I}", "key", "cas", "expect_revision", r1), -32011),
	                "cas", r2);
	res = ok("config.unset", json_pack("{s:s,s:I}", "key", "cas", "expect_revision", r2));
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), r3 + 1);
	json_decref(res);
	expect_absent("cas");
	/* After the unset the key is absent again: expect_revision 0 succeeds. */
	res = ok("config.set",
	         json_pack("{s:s,s:s,s:i}", "key", "cas", "value", "back", "expect_revision", 0));
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), r3 + 2);
	json_decref(res);

	/* Unset of an absent key: -32010 {"key"} exactly. */
	json_t *err = fails("config.unset", json_pack("{s:s}", "key", "never"), -32010);
	assert_string_equal(json_string_value(json_object_get(err, "message")), "Not found");
	assert_int_equal(json_object_size(json_object_get(err, "data")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(err, "data"), "key")),
	                    "never");
	json_decref(err);
	/* Negative expectations are not "no check": the schema says minimum 0. */
	json_decref(fails(
	    "config.set",
	    json_pack("{s:s,s:i,s:i}", "key", "cas", "value", 1, "expect_revision", -1), -32602));
}

static void test_restart_keeps_values_and_revision(void **state)
{
	json_t *big = big_value();
	json_int_t r_big = set("persist/big", json_incref(big));
	json_int_t r_nul = set("persist/nul", json_stringn("a\0b", 3));
	set("persist/gone", json_true());
	json_int_t r_obj = set("persist/obj", json_pack("{s:[i,n,b]}", "x", 1, 0));
	json_int_t last =
	    unset("persist/gone"); /* the last change is an unset: the counter must still survive */

	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0); /* same d.state */
	fd = client_connect(d.sock);
	assert_true(fd >= 0);

	expect_get("persist/big", big, r_big);
	json_t *v = json_stringn("a\0b", 3);
	expect_get("persist/nul", v, r_nul);
	json_decref(v);
	v = json_pack("{s:[i,n,b]}", "x", 1, 0);
	expect_get("persist/obj", v, r_obj);
	json_decref(v);
	expect_absent("persist/gone");
	json_t *res = ok("config.list", json_pack("{s:s}", "prefix", "persist/"));
	assert_int_equal(json_array_size(json_object_get(res, "items")), 3);
	json_decref(res);
	assert_int_equal(set("persist/next", json_integer(1)), last + 1);
	json_decref(big);

	/* And once more, now with a compaction having possibly run: same answer. */
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	fd = client_connect(d.sock);
	v = json_integer(1);
	expect_get("persist/next", v, last + 1);
	json_decref(v);
}

#define WRITERS 10
#define SETS_PER_WRITER 200

/* A child: its own connection, SETS_PER_WRITER sequential sets on its own keys. */
static void writer_child(int w)
{
	int c = client_connect(d.sock);
	char req[256], key[32];
	long last = 0;

	if (c < 0)
		_exit(2);
	for (int i = 0; i < SETS_PER_WRITER; i++) {
		snprintf(key, sizeof(key), "w%02d/%03d", w, i);
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\",\"params\":"
		         "{\"key\":\"%s\",\"value\":{\"w\":%d,\"i\":%d}}}",
		         i, key, w, i);
		json_t *r = client_call(c, req);
		json_t *res = json_object_get(r, "result");
		long rev = (long)json_integer_value(json_object_get(res, "revision"));
		if (!res || json_integer_value(json_object_get(r, "id")) != i ||
		    strcmp(json_string_value(json_object_get(res, "key")), key) != 0 || rev <= last)
			_exit(3);
		last = rev;
		json_decref(r);
	}
	client_close(c);
	_exit(0);
}

static void test_concurrent_writers(void **state)
{
	pid_t pids[WRITERS];
	const int total = WRITERS * SETS_PER_WRITER;

	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			writer_child(w);
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	/* Every set landed once: revisions are exactly 1..total, one per key. */
	json_t *res = ok("config.list", json_pack("{s:s}", "prefix", "w"));
	json_t *items = json_object_get(res, "items");
	assert_int_equal(json_array_size(items), total);
	char *seen = calloc((size_t)total + 1, 1);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		json_int_t rev = json_integer_value(json_object_get(it, "revision"));
		assert_true(rev >= 1 && rev <= total);
		assert_false(seen[rev]);
		seen[rev] = 1;
		int w, k;
		assert_int_equal(
		    sscanf(json_string_value(json_object_get(it, "key")), "w%d/%d", &w, &k), 2);
		json_t *want = json_pack("{s:i,s:i}", "w", w, "i", k);
		assert_true(json_equal(json_object_get(it, "value"), want));
		json_decref(want);
	}
	free(seen);
	json_decref(res);
	assert_int_equal(set("after", json_null()), total + 1);
}

static void test_notification_applied_not_answered(void **state)
{
	assert_int_equal(client_send_str(fd,
	                                 "{\"jsonrpc\":\"2.0\",\"method\":\"config.set\","
	                                 "\"params\":{\"key\":\"note\",\"value\":\"quiet\"}}\n"),
	                 0);
	/* The next line must be the ping's answer: the notification got none. */
	json_t *r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "p");
	json_decref(r);
	/* Applied: visible within a bounded wait (from another connection, which
	 * never waits for this one's writes). */
	int other = client_connect(d.sock);
	json_t *res = NULL;
	for (int i = 0; i < 200 && !res; i++) {
		r = rpc_on(other, "config.get", json_pack("{s:s}", "key", "note"));
		res = json_incref(json_object_get(r, "result"));
		json_decref(r);
		if (!res)
			usleep(10000);
	}
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "value")), "quiet");
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), 1);
	json_decref(res);
	client_close(other);
	/* A failing notification is not answered either. */
	assert_int_equal(client_send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"config.unset\","
	                                     "\"params\":{\"key\":\"absent\"}}\n"),
	                 0);
	r = client_call(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"ping\"}");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "q");
	json_decref(r);
	assert_true(client_silent(fd, 200));
}

/* In a batch, the answers of config.set and config.get are values like any other. */
static void test_batch_of_writes_and_reads(void **state)
{
	json_t *r = client_call(
	    fd,
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\","
	    "\"params\":{\"key\":\"b/1\",\"value\":{\"x\":[1,null,\"\\u00e9\"]}}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.get\",\"params\":{\"key\":\"b/1\"}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":\"three\",\"method\":\"config.get\","
	    "\"params\":{\"key\":\"b/none\"}}]");
	json_t *want = json_loads(
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"key\":\"b/1\",\"revision\":1}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"key\":\"b/1\","
	    "\"value\":{\"x\":[1,null,\"\\u00e9\"]},\"revision\":1,\"create_revision\":1,"
	    "\"version\":1}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":\"three\",\"error\":{\"code\":-32010,"
	    "\"message\":\"Not found\",\"data\":{\"key\":\"b/none\"}}}]",
	    0, NULL);
	assert_non_null(want);
	assert_non_null(r);
	if (!json_equal(r, want)) {
		char *got = json_dumps(r, JSON_COMPACT);
		fail_msg("batch reply: %s", got);
	}
	json_decref(want);
	json_decref(r);
}

/* A peer that is neither root nor the daemon's uid: config.* denied by the default policy. */
static void test_non_admin_denied(void **state)
{
	if (geteuid() != 0) {
		print_message("not root: cannot act as another uid; left to the policy tests\n");
		skip();
	}
	/* mkdtemp made the dir 0700; nobody must be able to reach the socket in it. */
	assert_int_equal(chmod(d.dir, 0711), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		int c = client_connect(d.sock);
		if (c < 0)
			_exit(3);
		static const char *const reqs[] = {
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"config.set\",\"params\":{\"key\":"
		    "\"k\",\"value\":1}}\n",
		    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"config.unset\",\"params\":{\"key\":"
		    "\"k\"}}\n",
		    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"config.get\",\"params\":{\"key\":"
		    "\"k\"}}\n",
		    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"config.list\"}\n",
		    /* Policy comes before params: even an invalid key is -32001. */
		    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"config.set\",\"params\":{\"key\":"
		    "\"\"}}\n",
		};
		for (size_t i = 0; i < 5; i++) {
			char *line;
			if (client_send_str(c, reqs[i]) < 0 || !(line = client_recv_line(c, 5000)))
				_exit(4);
			dprintf(p[1], "%s\n", line);
			free(line);
		}
		_exit(0);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	char line[1024];
	for (int i = 1; i <= 5; i++) {
		assert_non_null(fgets(line, sizeof(line), f));
		json_t *r = json_loads(line, 0, NULL);
		assert_non_null(r);
		assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
		json_t *err = json_object_get(r, "error");
		assert_int_equal(json_integer_value(json_object_get(err, "code")), -32001);
		json_t *data = json_object_get(err, "data");
		static const char *const methods[] = {"config.set", "config.unset", "config.get",
		                                      "config.list", "config.set"};
		assert_string_equal(json_string_value(json_object_get(data, "method")),
		                    methods[i - 1]);
		assert_int_equal(json_integer_value(json_object_get(data, "uid")), 65534);
		assert_int_equal(json_integer_value(json_object_get(data, "gid")), 65534);
		assert_int_equal(json_integer_value(json_object_get(data, "pid")), pid);
		json_decref(r);
	}
	fclose(f);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_absent("k"); /* the denied set changed nothing */
	assert_int_equal(set("k", json_integer(1)), 1);
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "denied config.set to uid 65534"));
	free(log);
}

/*
 * Send several requests in one write and read their replies in order:
 * pipelining, as a client that does not wait between requests sees it.
 */
static json_t **pipelined(size_t n, const char *const methods[], json_t *params[])
{
	char *buf = NULL;
	size_t len = 0;
	long ids[16];
	json_t **replies = calloc(n, sizeof(*replies));

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		ids[i] = next_id++;
		char *line = request_line(ids[i], methods[i], params[i]);
		size_t l = strlen(line);
		buf = realloc(buf, len + l + 1);
		memcpy(buf + len, line, l);
		buf[len + l] = '\n';
		len += l + 1;
		free(line);
	}
	assert_int_equal(client_send(fd, buf, len), 0);
	free(buf);
	for (size_t i = 0; i < n; i++) {
		char *line = client_recv_line(fd, 10000);
		assert_non_null(line);
		replies[i] = json_loads(line, JSON_ALLOW_NUL, NULL);
		free(line);
		assert_non_null(replies[i]);
		assert_int_equal(json_integer_value(json_object_get(replies[i], "id")), ids[i]);
	}
	return replies;
}

static void free_replies(json_t **r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(r[i]);
	free(r);
}

/* A read pipelined right behind the connection's own write sees that write. */
static void test_pipelined_read_sees_own_write(void **state)
{
	set("ryw", json_string("old"));
	const char *const methods[] = {"config.set", "config.get", "config.list", "config.unset",
	                               "config.get"};
	json_t *params[] = {
	    json_pack("{s:s,s:s}", "key", "ryw", "value", "new"),
	    json_pack("{s:s}", "key", "ryw"),
	    json_pack("{s:s}", "prefix", "ryw"),
	    json_pack("{s:s}", "key", "ryw"),
	    json_pack("{s:s}", "key", "ryw"),
	};
	json_t **r = pipelined(5, methods, params);
	json_int_t rev =
	    json_integer_value(json_object_get(json_object_get(r[0], "result"), "revision"));
	assert_int_equal(rev, 2);
	json_t *got = json_object_get(r[1], "result");
	if (!got || strcmp(json_string_value(json_object_get(got, "value")) ?: "", "new") != 0) {
		char *s = json_dumps(r[1], JSON_COMPACT);
		print_error("config.get right after config.set on one connection answered %s; "
		            "want the new value (read-your-writes)\n",
		            s);
		free(s);
	}
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "value")), "new");
	assert_int_equal(json_integer_value(json_object_get(got, "revision")), rev);
	json_t *items = json_object_get(json_object_get(r[2], "result"), "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "value")),
	                    "new");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "revision")),
	                 rev);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r[3], "result"), "revision")),
	    rev + 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r[4], "error"), "code")), -32010);
	free_replies(r, 5);
}

/*
 * ...and not a write sent after it: a pipelined read answers with the state
 * as of its place in the request stream (what a Redis pipeline gives).
 */
static void test_pipelined_read_not_from_later_write(void **state)
{
	const char *const methods[] = {"config.set", "config.get", "config.set", "config.get"};
	json_t *params[] = {
	    json_pack("{s:s,s:i}", "key", "seq", "value", 1),
	    json_pack("{s:s}", "key", "seq"),
	    json_pack("{s:s,s:i}", "key", "seq", "value", 2),
	    json_pack("{s:s}", "key", "seq"),
	};
	json_t **r = pipelined(4, methods, params);
	json_t *g1 = json_object_get(r[1], "result"), *g2 = json_object_get(r[3], "result");
	assert_non_null(g1);
	assert_non_null(g2);
	if (json_integer_value(json_object_get(g1, "value")) != 1)
		print_error("config.get between two pipelined config.set answered value %lld "
		            "revision %lld: a write sent after it\n",
		            (long long)json_integer_value(json_object_get(g1, "value")),
		            (long long)json_integer_value(json_object_get(g1, "revision")));
	assert_int_equal(json_integer_value(json_object_get(g1, "value")), 1);
	assert_int_equal(json_integer_value(json_object_get(g1, "revision")), 1);
	assert_int_equal(json_integer_value(json_object_get(g2, "value")), 2);
	assert_int_equal(json_integer_value(json_object_get(g2, "revision")), 2);
	free_replies(r, 4);
}

/*
 * Once a writer has its answer, every connection reads the change: the
 * daemon may send the answer from its commit thread before the event loop
 * has applied the change, and must apply it before reading anything the
 * answer can have caused. One reader, racing each answer, 300 times.
 */
static json_int_t bytes_out(void)
{
	json_t *st = ok("daemon.stats", NULL);
	json_int_t n = json_integer_value(json_object_get(json_object_get(st, "bytes"), "out"));

	json_decref(st);
	return n;
}

static void test_acked_write_visible_to_others(void **state)
{
	int reader = client_connect(d.sock);
	json_int_t out0 = bytes_out(), replies = 0;

	assert_true(reader >= 0);
	for (int i = 1; i <= 300; i++) {
		long id = next_id;
		json_t *set = ok("config.set", json_pack("{s:s,s:i}", "key", "seen", "value", i));
		json_int_t rev = json_integer_value(json_object_get(set, "revision"));
		char line[128];

		/* However it was sent, the answer counts in daemon.stats bytes.out. */
		replies += snprintf(line, sizeof(line),
		                    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":{\"key\":\"seen\","
		                    "\"revision\":%lld}}\n",
		                    id, (long long)rev);
		json_t *g = rpc_on(reader, "config.get", json_pack("{s:s}", "key", "seen"));
		json_t *item = harness_take_result(g, "config.get");

		if (json_integer_value(json_object_get(item, "revision")) != rev)
			print_error(
			    "round %d: config.set answered revision %lld, then another "
			    "connection's config.get read revision %lld\n",
			    i, (long long)rev,
			    (long long)json_integer_value(json_object_get(item, "revision")));
		assert_int_equal(json_integer_value(json_object_get(item, "revision")), rev);
		assert_int_equal(json_integer_value(json_object_get(item, "value")), i);
		json_decref(item);
		json_decref(set);
	}
	client_close(reader);
	/* The answers above, the reads', and the first daemon.stats answer. */
	assert_true(bytes_out() - out0 > replies * 2);
}

/* got (stolen) must equal the JSON text want; what names it in the failure. */
static void expect_json(json_t *got, const char *want, const char *what)
{
	json_t *w = json_loads(want, 0, NULL);

	assert_non_null(w);
	if (!json_equal(got, w))
		fail_msg("%s: %s", what, json_dumps(got, JSON_COMPACT));
	json_decref(w);
	json_decref(got);
}

/* A second connection, subscribed to config. */
static int config_watcher(void)
{
	int ev = client_connect(d.sock);

	assert_true(ev >= 0);
	json_decref(harness_take_result(
	    client_call_method(ev, 1, "events.subscribe", json_pack("{s:[s]}", "topics", "config")),
	    "events.subscribe"));
	return ev;
}

/* The next line on ev must be a config event of type on key at rev. */
static void expect_config_event(int ev, const char *type, const char *key, json_int_t rev)
{
	char *line = client_recv_line(ev, 5000);
	json_t *n = line ? json_loads(line, 0, NULL) : NULL;
	json_t *p = json_object_get(n, "params");

	if (!p)
		fail_msg("no config event (%s %s) but: %s", type, key, line ? line : "nothing");
	assert_string_equal(json_string_value(json_object_get(p, "type")), type);
	assert_string_equal(json_string_value(json_object_get(p, "key")), key);
	assert_int_equal(json_integer_value(json_object_get(p, "revision")), rev);
	json_decref(n);
	free(line);
}

/* udsrpc(7) items: create_revision and version, kept across a restart. */
static void test_item_versions(void **state)
{
	json_int_t r1 = set("iv/a", json_integer(1));
	set("iv/a", json_integer(2));
	json_int_t r3 = set("iv/a", json_integer(3));
	json_t *res = ok("config.get", json_pack("{s:s}", "key", "iv/a"));

	assert_int_equal(json_integer_value(json_object_get(res, "revision")), r3);
	assert_int_equal(json_integer_value(json_object_get(res, "create_revision")), r1);
	assert_int_equal(json_integer_value(json_object_get(res, "version")), 3);
	json_decref(res);
	unset("iv/a");
	json_int_t r5 = set("iv/a", json_integer(5)); /* created anew */
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(daemon_spawn(&d, NULL, NULL), 0);
	fd = client_connect(d.sock);
	res = ok("config.get", json_pack("{s:s}", "key", "iv/a"));
	assert_int_equal(json_integer_value(json_object_get(res, "create_revision")), r5);
	assert_int_equal(json_integer_value(json_object_get(res, "version")), 1);
	json_decref(res);
}

/* config.list pages: after, limit, more, keys_only, and the revision it was read at. */
static void test_list_paging(void **state)
{
	char key[16];
	const char *after = NULL;
	int seen = 0;
	json_t *res;

	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "pg/%02d", i);
		set(key, json_integer(i));
	}
	set("zz", json_true());
	for (int round = 0; round < 10; round++) {
		json_t *params = json_pack("{s:s,s:i}", "prefix", "pg/", "limit", 10);
		if (after)
			json_object_set_new(params, "after", json_string(after));
		res = ok("config.list", params);
		json_t *items = json_object_get(res, "items");
		assert_int_equal(json_integer_value(json_object_get(res, "revision")), 26);
		for (size_t i = 0; i < json_array_size(items); i++) {
			snprintf(key, sizeof(key), "pg/%02d", seen++);
			assert_string_equal(
			    json_string_value(json_object_get(json_array_get(items, i), "key")), key);
		}
		bool more = json_is_true(json_object_get(res, "more"));
		assert_int_equal(more, seen < 25);
		snprintf(key, sizeof(key), "pg/%02d", seen - 1);
		after = key;
		json_decref(res);
		if (!more)
			break;
	}
	assert_int_equal(seen, 25);
	res = ok("config.list", json_pack("{s:s,s:b}", "after", "pg/23", "keys_only", 1));
	json_t *want = json_loads("{\"items\":[{\"key\":\"pg/24\",\"revision\":25},"
	                          "{\"key\":\"zz\",\"revision\":26}],\"revision\":26,\"more\":false}",
	                          0, NULL);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	json_decref(fails("config.list", json_pack("{s:i}", "limit", 0), -32602));
	json_decref(fails("config.list", json_pack("{s:i}", "limit", 10001), -32602));
}

/* config.unset {"prefix"}: every key under it as one revision, one event per key. */
static void test_unset_prefix(void **state)
{
	json_t *res;

	set("up/a", json_integer(1));
	set("up/b/c", json_integer(2));
	set("up", json_integer(3));
	set("other", json_integer(4));
	int ev = config_watcher();
	res = ok("config.unset", json_pack("{s:s}", "prefix", "up/"));
	json_t *want = json_loads("{\"prefix\":\"up/\",\"revision\":5,\"count\":2}", 0, NULL);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	expect_config_event(ev, "unset", "up/a", 5);
	expect_config_event(ev, "unset", "up/b/c", 5);
	expect_absent("up/a");
	expect_absent("up/b/c");
	res = ok("config.get", json_pack("{s:s}", "key", "up"));
	json_decref(res);
	/* Nothing left under it: no change, the revision stays. */
	res = ok("config.unset", json_pack("{s:s}", "prefix", "up/"));
	assert_int_equal(json_integer_value(json_object_get(res, "count")), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), 5);
	json_decref(res);
	assert_true(client_silent(ev, 200));
	/* Exactly one of key and prefix. */
	json_t *err = fails("config.unset", json_pack("{s:s,s:s}", "key", "up", "prefix", "u"),
	                    -32602);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(err, "data"),
	                                                         "reason")),
	                       "not both"));
	json_decref(err);
	json_decref(fails("config.unset", json_pack("{}"), -32602));
	client_close(ev);
}

/* Quotas (udsrpc(7) max_keys, max_store_bytes): -32014 {limit, value}; reads and unsets work. */
static void test_quotas(void **state)
{
	client_close(fd);
	assert_int_equal(daemon_stop(&d), 0);
	assert_int_equal(daemon_spawn_config(&d, "{\"limits\":{\"max_keys\":2,\"max_store_bytes\":1024}}",
	                                     0600, NULL),
	                 0);
	fd = client_connect(d.sock);
	set("q/a", json_integer(1));
	set("q/b", json_integer(2));
	json_t *err = fails("config.set", json_pack("{s:s,s:i}", "key", "q/c", "value", 3), -32014);
	json_t *want = json_loads("{\"limit\":\"max_keys\",\"value\":2}", 0, NULL);
	assert_string_equal(json_string_value(json_object_get(err, "message")), "Quota exceeded");
	assert_true(json_equal(json_object_get(err, "data"), want));
	json_decref(want);
	json_decref(err);
	expect_absent("q/c");
	/* The value of an existing key may change; reads and unsets always work. */
	set("q/a", json_integer(10));
	json_decref(ok("config.list", NULL));
	unset("q/b");
	set("q/c", json_integer(3));
	/* 1024 bytes of keys plus compact values. */
	char big[1100];
	memset(big, 'x', 1020);
	big[1020] = '\0'; /* q/a: 3 + 1022, q/c: 3 + 1 */
	err = fails("config.set", json_pack("{s:s,s:s}", "key", "q/a", "value", big), -32014);
	want = json_loads("{\"limit\":\"max_store_bytes\",\"value\":1024}", 0, NULL);
	assert_true(json_equal(json_object_get(err, "data"), want));
	json_decref(want);
	json_decref(err);
	big[900] = '\0';
	set("q/a", json_string(big)); /* 3 + 902 + 3 + 1 */
}

/* config.txn (udsrpc(7) §8): one revision, events per changed key in op order, -32602 cases. */
static void test_txn(void **state)
{
	json_t *res;

	set("tx/a", json_integer(1));
	set("tx/gone", json_integer(2));
	int ev = config_watcher();
	res = ok("config.txn",
	         json_loads("{\"compare\":[{\"key\":\"tx/a\",\"value\":1},{\"key\":\"tx/n\","
	                    "\"exists\":false}],\"success\":[{\"op\":\"set\",\"key\":\"tx/a\","
	                    "\"value\":{\"v\":2}},{\"op\":\"unset\",\"key\":\"tx/gone\"},{\"op\":"
	                    "\"unset\",\"key\":\"tx/never\"},{\"op\":\"get\",\"key\":\"tx/a\"}],"
	                    "\"failure\":[{\"op\":\"get\",\"key\":\"tx/a\"}]}",
	                    0, NULL));
	expect_json(res,
	            "{\"succeeded\":true,\"revision\":3,\"results\":[{\"key\":\"tx/a\","
	                  "\"revision\":3},{\"key\":\"tx/gone\",\"revision\":3},{\"key\":"
	                  "\"tx/never\",\"revision\":0},{\"key\":\"tx/a\",\"value\":{\"v\":2},"
	                  "\"revision\":3,\"create_revision\":1,\"version\":2}]}",
	            "txn");
	expect_config_event(ev, "set", "tx/a", 3);
	expect_config_event(ev, "unset", "tx/gone", 3);
	/* The compare fails now: the failure branch, no change, no event. */
	res = ok("config.txn", json_loads("{\"compare\":[{\"key\":\"tx/a\",\"version\":1}],"
	                                  "\"success\":[{\"op\":\"unset\",\"key\":\"tx/a\"}]}",
	                                  0, NULL));
	expect_json(res, "{\"succeeded\":false,\"revision\":3,\"results\":[]}", "failed txn");
	assert_true(client_silent(ev, 200));
	/* A key written twice in a branch; a compare with two fields; a set without value. */
	json_t *err = fails("config.txn",
	                    json_loads("{\"success\":[{\"op\":\"set\",\"key\":\"k\",\"value\":1},"
	                               "{\"op\":\"unset\",\"key\":\"k\"}]}",
	                               0, NULL),
	                    -32602);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "path")), "/success/1");
	json_decref(err);
	json_decref(fails("config.txn",
	                  json_loads("{\"compare\":[{\"key\":\"k\",\"version\":1,\"exists\":true}],"
	                             "\"success\":[]}",
	                             0, NULL),
	                  -32602));
	json_decref(fails("config.txn", json_loads("{\"success\":[{\"op\":\"set\",\"key\":\"k\"}]}",
	                                           0, NULL),
	                  -32602));
	/* Each op's own mistakes: the op's path and the reason, whichever branch it is in. */
	static const struct {
		const char *params, *path, *reason;
	} bad_ops[] = {
	    {"{\"success\":[{\"op\":\"get\",\"key\":\"a\"},{\"key\":\"k\",\"op\":\"set\"}]}",
	     "/success/1", "a set op needs a value"},
	    {"{\"success\":[],\"failure\":[{\"value\":1,\"op\":\"unset\",\"key\":\"k\"}]}",
	     "/failure/0", "only a set op has a value"},
	    {"{\"success\":[{\"op\":\"get\",\"key\":\"k\",\"ephemeral\":true}]}", "/success/0",
	     "only a set op can be ephemeral"},
	    {"{\"success\":[{\"op\":\"set\",\"key\":\"k\",\"value\":1},{\"op\":\"get\",\"key\":\"k\"},"
	     "{\"op\":\"set\",\"key\":\"k\",\"value\":2,\"ephemeral\":false}]}",
	     "/success/2", "key k is written twice in one branch"},
	};
	for (size_t i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		err = fails("config.txn", json_loads(bad_ops[i].params, 0, NULL), -32602);
		json_t *data = json_object_get(err, "data");
		assert_string_equal(json_string_value(json_object_get(data, "path")), bad_ops[i].path);
		assert_string_equal(json_string_value(json_object_get(data, "reason")),
		                    bad_ops[i].reason);
		json_decref(err);
	}
	/*
	 * The test for a key written twice looks at a key's length and last
	 * bytes first, and at the first 64 ops by those: keys alike at the end,
	 * and repeats past op 64, are still found (and only they).
	 */
	static const struct {
		int first, again; /* ops of 100: sets of k/<i>, but op again sets the key of first */
	} twice[] = {{0, 63}, {10, 64}, {64, 99}, {70, 71}, {-1, -1}};
	for (size_t t = 0; t < sizeof(twice) / sizeof(twice[0]); t++) {
		json_t *many = json_array();
		char key[64], path[32];

		for (int i = 0; i < 100; i++) {
			/* The same last eight bytes and length for every key: only strcmp tells them apart. */
			snprintf(key, sizeof(key), "tw/%02d/abcdefgh",
			         i == twice[t].again ? twice[t].first : i);
			json_array_append_new(many,
			                      json_pack("{s:s,s:s,s:i}", "op", "set", "key", key, "value", i));
		}
		if (twice[t].first < 0) {
			json_decref(ok("config.txn", json_pack("{s:o}", "success", many)));
			continue;
		}
		err = fails("config.txn", json_pack("{s:o}", "success", many), -32602);
		snprintf(path, sizeof(path), "/success/%d", twice[t].again);
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(err, "data"), "path")), path);
		json_decref(err);
	}
	/* ephemeral false on a get or unset is no mistake. */
	json_decref(ok("config.txn",
	               json_loads("{\"success\":[{\"op\":\"get\",\"key\":\"k\",\"ephemeral\":false},"
	                          "{\"op\":\"unset\",\"key\":\"tx/none\",\"ephemeral\":false}]}",
	                          0, NULL)));
	/* More than max_txn_ops (128) compares plus ops. */
	json_t *ops = json_array();
	for (int i = 0; i < 129; i++)
		json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "get", "key", "k"));
	err = fails("config.txn", json_pack("{s:o}", "success", ops), -32602);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(err, "data"),
	                                                         "reason")),
	                       "more than max_txn_ops (128)"));
	json_decref(err);
	client_close(ev);
}

/*
 * config.txn takes its params from their text when the request names the
 * method first (the shape clients send), else from the parsed tree: both
 * give the same answer, byte for byte, for every shape the text way takes
 * and every one it leaves to the tree (escapes, reals, containers, members
 * twice or unknown, errors of every kind). Two daemons get the same
 * requests, the params first to one, last to the other.
 */
static void test_txn_text_same_as_tree(void **state)
{
	static const char *const cases[] = {
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/a\",\"value\":\"abc\"},{\"op\":\"set\","
	    "\"key\":\"t/b\",\"value\":12},{\"op\":\"set\",\"key\":\"t/c\",\"value\":-0},"
	    "{\"op\":\"set\",\"key\":\"t/d\",\"value\":true},{\"op\":\"set\",\"key\":\"t/e\","
	    "\"value\":null},{\"op\":\"set\",\"key\":\"t/f\",\"value\":false}]}",
	    " { \"success\" : [ { \"key\" : \"t/a\" , \"op\" : \"get\" } , {\"op\":\"unset\","
	    "\"key\":\"t/none\"},{\"value\":-123456789012345678,\"op\":\"set\",\"key\":\"t/g\"}"
	    " ] , \"compare\" : [ ] } ",
	    "{\"compare\":[{\"key\":\"t/a\",\"value\":\"abc\"},{\"key\":\"t/b\",\"revision\":2},"
	    "{\"key\":\"t/b\",\"version\":1},{\"key\":\"t/zz\",\"exists\":false}],\"success\":"
	    "[{\"op\":\"unset\",\"key\":\"t/a\"},{\"op\":\"get\",\"key\":\"t/a\"}],\"failure\":"
	    "[{\"op\":\"get\",\"key\":\"t/b\"}]}",
	    "{\"failure\":[{\"op\":\"set\",\"key\":\"t/h\",\"value\":1,\"ephemeral\":true},"
	    "{\"op\":\"get\",\"key\":\"t/h\"}],\"compare\":[{\"key\":\"t/b\",\"version\":7}],"
	    "\"success\":[]}",
	    "{\"success\":[]}",
	    /* Sets' values recorded as their text, but for two bytes from '-' (-0 dumps as 0). */
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/a2\",\"value\":\"x y\"},{\"op\":\"set\","
	    "\"key\":\"t/b2\",\"value\":-5},{\"op\":\"set\",\"key\":\"t/c2\",\"value\":-0},"
	    "{\"op\":\"get\",\"key\":\"t/a2\"},{\"op\":\"get\",\"key\":\"t/b2\"},{\"op\":"
	    "\"get\",\"key\":\"t/c2\"}],\"compare\":[{\"key\":\"t/a\",\"value\":\"abc\"}]}",
	    /* An op's head as clients write it, then members that are not as they write them. */
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/r\" ,\"value\":3},{\"op\":\"set\","
	    "\"key\":\"t/s\",\"value\" : 4},{\"op\":\"set\",\"key\":\"t/t\",\"ephemeral\":false,"
	    "\"value\":5},{\"op\":\"get\",\"key\":\"t/r\"},{\"op\":\"unset\",\"key\":\"t/s\"}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/u\",\"op\":\"get\"}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/v\",\"key\":\"t/w\",\"value\":1}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/x\",\"value\":1.5}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/y\",\"value\":}]}",
	    "{\"success\":[{\"op\":\"sets\",\"key\":\"t/z\",\"value\":1}]}",
	    /* Left to the tree: escapes, other bytes, reals, containers, long integers. */
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/i\",\"value\":\"a\\\"b\\u00e9\"}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/j\",\"value\":\"\xc3\xa9t\xc3\xa9\"}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/k\",\"value\":0.1},{\"op\":\"set\","
	    "\"key\":\"t/l\",\"value\":1E2}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/m\",\"value\":{\"x\":[1,2]}}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/n\",\"value\":1234567890123456789}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/o\",\"value\":9223372036854775808}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/p\",\"value\":1,\"value\":2}]}",
	    "{\"success\":[{\"op\":\"get\",\"key\":\"t/a\"}],\"success\":[]}",
	    /* Errors of shape (the schema's) and of meaning (the handler's). */
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/q\",\"value\":1,\"extra\":1}]}",
	    "{\"success\":[{\"op\":\"put\",\"key\":\"t/q\",\"value\":1}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"bad key\",\"value\":1}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"\",\"value\":1}]}",
	    "{\"success\":[{\"op\":\"set\",\"value\":1}]}",
	    "{\"success\":[{\"key\":\"t/q\",\"value\":1}]}",
	    "{\"success\":[{}]}",
	    "{}",
	    "{\"compare\":[{\"key\":\"t/a\"}],\"success\":[]}",
	    "{\"compare\":[{\"key\":\"t/a\",\"version\":-1}],\"success\":[]}",
	    "{\"compare\":[{\"key\":\"t/a\",\"version\":1,\"exists\":true}],\"success\":[]}",
	    "{\"compare\":[{\"key\":\"t/a\",\"exists\":1}],\"success\":[]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/q\"}]}",
	    "{\"success\":[{\"op\":\"get\",\"key\":\"t/q\",\"value\":1}]}",
	    "{\"success\":[{\"op\":\"unset\",\"key\":\"t/q\",\"ephemeral\":true}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/q\",\"value\":1},{\"op\":\"unset\","
	    "\"key\":\"t/q\"}]}",
	    "{\"success\":[{\"op\":\"set\",\"key\":\"t/q\",\"value\":1,\"ephemeral\":\"yes\"}]}",
	    "{\"success\":{}}",
	    "[]",
	    "{\"success\":[{\"op\":\"get\",\"key\":\"t/q\"}]",
	    "{\"success\":[{\"op\":\"get\",\"key\":\"t/q\"},]}",
	};
	struct daemon d2 = {0}; /* daemon_prepare keeps nofile and env: set them */
	int fd2;
	char *line = NULL;

	daemon_start(&d2, NULL);
	fd2 = client_connect(d2.sock);
	assert_true(fd2 >= 0);
	for (size_t i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
		char *many = NULL;
		const char *p = i < sizeof(cases) / sizeof(cases[0]) ? cases[i] : NULL;

		if (!p) {
			/* Past max_txn_ops (128): 129 ops. */
			size_t at = 0, cap = 129 * 32 + 32;

			many = malloc(cap);
			at += (size_t)snprintf(many, cap, "{\"success\":[");
			for (int k = 0; k < 129; k++)
				at += (size_t)snprintf(many + at, cap - at, "%s{\"op\":\"get\",\"key\":\"k\"}",
				                       k ? "," : "");
			snprintf(many + at, cap - at, "]}");
			p = many;
		}
		char *got[2];
		for (int k = 0; k < 2; k++) {
			size_t cap = strlen(p) + 128;
			char *r = malloc(cap);

			if (k)
				snprintf(r, cap, "{\"jsonrpc\":\"2.0\",\"params\":%s,\"id\":%zu,\"method\":"
				         "\"config.txn\"}\n", p, i);
			else
				snprintf(r, cap, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"config.txn\","
				         "\"params\":%s}\n", i, p);
			assert_int_equal(client_send_str(k ? fd2 : fd, r), 0);
			got[k] = client_recv_line(k ? fd2 : fd, 5000);
			assert_non_null(got[k]);
			free(r);
		}
		if (strstr(got[0], "-32700")) {
			/* Bad syntax: where it is found depends on what follows the params. */
			assert_non_null(strstr(got[1], "-32700"));
		} else if (strcmp(got[0], got[1]) != 0) {
			fail_msg("case %zu: method first %s, params first %s", i, got[0], got[1]);
		}
		free(got[0]);
		free(got[1]);
		free(many);
	}
	/* And the stores they leave. */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(client_send_str(k ? fd2 : fd, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":"
		                                 "\"config.list\",\"params\":{}}\n"),
		                 0);
		char *l = client_recv_line(k ? fd2 : fd, 5000);
		assert_non_null(l);
		if (k)
			assert_string_equal(l, line);
		free(line);
		line = l;
	}
	free(line);
	/*
	 * And the events they made, replayed from the history: a value's text
	 * taken from the request (-0 included) is what the tree's dump gave.
	 */
	char *events[2] = {NULL, NULL};
	for (int k = 0; k < 2; k++) {
		int ev = client_connect(k ? d2.sock : d.sock);
		size_t len = 0;
		char *l;

		assert_true(ev >= 0);
		assert_int_equal(client_send_str(ev, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		                                     "\"events.subscribe\",\"params\":{\"topics\":"
		                                     "[\"config\"],\"after_revision\":0}}\n"),
		                 0);
		while ((l = client_recv_line(ev, 500))) {
			size_t n = strlen(l);

			events[k] = realloc(events[k], len + n + 2);
			assert_non_null(events[k]);
			memcpy(events[k] + len, l, n);
			events[k][len + n] = '\n';
			events[k][len + n + 1] = '\0';
			len += n + 1;
			free(l);
		}
		assert_non_null(events[k]);
		client_close(ev);
	}
	assert_non_null(strstr(events[0], "\"key\":\"t/c\",\"revision\":1,\"value\":0,"));
	assert_string_equal(events[0], events[1]);
	free(events[0]);
	free(events[1]);
	client_close(fd2);
	assert_int_equal(daemon_stop(&d2), 0);
	daemon_cleanup(&d2);
}

/* config.restore: replace makes the store exactly the items, merge sets them over it; one revision. */
static void test_restore(void **state)
{
	json_t *res, *want;

	set("r/a", json_integer(1));
	set("r/b", json_integer(2));
	int ev = config_watcher();
	res = ok("config.restore",
	         json_loads("{\"mode\":\"merge\",\"items\":[{\"key\":\"r/b\",\"value\":20},"
	                    "{\"key\":\"r/c\",\"value\":[3]}]}",
	                    0, NULL));
	want = json_loads("{\"revision\":3,\"count\":2}", 0, NULL);
	assert_true(json_equal(res, want));
	json_decref(want);
	json_decref(res);
	json_t *one = json_integer(1);
	expect_get("r/a", one, 1); /* merge keeps it */
	json_decref(one);
	res = ok("config.restore",
	         json_loads("{\"mode\":\"replace\",\"items\":[{\"key\":\"r/c\",\"value\":null},"
	                    "{\"key\":\"s/x\",\"value\":\"x\"}]}",
	                    0, NULL));
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), 4);
	json_decref(res);
	res = ok("config.list", NULL);
	expect_json(res,
	            "{\"items\":[{\"key\":\"r/c\",\"value\":null,\"revision\":4,"
	                  "\"create_revision\":3,\"version\":2},{\"key\":\"s/x\",\"value\":\"x\","
	                  "\"revision\":4,\"create_revision\":4,\"version\":1}],\"revision\":4,"
	                  "\"more\":false}",
	            "after replace");
	/* Events: 2 for the merge (r/b, r/c), 4 for the replace (r/a, r/b unset; r/c, s/x set). */
	expect_config_event(ev, "set", "r/b", 3);
	expect_config_event(ev, "set", "r/c", 3);
	expect_config_event(ev, "unset", "r/a", 4);
	expect_config_event(ev, "unset", "r/b", 4);
	expect_config_event(ev, "set", "r/c", 4);
	expect_config_event(ev, "set", "s/x", 4);
	json_t *err = fails("config.restore",
	                    json_loads("{\"mode\":\"merge\",\"items\":[{\"key\":\"k\",\"value\":1},"
	                               "{\"key\":\"k\",\"value\":2}]}",
	                               0, NULL),
	                    -32602);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(err, "data"), "path")), "/items/1");
	json_decref(err);
	client_close(ev);
}

/* The peer id of conn (peer.whoami), as an ephemeral item's owner names it. */
static json_int_t conn_id(int conn)
{
	json_t *res = harness_take_result(rpc_on(conn, "peer.whoami", NULL), "peer.whoami");
	json_int_t id = json_integer_value(json_object_get(res, "id"));

	json_decref(res);
	return id;
}

/* config.set key ephemeral on conn; the revision. */
static json_int_t set_ephemeral_on(int conn, const char *key, json_t *value)
{
	json_t *res = harness_take_result(
	    rpc_on(conn, "config.set",
	           json_pack("{s:s,s:o,s:b}", "key", key, "value", value, "ephemeral", 1)),
	    "config.set");
	json_int_t rev = json_integer_value(json_object_get(res, "revision"));

	json_decref(res);
	return rev;
}

/* The next line on ev: an unset of key at rev because its owner closed, the owner as peer. */
static void expect_owner_closed(int ev, const char *key, json_int_t rev)
{
	char *line = client_recv_line(ev, 5000);
	json_t *n = line ? json_loads(line, 0, NULL) : NULL;
	json_t *p = json_object_get(n, "params");
	char want[512];

	snprintf(want, sizeof(want),
	         "{\"topic\":\"config\",\"type\":\"unset\",\"key\":\"%s\",\"revision\":%lld,"
	         "\"reason\":\"owner_closed\",\"peer\":{\"uid\":%u,\"pid\":%d}}",
	         key, (long long)rev, (unsigned)getuid(), (int)getpid());
	if (!p)
		fail_msg("no owner_closed event for %s but: %s", key, line ? line : "nothing");
	expect_json(json_incref(p), want, "owner_closed event");
	json_decref(n);
	free(line);
}

/*
 * udsrpc(7) §8 ephemeral items: bound to the setting connection, shown with
 * their owner, unset as one revision with reason owner_closed when it
 * closes; an ordinary set takes the item over, another ephemeral set binds
 * it to the new connection; a transaction's set binds like config.set.
 */
static void test_ephemeral(void **state)
{
	int a = client_connect(d.sock), b = client_connect(d.sock);
	json_int_t ida = conn_id(a), idb = conn_id(b);
	char want[512];

	assert_int_equal(set_ephemeral_on(a, "eph/a", json_integer(1)), 1);
	assert_int_equal(set_ephemeral_on(a, "eph/b", json_integer(2)), 2);
	assert_int_equal(set_ephemeral_on(a, "eph/c", json_integer(3)), 3);
	assert_int_equal(set_ephemeral_on(a, "eph/d", json_integer(4)), 4);
	snprintf(want, sizeof(want),
	         "{\"key\":\"eph/a\",\"value\":1,\"revision\":1,\"create_revision\":1,"
	         "\"version\":1,\"ephemeral\":true,\"owner\":{\"id\":%lld,\"uid\":%u,\"pid\":%d}}",
	         (long long)ida, (unsigned)getuid(), (int)getpid());
	expect_json(ok("config.get", json_pack("{s:s}", "key", "eph/a")), want, "ephemeral item");
	/* eph/b becomes ordinary (version 2), eph/c is b's now; eph/d goes in a's txn. */
	assert_int_equal(set("eph/b", json_integer(20)), 5);
	assert_int_equal(set_ephemeral_on(b, "eph/c", json_integer(30)), 6);
	json_t *res = harness_take_result(
	    rpc_on(a, "config.txn",
	           json_loads("{\"success\":[{\"op\":\"set\",\"key\":\"eph/t\",\"value\":\"t\","
	                      "\"ephemeral\":true},{\"op\":\"get\",\"key\":\"eph/t\"}]}",
	                      0, NULL)),
	    "config.txn");
	snprintf(want, sizeof(want),
	         "{\"succeeded\":true,\"revision\":7,\"results\":[{\"key\":\"eph/t\",\"revision\":7},"
	         "{\"key\":\"eph/t\",\"value\":\"t\",\"revision\":7,\"create_revision\":7,"
	         "\"version\":1,\"ephemeral\":true,\"owner\":{\"id\":%lld,\"uid\":%u,\"pid\":%d}}]}",
	         (long long)ida, (unsigned)getuid(), (int)getpid());
	expect_json(res, want, "ephemeral txn");
	json_decref(fails("config.txn",
	                  json_loads("{\"success\":[{\"op\":\"unset\",\"key\":\"eph/t\","
	                             "\"ephemeral\":true}]}",
	                             0, NULL),
	                  -32602));
	/* The listing shows them too; keys_only does not. */
	res = ok("config.list", json_pack("{s:s}", "prefix", "eph/c"));
	json_t *item = json_array_get(json_object_get(res, "items"), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(item, "owner"), "id")),
	                 idb);
	json_decref(res);

	int ev = config_watcher();
	client_close(a);
	/* One revision for what a still owned, in key order: eph/a, eph/d, eph/t. */
	expect_owner_closed(ev, "eph/a", 8);
	expect_owner_closed(ev, "eph/d", 8);
	expect_owner_closed(ev, "eph/t", 8);
	assert_true(client_silent(ev, 200));
	expect_absent("eph/a");
	expect_absent("eph/d");
	expect_absent("eph/t");
	json_t *v = json_integer(20);
	expect_get("eph/b", v, 5); /* ordinary: exactly the five members */
	json_decref(v);
	res = ok("config.get", json_pack("{s:s}", "key", "eph/c"));
	assert_true(json_is_true(json_object_get(res, "ephemeral")));
	json_decref(res);
	res = ok("config.list", NULL);
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), 8);
	json_decref(res);
	/* b owned eph/c: it goes when b closes. */
	client_close(b);
	expect_owner_closed(ev, "eph/c", 9);
	assert_true(client_silent(ev, 200));
	client_close(ev);
}

/*
 * After a crash the owners are gone: the restarted daemon removes what was
 * left ephemeral before anyone reads it, as a new revision (the counter
 * never goes back), and keeps the ordinary items. Twice: once from the log,
 * once from a log it wrote after its own start-up removal.
 */
static void test_ephemeral_restart(void **state)
{
	int a = client_connect(d.sock);
	int status;

	set("keep", json_integer(1));                              /* 1 */
	assert_int_equal(set_ephemeral_on(a, "eph/x", json_integer(2)), 2);
	assert_int_equal(set_ephemeral_on(a, "eph/y", json_string("y")), 3);
	assert_int_equal(kill(d.pid, SIGKILL), 0);
	assert_int_equal(daemon_wait(&d, harness_ms(10000)) >= 0, 1);
	client_close(a);
	client_close(fd);
	assert_int_equal(daemon_spawn(&d, NULL, &status), 0);
	fd = client_connect(d.sock);
	expect_absent("eph/x");
	expect_absent("eph/y");
	json_t *res = ok("config.list", NULL);
	expect_json(res,
	            "{\"items\":[{\"key\":\"keep\",\"value\":1,\"revision\":1,\"create_revision\":1,"
	            "\"version\":1}],\"revision\":4,\"more\":false}",
	            "after restart");
	char *log = daemon_log(&d);
	assert_non_null(strstr(log, "removed 2 ephemeral item(s) left from before the restart, "
	                            "as revision 4"));
	free(log);
	/* The removal is durable: a second crash and start find nothing to remove. */
	assert_int_equal(set("keep", json_integer(5)), 5);
	assert_int_equal(kill(d.pid, SIGKILL), 0);
	assert_int_equal(daemon_wait(&d, harness_ms(10000)) >= 0, 1);
	client_close(fd);
	assert_int_equal(daemon_spawn(&d, NULL, &status), 0);
	fd = client_connect(d.sock);
	res = ok("config.list", NULL);
	assert_int_equal(json_integer_value(json_object_get(res, "revision")), 5);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 1);
	json_decref(res);
}

/* daemon.stats "store": committed items and bytes (keys plus compact values), as the quotas count. */
static void test_stats_store(void **state)
{
	json_t *st = ok("daemon.stats", NULL);

	expect_json(json_incref(json_object_get(st, "store")), "{\"items\":0,\"bytes\":0}", "empty");
	json_decref(st);
	set("st/a", json_integer(1));                                 /* 4 + 1 */
	set("st/bb", json_pack("{s:[i,s]}", "x", 10, "\xc3\xa9"));    /* 5 + 15 */
	st = ok("daemon.stats", NULL);
	expect_json(json_incref(json_object_get(st, "store")), "{\"items\":2,\"bytes\":25}", "two");
	json_decref(st);
	set("st/a", json_string("long"));                             /* 4 + 6 */
	unset("st/bb");
	st = ok("daemon.stats", NULL);
	expect_json(json_incref(json_object_get(st, "store")), "{\"items\":1,\"bytes\":10}", "one");
	json_decref(st);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_values_of_every_type),
	    T(test_list_prefix_sorted_bytewise),
	    T(test_key_syntax),
	    T(test_revision_counter),
	    T(test_cas),
	    T(test_restart_keeps_values_and_revision),
	    T(test_concurrent_writers),
	    T(test_notification_applied_not_answered),
	    T(test_batch_of_writes_and_reads),
	    T(test_non_admin_denied),
	    T(test_pipelined_read_sees_own_write),
	    T(test_pipelined_read_not_from_later_write),
	    T(test_acked_write_visible_to_others),
	    T(test_item_versions),
	    T(test_list_paging),
	    T(test_unset_prefix),
	    T(test_quotas),
	    T(test_txn),
	    T(test_txn_text_same_as_tree),
	    T(test_restore),
	    T(test_ephemeral),
	    T(test_ephemeral_restart),
	    T(test_stats_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

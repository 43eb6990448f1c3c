/*
 * test_registry.c — registering methods through the public API: the
 * document and the handler table checked both ways (failures name the
 * method), no cap on how many, each callable as the policy says, and
 * rpc.discover listing what is served.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include <udsrpc/udsrpc.h>

#include "peer.h"
#include "rpc.h"
#include "server.h"

static void answer_name(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	udsrpc_call_result(c, json_string(udsrpc_call_method(c)));
}

static struct udsrpc_server *new_server(unsigned builtins)
{
	struct udsrpc_server_options o;
	struct udsrpc_server *srv;
	char err[256];

	udsrpc_server_options_init(&o);
	o.builtins = builtins;
	o.socket_path = "/nonexistent/t.sock";
	assert_int_equal(udsrpc_server_new(&srv, &o, err, sizeof(err)), 0);
	return srv;
}

/* An OpenRPC document of the names given (NULL-terminated), each without params. */
static char *doc_of(const char *const *names, const char *extra_member)
{
	json_t *methods = json_array();
	for (size_t i = 0; names[i]; i++) {
		json_t *m = json_pack("{s:s,s:[],s:s,s:{s:s,s:{}}}", "name", names[i], "params",
		                      "paramStructure", "by-name", "result", "name", "r", "schema");
		if (extra_member && i == 0)
			json_object_set_new(m, extra_member, json_true());
		json_array_append_new(methods, m);
	}
	json_t *doc = json_pack("{s:s,s:{s:s,s:s},s:o}", "openrpc", "1.2.6", "info", "title", "t",
	                        "version", "1", "methods", methods);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static int add(struct udsrpc_server *srv, const char *const *doc_names,
               const struct udsrpc_method *table, size_t n, char *err, size_t errlen)
{
	char *text = doc_of(doc_names, NULL);
	int r = udsrpc_server_add_methods(srv, text, strlen(text), table, n, NULL, err, errlen);
	free(text);
	return r;
}

static void test_failures_name_the_method(void **state)
{
	struct udsrpc_server *srv = new_server(UDSRPC_BUILTIN_PING);
	char err[256];
	const char *ab[] = {"t.a", "t.b", NULL};
	struct udsrpc_method a_only[] = {{"t.a", answer_name, 0}};
	struct udsrpc_method abc[] = {{"t.a", answer_name, 0}, {"t.b", answer_name, 0},
	                              {"t.c", answer_name, 0}};
	struct udsrpc_method twice[] = {{"t.a", answer_name, 0}, {"t.b", answer_name, 0},
	                                {"t.a", answer_name, 0}};

	assert_int_equal(add(srv, ab, a_only, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "method 't.b' has a schema but no handler");
	assert_int_equal(add(srv, ab, abc, 3, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "method 't.c' has a handler but no schema");
	assert_int_equal(add(srv, ab, twice, 3, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "method 't.a' is listed twice");
	/* Nothing of a failed registration is served. */
	assert_int_equal(udsrpc_server_method_count(srv), 1);

	assert_int_equal(add(srv, ab, abc, 2, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_server_method_count(srv), 3);
	/* A name served already, by the service or a built-in. */
	const char *a[] = {"t.a", NULL}, *ping[] = {"ping", NULL};
	assert_int_equal(add(srv, a, a_only, 1, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "method 't.a' is served already");
	struct udsrpc_method my_ping[] = {{"ping", answer_name, 0}};
	assert_int_equal(add(srv, ping, my_ping, 1, err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "method 'ping' is served already");
	/* A built-in in the document without a table entry is the built-in's. */
	const char *with_ping[] = {"ping", "t.d", NULL};
	struct udsrpc_method d[] = {{"t.d", answer_name, 0}};
	assert_int_equal(add(srv, with_ping, d, 1, err, sizeof(err)), 0);

	/* A schema keyword outside the validator's subset, named with the method. */
	const char *bad =
	    "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"methods\":[{"
	    "\"name\":\"t.e\",\"paramStructure\":\"by-name\",\"params\":[{\"name\":\"x\",\"schema\":"
	    "{\"patternProperties\":{}}}]}]}";
	struct udsrpc_method e[] = {{"t.e", answer_name, 0}};
	assert_int_equal(udsrpc_server_add_methods(srv, bad, strlen(bad), e, 1, NULL, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "method 't.e'"));
	assert_non_null(strstr(err, "patternProperties"));

	/* Public in the table, admin in the document: one of them is wrong. */
	char *text = doc_of((const char *[]){"t.f", NULL}, "x-udsrpc-admin");
	struct udsrpc_method f[] = {{"t.f", answer_name, UDSRPC_METHOD_PUBLIC}};
	assert_int_equal(udsrpc_server_add_methods(srv, text, strlen(text), f, 1, NULL, err,
	                                           sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "method 't.f'"));
	free(text);

	/* Removal: gone from the count; built-ins stay. */
	assert_int_equal(udsrpc_server_remove_method(srv, "t.a"), 0);
	assert_int_equal(udsrpc_server_remove_method(srv, "t.a"), -ENOENT);
	assert_int_equal(udsrpc_server_remove_method(srv, "ping"), -ENOENT);
	assert_int_equal(udsrpc_server_method_count(srv), 3);
	udsrpc_server_free(srv);
}

/* Two documents may share a component only if they define it alike. */
static void test_components_must_agree(void **state)
{
	struct udsrpc_server *srv = new_server(0);
	char err[256];
	static const char one[] =
	    "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"methods\":[{"
	    "\"name\":\"a.x\",\"params\":[],\"paramStructure\":\"by-name\",\"result\":{\"name\":\"r\","
	    "\"schema\":{\"$ref\":\"#/components/schemas/N\"}}}],\"components\":{\"schemas\":{\"N\":"
	    "{\"type\":\"integer\"}}}}";
	static const char two[] =
	    "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"methods\":[{"
	    "\"name\":\"b.x\",\"params\":[],\"paramStructure\":\"by-name\",\"result\":{\"name\":\"r\","
	    "\"schema\":{\"$ref\":\"#/components/schemas/N\"}}}],\"components\":{\"schemas\":{\"N\":"
	    "{\"type\":\"string\"}}}}";
	struct udsrpc_method a[] = {{"a.x", answer_name, 0}}, b[] = {{"b.x", answer_name, 0}};

	assert_int_equal(udsrpc_server_add_methods(srv, one, strlen(one), a, 1, NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(udsrpc_server_add_methods(srv, two, strlen(two), b, 1, NULL, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "components.schemas 'N'"));
	udsrpc_server_free(srv);
}

#define MANY 300

/* One request line for method name, as uid; the reply, malloc'd. */
static char *call_as(struct udsrpc_server *srv, uid_t uid, const char *method)
{
	struct udsrpc_peer peer = {.id = 1, .uid = uid, .gid = uid, .pid = 4242};
	struct evbuffer *out = evbuffer_new();
	struct rpc_session s;
	char line[256];

	rpc_session_init(&s, srv, &peer, out, NULL);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"}", method);
	rpc_handle_line(&s, line, strlen(line));
	size_t n = evbuffer_get_length(out);
	char *text = malloc(n + 1);
	evbuffer_remove(out, text, n);
	text[n] = '\0';
	rpc_session_detach(&s);
	rpc_session_free(&s);
	evbuffer_free(out);
	return text;
}

/*
 * Far more methods than the old 64-bit verdict masks held, each callable,
 * with a policy that allows a stranger only some of them: verdicts are
 * cached per method and must never bleed from one index into another.
 */
static void test_many_methods_each_decided(void **state)
{
	struct udsrpc_server *srv = new_server(UDSRPC_BUILTIN_DISCOVER);
	const char *names[MANY + 1];
	struct udsrpc_method table[MANY];
	char bufs[MANY][16], err[512], want[128];
	uid_t stranger = getuid() == 12345 ? 12346 : 12345;

	for (int i = 0; i < MANY; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "%s.m%03d", i % 3 == 0 ? "open" : "shut", i);
		names[i] = bufs[i];
		table[i] = (struct udsrpc_method){bufs[i], answer_name, 0};
	}
	names[MANY] = NULL;
	assert_int_equal(add(srv, names, table, MANY, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_server_method_count(srv), MANY + 1);
	json_t *policy = json_pack("{s:[{s:s,s:[s]}]}", "rules", "effect", "allow", "methods", "open.*");
	assert_int_equal(udsrpc_server_set_policy_json(srv, policy, err, sizeof(err)), 0);
	json_decref(policy);
	/* Twice over, so the second round is answered from the per-connection cache. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MANY; i++) {
			char *got = call_as(srv, stranger, bufs[i]);
			if (i % 3 == 0)
				snprintf(want, sizeof(want),
				         "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"%.15s\"}\n", bufs[i]);
			else
				snprintf(want, sizeof(want), "\"code\":-32001");
			if (i % 3 == 0)
				assert_string_equal(got, want);
			else
				assert_non_null(strstr(got, want));
			free(got);
		}
	}
	/* rpc.discover lists every one, in registration order after the frame. */
	json_t *doc = udsrpc_server_discover(srv);
	json_t *methods = json_object_get(doc, "methods");
	assert_int_equal(json_array_size(methods), MANY + 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(methods, 0), "name")),
	                    "open.m000");
	json_decref(doc);
	/* A removed method is not found, and its index reused without stale verdicts. */
	assert_int_equal(udsrpc_server_remove_method(srv, "open.m003"), 0);
	char *got = call_as(srv, stranger, "open.m003");
	assert_non_null(strstr(got, "\"code\":-32601"));
	free(got);
	const char *again[] = {"shut.new", NULL};
	struct udsrpc_method t[] = {{"shut.new", answer_name, 0}};
	assert_int_equal(add(srv, again, t, 1, err, sizeof(err)), 0);
	got = call_as(srv, stranger, "shut.new");
	assert_non_null(strstr(got, "\"code\":-32001"));
	free(got);
	udsrpc_server_free(srv);
}

/* The embedded default policy: public methods to anyone, the rest to root and self only. */
static void test_default_policy_follows_flags(void **state)
{
	struct udsrpc_server *srv = new_server(UDSRPC_BUILTIN_PING | UDSRPC_BUILTIN_PEERS);
	const char *names[] = {"t.open", "t.admin", NULL};
	struct udsrpc_method table[] = {{"t.open", answer_name, UDSRPC_METHOD_PUBLIC},
	                                {"t.admin", answer_name, 0}};
	uid_t stranger = getuid() == 12345 ? 12346 : 12345;
	char err[256], *got;

	assert_int_equal(add(srv, names, table, 2, err, sizeof(err)), 0);
	got = call_as(srv, stranger, "t.open");
	assert_non_null(strstr(got, "\"result\":\"t.open\""));
	free(got);
	got = call_as(srv, stranger, "ping");
	assert_non_null(strstr(got, "\"result\":\"pong\""));
	free(got);
	got = call_as(srv, stranger, "t.admin");
	assert_non_null(strstr(got, "\"code\":-32001"));
	free(got);
	got = call_as(srv, stranger, "peer.list");
	assert_non_null(strstr(got, "\"code\":-32001"));
	free(got);
	got = call_as(srv, getuid(), "t.admin"); /* "self" */
	assert_non_null(strstr(got, "\"result\":\"t.admin\""));
	free(got);
	/* A public method registered later is public at once. */
	const char *late[] = {"t.late", NULL};
	struct udsrpc_method l[] = {{"t.late", answer_name, UDSRPC_METHOD_PUBLIC}};
	assert_int_equal(add(srv, late, l, 1, err, sizeof(err)), 0);
	got = call_as(srv, stranger, "t.late");
	assert_non_null(strstr(got, "\"result\":\"t.late\""));
	free(got);
	udsrpc_server_free(srv);
}

static void test_options_and_limits(void **state)
{
	struct udsrpc_server_options o;
	struct udsrpc_server *srv;
	char err[256];
	uint64_t v;

	udsrpc_server_options_init(&o);
	assert_int_equal(o.size, sizeof(o));
	assert_int_equal(o.max_connections, 4096);
	assert_int_equal(o.call_timeout_ms, 30000);
	assert_int_equal(o.max_provider_inflight, 1024);
	o.max_batch = 0;
	assert_int_equal(udsrpc_server_new(&srv, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "max_batch 0 is out of range (1..1048576)");
	/* A caller built against an older, shorter struct: the rest are defaults. */
	udsrpc_server_options_init(&o);
	o.size = offsetof(struct udsrpc_server_options, call_timeout_ms);
	o.socket_path = "/nonexistent/t.sock";
	o.max_batch = 7;
	o.call_timeout_ms = 1; /* past size: not read */
	assert_int_equal(udsrpc_server_new(&srv, &o, err, sizeof(err)), 0);
	assert_int_equal(udsrpc_server_get_limit(srv, "max_batch", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(udsrpc_server_get_limit(srv, "call_timeout_ms", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(udsrpc_server_set_limit(srv, "max_batch", 9), 0);
	assert_int_equal(udsrpc_server_set_limit(srv, "max_batch", 0), -ERANGE);
	assert_int_equal(udsrpc_server_set_limit(srv, "max_widgets", 1), -ENOENT);
	assert_int_equal(udsrpc_server_get_limit(srv, "max_widgets", &v), -ENOENT);
	size_t n = 0;
	while (udsrpc_limit_name(n))
		n++;
	assert_int_equal(n, 9);
	udsrpc_server_free(srv);
	/* Too small to be an options struct at all. */
	o.size = 4;
	assert_int_equal(udsrpc_server_new(&srv, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "udsrpc_server_options_init"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failures_name_the_method),
		cmocka_unit_test(test_components_must_agree),
		cmocka_unit_test(test_many_methods_each_decided),
		cmocka_unit_test(test_default_policy_follows_flags),
		cmocka_unit_test(test_options_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

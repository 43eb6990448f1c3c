/* test_schema.c — the embedded OpenRPC document, config and policy schemas against udsrpc(7). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonschema.h"
#include "documents.h"
#include "schema.h"

/* udsrpc(7) METHODS, in table order. */
static const char *const protocol_methods[] = {
    "ping",         "echo",          "rpc.discover",     "daemon.info",
    "daemon.stats", "daemon.reload", "daemon.shutdown",  "daemon.log_level",
    "peer.whoami",  "peer.list",     "config.get",       "config.set",
    "config.unset", "config.list",   "config.txn",       "config.restore",
    "events.subscribe", "events.unsubscribe", "events.publish", "rpc.provide", "rpc.unprovide",
};
#define N_METHODS (sizeof(protocol_methods) / sizeof(protocol_methods[0]))

/* udsrpc(7) METHODS: the methods marked (admin). */
static const char *const admin_methods[] = {
    "daemon.reload", "daemon.shutdown", "daemon.log_level",
    "peer.list",     "config.set",      "config.unset",     "config.txn",
    "config.restore",
};

/* udsrpc(7) JSON-RPC ERRORS: code and exact message. */
static const struct {
	int code;
	const char *message;
} protocol_errors[] = {
    {-32700, "Parse error"},       {-32600, "Invalid Request"}, {-32601, "Method not found"},
    {-32602, "Invalid params"},    {-32603, "Internal error"},  {-32001, "Permission denied"},
    {-32002, "Request too large"}, {-32003, "Server busy"},     {-32004, "Shutting down"},
    {-32010, "Not found"},         {-32011, "Conflict"},        {-32012, "Storage error"},
    {-32013, "Name taken"},
    {-32014, "Quota exceeded"},
    {-32015, "History compacted"},
};
#define N_ERRORS (sizeof(protocol_errors) / sizeof(protocol_errors[0]))

static struct schema *doc;

static int setup(void **state)
{
	(void)state;
	char err[512];
	if (schema_load(udsrpc_openrpc_json, udsrpc_openrpc_json_len, &doc, err, sizeof(err)) != 0) {
		fprintf(stderr, "embedded OpenRPC document does not load: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	schema_free(doc);
	return 0;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v)
		fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
	return v;
}

static const struct method_schema *method(const char *name)
{
	const struct method_schema *m = schema_method(doc, name);
	if (!m)
		fail_msg("method '%s' is not in the document", name);
	return m;
}

/* params_text NULL: params absent. */
static void params_ok(const char *name, const char *params_text)
{
	json_t *params = params_text ? parse(params_text) : NULL, *data = (json_t *)1;
	int r = schema_validate_params(method(name), params, &data);
	if (r != 0) {
		char *d = data ? json_dumps(data, JSON_COMPACT) : NULL;
		fail_msg("%s %s refused (%d): %s", name, params_text ? params_text : "(absent)", r,
		         d ? d : "");
	}
	assert_null(data);
	json_decref(params);
}

/* The -32602 data must also satisfy the document's own InvalidParamsData schema. */
static void params_bad(const char *name, const char *params_text, const char *want_path,
                       const char *want_reason)
{
	json_t *params = params_text ? parse(params_text) : NULL, *data = NULL;
	int r = schema_validate_params(method(name), params, &data);
	if (r != -EINVAL)
		fail_msg("%s %s: got %d, want -EINVAL", name,
		         params_text ? params_text : "(absent)", r);
	assert_non_null(data);
	const char *path = json_string_value(json_object_get(data, "path"));
	const char *reason = json_string_value(json_object_get(data, "reason"));
	assert_non_null(path);
	assert_non_null(reason);
	if (strcmp(path, want_path) != 0)
		fail_msg("%s %s: path '%s', want '%s' (%s)", name, params_text, path, want_path,
		         reason);
	if (!strstr(reason, want_reason))
		fail_msg("%s %s: reason '%s' lacks '%s'", name, params_text, reason, want_reason);

	const json_t *d =
	    json_object_get(json_object_get(schema_document(doc), "x-udsrpc-error-data"), "-32602");
	char p[128], why[256];
	assert_non_null(d);
	assert_int_equal(
	    jsonschema_validate(d, schema_document(doc), data, p, sizeof(p), why, sizeof(why)), 0);
	json_decref(data);
	json_decref(params);
}

static void test_every_protocol_method_present(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_METHODS; i++)
		assert_non_null(schema_method(doc, protocol_methods[i]));
	assert_null(schema_method(doc, "nope"));
	assert_null(schema_method(doc, "Ping"));
	/* ...and nothing else: the document lists exactly these, in its order. */
	assert_int_equal(schema_method_count(doc), N_METHODS);
	for (size_t i = 0; i < N_METHODS; i++)
		assert_string_equal(schema_method_name(schema_method_at(doc, i)), protocol_methods[i]);
	assert_null(schema_method_at(doc, N_METHODS));
	const json_t *d = schema_document(doc);
	assert_string_equal(json_string_value(json_object_get(d, "openrpc")), "1.2.6");
	assert_int_equal(json_array_size(json_object_get(d, "methods")), N_METHODS);
}

static void test_admin_marks(void **state)
{
	(void)state;
	size_t i;
	const json_t *m;
	json_array_foreach(json_object_get(schema_document(doc), "methods"), i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		bool want = false;
		for (size_t k = 0; k < sizeof(admin_methods) / sizeof(admin_methods[0]); k++)
			want |= strcmp(name, admin_methods[k]) == 0;
		if (want != json_is_true(json_object_get(m, "x-udsrpc-admin")))
			fail_msg("%s: x-udsrpc-admin should be %s", name, want ? "true" : "absent");
	}
}

static void test_ping(void **state)
{
	(void)state;
	params_ok("ping", NULL);
	params_ok("ping", "{}");
	params_ok("ping", "[]");
	params_bad("ping", "{\"x\":1}", "/x", "unknown member 'x'");
	params_bad("ping", "[1]", "/0", "'ping' takes no params");
}

static void test_no_param_methods_refuse_arrays(void **state)
{
	(void)state;
	const char *names[] = {"rpc.discover",    "daemon.info", "daemon.stats", "daemon.reload",
	                       "daemon.shutdown", "peer.whoami", "peer.list"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		params_ok(names[i], NULL);
		params_ok(names[i], "{}");
		params_bad(names[i], "[]", "", "params must be an object (by name)");
		params_bad(names[i], "{\"verbose\":true}", "/verbose", "unknown member 'verbose'");
	}
}

static void test_echo(void **state)
{
	(void)state;
	params_ok("echo", NULL);
	params_ok("echo", "[1,2]");
	params_ok("echo", "[]");
	params_ok("echo", "{\"a\":1}");
	params_ok("echo", "{\"deep\":{\"x\":[null,\"\\u0000\"]}}");
	params_bad("echo", "\"bar\"", "", "object or an array");
}

static void test_log_level(void **state)
{
	(void)state;
	params_ok("daemon.log_level", "{\"level\":\"debug\"}");
	params_bad("daemon.log_level", "{\"level\":\"loud\"}", "/level",
	           "must be one of \"error\", \"warning\", \"info\", \"debug\"");
	params_bad("daemon.log_level", NULL, "", "missing required member 'level'");
	params_bad("daemon.log_level", "{\"level\":3}", "/level", "expected string");
}

static void test_config_get(void **state)
{
	(void)state;
	params_ok("config.get", "{\"key\":\"app.color\"}");
	/* udsrpc(7): every string of the alphabet is a key. */
	params_ok("config.get", "{\"key\":\".\"}");
	params_ok("config.get", "{\"key\":\"a//b\"}");
	params_ok("config.get", "{\"key\":\"/x\"}");
	params_bad("config.get", "{}", "", "missing required member 'key'");
	params_bad("config.get", NULL, "", "'key'");
	params_bad("config.get", "{\"key\":\"\"}", "/key", "at least 1");
	params_bad("config.get", "{\"key\":\"a b\"}", "/key", "does not match pattern");
	params_bad("config.get", "{\"key\":\"k\\u0000\"}", "/key", "U+0000");
	params_bad("config.get", "{\"key\":\"caf\\u00e9\"}", "/key", "does not match pattern");
	params_bad("config.get", "{\"key\":1}", "/key", "expected string");
	params_bad("config.get", "{\"key\":\"a\",\"extra\":1}", "/extra", "unknown member 'extra'");
	/* A typo is reported as what it is, before the missing member it stands for. */
	params_bad("config.get", "{\"kye\":\"a\"}", "/kye", "unknown member 'kye'");

	char key[300];
	memset(key, 'k', sizeof(key));
	char text[320];
	snprintf(text, sizeof(text), "{\"key\":\"%.256s\"}", key);
	params_ok("config.get", text);
	snprintf(text, sizeof(text), "{\"key\":\"%.257s\"}", key);
	params_bad("config.get", text, "/key", "at most 256");
}

static void test_config_set_unset_list(void **state)
{
	(void)state;
	params_ok("config.set", "{\"key\":\"a\",\"value\":null}");
	params_ok("config.set", "{\"key\":\"a\",\"value\":{\"x\":[1]},\"expect_revision\":0}");
	params_bad("config.set", "[\"a\",1]", "", "params must be an object (by name)");
	params_bad("config.set", "[]", "", "params must be an object (by name)");
	params_bad("config.set", "{\"key\":\"a\"}", "", "missing required member 'value'");
	params_bad("config.set", "{\"key\":\"a\",\"value\":1,\"expect_revision\":-1}",
	           "/expect_revision", "must be >= 0");
	params_bad("config.set", "{\"key\":\"a\",\"value\":1,\"expect_revision\":1.0}",
	           "/expect_revision", "expected integer");
	params_ok("config.unset", "{\"key\":\"a\"}");
	params_ok("config.unset", "{\"key\":\"a\",\"expect_revision\":7}");
	params_bad("config.unset", "{\"key\":\"a\",\"value\":1}", "/value", "unknown member");
	params_ok("config.list", NULL);
	params_ok("config.list", "{\"prefix\":\"\"}");
	params_ok("config.list", "{\"prefix\":\"app.\"}");
	params_bad("config.list", "{\"prefix\":7}", "/prefix", "expected string");
	params_ok("config.list", "{\"after\":\"app.b\",\"limit\":10000,\"keys_only\":true}");
	params_bad("config.list", "{\"limit\":0}", "/limit", "must be >= 1");
	params_bad("config.list", "{\"limit\":10001}", "/limit", "must be <= 10000");
	params_bad("config.list", "{\"after\":\"no space\"}", "/after", "does not match");
	params_ok("config.unset", "{\"prefix\":\"app.\"}");
	params_ok("config.unset", "{\"prefix\":\"\"}");
}

static void test_events(void **state)
{
	(void)state;
	params_ok("events.subscribe", "{\"topics\":[\"config\",\"peer\",\"daemon\"]}");
	params_bad("events.subscribe", "{}", "", "missing required member 'topics'");
	params_bad("events.subscribe", "{\"topics\":[]}", "/topics", "at least 1");
	/* Which topics exist is the server's to say (providers add some); the
	 * schema only keeps out what can be no topic's name. */
	params_ok("events.subscribe", "{\"topics\":[\"config\",\"bogus\"]}");
	params_bad("events.subscribe", "{\"topics\":[\"config\",\"no such\"]}", "/topics/1",
	           "does not match");
	params_ok("events.subscribe", "{\"topics\":[\"config\"],\"prefix\":\"app/\",\"after_revision\":41}");
	params_bad("events.subscribe", "{\"topics\":[\"config\"],\"after_revision\":-1}",
	           "/after_revision", "must be >= 0");
	params_bad("events.subscribe", "{\"topics\":[\"config\"],\"prefix\":\"a b\"}", "/prefix",
	           "does not match");
	params_ok("events.unsubscribe", NULL);
	params_ok("events.unsubscribe", "{\"topics\":[]}");
	params_bad("events.unsubscribe", "{\"topics\":\"config\"}", "/topics", "expected array");
}

/* A method's listed errors as resolved {code, message} objects, borrowed from the document. */
static const json_t *resolve_error(const json_t *e)
{
	const json_t *ref = json_object_get(e, "$ref");
	if (!ref)
		return e;
	const char *r = json_string_value(ref);
	const char *prefix = "#/components/errors/";
	assert_int_equal(strncmp(r, prefix, strlen(prefix)), 0);
	return json_object_get(
	    json_object_get(json_object_get(schema_document(doc), "components"), "errors"),
	    r + strlen(prefix));
}

static bool lists_code(const json_t *errors, int code)
{
	size_t i;
	const json_t *e;
	json_array_foreach(errors, i, e)
	{
		if (json_integer_value(json_object_get(resolve_error(e), "code")) == code)
			return true;
	}
	return false;
}

static void test_errors_match_protocol_table(void **state)
{
	(void)state;
	const json_t *d = schema_document(doc);
	const json_t *components = json_object_get(json_object_get(d, "components"), "errors");
	assert_int_equal(json_object_size(components), N_ERRORS);
	const char *name;
	json_t *e;
	json_object_foreach((json_t *)components, name, e)
	{
		int code = (int)json_integer_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		size_t k;
		for (k = 0; k < N_ERRORS; k++)
			if (protocol_errors[k].code == code)
				break;
		if (k == N_ERRORS)
			fail_msg("components.errors %s: code %d is not in udsrpc(7)", name,
			         code);
		assert_string_equal(msg, protocol_errors[k].message);
		char key[16];
		snprintf(key, sizeof(key), "%d", code);
		if (!json_object_get(json_object_get(d, "x-udsrpc-error-data"), key))
			fail_msg("x-udsrpc-error-data lacks %s", key);
	}

	size_t i;
	const json_t *m;
	json_array_foreach(json_object_get(d, "methods"), i, m)
	{
		const char *mname = json_string_value(json_object_get(m, "name"));
		const json_t *errors = json_object_get(m, "errors");
		size_t j;
		const json_t *x;
		json_array_foreach(errors, j, x)
		{
			const json_t *r = resolve_error(x);
			if (!r)
				fail_msg("%s: errors[%zu] does not resolve", mname, j);
		}
		/* Policy, shutdown and bugs can hit any method; params any but echo. */
		assert_true(lists_code(errors, -32001));
		assert_true(lists_code(errors, -32603));
		assert_true(lists_code(errors, -32004));
		assert_int_equal(lists_code(errors, -32602), strcmp(mname, "echo") != 0);
		bool store = strncmp(mname, "config.", 7) == 0;
		assert_int_equal(lists_code(errors, -32010),
		                 strcmp(mname, "config.get") == 0 ||
		                     strcmp(mname, "config.unset") == 0);
		/* Conflict comes of expect_revision: a transaction has compares instead. */
		bool writes = store && strcmp(mname, "config.get") != 0 &&
		              strcmp(mname, "config.list") != 0;
		assert_int_equal(lists_code(errors, -32011),
		                 writes && strcmp(mname, "config.txn") != 0 &&
		                     strcmp(mname, "config.restore") != 0);
		assert_int_equal(lists_code(errors, -32012), writes);
	}
}

/* Each example pairing of the document: its params pass, its result matches. */
static void test_examples_validate(void **state)
{
	(void)state;
	size_t i, n = 0;
	const json_t *m;
	json_array_foreach(json_object_get(schema_document(doc), "methods"), i, m)
	{
		const char *mname = json_string_value(json_object_get(m, "name"));
		const struct method_schema *ms = method(mname);
		size_t j;
		const json_t *ex;
		json_array_foreach(json_object_get(m, "examples"), j, ex)
		{
			json_t *params = json_object(), *data = NULL;
			size_t k;
			const json_t *p;
			json_array_foreach(json_object_get(ex, "params"), k, p)
			{
				json_object_set(params,
				                json_string_value(json_object_get(p, "name")),
				                json_object_get(p, "value"));
			}
			if (schema_validate_params(ms, params, &data) != 0)
				fail_msg("%s example %zu: params refused: %s", mname, j,
				         json_string_value(json_object_get(data, "reason")));
			json_decref(params);
			char path[128], reason[256];
			const json_t *res = json_object_get(json_object_get(ex, "result"), "value");
			if (schema_validate_result(ms, res, path, sizeof(path), reason,
			                           sizeof(reason)) != 0)
				fail_msg("%s example %zu: result refused at '%s': %s", mname, j,
				         path, reason);
			n++;
		}
	}
	assert_true(n >= 14);
}

static void result_ok(const char *name, const char *text)
{
	json_t *v = parse(text);
	char path[128], reason[256];
	int r = schema_validate_result(method(name), v, path, sizeof(path), reason, sizeof(reason));
	json_decref(v);
	if (r != 0)
		fail_msg("%s result %s refused at '%s': %s", name, text, path, reason);
}

static void result_bad(const char *name, const char *text, const char *want_path,
                       const char *want_reason)
{
	json_t *v = parse(text);
	char path[128], reason[256];
	int r = schema_validate_result(method(name), v, path, sizeof(path), reason, sizeof(reason));
	json_decref(v);
	if (r != -EINVAL)
		fail_msg("%s result %s accepted", name, text);
	assert_string_equal(path, want_path);
	if (!strstr(reason, want_reason))
		fail_msg("%s result %s: reason '%s' lacks '%s'", name, text, reason, want_reason);
}

static void test_results(void **state)
{
	(void)state;
	result_ok("ping", "\"pong\"");
	result_bad("ping", "\"pang\"", "", "must be \"pong\"");
	result_ok("echo", "null");
	result_ok("echo", "[1]");
	result_bad("echo", "1", "", "expected object or array or null");
	const char *info = "{\"name\":\"udsrpcd\",\"version\":\"0.1.0\",\"pid\":9,\"uid\":1000,"
	                   "\"socket\":\"/tmp/s\",\"started\":\"2024-01-02T03:04:05.678Z\","
	                   "\"uptime_ms\":5,\"connections\":1";
	char text[512];
	snprintf(text, sizeof(text), "%s}", info);
	result_ok("daemon.info", text);
	snprintf(text, sizeof(text), "%s,\"extra\":1}", info);
	result_bad("daemon.info", text, "/extra", "unknown member 'extra'");
	result_bad("daemon.info",
	           "{\"name\":\"udsrpcd\",\"version\":\"0.1.0\",\"pid\":9,\"uid\":1000,"
	           "\"socket\":\"/tmp/s\",\"started\":\"yesterday\",\"uptime_ms\":5,"
	           "\"connections\":1}",
	           "/started", "does not match pattern");
	result_bad("daemon.stats",
	           "{\"connections\":{\"current\":0,\"peak\":0,\"accepted\":0,\"rejected\":0},"
	           "\"requests\":{\"total\":0,\"errors\":0,\"denied\":0},\"bytes\":{\"in\":0,"
	           "\"out\":0},\"methods\":{\"ping\":{\"calls\":1,\"errors\":0,\"denied\":0,"
	           "\"latency_us\":{\"p50\":1,\"p99\":2}}}}",
	           "/methods/ping/latency_us", "missing required member 'max'");
	result_ok("peer.whoami", "{\"id\":1,\"uid\":0,\"gid\":0,\"pid\":1,\"groups\":[],"
	                         "\"user\":null,\"comm\":null,\"exe\":null}");
	result_bad("peer.whoami",
	           "{\"id\":1,\"uid\":0,\"gid\":0,\"pid\":1,\"groups\":[-1],\"user\":null,"
	           "\"comm\":null,\"exe\":null}",
	           "/groups/0", "must be >= 0");
	result_bad("config.get",
	           "{\"key\":\"a\",\"value\":1,\"revision\":0,\"create_revision\":1,\"version\":1}",
	           "/revision", "must be >= 1");
	result_ok("config.get",
	          "{\"key\":\"a\",\"value\":1,\"revision\":5,\"create_revision\":2,\"version\":3}");
	result_bad("config.get", "{\"key\":\"a\",\"value\":1,\"revision\":5}", "",
	           "missing required member 'create_revision'");
	result_ok("config.list", "{\"items\":[],\"revision\":0,\"more\":false}");
	result_ok("config.list", "{\"items\":[{\"key\":\"a\",\"revision\":2}],\"revision\":9,"
	                         "\"more\":true}");
	result_bad("config.list", "{\"items\":[]}", "", "missing required member 'revision'");
	result_ok("config.unset", "{\"key\":\"a\",\"revision\":4}");
	result_ok("config.unset", "{\"prefix\":\"a.\",\"revision\":4,\"count\":2}");
	result_ok("daemon.shutdown", "{\"stopping\":true}");
	result_bad("daemon.shutdown", "{\"stopping\":false}", "/stopping", "must be true");
	/* rpc.discover returns the document itself. */
	char path[64], reason[128];
	assert_int_equal(schema_validate_result(method("rpc.discover"), schema_document(doc), path,
	                                        sizeof(path), reason, sizeof(reason)),
	                 0);
}

static void event_check(const char *text, int want, const char *want_path)
{
	const json_t *d = schema_document(doc);
	const json_t *params = json_object_get(
	    json_object_get(json_object_get(d, "x-udsrpc-notifications"), "event"), "params");
	assert_non_null(params);
	json_t *v = parse(text);
	char path[128], reason[256];
	int r = jsonschema_validate(params, d, v, path, sizeof(path), reason, sizeof(reason));
	json_decref(v);
	if (r != want)
		fail_msg("event %s: got %d (%s: %s), want %d", text, r, path, reason, want);
	if (want)
		assert_string_equal(path, want_path);
}

static void test_event_notification(void **state)
{
	(void)state;
	event_check("{\"topic\":\"config\",\"type\":\"set\",\"key\":\"a\",\"revision\":3,"
	            "\"value\":[1],\"peer\":{\"uid\":0,\"pid\":5}}",
	            0, NULL);
	event_check("{\"topic\":\"config\",\"type\":\"unset\",\"key\":\"a\",\"revision\":4,"
	            "\"peer\":{\"uid\":0,\"pid\":5}}",
	            0, NULL);
	event_check("{\"topic\":\"peer\",\"type\":\"connect\",\"id\":3,\"uid\":1,\"gid\":1,"
	            "\"pid\":2,\"groups\":[1],\"user\":\"u\",\"comm\":null,\"exe\":null}",
	            0, NULL);
	event_check("{\"topic\":\"daemon\",\"type\":\"log_level\",\"level\":\"debug\"}", 0, NULL);
	/* set without its value, and an unknown topic, match no alternative. */
	event_check("{\"topic\":\"config\",\"type\":\"set\",\"key\":\"a\",\"revision\":3,"
	            "\"peer\":{\"uid\":0,\"pid\":5}}",
	            -EINVAL, "");
	event_check("{\"topic\":\"weather\",\"type\":\"rain\"}", -EINVAL, "");
}


static void load_fails(const char *text, const char *want)
{
	struct schema *s = (struct schema *)1;
	char err[512];
	int r = schema_load(text, strlen(text), &s, err, sizeof(err));
	if (r != -EINVAL)
		fail_msg("schema_load accepted %s", text);
	if (!strstr(err, want))
		fail_msg("schema_load(%s): '%s' lacks '%s'", text, err, want);
}

#define DOC_HEAD "{\"openrpc\":\"1.2.6\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"

static void test_load_rejects(void **state)
{
	(void)state;
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"paramStructure\":\"by-name\","
	                    "\"params\":[{\"name\":\"a\",\"schema\":{\"type\":\"object\","
	                    "\"patternProperties\":{\"^x\":{}}}}]}]}",
	           "method 'm': param 'a': schema #/patternProperties: keyword "
	           "'patternProperties' is not supported");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[],\"result\":{\"name\":"
	                    "\"r\",\"schema\":{\"items\":{\"format\":\"uri\"}}}}]}",
	           "method 'm': result schema #/items/format: keyword 'format'");
	load_fails(DOC_HEAD "\"methods\":[],\"components\":{\"schemas\":{\"S\":{\"not\":{}}}}}",
	           "components.schemas 'S': #/not: keyword 'not' is not supported");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[],\"result\":{\"name\":"
	                    "\"r\",\"schema\":{\"$ref\":\"#/components/schemas/Missing\"}}}]}",
	           "method 'm': result schema $ref \"#/components/schemas/Missing\" must name");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[]},{\"name\":\"m\","
	                    "\"params\":[]}]}",
	           "method 'm' is defined twice");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[{\"name\":\"a\","
	                    "\"schema\":{}}]}]}",
	           "method 'm': paramStructure \"either\" is supported only without params");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"paramStructure\":\"by-position\","
	                    "\"params\":[]}]}",
	           "method 'm': paramStructure must be");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"x-udsrpc-params\":\"some\","
	                    "\"params\":[]}]}",
	           "method 'm': x-udsrpc-params must be \"any\"");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"x-udsrpc-admin\":\"yes\","
	                    "\"params\":[]}]}",
	           "method 'm': x-udsrpc-admin must be a boolean");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"paramStructure\":\"by-name\","
	                    "\"params\":[{\"$ref\":\"#/components/contentDescriptors/K\"}]}]}",
	           "method 'm': params[0] $ref does not name");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[],\"errors\":[{\"$ref\":"
	                    "\"#/components/errors/Nope\"}]}]}",
	           "method 'm': errors[0]");
	load_fails(DOC_HEAD "\"methods\":[{\"name\":\"m\",\"params\":[]}], \"methods\":[]}",
	           "duplicate object key");
	load_fails("{\"openrpc\":", "OpenRPC document: line 1");
	load_fails("{\"openrpc\":\"1.2.6\"}", "needs \"openrpc\" and a \"methods\" array");
}

static void test_load_custom_document(void **state)
{
	(void)state;
	/* A by-name method with a $ref'd content descriptor, compiled and enforced. */
	const char *text =
	    DOC_HEAD "\"methods\":[{\"name\":\"m\",\"paramStructure\":\"by-name\",\"params\":"
	             "[{\"$ref\":\"#/components/contentDescriptors/N\"}]}],"
	             "\"components\":{\"contentDescriptors\":{\"N\":{\"name\":\"n\","
	             "\"required\":true,\"schema\":{\"$ref\":\"#/components/schemas/Pos\"}}},"
	             "\"schemas\":{\"Pos\":{\"type\":\"integer\",\"minimum\":1}}}}";
	struct schema *s;
	char err[256];
	assert_int_equal(schema_load(text, strlen(text), &s, err, sizeof(err)), 0);
	const struct method_schema *m = schema_method(s, "m");
	assert_non_null(m);
	json_t *good = parse("{\"n\":2}"), *bad = parse("{\"n\":0}"), *data = NULL;
	assert_int_equal(schema_validate_params(m, good, &data), 0);
	assert_int_equal(schema_validate_params(m, bad, &data), -EINVAL);
	assert_string_equal(json_string_value(json_object_get(data, "path")), "/n");
	json_decref(data);
	assert_int_equal(schema_validate_params(m, NULL, &data), -EINVAL);
	assert_string_equal(json_string_value(json_object_get(data, "reason")),
	                    "missing required member 'n'");
	json_decref(data);
	json_decref(good);
	json_decref(bad);
	schema_free(s);
	schema_free(NULL);
}

static void test_long_member_name_full_path(void **state)
{
	(void)state;
	/* data.path is the whole pointer, however long the unknown member's name. */
	size_t n = 5000;
	char *text = malloc(n + 16);
	assert_non_null(text);
	memcpy(text, "{\"", 2);
	memset(text + 2, 'z', n);
	strcpy(text + 2 + n, "\":1}");
	json_t *params = parse(text), *data = NULL;
	assert_int_equal(schema_validate_params(method("ping"), params, &data), -EINVAL);
	const char *path = json_string_value(json_object_get(data, "path"));
	assert_int_equal(strlen(path), n + 1);
	assert_int_equal(path[0], '/');
	assert_int_equal(path[n], 'z');
	assert_true(strlen(json_string_value(json_object_get(data, "reason"))) < 200);
	json_decref(data);
	json_decref(params);
	free(text);

	/*
	 * Three-byte characters: a buffer cut lands inside one and is moved back
	 * to the character boundary, which must still be seen as a cut.
	 */
	size_t chars = 1000;
	text = malloc(3 * chars + 16);
	assert_non_null(text);
	memcpy(text, "{\"", 2);
	for (size_t i = 0; i < chars; i++)
		memcpy(text + 2 + 3 * i, "\xe2\x82\xac", 3); /* U+20AC */
	strcpy(text + 2 + 3 * chars, "\":1}");
	params = parse(text);
	assert_int_equal(schema_validate_params(method("ping"), params, &data), -EINVAL);
	path = json_string_value(json_object_get(data, "path"));
	assert_int_equal(strlen(path), 1 + 3 * chars);
	assert_memory_equal(path + 1, text + 2, 3 * chars);
	json_decref(data);
	json_decref(params);
	free(text);
}

/* ---- config.schema.json and policy.schema.json ---- */

static json_t *embedded(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		fail_msg("embedded schema does not parse: %s", jerr.text);
	char err[256];
	if (jsonschema_check(v, err, sizeof(err)) != 0)
		fail_msg("embedded schema leaves the subset: %s", err);
	return v;
}

static void doc_check(const json_t *schema, const char *text, const char *want_path,
                      const char *want_reason)
{
	json_t *v = parse(text);
	char path[128], reason[256];
	int r = jsonschema_validate(schema, NULL, v, path, sizeof(path), reason, sizeof(reason));
	json_decref(v);
	if (!want_path) {
		if (r != 0)
			fail_msg("%s refused at '%s': %s", text, path, reason);
		return;
	}
	if (r != -EINVAL)
		fail_msg("%s accepted (%d)", text, r);
	if (strcmp(path, want_path) != 0 || !strstr(reason, want_reason))
		fail_msg("%s: '%s' %s, want '%s' %s", text, path, reason, want_path, want_reason);
}

static void test_config_schema(void **state)
{
	(void)state;
	json_t *s = embedded(udsrpc_config_schema_json, udsrpc_config_schema_json_len);
	/* The example of udsrpc(7) CONFIGURATION FILE. */
	doc_check(
	    s,
	    "{\"socket\":\"/run/udsrpcd.sock\",\"socket_mode\":\"0666\",\"socket_group\":"
	    "\"adm\",\"state_dir\":\"/var/lib/udsrpcd\",\"policy\":"
	    "\"/etc/udsrpcd/policy.json\",\"log_level\":\"info\",\"user\":\"udsrpc\","
	    "\"group\":\"udsrpc\",\"limits\":{\"max_connections\":4096,"
	    "\"max_connections_per_uid\":256,\"max_message_bytes\":1048576,\"max_batch\":1024,"
	    "\"max_output_bytes\":8388608,\"partial_timeout_ms\":10000,\"idle_timeout_ms\":0}}",
	    NULL, NULL);
	doc_check(s, "{}", NULL, NULL);
	doc_check(s, "{\"socket_mode\":\"660\"}", NULL, NULL);
	doc_check(s, "{\"sokcet\":\"/run/x.sock\"}", "/sokcet", "unknown member 'sokcet'");
	doc_check(s, "{\"limits\":{\"max_conections\":5}}", "/limits/max_conections",
	          "unknown member 'max_conections'");
	doc_check(s, "{\"limits\":{\"max_connections\":0}}", "/limits/max_connections",
	          "must be >= 1");
	doc_check(s, "{\"limits\":{\"max_message_bytes\":10}}", "/limits/max_message_bytes",
	          "must be >= 64");
	doc_check(s, "{\"limits\":{\"max_batch\":\"10\"}}", "/limits/max_batch",
	          "expected integer");
	doc_check(s, "{\"socket_mode\":\"0999\"}", "/socket_mode", "does not match pattern");
	doc_check(s, "{\"socket_mode\":438}", "/socket_mode", "expected string");
	doc_check(s, "{\"log_level\":\"verbose\"}", "/log_level", "must be one of");
	doc_check(s, "[]", "", "expected object");
	json_decref(s);
}

static void test_policy_schema(void **state)
{
	(void)state;
	json_t *s = embedded(udsrpc_policy_schema_json, udsrpc_policy_schema_json_len);
	/* The example of udsrpc(7) POLICY. */
	doc_check(s,
	          "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"ping\",\"echo\","
	          "\"rpc.discover\",\"daemon.info\",\"peer.whoami\"]},{\"effect\":\"allow\","
	          "\"methods\":[\"config.get\",\"config.list\",\"events.*\"],\"groups\":[\"adm\"]},"
	          "{\"effect\":\"deny\",\"methods\":[\"daemon.shutdown\"],\"pids\":[4242]},"
	          "{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[0,\"self\"]}]}",
	          NULL, NULL);
	doc_check(s, "{\"rules\":[]}", NULL, NULL);
	doc_check(s,
	          "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"gids\":[0,\"wheel\"],"
	          "\"exe\":[\"/usr/bin/udsrpcctl\"]}]}",
	          NULL, NULL);
	doc_check(s, "{}", "", "missing required member 'rules'");
	doc_check(s, "{\"rules\":[],\"default\":\"allow\"}", "/default",
	          "unknown member 'default'");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"method\":[\"x\"]}]}", "/rules/0/method",
	          "unknown member 'method'");
	/* A rule is a call rule (methods) or a provide rule (provide): one, not both. */
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\"}]}", "/rules/0",
	          "matches none of the 2 alternatives of oneOf");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"provide\":[\"app.*\"],\"groups\":[0]}]}",
	          NULL, NULL);
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"provide\":[\"a.b\"],\"methods\":[\"a\"]}]}",
	          "/rules/0", "oneOf");
	doc_check(s, "{\"rules\":[{\"effect\":\"permit\",\"methods\":[\"*\"]}]}", "/rules/0/effect",
	          "must be one of \"allow\", \"deny\"");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[]}]}", "/rules/0/methods",
	          "at least 1");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"\"]}]}",
	          "/rules/0/methods/0", "at least 1");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"exe\":[\"bin/x\"]}]}",
	          "/rules/0/exe/0", "does not match pattern '^/'");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"pids\":[0]}]}",
	          "/rules/0/pids/0", "must be >= 1");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[-1]}]}",
	          "/rules/0/uids/0", "must be >= 0");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"uids\":[true]}]}",
	          "/rules/0/uids/0", "expected integer or string");
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"groups\":[\"\"]}]}",
	          "/rules/0/groups/0", "at least 1");
	/* keys: globs over config keys (udsrpc(7), "Keys in a policy"). */
	doc_check(s,
	          "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"config.*\"],"
	          "\"keys\":[\"app/*\"],\"uids\":[\"deploy\"]}]}",
	          NULL, NULL);
	doc_check(s, "{\"rules\":[{\"effect\":\"allow\",\"methods\":[\"*\"],\"keys\":[\"a b\"]}]}",
	          "/rules/0/keys/0", "does not match pattern");
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_protocol_method_present),
	    cmocka_unit_test(test_admin_marks),
	    cmocka_unit_test(test_ping),
	    cmocka_unit_test(test_no_param_methods_refuse_arrays),
	    cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_log_level),
	    cmocka_unit_test(test_config_get),
	    cmocka_unit_test(test_config_set_unset_list),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_errors_match_protocol_table),
	    cmocka_unit_test(test_examples_validate),
	    cmocka_unit_test(test_results),
	    cmocka_unit_test(test_event_notification),
	    cmocka_unit_test(test_load_rejects),
	    cmocka_unit_test(test_load_custom_document),
	    cmocka_unit_test(test_long_member_name_full_path),
	    cmocka_unit_test(test_config_schema),
	    cmocka_unit_test(test_policy_schema),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

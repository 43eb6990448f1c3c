/* schema.c — the OpenRPC document compiled into per-method params validators. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "schema.h"

struct method_schema {
	const char *name;     /* borrowed from the document */
	const json_t *object; /* borrowed: the method object */
	const json_t *empty;  /* borrowed: a shared {} standing in for absent params */
	json_t *params;       /* owned: {"type":"object","properties",...}; NULL for "any" */
	const json_t *result; /* borrowed: the result schema; NULL when there is none */
	const struct jsonschema_node *params_node, *result_node; /* compiled; NULL with those */
	bool any_params;     /* x-udsrpc-params "any": any object or array (echo) */
	bool empty_array_ok; /* paramStructure "either" with no params: [] means {} */
	bool no_params;      /* the params list is empty */
	bool has_required;   /* absent params cannot pass */
	bool admin;          /* x-udsrpc-admin: true */
};

struct schema {
	json_t *doc;
	json_t *index; /* method name -> position in methods[] */
	json_t *empty;
	struct jsonschema *compiled; /* every params and result schema, against doc */
	struct method_schema *methods;
	size_t n;
};

__attribute__((format(printf, 3, 4))) static int load_fail(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/*
 * An OpenRPC reference object or schema $ref of the one form the document
 * uses, "#/components/SECTION/NAME" (NAME with ~1 and ~0 decoded): keeping
 * every reference inside components means checking components once covers
 * everything a reference can reach. Borrowed; NULL when it does not resolve.
 */
static const json_t *component(const json_t *doc, const char *section, const char *ref)
{
	char prefix[64], name[256];
	size_t n = 0;
	snprintf(prefix, sizeof(prefix), "#/components/%s/", section);
	if (strncmp(ref, prefix, strlen(prefix)) != 0)
		return NULL;
	for (const char *p = ref + strlen(prefix); *p; p++) {
		char ch = *p;
		if (ch == '/')
			return NULL;
		if (ch == '~') {
			if (p[1] != '0' && p[1] != '1')
				return NULL;
			ch = *++p == '0' ? '~' : '/';
		}
		if (n + 1 >= sizeof(name))
			return NULL;
		name[n++] = ch;
	}
	name[n] = '\0';
	return json_object_get(json_object_get(json_object_get(doc, "components"), section), name);
}

/* A method's param or result: the object itself or what its {"$ref"} names. */
static const json_t *content_descriptor(const json_t *doc, const json_t *v)
{
	const json_t *ref = json_object_get(v, "$ref");
	if (!ref)
		return v;
	if (!json_is_string(ref))
		return NULL;
	return component(doc, "contentDescriptors", json_string_value(ref));
}

/*
 * Every "$ref" inside a schema must name a component schema. Values of
 * const, enum, default and examples are data, not schemas: not searched.
 */
static int check_refs(const json_t *doc, const json_t *v, const char *where, char *err,
                      size_t errlen)
{
	if (json_is_array(v)) {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
		{
			int r = check_refs(doc, e, where, err, errlen);
			if (r)
				return r;
		}
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	const char *key;
	json_t *e;
	json_object_foreach((json_t *)v, key, e)
	{
		if (strcmp(key, "const") == 0 || strcmp(key, "enum") == 0 ||
		    strcmp(key, "default") == 0 || strcmp(key, "examples") == 0)
			continue;
		if (strcmp(key, "$ref") == 0) {
			if (!json_is_string(e) || !component(doc, "schemas", json_string_value(e)))
				return load_fail(err, errlen,
				                 "%s$ref \"%s\" must name a schema as "
				                 "\"#/components/schemas/NAME\"",
				                 where,
				                 json_is_string(e) ? json_string_value(e) : "");
			continue;
		}
		int r = check_refs(doc, e, where, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

/* In the subset, and every $ref resolves; where says which schema for the message. */
static int check_schema(const json_t *doc, const json_t *schema, const char *where, char *err,
                        size_t errlen)
{
	char msg[512];
	if (jsonschema_check(schema, msg, sizeof(msg)) < 0)
		return load_fail(err, errlen, "%s%s", where, msg);
	return check_refs(doc, schema, where, err, errlen);
}

static int check_components(const json_t *doc, char *err, size_t errlen)
{
	const json_t *components = json_object_get(doc, "components");
	const char *name;
	json_t *v;
	char where[512];
	json_object_foreach(json_object_get(components, "schemas"), name, v)
	{
		snprintf(where, sizeof(where), "components.schemas '%s': ", name);
		int r = check_schema(doc, v, where, err, errlen);
		if (r)
			return r;
	}
	json_object_foreach(json_object_get(doc, "x-udsrpc-notifications"), name, v)
	{
		snprintf(where, sizeof(where), "x-udsrpc-notifications '%s' params: ", name);
		const json_t *params = json_object_get(v, "params");
		if (!params)
			return load_fail(err, errlen, "%shas no schema", where);
		int r = check_schema(doc, params, where, err, errlen);
		if (r)
			return r;
	}
	json_object_foreach(json_object_get(doc, "x-udsrpc-error-data"), name, v)
	{
		snprintf(where, sizeof(where), "x-udsrpc-error-data '%s': ", name);
		int r = check_schema(doc, v, where, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static int check_errors(const json_t *doc, const char *method, const json_t *errors, char *err,
                        size_t errlen)
{
	size_t i;
	const json_t *e;
	if (errors && !json_is_array(errors))
		return load_fail(err, errlen, "method '%s': errors must be an array", method);
	json_array_foreach(errors, i, e)
	{
		const json_t *ref = json_object_get(e, "$ref");
		if (ref)
			e = json_is_string(ref) ? component(doc, "errors", json_string_value(ref))
			                        : NULL;
		if (!e || !json_is_integer(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message")))
			return load_fail(
			    err, errlen,
			    "method '%s': errors[%zu] is not an error object with code "
			    "and message, nor a $ref to one in components.errors",
			    method, i);
	}
	return 0;
}

static int compile_params(struct schema *s, struct method_schema *m, const json_t *list, char *err,
                          size_t errlen)
{
	json_t *props = json_object(), *required = json_array();
	m->params = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props,
	                      "required", required, "additionalProperties", 0);
	if (!m->params)
		return -ENOMEM;
	size_t i;
	const json_t *p;
	json_array_foreach(list, i, p)
	{
		const json_t *cd = content_descriptor(s->doc, p);
		if (!cd)
			return load_fail(err, errlen,
			                 "method '%s': params[%zu] $ref does not name a "
			                 "components.contentDescriptors entry",
			                 m->name, i);
		const json_t *name = json_object_get(cd, "name");
		const json_t *schema = json_object_get(cd, "schema");
		const json_t *req = json_object_get(cd, "required");
		if (!json_is_string(name) || json_string_length(name) == 0 ||
		    strlen(json_string_value(name)) != json_string_length(name) || !schema ||
		    (req && !json_is_boolean(req)))
			return load_fail(err, errlen,
			                 "method '%s': params[%zu] needs a name, a schema and a "
			                 "boolean required",
			                 m->name, i);
		if (json_object_get(props, json_string_value(name)))
			return load_fail(err, errlen, "method '%s': param '%s' is listed twice",
			                 m->name, json_string_value(name));
		char where[512];
		snprintf(where, sizeof(where), "method '%s': param '%s': schema ", m->name,
		         json_string_value(name));
		int r = check_schema(s->doc, schema, where, err, errlen);
		if (r)
			return r;
		if (json_object_set(props, json_string_value(name), (json_t *)schema) < 0)
			return -ENOMEM;
		if (json_is_true(req)) {
			if (json_array_append(required, (json_t *)name) < 0)
				return -ENOMEM;
			m->has_required = true;
		}
	}
	return 0;
}

static int compile_method(struct schema *s, size_t pos, char *err, size_t errlen)
{
	struct method_schema *m = &s->methods[pos];
	const json_t *doc_m = json_array_get(json_object_get(s->doc, "methods"), pos);
	const json_t *name = json_object_get(doc_m, "name");
	if (!json_is_object(doc_m) || !json_is_string(name) || json_string_length(name) == 0 ||
	    strlen(json_string_value(name)) != json_string_length(name))
		return load_fail(err, errlen,
		                 "methods[%zu] is not a method object with a name (method "
		                 "$refs are not supported)",
		                 pos);
	m->name = json_string_value(name);
	m->object = doc_m;
	m->empty = s->empty;
	if (json_object_get(s->index, m->name))
		return load_fail(err, errlen, "method '%s' is defined twice", m->name);
	if (json_object_set_new(s->index, m->name, json_integer((json_int_t)pos)) < 0)
		return -ENOMEM;

	/* Informational here (the policy decides who may call what), but tools read it. */
	const json_t *admin = json_object_get(doc_m, "x-udsrpc-admin");
	if (admin && !json_is_boolean(admin))
		return load_fail(err, errlen, "method '%s': x-udsrpc-admin must be a boolean",
		                 m->name);
	m->admin = json_is_true(admin);

	const json_t *list = json_object_get(doc_m, "params");
	if (!json_is_array(list))
		return load_fail(err, errlen, "method '%s': params must be an array", m->name);
	m->no_params = json_array_size(list) == 0;

	const json_t *kind = json_object_get(doc_m, "x-udsrpc-params");
	if (kind) {
		if (!json_is_string(kind) || strcmp(json_string_value(kind), "any") != 0)
			return load_fail(err, errlen,
			                 "method '%s': x-udsrpc-params must be \"any\" (the only "
			                 "kind there is)",
			                 m->name);
		if (!m->no_params)
			return load_fail(
			    err, errlen,
			    "method '%s': x-udsrpc-params \"any\" takes no params list", m->name);
		m->any_params = true;
	}

	/* OpenRPC's default is "either"; "by-position" would map positions to names. */
	const json_t *structure = json_object_get(doc_m, "paramStructure");
	const char *st = structure ? json_string_value(structure) : "either";
	if (!st || (strcmp(st, "by-name") != 0 && strcmp(st, "either") != 0))
		return load_fail(err, errlen,
		                 "method '%s': paramStructure must be \"by-name\" or \"either\"",
		                 m->name);
	if (strcmp(st, "either") == 0) {
		if (!m->no_params)
			return load_fail(err, errlen,
			                 "method '%s': paramStructure \"either\" is supported only "
			                 "without params (it lets [] mean {}); use \"by-name\"",
			                 m->name);
		m->empty_array_ok = true;
	}

	if (!m->any_params) {
		int r = compile_params(s, m, list, err, errlen);
		if (r)
			return r;
	}

	const json_t *result = json_object_get(doc_m, "result");
	if (result) {
		const json_t *cd = content_descriptor(s->doc, result);
		m->result = json_object_get(cd, "schema");
		if (!m->result)
			return load_fail(err, errlen, "method '%s': result has no schema", m->name);
		char where[512];
		snprintf(where, sizeof(where), "method '%s': result schema ", m->name);
		int r = check_schema(s->doc, m->result, where, err, errlen);
		if (r)
			return r;
	}
	/* Compiled now, so a request is checked by walking nodes, not by interpreting JSON. */
	if ((m->params && !(m->params_node = jsonschema_compile(s->compiled, m->params))) ||
	    (m->result && !(m->result_node = jsonschema_compile(s->compiled, m->result))))
		return -ENOMEM;
	return check_errors(s->doc, m->name, json_object_get(doc_m, "errors"), err, errlen);
}

int schema_load(const char *text, size_t len, struct schema **ret, char *err, size_t errlen)
{
	if (!text)
		return load_fail(err, errlen, "OpenRPC document: none given");
	struct schema *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = -ENOMEM;
	json_error_t jerr;
	s->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!s->doc) {
		r = load_fail(err, errlen, "OpenRPC document: line %d column %d: %s", jerr.line,
		              jerr.column, jerr.text);
		goto fail;
	}
	const json_t *methods = json_object_get(s->doc, "methods");
	if (!json_is_string(json_object_get(s->doc, "openrpc")) || !json_is_array(methods)) {
		r = load_fail(err, errlen,
		              "OpenRPC document: needs \"openrpc\" and a \"methods\" array");
		goto fail;
	}
	s->index = json_object();
	s->empty = json_object();
	s->n = json_array_size(methods);
	s->methods = calloc(s->n ? s->n : 1, sizeof(*s->methods));
	if (!s->index || !s->empty || !s->methods || jsonschema_open(s->doc, &s->compiled) < 0)
		goto fail;
	for (size_t i = 0; i < s->n; i++)
		if ((r = compile_method(s, i, err, errlen)) < 0)
			goto fail;
	if ((r = check_components(s->doc, err, errlen)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory loading the OpenRPC document");
	schema_free(s);
	return r;
}

void schema_free(struct schema *s)
{
	if (!s)
		return;
	jsonschema_close(s->compiled); /* before the JSON its nodes borrow */
	for (size_t i = 0; s->methods && i < s->n; i++)
		json_decref(s->methods[i].params);
	free(s->methods);
	json_decref(s->index);
	json_decref(s->empty);
	json_decref(s->doc);
	free(s);
}

const json_t *schema_document(const struct schema *s)
{
	return s->doc;
}

size_t schema_method_count(const struct schema *s)
{
	return s->n;
}

const struct method_schema *schema_method_at(const struct schema *s, size_t i)
{
	return i < s->n ? &s->methods[i] : NULL;
}

const char *schema_method_name(const struct method_schema *m)
{
	return m->name;
}

const json_t *schema_method_object(const struct method_schema *m)
{
	return m->object;
}

bool schema_method_admin(const struct method_schema *m)
{
	return m->admin;
}

bool schema_method_empty_array_ok(const struct method_schema *m)
{
	return m->empty_array_ok && !m->any_params;
}

/*
 * Every component v reaches, directly or through other components, into
 * out ({SECTION: {NAME: value}}, values shared). References of the forms
 * the document may use ("#/components/SECTION/NAME") are followed; what
 * is already in out is not walked again, so a cycle ends.
 */
static int collect_refs(const json_t *doc, const json_t *v, json_t *out)
{
	size_t i;
	const char *key;
	json_t *e;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			int r = collect_refs(doc, e, out);
			if (r)
				return r;
		}
		return 0;
	}
	json_object_foreach((json_t *)v, key, e)
	{
		if (strcmp(key, "$ref") == 0 && json_is_string(e)) {
			static const char *const sections[] = {"schemas", "contentDescriptors",
			                                       "errors"};
			const char *ref = json_string_value(e);
			for (size_t k = 0; k < 3; k++) {
				const json_t *c = component(doc, sections[k], ref);
				if (!c)
					continue;
				const char *name = strrchr(ref, '/') + 1;
				json_t *sec = json_object_get(out, sections[k]);
				if (!sec && json_object_set_new(out, sections[k], sec = json_object()) < 0)
					return -ENOMEM;
				/* The name as written (a "~1" in it stays): the key is decoded below. */
				char decoded[256];
				size_t n = 0;
				for (const char *p = name; *p && n + 1 < sizeof(decoded); p++)
					decoded[n++] = *p == '~' && p[1] ? (*++p == '0' ? '~' : '/') : *p;
				decoded[n] = '\0';
				if (json_object_get(sec, decoded))
					break;
				if (json_object_set(sec, decoded, (json_t *)c) < 0)
					return -ENOMEM;
				int r = collect_refs(doc, c, out);
				if (r)
					return r;
				break;
			}
			continue;
		}
		if (json_is_object(e) || json_is_array(e)) {
			int r = collect_refs(doc, e, out);
			if (r)
				return r;
		}
	}
	return 0;
}

int schema_method_components(const struct schema *s, const struct method_schema *m, json_t *out)
{
	return collect_refs(s->doc, m->object, out);
}

const struct method_schema *schema_method(const struct schema *s, const char *name)
{
	const json_t *pos = json_object_get(s->index, name);
	return pos ? &s->methods[json_integer_value(pos)] : NULL;
}

static int invalid(json_t **ret_data, const char *path, const char *reason)
{
	*ret_data = json_pack("{s:s, s:s}", "path", path, "reason", reason);
	return *ret_data ? -EINVAL : -ENOMEM;
}

/*
 * The pointer can be as long as a member name, which only the line limit
 * bounds: start on the stack and retry with room to spare when it filled
 * the buffer, which is rare enough that validating twice costs nothing.
 */
static int validate_object(const struct method_schema *m, const json_t *params, json_t **ret_data)
{
	char small[256], reason[512];
	char *path = small, *big = NULL;
	size_t cap = sizeof(small);
	for (;;) {
		int r = jsonschema_run(m->params_node, params, path, cap, reason, sizeof(reason));
		/* A cut never splits a character, so it can stop up to 3 bytes short. */
		if (r != -EINVAL || strlen(path) + 4 <= cap) {
			if (r == -EINVAL)
				r = invalid(ret_data, path, reason);
			free(big);
			return r;
		}
		cap *= 8;
		free(big);
		if (!(path = big = malloc(cap)))
			return -ENOMEM;
	}
}

int schema_validate_params(const struct method_schema *m, const json_t *params, json_t **ret_data)
{
	*ret_data = NULL;
	if (m->any_params) {
		if (!params || json_is_object(params) || json_is_array(params))
			return 0;
		return invalid(ret_data, "", "params must be an object or an array");
	}
	if (json_is_array(params)) {
		if (!m->empty_array_ok)
			return invalid(ret_data, "",
			               "params must be an object (by name), not an array");
		if (json_array_size(params) > 0) {
			char reason[320];
			snprintf(reason, sizeof(reason),
			         "unexpected by-position param: '%s' takes no params", m->name);
			return invalid(ret_data, "/0", reason);
		}
		params = NULL; /* [] means {} */
	}
	if (!params) {
		/* The common case (ping, daemon.info): decided without touching the heap. */
		if (!m->has_required)
			return 0;
		params = m->empty;
	} else if (!json_is_object(params)) {
		return invalid(ret_data, "", "params must be an object (by name)");
	} else if (m->no_params && json_object_size(params) == 0) {
		return 0;
	}
	return validate_object(m, params, ret_data);
}

int schema_validate_result(const struct method_schema *m, const json_t *result, char *path,
                           size_t pathlen, char *reason, size_t reasonlen)
{
	if (!m->result_node) {
		if (path && pathlen)
			path[0] = '\0';
		if (reason && reasonlen)
			reason[0] = '\0';
		return 0;
	}
	return jsonschema_run(m->result_node, result, path, pathlen, reason, reasonlen);
}

/* config.c — embedded defaults and the JSON config file (schema/config.schema.json). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jsonschema.h"
#include "schema.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = 0666;
	c->log_level = LOG_LVL_INFO;
	c->limits = (struct limits){
		.max_connections = 4096,
		.max_connections_per_uid = 256,
		.max_message_bytes = 1024 * 1024,
		.max_batch = 1024,
		.max_output_bytes = 8 * 1024 * 1024,
		.partial_timeout_ms = 10000,
		.idle_timeout_ms = 0,
	};
}

void config_free(struct config *c)
{
	free(c->socket);
	free(c->socket_group);
	free(c->state_dir);
	free(c->policy);
	free(c->user);
	free(c->group);
	memset(c, 0, sizeof(*c));
}

void config_set_str(char **slot, const char *value)
{
	char *dup = value ? strdup(value) : NULL;
	if (value && !dup)
		abort(); /* start-up only: nothing to degrade to */
	free(*slot);
	*slot = dup;
}

static void config_take_str(const json_t *doc, const char *name, char **slot)
{
	const json_t *v = json_object_get(doc, name);
	if (v)
		config_set_str(slot, json_string_value(v));
}

static void config_take_uint(const json_t *obj, const char *name, unsigned *slot)
{
	const json_t *v = json_object_get(obj, name);
	if (v)
		*slot = (unsigned)json_integer_value(v);
}

static void config_take_size(const json_t *obj, const char *name, size_t *slot)
{
	const json_t *v = json_object_get(obj, name);
	if (v)
		*slot = (size_t)json_integer_value(v);
}

/*
 * Messages quote the file (a member name, jansson's view of the text near an
 * error), which may hold newlines and other control bytes: keep them to
 * one line.
 */
static void config_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int config_apply_json(struct config *c, const json_t *doc, char *err, size_t errlen)
{
	static json_t *schema;
	char path[256], reason[256];
	const json_t *v;

	if (!schema) {
		json_error_t jerr;
		schema = json_loadb(udsrpc_config_schema_json, udsrpc_config_schema_json_len, 0, &jerr);
		if (!schema) {
			snprintf(err, errlen, "embedded config schema: %s", jerr.text);
			return -EINVAL;
		}
	}
	/* The schema does the type and range checks, and rejects unknown members
	 * so that a typo cannot silently fall back to a default. */
	if (jsonschema_validate(schema, schema, doc, path, sizeof(path), reason, sizeof(reason)) < 0) {
		snprintf(err, errlen, "%s: %s", *path ? path : "/", reason);
		config_one_line(err);
		return -EINVAL;
	}
	config_take_str(doc, "socket", &c->socket);
	config_take_str(doc, "socket_group", &c->socket_group);
	config_take_str(doc, "state_dir", &c->state_dir);
	config_take_str(doc, "policy", &c->policy);
	config_take_str(doc, "user", &c->user);
	config_take_str(doc, "group", &c->group);
	if ((v = json_object_get(doc, "socket_mode")))
		c->socket_mode = (mode_t)strtoul(json_string_value(v), NULL, 8);
	if ((v = json_object_get(doc, "log_level")))
		log_level_parse(json_string_value(v), &c->log_level);
	if ((v = json_object_get(doc, "limits"))) {
		struct limits *l = &c->limits;
		config_take_uint(v, "max_connections", &l->max_connections);
		config_take_uint(v, "max_connections_per_uid", &l->max_connections_per_uid);
		config_take_size(v, "max_message_bytes", &l->max_message_bytes);
		config_take_uint(v, "max_batch", &l->max_batch);
		config_take_size(v, "max_output_bytes", &l->max_output_bytes);
		config_take_uint(v, "partial_timeout_ms", &l->partial_timeout_ms);
		config_take_uint(v, "idle_timeout_ms", &l->idle_timeout_ms);
	}
	return 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	char sub[512];
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc) {
		if (jerr.line < 0 || jerr.position == 0)
			snprintf(err, errlen, "%s: %s", path, jerr.text);
		else
			snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		config_one_line(err);
		return -EINVAL;
	}
	int r = config_apply_json(c, doc, sub, sizeof(sub));
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, sub);
	json_decref(doc);
	return r;
}

json_t *config_to_json(const struct config *c)
{
	char mode[16];
	const struct limits *l = &c->limits;

	snprintf(mode, sizeof(mode), "%04o", (unsigned)c->socket_mode);
	/* Unset members are left out, so the output is itself a valid config file. */
	return json_pack("{s:s*,s:s,s:s*,s:s*,s:s*,s:s,s:s*,s:s*,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
			 "socket", c->socket, "socket_mode", mode, "socket_group", c->socket_group,
			 "state_dir", c->state_dir, "policy", c->policy, "log_level",
			 log_level_name(c->log_level), "user", c->user, "group", c->group, "limits",
			 "max_connections", (json_int_t)l->max_connections, "max_connections_per_uid",
			 (json_int_t)l->max_connections_per_uid, "max_message_bytes",
			 (json_int_t)l->max_message_bytes, "max_batch", (json_int_t)l->max_batch,
			 "max_output_bytes", (json_int_t)l->max_output_bytes, "partial_timeout_ms",
			 (json_int_t)l->partial_timeout_ms, "idle_timeout_ms",
			 (json_int_t)l->idle_timeout_ms);
}

/* config.c — embedded defaults and the JSON config file (schema/config.schema.json). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "file_trust.h"
#include "jsonschema.h"
#include "documents.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = 0666;
	c->log_level = UDSRPC_LOG_INFO;
}

void config_free(struct config *c)
{
	free(c->socket);
	free(c->socket_group);
	free(c->state_dir);
	free(c->policy);
	free(c->user);
	free(c->group);
	json_decref(c->limits);
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
		udsrpc_log_level_parse(json_string_value(v), &c->log_level);
	if ((v = json_object_get(doc, "limits"))) {
		json_decref(c->limits);
		c->limits = json_copy((json_t *)v);
	}
	return 0;
}

/*
 * A relative socket, policy or state_dir in a config file is relative to
 * the file's directory (PROTOCOL.md §5), never to wherever the daemon was
 * started from: rewritten in doc before it is applied. The directory is made
 * absolute when it can be, so --check shows where the paths really are.
 */
int config_resolve_paths(json_t *doc, const char *file)
{
	static const char *const members[] = {"socket", "policy", "state_dir"};
	const char *slash = strrchr(file, '/');
	char *dir = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : strdup(".");
	char *real = dir ? realpath(dir, NULL) : NULL;
	int r = dir ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < sizeof(members) / sizeof(members[0]); i++) {
		const char *v = json_string_value(json_object_get(doc, members[i]));
		char *joined;
		if (!v || !*v || v[0] == '/')
			continue;
		const char *base = real ? real : dir;
		if (asprintf(&joined, "%s%s%s", base, strcmp(base, "/") ? "/" : "", v) < 0) {
			r = -ENOMEM;
			break;
		}
		if (json_object_set_new(doc, members[i], json_string(joined)) < 0)
			r = -ENOMEM;
		free(joined);
	}
	free(real);
	free(dir);
	return r;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	char sub[512];
	/* It names the user to run as: only root or the uid running may have written it. */
	int r = file_trust_check(path, 0, err, errlen);
	if (r < 0)
		return r;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc) {
		if (jerr.line < 0 || jerr.position == 0)
			snprintf(err, errlen, "%s: %s", path, jerr.text);
		else
			snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		config_one_line(err);
		return -EINVAL;
	}
	r = config_resolve_paths(doc, path);
	if (r == 0)
		r = config_apply_json(c, doc, sub, sizeof(sub));
	else
		snprintf(sub, sizeof(sub), "out of memory");
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, sub);
	json_decref(doc);
	return r;
}

json_t *config_to_json(const struct config *c, const json_t *limits)
{
	char mode[16];

	snprintf(mode, sizeof(mode), "%04o", (unsigned)c->socket_mode);
	/* Unset members are left out, so the output is itself a valid config file. */
	return json_pack("{s:s*,s:s,s:s*,s:s*,s:s*,s:s,s:s*,s:s*,s:O*}", "socket", c->socket,
			 "socket_mode", mode, "socket_group", c->socket_group, "state_dir",
			 c->state_dir, "policy", c->policy, "log_level",
			 udsrpc_log_level_name(c->log_level), "user", c->user, "group", c->group,
			 "limits", limits);
}

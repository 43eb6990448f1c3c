/* schema_lint.c — build step: schema/ must stay inside the validator's subset. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonschema.h"
#include "documents.h"
#include "schema.h"

/*
 * jsonschema_check cannot know the root a $ref resolves against; for these
 * stand-alone schemas it is the schema itself. Probing each $ref with
 * jsonschema_validate tells a dangling one (-ENOENT) from any verdict on the
 * probe value. const, enum, default and examples hold data, not schemas.
 */
static int check_refs(const char *name, json_t *root, json_t *v)
{
	int bad = 0;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			bad |= check_refs(name, root, e);
		}
		return bad;
	}
	const char *key;
	json_t *e;
	json_object_foreach(v, key, e)
	{
		if (strcmp(key, "const") == 0 || strcmp(key, "enum") == 0 ||
		    strcmp(key, "default") == 0 || strcmp(key, "examples") == 0)
			continue;
		if (strcmp(key, "$ref") == 0 && json_is_string(e)) {
			json_t *probe = json_pack("{s:O}", "$ref", e);
			char path[8], reason[256];
			if (!probe)
				return 1;
			if (jsonschema_validate(probe, root, json_null(), path, sizeof(path),
			                        reason, sizeof(reason)) == -ENOENT) {
				fprintf(stderr, "schema/%s: %s\n", name, reason);
				bad = 1;
			}
			json_decref(probe);
			continue;
		}
		bad |= check_refs(name, root, e);
	}
	return bad;
}

static int check_embedded(const char *name, const char *text, size_t len)
{
	json_error_t jerr;
	char err[512];
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		fprintf(stderr, "schema/%s: line %d: %s\n", name, jerr.line, jerr.text);
		return 1;
	}
	int bad = 0;
	if (jsonschema_check(v, err, sizeof(err)) < 0) {
		fprintf(stderr, "schema/%s: %s\n", name, err);
		bad = 1;
	}
	bad |= check_refs(name, v, v);
	json_decref(v);
	return bad;
}

int main(void)
{
	char err[512];
	struct schema *s;
	int bad = 0;
	if (schema_load(udsrpc_openrpc_json, udsrpc_openrpc_json_len, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "schema/udsrpc.openrpc.json: %s\n", err);
		bad = 1;
	} else {
		schema_free(s);
	}
	bad |= check_embedded("config.schema.json", udsrpc_config_schema_json,
	                      udsrpc_config_schema_json_len);
	bad |= check_embedded("policy.schema.json", udsrpc_policy_schema_json,
	                      udsrpc_policy_schema_json_len);
	if (bad)
		fprintf(stderr,
		        "schema/README.md lists the JSON Schema subset the daemon supports\n");
	return bad;
}

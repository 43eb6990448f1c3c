/* jsonschema.h — validator for the subset of JSON Schema that schema/ uses. */
#ifndef UDSRPC_JSONSCHEMA_H
#define UDSRPC_JSONSCHEMA_H

#include <stddef.h>
#include <jansson.h>

/*
 * The subset (documented in schema/README.md): type, properties, required,
 * additionalProperties (bool or schema), items (schema), enum, const,
 * minimum, maximum, minLength, maxLength, pattern, minItems, maxItems,
 * oneOf/anyOf, $ref to "#/..." inside the same root, plus the annotation
 * keywords title, description, default, examples, $schema, $id, $defs,
 * definitions, $comment (ignored for validation). Boolean schemas (true,
 * false) are allowed wherever a schema is.
 *
 * Where the subset departs from draft 2020-12:
 * - "integer" is a JSON number written without fraction or exponent (a
 *   jansson integer): 1.0 is a "number" only, since handlers read integers
 *   with json_integer_value().
 * - minLength/maxLength count Unicode code points (U+0000 counts as one).
 * - pattern is a POSIX extended regex (regcomp REG_EXTENDED), searched, not
 *   anchored, over the UTF-8 bytes; a string containing U+0000 never matches.
 *
 * jsonschema_check: 0 if every keyword of schema (recursively) is in the
 * subset and well formed (a pattern compiles and avoids constructs that
 * POSIX ERE and ECMA-262 read differently; $ref is local), else -EINVAL and
 * a message "#POINTER: why" in err, POINTER leading to the offending
 * keyword inside schema, e.g. "#/properties/a/patternProperties: keyword
 * 'patternProperties' is not supported". Whether a $ref resolves is not
 * checked here (the root is not known); schema_load does that for the
 * OpenRPC document. schema is borrowed.
 */
int jsonschema_check(const json_t *schema, char *err, size_t errlen);

/*
 * Validate instance against schema; root resolves "$ref": "#/..." (NULL
 * means schema itself). Returns 0 when valid; -EINVAL when not, with the
 * JSON Pointer of the offending value in path (for a missing required
 * member: the object lacking it, and reason names the member, "missing
 * required member 'key'"; for a member that additionalProperties: false
 * rejects: "/name", reason "unknown member 'name'") and a one-line reason.
 * Pointers escape '~' and '/' as RFC 6901 says; a U+0000 in a member name
 * shows as the six characters \u0000. path is cut to at most pathlen - 1
 * bytes, never inside a UTF-8 character (so up to 3 bytes shorter): a caller
 * that needs the whole pointer retries with a larger buffer when
 * strlen(path) + 4 > pathlen.
 * Other negative codes mean the schema, not the instance, is at fault, and
 * reason says how: -ENOENT a $ref that does not resolve, -ELOOP a $ref loop,
 * -EBADMSG a malformed keyword (jsonschema_check rules those out), -ENOMEM.
 * All json_t are borrowed. It compiles the schema (below) for this one call.
 */
int jsonschema_validate(const json_t *schema, const json_t *root, const json_t *instance,
                        char *path, size_t pathlen, char *reason, size_t reasonlen);

/*
 * The same, compiled once for many calls: jsonschema_open takes the root
 * that "$ref": "#/..." resolves against; jsonschema_compile turns a schema
 * (inside root or not) and everything it reaches into nodes, sharing the
 * ones already compiled, and returns the schema's node, which lives until
 * jsonschema_close (NULL on ENOMEM). jsonschema_run validates as
 * jsonschema_validate does, with the same results and messages. Every
 * json_t is borrowed and must outlive the compiler. The compiled form is
 * read-only: any thread may run it.
 */
struct jsonschema;
struct jsonschema_node;
int jsonschema_open(const json_t *root, struct jsonschema **ret);
const struct jsonschema_node *jsonschema_compile(struct jsonschema *js, const json_t *schema);
int jsonschema_run(const struct jsonschema_node *node, const json_t *instance, char *path,
                   size_t pathlen, char *reason, size_t reasonlen);
void jsonschema_close(struct jsonschema *js);

#endif

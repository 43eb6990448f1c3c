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
 * definitions, $comment (ignored for validation).
 *
 * jsonschema_check: 0 if every keyword of schema (recursively) is in the
 * subset, else -EINVAL with "PATH: keyword 'x' is not supported" in err.
 */
int jsonschema_check(const json_t *schema, char *err, size_t errlen);

/*
 * Validate instance against schema; root resolves "$ref": "#/..." (may be
 * schema itself). Returns 0 when valid; -EINVAL when not, with the JSON
 * Pointer of the offending value in path (for a missing required member:
 * the object lacking it, reason naming the member) and a one-line reason.
 * All json_t are borrowed.
 */
int jsonschema_validate(const json_t *schema, const json_t *root, const json_t *instance,
			char *path, size_t pathlen, char *reason, size_t reasonlen);

#endif

/* schema.h — the embedded OpenRPC document: method list, params and result schemas. */
#ifndef UDSRPC_SCHEMA_H
#define UDSRPC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct schema;
struct method_schema;

/*
 * Parse and compile an OpenRPC document (text, len bytes):
 * per method, a params validator built from its by-name params list
 * (properties from each param's schema, required from "required": true,
 * no other members). Every schema in the document (params, results,
 * components.schemas, x-udsrpc-notifications, x-udsrpc-error-data) must pass
 * jsonschema_check, and every $ref must name "#/components/schemas/NAME".
 * Fails with -EINVAL and a message naming the method and where, e.g.
 * "method 'ping': param 'x': schema #/patternProperties: keyword
 * 'patternProperties' is not supported", on invalid JSON (duplicate keys
 * included), a keyword outside the subset, a dangling $ref, a duplicate
 * method, or a paramStructure/x-udsrpc-params it cannot honour; -ENOMEM.
 * The caller owns *ret and frees it with schema_free.
 */
int schema_load(const char *text, size_t len, struct schema **ret, char *err, size_t errlen);
/* s may be NULL. */
void schema_free(struct schema *s);
/* Borrowed: the whole document, as rpc.discover returns it. */
const json_t *schema_document(const struct schema *s);
/* The methods of the document, in its order: i from 0 to schema_method_count - 1. */
size_t schema_method_count(const struct schema *s);
const struct method_schema *schema_method_at(const struct schema *s, size_t i);
/* Borrowed from the document: the name, the method object, its x-udsrpc-admin. */
const char *schema_method_name(const struct method_schema *m);
const json_t *schema_method_object(const struct method_schema *m);
bool schema_method_admin(const struct method_schema *m);
/* paramStructure "either" without params (and not "any"): [] stands for no params. */
bool schema_method_empty_array_ok(const struct method_schema *m);
/*
 * Add to out ({"schemas":{...},"contentDescriptors":{...},"errors":{...}})
 * every component of s that m's method object reaches, directly or through
 * other components (values are shared references). 0 or -ENOMEM.
 */
int schema_method_components(const struct schema *s, const struct method_schema *m, json_t *out);
/*
 * Borrowed (lives as long as s); NULL if the document has no such method.
 * A hash lookup. name is a C string: a request's method containing U+0000
 * must be refused by the caller before it gets here.
 */
const struct method_schema *schema_method(const struct schema *s, const char *name);
/*
 * params is the request's "params" member, NULL when absent. Returns 0 when
 * acceptable; otherwise -EINVAL and *ret_data is a new reference to the
 * -32602 error data {"path": JSON Pointer, "reason": "..."}.
 *  - absent params are taken as {} (so a method with a required param
 *    fails with path "" and "missing required member 'key'"); methods with
 *    no required param decide this without allocating;
 *  - an array is refused (path "", "params must be an object (by name), not
 *    an array"), except for methods with paramStructure "either" (ping),
 *    where [] means {} and a non-empty array fails at "/0";
 *  - x-udsrpc-params "any" (echo): any object or array, or absent, passes;
 *  - a member the method does not define fails at "/NAME" ("unknown member").
 * Any other negative code (-ENOMEM) leaves *ret_data NULL: answer -32603.
 */
int schema_validate_params(const struct method_schema *m, const json_t *params, json_t **ret_data);
/*
 * 0 when result matches the method's result schema (or the method has
 * none); else -EINVAL, path/reason filled as jsonschema_validate does. For
 * tests and debug checks: the request path does not need it.
 */
int schema_validate_result(const struct method_schema *m, const json_t *result, char *path,
                           size_t pathlen, char *reason, size_t reasonlen);

#endif

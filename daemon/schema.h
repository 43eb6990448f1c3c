/* schema.h — the embedded OpenRPC document: method list, params and result schemas. */
#ifndef UDSRPC_SCHEMA_H
#define UDSRPC_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

struct schema;
struct method_schema;

/* The documents the build embeds (schema/*.json), NUL-terminated. */
extern const char udsrpc_openrpc_json[];
extern const size_t udsrpc_openrpc_json_len;
extern const char udsrpc_config_schema_json[];
extern const size_t udsrpc_config_schema_json_len;
extern const char udsrpc_policy_schema_json[];
extern const size_t udsrpc_policy_schema_json_len;

/*
 * Parse and compile an OpenRPC document (the embedded one when text is NULL):
 * per method, a params validator built from its by-name params list. Fails
 * (-EINVAL, message in err) on invalid JSON or a keyword outside the subset.
 */
int schema_load(const char *text, size_t len, struct schema **ret, char *err, size_t errlen);
void schema_free(struct schema *s);
/* Borrowed: the whole document, as rpc.discover returns it. */
const json_t *schema_document(const struct schema *s);
/*
 * Both directions: every name has a method in the document and every
 * document method is among names. -EINVAL with a message naming the first
 * offender ("method 'x' has a handler but no schema" / "... schema but no handler").
 */
int schema_check_methods(const struct schema *s, const char *const *names, size_t n, char *err,
			 size_t errlen);
/* Borrowed; NULL if the document has no such method. */
const struct method_schema *schema_method(const struct schema *s, const char *name);
/*
 * params is the request's "params" member, NULL when absent. Returns 0 when
 * acceptable; otherwise -EINVAL and *ret_data is a new reference to the
 * -32602 error data {"path": JSON Pointer, "reason": "..."}.
 */
int schema_validate_params(const struct method_schema *m, const json_t *params, json_t **ret_data);
/* 0 when result matches the method's result schema; else -EINVAL, path/reason filled. */
int schema_validate_result(const struct schema *s, const struct method_schema *m,
			   const json_t *result, char *path, size_t pathlen, char *reason,
			   size_t reasonlen);

#endif

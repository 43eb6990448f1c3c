#ifndef UDSRPC_NUMPATH_H
#define UDSRPC_NUMPATH_H

/*
 * Where in a request an integer outside int64 sits. jansson refuses such a
 * text as a whole (json_error_numeric_overflow), but it is valid JSON and
 * PROTOCOL.md §1 answers it as -32600 (the id) or -32602 with its path (in
 * params), never -32700: this scans the text once more to name the place.
 */

#include <stdbool.h>
#include <stddef.h>

struct numpath {
	char pointer[256];   /* JSON Pointer of the number, e.g. "/params/value" */
	const char *id;      /* the top-level "id" member's text, or NULL */
	size_t id_len;
};

/*
 * Finds the number token that ends at or spans byte at of text (valid JSON).
 * False when text is not valid JSON there or no number is at that offset.
 */
bool numpath_find(const char *text, size_t len, size_t at, struct numpath *ret);

#endif

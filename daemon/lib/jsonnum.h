#ifndef UDSRPC_JSONNUM_H
#define UDSRPC_JSONNUM_H

/*
 * Numbers as the shortest text that reads back as the same IEEE double
 * (PROTOCOL.md §1): jansson writes reals with %.17g, so 0.1 would come back
 * as 0.10000000000000001. Everything that writes JSON a peer or the store
 * reads goes through these instead of json_dump*: they give jansson's text
 * with only the reals rewritten.
 */

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Longest text jsonnum_real writes, without its NUL. */
#define JSONNUM_REAL_MAX 26

/*
 * Writes d into buf (JSONNUM_REAL_MAX + 1 bytes) in jansson's style (a ".0"
 * when it would read as an integer, no '+' or leading zeros in the exponent)
 * and returns its length; NaN and infinities, which JSON cannot hold, give 0.
 */
size_t jsonnum_real(double d, char *buf);

/* Longest text jsonnum_u64 writes, without its NUL. */
#define JSONNUM_U64_MAX 20

/*
 * The decimal digits of v, written at the end of buf (JSONNUM_U64_MAX + 1
 * bytes) and NUL-terminated; returns where they start, their length in
 * *ret_len. For ids put into lines by hand, where snprintf costs more than
 * the rest of the line.
 */
const char *jsonnum_u64(uint64_t v, char *buf, size_t *ret_len);

/* json_dumps / json_dumpb / json_dump_callback, reals written by jsonnum_real. */
char *jsonnum_dumps(const json_t *v, size_t flags);
size_t jsonnum_dumpb(const json_t *v, char *buf, size_t size, size_t flags);
int jsonnum_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags);

#endif

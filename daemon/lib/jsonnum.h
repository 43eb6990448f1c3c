#ifndef UDSRPC_JSONNUM_H
#define UDSRPC_JSONNUM_H

/*
 * Numbers as the shortest text that reads back as the same IEEE double
 * (PROTOCOL.md §1): jansson writes reals with %.17g, so 0.1 would come back
 * as 0.10000000000000001. Everything that writes JSON a peer or the store
 * reads goes through these instead of json_dump*: they give jansson's text
 * with only the reals rewritten.
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
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

/*
 * A writer of jansson's compact text (JSON_COMPACT | JSON_ENCODE_ANY: objects
 * in insertion order, in strings only '"', '\\' and bytes below 0x20
 * escaped), reals by jsonnum_real, through a buffer on the caller's stack:
 * the sink gets the text when the buffer is full and at jsonnum_out_flush.
 * Objects, arrays, integers, literals, reals and strings of printable ASCII
 * are written here; any other string goes to jansson one value at a time,
 * which gives the same text as inside its container. A failed sink or a
 * string jansson refuses (not UTF-8) sets err; the rest is still written.
 * This is what every compact dump below and the library's replies use: a
 * dump through json_dump_callback costs about ten times as much.
 */
#define JSONNUM_OUT_BUF 4096

struct jsonnum_out {
	json_dump_callback_t sink;
	void *data;
	bool err;
	size_t len;
	char buf[JSONNUM_OUT_BUF];
};

void jsonnum_out_flush(struct jsonnum_out *o);
void jsonnum_out_big(struct jsonnum_out *o, const char *p, size_t n);

static inline void jsonnum_out_put(struct jsonnum_out *o, const char *p, size_t n)
{
	if (n > sizeof(o->buf) - o->len) {
		jsonnum_out_big(o, p, n);
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Decimal, as jansson writes a json_int_t. */
void jsonnum_out_int(struct jsonnum_out *o, json_int_t v);
/* p[0..n) between quotes; only for text jsonnum_plain accepts. */
void jsonnum_out_string(struct jsonnum_out *o, const char *p, size_t n);
void jsonnum_out_value(struct jsonnum_out *o, const json_t *v);

/*
 * Eight bytes at once (w read little-endian): the high bit of each byte that
 * is '"', '\\' or below 0x20 is set. The classic zero-byte test: a byte
 * after (above) a flagged one may be flagged wrongly, never one before it,
 * so the lowest bit set is exactly the first such byte; 0: none.
 */
static inline uint64_t jsonnum_special8_mask(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t a = w ^ (ones * '"'), b = w ^ (ones * '\\');
	return (((a - ones) & ~a) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs;
}

static inline bool jsonnum_special8(uint64_t w)
{
	return jsonnum_special8_mask(w) != 0;
}

/* True if jansson writes these bytes between quotes unchanged (0x20..0x7f but '"' '\\'). */
bool jsonnum_plain(const char *p, size_t n);

/*
 * The plain scalars read without jansson's lexer, whose set-up alone costs
 * thousands of instructions a call: at p (before end), a string of bytes
 * jsonnum_plain accepts, an integer written plainly (-?(0|[1-9][0-9]*), at
 * most 18 digits, not the start of a real), true, false or null. The value
 * json_loadb gives that text (new reference), *ret_end just past it; NULL
 * for anything else or on ENOMEM (nothing read: the caller asks jansson).
 */
json_t *jsonnum_scalar(const char *p, const char *end, const char **ret_end);
/*
 * Just past the scalar jsonnum_scalar would take at p (before end), or
 * NULL: the same test without building the value. Its text is then the
 * value's compact dump, but for -0, which jansson reads and dumps as 0.
 */
const char *jsonnum_scalar_end(const char *p, const char *end);

/* json_dumps / json_dumpb / json_dump_callback, reals written by jsonnum_real. */
char *jsonnum_dumps(const json_t *v, size_t flags);
size_t jsonnum_dumpb(const json_t *v, char *buf, size_t size, size_t flags);
int jsonnum_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags);

#endif

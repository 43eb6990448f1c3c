/* Shortest round-trip text for JSON reals; see jsonnum.h. */
#include "jsonnum.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's conventions on top of printf's %g: see jsonp_dtostr in its strconv.c. */
static size_t normalise(char *buf, size_t n)
{
	char *e = memchr(buf, 'e', n);

	if (e) {
		char *p = e + 1, *q = p;
		if (*q == '+')
			q++;
		else if (*q == '-')
			*p++ = *q++;
		while (*q == '0' && q[1])
			q++;
		memmove(p, q, (size_t)(buf + n - q) + 1);
		n -= (size_t)(q - p);
	} else if (!memchr(buf, '.', n)) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}

static size_t format(double d, int prec, char *buf)
{
	int n = snprintf(buf, JSONNUM_REAL_MAX + 1, "%.*g", prec, d);

	if (n <= 0 || n > JSONNUM_REAL_MAX - 2)
		return 0;
	return normalise(buf, (size_t)n);
}

size_t jsonnum_real(double d, char *buf)
{
	char cand[JSONNUM_REAL_MAX + 1];
	size_t best = 0, n;
	int prec;

	if (!isfinite(d))
		return 0;
	/*
	 * The fewest significant digits that read back exactly; one more digit
	 * can still be shorter text when it moves %g from exponent to fixed
	 * form (1.234567890123456e16 vs 12345678901234560.0), so the rest are
	 * tried only when the first one found has an exponent.
	 */
	for (prec = 1; prec <= 17; prec++) {
		n = format(d, prec, cand);
		if (n == 0 || strtod(cand, NULL) != d)
			continue;
		if (!best || n < best) {
			memcpy(buf, cand, n + 1);
			best = n;
		}
		if (!memchr(buf, 'e', best))
			break;
	}
	return best;
}

/*
 * jansson hands a number to the callback as one chunk of its own, and a
 * string's contents as chunks that may look like numbers: the filter follows
 * string state over all the text so only chunks outside strings are taken
 * for reals (a number with '.' or 'e': integers have neither).
 */
struct filter {
	json_dump_callback_t cb;
	void *data;
	bool in_string, escaped;
};

static bool is_real_chunk(const char *p, size_t n)
{
	if (n == 0 || n > 64 || !(*p == '-' || (*p >= '0' && *p <= '9')))
		return false;
	return memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n);
}

static int filter_cb(const char *p, size_t n, void *data)
{
	struct filter *f = data;
	size_t i;

	if (!f->in_string && is_real_chunk(p, n)) {
		char tmp[65], out[JSONNUM_REAL_MAX + 1];
		size_t m;

		memcpy(tmp, p, n);
		tmp[n] = '\0';
		m = jsonnum_real(strtod(tmp, NULL), out);
		if (m)
			return f->cb(out, m, f->data);
	}
	for (i = 0; i < n; i++) {
		if (f->escaped)
			f->escaped = false;
		else if (f->in_string && p[i] == '\\')
			f->escaped = true;
		else if (p[i] == '"')
			f->in_string = !f->in_string;
	}
	return f->cb(p, n, f->data);
}

/* Whether v holds a real anywhere: without one the filter has nothing to do. */
static bool has_real(const json_t *v)
{
	const char *k;
	json_t *m;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_REAL:
		return true;
	case JSON_ARRAY:
		json_array_foreach ((json_t *)v, i, m)
			if (has_real(m))
				return true;
		return false;
	case JSON_OBJECT:
		json_object_foreach ((json_t *)v, k, m)
			if (has_real(m))
				return true;
		return false;
	default:
		return false;
	}
}

void jsonnum_out_flush(struct jsonnum_out *o)
{
	if (o->len && o->sink(o->buf, o->len, o->data) != 0)
		o->err = true;
	o->len = 0;
}

/* What does not fit: the buffer goes first, then p itself when the buffer could not hold it. */
void jsonnum_out_big(struct jsonnum_out *o, const char *p, size_t n)
{
	jsonnum_out_flush(o);
	if (n > sizeof(o->buf)) {
		if (o->sink(p, n, o->data) != 0)
			o->err = true;
		return;
	}
	memcpy(o->buf, p, n);
	o->len = n;
}

void jsonnum_out_int(struct jsonnum_out *o, json_int_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	jsonnum_out_put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

bool jsonnum_plain(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, u + i, 8);
		if (jsonnum_special8(w) || (w & 0x8080808080808080ull))
			return false;
	}
	for (; i < n; i++)
		if (u[i] < 0x20 || u[i] > 0x7f || u[i] == '"' || u[i] == '\\')
			return false;
	return true;
}

/* Past the closing quote of the jsonnum_plain string whose opening quote is p, or NULL. */
static const char *scalar_string_end(const char *p, const char *end)
{
	const char *q = p + 1;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Eight bytes at a time: the lowest flagged byte (special, or not ASCII) ends the run. */
	for (uint64_t w, m; end - q >= 8; q += 8) {
		memcpy(&w, q, 8);
		if ((m = jsonnum_special8_mask(w) | (w & 0x8080808080808080ull))) {
			q += (unsigned)__builtin_ctzll(m) >> 3;
			return *q == '"' ? q + 1 : NULL;
		}
	}
#endif
	while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q <= 0x7f && *q != '"' &&
	       *q != '\\')
		q++;
	return q < end && *q == '"' ? q + 1 : NULL;
}

/*
 * What jsonnum_scalar accepts at p, without building it: just past it, its
 * kind ('"' a string, 't' 'f' 'n' a literal, '0' an integer, its value in
 * *ret_int), or NULL.
 */
static const char *scalar_scan(const char *p, const char *end, char *ret_kind, json_int_t *ret_int)
{
	static const struct {
		const char *word;
		size_t len;
	} words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
	const char *d = p + (*p == '-');
	uint64_t u = 0; /* a longer run wraps harmlessly before it is refused */
	size_t n = 0;

	*ret_kind = *p;
	if (*p == '"')
		return scalar_string_end(p, end);
	for (int i = 0; i < 3; i++) {
		if (*p == words[i].word[0]) {
			if ((size_t)(end - p) < words[i].len || memcmp(p, words[i].word, words[i].len) != 0)
				return NULL;
			return p + words[i].len;
		}
	}
	while (d + n < end && d[n] >= '0' && d[n] <= '9') {
		u = u * 10 + (uint64_t)(d[n] - '0');
		n++;
	}
	if (n == 0 || n > 18 || (n > 1 && d[0] == '0') ||
	    (d + n < end && (d[n] == '.' || d[n] == 'e' || d[n] == 'E')))
		return NULL;
	*ret_kind = '0';
	*ret_int = d > p ? -(json_int_t)u : (json_int_t)u;
	return d + n;
}

const char *jsonnum_scalar_end(const char *p, const char *end)
{
	char kind;
	json_int_t i;

	return scalar_scan(p, end, &kind, &i);
}

json_t *jsonnum_scalar(const char *p, const char *end, const char **ret_end)
{
	char kind;
	json_int_t i = 0;
	const char *e = scalar_scan(p, end, &kind, &i);
	json_t *v;

	if (!e)
		return NULL;
	switch (kind) {
	case '"':
		v = json_stringn_nocheck(p + 1, (size_t)(e - p - 2));
		break;
	case 't':
		v = json_true();
		break;
	case 'f':
		v = json_false();
		break;
	case 'n':
		v = json_null();
		break;
	default:
		v = json_integer(i);
		break;
	}
	if (v)
		*ret_end = e;
	return v;
}

void jsonnum_out_string(struct jsonnum_out *o, const char *p, size_t n)
{
	if (n + 2 <= sizeof(o->buf) - o->len) {
		o->buf[o->len] = '"';
		memcpy(o->buf + o->len + 1, p, n);
		o->buf[o->len + 1 + n] = '"';
		o->len += n + 2;
		return;
	}
	jsonnum_out_put(o, "\"", 1);
	jsonnum_out_put(o, p, n);
	jsonnum_out_put(o, "\"", 1);
}

/*
 * p[0..n) between quotes if jansson writes it unchanged: checked while it is
 * copied into the buffer, one pass; false (nothing written) if it is not
 * plain. Text longer than the buffer's room is checked first, then put.
 */
static bool out_plain(struct jsonnum_out *o, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	char *d = o->buf + o->len + 1;
	size_t i = 0;
	uint64_t w;

	if (n + 2 > sizeof(o->buf) - o->len) {
		if (!jsonnum_plain(p, n))
			return false;
		jsonnum_out_string(o, p, n);
		return true;
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, u + i, 8);
		if (jsonnum_special8(w) || (w & 0x8080808080808080ull))
			return false;
		memcpy(d + i, &w, 8);
	}
	for (; i < n; i++) {
		if (u[i] < 0x20 || u[i] > 0x7f || u[i] == '"' || u[i] == '\\')
			return false;
		d[i] = (char)u[i];
	}
	d[-1] = '"';
	d[n] = '"';
	o->len += n + 2;
	return true;
}

static int out_cb(const char *p, size_t n, void *data)
{
	jsonnum_out_put(data, p, n);
	return 0;
}

/* A value this writer leaves to jansson, written into the same buffer. */
static void out_jansson(struct jsonnum_out *o, const json_t *v)
{
	if (json_dump_callback(v, out_cb, o, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		o->err = true;
}

#define LIT(s) s, sizeof(s) - 1

void jsonnum_out_value(struct jsonnum_out *o, const json_t *v)
{
	const char *key, *p;
	json_t *m;
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		jsonnum_out_int(o, json_integer_value(v));
		return;
	case JSON_TRUE:
		jsonnum_out_put(o, LIT("true"));
		return;
	case JSON_FALSE:
		jsonnum_out_put(o, LIT("false"));
		return;
	case JSON_NULL:
		jsonnum_out_put(o, LIT("null"));
		return;
	case JSON_STRING:
		p = json_string_value(v);
		n = json_string_length(v);
		if (!out_plain(o, p, n))
			break;
		return;
	case JSON_ARRAY:
		jsonnum_out_put(o, "[", 1);
		for (i = 0, n = json_array_size(v); i < n; i++) {
			if (i)
				jsonnum_out_put(o, ",", 1);
			jsonnum_out_value(o, json_array_get(v, i));
		}
		jsonnum_out_put(o, "]", 1);
		return;
	case JSON_OBJECT:
		jsonnum_out_put(o, "{", 1);
		/* By iterator: json_object_keylen_foreach looks each key up again to step on. */
		i = 0;
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			key = json_object_iter_key(it);
			n = json_object_iter_key_len(it);
			m = json_object_iter_value(it);
			if (i++)
				jsonnum_out_put(o, ",", 1);
			if (!out_plain(o, key, n)) {
				/* A key that needs escapes: jansson writes it, as a string. */
				json_t *k = json_stringn_nocheck(key, n);
				if (k)
					out_jansson(o, k);
				else
					o->err = true;
				json_decref(k);
			}
			jsonnum_out_put(o, ":", 1);
			jsonnum_out_value(o, m);
		}
		jsonnum_out_put(o, "}", 1);
		return;
	case JSON_REAL: {
		char num[JSONNUM_REAL_MAX + 1];
		size_t len = jsonnum_real(json_real_value(v), num);
		if (len) {
			jsonnum_out_put(o, num, len);
			return;
		}
		break;
	}
	}
	out_jansson(o, v);
}

/*
 * Flags the writer gives jansson's text for: compact, no indent, no sorting
 * or extra escapes (JSON_PRESERVE_ORDER is jansson's default order anyway,
 * and the real precision is jsonnum_real's), and a container unless
 * JSON_ENCODE_ANY.
 */
static bool out_flags(const json_t *v, size_t flags)
{
	if (!v || !(flags & JSON_COMPACT) || (flags & JSON_MAX_INDENT) ||
	    (flags & (JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_ESCAPE_SLASH | JSON_EMBED)))
		return false;
	return (flags & JSON_ENCODE_ANY) || json_is_object(v) || json_is_array(v);
}

int jsonnum_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags)
{
	struct filter f = { .cb = cb, .data = data };

	if (out_flags(v, flags)) {
		struct jsonnum_out o;

		o.sink = cb;
		o.data = data;
		o.err = false;
		o.len = 0;
		jsonnum_out_value(&o, v);
		jsonnum_out_flush(&o);
		return o.err ? -1 : 0;
	}
	/* A walk of the tree costs less than following string state over every character. */
	if (!v || !has_real(v))
		return json_dump_callback(v, cb, data, flags);
	return json_dump_callback(v, filter_cb, &f, flags);
}

struct membuf {
	char *p;
	size_t len, cap;
	bool fail;
};

static int membuf_cb(const char *p, size_t n, void *data)
{
	struct membuf *b = data;

	if (b->fail)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *q;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(q = realloc(b->p, cap))) {
			b->fail = true;
			return -1;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

char *jsonnum_dumps(const json_t *v, size_t flags)
{
	struct membuf b = { 0 };

	if (out_flags(v, flags)) {
		struct jsonnum_out o;

		o.sink = membuf_cb;
		o.data = &b;
		o.err = false;
		o.len = 0;
		jsonnum_out_value(&o, v);
		/* Text that fit the buffer (nearly all): one allocation of its size. */
		if (!o.err && !b.p) {
			char *text = malloc(o.len + 1);
			if (text) {
				memcpy(text, o.buf, o.len);
				text[o.len] = '\0';
			}
			return text;
		}
		jsonnum_out_flush(&o);
		if (o.err || !b.p) {
			free(b.p);
			return NULL;
		}
		return b.p;
	}
	if (jsonnum_dump_callback(v, membuf_cb, &b, flags) != 0 || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

struct fixbuf {
	char *p;
	size_t size, len;
};

static int fixbuf_cb(const char *p, size_t n, void *data)
{
	struct fixbuf *b = data;

	if (b->len < b->size)
		memcpy(b->p + b->len, p, n < b->size - b->len ? n : b->size - b->len);
	b->len += n;
	return 0;
}

/*
 * A string jansson writes unchanged between quotes (jsonnum_plain, and no
 * '/' under JSON_ESCAPE_SLASH): the usual stored value, written without the
 * dump machinery.
 */
static bool plain_string(const json_t *v, size_t flags)
{
	const char *p = json_string_value(v);
	size_t n = json_string_length(v);

	if (!p || !(flags & JSON_ENCODE_ANY))
		return false;
	return jsonnum_plain(p, n) && !((flags & JSON_ESCAPE_SLASH) && memchr(p, '/', n));
}

size_t jsonnum_dumpb(const json_t *v, char *buf, size_t size, size_t flags)
{
	struct fixbuf b = { .p = buf, .size = buf ? size : 0 };

	if (plain_string(v, flags)) {
		fixbuf_cb("\"", 1, &b);
		fixbuf_cb(json_string_value(v), json_string_length(v), &b);
		fixbuf_cb("\"", 1, &b);
		return b.len;
	}

	if (jsonnum_dump_callback(v, fixbuf_cb, &b, flags) != 0)
		return 0;
	return b.len;
}

const char *jsonnum_u64(uint64_t v, char *buf, size_t *ret_len)
{
	char *d = buf + JSONNUM_U64_MAX;

	*d = '\0';
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	*ret_len = (size_t)(buf + JSONNUM_U64_MAX - d);
	return d;
}

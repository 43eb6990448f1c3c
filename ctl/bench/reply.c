/*
 * reply.c — a validating single-pass scanner for reply lines. The load
 * tester has to check every byte of every reply at the rate the daemon
 * sends them, so it walks the text once and builds nothing, instead of
 * paying for a DOM per reply.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "reply.h"

#define REPLY_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: what the daemon can produce */

struct scan {
	const char *p, *end;
	const char *why; /* the first failure */
	unsigned depth;
};

static bool scan_fail(struct scan *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return false;
}

static void scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static bool scan_lit(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return scan_fail(s, "invalid literal");
	s->p += n;
	return true;
}

/*
 * Eight bytes at once: true if none is '"', '\\', a control character or
 * non-ASCII, i.e. the whole word is plain string content. The classic
 * "has a zero byte" trick never reports a match where there is none.
 */
static bool scan_plain8(const char *p)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t w, q, b;

	memcpy(&w, p, 8);
	q = w ^ (ones * '"');
	b = w ^ (ones * '\\');
	return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & highs) ==
	       0;
}

static int scan_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One UTF-8 sequence starting at a byte >= 0x80 (RFC 3629: no overlongs, no surrogates). */
static bool scan_utf8(struct scan *s)
{
	const unsigned char *u = (const unsigned char *)s->p;
	size_t left = (size_t)(s->end - s->p);
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4;
	else
		return scan_fail(s, "invalid UTF-8");
	if (u[0] == 0xe0)
		lo = 0xa0;
	else if (u[0] == 0xed)
		hi = 0x9f;
	else if (u[0] == 0xf0)
		lo = 0x90;
	else if (u[0] == 0xf4)
		hi = 0x8f;
	if (left < n || u[1] < lo || u[1] > hi)
		return scan_fail(s, "invalid UTF-8");
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xbf)
			return scan_fail(s, "invalid UTF-8");
	s->p += n;
	return true;
}

/* Bytes that stand for themselves inside a string: ASCII from space up, but '"' and '\\'. */
static inline bool scan_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static inline bool scan_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A string at s->p (its opening quote); ret_start and ret_len get the raw contents between the
 * quotes. */
static bool scan_string(struct scan *s, const char **ret_start, size_t *ret_len, bool *ret_escaped)
{
	const char *start = ++s->p;
	bool escaped = false;

	for (;;) {
		/* Short strings (names, "pong") end within a word: bytes first, words for long
		 * ones. */
		while (s->p < s->end && scan_plain((unsigned char)*s->p)) {
			s->p++;
			if ((s->p - start) % 16 == 0)
				while (s->end - s->p >= 8 && scan_plain8(s->p))
					s->p += 8;
		}
		if (s->p >= s->end)
			return scan_fail(s, "unterminated string");
		unsigned char c = (unsigned char)*s->p;
		if (c == '"')
			break;
		if (c == '\\') {
			escaped = true;
			if (s->end - s->p < 2)
				return scan_fail(s, "unterminated string");
			c = (unsigned char)s->p[1];
			if (c == 'u') {
				if (s->end - s->p < 6 || scan_hex(s->p[2]) < 0 ||
				    scan_hex(s->p[3]) < 0 || scan_hex(s->p[4]) < 0 ||
				    scan_hex(s->p[5]) < 0)
					return scan_fail(s, "invalid \\u escape");
				s->p += 6;
			} else if (strchr("\"\\/bfnrt", c) && c) {
				s->p += 2;
			} else {
				return scan_fail(s, "invalid escape");
			}
		} else if (c < 0x20) {
			return scan_fail(s, "control character in string");
		} else if (c >= 0x80) {
			if (!scan_utf8(s))
				return false;
		} else {
			s->p++;
		}
	}
	if (ret_start) {
		*ret_start = start;
		*ret_len = (size_t)(s->p - start);
	}
	if (ret_escaped)
		*ret_escaped = escaped;
	s->p++;
	return true;
}

struct number {
	bool integer; /* no fraction, no exponent */
	bool negative;
	bool overflow; /* the magnitude does not fit 64 bits */
	uint64_t magnitude;
};

static bool scan_number(struct scan *s, struct number *n)
{
	memset(n, 0, sizeof(*n));
	n->integer = true;
	if (s->p < s->end && *s->p == '-') {
		n->negative = true;
		s->p++;
	}
	if (s->p >= s->end || *s->p < '0' || *s->p > '9')
		return scan_fail(s, "invalid number");
	if (*s->p == '0') {
		s->p++;
	} else {
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
			unsigned d = (unsigned)(*s->p++ - '0');
			if (n->magnitude > (UINT64_MAX - d) / 10)
				n->overflow = true;
			else
				n->magnitude = n->magnitude * 10 + d;
		}
	}
	if (s->p < s->end && *s->p == '.') {
		n->integer = false;
		s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return scan_fail(s, "invalid number");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		n->integer = false;
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return scan_fail(s, "invalid number");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	return true;
}

static bool scan_value(struct scan *s);

/* A container at s->p: '{' or '['. */
static bool scan_container(struct scan *s, char close)
{
	bool object = close == '}';

	if (++s->depth > REPLY_MAX_DEPTH)
		return scan_fail(s, "nested too deeply");
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			if (s->p >= s->end || *s->p != '"')
				return scan_fail(s, "expected a member name");
			if (!scan_string(s, NULL, NULL, NULL))
				return false;
			scan_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return scan_fail(s, "expected ':'");
			s->p++;
		}
		if (!scan_value(s))
			return false;
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			scan_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			s->depth--;
			return true;
		}
		return scan_fail(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/* Any value, with the whitespace around it. */
static bool scan_value(struct scan *s)
{
	struct number n;
	bool ok;

	scan_ws(s);
	if (s->p >= s->end)
		return scan_fail(s, "expected a value");
	switch (*s->p) {
	case '{':
		ok = scan_container(s, '}');
		break;
	case '[':
		ok = scan_container(s, ']');
		break;
	case '"':
		ok = scan_string(s, NULL, NULL, NULL);
		break;
	case 't':
		ok = scan_lit(s, "true", 4);
		break;
	case 'f':
		ok = scan_lit(s, "false", 5);
		break;
	case 'n':
		ok = scan_lit(s, "null", 4);
		break;
	default:
		ok = scan_number(s, &n);
	}
	if (ok)
		scan_ws(s);
	return ok;
}

/*
 * A member name, decoded into buf for comparison. Names we know are short
 * ASCII; anything longer or non-ASCII cannot be one of them and comes back
 * as a name that matches nothing.
 */
static bool scan_name(struct scan *s, char *buf, size_t cap)
{
	const char *raw;
	size_t len, o = 0;
	bool escaped;

	if (s->p >= s->end || *s->p != '"')
		return scan_fail(s, "expected a member name");
	if (!scan_string(s, &raw, &len, &escaped))
		return false;
	if (!escaped && len < cap) {
		memcpy(buf, raw, len);
		o = len;
		goto done;
	}
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (escaped && c == '\\') {
			char e = raw[++i];
			if (e == 'u') {
				int v = (scan_hex(raw[i + 1]) << 12) | (scan_hex(raw[i + 2]) << 8) |
				        (scan_hex(raw[i + 3]) << 4) | scan_hex(raw[i + 4]);
				i += 4;
				c = v > 0 && v < 0x80 ? (char)v : '\x7f';
			} else {
				static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
				const char *f = strchr(from, e);
				c = f ? to[f - from] : e;
			}
		}
		if (o + 1 >= cap) {
			o = 0;
			buf[o++] = '\x7f';
			break;
		}
		buf[o++] = c;
	}
done:
	buf[o] = '\0';
	scan_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return scan_fail(s, "expected ':'");
	s->p++;
	scan_ws(s);
	return true;
}

/* The "error" member's object: integer code, string message, optional data, nothing else. */
static bool scan_error(struct scan *s, struct reply *r)
{
	bool have_code = false, have_msg = false, have_data = false;
	char name[16];
	struct number n;

	if (s->p >= s->end || *s->p != '{')
		return scan_fail(s, "\"error\" is not an object");
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == '}')
		return scan_fail(s, "\"error\" lacks \"code\"");
	for (;;) {
		if (!scan_name(s, name, sizeof(name)))
			return false;
		if (strcmp(name, "code") == 0 && !have_code) {
			if (s->p >= s->end || !(*s->p == '-' || (*s->p >= '0' && *s->p <= '9')))
				return scan_fail(s, "\"error.code\" is not an integer");
			if (!scan_number(s, &n))
				return false;
			if (!n.integer || n.overflow || n.magnitude > (uint64_t)INT64_MAX)
				return scan_fail(s, "\"error.code\" is not an integer");
			r->code = n.negative ? -(long long)n.magnitude : (long long)n.magnitude;
			have_code = true;
		} else if (strcmp(name, "message") == 0 && !have_msg) {
			if (s->p >= s->end || *s->p != '"')
				return scan_fail(s, "\"error.message\" is not a string");
			if (!scan_string(s, &r->message, &r->message_len, NULL))
				return false;
			have_msg = true;
		} else if (strcmp(name, "data") == 0 && !have_data) {
			if (!scan_value(s))
				return false;
			have_data = true;
		} else {
			return scan_fail(s, have_code || have_msg || have_data
			                        ? "duplicate or unknown member in \"error\""
			                        : "unknown member in \"error\"");
		}
		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			scan_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			break;
		}
		return scan_fail(s, "expected ',' or '}'");
	}
	if (!have_code)
		return scan_fail(s, "\"error\" lacks \"code\"");
	if (!have_msg)
		return scan_fail(s, "\"error\" lacks \"message\"");
	return true;
}

enum { M_JSONRPC = 1, M_ID = 2, M_RESULT = 4, M_ERROR = 8, M_METHOD = 16, M_PARAMS = 32 };

static bool scan_member(struct scan *s, const char *name, unsigned *seen, struct reply *r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {{"jsonrpc", M_JSONRPC}, {"id", M_ID},         {"result", M_RESULT},
	             {"error", M_ERROR},     {"method", M_METHOD}, {"params", M_PARAMS}};
	unsigned bit = 0;
	const char *start;
	struct number n;
	size_t len;
	bool escaped;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(name, known[i].name) == 0)
			bit = known[i].bit;
	if (!bit)
		return scan_fail(s, "unknown member");
	if (*seen & bit)
		return scan_fail(s, "duplicate member");
	*seen |= bit;
	if (s->p >= s->end)
		return scan_fail(s, "expected a value");
	switch (bit) {
	case M_JSONRPC:
		if (*s->p != '"' || !scan_string(s, &start, &len, &escaped))
			return scan_fail(s, "\"jsonrpc\" is not \"2.0\"");
		/* jansson never escapes these characters, and no other text is "2.0". */
		if (escaped || len != 3 || memcmp(start, "2.0", 3) != 0)
			return scan_fail(s, "\"jsonrpc\" is not \"2.0\"");
		return true;
	case M_ID:
		if (*s->p == '"') {
			r->id_kind = REPLY_ID_OTHER;
			return scan_string(s, NULL, NULL, NULL);
		}
		if (*s->p == 'n') {
			r->id_kind = REPLY_ID_NULL;
			return scan_lit(s, "null", 4);
		}
		if (*s->p != '-' && (*s->p < '0' || *s->p > '9'))
			return scan_fail(s, "\"id\" is not a string, number or null");
		if (!scan_number(s, &n))
			return false;
		r->id_kind =
		    n.integer && !n.negative && !n.overflow ? REPLY_ID_INT : REPLY_ID_OTHER;
		r->id = n.magnitude;
		return true;
	case M_RESULT:
		start = s->p;
		if (!scan_value(s))
			return false;
		/* scan_value ate trailing whitespace: the span ends at the last byte of the value.
		 */
		len = (size_t)(s->p - start);
		while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t' ||
		                   start[len - 1] == '\r' || start[len - 1] == '\n'))
			len--;
		r->result = start;
		r->result_len = len;
		return true;
	case M_ERROR:
		return scan_error(s, r);
	case M_METHOD:
		if (*s->p != '"')
			return scan_fail(s, "\"method\" is not a string");
		return scan_string(s, NULL, NULL, NULL);
	default: /* M_PARAMS */
		if (*s->p != '{' && *s->p != '[')
			return scan_fail(s, "\"params\" is not an object or array");
		return scan_value(s);
	}
}

/*
 * What udsrpcd (and every compact encoder) writes for a success, checked
 * without the general member loop: {"jsonrpc":"2.0","id":N,"result":V}
 * with N a plain non-negative integer; V is still checked byte by byte.
 * Anything else, even if valid, is left to the general parser.
 */
static bool reply_fast(const char *line, size_t len, struct reply *r)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	const size_t hl = sizeof(head) - 1;
	struct scan s = {.p = line + hl, .end = line + len};
	uint64_t id = 0;

	if (len < hl + 13 || memcmp(line, head, hl) != 0 || *s.p < '0' || *s.p > '9')
		return false;
	const char *digits = s.p;
	if (*s.p == '0')
		s.p++;
	else
		while (s.p < s.end && *s.p >= '0' && *s.p <= '9')
			id = id * 10 + (uint64_t)(*s.p++ - '0');
	/* 19 digits always fit 64 bits; more go the long way (and may overflow there). */
	if (s.p - digits > 19 || s.end - s.p < 12 || memcmp(s.p, ",\"result\":", 10) != 0)
		return false;
	s.p += 10;
	const char *start = s.p;
	/* Compact: no whitespace around the value, so the span is exactly the value. */
	if (scan_is_ws(*s.p) || !scan_value(&s) || s.p != s.end - 1 || *s.p != '}' ||
	    scan_is_ws(s.p[-1]))
		return false;
	r->kind = REPLY_RESULT;
	r->id_kind = REPLY_ID_INT;
	r->id = id;
	r->result = start;
	r->result_len = (size_t)(s.p - start);
	return true;
}

int reply_parse(const char *line, size_t len, struct reply *ret, const char **ret_why)
{
	struct scan s = {.p = line, .end = line + len};
	unsigned seen = 0;
	char name[16];

	memset(ret, 0, sizeof(*ret));
	if (reply_fast(line, len, ret))
		return 0;
	memset(ret, 0, sizeof(*ret));
	scan_ws(&s);
	if (s.p >= s.end || *s.p != '{') {
		*ret_why = s.p >= s.end ? "empty line" : "not a JSON object";
		return -EINVAL;
	}
	s.p++;
	scan_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		*ret_why = "empty object";
		return -EINVAL;
	}
	for (;;) {
		if (!scan_name(&s, name, sizeof(name)) || !scan_member(&s, name, &seen, ret))
			goto fail;
		scan_ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			scan_ws(&s);
			continue;
		}
		if (s.p < s.end && *s.p == '}') {
			s.p++;
			break;
		}
		scan_fail(&s, "expected ',' or '}'");
		goto fail;
	}
	scan_ws(&s);
	if (s.p != s.end) {
		scan_fail(&s, "text after the object");
		goto fail;
	}
	if (!(seen & M_JSONRPC)) {
		scan_fail(&s, "no \"jsonrpc\"");
		goto fail;
	}
	if (seen & M_METHOD) {
		if (seen & (M_ID | M_RESULT | M_ERROR)) {
			scan_fail(&s, "a request-shaped line (\"method\" with \"id\", \"result\" "
			              "or \"error\")");
			goto fail;
		}
		ret->kind = REPLY_NOTIFICATION;
		ret->id_kind = REPLY_ID_NONE;
		return 0;
	}
	if (seen & M_PARAMS) {
		scan_fail(&s, "\"params\" in a response");
		goto fail;
	}
	if (!(seen & M_ID)) {
		scan_fail(&s, "no \"id\"");
		goto fail;
	}
	if ((seen & (M_RESULT | M_ERROR)) == (M_RESULT | M_ERROR)) {
		scan_fail(&s, "both \"result\" and \"error\"");
		goto fail;
	}
	if (!(seen & (M_RESULT | M_ERROR))) {
		scan_fail(&s, "neither \"result\" nor \"error\"");
		goto fail;
	}
	ret->kind = seen & M_RESULT ? REPLY_RESULT : REPLY_ERROR;
	return 0;
fail:
	*ret_why = s.why ? s.why : "invalid JSON";
	return -EINVAL;
}

/* See numpath.h: a recursive descent over JSON text that tracks the pointer. */
#include "numpath.h"

#include <stdio.h>
#include <string.h>

#define NUMPATH_DEPTH 64

struct scan {
	const char *p, *end;
	size_t at;
	const char *base;
	struct numpath *ret;
	size_t plen;      /* used length of ret->pointer */
	bool found;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Past a string starting at s->p ('"'); its contents in *b, *n (escapes kept). */
static bool string(struct scan *s, const char **b, size_t *n)
{
	const char *q = ++s->p;

	while (s->p < s->end && *s->p != '"')
		s->p += *s->p == '\\' ? 2 : 1;
	if (s->p >= s->end)
		return false;
	*b = q;
	*n = (size_t)(s->p - q);
	s->p++;
	return true;
}

/* Appends /token (with ~ and / escaped as ~0, ~1) to the pointer. */
static void push(struct scan *s, const char *t, size_t n)
{
	char *out = s->ret->pointer;
	size_t cap = sizeof(s->ret->pointer) - 1, i;

	if (s->plen < cap)
		out[s->plen++] = '/';
	for (i = 0; i < n && s->plen + 2 < cap; i++) {
		if (t[i] == '~' || t[i] == '/') {
			out[s->plen++] = '~';
			out[s->plen++] = t[i] == '~' ? '0' : '1';
		} else {
			out[s->plen++] = t[i];
		}
	}
	out[s->plen] = '\0';
}

static bool value(struct scan *s, unsigned depth);

static bool member(struct scan *s, unsigned depth, const char *t, size_t n, bool top_id)
{
	size_t keep = s->plen;
	const char *start;

	if (!s->found)
		push(s, t, n);
	ws(s);
	start = s->p;
	if (!value(s, depth + 1))
		return false;
	if (top_id) {
		s->ret->id = start;
		s->ret->id_len = (size_t)(s->p - start);
	}
	if (!s->found) {
		s->plen = keep;
		s->ret->pointer[keep] = '\0';
	}
	return true;
}

static bool value(struct scan *s, unsigned depth)
{
	const char *b;
	size_t n, i;

	ws(s);
	if (s->p >= s->end || depth > NUMPATH_DEPTH)
		return false;
	switch (*s->p) {
	case '{':
		s->p++;
		for (ws(s); s->p < s->end && *s->p != '}';) {
			if (*s->p != '"' || !string(s, &b, &n))
				return false;
			ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return false;
			if (!member(s, depth, b, n, depth == 0 && n == 2 && !memcmp(b, "id", 2)))
				return false;
			ws(s);
			if (s->p < s->end && *s->p == ',')
				s->p++, ws(s);
		}
		return s->p < s->end && *s->p++ == '}';
	case '[':
		s->p++;
		for (i = 0, ws(s); s->p < s->end && *s->p != ']'; i++) {
			char idx[24];
			int m = snprintf(idx, sizeof(idx), "%zu", i);
			if (!member(s, depth, idx, (size_t)m, false))
				return false;
			ws(s);
			if (s->p < s->end && *s->p == ',')
				s->p++, ws(s);
		}
		return s->p < s->end && *s->p++ == ']';
	case '"':
		return string(s, &b, &n);
	default:
		b = s->p;
		while (s->p < s->end && strchr("+-0123456789.eEtruefalsn", *s->p))
			s->p++;
		if (s->p == b)
			return false;
		if (!s->found && (*b == '-' || (*b >= '0' && *b <= '9')) &&
		    (size_t)(b - s->base) <= s->at && s->at <= (size_t)(s->p - s->base))
			s->found = true;
		return true;
	}
}

bool numpath_find(const char *text, size_t len, size_t at, struct numpath *ret)
{
	struct scan s = {.p = text, .end = text + len, .at = at, .base = text, .ret = ret};

	memset(ret, 0, sizeof(*ret));
	if (!value(&s, 0))
		return false;
	return s.found;
}

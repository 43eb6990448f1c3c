/* jsonschema.c — validates jansson values against the JSON Schema subset of schema/README.md. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"

/*
 * $ref, anyOf and oneOf apply another schema to the same value. A chain of
 * them longer than this without stepping into a member or an item can only
 * be a loop ({"$ref": "#"} inside its own root), which would otherwise
 * recurse until the stack runs out.
 */
#define SAME_VALUE_DEPTH_MAX 64

/* Member names quoted in a reason are cut here: a reply must not echo a megabyte key back. */
#define NAME_IN_REASON_MAX 128

/*
 * Compiled patterns, per thread so the validator needs no lock and stays
 * usable from any thread. regcomp costs far more than one match, and the
 * same few patterns (config keys) are checked on every call. Bounded,
 * because callers may validate against schemas that come and go.
 */
#define REGEX_CACHE_SIZE 32

struct regex_slot {
	char *pattern; /* NULL: slot unused */
	size_t len;
	regex_t re;
};

static _Thread_local struct regex_slot regex_cache[REGEX_CACHE_SIZE];
static _Thread_local unsigned regex_next_victim;

/* ---- JSON helpers ---- */

/* jansson's iteration macros take a non-const object; validation never modifies one. */
#define OBJECT_FOREACH(obj, it)                                                                    \
	for (void *it = json_object_iter((json_t *)(obj)); it;                                     \
	     it = json_object_iter_next((json_t *)(obj), it))

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/*
 * "integer" is a JSON number written without fraction or exponent (a
 * jansson integer). JSON Schema would also call 1.0 an integer, but handlers
 * read such members with json_integer_value(), which gives 0 for a real:
 * accepting 1.0 here would hand them a value they misread.
 */
static bool type_matches(const char *name, const json_t *v)
{
	if (strcmp(name, "number") == 0)
		return json_is_number(v);
	if (strcmp(name, "boolean") == 0)
		return json_is_boolean(v);
	return strcmp(name, type_name(v)) == 0;
}

static bool is_type_name(const char *name)
{
	static const char *const names[] = {"null",   "boolean", "object", "array",
	                                    "number", "integer", "string"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Numbers compare by value (1 equals 1.0), as JSON Schema's enum and const do. */
static bool values_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) ==
		           0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		OBJECT_FOREACH(a, it)
		{
			const json_t *other = json_object_getn(b, json_object_iter_key(it),
			                                       json_object_iter_key_len(it));
			if (!other || !values_equal(json_object_iter_value(it), other))
				return false;
		}
		return true;
	default:
		return true; /* true, false, null: equal type is equal value */
	}
}

/* -1, 0, 1 as a is below, equal to or above b; exact for two integers. */
static int number_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return (x > y) - (x < y);
	}
	double x = json_number_value(a), y = json_number_value(b);
	return (x > y) - (x < y);
}

static size_t utf8_codepoints(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Length of the longest prefix of s[0..len) that does not end inside a UTF-8 sequence. */
static size_t utf8_boundary(const char *s, size_t len)
{
	size_t i = len;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return len;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return len - (i - 1) >= need ? len : i - 1;
}

/*
 * Cut a NUL-terminated buffer that snprintf may have truncated so that it
 * stays valid UTF-8: the reason and path end up in a JSON string, and
 * json_string() refuses a broken sequence.
 */
static void utf8_fix_tail(char *buf)
{
	size_t len = strlen(buf);
	buf[utf8_boundary(buf, len)] = '\0';
}

/* ---- growing text in a caller's fixed buffer ---- */

/*
 * The JSON Pointer of the value being validated. pos is the logical length;
 * bytes past the buffer are dropped but counted, so popping back to an
 * earlier length stays right, and buf[0..pos) always holds the current
 * pointer (pushing writes at pos, popping only moves pos back).
 */
struct ptr {
	char *buf;
	size_t cap;
	size_t pos;
};

static void ptr_putc(struct ptr *p, char c)
{
	if (p->cap > 0 && p->pos < p->cap - 1)
		p->buf[p->pos] = c;
	p->pos++;
}

static void ptr_puts(struct ptr *p, const char *s)
{
	while (*s)
		ptr_putc(p, *s++);
}

/*
 * RFC 6901 escapes '~' as "~0" and '/' as "~1". A NUL inside a member name
 * cannot travel in a C string; it is written as the six characters \u0000.
 */
static size_t ptr_push_key(struct ptr *p, const char *key, size_t len)
{
	size_t old = p->pos;
	ptr_putc(p, '/');
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '~')
			ptr_puts(p, "~0");
		else if (key[i] == '/')
			ptr_puts(p, "~1");
		else if (key[i] == '\0')
			ptr_puts(p, "\\u0000");
		else
			ptr_putc(p, key[i]);
	}
	return old;
}

static size_t ptr_push_index(struct ptr *p, size_t index)
{
	char num[24];
	size_t old = p->pos;
	snprintf(num, sizeof(num), "/%zu", index);
	ptr_puts(p, num);
	return old;
}

static void ptr_pop(struct ptr *p, size_t old)
{
	p->pos = old;
}

/* Terminate at the current pointer; the buffer then reads as that pointer. */
static void ptr_seal(struct ptr *p)
{
	if (p->cap == 0)
		return;
	p->buf[p->pos < p->cap - 1 ? p->pos : p->cap - 1] = '\0';
	utf8_fix_tail(p->buf);
}

/* ---- validation ---- */

struct vctx {
	const json_t *root;
	struct ptr path;
	char *reason;
	size_t reasonlen;
	/* >0 inside anyOf/oneOf alternatives: their failures are not the answer. */
	unsigned quiet;
};

static void vreport(struct vctx *c, const char *fmt, va_list ap)
{
	ptr_seal(&c->path);
	if (c->reasonlen == 0)
		return;
	vsnprintf(c->reason, c->reasonlen, fmt, ap);
	utf8_fix_tail(c->reason);
}

__attribute__((format(printf, 2, 3))) static int fail(struct vctx *c, const char *fmt, ...)
{
	if (c->quiet == 0) {
		va_list ap;
		va_start(ap, fmt);
		vreport(c, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The schema, not the value, is at fault: always reported, never taken as "no match". */
__attribute__((format(printf, 3, 4))) static int broken(struct vctx *c, int err, const char *fmt,
                                                        ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, fmt, ap);
	va_end(ap);
	return err;
}

/* How much of a member name to quote, cut on a character boundary. */
static int quoted_len(const char *name, size_t len)
{
	if (len <= NAME_IN_REASON_MAX)
		return (int)len;
	return (int)utf8_boundary(name, NAME_IN_REASON_MAX);
}

/*
 * Resolve "#" or "#/a/b" (a JSON Pointer inside a URI fragment: %XX is
 * decoded first, then ~1 and ~0) against root. NULL when it does not resolve.
 */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
	if (ref[0] != '#')
		return NULL;
	const json_t *cur = root;
	const char *p = ref + 1;
	if (*p == '\0')
		return cur;
	if (*p != '/')
		return NULL;
	char tok[512];
	while (*p == '/') {
		size_t n = 0;
		p++;
		for (; *p && *p != '/'; p++) {
			char ch = *p;
			if (ch == '%') {
				if (!isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]))
					return NULL;
				char hex[3] = {p[1], p[2], '\0'};
				ch = (char)strtol(hex, NULL, 16);
				p += 2;
			} else if (ch == '~') {
				if (p[1] == '0')
					ch = '~';
				else if (p[1] == '1')
					ch = '/';
				else
					return NULL;
				p++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = ch;
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_getn(cur, tok, n);
		} else if (json_is_array(cur)) {
			char *end;
			if (n == 0 || (tok[0] == '0' && n > 1) || tok[0] < '0' || tok[0] > '9')
				return NULL;
			unsigned long long i = strtoull(tok, &end, 10);
			if (*end != '\0' || i >= json_array_size(cur))
				return NULL;
			cur = json_array_get(cur, (size_t)i);
		} else {
			return NULL;
		}
		if (!cur)
			return NULL;
	}
	return cur;
}

/*
 * Compiled form of pattern from the per-thread cache, compiling on a miss.
 * 0, or -EBADMSG (does not compile; msg says why) or -ENOMEM.
 */
static int regex_get(const char *pattern, size_t len, regex_t **ret, char *msg, size_t msglen)
{
	for (unsigned i = 0; i < REGEX_CACHE_SIZE; i++) {
		struct regex_slot *s = &regex_cache[i];
		if (s->pattern && s->len == len && memcmp(s->pattern, pattern, len) == 0) {
			*ret = &s->re;
			return 0;
		}
	}
	struct regex_slot *s = &regex_cache[regex_next_victim];
	regex_next_victim = (regex_next_victim + 1) % REGEX_CACHE_SIZE;
	if (s->pattern) {
		regfree(&s->re);
		free(s->pattern);
		s->pattern = NULL;
	}
	char *copy = strndup(pattern, len);
	if (!copy)
		return -ENOMEM;
	int rc = regcomp(&s->re, copy, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &s->re, msg, msglen);
		free(copy);
		return rc == REG_ESPACE ? -ENOMEM : -EBADMSG;
	}
	s->pattern = copy;
	s->len = len;
	*ret = &s->re;
	return 0;
}

static int validate(struct vctx *c, const json_t *schema, const json_t *inst, unsigned same);

/* Step into a member or item: the same-value chain starts over. */
static int validate_child(struct vctx *c, const json_t *schema, const json_t *inst)
{
	return validate(c, schema, inst, 0);
}

static int check_type(struct vctx *c, const json_t *type, const json_t *inst)
{
	if (!json_is_string(type) && !json_is_array(type))
		return broken(c, -EBADMSG, "'type' is neither a type name nor an array");
	if (json_is_string(type)) {
		if (type_matches(json_string_value(type), inst))
			return 0;
		return fail(c, "expected %s, got %s", json_string_value(type), type_name(inst));
	}
	size_t i;
	const json_t *t;
	json_array_foreach(type, i, t)
	{
		if (!json_is_string(t))
			return broken(c, -EBADMSG,
			              "'type' lists something that is not a type name");
		if (type_matches(json_string_value(t), inst))
			return 0;
	}
	if (c->quiet)
		return -EINVAL;
	char list[128] = "";
	size_t used = 0;
	json_array_foreach(type, i, t)
	{
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i == 0 ? "" : " or ",
		                 json_string_value(t));
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	return fail(c, "expected %s, got %s", list, type_name(inst));
}

/* "one of 'a', 'b', 3" for the reason of a failed enum. */
static int fail_enum(struct vctx *c, const json_t *values)
{
	if (c->quiet)
		return -EINVAL;
	char list[256] = "";
	size_t used = 0, i;
	const json_t *v;
	json_array_foreach(values, i, v)
	{
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i == 0 ? "" : ", ",
		                 text ? text : "?");
		free(text);
		if (n < 0 || (size_t)n >= sizeof(list) - used) {
			used = strlen(list);
			break;
		}
		used += (size_t)n;
	}
	return fail(c, "must be one of %s", list);
}

static int fail_number(struct vctx *c, const char *what, const json_t *bound)
{
	if (json_is_integer(bound))
		return fail(c, "must be %s %" JSON_INTEGER_FORMAT, what, json_integer_value(bound));
	return fail(c, "must be %s %.17g", what, json_real_value(bound));
}

static int check_string(struct vctx *c, const json_t *schema, const json_t *inst)
{
	const char *s = json_string_value(inst);
	size_t len = json_string_length(inst);
	const json_t *min = json_object_get(schema, "minLength");
	const json_t *max = json_object_get(schema, "maxLength");
	if (min || max) {
		size_t n = utf8_codepoints(s, len);
		if (min && n < (size_t)json_integer_value(min))
			return fail(c, "must be at least %" JSON_INTEGER_FORMAT " characters long",
			            json_integer_value(min));
		if (max && n > (size_t)json_integer_value(max))
			return fail(c, "must be at most %" JSON_INTEGER_FORMAT " characters long",
			            json_integer_value(max));
	}
	const json_t *pattern = json_object_get(schema, "pattern");
	if (!pattern)
		return 0;
	if (!json_is_string(pattern))
		return broken(c, -EBADMSG, "'pattern' is not a string");
	/*
	 * regexec sees a C string and would stop at an embedded NUL, matching
	 * only the prefix; a "^...$" whitelist must not pass "ok\u0000junk".
	 */
	if (memchr(s, '\0', len))
		return fail(c, "does not match pattern '%s' (contains U+0000)",
		            json_string_value(pattern));
	regex_t *re;
	char msg[128];
	int r = regex_get(json_string_value(pattern), json_string_length(pattern), &re, msg,
	                  sizeof(msg));
	if (r == -EBADMSG)
		return broken(c, r, "pattern '%s' does not compile: %s", json_string_value(pattern),
		              msg);
	if (r < 0)
		return broken(c, r, "out of memory compiling pattern");
	r = regexec(re, s, 0, NULL, 0);
	if (r == REG_NOMATCH)
		return fail(c, "does not match pattern '%s'", json_string_value(pattern));
	if (r != 0)
		return broken(c, -ENOMEM, "out of memory matching pattern '%s'",
		              json_string_value(pattern));
	return 0;
}

static int check_array(struct vctx *c, const json_t *schema, const json_t *inst)
{
	size_t n = json_array_size(inst);
	const json_t *min = json_object_get(schema, "minItems");
	const json_t *max = json_object_get(schema, "maxItems");
	if (min && n < (size_t)json_integer_value(min))
		return fail(c, "must have at least %" JSON_INTEGER_FORMAT " items",
		            json_integer_value(min));
	if (max && n > (size_t)json_integer_value(max))
		return fail(c, "must have at most %" JSON_INTEGER_FORMAT " items",
		            json_integer_value(max));
	const json_t *items = json_object_get(schema, "items");
	if (!items)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t old = ptr_push_index(&c->path, i);
		int r = validate_child(c, items, json_array_get(inst, i));
		ptr_pop(&c->path, old);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Members are checked in the order the instance lists them, so the first
 * problem reported is the first one the caller wrote; missing members come
 * after, since an unknown member is often the misspelt required one.
 */
static int check_object(struct vctx *c, const json_t *schema, const json_t *inst)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *addl = json_object_get(schema, "additionalProperties");
	OBJECT_FOREACH(inst, it)
	{
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		const json_t *sub = props ? json_object_getn(props, key, klen) : NULL;
		if (!sub)
			sub = addl;
		if (!sub || json_is_true(sub))
			continue;
		size_t old = ptr_push_key(&c->path, key, klen);
		int r;
		if (json_is_false(sub) && sub == addl)
			r = fail(c, "unknown member '%.*s'", quoted_len(key, klen), key);
		else
			r = validate_child(c, sub, json_object_iter_value(it));
		ptr_pop(&c->path, old);
		if (r)
			return r;
	}
	const json_t *required = json_object_get(schema, "required");
	size_t i;
	const json_t *name;
	json_array_foreach(required, i, name)
	{
		if (!json_is_string(name))
			return broken(c, -EBADMSG,
			              "'required' lists something that is not a string");
		const char *key = json_string_value(name);
		size_t klen = json_string_length(name);
		if (!json_object_getn(inst, key, klen))
			return fail(c, "missing required member '%.*s'", quoted_len(key, klen),
			            key);
	}
	return 0;
}

static int check_alternatives(struct vctx *c, const json_t *alts, const json_t *inst, unsigned same,
                              bool exactly_one)
{
	size_t i, matches = 0;
	const json_t *alt;
	json_array_foreach(alts, i, alt)
	{
		c->quiet++;
		int r = validate(c, alt, inst, same + 1);
		c->quiet--;
		if (r == 0) {
			matches++;
			if (!exactly_one || matches > 1)
				break;
		} else if (r != -EINVAL) {
			return r;
		}
	}
	const char *kw = exactly_one ? "oneOf" : "anyOf";
	if (matches == 0)
		return fail(c, "matches none of the %zu alternatives of %s", json_array_size(alts),
		            kw);
	if (exactly_one && matches > 1)
		return fail(c, "matches more than one alternative of oneOf");
	return 0;
}

static int validate(struct vctx *c, const json_t *schema, const json_t *inst, unsigned same)
{
	if (json_is_true(schema))
		return 0;
	if (json_is_false(schema))
		return fail(c, "no value is allowed here");
	if (!json_is_object(schema))
		return broken(c, -EBADMSG, "schema is not an object or a boolean");
	if (same > SAME_VALUE_DEPTH_MAX)
		return broken(
		    c, -ELOOP,
		    "$ref/anyOf/oneOf nested more than %d deep on one value: a $ref loop?",
		    SAME_VALUE_DEPTH_MAX);

	int r;
	const json_t *kw = json_object_get(schema, "$ref");
	if (kw) {
		if (!json_is_string(kw))
			return broken(c, -EBADMSG, "'$ref' is not a string");
		const json_t *target = resolve_ref(c->root, json_string_value(kw));
		if (!target)
			return broken(c, -ENOENT, "$ref '%s' does not resolve",
			              json_string_value(kw));
		/* As in draft 2020-12, keywords beside $ref apply too. */
		if ((r = validate(c, target, inst, same + 1)))
			return r;
	}
	if ((kw = json_object_get(schema, "type")) && (r = check_type(c, kw, inst)))
		return r;
	if ((kw = json_object_get(schema, "enum"))) {
		size_t i;
		const json_t *v;
		bool found = false;
		json_array_foreach(kw, i, v)
		{
			if ((found = values_equal(v, inst)))
				break;
		}
		if (!found)
			return fail_enum(c, kw);
	}
	if ((kw = json_object_get(schema, "const")) && !values_equal(kw, inst)) {
		if (c->quiet)
			return -EINVAL;
		char *text = json_dumps(kw, JSON_COMPACT | JSON_ENCODE_ANY);
		r = fail(c, "must be %.200s", text ? text : "the constant");
		free(text);
		return r;
	}

	switch (json_typeof(inst)) {
	case JSON_INTEGER:
	case JSON_REAL:
		if ((kw = json_object_get(schema, "minimum")) && number_cmp(inst, kw) < 0)
			return fail_number(c, ">=", kw);
		if ((kw = json_object_get(schema, "maximum")) && number_cmp(inst, kw) > 0)
			return fail_number(c, "<=", kw);
		break;
	case JSON_STRING:
		if ((r = check_string(c, schema, inst)))
			return r;
		break;
	case JSON_ARRAY:
		if ((r = check_array(c, schema, inst)))
			return r;
		break;
	case JSON_OBJECT:
		if ((r = check_object(c, schema, inst)))
			return r;
		break;
	default:
		break;
	}

	if ((kw = json_object_get(schema, "anyOf")) &&
	    (r = check_alternatives(c, kw, inst, same, false)))
		return r;
	if ((kw = json_object_get(schema, "oneOf")) &&
	    (r = check_alternatives(c, kw, inst, same, true)))
		return r;
	return 0;
}

int jsonschema_validate(const json_t *schema, const json_t *root, const json_t *instance,
                        char *path, size_t pathlen, char *reason, size_t reasonlen)
{
	struct vctx c = {
	    .root = root ? root : schema,
	    .path = {.buf = path, .cap = path ? pathlen : 0},
	    .reason = reason,
	    .reasonlen = reason ? reasonlen : 0,
	};
	if (c.path.cap)
		path[0] = '\0';
	if (c.reasonlen)
		reason[0] = '\0';
	return validate(&c, schema, instance, 0);
}

/* ---- checking that a schema stays inside the subset ---- */

enum kw_kind {
	KW_TYPE,
	KW_SCHEMA,
	KW_SCHEMA_MAP,
	KW_SCHEMA_LIST,
	KW_STRING_LIST,
	KW_VALUE_LIST,
	KW_ANY,
	KW_NUMBER,
	KW_COUNT,
	KW_PATTERN,
	KW_REF,
	KW_STRING,
};

static const struct {
	const char *name;
	enum kw_kind kind;
} keywords[] = {
    {"type", KW_TYPE},
    {"properties", KW_SCHEMA_MAP},
    {"required", KW_STRING_LIST},
    {"additionalProperties", KW_SCHEMA},
    {"items", KW_SCHEMA},
    {"enum", KW_VALUE_LIST},
    {"const", KW_ANY},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"pattern", KW_PATTERN},
    {"minItems", KW_COUNT},
    {"maxItems", KW_COUNT},
    {"oneOf", KW_SCHEMA_LIST},
    {"anyOf", KW_SCHEMA_LIST},
    {"$ref", KW_REF},
    /* Annotations: carried for people and tools, no effect on validation. */
    {"title", KW_STRING},
    {"description", KW_STRING},
    {"$comment", KW_STRING},
    {"$schema", KW_STRING},
    {"$id", KW_STRING},
    {"default", KW_ANY},
    {"examples", KW_ANY},
    {"$defs", KW_SCHEMA_MAP},
    {"definitions", KW_SCHEMA_MAP},
};

struct cctx {
	char path[1024];
	struct ptr ptr;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int check_fail(struct cctx *c, const char *fmt, ...)
{
	ptr_seal(&c->ptr);
	if (c->errlen == 0)
		return -EINVAL;
	int n = snprintf(c->err, c->errlen, "#%s: ", c->path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	utf8_fix_tail(c->err);
	return -EINVAL;
}

/*
 * A pattern is matched as a POSIX extended regex, while JSON Schema tools
 * read it as ECMA-262. These constructs mean something else (or nothing) in
 * one of the two, so a schema using them would be checked differently by
 * the daemon and by a client: refuse them.
 */
static const char *pattern_unportable(const char *p)
{
	for (; *p; p++) {
		if (p[0] == '\\' && p[1] &&
		    ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
		     (p[1] >= '0' && p[1] <= '9')))
			return "backslash escapes such as \\d, \\w, \\s or \\1";
		if (p[0] == '\\' && p[1]) {
			p++;
			continue;
		}
		if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '='))
			return "POSIX bracket classes such as [:alpha:]";
		if (p[0] == '(' && p[1] == '?')
			return "groups starting with (?";
		if ((p[0] == '*' || p[0] == '+' || p[0] == '?' || p[0] == '}') && p[1] == '?')
			return "lazy quantifiers";
	}
	return NULL;
}

static int check_schema(struct cctx *c, const json_t *schema);

static int check_keyword(struct cctx *c, const char *name, enum kw_kind kind, const json_t *v)
{
	size_t i;
	const json_t *e;
	switch (kind) {
	case KW_TYPE:
		if (json_is_string(v)) {
			if (!is_type_name(json_string_value(v)))
				return check_fail(c, "unknown type '%s'", json_string_value(v));
			return 0;
		}
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(
			    c, "'type' must be a type name or a non-empty array of them");
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) || !is_type_name(json_string_value(e)))
				return check_fail(c,
				                  "'type' lists something that is not a type name");
		}
		return 0;
	case KW_SCHEMA:
		if (json_is_array(v))
			return check_fail(
			    c, "'%s' must be a single schema (the array form is not supported)",
			    name);
		return check_schema(c, v);
	case KW_SCHEMA_MAP:
		if (!json_is_object(v))
			return check_fail(c, "'%s' must be an object of schemas", name);
		OBJECT_FOREACH(v, it)
		{
			size_t old = ptr_push_key(&c->ptr, json_object_iter_key(it),
			                          json_object_iter_key_len(it));
			int r = check_schema(c, json_object_iter_value(it));
			ptr_pop(&c->ptr, old);
			if (r)
				return r;
		}
		return 0;
	case KW_SCHEMA_LIST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(c, "'%s' must be a non-empty array of schemas", name);
		json_array_foreach(v, i, e)
		{
			size_t old = ptr_push_index(&c->ptr, i);
			int r = check_schema(c, e);
			ptr_pop(&c->ptr, old);
			if (r)
				return r;
		}
		return 0;
	case KW_STRING_LIST:
		if (!json_is_array(v))
			return check_fail(c, "'%s' must be an array of strings", name);
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return check_fail(c, "'%s' must be an array of strings", name);
		}
		return 0;
	case KW_VALUE_LIST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(c, "'%s' must be a non-empty array", name);
		return 0;
	case KW_ANY:
		return 0;
	case KW_NUMBER:
		if (!json_is_number(v))
			return check_fail(c, "'%s' must be a number", name);
		return 0;
	case KW_COUNT:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return check_fail(c, "'%s' must be a non-negative integer", name);
		return 0;
	case KW_PATTERN: {
		if (!json_is_string(v))
			return check_fail(c, "'pattern' must be a string");
		const char *p = json_string_value(v);
		if (strlen(p) != json_string_length(v))
			return check_fail(c, "'pattern' must not contain U+0000");
		const char *why = pattern_unportable(p);
		if (why)
			return check_fail(
			    c,
			    "pattern '%s' uses %s, which POSIX ERE and ECMA-262 read differently",
			    p, why);
		regex_t re;
		int rc = regcomp(&re, p, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			return check_fail(c, "pattern '%s' is not a valid POSIX extended regex: %s",
			                  p, msg);
		}
		regfree(&re);
		return 0;
	}
	case KW_REF:
		if (!json_is_string(v) || json_string_value(v)[0] != '#' ||
		    (json_string_value(v)[1] != '\0' && json_string_value(v)[1] != '/'))
			return check_fail(c, "'$ref' must be a local reference \"#\" or \"#/...\"");
		return 0;
	case KW_STRING:
		if (!json_is_string(v))
			return check_fail(c, "'%s' must be a string", name);
		return 0;
	}
	return 0;
}

static int check_schema(struct cctx *c, const json_t *schema)
{
	if (json_is_boolean(schema))
		return 0;
	if (!json_is_object(schema))
		return check_fail(c, "a schema must be an object or a boolean, not %s",
		                  type_name(schema));
	OBJECT_FOREACH(schema, it)
	{
		const char *name = json_object_iter_key(it);
		size_t nlen = json_object_iter_key_len(it);
		size_t k, old = ptr_push_key(&c->ptr, name, nlen);
		for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (strlen(keywords[k].name) == nlen && strcmp(keywords[k].name, name) == 0)
				break;
		int r;
		if (k == sizeof(keywords) / sizeof(keywords[0]))
			r = check_fail(c, "keyword '%.*s' is not supported", quoted_len(name, nlen),
			               name);
		else
			r = check_keyword(c, keywords[k].name, keywords[k].kind,
			                  json_object_iter_value(it));
		ptr_pop(&c->ptr, old);
		if (r)
			return r;
	}
	return 0;
}

int jsonschema_check(const json_t *schema, char *err, size_t errlen)
{
	struct cctx c = {.err = err, .errlen = err ? errlen : 0};
	c.ptr = (struct ptr){.buf = c.path, .cap = sizeof(c.path)};
	if (c.errlen)
		err[0] = '\0';
	return check_schema(&c, schema);
}
